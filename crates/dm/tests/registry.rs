//! The device registry's life cycle and the simple targets.

mod common;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, ErrorKind, Sectors};
use ulvm_dm::target::TargetError;
use ulvm_dm::{DevNum, DmError};

#[test]
fn test_create_numbers_devices_and_info_reports_state() {
    let reg = registry();
    reg.add_device("d", as_dev(&mem("d", 64)));
    let a = reg.create("a", Some("UUID-A"), Some(&table("0 64 linear d 0")), false).unwrap();
    let b = reg.create("b", None, None, false).unwrap();
    assert_eq!((a, b), (DevNum::new(253, 0), DevNum::new(253, 1)));
    let info = reg.info("a").unwrap();
    assert!(info.live_table && !info.suspended && !info.read_only && !info.inactive_table);
    assert_eq!((info.uuid.as_str(), info.open_count, info.event_nr, info.target_count), ("UUID-A", 0, 0, 1));
    let info = reg.info("b").unwrap();
    assert!(!info.live_table);
    assert_eq!(reg.device("b").unwrap().read(Sectors(0), &mut [0u8; 512]).unwrap_err().kind(), ErrorKind::NoDevice);
    assert_eq!(reg.list(), vec![("a".to_string(), a), ("b".to_string(), b)]);
    assert!(matches!(reg.create("a", None, None, false), Err(DmError::Exists(_))));
    assert!(matches!(reg.create("c", Some("UUID-A"), None, false), Err(DmError::Exists(_))));
    assert!(reg.create("x/y", None, None, false).is_err());
}

#[test]
fn test_failed_create_leaves_nothing() {
    let reg = registry();
    reg.add_device("d", as_dev(&mem("d", 64)));
    let e = reg.create("a", None, Some(&table("0 128 linear d 0")), false).unwrap_err().to_string();
    assert!(e.contains("too small"), "{e}");
    let e = reg.create("a", None, Some(&table("0 64 linear /nonexistent/dev 0")), false).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/dev"), "{e}");
    assert!(reg.list().is_empty());
}

#[test]
fn test_load_suspend_resume_swaps_tables() {
    let reg = registry();
    let d = mem("d", 128);
    d.write(Sectors(64), &[7u8; 512]).unwrap();
    reg.add_device("d", as_dev(&d));
    let dev = create(&reg, "a", "0 64 linear d 0");
    reg.load("a", &table("0 64 linear d 64"), false).unwrap();
    assert!(reg.info("a").unwrap().inactive_table);
    assert_eq!(reg.table("a", true).unwrap()[0].to_string(), "0 64 linear 240:0 64");
    assert_eq!(read(&*dev, 0, 512), vec![0u8; 512], "inactive table not live yet");
    reg.suspend("a").unwrap();
    assert!(reg.info("a").unwrap().suspended);
    reg.resume("a").unwrap();
    assert_eq!(read(&*dev, 0, 512), vec![7u8; 512]);
    assert_eq!(table_of(&reg, "a"), "0 64 linear 240:0 64");
    // resume without suspend suspends first, as the kernel does
    reg.load("a", &table("0 64 zero"), false).unwrap();
    reg.resume("a").unwrap();
    assert_eq!(table_of(&reg, "a"), "0 64 zero ");
    reg.load("a", &table("0 64 error"), false).unwrap();
    reg.clear("a").unwrap();
    assert!(!reg.info("a").unwrap().inactive_table);
}

#[test]
fn test_stacked_devices_count_opens_and_refuse_busy_removal() {
    let reg = registry();
    let d = mem("d", 128);
    reg.add_device("d", as_dev(&d));
    create(&reg, "lower", "0 128 linear d 0");
    let upper = create(&reg, "upper", "0 64 linear /dev/mapper/lower 64");
    create(&reg, "byname", "0 32 linear lower 0");
    create(&reg, "bynum", "0 32 linear 253:0 32");
    assert_eq!(reg.info("lower").unwrap().open_count, 3);
    assert_eq!(table_of(&reg, "upper"), "0 64 linear 253:0 64");
    assert_eq!(reg.deps("upper").unwrap(), vec![DevNum::new(253, 0)]);
    // Each device once, in table order; the stripe size is no device.
    create(&reg, "striped", "0 64 striped 2 8 253:2 0 lower 16");
    assert_eq!(reg.deps("striped").unwrap(), vec![DevNum::new(253, 2), DevNum::new(253, 0)]);
    reg.remove("striped").unwrap();
    upper.write(Sectors(0), &[9u8; 512]).unwrap();
    assert_eq!(read(&*d, 64 * 512, 512), vec![9u8; 512]);
    assert!(matches!(reg.remove("lower"), Err(DmError::Busy(_, 3))));
    let held = upper.open();
    assert!(matches!(reg.remove("upper"), Err(DmError::Busy(_, 1))));
    drop(held);
    drop(upper);
    reg.remove("upper").unwrap();
    reg.remove_all().unwrap();
    assert!(reg.list().is_empty());
    assert!(reg.create("self", None, Some(&table("0 8 linear 253:4 0")), false).is_err());
}

