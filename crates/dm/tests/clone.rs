//! The clone target through the registry: status and table lines as the
//! kernel prints them (oracle demo 3), hydration by writes, by discards and
//! in the background, messages, bad tables, and a model of "the source,
//! overlaid by writes" that every read and the final destination must match.

mod common;
use common::*;
use proptest::prelude::*;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, MemDevice, Sectors, Writeback};
use ulvm_dm::target::Step;
use ulvm_testkit::stamped;

const SECTORS: u64 = 131_072; // 64 MiB
const REGION: u64 = 64; // 32 KiB

struct Clone {
    reg: ulvm_dm::Registry,
    src: Arc<MemDevice>,
    dst: Arc<MemDevice>,
    meta: Arc<MemDevice>,
}

fn setup(sectors: u64, table_rest: &str) -> Clone {
    let reg = registry();
    let src = Arc::new(MemDevice::from_bytes("src", stamped((sectors * 512) as usize, 7, 0)));
    let dst = mem("dst", sectors);
    let meta = mem("meta", 8192); // 4 MiB
    reg.add_device("src", as_dev(&src));
    reg.add_device("dst", as_dev(&dst));
    reg.add_device("meta", as_dev(&meta));
    create(&reg, "cl", &format!("0 {sectors} clone meta dst src {table_rest}"));
    Clone { reg, src, dst, meta }
}

fn step_until_done(reg: &ulvm_dm::Registry, name: &str) {
    let dev = reg.device(name).unwrap();
    for _ in 0..1_000_000 {
        let t = dev.live_table().unwrap();
        match t.entries[0].target.background_step() {
            Some(Step::Progress) => continue,
            Some(Step::Done) => return,
            other => panic!("background step: {other:?}"),
        }
    }
    panic!("hydration did not finish");
}

#[test]
fn test_status_and_table_lines_follow_the_kernel_demo() {
    let c = setup(SECTORS, &format!("{REGION} 1 no_hydration"));
    // Devices as numbers, then the arguments from the region size on, verbatim.
    let t = table_of(&c.reg, "cl");
    let w: Vec<&str> = t.split(' ').collect();
    assert_eq!(&w[..3], ["0", "131072", "clone"], "{t}");
    assert!(w[3..6].iter().all(|d| d.contains(':')), "{t}");
    assert_eq!(&w[6..], ["64", "1", "no_hydration"], "{t}");
    assert_eq!(
        status(&c.reg, "cl"),
        format!(
            "0 {SECTORS} clone 8 6/1024 64 0/2048 0 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw"
        )
    );
    let cl = c.reg.device("cl").unwrap();
    // A small write into region 10 hydrates it (copy + write); a whole
    // region write into region 20 does not copy.
    cl.write(Sectors(10 * REGION), &labelled("WRITTEN TO CLONE", 512)).unwrap();
    cl.write(Sectors(20 * REGION), &vec![0u8; 32768]).unwrap();
    cl.flush().unwrap();
    assert_eq!(
        status(&c.reg, "cl"),
        format!(
            "0 {SECTORS} clone 8 6/1024 64 2/2048 0 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw"
        )
    );
    let src = c.src.snapshot_bytes();
    let r10 = 10 * 32768;
    assert_eq!(read(&*cl, r10 as u64, 512), labelled("WRITTEN TO CLONE", 512));
    assert_eq!(
        read(&*cl, r10 as u64 + 512, 32768 - 512),
        src[r10 + 512..r10 + 32768].to_vec(),
        "rest of region 10 copied"
    );
    assert_eq!(
        read(&*cl, 30 * 32768, 4096),
        src[30 * 32768..30 * 32768 + 4096].to_vec(),
        "unhydrated reads come from the source"
    );
    c.reg.message("cl", 0, &["hydration_batch_size", "4"]).unwrap();
    c.reg.message("cl", 0, &["enable_hydration"]).unwrap();
    let ev = c.reg.info("cl").unwrap().event_nr;
    step_until_done(&c.reg, "cl");
    assert!(c.reg.info("cl").unwrap().event_nr > ev, "an event when hydration completes");
    assert_eq!(
        status(&c.reg, "cl"),
        format!("0 {SECTORS} clone 8 6/1024 64 2048/2048 0 0 4 hydration_threshold 1 hydration_batch_size 4 rw")
    );
    let mut want = src.clone();
    want[r10..r10 + 512].copy_from_slice(&labelled("WRITTEN TO CLONE", 512));
    want[20 * 32768..21 * 32768].fill(0);
    assert!(c.dst.snapshot_bytes() == want, "the destination is the source overlaid by the writes");
    // Done: the device can become a plain linear device on the destination.
    c.reg.load("cl", &table(&format!("0 {SECTORS} linear dst 0")), false).unwrap();
    c.reg.suspend("cl").unwrap();
    c.reg.resume("cl").unwrap();
    assert!(read(&*c.reg.device("cl").unwrap(), 0, 32768 * 64) == want[..32768 * 64]);
    let _ = &c.meta;
}

