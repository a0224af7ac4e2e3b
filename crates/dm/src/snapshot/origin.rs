//! The origin side: every snapshot of one origin device, and the copy-out
//! that must happen before an origin chunk changes.
//!
//! Snapshots belong to an origin by the number of the underlying origin
//! device (the LVM `-real` device), as in the kernel, so a
//! `snapshot-origin` and the `snapshot`s over the same device meet here
//! whichever is loaded first.

use super::format::DiskException;
use super::{SnapState, Snapshot};
use crate::table::DevNum;
use crate::target::Underlying;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use ulvm_blockdev::{Chunks, Error, Result, Sectors};

/// All snapshots of one origin device.
pub struct OriginState {
    pub dev: Underlying,
    snapshots: RwLock<Vec<Arc<Snapshot>>>,
}

/// Finds the [`OriginState`] of a device number.
#[derive(Default)]
pub struct OriginRegistry {
    map: Mutex<HashMap<DevNum, Weak<OriginState>>>,
}

impl OriginRegistry {
    pub fn get_or_create(&self, dev: &Underlying) -> Arc<OriginState> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = map.get(&dev.num).and_then(Weak::upgrade) {
            return o;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let o = Arc::new(OriginState { dev: dev.clone(), snapshots: RwLock::new(Vec::new()) });
        map.insert(dev.num, Arc::downgrade(&o));
        o
    }
}

/// Copy-outs one origin write makes in one snapshot.
struct Job {
    snap: Arc<Snapshot>,
    chunk_size: ulvm_blockdev::ChunkSize,
    allocs: Vec<(u64, DiskException)>,
    /// Chunks with someone else's exception in flight: wait before writing.
    waits: Vec<u64>,
}

impl OriginState {
    pub(crate) fn register(&self, s: &Arc<Snapshot>) {
        let mut v = self.snapshots.write().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|x| Arc::ptr_eq(x, s)) {
            v.push(s.clone());
        }
    }

    pub(crate) fn unregister(&self, s: &Arc<Snapshot>) {
        self.snapshots.write().unwrap_or_else(|e| e.into_inner()).retain(|x| !Arc::ptr_eq(x, s));
    }

    pub(crate) fn snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.snapshots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The merging snapshot of this origin, if any.
    pub(crate) fn merging(&self) -> Option<Arc<Snapshot>> {
        self.snapshots().into_iter().find(|s| s.lock().merging)
    }

    /// Makes `[at, at+len)` of the origin safe to overwrite: every active,
    /// valid, non-merging snapshot gets its own copy of each chunk first.
    /// The old data is read once for all snapshots. A snapshot that runs
    /// out of space or fails is invalidated; the origin write goes on.
    pub fn prepare_write(&self, at: Sectors, len: Sectors) -> Result<()> {
        if len.0 == 0 {
            return Ok(());
        }
        let mut jobs = Vec::new();
        for snap in self.snapshots() {
            let mut st = snap.lock();
            if !st.valid || !st.active || st.merging || at >= snap.len {
                continue;
            }
            let cs = st.chunk_size;
            let end = (at + len).min(snap.len);
            let chunks = cs.chunk_of(at).0..=cs.chunk_of(end - Sectors(1)).0;
            let (mut waits, mut missing) = (Vec::new(), Vec::new());
            for c in chunks {
                if st.pending.contains_key(&c) {
                    waits.push(c);
                } else if !st.complete.contains_key(&c) {
                    missing.push(c);
                }
            }
            if !st.store.can_allocate(missing.len(), snap.cow.dev.size()) {
                let (g, grew) = snap.wait_for_space(st, missing.len());
                if !grew {
                    let _ = snap.invalidate(g, "COW device is full");
                    continue;
                }
                st = g;
            }
            let allocs = missing.iter().map(|&c| allocate(&snap, &mut st, c)).collect();
            drop(st);
            jobs.push(Job { snap, chunk_size: cs, allocs, waits });
        }
        self.copy_out(&jobs);
        for job in &jobs {
            // An error invalidated the snapshot; the origin write proceeds.
            let _ = job.snap.commit_and_complete(&job.allocs, true);
        }
        for job in &jobs {
            for &c in &job.waits {
                job.snap.wait_not_pending(c);
            }
        }
        Ok(())
    }

    /// Reads the old data of every allocated chunk once and writes it to
    /// each snapshot's COW chunk.
    fn copy_out(&self, jobs: &[Job]) {
        let origin_size = self.dev.dev.size();
        let ranges = jobs.iter().flat_map(|j| {
            j.allocs.iter().map(move |(_, e)| {
                let s = j.chunk_size.start_of(Chunks(e.old_chunk));
                (s, s + j.chunk_size.sectors())
            })
        });
        let Some((lo, hi)) = ranges.fold(None, |acc: Option<(Sectors, Sectors)>, (s, e)| match acc {
            None => Some((s, e)),
            Some((a, b)) => Some((a.min(s), b.max(e))),
        }) else {
            return;
        };
        // A stacked device may copy out again on this thread while the
        // buffer is in use: then use a fresh one.
        COPY_BUF.with(|buf| match buf.try_borrow_mut() {
            Ok(mut b) => self.copy_with(jobs, lo, hi, origin_size, &mut b),
            Err(_) => self.copy_with(jobs, lo, hi, origin_size, &mut Vec::new()),
        })
    }

    fn copy_with(&self, jobs: &[Job], lo: Sectors, hi: Sectors, origin_size: Sectors, buf: &mut Vec<u8>) {
        let n = (hi - lo).byte_len();
        if buf.len() < n {
            buf.resize(n, 0);
        }
        let old = &mut buf[..n];
        let readable = hi.min(origin_size).saturating_sub(lo).byte_len();
        // Past the origin's end a chunk is copied as zeroes.
        old[readable..].fill(0);
        let read = self.dev.dev.read(lo, &mut old[..readable]);
        for job in jobs {
            if job.allocs.is_empty() {
                continue;
            }
            let r = match &read {
                Ok(()) => write_runs(job, lo, old),
                Err(e) => Err(Error::new(e.kind(), e.to_string())),
            };
            if let Err(e) = r {
                let _ = job.snap.invalidate(job.snap.lock(), &format!("copy-out failed: {e}"));
            }
        }
    }
}

thread_local! {
    /// Copy-out buffer, reused by each I/O thread (no allocation or zeroing per write).
    static COPY_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn allocate(snap: &Snapshot, st: &mut SnapState, c: u64) -> (u64, DiskException) {
    snap.allocate(st, c).expect("capacity checked")
}

/// Writes a job's chunks from `old` (which starts at origin sector `lo`),
/// one COW write per run of consecutive chunks.
fn write_runs(job: &Job, lo: Sectors, old: &[u8]) -> Result<()> {
    let cs = job.chunk_size;
    let mut i = 0;
    while i < job.allocs.len() {
        let first = job.allocs[i].1;
        let mut n = 1;
        while i + n < job.allocs.len() {
            let e = job.allocs[i + n].1;
            if e.old_chunk != first.old_chunk + n as u64 || e.new_chunk != first.new_chunk + n as u64 {
                break;
            }
            n += 1;
        }
        let src = (cs.start_of(Chunks(first.old_chunk)) - lo).byte_len();
        let data = &old[src..src + n * cs.bytes()];
        job.snap.cow.dev.write(cs.start_of(Chunks(first.new_chunk)), data)?;
        i += n;
    }
    Ok(())
}
