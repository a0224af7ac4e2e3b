//! The facts LVM's reports are made of, worked out once per VG and per
//! command: which snapshots belong to which origin ([`View`]), what the
//! device host says about every device ([`Devices`], one query), an LV's
//! live state and percentages ([`live`]), and the attribute strings
//! (`lv_attr`, `vg_attr`). The command line lays them out in columns.
//!
//! A report asks the same questions about every LV, so the work is
//! linear in the number of LVs: only active snapshots, merges and clones
//! need a status query of their own.

use crate::activate::DevState;
use crate::alloc;
use crate::disk::{PvDisk, Vg};
use crate::extent::Extents;
use crate::model::{LogicalVolume, MirrorRole, RaidRole, SnapshotIndex, SnapshotRef, NOTSYNCED};
use crate::names::dm_name;
use crate::ops::{shared_refusal, vg_of_device, Session};
use crate::{HostError, HostErrorKind};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use ulvm_blockdev::{Bytes, Sectors};
use ulvm_dm_table::{RaidHealth, TargetStatus};

/// What the device host says about an LV.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub dev: Option<DevState>,
    /// A clone's hydrated share, in percent.
    pub copy: Option<f64>,
    /// Snapshot (or merge) usage in percent.
    pub pct: Option<f64>,
    pub invalid: bool,
    /// A legacy mirror's image, or an atomic pvmove's image
    /// (`pvmove0_mimage_0`): whether its mirror is active and in sync (LVM's
    /// `i`; `I` while copying or inactive). `None` for other LVs.
    pub image_in_sync: Option<bool>,
    /// A raid LV's status, or, for its sub-LVs, their raid's (active only).
    pub raid: Option<ulvm_dm_table::RaidStatus>,
}

/// A snapshot's (or a merge's) usage in percent as LVM shows it, from a
/// device's status.
pub fn usage_pct(status: Result<TargetStatus, HostError>) -> Option<f64> {
    crate::percent::snapshot(status.ok()?.snapshot()?)
}

/// A VG as the reports look at it: what they ask for every LV, worked out
/// once.
pub struct View<'a> {
    pub vg: &'a Vg,
    pub snaps: SnapshotIndex,
    lvs: HashMap<&'a str, &'a LogicalVolume>,
    /// Free extents per PV key, worked out when first asked for.
    free: OnceCell<BTreeMap<String, Extents>>,
}

impl<'a> View<'a> {
    pub fn new(vg: &'a Vg) -> View<'a> {
        View {
            vg,
            snaps: vg.vg.snapshot_index(),
            lvs: vg.vg.lvs.iter().map(|l| (l.name.as_str(), l)).collect(),
            free: OnceCell::new(),
        }
    }

    pub fn lv(&self, name: &str) -> Option<&'a LogicalVolume> {
        self.lvs.get(name).copied()
    }

    pub fn snapshot_of_cow(&self, cow: &str) -> Option<&SnapshotRef> {
        self.snaps.of_cow(cow)
    }

    pub fn free(&self) -> &BTreeMap<String, Extents> {
        self.free.get_or_init(|| alloc::free_extents(&self.vg.vg))
    }

    /// Free extents of the PV `key`.
    pub fn pv_free(&self, key: &str) -> Extents {
        self.free().get(key).copied().unwrap_or_default()
    }

    /// Whether LVM lists the LV without `-a`: a merging snapshot's COW is hidden.
    pub fn visible(&self, lv: &LogicalVolume) -> bool {
        match self.snapshot_of_cow(&lv.name) {
            Some(s) => !s.merging,
            None => lv.is_visible(),
        }
    }
}

/// The daemon's devices, asked for once per command (none without a daemon).
#[derive(Default)]
pub struct Devices {
    pub states: HashMap<String, DevState>,
}

impl Devices {
    pub fn get(s: &mut Session) -> Devices {
        let states = s.host_if_running().and_then(|h| h.states().ok()).unwrap_or_default();
        Devices { states }
    }

    pub fn state(&self, dm: &str) -> Option<DevState> {
        self.states.get(dm).cloned()
    }
}

