//! The `mirror` target (dm-raid1, docs/mirror.md).
//!
//! - Writes to an in-sync region go to every leg, after the region's clean
//!   bit is cleared and (with a `disk` log) that is durable; once a
//!   region's writes are done it is marked clean again lazily (at the next
//!   flush, suspend or resync log write, after the legs are flushed).
//! - Writes to a region not in sync go to the default leg (leg 0) only:
//!   resync copies them later. Writes (and discards) to the region resync
//!   is copying wait for the copy; the copy waits for writes already in
//!   flight to that region.
//! - Reads come from the default leg, or, when it has failed and the region
//!   is in sync, from another healthy leg; a failed read is retried on
//!   another in-sync leg.
//! - Resync (background work) copies one out-of-sync region at a time from
//!   the default leg to the others, asking the device's [`Throttle`] for its
//!   pace, and raises an event once every region is in sync.
//! - A leg error is recorded (`D` write, `R` read, `S` resync, `F` a flush
//!   before clean bits are written) and, with `handle_errors`, raises an
//!   event; a write succeeds as long as one leg is without errors.
//!
//! Departures from the kernel: with `handle_errors` but not `keep_log`, the
//! kernel holds a write that failed on a leg until userspace (dmeventd)
//! reloads the table; ulvm has no such repair agent and completes the write
//! as `keep_log` does. Discards wait for a region being resynced, like
//! writes (the kernel lets them race with the copy). Reads are not
//! balanced across legs (neither are the kernel's).

use super::log::{disk_image_len, DirtyLog, LogFlush, Resumed};
use crate::kind::{BuildCtx, Caps, TargetKind};
use crate::registry::DmResult;
use crate::status::TargetStatus;
use crate::table::{DevRef, Stripe, TargetArgs};
use crate::target::{io_error, EventSink, Step, Target, Underlying};
use crate::throttle::{Pace, Throttle};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use ulvm_blockdev::{byte_range, Bytes, Error, ErrorKind, Result, Sectors, Writeback};
use ulvm_dm_table::{
    LegHealth, LogHealth, LogSync, MirrorArgs, MirrorFeatures, MirrorLog, MirrorLogStatus, MirrorStatus,
};

/// The share of the wall time a resync takes while the mirror's users
/// are active ([`Pace::Share`]), after each region (the rest is capped at
/// the throttle's `max_rest`). Lower than the other jobs' share: a resync
/// (and so a pvmove) has no deadline, and the users' writes to the regions
/// it already copied cost two legs. md does the same to its resync,
/// dropping it to `speed_limit_min` while the array has other I/O.
/// Measured in docs/performance.md (`bench/pvmove.sh`).
const RESYNC_SHARE_PERCENT: u32 = 10;

/// Clean bits found by resync are written at least this often.
const LOG_PERIOD: Duration = Duration::from_secs(1);

pub static KIND: TargetKind = TargetKind {
    name: "mirror",
    version: [1, 14, 0],
    caps: Caps { background: true, origin: false, snapshot: false },
    build: build_mirror,
};

fn build_mirror(cx: &BuildCtx<'_>) -> DmResult<Box<dyn Target>> {
    let TargetArgs::Mirror(a) = &cx.line.target else { return Err(cx.wrong_args(&KIND)) };
    let log = a.log.dev().map(|d| cx.resolve(d)).transpose()?;
    let legs = a.legs.iter().map(|l| Ok((cx.resolve(&l.dev)?, l.offset))).collect::<DmResult<Vec<_>>>()?;
    let t = MirrorTarget::new(a, log, legs, cx.line.len, cx.events.clone())
        .map_err(|e| cx.fail(e))?
        .with_throttle(cx.throttle.clone())
        .with_resync_percent(cx.config.mirror_resync_percent);
    Ok(Box::new(t))
}

/// The kernel's error kinds, as bits of [`Leg::error_type`].
#[derive(Debug, Clone, Copy)]
enum LegError {
    Write = 1,
    Flush = 2,
    Sync = 4,
    Read = 8,
}

