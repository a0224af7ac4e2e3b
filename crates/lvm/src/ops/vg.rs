//! `vgcreate`, and what `vgextend` shares with it: devices become PVs
//! (labelled if they are not PVs yet) and join a VG.

use super::Session;
use crate::disk::{self, PvDisk, Vg};
use crate::extent::ExtentSize;
use crate::model::{PhysicalVolume, VolumeGroup};
use crate::names::{check_name, dm_name};
use crate::pv as lvmpv;
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use std::sync::Arc;
use ulvm_blockdev::Sectors;

/// LVM's default extent size: 4 MiB.
pub const DEFAULT_EXTENT_SIZE: ExtentSize = ExtentSize::new(Sectors(8192)).expect("non-zero");
/// LVM's `pv_min_size`: 2 MiB.
pub const PV_MIN_SIZE: Sectors = Sectors(2 * 2048);

/// One `vgcreate`.
#[derive(Debug, Clone)]
pub struct VgCreate {
    pub name: String,
    pub pvs: Vec<PathBuf>,
    /// A power of two, at least 8 sectors.
    pub extent_size: ExtentSize,
    pub max_lv: u64,
    pub max_pv: u64,
    /// `--setautoactivation n` makes a VG that `-aay` leaves alone.
    pub autoactivation: bool,
    /// `--addtag`s, in order.
    pub tags: Vec<String>,
    /// `--shared`: a VG for several hosts, `lock_type = "sanlock"`, with
    /// its `lvmlock` LV and leases (see [`super::lockd`]).
    pub shared: bool,
}

impl VgCreate {
    pub fn new(name: &str, pvs: Vec<PathBuf>) -> VgCreate {
        VgCreate {
            name: name.to_string(),
            pvs,
            extent_size: DEFAULT_EXTENT_SIZE,
            max_lv: 0,
            max_pv: 0,
            autoactivation: true,
            tags: Vec::new(),
            shared: false,
        }
    }
}

/// Opens each device as a PV, making a PV of those that are not one yet
/// (as vgcreate and vgextend do, recording them in the devices file as
/// `command`). Refuses PVs that are in a VG, before writing anything.
pub fn pvs_for_vg(s: &mut Session, paths: &[PathBuf], command: &str) -> Result<Vec<PvDisk>, LvmError> {
    // LVM checks the PVs before it reads a VG: no warnings about the VGs'
    // metadata yet.
    let (_, vgs) = s.scan_quiet(true)?;
    for p in paths {
        let in_vg = super::vg_of_device(&vgs, p)
            .map(|v| v.vg.name.clone())
            .or_else(|| disk::read_pv(p, true).ok().flatten().and_then(|d| d.vg.map(|m| m.vg.name.clone())));
        if let Some(v) = in_vg {
            return Err(LvmError::Refused(format!(
                "Physical volume '{}' is already in volume group '{v}'",
                p.display()
            )));
        }
        let dev =
            disk::open_device(p, false).map_err(|e| LvmError::Refused(format!("Cannot use {}: {e}", p.display())))?;
        if dev.size() < PV_MIN_SIZE + PV_MIN_SIZE {
            return Err(LvmError::Refused(format!(
                "Cannot use {}: device is too small (pv_min_size is {}).",
                p.display(),
                size_long(PV_MIN_SIZE)
            )));
        }
    }
    let mut out = Vec::new();
    let mut new = Vec::new();
    for p in paths {
        let d = match disk::read_pv(p, false)? {
            Some(d) => d,
            None => {
                let dev = disk::open_device(p, false)?;
                lvmpv::format_pv(dev.as_ref(), lvmpv::new_uuid()?)?;
                s.print(format!("Physical volume \"{}\" successfully created.", p.display()));
                disk::read_pv(p, false)?
                    .ok_or_else(|| LvmError::Refused(format!("{}: PV label not found after writing it", p.display())))?
            }
        };
        new.push((p.clone(), Some(String::from_utf8_lossy(&d.label.uuid).into_owned())));
        out.push(d);
    }
    s.remember_devices(&new, command)?;
    Ok(out)
}

/// A PV's entry in a VG with extents of `extent_size`.
pub fn pv_entry(key: String, d: &PvDisk, extent_size: ExtentSize) -> Result<PhysicalVolume, LvmError> {
    let pe_start = d.pe_start();
    let dev = d.dev_sectors();
    if dev < pe_start + extent_size.sectors() {
        return Err(LvmError::Refused(format!(
            "{}: too small for one extent of {}",
            d.path.display(),
            size_long(extent_size.sectors())
        )));
    }
    Ok(PhysicalVolume {
        key,
        id: d.uuid(),
        device: Some(d.path.display().to_string()),
        status: vec!["ALLOCATABLE".into()],
        flags: vec![],
        tags: Vec::new(),
        dev_size: Some(dev),
        pe_start,
        pe_count: extent_size.extents_floor(dev - pe_start),
        extra: vec![],
    })
}

