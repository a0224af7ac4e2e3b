//! raid1 LVs on the command line: `lvcreate --type raid1 -m N` (and `-m
//! N` alone, as lvm.conf's `global/mirror_segtype_default` says),
//! `lvconvert [--type raid1] -m N`, `lvconvert --type raid1` of a legacy
//! mirror, `lvconvert --repair`, and `lvchange --syncaction`,
//! `--rebuild`, `--writemostly`, `--min|maxrecoveryrate`; the logic is
//! `ulvm_lvm::ops::raid`.

use super::args::Args;
use super::{split_lv, usage, Ctx};
use anyhow::Result;
use ulvm_lvm::ops::raid::{self, RaidChange, RaidConvert, RaidCreate, RaidRepair};
use ulvm_lvm::size::{parse_size, Sign};

/// `-m`/`--mirrors`: a count of extra images.
fn mirrors_arg(a: &Args) -> Result<Option<usize>> {
    match a.get("mirrors") {
        None => Ok(None),
        Some(v) => match v.parse::<usize>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => usage(format!("Invalid argument for --mirrors: {v}\nError during parsing of command line.")),
        },
    }
}

/// Whether `-m N` without `--type` makes raid1 (lvm.conf's
/// `global/mirror_segtype_default`, LVM 2.03's default `raid1`).
pub fn default_is_raid1(ctx: &Ctx) -> Result<bool> {
    Ok(ctx.s.config()?.mirror_segtype_default == "raid1")
}

/// `lvcreate --type raid1 -m N` (or `-m N` under the default segtype).
pub fn lvcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(vg) = a.pos.first() else { return usage("Please specify a volume group.") };
    let vg = vg.trim_start_matches("/dev/").trim_end_matches('/').to_string();
    let mirrors = mirrors_arg(a)?.unwrap_or(1);
    if mirrors == 0 {
        return usage("--mirrors must be at least 1 with segment type raid1.");
    }
    if a.has("mirrorlog") {
        return usage("--mirrorlog is only compatible with mirror segment type.");
    }
    let region_size = super::mirror::region_arg(a)?;
    let Some(size) = super::lv::size_arg(a)? else {
        return usage("No command with matching syntax recognised.  Run 'lvcreate --help' for more information.");
    };
    let name = super::lv::new_lv_name_arg(a, &vg)?;
    let activate = super::lv::create_activate_arg(a)?;
    let c = RaidCreate {
        vg,
        name,
        size,
        mirrors,
        nosync: a.has("nosync"),
        region_size,
        pvs: super::device_args(&a.pos[1..])?,
        activate,
        tags: super::tag_edit(a)?.add,
    };
    raid::lvcreate_raid(&mut ctx.s, &c)?;
    Ok(0)
}

/// Whether an `lvconvert` is raid1's: `--type raid1`, `-m` on a linear or
/// raid1 LV under the default segtype, or `--repair` of a raid1 LV.
pub fn wanted(ctx: &mut Ctx, a: &Args) -> Result<bool> {
    if a.has("merge") || a.has("startpoll") {
        return Ok(false);
    }
    if a.get("type") == Some("raid1") {
        return Ok(true);
    }
    if a.get("type").is_some() || a.has("mirrorlog") || a.has("splitmirrors") {
        return Ok(false);
    }
    let Some(target) = a.pos.first() else { return Ok(false) };
    let Ok((vg, lv)) = split_lv(target) else { return Ok(false) };
    let Ok(v) = ctx.vg(&vg, true) else { return Ok(false) };
    let Some(l) = v.vg.lv(&lv) else { return Ok(false) };
    if l.raid().is_some() {
        return Ok(a.has("mirrors") || a.has("repair"));
    }
    if a.has("repair") {
        // Neither a mirror nor a raid: raid's refusal, as LVM words it.
        return Ok(l.mirror().is_none());
    }
    Ok(a.has("mirrors") && l.mirror().is_none() && default_is_raid1(ctx)?)
}

/// `lvconvert` of or to raid1.
pub fn lvconvert(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(target) = a.pos.first() else { return usage("Please provide logical volume path.") };
    let (vg, lv) = split_lv(target)?;
    if a.has("repair") {
        let how = if a.has("use-policies") {
            if ctx.s.config()?.raid_fault_policy_allocate {
                RaidRepair::Replace
            } else {
                RaidRepair::Warn
            }
        } else {
            RaidRepair::Ask
        };
        raid::repair(&mut ctx.s, &vg, &lv, how)?;
        return Ok(0);
    }
    let c = RaidConvert {
        vg,
        lv,
        mirrors: mirrors_arg(a)?,
        region_size: super::mirror::region_arg(a)?,
        pvs: super::device_args(&a.pos[1..])?,
    };
    raid::lvconvert_raid(&mut ctx.s, &c)?;
    Ok(0)
}

/// Whether an `lvchange` asks for a raid change.
pub fn wanted_change(a: &Args) -> bool {
    ["syncaction", "rebuild", "writemostly", "minrecoveryrate", "maxrecoveryrate", "writebehind"]
        .iter()
        .any(|o| a.has(o))
}

/// A recovery rate: KiB/s unless a unit, as LVM reads `--maxrecoveryrate`.
fn rate_arg(a: &Args, opt: &str) -> Result<Option<u32>> {
    let Some(v) = a.get(opt) else { return Ok(None) };
    match parse_size(v, 'k') {
        Ok(s) if s.sign == Sign::None => {
            let kib = s.sectors.0 / 2;
            u32::try_from(kib).map(Some).or_else(|_| usage(format!("Invalid argument for --{opt}: {v}")))
        }
        _ => usage(format!("Invalid argument for --{opt}: {v}")),
    }
}

/// `lvchange --syncaction`, `--rebuild`, `--writemostly`, the rates.
pub fn lvchange(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(target) = a.pos.first() else { return usage("Please enter one or more logical volume paths.") };
    let (vg, lv) = split_lv(target)?;
    if let Some(action) = a.get("syncaction") {
        let m = match action {
            "check" => raid::RaidMessage::Check,
            "repair" => raid::RaidMessage::Repair,
            other => return usage(format!("Invalid argument for --syncaction: {other}")),
        };
        raid::syncaction(&mut ctx.s, &vg, &lv, m)?;
        return Ok(0);
    }
    let rebuild = super::device_args(&a.all("rebuild").iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    let mut writemostly = Vec::new();
    for w in a.all("writemostly") {
        let (path, flag) = match w.rsplit_once(':') {
            Some((p, "y")) => (p, Some(true)),
            Some((p, "n")) => (p, Some(false)),
            Some((p, "t")) => (p, None),
            _ => (w, Some(true)),
        };
        writemostly.push((super::device_args(&[path.to_string()])?.remove(0), flag));
    }
    let c = RaidChange {
        rebuild,
        writemostly,
        min_recovery_rate: rate_arg(a, "minrecoveryrate")?,
        max_recovery_rate: rate_arg(a, "maxrecoveryrate")?,
        writebehind: match a.get("writebehind") {
            None => None,
            Some(v) => Some(v.parse::<u32>().or_else(|_| usage(format!("Invalid argument for --writebehind: {v}")))?),
        },
    };
    raid::lvchange_raid(&mut ctx.s, &vg, &lv, &c)?;
    Ok(0)
}
