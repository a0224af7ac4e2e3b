//! Byte-addressed I/O on a sector device, for exports whose clients may
//! send any offset and length (NBD, FUSE): unaligned edges are read,
//! modified and written.

use crate::{BlockDevice, Bytes, Error, Sectors};

/// Reads `len` bytes at byte `offset`.
pub fn read_bytes(dev: &dyn BlockDevice, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
    let (offset, end) = (Bytes(offset), Bytes(offset + len as u64));
    let start = offset.sectors_floor();
    let mut buf = vec![0u8; (end.sectors_ceil() - start).byte_len()];
    dev.read(start, &mut buf)?;
    let skip = (offset - start.bytes()).0 as usize;
    if skip == 0 && buf.len() == len {
        return Ok(buf);
    }
    Ok(buf[skip..skip + len].to_vec())
}

/// Writes `data` at byte `offset`.
pub fn write_bytes(dev: &dyn BlockDevice, offset: u64, data: &[u8]) -> Result<(), Error> {
    let (offset, end) = (Bytes(offset), Bytes(offset + data.len() as u64));
    if let (Some(at), Some(_)) = (offset.sectors_exact(), end.sectors_exact()) {
        return dev.write(at, data);
    }
    let (first, last) = (offset.sectors_floor(), end.sectors_ceil());
    let mut buf = read_bytes(dev, first.bytes().0, (last - first).byte_len())?;
    let skip = (offset - first.bytes()).0 as usize;
    buf[skip..skip + data.len()].copy_from_slice(data);
    dev.write(first, &buf)
}

/// Zeroes `len` bytes at `offset`: whole sectors through `zero`, the
/// unaligned edges by writing zeroes.
pub fn zero_bytes(
    dev: &dyn BlockDevice,
    offset: u64,
    len: u64,
    zero: impl Fn(Sectors, Sectors) -> Result<(), Error>,
) -> Result<(), Error> {
    let (start, end) = (Bytes(offset), Bytes(offset + len));
    let (first, last) = (start.sectors_ceil(), end.sectors_floor());
    if first >= last {
        return write_bytes(dev, offset, &vec![0u8; len as usize]);
    }
    if start < first.bytes() {
        write_bytes(dev, offset, &vec![0u8; (first.bytes() - start).0 as usize])?;
    }
    zero(first, last - first)?;
    if end > last.bytes() {
        write_bytes(dev, last.bytes().0, &vec![0u8; (end - last.bytes()).0 as usize])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDevice;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn test_byte_io_matches_a_byte_array(ops in prop::collection::vec((0u64..4000, 1usize..1500, any::<u8>(), any::<bool>()), 1..20)) {
            let dev = MemDevice::new("m", Sectors(16));
            let mut model = vec![0u8; 16 * 512];
            for (off, len, byte, zero) in ops {
                let len = len.min(model.len() - off as usize);
                if zero {
                    zero_bytes(&dev, off, len as u64, |a, n| dev.write_zeroes(a, n)).unwrap();
                    model[off as usize..off as usize + len].fill(0);
                } else {
                    write_bytes(&dev, off, &vec![byte; len]).unwrap();
                    model[off as usize..off as usize + len].fill(byte);
                }
                prop_assert_eq!(read_bytes(&dev, off, len).unwrap(), model[off as usize..off as usize + len].to_vec());
            }
            prop_assert_eq!(dev.snapshot_bytes(), model);
        }
    }
}
