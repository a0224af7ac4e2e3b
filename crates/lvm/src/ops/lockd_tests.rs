use super::*;
use crate::text::Tree;

/// oracle13's shared VG, as real LVM 2.03.16 with lvmlockd wrote it.
const ORACLE13: &str = include_str!("../../tests/fixtures/oracle13/vgs.vgbackup");

fn vg(text: &str) -> VolumeGroup {
    VolumeGroup::from_tree(&Tree::parse(text).unwrap()).unwrap()
}

fn path(key: &str) -> Option<PathBuf> {
    Some(PathBuf::from(format!("/dev/{key}")))
}

#[test]
fn test_the_lock_lv_of_lvmlockds_vg_puts_its_areas_where_lvmlockd_does() {
    let l = LockLv::in_vg(&vg(ORACLE13), path).unwrap();
    assert_eq!(l.len, 256 << 20);
    // lvmlock is pv0's extents 0-63; pe_start is 1 MiB.
    let a = l.area(0).unwrap();
    assert_eq!((a.path.to_str().unwrap(), a.offset), ("/dev/pv0", 1 << 20));
    // lv1's lock_args (1.0.0:70254592): area 67.
    assert_eq!(l.area(70254592).unwrap().offset, (1 << 20) + 70254592);
    let slots: Vec<u64> = l.slots().collect();
    assert_eq!(slots.first(), Some(&70254592));
    assert_eq!(slots.len(), 256 - 67, "one slot per MiB from area 67 to the LV's end");
    assert_eq!(*slots.last().unwrap() + (1 << 20), 256 << 20);
    assert!(l.area(256 << 20).is_err(), "past the lock LV");
}

#[test]
fn test_a_lease_across_two_runs_of_the_lock_lv_is_refused() {
    // 512 KiB extents, the lock LV in two runs on two PVs: the area at
    // 1 MiB (extents 2-3) is whole in the first run of 4 extents; the one
    // at 1.5 MiB would span both runs.
    let mut v = vg(&ORACLE13.replace("extent_size = 8192", "extent_size = 1024"));
    let lock = v.lvs.iter_mut().find(|l| l.name == "lvmlock").unwrap();
    lock.segments = vec![
        crate::model::Segment {
            start_extent: crate::extent::Extents(0),
            extent_count: crate::extent::Extents(4),
            kind: SegmentKind::Striped { stripe_size: None, stripes: vec![("pv0".into(), crate::extent::Extents(0))] },
            extra: vec![],
        },
        crate::model::Segment {
            start_extent: crate::extent::Extents(4),
            extent_count: crate::extent::Extents(4),
            kind: SegmentKind::Striped { stripe_size: None, stripes: vec![("pv1".into(), crate::extent::Extents(9))] },
            extra: vec![],
        },
    ];
    let l = LockLv::in_vg(&v, path).unwrap();
    assert_eq!(l.area(1 << 20).unwrap().offset, (1 << 20) + (1 << 20));
    assert!(l.area(3 << 19).is_err(), "1.5 MiB to 2.5 MiB crosses from pv0 to pv1");
    let b = l.area(2 << 20).unwrap();
    assert_eq!((b.path.to_str().unwrap(), b.offset), ("/dev/pv1", (1 << 20) + 9 * (512 << 10)));
}

#[test]
fn test_lock_args_of_a_newer_lvmlockd_are_refused() {
    let v = vg(&ORACLE13.replace("lock_args = \"1.0.0:lvmlock\"", "lock_args = \"2.0.0:lvmlock:notimeout:persist\""));
    assert!(LockLv::in_vg(&v, path).is_err());
}

#[test]
fn test_write_locked_reads_as_write_and_is_written_back() {
    let v = vg(ORACLE13);
    assert!(v.status.iter().any(|s| s == "WRITE") && v.flags.is_empty());
    assert!(v.lv("lv1").unwrap().is_writable() && v.lv("lvmlock").unwrap().flags.is_empty());
    let text = v.to_text("d", "h", 0);
    assert!(text.contains("status = [\"RESIZEABLE\", \"READ\"]\nflags = [\"WRITE_LOCKED\"]"), "{text}");
    assert!(text.contains("status = [\"READ\", \"VISIBLE\"]\nflags = [\"WRITE_LOCKED\"]"), "{text}");
    assert_eq!(vg(&text), v);
    // A local VG keeps WRITE in its status.
    let mut local = v.clone();
    local.extra.retain(|i| !matches!(i, crate::text::Item::Assign(k, _) if k == "lock_type"));
    let text = local.to_text("d", "h", 0);
    assert!(text.contains("status = [\"RESIZEABLE\", \"READ\", \"WRITE\"]\nflags = []"), "{text}");
}

#[test]
fn test_snapshots_take_no_lease_of_their_own() {
    let v = vg(ORACLE13);
    assert!(holds_lock(&v, v.lv("lv1").unwrap()));
    assert!(!holds_lock(&v, v.lv("lvmlock").unwrap()), "hidden");
}
