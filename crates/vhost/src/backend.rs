//! The virtio-blk device behind one vhost-user connection: features,
//! config space, and the request loop each queue's worker thread runs.
//!
//! `vhost-user-backend` maps guest memory, takes the kick and call fds and
//! runs one epoll thread per entry of [`queues_per_thread`]: here one per
//! queue, so a queue's requests run in order on its own thread and queues
//! run in parallel. A request reads or writes the guest's buffers in place
//! (the device gets a slice of guest memory); only a request whose
//! buffers come in many small pieces goes through a bounce buffer, so the
//! device sees one call instead of one per piece. A request is completed
//! (used ring, then the status byte's owner is told) only after the device
//! call returned: an acknowledged write is in the device, and a FLUSH is
//! the device's `flush`.
//!
//! [`queues_per_thread`]: VhostUserBackend::queues_per_thread

use crate::request::{self, BlkGeometry, Header, RequestType, Segment, Status, HEADER_LEN, SEGMENT_LEN};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::{debug, warn};
use ulvm_blockdev::{DeviceRef, Sectors, SECTOR_SIZE};
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackend, VringMutex, VringState, VringT};
use virtio_queue::QueueT;
use vm_memory::{
    Address, Bytes, GuestAddress, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryBackend, GuestMemoryMmap,
};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier};

/// Guest memory as the backend sees it (no dirty-page log).
pub type Mem = GuestMemoryAtomic<GuestMemoryMmap<()>>;
type Vring = VringMutex<Mem>;

/// Largest queue a frontend may set up.
pub const MAX_QUEUE_SIZE: u16 = 1024;
/// Data segments per request we advertise (`seg_max`): a guest with
/// indirect descriptors may use this many whatever its queue size.
pub const SEG_MAX: u32 = 254;
/// Bytes per data segment we advertise (`size_max`).
pub const SIZE_MAX: u32 = 1 << 20;

/// Pieces of guest memory at least this large are read or written in
/// place; runs of smaller ones share one device call through a bounce
/// buffer.
const DIRECT_MIN: usize = 64 << 10;
/// Size of a worker's bounce buffer.
const BOUNCE_MAX: usize = 1 << 20;

/// How a connection's device is served.
#[derive(Debug, Clone)]
pub struct BlkOptions {
    /// Queues offered (`num_queues`, a worker thread each).
    pub num_queues: u16,
    /// After a queue runs dry, keep looking for new requests this long
    /// before sleeping on the kick fd (zero: never poll).
    pub poll: Duration,
}

impl Default for BlkOptions {
    fn default() -> Self {
        BlkOptions { num_queues: 1, poll: Duration::ZERO }
    }
}

/// One chain's descriptor: guest address, length, device-writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Desc {
    addr: GuestAddress,
    len: u32,
    write: bool,
}

/// A queue worker's reusable buffers: no allocation per request.
#[derive(Default)]
struct Worker {
    descs: Vec<Desc>,
    /// Host pieces (address, length) of the current request's data.
    pieces: Vec<(usize, usize)>,
    bounce: Vec<u8>,
}

/// The virtio-blk backend of one connection.
pub struct BlkBackend {
    dev: DeviceRef,
    read_only: bool,
    serial: String,
    geometry: BlkGeometry,
    opts: BlkOptions,
    mem: Mem,
    event_idx: AtomicBool,
    acked: AtomicU64,
    workers: Vec<Mutex<Worker>>,
}

impl BlkBackend {
    /// A backend serving `dev`; `mem` is the guest memory the
    /// `VhostUserDaemon` fills in.
    pub fn new(dev: DeviceRef, read_only: bool, serial: String, opts: BlkOptions, mem: Mem) -> BlkBackend {
        let n = opts.num_queues.max(1);
        let geometry = BlkGeometry {
            capacity: dev.size().0,
            blk_size: dev.logical_block_size(),
            num_queues: n,
            seg_max: SEG_MAX,
            size_max: SIZE_MAX,
        };
        BlkBackend {
            read_only: read_only || dev.read_only(),
            dev,
            serial,
            geometry,
            opts: BlkOptions { num_queues: n, ..opts },
            mem,
            event_idx: AtomicBool::new(false),
            acked: AtomicU64::new(0),
            workers: (0..n).map(|_| Mutex::new(Worker::default())).collect(),
        }
    }

