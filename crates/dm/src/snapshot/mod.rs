//! The snapshot stack: `snapshot-origin`, `snapshot` and `snapshot-merge`
//! (docs/snapshot-format.md).
//!
//! A [`Snapshot`] is the shared state of one COW device: its exception
//! store, the table of completed and pending exceptions, and the chunks
//! whose origin data is being read. The targets in [`targets`] are thin
//! views onto it; the origin side ([`OriginState`]) finds every snapshot of
//! an origin and copies chunks out before the origin changes.
//!
//! Locking: one mutex per snapshot guards its tables and store; it is never
//! held across data I/O. Lookups return a plan (`Cow`, `Origin`), the I/O
//! runs unlocked, and completion re-takes the lock. Exceptions commit in
//! allocation order through a group commit: whichever writer finds the
//! next sequence number ready writes every ready record in one metadata
//! write (PREFLUSH + FUA), and the others wait for it.

pub mod format;
mod merge;
mod origin;
pub mod store;
mod targets;

pub use origin::{OriginRegistry, OriginState};
pub use targets::{CowRegistry, MergeTarget, OriginTarget, SnapshotTarget, MERGE_KIND, ORIGIN_KIND, SNAPSHOT_KIND};

use crate::status::SnapshotStatus;
use crate::table::{SnapshotArgs, SnapshotFeatures, StoreType};
use crate::target::{EventSink, Underlying};
use format::DiskException;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use store::{MetaWrite, Store};
use ulvm_blockdev::{byte_range, ChunkSize, Chunks, Error, ErrorKind, Result, Sectors};

/// An exception being made: allocated, data being copied or committed.
#[derive(Debug, Clone, Copy)]
struct Pending {
    new_chunk: u64,
    /// The record is durable; only the switch to `complete` is left.
    committed: bool,
}

/// Group commit bookkeeping (sequence numbers are allocation order).
#[derive(Debug, Default)]
struct CommitQueue {
    next_seq: u64,
    /// Next sequence number to write.
    next_commit: u64,
    /// Every sequence number below this is durable.
    durable_upto: u64,
    /// Copied, waiting for their turn.
    ready: BTreeMap<u64, DiskException>,
    /// A writer is doing a metadata write.
    leader: bool,
}

#[derive(Debug)]
pub(crate) struct SnapState {
    valid: bool,
    /// Origin writes copy into this snapshot only once it is active.
    active: bool,
    overflow: bool,
    merge_failed: bool,
    merging: bool,
    chunk_size: ChunkSize,
    store: Store,
    complete: HashMap<u64, u64>,
    pending: HashMap<u64, Pending>,
    /// Chunks with I/O in flight that an exception switch must wait for:
    /// snapshot reads of the origin, and writes to COW chunks of a merge.
    tracked: HashMap<u64, u32>,
    /// Chunks a merge is copying back right now; writes to them wait.
    merging_chunks: HashSet<u64>,
    /// Threads waiting on the condition variable (see `Snapshot::wake`).
    waiters: u32,
    commit: CommitQueue,
}

impl SnapState {
    fn track(&mut self, c: u64) {
        *self.tracked.entry(c).or_default() += 1;
    }
    fn untrack(&mut self, c: u64) -> bool {
        match self.tracked.get_mut(&c) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                self.tracked.remove(&c);
                true
            }
        }
    }
    /// The COW chunk readers may use for `c`.
    fn readable_exception(&self, c: u64) -> Option<u64> {
        self.complete.get(&c).copied().or_else(|| self.pending.get(&c).filter(|p| p.committed).map(|p| p.new_chunk))
    }
}

/// Marks a durable group: everything below `upto` is committed.
fn publish(st: &mut SnapState, upto: u64, group: &[DiskException]) {
    st.commit.durable_upto = upto;
    for e in group {
        if let Some(p) = st.pending.get_mut(&e.old_chunk) {
            p.committed = true;
        }
    }
}

/// One planned piece of a request: a range of the request and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Origin(Sectors),
    Cow(Sectors),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece {
    /// Offset into the request.
    pub off: Sectors,
    pub len: Sectors,
    pub chunk: u64,
    pub place: Place,
}

/// Merges adjacent pieces that continue on the same device.
pub(crate) fn coalesce(pieces: &[Piece]) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        if let Some(last) = out.last_mut() {
            let contiguous = match (last.place, p.place) {
                (Place::Origin(a), Place::Origin(b)) | (Place::Cow(a), Place::Cow(b)) => a + last.len == b,
                _ => false,
            };
            if contiguous && last.off + last.len == p.off {
                last.len += p.len;
                continue;
            }
        }
        out.push(*p);
    }
    out
}

