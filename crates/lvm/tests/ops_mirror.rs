//! Legacy mirrored LVs in-process, over the fake device host: the
//! metadata `lvcreate --type mirror` writes (as the oracle5 fixtures show
//! LVM's), the fresh disk log on disk, the tables, the refusals (which
//! write nothing), `lvconvert -m`, `--mirrorlog`, `--splitmirrors`,
//! `--repair` and `lvremove`.

mod common;

use common::{mib, Setup};
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{DevNum, LegHealth, MirrorLogStatus, MirrorStatus, TargetStatus};
use ulvm_lvm::extent::Extents;
use ulvm_lvm::model::{SegmentKind, NOTSYNCED};
use ulvm_lvm::ops::mirror::{self, LogType, MirrorConvert, MirrorCreate};
use ulvm_lvm::ops::remove::lvremove;
use ulvm_lvm::ops::resize::{self, Command as ResizeCommand, Resize, Target};
use ulvm_lvm::ops::vg::{vgcreate, VgCreate};
use ulvm_lvm::LvmError;

/// vg0 over three 64 MiB PVs (15 extents each), nothing on them.
fn setup(name: &str) -> Setup {
    let mut t = Setup::new(name);
    t.add_device("c.img");
    let mut s = t.session(false);
    vgcreate(&mut s, &VgCreate::new("vg0", t.pvs.clone())).unwrap();
    t.lines.take();
    t.host.world().log.clear();
    t
}

fn create(name: &str, size_mib: u64, mirrors: usize, log: LogType) -> MirrorCreate {
    MirrorCreate {
        vg: "vg0".into(),
        name: Some(name.into()),
        size: mib(size_mib),
        mirrors,
        log,
        nosync: false,
        region_size: None,
        pvs: vec![],
        activate: true,
        tags: vec![],
    }
}

fn convert(lv: &str) -> MirrorConvert {
    MirrorConvert { vg: "vg0".into(), lv: lv.into(), ..Default::default() }
}

/// Where an LV's first segment is: `(pv key, first extent)`.
fn at(t: &Setup, lv: &str) -> (String, Extents) {
    let vg = t.session(false).vg("vg0", true).unwrap();
    match &vg.vg.lv(lv).unwrap_or_else(|| panic!("no LV {lv}")).segments[0].kind {
        SegmentKind::Striped { stripes, .. } => stripes[0].clone(),
        k => panic!("{lv}: {k:?}"),
    }
}

fn table(t: &Setup, dev: &str) -> String {
    t.host.world().devs.get(dev).map(|d| d.table.to_string().trim().to_string()).unwrap_or_default()
}

