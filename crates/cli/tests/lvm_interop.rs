//! ulvm and real LVM2 agree on VGs each other made. Real LVM runs on loop
//! devices over the same files (it needs no device-mapper to read, check
//! and write metadata). Needs root, losetup and lvm2; skips with a reason
//! otherwise, unless `ULVM_REQUIRE_TOOLS=1` (CI).

mod common;

use common::{attach, normalize, only, Daemon, Loops, TestDir, ULVM};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;
use ulvm_blockdev::{BlockDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    common::run_lvm_tool(cmd, args)
}

fn can_run() -> bool {
    let why = if run("id", &["-u"]).map(|s| s.trim().to_string()).as_deref() != Ok("0") {
        "needs root for loop devices"
    } else if run("lvm", &["version"]).is_err() {
        "lvm2 is not installed"
    } else {
        return true;
    };
    common::require(false, why)
}

fn ulvm(sys: &Path, run_dir: &Path, args: &[&str]) -> String {
    let o = Command::new(ULVM).args(args).env("ULVM_SYSTEM_DIR", sys).env("ULVM_RUN_DIR", run_dir).output().unwrap();
    assert!(
        o.status.success(),
        "ulvm {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// ulvm's system and run directories in a test's directory.
fn dirs(t: &TestDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (sys, rd) = (t.path("sys"), t.path("run"));
    std::fs::create_dir_all(&rd).unwrap();
    (sys, rd)
}

/// Real LVM (on `loops`, with `cfg`) and ulvm (`u`) print the same report
/// of `args` (a command and its arguments) over the same PV `files`.
/// Returns real LVM's output.
fn same_report(u: &dyn Fn(&[&str]) -> String, cfg: &str, loops: &Loops, files: &[&Path], args: &[&str]) -> String {
    let mut real_args = vec!["--config", cfg];
    real_args.extend_from_slice(&args[1..]);
    let real = run(args[0], &real_args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let ours = u(args);
    assert_eq!(normalize(&real, loops, files), normalize(&ours, loops, files), "{args:?}");
    real
}

#[test]
fn test_real_lvm_reads_and_checks_what_ulvm_made() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-a");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmvg{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "32M", "-n", "base", &vg]);
    u(&["lvcreate", "-an", "-L", "16M", "-i", "2", "-I", "64k", "-n", "striped", &vg]);
    u(&["lvcreate", "-an", "-l", "3", "-n", "small", &vg]);
    u(&["lvcreate", "-an", "-s", "-L", "8M", "-n", "snap", &format!("{vg}/base")]);
    u(&["lvextend", "-l", "+2", &format!("{vg}/small")]);
    // A second snapshot, merging (recorded: the origin is inactive).
    u(&["lvcreate", "-an", "-s", "-L", "4M", "-n", "snap2", &format!("{vg}/base")]);
    u(&["lvconvert", "--merge", &format!("{vg}/snap2")]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    let fields = "lv_name,lv_attr,lv_size,origin,devices,seg_pe_ranges,segtype,stripes,chunk_size";
    same_report(&u, &cfg, &loops, &files, &["lvs", "-a", "--noheadings", "--separator", "|", "-o", fields, &vg]);
    let vfields = "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free,vg_extent_count,vg_free_count,vg_seqno";
    same_report(&u, &cfg, &loops, &files, &["vgs", "--noheadings", "--separator", "|", "-o", vfields, &vg]);
    let pfields = "pv_name,vg_name,pv_attr,pv_size,pv_free,pv_pe_count,pv_pe_alloc_count,pv_uuid";
    same_report(&u, &cfg, &loops, &files, &["pvs", "--noheadings", "--separator", "|", "-o", pfields]);
}

/// Real `vgck` and `lvs -a` accept a VG with ulvm's legacy mirrors (disk
/// log, core log, `--nosync`, a non-default region size) and show the
/// same attributes, logs, region sizes, images and extents as ulvm.
#[test]
fn test_real_lvm_reads_and_checks_ulvm_mirrors() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-mirror");
    let imgs = [t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64)];
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmmir{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    let paths: Vec<&str> = imgs.iter().map(|p| p.to_str().unwrap()).collect();
    u(&["vgcreate", &vg, paths[0], paths[1], paths[2]]);
    u(&["lvcreate", "-an", "--type", "mirror", "-m", "1", "-L", "8M", "-n", "mdisk", &vg]);
    u(&["lvcreate", "-an", "--type", "mirror", "-m", "1", "--mirrorlog", "core", "-L", "4M", "-n", "mcore", &vg]);
    u(&["lvcreate", "-an", "--type", "mirror", "-m", "1", "--nosync", "-L", "4M", "-n", "mnosync", &vg]);
    u(&["lvcreate", "-an", "--type", "mirror", "-m", "2", "-R", "512k", "-L", "4M", "-n", "mthree", &vg]);
    let loops = attach(&[&imgs[0], &imgs[1], &imgs[2]], true);
    let cfg = only(&loops);
    let files = [imgs[0].as_path(), imgs[1].as_path(), imgs[2].as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    let fields = "lv_name,lv_attr,lv_size,devices,seg_pe_ranges,segtype,mirror_log,region_size,copy_percent";
    let real =
        same_report(&u, &cfg, &loops, &files, &["lvs", "-a", "--noheadings", "--separator", "|", "-o", fields, &vg]);
    assert!(real.contains("[mdisk_mlog]"), "{real}");
}

/// Real `vgck` and `lvs -a` accept a VG with ulvm's raid1 LVs (two and
/// three images, `--nosync`, `-R`, a linear LV converted to raid1 and a
/// raid1 converted down) and show the same attributes, sub-LVs, devices,
/// region sizes and raid fields as ulvm; `lvdisplay -m` prints the same.
#[test]
fn test_real_lvm_reads_and_checks_ulvm_raid1() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-raid");
    let imgs = [t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64)];
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmraid{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    let paths: Vec<&str> = imgs.iter().map(|p| p.to_str().unwrap()).collect();
    u(&["vgcreate", &vg, paths[0], paths[1], paths[2]]);
    u(&["lvcreate", "-an", "--type", "raid1", "-m", "1", "-L", "8M", "-n", "r2", &vg]);
    u(&["lvcreate", "-an", "-m", "2", "-R", "512k", "-L", "4M", "-n", "r3", &vg]);
    u(&["lvcreate", "-an", "--type", "raid1", "-m", "1", "--nosync", "-L", "4M", "-n", "rnosync", &vg]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "lin", &vg]);
    u(&["lvconvert", "-y", "-m", "1", &format!("{vg}/lin")]);
    u(&["lvconvert", "-y", "-m", "1", &format!("{vg}/r3"), paths[2]]);
    let loops = attach(&[&imgs[0], &imgs[1], &imgs[2]], true);
    let cfg = only(&loops);
    let files = [imgs[0].as_path(), imgs[1].as_path(), imgs[2].as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    let fields = "lv_name,lv_attr,lv_size,devices,seg_pe_ranges,segtype,stripes,region_size,copy_percent,\
                  raid_mismatch_count,raid_sync_action,raid_write_behind,raid_min_recovery_rate,\
                  raid_max_recovery_rate,lv_health_status";
    let real =
        same_report(&u, &cfg, &loops, &files, &["lvs", "-a", "--noheadings", "--separator", "|", "-o", fields, &vg]);
    assert!(real.contains("[r2_rmeta_1]"), "{real}");

    let real = run("lvdisplay", &["--config", &cfg, "-m", &format!("{vg}/r2")]).unwrap();
    let ours = u(&["lvdisplay", "-m", &format!("{vg}/r2")]);
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter().filter(|l| !l.contains("LV UUID") && !l.contains("Creation host")).collect()
    };
    assert_eq!(strip(normalize(&real, &loops, &files)), strip(normalize(&ours, &loops, &files)));
}

#[test]
fn test_ulvm_reads_and_activates_what_real_lvm_made() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-b");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let vg = format!("lvmvg{}", std::process::id());
    let backup = t.path("vg.backup");
    {
        let loops = attach(&[&a, &b], false);
        let cfg = only(&loops);
        run("vgcreate", &["-y", "--config", &cfg, &vg, &loops.0[0], &loops.0[1]]).unwrap();
        // LVs through vgcfgrestore: lvcreate would need device-mapper.
        run("vgcfgbackup", &["--config", &cfg, "-f", backup.to_str().unwrap(), &vg]).unwrap();
        let text = std::fs::read_to_string(&backup).unwrap();
        let lvs = "logical_volumes {\nbase {\nid = \"aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg\"\n\
            status = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\nsegment_count = 1\nsegment1 {\n\
            start_extent = 0\nextent_count = 4\ntype = \"striped\"\nstripe_count = 1\nstripes = [\"pv0\", 2]\n}\n}\n\
            st {\nid = \"hhhhhh-bbbb-cccc-dddd-eeee-ffff-gggggg\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\
            flags = []\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 4\ntype = \"striped\"\n\
            stripe_count = 2\nstripe_size = 128\nstripes = [\"pv0\", 6, \"pv1\", 0]\n}\n}\n}\n";
        let end = text.rfind('}').unwrap();
        std::fs::write(&backup, format!("{}{lvs}{}", &text[..end], &text[end..])).unwrap();
        run("vgcfgrestore", &["--config", &cfg, "-f", backup.to_str().unwrap(), &vg]).unwrap();
        run("vgck", &["--config", &cfg, &vg]).unwrap();
    }
    let (sys, rd) = (t.path("sys"), t.path("run"));
    let devs = format!("{},{}", a.display(), b.display());
    let u = |args: &[&str]| {
        let mut v = vec![args[0], "--devices", &devs];
        v.extend(&args[1..]);
        ulvm(&sys, &rd, &v)
    };
    let lvs = u(&["lvs", "--noheadings", "-o", "lv_name,lv_attr,lv_size,seg_pe_ranges", &vg]);
    let words: Vec<Vec<&str>> = lvs.lines().map(|l| l.split_whitespace().collect()).collect();
    let (pa, pb) = (format!("{}:2-5", a.display()), format!("{}:6-7", a.display()));
    let pc = format!("{}:0-1", b.display());
    assert_eq!(
        words,
        vec![
            vec!["base", "-wi-------", "16.00m", pa.as_str()],
            vec!["st", "-wi-------", "16.00m", pb.as_str(), pc.as_str()]
        ]
    );
    let d = Daemon::start(&rd, &[]);
    u(&["lvchange", "-ay", &format!("{vg}/base")]);
    u(&["lvchange", "-ay", &format!("{vg}/st")]);
    let es = 8192 * 512u64; // 4 MiB extents
    let pe_start = 1u64 << 20;
    let data = stamped(2 << 20, 3, 0);
    let base = NbdClient::connect_unix(&d.nbd_socket(), &format!("{vg}-base")).unwrap();
    base.write(Sectors(0), &data).unwrap();
    base.flush().unwrap();
    let st = NbdClient::connect_unix(&d.nbd_socket(), &format!("{vg}-st")).unwrap();
    st.write(Sectors(0), &data[..128 << 10]).unwrap();
    st.flush().unwrap();
    drop((base, st));
    let at = |f: &Path, off: u64, len: usize| {
        let mut v = vec![0u8; len];
        std::fs::File::open(f).unwrap().read_exact_at(&mut v, off).unwrap();
        v
    };
    assert!(at(&a, pe_start + 2 * es, data.len()) == data, "base is not on pv0 extents 2-5");
    // Stripe size 64 KiB: the first 64 KiB on pv0 extent 6, the next on pv1 extent 0.
    assert!(at(&a, pe_start + 6 * es, 64 << 10) == data[..64 << 10], "first stripe chunk misplaced");
    assert!(at(&b, pe_start, 64 << 10) == data[64 << 10..128 << 10], "second stripe chunk misplaced");
    u(&["vgchange", "-an", &vg]);
    d.stop();
    // And real LVM still accepts the VG after ulvm used it.
    let loops = attach(&[&a, &b], true);
    run("vgck", &["--config", &only(&loops), &vg]).unwrap();
}

