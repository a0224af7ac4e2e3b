//! The FUSE export: a directory where every active device is a regular
//! file of the device's size. Reads, writes, fsync and fallocate (punch
//! hole, zero range) go to the device; `losetup` on such a file gives a
//! kernel block device.
//!
//! ulvm speaks the FUSE protocol itself (`abi.rs`, `mount.rs`): the file
//! system is one directory of device files, so the handful of operations
//! it needs is small, and owning the transport is what lets requests be
//! served where they are read. After INIT, [`READERS`] threads each read
//! requests from their own clone of the connection's `/dev/fuse` fd
//! (`FUSE_DEV_IOC_CLONE`), run them and write the reply to that fd: no
//! hand-off between threads on the data path. Only when a request could
//! leave no thread reading (every other reader is busy with device I/O,
//! which waits while the device is suspended) is it handed to a small pool
//! instead, so lookups and opens are always answered: a suspend never
//! waits on the loop device attach that needs them.
//!
//! With [`FuseOptions::io_uring`] and the kernel's `enable_uring` switch
//! on, INIT also asks for FUSE over io_uring and `uring.rs` registers ring
//! entries on every CPU's queue; once all are registered the kernel sends
//! requests there (one `COMMIT_AND_FETCH` per request instead of a read
//! and a write), and the readers keep only interrupts and forgets. If
//! registering fails, the readers serve everything as without it.
//!
//! What the kernel is asked for: 1 MiB requests (`max_write` and
//! `FUSE_MAX_PAGES`), asynchronous direct I/O (`FUSE_ASYNC_DIO`) with up
//! to [`MAX_BACKGROUND`] requests in flight, so a loop device's queue
//! depth reaches the readers. Files are opened with `FOPEN_DIRECT_IO` (no
//! page cache of our own under the loop device's) and
//! `FOPEN_PARALLEL_DIRECT_WRITES` (direct writes are not serialised on the
//! inode lock). Every thread serving requests is an I/O flusher.

mod abi;
mod mount;
mod uring;

pub use uring::ENABLE_URING;

use abi::{op, Attr, Fields, InHeader, InitIn, InitReply, Out, IN_HEADER_LEN};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{info, warn};
use ulvm_blockdev::bytes::{read_bytes, write_bytes, zero_bytes};
use ulvm_blockdev::{BlockDevice, Bytes, Error, ErrorKind};
use ulvm_dm::{MappedDevice, Registry};

const ROOT: u64 = 1;
/// Threads reading requests, each from its own `/dev/fuse` fd. At most
/// `READERS - 1` run device I/O at once, so one is always reading; 18
/// covers a loop device's queue depth of 16 with no hand-off.
pub const READERS: usize = 18;
/// io_uring entries registered per queue (per CPU) at mount: more than
/// the background requests (all direct I/O) the kernel lets one queue
/// have active (`max_background`, plus one), so one is always free for
/// lookups (see `uring.rs`).
pub const RING_ENTRIES: usize = MAX_BACKGROUND as usize + 8;
/// Threads that take the requests a reader must not run itself.
const OVERFLOW_WORKERS: usize = 16;
/// Largest read or write the kernel sends us.
pub const MAX_IO: u32 = 1 << 20;
const PAGE: u32 = 4096;
/// A request as read: headers, and up to [`MAX_IO`] bytes of data.
const REQUEST_BUF: usize = MAX_IO as usize + 4096;

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

/// Where requests a reader hands off run.
struct Pool {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl Pool {
    fn new(n: usize) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = rx.clone();
            let _ = std::thread::Builder::new().name(format!("fuse-over-{i}")).spawn(move || {
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
        Pool { tx: Mutex::new(tx) }
    }
    fn run(&self, f: impl FnOnce() + Send + 'static) {
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(Box::new(f));
    }
}

/// One `/dev/fuse` fd: requests read from it are answered on it.
struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// Reads one request into `buf`; `None` once the connection is gone.
    fn receive(&self, buf: &mut [u8]) -> Option<usize> {
        loop {
            // SAFETY: buf is valid for writes of buf.len() bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Some(n as usize);
            }
            match io::Error::last_os_error().raw_os_error() {
                // Interrupted, or a request the kernel took back: read on.
                Some(libc::EINTR | libc::EAGAIN | libc::ENOENT) => continue,
                // ENODEV: unmounted or aborted.
                _ => return None,
            }
        }
    }
}