#[test]
fn test_lvcreate_mirror_writes_lvms_metadata_a_fresh_log_and_the_tables() {
    let t = setup("mirror-create");
    let mut s = t.session(false);
    mirror::lvcreate_mirror(&mut s, &create("mdisk", 8, 1, LogType::Disk)).unwrap();
    assert_eq!(t.lines.take().0, ["Logical volume \"mdisk\" created."]);
    let vg = s.vg("vg0", true).unwrap();
    let names: Vec<&str> = vg.vg.lvs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["mdisk", "mdisk_mimage_0", "mdisk_mimage_1", "mdisk_mlog"]);
    let top = vg.vg.lv("mdisk").unwrap();
    assert_eq!(top.status, ["READ", "WRITE", "VISIBLE"]);
    let m = top.mirror().expect("a mirror segment");
    assert_eq!(m.mirror_count, 2);
    assert_eq!(m.mirror_log.as_deref(), Some("mdisk_mlog"));
    assert_eq!(m.region_size, Some(Sectors(4096)));
    assert_eq!(m.areas, [("mdisk_mimage_0".to_string(), Extents(0)), ("mdisk_mimage_1".to_string(), Extents(0))]);
    for sub in ["mdisk_mimage_0", "mdisk_mimage_1", "mdisk_mlog"] {
        assert_eq!(vg.vg.lv(sub).unwrap().status, ["READ", "WRITE"], "{sub}");
    }
    // As in oracle5's 01-all backup: images on vda and vdb, the log on vdc.
    assert_eq!(at(&t, "mdisk_mimage_0"), ("pv0".into(), Extents(0)));
    assert_eq!(at(&t, "mdisk_mimage_1"), ("pv1".into(), Extents(0)));
    assert_eq!(at(&t, "mdisk_mlog"), ("pv2".into(), Extents(0)));
    assert_eq!(vg.vg.lv("mdisk_mlog").unwrap().extents(), Extents(1));
    // Two commits, as LVM's (oracle5's archive, seqno 2): first the log
    // as a visible LV of its own, then the log in the mirror.
    assert_eq!(vg.vg.seqno, 3);
    let archived: Vec<String> = std::fs::read_dir(t.sd.archive_dir())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|text| text.contains("seqno = 2\n"))
        .collect();
    assert_eq!(archived.len(), 1);
    let first = ulvm_lvm::model::VolumeGroup::from_tree(&ulvm_lvm::text::Tree::parse(&archived[0]).unwrap()).unwrap();
    assert!(first.lv("mdisk_mlog").unwrap().is_visible());
    assert_eq!(first.lv("mdisk").unwrap().mirror().unwrap().mirror_log, None);
    // The log as LVM writes it: dm-log's header with u64::MAX regions, and
    // every bit clear (out of sync: the legs get copied).
    let c = std::fs::read(&t.pvs[2]).unwrap();
    let log = &c[1 << 20..(1 << 20) + (4 << 20)];
    assert_eq!(&log[..16], &[0x72, 0x52, 0x69, 0x4D, 2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(log[16..].iter().all(|&b| b == 0), "the log's bits must start clear");
    // The tables: log and images first, then the mirror.
    assert_eq!(
        table(&t, "vg0-mdisk"),
        "0 16384 mirror disk 2 vg0-mdisk_mlog 4096 2 vg0-mdisk_mimage_0 0 vg0-mdisk_mimage_1 0 1 handle_errors"
    );
    let log = t.host.world().log.clone();
    let order: Vec<&str> = log.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        order,
        ["create vg0-mdisk_mlog", "create vg0-mdisk_mimage_0", "create vg0-mdisk_mimage_1", "create vg0-mdisk"]
    );
}

#[test]
fn test_lvcreate_mirror_nosync_core_log_and_region_size() {
    let t = setup("mirror-nosync");
    let mut s = t.session(false);
    let mut c = create("mnosync", 4, 1, LogType::Disk);
    c.nosync = true;
    mirror::lvcreate_mirror(&mut s, &c).unwrap();
    assert_eq!(t.lines.take().1, ["WARNING: New mirror won't be synchronised. Don't read what you didn't write!"]);
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lv("mnosync").unwrap().status, ["READ", "WRITE", "VISIBLE", NOTSYNCED]);
    assert!(table(&t, "vg0-mnosync").contains(" mirror disk 3 vg0-mnosync_mlog 4096 nosync 2 "));
    // --nosync: every bit set (clean) after the header.
    let disk = std::fs::read(&t.pvs[2]).unwrap();
    assert!(disk[(1 << 20) + 1024..(2 << 20)].iter().all(|&b| b == 0xFF));
    let mut c = create("mcore", 4, 1, LogType::Core);
    c.region_size = Some(Sectors(1024));
    mirror::lvcreate_mirror(&mut s, &c).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("mcore_mlog").is_none());
    // mnosync took two commits, mcore one (no log to write), as LVM's.
    assert_eq!(vg.vg.seqno, 4);
    assert_eq!(vg.vg.lv("mcore").unwrap().mirror().unwrap().mirror_log, None);
    assert_eq!(
        table(&t, "vg0-mcore"),
        "0 8192 mirror core 1 1024 2 vg0-mcore_mimage_0 0 vg0-mcore_mimage_1 0 1 handle_errors"
    );
}

