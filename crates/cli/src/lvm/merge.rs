//! lvconvert --merge: a snapshot merged back into its origin.
//!
//! The metadata records the merge first (`merging_store`), so it survives
//! anything: if the origin is active and closed the tables switch to
//! `snapshot-merge` at once, otherwise the merge starts at the origin's
//! next activation. The daemon runs the merge; a poller (this command in
//! the foreground, or `lvconvert --startpoll` in the background, which
//! activation also starts) reports progress and, when the COW is empty,
//! returns the origin to a plain LV in the metadata and the tables.

use super::args::Args;
use super::{split_lv, usage, Ctx};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use ulvm_blockdev::Sectors;
use ulvm_lvm::disk::Vg;
use ulvm_lvm::ops::jobs::{self, Next, Outcome, SnapshotMerge, State};
use ulvm_lvm::ops::{create, merge};
use ulvm_lvm::size::{parse_size, Sign};

/// Starts a background poller for every merging origin of `vg` that is active.
/// Starts a background poller for every job of `vg` (merges, clones)
/// whose device is active.
pub fn start_pollers(ctx: &mut Ctx, vg: &Vg) {
    for mut job in jobs::jobs_of(vg) {
        if job.step(&mut ctx.s).ok().is_some_and(|st| st != State::Inactive) {
            spawn_poller(ctx, job.vg(), job.lv());
        }
    }
}

/// Asks the daemon to poll the job of `vg/lv` in the background and to
/// finish it: the daemon runs the library's poller in-process (LVM asks
/// lvmpolld the same way). Without a daemon there is nothing to poll.
pub fn spawn_poller(ctx: &Ctx, vg: &str, lv: &str) {
    let Ok(mut h) = super::host::connect(ctx.run_dir()) else { return };
    let sd = std::fs::canonicalize(ctx.sd.root()).unwrap_or_else(|_| ctx.sd.root().to_path_buf());
    let devices = ctx
        .explicit_devices()
        .map(|d| d.iter().map(|p| std::fs::canonicalize(p).unwrap_or(p.clone())).collect::<Vec<_>>());
    if let Err(e) = h.poll(&sd, devices.as_deref(), vg, lv) {
        eprintln!("  WARNING: {vg}/{lv}: the daemon does not poll its job: {e}");
    }
}

pub fn lvconvert(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let Some(target) = a.pos.first() else { return usage("Please provide logical volume path.") };
    let (vg_name, name) = split_lv(target)?;
    let interval: f64 = match a.get("interval") {
        Some(v) => v
            .parse()
            .ok()
            .filter(|&i: &f64| i > 0.0)
            .ok_or_else(|| super::Usage(format!("Invalid argument for --interval: {v}")))?,
        None => 15.0,
    };
    if a.has("startpoll") {
        let vg = ctx.vg(&vg_name, true)?;
        let Some(mut job) = jobs::job_of(&vg, &name) else { return Ok(0) };
        jobs::poll(&mut ctx.s, job.as_mut(), Duration::from_secs_f64(interval), &mut |_| Next::Continue)?;
        return Ok(0);
    }
    if a.has("splitsnapshot") {
        merge::split_snapshot(&mut ctx.s, &vg_name, &name, a.has("yes"))?;
        return Ok(0);
    }
    if a.has("snapshot") || a.get("type") == Some("snapshot") {
        return attach(ctx, a, vg_name, name);
    }
    if super::raid::wanted(ctx, a)? {
        return super::raid::lvconvert(ctx, a);
    }
    if !a.has("merge") && super::mirror::wanted(a) {
        return super::mirror::lvconvert(ctx, a);
    }
    if !a.has("merge") {
        return usage("Only lvconvert --merge (of a snapshot) and mirror conversions are supported by ulvm.");
    }
    let origin = match merge::lvconvert_merge(&mut ctx.s, &vg_name, &name)? {
        merge::MergeStart::Deferred { .. } => return Ok(0),
        merge::MergeStart::Now { origin } => origin,
    };
    if a.has("background") {
        spawn_poller(ctx, &vg_name, &origin);
        return Ok(0);
    }
    poll(ctx, &vg_name, &origin, interval, true, a.has("interval"))
}

/// Polls until the merge into `origin` is done, then finishes it, with
/// LVM's progress lines (or a bar on a terminal without `-i`).
fn poll(ctx: &mut Ctx, vg: &str, origin: &str, interval: f64, verbose: bool, interval_given: bool) -> Result<i32> {
    let bar = verbose && !interval_given && std::io::stdout().is_terminal();
    let step = if bar { Duration::from_millis(200) } else { Duration::from_secs_f64(interval) };
    let cow = ctx.vg(vg, true)?.vg.snapshots_of(origin).into_iter().find(|s| s.merging).map(|s| s.cow);
    let mut job = SnapshotMerge { vg: vg.to_string(), origin: origin.to_string() };
    let outcome = jobs::poll(&mut ctx.s, &mut job, step, &mut |p| {
        let pct = p.percent();
        if bar {
            print!("\r  {vg}/{origin}: Merged: {} {pct:6.2}%", crate::progress::bar(p.done, p.total, 20));
            let _ = std::io::stdout().flush();
        } else if verbose {
            println!("  {vg}/{origin}: Merged: {pct:.2}%");
        }
        Next::Continue
    })?;
    let gone = match outcome {
        Outcome::Inactive if verbose => {
            bail!("{vg}/{origin} is no longer active; the merge continues on its next activation.")
        }
        Outcome::Inactive | Outcome::Stopped => return Ok(0),
        Outcome::Finished(gone) => Some(gone),
        Outcome::FinishedElsewhere => cow,
    };
    if let (true, Some(cow)) = (verbose, gone) {
        if bar {
            println!("\r  {vg}/{origin}: Merged: {} 100.00%", crate::progress::bar(1, 1, 20));
        } else {
            println!("  {vg}/{origin}: Merged: 100.00%");
        }
        println!("  Merge of snapshot into logical volume {vg}/{origin} has finished.");
        println!("  Logical volume \"{cow}\" successfully removed.");
    }
    Ok(0)
}

/// `lvconvert -s ORIGIN COW [-c CHUNK] [-Z y|n]`.
fn attach(ctx: &mut Ctx, a: &Args, vg_name: String, origin: String) -> Result<i32> {
    let Some(cow) = a.pos.get(1) else {
        return usage("Please specify a logical volume to act as the snapshot exception store.");
    };
    let cow = match cow.trim_start_matches("/dev/").split_once('/') {
        Some(_) => {
            let (v, l) = split_lv(cow)?;
            if v != vg_name {
                bail!("Origin {vg_name}/{origin} and snapshot {v}/{l} must be in the same volume group.");
            }
            l
        }
        None => cow.to_string(),
    };
    let chunk_size = match a.get("chunksize") {
        None => create::DEFAULT_CHUNK_SIZE,
        Some(v) => {
            let s = parse_size(v, 'k').map_err(|e| super::Usage(e.0))?;
            if s.sign != Sign::None
                || !s.sectors.0.is_power_of_two()
                || s.sectors < Sectors(8)
                || s.sectors > Sectors(1024)
            {
                bail!("Chunk size must be a power of 2 in the range 4K to 512K.");
            }
            s.sectors
        }
    };
    let zero = match a.get("zero") {
        None | Some("y") => true,
        Some("n") => false,
        Some(v) => return usage(format!("Invalid argument for --zero: {v}")),
    };
    let yes = a.has("yes");
    merge::attach_snapshot(&mut ctx.s, &merge::Attach { vg: vg_name, origin, cow, chunk_size, zero, yes })?;
    Ok(0)
}
