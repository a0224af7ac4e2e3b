//! Typed status lines: what `dmsetup status` prints after the target type,
//! one type per target, in the kernel's syntax (each target's
//! `STATUSTYPE_INFO` branch).
//!
//! The kernel's forms:
//!
//! ```text
//! linear, zero, error, snapshot-origin   (nothing)
//! striped          <#stripes> <dev>... 1 <A|D per stripe>
//! snapshot[-merge] <allocated>/<total> <metadata>   (sectors)
//!                  | Invalid | Overflow | Merge failed | Unknown
//! clone            <metadata block size> <used>/<total metadata blocks>
//!                  <region size> <hydrated>/<regions> <hydrating>
//!                  <#features> <feature>... <#core args> <core args>...
//!                  <rw|ro>   | Fail | Error
//! mirror           <#mirrors> <dev>... <in sync>/<regions> 1 <A|F|D|S|R|U per leg>
//!                  <1 core | 3 disk <log dev> <A|D|F>>
//! ```
//!
//! `raid` comes as a new variant of [`TargetStatus`].

use crate::table::{err, parse_dec, DevNum, TableError};
use std::fmt;
use std::str::FromStr;
use ulvm_blockdev::Sectors;

/// The status of one target, by target type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetStatus {
    /// `linear`, which reports nothing.
    Linear,
    /// `striped`: each stripe's device and health.
    Striped(StripedStatus),
    /// `zero`, which reports nothing.
    Zero,
    /// `error`, which reports nothing.
    Error,
    /// `snapshot-origin`, which reports nothing.
    SnapshotOrigin,
    /// `snapshot`: how full the COW is, or why the snapshot is unusable.
    Snapshot(SnapshotStatus),
    /// `snapshot-merge`: as `snapshot`, the usage shrinking as chunks merge.
    SnapshotMerge(SnapshotStatus),
    /// `clone`: hydration progress, metadata usage and settings.
    Clone(CloneStatus),
    /// `mirror`: legs, resync progress and health.
    Mirror(crate::mirror::MirrorStatus),
    /// `raid`: device health, sync progress and action, mismatches.
    Raid(crate::raid::RaidStatus),
}

impl TargetStatus {
    /// Parses the status parameters of a target of type `target_type`.
    pub fn parse(target_type: &str, params: &str) -> Result<TargetStatus, TableError> {
        let empty = |s: TargetStatus| {
            if params.trim().is_empty() {
                Ok(s)
            } else {
                err(format!("{target_type}: unexpected status '{params}'"))
            }
        };
        match target_type {
            "linear" => empty(TargetStatus::Linear),
            "zero" => empty(TargetStatus::Zero),
            "error" => empty(TargetStatus::Error),
            "snapshot-origin" => empty(TargetStatus::SnapshotOrigin),
            "striped" => Ok(TargetStatus::Striped(params.parse()?)),
            "snapshot" => Ok(TargetStatus::Snapshot(params.parse()?)),
            "snapshot-merge" => Ok(TargetStatus::SnapshotMerge(params.parse()?)),
            "clone" => Ok(TargetStatus::Clone(params.parse()?)),
            "mirror" => Ok(TargetStatus::Mirror(params.parse()?)),
            "raid" => Ok(TargetStatus::Raid(params.parse()?)),
            other => err(format!("unknown target type '{other}'")),
        }
    }