/// What the device host says about `lv`: its device, and a snapshot's,
/// merge's or clone's percentage (LVM's rules, [`crate::percent`]).
pub fn live(s: &mut Session, devs: &Devices, view: &View, lv: &LogicalVolume) -> Live {
    if devs.states.is_empty() {
        return Live::default();
    }
    let vname = &view.vg.vg.name;
    let mut l = Live { dev: devs.state(&dm_name(vname, &lv.name, None)), ..Default::default() };
    // Only devices that exist have a status: no query for the others.
    let mut status = |dm: String| -> Result<TargetStatus, HostError> {
        match s.host_if_running() {
            Some(h) if devs.states.contains_key(&dm) => h.status(&dm),
            _ => Err(HostError::new(HostErrorKind::NotFound, format!("Device {dm} not found"))),
        }
    };
    let merging = |o: &str| view.snaps.of_origin(o).any(|s| s.merging);
    if let Some(s) = view.snapshot_of_cow(&lv.name) {
        // A merge in progress reports through the origin's snapshot-merge
        // status; a merge still waiting for activation, like any snapshot.
        let merge_pct = if s.merging { usage_pct(status(dm_name(vname, &s.origin, None))) } else { None };
        if merge_pct.is_some() {
            l.pct = merge_pct;
        } else if l.dev.is_some() {
            let st = status(dm_name(vname, &lv.name, None));
            if st.as_ref().ok().and_then(|s| s.snapshot()).is_some_and(|s| s.is_invalid()) {
                l.invalid = true;
                l.pct = Some(100.0);
            } else {
                l.pct = usage_pct(st);
            }
        }
    } else if lv.clone_ref().is_some() && l.dev.is_some() {
        let st = status(dm_name(vname, &lv.name, None)).ok();
        l.copy = st.as_ref().and_then(|s| s.clone_status()).and_then(crate::percent::clone);
    } else if lv.mirror().is_some() && l.dev.is_some() {
        let st = status(dm_name(vname, &lv.name, None)).ok();
        l.copy = st.as_ref().and_then(|s| match s {
            TargetStatus::Mirror(m) => Some(crate::percent::mirror(m)),
            _ => None,
        });
    } else if lv.raid().is_some() && l.dev.is_some() {
        // A raid origin's raid is its `-real` device.
        let layer = view.snaps.has_snapshots(&lv.name).then_some("real");
        if let Ok(TargetStatus::Raid(r)) = status(dm_name(vname, &lv.name, layer)) {
            l.copy = Some(r.sync_percent());
            l.raid = Some(r);
        }
    } else if let Some((parent, _)) = view.vg.vg.raid_parent(&lv.name) {
        let layer = view.snaps.has_snapshots(&parent.name).then_some("real");
        let dm = dm_name(vname, &parent.name, layer);
        if devs.states.contains_key(&dm) {
            if let Ok(TargetStatus::Raid(r)) = status(dm) {
                l.raid = Some(r);
            }
        }
    } else if let Some((parent, MirrorRole::Image { .. })) = view.vg.vg.mirror_parent(&lv.name) {
        let dm = dm_name(vname, &parent.name, None);
        let synced = devs.states.contains_key(&dm)
            && matches!(status(dm), Ok(TargetStatus::Mirror(m)) if m.in_sync == m.regions);
        l.image_in_sync = Some(synced);
    } else if let Some(m) = view.vg.vg.pvmove_of_image(&lv.name) {
        let dm = dm_name(vname, &m.name, None);
        let lines = devs.states.contains_key(&dm).then(|| s.host_if_running().and_then(|h| h.status_lines(&dm).ok()));
        l.image_in_sync = Some(lines.flatten().is_some_and(|lines| pvmove_percent(m, &lines) >= 100.0));
    } else if lv.is_pvmove() && l.dev.is_some() {
        let dm = dm_name(vname, &lv.name, None);
        let lines = s.host_if_running().and_then(|h| h.status_lines(&dm).ok());
        l.copy = lines.map(|lines| pvmove_percent(lv, &lines));
    } else if merging(&lv.name) && l.dev.is_some() {
        l.pct = usage_pct(status(dm_name(vname, &lv.name, None)));
    }
    l
}

