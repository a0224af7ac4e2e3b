//! The LVM commands end to end on file-backed PVs, with a daemon for
//! activation: the seed walk-through (pvcreate, vgcreate, lvcreate, write,
//! lvextend, snapshot, lvremove, deactivate, reactivate, vgremove), the
//! messages and report lines of each step, data at the extents the
//! metadata names, bad input that changes nothing, and commands racing on
//! one VG.

mod common;

use common::{wait_for, Daemon, Lvm, TestDir, ULVM};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

#[test]
fn test_lvm_walkthrough_on_file_pvs() {
    let t = TestDir::new("lvm");
    let a = t.image("a.img", 64);
    let b = t.image("b.img", 64);
    let (ap, bp) = (a.to_str().unwrap(), b.to_str().unwrap());
    let d = Daemon::start(&t.path("run"), &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };

    assert_eq!(lvm.ok(&["pvcreate", ap]), format!("  Physical volume \"{ap}\" successfully created.\n"));
    // b is not a PV yet: vgcreate makes it one, as LVM does.
    assert_eq!(
        lvm.ok(&["vgcreate", "vg0", ap, bp]),
        format!("  Physical volume \"{bp}\" successfully created.\n  Volume group \"vg0\" successfully created\n")
    );
    assert_eq!(lvm.fails(5, &["vgcreate", "vg0", ap]), "A volume group called vg0 already exists.");
    assert_eq!(lvm.ok(&["lvcreate", "-L", "32M", "-n", "base", "vg0"]), "  Logical volume \"base\" created.\n");
    assert_eq!(lvm.ok(&["vgs"]), "  VG  #PV #LV #SN Attr   VSize   VFree \n  vg0   2   1   0 wz--n- 120.00m 88.00m\n");
    assert_eq!(
        lvm.ok(&["dmsetup", "--run-dir", d.run_dir.to_str().unwrap(), "table"]),
        "vg0-base: 0 65536 linear 240:0 2048\n"
    );

    // Data written through the LV lies at the extents the metadata names:
    // pv0 extent 0, i.e. 1 MiB into a.img.
    let data = stamped(1 << 20, 7, 0);
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    c.write(Sectors(2048), &data).unwrap();
    c.flush().unwrap();
    let mut on_disk = vec![0u8; data.len()];
    std::fs::File::open(&a).unwrap().read_exact_at(&mut on_disk, (1 << 20) + (1 << 20)).unwrap();
    assert!(on_disk == data, "LV data is not where the metadata says");
    drop(c);

    // Extend: the next extents on the same PV, one segment.
    assert_eq!(
        lvm.ok(&["lvextend", "-L", "+8M", "vg0/base"]),
        "  Size of logical volume vg0/base changed from 32.00 MiB (8 extents) to 40.00 MiB (10 extents).\n  \
         Logical volume vg0/base successfully resized.\n"
    );
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,seg_pe_ranges"]), format!("  base {ap}:0-9\n"));

    // Snapshot: the four-device stack, the origin keeps its data, the snapshot its past.
    assert_eq!(
        lvm.ok(&["lvcreate", "-s", "-L", "8M", "-n", "snap", "vg0/base"]),
        "  Logical volume \"snap\" created.\n"
    );
    let table = lvm.ok(&["dmsetup", "table"]);
    assert_eq!(
        table,
        "vg0-base: 0 81920 snapshot-origin 253:1\nvg0-base-real: 0 81920 linear 240:0 2048\n\
         vg0-snap: 0 81920 snapshot 253:1 253:2 P 8\nvg0-snap-cow: 0 16384 linear 240:0 83968\n"
    );
    let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    let newer = stamped(1 << 20, 8, 0);
    base.write(Sectors(2048), &newer).unwrap();
    base.flush().unwrap();
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "vg0-snap").unwrap();
    let mut got = vec![0u8; data.len()];
    snap.read(Sectors(2048), &mut got).unwrap();
    assert!(got == data, "the snapshot does not show the data from before it was taken");
    drop((base, snap));
    let lvs = lvm.ok(&["lvs", "-o", "lv_name,lv_attr,lv_size,origin,data_percent"]);
    let lines: Vec<&str> = lvs.lines().collect();
    assert_eq!(lines[0], "  LV   Attr       LSize  Origin Data% ");
    assert_eq!(lines[1], "  base owi-a-s--- 40.00m              ");
    // 1 MiB of 4 KiB chunks: 256 exceptions fill the first metadata area and
    // open the next: (1 header + 2 areas + 256 data) chunks = 2072 of 16384 sectors.
    assert_eq!(lines[2], "  snap swi-a-s---  8.00m base   12.65 ");

    // Removing the snapshot puts the origin back on its own table.
    assert_eq!(lvm.ok(&["lvremove", "-f", "vg0/snap"]), "  Logical volume \"snap\" successfully removed.\n");
    assert_eq!(lvm.ok(&["dmsetup", "table"]), "vg0-base: 0 81920 linear 240:0 2048\n");

    // Bad input: one line, and the metadata is not touched.
    let seq = lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]);
    assert_eq!(
        lvm.fails(5, &["lvcreate", "-L", "1G", "-n", "big", "vg0"]),
        "Volume group \"vg0\" has insufficient free space (20 extents): 256 required."
    );
    assert_eq!(
        lvm.fails(5, &["lvcreate", "-L", "4M", "-n", "base", "vg0"]),
        "Logical Volume \"base\" already exists in volume group \"vg0\""
    );
    assert_eq!(lvm.fails(3, &["lvcreate", "--bogus", "vg0"]), "lvcreate: unrecognized option '--bogus'");
    assert_eq!(lvm.fails(5, &["lvremove", "-f", "vg0/nope"]), "Failed to find logical volume \"vg0/nope\"");
    assert_eq!(lvm.fails(5, &["lvcreate", "-L", "4M", "-n", "x", "nosuchvg"]).lines().count(), 1);
    assert_eq!(lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]), seq);

    // Deactivate, reactivate: the data is still there.
    assert_eq!(lvm.ok(&["vgchange", "-an", "vg0"]), "  0 logical volume(s) in volume group \"vg0\" now active\n");
    assert_eq!(lvm.ok(&["dmsetup", "ls"]), "No devices found\n");
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "lv_attr"]), "  -wi-------\n");
    assert_eq!(lvm.ok(&["vgchange", "-ay", "vg0"]), "  1 logical volume(s) in volume group \"vg0\" now active\n");
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    c.read(Sectors(2048), &mut got).unwrap();
    assert!(got == newer, "data lost across deactivation");
    // An open LV is not deactivated.
    assert_eq!(lvm.fails(5, &["lvchange", "-an", "vg0/base"]), "Logical volume vg0/base in use.");
    drop(c);

    // The backup and the archive are there for vgcfgrestore.
    let backup = std::fs::read_to_string(t.path("sys/backup/vg0")).unwrap();
    assert!(backup.contains("Created *after* executing 'lvremove -f vg0/snap'"), "{backup}");
    // One archive per change after vgcreate: lvcreate, lvextend, lvcreate -s
    // (two, as LVM: the COW LV, then the snapshot), lvremove.
    assert_eq!(std::fs::read_dir(t.path("sys/archive")).unwrap().count(), 5);

    lvm.ok(&["vgchange", "-an", "vg0"]);
    assert_eq!(
        lvm.ok(&["vgremove", "-f", "vg0"]),
        "  Logical volume \"base\" successfully removed.\n  Volume group \"vg0\" successfully removed\n"
    );
    assert_eq!(
        lvm.ok(&["pvs", "--noheadings", "-o", "pv_name,vg_name,pv_attr"]),
        format!("  {ap}    --- \n  {bp}    --- \n")
    );
    assert_eq!(lvm.ok(&["pvremove", ap]), format!("  Labels on physical volume \"{ap}\" successfully wiped.\n"));
    assert_eq!(lvm.ok(&["pvs", "--noheadings", "-o", "pv_name"]), format!("  {bp}\n"));
    d.stop();
}

