//! Files and real block devices through positioned I/O.
//!
//! Regular files stay sparse: discard punches a hole and write-zeroes uses
//! `FALLOC_FL_ZERO_RANGE`. Block devices get `BLKDISCARD` / `BLKZEROOUT`.
//! Flush is `fdatasync`.
//!
//! [`FileDevice::open_direct`] opens with O_DIRECT instead (see
//! `direct.rs`): reads and writes bypass the page cache, so the device
//! never holds a write back (shared VGs need that), and it offers neither
//! the file to `copy_file_range` (`as_file` is `None`) nor write-back hints.

use crate::direct::{Direct, FILE_ALIGN};
use crate::{
    check_io, check_range, push_extent, BlockDevice, Bytes, Error, ErrorKind, Extent, Result, Sectors, Writeback,
    SECTOR_SIZE,
};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

const BLKDISCARD: libc::c_ulong = 0x1277;
const BLKZEROOUT: libc::c_ulong = 0x127f;

/// A regular file or a block device used as a block device.
pub struct FileDevice {
    path: PathBuf,
    file: File,
    size: Sectors,
    read_only: bool,
    /// `Some((major, minor))` when this is a real block device.
    rdev: Option<(u32, u32)>,
    /// Set when opened with O_DIRECT.
    direct: Option<Direct>,
}