/// Splits `[at, at+len)` at chunk boundaries: `(offset in request, length, chunk)`.
pub(crate) fn chunk_pieces(cs: ChunkSize, at: Sectors, len: Sectors) -> impl Iterator<Item = (Sectors, Sectors, u64)> {
    let mut done = Sectors(0);
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let s = at + done;
        let n = (cs.sectors() - cs.offset_in_chunk(s)).min(len - done);
        let item = (done, n, cs.chunk_of(s).0);
        done += n;
        Some(item)
    })
}

/// Registry-wide settings of snapshots.
#[derive(Debug, Clone, Copy)]
pub struct SnapTuning {
    /// Bytes a merge moves per step (and per metadata commit).
    pub merge_batch: usize,
    /// How long a write waits for a full COW to grow (zero: the kernel's
    /// behaviour, invalidate at once).
    pub space_wait: std::time::Duration,
}

/// The shared state of one snapshot (one COW device).
pub struct Snapshot {
    pub(crate) origin: Underlying,
    pub(crate) cow: Underlying,
    pub(crate) store_type: StoreType,
    pub(crate) features: SnapshotFeatures,
    /// Length of the snapshot's table: origin chunks past it are not copied.
    pub(crate) len: Sectors,
    /// Bytes a merge moves per step (and per metadata commit).
    merge_batch: usize,
    /// How long a write waits for a full COW device to grow before the
    /// snapshot is invalidated (zero: at once, as the kernel).
    space_wait: std::time::Duration,
    events: Mutex<Arc<EventSink>>,
    state: Mutex<SnapState>,
    cond: Condvar,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "snapshot(origin {}, cow {})", self.origin.num, self.cow.num)
    }
}