struct Leg {
    dev: Underlying,
    offset: Sectors,
    error_count: AtomicU32,
    error_type: AtomicU8,
}

impl Leg {
    fn failed(&self) -> bool {
        self.error_count.load(Ordering::SeqCst) > 0
    }

    /// The most severe error seen, as the status character.
    fn health(&self) -> LegHealth {
        if !self.failed() {
            return LegHealth::Alive;
        }
        let t = self.error_type.load(Ordering::SeqCst);
        [
            (LegError::Flush, LegHealth::FlushError),
            (LegError::Write, LegHealth::WriteError),
            (LegError::Sync, LegHealth::SyncError),
            (LegError::Read, LegHealth::ReadError),
        ]
        .into_iter()
        .find(|(e, _)| t & *e as u8 != 0)
        .map_or(LegHealth::Unknown, |(_, h)| h)
    }
}

struct State {
    log: DirtyLog,
    /// Writes in flight per region.
    pending: HashMap<u64, u32>,
    /// In-sync regions whose clean bit was cleared for writes that are all
    /// done: marked clean at the next log write.
    idle_dirty: BTreeSet<u64>,
    /// Every region in sync and the event for it raised.
    in_sync: bool,
    default_leg: usize,
    log_health: LogHealth,
    last_log_write: Instant,
}

pub struct MirrorTarget {
    legs: Vec<Leg>,
    log_dev: Option<Underlying>,
    region_size: u64,
    len: Sectors,
    sync_arg: LogSync,
    features: MirrorFeatures,
    events: Arc<EventSink>,
    throttle: Arc<Throttle>,
    /// The share of its time resync may copy (the kernel's
    /// `dm_mirror.raid1_resync_throttle`): after each region it rests so
    /// that copying is at most this percentage of the wall time.
    resync_percent: u32,
    /// Set from presuspend to resume: resync stops.
    stopping: AtomicBool,
    /// Serialises log writes, so that images reach the disk in the order
    /// they were taken.
    log_io: Mutex<()>,
    state: Mutex<State>,
    cond: Condvar,
}

impl std::fmt::Debug for MirrorTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let legs: Vec<String> = self.legs.iter().map(|l| l.dev.num.to_string()).collect();
        write!(f, "mirror({})", legs.join(" "))
    }
}

/// How a piece of a write goes out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    AllLegs,
    DefaultLeg,
}

impl MirrorTarget {
    /// Builds the target over opened devices: checks their sizes. A `disk`
    /// log is read at resume.
    pub fn new(
        args: &MirrorArgs,
        log_dev: Option<Underlying>,
        legs: Vec<(Underlying, Sectors)>,
        len: Sectors,
        events: Arc<EventSink>,
    ) -> std::result::Result<MirrorTarget, String> {
        let region_size = args.log.region_size().0;
        let nr_regions = len.0.div_ceil(region_size);
        for (u, off) in &legs {
            if off.0.checked_add(len.0).is_none_or(|end| end > u.dev.size().0) {
                return Err(format!(
                    "mirror: {} too small for target: start={}, len={}, dev_size={}",
                    u.num,
                    off.0,
                    len.0,
                    u.dev.size().0
                ));
            }
        }
        let sync_arg = args.log.sync();
        let log = match &log_dev {
            None => DirtyLog::core(nr_regions, sync_arg),
            Some(d) => {
                let need = disk_image_len(nr_regions, d.dev.logical_block_size());
                if (need as u64) > d.dev.size().bytes().0 {
                    return Err(format!("mirror: log device {} too small: need {need} bytes", d.num));
                }
                DirtyLog::disk(nr_regions, sync_arg, need)
            }
        };
        let legs = legs
            .into_iter()
            .map(|(dev, offset)| Leg { dev, offset, error_count: AtomicU32::new(0), error_type: AtomicU8::new(0) })
            .collect();
        Ok(MirrorTarget {
            legs,
            log_dev,
            region_size,
            len,
            sync_arg,
            features: args.features,
            events,
            throttle: Arc::new(Throttle::default()),
            resync_percent: 100,
            stopping: AtomicBool::new(false),
            log_io: Mutex::new(()),
            state: Mutex::new(State {
                log,
                pending: HashMap::new(),
                idle_dirty: BTreeSet::new(),
                in_sync: false,
                default_leg: 0,
                log_health: LogHealth::Alive,
                last_log_write: Instant::now(),
            }),
            cond: Condvar::new(),
        })
    }

