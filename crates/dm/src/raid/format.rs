//! dm-raid's metadata device as bytes (docs/raid.md): the dm-raid
//! superblock at offset 0 and md's write-intent bitmap at 4 KiB.
//!
//! Pure encoding and decoding: nothing here touches a device, so it is
//! golden-tested and fuzzed. All integers are little-endian.
//!
//! ```text
//! 0      struct dm_raid_superblock (148 bytes), the rest of the
//!        metadata device's logical block zero
//! 4096   bitmap_super_t (256 bytes): magic "bitm", version 4, ...
//! 4352   the write-intent bitmap: bit r (byte r/8, bit r%8) set = region r
//!        may differ between the legs
//! ```
//!
//! The kernel's rules kept here: a superblock without the magic is a new
//! device (the caller decides what that means); unknown compatible
//! feature bits or any incompatible one are refused; a bitmap superblock
//! is refused for a bad magic, a version outside 3..=5, a chunk size
//! below 512 bytes or not a power of two, a zero daemon sleep, or a
//! write-behind limit over 16383 (md-bitmap.c `md_bitmap_read_sb`).

use ulvm_blockdev::le::{le32, le64, put32, put64};
use ulvm_blockdev::{Bytes, Sectors};

/// `"DmRd"` read as a little-endian u32.
pub const DM_RAID_MAGIC: u32 = 0x6452_6d44;
/// `compat_features` bit 0: the superblock has the 1.9.0 fields
/// (`new_*`, `delta_disks`, sizes, offsets, extended failed devices).
pub const FEATURE_FLAG_SUPPORTS_V190: u32 = 1;
/// `flags` bit 0: a reshape is running.
pub const SB_FLAG_RESHAPE_ACTIVE: u32 = 1;
/// `flags` bit 1: the reshape runs backwards.
pub const SB_FLAG_RESHAPE_BACKWARDS: u32 = 2;
/// Bytes of `struct dm_raid_superblock`.
pub const SB_SIZE: usize = 148;
/// md's `MaxSector`: "done" for a resync or recovery offset, "none" for a
/// reshape position.
pub const MAX_SECTOR: u64 = u64::MAX;
/// Devices one superblock's failed-device bits cover (64 + 3 × 64).
pub const MAX_FAILED_BITS: usize = 256;

/// Where md's bitmap superblock starts on the metadata device.
pub const BITMAP_OFFSET: Bytes = Bytes(4096);
/// Bytes of `bitmap_super_t`; the bits follow it.
pub const BITMAP_SB_SIZE: usize = 256;
/// `"bitm"` read as a little-endian u32.
pub const BITMAP_MAGIC: u32 = 0x6d74_6962;
/// The version md writes: bits in little-endian order.
pub const BITMAP_MAJOR_HI: u32 = 4;
/// The oldest version md reads (host-endian bits).
pub const BITMAP_MAJOR_LO: u32 = 3;
/// The newest version md reads (clustered md).
pub const BITMAP_MAJOR_CLUSTERED: u32 = 5;
/// `state` bit: the bitmap is out of date; every region needs a resync.
pub const BITMAP_STALE: u32 = 1 << 1;
/// `state` bit: a bitmap write failed (md clears it when writing).
pub const BITMAP_WRITE_ERROR: u32 = 1 << 2;
/// md's `COUNTER_MAX`: the largest write-behind limit.
pub const WRITE_BEHIND_MAX: u32 = (1 << 14) - 1;

/// Why metadata could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn bad<T>(why: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(why.into()))
}

/// A resync or recovery position: `None` is md's `MaxSector`, "complete".
fn offset_of(v: u64) -> Option<Sectors> {
    (v != MAX_SECTOR).then_some(Sectors(v))
}

fn raw_offset(v: Option<Sectors>) -> u64 {
    v.map_or(MAX_SECTOR, |s| s.0)
}

