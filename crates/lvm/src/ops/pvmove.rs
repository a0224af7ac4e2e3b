//! `pvmove`: the extents of one PV moved to others while their LVs stay
//! in use, as LVM 2.03 does it (tools/pvmove.c, tools/pvmove_poll.c).
//!
//! The move is an LV of its own, `pvmoveN` (hidden, `PVMOVE` and
//! `LOCKED`), with one `mirror` segment per moved piece: area 0 on the
//! source, area 1 on the destination, `extents_moved` 0 until the piece
//! is copied. Every LV area that was on the source points at `pvmoveN`
//! instead, and those LVs are `LOCKED`. One commit sets this up; the
//! device host then copies one segment at a time (the first unfinished
//! segment is a `mirror`, [`crate::activate::pvmove_table`]), and the job
//! ([`super::jobs::PvMove`]) commits `extents_moved = extent_count` per
//! finished segment, which is the checkpoint a restart resumes from.
//! Finishing (and `--abort`) points every parent area at the destination
//! of a copied segment and at the source of the others, in one commit,
//! then drops `pvmoveN` in a second.

use super::Session;
use crate::activate;
use crate::disk::{self, Vg};
use crate::extent::Extents;
use crate::model::{LogicalVolume, Mirror, Segment, SegmentKind, VolumeGroup, LOCKED, PVMOVE};
use crate::LvmError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A PV on the command line with its optional PE ranges (`/dev/sdb:0-9:20+4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvArg {
    pub path: PathBuf,
    /// Inclusive `(first, last)` extents; `None` for an open end (the
    /// PV's last extent). Empty: the whole PV.
    pub ranges: Vec<(Extents, Option<Extents>)>,
}

impl PvArg {
    /// Parses `PATH[:RANGE[:RANGE...]]`, a range being `S-E`, `S+LEN`,
    /// `S`, `-E` or `S-`, with LVM's message for a bad one.
    pub fn parse(arg: &str) -> Result<PvArg, LvmError> {
        let mut parts = arg.split(':');
        let path = PathBuf::from(parts.next().unwrap_or_default());
        let mut ranges = Vec::new();
        for r in parts {
            ranges.push(parse_range(r)?);
        }
        Ok(PvArg { path, ranges })
    }

    /// The ranges against a PV of `pe_count` extents: checked, and the
    /// whole PV when there are none.
    fn resolve(&self, pe_count: Extents) -> Result<Vec<(Extents, Extents)>, LvmError> {
        if self.ranges.is_empty() {
            return Ok(vec![(Extents(0), pe_count.saturating_sub(Extents(1)))]);
        }
        let last = pe_count.saturating_sub(Extents(1));
        let mut out: Vec<(Extents, Extents)> = Vec::new();
        for &(s, e) in &self.ranges {
            let e = e.unwrap_or(last).min(last);
            if s > e {
                return Err(LvmError::Refused(format!("PE range error: start extent {s} to end extent {e}.")));
            }
            if let Some(o) = out.iter().find(|o| s <= o.1 && o.0 <= e) {
                return Err(LvmError::Refused(format!(
                    "Overlapping PE ranges specified ({s}-{e}, {}-{}) on {}.",
                    o.0,
                    o.1,
                    self.path.display()
                )));
            }
            out.push((s, e));
        }
        out.sort();
        Ok(out)
    }
}

fn parse_range(r: &str) -> Result<(Extents, Option<Extents>), LvmError> {
    let bad = || LvmError::Refused(format!("Physical extent parsing error at {r}."));
    let num = |s: &str| s.parse::<u64>().map(Extents).map_err(|_| bad());
    if let Some((a, b)) = r.split_once('+') {
        let s = num(a)?;
        let len = num(b)?;
        return Ok((s, Some(s + len.saturating_sub(Extents(1)))));
    }
    match r.split_once('-') {
        Some((a, b)) => {
            let s = if a.is_empty() { Extents(0) } else { num(a)? };
            let e = if b.is_empty() { None } else { Some(num(b)?) };
            Ok((s, e))
        }
        None => {
            let s = num(r)?;
            Ok((s, Some(s)))
        }
    }
}

/// What `pvmove` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct PvMove {
    pub source: Option<PvArg>,
    /// Destination PVs (all the VG's allocatable PVs when empty).
    pub dests: Vec<PvArg>,
    /// `-n`: only this LV (`lv`, `vg/lv` or `/dev/vg/lv`).
    pub name: Option<String>,
    /// `--alloc`: `anywhere` lets the source be a destination too.
    pub alloc: Option<String>,
    /// `--atomic`: one mirror over everything, between two image LVs
    /// (`pvmove0_mimage_0` the source pieces, `_1` the destination's), so
    /// the move is all or nothing.
    pub atomic: bool,
}

/// A move in flight: its VG, its `pvmoveN` LV and its source PV's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub vg: String,
    pub lv: String,
    pub source: String,
}

/// How `pvmove SRC` started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new move, set up and running.
    New(InFlight),
    /// A move of that PV was in flight already (`Detected pvmove in progress`).
    Resumed(InFlight),
}

/// The source PV key of a pvmove LV: area 0 of its first segment, or
/// with `--atomic` the PV of the source image's first segment (LVM's
/// `Move` column).
pub fn source_key<'a>(vg: &'a VolumeGroup, lv: &'a LogicalVolume) -> Option<&'a str> {
    let SegmentKind::Mirror(m) = &lv.segments.first()?.kind else { return None };
    let (name, _) = m.areas.first()?;
    if vg.pv(name).is_some() {
        return Some(name);
    }
    match &vg.lv(name)?.segments.first()?.kind {
        SegmentKind::Striped { stripes, .. } => stripes.first().map(|s| s.0.as_str()),
        _ => None,
    }
}

/// The name of image `k` of an atomic move's LV: `pvmove0_mimage_0`.
pub fn image_name(pvmove: &str, k: usize) -> String {
    format!("{pvmove}_mimage_{k}")
}

/// The moves in flight in `vg`.
pub fn in_flight(vg: &Vg) -> Vec<InFlight> {
    vg.vg
        .lvs
        .iter()
        .filter(|l| l.is_pvmove())
        .map(|l| InFlight {
            vg: vg.vg.name.clone(),
            lv: l.name.clone(),
            source: source_key(&vg.vg, l).map(|k| vg.pv_path(k)).unwrap_or_default(),
        })
        .collect()
}

/// One piece of an LV area on the source: stripe `stripe` of segment
/// `seg` of LV `lv`, from `offset` extents into the stripe, `len` long,
/// at `pe` on the source; once allocated, at `dest` and at `le` in the
/// pvmove LV.
#[derive(Debug, Clone)]
struct Piece {
    lv: usize,
    seg: usize,
    stripe: usize,
    offset: Extents,
    len: Extents,
    pe: Extents,
    le: Extents,
    dest: (String, Extents),
}

/// `pvmove [-n LV] [--alloc P] SRC[:ranges] [DEST[:ranges]...]`: sets the
/// move up (one commit), activates it, and returns it for polling. A
/// move of the same PV already in flight is returned as
/// [`Started::Resumed`]. Refusals write nothing.
pub fn pvmove(s: &mut Session, o: &PvMove) -> Result<Started, LvmError> {
    let Some(src) = &o.source else { return Err(LvmError::Usage("Please specify a physical volume path.".into())) };
    let (scan, vgs) = s.scan(true)?;
    if !scan.pvs.iter().any(|d| d.path == src.path) {
        let exists = src.path.exists();
        return Err(LvmError::Usage(if exists {
            format!("Cannot use {}: device is not a PV\nRun `pvmove --help' for more information.", src.path.display())
        } else {
            format!("Cannot use {}: device not found\nRun `pvmove --help' for more information.", src.path.display())
        }));
    }
    let Some(vg_name) = super::vg_of_device(&vgs, &src.path).map(|v| v.vg.name.clone()) else {
        return Err(LvmError::Refused("No extents available for allocation.".into()));
    };
    drop(vgs);
    let _l = s.lock_vg(&vg_name)?;
    let mut vg = s.vg(&vg_name, false)?;
    if vg.vg.lock_type().is_some() {
        // Another host may use any LV on the PV: LVM moves one LV, under
        // its exclusive lock (this host has it active), or nothing.
        let Some(lv) = &o.name else {
            return Err(LvmError::Refused("pvmove in a shared VG requires a named LV.".into()));
        };
        let active =
            s.host_if_running().is_some_and(|h| crate::activate::is_active(h, &vg, lv).ok().flatten().is_some());
        if !active {
            return Err(LvmError::Refused("pvmove in a shared VG requires exclusive lock on named LV.".into()));
        }
    }
    let src_key = vg.key_of(&src.path).expect("the PV is in the VG");
    if let Some(f) = in_flight(&vg).into_iter().find(|f| f.source == vg.pv_path(&src_key)) {
        s.print(format!("Detected pvmove in progress for {}.", f.source));
        if !o.dests.is_empty() || o.name.is_some() {
            s.warn("WARNING: Ignoring remaining command line arguments.");
        }
        return Ok(Started::Resumed(f));
    }
    let src_pv = vg.vg.pv(&src_key).expect("the PV is in the VG").clone();
    let src_ranges = src.resolve(src_pv.pe_count)?;
    let anywhere = o.alloc.as_deref() == Some("anywhere");
    // Where the copy may go: the named PVs (their ranges) or every PV,
    // allocatable and with free extents, not the source (unless
    // `--alloc anywhere`) nor the source of another move.
    let busy: Vec<String> =
        vg.vg.lvs.iter().filter(|l| l.is_pvmove()).filter_map(|l| source_key(&vg.vg, l).map(str::to_string)).collect();
    let mut dest_pvs: Vec<(String, Vec<(Extents, Extents)>)> = Vec::new();
    if o.dests.is_empty() {
        for p in &vg.vg.pvs {
            dest_pvs.push((p.key.clone(), vec![(Extents(0), p.pe_count.saturating_sub(Extents(1)))]));
        }
    } else {
        for d in &o.dests {
            let Some(k) = vg.key_of(&d.path) else {
                return Err(LvmError::NotFound(format!(
                    "Physical Volume \"{}\" not found in Volume Group \"{vg_name}\".",
                    d.path.display()
                )));
            };
            let pv = vg.vg.pv(&k).expect("keyed");
            dest_pvs.push((k.clone(), d.resolve(pv.pe_count)?));
        }
    }
    let segs = crate::alloc::pv_segments(&vg.vg);
    let mut free: Vec<(String, Vec<(Extents, Extents)>)> = Vec::new();
    for (k, ranges) in &dest_pvs {
        let pv = vg.vg.pv(k).expect("keyed");
        if (*k == src_key && !anywhere) || busy.contains(k) || !pv.allocatable() {
            continue;
        }
        let mut runs = Vec::new();
        for seg in segs[k].iter().filter(|x| x.used_by.is_none()) {
            for &(a, b) in ranges {
                let lo = seg.pe.max(a);
                let hi = (seg.pe + seg.len).min(b + Extents(1));
                if lo < hi {
                    runs.push((lo, hi - lo));
                }
            }
        }
        if !runs.is_empty() {
            free.push((k.clone(), runs));
        }
    }
    if free.is_empty() {
        return Err(LvmError::Refused("No extents available for allocation.".into()));
    }
    let pvmove_name = vg.vg.next_free_name("pvmove");
    let (mut pieces, skipped) = collect_pieces(s, &vg.vg, &src_key, &src_ranges, o.name.as_deref(), &vg_name)?;
    if pieces.is_empty() {
        if skipped {
            s.print("All data on source PV skipped. It contains locked, hidden or non-top level LVs only.");
        }
        return Err(LvmError::Refused(format!("No data to move for {vg_name}.")));
    }
    let needed: Extents = pieces.iter().map(|p| p.len).sum();
    let available: Extents = free.iter().flat_map(|(_, r)| r.iter().map(|x| x.1)).sum();
    if available < needed {
        return Err(LvmError::Insufficient(format!(
            "Insufficient free space: {needed} extents needed, but only {available} available\n\
             Unable to allocate mirror extents for {vg_name}/{pvmove_name}.\n\
             Failed to convert pvmove LV to mirrored."
        )));
    }
    pieces = place(pieces, &free);
    let host_name = disk::hostname();
    let before = vg.clone();
    let families = families(&before, &pieces);
    let plan_before = activate::plan_many(&before, &families)?;
    s.host()?;
    let ids = [crate::pv::new_uuid()?, crate::pv::new_uuid()?, crate::pv::new_uuid()?];
    let how = Build { src: &src_key, name: &pvmove_name, ids, host: &host_name, atomic: o.atomic };
    build(vg.vg_mut(), &pieces, &how);
    let plan_after = activate::plan_many(&vg, &families)?;
    s.commit(&mut vg)?;
    if let Err(e) = activate::sync_family(s.host()?, &plan_before, &plan_after) {
        let mut undo = vg.clone();
        let mut old = (*before.vg).clone();
        old.seqno = vg.vg.seqno;
        *undo.vg_mut() = old;
        let rollback = s.commit(&mut undo);
        return Err(LvmError::with_rollback(
            LvmError::Refused(format!("ABORTING: Temporary pvmove mirror activation failed: {e}")),
            rollback,
        ));
    }
    Ok(Started::New(InFlight { vg: vg_name, lv: pvmove_name, source: vg.pv_path(&src_key) }))
}

