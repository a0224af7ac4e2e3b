//! `lvcreate --type clone --source SOURCE [-L SIZE] -n NAME VG`: an LV that
//! is usable at once and fills itself from SOURCE in the background
//! (dm-clone). SOURCE is a file or block device, another LV (`VG/LV`,
//! active), or an NBD export (`nbd://HOST[:PORT]/EXPORT`,
//! `nbd+unix:///EXPORT?socket=PATH`). The LV's own extents are the
//! destination; a hidden `NAME_clonemeta` LV holds the clone's metadata.
//! When every region is hydrated a poller turns it into a plain LV and
//! frees the metadata LV.

use super::args::Args;
use super::lv::{pow2_size, wanted_extents};
use super::{usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_lvm::activate;
use ulvm_lvm::alloc;
use ulvm_lvm::disk;
use ulvm_lvm::model::{CloneRef, LogicalVolume};
use ulvm_lvm::names::{check_lv_name, dm_name};
use ulvm_lvm::ops::common::{allocate, next_lv_name, pv_keys, zero_start};
use ulvm_lvm::ops::now;
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
        wanted_extents(ctx, a, &vg, 0)?.0
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
    let pvs = pv_keys(&vg, &super::device_args(&a.pos[1..])?)?;
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
    super::merge::spawn_poller(ctx, &vg_name, &name);
    println!("  Logical volume \"{name}\" created.");
    Ok(0)
}
