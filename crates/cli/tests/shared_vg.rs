//! Shared VGs across two "hosts" on one machine (issue 16): each host is
//! a sanlock daemon of its own (`-w 0`, its own run directory), a ulvm
//! daemon and a system directory (lvm.conf `use_lvmlockd = 1`,
//! lvmlocal.conf `host_id`), over the same PV files. Checked with tools
//! ulvm did not write: `sanlock direct read_leader` for the leases at
//! lvmlockd's offsets, python3-sanlock for the VG lock's value block.
//! Needs root, sanlock and python3-sanlock; skips saying why without them,
//! unless `ULVM_REQUIRE_TOOLS=1` (CI).

mod common;

use common::{Daemon, ULVM};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PY: &str = "/usr/bin/python3";
/// sanlock's I/O timeout for the test's lockspaces: joining takes about
/// 3 s, and a dead host's leases expire after 8 + 60 s.
const IO_TIMEOUT: &str = "1";

fn can_run() -> bool {
    let sanlock = Command::new("sanlock").arg("version").output().is_ok_and(|o| o.status.success());
    let py = Command::new(PY).args(["-c", "import sanlock"]).output().is_ok_and(|o| o.status.success());
    common::require(common::is_root(), "needs root (sanlock's daemon)")
        && common::require(sanlock, "sanlock is not installed")
        && common::require(py, "python3-sanlock is not installed")
        && common::require(ulvm_sanlock::Sanlock::load().is_ok(), "libsanlock_client is not installed")
}

/// One host: its sanlock daemon, system directory and ulvm daemon.
struct Host {
    dir: PathBuf,
    sanlock: Option<Child>,
    daemon: Option<Daemon>,
}

impl Host {
    fn new(top: &Path, name: &str, host_id: u32, pvs: &[&Path]) -> Host {
        let dir = top.join(name);
        for d in ["san", "sys", "run"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("sys/lvm.conf"), "global {\n\tuse_lvmlockd = 1\n}\n").unwrap();
        std::fs::write(dir.join("sys/lvmlocal.conf"), format!("local {{\n\thost_id = {host_id}\n}}\n")).unwrap();
        let mut h = Host { dir, sanlock: None, daemon: None };
        h.start_sanlock(name);
        h.start_daemon();
        for pv in pvs {
            h.ok(&["lvmdevices", "--adddev", pv.to_str().unwrap()]);
        }
        h
    }

    fn san(&self) -> PathBuf {
        self.dir.join("san")
    }

    fn start_sanlock(&mut self, name: &str) {
        self.sanlock = Some(ulvm_testkit::sanlock_daemon(&self.san(), name));
    }

    fn start_daemon(&mut self) {
        std::env::set_var("SANLOCK_RUN_DIR", self.san());
        self.daemon = Some(Daemon::start(&self.dir.join("run"), &[]));
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(ULVM)
            .args(args)
            .env("ULVM_SYSTEM_DIR", self.dir.join("sys"))
            .env("ULVM_RUN_DIR", self.dir.join("run"))
            .env("SANLOCK_RUN_DIR", self.san())
            .env("ULVM_SANLOCK_IO_TIMEOUT", IO_TIMEOUT)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{args:?} failed ({:?}): {out}{err}", o.status.code());
        out.into_owned()
    }

    /// Fails with exit status 5; its error output.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(5), "{args:?}: {}{err}", String::from_utf8_lossy(&o.stdout));
        err
    }

    fn python(&self, script: &str) -> String {
        let o = Command::new(PY).args(["-c", script]).env("SANLOCK_RUN_DIR", self.san()).output().unwrap();
        assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn kill_sanlock(&mut self) {
        if let Some(mut c) = self.sanlock.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.crash();
        }
        self.kill_sanlock();
    }
}

/// Runs `args` on `h` until it succeeds (what depends on sanlock's view
/// of the other hosts, renewed every two I/O timeouts).
fn wait_for_ok(h: &Host, args: &[&str]) {
    common::wait_for(&format!("{args:?}"), || h.cmd(args).status.success());
}

