//! raid1 LVs on dm-raid (`lvcreate --type raid1 -m N`, LVM 2.03's
//! default for `-m`; `lvconvert -m N` between linear and raid1 and
//! between leg counts, `--type raid1` from a legacy mirror, `--repair`;
//! `lvchange --syncaction`, `--rebuild`, the recovery rates), as LVM 2.03
//! keeps them: the LV has one `raid1` segment whose slots are pairs of
//! hidden linear LVs, `LV_rmeta_N` (the dm-raid superblock and the md
//! bitmap, one extent normally) and `LV_rimage_N` (the data).
//!
//! Allocation follows LVM's parallel areas: each slot on PVs no other
//! slot uses, its rmeta and rimage carved from one allocation, rmeta
//! first (the lower extents).
//!
//! ulvm never writes a superblock itself: a new rmeta gets its first
//! 4 KiB zeroed, as LVM does, and the target (the kernel's or ulvm's)
//! writes fresh superblocks and a bitmap at the first load and
//! synchronises the set (unless `--nosync`). A slot that must be copied
//! again (a new leg, a replaced one, `lvchange --rebuild`) carries the
//! `REBUILD` status flag in the metadata: activation turns it into
//! `rebuild N` in the table, and once a table with it is loaded the flag
//! is cleared by a second commit (LVM's "flags passed to the kernel").
//! Progress lives in the target's superblocks and bitmap, so nothing here
//! polls: a restart or reactivation continues where the target was.

use super::common::{next_lv_name, pv_keys, undo_create, zero_start, SizeSpec};
use super::mirror::{candidate_pvs, ensure_free, find, insufficient, lv_pvs, new_lv};
use super::Session;
pub use crate::activate::RaidMessage;
use crate::activate::{self, DmDevice};
use crate::alloc::{self, Area};
use crate::disk::Vg;
use crate::extent::Extents;
use crate::model::{
    LogicalVolume, Raid, RaidArea, RaidRole, Segment, SegmentKind, NOTSYNCED, REBUILD, RIMAGE_INFIX, RMETA_INFIX,
    WRITEMOSTLY,
};
use crate::names::{check_lv_name, dm_name};
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{RaidHealth, RaidStatus, RaidSync, TargetArgs, TargetStatus};

/// LVM's default raid region size (`activation/raid_region_size`, 2 MiB).
pub const DEFAULT_REGION_SIZE: Sectors = Sectors(4096);
/// LVM's limit on raid1 images (`DEFAULT_RAID1_MAX_IMAGES`).
pub const MAX_RAID1_IMAGES: usize = 10;
/// md's bitmap takes at most this many regions per device.
const MAX_REGIONS: u64 = 1 << 21;
/// What an rmeta holds before the bitmap: the dm-raid superblock's 4 KiB
/// and the md bitmap superblock's 4 KiB (`_raid_rmeta_extents`).
const RMETA_HEADER_BYTES: u64 = 8192;

/// LVM's region size for a raid of `size` sectors: `region`, doubled
/// until the regions number at most 2^21 (`raid_ensure_min_region_size`).
pub fn region_for(s: &mut Session, size: Sectors, region: Sectors) -> Sectors {
    let mut r = region.0.max(1);
    while size.0.div_ceil(r) > MAX_REGIONS {
        r *= 2;
    }
    if r != region.0 {
        s.print(format!(
            "Adjusting RAID region_size from {} to {} to support requested LV size of {}.",
            size_long(region),
            size_long(Sectors(r)),
            size_long(size)
        ));
    }
    Sectors(r)
}

/// Extents of an rmeta for an image of `size` sectors in `region`s: the
/// two superblocks and one bitmap bit per region, in whole extents.
pub fn rmeta_extents(vg: &Vg, size: Sectors, region: Sectors) -> Extents {
    let regions = size.0.div_ceil(region.0.max(1));
    let bytes = RMETA_HEADER_BYTES + regions.div_ceil(8);
    vg.vg.extent_size.extents_ceil(Sectors(bytes.div_ceil(512))).max(Extents(1))
}

/// The names of slot `k`'s sub-LVs: `(LV_rmeta_k, LV_rimage_k)`.
pub fn sub_names(lv: &str, k: usize) -> (String, String) {
    (format!("{lv}{RMETA_INFIX}{k}"), format!("{lv}{RIMAGE_INFIX}{k}"))
}

/// One new slot's extents: its rmeta's, then its rimage's.
struct Leg {
    meta: Vec<Area>,
    data: Vec<Area>,
}

/// Places `legs` new slots of `meta` + `data` extents, each on PVs that
/// neither the other new slots nor `avoid` use; each slot is one
/// allocation whose first `meta` extents are its rmeta. `None` when they
/// do not all fit.
fn place_legs(
    vg: &Vg,
    legs: usize,
    meta: Extents,
    data: Extents,
    pvs: Option<&[String]>,
    avoid: &[String],
) -> Option<Vec<Leg>> {
    let mut used: Vec<String> = avoid.to_vec();
    let candidates = candidate_pvs(vg, pvs);
    let mut free = alloc::free_runs(&vg.vg);
    let mut out = Vec::new();
    for _ in 0..legs {
        let mut left = meta + data;
        let mut areas: Vec<Area> = Vec::new();
        for k in candidates.iter().filter(|k| !used.contains(k)).cloned().collect::<Vec<_>>() {
            if left == Extents(0) {
                break;
            }
            let runs = free.remove(k.as_str()).unwrap_or_default();
            // The rmeta needs a run of its own size on the slot's first PV.
            if areas.is_empty() && !runs.iter().any(|(_, len)| *len >= meta) {
                free.insert(k.clone(), runs);
                continue;
            }
            if runs.is_empty() {
                continue;
            }
            for (pe, len) in runs {
                if left == Extents(0) {
                    break;
                }
                if areas.is_empty() && len < meta {
                    continue;
                }
                let take = len.min(left);
                areas.push(Area { stripes: vec![(k.clone(), pe)], len: take });
                left -= take;
            }
            used.push(k);
        }
        if left > Extents(0) {
            return None;
        }
        out.push(split_areas(areas, meta));
    }
    Some(out)
}

/// The first `meta` extents of `areas` for the rmeta, the rest for the image.
fn split_areas(areas: Vec<Area>, meta: Extents) -> Leg {
    let mut leg = Leg { meta: Vec::new(), data: Vec::new() };
    let mut left = meta;
    for a in areas {
        if left == Extents(0) {
            leg.data.push(a);
        } else if a.len <= left {
            left -= a.len;
            leg.meta.push(a);
        } else {
            let (k, pe) = a.stripes[0].clone();
            leg.meta.push(Area { stripes: vec![(k.clone(), pe)], len: left });
            leg.data.push(Area { stripes: vec![(k, pe + left)], len: a.len - left });
            left = Extents(0);
        }
    }
    leg
}