/// Where a request's answer goes: its `/dev/fuse` fd, or its io_uring
/// ring entry.
trait Reply {
    /// Answers request `unique` with `parts` (if `error` is 0) or with the
    /// positive errno `error`.
    fn send(&mut self, unique: u64, error: i32, parts: &[&[u8]]);
    fn ok(&mut self, unique: u64, payload: &[u8]) {
        self.send(unique, 0, &[payload]);
    }
    fn error(&mut self, unique: u64, errno: i32) {
        self.send(unique, errno, &[]);
    }
}

impl Reply for &Channel {
    fn send(&mut self, unique: u64, error: i32, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let header = abi::out_header(unique, -error, if error == 0 { len } else { 0 });
        let mut iov = vec![libc::iovec { iov_base: header.as_ptr() as *mut _, iov_len: header.len() }];
        if error == 0 {
            iov.extend(parts.iter().map(|p| libc::iovec { iov_base: p.as_ptr() as *mut _, iov_len: p.len() }));
        }
        // SAFETY: every iovec points at a live slice of its length; writev
        // only reads them.
        let _ = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
        // A failed write (ENOENT: the request was interrupted and is gone)
        // needs nothing more from us.
    }
}

struct Handle {
    dev: Arc<MappedDevice>,
    _hold: ulvm_dm::target::OpenHold,
}

/// What the export has done, for tests and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuseStats {
    /// Data requests (read, write, fsync, fallocate) each reader ran itself.
    pub served_by_reader: Vec<u64>,
    /// Data requests handed to the overflow pool.
    pub handed_off: u64,
    /// Distinct `/dev/fuse` fds the readers read from (1 without cloning).
    pub fds: usize,
    /// The largest write request that arrived, in bytes.
    pub largest_write: u64,
    /// What INIT settled: the largest write and the pages per request.
    pub max_write: u32,
    pub max_pages: u16,
    /// io_uring ring entries started (0: the kernel's switch was off, or
    /// registering failed, and `/dev/fuse` serves everything).
    pub ring_entries: usize,
    /// Requests answered through io_uring.
    pub served_by_rings: u64,
}

struct DevicesFs {
    reg: Arc<Registry>,
    handles: RwLock<HashMap<u64, Arc<Handle>>>,
    next_fh: AtomicU64,
    uid: u32,
    gid: u32,
    overflow: Pool,
    /// Readers running a data request themselves right now.
    busy: AtomicUsize,
    served: Vec<AtomicU64>,
    handed_off: AtomicU64,
    largest_write: AtomicU64,
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

/// A data request with its arguments, as read or as handed off.
enum DataOp<'a> {
    Read { offset: u64, size: u32 },
    Write { offset: u64, data: std::borrow::Cow<'a, [u8]>, sync: bool },
    Fsync,
    Fallocate { offset: u64, length: u64, mode: i32 },
}

impl DataOp<'_> {
    fn into_owned(self) -> DataOp<'static> {
        match self {
            DataOp::Read { offset, size } => DataOp::Read { offset, size },
            DataOp::Write { offset, data, sync } => DataOp::Write { offset, data: data.into_owned().into(), sync },
            DataOp::Fsync => DataOp::Fsync,
            DataOp::Fallocate { offset, length, mode } => DataOp::Fallocate { offset, length, mode },
        }
    }
}