    /// The target type the status belongs to, as `dmsetup status` names it.
    pub fn target_type(&self) -> &'static str {
        match self {
            TargetStatus::Linear => "linear",
            TargetStatus::Striped(_) => "striped",
            TargetStatus::Zero => "zero",
            TargetStatus::Error => "error",
            TargetStatus::SnapshotOrigin => "snapshot-origin",
            TargetStatus::Snapshot(_) => "snapshot",
            TargetStatus::SnapshotMerge(_) => "snapshot-merge",
            TargetStatus::Clone(_) => "clone",
            TargetStatus::Mirror(_) => "mirror",
            TargetStatus::Raid(_) => "raid",
        }
    }

    /// The snapshot status of a `snapshot` or `snapshot-merge` target.
    pub fn snapshot(&self) -> Option<&SnapshotStatus> {
        match self {
            TargetStatus::Snapshot(s) | TargetStatus::SnapshotMerge(s) => Some(s),
            _ => None,
        }
    }

    /// The status of a `mirror` target.
    pub fn mirror(&self) -> Option<&crate::mirror::MirrorStatus> {
        match self {
            TargetStatus::Mirror(m) => Some(m),
            _ => None,
        }
    }

    /// The status of a `raid` target.
    pub fn raid(&self) -> Option<&crate::raid::RaidStatus> {
        match self {
            TargetStatus::Raid(r) => Some(r),
            _ => None,
        }
    }

    /// The status of a `clone` target.
    pub fn clone_status(&self) -> Option<&CloneStatus> {
        match self {
            TargetStatus::Clone(c) => Some(c),
            _ => None,
        }
    }
}

/// The parameters only, as `dmsetup status` prints them after the type.
impl fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetStatus::Linear | TargetStatus::Zero | TargetStatus::Error | TargetStatus::SnapshotOrigin => Ok(()),
            TargetStatus::Striped(s) => s.fmt(f),
            TargetStatus::Snapshot(s) | TargetStatus::SnapshotMerge(s) => s.fmt(f),
            TargetStatus::Clone(c) => c.fmt(f),
            TargetStatus::Mirror(m) => m.fmt(f),
            TargetStatus::Raid(r) => r.fmt(f),
        }
    }
}

/// `<start> <length> <target type> <status>`: one line of `dmsetup status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// The first sector of the mapped device the target covers.
    pub start: Sectors,
    /// How many sectors the target covers.
    pub len: Sectors,
    /// The target type and what it reports.
    pub status: TargetStatus,
}

impl fmt::Display for StatusLine {
    /// dmsetup's layout: a space always follows the type, even with no status.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}", self.start, self.len, self.status.target_type(), self.status)
    }
}

impl FromStr for StatusLine {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let mut words = s.trim_start().splitn(4, ' ');
        let (Some(start), Some(len), Some(ty)) = (words.next(), words.next(), words.next()) else {
            return err(format!("invalid status line '{s}': expected <start> <length> <target> [<status>]"));
        };
        let params = words.next().unwrap_or("");
        Ok(StatusLine {
            start: Sectors(parse_dec(start)?),
            len: Sectors(parse_dec(len)?),
            status: TargetStatus::parse(ty, params)?,
        })
    }
}

/// `striped`: the stripes' devices and whether each is alive (`A`) or has
/// seen an I/O error (`D`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripedStatus {
    /// Each stripe's device, in table order.
    pub devices: Vec<DevNum>,
    /// Per stripe, in the same order: `A` (true) if it has seen no I/O
    /// error, `D` (false) if it has.
    pub alive: Vec<bool>,
}

impl fmt::Display for StripedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.devices.len())?;
        for d in &self.devices {
            write!(f, "{d} ")?;
        }
        f.write_str("1 ")?;
        for a in &self.alive {
            f.write_str(if *a { "A" } else { "D" })?;
        }
        Ok(())
    }
}

impl FromStr for StripedStatus {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        let w: Vec<&str> = s.split_ascii_whitespace().collect();
        let bad = || TableError(format!("striped: invalid status '{s}'"));
        let n: usize = parse_dec(w.first().ok_or_else(bad)?)?;
        // The count comes from the input: compare without overflowing.
        if w.len().checked_sub(3) != Some(n) || w[n + 1] != "1" || w[n + 2].len() != n {
            return Err(bad());
        }
        let devices = w[1..=n].iter().map(|d| d.parse()).collect::<Result<_, _>>()?;
        let alive = w[n + 2]
            .chars()
            .map(|c| match c {
                'A' => Ok(true),
                'D' => Ok(false),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?;
        Ok(StripedStatus { devices, alive })
    }
}

/// `snapshot` and `snapshot-merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// Sectors of the COW in use (data and metadata), its size, and the
    /// metadata's share; during a merge, what is left to merge.
    Active {
        /// COW sectors in use, metadata included.
        allocated: Sectors,
        /// The COW device's size.
        total: Sectors,
        /// COW sectors holding the header and exception tables.
        metadata: Sectors,
    },
    /// The COW filled up or failed: the snapshot is invalidated (it stays
    /// loaded, and its I/O fails).
    Invalid,
    /// A `PO` snapshot whose COW filled up: writes fail, it stays readable.
    Overflow,
    /// `Merge failed`: a `snapshot-merge` target hit an error and stopped
    /// merging.
    MergeFailed,
    /// The store cannot report its usage.
    Unknown,
}