/// The new sub-LVs of slot `k` (hidden, `READ`, `WRITE`), image first as
/// LVM creates them.
fn slot_lvs(lv: &str, k: usize, leg: &Leg) -> Result<(LogicalVolume, LogicalVolume), LvmError> {
    let (meta, data) = sub_names(lv, k);
    Ok((new_lv(&data, false, &leg.data)?, new_lv(&meta, false, &leg.meta)?))
}

/// The raid part of an `lvcreate --type raid1` (or of `-m N` under
/// `mirror_segtype_default = "raid1"`).
#[derive(Debug, Clone)]
pub struct RaidCreate {
    pub vg: String,
    pub name: Option<String>,
    pub size: SizeSpec,
    /// `-m N`: N more images than one.
    pub mirrors: usize,
    /// `--nosync`: the legs are not synchronised (`NOTSYNCED`).
    pub nosync: bool,
    /// `-R`; LVM's default when absent.
    pub region_size: Option<Sectors>,
    pub pvs: Vec<PathBuf>,
    /// `-a n` leaves it inactive.
    pub activate: bool,
    /// `--addtag`: on the LV and, as LVM 2.03 does, on its rmeta sub-LVs
    /// (not its rimage ones).
    pub tags: Vec<String>,
}

/// The refusal for too many raid1 images.
fn too_many() -> LvmError {
    LvmError::Usage(format!("Only up to {MAX_RAID1_IMAGES} images in raid1 supported currently."))
}

/// `lvcreate --type raid1 -m N`: the LV and its slots, committed, every
/// rmeta's first 4 KiB zeroed, then active unless `-a n` (loaded
/// `nosync` once for `--nosync`). Its name.
pub fn lvcreate_raid(s: &mut Session, c: &RaidCreate) -> Result<String, LvmError> {
    let legs = c.mirrors + 1;
    if legs > MAX_RAID1_IMAGES {
        return Err(too_many());
    }
    let vg_name = c.vg.as_str();
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let name = c.name.clone().unwrap_or_else(|| next_lv_name(&vg));
    check_lv_name(&name)?;
    let mut names = vec![name.clone()];
    for k in 0..legs {
        let (m, d) = sub_names(&name, k);
        names.push(d);
        names.push(m);
    }
    for n in &names {
        if vg.vg.lv(n).is_some() {
            return Err(LvmError::Exists(format!(
                "Logical Volume \"{n}\" already exists in volume group \"{vg_name}\""
            )));
        }
    }
    let pvs = pv_keys(&vg, &c.pvs)?;
    let (extents, _) = c.size.resolve(s, &vg, Extents(0), pvs.as_deref())?;
    let size = vg.vg.extent_size.to_sectors(extents);
    let region = region_for(s, size, c.region_size.unwrap_or(DEFAULT_REGION_SIZE));
    let meta = rmeta_extents(&vg, size, region);
    let need = (extents + meta) * legs as u64;
    ensure_free(&vg, need)?;
    let placed = place_legs(&vg, legs, meta, extents, pvs.as_deref(), &[]).ok_or_else(|| insufficient(&name, need))?;
    if c.activate {
        s.host()?;
    }
    let mut top = new_lv(&name, true, &[])?;
    if c.nosync {
        top.set_status(NOTSYNCED, true);
    }
    let tag = super::tags::TagEdit { add: c.tags.clone(), del: vec![] };
    tag.apply(&mut top.tags);
    top.segments.push(Segment {
        start_extent: Extents(0),
        extent_count: extents,
        kind: SegmentKind::Raid(Raid {
            region_size: Some(region),
            writebehind: None,
            min_recovery_rate: None,
            max_recovery_rate: None,
            areas: (0..legs)
                .map(|k| {
                    let (m, d) = sub_names(&name, k);
                    RaidArea { meta: Some(m), data: d }
                })
                .collect(),
        }),
        extra: vec![],
    });
    let mut subs = Vec::new();
    for (k, leg) in placed.iter().enumerate() {
        let (d, mut m) = slot_lvs(&name, k, leg)?;
        tag.apply(&mut m.tags);
        subs.push(d);
        subs.push(m);
    }
    let v = vg.vg_mut();
    v.lvs.push(top);
    v.lvs.extend(subs);
    // In a shared VG the new LV gets its lease (its sub-LVs are active
    // under it).
    super::lockd::new_lease(s, &mut vg, &name)?;
    if c.nosync {
        s.warn("WARNING: New raid1 won't be synchronised. Don't read what you didn't write!");
    }
    s.commit(&mut vg)?;
    // As LVM: every rmeta starts with 4 KiB of zeroes, so the target
    // takes the slots for new devices and writes their superblocks.
    for k in 0..legs {
        if let Some(m) = vg.vg.lv(&sub_names(&name, k).0) {
            zero_start(&vg, m)?;
        }
    }
    if c.activate {
        let mut devs = activate::plan(&vg, &name)?;
        if c.nosync {
            set_sync(&mut devs, &dm_name(vg_name, &name, None), RaidSync::NoSync);
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Err(e) = create_devices(s.host()?, &devs) {
            return Err(undo_create(s, &vg, &refs, e));
        }
    }
    s.print(format!("Logical volume \"{name}\" created."));
    Ok(name)
}

/// Creates `devs` (lowest first) where they are not there yet; on a
/// failure the ones made go again.
fn create_devices(host: &mut dyn activate::DmHost, devs: &[DmDevice]) -> Result<(), LvmError> {
    let mut made: Vec<&str> = Vec::new();
    for d in devs {
        if host.state(&d.name)?.is_some() {
            continue;
        }
        if let Err(e) = host.create(d) {
            for m in made.iter().rev() {
                let _ = host.remove(m);
            }
            return Err(e.into());
        }
        made.push(&d.name);
    }
    Ok(())
}

/// Gives the raid table of `top` in `plan` the argument `sync` for this
/// load only (`nosync` when a `--nosync` LV is first loaded).
fn set_sync(plan: &mut [DmDevice], top: &str, sync: RaidSync) {
    for d in plan.iter_mut().filter(|d| d.name == top) {
        for l in &mut d.table.0 {
            if let TargetArgs::Raid(r) = &mut l.target {
                r.sync = sync;
            }
        }
    }
}

/// The device of raid LV `lv`: its own, or `-real` under its snapshots.
fn raid_dev(s: &mut Session, vg: &str, lv: &str) -> String {
    let h = s.host_if_running();
    let real = dm_name(vg, lv, Some("real"));
    match h.and_then(|h| h.state(&real).ok().flatten()) {
        Some(_) => real,
        None => dm_name(vg, lv, None),
    }
}

/// The raid LV's live status, if it is active.
pub fn raid_status(s: &mut Session, vg: &str, lv: &str) -> Option<RaidStatus> {
    let dev = raid_dev(s, vg, lv);
    let h = s.host_if_running()?;
    h.state(&dev).ok()??;
    match h.status(&dev).ok()? {
        TargetStatus::Raid(r) => Some(r),
        _ => None,
    }
}

fn is_active(s: &mut Session, vg: &Vg, lv: &str) -> Result<bool, LvmError> {
    Ok(match s.host_if_running() {
        Some(h) => activate::is_active(h, vg, lv)?.is_some(),
        None => false,
    })
}

/// Clears `REBUILD` on the sub-LVs of `lv`; whether any had it.
fn clear_rebuild(vg: &mut Vg, lv: &str) -> bool {
    let subs = vg.vg.raid_sub_lvs(lv);
    let had = subs.iter().any(|n| vg.vg.lv(n).is_some_and(|l| l.has_status(REBUILD)));
    if had {
        let v = vg.vg_mut();
        for n in &subs {
            if let Some(l) = v.lv_mut(n) {
                l.set_status(REBUILD, false);
            }
        }
    }
    had
}

/// A raid repair (and clearing the flags it passed) commits even with
/// PVs missing (flagged `MISSING`), as LVM lets a degraded raid be
/// repaired; a VG with nothing missing commits as always.
fn commit(s: &mut Session, vg: &mut Vg) -> Result<(), LvmError> {
    if vg.missing.is_empty() {
        s.commit(vg)
    } else {
        s.commit_missing(vg)
    }
}

/// Commits `after` and brings an active family (with `repairing`, one
/// with PVs missing too) from `before` to it; then,
/// if the new table passed `rebuild` to the target, clears the flags in a
/// second commit and reloads without them, as LVM does. An inactive LV
/// keeps its flags until it is activated.
fn commit_and_reload(
    change: Change,
    s: &mut Session,
    after: &mut Vg,
    family: &str,
    before: &[DmDevice],
    active: bool,
) -> Result<(), LvmError> {
    if change == Change::Repair {
        commit(s, after)?;
    } else {
        s.commit(after)?;
    }
    if !active {
        return Ok(());
    }
    let mut plan = activate::plan(after, family)?;
    if change == Change::FromMirror {
        // The mirror was in sync: LVM loads the new raid `nosync` (oracle6 083).
        set_sync(&mut plan, &dm_name(&after.vg.name, family, None), RaidSync::NoSync);
    }
    reload(s.host()?, &after.vg.name, family, before, &plan)?;
    if matches!(change, Change::Convert | Change::FromMirror) {
        // LVM clears the flags in the metadata only: the table keeps
        // `rebuild N` until the next load (oracle6 073, 089).
        if clear_rebuild(after, family) {
            s.commit(after)?;
        }
        return Ok(());
    }
    finish_rebuild(s, after, family, &plan)
}

/// What a raid change is, for how LVM commits and reloads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// `lvconvert -m`: new slots' `REBUILD` cleared in the metadata after
    /// the load, the table left as loaded.
    Convert,
    /// `lvconvert --type raid1` of a mirror in sync: loaded `nosync`.
    FromMirror,
    /// `lvconvert --repair`: may commit with PVs missing; reloaded again
    /// without `rebuild` once the flags are cleared.
    Repair,
    /// `lvchange` settings and `--rebuild`: reloaded again without
    /// `rebuild` once the flags are cleared.
    Settings,
}

