//! The clone's metadata device: which regions are hydrated, kept in the
//! kernel's format (docs/clone.md) so the kernel can take over a clone
//! ulvm started, and the other way round.
//!
//! Commits shadow the whole tree: every block that changes (array blocks,
//! the bitset's btree nodes, the space map's bitmap, index and ref-count
//! blocks) is written to a block that the committed tree does not use,
//! the destination and then those blocks are flushed, and only then does
//! the superblock switch to the new tree. A crash at any point leaves the
//! old tree or the new one, and a region is recorded as hydrated only
//! after its data is durable on the destination.

use super::format::*;
use std::collections::{BTreeSet, HashSet};
use ulvm_blockdev::{BlockDevice, DeviceRef, Error, ErrorKind, Result, Sectors};

fn meta_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Invalid, msg.into())
}

fn read_block(dev: &dyn BlockDevice, nr: u64) -> Result<Box<[u8; BLOCK]>> {
    let mut b = Box::new([0u8; BLOCK]);
    dev.read(Sectors(nr * BLOCK_SECTORS), &mut b[..])?;
    Ok(b)
}

fn write_block(dev: &dyn BlockDevice, nr: u64, b: &[u8; BLOCK]) -> Result<()> {
    dev.write(Sectors(nr * BLOCK_SECTORS), &b[..])
}

/// Where the committed tree lives.
#[derive(Debug, Clone, Default)]
struct Tree {
    /// Array block numbers, by index.
    arrays: Vec<u64>,
    /// Every block of the tree, the superblock included.
    live: HashSet<u64>,
}

/// The hydrated-region map on a metadata device.
pub struct Metadata {
    dev: DeviceRef,
    /// Metadata blocks the space map covers.
    nr_blocks: u64,
    region_size: u64,
    target_size: u64,
    nr_regions: u64,
    /// Words per array block.
    layout: Vec<usize>,
    committed: Tree,
    /// The in-core bitmap: bit r of word r/64 set = region r hydrated.
    words: Vec<u64>,
    hydrated: u64,
    /// Array blocks changed since the last commit.
    dirty: BTreeSet<usize>,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "clone metadata ({} of {} regions hydrated)", self.hydrated, self.nr_regions)
    }
}

/// Blocks a commit writes besides array blocks: btree nodes, ref-count
/// leaf, bitmaps, index.
fn btree_levels(n: usize) -> Vec<usize> {
    let max = btree_max_entries(8);
    let mut levels = vec![n.div_ceil(max).max(1)];
    while *levels.last().expect("one level") > 1 {
        levels.push(levels.last().expect("one level").div_ceil(max));
    }
    levels
}

impl Metadata {
    /// Blocks needed for `nr_regions`: twice the tree (the committed one
    /// and the one being written) plus the superblock.
    pub fn blocks_needed(nr_regions: u64, nr_blocks: u64) -> u64 {
        let arrays = array_block_words(nr_regions).len();
        let nodes: usize = btree_levels(arrays).iter().sum();
        let bitmaps = nr_blocks.div_ceil(ENTRIES_PER_BITMAP) as usize;
        1 + 2 * (arrays + nodes + 1 + bitmaps + 1) as u64
    }

    /// Opens the metadata of a clone of `target_size` sectors in regions of
    /// `region_size`: formats it when block 0 is all zero, otherwise it
    /// must be a valid dm-clone superblock for the same sizes.
    pub fn open(dev: DeviceRef, region_size: u64, target_size: u64) -> Result<Metadata> {
        let dev_blocks = dev.size().0 / BLOCK_SECTORS;
        let nr_blocks = dev_blocks.min(MAX_METADATA_BLOCKS);
        let nr_regions = target_size.div_ceil(region_size);
        let layout = array_block_words(nr_regions);
        let need = Metadata::blocks_needed(nr_regions, nr_blocks);
        if nr_blocks < need {
            return Err(meta_err(format!(
                "metadata device too small: {nr_blocks} blocks of 4 KiB, {need} needed for {nr_regions} regions"
            )));
        }
        let words = vec![0u64; layout.iter().sum()];
        let mut m = Metadata {
            dev,
            nr_blocks,
            region_size,
            target_size,
            nr_regions,
            layout,
            committed: Tree::default(),
            words,
            hydrated: 0,
            dirty: BTreeSet::new(),
        };
        let sb = read_block(&*m.dev, 0)?;
        if sb.iter().all(|&b| b == 0) {
            m.dirty = (0..m.layout.len()).collect();
            m.write_tree()?;
            return Ok(m);
        }
        let sb = Superblock::decode(&sb[..]).map_err(|e| meta_err(e.0))?;
        if sb.region_size != region_size || sb.target_size != target_size {
            return Err(meta_err("Region and/or target size don't match the ones in metadata"));
        }
        m.load(&sb)?;
        Ok(m)
    }

