//! `lvconvert --merge VG/SNAP`: a snapshot merged back into its origin;
//! `lvconvert --splitsnapshot` and `lvconvert -s ORIGIN COW`: a snapshot's
//! COW split off as a plain LV and attached again.
//!
//! The metadata records the merge first (`merging_store`), so it survives
//! anything. If the origin is active and closed its tables switch to
//! `snapshot-merge` at once and the device host runs the merge; otherwise
//! it starts at the origin's next activation. Either way a poller
//! ([`super::jobs::SnapshotMerge`]) finishes it.

use super::common::zero_start;
use super::Session;
use crate::activate;
use crate::disk;
use crate::model::SegmentKind;
use crate::names::dm_name;
use crate::LvmError;
use ulvm_blockdev::Sectors;

/// When the merge runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeStart {
    /// The tables switched: the merge runs now, into this origin.
    Now { origin: String },
    /// The origin is inactive (or `open`): on its next activation.
    Deferred { origin: String, open: bool },
}

/// Records the merge of snapshot `name` and starts it if it can.
pub fn lvconvert_merge(s: &mut Session, vg_name: &str, name: &str) -> Result<MergeStart, LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let Some(snap) = vg.vg.snapshot_of_cow(name) else {
        if vg.vg.lv(name).is_none() {
            return Err(LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{name}\"")));
        }
        return Err(LvmError::Refused(format!(
            "Command on LV {vg_name}/{name} does not accept LV type linear (only snapshots can be merged)."
        )));
    };
    let origin = snap.origin.clone();
    if snap.merging {
        return Err(LvmError::Refused(format!(
            "Command on LV {vg_name}/{name} is invalid on LV with properties: lv_is_merging_cow ."
        )));
    }
    if vg.vg.snapshots_of(&origin).iter().any(|o| o.merging) {
        return Err(LvmError::Refused(format!(
            "Cannot merge snapshot {vg_name}/{name} into the origin {vg_name}/{origin} with merging snapshot."
        )));
    }
    let (origin_state, snap_state) = match s.host_if_running() {
        Some(h) => (h.state(&dm_name(vg_name, &origin, None))?, h.state(&dm_name(vg_name, name, None))?),
        None => (None, None),
    };
    if snap_state.as_ref().is_some_and(|st| st.open_count > 0) {
        return Err(LvmError::InUse(format!("Can't merge snapshot {vg_name}/{name} while it is open.")));
    }
    let before = activate::plan(&vg, &origin)?;
    let seg = vg.vg_mut().lv_mut(&snap.seg_lv).expect("snapshot segment LV");
    seg.set_visible(false);
    if let Some(SegmentKind::Snapshot { merging, .. }) = seg.segments.first_mut().map(|x| &mut x.kind) {
        *merging = true;
    }
    s.commit(&mut vg)?;
    let later = |open| Ok(MergeStart::Deferred { origin: origin.clone(), open });
    match origin_state {
        None => {
            s.print(format!(
                "Merging of snapshot {vg_name}/{name} will occur on next activation of {vg_name}/{origin}."
            ));
            return later(false);
        }
        Some(st) if st.open_count > 0 => {
            s.print("Delaying merge since origin is open.");
            s.print(format!(
                "Merging of snapshot {vg_name}/{name} will occur on next activation of {vg_name}/{origin}."
            ));
            return later(true);
        }
        Some(_) => {}
    }
    let after = activate::plan(&vg, &origin)?;
    activate::sync_family(s.host()?, &before, &after)
        .map_err(|e| LvmError::Refused(format!("Failed to start the merge: {e}")))?;
    s.print(format!("Merging of volume {vg_name}/{name} started."));
    Ok(MergeStart::Now { origin })
}

/// The refusal LVM gives a command on an LV of the wrong kind.
fn not_permitted(vg_name: &str, name: &str, kind: &str) -> LvmError {
    LvmError::Refused(format!(
        "Command on LV {vg_name}/{name} does not accept LV type {kind}.\n  Command not permitted on LV {vg_name}/{name}."
    ))
}

/// `lvconvert --splitsnapshot VG/SNAP`: the snapshot's COW LV becomes a
/// plain LV (its exception store kept as it is, so `lvconvert -s` can
/// take it back), the origin keeps its data. An active snapshot is split
/// only when the user says so (`yes`).
pub fn split_snapshot(s: &mut Session, vg_name: &str, name: &str, yes: bool) -> Result<(), LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    super::lockd::refuse_shared(&vg, |t| format!("Unable to split snapshots in VG with lock_type {t}."))?;
    let Some(snap) = vg.vg.snapshot_of_cow(name) else {
        if vg.vg.user_lvs().all(|l| l.name != name) {
            return Err(LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{name}\"")));
        }
        return Err(not_permitted(vg_name, name, "linear"));
    };
    if snap.merging {
        return Err(LvmError::Refused(format!(
            "Command on LV {vg_name}/{name} is invalid on LV with properties: lv_is_merging_cow ."
        )));
    }
    let origin = snap.origin.clone();
    let active = match s.host_if_running() {
        Some(h) => h.state(&dm_name(vg_name, name, None))?,
        None => None,
    };
    if let Some(st) = &active {
        if st.open_count > 0 {
            return Err(LvmError::InUse(format!("Cannot split off open snapshot {vg_name}/{name}.")));
        }
        if !yes && !s.confirm(&format!("Do you really want to split off active logical volume {vg_name}/{name}?")) {
            return Err(LvmError::Refused(format!("Logical volume {vg_name}/{name} not split.")));
        }
    }
    let before = activate::plan(&vg, &origin)?;
    vg.vg_mut().lvs.retain(|l| l.name != snap.seg_lv);
    vg.vg_mut().lv_mut(name).expect("the COW LV").set_visible(true);
    if active.is_some() {
        let mut after = activate::plan(&vg, &origin)?;
        after.extend(activate::plan(&vg, name)?);
        activate::sync_family(s.host()?, &before, &after)?;
    }
    s.commit(&mut vg)?;
    s.print(format!("Logical Volume {vg_name}/{name} split from its origin."));
    Ok(())
}