/// Creates the VG.
pub fn vgcreate(s: &mut Session, c: &VgCreate) -> Result<(), LvmError> {
    let name = c.name.as_str();
    check_name(name, "volume group")?;
    let _g = s.lock_global_local()?;
    let _l = s.lock_vg(name)?;
    let (_, vgs) = s.scan(true)?;
    if vgs.contains_key(name) {
        return Err(LvmError::Exists(format!("A volume group called {name} already exists.")));
    }
    // The first shared VG holds the global lock (lvmlockd's choice).
    let global = !vgs.values().any(|v| v.vg.lock_type() == Some("sanlock"));
    if c.shared {
        super::lockd::check_can_share(s, name)?;
    }
    // The first shared VG makes the global lock; before it there is none
    // to take.
    if !(c.shared && global) {
        s.lock_global_lease()?;
    }
    if c.shared && global {
        s.print("Enabling sanlock global lock");
    }
    let disks = pvs_for_vg(s, &c.pvs, "vgcreate")?;
    let mut pvs = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        pvs.push(pv_entry(format!("pv{i}"), d, c.extent_size)?);
    }
    let mut vg = Vg {
        vg: Arc::new(VolumeGroup {
            name: name.to_string(),
            id: lvmpv::new_uuid()?,
            seqno: 0,
            status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
            flags: if c.autoactivation { vec![] } else { vec![crate::model::NOAUTOACTIVATE.into()] },
            tags: {
                let mut tags = Vec::new();
                super::tags::TagEdit { add: c.tags.clone(), del: vec![] }.apply(&mut tags);
                tags
            },
            extent_size: c.extent_size,
            max_lv: c.max_lv,
            max_pv: c.max_pv,
            metadata_copies: 0,
            pvs,
            lvs: vec![],
            extra: vec![],
        }),
        text: "".into(),
        disks: disks.into_iter().enumerate().map(|(i, d)| (format!("pv{i}"), d)).collect(),
        missing: vec![],
        stale: vec![],
        lockd: false,
    };
    if c.shared {
        // Three versions, as vgcreate --shared writes them with lvmlockd:
        // the VG with its lock type, then its lock LV, then its lock_args
        // once the leases are written.
        set_lock_type(&mut vg);
        s.commit(&mut vg)?;
        add_lock_lv(&mut vg)?;
        s.commit(&mut vg)?;
        set_lock_args(&mut vg);
        if let Err(e) = super::lockd::init_vg(&vg, global) {
            // A VG without its leases is no use: it goes again.
            for d in vg.disks.values_mut() {
                let _ = disk::make_orphan(d);
            }
            return Err(e);
        }
    }
    s.commit(&mut vg)?;
    if c.shared {
        s.print(format!("Logical volume \"{}\" created.", crate::lockd::LOCK_LV));
    }
    s.print(format!("Volume group \"{name}\" successfully created"));
    if c.shared {
        s.print(format!("VG {name} starting sanlock lockspace"));
        s.print("Starting locking.  Waiting until locks are ready...");
        super::lockd::lockstart(s, &vg)?;
    }
    Ok(())
}

/// A new VG made shared: `lock_type = "sanlock"`, `lock_args`, and the
/// hidden `lvmlock` LV (256 MiB, linear, on the first PV with room) that
/// holds the leases, as vgcreate --shared makes them with lvmlockd.
pub(crate) fn share(vg: &mut Vg) -> Result<(), LvmError> {
    set_lock_type(vg);
    add_lock_lv(vg)?;
    set_lock_args(vg);
    Ok(())
}

fn set_lock_type(vg: &mut Vg) {
    vg.vg_mut().extra.push(crate::text::Item::Assign("lock_type".into(), crate::text::Value::Str("sanlock".into())));
}

fn set_lock_args(vg: &mut Vg) {
    let args = crate::lockd::vg_lock_args();
    vg.vg_mut().extra.push(crate::text::Item::Assign("lock_args".into(), crate::text::Value::Str(args.into())));
}