#[test]
fn test_without_a_daemon_only_inactive_lvs_are_made() {
    let t = TestDir::new("lvm-nodaemon");
    let a = t.image("a.img", 16);
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "-s", "1m", "vg0", a.to_str().unwrap()]);
    let seq = lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]);
    let e = lvm.fails(5, &["lvcreate", "-L", "4M", "-n", "a", "vg0"]);
    assert!(e.starts_with("Cannot reach the ulvm daemon"), "{e}");
    assert_eq!(lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]), seq);
    assert_eq!(lvm.ok(&["lvcreate", "-an", "-L", "4M", "-n", "a", "vg0"]), "  Logical volume \"a\" created.\n");
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,lv_attr,lv_size"]), "  a    -wi------- 4.00m\n");
    // The daemon's absence is said once.
    let e = lvm.fails(5, &["vgchange", "-an", "vg0"]);
    assert_eq!(e.matches("Cannot reach the ulvm daemon").count(), 1, "{e}");
    // A dry run (LVM's test mode) is refused, not carried out.
    let seq = lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]);
    let e = lvm.fails(3, &["lvcreate", "-t", "-an", "-L", "4M", "-n", "b", "vg0"]);
    assert_eq!(e, "Test mode (-t|--test) is not supported by ulvm; nothing was changed.");
    assert_eq!(lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]), seq);
}

/// A VG one of whose PVs no device carries (here: out of the devices
/// file), as LVM 2.03 reports it (oracle6 121-125, oracle8 099): pvs lists
/// the PV as `[unknown]` with `m` in its attributes, and pvs, vgs and lvs
/// warn about it, naming the device the metadata last named.
#[test]
fn test_reports_of_a_vg_missing_a_pv_show_it_unknown_and_warn() {
    let t = TestDir::new("lvm-missing-pv");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (ap, bp) = (a.to_str().unwrap(), b.to_str().unwrap());
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", ap, bp]);
    lvm.ok(&["lvcreate", "-an", "-L", "8M", "-n", "l", "vg0"]);
    let id = lvm.ok(&["pvs", "--noheadings", "-o", "pv_uuid", bp]).trim().to_string();
    lvm.ok(&["lvmdevices", "--deldev", bp]);

    let o = lvm.cmd(&["pvs", "-o", "pv_name,vg_name,pv_attr,pv_size,pv_uuid,pv_missing,pv_mda_count"]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[1], ["[unknown]", "vg0", "a-m", "60.00m", id.as_str(), "missing", "0"], "{out}");
    let warned = format!(
        "  WARNING: Couldn't find device with uuid {id}.\n  WARNING: VG vg0 is missing PV {id} (last written to {bp}).\n"
    );
    assert_eq!(String::from_utf8(o.stderr).unwrap(), warned);
    for cmd in [&["vgs"][..], &["lvs", "vg0"], &["lvs", "vg0/l"]] {
        let o = lvm.cmd(cmd);
        assert!(o.status.success(), "{cmd:?}");
        assert_eq!(String::from_utf8(o.stderr).unwrap(), warned, "{cmd:?}");
    }
    // A PV named on the command line is a device: no [unknown] row.
    assert_eq!(lvm.ok(&["pvs", "--noheadings", "-o", "pv_name", ap]), format!("  {ap}\n"));
}

#[test]
fn test_concurrent_lvcreates_on_one_vg_serialize() {
    let t = TestDir::new("lvm-race");
    let a = t.image("a.img", 64);
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let sys = t.path("sys");
    let lvm = Lvm { sys: sys.clone(), run: &run };
    lvm.ok(&["vgcreate", "-s", "1m", "vg0", a.to_str().unwrap()]);
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (sys, run) = (sys.clone(), run.clone());
            std::thread::spawn(move || {
                let l = Lvm { sys, run: &run };
                l.ok(&["lvcreate", "-an", "-L", "4M", "-n", &format!("lv{i}"), "vg0"]);
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let out = lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,seg_pe_ranges", "-O", "lv_name"]);
    let mut starts: Vec<u64> =
        out.lines().map(|l| l.rsplit(':').next().unwrap().split('-').next().unwrap().parse().unwrap()).collect();
    assert_eq!(out.lines().count(), 6, "{out}");
    starts.sort();
    assert_eq!(starts, vec![0, 4, 8, 12, 16, 20], "overlapping allocations: {out}");
    assert_eq!(lvm.ok(&["vgs", "--noheadings", "-o", "vg_seqno"]), "    7\n");
    lvm.ok(&["vgck", "vg0"]);
}

#[test]
fn test_snapshot_merge_now_and_deferred_across_a_daemon_restart() {
    let t = TestDir::new("lvm-merge");
    let a = t.image("a.img", 64);
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    lvm.ok(&["lvcreate", "-L", "16M", "-n", "base", "vg0"]);
    let pre = stamped(4 << 20, 1, 0);
    let post = stamped(4 << 20, 2, 0);
    let write = |d: &Daemon, data: &[u8]| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
        c.write(Sectors(0), data).unwrap();
        c.flush().unwrap();
    };
    let read = |d: &Daemon| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
        let mut v = vec![0u8; 4 << 20];
        c.read(Sectors(0), &mut v).unwrap();
        v
    };

    // A merge of a closed origin runs at once; -i 1 reports and finishes.
    write(&d, &pre);
    lvm.ok(&["lvcreate", "-s", "-L", "8M", "-n", "snap", "vg0/base"]);
    write(&d, &post);
    let out = lvm.ok(&["lvconvert", "--merge", "-i", "1", "vg0/snap"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "  Merging of volume vg0/snap started.");
    assert_eq!(lines[lines.len() - 3], "  vg0/base: Merged: 100.00%");
    assert_eq!(lines[lines.len() - 2], "  Merge of snapshot into logical volume vg0/base has finished.");
    assert_eq!(lines[lines.len() - 1], "  Logical volume \"snap\" successfully removed.");
    assert!(read(&d) == pre, "the merge did not bring back the snapshot's data");
    assert_eq!(lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr"]), "  base -wi-a-----\n");
    assert_eq!(lvm.ok(&["dmsetup", "table"]), "vg0-base: 0 32768 linear 240:0 2048\n");

    // An open origin: the merge is recorded and waits for the next activation.
    lvm.ok(&["lvcreate", "-s", "-L", "8M", "-n", "snap2", "vg0/base"]);
    write(&d, &post);
    let holder = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    assert_eq!(
        lvm.ok(&["lvconvert", "--merge", "vg0/snap2"]),
        "  Delaying merge since origin is open.\n  \
         Merging of snapshot vg0/snap2 will occur on next activation of vg0/base.\n"
    );
    assert_eq!(
        lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,origin"]),
        "  base    Owi-aos---       \n  [snap2] Swi-a-s--- base  \n"
    );
    drop(holder);
    lvm.ok(&["vgchange", "-an", "vg0"]);
    // The daemon goes away; the metadata still says "merging".
    d.stop();
    let d = Daemon::start(&run, &[]);
    // Like LVM, the count includes the (hidden) merging snapshot.
    assert_eq!(lvm.ok(&["vgchange", "-ay", "vg0"]), "  2 logical volume(s) in volume group \"vg0\" now active\n");
    // Activation started the merge and a poller that finishes it.
    wait_for("the merge to finish", || lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]) == "  base\n");
    assert!(read(&d) == pre, "the deferred merge did not bring back the snapshot's data");
    assert_eq!(lvm.ok(&["dmsetup", "table"]), "vg0-base: 0 32768 linear 240:0 2048\n");
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
}

