//! The mirror target through the registry: table and status lines as the
//! kernel prints them, resync and its event, leg failures with fault
//! injection, a model of "what was acknowledged" that every read and the
//! legs after resync must match, and crash replay of a `disk` log.

mod common;
use common::*;
use proptest::prelude::*;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, MemDevice, Sectors};
use ulvm_dm::mirror::log::{disk_image_len, DirtyLog, MIRROR_MAGIC};
use ulvm_dm::target::Step;
use ulvm_dm::Registry;
use ulvm_dm_table::LogSync;
use ulvm_testkit::{replay, stamped, CrashMode, FaultDevice, Log, LogDevice};

const REGION: u64 = 8; // 4 KiB
const REGIONS: u64 = 32;
const SECTORS: u64 = REGION * REGIONS;
const BYTES: usize = (SECTORS * 512) as usize;

fn step_until_done(reg: &Registry, name: &str) -> usize {
    for n in 0..100_000 {
        match reg.step_background(name).unwrap() {
            Some(Step::Progress) => continue,
            Some(Step::Done) => return n,
            other => panic!("background step: {other:?}"),
        }
    }
    panic!("resync did not finish");
}

fn contents(d: &dyn BlockDevice) -> Vec<u8> {
    read(d, 0, (d.size().0 * 512) as usize)
}

#[test]
fn test_mirror_core_log_status_table_resync_and_event() {
    let reg = registry();
    let l0 = Arc::new(MemDevice::from_bytes("l0", stamped(BYTES + 4096, 1, 0)));
    let l1 = mem("l1", SECTORS + 8);
    let n0 = reg.add_device("l0", as_dev(&l0));
    let n1 = reg.add_device("l1", as_dev(&l1));
    let dev = create(&reg, "m", &format!("0 {SECTORS} mirror core 1 {REGION} 2 l0 8 l1 0"));
    assert_eq!(table_of(&reg, "m"), format!("0 {SECTORS} mirror core 1 {REGION} 2 {n0} 8 {n1} 0"));
    assert_eq!(status(&reg, "m"), format!("0 {SECTORS} mirror 2 {n0} {n1} 0/{REGIONS} 1 AA 1 core"));
    // Out of sync: reads and writes use leg 0 only.
    assert_eq!(read(&*dev, 0, 4096), stamped(BYTES + 4096, 1, 0)[4096..8192].to_vec());
    dev.write(Sectors(3), &[7u8; 512]).unwrap();
    assert_eq!(read(&*l1, 3 * 512, 512), vec![0u8; 512]);
    let ev = dev.events().current();
    let steps = step_until_done(&reg, "m");
    assert_eq!(steps, REGIONS as usize, "one region per step");
    assert_eq!(dev.events().current(), ev + 1, "the event for 'in sync'");
    assert_eq!(status(&reg, "m"), format!("0 {SECTORS} mirror 2 {n0} {n1} {REGIONS}/{REGIONS} 1 AA 1 core"));
    assert_eq!(read(&*l0, 8 * 512, BYTES), read(&*l1, 0, BYTES));
    // In sync: writes reach both legs.
    dev.write(Sectors(100), &[9u8; 1024]).unwrap();
    assert_eq!(read(&*l1, 100 * 512, 1024), vec![9u8; 1024]);
    assert_eq!(read(&*l0, 108 * 512, 1024), vec![9u8; 1024]);
    // No messages, as the kernel.
    assert!(reg.message("m", 0, &["resync"]).unwrap_err().to_string().contains("does not support messages"));
}

