//! A real guest on a ulvm volume over vhost-user-blk: the Debian kernel
//! in `../shared/oracle` boots with the daemon's socket as `/dev/vda`
//! (qemu's vhost-user-blk-pci, the guest's virtio_blk driver). In one VM
//! run the guest makes an ext4, writes files, syncs and quiesces it; the
//! host then takes a dm snapshot of the volume through the daemon while
//! the guest keeps running, and tells the guest to go on through a marker
//! disk (`/dev/vdb`, a plain image the guest polls with direct reads);
//! the guest writes more, fscks, and stops. The host then checks both
//! file systems: the origin has what the guest wrote last, the snapshot
//! what it had when the snapshot was taken.
//!
//! Skips when the oracle is not set up, unless `ULVM_REQUIRE_ORACLE=1`.

mod common;

use common::{Daemon, TestDir, ULVM};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::oracle::oracle_dir;

const GUEST: &str = r#"#!/bin/bash
set -euo pipefail
mkfs.ext4 -q -F /dev/vda
mkdir -p /mnt
mount /dev/vda /mnt
head -c 6M /dev/urandom > /mnt/before.bin
echo "written before the snapshot" > /mnt/hello.txt
mkdir /mnt/dir && seq 1 20000 > /mnt/dir/numbers.txt
sync
# Quiesce: a read-only remount writes the journal out and marks the file
# system clean, so the snapshot is a clean ext4 (the guest stays up).
mount -o remount,ro /mnt
echo "SUM-BEFORE before.bin $(sha256sum < /mnt/before.bin | cut -d' ' -f1)"
echo "SUM-BEFORE hello.txt $(sha256sum < /mnt/hello.txt | cut -d' ' -f1)"
echo "SUM-BEFORE numbers.txt $(sha256sum < /mnt/dir/numbers.txt | cut -d' ' -f1)"
echo "READY-FOR-SNAPSHOT"
# The host writes GO at the start of /dev/vdb once the snapshot exists.
for i in $(seq 1 600); do
  if dd if=/dev/vdb bs=512 count=1 iflag=direct 2>/dev/null | head -c 2 | grep -q GO; then break; fi
  sleep 0.2
done
dd if=/dev/vdb bs=512 count=1 iflag=direct 2>/dev/null | head -c 2 | grep -q GO || { echo "no GO from the host"; exit 1; }
mount -o remount,rw /mnt
head -c 5M /dev/urandom > /mnt/after.bin
echo "written after the snapshot" > /mnt/hello.txt
rm /mnt/dir/numbers.txt
sync
echo "SUM-AFTER after.bin $(sha256sum < /mnt/after.bin | cut -d' ' -f1)"
echo "SUM-AFTER hello.txt $(sha256sum < /mnt/hello.txt | cut -d' ' -f1)"
umount /mnt
e2fsck -fn /dev/vda > /dev/null
echo "GUEST-FSCK-OK"
"#;