/// The second step of a load that carried `rebuild`: the flags are
/// cleared in the metadata and the table reloaded without them.
fn finish_rebuild(s: &mut Session, vg: &mut Vg, lv: &str, loaded: &[DmDevice]) -> Result<(), LvmError> {
    if !clear_rebuild(vg, lv) {
        return Ok(());
    }
    commit(s, vg)?;
    let plan = activate::plan(vg, lv)?;
    reload(s.host()?, &vg.vg.name, lv, loaded, &plan)
}

/// Brings an active raid LV `lv` from the `before` plan to `after`, in
/// the order libdm's tree does it: the raid is suspended, each sub-LV
/// whose table changed is suspended, loaded and resumed, new ones are
/// created, and only then is the raid's new table loaded (the target
/// reads the superblocks of its metadata devices when it is loaded, so
/// they must not be suspended then) and resumed; devices the new plan
/// has no more go last. A raid LV with snapshots goes through
/// [`activate::sync_family`].
pub(super) fn reload(
    host: &mut dyn activate::DmHost,
    vg: &str,
    lv: &str,
    before: &[DmDevice],
    after: &[DmDevice],
) -> Result<(), LvmError> {
    let top = dm_name(vg, lv, None);
    let layered = |p: &[DmDevice]| p.iter().any(|d| d.name.ends_with("-real"));
    if layered(before) || layered(after) || host.state(&top)?.is_none() {
        return activate::sync_family(host, before, after);
    }
    host.suspend(&top, activate::LockFs::Skip)?;
    let change = (|| -> Result<(), LvmError> {
        for d in after.iter().filter(|d| d.name != top) {
            // A sub-LV renamed (a mirror's image become a raid image, a
            // slot renumbered) keeps its UUID: its device is renamed, as
            // LVM's tree does, not made twice.
            if !before.iter().any(|b| b.name == d.name) && host.state(&d.name)?.is_none() {
                if let Some(b) = before.iter().find(|b| b.uuid == d.uuid && b.name != d.name) {
                    if host.state(&b.name)?.is_some() {
                        host.rename(&b.name, &d.name)?;
                        activate::reload_or_create(host, d)?;
                        continue;
                    }
                }
            }
            match before.iter().find(|b| b.name == d.name) {
                Some(o) if o.table == d.table && host.state(&d.name)?.is_some() => {}
                _ => activate::reload_or_create(host, d)?,
            }
        }
        if let Some(d) = after.iter().find(|d| d.name == top) {
            host.load(&top, &d.table, d.read_only)?;
        }
        Ok(())
    })();
    let resumed = host.resume(&top);
    change?;
    resumed?;
    for d in before.iter().rev().filter(|d| !after.iter().any(|a| a.name == d.name)) {
        if host.state(&d.name)?.is_some() {
            host.remove(&d.name)?;
        }
    }
    Ok(())
}