    /// Reads the committed tree: the space map's blocks (checked), the
    /// bitset's btree and its array blocks into the in-core bitmap.
    fn load(&mut self, sb: &Superblock) -> Result<()> {
        let dev = &*self.dev;
        let mut live = HashSet::from([0u64, sb.sm.bitmap_root]);
        let nr_bitmaps = sb.sm.nr_blocks.div_ceil(ENTRIES_PER_BITMAP) as usize;
        let idx = decode_index(&read_block(dev, sb.sm.bitmap_root)?[..], sb.sm.bitmap_root, nr_bitmaps)
            .map_err(|e| meta_err(e.0))?;
        for e in &idx {
            decode_bitmap(&read_block(dev, e.blocknr)?[..], e.blocknr).map_err(|e| meta_err(e.0))?;
            live.insert(e.blocknr);
        }
        // The ref-count btree: its nodes are part of the tree.
        let mut stack = vec![sb.sm.ref_count_root];
        while let Some(nr) = stack.pop() {
            let n = BtreeNode::decode(&read_block(dev, nr)?[..], nr).map_err(|e| meta_err(e.0))?;
            live.insert(nr);
            if !n.leaf {
                stack.extend((0..n.keys.len()).map(|i| n.u64_value(i)));
            }
        }
        // The bitset: a btree from array index to array block.
        let mut arrays = Vec::new();
        walk(dev, sb.bitset_root, &mut arrays, &mut live)?;
        if arrays.len() != self.layout.len() || arrays.iter().enumerate().any(|(i, (k, _))| *k != i as u64) {
            return Err(meta_err(format!(
                "bitset has {} array blocks, {} expected for {} regions",
                arrays.len(),
                self.layout.len(),
                self.nr_regions
            )));
        }
        let mut at = 0;
        for (i, (_, nr)) in arrays.iter().enumerate() {
            let w = decode_array(&read_block(dev, *nr)?[..], *nr).map_err(|e| meta_err(e.0))?;
            if w.len() != self.layout[i] {
                return Err(meta_err(format!("array block {nr}: {} words, {} expected", w.len(), self.layout[i])));
            }
            self.words[at..at + w.len()].copy_from_slice(&w);
            at += w.len();
            live.insert(*nr);
        }
        // Bits past the last region do not count.
        let tail = self.nr_regions % 64;
        if tail != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << tail) - 1;
            }
        }
        self.hydrated = self.words.iter().map(|w| w.count_ones() as u64).sum();
        self.committed = Tree { arrays: arrays.into_iter().map(|(_, nr)| nr).collect(), live };
        Ok(())
    }

    pub fn nr_regions(&self) -> u64 {
        self.nr_regions
    }

    pub fn region_size(&self) -> u64 {
        self.region_size
    }

    pub fn target_size(&self) -> u64 {
        self.target_size
    }

    pub fn is_hydrated(&self, r: u64) -> bool {
        self.words[(r / 64) as usize] & (1 << (r % 64)) != 0
    }

    /// Records region `r` as hydrated (in core until the next commit).
    pub fn set_hydrated(&mut self, r: u64) {
        let (w, bit) = ((r / 64) as usize, 1u64 << (r % 64));
        if self.words[w] & bit == 0 {
            self.words[w] |= bit;
            self.hydrated += 1;
            self.dirty.insert(w / WORDS_PER_ARRAY_BLOCK);
        }
    }

    pub fn hydrated(&self) -> u64 {
        self.hydrated
    }

    pub fn all_hydrated(&self) -> bool {
        self.hydrated == self.nr_regions
    }

    /// Whether there is something to commit.
    pub fn changed(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The first unhydrated region at or after `from`, wrapping around.
    pub fn next_unhydrated(&self, from: u64) -> Option<u64> {
        if self.all_hydrated() {
            return None;
        }
        let n = self.nr_regions;
        let scan = |a: u64, b: u64| -> Option<u64> {
            let mut r = a;
            while r < b {
                let w = self.words[(r / 64) as usize] | ((1u64 << (r % 64)) - 1);
                if w == u64::MAX {
                    r = (r / 64 + 1) * 64;
                    continue;
                }
                let bit = (!w).trailing_zeros() as u64;
                let found = (r / 64) * 64 + bit;
                return (found < b).then_some(found);
            }
            None
        };
        scan(from.min(n), n).or_else(|| scan(0, from.min(n)))
    }

    /// `used/total` metadata blocks, as the status line reports them.
    pub fn usage(&self) -> (u64, u64) {
        (self.committed.live.len() as u64, self.nr_blocks)
    }

    /// Makes the in-core bitmap durable: flushes `dest` (the regions'
    /// data), then writes the changed tree and switches the superblock.
    pub fn commit(&mut self, dest: &dyn BlockDevice) -> Result<()> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        dest.flush()?;
        self.write_tree()
    }

    /// Writes the changed array blocks and a new btree and space map to
    /// blocks the committed tree does not use, flushes, then writes the
    /// superblock and flushes again.
    fn write_tree(&mut self) -> Result<()> {
        let old = &self.committed.live;
        let mut next = 1u64;
        let mut taken = HashSet::new();
        let mut alloc = || -> Result<u64> {
            while next < self.nr_blocks && (old.contains(&next) || taken.contains(&next)) {
                next += 1;
            }
            if next >= self.nr_blocks {
                return Err(meta_err("metadata device full"));
            }
            taken.insert(next);
            Ok(next)
        };
        // Array blocks: new places for the changed ones.
        let mut arrays = self.committed.arrays.clone();
        arrays.resize(self.layout.len(), 0);
        let mut writes: Vec<(u64, Box<[u8; BLOCK]>)> = Vec::new();
        let mut at = 0;
        for (i, &n) in self.layout.iter().enumerate() {
            if self.dirty.contains(&i) || self.committed.arrays.is_empty() {
                arrays[i] = alloc()?;
                writes.push((arrays[i], encode_array(arrays[i], &self.words[at..at + n])));
            }
            at += n;
        }
        // The bitset's btree, bottom up: leaves map index -> array block.
        let max = btree_max_entries(8);
        let mut level: Vec<(u64, u64)> = arrays.iter().enumerate().map(|(i, &b)| (i as u64, b)).collect();
        let mut leaf = true;
        let root = loop {
            let mut up = Vec::new();
            for chunk in level.chunks(max) {
                let nr = alloc()?;
                let node = BtreeNode {
                    leaf,
                    value_size: 8,
                    keys: chunk.iter().map(|e| e.0).collect(),
                    values: chunk.iter().flat_map(|e| e.1.to_le_bytes()).collect(),
                };
                writes.push((nr, node.encode(nr)));
                up.push((chunk[0].0, nr));
            }
            if up.len() == 1 {
                break up[0].1;
            }
            level = up;
            leaf = false;
        };
        // The space map: an empty ref-count btree, then bitmaps and index.
        let ref_root = alloc()?;
        writes.push((ref_root, BtreeNode { leaf: true, value_size: 4, keys: vec![], values: vec![] }.encode(ref_root)));
        let nr_bitmaps = self.nr_blocks.div_ceil(ENTRIES_PER_BITMAP) as usize;
        let bitmaps: Vec<u64> = (0..nr_bitmaps).map(|_| alloc()).collect::<Result<_>>()?;
        let index = alloc()?;
        let mut live: HashSet<u64> = arrays.iter().copied().collect();
        live.extend(writes.iter().map(|w| w.0));
        live.extend(bitmaps.iter().copied());
        live.extend([0, index]);
        let mut entries = Vec::new();
        for (i, &bnr) in bitmaps.iter().enumerate() {
            let first = i as u64 * ENTRIES_PER_BITMAP;
            let last = (first + ENTRIES_PER_BITMAP).min(self.nr_blocks);
            let counts: Vec<u8> = (first..last).map(|b| u8::from(live.contains(&b))).collect();
            let free = counts.iter().filter(|&&c| c == 0).count() as u32;
            let first_free = counts.iter().position(|&c| c == 0).unwrap_or(counts.len()) as u32;
            writes.push((bnr, encode_bitmap(bnr, &counts)));
            entries.push(IndexEntry { blocknr: bnr, nr_free: free, none_free_before: first_free });
        }
        writes.push((index, encode_index(index, &entries)));
        for (nr, b) in &writes {
            write_block(&*self.dev, *nr, b)?;
        }
        self.dev.flush()?;
        let sb = Superblock {
            sm: SmRoot {
                nr_blocks: self.nr_blocks,
                nr_allocated: live.len() as u64,
                bitmap_root: index,
                ref_count_root: ref_root,
            },
            region_size: self.region_size,
            target_size: self.target_size,
            bitset_root: root,
        };
        self.dev.write_durable(Sectors(0), &sb.encode()[..])?;
        self.committed = Tree { arrays, live };
        self.dirty.clear();
        Ok(())
    }
}

