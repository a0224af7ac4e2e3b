//! The `raid` target (dm-raid) as types, for raid1: its table arguments,
//! its status and its messages, in the kernel's syntax.
//!
//! ```text
//! table   raid raid1 <#params> <chunk size> [sync|nosync] [rebuild <i>]...
//!              [daemon_sleep <ms>] [min_recovery_rate <KiB/s>] [max_recovery_rate <KiB/s>]
//!              [write_mostly <i>]... [max_write_behind <n>] [region_size <sectors>]
//!              [data_offset <sectors>] <#devs> {<meta dev>|- <data dev>|-}...
//! status  raid1 <#devs> <A|a|D|- per dev> <done>/<total sectors> <sync action>
//!         <mismatch count> <data offset> <journal: -|A|a|D>
//! message idle | frozen | resync | recover | check | repair
//! ```
//!
//! `<#params>` counts the words between it and `<#devs>`, the chunk size
//! included. The kernel re-emits a table (`dmsetup table`) in the order
//! above whatever order it was given in (dm-raid.c `raid_status`), the
//! chunk size as 0 for raid1 (it ignores the value), each `rebuild` and
//! `write_mostly` index once in ascending order, and `region_size` only
//! when the line gave one. The checks are `raid_ctr`'s and
//! `parse_raid_params`' as far as they need no device.

use crate::table::{err, parse_dec, DevRef, TableError};
use std::fmt;
use std::str::FromStr;
use ulvm_blockdev::Sectors;

/// The most devices a raid set takes (`MAX_RAID_DEVICES`).
pub const MAX_RAID_DEVICES: usize = 253;

/// The region size the kernel chooses when the line gives none, in
/// sectors (4 MiB), unless the device needs larger regions to stay under
/// [`MAX_REGIONS`].
pub const DEFAULT_REGION_SIZE: Sectors = Sectors(1 << 13);

/// The most regions md's bitmap takes for one device: the region size is
/// at least `len / 2^21`.
pub const MAX_REGIONS: u64 = 1 << 21;

/// The raid level and layout. ulvm implements raid1; the kernel's other
/// types are refused by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidType {
    /// `raid1`: every device holds all the data.
    Raid1,
}

impl RaidType {
    /// The name in tables and statuses.
    pub fn name(self) -> &'static str {
        match self {
            RaidType::Raid1 => "raid1",
        }
    }

    fn parse(word: &str) -> Result<RaidType, TableError> {
        match word {
            "raid1" => Ok(RaidType::Raid1),
            "raid0" | "raid10" | "raid4" | "raid5_n" | "raid5_la" | "raid5_ra" | "raid5_ls" | "raid5_rs"
            | "raid6_zr" | "raid6_nr" | "raid6_nc" | "raid6_n_6" | "raid6_la_6" | "raid6_ra_6" | "raid6_ls_6"
            | "raid6_rs_6" => err(format!("raid: raid type {word} is not supported (ulvm has raid1)")),
            _ => err("raid: Unrecognised raid_type"),
        }
    }
}

/// The optional `sync` / `nosync` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RaidSync {
    /// Neither: the superblocks say what is in sync (a new set is
    /// resynchronised).
    #[default]
    Default,
    /// `sync`: resynchronise the whole set.
    Sync,
    /// `nosync`: the devices are known to be equal; a new set skips its
    /// initial resync.
    NoSync,
}

/// One device slot: its metadata device and its data device, either of
/// which may be absent (`-`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaidDev {
    /// Where the dm-raid superblock and the md bitmap live (LVM's
    /// `_rmeta_N`), or `None` for `-`.
    pub meta: Option<DevRef>,
    /// The data (LVM's `_rimage_N`), or `None` for `-` (a missing leg).
    pub data: Option<DevRef>,
}

/// Arguments of `raid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RaidArgs {
    /// The raid type.
    pub raid_type: RaidType,
    /// `sync` / `nosync`.
    pub sync: RaidSync,
    /// Slots to rebuild from scratch, ascending, each once.
    pub rebuild: Vec<usize>,
    /// `daemon_sleep`: milliseconds between bitmap clean-ups.
    pub daemon_sleep: Option<u64>,
    /// `min_recovery_rate`, KiB/s per device.
    pub min_recovery_rate: Option<u32>,
    /// `max_recovery_rate`, KiB/s per device: the pace of resync and
    /// recovery.
    pub max_recovery_rate: Option<u32>,
    /// Slots that reads avoid while another in-sync slot exists,
    /// ascending, each once.
    pub write_mostly: Vec<usize>,
    /// `max_write_behind` as the kernel keeps and re-emits it: half the
    /// value the line gave.
    pub max_write_behind: Option<u64>,
    /// `region_size` in sectors, if the line gave one.
    pub region_size: Option<Sectors>,
    /// `data_offset` in sectors, if the line gave one.
    pub data_offset: Option<Sectors>,
    /// The device slots, in array order.
    pub devs: Vec<RaidDev>,
}