impl DevicesFs {
    fn new(reg: Arc<Registry>) -> DevicesFs {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        DevicesFs {
            reg,
            handles: RwLock::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            uid,
            gid,
            overflow: Pool::new(OVERFLOW_WORKERS),
            busy: AtomicUsize::new(0),
            served: (0..READERS).map(|_| AtomicU64::new(0)).collect(),
            handed_off: AtomicU64::new(0),
            largest_write: AtomicU64::new(0),
        }
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

    fn attr(&self, ino: u64, dev: Option<&MappedDevice>) -> Attr {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (mode, size, nlink) = match dev {
            None => (libc::S_IFDIR | 0o755, 0, 2),
            Some(d) => {
                let ro = d.info().read_only;
                (libc::S_IFREG | if ro { 0o400 } else { 0o600 }, d.size().bytes().0, 1)
            }
        };
        Attr {
            ino,
            size,
            // st_blocks counts 512-byte units: sectors.
            blocks: Bytes(size).sectors_floor().0,
            time_secs: now,
            mode,
            nlink,
            uid: self.uid,
            gid: self.gid,
            blksize: 4096,
        }
    }

    fn handle(&self, fh: u64) -> Option<Arc<Handle>> {
        self.handles.read().unwrap_or_else(|e| e.into_inner()).get(&fh).cloned()
    }

    /// Runs one request read from `ch` by reader `reader` and answers it
    /// there (or hands it off, see the module doc).
    fn dispatch(&self, ch: &Arc<Channel>, reader: usize, h: InHeader, arg: &[u8], rbuf: &mut Vec<u8>) {
        // The request's own header struct, then its payload (a write's
        // data, a lookup's name), as io_uring hands them over separately.
        let split = match h.opcode {
            op::WRITE => 40,
            op::LOOKUP => 0,
            _ => arg.len(),
        }
        .min(arg.len());
        let (args, payload) = arg.split_at(split);
        let mut reply = &**ch;
        let (fh, req) = match parse_data(h, args, payload) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return reply.error(h.unique, e),
            None => return self.metadata(&mut reply, h, args, payload),
        };
        let Some(hd) = self.handle(fh) else { return reply.error(h.unique, libc::EBADF) };
        self.note(&req);
        if self.busy.fetch_add(1, Ordering::SeqCst) + 1 < READERS {
            self.served[reader].fetch_add(1, Ordering::Relaxed);
            run_data(&hd, &mut reply, h.unique, req, rbuf);
            self.busy.fetch_sub(1, Ordering::SeqCst);
        } else {
            // Every other reader is in device I/O: this one stays free.
            self.busy.fetch_sub(1, Ordering::SeqCst);
            self.handed_off.fetch_add(1, Ordering::Relaxed);
            let (ch, req, u) = (ch.clone(), req.into_owned(), h.unique);
            self.overflow.run(move || run_data(&hd, &mut &*ch, u, req, &mut Vec::new()));
        }
    }

    fn note(&self, req: &DataOp<'_>) {
        if let DataOp::Write { data, .. } = req {
            self.largest_write.fetch_max(data.len() as u64, Ordering::Relaxed);
        }
    }

    /// Runs a request where it was received (io_uring: the entry's thread
    /// made sure its queue has another free entry first).
    fn serve(&self, reply: &mut dyn Reply, h: InHeader, args: &[u8], payload: &[u8], rbuf: &mut Vec<u8>) {
        match parse_data(h, args, payload) {
            Some(Ok((fh, req))) => match self.handle(fh) {
                Some(hd) => {
                    self.note(&req);
                    run_data(&hd, reply, h.unique, req, rbuf)
                }
                None => reply.error(h.unique, libc::EBADF),
            },
            Some(Err(e)) => reply.error(h.unique, e),
            None => self.metadata(reply, h, args, payload),
        }
    }