/// `debugfs -R "cat PATH" IMAGE | sha256sum`.
fn host_sum(image: &Path, path: &str) -> String {
    let o = Command::new("debugfs").args(["-R", &format!("cat {path}")]).arg(image).output().unwrap();
    assert!(o.status.success(), "debugfs cat {path}: {}", String::from_utf8_lossy(&o.stderr));
    let mut c = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn host_fsck(image: &Path) {
    let o = Command::new("e2fsck").arg("-fn").arg(image).output().unwrap();
    assert!(
        o.status.success(),
        "e2fsck -fn {}: {}{}",
        image.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn has_file(image: &Path, path: &str) -> bool {
    let o = Command::new("debugfs").args(["-R", &format!("stat {path}")]).arg(image).output().unwrap();
    !String::from_utf8_lossy(&o.stderr).contains("File not found")
}

fn open_count(d: &Daemon, name: &str) -> u32 {
    let info = d.ok(&["info", name]);
    let line = info.lines().find(|l| l.starts_with("Open count:")).unwrap_or_else(|| panic!("{info}"));
    line["Open count:".len()..].trim().parse().unwrap()
}

fn sums(out: &str, tag: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_string(), w.next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn test_guest_ext4_on_vhost_user_blk_with_a_live_snapshot() {
    let Some(oracle) = oracle_dir() else { return };
    if !common::require(common::have("debugfs", "-V") && common::have("e2fsck", "-V"), "e2fsprogs (debugfs, e2fsck)") {
        return;
    }
    let t = TestDir::new("vhost-kernel");
    let origin = t.image("origin.img", 128);
    let cow = t.image("cow.img", 64);
    let marker = t.image("marker.img", 1);
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let d = Daemon::start(&run, &[]);
    let sectors = (128u64 << 20) / 512;
    d.ok(&["create", "vol", "--table", &format!("0 {sectors} linear {} 0", origin.display())]);
    let sock = t.path("vol.vhost.sock");
    let o = Command::new(ULVM)
        .args(["vhost", "--run-dir"])
        .arg(&run)
        .args(["export", "vol", "--queues", "2", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    assert!(o.status.success(), "ulvm vhost export: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), sock.to_string_lossy());

    let script = t.path("guest.sh");
    std::fs::write(&script, GUEST).unwrap();
    let mut vm = Command::new(oracle.join("run-in-vm.sh"))
        .arg("-d")
        .arg(format!("vhost-user:{}", sock.display()))
        .arg("-d")
        .arg(&marker)
        .args(["-t", "400"])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut lines = BufReader::new(vm.stdout.take().unwrap()).lines();
    let mut ready = false;
    for l in lines.by_ref() {
        let l = l.unwrap();
        out.push_str(&l);
        out.push('\n');
        if l == "READY-FOR-SNAPSHOT" {
            ready = true;
            break;
        }
    }
    if !ready {
        let o = vm.wait_with_output().unwrap();
        panic!("the guest never got ready:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    }
    // The guest is up and connected: its disk counts as open (checked
    // once the VM is done, so a failure here never leaves it waiting).
    let open_while_running = open_count(&d, "vol");
    let remove_refused = !d.dmsetup(&["remove", "vol"]).status.success();
    // The snapshot, taken while the guest runs: the device-mapper sequence
    // LVM uses (the origin's table moves to -real, the origin becomes a
    // snapshot-origin of it, the snapshot joins at resume).
    d.ok(&["create", "vol-real", "--table", &format!("0 {sectors} linear {} 0", origin.display())]);
    d.ok(&["suspend", "--nolockfs", "vol"]);
    d.ok(&["load", "vol", "--table", &format!("0 {sectors} snapshot-origin /dev/mapper/vol-real")]);
    d.ok(&["create", "snap", "--table", &format!("0 {sectors} snapshot /dev/mapper/vol-real {} P 8", cow.display())]);
    d.ok(&["resume", "vol"]);
    let f = std::fs::OpenOptions::new().write(true).open(&marker).unwrap();
    f.write_all_at(b"GO", 0).unwrap();
    f.sync_all().unwrap();
    for l in lines {
        let l = l.unwrap();
        out.push_str(&l);
        out.push('\n');
    }
    let o = vm.wait_with_output().unwrap();
    assert!(o.status.success(), "guest script failed ({}):\n{out}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("GUEST-FSCK-OK"), "{out}");

    assert_eq!(open_while_running, 1, "the running VM holds its disk open");
    assert!(remove_refused, "remove is refused while the VM has the disk");
    // The VM is gone: its open went with it.
    assert_eq!(open_count(&d, "vol"), 0);
    let read_dev = |name: &str, to: &Path| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), name).unwrap();
        let mut v = vec![0u8; 128 << 20];
        c.read(Sectors(0), &mut v).unwrap();
        std::fs::write(to, &v).unwrap();
    };
    let vol_img = t.path("vol.read.img");
    let snap_img = t.path("snap.read.img");
    read_dev("vol", &vol_img);
    read_dev("snap", &snap_img);
    host_fsck(&vol_img);
    host_fsck(&snap_img);
    let before = sums(&out, "SUM-BEFORE ");
    let after = sums(&out, "SUM-AFTER ");
    assert_eq!(before.len(), 3, "{out}");
    assert_eq!(after.len(), 2, "{out}");
    // The snapshot: the file system as it was when the snapshot was taken.
    for (f, sum) in &before {
        let path = if f == "numbers.txt" { "/dir/numbers.txt".to_string() } else { format!("/{f}") };
        assert_eq!(&host_sum(&snap_img, &path), sum, "snapshot {path}");
    }
    assert!(!has_file(&snap_img, "/after.bin"), "the snapshot has no file written after it");
    // The origin: what the guest wrote last (through the snapshot-origin).
    for (f, sum) in &after {
        assert_eq!(&host_sum(&vol_img, &format!("/{f}")), sum, "origin /{f}");
    }
    let (_, before_bin) = before.iter().find(|(f, _)| f == "before.bin").unwrap();
    assert_eq!(&host_sum(&vol_img, "/before.bin"), before_bin);
    assert!(!has_file(&vol_img, "/dir/numbers.txt"), "the origin lost the file the guest removed");
    // The origin's bytes are the file's: what the daemon acknowledged is there.
    host_fsck(&origin);
    let status = d.ok(&["status", "snap"]);
    assert!(status.contains("snapshot "), "{status}");
    assert!(!status.contains("Invalid"), "{status}");
}
