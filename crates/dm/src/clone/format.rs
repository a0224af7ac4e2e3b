//! dm-clone's metadata device as bytes: 4 KiB
//! persistent-data blocks, each with its checksum and its own block
//! number: the superblock, the metadata space map (one index block, its
//! bitmap blocks, a reference-count btree), btree nodes, and the array
//! blocks of the bitset that records hydrated regions.
//!
//! Pure: encoders take what a block holds and return its bytes, decoders
//! check checksum, block number and limits and refuse anything else.

use std::fmt;
use ulvm_blockdev::le::{le32, le64, put32, put64};

pub const BLOCK: usize = 4096;
/// Metadata block size in sectors, as the status line reports it.
pub const BLOCK_SECTORS: u64 = 8;
pub const MAGIC: u64 = 0x8af2_7f64;
pub const VERSION: u32 = 1;

pub const SUPERBLOCK_SALT: u32 = 257_649_492;
pub const BTREE_SALT: u32 = 121_107;
pub const ARRAY_SALT: u32 = 595_846_735;
pub const BITMAP_SALT: u32 = 240_779;
pub const INDEX_SALT: u32 = 160_478;

/// Entries (blocks) one space-map bitmap block covers.
pub const ENTRIES_PER_BITMAP: u64 = 16_320;
/// Bitmap blocks one index block lists.
pub const MAX_BITMAPS: usize = 255;
/// The most metadata blocks the metadata space map can describe.
pub const MAX_METADATA_BLOCKS: u64 = MAX_BITMAPS as u64 * ENTRIES_PER_BITMAP;
/// le64 words per array block (32576 regions).
pub const WORDS_PER_ARRAY_BLOCK: usize = (BLOCK - 24) / 8;
/// Regions per array block.
pub const REGIONS_PER_ARRAY_BLOCK: u64 = WORDS_PER_ARRAY_BLOCK as u64 * 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

fn bad<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

/// The persistent-data checksum of a block: CRC-32C of bytes 4.. (seed
/// all ones, no final inversion) XOR the block kind's salt.
pub fn checksum(block: &[u8], salt: u32) -> u32 {
    crc32c::crc32c(&block[4..]) ^ 0xffff_ffff ^ salt
}

fn seal(mut b: Box<[u8; BLOCK]>, salt: u32) -> Box<[u8; BLOCK]> {
    let c = checksum(&b[..], salt);
    put32(&mut b[..], 0, c);
    b
}

/// Checks size, checksum and the block number stored at `nr_at`.
fn check(b: &[u8], salt: u32, what: &str, blocknr: u64, nr_at: usize) -> Result<(), FormatError> {
    if b.len() != BLOCK {
        return bad(format!("{what} block {blocknr}: {} bytes, not {BLOCK}", b.len()));
    }
    if le32(b, 0) != checksum(b, salt) {
        return bad(format!("{what} block {blocknr}: checksum mismatch"));
    }
    if le64(b, nr_at) != blocknr {
        return bad(format!("{what} block {blocknr}: records block {}", le64(b, nr_at)));
    }
    Ok(())
}

fn zeroed() -> Box<[u8; BLOCK]> {
    Box::new([0u8; BLOCK])
}

/// The root of a space map, as the superblock holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmRoot {
    pub nr_blocks: u64,
    pub nr_allocated: u64,
    /// The index block (metadata space map).
    pub bitmap_root: u64,
    /// The reference-count btree (counts above 2).
    pub ref_count_root: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    pub sm: SmRoot,
    /// Sectors.
    pub region_size: u64,
    /// Sectors.
    pub target_size: u64,
    /// Root of the bitset's btree.
    pub bitset_root: u64,
}

impl Superblock {
    pub fn encode(&self) -> Box<[u8; BLOCK]> {
        let mut b = zeroed();
        put64(&mut b[..], 8, 0);
        put64(&mut b[..], 32, MAGIC);
        put32(&mut b[..], 40, VERSION);
        put64(&mut b[..], 44, self.sm.nr_blocks);
        put64(&mut b[..], 52, self.sm.nr_allocated);
        put64(&mut b[..], 60, self.sm.bitmap_root);
        put64(&mut b[..], 68, self.sm.ref_count_root);
        put64(&mut b[..], 172, self.region_size);
        put64(&mut b[..], 180, self.target_size);
        put64(&mut b[..], 188, self.bitset_root);
        seal(b, SUPERBLOCK_SALT)
    }

    pub fn decode(b: &[u8]) -> Result<Superblock, FormatError> {
        check(b, SUPERBLOCK_SALT, "superblock", 0, 8)?;
        if le64(b, 32) != MAGIC {
            return bad(format!("superblock: bad magic {:#x}", le64(b, 32)));
        }
        if le32(b, 40) != VERSION {
            return bad(format!("superblock: unsupported version {}", le32(b, 40)));
        }
        Ok(Superblock {
            sm: SmRoot {
                nr_blocks: le64(b, 44),
                nr_allocated: le64(b, 52),
                bitmap_root: le64(b, 60),
                ref_count_root: le64(b, 68),
            },
            region_size: le64(b, 172),
            target_size: le64(b, 180),
            bitset_root: le64(b, 188),
        })
    }
}