#[test]
fn test_lvcreate_mirror_refusals_write_nothing() {
    let t = setup("mirror-refusals");
    let before = t.disks();
    let mut s = t.session(false);
    // Four images on three PVs (oracle5 023).
    let e = mirror::lvcreate_mirror(&mut s, &create("m3", 4, 3, LogType::Disk)).unwrap_err();
    assert_eq!(e.to_string(), "Insufficient suitable allocatable extents for logical volume m3: 4 more required");
    // Two images on one PV (024).
    let mut c = create("m1pv", 4, 1, LogType::Disk);
    c.pvs = vec![t.pvs[0].clone()];
    let e = mirror::lvcreate_mirror(&mut s, &c).unwrap_err();
    assert_eq!(e.to_string(), "Insufficient suitable allocatable extents for logical volume m1pv: 2 more required");
    // More than the VG has (025): 2 images of 25 extents.
    let e = mirror::lvcreate_mirror(&mut s, &create("big", 100, 1, LogType::Disk)).unwrap_err();
    assert_eq!(e.to_string(), "Insufficient free space: 50 extents needed, but only 45 available");
    // Two images of 16 extents: the VG has the space, but the first takes
    // two PVs of 15 and the second cannot share them.
    let e = mirror::lvcreate_mirror(&mut s, &create("wide", 64, 1, LogType::Core)).unwrap_err();
    assert_eq!(e.to_string(), "Insufficient suitable allocatable extents for logical volume wide: 32 more required");
    let e = LogType::parse("mirrored").unwrap_err();
    assert_eq!(e.to_string(), "Log type \"mirrored\" is DEPRECATED. Use RAID1 LV or disk log instead.");
    assert!(matches!(LogType::parse("nosuch"), Err(LvmError::Usage(_))));
    assert!(t.disks() == before, "a refused lvcreate wrote");
    assert!(t.host.world().devs.is_empty());
}

#[test]
fn test_lvconvert_m0_keeps_the_image_not_on_the_pv_named_and_split_makes_a_linear_lv() {
    let t = setup("mirror-m0");
    let mut s = t.session(false);
    mirror::lvcreate_mirror(&mut s, &create("mtwo", 4, 1, LogType::Disk)).unwrap();
    mirror::lvcreate_mirror(&mut s, &create("mregion", 4, 1, LogType::Disk)).unwrap();
    t.lines.take();
    // -m 0 naming vda: the image on vdb stays (oracle5 040).
    let mut c = convert("mtwo");
    c.mirrors = Some(0);
    c.pvs = vec![t.pvs[0].clone()];
    mirror::lvconvert_mirror(&mut s, &c).unwrap();
    assert_eq!(t.lines.take().0, ["Logical volume vg0/mtwo converted."]);
    assert_eq!(at(&t, "mtwo"), ("pv1".into(), Extents(0)));
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lvs.iter().all(|l| !l.name.starts_with("mtwo_")), "sub-LVs left behind");
    assert!(table(&t, "vg0-mtwo").contains(" linear "), "{}", table(&t, "vg0-mtwo"));
    assert!(!t.host.world().devs.contains_key("vg0-mtwo_mimage_0"));
    // Split: the last image becomes "split", the mirror keeps image 0 (038).
    let mut c = convert("mregion");
    c.split = Some((1, "split".into()));
    mirror::lvconvert_mirror(&mut s, &c).unwrap();
    assert_eq!(at(&t, "mregion"), ("pv0".into(), Extents(1)));
    assert_eq!(at(&t, "split"), ("pv1".into(), Extents(1)));
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("split").unwrap().is_visible());
    assert!(table(&t, "vg0-split").contains(" linear "));
    assert!(!t.host.world().devs.keys().any(|k| k.contains("mregion_")), "{:?}", t.host.world().devs.keys());
}