impl SnapshotStatus {
    /// `allocated` as a percentage of `total`, for an active snapshot.
    pub fn usage_percent(&self) -> Option<f64> {
        match self {
            SnapshotStatus::Active { allocated, total, .. } if total.0 > 0 => {
                Some(allocated.0 as f64 * 100.0 / total.0 as f64)
            }
            _ => None,
        }
    }

    /// Invalid or overflowed: LVM shows such a snapshot as 100 % full and
    /// its attribute as `I`.
    pub fn is_invalid(&self) -> bool {
        matches!(self, SnapshotStatus::Invalid | SnapshotStatus::Overflow)
    }
}

impl fmt::Display for SnapshotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotStatus::Active { allocated, total, metadata } => write!(f, "{allocated}/{total} {metadata}"),
            SnapshotStatus::Invalid => f.write_str("Invalid"),
            SnapshotStatus::Overflow => f.write_str("Overflow"),
            SnapshotStatus::MergeFailed => f.write_str("Merge failed"),
            SnapshotStatus::Unknown => f.write_str("Unknown"),
        }
    }
}

impl FromStr for SnapshotStatus {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        match s.trim() {
            "Invalid" => return Ok(SnapshotStatus::Invalid),
            "Overflow" => return Ok(SnapshotStatus::Overflow),
            "Merge failed" => return Ok(SnapshotStatus::MergeFailed),
            "Unknown" => return Ok(SnapshotStatus::Unknown),
            _ => {}
        }
        let bad = || TableError(format!("snapshot: invalid status '{s}'"));
        let (usage, metadata) = s.trim().split_once(' ').ok_or_else(bad)?;
        let (allocated, total) = usage.split_once('/').ok_or_else(bad)?;
        Ok(SnapshotStatus::Active {
            allocated: Sectors(parse_dec(allocated)?),
            total: Sectors(parse_dec(total)?),
            metadata: Sectors(parse_dec(metadata)?),
        })
    }
}

/// A clone's feature flags as its status reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloneFeatures {
    /// Background hydration is disabled.
    pub no_hydration: bool,
    /// Discards are not passed down to the destination device.
    pub no_discard_passdown: bool,
    /// ulvm only (the kernel has no such flag).
    pub hydrate_on_read: bool,
}

/// The metadata mode a clone reports last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneMode {
    /// `rw`: metadata is updated as regions hydrate.
    ReadWrite,
    /// Metadata errors made the clone stop recording hydration.
    ReadOnly,
}

/// `clone`: the kernel's status fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloneStatus {
    /// The full status of a clone whose metadata is readable.
    Active {
        /// The size of one metadata block (8 sectors in the kernel).
        metadata_block_size: Sectors,
        /// Metadata blocks in use.
        metadata_used: u64,
        /// Metadata blocks the metadata device holds.
        metadata_total: u64,
        /// The unit of hydration: what one bit of the metadata covers.
        region_size: Sectors,
        /// Regions already copied to the destination.
        hydrated: u64,
        /// All regions of the device.
        regions: u64,
        /// Regions being copied right now.
        hydrating: u64,
        /// The feature flags now in effect.
        features: CloneFeatures,
        /// Core argument: at most this many regions hydrate at once.
        hydration_threshold: u32,
        /// Core argument: contiguous regions copied together in one batch.
        hydration_batch_size: u32,
        /// The metadata mode, `rw` or `ro`.
        mode: CloneMode,
    },
    /// The metadata device failed.
    Fail,
    /// The status itself could not be read from the metadata.
    Error,
}

