//! pvcreate, pvremove, pvchange.

use super::args::Args;
use super::{device_args, shared_refusal, usage, vg_of_device, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::disk;
use ulvm_lvm::pv as lvmpv;

pub fn pvcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please enter a physical volume path.");
    }
    let paths = device_args(&a.pos)?;
    if let Some(f) = a.get("restorefile") {
        // pvcreate --uuid ID --restorefile BACKUP: the ID must be a PV there.
        let Some(id) = a.get("uuid") else { return usage("--restorefile needs --uuid.") };
        let text = std::fs::read_to_string(f).map_err(|e| anyhow!("Couldn't read {f}: {e}"))?;
        let vg = ulvm_lvm::model::VolumeGroup::from_tree(
            &ulvm_lvm::text::Tree::parse(&text).map_err(|e| anyhow!("{f}: {e}"))?,
        )
        .map_err(|e| anyhow!("{f}: {e}"))?;
        let want: ulvm_lvm::model::Uuid = id.parse().map_err(|e: ulvm_lvm::FormatError| anyhow!("{e}"))?;
        if !vg.pvs.iter().any(|p| p.id == want) {
            bail!("Can't find uuid {id} in backup file {f}");
        }
    }
    let _g = ctx.lock_global()?;
    // Check every device before writing any.
    let (_, vgs) = ctx.scan(true)?;
    for p in &paths {
        let in_vg = vgs
            .values()
            .find(|v| v.disks.values().any(|d| &d.path == p))
            .map(|v| v.vg.name.clone())
            .or_else(|| disk::read_pv(p, true).ok().flatten().and_then(|d| d.vg.map(|m| m.0.name.clone())));
        if let Some(vg) = in_vg {
            bail!("Can't initialize physical volume \"{}\" of volume group \"{vg}\" without -ff", p.display());
        }
        let dev = disk::open_device(p, false).map_err(|e| anyhow!("Cannot use {}: {e}", p.display()))?;
        if dev.size().0 < 2 * 2048 * 2 {
            bail!("Cannot use {}: device is too small (pv_min_size is 2.00 MiB).", p.display());
        }
    }
    let mut remembered = Vec::new();
    for p in &paths {
        let dev = disk::open_device(p, false)?;
        let uuid = match a.get("uuid") {
            Some(u) => u.parse().map_err(|e: ulvm_lvm::FormatError| anyhow!("{e}"))?,
            None => lvmpv::new_uuid()?,
        };
        lvmpv::format_pv(dev.as_ref(), uuid)?;
        remembered.push((p.clone(), Some(String::from_utf8_lossy(&uuid.0).into_owned())));
        println!("  Physical volume \"{}\" successfully created.", p.display());
    }
    ctx.remember_devices(&remembered)?;
    Ok(0)
}

pub fn pvremove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please enter a physical volume path.");
    }
    let paths = device_args(&a.pos)?;
    let _g = ctx.lock_global()?;
    let (scan, vgs) = ctx.scan(true)?;
    for p in &paths {
        if let Some(vg) = vgs.values().find(|v| v.disks.values().any(|d| &d.path == p)) {
            bail!(
                "PV {} is used by VG {} so please use vgreduce first.\n(If you are certain you need pvremove, then confirm by using --force twice.)",
                p.display(),
                vg.vg.name
            );
        }
        if !scan.pvs.iter().any(|d| &d.path == p) && disk::read_pv(p, true).ok().flatten().is_none() {
            bail!("No PV found on device {}.", p.display());
        }
    }
    for p in &paths {
        let Some(d) = disk::read_pv(p, false)? else { continue };
        lvmpv::wipe_label(d.dev.as_ref(), &d.label)?;
        ctx.forget_device(p)?;
        println!("  Labels on physical volume \"{}\" successfully wiped.", p.display());
    }
    Ok(0)
}

