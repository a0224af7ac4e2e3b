//! A pvmove (with and without `--atomic`) survives a crash at any point.
//! The move of one PV that holds four LVs and a snapshot's COW (five
//! pvmove segments: three linear LVs, one stripe of a striped LV, the COW
//! of a snapshot of the first LV; a fifth LV stays on another PV) runs over write-logging PVs, with a user's writes (each followed
//! by a flush) interleaved with the copy, the checkpoint commits and the
//! finish. Then, for every prefix of the log with every write landed, and
//! for every prefix at a commit boundary (a metadata write or a flush:
//! every distinct state) with only flushed writes landed, the PVs are
//! rebuilt and:
//! - the VG reads;
//! - every LV reads the data of the model: a user write whose flush
//!   returned before the crash is there, one in flight may be, the rest
//!   is the data from before the move; the snapshot reads the first LV's
//!   data from before the move;
//! - activating the VG and polling its jobs finishes the move (or the
//!   orphan a finish left), after which nothing is on the source PV and
//!   every LV reads what it read before the resume.
//!
//! The device host is the daemon's registry in-process, with background
//! work stepped by the test (one mirror region per step), so the run and
//! its log are deterministic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, MemDevice, Sectors};
use ulvm_daemon::handler::Ctx;
use ulvm_daemon::lvm_host::RegistryHost;
use ulvm_dm::{Background, Registry, RegistryConfig};
use ulvm_lvm::activate::DmHost;
use ulvm_lvm::disk::DiskError;
use ulvm_lvm::model::SegmentKind;
use ulvm_lvm::ops::activation::{activate_vgs, Activation};
use ulvm_lvm::ops::common::SizeSpec;
use ulvm_lvm::ops::create::{lvcreate, LvCreate};
use ulvm_lvm::ops::jobs::{self, State};
use ulvm_lvm::ops::pvmove::{self, PvArg, PvMove};
use ulvm_lvm::ops::vg::{vgcreate, VgCreate};
use ulvm_lvm::ops::{Answer, Collect, Connect, Session};
use ulvm_lvm::size::Sign;
use ulvm_lvm::system::SystemDir;
use ulvm_lvm::{ExtentSize, Extents};
use ulvm_testkit::{replay, stamped, CrashMode, Log, LogDevice, Op};

const MIB: usize = 1 << 20;
/// PV size; with 1 MiB extents and the data area from 1 MiB, 15 extents.
const PV_BYTES: usize = 16 * MIB;
/// LVs: name, extents, stripes (over pv0 and pv1), PVs by index. A
/// segment over 2 MiB copies in more than one region (2 MiB each), so
/// user writes fall between the regions of one segment as well.
const LVS: [(&str, u64, usize, &[usize]); 5] =
    [("lv1", 4, 1, &[0]), ("lv2", 3, 1, &[0]), ("lv3", 2, 1, &[1]), ("lv4", 1, 1, &[0]), ("st", 4, 2, &[0, 1])];

/// The daemon's registry in-process over a set of devices known by path.
struct Host {
    reg: Arc<Registry>,
    ctx: Arc<Ctx>,
    devs: Vec<(PathBuf, DeviceRef)>,
}

impl Host {
    fn new(devs: Vec<(PathBuf, DeviceRef)>) -> Host {
        let reg = Arc::new(Registry::new(RegistryConfig { background: Background::Manual, ..Default::default() }));
        for (p, d) in &devs {
            reg.add_device(p.to_str().unwrap(), d.clone());
        }
        let ctx = Arc::new(Ctx::bare(reg.clone()));
        Host { reg, ctx, devs }
    }

