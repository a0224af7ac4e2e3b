//! `pvmove`: argv to [`ulvm_lvm::ops::pvmove`], then the polling with
//! LVM's progress lines (`  /dev/sdb: Moved: 23.45%` every `-i` seconds,
//! a bar on a terminal without `-i`), or the daemon's poller with `-b`.

use super::args::Args;
use super::merge::spawn_poller;
use super::{usage, Ctx};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::time::Duration;
use ulvm_lvm::ops::jobs::{self, Next, Outcome};
use ulvm_lvm::ops::pvmove::{self, InFlight, PvArg, PvMove, Started};

/// `-i`'s value in seconds (`+N` as N); LVM's default is 15.
fn interval(a: &Args) -> Result<f64> {
    match a.get("interval") {
        Some(v) => v
            .trim_start_matches('+')
            .parse()
            .ok()
            .filter(|&i: &f64| i >= 0.0)
            .ok_or_else(|| super::Usage(format!("Invalid argument for --interval: {v}")).into()),
        None => Ok(15.0),
    }
}

pub fn pvmove(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let secs = interval(a)?;
    if let Some(p) = a.get("alloc") {
        if !["normal", "anywhere", "contiguous", "cling", "inherit"].contains(&p) {
            return usage(format!("Invalid argument for --alloc: {p}"));
        }
    }
    if a.has("abort") {
        let src = a.pos.first().map(std::path::PathBuf::from);
        pvmove::abort(&mut ctx.s, src.as_deref())?;
        return Ok(0);
    }
    let Some(first) = a.pos.first() else {
        // Bare `pvmove`: poll every move in flight.
        let moves = pvmove::all_in_flight(&mut ctx.s)?;
        return poll_all(ctx, a, moves, secs);
    };
    let o = PvMove {
        source: Some(PvArg::parse(first)?),
        dests: a.pos[1..].iter().map(|d| PvArg::parse(d)).collect::<Result<_, _>>()?,
        name: a.get("name").map(String::from),
        alloc: a.get("alloc").map(String::from),
        atomic: a.has("atomic"),
    };
    let f = match pvmove::pvmove(&mut ctx.s, &o)? {
        Started::New(f) | Started::Resumed(f) => f,
    };
    poll_all(ctx, a, vec![f], secs)
}

fn poll_all(ctx: &mut Ctx, a: &Args, moves: Vec<InFlight>, secs: f64) -> Result<i32> {
    for f in moves {
        if a.has("background") {
            spawn_poller(ctx, &f.vg, &f.lv);
        } else {
            poll(ctx, &f, secs, a.has("interval"))?;
        }
    }
    Ok(0)
}

/// Polls one move to its end with LVM's progress lines.
fn poll(ctx: &mut Ctx, f: &InFlight, secs: f64, interval_given: bool) -> Result<()> {
    let vg = ctx.vg(&f.vg, true)?;
    let Some(mut job) = jobs::job_of(&vg, &f.lv) else { return Ok(()) };
    let bar = !interval_given && std::io::stdout().is_terminal();
    let quiet = secs == 0.0 && !bar;
    let step = if bar {
        Duration::from_millis(200)
    } else if secs == 0.0 {
        Duration::from_millis(100)
    } else {
        Duration::from_secs_f64(secs)
    };
    let src = f.source.clone();
    let outcome = jobs::poll(&mut ctx.s, job.as_mut(), step, &mut |p| {
        let pct = p.percent();
        if bar {
            print!("\r  {src}: Moved: {} {pct:6.2}%", crate::progress::bar(p.done, p.total, 20));
            let _ = std::io::stdout().flush();
        } else if !quiet {
            println!("  {src}: Moved: {pct:.2}%");
        }
        Next::Continue
    })?;
    match outcome {
        Outcome::Inactive => {
            anyhow::bail!("{}/{}: Skipping inactive LV. Try lvchange or vgchange.", f.vg, f.lv)
        }
        Outcome::Stopped => {}
        Outcome::Finished(_) | Outcome::FinishedElsewhere => {
            if bar {
                println!("\r  {src}: Moved: {} 100.00%", crate::progress::bar(1, 1, 20));
            } else if !quiet {
                println!("  {src}: Moved: 100.00%");
            }
        }
    }
    Ok(())
}