/// A mirror exactly as real LVM wrote it (the `logical_volumes` section
/// of the oracle5 backup taken after `lvcreate --type mirror -m 1 -L 8M
/// -n mdisk`), restored with real `vgcfgrestore` onto a VG real LVM made:
/// ulvm reports it as LVM did, activates it (its log, never written, is
/// started afresh and both images copied), writes through it to both
/// images' extents, and real `vgck` accepts the VG afterwards.
#[test]
fn test_ulvm_activates_a_mirror_real_lvm_made() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-mirror-b");
    let imgs = [t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64)];
    let vg = format!("lvmmir{}", std::process::id());
    let backup = t.path("vg.backup");
    let oracle = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvm/tests/fixtures/oracle5/00-mdisk.vgbackup"),
    )
    .unwrap();
    let from = oracle.find("logical_volumes {").unwrap();
    let section = &oracle[from..oracle[..oracle.rfind('}').unwrap()].rfind('}').unwrap() + 1];
    {
        let loops = attach(&[&imgs[0], &imgs[1], &imgs[2]], false);
        let cfg = only(&loops);
        run("vgcreate", &["-y", "--config", &cfg, &vg, &loops.0[0], &loops.0[1], &loops.0[2]]).unwrap();
        run("vgcfgbackup", &["--config", &cfg, "-f", backup.to_str().unwrap(), &vg]).unwrap();
        let text = std::fs::read_to_string(&backup).unwrap();
        let end = text.rfind('}').unwrap();
        std::fs::write(&backup, format!("{}{section}\n{}", &text[..end], &text[end..])).unwrap();
        run("vgcfgrestore", &["--config", &cfg, "-f", backup.to_str().unwrap(), &vg]).unwrap();
        run("vgck", &["--config", &cfg, &vg]).unwrap();
    }
    let (sys, rd) = (t.path("sys"), t.path("run"));
    let devs = imgs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",");
    let u = |args: &[&str]| {
        let mut v = vec![args[0], "--devices", &devs];
        v.extend(&args[1..]);
        ulvm(&sys, &rd, &v)
    };
    let words = |out: String| -> Vec<String> {
        out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
    };
    let fields = "lv_name,lv_attr,lv_size,devices,mirror_log,region_size";
    assert_eq!(
        words(u(&["lvs", "-a", "--noheadings", "-o", fields, &vg])),
        [
            "mdisk mwi---m--- 8.00m mdisk_mimage_0(0),mdisk_mimage_1(0) [mdisk_mlog] 2.00m".to_string(),
            format!("[mdisk_mimage_0] Iwi---m--- 8.00m {}(0) 0", imgs[0].display()),
            format!("[mdisk_mimage_1] Iwi---m--- 8.00m {}(0) 0", imgs[1].display()),
            format!("[mdisk_mlog] lwi---m--- 4.00m {}(0) 0", imgs[2].display()),
        ]
    );
    let d = Daemon::start(&rd, &[]);
    u(&["lvchange", "-ay", &format!("{vg}/mdisk")]);
    common::wait_for("the mirror in sync", || {
        u(&["lvs", "--noheadings", "-o", "copy_percent", &format!("{vg}/mdisk")]).trim() == "100.00"
    });
    let data = stamped(8 << 20, 5, 0);
    let c = NbdClient::connect_unix(&d.nbd_socket(), &format!("{vg}-mdisk")).unwrap();
    c.write(Sectors(0), &data).unwrap();
    c.flush().unwrap();
    drop(c);
    for img in &imgs[..2] {
        let mut on_disk = vec![0u8; 8 << 20];
        std::fs::File::open(img).unwrap().read_exact_at(&mut on_disk, 1 << 20).unwrap();
        assert!(on_disk == data, "{} does not hold the data at the image's extents", img.display());
    }
    u(&["vgchange", "-an", &vg]);
    d.stop();
    // The log now holds dm-log's header, as the kernel writes it.
    let mut header = [0u8; 4];
    std::fs::File::open(&imgs[2]).unwrap().read_exact_at(&mut header, 1 << 20).unwrap();
    assert_eq!(header, *b"rRiM");
    let loops = attach(&[&imgs[0], &imgs[1], &imgs[2]], true);
    run("vgck", &["--config", &only(&loops), &vg]).unwrap();
}

