//! The `mirror` target (dm-raid1) as types: its table arguments and its
//! status, in the kernel's syntax.
//!
//! ```text
//! table   mirror <log type> <#log args> <log args>... <#mirrors> {<dev> <offset>}...
//!                [<#features> <feature>...]
//!         log:   core <1|2> <region size> [sync|nosync]
//!                disk <2|3> <log dev> <region size> [sync|nosync]
//! status  <#mirrors> <dev>... <in sync>/<regions> 1 <A|F|D|S|R|U per leg>
//!         <1 core | 3 disk <log dev> <A|D|F>>
//! ```
//!
//! The table the kernel re-emits (`dmsetup table`) puts the log part first,
//! exactly as above: `core 1 4096 2 8:16 2048 8:32 2048`,
//! `disk 3 253:3 4096 nosync 2 253:4 0 253:5 0 1 handle_errors`. The checks
//! are the kernel's (`mirror_ctr`, `parse_features`, dm-log.c's
//! `create_log_context`) as far as they need no device.

use crate::table::{err, parse_dec, DevNum, DevRef, Stripe, TableError};
use std::fmt;
use std::str::FromStr;
use ulvm_blockdev::Sectors;

/// The most legs a mirror takes: one source plus kcopyd's eight
/// destinations (`MAX_NR_MIRRORS`).
pub const MAX_MIRRORS: usize = 9;

/// The log's optional last argument: what to assume about regions the log
/// knows nothing of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogSync {
    /// No argument: a `core` log starts with every region out of sync; a
    /// `disk` log keeps what its bitset says and treats regions beyond it
    /// as out of sync.
    #[default]
    Default,
    /// `sync`: resynchronise everything (a `disk` log starts afresh).
    Sync,
    /// `nosync`: the legs are known to be equal; nothing is copied (a
    /// `disk` log starts afresh with every region in sync).
    NoSync,
}

impl LogSync {
    fn word(self) -> Option<&'static str> {
        match self {
            LogSync::Default => None,
            LogSync::Sync => Some("sync"),
            LogSync::NoSync => Some("nosync"),
        }
    }
}

/// The dirty-region log: where the mirror records which regions are in
/// sync, and the region size it counts in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MirrorLog {
    /// `core`: in memory only; after a restart every region is copied again
    /// (unless `nosync`). pvmove uses it.
    Core {
        /// Sectors per region: a power of two, at least 2.
        region_size: Sectors,
        /// The optional `sync` / `nosync` argument.
        sync: LogSync,
    },
    /// `disk`: a header and a bitset of clean regions on `dev`, in dm-log's
    /// on-disk format (LVM's `_mlog` LV).
    Disk {
        /// The log device.
        dev: DevRef,
        /// Sectors per region: a power of two, at least 2.
        region_size: Sectors,
        /// The optional `sync` / `nosync` argument.
        sync: LogSync,
    },
}

impl MirrorLog {
    /// Sectors per region.
    pub fn region_size(&self) -> Sectors {
        match self {
            MirrorLog::Core { region_size, .. } | MirrorLog::Disk { region_size, .. } => *region_size,
        }
    }

    /// The `sync` / `nosync` argument.
    pub fn sync(&self) -> LogSync {
        match self {
            MirrorLog::Core { sync, .. } | MirrorLog::Disk { sync, .. } => *sync,
        }
    }

    /// The log device of a `disk` log.
    pub fn dev(&self) -> Option<&DevRef> {
        match self {
            MirrorLog::Core { .. } => None,
            MirrorLog::Disk { dev, .. } => Some(dev),
        }
    }
}

/// `mirror`'s feature arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MirrorFeatures {
    /// `handle_errors`: a failed leg is dropped from service (reads and
    /// writes carry on with the others) and an event tells userspace;
    /// without it errors are only recorded.
    pub handle_errors: bool,
    /// `keep_log`: with `handle_errors`, keep using the log after a leg
    /// fails instead of holding writes for userspace.
    pub keep_log: bool,
}

/// Arguments of `mirror`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MirrorArgs {
    /// The dirty-region log and region size.
    pub log: MirrorLog,
    /// The legs, 2 to 9; leg 0 is the default mirror that resync copies
    /// from.
    pub legs: Vec<Stripe>,
    /// The optional features.
    pub features: MirrorFeatures,
}

impl MirrorArgs {
    /// Every device the arguments name: the log device (if any), then the
    /// legs.
    pub fn devices(&self) -> Vec<&DevRef> {
        self.log.dev().into_iter().chain(self.legs.iter().map(|l| &l.dev)).collect()
    }

    /// How many regions a target of `len` sectors has (the last one may be
    /// short).
    pub fn nr_regions(&self, len: Sectors) -> u64 {
        len.0.div_ceil(self.log.region_size().0.max(1))
    }

