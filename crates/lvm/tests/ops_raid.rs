//! raid1 LVs in-process, over the fake device host: the metadata
//! `lvcreate --type raid1` writes (LVM 2.03's keys and sub-LVs), the
//! zeroed rmetas, the tables, `nosync`, the metadata text's round trip,
//! `lvconvert -m` between linear and raid1 (with LVM's prompts and the
//! `REBUILD` flags passed once and cleared), `--type raid1` of a legacy
//! mirror, `--repair`, `lvchange --syncaction` and `--rebuild`, the
//! activation modes with a missing PV, `lv_attr`, and the refusals, which
//! write nothing.

mod common;

use common::{mib, Setup};
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{RaidHealth, RaidStatus, RaidType, SyncAction, TargetStatus};
use ulvm_lvm::extent::Extents;
use ulvm_lvm::facts::{live, lv_attr, Devices, View};
use ulvm_lvm::model::{RaidArea, SegmentKind, VolumeGroup, NOTSYNCED, REBUILD};
use ulvm_lvm::ops::mirror::{self, LogType, MirrorCreate};
use ulvm_lvm::ops::raid::{self, ActivationMode, RaidChange, RaidConvert, RaidCreate, RaidMessage, RaidRepair};
use ulvm_lvm::ops::vg::{vgcreate, VgCreate};
use ulvm_lvm::text::Tree;
use ulvm_lvm::LvmError;

/// vg0 over three 64 MiB PVs (15 extents of 4 MiB each), nothing on them.
fn setup(name: &str) -> Setup {
    let mut t = Setup::new(name);
    t.add_device("c.img");
    let mut s = t.session(false);
    vgcreate(&mut s, &VgCreate::new("vg0", t.pvs.clone())).unwrap();
    t.lines.take();
    t.host.world().log.clear();
    t
}

fn create(name: &str, size_mib: u64, mirrors: usize) -> RaidCreate {
    RaidCreate {
        vg: "vg0".into(),
        name: Some(name.into()),
        size: mib(size_mib),
        mirrors,
        nosync: false,
        region_size: None,
        pvs: vec![],
        activate: true,
        tags: vec![],
    }
}

/// Where an LV's first segment is: `(pv key, first extent)`, and its length.
fn at(t: &Setup, lv: &str) -> (String, Extents, Extents) {
    let vg = t.session(false).vg("vg0", true).unwrap();
    let l = vg.vg.lv(lv).unwrap_or_else(|| panic!("no LV {lv}"));
    match &l.segments[0].kind {
        SegmentKind::Striped { stripes, .. } => (stripes[0].0.clone(), stripes[0].1, l.extents()),
        k => panic!("{lv}: {k:?}"),
    }
}

fn table(t: &Setup, dev: &str) -> String {
    t.host.world().devs.get(dev).map(|d| d.table.to_string().trim().to_string()).unwrap_or_default()
}

fn status(health: &str, done: u64, total: u64, action: SyncAction, mismatches: u64) -> TargetStatus {
    TargetStatus::Raid(RaidStatus {
        raid_type: RaidType::Raid1,
        health: health.chars().map(|c| RaidHealth::from_char(c).unwrap()).collect(),
        sync_done: Sectors(done),
        sync_total: Sectors(total),
        action,
        mismatch_count: mismatches,
        data_offset: Sectors(0),
        journal: '-',
    })
}

/// `lv_attr` of each LV, as `lvs -a` shows them.
fn attrs(t: &Setup, lvs: &[&str]) -> Vec<String> {
    let mut s = t.session(false);
    let vg = s.vg("vg0", true).unwrap();
    let view = View::new(&vg);
    let devs = Devices::get(&mut s);
    lvs.iter()
        .map(|n| {
            let lv = vg.vg.lv(n).unwrap();
            let l = live(&mut s, &devs, &view, lv);
            lv_attr(&view, lv, &l)
        })
        .collect()
}

