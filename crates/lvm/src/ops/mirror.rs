//! Legacy mirrored LVs (`lvcreate --type mirror -m N`, `lvconvert -m`,
//! `--mirrorlog`, `--splitmirrors`, `--repair`), as LVM 2.03 keeps them:
//! the LV has one `mirror` segment whose areas are hidden linear LVs
//! `LV_mimage_K`, and, with a disk log, a hidden one-extent `LV_mlog`
//! (`mirror_log`). Activation (`crate::activate`) stacks the `mirror`
//! target on the images' and the log's devices.
//!
//! Allocation follows LVM's rules as the oracle shows them
//! (docs/lvm.md): each image on PVs no other image uses (an image that
//! cannot be placed so fails the whole request, LVM's "parallel areas"),
//! PVs taken in order, lowest free extent first; the log on a PV no
//! image uses when there is one, else on the images' PVs, last first.
//!
//! A new disk log is written as LVM writes it before the kernel sees it:
//! the whole log LV zeroed (every region out of sync, so the legs are
//! copied) or, for `--nosync`, filled with ones (every region clean), and
//! a dm-log header whose region count is `u64::MAX`, which makes the
//! target take the bits as they are.

use super::common::{next_lv_name, pv_keys, undo_create, SizeSpec};
use super::{now, Session};
use crate::activate::{self, DmDevice, LockFs};
use crate::alloc::{self, Area};
use crate::disk::{self, Vg};
use crate::extent::Extents;
use crate::model::{LogicalVolume, Mirror, Segment, SegmentKind, MIMAGE_INFIX, MLOG_SUFFIX, NOTSYNCED};
use crate::names::{check_lv_name, dm_name};
use crate::pv as lvmpv;
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{LegHealth, LogSync, MirrorLog, TargetArgs, TargetStatus};

/// LVM's default region size (`activation/mirror_region_size`): 2 MiB.
pub const DEFAULT_REGION_SIZE: Sectors = Sectors(4096);
/// LVM's limit on images (`DEFAULT_MIRROR_MAX_IMAGES`).
pub const MAX_IMAGES: usize = 8;
/// dm-log's header magic ("MiRr") and version.
const LOG_MAGIC: u32 = 0x4D69_5272;
const LOG_VERSION: u32 = 2;

/// `--mirrorlog`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// In memory: every region is copied again at each activation.
    Core,
    /// On a one-extent `_mlog` LV (LVM's default).
    Disk,
}

impl LogType {
    /// Parses `--mirrorlog`'s value with LVM's refusals.
    pub fn parse(v: &str) -> Result<LogType, LvmError> {
        match v {
            "core" => Ok(LogType::Core),
            "disk" => Ok(LogType::Disk),
            "mirrored" => {
                Err(LvmError::Refused("Log type \"mirrored\" is DEPRECATED. Use RAID1 LV or disk log instead.".into()))
            }
            _ => Err(LvmError::Usage(format!(
                "Mirror log type \"{v}\" is unknown.\nInvalid argument for --mirrorlog: {v}\nError during parsing of command line."
            ))),
        }
    }
}

/// The mirror part of an `lvcreate --type mirror`.
#[derive(Debug, Clone)]
pub struct MirrorCreate {
    pub vg: String,
    pub name: Option<String>,
    pub size: SizeSpec,
    /// `-m N`: N more images than one.
    pub mirrors: usize,
    pub log: LogType,
    /// `--nosync`: the legs are not copied (`NOTSYNCED`).
    pub nosync: bool,
    /// `-R`; LVM's default when absent.
    pub region_size: Option<Sectors>,
    pub pvs: Vec<PathBuf>,
    /// `-a n` leaves it inactive.
    pub activate: bool,
    /// `--addtag`: on the mirror LV only (LVM 2.03 tags none of its
    /// images nor its log).
    pub tags: Vec<String>,
}

/// LVM's region size for a mirror of `extents`: at most the largest
/// power of two of extents that divides the LV (`adjusted_mirror_region_size`).
fn adjusted_region(s: &mut Session, vg: &Vg, extents: Extents, region: Sectors) -> Sectors {
    let es = vg.vg.extent_size.sectors().0;
    let n = extents.0.max(1);
    let max = es * (n & n.wrapping_neg());
    if region.0 > max {
        let r = Sectors(max);
        s.print(format!("Using reduced mirror region size of {}", size_long(r)));
        return r;
    }
    region
}

/// PVs the command may allocate from, in order (`None`: all, VG order).
pub(super) fn candidate_pvs(vg: &Vg, pvs: Option<&[String]>) -> Vec<String> {
    let allocatable = |k: &String| vg.vg.pv(k).is_some_and(|p| p.allocatable());
    match pvs {
        Some(l) => l.iter().filter(|k| allocatable(k)).cloned().collect(),
        None => vg.vg.pvs.iter().map(|p| p.key.clone()).filter(allocatable).collect(),
    }
}

