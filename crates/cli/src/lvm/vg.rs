//! vgcreate, vgremove, vgextend, vgreduce, vgrename, vgchange, vgck, vgcfgbackup.

use super::args::Args;
use super::{device_args, usage, Ctx};
use anyhow::{anyhow, Result};
use ulvm_lvm::disk;
use ulvm_lvm::names::check_name;
use ulvm_lvm::ops::activation::{self, Activation, Mode};
use ulvm_lvm::ops::scan;
use ulvm_lvm::ops::vg as ops_vg;
use ulvm_lvm::ops::{backup, split};
use ulvm_lvm::size::{parse_size, Sign};
use ulvm_lvm::ExtentSize;

pub fn vgcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please provide volume group name and physical volumes");
    };
    if devs.is_empty() {
        return usage("Please enter physical volume name(s)");
    }
    check_name(name, "volume group").map_err(|e| anyhow!("{e}"))?;
    let extent_size = match a.get("physicalextentsize") {
        Some(s) => {
            let sz = parse_size(s, 'm').map_err(|e| anyhow!("{e}"))?;
            match ExtentSize::new(sz.sectors) {
                Some(es) if sz.sign == Sign::None && sz.sectors.0.is_power_of_two() && sz.sectors.0 >= 8 => es,
                _ => {
                    return usage(format!(
                        "Invalid argument for --physicalextentsize: {s} (a power of 2, at least 4 KiB)"
                    ))
                }
            }
        }
        None => ops_vg::DEFAULT_EXTENT_SIZE,
    };
    let max = |opt: &str| -> Result<u64> {
        Ok(a.get(opt).map(|v| v.parse()).transpose().map_err(|_| anyhow!("Invalid argument for --{opt}"))?.unwrap_or(0))
    };
    let c = ops_vg::VgCreate {
        name: name.clone(),
        pvs: device_args(devs)?,
        extent_size,
        max_lv: max("maxlogicalvolumes")?,
        max_pv: max("maxphysicalvolumes")?,
        autoactivation: super::yes_no(a, "setautoactivation")?.unwrap_or(true),
        tags: super::tag_edit(a)?.add,
        shared: match a.get("locktype") {
            None => a.has("shared"),
            Some("sanlock") => true,
            Some("none") => false,
            Some(t) => return usage(format!("Invalid argument for --locktype: {t}")),
        },
    };
    if c.shared && !ctx.s.config()?.use_lvmlockd {
        let why = match a.get("locktype") {
            Some(_) => "Using a shared lock type requires lvmlockd.",
            None => "Using a shared lock type requires lvmlockd (lvm.conf use_lvmlockd.)",
        };
        return usage(format!("{why}\nRun `vgcreate --help' for more information."));
    }
    ops_vg::vgcreate(&mut ctx.s, &c)?;
    Ok(0)
}

