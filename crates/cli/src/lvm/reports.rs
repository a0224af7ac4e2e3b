//! pvs, vgs, lvs and the *display commands.

//!
//! A report asks the same questions about every LV, so each VG is looked
//! at once ([`View`]: snapshots by COW and origin, LVs by name, free
//! extents) and the daemon once for all its devices ([`Devices`]); only
//! active snapshots, merges and clones need a status query of their own.
//! The work is linear in the number of LVs.

use super::args::Args;
use super::{check_local, local_names, shared_refusal, usage, vg_of_device, Ctx};
use anyhow::{anyhow, bail, Result};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use ulvm_dm::TargetStatus;
use ulvm_lvm::activate::DevState;
use ulvm_lvm::alloc;
use ulvm_lvm::disk::{PvDisk, Vg};
use ulvm_lvm::model::{LogicalVolume, Segment, SegmentKind, SnapshotIndex, SnapshotRef};
use ulvm_lvm::names::dm_name;
use ulvm_lvm::report::{render, Align, Cell, Column, Layout, SortSpec};
use ulvm_lvm::units::{size_long, Units};
use ulvm_lvm::HostError;

/// What the device host says about an LV.
#[derive(Debug, Clone, Default)]
struct Live {
    dev: Option<DevState>,
    /// A clone's hydrated share, in percent.
    copy: Option<f64>,
    /// Snapshot (or merge) usage in percent.
    pct: Option<f64>,
    invalid: bool,
}

/// A snapshot's (or a merge's) usage in percent as LVM shows it, from a
/// device's status.
fn usage_pct(status: Result<TargetStatus, HostError>) -> Option<f64> {
    ulvm_lvm::percent::snapshot(status.ok()?.snapshot()?)
}

/// A VG as the reports look at it: what they ask for every LV, worked out
/// once.
struct View<'a> {
    vg: &'a Vg,
    snaps: SnapshotIndex,
    lvs: HashMap<&'a str, &'a LogicalVolume>,
    /// Free extents per PV key, worked out when first asked for.
    free: OnceCell<BTreeMap<String, u64>>,
}

impl<'a> View<'a> {
    fn new(vg: &'a Vg) -> View<'a> {
        View {
            vg,
            snaps: vg.vg.snapshot_index(),
            lvs: vg.vg.lvs.iter().map(|l| (l.name.as_str(), l)).collect(),
            free: OnceCell::new(),
        }
    }

    fn lv(&self, name: &str) -> Option<&'a LogicalVolume> {
        self.lvs.get(name).copied()
    }

    fn snapshot_of_cow(&self, cow: &str) -> Option<&SnapshotRef> {
        self.snaps.of_cow(cow)
    }

    fn free(&self) -> &BTreeMap<String, u64> {
        self.free.get_or_init(|| alloc::free_extents(&self.vg.vg))
    }

    /// Free extents of the PV `key`.
    fn pv_free(&self, key: &str) -> u64 {
        self.free().get(key).copied().unwrap_or(0)
    }

    /// Whether LVM lists the LV without `-a`: a merging snapshot's COW is hidden.
    fn visible(&self, lv: &LogicalVolume) -> bool {
        match self.snapshot_of_cow(&lv.name) {
            Some(s) => !s.merging,
            None => lv.is_visible(),
        }
    }
}

/// The daemon's devices, asked for once per command (none without a daemon).
#[derive(Default)]
struct Devices {
    states: HashMap<String, DevState>,
}

impl Devices {
    fn get(ctx: &mut Ctx) -> Devices {
        let states = ctx.host_if_running().and_then(|h| h.states().ok()).unwrap_or_default();
        Devices { states }
    }

    fn state(&self, dm: &str) -> Option<DevState> {
        self.states.get(dm).cloned()
    }
}