/// One bitmap block's entry in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexEntry {
    pub blocknr: u64,
    pub nr_free: u32,
    pub none_free_before: u32,
}

pub fn encode_index(blocknr: u64, entries: &[IndexEntry]) -> Box<[u8; BLOCK]> {
    assert!(entries.len() <= MAX_BITMAPS, "at most {MAX_BITMAPS} bitmap blocks");
    let mut b = zeroed();
    put64(&mut b[..], 8, blocknr);
    for (i, e) in entries.iter().enumerate() {
        let o = 16 + i * 16;
        put64(&mut b[..], o, e.blocknr);
        put32(&mut b[..], o + 8, e.nr_free);
        put32(&mut b[..], o + 12, e.none_free_before);
    }
    seal(b, INDEX_SALT)
}

/// The first `n` entries of an index block.
pub fn decode_index(b: &[u8], blocknr: u64, n: usize) -> Result<Vec<IndexEntry>, FormatError> {
    check(b, INDEX_SALT, "space map index", blocknr, 8)?;
    if n > MAX_BITMAPS {
        return bad(format!("space map index: {n} bitmap blocks, at most {MAX_BITMAPS}"));
    }
    Ok((0..n)
        .map(|i| {
            let o = 16 + i * 16;
            IndexEntry { blocknr: le64(b, o), nr_free: le32(b, o + 8), none_free_before: le32(b, o + 12) }
        })
        .collect())
}

/// A bitmap block of reference counts (0, 1, 2, or 3 = "see the btree"),
/// one per block it covers.
pub fn encode_bitmap(blocknr: u64, counts: &[u8]) -> Box<[u8; BLOCK]> {
    assert!(counts.len() as u64 <= ENTRIES_PER_BITMAP);
    let mut b = zeroed();
    put64(&mut b[..], 8, blocknr);
    for (i, &c) in counts.iter().enumerate() {
        let c = c.min(3);
        // Entry i: bit 2i is the high bit, bit 2i+1 the low bit.
        for (bit, on) in [(2 * i, c & 2 != 0), (2 * i + 1, c & 1 != 0)] {
            if on {
                b[16 + bit / 8] |= 1 << (bit % 8);
            }
        }
    }
    seal(b, BITMAP_SALT)
}

pub fn decode_bitmap(b: &[u8], blocknr: u64) -> Result<Vec<u8>, FormatError> {
    check(b, BITMAP_SALT, "space map bitmap", blocknr, 8)?;
    let bit = |n: usize| (b[16 + n / 8] >> (n % 8)) & 1;
    Ok((0..ENTRIES_PER_BITMAP as usize).map(|i| (bit(2 * i) << 1) | bit(2 * i + 1)).collect())
}

/// The most entries a btree node holds for values of `value_size` bytes.
pub fn btree_max_entries(value_size: usize) -> usize {
    ((BLOCK - 32) / (8 + value_size)) / 3 * 3
}

/// A btree node: leaf or internal (internal values are child block numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtreeNode {
    pub leaf: bool,
    pub value_size: usize,
    pub keys: Vec<u64>,
    /// `value_size` bytes per entry, concatenated.
    pub values: Vec<u8>,
}

impl BtreeNode {
    pub fn encode(&self, blocknr: u64) -> Box<[u8; BLOCK]> {
        let max = btree_max_entries(self.value_size);
        assert!(self.keys.len() <= max && self.values.len() == self.keys.len() * self.value_size);
        let mut b = zeroed();
        put32(&mut b[..], 4, if self.leaf { 2 } else { 1 });
        put64(&mut b[..], 8, blocknr);
        put32(&mut b[..], 16, self.keys.len() as u32);
        put32(&mut b[..], 20, max as u32);
        put32(&mut b[..], 24, self.value_size as u32);
        for (i, k) in self.keys.iter().enumerate() {
            put64(&mut b[..], 32 + i * 8, *k);
        }
        let vo = 32 + max * 8;
        b[vo..vo + self.values.len()].copy_from_slice(&self.values);
        seal(b, BTREE_SALT)
    }

    pub fn decode(b: &[u8], blocknr: u64) -> Result<BtreeNode, FormatError> {
        check(b, BTREE_SALT, "btree node", blocknr, 8)?;
        let leaf = match le32(b, 4) {
            1 => false,
            2 => true,
            f => return bad(format!("btree node {blocknr}: bad flags {f}")),
        };
        let n = le32(b, 16) as usize;
        let max = le32(b, 20) as usize;
        let value_size = le32(b, 24) as usize;
        if value_size == 0 || value_size > 64 || max != btree_max_entries(value_size) || n > max {
            return bad(format!("btree node {blocknr}: {n} of {max} entries of {value_size} bytes"));
        }
        if !leaf && value_size != 8 {
            return bad(format!("btree node {blocknr}: internal node with {value_size}-byte values"));
        }
        let keys: Vec<u64> = (0..n).map(|i| le64(b, 32 + i * 8)).collect();
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            return bad(format!("btree node {blocknr}: keys out of order"));
        }
        let vo = 32 + max * 8;
        Ok(BtreeNode { leaf, value_size, keys, values: b[vo..vo + n * value_size].to_vec() })
    }

    /// The le64 value of entry `i` (child block or array block number).
    pub fn u64_value(&self, i: usize) -> u64 {
        le64(&self.values, i * 8)
    }
}

