use super::*;
use proptest::prelude::*;

fn line(s: &str) -> StatusLine {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn test_kernel_status_lines_roundtrip_byte_exact() {
    // `dmsetup status` lines as the real kernel printed them (LVM fixtures
    // and the clone oracle test); the space after a bare type is dmsetup's.
    for s in [
        "0 65536 linear ",
        "0 65536 snapshot-origin ",
        "0 32768 striped 2 254:0 254:16 1 AA",
        "0 65536 snapshot 528/16384 16",
        "0 65536 snapshot Invalid",
        "0 65536 snapshot-merge 2072/16384 24",
        "0 65536 snapshot Merge failed",
        "0 8 zero ",
        "0 8 error ",
        "0 131072 clone 8 6/1024 64 4/2048 0 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw",
        "0 131072 clone 8 6/1024 64 2048/2048 0 0 4 hydration_threshold 1 hydration_batch_size 4 rw",
        "0 131072 clone Fail",
    ] {
        assert_eq!(line(s).to_string(), s);
    }
}

#[test]
fn test_snapshot_status_fields_and_usage() {
    let s: SnapshotStatus = "2072/16384 24".parse().unwrap();
    assert_eq!(s, SnapshotStatus::Active { allocated: Sectors(2072), total: Sectors(16384), metadata: Sectors(24) });
    assert!((s.usage_percent().unwrap() - 12.646484375).abs() < 1e-9);
    assert!(!s.is_invalid());
    assert!("Overflow".parse::<SnapshotStatus>().unwrap().is_invalid());
    assert_eq!("Invalid".parse::<SnapshotStatus>().unwrap().usage_percent(), None);
}

#[test]
fn test_clone_status_fields() {
    let c: CloneStatus =
        "8 6/1024 64 4/2048 2 2 no_hydration hydrate_on_read 4 hydration_threshold 64 hydration_batch_size 16 ro"
            .parse()
            .unwrap();
    let CloneStatus::Active { features, hydration_threshold, hydration_batch_size, mode, hydrating, .. } = &c else {
        panic!("{c:?}")
    };
    assert!(features.no_hydration && features.hydrate_on_read && !features.no_discard_passdown);
    assert_eq!((*hydration_threshold, *hydration_batch_size, *mode, *hydrating), (64, 16, CloneMode::ReadOnly, 2));
    assert_eq!(c.progress(), Some((4, 2048)));
}

#[test]
fn test_malformed_statuses_are_refused() {
    for (ty, params) in [
        ("linear", "1"),
        ("striped", "2 254:0 1 AA"),
        ("striped", "1 254:0 1 X"),
        ("striped", "1 254:0 2 A"),
        // A count that overflows when the other words are added to it (found by the fuzzer).
        ("striped", "18446744073709551615 254:0 1 A"),
        ("snapshot", "12/34"),
        ("snapshot", "a/b 3"),
        ("snapshot", "valid"),
        ("clone", "8 6/1024 64 4/2048 0 1 bogus 4 hydration_threshold 1 hydration_batch_size 1 rw"),
        ("clone", "8 6/1024 64 4/2048 0 0 4 hydration_threshold 1 hydration_batch_size 1 maybe"),
        ("clone", "8 6/1024 64 4/2048 0 3 no_hydration"),
        ("clone", ""),
        ("mirror", "2 254:0 254:16 1/1 1 A 1 core"),
        ("mirror", "2 254:0 254:16 1/1 1 AX 1 core"),
        ("mirror", "2 254:0 254:16 1/1 2 AA 1 core"),
        ("mirror", "2 254:0 254:16 1/1 1 AA 2 core"),
        ("mirror", "2 254:0 254:16 1/1 1 AA 3 disk 253:1 X"),
        ("mirror", "18446744073709551615 254:0 1/1 1 A 1 core"),
    ] {
        assert!(TargetStatus::parse(ty, params).is_err(), "{ty} '{params}'");
    }
    assert!("0 8".parse::<StatusLine>().is_err());
    assert!("x 8 linear ".parse::<StatusLine>().is_err());
}

fn sectors() -> impl Strategy<Value = Sectors> {
    any::<u64>().prop_map(Sectors)
}

fn snapshot_status() -> impl Strategy<Value = SnapshotStatus> {
    prop_oneof![
        (sectors(), sectors(), sectors()).prop_map(|(allocated, total, metadata)| SnapshotStatus::Active {
            allocated,
            total,
            metadata
        }),
        Just(SnapshotStatus::Invalid),
        Just(SnapshotStatus::Overflow),
        Just(SnapshotStatus::MergeFailed),
        Just(SnapshotStatus::Unknown),
    ]
}

fn clone_status() -> impl Strategy<Value = CloneStatus> {
    let active = (
        (sectors(), any::<u64>(), any::<u64>(), sectors()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<u32>(), any::<u32>(), any::<bool>()),
    )
        .prop_map(|((mbs, mu, mt, rs), (h, r, hy), (nh, nd, hr), (ht, hb, ro))| CloneStatus::Active {
            metadata_block_size: mbs,
            metadata_used: mu,
            metadata_total: mt,
            region_size: rs,
            hydrated: h,
            regions: r,
            hydrating: hy,
            features: CloneFeatures { no_hydration: nh, no_discard_passdown: nd, hydrate_on_read: hr },
            hydration_threshold: ht,
            hydration_batch_size: hb,
            mode: if ro { CloneMode::ReadOnly } else { CloneMode::ReadWrite },
        });
    prop_oneof![active, Just(CloneStatus::Fail), Just(CloneStatus::Error)]
}

fn target_status() -> impl Strategy<Value = TargetStatus> {
    let striped = proptest::collection::vec((any::<u32>(), any::<u32>(), any::<bool>()), 1..5).prop_map(|v| {
        TargetStatus::Striped(StripedStatus {
            devices: v.iter().map(|(ma, mi, _)| DevNum::new(*ma, *mi)).collect(),
            alive: v.iter().map(|(_, _, a)| *a).collect(),
        })
    });
    prop_oneof![
        Just(TargetStatus::Linear),
        Just(TargetStatus::Zero),
        Just(TargetStatus::Error),
        Just(TargetStatus::SnapshotOrigin),
        striped,
        snapshot_status().prop_map(TargetStatus::Snapshot),
        snapshot_status().prop_map(TargetStatus::SnapshotMerge),
        clone_status().prop_map(TargetStatus::Clone),
    ]
}

proptest! {
    #[test]
    fn prop_status_lines_roundtrip(start in any::<u64>(), len in any::<u64>(), status in target_status()) {
        let l = StatusLine { start: Sectors(start), len: Sectors(len), status };
        let printed = l.to_string();
        prop_assert_eq!(printed.parse::<StatusLine>().unwrap(), l);
    }
}
