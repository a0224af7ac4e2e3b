//! The FUSE export: a directory where every active device is a regular
//! file of the device's size. Reads, writes, fsync and fallocate (punch
//! hole, zero range) go to the device; `losetup` on such a file gives a
//! kernel block device.
//!
//! fuser calls the filesystem from one thread; each data request is handed
//! to a worker pool with its reply, so many requests run at once. Files are
//! opened with `FOPEN_DIRECT_IO`: the kernel keeps no page cache for them,
//! so a loop device with direct I/O caches nothing twice. The kernel is
//! asked for asynchronous direct I/O (`FUSE_ASYNC_DIO`) and up to
//! [`MAX_BACKGROUND`] requests in flight, so a loop device's queue depth
//! reaches the pool; every thread serving requests is an I/O flusher.

use fuser::consts::{FOPEN_DIRECT_IO, FUSE_ASYNC_DIO};
use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, MountOption, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing::info;
use ulvm_blockdev::bytes::{read_bytes, write_bytes, zero_bytes};
use ulvm_blockdev::{BlockDevice, Bytes, Error, ErrorKind};
use ulvm_dm::{MappedDevice, Registry};

const ROOT: u64 = 1;
const TTL: Duration = Duration::ZERO;
const WORKERS: usize = 16;
/// Largest read or write the kernel sends us.
pub const MAX_IO: u32 = 1 << 20;

/// Requests the kernel keeps in flight to us in the background (its
/// default is 12): async direct I/O and readahead count against it.
const MAX_BACKGROUND: u16 = 64;

/// Marks the calling thread as one the kernel's writeback depends on
/// (`PR_SET_IO_FLUSHER`, Linux 5.6): its allocations do not recurse into
/// I/O, which would wait for this very thread when a loop device's page
/// cache is written back through us under memory pressure. Needs
/// `CAP_SYS_RESOURCE`; without it (an unprivileged daemon) nothing changes.
fn io_flusher() {
    const PR_SET_IO_FLUSHER: libc::c_int = 57;
    // SAFETY: prctl with integer arguments only; no memory is passed.
    let _ = unsafe {
        libc::prctl(PR_SET_IO_FLUSHER, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong)
    };
}

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    tx: mpsc::Sender<Job>,
}

impl Pool {
    fn new(n: usize) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = rx.clone();
            let _ = std::thread::Builder::new().name(format!("fuse-io-{i}")).spawn(move || {
                io_flusher();
                loop {
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(j) => j(),
                        Err(_) => return,
                    }
                }
            });
        }
        Pool { tx }
    }
    fn run(&self, f: impl FnOnce() + Send + 'static) {
        let _ = self.tx.send(Box::new(f));
    }
}

struct Handle {
    dev: Arc<MappedDevice>,
    _hold: ulvm_dm::target::OpenHold,
}

pub struct DevicesFs {
    reg: Arc<Registry>,
    pool: Pool,
    handles: HashMap<u64, Arc<Handle>>,
    next_fh: u64,
    uid: u32,
    gid: u32,
}

fn errno(e: &Error) -> i32 {
    match e.kind() {
        ErrorKind::ReadOnly => libc::EROFS,
        ErrorKind::NoSpace | ErrorKind::OutOfBounds => libc::ENOSPC,
        ErrorKind::Unaligned | ErrorKind::Invalid => libc::EINVAL,
        ErrorKind::Unsupported => libc::EOPNOTSUPP,
        ErrorKind::NoDevice => libc::ENXIO,
        ErrorKind::Io | ErrorKind::Failed => libc::EIO,
    }
}

impl DevicesFs {
    pub fn new(reg: Arc<Registry>) -> DevicesFs {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        DevicesFs { reg, pool: Pool::new(WORKERS), handles: HashMap::new(), next_fh: 1, uid, gid }
    }

    fn ino_of(dev: &MappedDevice) -> u64 {
        2 + dev.num().minor as u64
    }

    /// Active devices: those with a live table.
    fn devices(&self) -> Vec<Arc<MappedDevice>> {
        self.reg
            .list()
            .into_iter()
            .filter_map(|(n, _)| self.reg.device(&n).ok())
            .filter(|d| d.live_table().is_some())
            .collect()
    }

    fn by_ino(&self, ino: u64) -> Option<Arc<MappedDevice>> {
        self.devices().into_iter().find(|d| Self::ino_of(d) == ino)
    }

