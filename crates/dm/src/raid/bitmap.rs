//! md's write-intent bitmap in memory: which regions' bits are set on
//! disk, which must be set before a write may go out, and which may be
//! cleared.
//!
//! - A write counts itself on each region it touches
//!   ([`WriteIntent::start_write`]); a region whose bit is not yet durable
//!   makes the writer commit the bitmap first (one commit covers every
//!   writer whose bit is in the image: [`WriteIntent::image`],
//!   [`WriteIntent::committed`]).
//! - Bits are cleared lazily, as md's daemon does: a sweep
//!   ([`WriteIntent::sweep`]) clears the bits of regions that were
//!   already idle at the previous sweep and had no write since, so a bit
//!   lives at least one daemon period after its last write. The caller
//!   makes the legs' data durable before a sweep whose clears it writes,
//!   and does not sweep while the set is degraded: the bits then record
//!   every region written since a leg left, which is what recovering it
//!   from the bitmap copies.
//!
//! Pure state: no I/O, no clocks.

use super::format::Bits;
use std::collections::{BTreeSet, HashMap};

/// The write-intent state of one raid set.
#[derive(Debug, Clone)]
pub struct WriteIntent {
    /// What the last committed bitmap says.
    disk: Bits,
    /// What the next commit will say.
    mem: Bits,
    /// Writes in flight per region.
    pending: HashMap<u64, u32>,
    /// Regions whose writes ended since the last sweep.
    idle: BTreeSet<u64>,
    /// Regions idle at the last sweep and not written since: cleared at
    /// the next.
    idle_marked: BTreeSet<u64>,
}

impl WriteIntent {
    /// The state after loading `bits` from disk: every set bit stays set
    /// until its region is idle for two sweeps ([`WriteIntent::release`]
    /// lets the caller decide when a region loaded dirty may be cleared).
    pub fn new(bits: Bits) -> WriteIntent {
        WriteIntent {
            disk: bits.clone(),
            mem: bits,
            pending: HashMap::new(),
            idle: BTreeSet::new(),
            idle_marked: BTreeSet::new(),
        }
    }

    pub fn regions(&self) -> u64 {
        self.mem.regions()
    }

    /// Counts a write on region `r` and sets its bit. True when the bit is
    /// not durable yet: the writer commits the bitmap before its data.
    pub fn start_write(&mut self, r: u64) -> bool {
        *self.pending.entry(r).or_insert(0) += 1;
        self.idle.remove(&r);
        self.idle_marked.remove(&r);
        self.mem.set(r, true);
        !self.disk.get(r)
    }

    /// Ends a write on region `r` counted by [`WriteIntent::start_write`].
    pub fn end_write(&mut self, r: u64) {
        if let Some(n) = self.pending.get_mut(&r) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&r);
                self.idle.insert(r);
            }
        }
    }

    /// Whether region `r` has writes in flight.
    pub fn is_pending(&self, r: u64) -> bool {
        self.pending.contains_key(&r)
    }

    /// Makes region `r`'s set bit a candidate for clearing (a region
    /// loaded dirty once resync has made its legs equal).
    pub fn release(&mut self, r: u64) {
        if self.mem.get(r) && !self.pending.contains_key(&r) {
            self.idle.insert(r);
        }
    }

    /// Whether region `r`'s bit is set in memory.
    pub fn is_set(&self, r: u64) -> bool {
        self.mem.get(r)
    }

    /// Whether region `r`'s bit is durable.
    pub fn is_durable(&self, r: u64) -> bool {
        self.disk.get(r)
    }

    /// One daemon pass: clears the bits of regions idle since the last
    /// pass for which `may_clear` holds, and marks the regions that went
    /// idle since. Returns how many bits were cleared.
    pub fn sweep(&mut self, may_clear: impl Fn(u64) -> bool) -> u64 {
        let mut cleared = 0;
        for r in std::mem::take(&mut self.idle_marked) {
            if self.pending.contains_key(&r) {
                continue;
            }
            if may_clear(r) {
                self.mem.set(r, false);
                cleared += 1;
            } else {
                self.idle.insert(r);
            }
        }
        self.idle_marked = std::mem::take(&mut self.idle);
        cleared
    }

    /// Whether a sweep could still clear something.
    pub fn has_idle(&self) -> bool {
        !self.idle.is_empty() || !self.idle_marked.is_empty()
    }

    /// The bits to commit, if they differ from the disk's.
    pub fn image(&self) -> Option<Bits> {
        (self.mem != self.disk).then(|| self.mem.clone())
    }

    /// The bits as they are now (for a commit that writes anyway).
    pub fn current(&self) -> &Bits {
        &self.mem
    }

    /// `image` is durable.
    pub fn committed(&mut self, image: Bits) {
        self.disk = image;
    }

    /// The last committed bits.
    pub fn on_disk(&self) -> &Bits {
        &self.disk
    }

    /// Sets region `r`'s bit outside a write (a write that failed on a
    /// leg, a region resynced while a leg is away); it clears as an idle
    /// region's does once the caller lets sweeps clear it.
    pub fn dirty(&mut self, r: u64) {
        self.mem.set(r, true);
        self.idle_marked.remove(&r);
        if !self.pending.contains_key(&r) {
            self.idle.insert(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_write_needs_commit_once_then_bit_clears_after_two_idle_sweeps() {
        let mut w = WriteIntent::new(Bits::new(4));
        assert!(w.start_write(1), "first write: commit the bit");
        assert!(w.start_write(1), "not durable yet: the second writer waits for the commit too");
        let img = w.image().unwrap();
        w.committed(img);
        assert!(!w.start_write(1), "durable: no commit");
        for _ in 0..3 {
            w.end_write(1);
        }
        assert_eq!(w.sweep(|_| true), 0, "idle once: kept");
        assert!(w.image().is_none());
        assert_eq!(w.sweep(|_| true), 1, "idle at two sweeps: cleared");
        assert!(!w.image().unwrap().get(1));
    }

    #[test]
    fn test_write_between_sweeps_keeps_bit_and_degraded_keeps_all() {
        let mut w = WriteIntent::new(Bits::new(4));
        w.start_write(2);
        w.end_write(2);
        w.sweep(|_| true);
        w.start_write(2);
        w.end_write(2);
        assert_eq!(w.sweep(|_| true), 0, "written since the last sweep");
        assert_eq!(w.sweep(|_| false), 0, "degraded: nothing cleared");
        assert!(w.has_idle());
        assert_eq!(w.sweep(|_| true), 1);
        assert!(!w.has_idle());
    }

    #[test]
    fn test_pending_region_is_never_cleared() {
        let mut w = WriteIntent::new(Bits::new(4));
        w.start_write(0);
        w.start_write(0);
        w.end_write(0);
        w.sweep(|_| true);
        w.sweep(|_| true);
        assert!(w.is_set(0) && w.is_pending(0));
    }
}
