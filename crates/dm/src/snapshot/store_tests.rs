use super::*;
use crate::snapshot::format::{Header, RECORD_SIZE};
use ulvm_blockdev::MemDevice;
use ulvm_testkit::{Log, LogDevice};

fn logged(bytes: Vec<u8>) -> (LogDevice, Log) {
    let log = Log::default();
    (LogDevice::new(0, bytes, log.clone()), log)
}

#[test]
fn test_new_store_is_formatted_area_first_then_header() {
    // Magic 0 makes a new store; the rest of the device is garbage.
    let mut img = vec![0xee; 64 * 512];
    img[..512].fill(0);
    let (cow2, log) = logged(img);
    let loaded = Persistent::load(&cow2, 512, 8).unwrap();
    assert!(loaded.valid && loaded.exceptions.is_empty());
    let bytes = cow2.contents();
    assert_eq!(&bytes[..16], &[0x53, 0x6e, 0x41, 0x70, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0]);
    assert!(bytes[4096..8192].iter().all(|&b| b == 0), "area 0 zeroed");
    let ops = log.ops();
    let first_write = ops.iter().position(|o| matches!(o, ulvm_testkit::Op::Write { at, .. } if at.0 == 8));
    let header_write = ops.iter().position(|o| matches!(o, ulvm_testkit::Op::Write { at, .. } if at.0 == 0));
    assert!(first_write < header_write, "area 0 must be zeroed before the header is written: {ops:?}");
    assert_eq!(loaded.store.usage(Sectors(64), false), (Sectors(16), Sectors(64), Sectors(16)));
}

#[test]
fn test_foreign_device_is_refused_and_not_written() {
    let mut img = vec![0u8; 64 * 512];
    img[0..4].copy_from_slice(&0xef53u32.to_le_bytes());
    let (cow, log) = logged(img);
    let e = Persistent::load(&cow, 512, 8).unwrap_err();
    assert!(e.to_string().contains("not a snapshot exception store"), "{e}");
    assert!(log.is_empty());
}

fn store_image(chunk: u32, size_chunks: u64, areas: &[Vec<DiskException>]) -> Vec<u8> {
    let cs = chunk as usize * 512;
    let mut img = vec![0u8; cs * size_chunks as usize];
    Header { valid: true, version: 1, chunk_size: chunk }.encode(&mut img[..cs]);
    let g = Geometry::new(ChunkSize::new(chunk).unwrap());
    for (i, recs) in areas.iter().enumerate() {
        let at = g.area_location(i as u64) as usize * cs;
        encode_area(recs, &mut img[at..at + cs]);
    }
    img
}

#[test]
fn test_corrupt_records_are_refused() {
    let ex = |o, n| DiskException { old_chunk: o, new_chunk: n };
    for (recs, want) in [
        (vec![ex(0, 2), ex(1, 999)], "out of range"),
        (vec![ex(0, 2), ex(1, 1)], "out of range"), // a metadata chunk
        (vec![ex(0, 2), ex(1, 2)], "mapped twice"),
        (vec![ex(3, 2), ex(3, 4)], "mapped twice"),
    ] {
        let (cow, log) = logged(store_image(1, 32, &[recs]));
        let e = Persistent::load(&cow, 512, 1).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
        assert!(log.is_empty());
    }
}

#[test]
fn test_bad_header_version_and_chunk_size_are_refused() {
    let mut img = store_image(8, 8, &[vec![]]);
    img[8] = 2;
    let e = Persistent::load(&MemDevice::from_bytes("c", img), 512, 8).unwrap_err().to_string();
    assert!(e.contains("version 2"), "{e}");
    let mut img = store_image(8, 8, &[vec![]]);
    img[12] = 12;
    let e = Persistent::load(&MemDevice::from_bytes("c", img), 512, 8).unwrap_err().to_string();
    assert!(e.contains("not a power of 2"), "{e}");
}

#[test]
fn test_header_chunk_size_wins_over_table() {
    let img = store_image(16, 16, &[vec![]]);
    let l = Persistent::load(&MemDevice::from_bytes("c", img), 512, 8).unwrap();
    assert_eq!(l.store.chunk_size().get(), 16);
}

#[test]
fn test_full_area_continues_and_next_free_skips_metadata() {
    // chunk 1 sector: 32 records per area, areas at 1, 34, 67.
    let area0: Vec<_> = (0..32).map(|i| DiskException { old_chunk: 100 + i, new_chunk: 2 + i }).collect();
    let area1 = vec![DiskException { old_chunk: 7, new_chunk: 35 }];
    let l = Persistent::load(&MemDevice::from_bytes("c", store_image(1, 80, &[area0, area1])), 512, 1).unwrap();
    assert_eq!(l.exceptions.len(), 33);
    let Store::Persistent(p) = &l.store else { panic!() };
    assert_eq!((p.current_area, p.area.len(), p.next_free), (1, 1, 36));
    assert_eq!(l.store.usage(Sectors(80), false), (Sectors(36), Sectors(80), Sectors(3)));
}

