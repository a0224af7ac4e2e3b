//! `lvrename` and `lvchange` (`-p r|rw`, `-a y|ay|n [-K]`,
//! `--setautoactivation y|n`, `-k|--setactivationskip y|n`, `--refresh`).

use super::activation::{Activation, Filter};
use super::Session;
use crate::activate;
use crate::disk::Vg;
use crate::model::SegmentKind;
use crate::names::{check_lv_name, dm_name};
use crate::LvmError;

/// Renames an LV; its active devices keep their tables (which refer to
/// device numbers) and get the new names.
pub fn lvrename(s: &mut Session, vg_name: &str, old: &str, new: &str) -> Result<(), LvmError> {
    check_lv_name(new)?;
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    if vg.vg.lv(old).is_none() {
        return Err(LvmError::NotFound(format!(
            "Existing logical volume \"{old}\" not found in volume group \"{vg_name}\""
        )));
    }
    if vg.vg.lv(new).is_some() {
        return Err(LvmError::Exists(format!("Logical Volume \"{new}\" already exists in volume group \"{vg_name}\"")));
    }
    if vg.vg.mirror_parent(old).is_some() || vg.vg.raid_parent(old).is_some() {
        return Err(LvmError::Refused(format!("Cannot rename internal LV \"{old}\".")));
    }
    // A mirror's images and log are renamed with it, as LVM does
    // (`old_mimage_0` becomes `new_mimage_0`).
    let subs: Vec<(String, String)> = vg
        .vg
        .mirror_sub_lvs(old)
        .into_iter()
        .chain(vg.vg.raid_sub_lvs(old))
        .filter_map(|n| n.strip_prefix(old).map(|rest| (n.clone(), format!("{new}{rest}"))))
        .collect();
    if let Some((_, taken)) = subs.iter().find(|(_, n)| vg.vg.lv(n).is_some()) {
        return Err(LvmError::Exists(format!(
            "Logical Volume \"{taken}\" already exists in volume group \"{vg_name}\""
        )));
    }
    let renames: Vec<(String, String)> = std::iter::once((old.to_string(), new.to_string())).chain(subs).collect();
    if let Some(h) = s.host_if_running() {
        for (from_lv, to_lv) in &renames {
            for layer in [None, Some("real"), Some("cow")] {
                let from = dm_name(vg_name, from_lv, layer);
                if h.state(&from)?.is_some() {
                    h.rename(&from, &dm_name(vg_name, to_lv, layer))?;
                }
            }
        }
    }
    let renamed = |n: &str| renames.iter().find(|(f, _)| f == n).map(|(_, t)| t.clone());
    for l in &mut vg.vg_mut().lvs {
        if let Some(t) = renamed(&l.name) {
            l.name = t;
        }
        if let Some(m) = l.mirror_mut() {
            for (a, _) in &mut m.areas {
                if let Some(t) = renamed(a) {
                    *a = t;
                }
            }
            if let Some(t) = m.mirror_log.as_deref().and_then(renamed) {
                m.mirror_log = Some(t);
            }
        }
        if let Some(r) = l.raid_mut() {
            for a in &mut r.areas {
                if let Some(t) = renamed(&a.data) {
                    a.data = t;
                }
                if let Some(t) = a.meta.as_deref().and_then(renamed) {
                    a.meta = Some(t);
                }
            }
        }
        for seg in &mut l.segments {
            if let SegmentKind::Snapshot { origin, cow, .. } = &mut seg.kind {
                if origin == old {
                    *origin = new.to_string();
                }
                if cow == old {
                    *cow = new.to_string();
                }
            }
        }
    }
    s.commit(&mut vg)?;
    s.print(format!("Renamed \"{old}\" to \"{new}\" in volume group \"{vg_name}\""));
    Ok(())
}

/// One `lvchange` on `lv` of `vg` (every LV of the VG when `None`).
#[derive(Debug, Clone)]
pub struct LvChange {
    pub vg: String,
    pub lv: Option<String>,
    /// `-p rw` (true) or `-p r`.
    pub writable: Option<bool>,
    /// `-a y|ay|ey|sy` (true) or `-a n`.
    pub activate: Option<bool>,
    /// `-asy`: in a shared VG, active under a shared lease (other hosts
    /// may activate it shared too) instead of an exclusive one.
    pub shared: bool,
    /// How `-a y` activates: `-ay` or `-aay`, and `-K`.
    pub activation: Activation,
    /// `--setautoactivation y|n`.
    pub autoactivation: Option<bool>,
    /// `-k|--setactivationskip y|n`.
    pub activation_skip: Option<bool>,
    /// `--addtag`/`--deltag`.
    pub tags: super::tags::TagEdit,
}

impl LvChange {
    /// An `lvchange` of `lv` (every LV of `vg` when `None`) that changes nothing yet.
    pub fn new(vg: &str, lv: Option<&str>) -> LvChange {
        LvChange {
            vg: vg.to_string(),
            lv: lv.map(String::from),
            writable: None,
            activate: None,
            shared: false,
            activation: Activation::YES,
            autoactivation: None,
            activation_skip: None,
            tags: super::tags::TagEdit::default(),
        }
    }
}

