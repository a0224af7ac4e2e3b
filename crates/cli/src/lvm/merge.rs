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
use anyhow::{anyhow, bail, Result};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use ulvm_dm::status::{SnapshotStatus, TargetStatus};
use ulvm_lvm::activate::{self, DmHost};
use ulvm_lvm::disk::Vg;
use ulvm_lvm::model::SegmentKind;
use ulvm_lvm::names::dm_name;

/// Where a merge stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Progress {
    /// Percent merged.
    Running(f64),
    Done,
    /// The origin is not active (the merge waits for its activation).
    Inactive,
}

fn progress(ctx: &mut Ctx, vg: &str, origin: &str) -> Result<Progress> {
    let Some(h) = ctx.host_if_running() else { return Ok(Progress::Inactive) };
    let top = dm_name(vg, origin, None);
    if h.state(&top).map_err(|e| anyhow!("{e}"))?.is_none() {
        return Ok(Progress::Inactive);
    }
    match h.status(&top).map_err(|e| anyhow!("{e}"))? {
        TargetStatus::SnapshotMerge(SnapshotStatus::Active { allocated, metadata, .. }) if allocated == metadata => {
            Ok(Progress::Done)
        }
        TargetStatus::SnapshotMerge(s @ SnapshotStatus::Active { .. }) => {
            Ok(Progress::Running(100.0 - s.usage_percent().unwrap_or(0.0)))
        }
        TargetStatus::SnapshotMerge(s) => bail!("Merge of {vg}/{origin} failed: status {s}"),
        _ => Ok(Progress::Inactive),
    }
}

/// Ends a finished merge: the COW and its snapshot leave the metadata and
/// the origin gets its own table back. Returns the COW's name, or `None`
/// when there was nothing to finish.
fn finish(ctx: &mut Ctx, vg_name: &str, origin: &str) -> Result<Option<String>> {
    let _l = ctx.lock_vg(vg_name)?;
    let mut vg = ctx.vg(vg_name, false)?;
    let Some(s) = vg.vg.snapshots_of(origin).into_iter().find(|s| s.merging) else { return Ok(None) };
    if progress(ctx, vg_name, origin)? != Progress::Done {
        return Ok(None);
    }
    let before = activate::plan(&vg, origin).map_err(|e| anyhow!("{e}"))?;
    vg.vg.lvs.retain(|l| l.name != s.cow && l.name != s.seg_lv);
    let after = activate::plan(&vg, origin).map_err(|e| anyhow!("{e}"))?;
    activate::sync_family(ctx.host()?, &before, &after).map_err(|e| anyhow!("{e}"))?;
    ctx.commit(&mut vg)?;
    Ok(Some(s.cow))
}

/// Starts a background poller for every merging origin of `vg` that is active.
pub fn start_pollers(ctx: &mut Ctx, vg: &Vg) {
    let origins: Vec<String> = vg.vg.snapshots().into_iter().filter(|s| s.merging).map(|s| s.origin).collect();
    for o in origins {
        if progress(ctx, &vg.vg.name, &o).ok().is_some_and(|p| p != Progress::Inactive) {
            spawn_poller(ctx, &vg.vg.name, &o, 1.0);
        }
    }
}

