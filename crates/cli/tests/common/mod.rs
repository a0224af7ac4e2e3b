//! A daemon started for one test, and `ulvm dmsetup` against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const ULVM: &str = env!("CARGO_BIN_EXE_ulvm");

pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let d = std::env::temp_dir().join(format!("ulvm-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TestDir(d)
    }
    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
    /// A sparse file of `mib` MiB.
    pub fn image(&self, f: &str, mib: u64) -> PathBuf {
        let p = self.path(f);
        let file = std::fs::File::create(&p).unwrap();
        file.set_len(mib << 20).unwrap();
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Daemon {
    pub run_dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    pub fn start(run_dir: &Path, extra: &[&str]) -> Daemon {
        let log = std::fs::File::create(run_dir.with_extension("log")).unwrap();
        let child = Command::new(ULVM)
            .arg("daemon")
            .arg("--run-dir")
            .arg(run_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon { run_dir: run_dir.to_path_buf(), child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Sockets left by a killed daemon may still be there: wait until
        // the new one answers.
        while std::os::unix::net::UnixStream::connect(run_dir.join("control.sock")).is_err()
            || std::os::unix::net::UnixStream::connect(run_dir.join("nbd.sock")).is_err()
        {
            assert!(Instant::now() < deadline, "daemon did not start: {}", d.log());
            std::thread::sleep(Duration::from_millis(10));
        }
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.run_dir.with_extension("log")).unwrap_or_default()
    }

    pub fn nbd_socket(&self) -> PathBuf {
        self.run_dir.join("nbd.sock")
    }

    pub fn uri(&self, export: &str) -> String {
        format!("nbd+unix:///{export}?socket={}", self.nbd_socket().display())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `ulvm dmsetup ARGS` against this daemon.
    pub fn dmsetup(&self, args: &[&str]) -> Output {
        Command::new(ULVM).arg("dmsetup").arg("--run-dir").arg(&self.run_dir).args(args).output().unwrap()
    }

    /// `ulvm dmsetup ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.dmsetup(args);
        assert!(
            o.status.success(),
            "dmsetup {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// `ulvm dmsetup ARGS`, which must fail with one error line; that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.dmsetup(args);
        assert!(!o.status.success(), "dmsetup {args:?} should have failed: {}", String::from_utf8_lossy(&o.stdout));
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one error line expected, got: {err}");
        err.trim_end().to_string()
    }

    /// SIGTERM, then wait; returns the exit status code.
    pub fn stop(mut self) -> Option<i32> {
        let mut c = self.child.take().unwrap();
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc_kill(c.id() as i32, 15) };
        c.wait().ok().and_then(|s| s.code())
    }

    /// SIGKILL: a crash.
    pub fn crash(mut self) {
        let mut c = self.child.take().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in stop().
            unsafe { libc_kill(c.id() as i32, 15) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether an external program is installed (by running it with `arg`).
/// With `ULVM_REQUIRE_TOOLS=1` (CI) a missing one fails the test instead.
pub fn have(prog: &str, arg: &str) -> bool {
    let ok = Command::new(prog).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    require(ok, &format!("{prog} is not installed"))
}

/// Passes `ok` through, but fails when a prerequisite is missing and
/// `ULVM_REQUIRE_TOOLS=1` says nothing may be skipped.
pub fn require(ok: bool, what: &str) -> bool {
    if !ok && std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{what}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
    }
    ok
}

/// Runs an external program, which must succeed; its stdout.
pub fn run(prog: &str, args: &[&str]) -> String {
    let o = Command::new(prog).args(args).output().unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(
        o.status.success(),
        "{prog} {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs real LVM's `lvm` (or another program) quietly about inherited
/// fds; its stdout, or one error with everything it printed.
pub fn run_lvm_tool(cmd: &str, args: &[&str]) -> Result<String, String> {
    let o = Command::new(cmd)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        // Real LVM prints and reads times in local time; ulvm in UTC.
        .env("TZ", "UTC")
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).to_string())
}

/// Loop devices over files, for real LVM (which reads block devices
/// only); detached when dropped.
pub struct Loops(pub Vec<String>);

impl Drop for Loops {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = run_lvm_tool("losetup", &["-d", l]);
        }
    }
}

/// A loop device per file (read-only ones when `read_only`).
pub fn attach(files: &[&Path], read_only: bool) -> Loops {
    Loops(
        files
            .iter()
            .map(|f| {
                let mut args = vec!["--find", "--show"];
                if read_only {
                    args.push("--read-only");
                }
                args.push(f.to_str().unwrap());
                run_lvm_tool("losetup", &args).unwrap().trim().to_string()
            })
            .collect(),
    )
}

/// LVM's options for "these devices only, no locking daemon, no dm".
pub fn only(loops: &Loops) -> String {
    let accept: Vec<String> = loops.0.iter().map(|l| format!("\"a|^{l}$|\"")).collect();
    format!("devices {{ use_devicesfile=0 filter=[{},\"r|.*|\"] }} activation {{ monitoring=0 }}", accept.join(","))
}

/// Report lines with device names mapped back to files and the state
/// columns LVM cannot know without device-mapper (`XX`) blanked, sorted.
pub fn normalize(out: &str, loops: &Loops, files: &[&Path]) -> Vec<String> {
    let mut lines: Vec<String> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut l = l.trim().to_string();
            for (lp, f) in loops.0.iter().zip(files) {
                l = l.replace(lp.as_str(), f.to_str().unwrap());
            }
            l.replace("XX", "--")
        })
        .collect();
    lines.sort();
    lines
}

/// `nbdkit` serving `file` read-only on the unix socket `sock`, each read
/// delayed by `delay` (nbdkit's delay filter, e.g. "40ms"); killed when dropped.
pub struct Nbdkit(Child);

impl Nbdkit {
    pub fn start(sock: &Path, file: &Path, delay: &str) -> Nbdkit {
        let _ = std::fs::remove_file(sock);
        let c = Command::new("nbdkit")
            .args(["--foreground", "--readonly", "--unix"])
            .arg(sock)
            .args(["--filter=delay", "file"])
            .arg(file)
            .arg(format!("rdelay={delay}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nbdkit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(sock).is_err() {
            assert!(Instant::now() < deadline, "nbdkit did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Nbdkit(c)
    }
}

impl Drop for Nbdkit {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The LVM commands with a system directory and a daemon's run directory.
pub struct Lvm<'a> {
    pub sys: std::path::PathBuf,
    pub run: &'a Path,
}

impl Lvm<'_> {
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new(ULVM)
            .args(args)
            .env("ULVM_SYSTEM_DIR", &self.sys)
            .env("ULVM_RUN_DIR", self.run)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert!(
            o.status.success(),
            "{args:?} failed ({:?}): {}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Must fail with exit status `code` and exactly one error line; that line.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let o = self.cmd(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&o.stdout));
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: one error line expected, got: {err}");
        err.trim().to_string()
    }
}

/// Waits up to 30 s for `f` to hold.
pub fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_for_within(what, std::time::Duration::from_secs(30), f)
}

/// Waits up to `limit` for `f` to hold (background work whose pace
/// depends on the machine's load, not a timing check).
pub fn wait_for_within(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `cmd ARGS`, which must succeed; its stdout.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A mounted file system, unmounted when dropped.
pub struct Mount(pub PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// `mount -o OPTS DEV AT` (AT is created), which must succeed.
pub fn mount(dev: &str, at: &Path, opts: &str) -> Mount {
    std::fs::create_dir_all(at).unwrap();
    sh("mount", &["-o", opts, dev, at.to_str().unwrap()]);
    Mount(at.to_path_buf())
}

/// Waits up to 10 s for `p` to exist.
pub fn wait_exists(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} did not appear", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A daemon with FUSE files and loop devices (root), and a VG on one PV.
pub struct FsHost {
    /// Stopped before the directory goes (fields drop in this order).
    pub d: Option<Daemon>,
    pub t: TestDir,
    pub vg: String,
}

impl FsHost {
    pub fn new(name: &str) -> FsHost {
        let t = TestDir::new(name);
        let pv = t.image("pv.img", 512);
        let d = Daemon::start(&t.path("run"), &FsHost::daemon_args(&t));
        let vg = format!("ulvmlk{}", std::process::id());
        let h = FsHost { d: Some(d), t, vg };
        h.lvm().ok(&["pvcreate", pv.to_str().unwrap()]);
        h.lvm().ok(&["vgcreate", &h.vg, pv.to_str().unwrap()]);
        h
    }

    pub fn daemon_args(t: &TestDir) -> Vec<&'static str> {
        let leak = |p: PathBuf| -> &'static str { Box::leak(p.display().to_string().into_boxed_str()) };
        vec!["--fuse-dir", leak(t.path("devs")), "--attach-loop", "--system-dir", leak(t.path("sys"))]
    }

    pub fn lvm(&self) -> Lvm<'_> {
        Lvm { sys: self.t.path("sys"), run: &self.d.as_ref().expect("daemon").run_dir }
    }

    pub fn daemon(&self) -> &Daemon {
        self.d.as_ref().expect("daemon")
    }

    /// `/dev/VG/LV` of a new LV with a fresh ext4.
    pub fn ext4_lv(&self, lv: &str, size: &str) -> String {
        self.lvm().ok(&["lvcreate", "-L", size, "-n", lv, &self.vg]);
        let dev = format!("/dev/{}/{lv}", self.vg);
        wait_exists(Path::new(&dev));
        sh("mkfs.ext4", &["-q", "-F", &dev]);
        dev
    }
}
