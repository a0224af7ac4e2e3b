//! The raid target (raid1) through the registry: table and status lines
//! as the kernel prints them, the superblocks and bitmap it writes,
//! messages, leg failure and recovery from the bitmap (copies counted),
//! balanced reads, a model of what was acknowledged that every read and
//! the legs after sync must match, and crash replay of the bitmap and
//! superblock updates.

mod common;
use common::*;
use proptest::prelude::*;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, MemDevice, Sectors};
use ulvm_dm::raid::format::{decode_bitmap, Bits, SbState, Superblock, BITMAP_OFFSET};
use ulvm_dm::target::Step;
use ulvm_dm::{DevNum, Registry};
use ulvm_testkit::{replay, stamped, CountingDevice, CrashMode, FaultDevice, Log, LogDevice};

const REGION: u64 = 8; // 4 KiB
const REGIONS: u64 = 32;
const SECTORS: u64 = REGION * REGIONS;
const BYTES: usize = (SECTORS * 512) as usize;
const META_SECTORS: u64 = 16;

fn step_until_done(reg: &Registry, name: &str) -> usize {
    for n in 0..100_000 {
        match reg.step_background(name).unwrap() {
            Some(Step::Progress) => continue,
            Some(Step::Done) => return n,
            other => panic!("background step: {other:?}"),
        }
    }
    panic!("sync did not finish");
}

fn contents(d: &dyn BlockDevice) -> Vec<u8> {
    read(d, 0, (d.size().0 * 512) as usize)
}

/// One leg's devices: fault injection over counting over memory.
struct Leg {
    meta: Arc<MemDevice>,
    data: Arc<MemDevice>,
    fault: Arc<FaultDevice>,
    count: Arc<CountingDevice>,
    nums: (DevNum, DevNum),
}

fn legs(reg: &Registry, init: &[Vec<u8>]) -> Vec<Leg> {
    init.iter()
        .enumerate()
        .map(|(i, bytes)| {
            let meta = mem(&format!("m{i}"), META_SECTORS);
            let data = Arc::new(MemDevice::from_bytes(format!("d{i}"), bytes.clone()));
            let count = Arc::new(CountingDevice::new(data.clone()));
            let fault = Arc::new(FaultDevice::new(count.clone()));
            let m = reg.add_device(&format!("m{i}"), as_dev(&meta));
            let d = reg.add_device(&format!("d{i}"), fault.clone() as DeviceRef);
            Leg { meta, data, fault, count, nums: (m, d) }
        })
        .collect()
}

/// `raid1` over `n` legs named m<i>/d<i>, with `extra` parameters.
fn raid_table(n: usize, extra: &str) -> String {
    let words = 3 + extra.split_whitespace().count();
    let devs: Vec<String> = (0..n).map(|i| format!("m{i} d{i}")).collect();
    let extra = if extra.is_empty() { String::new() } else { format!(" {extra}") };
    format!("0 {SECTORS} raid raid1 {words} 0 region_size {REGION}{extra} {n} {}", devs.join(" "))
}

fn sb_of(meta: &MemDevice) -> Superblock {
    match Superblock::decode(&read(meta, 0, 512)).unwrap() {
        SbState::Valid(sb) => sb,
        SbState::New => panic!("no superblock"),
    }
}

fn bits_of(meta: &MemDevice) -> Bits {
    decode_bitmap(&read(meta, BITMAP_OFFSET.0, 512)).unwrap().1
}

fn raid_status(reg: &Registry, name: &str) -> String {
    let s = status(reg, name);
    s.split_once(" raid ").map(|(_, r)| r.to_string()).unwrap_or(s)
}

