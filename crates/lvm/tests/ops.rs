//! The LVM operations in-process, over file PVs and a fake device host:
//! each success path with its messages and the device changes it asks
//! for, each refusal with its message and nothing written, a rollback,
//! snapshot autoextend by policy, and a merge job polled to its end.

mod common;

use common::{mib, Setup};
use std::path::PathBuf;
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{SnapshotStatus, TargetStatus};
use ulvm_lvm::ops::common::SizeSpec;
use ulvm_lvm::ops::create::{lvcreate, LvCreate};
use ulvm_lvm::ops::jobs::{self, Next, Outcome, SnapshotMerge};
use ulvm_lvm::ops::resize::{self, Resize, Resized, Target};
use ulvm_lvm::ops::vg::{vgcreate, VgCreate};
use ulvm_lvm::size::Sign;
use ulvm_lvm::system::Config;
use ulvm_lvm::{Extents, LvmError};

#[test]
fn test_vgcreate_and_lvcreate_write_the_vg_and_activate_the_lv() {
    let t = Setup::new("ops-create");
    let mut s = t.session(false);
    vgcreate(&mut s, &VgCreate::new("vg0", t.pvs.clone())).unwrap();
    let name = lvcreate(&mut s, &LvCreate::new("vg0", mib(6))).unwrap();
    assert_eq!(name, "lvol0");
    // vgcreate labels devices that are not PVs yet, as LVM does.
    let created = |p: &PathBuf| format!("Physical volume \"{}\" successfully created.", p.display());
    assert_eq!(
        t.lines.take().0,
        [
            created(&t.pvs[0]),
            created(&t.pvs[1]),
            "Volume group \"vg0\" successfully created".into(),
            "Rounding up size to full physical extent 8.00 MiB.".into(),
            "Logical volume \"lvol0\" created.".into()
        ]
    );
    // The LV's extents start right after the PV's 1 MiB metadata area.
    let pv = t.pvs[0].display().to_string();
    assert_eq!(t.host.world().log, [format!("create vg0-lvol0: 0 16384 linear {pv} 2048")]);
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lv("lvol0").unwrap().extents(), Extents(2));
    assert_eq!(vg.vg.seqno, 2);
}

#[test]
fn test_lvcreate_refusals_write_nothing() {
    let t = Setup::with_base("ops-refuse");
    let before = t.disks();
    let mut s = t.session(false);
    let named = |n: &str, size: SizeSpec| LvCreate { name: Some(n.into()), ..LvCreate::new("vg0", size) };
    let cases: Vec<(LvCreate, &str)> = vec![
        (named("base", mib(4)), "Logical Volume \"base\" already exists in volume group \"vg0\""),
        (named("big", mib(1024)), "Volume group \"vg0\" has insufficient free space (28 extents): 256 required."),
        (
            named("snapshot9", mib(4)),
            "Names starting \"snapshot\" or \"pvmove\" are reserved. Please choose a different LV name (\"snapshot9\").",
        ),
        (
            LvCreate { stripes: 3, ..named("s3", mib(12)) },
            "Number of stripes (3) must not exceed number of physical volumes (2)",
        ),
        (LvCreate { vg: "nosuch".into(), ..named("x", mib(4)) }, "Volume group \"nosuch\" not found"),
        (
            LvCreate { snapshot_of: Some("nope".into()), ..named("s", mib(4)) },
            "Failed to find logical volume \"vg0/nope\"",
        ),
    ];
    for (c, want) in cases {
        let e = lvcreate(&mut s, &c).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
    assert!(t.disks() == before, "a refused lvcreate wrote to a PV");
    assert!(t.host.world().log.is_empty());
}

#[test]
fn test_lvcreate_whose_activation_fails_leaves_the_vg_as_it_was() {
    let t = Setup::with_base("ops-rollback");
    t.host.world().fail_create.push("vg0-bad".into());
    let mut s = t.session(false);
    let seqno = s.vg("vg0", true).unwrap().vg.seqno;
    let c = LvCreate { name: Some("bad".into()), ..LvCreate::new("vg0", mib(4)) };
    let e = lvcreate(&mut s, &c).unwrap_err();
    assert_eq!(e.to_string(), "Failed to activate new LV vg0/bad: vg0-bad: target 0: refused");
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("bad").is_none(), "the LV stayed after a failed activation");
    assert_eq!(vg.vg.seqno, seqno + 2, "one commit for the LV, one for its removal");
}

