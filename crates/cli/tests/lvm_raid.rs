//! raid1 LVs through the command line, without a daemon (the dm `raid`
//! target is not in the daemon yet, so these LVs stay inactive): `-m N`
//! making raid1 as lvm.conf's `global/mirror_segtype_default` says,
//! `lvs -a` and `--segments` of the sub-LVs, LVM's prompts and refusals
//! with their exit statuses, and `lvremove` taking the sub-LVs along.

mod common;

use common::{Lvm, TestDir};

fn three_pvs(t: &TestDir) -> Vec<String> {
    ["a.img", "b.img", "c.img"].iter().map(|n| t.image(n, 64).to_str().unwrap().to_string()).collect()
}

#[test]
fn test_raid1_lvs_on_the_command_line_without_a_daemon() {
    let t = TestDir::new("lvm-raid-cli");
    let pvs = three_pvs(&t);
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", &pvs[0], &pvs[1], &pvs[2]]);
    let seq = || lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]);
    let before = seq();
    // Active by default: without a daemon nothing is written.
    let e = lvm.fails(5, &["lvcreate", "-m", "1", "-L", "8M", "-n", "r", "vg0"]);
    assert!(e.starts_with("Cannot reach the ulvm daemon"), "{e}");
    assert_eq!(seq(), before);
    let e = lvm.fails(3, &["lvcreate", "-an", "--type", "raid1", "-m", "10", "-L", "8M", "vg0"]);
    assert_eq!(e, "Only up to 10 images in raid1 supported currently.");
    // -m alone makes raid1, as LVM 2.03's default segtype.
    assert_eq!(
        lvm.ok(&["lvcreate", "-an", "-m", "1", "-L", "8M", "-n", "r", "vg0"]),
        "  Logical volume \"r\" created.\n"
    );
    let rows =
        lvm.ok(&["lvs", "-a", "--noheadings", "--separator", "|", "-o", "lv_name,lv_attr,segtype,devices", "vg0"]);
    assert_eq!(
        rows,
        format!(
            "  r|rwi---r---|raid1|r_rimage_0(0),r_rimage_1(0)\n  [r_rimage_0]|Iwi---r---|linear|{a}(1)\n  \
             [r_rimage_1]|Iwi---r---|linear|{b}(1)\n  [r_rmeta_0]|ewi---r---|linear|{a}(0)\n  \
             [r_rmeta_1]|ewi---r---|linear|{b}(0)\n",
            a = pvs[0],
            b = pvs[1]
        )
    );
    assert_eq!(
        lvm.ok(&["lvs", "--segments", "--noheadings", "--separator", "|", "vg0"]),
        "  r|vg0|rwi---r---|2|raid1|8.00m\n"
    );
    // With lvm.conf's mirror_segtype_default = "mirror", -m makes a legacy mirror.
    lvm.ok(&[
        "lvcreate",
        "-an",
        "--config",
        "global/mirror_segtype_default=\"mirror\"",
        "-m",
        "1",
        "-L",
        "4M",
        "-n",
        "m",
        "vg0",
    ]);
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "segtype", "vg0/m"]).trim(), "mirror");
    // The prompt without a terminal answers no, as LVM's: nothing changes.
    let before = seq();
    let o = lvm.cmd(&["lvconvert", "-m", "0", "vg0/r"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Are you sure you want to convert raid1 LV vg0/r to type linear losing all resilience? [y/n]: [n]\n  \
         Logical volume vg0/r NOT converted to \"linear\".\n"
    );
    assert_eq!(seq(), before);
    let e = lvm.fails(5, &["lvchange", "--syncaction", "check", "vg0/r"]);
    assert_eq!(e, "Unable to send message to an inactive logical volume.");
    let e = lvm.fails(3, &["lvchange", "--syncaction", "scrub", "vg0/r"]);
    assert_eq!(e, "Invalid argument for --syncaction: scrub");
    let e = lvm.fails(5, &["lvremove", "-f", "vg0/r_rimage_0"]);
    assert_eq!(e, "Can't remove logical volume vg0/r_rimage_0 used as RAID device.");
    assert_eq!(lvm.ok(&["lvconvert", "-y", "-m", "0", "vg0/r"]), "  Logical volume vg0/r successfully converted.\n");
    assert_eq!(lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,segtype", "vg0/r"]).trim(), "r    linear");
    assert_eq!(lvm.ok(&["lvconvert", "-y", "-m", "2", "vg0/r"]), "  Logical volume vg0/r successfully converted.\n");
    lvm.ok(&["lvremove", "-f", "vg0/r"]);
    assert_eq!(lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name", "vg0"]).split_whitespace().count(), 4);
}

/// Whether the daemon has the dm `raid` target (it comes from the
/// raid-target branch); the end-to-end test below skips without it.
fn daemon_has_raid(d: &common::Daemon) -> bool {
    d.ok(&["targets"]).lines().any(|l| l.split_whitespace().next() == Some("raid"))
}

fn read_export(d: &common::Daemon, name: &str, len: usize) -> Vec<u8> {
    let c = ulvm_nbd::NbdClient::connect_unix(&d.nbd_socket(), name).unwrap();
    let mut b = vec![0u8; len];
    ulvm_blockdev::BlockDevice::read(&c, ulvm_blockdev::Sectors(0), &mut b).unwrap();
    b
}

/// A raid1 LV through the daemon and its dm `raid` target: made and
/// synchronised, written through NBD, both images holding the data,
/// `lvs -a` as LVM shows it, a check, a leg that fails under the LV
/// (its image device gets an `error` table) and `lvconvert --repair`
/// rebuilding it on the free PV, reactivation, and back to linear.
#[test]
fn test_raid1_through_the_daemon_holds_data_and_is_repaired() {
    let t = TestDir::new("lvm-raid-e2e");
    let pvs = three_pvs(&t);
    let d = common::Daemon::start(&t.path("run"), &[]);
    assert!(daemon_has_raid(&d), "the daemon lists no raid target");
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    let synced = |lv: &str| lvm.ok(&["lvs", "--noheadings", "-o", "copy_percent", lv]).trim() == "100.00";
    lvm.ok(&["vgcreate", "vg0", &pvs[0], &pvs[1], &pvs[2]]);
    assert_eq!(lvm.ok(&["lvcreate", "-m", "1", "-L", "8M", "-n", "r", "vg0"]), "  Logical volume \"r\" created.\n");
    common::wait_for("the new raid1 in sync", || synced("vg0/r"));
    let data = ulvm_testkit::stamped(8 << 20, 5, 0);
    let c = ulvm_nbd::NbdClient::connect_unix(&d.nbd_socket(), "vg0-r").unwrap();
    ulvm_blockdev::BlockDevice::write(&c, ulvm_blockdev::Sectors(0), &data).unwrap();
    ulvm_blockdev::BlockDevice::flush(&c).unwrap();
    drop(c);
    assert!(read_export(&d, "vg0-r_rimage_0", 8 << 20) == data, "image 0 lacks the data");
    assert!(read_export(&d, "vg0-r_rimage_1", 8 << 20) == data, "image 1 lacks the data");
    let rows = lvm.ok(&["lvs", "-a", "--noheadings", "--separator", "|", "-o", "lv_name,lv_attr,copy_percent", "vg0"]);
    assert_eq!(
        rows,
        "  r|rwi-a-r---|100.00\n  [r_rimage_0]|iwi-aor---|\n  [r_rimage_1]|iwi-aor---|\n  \
         [r_rmeta_0]|ewi-aor---|\n  [r_rmeta_1]|ewi-aor---|\n"
    );
    // A check finds nothing.
    lvm.ok(&["lvchange", "--syncaction", "check", "vg0/r"]);
    common::wait_for("the check done", || {
        lvm.ok(&["lvs", "--noheadings", "-o", "raid_sync_action", "vg0/r"]).trim() == "idle"
    });
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "raid_mismatch_count,lv_health_status", "vg0/r"]).trim(), "0");
    // Image 1 fails under load: a writer keeps rewriting the first MiB
    // (each write flushed, so acknowledged) while the image's device
    // turns into an `error` table; the raid marks its slot dead and goes
    // on, and nothing acknowledged is lost.
    let mut want = data.clone();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let written = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let c = ulvm_nbd::NbdClient::connect_unix(&d.nbd_socket(), "vg0-r").unwrap();
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 64 {
                let block = ulvm_testkit::stamped(64 << 10, 100 + n as u64, 0);
                let at = (n % 16) * (64 << 10);
                ulvm_blockdev::BlockDevice::write(&c, ulvm_blockdev::Sectors(at as u64 / 512), &block).unwrap();
                ulvm_blockdev::BlockDevice::flush(&c).unwrap();
                want[at..at + block.len()].copy_from_slice(&block);
                n += 1;
                written.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        });
        common::wait_for("the writer under way", || written.load(std::sync::atomic::Ordering::SeqCst) >= 8);
        d.ok(&["suspend", "vg0-r_rimage_1"]);
        d.ok(&["load", "vg0-r_rimage_1", "--table", "0 16384 error"]);
        d.ok(&["resume", "vg0-r_rimage_1"]);
        let at_failure = written.load(std::sync::atomic::Ordering::SeqCst);
        common::wait_for("writes after the failure", || {
            written.load(std::sync::atomic::Ordering::SeqCst) >= at_failure + 32
        });
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.join().unwrap();
    });
    common::wait_for("the failed image marked", || {
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_attr,lv_health_status", "vg0/r"]).trim()
            == "rwi-a-r-r- refresh needed"
    });
    assert_eq!(lvm.ok(&["lvconvert", "--repair", "-y", "vg0/r"]), "  Faulty devices in vg0/r successfully replaced.\n");
    common::wait_for("the new image rebuilt", || synced("vg0/r"));
    assert!(read_export(&d, "vg0-r_rimage_1", 8 << 20) == want, "the rebuilt image lacks the data");
    assert!(read_export(&d, "vg0-r", 8 << 20) == want);
    assert_eq!(
        lvm.ok(&["lvs", "-a", "--noheadings", "--separator", "|", "-o", "lv_name,devices", "vg0/r_rimage_1"]),
        format!("  [r_rimage_1]|{}(1)\n", pvs[2])
    );
    // lvextend: both images grow on their own PVs, the target
    // resynchronises the new part, the data stays; lvreduce is refused.
    assert_eq!(
        lvm.ok(&["lvextend", "-L", "+4M", "vg0/r"]),
        "  Size of logical volume vg0/r changed from 8.00 MiB (2 extents) to 12.00 MiB (3 extents).\n  \
         Logical volume vg0/r successfully resized.\n"
    );
    common::wait_for("the new part resynchronised", || synced("vg0/r"));
    let images = lvm.ok(&["lvs", "-a", "--noheadings", "--separator", "|", "-o", "lv_name,lv_size,devices", "vg0"]);
    // One contiguous segment each, on the image's own PV.
    assert!(images.contains(&format!("  [r_rimage_0]|12.00m|{}(1)\n", pvs[0])), "{images}");
    assert!(images.contains(&format!("  [r_rimage_1]|12.00m|{}(1)\n", pvs[2])), "{images}");
    let grown = read_export(&d, "vg0-r", 12 << 20);
    assert!(grown[..8 << 20] == want[..], "lvextend lost data");
    assert!(read_export(&d, "vg0-r_rimage_0", 12 << 20) == read_export(&d, "vg0-r_rimage_1", 12 << 20));
    let e = lvm.fails(5, &["lvreduce", "-f", "-L", "-4M", "vg0/r"]);
    assert!(e.contains("cannot reduce raid1 LV vg0/r"), "{e}");
    // A transient failure: image 0's device errors, writes go on to
    // image 1; `lvchange --refresh` loads the tables from the metadata
    // again and the raid takes image 0 back, recovered from the bitmap.
    d.ok(&["suspend", "vg0-r_rimage_0"]);
    d.ok(&["load", "vg0-r_rimage_0", "--table", "0 24576 error"]);
    d.ok(&["resume", "vg0-r_rimage_0"]);
    let c = ulvm_nbd::NbdClient::connect_unix(&d.nbd_socket(), "vg0-r").unwrap();
    let late = ulvm_testkit::stamped(512 << 10, 300, 0);
    ulvm_blockdev::BlockDevice::write(&c, ulvm_blockdev::Sectors(4096), &late).unwrap();
    ulvm_blockdev::BlockDevice::flush(&c).unwrap();
    drop(c);
    want[2 << 20..(2 << 20) + late.len()].copy_from_slice(&late);
    common::wait_for("image 0 seen failed", || {
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_health_status", "vg0/r"]).trim() == "refresh needed"
    });
    assert_eq!(lvm.ok(&["lvchange", "--refresh", "vg0/r"]), "");
    common::wait_for("image 0 recovered", || synced("vg0/r"));
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "lv_attr,lv_health_status", "vg0/r"]).trim(), "rwi-a-r---");
    assert!(read_export(&d, "vg0-r_rimage_0", 8 << 20) == want, "image 0 lacks what was written while it was away");
    assert!(read_export(&d, "vg0-r", 8 << 20) == want);
    // Off and on: the raid counts as one LV and comes back in sync.
    assert_eq!(lvm.ok(&["vgchange", "-an", "vg0"]), "  0 logical volume(s) in volume group \"vg0\" now active\n");
    assert_eq!(lvm.ok(&["vgchange", "-ay", "vg0"]), "  1 logical volume(s) in volume group \"vg0\" now active\n");
    common::wait_for("in sync after reactivation", || synced("vg0/r"));
    assert!(read_export(&d, "vg0-r", 8 << 20) == want);
    assert_eq!(lvm.ok(&["lvconvert", "-y", "-m", "0", "vg0/r"]), "  Logical volume vg0/r successfully converted.\n");
    assert!(read_export(&d, "vg0-r", 8 << 20) == want);
    assert!(!lvm.ok(&["dmsetup", "table"]).contains("_rimage_"), "sub-LV devices left behind");
    d.stop();
}