#[test]
fn test_real_lvm_accepts_a_half_hydrated_clone_lv_and_leaves_it_alone() {
    if !can_run() || !common::require(common::have("nbdkit", "--version"), "nbdkit is not installed") {
        return;
    }
    let t = TestDir::new("interop-clone");
    let a = t.image("a.img", 96);
    let src = t.image("src.img", 32);
    let sock = t.path("src.sock");
    let server = common::Nbdkit::start(&sock, &src, "100ms");
    let (sys, rd) = (t.path("sys"), t.path("run"));
    let d = Daemon::start(&rd, &[]);
    let vg = format!("ulvmcl{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    let uri = format!("nbd+unix:///?socket={}", sock.display());
    u(&["lvcreate", "--type", "clone", "--source", &uri, "-n", "cl", &vg]);
    u(&["vgchange", "-an", &vg]);
    d.stop();
    drop(server);
    let loops = attach(&[&a], true);
    let cfg = only(&loops);
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    let real =
        run("lvs", &["--config", &cfg, "-a", "--noheadings", "--separator", "|", "-o", "lv_name,lv_attr,lv_size", &vg])
            .unwrap();
    let lines = normalize(&real, &loops, &[&a]);
    // The clone is skipped by real LVM's activation (k); its metadata LV is hidden.
    assert_eq!(lines, vec!["[cl_clonemeta]|-wi-------|4.00m".to_string(), "cl|-wi------k|32.00m".to_string()]);
}

/// Real LVM reads the tags ulvm writes on a VG, its PVs and its LVs
/// (`vgck` accepts them, `vgs`/`pvs`/`lvs` show the same sorted lists as
/// ulvm) and selects by them (`lvs @tag`).
#[test]
fn test_real_lvm_reads_ulvm_tags() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-tags");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmtag{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", "--addtag", "vgt1", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "--addtag", "lvt1", "-L", "8M", "-n", "lv1", &vg]);
    u(&["lvcreate", "-an", "-L", "8M", "-n", "lv2", &vg]);
    u(&["vgchange", "--addtag", "zz", "--addtag", "aa", &vg]);
    u(&["lvchange", "--addtag", "b_t", "--addtag", "x/y=z+w:v-u", &format!("{vg}/lv2")]);
    u(&["pvchange", "--addtag", "pvt1", a.to_str().unwrap()]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    for (cmd, fields) in [("lvs", "lv_name,lv_tags,vg_tags"), ("vgs", "vg_name,vg_tags"), ("pvs", "pv_name,pv_tags")] {
        same_report(&u, &cfg, &loops, &files, &[cmd, "--noheadings", "--separator", "|", "-o", fields]);
    }
    let real = run("lvs", &["--config", &cfg, "--noheadings", "-o", "lv_name,lv_tags", "@lvt1"]).unwrap();
    assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ["lv1", "lvt1"]);
    let real = run("vgs", &["--config", &cfg, "--noheadings", "-o", "vg_tags", &vg]).unwrap();
    assert_eq!(real.trim(), "aa,vgt1,zz");
}

/// Real LVM reads the tags ulvm's `lvcreate --addtag` puts on a raid1 LV
/// (and its rmeta sub-LVs, as LVM's own lvcreate does) and on a mirror LV
/// (alone): `vgck` accepts them, `lvs -a` shows the same tags as ulvm and
/// `lvs -a @tag` selects the same LVs.
#[test]
fn test_real_lvm_reads_the_tags_of_ulvm_raid1_and_mirror_lvs() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-layered-tags");
    let imgs = [t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64)];
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmltag{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    let paths: Vec<&str> = imgs.iter().map(|p| p.to_str().unwrap()).collect();
    u(&["vgcreate", &vg, paths[0], paths[1], paths[2]]);
    u(&[
        "lvcreate", "-an", "--type", "raid1", "-m", "1", "-L", "8M", "-n", "r1", "--addtag", "rt1", "--addtag", "rt2",
        &vg,
    ]);
    u(&["lvcreate", "-an", "--type", "mirror", "-m", "1", "-L", "8M", "-n", "m1", "--addtag", "mt", &vg]);
    let loops = attach(&[&imgs[0], &imgs[1], &imgs[2]], true);
    let cfg = only(&loops);
    let files = [imgs[0].as_path(), imgs[1].as_path(), imgs[2].as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    let real = same_report(
        &u,
        &cfg,
        &loops,
        &files,
        &["lvs", "-a", "--noheadings", "--separator", "|", "-o", "lv_name,lv_tags", &vg],
    );
    assert!(real.contains("[r1_rmeta_0]|rt1,rt2") && real.contains("m1|mt"), "{real}");
    for tag in ["@rt1", "@mt"] {
        let real = run("lvs", &["--config", &cfg, "-a", "--noheadings", "-o", "lv_name", tag]).unwrap();
        let ours = u(&["lvs", "-a", "--noheadings", "-o", "lv_name", tag]);
        assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ours.split_whitespace().collect::<Vec<_>>(), "{tag}");
    }
}

/// What a command printed on stdout and stderr, and its status.
fn output(cmd: &mut Command) -> (String, String, i32) {
    let o = cmd.env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&o.stdout), text(&o.stderr), o.status.code().unwrap_or(-1))
}

/// A PV copied onto another device (a disk cloned before vgimportclone):
/// real LVM and ulvm warn the same way (`Not using device ...`, `PV ...
/// prefers device ...`; the reason masked: each compares the device
/// hint in the metadata with its own name for the device), use the same
/// device, and refuse to write the VG or activate its LVs with the same
/// words and status.
#[test]
fn test_real_lvm_and_ulvm_treat_a_copied_pv_alike() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-dup");
    let (a, c) = (t.image("a.img", 64), t.image("c.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmdup{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "8M", "-n", "lv", &vg]);
    // Real LVM writes the VG last, so its device hint is real LVM's name
    // for a (LVM prefers the device the hint names).
    let la = attach(&[&a], false);
    run("vgchange", &["--config", &only(&la), "--addtag", "real", &vg]).unwrap();
    std::fs::copy(&a, &c).unwrap();
    u(&["lvmdevices", "--adddev", c.to_str().unwrap()]);
    let lc = attach(&[&c], false);
    // Both loops, for the filter and the names; la and lc detach them.
    let loops = std::mem::ManuallyDrop::new(common::Loops(vec![la.0[0].clone(), lc.0[0].clone()]));
    let loops: &common::Loops = &loops;
    let cfg = only(loops);
    let files = [a.as_path(), c.as_path()];
    let masked = |err: &str| -> Vec<String> {
        normalize(err, loops, &files)
            .into_iter()
            .filter(|l| !l.contains("Activation disabled"))
            .map(|l| l.split(" because ").next().unwrap_or("").to_string())
            .collect()
    };
    let ulvm_out =
        |args: &[&str]| output(Command::new(ULVM).args(args).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd));
    let (real_out, real_err, real_rc) =
        output(Command::new("vgs").args(["--config", &cfg, "-o", "vg_name,pv_count", &vg]));
    let (our_out, our_err, our_rc) = ulvm_out(&["vgs", "-o", "vg_name,pv_count", &vg]);
    assert_eq!((real_rc, our_rc), (0, 0), "{real_err}\n{our_err}");
    assert_eq!(normalize(&real_out, loops, &files), normalize(&our_out, loops, &files));
    assert_eq!(masked(&real_err), masked(&our_err));
    assert!(masked(&our_err).iter().any(|l| l.contains(&format!("prefers device {}", a.display()))), "{our_err}");
    let (_, real_err, real_rc) = output(Command::new("vgchange").args(["--config", &cfg, "--addtag", "x", &vg]));
    let (_, our_err, our_rc) = ulvm_out(&["vgchange", "--addtag", "x", &vg]);
    assert_eq!((real_rc, our_rc), (5, 5), "{real_err}\n{our_err}");
    assert_eq!(masked(&real_err), masked(&our_err));
    assert!(our_err.contains(&format!("Cannot update volume group {vg} with duplicate PV devices.")), "{our_err}");
    let lv = format!("{vg}/lv");
    let (_, real_err, real_rc) =
        output(Command::new("lvchange").args(["--config", &cfg, "--driverloaded", "n", "-ay", &lv]));
    let (_, our_err, our_rc) = ulvm_out(&["lvchange", "-ay", &lv]);
    assert_eq!((real_rc, our_rc), (5, 5), "{real_err}\n{our_err}");
    assert_eq!(masked(&real_err), masked(&our_err));
}

/// A VG ulvm exported is exported for real LVM (`x` in vg_attr and
/// pv_attr), real `vgimport` imports it, and ulvm then uses it again.
#[test]
fn test_real_lvm_imports_a_vg_ulvm_exported() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-export");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmexp{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "8M", "-n", "lv1", &vg]);
    u(&["vgexport", &vg]);
    {
        let loops = attach(&[&a, &b], false);
        let cfg = only(&loops);
        let real = run("vgs", &["--config", &cfg, "--noheadings", "-o", "vg_name,vg_attr,vg_exported", &vg]).unwrap();
        assert_eq!(real.split_whitespace().collect::<Vec<_>>(), [vg.as_str(), "wzx-n-", "exported"]);
        let real = run("pvs", &["--config", &cfg, "--noheadings", "-o", "pv_attr"]).unwrap();
        assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ["ax-", "ax-"]);
        assert!(run("lvs", &["--config", &cfg, &vg]).is_err(), "real LVM refuses the exported VG's LVs");
        run("vgimport", &["--config", &cfg, &vg]).unwrap();
        let real = run("vgs", &["--config", &cfg, "--noheadings", "-o", "vg_attr", &vg]).unwrap();
        assert_eq!(real.trim(), "wz--n-");
    }
    let ours = u(&["vgs", "--noheadings", "-o", "vg_attr", &vg]);
    assert_eq!(ours.trim(), "wz--n-");
    u(&["lvcreate", "-an", "-L", "4M", "-n", "lv2", &vg]);
}