#[test]
fn test_snapshot_autoextend_grows_the_cow_and_writes_wait_instead_of_failing() {
    let t = TestDir::new("lvm-autoextend");
    let a = t.image("a.img", 128);
    let run = t.path("run");
    let sys = t.path("sys");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::write(
        sys.join("lvm.conf"),
        "activation {\n\tsnapshot_autoextend_threshold = 70\n\tsnapshot_autoextend_percent = 50\n}\n",
    )
    .unwrap();
    let d = Daemon::start(&run, &["--system-dir", sys.to_str().unwrap()]);
    let lvm = Lvm { sys: sys.clone(), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    lvm.ok(&["lvcreate", "-L", "32M", "-n", "base", "vg0"]);
    let before = stamped(16 << 20, 1, 0);
    let base = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    base.write(Sectors(0), &before).unwrap();
    base.flush().unwrap();
    // One 4 MiB extent of COW; 16 MiB of origin chunks are about to change.
    lvm.ok(&["lvcreate", "-s", "-L", "4M", "-n", "snap", "vg0/base"]);
    let after = stamped(16 << 20, 2, 0);
    for mib in 0..16u64 {
        base.write(Sectors(mib * 2048), &after[(mib as usize) << 20..((mib + 1) as usize) << 20]).unwrap();
    }
    base.flush().unwrap();
    let attr = lvm.ok(&["lvs", "--noheadings", "-o", "lv_attr", "vg0/snap"]);
    assert_eq!(attr.trim(), "swi-a-s---", "the snapshot must stay valid");
    let size: u64 = lvm
        .ok(&["lvs", "--noheadings", "--units", "m", "--nosuffix", "-o", "lv_size", "vg0/snap"])
        .trim()
        .parse::<f64>()
        .unwrap() as u64;
    assert!(size > 16, "the COW grew past the 16 MiB of changed chunks: {size} MiB");
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "vg0-snap").unwrap();
    let mut got = vec![0u8; before.len()];
    snap.read(Sectors(0), &mut got).unwrap();
    assert!(got == before, "the snapshot lost its point-in-time data");
    drop((base, snap));
    assert!(d.log().contains("autoextend: vg0/snap is"), "the daemon logs the extension: {}", d.log());
    wait_for("the extension's end in the daemon's log", || d.log().contains("autoextend: done, from 1 to "));
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
}

#[test]
fn test_vgsplit_vgmerge_vgcfgrestore_and_pvresize() {
    let t = TestDir::new("lvm-vgops");
    let a = t.image("a.img", 64);
    let b = t.image("b.img", 64);
    let (ap, bp) = (a.to_str().unwrap(), b.to_str().unwrap());
    let run = t.path("run");
    std::fs::create_dir_all(&run).unwrap();
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", ap, bp]);
    lvm.ok(&["lvcreate", "-an", "-l", "2", "-n", "ona", "vg0", ap]);
    lvm.ok(&["lvcreate", "-an", "-l", "3", "-n", "onb", "vg0", bp]);
    lvm.ok(&["lvcreate", "-an", "-l", "2", "-i", "2", "-n", "both", "vg0"]);
    // A striped LV over both PVs cannot be split off.
    assert_eq!(
        lvm.fails(5, &["vgsplit", "vg0", "vg1", bp]),
        "Can't split Logical Volume both between two Volume Groups"
    );
    lvm.ok(&["lvremove", "-f", "vg0/both"]);
    assert_eq!(lvm.ok(&["vgsplit", "vg0", "vg1", bp]), "  New volume group \"vg1\" successfully split from \"vg0\"\n");
    assert_eq!(
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,vg_name,devices"]),
        format!("  ona  vg0 {ap}(0)\n  onb  vg1 {bp}(0)\n")
    );
    lvm.ok(&["vgck"]);
    assert_eq!(lvm.ok(&["vgmerge", "vg0", "vg1"]), "  Volume group \"vg1\" successfully merged into \"vg0\"\n");
    assert_eq!(
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,vg_name,devices"]),
        format!("  ona  vg0 {ap}(0)\n  onb  vg0 {bp}(0)\n")
    );
    assert_eq!(lvm.ok(&["vgs", "--noheadings", "-o", "vg_name,pv_count,lv_count"]), "  vg0   2   2\n");
    // Undo an lvremove from the archive.
    lvm.ok(&["lvremove", "-f", "vg0/onb"]);
    let list = lvm.ok(&["vgcfgrestore", "-l", "vg0"]);
    let last_archive = list
        .lines()
        .filter_map(|l| l.trim().strip_prefix("File:"))
        .map(|f| f.trim().to_string())
        .rfind(|f| f.contains("/archive/"))
        .unwrap();
    assert!(list.contains("Created *before* executing 'lvremove -f vg0/onb'"), "{list}");
    assert_eq!(lvm.ok(&["vgcfgrestore", "-f", &last_archive, "vg0"]), "  Restored volume group vg0.\n");
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "lv_name"]), "  ona \n  onb \n");
    // A bigger device: pvresize gives the VG its extents.
    std::fs::OpenOptions::new().write(true).open(&a).unwrap().set_len(96 << 20).unwrap();
    assert_eq!(
        lvm.ok(&["pvresize", ap]),
        format!("  Physical volume \"{ap}\" changed\n  1 physical volume(s) resized or updated / 0 physical volume(s) not resized\n")
    );
    assert_eq!(lvm.ok(&["pvs", "--noheadings", "-o", "pv_name,pv_size", ap]), format!("  {ap} 92.00m\n"));
    assert_eq!(lvm.fails(5, &["pvresize", "--setphysicalvolumesize", "2M", ap]).lines().count(), 1);
    lvm.ok(&["vgck", "vg0"]);
}

