//! The real binary end to end: the daemon on temp files, `ulvm dmsetup`,
//! and NBD clients, following the kernel's snapshot document.

mod common;
use common::*;
use std::time::{Duration, Instant};
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;

fn label(text: &str) -> Vec<u8> {
    let mut b = vec![0u8; 8192];
    b[..text.len()].copy_from_slice(text.as_bytes());
    b
}

#[test]
fn test_kernel_document_sequence_through_daemon_and_nbd() {
    let dir = TestDir::new("doc");
    let origin = dir.image("origin.img", 64);
    let cow = dir.image("cow.img", 16);
    let d = Daemon::start(&dir.path("run"), &["--merge-batch", "512k"]);
    let (o, c) = (origin.display().to_string(), cow.display().to_string());
    assert_eq!(d.ok(&["create", "base", "--table", &format!("0 131072 snapshot-origin {o}")]), "");
    d.ok(&["create", "snap", "--table", &format!("0 131072 snapshot {o} {c} P 16")]);
    assert_eq!(d.ok(&["status"]), "base: 0 131072 snapshot-origin \nsnap: 0 131072 snapshot 32/32768 32\n");
    assert_eq!(d.ok(&["table", "snap"]), "0 131072 snapshot 240:0 240:1 P 16\n");
    assert_eq!(d.ok(&["ls"]), "base\t(253:0)\nsnap\t(253:1)\n");
    assert_eq!(d.ok(&["ls", "--tree"]), "base (253:0)\n `- (240:0)\nsnap (253:1)\n |- (240:1)\n `- (240:0)\n");

    let base = NbdClient::connect_unix(&d.nbd_socket(), "base").unwrap();
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "snap").unwrap();
    let before = snap.read_at(0, 1 << 20).unwrap();
    for ch in [0u64, 5, 100] {
        base.write_at(ch * 8192, &label(&format!("NEW ORIGIN DATA chunk {ch}")), false).unwrap();
    }
    snap.write_at(7 * 8192, &label("WRITTEN TO SNAPSHOT chunk 7"), true).unwrap();
    base.write_at(1024 * 8192, &vec![0u8; 1 << 20], true).unwrap();
    base.flush().unwrap();
    assert_eq!(d.ok(&["status", "snap"]), "0 131072 snapshot 2144/32768 32\n");
    assert_eq!(
        d.ok(&["info", "-c", "-o", "name,open"]),
        "Name             Open\nbase                1\nsnap                1\n"
    );
    let now = snap.read_at(0, 1 << 20).unwrap();
    assert_eq!(&now[..7 * 8192], &before[..7 * 8192], "snapshot unchanged by origin writes");
    assert!(now[7 * 8192..].starts_with(b"WRITTEN TO SNAPSHOT chunk 7"));
    assert!(base.read_at(0, 8192).unwrap().starts_with(b"NEW ORIGIN DATA chunk 0"));
    drop(snap);

    // The merge, as LVM2 does it in the kernel document.
    d.ok(&["suspend", "base"]);
    d.ok(&["suspend", "snap"]);
    d.ok(&["load", "base", "--table", &format!("0 131072 snapshot-merge {o} {c} P 16")]);
    d.ok(&["load", "snap", "--table", "0 131072 error"]);
    d.ok(&["resume", "base"]);
    d.ok(&["resume", "snap"]);
    assert_eq!(d.ok(&["table", "base"]), "0 131072 snapshot-merge 240:0 240:1 P 16\n");
    assert_eq!(d.ok(&["status", "snap"]), "0 131072 error \n");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = u64::MAX;
    loop {
        let st = d.ok(&["status", "base"]);
        let f: Vec<&str> = st.split_whitespace().collect();
        assert_eq!(&f[..3], ["0", "131072", "snapshot-merge"], "{st}");
        let (alloc, meta): (u64, u64) = (f[3].split('/').next().unwrap().parse().unwrap(), f[4].parse().unwrap());
        assert!(alloc <= last, "status must count down: {st}");
        assert_eq!(f[3].split('/').nth(1), Some("32768"));
        last = alloc;
        if alloc == meta {
            assert_eq!(st, "0 131072 snapshot-merge 32/32768 32\n");
            break;
        }
        assert!(Instant::now() < deadline, "merge did not finish: {st}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The origin now holds what the snapshot showed.
    assert!(base.read_at(0, 8192).unwrap().starts_with(&before[..64]));
    assert!(base.read_at(7 * 8192, 8192).unwrap().starts_with(b"WRITTEN TO SNAPSHOT chunk 7"));
    drop(base);
    d.ok(&["suspend", "base"]);
    d.ok(&["load", "base", "--table", &format!("0 131072 linear {o} 0")]);
    d.ok(&["resume", "base"]);
    d.ok(&["remove", "snap"]);
    assert_eq!(d.ok(&["table"]), format!("base: 0 131072 linear 240:0 0\n"));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn test_bad_input_gets_one_clear_error_and_changes_nothing() {
    let dir = TestDir::new("bad");
    let disk = dir.image("disk.img", 1);
    let dk = disk.display().to_string();
    let d = Daemon::start(&dir.path("run"), &[]);
    d.ok(&["create", "lin", "--table", &format!("0 2048 linear {dk} 0")]);
    let before = d.ok(&["table"]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["create".into(), "x".into(), "--table".into(), "0 zero".into()], "invalid table line"),
        (
            vec!["create".into(), "x".into(), "--table".into(), "0 8 frobnicate".into()],
            "unknown target type 'frobnicate'",
        ),
        (vec!["create".into(), "x".into(), "--table".into(), format!("0 4096 linear {dk} 0")], "too small"),
        (vec!["create".into(), "x".into(), "--table".into(), "0 8 snapshot a b P 12".into()], "power of 2"),
        (vec!["create".into(), "lin".into(), "--table".into(), "0 8 zero".into()], "already exists"),
        (vec!["create".into(), "x".into(), "--table".into(), "0 8 linear /nonexistent 0".into()], "/nonexistent"),
        (vec!["remove".into(), "nope".into()], "Device nope not found"),
        (vec!["message".into(), "lin".into(), "0".into(), "hello".into()], "does not support messages"),
        (vec!["rename".into(), "lin".into(), "bad/name".into()], "invalid device name"),
        (vec!["frob".into()], "unknown command 'frob'"),
        (vec!["create".into(), "x".into(), "--bogus".into()], "unrecognised option '--bogus'"),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = d.fails(&a);
        assert!(e.contains(want), "{a:?}: '{e}' should mention '{want}'");
    }
    let held = NbdClient::connect_unix(&d.nbd_socket(), "lin").unwrap();
    let e = d.fails(&["remove", "lin"]);
    assert!(e.contains("busy"), "{e}");
    assert_eq!(d.ok(&["table"]), before, "nothing changed");
    assert_eq!(d.ok(&["ls"]), "lin\t(253:0)\n");
    held.write_at(0, &[1u8; 512], true).unwrap();
    drop(held);
    d.ok(&["remove", "lin"]);
    assert_eq!(d.ok(&["ls"]), "No devices found\n");
}

#[test]
fn test_second_daemon_is_refused_and_sigterm_cleans_up() {
    let dir = TestDir::new("lock");
    let run = dir.path("run");
    let d = Daemon::start(&run, &[]);
    let o = std::process::Command::new(ULVM).arg("daemon").arg("--run-dir").arg(&run).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("another ulvm daemon is running"), "{err}");
    assert!(run.join("control.sock").exists(), "the first daemon is untouched");
    assert_eq!(d.stop(), Some(0));
    assert!(!run.join("control.sock").exists() && !run.join("nbd.sock").exists() && !run.join("daemon.lock").exists());
    let o = std::process::Command::new(ULVM).args(["dmsetup", "--run-dir"]).arg(&run).arg("ls").output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot reach the ulvm daemon"));
}

