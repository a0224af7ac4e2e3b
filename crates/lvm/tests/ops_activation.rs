//! Autoactivation and the scans in-process, over file PVs and a fake
//! device host (see `ops.rs`): `--setautoactivation` on VGs and LVs,
//! `-aay` with and without it, with lvm.conf's volume lists, with the
//! activation-skip flag; `autoactivate` as the daemon calls it; pvscan,
//! vgscan and lvscan with LVM's layout and order. Each refusal is checked
//! by its message and by nothing written to any PV.

mod common;

use common::{mib, Setup};
use ulvm_lvm::ops::activation::{autoactivate, Activation, Mode, Skip};
use ulvm_lvm::ops::change::{lvchange, LvChange};
use ulvm_lvm::ops::create::{lvcreate, LvCreate};
use ulvm_lvm::ops::scan::{lvscan, pvscan, pvscan_cache, vgscan, PvScan, PvScanCache};
use ulvm_lvm::ops::vg::{vgchange_activate, vgchange_autoactivation, vgcreate, VgCreate};
use ulvm_lvm::ops::Session;

/// `lvcreate -L MIB -n NAME vg0` with changes.
fn lv(s: &mut Session, name: &str, f: impl FnOnce(&mut LvCreate)) {
    let mut c = LvCreate { name: Some(name.into()), ..LvCreate::new("vg0", mib(4)) };
    f(&mut c);
    lvcreate(s, &c).unwrap();
}

fn active(t: &Setup) -> Vec<String> {
    let mut v: Vec<String> = t.host.world().devs.keys().cloned().collect();
    v.sort();
    v
}

fn deactivate_all(t: &Setup, s: &mut Session) {
    vgchange_activate(s, "vg0", false).unwrap();
    t.lines.take();
}

fn flags(s: &mut Session, lv: Option<&str>) -> Vec<String> {
    let vg = s.vg("vg0", true).unwrap();
    match lv {
        Some(n) => vg.vg.lv(n).unwrap().flags.clone(),
        None => vg.vg.flags.clone(),
    }
}

/// vg0 with base (active), `other` with autoactivation off, `skip` with
/// the activation-skip flag (created inactive, as LVM's).
fn setup(name: &str) -> (Setup, Session) {
    let t = Setup::with_base(name);
    let mut s = t.session(false);
    lv(&mut s, "other", |c| c.autoactivation = false);
    lv(&mut s, "skip", |c| c.activation_skip = true);
    let (out, err) = t.lines.take();
    assert_eq!(out, ["Logical volume \"other\" created.", "Logical volume \"skip\" created."]);
    assert_eq!(err, ["WARNING: Logical volume vg0/skip not zeroed."]);
    (t, s)
}

#[test]
fn test_lvcreate_records_noautoactivate_and_activation_skip_in_flags() {
    let (t, mut s) = setup("act-create");
    assert_eq!(flags(&mut s, Some("other")), ["NOAUTOACTIVATE"]);
    assert_eq!(flags(&mut s, Some("skip")), ["ACTIVATION_SKIP"]);
    // Skipped LVs are not activated by lvcreate; -K activates them.
    assert_eq!(active(&t), ["vg0-base", "vg0-other"]);
    lv(&mut s, "skip2", |c| {
        c.activation_skip = true;
        c.ignore_activation_skip = true;
        c.autoactivation = false;
    });
    assert_eq!(flags(&mut s, Some("skip2")), ["ACTIVATION_SKIP", "NOAUTOACTIVATE"]);
    assert!(active(&t).contains(&"vg0-skip2".to_string()));
    assert!(t.lines.take().1.is_empty());
}

