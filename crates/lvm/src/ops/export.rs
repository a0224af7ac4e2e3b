//! `vgexport` and `vgimport`, as LVM 2.03 does them: an exported VG has
//! `EXPORTED` in its status and in each of its PVs' status (first in the
//! VG's, after `ALLOCATABLE` in a PV's, LVM's flag order), shows an `x`
//! in `vg_attr` and `pv_attr`, and every command but the reports,
//! `vgimport` and `pvscan` refuses it (`Volume group vg0 is exported`,
//! [`check_not_exported`]). A VG with active LVs is not exported.

use super::Session;
use crate::disk::Vg;
use crate::model::VolumeGroup;
use crate::LvmError;

/// The status word LVM writes into an exported VG and its PVs.
pub const EXPORTED: &str = "EXPORTED";

/// Whether the VG is exported.
pub fn is_exported(vg: &VolumeGroup) -> bool {
    vg.status.iter().any(|s| s == EXPORTED)
}

/// LVM's refusal of an exported VG.
pub fn check_not_exported(vg: &VolumeGroup) -> Result<(), LvmError> {
    if is_exported(vg) {
        return Err(LvmError::Refused(format!("Volume group {} is exported", vg.name)));
    }
    Ok(())
}

/// Sets or clears the exported status of the VG and its PVs.
fn set_exported(vg: &mut VolumeGroup, on: bool) {
    vg.status.retain(|s| s != EXPORTED);
    for pv in &mut vg.pvs {
        pv.status.retain(|s| s != EXPORTED);
    }
    if on {
        vg.status.insert(0, EXPORTED.into());
        for pv in &mut vg.pvs {
            let at = pv.status.iter().position(|s| s == "ALLOCATABLE").map_or(0, |i| i + 1);
            pv.status.insert(at, EXPORTED.into());
        }
    }
}

/// `vgexport VG`.
pub fn vgexport(s: &mut Session, name: &str) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    let mut vg = s.vg(name, false)?;
    if !super::vg::active_lvs(s, &vg).is_empty() {
        return Err(LvmError::InUse(format!("Volume group \"{name}\" has active logical volumes")));
    }
    set_exported(vg.vg_mut(), true);
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully exported"));
    Ok(())
}

/// `vgimport VG`.
pub fn vgimport(s: &mut Session, name: &str) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    let mut vg = exported_vg(s, name)?;
    if !is_exported(&vg.vg) {
        return Err(LvmError::Refused(format!("Volume group \"{name}\" is not exported")));
    }
    set_exported(vg.vg_mut(), false);
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully imported"));
    Ok(())
}

/// The VG for a change, exported or not (what [`Session::vg`] refuses).
pub(crate) fn exported_vg(s: &mut Session, name: &str) -> Result<Vg, LvmError> {
    let (_, mut vgs) = s.scan(false)?;
    let vg = vgs.remove(name).ok_or_else(|| LvmError::NotFound(format!("Volume group \"{name}\" not found")))?;
    super::check_local(&vg)?;
    Ok(vg)
}

/// `vgexport -a` / `vgimport -a`: every local VG, in LVM's order (one
/// already in the state asked for fails on its own, as the others go on).
pub fn all_vgs(s: &mut Session) -> Result<Vec<String>, LvmError> {
    let (scan, vgs) = s.scan(true)?;
    Ok(super::scan::order(&scan, &vgs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PhysicalVolume;

    #[test]
    fn test_export_marks_the_vg_and_its_pvs_in_lvm_order() {
        let mut vg = crate::model::VolumeGroup::from_tree(
            &crate::text::Tree::parse(include_str!("../../tests/fixtures/oracle10/vg0.vgbackup")).unwrap(),
        )
        .unwrap();
        set_exported(&mut vg, true);
        assert_eq!(vg.status, ["EXPORTED", "RESIZEABLE", "READ", "WRITE"]);
        assert!(vg.pvs.iter().all(|p: &PhysicalVolume| p.status == ["ALLOCATABLE", "EXPORTED"]));
        assert!(check_not_exported(&vg).unwrap_err().to_string() == "Volume group vg0 is exported");
        set_exported(&mut vg, false);
        assert_eq!(vg.status, ["RESIZEABLE", "READ", "WRITE"]);
        assert!(vg.pvs.iter().all(|p| p.status == ["ALLOCATABLE"]));
        assert!(check_not_exported(&vg).is_ok());
    }
}
