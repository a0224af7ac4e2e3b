use crate::{BlockDevice, ErrorKind, FileDevice, Sectors};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

/// A file on /var/tmp: O_DIRECT needs a disk file system, and /tmp may be tmpfs.
fn tmp(name: &str) -> PathBuf {
    let p = PathBuf::from(format!("/var/tmp/ulvm-direct-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// `len` bytes stamped with `seed`, different in every byte.
fn stamp(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u64 * 31 + seed as u64 * 7 + (i as u64 >> 9)) as u8).collect()
}

/// A file of `sectors` filled with `stamp(.., 1)`, and its contents.
fn stamped_file(name: &str, sectors: u64) -> (PathBuf, Vec<u8>) {
    let p = tmp(name);
    let data = stamp((sectors * 512) as usize, 1);
    let f = FileDevice::create(&p, Sectors(sectors)).unwrap();
    f.write(Sectors(0), &data).unwrap();
    f.flush().unwrap();
    (p, data)
}

/// A buffer of `len` bytes whose address is not 4096-aligned (nor 512).
fn misaligned(v: &mut Vec<u8>, len: usize) -> &mut [u8] {
    v.resize(len + 7, 0);
    &mut v[3..3 + len]
}

/// Pages of the file at `p` that sit in the page cache.
fn resident_pages(p: &std::path::Path) -> usize {
    let f = std::fs::File::open(p).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    // SAFETY: a shared read-only mapping of a file we opened, unmapped below;
    // mincore writes one byte per page into `v`, which has that many.
    unsafe {
        let m = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0);
        assert_ne!(m, libc::MAP_FAILED);
        let mut v = vec![0u8; len.div_ceil(4096)];
        assert_eq!(libc::mincore(m, len, v.as_mut_ptr()), 0);
        libc::munmap(m, len);
        v.iter().filter(|&&b| b & 1 == 1).count()
    }
}

#[test]
fn test_direct_unaligned_buffer_and_offset_round_trip() {
    let (p, mut model) = stamped_file("rt", 2048);
    let dev = FileDevice::open_direct(&p, false).unwrap();
    assert!(dev.is_direct());
    assert!(dev.as_file().is_none(), "no copy_file_range past O_DIRECT");
    // Sector 3, five sectors, from a buffer at an odd address.
    let data = stamp(5 * 512, 9);
    let mut v = Vec::new();
    let buf = misaligned(&mut v, data.len());
    buf.copy_from_slice(&data);
    dev.write(Sectors(3), buf).unwrap();
    model[3 * 512..8 * 512].copy_from_slice(&data);
    // Read an unaligned range around it into an unaligned buffer.
    let mut r = Vec::new();
    let back = misaligned(&mut r, 20 * 512);
    dev.read(Sectors(1), back).unwrap();
    assert!(back == &model[512..21 * 512]);
    // An aligned request into a Vec takes the same path or the direct one.
    let mut all = vec![0u8; model.len()];
    dev.read(Sectors(0), &mut all).unwrap();
    assert!(all == model);
    drop(dev);
    assert!(std::fs::read(&p).unwrap() == model, "what the file holds");
    std::fs::remove_file(p).unwrap();
}