/// A VG that ulvm's vgimportclone made of a copy of a PV is a VG of its
/// own for real LVM: both the original and the clone (`NAME1`) are
/// there, with different VG and PV UUIDs, the clone's LVs as ulvm shows
/// them, and `vgck` accepts both.
#[test]
fn test_real_lvm_reads_a_vg_ulvm_imported_as_a_clone() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-clone");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmcl{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    u(&["lvcreate", "-an", "--addtag", "t1", "-L", "8M", "-n", "lv1", &vg]);
    std::fs::copy(&a, &b).unwrap();
    u(&["vgimportclone", b.to_str().unwrap()]);
    let clone = format!("{vg}1");
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    run("vgck", &["--config", &cfg, &clone]).unwrap();
    let mut uuids = std::collections::BTreeSet::new();
    for (cmd, fields) in [("vgs", "vg_name,vg_uuid,vg_attr,lv_count"), ("pvs", "pv_name,vg_name,pv_uuid")] {
        let real = same_report(&u, &cfg, &loops, &files, &[cmd, "--noheadings", "--separator", "|", "-o", fields]);
        uuids.extend(real.lines().filter_map(|l| l.trim().split('|').find(|w| w.len() == 38)).map(String::from));
        assert!(real.contains(&clone), "{real}");
    }
    assert_eq!(uuids.len(), 4, "two VG UUIDs and two PV UUIDs");
    let lfields = "lv_name,lv_attr,lv_size,lv_tags,devices";
    same_report(&u, &cfg, &loops, &files, &["lvs", "--noheadings", "--separator", "|", "-o", lfields, &clone]);
}

/// `vgimportclone --import -n NAME` of a copy of an exported VG: real LVM
/// sees the clone imported under its new name and the original still
/// exported.
#[test]
fn test_real_lvm_reads_an_exported_vg_ulvm_imported_as_a_named_clone() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-clone-import");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmci{}", std::process::id());
    let clone = format!("ulvmclone{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "8M", "-n", "lv1", &vg]);
    u(&["vgexport", &vg]);
    std::fs::copy(&a, &b).unwrap();
    u(&["vgimportclone", "--import", "-n", &clone, b.to_str().unwrap()]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    run("vgck", &["--config", &cfg, &clone]).unwrap();
    let real = run("vgs", &["--config", &cfg, "--noheadings", "-o", "vg_name,vg_attr,lv_count", &vg, &clone]).unwrap();
    let mut lines: Vec<Vec<&str>> = real.lines().map(|l| l.split_whitespace().collect()).collect();
    lines.sort();
    assert_eq!(lines, [vec![vg.as_str(), "wzx-n-", "1"], vec![clone.as_str(), "wz--n-", "1"]], "{real}");
    let real = run("lvs", &["--config", &cfg, "--noheadings", "-o", "lv_name,lv_size", &clone]).unwrap();
    assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ["lv1", "8.00m"]);
}

/// Real `vgck` and `lvs`/`vgs` accept what ulvm's origin resize, snapshot
/// split and re-attach, and vgsplit (into an existing VG, and `-n LV`
/// into a new one) wrote, and report what ulvm reports.
#[test]
fn test_real_lvm_reads_resized_origins_split_snapshots_and_split_vgs() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-lvops");
    let (a, b, c) = (t.image("a.img", 64), t.image("b.img", 64), t.image("c.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmops{}", std::process::id());
    let (vg2, vg3) = (format!("{vg}x"), format!("{vg}y"));
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    let lv = |n: &str| format!("{vg}/{n}");
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["vgcreate", &vg2, c.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "8M", "-n", "origin", &vg, a.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-s", "-L", "4M", "-n", "snap", &lv("origin")]);
    u(&["lvextend", "-L", "12M", &lv("origin")]);
    u(&["lvcreate", "-an", "-s", "-L", "4M", "-n", "split", &lv("origin")]);
    u(&["lvconvert", "-y", "--splitsnapshot", &lv("split")]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "cow", &vg, a.to_str().unwrap()]);
    u(&["lvconvert", "-y", "-Zn", "-s", "-c", "8k", &lv("origin"), &lv("cow")]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "moved", &vg, b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "other", &vg2]);
    u(&["vgsplit", &vg, &vg2, b.to_str().unwrap()]);
    u(&["vgsplit", "-n", "other", &vg2, &vg3]);
    let loops = attach(&[&a, &b, &c], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path(), c.as_path()];
    let fields = "vg_name,lv_name,lv_attr,lv_size,origin,devices,seg_pe_ranges,segtype,chunk_size";
    let vfields = "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free,vg_extent_count,vg_free_count";
    for v in [&vg, &vg2, &vg3] {
        run("vgck", &["--config", &cfg, v]).unwrap();
        same_report(&u, &cfg, &loops, &files, &["lvs", "-a", "--noheadings", "--separator", "|", "-o", fields, v]);
        same_report(&u, &cfg, &loops, &files, &["vgs", "--noheadings", "--separator", "|", "-o", vfields, v]);
    }
    // What each holds, as real LVM sees it.
    let real = run("lvs", &["--config", &cfg, "--noheadings", "-o", "lv_name,origin,lv_size", &vg]).unwrap();
    let words: Vec<Vec<&str>> = real.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(words.contains(&vec!["snap", "origin", "4.00m"]), "{real}");
    assert!(words.contains(&vec!["cow", "origin", "4.00m"]), "{real}");
    assert!(words.contains(&vec!["split", "4.00m"]), "{real}");
    assert!(words.contains(&vec!["origin", "12.00m"]), "{real}");
    let real = run("lvs", &["--config", &cfg, "--noheadings", "-o", "lv_name", &vg2]).unwrap();
    assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ["moved"]);
    let real = run("lvs", &["--config", &cfg, "--noheadings", "-o", "lv_name", &vg3]).unwrap();
    assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ["other"]);
}

/// Issue #15: a PV left with an older metadata copy (its first MiB saved
/// before a change and written back after it). Real LVM warns about it as
/// ulvm does (device names aside), and after ulvm's `vgck
/// --updatemetadata` real `vgck` finds nothing and reads ulvm's seqno.
#[test]
fn test_real_lvm_sees_the_stale_copy_ulvm_sees_and_accepts_its_repair() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-stale");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmst{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "l1", &vg]);
    let mut saved = vec![0u8; 1 << 20];
    std::fs::File::open(&b).unwrap().read_exact_at(&mut saved, 0).unwrap();
    u(&["lvcreate", "-an", "-L", "4M", "-n", "l2", &vg]);
    std::fs::OpenOptions::new().write(true).open(&b).unwrap().write_all_at(&saved, 0).unwrap();
    let stderr = |o: std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    let ours = stderr(
        Command::new(ULVM).args(["vgck", &vg]).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap(),
    );
    {
        let loops = attach(&[&a, &b], true);
        let cfg = only(&loops);
        let o =
            Command::new("vgck").args(["--config", &cfg, &vg]).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        assert!(o.status.success(), "real vgck: {}", stderr(o.clone()));
        let mut real = stderr(o);
        for (l, f) in loops.0.iter().zip([&a, &b]) {
            real = real.replace(l.as_str(), f.to_str().unwrap());
        }
        assert_eq!(real, ours);
        assert!(ours.contains("WARNING: Inconsistent metadata found for VG"), "{ours}");
    }
    u(&["vgck", "--updatemetadata", &vg]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let o = Command::new("vgck").args(["--config", &cfg, &vg]).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
    assert!(o.status.success() && o.stderr.is_empty(), "real vgck after the repair: {}", stderr(o));
    let real = run("vgs", &["--config", &cfg, "--noheadings", "-o", "vg_seqno,lv_count", &vg]).unwrap();
    let ours = u(&["vgs", "--noheadings", "-o", "vg_seqno,lv_count", &vg]);
    assert_eq!(real.split_whitespace().collect::<Vec<_>>(), ours.split_whitespace().collect::<Vec<_>>());
}