    fn metadata(&self, ch: &mut dyn Reply, h: InHeader, args: &[u8], payload: &[u8]) {
        let f = Fields(args);
        let (u, ino) = (h.unique, h.nodeid);
        match h.opcode {
            op::LOOKUP => {
                let name = payload.split(|&b| b == 0).next().unwrap_or_default();
                let dev = (ino == ROOT)
                    .then(|| std::str::from_utf8(name).ok().and_then(|n| self.reg.device(n).ok()))
                    .flatten()
                    .filter(|d| d.live_table().is_some());
                match dev {
                    Some(d) => ch.ok(u, &abi::entry_out(&self.attr(Self::ino_of(&d), Some(&d))).0),
                    None => ch.error(u, libc::ENOENT),
                }
            }
            op::GETATTR => {
                if ino == ROOT {
                    return ch.ok(u, &abi::attr_out(&self.attr(ROOT, None)).0);
                }
                match self.by_ino(ino) {
                    Some(d) => ch.ok(u, &abi::attr_out(&self.attr(ino, Some(&d))).0),
                    None => ch.error(u, libc::ENOENT),
                }
            }
            op::SETATTR => {
                let Some(d) = self.by_ino(ino) else { return ch.error(u, libc::ENOENT) };
                // A device's size is its table's: only a no-op truncate is allowed.
                if f.u32(0) & abi::FATTR_SIZE != 0 && f.u64(16) != d.size().bytes().0 {
                    return ch.error(u, libc::EPERM);
                }
                ch.ok(u, &abi::attr_out(&self.attr(ino, Some(&d))).0)
            }
            op::OPEN => {
                let Some(dev) = self.by_ino(ino) else { return ch.error(u, libc::ENOENT) };
                if f.u32(0) as i32 & libc::O_ACCMODE != libc::O_RDONLY && dev.info().read_only {
                    return ch.error(u, libc::EROFS);
                }
                let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
                let hold = dev.open();
                self.handles
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(fh, Arc::new(Handle { dev, _hold: hold }));
                ch.ok(u, &abi::open_out(fh, abi::FOPEN_DIRECT_IO | abi::FOPEN_PARALLEL_DIRECT_WRITES).0)
            }
            op::RELEASE => {
                let gone = self.handles.write().unwrap_or_else(|e| e.into_inner()).remove(&f.u64(0));
                drop(gone);
                ch.ok(u, &[])
            }
            op::OPENDIR => ch.ok(u, &abi::open_out(0, 0).0),
            op::READDIR => {
                if ino != ROOT {
                    return ch.error(u, libc::ENOTDIR);
                }
                let (offset, size) = (f.u64(8) as usize, f.u32(16) as usize);
                let mut entries = vec![(ROOT, libc::DT_DIR, ".".to_string()), (ROOT, libc::DT_DIR, "..".to_string())];
                entries.extend(self.devices().iter().map(|d| (Self::ino_of(d), libc::DT_REG, d.name())));
                let mut out = Out::default();
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset) {
                    let before = out.0.len();
                    abi::dirent(&mut out, ino, (i + 1) as u64, kind as u32, name.as_bytes());
                    if out.0.len() > size {
                        out.0.truncate(before);
                        break;
                    }
                }
                ch.ok(u, &out.0)
            }
            op::RELEASEDIR | op::FLUSH | op::FSYNCDIR | op::DESTROY => ch.ok(u, &[]),
            op::STATFS => ch.ok(u, &abi::statfs_out().0),
            // No reply: forgetting is free (inodes are device numbers), and
            // interrupts are not honoured (every request ends on its own).
            op::FORGET | op::BATCH_FORGET | op::INTERRUPT => {}
            op::INIT => ch.error(u, libc::EIO),
            _ => ch.error(u, libc::ENOSYS),
        }
    }

    fn stats(&self, fds: usize, init: &InitReply) -> FuseStats {
        FuseStats {
            served_by_reader: self.served.iter().map(|s| s.load(Ordering::Relaxed)).collect(),
            handed_off: self.handed_off.load(Ordering::Relaxed),
            fds,
            largest_write: self.largest_write.load(Ordering::Relaxed),
            max_write: init.max_write,
            max_pages: init.max_pages,
            ring_entries: 0,
            served_by_rings: 0,
        }
    }
}

/// Whether `opcode` is a request that goes to a device (and may wait).
fn is_data(opcode: u32) -> bool {
    matches!(opcode, op::READ | op::WRITE | op::FSYNC | op::FALLOCATE)
}

/// A data request's handle and arguments; `None` for any other request,
/// an errno for a malformed one.
fn parse_data<'a>(h: InHeader, args: &[u8], payload: &'a [u8]) -> Option<std::result::Result<(u64, DataOp<'a>), i32>> {
    let f = Fields(args);
    let req = match h.opcode {
        op::READ => DataOp::Read { offset: f.u64(8), size: f.u32(16) },
        op::WRITE => {
            let (size, flags) = (f.u32(16) as usize, f.u32(32) as i32);
            let Some(data) = payload.get(..size) else { return Some(Err(libc::EINVAL)) };
            let sync = flags & (libc::O_SYNC | libc::O_DSYNC) != 0;
            DataOp::Write { offset: f.u64(8), data: data.into(), sync }
        }
        op::FSYNC => DataOp::Fsync,
        op::FALLOCATE => DataOp::Fallocate { offset: f.u64(8), length: f.u64(16), mode: f.u32(24) as i32 },
        _ => return None,
    };
    Some(Ok((f.u64(0), req)))
}