#[test]
fn test_raid_new_set_table_status_resync_and_superblocks() {
    let reg = registry();
    let l = legs(&reg, &[stamped(BYTES, 1, 0), vec![0; BYTES]]);
    let dev = create(&reg, "r", &raid_table(2, ""));
    let ((m0, d0), (m1, d1)) = (l[0].nums, l[1].nums);
    assert_eq!(table_of(&reg, "r"), format!("0 {SECTORS} raid raid1 3 0 region_size {REGION} 2 {m0} {d0} {m1} {d1}"));
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 aa 0/{SECTORS} resync 0 0 -"));
    // Not yet resynced: reads come from leg 0, which resync copies from.
    for _ in 0..4 {
        assert_eq!(read(&*dev, 4096, 4096), stamped(BYTES, 1, 0)[4096..8192].to_vec());
    }
    let sb = sb_of(&l[1].meta);
    assert_eq!((sb.array_position, sb.num_devices, sb.array_resync_offset), (1, 2, Some(Sectors(0))));
    let ev = dev.events().current();
    assert_eq!(step_until_done(&reg, "r"), REGIONS as usize, "one region per step");
    assert_eq!(dev.events().current(), ev + 1, "the event for 'in sync'");
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(contents(&*l[0].data), contents(&*l[1].data));
    for (i, leg) in l.iter().enumerate() {
        let sb = sb_of(&leg.meta);
        assert_eq!(sb.array_position, i as u32);
        assert_eq!((sb.array_resync_offset, sb.disk_recovery_offset), (None, None));
        assert_eq!((sb.sectors, sb.array_sectors, sb.failed_devices), (Sectors(SECTORS), Sectors(SECTORS), [0; 4]));
        let (bsb, bits) = decode_bitmap(&read(&*leg.meta, 4096, 512)).unwrap();
        assert_eq!((bsb.version, bsb.chunksize.0, bsb.sync_size, bsb.events), (4, 4096, Sectors(SECTORS), sb.events));
        assert_eq!(bits.count(), 0);
    }
    // In sync: writes reach both legs, after their bit is on both metas.
    dev.write(Sectors(40), &[9u8; 1024]).unwrap();
    assert_eq!(read(&*l[1].data, 40 * 512, 1024), vec![9u8; 1024]);
    assert!(bits_of(&l[0].meta).get(5) && bits_of(&l[1].meta).get(5));
}

#[test]
fn test_raid_nosync_in_sync_at_once_and_bad_tables_refused() {
    let reg = registry();
    legs(&reg, &[vec![0; BYTES], vec![0; BYTES]]);
    create(&reg, "r", &raid_table(2, "nosync"));
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(step_until_done(&reg, "r"), 0);
    reg.add_device("small", as_dev(&mem("small", SECTORS - 1)));
    reg.add_device("tiny", as_dev(&mem("tiny", 8)));
    reg.add_device("m9", as_dev(&mem("m9", META_SECTORS)));
    let bad = |t: String, why: &str| {
        let e = reg.create("x", None, Some(&table(&t)), false).unwrap_err().to_string();
        assert!(e.contains(why), "{t}: {e}");
    };
    bad(raid_table(2, "").replace("m1 d1", "m9 small"), "too small");
    bad(raid_table(2, "").replace("m1 d1", "tiny d1"), "metadata device");
    // Leg 0's superblock claims an incompatible feature.
    let reg2 = registry();
    let l = legs(&reg2, &[vec![0; BYTES], vec![0; BYTES]]);
    create(&reg2, "r", &raid_table(2, "nosync"));
    reg2.remove("r").unwrap();
    let mut sb = read(&*l[0].meta, 0, 512);
    sb[144] = 1;
    l[0].meta.write(Sectors(0), &sb).unwrap();
    let e = reg2.create("r", None, Some(&table(&raid_table(2, ""))), false).unwrap_err().to_string();
    assert!(e.contains("No incompatible feature flags supported yet"), "{e}");
}

#[test]
fn test_raid_half_synced_set_resumes_where_it_stopped() {
    let reg = registry();
    let l = legs(&reg, &[stamped(BYTES, 2, 0), vec![0; BYTES]]);
    create(&reg, "r", &raid_table(2, ""));
    for _ in 0..10 {
        reg.step_background("r").unwrap();
    }
    reg.message("r", 0, &["frozen"]).unwrap();
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 aa 80/{SECTORS} frozen 0 0 -"));
    assert_eq!(step_until_done(&reg, "r"), 0, "frozen: nothing runs");
    reg.suspend("r").unwrap();
    reg.remove("r").unwrap();
    assert_eq!(sb_of(&l[0].meta).array_resync_offset, Some(Sectors(80)));
    let reg = registry();
    for (i, leg) in l.iter().enumerate() {
        reg.add_device(&format!("m{i}"), as_dev(&leg.meta));
        reg.add_device(&format!("d{i}"), leg.fault.clone() as DeviceRef);
    }
    create(&reg, "r", &raid_table(2, ""));
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 aa 80/{SECTORS} resync 0 0 -"));
    let before = l[1].count.totals()[2];
    assert_eq!(step_until_done(&reg, "r"), (REGIONS - 10) as usize);
    assert_eq!(l[1].count.totals()[2] - before, REGIONS - 10, "only the regions not yet synced are copied");
    assert_eq!(contents(&*l[0].data), contents(&*l[1].data));
}