/// `struct dm_raid_superblock`, one per metadata device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// `compat_features`: [`FEATURE_FLAG_SUPPORTS_V190`] or 0 (an old
    /// superblock whose 1.9.0 fields are not meaningful).
    pub compat_features: u32,
    /// Devices in the set.
    pub num_devices: u32,
    /// This device's slot.
    pub array_position: u32,
    /// md's event counter: the highest is the freshest superblock.
    pub events: u64,
    /// Bit `i` set: slot `i` failed (slots 0..256; words 1..4 are
    /// `extended_failed_devices`, only with 1.9.0).
    pub failed_devices: [u64; 4],
    /// How far this device is recovered; `None`: in sync.
    pub disk_recovery_offset: Option<Sectors>,
    /// How far the set is resynchronised; `None`: in sync.
    pub array_resync_offset: Option<Sectors>,
    /// md level (1 for raid1).
    pub level: u32,
    pub layout: u32,
    pub stripe_sectors: u32,
    /// [`SB_FLAG_RESHAPE_ACTIVE`], [`SB_FLAG_RESHAPE_BACKWARDS`].
    pub flags: u32,
    /// `None`: no reshape.
    pub reshape_position: Option<Sectors>,
    pub new_level: u32,
    pub new_layout: u32,
    pub new_stripe_sectors: u32,
    pub delta_disks: i32,
    /// The set's size.
    pub array_sectors: Sectors,
    pub data_offset: Sectors,
    pub new_data_offset: Sectors,
    /// The size of each data device in use.
    pub sectors: Sectors,
    /// Must be 0.
    pub incompat_features: u32,
}

/// What offset 0 of a metadata device holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbState {
    /// No dm-raid magic (LVM zeroes a new rmeta): a new device.
    New,
    /// A superblock the kernel would accept.
    Valid(Superblock),
}

impl Superblock {
    /// A raid1 superblock with nothing failed and nothing to resync, as
    /// the kernel's `super_sync` fills one for a set of `devices` devices
    /// of `sectors` each.
    pub fn raid1(devices: u32, position: u32, sectors: Sectors) -> Superblock {
        Superblock {
            compat_features: FEATURE_FLAG_SUPPORTS_V190,
            num_devices: devices,
            array_position: position,
            events: 0,
            failed_devices: [0; 4],
            disk_recovery_offset: None,
            array_resync_offset: None,
            level: 1,
            layout: 0,
            stripe_sectors: 0,
            flags: 0,
            reshape_position: None,
            new_level: 1,
            new_layout: 0,
            new_stripe_sectors: 0,
            delta_disks: 0,
            array_sectors: sectors,
            data_offset: Sectors(0),
            new_data_offset: Sectors(0),
            sectors,
            incompat_features: 0,
        }
    }

    /// Whether slot `i` is marked failed.
    pub fn is_failed(&self, i: usize) -> bool {
        i < MAX_FAILED_BITS && self.failed_devices[i / 64] >> (i % 64) & 1 == 1
    }

    /// Marks slot `i` failed (`true`) or not.
    pub fn set_failed(&mut self, i: usize, failed: bool) {
        if i < MAX_FAILED_BITS {
            let bit = 1u64 << (i % 64);
            if failed {
                self.failed_devices[i / 64] |= bit;
            } else {
                self.failed_devices[i / 64] &= !bit;
            }
        }
    }

    /// The 1.9.0 fields are present.
    pub fn is_v190(&self) -> bool {
        self.compat_features & FEATURE_FLAG_SUPPORTS_V190 != 0
    }

