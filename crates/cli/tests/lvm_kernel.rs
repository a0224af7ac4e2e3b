//! A disk that ulvm's LVM manages is activated by a stock Linux host with
//! real LVM2, and the other way round, through `../shared/oracle` (the
//! Debian kernel with device-mapper in a throw-away VM):
//!
//! * ulvm makes a VG with a linear LV, a snapshot of it and a striped LV,
//!   and writes data through its daemon; the kernel's `vgchange -ay` shows
//!   the same contents on every LV and the same snapshot status line.
//! * ulvm makes legacy mirrors (synced, `--nosync`, never activated); the
//!   kernel reads their disk logs as its own and copies only the new one.
//! * raid1 LVs cross both ways, each side repairing a failed leg that the
//!   other then activates in sync (the kernel's dm-raid modules are
//!   loaded into the guest from the oracle's kernel package).
//! * Real LVM makes a VG with a snapshot and writes through the kernel;
//!   ulvm activates it, reads the same contents, merges the snapshot back;
//!   the kernel then sees a plain LV with the snapshot's data.
//!
//! Skips when the oracle is not set up, unless `ULVM_REQUIRE_ORACLE=1`.

mod common;

use common::{Daemon, TestDir, ULVM};
use std::path::Path;
use std::process::Command;
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::oracle::{dm_raid_modules, oracle_dir, run_vm, run_vm_with_files};
use ulvm_testkit::stamped;

fn ulvm(sys: &Path, run: &Path, args: &[&str]) -> String {
    let o = Command::new(ULVM).args(args).env("ULVM_SYSTEM_DIR", sys).env("ULVM_RUN_DIR", run).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn sha256(data: &[u8], t: &TestDir, name: &str) -> String {
    let p = t.path(name);
    std::fs::write(&p, data).unwrap();
    let o = Command::new("sha256sum").arg(&p).output().unwrap();
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no '{key}' line in guest output:\n{out}"))
}

#[test]
fn test_kernel_lvm_activates_a_vg_ulvm_made() {
    let Some(oracle) = oracle_dir() else { return };
    let t = TestDir::new("lvm-kernel-a");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, run) = (t.path("sys"), t.path("run"));
    let d = Daemon::start(&run, &[]);
    let u = |args: &[&str]| ulvm(&sys, &run, args);
    u(&["vgcreate", "vgk", a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-L", "16M", "-n", "base", "vgk"]);
    u(&["lvcreate", "-L", "8M", "-i", "2", "-I", "64k", "-n", "st", "vgk"]);
    let write = |lv: &str, data: &[u8]| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), lv).unwrap();
        c.write(Sectors(0), data).unwrap();
        c.flush().unwrap();
    };
    let old = stamped(16 << 20, 1, 0);
    write("vgk-base", &old);
    u(&["lvcreate", "-s", "-L", "8M", "-n", "snap", "vgk/base"]);
    let newer = stamped(4 << 20, 2, 0);
    write("vgk-base", &newer);
    let striped = stamped(8 << 20, 3, 0);
    write("vgk-st", &striped);
    let status = u(&["dmsetup", "status", "vgk-snap"]);
    u(&["vgchange", "-an", "vgk"]);
    d.stop();
    let mut base = newer.clone();
    base.extend_from_slice(&old[4 << 20..]);
    let out = run_vm(
        &oracle,
        &t.0,
        &[&a, &b],
        "set -e\nvgchange -ay vgk >/dev/null\n\
         echo \"lvs: $(lvs --noheadings -o lv_name,lv_attr vgk | tr -s ' ' | tr '\\n' ';')\"\n\
         echo \"status: $(dmsetup status vgk-snap)\"\n\
         for lv in base snap st; do echo \"$lv: $(sha256sum < /dev/vgk/$lv | cut -d' ' -f1)\"; done\n\
         vgchange -an vgk >/dev/null\nvgck vgk && echo vgck: ok\n",
    );
    assert_eq!(line(&out, "lvs:"), "base owi-a-s---; snap swi-a-s---; st -wi-a-----;");
    assert_eq!(line(&out, "status:"), status.trim(), "the kernel reads the COW ulvm wrote to the same status");
    assert_eq!(line(&out, "base:"), sha256(&base, &t, "base.bin"));
    assert_eq!(line(&out, "snap:"), sha256(&old, &t, "snap.bin"));
    assert_eq!(line(&out, "st:"), sha256(&striped, &t, "st.bin"));
    assert_eq!(line(&out, "vgck:"), "ok");
}