impl Snapshot {
    /// Opens the store on the COW device (formatting a new one) and reads
    /// every committed exception.
    /// `events` is the dm event counter to raise (invalidation, merge
    /// done); `tuning` how merges step and how long writes wait for space.
    pub fn open(
        origin: Underlying,
        cow: Underlying,
        args: &SnapshotArgs,
        len: Sectors,
        events: Arc<EventSink>,
        tuning: SnapTuning,
    ) -> Result<Snapshot> {
        let loaded = Store::open(args.store, &*cow.dev, origin.dev.logical_block_size(), args.chunk_size)?;
        let chunk_size = loaded.store.chunk_size();
        let complete = loaded.exceptions.iter().map(|e| (e.old_chunk, e.new_chunk)).collect();
        Ok(Snapshot {
            origin,
            cow,
            store_type: args.store,
            features: args.features,
            len,
            merge_batch: tuning.merge_batch,
            space_wait: tuning.space_wait,
            events: Mutex::new(events),
            state: Mutex::new(SnapState {
                valid: loaded.valid,
                active: false,
                overflow: false,
                merge_failed: false,
                merging: false,
                chunk_size,
                store: loaded.store,
                complete,
                pending: HashMap::new(),
                tracked: HashMap::new(),
                merging_chunks: HashSet::new(),
                waiters: 0,
                commit: CommitQueue::default(),
            }),
            cond: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SnapState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, mut g: MutexGuard<'a, SnapState>) -> MutexGuard<'a, SnapState> {
        g.waiters += 1;
        let mut g = self.cond.wait(g).unwrap_or_else(|e| e.into_inner());
        g.waiters -= 1;
        g
    }

    /// Wakes waiters, if there are any: the common path makes no syscall.
    fn wake(&self, st: &SnapState) {
        if st.waiters > 0 {
            self.cond.notify_all();
        }
    }

    pub fn chunk_size(&self) -> ChunkSize {
        self.lock().chunk_size
    }

    pub(crate) fn set_events(&self, events: Arc<EventSink>) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = events;
    }

    /// With a full COW: waits up to `space_wait` for the COW device to
    /// grow (an autoextend reloading it larger), raising an event first so
    /// a monitor hears of it. True when `missing` chunks now fit.
    pub(crate) fn wait_for_space<'a>(
        &'a self,
        st: MutexGuard<'a, SnapState>,
        missing: usize,
    ) -> (MutexGuard<'a, SnapState>, bool) {
        if self.space_wait.is_zero() {
            return (st, false);
        }
        drop(st);
        self.raise_event();
        let deadline = std::time::Instant::now() + self.space_wait;
        let mut st = self.lock();
        loop {
            if !st.valid {
                return (st, false);
            }
            if st.store.can_allocate(missing, self.cow.dev.size()) {
                return (st, true);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                tracing::warn!(snapshot = ?self, "COW device still full after {:?}", self.space_wait);
                return (st, false);
            }
            let step = (deadline - now).min(std::time::Duration::from_millis(20));
            st = self.cond.wait_timeout(st, step).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn raise_event(&self) {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).raise();
    }

    pub(crate) fn set_active(&self, active: bool) {
        self.lock().active = active;
    }

    pub(crate) fn set_merging(&self) {
        self.lock().merging = true;
    }

    fn cow_sector(&self, cs: ChunkSize, new_chunk: u64, off_in_chunk: Sectors) -> Sectors {
        cs.start_of(Chunks(new_chunk)) + off_in_chunk
    }

    fn failed(&self, what: &str) -> Error {
        Error::new(ErrorKind::Failed, format!("snapshot on COW {}: {what}", self.cow.num))
    }

    /// Marks the snapshot invalid (header `valid = 0` on disk for a
    /// persistent store), wakes every waiter and raises a dm event.
    fn invalidate(&self, mut st: MutexGuard<'_, SnapState>, why: &str) -> Error {
        let header = if st.valid {
            st.valid = false;
            match &st.store {
                Store::Persistent(p) => Some(p.invalidate_write()),
                Store::Transient(_) => None,
            }
        } else {
            None
        };
        drop(st);
        self.cond.notify_all();
        if let Some(w) = header {
            // The device may be failing; the in-memory state is what counts now.
            let _ = w.apply(&*self.cow.dev);
            self.raise_event();
        }
        self.failed(&format!("invalidated: {why}"))
    }

    /// Allocates a COW chunk for origin chunk `old` and records it pending.
    fn allocate(&self, st: &mut SnapState, old: u64) -> Option<(u64, DiskException)> {
        let new_chunk = st.store.allocate(self.cow.dev.size())?;
        let seq = st.commit.next_seq;
        st.commit.next_seq += 1;
        st.pending.insert(old, Pending { new_chunk, committed: false });
        Some((seq, DiskException { old_chunk: old, new_chunk }))
    }

    /// Commits `batch` (whose data is written) in allocation order, sharing
    /// metadata writes with concurrent committers, then moves the exceptions
    /// to the complete table. With `wait_tracked`, the switch waits for
    /// snapshot reads still reading those chunks from the origin (the
    /// caller is about to overwrite them).
    fn commit_and_complete(&self, batch: &[(u64, DiskException)], wait_tracked: bool) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut st = self.lock();
        for (seq, e) in batch {
            st.commit.ready.insert(*seq, *e);
        }
        let my_last = batch.iter().map(|b| b.0).max().unwrap_or(0);
        loop {
            if !st.valid {
                return Err(self.failed("invalid"));
            }
            if st.commit.durable_upto > my_last {
                break;
            }
            let next = st.commit.next_commit;
            if st.commit.leader || !st.commit.ready.contains_key(&next) {
                st = self.wait(st);
                continue;
            }
            st.commit.leader = true;
            st = self.lead_commits(st)?;
        }
        for (_, e) in batch {
            while wait_tracked && st.tracked.contains_key(&e.old_chunk) {
                st = self.wait(st);
            }
            st.pending.remove(&e.old_chunk);
            st.complete.insert(e.old_chunk, e.new_chunk);
        }
        self.wake(&st);
        Ok(())
    }

    /// The group-commit leader: writes every ready record, in allocation
    /// order, until none is left. Commits are pipelined: one flush makes a
    /// group's COW data durable *and* the previous group's metadata, so a
    /// steady stream of commits costs one flush per group; the last group
    /// gets a flush of its own. When a group fills an area, the zeroed next
    /// area is flushed before the full area is written.
    fn lead_commits<'a>(&'a self, mut st: MutexGuard<'a, SnapState>) -> Result<MutexGuard<'a, SnapState>> {
        let persistent = matches!(st.store, Store::Persistent(_));
        let mut unflushed: Option<(u64, Vec<DiskException>)> = None;
        loop {
            let mut group = Vec::new();
            loop {
                let n = st.commit.next_commit;
                let Some(e) = st.commit.ready.remove(&n) else { break };
                group.push(e);
                st.commit.next_commit += 1;
            }
            let upto = st.commit.next_commit;
            if group.is_empty() && unflushed.is_none() {
                break;
            }
            let writes = st.store.stage_commit(&group);
            tracing::trace!(group = group.len(), "snapshot: group commit");
            drop(st);
            let r = (|| -> Result<()> {
                if persistent {
                    self.cow.dev.flush()?;
                }
                for w in &writes {
                    match w {
                        MetaWrite::Zero { .. } => {
                            w.apply(&*self.cow.dev)?;
                            self.cow.dev.flush()?;
                        }
                        // Durable at the next flush (ours or the next group's).
                        MetaWrite::Durable { at, data } | MetaWrite::Write { at, data } => {
                            self.cow.dev.write(*at, data)?
                        }
                    }
                }
                Ok(())
            })();
            st = self.lock();
            if let Err(e) = r {
                st.commit.leader = false;
                return Err(self.invalidate(st, &format!("metadata write failed: {e}")));
            }
            if let Some((prev_upto, prev)) = unflushed.take() {
                publish(&mut st, prev_upto, &prev);
                self.wake(&st);
            }
            if group.is_empty() {
                break;
            }
            if persistent {
                unflushed = Some((upto, group));
            } else {
                publish(&mut st, upto, &group);
                self.wake(&st);
            }
        }
        st.commit.leader = false;
        self.wake(&st);
        Ok(st)
    }

    /// Waits until no exception for `chunk` is pending.
    fn wait_not_pending(&self, chunk: u64) {
        let mut st = self.lock();
        while st.valid && st.pending.contains_key(&chunk) {
            st = self.wait(st);
        }
    }

    // ---- the snapshot device's own I/O ----

    fn check_usable(&self, st: &SnapState) -> Result<()> {
        if !st.valid {
            return Err(self.failed("snapshot is invalid"));
        }
        if st.merging {
            return Err(self.failed("snapshot is merging"));
        }
        Ok(())
    }

    /// Reads from the snapshot: COW where a chunk was copied, else origin.
    pub(crate) fn snap_read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        let mut st = self.lock();
        self.check_usable(&st)?;
        let cs = st.chunk_size;
        let mut pieces = Vec::new();
        for (off, n, c) in chunk_pieces(cs, at, len) {
            let place = match st.readable_exception(c) {
                Some(new) => Place::Cow(self.cow_sector(cs, new, cs.offset_in_chunk(at + off))),
                None => {
                    st.track(c);
                    Place::Origin(at + off)
                }
            };
            pieces.push(Piece { off, len: n, chunk: c, place });
        }
        drop(st);
        let mut result = Ok(());
        for p in coalesce(&pieces) {
            let dst = &mut buf[byte_range(p.off..p.off + p.len)];
            let r = match p.place {
                Place::Origin(s) => self.origin.dev.read(s, dst),
                Place::Cow(s) => self.cow.dev.read(s, dst),
            };
            if r.is_err() && result.is_ok() {
                result = r;
            }
        }
        let mut st = self.lock();
        let mut wake = false;
        for p in &pieces {
            if matches!(p.place, Place::Origin(_)) {
                wake |= st.untrack(p.chunk);
            }
        }
        if wake {
            self.wake(&st);
        }
        drop(st);
        result
    }