#[test]
fn test_snapshot_lvcreate_switches_the_origin_to_snapshot_origin() {
    let t = Setup::with_base("ops-snap");
    let mut s = t.session(false);
    let c = LvCreate { name: Some("snap".into()), snapshot_of: Some("base".into()), ..LvCreate::new("vg0", mib(4)) };
    lvcreate(&mut s, &c).unwrap();
    let log = t.host.world().log.clone();
    let ops: Vec<&str> = log.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "suspend vg0-base",
            "create vg0-base-real",
            "create vg0-snap-cow",
            "create vg0-snap",
            "load vg0-base",
            "resume vg0-base"
        ]
    );
    assert!(log[3].ends_with("snapshot vg0-base-real vg0-snap-cow P 8"), "{}", log[3]);
    assert!(log[4].ends_with("snapshot-origin vg0-base-real"), "{}", log[4]);
}

/// `lvextend -L +4M vg0/base`.
fn grow_base_by_4m() -> Resize {
    Resize {
        vg: "vg0".into(),
        lv: "base".into(),
        command: resize::Command::Extend,
        target: Target::Size(SizeSpec::Size { sign: Sign::Plus, size: Sectors(8192) }),
        stripes: None,
        pvs: vec![],
        force: false,
        resize_fs: false,
    }
}

#[test]
fn test_lvextend_reloads_the_active_lv_and_lvreduce_asks_first() {
    let t = Setup::with_base("ops-resize");
    let mut s = t.session(false);
    let grow = grow_base_by_4m();
    assert_eq!(resize::resize(&mut s, &grow).unwrap(), Resized::Changed { from: Extents(2), to: Extents(3) });
    let ops: Vec<String> = t.host.world().log.iter().map(|l| l.split(':').next().unwrap().to_string()).collect();
    assert_eq!(ops, ["suspend vg0-base", "load vg0-base", "resume vg0-base"]);
    assert_eq!(
        t.lines.take().0,
        [
            "Size of logical volume vg0/base changed from 8.00 MiB (2 extents) to 12.00 MiB (3 extents).",
            "Logical volume vg0/base successfully resized."
        ]
    );
    // Shrinking asks; the answer is no: nothing changes.
    let before = t.disks();
    let shrink = Resize {
        command: resize::Command::Reduce,
        target: Target::Size(SizeSpec::Extents { sign: Sign::None, n: Extents(1) }),
        ..grow.clone()
    };
    let e = resize::resize(&mut s, &shrink).unwrap_err();
    assert_eq!(e.to_string(), "Logical volume vg0/base NOT reduced.");
    assert_eq!(
        t.lines.take().1,
        ["WARNING: Reducing active logical volume to 4.00 MiB.", "THIS MAY DESTROY YOUR DATA (filesystem etc.)"]
    );
    assert!(t.disks() == before);
    // lvextend to a smaller size is refused before anything.
    let e = resize::resize(&mut s, &Resize { target: shrink.target, ..grow }).unwrap_err();
    assert_eq!(e.to_string(), "New size given (1 extents) not larger than existing size (3 extents)");
}

#[test]
fn test_extend_by_policy_grows_a_snapshot_past_the_threshold_only() {
    let t = Setup::with_base("ops-policy");
    let cfg = Config { snapshot_autoextend_threshold: 70, snapshot_autoextend_percent: 50, ..Config::default() };
    std::fs::write(t.sd.config_file(), cfg.to_text()).unwrap();
    let mut s = t.session(false);
    let c = LvCreate { name: Some("snap".into()), snapshot_of: Some("base".into()), ..LvCreate::new("vg0", mib(8)) };
    lvcreate(&mut s, &c).unwrap();
    let policy = Resize {
        vg: "vg0".into(),
        lv: "snap".into(),
        command: resize::Command::Extend,
        target: Target::Policy,
        stripes: None,
        pvs: vec![],
        force: false,
        resize_fs: false,
    };
    let usage = |allocated: u64| {
        TargetStatus::Snapshot(SnapshotStatus::Active {
            allocated: Sectors(allocated),
            total: Sectors(16384),
            metadata: Sectors(16),
        })
    };
    t.host.world().status.insert("vg0-snap".into(), usage(8192));
    assert_eq!(resize::resize(&mut s, &policy).unwrap(), Resized::Unchanged);
    t.host.world().status.insert("vg0-snap".into(), usage(12288));
    assert_eq!(resize::resize(&mut s, &policy).unwrap(), Resized::Changed { from: Extents(2), to: Extents(3) });
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lv("snap").unwrap().extents(), Extents(3));
}

