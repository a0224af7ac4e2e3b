//! Activation: the dm devices that make an LV usable, with LVM's names
//! and UUIDs (`VG-LV`, `VG-LV-real`, `VG-SNAP-cow`, `LVM-<vg><lv>[-layer]`),
//! planned here and carried out by whatever hosts dm devices (the daemon,
//! through [`DmHost`]).
//!
//! An origin and its snapshots are one unit: activating any of them
//! activates all of them, as in the kernel document's four-device stack:
//!
//! ```text
//! VG-base-real  linear/striped over the PVs (the origin's own table)
//! VG-snap-cow   linear/striped over the PVs (the COW LV's table)
//! VG-snap       snapshot VG-base-real VG-snap-cow P CHUNK
//! VG-base       snapshot-origin VG-base-real  (snapshot-merge ... while merging)
//! ```

use crate::disk::Vg;
use crate::extent::Extents;
use crate::model::{LogicalVolume, Mirror, SegmentKind, SnapshotRef};
use crate::names::{dm_name, dm_uuid};
use crate::{err, FormatError, HostError, LvmError};
use std::collections::HashMap;
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{
    CloneArgs, DevRef, LogSync, MirrorArgs, MirrorFeatures, MirrorLog, RaidArgs, RaidDev, SnapshotArgs,
    SnapshotFeatures, StatusLine, StoreType, Stripe, Table, TableLine, TargetArgs, TargetStatus,
};

/// One dm device to create: name, uuid and table (devices named by path
/// or dm name, as `dmsetup create` takes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmDevice {
    pub name: String,
    pub uuid: String,
    pub table: Table,
    pub read_only: bool,
    /// Open the PVs under it with O_DIRECT: set for the devices of a shared
    /// VG, so that no write of ours reaches a PV after another host took
    /// the lease (it would otherwise wait in the page cache).
    pub direct_io: bool,
}

/// What the host says about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevState {
    pub open_count: u32,
    pub suspended: bool,
    pub major: u32,
    pub minor: u32,
}

/// Whether a suspend freezes the file system mounted on the device first
/// (device-mapper's `lock_fs`; `dmsetup suspend --nolockfs` skips it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFs {
    /// Freeze what is mounted on the device before draining its I/O, thaw
    /// it after the resume: what a snapshot needs to see a clean file
    /// system.
    Lock,
    /// Drain I/O only.
    Skip,
}

impl LockFs {
    /// LVM's rule: a suspend locks the file system when the LV is a
    /// snapshot origin or a snapshot in the metadata being committed, that
    /// is, when its new table is `snapshot-origin`, `snapshot-merge` or
    /// `snapshot`.
    pub fn for_table(table: &Table) -> LockFs {
        let snapshotty = table.0.iter().any(|l| {
            matches!(
                l.target,
                TargetArgs::SnapshotOrigin { .. } | TargetArgs::SnapshotMerge(_) | TargetArgs::Snapshot(_)
            )
        });
        if snapshotty {
            LockFs::Lock
        } else {
            LockFs::Skip
        }
    }
}

/// The operations activation needs from a device host. Errors carry the
/// host's kind (a missing device is `NotFound`) and one-line message.
pub trait DmHost {
    fn state(&mut self, name: &str) -> Result<Option<DevState>, HostError>;
    /// Every device's state, by dm name, in one request (what reports of
    /// big VGs ask instead of one `state` per LV).
    fn states(&mut self) -> Result<HashMap<String, DevState>, HostError>;
    fn create(&mut self, dev: &DmDevice) -> Result<(), HostError>;
    /// Loads `table` as the inactive table of `name`.
    fn load(&mut self, name: &str, table: &Table, read_only: bool) -> Result<(), HostError>;
    /// Suspends `name`; with [`LockFs::Lock`] the host first freezes the
    /// file system mounted on it, and thaws it when the device resumes.
    fn suspend(&mut self, name: &str, lock_fs: LockFs) -> Result<(), HostError>;
    fn resume(&mut self, name: &str) -> Result<(), HostError>;
    fn remove(&mut self, name: &str) -> Result<(), HostError>;
    fn rename(&mut self, name: &str, new_name: &str) -> Result<(), HostError>;
    /// The status of the device's first target.
    fn status(&mut self, name: &str) -> Result<TargetStatus, HostError>;
    /// The status of each of the device's targets, in table order (a
    /// pvmove's device has one per segment).
    fn status_lines(&mut self, name: &str) -> Result<Vec<StatusLine>, HostError>;
    /// Sends a raid device a sync action (`dmsetup message NAME 0 check`,
    /// what `lvchange --syncaction` does).
    fn raid_message(&mut self, name: &str, message: RaidMessage) -> Result<(), HostError>;
    /// Takes (or converts, or with [`LeaseOp::Release`] lets go) the
    /// sanlock lease of an LV of a shared VG, which the host holds for as
    /// long as the LV is active. A lease another host holds is refused
    /// with [`crate::HostErrorKind::Busy`].
    fn lease(&mut self, lease: &Lease, op: LeaseOp) -> Result<(), HostError>;
}