#[test]
fn test_commands_run_through_symlinks_and_lvm_prefix() {
    let t = TestDir::new("lvm-symlink");
    let a = t.image("a.img", 16);
    let bin = t.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for c in ["vgcreate", "vgs"] {
        std::os::unix::fs::symlink(ULVM, bin.join(c)).unwrap();
    }
    let run = |cmd: &Path, args: &[&str]| {
        let o = Command::new(cmd).args(args).env("ULVM_SYSTEM_DIR", t.path("sys")).output().unwrap();
        assert!(o.status.success(), "{}: {}", cmd.display(), String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(
        run(&bin.join("vgcreate"), &["-s", "1m", "vg0", a.to_str().unwrap()]),
        format!(
            "  Physical volume \"{}\" successfully created.\n  Volume group \"vg0\" successfully created\n",
            a.display()
        )
    );
    let vgs = run(&bin.join("vgs"), &["--noheadings", "-o", "vg_name"]);
    assert_eq!(vgs, "  vg0\n");
    assert_eq!(run(Path::new(ULVM), &["lvm", "vgs", "--noheadings", "-o", "vg_name"]), vgs);
    assert_eq!(run(Path::new(ULVM), &["vgs", "--noheadings", "-o", "vg_name"]), vgs);
}

#[test]
fn test_lvcreate_type_clone_hydrates_and_becomes_a_plain_lv() {
    let t = TestDir::new("lvm-clone");
    let a = t.image("a.img", 64);
    let src = t.image("src.img", 16);
    let data = stamped(16 << 20, 21, 0);
    std::fs::write(&src, &data).unwrap();
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    // Bad input first: no source, a missing source, an LV bigger than its source.
    assert!(lvm.fails(3, &["lvcreate", "--type", "clone", "-n", "cl", "vg0"]).contains("--source"));
    assert_eq!(
        lvm.fails(5, &["lvcreate", "--type", "clone", "--source", "/nonexistent", "-n", "cl", "vg0"]),
        "No device found for /nonexistent."
    );
    assert!(lvm
        .fails(5, &["lvcreate", "--type", "clone", "--source", src.to_str().unwrap(), "-L", "32M", "-n", "cl", "vg0"])
        .contains("is smaller than the LV"));
    assert_eq!(
        lvm.ok(&["lvcreate", "--type", "clone", "--source", src.to_str().unwrap(), "-n", "cl", "vg0"]),
        "  Logical volume \"cl\" created.\n"
    );
    // Usable at once: a write lands, reads show the source elsewhere.
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-cl").unwrap();
    c.write(Sectors(2048), &[0x77; 4096]).unwrap();
    let mut got = vec![0u8; 4096];
    c.read(Sectors(4096), &mut got).unwrap();
    assert!(got[..] == data[4096 * 512..4096 * 512 + 4096]);
    c.flush().unwrap();
    drop(c);
    // The poller ends the clone: a plain LV, its metadata LV freed.
    wait_for("the clone to become a plain LV", || {
        lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]) == "  cl  \n"
    });
    assert_eq!(lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,lv_attr,lv_size"]), "  cl   -wi-a----- 16.00m\n");
    let table = lvm.ok(&["dmsetup", "table"]);
    assert!(table.starts_with("vg0-cl: 0 32768 linear "), "{table}");
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-cl").unwrap();
    let mut all = vec![0u8; 16 << 20];
    c.read(Sectors(0), &mut all).unwrap();
    let mut want = data.clone();
    want[2048 * 512..2048 * 512 + 4096].fill(0x77);
    assert!(all == want, "the LV holds the source plus the write");
    drop(c);
    lvm.ok(&["vgck", "vg0"]);
    // The daemon polled the job and logged its start and end (under systemd,
    // to the journal).
    wait_for("the job's end in the daemon's log", || d.log().contains("of vg0/cl finished after"));
    assert!(d.log().contains("of vg0/cl polled"), "{}", d.log());
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
}

#[test]
fn test_clone_lv_of_a_slow_remote_source_survives_a_daemon_restart() {
    if !common::require(common::have("nbdkit", "--version"), "nbdkit is not installed") {
        return;
    }
    let t = TestDir::new("lvm-clone-remote");
    let a = t.image("a.img", 96);
    let src = t.image("src.img", 32);
    let data = stamped(32 << 20, 23, 0);
    std::fs::write(&src, &data).unwrap();
    let sock = t.path("src.sock");
    let server = common::Nbdkit::start(&sock, &src, "40ms");
    let run = t.path("run");
    let d = Daemon::start(&run, &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    let uri = format!("nbd+unix:///?socket={}", sock.display());
    lvm.ok(&["lvcreate", "--type", "clone", "--source", &uri, "-n", "cl", "vg0"]);
    let lvs = lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,lv_size"]);
    assert_eq!(lvs, "  cl             -wi-a----k 32.00m\n  [cl_clonemeta] -wi-ao----  4.00m\n");
    let copied: f64 = lvm.ok(&["lvs", "--noheadings", "-o", "copy_percent", "vg0/cl"]).trim().parse().unwrap();
    assert!(copied < 100.0, "hydration of a slow source is still running ({copied}%)");
    // Deactivated and the daemon restarted halfway: the clone goes on.
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
    let d = Daemon::start(&run, &[]);
    lvm.ok(&["vgchange", "-ay", "vg0"]);
    wait_for("the clone to finish", || lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]) == "  cl  \n");
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-cl").unwrap();
    let mut all = vec![0u8; 32 << 20];
    c.read(Sectors(0), &mut all).unwrap();
    assert!(all == data, "the LV holds the source");
    drop(c);
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
    drop(server);
}

