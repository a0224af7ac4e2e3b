//! What several operations share: sizes as LVM's commands give them
//! (`-l 10%FREE`, `-L +8M`) turned into extents, allocation with LVM's
//! refusals, zeroing a new LV's start, names and PV arguments.

use super::Session;
use crate::alloc::{self, Area, Request};
use crate::disk::Vg;
use crate::extent::Extents;
use crate::model::{LogicalVolume, SegmentKind};
use crate::size::{parse_size, Sign};
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;

/// What `-l` counts a percentage of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentOf {
    /// `%FREE`: the VG's free extents.
    Free,
    /// `%VG`: all of the VG's extents.
    Vg,
    /// `%PVS`: the extents of the PVs named (all PVs if none are).
    Pvs,
    /// `%ORIGIN`: the LV's current size (the origin's for a snapshot).
    Origin,
}

/// An LV size as the command line gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    /// `-l [+-]N`.
    Extents { sign: Sign, n: Extents },
    /// `-l [+-]N%WHAT`.
    Percent { sign: Sign, pct: u64, of: PercentOf },
    /// `-L [+-]SIZE` (rounded up to whole extents).
    Size { sign: Sign, size: Sectors },
}

impl SizeSpec {
    /// Parses `-l`'s value.
    pub fn extents(arg: &str) -> Result<SizeSpec, LvmError> {
        let bad = || LvmError::Usage(format!("Invalid argument for --extents: {arg}"));
        let (sign, body) = match arg.as_bytes().first() {
            Some(b'+') => (Sign::Plus, &arg[1..]),
            Some(b'-') => (Sign::Minus, &arg[1..]),
            _ => (Sign::None, arg),
        };
        match body.split_once('%') {
            Some((num, what)) => {
                let pct = num.parse().map_err(|_| bad())?;
                let of = match what {
                    "FREE" => PercentOf::Free,
                    "VG" => PercentOf::Vg,
                    "PVS" => PercentOf::Pvs,
                    "ORIGIN" => PercentOf::Origin,
                    _ => return Err(bad()),
                };
                Ok(SizeSpec::Percent { sign, pct, of })
            }
            None => Ok(SizeSpec::Extents { sign, n: Extents(body.parse().map_err(|_| bad())?) }),
        }
    }

    /// Parses `-L`'s value (MiB unless it has a unit).
    pub fn size(arg: &str) -> Result<SizeSpec, LvmError> {
        let s = parse_size(arg, 'm').map_err(|e| LvmError::Usage(e.0))?;
        Ok(SizeSpec::Size { sign: s.sign, size: s.sectors })
    }

    /// The extents this spec means for an LV of `current` extents in
    /// `vg`; `pvs` are the PVs named on the command line (for `%PVS`).
    /// An absolute `-L` that is not a whole number of extents is rounded
    /// up with LVM's message. Also says whether it was rounded.
    pub fn resolve(
        &self,
        s: &mut Session,
        vg: &Vg,
        current: Extents,
        pvs: Option<&[String]>,
    ) -> Result<(Extents, bool), LvmError> {
        let es = vg.vg.extent_size;
        match *self {
            SizeSpec::Extents { sign, n } => Ok((apply(sign, current, n)?, false)),
            SizeSpec::Percent { sign, pct, of } => {
                let base = match of {
                    PercentOf::Free => alloc::vg_free(&vg.vg),
                    PercentOf::Vg => vg.vg.pvs.iter().map(|p| p.pe_count).sum(),
                    PercentOf::Pvs => {
                        vg.vg.pvs.iter().filter(|p| pvs.is_none_or(|n| n.contains(&p.key))).map(|p| p.pe_count).sum()
                    }
                    PercentOf::Origin => current,
                };
                Ok((apply(sign, current, Extents((base * pct).0.div_ceil(100)))?, false))
            }
            SizeSpec::Size { sign, size } => {
                let n = es.extents_ceil(size);
                let rounded = es.to_sectors(n) != size;
                if rounded && sign == Sign::None {
                    s.print(format!("Rounding up size to full physical extent {}.", size_long(es.to_sectors(n))));
                }
                Ok((apply(sign, current, n)?, rounded))
            }
        }
    }
}

