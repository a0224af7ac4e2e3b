//! Block devices for ulvm: one narrow `Send + Sync` trait, typed units, and
//! the devices everything else is built on (files and real block devices
//! through positioned I/O, and a memory device for tests).
//!
//! Every layer above (dm targets, exports, the LVM layer) talks to storage
//! only through [`BlockDevice`], so a dm device is itself a block device and
//! tables stack the way device-mapper tables do.

#![warn(missing_docs)]

pub mod bytes;
mod direct;
mod error;
mod file;
pub mod le;
mod mem;
mod units;

pub use error::{Error, ErrorKind, Result};
pub use file::FileDevice;
pub use mem::MemDevice;
pub use units::{byte_range, Bytes, ChunkSize, Chunks, Sectors, SECTOR_SIZE};

use std::fmt;
use std::sync::Arc;

/// A block device addressed in 512-byte sectors.
///
/// Buffers passed to [`read`](BlockDevice::read) and
/// [`write`](BlockDevice::write) must be a whole number of sectors and lie
/// inside the device; implementations check this with [`check_io`].
/// All methods take `&self`: devices are shared between threads and do
/// their own locking.
pub trait BlockDevice: Send + Sync + fmt::Debug {
    /// Size of the device.
    fn size(&self) -> Sectors;

    /// Whether writes, discards and write-zeroes are refused.
    fn read_only(&self) -> bool {
        false
    }

    /// Logical block size in bytes (a power of two, at least 512).
    fn logical_block_size(&self) -> u32 {
        SECTOR_SIZE as u32
    }

    /// Reads `buf.len()` bytes starting at sector `at`.
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()>;

    /// Reads `len` sectors at `at` and hands them to `sink` in order, as
    /// `sink(where, data)` pieces of the device's choosing: a device with
    /// buffers of its own (an NBD client's replies) lends them instead of
    /// copying into the caller's. A copy between devices reads this way.
    /// After an error part of the range may have been handed over, and a
    /// device that retries may hand a piece over again (the same bytes).
    /// The default reads through a buffer of up to [`READ_PIECE_MAX`].
    fn read_pieces(&self, at: Sectors, len: Sectors, sink: &mut dyn FnMut(Sectors, &[u8]) -> Result<()>) -> Result<()> {
        if at.checked_add(len).is_none_or(|end| end > self.size()) {
            return Err(Error::new(ErrorKind::OutOfBounds, format!("read at {at}+{len} past the end")));
        }
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with(|cell| {
            // A sink that reads this way itself gets a buffer of its own.
            let mut own = Vec::new();
            let mut borrowed = cell.try_borrow_mut();
            let buf = match borrowed.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut own,
            };
            let mut done = 0;
            while done < len.0 {
                let n = (len.0 - done).min(READ_PIECE_MAX as u64 / SECTOR_SIZE);
                let bytes = (n * SECTOR_SIZE) as usize;
                if buf.len() < bytes {
                    buf.resize(bytes, 0);
                }
                self.read(at + Sectors(done), &mut buf[..bytes])?;
                sink(at + Sectors(done), &buf[..bytes])?;
                done += n;
            }
            Ok(())
        })
    }

    /// Writes `buf` starting at sector `at`. Not durable until
    /// [`flush`](BlockDevice::flush) returns.
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()>;

    /// Makes every completed write durable.
    fn flush(&self) -> Result<()>;

    /// Tells the device that `len` sectors at `at` are no longer needed.
    /// Afterwards the range reads as zeroes or as its old contents,
    /// depending on the device; callers that need zeroes use
    /// [`write_zeroes`](BlockDevice::write_zeroes).
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()>;

    /// Makes `len` sectors at `at` read as zeroes.
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()>;

    /// How `len` sectors at `at` are allocated, as extents that cover the
    /// range in order (NBD `base:allocation`). The default says "data".
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        if at.checked_add(len).is_none_or(|end| end > self.size()) {
            return Err(Error::new(ErrorKind::OutOfBounds, format!("allocation query at {at}+{len} past the end")));
        }
        Ok(vec![Extent::data(len)])
    }

    /// The file this device reads and writes directly, for copies the
    /// kernel can make on its own (`copy_file_range`); `None` unless the
    /// device is a plain file or block device with nothing in between.
    fn as_file(&self) -> Option<&std::fs::File> {
        None
    }

    /// A hint from a writer streaming through the device (a clone's
    /// hydration, a bulk copy): see [`Writeback`]. It changes neither the
    /// data nor its durability, which [`flush`](BlockDevice::flush) alone
    /// guarantees. The default does nothing.
    fn writeback(&self, _at: Sectors, _len: Sectors, _how: Writeback) -> Result<()> {
        Ok(())
    }

    /// Writes `buf` and makes it (and everything completed before it)
    /// durable before returning: the kernel's `REQ_PREFLUSH | REQ_FUA`.
    fn write_durable(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.flush()?;
        self.write(at, buf)?;
        self.flush()
    }
}

/// The largest piece the default [`BlockDevice::read_pieces`] reads at once.
pub const READ_PIECE_MAX: usize = 8 << 20;

/// What a streaming writer tells the device about a range it wrote.
///
/// Streaming a large copy through the page cache and flushing at the end
/// leaves gigabytes dirty at once, and the flush then writes them all
/// back while nothing else moves. Starting write-back as each piece lands
/// and letting the cache go a window behind keeps the disk busy during the
/// copy and the final flush short (as `nbdcopy` does for files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writeback {
    /// The range was just written: start writing it back, don't wait.
    Start,
    /// The range was written a while ago and won't be read soon: wait for
    /// its write-back and drop it from the cache.
    Finish,
    /// The range was just written and may be read soon: write it back and
    /// wait for that, keeping it cached.
    Settle,
}