impl CloneStatus {
    /// Hydrated regions and all regions, for an active clone.
    pub fn progress(&self) -> Option<(u64, u64)> {
        match self {
            CloneStatus::Active { hydrated, regions, .. } => Some((*hydrated, *regions)),
            _ => None,
        }
    }

    /// The hydrated share in percent, for an active clone.
    pub fn hydrated_percent(&self) -> Option<f64> {
        let (h, t) = self.progress()?;
        (t > 0).then(|| h as f64 * 100.0 / t as f64)
    }
}

impl fmt::Display for CloneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloneStatus::Fail => f.write_str("Fail"),
            CloneStatus::Error => f.write_str("Error"),
            CloneStatus::Active {
                metadata_block_size,
                metadata_used,
                metadata_total,
                region_size,
                hydrated,
                regions,
                hydrating,
                features,
                hydration_threshold,
                hydration_batch_size,
                mode,
            } => {
                write!(
                    f,
                    "{metadata_block_size} {metadata_used}/{metadata_total} {region_size} {hydrated}/{regions} {hydrating} "
                )?;
                let flags: Vec<&str> = [
                    (features.no_hydration, "no_hydration"),
                    (features.no_discard_passdown, "no_discard_passdown"),
                    (features.hydrate_on_read, "hydrate_on_read"),
                ]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
                write!(f, "{} ", flags.len())?;
                for flag in flags {
                    write!(f, "{flag} ")?;
                }
                write!(
                    f,
                    "4 hydration_threshold {hydration_threshold} hydration_batch_size {hydration_batch_size} {}",
                    match mode {
                        CloneMode::ReadWrite => "rw",
                        CloneMode::ReadOnly => "ro",
                    }
                )
            }
        }
    }
}

impl FromStr for CloneStatus {
    type Err = TableError;
    fn from_str(s: &str) -> Result<Self, TableError> {
        match s.trim() {
            "Fail" => return Ok(CloneStatus::Fail),
            "Error" => return Ok(CloneStatus::Error),
            _ => {}
        }
        let bad = || TableError(format!("clone: invalid status '{s}'"));
        let w: Vec<&str> = s.split_ascii_whitespace().collect();
        if w.len() < 7 {
            return Err(bad());
        }
        let pair = |x: &str| -> Result<(u64, u64), TableError> {
            let (a, b) = x.split_once('/').ok_or_else(bad)?;
            Ok((parse_dec(a)?, parse_dec(b)?))
        };
        let (metadata_used, metadata_total) = pair(w[1])?;
        let (hydrated, regions) = pair(w[3])?;
        let nf: usize = parse_dec(w[5])?;
        let mut features = CloneFeatures::default();
        let flags = w.get(6..6 + nf).ok_or_else(bad)?;
        for flag in flags {
            match *flag {
                "no_hydration" => features.no_hydration = true,
                "no_discard_passdown" => features.no_discard_passdown = true,
                "hydrate_on_read" => features.hydrate_on_read = true,
                _ => return Err(bad()),
            }
        }
        let core = &w[6 + nf..];
        let [n, k1, v1, k2, v2, mode] = core else { return Err(bad()) };
        if *n != "4" || *k1 != "hydration_threshold" || *k2 != "hydration_batch_size" {
            return Err(bad());
        }
        let mode = match *mode {
            "rw" => CloneMode::ReadWrite,
            "ro" => CloneMode::ReadOnly,
            _ => return Err(bad()),
        };
        Ok(CloneStatus::Active {
            metadata_block_size: Sectors(parse_dec(w[0])?),
            metadata_used,
            metadata_total,
            region_size: Sectors(parse_dec(w[2])?),
            hydrated,
            regions,
            hydrating: parse_dec(w[4])?,
            features,
            hydration_threshold: parse_dec(v1)?,
            hydration_batch_size: parse_dec(v2)?,
            mode,
        })
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
