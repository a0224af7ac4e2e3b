//! pvmove in-process, over the fake device host: the metadata it sets
//! up, its refusals (which write nothing), segment-by-segment progress
//! and checkpoints, the finish, `--abort`, and resuming from each
//! checkpoint.

mod common;

use common::{mib, Setup};
use ulvm_blockdev::Sectors;
use ulvm_dm_table::{DevNum, LegHealth, MirrorLogStatus, MirrorStatus, TargetArgs, TargetStatus};
use ulvm_lvm::extent::Extents;
use ulvm_lvm::model::SegmentKind;
use ulvm_lvm::ops::create::{lvcreate, LvCreate};
use ulvm_lvm::ops::jobs::{self, Next, Outcome, State};
use ulvm_lvm::ops::pvmove::{self, PvArg, PvMove, Started};
use ulvm_lvm::ops::vg::{vgcreate, VgCreate};
use ulvm_lvm::LvmError;

/// vg0 over three PVs; lv1 (2 extents) and lv2 (1 extent) on the first.
fn setup(name: &str) -> Setup {
    let mut t = Setup::new(name);
    t.add_device("c.img");
    let mut s = t.session(false);
    vgcreate(&mut s, &VgCreate::new("vg0", t.pvs.clone())).unwrap();
    for (lv, size) in [("lv1", 8), ("lv2", 4)] {
        let mut c = LvCreate::new("vg0", mib(size));
        c.name = Some(lv.into());
        c.pvs = vec![t.pvs[0].clone()];
        lvcreate(&mut s, &c).unwrap();
    }
    t.lines.take();
    t.host.world().log.clear();
    t
}

fn mv(t: &Setup, src: usize) -> PvMove {
    PvMove { source: Some(PvArg { path: t.pvs[src].clone(), ranges: vec![] }), ..Default::default() }
}

fn mirror(in_sync: u64, regions: u64) -> TargetStatus {
    TargetStatus::Mirror(MirrorStatus {
        legs: vec![DevNum { major: 240, minor: 0 }, DevNum { major: 240, minor: 1 }],
        in_sync,
        regions,
        health: vec![LegHealth::Alive, LegHealth::Alive],
        log: MirrorLogStatus::Core,
    })
}

fn job(t: &Setup) -> Box<dyn jobs::Job> {
    let mut s = t.session(false);
    let vg = s.vg("vg0", true).unwrap();
    jobs::job_of(&vg, "pvmove0").expect("a pvmove job")
}

#[test]
fn test_pvmove_sets_up_pvmove0_locks_the_parents_and_mirrors_the_first_segment() {
    let t = setup("pvmove-setup");
    let mut s = t.session(false);
    let started = pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
    let Started::New(f) = started else { panic!("{started:?}") };
    assert_eq!((f.vg.as_str(), f.lv.as_str()), ("vg0", "pvmove0"));
    let vg = s.vg("vg0", true).unwrap();
    let m = vg.vg.lv("pvmove0").unwrap();
    assert_eq!(m.status, ["READ", "WRITE", "PVMOVE", "LOCKED"]);
    assert!(!m.is_visible());
    assert_eq!(m.allocation_policy(), Some("contiguous"));
    assert_eq!(m.segments.len(), 2);
    let SegmentKind::Mirror(seg) = &m.segments[0].kind else { panic!() };
    assert_eq!(seg.extents_moved, Some(Extents(0)));
    assert_eq!(seg.areas, vec![("pv0".to_string(), Extents(0)), ("pv1".to_string(), Extents(0))]);
    let lv2 = vg.vg.lv("lv2").unwrap();
    assert_eq!(lv2.status, ["READ", "WRITE", "VISIBLE", "LOCKED"]);
    let SegmentKind::Striped { stripes, .. } = &lv2.segments[0].kind else { panic!() };
    assert_eq!(stripes, &[("pvmove0".to_string(), Extents(2))]);
    // pvmove0 is made while the parents are suspended, then they map it.
    let w = t.host.world();
    let mirror_line = &w.devs["vg0-pvmove0"].table.0;
    assert!(matches!(mirror_line[0].target, TargetArgs::Mirror(_)), "{mirror_line:?}");
    assert!(matches!(mirror_line[1].target, TargetArgs::Linear { .. }));
    assert_eq!(w.devs["vg0-pvmove0"].table.to_string().lines().next().unwrap().split(' ').nth(2), Some("mirror"));
    assert!(w.devs["vg0-lv2"].table.to_string().contains("linear vg0-pvmove0 16384"), "{}", w.devs["vg0-lv2"].table);
    let order: Vec<&str> = w.log.iter().map(|l| l.as_str()).collect();
    let at = |p: &str| order.iter().position(|l| l.starts_with(p)).unwrap_or_else(|| panic!("{p}: {order:?}"));
    assert!(at("suspend vg0-lv1") < at("create vg0-pvmove0") && at("create vg0-pvmove0") < at("resume vg0-lv1"));
}

