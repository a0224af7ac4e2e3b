//! Test devices for ulvm.
//!
//! * [`LogDevice`]: records every write and flush (like the kernel's
//!   dm-log-writes) into a log shared by several devices, so a test can
//!   replay any prefix as a crash ([`replay`]).
//! * [`FaultDevice`]: fails I/O on demand.
//! * [`stamp`]: recognisable block contents (from `seed` and `block`) instead of
//!   reference images.

#![warn(missing_docs)]

pub mod oracle;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use ulvm_blockdev::{BlockDevice, DeviceRef, Error, ErrorKind, MemDevice, Result, Sectors};

/// One logged operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A write of `data` from sector `at`.
    Write {
        /// The writing [`LogDevice`]'s id.
        dev: usize,
        /// The first sector written.
        at: Sectors,
        /// The bytes written.
        data: Vec<u8>,
    },
    /// A write-zeroes or discard: `len` sectors from `at` now read as zeroes.
    Zero {
        /// The [`LogDevice`]'s id.
        dev: usize,
        /// The first sector zeroed.
        at: Sectors,
        /// How many sectors were zeroed.
        len: Sectors,
    },
    /// A flush: the device's earlier writes are durable.
    Flush {
        /// The flushing [`LogDevice`]'s id.
        dev: usize,
    },
}

/// A log shared by several [`LogDevice`]s, in global order.
#[derive(Debug, Default, Clone)]
pub struct Log(Arc<Mutex<Vec<Op>>>);

impl Log {
    /// Operations logged so far, over all devices.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    /// Nothing has been logged yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A copy of the log, in the order the operations happened.
    pub fn ops(&self) -> Vec<Op> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, op: Op) {
        self.0.lock().unwrap().push(op);
    }
}

/// A memory device that logs every change.
#[derive(Debug)]
pub struct LogDevice {
    id: usize,
    inner: MemDevice,
    log: Log,
    reads: AtomicU64,
}

impl LogDevice {
    /// Device `id` of `log`, starting with `initial` contents.
    pub fn new(id: usize, initial: Vec<u8>, log: Log) -> Self {
        LogDevice { id, inner: MemDevice::from_bytes(format!("log{id}"), initial), log, reads: AtomicU64::new(0) }
    }
    /// A copy of the device's current contents.
    pub fn contents(&self) -> Vec<u8> {
        self.inner.snapshot_bytes()
    }
    /// Read requests served so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
    /// Logged operations of this device: `(writes, flushes)`, where writes
    /// count write-zeroes and discards too (both are logged as [`Op::Zero`]).
    pub fn counts(&self) -> (usize, usize) {
        let ops = self.log.ops();
        let w =
            ops.iter().filter(|o| matches!(o, Op::Write { dev, .. } | Op::Zero { dev, .. } if *dev == self.id)).count();
        let f = ops.iter().filter(|o| matches!(o, Op::Flush { dev } if *dev == self.id)).count();
        (w, f)
    }
}

impl BlockDevice for LogDevice {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        // Log under the same ordering as the data: write first, then log, is
        // racy for concurrent writers, so log while holding the log lock.
        let mut log = self.log.0.lock().unwrap();
        self.inner.write(at, buf)?;
        log.push(Op::Write { dev: self.id, at, data: buf.to_vec() });
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        self.log.push(Op::Flush { dev: self.id });
        Ok(())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_zeroes(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        let mut log = self.log.0.lock().unwrap();
        self.inner.write_zeroes(at, len)?;
        log.push(Op::Zero { dev: self.id, at, len });
        Ok(())
    }
}

/// How a crash treats the log prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every write in the prefix reached the disk.
    AllWritten,
    /// Only writes before each device's last flush in the prefix survived.
    FlushedOnly,
    /// Like `AllWritten`, but the last write of the prefix is torn: only
    /// its first sector landed.
    TornLast,
    /// The volatile cache reordered: of the writes after each device's last
    /// flush, only the very last write of the prefix reached the disk.
    Reordered,
}

/// Device images after a crash at `prefix` log entries: `initial[i]` is
/// device `i`'s contents before the log started.
pub fn replay(initial: &[Vec<u8>], ops: &[Op], prefix: usize, mode: CrashMode) -> Vec<Vec<u8>> {
    let mut imgs = initial.to_vec();
    let ops = &ops[..prefix];
    let last_flush: Vec<Option<usize>> =
        (0..imgs.len()).map(|d| ops.iter().rposition(|o| matches!(o, Op::Flush { dev } if *dev == d))).collect();
    for (i, op) in ops.iter().enumerate() {
        let torn = mode == CrashMode::TornLast && i + 1 == ops.len();
        let lost = |dev: usize| match mode {
            CrashMode::FlushedOnly => last_flush[dev].is_none_or(|f| i > f),
            CrashMode::Reordered => last_flush[dev].is_none_or(|f| i > f) && i + 1 != ops.len(),
            _ => false,
        };
        match op {
            Op::Write { dev, at, data } => {
                if lost(*dev) {
                    continue;
                }
                let n = if torn { data.len().min(Sectors(1).byte_len()) } else { data.len() };
                let off = at.byte_len();
                imgs[*dev][off..off + n].copy_from_slice(&data[..n]);
            }
            Op::Zero { dev, at, len } => {
                if lost(*dev) {
                    continue;
                }
                let n = if torn { 1 } else { len.0 };
                imgs[*dev][at.byte_len()..(*at + Sectors(n)).byte_len()].fill(0);
            }
            Op::Flush { .. } => {}
        }
    }
    imgs
}

/// Wraps a device and fails I/O when told to.
#[derive(Debug)]
pub struct FaultDevice {
    inner: DeviceRef,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
    /// Fail writes once this many more have succeeded (u64::MAX = never).
    writes_left: AtomicU64,
}