    /// A session whose scans and device host both use the host's devices.
    fn session(&self, sd: &Path) -> Session {
        let ctx = self.ctx.clone();
        let connect: Connect = Box::new(move || Ok(Box::new(RegistryHost::new(ctx.clone())) as Box<dyn DmHost + Send>));
        let paths = self.devs.iter().map(|d| d.0.clone()).collect();
        let mut s = Session::new(
            SystemDir::new(sd),
            Some(paths),
            "pvmove",
            connect,
            Box::new(Collect::default()),
            Box::new(Answer(false)),
        );
        let devs = self.devs.clone();
        s.set_opener(Arc::new(move |p: &Path, _| {
            devs.iter().find(|d| d.0 == p).map(|d| d.1.clone()).ok_or_else(|| {
                DiskError::Io(ulvm_blockdev::Error::new(
                    ulvm_blockdev::ErrorKind::Io,
                    format!("{}: unknown", p.display()),
                ))
            })
        }));
        s
    }

    fn read_lv(&self, lv: &str) -> Vec<u8> {
        let d = self.reg.device(&format!("vg0-{lv}")).unwrap_or_else(|e| panic!("vg0-{lv}: {e}"));
        let mut b = vec![0u8; d.size().byte_len()];
        d.read(Sectors(0), &mut b).unwrap_or_else(|e| panic!("reading vg0-{lv}: {e}"));
        b
    }

    /// One step of the pvmove's copy (a mirror region), if it is active.
    fn step_copy(&self) {
        if let Ok(d) = self.reg.device("vg0-pvmove0") {
            d.step_background();
        }
    }

    /// Polls every job the activation found until it is done.
    fn run_jobs(&self, s: &mut Session, found: &[(String, String)], what: &str) {
        for (vg, lv) in found {
            let v = s.vg(vg, true).unwrap();
            let Some(mut job) = jobs::job_of(&v, lv) else { continue };
            for round in 0.. {
                assert!(round < 10_000, "{what}: the resumed move does not end");
                self.step_copy();
                match job.step(s).unwrap_or_else(|e| panic!("{what}: polling {lv}: {e}")) {
                    State::Running { .. } => {}
                    State::Done => {
                        job.finish(s).unwrap_or_else(|e| panic!("{what}: finishing {lv}: {e}"));
                        break;
                    }
                    State::Inactive => panic!("{what}: {lv} is not active after the activation"),
                }
            }
        }
    }
}

/// One user write: 4 KiB at `at` bytes of `lv`; how many operations the
/// move's log had when it was issued and when its flush returned.
struct UserWrite {
    lv: usize,
    at: usize,
    data: Vec<u8>,
    issued: usize,
    durable: usize,
}

/// What each LV holds before the move.
fn initial(i: usize) -> Vec<u8> {
    stamped(LVS[i].1 as usize * MIB, 100 + i as u64, 0)
}

/// Checks `got` (LV `i` read after a crash at `prefix`) against the model.
fn check_lv(what: &str, i: usize, got: &[u8], writes: &[UserWrite], prefix: usize) {
    let mut want = initial(i);
    let mut either = Vec::new();
    for w in writes.iter().filter(|w| w.lv == i) {
        if w.durable <= prefix {
            want[w.at..w.at + 4096].copy_from_slice(&w.data);
        } else if w.issued < prefix {
            either.push(w);
        }
    }
    for w in either {
        if got[w.at..w.at + 4096] == w.data[..] {
            want[w.at..w.at + 4096].copy_from_slice(&w.data);
        }
    }
    if let Some(b) = (0..got.len() / 4096).find(|b| got[b * 4096..(b + 1) * 4096] != want[b * 4096..(b + 1) * 4096]) {
        let acked = writes.iter().any(|w| w.lv == i && w.at == b * 4096 && w.durable <= prefix);
        panic!("{what}: {} block at byte {} differs (an acknowledged write there: {acked})", LVS[i].0, b * 4096);
    }
}

/// The PV keys an LV's segments use.
fn pvs_of(s: &mut Session, lv: &str) -> BTreeSet<String> {
    let vg = s.vg("vg0", true).unwrap();
    let mut out = BTreeSet::new();
    for seg in &vg.vg.lv(lv).unwrap().segments {
        if let SegmentKind::Striped { stripes, .. } = &seg.kind {
            out.extend(stripes.iter().map(|x| x.0.clone()));
        }
    }
    out
}

#[test]
fn test_every_crash_point_of_a_pvmove_under_writes_keeps_the_data_and_resumes() {
    crash_replay(false);
}