/// `lvconvert -s ORIGIN COW`: what re-attaches a COW.
#[derive(Debug, Clone)]
pub struct Attach {
    pub vg: String,
    pub origin: String,
    pub cow: String,
    pub chunk_size: Sectors,
    /// `-Z n` keeps the COW's start, and with it an exception store that
    /// `--splitsnapshot` left: the snapshot's data comes back.
    pub zero: bool,
    /// `-y`: no question.
    pub yes: bool,
}

/// `lvconvert -s ORIGIN COW`: the plain LV COW becomes a snapshot of
/// ORIGIN, as large as ORIGIN is now (its start zeroed unless `-Z n`).
pub fn attach_snapshot(s: &mut Session, a: &Attach) -> Result<(), LvmError> {
    let (vg_name, name, origin) = (a.vg.as_str(), a.cow.as_str(), a.origin.as_str());
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    super::lockd::refuse_shared(&vg, |t| format!("Unable to combine split snapshots in VG with lock_type {t}"))?;
    let Some(cow) = vg.vg.user_lvs().find(|l| l.name == name).cloned() else {
        return Err(LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{name}\"")));
    };
    if name == origin {
        return Err(LvmError::Refused(format!("Unable to use {vg_name}/{name} as both snapshot and origin.")));
    }
    if vg.vg.snapshot_of_cow(name).is_some() {
        return Err(not_permitted(vg_name, name, "snapshot"));
    }
    if !matches!(cow.segments.first().map(|x| &x.kind), Some(SegmentKind::Striped { .. }))
        || !vg.vg.snapshots_of(name).is_empty()
    {
        return Err(LvmError::Refused(format!(
            "ulvm converts only a linear or striped LV without snapshots to a snapshot COW ({vg_name}/{name})."
        )));
    }
    let Some(o) = vg.vg.user_lvs().find(|l| l.name == origin).cloned() else {
        return Err(LvmError::NotFound(format!("Couldn't find origin volume {origin} in Volume group {vg_name}.")));
    };
    if vg.vg.snapshot_of_cow(origin).is_some() {
        return Err(LvmError::Refused("Snapshots of snapshots are not supported.".into()));
    }
    s.warn(format!("WARNING: Converting logical volume {vg_name}/{name} to snapshot exception store."));
    s.warn("THIS WILL DESTROY CONTENT OF LOGICAL VOLUME (filesystem etc.)");
    if !a.yes && !s.confirm(&format!("Do you really want to convert {vg_name}/{name}?")) {
        return Err(LvmError::Refused("Conversion aborted.".into()));
    }
    let (origin_state, cow_state) = match s.host_if_running() {
        Some(h) => (h.state(&dm_name(vg_name, origin, None))?, h.state(&dm_name(vg_name, name, None))?),
        None => (None, None),
    };
    if cow_state.as_ref().is_some_and(|st| st.open_count > 0) {
        return Err(LvmError::InUse(format!("Can't convert open logical volume {vg_name}/{name}.")));
    }
    if a.zero {
        zero_start(&vg, &cow)?;
    } else {
        s.warn(format!("WARNING: {vg_name}/{name} not zeroed."));
    }
    let mut before = activate::plan(&vg, origin)?;
    if cow_state.is_some() {
        before.extend(activate::plan(&vg, name)?);
    }
    // As lvcreate -s: the COW is not visible itself, its snapshotN LV is.
    let snapshot = super::create::snapshot_lv(&vg.vg, origin, o.extents(), name, a.chunk_size, disk::hostname())?;
    vg.vg_mut().lv_mut(name).expect("the COW LV").set_visible(false);
    vg.vg_mut().lvs.push(snapshot);
    let host = if origin_state.is_some() || cow_state.is_some() { Some(s.host()?) } else { None };
    if let Some(h) = host {
        if origin_state.is_some() {
            let after = activate::plan(&vg, origin)?;
            activate::sync_family(h, &before, &after)?;
        } else {
            // The origin is inactive: so is its family now.
            for d in before.iter().rev().filter(|d| d.name == dm_name(vg_name, name, None)) {
                h.remove(&d.name)?;
            }
        }
    }
    s.commit(&mut vg)?;
    s.print(format!("Logical volume {vg_name}/{name} converted to snapshot."));
    Ok(())
}
