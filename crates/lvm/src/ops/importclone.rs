//! `vgimportclone`: a VG on copied disks (a snapshot of a SAN LUN, a
//! `dd` of a PV) made a VG of its own, as LVM 2.03.16 does it. The copies
//! carry the same PV UUIDs and VG UUID as the originals, so LVM sees them
//! as duplicates; vgimportclone gives each named PV a new UUID (in its
//! label and the metadata), the VG a new UUID and a new name, and writes
//! the metadata to those PVs only. The name is `-n NAME` or the VG's own;
//! if a VG has it already, LVM appends the first number that makes it
//! free (`vg1` becomes `vg11`, then `vg12`). An exported VG is imported
//! with `--import` and refused without it. Nothing is printed on
//! success. The PVs join the devices file.

use super::{check_local, Session};
use crate::disk::{self, PvDisk, Vg};
use crate::names::check_name;
use crate::pv as lvmpv;
use crate::LvmError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// One `vgimportclone`.
#[derive(Debug, Clone, Default)]
pub struct ImportClone {
    /// The copied PVs: every PV of the VG.
    pub devices: Vec<PathBuf>,
    /// `-n|--basevgname`.
    pub base_name: Option<String>,
    /// `-i|--import`: the VG may be exported (it is imported).
    pub import: bool,
}

/// The name the clone gets: `base` if no VG has it, else `base` with the
/// first number from 1 that no VG has.
pub fn clone_name(base: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_string();
    }
    (1u64..).map(|i| format!("{base}{i}")).find(|n| !taken.contains(n)).expect("a free name")
}

/// Carries out `c`; the clone's name.
pub fn vgimportclone(s: &mut Session, c: &ImportClone) -> Result<String, LvmError> {
    let _g = s.lock_global()?;
    let mut disks: Vec<PvDisk> = Vec::new();
    for p in &c.devices {
        match disk::read_pv(p, false)? {
            Some(d) if d.vg.is_some() => disks.push(d),
            Some(_) => return Err(LvmError::Refused(format!("Device {} is not a PV in a VG.", p.display()))),
            None => return Err(LvmError::NotFound(format!("Failed to find device {}.", p.display()))),
        }
    }
    let newest = disks
        .iter()
        .filter_map(|d| d.vg.as_ref())
        .max_by_key(|m| m.vg.seqno)
        .cloned()
        .ok_or_else(|| LvmError::Refused("No PVs to import.".into()))?;
    let mut vg = (*newest.vg).clone();
    check_local(&Vg {
        vg: newest.vg.clone(),
        text: newest.text.clone(),
        disks: BTreeMap::new(),
        missing: vec![],
        stale: vec![],
        lockd: false,
    })?;
    if disks.iter().any(|d| d.vg.as_ref().is_none_or(|m| m.vg.id != vg.id)) {
        return Err(LvmError::Refused("The devices to import hold more than one VG.".into()));
    }
    // Every PV of the VG must be among the copies named: LVM reads the VG
    // from them alone, finds PVs missing, and refuses to change it.
    let mut by_key = BTreeMap::new();
    let mut missing = Vec::new();
    for p in &vg.pvs {
        match disks.iter().find(|d| d.uuid() == p.id) {
            Some(d) => {
                by_key.insert(p.key.clone(), d.clone());
            }
            None => missing.push(p),
        }
    }
    if !missing.is_empty() {
        for p in &missing {
            s.warn(format!("WARNING: Couldn't find device with uuid {}.", p.id));
        }
        for p in &missing {
            s.warn(format!(
                "WARNING: VG {} is missing PV {} (last written to {}).",
                vg.name,
                p.id,
                p.device.as_deref().unwrap_or("[unknown]")
            ));
        }
        return Err(LvmError::Refused(format!("Cannot change VG {} while PVs are missing.", vg.name)));
    }
    if super::export::is_exported(&vg) && !c.import {
        return Err(LvmError::Refused(format!("VG {} is exported, use the --import option.", vg.name)));
    }
    let base = c.base_name.clone().unwrap_or_else(|| vg.name.clone());
    check_name(&base, "volume group")?;
    let (_, vgs) = s.scan(true)?;
    let name = clone_name(&base, &vgs.keys().cloned().collect());
    let _l = s.lock_vg(&name)?;
    // New UUIDs: the VG's, and each PV's in the metadata and its label.
    vg.id = lvmpv::new_uuid()?;
    vg.name = name.clone();
    vg.status.retain(|st| st != super::export::EXPORTED);
    let mut remembered = Vec::new();
    for p in &mut vg.pvs {
        p.status.retain(|st| st != super::export::EXPORTED);
        p.id = lvmpv::new_uuid()?;
        let d = by_key.get_mut(&p.key).expect("matched above");
        p.device = Some(d.path.display().to_string());
        d.label.uuid = p.id.0;
        d.dev.write_durable(ulvm_blockdev::Sectors(d.label.sector), &d.label.encode()?)?;
        d.vg = None;
        remembered.push((d.path.clone(), Some(String::from_utf8_lossy(&p.id.0).into_owned())));
    }
    let mut clone =
        Vg { vg: Arc::new(vg), text: "".into(), disks: by_key, missing: vec![], stale: vec![], lockd: false };
    s.commit(&mut clone)?;
    s.remember_devices(&remembered, "vgimportclone")?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clone_names_take_the_first_free_number_as_lvm_2_03_16() {
        let taken: BTreeSet<String> = ["vg0", "vg1", "vg11"].map(String::from).into();
        assert_eq!(clone_name("clone2", &taken), "clone2");
        assert_eq!(clone_name("vg0", &taken), "vg01");
        assert_eq!(clone_name("vg1", &taken), "vg12");
    }
}