#[test]
fn test_lvcreate_raid1_writes_lvms_metadata_zeroes_the_rmetas_and_loads_the_raid() {
    let t = setup("raid-create");
    // Junk where the rmetas go: the create must zero their first 4 KiB.
    for p in &t.pvs[..2] {
        let mut b = std::fs::read(p).unwrap();
        b[1 << 20..(1 << 20) + 8192].fill(0xAA);
        std::fs::write(p, b).unwrap();
    }
    let mut s = t.session(false);
    raid::lvcreate_raid(&mut s, &create("r", 8, 1)).unwrap();
    assert_eq!(t.lines.take().0, ["Logical volume \"r\" created."]);
    let vg = s.vg("vg0", true).unwrap();
    let names: Vec<&str> = vg.vg.lvs.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["r", "r_rimage_0", "r_rmeta_0", "r_rimage_1", "r_rmeta_1"]);
    let top = vg.vg.lv("r").unwrap();
    assert_eq!(top.status, ["READ", "WRITE", "VISIBLE"]);
    let r = top.raid().expect("a raid1 segment");
    assert_eq!(r.region_size, Some(Sectors(4096)));
    assert_eq!(
        r.areas,
        [
            RaidArea { meta: Some("r_rmeta_0".into()), data: "r_rimage_0".into() },
            RaidArea { meta: Some("r_rmeta_1".into()), data: "r_rimage_1".into() }
        ]
    );
    for sub in ["r_rimage_0", "r_rmeta_0", "r_rimage_1", "r_rmeta_1"] {
        assert_eq!(vg.vg.lv(sub).unwrap().status, ["READ", "WRITE"], "{sub}");
    }
    // Each slot is one allocation on its own PV, rmeta first.
    assert_eq!(at(&t, "r_rmeta_0"), ("pv0".into(), Extents(0), Extents(1)));
    assert_eq!(at(&t, "r_rimage_0"), ("pv0".into(), Extents(1), Extents(2)));
    assert_eq!(at(&t, "r_rmeta_1"), ("pv1".into(), Extents(0), Extents(1)));
    assert_eq!(at(&t, "r_rimage_1"), ("pv1".into(), Extents(1), Extents(2)));
    for p in &t.pvs[..2] {
        let b = std::fs::read(p).unwrap();
        assert!(b[1 << 20..(1 << 20) + 4096].iter().all(|&x| x == 0), "rmeta's first 4 KiB must be zero");
        assert_eq!(b[(1 << 20) + 4096], 0xAA, "only 4 KiB are zeroed");
    }
    assert_eq!(
        table(&t, "vg0-r"),
        "0 16384 raid raid1 3 0 region_size 4096 2 vg0-r_rmeta_0 vg0-r_rimage_0 vg0-r_rmeta_1 vg0-r_rimage_1"
    );
    let log = t.host.world().log.clone();
    let order: Vec<&str> = log.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        order,
        [
            "create vg0-r_rmeta_0",
            "create vg0-r_rimage_0",
            "create vg0-r_rmeta_1",
            "create vg0-r_rimage_1",
            "create vg0-r"
        ]
    );
    // lvs -a: the raid, its images in sync (A) and its metadata LVs.
    t.host.world().status.insert("vg0-r".into(), status("AA", 8192, 8192, SyncAction::Idle, 0));
    assert_eq!(attrs(&t, &["r", "r_rimage_0", "r_rmeta_0"]), ["rwi-a-r---", "iwi-a-r---", "ewi-a-r---"]);
}