#[test]
fn test_vgchange_aay_skips_lvs_without_autoactivation_and_with_activation_skip() {
    let (t, mut s) = setup("act-aay");
    deactivate_all(&t, &mut s);
    let r = autoactivate(&mut s, &["vg0".into()]).unwrap();
    assert_eq!(t.lines.take().0, ["1 logical volume(s) in volume group \"vg0\" now active"]);
    assert_eq!(active(&t), ["vg0-base"]);
    assert_eq!(r.activated, [("vg0".to_string(), "base".to_string())]);
    assert_eq!(
        r.skipped,
        [
            ("vg0".to_string(), "other".to_string(), Skip::AutoactivationOff),
            ("vg0".into(), "skip".into(), Skip::ActivationSkip)
        ]
    );
    assert_eq!(r.status, 0);
    // -ay takes `other`; -K takes `skip` too.
    vgchange_activate(&mut s, "vg0", true).unwrap();
    assert_eq!(t.lines.take().0, ["2 logical volume(s) in volume group \"vg0\" now active"]);
    let r = ulvm_lvm::ops::activation::activate_vgs(
        &mut s,
        &["vg0".into()],
        Activation { mode: Mode::Yes, ignore_skip: true },
    )
    .unwrap();
    assert!(r.skipped.is_empty());
    assert_eq!(active(&t), ["vg0-base", "vg0-other", "vg0-skip"]);
}

#[test]
fn test_lvchange_aay_and_ay_leave_out_lvs_silently() {
    let (t, mut s) = setup("act-lvchange");
    deactivate_all(&t, &mut s);
    let aay =
        |lv: &str| LvChange { activate: Some(true), activation: Activation::AUTO, ..LvChange::new("vg0", Some(lv)) };
    lvchange(&mut s, &aay("other")).unwrap();
    lvchange(&mut s, &LvChange { activate: Some(true), ..LvChange::new("vg0", Some("skip")) }).unwrap();
    assert_eq!(t.lines.take(), (vec![], vec![]));
    assert!(active(&t).is_empty());
    lvchange(&mut s, &aay("base")).unwrap();
    lvchange(&mut s, &LvChange { activate: Some(true), ..LvChange::new("vg0", Some("other")) }).unwrap();
    let k = LvChange {
        activate: Some(true),
        activation: Activation { mode: Mode::Yes, ignore_skip: true },
        ..LvChange::new("vg0", Some("skip"))
    };
    lvchange(&mut s, &k).unwrap();
    assert_eq!(active(&t), ["vg0-base", "vg0-other", "vg0-skip"]);
}

#[test]
fn test_vg_autoactivation_off_leaves_the_vg_out_of_aay_without_a_line() {
    let (t, mut s) = setup("act-vg");
    deactivate_all(&t, &mut s);
    vgchange_autoactivation(&mut s, "vg0", false).unwrap();
    assert_eq!(t.lines.take().0, ["Volume group \"vg0\" successfully changed"]);
    assert_eq!(flags(&mut s, None), ["NOAUTOACTIVATE"]);
    let r = autoactivate(&mut s, &[]).unwrap();
    assert_eq!(t.lines.take(), (vec![], vec![]));
    assert!(active(&t).is_empty());
    assert!(r.activated.is_empty());
    assert!(r.skipped.iter().all(|x| x.2 == Skip::VgAutoactivationOff), "{:?}", r.skipped);
    // Setting it again is refused and writes nothing.
    let before = t.disks();
    let e = vgchange_autoactivation(&mut s, "vg0", false).unwrap_err();
    assert_eq!(e.to_string(), "Volume group autoactivation is already no.");
    assert_eq!(t.disks(), before);
    vgchange_autoactivation(&mut s, "vg0", true).unwrap();
    assert!(flags(&mut s, None).is_empty());
    autoactivate(&mut s, &[]).unwrap();
    assert_eq!(active(&t), ["vg0-base"]);
}

#[test]
fn test_vgcreate_with_autoactivation_off() {
    let t = common::Setup::new("act-vgcreate");
    let mut s = t.session(false);
    vgcreate(&mut s, &VgCreate { autoactivation: false, ..VgCreate::new("vg0", t.pvs.clone()) }).unwrap();
    assert_eq!(flags(&mut s, None), ["NOAUTOACTIVATE"]);
}