impl RaidArgs {
    /// A raid1 line over `devs` with nothing but a region size, as LVM
    /// writes it for an LV in service.
    pub fn raid1(region_size: Option<Sectors>, devs: Vec<RaidDev>) -> RaidArgs {
        RaidArgs {
            raid_type: RaidType::Raid1,
            sync: RaidSync::Default,
            rebuild: Vec::new(),
            daemon_sleep: None,
            min_recovery_rate: None,
            max_recovery_rate: None,
            write_mostly: Vec::new(),
            max_write_behind: None,
            region_size,
            data_offset: None,
            devs,
        }
    }

    /// Every device the arguments name, slot by slot, metadata first.
    pub fn devices(&self) -> Vec<&DevRef> {
        self.devs.iter().flat_map(|d| d.meta.iter().chain(d.data.iter())).collect()
    }

    /// The region size in effect for a target of `len` sectors: the
    /// line's, or the kernel's default (4 MiB, or the power of two that
    /// keeps the regions at most [`MAX_REGIONS`]).
    pub fn effective_region_size(&self, len: Sectors) -> Sectors {
        self.region_size.unwrap_or_else(|| default_region_size(len))
    }

    /// Parses what follows `raid` in a table line for a target of `len`
    /// sectors, with the kernel's checks and wording.
    pub fn parse(args: &[&str], len: Sectors) -> Result<RaidArgs, TableError> {
        let [ty, n, rest @ ..] = args else { return err("raid: Too few arguments") };
        let raid_type = RaidType::parse(ty)?;
        let nparams: usize =
            parse_dec(n).map_err(|_| TableError("raid: Cannot understand number of RAID parameters".into()))?;
        if nparams == 0 || nparams > rest.len() {
            return err("raid: Not enough raid parameters given");
        }
        let (params, rest) = rest.split_at(nparams);
        let mut a = RaidArgs::raid1(None, Vec::new());
        a.raid_type = raid_type;
        // The chunk size is mandatory and first; raid1 ignores its value.
        if params[0].parse::<i32>().is_err() {
            return err("raid: Bad numerical argument given for chunk_size");
        }
        let nr_devs = match rest.first().map(|w| parse_dec::<usize>(w)) {
            Some(Ok(n)) if (1..=MAX_RAID_DEVICES).contains(&n) => n,
            _ => return err("raid: Cannot understand number of raid devices parameters"),
        };
        if rest.len() - 1 != nr_devs * 2 {
            return err("raid: Supplied RAID devices does not match the count given");
        }
        let mut seen = Seen::default();
        let mut i = 1;
        while i < params.len() {
            let key = params[i].to_ascii_lowercase();
            i += 1;
            match key.as_str() {
                "sync" | "nosync" => {
                    let (flag, sync) = if key == "sync" {
                        (&mut seen.sync, RaidSync::Sync)
                    } else {
                        (&mut seen.nosync, RaidSync::NoSync)
                    };
                    if std::mem::replace(flag, true) {
                        return err(format!("raid: Only one '{key}' argument allowed"));
                    }
                    a.sync = sync;
                    continue;
                }
                _ => {}
            }
            let Some(value) = params.get(i) else { return err("raid: Wrong number of raid parameters given") };
            i += 1;
            let value: i64 = value
                .parse::<i32>()
                .map(i64::from)
                .map_err(|_| TableError("raid: Bad numerical argument given in raid params".into()))?;
            let index = |what: &str| -> Result<usize, TableError> {
                usize::try_from(value)
                    .ok()
                    .filter(|v| *v < nr_devs)
                    .ok_or_else(|| TableError(format!("raid: Invalid {what} index given")))
            };
            let once = |flag: &mut bool, name: &str| {
                if std::mem::replace(flag, true) {
                    err(format!("raid: Only one {name} argument pair allowed"))
                } else {
                    Ok(())
                }
            };
            match key.as_str() {
                "rebuild" => {
                    let v = index("rebuild")?;
                    if a.rebuild.contains(&v) {
                        return err("raid: rebuild for this index already given");
                    }
                    a.rebuild.push(v);
                }
                "write_mostly" => {
                    let v = index("write_mostly")?;
                    if !a.write_mostly.contains(&v) {
                        a.write_mostly.push(v);
                    }
                }
                "max_write_behind" => {
                    once(&mut seen.max_write_behind, "max_write_behind")?;
                    let v = value / 2;
                    if !(0..=COUNTER_MAX).contains(&v) {
                        return err("raid: Max write-behind limit out of range");
                    }
                    a.max_write_behind = Some(v as u64);
                }
                "daemon_sleep" => {
                    once(&mut seen.daemon_sleep, "daemon_sleep")?;
                    if value <= 0 {
                        return err("raid: daemon sleep period out of range");
                    }
                    a.daemon_sleep = Some(value as u64);
                }
                "data_offset" => {
                    once(&mut seen.data_offset, "data_offset")?;
                    // MIN_FREE_RESHAPE_SPACE (32 sectors) and a multiple of a page.
                    if value < 0 || (value != 0 && (value < 32 || value % 8 != 0)) {
                        return err("raid: Bogus data_offset value");
                    }
                    a.data_offset = Some(Sectors(value as u64));
                }
                "min_recovery_rate" | "max_recovery_rate" => {
                    let (flag, slot) = if key == "min_recovery_rate" {
                        (&mut seen.min_rate, &mut a.min_recovery_rate)
                    } else {
                        (&mut seen.max_rate, &mut a.max_recovery_rate)
                    };
                    once(flag, &key)?;
                    *slot = Some(u32::try_from(value).map_err(|_| TableError(format!("raid: {key} out of range")))?);
                }
                "region_size" => {
                    once(&mut seen.region_size, "region_size")?;
                    a.region_size = Some(Sectors(u64::try_from(value).unwrap_or(0)));
                }
                "stripe_cache" => return err("raid: Inappropriate argument: stripe_cache"),
                "raid10_copies"
                | "raid10_format"
                | "raid10_use_near_sets"
                | "delta_disks"
                | "journal_dev"
                | "journal_mode" => {
                    return err(format!("raid: '{key}' is an invalid parameter for this RAID type"));
                }
                _ => return err("raid: Unable to parse RAID parameter"),
            }
        }
        if seen.sync && seen.nosync {
            return err("raid: sync and nosync are mutually exclusive");
        }
        if !a.rebuild.is_empty() && (seen.sync || seen.nosync) {
            return err("raid: sync/nosync and rebuild are mutually exclusive");
        }
        if a.write_mostly.len() >= nr_devs {
            return err("raid: Can't set all raid1 devices to write_mostly");
        }
        if let Some(r) = a.region_size.filter(|r| r.0 != 0) {
            let min = len.0 / MAX_REGIONS;
            if r > len {
                return err("raid: Supplied region size is too large");
            }
            if r.0 < min {
                return err("raid: Supplied region size is too small");
            }
            if !r.0.is_power_of_two() {
                return err("raid: Region size is not a power of 2");
            }
        } else if a.region_size.is_some() {
            // `region_size 0` is the kernel's "choose one".
            a.region_size = None;
        }
        a.rebuild.sort_unstable();
        a.write_mostly.sort_unstable();
        for (slot, pair) in rest[1..].chunks(2).enumerate() {
            let word = |w: &str| -> Result<Option<DevRef>, TableError> {
                if w == "-" {
                    Ok(None)
                } else {
                    w.parse().map(Some)
                }
            };
            let dev = RaidDev { meta: word(pair[0])?, data: word(pair[1])? };
            if dev.data.is_none() {
                if a.rebuild.contains(&slot) {
                    return err("raid: Drive designated for rebuild not specified");
                }
                if dev.meta.is_some() {
                    return err("raid: No data device supplied with metadata device");
                }
            }
            a.devs.push(dev);
        }
        Ok(a)
    }
}

