//! Crash-replay tests: every write and flush to the origin and COW goes to
//! one log; each prefix of it (whole, with unflushed writes lost, or with
//! a torn last write) is replayed as a crash, the devices are re-activated
//! from the images, and the test checks that every acknowledged write
//! survived, that the snapshot shows exactly its point in time, and that a
//! half-done merge finishes correctly.

mod common;
use common::*;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, MemDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_testkit::{replay, stamped, CrashMode, Log, LogDevice};

const ORIGIN: u64 = 256;
const COW: u64 = 1024;
const MODES: [CrashMode; 4] =
    [CrashMode::AllWritten, CrashMode::FlushedOnly, CrashMode::TornLast, CrashMode::Reordered];

/// A COW as LVM hands it over: the first 4 KiB zeroed, garbage after it,
/// so that a metadata area that was never zeroed would be misread.
fn fresh_cow() -> Vec<u8> {
    let mut c = vec![0xeeu8; (COW * 512) as usize];
    c[..4096].fill(0);
    c
}

fn initial_origin() -> Vec<u8> {
    (0..ORIGIN).flat_map(|s| stamped(512, 0x5eed, s)).collect()
}

/// A user write: which device, where, what.
#[derive(Clone)]
struct Write {
    snap: bool,
    at: u64,
    data: Vec<u8>,
}

fn writes() -> Vec<Write> {
    let mut out = Vec::new();
    for i in 0..48u64 {
        let at = (i * 37) % (ORIGIN - 8);
        let len = 1 + (i % 5);
        out.push(Write { snap: i % 4 == 3, at, data: stamped((len * 512) as usize, 100 + i, at) });
    }
    out
}

fn apply(img: &mut [u8], w: &Write) {
    let off = (w.at * 512) as usize;
    img[off..off + w.data.len()].copy_from_slice(&w.data);
}

/// Each sector of `got` in `[at, at+len)` is from `old` or `new`; outside
/// it, `got == old`.
fn old_or_new(got: &[u8], old: &[u8], new: &[u8], what: &str, prefix: usize, mode: CrashMode) {
    for s in 0..got.len() / 512 {
        let r = s * 512..(s + 1) * 512;
        assert!(
            got[r.clone()] == old[r.clone()] || got[r.clone()] == new[r.clone()],
            "{what}: sector {s} is neither the acknowledged nor the in-flight contents (prefix {prefix}, {mode:?})"
        );
    }
}