pub use ulvm_sanlock::Lease;

/// What [`DmHost::lease`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOp {
    /// `-aey`: this host alone.
    Exclusive,
    /// `-asy`: shared with other hosts that also hold it shared.
    Shared,
    Release,
}

pub use ulvm_dm_table::RaidMessage;

/// The word a raid message is sent as.
pub fn raid_message_word(m: RaidMessage) -> &'static str {
    match m {
        RaidMessage::Idle => "idle",
        RaidMessage::Frozen => "frozen",
        RaidMessage::Resync => "resync",
        RaidMessage::Recover => "recover",
        RaidMessage::Check => "check",
        RaidMessage::Repair => "repair",
    }
}

/// The table of an LV's own extents: `linear` or `striped` lines over the PVs.
pub fn extent_table(vg: &Vg, lv: &LogicalVolume) -> Result<Table, FormatError> {
    let es = vg.vg.extent_size;
    let mut lines = Vec::new();
    for seg in &lv.segments {
        let SegmentKind::Striped { stripe_size, stripes } = &seg.kind else {
            return err(format!("LV {} has a segment of a type ulvm cannot activate", lv.name));
        };
        let mut areas = Vec::new();
        for (key, pe) in stripes {
            areas.push(area(vg, &lv.name, key, *pe)?);
        }
        let target = if areas.len() == 1 {
            let Stripe { dev, offset } = areas.remove(0);
            TargetArgs::Linear { dev, offset }
        } else {
            TargetArgs::Striped { chunk_size: stripe_size.unwrap_or(Sectors(128)), stripes: areas }
        };
        lines.push(TableLine { start: es.to_sectors(seg.start_extent), len: es.to_sectors(seg.extent_count), target });
    }
    Ok(Table(lines))
}

/// Where an area of an LV's segment is: extent `pe` of PV `key`, or,
/// when `key` names an LV (a pvmove's `pvmove0`), its logical extent
/// `pe` on that LV's device.
fn area(vg: &Vg, lv: &str, key: &str, pe: Extents) -> Result<Stripe, FormatError> {
    let es = vg.vg.extent_size;
    let Some(pv) = vg.vg.pv(key) else {
        if vg.vg.lv(key).is_none() {
            return err(format!("LV {lv}: unknown PV or LV {key}"));
        }
        return Ok(Stripe { dev: DevRef::Path(dm_name(&vg.vg.name, key, None)), offset: es.to_sectors(pe) });
    };
    let Some(d) = vg.disk(key) else {
        return err(format!("LV {lv}: PV {key} ({}) is missing", vg.pv_path(key)));
    };
    Ok(Stripe { dev: DevRef::Path(d.path.display().to_string()), offset: pv.pe_start + es.to_sectors(pe) })
}

/// LVM's default mirror region size (`activation/raid_region_size`,
/// 2 MiB), which pvmove uses.
pub const DEFAULT_REGION_SIZE: Sectors = Sectors(4096);

/// The region size a mirror of `len` sectors gets: `region`, halved
/// until it fits in the segment (LVM's `adjusted_mirror_region_size`).
pub fn adjusted_region_size(region: Sectors, len: Sectors) -> Sectors {
    let mut r = region.0.max(2);
    while r > len.0 && r > 2 {
        r /= 2;
    }
    Sectors(r)
}

/// What a pvmove's segment maps to now, in LE order: done segments
/// (`extents_moved == extent_count`) to the destination, the first
/// unfinished one a mirror from the source to the destination, the later
/// ones to the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveState {
    Completed,
    Running,
    Disabled,
}

/// The state of each of a pvmove LV's segments, as LVM decides it.
pub fn move_states(lv: &LogicalVolume) -> Vec<MoveState> {
    let mut running = false;
    lv.segments
        .iter()
        .map(|seg| match &seg.kind {
            SegmentKind::Mirror(m) if m.extents_moved == Some(seg.extent_count) => MoveState::Completed,
            _ if running => MoveState::Disabled,
            _ => {
                running = true;
                MoveState::Running
            }
        })
        .collect()
}