/// Places `legs` images of `extents` each, each on PVs that neither the
/// other new images nor `avoid` (the PVs of images already there) use.
/// `None` when they do not all fit.
fn place_legs(
    vg: &Vg,
    legs: usize,
    extents: Extents,
    pvs: Option<&[String]>,
    avoid: &[String],
) -> Option<Vec<Vec<Area>>> {
    let mut used: Vec<String> = avoid.to_vec();
    let mut out = Vec::new();
    let candidates = candidate_pvs(vg, pvs);
    // The legs take distinct PVs: what is free does not change between them.
    let mut free = alloc::free_runs(&vg.vg);
    for _ in 0..legs {
        let mut left = extents;
        let mut areas = Vec::new();
        let free_pvs: Vec<&String> = candidates.iter().filter(|k| !used.contains(k)).collect();
        for k in free_pvs {
            if left == Extents(0) {
                break;
            }
            let runs = free.remove(k.as_str()).unwrap_or_default();
            if runs.is_empty() {
                continue;
            }
            for (pe, len) in runs {
                if left == Extents(0) {
                    break;
                }
                let take = len.min(left);
                areas.push(Area { stripes: vec![(k.clone(), pe)], len: take });
                left -= take;
            }
            used.push(k.clone());
        }
        if left > Extents(0) {
            return None;
        }
        out.push(areas);
    }
    Some(out)
}

/// Where a one-extent log goes: the first free extent of a PV no image
/// uses, else of the images' PVs, the last one first.
fn place_log(vg: &Vg, extents: Extents, pvs: Option<&[String]>, image_pvs: &[String]) -> Option<Vec<Area>> {
    let candidates = candidate_pvs(vg, pvs);
    let mut free = alloc::free_runs(&vg.vg);
    let order = candidates
        .iter()
        .filter(|k| !image_pvs.contains(k))
        .chain(image_pvs.iter().rev().filter(|k| candidates.contains(k)));
    for k in order {
        if let Some((pe, _)) = free.remove(k.as_str()).unwrap_or_default().into_iter().find(|(_, len)| *len >= extents)
        {
            return Some(vec![Area { stripes: vec![(k.clone(), pe)], len: extents }]);
        }
    }
    None
}