/// VG arguments with each `@tag` standing for the VGs carrying the tag.
fn tagged_vgs(ctx: &mut Ctx, pos: &[String]) -> Result<Vec<String>> {
    if !pos.iter().any(|p| p.starts_with('@')) {
        return Ok(pos.to_vec());
    }
    let (_, vgs) = ctx.scan(true)?;
    let mut out: Vec<String> = Vec::new();
    for p in pos {
        let names = match ulvm_lvm::ops::tags::tag_arg(p) {
            Some(t) => ulvm_lvm::ops::tags::vgs_tagged(&vgs, t),
            None => vec![p.clone()],
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

pub fn vgremove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.pos.is_empty() {
        return usage("Please enter one or more volume group paths");
    }
    let force = ctx.force > 0;
    let _g = ctx.lock_global()?;
    let names = tagged_vgs(ctx, &a.pos)?;
    for name in &names {
        ops_vg::vgremove(&mut ctx.s, name, force)?;
    }
    Ok(0)
}

pub fn vgextend(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please enter volume group name and physical volume(s)");
    };
    if devs.is_empty() {
        return usage("Please enter physical volume(s)");
    }
    ops_vg::vgextend(&mut ctx.s, name, &device_args(devs)?)?;
    Ok(0)
}

pub fn vgreduce(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some((name, devs)) = a.pos.split_first() else {
        return usage("Please give volume group name and physical volume paths");
    };
    let paths = if a.has("all") {
        None
    } else if devs.is_empty() {
        return usage("Please enter physical volume paths or option -a");
    } else {
        Some(device_args(devs)?)
    };
    ops_vg::vgreduce(&mut ctx.s, name, paths.as_deref())?;
    Ok(0)
}

pub fn vgrename(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [old, new] = a.pos.as_slice() else {
        return usage("Old and new volume group names need specifying");
    };
    ops_vg::vgrename(&mut ctx.s, old, new)?;
    Ok(0)
}

/// `vgchange --lockstart|--lockstop [VG...]` (every shared VG when none
/// is named) and `vgchange --locktype sanlock|none VG`.
fn vgchange_locks(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    use ulvm_lvm::ops::lockd;
    if let Some(t) = a.get("locktype") {
        let [name] = a.pos.as_slice() else { return usage("Please supply a volume group name.") };
        match t {
            "sanlock" => lockd::to_sanlock(&mut ctx.s, name)?,
            "none" => lockd::to_none(&mut ctx.s, name)?,
            t => return usage(format!("Invalid argument for --locktype: {t}")),
        }
        return Ok(0);
    }
    let names: Vec<String> = if a.pos.is_empty() {
        let (s, vgs) = ctx.scan(true)?;
        scan::order(&s, &vgs).into_iter().filter(|n| vgs[n].vg.lock_type().is_some()).collect()
    } else {
        a.pos.clone()
    };
    let start = a.has("lockstart");
    if start && !names.is_empty() {
        ctx.s.print("Starting locking.  Waiting for sanlock may take 20 sec to 3 min...");
    }
    let mut status = 0;
    for name in names {
        let r = if start {
            lockd::vgchange_lockstart(&mut ctx.s, &name)
        } else {
            lockd::vgchange_lockstop(&mut ctx.s, &name)
        };
        if let Err(e) = r {
            ctx.s.warn(e.to_string());
            status = 5;
        }
    }
    Ok(status)
}

pub fn vgchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    if a.has("lockstart") || a.has("lockstop") || a.get("locktype").is_some() {
        return vgchange_locks(ctx, a);
    }
    let autoactivation = super::yes_no(a, "setautoactivation")?;
    let act = a.get("activate");
    let tags = super::tag_edit(a)?;
    let a = &{
        let mut a = a.clone();
        a.pos = tagged_vgs(ctx, &a.pos)?;
        a
    };
    if !tags.is_empty() {
        if a.pos.is_empty() {
            return usage("Please supply a volume group name.");
        }
        for name in &a.pos {
            ops_vg::vgchange_tags(&mut ctx.s, name, &tags)?;
        }
        if act.is_none() && autoactivation.is_none() {
            return Ok(0);
        }
    }
    if act.is_none() && autoactivation.is_none() {
        if a.has("ignoreactivationskip") {
            return usage("No command with matching syntax recognised.  Run 'vgchange --help' for more information.");
        }
        return usage(
            "One of -a|--activate or --setautoactivation is needed (other vgchange changes are not supported yet).",
        );
    }
    let activation = match act {
        None => None,
        Some("y") => Some(Some(Activation { mode: Mode::Yes, ignore_skip: a.has("ignoreactivationskip") })),
        Some("ay") => Some(Some(Activation { mode: Mode::Auto, ignore_skip: a.has("ignoreactivationskip") })),
        Some("n") => Some(None),
        Some(act) => return usage(format!("Invalid argument for --activate: {act}")),
    };
    if let Some(on) = autoactivation {
        if a.pos.is_empty() {
            return usage("Please supply a volume group name (or use -a|--activate for every VG).");
        }
        for name in &a.pos {
            ops_vg::vgchange_autoactivation(&mut ctx.s, name, on)?;
        }
    }
    let Some(activation) = activation else { return Ok(0) };
    // Without names, exported VGs are left out, as LVM does.
    let names: Vec<String> = if a.get("select").is_some() {
        super::reports::selected_vgs(ctx, a)?
    } else if a.pos.is_empty() {
        // Autoactivation leaves shared VGs out, as LVM's does.
        let auto = matches!(activation, Some(Activation { mode: Mode::Auto, .. }));
        let (s, vgs) = ctx.scan(true)?;
        scan::order(&s, &vgs)
            .into_iter()
            .filter(|n| !ulvm_lvm::ops::export::is_exported(&vgs[n].vg))
            .filter(|n| !(auto && vgs[n].vg.lock_type().is_some()))
            .collect()
    } else {
        a.pos.clone()
    };
    let mut status = 0;
    match activation {
        Some(how) => {
            for name in names {
                let r = activation::activate_vgs(&mut ctx.s, std::slice::from_ref(&name), how)?;
                for (vg, lv) in &r.jobs {
                    super::merge::spawn_poller(ctx, vg, lv);
                }
                status = status.max(r.status);
            }
        }
        None => {
            for name in names {
                let (_, st) = ops_vg::vgchange_activate(&mut ctx.s, &name, false)?;
                status = status.max(st);
            }
        }
    }
    Ok(status)
}