    /// Parses what follows `mirror` in a table line for a target of `len`
    /// sectors, with the kernel's checks and wording.
    pub fn parse(args: &[&str], len: Sectors) -> Result<MirrorArgs, TableError> {
        let (log, used) = parse_log(args, len)?;
        let rest = &args[used..];
        let nr: usize = match rest.first().map(|w| parse_dec::<usize>(w)) {
            Some(Ok(n)) if (2..=MAX_MIRRORS).contains(&n) => n,
            _ => return err("mirror: Invalid number of mirrors"),
        };
        let rest = &rest[1..];
        if rest.len() < nr * 2 {
            return err("mirror: Too few mirror arguments");
        }
        let legs = rest[..nr * 2]
            .chunks(2)
            .map(|p| {
                let offset = parse_dec(p[1]).map_err(|_| TableError("mirror: Invalid offset".into()))?;
                Ok(Stripe { dev: p[0].parse()?, offset: Sectors(offset) })
            })
            .collect::<Result<Vec<_>, TableError>>()?;
        let rest = &rest[nr * 2..];
        let mut features = MirrorFeatures::default();
        if let Some((n, tail)) = rest.split_first() {
            let n: usize = parse_dec(n).map_err(|_| TableError("mirror: Invalid number of features".into()))?;
            if n > tail.len() {
                return err("mirror: Not enough arguments to support feature count");
            }
            for f in &tail[..n] {
                match *f {
                    "handle_errors" => features.handle_errors = true,
                    "keep_log" => features.keep_log = true,
                    _ => return err("mirror: Unrecognised feature requested"),
                }
            }
            if features.keep_log && !features.handle_errors {
                return err("mirror: keep_log feature requires the handle_errors feature");
            }
            if tail.len() > n {
                return err("mirror: Too many mirror arguments");
            }
        }
        Ok(MirrorArgs { log, legs, features })
    }
}

/// `<log type> <#log args> <log args>...`: the log and how many words it took.
fn parse_log(args: &[&str], len: Sectors) -> Result<(MirrorLog, usize), TableError> {
    let [ty, n, rest @ ..] = args else { return err("mirror: Insufficient mirror log arguments") };
    let n: usize = parse_dec(n).map_err(|_| TableError("mirror: Invalid mirror log argument count".into()))?;
    if n > rest.len() {
        return err("mirror: Insufficient mirror log arguments");
    }
    let largs = &rest[..n];
    let fail = |why: String| TableError(format!("mirror: Error creating mirror dirty log: {why}"));
    let (dev, core_args) = match *ty {
        "core" => (None, largs),
        "disk" => {
            let Some((dev, tail)) = largs.split_first().filter(|_| (2..=3).contains(&n)) else {
                return Err(fail("wrong number of arguments to disk dirty region log".into()));
            };
            (Some(dev.parse::<DevRef>()?), tail)
        }
        other => return Err(fail(format!("unknown dirty log type '{other}' (ulvm has core and disk)"))),
    };
    if core_args.is_empty() || core_args.len() > 2 {
        return Err(fail("wrong number of arguments to dirty region log".into()));
    }
    let sync = match core_args.get(1) {
        None => LogSync::Default,
        Some(&"sync") => LogSync::Sync,
        Some(&"nosync") => LogSync::NoSync,
        Some(other) => return Err(fail(format!("unrecognised sync argument to dirty region log: {other}"))),
    };
    let region_size = parse_dec::<u32>(core_args[0])
        .ok()
        .filter(|r| *r >= 2 && u64::from(*r) <= len.0 && r.is_power_of_two())
        .ok_or_else(|| fail(format!("invalid region size {}", core_args[0])))?;
    if len.0.div_ceil(u64::from(region_size)) > u64::from(u32::MAX) {
        return Err(fail(format!("region count exceeds limit of {}", u32::MAX)));
    }
    let region_size = Sectors(u64::from(region_size));
    let log = match dev {
        None => MirrorLog::Core { region_size, sync },
        Some(dev) => MirrorLog::Disk { dev, region_size, sync },
    };
    Ok((log, 2 + n))
}

impl fmt::Display for MirrorLog {
    /// The log part of the table, as the kernel's `core_status` /
    /// `disk_status` print it (without the trailing space).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra = usize::from(self.sync() != LogSync::Default);
        match self {
            MirrorLog::Core { region_size, .. } => write!(f, "core {} {region_size}", 1 + extra)?,
            MirrorLog::Disk { dev, region_size, .. } => write!(f, "disk {} {dev} {region_size}", 2 + extra)?,
        }
        if let Some(w) = self.sync().word() {
            write!(f, " {w}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MirrorArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.log, self.legs.len())?;
        for l in &self.legs {
            write!(f, " {} {}", l.dev, l.offset)?;
        }
        let MirrorFeatures { handle_errors, keep_log } = self.features;
        match (handle_errors, keep_log) {
            (true, true) => f.write_str(" 2 handle_errors keep_log"),
            (true, false) => f.write_str(" 1 handle_errors"),
            (false, true) => f.write_str(" 1 keep_log"),
            (false, false) => Ok(()),
        }
    }
}

/// The most severe error a leg has seen, as its status character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LegHealth {
    /// `A`: no error.
    #[default]
    Alive,
    /// `F`: a flush failed.
    FlushError,
    /// `D`: a write failed; the leg is out of sync.
    WriteError,
    /// `S`: resync could not copy to (or from) it.
    SyncError,
    /// `R`: a read failed; its data is not known to be wrong.
    ReadError,
    /// `U`: an error of no known kind.
    Unknown,
}

