use super::*;

#[test]
fn test_disk_image_golden_bytes() {
    // 70 regions: a bitset of two 64-bit words (16 bytes), image rounded up
    // to a 512-byte logical block: 1024 + 16 -> 1536.
    assert_eq!(bitset_len(70), 16);
    assert_eq!(disk_image_len(70, 512), 1536);
    assert_eq!(disk_image_len(70, 4096), 4096);
    let mut l = DirtyLog::disk(70, LogSync::NoSync, disk_image_len(70, 512));
    let (how, img) = l.resume_disk(Some(&vec![0u8; 1536]));
    assert_eq!(how, Resumed::Fresh);
    assert_eq!(img.len(), 1536);
    // magic "MiRr" little-endian
    assert_eq!(&img[0..4], &[0x72, 0x52, 0x69, 0x4d]);
    // version 2
    assert_eq!(&img[4..8], &[2, 0, 0, 0]);
    // nr_regions = 70
    assert_eq!(&img[8..16], &[70, 0, 0, 0, 0, 0, 0, 0]);
    // nothing else before the bitset
    assert!(img[16..1024].iter().all(|b| *b == 0));
    // regions 0..63 clean, 64..69 clean (bits 0-5 of byte 8), 70..127 padding zero
    assert!(img[1024..1032].iter().all(|b| *b == 0xff));
    assert_eq!(img[1032], 0b0011_1111);
    assert!(img[1033..].iter().all(|b| *b == 0));
    assert_eq!(l.sync_count(), 70);

    // A write to region 9 clears bit 1 of byte 1; the flush says "dirtied".
    l.mark_region(9);
    let f = l.take_flush().unwrap();
    assert!(f.dirtied && !f.cleaned);
    assert_eq!(f.image[1025], 0b1111_1101);
    assert_eq!(l.take_flush(), None);
    l.clear_region(9);
    let f = l.take_flush().unwrap();
    assert!(f.cleaned && !f.dirtied);
    assert_eq!(f.image[1025], 0xff);
}

fn image(magic: u32, version: u32, nr: u64, bits: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 1536];
    b[0..4].copy_from_slice(&magic.to_le_bytes());
    b[4..8].copy_from_slice(&version.to_le_bytes());
    b[8..16].copy_from_slice(&nr.to_le_bytes());
    b[1024..1024 + bits.len()].copy_from_slice(bits);
    b
}

#[test]
fn test_disk_resume_keeps_bits_the_header_covers_and_clears_new_ones() {
    // The device grew from 8 to 70 regions: regions 0..8 as stored (0 and 2
    // clean), the rest out of sync.
    let mut l = DirtyLog::disk(70, LogSync::Default, 1536);
    let (how, img) = l.resume_disk(Some(&image(MIRROR_MAGIC, 2, 8, &[0b0000_0101, 0xff, 0xff])));
    assert_eq!(how, Resumed::Kept);
    assert_eq!(l.sync_count(), 2);
    assert!(l.in_sync(0) && !l.in_sync(1) && l.in_sync(2) && !l.in_sync(8));
    assert_eq!(&img[8..16], &70u64.to_le_bytes());
    assert_eq!(&img[1024..1027], &[0b0000_0101, 0, 0]);
    // Resync picks the out-of-sync regions in order, each once.
    assert_eq!(l.get_resync_work(), Some(1));
    assert_eq!(l.get_resync_work(), Some(3));
    l.set_region_sync(1, true);
    assert_eq!(l.sync_count(), 3);
}

#[test]
fn test_disk_resume_lvm_initial_header_takes_bits_as_they_are() {
    // LVM's new _mlog: nr_regions = u64::MAX, bits all set for --nosync.
    let mut l = DirtyLog::disk(70, LogSync::Default, 1536);
    let (how, img) = l.resume_disk(Some(&image(MIRROR_MAGIC, 2, u64::MAX, &[0xff; 16])));
    assert_eq!(how, Resumed::Kept);
    assert_eq!(l.sync_count(), 70, "padding bits beyond region 70 are cleared");
    assert_eq!(img[1032], 0b0011_1111);
    let mut l = DirtyLog::disk(70, LogSync::Default, 1536);
    l.resume_disk(Some(&image(MIRROR_MAGIC, 2, u64::MAX, &[0; 16])));
    assert_eq!(l.sync_count(), 0);
}

#[test]
fn test_disk_resume_fresh_on_bad_magic_or_sync_argument_failed_on_bad_version() {
    let stored = image(MIRROR_MAGIC, 2, 70, &[0xff; 16]);
    let mut l = DirtyLog::disk(70, LogSync::Sync, 1536);
    assert_eq!(l.resume_disk(Some(&stored)).0, Resumed::Fresh);
    assert_eq!(l.sync_count(), 0);
    let mut l = DirtyLog::disk(70, LogSync::Default, 1536);
    assert_eq!(l.resume_disk(Some(&image(0x1234, 2, 70, &[0xff; 16]))).0, Resumed::Fresh);
    assert_eq!(l.sync_count(), 0);
    let mut l = DirtyLog::disk(70, LogSync::Default, 1536);
    assert_eq!(l.resume_disk(Some(&image(MIRROR_MAGIC, 1, 70, &[0xff; 16]))).0, Resumed::Kept);
    assert_eq!(l.sync_count(), 70);
    let mut l = DirtyLog::disk(70, LogSync::Default, 1536);
    assert_eq!(l.resume_disk(Some(&image(MIRROR_MAGIC, 3, 70, &[0xff; 16]))).0, Resumed::Failed);
    assert_eq!(l.sync_count(), 0);
    let mut l = DirtyLog::disk(70, LogSync::NoSync, 1536);
    assert_eq!(l.resume_disk(None).0, Resumed::Failed);
    assert_eq!(l.sync_count(), 70);
}

#[test]
fn test_core_log_starts_per_sync_argument() {
    assert_eq!(DirtyLog::core(70, LogSync::Default).sync_count(), 0);
    assert_eq!(DirtyLog::core(70, LogSync::Sync).sync_count(), 0);
    let mut l = DirtyLog::core(70, LogSync::NoSync);
    assert_eq!(l.sync_count(), 70);
    assert_eq!(l.get_resync_work(), None);
    assert_eq!(l.take_flush(), None, "a core log never writes");
}