impl FileDevice {
    /// Opens `path` read-write, or read-only when `read_only`.
    /// A regular file's size is its length rounded down to whole sectors.
    pub fn open(path: impl AsRef<Path>, read_only: bool) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        Self::from_file(path, file, read_only)
    }

    /// Opens `path` as [`open`](Self::open) does, but with O_DIRECT: no
    /// read or write goes through the page cache, so nothing written sits
    /// in memory once the write returns (it is durable after
    /// [`flush`](BlockDevice::flush), as always). Requests keep the
    /// sector granularity of every device; what the kernel wants aligned
    /// more coarsely (4096 bytes for files, the logical block size for
    /// block devices) goes through a bounce buffer.
    ///
    /// Refused on tmpfs, which keeps everything in memory (kernels before
    /// 6.6 refuse O_DIRECT there too), on file systems without O_DIRECT,
    /// and for a regular file whose size is not a multiple of 4096 bytes.
    pub fn open_direct(path: impl AsRef<Path>, read_only: bool) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let opened = OpenOptions::new().read(true).write(!read_only).custom_flags(libc::O_DIRECT).open(&path);
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                let file_on_tmpfs = std::fs::metadata(&path).is_ok_and(|m| m.is_file()) && on_tmpfs(&path);
                return Err(no_direct(&path, file_on_tmpfs, e));
            }
            Err(e) => return Err(Error::io(format!("cannot open {} with O_DIRECT", path.display()), e)),
        };
        let mut dev = Self::from_file(path, file, read_only)?;
        // A regular file only: device nodes live on devtmpfs, which says
        // it is tmpfs too.
        if dev.rdev.is_none() && on_tmpfs(&dev.path) {
            return Err(no_direct(&dev.path, true, std::io::Error::from_raw_os_error(libc::EINVAL)));
        }
        let align = match dev.rdev {
            Some(_) => {
                let mut lbs: libc::c_int = 0;
                // SAFETY: BLKSSZGET writes one int through the pointer,
                // which points at `lbs` for the whole call.
                let rc = unsafe { libc::ioctl(dev.file.as_raw_fd(), libc::BLKSSZGET, &mut lbs) };
                if rc != 0 {
                    let e = std::io::Error::last_os_error();
                    return Err(Error::io(format!("cannot read the logical block size of {}", dev.path.display()), e));
                }
                (lbs as u64).max(SECTOR_SIZE).next_power_of_two()
            }
            None => FILE_ALIGN,
        };
        let bytes = dev.size.bytes().0;
        if !bytes.is_multiple_of(align) {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!(
                    "{} cannot be used with O_DIRECT: its size ({bytes} bytes) is not a multiple of {align} bytes",
                    dev.path.display()
                ),
            ));
        }
        dev.direct = Some(Direct::new(align));
        Ok(dev)
    }

    /// Whether this device was opened with O_DIRECT.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    fn from_file(path: PathBuf, mut file: File, read_only: bool) -> Result<Self> {
        let meta = file.metadata().map_err(|e| Error::io(format!("cannot stat {}", path.display()), e))?;
        let ft = meta.file_type();
        let (bytes, rdev) = if ft.is_block_device() {
            let end = file
                .seek(SeekFrom::End(0))
                .map_err(|e| Error::io(format!("cannot find the size of {}", path.display()), e))?;
            let rdev = meta.rdev();
            (end, Some((libc::major(rdev), libc::minor(rdev))))
        } else if ft.is_file() {
            (meta.len(), None)
        } else {
            return Err(Error::new(
                ErrorKind::Invalid,
                format!("{} is neither a regular file nor a block device", path.display()),
            ));
        };
        Ok(FileDevice { path, file, size: Bytes(bytes).sectors_floor(), read_only, rdev, direct: None })
    }

    /// Creates (or truncates) a sparse regular file of `size`.
    pub fn create(path: impl AsRef<Path>, size: Sectors) -> Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        file.set_len(size.bytes().0).map_err(|e| Error::io(format!("cannot size {}", path.display()), e))?;
        drop(file);
        Self::open(path, false)
    }

    /// The file or block device this device was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kernel device number when this is a real block device.
    pub fn rdev(&self) -> Option<(u32, u32)> {
        self.rdev
    }

    fn fail(&self, op: &str, at: Sectors, e: std::io::Error) -> Error {
        Error::io(format!("{op} at sector {at} of {}", self.path.display()), e)
    }

    fn fallocate(&self, mode: libc::c_int, at: Sectors, len: Sectors) -> std::io::Result<()> {
        // SAFETY: fallocate only reads its integer arguments; the fd is open
        // for as long as `self.file` lives.
        let rc = unsafe {
            libc::fallocate(self.file.as_raw_fd(), mode, at.bytes().0 as libc::off_t, len.bytes().0 as libc::off_t)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    fn range_ioctl(&self, req: libc::c_ulong, at: Sectors, len: Sectors) -> std::io::Result<()> {
        let range: [u64; 2] = [at.bytes().0, len.bytes().0];
        // SAFETY: BLKDISCARD and BLKZEROOUT read two u64s (start, length)
        // from the pointer, which points at `range` for the whole call.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), req as _, range.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// Whether `path` lies on tmpfs (or devtmpfs, which says the same).
pub(crate) fn on_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: statfs fills the struct we pass.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `fs` a valid statfs, both
    // alive for the call.
    unsafe { libc::statfs(c.as_ptr(), &mut fs) == 0 && fs.f_type == libc::TMPFS_MAGIC }
}

/// The error of an O_DIRECT open the file system refused.
fn no_direct(path: &Path, tmpfs: bool, e: std::io::Error) -> Error {
    let why = if tmpfs {
        "it is on tmpfs, which keeps every write in memory (use a file on a disk file system, or a block device)"
    } else {
        "its file system does not support O_DIRECT"
    };
    Error::io(format!("cannot open {} with O_DIRECT: {why}", path.display()), e).with_kind(ErrorKind::Unsupported)
}

impl FileDevice {
    fn seek(&self, whence: libc::c_int, from: u64) -> std::io::Result<Option<u64>> {
        // SAFETY: lseek only reads its integer arguments on an open fd.
        let r = unsafe { libc::lseek(self.file.as_raw_fd(), from as libc::off_t, whence) };
        if r >= 0 {
            return Ok(Some(r as u64));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            Ok(None)
        } else {
            Err(e)
        }
    }
}

impl fmt::Debug for FileDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

impl BlockDevice for FileDevice {
    /// `None` with O_DIRECT: `copy_file_range` would go through the page
    /// cache.
    fn as_file(&self) -> Option<&std::fs::File> {
        match self.direct {
            Some(_) => None,
            None => Some(&self.file),
        }
    }

    /// `sync_file_range` to start or finish write-back, then
    /// `POSIX_FADV_DONTNEED` on finished ranges. Nothing with O_DIRECT,
    /// where nothing is cached.
    fn writeback(&self, at: Sectors, len: Sectors, how: Writeback) -> Result<()> {
        check_range(self, "write-back", at, len)?;
        if len.0 == 0 || self.read_only || self.direct.is_some() {
            return Ok(());
        }
        let (off, n) = (at.bytes().0 as i64, len.bytes().0 as i64);
        let flags = match how {
            Writeback::Start => libc::SYNC_FILE_RANGE_WRITE,
            Writeback::Finish | Writeback::Settle => {
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER
            }
        };
        let fd = self.file.as_raw_fd();
        // SAFETY: a plain syscall on an fd we own; the range is checked.
        if unsafe { libc::sync_file_range(fd, off, n, flags) } < 0 {
            return Err(self.fail("write-back", at, std::io::Error::last_os_error()));
        }
        if how == Writeback::Finish {
            // SAFETY: as above. Advice only: an error here changes nothing.
            unsafe { libc::posix_fadvise(fd, off, n, libc::POSIX_FADV_DONTNEED) };
        }
        Ok(())
    }

    fn size(&self) -> Sectors {
        self.size
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        check_io(self, "read", at, buf.len() as u64)?;
        let r = match &self.direct {
            Some(d) => d.read(&self.file, at.bytes().0, buf),
            None => self.file.read_exact_at(buf, at.bytes().0),
        };
        r.map_err(|e| self.fail("read", at, e))
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        check_io(self, "write", at, buf.len() as u64)?;
        let r = match &self.direct {
            Some(d) => d.write(&self.file, at.bytes().0, buf),
            None => self.file.write_all_at(buf, at.bytes().0),
        };
        r.map_err(|e| self.fail("write", at, e))
    }
    fn flush(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(format!("flush of {}", self.path.display()), e))
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        check_range(self, "discard", at, len)?;
        // With O_DIRECT only whole blocks: a file system zeroes the partial
        // blocks of a hole through the page cache.
        let (at, len) = match &self.direct {
            Some(d) => match d.inner_blocks(at.bytes().0, len.bytes().0) {
                Some((off, n)) => (Bytes(off).sectors_floor(), Bytes(n).sectors_floor()),
                None => return Ok(()),
            },
            None => (at, len),
        };
        if len.0 == 0 {
            return Ok(());
        }
        let r = if self.rdev.is_some() {
            self.range_ioctl(BLKDISCARD, at, len)
        } else {
            self.fallocate(libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, at, len)
        };
        match r {
            Ok(()) => Ok(()),
            // A device or file system without discard: discard is a hint.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
            Err(e) => Err(self.fail("discard", at, e)),
        }
    }
    /// Regular files report holes through `SEEK_DATA` / `SEEK_HOLE`.
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        check_range(self, "read", at, len)?;
        if self.rdev.is_some() || len.0 == 0 {
            return Ok(vec![Extent::data(len)]);
        }
        let (start, end) = (at.bytes().0, (at + len).bytes().0);
        let mut out = Vec::new();
        let mut pos = start;
        let fail = |e| Error::io(format!("allocation of {}", self.path.display()), e);
        while pos < end {
            let data = self.seek(libc::SEEK_DATA, pos).map_err(fail)?.unwrap_or(end).min(end);
            if data > pos {
                push_extent(&mut out, Extent::hole(Bytes(data - pos).sectors_floor()));
                pos = data;
                continue;
            }
            let hole = self.seek(libc::SEEK_HOLE, pos).map_err(fail)?.unwrap_or(end).min(end);
            // Holes are page-granular; round data extents out to sectors.
            let hole = Bytes(hole.max(pos + SECTOR_SIZE)).sectors_ceil().bytes().0;
            push_extent(&mut out, Extent::data(Bytes(hole.min(end) - pos).sectors_floor()));
            pos = hole.min(end);
        }
        Ok(out)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        check_range(self, "write-zeroes", at, len)?;
        if len.0 == 0 {
            return Ok(());
        }
        if let Some(d) = self.direct.as_ref().filter(|d| !d.whole_blocks(at.bytes().0, len.bytes().0)) {
            // Partial blocks are written as zeroes (a file system would zero
            // them through the page cache), whole blocks as below.
            let Some((off, n)) = d.inner_blocks(at.bytes().0, len.bytes().0) else {
                return crate::write_zeroes_by_writing(self, at, len);
            };
            let (lo, hi) = (Bytes(off).sectors_floor(), Bytes(off + n).sectors_floor());
            crate::write_zeroes_by_writing(self, at, lo - at)?;
            crate::write_zeroes_by_writing(self, hi, at + len - hi)?;
            return self.write_zeroes(lo, hi - lo);
        }
        let r = if self.rdev.is_some() {
            self.range_ioctl(BLKZEROOUT, at, len)
        } else {
            self.fallocate(libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE, at, len)
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY)) => {
                crate::write_zeroes_by_writing(self, at, len)
            }
            Err(e) => Err(self.fail("write-zeroes", at, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ulvm-blockdev-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir
    }

    #[test]
    fn test_file_device_roundtrip_and_bounds() {
        let p = tmp("rt");
        let dev = FileDevice::create(&p, Sectors(64)).unwrap();
        let data = vec![0xabu8; 1024];
        dev.write(Sectors(10), &data).unwrap();
        let mut back = vec![0u8; 1024];
        dev.read(Sectors(10), &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(dev.write(Sectors(63), &data).unwrap_err().kind(), ErrorKind::OutOfBounds);
        assert_eq!(dev.read(Sectors(0), &mut [0u8; 100]).unwrap_err().kind(), ErrorKind::Unaligned);
        std::fs::remove_file(p).unwrap();
    }

    /// Pages of `f`'s first `len` bytes that are in the page cache.
    fn resident_pages(f: &File, len: usize) -> usize {
        // SAFETY: a private read-only mapping of our own file, unmapped below.
        unsafe {
            let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0);
            assert_ne!(p, libc::MAP_FAILED);
            let mut v = vec![0u8; len.div_ceil(4096)];
            assert_eq!(libc::mincore(p, len, v.as_mut_ptr()), 0);
            libc::munmap(p, len);
            v.iter().filter(|&&b| b & 1 == 1).count()
        }
    }

    #[test]
    fn test_finished_writeback_leaves_the_cache_and_keeps_the_data() {
        let p = tmp("wb");
        let dev = FileDevice::create(&p, Sectors(2048)).unwrap();
        // SAFETY: statfs fills the struct we pass.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is open for the call and `fs` is a valid statfs.
        assert_eq!(unsafe { libc::fstatfs(dev.file.as_raw_fd(), &mut fs) }, 0);
        if fs.f_type == libc::TMPFS_MAGIC {
            eprintln!("skipped: {} is on tmpfs, which has no write-back", p.display());
            std::fs::remove_file(p).unwrap();
            return;
        }
        let data: Vec<u8> = (0..2048 * 512).map(|i| (i * 7 % 251) as u8).collect();
        // Page by page: the cache then holds small folios, and half of the
        // range can leave it (a partly covered large folio would stay).
        for (i, page) in data.chunks(4096).enumerate() {
            dev.write(Sectors(i as u64 * 8), page).unwrap();
        }
        assert_eq!(resident_pages(&dev.file, data.len()), 256, "just written: cached");
        dev.writeback(Sectors(0), Sectors(2048), Writeback::Start).unwrap();
        dev.writeback(Sectors(0), Sectors(1024), Writeback::Finish).unwrap();
        assert_eq!(resident_pages(&dev.file, data.len()), 128, "the finished half left the cache");
        dev.writeback(Sectors(1024), Sectors(1024), Writeback::Settle).unwrap();
        assert_eq!(resident_pages(&dev.file, data.len()), 128, "the settled half stays cached");
        let mut back = vec![0u8; data.len()];
        dev.read(Sectors(0), &mut back).unwrap();
        assert!(back == data);
        let e = dev.writeback(Sectors(2000), Sectors(100), Writeback::Start).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfBounds);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn test_file_device_discard_punches_hole_and_reads_zero() {
        let p = tmp("hole");
        let dev = FileDevice::create(&p, Sectors(4096)).unwrap();
        dev.write(Sectors(0), &vec![1u8; 4096 * 512]).unwrap();
        dev.flush().unwrap();
        let before = std::fs::metadata(&p).unwrap().blocks();
        dev.discard(Sectors(1024), Sectors(2048)).unwrap();
        let after = std::fs::metadata(&p).unwrap().blocks();
        assert!(after < before, "discard should deallocate: {before} -> {after}");
        let mut back = vec![1u8; 2048 * 512];
        dev.read(Sectors(1024), &mut back).unwrap();
        assert!(back.iter().all(|&b| b == 0));
        let mut edge = vec![0u8; 512];
        dev.read(Sectors(1023), &mut edge).unwrap();
        assert!(edge.iter().all(|&b| b == 1));
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn test_file_allocation_reports_holes_and_data() {
        let p = tmp("alloc");
        let dev = FileDevice::create(&p, Sectors(4096)).unwrap();
        dev.write(Sectors(1024), &vec![1u8; 1024 * 512]).unwrap();
        let ext = dev.allocation(Sectors(0), Sectors(4096)).unwrap();
        assert_eq!(ext, vec![Extent::hole(Sectors(1024)), Extent::data(Sectors(1024)), Extent::hole(Sectors(2048))]);
        let part = dev.allocation(Sectors(1000), Sectors(100)).unwrap();
        assert_eq!(part, vec![Extent::hole(Sectors(24)), Extent::data(Sectors(76))]);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn test_file_device_stays_sparse_after_create() {
        let p = tmp("sparse");
        let _dev = FileDevice::create(&p, Sectors(1 << 21)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().blocks(), 0);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn test_read_only_file_device_refuses_writes() {
        let p = tmp("ro");
        drop(FileDevice::create(&p, Sectors(8)).unwrap());
        let dev = FileDevice::open(&p, true).unwrap();
        assert_eq!(dev.write(Sectors(0), &[0u8; 512]).unwrap_err().kind(), ErrorKind::ReadOnly);
        std::fs::remove_file(p).unwrap();
    }
}
