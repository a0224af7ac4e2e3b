//! Exception stores: where a snapshot keeps its `old_chunk -> new_chunk`
//! mappings and how it allocates COW chunks.
//!
//! The store is plain state: it decides *what* to write (allocation,
//! staging a commit, staging a merge commit) and returns the metadata
//! writes; the snapshot does the I/O without holding its lock. Loading is
//! the one place that reads the COW device itself.

use super::format::{
    decode_area, encode_area, DiskException, Geometry, Header, HeaderState, RECORD_SIZE, SNAPSHOT_DISK_VERSION,
};
use crate::table::StoreType;
use std::collections::HashSet;
use ulvm_blockdev::{BlockDevice, Bytes, ChunkSize, Error, ErrorKind, Result, Sectors, SECTOR_SIZE};

/// A metadata write the store asks for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaWrite {
    /// Plain write of zeroes (the next area, before the current one fills).
    Zero { at: Sectors, len: Sectors },
    /// Plain write (merge commits, after the origin was flushed).
    Write { at: Sectors, data: Vec<u8> },
    /// Write with PREFLUSH + FUA: every earlier write is durable first,
    /// and this one is durable when it returns.
    Durable { at: Sectors, data: Vec<u8> },
}

impl MetaWrite {
    pub fn apply(&self, cow: &dyn BlockDevice) -> Result<()> {
        match self {
            MetaWrite::Zero { at, len } => cow.write(*at, &vec![0u8; len.byte_len()]),
            MetaWrite::Write { at, data } => cow.write(*at, data),
            MetaWrite::Durable { at, data } => cow.write_durable(*at, data),
        }
    }
}

/// The kernel's persistent store `P` / `PO`.
#[derive(Debug, Clone)]
pub struct Persistent {
    pub geom: Geometry,
    /// Next COW chunk to hand out (never a metadata chunk).
    pub next_free: u64,
    /// The area new exceptions go to.
    pub current_area: u64,
    /// Committed records of the current area (`current_committed` is its length).
    pub area: Vec<DiskException>,
}

/// One merge batch: what to copy back and how to commit it.
#[derive(Debug, Clone)]
pub struct MergePlan {
    /// Exceptions to copy back into the origin.
    pub records: Vec<DiskException>,
    /// The area that is current afterwards, and its remaining records.
    pub area: u64,
    pub remaining: Vec<DiskException>,
    /// Area writes that commit the batch once the origin is flushed: every
    /// touched area is rewritten (emptied ones as zeroes, as the kernel
    /// leaves them).
    pub writes: Vec<MetaWrite>,
}

/// The kernel's transient store `N`: COW chunks from 0, nothing on disk.
#[derive(Debug)]
pub struct Transient {
    pub chunk_size: ChunkSize,
    pub next_free: u64,
}

#[derive(Debug)]
pub enum Store {
    Persistent(Persistent),
    Transient(Transient),
}

/// A store as found on (or formatted onto) a COW device.
#[derive(Debug)]
pub struct Loaded {
    pub store: Store,
    /// `false` when the header says the snapshot was invalidated.
    pub valid: bool,
    /// Every committed exception, in commit order.
    pub exceptions: Vec<DiskException>,
}

/// The chunk size used when the table says 0 and the store is new.
pub fn default_chunk_size(cow: &dyn BlockDevice) -> ChunkSize {
    let lbs = Bytes(cow.logical_block_size().into()).sectors_floor();
    ChunkSize::new(lbs.0.max(32) as u32).expect("power of two")
}

fn invalid(cow: &dyn BlockDevice, what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Invalid, format!("COW device {cow:?}: {what}"))
}

fn check_chunk_size(cow: &dyn BlockDevice, origin_lbs: u32, cs: u32) -> Result<ChunkSize> {
    let Some(c) = ChunkSize::new(cs).filter(|c| c.get() <= (i32::MAX as u32 >> 9)) else {
        return Err(invalid(cow, format_args!("chunk size {cs} is not a power of 2 or is too large")));
    };
    let lbs = Bytes(cow.logical_block_size().max(origin_lbs).into()).sectors_floor();
    if !c.sectors().0.is_multiple_of(lbs.0.max(1)) {
        return Err(invalid(cow, format_args!("chunk size {cs} is not a multiple of the device blocksize")));
    }
    Ok(c)
}

