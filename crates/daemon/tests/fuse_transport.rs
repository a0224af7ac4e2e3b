//! ulvm's own FUSE transport: requests are read and answered by several
//! threads, each on its own clone of the `/dev/fuse` fd; a 1 MiB direct
//! write arrives as one request; and a lookup is answered even while every
//! other reader waits in device I/O (as it does while a device is
//! suspended). Skips with a reason without /dev/fuse, fusermount3 or fio;
//! CI has them.

mod common;
use common::{have, skip};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, MemDevice, Result, Sectors};
use ulvm_daemon::fuse::{FuseExport, FuseOptions, ENABLE_URING, READERS, RING_ENTRIES};
use ulvm_dm::{Registry, RegistryConfig};

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
    mounted_with(tag, dev, FuseOptions::default())
}

fn mounted_with(tag: &str, dev: Arc<Gated>, opts: FuseOptions) -> (PathBuf, FuseExport) {
    let dir = std::env::temp_dir().join(format!("ulvm-fuse-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let reg = Arc::new(Registry::new(RegistryConfig::default()));
    let sectors = dev.size().0;
    reg.add_device("gated", dev);
    reg.create("lin", None, Some(&format!("0 {sectors} linear gated 0").parse().unwrap()), false).unwrap();
    let mnt = dir.join("devs");
    let fuse = FuseExport::mount_with(&mnt, reg, opts).unwrap();
    (dir, fuse)
}

#[test]
fn test_fuse_queued_reads_are_served_by_several_readers_on_cloned_fds() {
    if fuse_missing() || !have("fio") && skip("fio is not installed") {
        return;
    }
    let _switch = UringSwitch::set(false);
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
    // All 16 of fio's reads held at the device at once are 16 readers in
    // device I/O, and 18 readers leave room for all of them: none is handed
    // off. (Counted while the gate holds them: once replies flow, a reader
    // counts itself busy until it returns from writing its reply, and on a
    // loaded machine fio's next read can overtake it and be handed off.)
    let overlapped = dev.wait_for_waiting(16);
    let held = fuse.stats();
    dev.open_gate();
    let out = fio.join().unwrap();
    let stats = fuse.stats();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "fio: {}", String::from_utf8_lossy(&out.stderr));
    assert!(overlapped, "fewer than 16 of fio's 16 reads reached the device at once: {held:?}");
    assert_eq!(held.handed_off, 0, "a queue depth of 16 needs no hand-off: {held:?}");
    assert_eq!(stats.fds, READERS, "every reader has its own /dev/fuse fd");
    let serving = stats.served_by_reader.iter().filter(|&&n| n > 0).count();
    assert!(serving >= 16, "only {serving} readers served data requests: {stats:?}");
}

#[test]
fn test_fuse_a_1mib_direct_write_arrives_as_one_request() {
    if fuse_missing() || !have("dd") && skip("dd is not installed") {
        return;
    }
    let _switch = UringSwitch::set(false);
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

/// Runs the calling thread on CPU 0 only: its FUSE requests go to io_uring
/// queue 0.
fn pin_to_cpu0() {
    // SAFETY: cpu_set_t is plain data; the calls only read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0);
    }
}

/// What keeps the device busy in [`stat_while_reads_wait`].
enum Load {
    /// Direct `pread`s, each from its own thread: synchronous requests.
    Threads(u64),
    /// fio with libaio at this depth, as a loop device sends its direct
    /// I/O: asynchronous (background) requests. From CPU 0 only, as is the
    /// stat, so with io_uring all of them go to queue 0.
    AioOnCpu0(u32),
}

/// Direct reads wait at the device; once `expect` of them do, a stat must
/// still be answered. Returns the export's stats.
fn stat_while_reads_wait(tag: &str, load: Load, expect: u32, opts: FuseOptions) -> ulvm_daemon::fuse::FuseStats {
    let dev = Gated::new(8192, false);
    let (dir, mut fuse) = mounted_with(tag, dev.clone(), opts);
    let file = dir.join("devs/lin");
    let pin = matches!(load, Load::AioOnCpu0(_));
    let (readers, fio) = match load {
        Load::Threads(n) => {
            let readers: Vec<_> = (0..n)
                .map(|i| {
                    let file = file.clone();
                    std::thread::spawn(move || {
                        let f =
                            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&file).unwrap();
                        let mut buf = AlignedPage([0u8; 4096]);
                        f.read_exact_at(&mut buf.0, i * 4096).unwrap();
                    })
                })
                .collect();
            (readers, None)
        }
        Load::AioOnCpu0(depth) => {
            let fio = Command::new("fio")
                .args(["--name=deep", "--ioengine=libaio", "--direct=1", "--rw=randread", "--bs=4k"])
                .arg(format!("--iodepth={depth}"))
                .args(["--cpus_allowed=0", "--size=4M", "--number_ios=200", "--output-format=terse"])
                .arg(format!("--filename={}", file.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (Vec::new(), Some(fio))
        }
    };
    let all_waiting = dev.wait_for_waiting(expect);
    // Let the rest of the reads queue up behind them.
    std::thread::sleep(Duration::from_millis(200));
    let most = dev.state.lock().unwrap().2;
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = file.clone();
    std::thread::spawn(move || {
        if pin {
            pin_to_cpu0();
        }
        let _ = tx.send(std::fs::metadata(&probe).map(|m| m.len()));
    });
    let answered = rx.recv_timeout(Duration::from_secs(5));
    dev.open_gate();
    readers.into_iter().for_each(|r| r.join().unwrap());
    let fio_ok = fio.map(|mut f| f.wait().unwrap().success());
    let stats = fuse.stats();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    let answered = answered.unwrap_or_else(|_| panic!("no stat answer while {most} reads waited: {stats:?}"));
    assert_eq!(answered.unwrap(), 8192 * 512);
    assert!(all_waiting, "only {most} of at least {expect} reads reached the device: {stats:?}");
    assert_ne!(fio_ok, Some(false), "fio failed");
    stats
}

#[test]
fn test_fuse_answers_lookups_while_every_other_reader_waits_in_device_io() {
    if fuse_missing() {
        return;
    }
    let _switch = UringSwitch::set(false);
    let stats =
        stat_while_reads_wait("reserve", Load::Threads(READERS as u64 + 2), READERS as u32 + 2, FuseOptions::default());
    assert!(stats.handed_off >= 3, "reads beyond the readers' share were handed off: {stats:?}");
}

#[derive(Clone)]
#[repr(align(4096))]
struct AlignedPage([u8; 4096]);

/// Holds the fuse module's `enable_uring` switch at a value while alive,
/// and puts the old value back when dropped (also when the test fails).
/// The tests here run one at a time under a lock file (threads and
/// processes alike), since the switch is the kernel's, for every mount.
/// Without the switch (no CONFIG_FUSE_IO_URING) or root, only the lock is
/// held: the transport is /dev/fuse anyway.
struct UringSwitch {
    was: Option<String>,
    _lock: std::fs::File,
}

impl UringSwitch {
    fn set(on: bool) -> std::io::Result<UringSwitch> {
        let lock = std::fs::File::create(std::env::temp_dir().join("ulvm-fuse-enable-uring.lock"))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let was = std::fs::read_to_string(ENABLE_URING).ok().map(|s| s.trim().to_string());
        if was.is_some() {
            std::fs::write(ENABLE_URING, if on { "Y" } else { "N" })?;
        }
        Ok(UringSwitch { was, _lock: lock })
    }
}

impl Drop for UringSwitch {
    fn drop(&mut self) {
        if let Some(was) = &self.was {
            let _ = std::fs::write(ENABLE_URING, was);
        }
    }
}

/// Writes a stamped 4 KiB block and a 1 MiB block with O_DIRECT, reads
/// both back, lists and stats the directory: every kind of request the
/// mounted path sends.
fn round_trip(mnt: &Path) {
    let file = mnt.join("lin");
    let f = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_DIRECT).open(&file).unwrap();
    let mut page = AlignedPage([0u8; 4096]);
    page.0.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7 + 3) as u8);
    f.write_all_at(&page.0, 8192).unwrap();
    let mut big = vec![AlignedPage([0u8; 4096]); 256];
    big.iter_mut().enumerate().for_each(|(i, p)| p.0.fill(i as u8));
    // SAFETY: 256 contiguous, aligned 4 KiB pages viewed as one slice.
    let big_bytes = unsafe { std::slice::from_raw_parts(big.as_ptr().cast::<u8>(), 1 << 20) };
    f.write_all_at(big_bytes, 1 << 20).unwrap();
    let mut back = AlignedPage([0u8; 4096]);
    // One read each, whole: a short answer is a bug here, not a retry.
    assert_eq!(f.read_at(&mut back.0, 8192).unwrap(), 4096);
    assert!(back.0 == page.0, "4 KiB block read back");
    let mut big_back = vec![AlignedPage([0u8; 4096]); 256];
    // SAFETY: as above, and nothing else borrows big_back.
    let big_back_bytes = unsafe { std::slice::from_raw_parts_mut(big_back.as_mut_ptr().cast::<u8>(), 1 << 20) };
    assert_eq!(f.read_at(big_back_bytes, 1 << 20).unwrap(), 1 << 20);
    assert!(big_back_bytes == big_bytes, "1 MiB block read back");
    f.sync_all().unwrap();
    let names: Vec<_> = std::fs::read_dir(mnt).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["lin"]);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 8192 * 512);
}