fn live(ctx: &mut Ctx, devs: &Devices, view: &View, lv: &LogicalVolume) -> Live {
    if devs.states.is_empty() {
        return Live::default();
    }
    let vname = &view.vg.vg.name;
    let mut l = Live { dev: devs.state(&dm_name(vname, &lv.name, None)), ..Default::default() };
    // Only devices that exist have a status: no query for the others.
    let mut status = |dm: String| -> Result<TargetStatus, HostError> {
        match ctx.host_if_running() {
            Some(h) if devs.states.contains_key(&dm) => h.status(&dm),
            _ => Err(HostError::new(ulvm_lvm::HostErrorKind::NotFound, format!("Device {dm} not found"))),
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
        l.copy = st.as_ref().and_then(|s| s.clone_status()).and_then(ulvm_lvm::percent::clone);
    } else if merging(&lv.name) && l.dev.is_some() {
        l.pct = usage_pct(status(dm_name(vname, &lv.name, None)));
    }
    l
}

/// LVM's percentages: two decimals, never 0.00 for something nor 100.00 for less than all.
fn pct(v: Option<f64>) -> Cell {
    match v {
        None => Cell::num("", -1.0),
        Some(p) => {
            let mut s = format!("{p:.2}");
            if s == "0.00" && p > 0.0 {
                s = "0.01".into();
            }
            if s == "100.00" && p < 100.0 {
                s = "99.99".into();
            }
            Cell::num(s, p)
        }
    }
}

fn lv_attr(view: &View, lv: &LogicalVolume, l: &Live) -> String {
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
    let c1 = if lv.is_writable() { 'w' } else { 'r' };
    let c4 = match &l.dev {
        None => '-',
        Some(_) if l.invalid => 'I',
        Some(d) if d.suspended => 's',
        Some(_) => 'a',
    };
    let c5 = if l.dev.as_ref().is_some_and(|d| d.open_count > 0) { 'o' } else { '-' };
    let c6 = if snap.is_some() || is_origin { 's' } else { '-' };
    let c9 = if lv.flags.iter().any(|f| f == "ACTIVATION_SKIP") { 'k' } else { '-' };
    format!("{c0}{c1}i-{c4}{c5}{c6}--{c9}")
}

struct FieldDef {
    id: &'static str,
    heading: &'static str,
    align: Align,
    min: usize,
    seg: bool,
}

const fn f(id: &'static str, heading: &'static str, align: Align, min: usize) -> FieldDef {
    FieldDef { id, heading, align, min, seg: false }
}

const fn s(id: &'static str, heading: &'static str, align: Align, min: usize) -> FieldDef {
    FieldDef { id, heading, align, min, seg: true }
}

use Align::{Left as L, Right as R};

const LV_FIELDS: &[FieldDef] = &[
    f("lv_name", "LV", L, 0),
    f("vg_name", "VG", L, 0),
    f("lv_attr", "Attr", L, 0),
    f("lv_size", "LSize", R, 0),
    f("pool_lv", "Pool", L, 0),
    f("origin", "Origin", L, 0),
    f("data_percent", "Data%", L, 6),
    f("metadata_percent", "Meta%", L, 6),
    f("move_pv", "Move", L, 0),
    f("mirror_log", "Log", L, 0),
    f("copy_percent", "Cpy%Sync", L, 0),
    f("convert_lv", "Convert", L, 0),
    f("snap_percent", "Snap%", L, 6),
    f("lv_uuid", "LV UUID", L, 38),
    f("lv_path", "Path", L, 0),
    f("lv_dm_path", "DMPath", L, 0),
    f("seg_count", "#Seg", R, 0),
    f("lv_kernel_major", "KMaj", R, 0),
    f("lv_kernel_minor", "KMin", R, 0),
    f("origin_size", "OSize", R, 0),
    s("chunk_size", "Chunk", R, 0),
    s("devices", "Devices", L, 0),
    s("seg_pe_ranges", "PE Ranges", L, 0),
    s("segtype", "Type", L, 0),
    s("stripes", "#Str", R, 0),
    s("stripe_size", "Stripe", R, 0),
    s("seg_start", "Start", R, 0),
    s("seg_size", "SSize", R, 0),
];
const LV_DEFAULT: &str = "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,data_percent,metadata_percent,move_pv,mirror_log,copy_percent,convert_lv";

const VG_FIELDS: &[FieldDef] = &[
    f("vg_name", "VG", L, 0),
    f("pv_count", "#PV", R, 0),
    f("lv_count", "#LV", R, 0),
    f("snap_count", "#SN", R, 0),
    f("vg_attr", "Attr", L, 0),
    f("vg_size", "VSize", R, 0),
    f("vg_free", "VFree", R, 0),
    f("vg_uuid", "VG UUID", L, 38),
    f("vg_fmt", "Fmt", L, 0),
    f("vg_extent_size", "Ext", R, 0),
    f("vg_extent_count", "#Ext", R, 0),
    f("vg_free_count", "Free", R, 0),
    f("vg_seqno", "Seq", R, 0),
    f("max_lv", "MaxLV", R, 0),
    f("max_pv", "MaxPV", R, 0),
];
const VG_DEFAULT: &str = "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free";

const PV_FIELDS: &[FieldDef] = &[
    f("pv_name", "PV", L, 0),
    f("vg_name", "VG", L, 0),
    f("pv_fmt", "Fmt", L, 0),
    f("pv_attr", "Attr", L, 0),
    f("pv_size", "PSize", R, 0),
    f("pv_free", "PFree", R, 0),
    f("pv_used", "Used", R, 0),
    f("pv_uuid", "PV UUID", L, 38),
    f("dev_size", "DevSize", R, 0),
    f("pe_start", "1st PE", R, 0),
    f("pv_pe_count", "PE", R, 0),
    f("pv_pe_alloc_count", "Alloc", R, 0),
    f("pv_mda_count", "#PMda", R, 0),
    f("pv_allocatable", "Allocatable", L, 0),
];
const PV_DEFAULT: &str = "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free";

/// The field for a `-o` name: exact, or with the report's prefix.
fn find_field<'a>(defs: &'a [FieldDef], name: &str, prefix: &str) -> Option<&'a FieldDef> {
    let alias = match name {
        "size" => format!("{prefix}_size"),
        "attr" => format!("{prefix}_attr"),
        "name" => format!("{prefix}_name"),
        "uuid" => format!("{prefix}_uuid"),
        "seg_pe_ranges" | "pe_ranges" => "seg_pe_ranges".into(),
        n => n.to_string(),
    };
    defs.iter().find(|d| d.id == alias).or_else(|| defs.iter().find(|d| d.id == format!("{prefix}_{alias}")))
}