pub fn spawn_poller(ctx: &Ctx, vg: &str, origin: &str, interval: f64) {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else { return };
    let mut c = std::process::Command::new(exe);
    c.args(["lvconvert", "--startpoll", "-i", &interval.to_string(), &format!("{vg}/{origin}")])
        .arg("--system-dir")
        .arg(ctx.sd.root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(r) = ctx.run_dir() {
        c.arg("--run-dir").arg(r);
    }
    // SAFETY: setsid has no preconditions; the poller outlives this command.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let _ = c.spawn();
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
        let is_clone = ctx.vg(&vg_name, true)?.vg.lv(&name).is_some_and(|l| l.clone_ref().is_some());
        if is_clone {
            return super::clone::poll(ctx, &vg_name, &name, interval, false);
        }
        return poll(ctx, &vg_name, &name, interval, false, a.has("interval"));
    }
    if !a.has("merge") {
        return usage("Only lvconvert --merge (of a snapshot) is supported by ulvm.");
    }
    let _l = ctx.lock_vg(&vg_name)?;
    let mut vg = ctx.vg(&vg_name, false)?;
    let Some(s) = vg.vg.snapshot_of_cow(&name) else {
        if vg.vg.lv(&name).is_none() {
            bail!("Failed to find logical volume \"{vg_name}/{name}\"");
        }
        bail!("Command on LV {vg_name}/{name} does not accept LV type linear (only snapshots can be merged).");
    };
    let origin = s.origin.clone();
    if s.merging {
        bail!("Command on LV {vg_name}/{name} is invalid on LV with properties: lv_is_merging_cow .");
    }
    if vg.vg.snapshots_of(&origin).iter().any(|o| o.merging) {
        bail!("Cannot merge snapshot {vg_name}/{name} into the origin {vg_name}/{origin} with merging snapshot.");
    }
    let top = dm_name(&vg_name, &origin, None);
    let snap_top = dm_name(&vg_name, &name, None);
    let (origin_state, snap_state) = match ctx.host_if_running() {
        Some(h) => (h.state(&top).map_err(|e| anyhow!("{e}"))?, h.state(&snap_top).map_err(|e| anyhow!("{e}"))?),
        None => (None, None),
    };
    if snap_state.as_ref().is_some_and(|st| st.open_count > 0) {
        bail!("Can't merge snapshot {vg_name}/{name} while it is open.");
    }
    let before = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
    let seg_lv = s.seg_lv.clone();
    let lv = vg.vg.lv_mut(&seg_lv).expect("snapshot segment LV");
    lv.status.retain(|f| f != "VISIBLE");
    if let Some(SegmentKind::Snapshot { merging, .. }) = lv.segments.first_mut().map(|s| &mut s.kind) {
        *merging = true;
    }
    ctx.commit(&mut vg)?;
    match origin_state {
        None => {
            println!("  Merging of snapshot {vg_name}/{name} will occur on next activation of {vg_name}/{origin}.");
            return Ok(0);
        }
        Some(st) if st.open_count > 0 => {
            println!("  Delaying merge since origin is open.");
            println!("  Merging of snapshot {vg_name}/{name} will occur on next activation of {vg_name}/{origin}.");
            return Ok(0);
        }
        Some(_) => {}
    }
    let after = activate::plan(&vg, &origin).map_err(|e| anyhow!("{e}"))?;
    activate::sync_family(ctx.host()?, &before, &after).map_err(|e| anyhow!("Failed to start the merge: {e}"))?;
    println!("  Merging of volume {vg_name}/{name} started.");
    drop(_l);
    if a.has("background") {
        spawn_poller(ctx, &vg_name, &origin, interval.min(1.0));
        return Ok(0);
    }
    poll(ctx, &vg_name, &origin, interval, true, a.has("interval"))
}

/// Polls until the merge into `origin` is done, then finishes it.
fn poll(ctx: &mut Ctx, vg: &str, origin: &str, interval: f64, verbose: bool, interval_given: bool) -> Result<i32> {
    let bar = verbose && !interval_given && std::io::stdout().is_terminal();
    let step = if bar { Duration::from_millis(200) } else { Duration::from_secs_f64(interval) };
    loop {
        let p = progress(ctx, vg, origin)?;
        match p {
            Progress::Inactive => {
                if verbose {
                    bail!("{vg}/{origin} is no longer active; the merge continues on its next activation.");
                }
                return Ok(0);
            }
            Progress::Running(pct) => {
                if bar {
                    let filled = (pct / 5.0) as usize;
                    print!(
                        "\r  {vg}/{origin}: Merged: [{}{}] {pct:6.2}%",
                        "#".repeat(filled),
                        "-".repeat(20 - filled.min(20))
                    );
                    let _ = std::io::stdout().flush();
                } else if verbose {
                    println!("  {vg}/{origin}: Merged: {pct:.2}%");
                }
                std::thread::sleep(step);
            }
            Progress::Done => {
                if let Some(cow) = finish(ctx, vg, origin)? {
                    if bar {
                        println!("\r  {vg}/{origin}: Merged: [{}] 100.00%", "#".repeat(20));
                    } else if verbose {
                        println!("  {vg}/{origin}: Merged: 100.00%");
                    }
                    if verbose {
                        println!("  Merge of snapshot into logical volume {vg}/{origin} has finished.");
                        println!("  Logical volume \"{cow}\" successfully removed.");
                    }
                }
                return Ok(0);
            }
        }
    }
}
