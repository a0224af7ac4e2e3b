//! vgcreate, vgremove, vgextend, vgreduce, vgrename, vgchange, vgck, vgcfgbackup.

use super::args::Args;
use super::{check_local, device_args, local_names, shared_refusal, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::activate;
use ulvm_lvm::disk::{self, Vg};
use ulvm_lvm::model::VolumeGroup;
use ulvm_lvm::names::check_name;
use ulvm_lvm::ops::split;
use ulvm_lvm::ops::vg as ops_vg;
use ulvm_lvm::size::{parse_size, Sign};

pub fn vgcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please provide volume group name and physical volumes");
    };
    if devs.is_empty() {
        return usage("Please enter physical volume name(s)");
    }
    check_name(name, "volume group").map_err(|e| anyhow!("{e}"))?;
    let extent_size = match a.get("physicalextentsize") {
        Some(s) => {
            let sz = parse_size(s, 'm').map_err(|e| anyhow!("{e}"))?;
            if sz.sign != Sign::None || !sz.sectors.is_power_of_two() || sz.sectors < 8 {
                return usage(format!("Invalid argument for --physicalextentsize: {s} (a power of 2, at least 4 KiB)"));
            }
            sz.sectors
        }
        None => ops_vg::DEFAULT_EXTENT_SIZE,
    };
    let max = |opt: &str| -> Result<u64> {
        Ok(a.get(opt).map(|v| v.parse()).transpose().map_err(|_| anyhow!("Invalid argument for --{opt}"))?.unwrap_or(0))
    };
    let c = ops_vg::VgCreate {
        name: name.clone(),
        pvs: device_args(devs)?,
        extent_size,
        max_lv: max("maxlogicalvolumes")?,
        max_pv: max("maxphysicalvolumes")?,
    };
    ops_vg::vgcreate(&mut ctx.s, &c)?;
    Ok(0)
}

/// Names of the active LVs of a VG (those with a top-level device).
fn active_lvs(ctx: &mut Ctx, vg: &Vg) -> Vec<String> {
    let names: Vec<String> = vg.vg.user_lvs().map(|l| l.name.clone()).collect();
    let Some(h) = ctx.host_if_running() else { return Vec::new() };
    names.into_iter().filter(|n| activate::is_active(h, vg, n).ok().flatten().is_some()).collect()
}

pub fn vgremove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please enter one or more volume group paths");
    }
    let force = ctx.force > 0;
    let _g = ctx.lock_global()?;
    for name in &a.pos {
        ops_vg::vgremove(&mut ctx.s, name, force)?;
    }
    Ok(0)
}

pub fn vgextend(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please enter volume group name and physical volume(s)");
    };
    if devs.is_empty() {
        return usage("Please enter physical volume(s)");
    }
    ops_vg::vgextend(&mut ctx.s, name, &device_args(devs)?)?;
    Ok(0)
}

pub fn vgreduce(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please give volume group name and physical volume paths");
    };
    let paths = if a.has("all") {
        None
    } else if devs.is_empty() {
        return usage("Please enter physical volume paths or option -a");
    } else {
        Some(device_args(devs)?)
    };
    ops_vg::vgreduce(&mut ctx.s, name, paths.as_deref())?;
    Ok(0)
}

pub fn vgrename(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [old, new] = a.pos.as_slice() else {
        return usage("Old and new volume group names need specifying");
    };
    ops_vg::vgrename(&mut ctx.s, old, new)?;
    Ok(0)
}

pub fn vgchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(act) = a.get("activate") else {
        return usage("One of -a|--activate is needed (other vgchange changes are not supported yet).");
    };
    let on = match act {
        "y" | "ay" => true,
        "n" => false,
        _ => return usage(format!("Invalid argument for --activate: {act}")),
    };
    let names: Vec<String> = if a.pos.is_empty() { local_names(&ctx.scan(true)?.1) } else { a.pos.clone() };
    let mut status = 0;
    for name in names {
        let (vg, st) = ops_vg::vgchange_activate(&mut ctx.s, &name, on)?;
        if on {
            super::merge::start_pollers(ctx, &vg);
        }
        status = status.max(st);
    }
    Ok(status)
}

pub fn vgck(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (scan, vgs) = ctx.scan(true)?;
    let names: Vec<String> = if a.pos.is_empty() { local_names(&vgs) } else { a.pos.clone() };
    let mut status = 0;
    for (p, why) in &scan.problems {
        eprintln!("  {}: {why}", p.display());
        status = 5;
    }
    for name in names {
        let Some(vg) = vgs.get(&name) else {
            eprintln!("  Volume group \"{name}\" not found");
            status = 5;
            continue;
        };
        if let Some(msg) = shared_refusal(vg) {
            eprintln!("  {msg}");
            status = 5;
            continue;
        }
        for k in &vg.missing {
            eprintln!("  WARNING: VG {name} is missing PV {k} ({}).", vg.pv_path(k));
            status = 5;
        }
        for p in &vg.stale {
            eprintln!("  WARNING: inconsistent metadata: {} has an older copy of VG {name}.", p.display());
            status = 5;
        }
        // Extents used twice or beyond a PV are damage.
        let mut seen = std::collections::BTreeMap::<String, Vec<(u64, u64)>>::new();
        for lv in &vg.vg.lvs {
            for seg in &lv.segments {
                if let ulvm_lvm::model::SegmentKind::Striped { stripes, .. } = &seg.kind {
                    let per = seg.extent_count / stripes.len().max(1) as u64;
                    for (k, pe) in stripes {
                        let Some(pv) = vg.vg.pv(k) else {
                            eprintln!("  LV {name}/{}: unknown PV {k}", lv.name);
                            status = 5;
                            continue;
                        };
                        if pe + per > pv.pe_count {
                            eprintln!(
                                "  LV {name}/{}: extents {pe}..{} beyond PV {k} ({} extents)",
                                lv.name,
                                pe + per,
                                pv.pe_count
                            );
                            status = 5;
                        }
                        let runs = seen.entry(k.clone()).or_default();
                        if runs.iter().any(|&(s, l)| *pe < s + l && s < pe + per) {
                            eprintln!("  LV {name}/{}: extents {pe}..{} of {k} are used twice", lv.name, pe + per);
                            status = 5;
                        }
                        runs.push((*pe, per));
                    }
                }
            }
        }
    }
    Ok(status)
}