    /// Yields resync to the users `throttle` counts (the device's).
    pub fn with_throttle(mut self, throttle: Arc<Throttle>) -> Self {
        self.throttle = throttle;
        self
    }

    /// Limits resync to `percent` (1 to 100) of the wall time.
    pub fn with_resync_percent(mut self, percent: u32) -> Self {
        self.resync_percent = percent.clamp(1, 100);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn nr_regions(&self) -> u64 {
        self.len.0.div_ceil(self.region_size)
    }

    /// Sectors of region `r`: `[start, end)`.
    fn span(&self, r: u64) -> (u64, u64) {
        let s = r * self.region_size;
        (s, (s + self.region_size).min(self.len.0))
    }

    /// Regions touched by `[at, at+len)`.
    fn regions(&self, at: Sectors, len: Sectors) -> std::ops::Range<u64> {
        at.0 / self.region_size..(at + len).0.div_ceil(self.region_size)
    }

    /// `(in sync, out of sync)` regions, and resync progress.
    pub fn progress(&self) -> (u64, u64) {
        let st = self.lock();
        (st.log.sync_count(), self.nr_regions())
    }

    /// Records an error of `kind` on leg `i` (the kernel's `fail_mirror`):
    /// the first of each kind raises an event with `handle_errors`, and a
    /// failed default leg hands over to a healthy one if the mirror is in
    /// sync (or `keep_log`).
    fn fail_leg(&self, i: usize, kind: LegError) {
        let leg = &self.legs[i];
        leg.error_count.fetch_add(1, Ordering::SeqCst);
        let before = leg.error_type.fetch_or(kind as u8, Ordering::SeqCst);
        tracing::warn!(mirror = ?self, leg = %leg.dev.num, ?kind, "mirror leg failed");
        if before & kind as u8 != 0 || !self.features.handle_errors {
            return;
        }
        {
            let mut st = self.lock();
            if i == st.default_leg && (st.in_sync || self.features.keep_log) {
                match self.legs.iter().position(|l| !l.failed()) {
                    Some(n) => st.default_leg = n,
                    None => tracing::error!(mirror = ?self, "all sides of mirror have failed"),
                }
            }
        }
        self.events.raise();
    }

    fn any_leg_valid(&self) -> bool {
        self.legs.iter().any(|l| !l.failed())
    }

    /// Writes the log if it changed: the legs are flushed first when clean
    /// bits are set (so a clean bit on disk means equal legs on disk), and
    /// the log device is flushed after the write when bits were cleared
    /// (so the dirty mark is durable before the writes it covers).
    fn flush_log(&self) -> Result<bool> {
        let Some(log_dev) = &self.log_dev else { return Ok(false) };
        let _io = self.log_io.lock().unwrap_or_else(|e| e.into_inner());
        let Some(LogFlush { image, cleaned, dirtied }) = self.lock().log.take_flush() else { return Ok(false) };
        let mut image = image;
        if cleaned && !self.flush_legs(LegError::Flush) {
            // Which regions are clean is now unknown: all dirty, as the kernel.
            let mut st = self.lock();
            st.log.flush_failed();
            image = st.log.take_flush().map_or(image, |f| f.image);
        }
        let r = log_dev.dev.write(Sectors(0), &image).and_then(|_| if dirtied { log_dev.dev.flush() } else { Ok(()) });
        let mut st = self.lock();
        st.last_log_write = Instant::now();
        if let Err(e) = r {
            if st.log_health == LogHealth::Alive {
                st.log_health = if dirtied { LogHealth::FlushFailed } else { LogHealth::Failed };
                drop(st);
                tracing::error!(mirror = ?self, "mirror log write failed: {e}");
                self.events.raise();
            }
            return Err(Error::new(ErrorKind::Io, format!("mirror: log write failed: {e}")));
        }
        Ok(cleaned)
    }

    /// Flushes every leg, in parallel; a failure marks the leg. True if all
    /// succeeded.
    fn flush_legs(&self, kind: LegError) -> bool {
        let results: Vec<Result<()>> = std::thread::scope(|sc| {
            let hs: Vec<_> = self.legs[1..].iter().map(|l| sc.spawn(move || l.dev.dev.flush())).collect();
            let mut rs = vec![self.legs[0].dev.dev.flush()];
            rs.extend(hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(io_error("mirror: leg flush panicked")))));
            rs
        });
        let mut ok = true;
        for (i, r) in results.iter().enumerate() {
            if let Err(e) = r {
                tracing::warn!(mirror = ?self, "flush of leg {} failed: {e}", self.legs[i].dev.num);
                self.fail_leg(i, kind);
                ok = false;
            }
        }
        ok
    }

    /// Marks the idle dirty regions clean (in memory; written with the next log write).
    fn clean_idle(&self, st: &mut State) {
        for r in std::mem::take(&mut st.idle_dirty) {
            if st.log.in_sync(r) && !st.pending.contains_key(&r) {
                st.log.clear_region(r);
            }
        }
    }

    /// Waits until no region of `rs` is being resynced, then counts a write
    /// in flight on each and marks the in-sync ones dirty. Returns the
    /// route of each region.
    fn begin_write(&self, rs: std::ops::Range<u64>) -> Vec<Route> {
        let mut st = self.lock();
        while rs.clone().any(|r| st.log.is_recovering(r)) {
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        rs.map(|r| {
            *st.pending.entry(r).or_insert(0) += 1;
            st.idle_dirty.remove(&r);
            if st.log.in_sync(r) {
                st.log.mark_region(r);
                Route::AllLegs
            } else {
                Route::DefaultLeg
            }
        })
        .collect()
    }

    /// Ends the writes of [`begin_write`]: in-sync regions that took a leg
    /// error go out of sync; the others become idle-dirty once no write is
    /// in flight.
    fn end_write(&self, rs: std::ops::Range<u64>, failed_sync: bool) {
        let mut st = self.lock();
        for r in rs {
            let n = st.pending.get_mut(&r).expect("counted in begin_write");
            *n -= 1;
            let idle = *n == 0;
            if idle {
                st.pending.remove(&r);
            }
            if failed_sync && st.log.in_sync(r) {
                st.log.set_region_sync(r, false);
                st.in_sync = false;
            } else if idle && st.log.in_sync(r) {
                st.idle_dirty.insert(r);
            }
        }
        drop(st);
        self.cond.notify_all();
    }

    /// Writes `buf` at target sector `at` to every leg, one after the
    /// other (a write to a file or memory device is a copy into its cache:
    /// a thread per leg costs more than it saves; the legs' flushes, which
    /// wait for the disks, run in parallel). Returns the legs that failed.
    fn write_all_legs(&self, at: Sectors, buf: &[u8]) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, l) in self.legs.iter().enumerate() {
            if l.dev.dev.write(l.offset + at, buf).is_err() {
                failed.push(i);
            }
        }
        failed
    }

    /// A write of regions' pieces that all take `route`. Sets `leg_failed`
    /// if a leg of an in-sync region failed.
    fn write_routed(&self, at: Sectors, buf: &[u8], route: Route, leg_failed: &mut bool) -> Result<()> {
        match route {
            Route::DefaultLeg => {
                // As the kernel: a plain remap to the default leg, whose
                // error goes straight back to the writer.
                let d = self.lock().default_leg;
                let l = &self.legs[d];
                l.dev.dev.write(l.offset + at, buf)
            }
            Route::AllLegs => {
                let failed = self.write_all_legs(at, buf);
                for &i in &failed {
                    self.fail_leg(i, LegError::Write);
                }
                *leg_failed |= !failed.is_empty();
                // As the kernel's do_failures: the write stands while some
                // leg has seen no error.
                if failed.is_empty() || self.any_leg_valid() && failed.len() < self.legs.len() {
                    Ok(())
                } else {
                    Err(Error::new(ErrorKind::Io, "mirror: write failed on every leg"))
                }
            }
        }
    }

    /// Copies region `r` from the default leg to the others. Returns
    /// whether it was copied without error. While users are active
    /// (`pace` is [`Pace::Share`]) the copy's write-back is waited for, so
    /// that the rest after it covers the disk time too and the copies do
    /// not pile up dirty pages for the users' writes to wait behind.
    fn recover(&self, r: u64, pace: Pace) -> bool {
        let (s, e) = self.span(r);
        let len = Sectors(e - s);
        let from = &self.legs[self.lock().default_leg];
        let mut data = None;
        let mut ok = true;
        for (i, to) in self.legs.iter().enumerate() {
            if std::ptr::eq(to, from) {
                continue;
            }
            let res = match ulvm_blockdev::copy_in_kernel(
                &*from.dev.dev,
                from.offset + Sectors(s),
                &*to.dev.dev,
                to.offset + Sectors(s),
                len,
            ) {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => {
                    if data.is_none() {
                        let mut buf = vec![0u8; len.byte_len()];
                        match from.dev.dev.read(from.offset + Sectors(s), &mut buf) {
                            Ok(()) => data = Some(buf),
                            Err(e) => {
                                tracing::error!(mirror = ?self, "unable to read primary mirror during recovery: {e}");
                                let d = self.legs.iter().position(|l| std::ptr::eq(l, from)).unwrap_or(0);
                                self.fail_leg(d, LegError::Sync);
                                return false;
                            }
                        }
                    }
                    to.dev.dev.write(to.offset + Sectors(s), data.as_deref().expect("read above"))
                }
            };
            match res {
                Ok(()) if pace != Pace::Full => {
                    // A hint: the region's durability comes from the flush
                    // before its log write, as at the full pace.
                    let _ = to.dev.dev.writeback(to.offset + Sectors(s), len, Writeback::Settle);
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(mirror = ?self, "write error during recovery of region {r}: {e}");
                    self.fail_leg(i, LegError::Sync);
                    ok = false;
                }
            }
        }
        ok
    }

    fn table_args(&self) -> MirrorArgs {
        let region_size = Sectors(self.region_size);
        let log = match &self.log_dev {
            None => MirrorLog::Core { region_size, sync: self.sync_arg },
            Some(d) => MirrorLog::Disk { dev: DevRef::Number(d.num), region_size, sync: self.sync_arg },
        };
        let legs = self.legs.iter().map(|l| Stripe { dev: DevRef::Number(l.dev.num), offset: l.offset }).collect();
        MirrorArgs { log, legs, features: self.features }
    }
}