#[test]
fn test_rename_and_uuid() {
    let reg = registry();
    create(&reg, "a", "0 8 zero");
    reg.rename("a", "b").unwrap();
    assert!(reg.info("a").is_err());
    assert_eq!(reg.info("b").unwrap().name, "b");
    reg.set_uuid("b", "U1").unwrap();
    assert!(reg.set_uuid("b", "U2").is_err());
    create(&reg, "c", "0 8 zero");
    assert!(matches!(reg.rename("c", "b"), Err(DmError::Exists(_))));
}

#[test]
fn test_read_only_device_refuses_writes() {
    let reg = registry();
    reg.add_device("d", as_dev(&mem("d", 64)));
    reg.create("ro", None, Some(&table("0 64 linear d 0")), true).unwrap();
    let dev = reg.device("ro").unwrap();
    assert!(reg.info("ro").unwrap().read_only);
    assert_eq!(dev.write(Sectors(0), &[1u8; 512]).unwrap_err().kind(), ErrorKind::ReadOnly);
    assert_eq!(read(&*dev, 0, 512), vec![0u8; 512]);
}

#[test]
fn test_error_zero_targets_and_multi_target_tables() {
    let reg = registry();
    let d = mem("d", 64);
    d.write(Sectors(0), &[4u8; 64 * 512]).unwrap();
    reg.add_device("d", as_dev(&d));
    let dev = create(&reg, "m", "0 16 linear d 0\n16 16 zero\n32 16 error");
    assert_eq!(dev.size(), Sectors(48));
    let mut buf = vec![0u8; 32 * 512];
    dev.read(Sectors(0), &mut buf).unwrap();
    assert_eq!(&buf[..16 * 512], &[4u8; 16 * 512][..]);
    assert_eq!(&buf[16 * 512..], &[0u8; 16 * 512][..]);
    assert_eq!(dev.read(Sectors(30), &mut [0u8; 2048]).unwrap_err().kind(), ErrorKind::Failed);
    dev.write(Sectors(16), &[1u8; 512]).unwrap();
    let lines: Vec<_> = reg.table("m", false).unwrap().iter().map(|l| l.to_string()).collect();
    assert_eq!(lines, ["0 16 linear 240:0 0", "16 16 zero ", "32 16 error "]);
    // A target without messages refuses them as the kernel does, typed.
    let e = reg.message("m", 0, &["anything"]).unwrap_err();
    assert!(matches!(&e, DmError::Target { source: TargetError::Unsupported(_), .. }), "{e:?}");
    assert_eq!(e.to_string(), "m: linear: target does not support messages");
    assert!(reg.message("m", 100, &["x"]).unwrap_err().to_string().contains("outside"));
}

#[test]
fn test_striped_target_places_chunks_round_robin() {
    let reg = registry();
    let a = mem("a", 256);
    let b = mem("b", 256);
    reg.add_device("a", as_dev(&a));
    reg.add_device("b", as_dev(&b));
    let dev = create(&reg, "st", "0 256 striped 2 8 a 0 b 16");
    assert_eq!(table_of(&reg, "st"), "0 256 striped 2 8 240:0 0 240:1 16");
    let data: Vec<u8> = (0..256 * 512).map(|i| (i / 512) as u8).collect();
    dev.write(Sectors(0), &data).unwrap();
    for chunk in 0..32u64 {
        let (dev_, off) = if chunk % 2 == 0 { (&a, 0) } else { (&b, 16) };
        let at = off + (chunk / 2) * 8;
        let got = read(&**dev_, at * 512, 8 * 512);
        assert_eq!(got, data[(chunk * 8 * 512) as usize..((chunk + 1) * 8 * 512) as usize], "chunk {chunk}");
    }
    assert_eq!(read(&*dev, 3 * 512, 20 * 512), data[3 * 512..23 * 512]);
}

#[test]
fn test_wait_event_times_out_without_event() {
    let reg = Arc::new(registry());
    create(&reg, "a", "0 8 zero");
    assert_eq!(reg.wait_event("a", 0, Some(Duration::from_millis(50))).unwrap(), 0);
    assert!(matches!(reg.wait_event("nope", 0, None), Err(DmError::NotFound(_))));
}

