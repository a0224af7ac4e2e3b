//! lvcreate, lvremove, lvextend/lvreduce/lvresize, lvrename, lvchange.

use super::args::Args;
use super::{split_lv, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::activate;
use ulvm_lvm::disk::Vg;
use ulvm_lvm::model::SegmentKind;
use ulvm_lvm::names::{check_lv_name, dm_name};
use ulvm_lvm::ops::common::{pv_keys, PercentOf, SizeSpec};
use ulvm_lvm::ops::{create, resize};
use ulvm_lvm::size::{parse_size, Sign};
use ulvm_lvm::units::size_long;

/// `-L`/`-l` as a number of extents for a VG; `current` for relative sizes.
pub(super) fn wanted_extents(ctx: &mut Ctx, a: &Args, vg: &Vg, current: u64) -> Result<(u64, bool)> {
    let spec = if let Some(l) = a.get("extents") {
        SizeSpec::extents(l)?
    } else if let Some(l) = a.get("size") {
        SizeSpec::size(l)?
    } else {
        return usage(format!(
            "No command with matching syntax recognised.  Run '{}' for more information.",
            "lvcreate --help"
        ));
    };
    // %PVS: of the PVs named on the command line, or all of them.
    let named = match spec {
        SizeSpec::Percent { of: PercentOf::Pvs, .. } => {
            pv_keys(vg, &super::device_args(&a.pos[1.min(a.pos.len())..])?)?
        }
        _ => None,
    };
    Ok(spec.resolve(&mut ctx.s, vg, current, named.as_deref())?)
}

pub(super) fn pow2_size(a: &Args, opt: &str, default_sectors: u64, min: u64, max: u64) -> Result<u64> {
    match a.get(opt) {
        None => Ok(default_sectors),
        Some(v) => {
            let s = parse_size(v, 'k').map_err(|e| super::Usage(e.0))?;
            if s.sign != Sign::None || !s.sectors.is_power_of_two() || s.sectors < min || s.sectors > max {
                return usage(format!(
                    "Invalid argument for --{opt}: {v} (a power of 2 from {} to {})",
                    size_long(min),
                    size_long(max)
                ));
            }
            Ok(s.sectors)
        }
    }
}

pub fn lvcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let snapshot = a.has("snapshot") || a.get("type") == Some("snapshot");
    if let Some(t) = a.get("type") {
        if t == "clone" {
            return super::clone::lvcreate_clone(ctx, a);
        }
        if !matches!(t, "linear" | "striped" | "snapshot") {
            return usage(format!("Segment type {t} is not supported by ulvm (linear, striped, snapshot, clone)."));
        }
    }
    if a.has("source") {
        return usage("--source goes with --type clone.");
    }
    let Some(first) = a.pos.first() else {
        return usage(if snapshot {
            "Please specify a logical volume to act as the snapshot origin."
        } else {
            "Please specify a volume group."
        });
    };
    let (vg_name, origin_name) = if snapshot {
        let (v, l) = split_lv(first)?;
        (v, Some(l))
    } else {
        (first.trim_start_matches("/dev/").trim_end_matches('/').to_string(), None)
    };
    let activate = match a.get("activate") {
        None | Some("y") | Some("ay") => true,
        Some("n") => false,
        Some(v) => return usage(format!("Invalid argument for --activate: {v}")),
    };
    let writable = match a.get("permission") {
        None | Some("rw") => true,
        Some("r") => false,
        Some(v) => return usage(format!("Invalid argument for --permission: {v}")),
    };
    let stripes: usize = match a.get("stripes") {
        None => 1,
        Some(v) => v
            .parse()
            .ok()
            .filter(|&n| (1..=128).contains(&n))
            .ok_or_else(|| super::Usage(format!("Invalid argument for --stripes: {v}")))?,
    };
    let stripe_size = pow2_size(a, "stripesize", 128, 8, 2 * 1024 * 1024)?;
    if stripes > 1 && !a.has("stripesize") {
        println!("  Using default stripesize {}.", size_long(stripe_size));
    }
    let chunk = pow2_size(a, "chunksize", 8, 8, 1024)?;
    let name = match a.get("name") {
        Some(n) => match n.split_once('/') {
            Some((v, l)) if v == vg_name => Some(l.to_string()),
            Some((v, _)) => return usage(format!("Inconsistent volume group names given: \"{v}\" and \"{vg_name}\"")),
            None => Some(n.to_string()),
        },
        None => None,
    };
    let size = if let Some(l) = a.get("extents") {
        SizeSpec::extents(l)?
    } else if let Some(l) = a.get("size") {
        SizeSpec::size(l)?
    } else {
        return usage(format!(
            "No command with matching syntax recognised.  Run '{}' for more information.",
            "lvcreate --help"
        ));
    };
    let c = create::LvCreate {
        vg: vg_name,
        name,
        size,
        snapshot_of: origin_name,
        stripes,
        stripe_size,
        chunk_size: chunk,
        activate,
        writable,
        zero: a.get("zero") != Some("n"),
        pvs: super::device_args(&a.pos[1..])?,
    };
    create::lvcreate(&mut ctx.s, &c)?;
    Ok(0)
}

