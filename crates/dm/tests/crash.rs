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