#[test]
fn test_invalid_header_loads_as_invalid_without_reading_exceptions() {
    let mut img = store_image(8, 8, &[vec![DiskException { old_chunk: 0, new_chunk: 999 }]]);
    img[4] = 0;
    let l = Persistent::load(&MemDevice::from_bytes("c", img), 512, 8).unwrap();
    assert!(!l.valid);
}

#[test]
fn test_stage_commit_zeroes_next_area_before_writing_full_one() {
    let g = Geometry::new(ChunkSize::new(1).unwrap());
    let mut p = Persistent { geom: g, next_free: 2, current_area: 0, area: Vec::new() };
    let batch: Vec<_> = (0..33).map(|i| DiskException { old_chunk: i, new_chunk: 2 + i }).collect();
    let w = p.stage_commit(&batch);
    assert_eq!(w.len(), 3);
    assert_eq!(w[0], MetaWrite::Zero { at: Sectors(34), len: Sectors(1) });
    assert!(matches!(&w[1], MetaWrite::Durable { at, data } if at.0 == 1 && data[31 * RECORD_SIZE + 8] == 33));
    assert!(
        matches!(&w[2], MetaWrite::Durable { at, data } if at.0 == 34 && data[8] == 34 && data[RECORD_SIZE + 8] == 0)
    );
    assert_eq!((p.current_area, p.area.len()), (1, 1));
}

#[test]
fn test_allocation_is_sequential_and_skips_metadata_chunks() {
    let g = Geometry::new(ChunkSize::new(1).unwrap());
    let mut s = Store::Persistent(Persistent { geom: g, next_free: 2, current_area: 0, area: Vec::new() });
    let got: Vec<_> = (0..33).map(|_| s.allocate(Sectors(100)).unwrap()).collect();
    assert_eq!(got[31], 33);
    assert_eq!(got[32], 35, "chunk 34 is metadata area 1");
    assert!(s.can_allocate(1, Sectors(100)));
    let mut small = Store::Persistent(Persistent { geom: g, next_free: 2, current_area: 0, area: Vec::new() });
    assert_eq!(small.allocate(Sectors(3)), Some(2));
    assert_eq!(small.allocate(Sectors(3)), None);
}

#[test]
fn test_merge_plan_takes_from_the_end_and_sets_next_free_like_kernel() {
    let g = Geometry::new(ChunkSize::new(8).unwrap());
    let recs: Vec<_> = (0..10).map(|i| DiskException { old_chunk: i, new_chunk: 2 + i }).collect();
    let mut p = Persistent { geom: g, next_free: 12, current_area: 0, area: recs };
    let plan = p.plan_merge(4, |_| panic!("no step back needed")).unwrap().unwrap();
    assert_eq!(plan.records.iter().map(|e| e.old_chunk).collect::<Vec<_>>(), [6, 7, 8, 9]);
    assert_eq!(plan.writes.len(), 1);
    p.apply_merge(plan);
    assert_eq!((p.area.len(), p.next_free), (6, 8), "area 0 at chunk 1, six data chunks 2..=7");
    let plan = p.plan_merge(100, |_| panic!()).unwrap().unwrap();
    p.apply_merge(plan);
    assert!(p.plan_merge(4, |_| panic!()).unwrap().is_none());
    assert_eq!(Store::Persistent(p).usage(Sectors(1000), true), (Sectors(16), Sectors(1000), Sectors(16)));
}

#[test]
fn test_merge_plan_steps_back_across_areas_and_rewrites_each() {
    // chunk 1 sector: 32 records per area.
    let g = Geometry::new(ChunkSize::new(1).unwrap());
    let full: Vec<_> = (0..32).map(|i| DiskException { old_chunk: i, new_chunk: 2 + i }).collect();
    let mut area0 = vec![0u8; 512];
    encode_area(&full, &mut area0);
    let p = Persistent {
        geom: g,
        next_free: 38,
        current_area: 1,
        area: vec![DiskException { old_chunk: 99, new_chunk: 35 }],
    };
    let plan = p
        .plan_merge(10, |a| {
            assert_eq!(a, 0);
            Ok(area0.clone())
        })
        .unwrap()
        .unwrap();
    assert_eq!(plan.records.len(), 10);
    assert_eq!((plan.area, plan.remaining.len()), (0, 23));
    assert_eq!(plan.writes.len(), 2);
    assert!(matches!(&plan.writes[0], MetaWrite::Write { at, data } if at.0 == 34 && data.iter().all(|&b| b == 0)));
    let mut bad = area0.clone();
    bad[16 * 31 + 8..16 * 32].fill(0);
    assert!(p.plan_merge(10, |_| Ok(bad.clone())).is_err(), "a non-full earlier area is corrupt");
}