/// The table of a pvmove's LV (`pvmove0`): one line per segment, as in
/// [`move_states`], the running one `mirror core 1 REGION 2 SRC DST`.
pub fn pvmove_table(vg: &Vg, lv: &LogicalVolume) -> Result<Table, FormatError> {
    let es = vg.vg.extent_size;
    let mut lines = Vec::new();
    for (seg, state) in lv.segments.iter().zip(move_states(lv)) {
        let len = es.to_sectors(seg.extent_count);
        if matches!(&seg.kind, SegmentKind::Other { segment_type } if segment_type == "error") {
            // An orphan a finish left between its two commits: the
            // parents map the PVs already; the next poll drops it.
            lines.push(TableLine { start: es.to_sectors(seg.start_extent), len, target: TargetArgs::Error });
            continue;
        }
        let SegmentKind::Mirror(Mirror { areas, region_size, .. }) = &seg.kind else {
            return err(format!("pvmove LV {} has a segment that is not a mirror", lv.name));
        };
        let [(src, src_pe), (dst, dst_pe)] = areas.as_slice() else {
            return err(format!("pvmove LV {}: a segment with {} areas", lv.name, areas.len()));
        };
        let target = match state {
            MoveState::Completed => {
                let Stripe { dev, offset } = area(vg, &lv.name, dst, *dst_pe)?;
                TargetArgs::Linear { dev, offset }
            }
            MoveState::Disabled => {
                let Stripe { dev, offset } = area(vg, &lv.name, src, *src_pe)?;
                TargetArgs::Linear { dev, offset }
            }
            MoveState::Running => TargetArgs::Mirror(MirrorArgs {
                log: MirrorLog::Core {
                    region_size: adjusted_region_size(region_size.unwrap_or(DEFAULT_REGION_SIZE), len),
                    sync: LogSync::Default,
                },
                legs: vec![area(vg, &lv.name, src, *src_pe)?, area(vg, &lv.name, dst, *dst_pe)?],
                features: MirrorFeatures::default(),
            }),
        };
        lines.push(TableLine { start: es.to_sectors(seg.start_extent), len, target });
    }
    Ok(Table(lines))
}