/// Whether the raid family of `lv` has sub-LVs flagged `REBUILD`.
pub fn has_rebuild(vg: &Vg, lv: &str) -> bool {
    let top = activate::family_origin(vg, lv);
    vg.vg.raid_sub_lvs(&top).iter().any(|n| vg.vg.lv(n).is_some_and(|x| x.has_status(REBUILD)))
}

/// After activating raid LV `lv` (any activation path): the `REBUILD`
/// flags its table passed to the target are cleared, as LVM's next
/// command does. Nothing for other LVs.
pub fn after_activation(s: &mut Session, vg: &mut Vg, lv: &str) -> Result<(), LvmError> {
    let top = activate::family_origin(vg, lv);
    let Some(l) = vg.vg.lv(&top) else { return Ok(()) };
    if l.raid().is_none()
        || !vg.vg.raid_sub_lvs(&top).iter().any(|n| vg.vg.lv(n).is_some_and(|x| x.has_status(REBUILD)))
    {
        return Ok(());
    }
    let loaded = activate::plan(vg, &top)?;
    finish_rebuild(s, vg, &top, &loaded)
}

/// The refusal when a raid LV has a slot on a missing PV and the
/// activation mode does not allow that (LVM's wording).
pub fn check_activation_mode(vg: &Vg, lv: &LogicalVolume, mode: ActivationMode) -> Result<(), LvmError> {
    let Some(r) = lv.raid() else { return Ok(()) };
    let present = |n: &str| vg.vg.lv(n).is_some_and(|l| activate::lv_on_present_pvs(vg, l));
    let missing =
        r.areas.iter().filter(|a| !present(&a.data) || a.meta.as_deref().is_some_and(|m| !present(m))).count();
    if missing == 0 || mode == ActivationMode::Partial {
        return Ok(());
    }
    let who = format!("{}/{}", vg.vg.name, lv.name);
    if missing == r.areas.len() {
        return Err(LvmError::Refused(format!(
            "Refusing activation of partial LV {who}.  Use '--activationmode partial' to override."
        )));
    }
    if mode == ActivationMode::Complete {
        return Err(LvmError::Refused(format!(
            "Refusing activation of partial LV {who}.  Try '--activationmode degraded'."
        )));
    }
    Ok(())
}

/// `--activationmode` / `activation/activation_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivationMode {
    /// Only LVs with every PV present.
    Complete,
    /// raid LVs missing some legs too (LVM's default).
    #[default]
    Degraded,
    /// Anything, missing parts included.
    Partial,
}

impl ActivationMode {
    pub fn parse(v: &str) -> Result<ActivationMode, LvmError> {
        match v {
            "complete" => Ok(ActivationMode::Complete),
            "degraded" => Ok(ActivationMode::Degraded),
            "partial" => Ok(ActivationMode::Partial),
            _ => Err(LvmError::Usage(format!("Invalid argument for --activationmode: {v}"))),
        }
    }
}

/// One `lvconvert` to, from or of a raid1 LV.
#[derive(Debug, Clone, Default)]
pub struct RaidConvert {
    pub vg: String,
    pub lv: String,
    /// `-m N`: the images wanted are N + 1 (`None` with `--type raid1`
    /// alone: a legacy mirror keeps its count).
    pub mirrors: Option<usize>,
    /// `-R` for a new raid.
    pub region_size: Option<Sectors>,
    /// PVs named: where new slots go, or which slots go (`-m` down).
    pub pvs: Vec<PathBuf>,
}

/// `lvconvert [--type raid1] -m N VG/LV` on a linear or raid1 LV, and
/// `lvconvert --type raid1 VG/LV` on a legacy mirror.
pub fn lvconvert_raid(s: &mut Session, c: &RaidConvert) -> Result<(), LvmError> {
    let _l = s.lock_vg(&c.vg)?;
    let vg = s.vg(&c.vg, false)?;
    let lv = find(&vg, &c.lv)?.clone();
    let who = format!("{}/{}", c.vg, c.lv);
    if lv.is_locked() || lv.is_pvmove() || vg.vg.snapshot_of_cow(&lv.name).is_some() || !lv.is_visible() {
        return Err(LvmError::Refused(format!("Unable to convert logical volume {who}.")));
    }
    let family = activate::family_origin(&vg, &lv.name);
    let before = activate::plan(&vg, &family)?;
    let active = is_active(s, &vg, &lv.name)?;
    let pvs = pv_keys(&vg, &c.pvs)?;
    let mut after = vg.clone();
    if lv.mirror().is_some() {
        let in_sync = super::mirror::mirror_status(s, &c.vg, &c.lv).is_some_and(|m| m.in_sync == m.regions);
        from_mirror(s, &mut after, &lv)?;
        if let Some(m) = c.mirrors {
            if m + 1 != lv.mirror().map_or(0, |x| x.areas.len()) {
                return Err(LvmError::Refused(format!(
                    "ulvm converts {who} to raid1 with its {} images; change the count afterwards.",
                    lv.mirror().map_or(0, |x| x.areas.len())
                )));
            }
        }
        let change = if in_sync { Change::FromMirror } else { Change::Convert };
        commit_and_reload(change, s, &mut after, &family, &before, active)?;
        s.print(format!("Logical volume {who} successfully converted."));
        return Ok(());
    }
    let Some(want) = c.mirrors.map(|m| m + 1) else {
        return Err(LvmError::Refused(format!("Logical volume {who} is already of type raid1.")));
    };
    if want > MAX_RAID1_IMAGES {
        return Err(too_many());
    }
    let linear = matches!(lv.segments.as_slice(), [Segment { kind: SegmentKind::Striped { stripes, .. }, .. }, ..]
        if stripes.len() == 1)
        && lv
            .segments
            .iter()
            .all(|seg| matches!(&seg.kind, SegmentKind::Striped { stripes, .. } if stripes.len() == 1));
    let have = match lv.raid() {
        Some(r) => r.areas.len(),
        None if linear => 1,
        None => return Err(LvmError::Refused(format!("Unable to convert logical volume {who} to raid1."))),
    };
    if want == have && have > 1 {
        // As LVM 2.03: nothing to do is a success, with a warning.
        s.print(format!("Logical volume {who} successfully converted."));
        s.warn(format!("WARNING: {who} already has image count of {have}."));
        return Ok(());
    }
    if want == have {
        return Err(LvmError::Refused(format!("Logical volume {who} is already of type linear.")));
    }
    let question = if have == 1 {
        format!("Are you sure you want to convert linear LV {who} to raid1 with {want} images enhancing resilience?")
    } else if want == 1 {
        format!("Are you sure you want to convert raid1 LV {who} to type linear losing all resilience?")
    } else if want > have {
        format!("Are you sure you want to convert raid1 LV {who} to {want} images enhancing resilience?")
    } else {
        format!("Are you sure you want to convert raid1 LV {who} to {want} images reducing resilience?")
    };
    if !s.confirm(&question) {
        return Err(LvmError::Refused(if want == 1 {
            format!("Logical volume {who} NOT converted to \"linear\".")
        } else {
            format!("Logical volume {who} NOT converted.")
        }));
    }
    if want > have {
        if have == 1 {
            to_raid1(s, &mut after, &lv, c.region_size)?;
        }
        add_slots(&mut after, &lv.name, want - have, pvs.as_deref())?;
    } else {
        remove_slots(&mut after, &lv.name, have - want, pvs.as_deref());
    }
    commit_and_reload(Change::Convert, s, &mut after, &family, &before, active)?;
    s.print(format!("Logical volume {who} successfully converted."));
    Ok(())
}

