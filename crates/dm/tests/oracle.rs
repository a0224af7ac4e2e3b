//! Interop with the real kernel's dm-snapshot, through `../shared/oracle`
//! (a throw-away VM with the Debian kernel and real dmsetup).
//!
//! * ulvm writes COWs (valid over several areas, invalidated, half-merged);
//!   the kernel activates them and must show the same status line and
//!   contents, and finish the merge to the same origin.
//! * The kernel writes COWs (snapshot writes, several areas, invalidated,
//!   a merge interrupted halfway); ulvm must read them to the same status
//!   and contents, and finish the merge to the origin the kernel reaches.
//!
//! The tests skip when the oracle is not set up, unless
//! `ULVM_REQUIRE_ORACLE=1` (CI sets it), which turns a skip into a failure.

mod common;
use common::*;
use std::path::Path;
use ulvm_blockdev::{BlockDevice, FileDevice, Sectors};
use ulvm_dm::target::Step;
use ulvm_testkit::oracle::{oracle_dir, ScratchDir};
use ulvm_testkit::stamped;

/// Runs `script` in the VM with `disks` as vda, vdb, ...; returns stdout.
fn run_vm(oracle: &Path, dir: &ScratchDir, disks: &[&Path], script: &str) -> String {
    ulvm_testkit::oracle::run_vm(oracle, &dir.0, disks, script)
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no '{key}' line in guest output:\n{out}"))
}

fn file_bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

fn status_params(reg: &ulvm_dm::Registry, name: &str) -> String {
    reg.status(name).unwrap()[0].status.to_string()
}

/// Fills a file with per-4-KiB stamps.
fn stamp_file(p: &Path, seed: u64) {
    let dev = FileDevice::open(p, false).unwrap();
    let blocks = dev.size().0 / 8;
    for b in 0..blocks {
        dev.write(Sectors(b * 8), &stamped(4096, seed, b)).unwrap();
    }
    dev.flush().unwrap();
}

