//! pvcreate, pvremove, pvchange.

use super::args::Args;
use super::{device_args, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::disk;
use ulvm_lvm::pv as lvmpv;

pub fn pvcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please enter a physical volume path.");
    }
    let paths = device_args(&a.pos)?;
    let _g = ctx.lock_global()?;
    // Check every device before writing any.
    let (_, vgs) = ctx.scan(true)?;
    for p in &paths {
        let in_vg = vgs
            .values()
            .find(|v| v.disks.values().any(|d| &d.path == p))
            .map(|v| v.vg.name.clone())
            .or_else(|| disk::read_pv(p, true).ok().flatten().and_then(|d| d.vg.map(|(v, _)| v.name)));
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
    for name in vgs.keys() {
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
    Ok(0)
}