fn add_lock_lv(vg: &mut Vg) -> Result<(), LvmError> {
    use crate::lockd::{LOCK_LV, LOCK_LV_BYTES};
    let extents = vg.vg.extent_size.extents_ceil(Sectors(LOCK_LV_BYTES / 512));
    let areas = super::common::allocate(vg, LOCK_LV, extents, 1, None, None)?;
    let mut lv = crate::model::LogicalVolume {
        name: LOCK_LV.into(),
        id: lvmpv::new_uuid()?,
        status: vec!["READ".into(), "WRITE".into()],
        flags: vec![],
        tags: vec![],
        creation_time: Some(super::now()),
        creation_host: Some(disk::hostname()),
        segments: vec![],
        extra: vec![crate::text::Item::Assign("read_ahead".into(), crate::text::Value::Int(-1))],
    };
    crate::alloc::append_segments(
        &mut lv,
        crate::alloc::segments_from(&areas, crate::extent::Extents(0), Sectors(128)),
    );
    vg.vg_mut().lvs.push(lv);
    Ok(())
}

/// `vgchange --setautoactivation y|n`; refused, with nothing written, when
/// the VG has it already.
pub fn vgchange_autoactivation(s: &mut Session, name: &str, on: bool) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    let mut vg = s.vg(name, false)?;
    if !vg.vg_mut().set_autoactivation(on) {
        return Err(LvmError::Refused(format!(
            "Volume group autoactivation is already {}.",
            if on { "yes" } else { "no" }
        )));
    }
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully changed"));
    Ok(())
}

/// `vgchange --addtag/--deltag`: the VG is written even when its tags
/// stay as they were, as LVM does.
pub fn vgchange_tags(s: &mut Session, name: &str, edit: &super::tags::TagEdit) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    let mut vg = s.vg(name, false)?;
    edit.apply_del_first(&mut vg.vg_mut().tags);
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully changed"));
    Ok(())
}

/// Names of the active LVs of a VG (those with a top-level device).
pub(crate) fn active_lvs(s: &mut Session, vg: &Vg) -> Vec<String> {
    let names: Vec<String> = vg.vg.user_lvs().map(|l| l.name.clone()).collect();
    let Some(h) = s.host_if_running() else { return Vec::new() };
    names.into_iter().filter(|n| crate::activate::is_active(h, vg, n).ok().flatten().is_some()).collect()
}

/// `vgremove`: its LVs are deactivated and its PVs become orphans (after a
/// question if it has LVs, unless `force`).
pub fn vgremove(s: &mut Session, name: &str, force: bool) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    let mut vg = s.vg(name, false)?;
    // A shared VG's lock LV goes with it, unannounced.
    let lock_lv = super::lockd::LockLv::name(&vg);
    let lvs: Vec<String> =
        vg.vg.user_lvs().filter(|l| Some(&l.name) != lock_lv.as_ref()).map(|l| l.name.clone()).collect();
    if !lvs.is_empty() && !force {
        let q =
            format!("Do you really want to remove volume group \"{name}\" containing {} logical volumes?", lvs.len());
        if !s.confirm(&q) {
            return Err(LvmError::Refused(format!("Volume group \"{name}\" not removed")));
        }
    }
    for lv in active_lvs(s, &vg) {
        super::lockd::deactivate_lv(s, &vg, &lv)?;
    }
    for lv in &lvs {
        s.print(format!("Logical volume \"{lv}\" successfully removed."));
    }
    if lock_lv.is_some() {
        // This host leaves the lockspace before its delta lease's disk
        // becomes free space.
        super::lockd::leave(s, &vg);
    }
    for d in vg.disks.values_mut() {
        disk::make_orphan(d)?;
    }
    let _ = std::fs::remove_file(s.sd.backup_dir().join(name));
    s.print(format!("Volume group \"{name}\" successfully removed"));
    Ok(())
}

/// `vgextend`: devices (made PVs if they are not) join the VG.
pub fn vgextend(s: &mut Session, name: &str, paths: &[PathBuf]) -> Result<(), LvmError> {
    let _g = s.lock_global()?;
    let _l = s.lock_vg(name)?;
    let disks = pvs_for_vg(s, paths, "vgextend")?;
    let mut vg = s.vg(name, false)?;
    for d in disks {
        let key = vg.vg.next_pv_key();
        let entry = pv_entry(key.clone(), &d, vg.vg.extent_size)?;
        vg.vg_mut().pvs.push(entry);
        vg.disks.insert(key, d);
    }
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully extended"));
    Ok(())
}

