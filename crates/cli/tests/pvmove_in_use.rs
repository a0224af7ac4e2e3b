//! pvmove of LVs that are in use, through the daemon: a snapshot origin
//! with an active snapshot, a snapshot's COW, a clone LV, a striped LV
//! (also with `--atomic`) and an LV with a mounted ext4 (FUSE + loop).
//! Each move runs under a writer; afterwards every acknowledged write
//! is there, the data the writer did not touch is the same, and nothing
//! is left on the source PV. The moves are paced with the daemon's
//! `--mirror-resync-throttle` so that the writers overlap them.

mod common;

use common::{have, is_root, mount, require, sh, wait_exists, Daemon, FsHost, Lvm, TestDir};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use ulvm_blockdev::BlockDevice;
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

const MIB: usize = 1 << 20;

/// 4 KiB random writes to one LV over NBD, recorded in a model of the
/// LV, until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<Vec<u8>>,
}

impl Writer {
    fn start(sock: PathBuf, dm: &str, model: Vec<u8>, seed: u64) -> Writer {
        let (stop, count) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (s, n, dm) = (stop.clone(), count.clone(), dm.to_string());
        let handle = std::thread::spawn(move || {
            let mut model = model;
            let c = NbdClient::connect_unix(&sock, &dm).unwrap();
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
            while !s.load(Ordering::Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let off = (rng % (model.len() as u64 / 4096)) as usize * 4096;
                let data = vec![(rng >> 32) as u8 | 1; 4096];
                c.write_at(off as u64, &data, false).unwrap_or_else(|e| panic!("{dm}: write at {off}: {e}"));
                model[off..off + 4096].copy_from_slice(&data);
                n.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            c.flush().unwrap();
            model
        });
        Writer { stop, count, handle }
    }

    fn writes(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Stops the writer; the LV's expected contents.
    fn finish(self) -> Vec<u8> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("writer")
    }
}

fn write_all(d: &Daemon, dm: &str, data: &[u8]) {
    let c = NbdClient::connect_unix(&d.nbd_socket(), dm).unwrap();
    for (k, piece) in data.chunks(4 * MIB).enumerate() {
        c.write_at((k * 4 * MIB) as u64, piece, false).unwrap();
    }
    c.flush().unwrap();
}

fn read_all(d: &Daemon, dm: &str, len: usize) -> Vec<u8> {
    let c = NbdClient::connect_unix(&d.nbd_socket(), dm).unwrap();
    let mut out = Vec::with_capacity(len);
    for k in 0..len.div_ceil(4 * MIB) {
        out.extend(c.read_at((k * 4 * MIB) as u64, (4 * MIB).min(len - k * 4 * MIB) as u32).unwrap());
    }
    out
}

/// Panics at the first 4 KiB block where `got` and `want` differ.
fn same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(b) = (0..got.len() / 4096).find(|b| got[b * 4096..(b + 1) * 4096] != want[b * 4096..(b + 1) * 4096]) {
        panic!("{what}: the 4 KiB block at byte {} differs after the move", b * 4096);
    }
}

/// A daemon whose mirrors copy at `throttle` percent, and a VG `vg0`
/// over `pvs` PV files of 128 MiB.
struct Bench {
    d: Option<Daemon>,
    t: TestDir,
    pvs: Vec<PathBuf>,
}