    /// Decodes the first logical block of a metadata device (at least
    /// [`SB_SIZE`] bytes). Without the magic the device is new; unknown
    /// compatible or any incompatible feature bits are refused with the
    /// kernel's words.
    pub fn decode(b: &[u8]) -> Result<SbState, FormatError> {
        if b.len() < SB_SIZE {
            return bad(format!("raid superblock: {} bytes, need {SB_SIZE}", b.len()));
        }
        if le32(b, 0) != DM_RAID_MAGIC {
            return Ok(SbState::New);
        }
        let compat_features = le32(b, 4);
        if compat_features != 0 && compat_features != FEATURE_FLAG_SUPPORTS_V190 {
            return bad("Unable to assemble array: Unknown flag(s) in compatible feature flags");
        }
        let incompat_features = le32(b, 144);
        if incompat_features != 0 {
            return bad("Unable to assemble array: No incompatible feature flags supported yet");
        }
        let v190 = compat_features & FEATURE_FLAG_SUPPORTS_V190 != 0;
        let mut failed_devices = [le64(b, 24), 0, 0, 0];
        if v190 {
            for (i, w) in failed_devices[1..].iter_mut().enumerate() {
                *w = le64(b, 120 + 8 * i);
            }
        }
        Ok(SbState::Valid(Superblock {
            compat_features,
            num_devices: le32(b, 8),
            array_position: le32(b, 12),
            events: le64(b, 16),
            failed_devices,
            disk_recovery_offset: offset_of(le64(b, 32)),
            array_resync_offset: offset_of(le64(b, 40)),
            level: le32(b, 48),
            layout: le32(b, 52),
            stripe_sectors: le32(b, 56),
            flags: le32(b, 60),
            reshape_position: offset_of(le64(b, 64)),
            new_level: le32(b, 72),
            new_layout: le32(b, 76),
            new_stripe_sectors: le32(b, 80),
            delta_disks: le32(b, 84) as i32,
            array_sectors: Sectors(le64(b, 88)),
            data_offset: Sectors(le64(b, 96)),
            new_data_offset: Sectors(le64(b, 104)),
            sectors: Sectors(le64(b, 112)),
            incompat_features,
        }))
    }

    /// The superblock as a logical block of `block_size` bytes (at least
    /// [`SB_SIZE`]), zero after the structure, as `super_sync` leaves it.
    pub fn encode(&self, block_size: usize) -> Vec<u8> {
        let mut b = vec![0u8; block_size.max(SB_SIZE)];
        put32(&mut b, 0, DM_RAID_MAGIC);
        put32(&mut b, 4, self.compat_features);
        put32(&mut b, 8, self.num_devices);
        put32(&mut b, 12, self.array_position);
        put64(&mut b, 16, self.events);
        put64(&mut b, 24, self.failed_devices[0]);
        put64(&mut b, 32, raw_offset(self.disk_recovery_offset));
        put64(&mut b, 40, raw_offset(self.array_resync_offset));
        put32(&mut b, 48, self.level);
        put32(&mut b, 52, self.layout);
        put32(&mut b, 56, self.stripe_sectors);
        put32(&mut b, 60, self.flags);
        put64(&mut b, 64, raw_offset(self.reshape_position));
        put32(&mut b, 72, self.new_level);
        put32(&mut b, 76, self.new_layout);
        put32(&mut b, 80, self.new_stripe_sectors);
        put32(&mut b, 84, self.delta_disks as u32);
        put64(&mut b, 88, self.array_sectors.0);
        put64(&mut b, 96, self.data_offset.0);
        put64(&mut b, 104, self.new_data_offset.0);
        put64(&mut b, 112, self.sectors.0);
        for (i, w) in self.failed_devices[1..].iter().enumerate() {
            put64(&mut b, 120 + 8 * i, *w);
        }
        put32(&mut b, 144, self.incompat_features);
        b
    }
}

/// md's `bitmap_super_t`, at [`BITMAP_OFFSET`] of every metadata device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapSuper {
    /// 3 (host-endian bits), 4 (little-endian bits) or 5 (clustered).
    pub version: u32,
    /// The md array's UUID (zero for dm-raid, whose md set has none).
    pub uuid: [u8; 16],
    /// The set's event counter when the bitmap was written.
    pub events: u64,
    /// The event counter when bits were last cleared: a returning device
    /// with at least these events may be recovered from the bitmap.
    pub events_cleared: u64,
    /// Sectors the bitmap covers (one device's size for raid1).
    pub sync_size: Sectors,
    /// [`BITMAP_STALE`], [`BITMAP_WRITE_ERROR`].
    pub state: u32,
    /// Bytes per bit: the raid set's region size.
    pub chunksize: Bytes,
    /// Seconds between the daemon's sweeps that clear bits.
    pub daemon_sleep: u32,
    /// `max_write_behind`.
    pub write_behind: u32,
    pub sectors_reserved: u32,
    pub nodes: u32,
    pub cluster_name: [u8; 64],
}

