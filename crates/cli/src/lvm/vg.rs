//! vgcreate, vgremove, vgextend, vgreduce, vgrename, vgchange, vgck, vgcfgbackup.

use super::args::Args;
use super::{check_local, device_args, local_names, shared_refusal, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;
use ulvm_lvm::activate::{self, DmHost};
use ulvm_lvm::disk::{self, PvDisk, Vg};
use ulvm_lvm::model::{PhysicalVolume, VolumeGroup};
use ulvm_lvm::names::{check_name, dm_name};
use ulvm_lvm::pv as lvmpv;
use ulvm_lvm::size::{parse_size, Sign};

/// Opens each device as a PV, making a PV of those that are not one yet
/// (as vgcreate and vgextend do). Refuses PVs that are in a VG.
fn pvs_for_vg(ctx: &Ctx, paths: &[PathBuf]) -> Result<Vec<PvDisk>> {
    let (_, vgs) = ctx.scan(true)?;
    for p in paths {
        if let Some(v) = vgs.values().find(|v| v.disks.values().any(|d| &d.path == p)) {
            bail!("Physical volume '{}' is already in volume group '{}'", p.display(), v.vg.name);
        }
        if let Ok(Some(d)) = disk::read_pv(p, true) {
            if let Some(m) = d.vg {
                bail!("Physical volume '{}' is already in volume group '{}'", p.display(), m.0.name);
            }
        }
        let dev = disk::open_device(p, false).map_err(|e| anyhow!("Cannot use {}: {e}", p.display()))?;
        if dev.size().0 < 2 * 2048 * 2 {
            bail!("Cannot use {}: device is too small (pv_min_size is 2.00 MiB).", p.display());
        }
    }
    let mut out = Vec::new();
    let mut new = Vec::new();
    for p in paths {
        let d = match disk::read_pv(p, false)? {
            Some(d) => d,
            None => {
                let dev = disk::open_device(p, false)?;
                lvmpv::format_pv(dev.as_ref(), lvmpv::new_uuid()?)?;
                println!("  Physical volume \"{}\" successfully created.", p.display());
                disk::read_pv(p, false)?
                    .ok_or_else(|| anyhow!("{}: PV label not found after writing it", p.display()))?
            }
        };
        new.push((p.clone(), Some(String::from_utf8_lossy(&d.label.uuid).into_owned())));
        out.push(d);
    }
    ctx.remember_devices(&new)?;
    Ok(out)
}

fn pv_entry(key: String, d: &PvDisk, extent_size: u64) -> Result<PhysicalVolume> {
    let pe_start = d.label.data_areas.first().map(|a| a.offset / 512).unwrap_or(2048);
    let dev = d.dev_sectors();
    if dev < pe_start + extent_size {
        bail!("{}: too small for one extent of {}", d.path.display(), ulvm_lvm::units::size_long(extent_size));
    }
    Ok(PhysicalVolume {
        key,
        id: d.uuid(),
        device: Some(d.path.display().to_string()),
        status: vec!["ALLOCATABLE".into()],
        flags: vec![],
        dev_size: Some(dev),
        pe_start,
        pe_count: (dev - pe_start) / extent_size,
        extra: vec![],
    })
}

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
        None => 8192,
    };
    let paths = device_args(devs)?;
    let _g = ctx.lock_global()?;
    let _l = ctx.lock_vg(name)?;
    let (_, vgs) = ctx.scan(true)?;
    if vgs.contains_key(name) {
        bail!("A volume group called {name} already exists.");
    }
    let disks = pvs_for_vg(ctx, &paths)?;
    let mut pvs = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        pvs.push(pv_entry(format!("pv{i}"), d, extent_size)?);
    }
    let mut vg = Vg {
        vg: VolumeGroup {
            name: name.clone(),
            id: lvmpv::new_uuid()?,
            seqno: 0,
            status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
            flags: vec![],
            extent_size,
            max_lv: a
                .get("maxlogicalvolumes")
                .map(|v| v.parse())
                .transpose()
                .map_err(|_| anyhow!("Invalid argument for --maxlogicalvolumes"))?
                .unwrap_or(0),
            max_pv: a
                .get("maxphysicalvolumes")
                .map(|v| v.parse())
                .transpose()
                .map_err(|_| anyhow!("Invalid argument for --maxphysicalvolumes"))?
                .unwrap_or(0),
            metadata_copies: 0,
            pvs,
            lvs: vec![],
            extra: vec![],
        },
        text: String::new(),
        disks: disks.into_iter().enumerate().map(|(i, d)| (format!("pv{i}"), d)).collect(),
        missing: vec![],
        stale: vec![],
    };
    ctx.commit(&mut vg)?;
    println!("  Volume group \"{name}\" successfully created");
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
    let _g = ctx.lock_global()?;
    for name in &a.pos {
        let _l = ctx.lock_vg(name)?;
        let mut vg = ctx.vg(name, false)?;
        let lvs: Vec<String> = vg.vg.user_lvs().map(|l| l.name.clone()).collect();
        if !lvs.is_empty() && ctx.force == 0 {
            let q = format!(
                "Do you really want to remove volume group \"{name}\" containing {} logical volumes?",
                lvs.len()
            );
            if !ctx.confirm(&q) {
                bail!("Volume group \"{name}\" not removed");
            }
        }
        let active = active_lvs(ctx, &vg);
        for lv in &active {
            let h = ctx.host()?;
            activate::deactivate(h, &vg, lv).map_err(|e| anyhow!("{e}"))?;
        }
        for lv in &lvs {
            println!("  Logical volume \"{lv}\" successfully removed.");
        }
        for d in vg.disks.values_mut() {
            disk::make_orphan(d)?;
        }
        let _ = std::fs::remove_file(ctx.sd.backup_dir().join(name));
        println!("  Volume group \"{name}\" successfully removed");
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
    let paths = device_args(devs)?;
    let _g = ctx.lock_global()?;
    let _l = ctx.lock_vg(name)?;
    let mut vg = ctx.vg(name, false)?;
    let disks = pvs_for_vg(ctx, &paths)?;
    for d in disks {
        let key = vg.vg.next_pv_key();
        let entry = pv_entry(key.clone(), &d, vg.vg.extent_size)?;
        vg.vg.pvs.push(entry);
        vg.disks.insert(key, d);
    }
    ctx.commit(&mut vg)?;
    println!("  Volume group \"{name}\" successfully extended");
    Ok(0)
}

