//! raid1 metadata against the real kernel (`../shared/oracle`), in one VM
//! run over file-backed metadata and data devices:
//!
//! * A: ulvm builds a raid1, writes, resyncs, stops; the kernel activates
//!   the same devices with the same table, reads the same data, in sync.
//! * B: ulvm stops a new set half resynced (frozen) after more writes; the
//!   kernel reads the same data and finishes the resync.
//! * C: the kernel creates a raid1 on zeroed metadata, writes, syncs and
//!   stops; ulvm activates it in sync (`AA`, idle) and reads the same data.
//! * D: ulvm records a failed leg in the superblocks (writes go on
//!   without it); the kernel accepts the set, recovers the leg and ends
//!   with equal legs and ulvm's data.
//!
//! The Debian kernel's dm-raid is not in the oracle's initramfs: the
//! modules are copied from its kernel package into the guest and loaded.
//! Skips when the oracle is not set up, unless `ULVM_REQUIRE_ORACLE=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, DeviceRef, FileDevice, Sectors};
use ulvm_dm::raid::format::{SbState, Superblock};
use ulvm_dm::target::Step;
use ulvm_dm::{Background, Registry, RegistryConfig, Table};
use ulvm_testkit::oracle::{dm_raid_modules, oracle_dir, ScratchDir};
use ulvm_testkit::{stamped, FaultDevice};

const SECTORS: u64 = 16384; // 8 MiB
const REGION: u64 = 1024; // 512 KiB: 16 regions
const BYTES: usize = (SECTORS * 512) as usize;

fn registry() -> Registry {
    Registry::new(RegistryConfig { background: Background::Manual, ..RegistryConfig::default() })
}

fn table(s: &str) -> Table {
    s.parse().unwrap()
}

fn raid_line(devs: &[&str], extra: &str) -> String {
    let words = 3 + extra.split_whitespace().count();
    let extra = if extra.is_empty() { String::new() } else { format!(" {extra}") };
    format!("0 {SECTORS} raid raid1 {words} 0 region_size {REGION}{extra} 2 {}", devs.join(" "))
}

fn step_until_done(reg: &Registry, name: &str) {
    while reg.step_background(name).unwrap() == Some(Step::Progress) {}
}

fn status(reg: &Registry, name: &str) -> String {
    reg.status(name).unwrap()[0].to_string()
}

fn read_all(dev: &dyn BlockDevice) -> Vec<u8> {
    let mut b = vec![0u8; (dev.size().0 * 512) as usize];
    dev.read(Sectors(0), &mut b).unwrap();
    b
}

fn file(p: &Path) -> DeviceRef {
    Arc::new(FileDevice::open(p, false).unwrap())
}

fn sha256(data: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("ulvm-raid-sha-{}", std::process::id()));
    std::fs::write(&p, data).unwrap();
    let out = Command::new("sha256sum").arg(&p).output().unwrap();
    let _ = std::fs::remove_file(&p);
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no '{key}' line in guest output:\n{out}"))
}

