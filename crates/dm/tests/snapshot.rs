//! The snapshot targets through the registry, following the kernel's
//! snapshot document and the oracle's recorded outputs.

mod common;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, ErrorKind, MemDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_testkit::{Log, LogDevice};

const CHUNK: usize = 8192; // 16 sectors

/// Oracle demo 1, step for step: the same writes give the same status
/// lines and the same COW bytes the kernel wrote.
#[test]
fn test_kernel_demo_sequence_gives_kernel_status_and_cow_bytes() {
    let reg = registry();
    let origin = mem("origin", 131072);
    let cow = mem("cow", 32768);
    for c in [0u64, 5, 7, 100] {
        origin.write(Sectors(c * 16), &labelled(&format!("ORIGINAL DATA chunk {c}\n"), CHUNK)).unwrap();
    }
    reg.add_device("/dev/vda", as_dev(&origin));
    reg.add_device("/dev/vdb", as_dev(&cow));
    let base = create(&reg, "base", "0 131072 snapshot-origin /dev/vda");
    let snap = create(&reg, "snap", "0 131072 snapshot /dev/vda /dev/vdb P 16");
    assert_eq!(status(&reg, "snap"), "0 131072 snapshot 32/32768 32");
    assert_eq!(status(&reg, "base"), "0 131072 snapshot-origin ");

    for c in [0u64, 5, 100] {
        base.write(Sectors(c * 16), &labelled(&format!("NEW ORIGIN DATA chunk {c}\n"), CHUNK)).unwrap();
    }
    snap.write(Sectors(7 * 16), &labelled("WRITTEN TO SNAPSHOT chunk 7\n", CHUNK)).unwrap();
    for c in 1024..1152u64 {
        base.write(Sectors(c * 16), &vec![0u8; CHUNK]).unwrap();
    }
    assert_eq!(table_of(&reg, "base"), "0 131072 snapshot-origin 240:0");
    assert_eq!(table_of(&reg, "snap"), "0 131072 snapshot 240:0 240:1 P 16");
    assert_eq!(status(&reg, "snap"), "0 131072 snapshot 2144/32768 32");

    for (c, o, s) in [
        (0, "NEW ORIGIN DATA chunk 0", "ORIGINAL DATA chunk 0"),
        (5, "NEW ORIGIN DATA chunk 5", "ORIGINAL DATA chunk 5"),
        (7, "ORIGINAL DATA chunk 7", "WRITTEN TO SNAPSHOT chunk 7"),
        (100, "NEW ORIGIN DATA chunk 100", "ORIGINAL DATA chunk 100"),
    ] {
        assert!(read(&*base, c * CHUNK as u64, CHUNK).starts_with(o.as_bytes()), "origin chunk {c}");
        assert!(read(&*snap, c * CHUNK as u64, CHUNK).starts_with(s.as_bytes()), "snapshot chunk {c}");
    }

    // The COW bytes the kernel wrote (oracle README, demo 1).
    let img = cow.snapshot_bytes();
    assert_eq!(&img[..16], &[0x53, 0x6e, 0x41, 0x70, 1, 0, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0]);
    let rec = |i: usize| {
        let r = &img[8192 + i * 16..8192 + i * 16 + 16];
        (u64::from_le_bytes(r[..8].try_into().unwrap()), u64::from_le_bytes(r[8..].try_into().unwrap()))
    };
    assert_eq!(
        (0..8).map(rec).collect::<Vec<_>>(),
        [(0, 2), (5, 3), (100, 4), (7, 5), (1024, 6), (1025, 7), (1026, 8), (1027, 9)]
    );
    assert_eq!(rec(131), (1151, 133));
    assert_eq!(rec(132), (0, 0));

    drop((base, snap));
    reg.remove("snap").unwrap();
    reg.remove("base").unwrap();
    let snap = create(&reg, "snap", "0 131072 snapshot /dev/vda /dev/vdb P 16");
    assert_eq!(status(&reg, "snap"), "0 131072 snapshot 2144/32768 32");
    assert!(read(&*snap, 0, CHUNK).starts_with(b"ORIGINAL DATA chunk 0"));
}

