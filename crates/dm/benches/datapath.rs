//! In-process data-path benchmark on files, side by side with plain file
//! I/O doing the minimum work the same job needs.
//!
//! `cargo bench -p ulvm-dm --bench datapath [-- --mib N --dir DIR]`
//!
//! * origin first writes with 0 (plain linear), 1, 4 and 16 snapshots,
//!   with the I/O counted per chunk and per request (the target: one origin
//!   read plus N COW writes per chunk);
//! * snapshot reads (half the chunks in the COW) against plain file reads;
//! * merge against a plain sequential copy of the same data on the same
//!   files (read + write + fdatasync);
//! * mirror writes with two legs (core log, and disk log) against a linear
//!   LV on one file.
//!
//! `-- --only NAME` runs one section (`origin`, `reads`, `merge`, `mirror`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ulvm_blockdev::{BlockDevice, FileDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_dm::{Background, Registry, RegistryConfig, Table};
use ulvm_testkit::CountingDevice;

const CHUNK_SECTORS: u64 = 16; // 8 KiB, the kernel document's example
const IO: usize = 1 << 20;

struct Opts {
    mib: u64,
    dir: PathBuf,
    only: Option<String>,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    Opts {
        mib: get("--mib").and_then(|v| v.parse().ok()).unwrap_or(128),
        dir: get("--dir").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("ulvm-bench")),
        only: get("--only"),
    }
}

fn file(dir: &Path, name: &str, sectors: u64) -> Arc<FileDevice> {
    Arc::new(FileDevice::create(dir.join(name), Sectors(sectors)).unwrap())
}

