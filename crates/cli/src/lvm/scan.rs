//! pvscan, vgscan, lvscan: the command lines of `ulvm_lvm::ops::scan`.

use super::args::Args;
use super::{usage, Ctx};
use anyhow::Result;
use std::path::PathBuf;
use ulvm_lvm::ops::scan;

/// LVM's refusal of a positional argument to a command that takes none.
fn no_arguments(a: &Args) -> Result<()> {
    match a.pos.first() {
        Some(p) => usage(format!("Command does not accept argument: {p}.")),
        None => Ok(()),
    }
}

pub fn pvscan(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if !a.has("cache") {
        if let Some(v) = a.get("activate") {
            return usage(format!("Command does not accept option: --activate {v}."));
        }
        let o = scan::PvScan {
            short: a.has("short"),
            uuid: a.has("uuid"),
            no_vg: a.has("novolumegroup"),
            exported: a.has("exported"),
        };
        scan::pvscan(&mut ctx.s, &o)?;
        return Ok(0);
    }
    let activate = match a.get("activate") {
        None => false,
        Some("ay") => true,
        Some(v) => return usage(format!("Invalid argument for --activate: {v}")),
    };
    // A device that is not there is not a PV that came online: no error.
    let devices: Vec<PathBuf> =
        a.pos.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))).collect();
    let r = scan::pvscan_cache(&mut ctx.s, &scan::PvScanCache { devices, activate }, std::process::id())?;
    for (vg, lv) in &r.jobs {
        super::merge::spawn_poller(ctx, vg, lv);
    }
    Ok(r.status)
}

pub fn vgscan(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    no_arguments(a)?;
    // --mknodes: ulvm has no /dev nodes of its own to make.
    scan::vgscan(&mut ctx.s)?;
    Ok(0)
}

pub fn lvscan(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    no_arguments(a)?;
    scan::lvscan(&mut ctx.s, a.has("all"))?;
    Ok(0)
}

pub fn lvmdiskscan(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    no_arguments(a)?;
    scan::lvmdiskscan(&mut ctx.s, a.has("lvmpartition"))?;
    Ok(0)
}