/// Carries out `c`; the VG as it is afterwards (for the jobs an
/// activation resumes).
pub fn lvchange(s: &mut Session, c: &LvChange) -> Result<Vg, LvmError> {
    let vg_name = c.vg.as_str();
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let names: Vec<String> = match &c.lv {
        Some(n) => {
            if !vg.vg.user_lvs().any(|l| &l.name == n) {
                return Err(LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{n}\"")));
            }
            vec![n.clone()]
        }
        None => vg.vg.user_lvs().map(|l| l.name.clone()).collect(),
    };
    if let Some(writable) = c.writable {
        for n in &names {
            let origin = activate::family_origin(&vg, n);
            let before = activate::plan(&vg, &origin)?;
            let lv = vg.vg_mut().lv_mut(n).expect("checked");
            if lv.is_writable() == writable {
                s.print(format!(
                    "Logical volume {vg_name}/{n} is already {}.",
                    if writable { "read/write" } else { "read only" }
                ));
                continue;
            }
            lv.set_writable(writable);
            let active = match s.host_if_running() {
                Some(h) => activate::is_active(h, &vg, &origin)?.is_some(),
                None => false,
            };
            if active {
                let after = activate::plan(&vg, &origin)?;
                activate::sync_family(s.host()?, &before, &after)?;
            }
            s.commit(&mut vg)?;
            s.print(format!("Logical volume {vg_name}/{n} changed."));
        }
    }
    // LVM writes an autoactivation change only when the flag changes, and
    // an activation-skip change every time; both say the LV changed.
    for (set, flag) in [(c.autoactivation, true), (c.activation_skip, false)] {
        let Some(on) = set else { continue };
        for n in &names {
            let lv = vg.vg_mut().lv_mut(n).expect("checked");
            let changed = if flag { lv.set_autoactivation(on) } else { lv.set_activation_skip(on) };
            if changed || !flag {
                s.commit(&mut vg)?;
            }
            s.print(format!("Logical volume {vg_name}/{n} changed."));
        }
    }
    // Tags: one commit per LV, whether or not its tags changed, as LVM.
    if !c.tags.is_empty() {
        for n in &names {
            c.tags.apply(&mut vg.vg_mut().lv_mut(n).expect("checked").tags);
            s.commit(&mut vg)?;
            s.print(format!("Logical volume {vg_name}/{n} changed."));
        }
    }
    if let Some(on) = c.activate {
        let filter = Filter::of_session(s)?;
        for n in &names {
            if let Some(snap) = vg.vg.snapshot_of_cow(n) {
                let q = format!(
                    "Change of snapshot {vg_name}/{n} will also change its origin {vg_name}/{}. Proceed?",
                    snap.origin
                );
                if !s.confirm(&q) {
                    return Err(LvmError::Refused(format!("Logical volume {vg_name}/{n} not changed.")));
                }
            }
        }
        let mode = s.config()?.activation_mode;
        if on {
            s.check_no_duplicates_to_activate(&vg.vg)?;
        }
        s.host()?;
        for n in &names {
            if on {
                // LVs the activation leaves out are left out silently, as LVM's.
                let origin = activate::family_origin(&vg, n);
                let lv = vg.vg.lv(&origin).unwrap_or_else(|| vg.vg.lv(n).expect("checked"));
                if filter.lv(&vg.vg, lv, c.activation).is_err() {
                    continue;
                }
                super::raid::check_activation_mode(&vg, lv, mode)?;
                let op = if c.shared { activate::LeaseOp::Shared } else { activate::LeaseOp::Exclusive };
                super::lockd::activate_lv(s, &vg, n, op)?;
                super::raid::after_activation(s, &mut vg, n)?;
            } else {
                super::lockd::deactivate_lv(s, &vg, n)?;
            }
        }
    }
    Ok(vg)
}

/// `lvchange --refresh VG[/LV]`: every active LV named (every LV of the
/// VG when only the VG is) gets its tables loaded again from the
/// metadata, as LVM's `lv_refresh` suspends and resumes its tree. A
/// raid1 LV's sub-LVs are loaded first and the raid's table last, so the
/// target reads its superblocks again: a leg whose device came back is
/// recovered from the bitmap. An LV on a missing PV is refused unless
/// the activation mode is `partial`; an inactive LV is left alone.
pub fn refresh(s: &mut Session, vg_name: &str, lv: Option<&str>) -> Result<(), LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let vg = s.vg(vg_name, false)?;
    let names: Vec<String> = match lv {
        Some(n) => {
            if !vg.vg.user_lvs().any(|l| l.name == n) {
                return Err(LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{n}\"")));
            }
            vec![n.to_string()]
        }
        None => vg.vg.user_lvs().map(|l| l.name.clone()).collect(),
    };
    let mode = s.sd.config()?.activation_mode;
    for name in names {
        let l = vg.vg.lv(&name).expect("named").clone();
        let whole = std::iter::once(name.clone()).chain(vg.vg.raid_sub_lvs(&name)).chain(vg.vg.mirror_sub_lvs(&name));
        let partial = whole.filter_map(|n| vg.vg.lv(&n)).any(|sub| !activate::lv_on_present_pvs(&vg, sub));
        if partial && mode != super::raid::ActivationMode::Partial {
            return Err(LvmError::Refused(format!(
                "Refusing refresh of partial LV {vg_name}/{name}. Use '--activationmode partial' to override."
            )));
        }
        let host = s.host()?;
        if activate::is_active(host, &vg, &name)?.is_none() {
            continue;
        }
        let origin = activate::family_origin(&vg, &name);
        let plan = activate::plan(&vg, &origin)?;
        if l.raid().is_some() && origin == name {
            super::raid::refresh(host, vg_name, &name, &plan)?;
        } else {
            for d in &plan {
                activate::reload_or_create(host, d)?;
            }
        }
    }
    Ok(())
}