impl LegHealth {
    /// The status character.
    pub fn as_char(self) -> char {
        match self {
            LegHealth::Alive => 'A',
            LegHealth::FlushError => 'F',
            LegHealth::WriteError => 'D',
            LegHealth::SyncError => 'S',
            LegHealth::ReadError => 'R',
            LegHealth::Unknown => 'U',
        }
    }

    /// The health a status character stands for.
    pub fn from_char(c: char) -> Option<LegHealth> {
        Some(match c {
            'A' => LegHealth::Alive,
            'F' => LegHealth::FlushError,
            'D' => LegHealth::WriteError,
            'S' => LegHealth::SyncError,
            'R' => LegHealth::ReadError,
            'U' => LegHealth::Unknown,
            _ => return None,
        })
    }
}

/// The state of a `disk` log's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogHealth {
    /// `A`: working.
    #[default]
    Alive,
    /// `D`: a read or write of the log failed.
    Failed,
    /// `F`: a flush of the log failed.
    FlushFailed,
}

/// The log part of a mirror's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MirrorLogStatus {
    /// `1 core`.
    Core,
    /// `3 disk <dev> <A|D|F>`.
    Disk {
        /// The log device.
        dev: DevNum,
        /// Whether it works.
        health: LogHealth,
    },
}

/// `mirror`'s status: the legs, resync progress in regions, each leg's
/// health and the log's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStatus {
    /// Each leg's device, in table order.
    pub legs: Vec<DevNum>,
    /// Regions in sync.
    pub in_sync: u64,
    /// All regions.
    pub regions: u64,
    /// Per leg, in the same order.
    pub health: Vec<LegHealth>,
    /// The log.
    pub log: MirrorLogStatus,
}

impl MirrorStatus {
    /// Every region is in sync.
    pub fn is_synced(&self) -> bool {
        self.in_sync == self.regions
    }

    /// The synced share in percent (100 for a mirror with no regions).
    pub fn sync_percent(&self) -> f64 {
        if self.regions == 0 {
            100.0
        } else {
            self.in_sync as f64 * 100.0 / self.regions as f64
        }
    }
}

impl fmt::Display for MirrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.legs.len())?;
        for d in &self.legs {
            write!(f, "{d} ")?;
        }
        write!(f, "{}/{} 1 ", self.in_sync, self.regions)?;
        for h in &self.health {
            write!(f, "{}", h.as_char())?;
        }
        match self.log {
            MirrorLogStatus::Core => f.write_str(" 1 core"),
            MirrorLogStatus::Disk { dev, health } => {
                let c = match health {
                    LogHealth::Alive => 'A',
                    LogHealth::Failed => 'D',
                    LogHealth::FlushFailed => 'F',
                };
                write!(f, " 3 disk {dev} {c}")
            }
        }
    }
}

impl FromStr for MirrorStatus {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let w: Vec<&str> = s.split_ascii_whitespace().collect();
        let bad = || TableError(format!("mirror: invalid status '{s}'"));
        let n: usize = parse_dec(w.first().ok_or_else(bad)?).map_err(|_| bad())?;
        // The count comes from the input: index without overflowing.
        let fixed = n.checked_add(4).ok_or_else(bad)?;
        if w.len() < fixed || w[n + 2] != "1" {
            return Err(bad());
        }
        let legs = w[1..=n].iter().map(|d| d.parse()).collect::<Result<_, _>>()?;
        let (a, b) = w[n + 1].split_once('/').ok_or_else(bad)?;
        let health =
            w[n + 3].chars().map(|c| LegHealth::from_char(c).ok_or_else(bad)).collect::<Result<Vec<_>, _>>()?;
        if health.len() != n {
            return Err(bad());
        }
        let log = match &w[fixed..] {
            ["1", "core"] => MirrorLogStatus::Core,
            ["3", "disk", dev, h] => MirrorLogStatus::Disk {
                dev: dev.parse()?,
                health: match *h {
                    "A" => LogHealth::Alive,
                    "D" => LogHealth::Failed,
                    "F" => LogHealth::FlushFailed,
                    _ => return Err(bad()),
                },
            },
            _ => return Err(bad()),
        };
        Ok(MirrorStatus { legs, in_sync: parse_dec(a)?, regions: parse_dec(b)?, health, log })
    }
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;
