//! A VG metadata commit survives a crash at any point: every prefix of the
//! writes and flushes of a commit to a two-PV VG, replayed in every crash
//! mode, reads back as the old version or the new one, never neither and
//! never a mix.

use std::path::PathBuf;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, MemDevice, Sectors};
use ulvm_lvm::disk::{self, PvDisk, Scan, Vg};
use ulvm_lvm::model::{LogicalVolume, PhysicalVolume, Segment, SegmentKind, Uuid, VolumeGroup};
use ulvm_lvm::pv;
use ulvm_lvm::system::SystemDir;
use ulvm_lvm::{ExtentSize, Extents};
use ulvm_testkit::{replay, CrashMode, Log, LogDevice};

const MIB: usize = 1 << 20;

fn lv(name: &str, pe: Extents) -> LogicalVolume {
    LogicalVolume {
        name: name.into(),
        id: pv::new_uuid().unwrap(),
        status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
        flags: vec![],
        tags: Vec::new(),
        creation_time: Some(1),
        creation_host: Some("h".into()),
        segments: vec![Segment {
            start_extent: Extents(0),
            extent_count: Extents(1),
            kind: SegmentKind::Striped { stripe_size: None, stripes: vec![("pv0".into(), pe)] },
            extra: vec![],
        }],
        extra: vec![],
    }
}

fn scan_of(images: &[Vec<u8>]) -> Scan {
    let mut s = Scan::default();
    for (i, img) in images.iter().enumerate() {
        let dev: Arc<dyn BlockDevice> = Arc::new(MemDevice::from_bytes(format!("pv{i}"), img.clone()));
        let path = PathBuf::from(format!("/pv{i}"));
        match disk::read_pv_on(&path, dev) {
            Ok(Some(d)) => s.pvs.push(d),
            Ok(None) => s.others.push(path),
            Err(e) => s.problems.push((path, e.to_string())),
        }
    }
    s
}

#[test]
fn test_every_crash_point_of_a_commit_reads_as_old_or_new() {
    let sysdir = std::env::temp_dir().join(format!("ulvm-crash-{}", std::process::id()));
    let sd = SystemDir::new(&sysdir);
    // Two formatted PVs holding VG version 1 (one LV).
    let log = Log::default();
    let devs: Vec<Arc<LogDevice>> =
        (0..2).map(|i| Arc::new(LogDevice::new(i, vec![0u8; 8 * MIB], log.clone()))).collect();
    let mut disks = std::collections::BTreeMap::new();
    let mut pvs = Vec::new();
    for (i, d) in devs.iter().enumerate() {
        let label = pv::format_pv(d.as_ref(), pv::new_uuid().unwrap()).unwrap();
        pvs.push(PhysicalVolume {
            key: format!("pv{i}"),
            id: Uuid(label.uuid),
            device: None,
            status: vec!["ALLOCATABLE".into()],
            flags: vec![],
            tags: Vec::new(),
            dev_size: Some(Sectors(8 * 2048)),
            pe_start: Sectors(2048),
            pe_count: Extents(7),
            extra: vec![],
        });
        let dev: Arc<dyn BlockDevice> = d.clone();
        disks.insert(format!("pv{i}"), PvDisk { path: PathBuf::from(format!("/pv{i}")), dev, label, vg: None });
    }
    let mut vg = Vg {
        vg: Arc::new(VolumeGroup {
            name: "vg0".into(),
            id: pv::new_uuid().unwrap(),
            seqno: 0,
            status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
            flags: vec![],
            tags: Vec::new(),
            extent_size: ExtentSize::new(Sectors(2048)).unwrap(),
            max_lv: 0,
            max_pv: 0,
            metadata_copies: 0,
            pvs,
            lvs: vec![lv("one", Extents(0))],
            extra: vec![],
        }),
        text: "".into(),
        disks,
        missing: vec![],
        stale: vec![],
        lockd: false,
    };
    disk::commit(&sd, &mut vg, "first").unwrap();
    let old = vg.vg.clone();
    // Version 2, with every write and flush logged.
    let before: Vec<Vec<u8>> = devs.iter().map(|d| d.contents()).collect();
    let start = log.len();
    vg.vg_mut().lvs.push(lv("two", Extents(1)));
    disk::commit(&sd, &mut vg, "second").unwrap();
    let new = vg.vg.clone();
    let ops = log.ops()[start..].to_vec();
    assert!(ops.len() >= 6, "a commit writes text and header on each PV: {} ops", ops.len());
    let strip = |v: &VolumeGroup| {
        let mut v = v.clone();
        for p in &mut v.pvs {
            p.device = None;
        }
        v
    };
    for mode in [CrashMode::AllWritten, CrashMode::FlushedOnly, CrashMode::TornLast, CrashMode::Reordered] {
        for prefix in 0..=ops.len() {
            let imgs = replay(&before, &ops, prefix, mode);
            let scan = scan_of(&imgs);
            assert!(scan.problems.is_empty(), "{mode:?} prefix {prefix}: damaged PV: {:?}", scan.problems);
            let vgs = disk::assemble(&scan);
            let got = vgs.get("vg0").unwrap_or_else(|| panic!("{mode:?} prefix {prefix}: VG lost"));
            let g = strip(&got.vg);
            assert!(
                g == strip(&old) || g == strip(&new),
                "{mode:?} prefix {prefix}: neither version (seqno {})",
                got.vg.seqno
            );
            assert_eq!(got.disks.len(), 2, "{mode:?} prefix {prefix}: a PV lost its VG");
        }
    }
    // Every write made it: the new version, everywhere.
    let all = disk::assemble(&scan_of(&replay(&before, &ops, ops.len(), CrashMode::FlushedOnly)));
    assert_eq!(strip(&all["vg0"].vg), strip(&new));
    assert!(all["vg0"].stale.is_empty());
    let _ = std::fs::remove_dir_all(&sysdir);
}