#[test]
fn test_header_chunk_size_wins_and_table_prints_it() {
    let reg = registry();
    reg.add_device("o", as_dev(&mem("o", 4096)));
    reg.add_device("c", as_dev(&mem("c", 1024)));
    create(&reg, "s", "0 4096 snapshot o c P 16");
    reg.remove("s").unwrap();
    create(&reg, "s", "0 4096 snapshot o c P 8");
    assert_eq!(table_of(&reg, "s"), "0 4096 snapshot 240:0 240:1 P 16");
    reg.remove("s").unwrap();
    create(&reg, "s", "0 4096 snapshot o c P 0");
    assert_eq!(table_of(&reg, "s"), "0 4096 snapshot 240:0 240:1 P 16");
}

#[test]
fn test_default_chunk_size_for_new_store_is_32() {
    let reg = registry();
    reg.add_device("o", as_dev(&mem("o", 4096)));
    reg.add_device("c", as_dev(&mem("c", 1024)));
    create(&reg, "s", "0 4096 snapshot o c P 0");
    assert_eq!(table_of(&reg, "s"), "0 4096 snapshot 240:0 240:1 P 32");
    assert_eq!(status(&reg, "s"), "0 4096 snapshot 64/1024 64");
}

/// Two data chunks fit: the third origin write invalidates the snapshot.
#[test]
fn test_full_cow_invalidates_snapshot_and_origin_keeps_working() {
    let reg = registry();
    let cow = mem("c", 32); // chunk 8: header, area 0, chunks 2 and 3
    reg.add_device("o", as_dev(&mem("o", 1024)));
    reg.add_device("c", as_dev(&cow));
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    let snap = create(&reg, "snap", "0 1024 snapshot o c P 8");
    let ev = reg.info("snap").unwrap().event_nr;
    base.write(Sectors(0), &[1u8; 4096]).unwrap();
    base.write(Sectors(8), &[2u8; 4096]).unwrap();
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 32/32 16");
    base.write(Sectors(16), &[3u8; 4096]).unwrap();
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot Invalid");
    assert_eq!(read(&*base, 16 * 512, 4096), vec![3u8; 4096]);
    assert_eq!(snap.read(Sectors(0), &mut [0u8; 512]).unwrap_err().kind(), ErrorKind::Failed);
    assert!(reg.info("snap").unwrap().event_nr > ev, "invalidation raises an event");
    assert_eq!(&cow.snapshot_bytes()[4..8], &[0, 0, 0, 0], "header valid = 0 on disk");
    // Re-activation keeps it invalid.
    drop(snap);
    reg.remove("snap").unwrap();
    create(&reg, "snap", "0 1024 snapshot o c P 8");
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot Invalid");
}

#[test]
fn test_with_space_wait_a_write_to_a_full_cow_waits_for_it_to_grow() {
    // ulvm beyond the kernel: with `snapshot_space_wait`, the write that
    // finds the COW full waits (and raises an event) instead of
    // invalidating; an LVM autoextend reloads the COW larger and it goes on.
    let reg = ulvm_dm::Registry::new(ulvm_dm::RegistryConfig {
        background: ulvm_dm::Background::Manual,
        snapshot_space_wait: Duration::from_secs(20),
        ..ulvm_dm::RegistryConfig::default()
    });
    let store = mem("store", 64);
    reg.add_device("o", as_dev(&mem("o", 1024)));
    reg.add_device("store", as_dev(&store));
    create(&reg, "c", "0 32 linear store 0");
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    let _snap = create(&reg, "snap", "0 1024 snapshot o c P 8");
    let ev = reg.info("snap").unwrap().event_nr;
    base.write(Sectors(0), &[1u8; 4096]).unwrap();
    base.write(Sectors(8), &[2u8; 4096]).unwrap();
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 32/32 16");
    let b = base.clone();
    let writer = std::thread::spawn(move || b.write(Sectors(16), &[3u8; 4096]));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reg.info("snap").unwrap().event_nr == ev {
        assert!(std::time::Instant::now() < deadline, "no event while waiting for space");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!writer.is_finished(), "the write must wait, not fail");
    // The autoextend: the COW device grows by reloading its table.
    reg.load("c", &table("0 64 linear store 0"), false).unwrap();
    reg.suspend("c").unwrap();
    reg.resume("c").unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 40/64 16");
}