fn columns(defs: &'static [FieldDef], default: &str, prefix: &str, o: &[&str]) -> Result<Vec<&'static FieldDef>> {
    let mut names: Vec<String> = default.split(',').map(String::from).collect();
    for spec in o {
        let (replace, list) = match spec.strip_prefix('+') {
            Some(rest) => (false, rest),
            None => (true, *spec),
        };
        if replace {
            names.clear();
        }
        names.extend(list.split(',').filter(|s| !s.is_empty()).map(|s| s.trim().to_string()));
    }
    names.iter().map(|n| find_field(defs, n, prefix).ok_or_else(|| anyhow!("Unrecognised field: {n}"))).collect()
}

fn size_cell(u: &Units, sectors: u64) -> Cell {
    Cell::num(u.size(sectors), sectors as f64)
}

fn int_cell(v: i64) -> Cell {
    Cell::num(v.to_string(), v as f64)
}

pub fn report(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let kind = ctx.cmd.clone();
    let (defs, default, prefix, json) = match kind.as_str() {
        "lvs" => (LV_FIELDS, LV_DEFAULT, "lv", "lv"),
        "vgs" => (VG_FIELDS, VG_DEFAULT, "vg", "vg"),
        _ => (PV_FIELDS, PV_DEFAULT, "pv", "pv"),
    };
    let cols = columns(defs, default, prefix, &a.all("options")).map_err(|e| super::Usage(e.to_string()))?;
    let json = match a.get("reportformat") {
        None | Some("basic") => None,
        Some("json") | Some("json_std") => Some(json.to_string()),
        Some(f) => return usage(format!("Invalid argument for --reportformat: {f}")),
    };
    let (scan, vgs) = ctx.scan(true)?;
    let selected: Vec<&Vg> = if a.pos.is_empty() || kind == "pvs" {
        vgs.values().filter(|v| shared_refusal(v).is_none()).collect()
    } else {
        let mut out = Vec::new();
        for p in &a.pos {
            let vgname = p.split('/').next().unwrap_or(p);
            match vgs.get(vgname) {
                Some(v) => {
                    check_local(v)?;
                    out.push(v)
                }
                None => bail!("Volume group \"{vgname}\" not found"),
            }
        }
        out
    };
    let u = ctx.units;
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    match kind.as_str() {
        "lvs" => {
            let per_seg = cols.iter().any(|c| c.seg);
            let devs = Devices::get(ctx);
            for vg in &selected {
                let view = View::new(vg);
                let wanted_lv: Vec<&str> = a
                    .pos
                    .iter()
                    .filter_map(|p| p.split_once('/'))
                    .filter(|(v, _)| *v == vg.vg.name)
                    .map(|(_, l)| l)
                    .collect();
                for w in &wanted_lv {
                    if !vg.vg.user_lvs().any(|l| l.name == *w) {
                        bail!("Failed to find logical volume \"{}/{w}\"", vg.vg.name);
                    }
                }
                for lv in vg.vg.user_lvs() {
                    if !view.visible(lv) && !a.has("all") {
                        continue;
                    }
                    if !wanted_lv.is_empty() && !wanted_lv.contains(&lv.name.as_str()) {
                        continue;
                    }
                    let l = live(ctx, &devs, &view, lv);
                    let segs: Vec<Option<&Segment>> =
                        if per_seg { lv.segments.iter().map(Some).collect() } else { vec![None] };
                    for seg in segs {
                        rows.push(cols.iter().map(|c| lv_cell(c.id, &view, lv, seg, &l, &u)).collect());
                    }
                }
            }
        }
        "vgs" => {
            for vg in &selected {
                let view = View::new(vg);
                rows.push(cols.iter().map(|c| vg_cell(c.id, &view, &u)).collect());
            }
        }
        _ => {
            let wanted: Vec<std::path::PathBuf> = a.pos.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
            let views: BTreeMap<&str, View> = vgs.iter().map(|(n, v)| (n.as_str(), View::new(v))).collect();
            for d in &scan.pvs {
                if !wanted.is_empty() && !wanted.contains(&d.path) {
                    continue;
                }
                let vg = vg_of_device(&vgs, &d.path);
                // The PVs of a shared VG are not shown at all.
                if vg.is_some_and(|v| shared_refusal(v).is_some()) {
                    continue;
                }
                let view = vg.and_then(|v| views.get(v.vg.name.as_str()));
                rows.push(cols.iter().map(|c| pv_cell(c.id, d, view, &u)).collect());
            }
        }
    }
    let mut sort: SortSpec = Vec::new();
    let sort_arg = a.get("sort").map(String::from).unwrap_or_else(|| match kind.as_str() {
        "lvs" => "vg_name,lv_name".into(),
        "vgs" => "vg_name".into(),
        _ => "pv_name".into(),
    });
    for key in sort_arg.split(',').filter(|s| !s.is_empty()) {
        let (desc, name) = match key.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, key.strip_prefix('+').unwrap_or(key)),
        };
        let def = find_field(defs, name, prefix).ok_or_else(|| super::Usage(format!("Unrecognised field: {name}")))?;
        if let Some(i) = cols.iter().position(|c| c.id == def.id) {
            sort.push((i, desc));
        }
    }
    if rows.is_empty() && json.is_none() {
        return Ok(0);
    }
    let layout = Layout { headings: !a.has("noheadings"), separator: a.get("separator").map(String::from), json };
    let columns: Vec<Column> = cols
        .iter()
        .map(|c| Column { id: c.id.into(), heading: c.heading.into(), align: c.align, min_width: c.min })
        .collect();
    print!("{}", render(&columns, rows, &sort, &layout));
    Ok(0)
}