pub fn vgck(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    Ok(backup::vgck(&mut ctx.s, &a.pos, a.has("updatemetadata"))?)
}

pub fn vgcfgbackup(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    backup::vgcfgbackup(&mut ctx.s, &a.pos, a.get("file"))?;
    Ok(0)
}

pub fn vgmerge(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let [dest, src] = a.pos.as_slice() else {
        return usage("Please enter 2 or more volume groups");
    };
    split::vgmerge(&mut ctx.s, dest, src)?;
    Ok(0)
}

pub fn vgsplit(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let number = |opt: &str| -> Result<Option<u64>> {
        match a.get(opt) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => usage(format!("Invalid argument for --{opt}: {v}")),
            },
        }
    };
    let new = split::NewVg { max_lv: number("maxlogicalvolumes")?, max_pv: number("maxphysicalvolumes")? };
    if let Some(lv) = a.get("name") {
        let [src, dest, rest @ ..] = a.pos.as_slice() else {
            // As LVM: the usage of the nearest command line, then why.
            print!("  vgsplit -n|--name LV VG VG\n  Split a VG by PVs in a specified LV.\n\n");
            eprintln!("  No command with matching syntax recognised.  Run 'vgsplit --help' for more information.");
            eprintln!("  Nearest similar command has syntax:");
            return Ok(3);
        };
        if let Some(p) = rest.first() {
            return usage(format!("Command does not accept argument: {p}."));
        }
        check_name(dest, "volume group").map_err(|e| anyhow!("{e}"))?;
        split::vgsplit_what(&mut ctx.s, src, dest, &split::SplitWhat::Lv(lv.to_string()), new)?;
        return Ok(0);
    }
    let [src, dest, devs @ ..] = a.pos.as_slice() else {
        return usage("Existing VG, new VG and either physical volumes or logical volume required.");
    };
    if devs.is_empty() {
        return usage("Existing VG, new VG and either physical volumes or logical volume required.");
    }
    check_name(dest, "volume group").map_err(|e| anyhow!("{e}"))?;
    split::vgsplit_what(&mut ctx.s, src, dest, &split::SplitWhat::Pvs(device_args(devs)?), new)?;
    Ok(0)
}

pub fn vgcfgrestore(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(name) = a.pos.first() else { return usage("Please specify a *single* volume group to restore.") };
    if a.has("list") {
        let mut files = disk::archives(&ctx.sd, name);
        files.push(ctx.sd.backup_dir().join(name));
        for f in files.iter().filter(|f| f.exists()) {
            let text = std::fs::read_to_string(f)?;
            let tree = ulvm_lvm::text::Tree::parse(&text).map_err(|e| anyhow!("{}: {e}", f.display()))?;
            use ulvm_lvm::text::Items;
            let top = tree.0.as_slice();
            println!("   ");
            println!("  File:\t\t{}", f.display());
            println!("  VG name:    \t{name}");
            println!("  Description:\t{}", top.str("description").unwrap_or(""));
            println!("  Backup Time:\t{}", top.int("creation_time").unwrap_or(0));
        }
        println!("   ");
        return Ok(0);
    }
    let file = a.get("file").map(std::path::PathBuf::from).unwrap_or_else(|| ctx.sd.backup_dir().join(name));
    let force = ctx.force > 0;
    backup::vgcfgrestore(&mut ctx.s, name, &file, force)?;
    Ok(0)
}