#[test]
fn test_po_snapshot_overflows_on_snapshot_write_and_reads_still_work() {
    let reg = registry();
    let origin = mem("o", 1024);
    origin.write(Sectors(40), &[9u8; 512]).unwrap();
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 32)));
    let snap = create(&reg, "snap", "0 1024 snapshot o c PO 8");
    snap.write(Sectors(0), &[1u8; 4096]).unwrap();
    snap.write(Sectors(8), &[2u8; 4096]).unwrap();
    assert_eq!(snap.write(Sectors(16), &[3u8; 4096]).unwrap_err().kind(), ErrorKind::Failed);
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot Overflow");
    assert_eq!(read(&*snap, 0, 4096), vec![1u8; 4096]);
    assert_eq!(read(&*snap, 40 * 512, 512), vec![9u8; 512]);
    assert!(snap.write(Sectors(0), &[1u8; 512]).is_err(), "writes fail after overflow");
    assert_eq!(table_of(&reg, "snap"), "0 1024 snapshot 240:0 240:1 PO 8");
}

#[test]
fn test_p_snapshot_write_past_full_invalidates() {
    let reg = registry();
    reg.add_device("o", as_dev(&mem("o", 1024)));
    reg.add_device("c", as_dev(&mem("c", 24)));
    let snap = create(&reg, "snap", "0 1024 snapshot o c P 8");
    snap.write(Sectors(0), &[1u8; 512]).unwrap();
    assert!(snap.write(Sectors(8), &[1u8; 512]).is_err());
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot Invalid");
}

#[test]
fn test_transient_store_status_and_contents() {
    let reg = registry();
    let origin = mem("o", 1024);
    origin.write(Sectors(0), &[5u8; 4096]).unwrap();
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 256)));
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    let snap = create(&reg, "snap", "0 1024 snapshot o c N 8");
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 0/256 0");
    base.write(Sectors(0), &[6u8; 4096]).unwrap();
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 8/256 0");
    assert_eq!(read(&*snap, 0, 4096), vec![5u8; 4096]);
    assert_eq!(table_of(&reg, "snap"), "0 1024 snapshot 240:0 240:1 N 8");
}

#[test]
fn test_partial_snapshot_write_keeps_rest_of_chunk() {
    let reg = registry();
    let origin = mem("o", 1024);
    origin.write(Sectors(0), &[7u8; 4096]).unwrap();
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 256)));
    let snap = create(&reg, "snap", "0 1024 snapshot o c P 8");
    snap.write(Sectors(2), &[1u8; 1024]).unwrap();
    let got = read(&*snap, 0, 4096);
    assert_eq!(&got[..1024], &[7u8; 1024]);
    assert_eq!(&got[1024..2048], &[1u8; 1024]);
    assert_eq!(&got[2048..], &[7u8; 2048]);
    assert_eq!(read(&*origin, 0, 4096), vec![7u8; 4096], "origin untouched");
}