#[test]
fn test_dmsetup_symlink_and_info_wait_message_targets() {
    let dir = TestDir::new("misc");
    let d = Daemon::start(&dir.path("run"), &[]);
    let link = dir.path("dmsetup");
    std::os::unix::fs::symlink(ULVM, &link).unwrap();
    let out = std::process::Command::new(&link)
        .args(["--run-dir"])
        .arg(&d.run_dir)
        .args(["create", "z", "-u", "UUID-Z", "--table", "0 8 zero"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        d.ok(&["info", "z"]),
        "Name:              z\nState:             ACTIVE\nRead Ahead:        256\nTables present:    LIVE\nOpen count:        0\n\
         Event number:      0\nMajor, minor:      253, 0\nNumber of targets: 1\nUUID: UUID-Z\n\n"
    );
    d.ok(&["suspend", "z"]);
    d.ok(&["load", "z", "--table", "0 16 zero"]);
    let info = d.ok(&["info", "z"]);
    assert!(
        info.contains("State:             SUSPENDED\n") && info.contains("Tables present:    LIVE & INACTIVE\n"),
        "{info}"
    );
    assert_eq!(d.ok(&["table", "--inactive", "z"]), "0 16 zero \n");
    d.ok(&["resume", "z"]);
    d.ok(&["rename", "z", "zz"]);
    assert_eq!(d.ok(&["status", "--target", "zero"]), "zz: 0 16 zero \n");
    assert!(d.ok(&["targets"]).starts_with("clone            v1.0.0\nsnapshot-merge   v1.5.0\n"));
    assert!(d.ok(&["version"]).contains("Driver version:    4.47.0"));
    d.ok(&["create", "ro", "-r", "--table", "0 8 zero"]);
    assert!(d.ok(&["info", "ro"]).contains("State:             ACTIVE (READ-ONLY)\n"));
    let ro = NbdClient::connect_unix(&d.nbd_socket(), "ro").unwrap();
    assert!(ro.read_only());
    assert!(ro.write(Sectors(0), &[0u8; 512]).is_err());
    drop(ro);
    d.ok(&["remove_all"]);
    assert_eq!(d.ok(&["ls"]), "No devices found\n");
}

#[test]
fn test_table_from_file_and_stdin() {
    let dir = TestDir::new("tfile");
    let d = Daemon::start(&dir.path("run"), &[]);
    std::fs::write(dir.path("t"), "0 8 zero\n8 8 error\n").unwrap();
    d.ok(&["create", "f", dir.path("t").to_str().unwrap()]);
    assert_eq!(d.ok(&["table", "f"]), "0 8 zero \n8 8 error \n");
    let mut child = std::process::Command::new(ULVM)
        .args(["dmsetup", "--run-dir"])
        .arg(&d.run_dir)
        .args(["create", "s"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"0 32 zero\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(d.ok(&["table", "s"]), "0 32 zero \n");
    d.ok(&["create", "n", "--notable"]);
    assert!(d.ok(&["info", "n"]).contains("Tables present:    None\n"));
}

/// A client's writes during suspend are held, not failed.
#[test]
fn test_suspended_device_holds_nbd_requests_until_resume() {
    let dir = TestDir::new("susp");
    let disk = dir.image("d.img", 1);
    let d = Daemon::start(&dir.path("run"), &[]);
    d.ok(&["create", "l", "--table", &format!("0 2048 linear {} 0", disk.display())]);
    let c = std::sync::Arc::new(NbdClient::connect_unix(&d.nbd_socket(), "l").unwrap());
    d.ok(&["suspend", "l"]);
    let c2 = c.clone();
    let t = std::thread::spawn(move || c2.write_at(0, &[9u8; 4096], true));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!t.is_finished(), "write completed while suspended");
    d.ok(&["resume", "l"]);
    t.join().unwrap().unwrap();
    assert_eq!(c.read_at(0, 4096).unwrap(), vec![9u8; 4096]);
    let mut b = vec![0u8; 4096];
    ulvm_blockdev::FileDevice::open(&disk, true).unwrap().read(Sectors(0), &mut b).unwrap();
    assert_eq!(b, vec![9u8; 4096]);
}

#[test]
fn test_nbd_over_tcp_when_asked() {
    let dir = TestDir::new("tcp");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start(&dir.path("run"), &["--nbd-listen", &addr]);
    d.ok(&["create", "z", "--table", "0 64 zero"]);
    let c = NbdClient::connect_tcp(&addr, "z").unwrap();
    assert_eq!(c.info().size, 64 * 512);
    assert_eq!(c.read_at(0, 512).unwrap(), vec![0u8; 512]);
    drop(c);
    assert!(d.log().contains("no authentication"), "the log warns that TCP is unauthenticated");
}

#[test]
fn test_wait_returns_on_the_next_event() {
    let dir = TestDir::new("wait");
    let origin = dir.image("o.img", 1);
    let cow = dir.image("c.img", 1);
    std::fs::OpenOptions::new().write(true).open(&cow).unwrap().set_len(16 * 512).unwrap();
    let d = Daemon::start(&dir.path("run"), &[]);
    let (o, c) = (origin.display().to_string(), cow.display().to_string());
    d.ok(&["create", "base", "--table", &format!("0 2048 snapshot-origin {o}")]);
    d.ok(&["create", "snap", "--table", &format!("0 2048 snapshot {o} {c} P 4")]);
    let run_dir = d.run_dir.clone();
    let waiter = std::thread::spawn(move || {
        std::process::Command::new(ULVM)
            .args(["dmsetup", "--run-dir"])
            .arg(&run_dir)
            .args(["wait", "snap", "0"])
            .output()
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiter.is_finished(), "wait returned before any event");
    // Overflow the 8 KiB COW through the origin: invalidation is an event.
    let base = NbdClient::connect_unix(&d.nbd_socket(), "base").unwrap();
    base.write_at(0, &vec![1u8; 64 << 10], true).unwrap();
    let out = waiter.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(d.ok(&["status", "snap"]), "0 2048 snapshot Invalid\n");
    assert!(d.ok(&["info", "snap"]).contains("Event number:      1\n"));
}

#[test]
fn test_forced_remove_of_a_device_in_use_fails_its_io_cleanly() {
    let dir = TestDir::new("force");
    let disk = dir.image("d.img", 1);
    let d = Daemon::start(&dir.path("run"), &[]);
    d.ok(&["create", "l", "--table", &format!("0 2048 linear {} 0", disk.display())]);
    let c = NbdClient::connect_unix(&d.nbd_socket(), "l").unwrap();
    c.write_at(0, &[3u8; 512], true).unwrap();
    let e = d.fails(&["remove", "--force", "l"]);
    assert!(e.contains("busy"), "{e}");
    assert_eq!(d.ok(&["table", "l"]), "0 2048 error \n", "--force replaced the table with error");
    assert!(c.read_at(0, 512).is_err(), "I/O fails cleanly");
    drop(c);
    d.ok(&["remove", "l"]);
    assert_eq!(std::fs::read(&disk).unwrap()[..512], [3u8; 512], "acknowledged data stayed on disk");
}