#[test]
fn test_direct_partial_block_writes_keep_the_rest_of_the_block() {
    let (p, mut model) = stamped_file("rmw", 8192);
    let dev = FileDevice::open_direct(&p, false).unwrap();
    // Inside one 4 KiB block; across a block boundary; more than the bounce
    // window (1 MiB) with partial blocks at both ends; a whole aligned block
    // from an unaligned buffer.
    for (i, &(at, sectors)) in [(1u64, 1u64), (7, 3), (13, 2048 + 2048 + 3), (4096, 8)].iter().enumerate() {
        let data = stamp((sectors * 512) as usize, 20 + i as u8);
        let mut v = Vec::new();
        let buf = misaligned(&mut v, data.len());
        buf.copy_from_slice(&data);
        dev.write(Sectors(at), buf).unwrap();
        model[(at * 512) as usize..((at + sectors) * 512) as usize].copy_from_slice(&data);
    }
    let mut back = vec![0u8; model.len()];
    dev.read(Sectors(0), &mut back).unwrap();
    assert!(back == model);
    // Write-zeroes with partial blocks at both ends.
    dev.write_zeroes(Sectors(3), Sectors(8 * 3 + 2)).unwrap();
    model[3 * 512..29 * 512].fill(0);
    dev.read(Sectors(0), &mut back).unwrap();
    assert!(back == model);
    drop(dev);
    assert!(std::fs::read(&p).unwrap() == model);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn test_direct_concurrent_partial_writes_to_one_block_are_all_kept() {
    let (p, mut model) = stamped_file("race", 64);
    let dev = std::sync::Arc::new(FileDevice::open_direct(&p, false).unwrap());
    // Eight threads, each rewriting its own sector of block 0 and of block 1
    // again and again: a read-modify-write that raced another would put an
    // old sector back.
    let threads: Vec<_> = (0..8u64)
        .map(|s| {
            let dev = dev.clone();
            std::thread::spawn(move || {
                for round in 0..50u8 {
                    dev.write(Sectors(s), &[round; 512]).unwrap();
                    dev.write(Sectors(8 + s), &[round.wrapping_add(100); 512]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    model[..8 * 512].fill(49);
    model[8 * 512..16 * 512].fill(149);
    let mut back = vec![0u8; model.len()];
    dev.read(Sectors(0), &mut back).unwrap();
    assert!(back == model);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn test_direct_write_is_seen_by_another_direct_reader_and_not_cached() {
    let (p, _) = stamped_file("two", 2048);
    // The buffered stamping is in the cache: drop it.
    let f = std::fs::File::open(&p).unwrap();
    // SAFETY: advice on an fd we own.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    let a = FileDevice::open_direct(&p, false).unwrap();
    let b = FileDevice::open_direct(&p, true).unwrap();
    let data = stamp(2048 * 512, 42);
    a.write(Sectors(0), &data).unwrap();
    a.write(Sectors(5), &stamp(512, 43)).unwrap();
    // Partial blocks at both ends, and the whole block between.
    a.write_zeroes(Sectors(1023), Sectors(10)).unwrap();
    a.discard(Sectors(1043), Sectors(10)).unwrap();
    assert_eq!(resident_pages(&p), 0, "direct writes leave nothing in the page cache");
    let mut back = vec![0u8; data.len()];
    b.read(Sectors(0), &mut back).unwrap();
    assert!(back[..5 * 512] == data[..5 * 512] && back[5 * 512..6 * 512] == stamp(512, 43)[..]);
    assert!(back[6 * 512..1023 * 512] == data[6 * 512..1023 * 512]);
    assert!(back[1023 * 512..1033 * 512].iter().all(|&x| x == 0));
    assert!(back[1033 * 512..1043 * 512] == data[1033 * 512..1043 * 512]);
    assert!(back[1053 * 512..] == data[1053 * 512..]);
    assert_eq!(b.write(Sectors(0), &[0u8; 512]).unwrap_err().kind(), ErrorKind::ReadOnly);
    std::fs::remove_file(p).unwrap();
}

#[test]
fn test_direct_open_on_tmpfs_is_refused_with_the_reason() {
    let dir = std::path::Path::new("/dev/shm");
    if !crate::file::on_tmpfs(dir) {
        eprintln!("skipped: /dev/shm is not tmpfs here");
        return;
    }
    let p = dir.join(format!("ulvm-direct-{}", std::process::id()));
    drop(FileDevice::create(&p, Sectors(8)).unwrap());
    let e = FileDevice::open_direct(&p, false).unwrap_err();
    std::fs::remove_file(&p).unwrap();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("tmpfs"), "{e}");
}

#[test]
fn test_direct_open_refuses_a_file_not_made_of_whole_blocks() {
    let p = tmp("odd");
    drop(FileDevice::create(&p, Sectors(9)).unwrap());
    let e = FileDevice::open_direct(&p, false).unwrap_err();
    std::fs::remove_file(&p).unwrap();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("not a multiple of 4096"), "{e}");
}

/// A loop device over a file, detached (and the file removed) on drop.
struct Loop(String, PathBuf);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup").args(["-d", &self.0]).status();
        let _ = std::fs::remove_file(&self.1);
    }
}

/// A loop device of `sectors` with logical blocks of `lbs` bytes, stamped
/// with `stamp(.., 1)`; `None` (skipped, with the reason) without root or
/// losetup.
fn loop_device(name: &str, sectors: u64, lbs: u32) -> Option<(Loop, Vec<u8>)> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: loop devices need root");
        return None;
    }
    let (img, data) = stamped_file(name, sectors);
    let out = std::process::Command::new("losetup")
        .args(["--find", "--show", "--sector-size", &lbs.to_string()])
        .arg(&img)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let dev = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Some((Loop(dev, img), data))
        }
        other => {
            eprintln!("skipped: losetup failed: {other:?}");
            let _ = std::fs::remove_file(img);
            None
        }
    }
}

#[test]
fn test_direct_block_device_aligns_to_its_logical_block_size() {
    for lbs in [512u32, 4096] {
        let Some((lo, mut model)) = loop_device(&format!("loop{lbs}"), 2048, lbs) else { return };
        let dev = FileDevice::open_direct(&lo.0, false).unwrap();
        assert!(dev.rdev().is_some() && dev.is_direct());
        // One sector inside a logical block (read-modify-write at 4096),
        // and a run across blocks, from unaligned buffers.
        for (at, sectors, seed) in [(3u64, 1u64, 50u8), (13, 21, 51)] {
            let data = stamp((sectors * 512) as usize, seed);
            let mut v = Vec::new();
            let buf = misaligned(&mut v, data.len());
            buf.copy_from_slice(&data);
            dev.write(Sectors(at), buf).unwrap();
            model[(at * 512) as usize..((at + sectors) * 512) as usize].copy_from_slice(&data);
        }
        dev.write_zeroes(Sectors(40), Sectors(20)).unwrap();
        model[40 * 512..60 * 512].fill(0);
        let mut back = vec![0u8; model.len()];
        dev.read(Sectors(0), &mut back).unwrap();
        assert!(back == model, "lbs {lbs}");
        dev.flush().unwrap();
        let other = FileDevice::open_direct(&lo.0, true).unwrap();
        other.read(Sectors(0), &mut back).unwrap();
        assert!(back == model, "lbs {lbs}: another direct reader");
    }
}