/// The PVs an LV's extents are on.
pub(super) fn lv_pvs(lv: &LogicalVolume) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for seg in &lv.segments {
        if let SegmentKind::Striped { stripes, .. } = &seg.kind {
            for (k, _) in stripes {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
    }
    out
}

/// Extents of a disk log for a mirror of `size` sectors in `region`s: the
/// dm-log header (1 KiB) and one bit per region, in whole extents.
fn log_extents(vg: &Vg, size: Sectors, region: Sectors) -> Extents {
    let regions = size.0.div_ceil(region.0.max(1));
    let bytes = 1024 + regions.div_ceil(32) * 4;
    vg.vg.extent_size.extents_ceil(Sectors(bytes.div_ceil(512))).max(Extents(1))
}

/// A new hidden (or visible) LV with `areas` as its linear segments.
pub(super) fn new_lv(name: &str, visible: bool, areas: &[Area]) -> Result<LogicalVolume, LvmError> {
    let mut lv = LogicalVolume {
        name: name.to_string(),
        id: lvmpv::new_uuid()?,
        status: vec!["READ".into(), "WRITE".into()],
        flags: vec![],
        tags: Vec::new(),
        creation_time: Some(now()),
        creation_host: Some(disk::hostname()),
        segments: vec![],
        extra: vec![],
    };
    lv.set_visible(visible);
    alloc::append_segments(&mut lv, alloc::segments_from(areas, Extents(0), Sectors(128)));
    Ok(lv)
}

/// Writes a new disk log as LVM does: the whole log LV zeroed (or all
/// ones with `in_sync`), then the dm-log header with `nr_regions = u64::MAX`.
pub fn init_log(vg: &Vg, log: &LogicalVolume, in_sync: bool) -> Result<(), LvmError> {
    let es = vg.vg.extent_size;
    let mut first = true;
    for seg in &log.segments {
        let SegmentKind::Striped { stripes, .. } = &seg.kind else { continue };
        let (key, pe) = &stripes[0];
        let pv = vg.vg.pv(key).ok_or_else(|| LvmError::NotFound(format!("unknown PV {key}")))?;
        let d = vg.disk(key).ok_or_else(|| LvmError::NotFound(format!("PV {key} is missing")))?;
        let len = es.to_sectors(seg.extent_count);
        let mut buf = vec![if in_sync { 0xFF } else { 0 }; len.byte_len()];
        if first {
            buf[..1024].fill(0);
            buf[0..4].copy_from_slice(&LOG_MAGIC.to_le_bytes());
            buf[4..8].copy_from_slice(&LOG_VERSION.to_le_bytes());
            buf[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            first = false;
        }
        d.dev.write(pv.pe_start + es.to_sectors(*pe), &buf)?;
        d.dev.flush()?;
    }
    Ok(())
}

/// LVM's refusal when the VG has fewer than `need` free extents.
pub(super) fn ensure_free(vg: &Vg, need: Extents) -> Result<(), LvmError> {
    let free = alloc::vg_free(&vg.vg);
    if free < need {
        return Err(LvmError::Insufficient(format!(
            "Insufficient free space: {need} extents needed, but only {free} available"
        )));
    }
    Ok(())
}

pub(super) fn insufficient(lv: &str, more: Extents) -> LvmError {
    LvmError::Insufficient(format!(
        "Insufficient suitable allocatable extents for logical volume {lv}: {more} more required"
    ))
}

/// `lvcreate --type mirror`: the mirror, its images and its log; active
/// unless `-a n`. Its name.
pub fn lvcreate_mirror(s: &mut Session, c: &MirrorCreate) -> Result<String, LvmError> {
    if c.mirrors + 1 > MAX_IMAGES {
        return Err(LvmError::Usage(format!("Only up to {MAX_IMAGES} images in mirror supported currently.")));
    }
    let vg_name = c.vg.as_str();
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let name = c.name.clone().unwrap_or_else(|| next_lv_name(&vg));
    check_lv_name(&name)?;
    let legs = c.mirrors + 1;
    let images: Vec<String> = (0..legs).map(|k| format!("{name}{MIMAGE_INFIX}{k}")).collect();
    let log_name = format!("{name}{MLOG_SUFFIX}");
    for n in std::iter::once(&name).chain(&images).chain(std::iter::once(&log_name)) {
        if vg.vg.lv(n).is_some() {
            return Err(LvmError::Exists(format!(
                "Logical Volume \"{n}\" already exists in volume group \"{vg_name}\""
            )));
        }
    }
    let pvs = pv_keys(&vg, &c.pvs)?;
    let (extents, _) = c.size.resolve(s, &vg, Extents(0), pvs.as_deref())?;
    let region = adjusted_region(s, &vg, extents, c.region_size.unwrap_or(DEFAULT_REGION_SIZE));
    let need = extents * legs as u64;
    ensure_free(&vg, need)?;
    let placed = place_legs(&vg, legs, extents, pvs.as_deref(), &[]).ok_or_else(|| insufficient(&name, need))?;
    if c.activate {
        s.host()?;
    }
    let mut top = new_lv(&name, true, &[])?;
    super::tags::TagEdit { add: c.tags.clone(), del: vec![] }.apply(&mut top.tags);
    if c.nosync {
        top.set_status(NOTSYNCED, true);
    }
    top.segments.push(Segment {
        start_extent: Extents(0),
        extent_count: extents,
        kind: SegmentKind::Mirror(Mirror {
            mirror_count: legs as u64,
            extents_moved: None,
            mirror_log: (c.log == LogType::Disk).then(|| log_name.clone()),
            region_size: Some(region),
            areas: images.iter().map(|n| (n.clone(), Extents(0))).collect(),
        }),
        extra: vec![],
    });
    let mut image_pvs = Vec::new();
    let mut image_lvs = Vec::new();
    for (n, areas) in images.iter().zip(&placed) {
        let lv = new_lv(n, false, areas)?;
        image_pvs.extend(lv_pvs(&lv));
        image_lvs.push(lv);
    }
    let v = vg.vg_mut();
    v.lvs.push(top);
    v.lvs.extend(image_lvs);
    // In a shared VG the new LV gets its lease (its sub-LVs are active
    // under it).
    super::lockd::new_lease(s, &mut vg, &name)?;
    let mut names: Vec<&str> = vec![&name];
    names.extend(images.iter().map(String::as_str));
    if c.nosync {
        s.warn("WARNING: New mirror won't be synchronised. Don't read what you didn't write!");
    }
    if c.log == LogType::Disk {
        let n = log_extents(&vg, vg.vg.extent_size.to_sectors(extents), region);
        let areas = place_log(&vg, n, pvs.as_deref(), &image_pvs).ok_or_else(|| insufficient(&name, n))?;
        // As LVM (oracle5's archive): the mirror is committed first with
        // its log as a visible LV of its own, the log is written, then
        // the log joins the mirror, hidden, in a second commit.
        let log = new_lv(&log_name, true, &areas)?;
        let v = vg.vg_mut();
        v.lv_mut(&name).and_then(|l| l.mirror_mut()).expect("the new mirror").mirror_log = None;
        v.lvs.push(log.clone());
        names.push(&log_name);
        s.commit(&mut vg)?;
        init_log(&vg, &log, c.nosync)?;
        let v = vg.vg_mut();
        v.lv_mut(&log_name).expect("the log").set_visible(false);
        v.lv_mut(&name).and_then(|l| l.mirror_mut()).expect("the new mirror").mirror_log = Some(log_name.clone());
    }
    s.commit(&mut vg)?;
    if c.activate {
        if let Err(e) = super::lockd::activate_lv(s, &vg, &name, activate::LeaseOp::Exclusive) {
            return Err(undo_create(s, &vg, &names, e));
        }
    }
    s.print(format!("Logical volume \"{name}\" created."));
    Ok(name)
}

/// One `lvconvert` of a mirror (or to one).
#[derive(Debug, Clone, Default)]
pub struct MirrorConvert {
    pub vg: String,
    pub lv: String,
    /// `-m N`: the images wanted (N + 1).
    pub mirrors: Option<usize>,
    /// `--mirrorlog`.
    pub log: Option<LogType>,
    /// `--splitmirrors N --name NEW`.
    pub split: Option<(usize, String)>,
    /// `-R` for a new mirror.
    pub region_size: Option<Sectors>,
    /// PVs named: where new images go, or which images go (`-m` down).
    pub pvs: Vec<PathBuf>,
}

/// What a conversion left to do: nothing, or a resync to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converted {
    Done,
    /// New images are being copied (LVM polls it as `Converted:`).
    Syncing,
}

/// The mirror's live status, if it is active.
pub fn mirror_status(s: &mut Session, vg: &str, lv: &str) -> Option<ulvm_dm_table::MirrorStatus> {
    let h = s.host_if_running()?;
    match h.status(&dm_name(vg, lv, None)).ok()? {
        TargetStatus::Mirror(m) => Some(m),
        _ => None,
    }
}

/// Whether an active mirror is fully in sync (an inactive one counts as
/// in sync when its metadata says nothing else).
fn in_sync(s: &mut Session, vg: &str, lv: &str) -> Option<bool> {
    mirror_status(s, vg, lv).map(|m| m.in_sync == m.regions)
}

pub(super) fn find<'a>(vg: &'a Vg, lv: &str) -> Result<&'a LogicalVolume, LvmError> {
    vg.vg.lv(lv).ok_or_else(|| LvmError::NotFound(format!("Failed to find logical volume \"{}/{lv}\"", vg.vg.name)))
}