fn fill(dev: &dyn BlockDevice, sectors: u64, byte: u8) {
    let buf = vec![byte; IO];
    let mut s = 0;
    while s < sectors {
        dev.write(Sectors(s), &buf).unwrap();
        s += (IO / 512) as u64;
    }
    dev.flush().unwrap();
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn registry() -> Registry {
    Registry::new(RegistryConfig { background: Background::Manual, ..RegistryConfig::default() })
}

fn table(s: &str) -> Table {
    s.parse().unwrap()
}

/// Writes the whole origin once through `dev` in 1 MiB requests, then flushes.
fn write_all(dev: &dyn BlockDevice, sectors: u64) -> Duration {
    let buf = vec![0xab; IO];
    let t = Instant::now();
    let mut s = 0;
    while s < sectors {
        dev.write(Sectors(s), &buf).unwrap();
        s += (IO / 512) as u64;
    }
    dev.flush().unwrap();
    t.elapsed()
}

fn bench_origin_writes(o: &Opts) {
    let sectors = o.mib * 2048;
    let chunks = sectors / CHUNK_SECTORS;
    let requests = (sectors * 512) as f64 / IO as f64;
    println!("\n## origin first writes: {} MiB in 1 MiB requests, chunk {} KiB", o.mib, CHUNK_SECTORS / 2);
    println!("(per snapshot: COW writes and flushes per request; the kernel does 1 data + 1 metadata write and PREFLUSH+FUA)");
    println!(
        "{:>9} {:>10} {:>12} {:>18} {:>20} {:>18} {:>18}",
        "snapshots",
        "MiB/s",
        "vs linear",
        "origin reads/chunk",
        "COW data writes/chunk",
        "COW writes/request",
        "COW flushes/request"
    );
    let mut linear = None;
    for n in [0usize, 1, 4, 16] {
        let dir = o.dir.join(format!("ow{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let origin_file = file(&dir, "origin", sectors);
        fill(&*origin_file, sectors, 0x11);
        let origin = Arc::new(CountingDevice::new(origin_file.clone()));
        let reg = registry();
        reg.add_device("origin", origin.clone());
        let mut cows = Vec::new();
        for i in 0..n {
            let c = Arc::new(CountingDevice::new(file(&dir, &format!("cow{i}"), sectors + sectors / 8)));
            reg.add_device(&format!("cow{i}"), c.clone());
            cows.push(c);
        }
        let top =
            if n == 0 { format!("0 {sectors} linear origin 0") } else { format!("0 {sectors} snapshot-origin origin") };
        reg.create("base", None, Some(&table(&top)), false).unwrap();
        for i in 0..n {
            reg.create(
                &format!("s{i}"),
                None,
                Some(&table(&format!("0 {sectors} snapshot origin cow{i} P {CHUNK_SECTORS}"))),
                false,
            )
            .unwrap();
        }
        let origin_before = origin.totals();
        let cow_before: Vec<[u64; 5]> = cows.iter().map(|c| c.totals()).collect();
        let t = write_all(&*reg.device("base").unwrap(), sectors);
        let mib_s = mbps(sectors * 512, t);
        let base_rate = *linear.get_or_insert(mib_s);
        let reads_per_chunk =
            (origin.totals()[1] - origin_before[1]) as f64 / (CHUNK_SECTORS * 512) as f64 / chunks as f64;
        let (mut data, mut ops, mut flushes) = (0f64, 0f64, 0f64);
        for (c, b) in cows.iter().zip(&cow_before) {
            let now = c.totals();
            data += (now[3] - b[3]) as f64;
            ops += (now[2] - b[2]) as f64;
            flushes += (now[4] - b[4]) as f64;
        }
        let per_snap = n.max(1) as f64;
        // Data bytes include one metadata chunk per request and snapshot.
        let meta_bytes = ops / 2.0 * (CHUNK_SECTORS * 512) as f64;
        println!(
            "{:>9} {:>10.1} {:>12.2} {:>18.2} {:>20.2} {:>18.2} {:>18.2}",
            n,
            mib_s,
            mib_s / base_rate,
            reads_per_chunk,
            (data - meta_bytes) / (CHUNK_SECTORS * 512) as f64 / chunks as f64,
            ops / requests / per_snap,
            flushes / requests / per_snap
        );
        drop(reg);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn bench_snapshot_reads(o: &Opts) {
    let sectors = o.mib * 2048;
    let dir = o.dir.join("reads");
    std::fs::create_dir_all(&dir).unwrap();
    let origin = file(&dir, "origin", sectors);
    fill(&*origin, sectors, 0x22);
    let reg = registry();
    reg.add_device("origin", origin.clone());
    reg.add_device("cow", file(&dir, "cow", sectors));
    reg.create("base", None, Some(&table(&format!("0 {sectors} snapshot-origin origin"))), false).unwrap();
    reg.create("snap", None, Some(&table(&format!("0 {sectors} snapshot origin cow P {CHUNK_SECTORS}"))), false)
        .unwrap();
    // Every other 1 MiB gets copied out: half the chunks live in the COW.
    let base = reg.device("base").unwrap();
    let mut s = 0;
    while s < sectors {
        base.write(Sectors(s), &vec![0x33; IO]).unwrap();
        s += 2 * (IO / 512) as u64;
    }
    let snap = reg.device("snap").unwrap();
    let mut buf = vec![0u8; IO];
    let read_all = |dev: &dyn BlockDevice, buf: &mut [u8]| {
        let t = Instant::now();
        let mut s = 0;
        while s < sectors {
            dev.read(Sectors(s), buf).unwrap();
            s += (IO / 512) as u64;
        }
        t.elapsed()
    };
    let t_plain = read_all(&*origin, &mut buf);
    let t_snap = read_all(&*snap, &mut buf);
    let bytes = sectors * 512;
    println!("\n## snapshot reads: {} MiB in 1 MiB requests, half the chunks in the COW", o.mib);
    println!(
        "plain file read {:.1} MiB/s, snapshot read {:.1} MiB/s, ratio {:.2}",
        mbps(bytes, t_plain),
        mbps(bytes, t_snap),
        t_plain.as_secs_f64() / t_snap.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench_merge(o: &Opts) {
    let sectors = o.mib * 2048;
    let dir = o.dir.join("merge");
    std::fs::create_dir_all(&dir).unwrap();
    let origin = file(&dir, "origin", sectors);
    fill(&*origin, sectors, 0x44);
    let reg = registry();
    reg.add_device("origin", origin.clone());
    let cow = file(&dir, "cow", sectors + sectors / 8);
    reg.add_device("cow", cow.clone());
    reg.create("base", None, Some(&table(&format!("0 {sectors} snapshot-origin origin"))), false).unwrap();
    reg.create("snap", None, Some(&table(&format!("0 {sectors} snapshot origin cow P {CHUNK_SECTORS}"))), false)
        .unwrap();
    write_all(&*reg.device("base").unwrap(), sectors);
    reg.remove("snap").unwrap();
    reg.suspend("base").unwrap();
    reg.load("base", &table(&format!("0 {sectors} snapshot-merge origin cow P {CHUNK_SECTORS}")), false).unwrap();
    reg.resume("base").unwrap();
    let t = Instant::now();
    while reg.step_background("base").unwrap() == Some(Step::Progress) {}
    let t_merge = t.elapsed();
    assert_eq!(reg.step_background("base").unwrap(), Some(Step::Done));
    drop(reg);

    // Plain sequential copy of the same amount, same files, 4 MiB I/Os.
    let mut buf = vec![0u8; 4 << 20];
    let t = Instant::now();
    let mut s = 0;
    while s < sectors {
        cow.read(Sectors(s + 2 * CHUNK_SECTORS), &mut buf).unwrap();
        origin.write(Sectors(s), &buf).unwrap();
        s += (buf.len() / 512) as u64;
    }
    origin.flush().unwrap();
    let t_copy = t.elapsed();
    let bytes = sectors * 512;
    println!("\n## merge: {} MiB of exceptions, chunk {} KiB", o.mib, CHUNK_SECTORS / 2);
    println!(
        "plain copy {:.1} MiB/s, merge {:.1} MiB/s, merge/copy {:.2}",
        mbps(bytes, t_copy),
        mbps(bytes, t_merge),
        t_copy.as_secs_f64() / t_merge.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sequential 1 MiB writes and a final flush to a linear LV, and to
/// two-legged mirrors in sync (every write goes to both legs), each on
/// fresh files filled first, in one run; the best of three rounds.
fn bench_mirror_writes(o: &Opts) {
    let sectors = o.mib * 2048;
    println!("\n## mirror writes: {} MiB in 1 MiB requests + flush, region 2 MiB, legs in sync, best of 3", o.mib);
    println!("{:>24} {:>10} {:>12}", "target", "MiB/s", "vs linear");
    let mut linear = None;
    for (name, line) in [
        ("linear", format!("0 {sectors} linear l0 0")),
        ("mirror core, 2 legs", format!("0 {sectors} mirror core 2 4096 nosync 2 l0 0 l1 0")),
        ("mirror disk, 2 legs", format!("0 {sectors} mirror disk 3 lg 4096 nosync 2 l0 0 l1 0")),
    ] {
        let dir = o.dir.join("mirror");
        std::fs::create_dir_all(&dir).unwrap();
        let reg = registry();
        for leg in ["l0", "l1"] {
            let f = file(&dir, leg, sectors);
            fill(&*f, sectors, 0x11);
            reg.add_device(leg, f);
        }
        reg.add_device("lg", file(&dir, "lg", 2048));
        reg.create("m", None, Some(&table(&line)), false).unwrap();
        let t = (0..3).map(|_| write_all(&*reg.device("m").unwrap(), sectors)).min().expect("three rounds");
        let mib_s = mbps(sectors * 512, t);
        let base = *linear.get_or_insert(mib_s);
        println!("{:>24} {:>10.1} {:>12.2}", name, mib_s, mib_s / base);
        drop(reg);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--exact") {
        return; // `cargo test --benches` probes; nothing to list.
    }
    let o = opts();
    std::fs::create_dir_all(&o.dir).unwrap();
    println!("# ulvm data-path benchmark in {} ({} MiB per run)", o.dir.display(), o.mib);
    let run = |name: &str| o.only.as_deref().is_none_or(|only| only == name);
    if run("origin") {
        bench_origin_writes(&o);
    }
    if run("reads") {
        bench_snapshot_reads(&o);
    }
    if run("merge") {
        bench_merge(&o);
    }
    if run("mirror") {
        bench_mirror_writes(&o);
    }
    let _ = std::fs::remove_dir_all(&o.dir);
}
