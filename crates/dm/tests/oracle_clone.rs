//! dm-clone metadata against the real kernel (`../shared/oracle`):
//!
//! * the kernel formats a metadata device and records two written
//!   regions; ulvm reads exactly those regions back, with the same block
//!   usage the kernel reported;
//! * ulvm formats a metadata device and records regions as hydrated; the
//!   kernel loads it, reports the same counts, serves those regions from
//!   the destination and the others from the source, and finishes the
//!   hydration.
//!
//! Skips when the oracle is not set up, unless `ULVM_REQUIRE_ORACLE=1`.

use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, FileDevice, Sectors};
use ulvm_dm::clone::metadata::Metadata;
use ulvm_testkit::oracle::{oracle_dir, run_vm, ScratchDir};
use ulvm_testkit::stamped;

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no '{key}' line in guest output:\n{out}"))
}

const SECTORS: u64 = 131_072; // 64 MiB
const REGION: u64 = 64; // 32 KiB: 2048 regions

#[test]
fn test_ulvm_reads_the_regions_the_kernel_recorded() {
    let Some(oracle) = oracle_dir() else { return };
    let d = ScratchDir::new("clone-k2u");
    let (src, dst, meta) = (d.image("src.img", 64), d.image("dst.img", 64), d.image("meta.img", 4));
    let s = FileDevice::open(&src, false).unwrap();
    s.write(Sectors(0), &stamped(64 << 20, 5, 0)).unwrap();
    s.flush().unwrap();
    let out = run_vm(
        &oracle,
        &d.0,
        &[&src, &dst, &meta],
        &format!(
            "set -e\ndmsetup create cl --table \"0 {SECTORS} clone /dev/vdc /dev/vdb /dev/vda {REGION} 1 no_hydration\"\n\
             printf 'WRITTEN' | dd of=/dev/mapper/cl bs=32768 seek=10 conv=notrunc,fsync status=none\n\
             dd if=/dev/zero of=/dev/mapper/cl bs=32768 count=1 seek=20 conv=notrunc,fsync status=none\n\
             dd if=/dev/zero of=/dev/mapper/cl bs=32768 count=2 seek=2040 conv=notrunc,fsync status=none\n\
             echo \"status: $(dmsetup status cl)\"\ndmsetup remove cl\n"
        ),
    );
    let status = line(&out, "status:");
    let dev: DeviceRef = Arc::new(FileDevice::open(&meta, true).unwrap());
    let m = Metadata::open(dev, REGION, SECTORS).unwrap();
    let hydrated: Vec<u64> = (0..m.nr_regions()).filter(|&r| m.is_hydrated(r)).collect();
    assert_eq!(hydrated, vec![10, 20, 2040, 2041]);
    let (used, total) = m.usage();
    assert_eq!(
        status,
        format!("0 {SECTORS} clone 8 {used}/{total} {REGION} 4/2048 0 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw")
    );
    drop(m);
    // ulvm's clone target takes over the kernel's half-done clone: the same
    // status line, then it finishes the hydration.
    let reg = ulvm_dm::Registry::new(ulvm_dm::RegistryConfig {
        background: ulvm_dm::Background::Manual,
        ..ulvm_dm::RegistryConfig::default()
    });
    let t: ulvm_dm::Table =
        format!("0 {SECTORS} clone {} {} {} {REGION} 1 no_hydration", meta.display(), dst.display(), src.display())
            .parse()
            .unwrap();
    reg.create("cl", None, Some(&t), false).unwrap();
    assert_eq!(reg.status("cl").unwrap()[0].to_string(), status, "ulvm's status of the kernel's clone");
    reg.message("cl", 0, &["enable_hydration"]).unwrap();
    let dev = reg.device("cl").unwrap();
    let table = dev.live_table().unwrap();
    while table.entries[0].target.background_step() == Some(ulvm_dm::target::Step::Progress) {}
    drop(table);
    reg.suspend("cl").unwrap();
    reg.remove("cl").unwrap();
    let (s, d) = (std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
    let r = |n: usize| n * 32768..(n + 1) * 32768;
    for n in 0..2048 {
        match n {
            10 => {
                assert_eq!(&d[r(10)][..7], b"WRITTEN");
                assert_eq!(d[r(10)][7..], s[r(10)][7..]);
            }
            20 | 2040 | 2041 => assert!(d[r(n)].iter().all(|&b| b == 0), "region {n}"),
            _ => assert!(d[r(n)] == s[r(n)], "region {n} not hydrated from the source"),
        }
    }
    let mdev: DeviceRef = Arc::new(FileDevice::open(&meta, true).unwrap());
    assert!(Metadata::open(mdev, REGION, SECTORS).unwrap().all_hydrated());
}

#[test]
fn test_kernel_takes_over_a_clone_ulvm_half_hydrated() {
    let Some(oracle) = oracle_dir() else { return };
    let d = ScratchDir::new("clone-u2k");
    let (src, dst, meta) = (d.image("src.img", 64), d.image("dst.img", 64), d.image("meta.img", 4));
    let s = FileDevice::open(&src, false).unwrap();
    s.write(Sectors(0), &stamped(64 << 20, 7, 0)).unwrap();
    s.flush().unwrap();
    // Regions 0..100 "hydrated" with a marker, so reads show where they come from.
    let dst_dev = FileDevice::open(&dst, false).unwrap();
    dst_dev.write(Sectors(0), &vec![0xaa; 100 * 32768]).unwrap();
    let mdev: DeviceRef = Arc::new(FileDevice::open(&meta, false).unwrap());
    let mut m = Metadata::open(mdev, REGION, SECTORS).unwrap();
    for r in 0..100 {
        m.set_hydrated(r);
    }
    m.commit(&dst_dev).unwrap();
    let (used, total) = m.usage();
    drop(m);
    let out = run_vm(
        &oracle,
        &d.0,
        &[&src, &dst, &meta],
        &format!(
            "set -e\ndmsetup create cl --table \"0 {SECTORS} clone /dev/vdc /dev/vdb /dev/vda {REGION} 1 no_hydration\"\n\
             echo \"status: $(dmsetup status cl)\"\n\
             echo \"region0: $(dd if=/dev/mapper/cl bs=32768 count=1 status=none | od -An -tx1 -N4 | tr -d ' ')\"\n\
             echo \"src100: $(dd if=/dev/vda bs=32768 skip=100 count=1 status=none | sha256sum | cut -c1-16)\"\n\
             echo \"cl100: $(dd if=/dev/mapper/cl bs=32768 skip=100 count=1 status=none | sha256sum | cut -c1-16)\"\n\
             dmsetup message cl 0 enable_hydration\n\
             i=0; while :; do set -- $(dmsetup status cl); [ \"${{7%/*}}\" = \"${{7#*/}}\" ] && break; i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done\n\
             echo \"done: $(dmsetup status cl)\"\n\
             echo \"dst100: $(dd if=/dev/vdb bs=32768 skip=100 count=1 status=none | sha256sum | cut -c1-16)\"\n\
             dmsetup remove cl\n"
        ),
    );
    assert_eq!(
        line(&out, "status:"),
        format!("0 {SECTORS} clone 8 {used}/{total} {REGION} 100/2048 0 1 no_hydration 4 hydration_threshold 1 hydration_batch_size 1 rw")
    );
    assert_eq!(line(&out, "region0:"), "aaaaaaaa", "a region ulvm recorded is read from the destination");
    assert_eq!(line(&out, "cl100:"), line(&out, "src100:"), "an unhydrated region is read from the source");
    assert!(line(&out, "done:").contains(" 2048/2048 "), "{out}");
    assert_eq!(line(&out, "dst100:"), line(&out, "src100:"), "the kernel finished the hydration");
    // And ulvm reads the kernel's finished metadata: everything hydrated.
    let mdev: DeviceRef = Arc::new(FileDevice::open(&meta, true).unwrap());
    assert!(Metadata::open(mdev, REGION, SECTORS).unwrap().all_hydrated());
}
