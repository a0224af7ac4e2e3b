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
    for v in [&to, &from] {
        super::lockd::refuse_shared(v, |t| format!("vgmerge not allowed for lock_type {t}"))?;
    }
    compatible(s, &to, &from)?;
    join(&mut to, &from, |_| true, |_| true);
    s.commit(&mut to)?;
    let _ = std::fs::remove_file(s.sd.backup_dir().join(src));
    s.print(format!("Volume group \"{src}\" successfully merged into \"{dest}\""));
    Ok(())
}

/// LVM's `vgs_are_compatible`: whether all of `from` could join `to`
/// (vgmerge, and vgsplit into an existing VG, which checks the whole
/// source VG as vgmerge does).
fn compatible(s: &mut Session, to: &Vg, from: &Vg) -> Result<(), LvmError> {
    let (dest, src) = (to.vg.name.as_str(), from.vg.name.as_str());
    if !active_lvs(s, from).is_empty() {
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
    Ok(())
}

/// Adds the PVs of `from` with a key `take` accepts to `to`, under free
/// keys of `to`, and the LVs of `from` that `names` accepts, their areas
/// renamed to the new keys (an LV with an area elsewhere stays out).
fn join(to: &mut Vg, from: &Vg, take: impl Fn(&str) -> bool, names: impl Fn(&str) -> bool) {
    // PV keys of the source become free keys of the destination.
    let mut rename = std::collections::BTreeMap::new();
    for p in from.vg.pvs.iter().filter(|p| take(&p.key)) {
        let key = to.vg.next_pv_key();
        rename.insert(p.key.clone(), key.clone());
        to.vg_mut().pvs.push(PhysicalVolume { key: key.clone(), ..p.clone() });
        if let Some(d) = from.disks.get(&p.key) {
            to.disks.insert(key, d.clone());
        }
    }
    for l in &from.vg.lvs {
        let mut l = l.clone();
        let mut on = true;
        for seg in &mut l.segments {
            if let crate::model::SegmentKind::Striped { stripes, .. } = &mut seg.kind {
                for (k, _) in stripes.iter_mut() {
                    match rename.get(k) {
                        Some(n) => *k = n.clone(),
                        None => on = false,
                    }
                }
            }
        }
        if on && names(&l.name) {
            to.vg_mut().lvs.push(l);
        }
    }
}

/// What moves in a `vgsplit`: named PVs, or the PVs an LV uses (`-n`).
#[derive(Debug, Clone)]
pub enum SplitWhat {
    Pvs(Vec<PathBuf>),
    Lv(String),
}

/// The keys of the PVs LV `name` of `vg` uses, through its LV areas and
/// sub-LVs (images, logs, raid metadata) too.
fn pvs_used_by(vg: &VolumeGroup, name: &str, out: &mut Vec<String>) {
    let Some(lv) = vg.lv(name) else { return };
    let mut subs: Vec<String> = vg.mirror_sub_lvs(name);
    subs.extend(vg.raid_sub_lvs(name));
    for seg in &lv.segments {
        if let crate::model::SegmentKind::Striped { stripes, .. } = &seg.kind {
            for (k, _) in stripes {
                if vg.pv(k).is_some() && !out.contains(k) {
                    out.push(k.clone());
                } else if vg.pv(k).is_none() {
                    subs.push(k.clone());
                }
            }
        }
    }
    for sub in subs {
        pvs_used_by(vg, &sub, out);
    }
}

/// `vgsplit SRC DEST PV...` and `vgsplit -n LV SRC DEST`: the PVs (or
/// those LV uses), and the LVs wholly on them, leave SRC for DEST, a new
/// VG with SRC's attributes or an existing one that could take all of SRC
/// (as vgmerge checks it). SRC goes when no PV is left in it.
pub fn vgsplit(s: &mut Session, src: &str, dest: &str, pvs: &[PathBuf]) -> Result<(), LvmError> {
    vgsplit_what(s, src, dest, &SplitWhat::Pvs(pvs.to_vec()), NewVg::default())
}

/// `-l` and `-p` of a vgsplit: for a new VG only (else SRC's limits).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewVg {
    pub max_lv: Option<u64>,
    pub max_pv: Option<u64>,
}