#[test]
fn test_raid1_metadata_crosses_between_ulvm_and_the_kernel() {
    let Some(oracle) = oracle_dir() else { return };
    let d = ScratchDir::new("raid");
    let Some((mods, modload)) = dm_raid_modules(&d.0) else {
        eprintln!("skipping: the oracle's kernel package has no dm-raid modules");
        return;
    };
    let img = |case: char| -> [PathBuf; 4] {
        [
            d.image(&format!("{case}m0.img"), 1),
            d.image(&format!("{case}d0.img"), 8),
            d.image(&format!("{case}m1.img"), 1),
            d.image(&format!("{case}d1.img"), 8),
        ]
    };
    let (a, b, c, dd, e) = (img('a'), img('b'), img('c'), img('d'), img('e'));
    let paths = |p: &[PathBuf; 4]| p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();

    // A: in sync.
    let reg = registry();
    let pa = paths(&a);
    let pa: Vec<&str> = pa.iter().map(String::as_str).collect();
    FileDevice::open(&a[1], false).unwrap().write(Sectors(0), &stamped(BYTES, 21, 0)).unwrap();
    reg.create("ra", None, Some(&table(&raid_line(&pa, ""))), false).unwrap();
    let ra = reg.device("ra").unwrap();
    ra.write(Sectors(100), &stamped(64 << 10, 22, 100)).unwrap();
    step_until_done(&reg, "ra");
    ra.write(Sectors(5000), &stamped(1 << 20, 23, 5000)).unwrap();
    ra.flush().unwrap();
    assert!(status(&reg, "ra").ends_with("raid1 2 AA 16384/16384 idle 0 0 -"), "{}", status(&reg, "ra"));
    let sha_a = sha256(&read_all(&*ra));
    reg.suspend("ra").unwrap();
    reg.remove("ra").unwrap();
    drop(ra);

    // B: half resynced, frozen, with writes on both sides of the resync point.
    let pb = paths(&b);
    let pb: Vec<&str> = pb.iter().map(String::as_str).collect();
    FileDevice::open(&b[1], false).unwrap().write(Sectors(0), &stamped(BYTES, 31, 0)).unwrap();
    reg.create("rb", None, Some(&table(&raid_line(&pb, ""))), false).unwrap();
    let rb = reg.device("rb").unwrap();
    for _ in 0..6 {
        reg.step_background("rb").unwrap();
    }
    reg.message("rb", 0, &["frozen"]).unwrap();
    rb.write(Sectors(2 * REGION + 8), &stamped(8192, 32, 1)).unwrap();
    rb.write(Sectors(12 * REGION), &stamped(65536, 33, 2)).unwrap();
    rb.flush().unwrap();
    let st_b = status(&reg, "rb");
    assert!(st_b.ends_with(&format!("raid1 2 aa {}/16384 frozen 0 0 -", 6 * REGION)), "{st_b}");
    let sha_b = sha256(&read_all(&*rb));
    reg.suspend("rb").unwrap();
    reg.remove("rb").unwrap();
    drop(rb);

    // D: a failed leg recorded in the superblocks.
    let names = ["dm0", "dd0", "dm1", "dd1"];
    let d1 = Arc::new(FaultDevice::new(file(&dd[3])));
    for (i, n) in names.iter().enumerate() {
        let dev = if i == 3 { d1.clone() as DeviceRef } else { file(&dd[i]) };
        reg.add_device(n, dev);
    }
    FileDevice::open(&dd[1], false).unwrap().write(Sectors(0), &stamped(BYTES, 41, 0)).unwrap();
    FileDevice::open(&dd[3], false).unwrap().write(Sectors(0), &stamped(BYTES, 41, 0)).unwrap();
    reg.create("rd", None, Some(&table(&raid_line(&names, "nosync"))), false).unwrap();
    let rd = reg.device("rd").unwrap();
    d1.fail_writes(true);
    rd.write(Sectors(3 * REGION), &stamped(1 << 20, 42, 3)).unwrap();
    rd.flush().unwrap();
    assert!(status(&reg, "rd").ends_with("raid1 2 AD 16384/16384 idle 0 0 -"), "{}", status(&reg, "rd"));
    let sha_d = sha256(&read_all(&*rd));
    reg.suspend("rd").unwrap();
    reg.remove("rd").unwrap();
    drop(rd);
    let SbState::Valid(sb) = Superblock::decode(&read_all(&*file(&dd[0]))[..512]).unwrap() else { panic!() };
    assert!(sb.is_failed(1));

    // C: the kernel's own set; its data comes from this file.
    let pattern = d.0.join("pattern.bin");
    std::fs::write(&pattern, stamped(BYTES, 51, 0)).unwrap();
    // E: written by the kernel after its leg 1 failed.
    let pattern2 = d.0.join("pattern2.bin");
    std::fs::write(&pattern2, stamped(1 << 20, 52, 0)).unwrap();

    let dev = |i: usize| format!("/dev/vd{}", (b'a' + i as u8) as char);
    let kline = |first: usize| {
        format!(
            "0 {SECTORS} raid raid1 3 0 region_size {REGION} 2 {} {} {} {}",
            dev(first),
            dev(first + 1),
            dev(first + 2),
            dev(first + 3)
        )
    };
    let le = format!(
        "0 {SECTORS} raid raid1 4 0 nosync region_size {REGION} 2 {} {} {} /dev/mapper/e1",
        dev(16),
        dev(17),
        dev(18)
    );
    let script = format!(
        "set -e\n{modload}\
         wait_idle() {{ i=0; while ! dmsetup status $1 | grep -q ' idle '; do sleep 0.2; i=$((i+1)); [ $i -lt 600 ]; done; }}\n\
         dmsetup create ra --table '{la}'\necho \"a-status: $(dmsetup status ra)\"\n\
         echo \"a-sha: $(sha256sum < /dev/mapper/ra | cut -d' ' -f1)\"\nwait_idle ra\ndmsetup remove ra\n\
         cmp {a1} {a3} && echo 'a-legs: equal'\n\
         dmsetup create rb --table '{lb}'\necho \"b-status0: $(dmsetup status rb)\"\n\
         echo \"b-sha: $(sha256sum < /dev/mapper/rb | cut -d' ' -f1)\"\nwait_idle rb\necho \"b-status: $(dmsetup status rb)\"\n\
         dmsetup remove rb\ncmp {b1} {b3} && echo 'b-legs: equal'\n\
         dmsetup create rc --table '{lc}'\ndd if=/job/files/pattern.bin of=/dev/mapper/rc bs=1M oflag=direct status=none\n\
         wait_idle rc\necho \"c-status: $(dmsetup status rc)\"\ndmsetup remove rc\n\
         dmsetup create rd --table '{ld}' || {{ dmesg | tail -30 >&2; exit 1; }}\necho \"d-status0: $(dmsetup status rd)\"\n\
         echo \"d-sha: $(sha256sum < /dev/mapper/rd | cut -d' ' -f1)\"\nwait_idle rd\necho \"d-status: $(dmsetup status rd)\"\n\
         dmsetup remove rd\ncmp {d1} {d3} && echo 'd-legs: equal'\n\
         dmsetup create e1 --table '0 {SECTORS} linear {e3} 0'\n\
         dmsetup create re --table '{le}'\n\
         dd if=/job/files/pattern.bin of=/dev/mapper/re bs=1M oflag=direct status=none\n\
         dmsetup suspend e1\ndmsetup load e1 --table '0 {SECTORS} error'\ndmsetup resume e1\n\
         dd if=/job/files/pattern2.bin of=/dev/mapper/re bs=1M seek=3 oflag=direct status=none\n\
         echo \"e-status: $(dmsetup status re)\"\ndmsetup remove re\ndmsetup remove e1\n\
         dmesg | grep -i -E 'raid|md/' | tail -20 >&2\n",
        la = kline(0),
        lb = kline(4),
        lc = kline(8),
        ld = kline(12),
        a1 = dev(1),
        a3 = dev(3),
        b1 = dev(5),
        b3 = dev(7),
        d1 = dev(13),
        d3 = dev(15),
        e3 = dev(19),
    );
    let sp = d.0.join("guest.sh");
    std::fs::write(&sp, script).unwrap();
    let mut cmd = Command::new(oracle.join("run-in-vm.sh"));
    cmd.arg("-f").arg(&mods).arg("-f").arg(&pattern).arg("-f").arg(&pattern2);
    for p in a.iter().chain(&b).chain(&c).chain(&dd).chain(&e) {
        cmd.arg("-d").arg(p);
    }
    let out = cmd.arg("-t").arg("280").arg(&sp).output().expect("run-in-vm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "guest failed ({}):\n{stdout}\n{stderr}", out.status);
    eprintln!("{stdout}\n{stderr}");

    // A: the kernel reads ulvm's data, in sync, legs equal.
    assert_eq!(line(&stdout, "a-status:"), format!("0 {SECTORS} raid raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(line(&stdout, "a-sha:"), sha_a);
    assert_eq!(line(&stdout, "a-legs:"), "equal");
    // B: the kernel continues the resync from where ulvm stopped.
    let b0 = line(&stdout, "b-status0:");
    // The kernel shows a resync it resumes from a recorded offset as
    // `repair` (MD_RECOVERY_REQUESTED), with the legs as `AA`.
    assert!([" resync ", " repair ", " idle "].iter().any(|a| b0.contains(a)), "{b0}");
    assert_eq!(line(&stdout, "b-sha:"), sha_b);
    assert_eq!(line(&stdout, "b-status:"), format!("0 {SECTORS} raid raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(line(&stdout, "b-legs:"), "equal");
    // D: the kernel accepts the failed leg and recovers it.
    assert_eq!(line(&stdout, "d-sha:"), sha_d);
    assert_eq!(line(&stdout, "d-status:"), format!("0 {SECTORS} raid raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    assert_eq!(line(&stdout, "d-legs:"), "equal");
    // C: ulvm activates the kernel's set in sync with the kernel's data.
    assert_eq!(line(&stdout, "c-status:"), format!("0 {SECTORS} raid raid1 2 AA {SECTORS}/{SECTORS} idle 0 0 -"));
    let pc = paths(&c);
    let pc: Vec<&str> = pc.iter().map(String::as_str).collect();
    reg.create("rc", None, Some(&table(&raid_line(&pc, ""))), false).unwrap();
    let rc = reg.device("rc").unwrap();
    assert!(status(&reg, "rc").ends_with("raid1 2 AA 16384/16384 idle 0 0 -"), "{}", status(&reg, "rc"));
    assert!(read_all(&*rc) == stamped(BYTES, 51, 0), "ulvm reads the kernel's data");
    let ev_kernel = match Superblock::decode(&read_all(&*file(&c[0]))[..512]).unwrap() {
        SbState::Valid(sb) => sb.events,
        SbState::New => panic!("the kernel wrote no superblock"),
    };
    reg.suspend("rc").unwrap();
    reg.remove("rc").unwrap();
    let SbState::Valid(sb) = Superblock::decode(&read_all(&*file(&c[0]))[..512]).unwrap() else { panic!() };
    assert!(sb.events > ev_kernel, "ulvm carries on the kernel's event count");
    assert!(read_all(&*file(&c[1])) == read_all(&*file(&c[3])), "legs equal");

    // E: the kernel recorded its failed leg; ulvm recovers it from the
    // kernel's bitmap and ends with the kernel's data on both legs.
    assert_eq!(line(&stdout, "e-status:"), format!("0 {SECTORS} raid raid1 2 AD {SECTORS}/{SECTORS} idle 0 0 -"));
    let SbState::Valid(sb) = Superblock::decode(&read_all(&*file(&e[0]))[..512]).unwrap() else { panic!() };
    assert!(sb.is_failed(1), "the kernel set the failed leg's bit");
    let pe = paths(&e);
    let pe: Vec<&str> = pe.iter().map(String::as_str).collect();
    reg.create("re", None, Some(&table(&raid_line(&pe, ""))), false).unwrap();
    let re = reg.device("re").unwrap();
    assert!(status(&reg, "re").ends_with("raid1 2 Aa 0/16384 recover 0 0 -"), "{}", status(&reg, "re"));
    let mut want = stamped(BYTES, 51, 0);
    want[3 << 20..4 << 20].copy_from_slice(&stamped(1 << 20, 52, 0));
    assert!(read_all(&*re) == want, "ulvm reads what the kernel wrote");
    step_until_done(&reg, "re");
    assert!(status(&reg, "re").ends_with("raid1 2 AA 16384/16384 idle 0 0 -"), "{}", status(&reg, "re"));
    reg.suspend("re").unwrap();
    reg.remove("re").unwrap();
    assert!(read_all(&*file(&e[1])) == want && read_all(&*file(&e[3])) == want, "both legs hold the data");
}