/// LVs named on the command line: `VG/LV`, or every LV of `VG`.
fn targets(a: &Args) -> Result<Vec<(String, Option<String>)>> {
    if a.pos.is_empty() {
        return usage("Please enter one or more logical volume paths.");
    }
    a.pos
        .iter()
        .map(|p| {
            let p = p.strip_prefix("/dev/").unwrap_or(p);
            Ok(match p.split_once('/') {
                Some((v, l)) if !l.is_empty() => (v.to_string(), Some(l.to_string())),
                _ => (p.trim_end_matches('/').to_string(), None),
            })
        })
        .collect()
}

pub fn lvremove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    for (vg_name, lv_name) in targets(a)? {
        let _l = ctx.lock_vg(&vg_name)?;
        let vg = ctx.vg(&vg_name, false)?;
        let names: Vec<String> = match lv_name {
            Some(n) => {
                if vg.vg.lv(&n).is_none()
                    || n.starts_with("snapshot")
                        && vg.vg.snapshot_of_cow(&n).is_none()
                        && !vg.vg.user_lvs().any(|l| l.name == n)
                {
                    bail!("Failed to find logical volume \"{vg_name}/{n}\"");
                }
                vec![n]
            }
            None => {
                vg.vg.user_lvs().filter(|l| vg.vg.snapshot_of_cow(&l.name).is_none()).map(|l| l.name.clone()).collect()
            }
        };
        for n in names {
            remove_one(ctx, &vg_name, &n)?;
        }
    }
    Ok(0)
}