/// The pvmove LVs (`pvmove0`) the segments of `lvs` map through.
fn pvmoves_under<'a>(vg: &'a Vg, lvs: &[&'a LogicalVolume]) -> Vec<&'a LogicalVolume> {
    let mut out: Vec<&LogicalVolume> = Vec::new();
    for lv in lvs {
        for (_, _, name, _) in lv.lv_areas(&vg.vg) {
            if let Some(m) = vg.vg.lv(name).filter(|m| m.is_pvmove()) {
                if !out.iter().any(|o| o.name == m.name) {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// The pvmove LV an LV name belongs to: `pvmoveN` itself, or an atomic
/// move's image `pvmoveN_mimage_K`. LVM reserves the `pvmove` prefix.
pub fn pvmove_lv_of(lv: &str) -> Option<&str> {
    let digits = |n: &str| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit());
    let base = match lv.rsplit_once("_mimage_") {
        Some((base, k)) if digits(k) => base,
        _ => lv,
    };
    base.strip_prefix("pvmove").is_some_and(digits).then_some(base)
}

/// Whether a dm name is a pvmove's device (`VG-pvmoveN`, or one of an
/// atomic move's images `VG-pvmoveN_mimage_K`).
pub fn is_pvmove_dm(name: &str) -> bool {
    crate::names::split_dm_name(name).is_some_and(|(_, lv, layer)| layer.is_none() && pvmove_lv_of(&lv).is_some())
}

/// The devices of a pvmove LV, lowest first: an atomic move's images
/// (`pvmove0_mimage_0`, `_1`, which its one mirror stacks on), then its own.
fn pvmove_devs(vg: &Vg, m: &LogicalVolume) -> Result<Vec<DmDevice>, LvmError> {
    let v = &vg.vg;
    let dev = |lv: &LogicalVolume, table: Table| DmDevice {
        name: dm_name(&v.name, &lv.name, None),
        uuid: dm_uuid(&v.id, &lv.id, None),
        table,
        read_only: false,
        direct_io: v.lock_type().is_some(),
    };
    let mut out: Vec<DmDevice> = Vec::new();
    for (_, _, name, _) in m.lv_areas(v) {
        let Some(image) = v.lv(name) else { continue };
        if !out.iter().any(|d| d.name == dm_name(&v.name, name, None)) {
            out.push(dev(image, extent_table(vg, image)?));
        }
    }
    out.push(dev(m, pvmove_table(vg, m)?));
    Ok(out)
}

/// A one-line table of `len` sectors.
fn one_line(len: Sectors, target: TargetArgs) -> Table {
    Table(vec![TableLine { start: Sectors(0), len, target }])
}

/// A snapshot of `real` in `cow`, persistent, as LVM loads it.
fn snapshot_args(real: &str, cow: &str, chunk_size: Sectors) -> Result<SnapshotArgs, FormatError> {
    let chunk_size =
        u32::try_from(chunk_size.0).map_err(|_| FormatError(format!("chunk size {chunk_size} too large")))?;
    Ok(SnapshotArgs {
        origin: DevRef::Path(real.to_string()),
        cow: DevRef::Path(cow.to_string()),
        store: StoreType::Persistent { overflow: false },
        chunk_size,
        features: SnapshotFeatures::default(),
    })
}

/// The hydration tuning of an LVM clone's table: copies of up to 16
/// regions at once, as long as fewer than 64 regions are in flight.
pub const CLONE_HYDRATION_THRESHOLD: u32 = 64;
pub const CLONE_HYDRATION_BATCH_SIZE: u32 = 16;

fn lv_sectors(vg: &Vg, lv: &LogicalVolume) -> Sectors {
    vg.vg.extent_size.to_sectors(lv.extents())
}

/// Devices other devices of a family stack on (held open by them): the
/// origin's `-real`, a snapshot's `-cow`, a clone's `-dest` and metadata.
fn is_layer(name: &str) -> bool {
    name.ends_with("-real")
        || name.ends_with("-cow")
        || name.ends_with("-dest")
        || name.ends_with("_clonemeta")
        || is_pvmove_dm(name)
        || is_mirror_sub_dm(name)
        || is_raid_sub_dm(name)
}

/// The name of the LV a user named to the origin/snapshot family it is in.
pub fn family_origin(vg: &Vg, lv: &str) -> String {
    if let Some(m) = vg.vg.pvmove_of_image(lv) {
        return m.name.clone();
    }
    if let Some(s) = vg.vg.snapshot_of_cow(lv) {
        return s.origin;
    }
    if let Some(c) = vg.vg.clone_of_metadata(lv) {
        return c.name.clone();
    }
    if let Some((r, _)) = vg.vg.raid_parent(lv) {
        return r.name.clone();
    }
    vg.vg.mirror_top(lv).to_string()
}

/// The devices of one origin (or plain LV) and its snapshots, lowest first.
pub fn plan(vg: &Vg, origin_name: &str) -> Result<Vec<DmDevice>, LvmError> {
    let v = &vg.vg;
    let origin = v
        .lv(origin_name)
        .ok_or_else(|| LvmError::NotFound(format!("Failed to find logical volume \"{}/{origin_name}\"", v.name)))?;
    let snaps: Vec<SnapshotRef> = v.snapshots_of(origin_name);
    if origin.is_pvmove() {
        return pvmove_devs(vg, origin);
    }
    // A pvmove under any LV of the family comes first: activating an LV
    // that is being moved activates its pvmove.
    let mut members = vec![origin];
    members.extend(snaps.iter().filter_map(|s| v.lv(&s.cow)));
    members.extend(origin.clone_ref().and_then(|c| v.lv(&c.metadata_lv)));
    let mut out: Vec<DmDevice> = Vec::new();
    for m in pvmoves_under(vg, &members) {
        out.extend(pvmove_devs(vg, m)?);
    }
    out.extend(plan_own(vg, origin, &snaps)?);
    Ok(out)
}

/// [`plan`] without the pvmoves underneath.
fn plan_own(vg: &Vg, origin: &LogicalVolume, snaps: &[SnapshotRef]) -> Result<Vec<DmDevice>, LvmError> {
    let (below, own) = own_table(vg, origin)?;
    if !below.is_empty() {
        // A legacy mirror: its log and images first, then the mirror
        // (under a snapshot's `-real` if it has snapshots).
        let mut out = below;
        out.extend(plan_top(vg, origin, snaps, own)?);
        return Ok(out);
    }
    plan_top(vg, origin, snaps, own)
}

/// The devices of an LV given its own table: the LV's device, or, with
/// snapshots, `-real`, the snapshots and the origin.
fn plan_top(vg: &Vg, origin: &LogicalVolume, snaps: &[SnapshotRef], own: Table) -> Result<Vec<DmDevice>, LvmError> {
    let v = &vg.vg;
    let dev = |lv: &LogicalVolume, layer: Option<&str>, table: Table, ro: bool| DmDevice {
        name: dm_name(&v.name, &lv.name, layer),
        uuid: dm_uuid(&v.id, &lv.id, layer),
        table,
        read_only: ro,
        direct_io: v.lock_type().is_some(),
    };
    if let Some(c) = origin.clone_ref() {
        // The destination is the LV's own extents; the metadata LV's
        // extents hold the dm-clone metadata.
        let meta = v
            .lv(&c.metadata_lv)
            .ok_or_else(|| FormatError(format!("clone metadata LV {} is missing", c.metadata_lv)))?;
        let size = lv_sectors(vg, origin);
        let meta_dev = dev(meta, None, extent_table(vg, meta)?, false);
        let dest = dev(origin, Some("dest"), own, false);
        let source: DevRef = c.source.parse().map_err(|e| FormatError(format!("clone {}: {e}", origin.name)))?;
        let args = CloneArgs::new(
            DevRef::Path(meta_dev.name.clone()),
            DevRef::Path(dest.name.clone()),
            source,
            c.region_size.0,
            CLONE_HYDRATION_THRESHOLD,
            CLONE_HYDRATION_BATCH_SIZE,
        );
        let top = dev(origin, None, one_line(size, TargetArgs::Clone(args)), !origin.is_writable());
        return Ok(vec![meta_dev, dest, top]);
    }
    if snaps.is_empty() {
        return Ok(vec![dev(origin, None, own, !origin.is_writable())]);
    }
    let real = dm_name(&v.name, &origin.name, Some("real"));
    let size = lv_sectors(vg, origin);
    let mut out = vec![dev(origin, Some("real"), own, !origin.is_writable())];
    let mut merging = None;
    for s in snaps {
        let cow = v.lv(&s.cow).ok_or_else(|| FormatError(format!("snapshot COW {} is missing", s.cow)))?;
        let cow_name = dm_name(&v.name, &cow.name, Some("cow"));
        out.push(dev(cow, Some("cow"), extent_table(vg, cow)?, false));
        let args = snapshot_args(&real, &cow_name, s.chunk_size)?;
        // A snapshot keeps the size its origin had when it was taken (an
        // inactive origin may have grown since): its own segment's.
        let snap_size = v.lv(&s.seg_lv).map_or(size, |l| lv_sectors(vg, l));
        let table = if s.merging {
            merging = Some(args);
            one_line(size, TargetArgs::Error)
        } else {
            one_line(snap_size, TargetArgs::Snapshot(args))
        };
        out.push(dev(cow, None, table, !cow.is_writable()));
    }
    let top = match merging {
        Some(args) => one_line(size, TargetArgs::SnapshotMerge(args)),
        None => one_line(size, TargetArgs::SnapshotOrigin { origin: DevRef::Path(real) }),
    };
    out.push(dev(origin, None, top, !origin.is_writable()));
    Ok(out)
}

/// The devices an LV's own table stacks on (a legacy mirror's log and
/// images, each with what it stacks on, lowest first, as LVM creates
/// them: the log, then the images) and the LV's own table.
fn own_table(vg: &Vg, lv: &LogicalVolume) -> Result<(Vec<DmDevice>, Table), LvmError> {
    if lv.raid().is_some() {
        return raid_own_table(vg, lv);
    }
    let Some(m) = lv.mirror() else { return Ok((Vec::new(), extent_table(vg, lv)?)) };
    let v = &vg.vg;
    let mut below = Vec::new();
    for name in m.mirror_log.iter().chain(m.areas.iter().map(|(n, _)| n)) {
        let sub = v.lv(name).ok_or_else(|| FormatError(format!("mirror {}: its sub-LV {name} is missing", lv.name)))?;
        let (under, table) = own_table(vg, sub)?;
        below.extend(under);
        below.push(DmDevice {
            name: dm_name(&v.name, &sub.name, None),
            uuid: dm_uuid(&v.id, &sub.id, None),
            table,
            read_only: false,
            direct_io: v.lock_type().is_some(),
        });
    }
    Ok((below, mirror_table(vg, lv)?))
}

/// The table of a legacy mirror LV: one `mirror` line per segment, its
/// legs the images' devices, a `disk` log on the `_mlog` device or a
/// `core` log, `nosync` for a mirror made with `--nosync`, and
/// `handle_errors` (LVM adds it when the mirror is monitored; ulvm's
/// mirror target hands over a failed default leg with it, and
/// `lvconvert --repair` replaces the leg).
pub fn mirror_table(vg: &Vg, lv: &LogicalVolume) -> Result<Table, FormatError> {
    let es = vg.vg.extent_size;
    let sync = if lv.has_status(crate::model::NOTSYNCED) { LogSync::NoSync } else { LogSync::Default };
    let mut lines = Vec::new();
    for seg in &lv.segments {
        let SegmentKind::Mirror(m) = &seg.kind else {
            return err(format!("mirror LV {} has a segment that is not a mirror", lv.name));
        };
        let region_size = m.region_size.filter(|r| r.0 != 0).unwrap_or(DEFAULT_REGION_SIZE);
        let log = match &m.mirror_log {
            Some(l) => MirrorLog::Disk { dev: DevRef::Path(dm_name(&vg.vg.name, l, None)), region_size, sync },
            None => MirrorLog::Core { region_size, sync },
        };
        let mut legs = Vec::new();
        for (name, le) in &m.areas {
            legs.push(area(vg, &lv.name, name, *le)?);
        }
        lines.push(TableLine {
            start: es.to_sectors(seg.start_extent),
            len: es.to_sectors(seg.extent_count),
            target: TargetArgs::Mirror(MirrorArgs {
                log,
                legs,
                features: MirrorFeatures { handle_errors: true, keep_log: false },
            }),
        });
    }
    Ok(Table(lines))
}

/// The devices a raid LV stacks on (each slot's `_rmeta_N`, then its
/// `_rimage_N`, as linear or striped tables over the PVs) and its `raid`
/// table. A slot whose image or metadata LV has extents on a missing PV
/// gets no devices and `- -` in the table, as LVM activates a degraded
/// raid (`activation_mode` degraded or partial; the operations refuse
/// `complete` before planning).
fn raid_own_table(vg: &Vg, lv: &LogicalVolume) -> Result<(Vec<DmDevice>, Table), LvmError> {
    let v = &vg.vg;
    let r = lv.raid().expect("a raid LV");
    let mut below = Vec::new();
    let mut devs = Vec::new();
    let mut rebuild = Vec::new();
    let mut write_mostly = Vec::new();
    for (i, a) in r.areas.iter().enumerate() {
        let sub = |n: &str| v.lv(n).ok_or_else(|| FormatError(format!("raid {}: its sub-LV {n} is missing", lv.name)));
        let data = sub(&a.data)?;
        let meta = a.meta.as_deref().map(sub).transpose()?;
        if data.has_status(crate::model::REBUILD) || meta.is_some_and(|m| m.has_status(crate::model::REBUILD)) {
            rebuild.push(i);
        }
        if data.has_status(crate::model::WRITEMOSTLY) {
            write_mostly.push(i);
        }
        if !lv_on_present_pvs(vg, data) || meta.is_some_and(|m| !lv_on_present_pvs(vg, m)) {
            devs.push(RaidDev { meta: None, data: None });
            continue;
        }
        let mut slot = RaidDev { meta: None, data: None };
        for (sub, is_meta) in meta.into_iter().map(|m| (m, true)).chain(std::iter::once((data, false))) {
            let d = DmDevice {
                name: dm_name(&v.name, &sub.name, None),
                uuid: dm_uuid(&v.id, &sub.id, None),
                table: extent_table(vg, sub)?,
                read_only: false,
                direct_io: v.lock_type().is_some(),
            };
            let dev = Some(DevRef::Path(d.name.clone()));
            if is_meta {
                slot.meta = dev;
            } else {
                slot.data = dev;
            }
            below.push(d);
        }
        devs.push(slot);
    }
    let mut args = RaidArgs::raid1(Some(r.region_size.filter(|r| r.0 != 0).unwrap_or(DEFAULT_REGION_SIZE)), devs);
    if lv.has_status(crate::model::NOTSYNCED) {
        // As LVM 2.03 loads a `--nosync` raid1 at every activation (oracle6 025).
        args.sync = ulvm_dm_table::RaidSync::NoSync;
    }
    args.rebuild = rebuild;
    args.write_mostly = write_mostly;
    args.min_recovery_rate = r.min_recovery_rate.filter(|v| *v != 0);
    args.max_recovery_rate = r.max_recovery_rate.filter(|v| *v != 0);
    args.max_write_behind = r.writebehind.filter(|v| *v != 0).map(u64::from);
    let mut lines = Vec::new();
    let es = v.extent_size;
    for seg in &lv.segments {
        lines.push(TableLine {
            start: es.to_sectors(seg.start_extent),
            len: es.to_sectors(seg.extent_count),
            target: TargetArgs::Raid(args.clone()),
        });
    }
    Ok((below, Table(lines)))
}

/// Whether every PV an LV's extents are on is there.
pub fn lv_on_present_pvs(vg: &Vg, lv: &LogicalVolume) -> bool {
    lv.segments.iter().all(|seg| match &seg.kind {
        SegmentKind::Striped { stripes, .. } => {
            stripes.iter().all(|(k, _)| vg.vg.pv(k).is_none() || vg.disk(k).is_some())
        }
        _ => true,
    })
}

/// Whether a dm name is a raid LV's sub-LV (`VG-lv_rimage_0`,
/// `VG-lv_rmeta_0`): held open by the raid above it.
fn is_raid_sub_dm(name: &str) -> bool {
    crate::names::split_dm_name(name).is_some_and(|(_, lv, layer)| {
        layer.is_none() && (lv.contains(crate::model::RIMAGE_INFIX) || lv.contains(crate::model::RMETA_INFIX))
    })
}

/// Whether a dm name is a legacy mirror's sub-LV (`VG-lv_mimage_0`,
/// `VG-lv_mlog`): held open by the mirror above it.
fn is_mirror_sub_dm(name: &str) -> bool {
    crate::names::split_dm_name(name).is_some_and(|(_, lv, layer)| {
        layer.is_none() && (lv.contains(crate::model::MIMAGE_INFIX) || lv.ends_with(crate::model::MLOG_SUFFIX))
    })
}

/// The devices of several families, each once, lowest first: what one
/// change to many LVs (a pvmove's start or end) syncs in one go.
pub fn plan_many(vg: &Vg, lvs: &[String]) -> Result<Vec<DmDevice>, LvmError> {
    let mut out: Vec<DmDevice> = Vec::new();
    for lv in lvs {
        for d in plan(vg, lv)? {
            if !out.iter().any(|o| o.name == d.name) {
                out.push(d);
            }
        }
    }
    // Pvmove devices first: every family's tables may map through them.
    out.sort_by_key(|d| !is_pvmove_dm(&d.name));
    Ok(out)
}

/// Whether an LV is active (its top device exists).
pub fn is_active(host: &mut dyn DmHost, vg: &Vg, lv: &str) -> Result<Option<DevState>, HostError> {
    host.state(&dm_name(&vg.vg.name, lv, None))
}

/// Activates the family of `lv`; devices already there are left alone.
pub fn activate(host: &mut dyn DmHost, vg: &Vg, lv: &str) -> Result<(), LvmError> {
    let origin = family_origin(vg, lv);
    let devs = plan(vg, &origin)?;
    let mut made: Vec<String> = Vec::new();
    for d in &devs {
        if host.state(&d.name)?.is_some() {
            continue;
        }
        if let Err(e) = host.create(d) {
            for m in made.iter().rev() {
                let _ = host.remove(m);
            }
            return Err(e.into());
        }
        made.push(d.name.clone());
    }
    Ok(())
}

/// Deactivates the family of `lv`: refused while any of its devices is open.
pub fn deactivate(host: &mut dyn DmHost, vg: &Vg, lv: &str) -> Result<(), LvmError> {
    let origin = family_origin(vg, lv);
    let devs = plan(vg, &origin)?;
    // Top devices first; -real/-cow are held open by the others.
    for d in devs.iter().rev() {
        if let Some(st) = host.state(&d.name)? {
            if st.open_count > 0 && !is_layer(&d.name) {
                return Err(LvmError::InUse(format!(
                    "Logical volume {}/{} in use.",
                    vg.vg.name,
                    display_lv(&d.name, vg)
                )));
            }
        }
    }
    let family: Vec<String> = devs.iter().filter_map(|d| crate::names::split_dm_name(&d.name)).map(|x| x.1).collect();
    for d in devs.iter().rev() {
        if is_pvmove_dm(&d.name) && pvmove_still_used(host, vg, &d.name, &family)? {
            continue;
        }
        if host.state(&d.name)?.is_some() {
            host.remove(&d.name)?;
        }
    }
    Ok(())
}

/// Whether an active LV outside `family` maps through the pvmove device `dm`.
fn pvmove_still_used(host: &mut dyn DmHost, vg: &Vg, dm: &str, family: &[String]) -> Result<bool, HostError> {
    let Some((_, lv, _)) = crate::names::split_dm_name(dm) else { return Ok(false) };
    let Some(pvmove) = pvmove_lv_of(&lv) else { return Ok(false) };
    for lv in vg.vg.lvs.iter().filter(|l| !family.contains(&l.name) && !l.is_pvmove()) {
        if lv.lv_areas(&vg.vg).any(|(_, _, n, _)| n == pvmove) {
            for d in plan(vg, &lv.name).unwrap_or_default() {
                if !is_pvmove_dm(&d.name) && host.state(&d.name)?.is_some() {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

fn display_lv(dm: &str, vg: &Vg) -> String {
    match crate::names::split_dm_name(dm) {
        Some((_, lv, _)) => lv,
        None => dm.strip_prefix(&format!("{}-", vg.vg.name)).unwrap_or(dm).to_string(),
    }
}

/// Brings an active family's devices from the `before` plan to the `after`
/// plan (both from [`plan`]): devices that went away are removed (snapshot
/// devices first, `-real` last), new ones are created, and devices whose
/// table changed get the new one while suspended. Creating and loading
/// happen while the changed devices are suspended, top first, so no write
/// reaches the origin between a snapshot's creation and the origin's new
/// table.
pub fn sync_family(host: &mut dyn DmHost, before: &[DmDevice], after: &[DmDevice]) -> Result<(), LvmError> {
    let find = |list: &[DmDevice], name: &str| list.iter().find(|d| d.name == name).cloned();
    let layered = is_layer;
    let gone: Vec<&DmDevice> = before.iter().filter(|d| find(after, &d.name).is_none()).collect();
    // Top-level devices that go (snapshots) first; a user holding one open stops everything.
    for d in gone.iter().filter(|d| !layered(&d.name)) {
        if host.state(&d.name)?.is_some_and(|st| st.open_count > 0) {
            return Err(LvmError::InUse(format!("Can't remove open logical volume \"{}\".", d.name)));
        }
    }
    for d in gone.iter().rev().filter(|d| !layered(&d.name)) {
        if host.state(&d.name)?.is_some() {
            host.remove(&d.name)?;
        }
    }
    let mut changed = Vec::new();
    for d in after {
        if let Some(old) = find(before, &d.name) {
            if (old.table != d.table || old.read_only != d.read_only) && host.state(&d.name)?.is_some() {
                changed.push(d);
            }
        }
    }
    let mut suspended: Vec<String> = Vec::new();
    let undo = |host: &mut dyn DmHost, suspended: &[String]| {
        for n in suspended {
            let _ = host.resume(n);
        }
    };
    for d in changed.iter().rev() {
        if let Err(e) = host.suspend(&d.name, LockFs::for_table(&d.table)) {
            undo(host, &suspended);
            return Err(e.into());
        }
        suspended.push(d.name.clone());
    }
    let mut created: Vec<String> = Vec::new();
    for d in after {
        if host.state(&d.name)?.is_none() {
            if let Err(e) = host.create(d) {
                for n in created.iter().rev() {
                    let _ = host.remove(n);
                }
                undo(host, &suspended);
                return Err(e.into());
            }
            created.push(d.name.clone());
        }
    }
    for d in &changed {
        if let Err(e) = host.load(&d.name, &d.table, d.read_only) {
            undo(host, &suspended);
            return Err(e.into());
        }
    }
    // Lower devices first; a snapshot that becomes `error` (a merge starts)
    // last, after the origin has taken its exceptions over.
    let is_error = |d: &DmDevice| matches!(d.table.0.first().map(|l| &l.target), Some(TargetArgs::Error));
    for d in changed.iter().filter(|d| !is_error(d)).chain(changed.iter().filter(|d| is_error(d))) {
        host.resume(&d.name)?;
    }
    // Layers the new tables no longer use (-cow, -real) go last.
    for d in gone.iter().rev().filter(|d| layered(&d.name)) {
        if host.state(&d.name)?.is_some() {
            host.remove(&d.name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "activate_tests.rs"]
mod tests;

/// Loads `d`'s table into its live device in place (suspended, loaded,
/// resumed; resumed even when the load fails, which is then returned),
/// or makes the device when there is none.
pub fn reload_or_create(host: &mut dyn DmHost, d: &DmDevice) -> Result<(), LvmError> {
    if host.state(&d.name)?.is_none() {
        return Ok(host.create(d)?);
    }
    host.suspend(&d.name, LockFs::Skip)?;
    let loaded = host.load(&d.name, &d.table, d.read_only);
    host.resume(&d.name)?;
    Ok(loaded?)
}
