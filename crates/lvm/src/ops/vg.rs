//! `vgcreate`, and what `vgextend` shares with it: devices become PVs
//! (labelled if they are not PVs yet) and join a VG.

use super::Session;
use crate::disk::{self, PvDisk, Vg};
use crate::model::{PhysicalVolume, VolumeGroup};
use crate::names::check_name;
use crate::pv as lvmpv;
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;

/// LVM's default extent size: 4 MiB.
pub const DEFAULT_EXTENT_SIZE: u64 = 8192;
/// LVM's `pv_min_size`: 2 MiB.
pub const PV_MIN_SIZE: Sectors = Sectors(2 * 2048);

/// One `vgcreate`.
#[derive(Debug, Clone)]
pub struct VgCreate {
    pub name: String,
    pub pvs: Vec<PathBuf>,
    /// Sectors: a power of two, at least 8.
    pub extent_size: u64,
    pub max_lv: u64,
    pub max_pv: u64,
}

impl VgCreate {
    pub fn new(name: &str, pvs: Vec<PathBuf>) -> VgCreate {
        VgCreate { name: name.to_string(), pvs, extent_size: DEFAULT_EXTENT_SIZE, max_lv: 0, max_pv: 0 }
    }
}

/// Opens each device as a PV, making a PV of those that are not one yet
/// (as vgcreate and vgextend do, recording them in the devices file as
/// `command`). Refuses PVs that are in a VG, before writing anything.
pub fn pvs_for_vg(s: &mut Session, paths: &[PathBuf], command: &str) -> Result<Vec<PvDisk>, LvmError> {
    let (_, vgs) = s.scan(true)?;
    for p in paths {
        let in_vg = super::vg_of_device(&vgs, p)
            .map(|v| v.vg.name.clone())
            .or_else(|| disk::read_pv(p, true).ok().flatten().and_then(|d| d.vg.map(|m| m.0.name.clone())));
        if let Some(v) = in_vg {
            return Err(LvmError::Refused(format!(
                "Physical volume '{}' is already in volume group '{v}'",
                p.display()
            )));
        }
        let dev =
            disk::open_device(p, false).map_err(|e| LvmError::Refused(format!("Cannot use {}: {e}", p.display())))?;
        if dev.size().0 < PV_MIN_SIZE.0 * 2 {
            return Err(LvmError::Refused(format!(
                "Cannot use {}: device is too small (pv_min_size is {}).",
                p.display(),
                size_long(PV_MIN_SIZE.0)
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

/// A PV's entry in a VG with extents of `extent_size` sectors.
pub fn pv_entry(key: String, d: &PvDisk, extent_size: u64) -> Result<PhysicalVolume, LvmError> {
    let pe_start = d.label.data_areas.first().map(|a| a.offset / 512).unwrap_or(2048);
    let dev = d.dev_sectors();
    if dev < pe_start + extent_size {
        return Err(LvmError::Refused(format!(
            "{}: too small for one extent of {}",
            d.path.display(),
            size_long(extent_size)
        )));
    }
    Ok(PhysicalVolume {
        key,
        id: d.uuid(),
        device: Some(d.path.display().to_string()),
        status: vec!["ALLOCATABLE".into()],
        flags: vec![],
        dev_size: Some(dev),
        pe_start,
        pe_count: (dev - pe_start) / extent_size,
        extra: vec![],
    })
}

/// Creates the VG.
pub fn vgcreate(s: &mut Session, c: &VgCreate) -> Result<(), LvmError> {
    let name = c.name.as_str();
    check_name(name, "volume group")?;
    let _g = s.lock_global()?;
    let _l = s.lock_vg(name)?;
    let (_, vgs) = s.scan(true)?;
    if vgs.contains_key(name) {
        return Err(LvmError::Exists(format!("A volume group called {name} already exists.")));
    }
    let disks = pvs_for_vg(s, &c.pvs, "vgcreate")?;
    let mut pvs = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        pvs.push(pv_entry(format!("pv{i}"), d, c.extent_size)?);
    }
    let mut vg = Vg {
        vg: VolumeGroup {
            name: name.to_string(),
            id: lvmpv::new_uuid()?,
            seqno: 0,
            status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
            flags: vec![],
            extent_size: c.extent_size,
            max_lv: c.max_lv,
            max_pv: c.max_pv,
            metadata_copies: 0,
            pvs,
            lvs: vec![],
            extra: vec![],
        },
        text: String::new(),
        disks: disks.into_iter().enumerate().map(|(i, d)| (format!("pv{i}"), d)).collect(),
        missing: vec![],
        stale: vec![],
    };
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully created"));
    Ok(())
}