/// The LV areas on `src` within `ranges`, in VG order: every bottom-level
/// (striped) LV's, or only `name`'s. Also says whether LVs were skipped.
fn collect_pieces(
    s: &mut Session,
    vg: &VolumeGroup,
    src: &str,
    ranges: &[(Extents, Extents)],
    name: Option<&str>,
    vg_name: &str,
) -> Result<(Vec<Piece>, bool), LvmError> {
    let wanted = match name {
        None => None,
        Some(n) => {
            let short = n.trim_start_matches("/dev/").rsplit('/').next().unwrap_or(n).to_string();
            if let Some((v, _)) = n.trim_start_matches("/dev/").split_once('/') {
                if v != vg_name {
                    return Err(LvmError::Refused("Named LV and old PV must be in the same VG.".into()));
                }
            }
            if vg.lv(&short).is_none() {
                return Err(LvmError::NotFound(format!("Logical volume {short} not found.")));
            }
            Some(short)
        }
    };
    let mut pieces = Vec::new();
    let mut skipped = false;
    for (li, lv) in vg.lvs.iter().enumerate() {
        if wanted.as_ref().is_some_and(|w| *w != lv.name) || lv.is_pvmove() {
            continue;
        }
        if vg.pvmove_of_image(&lv.name).is_some() {
            // Another move's image: that move owns it.
            skipped = true;
            continue;
        }
        let on_src = lv.segments.iter().any(
            |seg| matches!(&seg.kind, SegmentKind::Striped { stripes, .. } if stripes.iter().any(|(k, _)| k == src)),
        );
        if !on_src {
            continue;
        }
        if lv.is_locked() {
            s.print(format!("Skipping locked LV {}.", lv.name));
            skipped = true;
            continue;
        }
        if let Some((r, _)) = vg.raid_parent(&lv.name) {
            // LVM moves a raid's slots to PVs no other slot is on; ulvm
            // has no such rule yet, so it leaves them.
            s.warn(format!("WARNING: Skipping {} of raid {}: ulvm does not move raid LVs yet.", lv.name, r.name));
            skipped = true;
            continue;
        }
        if vg.mirror_parent(&lv.name).is_some() {
            // LVM moves a mirror's images to PVs no other image is on;
            // ulvm's pvmove has no such rule yet, so it leaves them.
            s.warn(format!(
                "WARNING: Skipping {} of mirror {}: ulvm does not move mirrored LVs yet.",
                lv.name,
                vg.mirror_top(&lv.name)
            ));
            skipped = true;
            continue;
        }
        for (si, seg) in lv.segments.iter().enumerate() {
            let SegmentKind::Striped { stripes, .. } = &seg.kind else { continue };
            let per = seg.extent_count / stripes.len().max(1) as u64;
            for (ti, (k, pe)) in stripes.iter().enumerate() {
                if k != src {
                    continue;
                }
                for &(a, b) in ranges {
                    let lo = (*pe).max(a);
                    let hi = (*pe + per).min(b + Extents(1));
                    if lo < hi {
                        pieces.push(Piece {
                            lv: li,
                            seg: si,
                            stripe: ti,
                            offset: lo - *pe,
                            len: hi - lo,
                            pe: lo,
                            le: Extents(0),
                            dest: (String::new(), Extents(0)),
                        });
                    }
                }
            }
        }
    }
    Ok((pieces, skipped))
}