#[test]
fn test_mirror_nosync_is_in_sync_at_once_and_bad_tables_are_refused() {
    let reg = registry();
    reg.add_device("l0", as_dev(&mem("l0", SECTORS)));
    reg.add_device("l1", as_dev(&mem("l1", SECTORS - 1)));
    reg.add_device("l2", as_dev(&mem("l2", SECTORS)));
    let dev = create(&reg, "m", &format!("0 {SECTORS} mirror core 2 {REGION} nosync 2 l0 0 l2 0"));
    assert!(status(&reg, "m").contains(&format!(" {REGIONS}/{REGIONS} 1 AA 1 core")));
    let ev = dev.events().current();
    assert_eq!(step_until_done(&reg, "m"), 0);
    assert_eq!(dev.events().current(), ev + 1);
    let e = reg.create("n", None, Some(&table(&format!("0 {SECTORS} mirror core 1 {REGION} 2 l0 0 l1 0"))), false);
    assert!(e.unwrap_err().to_string().contains("too small for target"));
    reg.add_device("lg", as_dev(&mem("lg", 2)));
    let e = reg.create("n", None, Some(&table(&format!("0 {SECTORS} mirror disk 2 lg {REGION} 2 l0 0 l2 0"))), false);
    assert!(e.unwrap_err().to_string().contains("log device"), "a log needs 1024 bytes + the bitset");
}

#[test]
fn test_mirror_leg_write_failure_keeps_io_on_the_healthy_leg_with_event() {
    let reg = registry();
    let l0 = mem("l0", SECTORS);
    let l1 = Arc::new(FaultDevice::new(as_dev(&mem("l1", SECTORS))));
    let n0 = reg.add_device("l0", as_dev(&l0));
    let n1 = reg.add_device("l1", l1.clone() as DeviceRef);
    let dev = create(&reg, "m", &format!("0 {SECTORS} mirror core 2 {REGION} nosync 2 l0 0 l1 0 1 handle_errors"));
    step_until_done(&reg, "m");
    let ev = dev.events().current();
    l1.fail_writes(true);
    dev.write(Sectors(16), &[5u8; 4096]).expect("the write stands on leg 0");
    assert_eq!(status(&reg, "m"), format!("0 {SECTORS} mirror 2 {n0} {n1} {}/{REGIONS} 1 AD 1 core", REGIONS - 1));
    assert_eq!(dev.events().current(), ev + 1, "a leg failure raises an event");
    dev.write(Sectors(40), &[6u8; 512]).unwrap();
    assert_eq!(dev.events().current(), ev + 1, "once per kind of error");
    dev.flush().unwrap();
    assert_eq!(read(&*dev, 16 * 512, 4096), vec![5u8; 4096]);
    assert_eq!(read(&*l0, 40 * 512, 512), vec![6u8; 512]);
    // Leg 0's reads fail too: in-sync regions are read from leg 1; the
    // region the failed write left out of sync cannot be read.
    l1.fail_writes(false);
    let l0f = Arc::new(FaultDevice::new(as_dev(&l0)));
    let reg2 = registry();
    reg2.add_device("l0", l0f.clone() as DeviceRef);
    reg2.add_device("l1", l1.clone() as DeviceRef);
    let d2 = create(&reg2, "m", &format!("0 {SECTORS} mirror core 2 {REGION} nosync 2 l0 0 l1 0 1 handle_errors"));
    l0f.fail_reads(true);
    assert_eq!(read(&*d2, 0, 512), read(&*l1, 0, 512));
    assert!(status(&reg2, "m").contains(" 1 RA 1 core"), "{}", status(&reg2, "m"));
}

#[test]
fn test_mirror_leg_failure_without_handle_errors_records_but_raises_no_event() {
    let reg = registry();
    let l1 = Arc::new(FaultDevice::new(as_dev(&mem("l1", SECTORS))));
    reg.add_device("l0", as_dev(&mem("l0", SECTORS)));
    reg.add_device("l1", l1.clone() as DeviceRef);
    let dev = create(&reg, "m", &format!("0 {SECTORS} mirror core 2 {REGION} nosync 2 l0 0 l1 0"));
    step_until_done(&reg, "m");
    let ev = dev.events().current();
    l1.fail_writes(true);
    dev.write(Sectors(0), &[1u8; 512]).unwrap();
    assert!(status(&reg, "m").contains(" 1 AD 1 core"));
    assert_eq!(dev.events().current(), ev);
}