pub fn vgreduce(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please give volume group name and physical volume paths");
    };
    let _g = ctx.lock_global()?;
    let _l = ctx.lock_vg(name)?;
    let mut vg = ctx.vg(name, false)?;
    let segs = ulvm_lvm::alloc::pv_segments(&vg.vg);
    let used = |k: &str| segs.get(k).is_some_and(|s| s.iter().any(|x| x.used_by.is_some()));
    let keys: Vec<String> = if a.has("all") {
        vg.vg.pvs.iter().filter(|p| !used(&p.key)).map(|p| p.key.clone()).collect()
    } else {
        if devs.is_empty() {
            return usage("Please enter physical volume paths or option -a");
        }
        let mut keys = Vec::new();
        for p in device_args(devs)? {
            let Some(k) = vg.key_of(&p) else {
                bail!("Physical volume \"{}\" not in volume group \"{name}\"", p.display())
            };
            if used(&k) {
                bail!("Physical volume \"{}\" still in use", p.display());
            }
            keys.push(k);
        }
        keys
    };
    if keys.len() >= vg.vg.pvs.len() {
        bail!("Can't remove final physical volume from volume group \"{name}\"");
    }
    let mut removed = Vec::new();
    for k in &keys {
        vg.vg.pvs.retain(|p| &p.key != k);
        if let Some(d) = vg.disks.remove(k) {
            removed.push(d);
        }
    }
    ctx.commit(&mut vg)?;
    for mut d in removed {
        disk::make_orphan(&mut d)?;
        println!("  Removed \"{}\" from volume group \"{name}\"", d.path.display());
    }
    Ok(0)
}

pub fn vgrename(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [old, new] = a.pos.as_slice() else {
        return usage("Old and new volume group names need specifying");
    };
    check_name(new, "volume group").map_err(|e| anyhow!("{e}"))?;
    let _g = ctx.lock_global()?;
    let _l = ctx.lock_vg(old)?;
    let _n = ctx.lock_vg(new)?;
    let (_, vgs) = ctx.scan(true)?;
    if vgs.contains_key(new) {
        bail!("New volume group \"{new}\" already exists");
    }
    let mut vg = ctx.vg(old, false)?;
    // Active LVs keep running under their new names (tables refer to
    // device numbers, and the dm UUIDs hold the VG's UUID, not its name).
    let layers: Vec<String> = vg.vg.lvs.iter().map(|l| l.name.clone()).collect();
    if let Some(h) = ctx.host_if_running() {
        for lv in &layers {
            for layer in [None, Some("real"), Some("cow")] {
                let from = dm_name(old, lv, layer);
                if h.state(&from).map_err(|e| anyhow!("{e}"))?.is_some() {
                    h.rename(&from, &dm_name(new, lv, layer)).map_err(|e| anyhow!("{e}"))?;
                }
            }
        }
    }
    vg.vg.name = new.clone();
    ctx.commit(&mut vg)?;
    let _ = std::fs::remove_file(ctx.sd.backup_dir().join(old));
    println!("  Volume group \"{old}\" successfully renamed to \"{new}\"");
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
        let _l = ctx.lock_vg(&name)?;
        let vg = ctx.vg(&name, true)?;
        // Origins and plain LVs; snapshots come with their origin.
        let tops: Vec<String> =
            vg.vg.user_lvs().filter(|l| vg.vg.snapshot_of_cow(&l.name).is_none()).map(|l| l.name.clone()).collect();
        let host = ctx.host()?;
        let mut errors = Vec::new();
        for lv in &tops {
            let r = if on { activate::activate(host, &vg, lv) } else { activate::deactivate(host, &vg, lv) };
            if let Err(e) = r {
                errors.push(e);
            }
        }
        let active = vg
            .vg
            .user_lvs()
            .filter(|l| host.state(&ulvm_lvm::names::dm_name(&name, &l.name, None)).ok().flatten().is_some())
            .count();
        for e in &errors {
            eprintln!("  {e}");
            status = 5;
        }
        if on {
            super::merge::start_pollers(ctx, &vg);
            super::clone::start_pollers(ctx, &vg);
        }
        println!("  {active} logical volume(s) in volume group \"{name}\" now active");
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
