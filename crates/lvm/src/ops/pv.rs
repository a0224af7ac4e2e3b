//! `pvcreate`, `pvremove`, `pvchange -x`, `pvresize`.

use super::vg::PV_MIN_SIZE;
use super::{shared_refusal, vg_of_device, Session};
use crate::disk;
use crate::model::Uuid;
use crate::pv as lvmpv;
use crate::size::parse_size;
use crate::LvmError;
use std::path::PathBuf;

fn refused<T>(msg: String) -> Result<T, LvmError> {
    Err(LvmError::Refused(msg))
}

/// Labels devices as PVs; every device is checked before any is written.
/// `uuid` (`--uuid`) gives the (single) new PV that UUID.
pub fn pvcreate(s: &mut Session, paths: &[PathBuf], uuid: Option<Uuid>) -> Result<(), LvmError> {
    let _g = s.lock_global()?;
    let (_, vgs) = s.scan(true)?;
    for p in paths {
        let in_vg = vg_of_device(&vgs, p)
            .map(|v| v.vg.name.clone())
            .or_else(|| disk::read_pv(p, true).ok().flatten().and_then(|d| d.vg.map(|m| m.vg.name.clone())));
        if let Some(vg) = in_vg {
            return refused(format!(
                "Can't initialize physical volume \"{}\" of volume group \"{vg}\" without -ff",
                p.display()
            ));
        }
        let dev =
            disk::open_device(p, false).map_err(|e| LvmError::Refused(format!("Cannot use {}: {e}", p.display())))?;
        if dev.size() < PV_MIN_SIZE + PV_MIN_SIZE {
            return refused(format!("Cannot use {}: device is too small (pv_min_size is 2.00 MiB).", p.display()));
        }
    }
    let mut remembered = Vec::new();
    for p in paths {
        let dev = disk::open_device(p, false)?;
        let id = match uuid {
            Some(u) => u,
            None => lvmpv::new_uuid()?,
        };
        lvmpv::format_pv(dev.as_ref(), id)?;
        remembered.push((p.clone(), Some(String::from_utf8_lossy(&id.0).into_owned())));
        s.print(format!("Physical volume \"{}\" successfully created.", p.display()));
    }
    s.remember_devices(&remembered, "pvcreate")
}

/// Wipes the labels of PVs that are in no VG.
pub fn pvremove(s: &mut Session, paths: &[PathBuf]) -> Result<(), LvmError> {
    let _g = s.lock_global()?;
    let (scan, vgs) = s.scan(true)?;
    for p in paths {
        if let Some(vg) = vg_of_device(&vgs, p) {
            return Err(LvmError::InUse(format!(
                "PV {} is used by VG {} so please use vgreduce first.\n(If you are certain you need pvremove, then confirm by using --force twice.)",
                p.display(),
                vg.vg.name
            )));
        }
        if !scan.pvs.iter().any(|d| &d.path == p) && disk::read_pv(p, true).ok().flatten().is_none() {
            return Err(LvmError::NotFound(format!("No PV found on device {}.", p.display())));
        }
    }
    for p in paths {
        let Some(d) = disk::read_pv(p, false)? else { continue };
        lvmpv::wipe_label(d.dev.as_ref(), &d.label)?;
        s.forget_device(p, "pvremove")?;
        s.print(format!("Labels on physical volume \"{}\" successfully wiped.", p.display()));
    }
    Ok(())
}