impl Bench {
    fn new(name: &str, pvs: usize, throttle: &str) -> Bench {
        let t = TestDir::new(name);
        let pvs: Vec<PathBuf> = (0..pvs).map(|i| t.image(&format!("pv{i}.img"), 128)).collect();
        let sys = t.path("sys");
        let d = Daemon::start(
            &t.path("run"),
            &["--system-dir", sys.to_str().unwrap(), "--mirror-resync-throttle", throttle],
        );
        let b = Bench { d: Some(d), t, pvs };
        let mut args = vec!["vgcreate", "vg0"];
        args.extend(b.pvs.iter().map(|p| p.to_str().unwrap()));
        b.lvm().ok(&args);
        b
    }
    fn d(&self) -> &Daemon {
        self.d.as_ref().expect("daemon")
    }
    fn lvm(&self) -> Lvm<'_> {
        Lvm { sys: self.t.path("sys"), run: &self.d().run_dir }
    }
    fn pv(&self, i: usize) -> &str {
        self.pvs[i].to_str().unwrap()
    }
    /// Runs `pvmove ARGS` in the foreground while `writers` write, checks
    /// that they wrote during the move, and that the source PV `src` (in
    /// `args`) is empty.
    fn pvmove(&self, src: &str, args: &[&str], writers: &[&Writer]) {
        let before: Vec<u64> = writers.iter().map(|w| w.writes()).collect();
        let mut a = vec!["pvmove", "-i", "0"];
        a.extend(args);
        self.lvm().ok(&a);
        for (w, n) in writers.iter().zip(before) {
            assert!(w.writes() > n, "a writer did not write during the move");
        }
        assert!(!self.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]).contains("pvmove"));
        let used = self.lvm().ok(&["pvs", "--noheadings", "--units", "m", "-o", "pv_used", src]);
        assert_eq!(used.trim(), "0m", "nothing is left on the source");
        self.lvm().ok(&["vgck", "vg0"]);
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(d) = self.d.take() {
            let _ = self.lvm_of(&d).cmd(&["vgchange", "-an", "vg0"]);
            d.stop();
        }
    }
}

impl Bench {
    fn lvm_of<'a>(&'a self, d: &'a Daemon) -> Lvm<'a> {
        Lvm { sys: self.t.path("sys"), run: &d.run_dir }
    }
}

#[test]
fn test_pvmove_of_a_snapshot_origin_keeps_the_snapshot_and_the_writes() {
    let b = Bench::new("pvmove-use-origin", 2, "30");
    b.lvm().ok(&["lvcreate", "-L", "48M", "-n", "base", "vg0", b.pv(0)]);
    let len = 48 * MIB;
    let old = stamped(len, 61, 0);
    write_all(b.d(), "vg0-base", &old);
    b.lvm().ok(&["lvcreate", "-s", "-L", "40M", "-n", "snap", "vg0/base", b.pv(0)]);
    let w = Writer::start(b.d().nbd_socket(), "vg0-base", old.clone(), 1);
    std::thread::sleep(std::time::Duration::from_millis(50));
    b.pvmove(b.pv(0), &[b.pv(0)], &[&w]);
    let model = w.finish();
    same("vg0/base", &read_all(b.d(), "vg0-base", len), &model);
    same("vg0/snap", &read_all(b.d(), "vg0-snap", len), &old);
    let attrs = b.lvm().ok(&["lvs", "--noheadings", "-o", "lv_name,lv_attr,devices", "vg0"]);
    assert!(attrs.contains(&format!("base owi-a-s--- {}(0)", b.pv(1))), "{attrs}");
}

#[test]
fn test_pvmove_of_a_snapshot_cow_keeps_the_snapshot_writable_and_whole() {
    let b = Bench::new("pvmove-use-cow", 3, "30");
    b.lvm().ok(&["lvcreate", "-L", "32M", "-n", "base", "vg0", b.pv(1)]);
    let len = 32 * MIB;
    let old = stamped(len, 62, 0);
    write_all(b.d(), "vg0-base", &old);
    // The COW alone is on the source.
    b.lvm().ok(&["lvcreate", "-s", "-L", "48M", "-n", "snap", "vg0/base", b.pv(0)]);
    let ws = Writer::start(b.d().nbd_socket(), "vg0-snap", old.clone(), 2);
    let wo = Writer::start(b.d().nbd_socket(), "vg0-base", old.clone(), 3);
    std::thread::sleep(std::time::Duration::from_millis(50));
    b.pvmove(b.pv(0), &[b.pv(0), b.pv(2)], &[&ws, &wo]);
    let (snap, base) = (ws.finish(), wo.finish());
    same("vg0/snap", &read_all(b.d(), "vg0-snap", len), &snap);
    same("vg0/base", &read_all(b.d(), "vg0-base", len), &base);
    // Once more after reactivation: the persistent COW on its new PV.
    b.lvm().ok(&["vgchange", "-an", "vg0"]);
    b.lvm().ok(&["vgchange", "-ay", "vg0"]);
    same("vg0/snap reactivated", &read_all(b.d(), "vg0-snap", len), &snap);
    let devs = b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,devices", "vg0/snap"]);
    assert!(devs.contains(b.pv(2)), "{devs}");
}