#[test]
fn test_a_merge_job_polls_until_done_then_finishes_in_the_metadata() {
    let t = Setup::with_base("ops-merge");
    let mut s = t.session(false);
    let c = LvCreate { name: Some("snap".into()), snapshot_of: Some("base".into()), ..LvCreate::new("vg0", mib(4)) };
    lvcreate(&mut s, &c).unwrap();
    // The merge is recorded and, the origin being active and closed, its
    // table becomes snapshot-merge; the fake host reports it half done, then done.
    let started = ulvm_lvm::ops::merge::lvconvert_merge(&mut s, "vg0", "snap").unwrap();
    assert_eq!(started, ulvm_lvm::ops::merge::MergeStart::Now { origin: "base".into() });
    assert!(t.host.world().devs["vg0-base"]
        .table
        .to_string()
        .contains(" snapshot-merge vg0-base-real vg0-snap-cow P 8"));
    assert!(s.vg("vg0", true).unwrap().vg.snapshot_of_cow("snap").unwrap().merging);
    let merge = |allocated: u64| {
        TargetStatus::SnapshotMerge(SnapshotStatus::Active {
            allocated: Sectors(allocated),
            total: Sectors(8192),
            metadata: Sectors(16),
        })
    };
    t.host.world().status.insert("vg0-base".into(), merge(4112));
    let mut job = SnapshotMerge { vg: "vg0".into(), origin: "base".into() };
    let host = t.host.clone();
    let mut seen = Vec::new();
    let outcome = jobs::poll(&mut s, &mut job, std::time::Duration::ZERO, &mut |p| {
        seen.push(p.percent());
        host.world().status.insert("vg0-base".into(), merge(16));
        Next::Continue
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Finished("snap".into()));
    assert_eq!(seen, [100.0 - 4112.0 * 100.0 / 8192.0]);
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("snap").is_none() && vg.vg.snapshots().is_empty(), "the snapshot stayed");
    assert_eq!(t.host.world().devs.keys().collect::<Vec<_>>(), ["vg0-base"]);
    // Polling again finds nothing to do.
    let again = jobs::poll(&mut s, &mut job, std::time::Duration::ZERO, &mut |_| Next::Continue).unwrap();
    assert_eq!(again, Outcome::FinishedElsewhere);
}

#[test]
fn test_a_shared_vg_is_refused_and_not_written() {
    let t = Setup::with_base("ops-shared");
    let mut s = t.session(false);
    let mut vg = s.vg("vg0", false).unwrap();
    vg.vg_mut()
        .extra
        .push(ulvm_lvm::text::Item::Assign("lock_type".into(), ulvm_lvm::text::Value::Str("sanlock".into())));
    s.commit(&mut vg).unwrap();
    let before = t.disks();
    let e = lvcreate(&mut s, &LvCreate::new("vg0", mib(4))).unwrap_err();
    assert!(matches!(e, LvmError::Refused(_)));
    assert_eq!(e.to_string(), "Cannot access VG vg0 with lock type sanlock that requires lvmlockd.");
    assert!(t.disks() == before);
}

