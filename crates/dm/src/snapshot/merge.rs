//! snapshot-merge: copying COW chunks back into the origin.
//!
//! The merge is a steppable state machine ([`Snapshot::merge_step`]).
//! Each step plans a batch of exceptions taken from the end of the store,
//! as the kernel consumes them, stepping back through earlier areas as
//! needed (up to the configured batch size); makes the other snapshots
//! copy those origin chunks out first; copies the COW data over the origin
//! in runs of large I/Os; flushes the origin; and only then rewrites the
//! touched metadata areas with one flush. A crash at any point leaves
//! records that are simply merged again: the copy is idempotent because
//! the COW data of unmerged chunks is not changed by anything else.
//!
//! While the origin's users are active the copy yields to them through
//! the device's [`Throttle`]: the batch is copied in smaller pieces with
//! rests between. Only the pace changes: the batch, the copies, the
//! flushes and the commit are the same and come in the same order.
//!
//! Only the merge mutates a merging snapshot's store, so planning works on
//! a copy of it without the lock.

use super::format::DiskException;
use super::store::Store;
use super::{OriginState, SnapState, Snapshot};
use crate::target::Step;
use crate::throttle::{Pace, Throttle};
use std::sync::MutexGuard;
use std::time::Instant;
use ulvm_blockdev::{ChunkSize, Chunks, Result, Sectors};

/// Upper bound of one copy I/O.
const MERGE_IO_BYTES: usize = 4 << 20;

impl Snapshot {
    /// One merge step. Writes to chunks in the batch wait until it is
    /// committed; everything else keeps flowing.
    pub fn merge_step(&self, origin: &OriginState, throttle: &Throttle) -> Step {
        let st = self.lock();
        if !st.valid || st.merge_failed {
            return Step::Failed;
        }
        let cs = st.chunk_size;
        let Store::Persistent(p) = &st.store else {
            return Step::Failed;
        };
        let store = p.clone();
        drop(st);
        let max = (self.merge_batch / cs.bytes()).max(1);
        let plan = store.plan_merge(max, |area| {
            let mut buf = vec![0u8; cs.bytes()];
            self.cow.dev.read(cs.start_of(Chunks(store.geom.area_location(area))), &mut buf)?;
            Ok(buf)
        });
        let plan = match plan {
            Ok(Some(plan)) => plan,
            Ok(None) => return Step::Done,
            Err(_) => return self.fail_merge(self.lock()),
        };

        let mut st = self.lock();
        for e in &plan.records {
            st.merging_chunks.insert(e.old_chunk);
        }
        while plan.records.iter().any(|e| st.tracked.contains_key(&e.old_chunk)) {
            st = self.wait(st);
        }
        drop(st);

        let commit = self.merge_copy(origin, cs, &plan.records, throttle).and_then(|_| {
            plan.writes.iter().try_for_each(|w| w.apply(&*self.cow.dev))?;
            self.cow.dev.flush()
        });
        if commit.is_err() {
            return self.fail_merge(self.lock());
        }
        let mut st = self.lock();
        for e in &plan.records {
            st.complete.remove(&e.old_chunk);
            st.merging_chunks.remove(&e.old_chunk);
        }
        let Store::Persistent(p) = &mut st.store else { return Step::Failed };
        p.apply_merge(plan);
        let done = p.area.is_empty() && p.current_area == 0;
        drop(st);
        self.cond.notify_all();
        if done {
            self.raise_event();
            return Step::Done;
        }
        Step::Progress
    }

    fn fail_merge(&self, mut st: MutexGuard<'_, SnapState>) -> Step {
        st.merge_failed = true;
        st.merging_chunks.clear();
        drop(st);
        self.cond.notify_all();
        self.raise_event();
        Step::Failed
    }

    /// Copies the batch COW -> origin: other snapshots copy out first, runs
    /// of consecutive chunks move in large I/Os (pieces of the throttle's
    /// size, each followed by its rest, while users are active), and the
    /// origin is flushed before the caller commits metadata.
    fn merge_copy(
        &self,
        origin: &OriginState,
        cs: ChunkSize,
        batch: &[DiskException],
        throttle: &Throttle,
    ) -> Result<()> {
        let mut sorted = batch.to_vec();
        sorted.sort_by_key(|e| e.old_chunk);
        let origin_size = origin.dev.dev.size();
        let max_run = (MERGE_IO_BYTES / cs.bytes()).max(1);
        let mut i = 0;
        let mut buf = Vec::new();
        while i < sorted.len() {
            let first = sorted[i];
            let mut n = 1;
            while i + n < sorted.len() && n < max_run {
                let e = sorted[i + n];
                if e.old_chunk != first.old_chunk + n as u64 || e.new_chunk != first.new_chunk + n as u64 {
                    break;
                }
                n += 1;
            }
            let dst = cs.start_of(Chunks(first.old_chunk));
            let src = cs.start_of(Chunks(first.new_chunk));
            let len = Sectors((n as u64 * cs.sectors().0).min(origin_size.0.saturating_sub(dst.0)));
            let mut done = Sectors(0);
            while done < len {
                let piece = match throttle.pace() {
                    Pace::Full => len - done,
                    Pace::Share { piece_bytes } => {
                        Sectors((piece_bytes / cs.bytes() as u64).max(1) * cs.sectors().0).min(len - done)
                    }
                };
                let t0 = Instant::now();
                origin.prepare_write(dst + done, piece)?;
                buf.resize(piece.byte_len(), 0);
                self.cow.dev.read(src + done, &mut buf)?;
                origin.dev.dev.write(dst + done, &buf)?;
                done += piece;
                throttle.rest_after(t0.elapsed());
            }
            i += n;
        }
        origin.dev.dev.flush()
    }
}