/// An array block of the bitset: le64 words of region bits.
pub fn encode_array(blocknr: u64, words: &[u64]) -> Box<[u8; BLOCK]> {
    assert!(words.len() <= WORDS_PER_ARRAY_BLOCK);
    let mut b = zeroed();
    put32(&mut b[..], 4, WORDS_PER_ARRAY_BLOCK as u32);
    put32(&mut b[..], 8, words.len() as u32);
    put32(&mut b[..], 12, 8);
    put64(&mut b[..], 16, blocknr);
    for (i, w) in words.iter().enumerate() {
        put64(&mut b[..], 24 + i * 8, *w);
    }
    seal(b, ARRAY_SALT)
}

pub fn decode_array(b: &[u8], blocknr: u64) -> Result<Vec<u64>, FormatError> {
    check(b, ARRAY_SALT, "array", blocknr, 16)?;
    let (max, n, vs) = (le32(b, 4) as usize, le32(b, 8) as usize, le32(b, 12));
    if max != WORDS_PER_ARRAY_BLOCK || n > max || vs != 8 {
        return bad(format!("array block {blocknr}: {n} of {max} values of {vs} bytes"));
    }
    Ok((0..n).map(|i| le64(b, 24 + i * 8)).collect())
}

/// How the bitset of `nr_regions` regions is laid out: words per array block.
pub fn array_block_words(nr_regions: u64) -> Vec<usize> {
    let words = nr_regions.div_ceil(64) as usize;
    let mut out = vec![WORDS_PER_ARRAY_BLOCK; words / WORDS_PER_ARRAY_BLOCK];
    if !words.is_multiple_of(WORDS_PER_ARRAY_BLOCK) {
        out.push(words % WORDS_PER_ARRAY_BLOCK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_checksum_matches_the_kernel_formula() {
        // crc32c("123456789") = 0xe3069283 (the standard check value); the
        // kernel's dm_bm_checksum is the raw CRC (no final inversion) XOR salt.
        let mut b = vec![0u8; 4];
        b.extend_from_slice(b"123456789");
        assert_eq!(checksum(&b, 0), 0xe306_9283 ^ 0xffff_ffff);
        assert_eq!(checksum(&b, SUPERBLOCK_SALT), 0xe306_9283 ^ 0xffff_ffff ^ SUPERBLOCK_SALT);
    }

    #[test]
    fn test_blocks_round_trip_and_refuse_damage() {
        let sb = Superblock {
            sm: SmRoot { nr_blocks: 4096, nr_allocated: 7, bitmap_root: 1, ref_count_root: 3 },
            region_size: 8,
            target_size: 1 << 20,
            bitset_root: 5,
        };
        let b = sb.encode();
        assert_eq!(Superblock::decode(&b[..]).unwrap(), sb);
        let mut bad = b.clone();
        bad[200] ^= 1;
        assert!(Superblock::decode(&bad[..]).unwrap_err().0.contains("checksum"));
        let idx = vec![IndexEntry { blocknr: 2, nr_free: 4089, none_free_before: 7 }];
        assert_eq!(decode_index(&encode_index(1, &idx)[..], 1, 1).unwrap(), idx);
        assert!(decode_index(&encode_index(1, &idx)[..], 9, 1).unwrap_err().0.contains("records block 1"));
        let mut counts = vec![0u8; 100];
        counts[0] = 1;
        counts[5] = 2;
        counts[99] = 3;
        let back = decode_bitmap(&encode_bitmap(2, &counts)[..], 2).unwrap();
        assert_eq!(&back[..100], &counts[..]);
        assert!(back[100..].iter().all(|&c| c == 0));
        // Entry 0 = 1: bit 1 (the low bit) of byte 16.
        assert_eq!(encode_bitmap(2, &[1])[16], 0b10);
        let node = BtreeNode {
            leaf: true,
            value_size: 8,
            keys: vec![0, 1],
            values: [9u64, 10].iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        let d = BtreeNode::decode(&node.encode(4)[..], 4).unwrap();
        assert_eq!(d, node);
        assert_eq!(d.u64_value(1), 10);
        assert_eq!(btree_max_entries(8), 252);
        assert_eq!(btree_max_entries(4), 336);
        let words = vec![u64::MAX, 0, 5];
        assert_eq!(decode_array(&encode_array(6, &words)[..], 6).unwrap(), words);
        assert_eq!(array_block_words(131_072), vec![509, 509, 509, 509, 12]);
        assert_eq!(array_block_words(64), vec![1]);
    }
}
