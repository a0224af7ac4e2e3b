//! Two "hosts" on one machine, each a sanlock daemon of its own (`-w 0`:
//! no watchdog, for tests), over one lease file: this test process is
//! host A through ulvm's binding; host B is Debian's python3-sanlock, a
//! client ulvm did not write. Needs root, `sanlock` and python3-sanlock;
//! skips saying why without them, unless `ULVM_REQUIRE_TOOLS=1` (CI).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use ulvm_sanlock::{Align, Area, Lease, Mode, Sanlock};

const PY: &str = "/usr/bin/python3";
const IO_TIMEOUT: u32 = 1;

fn require(ok: bool, what: &str) -> bool {
    if !ok && std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{what}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
    }
    if !ok {
        eprintln!("skipping: {what}");
    }
    ok
}

fn can_run() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let sanlock = Command::new("sanlock").arg("version").output().is_ok_and(|o| o.status.success());
    let py = Command::new(PY).args(["-c", "import sanlock"]).output().is_ok_and(|o| o.status.success());
    require(root, "needs root (sanlock's daemon)")
        && require(sanlock, "sanlock is not installed")
        && require(py, "python3-sanlock is not installed")
        && require(Sanlock::load().is_ok(), "libsanlock_client is not installed")
}

/// A sanlock daemon with its own run directory; killed when dropped.
struct Daemon {
    run: PathBuf,
    child: Child,
}

impl Daemon {
    fn start(run: &Path, name: &str) -> Daemon {
        Daemon { run: run.to_path_buf(), child: ulvm_testkit::sanlock_daemon(run, name) }
    }

    /// Makes this process talk to this daemon.
    fn select(&self) {
        std::env::set_var("SANLOCK_RUN_DIR", &self.run);
    }

    /// Runs a python3-sanlock script as a client of this daemon: its
    /// stdout, or its error.
    fn python(&self, script: &str) -> Result<String, String> {
        let o = Command::new(PY).args(["-c", script]).env("SANLOCK_RUN_DIR", &self.run).output().unwrap();
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test directory on a file system that takes O_DIRECT (not tmpfs).
fn test_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(format!("/var/tmp/ulvm-sanlock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `f` until it succeeds: what a daemon does after a client exits (or
/// while it renews) is asynchronous.
fn retry<T>(what: &str, f: impl Fn() -> ulvm_sanlock::Result<T>) -> T {
    let t = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if t.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn test_two_hosts_exclude_share_and_pass_the_value_block() {
    if !can_run() {
        return;
    }
    let dir = test_dir("two");
    let leases = dir.join("leases");
    std::fs::File::create(&leases).unwrap().set_len(4 << 20).unwrap();
    let (a, b) = (Daemon::start(&dir.join("hA"), "hostA"), Daemon::start(&dir.join("hB"), "hostB"));
    let s = Sanlock::load().unwrap();
    a.select();
    assert!(s.version().unwrap().0 > 0);
    let space = Area::new(&leases, 0, Align::Sector512);
    s.write_lockspace("lvm_vgt", &space, 0, IO_TIMEOUT).unwrap();
    let lease =
        Lease { lockspace: "lvm_vgt".into(), name: "VGLK".into(), area: Area::new(&leases, 1 << 20, Align::Sector512) };
    s.write_resource(&lease).unwrap();
    assert_eq!(s.read_resource(&lease.area).unwrap(), ("lvm_vgt".into(), "VGLK".into(), 0));
    // Both hosts join (B by python3-sanlock, at the same time).
    let p = leases.display();
    let b_join = std::thread::scope(|sc| {
        let j = sc.spawn(|| {
            b.python(&format!(
                "import sanlock; sanlock.add_lockspace(b'lvm_vgt', 2, b'{p}', 0, iotimeout={IO_TIMEOUT})"
            ))
        });
        s.add_lockspace("lvm_vgt", 1, &space, IO_TIMEOUT).unwrap();
        j.join().unwrap()
    });
    b_join.unwrap();
    assert!(s.inq_lockspace("lvm_vgt", 1, &space).unwrap());
    // A holds it exclusive, with a value block (lvmlockd's: version
    // 0x0101, flags 0, the VG's seqno 7).
    let client = s.register(None).unwrap();
    client.acquire(&lease, Mode::Exclusive, true).unwrap();
    s.set_lvb(&lease, &[0x01, 0x01, 0, 0, 7, 0, 0, 0]).unwrap();
    let try_b = |shared: bool| {
        b.python(&format!(
            "import sanlock\nfd = sanlock.register()\n\
             sanlock.acquire(b'lvm_vgt', b'VGLK', [(b'{p}', {})], slkfd=fd, shared={}, lvb=True)\n\
             print(sanlock.get_lvb(b'lvm_vgt', b'VGLK', [(b'{p}', {})], 8).hex())",
            1 << 20,
            if shared { "True" } else { "False" },
            1 << 20
        ))
    };
    let refused = try_b(false).expect_err("B took a lease A holds");
    assert!(refused.contains("SanlockException"), "{refused}");
    assert!(try_b(true).is_err(), "B shared a lease A holds exclusive");
    // Released, B takes it and reads A's value block.
    client.release(&lease).unwrap();
    assert_eq!(try_b(false).unwrap().trim(), "0101000007000000");
    // Shared by both (once B's daemon has released what its exited
    // client held).
    retry("A's shared lease", || client.acquire(&lease, Mode::Shared, false));
    try_b(true).unwrap();
    client.release(&lease).unwrap();
    // A's process going away (its registration closed) frees its lease.
    retry("A's lease", || client.acquire(&lease, Mode::Exclusive, false));
    assert!(try_b(false).is_err());
    drop(client);
    let t = Instant::now();
    while try_b(false).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "A's lease outlived its client");
        std::thread::sleep(Duration::from_millis(200));
    }
    let hosts = retry("the hosts", || s.hosts("lvm_vgt"));
    assert!(hosts.iter().any(|h| h.host_id == 1), "{hosts:?}");
    s.rem_lockspace("lvm_vgt", 1, &space).unwrap();
    assert!(!s.inq_lockspace("lvm_vgt", 1, &space).unwrap());
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_bad_names_and_paths_are_refused_before_sanlock_sees_them() {
    let Ok(s) = Sanlock::load() else {
        require(false, "libsanlock_client is not installed");
        return;
    };
    let area = Area::new("/tmp/a:b", 0, Align::Sector512);
    assert!(s.write_lockspace("x", &area, 0, 1).unwrap_err().to_string().contains("not a path sanlock takes"));
    let area = Area::new("/tmp/x", 0, Align::Sector512);
    let long = "l".repeat(48);
    assert!(s.write_lockspace(&long, &area, 0, 1).unwrap_err().to_string().contains("not a sanlock name"));
    assert_eq!(Align::Sector4k.bytes(), 8 << 20);
}
