//! Clients we did not write against the daemon: qemu-io, qemu-img,
//! nbdinfo and nbdcopy (Debian's qemu-utils and libnbd-bin). Each test
//! skips with a message when its tool is missing; CI installs them.

mod common;
use common::*;

fn skip_without(tools: &[(&str, &str)]) -> bool {
    for (t, arg) in tools {
        if !have(t, arg) {
            eprintln!("skipping: {t} is not installed");
            return true;
        }
    }
    false
}

fn setup(name: &str) -> (TestDir, Daemon, String) {
    let dir = TestDir::new(name);
    let origin = dir.image("origin.img", 32);
    // Room for every origin chunk plus metadata: whole-device copies fit.
    let cow = dir.image("cow.img", 40);
    let d = Daemon::start(&dir.path("run"), &[]);
    let (o, c) = (origin.display().to_string(), cow.display().to_string());
    d.ok(&["create", "base", "--table", &format!("0 65536 snapshot-origin {o}")]);
    d.ok(&["create", "snap", "--table", &format!("0 65536 snapshot {o} {c} P 16")]);
    (dir, d, o)
}

#[test]
fn test_qemu_io_and_qemu_img_through_nbd_unix_uris() {
    if skip_without(&[("qemu-io", "--version"), ("qemu-img", "--version")]) {
        return;
    }
    let (dir, d, _) = setup("qemu");
    let base = d.uri("base");
    let snap = d.uri("snap");
    let out =
        run("qemu-io", &["-f", "raw", "-c", "write -P 0x5a 0 4M", "-c", "write -P 0x33 8M 64k", "-c", "flush", &base]);
    assert!(out.contains("wrote 4194304/4194304 bytes at offset 0"), "{out}");
    let out = run("qemu-io", &["-f", "raw", "-c", "read -P 0x5a 0 4M", "-c", "read -P 0x33 8M 64k", &base]);
    assert!(out.contains("read 4194304/4194304 bytes at offset 0"), "{out}");
    let out = run("qemu-io", &["-f", "raw", "-r", "-c", "read -P 0 0 4M", &snap]);
    assert!(out.contains("read 4194304/4194304"), "snapshot still shows zeroes: {out}");
    // A pattern check that must fail, to show the checks are real.
    let bad = std::process::Command::new("qemu-io")
        .args(["-f", "raw", "-r", "-c", "read -P 0x5a 0 4k", &snap])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stdout).contains("Pattern verification failed"));
    // convert and compare
    let copy = dir.path("copy.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", &base, copy.to_str().unwrap()]);
    let out = run("qemu-img", &["compare", "-f", "raw", "-F", "qcow2", &base, copy.to_str().unwrap()]);
    assert!(out.contains("Images are identical"), "{out}");
    let diff = std::process::Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "raw", &base, &snap])
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1), "origin and snapshot differ");
    let info = run("qemu-img", &["info", "-f", "raw", &base]);
    assert!(info.contains("virtual size: 32 MiB"), "{info}");
    // Writes through qemu-img convert into the snapshot.
    run("qemu-img", &["convert", "-n", "-f", "qcow2", "-O", "raw", copy.to_str().unwrap(), &snap]);
    let out = run("qemu-img", &["compare", "-f", "raw", "-F", "raw", &base, &snap]);
    assert!(out.contains("Images are identical"), "{out}");
}

#[test]
fn test_nbdinfo_lists_exports_sizes_and_maps_allocation() {
    if skip_without(&[("nbdinfo", "--version")]) {
        return;
    }
    let (dir, d, _) = setup("nbdinfo");
    let sparse = dir.image("sparse.img", 8);
    std::fs::write(dir.path("data"), vec![7u8; 1 << 20]).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&sparse).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &vec![1u8; 1 << 20], 2 << 20).unwrap();
    drop(f);
    d.ok(&["create", "lin", "--table", &format!("0 16384 linear {} 0", sparse.display())]);
    d.ok(&["create", "ro", "-r", "--table", "0 2048 zero"]);
    let list = run("nbdinfo", &["--list", &format!("nbd+unix:///?socket={}", d.nbd_socket().display())]);
    for e in ["export=\"base\"", "export=\"snap\"", "export=\"lin\"", "export=\"ro\""] {
        assert!(list.contains(e), "{e} missing from:\n{list}");
    }
    let size = run("nbdinfo", &["--size", &d.uri("snap")]);
    assert_eq!(size.trim(), "33554432");
    let ro = run("nbdinfo", &[&d.uri("ro")]);
    assert!(ro.contains("is_read_only: true"), "{ro}");
    let map = run("nbdinfo", &["--map", &d.uri("lin")]);
    let rows: Vec<Vec<&str>> = map.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        vec![
            vec!["0", "2097152", "3", "hole,zero"],
            vec!["2097152", "1048576", "0", "data"],
            vec!["3145728", "5242880", "3", "hole,zero"],
        ],
        "{map}"
    );
    let zmap = run("nbdinfo", &["--map", &d.uri("ro")]);
    assert!(zmap.contains("hole,zero"), "{zmap}");
}

#[test]
fn test_nbdcopy_copies_between_exports_and_files() {
    if skip_without(&[("nbdcopy", "--version"), ("qemu-io", "--version")]) {
        return;
    }
    let (dir, d, _) = setup("nbdcopy");
    run("qemu-io", &["-f", "raw", "-c", "write -P 0x42 1M 3M", &d.uri("base")]);
    let out = dir.path("out.img");
    run("nbdcopy", &[&d.uri("base"), out.to_str().unwrap()]);
    let data = std::fs::read(&out).unwrap();
    assert_eq!(data.len(), 32 << 20);
    assert!(data[1 << 20..4 << 20].iter().all(|&b| b == 0x42));
    assert!(data[..1 << 20].iter().all(|&b| b == 0));
    // File to export, with several connections (can_multi_conn).
    let src = dir.path("src.img");
    std::fs::write(&src, vec![0x77u8; 32 << 20]).unwrap();
    run("nbdcopy", &["--connections=4", src.to_str().unwrap(), &d.uri("snap")]);
    run("qemu-io", &["-f", "raw", "-r", "-c", "read -P 0x77 0 32M", &d.uri("snap")]);
    run("qemu-io", &["-f", "raw", "-r", "-c", "read -P 0x42 1M 3M", &d.uri("base")]);
}

/// The kernel drops a device's open count when its last opener closes it:
/// a script's next command right after a client exits finds the device
/// closed (`lvconvert --merge` refuses an open snapshot). qemu-io sends
/// its DISC and exits without waiting for the server; the export must let
/// go of the device as soon as that DISC is read, not after the
/// connection's workers (and their big write buffers) are torn down.
#[test]
fn test_an_nbd_client_that_exits_leaves_the_device_closed_at_once() {
    if skip_without(&[("qemu-io", "--version")]) {
        return;
    }
    let dir = TestDir::new("nbd-close");
    let img = dir.image("lin.img", 256);
    let d = Daemon::start(&dir.path("run"), &[]);
    d.ok(&["create", "lin", "--table", &format!("0 524288 linear {} 0", img.display())]);
    for round in 0..4 {
        run("qemu-io", &["-f", "raw", "-c", &format!("write -P {round} 0 256M"), &d.uri("lin")]);
        let info = d.ok(&["info", "lin"]);
        assert!(info.contains("Open count:        0"), "round {round}: still open after the client exited:\n{info}");
    }
}
