//! device-mapper's `lock_fs` through ulvm, as root with real file systems:
//! a busy ext4's read-only snapshot mounts read-only and is clean (the
//! origin's file system is frozen while the snapshot is taken), `dmsetup
//! suspend` freezes and `--nolockfs` does not, a freeze that fails is one
//! error line and leaves nothing suspended or frozen, and a daemon killed
//! while a file system is frozen thaws it when it starts again. The kernel
//! sees the LVs as loop devices over the daemon's FUSE files. Skips with a
//! reason without root, FUSE or the tools; CI has them.

mod common;

use common::{have, is_root, mount, require, sh, wait_exists, Daemon, FsHost as Host};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

fn usable() -> bool {
    require(is_root(), "needs root for loop devices and mount")
        && require(Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        && require(have("fusermount3", "--version"), "fusermount3 (fuse3) is not installed")
        && require(have("mkfs.ext4", "-V"), "e2fsprogs is not installed")
        && require(have("fsfreeze", "--version"), "fsfreeze (util-linux) is not installed")
}

/// A process-like writer keeping a file system busy: numbered files, each
/// written to a temporary name, synced and renamed into place (so a clean
/// image holds every file whole), and an append-only log never synced (so
/// the journal and the page cache always have something in flight).
struct Writer {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn content(i: u64) -> Vec<u8> {
    format!("file {i:08}\n").into_bytes().repeat(1 + (i % 7) as usize * 300)
}

impl Writer {
    fn start(dir: &Path) -> Writer {
        let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (s, n, dir) = (stop.clone(), done.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("log")).unwrap();
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                let tmp = dir.join(format!(".f{i}.tmp"));
                let mut f = std::fs::File::create(&tmp).unwrap();
                f.write_all(&content(i)).unwrap();
                f.sync_all().unwrap();
                std::fs::rename(&tmp, dir.join(format!("f{i}"))).unwrap();
                log.write_all(format!("wrote f{i}\n").as_bytes()).unwrap();
                i += 1;
                n.store(i, Ordering::SeqCst);
            }
        });
        Writer { stop, done, thread: Some(thread) }
    }

    fn files_done(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.files_done()
    }
}

/// `fsfreeze -u` when dropped: a failing check leaves nothing frozen (a
/// frozen file system cannot be unmounted).
struct Unfreeze(std::path::PathBuf);

impl Drop for Unfreeze {
    fn drop(&mut self) {
        let _ = Command::new("fsfreeze").arg("-u").arg(&self.0).output();
    }
}

/// Starts writing a new file into `dir` on a thread; the receiver gets the
/// write's result when it returned. A frozen file system holds it.
fn write_in_background(dir: &Path, name: &str) -> mpsc::Receiver<std::io::Result<()>> {
    let (tx, rx) = mpsc::channel();
    let p = dir.join(name);
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::write(p, b"a write while suspended\n"));
    });
    rx
}

/// The busy volume's snapshot, as the seeds' backup does it:
/// `lvcreate -s -p r`, mount it read-only (no `noload`: it must be clean),
/// copy it out, remove it.
#[test]
fn test_read_only_snapshot_of_a_busy_ext4_mounts_clean() {
    if !usable() {
        return;
    }
    let h = Host::new("lockfs-backup");
    let dev = h.ext4_lv("home", "128M");
    let m = mount(&dev, &h.t.path("home"), "rw");
    let w = Writer::start(&m.0);
    common::wait_for("the writer's first files", || w.files_done() >= 20);
    let before = w.files_done();
    h.lvm().ok(&["lvcreate", "-s", "-p", "r", "-n", "home-snap", "-L", "64M", &format!("{}/home", h.vg)]);
    let snap = format!("/dev/{}/home-snap", h.vg);
    wait_exists(Path::new(&snap));
    let written = w.stop();
    assert!(written > before, "the writer made no progress across the snapshot");
    // The snapshot is a clean file system: no journal to replay.
    sh("e2fsck", &["-fn", &snap]);
    let s = mount(&snap, &h.t.path("snap"), "ro");
    // Copied out, it holds whole files f0..fK, K at least what was written
    // before lvcreate started and at most what was written at the end.
    let out = h.t.path("copy");
    sh("cp", &["-a", &format!("{}/.", s.0.display()), out.to_str().unwrap()]);
    sh("diff", &["-r", s.0.to_str().unwrap(), out.to_str().unwrap()]);
    let mut k = 0u64;
    while out.join(format!("f{k}")).exists() {
        assert_eq!(std::fs::read(out.join(format!("f{k}"))).unwrap(), content(k), "f{k} is not whole in the snapshot");
        k += 1;
    }
    assert!(k >= before && k <= written, "the snapshot holds f0..f{k}, written before: {before}, after: {written}");
    assert!(!out.join(format!("f{}", k + 1)).exists(), "a file is missing in the middle of the snapshot");
    drop(s);
    drop(m);
    // The origin is clean afterwards, and thawed: a write goes through.
    sh("e2fsck", &["-fn", &dev]);
    h.lvm().ok(&["lvremove", "-f", &format!("{}/home-snap", h.vg)]);
    let m = mount(&dev, &h.t.path("home"), "rw");
    std::fs::write(m.0.join("after"), b"after the backup\n").unwrap();
    drop(m);
    h.lvm().ok(&["vgchange", "-an", &h.vg]);
}