#[test]
fn test_raid_failed_leg_is_recorded_and_recovered_from_the_bitmap_only() {
    let reg = registry();
    let init = stamped(BYTES, 3, 0);
    let l = legs(&reg, &[init.clone(), init.clone()]);
    let t = raid_table(2, "nosync daemon_sleep 1");
    let dev = create(&reg, "r", &t);
    let ev = dev.events().current();
    l[1].fault.fail_writes(true);
    let regions_written = [3u64, 4, 17];
    for r in regions_written {
        dev.write(Sectors(r * REGION), &[r as u8; 4096]).expect("the write stands on leg 0");
    }
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 AD {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(dev.events().current(), ev + 1, "a leg failure raises an event");
    let sb = sb_of(&l[0].meta);
    assert!(sb.is_failed(1) && !sb.is_failed(0));
    assert!(sb.events > sb_of(&l[1].meta).events, "the dead leg's superblock is older");
    // Degraded: no bit is cleared, whatever the daemon's period.
    std::thread::sleep(std::time::Duration::from_millis(5));
    step_until_done(&reg, "r");
    step_until_done(&reg, "r");
    assert_eq!(bits_of(&l[0].meta).iter_set().collect::<Vec<_>>(), regions_written.to_vec());
    // The leg comes back: a table reload recovers the dirty regions only.
    l[1].fault.fail_writes(false);
    reg.load("r", &table(&t), false).unwrap();
    reg.resume("r").unwrap();
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 Aa 0/{SECTORS} recover 0 0 -"));
    let before = l[1].count.totals()[2];
    step_until_done(&reg, "r");
    assert_eq!(l[1].count.totals()[2] - before, regions_written.len() as u64, "one copy per dirty region");
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(contents(&*l[0].data), contents(&*l[1].data));
    assert!(!sb_of(&l[0].meta).is_failed(1));
    // In sync again: idle bits clear after two daemon periods.
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        step_until_done(&reg, "r");
    }
    assert_eq!(bits_of(&l[1].meta).count(), 0);
}

#[test]
fn test_raid_new_device_needs_rebuild_and_is_rebuilt_fully() {
    let reg = registry();
    let init = stamped(BYTES, 4, 0);
    let l = legs(&reg, &[init.clone(), init.clone()]);
    create(&reg, "r", &raid_table(2, "nosync"));
    reg.suspend("r").unwrap();
    reg.remove("r").unwrap();
    // A replaced device: zeroed metadata (as LVM gives), other data.
    l[1].meta.write_zeroes(Sectors(0), Sectors(META_SECTORS)).unwrap();
    l[1].data.write_zeroes(Sectors(0), Sectors(SECTORS)).unwrap();
    let e = reg.create("r", None, Some(&table(&raid_table(2, ""))), false).unwrap_err().to_string();
    assert!(e.contains("New device injected into existing raid set without 'delta_disks' or 'rebuild'"), "{e}");
    create(&reg, "r", &raid_table(2, "rebuild 1"));
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 Aa 0/{SECTORS} recover 0 0 -"));
    let before = l[1].count.totals()[2];
    step_until_done(&reg, "r");
    assert_eq!(l[1].count.totals()[2] - before, REGIONS, "a full rebuild copies every region");
    assert_eq!(contents(&*l[1].data), init);
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
}