/// A pvmove's overall progress as LVM shows it (`Cpy%Sync`, the
/// `Moved:` lines): moved segments, plus the running segment's in-sync
/// share in whole extents, over the LV's extents.
pub fn pvmove_percent(lv: &LogicalVolume, lines: &[ulvm_dm_table::StatusLine]) -> f64 {
    let total = lv.extents().0;
    let mut done = 0;
    for (i, (seg, st)) in lv.segments.iter().zip(crate::activate::move_states(lv)).enumerate() {
        match st {
            crate::activate::MoveState::Completed => done += seg.extent_count.0,
            crate::activate::MoveState::Running => {
                if let Some(TargetStatus::Mirror(m)) = lines.get(i).map(|l| &l.status) {
                    done += seg.extent_count.0 * m.in_sync / m.regions.max(1);
                }
            }
            crate::activate::MoveState::Disabled => {}
        }
    }
    if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    }
}

/// LVM's allocation-policy letter (`lv_attr`'s third), upper-case while
/// a pvmove holds the LV.
fn alloc_letter(lv: &LogicalVolume) -> char {
    let c = match lv.allocation_policy() {
        Some("contiguous") => 'c',
        Some("cling") | Some("cling_by_tags") => 'l',
        Some("normal") => 'n',
        Some("anywhere") => 'a',
        _ => 'i',
    };
    if lv.is_locked() {
        c.to_ascii_uppercase()
    } else {
        c
    }
}

/// LVM's `lv_attr` (`owi-aos---`): type, permission, allocation, state,
/// open, target type, and skip-activation letters.
pub fn lv_attr(view: &View, lv: &LogicalVolume, l: &Live) -> String {
    let snap = view.snapshot_of_cow(&lv.name);
    let is_origin = view.snaps.has_snapshots(&lv.name);
    let c0 = match (&snap, is_origin) {
        (Some(s), _) => {
            if s.merging {
                'S'
            } else {
                's'
            }
        }
        (None, true) => {
            if view.snaps.of_origin(&lv.name).any(|s| s.merging) {
                'O'
            } else {
                'o'
            }
        }
        _ => '-',
    };
    // A legacy mirror and its sub-LVs (LVM derives their roles from the
    // references, as `mirror_parent` does), and an atomic pvmove's images.
    let role = view.vg.vg.mirror_parent(&lv.name).map(|(_, r)| r);
    let mirror = lv.mirror().is_some();
    let pvmove_image = view.vg.vg.pvmove_of_image(&lv.name).is_some();
    let raid_role = view.vg.vg.raid_parent(&lv.name).map(|(_, r)| r);
    let raid = lv.raid().is_some();
    let c0 = if lv.is_pvmove() {
        'p'
    } else if let Some(r) = raid_role {
        match r {
            RaidRole::Meta { .. } => 'e',
            RaidRole::Image { index } => {
                let in_sync = l.dev.is_some()
                    && !lv.is_visible()
                    && l.raid.as_ref().and_then(|st| st.health.get(index)) == Some(&RaidHealth::InSync);
                if in_sync {
                    'i'
                } else {
                    'I'
                }
            }
        }
    } else if raid {
        // An origin's letter wins over raid's, as in LVM.
        if is_origin {
            c0
        } else if lv.has_status(NOTSYNCED) {
            'R'
        } else {
            'r'
        }
    } else if mirror {
        if lv.has_status(NOTSYNCED) {
            'M'
        } else {
            'm'
        }
    } else {
        match role {
            Some(MirrorRole::Image { .. }) if l.image_in_sync == Some(true) => 'i',
            Some(MirrorRole::Image { .. }) => 'I',
            Some(MirrorRole::Log) => 'l',
            None if pvmove_image && l.image_in_sync == Some(true) => 'i',
            None if pvmove_image => 'I',
            None => c0,
        }
    };
    let c1 = if lv.is_pvmove() {
        '-'
    } else if lv.is_writable() {
        'w'
    } else {
        'r'
    };
    let c4 = match &l.dev {
        None => '-',
        Some(_) if l.invalid => 'I',
        Some(d) if d.suspended => 's',
        Some(_) => 'a',
    };
    let c5 = if l.dev.as_ref().is_some_and(|d| d.open_count > 0) { 'o' } else { '-' };
    let c6 = if raid || raid_role.is_some() {
        'r'
    } else if lv.is_pvmove() || mirror || role.is_some() || pvmove_image {
        'm'
    } else if snap.is_some() || is_origin {
        's'
    } else {
        '-'
    };
    let c9 = if lv.flags.iter().any(|f| f == "ACTIVATION_SKIP") { 'k' } else { '-' };
    let c2 = alloc_letter(lv);
    let c8 = if raid || raid_role.is_some() { raid_health_letter(view, lv, raid_role, l) } else { '-' };
    format!("{c0}{c1}{c2}-{c4}{c5}{c6}-{c8}{c9}")
}