/// Collects the (key, value) pairs of the btree at `nr`, in key order.
fn walk(dev: &dyn BlockDevice, nr: u64, out: &mut Vec<(u64, u64)>, live: &mut HashSet<u64>) -> Result<()> {
    let n = BtreeNode::decode(&read_block(dev, nr)?[..], nr).map_err(|e| meta_err(e.0))?;
    if !live.insert(nr) {
        return Err(meta_err(format!("btree block {nr} is reachable twice")));
    }
    if n.value_size != 8 {
        return Err(meta_err(format!("bitset btree node {nr}: {}-byte values", n.value_size)));
    }
    for i in 0..n.keys.len() {
        if n.leaf {
            out.push((n.keys[i], n.u64_value(i)));
        } else {
            walk(dev, n.u64_value(i), out, live)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use ulvm_blockdev::MemDevice;

    fn dev(blocks: u64) -> DeviceRef {
        Arc::new(MemDevice::new("meta", Sectors(blocks * 8)))
    }

    #[test]
    fn test_format_matches_the_kernel_block_count_and_reopens() {
        // The kernel formats 4 MiB for 2048 regions into 6 used blocks of 1024.
        let d = dev(1024);
        let m = Metadata::open(d.clone(), 64, 131_072).unwrap();
        assert_eq!(m.usage(), (6, 1024));
        assert_eq!(m.hydrated(), 0);
        let m = Metadata::open(d, 64, 131_072).unwrap();
        assert_eq!(m.usage(), (6, 1024));
    }

    #[test]
    fn test_commits_persist_hydrated_regions_and_keep_usage_constant() {
        let d = dev(1024);
        let dest = MemDevice::new("dest", Sectors(8));
        let mut m = Metadata::open(d.clone(), 8, 8 * 70_000).unwrap();
        for r in [0, 1, 63, 64, 40_000, 69_999] {
            m.set_hydrated(r);
        }
        m.commit(&dest).unwrap();
        let used = m.usage();
        m.set_hydrated(5);
        m.commit(&dest).unwrap();
        assert_eq!(m.usage(), used, "shadowing frees what it replaces");
        let back = Metadata::open(d.clone(), 8, 8 * 70_000).unwrap();
        assert_eq!(back.hydrated(), 7);
        for r in [0, 1, 5, 63, 64, 40_000, 69_999] {
            assert!(back.is_hydrated(r), "region {r}");
        }
        assert!(!back.is_hydrated(2));
        assert_eq!(back.next_unhydrated(0), Some(2));
        assert_eq!(back.next_unhydrated(69_999), Some(2));
        assert!(Metadata::open(d.clone(), 16, 8 * 70_000).unwrap_err().to_string().contains("don't match"));
        assert!(Metadata::open(dev(4), 8, 8 * 70_000).unwrap_err().to_string().contains("too small"));
    }

    #[test]
    fn test_large_bitsets_use_a_multi_level_btree() {
        // 253 array blocks need two leaves and a root.
        let regions = REGIONS_PER_ARRAY_BLOCK * 253;
        let d = dev(2048);
        let dest = MemDevice::new("dest", Sectors(8));
        let mut m = Metadata::open(d.clone(), 8, 8 * regions).unwrap();
        m.set_hydrated(regions - 1);
        m.commit(&dest).unwrap();
        let back = Metadata::open(d, 8, 8 * regions).unwrap();
        assert!(back.is_hydrated(regions - 1));
        assert_eq!(back.hydrated(), 1);
    }
}
