//! Byte-addressed I/O on a sector device, for exports whose clients may
//! send any offset and length (NBD, FUSE): unaligned edges are read,
//! modified and written.

use crate::{BlockDevice, Error, Sectors};

/// Reads `len` bytes at byte `offset`.
pub fn read_bytes(dev: &dyn BlockDevice, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
    let start = offset / 512;
    let end = (offset + len as u64).div_ceil(512);
    let mut buf = vec![0u8; ((end - start) * 512) as usize];
    dev.read(Sectors(start), &mut buf)?;
    let skip = (offset - start * 512) as usize;
    if skip == 0 && buf.len() == len {
        return Ok(buf);
    }
    Ok(buf[skip..skip + len].to_vec())
}

/// Writes `data` at byte `offset`.
pub fn write_bytes(dev: &dyn BlockDevice, offset: u64, data: &[u8]) -> Result<(), Error> {
    if offset.is_multiple_of(512) && data.len().is_multiple_of(512) {
        return dev.write(Sectors(offset / 512), data);
    }
    let first = offset / 512;
    let last = (offset + data.len() as u64).div_ceil(512);
    let mut buf = read_bytes(dev, first * 512, ((last - first) * 512) as usize)?;
    let skip = (offset % 512) as usize;
    buf[skip..skip + data.len()].copy_from_slice(data);
    dev.write(Sectors(first), &buf)
}

/// Zeroes `len` bytes at `offset`: whole sectors through `zero`, the
/// unaligned edges by writing zeroes.
pub fn zero_bytes(
    dev: &dyn BlockDevice,
    offset: u64,
    len: u64,
    zero: impl Fn(Sectors, Sectors) -> Result<(), Error>,
) -> Result<(), Error> {
    let first = offset.div_ceil(512);
    let last = (offset + len) / 512;
    if first >= last {
        return write_bytes(dev, offset, &vec![0u8; len as usize]);
    }
    if offset < first * 512 {
        write_bytes(dev, offset, &vec![0u8; (first * 512 - offset) as usize])?;
    }
    zero(Sectors(first), Sectors(last - first))?;
    if offset + len > last * 512 {
        write_bytes(dev, last * 512, &vec![0u8; (offset + len - last * 512) as usize])?;
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