#[test]
fn test_raid_leg_count_changes_by_table_as_mds_raid1_reshape() {
    // LVM's `lvconvert -m 2` then `-m 1` on an active raid1: the table
    // gains a slot (zeroed metadata, `rebuild 2`), later loses one; the
    // superblocks follow the table's count.
    let reg = registry();
    let init = stamped(BYTES, 5, 0);
    let l = legs(&reg, &[init.clone(), init.clone(), vec![0; BYTES]]);
    let dev = create(&reg, "r", &raid_table(2, "nosync"));
    dev.write(Sectors(16), &[7u8; 4096]).unwrap();
    let mut want = init.clone();
    want[16 * 512..16 * 512 + 4096].fill(7);
    reg.load("r", &table(&raid_table(3, "rebuild 2")), false).unwrap();
    reg.suspend("r").unwrap();
    reg.resume("r").unwrap();
    assert_eq!(raid_status(&reg, "r"), format!("raid1 3 AAa 0/{SECTORS} recover 0 0 -"));
    step_until_done(&reg, "r");
    assert_eq!(raid_status(&reg, "r"), format!("raid1 3 AAA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(contents(&*l[2].data), want);
    assert!(l.iter().all(|leg| sb_of(&leg.meta).num_devices == 3));
    reg.load("r", &table(&raid_table(2, "")), false).unwrap();
    reg.suspend("r").unwrap();
    reg.resume("r").unwrap();
    assert_eq!(raid_status(&reg, "r"), format!("raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert!(l[..2].iter().all(|leg| sb_of(&leg.meta).num_devices == 2));
    assert_eq!(read(&*dev, 0, BYTES), want);
}

#[test]
fn test_raid_check_counts_mismatches_repair_fixes_them_and_messages() {
    let reg = registry();
    let init = stamped(BYTES, 5, 0);
    let l = legs(&reg, &[init.clone(), init.clone(), init.clone()]);
    create(&reg, "r", &raid_table(3, "nosync"));
    l[2].data.write(Sectors(3 * REGION), &[1u8; 512]).unwrap();
    l[1].data.write(Sectors(9 * REGION + 2), &[1u8; 512]).unwrap();
    assert!(reg.message("r", 0, &["bogus"]).unwrap_err().to_string().contains("unrecognised message"));
    reg.message("r", 0, &["check"]).unwrap();
    assert_eq!(raid_status(&reg, "r"), format!("raid1 3 AAA 0/{SECTORS} check 0 0 -"));
    reg.step_background("r").unwrap();
    assert!(reg.message("r", 0, &["repair"]).unwrap_err().to_string().contains("busy"), "a check runs");
    reg.message("r", 0, &["frozen"]).unwrap();
    assert!(raid_status(&reg, "r").contains(" frozen "));
    reg.message("r", 0, &["check"]).unwrap();
    step_until_done(&reg, "r");
    assert_eq!(raid_status(&reg, "r"), format!("raid1 3 AAA {SECTORS}/{SECTORS} idle {} 0 -", 2 * REGION));
    assert_ne!(contents(&*l[2].data), init, "check changes nothing");
    reg.message("r", 0, &["repair"]).unwrap();
    step_until_done(&reg, "r");
    assert_eq!(
        raid_status(&reg, "r"),
        format!("raid1 3 AAA {SECTORS}/{SECTORS} idle 0 0 -"),
        "the kernel shows 0 after repair"
    );
    assert_eq!(contents(&*l[1].data), init);
    assert_eq!(contents(&*l[2].data), init);
    reg.message("r", 0, &["check"]).unwrap();
    step_until_done(&reg, "r");
    assert!(raid_status(&reg, "r").ends_with(" idle 0 0 -"));
    reg.message("r", 0, &["idle"]).unwrap();
}

#[test]
fn test_raid_reads_are_balanced_and_a_failed_read_is_retried() {
    let reg = registry();
    let init = stamped(BYTES, 6, 0);
    let l = legs(&reg, &[init.clone(), init.clone()]);
    let dev = create(&reg, "r", &raid_table(2, "nosync"));
    let before: Vec<u64> = l.iter().map(|l| l.count.totals()[0]).collect();
    for i in 0..100u64 {
        assert_eq!(read(&*dev, (i % REGIONS) * 4096, 4096), init[((i % REGIONS) * 4096) as usize..][..4096].to_vec());
    }
    let reads: Vec<u64> = l.iter().zip(&before).map(|(l, b)| l.count.totals()[0] - b).collect();
    assert!(reads.iter().all(|r| *r >= 40), "reads per leg: {reads:?}");
    // write_mostly: leg 0 is read only when leg 1 cannot be.
    let reg2 = registry();
    let l2 = legs(&reg2, &[init.clone(), init.clone()]);
    let d2 = create(&reg2, "r", &raid_table(2, "nosync write_mostly 0"));
    for _ in 0..10 {
        read(&*d2, 0, 4096);
    }
    assert_eq!(l2[0].count.totals()[0], 0);
    l2[1].fault.fail_reads(true);
    assert_eq!(read(&*d2, 0, 4096), init[..4096].to_vec(), "retried on leg 0");
    assert_eq!(raid_status(&reg2, "r"), format!("raid1 2 AD {SECTORS}/{SECTORS} idle 0 0 -"));
    // The last in-sync leg is never failed: its error goes to the reader.
    l2[0].fault.fail_reads(true);
    let mut buf = vec![0u8; 4096];
    assert!(d2.read(Sectors(0), &mut buf).is_err());
    assert_eq!(raid_status(&reg2, "r"), format!("raid1 2 AD {SECTORS}/{SECTORS} idle 0 0 -"));
}

#[test]
fn test_raid_write_behind_of_an_existing_bitmap_wins_over_the_table() {
    let reg = registry();
    let l = legs(&reg, &[vec![0; BYTES], vec![0; BYTES]]);
    create(&reg, "r", &raid_table(2, "nosync max_write_behind 512"));
    assert!(table_of(&reg, "r").contains(" max_write_behind 256 "), "{}", table_of(&reg, "r"));
    assert_eq!(decode_bitmap(&read(&*l[0].meta, 4096, 512)).unwrap().0.write_behind, 256);
    reg.suspend("r").unwrap();
    reg.remove("r").unwrap();
    create(&reg, "r", &raid_table(2, "max_write_behind 100"));
    assert!(table_of(&reg, "r").contains(" max_write_behind 256 "), "{}", table_of(&reg, "r"));
    reg.remove("r").unwrap();
    // As the kernel after `lvchange --writebehind 512` of a set made without.
    create(&reg, "r", &raid_table(2, "nosync").replace("nosync", "sync"));
    step_until_done(&reg, "r");
    reg.suspend("r").unwrap();
    reg.remove("r").unwrap();
    create(&reg, "r", &raid_table(2, "max_write_behind 512"));
    assert!(table_of(&reg, "r").contains(" max_write_behind 0 "), "{}", table_of(&reg, "r"));
}

#[test]
fn test_raid_max_recovery_rate_paces_the_resync() {
    let reg = registry();
    legs(&reg, &[stamped(BYTES, 8, 0), vec![0; BYTES]]);
    create(&reg, "r", &raid_table(2, "max_recovery_rate 1024"));
    let t0 = std::time::Instant::now();
    step_until_done(&reg, "r");
    // 32 regions of 4 KiB at 1 MiB/s: at least 125 ms.
    assert!(t0.elapsed() >= std::time::Duration::from_millis(120), "{:?}", t0.elapsed());
    assert!(raid_status(&reg, "r").contains(" AA "));
}

// ----- the model -----

#[derive(Debug, Clone)]
enum Op {
    Write { at: u64, sectors: u64, seed: u64 },
    Read { at: u64, sectors: u64 },
    Flush,
    Step(u8),
    Fail(usize),
    Return(usize),
    Suspend,
    Check,
    Repair,
}

fn op() -> impl Strategy<Value = Op> {
    let span = (0..SECTORS).prop_flat_map(|at| (Just(at), 1..=(SECTORS - at).min(3 * REGION)));
    prop_oneof![
        5 => (span.clone(), any::<u64>()).prop_map(|((at, sectors), seed)| Op::Write { at, sectors, seed }),
        4 => span.prop_map(|(at, sectors)| Op::Read { at, sectors }),
        1 => Just(Op::Flush),
        3 => (1u8..12).prop_map(Op::Step),
        1 => (1usize..3).prop_map(Op::Fail),
        1 => (1usize..3).prop_map(Op::Return),
        1 => Just(Op::Suspend),
        1 => Just(Op::Check),
        1 => Just(Op::Repair),
    ]
}

fn model_run(ops: &[Op], nosync: bool) -> std::result::Result<(), TestCaseError> {
    let reg = registry();
    let init0 = stamped(BYTES, 11, 0);
    let other = if nosync { init0.clone() } else { vec![0; BYTES] };
    let l = legs(&reg, &[init0.clone(), other.clone(), other]);
    let t = raid_table(3, if nosync { "nosync daemon_sleep 1" } else { "daemon_sleep 1" });
    let dev = create(&reg, "r", &t);
    // What was acknowledged: leg 0's data (what an unsynced set reads),
    // overlaid by every write.
    let mut model = init0;
    for op in ops {
        match op {
            Op::Write { at, sectors, seed } => {
                let data = stamped((sectors * 512) as usize, *seed, *at);
                dev.write(Sectors(*at), &data).map_err(|e| TestCaseError::fail(format!("write: {e}")))?;
                model[(*at * 512) as usize..((*at + sectors) * 512) as usize].copy_from_slice(&data);
            }
            Op::Read { at, sectors } => {
                let got = read(&*dev, at * 512, (sectors * 512) as usize);
                prop_assert!(
                    got == model[(*at * 512) as usize..((*at + sectors) * 512) as usize],
                    "read {at}+{sectors}"
                );
            }
            Op::Flush => dev.flush().map_err(|e| TestCaseError::fail(format!("flush: {e}")))?,
            Op::Step(n) => {
                for _ in 0..*n {
                    reg.step_background("r").unwrap();
                }
            }
            Op::Fail(i) => {
                l[*i].fault.fail_writes(true);
                l[*i].fault.fail_reads(true);
            }
            Op::Return(i) => {
                l[*i].fault.fail_writes(false);
                l[*i].fault.fail_reads(false);
                reg.load("r", &table(&t), false).unwrap();
                reg.resume("r").map_err(|e| TestCaseError::fail(format!("reload: {e}")))?;
            }
            Op::Suspend => {
                reg.suspend("r").unwrap();
                reg.resume("r").unwrap();
            }
            Op::Check | Op::Repair => {
                let _ = reg.message("r", 0, &[if matches!(op, Op::Check) { "check" } else { "repair" }]);
            }
        }
    }
    for leg in &l {
        leg.fault.fail_writes(false);
        leg.fault.fail_reads(false);
    }
    reg.load("r", &table(&t), false).unwrap();
    reg.resume("r").map_err(|e| TestCaseError::fail(format!("reload: {e}")))?;
    step_until_done(&reg, "r");
    let st = raid_status(&reg, "r");
    prop_assert!(
        st == format!("raid1 3 AAA {SECTORS}/{SECTORS} idle 0 0 -") || st.contains("AAA") && st.contains(" idle "),
        "{st}"
    );
    prop_assert!(contents(&*dev) == model, "the set reads the model");
    for (i, leg) in l.iter().enumerate() {
        prop_assert!(contents(&*leg.data) == model, "leg {i} holds the model after sync");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prop_raid_matches_model_new_set(ops in prop::collection::vec(op(), 1..50)) {
        model_run(&ops, false)?;
    }

    #[test]
    fn prop_raid_matches_model_nosync(ops in prop::collection::vec(op(), 1..50)) {
        model_run(&ops, true)?;
    }
}

// ----- crash replay -----

/// Regions a set's metadata images say may differ: set bits on any
/// in-sync leg, and everything from the array resync offset.
fn unsafe_regions(metas: &[&[u8]]) -> Vec<bool> {
    let mut out = vec![false; REGIONS as usize];
    let sbs: Vec<Superblock> = metas
        .iter()
        .filter_map(|m| match Superblock::decode(&m[..512]).unwrap() {
            SbState::Valid(sb) => Some(sb),
            SbState::New => None,
        })
        .collect();
    let Some(fresh) = sbs.iter().max_by_key(|s| s.events) else { return vec![true; REGIONS as usize] };
    if let Some(at) = fresh.array_resync_offset {
        for r in at.0 / REGION..REGIONS {
            out[r as usize] = true;
        }
    }
    for m in metas {
        if let Ok((_, bits)) = decode_bitmap(&m[4096..4096 + 512]) {
            for r in bits.iter_set() {
                out[r as usize] = true;
            }
        }
    }
    out
}

#[test]
fn test_raid_crash_at_every_point_keeps_flushed_writes_and_legs_agree_after_resync() {
    let leg0 = stamped(BYTES, 7, 0);
    let mut leg1 = leg0.clone();
    leg1[20 * 4096..24 * 4096].fill(0xee); // differs until the initial resync
    let zero_meta = vec![0u8; (META_SECTORS * 512) as usize];
    let initial = [zero_meta.clone(), leg0.clone(), zero_meta, leg1];
    let log = Log::default();
    let devs: Vec<Arc<LogDevice>> =
        initial.iter().enumerate().map(|(i, b)| Arc::new(LogDevice::new(i, b.clone(), log.clone()))).collect();
    let names = ["m0", "d0", "m1", "d1"];
    let reg = registry();
    for (i, name) in names.iter().enumerate() {
        reg.add_device(name, devs[i].clone() as DeviceRef);
    }
    let t = raid_table(2, "daemon_sleep 1");
    let dev = create(&reg, "r", &t);
    // Before the first superblocks are on both devices the set was never
    // activated: a crash there leaves one new device, which the kernel
    // (and ulvm) only take with `rebuild`.
    let activated = log.len();
    // The model after each acknowledged write or flush, the log length
    // then, and whether it was a flush.
    let mut model = leg0;
    let mut states = vec![(model.clone(), 0, true)];
    // First while the initial resync runs, then in sync, where only the
    // bitmap says which regions may differ: bits set before data, cleared
    // by sweeps (daemon_sleep 1 ms) after the legs are flushed.
    for (i, seed) in (0..64u64).zip(100..) {
        if i == 16 {
            step_until_done(&reg, "r");
        }
        let at = (i * 37) % (SECTORS - 16);
        let data = stamped(8 * 512, seed, at);
        dev.write(Sectors(at), &data).unwrap();
        model[(at * 512) as usize..((at + 8) * 512) as usize].copy_from_slice(&data);
        states.push((model.clone(), log.len(), false));
        if i % 3 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
            reg.step_background("r").unwrap();
        }
        if i % 5 == 4 {
            dev.flush().unwrap();
            states.push((model.clone(), log.len(), true));
        }
    }
    step_until_done(&reg, "r");
    dev.flush().unwrap();
    states.push((model.clone(), log.len(), true));
    let ops = log.ops();
    let mut checked = 0;
    for prefix in 0..=ops.len() {
        let acked = states.iter().rposition(|s| s.2 && s.1 <= prefix).unwrap();
        for mode in [CrashMode::AllWritten, CrashMode::FlushedOnly, CrashMode::TornLast, CrashMode::Reordered] {
            let imgs = replay(&initial, &ops, prefix, mode);
            // A region the metadata calls clean has equal legs.
            let unsafe_ = unsafe_regions(&[&imgs[0], &imgs[2]]);
            for (r, u) in unsafe_.iter().enumerate() {
                let b = r * 4096..(r + 1) * 4096;
                assert!(
                    *u || imgs[1][b.clone()] == imgs[3][b.clone()],
                    "prefix {prefix} {mode:?}: region {r} is clean in the bitmap but the legs differ"
                );
            }
            let reg = registry();
            let mems: Vec<Arc<MemDevice>> = imgs
                .iter()
                .enumerate()
                .map(|(i, b)| Arc::new(MemDevice::from_bytes(format!("x{i}"), b.clone())))
                .collect();
            for (i, name) in names.iter().enumerate() {
                reg.add_device(name, as_dev(&mems[i]));
            }
            let dev = match reg.create("r", None, Some(&table(&t)), false) {
                Ok(_) => reg.device("r").unwrap(),
                Err(e) if prefix < activated && e.to_string().contains("New device injected") => continue,
                Err(e) => panic!("prefix {prefix} {mode:?}: {e}"),
            };
            let got = contents(&*dev);
            for blk in 0..(BYTES / 512) {
                let b = blk * 512..(blk + 1) * 512;
                assert!(
                    states[acked..].iter().any(|(m, _, _)| m[b.clone()] == got[b.clone()]),
                    "prefix {prefix} {mode:?}: sector {blk} lost a flushed write"
                );
            }
            step_until_done(&reg, "r");
            assert_eq!(contents(&*mems[1]), contents(&*mems[3]), "prefix {prefix} {mode:?}: legs differ after resync");
            assert_eq!(contents(&*dev), got, "prefix {prefix} {mode:?}: resync changed what the set reads");
            checked += 1;
        }
    }
    assert!(checked > 400, "only {checked} crash points");
}