/// Mounts with `opts` while the kernel's switch is `switch`, runs the
/// round trip, and returns the stats.
fn round_trip_with(tag: &str, switch: bool, opts: FuseOptions) -> ulvm_daemon::fuse::FuseStats {
    let held = UringSwitch::set(switch).unwrap();
    let (dir, mut fuse) = mounted_with(tag, Gated::new(8192, true), opts);
    round_trip(&dir.join("devs"));
    let stats = fuse.stats();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    drop(held);
    stats
}

#[test]
fn test_fuse_over_io_uring_serves_when_asked_and_offered_and_dev_fuse_otherwise() {
    if fuse_missing() || !have("fio") && skip("fio is not installed") {
        return;
    }
    if !Path::new(ENABLE_URING).exists() {
        skip("the kernel has no FUSE over io_uring (CONFIG_FUSE_IO_URING)");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("turning enable_uring on needs root");
        return;
    }
    let uring = FuseOptions { io_uring: true };
    // Asked, but the kernel's switch is off: /dev/fuse serves everything.
    let off = round_trip_with("uring-off", false, uring);
    // Offered, but not asked: /dev/fuse too.
    let unasked = round_trip_with("uring-unasked", true, FuseOptions::default());
    // Asked and offered: the rings take over once every CPU's queue has entries.
    let ring = round_trip_with("uring-on", true, uring);
    for plain in [&off, &unasked] {
        assert_eq!((plain.ring_entries, plain.served_by_rings), (0, 0), "no rings: {plain:?}");
        assert!(plain.served_by_reader.iter().sum::<u64>() >= 5, "the readers served: {plain:?}");
    }
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    let cpus: usize = cpus.trim().rsplit(['-', ',']).next().unwrap().parse::<usize>().unwrap() + 1;
    assert_eq!(ring.ring_entries, RING_ENTRIES * cpus, "entries on every queue: {ring:?}");
    assert!(ring.served_by_rings >= 8, "the rings served the round trip: {ring:?}");
    assert_eq!(ring.served_by_reader.iter().sum::<u64>(), 0, "no data request on /dev/fuse: {ring:?}");
    assert_eq!(ring.largest_write, 1 << 20, "a 1 MiB write is one request on a ring too");
    // A loop device's worth of direct I/O (asynchronous, 64 requests at
    // once, the kernel's max_background) and the stat all from CPU 0, so
    // to queue 0: the reads wait at the device, and an entry is still free
    // for the stat.
    let on = UringSwitch::set(true).unwrap();
    let waited = stat_while_reads_wait("uring-reserve", Load::AioOnCpu0(128), 64, uring);
    drop(on);
    assert!(waited.served_by_rings >= 64, "the reads went through the rings: {waited:?}");
}