#[test]
fn test_ulvm_activates_and_merges_a_vg_the_kernel_made() {
    let Some(oracle) = oracle_dir() else { return };
    let t = TestDir::new("lvm-kernel-b");
    let a = t.image("a.img", 64);
    run_vm(
        &oracle,
        &t.0,
        &[&a],
        "set -e\npvcreate -q /dev/vda\nvgcreate -q vgl /dev/vda\nlvcreate -q -L 16M -n base vgl\n\
         yes PATTERN-A | head -c 16777216 | dd of=/dev/vgl/base bs=1M iflag=fullblock oflag=direct status=none\n\
         lvcreate -q -s -L 8M -n snap vgl/base\n\
         yes PATTERN-B | head -c 4194304 | dd of=/dev/vgl/base bs=1M iflag=fullblock oflag=direct status=none\n\
         vgchange -an vgl >/dev/null\n",
    );
    let (sys, run) = (t.path("sys"), t.path("run"));
    let devs = a.to_str().unwrap().to_string();
    let u = |args: &[&str]| {
        let mut v = vec![args[0], "--devices", &devs];
        v.extend(&args[1..]);
        ulvm(&sys, &run, &v)
    };
    assert_eq!(
        u(&["lvs", "--noheadings", "-o", "lv_name,lv_attr,origin", "vgl"]),
        "  base owi---s---       \n  snap swi---s--- base  \n"
    );
    let d = Daemon::start(&run, &[]);
    u(&["vgchange", "-ay", "vgl"]);
    let pattern = |p: &str, n: usize| p.as_bytes().iter().copied().cycle().take(n).collect::<Vec<u8>>();
    let read = |lv: &str| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), lv).unwrap();
        let mut v = vec![0u8; 16 << 20];
        c.read(Sectors(0), &mut v).unwrap();
        v
    };
    assert!(read("vgl-snap") == pattern("PATTERN-A\n", 16 << 20), "ulvm reads the kernel's snapshot");
    let mut base = pattern("PATTERN-B\n", 4 << 20);
    base.extend_from_slice(&pattern("PATTERN-A\n", 16 << 20)[4 << 20..]);
    assert!(read("vgl-base") == base, "ulvm reads the kernel's origin");
    // The NBD clients above are gone: their drop waits for the server to
    // let go of the export, so the origin is closed and the merge starts.
    let out = u(&["lvconvert", "--merge", "-i", "1", "vgl/snap"]);
    assert!(out.contains("Merge of snapshot into logical volume vgl/base has finished."), "{out}");
    assert!(read("vgl-base") == pattern("PATTERN-A\n", 16 << 20), "merged back to the snapshot");
    u(&["vgchange", "-an", "vgl"]);
    d.stop();
    let out = run_vm(
        &oracle,
        &t.0,
        &[&a],
        "set -e\nvgck vgl && echo vgck: ok\nvgchange -ay vgl >/dev/null\n\
         echo \"lvs: $(lvs -a --noheadings -o lv_name,lv_attr vgl | tr -s ' ' | tr '\\n' ';')\"\n\
         echo \"head: $(head -c 9 /dev/vgl/base)\"\n\
         vgchange -an vgl >/dev/null\n",
    );
    assert_eq!(line(&out, "vgck:"), "ok");
    assert_eq!(line(&out, "lvs:"), "base -wi-a-----;");
    assert_eq!(line(&out, "head:"), "PATTERN-A");
}