fn read_chunk(cow: &dyn BlockDevice, cs: ChunkSize, chunk: u64) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; cs.bytes()];
    let at = cs.start_of(ulvm_blockdev::Chunks(chunk));
    cow.read(at, &mut buf).map_err(|e| e.context(format_args!("reading COW chunk {chunk}")))?;
    Ok(buf)
}

impl Persistent {
    /// Opens the persistent store on `cow`, formatting it if its header is
    /// all zeroes. A foreign or corrupt device is refused before anything is
    /// written to it. `table_chunk` 0 means "from the header or default";
    /// a non-zero value is overridden by the header, as the kernel does.
    pub fn load(cow: &dyn BlockDevice, origin_lbs: u32, table_chunk: u32) -> Result<Loaded> {
        let probe =
            if table_chunk == 0 { default_chunk_size(cow) } else { check_chunk_size(cow, origin_lbs, table_chunk)? };
        if cow.size() < Sectors(1) {
            return Err(invalid(cow, "device is empty"));
        }
        let mut hdr = vec![0u8; Sectors(1).byte_len()];
        cow.read(Sectors(0), &mut hdr).map_err(|e| e.context("reading snapshot header"))?;
        match Header::decode(&hdr) {
            HeaderState::Foreign { magic } => {
                Err(invalid(cow, format_args!("not a snapshot exception store (magic {magic:#010x})")))
            }
            HeaderState::New => Self::format(cow, origin_lbs, probe),
            HeaderState::Existing(h) => {
                if h.version != SNAPSHOT_DISK_VERSION {
                    return Err(invalid(cow, format_args!("unable to handle snapshot disk version {}", h.version)));
                }
                let cs = check_chunk_size(cow, origin_lbs, h.chunk_size)?;
                let geom = Geometry::new(cs);
                if cow.size() < cs.sectors() + cs.sectors() {
                    return Err(invalid(cow, "device too small for a header and one metadata area"));
                }
                let mut store = Persistent { geom, next_free: 2, current_area: 0, area: Vec::new() };
                if !h.valid {
                    return Ok(Loaded { store: Store::Persistent(store), valid: false, exceptions: Vec::new() });
                }
                let exceptions = store.read_exceptions(cow)?;
                Ok(Loaded { store: Store::Persistent(store), valid: true, exceptions })
            }
        }
    }

    fn format(cow: &dyn BlockDevice, origin_lbs: u32, cs: ChunkSize) -> Result<Loaded> {
        let cs = check_chunk_size(cow, origin_lbs, cs.get())?;
        if cow.size() < cs.sectors() + cs.sectors() {
            return Err(invalid(cow, format_args!("device too small for chunk size {cs}")));
        }
        let geom = Geometry::new(cs);
        // Area 0 is zeroed and durable before the header that makes it count.
        MetaWrite::Zero { at: cs.sectors(), len: cs.sectors() }.apply(cow)?;
        let mut hdr = vec![0u8; cs.bytes()];
        Header { valid: true, version: SNAPSHOT_DISK_VERSION, chunk_size: cs.get() }.encode(&mut hdr);
        MetaWrite::Durable { at: Sectors(0), data: hdr }.apply(cow)?;
        let store = Persistent { geom, next_free: 2, current_area: 0, area: Vec::new() };
        Ok(Loaded { store: Store::Persistent(store), valid: true, exceptions: Vec::new() })
    }

