//! `lvremove`: an LV leaves the metadata and its devices go. Removing an
//! origin removes its snapshots (after a question), removing a snapshot
//! gives the origin its own table back, and a clone takes its metadata LV
//! with it. Open LVs and merging families are refused.

use super::Session;
use crate::activate;
use crate::LvmError;

/// `lvremove VG/LV` (`lv`), or every LV of `VG` (`None`); `force` (`-f`)
/// asks no questions.
pub fn lvremove(s: &mut Session, vg_name: &str, lv: Option<&str>, force: bool) -> Result<(), LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let vg = s.vg(vg_name, false)?;
    let names: Vec<String> = match lv {
        Some(n) => {
            if vg.vg.lv(n).is_none()
                || n.starts_with("snapshot")
                    && vg.vg.snapshot_of_cow(n).is_none()
                    && !vg.vg.user_lvs().any(|l| l.name == n)
            {
                return Err(LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{n}\"")));
            }
            vec![n.to_string()]
        }
        None => vg
            .vg
            .user_lvs()
            .filter(|l| {
                vg.vg.snapshot_of_cow(&l.name).is_none()
                    && vg.vg.mirror_parent(&l.name).is_none()
                    && vg.vg.raid_parent(&l.name).is_none()
            })
            .map(|l| l.name.clone())
            .collect(),
    };
    for n in names {
        remove_one(s, vg_name, &n, force)?;
    }
    Ok(())
}

fn remove_one(s: &mut Session, vg_name: &str, name: &str, force: bool) -> Result<(), LvmError> {
    let mut vg = s.vg(vg_name, false)?;
    if vg.vg.lv(name).is_none() {
        return Ok(()); // removed with its origin
    }
    if vg.vg.mirror_parent(name).is_some() {
        return Err(LvmError::Refused(format!("Can't remove logical volume {vg_name}/{name} used by a mirror.")));
    }
    if vg.vg.raid_parent(name).is_some() {
        return Err(LvmError::Refused(format!("Can't remove logical volume {vg_name}/{name} used as RAID device.")));
    }
    let snap = vg.vg.snapshot_of_cow(name);
    let origin = activate::family_origin(&vg, name);
    let family_snaps = vg.vg.snapshots_of(&origin);
    let is_origin = snap.is_none() && !family_snaps.is_empty();
    let refuse = |m: String| Err(LvmError::Refused(m));
    if snap.as_ref().is_some_and(|s| s.merging) {
        return refuse(format!("Can't remove merging snapshot logical volume {vg_name}/{name}."));
    }
    if family_snaps.iter().any(|s| s.merging) {
        return refuse(format!(
            "Can't remove logical volume {vg_name}/{name} while a snapshot merges into {vg_name}/{origin}."
        ));
    }
    let state = match s.host_if_running() {
        Some(h) => activate::is_active(h, &vg, name)?,
        None => None,
    };
    if state.as_ref().is_some_and(|st| st.open_count > 0) {
        return Err(LvmError::InUse(format!("Logical volume {vg_name}/{name} contains a filesystem in use.")));
    }
    if is_origin && !force {
        let q = format!("Removing origin {name} will also remove {} snapshots(s). Proceed?", family_snaps.len());
        if !s.confirm(&q) {
            return refuse(format!("Logical volume {vg_name}/{name} not removed."));
        }
    }
    if state.is_some()
        && !force
        && !is_origin
        && !s.confirm(&format!("Do you really want to remove active logical volume {vg_name}/{name}?"))
    {
        return refuse(format!("Logical volume {vg_name}/{name} not removed."));
    }
    let before = activate::plan(&vg, &origin)?;
    let family_active = match s.host_if_running() {
        Some(h) => activate::is_active(h, &vg, &origin)?.is_some(),
        None => false,
    };
    // Drop from the metadata: the LV, its snapshot segment, or the whole family.
    if vg.vg.clone_of_metadata(name).is_some() {
        return refuse(format!(
            "Can't remove internal logical volume {vg_name}/{name}: remove the clone that uses it."
        ));
    }
    let mut gone: Vec<String> = vec![name.to_string()];
    // A mirror's images and log go with it.
    gone.extend(vg.vg.mirror_sub_lvs(name));
    // So do a raid LV's slots.
    gone.extend(vg.vg.raid_sub_lvs(name));
    if let Some(c) = vg.vg.lv(name).and_then(|l| l.clone_ref()) {
        gone.push(c.metadata_lv);
    }
    if let Some(sn) = &snap {
        gone.push(sn.seg_lv.clone());
    }
    if is_origin {
        for sn in &family_snaps {
            gone.push(sn.cow.clone());
            gone.push(sn.seg_lv.clone());
        }
    }
    let mut after_vg = vg.clone();
    after_vg.vg_mut().lvs.retain(|l| !gone.contains(&l.name));
    if family_active {
        if snap.is_some() {
            let after = activate::plan(&after_vg, &origin)?;
            activate::sync_family(s.host()?, &before, &after)?;
        } else {
            super::lockd::deactivate_lv(s, &vg, &origin)?;
        }
    }
    if snap.is_none() {
        super::lockd::free_lease(s, &vg, name)?;
    }
    vg.vg = after_vg.vg;
    s.commit(&mut vg)?;
    let mut shown: Vec<String> =
        if is_origin { family_snaps.iter().map(|sn| sn.cow.clone()).collect() } else { vec![] };
    shown.push(name.to_string());
    for g in shown {
        s.print(format!("Logical volume \"{g}\" successfully removed."));
    }
    Ok(())
}
