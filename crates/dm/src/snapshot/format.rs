//! The kernel's persistent exception store, as bytes (docs/snapshot-format.md).
//!
//! Pure encoding and decoding: nothing here touches a device, so it can be
//! golden-tested and fuzzed. The on-disk layout is
//!
//! ```text
//! chunk 0                 header: magic "SnAp", valid, version 1, chunk_size
//! chunk 1                 metadata area 0: E records of (old_chunk, new_chunk)
//! chunks 2 ..= E+1        data chunks described by area 0
//! chunk E+2               metadata area 1
//! ...                     area k at chunk 1 + k*(E+1), E = chunk bytes / 16
//! ```
//!
//! The first record with `new_chunk == 0` ends the whole exception list.

use ulvm_blockdev::le::{le32, le64};
use ulvm_blockdev::ChunkSize;

/// `"SnAp"` read as a little-endian u32.
pub const SNAP_MAGIC: u32 = 0x7041_6e53;
/// The only on-disk version the kernel knows.
pub const SNAPSHOT_DISK_VERSION: u32 = 1;
/// Bytes of one exception record.
pub const RECORD_SIZE: usize = 16;

/// The header in chunk 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub valid: bool,
    pub version: u32,
    pub chunk_size: u32,
}

/// What chunk 0 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderState {
    /// Magic 0: a brand-new store to be formatted.
    New,
    /// A snapshot header (its version and chunk size still need checking).
    Existing(Header),
    /// Something else: not a COW device; refuse it.
    Foreign { magic: u32 },
}

impl Header {
    /// Decodes the first 16 bytes of chunk 0.
    pub fn decode(b: &[u8]) -> HeaderState {
        match le32(b, 0) {
            0 => HeaderState::New,
            SNAP_MAGIC => {
                HeaderState::Existing(Header { valid: le32(b, 4) != 0, version: le32(b, 8), chunk_size: le32(b, 12) })
            }
            magic => HeaderState::Foreign { magic },
        }
    }

    /// Encodes into `b` (a whole chunk: everything after byte 16 is zeroed).
    pub fn encode(&self, b: &mut [u8]) {
        b.fill(0);
        b[0..4].copy_from_slice(&SNAP_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&u32::from(self.valid).to_le_bytes());
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.chunk_size.to_le_bytes());
    }
}

/// One exception: origin chunk `old_chunk` lives in COW chunk `new_chunk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiskException {
    pub old_chunk: u64,
    pub new_chunk: u64,
}

/// Decodes an area: the records before the first `new_chunk == 0`, and
/// whether all slots were used (then the list continues in the next area).
pub fn decode_area(b: &[u8]) -> (Vec<DiskException>, bool) {
    let mut out = Vec::new();
    for rec in b.chunks_exact(RECORD_SIZE) {
        let e = DiskException { old_chunk: le64(rec, 0), new_chunk: le64(rec, 8) };
        if e.new_chunk == 0 {
            return (out, false);
        }
        out.push(e);
    }
    (out, true)
}

/// Encodes `records` into the area buffer `b`; unused slots are zero.
pub fn encode_area(records: &[DiskException], b: &mut [u8]) {
    assert!(records.len() * RECORD_SIZE <= b.len(), "too many records for one area");
    b.fill(0);
    for (rec, e) in b.chunks_exact_mut(RECORD_SIZE).zip(records) {
        rec[0..8].copy_from_slice(&e.old_chunk.to_le_bytes());
        rec[8..16].copy_from_slice(&e.new_chunk.to_le_bytes());
    }
}

/// Where areas and data chunks lie for one chunk size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub chunk_size: ChunkSize,
    pub exceptions_per_area: u64,
}

impl Geometry {
    pub fn new(chunk_size: ChunkSize) -> Self {
        Geometry { chunk_size, exceptions_per_area: chunk_size.bytes() as u64 / RECORD_SIZE as u64 }
    }