    /// Reads areas 0, 1, ... up to the first one that is not full, checking
    /// every record so that a corrupt store is refused rather than misread.
    fn read_exceptions(&mut self, cow: &dyn BlockDevice) -> Result<Vec<DiskException>> {
        let cs = self.geom.chunk_size;
        let cow_chunks = cs.chunks_in(cow.size()).0;
        let mut all = Vec::new();
        let mut seen_old = HashSet::new();
        let mut seen_new = HashSet::new();
        for area in 0.. {
            let loc = self.geom.area_location(area);
            if loc >= cow_chunks {
                return Err(invalid(cow, format_args!("metadata area {area} lies past the end of the device")));
            }
            let (records, full) = decode_area(&read_chunk(cow, cs, loc)?);
            for e in &records {
                if e.new_chunk >= cow_chunks || self.geom.is_metadata_chunk(e.new_chunk) {
                    return Err(invalid(
                        cow,
                        format_args!("corrupt exception in area {area}: COW chunk {} is out of range", e.new_chunk),
                    ));
                }
                if !seen_new.insert(e.new_chunk) || !seen_old.insert(e.old_chunk) {
                    return Err(invalid(
                        cow,
                        format_args!(
                            "corrupt exception in area {area}: chunk {} -> {} is mapped twice",
                            e.old_chunk, e.new_chunk
                        ),
                    ));
                }
                self.next_free = self.next_free.max(e.new_chunk + 1);
            }
            all.extend_from_slice(&records);
            if !full {
                self.current_area = area;
                self.area = records;
                break;
            }
        }
        self.next_free = self.geom.skip_metadata(self.next_free);
        Ok(all)
    }

    fn area_sector(&self, area: u64) -> Sectors {
        self.geom.chunk_size.start_of(ulvm_blockdev::Chunks(self.geom.area_location(area)))
    }

    /// Adds committed-to-be records to the in-memory area and returns the
    /// writes that make them durable: when an area fills, the next one is
    /// zeroed before the full one is written.
    /// Only the sectors that hold new records are written: the rest of the
    /// area is already on disk, and a record never straddles a sector.
    pub fn stage_commit(&mut self, batch: &[DiskException]) -> Vec<MetaWrite> {
        let mut writes = Vec::new();
        let per_area = self.geom.exceptions_per_area as usize;
        let mut first_new = self.area.len();
        for e in batch {
            self.area.push(*e);
            if self.area.len() == per_area {
                let next = self.area_sector(self.current_area + 1);
                writes.push(MetaWrite::Zero { at: next, len: self.geom.chunk_size.sectors() });
                writes.push(self.encode_new(first_new));
                self.current_area += 1;
                self.area.clear();
                first_new = 0;
            }
        }
        if self.area.len() > first_new {
            writes.push(self.encode_new(first_new));
        }
        writes
    }

    /// The write of the current area's sectors that hold records `first..`.
    fn encode_new(&self, first: usize) -> MetaWrite {
        let per_sector = SECTOR_SIZE as usize / RECORD_SIZE;
        let (s0, s1) = (first / per_sector, self.area.len().div_ceil(per_sector));
        let mut data = vec![0u8; Sectors((s1 - s0) as u64).byte_len()];
        encode_area(&self.area[s0 * per_sector..], &mut data);
        MetaWrite::Durable { at: self.area_sector(self.current_area) + Sectors(s0 as u64), data }
    }

    /// Plans the next merge batch: up to `max` records taken from the end
    /// of the exception list, stepping back through earlier (full) areas,
    /// whose bytes `read_area` supplies. `Ok(None)` when nothing is left.
    pub fn plan_merge(
        &self,
        max: usize,
        mut read_area: impl FnMut(u64) -> Result<Vec<u8>>,
    ) -> Result<Option<MergePlan>> {
        let mut area = self.current_area;
        let mut recs = self.area.clone();
        let mut records = Vec::new();
        let mut writes = Vec::new();
        loop {
            if recs.is_empty() {
                if area == 0 || records.len() >= max {
                    break;
                }
                let (prev, full) = decode_area(&read_area(area - 1)?);
                if !full {
                    return Err(Error::new(
                        ErrorKind::Invalid,
                        format!("metadata area {} is not full during merge", area - 1),
                    ));
                }
                area -= 1;
                recs = prev;
                continue;
            }
            let take = (max - records.len()).min(recs.len());
            if take == 0 {
                break;
            }
            records.extend(recs.drain(recs.len() - take..));
            let mut data = vec![0u8; self.geom.chunk_size.bytes()];
            encode_area(&recs, &mut data);
            writes.push(MetaWrite::Write { at: self.area_sector(area), data });
            if !recs.is_empty() {
                break;
            }
        }
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(MergePlan { records, area, remaining: recs, writes }))
    }

    /// Takes a committed merge plan into the in-memory state.
    pub fn apply_merge(&mut self, plan: MergePlan) {
        self.current_area = plan.area;
        self.next_free = self.geom.area_location(plan.area) + plan.remaining.len() as u64 + 1;
        self.area = plan.remaining;
    }

    /// The header write that marks the store invalid.
    pub fn invalidate_write(&self) -> MetaWrite {
        let mut data = vec![0u8; self.geom.chunk_size.bytes()];
        Header { valid: false, version: SNAPSHOT_DISK_VERSION, chunk_size: self.geom.chunk_size.get() }
            .encode(&mut data);
        MetaWrite::Durable { at: Sectors(0), data }
    }
}