#[test]
fn test_pvmove_refusals_write_nothing() {
    let t = setup("pvmove-refusals");
    let before = t.disks();
    let mut s = t.session(false);
    let cases: Vec<(PvMove, &str)> = vec![
        (mv(&t, 2), "No data to move for vg0."),
        (PvMove { dests: vec![PvArg { path: t.pvs[0].clone(), ranges: vec![] }], ..mv(&t, 0) }, "No extents available for allocation."),
        (
            PvMove { dests: vec![PvArg { path: t.pvs[1].clone(), ranges: vec![(Extents(0), Some(Extents(1)))] }], ..mv(&t, 0) },
            "Insufficient free space: 3 extents needed, but only 2 available\nUnable to allocate mirror extents for vg0/pvmove0.\nFailed to convert pvmove LV to mirrored.",
        ),
        (PvMove { name: Some("nosuch".into()), ..mv(&t, 0) }, "Logical volume nosuch not found."),
        (
            PvMove { source: Some(PvArg { path: t.pvs[0].clone(), ranges: vec![(Extents(5), Some(Extents(2)))] }), ..Default::default() },
            "PE range error: start extent 5 to end extent 2.",
        ),
    ];
    for (o, want) in cases {
        let e = pvmove::pvmove(&mut s, &o).unwrap_err();
        assert_eq!(e.to_string(), want);
    }
    let e =
        pvmove::pvmove(&mut s, &PvMove { source: Some(PvArg::parse("/nonexistent/x").unwrap()), ..Default::default() })
            .unwrap_err();
    assert!(matches!(e, LvmError::Usage(_)), "{e}");
    assert_eq!(t.disks(), before, "a refused pvmove writes nothing");
    assert!(t.host.world().log.is_empty());
}

#[test]
fn test_pvmove_progresses_segment_by_segment_then_finishes() {
    let t = setup("pvmove-progress");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
    let mut j = job(&t);
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(1, 4));
    assert_eq!(j.step(&mut s).unwrap(), State::Running { done: 0, total: 3 });
    // Segment 1 in sync: committed, and segment 2 mirrors now.
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(4, 4));
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 1), mirror(0, 2));
    assert_eq!(j.step(&mut s).unwrap(), State::Running { done: 2, total: 3 });
    let vg = s.vg("vg0", true).unwrap();
    let SegmentKind::Mirror(m) = &vg.vg.lv("pvmove0").unwrap().segments[0].kind else { panic!() };
    assert_eq!(m.extents_moved, Some(Extents(2)));
    {
        let w = t.host.world();
        let table = &w.devs["vg0-pvmove0"].table.0;
        assert!(
            matches!(table[0].target, TargetArgs::Linear { .. }) && matches!(table[1].target, TargetArgs::Mirror(_))
        );
    }
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 1), mirror(2, 2));
    let out = jobs::poll(&mut s, j.as_mut(), std::time::Duration::ZERO, &mut |_| Next::Continue).unwrap();
    assert_eq!(out, Outcome::Finished("pvmove0".into()));
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("pvmove0").is_none());
    for lv in ["lv1", "lv2"] {
        let l = vg.vg.lv(lv).unwrap();
        assert!(!l.is_locked());
        let SegmentKind::Striped { stripes, .. } = &l.segments[0].kind else { panic!() };
        assert_eq!(stripes[0].0, "pv1", "{lv} is on the destination");
    }
    assert!(!t.host.world().devs.contains_key("vg0-pvmove0"));
    assert!(t.host.world().devs["vg0-lv2"].table.to_string().contains("linear"), "lv2 maps its PV again");
}