    /// Serves every available request of `vring`, then tells the driver.
    /// With EVENT_IDX, notifications stay off while the queue is being
    /// drained and the loop re-checks after turning them back on, so no
    /// kick is lost and no request waits for the next one.
    fn process_vring(&self, w: &mut Worker, vring: &Vring) -> io::Result<()> {
        let mut state = vring.get_mut();
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        let mut polled = false;
        loop {
            if event_idx {
                state.disable_notification().map_err(io::Error::other)?;
            }
            let served = self.drain(w, &mut state)?;
            if served > 0 {
                polled = false;
                let notify = !event_idx || state.needs_notification().map_err(io::Error::other)?;
                if notify {
                    state.signal_used_queue()?;
                }
            }
            if event_idx {
                if state.enable_notification().map_err(io::Error::other)? {
                    continue; // Requests came in while notifications were off.
                }
            } else if served > 0 {
                continue;
            }
            // Dry: optionally look a little longer before sleeping.
            if !self.opts.poll.is_zero() && !polled {
                polled = true;
                if self.poll_for_work(&mut state) {
                    continue;
                }
            }
            return Ok(());
        }
    }

    /// Spins (yielding) for up to `opts.poll` until the driver makes a
    /// request available; true when it did.
    fn poll_for_work(&self, state: &mut VringState<Mem>) -> bool {
        let mem = self.mem.memory();
        let until = Instant::now() + self.opts.poll;
        let next = state.get_queue().next_avail();
        while Instant::now() < until {
            match state.get_queue().avail_idx(&*mem, Ordering::Acquire) {
                Ok(idx) if idx.0 != next => return true,
                Ok(_) => std::thread::yield_now(),
                Err(_) => return false,
            }
        }
        false
    }

    /// Pops and serves requests until the ring is empty; how many.
    fn drain(&self, w: &mut Worker, state: &mut VringState<Mem>) -> io::Result<usize> {
        let mut n = 0;
        loop {
            let mem = self.mem.memory();
            let Some(chain) = state.get_queue_mut().pop_descriptor_chain(mem.clone()) else { return Ok(n) };
            let head = chain.head_index();
            w.descs.clear();
            w.descs.extend(chain.map(|d| Desc { addr: d.addr(), len: d.len(), write: d.is_write_only() }));
            let used = self.serve(w, &mem);
            state.add_used(head, used).map_err(io::Error::other)?;
            n += 1;
        }
    }

    /// Serves the request in `w.descs`; the bytes written to the driver
    /// (data plus the status byte), for the used ring.
    fn serve(&self, w: &mut Worker, mem: &GuestMemoryMmap<()>) -> u32 {
        // Device-readable descriptors come first, then device-writable ones
        // (spec 2.7.4.2); the status byte is the last writable byte.
        let split = w.descs.iter().position(|d| d.write).unwrap_or(w.descs.len());
        if w.descs[split..].iter().any(|d| !d.write) {
            warn!("vhost-user-blk: a readable descriptor after a writable one; request dropped");
            return 0;
        }
        let Some(last) = w.descs.last().copied().filter(|d| d.write && d.len > 0) else {
            warn!("vhost-user-blk: request without a status byte; dropped");
            return 0;
        };
        let status_addr = GuestAddress(last.addr.0 + u64::from(last.len) - 1);
        let readable: usize = w.descs[..split].iter().map(|d| d.len as usize).sum();
        let writable: usize = w.descs[split..].iter().map(|d| d.len as usize).sum::<usize>() - 1;
        let (status, data_written) = self.execute(w, mem, split, readable, writable);
        if mem.write_obj(status as u8, status_addr).is_err() {
            warn!("vhost-user-blk: the status byte is outside guest memory");
            return 0;
        }
        data_written + 1
    }

