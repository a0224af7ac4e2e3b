//! `vgmerge` and `vgsplit`: PVs and the LVs on them move between VGs.

use super::vg::active_lvs;
use super::Session;
use crate::disk::Vg;
use crate::model::{PhysicalVolume, VolumeGroup};
use crate::names::check_name;
use crate::pv as lvmpv;
use crate::LvmError;
use std::path::PathBuf;
use std::sync::Arc;

/// The LV names of `vg` that use any of the PV keys in `keys`, and whether
/// each lies wholly on them.
fn lvs_on(vg: &VolumeGroup, keys: &[String]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for lv in &vg.lvs {
        let mut on = 0;
        let mut off = 0;
        for seg in &lv.segments {
            if let crate::model::SegmentKind::Striped { stripes, .. } = &seg.kind {
                for (k, _) in stripes {
                    if keys.contains(k) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
            }
        }
        if on > 0 {
            out.push((lv.name.clone(), off == 0));
        }
    }
    out
}

/// `vgmerge DEST SRC`: SRC's PVs and LVs join DEST (its LVs inactive).
pub fn vgmerge(s: &mut Session, dest: &str, src: &str) -> Result<(), LvmError> {
    // Before any lock: the second lock of one name would wait for the first.
    if dest == src {
        return Err(LvmError::Refused(format!("Duplicate volume group name \"{src}\"")));
    }
    let _g = s.lock_global()?;
    let _d = s.lock_vg(dest)?;
    let _s = s.lock_vg(src)?;
    let mut to = s.vg(dest, false)?;
    let from = s.vg(src, false)?;
    if !active_lvs(s, &from).is_empty() {
        return Err(LvmError::Refused(format!("Logical volumes in \"{src}\" must be inactive")));
    }
    if to.vg.extent_size != from.vg.extent_size {
        return Err(LvmError::Refused(format!(
            "Extent sizes differ: {} ({dest}) and {} ({src})",
            to.vg.extent_size, from.vg.extent_size
        )));
    }
    // A limit of 0 is no limit; LVM counts the visible LVs only.
    let (pvs, max_pv) = (to.vg.pvs.len() + from.vg.pvs.len(), to.vg.max_pv);
    if max_pv != 0 && max_pv < pvs as u64 {
        return Err(LvmError::Refused(format!(
            "Maximum number of physical volumes ({max_pv}) exceeded  for \"{dest}\" and \"{src}\""
        )));
    }
    let visible = |v: &VolumeGroup| v.lvs.iter().filter(|l| l.is_visible()).count();
    let (lvs, max_lv) = (visible(&to.vg) + visible(&from.vg), to.vg.max_lv);
    if max_lv != 0 && max_lv < lvs as u64 {
        return Err(LvmError::Refused(format!(
            "Maximum number of logical volumes ({max_lv}) exceeded  for \"{dest}\" and \"{src}\""
        )));
    }
    if let Some(l) = from.vg.lvs.iter().find(|l| to.vg.lv(&l.name).is_some()) {
        return Err(LvmError::Refused(format!(
            "Duplicate logical volume name \"{}\" in \"{dest}\" and \"{src}\"",
            l.name
        )));
    }
    // PV keys of the source become free keys of the destination.
    let mut rename = std::collections::BTreeMap::new();
    for p in &from.vg.pvs {
        let key = to.vg.next_pv_key();
        rename.insert(p.key.clone(), key.clone());
        to.vg_mut().pvs.push(PhysicalVolume { key: key.clone(), ..p.clone() });
        if let Some(d) = from.disks.get(&p.key) {
            to.disks.insert(key, d.clone());
        }
    }
    for l in &from.vg.lvs {
        let mut l = l.clone();
        for seg in &mut l.segments {
            if let crate::model::SegmentKind::Striped { stripes, .. } = &mut seg.kind {
                for (k, _) in stripes.iter_mut() {
                    *k = rename[k].clone();
                }
            }
        }
        to.vg_mut().lvs.push(l);
    }
    s.commit(&mut to)?;
    let _ = std::fs::remove_file(s.sd.backup_dir().join(src));
    s.print(format!("Volume group \"{src}\" successfully merged into \"{dest}\""));
    Ok(())
}

/// `vgsplit SRC DEST PV...`: the PVs, and the LVs wholly on them, leave
/// SRC for a new VG DEST.
pub fn vgsplit(s: &mut Session, src: &str, dest: &str, paths: &[PathBuf]) -> Result<(), LvmError> {
    check_name(dest, "volume group")?;
    // Before any lock: the second lock of one name would wait for the first.
    if dest == src {
        return Err(LvmError::Refused(format!("Duplicate volume group name \"{src}\"")));
    }
    let _g = s.lock_global()?;
    let _s = s.lock_vg(src)?;
    let _d = s.lock_vg(dest)?;
    let (_, vgs) = s.scan(true)?;
    if vgs.contains_key(dest) {
        return Err(LvmError::Exists(format!(
            "Volume group \"{dest}\" exists; vgsplit into an existing VG is not supported by ulvm (use vgmerge after)."
        )));
    }
    let mut from = s.vg(src, false)?;
    let mut keys = Vec::new();
    for p in paths {
        match from.key_of(p) {
            Some(k) => keys.push(k),
            None => {
                return Err(LvmError::NotFound(format!("Physical volume {} not in volume group {src}", p.display())))
            }
        }
    }
    if keys.len() == from.vg.pvs.len() {
        return Err(LvmError::Refused("Cannot split: Nowhere to store metadata for new Volume Group".into()));
    }
    let moving = lvs_on(&from.vg, &keys);
    if let Some((l, _)) = moving.iter().find(|(_, whole)| !whole) {
        return Err(LvmError::Refused(format!(
            "Logical volume {src}/{l} must be either wholly in or wholly out of {dest}."
        )));
    }
    let mut names: Vec<String> = moving.into_iter().map(|(n, _)| n).collect();
    // A snapshot goes with its origin and the other way round.
    for snap in from.vg.snapshots() {
        let (o, c) = (names.contains(&snap.origin), names.contains(&snap.cow));
        if o != c {
            return Err(LvmError::Refused(format!(
                "Snapshot {src}/{} and its origin {src}/{} must go to the same volume group.",
                snap.cow, snap.origin
            )));
        }
        if o {
            names.push(snap.seg_lv.clone());
        }
    }
    // A mirror goes with all its images and its log (the mirror's own
    // segment is on LVs, not PVs), or stays.
    for top in from.vg.lvs.iter().filter(|l| l.mirror().is_some()) {
        let subs = from.vg.mirror_sub_lvs(&top.name);
        let going = subs.iter().filter(|n| names.contains(n)).count();
        if going > 0 && going < subs.len() {
            return Err(LvmError::Refused(format!("Can't split mirror {} between two Volume Groups", top.name)));
        }
        if going > 0 {
            names.push(top.name.clone());
        }
    }
    for top in from.vg.lvs.iter().filter(|l| l.raid().is_some()) {
        let subs = from.vg.raid_sub_lvs(&top.name);
        let going = subs.iter().filter(|n| names.contains(n)).count();
        if going > 0 && going < subs.len() {
            return Err(LvmError::Refused(format!("Can't split RAID {} between two Volume Groups", top.name)));
        }
        if going > 0 && !names.contains(&top.name) {
            names.push(top.name.clone());
        }
    }
    let active = active_lvs(s, &from);
    if let Some(l) = names.iter().find(|n| active.contains(n)) {
        return Err(LvmError::Refused(format!("Logical volume {src}/{l} must be inactive")));
    }
    let mut to = Vg {
        vg: Arc::new(VolumeGroup {
            name: dest.to_string(),
            id: lvmpv::new_uuid()?,
            seqno: 0,
            lvs: from.vg.lvs.iter().filter(|l| names.contains(&l.name)).cloned().collect(),
            pvs: from.vg.pvs.iter().filter(|p| keys.contains(&p.key)).cloned().collect(),
            ..(*from.vg).clone()
        }),
        text: "".into(),
        disks: from.disks.iter().filter(|(k, _)| keys.contains(k)).map(|(k, d)| (k.clone(), d.clone())).collect(),
        missing: vec![],
        stale: vec![],
    };
    from.vg_mut().lvs.retain(|l| !names.contains(&l.name));
    from.vg_mut().pvs.retain(|p| !keys.contains(&p.key));
    for k in &keys {
        from.disks.remove(k);
    }
    s.commit(&mut to)?;
    s.commit(&mut from)?;
    s.print(format!("New volume group \"{dest}\" successfully split from \"{src}\""));
    Ok(())
}