impl Target for MirrorTarget {
    fn kind(&self) -> &'static TargetKind {
        &KIND
    }

    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        loop {
            let (leg, all_in_sync) = {
                let st = self.lock();
                let all_in_sync = self.regions(at, len).all(|r| st.log.in_sync(r));
                let d = st.default_leg;
                // The kernel's choose_mirror: the default leg if healthy,
                // else the next healthy one going down.
                let leg = if all_in_sync {
                    (0..self.legs.len())
                        .map(|k| (d + self.legs.len() - k) % self.legs.len())
                        .find(|&i| !self.legs[i].failed())
                } else {
                    Some(d).filter(|&i| !self.legs[i].failed())
                };
                (leg, all_in_sync)
            };
            let Some(i) = leg else {
                return Err(Error::new(ErrorKind::Io, "mirror: no leg to read from"));
            };
            let l = &self.legs[i];
            match l.dev.dev.read(l.offset + at, buf) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(mirror = ?self, "read failure on mirror device {}: {e}", l.dev.num);
                    self.fail_leg(i, LegError::Read);
                    let default_ok = !self.legs[self.lock().default_leg].failed();
                    if !(default_ok || all_in_sync && self.any_leg_valid()) {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        let rs = self.regions(at, len);
        let routes = self.begin_write(rs.clone());
        // Every write to an in-sync region goes through the log lock: the
        // region's dirty mark may be in a log write another writer has in
        // flight, and it must be durable before this data reaches a leg.
        if self.log_dev.is_some() && routes.contains(&Route::AllLegs) {
            let r = self.flush_log();
            let failed = r.is_err() || self.lock().log_health != LogHealth::Alive;
            if failed && self.features.handle_errors {
                self.end_write(rs, false);
                return Err(r.err().unwrap_or_else(|| Error::new(ErrorKind::Io, "mirror: the log device failed")));
            }
        }
        let mut failed_sync = false;
        let result = if routes.iter().all(|r| *r == routes[0]) {
            self.write_routed(at, buf, routes[0], &mut failed_sync)
        } else {
            rs.clone().zip(&routes).try_for_each(|(r, route)| {
                let (s, e) = self.span(r);
                let (s, e) = (s.max(at.0), e.min((at + len).0));
                let piece = &buf[byte_range(Sectors(s) - at..Sectors(e) - at)];
                self.write_routed(Sectors(s), piece, *route, &mut failed_sync)
            })
        };
        self.end_write(rs, failed_sync);
        result
    }

    fn flush(&self) -> Result<()> {
        {
            let mut st = self.lock();
            self.clean_idle(&mut st);
        }
        let legs_flushed = match self.flush_log() {
            Ok(f) => f,
            Err(e) if self.features.handle_errors => return Err(e),
            Err(_) => false,
        };
        if !legs_flushed {
            self.flush_legs(LegError::Write);
        }
        if self.any_leg_valid() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Io, "mirror: flush failed on every leg"))
        }
    }

    /// To every leg, as the kernel; an error does not degrade the mirror.
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        let rs = self.regions(at, len);
        {
            let mut st = self.lock();
            while rs.clone().any(|r| st.log.is_recovering(r)) {
                st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            for r in rs.clone() {
                *st.pending.entry(r).or_insert(0) += 1;
            }
        }
        let mut result = Ok(());
        for l in &self.legs {
            if let Err(e) = l.dev.dev.discard(l.offset + at, len) {
                result = Err(Error::new(ErrorKind::Unsupported, format!("mirror: discard failed: {e}")));
            }
        }
        let mut st = self.lock();
        for r in rs {
            let n = st.pending.get_mut(&r).expect("counted above");
            *n -= 1;
            if *n == 0 {
                st.pending.remove(&r);
            }
        }
        drop(st);
        self.cond.notify_all();
        result
    }

    /// The kernel's mirror takes no write-zeroes: the block layer writes
    /// zeroes instead, through the write path.
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        let piece = Bytes(1 << 20).sectors_floor().0;
        let zeros = vec![0u8; Sectors(piece.min(len.0)).byte_len()];
        let mut done = 0;
        while done < len.0 {
            let n = (len.0 - done).min(piece);
            self.write(at + Sectors(done), &zeros[..Sectors(n).byte_len()])?;
            done += n;
        }
        Ok(())
    }

    fn table_params(&self) -> String {
        self.table_args().to_string()
    }

    fn status(&self) -> TargetStatus {
        let st = self.lock();
        TargetStatus::Mirror(MirrorStatus {
            legs: self.legs.iter().map(|l| l.dev.num).collect(),
            in_sync: st.log.sync_count(),
            regions: self.nr_regions(),
            health: self.legs.iter().map(Leg::health).collect(),
            log: match &self.log_dev {
                None => MirrorLogStatus::Core,
                Some(d) => MirrorLogStatus::Disk { dev: d.num, health: st.log_health },
            },
        })
    }

    /// A `disk` log is read (and its header rewritten) here, as the
    /// kernel's `disk_resume`; a `core` log restarts its resync search.
    fn preresume(&self) -> std::result::Result<(), crate::target::TargetError> {
        let Some(d) = &self.log_dev else {
            self.lock().log.resume_core();
            return Ok(());
        };
        let _io = self.log_io.lock().unwrap_or_else(|e| e.into_inner());
        let len = disk_image_len(self.nr_regions(), d.dev.logical_block_size());
        let mut buf = vec![0u8; len];
        let read = d.dev.read(Sectors(0), &mut buf);
        let mut st = self.lock();
        let (how, image) = st.log.resume_disk(read.is_ok().then_some(&buf[..]));
        st.pending.clear();
        st.idle_dirty.clear();
        st.in_sync = false;
        let mut failed = how == Resumed::Failed;
        drop(st);
        let w = d.dev.write(Sectors(0), &image);
        let f = w.as_ref().ok().map(|_| d.dev.flush());
        if w.is_err() || f.as_ref().is_some_and(|f| f.is_err()) || failed {
            let mut st = self.lock();
            st.log_health = if f.is_some_and(|f| f.is_err()) { LogHealth::FlushFailed } else { LogHealth::Failed };
            failed = true;
        }
        if failed {
            tracing::warn!(mirror = ?self, "failed to read or write the header on the dirty region log device");
            self.events.raise();
        }
        Ok(())
    }

    fn resume(&self) {
        self.stopping.store(false, Ordering::SeqCst);
    }

    fn presuspend(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Idle regions are marked clean and the log written, as the kernel's
    /// `disk_flush` at postsuspend.
    fn postsuspend(&self) {
        {
            let mut st = self.lock();
            self.clean_idle(&mut st);
        }
        let _ = self.flush_log();
    }

    fn background_step(&self) -> Option<Step> {
        if self.stopping.load(Ordering::SeqCst) {
            return Some(Step::Done);
        }
        let (r, log_due) = {
            let mut st = self.lock();
            if st.log.sync_count() == self.nr_regions() && !st.in_sync {
                st.in_sync = true;
                // As the kernel: a completed resync forgets earlier leg errors.
                for l in &self.legs {
                    l.error_count.store(0, Ordering::SeqCst);
                    l.error_type.store(0, Ordering::SeqCst);
                }
                self.events.raise();
            }
            let r = st.log.get_resync_work();
            if r.is_none() {
                self.clean_idle(&mut st);
            }
            (r, st.last_log_write.elapsed() >= LOG_PERIOD)
        };
        let Some(r) = r else {
            let _ = self.flush_log();
            return Some(Step::Done);
        };
        // Quiesce: writes already in flight to the region finish first;
        // new ones wait for the copy (the region is marked recovering).
        {
            let mut st = self.lock();
            while st.pending.contains_key(&r) {
                st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        let pace = self.throttle.pace();
        let t0 = Instant::now();
        let ok = self.recover(r, pace);
        {
            let mut st = self.lock();
            st.log.set_region_sync(r, ok);
            if ok {
                st.log.clear_region(r);
            }
        }
        self.cond.notify_all();
        if log_due {
            let _ = self.flush_log();
        }
        let took = t0.elapsed();
        if pace != Pace::Full {
            // After the region, not inside it: a user write to the region
            // waits for its copy, and should not wait for the rests too.
            self.throttle.rest_after_at(took, RESYNC_SHARE_PERCENT);
        }
        if self.resync_percent < 100 {
            let p = self.resync_percent;
            std::thread::sleep(took * (100 - p) / p);
        }
        Some(Step::Progress)
    }
}