#[test]
fn test_origin_write_reads_old_chunk_once_for_many_snapshots() {
    let reg = registry();
    let log = Log::default();
    let origin = Arc::new(LogDevice::new(0, vec![3u8; 1024 * 512], log.clone()));
    reg.add_device("o", origin.clone());
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    let mut cows = Vec::new();
    for i in 0..4 {
        let c = Arc::new(LogDevice::new(1 + i, vec![0u8; 256 * 512], log.clone()));
        reg.add_device(&format!("c{i}"), c.clone());
        create(&reg, &format!("s{i}"), &format!("0 1024 snapshot o c{i} P 8"));
        cows.push(c);
    }
    let reads = origin.reads();
    let counts: Vec<_> = cows.iter().map(|c| c.counts()).collect();
    // One 64 KiB write covering 16 chunks.
    base.write(Sectors(0), &[4u8; 16 * 4096]).unwrap();
    assert_eq!(origin.reads() - reads, 1, "old data read once for all snapshots");
    for (c, before) in cows.iter().zip(counts) {
        let (w, f) = c.counts();
        // One data write (a run of 16 chunks), one metadata write, and the
        // PREFLUSH + FUA pair: one group commit.
        assert_eq!((w - before.0, f - before.1), (2, 2));
    }
    for i in 0..4 {
        assert_eq!(status(&reg, &format!("s{i}")), "0 1024 snapshot 144/256 16");
        assert_eq!(read(&*reg.device(&format!("s{i}")).unwrap(), 0, 65536), vec![3u8; 65536]);
    }
}

#[test]
fn test_discard_zeroes_cow_and_passdown() {
    let reg = registry();
    let origin = mem("o", 1024);
    origin.write(Sectors(0), &[8u8; 1024 * 512]).unwrap();
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 256)));
    reg.add_device("c2", as_dev(&mem("c2", 256)));
    let plain = create(&reg, "plain", "0 1024 snapshot o c2 P 8");
    assert_eq!(plain.discard(Sectors(0), Sectors(8)).unwrap_err().kind(), ErrorKind::Unsupported);
    let snap = create(&reg, "snap", "0 1024 snapshot o c P 8 1 discard_zeroes_cow");
    snap.write(Sectors(0), &[1u8; 8192]).unwrap();
    snap.discard(Sectors(0), Sectors(8)).unwrap();
    assert_eq!(read(&*snap, 0, 4096), vec![0u8; 4096], "excepted whole chunk reads zero");
    snap.discard(Sectors(16), Sectors(8)).unwrap();
    assert_eq!(read(&*snap, 16 * 512, 4096), vec![8u8; 4096], "no exception: nothing happens");
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 32/256 16");
    drop((plain, snap));
    reg.remove("snap").unwrap();
    let snap = create(&reg, "snap", "0 1024 snapshot o c P 8 2 discard_zeroes_cow discard_passdown_origin");
    assert_eq!(table_of(&reg, "snap"), "0 1024 snapshot 240:0 240:1 P 8 2 discard_zeroes_cow discard_passdown_origin");
    snap.discard(Sectors(32), Sectors(8)).unwrap();
    assert_eq!(read(&*origin, 32 * 512, 4096), vec![0u8; 4096], "passed down to the origin");
}