/// Gives each piece its destination (free runs in PV order, lowest
/// first) and its place in the pvmove LV; a piece that spans two runs
/// becomes two.
fn place(pieces: Vec<Piece>, free: &[(String, Vec<(Extents, Extents)>)]) -> Vec<Piece> {
    let mut runs: Vec<(String, Extents, Extents)> =
        free.iter().flat_map(|(k, r)| r.iter().map(move |&(pe, len)| (k.clone(), pe, len))).collect();
    runs.retain(|r| r.2 > Extents(0));
    let mut out = Vec::new();
    let mut le = Extents(0);
    let mut at = 0;
    for mut p in pieces {
        while p.len > Extents(0) {
            let (k, pe, len) = &mut runs[at];
            let take = p.len.min(*len);
            out.push(Piece { len: take, le, dest: (k.clone(), *pe), ..p.clone() });
            *pe += take;
            *len -= take;
            le += take;
            p.offset += take;
            p.pe += take;
            p.len -= take;
            if *len == Extents(0) {
                at += 1;
            }
        }
    }
    out
}

/// The families (origins and plain LVs) whose tables a move changes.
fn families(vg: &Vg, pieces: &[Piece]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pieces {
        let f = activate::family_origin(vg, &vg.vg.lvs[p.lv].name);
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// How [`build`] names and shapes the pvmove LV.
struct Build<'a> {
    /// The source PV's key.
    src: &'a str,
    /// `pvmoveN`.
    name: &'a str,
    /// UUIDs of the pvmove LV and of its two images (`--atomic`).
    ids: [crate::model::Uuid; 3],
    host: &'a str,
    atomic: bool,
}

/// A pvmove's mirror segment of `len` extents from `le`, over two areas.
fn mirror_segment(le: Extents, len: Extents, areas: Vec<(String, Extents)>) -> Segment {
    Segment {
        start_extent: le,
        extent_count: len,
        kind: SegmentKind::Mirror(Mirror {
            mirror_count: 2,
            extents_moved: Some(Extents(0)),
            mirror_log: None,
            region_size: Some(activate::DEFAULT_REGION_SIZE),
            areas,
        }),
        extra: vec![],
    }
}

/// The pvmove LV (with `--atomic`, its two images) and the parents'
/// areas repointed at it.
fn build(vg: &mut VolumeGroup, pieces: &[Piece], how: &Build) {
    let Build { src, name, host, .. } = *how;
    let new_lv = |name: String, id: crate::model::Uuid, status: &[&str], segments: Vec<Segment>| LogicalVolume {
        name,
        id,
        status: status.iter().map(|s| s.to_string()).collect(),
        flags: vec![],
        tags: Vec::new(),
        creation_time: Some(super::now()),
        creation_host: Some(host.to_string()),
        segments,
        extra: vec![],
    };
    let mut images = Vec::new();
    let segments = if how.atomic {
        // One mirror over everything; each image has the pieces' areas
        // at their place in the move, on the source or the destination.
        for (k, id) in how.ids[1..].iter().enumerate() {
            let segments = pieces
                .iter()
                .map(|p| Segment {
                    start_extent: p.le,
                    extent_count: p.len,
                    kind: SegmentKind::Striped {
                        stripe_size: None,
                        stripes: vec![if k == 0 { (src.to_string(), p.pe) } else { p.dest.clone() }],
                    },
                    extra: vec![],
                })
                .collect();
            // One segment per piece, as LVM keeps them: its finish needs
            // the parents' area boundaries in the image it keeps.
            images.push(new_lv(image_name(name, k), *id, &["READ", "WRITE"], segments));
        }
        let total = pieces.iter().map(|p| p.len).sum();
        vec![mirror_segment(
            Extents(0),
            total,
            vec![(image_name(name, 0), Extents(0)), (image_name(name, 1), Extents(0))],
        )]
    } else {
        pieces.iter().map(|p| mirror_segment(p.le, p.len, vec![(src.to_string(), p.pe), p.dest.clone()])).collect()
    };
    // Each parent segment is cut where its pieces start and end, so that
    // one parent area maps one pvmove segment.
    let mut by_seg: BTreeMap<(usize, usize), Vec<&Piece>> = BTreeMap::new();
    for p in pieces {
        by_seg.entry((p.lv, p.seg)).or_default().push(p);
    }
    let mut per_lv: BTreeMap<usize, Vec<(usize, Vec<&Piece>)>> = BTreeMap::new();
    for ((l, sg), ps) in by_seg {
        per_lv.entry(l).or_default().push((sg, ps));
    }
    for (li, segs) in per_lv {
        let lv = &mut vg.lvs[li];
        let mut out = Vec::new();
        for (si, seg) in lv.segments.iter().enumerate() {
            let Some((_, ps)) = segs.iter().find(|(x, _)| *x == si) else {
                out.push(seg.clone());
                continue;
            };
            let SegmentKind::Striped { stripe_size, stripes } = &seg.kind else { unreachable!("pieces are striped") };
            let k = stripes.len().max(1) as u64;
            let per = seg.extent_count / k;
            let mut cuts = vec![Extents(0), per];
            for p in ps {
                cuts.push(p.offset);
                cuts.push(p.offset + p.len);
            }
            cuts.sort();
            cuts.dedup();
            for w in cuts.windows(2) {
                let (a, b) = (w[0], w[1]);
                let new_stripes = stripes
                    .iter()
                    .enumerate()
                    .map(|(ti, (key, pe))| {
                        match ps.iter().find(|p| p.stripe == ti && p.offset <= a && a < p.offset + p.len) {
                            Some(p) => (name.to_string(), p.le + (a - p.offset)),
                            None => (key.clone(), *pe + a),
                        }
                    })
                    .collect();
                out.push(Segment {
                    start_extent: seg.start_extent + a * k,
                    extent_count: (b - a) * k,
                    kind: SegmentKind::Striped { stripe_size: *stripe_size, stripes: new_stripes },
                    extra: seg.extra.clone(),
                });
            }
        }
        lv.segments = out;
        lv.set_status(LOCKED, true);
    }
    let mut lv = new_lv(name.to_string(), how.ids[0], &["READ", "WRITE", PVMOVE, LOCKED], segments);
    lv.set_allocation_policy("contiguous");
    vg.lvs.push(lv);
    vg.lvs.extend(images);
}

/// The parents' areas follow the move's outcome: the destination for a
/// segment copied (`extents_moved == extent_count`), the source for the
/// others; the parents lose `LOCKED` and their segments merge again. The
/// pvmove LV keeps one `error` segment until [`drop_pvmove`] removes it.
/// An atomic move's images go at once: the parents map their PV areas
/// (the destination image's if the move is done, the source's if not).
pub fn detach(vg: &mut VolumeGroup, pvmove: &str) {
    let Some(mv) = vg.lv(pvmove).cloned() else { return };
    let view = vg.clone();
    let containing = |lv: &LogicalVolume, le: Extents| {
        lv.segments.iter().find(|s| s.start_extent <= le && le < s.start_extent + s.extent_count).cloned()
    };
    let target = |le: Extents| -> Option<(String, Extents)> {
        let seg = containing(&mv, le)?;
        let SegmentKind::Mirror(m) = &seg.kind else { return None };
        let done = m.extents_moved == Some(seg.extent_count);
        let (k, pe) = m.areas.get(if done { 1 } else { 0 })?;
        let at = *pe + (le - seg.start_extent);
        if view.pv(k).is_some() {
            return Some((k.clone(), at));
        }
        let iseg = containing(view.lv(k)?, at)?;
        let SegmentKind::Striped { stripes, .. } = &iseg.kind else { return None };
        let (pv, pe) = stripes.first()?;
        Some((pv.clone(), *pe + (at - iseg.start_extent)))
    };
    let images: Vec<String> = mv.lv_areas(&view).map(|(_, _, n, _)| n.to_string()).collect();
    for lv in vg.lvs.iter_mut().filter(|l| l.name != pvmove) {
        let mut changed = false;
        for seg in &mut lv.segments {
            if let SegmentKind::Striped { stripes, .. } = &mut seg.kind {
                for st in stripes.iter_mut().filter(|(k, _)| k == pvmove) {
                    if let Some(t) = target(st.1) {
                        *st = t;
                        changed = true;
                    }
                }
            }
        }
        if changed {
            lv.set_status(LOCKED, false);
            merge_segments(lv);
        }
    }
    vg.lvs.retain(|l| !images.contains(&l.name));
    if let Some(m) = vg.lv_mut(pvmove) {
        let n = m.extents();
        m.segments = vec![Segment {
            start_extent: Extents(0),
            extent_count: n,
            kind: SegmentKind::Other { segment_type: "error".into() },
            extra: vec![],
        }];
    }
}

/// Joins neighbouring segments that continue each other on the same PVs.
fn merge_segments(lv: &mut LogicalVolume) {
    let mut out: Vec<Segment> = Vec::new();
    for seg in lv.segments.drain(..) {
        if let Some(last) = out.last_mut() {
            if let (
                SegmentKind::Striped { stripe_size: a, stripes: ls },
                SegmentKind::Striped { stripe_size: b, stripes: ns },
            ) = (&last.kind, &seg.kind)
            {
                let k = ls.len().max(1) as u64;
                let per = last.extent_count / k;
                let continues = a == b
                    && ls.len() == ns.len()
                    && ls.iter().zip(ns).all(|(x, y)| x.0 == y.0 && x.1 + per == y.1)
                    && last.extra.is_empty()
                    && seg.extra.is_empty();
                if continues {
                    last.extent_count += seg.extent_count;
                    continue;
                }
            }
        }
        out.push(seg);
    }
    lv.segments = out;
}

/// The parents of a pvmove LV (LVs with areas on it), as families.
pub fn parent_families(vg: &Vg, pvmove: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for lv in &vg.vg.lvs {
        if lv.lv_areas(&vg.vg).any(|(_, _, n, _)| n == pvmove) {
            let f = activate::family_origin(vg, &lv.name);
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// Ends a move (finished, or `--abort`): commit 1 points the parents at
/// the PVs ([`detach`]) and reloads them; commit 2 drops the pvmove LV
/// and its device. `copied`: a segment the device reported in sync whose
/// `extents_moved` was not committed (the last one, which LVM does not
/// checkpoint: commit 1 carries it), taken as moved. `false` if there was
/// no such move.
pub fn finish(s: &mut Session, vg_name: &str, pvmove: &str, copied: Option<usize>) -> Result<bool, LvmError> {
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    if !vg.vg.lv(pvmove).is_some_and(|l| l.is_pvmove()) {
        return Ok(false);
    }
    if let Some(i) = copied {
        if let Some(seg) = vg.vg_mut().lv_mut(pvmove).and_then(|l| l.segments.get_mut(i)) {
            let len = seg.extent_count;
            if let SegmentKind::Mirror(m) = &mut seg.kind {
                m.extents_moved = Some(len);
            }
        }
    }
    let families = parent_families(&vg, pvmove);
    let active = s.host_if_running().is_some();
    if !families.is_empty() {
        let before = activate::plan_many(&vg, &families)?;
        detach(vg.vg_mut(), pvmove);
        let after = activate::plan_many(&vg, &families)?;
        flush_pvs(&vg)?;
        s.commit(&mut vg)?;
        if active {
            let h = s.host()?;
            let live: Vec<_> = before.iter().filter(|d| h.state(&d.name).ok().flatten().is_some()).cloned().collect();
            let names: Vec<&str> = live.iter().map(|d| d.name.as_str()).collect();
            let after: Vec<_> = after.into_iter().filter(|d| names.contains(&d.name.as_str())).collect();
            activate::sync_family(h, &live, &after)?;
        }
    }
    if let Some(h) = s.host_if_running() {
        let dm = crate::names::dm_name(vg_name, pvmove, None);
        if h.state(&dm)?.is_some() {
            h.remove(&dm)?;
        }
    }
    drop_pvmove(s, &mut vg, pvmove)?;
    Ok(true)
}

/// Makes what the device host copied durable on every PV before a
/// commit records it as moved (a checkpoint, a finish): each PV takes a
/// commit on its own, so without this the new metadata could reach one
/// PV before the copied data reaches another, and a crash then would
/// leave an LV mapped to extents that never got their data.
pub fn flush_pvs(vg: &Vg) -> Result<(), LvmError> {
    for d in vg.disks.values() {
        d.dev.flush().map_err(disk::DiskError::from)?;
    }
    Ok(())
}

/// Commit 2 of [`finish`]: the pvmove LV leaves the metadata.
fn drop_pvmove(s: &mut Session, vg: &mut Vg, pvmove: &str) -> Result<(), LvmError> {
    vg.vg_mut().lvs.retain(|l| l.name != pvmove);
    s.commit(vg)
}

/// `pvmove --abort [PV]`: every move in flight (of `source` only, if
/// given) ends now: what was copied stays on the destination, the rest
/// returns to the source. Returns the moves it ended.
pub fn abort(s: &mut Session, source: Option<&Path>) -> Result<Vec<InFlight>, LvmError> {
    let (_, vgs) = s.scan(true)?;
    let mut todo = Vec::new();
    for vg in vgs.values().filter(|v| super::shared_refusal(v).is_none()) {
        for f in in_flight(vg) {
            if source.is_none_or(|p| vg.key_of(p).is_some_and(|k| vg.pv_path(&k) == f.source)) {
                todo.push(f);
            }
        }
    }
    let mut done = Vec::new();
    for f in todo {
        if finish(s, &f.vg, &f.lv, None)? {
            done.push(f);
        }
    }
    Ok(done)
}

/// Every move in flight in the VGs the session sees.
pub fn all_in_flight(s: &mut Session) -> Result<Vec<InFlight>, LvmError> {
    let (_, vgs) = s.scan(true)?;
    Ok(vgs.values().filter(|v| super::shared_refusal(v).is_none()).flat_map(in_flight).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pe_ranges_parse_as_lvm_writes_them() {
        let p = PvArg::parse("/dev/sdb:0-9:20+4:30:-2:40-").unwrap();
        assert_eq!(p.path, PathBuf::from("/dev/sdb"));
        assert_eq!(
            p.ranges,
            vec![
                (Extents(0), Some(Extents(9))),
                (Extents(20), Some(Extents(23))),
                (Extents(30), Some(Extents(30))),
                (Extents(0), Some(Extents(2))),
                (Extents(40), None)
            ]
        );
        assert_eq!(PvArg::parse("/dev/vda:x").unwrap_err().to_string(), "Physical extent parsing error at x.");
        let bad = PvArg::parse("/dev/vda:5-2").unwrap();
        assert_eq!(
            bad.resolve(Extents(15)).unwrap_err().to_string(),
            "PE range error: start extent 5 to end extent 2."
        );
        let open = PvArg::parse("/dev/vda:3-").unwrap();
        assert_eq!(open.resolve(Extents(15)).unwrap(), vec![(Extents(3), Extents(14))]);
    }
}