/// Issue #15: the devices file `lvmdevices` and `pvcreate` write is real
/// LVM's: real `lvmdevices` lists what ulvm's lists and `--check` finds
/// nothing, and ulvm reads the entry real `lvmdevices --adddev` writes.
#[test]
fn test_real_lvmdevices_reads_the_devices_file_ulvm_writes_and_back() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-devices");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let loops = attach(&[&a, &b], false);
    let (la, lb) = (loops.0[0].as_str(), loops.0[1].as_str());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["pvcreate", la, lb]);
    u(&["lvmdevices", "--deldev", lb]);
    // Real LVM with a system directory of its own holding ulvm's file.
    let etc = t.path("etc-lvm");
    std::fs::create_dir_all(etc.join("devices")).unwrap();
    std::fs::write(etc.join("lvm.conf"), "devices { use_devicesfile=1 }\n").unwrap();
    std::fs::copy(sys.join("devices/system.devices"), etc.join("devices/system.devices")).unwrap();
    let real = |args: &[&str]| {
        let o = Command::new("lvm")
            .args(args)
            .env("LVM_SYSTEM_DIR", &etc)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "lvm {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        (String::from_utf8(o.stdout).unwrap(), String::from_utf8(o.stderr).unwrap())
    };
    let ours = u(&["lvmdevices"]);
    assert!(ours.contains(&format!("Device {la} IDTYPE=devname")) && !ours.contains(lb), "{ours}");
    assert_eq!(real(&["lvmdevices"]).0, ours);
    assert_eq!(real(&["lvmdevices", "--check"]), (String::new(), String::new()));
    // Back: real LVM adds the second device; ulvm sees both PVs.
    real(&["lvmdevices", "--adddev", lb]);
    std::fs::copy(etc.join("devices/system.devices"), sys.join("devices/system.devices")).unwrap();
    let pvs = u(&["pvs", "--noheadings", "-o", "pv_name"]);
    assert_eq!(pvs.split_whitespace().collect::<Vec<_>>(), [la, lb]);
    // The same change made by each leaves the same file, in LVM's layout
    // (but the command's pid and time in the second comment line).
    real(&["lvmdevices", "--deldev", lb]);
    u(&["lvmdevices", "--deldev", lb]);
    let text = |p: &Path| {
        let t = std::fs::read_to_string(p.join("devices/system.devices")).unwrap();
        let mut lines: Vec<String> = t.lines().map(String::from).collect();
        assert!(lines[1].starts_with("# Created by LVM command lvmdevices pid "), "{t}");
        lines[1] = "# Created by LVM command lvmdevices".into();
        lines
    };
    assert_eq!(text(&sys), text(&etc));
    assert!(text(&sys)[2].starts_with("VERSION=1.1."), "{:?}", text(&sys));
}

/// With `devices/use_devicesfile = 0` ulvm scans block devices as real
/// LVM does (the filter decides which): `lvmdiskscan` and `pvs` agree with
/// LVM's, a PV made on a block device is not put in the devices file, and
/// `lvmdevices` is refused as LVM refuses it.
#[test]
fn test_without_the_devices_file_ulvm_scans_the_devices_lvm_scans() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-nodevicesfile");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 32));
    let (sys, rd) = (t.path("sys"), t.path("run"));
    std::fs::create_dir_all(&rd).unwrap();
    let loops = attach(&[&a, &b], false);
    let (la, lb) = (loops.0[0].as_str(), loops.0[1].as_str());
    let cfg = only(&loops);
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::write(sys.join("lvm.conf"), &cfg).unwrap();
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["pvcreate", la]);
    let ours = u(&["lvmdiskscan"]);
    assert!(ours.contains(la) && ours.contains(lb), "{ours}");
    assert_eq!(run("lvmdiskscan", &["--config", &cfg]).unwrap(), ours);
    assert_eq!(run("lvmdiskscan", &["--config", &cfg, "-l"]).unwrap(), u(&["lvmdiskscan", "-l"]));
    let fields = ["--noheadings", "-o", "pv_name,pv_size,pv_uuid"];
    assert_eq!(
        run("pvs", &[&["--config", cfg.as_str()], &fields[..]].concat()).unwrap(),
        u(&[&["pvs"], &fields[..]].concat())
    );
    let df = std::fs::read_to_string(sys.join("devices/system.devices")).unwrap_or_default();
    assert!(!df.contains(la), "{df}");
    let o =
        Command::new(ULVM).args(["lvmdevices"]).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap();
    assert_eq!(
        (String::from_utf8_lossy(&o.stderr).as_ref(), o.status.code()),
        ("  Devices file not enabled.\n", Some(5))
    );
}

/// `lvmconfig` prints what real LVM's prints over the same lvm.conf: all
/// of LVM's defaults, `--type full` in LVM's order, `--type diff` and the
/// current settings, with and without `--config`.
#[test]
fn test_real_lvmconfig_and_ulvm_lvmconfig_print_the_same() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-lvmconfig");
    let (sys, rd, etc) = (t.path("sys"), t.path("run"), t.path("etc-lvm"));
    for d in [&sys, &rd, &etc] {
        std::fs::create_dir_all(d).unwrap();
    }
    let conf = "devices {\n\tuse_devicesfile = 0\n\tscan = [ \"/dev\" ]\n}\nactivation {\n\tudev_sync = 0\n\tmonitoring = 0\n}\nglobal {\n\tunits = \"h\"\n\tsuffix = 0\n}\nbackup {\n\tbackup = 1\n\tarchive = 0\n}\n";
    std::fs::write(sys.join("lvm.conf"), conf).unwrap();
    std::fs::write(etc.join("lvm.conf"), conf).unwrap();
    let cases: &[&[&str]] = &[
        &["--type", "default"],
        &["--type", "full"],
        &["--type", "diff"],
        &[],
        &["--type", "full", "--config", "backup { retain_min = 7 backup = 0 } global/test = 1"],
        &["--type", "diff", "--config", "backup/retain_min=7"],
        &["--config", "global/units=\"m\" backup/retain_min=7 global/suffix=1"],
        &["--type", "default", "metadata", "allocation/cache_settings", "activation/volume_list"],
        &["--type", "full", "tags", "devices/cache"],
    ];
    for args in cases {
        let o = Command::new("lvmconfig")
            .args(*args)
            .env("LVM_SYSTEM_DIR", &etc)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "lvmconfig {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        let real = String::from_utf8(o.stdout).unwrap().replace(etc.to_str().unwrap(), sys.to_str().unwrap());
        let ours = ulvm(&sys, &rd, &[&["lvmconfig"], *args].concat());
        assert_eq!(real, ours, "lvmconfig {args:?}");
    }
}

/// Issue #15: `pvck` of the same bytes says the same as real `pvck`:
/// plain checks and every `--dump`, on a PV ulvm made, and again after
/// its mda header is damaged.
#[test]
fn test_real_pvck_and_ulvm_pvck_say_the_same_of_one_pv() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-pvck");
    let a = t.image("a.img", 64);
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmck{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "l1", &vg]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "l2", &vg]);
    let both = |args: &[&str]| {
        let loops = attach(&[&a], true);
        let (lp, cfg) = (loops.0[0].clone(), only(&loops));
        let mut real_args: Vec<&str> = vec!["--config", &cfg];
        real_args.extend(args);
        real_args.push(&lp);
        let r = Command::new("pvck").args(&real_args).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        let mut our_args: Vec<&str> = vec!["pvck"];
        our_args.extend(args);
        our_args.push(a.to_str().unwrap());
        let o =
            Command::new(ULVM).args(&our_args).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).replace(lp.as_str(), a.to_str().unwrap());
        assert_eq!(
            (text(&o.stdout), text(&o.stderr), o.status.code()),
            (text(&r.stdout), text(&r.stderr), r.status.code()),
            "pvck {args:?}: ulvm, then real LVM"
        );
    };
    let dumps: [&[&str]; 5] = [
        &[],
        &["--dump", "headers"],
        &["--dump", "metadata"],
        &["--dump", "metadata_all"],
        &["--dump", "metadata_search"],
    ];
    for args in dumps {
        both(args);
    }
    let file = std::fs::OpenOptions::new().write(true).open(&a).unwrap();
    // A byte of the current text changed (its first line, at the ring's
    // third copy: 4096 + 512 * 5).
    file.write_all_at(b"X", 4096 + 2560 + 1).unwrap();
    for args in [&[][..], &["--dump", "headers"]] {
        both(args);
    }
    // The mda header damaged (4 bytes in its unused part).
    file.write_all_at(b"XXXX", 4200).unwrap();
    for args in [&[][..], &["--dump", "headers"]] {
        both(args);
    }
}