const MERGE_WAIT: &str = r#"
wait_merged() {
  i=0
  while :; do
    set -- $(dmsetup status "$1")
    a=${4%/*}
    [ "$a" = "$5" ] && return 0
    i=$((i+1)); [ $i -gt 600 ] && { echo "merge did not finish: $*"; return 1; }
    sleep 0.1
  done
}
"#;

#[test]
fn test_kernel_activates_cows_that_ulvm_wrote() {
    let Some(oracle) = oracle_dir() else { return };
    let dir = ScratchDir::new("u2k");
    let o1 = dir.image("o1.img", 64);
    let c1 = dir.image("c1.img", 16);
    let view = dir.image("view.img", 64);
    let c2 = dir.image("c2.img", 1);
    let o3 = dir.image("o3.img", 8);
    let c3 = dir.image("c3.img", 8);
    stamp_file(&o1, 1);
    stamp_file(&o3, 3);

    let (ulvm_view, ulvm_status, merge_expect) = {
        let reg = registry();
        let base = create(&reg, "base", &format!("0 131072 snapshot-origin {}", o1.display()));
        let snap = create(&reg, "snap", &format!("0 131072 snapshot {} {} P 16", o1.display(), c1.display()));
        create(&reg, "small", &format!("0 131072 snapshot {} {} P 16", o1.display(), c2.display()));
        for c in [0u64, 5, 100] {
            base.write(Sectors(c * 16), &labelled(&format!("NEW ORIGIN DATA chunk {c}"), 8192)).unwrap();
        }
        snap.write(Sectors(7 * 16), &labelled("WRITTEN TO SNAPSHOT chunk 7", 8192)).unwrap();
        snap.write(Sectors(3000 * 16 + 3), &labelled("PARTIAL", 512)).unwrap();
        // 1024 more chunks: areas 0 and 1 fill, area 2 is current.
        base.write(Sectors(1024 * 16), &vec![0x5a; 1024 * 8192]).unwrap();
        assert_eq!(status_params(&reg, "small"), "Invalid");
        let v = read(&*snap, 0, 64 << 20);
        let st = status_params(&reg, "snap");
        drop((base, snap));
        reg.remove_all().unwrap();

        // A merge that ulvm interrupts after two steps.
        let base = create(&reg, "b3", &format!("0 16384 snapshot-origin {}", o3.display()));
        let s3 = create(&reg, "s3", &format!("0 16384 snapshot {} {} P 8", o3.display(), c3.display()));
        base.write(Sectors(0), &vec![0xc3; 4 << 20]).unwrap();
        let expect = read(&*s3, 0, 8 << 20);
        drop((base, s3));
        reg.remove_all().unwrap();
        create(&reg, "m3", &format!("0 16384 snapshot-merge {} {} P 8", o3.display(), c3.display()));
        assert_eq!(reg.step_background("m3").unwrap(), Some(Step::Progress));
        assert_eq!(reg.step_background("m3").unwrap(), Some(Step::Progress));
        assert_eq!(status_params(&reg, "m3"), "4128/16384 24");
        reg.remove_all().unwrap();
        (v, st, expect)
    };

    let script = format!(
        r#"#!/bin/sh
set -e
{MERGE_WAIT}
dmsetup create snap --table "0 131072 snapshot /dev/vda /dev/vdb P 16"
echo "SNAP_STATUS $(dmsetup status snap)"
echo "SNAP_TABLE $(dmsetup table snap)"
dd if=/dev/mapper/snap of=/dev/vdc bs=1M status=none
dmsetup remove snap
dmsetup create inv --table "0 131072 snapshot /dev/vda /dev/vdd P 16"
echo "INV_STATUS $(dmsetup status inv)"
dmsetup remove inv
dmsetup create m --table "0 16384 snapshot-merge /dev/vde /dev/vdf P 8"
echo "MERGE_START $(dmsetup status m)"
wait_merged m
echo "MERGE_DONE $(dmsetup status m)"
dmsetup remove m
"#
    );
    let out = run_vm(&oracle, &dir, &[&o1, &c1, &view, &c2, &o3, &c3], &script);
    assert_eq!(line(&out, "SNAP_STATUS"), format!("0 131072 snapshot {ulvm_status}"));
    assert_eq!(line(&out, "SNAP_TABLE"), "0 131072 snapshot 254:0 254:16 P 16");
    assert!(file_bytes(&view) == ulvm_view, "kernel's snapshot view differs from ulvm's");
    assert_eq!(line(&out, "INV_STATUS"), "0 131072 snapshot Invalid");
    // The kernel starts from where ulvm stopped (it may be done already).
    let start: u64 = line(&out, "MERGE_START").split(' ').nth(3).unwrap().split('/').next().unwrap().parse().unwrap();
    assert!(start <= 4128, "kernel saw more exceptions than ulvm left: {start}");
    assert_eq!(line(&out, "MERGE_DONE"), "0 16384 snapshot-merge 16/16384 16");
    assert!(file_bytes(&o3) == merge_expect, "kernel finished ulvm's merge to a different origin");
}

#[test]
fn test_ulvm_reads_and_merges_cows_that_the_kernel_wrote() {
    let Some(oracle) = oracle_dir() else { return };
    let dir = ScratchDir::new("k2u");
    let a = dir.image("a.img", 32);
    let b = dir.image("b.img", 16);
    let c = dir.image("c.img", 8);
    let d = FileDevice::create(dir.0.join("d.img"), Sectors(128)).map(|_| dir.0.join("d.img")).unwrap();
    let e = dir.image("e.img", 8);
    let f = dir.image("f.img", 8);
    let g = dir.image("g.img", 8);
    let h = dir.image("h.img", 8);
    let view = dir.image("view.img", 32);
    stamp_file(&a, 10);
    stamp_file(&e, 11);

    let script = format!(
        r#"#!/bin/sh
set -e
{MERGE_WAIT}
dmsetup create a --table "0 65536 snapshot-origin /dev/vda"
dmsetup create as --table "0 65536 snapshot /dev/vda /dev/vdb P 16"
dd if=/dev/urandom of=/dev/mapper/a bs=1M count=6 seek=4 oflag=direct status=none
for c in 3 77 901 1500; do printf 'ORIGIN %d' $c | dd of=/dev/mapper/a bs=8192 seek=$c conv=notrunc,fsync status=none; done
for c in 9 2000; do printf 'SNAPWRITE %d' $c | dd of=/dev/mapper/as bs=8192 seek=$c conv=notrunc,fsync status=none; done
printf 'PARTIAL' | dd of=/dev/mapper/as bs=512 seek=$((2500*16+3)) conv=notrunc,fsync status=none
echo "A_STATUS $(dmsetup status as)"
dd if=/dev/mapper/as of=/dev/vdi bs=1M status=none
dmsetup remove as
dmsetup remove a

dmsetup create c --table "0 16384 snapshot-origin /dev/vdc"
dmsetup create cs --table "0 16384 snapshot /dev/vdc /dev/vdd P 8"
dd if=/dev/zero of=/dev/mapper/c bs=4096 count=64 oflag=direct status=none
echo "C_STATUS $(dmsetup status cs)"
dmsetup remove cs
dmsetup remove c

# The merge runs over a delayed origin so that it can be interrupted.
dmsetup create slow --table "0 16384 delay /dev/vde 0 40"
dmsetup create e --table "0 16384 snapshot-origin /dev/mapper/slow"
dmsetup create es --table "0 16384 snapshot /dev/mapper/slow /dev/vdf P 8"
dd if=/dev/urandom of=/dev/mapper/e bs=1M count=6 oflag=direct status=none
echo "E_BEFORE $(dmsetup status es)"
dmsetup remove es
dmsetup remove e
dmsetup create e --table "0 16384 snapshot-merge /dev/mapper/slow /dev/vdf P 8"
set -- $(dmsetup status e); first=${{4%/*}}
while :; do set -- $(dmsetup status e); [ "${{4%/*}}" != "$first" ] && break; done
dmsetup suspend e
echo "E_INTERRUPTED $(dmsetup status e)"
dmsetup remove e
dmsetup remove slow
dd if=/dev/vde of=/dev/vdg bs=1M status=none
dd if=/dev/vdf of=/dev/vdh bs=1M status=none
dmsetup create e --table "0 16384 snapshot-merge /dev/vde /dev/vdf P 8"
wait_merged e
echo "E_DONE $(dmsetup status e)"
dmsetup remove e
"#
    );
    let out = run_vm(&oracle, &dir, &[&a, &b, &c, &d, &e, &f, &g, &h, &view], &script);

    let reg = registry();
    create(&reg, "as", &format!("0 65536 snapshot {} {} P 0", a.display(), b.display()));
    assert_eq!(format!("0 65536 snapshot {}", status_params(&reg, "as")), line(&out, "A_STATUS"));
    assert_eq!(reg.table("as", false).unwrap()[0].params.split(' ').nth(3), Some("16"), "chunk size from the header");
    let ours = read(&*reg.device("as").unwrap(), 0, 32 << 20);
    assert!(ours == file_bytes(&view), "ulvm's view of the kernel's COW differs from the kernel's");

    create(&reg, "cs", &format!("0 16384 snapshot {} {} P 8", c.display(), d.display()));
    assert_eq!(line(&out, "C_STATUS"), "0 16384 snapshot Invalid");
    assert_eq!(status_params(&reg, "cs"), "Invalid");

    let interrupted = line(&out, "E_INTERRUPTED");
    let before = line(&out, "E_BEFORE");
    assert_ne!(interrupted.split(' ').nth(3), before.split(' ').nth(3), "the kernel merge was not interrupted midway");
    let m = create(&reg, "m", &format!("0 16384 snapshot-merge {} {} P 8", g.display(), h.display()));
    let kernel_view = read(&*m, 0, 8 << 20);
    while reg.step_background("m").unwrap() == Some(Step::Progress) {}
    assert_eq!(format!("0 16384 snapshot-merge {}", status_params(&reg, "m")), line(&out, "E_DONE"));
    drop(m);
    reg.remove_all().unwrap();
    let kernel_merged = file_bytes(&e);
    assert!(file_bytes(&g) == kernel_merged, "ulvm finished the kernel's merge to a different origin");
    assert!(kernel_view == kernel_merged, "the merging view was not the merge result");
    assert!(file_bytes(&h) == file_bytes(&f), "COW after ulvm's merge differs from the kernel's");
}