#[test]
fn test_lvconvert_linear_to_mirror_then_log_core_and_disk() {
    let t = setup("mirror-up");
    let mut s = t.session(false);
    let mut c = ulvm_lvm::ops::create::LvCreate::new("vg0", mib(4));
    c.name = Some("lin".into());
    ulvm_lvm::ops::create::lvcreate(&mut s, &c).unwrap();
    t.lines.take();
    let mut c = convert("lin");
    c.mirrors = Some(1);
    assert_eq!(mirror::lvconvert_mirror(&mut s, &c).unwrap(), mirror::Converted::Syncing);
    assert_eq!(t.lines.take().0, ["Logical volume vg0/lin being converted."]);
    let vg = s.vg("vg0", true).unwrap();
    // As LVM lists them after the conversion: the log, then the images.
    let names: Vec<&str> = vg.vg.lvs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lin", "lin_mlog", "lin_mimage_0", "lin_mimage_1"]);
    assert_eq!(at(&t, "lin_mimage_0"), ("pv0".into(), Extents(0)), "the LV's own extents are image 0");
    assert_eq!(at(&t, "lin_mimage_1"), ("pv1".into(), Extents(0)));
    assert_eq!(at(&t, "lin_mlog"), ("pv2".into(), Extents(0)));
    // --mirrorlog core drops the log LV; disk makes one again. The
    // mirror is in sync, so each new log starts in sync, loaded `nosync`
    // once, as LVM loads it (oracle5 042), and the disk log is written
    // clean.
    t.host.world().status.insert(
        "vg0-lin".into(),
        TargetStatus::Mirror(MirrorStatus {
            legs: vec![DevNum { major: 253, minor: 1 }, DevNum { major: 253, minor: 2 }],
            in_sync: 2,
            regions: 2,
            health: vec![LegHealth::Alive, LegHealth::Alive],
            log: MirrorLogStatus::Core,
        }),
    );
    let mut c = convert("lin");
    c.log = Some(LogType::Core);
    mirror::lvconvert_mirror(&mut s, &c).unwrap();
    assert!(s.vg("vg0", true).unwrap().vg.lv("lin_mlog").is_none());
    assert!(table(&t, "vg0-lin").contains(" mirror core 2 4096 nosync 2 "), "{}", table(&t, "vg0-lin"));
    assert!(!t.host.world().devs.contains_key("vg0-lin_mlog"));
    c.log = Some(LogType::Disk);
    mirror::lvconvert_mirror(&mut s, &c).unwrap();
    assert!(table(&t, "vg0-lin").contains(" mirror disk 3 vg0-lin_mlog 4096 nosync 2 "), "{}", table(&t, "vg0-lin"));
    let (key, pe) = at(&t, "lin_mlog");
    let disk = std::fs::read(&t.pvs[key[2..].parse::<usize>().unwrap()]).unwrap();
    let log_at = (1usize << 20) + pe.0 as usize * (4 << 20);
    assert!(disk[log_at + 1024..log_at + (4 << 20)].iter().all(|&b| b == 0xFF), "the new log must be written clean");
    let e = mirror::lvconvert_mirror(&mut s, &c).unwrap_err();
    assert_eq!(e.to_string(), "Mirror log is already disk.");
}

#[test]
fn test_lvconvert_repair_replaces_the_failed_leg_on_a_free_pv_and_reloads_the_mirror() {
    let t = setup("mirror-repair");
    let mut s = t.session(false);
    let mut c = create("m", 4, 1, LogType::Core);
    c.pvs = vec![t.pvs[0].clone(), t.pvs[1].clone()];
    mirror::lvcreate_mirror(&mut s, &c).unwrap();
    t.lines.take();
    let healthy = |h1: LegHealth| {
        TargetStatus::Mirror(MirrorStatus {
            legs: vec![DevNum { major: 253, minor: 1 }, DevNum { major: 253, minor: 2 }],
            in_sync: 1,
            regions: 2,
            health: vec![LegHealth::Alive, h1],
            log: MirrorLogStatus::Core,
        })
    };
    // Nothing failed: nothing to do.
    t.host.world().status.insert("vg0-m".into(), healthy(LegHealth::Alive));
    assert!(!mirror::repair(&mut s, "vg0", "m", Some(mirror::RepairPolicy::Allocate)).unwrap());
    t.host.world().status.insert("vg0-m".into(), healthy(LegHealth::WriteError));
    t.lines.take();
    t.host.world().log.clear();
    // By hand (no policy), answered yes: as `lvconvert --repair -y`.
    let mut s = t.session(true);
    assert!(mirror::repair(&mut s, "vg0", "m", None).unwrap());
    let c_path = t.pvs[2].display().to_string();
    assert_eq!(
        t.lines.take().0,
        [
            format!("Faulty leg m_mimage_1 of vg0/m replaced by a new image on {c_path}."),
            "vg0/m: Mirror repaired.".into()
        ]
    );
    assert_eq!(at(&t, "m_mimage_1"), ("pv2".into(), Extents(0)));
    let log = t.host.world().log.clone();
    assert_eq!(
        log.iter().map(|l| l.split(':').next().unwrap()).collect::<Vec<_>>(),
        [
            "suspend vg0-m",
            "suspend vg0-m_mimage_1",
            "load vg0-m_mimage_1",
            "resume vg0-m_mimage_1",
            "load vg0-m",
            "resume vg0-m"
        ]
    );
    assert!(table(&t, "vg0-m_mimage_1").contains(&format!("linear {c_path} 2048")), "{}", table(&t, "vg0-m_mimage_1"));
}

