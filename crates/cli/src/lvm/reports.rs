//! pvs, vgs, lvs and the *display commands.

use super::args::Args;
use super::{check_local, local_names, shared_refusal, usage, vg_of_device, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_dm::TargetStatus;
use ulvm_lvm::activate::DevState;
use ulvm_lvm::alloc;
use ulvm_lvm::disk::{PvDisk, Vg};
use ulvm_lvm::model::{LogicalVolume, Segment, SegmentKind};
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

fn live(ctx: &mut Ctx, vg: &Vg, lv: &LogicalVolume) -> Live {
    let Some(h) = ctx.host_if_running() else { return Live::default() };
    let vname = &vg.vg.name;
    let mut l = Live { dev: h.state(&dm_name(vname, &lv.name, None)).ok().flatten(), ..Default::default() };
    let merging = |o: &str| vg.vg.snapshots_of(o).into_iter().find(|s| s.merging);
    if let Some(s) = vg.vg.snapshot_of_cow(&lv.name) {
        // A merge in progress reports through the origin's snapshot-merge
        // status; a merge still waiting for activation, like any snapshot.
        let merge_pct = if s.merging { usage_pct(h.status(&dm_name(vname, &s.origin, None))) } else { None };
        if merge_pct.is_some() {
            l.pct = merge_pct;
        } else if l.dev.is_some() {
            let st = h.status(&dm_name(vname, &lv.name, None));
            if st.as_ref().ok().and_then(|s| s.snapshot()).is_some_and(|s| s.is_invalid()) {
                l.invalid = true;
                l.pct = Some(100.0);
            } else {
                l.pct = usage_pct(st);
            }
        }
    } else if lv.clone_ref().is_some() && l.dev.is_some() {
        let st = h.status(&dm_name(vname, &lv.name, None)).ok();
        l.copy = st.as_ref().and_then(|s| s.clone_status()).and_then(ulvm_lvm::percent::clone);
    } else if merging(&lv.name).is_some() && l.dev.is_some() {
        l.pct = usage_pct(h.status(&dm_name(vname, &lv.name, None)));
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

fn lv_attr(vg: &Vg, lv: &LogicalVolume, l: &Live) -> String {
    let snap = vg.vg.snapshot_of_cow(&lv.name);
    let snaps = vg.vg.snapshots_of(&lv.name);
    let c0 = match (&snap, snaps.is_empty()) {
        (Some(s), _) => {
            if s.merging {
                'S'
            } else {
                's'
            }
        }
        (None, false) => {
            if snaps.iter().any(|s| s.merging) {
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
    let c6 = if snap.is_some() || !snaps.is_empty() { 's' } else { '-' };
    let c9 = if lv.flags.iter().any(|f| f == "ACTIVATION_SKIP") { 'k' } else { '-' };
    format!("{c0}{c1}i-{c4}{c5}{c6}--{c9}")
}

fn visible(vg: &Vg, lv: &LogicalVolume) -> bool {
    match vg.vg.snapshot_of_cow(&lv.name) {
        Some(s) => !s.merging,
        None => lv.is_visible(),
    }
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
            for vg in &selected {
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
                    if !visible(vg, lv) && !a.has("all") {
                        continue;
                    }
                    if !wanted_lv.is_empty() && !wanted_lv.contains(&lv.name.as_str()) {
                        continue;
                    }
                    let l = live(ctx, vg, lv);
                    let segs: Vec<Option<&Segment>> =
                        if per_seg { lv.segments.iter().map(Some).collect() } else { vec![None] };
                    for seg in segs {
                        rows.push(cols.iter().map(|c| lv_cell(c.id, vg, lv, seg, &l, &u)).collect());
                    }
                }
            }
        }
        "vgs" => {
            for vg in &selected {
                rows.push(cols.iter().map(|c| vg_cell(c.id, vg, &u)).collect());
            }
        }
        _ => {
            let wanted: Vec<std::path::PathBuf> = a.pos.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
            for d in &scan.pvs {
                if !wanted.is_empty() && !wanted.contains(&d.path) {
                    continue;
                }
                let vg = vg_of_device(&vgs, &d.path);
                // The PVs of a shared VG are not shown at all.
                if vg.is_some_and(|v| shared_refusal(v).is_some()) {
                    continue;
                }
                rows.push(cols.iter().map(|c| pv_cell(c.id, d, vg, &u)).collect());
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

fn lv_cell(id: &str, vg: &Vg, lv: &LogicalVolume, seg: Option<&Segment>, l: &Live, u: &Units) -> Cell {
    let es = vg.vg.extent_size;
    let snap = vg.vg.snapshot_of_cow(&lv.name);
    let seg = seg.or(lv.segments.first());
    match id {
        "lv_name" => {
            let text = if visible(vg, lv) { lv.name.clone() } else { format!("[{}]", lv.name) };
            Cell { text, key: ulvm_lvm::report::SortKey::Str(lv.name.clone()) }
        }
        "vg_name" => Cell::str(vg.vg.name.clone()),
        "lv_attr" => Cell::str(lv_attr(vg, lv, l)),
        "lv_size" => size_cell(u, lv.extents() * es),
        "origin" => Cell::str(snap.as_ref().map(|s| s.origin.clone()).unwrap_or_default()),
        "origin_size" => match &snap {
            Some(s) => size_cell(u, vg.vg.lv(&s.origin).map(|o| o.extents() * es).unwrap_or(0)),
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

fn vg_cell(id: &str, vg: &Vg, u: &Units) -> Cell {
    let v = &vg.vg;
    let total: u64 = v.pvs.iter().map(|p| p.pe_count).sum();
    let free = alloc::free_extents(v).values().sum::<u64>();
    match id {
        "vg_name" => Cell::str(v.name.clone()),
        "pv_count" => int_cell(v.pvs.len() as i64),
        // LVM counts the LVs a user sees: a merging snapshot is hidden.
        "lv_count" => int_cell(v.user_lvs().filter(|l| visible(vg, l)).count() as i64),
        "snap_count" => int_cell(v.snapshots().len() as i64),
        "vg_attr" => Cell::str(vg_attr(vg)),
        "vg_size" => size_cell(u, total * v.extent_size),
        "vg_free" => size_cell(u, free * v.extent_size),
        "vg_uuid" => Cell::str(v.id.to_string()),
        "vg_fmt" => Cell::str("lvm2"),
        "vg_extent_size" => size_cell(u, v.extent_size),
        "vg_extent_count" => int_cell(total as i64),
        "vg_free_count" => int_cell(free as i64),
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

fn pv_cell(id: &str, d: &PvDisk, vg: Option<&Vg>, u: &Units) -> Cell {
    let entry = vg.and_then(|v| v.vg.pvs.iter().find(|p| p.id == d.uuid()).map(|p| (v, p)));
    let pe_start = d.label.data_areas.first().map(|a| a.offset / 512).unwrap_or(2048);
    let (size, free, count, alloc_n) = match entry {
        Some((v, p)) => {
            let free = alloc::free_extents(&v.vg).get(&p.key).copied().unwrap_or(0);
            let es = v.vg.extent_size;
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

pub fn pvdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (scan, vgs) = ctx.scan(true)?;
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
        println!("  --- {}Physical volume ---", if entry.is_some() { "" } else { "NEW " });
        println!("  PV Name               {}", d.path.display());
        println!("  VG Name               {}", vg.map(|v| v.vg.name.as_str()).unwrap_or(""));
        match entry {
            Some((v, p)) => {
                let es = v.vg.extent_size;
                let data = p.pe_count * es;
                let free = alloc::free_extents(&v.vg).get(&p.key).copied().unwrap_or(0);
                let dev = d.dev_sectors();
                println!("  PV Size               {} / not usable {}", size_long(dev), size_long(dev - data));
                let allocatable = p.status.iter().any(|s| s == "ALLOCATABLE");
                if allocatable {
                    println!("  Allocatable           yes {}", if free == 0 { "(but full)" } else { "" });
                } else {
                    println!("  Allocatable           NO");
                }
                println!("  PE Size               {}", size_long(es));
                println!("  Total PE              {}", p.pe_count);
                println!("  Free PE               {free}");
                println!("  Allocated PE          {}", p.pe_count - free);
                println!("  PV UUID               {}", d.uuid());
                println!("   ");
                if a.has("maps") {
                    println!("  --- Physical Segments ---");
                    for s in &alloc::pv_segments(&v.vg)[&p.key] {
                        println!("  Physical extent {} to {}:", s.pe, s.pe + s.len - 1);
                        match &s.used_by {
                            Some((lv, le)) => {
                                println!("    Logical volume\t/dev/{}/{lv}", v.vg.name);
                                let seg_len =
                                    v.vg.lv(lv)
                                        .and_then(|l| l.segments.iter().find(|g| g.start_extent == *le))
                                        .map(|g| g.extent_count)
                                        .unwrap_or(s.len);
                                println!("    Logical extents\t{le} to {}", le + seg_len - 1);
                            }
                            None => println!("    FREE"),
                        }
                    }
                    println!("   ");
                }
            }
            None => {
                println!("  PV Size               {}", size_long(d.dev_sectors()));
                println!("  Allocatable           NO");
                println!("  PE Size               0   ");
                println!("  Total PE              0");
                println!("  Free PE               0");
                println!("  Allocated PE          0");
                println!("  PV UUID               {}", d.uuid());
                println!("   ");
            }
        }
    }
    Ok(0)
}

pub fn vgdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (_, vgs) = ctx.scan(true)?;
    let names: Vec<String> = if a.pos.is_empty() { local_names(&vgs) } else { a.pos.clone() };
    for name in names {
        let Some(vg) = vgs.get(&name) else { bail!("Volume group \"{name}\" not found") };
        check_local(vg)?;
        let v = &vg.vg;
        let es = v.extent_size;
        let total: u64 = v.pvs.iter().map(|p| p.pe_count).sum();
        let free: u64 = alloc::free_extents(v).values().sum();
        let mut open = 0;
        for l in v.user_lvs() {
            if live(ctx, vg, l).dev.is_some_and(|d| d.open_count > 0) {
                open += 1;
            }
        }
        println!("  --- Volume group ---");
        println!("  VG Name               {name}");
        println!("  System ID             ");
        println!("  Format                lvm2");
        println!("  Metadata Areas        {}", vg.disks.values().map(|d| d.label.metadata_areas.len()).sum::<usize>());
        println!("  Metadata Sequence No  {}", v.seqno);
        println!("  VG Access             read/write");
        println!("  VG Status             resizable");
        println!("  MAX LV                {}", v.max_lv);
        println!("  Cur LV                {}", v.user_lvs().filter(|l| visible(vg, l)).count());
        println!("  Open LV               {open}");
        println!("  Max PV                {}", v.max_pv);
        println!("  Cur PV                {}", v.pvs.len());
        println!("  Act PV                {}", vg.disks.len());
        println!("  VG Size               {}", size_long(total * es));
        println!("  PE Size               {}", size_long(es));
        println!("  Total PE              {total}");
        println!("  Alloc PE / Size       {} / {}", total - free, size_long((total - free) * es));
        println!("  Free  PE / Size       {free} / {}", size_long(free * es));
        println!("  VG UUID               {}", v.id);
        println!("   ");
        if a.has("verbose") {
            for l in v.user_lvs() {
                print_lvdisplay(ctx, vg, l);
            }
            println!("  --- Physical volumes ---");
            for p in &v.pvs {
                let pfree = alloc::free_extents(v).get(&p.key).copied().unwrap_or(0);
                println!("  PV Name               {}     ", vg.pv_path(&p.key));
                println!("  PV UUID               {}", p.id);
                println!(
                    "  PV Status             {}allocatable",
                    if p.status.iter().any(|s| s == "ALLOCATABLE") { "" } else { "NOT " }
                );
                println!("  Total PE / Free PE    {} / {pfree}", p.pe_count);
                println!("   ");
            }
        }
    }
    Ok(0)
}

/// `lvdisplay -m`: where each segment's extents lie.
fn print_segments(vg: &Vg, lv: &LogicalVolume) {
    println!("  --- Segments ---");
    for seg in &lv.segments {
        println!("  Logical extents {} to {}:", seg.start_extent, seg.start_extent + seg.extent_count - 1);
        match &seg.kind {
            SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => {
                let (k, pe) = &stripes[0];
                println!("    Type\t\tlinear");
                println!("    Physical volume\t{}", vg.pv_path(k));
                println!("    Physical extents\t{pe} to {}", pe + seg.extent_count - 1);
            }
            SegmentKind::Striped { stripes, stripe_size } => {
                let per = seg.extent_count / stripes.len() as u64;
                println!("    Type\t\tstriped");
                println!("    Stripes\t\t{}", stripes.len());
                println!("    Stripe size\t\t{}", size_long(stripe_size.unwrap_or(128)));
                for (i, (k, pe)) in stripes.iter().enumerate() {
                    println!("    Stripe {i}:");
                    println!("      Physical volume\t{}", vg.pv_path(k));
                    println!("      Physical extents\t{pe} to {}", pe + per - 1);
                }
            }
            SegmentKind::Snapshot { .. } => println!("    Type\t\tsnapshot"),
            SegmentKind::Other { segment_type } => println!("    Type\t\t{segment_type}"),
        }
        println!("   ");
    }
    println!("   ");
}

fn print_lvdisplay(ctx: &mut Ctx, vg: &Vg, lv: &LogicalVolume) {
    let v = &vg.vg;
    let l = live(ctx, vg, lv);
    let snap = v.snapshot_of_cow(&lv.name);
    let snaps = v.snapshots_of(&lv.name);
    println!("  --- Logical volume ---");
    if visible(vg, lv) {
        println!("  LV Path                /dev/{}/{}", v.name, lv.name);
        println!("  LV Name                {}", lv.name);
    } else {
        println!("  Internal LV Name       {}", lv.name);
    }
    println!("  VG Name                {}", v.name);
    println!("  LV UUID                {}", lv.id);
    println!("  LV Write Access        {}", if lv.is_writable() { "read/write" } else { "read only" });
    if let (Some(h), Some(t)) = (&lv.creation_host, lv.creation_time) {
        println!("  LV Creation host, time {h}, {}", format_time(t));
    }
    if !snaps.is_empty() {
        println!("  LV snapshot status     source of");
        for s in &snaps {
            let cow = v.lv(&s.cow).cloned();
            let active = cow.map(|c| live(ctx, vg, &c)).is_some_and(|cl| cl.dev.is_some() && !cl.invalid);
            println!("                         {} [{}]", s.cow, if active { "active" } else { "INACTIVE" });
        }
    } else if let Some(s) = &snap {
        let active = l.dev.is_some() && !l.invalid;
        println!(
            "  LV snapshot status     {} destination for {}",
            if active { "active" } else { "INACTIVE" },
            s.origin
        );
    }
    println!(
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
        println!("  # open                 {}", d.open_count);
    }
    let es = v.extent_size;
    match &snap {
        Some(s) => {
            let o = v.lv(&s.origin).map(|o| o.extents()).unwrap_or(0);
            println!("  LV Size                {}", size_long(o * es));
            println!("  Current LE             {o}");
            println!("  COW-table size         {}", size_long(lv.extents() * es));
            println!("  COW-table LE           {}", lv.extents());
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
                    println!("  Allocated to snapshot  {p:.2}%");
                }
            }
            println!("  Snapshot chunk size    {}", size_long(s.chunk_size));
        }
        None => {
            println!("  LV Size                {}", size_long(lv.extents() * es));
            println!("  Current LE             {}", lv.extents());
        }
    }
    println!("  Segments               {}", lv.segments.len());
    println!("  Allocation             inherit");
    println!("  Read ahead sectors     auto");
    if let Some(d) = &l.dev {
        // LVM's automatic read-ahead: 256 sectors, or two full stripes.
        let ra = match lv.segments.first().map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, stripe_size: Some(ss) }) if stripes.len() > 1 => {
                (stripes.len() as u64 * ss * 2).max(256)
            }
            _ => 256,
        };
        println!("  - currently set to     {ra}");
        println!("  Block device           {}:{}", d.major, d.minor);
    }
    println!("   ");
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
    let mut any = false;
    for vg in vgs.values() {
        if shared_refusal(vg).is_some() {
            if a.pos.iter().any(|p| p.strip_prefix("/dev/").unwrap_or(p).split('/').next() == Some(&vg.vg.name)) {
                check_local(vg)?;
            }
            continue;
        }
        for lv in vg.vg.user_lvs() {
            let selected = a.pos.is_empty()
                || a.pos.iter().any(|p| {
                    let p = p.strip_prefix("/dev/").unwrap_or(p);
                    p == vg.vg.name || p == format!("{}/{}", vg.vg.name, lv.name)
                });
            if selected && (visible(vg, lv) || !a.pos.is_empty() || a.has("all")) {
                print_lvdisplay(ctx, vg, lv);
                if a.has("maps") {
                    print_segments(vg, lv);
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