/// `vgreduce`: unused PVs leave the VG (`paths`, or every unused one when
/// `None`, as `-a`).
pub fn vgreduce(s: &mut Session, name: &str, paths: Option<&[PathBuf]>) -> Result<(), LvmError> {
    let _g = s.lock_global()?;
    let _l = s.lock_vg(name)?;
    let mut vg = s.vg(name, false)?;
    let segs = crate::alloc::pv_segments(&vg.vg);
    let used = |k: &str| segs.get(k).is_some_and(|x| x.iter().any(|x| x.used_by.is_some()));
    let keys: Vec<String> = match paths {
        None => vg.vg.pvs.iter().filter(|p| !used(&p.key)).map(|p| p.key.clone()).collect(),
        Some(paths) => {
            let mut keys = Vec::new();
            for p in paths {
                let Some(k) = vg.key_of(p) else {
                    return Err(LvmError::NotFound(format!(
                        "Physical volume \"{}\" not in volume group \"{name}\"",
                        p.display()
                    )));
                };
                if used(&k) {
                    return Err(LvmError::InUse(format!("Physical volume \"{}\" still in use", p.display())));
                }
                keys.push(k);
            }
            keys
        }
    };
    if keys.len() >= vg.vg.pvs.len() {
        return Err(LvmError::Refused(format!("Can't remove final physical volume from volume group \"{name}\"")));
    }
    let mut removed = Vec::new();
    for k in &keys {
        vg.vg_mut().pvs.retain(|p| &p.key != k);
        if let Some(d) = vg.disks.remove(k) {
            removed.push(d);
        }
    }
    s.commit(&mut vg)?;
    for mut d in removed {
        disk::make_orphan(&mut d)?;
        s.print(format!("Removed \"{}\" from volume group \"{name}\"", d.path.display()));
    }
    Ok(())
}

/// `vgrename`: active LVs keep running under their new names (tables refer
/// to device numbers, and the dm UUIDs hold the VG's UUID, not its name).
pub fn vgrename(s: &mut Session, old: &str, new: &str) -> Result<(), LvmError> {
    check_name(new, "volume group")?;
    // Before any lock: the second lock of one name would wait for the first.
    if old == new {
        return Err(LvmError::Refused("Old and new volume group names must differ".into()));
    }
    let _g = s.lock_global()?;
    let _l = s.lock_vg(old)?;
    let _n = s.lock_vg(new)?;
    let (_, vgs) = s.scan(true)?;
    if vgs.contains_key(new) {
        return Err(LvmError::Exists(format!("New volume group \"{new}\" already exists")));
    }
    // LVM renames an exported VG too.
    let mut vg = super::export::exported_vg(s, old)?;
    // A shared VG's lockspace and leases carry its name: renamed with it,
    // once no other host uses them.
    let shared = vg.vg.lock_type().is_some();
    if shared {
        vg = super::lockd::before_rename(s, vg)?;
    }
    let lvs: Vec<String> = vg.vg.lvs.iter().map(|l| l.name.clone()).collect();
    if let Some(h) = s.host_if_running() {
        for lv in &lvs {
            for layer in [None, Some("real"), Some("cow")] {
                let from = dm_name(old, lv, layer);
                if h.state(&from)?.is_some() {
                    h.rename(&from, &dm_name(new, lv, layer))?;
                }
            }
        }
    }
    let before = vg.clone();
    vg.vg_mut().name = new.to_string();
    s.commit(&mut vg)?;
    let _ = std::fs::remove_file(s.sd.backup_dir().join(old));
    if shared {
        super::lockd::after_rename(s, &before, &vg)?;
    }
    s.print(format!("Volume group \"{old}\" successfully renamed to \"{new}\""));
    Ok(())
}

/// `vgchange -a y|n` of one VG: every origin and plain LV (snapshots come
/// with their origin). `-a y` takes what [`super::activation`] allows
/// (see [`super::activation::activate_vg`] for `-aay` and `-K`).
/// Failures of single LVs are warned about and make the exit status 5, as
/// LVM's; the VG is returned for the jobs an activation resumes.
pub fn vgchange_activate(s: &mut Session, name: &str, on: bool) -> Result<(Vg, i32), LvmError> {
    if on {
        let r = super::activation::activate_vg(s, name, super::activation::Activation::YES)?;
        return Ok((r.vg, r.status));
    }
    let _l = s.lock_vg(name)?;
    let vg = s.vg(name, true)?;
    let tops: Vec<String> = super::activation::tops(&vg).iter().map(|l| l.name.clone()).collect();
    s.host()?;
    let mut errors = Vec::new();
    for lv in &tops {
        if let Err(e) = super::lockd::deactivate_lv(s, &vg, lv) {
            errors.push(e);
        }
    }
    let status = super::activation::summarize(s, &vg, errors);
    Ok((vg, status))
}