#[test]
fn test_lvremove_of_a_mirror_removes_its_images_log_and_devices() {
    let t = setup("mirror-remove");
    let mut s = t.session(false);
    mirror::lvcreate_mirror(&mut s, &create("m", 4, 1, LogType::Disk)).unwrap();
    let e = lvremove(&mut s, "vg0", Some("m_mlog"), true).unwrap_err();
    assert_eq!(e.to_string(), "Can't remove logical volume vg0/m_mlog used by a mirror.");
    lvremove(&mut s, "vg0", Some("m"), true).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lvs.is_empty(), "{:?}", vg.vg.lvs.iter().map(|l| &l.name).collect::<Vec<_>>());
    assert!(t.host.world().devs.is_empty(), "{:?}", t.host.world().devs.keys());
}

#[test]
fn test_lvrename_of_a_mirror_renames_its_sub_lvs_lvextend_grows_its_images_and_reduce_is_refused() {
    let t = setup("mirror-rename");
    let mut s = t.session(false);
    mirror::lvcreate_mirror(&mut s, &create("m", 4, 1, LogType::Disk)).unwrap();
    let before = t.disks();
    let e = ulvm_lvm::ops::change::lvrename(&mut s, "vg0", "m_mimage_0", "x").unwrap_err();
    assert_eq!(e.to_string(), "Cannot rename internal LV \"m_mimage_0\".");
    let grow = |lv: &str| Resize {
        vg: "vg0".into(),
        lv: lv.into(),
        command: ResizeCommand::Extend,
        target: Target::Size(mib(4)),
        stripes: None,
        pvs: vec![],
        force: true,
        resize_fs: false,
    };
    let e = resize::resize(&mut s, &grow("m_mlog")).unwrap_err();
    assert_eq!(e.to_string(), "Can't resize internal logical volume vg0/m_mlog.");
    let mut shrink = grow("m");
    shrink.command = ResizeCommand::Reduce;
    shrink.target =
        Target::Size(ulvm_lvm::ops::common::SizeSpec::Size { sign: ulvm_lvm::size::Sign::Minus, size: Sectors(8192) });
    assert!(matches!(resize::resize(&mut s, &shrink), Err(LvmError::Refused(_))));
    assert!(t.disks() == before, "a refused command wrote");
    // Growing extends each image on its own PV, and the mirror with them.
    let mut more = grow("m");
    more.target =
        Target::Size(ulvm_lvm::ops::common::SizeSpec::Size { sign: ulvm_lvm::size::Sign::Plus, size: Sectors(8192) });
    resize::resize(&mut s, &more).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lv("m").unwrap().extents(), Extents(2));
    for (img, pv) in [("m_mimage_0", "pv0"), ("m_mimage_1", "pv1")] {
        let l = vg.vg.lv(img).unwrap();
        assert_eq!(l.extents(), Extents(2), "{img}");
        assert_eq!(l.segments.len(), 1, "{img} continued in place");
        assert_eq!(at(&t, img), (pv.to_string(), Extents(0)));
    }
    assert!(table(&t, "vg0-m").starts_with("0 16384 mirror disk 2 "), "{}", table(&t, "vg0-m"));
    ulvm_lvm::ops::change::lvrename(&mut s, "vg0", "m", "data").unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let names: Vec<&str> = vg.vg.lvs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["data", "data_mimage_0", "data_mimage_1", "data_mlog"]);
    let m = vg.vg.lv("data").unwrap().mirror().unwrap();
    assert_eq!(m.mirror_log.as_deref(), Some("data_mlog"));
    assert_eq!(m.areas[1].0, "data_mimage_1");
    let devs: Vec<String> = t.host.world().devs.keys().cloned().collect();
    assert_eq!(devs, ["vg0-data", "vg0-data_mimage_0", "vg0-data_mimage_1", "vg0-data_mlog"]);
}

#[test]
fn test_repair_with_the_remove_policy_drops_the_failed_image_and_leaves_a_linear_lv() {
    repair_drops_the_failed_image("mirror-repair-remove", Some(mirror::RepairPolicy::Remove));
}