fn remove_one(ctx: &mut Ctx, vg_name: &str, name: &str) -> Result<()> {
    let mut vg = ctx.vg(vg_name, false)?;
    if vg.vg.lv(name).is_none() {
        return Ok(()); // removed with its origin
    }
    let snap = vg.vg.snapshot_of_cow(name);
    let origin = activate::family_origin(&vg, name);
    let family_snaps = vg.vg.snapshots_of(&origin);
    let is_origin = snap.is_none() && !family_snaps.is_empty();
    if snap.as_ref().is_some_and(|s| s.merging) {
        bail!("Can't remove merging snapshot logical volume {vg_name}/{name}.");
    }
    if family_snaps.iter().any(|s| s.merging) {
        bail!("Can't remove logical volume {vg_name}/{name} while a snapshot merges into {vg_name}/{origin}.");
    }
    let state = match ctx.host_if_running() {
        Some(h) => activate::is_active(h, &vg, name).map_err(|e| anyhow!("{e}"))?,
        None => None,
    };
    if state.as_ref().is_some_and(|s| s.open_count > 0) {
        bail!("Logical volume {vg_name}/{name} contains a filesystem in use.");
    }
    if is_origin && ctx.force == 0 {
        let q = format!("Removing origin {name} will also remove {} snapshots(s). Proceed?", family_snaps.len());
        if !ctx.confirm(&q) {
            bail!("Logical volume {vg_name}/{name} not removed.");
        }
    }
    if state.is_some()
        && ctx.force == 0
        && !is_origin
        && !ctx.confirm(&format!("Do you really want to remove active logical volume {vg_name}/{name}?"))
    {
        bail!("Logical volume {vg_name}/{name} not removed.");
    }
    let before = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
    let family_active = match ctx.host_if_running() {
        Some(h) => activate::is_active(h, &vg, &origin).map_err(|e| anyhow!("{e}"))?.is_some(),
        None => false,
    };
    // Drop from the metadata: the LV, its snapshot segment, or the whole family.
    if vg.vg.clone_of_metadata(name).is_some() {
        bail!("Can't remove internal logical volume {vg_name}/{name}: remove the clone that uses it.");
    }
    let mut gone: Vec<String> = vec![name.to_string()];
    if let Some(c) = vg.vg.lv(name).and_then(|l| l.clone_ref()) {
        gone.push(c.metadata_lv);
    }
    if let Some(s) = &snap {
        gone.push(s.seg_lv.clone());
    }
    if is_origin {
        for s in &family_snaps {
            gone.push(s.cow.clone());
            gone.push(s.seg_lv.clone());
        }
    }
    let mut after_vg = vg.clone();
    after_vg.vg.lvs.retain(|l| !gone.contains(&l.name));
    if family_active {
        let host = ctx.host()?;
        if snap.is_some() {
            let after = activate::plan(&after_vg, &origin).map_err(|e| anyhow!("{e}"))?;
            activate::sync_family(host, &before, &after).map_err(|e| anyhow!("{e}"))?;
        } else {
            activate::deactivate(host, &vg, &origin).map_err(|e| anyhow!("{e}"))?;
        }
    }
    vg.vg.lvs = after_vg.vg.lvs;
    ctx.commit(&mut vg)?;
    let mut shown: Vec<String> = if is_origin { family_snaps.iter().map(|s| s.cow.clone()).collect() } else { vec![] };
    shown.push(name.to_string());
    for g in shown {
        println!("  Logical volume \"{g}\" successfully removed.");
    }
    Ok(())
}

pub fn lvresize(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(first) = a.pos.first() else { return usage("Please specify a logical volume path.") };
    let (vg, lv) = split_lv(first)?;
    let target = if a.has("use-policies") {
        resize::Target::Policy
    } else if let Some(l) = a.get("extents") {
        resize::Target::Size(SizeSpec::extents(l)?)
    } else if let Some(l) = a.get("size") {
        resize::Target::Size(SizeSpec::size(l)?)
    } else {
        return usage(format!(
            "No command with matching syntax recognised.  Run '{}' for more information.",
            "lvcreate --help"
        ));
    };
    let r = resize::Resize {
        vg,
        lv,
        command: match ctx.cmd.as_str() {
            "lvextend" => resize::Command::Extend,
            "lvreduce" => resize::Command::Reduce,
            _ => resize::Command::Resize,
        },
        target,
        stripes: a.get("stripes").and_then(|v| v.parse().ok()),
        pvs: super::device_args(&a.pos[1..])?,
        force: ctx.force > 0,
        resize_fs: a.has("resizefs"),
    };
    resize::resize(&mut ctx.s, &r)?;
    Ok(0)
}