/// `dmsetup suspend` freezes the mounted file system (a write waits for
/// the resume); `--nolockfs` does not (a write into the page cache goes
/// through while the device is suspended); a freeze that fails is one
/// error line and suspends nothing; and `lvcreate -s` of an origin that
/// cannot be frozen makes no snapshot.
#[test]
fn test_dmsetup_suspend_locks_the_file_system_unless_told_not_to() {
    if !usable() {
        return;
    }
    let h = Host::new("lockfs-dmsetup");
    let dev = h.ext4_lv("data", "64M");
    let m = mount(&dev, &h.t.path("data"), "rw");
    let name = format!("{}-data", h.vg);
    sh("sync", &[]);

    h.daemon().ok(&["suspend", &name]);
    let rx = write_in_background(&m.0, "frozen");
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err(), "a write went through a frozen file system");
    h.daemon().ok(&["resume", &name]);
    rx.recv_timeout(Duration::from_secs(10)).expect("the write did not finish after the resume").unwrap();

    sh("sync", &[]);
    h.daemon().ok(&["suspend", "--nolockfs", &name]);
    let rx = write_in_background(&m.0, "not-frozen");
    let went = rx.recv_timeout(Duration::from_secs(5));
    h.daemon().ok(&["resume", &name]);
    went.expect("--nolockfs froze the file system").unwrap();

    // Someone else froze it: the suspend fails, in one line, and the
    // device is left running.
    sh("fsfreeze", &["-f", m.0.to_str().unwrap()]);
    let frozen = Unfreeze(m.0.clone());
    let e = h.daemon().fails(&["suspend", &name]);
    let lo = std::fs::read_link(format!("/dev/mapper/{name}")).unwrap();
    assert!(
        e.ends_with(&format!(
            "{name}: cannot freeze the file system on {} (mounted on {}): Device or resource busy",
            lo.display(),
            m.0.display()
        )),
        "{e}"
    );
    assert!(h.daemon().ok(&["info", &name]).contains("State:             ACTIVE"));
    let e = h.lvm().fails(5, &["lvcreate", "-s", "-n", "snap", "-L", "16M", &format!("{}/data", h.vg)]);
    assert!(e.contains("cannot freeze the file system"), "{e}");
    assert!(!h.lvm().ok(&["lvs", "--noheadings", "-o", "lv_name", &h.vg]).contains("snap"));
    assert!(h.daemon().ok(&["info", &name]).contains("State:             ACTIVE"));
    drop(frozen);
    std::fs::write(m.0.join("thawed"), b"thawed\n").unwrap();
    drop(m);
    h.lvm().ok(&["vgchange", "-an", &h.vg]);
}

/// A daemon killed while a file system is frozen: the next daemon on the
/// same run directory thaws it as it starts, and a writer held by the
/// freeze goes on.
#[test]
fn test_a_daemon_killed_while_frozen_thaws_on_restart() {
    if !usable() {
        return;
    }
    let mut h = Host::new("lockfs-crash");
    let dev = h.ext4_lv("data", "64M");
    let m = mount(&dev, &h.t.path("data"), "rw");
    let name = format!("{}-data", h.vg);
    let lo = std::fs::read_link(format!("/dev/mapper/{name}")).unwrap();
    sh("sync", &[]);
    h.daemon().ok(&["suspend", &name]);
    let rx = write_in_background(&m.0, "held");
    assert!(rx.recv_timeout(Duration::from_millis(1500)).is_err(), "a write went through a frozen file system");
    h.d.take().unwrap().crash();
    // The FUSE mount of the dead daemon is gone with it; the new daemon
    // needs only the run directory to find what to thaw.
    let fuse = h.t.path("devs");
    let _ = Command::new("fusermount3").args(["-u", "-z"]).arg(&fuse).output();
    let d = Daemon::start(&h.t.path("run"), &[]);
    let thawed = rx.recv_timeout(Duration::from_secs(10));
    assert!(d.log().contains("thawing what a previous daemon left frozen"), "{}", d.log());
    // The write returns (its device is gone with the daemon: it may fail).
    thawed.expect("the file system stayed frozen after the restart").ok();
    assert!(!h.t.path("run").join("frozen").exists(), "the record of frozen file systems stayed");
    // Clean up what the killed daemon left: the mount, its loop device
    // and links.
    let _ = Command::new("umount").arg("-l").arg(&m.0).output();
    std::mem::forget(m);
    let _ = Command::new("losetup").arg("-d").arg(&lo).output();
    let _ = std::fs::remove_file(format!("/dev/mapper/{name}"));
    let _ = std::fs::remove_file(&dev);
    let _ = std::fs::remove_dir(format!("/dev/{}", h.vg));
    d.stop();
}
