//! FUSE over io_uring (Linux 6.14+, `CONFIG_FUSE_IO_URING`, and only while
//! `/sys/module/fuse/parameters/enable_uring` is on when the export
//! mounts; the daemon never turns that switch itself).
//!
//! The kernel keeps one queue per possible CPU and sends a request to the
//! queue of the CPU it was issued on; it switches the connection over only
//! once every queue has a ring entry waiting. An entry is a pair of
//! buffers (headers: the `fuse_in_header`/`fuse_out_header`, the request's
//! own header struct and `fuse_uring_ent_in_out`; payload: up to
//! `max_write` bytes of data) registered with one `IORING_OP_URING_CMD`
//! SQE (`FUSE_IO_URING_CMD_REGISTER`, 128-byte SQEs). Its completion
//! carries a request; the answer goes back in the same buffers with one
//! `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`, which also waits for the next
//! request: one system call per request, against a read and a write on
//! `/dev/fuse`.
//!
//! Each entry here has its own thread and its own small ring, so an entry
//! whose request waits in device I/O holds up no other. Lookups must be
//! answered while a suspended device holds I/O (the `/dev/fuse` readers
//! keep one reader free for that), and a request the kernel queued while
//! its queue had no free entry waits for a COMMIT_AND_FETCH: registering
//! a new entry later does not take it. So every queue has more entries
//! than device I/O can hold: the loop device's direct I/O is asynchronous,
//! so background requests, of which the kernel lets `max_background`
//! (plus one per queue) be active at once ([`super::RING_ENTRIES`] leaves
//! 7 more for fsyncs and lookups). What this does not cover: synchronous
//! direct I/O on the FUSE file itself (a process calling `pread` on it
//! with O_DIRECT) is a foreground request per calling thread, uncapped;
//! more such threads than entries on one CPU's queue while their device is
//! suspended leave that queue's next requests waiting for the resume.
//! That is why the daemon uses io_uring only when asked
//! (`FuseOptions::io_uring`) and the `/dev/fuse` readers stay the default.

use super::abi::{InHeader, IN_HEADER_LEN, OUT_HEADER_LEN};
use super::{DevicesFs, Reply};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tracing::warn;

/// `enum fuse_uring_cmd`.
const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;

/// `struct fuse_uring_req_header`: `in_out` (128 bytes: the in header of a
/// request, the out header of its answer), `op_in` (128 bytes: the
/// request's first argument, its header struct), `ring_ent_in_out`
/// (flags, commit_id, payload_sz, padding, reserved).
const OP_IN: usize = 128;
const ENT_IN_OUT: usize = 256;
const COMMIT_ID: usize = ENT_IN_OUT + 8;
const PAYLOAD_SZ: usize = ENT_IN_OUT + 16;
const HEADERS_LEN: usize = ENT_IN_OUT + 32;

/// Where the module switch lives; read, never written, by the daemon.
pub const ENABLE_URING: &str = "/sys/module/fuse/parameters/enable_uring";

/// Whether the kernel offers FUSE over io_uring to new mounts.
pub fn enabled() -> bool {
    std::fs::read_to_string(ENABLE_URING).is_ok_and(|s| s.trim() == "Y")
}

/// The kernel's queue count: one per possible CPU (`num_possible_cpus`).
fn possible_cpus() -> usize {
    let ranges = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let n: usize = ranges
        .trim()
        .split(',')
        .filter_map(|r| match r.split_once('-') {
            Some((a, b)) => Some(b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1),
            None => r.parse::<usize>().ok().map(|_| 1),
        })
        .sum();
    n.max(1)
}

/// An entry's memory: what the kernel reads and writes (`headers`,
/// `payload`: their heap blocks never move while the entry lives) and the
/// thread's scratch buffers.
struct Buffers {
    headers: Vec<u8>,
    /// Never resized: the kernel holds its address.
    payload: Vec<u8>,
    out: Vec<u8>,
    /// A request's payload when the payload buffer takes the answer.
    request: Vec<u8>,
    rbuf: Vec<u8>,
}

/// Shared by a queue's entries.
struct Queue {
    qid: u16,
    /// Entries registered and waiting in the kernel.
    free: AtomicUsize,
}

/// What the entries share.
pub(super) struct Rings {
    fs: Arc<DevicesFs>,
    dev: Arc<OwnedFd>,
    payload_len: usize,
    queues: Vec<Arc<Queue>>,
    /// Entries ever started, and requests answered through them.
    pub(super) entries: AtomicUsize,
    pub(super) served: AtomicUsize,
}

/// The answer to a request, kept until the request's buffers are free to
/// take it. Read data that is already at the start of the payload buffer
/// (the read went straight there) is only counted, not copied.
struct EntryReply<'a> {
    out: &'a mut Vec<u8>,
    /// The payload buffer's address, to recognise data already in place.
    payload_at: usize,
    in_place: Option<usize>,
    unique: u64,
    error: i32,
}