/// md's `COUNTER_MAX` for write-behind (`(1 << 14) - 1`).
const COUNTER_MAX: i64 = (1 << 14) - 1;

/// Which once-only arguments a line gave.
#[derive(Default)]
struct Seen {
    sync: bool,
    nosync: bool,
    max_write_behind: bool,
    daemon_sleep: bool,
    data_offset: bool,
    min_rate: bool,
    max_rate: bool,
    region_size: bool,
}

/// The kernel's region size for a target of `len` sectors when the line
/// gives none.
pub fn default_region_size(len: Sectors) -> Sectors {
    let min = len.0 / MAX_REGIONS;
    if min > DEFAULT_REGION_SIZE.0 {
        Sectors(min.next_power_of_two())
    } else {
        DEFAULT_REGION_SIZE
    }
}

impl fmt::Display for RaidArgs {
    /// As the kernel re-emits the line (`raid_status`, STATUSTYPE_TABLE).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = vec!["0".into()];
        match self.sync {
            RaidSync::Default => {}
            RaidSync::Sync => words.push("sync".into()),
            RaidSync::NoSync => words.push("nosync".into()),
        }
        let mut pair = |k: &str, v: String| {
            words.push(k.into());
            words.push(v);
        };
        for i in &self.rebuild {
            pair("rebuild", i.to_string());
        }
        if let Some(v) = self.daemon_sleep {
            pair("daemon_sleep", v.to_string());
        }
        if let Some(v) = self.min_recovery_rate {
            pair("min_recovery_rate", v.to_string());
        }
        if let Some(v) = self.max_recovery_rate {
            pair("max_recovery_rate", v.to_string());
        }
        for i in &self.write_mostly {
            pair("write_mostly", i.to_string());
        }
        if let Some(v) = self.max_write_behind {
            pair("max_write_behind", v.to_string());
        }
        if let Some(v) = self.region_size {
            pair("region_size", v.to_string());
        }
        if let Some(v) = self.data_offset {
            pair("data_offset", v.to_string());
        }
        write!(f, "{} {} {} {}", self.raid_type.name(), words.len(), words.join(" "), self.devs.len())?;
        for d in &self.devs {
            let w = |x: &Option<DevRef>| x.as_ref().map_or_else(|| "-".to_string(), |d| d.to_string());
            write!(f, " {} {}", w(&d.meta), w(&d.data))?;
        }
        Ok(())
    }
}

