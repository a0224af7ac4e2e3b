use super::*;
use crate::{DevNum, StatusLine, TableLine, TargetArgs, TargetStatus};
use proptest::prelude::*;

fn line(s: &str) -> TableLine {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn raid(s: &str) -> RaidArgs {
    match line(s).target {
        TargetArgs::Raid(r) => r,
        other => panic!("{other:?}"),
    }
}

fn refusal(s: &str) -> String {
    s.parse::<TableLine>().expect_err(s).to_string()
}

#[test]
fn test_raid_kernel_table_lines_roundtrip_byte_exact() {
    // As LVM's libdm writes them and the kernel re-emits them.
    for s in [
        "0 2097152 raid raid1 3 0 region_size 4096 2 253:2 253:3 253:4 253:5",
        "0 16384 raid raid1 3 0 region_size 1024 3 253:2 253:3 253:4 253:5 253:6 253:7",
        "0 8192 raid raid1 4 0 nosync region_size 1024 2 253:2 253:3 253:4 253:5",
        "0 8192 raid raid1 5 0 rebuild 1 region_size 1024 2 253:2 253:3 253:4 253:5",
        "0 8192 raid raid1 7 0 max_recovery_rate 128 write_mostly 1 region_size 1024 2 253:2 253:3 253:4 253:5",
        "0 8192 raid raid1 1 0 2 - 253:3 253:4 253:5",
        "0 8192 raid raid1 3 0 region_size 1024 2 - - 253:4 253:5",
    ] {
        assert_eq!(line(s).to_string(), s);
    }
}

#[test]
fn test_raid_table_fields_and_reordering() {
    let r = raid("0 8192 raid raid1 9 64 region_size 1024 write_mostly 1 rebuild 2 rebuild 0 3 a b c d e f");
    assert_eq!(r.rebuild, [0, 2]);
    assert_eq!(r.write_mostly, [1]);
    assert_eq!(r.region_size, Some(Sectors(1024)));
    assert_eq!(r.devs[2], RaidDev { meta: Some(DevRef::Path("e".into())), data: Some(DevRef::Path("f".into())) });
    assert_eq!(r.to_string(), "raid1 9 0 rebuild 0 rebuild 2 write_mostly 1 region_size 1024 3 a b c d e f");
    let devs: Vec<String> = TargetArgs::Raid(r).devices().iter().map(|d| d.to_string()).collect();
    assert_eq!(devs, ["a", "b", "c", "d", "e", "f"]);
    // max_write_behind is kept (and re-emitted) halved, as the kernel does.
    let r = raid("0 8192 raid raid1 3 0 max_write_behind 512 2 a b c d");
    assert_eq!(r.max_write_behind, Some(256));
    assert_eq!(r.to_string(), "raid1 3 0 max_write_behind 256 2 a b c d");
    // region_size 0 is "choose one": not re-emitted.
    assert_eq!(raid("0 8192 raid raid1 3 0 region_size 0 2 a b c d").to_string(), "raid1 1 0 2 a b c d");
    let by_num = raid("0 8192 raid raid1 1 0 2 253:2 253:3 253:4 253:5");
    assert_eq!(by_num.devs[0].meta, Some(DevRef::Number(DevNum::new(253, 2))));
}

#[test]
fn test_raid_default_region_size_follows_the_kernel() {
    assert_eq!(default_region_size(Sectors(8192)), Sectors(8192));
    assert_eq!(default_region_size(Sectors(1 << 34)), Sectors(8192));
    // Above 2^21 regions of 4 MiB the region grows to the next power of two.
    assert_eq!(default_region_size(Sectors((1 << 34) + (1 << 21))), Sectors(16384));
    let r = raid("0 8192 raid raid1 1 0 2 a b c d");
    assert_eq!(r.effective_region_size(Sectors(8192)), Sectors(8192));
}

#[test]
fn test_raid_table_refusals_use_the_kernels_words() {
    for (s, why) in [
        ("0 8 raid raid1", "Too few arguments"),
        ("0 8 raid raid9 1 0 2 a b c d", "Unrecognised raid_type"),
        ("0 8 raid raid5_ls 1 0 3 a b c d e f", "raid5_ls is not supported"),
        ("0 8 raid raid1 x 0 2 a b c d", "Cannot understand number of RAID parameters"),
        ("0 8 raid raid1 9 0 2 a b c d", "Not enough raid parameters given"),
        ("0 8 raid raid1 1 x 2 a b c d", "Bad numerical argument given for chunk_size"),
        ("0 8 raid raid1 1 0 0", "Cannot understand number of raid devices parameters"),
        ("0 8 raid raid1 1 0 2 a b c", "Supplied RAID devices does not match the count given"),
        ("0 8 raid raid1 3 0 sync nosync 2 a b c d", "sync and nosync are mutually exclusive"),
        ("0 8 raid raid1 3 0 sync sync 2 a b c d", "Only one 'sync' argument allowed"),
        ("0 8 raid raid1 4 0 nosync rebuild 1 2 a b c d", "sync/nosync and rebuild are mutually exclusive"),
        ("0 8 raid raid1 3 0 rebuild 2 2 a b c d", "Invalid rebuild index given"),
        ("0 8 raid raid1 5 0 rebuild 1 rebuild 1 2 a b c d", "rebuild for this index already given"),
        ("0 8 raid raid1 5 0 write_mostly 0 write_mostly 1 2 a b c d", "Can't set all raid1 devices to write_mostly"),
        ("0 8 raid raid1 2 0 region_size 2 a b c d", "Wrong number of raid parameters given"),
        ("0 8 raid raid1 3 0 region_size x 2 a b c d", "Bad numerical argument given in raid params"),
        ("0 8 raid raid1 3 0 region_size 16 2 a b c d", "Supplied region size is too large"),
        ("0 8192 raid raid1 3 0 region_size 6 2 a b c d", "Region size is not a power of 2"),
        ("0 8589934592 raid raid1 3 0 region_size 2048 2 a b c d", "Supplied region size is too small"),
        ("0 8 raid raid1 5 0 region_size 8 region_size 8 2 a b c d", "Only one region_size argument pair allowed"),
        ("0 8 raid raid1 3 0 bogus 1 2 a b c d", "Unable to parse RAID parameter"),
        ("0 8 raid raid1 3 0 raid10_copies 2 2 a b c d", "invalid parameter for this RAID type"),
        ("0 8 raid raid1 3 0 rebuild 1 2 a b c -", "Drive designated for rebuild not specified"),
        ("0 8 raid raid1 1 0 2 a b c -", "No data device supplied with metadata device"),
        ("0 8 raid raid1 3 0 data_offset 7 2 a b c d", "Bogus data_offset value"),
    ] {
        let e = refusal(s);
        assert!(e.contains(why), "{s}: {e}");
    }
}

#[test]
fn test_raid_status_lines_roundtrip_byte_exact() {
    for s in [
        "0 2097152 raid raid1 2 AA 2097152/2097152 idle 0 0 -",
        "0 2097152 raid raid1 2 aa 1024/2097152 resync 0 0 -",
        "0 2097152 raid raid1 3 AaD 4096/2097152 recover 0 0 -",
        "0 2097152 raid raid1 2 A- 2097152/2097152 idle 0 0 -",
        "0 2097152 raid raid1 2 AA 2097152/2097152 check 128 0 -",
        "0 2097152 raid raid1 2 AA 0/2097152 frozen 0 0 -",
    ] {
        let l: StatusLine = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(l.to_string(), s);
    }
    let l: StatusLine = "0 8192 raid raid1 3 AaD 4096/8192 recover 7 0 -".parse().unwrap();
    let TargetStatus::Raid(r) = &l.status else { panic!("{l:?}") };
    assert_eq!(r.health, [RaidHealth::InSync, RaidHealth::Syncing, RaidHealth::Dead]);
    assert_eq!(
        (r.sync_done, r.sync_total, r.action, r.mismatch_count),
        (Sectors(4096), Sectors(8192), SyncAction::Recover, 7)
    );
    assert_eq!(r.sync_percent(), 50.0);
    assert!(!r.is_synced());
    assert_eq!(l.status.raid(), Some(r));
}

#[test]
fn test_raid_status_refuses_malformed_lines() {
    for s in [
        "raid1 2 AA 8/8 idle 0 0",
        "raid1 2 AAA 8/8 idle 0 0 -",
        "raid1 2 AX 8/8 idle 0 0 -",
        "raid1 2 AA 8-8 idle 0 0 -",
        "raid1 2 AA 8/8 sleeping 0 0 -",
        "raid1 2 AA 8/8 idle 0 0 x",
        "raid6_zr 4 AAAA 8/8 idle 0 0 -",
    ] {
        assert!(s.parse::<RaidStatus>().is_err(), "{s}");
    }
}

#[test]
fn test_raid_messages_parse_as_the_kernel_takes_them() {
    assert_eq!(RaidMessage::parse(&["check"]).unwrap(), RaidMessage::Check);
    assert_eq!(RaidMessage::parse(&["FROZEN"]).unwrap(), RaidMessage::Frozen);
    assert_eq!(RaidMessage::parse(&["repair", "extra"]).unwrap(), RaidMessage::Repair);
    assert!(RaidMessage::parse(&["scrub"]).is_err());
    assert!(RaidMessage::parse(&[]).is_err());
}

fn arb_dev() -> impl Strategy<Value = Option<DevRef>> {
    prop_oneof![
        Just(None),
        (0u32..300, 0u32..300).prop_map(|(a, b)| Some(DevRef::Number(DevNum::new(a, b)))),
        "[a-z][a-z0-9_-]{0,8}".prop_map(|p| Some(DevRef::Path(p))),
    ]
}

prop_compose! {
    fn arb_args()(
        devs in proptest::collection::vec((arb_dev(), arb_dev()), 2..6),
        sync in 0u8..3,
        rebuild_mask in 0u32..64,
        wm_mask in 0u32..64,
        rates in (proptest::option::of(0u32..100_000), proptest::option::of(0u32..100_000)),
        sleep in proptest::option::of(1u64..10_000),
        region_log in proptest::option::of(3u32..13),
    ) -> RaidArgs {
        let n = devs.len();
        let devs: Vec<RaidDev> = devs.into_iter().map(|(meta, data)| {
            // A metadata device needs a data device.
            let data = data.or_else(|| meta.clone());
            RaidDev { meta, data }
        }).collect();
        let mut a = RaidArgs::raid1(region_log.map(|l| Sectors(1 << l)), devs);
        let wm: Vec<usize> = (0..n - 1).filter(|i| wm_mask & (1 << i) != 0).collect();
        a.write_mostly = wm;
        if sync == 0 {
            a.rebuild = (0..n).filter(|i| rebuild_mask & (1 << i) != 0 && a.devs[*i].data.is_some()).collect();
        } else {
            a.sync = if sync == 1 { RaidSync::Sync } else { RaidSync::NoSync };
        }
        (a.min_recovery_rate, a.max_recovery_rate) = rates;
        a.daemon_sleep = sleep;
        a
    }
}

proptest! {
    #[test]
    fn prop_raid_table_parse_inverts_print(a in arb_args()) {
        let len = Sectors(1 << 16);
        let text = format!("0 {} raid {a}", len.0);
        let back = raid(&text);
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(format!("0 {} raid {back}", len.0), text);
    }

    #[test]
    fn prop_raid_status_parse_inverts_print(
        health in proptest::collection::vec(prop_oneof![Just('A'), Just('a'), Just('D'), Just('-')], 1..8),
        done in 0u64..1 << 40,
        total in 0u64..1 << 40,
        action in 0usize..7,
        mismatches in 0u64..1 << 40,
    ) {
        let actions = ["idle", "frozen", "resync", "recover", "check", "repair", "reshape"];
        let s = RaidStatus {
            raid_type: RaidType::Raid1,
            health: health.iter().map(|c| RaidHealth::from_char(*c).unwrap()).collect(),
            sync_done: Sectors(done),
            sync_total: Sectors(total),
            action: actions[action].parse().unwrap(),
            mismatch_count: mismatches,
            data_offset: Sectors(0),
            journal: '-',
        };
        let text = s.to_string();
        prop_assert_eq!(text.parse::<RaidStatus>().unwrap(), s);
    }

    #[test]
    fn prop_raid_parse_never_panics(words in proptest::collection::vec("[a-z0-9_:-]{0,6}", 0..16)) {
        let w: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
        let _ = RaidArgs::parse(&w, Sectors(8192));
        let _ = w.join(" ").parse::<RaidStatus>();
    }
}