/// The daemon activates at start what `vgchange -aay` activates at boot:
/// after a clean restart and after a kill -9 alike, with autoactivation
/// switched off on an LV and on a VG, an LV with the activation skip flag,
/// a volume list in lvm.conf, and `--no-autoactivate`; a merge deferred
/// while the origin was open runs and finishes after the restart.
#[test]
fn test_the_daemon_autoactivates_vgs_at_start() {
    let t = TestDir::new("lvm-autoactivate");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 16));
    let run = t.path("run");
    let sys = t.path("sys");
    let sys_arg = ["--system-dir", sys.to_str().unwrap()];
    let d = Daemon::start(&run, &sys_arg);
    let lvm = Lvm { sys: sys.clone(), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    lvm.ok(&["vgcreate", "--setautoactivation", "n", "vg1", b.to_str().unwrap()]);
    lvm.ok(&["lvcreate", "-L", "16M", "-n", "base", "vg0"]);
    lvm.ok(&["lvcreate", "-L", "4M", "-n", "manual", "--setautoactivation", "n", "vg0"]);
    lvm.ok(&["lvcreate", "-an", "-L", "4M", "-n", "skipped", "-k", "y", "vg0"]);
    lvm.ok(&["lvcreate", "-L", "4M", "-n", "other", "vg1"]);
    // A merge deferred because the origin is open.
    let (pre, post) = (stamped(4 << 20, 1, 0), stamped(4 << 20, 2, 0));
    let nbd = |d: &Daemon| NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
    let c = nbd(&d);
    c.write(Sectors(0), &pre).unwrap();
    c.flush().unwrap();
    lvm.ok(&["lvcreate", "-s", "-L", "8M", "-n", "snap", "vg0/base"]);
    c.write(Sectors(0), &post).unwrap();
    c.flush().unwrap();
    assert!(lvm.ok(&["lvconvert", "--merge", "vg0/snap"]).contains("Delaying merge since origin is open."));
    drop(c);
    // The daemon answers once its autoactivation is done.
    let started = |d: Daemon| {
        assert!(d.log().contains("autoactivation: done"), "{}", d.log());
        d
    };
    let active = |d: &Daemon| {
        let mut v: Vec<String> = d.ok(&["ls"]).lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
        v.retain(|n| n != "No devices found");
        v.sort();
        v.join(" ")
    };

    // A clean restart: the merge resumes with the activation and finishes.
    d.stop();
    let d = started(Daemon::start(&run, &sys_arg));
    assert!(d.log().contains("autoactivation: resuming the LV's background job"), "{}", d.log());
    // `lvs -a`: without it a merging snapshot is hidden already, and the
    // merge's end drops the devices before it commits.
    wait_for("the deferred merge to finish", || {
        !lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]).contains("snap") && active(&d) == "vg0-base"
    });
    let mut v = vec![0u8; 4 << 20];
    nbd(&d).read(Sectors(0), &mut v).unwrap();
    assert!(v == pre, "the deferred merge did not bring back the snapshot's data");
    assert_eq!(active(&d), "vg0-base");
    assert_eq!(
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,lv_attr"]),
        "  base    -wi-a-----\n  manual  -wi-------\n  skipped -wi------k\n  other   -wi-------\n"
    );

    // A crash: the same on the next start.
    d.crash();
    let d = started(Daemon::start(&run, &sys_arg));
    assert_eq!(active(&d), "vg0-base");
    // What -aay leaves alone, -ay takes (except the activation skip flag).
    assert_eq!(lvm.ok(&["vgchange", "-ay", "vg0"]), "  2 logical volume(s) in volume group \"vg0\" now active\n");
    assert_eq!(active(&d), "vg0-base vg0-manual");

    // lvm.conf's auto_activation_volume_list: only what it names.
    lvm.ok(&["vgchange", "-an", "vg0"]);
    lvm.ok(&["lvcreate", "-an", "-L", "4M", "-n", "listed", "vg0"]);
    std::fs::write(sys.join("lvm.conf"), "activation {\n\tauto_activation_volume_list = [ \"vg0/listed\" ]\n}\n")
        .unwrap();
    d.stop();
    let d = started(Daemon::start(&run, &sys_arg));
    assert_eq!(active(&d), "vg0-listed");

    // --no-autoactivate: nothing.
    d.stop();
    let mut args = sys_arg.to_vec();
    args.push("--no-autoactivate");
    let d = Daemon::start(&run, &args);
    assert_eq!(active(&d), "");
    assert!(!d.log().contains("autoactivation"), "{}", d.log());
    d.stop();
}

/// pvmove under a random-write load with the daemon killed (SIGKILL) in
/// the middle of the move: the restarted daemon autoactivates the VG, the
/// move resumes from its last checkpoint and finishes, and every write the
/// old daemon acknowledged is in the LV, now wholly on the other PV.
#[test]
fn test_pvmove_survives_a_daemon_crash_under_write_load() {
    let t = TestDir::new("lvm-pvmove-crash");
    let (a, b) = (t.image("a.img", 320), t.image("b.img", 320));
    let run = t.path("run");
    let sys = t.path("sys");
    let sys_arg = ["--system-dir", sys.to_str().unwrap()];
    let d = Daemon::start(&run, &sys_arg);
    let lvm = Lvm { sys: sys.clone(), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap(), b.to_str().unwrap()]);
    // Two LVs on a: two pvmove0 segments, so a checkpoint falls mid-move.
    lvm.ok(&["lvcreate", "-L", "128M", "-n", "one", "vg0", a.to_str().unwrap()]);
    lvm.ok(&["lvcreate", "-L", "128M", "-n", "two", "vg0", a.to_str().unwrap()]);
    const LEN: usize = 128 << 20;
    let mut models = Vec::new();
    for (i, lv) in ["one", "two"].iter().enumerate() {
        let c = NbdClient::connect_unix(&d.nbd_socket(), &format!("vg0-{lv}")).unwrap();
        let data = stamped(LEN, 40 + i as u64, 0);
        for (k, piece) in data.chunks(8 << 20).enumerate() {
            c.write_at((k * (8 << 20)) as u64, piece, false).unwrap();
        }
        c.flush().unwrap();
        models.push(data);
    }
    // Writers: 4 KiB random writes to both LVs until their connection
    // breaks; a write counts once acknowledged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = ["one", "two"]
        .iter()
        .enumerate()
        .map(|(i, lv)| {
            let (sock, name, stop, mut model) = (d.nbd_socket(), format!("vg0-{lv}"), stop.clone(), models[i].clone());
            std::thread::spawn(move || {
                let c = NbdClient::connect_unix(&sock, &name).unwrap();
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ i as u64;
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let off = (rng % (LEN as u64 / 4096)) * 4096;
                    let data = vec![(n as u8) | 1; 4096];
                    if c.write_at(off, &data, false).is_err() {
                        // Not acknowledged: it may have landed or not.
                        return (model, n, Some((off as usize, data)));
                    }
                    model[off as usize..off as usize + 4096].copy_from_slice(&data);
                    n += 1;
                }
                (model, n, None)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    lvm.ok(&["pvmove", "-b", a.to_str().unwrap()]);
    // Kill the daemon once the first segment is checkpointed and before the
    // move ends.
    // The checkpoint: pvmove0's first segment is linear on b, its second
    // one is the mirror.
    wait_for("the first pvmove segment's checkpoint", || {
        let t = lvm.ok(&["dmsetup", "table", "vg0-pvmove0"]);
        let kinds: Vec<&str> = t.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
        kinds == ["linear", "mirror"]
    });
    let mid = lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]);
    d.crash();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Per writer: what it had acknowledged, how many writes, and the one in
    // flight at the crash.
    type Written = (Vec<u8>, u64, Option<(usize, Vec<u8>)>);
    let results: Vec<Written> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(mid.contains("pvmove0"), "the move ended before the crash: {mid}");
    assert!(results.iter().all(|(_, n, _)| *n > 0), "no writes during the move");

    let d = Daemon::start(&run, &sys_arg);
    wait_for("the resumed move to finish", || {
        !lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]).contains("pvmove0")
    });
    let pvs = lvm.ok(&["pvs", "--noheadings", "-o", "pv_name,pv_used"]);
    assert!(pvs.contains(&format!("{}      0 ", a.display())), "{pvs}");
    for (i, lv) in ["one", "two"].iter().enumerate() {
        let c = NbdClient::connect_unix(&d.nbd_socket(), &format!("vg0-{lv}")).unwrap();
        let (model, _, unacked) = &results[i];
        let mut got = Vec::with_capacity(LEN);
        for k in 0..LEN / (8 << 20) {
            got.extend(c.read_at((k * (8 << 20)) as u64, 8 << 20).unwrap());
        }
        // The write in flight at the crash is either there or not.
        if let Some((off, data)) = unacked {
            if got[*off..off + 4096] == data[..] {
                got[*off..off + 4096].copy_from_slice(&model[*off..off + 4096]);
            }
        }
        if let Some(at) = (0..LEN / 4096).find(|b| got[b * 4096..b * 4096 + 4096] != model[b * 4096..b * 4096 + 4096]) {
            panic!("vg0/{lv}: the 4 KiB block at byte {} differs after the move", at * 4096);
        }
    }
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
}