/// Whether LVM takes `lv` for partial: extents of it (or, for a raid LV,
/// of its sub-LVs) are on a missing PV.
pub fn lv_partial(view: &View, lv: &LogicalVolume) -> bool {
    let vg = view.vg;
    if vg.missing.is_empty() {
        return false;
    }
    if lv.raid().is_some() {
        return vg
            .vg
            .raid_sub_lvs(&lv.name)
            .iter()
            .any(|n| view.lv(n).is_some_and(|s| !crate::activate::lv_on_present_pvs(vg, s)));
    }
    !crate::activate::lv_on_present_pvs(vg, lv)
}

/// `lv_attr`'s ninth letter for a raid LV or sub-LV (LVM's volume
/// health): `p` partial, `r` a device of it failed (refresh needed), `m`
/// the last check found mismatches, `s` reshaping, `w` a write-mostly
/// image.
fn raid_health_letter(view: &View, lv: &LogicalVolume, role: Option<RaidRole>, l: &Live) -> char {
    if lv_partial(view, lv) {
        return 'p';
    }
    let healthy = match (&l.raid, role) {
        (None, _) => true,
        (Some(st), None) => !st.health.contains(&RaidHealth::Dead),
        (Some(st), Some(RaidRole::Image { index } | RaidRole::Meta { index })) => {
            st.health.get(index) != Some(&RaidHealth::Dead)
        }
    };
    if !healthy {
        return 'r';
    }
    match (role, &l.raid) {
        (None, Some(st)) if st.mismatch_count > 0 => 'm',
        (None, Some(st)) if st.action == ulvm_dm_table::SyncAction::Reshape => 's',
        (Some(_), _) if lv.has_status(crate::model::WRITEMOSTLY) => 'w',
        _ => '-',
    }
}

/// LVM's `lv_health_status`: `partial`, `refresh needed`, `mismatches
/// exist` for raid LVs, else nothing.
pub fn health_status(view: &View, lv: &LogicalVolume, l: &Live) -> &'static str {
    let role = view.vg.vg.raid_parent(&lv.name).map(|(_, r)| r);
    if lv.raid().is_none() && role.is_none() {
        return if lv_partial(view, lv) { "partial" } else { "" };
    }
    match raid_health_letter(view, lv, role, l) {
        'p' => "partial",
        'r' => "refresh needed",
        'm' => "mismatches exist",
        _ => "",
    }
}

/// LVM's `vg_attr` (`wz--n-`).
pub fn vg_attr(vg: &Vg) -> String {
    let st = |f: &str| vg.vg.status.iter().any(|s| s == f);
    format!(
        "{}{}{}{}n{}",
        if st("WRITE") { 'w' } else { 'r' },
        if st("RESIZEABLE") { 'z' } else { '-' },
        if st("EXPORTED") { 'x' } else { '-' },
        if vg.missing.is_empty() { '-' } else { 'p' },
        if st("CLUSTERED") {
            'c'
        } else if vg.vg.lock_type().is_some() {
            's'
        } else {
            '-'
        },
    )
}

/// The PVs `pvs` and `pvdisplay` show, with their VG: those on the devices
/// named (every one when none is), but none of a shared VG's.
pub fn shown_pvs<'a>(
    pvs: &'a [PvDisk],
    vgs: &'a BTreeMap<String, Vg>,
    wanted: &'a [PathBuf],
) -> impl Iterator<Item = (&'a PvDisk, Option<&'a Vg>)> + 'a {
    shown_pvs_of(pvs, vgs, wanted, false)
}