#[derive(Debug, Clone)]
enum Op {
    Write { at: u64, sectors: u64, seed: u64 },
    Read { at: u64, sectors: u64 },
    Flush,
    Resync(u8),
    FailLeg1,
    Suspend,
}

fn op() -> impl Strategy<Value = Op> {
    let span = (0..SECTORS).prop_flat_map(|at| (Just(at), 1..=(SECTORS - at).min(3 * REGION)));
    prop_oneof![
        4 => (span.clone(), any::<u64>()).prop_map(|((at, sectors), seed)| Op::Write { at, sectors, seed }),
        3 => span.prop_map(|(at, sectors)| Op::Read { at, sectors }),
        1 => Just(Op::Flush),
        3 => (1u8..8).prop_map(Op::Resync),
        1 => Just(Op::FailLeg1),
        1 => Just(Op::Suspend),
    ]
}

/// One run of the model test; the log is `core` or `disk`.
fn model_run(ops: &[Op], disk: bool, sync: &str) -> std::result::Result<(), TestCaseError> {
    let reg = registry();
    let init0 = stamped(BYTES, 11, 0);
    let l0 = Arc::new(MemDevice::from_bytes("l0", init0.clone()));
    // `nosync` promises equal legs; otherwise leg 1 starts different.
    let init1 = if sync == "nosync" { init0.clone() } else { vec![0; BYTES] };
    let l1 = Arc::new(FaultDevice::new(Arc::new(MemDevice::from_bytes("l1", init1))));
    reg.add_device("l0", as_dev(&l0));
    reg.add_device("l1", l1.clone() as DeviceRef);
    reg.add_device("lg", as_dev(&mem("lg", 8)));
    let log = if disk { format!("disk 2 lg {REGION}") } else { format!("core 1 {REGION}") };
    let log =
        if sync.is_empty() { log } else { log.replacen(" 1 ", " 2 ", 1).replacen(" 2 lg", " 3 lg", 1) + " " + sync };
    let dev = create(&reg, "m", &format!("0 {SECTORS} mirror {log} 2 l0 0 l1 0 1 handle_errors"));
    // What was acknowledged: leg 0's data at the start (the default leg is
    // the truth for regions out of sync), overlaid by every write.
    let mut model = init0;
    let mut leg1_failed = false;
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
            Op::Resync(n) => {
                for _ in 0..*n {
                    reg.step_background("m").unwrap();
                }
            }
            Op::FailLeg1 => {
                l1.fail_writes(true);
                leg1_failed = true;
            }
            Op::Suspend => {
                reg.suspend("m").unwrap();
                reg.resume("m").unwrap();
            }
        }
    }
    step_until_done(&reg, "m");
    let st = reg.status("m").unwrap()[0].status.clone();
    let m = st.mirror().unwrap();
    prop_assert!(contents(&*dev) == model, "the mirror reads the model");
    prop_assert!(contents(&*l0) == model, "leg 0 holds the model");
    if !leg1_failed {
        prop_assert!(m.is_synced(), "{st}");
        prop_assert!(contents(&*l1) == model, "leg 1 equals the model after resync");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn prop_mirror_matches_model_core_log(ops in prop::collection::vec(op(), 1..40)) {
        model_run(&ops, false, "")?;
    }

    #[test]
    fn prop_mirror_matches_model_disk_log(ops in prop::collection::vec(op(), 1..40), s in 0u8..3) {
        model_run(&ops, true, ["", "sync", "nosync"][s as usize])?;
    }
}

/// The clean regions a `disk` log image says are in sync at resume.
fn in_sync_per_log(img: &[u8]) -> Vec<bool> {
    let mut l = DirtyLog::disk(REGIONS, LogSync::Default, disk_image_len(REGIONS, 512));
    l.resume_disk(Some(img));
    (0..REGIONS).map(|r| l.in_sync(r)).collect()
}

