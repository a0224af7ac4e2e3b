//! `lvcreate --type clone --source SOURCE [-L SIZE] -n NAME VG`: an LV that
//! is usable at once and fills itself from SOURCE in the background
//! (dm-clone). SOURCE is a file or block device, another LV (`VG/LV`,
//! active), or an NBD export (`nbd://HOST[:PORT]/EXPORT`,
//! `nbd+unix:///EXPORT?socket=PATH`). The LV's own extents are the
//! destination; a hidden `NAME_clonemeta` LV holds the clone's metadata.
//! When every region is hydrated a poller turns it into a plain LV and
//! frees the metadata LV. This module resolves the source (an NBD URI, an
//! LV, a file) and sizes the metadata, which need device-mapper; the rest
//! is `ulvm_lvm::ops::clone`.

use super::args::Args;
use super::lv::{pow2_size, size_arg};
use super::{usage, Ctx};
use anyhow::{anyhow, bail, Result};
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_lvm::names::dm_name;
use ulvm_lvm::ops::clone;

/// The table's name for the source and its size.
fn resolve_source(ctx: &mut Ctx, source: &str) -> Result<(String, Sectors)> {
    if ulvm_dm::is_remote(source) {
        let uri = ulvm_nbd::NbdUri::parse(source).map_err(|e| anyhow!("{e}"))?;
        let c = uri.connect().map_err(|e| anyhow!("Cannot reach the clone source {source}: {e}"))?;
        let size = BlockDevice::size(&c);
        return Ok((source.to_string(), size));
    }
    if let Some((vg, lv)) = source.split_once('/').filter(|_| !source.starts_with('/')) {
        let v = ctx.vg(vg, true)?;
        let l = v.vg.lv(lv).ok_or_else(|| anyhow!("Failed to find logical volume \"{vg}/{lv}\""))?.clone();
        let name = dm_name(vg, lv, None);
        if ctx.host()?.state(&name).map_err(|e| anyhow!("{e}"))?.is_none() {
            bail!("The clone source {vg}/{lv} must be active.");
        }
        return Ok((format!("/dev/mapper/{name}"), v.vg.extent_size.to_sectors(l.extents())));
    }
    let path = std::fs::canonicalize(source).map_err(|_| anyhow!("No device found for {source}."))?;
    let d = ulvm_blockdev::FileDevice::open(&path, true).map_err(|e| anyhow!("Cannot use {source}: {e}"))?;
    Ok((path.display().to_string(), BlockDevice::size(&d)))
}

pub fn lvcreate_clone(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(source) = a.get("source") else {
        return usage("--type clone needs --source SOURCE (a file, a device, an active LV as VG/LV, or an NBD URI).");
    };
    let Some(vg_name) = a.pos.first().map(|v| v.trim_start_matches("/dev/").trim_end_matches('/').to_string()) else {
        return usage("Please specify a volume group.");
    };
    let region = pow2_size(a, "regionsize", clone::DEFAULT_REGION_SIZE, Sectors(8), Sectors(2_097_152))?;
    let (src, source_size) = resolve_source(ctx, source)?;
    let size = size_arg(a)?;
    let c = clone::CloneCreate {
        vg: vg_name.clone(),
        name: a.get("name").map(String::from),
        source_arg: source.to_string(),
        source: src,
        source_size,
        size,
        region_size: region,
        pvs: super::device_args(&a.pos[1..])?,
        tags: super::tag_edit(a)?.add,
    };
    let name = clone::lvcreate_clone(&mut ctx.s, &c, &|regions| {
        ulvm_dm::clone::metadata::Metadata::blocks_needed(regions, ulvm_dm::clone::format::ENTRIES_PER_BITMAP)
    })?;
    super::merge::spawn_poller(ctx, &vg_name, &name);
    Ok(0)
}