/// `pvchange -x y|n` of `paths` (every PV of every local VG when `None`).
/// Returns the exit status LVM gives: 5 when a PV was refused (a shared
/// VG's), with LVM's summary line printed either way.
pub fn pvchange_allocatable(s: &mut Session, paths: Option<&[PathBuf]>, allocatable: bool) -> Result<i32, LvmError> {
    let (_, vgs) = s.scan(true)?;
    let mut changed = 0;
    let mut status = 0;
    for p in paths.unwrap_or(&[]) {
        if let Some(v) = vg_of_device(&vgs, p).filter(|v| shared_refusal(v).is_some()) {
            s.warn(format!("Cannot use PV {} in shared VG {}.", p.display(), v.vg.name));
            status = 5;
        }
    }
    for name in vgs.keys() {
        if shared_refusal(&vgs[name]).is_some() {
            continue;
        }
        let _l = s.lock_vg(name)?;
        let mut vg = s.vg(name, false)?;
        let mut touched = Vec::new();
        let keys: Vec<String> = vg
            .disks
            .iter()
            .filter(|(_, d)| paths.is_none_or(|ps| ps.contains(&d.path)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let path = vg.pv_path(&k);
            let has = vg.vg.pv(&k).expect("key from the VG").allocatable();
            if has == allocatable {
                s.print(format!(
                    "Physical volume \"{path}\" is already {}allocatable.",
                    if allocatable { "" } else { "un" }
                ));
                continue;
            }
            let pv = vg.vg_mut().pvs.iter_mut().find(|p| p.key == k).expect("key from the VG");
            if allocatable {
                pv.status.insert(0, "ALLOCATABLE".into());
            } else {
                pv.status.retain(|f| f != "ALLOCATABLE");
            }
            touched.push(path);
        }
        if !touched.is_empty() {
            s.commit(&mut vg)?;
            for p in touched {
                s.print(format!("Physical volume \"{p}\" changed"));
                changed += 1;
            }
        }
    }
    // PVs in no VG come after the VGs' PVs, as in LVM's walk; an lvm2
    // PV has no allocatable flag of its own outside a VG.
    let mut not_changed = 0;
    for p in paths.unwrap_or(&[]) {
        if vg_of_device(&vgs, p).is_none() {
            s.warn(format!("Allocatability not supported by orphan lvm2 format PV {}", p.display()));
            s.warn(format!("Physical volume {} not changed", p.display()));
            not_changed += 1;
            status = 5;
        }
    }
    let volumes = |n: usize| if n == 1 { "physical volume" } else { "physical volumes" };
    s.print(format!("{changed} {} changed / {not_changed} {} not changed", volumes(changed), volumes(not_changed)));
    Ok(status)
}

/// `pvresize [--setphysicalvolumesize SIZE]`: the PV follows its device's
/// size (or `set`), never below its last allocated extent.
pub fn pvresize(s: &mut Session, paths: &[PathBuf], set: Option<&str>) -> Result<(), LvmError> {
    let set = match set {
        Some(v) => Some(parse_size(v, 'm').map_err(|e| LvmError::Usage(e.0))?.sectors),
        None => None,
    };
    let _g = s.lock_global()?;
    let (_, vgs) = s.scan(true)?;
    let mut done = 0;
    for p in paths {
        let dev = disk::open_device(p, false)?;
        let dev_sectors = dev.size();
        let sectors = set.unwrap_or(dev_sectors);
        if sectors > dev_sectors {
            return refused(format!(
                "{}: requested size {} exceeds the device size {}.",
                p.display(),
                sectors,
                dev_sectors
            ));
        }
        let Some(mut d) = disk::read_pv(p, false)? else {
            return Err(LvmError::NotFound(format!("Failed to find physical volume \"{}\".", p.display())));
        };
        if let Some(vgname) = vg_of_device(&vgs, p).map(|v| v.vg.name.clone()) {
            let _l = s.lock_vg(&vgname)?;
            let mut vg = s.vg(&vgname, false)?;
            let key = vg.key_of(p).expect("PV of this VG");
            let es = vg.vg.extent_size;
            let used_end = crate::alloc::pv_segments(&vg.vg)[&key]
                .iter()
                .filter(|x| x.used_by.is_some())
                .map(|x| x.pe + x.len)
                .max()
                .unwrap_or_default();
            let entry = vg.vg_mut().pvs.iter_mut().find(|x| x.key == key).expect("key");
            let count = es.extents_floor(sectors.checked_sub(entry.pe_start).unwrap_or_default());
            if count < used_end {
                return refused(format!(
                    "{}: cannot resize to {count} extents as later ones are allocated.",
                    p.display()
                ));
            }
            entry.pe_count = count;
            entry.dev_size = Some(sectors);
            let disk = vg.disks.get_mut(&key).expect("disk");
            disk.label.device_size = sectors.bytes().0;
            lvmpv::set_in_use(disk.dev.as_ref(), &mut disk.label, true)?;
            s.commit(&mut vg)?;
        } else {
            d.label.device_size = sectors.bytes().0;
            let used = d.label.in_use();
            lvmpv::set_in_use(d.dev.as_ref(), &mut d.label, used)?;
        }
        s.print(format!("Physical volume \"{}\" changed", p.display()));
        done += 1;
    }
    s.print(format!("{done} physical volume(s) resized or updated / 0 physical volume(s) not resized"));
    Ok(())
}