#[test]
fn test_every_crash_point_of_an_atomic_pvmove_under_writes_keeps_the_data_and_resumes() {
    crash_replay(true);
}

/// The move (`--atomic`: one mirror over two images, no checkpoint), its
/// log, and every crash point of it.
fn crash_replay(atomic: bool) {
    let dir = std::env::temp_dir().join(format!("ulvm-pvmove-crash-{}-{}", atomic as u8, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sd = dir.join("sys");
    // The VG, made over plain files.
    let paths: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("pv{i}.img"))).collect();
    for p in &paths {
        std::fs::File::create(p).unwrap().set_len(PV_BYTES as u64).unwrap();
    }
    {
        let files: Vec<(PathBuf, DeviceRef)> = paths
            .iter()
            .map(|p| (p.clone(), Arc::new(ulvm_blockdev::FileDevice::open(p, false).unwrap()) as DeviceRef))
            .collect();
        let mut s = Host::new(files).session(&sd);
        let mut c = VgCreate::new("vg0", paths.clone());
        c.extent_size = ExtentSize::new(Sectors(2048)).unwrap();
        vgcreate(&mut s, &c).unwrap();
        for (name, extents, stripes, on) in LVS {
            let mut c = LvCreate::new("vg0", SizeSpec::Extents { sign: Sign::None, n: Extents(extents) });
            c.name = Some(name.into());
            c.stripes = stripes;
            c.activate = false;
            c.zero = false;
            c.pvs = on.iter().map(|&i| paths[i].clone()).collect();
            lvcreate(&mut s, &c).unwrap();
        }
    }
    // The same PVs as write-logging devices; the LVs get their data.
    let log = Log::default();
    let logged: Vec<Arc<LogDevice>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| Arc::new(LogDevice::new(i, std::fs::read(p).unwrap(), log.clone())))
        .collect();
    let host = Host::new(paths.iter().cloned().zip(logged.iter().map(|d| d.clone() as DeviceRef)).collect());
    let mut s = host.session(&sd);
    activate_vgs(&mut s, &["vg0".into()], Activation::YES).unwrap();
    for (i, (lv, ..)) in LVS.iter().enumerate() {
        let d = host.reg.device(&format!("vg0-{lv}")).unwrap();
        d.write(Sectors(0), &initial(i)).unwrap();
        d.flush().unwrap();
    }
    // A snapshot of lv1 with its COW on the source too: the user's writes
    // to lv1 copy chunks out into a COW that is being moved.
    let mut c = LvCreate::new("vg0", SizeSpec::Extents { sign: Sign::None, n: Extents(3) });
    c.name = Some("snap".into());
    c.snapshot_of = Some("lv1".into());
    c.pvs = vec![paths[0].clone()];
    lvcreate(&mut s, &c).unwrap();
    let before: Vec<Vec<u8>> = logged.iter().map(|d| d.contents()).collect();
    let start = log.len();

    // The move, with a user write (and its flush) before each step.
    let mut writes: Vec<UserWrite> = Vec::new();
    let mut user_write = |n: usize| {
        let lv = n % LVS.len();
        let at = (n / LVS.len()) * 4096 * 7 % (LVS[lv].1 as usize * MIB);
        assert!(!writes.iter().any(|w| w.lv == lv && w.at == at), "one write per block");
        let data = stamped(4096, 900 + n as u64, 0);
        let d = host.reg.device(&format!("vg0-{}", LVS[lv].0)).unwrap();
        let issued = log.len() - start;
        d.write(ulvm_blockdev::Bytes(at as u64).sectors_floor(), &data).unwrap();
        d.flush().unwrap();
        writes.push(UserWrite { lv, at, data, issued, durable: log.len() - start });
    };
    let mut n = 0;
    user_write(n);
    n += 1;
    let src = PvArg { path: paths[0].clone(), ranges: vec![] };
    let dst = PvArg { path: paths[2].clone(), ranges: vec![] };
    pvmove::pvmove(&mut s, &PvMove { source: Some(src), dests: vec![dst], atomic, ..Default::default() }).unwrap();
    let vg = s.vg("vg0", true).unwrap();
    let segments = if atomic { 1 } else { 5 };
    assert_eq!(vg.vg.lv("pvmove0").unwrap().segments.len(), segments, "segments to move");
    let mut job = jobs::job_of(&vg, "pvmove0").unwrap();
    loop {
        for _ in 0..2 {
            user_write(n);
            n += 1;
        }
        host.step_copy();
        if job.step(&mut s).unwrap() == State::Done {
            job.finish(&mut s).unwrap();
            break;
        }
    }
    user_write(n);
    assert!(pvs_of(&mut s, "lv1").iter().all(|k| k == "pv2"), "the move itself worked");
    drop(s);
    let ops = log.ops()[start..].to_vec();

    // The crash points. With every write landed, each prefix is its own
    // state: all of them. With only flushed writes landed, the state moves
    // only at a flush (a device's unflushed writes are lost whatever
    // follows them): the commit boundaries (flushes, metadata writes) are
    // every distinct state.
    let is_boundary = |p: usize| {
        p == 0
            || p == ops.len()
            || matches!(&ops[p - 1], Op::Flush { .. })
            || matches!(&ops[p - 1], Op::Write { at, .. } if *at < Sectors(2048))
    };
    let boundaries: Vec<usize> = (0..=ops.len()).filter(|&p| is_boundary(p)).collect();
    let every: Vec<usize> = (0..=ops.len()).collect();
    eprintln!("{} logged operations, {} user writes, {} commit boundaries", ops.len(), writes.len(), boundaries.len());
    for (mode, prefixes) in [(CrashMode::FlushedOnly, &boundaries), (CrashMode::AllWritten, &every)] {
        for &p in prefixes {
            let what = format!("atomic {atomic}: {mode:?} crash after {p} of {} operations", ops.len());
            let imgs = replay(&before, &ops, p, mode);
            let devs: Vec<(PathBuf, DeviceRef)> = paths
                .iter()
                .zip(imgs)
                .enumerate()
                .map(|(i, (path, img))| {
                    (path.clone(), Arc::new(MemDevice::from_bytes(format!("pv{i}"), img)) as DeviceRef)
                })
                .collect();
            let h = Host::new(devs);
            let mut s = h.session(&sd);
            let (_, vgs) = s.scan(true).unwrap();
            assert!(vgs.contains_key("vg0"), "{what}: the VG does not read");
            let moving = vgs["vg0"].vg.lvs.iter().any(|l| l.is_pvmove());
            let r = activate_vgs(&mut s, &["vg0".into()], Activation::YES).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.status, 0, "{what}: the activation failed");
            let got: Vec<Vec<u8>> = LVS.iter().map(|l| h.read_lv(l.0)).collect();
            for (i, g) in got.iter().enumerate() {
                check_lv(&what, i, g, &writes, p);
            }
            assert!(h.read_lv("snap") == initial(0), "{what}: the snapshot of lv1 changed");
            h.run_jobs(&mut s, &r.jobs, &what);
            let vg = s.vg("vg0", true).unwrap();
            assert!(!vg.vg.lvs.iter().any(|l| l.is_pvmove()), "{what}: a move is left");
            let names = LVS.iter().map(|l| l.0).chain(["snap"]);
            let on_src: Vec<&str> = names.filter(|lv| pvs_of(&mut s, lv).contains("pv0")).collect();
            if moving {
                assert!(on_src.is_empty(), "{what}: the resumed move left {on_src:?} on the source");
            } else {
                // Before the setup or after the finish: all or nothing.
                assert!(on_src.is_empty() || on_src.len() == 5, "{what}: a partial move: {on_src:?} on the source");
            }
            assert!(h.read_lv("snap") == initial(0), "{what}: the snapshot of lv1 changed in the resumed move");
            for (i, g) in got.iter().enumerate() {
                assert!(h.read_lv(LVS[i].0) == *g, "{what}: {} changed during the resumed move", LVS[i].0);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