impl BitmapSuper {
    /// A version-4 bitmap superblock as md writes one for dm-raid.
    pub fn new(region_size: Sectors, sync_size: Sectors, daemon_sleep: u32) -> BitmapSuper {
        BitmapSuper {
            version: BITMAP_MAJOR_HI,
            uuid: [0; 16],
            events: 0,
            events_cleared: 0,
            sync_size,
            state: 0,
            chunksize: region_size.bytes(),
            daemon_sleep,
            write_behind: 0,
            sectors_reserved: 0,
            nodes: 0,
            cluster_name: [0; 64],
        }
    }

    /// The region size the bits stand for.
    pub fn region_size(&self) -> Sectors {
        self.chunksize.sectors_floor()
    }

    /// Every region needs a resync.
    pub fn is_stale(&self) -> bool {
        self.state & BITMAP_STALE != 0
    }

    /// Decodes the bitmap superblock (the first [`BITMAP_SB_SIZE`] bytes
    /// of `b`) with md's checks and words.
    pub fn decode(b: &[u8]) -> Result<BitmapSuper, FormatError> {
        if b.len() < BITMAP_SB_SIZE {
            return bad(format!("bitmap superblock: {} bytes, need {BITMAP_SB_SIZE}", b.len()));
        }
        let version = le32(b, 4);
        let chunksize = le32(b, 52);
        let daemon_sleep = le32(b, 56);
        let write_behind = le32(b, 60);
        let reason = if le32(b, 0) != BITMAP_MAGIC {
            "bad magic"
        } else if !(BITMAP_MAJOR_LO..=BITMAP_MAJOR_CLUSTERED).contains(&version) {
            "unrecognized superblock version"
        } else if chunksize < 512 {
            "bitmap chunksize too small"
        } else if !chunksize.is_power_of_two() {
            "bitmap chunksize not a power of 2"
        } else if daemon_sleep < 1 {
            "daemon sleep period out of range"
        } else if write_behind > WRITE_BEHIND_MAX {
            "write-behind limit out of range (0 - 16383)"
        } else {
            ""
        };
        if !reason.is_empty() {
            return bad(format!("invalid bitmap file superblock: {reason}"));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[8..24]);
        let mut cluster_name = [0u8; 64];
        cluster_name.copy_from_slice(&b[72..136]);
        Ok(BitmapSuper {
            version,
            uuid,
            events: le64(b, 24),
            events_cleared: le64(b, 32),
            sync_size: Sectors(le64(b, 40)),
            state: le32(b, 48),
            chunksize: Bytes(u64::from(chunksize)),
            daemon_sleep,
            write_behind,
            sectors_reserved: le32(b, 64),
            nodes: le32(b, 68),
            cluster_name,
        })
    }

    /// The 256 bytes of the superblock.
    pub fn encode(&self) -> [u8; BITMAP_SB_SIZE] {
        let mut b = [0u8; BITMAP_SB_SIZE];
        put32(&mut b, 0, BITMAP_MAGIC);
        put32(&mut b, 4, self.version);
        b[8..24].copy_from_slice(&self.uuid);
        put64(&mut b, 24, self.events);
        put64(&mut b, 32, self.events_cleared);
        put64(&mut b, 40, self.sync_size.0);
        put32(&mut b, 48, self.state);
        put32(&mut b, 52, u32::try_from(self.chunksize.0).unwrap_or(u32::MAX));
        put32(&mut b, 56, self.daemon_sleep);
        put32(&mut b, 60, self.write_behind);
        put32(&mut b, 64, self.sectors_reserved);
        put32(&mut b, 68, self.nodes);
        b[72..136].copy_from_slice(&self.cluster_name);
        b
    }
}

/// Bytes of bits for `regions` regions.
pub fn bitmap_bytes(regions: u64) -> usize {
    regions.div_ceil(8) as usize
}