pub fn lvrename(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (vg_name, old, new) = match a.pos.as_slice() {
        [vg, old, new] => (vg.clone(), old.clone(), new.clone()),
        [old, new] => {
            let (v, o) = split_lv(old)?;
            let n = match new.split_once('/') {
                Some((nv, nl)) if nv == v => nl.to_string(),
                Some(_) => return usage("Logical volume names must have the same volume group (\"vg0/a\" \"vg0/b\")."),
                None => new.clone(),
            };
            (v, o, n)
        }
        _ => return usage("Old and new logical volume names required"),
    };
    check_lv_name(&new).map_err(|e| anyhow!("{e}"))?;
    let _l = ctx.lock_vg(&vg_name)?;
    let mut vg = ctx.vg(&vg_name, false)?;
    if vg.vg.lv(&old).is_none() {
        bail!("Existing logical volume \"{old}\" not found in volume group \"{vg_name}\"");
    }
    if vg.vg.lv(&new).is_some() {
        bail!("Logical Volume \"{new}\" already exists in volume group \"{vg_name}\"");
    }
    // Active devices keep their tables (they refer to numbers); only names change.
    if let Some(h) = ctx.host_if_running() {
        for layer in [None, Some("real"), Some("cow")] {
            let from = dm_name(&vg_name, &old, layer);
            if h.state(&from).map_err(|e| anyhow!("{e}"))?.is_some() {
                h.rename(&from, &dm_name(&vg_name, &new, layer)).map_err(|e| anyhow!("{e}"))?;
            }
        }
    }
    for l in &mut vg.vg.lvs {
        if l.name == old {
            l.name = new.clone();
        }
        for s in &mut l.segments {
            if let SegmentKind::Snapshot { origin, cow, .. } = &mut s.kind {
                if *origin == old {
                    *origin = new.clone();
                }
                if *cow == old {
                    *cow = new.clone();
                }
            }
        }
    }
    ctx.commit(&mut vg)?;
    println!("  Renamed \"{old}\" to \"{new}\" in volume group \"{vg_name}\"");
    Ok(0)
}

pub fn lvchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if !a.has("activate") && !a.has("permission") {
        return usage("Need one or more command options (-a|--activate, -p|--permission).");
    }
    for (vg_name, lv_name) in targets(a)? {
        let _l = ctx.lock_vg(&vg_name)?;
        let mut vg = ctx.vg(&vg_name, false)?;
        let names: Vec<String> = match lv_name {
            Some(n) => {
                if !vg.vg.user_lvs().any(|l| l.name == n) {
                    bail!("Failed to find logical volume \"{vg_name}/{n}\"");
                }
                vec![n]
            }
            None => vg.vg.user_lvs().map(|l| l.name.clone()).collect(),
        };
        if let Some(p) = a.get("permission") {
            let writable = match p {
                "rw" => true,
                "r" => false,
                _ => return usage(format!("Invalid argument for --permission: {p}")),
            };
            for n in &names {
                let origin = activate::family_origin(&vg, n);
                let before = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
                let lv = vg.vg.lv_mut(n).expect("checked");
                if lv.is_writable() == writable {
                    println!(
                        "  Logical volume {vg_name}/{n} is already {}.",
                        if writable { "read/write" } else { "read only" }
                    );
                    continue;
                }
                if writable {
                    lv.status.insert(1, "WRITE".into());
                } else {
                    lv.status.retain(|s| s != "WRITE");
                }
                let active = match ctx.host_if_running() {
                    Some(h) => activate::is_active(h, &vg, &origin).map_err(|e| anyhow!("{e}"))?.is_some(),
                    None => false,
                };
                if active {
                    let after = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
                    activate::sync_family(ctx.host()?, &before, &after).map_err(|e| anyhow!("{e}"))?;
                }
                ctx.commit(&mut vg)?;
                println!("  Logical volume {vg_name}/{n} changed.");
            }
        }
        if let Some(act) = a.get("activate") {
            let on = match act {
                "y" | "ay" => true,
                "n" => false,
                _ => return usage(format!("Invalid argument for --activate: {act}")),
            };
            for n in &names {
                if let Some(s) = vg.vg.snapshot_of_cow(n) {
                    let q = format!(
                        "Change of snapshot {vg_name}/{n} will also change its origin {vg_name}/{}. Proceed?",
                        s.origin
                    );
                    if !ctx.confirm(&q) {
                        bail!("Logical volume {vg_name}/{n} not changed.");
                    }
                }
            }
            let host = ctx.host()?;
            for n in &names {
                let r = if on { activate::activate(host, &vg, n) } else { activate::deactivate(host, &vg, n) };
                r.map_err(|e| anyhow!("{e}"))?;
            }
            if on {
                super::merge::start_pollers(ctx, &vg);
            }
        }
    }
    Ok(0)
}