/// `lvconvert --repair` by hand asks, as LVM does; no (or no answer)
/// drops the failed images instead of replacing them.
#[test]
fn test_repair_by_hand_answered_no_drops_the_failed_image() {
    repair_drops_the_failed_image("mirror-repair-no", None);
}

fn repair_drops_the_failed_image(name: &str, policy: Option<mirror::RepairPolicy>) {
    let t = setup(name);
    // Answers no to every question.
    let mut s = t.session(false);
    mirror::lvcreate_mirror(&mut s, &create("m", 4, 1, LogType::Disk)).unwrap();
    t.lines.take();
    t.host.world().status.insert(
        "vg0-m".into(),
        TargetStatus::Mirror(MirrorStatus {
            legs: vec![DevNum { major: 253, minor: 1 }, DevNum { major: 253, minor: 2 }],
            in_sync: 2,
            regions: 2,
            health: vec![LegHealth::WriteError, LegHealth::Alive],
            log: MirrorLogStatus::Disk { dev: DevNum { major: 253, minor: 0 }, health: Default::default() },
        }),
    );
    assert!(mirror::repair(&mut s, "vg0", "m", policy).unwrap());
    assert_eq!(t.lines.take().0, ["Faulty leg m_mimage_0 of vg0/m removed.", "vg0/m: Mirror repaired."]);
    // The healthy image 1 (on vdb) is the LV now; image 0, the log, their devices go.
    assert_eq!(at(&t, "m"), ("pv1".into(), Extents(0)));
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lvs.len(), 1);
    let devs: Vec<String> = t.host.world().devs.keys().cloned().collect();
    assert_eq!(devs, ["vg0-m"]);
    assert!(table(&t, "vg0-m").contains(" linear "));
}

#[test]
fn test_pvmove_leaves_a_mirrors_images_alone_and_writes_nothing() {
    let t = setup("mirror-pvmove");
    let mut s = t.session(false);
    mirror::lvcreate_mirror(&mut s, &create("m", 4, 1, LogType::Core)).unwrap();
    t.lines.take();
    let before = t.disks();
    let mv = ulvm_lvm::ops::pvmove::PvMove {
        source: Some(ulvm_lvm::ops::pvmove::PvArg { path: t.pvs[0].clone(), ranges: vec![] }),
        ..Default::default()
    };
    assert!(ulvm_lvm::ops::pvmove::pvmove(&mut s, &mv).is_err());
    let (out, err) = t.lines.take();
    assert_eq!(err, ["WARNING: Skipping m_mimage_0 of mirror m: ulvm does not move mirrored LVs yet."]);
    assert!(out.iter().any(|l| l.starts_with("All data on source PV skipped.")), "{out:?}");
    assert!(t.disks() == before, "a refused pvmove wrote");
}

#[test]
fn test_vgsplit_moves_a_mirror_whole_or_refuses() {
    let t = setup("mirror-vgsplit");
    let mut s = t.session(false);
    // Images on vda and vdb, the log on vdc, inactive.
    let mut c = create("m", 4, 1, LogType::Disk);
    c.activate = false;
    mirror::lvcreate_mirror(&mut s, &c).unwrap();
    let before = t.disks();
    let e = ulvm_lvm::ops::split::vgsplit(&mut s, "vg0", "vg1", &[t.pvs[2].clone()]).unwrap_err();
    assert_eq!(e.to_string(), "Can't split mirror m between two Volume Groups");
    assert!(t.disks() == before, "a refused vgsplit wrote");
    // With a core log on vda and vdb, the mirror moves whole with them.
    let mut c = create("k", 4, 1, LogType::Core);
    c.activate = false;
    c.pvs = vec![t.pvs[0].clone(), t.pvs[1].clone()];
    lvremove(&mut s, "vg0", Some("m"), true).unwrap();
    mirror::lvcreate_mirror(&mut s, &c).unwrap();
    ulvm_lvm::ops::split::vgsplit(&mut s, "vg0", "vg1", &[t.pvs[0].clone(), t.pvs[1].clone()]).unwrap();
    let mut names =
        |vg: &str| -> Vec<String> { s.vg(vg, true).unwrap().vg.lvs.iter().map(|l| l.name.clone()).collect() };
    assert!(names("vg0").is_empty());
    let mut moved = names("vg1");
    moved.sort();
    assert_eq!(moved, ["k", "k_mimage_0", "k_mimage_1"]);
}
