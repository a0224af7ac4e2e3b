//! ulvm's vhost-user-blk export driven by a client we did not write:
//! libblkio's `virtio-blk-vhost-user` driver (the `blkio` crate). The
//! harness itself is checked against qemu-storage-daemon's export first.

mod common;

use common::client::Client;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use ulvm_blockdev::{BlockDevice, DeviceRef, MemDevice, Result as BdResult, Sectors};
use ulvm_testkit::{stamped, CountingDevice};
use ulvm_vhost::{BlkOptions, Export, Exports, VhostServer};

const MIB: u64 = 1 << 20;

/// A test's scratch directory, removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("ulvm-vhost-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// One device served, counting the opens that are held.
struct One {
    dev: DeviceRef,
    read_only: bool,
    opens: Arc<AtomicUsize>,
}

struct Hold(Arc<AtomicUsize>);
impl Drop for Hold {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Exports for One {
    fn open(&self, _name: &str) -> Option<Export> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        Some(Export {
            dev: self.dev.clone(),
            read_only: self.read_only,
            serial: "ulvm-test".into(),
            hold: Some(Box::new(Hold(self.opens.clone()))),
        })
    }
}

fn serve(dir: &Path, dev: DeviceRef, read_only: bool, queues: u16) -> (VhostServer, PathBuf, Arc<AtomicUsize>) {
    serve_with(dir, dev, read_only, BlkOptions { num_queues: queues, ..Default::default() })
}