#[test]
fn test_discards_mark_regions_and_messages_are_checked() {
    let c = setup(SECTORS, &format!("{REGION} 2 no_hydration no_discard_passdown"));
    let cl = c.reg.device("cl").unwrap();
    // Covers region 3 fully and regions 2 and 4 partly: only 3 counts.
    cl.discard(Sectors(2 * REGION + 1), Sectors(2 * REGION)).unwrap();
    assert!(
        status(&c.reg, "cl").contains(" 1/2048 0 2 no_hydration no_discard_passdown 4 "),
        "{}",
        status(&c.reg, "cl")
    );
    assert!(c.reg.message("cl", 0, &["bogus"]).is_err());
    assert!(c.reg.message("cl", 0, &["hydration_threshold"]).is_err());
    c.reg.message("cl", 0, &["HYDRATION_THRESHOLD", "4"]).unwrap();
    assert!(status(&c.reg, "cl").contains("hydration_threshold 4 hydration_batch_size 1 rw"));
}

#[test]
fn test_bad_clone_tables_are_refused_and_leave_nothing() {
    let reg = registry();
    reg.add_device("src", as_dev(&mem("src", 1024)));
    reg.add_device("dst", as_dev(&mem("dst", 2048)));
    reg.add_device("small", as_dev(&mem("small", 512)));
    reg.add_device("meta", as_dev(&mem("meta", 64)));
    reg.add_device("tiny", as_dev(&mem("tiny", 8)));
    for (t, why) in [
        ("0 1024 clone meta dst src 12", "power of two"),
        ("0 1024 clone meta dst src 4", "power of two"),
        ("0 1024 clone meta dst src 8 1 bogus", "Invalid feature"),
        ("0 1024 clone meta dst src 8 0 3 hydration_threshold 1 x", "core arguments"),
        ("0 1024 clone meta dst small 8", "Source device"),
        ("0 1024 clone meta small src 8", "Destination device"),
        ("0 1024 clone tiny dst src 8", "too small"),
        ("0 1024 clone meta dst", "number of arguments"),
    ] {
        let e = match t.parse::<ulvm_dm::Table>() {
            Err(e) => e.to_string(),
            Ok(table) => match reg.create("cl", None, Some(&table), false) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{t} was accepted"),
            },
        };
        assert!(e.contains(why), "{t}: {e}");
        assert!(reg.device("cl").is_err(), "{t}: a refused table leaves no device");
    }
}

/// Bad table lines fail to parse at all.
#[test]
fn test_table_syntax_errors() {
    for t in ["0 1024 clone m d s 12", "0 1024 clone m d s 8 1 bogus", "0 1024 clone m d s 8 0 1 x", "0 1024 clone m d"]
    {
        assert!(t.parse::<ulvm_dm::TableLine>().is_err(), "{t}");
    }
    let l: ulvm_dm::TableLine = "0 1024 clone m d s 8 1 NO_HYDRATION 2 hydration_batch_size 0".parse().unwrap();
    assert_eq!(l.to_string(), "0 1024 clone m d s 8 1 NO_HYDRATION 2 hydration_batch_size 0");
}

