//! The mirror's dirty-region log (dm-log.c), pure: which regions are in
//! sync, which are clean on disk, and the `disk` log's on-disk image. It
//! does no I/O; the target reads and writes the images it hands out.
//!
//! Two bitsets, one bit per region, as the kernel keeps them:
//!
//! - `sync`: the region is the same on every leg (in memory only). Writes
//!   to it go to every leg; resync copies the regions without it.
//! - `clean`: what the `disk` log stores. A region's bit is cleared (and
//!   that made durable) before a write reaches an in-sync region, and set
//!   again once the writes are done and the legs flushed, so a set bit on
//!   disk always means "equal on every leg". At resume the `sync` bits
//!   start as the `clean` bits read back.
//!
//! The `disk` format (all little-endian):
//!
//! ```text
//! byte 0     magic u32 = 0x4D695272 ("MiRr": bytes 72 52 69 4D)
//! byte 4     version u32 = 2 (1 is read as 2)
//! byte 8     nr_regions u64: how many bits below are meaningful
//! byte 1024  the clean bitset: bit i is bit (i % 8) of byte i / 8, 1 = clean,
//!            padded with zero bits to a multiple of 64 regions
//! ```
//!
//! Header and bitset are read and written as one I/O of [`disk_image_len`]
//! bytes (rounded up to the log device's logical block size). At resume a
//! bad magic, or a `sync`/`nosync` argument, starts a fresh log: the bits
//! of every region the header does not cover are set (`nosync`) or cleared
//! (otherwise). LVM formats a new `_mlog` with `nr_regions = u64::MAX`, so
//! its bits are taken as they are.

use ulvm_blockdev::SECTOR_SIZE;
use ulvm_dm_table::LogSync;

/// "MiRr".
pub const MIRROR_MAGIC: u32 = 0x4D69_5272;
/// The on-disk version the kernel writes.
pub const MIRROR_DISK_VERSION: u32 = 2;
/// Where the bitset starts: two sectors in (`LOG_OFFSET`).
pub const BITSET_OFFSET: usize = 2 * SECTOR_SIZE as usize;

/// Bytes of a bitset for `nr_regions` regions: a multiple of 64 bits.
pub fn bitset_len(nr_regions: u64) -> usize {
    (nr_regions.div_ceil(64) * 8) as usize
}

/// Bytes of a `disk` log's image: header and bitset, rounded up to the log
/// device's logical block size.
pub fn disk_image_len(nr_regions: u64, logical_block_size: u32) -> usize {
    (BITSET_OFFSET + bitset_len(nr_regions)).next_multiple_of(logical_block_size.max(1) as usize)
}

/// What a log write has to do, handed out by [`DirtyLog::take_flush`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFlush {
    /// The whole image to write at sector 0 of the log device.
    pub image: Vec<u8>,
    /// Some region became clean since the last write: the legs must be
    /// flushed before the image is written (the kernel's flush callback).
    pub cleaned: bool,
    /// Some region became dirty: the image must be durable (flushed) before
    /// the writes it announces are issued.
    pub dirtied: bool,
}

/// How the header read at resume was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// A valid header: bits kept for the regions it covers.
    Kept,
    /// Bad magic or a `sync`/`nosync` argument: a fresh log.
    Fresh,
    /// The read failed or the version is unknown: the log device is
    /// failed, and the log starts fresh.
    Failed,
}

fn test(bits: &[u8], i: u64) -> bool {
    bits[(i / 8) as usize] & (1 << (i % 8)) != 0
}

fn set(bits: &mut [u8], i: u64, on: bool) {
    let b = &mut bits[(i / 8) as usize];
    if on {
        *b |= 1 << (i % 8);
    } else {
        *b &= !(1 << (i % 8));
    }
}

/// A mirror's region log: `core` (memory) or `disk` (with its image).
#[derive(Debug, Clone)]
pub struct DirtyLog {
    nr_regions: u64,
    sync_arg: LogSync,
    clean: Vec<u8>,
    sync: Vec<u8>,
    recovering: Vec<u8>,
    sync_count: u64,
    /// Where resync looks for the next out-of-sync region.
    sync_search: u64,
    touched_dirtied: bool,
    touched_cleaned: bool,
    /// A leg flush before a clean-bit write failed: nothing is marked clean
    /// again until the next resume (as the kernel).
    flush_failed: bool,
    /// The `disk` log's image (header, padding, bitset, tail) as last read
    /// or written; `None` for `core`.
    image: Option<Vec<u8>>,
}

impl DirtyLog {
    /// A `core` log: every region out of sync, unless `nosync`.
    pub fn core(nr_regions: u64, sync_arg: LogSync) -> DirtyLog {
        let n = bitset_len(nr_regions);
        let all_sync = sync_arg == LogSync::NoSync;
        let mut sync = vec![if all_sync { 0xff } else { 0 }; n];
        if all_sync {
            for i in nr_regions..(n as u64 * 8) {
                set(&mut sync, i, false);
            }
        }
        DirtyLog {
            nr_regions,
            sync_arg,
            clean: vec![0xff; n],
            sync,
            recovering: vec![0; n],
            sync_count: if all_sync { nr_regions } else { 0 },
            sync_search: 0,
            touched_dirtied: false,
            touched_cleaned: false,
            flush_failed: false,
            image: None,
        }
    }

    /// A `disk` log whose image is `image_len` bytes; it is read at resume
    /// ([`DirtyLog::resume_disk`]), and until then every region is out of
    /// sync (or in sync with `nosync`), as the kernel's constructor leaves it.
    pub fn disk(nr_regions: u64, sync_arg: LogSync, image_len: usize) -> DirtyLog {
        let mut l = DirtyLog::core(nr_regions, sync_arg);
        l.image = Some(vec![0; image_len.max(BITSET_OFFSET + bitset_len(nr_regions))]);
        l
    }

