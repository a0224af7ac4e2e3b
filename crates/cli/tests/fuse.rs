//! The FUSE export: device files, and as root the whole chain with the
//! kernel: loop device, mkfs.ext4, mount, files, snapshot mounted
//! read-only with the old files, e2fsck clean. Skips with a reason when
//! FUSE, root or the tools are missing; CI has them.

mod common;
use common::*;
use std::os::unix::fs::FileExt;
use std::process::Command;

fn fuse_available() -> bool {
    if !require(std::path::Path::new("/dev/fuse").exists(), "/dev/fuse is missing") {
        eprintln!("skipping: /dev/fuse is missing");
        return false;
    }
    if !have("fusermount3", "--version") {
        eprintln!("skipping: fusermount3 (Debian fuse3) is not installed");
        return false;
    }
    true
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn test_fuse_files_read_write_and_punch_holes() {
    if !fuse_available() {
        return;
    }
    let dir = TestDir::new("fuse");
    let disk = dir.image("disk.img", 8);
    let devs = dir.path("devs");
    let d = Daemon::start(&dir.path("run"), &["--fuse-dir", devs.to_str().unwrap()]);
    d.ok(&["create", "lin", "--table", &format!("0 16384 linear {} 0", disk.display())]);
    d.ok(&["create", "ro", "-r", "--table", "0 64 zero"]);
    let mut names: Vec<String> =
        std::fs::read_dir(&devs).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["lin", "ro"]);
    assert_eq!(std::fs::metadata(devs.join("lin")).unwrap().len(), 8 << 20);
    let f = std::fs::OpenOptions::new().read(true).write(true).open(devs.join("lin")).unwrap();
    f.write_all_at(b"unaligned write", 1000).unwrap();
    f.write_all_at(&vec![0xee; 1 << 20], 2 << 20).unwrap();
    f.sync_all().unwrap();
    let mut b = vec![0u8; 15];
    f.read_exact_at(&mut b, 1000).unwrap();
    assert_eq!(&b, b"unaligned write");
    let on_disk = std::fs::read(&disk).unwrap();
    assert_eq!(&on_disk[1000..1015], b"unaligned write");
    assert!(on_disk[2 << 20..3 << 20].iter().all(|&x| x == 0xee));
    // fallocate(PUNCH_HOLE) reaches the device as zeroes.
    let out = Command::new("fallocate")
        .args(["--punch-hole", "--keep-size", "--offset", "2097152", "--length", "524288"])
        .arg(devs.join("lin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut b = vec![1u8; 1 << 20];
    f.read_exact_at(&mut b, 2 << 20).unwrap();
    assert!(b[..512 << 10].iter().all(|&x| x == 0) && b[512 << 10..].iter().all(|&x| x == 0xee));
    drop(f);
    assert!(std::fs::OpenOptions::new().write(true).open(devs.join("ro")).is_err(), "read-only device file");
    // An open file counts as an open of the device.
    let held = std::fs::File::open(devs.join("lin")).unwrap();
    assert!(d.fails(&["remove", "lin"]).contains("busy"));
    drop(held);
    d.ok(&["remove", "lin"]);
    assert!(!devs.join("lin").exists());
    assert_eq!(d.stop(), Some(0));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(devs.to_str().unwrap()), "unmounted on shutdown");
}

#[test]
fn test_mkfs_mount_snapshot_and_fsck_through_loop_devices() {
    if !fuse_available() {
        return;
    }
    if !require(is_root(), "not root") {
        eprintln!("skipping: loop devices and mount need root");
        return;
    }
    for (t, a) in [("losetup", "--version"), ("mkfs.ext4", "-V"), ("e2fsck", "-V")] {
        if !have(t, a) {
            eprintln!("skipping: {t} is not installed");
            return;
        }
    }
    let dir = TestDir::new("mkfs");
    let origin = dir.image("origin.img", 256);
    let cow = dir.image("cow.img", 256);
    let devs = dir.path("devs");
    let (o, c) = (origin.display().to_string(), cow.display().to_string());
    // Unique names: /dev/mapper is shared by the whole machine.
    let base = format!("ulvmtest{}-base", std::process::id());
    let snap = format!("ulvmtest{}-snap", std::process::id());
    let (bdev, sdev) = (format!("/dev/mapper/{base}"), format!("/dev/mapper/{snap}"));
    let d = Daemon::start(&dir.path("run"), &["--fuse-dir", devs.to_str().unwrap(), "--attach-loop"]);
    d.ok(&["create", &base, "--table", &format!("0 524288 snapshot-origin {o}")]);
    assert!(std::fs::read_link(&bdev).unwrap().to_string_lossy().starts_with("/dev/loop"));
    run("mkfs.ext4", &["-q", "-F", &bdev]);
    let mnt = dir.path("mnt");
    let smnt = dir.path("smnt");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&smnt).unwrap();
    run("mount", &[&bdev, mnt.to_str().unwrap()]);
    let guard = Unmount(vec![smnt.clone(), mnt.clone()]);
    std::fs::write(mnt.join("before.txt"), "written before the snapshot\n").unwrap();
    std::fs::write(mnt.join("big.bin"), vec![0x5a; 8 << 20]).unwrap();
    run("sync", &[]);
    d.ok(&["create", &snap, "--table", &format!("0 524288 snapshot {o} {c} P 16")]);
    std::fs::write(mnt.join("after.txt"), "written after the snapshot\n").unwrap();
    std::fs::write(mnt.join("big.bin"), vec![0xa5; 8 << 20]).unwrap();
    run("sync", &[]);
    run("mount", &["-o", "ro,noload", &sdev, smnt.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(smnt.join("before.txt")).unwrap(), "written before the snapshot\n");
    assert!(!smnt.join("after.txt").exists(), "the snapshot must not show later files");
    assert!(std::fs::read(smnt.join("big.bin")).unwrap().iter().all(|&b| b == 0x5a));
    assert!(std::fs::read(mnt.join("big.bin")).unwrap().iter().all(|&b| b == 0xa5));
    drop(guard);
    let out = Command::new("e2fsck").args(["-fn", &bdev]).output().unwrap();
    assert!(out.status.success(), "e2fsck origin: {}", String::from_utf8_lossy(&out.stdout));
    let st = d.ok(&["status", &snap]);
    assert!(!st.contains("Invalid"), "{st}");
    d.ok(&["remove", &snap]);
    d.ok(&["remove", &base]);
    assert!(!std::path::Path::new(&bdev).exists());
}

/// Unmounts (lazily, so a failing test never leaves mounts behind).
struct Unmount(Vec<std::path::PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for m in &self.0 {
            let _ = Command::new("umount").arg(m).output();
        }
    }
}