    /// Writes to the snapshot: chunks without an exception get one first.
    pub(crate) fn snap_write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        let mut st = self.lock();
        let (cs, plan) = loop {
            self.check_usable(&st)?;
            if st.overflow {
                return Err(self.failed("snapshot overflowed"));
            }
            let cs = st.chunk_size;
            let busy = chunk_pieces(cs, at, len).any(|(_, _, c)| st.pending.get(&c).is_some_and(|p| !p.committed));
            if busy {
                st = self.wait(st);
                continue;
            }
            let missing = chunk_pieces(cs, at, len).filter(|&(_, _, c)| st.readable_exception(c).is_none()).count();
            if !st.store.can_allocate(missing, self.cow.dev.size()) {
                let (g, grew) = self.wait_for_space(st, missing);
                st = g;
                if grew {
                    continue;
                }
                if matches!(self.store_type, StoreType::Persistent { overflow: true }) {
                    st.overflow = true;
                    drop(st);
                    self.cond.notify_all();
                    self.raise_event();
                    return Err(self.failed("snapshot overflowed"));
                }
                return Err(self.invalidate(st, "COW device is full"));
            }
            let mut plan = Vec::new();
            for (off, n, c) in chunk_pieces(cs, at, len) {
                match st.readable_exception(c) {
                    Some(new) => plan.push((off, n, c, new, None)),
                    None => {
                        let (seq, e) = self.allocate(&mut st, c).expect("capacity checked");
                        plan.push((off, n, c, e.new_chunk, Some(seq)))
                    }
                }
            }
            break (cs, plan);
        };
        drop(st);
        let mut new = Vec::new();
        let mut io = Ok(());
        for &(off, n, c, new_chunk, seq) in &plan {
            let data = &buf[byte_range(off..off + n)];
            let in_chunk = cs.offset_in_chunk(at + off);
            let r = match seq {
                None => self.cow.dev.write(self.cow_sector(cs, new_chunk, in_chunk), data),
                Some(seq) => {
                    new.push((seq, DiskException { old_chunk: c, new_chunk }));
                    if n == cs.sectors() {
                        self.cow.dev.write(self.cow_sector(cs, new_chunk, Sectors(0)), data)
                    } else {
                        self.copy_chunk_with(cs, c, new_chunk, in_chunk, data)
                    }
                }
            };
            if r.is_err() && io.is_ok() {
                io = r;
            }
        }
        if let Err(e) = io {
            return Err(self.invalidate(self.lock(), &format!("COW write failed: {e}")));
        }
        self.commit_and_complete(&new, false)
    }

    /// Copies origin chunk `old` to COW chunk `new` with `data` laid over
    /// it at `in_chunk` sectors, in one COW write.
    fn copy_chunk_with(&self, cs: ChunkSize, old: u64, new: u64, in_chunk: Sectors, data: &[u8]) -> Result<()> {
        let mut chunk = vec![0u8; cs.bytes()];
        let start = cs.start_of(Chunks(old));
        let avail = self.origin.dev.size().saturating_sub(start).min(cs.sectors());
        self.origin.dev.read(start, &mut chunk[..avail.byte_len()])?;
        chunk[byte_range(in_chunk..in_chunk + Sectors::of_buf(data))].copy_from_slice(data);
        self.cow.dev.write(self.cow_sector(cs, new, Sectors(0)), &chunk)
    }

    /// Discard on the snapshot (`discard_zeroes_cow`): a whole chunk with an
    /// exception has its COW data zeroed, a partial one is passed to the
    /// COW, a chunk without an exception needs nothing.
    pub(crate) fn snap_discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        if !self.features.discard_zeroes_cow {
            return Err(Error::new(ErrorKind::Unsupported, "snapshot: discard needs the discard_zeroes_cow feature"));
        }
        let mut st = self.lock();
        let cs = st.chunk_size;
        let mut ops = Vec::new();
        loop {
            self.check_usable(&st)?;
            if chunk_pieces(cs, at, len).any(|(_, _, c)| st.pending.get(&c).is_some_and(|p| !p.committed)) {
                st = self.wait(st);
                continue;
            }
            for (off, n, c) in chunk_pieces(cs, at, len) {
                if let Some(new) = st.readable_exception(c) {
                    let in_chunk = cs.offset_in_chunk(at + off);
                    ops.push((self.cow_sector(cs, new, in_chunk), n, n == cs.sectors()));
                }
            }
            break;
        }
        drop(st);
        for (s, n, whole) in ops {
            if whole {
                self.cow.dev.write_zeroes(s, n)?;
            } else {
                self.cow.dev.discard(s, n)?;
            }
        }
        if self.features.discard_passdown_origin {
            self.origin.dev.discard(at, len)?;
        }
        Ok(())
    }

    pub(crate) fn snap_flush(&self) -> Result<()> {
        self.check_usable(&self.lock())?;
        self.cow.dev.flush()
    }

    /// The INFO status line: `Invalid`, `Merge failed`, `Overflow` or
    /// `<allocated>/<total> <metadata>`.
    pub fn status(&self) -> SnapshotStatus {
        let st = self.lock();
        if !st.valid {
            return SnapshotStatus::Invalid;
        }
        if st.merge_failed {
            return SnapshotStatus::MergeFailed;
        }
        if st.overflow {
            return SnapshotStatus::Overflow;
        }
        let (allocated, total, metadata) = st.store.usage(self.cow.dev.size(), st.merging);
        SnapshotStatus::Active { allocated, total, metadata }
    }

    /// Table parameters with the chunk size in effect (the header's).
    pub fn table_params(&self) -> String {
        let args = crate::table::SnapshotArgs {
            origin: crate::table::DevRef::Number(self.origin.num),
            cow: crate::table::DevRef::Number(self.cow.num),
            store: self.store_type,
            chunk_size: self.chunk_size().get(),
            features: self.features,
        };
        args.to_string()
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