/// The kernel activates legacy mirrors ulvm made and reads ulvm's disk
/// logs as its own: a mirror ulvm wrote and synced comes up fully in sync
/// (the kernel copies nothing), a `--nosync` one too, and one ulvm never
/// activated (its log as `lvcreate` writes it, every region out of sync)
/// is copied by the kernel from image 0 to image 1. Real `lvs` shows
/// LVM's attributes and `vgck` accepts the VG.
#[test]
fn test_kernel_activates_mirrors_ulvm_made() {
    let Some(oracle) = oracle_dir() else { return };
    let t = TestDir::new("lvm-kernel-mirror");
    let imgs = [t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64)];
    let (sys, run) = (t.path("sys"), t.path("run"));
    let d = Daemon::start(&run, &[]);
    let u = |args: &[&str]| ulvm(&sys, &run, args);
    let paths: Vec<&str> = imgs.iter().map(|p| p.to_str().unwrap()).collect();
    u(&["vgcreate", "vgk", paths[0], paths[1], paths[2]]);
    u(&["lvcreate", "--type", "mirror", "-m", "1", "-L", "8M", "-n", "m", "vgk"]);
    u(&["lvcreate", "--type", "mirror", "-m", "1", "--nosync", "-L", "4M", "-n", "ns", "vgk"]);
    u(&["lvcreate", "-an", "--type", "mirror", "-m", "1", "-L", "4M", "-n", "fresh", "vgk"]);
    common::wait_for("m in sync", || u(&["lvs", "--noheadings", "-o", "copy_percent", "vgk/m"]).trim() == "100.00");
    let data = stamped(8 << 20, 7, 0);
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vgk-m").unwrap();
    c.write(Sectors(0), &data).unwrap();
    c.flush().unwrap();
    drop(c);
    u(&["vgchange", "-an", "vgk"]);
    d.stop();
    // fresh's image 0 gets data of its own, written straight to its
    // extent on a.img (extent 3: after m's two and ns's one).
    let fresh = stamped(4 << 20, 8, 0);
    let f = std::fs::OpenOptions::new().write(true).open(&imgs[0]).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &fresh, (1 << 20) + 3 * (4 << 20)).unwrap();
    drop(f);
    let out = run_vm(
        &oracle,
        &t.0,
        &[&imgs[0], &imgs[1], &imgs[2]],
        "set -e\nvgchange -ay vgk >/dev/null\n\
         echo \"m-status: $(dmsetup status vgk-m)\"\n\
         echo \"ns-status: $(dmsetup status vgk-ns)\"\n\
         for i in $(seq 300); do dmsetup status vgk-fresh | grep -q ' 2/2 ' && break; sleep 0.1; done\n\
         echo \"fresh-status: $(dmsetup status vgk-fresh)\"\n\
         echo \"lvs: $(lvs -a --noheadings -o lv_name,lv_attr vgk | tr -s ' ' | tr '\\n' ';')\"\n\
         for lv in m m_mimage_0 m_mimage_1 fresh_mimage_1; do echo \"$lv: $(sha256sum < /dev/mapper/vgk-$lv | cut -d' ' -f1)\"; done\n\
         vgchange -an vgk >/dev/null\nvgck vgk && echo vgck: ok\n",
    );
    // `2 <leg> <leg> <in sync>/<regions> 1 <health> <log>`: device
    // numbers are the kernel's, the rest must read so.
    let fields = |key: &str| -> Vec<String> {
        let w: Vec<&str> = line(&out, key).split_whitespace().collect();
        w[3..].iter().filter(|x| !x.contains(':')).map(|x| x.to_string()).collect()
    };
    assert_eq!(fields("m-status:"), ["2", "4/4", "1", "AA", "3", "disk", "A"], "{out}");
    assert_eq!(fields("ns-status:"), ["2", "2/2", "1", "AA", "3", "disk", "A"], "{out}");
    assert_eq!(fields("fresh-status:"), ["2", "2/2", "1", "AA", "3", "disk", "A"], "{out}");
    assert_eq!(
        line(&out, "lvs:"),
        "fresh mwi-a-m---; [fresh_mimage_0] iwi-aom---; [fresh_mimage_1] iwi-aom---; [fresh_mlog] lwi-aom---; \
         m mwi-a-m---; [m_mimage_0] iwi-aom---; [m_mimage_1] iwi-aom---; [m_mlog] lwi-aom---; \
         ns Mwi-a-m---; [ns_mimage_0] iwi-aom---; [ns_mimage_1] iwi-aom---; [ns_mlog] lwi-aom---;"
    );
    let sum = sha256(&data, &t, "m.bin");
    for lv in ["m:", "m_mimage_0:", "m_mimage_1:"] {
        assert_eq!(line(&out, lv), sum, "{lv}");
    }
    assert_eq!(line(&out, "fresh_mimage_1:"), sha256(&fresh, &t, "fresh.bin"), "the kernel did not copy image 0");
    assert_eq!(line(&out, "vgck:"), "ok");
}