fn lv_cell(id: &str, view: &View, lv: &LogicalVolume, seg: Option<&Segment>, l: &Live, u: &Units) -> Cell {
    let vg = view.vg;
    let es = vg.vg.extent_size;
    let snap = view.snapshot_of_cow(&lv.name);
    let seg = seg.or(lv.segments.first());
    match id {
        "lv_name" => {
            let text = if view.visible(lv) { lv.name.clone() } else { format!("[{}]", lv.name) };
            Cell { text, key: ulvm_lvm::report::SortKey::Str(lv.name.clone()) }
        }
        "vg_name" => Cell::str(vg.vg.name.clone()),
        "lv_attr" => Cell::str(lv_attr(view, lv, l)),
        "lv_size" => size_cell(u, lv.extents() * es),
        "origin" => Cell::str(snap.as_ref().map(|s| s.origin.clone()).unwrap_or_default()),
        "origin_size" => match &snap {
            Some(s) => size_cell(u, view.lv(&s.origin).map(|o| o.extents() * es).unwrap_or(0)),
            None => Cell::str(""),
        },
        "data_percent" | "snap_percent" => pct(l.pct),
        "copy_percent" => pct(l.copy),
        "lv_uuid" => Cell::str(lv.id.to_string()),
        "lv_path" => Cell::str(format!("/dev/{}/{}", vg.vg.name, lv.name)),
        "lv_dm_path" => Cell::str(format!("/dev/mapper/{}", dm_name(&vg.vg.name, &lv.name, None))),
        "seg_count" => int_cell(lv.segments.len() as i64),
        "lv_kernel_major" => int_cell(l.dev.as_ref().map(|d| d.major as i64).unwrap_or(-1)),
        "lv_kernel_minor" => int_cell(l.dev.as_ref().map(|d| d.minor as i64).unwrap_or(-1)),
        "chunk_size" => size_cell(u, snap.as_ref().map(|s| s.chunk_size).unwrap_or(0)),
        "devices" | "seg_pe_ranges" => {
            let Some(SegmentKind::Striped { stripes, .. }) = seg.map(|s| &s.kind) else { return Cell::str("") };
            let per = seg.map(|s| s.extent_count).unwrap_or(0) / stripes.len().max(1) as u64;
            let parts: Vec<String> = stripes
                .iter()
                .map(|(k, pe)| {
                    if id == "devices" {
                        format!("{}({pe})", vg.pv_path(k))
                    } else {
                        format!("{}:{pe}-{}", vg.pv_path(k), pe + per - 1)
                    }
                })
                .collect();
            Cell::str(parts.join(if id == "devices" { "," } else { " " }))
        }
        "segtype" => Cell::str(match seg.map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, .. }) if stripes.len() == 1 => "linear".to_string(),
            Some(SegmentKind::Striped { .. }) => "striped".into(),
            Some(SegmentKind::Snapshot { .. }) => "snapshot".into(),
            Some(SegmentKind::Other { segment_type }) => segment_type.clone(),
            None => String::new(),
        }),
        "stripes" => int_cell(match seg.map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, .. }) => stripes.len() as i64,
            _ => 0,
        }),
        "stripe_size" => size_cell(
            u,
            match seg.map(|s| &s.kind) {
                Some(SegmentKind::Striped { stripe_size: Some(s), .. }) => *s,
                _ => 0,
            },
        ),
        "seg_start" => size_cell(u, seg.map(|s| s.start_extent * es).unwrap_or(0)),
        "seg_size" => size_cell(u, seg.map(|s| s.extent_count * es).unwrap_or(0)),
        _ => Cell::str(""),
    }
}