/// The LVM merge sequence: origin becomes snapshot-merge over the same
/// COW while the snapshot is suspended; the snapshot then reports Invalid.
#[test]
fn test_merge_handover_status_countdown_and_result() {
    let reg = registry();
    let origin = mem("o", 8192);
    for c in 0..1024u64 {
        origin.write(Sectors(c * 8), &ulvm_testkit::stamped(4096, 1, c)).unwrap();
    }
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 16384)));
    let base = create(&reg, "base", "0 8192 snapshot-origin o");
    let snap = create(&reg, "snap", "0 8192 snapshot o c P 8");
    let before = read(&*snap, 0, 8192 * 512);
    // 1024 chunks through the origin: 4 full areas.
    base.write(Sectors(0), &vec![0xaa; 8192 * 512]).unwrap();
    assert_eq!(status(&reg, "snap"), "0 8192 snapshot 8240/16384 48");

    reg.suspend("base").unwrap();
    reg.suspend("snap").unwrap();
    reg.load("base", &table("0 8192 snapshot-merge o c P 8"), false).unwrap();
    reg.resume("base").unwrap();
    assert_eq!(status(&reg, "snap"), "0 8192 snapshot Invalid");
    reg.load("snap", &table("0 8192 error"), false).unwrap();
    reg.resume("snap").unwrap();
    assert_eq!(table_of(&reg, "base"), "0 8192 snapshot-merge 240:0 240:1 P 8");
    // As the kernel shows it once its merge started (oracle demo 2).
    assert_eq!(status(&reg, "base"), "0 8192 snapshot-merge 8240/16384 40");
    assert_eq!(snap.read(Sectors(0), &mut [0u8; 512]).unwrap_err().kind(), ErrorKind::Failed);
    // The merging origin already shows the snapshot's contents.
    assert_eq!(read(&*base, 0, 8192 * 512), before);

    let mut seen = Vec::new();
    loop {
        match reg.step_background("base").unwrap() {
            Some(Step::Progress) => seen.push(status(&reg, "base")),
            Some(Step::Done) => break,
            other => panic!("merge: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        // One area (1 MiB) per step, counting down as in oracle demo 2.
        [
            "0 8192 snapshot-merge 6184/16384 32",
            "0 8192 snapshot-merge 4128/16384 24",
            "0 8192 snapshot-merge 2072/16384 16",
        ]
    );
    assert_eq!(status(&reg, "base"), "0 8192 snapshot-merge 16/16384 16");
    assert_eq!(read(&*origin, 0, 8192 * 512), before, "origin holds the snapshot's contents");
    assert_eq!(read(&*base, 0, 8192 * 512), before);
}

#[test]
fn test_merge_handover_refused_while_source_runs() {
    let reg = registry();
    reg.add_device("o", as_dev(&mem("o", 1024)));
    reg.add_device("c", as_dev(&mem("c", 256)));
    create(&reg, "base", "0 1024 snapshot-origin o");
    create(&reg, "snap", "0 1024 snapshot o c P 8");
    reg.suspend("base").unwrap();
    reg.load("base", &table("0 1024 snapshot-merge o c P 8"), false).unwrap();
    let e = reg.resume("base").unwrap_err().to_string();
    assert!(e.contains("until source is suspended"), "{e}");
    assert!(reg.info("base").unwrap().suspended);
    reg.suspend("snap").unwrap();
    reg.resume("base").unwrap();
    assert_eq!(status(&reg, "base"), "0 1024 snapshot-merge 16/256 16");
}

/// During a merge, writes to unmerged chunks land in the COW and win.
#[test]
fn test_writes_during_merge_survive_it() {
    let reg = registry();
    let origin = mem("o", 2048);
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 4096)));
    let base = create(&reg, "base", "0 2048 snapshot-origin o");
    create(&reg, "snap", "0 2048 snapshot o c P 8");
    base.write(Sectors(0), &vec![1u8; 2048 * 512]).unwrap();
    reg.remove("snap").unwrap();
    reg.suspend("base").unwrap();
    reg.load("base", &table("0 2048 snapshot-merge o c P 8"), false).unwrap();
    reg.resume("base").unwrap();
    assert_eq!(read(&*base, 0, 512), vec![0u8; 512]);
    base.write(Sectors(0), &[5u8; 512]).unwrap(); // chunk 0: still in the COW
    reg.step_background("base").unwrap();
    base.write(Sectors(2040), &[6u8; 512]).unwrap();
    while reg.step_background("base").unwrap() == Some(Step::Progress) {}
    assert_eq!(read(&*origin, 0, 1024), [vec![5u8; 512], vec![0u8; 512]].concat());
    assert_eq!(read(&*origin, 2040 * 512, 512), vec![6u8; 512]);
    assert_eq!(read(&*base, 2041 * 512, 512), vec![0u8; 512]);
}