/// A test directory on a file system that takes O_DIRECT (not tmpfs).
fn test_dir(name: &str) -> common::TestDir {
    let d = PathBuf::from(format!("/var/tmp/ulvm-shared-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    common::TestDir(d)
}

fn pv(t: &common::TestDir, name: &str) -> PathBuf {
    let p = t.path(name);
    std::fs::File::create(&p).unwrap().set_len(400 << 20).unwrap();
    p
}

/// `sanlock direct read_leader` of the lease `name` at `offset` of `pv`:
/// the fields it prints, and its exit status.
fn read_leader(pv: &Path, kind: &str, name: &str, offset: u64) -> (String, bool) {
    read_leader_of("vgs", pv, kind, name, offset)
}

/// [`read_leader`] in VG `vg`'s lockspace.
fn read_leader_of(vg: &str, pv: &Path, kind: &str, name: &str, offset: u64) -> (String, bool) {
    let arg = format!("lvm_{vg}:{name}:{}:{offset}", pv.display());
    let o = Command::new("sanlock").args(["direct", "read_leader", kind, &arg]).output().unwrap();
    (String::from_utf8_lossy(&o.stdout).into_owned(), o.status.success())
}

fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key} "))).unwrap_or_else(|| panic!("no {key} in {out}"))
}

/// LVM's two lines for an LV another host holds.
const LOCKED_LV1: &str = "  LV locked by other host: vgs/lv1\n  Failed to lock logical volume vgs/lv1.\n";

/// The first PV extent: the lock LV's start on pv0 (pe_start 1 MiB).
const LOCK_LV_AT: u64 = 1 << 20;

