//! Installed use: `ulvm install --prefix DIR` into a temporary prefix, the
//! LVM walk-through through the installed links (`pvcreate`, `lvm vgs`,
//! `dmsetup`), every LVM command's usage through its link, the installed
//! systemd units under `systemd-analyze verify`, and the daemon's
//! readiness message to systemd (`Type=notify`).

mod common;

use common::{have, Daemon, TestDir, ULVM};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `ulvm install --prefix PREFIX ARGS`, which must succeed.
fn install(prefix: &Path, args: &[&str]) {
    let o = Command::new(ULVM).arg("install").arg("--prefix").arg(prefix).args(args).output().unwrap();
    assert!(o.status.success(), "install failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// An installed command `sbin/NAME ARGS` with a system and run directory.
fn run(sbin: &Path, name: &str, args: &[&str], sys: &Path, run_dir: &Path) -> Output {
    Command::new(sbin.join(name))
        .args(args)
        .env("ULVM_SYSTEM_DIR", sys)
        .env("ULVM_RUN_DIR", run_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The LVM commands as `ulvm --help` lists them (generated from the
/// binary's command table), without the `lvm` entry.
fn lvm_commands() -> Vec<String> {
    let help = ok(Command::new(ULVM).arg("--help").output().unwrap(), "ulvm --help");
    let list = help.split_once("LVM commands").expect("ulvm --help lists the LVM commands").1;
    let cmds: Vec<String> = list
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "lvm")
        .map(String::from)
        .collect();
    assert!(cmds.len() > 20 && cmds.iter().any(|c| c == "lvcreate"), "{cmds:?}");
    cmds
}

#[test]
fn test_install_into_prefix_links_run_the_lvm_walkthrough() {
    let t = TestDir::new("install");
    let prefix = t.path("prefix");
    std::fs::create_dir(&prefix).unwrap();
    install(&prefix, &[]);
    let sbin = prefix.join("sbin");
    let bin = sbin.join("ulvm");
    assert_eq!(std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777, 0o755);
    for name in lvm_commands().iter().map(String::as_str).chain(["lvm", "dmsetup"]) {
        assert_eq!(std::fs::read_link(sbin.join(name)).unwrap(), Path::new("ulvm"), "{name}");
    }
    let text = std::fs::read_to_string(prefix.join("lib/systemd/system/ulvm.service")).unwrap();
    assert!(text.contains(&format!("ExecStart={} ", bin.display())), "ulvm.service: {text}");

    // The walk-through through the links: file PVs, no daemon until activation.
    let (sys, run_dir) = (t.path("sys"), t.path("run"));
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (ap, bp) = (a.to_str().unwrap(), b.to_str().unwrap());
    let lvm = |name: &str, args: &[&str]| ok(run(&sbin, name, args, &sys, &run_dir), &format!("{name} {args:?}"));
    assert_eq!(lvm("pvcreate", &[ap]), format!("  Physical volume \"{ap}\" successfully created.\n"));
    assert!(lvm("vgcreate", &["vg0", ap, bp]).ends_with("  Volume group \"vg0\" successfully created\n"));
    assert_eq!(lvm("lvcreate", &["-an", "-L", "8M", "-n", "data", "vg0"]), "  Logical volume \"data\" created.\n");
    assert_eq!(lvm("lvs", &["--noheadings", "-o", "lv_name,lv_attr,lv_size"]), "  data -wi------- 8.00m\n");
    assert_eq!(
        lvm("lvm", &["vgs", "--noheadings", "-o", "vg_name,pv_count,lv_count"]),
        lvm("vgs", &["--noheadings", "-o", "vg_name,pv_count,lv_count"])
    );
    assert_eq!(lvm("lvm", &["vgs", "--noheadings", "-o", "vg_name,pv_count,lv_count"]), "  vg0   2   1\n");

    // Activation needs the daemon; dmsetup through its link sees the LV.
    let d = Daemon::start(&run_dir, &[]);
    assert_eq!(lvm("lvchange", &["-ay", "vg0/data"]), "");
    assert_eq!(lvm("dmsetup", &["ls"]).split_whitespace().next(), Some("vg0-data"));
    assert_eq!(lvm("vgchange", &["-an", "vg0"]), "  0 logical volume(s) in volume group \"vg0\" now active\n");
    drop(d);

    // Again, from the installed binary itself: everything is replaced in place.
    let o = Command::new(&bin).arg("install").arg("--prefix").arg(&prefix).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(lvm("lvm", &["vgs", "--noheadings", "-o", "vg_name"]), "  vg0\n");
    let leftovers: Vec<_> = std::fs::read_dir(&sbin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn test_install_refuses_a_prefix_that_is_not_a_directory_or_a_foreign_lvm() {
    let t = TestDir::new("install-refused");
    let file = t.path("file");
    std::fs::write(&file, "x").unwrap();
    for prefix in [file.clone(), t.path("missing")] {
        let o = Command::new(ULVM).arg("install").arg("--prefix").arg(&prefix).output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("ulvm: install: --prefix {}: ", prefix.display())), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    assert!(!t.path("missing").exists());

    // A real LVM's `lvm` in the way is left alone, and nothing is installed.
    let prefix = t.path("prefix");
    std::fs::create_dir_all(prefix.join("sbin")).unwrap();
    std::os::unix::fs::symlink("/sbin/lvm", prefix.join("sbin/lvm")).unwrap();
    let o = Command::new(ULVM).arg("install").arg("--prefix").arg(&prefix).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sbin/lvm is in the way"));
    assert!(!prefix.join("sbin/ulvm").exists() && !prefix.join("lib").exists());
    assert_eq!(std::fs::read_link(prefix.join("sbin/lvm")).unwrap(), Path::new("/sbin/lvm"));

    // --dry-run says what it would do and does nothing.
    let empty = t.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = Command::new(ULVM).arg("install").arg("--prefix").arg(&empty).arg("--dry-run").output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("ln -sf ulvm {}/sbin/lvcreate", empty.display())));
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn test_lvm_commands_help_through_links_prints_usage_exit_0() {
    let t = TestDir::new("install-help");
    install(&t.0, &[]);
    let sbin = t.path("sbin");
    let (sys, run_dir) = (t.path("sys"), t.path("run"));
    let help = ok(Command::new(ULVM).arg("--help").output().unwrap(), "ulvm --help");
    for sub in ["daemon", "dmsetup", "install", "lvm "] {
        assert!(help.contains(&format!("\n  {sub}")), "ulvm --help does not list {sub}:\n{help}");
    }
    let listed = ok(run(&sbin, "lvm", &["help"], &sys, &run_dir), "lvm help");
    for cmd in lvm_commands() {
        assert!(listed.contains(&format!("\n  {cmd} ")), "lvm help does not list {cmd}");
        let first = ok(run(&sbin, &cmd, &["--help"], &sys, &run_dir), &format!("{cmd} --help"));
        assert!(first.starts_with(&format!("  {cmd} - ")), "{cmd} --help:\n{first}");
        assert!(first.contains(&format!("\n  {cmd}")), "{cmd} --help has no usage line:\n{first}");
        assert!(first.contains("[ COMMON_OPTIONS ]") && first.contains("Common options for lvm:"), "{cmd}");
        for args in [&["-h"][..], &["-?"], &["-h", "vg0"]] {
            assert_eq!(ok(run(&sbin, &cmd, args, &sys, &run_dir), &format!("{cmd} {args:?}")), first, "{cmd} {args:?}");
        }
        assert_eq!(ok(run(&sbin, "lvm", &["help", &cmd], &sys, &run_dir), "lvm help"), first);
        assert_eq!(ok(Command::new(ULVM).args([cmd.as_str(), "--help"]).output().unwrap(), "ulvm"), first);
    }
    assert!(!sys.exists(), "--help touched the system directory");
    let o = run(&sbin, "lvm", &["frobnicate"], &sys, &run_dir);
    assert_eq!(o.status.code(), Some(3));
    assert!(ok(run(&sbin, "lvm", &["version"], &sys, &run_dir), "lvm version").contains("ulvm"));
}

#[test]
fn test_installed_units_pass_systemd_analyze_verify() {
    if !have("systemd-analyze", "--version") {
        eprintln!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let t = TestDir::new("install-units");
    let unit_dir = t.path("units");
    install(&t.0, &["--unit-dir", unit_dir.to_str().unwrap()]);
    let units: Vec<PathBuf> = ["ulvm.service"].iter().map(|u| unit_dir.join(u)).collect();
    let o = Command::new("systemd-analyze").arg("verify").args(&units).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // Warnings (an unknown key, a missing command) name our units or paths;
    // lines about units of the host are not ours to judge.
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("ulvm")).collect();
    assert!(o.status.success() && ours.is_empty(), "systemd-analyze verify: {err}");
    for u in &units {
        assert!(std::fs::read_to_string(u).unwrap().contains(&format!("ExecStart={}/sbin/ulvm ", t.0.display())));
    }
}

#[test]
fn test_daemon_with_notify_socket_sends_ready_then_stopping() {
    let t = TestDir::new("install-notify");
    let sock_path = t.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let run_dir = t.path("run");
    let mut child = Command::new(ULVM)
        .args(["daemon", "--run-dir", run_dir.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("no READY=1 from the daemon");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means ready: the sockets answer now.
    std::os::unix::net::UnixStream::connect(run_dir.join("control.sock")).expect("control.sock after READY=1");
    std::os::unix::net::UnixStream::connect(run_dir.join("nbd.sock")).expect("nbd.sock after READY=1");
    // SAFETY: kill with the pid of our own child.
    unsafe { libc_kill(child.id() as i32, 15) };
    let n = sock.recv(&mut buf).expect("no STOPPING=1 from the daemon");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());

    // systemd may name an abstract socket: `@NAME`.
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ulvm-notify-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let d_run = t.path("run2");
    let mut child = Command::new(ULVM)
        .args(["daemon", "--run-dir", d_run.to_str().unwrap()])
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let n = sock.recv(&mut buf).expect("no READY=1 on the abstract socket");
    assert_eq!(&buf[..n], b"READY=1");
    // SAFETY: as above.
    unsafe { libc_kill(child.id() as i32, 15) };
    assert!(child.wait().unwrap().success());
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn test_daemon_log_target_syslog_sends_rfc3164_lines() {
    let t = TestDir::new("install-syslog");
    let log = t.path("log");
    let server = UnixDatagram::bind(&log).unwrap();
    server.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let run_dir = t.path("run");
    let d = Daemon::start(&run_dir, &["--log-target", "syslog", "--syslog-socket", log.to_str().unwrap()]);
    let mut lines = Vec::new();
    let mut buf = [0u8; 1024];
    while !lines.iter().any(|l: &String| l.contains("daemon: ready")) {
        let n = server.recv(&mut buf).expect("no 'daemon: ready' on the syslog socket");
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ready = lines.last().unwrap();
    // <30>: facility daemon (3) * 8 + info (6); then the time, the tag and pid.
    assert!(ready.starts_with("<30>"), "{ready}");
    assert!(ready.contains(&format!(" ulvm[{}]: daemon: ready", d.pid())), "{ready}");
    assert!(d.log().is_empty(), "with syslog, nothing on stderr: {}", d.log());
    drop(d);

    // No syslog socket: one error line, and no daemon.
    let o = Command::new(ULVM)
        .args(["daemon", "--run-dir", t.path("run2").to_str().unwrap(), "--log-target", "syslog"])
        .args(["--syslog-socket", t.path("nolog").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("ulvm: --log-target syslog: "), "{err}");
}
