//! `lvcreate --type clone --source SOURCE [-L SIZE] -n NAME VG`: an LV that
//! is usable at once and fills itself from SOURCE in the background
//! (dm-clone). SOURCE is a file or block device, another LV (`VG/LV`,
//! active), or an NBD export (`nbd://HOST[:PORT]/EXPORT`,
//! `nbd+unix:///EXPORT?socket=PATH`). The LV's own extents are the
//! destination; a hidden `NAME_clonemeta` LV holds the clone's metadata.
//! When every region is hydrated a poller turns it into a plain LV and
//! frees the metadata LV.

use super::args::Args;
use super::lv::{allocate, next_lv_name, now, pow2_size, pv_keys, wanted_extents, zero_start};
use super::{usage, Ctx};
use anyhow::{anyhow, bail, Result};
use std::time::Duration;
use ulvm_lvm::activate::{self, DmHost};
use ulvm_lvm::alloc;
use ulvm_lvm::disk::{self, Vg};
use ulvm_lvm::model::{CloneRef, LogicalVolume};
use ulvm_lvm::names::{check_lv_name, dm_name};
use ulvm_lvm::pv as lvmpv;
use ulvm_lvm::units::size_long;
use ulvm_lvm::LvmError;

/// Default region size: 64 KiB (with the table's threshold 64 and batch
/// 16: 1 MiB copies, four in flight; see docs/clone.md).
const DEFAULT_REGION: u64 = 128;

/// The table's name for the source and its size in sectors.
fn resolve_source(ctx: &mut Ctx, source: &str) -> Result<(String, u64)> {
    if ulvm_dm::is_remote(source) {
        let uri = ulvm_nbd::NbdUri::parse(source).map_err(|e| anyhow!("{e}"))?;
        let c = uri.connect().map_err(|e| anyhow!("Cannot reach the clone source {source}: {e}"))?;
        let size = ulvm_blockdev::BlockDevice::size(&c).0;
        return Ok((source.to_string(), size));
    }
    if let Some((vg, lv)) = source.split_once('/').filter(|_| !source.starts_with('/')) {
        let v = ctx.vg(vg, true)?;
        let l = v.vg.lv(lv).ok_or_else(|| anyhow!("Failed to find logical volume \"{vg}/{lv}\""))?.clone();
        let name = dm_name(vg, lv, None);
        if ctx.host()?.state(&name).map_err(|e| anyhow!("{e}"))?.is_none() {
            bail!("The clone source {vg}/{lv} must be active.");
        }
        return Ok((format!("/dev/mapper/{name}"), l.extents() * v.vg.extent_size));
    }
    let path = std::fs::canonicalize(source).map_err(|_| anyhow!("No device found for {source}."))?;
    let d = ulvm_blockdev::FileDevice::open(&path, true).map_err(|e| anyhow!("Cannot use {source}: {e}"))?;
    Ok((path.display().to_string(), ulvm_blockdev::BlockDevice::size(&d).0))
}

pub fn lvcreate_clone(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(source) = a.get("source") else {
        return usage("--type clone needs --source SOURCE (a file, a device, an active LV as VG/LV, or an NBD URI).");
    };
    let Some(vg_name) = a.pos.first().map(|v| v.trim_start_matches("/dev/").trim_end_matches('/').to_string()) else {
        return usage("Please specify a volume group.");
    };
    let region = pow2_size(a, "regionsize", DEFAULT_REGION, 8, 2_097_152)?;
    let (src, src_sectors) = resolve_source(ctx, source)?;
    ctx.host()?;
    let _l = ctx.lock_vg(&vg_name)?;
    let mut vg = ctx.vg(&vg_name, false)?;
    let name = match a.get("name") {
        Some(n) => n.to_string(),
        None => next_lv_name(&vg),
    };
    check_lv_name(&name).map_err(|e| anyhow!("{e}"))?;
    let meta_name = format!("{name}_clonemeta");
    for n in [&name, &meta_name] {
        if vg.vg.lv(n).is_some() {
            bail!("Logical Volume \"{n}\" already exists in volume group \"{vg_name}\"");
        }
    }
    let es = vg.vg.extent_size;
    let extents = if a.has("size") || a.has("extents") {
        wanted_extents(a, &vg, 0)?.0
    } else {
        let n = src_sectors / es;
        if n * es != src_sectors {
            println!(
                "  Rounding down size to the source's whole extents {}: its last {} are not cloned.",
                size_long(n * es),
                size_long(src_sectors - n * es)
            );
        }
        n
    };
    if extents == 0 || extents * es > src_sectors {
        bail!(
            "The clone source {source} ({}) is smaller than the LV ({}).",
            size_long(src_sectors),
            size_long(extents * es)
        );
    }
    let regions = (extents * es).div_ceil(region);
    let meta_blocks = ulvm_dm::clone::metadata::Metadata::blocks_needed(regions, 16_320);
    let meta_extents = (meta_blocks * 8).div_ceil(es).max(1);
    let pvs = pv_keys(&vg, &a.pos[1..])?;
    let dest_areas = allocate(&vg, &name, extents, 1, pvs.as_deref(), None)?;
    let host_name = disk::hostname();
    let lv = |n: &str, visible: bool| LogicalVolume {
        name: n.to_string(),
        id: lvmpv::new_uuid().expect("random UUID"),
        status: if visible {
            vec!["READ".into(), "WRITE".into(), "VISIBLE".into()]
        } else {
            vec!["READ".into(), "WRITE".into()]
        },
        // Real LVM leaves a half-hydrated clone alone (lvchange -ay -K would
        // show the destination as it is, source regions not yet copied).
        flags: if visible { vec!["ACTIVATION_SKIP".into()] } else { vec![] },
        creation_time: Some(now()),
        creation_host: Some(host_name.clone()),
        segments: vec![],
        extra: vec![],
    };
    let mut dest = lv(&name, true);
    alloc::append_segments(&mut dest, alloc::segments_from(&dest_areas, 0, 128));
    dest.set_clone(&CloneRef { source: src.clone(), metadata_lv: meta_name.clone(), region_size: region });
    vg.vg.lvs.push(dest);
    let meta_areas = allocate(&vg, &meta_name, meta_extents, 1, pvs.as_deref(), None)?;
    let mut meta = lv(&meta_name, false);
    alloc::append_segments(&mut meta, alloc::segments_from(&meta_areas, 0, 128));
    zero_start(&vg, &meta)?;
    vg.vg.lvs.push(meta);
    ctx.commit(&mut vg)?;
    if let Err(e) = activate::activate(ctx.host()?, &vg, &name) {
        let mut undo = vg.clone();
        undo.vg.remove_lv(&name);
        undo.vg.remove_lv(&meta_name);
        let rollback = disk::commit(&ctx.sd, &mut undo, &ctx.cmdline).map_err(LvmError::from);
        let cause = LvmError::Refused(format!("Failed to activate new LV {vg_name}/{name}: {e}"));
        return Err(LvmError::with_rollback(cause, rollback).into());
    }
    super::merge::spawn_poller(ctx, &vg_name, &name, 1.0);
    println!("  Logical volume \"{name}\" created.");
    Ok(0)
}

