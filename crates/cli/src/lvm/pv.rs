//! pvcreate, pvremove, pvchange, pvresize: the command lines of
//! `ulvm_lvm::ops::pv`.

use super::args::Args;
use super::{device_args, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::ops::pv;

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
    let uuid = match a.get("uuid") {
        Some(u) => Some(u.parse().map_err(|e: ulvm_lvm::FormatError| anyhow!("{e}"))?),
        None => None,
    };
    pv::pvcreate(&mut ctx.s, &paths, uuid)?;
    Ok(0)
}

pub fn pvremove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please enter a physical volume path.");
    }
    pv::pvremove(&mut ctx.s, &device_args(&a.pos)?)?;
    Ok(0)
}

pub fn pvchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let tags = super::tag_edit(a)?;
    if !tags.is_empty() && a.get("allocatable").is_none() {
        if a.has("all") {
            // Every PV in a VG, in LVM's order of VGs.
            let (s, vgs) = ctx.scan(true)?;
            let paths: Vec<std::path::PathBuf> = ulvm_lvm::ops::scan::order(&s, &vgs)
                .iter()
                .flat_map(|n| vgs[n].vg.pvs.iter().filter_map(|p| vgs[n].disks.get(&p.key)).map(|d| d.path.clone()))
                .collect();
            return Ok(ulvm_lvm::ops::tags::pvchange_tags(&mut ctx.s, &paths, &tags)?);
        }
        if a.pos.is_empty() {
            return usage("Please give a physical volume path.");
        }
        // `@tag` names the PVs carrying it.
        let mut paths = Vec::new();
        for p in &a.pos {
            match ulvm_lvm::ops::tags::tag_arg(p) {
                Some(t) => {
                    let (_, vgs) = ctx.scan(true)?;
                    paths.extend(vgs.values().flat_map(|v| {
                        v.vg.pvs
                            .iter()
                            .filter(|x| x.tags.iter().any(|y| y == t))
                            .filter_map(|x| v.disks.get(&x.key))
                            .map(|d| d.path.clone())
                    }));
                }
                None => paths.extend(device_args(std::slice::from_ref(p))?),
            }
        }
        return Ok(ulvm_lvm::ops::tags::pvchange_tags(&mut ctx.s, &paths, &tags)?);
    }
    let Some(x) = a.get("allocatable") else {
        return usage("Please give one of -x|--allocatable.");
    };
    let allocatable = match x {
        "y" | "yes" => true,
        "n" | "no" => false,
        _ => return usage(format!("Invalid argument for --allocatable: {x}")),
    };
    let paths = if a.get("select").is_some() {
        Some(super::reports::selected_pvs(ctx, a)?)
    } else if a.pos.is_empty() && !a.has("all") {
        return usage("Please give a physical volume path or use -a for all.");
    } else if a.has("all") {
        None
    } else {
        Some(device_args(&a.pos)?)
    };
    Ok(pv::pvchange_allocatable(&mut ctx.s, paths.as_deref(), allocatable)?)
}

pub fn pvresize(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please supply physical volume(s)");
    }
    pv::pvresize(&mut ctx.s, &device_args(&a.pos)?, a.get("setphysicalvolumesize"))?;
    Ok(0)
}