fn vg_cell(id: &str, view: &View, u: &Units) -> Cell {
    let vg = view.vg;
    let v = &vg.vg;
    let total: u64 = v.pvs.iter().map(|p| p.pe_count).sum();
    let free = || view.free().values().sum::<u64>();
    match id {
        "vg_name" => Cell::str(v.name.clone()),
        "pv_count" => int_cell(v.pvs.len() as i64),
        // LVM counts the LVs a user sees: a merging snapshot is hidden.
        "lv_count" => int_cell(v.user_lvs().filter(|l| view.visible(l)).count() as i64),
        "snap_count" => int_cell(view.snaps.all().len() as i64),
        "vg_attr" => Cell::str(vg_attr(vg)),
        "vg_size" => size_cell(u, total * v.extent_size),
        "vg_free" => size_cell(u, free() * v.extent_size),
        "vg_uuid" => Cell::str(v.id.to_string()),
        "vg_fmt" => Cell::str("lvm2"),
        "vg_extent_size" => size_cell(u, v.extent_size),
        "vg_extent_count" => int_cell(total as i64),
        "vg_free_count" => int_cell(free() as i64),
        "vg_seqno" => int_cell(v.seqno as i64),
        "max_lv" => int_cell(v.max_lv as i64),
        "max_pv" => int_cell(v.max_pv as i64),
        _ => Cell::str(""),
    }
}

fn vg_attr(vg: &Vg) -> String {
    let st = |f: &str| vg.vg.status.iter().any(|s| s == f);
    format!(
        "{}{}{}{}n-",
        if st("WRITE") { 'w' } else { 'r' },
        if st("RESIZEABLE") { 'z' } else { '-' },
        if st("EXPORTED") { 'x' } else { '-' },
        if vg.missing.is_empty() { '-' } else { 'p' },
    )
}

fn pv_cell(id: &str, d: &PvDisk, view: Option<&View>, u: &Units) -> Cell {
    let vg = view.map(|v| v.vg);
    let entry = view.and_then(|v| v.vg.vg.pvs.iter().find(|p| p.id == d.uuid()).map(|p| (v, p)));
    let pe_start = d.label.data_areas.first().map(|a| a.offset / 512).unwrap_or(2048);
    let (size, free, count, alloc_n) = match entry {
        Some((v, p)) => {
            let free = v.pv_free(&p.key);
            let es = v.vg.vg.extent_size;
            (p.pe_count * es, free * es, p.pe_count, p.pe_count - free)
        }
        None => (d.dev_sectors(), d.dev_sectors(), 0, 0),
    };
    match id {
        "pv_name" => Cell::str(d.path.display().to_string()),
        "vg_name" => Cell::str(vg.map(|v| v.vg.name.clone()).unwrap_or_default()),
        "pv_fmt" => Cell::str("lvm2"),
        // LVM: `a` allocatable, `u` in a VG but not allocatable, `-` orphan.
        "pv_attr" => Cell::str(match entry {
            Some((_, p)) => format!("{}--", if p.status.iter().any(|s| s == "ALLOCATABLE") { 'a' } else { 'u' }),
            None => "---".into(),
        }),
        "pv_allocatable" => Cell::str(match entry {
            Some((_, p)) if p.status.iter().any(|s| s == "ALLOCATABLE") => "allocatable",
            _ => "",
        }),
        "pv_size" => size_cell(u, size),
        "pv_free" => size_cell(u, free),
        "pv_used" => size_cell(u, size - free),
        "pv_uuid" => Cell::str(d.uuid().to_string()),
        "dev_size" => size_cell(u, d.dev_sectors()),
        "pe_start" => size_cell(u, pe_start),
        "pv_pe_count" => int_cell(count as i64),
        "pv_pe_alloc_count" => int_cell(alloc_n as i64),
        "pv_mda_count" => int_cell(d.label.metadata_areas.len() as i64),
        _ => Cell::str(""),
    }
}

/// `println!` into `out`: the displays print thousands of lines, which go
/// out in a few writes instead of one each. As with `println!`, a failed
/// write of stdout is not an error of the command (exit status as LVM's).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Standard output, buffered (flushed when dropped, so before an error
/// message).
fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock())
}