    /// The chunk that holds metadata area `area`.
    pub fn area_location(&self, area: u64) -> u64 {
        1 + area * (self.exceptions_per_area + 1)
    }

    /// Whether chunk `c` holds the header or a metadata area.
    pub fn is_metadata_chunk(&self, c: u64) -> bool {
        c == 0 || c % (self.exceptions_per_area + 1) == 1
    }

    /// The kernel's rule after allocating: never hand out a metadata chunk.
    pub fn skip_metadata(&self, next_free: u64) -> u64 {
        if next_free % (self.exceptions_per_area + 1) == 1 {
            next_free + 1
        } else {
            next_free
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_header_golden_bytes_match_kernel_demo() {
        // Chunk 0 of the COW written by the kernel in oracle demo 1.
        let golden: [u8; 16] = [
            0x53, 0x6e, 0x41, 0x70, // magic "SnAp"
            0x01, 0x00, 0x00, 0x00, // valid = 1
            0x01, 0x00, 0x00, 0x00, // version = 1
            0x10, 0x00, 0x00, 0x00, // chunk_size = 16 sectors
        ];
        let mut b = vec![0xffu8; 8192];
        Header { valid: true, version: 1, chunk_size: 16 }.encode(&mut b);
        assert_eq!(&b[..16], &golden);
        assert!(b[16..].iter().all(|&x| x == 0));
        assert_eq!(Header::decode(&golden), HeaderState::Existing(Header { valid: true, version: 1, chunk_size: 16 }));
    }

    #[test]
    fn test_header_decode_new_and_foreign() {
        assert_eq!(Header::decode(&[0u8; 16]), HeaderState::New);
        let mut ext4ish = [0u8; 16];
        ext4ish[0] = 0x53;
        ext4ish[1] = 0xef;
        assert!(matches!(Header::decode(&ext4ish), HeaderState::Foreign { magic: 0xef53 }));
        let mut invalid = [0u8; 16];
        Header { valid: false, version: 1, chunk_size: 8 }.encode(&mut invalid);
        assert_eq!(&invalid[4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn test_area_golden_bytes_match_kernel_demo() {
        // First records of area 0 in oracle demo 1: (0→2), (5→3), (100→4).
        let golden: [u8; 48] = [
            0x00, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, // old 0, new 2
            0x05, 0, 0, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, // old 5, new 3
            0x64, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, // old 100, new 4
        ];
        let recs = [
            DiskException { old_chunk: 0, new_chunk: 2 },
            DiskException { old_chunk: 5, new_chunk: 3 },
            DiskException { old_chunk: 100, new_chunk: 4 },
        ];
        let mut area = vec![0xaau8; 8192];
        encode_area(&recs, &mut area);
        assert_eq!(&area[..48], &golden);
        assert!(area[48..].iter().all(|&x| x == 0));
        assert_eq!(decode_area(&area), (recs.to_vec(), false));
    }

    #[test]
    fn test_full_area_decodes_as_full() {
        let g = Geometry::new(ChunkSize::new(1).unwrap());
        let recs: Vec<_> =
            (0..g.exceptions_per_area).map(|i| DiskException { old_chunk: i, new_chunk: i + 2 }).collect();
        let mut area = vec![0u8; 512];
        encode_area(&recs, &mut area);
        assert_eq!(decode_area(&area), (recs, true));
    }

    #[test]
    fn test_geometry_matches_kernel_layout() {
        let g = Geometry::new(ChunkSize::new(8).unwrap());
        assert_eq!(g.exceptions_per_area, 256);
        assert_eq!([g.area_location(0), g.area_location(1), g.area_location(2)], [1, 258, 515]);
        assert!(g.is_metadata_chunk(0) && g.is_metadata_chunk(258) && !g.is_metadata_chunk(257));
        assert_eq!(g.skip_metadata(258), 259);
        assert_eq!(g.skip_metadata(257), 257);
        assert_eq!(Geometry::new(ChunkSize::new(32).unwrap()).exceptions_per_area, 1024);
    }
}
