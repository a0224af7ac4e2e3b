//! Legacy mirrored LVs on the command line: `lvcreate --type mirror -m N
//! [--mirrorlog core|disk] [--nosync] [-R SIZE]` and `lvconvert -m N`,
//! `--mirrorlog`, `--splitmirrors N --name NEW`, `--repair`; the logic is
//! `ulvm_lvm::ops::mirror`.

use super::args::Args;
use super::{split_lv, usage, Ctx};
use anyhow::Result;
use std::time::Duration;
use ulvm_blockdev::Sectors;
use ulvm_lvm::ops::mirror::{self, Converted, LogType, MirrorConvert, MirrorCreate};
use ulvm_lvm::size::{parse_size, Sign};

/// `-m`/`--mirrors`: a count of extra images (0 to 7).
fn mirrors_arg(a: &Args) -> Result<Option<usize>> {
    match a.get("mirrors") {
        None => Ok(None),
        Some(v) => match v.parse::<usize>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => usage(format!("Invalid argument for --mirrors: {v}\nError during parsing of command line.")),
        },
    }
}

/// `-R`/`--regionsize` (MiB unless it has a unit): a power of two, a
/// multiple of the page size, as LVM checks it while parsing.
pub(super) fn region_arg(a: &Args) -> Result<Option<Sectors>> {
    let Some(v) = a.get("regionsize") else { return Ok(None) };
    let bad = |why: &str| {
        usage(format!("{why}\nInvalid argument for --regionsize: {v}\nError during parsing of command line."))
    };
    let s = match parse_size(v, 'm') {
        Ok(s) if s.sign == Sign::None => s.sectors,
        _ => return bad("Region size must be a size."),
    };
    if s.0 == 0 || (s.0 * 512) % 4096 != 0 {
        return bad("Region size must be a multiple of machine memory page size (4096 bytes).");
    }
    if !s.0.is_power_of_two() {
        return bad("Region size must be a power of 2.");
    }
    Ok(Some(s))
}

fn log_arg(a: &Args) -> Result<Option<LogType>> {
    a.get("mirrorlog").map(LogType::parse).transpose().map_err(Into::into)
}

/// `lvcreate --type mirror`.
pub fn lvcreate(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(vg) = a.pos.first() else { return usage("Please specify a volume group.") };
    let vg = vg.trim_start_matches("/dev/").trim_end_matches('/').to_string();
    let Some(mirrors) = mirrors_arg(a)? else {
        return usage("--type mirror needs -m|--mirrors N.");
    };
    if mirrors == 0 {
        return usage("--mirrors must be at least 1 with --type mirror.");
    }
    let region_size = region_arg(a)?;
    let log = log_arg(a)?.unwrap_or(LogType::Disk);
    let Some(size) = super::lv::size_arg(a)? else {
        return usage("No command with matching syntax recognised.  Run 'lvcreate --help' for more information.");
    };
    let name = super::lv::new_lv_name_arg(a, &vg)?;
    let activate = super::lv::create_activate_arg(a)?;
    let c = MirrorCreate {
        vg,
        name,
        size,
        mirrors,
        log,
        nosync: a.has("nosync"),
        region_size,
        pvs: super::device_args(&a.pos[1..])?,
        activate,
        tags: super::tag_edit(a)?.add,
    };
    mirror::lvcreate_mirror(&mut ctx.s, &c)?;
    Ok(0)
}

/// Whether `lvconvert`'s options ask for a mirror conversion.
pub fn wanted(a: &Args) -> bool {
    a.has("mirrors")
        || a.has("mirrorlog")
        || a.has("splitmirrors")
        || a.has("repair")
        || a.get("type") == Some("mirror")
}

/// `lvconvert -m|--mirrorlog|--splitmirrors|--repair`.
pub fn lvconvert(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(target) = a.pos.first() else { return usage("Please provide logical volume path.") };
    let (vg, lv) = split_lv(target)?;
    if let Some(t) = a.get("type") {
        if t != "mirror" {
            return usage(format!("Conversion to --type {t} is not supported by ulvm (raid1, mirror)."));
        }
    }
    if a.has("repair") {
        // As LVM: --use-policies follows activation/mirror_image_fault_policy
        // (as the daemon's monitor does); -f replaces nothing (the failed
        // images go); otherwise the failed images are replaced if the user
        // says so (`-y` does).
        let policy = if a.has("use-policies") {
            Some(ctx.s.config()?.mirror_image_fault_policy)
        } else if a.has("force") {
            Some(mirror::RepairPolicy::Remove)
        } else {
            None
        };
        mirror::repair(&mut ctx.s, &vg, &lv, policy)?;
        return Ok(0);
    }
    let mirrors = mirrors_arg(a)?;
    let split = match (a.get("splitmirrors"), a.get("name")) {
        (Some(n), Some(name)) => match n.parse::<usize>() {
            Ok(n) => Some((n, name.to_string())),
            Err(_) => return usage(format!("Invalid argument for --splitmirrors: {n}")),
        },
        (Some(_), None) => return usage("Please name the new logical volume using '--name'"),
        (None, _) => None,
    };
    let c = MirrorConvert {
        vg: vg.clone(),
        lv: lv.clone(),
        mirrors,
        log: log_arg(a)?,
        split,
        region_size: region_arg(a)?,
        pvs: super::device_args(&a.pos[1..])?,
    };
    if mirror::lvconvert_mirror(&mut ctx.s, &c)? == Converted::Syncing && !a.has("background") {
        let interval = match a.get("interval") {
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|i| *i >= 0.0)
                .ok_or_else(|| super::Usage(format!("Invalid argument for --interval: {v}")))?,
            None => 15.0,
        };
        // The legs are copied by the mirror target; this only watches, as
        // LVM's poller does ("Converted:").
        while let Some(m) = mirror::mirror_status(&mut ctx.s, &vg, &lv) {
            let pct = ulvm_lvm::percent::mirror(&m);
            if interval > 0.0 || m.in_sync == m.regions {
                println!("  {vg}/{lv}: Converted: {pct:.2}%");
            }
            if m.in_sync == m.regions {
                break;
            }
            std::thread::sleep(Duration::from_secs_f64(interval.max(0.1)));
        }
    }
    Ok(0)
}