pub fn pvdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (scan, vgs) = ctx.scan(true)?;
    let out = &mut stdout();
    let views: BTreeMap<&str, View> = vgs.iter().map(|(n, v)| (n.as_str(), View::new(v))).collect();
    let wanted: Vec<std::path::PathBuf> = a.pos.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    for d in &scan.pvs {
        if !wanted.is_empty() && !wanted.contains(&d.path) {
            continue;
        }
        let vg = vg_of_device(&vgs, &d.path);
        if vg.is_some_and(|v| shared_refusal(v).is_some()) {
            continue;
        }
        let entry = vg.and_then(|v| v.vg.pvs.iter().find(|p| p.id == d.uuid()).map(|p| (v, p)));
        let view = vg.and_then(|v| views.get(v.vg.name.as_str()));
        outln!(out, "  --- {}Physical volume ---", if entry.is_some() { "" } else { "NEW " });
        outln!(out, "  PV Name               {}", d.path.display());
        outln!(out, "  VG Name               {}", vg.map(|v| v.vg.name.as_str()).unwrap_or(""));
        match entry {
            Some((v, p)) => {
                let es = v.vg.extent_size;
                let data = p.pe_count * es;
                let free = view.map(|w| w.pv_free(&p.key)).unwrap_or(0);
                let dev = d.dev_sectors();
                outln!(out, "  PV Size               {} / not usable {}", size_long(dev), size_long(dev - data));
                let allocatable = p.status.iter().any(|s| s == "ALLOCATABLE");
                if allocatable {
                    outln!(out, "  Allocatable           yes {}", if free == 0 { "(but full)" } else { "" });
                } else {
                    outln!(out, "  Allocatable           NO");
                }
                outln!(out, "  PE Size               {}", size_long(es));
                outln!(out, "  Total PE              {}", p.pe_count);
                outln!(out, "  Free PE               {free}");
                outln!(out, "  Allocated PE          {}", p.pe_count - free);
                outln!(out, "  PV UUID               {}", d.uuid());
                outln!(out, "   ");
                if a.has("maps") {
                    outln!(out, "  --- Physical Segments ---");
                    let lvs: HashMap<&str, &LogicalVolume> = v.vg.lvs.iter().map(|l| (l.name.as_str(), l)).collect();
                    for s in &alloc::pv_segments(&v.vg)[&p.key] {
                        outln!(out, "  Physical extent {} to {}:", s.pe, s.pe + s.len - 1);
                        match &s.used_by {
                            Some((lv, le)) => {
                                outln!(out, "    Logical volume\t/dev/{}/{lv}", v.vg.name);
                                let seg_len = lvs
                                    .get(lv.as_str())
                                    .and_then(|l| l.segments.iter().find(|g| g.start_extent == *le))
                                    .map(|g| g.extent_count)
                                    .unwrap_or(s.len);
                                outln!(out, "    Logical extents\t{le} to {}", le + seg_len - 1);
                            }
                            None => outln!(out, "    FREE"),
                        }
                    }
                    outln!(out, "   ");
                }
            }
            None => {
                outln!(out, "  PV Size               {}", size_long(d.dev_sectors()));
                outln!(out, "  Allocatable           NO");
                outln!(out, "  PE Size               0   ");
                outln!(out, "  Total PE              0");
                outln!(out, "  Free PE               0");
                outln!(out, "  Allocated PE          0");
                outln!(out, "  PV UUID               {}", d.uuid());
                outln!(out, "   ");
            }
        }
    }
    Ok(0)
}

