//! The raid1 metadata the kernel wrote for real LVM2's raid1 LVs
//! (`tests/fixtures/raid/`, made by `scripts/oracle-lvm-fixtures.sh`, decoded
//! in its README): ulvm decodes every image as the README says, writes
//! the same bytes for the same state, and activates each case as the
//! kernel would continue it.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use ulvm_blockdev::{DeviceRef, MemDevice, Sectors};
use ulvm_dm::raid::format::{decode_bitmap, encode_bitmap, BitmapSuper, SbState, Superblock};
use ulvm_dm::target::Step;
use ulvm_testkit::CountingDevice;

/// An rmeta image, uncompressed (4 MiB).
fn image(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raid").join(format!("{name}.img.xz"));
    let out = Command::new("xz").arg("-dc").arg(&p).output().expect("xz");
    assert!(out.status.success(), "xz -dc {}", p.display());
    out.stdout
}

fn sb(img: &[u8]) -> Superblock {
    match Superblock::decode(&img[..512]).unwrap() {
        SbState::Valid(sb) => sb,
        SbState::New => panic!("no superblock"),
    }
}

#[test]
fn test_fixtures_decode_as_the_readme_says_and_reencode_byte_for_byte() {
    // (case, legs, events, events_cleared, sectors, region sectors, failed bits, resync offset, dirty regions)
    type Case = (&'static str, u32, u64, u64, u64, u64, u64, Option<u64>, Vec<u64>);
    let cases: Vec<(String, Case)> = vec![
        ("sync_rmeta_0".into(), ("sync", 2, 19, 7, 16384, 4096, 0, None, vec![])),
        ("sync_rmeta_1".into(), ("sync", 2, 19, 7, 16384, 4096, 0, None, vec![])),
        ("nosync_rmeta_0".into(), ("nosync", 2, 3, 2, 16384, 4096, 0, None, vec![])),
        ("three_rmeta_2".into(), ("three", 3, 19, 7, 16384, 4096, 0, None, vec![])),
        ("failed_rmeta_0".into(), ("failed", 2, 23, 10, 16384, 4096, 0b10, None, vec![0, 2])),
        ("failed_rmeta_1".into(), ("failed", 2, 20, 10, 16384, 4096, 0, None, vec![0, 1, 2, 3])),
        ("half_rmeta_0".into(), ("half", 2, 6, 2, 65536, 1024, 0, Some(11008), (10..64).collect())),
    ];
    for (file, (_, legs, events, cleared, sectors, region, failed, resync, dirty)) in cases {
        let img = image(&file);
        let s = sb(&img);
        let pos: u32 = file[file.len() - 1..].parse().unwrap();
        assert_eq!((s.num_devices, s.array_position, s.events), (legs, pos, events), "{file}");
        assert_eq!(s.failed_devices, [failed, 0, 0, 0], "{file}");
        assert_eq!((s.disk_recovery_offset, s.array_resync_offset), (None, resync.map(Sectors)), "{file}");
        let (bsb, bits) = decode_bitmap(&img[4096..4608]).unwrap();
        assert_eq!((bsb.events, bsb.events_cleared, bsb.sync_size), (events, cleared, Sectors(sectors)), "{file}");
        assert_eq!(bsb.region_size(), Sectors(region), "{file}");
        assert_eq!(bits.iter_set().collect::<Vec<_>>(), dirty, "{file}");
        // The same state, encoded by ulvm: the kernel's bytes.
        let mut ours = Superblock::raid1(legs, pos, Sectors(sectors));
        ours.events = events;
        ours.failed_devices[0] = failed;
        ours.array_resync_offset = resync.map(Sectors);
        assert_eq!(ours.encode(512), img[..512], "{file}: superblock");
        let mut obsb = BitmapSuper::new(Sectors(region), Sectors(sectors), 5);
        obsb.events = events;
        obsb.events_cleared = cleared;
        assert_eq!(encode_bitmap(&obsb, &bits), img[4096..4608], "{file}: bitmap");
        assert!(img[4608..].iter().all(|b| *b == 0), "{file}: zero after the bitmap block");
    }
}

struct Set {
    data: Vec<Arc<CountingDevice>>,
    metas: Vec<Arc<MemDevice>>,
}

/// Registers a case's rmeta images (4 MiB) and data legs of `sectors`,
/// each leg's data a different byte so copies show.
fn set(reg: &ulvm_dm::Registry, case: &str, legs: usize, sectors: u64) -> Set {
    let mut s = Set { data: vec![], metas: vec![] };
    for i in 0..legs {
        let m = Arc::new(MemDevice::from_bytes(format!("m{i}"), image(&format!("{case}_rmeta_{i}"))));
        let d = Arc::new(CountingDevice::new(Arc::new(MemDevice::from_bytes(
            format!("d{i}"),
            vec![i as u8 + 1; (sectors * 512) as usize],
        ))));
        reg.add_device(&format!("m{i}"), m.clone() as DeviceRef);
        reg.add_device(&format!("d{i}"), d.clone() as DeviceRef);
        s.metas.push(m);
        s.data.push(d);
    }
    s
}

fn line(legs: usize, sectors: u64, params: &str) -> String {
    let devs: Vec<String> = (0..legs).map(|i| format!("m{i} d{i}")).collect();
    format!("0 {sectors} raid raid1 {} 0 {params} {legs} {}", 1 + params.split_whitespace().count(), devs.join(" "))
}

fn steps(reg: &ulvm_dm::Registry) {
    while reg.step_background("r").unwrap() == Some(Step::Progress) {}
}

fn raid_status(reg: &ulvm_dm::Registry) -> String {
    status(reg, "r").split_once(" raid ").unwrap().1.to_string()
}

#[test]
fn test_fixtures_activate_as_the_kernel_continues_them() {
    // In sync: AA idle, nothing copied.
    for (case, legs) in [("sync", 2), ("nosync", 2), ("three", 3)] {
        let reg = registry();
        let s = set(&reg, case, legs, 16384);
        create(&reg, "r", &line(legs, 16384, "region_size 4096"));
        let health = "A".repeat(legs);
        assert_eq!(raid_status(&reg), format!("raid1 {legs} {health} 16384/16384 idle 0 0 -"), "{case}");
        steps(&reg);
        assert!(s.data.iter().all(|d| d.totals()[2] == 0), "{case}: nothing to copy");
        reg.suspend("r").unwrap();
        assert!(sb(&s.metas[0].snapshot_bytes()).events > sb(&image(&format!("{case}_rmeta_0"))).events);
    }
    // A failed leg: recovered from the bitmap, the two dirty regions only.
    let reg = registry();
    let s = set(&reg, "failed", 2, 16384);
    create(&reg, "r", &line(2, 16384, "region_size 4096"));
    assert_eq!(raid_status(&reg), "raid1 2 Aa 0/16384 recover 0 0 -");
    steps(&reg);
    assert_eq!(s.data[1].totals()[2], 2, "regions 0 and 2 copied");
    assert_eq!(raid_status(&reg), "raid1 2 AA 16384/16384 idle 0 0 -");
    assert!(!sb(&s.metas[0].snapshot_bytes()).is_failed(1));
    // Half resynced: continues from the region the offset is in.
    let reg = registry();
    let s = set(&reg, "half", 2, 65536);
    create(&reg, "r", &line(2, 65536, "max_recovery_rate 512 region_size 1024"));
    assert_eq!(raid_status(&reg), "raid1 2 aa 10240/65536 resync 0 0 -");
    reg.message("r", 0, &["frozen"]).unwrap();
    reg.suspend("r").unwrap();
    reg.remove("r").unwrap();
    let reg = registry();
    for i in 0..2 {
        reg.add_device(&format!("m{i}"), s.metas[i].clone() as DeviceRef);
        reg.add_device(&format!("d{i}"), s.data[i].clone() as DeviceRef);
    }
    create(&reg, "r", &line(2, 65536, "region_size 1024"));
    steps(&reg);
    assert_eq!(s.data[1].totals()[2], 54, "regions 10..64 copied");
    assert_eq!(raid_status(&reg), "raid1 2 AA 65536/65536 idle 0 0 -");
}