/// One device's health letter in a raid status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidHealth {
    /// `A`: alive and in sync.
    InSync,
    /// `a`: alive, not (yet) in sync: being resynchronised or recovered.
    Syncing,
    /// `D`: dead (failed).
    Dead,
    /// `-`: no device in the slot.
    Absent,
}

impl RaidHealth {
    /// The status letter.
    pub fn as_char(self) -> char {
        match self {
            RaidHealth::InSync => 'A',
            RaidHealth::Syncing => 'a',
            RaidHealth::Dead => 'D',
            RaidHealth::Absent => '-',
        }
    }

    /// The health a status letter stands for.
    pub fn from_char(c: char) -> Option<RaidHealth> {
        Some(match c {
            'A' => RaidHealth::InSync,
            'a' => RaidHealth::Syncing,
            'D' => RaidHealth::Dead,
            '-' => RaidHealth::Absent,
            _ => return None,
        })
    }
}

/// What the set's sync thread is doing (`sync_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SyncAction {
    /// `idle`: nothing.
    #[default]
    Idle,
    /// `frozen`: stopped by the `frozen` message.
    Frozen,
    /// `resync`: making a not-yet-synced set consistent.
    Resync,
    /// `recover`: rebuilding a replaced or returning device.
    Recover,
    /// `check`: comparing the devices and counting mismatches.
    Check,
    /// `repair`: comparing and rewriting mismatches.
    Repair,
    /// `reshape`: changing the layout (not done by ulvm; parsed).
    Reshape,
}

impl SyncAction {
    /// The word in statuses and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::Idle => "idle",
            SyncAction::Frozen => "frozen",
            SyncAction::Resync => "resync",
            SyncAction::Recover => "recover",
            SyncAction::Check => "check",
            SyncAction::Repair => "repair",
            SyncAction::Reshape => "reshape",
        }
    }
}

impl FromStr for SyncAction {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        Ok(match s {
            "idle" => SyncAction::Idle,
            "frozen" => SyncAction::Frozen,
            "resync" => SyncAction::Resync,
            "recover" => SyncAction::Recover,
            "check" => SyncAction::Check,
            "repair" => SyncAction::Repair,
            "reshape" => SyncAction::Reshape,
            _ => return err(format!("raid: unknown sync action '{s}'")),
        })
    }
}