    /// Runs the request; its status and the data bytes it wrote.
    fn execute(
        &self,
        w: &mut Worker,
        mem: &GuestMemoryMmap<()>,
        split: usize,
        readable: usize,
        writable: usize,
    ) -> (Status, u32) {
        let mut hb = [0u8; HEADER_LEN];
        if readable < HEADER_LEN || gather(mem, &w.descs[..split], 0, &mut hb).is_err() {
            return (Status::IoErr, 0);
        }
        let hdr = Header::parse(&hb);
        let ok = |r: ulvm_blockdev::Result<()>, what: &str| match r {
            Ok(()) => Status::Ok,
            Err(e) => {
                debug!("vhost-user-blk: {what} failed: {e}");
                Status::IoErr
            }
        };
        match hdr.kind {
            RequestType::In => {
                let (descs, dev) = (&w.descs[split..], &self.dev);
                if !self.in_range(hdr.sector, writable as u64) {
                    return (Status::IoErr, 0);
                }
                if host_pieces(mem, descs, writable, &mut w.pieces).is_err() {
                    return (Status::IoErr, 0);
                }
                let r = run_io(dev, Dir::Read, hdr.sector, &w.pieces, &mut w.bounce);
                let s = ok(r, "read");
                (s, if s == Status::Ok { writable as u32 } else { 0 })
            }
            RequestType::Out => {
                let len = readable - HEADER_LEN;
                if self.read_only || !self.in_range(hdr.sector, len as u64) {
                    return (Status::IoErr, 0);
                }
                if host_pieces_from(mem, &w.descs[..split], HEADER_LEN, len, &mut w.pieces).is_err() {
                    return (Status::IoErr, 0);
                }
                (ok(run_io(&self.dev, Dir::Write, hdr.sector, &w.pieces, &mut w.bounce), "write"), 0)
            }
            RequestType::Flush => (ok(self.dev.flush(), "flush"), 0),
            RequestType::GetId => {
                let id = request::id_bytes(&self.serial);
                let n = writable.min(id.len());
                match scatter(mem, &w.descs[split..], 0, &id[..n]) {
                    Ok(()) => (Status::Ok, n as u32),
                    Err(()) => (Status::IoErr, 0),
                }
            }
            RequestType::Discard | RequestType::WriteZeroes => {
                (self.zero_or_discard(w, mem, hdr.kind, split, readable), 0)
            }
            RequestType::Unsupported(t) => {
                debug!("vhost-user-blk: request type {t} unsupported");
                (Status::Unsupp, 0)
            }
        }
    }

    fn zero_or_discard(
        &self,
        w: &Worker,
        mem: &GuestMemoryMmap<()>,
        kind: RequestType,
        split: usize,
        readable: usize,
    ) -> Status {
        let body = readable - HEADER_LEN;
        let count = body / SEGMENT_LEN;
        if !body.is_multiple_of(SEGMENT_LEN) || count == 0 || count > request::MAX_ZERO_SEGMENTS as usize {
            return Status::Unsupp;
        }
        let discard = kind == RequestType::Discard;
        let mut segs = [Segment { sector: 0, num_sectors: 0, flags: 0 }; request::MAX_ZERO_SEGMENTS as usize];
        for (i, seg) in segs.iter_mut().enumerate().take(count) {
            let mut b = [0u8; SEGMENT_LEN];
            if gather(mem, &w.descs[..split], HEADER_LEN + i * SEGMENT_LEN, &mut b).is_err() {
                return Status::IoErr;
            }
            *seg = Segment::parse(&b);
            // The unmap flag is reserved for discards; write-zeroes knows no other.
            let allowed = if discard { 0 } else { request::FLAG_UNMAP };
            if seg.flags & !allowed != 0 || seg.num_sectors > request::MAX_ZERO_SECTORS {
                return Status::Unsupp;
            }
            if !self.in_range(seg.sector, u64::from(seg.num_sectors) * SECTOR_SIZE) {
                return Status::IoErr;
            }
        }
        if self.read_only {
            return Status::IoErr;
        }
        for seg in &segs[..count] {
            let (at, len) = (Sectors(seg.sector), Sectors(u64::from(seg.num_sectors)));
            // With UNMAP the device may deallocate, but the range must read
            // as zeroes: that is what the device's write_zeroes promises.
            let r = if discard { self.dev.discard(at, len) } else { self.dev.write_zeroes(at, len) };
            if let Err(e) = r {
                debug!("vhost-user-blk: {kind:?} failed: {e}");
                return Status::IoErr;
            }
        }
        Status::Ok
    }

    /// Whether `len` bytes at `sector` are whole sectors inside the device.
    fn in_range(&self, sector: u64, len: u64) -> bool {
        len.is_multiple_of(SECTOR_SIZE)
            && sector.checked_add(len / SECTOR_SIZE).is_some_and(|end| end <= self.geometry.capacity)
    }
}

impl VhostUserBackend for BlkBackend {
    type Bitmap = ();
    type Vring = Vring;

    fn num_queues(&self) -> usize {
        usize::from(self.geometry.num_queues)
    }

    fn max_queue_size(&self) -> usize {
        usize::from(MAX_QUEUE_SIZE)
    }