/// Issue #15: a damaged mda header on one PV. Real `vgs` warns about it
/// as ulvm does, and after ulvm's `vgck --updatemetadata` real `vgck` and
/// `pvck` find nothing wrong.
#[test]
fn test_real_lvm_accepts_ulvms_repair_of_a_damaged_mda_header() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-mda");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmmd{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "4M", "-n", "l1", &vg]);
    std::fs::OpenOptions::new().write(true).open(&b).unwrap().write_all_at(b"XXXX", 4200).unwrap();
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    let ours =
        Command::new(ULVM).args(["vgs", &vg]).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap();
    {
        let loops = attach(&[&a, &b], true);
        let cfg = only(&loops);
        let o =
            Command::new("vgs").args(["--config", &cfg, &vg]).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        let mut real = stderr(&o);
        for (l, f) in loops.0.iter().zip([&a, &b]) {
            real = real.replace(l.as_str(), f.to_str().unwrap());
        }
        assert_eq!(real, stderr(&ours));
        assert_eq!(String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&ours.stdout));
    }
    u(&["vgck", "--updatemetadata", &vg]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    for (tool, args) in [("vgck", vec![vg.as_str()]), ("pvck", vec![loops.0[1].as_str()])] {
        let mut all = vec!["--config", cfg.as_str()];
        all.extend(args);
        let o = Command::new(tool).args(&all).env("LVM_SUPPRESS_FD_WARNINGS", "1").output().unwrap();
        assert!(o.status.success() && o.stderr.is_empty(), "real {tool} after the repair: {}", stderr(&o));
    }
}

/// Real `lvs`, `vgs` and `pvs` select the same rows with `-S` as ulvm on
/// a VG ulvm made (every kind of operand: sizes with units, regexes,
/// lists, times, reserved values, grouping), and print `pvs --segments`,
/// `--nameprefixes`, `--rows` and `--binary` as ulvm does.
#[test]
fn test_real_lvm_selects_and_reports_as_ulvm() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-select");
    let (a, b) = (t.image("a.img", 128), t.image("b.img", 128));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmsel{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    u(&["lvcreate", "-an", "-L", "32M", "-n", "base", &vg]);
    u(&["lvcreate", "-an", "-L", "16M", "-i", "2", "-I", "64k", "-n", "striped", &vg]);
    u(&["lvcreate", "-an", "-l", "3", "-n", "small", &vg]);
    u(&["lvcreate", "-an", "-s", "-L", "8M", "-n", "snap", &format!("{vg}/base")]);
    // (Names of 4 or more: LVM pads lv_name to 4 even without headings.)
    u(&["lvcreate", "-an", "--type", "raid1", "-m", "1", "-L", "4M", "-n", "rone", &vg]);
    // Two segments: small grows past the raid's extents.
    u(&["lvextend", "-l", "+2", &format!("{vg}/small")]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path()];
    let same = |args: &[&str]| {
        let mut real_args = vec!["--config", cfg.as_str()];
        real_args.extend_from_slice(&args[1..]);
        let real = run(args[0], &real_args).unwrap_or_else(|e| panic!("lvm {args:?}: {e}"));
        let ours = u(args);
        assert_eq!(normalize(&real, &loops, &files), normalize(&ours, &loops, &files), "{args:?}");
    };
    for sel in [
        "lv_size>8m",
        "lv_size>=16m && lv_size<32M",
        "size=12",
        "lv_size=12288k",
        "lv_name=~^s",
        "lv_name!~a",
        "lv_name!=base && lv_size<=16m",
        "(lv_name=base || lv_name=small) , seg_count=1",
        "!(lv_name=base)",
        "lv_name=base # stripes=2",
        "lv_role={snapshot}",
        "lv_role=[public]",
        "lv_role={origin||snapshot}",
        "lv_role={public,origin}",
        "lv_role={public,snapshot,origin}",
        "origin=base",
        "origin=\"\"",
        "segtype=striped",
        "vg_size>100m",
        "lv_time>2000-01-01",
        "lv_time before 2000",
        "lv_time since \"2000-01-01 10:00\"",
        "lv_kernel_major=-1",
        "lv_kernel_major=undefined",
        "snap_percent>=0",
        "lv_attr=~^s",
        "lv_name=rone_rimage_0",
        "lv_name=~rmeta",
        "lv_role={image}",
        "lv_role=[private,raid,image]",
        "segtype=raid1",
        "segtype=linear",
        "seg_count=2",
        "seg_size=8m",
        "seg_start>0",
        "",
    ] {
        same(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_size", "-S", sel, &vg]);
    }
    same(&["vgs", "--noheadings", "-o", "vg_name", "-S", "lv_count>1 && vg_free>1m", &vg]);
    same(&["vgs", "--noheadings", "-o", "vg_name", "-S", "pv_free>50m && pv_pe_alloc_count>1", &vg]);
    same(&["vgs", "--noheadings", "-o", "vg_name", "-S", "pv_free>60m || pv_pe_alloc_count>100", &vg]);
    same(&["pvs", "--noheadings", "-o", "pv_name,pv_free", "-S", "pv_free>10m || pv_name=~b.img"]);
    same(&["pvs", "--segments", "--noheadings", "-o", "pv_name,pvseg_start,pvseg_size,lv_name"]);
    same(&["pvs", "--segments", "--noheadings", "-o", "pv_name,pvseg_start", "-S", "pvseg_size>2"]);
    same(&["lvs", "--nameprefixes", "--noheadings", "-o", "lv_name,lv_size,lv_role", &vg]);
    same(&["lvs", "--nameprefixes", "--unquoted", "--noheadings", "-o", "lv_name,lv_size", &vg]);
    same(&["lvs", "--nameprefixes", "--separator", ":", "-o", "lv_name,lv_size", &vg]);
    same(&["lvs", "--nameprefixes", "--aligned", "--noheadings", "-o", "lv_name,lv_size", &vg]);
    same(&["lvs", "--rows", "-o", "lv_name,lv_size", &vg]);
    same(&["lvs", "--rows", "--separator", ":", "--noheadings", "-o", "lv_name,lv_size", &vg]);
    same(&["lvs", "--aligned", "--separator", "|", "-o", "lv_name,lv_size,origin", &vg]);
    same(&["lvs", "--binary", "-o", "lv_name,lv_merging,lv_allocation_locked,lv_active", &vg]);
    same(&["pvs", "--binary", "--noheadings", "-o", "pv_name,pv_allocatable,pv_exported,pv_missing"]);
}

/// What `-S` on pvchange and lvremove writes, real LVM reads: real `vgck`
/// accepts the VG, and real `lvs` and `pvs` show the LVs and allocatable
/// flags ulvm left.
#[test]
fn test_real_lvm_reads_what_selected_changes_wrote() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-select-change");
    let (a, b) = (t.image("a.img", 64), t.image("b.img", 64));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmselc{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap(), b.to_str().unwrap()]);
    for (name, size) in [("one", "8M"), ("two", "16M"), ("three", "4M")] {
        u(&["lvcreate", "-an", "-L", size, "-n", name, &vg]);
    }
    u(&["lvremove", "-f", "-S", "lv_size<16m && lv_name=~e$", &vg]);
    u(&["pvchange", "-x", "n", "-S", "pv_free>40m"]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path()];
    run("vgck", &["--config", &cfg, &vg]).unwrap();
    // Word by word: LVM pads lv_name and pv_attr to 4 even without
    // headings, ulvm to the widest value (a width, not a fact, differs).
    let words = |out: &str| -> Vec<String> {
        normalize(out, &loops, &files).iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
    };
    let real = run("lvs", &["--config", &cfg, "--noheadings", "-o", "lv_name,lv_size", &vg]).unwrap();
    let ours = u(&["lvs", "--noheadings", "-o", "lv_name,lv_size", &vg]);
    assert_eq!(words(&real), words(&ours));
    assert_eq!(words(&ours).len(), 1, "one and three went: {ours}");
    let real = run("pvs", &["--config", &cfg, "--noheadings", "-o", "pv_name,pv_attr,pv_free"]).unwrap();
    let ours = u(&["pvs", "--noheadings", "-o", "pv_name,pv_attr,pv_free"]);
    assert_eq!(words(&real), words(&ours));
    assert!(ours.contains("u--"), "{ours}");
}

