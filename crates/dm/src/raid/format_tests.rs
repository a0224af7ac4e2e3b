use super::*;

/// A superblock as the kernel lays it out (dm-raid.c `struct
/// dm_raid_superblock`), built field by field at its documented offset.
fn golden_sb() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[0..4].copy_from_slice(&0x6452_6d44u32.to_le_bytes()); // 0 magic "DmRd"
    b[4..8].copy_from_slice(&1u32.to_le_bytes()); // 4 compat_features: V190
    b[8..12].copy_from_slice(&3u32.to_le_bytes()); // 8 num_devices
    b[12..16].copy_from_slice(&2u32.to_le_bytes()); // 12 array_position
    b[16..24].copy_from_slice(&41u64.to_le_bytes()); // 16 events
    b[24..32].copy_from_slice(&0b10u64.to_le_bytes()); // 24 failed_devices: slot 1
    b[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // 32 disk_recovery_offset: in sync
    b[40..48].copy_from_slice(&2048u64.to_le_bytes()); // 40 array_resync_offset
    b[48..52].copy_from_slice(&1u32.to_le_bytes()); // 48 level
    b[52..56].copy_from_slice(&0u32.to_le_bytes()); // 52 layout
    b[56..60].copy_from_slice(&0u32.to_le_bytes()); // 56 stripe_sectors
    b[60..64].copy_from_slice(&0u32.to_le_bytes()); // 60 flags
    b[64..72].copy_from_slice(&u64::MAX.to_le_bytes()); // 64 reshape_position: none
    b[72..76].copy_from_slice(&1u32.to_le_bytes()); // 72 new_level
    b[76..80].copy_from_slice(&0u32.to_le_bytes()); // 76 new_layout
    b[80..84].copy_from_slice(&0u32.to_le_bytes()); // 80 new_stripe_sectors
    b[84..88].copy_from_slice(&0u32.to_le_bytes()); // 84 delta_disks
    b[88..96].copy_from_slice(&8192u64.to_le_bytes()); // 88 array_sectors
    b[96..104].copy_from_slice(&0u64.to_le_bytes()); // 96 data_offset
    b[104..112].copy_from_slice(&0u64.to_le_bytes()); // 104 new_data_offset
    b[112..120].copy_from_slice(&8192u64.to_le_bytes()); // 112 sectors
    b[128..136].copy_from_slice(&1u64.to_le_bytes()); // 120 extended_failed_devices[1]: slot 128
    b[144..148].copy_from_slice(&0u32.to_le_bytes()); // 144 incompat_features
    b
}

#[test]
fn test_superblock_golden_decodes_and_reencodes_byte_exact() {
    let img = golden_sb();
    let SbState::Valid(sb) = Superblock::decode(&img).unwrap() else { panic!("new") };
    assert_eq!(sb.num_devices, 3);
    assert_eq!(sb.array_position, 2);
    assert_eq!(sb.events, 41);
    assert!(sb.is_failed(1) && !sb.is_failed(0) && sb.is_failed(128) && !sb.is_failed(2));
    assert_eq!(sb.disk_recovery_offset, None);
    assert_eq!(sb.array_resync_offset, Some(Sectors(2048)));
    assert_eq!(sb.reshape_position, None);
    assert_eq!((sb.level, sb.new_level), (1, 1));
    assert_eq!((sb.array_sectors, sb.sectors), (Sectors(8192), Sectors(8192)));
    assert_eq!(sb.encode(512), img);
    let mut fresh = Superblock::raid1(3, 2, Sectors(8192));
    fresh.events = 41;
    fresh.set_failed(1, true);
    fresh.set_failed(128, true);
    fresh.array_resync_offset = Some(Sectors(2048));
    assert_eq!(fresh.encode(512), img, "raid1() fills the fields as super_sync does");
}

#[test]
fn test_superblock_zeroed_is_new_and_bad_features_are_refused() {
    assert_eq!(Superblock::decode(&[0u8; 512]).unwrap(), SbState::New);
    let mut img = golden_sb();
    img[4] = 3;
    assert!(Superblock::decode(&img).unwrap_err().0.contains("Unknown flag(s) in compatible feature flags"));
    let mut img = golden_sb();
    img[144] = 1;
    assert!(Superblock::decode(&img).unwrap_err().0.contains("No incompatible feature flags"));
    assert!(Superblock::decode(&img[..100]).is_err());
}

#[test]
fn test_superblock_without_v190_ignores_extended_failed_devices() {
    let mut img = golden_sb();
    img[4] = 0;
    let SbState::Valid(sb) = Superblock::decode(&img).unwrap() else { panic!("new") };
    assert!(sb.is_failed(1) && !sb.is_failed(128));
}

/// A bitmap superblock as md lays it out (md-bitmap.h `bitmap_super_t`)
/// followed by bits.
fn golden_bitmap() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[0..4].copy_from_slice(b"bitm"); // 0 magic
    b[4..8].copy_from_slice(&4u32.to_le_bytes()); // 4 version
                                                  // 8 uuid: zero for dm-raid
    b[24..32].copy_from_slice(&41u64.to_le_bytes()); // 24 events
    b[32..40].copy_from_slice(&40u64.to_le_bytes()); // 32 events_cleared
    b[40..48].copy_from_slice(&8192u64.to_le_bytes()); // 40 sync_size (sectors)
    b[48..52].copy_from_slice(&0u32.to_le_bytes()); // 48 state
    b[52..56].copy_from_slice(&(512u32 * 1024).to_le_bytes()); // 52 chunksize (bytes)
    b[56..60].copy_from_slice(&5u32.to_le_bytes()); // 56 daemon_sleep (s)
    b[60..64].copy_from_slice(&0u32.to_le_bytes()); // 60 write_behind
    b[64..68].copy_from_slice(&0u32.to_le_bytes()); // 64 sectors_reserved
    b[68..72].copy_from_slice(&0u32.to_le_bytes()); // 68 nodes
                                                    // 72 cluster_name, 136 pad
    b[256] = 0b1000_0001; // regions 0 and 7
    b[257] = 0b0000_0010; // region 9
    b
}

