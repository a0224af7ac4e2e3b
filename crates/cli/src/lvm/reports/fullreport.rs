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
use ulvm_lvm::facts::{shown_pvs_of, Devices};
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
        // A report LVM cannot make fails for each VG as it comes to it.
        specs.push(Spec::new(kind, cols, &options, Some(order), select, *segments).map_err(|e| format!("{e:#}")));
    }
    let (scan, vgs) = ctx.scan(true)?;
    let shared = a.has("shared");
    let order =
        if shared { ulvm_lvm::ops::scan::order_all(&scan, &vgs) } else { ulvm_lvm::ops::scan::order(&scan, &vgs) };
    let selected: Vec<&Vg> = if a.pos.is_empty() {
        order.iter().map(|n| &vgs[n]).filter(|v| shared || shared_refusal(v).is_none()).collect()
    } else {
        let mut out = Vec::new();
        for name in &a.pos {
            let Some(v) = vgs.get(name.as_str()) else {
                bail!("Volume group \"{name}\" not found\nCannot process volume group {name}");
            };
            if !shared {
                check_local(v)?;
            }
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
    let mut failed = false;
    // Each VG's reports in turn (`rows` of report `i`); the first that
    // cannot be made says why, and the VG's others are left out.
    let mut emit = |parts: &mut dyn FnMut(usize, &Spec) -> Vec<Vec<Cell>>, which: &[usize]| {
        let mut members = Vec::new();
        for &i in which {
            let spec = match &specs[i] {
                Ok(spec) => spec,
                Err(e) => {
                    for l in e.lines() {
                        eprintln!("  {l}");
                    }
                    failed = true;
                    break;
                }
            };
            let rows = parts(i, spec);
            if json {
                let rows = spec.finish(rows, a, false);
                members.push(json_member(PARTS[i].0, &spec.columns(), &rows));
            } else {
                text.push_str(&spec.output(rows, a, None, false));
            }
        }
        objects.push(members);
    };
    for vg in &selected {
        let pvs = || {
            let found = scan.pvs.iter().filter(|d| vg.disks.values().any(|x| x.path == d.path)).map(PvRef::Disk);
            let missing = vg.missing.iter().filter_map(|k| vg.vg.pv(k)).map(PvRef::Missing);
            found.chain(missing).map(|p| (p, Some(*vg)))
        };
        let mut rows = |i: usize, spec: &Spec| {
            let mut rows = Vec::new();
            match i {
                0 => spec.vg_rows(vg, &u, &mut rows),
                1 | 3 => spec.pv_rows(pvs(), &vgs, &u, &mut rows),
                _ => spec.lv_rows(ctx, &devs, vg, &[], a.has("all"), &mut rows),
            }
            rows
        };
        emit(&mut rows, &[0, 1, 2, 3, 4]);
    }
    // The PVs in no VG, when no VG is named: their PV and PV segment reports.
    if a.pos.is_empty() {
        let orphans: Vec<_> = shown_pvs_of(&scan.pvs, &vgs, &[], shared)
            .filter(|(_, vg)| vg.is_none())
            .map(|(d, v)| (PvRef::Disk(d), v))
            .collect();
        if !orphans.is_empty() {
            let mut rows = |_: usize, spec: &Spec| {
                let mut rows = Vec::new();
                spec.pv_rows(orphans.iter().copied(), &vgs, &u, &mut rows);
                rows
            };
            emit(&mut rows, &[1, 3]);
        }
    }
    if json {
        print!("{}", json_report(&objects));
    } else {
        print!("{text}");
    }
    Ok(if failed { 5 } else { 0 })
}