/// `lvconvert` of `-m`, `--mirrorlog` or `--splitmirrors`.
pub fn lvconvert_mirror(s: &mut Session, c: &MirrorConvert) -> Result<Converted, LvmError> {
    let _l = s.lock_vg(&c.vg)?;
    let vg = s.vg(&c.vg, false)?;
    let lv = find(&vg, &c.lv)?.clone();
    if lv.is_locked() || lv.is_pvmove() || vg.vg.snapshot_of_cow(&lv.name).is_some() {
        return Err(LvmError::Refused(format!("Unable to convert logical volume {}/{}.", c.vg, c.lv)));
    }
    let family = activate::family_origin(&vg, &lv.name);
    let before = activate::plan(&vg, &family)?;
    let active = match s.host_if_running() {
        Some(h) => activate::is_active(h, &vg, &lv.name)?.is_some(),
        None => false,
    };
    let pvs = pv_keys(&vg, &c.pvs)?;
    let mut after = vg.clone();
    let mut result = Converted::Done;
    let mut log_in_sync = false;
    // Images added to a mirror: its log says the old ones are in sync,
    // so this load copies everything again.
    let mut resync_all = false;
    if let Some((n, new_name)) = &c.split {
        split(s, &mut after, &lv, *n, new_name, active)?;
    } else if let Some(want) = c.mirrors.map(|m| m + 1) {
        let have = lv.mirror().map(|m| m.areas.len()).unwrap_or(1);
        if want > MAX_IMAGES {
            return Err(LvmError::Usage(format!("Only up to {MAX_IMAGES} images in mirror supported currently.")));
        }
        if want < have {
            drop_images(&mut after, &lv, have - want, pvs.as_deref())?;
        } else if want > have {
            let log = c.log.unwrap_or(if lv.mirror().is_some_and(|m| m.mirror_log.is_none()) {
                LogType::Core
            } else {
                LogType::Disk
            });
            add_images(s, &mut after, &lv, want - have, log, c.region_size, pvs.as_deref())?;
            resync_all = have > 1;
            if resync_all && !active {
                // No live mirror writes the log back: it is written out
                // of sync, so the next activation copies every region.
                if let Some(l) = lv.mirror().and_then(|m| m.mirror_log.as_deref()).and_then(|l| after.vg.lv(l)) {
                    init_log(&after, l, false)?;
                }
            }
            result = Converted::Syncing;
        } else if let Some(log) = c.log {
            log_in_sync = change_log(s, &mut after, &lv, log, pvs.as_deref(), active)?;
        } else {
            return Err(LvmError::Refused(format!(
                "Logical volume {}/{} already has {} mirror{}.",
                c.vg,
                c.lv,
                want - 1,
                if want == 2 { "" } else { "s" }
            )));
        }
    } else if let Some(log) = c.log {
        if lv.mirror().is_none() {
            return Err(LvmError::Refused(format!(
                "Operation not permitted on non-mirrored logical volume {}/{}.",
                c.vg, c.lv
            )));
        }
        log_in_sync = change_log(s, &mut after, &lv, log, pvs.as_deref(), active)?;
    }
    let mut after_plan = activate::plan(&after, &family)?;
    if log_in_sync {
        // As LVM: a log added to a mirror in sync is loaded `nosync` (its
        // bits were written clean), for this activation only.
        mark_log_sync(&mut after_plan, &dm_name(&c.vg, &lv.name, None), LogSync::NoSync);
    }
    if resync_all {
        mark_log_sync(&mut after_plan, &dm_name(&c.vg, &lv.name, None), LogSync::Sync);
    }
    let mut committed = after;
    s.commit(&mut committed)?;
    if active {
        let mut after_plan = after_plan;
        if let Some((_, new_name)) = &c.split {
            // The split image becomes a visible LV with its own device.
            after_plan.extend(activate::plan(&committed, new_name)?);
        }
        activate::sync_family(s.host()?, &before, &after_plan)?;
    }
    if result == Converted::Syncing && active {
        s.print(format!("Logical volume {}/{} being converted.", c.vg, c.lv));
    } else {
        result = Converted::Done;
        s.print(format!("Logical volume {}/{} converted.", c.vg, c.lv));
    }
    Ok(result)
}