/// Real `lvm fullreport` and ulvm's print the same reports of VGs ulvm
/// made (linear, striped, snapshot, raid1 and tagged LVs, two VGs and a PV
/// in none): every field, as JSON and as text, with `--configreport`'s own
/// columns, orders and selections, for all VGs or one.
#[test]
fn test_real_lvm_fullreport_is_ulvms() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-fullreport");
    let imgs = [t.image("a.img", 128), t.image("b.img", 128), t.image("c.img", 64), t.image("d.img", 64)];
    let (sys, rd) = dirs(&t);
    let (vg, vg2) = (format!("ulvmfr{}", std::process::id()), format!("ulvmfs{}", std::process::id()));
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    let paths: Vec<&str> = imgs.iter().map(|p| p.to_str().unwrap()).collect();
    u(&["vgcreate", &vg, paths[0], paths[1]]);
    u(&["vgcreate", &vg2, paths[2]]);
    u(&["pvcreate", paths[3]]);
    u(&["lvcreate", "-an", "-L", "32M", "-n", "base", "--addtag", "gold", &vg]);
    u(&["lvcreate", "-an", "-L", "16M", "-i", "2", "-I", "64k", "-n", "striped", &vg]);
    u(&["lvcreate", "-an", "-s", "-L", "8M", "-n", "snap", &format!("{vg}/base")]);
    u(&["lvcreate", "-an", "--type", "raid1", "-m", "1", "-L", "4M", "-n", "rone", &vg]);
    u(&["lvcreate", "-an", "-l", "3", "-n", "small", &vg]);
    u(&["lvextend", "-l", "+2", &format!("{vg}/small")]);
    u(&["lvcreate", "-an", "-L", "8M", "-n", "other", &vg2]);
    let loops = attach(&[&imgs[0], &imgs[1], &imgs[2], &imgs[3]], true);
    let cfg = only(&loops);
    let files: Vec<&Path> = imgs.iter().map(|p| p.as_path()).collect();
    // A PV's device numbers: a loop device's there, none for a file here.
    let no_numbers = |out: &str| {
        let mut out = out.to_string();
        for key in ["\"pv_major\":\"", "\"pv_minor\":\""] {
            let mut at = 0;
            while let Some(i) = out[at..].find(key).map(|i| at + i + key.len()) {
                let end = i + out[i..].find('"').unwrap();
                out.replace_range(i..end, "-1");
                at = i;
            }
        }
        out
    };
    let same = |args: &[&str]| {
        let mut real_args = vec!["fullreport", "--config", cfg.as_str()];
        real_args.extend_from_slice(args);
        let real = run("lvm", &real_args).unwrap_or_else(|e| panic!("lvm fullreport {args:?}: {e}"));
        let mut ours_args = vec!["lvm", "fullreport"];
        ours_args.extend_from_slice(args);
        let ours = u(&ours_args);
        assert!(!ours.trim().is_empty(), "{args:?}: no report");
        // Columns are as wide as the names of PVs, which differ.
        let words = |l: String| l.split_whitespace().collect::<Vec<_>>().join(" ");
        let norm = |out: &str| normalize(&no_numbers(out), &loops, &files).into_iter().map(words).collect::<Vec<_>>();
        let (real, ours) = (norm(&real), norm(&ours));
        let only = |a: &[String], b: &[String]| a.iter().filter(|l| !b.contains(l)).cloned().collect::<Vec<_>>();
        assert!(
            real == ours,
            "lvm fullreport {args:?}:\n--- only LVM's\n{}\n--- only ulvm's\n{}",
            only(&real, &ours).join("\n"),
            only(&ours, &real).join("\n")
        );
    };
    same(&["-a", "--reportformat", "json"]);
    same(&["--reportformat", "json", "--binary", &vg2]);
    let parts = [
        "--configreport",
        "vg",
        "-o",
        "vg_name,vg_size,vg_free,lv_count,vg_mda_size,vg_mda_free",
        "--configreport",
        "pv",
        "-o",
        "pv_name,pv_free,pv_used,pv_mda_size,pv_mda_free",
        "--configreport",
        "lv",
        "-o",
        "lv_name,lv_size,lv_role,lv_layout,origin_size,lv_descendants,lv_ancestors,lv_tags,lv_modules",
        "-O",
        "-lv_size",
        "--configreport",
        "pvseg",
        "-o",
        "pvseg_start,pvseg_size",
        "--configreport",
        "seg",
        "-o",
        "segtype,seg_size,stripes,data_copies,seg_le_ranges,metadata_devices,seg_metadata_le_ranges",
    ];
    same(&parts);
    same(&[&parts[..], &["-a", &vg]].concat());
    same(&[&parts[..], &["--configreport", "lv", "-S", "lv_size>=8m"]].concat());
    same(&[&parts[..], &["--configreport", "vg", "-S", &format!("vg_name={vg2}")]].concat());
    same(&[&parts[..], &["--noheadings", "--separator", ":"]].concat());
    same(&[&parts[..], &["--nameprefixes", "--rows"]].concat());
    // A report LVM cannot make fails for each VG as it comes to it (the
    // field list, then the field), the reports before it printed: exit 5.
    // (The PVs' columns chosen: a loop device has device numbers.)
    let pv = ["--configreport", "pv", "-o", "pv_name,pv_free"];
    for bad in [["--configreport", "lv", "-o", "bogus"], ["--configreport", "pvseg", "-O", "bogus"]] {
        let bad = [&pv[..], &bad[..]].concat();
        let real = Command::new("lvm")
            .args(["fullreport", "--config", cfg.as_str()])
            .args(&bad)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output()
            .unwrap();
        let ours = Command::new(ULVM)
            .args(["lvm", "fullreport"])
            .args(&bad)
            .env("ULVM_SYSTEM_DIR", &sys)
            .env("ULVM_RUN_DIR", &rd)
            .output()
            .unwrap();
        assert_eq!((real.status.code(), ours.status.code()), (Some(5), Some(5)), "{bad:?}");
        let said = |o: &std::process::Output| {
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            let fields = err.lines().filter(|l| l.trim() == "Logical Volume Fields").count();
            (fields, err.lines().filter(|l| l.contains("Unrecognised field")).map(String::from).collect::<Vec<_>>())
        };
        assert_eq!(said(&real), said(&ours), "{bad:?}");
        let out = |o: &std::process::Output| {
            let text = no_numbers(&String::from_utf8_lossy(&o.stdout));
            normalize(&text, &loops, &files).into_iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        assert!(out(&real).eq(out(&ours)), "{bad:?}");
    }
}