    fn features(&self) -> u64 {
        request::features(self.read_only, self.geometry.num_queues) | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn acked_features(&self, features: u64) {
        self.acked.store(features, Ordering::Relaxed);
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        VhostUserProtocolFeatures::CONFIG
            | VhostUserProtocolFeatures::MQ
            | VhostUserProtocolFeatures::REPLY_ACK
            | VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS
    }

    fn set_event_idx(&self, enabled: bool) {
        self.event_idx.store(enabled, Ordering::Relaxed);
    }

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        let c = request::config_space(&self.geometry);
        let (off, size) = (offset as usize, size as usize);
        match off.checked_add(size) {
            Some(end) if end <= c.len() => c[off..end].to_vec(),
            // Past our struct: the frontend reads zeroes.
            _ => {
                let mut v = vec![0u8; size];
                if off < c.len() {
                    let n = c.len() - off;
                    v[..n].copy_from_slice(&c[off..]);
                }
                v
            }
        }
    }

    fn update_memory(&self, _mem: Mem) -> io::Result<()> {
        // The daemon updates the GuestMemoryAtomic we were built with.
        Ok(())
    }

    fn queues_per_thread(&self) -> Vec<u64> {
        (0..self.geometry.num_queues).map(|q| 1u64 << q).collect()
    }

    fn exit_event(&self, _thread_index: usize) -> Option<(EventConsumer, EventNotifier)> {
        // Without one the library's worker threads could never be told to
        // end, and a disconnect could not release the device.
        new_event_consumer_and_notifier(EventFlag::NONBLOCK).ok()
    }

