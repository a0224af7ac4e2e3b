//! lvcreate, lvremove, lvextend/lvreduce/lvresize, lvrename, lvchange.

use super::args::Args;
use super::{split_lv, usage, Ctx};
use anyhow::Result;
use ulvm_blockdev::Sectors;
use ulvm_lvm::ops::activation::{Activation, Mode};
use ulvm_lvm::ops::common::SizeSpec;
use ulvm_lvm::ops::{change, create, remove, resize};
use ulvm_lvm::size::{parse_size, Sign};
use ulvm_lvm::units::size_long;

/// `-l` or `-L` as a size spec (none given: `None`).
pub(super) fn size_arg(a: &Args) -> Result<Option<SizeSpec>> {
    Ok(match (a.get("extents"), a.get("size")) {
        (Some(l), _) => Some(SizeSpec::extents(l)?),
        (None, Some(l)) => Some(SizeSpec::size(l)?),
        (None, None) => None,
    })
}

/// What LVM says when a command needs a size and got none.
fn no_size<T>() -> Result<T> {
    usage("No command with matching syntax recognised.  Run 'lvcreate --help' for more information.")
}

/// A power-of-two size option (`--stripesize`, `--chunksize`,
/// `--regionsize`; KiB unless it has a unit), from `min` to `max`.
pub(super) fn pow2_size(a: &Args, opt: &str, default: Sectors, min: Sectors, max: Sectors) -> Result<Sectors> {
    match a.get(opt) {
        None => Ok(default),
        Some(v) => {
            let s = parse_size(v, 'k').map_err(|e| super::Usage(e.0))?;
            if s.sign != Sign::None || !s.sectors.0.is_power_of_two() || s.sectors < min || s.sectors > max {
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
        if t == "mirror" {
            return super::mirror::lvcreate(ctx, a);
        }
        if t == "raid1" {
            return super::raid::lvcreate(ctx, a);
        }
        if !matches!(t, "linear" | "striped" | "snapshot") {
            return usage(format!(
                "Segment type {t} is not supported by ulvm (linear, striped, snapshot, raid1, mirror, clone)."
            ));
        }
    }
    if a.get("mirrors").is_some_and(|m| m != "0") && a.get("type").is_none() {
        // -m N makes what lvm.conf's global/mirror_segtype_default says:
        // raid1 in LVM 2.03 unless set to mirror.
        return if super::raid::default_is_raid1(ctx)? {
            super::raid::lvcreate(ctx, a)
        } else {
            super::mirror::lvcreate(ctx, a)
        };
    }
    for o in ["mirrorlog", "nosync"] {
        if a.has(o) {
            return usage(format!("--{o} goes with --type mirror."));
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
    super::yes_no(a, "setautoactivation")?;
    super::yes_no(a, "setactivationskip")?;
    let activate = create_activate_arg(a)?;
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
    let stripe_size = pow2_size(a, "stripesize", create::DEFAULT_STRIPE_SIZE, Sectors(8), Sectors(2 * 1024 * 1024))?;
    if stripes > 1 && !a.has("stripesize") {
        println!("  Using default stripesize {}.", size_long(stripe_size));
    }
    let chunk = pow2_size(a, "chunksize", create::DEFAULT_CHUNK_SIZE, Sectors(8), Sectors(1024))?;
    let name = new_lv_name_arg(a, &vg_name)?;
    let Some(size) = size_arg(a)? else { return no_size() };
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
        autoactivation: super::yes_no(a, "setautoactivation")?.unwrap_or(true),
        activation_skip: super::yes_no(a, "setactivationskip")?.unwrap_or(false),
        ignore_activation_skip: a.has("ignoreactivationskip"),
        tags: super::tag_edit(a)?.add,
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

/// [`targets`], or with `-S` the LVs the selection takes among them.
fn targets_or_selected(ctx: &mut Ctx, a: &Args) -> Result<Vec<(String, Option<String>)>> {
    if a.get("select").is_some() {
        let lvs = super::reports::selected_lvs(ctx, a)?;
        return Ok(lvs.into_iter().map(|(v, l)| (v, Some(l))).collect());
    }
    tagged_targets(ctx, a)
}

/// [`targets`], with each `@tag` standing for what carries the tag:
/// every LV of a VG tagged so, and each LV tagged so (none: nothing).
fn tagged_targets(ctx: &mut Ctx, a: &Args) -> Result<Vec<(String, Option<String>)>> {
    if !a.pos.iter().any(|p| p.starts_with('@')) {
        return targets(a);
    }
    let (_, vgs) = ctx.scan(true)?;
    let mut out = Vec::new();
    for p in &a.pos {
        match ulvm_lvm::ops::tags::tag_arg(p) {
            Some(t) => out.extend(ulvm_lvm::ops::tags::lvs_tagged(&vgs, t)),
            None => {
                let mut one = Args::default();
                one.pos.push(p.clone());
                out.extend(targets(&one)?)
            }
        }
    }
    Ok(out)
}

pub fn lvremove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let force = ctx.force > 0;
    for (vg_name, lv_name) in targets_or_selected(ctx, a)? {
        remove::lvremove(&mut ctx.s, &vg_name, lv_name.as_deref(), force)?;
    }
    Ok(0)
}

pub fn lvresize(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(first) = a.pos.first() else { return usage("Please specify a logical volume path.") };
    let (vg, lv) = split_lv(first)?;
    let target = if a.has("use-policies") {
        resize::Target::Policy
    } else if let Some(size) = size_arg(a)? {
        resize::Target::Size(size)
    } else {
        return no_size();
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
    change::lvrename(&mut ctx.s, &vg_name, &old, &new)?;
    Ok(0)
}

pub fn lvchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let autoactivation = super::yes_no(a, "setautoactivation")?;
    let activation_skip = super::yes_no(a, "setactivationskip")?;
    let writable = match a.get("permission") {
        None => None,
        Some("rw") => Some(true),
        Some("r") => Some(false),
        Some(p) => return usage(format!("Invalid argument for --permission: {p}")),
    };
    if super::raid::wanted_change(a) {
        return super::raid::lvchange(ctx, a);
    }
    if a.has("refresh") {
        for (vg, lv) in targets_or_selected(ctx, a)? {
            change::refresh(&mut ctx.s, &vg, lv.as_deref())?;
        }
        return Ok(0);
    }
    let ignore_skip = a.has("ignoreactivationskip");
    let (activate, mode) = match a.get("activate") {
        None => (None, Mode::Yes),
        Some("y" | "ey" | "ly" | "sy") => (Some(true), Mode::Yes),
        Some("ay") => (Some(true), Mode::Auto),
        Some("n" | "en" | "ln" | "sn") => (Some(false), Mode::Yes),
        Some(act) => return usage(format!("Invalid argument for --activate: {act}")),
    };
    let tags = super::tag_edit(a)?;
    if activate.is_none()
        && writable.is_none()
        && autoactivation.is_none()
        && activation_skip.is_none()
        && tags.is_empty()
    {
        return usage(
            "Need one or more command options (-a|--activate, -p|--permission, --setautoactivation, -k|--setactivationskip, --refresh).",
        );
    }
    if activate.is_some() && !tags.is_empty() {
        eprintln!("  WARNING: Combining activation change with other commands is not advised.");
    }
    for (vg, lv) in targets_or_selected(ctx, a)? {
        let c = change::LvChange {
            tags: tags.clone(),
            writable,
            activate,
            shared: a.get("activate") == Some("sy"),
            activation: Activation { mode, ignore_skip },
            autoactivation,
            activation_skip,
            ..change::LvChange::new(&vg, lv.as_deref())
        };
        let vg = change::lvchange(&mut ctx.s, &c)?;
        if activate == Some(true) {
            super::merge::start_pollers(ctx, &vg);
        }
    }
    Ok(0)
}

/// lvcreate's `-n NAME` or `-n VG/NAME` (which must name the VG the LV
/// goes in).
pub(super) fn new_lv_name_arg(a: &Args, vg: &str) -> Result<Option<String>> {
    match a.get("name") {
        Some(n) => match n.split_once('/') {
            Some((v, l)) if v == vg => Ok(Some(l.to_string())),
            Some((v, _)) => usage(format!("Inconsistent volume group names given: \"{v}\" and \"{vg}\"")),
            None => Ok(Some(n.to_string())),
        },
        None => Ok(None),
    }
}

/// lvcreate's `-a y|ay|n`: whether the new LV is activated.
pub(super) fn create_activate_arg(a: &Args) -> Result<bool> {
    match a.get("activate") {
        None | Some("y" | "ay" | "ey" | "ly") => Ok(true),
        Some("n") => Ok(false),
        Some(v) => usage(format!("Invalid argument for --activate: {v}")),
    }
}
