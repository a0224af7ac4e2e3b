//! ulvm's own FUSE transport: requests are read and answered by several
//! threads, each on its own clone of the `/dev/fuse` fd; a 1 MiB direct
//! write arrives as one request; and a lookup is answered even while every
//! other reader waits in device I/O (as it does while a device is
//! suspended). Skips with a reason without /dev/fuse, fusermount3 or fio;
//! CI has them.

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, MemDevice, Result, Sectors};
use ulvm_daemon::fuse::{FuseExport, READERS};
use ulvm_dm::{Registry, RegistryConfig};

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn skip(why: &str) -> bool {
    if std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
    }
    eprintln!("skipping: {why}");
    true
}

fn fuse_missing() -> bool {
    !Path::new("/dev/fuse").exists() && skip("/dev/fuse is missing")
        || !have("fusermount3") && skip("fusermount3 (Debian fuse3) is not installed")
}

/// A memory device whose reads can be held at a gate, counting the reads
/// waiting there and the largest write it was given.
#[derive(Debug)]
struct Gated {
    inner: MemDevice,
    /// (reads waiting, gate open, most reads waiting at once)
    state: Mutex<(u32, bool, u32)>,
    cond: Condvar,
    largest_write: AtomicU64,
}

impl Gated {
    fn new(sectors: u64, open: bool) -> Arc<Gated> {
        Arc::new(Gated {
            inner: MemDevice::new("mem", Sectors(sectors)),
            state: Mutex::new((0, open, 0)),
            cond: Condvar::new(),
            largest_write: AtomicU64::new(0),
        })
    }
    fn open_gate(&self) {
        self.state.lock().unwrap().1 = true;
        self.cond.notify_all();
    }
    /// Waits (up to 10 s) until `n` reads wait at the gate.
    fn wait_for_waiting(&self, n: u32) -> bool {
        let st = self.state.lock().unwrap();
        let (st, _) = self.cond.wait_timeout_while(st, Duration::from_secs(10), |s| s.0 < n).unwrap();
        st.0 >= n
    }
}

impl BlockDevice for Gated {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        st.2 = st.2.max(st.0);
        self.cond.notify_all();
        let mut st = self.cond.wait_while(st, |s| !s.1).unwrap();
        st.0 -= 1;
        drop(st);
        self.inner.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.largest_write.fetch_max(buf.len() as u64, Ordering::SeqCst);
        self.inner.write(at, buf)
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.inner.write_zeroes(at, len)
    }
}

/// A registry with `lin`, a linear device over `dev`, mounted in a fresh
/// directory.
fn mounted(tag: &str, dev: Arc<Gated>) -> (PathBuf, FuseExport) {
    let dir = std::env::temp_dir().join(format!("ulvm-fuse-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let reg = Arc::new(Registry::new(RegistryConfig::default()));
    let sectors = dev.size().0;
    reg.add_device("gated", dev);
    reg.create("lin", None, Some(&format!("0 {sectors} linear gated 0").parse().unwrap()), false).unwrap();
    let mnt = dir.join("devs");
    let fuse = FuseExport::mount(&mnt, reg).unwrap();
    (dir, fuse)
}

#[test]
fn test_fuse_queued_reads_are_served_by_several_readers_on_cloned_fds() {
    if fuse_missing() || !have("fio") && skip("fio is not installed") {
        return;
    }
    let dev = Gated::new(8192, false);
    let (dir, mut fuse) = mounted("clone", dev.clone());
    let file = dir.join("devs/lin");
    let fio = std::thread::spawn(move || {
        Command::new("fio")
            .args(["--name=q16", "--ioengine=libaio", "--direct=1", "--rw=randread", "--bs=4k", "--iodepth=16"])
            .args(["--size=4M", "--number_ios=64", "--output-format=terse"])
            .arg(format!("--filename={}", file.display()))
            .output()
            .unwrap()
    });
    // Four reads held at the device at once are four readers in device I/O.
    let overlapped = dev.wait_for_waiting(4);
    dev.open_gate();
    let out = fio.join().unwrap();
    let stats = fuse.stats();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "fio: {}", String::from_utf8_lossy(&out.stderr));
    assert!(overlapped, "fewer than 4 of fio's 16 reads reached the device at once");
    assert_eq!(stats.fds, READERS, "every reader has its own /dev/fuse fd");
    let serving = stats.served_by_reader.iter().filter(|&&n| n > 0).count();
    assert!(serving >= 4, "only {serving} readers served data requests: {stats:?}");
    assert_eq!(stats.handed_off, 0, "a queue depth of 16 needs no hand-off: {stats:?}");
}

#[test]
fn test_fuse_a_1mib_direct_write_arrives_as_one_request() {
    if fuse_missing() || !have("dd") && skip("dd is not installed") {
        return;
    }
    let dev = Gated::new(16384, true);
    let (dir, mut fuse) = mounted("bigwrite", dev.clone());
    let out = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=4", "oflag=direct", "conv=notrunc", "status=none"])
        .arg(format!("of={}", dir.join("devs/lin").display()))
        .output()
        .unwrap();
    let stats = fuse.stats();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "dd: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((stats.max_write, stats.max_pages), (1 << 20, 256), "negotiated in INIT");
    assert_eq!(stats.largest_write, 1 << 20, "the largest FUSE write request");
    assert_eq!(dev.largest_write.load(Ordering::SeqCst), 1 << 20, "the largest write the device saw");
}

#[test]
fn test_fuse_answers_lookups_while_every_other_reader_waits_in_device_io() {
    if fuse_missing() {
        return;
    }
    let dev = Gated::new(8192, false);
    let (dir, mut fuse) = mounted("reserve", dev.clone());
    let file = dir.join("devs/lin");
    // More blocking reads than readers: each from its own thread, so all
    // are in flight at once.
    let readers: Vec<_> = (0..READERS as u64 + 2)
        .map(|i| {
            let file = file.clone();
            std::thread::spawn(move || {
                let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&file).unwrap();
                let mut buf = AlignedPage([0u8; 4096]);
                f.read_exact_at(&mut buf.0, i * 4096).unwrap();
            })
        })
        .collect();
    let all_waiting = dev.wait_for_waiting(READERS as u32 + 2);
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = file.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::metadata(&probe).map(|m| m.len()));
    });
    let answered = rx.recv_timeout(Duration::from_secs(5));
    dev.open_gate();
    readers.into_iter().for_each(|r| r.join().unwrap());
    let stats = fuse.stats();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(all_waiting, "not every read reached the device: {stats:?}");
    assert_eq!(answered.expect("stat answered while reads wait").unwrap(), 8192 * 512);
    assert!(stats.handed_off >= 3, "reads beyond the readers' share were handed off: {stats:?}");
}

#[repr(align(4096))]
struct AlignedPage([u8; 4096]);