#[test]
fn test_crash_at_every_point_keeps_acknowledged_writes_and_point_in_time() {
    let log = Log::default();
    let init = initial_origin();
    let origin = Arc::new(LogDevice::new(0, init.clone(), log.clone()));
    let cow = Arc::new(LogDevice::new(1, fresh_cow(), log.clone()));
    let reg = registry();
    reg.add_device("o", origin.clone());
    reg.add_device("c", cow.clone());
    let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-origin o"));
    let snap = create(&reg, "snap", &format!("0 {ORIGIN} snapshot o c P 1"));

    // Model after each acknowledged write: (origin view, snapshot view).
    // Before the first write both views are the initial origin, whatever
    // happened to the COW's formatting.
    let mut states = vec![(init.clone(), init.clone(), 0)];
    for w in writes() {
        let dev = if w.snap { &snap } else { &base };
        dev.write(Sectors(w.at), &w.data).unwrap();
        dev.flush().unwrap();
        let (mut o, mut s, _) = states.last().unwrap().clone();
        apply(if w.snap { &mut s } else { &mut o }, &w);
        states.push((o, s, log.len()));
    }
    assert!(!status(&reg, "snap").contains("Invalid"));
    let ops = log.ops();
    let zero_cow = fresh_cow();
    let mut checked = 0;
    for prefix in 0..=ops.len() {
        // The last write acknowledged at this point, and the one in flight.
        let acked = states.iter().rposition(|s| s.2 <= prefix).unwrap();
        for mode in MODES {
            let imgs = replay(&[init.clone(), zero_cow.clone()], &ops, prefix, mode);
            let reg = registry();
            reg.add_device("o", Arc::new(MemDevice::from_bytes("o", imgs[0].clone())));
            reg.add_device("c", Arc::new(MemDevice::from_bytes("c", imgs[1].clone())));
            let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-origin o"));
            let snap = match reg.create("snap", None, Some(&table(&format!("0 {ORIGIN} snapshot o c P 1"))), false) {
                Ok(_) => reg.device("snap").unwrap(),
                Err(e) => panic!("prefix {prefix} {mode:?}: COW refused after crash: {e}"),
            };
            assert!(!status(&reg, "snap").contains("Invalid"), "prefix {prefix} {mode:?}: snapshot invalid");
            let got_o = read(&*base, 0, (ORIGIN * 512) as usize);
            let got_s = read(&*snap, 0, (ORIGIN * 512) as usize);
            let (ack_o, ack_s, _) = &states[acked];
            let (next_o, next_s, _) = states.get(acked + 1).unwrap_or(&states[acked]);
            old_or_new(&got_o, ack_o, next_o, "origin", prefix, mode);
            old_or_new(&got_s, ack_s, next_s, "snapshot", prefix, mode);
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} crash points");
}

/// Builds origin and COW images holding a snapshot with `n` exceptions
/// over several areas (chunk 1: 32 records per area).
fn snapshot_images(n: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let init = initial_origin();
    let origin = Arc::new(MemDevice::from_bytes("o", init.clone()));
    let cow = Arc::new(MemDevice::from_bytes("c", vec![0u8; (COW * 512) as usize]));
    let reg = registry();
    reg.add_device("o", origin.clone());
    reg.add_device("c", cow.clone());
    let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-origin o"));
    create(&reg, "snap", &format!("0 {ORIGIN} snapshot o c P 1"));
    for i in 0..n {
        let s = (i * 7) % ORIGIN;
        base.write(Sectors(s), &stamped(512, 0xbad, s)).unwrap();
    }
    (init, origin.snapshot_bytes(), cow.snapshot_bytes())
}

#[test]
fn test_crash_during_merge_resumes_and_finishes_correctly() {
    let (snapshot_view, origin_img, cow_img) = snapshot_images(100);
    let log = Log::default();
    let origin = Arc::new(LogDevice::new(0, origin_img.clone(), log.clone()));
    let cow = Arc::new(LogDevice::new(1, cow_img.clone(), log.clone()));
    // 24 records (of 512 bytes) per step: steps cross area boundaries.
    let reg = registry_with_batch(24 * 512);
    reg.add_device("o", origin.clone());
    reg.add_device("c", cow.clone());
    let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-merge o c P 1"));
    // A write during the merge, acknowledged by a flush.
    let extra = Write { snap: false, at: 14, data: stamped(1024, 0xfeed, 14) };
    let mut expected = snapshot_view.clone();
    apply(&mut expected, &extra);
    let mut steps = 0;
    let mut extra_acked_at = None;
    loop {
        match reg.step_background("base").unwrap() {
            Some(Step::Progress) => steps += 1,
            Some(Step::Done) => break,
            other => panic!("merge: {other:?}"),
        }
        if steps == 3 {
            base.write(Sectors(extra.at), &extra.data).unwrap();
            base.flush().unwrap();
            extra_acked_at = Some(log.len());
        }
    }
    assert!(steps >= 4, "merge took only {steps} steps: it must cross areas");
    assert_eq!(read(&*origin, 0, (ORIGIN * 512) as usize), expected);
    let ops = log.ops();
    let acked = extra_acked_at.unwrap();
    let mut with_extra = snapshot_view.clone();
    apply(&mut with_extra, &extra);
    for prefix in 0..=ops.len() {
        for mode in MODES {
            let imgs = replay(&[origin_img.clone(), cow_img.clone()], &ops, prefix, mode);
            let reg = registry_with_batch(24 * 512);
            let o = Arc::new(MemDevice::from_bytes("o", imgs[0].clone()));
            reg.add_device("o", o.clone());
            reg.add_device("c", Arc::new(MemDevice::from_bytes("c", imgs[1].clone())));
            let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-merge o c P 1"));
            let want = if prefix >= acked { &with_extra } else { &snapshot_view };
            let got = read(&*base, 0, (ORIGIN * 512) as usize);
            old_or_new(&got, want, &with_extra, "merging origin", prefix, mode);
            while reg.step_background("base").unwrap() == Some(Step::Progress) {}
            let st = status(&reg, "base");
            assert!(st.ends_with(" 2/1024 2"), "prefix {prefix} {mode:?}: merge not finished: {st}");
            let merged = read(&*o, 0, (ORIGIN * 512) as usize);
            assert_eq!(merged, got, "prefix {prefix} {mode:?}: merged origin differs from the merging view");
        }
    }
}

/// Concurrent origin writers: group commits are pipelined (one flush
/// covers a group's data and the previous group's metadata). Every crash
/// point must still show the snapshot exactly and keep flushed writes.
#[test]
fn test_crash_with_concurrent_writers_and_pipelined_commits() {
    let log = Log::default();
    let init = initial_origin();
    let origin = Arc::new(LogDevice::new(0, init.clone(), log.clone()));
    let cow = Arc::new(LogDevice::new(1, fresh_cow(), log.clone()));
    let reg = std::sync::Arc::new(registry());
    reg.add_device("o", origin.clone());
    reg.add_device("c", cow.clone());
    let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-origin o"));
    create(&reg, "snap", &format!("0 {ORIGIN} snapshot o c P 1"));
    // (sector, data, log length when its flush returned)
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (base, acked, log) = (base.clone(), acked.clone(), log.clone());
            std::thread::spawn(move || {
                for i in 0..40u64 {
                    let s = t + 4 * i;
                    let data = stamped(512, 0x900d + t, s);
                    base.write(Sectors(s), &data).unwrap();
                    base.flush().unwrap();
                    acked.lock().unwrap().push((s, data, log.len()));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let ops = log.ops();
    let acked = acked.lock().unwrap().clone();
    let zero_cow = fresh_cow();
    for prefix in 0..=ops.len() {
        for mode in MODES {
            let imgs = replay(&[init.clone(), zero_cow.clone()], &ops, prefix, mode);
            let reg = registry();
            reg.add_device("o", Arc::new(MemDevice::from_bytes("o", imgs[0].clone())));
            reg.add_device("c", Arc::new(MemDevice::from_bytes("c", imgs[1].clone())));
            let base = create(&reg, "base", &format!("0 {ORIGIN} snapshot-origin o"));
            let snap = create(&reg, "snap", &format!("0 {ORIGIN} snapshot o c P 1"));
            assert!(
                read(&*snap, 0, (ORIGIN * 512) as usize) == init,
                "prefix {prefix} {mode:?}: snapshot lost its point in time"
            );
            for (s, data, at) in &acked {
                if *at <= prefix {
                    assert!(read(&*base, s * 512, 512) == *data, "prefix {prefix} {mode:?}: flushed write {s} lost");
                }
            }
        }
    }
}

/// dm-clone's metadata path: hydration in the background and whole-region
/// writes, with commits at flushes. After a crash at any point, in any
/// mode, every region the metadata calls hydrated holds the source's data
/// or the data written to it, never stale bytes; and hydration resumes and
/// completes from what was recorded.
#[test]
fn test_clone_crash_never_marks_stale_regions_hydrated() {
    use ulvm_dm::clone::{metadata::Metadata, CloneTarget};
    use ulvm_dm::table::{DevNum, TargetArgs};
    use ulvm_dm::target::{EventSink, Target, Underlying};
    const SECTORS: u64 = 256; // 32 regions of 8 sectors
    const REGION: u64 = 8;
    let src_bytes = stamped((SECTORS * 512) as usize, 0xc10, 0);
    let pattern = |r: u64| stamped(4096, 0xabc, r);
    let build = |meta: ulvm_blockdev::DeviceRef, dest: ulvm_blockdev::DeviceRef| {
        let line: ulvm_dm::TableLine =
            format!("0 {SECTORS} clone 9:0 9:1 9:2 {REGION} 0 4 hydration_threshold 3 hydration_batch_size 3")
                .parse()
                .unwrap();
        let TargetArgs::Clone(args) = line.target else { unreachable!() };
        let src: ulvm_blockdev::DeviceRef = Arc::new(MemDevice::from_bytes("src", src_bytes.clone()));
        CloneTarget::new(
            &args,
            Underlying::detached(DevNum { major: 9, minor: 0 }, meta),
            Underlying::detached(DevNum { major: 9, minor: 1 }, dest),
            Underlying::detached(DevNum { major: 9, minor: 2 }, src),
            Sectors(SECTORS),
            Arc::new(EventSink::default()),
            std::time::Duration::ZERO,
        )
        .unwrap()
    };
    let log = Log::default();
    let meta0 = vec![0u8; 256 * 4096];
    let dest0 = vec![0u8; (SECTORS * 512) as usize];
    // Format first, outside the log: the crash points are after it.
    let formatted = Arc::new(MemDevice::from_bytes("m", meta0.clone()));
    Metadata::open(formatted.clone(), REGION, SECTORS).unwrap();
    let meta_start = formatted.snapshot_bytes();
    let meta = Arc::new(LogDevice::new(0, meta_start.clone(), log.clone()));
    let dest = Arc::new(LogDevice::new(1, dest0.clone(), log.clone()));
    let t = build(meta.clone(), dest.clone());
    let written: Vec<u64> = vec![3, 11, 12, 30];
    let mut steps = 0;
    for (i, r) in written.iter().enumerate() {
        t.write(Sectors(r * REGION), &pattern(*r)).unwrap();
        for _ in 0..3 {
            if t.background_step() == Some(Step::Progress) {
                steps += 1;
            }
        }
        if i % 2 == 1 {
            t.flush().unwrap();
        }
    }
    while t.background_step() == Some(Step::Progress) {
        steps += 1;
        if steps % 4 == 0 {
            t.flush().unwrap();
        }
    }
    t.flush().unwrap();
    drop(t);
    let ops = log.ops();
    // Each sector of a hydrated region is the source's or, for a region
    // written to, the written one (a torn in-flight write mixes them).
    let fits = |r: u64, got: &[u8]| -> bool {
        let s = (r * REGION * 512) as usize;
        (0..8).all(|i| {
            let sec = &got[i * 512..(i + 1) * 512];
            sec == &src_bytes[s + i * 512..s + (i + 1) * 512]
                || (written.contains(&r) && sec == &pattern(r)[i * 512..(i + 1) * 512])
        })
    };
    for mode in MODES {
        for prefix in 0..=ops.len() {
            let imgs = replay(&[meta_start.clone(), dest0.clone()], &ops, prefix, mode);
            let mref: ulvm_blockdev::DeviceRef = Arc::new(MemDevice::from_bytes("m", imgs[0].clone()));
            let md = Metadata::open(mref.clone(), REGION, SECTORS)
                .unwrap_or_else(|e| panic!("metadata unreadable after a crash (prefix {prefix}, {mode:?}): {e}"));
            for r in 0..SECTORS / REGION {
                if md.is_hydrated(r) {
                    let s = (r * REGION * 512) as usize;
                    let got = imgs[1][s..s + 4096].to_vec();
                    assert!(fits(r, &got), "region {r} recorded hydrated with stale data (prefix {prefix}, {mode:?})");
                }
            }
            // Hydration resumes from the record and completes.
            let dref: ulvm_blockdev::DeviceRef = Arc::new(MemDevice::from_bytes("d", imgs[1].clone()));
            let t = build(mref, dref.clone());
            while t.background_step() == Some(Step::Progress) {}
            let mut out = vec![0u8; (SECTORS * 512) as usize];
            dref.read(Sectors(0), &mut out).unwrap();
            for r in 0..SECTORS / REGION {
                let s = (r * REGION * 512) as usize;
                assert!(fits(r, &out[s..s + 4096]), "region {r} after recovery (prefix {prefix}, {mode:?})");
            }
        }
    }
}
