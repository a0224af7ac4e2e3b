//! `lvcreate` of linear, striped and snapshot LVs: the new LV is
//! allocated, zeroed at its start, committed (a snapshot's COW first on
//! its own, then as a snapshot, two metadata versions as LVM writes), and
//! activated; if activation fails the VG goes back to what it was.

use super::common::{allocate, next_lv_name, pv_keys, undo_create, zero_start, SizeSpec};
use super::{now, Session};
use crate::activate;
use crate::alloc;
use crate::disk;
use crate::extent::Extents;
use crate::model::{LogicalVolume, Segment, SegmentKind};
use crate::names::check_lv_name;
use crate::pv as lvmpv;
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;

/// LVM's default stripe size: 64 KiB.
pub const DEFAULT_STRIPE_SIZE: Sectors = Sectors(128);
/// LVM's default snapshot chunk size: 4 KiB.
pub const DEFAULT_CHUNK_SIZE: Sectors = Sectors(8);

/// One `lvcreate`, as the command line gives it.
#[derive(Debug, Clone)]
pub struct LvCreate {
    pub vg: String,
    /// `-n`; `lvolN` when absent.
    pub name: Option<String>,
    pub size: SizeSpec,
    /// `-s VG/ORIGIN`: a snapshot of this LV.
    pub snapshot_of: Option<String>,
    pub stripes: usize,
    pub stripe_size: Sectors,
    pub chunk_size: Sectors,
    /// `-a n` makes an inactive LV.
    pub activate: bool,
    /// `-p r` makes a read-only LV.
    pub writable: bool,
    /// `-Z n` leaves the start alone (a COW is always zeroed).
    pub zero: bool,
    /// PVs to allocate from (and to count for `%PVS`).
    pub pvs: Vec<PathBuf>,
    /// `--setautoactivation n` makes an LV that `-aay` leaves alone.
    pub autoactivation: bool,
    /// `-k|--setactivationskip y`: activation skips the LV (without `-K`,
    /// so the new LV stays inactive and unzeroed, as LVM's).
    pub activation_skip: bool,
    /// `-K|--ignoreactivationskip`: activate it anyway.
    pub ignore_activation_skip: bool,
    /// `--addtag`s, in order.
    pub tags: Vec<String>,
}

impl LvCreate {
    /// A linear LV of `size` in `vg`, active, writable, zeroed.
    pub fn new(vg: &str, size: SizeSpec) -> LvCreate {
        LvCreate {
            vg: vg.to_string(),
            name: None,
            size,
            snapshot_of: None,
            stripes: 1,
            stripe_size: DEFAULT_STRIPE_SIZE,
            chunk_size: DEFAULT_CHUNK_SIZE,
            activate: true,
            writable: true,
            zero: true,
            pvs: Vec::new(),
            autoactivation: true,
            activation_skip: false,
            ignore_activation_skip: false,
            tags: Vec::new(),
        }
    }
}