#[test]
fn test_two_hosts_share_a_vg_under_sanlock_leases() {
    if !can_run() {
        return;
    }
    let t = test_dir("two");
    let (pv0, pv1) = (pv(&t, "pv0.img"), pv(&t, "pv1.img"));
    let a = Host::new(&t.0, "hostA", 1, &[]);
    let out = a.ok(&["vgcreate", "--shared", "vgs", pv0.to_str().unwrap(), pv1.to_str().unwrap()]);
    assert!(
        out.contains("Enabling sanlock global lock") && out.contains("Logical volume \"lvmlock\" created."),
        "{out}"
    );
    let b = Host::new(&t.0, "hostB", 2, &[&pv0, &pv1]);
    let vgs = a.ok(&["vgs", "--noheadings", "-o", "vg_attr,lock_type,lock_args", "vgs"]);
    assert_eq!(vgs.split_whitespace().collect::<Vec<_>>(), ["wz--ns", "sanlock", "1.0.0:lvmlock"]);
    a.ok(&["lvcreate", "-L", "8M", "-n", "lv1", "vgs"]);
    a.ok(&["lvcreate", "-an", "-L", "8M", "-n", "lv2", "vgs"]);
    let args = a.ok(&["lvs", "--noheadings", "-o", "lv_name,lv_lockargs,lv_uuid", "vgs"]);
    let rows: Vec<Vec<&str>> = args.lines().map(|l| l.split_whitespace().collect()).collect();
    // lvmlockd's offsets: LV leases from 67 MiB into the lock LV, 1 MiB apart.
    assert_eq!((rows[0][0], rows[0][1]), ("lv1", "1.0.0:70254592"));
    assert_eq!((rows[1][0], rows[1][1]), ("lv2", "1.0.0:71303168"));
    let lv1_uuid = rows[0][2];

    // sanlock's own reader finds lvmlockd's layout on the PV.
    let (gl, ok) = read_leader(&pv0, "-r", "GLLK", LOCK_LV_AT + 65 * (1 << 20));
    assert!(ok && field(&gl, "resource_name") == "GLLK" && field(&gl, "space_name") == "lvm_vgs", "{gl}");
    let (vgl, ok) = read_leader(&pv0, "-r", "VGLK", LOCK_LV_AT + 66 * (1 << 20));
    assert!(ok && field(&vgl, "magic") == "0x6152010", "{vgl}");
    let (l1, ok) = read_leader(&pv0, "-r", lv1_uuid, LOCK_LV_AT + 70254592);
    assert!(ok && field(&l1, "owner_id") == "1", "lv1's lease is host A's: {l1}");
    let (free, ok) = read_leader(&pv0, "-r", "#unused", LOCK_LV_AT + 72351744);
    assert!(ok && field(&free, "resource_name") == "#unused", "{free}");

    // Host B: without the lockspace the VG is read without a lock, and
    // its LVs cannot be activated.
    let o = b.cmd(&["vgs", "vgs"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Reading VG vgs without a lock."));
    assert!(b.fails(&["lvchange", "-aey", "vgs/lv1"]).contains("Cannot access VG vgs due to failed lock."));
    let out = b.ok(&["vgchange", "--lockstart", "vgs"]);
    assert!(out.contains("Starting locking."), "{out}");
    // Autoactivation leaves shared VGs alone (lv1 is A's: trying it would
    // fail), as LVM's does.
    let out = b.ok(&["vgchange", "-aay"]);
    assert!(!out.contains("vgs"), "{out}");

    // Exclusion: lv1 is host A's, -aey and -asy refused on B.
    for how in ["-aey", "-asy"] {
        let err = b.fails(&["lvchange", how, "vgs/lv1"]);
        assert_eq!(err, LOCKED_LV1);
    }
    // Shared: lv2 active shared on both hosts, refused exclusive.
    b.ok(&["lvchange", "-asy", "vgs/lv2"]);
    a.ok(&["lvchange", "-asy", "vgs/lv2"]);
    assert_eq!(
        a.fails(&["lvchange", "-aey", "vgs/lv2"]),
        "  LV locked by other host: vgs/lv2\n  Failed to lock logical volume vgs/lv2.\n"
    );
    a.ok(&["lvchange", "-an", "vgs/lv2"]);

    // Metadata: B extends lv2; A sees the new size at once, and the VG
    // lock's value block carries the new seqno (lvmlockd's val_blk, read
    // by python3-sanlock on A).
    b.ok(&["lvextend", "-L", "12M", "vgs/lv2"]);
    let size = a.ok(&["lvs", "--noheadings", "--units", "m", "-o", "lv_size", "vgs/lv2"]);
    assert_eq!(size.trim(), "12.00m");
    let seqno: u32 = a.ok(&["vgs", "--noheadings", "-o", "vg_seqno", "vgs"]).trim().parse().unwrap();
    let p = pv0.display();
    let at = LOCK_LV_AT + 66 * (1 << 20);
    let lvb = a.python(&format!(
        "import sanlock, struct\n\
         fd = sanlock.register()\n\
         sanlock.acquire(b'lvm_vgs', b'VGLK', [(b'{p}', {at})], slkfd=fd, shared=True, lvb=True)\n\
         print(struct.unpack('<HHI', sanlock.get_lvb(b'lvm_vgs', b'VGLK', [(b'{p}', {at})], 8)))"
    ));
    assert_eq!(lvb.trim(), format!("(257, 0, {seqno})"), "val_blk {{0x0101, 0, seqno}}");

    // Snapshots are active under their origin's lease, never shared.
    a.ok(&["lvcreate", "-s", "-L", "4M", "-n", "s1", "vgs/lv1"]);
    let err = a.fails(&["lvchange", "-asy", "vgs/lv1"]);
    assert_eq!(err, "  Shared activation not compatible with LV type linear of vgs/lv1\n");
    let err = a.fails(&["lvconvert", "--splitsnapshot", "vgs/s1"]);
    assert_eq!(err, "  Unable to split snapshots in VG with lock_type sanlock.\n");
    a.ok(&["lvremove", "-y", "vgs/s1"]);
    // A merge, polled by the daemon (-b): it finishes under the VG lock,
    // taken by the daemon's own session.
    a.ok(&["lvcreate", "-s", "-L", "4M", "-n", "s2", "vgs/lv1"]);
    a.ok(&["lvconvert", "--merge", "-b", "vgs/s2"]);
    common::wait_for("the merge of s2 done", || !a.ok(&["lvs", "--noheadings", "-o", "lv_name", "vgs"]).contains("s2"));
    // A mirror in a shared VG: active under its own lease, not split.
    a.ok(&["lvcreate", "--type", "mirror", "-m1", "--mirrorlog", "core", "-L", "4M", "-n", "m1", "vgs"]);
    let err = a.fails(&["lvconvert", "--splitmirrors", "1", "-n", "m2", "vgs/m1"]);
    assert_eq!(err, "  Unable to split mirrors in VG with lock_type sanlock\n");
    assert_eq!(
        b.fails(&["lvchange", "-aey", "vgs/m1"]),
        "  LV locked by other host: vgs/m1\n  Failed to lock logical volume vgs/m1.\n"
    );
    a.ok(&["lvremove", "-y", "vgs/m1"]);
    // What a shared VG does not allow, refused as LVM refuses it.
    let pv1s = pv1.to_str().unwrap();
    for (args, why) in [
        (&["vgsplit", "vgs", "vgt", pv1s][..], "vgsplit not allowed for lock_type sanlock"),
        (&["pvmove", pv1s][..], "pvmove in a shared VG requires a named LV."),
        (&["vgrename", "vgs", "vgt"][..], "Cannot rename VG vgs with active LVs."),
    ] {
        assert_eq!(a.fails(args), format!("  {why}\n"), "{args:?}");
    }

    // The lockspace cannot stop under active LVs.
    assert!(b.fails(&["vgchange", "--lockstop", "vgs"]).contains("VG vgs stop failed: LVs must first be deactivated"));
    b.ok(&["lvchange", "-an", "vgs/lv2"]);

    // lvremove frees lv2's slot (#unused), the next LV takes it.
    a.ok(&["lvremove", "-y", "vgs/lv2"]);
    let (l2, _) = read_leader(&pv0, "-r", "#unused", LOCK_LV_AT + 71303168);
    assert_eq!(field(&l2, "resource_name"), "#unused", "{l2}");
    a.ok(&["lvcreate", "-an", "-L", "4M", "-n", "lv3", "vgs"]);
    let lv3_uuid = a.ok(&["lvs", "--noheadings", "-o", "lv_uuid", "vgs/lv3"]);
    let args = a.ok(&["lvs", "--noheadings", "-o", "lv_lockargs", "vgs/lv3"]);
    assert_eq!(args.trim(), "1.0.0:71303168");

    // Failover: A's ulvm dies; its leases go with it and B takes lv1.
    let mut a = a;
    a.daemon.take().unwrap().crash();
    common::wait_for("lv1's lease freed by host A's death", || {
        b.cmd(&["lvchange", "-aey", "vgs/lv1"]).status.success()
    });
    b.ok(&["lvchange", "-an", "vgs/lv1"]);

    // The kill path sanlock runs when A cannot renew its lease: A's
    // devices of the VG get error tables and its leases go.
    a.start_daemon();
    a.ok(&["lvchange", "-aey", "vgs/lv3"]);
    let run = a.dir.join("run");
    let ctl = |args: &[&str]| {
        let o = Command::new(ULVM).arg("lvmlockctl").arg("--run-dir").arg(&run).args(args).output().unwrap();
        assert!(o.status.success(), "lvmlockctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let info = ctl(&["--info"]);
    // The lease of lv3 (lock_args 71303168) is 1 MiB further on the PV.
    assert!(info.starts_with("lvm_vgs:") && info.trim_end().ends_with(":72351744 ex"), "{info}");
    let refused = "  LV locked by other host: vgs/lv3\n  Failed to lock logical volume vgs/lv3.\n";
    assert_eq!(b.fails(&["lvchange", "-aey", "vgs/lv3"]), refused);
    ctl(&["--kill", "vgs"]);
    let table = a.daemon.as_ref().unwrap().ok(&["table", "vgs-lv3"]);
    assert!(table.contains(" error"), "{table}");
    assert_eq!(ctl(&["--info"]), "");
    b.ok(&["lvchange", "-aey", "vgs/lv3"]);
    b.ok(&["lvchange", "-an", "vgs/lv3"]);

    // A second shared VG: the global lock stays in the first (disabled in
    // the second, as lvmlockd writes it).
    let (pv2, pv3) = (pv(&t, "pv2.img"), pv(&t, "pv3.img"));
    let out = a.ok(&["vgcreate", "--shared", "vg2", pv2.to_str().unwrap()]);
    assert!(!out.contains("Enabling sanlock global lock"), "{out}");
    let (gl2, _) = read_leader_of("vg2", &pv2, "-r", "_GLLK_disabled", LOCK_LV_AT + 65 * (1 << 20));
    assert_eq!(field(&gl2, "resource_name"), "_GLLK_disabled", "{gl2}");

    // vgremove: the lock LV goes unannounced and the host leaves the
    // lockspace.
    a.ok(&["lvchange", "-an", "vgs/lv3"]);
    let err = a.fails(&["vgrename", "vgs", "vgr"]);
    assert_eq!(err, "  Lockspace for \"vgs\" not stopped on other hosts\n");
    b.ok(&["vgchange", "--lockstop", "vgs"]);

    // vgrename, once no other host is in the lockspace (A sees B leave at
    // its next renewal): the lockspace and leases are renamed with it.
    wait_for_ok(&a, &["vgrename", "vgs", "vgr"]);
    let (vl, ok) = read_leader_of("vgr", &pv0, "-r", "VGLK", LOCK_LV_AT + 66 * (1 << 20));
    assert!(ok && field(&vl, "space_name") == "lvm_vgr", "{vl}");
    let (l3, ok) = read_leader_of("vgr", &pv0, "-r", lv3_uuid.trim(), LOCK_LV_AT + 71303168);
    assert!(ok, "lv3's lease renamed: {l3}");
    a.ok(&["lvchange", "-aey", "vgr/lv3"]);
    a.ok(&["lvchange", "-an", "vgr/lv3"]);
    wait_for_ok(&a, &["vgrename", "vgr", "vgs"]);
    let out = a.ok(&["vgremove", "-f", "vgs"]);
    assert!(!out.contains("lvmlock") && out.contains("Volume group \"vgs\" successfully removed"), "{out}");
    let status = Command::new("sanlock").args(["client", "status"]).env("SANLOCK_RUN_DIR", a.san()).output().unwrap();
    assert!(!String::from_utf8_lossy(&status.stdout).contains("lvm_vgs"), "host A left the lockspace");

    // The global lock went with vgs: pvcreate is refused until it is
    // enabled in vg2.
    let p3 = pv3.to_str().unwrap();
    let err = a.fails(&["pvcreate", p3]);
    assert_eq!(err, "  Global lock failed: check that VG holding global lock exists and is started.\n");
    a.ok(&["lvmlockctl", "--gl-enable", "vg2"]);
    a.ok(&["pvcreate", p3]);
    a.ok(&["vgremove", "-f", "vg2"]);
}

#[test]
fn test_a_host_whose_sanlock_dies_is_fenced_and_its_lvs_taken_over_after_expiry() {
    if !can_run() {
        return;
    }
    let t = test_dir("fence");
    let pv0 = pv(&t, "pv0.img");
    let mut a = Host::new(&t.0, "hostA", 1, &[]);
    a.ok(&["vgcreate", "--shared", "vgs", pv0.to_str().unwrap()]);
    a.ok(&["lvcreate", "-L", "8M", "-n", "lv1", "vgs"]);
    let b = Host::new(&t.0, "hostB", 2, &[&pv0]);
    b.ok(&["vgchange", "--lockstart", "vgs"]);
    assert_eq!(b.fails(&["lvchange", "-aey", "vgs/lv1"]), LOCKED_LV1);
    let table = |h: &Host| h.daemon.as_ref().unwrap().ok(&["table", "vgs-lv1"]);
    assert!(table(&a).contains("linear"));

    // A's sanlock dies: A can no longer renew its leases, so its daemon
    // fences the VG at once (I/O to lv1 fails from now on).
    a.kill_sanlock();
    common::wait_for("host A's lv1 fenced", || table(&a).contains(" error"));
    // No lock manager on A: the VG is read without a lock, LVs refused.
    let o = a.cmd(&["vgs", "vgs"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("WARNING: lvmlockd process is not running.") && err.contains("Reading VG vgs without a lock.")
    );
    assert!(a.fails(&["lvchange", "-ay", "vgs/lv1"]).contains("Cannot access VG vgs due to failed lock."));

    // B is refused until A's delta lease expires (sanlock's host_dead:
    // 8 I/O timeouts + 60 s), then takes lv1 over.
    let died = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(b.fails(&["lvchange", "-aey", "vgs/lv1"]), LOCKED_LV1);
    common::wait_for_within("host B takes lv1 over", Duration::from_secs(150), || {
        b.cmd(&["lvchange", "-aey", "vgs/lv1"]).status.success()
    });
    let waited = died.elapsed();
    assert!(waited >= Duration::from_secs(60), "taken over after {waited:?}, before host A's leases expired");
    eprintln!("host B took lv1 over {waited:?} after host A's sanlock died");
    b.ok(&["lvchange", "-an", "vgs/lv1"]);
}

/// Real LVM 2.03 as a host of its own: Debian's lvmlockd with a sanlock
/// daemon of its own, over loop devices of the same PV files. The kernel
/// here has no device-mapper, so LVM runs with `global/activation = 0`
/// (its locks are taken, nothing is mapped), and the lock LV lvmlockd
/// hands sanlock (`/dev/mapper/<vg>-lvmlock`) is a loop device over the
/// same bytes. lvmlockd listens where LVM looks for it
/// (`/run/lvm/lvmlockd.socket`); all is stopped and removed on drop.
struct RealLvmHost {
    dir: PathBuf,
    sanlock: Option<Child>,
    lvmlockd: Option<Child>,
    loops: Vec<String>,
    link: PathBuf,
}

const LVMLOCKD_SOCKET: &str = "/run/lvm/lvmlockd.socket";

impl RealLvmHost {
    fn can_run() -> bool {
        let lvmlockd = Command::new("lvmlockd").arg("--version").output().is_ok_and(|o| o.status.success());
        let free = std::os::unix::net::UnixStream::connect(LVMLOCKD_SOCKET).is_err();
        let loops = Command::new("losetup").arg("-f").output().is_ok_and(|o| o.status.success());
        common::require(lvmlockd, "lvmlockd (lvm2-lockd) is not installed")
            && common::require(free, "an lvmlockd runs on this machine already")
            && common::require(loops, "no loop devices")
    }

    fn start(top: &Path, vg: &str, pv: &Path, host_id: u32) -> RealLvmHost {
        let dir = top.join("real");
        std::fs::create_dir_all(dir.join("san")).unwrap();
        std::fs::create_dir_all(dir.join("sys")).unwrap();
        let losetup = |args: &[&str]| common::run_lvm_tool("losetup", args).unwrap().trim().to_string();
        let p = pv.to_str().unwrap();
        let mut h = RealLvmHost { dir, sanlock: None, lvmlockd: None, loops: vec![], link: PathBuf::new() };
        h.loops.push(losetup(&["--find", "--show", "--direct-io=on", p]));
        // The lock LV: 256 MiB from the PV's first extent (pe_start 1 MiB).
        h.loops.push(losetup(&["--find", "--show", "--direct-io=on", "-o", "1048576", "--sizelimit", "268435456", p]));
        h.link = PathBuf::from(format!("/dev/mapper/{vg}-lvmlock"));
        let _ = std::fs::remove_file(&h.link);
        std::os::unix::fs::symlink(&h.loops[1], &h.link).unwrap();
        let conf = format!(
            "global {{\n\tuse_lvmlockd = 1\n\tactivation = 0\n}}\ndevices {{\n\tuse_devicesfile = 0\n\tfilter = [ \"a|^{}$|\", \"r|.*|\" ]\n}}\n",
            h.loops[0]
        );
        std::fs::write(h.dir.join("sys/lvm.conf"), conf).unwrap();
        std::fs::write(h.dir.join("sys/lvmlocal.conf"), format!("local {{\n\thost_id = {host_id}\n}}\n")).unwrap();
        let san = h.dir.join("san");
        h.sanlock = Some(ulvm_testkit::sanlock_daemon(&san, "real"));
        let log = std::fs::File::create(h.dir.join("lvmlockd.log")).unwrap();
        h.lvmlockd = Some(
            Command::new("lvmlockd")
                .args(["--foreground", "--gl-type", "sanlock", "--sanlock-timeout", IO_TIMEOUT])
                .args(["--host-id", &host_id.to_string()])
                .env("SANLOCK_RUN_DIR", &san)
                .env("LVM_SYSTEM_DIR", h.dir.join("sys"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        common::wait_for("lvmlockd", || std::os::unix::net::UnixStream::connect(LVMLOCKD_SOCKET).is_ok());
        h
    }

    /// A real LVM command: its exit status, stdout and stderr (without
    /// the warning that activation is off).
    fn lvm(&self, args: &[&str]) -> (i32, String, String) {
        let o = Command::new("lvm")
            .args(args)
            .env("LVM_SYSTEM_DIR", self.dir.join("sys"))
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err: String = String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| !l.contains("Activation disabled"))
            .map(|l| format!("{l}\n"))
            .collect();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), err)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (rc, out, err) = self.lvm(args);
        assert_eq!(rc, 0, "real lvm {args:?}: {out}{err}");
        out
    }
}

impl Drop for RealLvmHost {
    fn drop(&mut self) {
        let _ = self.lvm(&["vgchange", "--lockstop"]);
        let _ = Command::new("lvmlockctl").arg("--quit").output();
        for c in [self.lvmlockd.take(), self.sanlock.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(LVMLOCKD_SOCKET);
        let _ = std::fs::remove_file("/run/lvmlockd.pid");
        let _ = std::fs::remove_file(&self.link);
        for l in self.loops.drain(..) {
            let _ = Command::new("losetup").args(["-d", &l]).output();
        }
    }
}

#[test]
fn test_real_lvm_with_lvmlockd_shares_ulvms_vg_as_a_third_host() {
    if !can_run() || !RealLvmHost::can_run() {
        return;
    }
    let t = test_dir("real");
    let pv0 = pv(&t, "pv0.img");
    let vg = format!("ulvmsh{}", std::process::id());
    let a = Host::new(&t.0, "hostA", 1, &[]);
    a.ok(&["vgcreate", "--shared", &vg, pv0.to_str().unwrap()]);
    a.ok(&["lvcreate", "-L", "8M", "-n", "lv1", &vg]);
    a.ok(&["lvcreate", "-an", "-L", "8M", "-n", "lv2", &vg]);
    let c = RealLvmHost::start(&t.0, &vg, &pv0, 3);

    // Real LVM sees the shared VG and the lock_args ulvm wrote.
    let (_, out, err) = c.lvm(&["vgs", "--noheadings", "-o", "vg_attr,lock_type,lock_args", &vg]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["wz--ns", "sanlock", "1.0.0:lvmlock"], "{err}");
    let out = c.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_lockargs", &vg]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["lv1", "1.0.0:70254592"]) && rows.contains(&vec!["[lvmlock]"]), "{out}");
    c.ok(&["vgchange", "--lockstart", &vg]);

    // An LV ulvm holds is refused to real LVM, and the other way round.
    let (rc, _, err) = c.lvm(&["lvchange", "-aey", &format!("{vg}/lv1")]);
    assert_eq!(rc, 5);
    assert!(err.contains(&format!("LV locked by other host: {vg}/lv1")), "{err}");
    c.ok(&["lvchange", "-aey", &format!("{vg}/lv2")]);
    let err = a.fails(&["lvchange", "-aey", &format!("{vg}/lv2")]);
    assert_eq!(err, format!("  LV locked by other host: {vg}/lv2\n  Failed to lock logical volume {vg}/lv2.\n"));

    // Metadata changes under the VG lock reach the other side at once.
    c.ok(&["lvextend", "-L", "16M", &format!("{vg}/lv2")]);
    let size = a.ok(&["lvs", "--noheadings", "--units", "m", "-o", "lv_size", &format!("{vg}/lv2")]);
    assert_eq!(size.trim(), "16.00m");
    a.ok(&["lvextend", "-L", "12M", &format!("{vg}/lv1")]);
    let size = c.ok(&["lvs", "--noheadings", "--units", "m", "-o", "lv_size", &format!("{vg}/lv1")]);
    assert_eq!(size.trim(), "12.00m");
    c.ok(&["lvchange", "-an", &format!("{vg}/lv2")]);
    a.ok(&["lvchange", "-aey", &format!("{vg}/lv2")]);
}

#[test]
fn test_the_lock_lv_grows_when_its_lease_slots_are_used_up() {
    if !can_run() {
        return;
    }
    let t = test_dir("grow");
    let pv0 = pv(&t, "pv0.img");
    std::fs::File::options().write(true).open(&pv0).unwrap().set_len(1536 << 20).unwrap();
    let a = Host::new(&t.0, "hostA", 1, &[]);
    a.ok(&["vgcreate", "--shared", "vgs", pv0.to_str().unwrap()]);
    // 189 slots in the 256 MiB lock LV: areas 67 to 255.
    for i in 0..189 {
        a.ok(&["lvcreate", "-an", "-l", "1", "-n", &format!("lv{i}"), "vgs"]);
    }
    let seqno = || a.ok(&["vgs", "--noheadings", "-o", "vg_seqno", "vgs"]).trim().to_string();
    let before = seqno();
    let err = a.fails(&["lvcreate", "--config", "global/sanlock_lv_extend=0", "-an", "-l", "1", "-n", "full", "vgs"]);
    assert_eq!(err, "  No space for sanlock lock, extend the internal lvmlock LV.\n");
    assert_eq!(seqno(), before, "nothing written");
    a.ok(&["lvcreate", "-an", "-l", "1", "-n", "more", "vgs"]);
    let out = a.ok(&["lvs", "-a", "--noheadings", "--units", "m", "-o", "lv_name,lv_size,lv_lockargs", "vgs"]);
    let row = |n: &str| out.lines().find(|l| l.split_whitespace().next() == Some(n)).unwrap().to_string();
    assert_eq!(row("[lvmlock]").split_whitespace().nth(1), Some("512.00m"), "grown by sanlock_lv_extend (256 MiB)");
    assert_eq!(row("more").split_whitespace().nth(2), Some("1.0.0:268435456"), "the first slot past the old end");
    let uuid = a.ok(&["lvs", "--noheadings", "-o", "lv_uuid", "vgs/more"]);
    // The grown part is on the PV after the LVs: find it through the map.
    let map = a.ok(&["lvs", "-a", "--noheadings", "-o", "seg_pe_ranges", "vgs/lvmlock"]);
    let second = map.lines().nth(1).unwrap().trim().to_string();
    let first_pe: u64 = second.rsplit(':').next().unwrap().split('-').next().unwrap().parse().unwrap();
    let (l, ok) = read_leader(&pv0, "-r", uuid.trim(), LOCK_LV_AT + first_pe * (4 << 20));
    assert!(ok && field(&l, "resource_name") == uuid.trim(), "{l}");
}

/// Storage trouble: sanlock cannot renew host A's delta lease (the PV is
/// made immutable, so its writes fail), fails A's lockspace after 8 I/O
/// timeouts and runs the kill path of the daemon's registration, `ulvm
/// lvmlockctl --kill vgs`: the daemon fences the VG's devices and lets
/// its leases go, and stays up for everything else.
#[test]
fn test_a_host_that_cannot_renew_its_lease_fences_the_vg_through_its_kill_path() {
    if !can_run() {
        return;
    }
    let t = test_dir("killpath");
    let pv0 = pv(&t, "pv0.img");
    let a = Host::new(&t.0, "hostA", 1, &[]);
    a.ok(&["vgcreate", "--shared", "vgs", pv0.to_str().unwrap()]);
    a.ok(&["lvcreate", "-L", "8M", "-n", "lv1", "vgs"]);
    let d = a.daemon.as_ref().unwrap();
    assert!(d.ok(&["table", "vgs-lv1"]).contains("linear"));
    /// The file immutable while this lives.
    struct Immutable<'a>(&'a Path);
    impl Drop for Immutable<'_> {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(self.0).status();
        }
    }
    let ok = Command::new("chattr").arg("+i").arg(&pv0).status().is_ok_and(|s| s.success());
    let _immutable = Immutable(&pv0);
    if !common::require(ok, "chattr +i does not work here (not ext4?)") {
        return;
    }
    let fenced = Instant::now();
    common::wait_for_within("the kill path fences vgs-lv1", Duration::from_secs(60), || {
        d.ok(&["table", "vgs-lv1"]).contains(" error")
    });
    let run = a.dir.join("run");
    let info = Command::new(ULVM).arg("lvmlockctl").arg("--run-dir").arg(&run).arg("--info").output().unwrap();
    assert!(info.status.success() && info.stdout.is_empty(), "the leases went: {info:?}");
    // The daemon is up.
    d.ok(&["version"]);
    eprintln!("fenced {:?} after the PV stopped taking writes", fenced.elapsed());
}