#[test]
fn test_pvmove_of_a_clone_lv_while_it_hydrates_keeps_source_and_writes() {
    let b = Bench::new("pvmove-use-clone", 2, "30");
    let len = 48 * MIB;
    let src = b.t.image("src.img", 48);
    let data = stamped(len, 63, 0);
    std::fs::write(&src, &data).unwrap();
    b.lvm().ok(&["lvcreate", "--type", "clone", "--source", src.to_str().unwrap(), "-n", "cl", "vg0", b.pv(0)]);
    let w = Writer::start(b.d().nbd_socket(), "vg0-cl", data.clone(), 4);
    std::thread::sleep(std::time::Duration::from_millis(50));
    // The metadata LV alone first (its pvmove0 comes up with the clone's
    // devices), then the rest.
    b.lvm().ok(&["pvmove", "-i", "0", "-n", "cl_clonemeta", b.pv(0), b.pv(1)]);
    let meta = b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "devices", "vg0/cl_clonemeta"]);
    assert!(meta.contains(b.pv(1)), "{meta}");
    b.pvmove(b.pv(0), &[b.pv(0)], &[&w]);
    let model = w.finish();
    same("vg0/cl", &read_all(b.d(), "vg0-cl", len), &model);
    common::wait_for("the clone to become a plain LV", || {
        b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name", "vg0"]) == "  cl  \n"
    });
    same("vg0/cl hydrated", &read_all(b.d(), "vg0-cl", len), &model);
    let devs = b.lvm().ok(&["lvs", "--noheadings", "-o", "devices", "vg0/cl"]);
    assert!(devs.contains(b.pv(1)), "{devs}");
}

#[test]
fn test_pvmove_of_one_stripe_of_a_striped_lv_keeps_the_writes() {
    for atomic in [false, true] {
        let b = Bench::new(if atomic { "pvmove-use-stripe-atomic" } else { "pvmove-use-stripe" }, 3, "30");
        b.lvm().ok(&["lvcreate", "-i", "2", "-I", "64K", "-L", "64M", "-n", "st", "vg0", b.pv(0), b.pv(1)]);
        let len = 64 * MIB;
        let old = stamped(len, 64, 0);
        write_all(b.d(), "vg0-st", &old);
        let w = Writer::start(b.d().nbd_socket(), "vg0-st", old, 5);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut args = vec![b.pv(0), b.pv(2)];
        if atomic {
            args.insert(0, "--atomic");
        }
        b.pvmove(b.pv(0), &args, &[&w]);
        let model = w.finish();
        same("vg0/st", &read_all(b.d(), "vg0-st", len), &model);
        let devs = b.lvm().ok(&["lvs", "--noheadings", "-o", "devices", "vg0/st"]);
        assert_eq!(devs.trim(), format!("{}(0),{}(0)", b.pv(2), b.pv(1)), "atomic {atomic}");
    }
}

