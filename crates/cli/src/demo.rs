//! `ulvm demo`: the kernel's snapshot document, end to end, on files.
//!
//! Until the daemon exists this is the main job: it drives the dm core
//! in-process, prints what `dmsetup` would print at each step, and checks
//! the results as it goes.

use anyhow::{ensure, Context, Result};
use std::path::Path;
use ulvm_blockdev::{BlockDevice, FileDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_dm::{Registry, Table};

const CHUNK: usize = 8192;

fn show(reg: &Registry, what: &str) -> Result<()> {
    println!("$ dmsetup {what}");
    for (name, _) in reg.list() {
        let lines: Vec<String> = if what == "table" {
            reg.table(&name, false)?.iter().map(ToString::to_string).collect()
        } else {
            reg.status(&name)?.iter().map(ToString::to_string).collect()
        };
        for l in lines {
            println!("{name}: {l}");
        }
    }
    Ok(())
}

fn create(reg: &Registry, name: &str, table: &str) -> Result<()> {
    println!("$ dmsetup create {name} --table \"{table}\"");
    let t: Table = table.parse()?;
    reg.create(name, None, Some(&t), false)?;
    Ok(())
}

fn label(text: &str) -> Vec<u8> {
    let mut b = vec![0u8; CHUNK];
    b[..text.len()].copy_from_slice(text.as_bytes());
    b
}

fn first_line(dev: &dyn BlockDevice, chunk: u64) -> Result<String> {
    let mut b = vec![0u8; CHUNK];
    dev.read(Sectors(chunk * 16), &mut b)?;
    let end = b.iter().position(|&c| c == 0 || c == b'\n').unwrap_or(0);
    Ok(String::from_utf8_lossy(&b[..end]).into_owned())
}

pub fn run(dir: &Path, origin_mib: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let origin_path = dir.join("origin.img");
    let cow_path = dir.join("cow.img");
    let sectors = origin_mib * 2048;
    ensure!(origin_mib >= 16, "--origin-mib must be at least 16");
    let origin = FileDevice::create(&origin_path, Sectors(sectors))?;
    FileDevice::create(&cow_path, Sectors(sectors / 4))?;
    for c in [0u64, 5, 7, 100] {
        origin.write(Sectors(c * 16), &label(&format!("ORIGINAL DATA chunk {c}")))?;
    }
    origin.flush()?;
    drop(origin);
    println!(
        "# origin {} ({sectors} sectors), COW {} ({} sectors)",
        origin_path.display(),
        cow_path.display(),
        sectors / 4
    );

    let reg = Registry::default();
    let (o, c) = (origin_path.display().to_string(), cow_path.display().to_string());
    create(&reg, "base", &format!("0 {sectors} snapshot-origin {o}"))?;
    create(&reg, "snap", &format!("0 {sectors} snapshot {o} {c} P 16"))?;
    show(&reg, "status")?;
    let base = reg.device("base")?;
    let snap = reg.device("snap")?;
    println!("# writing chunks 0, 5, 100 through the origin, chunk 7 through the snapshot, 1 MiB at chunk 1024");
    for ch in [0u64, 5, 100] {
        base.write(Sectors(ch * 16), &label(&format!("NEW ORIGIN DATA chunk {ch}")))?;
    }
    snap.write(Sectors(7 * 16), &label("WRITTEN TO SNAPSHOT chunk 7"))?;
    base.write(Sectors(1024 * 16), &vec![0u8; 1 << 20])?;
    base.flush()?;
    snap.flush()?;
    show(&reg, "table")?;
    show(&reg, "status")?;
    for ch in [0u64, 5, 7, 100] {
        println!("chunk {ch:<3} origin: {:<28} snapshot: {}", first_line(&*base, ch)?, first_line(&*snap, ch)?);
    }
    ensure!(first_line(&*snap, 0)? == "ORIGINAL DATA chunk 0", "snapshot lost its point in time");

    println!("$ dmsetup remove snap && dmsetup remove base");
    drop((base, snap));
    reg.remove("snap")?;
    reg.remove("base")?;
    println!("# re-activating the persistent snapshot from the same COW");
    create(&reg, "base", &format!("0 {sectors} snapshot-origin {o}"))?;
    create(&reg, "snap", &format!("0 {sectors} snapshot {o} {c} P 16"))?;
    show(&reg, "status")?;
    ensure!(first_line(&*reg.device("snap")?, 0)? == "ORIGINAL DATA chunk 0", "snapshot not persistent");

    println!("# merging the snapshot back: suspend both, snapshot-merge replaces snapshot-origin");
    reg.suspend("base")?;
    reg.suspend("snap")?;
    let merge: Table = format!("0 {sectors} snapshot-merge {o} {c} P 16").parse()?;
    reg.load("base", &merge, false)?;
    let events = reg.info("base")?.event_nr;
    reg.resume("base")?;
    show(&reg, "status")?;
    reg.load("snap", &format!("0 {sectors} error").parse()?, false)?;
    reg.resume("snap")?;
    reg.wait_event("base", events, Some(std::time::Duration::from_secs(60)))?;
    show(&reg, "status")?;
    let base = reg.device("base")?;
    for ch in [0u64, 5, 7, 100] {
        println!("chunk {ch:<3} origin after merge: {}", first_line(&*base, ch)?);
    }
    ensure!(first_line(&*base, 7)? == "WRITTEN TO SNAPSHOT chunk 7", "merge result wrong");
    ensure!(reg.step_background("base")? == Some(Step::Done), "merge not finished");
    drop(base);
    reg.remove_all()?;
    println!("# done: {} now holds the snapshot's contents", origin_path.display());
    Ok(())
}