/// Hydrated and total regions of an active clone LV (`None` if inactive
/// or not a clone table).
pub fn progress(ctx: &mut Ctx, vg: &str, lv: &str) -> Result<Option<(u64, u64)>> {
    let Some(h) = ctx.host_if_running() else { return Ok(None) };
    let top = dm_name(vg, lv, None);
    if h.state(&top).map_err(|e| anyhow!("{e}"))?.is_none() {
        return Ok(None);
    }
    Ok(h.status(&top).map_err(|e| anyhow!("{e}"))?.clone_status().and_then(|c| c.progress()))
}

/// Turns a fully hydrated clone into a plain LV: the metadata LV goes,
/// the table becomes the LV's own extents. `Ok(false)` if not done yet.
fn finish(ctx: &mut Ctx, vg_name: &str, name: &str) -> Result<bool> {
    let _l = ctx.lock_vg(vg_name)?;
    let mut vg: Vg = ctx.vg(vg_name, false)?;
    let Some(c) = vg.vg.lv(name).and_then(|l| l.clone_ref()) else { return Ok(true) };
    match progress(ctx, vg_name, name)? {
        Some((h, t)) if h == t => {}
        _ => return Ok(false),
    }
    let before = activate::plan(&vg, name).map_err(|e| anyhow!("{e}"))?;
    let lv = vg.vg.lv_mut(name).expect("the clone LV");
    lv.clear_clone();
    lv.flags.retain(|f| f != "ACTIVATION_SKIP");
    vg.vg.lvs.retain(|l| l.name != c.metadata_lv);
    let after = activate::plan(&vg, name).map_err(|e| anyhow!("{e}"))?;
    activate::sync_family(ctx.host()?, &before, &after).map_err(|e| anyhow!("{e}"))?;
    ctx.commit(&mut vg)?;
    Ok(true)
}

/// Polls a clone until it is hydrated, then finishes it. `verbose` prints
/// `VG/LV: Copied: NN.NN%` every `interval`.
pub fn poll(ctx: &mut Ctx, vg: &str, name: &str, interval: f64, verbose: bool) -> Result<i32> {
    loop {
        match progress(ctx, vg, name)? {
            None => {
                if verbose {
                    bail!("{vg}/{name} is not an active clone.");
                }
                return Ok(0);
            }
            Some((h, t)) => {
                if verbose {
                    println!("  {vg}/{name}: Copied: {:.2}%", h as f64 * 100.0 / t.max(1) as f64);
                }
                if h == t && finish(ctx, vg, name)? {
                    if verbose {
                        println!("  Logical volume {vg}/{name} is fully copied; its clone metadata is freed.");
                    }
                    return Ok(0);
                }
            }
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}

/// Starts a poller for every active clone of `vg` (after activation).
pub fn start_pollers(ctx: &mut Ctx, vg: &Vg) {
    let clones: Vec<String> = vg.vg.lvs.iter().filter(|l| l.clone_ref().is_some()).map(|l| l.name.clone()).collect();
    for c in clones {
        if progress(ctx, &vg.vg.name, &c).ok().flatten().is_some() {
            super::merge::spawn_poller(ctx, &vg.vg.name, &c, 1.0);
        }
    }
}