/// [`vgsplit`] of PVs or (`-n`) of the PVs an LV uses.
pub fn vgsplit_what(s: &mut Session, src: &str, dest: &str, what: &SplitWhat, new: NewVg) -> Result<(), LvmError> {
    check_name(dest, "volume group")?;
    // Before any lock: the second lock of one name would wait for the first.
    if dest == src {
        return Err(LvmError::Refused(format!("Duplicate volume group name \"{src}\"")));
    }
    let _g = s.lock_global()?;
    let _s = s.lock_vg(src)?;
    let _d = s.lock_vg(dest)?;
    let (_, vgs) = s.scan(true)?;
    let existing = vgs.contains_key(dest);
    let mut from = s.vg(src, false)?;
    super::lockd::refuse_shared(&from, |t| format!("vgsplit not allowed for lock_type {t}"))?;
    let mut to = if existing {
        if new.max_lv.is_some() || new.max_pv.is_some() {
            return Err(LvmError::Refused(format!("Volume group \"{dest}\" exists, but new VG option specified")));
        }
        let to = s.vg(dest, false)?;
        compatible(s, &to, &from)?;
        to
    } else {
        Vg {
            vg: Arc::new(VolumeGroup {
                name: dest.to_string(),
                id: lvmpv::new_uuid()?,
                seqno: 0,
                lvs: vec![],
                pvs: vec![],
                max_lv: new.max_lv.unwrap_or(from.vg.max_lv),
                max_pv: new.max_pv.unwrap_or(from.vg.max_pv),
                ..(*from.vg).clone()
            }),
            text: "".into(),
            disks: Default::default(),
            missing: vec![],
            stale: vec![],
            lockd: false,
        }
    };
    let mut keys = Vec::new();
    match what {
        SplitWhat::Pvs(paths) => {
            for p in paths {
                match from.key_of(p) {
                    Some(k) => keys.push(k),
                    None => {
                        return Err(LvmError::NotFound(format!(
                            "Physical volume {} not in volume group {src}",
                            p.display()
                        )))
                    }
                }
            }
        }
        SplitWhat::Lv(name) => {
            if !from.vg.user_lvs().any(|l| &l.name == name) {
                return Err(LvmError::NotFound(format!("Logical volume {name} not in volume group {src}")));
            }
            pvs_used_by(&from.vg, name, &mut keys);
        }
    }
    let moving = lvs_on(&from.vg, &keys);
    if let Some((l, _)) = moving.iter().find(|(_, whole)| !whole) {
        return Err(LvmError::Refused(format!("Can't split Logical Volume {l} between two Volume Groups")));
    }
    let mut names: Vec<String> = moving.into_iter().map(|(n, _)| n).collect();
    // A snapshot goes with its origin and the other way round.
    for snap in from.vg.snapshots() {
        let (o, c) = (names.contains(&snap.origin), names.contains(&snap.cow));
        if o != c {
            return Err(LvmError::Refused(format!("Can't split snapshot {} between two Volume Groups", snap.cow)));
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
        return Err(LvmError::Refused(format!("Logical volume {src}/{l} must be inactive.")));
    }
    if existing {
        join(&mut to, &from, |k| keys.iter().any(|x| x == k), |n| names.iter().any(|x| x == n));
    } else {
        // A new VG keeps the PVs' keys.
        let v = to.vg_mut();
        v.pvs = from.vg.pvs.iter().filter(|p| keys.contains(&p.key)).cloned().collect();
        v.lvs = from.vg.lvs.iter().filter(|l| names.contains(&l.name)).cloned().collect();
        to.disks = from.disks.iter().filter(|(k, _)| keys.contains(k)).map(|(k, d)| (k.clone(), d.clone())).collect();
    }
    from.vg_mut().lvs.retain(|l| !names.contains(&l.name));
    from.vg_mut().pvs.retain(|p| !keys.contains(&p.key));
    for k in &keys {
        from.disks.remove(k);
    }
    // As LVM: the destination first, marked exported (should the split
    // stop here, the VG stays out of use until imported or removed), then
    // the source, then the destination again, unmarked.
    to.vg_mut().status.insert(0, super::export::EXPORTED.into());
    s.commit(&mut to)?;
    if !from.vg.pvs.is_empty() {
        s.commit(&mut from)?;
    }
    to.vg_mut().status.retain(|x| x != super::export::EXPORTED);
    s.commit(&mut to)?;
    s.print(format!(
        "{} volume group \"{dest}\" successfully split from \"{src}\"",
        if existing { "Existing" } else { "New" }
    ));
    Ok(())
}