#[test]
fn test_mirror_disk_log_crash_never_marks_differing_regions_in_sync_nor_loses_writes() {
    // Start: LVM's initial log with every bit set except regions 4..12,
    // where leg 1 still holds other data.
    let mut log_img = vec![0u8; 8 * 512];
    log_img[0..4].copy_from_slice(&MIRROR_MAGIC.to_le_bytes());
    log_img[4..8].copy_from_slice(&2u32.to_le_bytes());
    log_img[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    log_img[1024..1028].copy_from_slice(&0xffff_f00fu32.to_le_bytes());
    let leg0 = stamped(BYTES, 3, 0);
    let mut leg1 = leg0.clone();
    leg1[4 * 4096..12 * 4096].fill(0xee);
    let initial = [log_img, leg0.clone(), leg1];

    let log = Log::default();
    let devs: Vec<Arc<LogDevice>> =
        initial.iter().enumerate().map(|(i, b)| Arc::new(LogDevice::new(i, b.clone(), log.clone()))).collect();
    let reg = registry();
    for (i, name) in ["lg", "l0", "l1"].iter().enumerate() {
        reg.add_device(name, devs[i].clone() as DeviceRef);
    }
    let table = format!("0 {SECTORS} mirror disk 2 lg {REGION} 2 l0 0 l1 0");
    let dev = create(&reg, "m", &table);
    // The model after each acknowledged write or flush, the log length
    // then, and whether it was a flush.
    let mut model = leg0;
    let mut states = vec![(model.clone(), 0, true)];
    for (i, seed) in (0..40u64).zip(100..) {
        let at = (i * 37) % (SECTORS - 16);
        let data = stamped(8 * 512, seed, at);
        dev.write(Sectors(at), &data).unwrap();
        model[(at * 512) as usize..((at + 8) * 512) as usize].copy_from_slice(&data);
        states.push((model.clone(), log.len(), false));
        if i % 3 == 0 {
            reg.step_background("m").unwrap();
        }
        if i % 4 == 3 {
            dev.flush().unwrap();
            states.push((model.clone(), log.len(), true));
        }
    }
    step_until_done(&reg, "m");
    dev.flush().unwrap();
    states.push((model.clone(), log.len(), true));
    let ops = log.ops();
    let mut checked = 0;
    for prefix in 0..=ops.len() {
        // The last flush acknowledged before the crash: what it covered
        // must survive; later writes may or may not have landed.
        let acked = states.iter().rposition(|s| s.2 && s.1 <= prefix).unwrap();
        for mode in [CrashMode::AllWritten, CrashMode::FlushedOnly, CrashMode::TornLast, CrashMode::Reordered] {
            let imgs = replay(&initial, &ops, prefix, mode);
            let in_sync = in_sync_per_log(&imgs[0]);
            for (r, s) in in_sync.iter().enumerate() {
                let b = r * 4096..(r + 1) * 4096;
                assert!(
                    !s || imgs[1][b.clone()] == imgs[2][b.clone()],
                    "prefix {prefix} {mode:?}: region {r} marked in sync but the legs differ"
                );
            }
            // Re-activation: nothing flushed is lost; resync makes the legs equal.
            let reg = registry();
            let mems: Vec<Arc<MemDevice>> = imgs
                .iter()
                .enumerate()
                .map(|(i, b)| Arc::new(MemDevice::from_bytes(format!("d{i}"), b.clone())))
                .collect();
            for (i, name) in ["lg", "l0", "l1"].iter().enumerate() {
                reg.add_device(name, as_dev(&mems[i]));
            }
            let dev = create(&reg, "m", &table);
            let got = contents(&*dev);
            for blk in 0..(BYTES / 512) {
                let b = blk * 512..(blk + 1) * 512;
                assert!(
                    states[acked..].iter().any(|(m, _, _)| m[b.clone()] == got[b.clone()]),
                    "prefix {prefix} {mode:?}: sector {blk} lost a flushed write"
                );
            }
            step_until_done(&reg, "m");
            assert_eq!(contents(&*mems[1]), contents(&*mems[2]), "prefix {prefix} {mode:?}: legs differ after resync");
            checked += 1;
        }
    }
    assert!(checked > 400, "only {checked} crash points");
}