/// Gives the mirror `top`'s table in `plan` the log argument `to`, for
/// this load only: `nosync` for a new log written in sync, `sync` to copy
/// every region again (new images). The log is not rewritten on disk for
/// that: the live target writes its own bits when it is suspended.
fn mark_log_sync(plan: &mut [DmDevice], top: &str, to: LogSync) {
    for d in plan.iter_mut().filter(|d| d.name == top) {
        for l in &mut d.table.0 {
            if let TargetArgs::Mirror(m) = &mut l.target {
                match &mut m.log {
                    MirrorLog::Disk { sync, .. } | MirrorLog::Core { sync, .. } => *sync = to,
                }
            }
        }
    }
}

/// The images' names of a mirror, in area order.
fn images_of(lv: &LogicalVolume) -> Vec<String> {
    lv.mirror().map(|m| m.areas.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default()
}

/// Makes `lv` plain again on `keep`'s extents: the image's segments
/// become the LV's, and the other sub-LVs leave.
fn collapse(vg: &mut Vg, lv: &LogicalVolume, keep: &str) {
    let subs = vg.vg.mirror_sub_lvs(&lv.name);
    let segments = vg.vg.lv(keep).map(|k| k.segments.clone()).unwrap_or_default();
    let v = vg.vg_mut();
    v.lvs.retain(|l| !subs.contains(&l.name));
    if let Some(l) = v.lv_mut(&lv.name) {
        l.segments = segments;
        l.set_status(NOTSYNCED, false);
    }
}

/// `-m` down: `n` images go, those on the PVs named first, else the last.
fn drop_images(vg: &mut Vg, lv: &LogicalVolume, n: usize, pvs: Option<&[String]>) -> Result<(), LvmError> {
    let images = images_of(lv);
    let mut gone: Vec<String> = Vec::new();
    if let Some(pvs) = pvs {
        for i in &images {
            if gone.len() < n && vg.vg.lv(i).is_some_and(|l| lv_pvs(l).iter().any(|k| pvs.contains(k))) {
                gone.push(i.clone());
            }
        }
    }
    for i in images.iter().rev() {
        if gone.len() < n && !gone.contains(i) {
            gone.push(i.clone());
        }
    }
    drop_named(vg, lv, &gone);
    Ok(())
}

/// `-m` up: `n` new images on PVs no image uses; a linear LV becomes a
/// mirror whose first image holds its extents, with a `log` log (a new
/// disk log is written out of sync, so the new images are copied from
/// the first; an existing mirror is reloaded with `sync` by the caller).
#[allow(clippy::too_many_arguments)]
fn add_images(
    s: &mut Session,
    vg: &mut Vg,
    lv: &LogicalVolume,
    n: usize,
    log: LogType,
    region: Option<Sectors>,
    pvs: Option<&[String]>,
) -> Result<(), LvmError> {
    let extents = lv.extents();
    let existing = images_of(lv);
    let was_linear = existing.is_empty();
    let mut avoid = Vec::new();
    if was_linear {
        avoid.extend(lv_pvs(lv));
    } else {
        for i in &existing {
            avoid.extend(vg.vg.lv(i).map(lv_pvs).unwrap_or_default());
        }
    }
    // LVM names the LV it allocates for nobody here: its message has an empty name.
    let placed = place_legs(vg, n, extents, pvs, &avoid).ok_or_else(|| {
        LvmError::Insufficient(format!(
            "Insufficient suitable allocatable extents for logical volume : {} more required\n  Unable to allocate extents for mirror(s).",
            extents * n as u64
        ))
    })?;
    let name = lv.name.clone();
    let taken = |vg: &Vg, k: usize| vg.vg.lv(&format!("{name}{MIMAGE_INFIX}{k}")).is_some();
    let mut new_images = Vec::new();
    // A linear LV's own extents become image 0.
    let mut k = usize::from(was_linear);
    for areas in &placed {
        while taken(vg, k) || new_images.iter().any(|l: &LogicalVolume| l.name == format!("{name}{MIMAGE_INFIX}{k}")) {
            k += 1;
        }
        new_images.push(new_lv(&format!("{name}{MIMAGE_INFIX}{k}"), false, areas)?);
    }
    let region = match (region, lv.mirror().and_then(|m| m.region_size)) {
        (Some(r), _) => adjusted_region(s, vg, extents, r),
        (None, Some(r)) => r,
        (None, None) => adjusted_region(s, vg, extents, DEFAULT_REGION_SIZE),
    };
    let mut log_lv = None;
    let log_name = format!("{name}{MLOG_SUFFIX}");
    let had_log = lv.mirror().and_then(|m| m.mirror_log.clone());
    let mut image_pvs: Vec<String> = avoid.clone();
    for l in &new_images {
        image_pvs.extend(lv_pvs(l));
    }
    if log == LogType::Disk && had_log.is_none() {
        vg.vg_mut().lvs.extend(new_images.iter().cloned());
        let ln = log_extents(vg, vg.vg.extent_size.to_sectors(extents), region);
        let areas = place_log(vg, ln, pvs, &image_pvs).ok_or_else(|| insufficient(&name, ln))?;
        vg.vg_mut().lvs.retain(|l| !new_images.iter().any(|i| i.name == l.name));
        log_lv = Some(new_lv(&log_name, false, &areas)?);
    }
    if let Some(l) = &log_lv {
        init_log(vg, l, false)?;
    }
    let v = vg.vg_mut();
    if was_linear {
        let first = format!("{name}{MIMAGE_INFIX}0");
        let mut img0 = new_lv(&first, false, &[])?;
        let top = v.lv_mut(&name).expect("the LV");
        img0.segments = std::mem::take(&mut top.segments);
        let mut areas = vec![(first.clone(), Extents(0))];
        areas.extend(new_images.iter().map(|l| (l.name.clone(), Extents(0))));
        top.segments.push(Segment {
            start_extent: Extents(0),
            extent_count: extents,
            kind: SegmentKind::Mirror(Mirror {
                mirror_count: areas.len() as u64,
                extents_moved: None,
                mirror_log: log_lv.as_ref().map(|l| l.name.clone()),
                region_size: Some(region),
                areas,
            }),
            extra: vec![],
        });
        // As LVM lists them: the log, then the images.
        v.lvs.extend(log_lv);
        v.lvs.push(img0);
        v.lvs.extend(new_images);
    } else {
        let m = v.lv_mut(&name).and_then(|l| l.mirror_mut()).expect("a mirror");
        m.areas.extend(new_images.iter().map(|l| (l.name.clone(), Extents(0))));
        m.mirror_count = m.areas.len() as u64;
        if let Some(l) = &log_lv {
            m.mirror_log = Some(l.name.clone());
        }
        v.lvs.extend(log_lv);
        v.lvs.extend(new_images);
    }
    Ok(())
}

/// `--mirrorlog core|disk`. Whether the new log starts in sync (the
/// mirror was in sync: a disk log is written clean), which LVM loads once
/// with `nosync`.
fn change_log(
    s: &mut Session,
    vg: &mut Vg,
    lv: &LogicalVolume,
    log: LogType,
    pvs: Option<&[String]>,
    active: bool,
) -> Result<bool, LvmError> {
    let m = lv.mirror().expect("a mirror").clone();
    match (log, &m.mirror_log) {
        (LogType::Core, None) | (LogType::Disk, Some(_)) => Err(LvmError::Refused(format!(
            "Mirror log is already {}.",
            if log == LogType::Core { "core" } else { "disk" }
        ))),
        (LogType::Core, Some(l)) => {
            let subs = vg.vg.mirror_sub_lvs(l);
            let v = vg.vg_mut();
            v.lvs.retain(|x| x.name != *l && !subs.contains(&x.name));
            v.lv_mut(&lv.name).and_then(|x| x.mirror_mut()).expect("a mirror").mirror_log = None;
            // A core log of a mirror in sync starts in sync (`nosync`
            // once), as LVM loads it, instead of copying everything.
            Ok(active && in_sync(s, &vg.vg.name, &lv.name).unwrap_or(false))
        }
        (LogType::Disk, None) => {
            let name = format!("{}{MLOG_SUFFIX}", lv.name);
            let mut image_pvs = Vec::new();
            for (i, _) in &m.areas {
                image_pvs.extend(vg.vg.lv(i).map(lv_pvs).unwrap_or_default());
            }
            let region = m.region_size.unwrap_or(DEFAULT_REGION_SIZE);
            let ln = log_extents(vg, vg.vg.extent_size.to_sectors(lv.extents()), region);
            let areas = place_log(vg, ln, pvs, &image_pvs).ok_or_else(|| insufficient(&lv.name, ln))?;
            let log_lv = new_lv(&name, false, &areas)?;
            let synced = lv.has_status(NOTSYNCED) || (active && in_sync(s, &vg.vg.name, &lv.name).unwrap_or(false));
            init_log(vg, &log_lv, synced)?;
            let v = vg.vg_mut();
            v.lv_mut(&lv.name).and_then(|x| x.mirror_mut()).expect("a mirror").mirror_log = Some(name);
            v.lvs.push(log_lv);
            Ok(synced && active)
        }
    }
}

/// `--splitmirrors N --name NEW`: the last `n` images leave the mirror
/// and become the LV `new_name` (one image: a linear LV on its extents).
fn split(
    s: &mut Session,
    vg: &mut Vg,
    lv: &LogicalVolume,
    n: usize,
    new_name: &str,
    active: bool,
) -> Result<(), LvmError> {
    super::lockd::refuse_shared(vg, |t| format!("Unable to split mirrors in VG with lock_type {t}"))?;
    let images = images_of(lv);
    let vgn = vg.vg.name.clone();
    if images.is_empty() {
        return Err(LvmError::Refused(format!(
            "Unable to split logical volume of segment type linear.\n  Operation not permitted on non-mirrored logical volume {vgn}/{}.",
            lv.name
        )));
    }
    check_lv_name(new_name)?;
    if vg.vg.lv(new_name).is_some() {
        return Err(LvmError::Exists(format!(
            "Logical Volume \"{new_name}\" already exists in volume group \"{vgn}\""
        )));
    }
    if n == 0 || n >= images.len() {
        return Err(LvmError::Refused(format!(
            "Unable to split {n} images from {vgn}/{}: the mirror has {} images.",
            lv.name,
            images.len()
        )));
    }
    if n > 1 {
        return Err(LvmError::Refused("ulvm splits one image at a time (--splitmirrors 1).".into()));
    }
    if active && in_sync(s, &vgn, &lv.name) == Some(false) {
        return Err(LvmError::Refused(format!("Unable to split mirror {vgn}/{} that is not in-sync.", lv.name)));
    }
    let last = images.last().expect("images").clone();
    let segments = vg.vg.lv(&last).map(|l| l.segments.clone()).unwrap_or_default();
    let mut new_lv = new_lv(new_name, true, &[])?;
    new_lv.segments = segments;
    drop_images(vg, lv, 1, None)?;
    vg.vg_mut().lvs.push(new_lv);
    Ok(())
}

/// `lvextend` of a mirror: every image grows by `add` extents on its own
/// PVs or on PVs no other image uses (its last segment continued where
/// the extent after it is free), and the mirror's segment with them. The
/// new regions start out of sync (the target counts more regions than
/// its log holds), so they are copied from image 0.
pub fn extend_images(vg: &mut Vg, lv_name: &str, add: Extents, pvs: Option<&[String]>) -> Result<(), LvmError> {
    let lv = find(vg, lv_name)?.clone();
    let m = lv.mirror().expect("a mirror").clone();
    let es = vg.vg.extent_size;
    let region = m.region_size.unwrap_or(DEFAULT_REGION_SIZE);
    if let Some(l) = m.mirror_log.as_deref().and_then(|l| vg.vg.lv(l)) {
        if log_extents(vg, es.to_sectors(lv.extents() + add), region) > l.extents() {
            return Err(LvmError::Refused(format!(
                "ulvm cannot grow mirror {}/{lv_name}'s log yet: its {} regions would not fit.",
                vg.vg.name,
                es.to_sectors(lv.extents() + add).0.div_ceil(region.0)
            )));
        }
    }
    let need = add * m.areas.len() as u64;
    ensure_free(vg, need)?;
    for (i, (image, _)) in m.areas.iter().enumerate() {
        let others: Vec<String> = m
            .areas
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, (n, _))| vg.vg.lv(n).map(lv_pvs).unwrap_or_default())
            .collect();
        let allowed: Vec<String> = candidate_pvs(vg, pvs).into_iter().filter(|k| !others.contains(k)).collect();
        let img =
            vg.vg.lv(image).ok_or_else(|| LvmError::NotFound(format!("mirror image {image} is missing")))?.clone();
        let request = alloc::Request { extents: add, stripes: 1, pvs: Some(&allowed), extend: Some(&img) };
        let areas = alloc::allocate(&vg.vg, &request).map_err(|_| insufficient(lv_name, need))?;
        let from = img.extents();
        let v = vg.vg_mut();
        let slot = v.lv_mut(image).expect("the image");
        alloc::append_segments(slot, alloc::segments_from(&areas, from, Sectors(128)));
    }
    let top = vg.vg_mut().lv_mut(lv_name).expect("the mirror");
    top.segments[0].extent_count += add;
    Ok(())
}

