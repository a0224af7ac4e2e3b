//! The daemon under load and under `kill -9`.

mod common;
use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

const BLOCK: usize = 4096;

fn stamp_file(path: &std::path::Path, seed: u64) -> Vec<u8> {
    let len = std::fs::metadata(path).unwrap().len() as usize;
    let data: Vec<u8> = (0..len / BLOCK).flat_map(|b| stamped(BLOCK, seed, b as u64)).collect();
    std::fs::write(path, &data).unwrap();
    data
}

fn create_stack(d: &Daemon, o: &str, c1: &str, c2: Option<&str>, sectors: u64) {
    d.ok(&["create", "base", "--table", &format!("0 {sectors} snapshot-origin {o}")]);
    d.ok(&["create", "snap", "--table", &format!("0 {sectors} snapshot {o} {c1} P 16")]);
    if let Some(c2) = c2 {
        d.ok(&["create", "snap2", "--table", &format!("0 {sectors} snapshot {o} {c2} P 8")]);
    }
}

/// `kill -9` during a write load: after a restart, every write that was
/// acknowledged with FUA or followed by an acknowledged FLUSH is there, and
/// the snapshot is exactly its point in time.
#[test]
fn test_kill_9_keeps_acknowledged_writes_and_snapshot() {
    let dir = TestDir::new("crash");
    let origin = dir.image("origin.img", 32);
    let cow = dir.image("cow.img", 40);
    let initial = stamp_file(&origin, 0xc0ffee);
    let (o, c) = (origin.display().to_string(), cow.display().to_string());
    let d = Daemon::start(&dir.path("run"), &[]);
    create_stack(&d, &o, &c, None, 65536);

    let acked: Arc<Mutex<HashMap<u64, u64>>> = Arc::default(); // block -> seed
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..4u64 {
        let (acked, stop, sock) = (acked.clone(), stop.clone(), d.nbd_socket());
        writers.push(std::thread::spawn(move || {
            let client = NbdClient::connect_unix(&sock, "base").unwrap();
            let mut pending = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let block = (t + 4 * i) % 8192;
                let seed = 1000 + t * 1_000_000 + i;
                let fua = i.is_multiple_of(2);
                if client.write_at(block * BLOCK as u64, &stamped(BLOCK, seed, block), fua).is_err() {
                    return;
                }
                if fua {
                    acked.lock().unwrap().insert(block, seed);
                } else {
                    pending.push((block, seed));
                    if pending.len() == 8 {
                        if ulvm_blockdev::BlockDevice::flush(&client).is_err() {
                            return;
                        }
                        acked.lock().unwrap().extend(pending.drain(..));
                    }
                }
                i += 1;
                if i >= 2048 {
                    return; // every block written once: no ambiguity
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(400));
    d.crash();
    stop.store(true, Ordering::SeqCst);
    writers.into_iter().for_each(|w| w.join().unwrap());
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} writes were acknowledged before the crash", acked.len());

    let d = Daemon::start(&dir.path("run"), &[]);
    create_stack(&d, &o, &c, None, 65536);
    let base = NbdClient::connect_unix(&d.nbd_socket(), "base").unwrap();
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "snap").unwrap();
    for (&block, &seed) in &acked {
        let got = base.read_at(block * BLOCK as u64, BLOCK as u32).unwrap();
        assert!(got == stamped(BLOCK, seed, block), "acknowledged write to block {block} lost");
    }
    let view = snap.read_at(0, 32 << 20).unwrap();
    assert!(view == initial, "the snapshot differs from its point in time");
    assert!(!d.ok(&["status", "snap"]).contains("Invalid"));
}

/// 16 clients doing mixed I/O against an origin with two snapshots, then
/// every byte checked.
#[test]
fn test_sixteen_clients_mixed_io_lose_nothing() {
    let dir = TestDir::new("load");
    let origin = dir.image("origin.img", 64);
    let c1 = dir.image("cow1.img", 72);
    let c2 = dir.image("cow2.img", 72);
    let initial = stamp_file(&origin, 0x10ad);
    let d = Daemon::start(&dir.path("run"), &[]);
    create_stack(&d, &origin.display().to_string(), &c1.display().to_string(), Some(&c2.display().to_string()), 131072);
    const REGION: u64 = 4 << 20;
    const MIN_OPS: u64 = 100;
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut clients = Vec::new();
    for t in 0..16u64 {
        let (sock, initial) = (d.nbd_socket(), initial.clone());
        clients.push(std::thread::spawn(move || {
            let base = NbdClient::connect_unix(&sock, "base").unwrap();
            let snap = NbdClient::connect_unix(&sock, "snap").unwrap();
            let lo = t * REGION;
            let mut model = initial[lo as usize..(lo + REGION) as usize].to_vec();
            let mut snap_model = model.clone();
            let mut rng = t * 7919 + 1;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            // At least MIN_OPS each, however slow the machine: the check
            // covers a fixed amount of work, not a rate.
            let mut ops = 0u64;
            while ops < MIN_OPS || Instant::now() < deadline {
                let len = 512 * (1 + next() % 128);
                let off = (next() % (REGION - len)) / 512 * 512;
                let r = (off as usize)..(off + len) as usize;
                match next() % 10 {
                    0..=3 => {
                        let data: Vec<u8> = (0..len).map(|i| (i ^ ops ^ t) as u8).collect();
                        base.write_at(lo + off, &data, next() % 4 == 0).unwrap();
                        model[r].copy_from_slice(&data);
                    }
                    4 => {
                        let data = vec![(ops as u8) | 1; len as usize];
                        snap.write_at(lo + off, &data, false).unwrap();
                        snap_model[r].copy_from_slice(&data);
                    }
                    5 => {
                        ulvm_blockdev::BlockDevice::write_zeroes(
                            &base,
                            ulvm_blockdev::Sectors((lo + off) / 512),
                            ulvm_blockdev::Sectors(len / 512),
                        )
                        .unwrap();
                        model[r].fill(0);
                    }
                    6 => ulvm_blockdev::BlockDevice::flush(&base).unwrap(),
                    7 => assert!(
                        snap.read_at(lo + off, len as u32).unwrap() == snap_model[r],
                        "client {t}: snapshot read"
                    ),
                    _ => assert!(base.read_at(lo + off, len as u32).unwrap() == model[r], "client {t}: origin read"),
                }
                ops += 1;
            }
            (t, model, snap_model, ops)
        }));
    }
    let mut total = 0;
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let base = NbdClient::connect_unix(&d.nbd_socket(), "base").unwrap();
    let snap = NbdClient::connect_unix(&d.nbd_socket(), "snap").unwrap();
    let snap2 = NbdClient::connect_unix(&d.nbd_socket(), "snap2").unwrap();
    for (t, model, snap_model, ops) in results {
        total += ops;
        let lo = t * REGION;
        assert!(base.read_at(lo, REGION as u32).unwrap() == model, "origin region {t}");
        assert!(snap.read_at(lo, REGION as u32).unwrap() == snap_model, "snapshot region {t}");
        assert!(
            snap2.read_at(lo, REGION as u32).unwrap() == initial[lo as usize..(lo + REGION) as usize],
            "second snapshot region {t}"
        );
    }
    assert!(total >= 16 * MIN_OPS);
    let st = d.ok(&["status"]);
    assert!(!st.contains("Invalid"), "{st}");
    eprintln!("{total} operations from 16 clients; {st}");
}