/// A device that counts what background hydration does to it: reads in
/// flight (each slowed down, so copies overlap), the longest read, and the
/// write-back hints it gets.
#[derive(Debug)]
struct Probe {
    inner: Arc<MemDevice>,
    inflight: std::sync::atomic::AtomicU64,
    max_inflight: std::sync::atomic::AtomicU64,
    max_read: std::sync::atomic::AtomicU64,
    hints: std::sync::Mutex<Vec<(u64, u64, Writeback)>>,
}

impl Probe {
    fn new(inner: Arc<MemDevice>) -> Arc<Probe> {
        Arc::new(Probe {
            inner,
            inflight: Default::default(),
            max_inflight: Default::default(),
            max_read: Default::default(),
            hints: Default::default(),
        })
    }
}

impl BlockDevice for Probe {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> ulvm_blockdev::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = buf.len() as u64 / 512;
        let now = self.inflight.fetch_add(n, SeqCst) + n;
        self.max_inflight.fetch_max(now, SeqCst);
        self.max_read.fetch_max(n, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let r = self.inner.read(at, buf);
        self.inflight.fetch_sub(n, SeqCst);
        r
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> ulvm_blockdev::Result<()> {
        self.inner.write(at, buf)
    }
    fn flush(&self) -> ulvm_blockdev::Result<()> {
        self.inner.flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> ulvm_blockdev::Result<()> {
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> ulvm_blockdev::Result<()> {
        self.inner.write_zeroes(at, len)
    }
    fn writeback(&self, at: Sectors, len: Sectors, how: Writeback) -> ulvm_blockdev::Result<()> {
        self.hints.lock().unwrap().push((at.0, len.0, how));
        Ok(())
    }
}

/// A registry with a stamped source `src` and a destination `dst` of `n`
/// sectors, both probed, and a metadata device `meta`; and the source's
/// bytes.
fn probed_sources(n: u64, seed: u64) -> (ulvm_dm::Registry, Arc<Probe>, Arc<Probe>, Vec<u8>) {
    let reg = registry();
    let src_bytes = stamped((n * 512) as usize, seed, 0);
    let src = Probe::new(Arc::new(MemDevice::from_bytes("src", src_bytes.clone())));
    let dst = Probe::new(mem("dst", n));
    reg.add_device("src", src.clone());
    reg.add_device("dst", dst.clone());
    reg.add_device("meta", as_dev(&mem("meta", 8192)));
    (reg, src, dst, src_bytes)
}

/// `hydration_threshold` bounds the regions being copied at once and
/// `hydration_batch_size` the regions per copy, as in the kernel; copies
/// run side by side up to that bound; every copy's write-back is started
/// at once and finished a bounded window later.
#[test]
fn test_threshold_bounds_regions_in_flight_and_writeback_trails_the_copies() {
    const N: u64 = 65_536; // 32 MiB: 1024 regions of 64 sectors
    let (reg, src, dst, src_bytes) = probed_sources(N, 11);
    create(&reg, "cl", &format!("0 {N} clone meta dst src 64 0 4 hydration_threshold 12 hydration_batch_size 4"));
    step_until_done(&reg, "cl");
    assert!(status(&reg, "cl").contains(" 1024/1024 0 0 4 hydration_threshold 12 "), "{}", status(&reg, "cl"));
    assert!(dst.inner.snapshot_bytes() == src_bytes, "the destination is the source");

    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(src.max_read.load(SeqCst), 4 * 64, "copies are batches of 4 regions");
    let peak = src.max_inflight.load(SeqCst);
    assert!(peak <= 12 * 64, "at most 12 regions in flight, saw {} sectors", peak);
    assert!(peak > 4 * 64, "copies overlap (three workers), saw {} sectors at most", peak);

    // Every background copy started its write-back; the oldest ones were
    // waited for once more than the window had been written after them.
    let hints = dst.hints.lock().unwrap().clone();
    let started: Vec<(u64, u64)> = hints.iter().filter(|h| h.2 == Writeback::Start).map(|&(a, n, _)| (a, n)).collect();
    let finished: Vec<(u64, u64)> =
        hints.iter().filter(|h| h.2 == Writeback::Finish).map(|&(a, n, _)| (a, n)).collect();
    assert_eq!(started.iter().map(|h| h.1).sum::<u64>(), N, "write-back started for every copied sector");
    let window = (16 << 20) / 512;
    let done: u64 = finished.iter().map(|h| h.1).sum();
    assert!(done >= N - window && done < N, "finished {done} of {N} sectors, the last window left to the flush");
    for (i, f) in hints.iter().enumerate().filter(|(_, h)| h.2 == Writeback::Finish) {
        assert!(
            hints[..i].iter().any(|h| h.2 == Writeback::Start && (h.0, h.1) == (f.0, f.1)),
            "finished {f:?} before starting it"
        );
    }
}

/// While users are active, hydration copies one piece at a time (256 KiB
/// at most) and settles each copy's write-back before its rest: written
/// back and waited for, and kept cached for the users' reads, never
/// dropped.
#[test]
fn test_hydration_while_users_are_active_settles_each_small_copy() {
    const N: u64 = 8192; // 4 MiB: 64 regions of 64 sectors
    let (reg, src, dst, src_bytes) = probed_sources(N, 13);
    let cl =
        create(&reg, "cl", &format!("0 {N} clone meta dst src 64 0 4 hydration_threshold 64 hydration_batch_size 16"));
    let user = cl.throttle().user();
    step_until_done(&reg, "cl");
    drop(user);
    assert!(dst.inner.snapshot_bytes() == src_bytes, "the destination is the source");

    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(src.max_read.load(SeqCst), 512, "pieces of 256 KiB, not the batch of 16 regions");
    assert_eq!(src.max_inflight.load(SeqCst), 512, "one copy in flight");
    let hints = dst.hints.lock().unwrap().clone();
    assert!(hints.iter().all(|h| h.2 == Writeback::Settle), "only settled copies: {hints:?}");
    assert_eq!(hints.iter().map(|h| h.1).sum::<u64>(), N, "every copied sector settled");
}

/// A clone whose destination is itself a dm device (an LVM clone's
/// `-dest` layer) passes the write-back hints through the linear mapping.
#[test]
fn test_writeback_hints_pass_through_a_linear_destination() {
    const N: u64 = 65_536;
    let reg = registry();
    let src = Arc::new(MemDevice::from_bytes("src", stamped((N * 512) as usize, 12, 0)));
    let pv = Probe::new(mem("pv", N + 1000));
    reg.add_device("src", as_dev(&src));
    reg.add_device("pv", pv.clone());
    reg.add_device("meta", as_dev(&mem("meta", 8192)));
    create(&reg, "dest", &format!("0 {N} linear pv 1000"));
    create(&reg, "cl", &format!("0 {N} clone meta dest src 64 0 4 hydration_threshold 64 hydration_batch_size 16"));
    step_until_done(&reg, "cl");
    let hints = pv.hints.lock().unwrap().clone();
    let started: u64 = hints.iter().filter(|h| h.2 == Writeback::Start).map(|h| h.1).sum();
    assert_eq!(started, N, "every copied sector's write-back started on the PV");
    assert!(hints.iter().all(|h| h.0 >= 1000 && h.0 + h.1 <= N + 1000), "hints are at the PV's offsets: {hints:?}");
    assert!(hints.iter().any(|h| h.2 == Writeback::Finish));
    assert!(pv.inner.snapshot_bytes()[1000 * 512..] == src.snapshot_bytes()[..]);
}

#[derive(Debug, Clone)]
enum Op {
    Read(u64, u64),
    Write(u64, u64, u8),
    Discard(u64, u64),
    Hydrate(u32),
    Message(u8),
    Flush,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    // A 64-region device of 8-sector regions; offsets in sectors.
    prop_oneof![
        (0u64..512, 1u64..40).prop_map(|(a, n)| Op::Read(a, n)),
        (0u64..512, 1u64..40, any::<u8>()).prop_map(|(a, n, v)| Op::Write(a, n, v)),
        (0u64..512, 1u64..40).prop_map(|(a, n)| Op::Discard(a, n)),
        (1u32..20).prop_map(Op::Hydrate),
        (0u8..4).prop_map(Op::Message),
        Just(Op::Flush),
        Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn test_clone_matches_source_overlaid_by_writes(ops in prop::collection::vec(op(), 1..40)) {
        const N: u64 = 512; // sectors: 64 regions of 8
        let reg = registry();
        let src_bytes = stamped((N * 512) as usize, 3, 0);
        let src = Arc::new(MemDevice::from_bytes("src", src_bytes.clone()));
        let dst = mem("dst", N);
        let meta = mem("meta", 2048);
        reg.add_device("src", as_dev(&src));
        reg.add_device("dst", as_dev(&dst));
        reg.add_device("meta", as_dev(&meta));
        let table = format!("0 {N} clone meta dst src 8 1 no_hydration 2 hydration_batch_size 3");
        create(&reg, "cl", &table);
        // The model: what every sector reads as; None where a discard made it unspecified.
        let mut enabled = false;
        let mut model: Vec<Option<u8>> = Vec::new();
        let mut bytes = src_bytes.clone();
        model.resize(bytes.len(), None);
        for (i, b) in bytes.iter().enumerate() { model[i] = Some(*b); }
        for op in ops {
            let cl = reg.device("cl").unwrap();
            match op {
                Op::Read(a, n) => {
                    let n = n.min(N - a.min(N - 1)).max(1);
                    let a = a.min(N - n);
                    let got = read(&*cl, a * 512, (n * 512) as usize);
                    for (i, g) in got.iter().enumerate() {
                        if let Some(w) = model[(a * 512) as usize + i] {
                            prop_assert_eq!(*g, w, "byte {} of a read at sector {}", i, a);
                        }
                    }
                }
                Op::Write(a, n, v) => {
                    let n = n.min(N - a.min(N - 1)).max(1);
                    let a = a.min(N - n);
                    cl.write(Sectors(a), &vec![v; (n * 512) as usize]).unwrap();
                    model[(a * 512) as usize..((a + n) * 512) as usize].fill(Some(v));
                    bytes[(a * 512) as usize..((a + n) * 512) as usize].fill(v);
                }
                Op::Discard(a, n) => {
                    let n = n.min(N - a.min(N - 1)).max(1);
                    let a = a.min(N - n);
                    cl.discard(Sectors(a), Sectors(n)).unwrap();
                    // Fully covered regions now read from the destination: unspecified.
                    let (rs, re) = (a.div_ceil(8), if a + n >= N { 64 } else { (a + n) / 8 });
                    for r in rs..re { model[(r * 8 * 512) as usize..((r + 1) * 8 * 512) as usize].fill(None); }
                }
                Op::Hydrate(_) if !enabled => {}
                Op::Hydrate(steps) => {
                    let t = cl.live_table().unwrap();
                    for _ in 0..steps { if t.entries[0].target.background_step() != Some(Step::Progress) { break; } }
                }
                Op::Message(m) => {
                    let msg: &[&str] = match m { 0 => &["enable_hydration"], 1 => &["disable_hydration"], 2 => &["hydration_threshold", "2"], _ => &["hydration_batch_size", "1"] };
                    reg.message("cl", 0, msg).unwrap();
                    enabled = match m { 0 => true, 1 => false, _ => enabled };
                }
                Op::Flush => cl.flush().unwrap(),
                Op::Restart => {
                    // Deactivate (commits at suspend) and activate again from the metadata.
                    drop(cl);
                    reg.suspend("cl").unwrap();
                    reg.remove("cl").unwrap();
                    create(&reg, "cl", &table);
                    enabled = false;
                }
            }
        }
        reg.message("cl", 0, &["enable_hydration"]).unwrap();
        step_until_done(&reg, "cl");
        let out = dst.snapshot_bytes();
        for (i, m) in model.iter().enumerate() {
            if let Some(w) = m {
                prop_assert_eq!(out[i], *w, "destination byte {} after hydration", i);
            }
        }
        let _ = bytes;
    }
}