/// A merge interrupted by deactivation resumes from what is on disk.
#[test]
fn test_merge_resumes_after_reactivation() {
    let reg = registry();
    let origin = mem("o", 8192);
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 16384)));
    let base = create(&reg, "base", "0 8192 snapshot-origin o");
    create(&reg, "snap", "0 8192 snapshot o c P 8");
    base.write(Sectors(0), &vec![0xaa; 8192 * 512]).unwrap();
    drop(base);
    reg.remove("snap").unwrap();
    reg.remove("base").unwrap();
    create(&reg, "base", "0 8192 snapshot-merge o c P 8");
    reg.step_background("base").unwrap();
    reg.step_background("base").unwrap();
    assert_eq!(status(&reg, "base"), "0 8192 snapshot-merge 4128/16384 24");
    reg.remove("base").unwrap();
    let base = create(&reg, "base", "0 8192 snapshot-merge o c P 8");
    assert_eq!(status(&reg, "base"), "0 8192 snapshot-merge 4128/16384 24", "areas 3 and 2 were emptied on disk");
    while reg.step_background("base").unwrap() == Some(Step::Progress) {}
    assert_eq!(status(&reg, "base"), "0 8192 snapshot-merge 16/16384 16");
    assert_eq!(read(&*base, 0, 8192 * 512), vec![0u8; 8192 * 512]);
}

#[test]
fn test_merge_runs_in_background_thread_and_raises_event() {
    let reg = ulvm_dm::Registry::default();
    let origin = mem("o", 4096);
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c", as_dev(&mem("c", 8192)));
    let base = create(&reg, "base", "0 4096 snapshot-origin o");
    create(&reg, "snap", "0 4096 snapshot o c P 8");
    base.write(Sectors(0), &vec![0xaa; 4096 * 512]).unwrap();
    reg.remove("snap").unwrap();
    reg.suspend("base").unwrap();
    reg.load("base", &table("0 4096 snapshot-merge o c P 8"), false).unwrap();
    let ev = reg.info("base").unwrap().event_nr;
    reg.resume("base").unwrap();
    let now = reg.wait_event("base", ev, Some(Duration::from_secs(20))).unwrap();
    assert!(now > ev, "merge completion raises an event");
    assert_eq!(status(&reg, "base"), "0 4096 snapshot-merge 16/8192 16");
    assert_eq!(read(&*origin, 0, 4096 * 512), vec![0u8; 4096 * 512]);
}

#[test]
fn test_merge_with_other_snapshot_copies_out_first() {
    let reg = registry();
    let origin = mem("o", 1024);
    origin.write(Sectors(0), &vec![1u8; 1024 * 512]).unwrap();
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c1", as_dev(&mem("c1", 2048)));
    reg.add_device("c2", as_dev(&mem("c2", 2048)));
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    create(&reg, "s1", "0 1024 snapshot o c1 P 8");
    base.write(Sectors(0), &vec![2u8; 1024 * 512]).unwrap();
    let s2 = create(&reg, "s2", "0 1024 snapshot o c2 P 8");
    reg.suspend("base").unwrap();
    reg.suspend("s1").unwrap();
    reg.load("base", &table("0 1024 snapshot-merge o c1 P 8"), false).unwrap();
    reg.resume("base").unwrap();
    while reg.step_background("base").unwrap() == Some(Step::Progress) {}
    assert_eq!(read(&*origin, 0, 1024 * 512), vec![1u8; 1024 * 512]);
    assert_eq!(read(&*s2, 0, 1024 * 512), vec![2u8; 1024 * 512], "s2 keeps its point in time");
}

#[test]
fn test_suspended_device_holds_io_until_resume() {
    let reg = Arc::new(registry());
    reg.add_device("o", as_dev(&mem("o", 64)));
    let dev = create(&reg, "lin", "0 64 linear o 0");
    reg.suspend("lin").unwrap();
    let d2 = dev.clone();
    let t = std::thread::spawn(move || d2.write(Sectors(0), &[1u8; 512]));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!t.is_finished(), "write must wait while suspended");
    reg.resume("lin").unwrap();
    t.join().unwrap().unwrap();
    assert_eq!(read(&*dev, 0, 512), vec![1u8; 512]);
}