/// Makes a linear LV a one-slot raid1: its extents become `LV_rimage_0`,
/// and `LV_rmeta_0` is allocated on the image's PVs (the next free
/// extents there, as LVM places it).
fn to_raid1(s: &mut Session, vg: &mut Vg, lv: &LogicalVolume, region: Option<Sectors>) -> Result<(), LvmError> {
    let name = lv.name.clone();
    let (m0, d0) = sub_names(&name, 0);
    for n in [&m0, &d0] {
        if vg.vg.lv(n).is_some() {
            return Err(LvmError::Exists(format!(
                "Logical Volume \"{n}\" already exists in volume group \"{}\"",
                vg.vg.name
            )));
        }
    }
    let size = vg.vg.extent_size.to_sectors(lv.extents());
    let region = region_for(s, size, region.unwrap_or(DEFAULT_REGION_SIZE));
    let meta_n = rmeta_extents(vg, size, region);
    let own = lv_pvs(lv);
    let placed = place_legs(vg, 1, meta_n, Extents(0), Some(&own), &[])
        .or_else(|| place_legs(vg, 1, meta_n, Extents(0), None, &[]))
        .ok_or_else(|| insufficient(&name, meta_n))?;
    let meta = new_lv(&m0, false, &placed[0].meta)?;
    let mut img = new_lv(&d0, false, &[])?;
    let v = vg.vg_mut();
    let top = v.lv_mut(&name).expect("the LV");
    img.segments = std::mem::take(&mut top.segments);
    top.segments.push(Segment {
        start_extent: Extents(0),
        extent_count: img.extents(),
        kind: SegmentKind::Raid(Raid {
            region_size: Some(region),
            writebehind: None,
            min_recovery_rate: None,
            max_recovery_rate: None,
            areas: vec![RaidArea { meta: Some(m0), data: d0 }],
        }),
        extra: vec![],
    });
    v.lvs.push(meta.clone());
    v.lvs.push(img);
    zero_start(vg, &meta)?;
    Ok(())
}

/// `n` new slots for raid LV `name`, on PVs no slot uses (of `pvs` when
/// given), flagged `REBUILD`, their rmetas zeroed.
fn add_slots(vg: &mut Vg, name: &str, n: usize, pvs: Option<&[String]>) -> Result<(), LvmError> {
    let lv = vg.vg.lv(name).expect("the LV").clone();
    let r = lv.raid().expect("a raid LV").clone();
    let extents = lv.extents();
    let size = vg.vg.extent_size.to_sectors(extents);
    let meta_n = rmeta_extents(vg, size, r.region_size.unwrap_or(DEFAULT_REGION_SIZE));
    let avoid: Vec<String> = vg.vg.raid_sub_lvs(name).iter().flat_map(|n| vg.vg.lv(n).map(lv_pvs)).flatten().collect();
    let placed = place_legs(vg, n, meta_n, extents, pvs, &avoid).ok_or_else(|| {
        LvmError::Insufficient(format!(
            "Insufficient suitable allocatable extents for logical volume {name}: {} more required",
            (extents + meta_n) * n as u64
        ))
    })?;
    let mut k = 0;
    let mut new = Vec::new();
    for leg in &placed {
        while vg.vg.lv(&sub_names(name, k).1).is_some() || vg.vg.lv(&sub_names(name, k).0).is_some() {
            k += 1;
        }
        let (mut d, m) = slot_lvs(name, k, leg)?;
        d.set_status(REBUILD, true);
        zero_start(vg, &m)?;
        let v = vg.vg_mut();
        v.lvs.push(d);
        v.lvs.push(m);
        new.push(sub_names(name, k));
        k += 1;
    }
    let v = vg.vg_mut();
    let rr = v.lv_mut(name).and_then(|l| l.raid_mut()).expect("a raid LV");
    rr.areas.extend(new.into_iter().map(|(m, d)| RaidArea { meta: Some(m), data: d }));
    Ok(())
}

/// `lvextend` of raid1 LV `name` by `add` extents: each image grows on
/// PVs that no other slot uses (its own first, as LVM's allocation
/// prefers), and the raid segment with them. The rmetas keep their size
/// when their bitmap still fits (one extent holds far more regions than
/// md's 2^21), and so does the region size; the target resynchronises
/// the new part when the bigger table is loaded, as the kernel's does.
pub fn extend_images(vg: &mut Vg, name: &str, add: Extents, pvs: Option<&[String]>) -> Result<(), LvmError> {
    let lv = vg.vg.lv(name).expect("the LV").clone();
    let r = lv.raid().expect("a raid LV").clone();
    let es = vg.vg.extent_size;
    let size = es.to_sectors(lv.extents() + add);
    let region = r.region_size.unwrap_or(DEFAULT_REGION_SIZE);
    if size.0.div_ceil(region.0.max(1)) > MAX_REGIONS {
        return Err(LvmError::Refused(format!(
            "ulvm cannot extend raid1 LV {}/{name} to {} with its region size of {}: more than {MAX_REGIONS} regions.",
            vg.vg.name,
            size_long(size),
            size_long(region)
        )));
    }
    let need_meta = rmeta_extents(vg, size, region);
    for a in &r.areas {
        if let Some(m) = a.meta.as_deref().and_then(|m| vg.vg.lv(m)) {
            if m.extents() < need_meta {
                return Err(LvmError::Refused(format!(
                    "ulvm cannot grow raid1 LV {}/{name}'s metadata LV {} yet.",
                    vg.vg.name, m.name
                )));
            }
        }
    }
    let need = add * r.areas.len() as u64;
    ensure_free(vg, need)?;
    let slot_pvs = |vg: &Vg, a: &RaidArea| -> Vec<String> {
        a.meta.iter().chain(std::iter::once(&a.data)).filter_map(|n| vg.vg.lv(n)).flat_map(lv_pvs).collect()
    };
    for (i, a) in r.areas.iter().enumerate() {
        let others: Vec<String> =
            r.areas.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, o)| slot_pvs(vg, o)).collect();
        let allowed: Vec<String> = candidate_pvs(vg, pvs).into_iter().filter(|k| !others.contains(k)).collect();
        let img =
            vg.vg.lv(&a.data).ok_or_else(|| LvmError::NotFound(format!("raid image {} is missing", a.data)))?.clone();
        let request = alloc::Request { extents: add, stripes: 1, pvs: Some(&allowed), extend: Some(&img) };
        let areas = alloc::allocate(&vg.vg, &request).map_err(|_| {
            LvmError::Insufficient(format!(
                "Insufficient suitable allocatable extents for logical volume {name}: {need} more required"
            ))
        })?;
        let from = img.extents();
        let slot = vg.vg_mut().lv_mut(&a.data).expect("the image");
        alloc::append_segments(slot, alloc::segments_from(&areas, from, Sectors(128)));
    }
    let top = vg.vg_mut().lv_mut(name).expect("the raid LV");
    top.segments[0].extent_count += add;
    Ok(())
}