#[test]
fn test_lvremove_asks_before_removing_an_active_lv_and_force_does_not() {
    let t = Setup::with_base("ops-remove");
    let mut s = t.session(false);
    let before = t.disks();
    let e = ulvm_lvm::ops::remove::lvremove(&mut s, "vg0", Some("base"), false).unwrap_err();
    assert_eq!(e.to_string(), "Logical volume vg0/base not removed.");
    assert!(t.disks() == before && t.host.world().log.is_empty(), "a refused lvremove changed something");
    let e = ulvm_lvm::ops::remove::lvremove(&mut s, "vg0", Some("nope"), true).unwrap_err();
    assert_eq!(e.to_string(), "Failed to find logical volume \"vg0/nope\"");
    ulvm_lvm::ops::remove::lvremove(&mut s, "vg0", Some("base"), true).unwrap();
    assert_eq!(t.host.world().log, ["remove vg0-base"]);
    assert_eq!(t.lines.take().0, ["Logical volume \"base\" successfully removed."]);
    assert!(s.vg("vg0", true).unwrap().vg.lvs.is_empty());
}

#[test]
fn test_lvrename_renames_devices_and_snapshot_references() {
    let t = Setup::with_base("ops-rename");
    let mut s = t.session(false);
    let c = LvCreate { name: Some("snap".into()), snapshot_of: Some("base".into()), ..LvCreate::new("vg0", mib(4)) };
    lvcreate(&mut s, &c).unwrap();
    let e = ulvm_lvm::ops::change::lvrename(&mut s, "vg0", "base", "snap").unwrap_err();
    assert_eq!(e.to_string(), "Logical Volume \"snap\" already exists in volume group \"vg0\"");
    ulvm_lvm::ops::change::lvrename(&mut s, "vg0", "base", "data").unwrap();
    let names: Vec<String> = t.host.world().devs.keys().cloned().collect();
    assert_eq!(names, ["vg0-data", "vg0-data-real", "vg0-snap", "vg0-snap-cow"]);
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.snapshot_of_cow("snap").unwrap().origin, "data");
}

#[test]
fn test_lvchange_permission_reloads_read_only_and_reports_no_change() {
    let t = Setup::with_base("ops-change");
    let mut s = t.session(false);
    let ro = ulvm_lvm::ops::change::LvChange {
        writable: Some(false),
        ..ulvm_lvm::ops::change::LvChange::new("vg0", Some("base"))
    };
    ulvm_lvm::ops::change::lvchange(&mut s, &ro).unwrap();
    ulvm_lvm::ops::change::lvchange(&mut s, &ro).unwrap();
    assert_eq!(t.lines.take().0, ["Logical volume vg0/base changed.", "Logical volume vg0/base is already read only."]);
    let ops: Vec<String> = t.host.world().log.iter().map(|l| l.split(':').next().unwrap().to_string()).collect();
    assert_eq!(ops, ["suspend vg0-base", "load vg0-base", "resume vg0-base"]);
    assert!(!s.vg("vg0", true).unwrap().vg.lv("base").unwrap().is_writable());
}

#[test]
fn test_backup_and_archive_follow_lvm_conf() {
    let files = |t: &Setup| {
        let count = |d: std::path::PathBuf| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
        (count(t.sd.backup_dir()), count(t.sd.archive_dir()))
    };
    // LVM's defaults: a backup of the current version, the old ones archived.
    let on = Setup::with_base("ops-backup-on");
    assert_eq!(files(&on), (1, 1));
    // backup/backup = 0 and backup/archive = 0: neither.
    let off = Setup::new("ops-backup-off");
    let cfg = Config { backup: false, archive: false, ..Config::default() };
    std::fs::write(off.sd.config_file(), cfg.to_text()).unwrap();
    let mut s = off.session(false);
    vgcreate(&mut s, &VgCreate::new("vg0", off.pvs.clone())).unwrap();
    lvcreate(&mut s, &LvCreate::new("vg0", mib(4))).unwrap();
    assert_eq!(files(&off), (0, 0));
}