impl Reply for EntryReply<'_> {
    fn send(&mut self, unique: u64, error: i32, parts: &[&[u8]]) {
        self.out.clear();
        self.in_place = None;
        if error == 0 {
            match parts {
                [p] if p.as_ptr() as usize == self.payload_at => self.in_place = Some(p.len()),
                _ => parts.iter().for_each(|p| self.out.extend_from_slice(p)),
            }
        }
        (self.unique, self.error) = (unique, error);
    }
}

impl Rings {
    /// Registers `per_queue` entries on every queue of the connection of
    /// `dev`; an error if the kernel refused (the connection then stays on
    /// `/dev/fuse`).
    pub(super) fn start(
        fs: Arc<DevicesFs>,
        dev: Arc<OwnedFd>,
        max_write: u32,
        per_queue: usize,
    ) -> io::Result<Arc<Rings>> {
        let queues =
            (0..possible_cpus()).map(|q| Arc::new(Queue { qid: q as u16, free: AtomicUsize::new(0) })).collect();
        let rings = Arc::new(Rings {
            fs,
            dev,
            // The kernel's max_payload_sz: max(8 KiB, max_write, max_pages pages).
            payload_len: (max_write as usize).max(8192),
            queues,
            entries: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        });
        for q in &rings.queues {
            for _ in 0..per_queue {
                let (tx, rx) = mpsc::channel();
                rings.spawn(q.clone(), tx)?;
                match rx.recv_timeout(Duration::from_secs(5)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(io::Error::other("io_uring entry did not register")),
                }
            }
        }
        Ok(rings)
    }

    fn spawn(self: &Arc<Self>, q: Arc<Queue>, registered: mpsc::Sender<io::Result<()>>) -> io::Result<()> {
        let me = self.clone();
        let n = self.entries.fetch_add(1, Ordering::SeqCst);
        std::thread::Builder::new().name(format!("fuse-ring-{}-{n}", q.qid)).spawn(move || me.entry(q, registered))?;
        Ok(())
    }