    /// Regions the log covers.
    pub fn nr_regions(&self) -> u64 {
        self.nr_regions
    }

    /// Regions in sync.
    pub fn sync_count(&self) -> u64 {
        self.sync_count
    }

    /// Region `r` is the same on every leg.
    pub fn in_sync(&self, r: u64) -> bool {
        test(&self.sync, r)
    }

    /// Region `r`'s bit in the (on-disk) clean set.
    pub fn is_clean(&self, r: u64) -> bool {
        test(&self.clean, r)
    }

    /// Region `r` is being copied by resync.
    pub fn is_recovering(&self, r: u64) -> bool {
        test(&self.recovering, r)
    }

    /// A write is about to reach in-sync region `r`: clear its clean bit.
    pub fn mark_region(&mut self, r: u64) {
        if self.is_clean(r) {
            set(&mut self.clean, r, false);
            self.touched_dirtied = true;
        }
    }

    /// The writes to region `r` are done (or it was resynced): set its clean bit.
    pub fn clear_region(&mut self, r: u64) {
        if !self.flush_failed && !self.is_clean(r) {
            set(&mut self.clean, r, true);
            self.touched_cleaned = true;
        }
    }

    /// The next out-of-sync region for resync, now marked recovering; `None`
    /// once the search has passed the last region (until the next resume).
    pub fn get_resync_work(&mut self) -> Option<u64> {
        while self.sync_search < self.nr_regions {
            let r = self.sync_search;
            self.sync_search += 1;
            if !self.in_sync(r) && !self.is_recovering(r) {
                set(&mut self.recovering, r, true);
                return Some(r);
            }
        }
        None
    }

    /// Resync of `r` ended (`in_sync`: copied), or a failed write put `r`
    /// out of sync.
    pub fn set_region_sync(&mut self, r: u64, in_sync: bool) {
        set(&mut self.recovering, r, false);
        if in_sync && !self.in_sync(r) {
            set(&mut self.sync, r, true);
            self.sync_count += 1;
        } else if !in_sync && self.in_sync(r) {
            set(&mut self.sync, r, false);
            self.sync_count -= 1;
        }
    }

    /// A leg flush before writing clean bits failed: which regions are
    /// clean is unknown, so all are marked dirty (and stay so).
    pub fn flush_failed(&mut self) {
        self.flush_failed = true;
        for r in 0..self.nr_regions {
            set(&mut self.clean, r, false);
        }
        self.touched_dirtied = true;
    }

    /// A `core` log's resume: resync searches from the start again.
    pub fn resume_core(&mut self) {
        self.sync_search = 0;
    }

    /// A `disk` log's resume from the image read at sector 0 (`None`: the
    /// read failed). Returns how the header was taken and the image to
    /// write back (and flush) with the current region count.
    pub fn resume_disk(&mut self, read: Option<&[u8]>) -> (Resumed, Vec<u8>) {
        let n = bitset_len(self.nr_regions);
        let mut image = self.image.take().unwrap_or_default();
        let mut how = Resumed::Failed;
        let mut header_regions = 0;
        if let Some(buf) = read.filter(|b| b.len() >= image.len()) {
            let n = image.len();
            image.copy_from_slice(&buf[..n]);
            let magic = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
            let version = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
            let fresh = self.sync_arg != LogSync::Default || magic != MIRROR_MAGIC;
            // Version 1 was the same layout on little-endian machines.
            if fresh {
                how = Resumed::Fresh;
            } else if version == MIRROR_DISK_VERSION || version == 1 {
                how = Resumed::Kept;
                header_regions = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
            }
        }
        self.clean.copy_from_slice(&image[BITSET_OFFSET..BITSET_OFFSET + n]);
        let grow = self.sync_arg == LogSync::NoSync;
        for r in header_regions.min(self.nr_regions)..self.nr_regions {
            set(&mut self.clean, r, grow);
        }
        for r in self.nr_regions..(n as u64 * 8) {
            set(&mut self.clean, r, false);
        }
        self.sync.copy_from_slice(&self.clean);
        self.sync_count = self.clean.iter().map(|b| u64::from(b.count_ones())).sum();
        self.recovering.fill(0);
        self.sync_search = 0;
        self.flush_failed = false;
        self.touched_dirtied = false;
        self.touched_cleaned = false;
        self.image = Some(image);
        (how, self.encode())
    }

    /// The image to write if anything changed since the last one, and what
    /// must happen around the write; resets the change flags.
    pub fn take_flush(&mut self) -> Option<LogFlush> {
        if self.image.is_none() || !(self.touched_cleaned || self.touched_dirtied) {
            return None;
        }
        let f = LogFlush { image: self.encode(), cleaned: self.touched_cleaned, dirtied: self.touched_dirtied };
        self.touched_cleaned = false;
        self.touched_dirtied = false;
        Some(f)
    }

    /// The `disk` image with the current header and clean bits (empty for `core`).
    pub fn encode(&mut self) -> Vec<u8> {
        let Some(image) = self.image.as_mut() else { return Vec::new() };
        image[0..4].copy_from_slice(&MIRROR_MAGIC.to_le_bytes());
        image[4..8].copy_from_slice(&MIRROR_DISK_VERSION.to_le_bytes());
        image[8..16].copy_from_slice(&self.nr_regions.to_le_bytes());
        image[BITSET_OFFSET..BITSET_OFFSET + self.clean.len()].copy_from_slice(&self.clean);
        image.clone()
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