#[test]
fn test_concurrent_origin_and_snapshot_writers_keep_point_in_time() {
    let reg = Arc::new(registry());
    let origin = mem("o", 16384);
    for c in 0..2048u64 {
        origin.write(Sectors(c * 8), &ulvm_testkit::stamped(4096, 7, c)).unwrap();
    }
    let initial = origin.snapshot_bytes();
    reg.add_device("o", as_dev(&origin));
    reg.add_device("c1", as_dev(&mem("c1", 32768)));
    reg.add_device("c2", as_dev(&mem("c2", 32768)));
    let base = create(&reg, "base", "0 16384 snapshot-origin o");
    let s1 = create(&reg, "s1", "0 16384 snapshot o c1 P 8");
    let s2 = create(&reg, "s2", "0 16384 snapshot o c2 P 8");
    let mut threads = Vec::new();
    for t in 0..6u64 {
        let base = base.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..300u64 {
                let c = (i * 2654435761 + t * 97) % 2048;
                base.write(Sectors(c * 8 + (i % 4)), &[t as u8 + 1; 1024]).unwrap();
            }
        }));
    }
    for t in 0..2u64 {
        let s1 = s1.clone();
        let s2 = s2.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..100u64 {
                // Chunks 2000.. only written through the snapshots.
                s1.write(Sectors((2000 + (i % 40)) * 8), &[0xf0 + t as u8; 512]).unwrap();
                let _ = read(&*s2, (i % 2048) * 4096, 4096);
            }
        }));
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(read(&*s2, 0, 16384 * 512), initial, "s2 is exactly the point in time");
    let s1_now = read(&*s1, 0, 16384 * 512);
    assert_eq!(&s1_now[..2000 * 4096], &initial[..2000 * 4096]);
    // Reload from disk: the same contents.
    drop((s1, s2));
    reg.remove("s1").unwrap();
    reg.remove("s2").unwrap();
    let s2 = create(&reg, "s2", "0 16384 snapshot o c2 P 8");
    assert_eq!(read(&*s2, 0, 16384 * 512), initial);
    let s1 = create(&reg, "s1", "0 16384 snapshot o c1 P 8");
    assert_eq!(read(&*s1, 0, 16384 * 512), s1_now);
}

#[test]
fn test_foreign_cow_is_refused_with_clear_error_and_nothing_made() {
    let reg = registry();
    let mut img = vec![0u8; 256 * 512];
    img[1080..1082].copy_from_slice(&[0x53, 0xef]);
    img[0..4].copy_from_slice(b"XFSB");
    let cow = Arc::new(MemDevice::from_bytes("c", img.clone()));
    reg.add_device("o", as_dev(&mem("o", 1024)));
    reg.add_device("c", cow.clone());
    let e = reg.create("snap", None, Some(&table("0 1024 snapshot o c P 8")), false).unwrap_err().to_string();
    assert!(e.contains("not a snapshot exception store"), "{e}");
    assert!(reg.list().is_empty(), "nothing half-made");
    assert_eq!(cow.snapshot_bytes(), img, "nothing written");
}

/// A device whose flushes are slow, so that concurrent committers pile up.
#[derive(Debug)]
struct SlowFlush(Arc<MemDevice>, std::sync::atomic::AtomicU64);