fn serve_with(
    dir: &Path,
    dev: DeviceRef,
    read_only: bool,
    opts: BlkOptions,
) -> (VhostServer, PathBuf, Arc<AtomicUsize>) {
    let sock = dir.join("blk.sock");
    let opens = Arc::new(AtomicUsize::new(0));
    let exports = Arc::new(One { dev, read_only, opens: opens.clone() });
    let s = VhostServer::start(&sock, 0o600, "test", exports, opts).unwrap();
    (s, sock, opens)
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn test_vhost_write_then_read_returns_the_data_and_the_device_has_it() {
    let dir = scratch("rw");
    let mem = Arc::new(MemDevice::new("m", Sectors(32 * MIB / 512)));
    let (_s, sock, _) = serve(&dir, mem.clone(), false, 1);
    let mut c = Client::connect(&sock, 1, false, 4 << 20).unwrap();
    assert_eq!(c.capacity, 32 * MIB);
    for (i, (off, len)) in
        [(0u64, 512usize), (4096, 4096), (MIB + 512, 64 << 10), (5 * MIB, 1 << 20), (31 * MIB, 1 << 20)]
            .into_iter()
            .enumerate()
    {
        let data = stamped(len, 7, i as u64);
        c.write(0, off, &data).unwrap();
        // Acknowledged means the device has it.
        let mut on_dev = vec![0u8; len];
        mem.read(Sectors(off / 512), &mut on_dev).unwrap();
        assert!(on_dev == data, "device contents at {off} differ after an acknowledged write");
        assert!(c.read(0, off, len).unwrap() == data, "read back at {off} differs");
    }
    // A read past the end fails.
    assert!(c.read(0, 32 * MIB, 4096).is_err());
}

#[test]
fn test_vhost_with_polling_serves_every_request() {
    let dir = scratch("poll");
    let mem = Arc::new(MemDevice::new("m", Sectors(8 * MIB / 512)));
    let opts = BlkOptions { num_queues: 1, poll: Duration::from_micros(200) };
    let (_s, sock, _) = serve_with(&dir, mem.clone(), false, opts);
    let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
    for i in 0..200u64 {
        let data = stamped(4096, 21, i);
        c.write(0, i * 4096, &data).unwrap();
        assert!(c.read(0, i * 4096, 4096).unwrap() == data, "block {i}");
    }
}

#[test]
fn test_vhost_flush_calls_the_device_flush() {
    let dir = scratch("flush");
    let counting = Arc::new(CountingDevice::new(Arc::new(MemDevice::new("m", Sectors(2048)))));
    let (_s, sock, _) = serve(&dir, counting.clone(), false, 1);
    let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
    c.write(0, 0, &stamped(4096, 1, 1)).unwrap();
    assert_eq!(counting.totals()[4], 0, "no flush before one is asked for");
    c.flush(0).unwrap();
    assert_eq!(counting.totals()[4], 1, "FLUSH reached the device before it completed");
}

#[test]
fn test_vhost_discard_and_write_zeroes_zero_the_range() {
    let dir = scratch("zero");
    let mem = Arc::new(MemDevice::new("m", Sectors(8 * MIB / 512)));
    let (_s, sock, _) = serve(&dir, mem.clone(), false, 1);
    let mut c = Client::connect(&sock, 1, false, 2 << 20).unwrap();
    let data = stamped(1 << 20, 3, 0);
    c.write(0, 0, &data).unwrap();
    c.write(0, MIB, &data).unwrap();
    c.write(0, 2 * MIB, &data).unwrap();
    // MemDevice's discard zeroes, so the discard is visible.
    c.discard(0, 4096, 8192).unwrap();
    c.write_zeroes(0, MIB + 512, 4096, true).unwrap();
    c.write_zeroes(0, 2 * MIB, 65536, false).unwrap();
    let all = mem.snapshot_bytes();
    let zero = |r: std::ops::Range<u64>| all[r.start as usize..r.end as usize].iter().all(|&b| b == 0);
    assert!(zero(4096..12288), "discarded range is zero");
    assert!(all[..4096] == data[..4096] && all[12288..MIB as usize] == data[12288..], "discard stayed in its range");
    assert!(zero(MIB + 512..MIB + 4608), "write-zeroes with unmap");
    assert!(zero(2 * MIB..2 * MIB + 65536), "write-zeroes without unmap");
    assert!(all[(MIB + 4608) as usize..2 * MIB as usize] == data[4608..], "write-zeroes stayed in its range");
    // Out of range: refused.
    assert!(c.write_zeroes(0, 8 * MIB - 4096, 8192, true).is_err());
}

#[test]
fn test_vhost_read_only_device_is_offered_read_only() {
    let dir = scratch("ro");
    let bytes = stamped(MIB as usize, 9, 0);
    let mem = Arc::new(MemDevice::from_bytes("m", bytes.clone()));
    let (_s, sock, _) = serve(&dir, mem.clone(), true, 1);
    // libblkio refuses a read-write start on a device that offers RO.
    let e = Client::connect(&sock, 1, false, 1 << 20).err().expect("a read-write start must be refused");
    assert!(e.contains("read-only"), "{e}");
    let mut c = Client::connect(&sock, 1, true, 1 << 20).unwrap();
    assert!(c.read(0, 0, 4096).unwrap() == bytes[..4096]);
    assert!(c.write(0, 0, &[0u8; 4096]).is_err());
    assert!(mem.snapshot_bytes() == bytes);
}

/// A device whose writes wait while its gate is closed.
#[derive(Debug)]
struct Gated {
    inner: MemDevice,
    open: Mutex<bool>,
    cv: Condvar,
    waiting: AtomicUsize,
}

impl Gated {
    fn set(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.cv.notify_all();
    }
}

impl BlockDevice for Gated {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> BdResult<()> {
        self.inner.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> BdResult<()> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut g = self.open.lock().unwrap();
        while !*g {
            g = self.cv.wait(g).unwrap();
        }
        drop(g);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.inner.write(at, buf)
    }
    fn flush(&self) -> BdResult<()> {
        Ok(())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> BdResult<()> {
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> BdResult<()> {
        self.inner.write_zeroes(at, len)
    }
}

#[test]
fn test_vhost_two_queues_are_served_by_separate_workers() {
    let dir = scratch("mq");
    let gated = Arc::new(Gated {
        inner: MemDevice::new("m", Sectors(4096)),
        open: Mutex::new(true),
        cv: Condvar::new(),
        waiting: AtomicUsize::new(0),
    });
    let (_s, sock, _) = serve(&dir, gated.clone(), false, 2);
    let mut c = Client::connect(&sock, 2, false, 1 << 20).unwrap();
    assert_eq!(c.queues.len(), 2);
    let a = stamped(4096, 5, 0);
    c.write(1, 8192, &a).unwrap();
    // A write stuck on queue 0 does not stop queue 1.
    gated.set(false);
    // Opened again however the test ends, so the server can stop.
    struct Reopen(Arc<Gated>);
    impl Drop for Reopen {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let _reopen = Reopen(gated.clone());
    c.buf()[..4096].copy_from_slice(&stamped(4096, 6, 0));
    let p = c.region.addr as *const u8;
    c.queues[0].write(0, p, 4096, 0, blkio::ReqFlags::empty());
    let mut none: [std::mem::MaybeUninit<blkio::Completion>; 1] = [std::mem::MaybeUninit::uninit()];
    let _ = c.queues[0].do_io(&mut none, 0, None, None).unwrap(); // submit
    wait_until("queue 0's write reached the device", || gated.waiting.load(Ordering::SeqCst) == 1);
    let got = {
        let q1 = &mut c.queues[1];
        let bp = c.region.addr + 65536;
        q1.read(8192, bp as *mut u8, 4096, 1, blkio::ReqFlags::empty());
        let mut done: [std::mem::MaybeUninit<blkio::Completion>; 1] = [std::mem::MaybeUninit::uninit()];
        // Poll without blocking: a read that never completes fails the test.
        let t = Instant::now();
        while q1.do_io(&mut done, 0, None, None).unwrap() == 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "queue 1's read waits for queue 0's write");
            std::thread::sleep(Duration::from_millis(1));
        }
        c.buf()[65536..65536 + 4096].to_vec()
    };
    assert!(got == a);
    gated.set(true);
    c.wait(0, 1).unwrap();
    assert!(c.read(1, 0, 4096).unwrap() == stamped(4096, 6, 0));
}

#[test]
fn test_vhost_open_is_held_while_connected_and_released_at_disconnect() {
    let dir = scratch("open");
    let mem = Arc::new(MemDevice::new("m", Sectors(2048)));
    let (s, sock, opens) = serve(&dir, mem, false, 1);
    assert_eq!(opens.load(Ordering::SeqCst), 0);
    for round in 0..2 {
        let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
        c.write(0, 0, &stamped(4096, round, 0)).unwrap();
        assert_eq!(opens.load(Ordering::SeqCst), 1, "connected: one open (round {round})");
        assert!(s.connected());
        drop(c);
        let t = Instant::now();
        wait_until("the open is released", || opens.load(Ordering::SeqCst) == 0);
        assert!(t.elapsed() < Duration::from_millis(500), "released in {:?}", t.elapsed());
    }
    // And the socket still takes the next frontend.
    let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
    assert!(c.read(0, 0, 4096).unwrap() == stamped(4096, 1, 0));
}

#[test]
fn test_vhost_shutdown_cuts_the_frontend_and_removes_the_socket() {
    let dir = scratch("stop");
    let mem = Arc::new(MemDevice::new("m", Sectors(2048)));
    let (mut s, sock, opens) = serve(&dir, mem, false, 1);
    let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
    c.write(0, 0, &stamped(512, 1, 0)).unwrap();
    s.shutdown();
    assert_eq!(opens.load(Ordering::SeqCst), 0);
    assert!(!sock.exists());
}

/// The harness against the reference server: if this fails, the client
/// code is wrong, not ulvm.
#[test]
fn test_harness_against_qemu_storage_daemon() {
    let Some(qsd) = common::qsd::QsdExport::start("harness", 8 * MIB, 1) else {
        common::skip("qemu-storage-daemon is not installed");
        return;
    };
    let mut c = Client::connect(&qsd.sock, 1, false, 2 << 20).unwrap();
    assert_eq!(c.capacity, 8 * MIB);
    let data = stamped(1 << 20, 11, 0);
    c.write(0, MIB, &data).unwrap();
    c.flush(0).unwrap();
    assert!(c.read(0, MIB, 1 << 20).unwrap() == data);
    c.write_zeroes(0, MIB, 4096, true).unwrap();
    assert!(c.read(0, MIB, 4096).unwrap().iter().all(|&b| b == 0));
    c.discard(0, MIB + 65536, 65536).unwrap();
    drop(c);
    let on_disk = std::fs::read(&qsd.image).unwrap();
    assert!(on_disk[(MIB + 4096) as usize..(MIB + 65536) as usize] == data[4096..65536]);
}
