//! In-process data-path benchmark on files, side by side with plain file
//! I/O doing the minimum work the same job needs.
//!
//! `cargo bench -p ulvm-dm --bench datapath [-- --mib N --dir DIR]`
//!
//! * origin first writes with 0 (plain linear), 1, 4 and 16 snapshots,
//!   against a hand-written copy-out (one origin read + N COW writes per
//!   chunk, then the origin write), with the I/O counted per chunk;
//! * snapshot reads (half the chunks in the COW) against plain file reads;
//! * merge against a plain sequential copy of the same data on the same
//!   files (read + write + fdatasync).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ulvm_blockdev::{BlockDevice, DeviceRef, FileDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_dm::{Background, Registry, RegistryConfig, Table};
use ulvm_testkit::CountingDevice;

const CHUNK_SECTORS: u64 = 16; // 8 KiB, the kernel document's example
const IO: usize = 1 << 20;

struct Opts {
    mib: u64,
    dir: PathBuf,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    Opts {
        mib: get("--mib").and_then(|v| v.parse().ok()).unwrap_or(128),
        dir: get("--dir").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("ulvm-bench")),
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
    println!("\n## origin first writes: {} MiB in 1 MiB requests, chunk {} KiB", o.mib, CHUNK_SECTORS / 2);
    println!("{:>9} {:>12} {:>14} {:>7} {:>22} {:>22}", "snapshots", "ulvm MiB/s", "by hand MiB/s", "ratio", "origin reads/chunk", "COW data writes/chunk");
    for n in [0usize, 1, 4, 16] {
        // ulvm
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
        let top = if n == 0 { format!("0 {sectors} linear origin 0") } else { format!("0 {sectors} snapshot-origin origin") };
        reg.create("base", None, Some(&table(&top)), false).unwrap();
        for i in 0..n {
            reg.create(&format!("s{i}"), None, Some(&table(&format!("0 {sectors} snapshot origin cow{i} P {CHUNK_SECTORS}"))), false).unwrap();
        }
        let before_reads = origin.totals()[1];
        let before_cow: u64 = cows.iter().map(|c| c.totals()[3]).sum();
        let t_ulvm = write_all(&*reg.device("base").unwrap(), sectors);
        let origin_read_chunks = (origin.totals()[1] - before_reads) as f64 / (CHUNK_SECTORS * 512) as f64 / chunks as f64;
        let cow_bytes: u64 = cows.iter().map(|c| c.totals()[3]).sum::<u64>() - before_cow;
        // Metadata writes are one chunk per area write; count data only.
        let meta_writes: u64 = cows.iter().map(|c| c.totals()[2]).sum::<u64>();
        let _ = meta_writes;
        let cow_data_chunks = cow_bytes as f64 / (CHUNK_SECTORS * 512) as f64 / chunks as f64;
        drop(reg);

        // By hand: the same copy-out with plain file I/O and the same
        // durability (one fdatasync per COW before and after its metadata).
        let hdir = o.dir.join(format!("hand{n}"));
        std::fs::create_dir_all(&hdir).unwrap();
        let horigin = file(&hdir, "origin", sectors);
        fill(&*horigin, sectors, 0x11);
        let hcows: Vec<DeviceRef> = (0..n).map(|i| file(&hdir, &format!("cow{i}"), sectors + sectors / 8) as DeviceRef).collect();
        let buf = vec![0xab; IO];
        let mut old = vec![0u8; IO];
        let meta = vec![0u8; (CHUNK_SECTORS * 512) as usize];
        let t = Instant::now();
        let mut s = 0;
        while s < sectors {
            if n > 0 {
                horigin.read(Sectors(s), &mut old).unwrap();
                for c in &hcows {
                    c.write(Sectors(s + 2 * CHUNK_SECTORS), &old).unwrap();
                    c.flush().unwrap();
                    c.write(Sectors(CHUNK_SECTORS), &meta).unwrap();
                    c.flush().unwrap();
                }
            }
            horigin.write(Sectors(s), &buf).unwrap();
            s += (IO / 512) as u64;
        }
        horigin.flush().unwrap();
        let t_hand = t.elapsed();
        let bytes = sectors * 512;
        println!(
            "{:>9} {:>12.1} {:>14.1} {:>7.2} {:>22.2} {:>22.2}",
            n,
            mbps(bytes, t_ulvm),
            mbps(bytes, t_hand),
            t_hand.as_secs_f64() / t_ulvm.as_secs_f64(),
            origin_read_chunks,
            cow_data_chunks - if n > 0 { 0.0 } else { 0.0 }
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&hdir);
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
    reg.create("snap", None, Some(&table(&format!("0 {sectors} snapshot origin cow P {CHUNK_SECTORS}"))), false).unwrap();
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
    println!("plain file read {:.1} MiB/s, snapshot read {:.1} MiB/s, ratio {:.2}", mbps(bytes, t_plain), mbps(bytes, t_snap), t_plain.as_secs_f64() / t_snap.as_secs_f64());
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
    reg.create("snap", None, Some(&table(&format!("0 {sectors} snapshot origin cow P {CHUNK_SECTORS}"))), false).unwrap();
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

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--exact") {
        return; // `cargo test --benches` probes; nothing to list.
    }
    let o = opts();
    std::fs::create_dir_all(&o.dir).unwrap();
    println!("# ulvm data-path benchmark in {} ({} MiB per run)", o.dir.display(), o.mib);
    bench_origin_writes(&o);
    bench_snapshot_reads(&o);
    bench_merge(&o);
    let _ = std::fs::remove_dir_all(&o.dir);
}