/// A message the `raid` target takes (`raid_message`): the sync actions
/// a user may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidMessage {
    /// `idle`: stop the running action; a needed resync starts again.
    Idle,
    /// `frozen`: stop the running action and start none.
    Frozen,
    /// `resync`: start the resync the set needs.
    Resync,
    /// `recover`: start recovering devices out of sync.
    Recover,
    /// `check`: read all devices and count the regions that differ.
    Check,
    /// `repair`: as `check`, rewriting the differing regions.
    Repair,
}

impl RaidMessage {
    /// Parses a message's words as the kernel does (case-insensitive, the
    /// first word decides); anything else is `-EINVAL`.
    pub fn parse(words: &[&str]) -> Result<RaidMessage, TableError> {
        let Some(w) = words.first() else { return err("raid: empty message") };
        Ok(match w.to_ascii_lowercase().as_str() {
            "idle" => RaidMessage::Idle,
            "frozen" => RaidMessage::Frozen,
            "resync" => RaidMessage::Resync,
            "recover" => RaidMessage::Recover,
            "check" => RaidMessage::Check,
            "repair" => RaidMessage::Repair,
            _ => return err(format!("raid: unrecognised message '{}'", words.join(" "))),
        })
    }
}

/// `raid`'s status: each device's health, sync progress in sectors, the
/// running action, the mismatch count of the last `check`, the data
/// offset and the journal's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidStatus {
    /// The raid type.
    pub raid_type: RaidType,
    /// Per slot, in table order.
    pub health: Vec<RaidHealth>,
    /// Sectors synced (or checked) so far.
    pub sync_done: Sectors,
    /// Sectors to sync: the size of one device.
    pub sync_total: Sectors,
    /// What the sync thread is doing.
    pub action: SyncAction,
    /// Regions' sectors found different by the last `check` (0 otherwise).
    pub mismatch_count: u64,
    /// Where data starts on each data device.
    pub data_offset: Sectors,
    /// The journal device's letter; `-` when there is none (always, for
    /// raid1).
    pub journal: char,
}

impl RaidStatus {
    /// Every device is in sync and nothing runs.
    pub fn is_synced(&self) -> bool {
        self.sync_done == self.sync_total && self.health.iter().all(|h| *h == RaidHealth::InSync)
    }

    /// The synced share in percent (100 for an empty set).
    pub fn sync_percent(&self) -> f64 {
        if self.sync_total.0 == 0 {
            100.0
        } else {
            self.sync_done.0 as f64 * 100.0 / self.sync_total.0 as f64
        }
    }
}

impl fmt::Display for RaidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.raid_type.name(), self.health.len())?;
        for h in &self.health {
            write!(f, "{}", h.as_char())?;
        }
        write!(
            f,
            " {}/{} {} {} {} {}",
            self.sync_done,
            self.sync_total,
            self.action.as_str(),
            self.mismatch_count,
            self.data_offset,
            self.journal
        )
    }
}

impl FromStr for RaidStatus {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let bad = || TableError(format!("raid: invalid status '{s}'"));
        let w: Vec<&str> = s.split_ascii_whitespace().collect();
        let [ty, n, health, progress, action, mismatches, offset, journal] = w[..] else { return Err(bad()) };
        let raid_type = RaidType::parse(ty).map_err(|_| bad())?;
        let n: usize = parse_dec(n).map_err(|_| bad())?;
        let health = health.chars().map(|c| RaidHealth::from_char(c).ok_or_else(bad)).collect::<Result<Vec<_>, _>>()?;
        if health.len() != n {
            return Err(bad());
        }
        let (done, total) = progress.split_once('/').ok_or_else(bad)?;
        let journal = match journal.as_bytes() {
            [c @ (b'-' | b'A' | b'a' | b'D')] => char::from(*c),
            _ => return Err(bad()),
        };
        Ok(RaidStatus {
            raid_type,
            health,
            sync_done: Sectors(parse_dec(done)?),
            sync_total: Sectors(parse_dec(total)?),
            action: action.parse()?,
            mismatch_count: parse_dec(mismatches)?,
            data_offset: Sectors(parse_dec(offset)?),
            journal,
        })
    }
}

#[cfg(test)]
#[path = "raid_tests.rs"]
mod tests;
