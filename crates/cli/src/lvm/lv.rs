//! lvcreate, lvremove, lvextend/lvreduce/lvresize, lvrename, lvchange.

use super::args::Args;
use super::{split_lv, usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_blockdev::Sectors;
use ulvm_lvm::activate::{self, DmHost};
use ulvm_lvm::alloc::{self, Area, Request};
use ulvm_lvm::disk::{self, Vg};
use ulvm_lvm::model::{LogicalVolume, Segment, SegmentKind};
use ulvm_lvm::names::{check_lv_name, dm_name};
use ulvm_lvm::pv as lvmpv;
use ulvm_lvm::size::{parse_size, Sign};
use ulvm_lvm::units::size_long;

/// Runs a filesystem tool quietly; whether it succeeded.
fn tool_ok(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
}

/// Runs a filesystem tool; its error output becomes the error.
fn run_tool(cmd: &str, args: &[&str]) -> Result<()> {
    let o = std::process::Command::new(cmd).args(args).output().map_err(|e| anyhow!("{cmd}: {e}"))?;
    if !o.status.success() {
        bail!("{cmd} {} failed: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim());
    }
    Ok(())
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `-L`/`-l` as a number of extents for a VG; `current` for relative sizes.
pub(super) fn wanted_extents(a: &Args, vg: &Vg, current: u64) -> Result<(u64, bool)> {
    let es = vg.vg.extent_size;
    if let Some(l) = a.get("extents") {
        let (sign, body) = match l.as_bytes().first() {
            Some(b'+') => (Sign::Plus, &l[1..]),
            Some(b'-') => (Sign::Minus, &l[1..]),
            _ => (Sign::None, l),
        };
        let n = if let Some((num, what)) = body.split_once('%') {
            let pct: u64 = num.parse().map_err(|_| anyhow!("Invalid argument for --extents: {l}"))?;
            let base = match what {
                "FREE" => alloc::vg_free(&vg.vg),
                "VG" => vg.vg.pvs.iter().map(|p| p.pe_count).sum(),
                "PVS" => {
                    // Of the PVs named on the command line, or all of them.
                    let named = pv_keys(vg, &a.pos[1.min(a.pos.len())..])?;
                    vg.vg
                        .pvs
                        .iter()
                        .filter(|p| named.as_ref().is_none_or(|n| n.contains(&p.key)))
                        .map(|p| p.pe_count)
                        .sum()
                }
                "ORIGIN" => current,
                _ => return usage(format!("Invalid argument for --extents: {l}")),
            };
            (base * pct).div_ceil(100)
        } else {
            body.parse().map_err(|_| super::Usage(format!("Invalid argument for --extents: {l}")))?
        };
        return Ok((apply(sign, current, n)?, false));
    }
    if let Some(l) = a.get("size") {
        let sz = parse_size(l, 'm').map_err(|e| super::Usage(e.0))?;
        let n = sz.sectors.div_ceil(es);
        let rounded = n * es != sz.sectors;
        if rounded && sz.sign == Sign::None {
            println!("  Rounding up size to full physical extent {}.", size_long(n * es));
        }
        return Ok((apply(sz.sign, current, n)?, rounded));
    }
    usage(format!("No command with matching syntax recognised.  Run '{}' for more information.", "lvcreate --help"))
}

fn apply(sign: Sign, current: u64, n: u64) -> Result<u64> {
    Ok(match sign {
        Sign::None => n,
        Sign::Plus => current + n,
        Sign::Minus => {
            current.checked_sub(n).filter(|&v| v > 0).ok_or_else(|| anyhow!("New size would be zero or negative."))?
        }
    })
}

pub(super) fn pv_keys(vg: &Vg, paths: &[String]) -> Result<Option<Vec<String>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for p in super::device_args(paths)? {
        match vg.key_of(&p) {
            Some(k) => keys.push(k),
            None => bail!("Physical Volume \"{}\" not found in Volume Group \"{}\".", p.display(), vg.vg.name),
        }
    }
    Ok(Some(keys))
}

pub(super) fn allocate(
    vg: &Vg,
    lv: &str,
    extents: u64,
    stripes: usize,
    pvs: Option<&[String]>,
    extend: Option<&LogicalVolume>,
) -> Result<Vec<Area>> {
    let free = alloc::vg_free(&vg.vg);
    if free < extents {
        bail!("Volume group \"{}\" has insufficient free space ({free} extents): {extents} required.", vg.vg.name);
    }
    let usable = pvs.map(|p| p.len()).unwrap_or(vg.vg.pvs.len());
    if stripes > usable {
        bail!("Number of stripes ({stripes}) must not exceed number of physical volumes ({usable})");
    }
    alloc::allocate(&vg.vg, &Request { extents, stripes, pvs, extend }).map_err(|e| match e {
        alloc::AllocError::Short { more } => {
            anyhow!("Insufficient suitable allocatable extents for logical volume {lv}: {more} more required")
        }
        e => anyhow!("{e}"),
    })
}

/// Zeroes the first 4 KiB of a new LV (LVM's default `-Z y`); for a COW
/// this is what makes the kernel format a new snapshot store.
pub(super) fn zero_start(vg: &Vg, lv: &LogicalVolume) -> Result<()> {
    let Some(seg) = lv.segments.first() else { return Ok(()) };
    let SegmentKind::Striped { stripes, .. } = &seg.kind else { return Ok(()) };
    let (key, pe) = &stripes[0];
    let pv = vg.vg.pv(key).ok_or_else(|| anyhow!("unknown PV {key}"))?;
    let d = vg.disk(key).ok_or_else(|| anyhow!("PV {key} is missing"))?;
    let at = pv.pe_start + pe * vg.vg.extent_size;
    let n = 8.min(vg.vg.extent_size);
    d.dev.write(Sectors(at), &vec![0u8; n as usize * 512])?;
    d.dev.flush()?;
    Ok(())
}

pub(super) fn next_lv_name(vg: &Vg) -> String {
    vg.vg.next_free_name("lvol")
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
    let _l = ctx.lock_vg(&vg_name)?;
    let mut vg = ctx.vg(&vg_name, false)?;
    let name = match a.get("name") {
        Some(n) => match n.split_once('/') {
            Some((v, l)) if v == vg_name => l.to_string(),
            Some((v, _)) => return usage(format!("Inconsistent volume group names given: \"{v}\" and \"{vg_name}\"")),
            None => n.to_string(),
        },
        None => next_lv_name(&vg),
    };
    check_lv_name(&name).map_err(|e| anyhow!("{e}"))?;
    if vg.vg.lv(&name).is_some() {
        bail!("Logical Volume \"{name}\" already exists in volume group \"{vg_name}\"");
    }
    let origin = match &origin_name {
        Some(o) => {
            let lv = vg.vg.lv(o).ok_or_else(|| anyhow!("Failed to find logical volume \"{vg_name}/{o}\""))?.clone();
            if vg.vg.snapshot_of_cow(o).is_some() {
                bail!("Snapshots of snapshots are not supported.");
            }
            if vg.vg.snapshots_of(o).iter().any(|s| s.merging) {
                bail!("Cannot create snapshot of origin {vg_name}/{o} while a snapshot is merging into it.");
            }
            Some(lv)
        }
        None => None,
    };
    let (mut extents, _) = wanted_extents(a, &vg, origin.as_ref().map(|o| o.extents()).unwrap_or(0))?;
    if extents % stripes as u64 != 0 {
        let up = extents.div_ceil(stripes as u64) * stripes as u64;
        println!(
            "  Rounding size {} ({extents} extents) up to stripe boundary size {} ({up} extents).",
            size_long(extents * vg.vg.extent_size),
            size_long(up * vg.vg.extent_size)
        );
        extents = up;
    }
    let pvs = pv_keys(&vg, &a.pos[1..])?;
    let areas = allocate(&vg, &name, extents, stripes, pvs.as_deref(), None)?;
    let before = match &origin_name {
        Some(o) => activate::plan(&vg, o).map_err(|e| anyhow!("{e}"))?,
        None => Vec::new(),
    };
    // Whether there is something to activate, and the daemon to do it.
    let origin_active = match &origin_name {
        Some(o) => ctx
            .host_if_running()
            .map(|h| activate::is_active(h, &vg, o))
            .transpose()
            .map_err(|e| anyhow!("{e}"))?
            .flatten()
            .is_some(),
        None => false,
    };
    if activate && origin_name.is_none() {
        ctx.host()?;
    }
    let host_name = disk::hostname();
    let mut status = vec!["READ".to_string()];
    if writable {
        status.push("WRITE".into());
    }
    if origin.is_none() {
        status.push("VISIBLE".into());
    }
    let mut lv = LogicalVolume {
        name: name.clone(),
        id: lvmpv::new_uuid()?,
        status,
        flags: vec![],
        creation_time: Some(now()),
        creation_host: Some(host_name.clone()),
        segments: vec![],
        extra: vec![],
    };
    alloc::append_segments(&mut lv, alloc::segments_from(&areas, 0, stripe_size));
    if a.get("zero") != Some("n") || origin.is_some() {
        zero_start(&vg, &lv)?;
    }
    vg.vg.lvs.push(lv);
    let saved = vg.clone();
    if origin.is_some() {
        // As LVM: the COW LV is committed on its own first, then turned
        // into a snapshot (two metadata versions, two archive copies).
        ctx.commit(&mut vg)?;
    }
    if let Some(o) = &origin {
        let seg_lv = vg.vg.next_snapshot_name();
        vg.vg.lvs.push(LogicalVolume {
            name: seg_lv,
            id: lvmpv::new_uuid()?,
            status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
            flags: vec![],
            creation_time: Some(now()),
            creation_host: Some(host_name),
            segments: vec![Segment {
                start_extent: 0,
                extent_count: o.extents(),
                kind: SegmentKind::Snapshot {
                    chunk_size: chunk,
                    origin: o.name.clone(),
                    cow: name.clone(),
                    merging: false,
                },
                extra: vec![],
            }],
            extra: vec![],
        });
    }
    ctx.commit(&mut vg)?;
    let result = if let Some(o) = &origin_name {
        if origin_active {
            let after = activate::plan(&vg, o).map_err(|e| anyhow!("{e}"))?;
            activate::sync_family(ctx.host()?, &before, &after)
        } else {
            Ok(())
        }
    } else if activate {
        activate::activate(ctx.host()?, &vg, &name)
    } else {
        Ok(())
    };
    if let Err(e) = result {
        // Leave the VG as it was: the new LV goes again.
        let mut undo = vg.clone();
        undo.vg.lvs = saved.vg.lvs.iter().filter(|l| l.name != name && !matches!(l.segments.first().map(|s| &s.kind), Some(SegmentKind::Snapshot { cow, .. }) if cow == &name)).cloned().collect();
        ctx.commit(&mut undo)?;
        bail!("Failed to activate new LV {vg_name}/{name}: {e}");
    }
    println!("  Logical volume \"{name}\" created.");
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
    let (vg_name, name) = split_lv(first)?;
    let _l = ctx.lock_vg(&vg_name)?;
    let mut vg = ctx.vg(&vg_name, false)?;
    let lv = vg
        .vg
        .lv(&name)
        .filter(|_| vg.vg.user_lvs().any(|l| l.name == name))
        .ok_or_else(|| anyhow!("Failed to find logical volume \"{vg_name}/{name}\""))?
        .clone();
    let cur = lv.extents();
    let want = if a.has("use-policies") {
        // dmeventd's way: grow a snapshot past the configured threshold by
        // the configured percentage; below it, nothing to do.
        let Some(s) = vg.vg.snapshot_of_cow(&name) else {
            bail!("--use-policies works on snapshots; {vg_name}/{name} is not one.");
        };
        let cfg = ctx.sd.config().map_err(|e| anyhow!("{e}"))?;
        if cfg.snapshot_autoextend_threshold >= 100 || cfg.snapshot_autoextend_percent == 0 {
            return Ok(0);
        }
        let st = ctx.host()?.status(&dm_name(&vg_name, &name, None)).map_err(|e| anyhow!("{e}"))?;
        let used = st.snapshot().and_then(ulvm_lvm::percent::snapshot);
        match used {
            Some(p) if p >= cfg.snapshot_autoextend_threshold as f64 => {}
            Some(_) => return Ok(0),
            None => {
                bail!("Snapshot {vg_name}/{name} ({} of {vg_name}/{}) has no usage to act on: {st}", name, s.origin)
            }
        }
        cur + (cur * cfg.snapshot_autoextend_percent).div_ceil(100).max(1)
    } else {
        wanted_extents(a, &vg, cur)?.0
    };
    let es = vg.vg.extent_size;
    let cmd = ctx.cmd.clone();
    if want == cur {
        bail!("New size ({want} extents) matches existing size ({cur} extents).");
    }
    if cmd == "lvextend" && want < cur {
        bail!("New size given ({want} extents) not larger than existing size ({cur} extents)");
    }
    if cmd == "lvreduce" && want > cur {
        bail!("New size given ({want} extents) not less than existing size ({cur} extents)");
    }
    // -r: the ext2/3/4 filesystem on /dev/VG/LV follows (as LVM's fsadm):
    // shrunk before the LV shrinks, grown after it grows.
    let fs_dev = format!("/dev/{vg_name}/{name}");
    if a.has("resizefs") {
        if !std::path::Path::new(&fs_dev).exists() {
            bail!("-r needs {fs_dev}: activate the LV with the daemon running --fuse-dir and --attach-loop.");
        }
        if !tool_ok("dumpe2fs", &["-h", &fs_dev]) {
            bail!("-r resizes ext2/3/4 filesystems only; {fs_dev} holds none.");
        }
    }
    if !vg.vg.snapshots_of(&name).is_empty() {
        bail!("Resizing an origin with snapshots is not supported by ulvm yet ({vg_name}/{name}).");
    }
    let origin = activate::family_origin(&vg, &name);
    let before = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
    let active = match ctx.host_if_running() {
        Some(h) => activate::is_active(h, &vg, &origin).map_err(|e| anyhow!("{e}"))?,
        None => None,
    };
    if want < cur {
        eprintln!(
            "  WARNING: Reducing {}logical volume to {}.",
            if active.is_some() { "active " } else { "" },
            size_long(want * es)
        );
        eprintln!("  THIS MAY DESTROY YOUR DATA (filesystem etc.)");
        if ctx.force == 0 && !ctx.confirm(&format!("Do you really want to reduce {vg_name}/{name}?")) {
            bail!("Logical volume {vg_name}/{name} NOT reduced.");
        }
    }
    if a.has("resizefs") && want < cur {
        let kib = want * es / 2;
        if !tool_ok("e2fsck", &["-f", "-p", &fs_dev]) {
            bail!("e2fsck of {fs_dev} failed; not reducing (is it mounted?).");
        }
        run_tool("resize2fs", &[&fs_dev, &format!("{kib}K")])?;
    }
    let mut new_lv = lv.clone();
    if want > cur {
        let stripes = match lv.segments.last().map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, .. }) => stripes.len(),
            _ => 1,
        };
        let stripes = a.get("stripes").and_then(|v| v.parse().ok()).unwrap_or(stripes);
        let stripe_size = match lv.segments.last().map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripe_size: Some(ss), .. }) => *ss,
            _ => 128,
        };
        let add = (want - cur).div_ceil(stripes as u64) * stripes as u64;
        let pvs = pv_keys(&vg, &a.pos[1..])?;
        let areas = allocate(&vg, &name, add, stripes, pvs.as_deref(), Some(&lv))?;
        alloc::append_segments(&mut new_lv, alloc::segments_from(&areas, cur, stripe_size));
    } else {
        let mut left = want;
        let mut segs = Vec::new();
        for mut s in lv.segments.clone() {
            if left == 0 {
                break;
            }
            if s.extent_count > left {
                let n = match &s.kind {
                    SegmentKind::Striped { stripes, .. } => stripes.len() as u64,
                    _ => 1,
                };
                if left % n != 0 {
                    bail!("Cannot reduce a {n}-stripe segment to {left} extents (not a multiple of {n}).");
                }
                s.extent_count = left;
            }
            left -= s.extent_count;
            segs.push(s);
        }
        new_lv.segments = segs;
    }
    let new_size = new_lv.extents();
    *vg.vg.lv_mut(&name).expect("LV exists") = new_lv;
    if active.is_some() {
        let after = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
        activate::sync_family(ctx.host()?, &before, &after).map_err(|e| anyhow!("{e}"))?;
    }
    ctx.commit(&mut vg)?;
    println!(
        "  Size of logical volume {vg_name}/{name} changed from {} ({cur} extents) to {} ({new_size} extents).",
        size_long(cur * es),
        size_long(new_size * es)
    );
    println!("  Logical volume {vg_name}/{name} successfully resized.");
    if a.has("resizefs") && new_size > cur {
        run_tool("resize2fs", &[&fs_dev])?;
    }
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
                super::clone::start_pollers(ctx, &vg);
            }
        }
    }
    Ok(0)
}