#[test]
fn test_pvmove_abort_keeps_finished_segments_on_the_destination() {
    let t = setup("pvmove-abort");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
    let mut j = job(&t);
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(4, 4));
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 1), mirror(1, 2));
    assert_eq!(j.step(&mut s).unwrap(), State::Running { done: 2, total: 3 });
    let ended = pvmove::abort(&mut s, Some(&t.pvs[0])).unwrap();
    assert_eq!(ended.len(), 1);
    let vg = s.vg("vg0", true).unwrap();
    assert!(vg.vg.lv("pvmove0").is_none());
    let on = |lv: &str| match &vg.vg.lv(lv).unwrap().segments[0].kind {
        SegmentKind::Striped { stripes, .. } => stripes[0].clone(),
        _ => panic!(),
    };
    assert_eq!(on("lv1"), ("pv1".to_string(), Extents(0)), "the moved segment stays moved");
    assert_eq!(on("lv2"), ("pv0".to_string(), Extents(2)), "the rest returns to the source");
}

#[test]
fn test_pvmove_resumes_from_each_checkpoint_after_reactivation() {
    for moved_first in [false, true] {
        let t = setup(if moved_first { "pvmove-resume1" } else { "pvmove-resume0" });
        let mut s = t.session(false);
        pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
        if moved_first {
            t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(4, 4));
            t.host.world().line_status.insert(("vg0-pvmove0".into(), 1), mirror(0, 2));
            job(&t).step(&mut s).unwrap();
        }
        // The daemon restarts: every device is gone, statuses start over.
        {
            let mut w = t.host.world();
            w.devs.clear();
            w.line_status.clear();
        }
        let mut j = job(&t);
        assert_eq!(j.step(&mut s).unwrap(), State::Inactive);
        let r = ulvm_lvm::ops::activation::activate_vgs(
            &mut s,
            &["vg0".into()],
            ulvm_lvm::ops::activation::Activation::YES,
        )
        .unwrap();
        assert!(r.jobs.contains(&("vg0".into(), "pvmove0".into())), "{:?}", r.jobs);
        let table = t.host.world().devs["vg0-pvmove0"].table.clone();
        let running = if moved_first { 1 } else { 0 };
        assert!(matches!(table.0[running].target, TargetArgs::Mirror(_)), "{table}");
        t.host.world().line_status.insert(("vg0-pvmove0".into(), running), mirror(0, 2));
        let done = if moved_first { 2 } else { 0 };
        assert_eq!(j.step(&mut s).unwrap(), State::Running { done, total: 3 });
    }
}

#[test]
fn test_pvmove_of_a_pv_in_flight_is_detected_not_set_up_twice() {
    let t = setup("pvmove-detect");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
    let seqno = s.vg("vg0", true).unwrap().vg.seqno;
    let again = pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
    assert!(matches!(again, Started::Resumed(_)), "{again:?}");
    assert_eq!(s.vg("vg0", true).unwrap().vg.seqno, seqno);
    let (out, _) = t.lines.take();
    assert!(out.iter().any(|l| l.starts_with("Detected pvmove in progress for ")), "{out:?}");
    let _ = Sectors(0);
}

fn atomic(t: &Setup, src: usize) -> PvMove {
    PvMove { atomic: true, ..mv(t, src) }
}