impl BlockDevice for SlowFlush {
    fn size(&self) -> Sectors {
        self.0.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> ulvm_blockdev::Result<()> {
        self.0.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> ulvm_blockdev::Result<()> {
        self.0.write(at, buf)
    }
    fn flush(&self) -> ulvm_blockdev::Result<()> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        Ok(())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> ulvm_blockdev::Result<()> {
        self.0.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> ulvm_blockdev::Result<()> {
        self.0.write_zeroes(at, len)
    }
}

#[test]
fn test_concurrent_exceptions_share_metadata_commits() {
    let reg = Arc::new(registry());
    reg.add_device("o", as_dev(&mem("o", 1024)));
    let cow = Arc::new(SlowFlush(mem("c", 1024), Default::default()));
    reg.add_device("c", cow.clone());
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    let snap = create(&reg, "snap", "0 1024 snapshot o c P 8");
    let before = cow.1.load(std::sync::atomic::Ordering::SeqCst);
    let threads: Vec<_> = (0..12u64)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || base.write(Sectors(i * 8), &[i as u8 + 1; 4096]).unwrap())
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let flushes = cow.1.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(flushes < 12, "12 exceptions took {flushes} flushes: no group commit");
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot 112/1024 16");
    assert_eq!(read(&*snap, 0, 12 * 4096), vec![0u8; 12 * 4096]);
}

#[test]
fn test_cow_write_error_invalidates_snapshot() {
    let reg = registry();
    let origin = mem("o", 1024);
    reg.add_device("o", as_dev(&origin));
    let cow = Arc::new(ulvm_testkit::FaultDevice::new(mem("c", 1024)));
    reg.add_device("c", cow.clone());
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    create(&reg, "snap", "0 1024 snapshot o c P 8");
    base.write(Sectors(0), &[1u8; 4096]).unwrap();
    cow.fail_writes(true);
    base.write(Sectors(8), &[2u8; 4096]).unwrap();
    assert_eq!(status(&reg, "snap"), "0 1024 snapshot Invalid");
    assert_eq!(read(&*origin, 8 * 512, 4096), vec![2u8; 4096], "the origin write still happened");
    assert!(reg.device("snap").unwrap().read(Sectors(0), &mut [0u8; 512]).is_err());
}

#[test]
fn test_merge_io_error_reports_merge_failed() {
    let reg = registry();
    let origin = Arc::new(ulvm_testkit::FaultDevice::new(mem("o", 1024)));
    reg.add_device("o", origin.clone());
    reg.add_device("c", as_dev(&mem("c", 2048)));
    let base = create(&reg, "base", "0 1024 snapshot-origin o");
    create(&reg, "snap", "0 1024 snapshot o c P 8");
    base.write(Sectors(0), &vec![1u8; 1024 * 512]).unwrap();
    reg.remove("snap").unwrap();
    reg.suspend("base").unwrap();
    reg.load("base", &table("0 1024 snapshot-merge o c P 8"), false).unwrap();
    reg.resume("base").unwrap();
    origin.fail_writes(true);
    assert_eq!(reg.step_background("base").unwrap(), Some(Step::Failed));
    assert_eq!(status(&reg, "base"), "0 1024 snapshot-merge Merge failed");
    origin.fail_writes(false);
    assert_eq!(read(&*base, 0, 512), vec![0u8; 512], "reads still see the snapshot's contents");
}

/// Activating or removing a snapshot quiesces its live origin around the
/// change, and leaves it running afterwards.
#[test]
fn test_snapshot_create_and_remove_quiesce_the_live_origin() {
    let reg = Arc::new(registry());
    reg.add_device("o", as_dev(&mem("o", 4096)));
    reg.add_device("c", as_dev(&mem("c", 4096)));
    let base = create(&reg, "base", "0 4096 snapshot-origin o");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (base, stop) = (base.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                base.write(Sectors((i % 512) * 8), &[(i % 251) as u8; 4096]).unwrap();
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    create(&reg, "snap", "0 4096 snapshot o c P 8");
    assert!(!reg.info("base").unwrap().suspended);
    std::thread::sleep(Duration::from_millis(20));
    reg.remove("snap").unwrap();
    assert!(!reg.info("base").unwrap().suspended);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
}