    /// One ring entry's life: register, then answer and fetch until the
    /// connection ends.
    fn entry(self: Arc<Self>, q: Arc<Queue>, registered: mpsc::Sender<io::Result<()>>) {
        super::io_flusher();
        let report = |r: io::Result<()>| {
            let _ = registered.send(r);
        };
        let mut ring: IoUring<squeue::Entry128, cqueue::Entry> = match IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_defer_taskrun()
            .build(2)
            .or_else(|_| IoUring::builder().build(2))
        {
            Ok(r) => r,
            Err(e) => return report(Err(e)),
        };
        let mut bufs = Buffers {
            headers: vec![0u8; HEADERS_LEN],
            payload: vec![0u8; self.payload_len],
            out: Vec::new(),
            request: Vec::new(),
            rbuf: Vec::new(),
        };
        let iov = [
            libc::iovec { iov_base: bufs.headers.as_mut_ptr().cast(), iov_len: bufs.headers.len() },
            libc::iovec { iov_base: bufs.payload.as_mut_ptr().cast(), iov_len: bufs.payload.len() },
        ];
        let fd = types::Fd(self.dev.as_raw_fd());
        // fuse_uring_cmd_req: flags, commit_id, qid.
        let cmd = |commit_id: u64| {
            let mut c = [0u8; 80];
            c[8..16].copy_from_slice(&commit_id.to_ne_bytes());
            c[16..18].copy_from_slice(&q.qid.to_ne_bytes());
            c
        };
        let register = with_len(
            opcode::UringCmd80::new(fd, CMD_REGISTER).cmd(cmd(0)).addr(Some(iov.as_ptr() as u64)).build(),
            iov.len() as u32,
        );
        q.free.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the SQE points at iov, headers and payload, which live
        // (and do not move) for as long as this thread, which outlives
        // every use the kernel makes of them: the entry ends (its CQE
        // arrives) before the loop below returns.
        let pushed = unsafe { ring.submission().push(&register) }.map_err(io::Error::other);
        if let Err(e) = pushed.and_then(|_| ring.submit()) {
            q.free.fetch_sub(1, Ordering::SeqCst);
            return report(Err(e));
        }
        // A refused registration completes at once; a good one only when
        // a request arrives.
        let first = ring.completion().next();
        if let Some(c) = first {
            let left = q.free.fetch_sub(1, Ordering::SeqCst) - 1;
            if c.result() < 0 {
                return report(Err(io::Error::from_raw_os_error(-c.result())));
            }
            report(Ok(()));
            if !self.answer(&q, &mut ring, &mut bufs, &cmd, left) {
                return;
            }
        } else {
            report(Ok(()));
        }
        loop {
            // Only the entry's own end (an error completion: the
            // connection is gone) lets this thread and its buffers go, so
            // the kernel never writes to freed memory: a failed wait
            // (EINTR) is waited again.
            if ring.submit_and_wait(1).is_err() {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let next = ring.completion().next();
            let Some(c) = next else { continue };
            let left = q.free.fetch_sub(1, Ordering::SeqCst) - 1;
            if c.result() < 0 {
                // ENOTCONN, ECANCELED: the connection is gone.
                return;
            }
            if !self.answer(&q, &mut ring, &mut bufs, &cmd, left) {
                return;
            }
        }
    }

    /// Runs the request now in the entry's buffers, writes the answer
    /// there and queues its COMMIT_AND_FETCH (submitted by the caller's
    /// next wait). False if the SQE could not be queued. `left` is how
    /// many of the queue's entries were still free when this one took its
    /// request (none left is what the entry count is there to prevent).
    fn answer(
        self: &Arc<Self>,
        q: &Arc<Queue>,
        ring: &mut IoUring<squeue::Entry128, cqueue::Entry>,
        b: &mut Buffers,
        cmd: &dyn Fn(u64) -> [u8; 80],
        left: usize,
    ) -> bool {
        let fields = super::abi::Fields(&b.headers[..]);
        let commit_id = fields.u64(COMMIT_ID);
        let payload_sz = (fields.u32(PAYLOAD_SZ) as usize).min(b.payload.len());
        let h = InHeader::parse(&b.headers[..IN_HEADER_LEN]);
        let mut reply = EntryReply {
            out: &mut b.out,
            payload_at: b.payload.as_ptr() as usize,
            in_place: None,
            unique: h.map_or(0, |h| h.unique),
            error: libc::EIO,
        };
        if let Some(h) = h {
            if left == 0 && super::is_data(h.opcode) {
                warn!(queue = q.qid, "fuse: the last free io_uring entry of a queue goes into device I/O");
            }
            let args = &b.headers[OP_IN..ENT_IN_OUT];
            let read_size = super::abi::Fields(args).u32(16) as usize;
            if h.opcode == super::abi::op::WRITE {
                // The data is the request's payload; the answer is 8 bytes.
                self.fs.serve(&mut reply, h, args, &b.payload[..payload_sz], &mut b.rbuf);
            } else if h.opcode == super::abi::op::READ && read_size > b.payload.len() {
                // Never: the kernel asks for at most max_pages pages. Kept
                // out so the payload buffer is never grown (moved).
                reply.send(h.unique, libc::EINVAL, &[]);
            } else {
                // Reads land straight in the payload buffer, which is
                // then the answer; anything else the request carried
                // (a name) is copied out of the way first.
                b.request.clear();
                b.request.extend_from_slice(&b.payload[..payload_sz]);
                self.fs.serve(&mut reply, h, args, &b.request, &mut b.payload);
            }
            self.served.fetch_add(1, Ordering::Relaxed);
        }
        let (unique, error, in_place) = (reply.unique, reply.error, reply.in_place);
        let len = match (error, in_place) {
            (0, Some(n)) => n,
            (0, None) => {
                let n = b.out.len().min(b.payload.len());
                b.payload[..n].copy_from_slice(&b.out[..n]);
                n
            }
            _ => 0,
        };
        b.headers[..OUT_HEADER_LEN].copy_from_slice(&super::abi::out_header(unique, -error, len));
        b.headers[PAYLOAD_SZ..PAYLOAD_SZ + 4].copy_from_slice(&(len as u32).to_ne_bytes());
        let fd = types::Fd(self.dev.as_raw_fd());
        let commit = opcode::UringCmd80::new(fd, CMD_COMMIT_AND_FETCH).cmd(cmd(commit_id)).build();
        q.free.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the SQE carries no pointers; the entry's buffers were
        // registered with it and stay alive (see `entry`).
        unsafe { ring.submission().push(&commit) }.is_ok()
    }
}

/// Sets the SQE's `len` (the iovec count REGISTER reads), which the
/// io-uring crate's `UringCmd80` has no setter for.
fn with_len(sqe: squeue::Entry128, len: u32) -> squeue::Entry128 {
    const _: () = assert!(std::mem::size_of::<squeue::Entry128>() == 128);
    // SAFETY: Entry128 is repr(C): the 64-byte io_uring_sqe then 64 bytes
    // of command; any bytes are a valid value. `len` is the u32 at byte 24
    // of io_uring_sqe (opcode, flags, ioprio, fd, off, addr, len).
    let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    raw[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: as above, the bytes came from an Entry128.
    unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(raw) }
}