#[test]
fn test_lvcreate_raid1_nosync_is_loaded_nosync_once_and_shows_capital_r() {
    let t = setup("raid-nosync");
    let mut s = t.session(false);
    let mut c = create("r", 4, 2);
    c.nosync = true;
    c.region_size = Some(Sectors(1024));
    raid::lvcreate_raid(&mut s, &c).unwrap();
    let (out, err) = t.lines.take();
    assert_eq!(out, ["Logical volume \"r\" created."]);
    assert_eq!(err, ["WARNING: New raid1 won't be synchronised. Don't read what you didn't write!"]);
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("r").unwrap().has_status(NOTSYNCED));
    assert_eq!(vg.vg.lv("r").unwrap().raid().unwrap().areas.len(), 3);
    assert_eq!(
        table(&t, "vg0-r"),
        "0 8192 raid raid1 4 0 nosync region_size 1024 3 vg0-r_rmeta_0 vg0-r_rimage_0 vg0-r_rmeta_1 vg0-r_rimage_1 vg0-r_rmeta_2 vg0-r_rimage_2"
    );
    // Every activation loads it nosync, as LVM 2.03's (oracle6 025).
    let plan = ulvm_lvm::activate::plan(&vg, "r").unwrap();
    assert!(plan.last().unwrap().table.to_string().contains(" nosync "));
    t.host.world().status.insert("vg0-r".into(), status("AAA", 8192, 8192, SyncAction::Idle, 0));
    assert_eq!(attrs(&t, &["r"]), ["Rwi-a-r---"]);
}

#[test]
fn test_raid1_metadata_text_round_trips_and_reads_lvms_own() {
    let t = setup("raid-text");
    let mut s = t.session(false);
    let mut c = create("r", 8, 1);
    c.activate = false;
    raid::lvcreate_raid(&mut s, &c).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let text = vg.vg.to_text("test", "host", 0);
    // As LVM 2.03 lays it out: a blank line, then each image's pair on a line.
    let raids = "raids = [\n\"r_rmeta_0\", \"r_rimage_0\",\n\"r_rmeta_1\", \"r_rimage_1\"\n]\n";
    assert!(text.contains(&format!("type = \"raid1\"\ndevice_count = 2\nregion_size = 4096\n\n{raids}")), "{text}");
    let back = VolumeGroup::from_tree(&Tree::parse(&text).unwrap()).unwrap();
    assert_eq!(&back, &*vg.vg);
    // A segment as LVM 2.03 writes it, with rates, write-behind and flags.
    let lvm = text
        .replace(
            "region_size = 4096\n",
            "region_size = 4096\nwritebehind = 512\nmin_recovery_rate = 10\nmax_recovery_rate = 100\n",
        )
        .replacen("status = [\"READ\", \"WRITE\"]", "status = [\"READ\", \"WRITE\", \"REBUILD\", \"WRITEMOSTLY\"]", 1);
    let v = VolumeGroup::from_tree(&Tree::parse(&lvm).unwrap()).unwrap();
    let r = v.lv("r").unwrap().raid().unwrap();
    assert_eq!((r.writebehind, r.min_recovery_rate, r.max_recovery_rate), (Some(512), Some(10), Some(100)));
    assert!(v.lv("r_rimage_0").unwrap().has_status(REBUILD));
    assert_eq!(v.to_text("test", "host", 0), lvm);
    // A pair list whose names do not match the count is refused.
    let bad = text.replace("device_count = 2", "device_count = 3");
    assert!(VolumeGroup::from_tree(&Tree::parse(&bad).unwrap()).is_err());
}

