//! pvmove between ulvm and the real thing. A VG that ulvm left in the
//! middle of a move (the daemon killed after the first checkpoint, the
//! copy held back by `--mirror-resync-throttle 1`), with and without
//! `--atomic`:
//! - real LVM's `vgck` and `lvs -a` (the local lvm2 over loop devices)
//!   accept it and list it as ulvm does;
//! - the kernel's LVM (`../shared/oracle`) activates it and finishes the
//!   move with its own `pvmove`, and the LVs hold the data ulvm wrote.
//!
//! And the other way: a move that real LVM started in the oracle and
//! that a power-off interrupted is resumed and finished by ulvm, with
//! the data the guest wrote.
//!
//! The local part needs root, losetup and lvm2 (skips with a reason
//! otherwise, unless `ULVM_REQUIRE_TOOLS=1`); the oracle part skips only
//! when the oracle is not set up, unless `ULVM_REQUIRE_ORACLE=1` (CI).

mod common;

use common::{attach, normalize, only, wait_for, Daemon, Lvm, TestDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use ulvm_blockdev::BlockDevice;
use ulvm_nbd::NbdClient;
use ulvm_testkit::oracle::{oracle_dir, run_vm};
use ulvm_testkit::stamped;

const MIB: usize = 1 << 20;

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    common::run_lvm_tool(cmd, args)
}

fn sha256(data: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("ulvm-pvmove-interop-{}.bin", std::process::id()));
    std::fs::write(&p, data).unwrap();
    let o = Command::new("sha256sum").arg(&p).output().unwrap();
    let _ = std::fs::remove_file(&p);
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no '{key}' line in guest output:\n{out}"))
}

/// The LVs of a VG ulvm leaves mid-move: name and MiB (three segments,
/// so that a checkpoint falls mid-move).
const LVS: [(&str, usize); 3] = [("lv1", 12), ("lv2", 8), ("lv3", 24)];

/// Makes VG `vg` over `src` and `dst` with the LVs of [`LVS`] on `src`,
/// writes them, starts `pvmove -b [--atomic] SRC` in a daemon whose copy
/// runs at 1 %, waits for the move to be under way (after the first
/// checkpoint without `--atomic`, a region in sync with it), writes once
/// more through the move, holds it there (`dmsetup suspend` of pvmove0,
/// as the oracle4 session does) and kills the daemon. Returns the LVs'
/// contents.
fn leave_mid_move(t: &TestDir, vg: &str, src: &Path, dst: &Path, atomic: bool) -> Vec<Vec<u8>> {
    let (sys, run_dir) = (t.path("sys"), t.path(&format!("run-{vg}")));
    let d = Daemon::start(&run_dir, &["--system-dir", sys.to_str().unwrap(), "--mirror-resync-throttle", "1"]);
    let lvm = Lvm { sys: sys.clone(), run: &run_dir };
    lvm.ok(&["vgcreate", "-s", "1M", vg, src.to_str().unwrap(), dst.to_str().unwrap()]);
    let mut models = Vec::new();
    for (i, (lv, mib)) in LVS.iter().enumerate() {
        lvm.ok(&["lvcreate", "-L", &format!("{mib}M"), "-n", lv, vg, src.to_str().unwrap()]);
        let data = stamped(mib * MIB, 300 + i as u64, 0);
        let c = NbdClient::connect_unix(&d.nbd_socket(), &format!("{vg}-{lv}")).unwrap();
        c.write_at(0, &data, false).unwrap();
        c.flush().unwrap();
        models.push(data);
    }
    let mut args = vec!["pvmove", "-b", src.to_str().unwrap()];
    if atomic {
        args.insert(1, "--atomic");
    }
    lvm.ok(&args);
    let dm = format!("{vg}-pvmove0");
    if atomic {
        wait_for("the atomic move to copy a region", || {
            let st = lvm.ok(&["dmsetup", "status", &dm]);
            let sync = st.split_whitespace().nth(6).unwrap_or("0/1").to_string();
            let (a, b) = sync.split_once('/').unwrap();
            a != "0" && a != b
        });
    } else {
        wait_for("the first checkpoint", || {
            let table = lvm.ok(&["dmsetup", "table", &dm]);
            table.lines().next().and_then(|l| l.split_whitespace().nth(2)) == Some("linear")
        });
    }
    // One more write through the move, acknowledged and flushed.
    let c = NbdClient::connect_unix(&d.nbd_socket(), &format!("{vg}-lv1")).unwrap();
    let more = stamped(MIB, 399, 0);
    c.write_at((5 * MIB) as u64, &more, false).unwrap();
    c.flush().unwrap();
    drop(c);
    models[0][5 * MIB..6 * MIB].copy_from_slice(&more);
    lvm.ok(&["dmsetup", "suspend", &dm]);
    let mid = lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name", vg]);
    assert!(mid.contains("pvmove0"), "the move ended before the daemon was killed: {mid}");
    d.crash();
    models
}

