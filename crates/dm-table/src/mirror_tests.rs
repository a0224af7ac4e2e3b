use super::*;
use crate::{StatusLine, TableLine, TargetArgs, TargetStatus};
use proptest::prelude::*;

fn line(s: &str) -> TableLine {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn test_mirror_kernel_table_lines_roundtrip_byte_exact() {
    // As the kernel re-emits them (mirror_status TABLE: the log part first),
    // and as LVM's libdm writes them for pvmove and mirror LVs.
    for s in [
        "0 2097152 mirror core 1 4096 2 8:16 2048 8:32 2048",
        "0 2097152 mirror core 2 4096 nosync 2 8:16 2048 8:32 2048",
        "0 2097152 mirror core 2 4096 sync 3 8:16 0 8:32 0 8:48 0",
        "0 2097152 mirror disk 2 253:3 4096 2 253:4 0 253:5 0 1 handle_errors",
        "0 2097152 mirror disk 3 253:3 4096 nosync 2 253:4 0 253:5 0 2 handle_errors keep_log",
    ] {
        assert_eq!(line(s).to_string(), s);
    }
}

#[test]
fn test_mirror_table_fields() {
    let l = line("0 8192 mirror disk 2 253:3 1024 2 253:4 0 vg-x 2048 1 handle_errors");
    let TargetArgs::Mirror(m) = &l.target else { panic!("{l:?}") };
    assert_eq!(
        m.log,
        MirrorLog::Disk {
            dev: DevRef::Number(DevNum::new(253, 3)),
            region_size: Sectors(1024),
            sync: LogSync::Default
        }
    );
    assert_eq!(m.legs[1], Stripe { dev: DevRef::Path("vg-x".into()), offset: Sectors(2048) });
    assert_eq!(m.features, MirrorFeatures { handle_errors: true, keep_log: false });
    assert_eq!(m.nr_regions(l.len), 8);
    let devs: Vec<String> = l.target.devices().iter().map(|d| d.to_string()).collect();
    assert_eq!(devs, ["253:3", "253:4", "vg-x"]);
}

#[test]
fn test_mirror_bad_tables_refused_with_kernel_reason() {
    for (s, want) in [
        ("0 8 mirror", "Insufficient mirror log arguments"),
        ("0 8 mirror core x 8", "Invalid mirror log argument count"),
        ("0 8 mirror core 3 8 2", "Insufficient mirror log arguments"),
        ("0 8 mirror core 1 6 2 a 0 b 0", "invalid region size 6"),
        ("0 8 mirror core 1 1 2 a 0 b 0", "invalid region size 1"),
        ("0 8 mirror core 1 16 2 a 0 b 0", "invalid region size 16"),
        ("0 8 mirror core 2 8 maybe 2 a 0 b 0", "unrecognised sync argument"),
        ("0 8 mirror core 3 8 sync x 2 a 0 b 0", "wrong number of arguments to dirty region log"),
        ("0 8 mirror disk 1 l 2 a 0 b 0", "wrong number of arguments to disk dirty region log"),
        ("0 8 mirror userspace 1 x 2 a 0 b 0", "Error creating mirror dirty log"),
        ("0 8 mirror core 1 8 1 a 0", "Invalid number of mirrors"),
        ("0 8 mirror core 1 8 10 a 0 b 0 c 0 d 0 e 0 f 0 g 0 h 0 i 0 j 0", "Invalid number of mirrors"),
        ("0 8 mirror core 1 8 2 a 0", "Too few mirror arguments"),
        ("0 8 mirror core 1 8 2 a 0 b x", "Invalid offset"),
        ("0 8 mirror core 1 8 2 a 0 b 0 x", "Invalid number of features"),
        ("0 8 mirror core 1 8 2 a 0 b 0 2 handle_errors", "Not enough arguments to support feature count"),
        ("0 8 mirror core 1 8 2 a 0 b 0 1 Handle_errors", "Unrecognised feature requested"),
        ("0 8 mirror core 1 8 2 a 0 b 0 1 keep_log", "keep_log feature requires the handle_errors feature"),
        ("0 8 mirror core 1 8 2 a 0 b 0 1 handle_errors x", "Too many mirror arguments"),
        // 2^33 sectors in regions of 2: more regions than the log counts.
        ("0 8589934592 mirror core 1 2 2 a 0 b 0", "region count exceeds limit"),
    ] {
        let e = s.parse::<TableLine>().unwrap_err().to_string();
        assert!(e.contains(want), "{s}: got '{e}', want '{want}'");
    }
}

#[test]
fn test_mirror_status_kernel_lines_roundtrip_byte_exact() {
    for s in [
        "0 2097152 mirror 2 253:4 253:5 512/512 1 AA 3 disk 253:3 A",
        "0 2097152 mirror 2 8:16 8:32 17/512 1 AA 1 core",
        "0 2097152 mirror 3 8:16 8:32 8:48 0/512 1 ADS 3 disk 253:3 F",
        "0 2097152 mirror 2 8:16 8:32 0/512 1 RU 3 disk 253:3 D",
    ] {
        let l: StatusLine = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(l.to_string(), s);
    }
    let st = TargetStatus::parse("mirror", "2 253:4 253:5 256/512 1 AD 3 disk 253:3 A").unwrap();
    let m = st.mirror().unwrap();
    assert_eq!(m.health, [LegHealth::Alive, LegHealth::WriteError]);
    assert_eq!(m.log, MirrorLogStatus::Disk { dev: DevNum::new(253, 3), health: LogHealth::Alive });
    assert!(!m.is_synced());
    assert_eq!(m.sync_percent(), 50.0);
}

fn dev_ref() -> impl Strategy<Value = DevRef> {
    prop_oneof![
        (0u32..4096, 0u32..1 << 20).prop_map(|(a, b)| DevRef::Number(DevNum::new(a, b))),
        "/dev/[a-z]{1,8}".prop_map(DevRef::Path),
        "[a-z][a-z0-9_-]{0,10}".prop_map(DevRef::Path),
    ]
}

fn mirror_args() -> impl Strategy<Value = MirrorArgs> {
    let sync = prop_oneof![Just(LogSync::Default), Just(LogSync::Sync), Just(LogSync::NoSync)];
    let log = (1u32..20, sync, proptest::option::of(dev_ref())).prop_map(|(shift, sync, dev)| {
        let region_size = Sectors(1 << shift);
        match dev {
            None => MirrorLog::Core { region_size, sync },
            Some(dev) => MirrorLog::Disk { dev, region_size, sync },
        }
    });
    let legs = prop::collection::vec((dev_ref(), any::<u32>()), 2..=MAX_MIRRORS)
        .prop_map(|v| v.into_iter().map(|(dev, o)| Stripe { dev, offset: Sectors(o.into()) }).collect());
    (log, legs, any::<bool>(), any::<bool>()).prop_map(|(log, legs, h, k)| MirrorArgs {
        log,
        legs,
        features: MirrorFeatures { handle_errors: h || k, keep_log: k },
    })
}

fn mirror_status() -> impl Strategy<Value = MirrorStatus> {
    let health = prop_oneof![
        Just(LegHealth::Alive),
        Just(LegHealth::FlushError),
        Just(LegHealth::WriteError),
        Just(LegHealth::SyncError),
        Just(LegHealth::ReadError),
        Just(LegHealth::Unknown),
    ];
    let log = prop_oneof![
        Just(MirrorLogStatus::Core),
        (any::<u32>(), any::<u32>(), 0u8..3).prop_map(|(a, b, h)| MirrorLogStatus::Disk {
            dev: DevNum::new(a, b),
            health: [LogHealth::Alive, LogHealth::Failed, LogHealth::FlushFailed][h as usize],
        }),
    ];
    (prop::collection::vec((any::<u32>(), any::<u32>(), health), 1..=MAX_MIRRORS), any::<u64>(), any::<u64>(), log)
        .prop_map(|(legs, in_sync, regions, log)| MirrorStatus {
            legs: legs.iter().map(|(a, b, _)| DevNum::new(*a, *b)).collect(),
            in_sync,
            regions,
            health: legs.iter().map(|(_, _, h)| *h).collect(),
            log,
        })
}

proptest! {
    #[test]
    fn prop_mirror_table_line_roundtrips(start in any::<u32>(), a in mirror_args()) {
        let len = Sectors(1 << 20);
        let l = TableLine { start: Sectors(start.into()), len, target: TargetArgs::Mirror(a) };
        let printed = l.to_string();
        let back: TableLine = printed.parse().map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&back, &l);
        prop_assert_eq!(back.to_string(), printed);
    }

    #[test]
    fn prop_mirror_status_roundtrips(start in any::<u64>(), len in any::<u64>(), m in mirror_status()) {
        let l = StatusLine { start: Sectors(start), len: Sectors(len), status: TargetStatus::Mirror(m) };
        let printed = l.to_string();
        prop_assert_eq!(printed.parse::<StatusLine>().map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?, l);
    }

    #[test]
    fn prop_mirror_parsers_never_panic(words in prop::collection::vec("[0-9a-z:/]{0,6}", 0..16)) {
        let _ = MirrorArgs::parse(&words.iter().map(String::as_str).collect::<Vec<_>>(), Sectors(1 << 20));
        let _ = words.join(" ").parse::<MirrorStatus>();
    }
}