/// What `lvconvert --repair` does with failed images.
pub use crate::system::MirrorFaultPolicy as RepairPolicy;

/// `lvconvert --repair VG/LV`: the images whose legs the mirror marks
/// failed (`D`, `R`, `S`, `F`) are replaced by new images on PVs no image
/// uses (`Allocate`, what `lvconvert --repair -y` does), or dropped
/// (`Remove`, LVM's default `mirror_image_fault_policy`; one healthy image
/// left makes the LV linear on it). A replaced image keeps its name, and
/// the mirror is reloaded with the log argument `sync`, so every region is
/// copied from the first healthy image (the log said the replaced images
/// were in sync). With no `policy` (`lvconvert --repair` by hand, without
/// `--use-policies` or `-f`) the session asks, as LVM does, once it knows
/// that images failed: yes replaces them (`-y` answers yes), no drops them.
/// Whether anything was repaired.
pub fn repair(s: &mut Session, vg_name: &str, lv_name: &str, policy: Option<RepairPolicy>) -> Result<bool, LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let lv = find(&vg, lv_name)?.clone();
    let Some(m) = lv.mirror().cloned() else {
        return Err(LvmError::Refused(format!(
            "Operation not permitted on non-mirrored logical volume {vg_name}/{lv_name}."
        )));
    };
    let Some(status) = mirror_status(s, vg_name, lv_name) else {
        return Err(LvmError::Refused(format!("{vg_name}/{lv_name} must be active to perform this operation.")));
    };
    let failed: Vec<usize> =
        status.health.iter().enumerate().filter(|(_, h)| **h != LegHealth::Alive).map(|(i, _)| i).collect();
    if failed.is_empty() {
        s.print(format!("Volume group \"{vg_name}\" is consistent."));
        return Ok(false);
    }
    if failed.len() == m.areas.len() {
        return Err(LvmError::Refused(format!("Every image of {vg_name}/{lv_name} failed: nothing to repair from.")));
    }
    let family = activate::family_origin(&vg, lv_name);
    let before = activate::plan(&vg, &family)?;
    let failed_names: Vec<String> = failed.iter().map(|&i| m.areas[i].0.clone()).collect();
    let policy = policy.unwrap_or_else(|| {
        if s.confirm("Attempt to replace failed mirror images (requires full device resync)?") {
            RepairPolicy::Allocate
        } else {
            RepairPolicy::Remove
        }
    });
    if policy == RepairPolicy::Remove {
        drop_named(&mut vg, &lv, &failed_names);
        s.commit(&mut vg)?;
        let after = activate::plan(&vg, &family)?;
        activate::sync_family(s.host()?, &before, &after)?;
        for n in &failed_names {
            s.print(format!("Faulty leg {n} of {vg_name}/{lv_name} removed."));
        }
        s.print(format!("{vg_name}/{lv_name}: Mirror repaired."));
        return Ok(true);
    }
    let extents = lv.extents();
    // Neither the healthy images' PVs nor the failed ones'.
    let avoid: Vec<String> = m.areas.iter().flat_map(|(n, _)| vg.vg.lv(n).map(lv_pvs).unwrap_or_default()).collect();
    let placed = place_legs(&vg, failed.len(), extents, None, &avoid)
        .ok_or_else(|| insufficient(lv_name, extents * failed.len() as u64))?;
    let mut new_images = Vec::new();
    for (old, areas) in failed_names.iter().zip(&placed) {
        let mut img = new_lv(old, false, areas)?;
        img.id = vg.vg.lv(old).map(|l| l.id).unwrap_or(img.id);
        new_images.push(img);
    }
    let v = vg.vg_mut();
    for img in new_images {
        if let Some(slot) = v.lv_mut(&img.name) {
            *slot = img;
        }
    }
    // The first healthy image becomes leg 0, which the copy reads from.
    let first_ok = (0..m.areas.len()).find(|i| !failed.contains(i)).expect("one healthy");
    if first_ok != 0 {
        let mm = v.lv_mut(lv_name).and_then(|l| l.mirror_mut()).expect("a mirror");
        mm.areas.swap(0, first_ok);
    }
    s.commit(&mut vg)?;
    let mut after = activate::plan(&vg, &family)?;
    mark_log_sync(&mut after, &dm_name(vg_name, lv_name, None), LogSync::Sync);
    // The mirror is reloaded even where its table reads the same: a new
    // target copies the new images.
    reload_mirror(s.host()?, &before, &after, &dm_name(vg_name, lv_name, None))?;
    for n in &failed_names {
        let pvs = vg.vg.lv(n).map(lv_pvs).unwrap_or_default();
        let on: Vec<String> = pvs.iter().map(|k| vg.pv_path(k)).collect();
        s.print(format!("Faulty leg {n} of {vg_name}/{lv_name} replaced by a new image on {}.", on.join(",")));
    }
    s.print(format!("{vg_name}/{lv_name}: Mirror repaired."));
    Ok(true)
}