impl Store {
    /// Opens a store of `ty` on `cow`.
    pub fn open(ty: StoreType, cow: &dyn BlockDevice, origin_lbs: u32, table_chunk: u32) -> Result<Loaded> {
        match ty {
            StoreType::Persistent { .. } => Persistent::load(cow, origin_lbs, table_chunk),
            StoreType::Transient => {
                let cs = if table_chunk == 0 {
                    default_chunk_size(cow)
                } else {
                    check_chunk_size(cow, origin_lbs, table_chunk)?
                };
                Ok(Loaded {
                    store: Store::Transient(Transient { chunk_size: cs, next_free: 0 }),
                    valid: true,
                    exceptions: Vec::new(),
                })
            }
        }
    }

    pub fn chunk_size(&self) -> ChunkSize {
        match self {
            Store::Persistent(p) => p.geom.chunk_size,
            Store::Transient(t) => t.chunk_size,
        }
    }

    /// Hands out the next COW chunk, or `None` when the COW is full.
    pub fn allocate(&mut self, cow_size: Sectors) -> Option<u64> {
        let cs = self.chunk_size().sectors().0;
        match self {
            Store::Persistent(p) => {
                if cow_size.0 < (p.next_free + 1) * cs {
                    return None;
                }
                let c = p.next_free;
                p.next_free = p.geom.skip_metadata(p.next_free + 1);
                Some(c)
            }
            Store::Transient(t) => {
                if (t.next_free + 1) * cs > cow_size.0 {
                    return None;
                }
                t.next_free += 1;
                Some(t.next_free - 1)
            }
        }
    }

    /// Whether `n` more chunks can be allocated (so a request allocates all
    /// of its chunks or none).
    pub fn can_allocate(&self, n: usize, cow_size: Sectors) -> bool {
        let cs = self.chunk_size().sectors().0;
        match self {
            Store::Persistent(p) => {
                let mut next = p.next_free;
                for _ in 0..n {
                    if cow_size.0 < (next + 1) * cs {
                        return false;
                    }
                    next = p.geom.skip_metadata(next + 1);
                }
                true
            }
            Store::Transient(t) => (t.next_free + n as u64) * cs <= cow_size.0,
        }
    }

    /// `(sectors_allocated, total_sectors, metadata_sectors)` for status.
    /// While `merging`, an emptied area counts as already left behind: the
    /// kernel steps back to the previous area as soon as one is merged.
    pub fn usage(&self, cow_size: Sectors, merging: bool) -> (Sectors, Sectors, Sectors) {
        let cs = self.chunk_size().sectors().0;
        match self {
            Store::Persistent(p) => {
                let area = if merging && p.area.is_empty() && p.current_area > 0 {
                    p.current_area - 1
                } else {
                    p.current_area
                };
                (Sectors(p.next_free * cs), cow_size, Sectors((area + 2) * cs))
            }
            Store::Transient(t) => (Sectors(t.next_free * cs), cow_size, Sectors(0)),
        }
    }

    /// The writes that make `batch` durable (none for a transient store).
    pub fn stage_commit(&mut self, batch: &[DiskException]) -> Vec<MetaWrite> {
        match self {
            Store::Persistent(p) => p.stage_commit(batch),
            Store::Transient(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
