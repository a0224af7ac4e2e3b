//! lvmdevices, lvmconfig, pvck: the command lines of the metadata tools
//! (`ulvm_lvm::ops::devices`, `ulvm_lvm::ops::tools`).

use super::args::Args;
use super::{usage, Ctx};
use anyhow::Result;
use std::path::Path;
use std::path::PathBuf;
use ulvm_lvm::ops::config::{self, ConfigType};
use ulvm_lvm::ops::devices::{self, DevicesAction};
use ulvm_lvm::ops::pvck::{self, PvckMode};

pub fn lvmdevices(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if let Some(p) = a.pos.first() {
        return usage(format!("Command does not accept argument: {p}."));
    }
    let action = if let Some(p) = a.get("adddev") {
        DevicesAction::Add(PathBuf::from(p))
    } else if let Some(p) = a.get("deldev") {
        DevicesAction::Del(PathBuf::from(p))
    } else if let Some(id) = a.get("delpvid") {
        DevicesAction::DelPvid(id.to_string())
    } else if a.has("update") {
        DevicesAction::Update
    } else if a.has("check") {
        DevicesAction::Check
    } else {
        DevicesAction::List
    };
    devices::lvmdevices(&mut ctx.s, &action)?;
    Ok(0)
}

pub fn pvck(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let mode = match a.get("dump") {
        None => PvckMode::Check,
        Some(d) => match PvckMode::parse(d) {
            Some(m) => m,
            None => return usage(format!("Invalid argument for --dump: {d}\nError during parsing of command line.")),
        },
    };
    if a.pos.is_empty() {
        return usage("No command with matching syntax recognised.  Run 'pvck --help' for more information.");
    }
    let devices: Vec<&Path> = a.pos.iter().map(Path::new).collect();
    Ok(pvck::pvck(&mut ctx.s, &devices, mode, a.get("file").map(Path::new))?)
}

/// `lvmconfig` (and `lvm dumpconfig`, `lvm config`).
pub fn lvmconfig(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    // `--type` is LVM's other name of `--typeconfig`.
    let kind = match a.get("typeconfig").or(a.get("type")) {
        None => ConfigType::Current,
        Some(t) => match ConfigType::parse(t) {
            Some(k) => k,
            None => {
                return usage(format!("Invalid argument for --typeconfig: {t}\nError during parsing of command line."))
            }
        },
    };
    Ok(config::lvmconfig(&mut ctx.s, kind, &a.pos, a.has("withcomments"))?)
}
