//! Block devices for ulvm: one narrow `Send + Sync` trait, typed units, and
//! the devices everything else is built on (files and real block devices
//! through positioned I/O, and a memory device for tests).
//!
//! Every layer above (dm targets, exports, the LVM layer) talks to storage
//! only through [`BlockDevice`], so a dm device is itself a block device and
//! tables stack the way device-mapper tables do.

pub mod bytes;
mod error;
mod file;
mod mem;
mod units;

pub use error::{Error, ErrorKind, Result};
pub use file::FileDevice;
pub use mem::MemDevice;
pub use units::{Bytes, ChunkSize, Chunks, Sectors, SECTOR_SIZE};

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

    /// Writes `buf` and makes it (and everything completed before it)
    /// durable before returning: the kernel's `REQ_PREFLUSH | REQ_FUA`.
    /// The file this device reads and writes directly, for copies the
    /// kernel can make on its own (`copy_file_range`); `None` unless the
    /// device is a plain file or block device with nothing in between.
    fn as_file(&self) -> Option<&std::fs::File> {
        None
    }

    fn write_durable(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.flush()?;
        self.write(at, buf)?;
        self.flush()
    }
}

/// A run of sectors with one allocation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub len: Sectors,
    /// Not allocated (reads come from nowhere).
    pub hole: bool,
    /// Reads as zeroes.
    pub zero: bool,
}

impl Extent {
    pub fn data(len: Sectors) -> Self {
        Extent { len, hole: false, zero: false }
    }
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
            format!("{op} of {len} bytes at sector {at} of {dev:?}: length is not a multiple of 512"),
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