/// [`shown_pvs`], with a shared VG's PVs too when `shared` (`--shared`).
pub fn shown_pvs_of<'a>(
    pvs: &'a [PvDisk],
    vgs: &'a BTreeMap<String, Vg>,
    wanted: &'a [PathBuf],
    shared: bool,
) -> impl Iterator<Item = (&'a PvDisk, Option<&'a Vg>)> + 'a {
    pvs.iter()
        .filter(move |d| wanted.is_empty() || wanted.contains(&d.path))
        .map(move |d| (d, vg_of_device(vgs, &d.path)))
        .filter(move |(_, vg)| shared || !vg.is_some_and(|v| shared_refusal(v).is_some()))
        // An outdated PV (it holds a VG's metadata, but the VG no longer
        // lists it) is hidden, as LVM hides it, until `vgck --updatemetadata`.
        .filter(|(d, vg)| vg.is_some() || d.vg.is_none())
}

/// A PV's first metadata area as LVM's reports show it (`pv_mda_size`,
/// `pv_mda_free`): its size, and the free space LVM counts in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MdaSpace {
    pub size: Sectors,
    pub free: Sectors,
}

/// The free space LVM 2.03 reports in a metadata area of `area` bytes
/// (header included) holding a text of `text` bytes: half of the ring
/// after the header, less the text and one sector more (LVM counts a
/// text's usage so; no text counts the sector alone), in whole sectors.
/// Measured against real LVM over texts of 0 to 2600 bytes: its count
/// drops a sector as the text grows past each 512-byte step less one
/// sector (1274 bytes: 1016 sectors; 1281: 1015).
pub fn mda_free(area: u64, text: Option<u64>) -> Sectors {
    let used = text.unwrap_or(0) + crate::mda::MDA_HEADER_SIZE;
    let ring = area.saturating_sub(crate::mda::MDA_HEADER_SIZE);
    if used * 2 >= ring {
        return Sectors(0);
    }
    Bytes((ring - 2 * used) / 2).sectors_floor()
}

/// [`MdaSpace`] of the PV's first metadata area, read from its header
/// (`None` when the PV has none, or its header does not decode).
pub fn mda_space(d: &PvDisk) -> Option<MdaSpace> {
    let area = *d.label.metadata_areas.first()?;
    let mut hb = vec![0u8; crate::mda::MDA_HEADER_LEN];
    d.dev.read(Bytes(area.offset).sectors_floor(), &mut hb).ok()?;
    let header = crate::mda::MdaHeader::decode(&hb, area.offset).ok()?;
    let text = header.committed.map(|r| r.size);
    Some(MdaSpace { size: Bytes(area.size).sectors_floor(), free: mda_free(area.size, text) })
}

/// The read-ahead the kernel gives an active LV when LVM's is `auto`:
/// its PVs' (the block layer's default of 128 KiB), or twice a striped
/// segment's full stripe when that is more (the block layer reads ahead
/// twice a device's optimal I/O size, and dm-stripe's is one full stripe).
pub fn kernel_read_ahead(lv: &LogicalVolume) -> Sectors {
    let default = Sectors(256);
    let striped = lv
        .segments
        .first()
        .and_then(|s| match &s.kind {
            crate::model::SegmentKind::Striped { stripes, stripe_size: Some(size) } if stripes.len() > 1 => {
                Some(Sectors(2 * size.0 * stripes.len() as u64))
            }
            _ => None,
        })
        .unwrap_or_default();
    default.max(striped)
}

#[cfg(test)]
mod mda_tests {
    use super::*;

    #[test]
    fn test_mda_free_is_lvms_for_oracle7s_areas() {
        // oracle7 116: a 1020 KiB area; an orphan, vg1's text, vg0's.
        let area = 1020 * 1024;
        assert_eq!(mda_free(area, None), Sectors(1018));
        assert_eq!(mda_free(area, Some(1100)), Sectors(1016));
        assert_eq!(mda_free(area, Some(2600)), Sectors(1013));
        assert_eq!(mda_free(2048, Some(1024)), Sectors(0));
        // Real LVM 2.03.16 on texts it wrote (tags added one by one), and
        // on a new VG's.
        assert_eq!(mda_free(area, Some(703)), Sectors(1017));
        assert_eq!(mda_free(area, Some(822)), Sectors(1016));
        assert_eq!(mda_free(area, Some(1274)), Sectors(1016));
        assert_eq!(mda_free(area, Some(1281)), Sectors(1015));
    }
}
