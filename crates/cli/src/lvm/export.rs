//! vgexport, vgimport, vgimportclone and vgmknodes: the command lines of
//! `ulvm_lvm::ops::export` and `ulvm_lvm::ops::importclone`.

use super::args::Args;
use super::{usage, Ctx};
use anyhow::Result;
use ulvm_lvm::ops::export;

/// `vgexport VG ...|-a` and `vgimport VG ...|-a`: each VG on its own; a
/// VG that fails is reported (exit status 5) and the others go on, as
/// LVM does.
pub fn vgexport_or_import(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let export = ctx.cmd == "vgexport";
    let names = if a.has("all") {
        if let Some(p) = a.pos.first() {
            return usage(format!("Command does not accept argument: {p}."));
        }
        export::all_vgs(&mut ctx.s)?
    } else if a.pos.is_empty() {
        return usage(format!(
            "No command with matching syntax recognised.  Run '{} --help' for more information.",
            ctx.cmd
        ));
    } else {
        a.pos.clone()
    };
    let mut status = 0;
    for name in &names {
        let r = if export { export::vgexport(&mut ctx.s, name) } else { export::vgimport(&mut ctx.s, name) };
        if let Err(e) = r {
            if names.len() == 1 {
                return Err(e.into());
            }
            eprintln!("  {e}");
            status = 5;
        }
    }
    Ok(status)
}

/// `vgmknodes [VG|VG/LV ...]`: the `/dev/VG/LV` links of active LVs
/// made again (see `ulvm_lvm::ops::mknodes`), silently as LVM.
pub fn vgmknodes(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    ulvm_lvm::ops::mknodes::vgmknodes(&mut ctx.s, &a.pos, std::path::Path::new("/dev"))?;
    Ok(0)
}

/// `vgimportclone [-n NAME] [--import] PV ...`: prints nothing, as LVM.
pub fn vgimportclone(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        // LVM shows the command's one form on stdout first.
        println!("  vgimportclone PV ...\n");
        return usage("No command with matching syntax recognised.  Run 'vgimportclone --help' for more information.");
    }
    let c = ulvm_lvm::ops::importclone::ImportClone {
        devices: super::device_args(&a.pos)?,
        base_name: a.get("basevgname").map(String::from),
        import: a.has("import"),
    };
    ulvm_lvm::ops::importclone::vgimportclone(&mut ctx.s, &c)?;
    Ok(0)
}
