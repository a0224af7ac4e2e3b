//! dm-clone through the daemon: background hydration on threads, the
//! completion event, the progress message, NBD reads while hydrating, and
//! the switch to a linear table once done.

mod common;

use common::{Daemon, TestDir};
use ulvm_blockdev::{BlockDevice, FileDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

#[test]
fn test_clone_hydrates_in_the_background_and_becomes_linear() {
    let t = TestDir::new("clone");
    let (src, dst, meta) = (t.image("src.img", 16), t.image("dst.img", 16), t.image("meta.img", 4));
    let data = stamped(16 << 20, 9, 0);
    let s = FileDevice::open(&src, false).unwrap();
    s.write(Sectors(0), &data).unwrap();
    s.flush().unwrap();
    let d = Daemon::start(&t.path("run"), &[]);
    let table = format!(
        "0 32768 clone {} {} {} 64 1 no_hydration 2 hydration_batch_size 16",
        meta.display(),
        dst.display(),
        src.display()
    );
    d.ok(&["create", "cl", "--table", &table]);
    // Reads before any hydration come from the source.
    let c = NbdClient::connect_unix(&d.nbd_socket(), "cl").unwrap();
    let mut got = vec![0u8; 1 << 20];
    c.read(Sectors(2048), &mut got).unwrap();
    assert!(got[..] == data[1 << 20..2 << 20]);
    drop(c);
    let ev: u32 = d
        .ok(&["info", "cl"])
        .lines()
        .find(|l| l.starts_with("Event number:"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let once = d.ok(&["status", "--progress", "cl"]);
    assert!(once.lines().nth(1).is_some_and(|l| l.starts_with("  0/512 regions hydrated")), "{once}");
    d.ok(&["message", "cl", "0", "enable_hydration"]);
    // The interval report runs until every region is hydrated.
    let report = d.ok(&["status", "--progress", "-i", "0.05", "cl"]);
    assert!(report.lines().last().is_some_and(|l| l.starts_with("  512/512 regions hydrated")), "{report}");
    d.ok(&["wait", "cl", &ev.to_string()]);
    let status = d.ok(&["status", "cl"]);
    assert!(status.contains(" 512/512 0 0 4 hydration_threshold 1 hydration_batch_size 16 rw"), "{status}");
    assert!(d.ok(&["message", "cl", "0", "progress"]).starts_with("512/512 regions hydrated"));
    assert!(std::fs::read(&dst).unwrap() == data, "the destination holds the source");
    // Done: a plain linear table onto the destination.
    d.ok(&["load", "cl", "--table", &format!("0 32768 linear {} 0", dst.display())]);
    d.ok(&["suspend", "cl"]);
    d.ok(&["resume", "cl"]);
    assert_eq!(d.ok(&["table", "cl"]).split_whitespace().nth(2), Some("linear"));
    let err = d.fails(&["message", "cl", "0", "enable_hydration"]);
    assert!(err.contains("message"), "{err}");
    d.stop();
}

#[test]
fn test_clone_of_a_remote_source_survives_a_server_restart() {
    if !common::require(common::have("nbdkit", "--version"), "nbdkit is not installed") {
        return;
    }
    let t = TestDir::new("clone-remote");
    let (src, dst, meta) = (t.image("src.img", 16), t.image("dst.img", 16), t.image("meta.img", 4));
    let data = stamped(16 << 20, 11, 0);
    let s = FileDevice::open(&src, false).unwrap();
    s.write(Sectors(0), &data).unwrap();
    s.flush().unwrap();
    let sock = t.path("src.sock");
    let mut server = common::Nbdkit::start(&sock, &src, "2ms");
    let d = Daemon::start(&t.path("run"), &[]);
    let uri = format!("nbd+unix:///?socket={}", sock.display());
    let table = format!("0 32768 clone {} {} {uri} 128 0 2 hydration_batch_size 4", meta.display(), dst.display());
    d.ok(&["create", "cl", "--table", &table]);
    // The source shows as an NBD device number, as the kernel would print it.
    let tl = d.ok(&["table", "cl"]);
    assert!(tl.split_whitespace().nth(5).is_some_and(|n| n.starts_with("43:")), "{tl}");
    // Used while it hydrates: a write, and reads through the clone.
    let c = NbdClient::connect_unix(&d.nbd_socket(), "cl").unwrap();
    c.write(Sectors(4096), &[0x5a; 4096]).unwrap();
    let mut got = vec![0u8; 65536];
    c.read(Sectors(8192), &mut got).unwrap();
    assert!(got[..] == data[8192 * 512..8192 * 512 + 65536]);
    drop(c);
    // The source server dies halfway and comes back.
    let hydrated = || -> u64 {
        let st = d.ok(&["status", "cl"]);
        st.split_whitespace().nth(6).unwrap().split('/').next().unwrap().parse().unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while hydrated() < 30 {
        assert!(std::time::Instant::now() < deadline, "no hydration progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(server);
    let before = hydrated();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(hydrated() < 256, "hydration finished without its source?");
    server = common::Nbdkit::start(&sock, &src, "0ms");
    while hydrated() < 256 {
        assert!(std::time::Instant::now() < deadline, "hydration did not resume (stuck at {})", hydrated());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(before < 256);
    d.ok(&["suspend", "cl"]);
    let mut want = data.clone();
    want[4096 * 512..4096 * 512 + 4096].fill(0x5a);
    assert!(std::fs::read(&dst).unwrap() == want, "the destination is the source plus the write");
    d.ok(&["remove", "cl"]);
    d.stop();
    drop(server);
}

/// The remote end to end, as root: an ext4 image served by nbdkit
/// with a delay, cloned, mounted through FUSE + loop and used while it
/// hydrates; the server is killed and restarted halfway; the result
/// passes e2fsck and holds the old files and the new one.
#[test]
fn test_mounted_ext4_clone_of_a_remote_image_while_it_hydrates() {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !common::require(root, "needs root for loop devices and mount")
        || !common::require(std::path::Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        || !common::require(common::have("nbdkit", "--version"), "nbdkit is not installed")
        || !common::require(common::have("mkfs.ext4", "-V"), "e2fsprogs is not installed")
    {
        return;
    }
    let sh = |cmd: &str, args: &[&str]| {
        let o = std::process::Command::new(cmd).args(args).output().unwrap();
        assert!(o.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let t = TestDir::new("clone-ext4");
    let files = t.path("files");
    std::fs::create_dir_all(&files).unwrap();
    for i in 0..20 {
        std::fs::write(files.join(format!("f{i}")), stamped(256 << 10, 40 + i, 0)).unwrap();
    }
    let src = t.path("src.img");
    sh("mkfs.ext4", &["-q", "-F", "-d", files.to_str().unwrap(), src.to_str().unwrap(), "48M"]);
    let (dst, meta) = (t.image("dst.img", 48), t.image("meta.img", 4));
    let sock = t.path("src.sock");
    let mut server = common::Nbdkit::start(&sock, &src, "3ms");
    let devs = t.path("devs");
    let d = Daemon::start(&t.path("run"), &["--fuse-dir", devs.to_str().unwrap(), "--attach-loop"]);
    let name = format!("ulvmcl{}", std::process::id());
    let table = format!(
        "0 98304 clone {} {} nbd+unix:///?socket={} 128 0 4 hydration_threshold 2 hydration_batch_size 4",
        meta.display(),
        dst.display(),
        sock.display()
    );
    d.ok(&["create", &name, "--table", &table]);
    let dev = format!("/dev/mapper/{name}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::path::Path::new(&dev).exists() {
        assert!(std::time::Instant::now() < deadline, "{dev} did not appear");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mnt = t.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    sh("mount", &[&dev, mnt.to_str().unwrap()]);
    for i in [0u64, 7, 19] {
        assert!(std::fs::read(mnt.join(format!("f{i}"))).unwrap() == stamped(256 << 10, 40 + i, 0), "file f{i}");
    }
    std::fs::write(mnt.join("new"), b"written while hydrating\n").unwrap();
    sh("sync", &[]);
    // The server dies and comes back; the mounted clone waits and goes on.
    drop(server);
    std::thread::sleep(std::time::Duration::from_millis(300));
    server = common::Nbdkit::start(&sock, &src, "0ms");
    let hydrated = || {
        let st = d.ok(&["status", &name]);
        let c = st.split_whitespace().nth(6).unwrap().to_string();
        let (a, b) = c.split_once('/').unwrap();
        (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while hydrated().0 < hydrated().1 {
        assert!(std::time::Instant::now() < deadline, "hydration did not finish");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(mnt.join("new")).unwrap(), "written while hydrating\n");
    sh("umount", &[mnt.to_str().unwrap()]);
    d.ok(&["remove", &name]);
    d.stop();
    drop(server);
    // The destination alone is the filesystem now.
    sh("e2fsck", &["-fn", dst.to_str().unwrap()]);
}