#[test]
fn test_pvmove_of_an_lv_with_a_mounted_ext4_under_writes() {
    if !require(is_root(), "needs root for loop devices and mount")
        || !require(Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        || !require(have("fusermount3", "--version"), "fusermount3 (fuse3) is not installed")
        || !require(have("mkfs.ext4", "-V"), "e2fsprogs is not installed")
    {
        return;
    }
    let h = FsHost::new("pvmove-use-ext4");
    let pv2 = h.t.image("pv2.img", 512);
    h.lvm().ok(&["vgextend", &h.vg, pv2.to_str().unwrap()]);
    let dev = h.ext4_lv("fs", "96M");
    let mnt = h.t.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mount(&dev, &mnt, "rw");
    // A writer rewrites files with known contents and fsyncs each.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, count, dir) = (stop.clone(), count.clone(), mnt.clone());
        std::thread::spawn(move || {
            let mut files = std::collections::BTreeMap::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("f{}", i % 40);
                let data = stamped(256 << 10, 70 + i, 0);
                let mut f = std::fs::File::create(dir.join(&name)).unwrap();
                std::io::Write::write_all(&mut f, &data).unwrap();
                f.sync_all().unwrap();
                files.insert(name, data);
                count.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            files
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = count.load(Ordering::Relaxed);
    let pv1 = h.t.path("pv.img");
    h.lvm().ok(&["pvmove", "-i", "0", pv1.to_str().unwrap()]);
    assert!(count.load(Ordering::Relaxed) > before, "the writer did not write during the move");
    stop.store(true, Ordering::Relaxed);
    let files = writer.join().unwrap();
    for (name, data) in &files {
        assert!(std::fs::read(mnt.join(name)).unwrap() == *data, "{name} differs after the move");
    }
    drop(m);
    wait_exists(Path::new(&dev));
    sh("e2fsck", &["-f", "-n", &dev]);
    let devs = h.lvm().ok(&["lvs", "--noheadings", "-o", "devices", &format!("{}/fs", h.vg)]);
    assert!(devs.contains(pv2.to_str().unwrap()), "{devs}");
    // Remount: the files are there from the new PV.
    let m = mount(&dev, &mnt, "ro");
    for (name, data) in &files {
        assert!(std::fs::read(mnt.join(name)).unwrap() == *data, "{name} differs after remounting");
    }
    drop(m);
    h.lvm().ok(&["vgchange", "-an", &h.vg]);
}

/// `lvs -a` in the middle of an atomic move shows what LVM 2.03 shows in
/// the oracle for the same move held the same way (`dmsetup suspend`):
/// the images out of sync (`Iwi-aom---`), pvmove0 on both.
#[test]
fn test_pvmove_atomic_lists_its_images_as_lvm_does_while_moving() {
    let b = Bench::new("pvmove-use-atomic-lvs", 2, "1");
    b.lvm().ok(&["lvcreate", "-L", "40M", "-n", "lv1", "vg0", b.pv(0)]);
    b.lvm().ok(&["pvmove", "-b", "--atomic", b.pv(0)]);
    common::wait_for("a region in sync", || {
        let st = b.lvm().ok(&["dmsetup", "status", "vg0-pvmove0"]);
        st.split_whitespace().nth(6).is_some_and(|s| !s.starts_with("0/"))
    });
    b.lvm().ok(&["dmsetup", "suspend", "vg0-pvmove0"]);
    let out = b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,move_pv,devices", "vg0"]);
    let lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let (p0, p1) = (b.pv(0), b.pv(1));
    assert_eq!(
        lines,
        [
            "lv1 -wI-a----- pvmove0(0)".to_string(),
            format!("[pvmove0] p-C-som--- {p0} pvmove0_mimage_0(0),pvmove0_mimage_1(0)"),
            format!("[pvmove0_mimage_0] Iwi-aom--- {p0}(0)"),
            format!("[pvmove0_mimage_1] Iwi-aom--- {p1}(0)"),
        ]
    );
    b.lvm().ok(&["dmsetup", "resume", "vg0-pvmove0"]);
    common::wait_for("the move to end", || {
        !b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]).contains("pvmove")
    });
    let out = b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,devices", "vg0"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lv1", "-wi-a-----", &format!("{p1}(0)")]);
}

/// `pvmove --abort` of an atomic move half-way under a writer: all of it
/// stays on the source, with every write.
#[test]
fn test_pvmove_atomic_abort_half_way_keeps_everything_on_the_source() {
    let b = Bench::new("pvmove-use-atomic-abort", 2, "1");
    b.lvm().ok(&["lvcreate", "-L", "40M", "-n", "lv1", "vg0", b.pv(0)]);
    let len = 40 * MIB;
    let old = stamped(len, 66, 0);
    write_all(b.d(), "vg0-lv1", &old);
    let w = Writer::start(b.d().nbd_socket(), "vg0-lv1", old, 6);
    b.lvm().ok(&["pvmove", "-b", "--atomic", b.pv(0)]);
    common::wait_for("a region in sync", || {
        let st = b.lvm().ok(&["dmsetup", "status", "vg0-pvmove0"]);
        st.split_whitespace().nth(6).is_some_and(|s| !s.starts_with("0/"))
    });
    let before = w.writes();
    b.lvm().ok(&["pvmove", "--abort"]);
    assert!(w.writes() > before, "the writer did not write during the move");
    let model = w.finish();
    same("vg0/lv1", &read_all(b.d(), "vg0-lv1", len), &model);
    let out = b.lvm().ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,devices", "vg0"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lv1", "-wi-a-----", &format!("{}(0)", b.pv(0))]);
    b.lvm().ok(&["vgck", "vg0"]);
}
