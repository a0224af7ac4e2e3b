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