/// Loads every device of active raid LV `lv` again from `plan`: the raid
/// suspended, each sub-LV suspended, loaded and resumed (or made), then
/// the raid's table loaded, so that the target reads its superblocks
/// again, and resumed (`lvchange --refresh`).
pub fn refresh(host: &mut dyn activate::DmHost, vg: &str, lv: &str, plan: &[DmDevice]) -> Result<(), LvmError> {
    let top = dm_name(vg, lv, None);
    host.suspend(&top, activate::LockFs::Skip)?;
    let change = (|| -> Result<(), LvmError> {
        for d in plan.iter().filter(|d| d.name != top) {
            activate::reload_or_create(host, d)?;
        }
        if let Some(d) = plan.iter().find(|d| d.name == top) {
            host.load(&top, &d.table, d.read_only)?;
        }
        Ok(())
    })();
    let resumed = host.resume(&top);
    change?;
    resumed?;
    Ok(())
}

/// Drops `n` slots of raid LV `name`: those on the PVs named first, else
/// the last. The slots left are renumbered from 0, as LVM renames them;
/// one slot left makes the LV linear on its image's extents.
fn remove_slots(vg: &mut Vg, name: &str, n: usize, pvs: Option<&[String]>) {
    let r = vg.vg.lv(name).and_then(|l| l.raid()).expect("a raid LV").clone();
    let on =
        |a: &RaidArea, pvs: &[String]| vg.vg.lv(&a.data).is_some_and(|l| lv_pvs(l).iter().any(|k| pvs.contains(k)));
    let mut gone: Vec<usize> = Vec::new();
    if let Some(pvs) = pvs {
        for (i, a) in r.areas.iter().enumerate() {
            if gone.len() < n && on(a, pvs) {
                gone.push(i);
            }
        }
    }
    for i in (0..r.areas.len()).rev() {
        if gone.len() < n && !gone.contains(&i) {
            gone.push(i);
        }
    }
    drop_slots(vg, name, &gone);
}

/// Takes slots `gone` out of raid LV `name` and its sub-LVs out of the VG.
fn drop_slots(vg: &mut Vg, name: &str, gone: &[usize]) {
    let r = vg.vg.lv(name).and_then(|l| l.raid()).expect("a raid LV").clone();
    let kept: Vec<RaidArea> =
        r.areas.iter().enumerate().filter(|(i, _)| !gone.contains(i)).map(|(_, a)| a.clone()).collect();
    let dropped: Vec<String> = r
        .areas
        .iter()
        .enumerate()
        .filter(|(i, _)| gone.contains(i))
        .flat_map(|(_, a)| a.meta.iter().cloned().chain(std::iter::once(a.data.clone())))
        .collect();
    let v = vg.vg_mut();
    v.lvs.retain(|l| !dropped.contains(&l.name));
    if kept.len() == 1 {
        let a = &kept[0];
        let segments = v.lv(&a.data).map(|l| l.segments.clone()).unwrap_or_default();
        v.lvs.retain(|l| l.name != a.data && Some(&l.name) != a.meta.as_ref());
        if let Some(top) = v.lv_mut(name) {
            top.segments = segments;
            top.set_status(NOTSYNCED, false);
            top.set_status(WRITEMOSTLY, false);
        }
        return;
    }
    // Renumber what is left: slot i is `_rmeta_i` / `_rimage_i` again.
    let mut areas = Vec::new();
    for (i, a) in kept.iter().enumerate() {
        let (m, d) = sub_names(name, i);
        if let Some(l) = v.lv_mut(&a.data) {
            l.name = d.clone();
        }
        if let Some(l) = a.meta.as_deref().and_then(|x| v.lv_mut(x)) {
            l.name = m.clone();
        }
        areas.push(RaidArea { meta: a.meta.as_ref().map(|_| m), data: d });
    }
    v.lv_mut(name).and_then(|l| l.raid_mut()).expect("a raid LV").areas = areas;
}