#[test]
fn test_lvconvert_linear_to_raid1_passes_rebuild_once_then_clears_it() {
    let t = Setup::with_base("raid-convert");
    let mut s = t.session(true);
    let c = RaidConvert { vg: "vg0".into(), lv: "base".into(), mirrors: Some(1), ..Default::default() };
    raid::lvconvert_raid(&mut s, &c).unwrap();
    assert_eq!(t.lines.take().0, ["Logical volume vg0/base successfully converted."]);
    let vg = s.vg("vg0", true).unwrap();
    // base was pv0:0-1; its rmeta takes the next free extent there.
    assert_eq!(at(&t, "base_rimage_0"), ("pv0".into(), Extents(0), Extents(2)));
    assert_eq!(at(&t, "base_rmeta_0"), ("pv0".into(), Extents(2), Extents(1)));
    assert_eq!(at(&t, "base_rmeta_1"), ("pv1".into(), Extents(0), Extents(1)));
    assert_eq!(at(&t, "base_rimage_1"), ("pv1".into(), Extents(1), Extents(2)));
    assert!(vg.vg.raid_sub_lvs("base").iter().all(|n| !vg.vg.lv(n).unwrap().has_status(REBUILD)));
    let log = t.host.world().log.clone();
    let loads: Vec<&String> = log.iter().filter(|l| l.starts_with("load vg0-base:")).collect();
    // One load: the table keeps `rebuild 1` (LVM's, oracle6 073), the
    // metadata has the flag cleared by a second commit.
    assert_eq!(loads.len(), 1, "{log:#?}");
    assert_eq!(
        table(&t, "vg0-base"),
        "0 16384 raid raid1 5 0 rebuild 1 region_size 4096 2 vg0-base_rmeta_0 vg0-base_rimage_0 vg0-base_rmeta_1 vg0-base_rimage_1"
    );
    // Two commits: the REBUILD flag is on disk between them.
    let archived: Vec<String> = std::fs::read_dir(t.sd.archive_dir())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|text| text.contains(&format!("seqno = {}\n", vg.vg.seqno - 1)))
        .collect();
    assert_eq!(archived.len(), 1);
    assert!(archived[0].contains("\"REBUILD\""));
}

#[test]
fn test_lvconvert_raid1_to_linear_keeps_image_0_and_drops_the_rest() {
    let t = setup("raid-linear");
    let mut s = t.session(true);
    raid::lvcreate_raid(&mut s, &create("r", 8, 2)).unwrap();
    t.lines.take();
    let c = RaidConvert { vg: "vg0".into(), lv: "r".into(), mirrors: Some(0), ..Default::default() };
    raid::lvconvert_raid(&mut s, &c).unwrap();
    assert_eq!(t.lines.take().0, ["Logical volume vg0/r successfully converted."]);
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lvs.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["r"]);
    assert_eq!(at(&t, "r"), ("pv0".into(), Extents(1), Extents(2)));
    // rimage_0 was pv0:1-2: 1 MiB of PV header, then one 4 MiB extent.
    assert_eq!(table(&t, "vg0-r"), format!("0 16384 linear {} 10240", t.pvs[0].display()));
    assert!(t.host.world().devs.keys().all(|d| d == "vg0-r"));
}

#[test]
fn test_lvconvert_raid1_down_by_pv_renumbers_the_slots_left() {
    let t = setup("raid-down");
    let mut s = t.session(true);
    raid::lvcreate_raid(&mut s, &create("r", 8, 2)).unwrap();
    let c = RaidConvert {
        vg: "vg0".into(),
        lv: "r".into(),
        mirrors: Some(1),
        pvs: vec![t.pvs[0].clone()],
        ..Default::default()
    };
    raid::lvconvert_raid(&mut s, &c).unwrap();
    // Slot 0 (on pv0) went; slots 1 and 2 are 0 and 1 now.
    assert_eq!(at(&t, "r_rimage_0"), ("pv1".into(), Extents(1), Extents(2)));
    assert_eq!(at(&t, "r_rimage_1"), ("pv2".into(), Extents(1), Extents(2)));
    assert!(s.vg("vg0", true).unwrap().vg.lv("r_rimage_2").is_none());
}