impl FaultDevice {
    /// Passes all I/O through to `inner` until told to fail.
    pub fn new(inner: DeviceRef) -> Self {
        FaultDevice {
            inner,
            fail_reads: AtomicBool::new(false),
            fail_writes: AtomicBool::new(false),
            writes_left: AtomicU64::new(u64::MAX),
        }
    }
    /// Makes every read fail with an I/O error (`on`), or succeed again.
    pub fn fail_reads(&self, on: bool) {
        self.fail_reads.store(on, Ordering::SeqCst);
    }
    /// Makes every write, discard and write-zeroes fail with an I/O error
    /// (`on`), or succeed again (unless [`fail_writes_after`] ran out).
    ///
    /// [`fail_writes_after`]: FaultDevice::fail_writes_after
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }
    /// Let `n` more writes through, then fail every write.
    pub fn fail_writes_after(&self, n: u64) {
        self.writes_left.store(n, Ordering::SeqCst);
    }
    fn write_allowed(&self) -> Result<()> {
        let left = self.writes_left.load(Ordering::SeqCst);
        if self.fail_writes.load(Ordering::SeqCst) || left == 0 {
            return Err(Error::new(ErrorKind::Io, "injected write error"));
        }
        if left != u64::MAX {
            self.writes_left.store(left - 1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl BlockDevice for FaultDevice {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Io, "injected read error"));
        }
        self.inner.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.write_allowed()?;
        self.inner.write(at, buf)
    }
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_allowed()?;
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_allowed()?;
        self.inner.write_zeroes(at, len)
    }
}

/// Fills `buf` with a pattern unique to `(seed, block)`: every 8 bytes hold
/// `seed ^ block.rotate_left(17) ^ index`, so a misplaced or stale block is
/// told apart.
pub fn stamp(buf: &mut [u8], seed: u64, block: u64) {
    for (i, w) in buf.chunks_mut(8).enumerate() {
        let v = (seed ^ block.rotate_left(17) ^ (i as u64)).to_le_bytes();
        w.copy_from_slice(&v[..w.len()]);
    }
}

/// A block stamped with `(seed, block)`, `len` bytes long.
pub fn stamped(len: usize, seed: u64, block: u64) -> Vec<u8> {
    let mut b = vec![0u8; len];
    stamp(&mut b, seed, block);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_replay_flushed_only_drops_unflushed_writes() {
        let log = Log::default();
        let d = LogDevice::new(0, vec![0; 1024], log.clone());
        d.write(Sectors(0), &[1; 512]).unwrap();
        d.flush().unwrap();
        d.write(Sectors(1), &[2; 512]).unwrap();
        let ops = log.ops();
        let all = replay(&[vec![0; 1024]], &ops, ops.len(), CrashMode::AllWritten);
        assert_eq!((all[0][0], all[0][512]), (1, 2));
        let flushed = replay(&[vec![0; 1024]], &ops, ops.len(), CrashMode::FlushedOnly);
        assert_eq!((flushed[0][0], flushed[0][512]), (1, 0));
    }

    #[test]
    fn test_stamps_differ_per_block_and_seed() {
        assert_ne!(stamped(512, 1, 0), stamped(512, 1, 1));
        assert_ne!(stamped(512, 1, 0), stamped(512, 2, 0));
    }
}

/// Counts the I/O that passes through to a device.
#[derive(Debug)]
pub struct CountingDevice {
    inner: DeviceRef,
    /// Read requests.
    pub read_ops: AtomicU64,
    /// Bytes read.
    pub read_bytes: AtomicU64,
    /// Write and write-zeroes requests (discards are not counted).
    pub write_ops: AtomicU64,
    /// Bytes of write payload (write-zeroes adds none).
    pub write_bytes: AtomicU64,
    /// Flush requests.
    pub flushes: AtomicU64,
}

impl CountingDevice {
    /// Counts, from zero, the I/O passed through to `inner`.
    pub fn new(inner: DeviceRef) -> Self {
        CountingDevice {
            inner,
            read_ops: AtomicU64::new(0),
            read_bytes: AtomicU64::new(0),
            write_ops: AtomicU64::new(0),
            write_bytes: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }
    /// `(read ops, read bytes, write ops, write bytes, flushes)`.
    pub fn totals(&self) -> [u64; 5] {
        [&self.read_ops, &self.read_bytes, &self.write_ops, &self.write_bytes, &self.flushes]
            .map(|a| a.load(Ordering::SeqCst))
    }
}

impl BlockDevice for CountingDevice {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.read_ops.fetch_add(1, Ordering::SeqCst);
        self.read_bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.inner.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.write_ops.fetch_add(1, Ordering::SeqCst);
        self.write_bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.inner.write(at, buf)
    }
    fn flush(&self) -> Result<()> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        self.inner.flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_ops.fetch_add(1, Ordering::SeqCst);
        self.inner.write_zeroes(at, len)
    }
}

/// A sanlock daemon for one test "host": its own run directory `run`
/// (where clients find its socket through `SANLOCK_RUN_DIR`), no watchdog
/// (`-w 0`, for tests only), local host name `name`; answering when this
/// returns. The caller kills it.
pub fn sanlock_daemon(run: &std::path::Path, name: &str) -> std::process::Child {
    use std::process::{Command, Stdio};
    std::fs::create_dir_all(run).unwrap();
    let child = Command::new("sanlock")
        .args(["daemon", "-D", "-w", "0", "-l", "0", "-U", "root", "-G", "root", "-e", name])
        .env("SANLOCK_RUN_DIR", run)
        .env("SANLOCK_PRIVILEGED", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(run.join("sanlock.sock")).is_err() {
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "sanlock daemon did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}
