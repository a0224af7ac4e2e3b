use super::*;
use proptest::prelude::*;

fn line(s: &str) -> TableLine {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn test_kernel_table_lines_roundtrip_byte_exact() {
    // Lines as the kernel prints them (dmsetup table), from the oracle demos.
    for s in [
        "0 131072 snapshot-origin 254:0",
        "0 131072 snapshot 254:0 254:16 P 16",
        "0 65536 snapshot-merge 253:1 253:2 P 8",
        "0 65536 linear 254:0 2048",
        "0 65536 error",
        "0 100 zero",
        "0 4096 striped 2 128 254:0 0 254:16 2048",
        "0 2097152 snapshot 253:1 253:2 P 8 2 discard_zeroes_cow discard_passdown_origin",
        "0 2097152 snapshot 253:1 253:2 PO 8 1 discard_zeroes_cow",
        "0 2097152 snapshot 253:1 253:2 N 32",
    ] {
        assert_eq!(line(s).to_string(), s);
    }
}

#[test]
fn test_snapshot_store_and_features_parse_case_insensitively() {
    let l = line("0 8 snapshot /dev/a /dev/b po 8 1 DISCARD_ZEROES_COW");
    assert_eq!(l.to_string(), "0 8 snapshot /dev/a /dev/b PO 8 1 discard_zeroes_cow");
    let TargetArgs::Snapshot(a) = l.target else { panic!() };
    assert_eq!(a.origin, DevRef::Path("/dev/a".into()));
    assert_eq!(a.store, StoreType::Persistent { overflow: true });
}

#[test]
fn test_bad_table_lines_are_refused_with_reason() {
    for (s, want) in [
        ("0 8 snapshot a b P 12", "power of 2"),
        ("0 8 snapshot a b X 8", "unknown store type"),
        ("0 8 snapshot a b PX 8", "Unsupported persistent store option"),
        ("0 8 snapshot a b P 8 1 discard_passdown_origin", "depends on discard_zeroes_cow"),
        ("0 8 snapshot a b P 8 3 x y z", "feature arguments"),
        ("0 8 snapshot a b P 8 2 discard_zeroes_cow", "feature arguments"),
        ("0 8 snapshot a b P", "4 or more"),
        ("0 8 snapshot-merge a b N 8", "does not support merging"),
        ("0 8 snapshot-origin a b", "incorrect number"),
        ("0 8 linear a", "argument count"),
        ("0 8 linear a -1", "invalid number"),
        ("0 9 striped 2 8 a 0 b 0", "number of stripes"),
        ("0 8 striped 2 8 a 0 b 0", "chunk size"),
        ("0 32 striped 2 8 a 0", "destinations"),
        // 2^63 stripes of one chunk each: twice the count overflows.
        ("0 9223372036854775808 striped 9223372036854775808 1 a 0", "destinations"),
        ("0 8 frobnicate", "unknown target type"),
        ("0 0 zero", "zero-length"),
        ("0 8 zero x", "No arguments"),
        ("x 8 zero", "start sector"),
        ("0 8", "expected <start>"),
    ] {
        let e = s.parse::<TableLine>().unwrap_err().to_string();
        assert!(e.contains(want), "{s}: got '{e}', want '{want}'");
    }
}

#[test]
fn test_table_must_be_contiguous_from_zero() {
    assert!("0 8 zero\n8 8 error\n".parse::<Table>().is_ok());
    let e = "0 8 zero\n9 8 error\n".parse::<Table>().unwrap_err().to_string();
    assert!(e.contains("gap or overlap"), "{e}");
    assert!("".parse::<Table>().is_err());
    assert_eq!("# c\n0 8 zero\n\n8 8 zero".parse::<Table>().unwrap().size(), Sectors(16));
}

fn dev_ref() -> impl Strategy<Value = DevRef> {
    prop_oneof![
        (0u32..4096, 0u32..1 << 20).prop_map(|(a, b)| DevRef::Number(DevNum::new(a, b))),
        "/dev/[a-z]{1,8}".prop_map(DevRef::Path),
        "[a-z][a-z0-9_-]{0,10}".prop_map(DevRef::Path),
    ]
}

fn snapshot_args() -> impl Strategy<Value = SnapshotArgs> {
    (dev_ref(), dev_ref(), 0u8..3, 0u32..20, any::<bool>(), any::<bool>()).prop_map(|(o, c, st, cs, z, p)| {
        SnapshotArgs {
            origin: o,
            cow: c,
            store: match st {
                0 => StoreType::Persistent { overflow: false },
                1 => StoreType::Persistent { overflow: true },
                _ => StoreType::Transient,
            },
            chunk_size: if cs == 0 { 0 } else { 1 << (cs - 1) },
            features: SnapshotFeatures { discard_zeroes_cow: z || p, discard_passdown_origin: p },
        }
    })
}

fn table_line() -> impl Strategy<Value = TableLine> {
    let target = prop_oneof![
        (dev_ref(), any::<u32>()).prop_map(|(d, o)| TargetArgs::Linear { dev: d, offset: Sectors(o as u64) }),
        Just(TargetArgs::Zero),
        Just(TargetArgs::Error),
        dev_ref().prop_map(|d| TargetArgs::SnapshotOrigin { origin: d }),
        snapshot_args().prop_map(TargetArgs::Snapshot),
        snapshot_args()
            .prop_filter("merge needs P", |a| a.store != StoreType::Transient)
            .prop_map(TargetArgs::SnapshotMerge),
        (1usize..5, 0u32..8, prop::collection::vec((dev_ref(), any::<u32>()), 4)).prop_map(|(n, cs, devs)| {
            TargetArgs::Striped {
                chunk_size: Sectors(8 << cs),
                stripes: devs.into_iter().take(n).map(|(d, o)| Stripe { dev: d, offset: Sectors(o as u64) }).collect(),
            }
        }),
    ];
    (any::<u32>(), target).prop_map(|(start, target)| {
        let len = match &target {
            TargetArgs::Striped { chunk_size, stripes } => Sectors(chunk_size.0 * stripes.len() as u64 * 3),
            _ => Sectors(1 << 20),
        };
        TableLine { start: Sectors(start as u64), len, target }
    })
}

proptest! {
    #[test]
    fn test_table_line_parse_print_roundtrip(l in table_line()) {
        let printed = l.to_string();
        let back: TableLine = printed.parse().map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&back, &l);
        prop_assert_eq!(back.to_string(), printed);
    }

    #[test]
    fn test_table_line_parser_never_panics(s in "[ -~]{0,80}") {
        let _ = s.parse::<TableLine>();
    }
}

#[test]
fn test_clone_args_built_in_code_print_as_parsed() {
    let dev = |s: &str| DevRef::Path(s.into());
    let a = CloneArgs::new(dev("vg-c_clonemeta"), dev("vg-c-dest"), dev("nbd+unix:///x?socket=/s"), 64, 64, 16);
    let l = TableLine { start: Sectors(0), len: Sectors(4096), target: TargetArgs::Clone(a) };
    let printed = l.to_string();
    assert_eq!(
        printed,
        "0 4096 clone vg-c_clonemeta vg-c-dest nbd+unix:///x?socket=/s 64 0 4 hydration_threshold 64 hydration_batch_size 16"
    );
    assert_eq!(printed.parse::<TableLine>().unwrap(), l);
}