#[test]
fn test_lvchange_setautoactivation_writes_only_a_change_and_setactivationskip_always() {
    let (t, mut s) = setup("act-setflags");
    let seq = |s: &mut Session| s.vg("vg0", true).unwrap().vg.seqno;
    let n0 = seq(&mut s);
    let set = |on| LvChange { autoactivation: Some(on), ..LvChange::new("vg0", Some("other")) };
    lvchange(&mut s, &set(false)).unwrap();
    assert_eq!(seq(&mut s), n0, "no change, nothing written");
    lvchange(&mut s, &set(true)).unwrap();
    assert_eq!(seq(&mut s), n0 + 1);
    assert!(flags(&mut s, Some("other")).is_empty());
    let k = |on| LvChange { activation_skip: Some(on), ..LvChange::new("vg0", Some("skip")) };
    lvchange(&mut s, &k(true)).unwrap();
    assert_eq!(seq(&mut s), n0 + 2, "LVM writes -k even without a change");
    lvchange(&mut s, &k(false)).unwrap();
    assert!(flags(&mut s, Some("skip")).is_empty());
    assert_eq!(
        t.lines.take().0,
        [
            "Logical volume vg0/other changed.",
            "Logical volume vg0/other changed.",
            "Logical volume vg0/skip changed.",
            "Logical volume vg0/skip changed.",
        ]
    );
    // An LV that is not there: refused, nothing written.
    let before = t.disks();
    let e = lvchange(&mut s, &LvChange { autoactivation: Some(false), ..LvChange::new("vg0", Some("nosuch")) })
        .unwrap_err();
    assert_eq!(e.to_string(), "Failed to find logical volume \"vg0/nosuch\"");
    assert_eq!(t.disks(), before);
}

#[test]
fn test_volume_lists_filter_activation() {
    let (t, mut s) = setup("act-lists");
    deactivate_all(&t, &mut s);
    // auto_activation_volume_list names an LV: only it (and only for -aay).
    s.set_config_override(Some("activation/auto_activation_volume_list=[\"vg0/other\",\"vg0/base\"]".into()));
    let r = autoactivate(&mut s, &[]).unwrap();
    assert_eq!(active(&t), ["vg0-base"], "other has autoactivation off");
    assert!(r.skipped.contains(&("vg0".into(), "skip".into(), Skip::ActivationSkip)));
    deactivate_all(&t, &mut s);
    s.set_config_override(Some("activation { auto_activation_volume_list = [ \"@tag\", \"vgx\" ] }".into()));
    autoactivate(&mut s, &[]).unwrap();
    assert!(active(&t).is_empty(), "a tag matches nothing");
    vgchange_activate(&mut s, "vg0", true).unwrap();
    assert_eq!(active(&t), ["vg0-base", "vg0-other"], "-ay ignores the autoactivation list");
    deactivate_all(&t, &mut s);
    // volume_list applies to every activation.
    s.set_config_override(Some("activation/volume_list=[\"vg0/other\"]".into()));
    vgchange_activate(&mut s, "vg0", true).unwrap();
    lvchange(&mut s, &LvChange { activate: Some(true), ..LvChange::new("vg0", Some("base")) }).unwrap();
    assert_eq!(active(&t), ["vg0-other"]);
    // A whole VG in volume_list, from lvm.conf.
    s.set_config_override(None);
    std::fs::write(t.sd.config_file(), "activation {\n\tvolume_list = [ \"vg0\" ]\n}\n").unwrap();
    vgchange_activate(&mut s, "vg0", true).unwrap();
    assert_eq!(active(&t), ["vg0-base", "vg0-other"]);
}

#[test]
fn test_autoactivate_returns_the_jobs_of_the_lvs_it_activated() {
    let (t, mut s) = setup("act-jobs");
    // A merge deferred to the next activation: base's snapshot merging.
    lv(&mut s, "snap", |c| c.snapshot_of = Some("base".into()));
    ulvm_lvm::ops::merge::lvconvert_merge(&mut s, "vg0", "snap").unwrap();
    deactivate_all(&t, &mut s);
    t.host.world().log.clear();
    let r = autoactivate(&mut s, &[]).unwrap();
    assert_eq!(r.jobs, [("vg0".to_string(), "base".to_string())]);
}