#[test]
fn test_bitmap_golden_decodes_and_reencodes_byte_exact() {
    let img = golden_bitmap();
    let (sb, bits) = decode_bitmap(&img).unwrap();
    assert_eq!(sb.region_size(), Sectors(1024));
    assert_eq!(bits.regions(), 8);
    assert_eq!(sb.events_cleared, 40);
    assert_eq!(bits.iter_set().collect::<Vec<_>>(), vec![0, 7], "region 9 is past the 8 regions");
    let mut want = img.clone();
    want[257..].fill(0xff); // md's padding: every bit past the last region set
    assert_eq!(encode_bitmap(&sb, &bits), want);
    let mut fresh = BitmapSuper::new(Sectors(1024), Sectors(8192), 5);
    fresh.events = 41;
    fresh.events_cleared = 40;
    assert_eq!(fresh.encode()[..], want[..256]);
}

#[test]
fn test_bitmap_superblock_checks_are_mds() {
    let cases: [(usize, u32, &str); 6] = [
        (0, 0, "bad magic"),
        (4, 6, "unrecognized superblock version"),
        (52, 256, "chunksize too small"),
        (52, 3 << 10, "not a power of 2"),
        (56, 0, "daemon sleep period out of range"),
        (60, 16384, "write-behind limit out of range"),
    ];
    for (off, v, why) in cases {
        let mut img = golden_bitmap();
        img[off..off + 4].copy_from_slice(&v.to_le_bytes());
        let e = BitmapSuper::decode(&img).unwrap_err();
        assert!(e.0.contains(why), "{off}: {e}");
    }
    let mut img = golden_bitmap();
    img[4..8].copy_from_slice(&3u32.to_le_bytes());
    assert!(BitmapSuper::decode(&img).is_ok(), "version 3 (host-endian) is read");
}

#[test]
fn test_bits_layout_and_sizes() {
    let mut bits = Bits::new(20);
    bits.set(0, true);
    bits.set(9, true);
    bits.set(19, true);
    bits.set(20, true);
    assert_eq!(bits.as_bytes(), &[0b1, 0b10, 0b1000]);
    assert_eq!(bits.count(), 3);
    bits.set_all();
    assert_eq!(bits.as_bytes(), &[0xff, 0xff, 0x0f]);
    assert_eq!(bitmap_area_len(8), 512);
    assert_eq!(bitmap_area_len(8 * 257), 1024);
    assert_eq!(meta_dev_min(1 << 21), Bytes(4096 + 256 + (1 << 18) + 256));
}

/// fuzz/raid_meta found it: encoding cleared reshape flags that had no
/// reshape position, so a decoded superblock did not re-encode to itself.
#[test]
fn test_superblock_reencodes_flags_as_read() {
    let mut img = golden_sb();
    img[60..64].copy_from_slice(&u32::MAX.to_le_bytes());
    let SbState::Valid(sb) = Superblock::decode(&img).unwrap() else { panic!("new") };
    assert_eq!(sb.encode(512), img);
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Written by the Debian 6.1 kernel (dm-raid 1.15.1) in the oracle:
/// `dmsetup create r --table "0 16384 raid raid1 3 0 region_size 1024 2
/// /dev/vda /dev/vdb /dev/vdc /dev/vdd"` on zeroed 1 MiB metadata and 8 MiB
/// data devices, a 400 KiB write, the resync, `check`, suspend/resume,
/// `dmsetup remove`; then `xxd -p` of /dev/vda's first 148 bytes (the rest
/// of the block is zero) and of 260 bytes at 4096.
const KERNEL_SB_SLOT0: &str = "446d526401000000020000000000000016000000000000000000000000000000ffffffffffffffffffffffffffffffff01000000000000000000000000000000ffffffffffffffff01000000000000000000000000000000004000000000000000000000000000000000000000000000004000000000000000000000000000000000000000000000000000000000000000000000";
const KERNEL_BITMAP: &str = "6269746d0400000000000000000000000000000000000000160000000000000012000000000000000040000000000000000000000000080005000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ffff";

#[test]
fn test_kernel_written_metadata_decodes_and_ulvm_writes_the_same_bytes() {
    let mut sb_img = unhex(KERNEL_SB_SLOT0);
    sb_img.resize(512, 0);
    let SbState::Valid(sb) = Superblock::decode(&sb_img).unwrap() else { panic!("new") };
    let mut ours = Superblock::raid1(2, 0, Sectors(16384));
    ours.events = 22;
    assert_eq!(sb, ours);
    assert_eq!(ours.encode(512), sb_img, "ulvm's superblock for the same state is the kernel's, byte for byte");

    let mut bm = unhex(KERNEL_BITMAP);
    bm.resize(512, 0xff); // md fills the rest of the page after the bits
    let (bsb, bits) = decode_bitmap(&bm).unwrap();
    assert_eq!((bits.regions(), bits.count()), (16, 0), "the 0xff past the 16 regions' bits is ignored");
    let mut ours = BitmapSuper::new(Sectors(1024), Sectors(16384), 5);
    ours.events = 22;
    ours.events_cleared = 18;
    assert_eq!(bsb, ours);
    assert_eq!(ours.encode()[..], bm[..BITMAP_SB_SIZE]);
}
