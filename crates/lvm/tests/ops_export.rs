//! vgexport/vgimport and tags in-process, over file PVs and a fake
//! device host (see `ops.rs`): an active VG is not exported, an exported
//! one is refused by name and left out of autoactivation, vgimport gives
//! it back; tags edited through lvchange and vgchange land in the
//! metadata in the order added. Each refusal is checked by its message
//! and by nothing written to any PV.

mod common;

use common::Setup;
use ulvm_lvm::ops::activation::autoactivate;
use ulvm_lvm::ops::backup::vgck;
use ulvm_lvm::ops::change::{lvchange, LvChange};
use ulvm_lvm::ops::export::{is_exported, vgexport, vgimport};
use ulvm_lvm::ops::tags::TagEdit;
use ulvm_lvm::ops::vg::{vgchange_activate, vgchange_tags};

#[test]
fn test_an_exported_vg_is_refused_by_name_and_left_out_of_autoactivation() {
    let t = Setup::with_base("export");
    let mut s = t.session(false);
    let before = t.disks();
    let e = vgexport(&mut s, "vg0").unwrap_err();
    assert_eq!(e.to_string(), "Volume group \"vg0\" has active logical volumes");
    assert!(t.disks() == before, "a refused vgexport writes nothing");
    vgchange_activate(&mut s, "vg0", false).unwrap();
    t.lines.take();
    vgexport(&mut s, "vg0").unwrap();
    assert_eq!(t.lines.take().0, ["Volume group \"vg0\" successfully exported"]);
    let (_, vgs) = s.scan(true).unwrap();
    assert!(is_exported(&vgs["vg0"].vg));
    assert!(vgs["vg0"].vg.pvs.iter().all(|p| p.status == ["ALLOCATABLE", "EXPORTED"]));

    let before = t.disks();
    let e = vgchange_activate(&mut s, "vg0", true).unwrap_err();
    assert_eq!(e.to_string(), "Volume group vg0 is exported");
    let r = autoactivate(&mut s, &[]).unwrap();
    assert!(r.activated.is_empty() && t.host.world().devs.is_empty(), "autoactivation leaves it out");
    assert!(t.disks() == before, "refusals write nothing");

    vgimport(&mut s, "vg0").unwrap();
    let e = vgimport(&mut s, "vg0").unwrap_err();
    assert_eq!(e.to_string(), "Volume group \"vg0\" is not exported");
    autoactivate(&mut s, &[]).unwrap();
    assert_eq!(t.host.world().devs.keys().cloned().collect::<Vec<_>>(), ["vg0-base"]);
}

#[test]
fn test_tags_land_in_the_metadata_in_the_order_added() {
    let t = Setup::with_base("tags");
    let mut s = t.session(false);
    let add = |tags: &[&str]| TagEdit { add: tags.iter().map(|t| t.to_string()).collect(), del: vec![] };
    vgchange_tags(&mut s, "vg0", &add(&["zz", "aa"])).unwrap();
    lvchange(&mut s, &LvChange { tags: add(&["b", "a"]), ..LvChange::new("vg0", Some("base")) }).unwrap();
    lvchange(&mut s, &LvChange { tags: TagEdit { add: vec![], del: vec!["b".into()] }, ..LvChange::new("vg0", None) })
        .unwrap();
    assert_eq!(
        t.lines.take().0,
        [
            "Volume group \"vg0\" successfully changed",
            "Logical volume vg0/base changed.",
            "Logical volume vg0/base changed."
        ]
    );
    let vg = s.vg("vg0", true).unwrap();
    assert_eq!(vg.vg.tags, ["zz", "aa"]);
    assert_eq!(vg.vg.lv("base").unwrap().tags, ["a"]);
}

#[test]
fn test_vgck_refuses_an_exported_vg_by_name_and_passes_it_over_unnamed() {
    let t = Setup::with_base("export-vgck");
    let mut s = t.session(false);
    vgchange_activate(&mut s, "vg0", false).unwrap();
    vgexport(&mut s, "vg0").unwrap();
    t.lines.take();
    // LVM 2.03.16 (oracle10 150): `vgck vg1` of an exported vg1.
    assert_eq!(vgck(&mut s, &["vg0".into()], false).unwrap(), 5);
    assert_eq!(vgck(&mut s, &["vg0".into()], true).unwrap(), 5);
    let (out, err) = t.lines.take();
    assert!(out.is_empty());
    assert_eq!(err, ["Volume group vg0 is exported", "Volume group vg0 is exported"]);
    // Without a name (checked with real LVM on loop devices): nothing.
    assert_eq!(vgck(&mut s, &[], false).unwrap(), 0);
    assert_eq!(t.lines.take(), (vec![], vec![]));
}