/// The PV areas of an LV's segments, in LE order.
fn areas(t: &Setup, lv: &str) -> Vec<(String, Extents, Extents)> {
    let mut s = t.session(false);
    let vg = s.vg("vg0", true).unwrap();
    let l = vg.vg.lv(lv).unwrap_or_else(|| panic!("{lv} is gone"));
    l.segments
        .iter()
        .map(|seg| match &seg.kind {
            SegmentKind::Striped { stripes, .. } => (stripes[0].0.clone(), stripes[0].1, seg.extent_count),
            k => panic!("{lv}: {k:?}"),
        })
        .collect()
}

#[test]
fn test_pvmove_atomic_sets_up_one_mirror_over_two_images() {
    let t = setup("pvmove-atomic-setup");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &atomic(&t, 0)).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let m = vg.vg.lv("pvmove0").unwrap();
    assert_eq!(m.status, ["READ", "WRITE", "PVMOVE", "LOCKED"]);
    assert_eq!(m.segments.len(), 1, "one mirror segment over everything");
    let SegmentKind::Mirror(seg) = &m.segments[0].kind else { panic!() };
    assert_eq!(m.segments[0].extent_count, Extents(3));
    assert_eq!(seg.extents_moved, Some(Extents(0)));
    assert_eq!(
        seg.areas,
        vec![("pvmove0_mimage_0".to_string(), Extents(0)), ("pvmove0_mimage_1".to_string(), Extents(0))]
    );
    for (k, pv) in [(0, "pv0"), (1, "pv1")] {
        let img = vg.vg.lv(&format!("pvmove0_mimage_{k}")).unwrap();
        assert_eq!(img.status, ["READ", "WRITE"], "images are hidden and not locked, as LVM writes them");
        assert_eq!(vg.vg.pvmove_of_image(&img.name).map(|l| l.name.as_str()), Some("pvmove0"));
        let want = vec![(pv.to_string(), Extents(0), Extents(2)), (pv.to_string(), Extents(2), Extents(1))];
        assert_eq!(areas(&t, &img.name), want, "one segment per piece, as LVM writes them");
    }
    assert_eq!(pvmove::source_key(&vg.vg, m), Some("pv0"), "Move is the source image's PV");
    // Tables: the images, then one mirror over them; the parents map pvmove0.
    let w = t.host.world();
    let table = &w.devs["vg0-pvmove0"].table;
    assert_eq!(table.0.len(), 1);
    let TargetArgs::Mirror(mirror) = &table.0[0].target else { panic!("{table}") };
    assert_eq!(mirror.legs[0].dev.to_string(), "vg0-pvmove0_mimage_0");
    assert_eq!(mirror.legs[1].dev.to_string(), "vg0-pvmove0_mimage_1");
    assert!(w.devs.contains_key("vg0-pvmove0_mimage_0") && w.devs.contains_key("vg0-pvmove0_mimage_1"));
    assert!(w.devs["vg0-lv2"].table.to_string().contains("linear vg0-pvmove0 16384"), "{}", w.devs["vg0-lv2"].table);
    let order: Vec<&str> = w.log.iter().map(|l| l.as_str()).collect();
    let at = |p: &str| order.iter().position(|l| l.starts_with(p)).unwrap_or_else(|| panic!("{p}: {order:?}"));
    assert!(at("create vg0-pvmove0_mimage_1") < at("create vg0-pvmove0:"), "{order:?}");
}

#[test]
fn test_pvmove_atomic_finish_keeps_the_destination_image() {
    let t = setup("pvmove-atomic-finish");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &atomic(&t, 0)).unwrap();
    let mut j = job(&t);
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(1, 3));
    assert_eq!(j.step(&mut s).unwrap(), State::Running { done: 1, total: 3 });
    let seqno = s.vg("vg0", true).unwrap().vg.seqno;
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(3, 3));
    let out = jobs::poll(&mut s, j.as_mut(), std::time::Duration::ZERO, &mut |_| Next::Continue).unwrap();
    assert_eq!(out, Outcome::Finished("pvmove0".into()));
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.seqno, seqno + 2, "no checkpoint: the finish's two commits");
    for gone in ["pvmove0", "pvmove0_mimage_0", "pvmove0_mimage_1"] {
        assert!(vg.vg.lv(gone).is_none(), "{gone} left the metadata");
        assert!(!t.host.world().devs.contains_key(&format!("vg0-{gone}")), "{gone}'s device is gone");
    }
    assert_eq!(areas(&t, "lv1"), vec![("pv1".to_string(), Extents(0), Extents(2))]);
    assert_eq!(areas(&t, "lv2"), vec![("pv1".to_string(), Extents(2), Extents(1))]);
    assert!(!vg.vg.lv("lv1").unwrap().is_locked());
}