fn apply(sign: Sign, current: Extents, n: Extents) -> Result<Extents, LvmError> {
    Ok(match sign {
        Sign::None => n,
        Sign::Plus => current + n,
        Sign::Minus => current
            .checked_sub(n)
            .filter(|&v| v > Extents(0))
            .ok_or_else(|| LvmError::Refused("New size would be zero or negative.".into()))?,
    })
}

/// The metadata keys of PVs named by path (`None`: none named).
pub fn pv_keys(vg: &Vg, paths: &[PathBuf]) -> Result<Option<Vec<String>>, LvmError> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for p in paths {
        match vg.key_of(p) {
            Some(k) => keys.push(k),
            None => {
                return Err(LvmError::NotFound(format!(
                    "Physical Volume \"{}\" not found in Volume Group \"{}\".",
                    p.display(),
                    vg.vg.name
                )))
            }
        }
    }
    Ok(Some(keys))
}

/// Extents for LV `lv` (new, or `extend`ed), with LVM's refusals.
pub fn allocate(
    vg: &Vg,
    lv: &str,
    extents: Extents,
    stripes: usize,
    pvs: Option<&[String]>,
    extend: Option<&LogicalVolume>,
) -> Result<Vec<Area>, LvmError> {
    let free = alloc::vg_free(&vg.vg);
    if free < extents {
        return Err(LvmError::Insufficient(format!(
            "Volume group \"{}\" has insufficient free space ({free} extents): {extents} required.",
            vg.vg.name
        )));
    }
    let usable = pvs.map(|p| p.len()).unwrap_or(vg.vg.pvs.len());
    if stripes > usable {
        return Err(LvmError::Refused(format!(
            "Number of stripes ({stripes}) must not exceed number of physical volumes ({usable})"
        )));
    }
    alloc::allocate(&vg.vg, &Request { extents, stripes, pvs, extend }).map_err(|e| match e {
        alloc::AllocError::Short { more } => LvmError::Insufficient(format!(
            "Insufficient suitable allocatable extents for logical volume {lv}: {more} more required"
        )),
        e => LvmError::Refused(e.to_string()),
    })
}

/// Zeroes the first 4 KiB of a new LV (LVM's default `-Z y`); for a COW
/// this is what makes the kernel format a new snapshot store.
pub fn zero_start(vg: &Vg, lv: &LogicalVolume) -> Result<(), LvmError> {
    let Some(seg) = lv.segments.first() else { return Ok(()) };
    let SegmentKind::Striped { stripes, .. } = &seg.kind else { return Ok(()) };
    let (key, pe) = &stripes[0];
    let pv = vg.vg.pv(key).ok_or_else(|| LvmError::NotFound(format!("unknown PV {key}")))?;
    let d = vg.disk(key).ok_or_else(|| LvmError::NotFound(format!("PV {key} is missing")))?;
    let at = pv.pe_start + vg.vg.extent_size.to_sectors(*pe);
    let n = Sectors(8).min(vg.vg.extent_size.sectors());
    d.dev.write(at, &vec![0u8; n.byte_len()])?;
    d.dev.flush()?;
    Ok(())
}

/// The first free `lvolN` name.
pub fn next_lv_name(vg: &Vg) -> String {
    vg.vg.next_free_name("lvol")
}

/// A new LV whose activation failed: `names` leave the metadata again, and
/// the error says why, with the undo's own error if that failed too.
pub fn undo_create(s: &mut Session, vg: &Vg, names: &[&str], why: impl std::fmt::Display) -> LvmError {
    let mut undo = vg.clone();
    for n in names {
        undo.vg_mut().remove_lv(n);
    }
    let rollback = s.commit(&mut undo);
    let cause = LvmError::Refused(format!("Failed to activate new LV {}/{}: {why}", vg.vg.name, names[0]));
    LvmError::with_rollback(cause, rollback)
}