/// `lvconvert --type raid1` of a legacy mirror: its images become
/// `_rimage_N` (renamed), each gets an `_rmeta_N` on its own PVs, and the
/// mirror's log goes. The images are in sync already, so no slot is
/// rebuilt: the zeroed rmetas make the target take them as a new set,
/// which it synchronises from the first.
fn from_mirror(s: &mut Session, vg: &mut Vg, lv: &LogicalVolume) -> Result<(), LvmError> {
    let m = lv.mirror().expect("a mirror").clone();
    let name = lv.name.clone();
    let size = vg.vg.extent_size.to_sectors(lv.extents());
    let region = region_for(s, size, m.region_size.filter(|r| r.0 != 0).unwrap_or(DEFAULT_REGION_SIZE));
    let meta_n = rmeta_extents(vg, size, region);
    let log_and_subs: Vec<String> =
        m.mirror_log.iter().flat_map(|l| std::iter::once(l.clone()).chain(vg.vg.mirror_sub_lvs(l))).collect();
    vg.vg_mut().lvs.retain(|l| !log_and_subs.contains(&l.name));
    let mut areas = Vec::new();
    for (k, (image, _)) in m.areas.iter().enumerate() {
        let img = vg.vg.lv(image).ok_or_else(|| LvmError::NotFound(format!("mirror image {image} is missing")))?;
        let own = lv_pvs(img);
        let placed = place_legs(vg, 1, meta_n, Extents(0), Some(&own), &[])
            .or_else(|| {
                let others: Vec<String> = m
                    .areas
                    .iter()
                    .filter(|(n, _)| n != image)
                    .flat_map(|(n, _)| vg.vg.lv(n).map(lv_pvs).unwrap_or_default())
                    .collect();
                place_legs(vg, 1, meta_n, Extents(0), None, &others)
            })
            .ok_or_else(|| insufficient(&name, meta_n))?;
        let (mn, dn) = sub_names(&name, k);
        let meta = new_lv(&mn, false, &placed[0].meta)?;
        zero_start(vg, &meta)?;
        let v = vg.vg_mut();
        if let Some(l) = v.lv_mut(image) {
            l.name = dn.clone();
        }
        v.lvs.push(meta);
        areas.push(RaidArea { meta: Some(mn), data: dn });
    }
    let v = vg.vg_mut();
    let top = v.lv_mut(&name).expect("the LV");
    let count = top.extents();
    top.segments = vec![Segment {
        start_extent: Extents(0),
        extent_count: count,
        kind: SegmentKind::Raid(Raid {
            region_size: Some(region),
            writebehind: None,
            min_recovery_rate: None,
            max_recovery_rate: None,
            areas,
        }),
        extra: vec![],
    }];
    Ok(())
}

/// The slots of an active raid LV that failed: the target says `D`, or a
/// PV of the slot is missing.
fn failed_slots(vg: &Vg, lv: &LogicalVolume, status: Option<&RaidStatus>) -> Vec<usize> {
    let r = lv.raid().expect("a raid LV");
    let present = |n: &str| vg.vg.lv(n).is_some_and(|l| activate::lv_on_present_pvs(vg, l));
    r.areas
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !present(&a.data)
                || a.meta.as_deref().is_some_and(|m| !present(m))
                || status.and_then(|st| st.health.get(*i)).is_some_and(|h| *h == RaidHealth::Dead)
        })
        .map(|(i, _)| i)
        .collect()
}

/// What `lvconvert --repair` does with failed raid images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaidRepair {
    /// Ask (`-y` answers yes).
    Ask,
    /// Replace them (`--use-policies` with `raid_fault_policy = "allocate"`).
    Replace,
    /// Leave them (`--use-policies` with `"warn"`, LVM's default policy).
    Warn,
}

/// `lvconvert --repair VG/LV` of a raid1 LV: the failed slots get new
/// rmeta and rimage LVs (under the same names) on PVs no slot uses,
/// flagged `REBUILD`, so the target rebuilds them from the healthy ones;
/// then the flags are cleared. Whether anything was replaced.
pub fn repair(s: &mut Session, vg_name: &str, lv_name: &str, how: RaidRepair) -> Result<bool, LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let vg = s.vg(vg_name, false)?;
    let lv = find(&vg, lv_name)?.clone();
    let who = format!("{vg_name}/{lv_name}");
    if lv.raid().is_none() {
        return Err(not_raid(&vg, &lv));
    }
    if !is_active(s, &vg, lv_name)? {
        return Err(LvmError::Refused(format!("{who} must be active to perform this operation.")));
    }
    let replace = match how {
        RaidRepair::Replace => true,
        RaidRepair::Warn => false,
        RaidRepair::Ask => s.confirm("Attempt to replace failed RAID images (requires full device resync)?"),
    };
    if !replace {
        if how == RaidRepair::Warn {
            s.warn(format!("Use 'lvconvert --repair {who}' to replace failed device."));
        }
        return Ok(false);
    }
    let status = raid_status(s, vg_name, lv_name);
    let failed = failed_slots(&vg, &lv, status.as_ref());
    let r = lv.raid().expect("a raid LV").clone();
    if failed.is_empty() {
        s.print(format!("{who} does not contain devices specified to replace."));
        s.print(format!("Faulty devices in {who} successfully replaced."));
        return Ok(false);
    }
    if failed.len() == r.areas.len() {
        return Err(LvmError::Refused(format!(
            "Unable to replace all PVs from {who} at once.\n  Failed to replace faulty devices in {who}."
        )));
    }
    let family = activate::family_origin(&vg, lv_name);
    let before = activate::plan(&vg, &family)?;
    let extents = lv.extents();
    let size = vg.vg.extent_size.to_sectors(extents);
    let meta_n = rmeta_extents(&vg, size, r.region_size.unwrap_or(DEFAULT_REGION_SIZE));
    // Neither the healthy slots' PVs nor the failed ones'.
    let avoid: Vec<String> =
        vg.vg.raid_sub_lvs(lv_name).iter().flat_map(|n| vg.vg.lv(n).map(lv_pvs)).flatten().collect();
    let placed = place_legs(&vg, failed.len(), meta_n, extents, None, &avoid).ok_or_else(|| {
        LvmError::Insufficient(format!(
            "Insufficient suitable allocatable extents for logical volume {lv_name}: {} more required\n  Failed to replace faulty devices in {who}.",
            (extents + meta_n) * failed.len() as u64
        ))
    })?;
    let mut after = vg.clone();
    for (&i, leg) in failed.iter().zip(&placed) {
        let a = &r.areas[i];
        let mut data = new_lv(&a.data, false, &leg.data)?;
        data.set_status(REBUILD, true);
        let meta_name = a.meta.clone().unwrap_or_else(|| sub_names(lv_name, i).0);
        let meta = new_lv(&meta_name, false, &leg.meta)?;
        zero_start(&after, &meta)?;
        let v = after.vg_mut();
        for new in [data, meta] {
            match v.lv_mut(&new.name) {
                Some(slot) => *slot = new,
                None => v.lvs.push(new),
            }
        }
        v.lv_mut(lv_name).and_then(|l| l.raid_mut()).expect("a raid LV").areas[i].meta = Some(meta_name);
    }
    commit_and_reload(Change::Repair, s, &mut after, &family, &before, true)?;
    s.print(format!("Faulty devices in {who} successfully replaced."));
    Ok(true)
}

/// LVM's refusal of a raid-only command on another LV (oracle6 102, 105).
fn not_raid(vg: &Vg, lv: &LogicalVolume) -> LvmError {
    let who = format!("{}/{}", vg.vg.name, lv.name);
    let kind = match lv.segments.first().map(|s| &s.kind) {
        Some(SegmentKind::Striped { stripes, .. }) if stripes.len() == 1 => "linear",
        Some(SegmentKind::Striped { .. }) => "striped",
        Some(SegmentKind::Mirror(_)) => "mirror",
        Some(SegmentKind::Snapshot { .. }) => "snapshot",
        _ => "unknown",
    };
    LvmError::Refused(format!(
        "Command on LV {who} does not accept LV type {kind}.\n  Command not permitted on LV {who}."
    ))
}