#[test]
fn test_pvmove_atomic_abort_keeps_the_source_image_even_when_nearly_done() {
    let t = setup("pvmove-atomic-abort");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &atomic(&t, 0)).unwrap();
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(2, 3));
    assert_eq!(job(&t).step(&mut s).unwrap(), State::Running { done: 2, total: 3 });
    assert_eq!(pvmove::abort(&mut s, None).unwrap().len(), 1);
    assert_eq!(areas(&t, "lv1"), vec![("pv0".to_string(), Extents(0), Extents(2))], "all or nothing");
    assert_eq!(areas(&t, "lv2"), vec![("pv0".to_string(), Extents(2), Extents(1))]);
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.lvs.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["lv1", "lv2"]);
}

#[test]
fn test_pvmove_atomic_resumes_after_reactivation_and_deactivates_with_its_parents() {
    let t = setup("pvmove-atomic-resume");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &atomic(&t, 0)).unwrap();
    {
        let mut w = t.host.world();
        w.devs.clear();
        w.line_status.clear();
    }
    let mut j = job(&t);
    assert_eq!(j.step(&mut s).unwrap(), State::Inactive);
    let act = ulvm_lvm::ops::activation::Activation::YES;
    let r = ulvm_lvm::ops::activation::activate_vgs(&mut s, &["vg0".into()], act).unwrap();
    assert!(r.jobs.contains(&("vg0".into(), "pvmove0".into())), "{:?}", r.jobs);
    for d in ["vg0-pvmove0_mimage_0", "vg0-pvmove0_mimage_1", "vg0-pvmove0", "vg0-lv1", "vg0-lv2"] {
        assert!(t.host.world().devs.contains_key(d), "{d} active");
    }
    t.host.world().line_status.insert(("vg0-pvmove0".into(), 0), mirror(0, 3));
    assert_eq!(j.step(&mut s).unwrap(), State::Running { done: 0, total: 3 });
    ulvm_lvm::ops::vg::vgchange_activate(&mut s, "vg0", false).unwrap();
    assert!(t.host.world().devs.is_empty(), "{:?}", t.host.world().devs.keys().collect::<Vec<_>>());
}

/// Issue 16: a shared VG's pvmove0 opens its PVs with O_DIRECT, a local one's does not.
#[test]
fn test_pvmove_device_of_a_shared_vg_asks_for_direct_io() {
    let t = setup("pvmove-direct-io");
    let mut s = t.session(false);
    pvmove::pvmove(&mut s, &mv(&t, 0)).unwrap();
    let mut vg = s.vg("vg0", true).unwrap();
    let lvs = ["lv1".to_string(), "lv2".to_string()];
    let direct = |vg: &ulvm_lvm::disk::Vg| -> Vec<(String, bool)> {
        let plan = ulvm_lvm::activate::plan_many(vg, &lvs).unwrap();
        plan.into_iter().map(|d| (d.name, d.direct_io)).collect()
    };
    let local = direct(&vg);
    assert_eq!(local[0], ("vg0-pvmove0".to_string(), false), "{local:?}");
    assert!(local.iter().all(|(_, d)| !d));
    let lock_type = ulvm_lvm::text::Item::Assign("lock_type".into(), ulvm_lvm::text::Value::Str("sanlock".into()));
    vg.vg_mut().extra.push(lock_type);
    let shared = direct(&vg);
    assert_eq!(shared.len(), local.len());
    assert!(shared.iter().all(|(_, d)| *d), "{shared:?}");
}
