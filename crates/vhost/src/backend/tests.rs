//! Requests laid out by hand in guest memory, served without a frontend:
//! what a well-behaved client library never sends.

use super::*;
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, MemDevice};
use virtio_bindings::virtio_blk as vb;

const STATUS: u64 = 0x8000;
const HDR: u64 = 0x1000;
const DATA: u64 = 0x2000;

fn setup(read_only: bool) -> (BlkBackend, Arc<MemDevice>, Worker) {
    let dev = Arc::new(MemDevice::from_bytes("m", (0..64 * 1024u32).map(|i| (i % 251) as u8).collect()));
    let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
    let b =
        BlkBackend::new(dev.clone(), read_only, "serial-x".into(), BlkOptions::default(), GuestMemoryAtomic::new(gm));
    (b, dev, Worker::default())
}

fn header(b: &BlkBackend, t: u32, sector: u64) {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&t.to_le_bytes());
    h[8..].copy_from_slice(&sector.to_le_bytes());
    b.mem.memory().write_slice(&h, GuestAddress(HDR)).unwrap();
}

fn d(addr: u64, len: u32, write: bool) -> Desc {
    Desc { addr: GuestAddress(addr), len, write }
}

fn run(b: &BlkBackend, w: &mut Worker, descs: &[Desc]) -> (u32, u8) {
    w.descs = descs.to_vec();
    let mem = b.mem.memory();
    let used = b.serve(w, &mem);
    (used, mem.read_obj::<u8>(GuestAddress(STATUS)).unwrap())
}

#[test]
fn test_write_to_read_only_device_fails_with_ioerr_and_changes_nothing() {
    let (b, dev, mut w) = setup(true);
    let before = dev.snapshot_bytes();
    b.mem.memory().write_slice(&[0xaa; 4096], GuestAddress(DATA)).unwrap();
    for (t, body) in
        [(vb::VIRTIO_BLK_T_OUT, 4096u32), (vb::VIRTIO_BLK_T_WRITE_ZEROES, 16), (vb::VIRTIO_BLK_T_DISCARD, 16)]
    {
        header(&b, t, 0);
        if body == 16 {
            let mut seg = [0u8; 16];
            seg[8..12].copy_from_slice(&8u32.to_le_bytes());
            b.mem.memory().write_slice(&seg, GuestAddress(DATA)).unwrap();
        }
        let (used, status) = run(&b, &mut w, &[d(HDR, 16, false), d(DATA, body, false), d(STATUS, 1, true)]);
        assert_eq!((used, status), (1, Status::IoErr as u8), "request type {t}");
    }
    assert!(dev.snapshot_bytes() == before);
    // Reads and flushes still work.
    header(&b, vb::VIRTIO_BLK_T_IN, 0);
    assert_eq!(run(&b, &mut w, &[d(HDR, 16, false), d(DATA, 512, true), d(STATUS, 1, true)]), (513, 0));
}

#[test]
fn test_unknown_type_and_bad_flags_are_unsupp() {
    let (b, _dev, mut w) = setup(false);
    header(&b, 99, 0);
    assert_eq!(run(&b, &mut w, &[d(HDR, 16, false), d(STATUS, 1, true)]).1, Status::Unsupp as u8);
    // Discard with the unmap flag (reserved for discards).
    header(&b, vb::VIRTIO_BLK_T_DISCARD, 0);
    let mut seg = [0u8; 16];
    seg[8..12].copy_from_slice(&8u32.to_le_bytes());
    seg[12..].copy_from_slice(&request::FLAG_UNMAP.to_le_bytes());
    b.mem.memory().write_slice(&seg, GuestAddress(DATA)).unwrap();
    assert_eq!(run(&b, &mut w, &[d(HDR, 16, false), d(DATA, 16, false), d(STATUS, 1, true)]).1, Status::Unsupp as u8);
}

#[test]
fn test_header_data_and_status_in_one_odd_layout_are_served() {
    // Header and data in one readable descriptor, data split at odd
    // lengths; a read's data and status byte in one writable descriptor.
    let (b, dev, mut w) = setup(false);
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 256) as u8).collect();
    let mem = b.mem.memory();
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&vb::VIRTIO_BLK_T_OUT.to_le_bytes());
    h[8..].copy_from_slice(&3u64.to_le_bytes());
    mem.write_slice(&h, GuestAddress(HDR)).unwrap();
    mem.write_slice(&data[..100], GuestAddress(HDR + 16)).unwrap();
    mem.write_slice(&data[100..], GuestAddress(DATA)).unwrap();
    let (used, status) = run(&b, &mut w, &[d(HDR, 116, false), d(DATA, 924, false), d(STATUS, 1, true)]);
    assert_eq!((used, status), (1, 0));
    let mut on_dev = vec![0u8; 1024];
    dev.read(Sectors(3), &mut on_dev).unwrap();
    assert!(on_dev == data);
    // Read it back: 300 bytes, then 724 + the status byte in one descriptor.
    header(&b, vb::VIRTIO_BLK_T_IN, 3);
    w.descs = vec![d(HDR, 16, false), d(DATA, 300, true), d(0x9000, 725, true)];
    let used = b.serve(&mut w, &mem);
    assert_eq!(used, 1025);
    let mut back = vec![0u8; 1024];
    mem.read_slice(&mut back[..300], GuestAddress(DATA)).unwrap();
    mem.read_slice(&mut back[300..], GuestAddress(0x9000)).unwrap();
    assert!(back == data);
    assert_eq!(mem.read_obj::<u8>(GuestAddress(0x9000 + 724)).unwrap(), 0);
}

#[test]
fn test_get_id_and_out_of_range_read() {
    let (b, _dev, mut w) = setup(false);
    header(&b, vb::VIRTIO_BLK_T_GET_ID, 0);
    assert_eq!(run(&b, &mut w, &[d(HDR, 16, false), d(DATA, 20, true), d(STATUS, 1, true)]), (21, 0));
    let mut id = [0u8; 20];
    b.mem.memory().read_slice(&mut id, GuestAddress(DATA)).unwrap();
    assert_eq!(&id[..9], b"serial-x\0");
    header(&b, vb::VIRTIO_BLK_T_IN, 127);
    assert_eq!(run(&b, &mut w, &[d(HDR, 16, false), d(DATA, 1024, true), d(STATUS, 1, true)]).1, Status::IoErr as u8);
}

#[test]
fn test_many_small_pieces_share_device_calls() {
    // 64 pieces of 512 bytes, not adjacent: one bounce window, one call.
    let counting = Arc::new(ulvm_testkit::CountingDevice::new(Arc::new(MemDevice::new("m", Sectors(1024)))));
    let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
    let b = BlkBackend::new(counting.clone(), false, "s".into(), BlkOptions::default(), GuestMemoryAtomic::new(gm));
    let mut w = Worker::default();
    header(&b, vb::VIRTIO_BLK_T_IN, 0);
    let mut descs = vec![d(HDR, 16, false)];
    descs.extend((0..64).map(|i| d(0x10000 + i * 1024, 512, true)));
    descs.push(d(STATUS, 1, true));
    assert_eq!(run(&b, &mut w, &descs), (64 * 512 + 1, 0));
    assert_eq!(counting.totals()[0], 1, "one device read for 64 small pieces");
}