pub fn vgcfgbackup(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (_, vgs) = ctx.scan(true)?;
    let names: Vec<String> = if a.pos.is_empty() { local_names(&vgs) } else { a.pos.clone() };
    for name in names {
        let Some(vg) = vgs.get(&name) else { bail!("Volume group \"{name}\" not found") };
        check_local(vg)?;
        match a.get("file") {
            Some(f) => {
                let f = if names_many(&a.pos, &vgs) { f.replace("%s", &name) } else { f.to_string() };
                let text = disk::backup_text(&vg.vg, &format!("Created *after* executing '{}'", ctx.cmdline));
                ulvm_lvm::system::write_atomic(std::path::Path::new(&f), text.as_bytes())?;
            }
            None => disk::write_backup(&ctx.sd, &vg.vg, &ctx.cmdline)?,
        }
        println!("  Volume group \"{name}\" successfully backed up.");
    }
    Ok(0)
}

fn names_many(pos: &[String], vgs: &std::collections::BTreeMap<String, Vg>) -> bool {
    pos.len() > 1 || (pos.is_empty() && vgs.len() > 1)
}

pub fn vgmerge(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [dest, src] = a.pos.as_slice() else {
        return usage("Please enter 2 or more volume groups");
    };
    split::vgmerge(&mut ctx.s, dest, src)?;
    Ok(0)
}

pub fn vgsplit(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [src, dest, devs @ ..] = a.pos.as_slice() else {
        return usage("Existing VG, new VG and either physical volumes or logical volume required.");
    };
    if devs.is_empty() {
        return usage("Existing VG, new VG and either physical volumes or logical volume required.");
    }
    check_name(dest, "volume group").map_err(|e| anyhow!("{e}"))?;
    split::vgsplit(&mut ctx.s, src, dest, &device_args(devs)?)?;
    Ok(0)
}

pub fn vgcfgrestore(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(name) = a.pos.first() else { return usage("Please specify a *single* volume group to restore.") };
    if a.has("list") {
        let mut files = disk::archives(&ctx.sd, name);
        files.push(ctx.sd.backup_dir().join(name));
        for f in files.iter().filter(|f| f.exists()) {
            let text = std::fs::read_to_string(f)?;
            let tree = ulvm_lvm::text::Tree::parse(&text).map_err(|e| anyhow!("{}: {e}", f.display()))?;
            use ulvm_lvm::text::Items;
            let top = tree.0.as_slice();
            println!("   ");
            println!("  File:\t\t{}", f.display());
            println!("  VG name:    \t{name}");
            println!("  Description:\t{}", top.str("description").unwrap_or(""));
            println!("  Backup Time:\t{}", top.int("creation_time").unwrap_or(0));
        }
        println!("   ");
        return Ok(0);
    }
    let file = a.get("file").map(std::path::PathBuf::from).unwrap_or_else(|| ctx.sd.backup_dir().join(name));
    let text = std::fs::read_to_string(&file).map_err(|e| anyhow!("Couldn't read {}: {e}", file.display()))?;
    let restored = VolumeGroup::from_tree(&ulvm_lvm::text::Tree::parse(&text).map_err(|e| anyhow!("{e}"))?)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    if &restored.name != name {
        bail!("{} holds volume group {}, not {name}", file.display(), restored.name);
    }
    let _g = ctx.lock_global()?;
    let _l = ctx.lock_vg(name)?;
    let (scan, vgs) = ctx.scan(false)?;
    let current = vgs.get(name);
    if let Some(cur) = current {
        if !active_lvs(ctx, cur).is_empty() && ctx.force == 0 {
            bail!("Volume group {name} has active volumes; deactivate them first (or --force).");
        }
    }
    let mut disks = std::collections::BTreeMap::new();
    for p in &restored.pvs {
        match scan.pvs.iter().find(|d| d.uuid() == p.id) {
            Some(d) => {
                disks.insert(p.key.clone(), d.clone());
            }
            None => {
                bail!("Couldn't find device with uuid {}; cannot restore volume group {name} with PVs missing.", p.id)
            }
        }
    }
    let seqno = restored.seqno.max(current.map(|c| c.vg.seqno).unwrap_or(0));
    let mut vg = Vg {
        vg: VolumeGroup { seqno, ..restored },
        text: current.map(|c| c.text.clone()).unwrap_or_default(),
        disks,
        missing: vec![],
        stale: vec![],
    };
    ctx.commit(&mut vg)?;
    println!("  Restored volume group {name}.");
    Ok(0)
}