/// Runs a data request against its device and replies on `ch`. `rbuf` is
/// the caller's buffer for reads, reused from request to request.
fn run_data(h: &Handle, ch: &mut dyn Reply, u: u64, req: DataOp<'_>, rbuf: &mut Vec<u8>) {
    let total = h.dev.size().bytes().0;
    match req {
        DataOp::Read { offset, size } => {
            if offset >= total {
                return ch.ok(u, &[]);
            }
            let len = (size as u64).min(total - offset) as usize;
            match (Bytes(offset).sectors_exact(), Bytes(len as u64).sectors_exact()) {
                (Some(at), Some(_)) => {
                    if rbuf.len() < len {
                        rbuf.resize(len, 0);
                    }
                    match h.dev.read(at, &mut rbuf[..len]) {
                        Ok(()) => ch.ok(u, &rbuf[..len]),
                        Err(e) => ch.error(u, errno(&e)),
                    }
                }
                _ => match read_bytes(&*h.dev, offset, len) {
                    Ok(d) => ch.ok(u, &d),
                    Err(e) => ch.error(u, errno(&e)),
                },
            }
        }
        DataOp::Write { offset, data, sync } => {
            if offset + data.len() as u64 > total {
                return ch.error(u, libc::ENOSPC);
            }
            match write_bytes(&*h.dev, offset, &data).and_then(|_| if sync { h.dev.flush() } else { Ok(()) }) {
                Ok(()) => ch.ok(u, &abi::write_out(data.len() as u32).0),
                Err(e) => ch.error(u, errno(&e)),
            }
        }
        DataOp::Fsync => match h.dev.flush() {
            Ok(()) => ch.ok(u, &[]),
            Err(e) => ch.error(u, errno(&e)),
        },
        DataOp::Fallocate { offset, length, mode } => {
            if offset + length > total {
                return ch.error(u, libc::EOPNOTSUPP);
            }
            let zeroing = mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) != 0;
            if !zeroing {
                // Plain preallocation inside the device: everything exists already.
                return ch.ok(u, &[]);
            }
            match zero_bytes(&*h.dev, offset, length, |a, n| h.dev.write_zeroes(a, n)) {
                Ok(()) => ch.ok(u, &[]),
                Err(e) => ch.error(u, errno(&e)),
            }
        }
    }
}

/// Reads INIT (the kernel's first request) and answers it; returns what
/// was settled.
fn handshake(mut ch: &Channel, uring: bool) -> io::Result<InitReply> {
    let mut buf = vec![0u8; REQUEST_BUF];
    loop {
        let n = ch.receive(&mut buf).ok_or_else(|| io::Error::other("FUSE connection ended before INIT"))?;
        let Some(h) = InHeader::parse(&buf[..n]) else { continue };
        if h.opcode != op::INIT {
            ch.error(h.unique, libc::EIO);
            continue;
        }
        let kernel = InitIn::parse(&buf[IN_HEADER_LEN..n]);
        if kernel.major != abi::KERNEL_VERSION || kernel.minor < abi::MIN_MINOR {
            ch.error(h.unique, libc::EPROTO);
            return Err(io::Error::other(format!(
                "FUSE protocol {}.{} is not supported (7.{}+ is)",
                kernel.major,
                kernel.minor,
                abi::MIN_MINOR
            )));
        }
        // Direct I/O (the loop device's, O_DIRECT users') submitted
        // asynchronously: without it the kernel sends a file's direct I/O
        // one request at a time whatever the queue depth above it.
        let mut want = abi::init::ASYNC_READ | abi::init::BIG_WRITES | abi::init::ASYNC_DIO | abi::init::MAX_PAGES;
        if uring {
            // flags2 is read only with INIT_EXT.
            want |= abi::init::INIT_EXT | abi::init::OVER_IO_URING;
        }
        let reply = InitReply {
            minor: kernel.minor.min(abi::KERNEL_MINOR),
            max_readahead: kernel.max_readahead.min(MAX_IO),
            flags: kernel.flags & want,
            max_background: MAX_BACKGROUND,
            congestion_threshold: MAX_BACKGROUND / 4 * 3,
            max_write: MAX_IO,
            max_pages: (MAX_IO / PAGE) as u16,
        };
        ch.ok(h.unique, &reply.encode().0);
        return Ok(reply);
    }
}