#[test]
fn test_lvconvert_refused_by_the_prompt_writes_nothing() {
    let t = setup("raid-refuse");
    let mut s = t.session(true);
    raid::lvcreate_raid(&mut s, &create("r", 8, 1)).unwrap();
    let before = t.disks();
    let mut no = t.session(false);
    let c = RaidConvert { vg: "vg0".into(), lv: "r".into(), mirrors: Some(0), ..Default::default() };
    let e = raid::lvconvert_raid(&mut no, &c).unwrap_err();
    assert_eq!(e.to_string(), "Logical volume vg0/r NOT converted to \"linear\".");
    // The count it has: a success with a warning, as LVM 2.03's (oracle6 107).
    t.lines.take();
    let c = RaidConvert { vg: "vg0".into(), lv: "r".into(), mirrors: Some(1), ..Default::default() };
    raid::lvconvert_raid(&mut s, &c).unwrap();
    assert_eq!(
        t.lines.take(),
        (
            vec!["Logical volume vg0/r successfully converted.".to_string()],
            vec!["WARNING: vg0/r already has image count of 2.".to_string()]
        )
    );
    let c = RaidConvert { vg: "vg0".into(), lv: "r".into(), mirrors: Some(10), ..Default::default() };
    assert!(matches!(raid::lvconvert_raid(&mut s, &c), Err(LvmError::Usage(_))));
    // Three slots cannot go on two PVs that a slot does not use already.
    let c = RaidConvert { vg: "vg0".into(), lv: "r".into(), mirrors: Some(3), ..Default::default() };
    assert!(matches!(raid::lvconvert_raid(&mut s, &c), Err(LvmError::Insufficient(_))));
    assert!(t.disks() == before, "a refused conversion must write nothing");
}

#[test]
fn test_lvconvert_type_raid1_of_a_mirror_renames_images_and_adds_rmetas() {
    let t = setup("raid-from-mirror");
    let mut s = t.session(true);
    let mc = MirrorCreate {
        vg: "vg0".into(),
        name: Some("m".into()),
        size: mib(8),
        mirrors: 1,
        log: LogType::Disk,
        nosync: false,
        region_size: None,
        pvs: vec![],
        activate: false,
        tags: vec![],
    };
    mirror::lvcreate_mirror(&mut s, &mc).unwrap();
    let c = RaidConvert { vg: "vg0".into(), lv: "m".into(), mirrors: None, ..Default::default() };
    raid::lvconvert_raid(&mut s, &c).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let mut names: Vec<&str> = vg.vg.lvs.iter().map(|l| l.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["m", "m_rimage_0", "m_rimage_1", "m_rmeta_0", "m_rmeta_1"]);
    // The images stay where they were; each rmeta is on its image's PV.
    assert_eq!(at(&t, "m_rimage_0"), ("pv0".into(), Extents(0), Extents(2)));
    assert_eq!(at(&t, "m_rimage_1"), ("pv1".into(), Extents(0), Extents(2)));
    assert_eq!(at(&t, "m_rmeta_0").0, "pv0");
    assert_eq!(at(&t, "m_rmeta_1").0, "pv1");
}

#[test]
fn test_lvconvert_repair_replaces_a_dead_slot_on_a_free_pv_and_rebuilds_it() {
    let t = setup("raid-repair");
    let mut s = t.session(true);
    raid::lvcreate_raid(&mut s, &create("r", 8, 1)).unwrap();
    t.lines.take();
    // Healthy: nothing to replace, as LVM says it.
    t.host.world().status.insert("vg0-r".into(), status("AA", 16384, 16384, SyncAction::Idle, 0));
    assert!(!raid::repair(&mut s, "vg0", "r", RaidRepair::Ask).unwrap());
    assert_eq!(
        t.lines.take().0,
        ["vg0/r does not contain devices specified to replace.", "Faulty devices in vg0/r successfully replaced."]
    );
    t.host.world().status.insert("vg0-r".into(), status("AD", 16384, 16384, SyncAction::Idle, 0));
    assert_eq!(attrs(&t, &["r", "r_rimage_1", "r_rimage_0"]), ["rwi-a-r-r-", "Iwi-a-r-r-", "iwi-a-r---"]);
    t.host.world().log.clear();
    assert!(raid::repair(&mut s, "vg0", "r", RaidRepair::Ask).unwrap());
    assert_eq!(t.lines.take().0, ["Faulty devices in vg0/r successfully replaced."]);
    assert_eq!(at(&t, "r_rmeta_1"), ("pv2".into(), Extents(0), Extents(1)));
    assert_eq!(at(&t, "r_rimage_1"), ("pv2".into(), Extents(1), Extents(2)));
    let log = t.host.world().log.clone();
    let loads: Vec<&String> = log.iter().filter(|l| l.starts_with("load vg0-r:")).collect();
    assert!(loads[0].contains(" rebuild 1 "), "{log:#?}");
    assert!(!loads.last().unwrap().contains("rebuild"));
    // The raid's new table is loaded only once its new metadata device is
    // resumed (the target reads the superblocks when it is loaded).
    let at = |what: &str| log.iter().position(|l| l.starts_with(what)).unwrap_or_else(|| panic!("{what}: {log:#?}"));
    assert!(at("suspend vg0-r") < at("suspend vg0-r_rmeta_1"));
    assert!(at("resume vg0-r_rmeta_1") < at("load vg0-r:"), "{log:#?}");
    let vg = s.vg("vg0", true).unwrap();
    assert!(!vg.vg.lv("r_rimage_1").unwrap().has_status(REBUILD));
    // Answered no: nothing happens, and the command succeeds, as LVM's.
    let mut no = t.session(false);
    assert!(!raid::repair(&mut no, "vg0", "r", RaidRepair::Ask).unwrap());
}