#[test]
fn test_real_lvm_checks_and_lists_a_vg_ulvm_left_mid_move() {
    let why = if run("id", &["-u"]).map(|s| s.trim().to_string()).as_deref() != Ok("0") {
        Some("needs root for loop devices")
    } else if run("lvm", &["version"]).is_err() {
        Some("lvm2 is not installed")
    } else {
        None
    };
    if let Some(why) = why {
        if std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{why}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
        }
        eprintln!("skipping: {why}");
        return;
    }
    for atomic in [false, true] {
        let t = TestDir::new(if atomic { "pvmove-interop-lvs-atomic" } else { "pvmove-interop-lvs" });
        let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
        let vg = format!("ulvmmv{}{}", std::process::id(), atomic as u8);
        leave_mid_move(&t, &vg, &a, &b, atomic);
        let loops = attach(&[&a, &b], true);
        let cfg = only(&loops);
        let files = [a.as_path(), b.as_path()];
        run("vgck", &["--config", &cfg, &vg]).unwrap_or_else(|e| panic!("atomic {atomic}: {e}"));
        let fields = "lv_name,lv_attr,lv_size,move_pv,devices,seg_pe_ranges,segtype";
        let real =
            run("lvs", &["--config", &cfg, "-a", "--noheadings", "--separator", "|", "-o", fields, &vg]).unwrap();
        let (sys, rd) = (t.path("sys"), t.path("run-x"));
        std::fs::create_dir_all(&rd).unwrap();
        let lvm = Lvm { sys, run: &rd };
        let ours = lvm.ok(&["lvs", "-a", "--noheadings", "--separator", "|", "-o", fields, &vg]);
        let real = normalize(&real, &loops, &files);
        assert_eq!(real, normalize(&ours, &loops, &files), "atomic {atomic}");
        let want = if atomic { "[pvmove0_mimage_1]" } else { "[pvmove0]" };
        assert!(real.iter().any(|l| l.starts_with(want)), "{real:?}");
    }
}

#[test]
fn test_kernel_lvm_finishes_a_move_ulvm_left_mid_way() {
    let Some(oracle) = oracle_dir() else { return };
    let t = TestDir::new("pvmove-interop-kernel");
    let disks: Vec<PathBuf> = ["a.img", "b.img", "c.img", "d.img"].iter().map(|n| t.image(n, 64)).collect();
    let plain = leave_mid_move(&t, "vgu", &disks[0], &disks[1], false);
    let atomic = leave_mid_move(&t, "vgv", &disks[2], &disks[3], true);
    let refs: Vec<&Path> = disks.iter().map(|p| p.as_path()).collect();
    let out = run_vm(
        &oracle,
        &t.0,
        &refs,
        "set -e\n\
         vgchange -ay --poll n vgu vgv >/dev/null\n\
         echo \"moving: $(lvs -a --noheadings -o lv_name,move_pv vgu vgv | grep pvmove0 | tr -s ' ' | tr '\\n' ';')\"\n\
         pvmove -i 0 /dev/vda\n\
         pvmove -i 0\n\
         for vg in vgu vgv; do for lv in lv1 lv2 lv3; do echo \"$vg/$lv: $(sha256sum < /dev/$vg/$lv | cut -d' ' -f1)\"; done; done\n\
         echo \"lvs: $(lvs -a --noheadings -o vg_name,lv_name,devices vgu vgv | tr -s ' ' | tr '\\n' ';')\"\n\
         vgchange -an vgu vgv >/dev/null\nvgck vgu vgv && echo vgck: ok\n",
    );
    assert_eq!(
        line(&out, "moving:"),
        "[pvmove0] /dev/vda; [pvmove0] /dev/vdc; [pvmove0_mimage_0] ; [pvmove0_mimage_1] ;",
        "the kernel's LVM sees both moves, the atomic one with its images"
    );
    for (vg, models) in [("vgu", &plain), ("vgv", &atomic)] {
        for (i, (lv, _)) in LVS.iter().enumerate() {
            assert_eq!(line(&out, &format!("{vg}/{lv}:")), sha256(&models[i]), "{vg}/{lv} after the kernel's move");
        }
    }
    assert_eq!(
        line(&out, "lvs:").replace(" ;", ";"),
        "vgu lv1 /dev/vdb(0); vgu lv2 /dev/vdb(12); vgu lv3 /dev/vdb(20); \
         vgv lv1 /dev/vdd(0); vgv lv2 /dev/vdd(12); vgv lv3 /dev/vdd(20);"
    );
    assert_eq!(line(&out, "vgck:"), "ok");
}