fn read_loop(fs: Arc<DevicesFs>, ch: Arc<Channel>, reader: usize) {
    io_flusher();
    let mut buf = vec![0u8; REQUEST_BUF];
    let mut rbuf = Vec::new();
    while let Some(n) = ch.receive(&mut buf) {
        let Some(h) = InHeader::parse(&buf[..n]) else { continue };
        fs.dispatch(&ch, reader, h, &buf[IN_HEADER_LEN..n], &mut rbuf);
    }
}

/// How the export is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FuseOptions {
    /// Use FUSE over io_uring if the kernel offers it (its `enable_uring`
    /// switch is on when the export mounts), falling back to `/dev/fuse`
    /// when it does not or registering the rings fails. Off by default: see
    /// `uring.rs` for the one case the `/dev/fuse` readers cover and the
    /// rings do not.
    pub io_uring: bool,
}

/// A mounted FUSE export; unmounted when dropped.
pub struct FuseExport {
    dir: PathBuf,
    mounted: bool,
    fs: Arc<DevicesFs>,
    init: InitReply,
    fds: usize,
    readers: Vec<JoinHandle<()>>,
    rings: Option<Arc<uring::Rings>>,
}

impl FuseExport {
    /// Mounts the export on `dir` with the default options.
    pub fn mount(dir: &Path, reg: Arc<Registry>) -> io::Result<FuseExport> {
        Self::mount_with(dir, reg, FuseOptions::default())
    }

    pub fn mount_with(dir: &Path, reg: Arc<Registry>, opts: FuseOptions) -> io::Result<FuseExport> {
        std::fs::create_dir_all(dir)?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let first = Arc::new(Channel { fd: mount::mount(dir, root)? });
        let init = match handshake(&first, opts.io_uring && uring::enabled()) {
            Ok(i) => i,
            Err(e) => {
                let _ = mount::unmount(dir);
                return Err(e);
            }
        };
        let mut channels = vec![first.clone()];
        for _ in 1..READERS {
            match mount::clone_fd(&first.fd) {
                Ok(fd) => channels.push(Arc::new(Channel { fd })),
                Err(e) => {
                    // Readers share the one fd: still no hand-off, one queue.
                    warn!("fuse: {e}; all readers share one /dev/fuse fd");
                    break;
                }
            }
        }
        let fds = channels.len();
        let fs = Arc::new(DevicesFs::new(reg));
        let mut readers = Vec::with_capacity(READERS);
        for i in 0..READERS {
            let (fs, ch) = (fs.clone(), channels.get(i).unwrap_or(&first).clone());
            readers.push(std::thread::Builder::new().name(format!("fuse-{i}")).spawn(move || read_loop(fs, ch, i))?);
        }
        let rings = if init.flags & abi::init::OVER_IO_URING != 0 {
            match first
                .fd
                .try_clone()
                .and_then(|fd| uring::Rings::start(fs.clone(), Arc::new(fd), init.max_write, RING_ENTRIES))
            {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!("fuse: io_uring not used, /dev/fuse serves: {e}");
                    None
                }
            }
        } else {
            None
        };
        info!(dir = %dir.display(), fds, max_write = init.max_write, io_uring = rings.is_some(), "fuse: mounted");
        Ok(FuseExport { dir: dir.to_path_buf(), mounted: true, fs, init, fds, readers, rings })
    }

    /// What the export has done so far.
    pub fn stats(&self) -> FuseStats {
        let mut s = self.fs.stats(self.fds, &self.init);
        if let Some(r) = &self.rings {
            s.ring_entries = r.entries.load(Ordering::SeqCst);
            s.served_by_rings = r.served.load(Ordering::Relaxed) as u64;
        }
        s
    }

    /// Unmounts and waits for the readers. A mount still in use (a loop
    /// device left attached) is detached lazily and its readers left to
    /// end with the connection.
    pub fn unmount(&mut self) {
        if !std::mem::take(&mut self.mounted) {
            return;
        }
        match mount::unmount(&self.dir) {
            Ok(()) => self.readers.drain(..).for_each(|r| drop(r.join())),
            Err(e) => {
                warn!(dir = %self.dir.display(), "fuse: {e}; detaching lazily");
                if let Ok(p) = std::ffi::CString::new(self.dir.as_os_str().as_encoded_bytes()) {
                    // SAFETY: p is a NUL-terminated path.
                    unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
    }
}

impl Drop for FuseExport {
    fn drop(&mut self) {
        self.unmount();
    }
}