#[test]
fn test_syncaction_sends_the_message_and_needs_an_active_raid() {
    let t = setup("raid-syncaction");
    let mut s = t.session(true);
    raid::lvcreate_raid(&mut s, &create("r", 8, 1)).unwrap();
    // Not while the initial resync runs, as LVM.
    t.host.world().status.insert("vg0-r".into(), status("aa", 4096, 16384, SyncAction::Resync, 0));
    let e = raid::syncaction(&mut s, "vg0", "r", RaidMessage::Check).unwrap_err();
    assert_eq!(e.to_string(), "vg0/r state is currently \"resync\".  Unable to switch to \"check\".");
    t.host.world().status.insert("vg0-r".into(), status("AA", 16384, 16384, SyncAction::Idle, 0));
    raid::syncaction(&mut s, "vg0", "r", RaidMessage::Check).unwrap();
    assert!(t.host.world().log.iter().any(|l| l == "message vg0-r 0 check"));
    t.host.world().status.insert("vg0-r".into(), status("AA", 16384, 16384, SyncAction::Idle, 128));
    assert_eq!(attrs(&t, &["r"]), ["rwi-a-r-m-"]);
    t.host.world().devs.clear();
    let e = raid::syncaction(&mut s, "vg0", "r", RaidMessage::Repair).unwrap_err();
    assert_eq!(e.to_string(), "Unable to send message to an inactive logical volume.");
}

#[test]
fn test_lvchange_rebuild_of_an_inactive_raid_is_passed_at_its_next_activation() {
    let t = setup("raid-rebuild");
    let mut s = t.session(true);
    let mut c = create("r", 8, 1);
    c.activate = false;
    raid::lvcreate_raid(&mut s, &c).unwrap();
    let ch = RaidChange { rebuild: vec![t.pvs[1].clone()], ..Default::default() };
    raid::lvchange_raid(&mut s, "vg0", "r", &ch).unwrap();
    assert!(s.vg("vg0", true).unwrap().vg.lv("r_rimage_1").unwrap().has_status(REBUILD));
    let mut a = ulvm_lvm::ops::change::LvChange::new("vg0", Some("r"));
    a.activate = Some(true);
    ulvm_lvm::ops::change::lvchange(&mut s, &a).unwrap();
    let log = t.host.world().log.clone();
    assert!(log.iter().any(|l| l.starts_with("create vg0-r:") && l.contains(" rebuild 1 ")), "{log:#?}");
    assert!(!table(&t, "vg0-r").contains("rebuild"));
    assert!(!s.vg("vg0", true).unwrap().vg.lv("r_rimage_1").unwrap().has_status(REBUILD));
    // A PV no slot is on is refused.
    let e =
        raid::lvchange_raid(&mut s, "vg0", "r", &RaidChange { rebuild: vec![t.pvs[2].clone()], ..Default::default() })
            .unwrap_err();
    assert!(e.to_string().starts_with("Logical volume vg0/r does not contain any of the PVs to rebuild."));
}