/// Reads `len` bytes of an export from its start.
fn read_export(d: &Daemon, name: &str, len: usize) -> Vec<u8> {
    let c = NbdClient::connect_unix(&d.nbd_socket(), name).unwrap();
    let mut b = vec![0u8; len];
    c.read(Sectors(0), &mut b).unwrap();
    b
}

/// vg0 on three 64 MiB PV files (a, b, c) with a two-image mirror `m` of
/// 8 MiB (disk log), in sync and holding `stamped(8 MiB, seed)`: where the
/// mirror conversion tests start.
fn synced_mirror_with_data(t: &TestDir, seed: u64) -> (Daemon, Vec<u8>) {
    let pvs = ["a.img", "b.img", "c.img"].map(|f| t.image(f, 64).to_str().unwrap().to_string());
    let d = Daemon::start(&t.path("run"), &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    lvm.ok(&["vgcreate", "vg0", &pvs[0], &pvs[1], &pvs[2]]);
    lvm.ok(&["lvcreate", "--type", "mirror", "-m", "1", "-L", "8M", "-n", "m", "vg0"]);
    wait_for("the new mirror in sync", || in_sync(&lvm, "vg0/m"));
    let data = stamped(8 << 20, seed, 0);
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-m").unwrap();
    c.write(Sectors(0), &data).unwrap();
    c.flush().unwrap();
    drop(c);
    (d, data)
}

fn in_sync(lvm: &Lvm, lv: &str) -> bool {
    lvm.ok(&["lvs", "--noheadings", "-o", "copy_percent", lv]).trim() == "100.00"
}

/// A legacy mirror through the daemon: made, written through NBD, both
/// legs (and both PVs, at the extents the metadata names) holding the
/// data, `lvs -a` as LVM shows it, a leg split off as a linear LV with
/// the data, a linear LV mirrored again and back to linear, and a mirror
/// removed with its images and log.
#[test]
fn test_mirror_lv_legs_hold_the_data_split_and_back_to_linear() {
    let t = TestDir::new("lvm-mirror");
    let imgs = ["a.img", "b.img", "c.img"].map(|f| t.image(f, 64));
    let [ap, bp, cp] = imgs.clone().map(|p| p.to_str().unwrap().to_string());
    let d = Daemon::start(&t.path("run"), &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    lvm.ok(&["vgcreate", "vg0", &ap, &bp, &cp]);
    assert_eq!(
        lvm.ok(&["lvcreate", "--type", "mirror", "-m", "1", "-L", "8M", "-n", "m", "vg0"]),
        "  Logical volume \"m\" created.\n"
    );
    wait_for("the new mirror in sync", || in_sync(&lvm, "vg0/m"));
    let data = stamped(8 << 20, 11, 0);
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-m").unwrap();
    c.write(Sectors(0), &data).unwrap();
    c.flush().unwrap();
    drop(c);
    assert!(read_export(&d, "vg0-m_mimage_0", 8 << 20) == data, "leg 0 lacks the data");
    assert!(read_export(&d, "vg0-m_mimage_1", 8 << 20) == data, "leg 1 lacks the data");
    // Extent 0 of a.img and of b.img (1 MiB in): both legs on disk.
    for img in &imgs[..2] {
        let mut on_disk = vec![0u8; 8 << 20];
        std::fs::File::open(img).unwrap().read_exact_at(&mut on_disk, 1 << 20).unwrap();
        assert!(on_disk == data, "{} does not hold the data", img.display());
    }
    // Words per line: the column widths follow the paths' lengths.
    let words = |s: &str| s.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>();
    assert_eq!(
        words(&lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,devices,mirror_log,region_size"])),
        [
            "m mwi-a-m--- m_mimage_0(0),m_mimage_1(0) [m_mlog] 2.00m".to_string(),
            format!("[m_mimage_0] iwi-aom--- {ap}(0) 0"),
            format!("[m_mimage_1] iwi-aom--- {bp}(0) 0"),
            format!("[m_mlog] lwi-aom--- {cp}(0) 0"),
        ]
    );
    assert!(lvm.ok(&["lvdisplay", "vg0/m"]).contains("  Mirrored volumes       2\n"));
    // The images and the log show when named or with -a, not with the VG.
    assert!(!lvm.ok(&["lvdisplay", "vg0"]).contains("Internal LV Name"));
    assert!(lvm.ok(&["lvdisplay", "vg0/m_mlog"]).contains("  Internal LV Name       m_mlog\n"));
    assert_eq!(lvm.ok(&["lvdisplay", "-a", "vg0"]).matches("Internal LV Name").count(), 3);
    // The VG off and on again: the images and the log go and come with
    // the mirror, which LVM counts as one LV.
    assert_eq!(lvm.ok(&["vgchange", "-an", "vg0"]), "  0 logical volume(s) in volume group \"vg0\" now active\n");
    assert_eq!(lvm.ok(&["dmsetup", "table"]), "No devices found\n");
    assert_eq!(lvm.ok(&["vgchange", "-ay", "vg0"]), "  1 logical volume(s) in volume group \"vg0\" now active\n");
    assert!(read_export(&d, "vg0-m", 8 << 20) == data, "the mirror lost its data across vgchange");

    // Split: leg 1 becomes "copy", linear on b, with the data.
    assert_eq!(
        lvm.ok(&["lvconvert", "--splitmirrors", "1", "--name", "copy", "vg0/m"]),
        "  Logical volume vg0/m converted.\n"
    );
    assert!(read_export(&d, "vg0-copy", 8 << 20) == data, "the split leg lacks the data");
    assert!(read_export(&d, "vg0-m", 8 << 20) == data, "the mirror lost its data when split");
    assert_eq!(
        lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr,devices"]),
        format!("  copy -wi-a----- {bp}(0)\n  m    -wi-a----- {ap}(0)\n")
    );
    assert!(!lvm.ok(&["dmsetup", "table"]).contains("_mimage_"), "images left behind");

    // Mirrored again (the new leg copied from the old), then -m 0 keeps
    // the original extents.
    let out = lvm.ok(&["lvconvert", "--type", "mirror", "-m", "1", "-i", "1", "vg0/m"]);
    assert!(out.starts_with("  Logical volume vg0/m being converted.\n"), "{out}");
    assert!(out.ends_with("  vg0/m: Converted: 100.00%\n"), "{out}");
    assert!(read_export(&d, "vg0-m_mimage_1", 8 << 20) == data, "the new leg was not copied");
    assert_eq!(lvm.ok(&["lvconvert", "-m", "0", "vg0/m"]), "  Logical volume vg0/m converted.\n");
    assert_eq!(
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_name,lv_attr,devices", "vg0/m"]),
        format!("  m    -wi-a----- {ap}(0)\n")
    );
    assert!(read_export(&d, "vg0-m", 8 << 20) == data);

    // Removing a mirror removes its images and log, devices and all.
    lvm.ok(&["lvcreate", "--type", "mirror", "-m", "1", "-L", "4M", "-n", "gone", "vg0"]);
    assert_eq!(
        lvm.fails(5, &["lvremove", "-f", "vg0/gone_mimage_0"]),
        "Can't remove logical volume vg0/gone_mimage_0 used by a mirror."
    );
    assert_eq!(lvm.ok(&["lvremove", "-f", "vg0/gone"]), "  Logical volume \"gone\" successfully removed.\n");
    assert!(!lvm.ok(&["dmsetup", "table"]).contains("gone"), "devices of the removed mirror left behind");
    assert!(!lvm.ok(&["lvs", "-a"]).contains("gone"), "sub-LVs of the removed mirror left behind");
    d.stop();
}

/// A leg fails under write load (its image device gets an `error` table,
/// as one would fail it with dmsetup on the kernel): writes go on, the
/// mirror shows the leg `D`; `lvconvert --repair` puts a new image on the
/// free PV and copies it; both legs then hold every acknowledged write.
#[test]
fn test_mirror_leg_failure_under_write_load_is_repaired_without_losing_data() {
    let t = TestDir::new("lvm-mirror-repair");
    let imgs = ["a.img", "b.img", "c.img"].map(|f| t.image(f, 64));
    let [ap, bp, cp] = imgs.clone().map(|p| p.to_str().unwrap().to_string());
    let d = Daemon::start(&t.path("run"), &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    lvm.ok(&["vgcreate", "vg0", &ap, &bp, &cp]);
    lvm.ok(&[
        "lvcreate",
        "--type",
        "mirror",
        "-m",
        "1",
        "--mirrorlog",
        "core",
        "-L",
        "16M",
        "-n",
        "m",
        "vg0",
        &ap,
        &bp,
    ]);
    wait_for("the new mirror in sync", || in_sync(&lvm, "vg0/m"));
    const BLOCK: usize = 64 << 10;
    const BLOCKS: u64 = (16 << 20) / BLOCK as u64;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<u64, u64>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writes = || written.load(std::sync::atomic::Ordering::SeqCst);
    let writer = {
        let (acked, stop, sock, written) = (acked.clone(), stop.clone(), d.nbd_socket(), written.clone());
        std::thread::spawn(move || {
            let c = NbdClient::connect_unix(&sock, "vg0-m").unwrap();
            let mut seed = 1u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let block = (seed * 7) % BLOCKS;
                c.write(Sectors(block * (BLOCK as u64 / 512)), &stamped(BLOCK, seed, block)).expect("a write failed");
                acked.lock().unwrap().insert(block, seed);
                written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                seed += 1;
            }
            c.flush().unwrap();
        })
    };
    wait_for("some writes", || writes() > 20);
    // Leg 1 fails.
    d.ok(&["suspend", "vg0-m_mimage_1"]);
    d.ok(&["load", "vg0-m_mimage_1", "--table", "0 32768 error"]);
    d.ok(&["resume", "vg0-m_mimage_1"]);
    wait_for("the failed leg marked D", || d.ok(&["status", "vg0-m"]).contains(" 1 AD 1 core"));
    let before = writes();
    wait_for("writes going on with one leg", || {
        assert!(!writer.is_finished(), "the writer stopped; daemon log:\n{}", d.log());
        writes() > before + 20
    });
    let out = lvm.ok(&["lvconvert", "--repair", "-y", "vg0/m"]);
    assert!(out.contains(&format!("m_mimage_1 of vg0/m replaced by a new image on {cp}")), "{out}");
    let before = writes();
    wait_for("writes going on after the repair", || {
        assert!(!writer.is_finished(), "the writer stopped; daemon log:\n{}", d.log());
        writes() > before + 20
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    wait_for("the new leg copied", || in_sync(&lvm, "vg0/m"));
    assert!(d.ok(&["status", "vg0-m"]).contains(" 1 AA 1 core"));
    let lvs = lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,devices"]);
    assert_eq!(
        lvs.lines().map(str::trim_end).collect::<Vec<_>>(),
        [
            "  m            m_mimage_0(0),m_mimage_1(0)",
            &format!("  [m_mimage_0] {ap}(0)"),
            &format!("  [m_mimage_1] {cp}(0)")
        ]
    );
    let (leg0, leg1) = (read_export(&d, "vg0-m_mimage_0", 16 << 20), read_export(&d, "vg0-m_mimage_1", 16 << 20));
    assert!(leg0 == leg1, "the legs differ after the repair");
    for (block, seed) in acked.lock().unwrap().iter() {
        let at = *block as usize * BLOCK;
        assert!(
            leg0[at..at + BLOCK] == stamped(BLOCK, *seed, *block)[..],
            "block {block} lost its last acknowledged write"
        );
    }
    d.stop();
}

/// A third image added to a mirror whose disk log says every region is in
/// sync gets every region copied (the mirror is reloaded with `sync`): the
/// regression a rewritten log would hit, since the live mirror writes its
/// own bits back when it is suspended.
#[test]
fn test_mirror_gains_an_image_that_gets_the_data() {
    let t = TestDir::new("lvm-mirror-up");
    let (d, data) = synced_mirror_with_data(&t, 21);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    let out = lvm.ok(&["lvconvert", "-m", "2", "-i", "1", "vg0/m"]);
    assert!(out.ends_with("  vg0/m: Converted: 100.00%\n"), "{out}");
    assert_eq!(
        lvm.ok(&["lvs", "--noheadings", "-o", "devices", "vg0/m"]).trim(),
        "m_mimage_0(0),m_mimage_1(0),m_mimage_2(0)"
    );
    assert!(read_export(&d, "vg0-m_mimage_2", 8 << 20) == data, "the new image was not copied");
    assert!(read_export(&d, "vg0-m", 8 << 20) == data);
    d.stop();
}

/// The daemon watches mirrors as dmeventd does: a leg that fails under
/// writes is dealt with by `activation/mirror_image_fault_policy`, with
/// no command run. `remove` (LVM's default) leaves a linear LV on the
/// healthy image; `allocate` puts a new image on the free PV and copies
/// it. The data is whole either way.
#[test]
fn test_the_daemon_repairs_a_failed_mirror_leg_by_its_fault_policy() {
    let t = TestDir::new("lvm-mirror-monitor");
    let imgs = ["a.img", "b.img", "c.img"].map(|f| t.image(f, 64));
    let [ap, bp, cp] = imgs.clone().map(|p| p.to_str().unwrap().to_string());
    let sys = t.path("sys");
    let d = Daemon::start(&t.path("run"), &["--system-dir", sys.to_str().unwrap()]);
    let lvm = Lvm { sys: sys.clone(), run: &d.run_dir };
    lvm.ok(&["vgcreate", "vg0", &ap, &bp, &cp]);
    let fail_leg = |dev: &str| {
        d.ok(&["suspend", dev]);
        d.ok(&["load", dev, "--table", "0 8192 error"]);
        d.ok(&["resume", dev]);
    };
    let write = |lv: &str, seed: u64| {
        let data = stamped(4 << 20, seed, 0);
        let c = NbdClient::connect_unix(&d.nbd_socket(), lv).unwrap();
        c.write(Sectors(0), &data).unwrap();
        c.flush().unwrap();
        data
    };
    // remove: the failed image 1 goes, m is linear on a.
    lvm.ok(&["lvcreate", "--type", "mirror", "-m", "1", "--mirrorlog", "core", "-L", "4M", "-n", "m", "vg0", &ap, &bp]);
    wait_for("the mirror in sync", || in_sync(&lvm, "vg0/m"));
    fail_leg("vg0-m_mimage_1");
    let data = write("vg0-m", 31);
    wait_for("the monitor's repair (remove)", || {
        lvm.ok(&["lvs", "--noheadings", "-o", "lv_attr,devices", "vg0/m"]).split_whitespace().collect::<Vec<_>>()
            == ["-wi-a-----", &format!("{ap}(0)")]
    });
    assert!(d.log().contains("mirror: vg0/m has a failed leg (AD), repairing"), "{}", d.log());
    assert!(read_export(&d, "vg0-m", 4 << 20) == data, "the data did not survive the repair");
    // allocate: the failed image 1 is replaced on c and copied.
    std::fs::write(sys.join("lvm.conf"), "activation {\n\tmirror_image_fault_policy = \"allocate\"\n}\n").unwrap();
    lvm.ok(&["lvcreate", "--type", "mirror", "-m", "1", "--mirrorlog", "core", "-L", "4M", "-n", "n", "vg0", &ap, &bp]);
    wait_for("the mirror in sync", || in_sync(&lvm, "vg0/n"));
    fail_leg("vg0-n_mimage_1");
    let data = write("vg0-n", 32);
    wait_for("the monitor's repair (allocate)", || {
        lvm.ok(&["lvs", "-a", "--noheadings", "-o", "devices", "vg0/n_mimage_1"]).trim() == format!("{cp}(0)")
            && in_sync(&lvm, "vg0/n")
    });
    assert!(read_export(&d, "vg0-n_mimage_1", 4 << 20) == data, "the new image was not copied");
    assert!(read_export(&d, "vg0-n", 4 << 20) == data);
    d.stop();
}

/// An image added to an inactive mirror with a disk log is copied at the
/// next activation: its log, which says every region is in sync, is
/// written out of sync by the conversion.
#[test]
fn test_an_inactive_mirror_gains_an_image_copied_at_activation() {
    let t = TestDir::new("lvm-mirror-up-inactive");
    let (d, data) = synced_mirror_with_data(&t, 41);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    lvm.ok(&["lvchange", "-an", "vg0/m"]);
    assert_eq!(lvm.ok(&["lvconvert", "-m", "2", "vg0/m"]), "  Logical volume vg0/m converted.\n");
    lvm.ok(&["lvchange", "-ay", "vg0/m"]);
    wait_for("the new image copied", || in_sync(&lvm, "vg0/m"));
    assert!(read_export(&d, "vg0-m_mimage_2", 8 << 20) == data, "the new image was not copied");
    d.stop();
}

/// `lvextend` of an active mirror under its data: each image grows, the
/// new regions are copied to every image, the old data stays.
#[test]
fn test_lvextend_of_an_active_mirror_grows_every_image() {
    let t = TestDir::new("lvm-mirror-extend");
    let (d, data) = synced_mirror_with_data(&t, 51);
    let lvm = Lvm { sys: t.path("sys"), run: &d.run_dir };
    assert_eq!(
        lvm.ok(&["lvextend", "-L", "+8M", "vg0/m"]),
        "  Size of logical volume vg0/m changed from 8.00 MiB (2 extents) to 16.00 MiB (4 extents).\n  \
         Logical volume vg0/m successfully resized.\n"
    );
    let more = stamped(8 << 20, 52, 0);
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-m").unwrap();
    c.write(Sectors(8 << 11), &more).unwrap();
    c.flush().unwrap();
    drop(c);
    wait_for("the grown mirror in sync", || in_sync(&lvm, "vg0/m"));
    let mut want = data.clone();
    want.extend_from_slice(&more);
    for dev in ["vg0-m", "vg0-m_mimage_0", "vg0-m_mimage_1"] {
        assert!(read_export(&d, dev, 16 << 20) == want, "{dev} does not hold the data");
    }
    assert_eq!(
        lvm.fails(5, &["lvreduce", "-f", "-L", "-4M", "vg0/m"]),
        "ulvm cannot reduce mirrored LV vg0/m yet: lvconvert -m 0, reduce, then mirror it again."
    );
    d.stop();
}