/// Creates the LV; its name.
pub fn lvcreate(s: &mut Session, c: &LvCreate) -> Result<String, LvmError> {
    let skipped = c.activation_skip && !c.ignore_activation_skip;
    let c = &LvCreate {
        activate: c.activate && !skipped,
        // As LVM: an LV made inactive cannot be zeroed (it says so).
        zero: c.zero && (c.snapshot_of.is_some() || (c.activate && !skipped)),
        ..c.clone()
    };
    let vg_name = c.vg.as_str();
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let name = c.name.clone().unwrap_or_else(|| next_lv_name(&vg));
    check_lv_name(&name)?;
    if vg.vg.lv(&name).is_some() {
        return Err(LvmError::Exists(format!(
            "Logical Volume \"{name}\" already exists in volume group \"{vg_name}\""
        )));
    }
    let origin = match &c.snapshot_of {
        Some(o) => {
            let lv = vg
                .vg
                .lv(o)
                .ok_or_else(|| LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{o}\"")))?
                .clone();
            if vg.vg.snapshot_of_cow(o).is_some() {
                return Err(LvmError::Refused("Snapshots of snapshots are not supported.".into()));
            }
            if vg.vg.snapshots_of(o).iter().any(|s| s.merging) {
                return Err(LvmError::Refused(format!(
                    "Cannot create snapshot of origin {vg_name}/{o} while a snapshot is merging into it."
                )));
            }
            Some(lv)
        }
        None => None,
    };
    let pvs = pv_keys(&vg, &c.pvs)?;
    let current = origin.as_ref().map(|o| o.extents()).unwrap_or_default();
    let (mut extents, _) = c.size.resolve(s, &vg, current, pvs.as_deref())?;
    let stripes = c.stripes as u64;
    if !extents.is_multiple_of(stripes) {
        let up = Extents(extents.0.div_ceil(stripes)) * stripes;
        let es = vg.vg.extent_size;
        s.print(format!(
            "Rounding size {} ({extents} extents) up to stripe boundary size {} ({up} extents).",
            size_long(es.to_sectors(extents)),
            size_long(es.to_sectors(up))
        ));
        extents = up;
    }
    let areas = allocate(&vg, &name, extents, c.stripes, pvs.as_deref(), None)?;
    let before = match &c.snapshot_of {
        Some(o) => activate::plan(&vg, o)?,
        None => Vec::new(),
    };
    // Whether there is something to activate, and a host to do it.
    let origin_active = match &c.snapshot_of {
        Some(o) => match s.host_if_running() {
            Some(h) => activate::is_active(h, &vg, o)?.is_some(),
            None => false,
        },
        None => false,
    };
    if c.activate && c.snapshot_of.is_none() {
        s.host()?;
    }
    let host_name = disk::hostname();
    let mut status = vec!["READ".to_string()];
    if c.writable {
        status.push("WRITE".into());
    }
    if origin.is_none() {
        status.push("VISIBLE".into());
    }
    let mut flags = Vec::new();
    if c.activation_skip {
        flags.push(crate::model::ACTIVATION_SKIP.to_string());
    }
    if !c.autoactivation {
        flags.push(crate::model::NOAUTOACTIVATE.to_string());
    }
    let mut lv = LogicalVolume {
        name: name.clone(),
        id: lvmpv::new_uuid()?,
        status,
        flags,
        tags: {
            let mut tags = Vec::new();
            super::tags::TagEdit { add: c.tags.clone(), del: vec![] }.apply(&mut tags);
            tags
        },
        creation_time: Some(now()),
        creation_host: Some(host_name.clone()),
        segments: vec![],
        extra: vec![],
    };
    alloc::append_segments(&mut lv, alloc::segments_from(&areas, Extents(0), c.stripe_size));
    if c.zero || origin.is_some() {
        zero_start(&vg, &lv)?;
    }
    vg.vg_mut().lvs.push(lv);
    if origin.is_none() {
        // After the LV joined the model: a lock LV that must grow for its
        // lease takes other extents than the LV's.
        super::lockd::new_lease(s, &mut vg, &name)?;
    }
    if origin.is_some() {
        // As LVM: the COW LV is committed on its own first, then turned
        // into a snapshot (two metadata versions, two archive copies).
        s.commit(&mut vg)?;
    }
    if let Some(o) = &origin {
        let lv = snapshot_lv(&vg.vg, &o.name, o.extents(), &name, c.chunk_size, host_name)?;
        vg.vg_mut().lvs.push(lv);
    }
    s.commit(&mut vg)?;
    let result = match &c.snapshot_of {
        Some(o) if origin_active => {
            let after = activate::plan(&vg, o)?;
            activate::sync_family(s.host()?, &before, &after)
        }
        Some(_) => Ok(()),
        None if c.activate => super::lockd::activate_lv(s, &vg, &name, activate::LeaseOp::Exclusive),
        None => Ok(()),
    };
    if let Err(e) = result {
        // Leave the VG as it was: the new LV goes again.
        return Err(undo_create(s, &vg, &[&name], e));
    }
    if !c.zero && origin.is_none() {
        s.warn(format!("WARNING: Logical volume {}/{name} not zeroed.", vg.vg.name));
    }
    s.print(format!("Logical volume \"{name}\" created."));
    Ok(name)
}

/// The hidden `snapshotN` LV that makes LV `cow` a snapshot of `origin`
/// (of `extents`), as LVM records it: one `snapshot` segment naming both.
pub(super) fn snapshot_lv(
    vg: &crate::model::VolumeGroup,
    origin: &str,
    extents: Extents,
    cow: &str,
    chunk_size: Sectors,
    host: String,
) -> Result<LogicalVolume, LvmError> {
    Ok(LogicalVolume {
        name: vg.next_snapshot_name(),
        id: lvmpv::new_uuid()?,
        status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
        flags: vec![],
        tags: Vec::new(),
        creation_time: Some(now()),
        creation_host: Some(host),
        segments: vec![Segment {
            start_extent: Extents(0),
            extent_count: extents,
            kind: SegmentKind::Snapshot {
                chunk_size,
                origin: origin.to_string(),
                cow: cow.to_string(),
                merging: false,
            },
            extra: vec![],
        }],
        extra: vec![],
    })
}