#[test]
fn test_activationmode_complete_refuses_a_raid_missing_a_leg_and_degraded_loads_dash_dash() {
    let t = setup("raid-degraded");
    let mut s = t.session(true);
    let mut c = create("r", 8, 1);
    c.activate = false;
    raid::lvcreate_raid(&mut s, &c).unwrap();
    // pv1 goes away (its label wiped).
    let mut b = std::fs::read(&t.pvs[1]).unwrap();
    b[..1 << 20].fill(0);
    std::fs::write(&t.pvs[1], b).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let lv = vg.vg.lv("r").unwrap();
    let e = raid::check_activation_mode(&vg, lv, ActivationMode::Complete).unwrap_err();
    assert_eq!(e.to_string(), "Refusing activation of partial LV vg0/r.  Try '--activationmode degraded'.");
    raid::check_activation_mode(&vg, lv, ActivationMode::Degraded).unwrap();
    let mut a = ulvm_lvm::ops::change::LvChange::new("vg0", Some("r"));
    a.activate = Some(true);
    ulvm_lvm::ops::change::lvchange(&mut s, &a).unwrap();
    assert_eq!(table(&t, "vg0-r"), "0 16384 raid raid1 3 0 region_size 4096 2 vg0-r_rmeta_0 vg0-r_rimage_0 - -");
    assert!(!t.host.world().devs.contains_key("vg0-r_rimage_1"));
    t.host.world().status.insert("vg0-r".into(), status("A-", 16384, 16384, SyncAction::Idle, 0));
    assert_eq!(attrs(&t, &["r", "r_rimage_1"]), ["rwi-a-r-p-", "Iwi---r-p-"]);
}

#[test]
fn test_lvconvert_repair_around_a_missing_pv_commits_it_as_missing() {
    let t = setup("raid-repair-missing");
    let mut s = t.session(true);
    raid::lvcreate_raid(&mut s, &create("r", 8, 1)).unwrap();
    t.lines.take();
    // pv1 dies: its label is gone, the target marks its slot dead.
    let mut b = std::fs::read(&t.pvs[1]).unwrap();
    b[..1 << 20].fill(0);
    std::fs::write(&t.pvs[1], b).unwrap();
    t.host.world().status.insert("vg0-r".into(), status("AD", 16384, 16384, SyncAction::Idle, 0));
    assert_eq!(attrs(&t, &["r", "r_rimage_1", "r_rmeta_1"]), ["rwi-a-r-p-", "Iwi-a-r-p-", "ewi-a-r-p-"]);
    // Other changes are refused while the PV is missing.
    let c = RaidConvert { vg: "vg0".into(), lv: "r".into(), mirrors: Some(2), ..Default::default() };
    assert!(raid::lvconvert_raid(&mut s, &c).is_err());
    assert!(raid::repair(&mut s, "vg0", "r", RaidRepair::Ask).unwrap());
    assert_eq!(t.lines.take().0, ["Faulty devices in vg0/r successfully replaced."]);
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.missing, ["pv1"]);
    assert!(vg.vg.pv("pv1").unwrap().status.iter().any(|f| f == "MISSING"));
    assert_eq!(at(&t, "r_rimage_1"), ("pv2".into(), Extents(1), Extents(2)));
    assert!(table(&t, "vg0-r").ends_with("vg0-r_rmeta_0 vg0-r_rimage_0 vg0-r_rmeta_1 vg0-r_rimage_1"));
    t.host.world().status.insert("vg0-r".into(), status("AA", 16384, 16384, SyncAction::Idle, 0));
    assert_eq!(attrs(&t, &["r", "r_rimage_1"]), ["rwi-a-r---", "iwi-a-r---"]);
}