/// Real LVM and ulvm select the same LVs by free-form times
/// (`yesterday`, `2 days ago`, `1 hour ago`, `Monday`, `Jan 2026`...), of
/// LVs made from a few seconds to over a year before (their
/// `creation_time` set through vgcfgrestore), and refuse the same
/// nonsense with the same lines.
#[test]
fn test_real_lvm_and_ulvm_select_the_same_lvs_by_free_form_times() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-reltime");
    let a = t.image("a.img", 128);
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmrt{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    // Seconds before now, away from the edges of the ranges asked for.
    let ages: [(&str, i64); 8] = [
        ("fresh", 30),
        ("hours", 9_017),
        ("day", 93_613),
        ("days", 277_229),
        ("week", 864_131),
        ("month", 3_888_047),
        ("year", 34_560_071),
        ("old", 5 * 365 * 86_400),
    ];
    for (name, _) in ages {
        u(&["lvcreate", "-an", "-l", "1", "-n", name, &vg]);
    }
    let backup = t.path("vg.backup");
    u(&["vgcfgbackup", "-f", backup.to_str().unwrap(), &vg]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut text = std::fs::read_to_string(&backup).unwrap();
    for (name, age) in ages {
        let lv = text.find(&format!("\n\t\t{name} {{\n")).unwrap_or_else(|| panic!("{name} in {text}"));
        let at = lv + text[lv..].find("creation_time = ").unwrap() + "creation_time = ".len();
        let end = at + text[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
        text.replace_range(at..end, &(now - age).to_string());
    }
    std::fs::write(&backup, text).unwrap();
    u(&["vgcfgrestore", "-f", backup.to_str().unwrap(), &vg]);
    let loops = attach(&[&a], true);
    let cfg = only(&loops);
    let lvs = |tool: &dyn Fn(&[&str]) -> Result<String, String>, sel: &str| {
        tool(&["lvs", "--noheadings", "-o", "lv_name", "-S", sel, &vg])
    };
    let real = |args: &[&str]| {
        let mut a = vec!["--config", cfg.as_str()];
        a.extend_from_slice(&args[1..]);
        run(args[0], &a)
    };
    let ours = |args: &[&str]| {
        let o = Command::new(ULVM).args(args).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        if o.status.success() {
            Ok(text(&o.stdout))
        } else {
            Err(text(&o.stderr))
        }
    };
    let mut picked = 0;
    for sel in [
        "lv_time since \"10 minutes ago\"",
        "lv_time since \"1 hour ago\"",
        "lv_time before \"1 hour ago\"",
        "lv_time = \"2 hours ago\"",
        "lv_time = \"150 mins ago\"",
        "lv_time since yesterday",
        "lv_time = yesterday",
        "lv_time = today",
        "lv_time since \"2 days ago\"",
        "lv_time since \"2 days 3 hours ago\"",
        "lv_time < \"1 week ago\"",
        "lv_time since \"2 weeks ago\"",
        "lv_time since \"1 month ago\"",
        "lv_time since \"3 months ago\"",
        "lv_time before \"1 year ago\"",
        "lv_time since \"1 year 3 months ago\"",
        "lv_time since Monday",
        "lv_time since Sunday",
        "lv_time until Wednesday",
        "lv_time since \"Jan 2026\"",
        "lv_time since \"1 Jan 2024\"",
        "lv_time since midnight",
        "lv_time before noon || lv_time after noon",
        "lv_time since \"10:00 yesterday\"",
    ] {
        let want = lvs(&real, sel).unwrap_or_else(|e| panic!("lvm -S {sel}: {e}"));
        let got = lvs(&ours, sel).unwrap_or_else(|e| panic!("ulvm -S {sel}: {e}"));
        let names = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(names(&want), names(&got), "-S '{sel}'");
        picked += names(&want).len();
    }
    // The ranges are not all or nothing.
    assert!(picked > 20 && picked < 24 * 8, "{picked}");
    for sel in ["lv_time since \"2 fortnights ago\"", "lv_time = \"yesterday today\"", "lv_time < \"noon midnight\""] {
        let want = lvs(&real, sel).expect_err(sel);
        let got = lvs(&ours, sel).expect_err(sel);
        // (Real LVM's error comes after the command `run` names.)
        let lines = |s: &str| {
            let s = s.split_once("]: ").map_or(s, |(_, rest)| rest);
            s.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect::<Vec<_>>()
        };
        assert_eq!(lines(&want), lines(&got), "-S '{sel}'");
    }
}

/// `pvs -a` lists a device that is no PV (one ulvm's devices file names)
/// as real LVM does: `---`, sizes of 0 but its device's.
#[test]
fn test_real_pvs_a_and_ulvms_list_a_device_that_is_no_pv_alike() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-pvs-a");
    let (a, blank) = (t.image("a.img", 64), t.image("blank.img", 32));
    let (sys, rd) = dirs(&t);
    let vg = format!("ulvmpva{}", std::process::id());
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    u(&["vgcreate", &vg, a.to_str().unwrap()]);
    u(&["lvmdevices", "--adddev", blank.to_str().unwrap()]);
    let loops = attach(&[&a, &blank], true);
    let cfg = only(&loops);
    let files = [a.as_path(), blank.as_path()];
    let fields = "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,dev_size,pv_uuid,pe_start";
    let real = same_report(&u, &cfg, &loops, &files, &["pvs", "-a", "--noheadings", "--separator", "|", "-o", fields]);
    assert!(real.contains("|---|0 |0 |32.00m||0 "), "{real}");
}

/// A shared VG as real LVM 2.03.16 made it with lvmlockd and sanlock (the
/// oracle13 session's metadata, restored by ulvm onto two files): hosts
/// without lvmlockd leave it out of reports and refuse it by name, and
/// `--shared` shows it (`s` in its attributes, `lock_type`, `lock_args`,
/// the hidden `lvmlock` LV, an LV's lease offset), as real LVM does.
#[test]
fn test_real_lvm_and_ulvm_show_a_shared_vg_alike_without_lvmlockd() {
    if !can_run() {
        return;
    }
    let backup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvm/tests/fixtures/oracle13/vgs.vgbackup");
    let Ok(text) = std::fs::read_to_string(&backup) else {
        common::require(false, "no oracle13 fixtures");
        return;
    };
    let t = TestDir::new("interop-shared");
    let (a, b) = (t.image("a.img", 512), t.image("b.img", 512));
    let (sys, rd) = dirs(&t);
    let u = |args: &[&str]| ulvm(&sys, &rd, args);
    let text = text.replace("/dev/vda", a.to_str().unwrap()).replace("/dev/vdb", b.to_str().unwrap());
    let restore = t.path("vgs.backup");
    std::fs::write(&restore, &text).unwrap();
    let pv_id = |key: &str| {
        let at = text.find(&format!("{key} {{")).unwrap();
        text[at..].split('"').nth(1).unwrap().to_string()
    };
    let r = restore.to_str().unwrap();
    u(&["pvcreate", "-u", &pv_id("pv0"), "--restorefile", r, a.to_str().unwrap()]);
    u(&["pvcreate", "-u", &pv_id("pv1"), "--restorefile", r, b.to_str().unwrap()]);
    u(&["vgcfgrestore", "-f", r, "vgs"]);
    let loops = attach(&[&a, &b], true);
    let cfg = only(&loops);
    let files = [a.as_path(), b.as_path()];
    let hidden = same_report(&u, &cfg, &loops, &files, &["vgs", "--noheadings"]);
    assert!(hidden.trim().is_empty(), "{hidden}");
    let vgs = same_report(&u, &cfg, &loops, &files, &["vgs", "--shared", "-o", "vg_name,vg_attr,lock_type,lock_args"]);
    assert!(vgs.contains("wz--ns") && vgs.contains("1.0.0:lvmlock"), "{vgs}");
    let lvs =
        same_report(&u, &cfg, &loops, &files, &["lvs", "--shared", "-a", "-o", "lv_name,lv_attr,lv_size,lv_lockargs"]);
    assert!(lvs.contains("[lvmlock]") && lvs.contains("1.0.0:70254592"), "{lvs}");
    let pvs = ["pvs", "--shared", "--noheadings", "--separator", "|", "-o", "pv_name,vg_name,pv_attr,pv_free"];
    same_report(&u, &cfg, &loops, &files, &pvs);
    same_report(&u, &cfg, &loops, &files, &["pvs"]);
    // Named without --shared: refused alike.
    let real = run("vgs", &["--config", &cfg, "vgs"]).unwrap_err();
    let ours =
        Command::new(ULVM).args(["vgs", "vgs"]).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap();
    assert_eq!(ours.status.code(), Some(5));
    let said = String::from_utf8_lossy(&ours.stderr).trim().to_string();
    assert_eq!(said, "Cannot access VG vgs with lock type sanlock that requires lvmlockd.");
    assert!(real.contains(&said), "{real}");
}

/// Without lvmlockd (`use_lvmlockd = 0`), making a shared VG is refused
/// as real LVM 2.03.16 refuses it, with its words for `--shared` and for
/// `--locktype sanlock` (exit 3), and `vgchange --locktype` says why and
/// changes nothing (LVM exits 0 there).
#[test]
fn test_real_lvm_and_ulvm_refuse_shared_vgs_without_lvmlockd_alike() {
    if !can_run() {
        return;
    }
    let t = TestDir::new("interop-shared-refused");
    let a = t.image("a.img", 64);
    let (sys, rd) = dirs(&t);
    let loops = attach(&[&a], false);
    let cfg = only(&loops);
    let dev = loops.0[0].as_str();
    let said = |o: std::process::Output| {
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let real = |args: &[&str]| {
        let mut c = Command::new(args[0]);
        c.arg("--config").arg(&cfg).args(&args[1..]).env("LVM_SUPPRESS_FD_WARNINGS", "1");
        said(c.output().unwrap())
    };
    let ours = |args: &[&str]| {
        said(Command::new(ULVM).args(args).env("ULVM_SYSTEM_DIR", &sys).env("ULVM_RUN_DIR", &rd).output().unwrap())
    };
    let file = a.to_str().unwrap();
    for how in [&["--shared"][..], &["--locktype", "sanlock"][..]] {
        let mut r = vec!["vgcreate"];
        r.extend_from_slice(how);
        let mut u = r.clone();
        r.extend(["vgx", dev]);
        u.extend(["vgx", file]);
        let (want, got) = (real(&r), ours(&u));
        assert_eq!(want.0, Some(3), "{want:?}");
        assert_eq!(got, want, "{how:?}");
    }
    // One VG (real LVM's) over the same bytes, for both.
    run("vgcreate", &["--config", &cfg, "vgx", dev]).unwrap();
    ulvm(&sys, &rd, &["lvmdevices", "--adddev", file]);
    for t in ["sanlock", "none"] {
        let (want, got) = (real(&["vgchange", "--locktype", t, "vgx"]), ours(&["vgchange", "--locktype", t, "vgx"]));
        assert_eq!(got, want, "--locktype {t}");
    }
    let attr = ulvm(&sys, &rd, &["vgs", "--noheadings", "-o", "vg_attr,lock_type", "vgx"]);
    assert_eq!(attr.trim(), "wz--n-", "nothing changed");
    run("vgremove", &["--config", &cfg, "-f", "vgx"]).unwrap();
}