pub fn vgdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (_, vgs) = ctx.scan(true)?;
    let names: Vec<String> = if a.pos.is_empty() { local_names(&vgs) } else { a.pos.clone() };
    let devs = Devices::get(ctx);
    let out = &mut stdout();
    for name in names {
        let Some(vg) = vgs.get(&name) else { bail!("Volume group \"{name}\" not found") };
        check_local(vg)?;
        let view = View::new(vg);
        let v = &vg.vg;
        let es = v.extent_size;
        let total: u64 = v.pvs.iter().map(|p| p.pe_count).sum();
        let free: u64 = view.free().values().sum();
        let mut open = 0;
        for l in v.user_lvs() {
            if live(ctx, &devs, &view, l).dev.is_some_and(|d| d.open_count > 0) {
                open += 1;
            }
        }
        outln!(out, "  --- Volume group ---");
        outln!(out, "  VG Name               {name}");
        outln!(out, "  System ID             ");
        outln!(out, "  Format                lvm2");
        outln!(
            out,
            "  Metadata Areas        {}",
            vg.disks.values().map(|d| d.label.metadata_areas.len()).sum::<usize>()
        );
        outln!(out, "  Metadata Sequence No  {}", v.seqno);
        outln!(out, "  VG Access             read/write");
        outln!(out, "  VG Status             resizable");
        outln!(out, "  MAX LV                {}", v.max_lv);
        outln!(out, "  Cur LV                {}", v.user_lvs().filter(|l| view.visible(l)).count());
        outln!(out, "  Open LV               {open}");
        outln!(out, "  Max PV                {}", v.max_pv);
        outln!(out, "  Cur PV                {}", v.pvs.len());
        outln!(out, "  Act PV                {}", vg.disks.len());
        outln!(out, "  VG Size               {}", size_long(total * es));
        outln!(out, "  PE Size               {}", size_long(es));
        outln!(out, "  Total PE              {total}");
        outln!(out, "  Alloc PE / Size       {} / {}", total - free, size_long((total - free) * es));
        outln!(out, "  Free  PE / Size       {free} / {}", size_long(free * es));
        outln!(out, "  VG UUID               {}", v.id);
        outln!(out, "   ");
        if a.has("verbose") {
            for l in v.user_lvs() {
                print_lvdisplay(ctx, &devs, &view, l, out);
            }
            outln!(out, "  --- Physical volumes ---");
            for p in &v.pvs {
                let pfree = view.pv_free(&p.key);
                outln!(out, "  PV Name               {}     ", vg.pv_path(&p.key));
                outln!(out, "  PV UUID               {}", p.id);
                outln!(
                    out,
                    "  PV Status             {}allocatable",
                    if p.status.iter().any(|s| s == "ALLOCATABLE") { "" } else { "NOT " }
                );
                outln!(out, "  Total PE / Free PE    {} / {pfree}", p.pe_count);
                outln!(out, "   ");
            }
        }
    }
    Ok(0)
}

/// `lvdisplay -m`: where each segment's extents lie.
fn print_segments(vg: &Vg, lv: &LogicalVolume, out: &mut impl std::io::Write) {
    outln!(out, "  --- Segments ---");
    for seg in &lv.segments {
        outln!(out, "  Logical extents {} to {}:", seg.start_extent, seg.start_extent + seg.extent_count - 1);
        match &seg.kind {
            SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => {
                let (k, pe) = &stripes[0];
                outln!(out, "    Type\t\tlinear");
                outln!(out, "    Physical volume\t{}", vg.pv_path(k));
                outln!(out, "    Physical extents\t{pe} to {}", pe + seg.extent_count - 1);
            }
            SegmentKind::Striped { stripes, stripe_size } => {
                let per = seg.extent_count / stripes.len() as u64;
                outln!(out, "    Type\t\tstriped");
                outln!(out, "    Stripes\t\t{}", stripes.len());
                outln!(out, "    Stripe size\t\t{}", size_long(stripe_size.unwrap_or(128)));
                for (i, (k, pe)) in stripes.iter().enumerate() {
                    outln!(out, "    Stripe {i}:");
                    outln!(out, "      Physical volume\t{}", vg.pv_path(k));
                    outln!(out, "      Physical extents\t{pe} to {}", pe + per - 1);
                }
            }
            SegmentKind::Snapshot { .. } => outln!(out, "    Type\t\tsnapshot"),
            SegmentKind::Other { segment_type } => outln!(out, "    Type\t\t{segment_type}"),
        }
        outln!(out, "   ");
    }
    outln!(out, "   ");
}