#[test]
fn test_pv_and_vg_operations_and_their_refusals() {
    use ulvm_lvm::ops::{backup, pv, vg};
    let mut t = Setup::with_base("ops-pvvg");
    let mut s = t.session(false);
    let before = t.disks();
    // Refusals write nothing.
    let e = pv::pvremove(&mut s, &t.pvs[..1]).unwrap_err();
    assert!(e
        .to_string()
        .starts_with(&format!("PV {} is used by VG vg0 so please use vgreduce first.", t.pvs[0].display())));
    let e = vg::vgextend(&mut s, "vg0", &t.pvs[..1]).unwrap_err();
    assert_eq!(e.to_string(), format!("Physical volume '{}' is already in volume group 'vg0'", t.pvs[0].display()));
    let e = vg::vgreduce(&mut s, "vg0", Some(&t.pvs[..1])).unwrap_err();
    assert_eq!(e.to_string(), format!("Physical volume \"{}\" still in use", t.pvs[0].display()));
    let e = vg::vgremove(&mut s, "vg0", false).unwrap_err();
    assert_eq!(e.to_string(), "Volume group \"vg0\" not removed");
    assert!(t.disks() == before, "a refused PV or VG operation wrote to a PV");
    assert_eq!(backup::vgck(&mut s, &[], false).unwrap(), 0);
    // Success paths: a new PV joins and leaves, the VG is renamed and removed.
    let c = t.add_device("c.img");
    vg::vgextend(&mut s, "vg0", std::slice::from_ref(&c)).unwrap();
    vg::vgreduce(&mut s, "vg0", Some(std::slice::from_ref(&c))).unwrap();
    pv::pvremove(&mut s, std::slice::from_ref(&c)).unwrap();
    vg::vgrename(&mut s, "vg0", "vg1").unwrap();
    vg::vgremove(&mut s, "vg1", true).unwrap();
    let (out, _) = t.lines.take();
    assert_eq!(
        out,
        [
            format!("Physical volume \"{}\" successfully created.", c.display()),
            "Volume group \"vg0\" successfully extended".to_string(),
            format!("Removed \"{}\" from volume group \"vg0\"", c.display()),
            format!("Labels on physical volume \"{}\" successfully wiped.", c.display()),
            "Volume group \"vg0\" successfully renamed to \"vg1\"".to_string(),
            "Logical volume \"base\" successfully removed.".to_string(),
            "Volume group \"vg1\" successfully removed".to_string(),
        ]
    );
    assert!(s.scan(true).unwrap().1.is_empty(), "the VG is still there");
}

#[test]
fn test_lock_fs_follows_lvm_origins_and_snapshots_only() {
    let t = Setup::with_base("ops-lockfs");
    let mut s = t.session(false);
    // A plain LV's resize drains I/O without freezing.
    let grow = grow_base_by_4m();
    resize::resize(&mut s, &grow).unwrap();
    assert!(t.host.world().locked_fs.is_empty(), "a plain LV's resize froze its file system");
    // Taking a snapshot freezes what is mounted on the origin.
    let c = LvCreate { name: Some("snap".into()), snapshot_of: Some("base".into()), ..LvCreate::new("vg0", mib(4)) };
    lvcreate(&mut s, &c).unwrap();
    assert_eq!(t.host.world().locked_fs, ["vg0-base"]);
    // Removing the last snapshot makes the origin plain again: no freeze.
    ulvm_lvm::ops::remove::lvremove(&mut s, "vg0", Some("snap"), true).unwrap();
    assert_eq!(t.host.world().locked_fs, ["vg0-base"]);
}

#[test]
fn test_a_snapshot_whose_origin_cannot_be_frozen_is_not_made() {
    let t = Setup::with_base("ops-lockfs-fail");
    let mut s = t.session(false);
    let seqno = s.vg("vg0", true).unwrap().vg.seqno;
    t.host.world().fail_suspend.push("vg0-base".into());
    let c = LvCreate { name: Some("snap".into()), snapshot_of: Some("base".into()), ..LvCreate::new("vg0", mib(4)) };
    let e = lvcreate(&mut s, &c).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Failed to activate new LV vg0/snap: \
         vg0-base: cannot freeze the file system on /dev/loop9 (mounted on /mnt): Device or resource busy"
    );
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("snap").is_none(), "the snapshot stayed after its origin could not be frozen");
    assert!(vg.vg.seqno > seqno);
    let w = t.host.world();
    assert_eq!(w.devs.keys().collect::<Vec<_>>(), ["vg0-base"], "devices left: {:?}", w.log);
    assert!(!w.devs["vg0-base"].suspended);
    assert!(w.devs["vg0-base"].table.to_string().contains("linear"), "{}", w.devs["vg0-base"].table);
}