/// LVM 2.03.16 (oracle11 004-006): `lvcreate --addtag` tags a raid1 LV
/// and its rmeta sub-LVs, and a mirror LV alone (none of its images, nor
/// its log).
#[test]
fn test_lvcreate_addtag_tags_a_raid1_with_its_rmetas_and_a_mirror_alone() {
    let t = setup("raid-mirror-addtag");
    let mut s = t.session(false);
    let tags = vec!["rt1".to_string(), "rt2".to_string()];
    raid::lvcreate_raid(&mut s, &RaidCreate { tags: tags.clone(), activate: false, ..create("r1", 8, 1) }).unwrap();
    let mc = MirrorCreate { tags: vec!["mt".into()], activate: false, ..mirror_create("m1") };
    mirror::lvcreate_mirror(&mut s, &mc).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let tags_of = |n: &str| vg.vg.lv(n).unwrap().tags.clone();
    for lv in ["r1", "r1_rmeta_0", "r1_rmeta_1"] {
        assert_eq!(tags_of(lv), tags, "{lv}");
    }
    for lv in ["r1_rimage_0", "r1_rimage_1", "m1_mimage_0", "m1_mimage_1", "m1_mlog"] {
        assert!(tags_of(lv).is_empty(), "{lv}: {:?}", tags_of(lv));
    }
    assert_eq!(tags_of("m1"), ["mt"]);
}

fn mirror_create(name: &str) -> MirrorCreate {
    MirrorCreate {
        vg: "vg0".into(),
        name: Some(name.into()),
        size: mib(8),
        mirrors: 1,
        log: LogType::Disk,
        nosync: false,
        region_size: None,
        pvs: vec![],
        activate: true,
        tags: vec![],
    }
}

/// The VG as if it were shared (lock_type sanlock), in memory only.
fn as_shared(vg: &ulvm_lvm::disk::Vg) -> ulvm_lvm::disk::Vg {
    let mut shared = vg.clone();
    let lock_type = ulvm_lvm::text::Item::Assign("lock_type".into(), ulvm_lvm::text::Value::Str("sanlock".into()));
    shared.vg_mut().extra.push(lock_type);
    shared
}

/// Issue 16: the devices of a shared VG open their PVs with O_DIRECT, a
/// local VG's do not; raid sub-LVs, mirror legs and logs, and a snapshot
/// family's layers alike.
#[test]
fn test_plans_of_a_shared_vg_ask_for_direct_io_and_a_local_vgs_do_not() {
    use ulvm_lvm::ops::create::{lvcreate, LvCreate};
    let t = setup("raid-direct-io");
    let mut s = t.session(false);
    raid::lvcreate_raid(&mut s, &create("r", 4, 1)).unwrap();
    mirror::lvcreate_mirror(&mut s, &mirror_create("m")).unwrap();
    lvcreate(&mut s, &LvCreate { name: Some("l".into()), ..LvCreate::new("vg0", mib(4)) }).unwrap();
    lvcreate(
        &mut s,
        &LvCreate { name: Some("snap".into()), snapshot_of: Some("l".into()), ..LvCreate::new("vg0", mib(4)) },
    )
    .unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let lvs = ["r".to_string(), "m".to_string(), "l".to_string()];
    let local = ulvm_lvm::activate::plan_many(&vg, &lvs).unwrap();
    let names: Vec<&str> = local.iter().map(|d| d.name.as_str()).collect();
    for n in ["vg0-r_rmeta_0", "vg0-r", "vg0-m_mlog", "vg0-m_mimage_1", "vg0-m", "vg0-l-real", "vg0-snap-cow", "vg0-l"]
    {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert!(local.iter().all(|d| !d.direct_io), "a local VG's devices are buffered");
    let shared = ulvm_lvm::activate::plan_many(&as_shared(&vg), &lvs).unwrap();
    assert_eq!(shared.len(), local.len());
    let buffered: Vec<&str> = shared.iter().filter(|d| !d.direct_io).map(|d| d.name.as_str()).collect();
    assert!(buffered.is_empty(), "buffered in a shared VG: {buffered:?}");
}