    fn attr(&self, ino: u64, dev: Option<&MappedDevice>) -> FileAttr {
        let now = SystemTime::now();
        let (kind, perm, size, nlink) = match dev {
            None => (FileType::Directory, 0o755, 0, 2),
            Some(d) => {
                let ro = d.info().read_only;
                (FileType::RegularFile, if ro { 0o400 } else { 0o600 }, d.size().bytes().0, 1)
            }
        };
        FileAttr {
            ino,
            size,
            // st_blocks counts 512-byte units: sectors.
            blocks: Bytes(size).sectors_floor().0,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn handle(&self, fh: u64) -> Option<Arc<Handle>> {
        self.handles.get(&fh).cloned()
    }
}

impl Filesystem for DevicesFs {
    /// Runs on fuser's session thread, before any request.
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        let _ = config.set_max_write(MAX_IO);
        let _ = config.set_max_readahead(MAX_IO);
        // Direct I/O (the loop device's, O_DIRECT users') submitted
        // asynchronously: without it the kernel sends a file's direct I/O
        // one request at a time whatever the queue depth above it.
        let _ = config.add_capabilities(FUSE_ASYNC_DIO);
        let _ = config.set_max_background(MAX_BACKGROUND);
        let _ = config.set_congestion_threshold(MAX_BACKGROUND / 4 * 3);
        io_flusher();
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let dev = (parent == ROOT)
            .then(|| name.to_str().and_then(|n| self.reg.device(n).ok()))
            .flatten()
            .filter(|d| d.live_table().is_some());
        match dev {
            Some(d) => reply.entry(&TTL, &self.attr(Self::ino_of(&d), Some(&d)), 0),
            None => reply.error(libc::ENOENT),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        if ino == ROOT {
            return reply.attr(&TTL, &self.attr(ROOT, None));
        }
        match self.by_ino(ino) {
            Some(d) => reply.attr(&TTL, &self.attr(ino, Some(&d))),
            None => reply.error(libc::ENOENT),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let Some(d) = self.by_ino(ino) else { return reply.error(libc::ENOENT) };
        // A device's size is its table's: only a no-op truncate is allowed.
        if size.is_some_and(|s| s != d.size().bytes().0) {
            return reply.error(libc::EPERM);
        }
        reply.attr(&TTL, &self.attr(ino, Some(&d)))
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let Some(dev) = self.by_ino(ino) else { return reply.error(libc::ENOENT) };
        if flags & libc::O_ACCMODE != libc::O_RDONLY && dev.info().read_only {
            return reply.error(libc::EROFS);
        }
        let fh = self.next_fh;
        self.next_fh += 1;
        let hold = dev.open();
        self.handles.insert(fh, Arc::new(Handle { dev, _hold: hold }));
        reply.opened(fh, FOPEN_DIRECT_IO);
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(&fh);
        reply.ok();
    }

    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let Some(h) = self.handle(fh) else { return reply.error(libc::EBADF) };
        self.pool.run(move || {
            let total = h.dev.size().bytes().0;
            let off = offset as u64;
            if off >= total {
                return reply.data(&[]);
            }
            let len = (size as u64).min(total - off) as usize;
            match read_bytes(&*h.dev, off, len) {
                Ok(d) => reply.data(&d),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let Some(h) = self.handle(fh) else { return reply.error(libc::EBADF) };
        let data = data.to_vec();
        self.pool.run(move || {
            let off = offset as u64;
            if off + data.len() as u64 > h.dev.size().bytes().0 {
                return reply.error(libc::ENOSPC);
            }
            let sync = flags & (libc::O_SYNC | libc::O_DSYNC) != 0;
            match write_bytes(&*h.dev, off, &data).and_then(|_| if sync { h.dev.flush() } else { Ok(()) }) {
                Ok(()) => reply.written(data.len() as u32),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _datasync: bool, reply: ReplyEmpty) {
        let Some(h) = self.handle(fh) else { return reply.error(libc::EBADF) };
        self.pool.run(move || match h.dev.flush() {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        });
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let Some(h) = self.handle(fh) else { return reply.error(libc::EBADF) };
        self.pool.run(move || {
            let (off, len) = (offset as u64, length as u64);
            if off + len > h.dev.size().bytes().0 {
                return reply.error(libc::EOPNOTSUPP);
            }
            let zeroing = mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) != 0;
            if !zeroing {
                // Plain preallocation inside the device: everything exists already.
                return reply.ok();
            }
            match zero_bytes(&*h.dev, off, len, |a, n| h.dev.write_zeroes(a, n)) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn readdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, offset: i64, mut reply: ReplyDirectory) {
        if ino != ROOT {
            return reply.error(libc::ENOTDIR);
        }
        let mut entries =
            vec![(ROOT, FileType::Directory, ".".to_string()), (ROOT, FileType::Directory, "..".to_string())];
        entries.extend(self.devices().iter().map(|d| (Self::ino_of(d), FileType::RegularFile, d.name())));
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(ino, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// A mounted FUSE export; unmounted when dropped.
pub struct FuseExport {
    session: Option<fuser::BackgroundSession>,
}

impl FuseExport {
    pub fn mount(dir: &Path, reg: Arc<Registry>) -> std::io::Result<FuseExport> {
        std::fs::create_dir_all(dir)?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mut opts = vec![MountOption::FSName("ulvm".into()), MountOption::Subtype("ulvm".into())];
        if root {
            opts.push(MountOption::AllowOther);
            opts.push(MountOption::DefaultPermissions);
        }
        let session = fuser::spawn_mount2(DevicesFs::new(reg), dir, &opts)?;
        info!(dir = %dir.display(), "fuse: mounted");
        Ok(FuseExport { session: Some(session) })
    }

    pub fn unmount(&mut self) {
        if let Some(s) = self.session.take() {
            s.join();
        }
    }
}

impl Drop for FuseExport {
    fn drop(&mut self) {
        self.unmount();
    }
}
