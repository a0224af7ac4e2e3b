//! The seed articles' LVM walk-through with a real filesystem, as root:
//! pvcreate, vgcreate, lvcreate, mkfs.ext4 on /dev/VG/LV, mount, files,
//! lvextend + resize2fs, a snapshot mounted read-only with the old files,
//! lvconvert --merge back to it, e2fsck clean. The kernel sees the LVs as
//! loop devices over the daemon's FUSE files. Skips with a reason without
//! root, FUSE or the tools; CI has them.

mod common;

use common::{have, mount, require, sh, wait_exists, Daemon, TestDir, ULVM};
use std::path::Path;
use std::process::Command;

#[test]
fn test_lvm_walkthrough_with_ext4_snapshot_and_merge() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !require(root, "needs root for loop devices and mount")
        || !require(Path::new("/dev/fuse").exists(), "/dev/fuse is missing")
        || !require(have("fusermount3", "--version"), "fusermount3 (fuse3) is not installed")
        || !require(have("mkfs.ext4", "-V"), "e2fsprogs is not installed")
    {
        return;
    }
    let t = TestDir::new("lvm-fs");
    let pv = t.image("pv.img", 256);
    let devs = t.path("devs");
    let run = t.path("run");
    let sys = t.path("sys");
    let d = Daemon::start(
        &run,
        &["--fuse-dir", devs.to_str().unwrap(), "--attach-loop", "--system-dir", sys.to_str().unwrap()],
    );
    let vg = format!("ulvmfs{}", std::process::id());
    let lvm = |args: &[&str]| {
        let o = Command::new(ULVM).args(args).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &run).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    lvm(&["pvcreate", pv.to_str().unwrap()]);
    lvm(&["vgcreate", &vg, pv.to_str().unwrap()]);
    lvm(&["lvcreate", "-L", "64M", "-n", "data", &vg]);
    let dev = format!("/dev/{vg}/data");
    wait_exists(Path::new(&dev));
    sh("mkfs.ext4", &["-q", "-F", &dev]);
    // resize2fs refuses an unmounted ext4 that was mounted after its last
    // check (mkfs counts as one), which it tells at one-second resolution:
    // let a second pass before the mount, as it does on a real host, so
    // that `lvextend -r` must check the file system first, as LVM's fsadm
    // does.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    {
        let m = mount(&dev, &t.path("mnt"), "rw");
        std::fs::write(m.0.join("before.txt"), "written before the snapshot\n").unwrap();
        sh("sync", &[]);
    }
    // lvextend -r / lvreduce -r: the filesystem follows the LV (the loop
    // device follows the LV's size).
    let block_count = || {
        let h = sh("dumpe2fs", &["-h", &dev]);
        let field = |name: &str| -> u64 {
            let l = h.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}"));
            l.split_whitespace().last().unwrap().parse().unwrap()
        };
        field("Block count:") * field("Block size:")
    };
    lvm(&["lvextend", "-r", "-L", "+64M", &format!("{vg}/data")]);
    assert_eq!(block_count(), 128 << 20, "ext4 did not grow with the LV");
    lvm(&["lvreduce", "-r", "-f", "-L", "96M", &format!("{vg}/data")]);
    assert_eq!(block_count(), 96 << 20, "ext4 did not shrink before the LV");
    sh("e2fsck", &["-fn", &dev]);
    // A snapshot while mounted; new files after it; the snapshot shows the past.
    let m = mount(&dev, &t.path("mnt"), "rw");
    lvm(&["lvcreate", "-s", "-L", "32M", "-n", "snap", &format!("{vg}/data")]);
    std::fs::write(m.0.join("after.txt"), "written after the snapshot\n").unwrap();
    std::fs::write(m.0.join("before.txt"), "changed after the snapshot\n").unwrap();
    sh("sync", &[]);
    let snapdev = format!("/dev/{vg}/snap");
    wait_exists(Path::new(&snapdev));
    {
        let s = mount(&snapdev, &t.path("snapmnt"), "ro,noload");
        assert_eq!(std::fs::read_to_string(s.0.join("before.txt")).unwrap(), "written before the snapshot\n");
        assert!(!s.0.join("after.txt").exists());
    }
    drop(m);
    // Roll back: merge the snapshot into the closed origin.
    let out = lvm(&["lvconvert", "--merge", "-i", "1", &format!("{vg}/snap")]);
    assert!(out.contains("Merge of snapshot into logical volume"), "{out}");
    sh("e2fsck", &["-fn", &dev]);
    {
        let m = mount(&dev, &t.path("mnt"), "rw");
        assert_eq!(std::fs::read_to_string(m.0.join("before.txt")).unwrap(), "written before the snapshot\n");
        assert!(!m.0.join("after.txt").exists(), "the merge must roll back files made after the snapshot");
    }
    lvm(&["vgchange", "-an", &vg]);
    assert!(!Path::new(&dev).exists(), "/dev/VG/LV goes with the LV");
    lvm(&["vgremove", "-f", &vg]);
    d.stop();
}