fn print_lvdisplay(ctx: &mut Ctx, devs: &Devices, view: &View, lv: &LogicalVolume, out: &mut impl std::io::Write) {
    let v = &view.vg.vg;
    let l = live(ctx, devs, view, lv);
    let snap = view.snapshot_of_cow(&lv.name);
    let snaps: Vec<&SnapshotRef> = view.snaps.of_origin(&lv.name).collect();
    outln!(out, "  --- Logical volume ---");
    if view.visible(lv) {
        outln!(out, "  LV Path                /dev/{}/{}", v.name, lv.name);
        outln!(out, "  LV Name                {}", lv.name);
    } else {
        outln!(out, "  Internal LV Name       {}", lv.name);
    }
    outln!(out, "  VG Name                {}", v.name);
    outln!(out, "  LV UUID                {}", lv.id);
    outln!(out, "  LV Write Access        {}", if lv.is_writable() { "read/write" } else { "read only" });
    if let (Some(h), Some(t)) = (&lv.creation_host, lv.creation_time) {
        outln!(out, "  LV Creation host, time {h}, {}", format_time(t));
    }
    if !snaps.is_empty() {
        outln!(out, "  LV snapshot status     source of");
        for s in &snaps {
            let active =
                view.lv(&s.cow).map(|c| live(ctx, devs, view, c)).is_some_and(|cl| cl.dev.is_some() && !cl.invalid);
            outln!(out, "                         {} [{}]", s.cow, if active { "active" } else { "INACTIVE" });
        }
    } else if let Some(s) = &snap {
        let active = l.dev.is_some() && !l.invalid;
        outln!(
            out,
            "  LV snapshot status     {} destination for {}",
            if active { "active" } else { "INACTIVE" },
            s.origin
        );
    }
    outln!(
        out,
        "  LV Status              {}",
        if l.dev.as_ref().is_some_and(|d| d.suspended) {
            "suspended"
        } else if l.dev.is_some() {
            "available"
        } else {
            "NOT available"
        }
    );
    if let Some(d) = &l.dev {
        outln!(out, "  # open                 {}", d.open_count);
    }
    let es = v.extent_size;
    match &snap {
        Some(s) => {
            let o = view.lv(&s.origin).map(|o| o.extents()).unwrap_or(0);
            outln!(out, "  LV Size                {}", size_long(o * es));
            outln!(out, "  Current LE             {o}");
            outln!(out, "  COW-table size         {}", size_long(lv.extents() * es));
            outln!(out, "  COW-table LE           {}", lv.extents());
            if l.dev.is_some() && !l.invalid {
                // LVM asks a merging snapshot's origin: until the merge
                // runs (snapshot-origin has no usage), that reads as 100%.
                let p = if s.merging {
                    ctx.host_if_running()
                        .and_then(|h| usage_pct(h.status(&dm_name(&v.name, &s.origin, None))))
                        .or(Some(100.0))
                } else {
                    l.pct
                };
                if let Some(p) = p {
                    outln!(out, "  Allocated to snapshot  {p:.2}%");
                }
            }
            outln!(out, "  Snapshot chunk size    {}", size_long(s.chunk_size));
        }
        None => {
            outln!(out, "  LV Size                {}", size_long(lv.extents() * es));
            outln!(out, "  Current LE             {}", lv.extents());
        }
    }
    outln!(out, "  Segments               {}", lv.segments.len());
    outln!(out, "  Allocation             inherit");
    outln!(out, "  Read ahead sectors     auto");
    if let Some(d) = &l.dev {
        // LVM's automatic read-ahead: 256 sectors, or two full stripes.
        let ra = match lv.segments.first().map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, stripe_size: Some(ss) }) if stripes.len() > 1 => {
                (stripes.len() as u64 * ss * 2).max(256)
            }
            _ => 256,
        };
        outln!(out, "  - currently set to     {ra}");
        outln!(out, "  Block device           {}:{}", d.major, d.minor);
    }
    outln!(out, "   ");
}

fn format_time(t: i64) -> String {
    // UTC, as `date -u '+%Y-%m-%d %H:%M:%S +0000'`.
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Days since 1970-01-01 to a (year, month, day) date.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn lvdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (_, vgs) = ctx.scan(true)?;
    let devs = Devices::get(ctx);
    let out = &mut stdout();
    let mut any = false;
    for vg in vgs.values() {
        if shared_refusal(vg).is_some() {
            if a.pos.iter().any(|p| p.strip_prefix("/dev/").unwrap_or(p).split('/').next() == Some(&vg.vg.name)) {
                check_local(vg)?;
            }
            continue;
        }
        let view = View::new(vg);
        for lv in vg.vg.user_lvs() {
            let selected = a.pos.is_empty()
                || a.pos.iter().any(|p| {
                    let p = p.strip_prefix("/dev/").unwrap_or(p);
                    p == vg.vg.name || p == format!("{}/{}", vg.vg.name, lv.name)
                });
            if selected && (view.visible(lv) || !a.pos.is_empty() || a.has("all")) {
                print_lvdisplay(ctx, &devs, &view, lv, out);
                if a.has("maps") {
                    print_segments(vg, lv, out);
                }
                any = true;
            }
        }
    }
    if !any && !a.pos.is_empty() {
        bail!("Failed to find logical volume \"{}\"", a.pos[0]);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_percent_and_time_formats() {
        assert_eq!(pct(Some(8240.0 * 100.0 / 16384.0)).text, "50.29");
        assert_eq!(pct(Some(0.001)).text, "0.01");
        assert_eq!(pct(Some(99.999)).text, "99.99");
        assert_eq!(pct(None).text, "");
        let snap = |params: &str| {
            TargetStatus::parse("snapshot", params)
                .map_err(|e| HostError::new(ulvm_lvm::HostErrorKind::Invalid, e.to_string()))
        };
        assert_eq!(usage_pct(snap("8240/16384 48")), Some(8240.0 * 100.0 / 16384.0));
        assert_eq!(usage_pct(snap("Invalid")), None);
        assert_eq!(format_time(1795239914), "2026-11-21 05:45:14 +0000");
    }
}