pub fn pvchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(x) = a.get("allocatable") else {
        return usage("Please give one of -x|--allocatable.");
    };
    let allocatable = match x {
        "y" | "yes" => true,
        "n" | "no" => false,
        _ => return usage(format!("Invalid argument for --allocatable: {x}")),
    };
    if a.pos.is_empty() && !a.has("all") {
        return usage("Please give a physical volume path or use -a for all.");
    }
    let paths = if a.has("all") { Vec::new() } else { device_args(&a.pos)? };
    let (_, vgs) = ctx.scan(true)?;
    let mut changed = 0;
    let mut status = 0;
    for p in &paths {
        if let Some(v) = vg_of_device(&vgs, p).filter(|v| shared_refusal(v).is_some()) {
            eprintln!("  Cannot use PV {} in shared VG {}.", p.display(), v.vg.name);
            status = 5;
        }
    }
    for name in vgs.keys() {
        if shared_refusal(&vgs[name]).is_some() {
            continue;
        }
        let _l = ctx.lock_vg(name)?;
        let mut vg = ctx.vg(name, false)?;
        let mut touched = Vec::new();
        let keys: Vec<String> =
            vg.disks.iter().filter(|(_, d)| a.has("all") || paths.contains(&d.path)).map(|(k, _)| k.clone()).collect();
        for k in keys {
            let path = vg.pv_path(&k);
            let pv = vg.vg.pvs.iter_mut().find(|p| p.key == k).expect("key from the VG");
            let has = pv.status.iter().any(|s| s == "ALLOCATABLE");
            if has == allocatable {
                println!("  Physical volume \"{path}\" is already {}allocatable.", if allocatable { "" } else { "un" });
                continue;
            }
            if allocatable {
                pv.status.insert(0, "ALLOCATABLE".into());
            } else {
                pv.status.retain(|s| s != "ALLOCATABLE");
            }
            touched.push(path);
        }
        if !touched.is_empty() {
            ctx.commit(&mut vg)?;
            for p in touched {
                println!("  Physical volume \"{p}\" changed");
                changed += 1;
            }
        }
    }
    for p in &paths {
        if !vgs.values().any(|v| v.disks.values().any(|d| &d.path == p)) {
            bail!("Physical volume {} is not in a volume group (pvchange -x needs one).", p.display());
        }
    }
    println!(
        "  {changed} physical volume{} changed / 0 physical volumes not changed",
        if changed == 1 { "" } else { "s" }
    );
    Ok(status)
}

pub fn pvresize(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please supply physical volume(s)");
    }
    let paths = device_args(&a.pos)?;
    let set = match a.get("setphysicalvolumesize") {
        Some(s) => Some(ulvm_lvm::size::parse_size(s, 'm').map_err(|e| super::Usage(e.0))?.sectors),
        None => None,
    };
    let _g = ctx.lock_global()?;
    let (_, vgs) = ctx.scan(true)?;
    let mut done = 0;
    for p in &paths {
        let dev = disk::open_device(p, false)?;
        let dev_sectors = dev.size().0;
        let sectors = set.unwrap_or(dev_sectors);
        if sectors > dev_sectors {
            bail!("{}: requested size {} exceeds the device size {}.", p.display(), sectors, dev_sectors);
        }
        let Some(mut d) = disk::read_pv(p, false)? else {
            bail!("Failed to find physical volume \"{}\".", p.display())
        };
        if let Some(vgname) = vgs.values().find(|v| v.disks.values().any(|x| &x.path == p)).map(|v| v.vg.name.clone()) {
            let _l = ctx.lock_vg(&vgname)?;
            let mut vg = ctx.vg(&vgname, false)?;
            let key = vg.key_of(p).expect("PV of this VG");
            let es = vg.vg.extent_size;
            let used_end = ulvm_lvm::alloc::pv_segments(&vg.vg)[&key]
                .iter()
                .filter(|s| s.used_by.is_some())
                .map(|s| s.pe + s.len)
                .max()
                .unwrap_or(0);
            let entry = vg.vg.pvs.iter_mut().find(|x| x.key == key).expect("key");
            let count = sectors.saturating_sub(entry.pe_start) / es;
            if count < used_end {
                bail!("{}: cannot resize to {count} extents as later ones are allocated.", p.display());
            }
            entry.pe_count = count;
            entry.dev_size = Some(sectors);
            let disk = vg.disks.get_mut(&key).expect("disk");
            disk.label.device_size = sectors * 512;
            lvmpv::set_in_use(disk.dev.as_ref(), &mut disk.label, true)?;
            ctx.commit(&mut vg)?;
        } else {
            d.label.device_size = sectors * 512;
            let used = d.label.in_use();
            lvmpv::set_in_use(d.dev.as_ref(), &mut d.label, used)?;
        }
        println!("  Physical volume \"{}\" changed", p.display());
        done += 1;
    }
    println!("  {done} physical volume(s) resized or updated / 0 physical volume(s) not resized");
    Ok(0)
}