/// `lvchange --syncaction check|repair VG/LV`: the message to the active
/// raid's target.
pub fn syncaction(s: &mut Session, vg_name: &str, lv_name: &str, action: RaidMessage) -> Result<(), LvmError> {
    let vg = s.vg(vg_name, true)?;
    let lv = find(&vg, lv_name)?.clone();
    let who = format!("{vg_name}/{lv_name}");
    if lv.raid().is_none() {
        return Err(not_raid(&vg, &lv));
    }
    if !is_active(s, &vg, lv_name)? {
        return Err(LvmError::Refused("Unable to send message to an inactive logical volume.".into()));
    }
    // As LVM: check and repair start only from idle (a resync or a
    // recovery is not interrupted).
    let Some(st) = raid_status(s, vg_name, lv_name) else {
        return Err(LvmError::Refused(format!("Failed to retrieve status of {who}.")));
    };
    if st.action != ulvm_dm_table::SyncAction::Idle {
        return Err(LvmError::Refused(format!(
            "{who} state is currently \"{}\".  Unable to switch to \"{}\".",
            st.action.as_str(),
            activate::raid_message_word(action)
        )));
    }
    let dev = raid_dev(s, vg_name, lv_name);
    s.host()?.raid_message(&dev, action)?;
    Ok(())
}

/// One `lvchange` of a raid LV's settings.
#[derive(Debug, Clone, Default)]
pub struct RaidChange {
    /// `--rebuild PV` (repeatable): the slots on these PVs are copied
    /// again from the others.
    pub rebuild: Vec<PathBuf>,
    /// `--writemostly PV[:y|n|t]`.
    pub writemostly: Vec<(PathBuf, Option<bool>)>,
    /// `--minrecoveryrate`, `--maxrecoveryrate`, KiB/s (0 clears).
    pub min_recovery_rate: Option<u32>,
    pub max_recovery_rate: Option<u32>,
    /// `--writebehind N` (0 clears).
    pub writebehind: Option<u32>,
}

/// `lvchange --rebuild`, `--writemostly`, `--min|maxrecoveryrate` on a
/// raid1 LV: the metadata changes, and an active LV is reloaded (a
/// rebuild is passed as `rebuild N` once, then the flag is cleared; an
/// inactive LV keeps it for its next activation).
pub fn lvchange_raid(s: &mut Session, vg_name: &str, lv_name: &str, c: &RaidChange) -> Result<(), LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let vg = s.vg(vg_name, false)?;
    let lv = find(&vg, lv_name)?.clone();
    let who = format!("{vg_name}/{lv_name}");
    let Some(r) = lv.raid().cloned() else {
        return Err(not_raid(&vg, &lv));
    };
    let family = activate::family_origin(&vg, lv_name);
    let before = activate::plan(&vg, &family)?;
    let active = is_active(s, &vg, lv_name)?;
    let mut after = vg.clone();
    let slot_on = |a: &RaidArea, key: &str| {
        a.meta
            .iter()
            .chain(std::iter::once(&a.data))
            .any(|n| vg.vg.lv(n).is_some_and(|l| lv_pvs(l).iter().any(|k| k == key)))
    };
    let only_rebuild = !c.rebuild.is_empty()
        && c.writemostly.is_empty()
        && c.min_recovery_rate.is_none()
        && c.max_recovery_rate.is_none()
        && c.writebehind.is_none();
    if !c.rebuild.is_empty() {
        // As LVM 2.03 (oracle6 106): a PV outside the VG is said, and the
        // command still succeeds.
        let keys = match pv_keys(&vg, &c.rebuild) {
            Ok(k) => k.unwrap_or_default(),
            Err(e) => {
                s.warn(e.to_string());
                return Ok(());
            }
        };
        if !s.confirm(&format!("Do you really want to rebuild {} PVs of logical volume {who}", c.rebuild.len())) {
            return Err(LvmError::Refused(format!("Logical volume {who} not rebuild.")));
        }
        let slots: Vec<usize> =
            r.areas.iter().enumerate().filter(|(_, a)| keys.iter().any(|k| slot_on(a, k))).map(|(i, _)| i).collect();
        if slots.is_empty() {
            return Err(LvmError::Refused(format!(
                "Logical volume {who} does not contain any of the PVs to rebuild.\n  Failed to rebuild {who}."
            )));
        }
        if slots.len() == r.areas.len() {
            return Err(LvmError::Refused(format!("Unable to rebuild all images of {who} at once.")));
        }
        let v = after.vg_mut();
        for i in slots {
            if let Some(l) = v.lv_mut(&r.areas[i].data) {
                l.set_status(REBUILD, true);
            }
        }
    }
    for (p, on) in &c.writemostly {
        let keys = pv_keys(&vg, std::slice::from_ref(p))?.unwrap_or_default();
        let v = after.vg_mut();
        for a in r.areas.iter().filter(|a| keys.iter().any(|k| slot_on(a, k))) {
            if let Some(l) = v.lv_mut(&a.data) {
                let set = on.unwrap_or(!l.has_status(WRITEMOSTLY));
                l.set_status(WRITEMOSTLY, set);
            }
        }
    }
    {
        let rr = after.vg_mut().lv_mut(lv_name).and_then(|l| l.raid_mut()).expect("a raid LV");
        if let Some(v) = c.min_recovery_rate {
            rr.min_recovery_rate = (v != 0).then_some(v);
        }
        if let Some(v) = c.max_recovery_rate {
            rr.max_recovery_rate = (v != 0).then_some(v);
        }
        if let Some(v) = c.writebehind {
            rr.writebehind = (v != 0).then_some(v);
        }
    }
    commit_and_reload(Change::Settings, s, &mut after, &family, &before, active)?;
    // LVM says nothing after a rebuild it was asked for alone.
    if !only_rebuild {
        s.print(format!("Logical volume {who} changed."));
    }
    Ok(())
}

/// `lvs`'s view of a raid LV's sub-LV: its slot's health in the active
/// raid's status. `None` when the raid is not active.
pub fn slot_health(status: &RaidStatus, role: RaidRole) -> Option<RaidHealth> {
    let i = match role {
        RaidRole::Image { index } | RaidRole::Meta { index } => index,
    };
    status.health.get(i).copied()
}