/// A run of sectors with one allocation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// How many sectors the run covers.
    pub len: Sectors,
    /// Not allocated (reads come from nowhere).
    pub hole: bool,
    /// Reads as zeroes.
    pub zero: bool,
}

impl Extent {
    /// `len` allocated sectors holding data.
    pub fn data(len: Sectors) -> Self {
        Extent { len, hole: false, zero: false }
    }
    /// `len` sectors with nothing allocated, which read as zeroes.
    pub fn hole(len: Sectors) -> Self {
        Extent { len, hole: true, zero: true }
    }
}

/// Appends `e` to `v`, merging it into the last extent when they agree.
pub fn push_extent(v: &mut Vec<Extent>, e: Extent) {
    if e.len.0 == 0 {
        return;
    }
    match v.last_mut() {
        Some(last) if last.hole == e.hole && last.zero == e.zero => last.len += e.len,
        _ => v.push(e),
    }
}

/// A shared handle to any block device.
pub type DeviceRef = Arc<dyn BlockDevice>;

/// Checks that an I/O of `len` bytes at `at` is sector-aligned and inside
/// `dev`, and for writes that `dev` is writable.
pub fn check_io(dev: &dyn BlockDevice, op: &'static str, at: Sectors, len: u64) -> Result<()> {
    if !len.is_multiple_of(SECTOR_SIZE) {
        return Err(Error::new(
            ErrorKind::Unaligned,
            format!("{op} of {len} bytes at sector {at} of {dev:?}: length is not a multiple of {SECTOR_SIZE}"),
        ));
    }
    check_range(dev, op, at, Sectors(len / SECTOR_SIZE))
}

/// Checks that `len` sectors at `at` lie inside `dev` (and, for anything
/// but reads, that `dev` is writable).
pub fn check_range(dev: &dyn BlockDevice, op: &'static str, at: Sectors, len: Sectors) -> Result<()> {
    let size = dev.size();
    match at.0.checked_add(len.0) {
        Some(end) if end <= size.0 => {}
        _ => {
            return Err(Error::new(
                ErrorKind::OutOfBounds,
                format!("{op} of {len} sectors at sector {at} is past the end of {dev:?} ({size} sectors)"),
            ))
        }
    }
    if op != "read" && dev.read_only() {
        return Err(Error::new(ErrorKind::ReadOnly, format!("{op} on read-only {dev:?}")));
    }
    Ok(())
}

/// Writes zeroes through plain writes, in pieces of at most 1 MiB; for
/// devices with no cheaper way.
pub fn write_zeroes_by_writing(dev: &dyn BlockDevice, at: Sectors, len: Sectors) -> Result<()> {
    const STEP: u64 = 2048;
    let zeroes = vec![0u8; (STEP.min(len.0) * SECTOR_SIZE) as usize];
    let mut done = 0;
    while done < len.0 {
        let n = STEP.min(len.0 - done);
        dev.write(Sectors(at.0 + done), &zeroes[..(n * SECTOR_SIZE) as usize])?;
        done += n;
    }
    Ok(())
}

/// Copies `len` sectors from `src` at `src_at` to `dst` at `dst_at` inside
/// the kernel (`copy_file_range`) when both are plain files; `Ok(false)`
/// when they are not (the caller copies through memory instead).
pub fn copy_in_kernel(
    src: &dyn BlockDevice,
    src_at: Sectors,
    dst: &dyn BlockDevice,
    dst_at: Sectors,
    len: Sectors,
) -> Result<bool> {
    use std::os::unix::io::AsRawFd;
    let (Some(sf), Some(df)) = (src.as_file(), dst.as_file()) else { return Ok(false) };
    check_range(src, "copy", src_at, len)?;
    check_range(dst, "copy", dst_at, len)?;
    let mut off_in = src_at.bytes().0 as i64;
    let mut off_out = dst_at.bytes().0 as i64;
    let mut left = len.bytes().0 as usize;
    while left > 0 {
        // SAFETY: both fds are open for the call; the offsets are ours.
        let n = unsafe { libc::copy_file_range(sf.as_raw_fd(), &mut off_in, df.as_raw_fd(), &mut off_out, left, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if left == len.bytes().0 as usize
                && matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV) | Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
                )
            {
                return Ok(false);
            }
            return Err(Error::io("copy_file_range", e));
        }
        if n == 0 {
            return Err(Error::new(ErrorKind::OutOfBounds, "copy_file_range: unexpected end of file"));
        }
        left -= n as usize;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_default_read_pieces_hands_over_the_range_in_order() {
        let sectors = (READ_PIECE_MAX as u64 / 512) * 2 + 8;
        let data: Vec<u8> = (0..sectors * 512).map(|i| (i % 253) as u8).collect();
        let a = MemDevice::from_bytes("a", data.clone());
        let b = MemDevice::from_bytes("b", data.clone());
        let (mut pieces, mut all) = (Vec::new(), Vec::new());
        a.read_pieces(Sectors(0), Sectors(sectors), &mut |at, d| {
            // A sink that reads the same way gets a buffer of its own.
            let mut inner = Vec::new();
            b.read_pieces(at, Sectors(1), &mut |_, x| {
                inner.extend_from_slice(x);
                Ok(())
            })?;
            assert_eq!(inner, d[..512]);
            pieces.push((at.0, d.len()));
            all.extend_from_slice(d);
            Ok(())
        })
        .unwrap();
        let max = READ_PIECE_MAX as u64 / 512;
        assert_eq!(pieces, vec![(0, READ_PIECE_MAX), (max, READ_PIECE_MAX), (2 * max, 8 * 512)]);
        assert!(all == data);
        let e = a.read_pieces(Sectors(sectors - 1), Sectors(2), &mut |_, _| Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfBounds);
    }
}