/// Brings an active mirror `top` from the `before` plan to `after`: the
/// mirror is suspended, then each image or log whose table changed is
/// reloaded and resumed (so it has its new size before the mirror's new
/// table is checked against it), new ones are created, and the mirror
/// gets its new table (loaded even when it reads the same) and resumes.
pub fn reload_mirror(
    host: &mut dyn activate::DmHost,
    before: &[DmDevice],
    after: &[DmDevice],
    top: &str,
) -> Result<(), LvmError> {
    host.suspend(top, LockFs::Skip)?;
    let reload = (|| -> Result<(), LvmError> {
        for d in after.iter().filter(|d| d.name != top) {
            match before.iter().find(|b| b.name == d.name) {
                Some(o) if o.table == d.table => {}
                _ => activate::reload_or_create(host, d)?,
            }
        }
        if let Some(d) = after.iter().find(|d| d.name == top) {
            host.load(top, &d.table, d.read_only)?;
        }
        Ok(())
    })();
    let resumed = host.resume(top);
    reload?;
    resumed?;
    Ok(())
}

/// Drops the images `gone` from mirror `lv` (and them from the VG); one
/// image left makes the LV linear on it.
fn drop_named(vg: &mut Vg, lv: &LogicalVolume, gone: &[String]) {
    let kept: Vec<String> = images_of(lv).into_iter().filter(|i| !gone.contains(i)).collect();
    if kept.len() == 1 {
        collapse(vg, lv, &kept[0]);
        return;
    }
    let v = vg.vg_mut();
    v.lvs.retain(|l| !gone.contains(&l.name));
    let m = v.lv_mut(&lv.name).and_then(|l| l.mirror_mut()).expect("a mirror");
    m.areas.retain(|(a, _)| !gone.contains(a));
    m.mirror_count = m.areas.len() as u64;
}