/// Bytes from [`BITMAP_OFFSET`] that hold the bitmap superblock and the
/// bits of `regions` regions, rounded up to whole sectors.
pub fn bitmap_area_len(regions: u64) -> usize {
    Bytes((BITMAP_SB_SIZE + bitmap_bytes(regions)) as u64).sectors_ceil().byte_len()
}

/// The smallest metadata device for `regions` regions.
pub fn meta_dev_min(regions: u64) -> Bytes {
    Bytes(BITMAP_OFFSET.0 + bitmap_area_len(regions) as u64)
}

/// The write-intent bits in md's on-disk order: bit `r` is bit `r % 8` of
/// byte `r / 8` (version 4; version 3 is host order, the same on the
/// little-endian hosts ulvm runs on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    bytes: Vec<u8>,
    regions: u64,
}

impl Bits {
    /// All clear.
    pub fn new(regions: u64) -> Bits {
        Bits { bytes: vec![0; bitmap_bytes(regions)], regions }
    }

    /// The bits of `regions` regions from the bytes after the bitmap
    /// superblock; bits past the last region are ignored.
    pub fn decode(b: &[u8], regions: u64) -> Result<Bits, FormatError> {
        let n = bitmap_bytes(regions);
        if b.len() < n {
            return bad(format!("bitmap: {} bytes of bits, {regions} regions need {n}", b.len()));
        }
        let mut bits = Bits { bytes: b[..n].to_vec(), regions };
        bits.clear_tail();
        Ok(bits)
    }

    fn clear_tail(&mut self) {
        let used = (self.regions % 8) as u32;
        if used != 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last &= (1u8 << used) - 1;
            }
        }
    }

    pub fn regions(&self) -> u64 {
        self.regions
    }

    pub fn get(&self, r: u64) -> bool {
        r < self.regions && self.bytes[(r / 8) as usize] >> (r % 8) & 1 == 1
    }

    pub fn set(&mut self, r: u64, on: bool) {
        if r < self.regions {
            let byte = &mut self.bytes[(r / 8) as usize];
            if on {
                *byte |= 1 << (r % 8);
            } else {
                *byte &= !(1 << (r % 8));
            }
        }
    }

    /// Sets every bit.
    pub fn set_all(&mut self) {
        self.bytes.fill(0xff);
        self.clear_tail();
    }

    pub fn count(&self) -> u64 {
        self.bytes.iter().map(|b| u64::from(b.count_ones())).sum()
    }

    /// The regions whose bits are set, ascending.
    pub fn iter_set(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.regions).filter(|r| self.get(*r))
    }

    /// The bytes as on disk.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The bitmap area (superblock and bits) as written at
/// [`BITMAP_OFFSET`], [`bitmap_area_len`] bytes long. As md writes it,
/// every bit past the last region is set, to the end of the area (md
/// fills its page with ones when it creates the bitmap, and the readers
/// ignore those bits).
pub fn encode_bitmap(sb: &BitmapSuper, bits: &Bits) -> Vec<u8> {
    let mut b = vec![0xffu8; bitmap_area_len(bits.regions())];
    b[..BITMAP_SB_SIZE].copy_from_slice(&sb.encode());
    let n = bits.as_bytes().len();
    b[BITMAP_SB_SIZE..BITMAP_SB_SIZE + n].copy_from_slice(bits.as_bytes());
    let used = (bits.regions() % 8) as u32;
    if used != 0 {
        b[BITMAP_SB_SIZE + n - 1] |= !((1u8 << used) - 1);
    }
    b
}

/// Decodes a bitmap area read at [`BITMAP_OFFSET`]: the superblock and
/// the bits of as many regions as its chunk size and sync size give.
pub fn decode_bitmap(b: &[u8]) -> Result<(BitmapSuper, Bits), FormatError> {
    let sb = BitmapSuper::decode(b)?;
    let regions = sb.sync_size.0.div_ceil(sb.region_size().0.max(1));
    let bits = Bits::decode(&b[BITMAP_SB_SIZE..], regions)?;
    Ok((sb, bits))
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