#[test]
fn test_ulvm_finishes_a_move_real_lvm_left_mid_way() {
    let Some(oracle) = oracle_dir() else { return };
    let t = TestDir::new("pvmove-interop-resume");
    let disks: Vec<PathBuf> = ["a.img", "b.img", "c.img", "d.img"].iter().map(|n| t.image(n, 64)).collect();
    let refs: Vec<&Path> = disks.iter().map(|p| p.as_path()).collect();
    // Three LVs per VG (three segments: a checkpoint falls mid-move), the
    // copy at 1 %. vga's atomic move and then vgr's start in the
    // background; their poller (the forked `pvmove`) is killed, vgr's
    // after its first checkpoint, so the metadata stays mid-move whatever
    // the kernel copies afterwards; and the VM powers off. (Suspending
    // pvmove0 to hold the move makes LVM's next commands hang.)
    let out = run_vm(
        &oracle,
        &t.0,
        &refs,
        "set -e\n\
         echo 1 > /sys/module/dm_mirror/parameters/raid1_resync_throttle\n\
         pvcreate -q /dev/vda /dev/vdb /dev/vdc /dev/vdd\n\
         vgcreate -q -s 1M vgr /dev/vda /dev/vdb\nvgcreate -q -s 1M vga /dev/vdc /dev/vdd\n\
         for vg in vgr vga; do\n\
           src=/dev/vda; [ $vg = vga ] && src=/dev/vdc\n\
           n=1; for mib in 12 8 24; do\n\
             lvcreate -q -Zn -L ${mib}M -n lv$n $vg $src 2>/dev/null\n\
             yes PATTERN-$vg-$n | head -c $((mib * 1048576)) | dd of=/dev/$vg/lv$n bs=1M iflag=fullblock oflag=direct status=none\n\
             n=$((n + 1))\n\
           done\n\
         done\n\
         pvmove -b -i 0 --atomic /dev/vdc\n\
         kill -9 $(pidof pvmove)\n\
         pvmove -b -i 0 /dev/vda\n\
         for i in $(seq 1 3000); do\n\
           [ \"$(dmsetup table vgr-pvmove0 | head -1 | cut -d' ' -f3)\" = linear ] && break; sleep 0.01\n\
         done\n\
         kill -9 $(pidof pvmove)\n\
         sleep 0.5\n\
         echo \"pollers: $(pidof pvmove lvm | wc -w)\"\n\
         echo \"moving: $(lvs -a --noheadings -o vg_name,lv_name,move_pv vgr vga | grep '\\[pvmove0\\]' | tr -s ' ' | tr '\\n' ';')\"\n\
         sync\n",
    );
    assert_eq!(line(&out, "pollers:"), "0");
    assert_eq!(line(&out, "moving:"), "vga [pvmove0] /dev/vdc; vgr [pvmove0] /dev/vda;", "{out}");
    let (sys, run_dir) = (t.path("sys"), t.path("run"));
    let lvm = Lvm { sys, run: &run_dir };
    let devs = disks.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>().join(",");
    let u = |args: &[&str]| {
        let mut v = vec![args[0], "--devices", &devs];
        v.extend(&args[1..]);
        lvm.ok(&v)
    };
    let mid = u(&["lvs", "-a", "--noheadings", "-o", "vg_name,lv_name,move_pv"]);
    let mid: String = mid.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n").collect();
    assert!(mid.contains(&format!("vga [pvmove0] {}", disks[2].display())), "{mid}");
    assert!(mid.contains(&format!("vgr [pvmove0] {}", disks[0].display())), "{mid}");
    // vgr's first segment is checkpointed, the others are not.
    let backup = t.path("vgr.vg");
    u(&["vgcfgbackup", "-f", backup.to_str().unwrap(), "vgr"]);
    let text = std::fs::read_to_string(&backup).unwrap();
    let moved: Vec<&str> = text.lines().filter(|l| l.contains("extents_moved")).map(str::trim).collect();
    assert!(
        moved[0].starts_with("extents_moved = 12") && moved[1..].iter().all(|l| l.starts_with("extents_moved = 0")),
        "{moved:?}"
    );
    let d = Daemon::start(&run_dir, &[]);
    u(&["vgchange", "-ay", "vga", "vgr"]);
    u(&["pvmove", "-i", "0"]);
    wait_for("both moves to end", || !u(&["lvs", "-a", "--noheadings", "-o", "lv_name"]).contains("pvmove"));
    for vg in ["vgr", "vga"] {
        for (n, mib) in [(1, 12), (2, 8), (3, 24)] {
            let want: Vec<u8> =
                format!("PATTERN-{vg}-{n}\n").into_bytes().into_iter().cycle().take(mib * MIB).collect();
            let c = NbdClient::connect_unix(&d.nbd_socket(), &format!("{vg}-lv{n}")).unwrap();
            let mut got = vec![0u8; mib * MIB];
            c.read(ulvm_blockdev::Sectors(0), &mut got).unwrap();
            assert!(got == want, "{vg}/lv{n} differs after ulvm finished the kernel's move");
        }
    }
    let used = u(&["pvs", "--noheadings", "-o", "pv_name,pv_used"]);
    for src in [&disks[0], &disks[2]] {
        let line = used.lines().find(|l| l.contains(src.to_str().unwrap())).unwrap_or_default();
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "nothing left on the source: {used}");
    }
    u(&["vgchange", "-an", "vga", "vgr"]);
    d.stop();
    let out = run_vm(&oracle, &t.0, &refs, "set -e\nvgck vgr vga && echo vgck: ok\n");
    assert_eq!(line(&out, "vgck:"), "ok");
}