    fn handle_event(&self, device_event: u16, evset: EventSet, vrings: &[Vring], thread_id: usize) -> io::Result<()> {
        if evset != EventSet::IN {
            // Serving the ring is always safe; an error would end the thread.
            debug!("vhost-user-blk: event set {evset:?} on queue {device_event}");
        }
        // One queue per thread: this thread's only vring.
        let (Some(vring), Some(worker)) = (vrings.first(), self.workers.get(thread_id)) else {
            return Err(io::Error::other(format!("event {device_event} on thread {thread_id} without a queue")));
        };
        let mut w = worker.lock().unwrap_or_else(|p| p.into_inner());
        self.process_vring(&mut w, vring)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

/// Host pieces of the first `len` bytes of `descs`, adjacent ones merged.
fn host_pieces(mem: &GuestMemoryMmap<()>, descs: &[Desc], len: usize, out: &mut Vec<(usize, usize)>) -> Result<(), ()> {
    host_pieces_from(mem, descs, 0, len, out)
}

/// Host pieces of `len` bytes of `descs` from byte `skip` on.
fn host_pieces_from(
    mem: &GuestMemoryMmap<()>,
    descs: &[Desc],
    mut skip: usize,
    mut len: usize,
    out: &mut Vec<(usize, usize)>,
) -> Result<(), ()> {
    out.clear();
    for d in descs {
        if len == 0 {
            break;
        }
        let dlen = d.len as usize;
        if skip >= dlen {
            skip -= dlen;
            continue;
        }
        let n = (dlen - skip).min(len);
        let start = d.addr.checked_add(skip as u64).ok_or(())?;
        for s in mem.get_slices(start, n) {
            let s = s.map_err(|_| ())?;
            let p = s.ptr_guard_mut().as_ptr() as usize;
            match out.last_mut() {
                Some((lp, ll)) if *lp + *ll == p => *ll += s.len(),
                _ => out.push((p, s.len())),
            }
        }
        skip = 0;
        len -= n;
    }
    if len == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// Reads `buf.len()` bytes of `descs` from byte `at` (guest → host).
fn gather(mem: &GuestMemoryMmap<()>, descs: &[Desc], at: usize, buf: &mut [u8]) -> Result<(), ()> {
    walk(descs, at, buf.len(), |addr, off, n| mem.read_slice(&mut buf[off..off + n], addr).map_err(|_| ()))
}

/// Writes `buf` into `descs` from byte `at` (host → guest).
fn scatter(mem: &GuestMemoryMmap<()>, descs: &[Desc], at: usize, buf: &[u8]) -> Result<(), ()> {
    walk(descs, at, buf.len(), |addr, off, n| mem.write_slice(&buf[off..off + n], addr).map_err(|_| ()))
}

/// Calls `f(guest address, offset into the range, length)` for each
/// descriptor's share of bytes `at..at + len` of `descs`.
fn walk(
    descs: &[Desc],
    mut skip: usize,
    len: usize,
    mut f: impl FnMut(GuestAddress, usize, usize) -> Result<(), ()>,
) -> Result<(), ()> {
    let mut done = 0;
    for d in descs {
        if done == len {
            break;
        }
        let dlen = d.len as usize;
        if skip >= dlen {
            skip -= dlen;
            continue;
        }
        let n = (dlen - skip).min(len - done);
        f(d.addr.checked_add(skip as u64).ok_or(())?, done, n)?;
        done += n;
        skip = 0;
    }
    if done == len {
        Ok(())
    } else {
        Err(())
    }
}

/// Copies between `buf` and the pieces' bytes `at..at + buf.len()`: for
/// `Dir::Read` (a device read) `buf` goes into the pieces, for
/// `Dir::Write` the pieces go into `buf`.
fn copy_pieces(pieces: &[(usize, usize)], mut at: usize, buf: &mut [u8], dir: Dir) {
    let mut done = 0;
    for &(p, l) in pieces {
        if done == buf.len() {
            break;
        }
        if at >= l {
            at -= l;
            continue;
        }
        let n = (l - at).min(buf.len() - done);
        let host = (p + at) as *mut u8;
        // SAFETY: `host..host + n` lies inside a mapped guest memory region
        // (from `get_slices`), which stays mapped while the caller holds the
        // memory guard; `buf` is ours. The regions do not overlap.
        unsafe {
            match dir {
                Dir::Read => std::ptr::copy_nonoverlapping(buf.as_ptr().add(done), host, n),
                Dir::Write => std::ptr::copy_nonoverlapping(host, buf.as_mut_ptr().add(done), n),
            }
        }
        done += n;
        at = 0;
    }
}

/// The device I/O of a read or write whose guest buffers are `pieces`,
/// starting at `sector`. Large sector-multiple pieces go straight between
/// the device and guest memory; runs of small ones (and any request with
/// pieces that are not whole sectors) share device calls through `bounce`.
fn run_io(
    dev: &DeviceRef,
    dir: Dir,
    sector: u64,
    pieces: &[(usize, usize)],
    bounce: &mut Vec<u8>,
) -> ulvm_blockdev::Result<()> {
    let total: usize = pieces.iter().map(|p| p.1).sum();
    let whole = pieces.iter().all(|p| (p.1 as u64).is_multiple_of(SECTOR_SIZE));
    let mut at = 0usize; // byte offset into the request
    let mut i = 0;
    while at < total {
        if whole && pieces[i].1 >= DIRECT_MIN || pieces.len() == 1 {
            let (p, l) = pieces[i];
            let dev_at = Sectors(sector + (at as u64 / SECTOR_SIZE));
            match dir {
                Dir::Read => {
                    // SAFETY: `p..p + l` is mapped guest memory the driver
                    // handed the device for writing (see `copy_pieces`); no
                    // Rust reference to it exists elsewhere while we read.
                    let buf = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, l) };
                    dev.read(dev_at, buf)?;
                }
                Dir::Write => {
                    // SAFETY: as above, memory the driver handed the device to read.
                    let buf = unsafe { std::slice::from_raw_parts(p as *const u8, l) };
                    dev.write(dev_at, buf)?;
                }
            }
            at += l;
            i += 1;
            continue;
        }
        // A window through the bounce buffer: with whole pieces, up to the
        // next large piece; otherwise simply the next BOUNCE_MAX bytes.
        let mut n = 0;
        let mut j = i;
        if whole {
            while j < pieces.len() && pieces[j].1 < DIRECT_MIN && n + pieces[j].1 <= BOUNCE_MAX {
                n += pieces[j].1;
                j += 1;
            }
        } else {
            n = (total - at).min(BOUNCE_MAX);
        }
        if bounce.len() < n {
            bounce.resize(n, 0);
        }
        let dev_at = Sectors(sector + (at as u64 / SECTOR_SIZE));
        match dir {
            Dir::Read => {
                dev.read(dev_at, &mut bounce[..n])?;
                copy_pieces(pieces, at, &mut bounce[..n], Dir::Read);
            }
            Dir::Write => {
                copy_pieces(pieces, at, &mut bounce[..n], Dir::Write);
                dev.write(dev_at, &bounce[..n])?;
            }
        }
        at += n;
        if whole {
            i = j;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