#[test]
fn test_file_paths_get_stable_numbers() {
    let dir = std::env::temp_dir().join(format!("ulvm-reg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("disk.img");
    ulvm_blockdev::FileDevice::create(&p, Sectors(64)).unwrap();
    let reg = registry();
    create(&reg, "a", &format!("0 64 linear {} 0", p.display()));
    create(&reg, "b", &format!("0 64 linear {}/./disk.img 0", dir.display()));
    assert_eq!(table_of(&reg, "a"), table_of(&reg, "b"), "same file, same number");
    assert!(table_of(&reg, "a").starts_with("0 64 linear 240:"));
    // Unused, then replaced on disk: the new file is opened, not the old inode.
    reg.remove_all().unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::write(&p, vec![7u8; 64 * 512]).unwrap();
    let dev = create(&reg, "c", &format!("0 64 linear {} 0", p.display()));
    assert_eq!(read(&*dev, 0, 512), vec![7u8; 512], "stale handle on a replaced file");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Whether each fd of this process open on `path` has O_DIRECT, from the
/// `flags:` line (octal) of `/proc/self/fdinfo`.
fn direct_flags(path: &std::path::Path) -> Vec<bool> {
    const O_DIRECT: u32 = 0o40000;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let fd = e.unwrap().file_name();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.to_string_lossy()));
        if link.is_ok_and(|l| l == path) {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.to_string_lossy())).unwrap();
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap().trim();
            out.push(u32::from_str_radix(flags, 8).unwrap() & O_DIRECT != 0);
        }
    }
    out.sort();
    out
}

#[test]
fn test_direct_io_device_opens_its_files_with_o_direct_and_keeps_it_on_reload() {
    // Not /tmp, which may be tmpfs.
    let dir = std::path::PathBuf::from(format!("/var/tmp/ulvm-reg-direct-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.img"), dir.join("b.img"));
    ulvm_blockdev::FileDevice::create(&a, Sectors(64)).unwrap();
    ulvm_blockdev::FileDevice::create(&b, Sectors(64)).unwrap();
    let reg = registry();
    let direct = ulvm_dm::DeviceOptions { direct_io: true, ..Default::default() };
    reg.create_with("d", None, Some(&table(&format!("0 64 linear {} 0", a.display()))), direct).unwrap();
    assert!(reg.device("d").unwrap().direct_io());
    assert_eq!(direct_flags(&a), vec![true]);
    reg.device("d").unwrap().write(Sectors(1), &[5u8; 512]).unwrap();
    assert_eq!(std::fs::read(&a).unwrap()[512..1024], [5u8; 512]);

    // A buffered device on the same file: a handle of its own, same number.
    create(&reg, "buf", &format!("0 64 linear {} 0", a.display()));
    assert_eq!(direct_flags(&a), vec![false, true]);
    assert_eq!(table_of(&reg, "d"), table_of(&reg, "buf"));
    // By number, while only the buffered handle is open: opened direct.
    reg.remove("d").unwrap();
    assert_eq!(direct_flags(&a), vec![false]);
    let num = table_of(&reg, "buf").split_whitespace().nth(3).unwrap().to_string();
    reg.create_with("n", None, Some(&table(&format!("0 64 linear {num} 0"))), direct).unwrap();
    assert_eq!(direct_flags(&a), vec![false, true], "n holds a direct handle of a.img");

    // lvextend's way: suspend, load, resume. The new table is direct too.
    reg.suspend("n").unwrap();
    reg.load("n", &table(&format!("0 64 linear {} 0", b.display())), false).unwrap();
    reg.resume("n").unwrap();
    assert_eq!(direct_flags(&b), vec![true]);
    assert_eq!(direct_flags(&a), vec![false], "the old table's handle is closed");
    reg.remove_all().unwrap();
    assert!(direct_flags(&a).is_empty() && direct_flags(&b).is_empty());
    std::fs::remove_dir_all(dir).unwrap();

    // tmpfs keeps every write in memory: refused, with the reason.
    let shm = std::path::PathBuf::from(format!("/dev/shm/ulvm-reg-direct-{}", std::process::id()));
    if ulvm_blockdev::FileDevice::create(&shm, Sectors(64)).is_ok() {
        let e = reg.create_with("t", None, Some(&table(&format!("0 64 linear {} 0", shm.display()))), direct);
        std::fs::remove_file(&shm).unwrap();
        let e = e.unwrap_err().to_string();
        assert!(e.contains("tmpfs"), "{e}");
        assert!(reg.list().is_empty());
    }
}