/// raid1 LVs cross between ulvm and the kernel, each side repairing a
/// failed leg the other then takes:
///
/// * ulvm makes two raid1 LVs and writes them; one loses its image 1
///   under writes (an `error` table) and ulvm's `lvconvert --repair`
///   rebuilds it on the third PV. Real LVM activates both: the kernel's
///   status is in sync, the contents are ulvm's, `vgck` accepts the VG.
/// * The kernel then makes a raid1 of its own, writes it, loses the disk
///   under it (the virtio device unbound), writes more and repairs it
///   onto the third PV. ulvm, without that disk, activates it in sync
///   and reads the kernel's data.
#[test]
fn test_raid1_lvs_cross_between_ulvm_and_the_kernel_each_repairing() {
    let Some(oracle) = oracle_dir() else { return };
    let t = TestDir::new("lvm-kernel-raid");
    let Some((mods, modload)) = dm_raid_modules(&t.0) else {
        eprintln!("skipping: the oracle's kernel package has no dm-raid modules");
        return;
    };
    let imgs = [t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64)];
    let paths: Vec<&str> = imgs.iter().map(|p| p.to_str().unwrap()).collect();
    let (sys, run) = (t.path("sys"), t.path("run"));
    let d = Daemon::start(&run, &[]);
    let u = |args: &[&str]| ulvm(&sys, &run, args);
    let synced = |lv: &str| u(&["lvs", "--noheadings", "-o", "copy_percent", lv]).trim() == "100.00";
    let write = |lv: &str, data: &[u8]| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), lv).unwrap();
        c.write(Sectors(0), data).unwrap();
        c.flush().unwrap();
    };
    u(&["vgcreate", "vgr", paths[0], paths[1], paths[2]]);
    u(&["lvcreate", "-m", "1", "-L", "8M", "-n", "r", "vgr", paths[0], paths[1]]);
    u(&["lvcreate", "-m", "1", "-L", "4M", "-n", "f", "vgr", paths[0], paths[1]]);
    common::wait_for("r and f in sync", || synced("vgr/r") && synced("vgr/f"));
    let r = stamped(8 << 20, 21, 0);
    write("vgr-r", &r);
    let mut f = stamped(4 << 20, 22, 0);
    write("vgr-f", &f);
    // f's image 1 fails; writes go on; ulvm repairs it onto c.
    d.ok(&["suspend", "vgr-f_rimage_1"]);
    d.ok(&["load", "vgr-f_rimage_1", "--table", "0 8192 error"]);
    d.ok(&["resume", "vgr-f_rimage_1"]);
    let more = stamped(1 << 20, 23, 0);
    write("vgr-f", &more);
    f[..1 << 20].copy_from_slice(&more);
    common::wait_for("f's failed image seen", || {
        u(&["lvs", "--noheadings", "-o", "lv_health_status", "vgr/f"]).trim() == "refresh needed"
    });
    u(&["lvconvert", "--repair", "-y", "vgr/f", paths[2]]);
    common::wait_for("f rebuilt", || synced("vgr/f"));
    u(&["vgchange", "-an", "vgr"]);
    d.stop();

    let k = stamped(4 << 20, 24, 0);
    let k2 = stamped(1 << 20, 25, 0);
    let (kp, k2p) = (t.path("k.bin"), t.path("k2.bin"));
    std::fs::write(&kp, &k).unwrap();
    std::fs::write(&k2p, &k2).unwrap();
    let wait = |lv: &str| {
        format!(
            "for i in $(seq 600); do [ \"$(lvs --noheadings -o copy_percent vgr/{lv} | tr -d ' ')\" = 100.00 ] && break; sleep 0.1; done\n"
        )
    };
    let script = format!(
        "set -e\n{modload}vgchange -ay vgr >/dev/null\n{wr}{wf}\
         echo \"r-status: $(dmsetup status vgr-r)\"\n\
         echo \"f-status: $(dmsetup status vgr-f)\"\n\
         echo \"lvs: $(lvs -a --noheadings -o lv_name,lv_attr,devices vgr | tr -s ' ' | tr '\\n' ';')\"\n\
         for lv in r f; do echo \"$lv: $(sha256sum < /dev/vgr/$lv | cut -d' ' -f1)\"; done\n\
         lvchange -an vgr/r vgr/f\n\
         lvcreate -y -m 1 -L 4M -n k vgr /dev/vda /dev/vdb >/dev/null\n{wk}\
         dd if=/job/files/k.bin of=/dev/vgr/k bs=1M oflag=direct 2>/dev/null\n\
         echo $(basename $(readlink -f /sys/block/vdb/device)) > /sys/bus/virtio/drivers/virtio_blk/unbind\n\
         dd if=/job/files/k2.bin of=/dev/vgr/k bs=1M oflag=direct conv=notrunc 2>/dev/null\n\
         echo \"k-degraded: $(dmsetup status vgr-k)\"\n\
         lvconvert -y --repair vgr/k /dev/vdc >/dev/null 2>&1\n{wk}\
         echo \"k-status: $(dmsetup status vgr-k)\"\n\
         echo \"k: $(sha256sum < /dev/vgr/k | cut -d' ' -f1)\"\n\
         vgchange -an vgr >/dev/null 2>&1 || true\n",
        wr = wait("r"),
        wf = wait("f"),
        wk = wait("k"),
    );
    let out = run_vm_with_files(&oracle, &t.0, &[&imgs[0], &imgs[1], &imgs[2]], &[&mods, &kp, &k2p], &script);
    // `raid1 2 AA <n>/<n> idle 0 0 -`, the device numbers aside.
    let status = |key: &str| line(&out, key).split_whitespace().skip(3).collect::<Vec<_>>().join(" ");
    assert_eq!(status("r-status:"), "raid1 2 AA 16384/16384 idle 0 0 -", "{out}");
    assert_eq!(status("f-status:"), "raid1 2 AA 8192/8192 idle 0 0 -", "{out}");
    assert_eq!(line(&out, "r:"), sha256(&r, &t, "r.bin"), "the kernel reads ulvm's r");
    assert_eq!(line(&out, "f:"), sha256(&f, &t, "f.bin"), "the kernel reads ulvm's repaired f");
    let lvs = line(&out, "lvs:");
    assert!(lvs.contains("[f_rimage_1] iwi-aor--- /dev/vdc(1)"), "{lvs}");
    assert!(status("k-degraded:").starts_with("raid1 2 AD "), "{out}");
    assert_eq!(status("k-status:"), "raid1 2 AA 8192/8192 idle 0 0 -", "{out}");
    let mut kd = k.clone();
    kd[..1 << 20].copy_from_slice(&k2);
    assert_eq!(line(&out, "k:"), sha256(&kd, &t, "kd.bin"));

    // ulvm without the lost disk: k comes up in sync with the kernel's data.
    std::fs::rename(&imgs[1], t.path("b.lost")).unwrap();
    let d = Daemon::start(&run, &[]);
    let u = |args: &[&str]| ulvm(&sys, &run, args);
    u(&["lvchange", "-ay", "vgr/k"]);
    let st = u(&["dmsetup", "status", "vgr-k"]);
    assert_eq!(st.trim(), "0 8192 raid raid1 2 AA 8192/8192 idle 0 0 -", "ulvm's status of the kernel's repaired k");
    let c = NbdClient::connect_unix(&d.nbd_socket(), "vgr-k").unwrap();
    let mut got = vec![0u8; 4 << 20];
    c.read(Sectors(0), &mut got).unwrap();
    assert!(got == kd, "ulvm reads the kernel's k");
    drop(c);
    u(&["vgchange", "-an", "vgr"]);
    d.stop();
}
