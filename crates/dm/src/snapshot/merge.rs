//! snapshot-merge: copying COW chunks back into the origin.
//!
//! The merge is a steppable state machine ([`Snapshot::merge_step`]):
//! each step takes up to a batch of exceptions from the end of the store,
//! as the kernel does, makes the other snapshots copy those origin chunks
//! out first, copies the COW data over the origin in runs, flushes the
//! origin, and only then commits the shortened metadata area. A crash at
//! any point leaves records that are simply merged again.

use super::format::DiskException;
use super::store::Store;
use super::{OriginState, Snapshot};
use crate::target::Step;
use ulvm_blockdev::{Chunks, Result, Sectors};

/// Upper bound of data moved per merge step (and per metadata commit).
pub const MERGE_BATCH_BYTES: usize = 64 << 20;
/// Upper bound of one copy I/O.
const MERGE_IO_BYTES: usize = 4 << 20;

impl Snapshot {
    /// One merge step. Writes to chunks in the batch wait until it is
    /// committed; everything else keeps flowing.
    pub fn merge_step(&self, origin: &OriginState) -> Step {
        let mut st = self.lock();
        if !st.valid || st.merge_failed {
            return Step::Failed;
        }
        let cs = st.chunk_size;
        let max = (MERGE_BATCH_BYTES / cs.bytes()).max(1);
        let Store::Persistent(p) = &mut st.store else {
            return Step::Failed;
        };
        let batch: Vec<DiskException> = match p.merge_candidates(max) {
            Ok(None) => return Step::Done,
            Ok(Some(recs)) => recs.to_vec(),
            Err(area) => {
                let loc = p.geom.area_location(area);
                drop(st);
                let mut buf = vec![0u8; cs.bytes()];
                let r = self.cow.dev.read(cs.start_of(Chunks(loc)), &mut buf);
                let mut st = self.lock();
                let Store::Persistent(p) = &mut st.store else { return Step::Failed };
                if r.is_err() || !p.step_back_for_merge(area, &buf) {
                    return self.fail_merge(st);
                }
                return Step::Progress;
            }
        };
        for e in &batch {
            st.merging_chunks.insert(e.old_chunk);
        }
        while batch.iter().any(|e| st.tracked.contains_key(&e.old_chunk)) {
            st = self.wait(st);
        }
        drop(st);

        if let Err(_e) = self.merge_copy(origin, cs, &batch) {
            return self.fail_merge(self.lock());
        }
        let mut st = self.lock();
        let Store::Persistent(p) = &mut st.store else { return Step::Failed };
        let w = p.stage_merge_commit(batch.len());
        drop(st);
        if self.apply(&w).is_err() {
            return self.fail_merge(self.lock());
        }
        let mut st = self.lock();
        for e in &batch {
            st.complete.remove(&e.old_chunk);
            st.merging_chunks.remove(&e.old_chunk);
        }
        let done = matches!(&st.store, Store::Persistent(p) if p.area.is_empty() && p.current_area == 0);
        drop(st);
        self.cond.notify_all();
        if done {
            self.raise_event();
            return Step::Done;
        }
        Step::Progress
    }

    fn fail_merge(&self, mut st: std::sync::MutexGuard<'_, super::SnapState>) -> Step {
        st.merge_failed = true;
        st.merging_chunks.clear();
        drop(st);
        self.cond.notify_all();
        self.raise_event();
        Step::Failed
    }

    /// Copies the batch COW -> origin: other snapshots copy out first, runs
    /// of consecutive chunks move in large I/Os, and the origin is flushed
    /// before the caller commits metadata.
    fn merge_copy(&self, origin: &OriginState, cs: ulvm_blockdev::ChunkSize, batch: &[DiskException]) -> Result<()> {
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
            let len = Sectors((n as u64 * cs.sectors().0).min(origin_size.0.saturating_sub(dst.0)));
            if len.0 > 0 {
                origin.prepare_write(dst, len)?;
                buf.resize(len.byte_len(), 0);
                self.cow.dev.read(cs.start_of(Chunks(first.new_chunk)), &mut buf)?;
                origin.dev.dev.write(dst, &buf)?;
            }
            i += n;
        }
        origin.dev.dev.flush()
    }
}