#[test]
fn test_scans_list_pvs_vgs_and_lvs_in_lvm_layout_and_order() {
    let mut t = Setup::new("act-scan");
    let c = t.add_device("c.img");
    let d = t.add_device("d.img");
    let mut s = t.session(false);
    ulvm_lvm::ops::pv::pvcreate(&mut s, std::slice::from_ref(&d), None).unwrap();
    vgcreate(&mut s, &VgCreate::new("vg0", t.pvs[..2].to_vec())).unwrap();
    vgcreate(&mut s, &VgCreate { autoactivation: false, ..VgCreate::new("vgone", vec![c.clone()]) }).unwrap();
    lv(&mut s, "base", |_| {});
    lv(&mut s, "snap", |c| c.snapshot_of = Some("base".into()));
    lv(&mut s, "off", |c| c.activate = false);
    t.lines.take();

    pvscan(&mut s, &PvScan::default()).unwrap();
    let w = t.pvs.iter().map(|p| p.display().to_string().len()).max().unwrap() + 2;
    let p = |i: usize| t.pvs[i].display().to_string();
    assert_eq!(
        t.lines.take().0,
        [
            format!("PV {:<w$} VG {:<15} lvm2 [60.00 MiB / 60.00 MiB free]", p(2), "vgone"),
            format!("PV {:<w$} VG {:<15} lvm2 [60.00 MiB / 48.00 MiB free]", p(0), "vg0"),
            format!("PV {:<w$} VG {:<15} lvm2 [60.00 MiB / 60.00 MiB free]", p(1), "vg0"),
            format!("PV {:<w$}    {:<15} lvm2 [64.00 MiB]", p(3), " "),
            "Total: 4 [244.00 MiB] / in use: 3 [180.00 MiB] / in no VG: 1 [64.00 MiB]".to_string(),
        ]
    );
    pvscan(&mut s, &PvScan { no_vg: true, ..Default::default() }).unwrap();
    let (out, err) = t.lines.take();
    assert_eq!(out.last().unwrap(), "Total: 1 [64.00 MiB] / in use: 0 [0   ] / in no VG: 1 [64.00 MiB]");
    assert_eq!(err, ["WARNING: only considering physical volumes in no volume group"]);
    pvscan(&mut s, &PvScan { exported: true, ..Default::default() }).unwrap();
    assert_eq!(t.lines.take().0, ["No matching physical volumes found"]);

    vgscan(&mut s).unwrap();
    assert_eq!(
        t.lines.take().0,
        [
            "Found volume group \"vgone\" using metadata type lvm2",
            "Found volume group \"vg0\" using metadata type lvm2"
        ]
    );
    lvscan(&mut s, false).unwrap();
    assert_eq!(
        t.lines.take().0,
        [
            "ACTIVE   Original '/dev/vg0/base' [4.00 MiB] inherit",
            "ACTIVE   Snapshot '/dev/vg0/snap' [4.00 MiB] inherit",
            "inactive          '/dev/vg0/off' [4.00 MiB] inherit",
        ]
    );

    // pvscan --cache -aay: vgone is complete but autoactivation is off.
    deactivate_all(&t, &mut s);
    let r = pvscan_cache(&mut s, &PvScanCache { devices: vec![], activate: true }, 7).unwrap();
    assert_eq!(
        t.lines.take().0,
        [
            format!("pvscan[7] PV {} online, VG vg0 incomplete (need 1).", p(0)),
            format!("pvscan[7] PV {} online, VG vg0 is complete.", p(1)),
            format!("pvscan[7] PV {} online, VG vgone is complete.", p(2)),
            format!("pvscan[7] PV {} not used.", p(3)),
            "pvscan[7] VG vg0 run autoactivation.".to_string(),
            "pvscan[7] VG vgone run autoactivation.".to_string(),
            "3 logical volume(s) in volume group \"vg0\" now active".to_string(),
        ]
    );
    assert_eq!(r.activated, [("vg0".to_string(), "base".to_string()), ("vg0".into(), "off".into())]);
    // One PV of two named: incomplete, nothing activated.
    deactivate_all(&t, &mut s);
    pvscan_cache(&mut s, &PvScanCache { devices: vec![t.pvs[0].clone()], activate: true }, 7).unwrap();
    assert_eq!(t.lines.take().0, [format!("pvscan[7] PV {} online, VG vg0 incomplete (need 1).", p(0))]);
    assert!(active(&t).is_empty());
    // event_activation = 0: nothing.
    s.set_config_override(Some("global/event_activation=0".into()));
    pvscan_cache(&mut s, &PvScanCache { devices: vec![], activate: true }, 7).unwrap();
    assert_eq!(t.lines.take(), (vec![], vec![]));
}
