//! `lvconvert --merge VG/SNAP`: a snapshot merged back into its origin.
//!
//! The metadata records the merge first (`merging_store`), so it survives
//! anything. If the origin is active and closed its tables switch to
//! `snapshot-merge` at once and the device host runs the merge; otherwise
//! it starts at the origin's next activation. Either way a poller
//! ([`super::jobs::SnapshotMerge`]) finishes it.

use super::Session;
use crate::activate;
use crate::model::SegmentKind;
use crate::names::dm_name;
use crate::LvmError;

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
