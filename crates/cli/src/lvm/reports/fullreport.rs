//! `lvm fullreport`: for each VG, its VG, PV, LV, PV segment and LV
//! segment reports, one after the other, then the PVs in no VG. Each
//! report takes its own `-o`, `-O` and `-S` after `--configreport NAME`
//! (options before the first `--configreport` apply to none, as LVM
//! 2.03's); the layout options apply to all.

use super::super::args::Args;
use super::super::{usage, Ctx};
use super::{PvRef, Spec};
use anyhow::{bail, Result};
use ulvm_lvm::disk::Vg;
use ulvm_lvm::facts::{shown_pvs, Devices};
use ulvm_lvm::ops::{check_local, shared_refusal};
use ulvm_lvm::report::{json_member, json_report, Cell};

/// The reports of `lvm fullreport`, in its order: name, kind of rows,
/// default columns, default order (LVM's `report/*_cols_full` and
/// `report/*_sort_full`), one row per segment.
const PARTS: &[(&str, &str, &str, &str, bool)] = &[
    ("vg", "vgs", "vg_all", "vg_name", false),
    ("pv", "pvs", "pv_all", "pv_name", false),
    ("lv", "lvs", "lv_all", "vg_name,lv_name", false),
    ("pvseg", "pvs", "pvseg_all,pv_uuid,lv_uuid", "pv_uuid,pvseg_start", true),
    ("seg", "lvs", "seg_all,lv_uuid", "lv_uuid,seg_start", true),
];

pub fn fullreport(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let json = match a.get("reportformat") {
        None | Some("basic") => false,
        Some("json") | Some("json_std") => true,
        Some(f) => return usage(format!("Invalid argument for --reportformat: {f}")),
    };
    let sections = a.sections("configreport");
    for (name, _) in &sections {
        if let Some(n) = name.as_deref().filter(|n| !PARTS.iter().any(|p| p.0 == *n)) {
            return usage(format!("Invalid argument for --configreport: {n}\nError during parsing of command line."));
        }
    }
    let mut specs = Vec::new();
    for (name, kind, cols, sort, segments) in PARTS {
        // Every --configreport of a report adds to it, as LVM's: its
        // `-o` lists in turn, the last `-O` and `-S`.
        let own: Vec<&Args> = sections.iter().filter(|(n, _)| n.as_deref() == Some(*name)).map(|(_, a)| a).collect();
        let options: Vec<&str> = own.iter().flat_map(|a| a.all("options")).collect();
        let order = own.iter().rev().find_map(|a| a.get("sort")).unwrap_or(sort);
        let select = own.iter().rev().find_map(|a| a.get("select"));
        specs.push(Spec::new(kind, cols, &options, Some(order), select, *segments)?);
    }
    let (scan, vgs) = ctx.scan(true)?;
    let order = ulvm_lvm::ops::scan::order(&scan, &vgs);
    let selected: Vec<&Vg> = if a.pos.is_empty() {
        order.iter().map(|n| &vgs[n]).filter(|v| shared_refusal(v).is_none()).collect()
    } else {
        let mut out = Vec::new();
        for name in &a.pos {
            let Some(v) = vgs.get(name.as_str()) else {
                bail!("Volume group \"{name}\" not found\nCannot process volume group {name}");
            };
            check_local(v)?;
            if !out.iter().any(|o: &&Vg| o.vg.name == v.vg.name) {
                out.push(v);
            }
        }
        out
    };
    let u = ctx.units;
    let devs = Devices::get(&mut ctx.s);
    let mut text = String::new();
    let mut objects: Vec<Vec<String>> = Vec::new();
    let mut emit = |parts: Vec<(usize, Vec<Vec<Cell>>)>| {
        let mut members = Vec::new();
        for (i, rows) in parts {
            if json {
                let rows = specs[i].finish(rows, a, false);
                members.push(json_member(PARTS[i].0, &specs[i].columns(), &rows));
            } else {
                text.push_str(&specs[i].output(rows, a, None, false));
            }
        }
        objects.push(members);
    };
    for vg in &selected {
        let mut parts: Vec<(usize, Vec<Vec<Cell>>)> = (0..PARTS.len()).map(|i| (i, Vec::new())).collect();
        specs[0].vg_rows(vg, &u, &mut parts[0].1);
        let pvs = || {
            let found = scan.pvs.iter().filter(|d| vg.disks.values().any(|x| x.path == d.path)).map(PvRef::Disk);
            let missing = vg.missing.iter().filter_map(|k| vg.vg.pv(k)).map(PvRef::Missing);
            found.chain(missing).map(|p| (p, Some(*vg)))
        };
        specs[1].pv_rows(pvs(), &vgs, &u, &mut parts[1].1);
        specs[2].lv_rows(ctx, &devs, vg, &[], a.has("all"), &mut parts[2].1);
        specs[3].pv_rows(pvs(), &vgs, &u, &mut parts[3].1);
        specs[4].lv_rows(ctx, &devs, vg, &[], a.has("all"), &mut parts[4].1);
        emit(parts);
    }
    // The PVs in no VG, when no VG is named: their PV and PV segment reports.
    if a.pos.is_empty() {
        let orphans: Vec<_> =
            shown_pvs(&scan.pvs, &vgs, &[]).filter(|(_, vg)| vg.is_none()).map(|(d, v)| (PvRef::Disk(d), v)).collect();
        if !orphans.is_empty() {
            let (mut pv, mut pvseg) = (Vec::new(), Vec::new());
            specs[1].pv_rows(orphans.iter().copied(), &vgs, &u, &mut pv);
            specs[3].pv_rows(orphans.iter().copied(), &vgs, &u, &mut pvseg);
            emit(vec![(1, pv), (3, pvseg)]);
        }
    }
    if json {
        print!("{}", json_report(&objects));
    } else {
        print!("{text}");
    }
    Ok(0)
}
