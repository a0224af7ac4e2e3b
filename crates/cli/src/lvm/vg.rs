//! vgcreate, vgremove, vgextend, vgreduce, vgrename, vgchange, vgck, vgcfgbackup.

use super::args::Args;
use super::{check_local, device_args, local_names, shared_refusal, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::activate;
use ulvm_lvm::disk::{self, Vg};
use ulvm_lvm::model::{PhysicalVolume, VolumeGroup};
use ulvm_lvm::names::check_name;
use ulvm_lvm::ops::vg as ops_vg;
use ulvm_lvm::pv as lvmpv;
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

/// The LV names of `vg` that use any of the PV keys in `keys`, and whether
/// each lies wholly on them.
fn lvs_on(vg: &VolumeGroup, keys: &[String]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for lv in &vg.lvs {
        let mut on = 0;
        let mut off = 0;
        for seg in &lv.segments {
            if let ulvm_lvm::model::SegmentKind::Striped { stripes, .. } = &seg.kind {
                for (k, _) in stripes {
                    if keys.contains(k) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
            }
        }
        if on > 0 {
            out.push((lv.name.clone(), off == 0));
        }
    }
    out
}

pub fn vgmerge(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [dest, src] = a.pos.as_slice() else {
        return usage("Please enter 2 or more volume groups");
    };
    let _g = ctx.lock_global()?;
    let _d = ctx.lock_vg(dest)?;
    let _s = ctx.lock_vg(src)?;
    let mut to = ctx.vg(dest, false)?;
    let from = ctx.vg(src, false)?;
    if !active_lvs(ctx, &from).is_empty() {
        bail!("Logical volumes in \"{src}\" must be inactive");
    }
    if to.vg.extent_size != from.vg.extent_size {
        bail!("Extent sizes differ: {} ({dest}) and {} ({src})", to.vg.extent_size, from.vg.extent_size);
    }
    if let Some(l) = from.vg.lvs.iter().find(|l| to.vg.lv(&l.name).is_some()) {
        bail!("Duplicate logical volume name \"{}\" in \"{dest}\" and \"{src}\"", l.name);
    }
    // PV keys of the source become free keys of the destination.
    let mut rename = std::collections::BTreeMap::new();
    for p in &from.vg.pvs {
        let key = to.vg.next_pv_key();
        rename.insert(p.key.clone(), key.clone());
        to.vg.pvs.push(PhysicalVolume { key: key.clone(), ..p.clone() });
        if let Some(d) = from.disks.get(&p.key) {
            to.disks.insert(key, d.clone());
        }
    }
    for l in &from.vg.lvs {
        let mut l = l.clone();
        for s in &mut l.segments {
            if let ulvm_lvm::model::SegmentKind::Striped { stripes, .. } = &mut s.kind {
                for (k, _) in stripes.iter_mut() {
                    *k = rename[k].clone();
                }
            }
        }
        to.vg.lvs.push(l);
    }
    ctx.commit(&mut to)?;
    let _ = std::fs::remove_file(ctx.sd.backup_dir().join(src));
    println!("  Volume group \"{src}\" successfully merged into \"{dest}\"");
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
    let paths = device_args(devs)?;
    let _g = ctx.lock_global()?;
    let _s = ctx.lock_vg(src)?;
    let _d = ctx.lock_vg(dest)?;
    let (_, vgs) = ctx.scan(true)?;
    if vgs.contains_key(dest) {
        bail!(
            "Volume group \"{dest}\" exists; vgsplit into an existing VG is not supported by ulvm (use vgmerge after)."
        );
    }
    let mut from = ctx.vg(src, false)?;
    let mut keys = Vec::new();
    for p in &paths {
        match from.key_of(p) {
            Some(k) => keys.push(k),
            None => bail!("Physical volume {} not in volume group {src}", p.display()),
        }
    }
    if keys.len() == from.vg.pvs.len() {
        bail!("Cannot split: Nowhere to store metadata for new Volume Group");
    }
    let moving = lvs_on(&from.vg, &keys);
    if let Some((l, _)) = moving.iter().find(|(_, whole)| !whole) {
        bail!("Logical volume {src}/{l} must be either wholly in or wholly out of {dest}.");
    }
    let mut names: Vec<String> = moving.into_iter().map(|(n, _)| n).collect();
    // A snapshot goes with its origin and the other way round.
    for s in from.vg.snapshots() {
        let (o, c) = (names.contains(&s.origin), names.contains(&s.cow));
        if o != c {
            bail!("Snapshot {src}/{} and its origin {src}/{} must go to the same volume group.", s.cow, s.origin);
        }
        if o {
            names.push(s.seg_lv.clone());
        }
    }
    let active = active_lvs(ctx, &from);
    if let Some(l) = names.iter().find(|n| active.contains(n)) {
        bail!("Logical volume {src}/{l} must be inactive");
    }
    let mut to = Vg {
        vg: VolumeGroup {
            name: dest.clone(),
            id: lvmpv::new_uuid()?,
            seqno: 0,
            lvs: from.vg.lvs.iter().filter(|l| names.contains(&l.name)).cloned().collect(),
            pvs: from.vg.pvs.iter().filter(|p| keys.contains(&p.key)).cloned().collect(),
            ..from.vg.clone()
        },
        text: String::new(),
        disks: from.disks.iter().filter(|(k, _)| keys.contains(k)).map(|(k, d)| (k.clone(), d.clone())).collect(),
        missing: vec![],
        stale: vec![],
    };
    from.vg.lvs.retain(|l| !names.contains(&l.name));
    from.vg.pvs.retain(|p| !keys.contains(&p.key));
    for k in &keys {
        from.disks.remove(k);
    }
    ctx.commit(&mut to)?;
    ctx.commit(&mut from)?;
    println!("  New volume group \"{dest}\" successfully split from \"{src}\"");
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
