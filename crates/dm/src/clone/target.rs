//! The `clone` target (docs/clone.md): reads of hydrated regions go to
//! the destination and of the others to the source; a write to an
//! unhydrated region first copies the region (a write covering the whole
//! region skips the copy); writes to a region being hydrated wait for it;
//! discards mark fully covered regions hydrated without copying; flushes
//! commit the metadata after flushing the destination. Background
//! hydration copies runs of up to `hydration_batch_size` regions, with at
//! most `hydration_threshold` regions being hydrated at a time. While the
//! device's users are active it yields to them through the device's
//! [`Throttle`]: one copy of a few regions at a time, with rests between.
//!
//! Beyond the kernel: the `hydrate_on_read` feature (a read of an
//! unhydrated region lands it on the destination too), and a progress
//! message with a rate.

use super::metadata::Metadata;
use crate::kind::{BuildCtx, Caps, TargetKind};
use crate::registry::DmResult;
use crate::status::{CloneFeatures, CloneMode, CloneStatus, TargetStatus};
use crate::table::{CloneArgs, TargetArgs};
use crate::target::{io_error, EventSink, Step, Target, TargetError, Underlying};
use crate::throttle::{Pace, Throttle};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use ulvm_blockdev::{byte_range, Bytes, Error, ErrorKind, Result, Sectors, Writeback};

/// Metadata is committed at least this often when it changed.
const COMMIT_PERIOD: Duration = Duration::from_secs(1);
/// The most copy workers one background step runs.
const MAX_WORKERS: u32 = 8;
/// Sectors of background copies whose write-back has been started but not
/// waited for: older ones are waited for and dropped from the cache, so the
/// destination never holds more than this much dirty hydrated data.
const WRITEBACK_WINDOW: u64 = Bytes(16 << 20).sectors_floor().0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Rw,
    /// A metadata operation failed; the last commit was reloaded.
    Ro,
    /// Even that failed: every I/O errors.
    Fail,
}

struct State {
    md: Metadata,
    mode: Mode,
    enabled: bool,
    threshold: u32,
    batch: u32,
    /// Regions being copied (or written whole) right now (the status's
    /// "hydrating" count, as the kernel's `hydrations_in_flight`).
    hydrating: HashSet<u64>,
    /// Where background hydration looks next.
    cursor: u64,
    last_commit: Instant,
    done_raised: bool,
    /// For the progress rate: when hydration (re)started and how far it was.
    rate_since: Instant,
    rate_base: u64,
}

pub struct CloneTarget {
    metadata: Underlying,
    dest: Underlying,
    source: Underlying,
    rest: Vec<String>,
    len: Sectors,
    region_size: u64,
    discard_passdown: bool,
    hydrate_on_read: bool,
    events: Arc<EventSink>,
    /// How long one background step keeps copying (a suspend cuts it
    /// short); zero: one run per worker.
    slice: Duration,
    /// The device's user-I/O signal (a target built outside a device
    /// never sees users and runs at full speed).
    throttle: Arc<Throttle>,
    /// Set from presuspend to resume: background copies stop early.
    stopping: AtomicBool,
    /// Background copies whose write-back has started, oldest first, and
    /// their total length: see [`WRITEBACK_WINDOW`].
    written: Mutex<(VecDeque<(u64, u64)>, u64)>,
    state: Mutex<State>,
    cond: Condvar,
}

impl std::fmt::Debug for CloneTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "clone(meta {}, dest {}, source {})", self.metadata.num, self.dest.num, self.source.num)
    }
}

/// What a claim on a region found.
enum Claim {
    Hydrated,
    Mine,
}

pub static KIND: TargetKind = TargetKind {
    name: "clone",
    version: [1, 0, 0],
    caps: Caps { background: true, origin: false, snapshot: false },
    build: build_clone,
};

fn build_clone(cx: &BuildCtx<'_>) -> DmResult<Box<dyn Target>> {
    let TargetArgs::Clone(c) = &cx.line.target else { return Err(cx.wrong_args(&KIND)) };
    let (m, d, s) = (cx.resolve(&c.metadata)?, cx.resolve(&c.dest)?, cx.resolve(&c.source)?);
    let t = CloneTarget::new(c, m, d, s, cx.line.len, cx.events.clone(), cx.config.hydration_slice)
        .map_err(|e| cx.fail(e))?
        .with_throttle(cx.throttle.clone());
    Ok(Box::new(t))
}

impl CloneTarget {
    /// Builds the target: checks the devices' sizes and opens (or formats)
    /// the metadata.
    pub fn new(
        args: &CloneArgs,
        metadata: Underlying,
        dest: Underlying,
        source: Underlying,
        len: Sectors,
        events: Arc<EventSink>,
        slice: Duration,
    ) -> std::result::Result<CloneTarget, String> {
        if source.dev.size() < len {
            return Err(format!(
                "clone: Source device ({}) is smaller than the target ({} sectors)",
                source.num, len.0
            ));
        }
        if dest.dev.size() < len {
            return Err(format!(
                "clone: Destination device ({}) is smaller than the target ({} sectors)",
                dest.num, len.0
            ));
        }
        for (what, d) in [("source", &source), ("destination", &dest)] {
            let lbs = Bytes(d.dev.logical_block_size().into()).sectors_floor().0.max(1);
            if !args.region_size.is_multiple_of(lbs) {
                return Err(format!("clone: Region size is not a multiple of the {what}'s logical block size"));
            }
        }
        if dest.dev.read_only() || metadata.dev.read_only() {
            return Err("clone: the destination and metadata devices must be writable".into());
        }
        let md = Metadata::open(metadata.dev.clone(), args.region_size, len.0)
            .map_err(|e| format!("clone: Failed to open metadata: {e}"))?;
        let now = Instant::now();
        let base = md.hydrated();
        Ok(CloneTarget {
            metadata,
            dest,
            source,
            rest: args.rest.clone(),
            len,
            region_size: args.region_size,
            discard_passdown: !args.no_discard_passdown,
            hydrate_on_read: args.hydrate_on_read,
            events,
            slice,
            throttle: Arc::new(Throttle::default()),
            stopping: AtomicBool::new(false),
            written: Mutex::new((VecDeque::new(), 0)),
            state: Mutex::new(State {
                md,
                mode: Mode::Rw,
                enabled: !args.no_hydration,
                threshold: args.hydration_threshold,
                batch: args.hydration_batch_size.max(1),
                hydrating: HashSet::new(),
                cursor: 0,
                last_commit: now,
                done_raised: false,
                rate_since: now,
                rate_base: base,
            }),
            cond: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Yields background hydration to the users `throttle` counts (the
    /// device's).
    pub fn with_throttle(mut self, throttle: Arc<Throttle>) -> Self {
        self.throttle = throttle;
        self
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

    fn check_mode(&self, st: &State) -> Result<()> {
        match st.mode {
            Mode::Fail => Err(io_error("clone: metadata failed (Fail mode)")),
            _ => Ok(()),
        }
    }

    /// Waits until region `r` is hydrated (`Claim::Hydrated`) or claims it.
    fn claim(&self, r: u64) -> Result<Claim> {
        let mut st = self.lock();
        loop {
            self.check_mode(&st)?;
            if st.md.is_hydrated(r) {
                return Ok(Claim::Hydrated);
            }
            if !st.hydrating.contains(&r) {
                st.hydrating.insert(r);
                return Ok(Claim::Mine);
            }
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Ends claims on `regions`, marking them hydrated if `done`.
    fn release(&self, regions: &[u64], done: bool) {
        let mut st = self.lock();
        for &r in regions {
            if done {
                st.md.set_hydrated(r);
            }
            st.hydrating.remove(&r);
        }
        drop(st);
        self.cond.notify_all();
    }

    /// Copies sectors `[start, end)` from the source to the destination:
    /// inside the kernel between plain files, otherwise piece by piece as
    /// the source hands them over.
    fn copy(&self, start: u64, end: u64) -> Result<()> {
        let (src, dst) = (&*self.source.dev, &*self.dest.dev);
        if ulvm_blockdev::copy_in_kernel(src, Sectors(start), dst, Sectors(start), Sectors(end - start))? {
            return Ok(());
        }
        src.read_pieces(Sectors(start), Sectors(end - start), &mut |at, data| dst.write(at, data))
    }

    /// A commit that does the slow part, flushing what the destination
    /// already holds, without the state lock; the commit itself then only
    /// flushes what was copied meanwhile.
    fn commit_unlocked(&self) -> Result<()> {
        self.dest.dev.flush()?;
        let mut st = self.lock();
        self.commit(&mut st)
    }

    /// Makes region `r` hydrated by copying it (or waiting for whoever is).
    fn hydrate(&self, r: u64) -> Result<()> {
        if let Claim::Mine = self.claim(r)? {
            {
                let st = self.lock();
                if st.mode != Mode::Rw {
                    drop(st);
                    self.release(&[r], false);
                    return Err(io_error("clone: read-only (metadata failed): cannot hydrate"));
                }
            }
            let (s, e) = self.span(r);
            let res = self.copy(s, e);
            self.release(&[r], res.is_ok());
            res?;
        }
        Ok(())
    }

    /// Commits the metadata if it changed (flushing the destination
    /// first); on failure drops to read-only with the last commit, or to
    /// Fail if even that cannot be read.
    fn commit(&self, st: &mut State) -> Result<()> {
        if st.mode != Mode::Rw || !st.md.changed() {
            return Ok(());
        }
        match st.md.commit(&*self.dest.dev) {
            Ok(()) => {
                st.last_commit = Instant::now();
                if st.md.all_hydrated() && !st.done_raised {
                    st.done_raised = true;
                    self.events.raise();
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(clone = ?self, "metadata commit failed: {e}; switching to read-only");
                match Metadata::open(self.metadata.dev.clone(), self.region_size, self.len.0) {
                    Ok(md) => {
                        st.md = md;
                        st.mode = Mode::Ro;
                    }
                    Err(e2) => {
                        tracing::error!(clone = ?self, "reloading the metadata failed: {e2}; failing all I/O");
                        st.mode = Mode::Fail;
                    }
                }
                self.cond.notify_all();
                Err(Error::new(ErrorKind::Io, format!("clone: metadata commit failed: {e}")))
            }
        }
    }

    /// `hydrated/total` regions, and the rate in regions per second since
    /// hydration last (re)started.
    pub fn progress(&self) -> (u64, u64, f64) {
        let st = self.lock();
        let secs = st.rate_since.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { (st.md.hydrated() - st.rate_base.min(st.md.hydrated())) as f64 / secs } else { 0.0 };
        (st.md.hydrated(), st.md.nr_regions(), rate)
    }

    /// Picks the next run of unhydrated regions to copy and claims it: up
    /// to `hydration_batch_size` contiguous regions from the rotating
    /// cursor, within what `hydration_threshold` leaves (it bounds the
    /// regions being hydrated at once, as in the kernel), and no longer
    /// than `limit` regions.
    fn pick_run(&self, st: &mut State, limit: u64) -> Option<Vec<u64>> {
        let budget = (st.threshold as u64).saturating_sub(st.hydrating.len() as u64);
        let max = budget.min(st.batch as u64).min(limit);
        if max == 0 {
            return None;
        }
        let n = self.nr_regions();
        let mut from = st.cursor;
        let mut wrapped = false;
        let first = loop {
            let next = st.md.next_unhydrated(from)?;
            if next < from {
                if wrapped {
                    return None;
                }
                wrapped = true;
            }
            if !st.hydrating.contains(&next) {
                break next;
            }
            // Being hydrated by a write or another worker: look past it.
            if next + 1 >= n {
                if wrapped {
                    return None;
                }
                wrapped = true;
            }
            from = (next + 1) % n;
        };
        let mut run = vec![first];
        let mut r = first + 1;
        while (run.len() as u64) < max && r < n && !st.md.is_hydrated(r) && !st.hydrating.contains(&r) {
            run.push(r);
            r += 1;
        }
        st.hydrating.extend(run.iter().copied());
        st.cursor = r % n;
        Some(run)
    }

    /// One background copy worker: copies runs until the step's slice is
    /// over (after one run at least), there is nothing left to pick,
    /// hydration is stopped, or the pace the step started with changes.
    /// At [`Pace::Share`] (the only worker then) runs are cut to the
    /// throttle's piece and each is followed by its rest. Returns how many
    /// runs it copied.
    fn hydrate_until(&self, until: Instant, pace: Pace) -> Result<u32> {
        let limit = match pace {
            Pace::Full => u64::MAX,
            Pace::Share { piece_bytes } => (piece_bytes / Sectors(self.region_size).bytes().0).max(1),
        };
        let mut copied = 0;
        while !self.stopping.load(Ordering::SeqCst) {
            if copied > 0 && self.throttle.pace() != pace {
                break;
            }
            let run = {
                let mut st = self.lock();
                if st.mode != Mode::Rw || !st.enabled {
                    break;
                }
                match self.pick_run(&mut st, limit) {
                    Some(run) => run,
                    None => break,
                }
            };
            let (s, _) = self.span(run[0]);
            let (_, e) = self.span(*run.last().expect("non-empty run"));
            let t0 = Instant::now();
            let r = self.copy(s, e);
            self.release(&run, r.is_ok());
            r?;
            self.wrote_behind(s, e, pace);
            copied += 1;
            if pace != Pace::Full {
                self.throttle.rest_after(t0.elapsed());
            }
            if Instant::now() >= until {
                break;
            }
        }
        Ok(copied)
    }

    /// Starts the write-back of a background copy, and finishes that of
    /// the oldest ones beyond [`WRITEBACK_WINDOW`]. While users are active
    /// ([`Pace::Share`]) the copy's write-back is waited for at once, so
    /// that the rest after it covers the disk time too, and the copy stays
    /// cached for the users' reads. Hints only: the data's durability still
    /// comes from the flush in each commit.
    fn wrote_behind(&self, s: u64, e: u64, pace: Pace) {
        let dest = &*self.dest.dev;
        if pace != Pace::Full {
            let _ = dest.writeback(Sectors(s), Sectors(e - s), Writeback::Settle);
            return;
        }
        let _ = dest.writeback(Sectors(s), Sectors(e - s), Writeback::Start);
        let old: Vec<(u64, u64)> = {
            let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
            w.0.push_back((s, e));
            w.1 += e - s;
            let mut old = Vec::new();
            while w.1 > WRITEBACK_WINDOW {
                let Some((s, e)) = w.0.pop_front() else { break };
                w.1 -= e - s;
                old.push((s, e));
            }
            old
        };
        for (s, e) in old {
            let _ = dest.writeback(Sectors(s), Sectors(e - s), Writeback::Finish);
        }
    }
}

impl Target for CloneTarget {
    fn kind(&self) -> &'static TargetKind {
        &KIND
    }

    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        {
            let st = self.lock();
            self.check_mode(&st)?;
        }
        for r in self.regions(at, len) {
            let (s, e) = self.span(r);
            let (s, e) = (s.max(at.0), e.min((at + len).0));
            let piece = &mut buf[byte_range(Sectors(s) - at..Sectors(e) - at)];
            let hydrated = self.lock().md.is_hydrated(r);
            if hydrated {
                self.dest.dev.read(Sectors(s), piece)?;
            } else if self.hydrate_on_read && self.lock().mode == Mode::Rw {
                self.hydrate(r)?;
                self.dest.dev.read(Sectors(s), piece)?;
            } else {
                self.source.dev.read(Sectors(s), piece)?;
            }
        }
        Ok(())
    }

    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        let mut whole = Vec::new();
        let mut result = Ok(());
        for r in self.regions(at, len) {
            let (s, e) = self.span(r);
            let covered = at.0 <= s && e <= (at + len).0;
            let step = if covered {
                // A whole-region write needs no copy: claim the region, and
                // mark it hydrated once the write is done.
                match self.claim(r) {
                    Ok(Claim::Mine) => {
                        whole.push(r);
                        if self.lock().mode != Mode::Rw {
                            Err(io_error("clone: read-only (metadata failed): cannot write unhydrated regions"))
                        } else {
                            Ok(())
                        }
                    }
                    Ok(Claim::Hydrated) => Ok(()),
                    Err(e) => Err(e),
                }
            } else {
                self.hydrate(r)
            };
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        let result = result.and_then(|_| self.dest.dev.write(at, buf));
        for &r in &whole {
            self.release(&[r], result.is_ok());
        }
        result
    }

    fn flush(&self) -> Result<()> {
        let changed = {
            let st = self.lock();
            self.check_mode(&st)?;
            st.md.changed()
        };
        if changed {
            self.commit_unlocked()?;
        }
        self.dest.dev.flush()
    }

    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        let end = at.0 + len.0;
        let rs = at.0.div_ceil(self.region_size);
        // The last region may be short: a discard to the end covers it.
        let re = if end >= self.len.0 { self.nr_regions() } else { end / self.region_size };
        if rs >= re {
            return Ok(());
        }
        let mut claimed = Vec::new();
        {
            let st = self.lock();
            self.check_mode(&st)?;
            let all = (rs..re).all(|r| st.md.is_hydrated(r));
            if !all && st.mode != Mode::Rw {
                return Ok(());
            }
        }
        for r in rs..re {
            if let Claim::Mine = self.claim(r)? {
                claimed.push(r);
            }
        }
        // Discarded regions count as hydrated: nothing of the source is wanted there.
        for r in &claimed {
            self.release(&[*r], true);
        }
        if self.discard_passdown {
            let (s, _) = self.span(rs);
            let (_, e) = self.span(re - 1);
            match self.dest.dev.discard(Sectors(s), Sectors(e - s)) {
                Err(e) if e.kind() == ErrorKind::Unsupported => {}
                r => r?,
            }
        }
        Ok(())
    }

    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        // Through the write path, so regions hydrate as for any write.
        let piece = (1u64 << 11).max(self.region_size);
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
        format!("{} {} {} {}", self.metadata.num, self.dest.num, self.source.num, self.rest.join(" "))
    }

    fn status(&self) -> TargetStatus {
        let mut st = self.lock();
        if st.mode == Mode::Fail {
            return TargetStatus::Clone(CloneStatus::Fail);
        }
        let _ = self.commit(&mut st);
        if st.mode == Mode::Fail {
            return TargetStatus::Clone(CloneStatus::Fail);
        }
        let (metadata_used, metadata_total) = st.md.usage();
        TargetStatus::Clone(CloneStatus::Active {
            metadata_block_size: Sectors(super::format::BLOCK_SECTORS),
            metadata_used,
            metadata_total,
            region_size: Sectors(self.region_size),
            hydrated: st.md.hydrated(),
            regions: st.md.nr_regions(),
            hydrating: st.hydrating.len() as u64,
            features: CloneFeatures {
                no_hydration: !st.enabled,
                no_discard_passdown: !self.discard_passdown,
                hydrate_on_read: self.hydrate_on_read,
            },
            hydration_threshold: st.threshold,
            hydration_batch_size: st.batch,
            mode: if st.mode == Mode::Rw { CloneMode::ReadWrite } else { CloneMode::ReadOnly },
        })
    }

    fn message(&self, args: &[&str]) -> std::result::Result<String, TargetError> {
        let mut st = self.lock();
        let cmd = args.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
        let num = |what: &str| -> std::result::Result<u32, TargetError> {
            match args {
                [_, v] => v.parse().map_err(|_| TargetError::InvalidArgument(format!("clone: Invalid {what}: {v}"))),
                _ => Err(TargetError::InvalidArgument(format!("clone: {what} needs one argument"))),
            }
        };
        match cmd.as_str() {
            "enable_hydration" if args.len() == 1 => {
                if !st.enabled {
                    st.enabled = true;
                    st.rate_since = Instant::now();
                    st.rate_base = st.md.hydrated();
                }
            }
            "disable_hydration" if args.len() == 1 => st.enabled = false,
            "hydration_threshold" => st.threshold = num("hydration_threshold")?,
            "hydration_batch_size" => st.batch = num("hydration_batch_size")?.max(1),
            // ulvm only: hydrated and total regions and the rate.
            "progress" if args.len() == 1 => {
                drop(st);
                let (h, t, rate) = self.progress();
                let mib = rate * Sectors(self.region_size).bytes().0 as f64 / (1u64 << 20) as f64;
                return Ok(format!("{h}/{t} regions hydrated, {rate:.1} regions/s ({mib:.1} MiB/s)"));
            }
            _ => return Err(TargetError::Unsupported(format!("clone: Unsupported message '{}'", args.join(" ")))),
        }
        drop(st);
        self.cond.notify_all();
        Ok(String::new())
    }

    /// A table loaded while an older table of the same clone was live read
    /// the metadata before that one's last commit (at its suspend): read
    /// it again now, unless this table already did work.
    fn preresume(&self) -> std::result::Result<(), TargetError> {
        let mut st = self.lock();
        if st.mode == Mode::Rw && !st.md.changed() && st.hydrating.is_empty() {
            st.md = Metadata::open(self.metadata.dev.clone(), self.region_size, self.len.0)
                .map_err(|source| TargetError::Io { what: "clone: Failed to read metadata", source })?;
        }
        Ok(())
    }

    fn presuspend(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn resume(&self) {
        self.stopping.store(false, Ordering::SeqCst);
    }

    fn postsuspend(&self) {
        let mut st = self.lock();
        let _ = self.commit(&mut st);
    }

    fn background_step(&self) -> Option<Step> {
        let mut st = self.lock();
        match st.mode {
            Mode::Fail => return Some(Step::Failed),
            Mode::Ro => return Some(Step::Done),
            Mode::Rw => {}
        }
        if st.md.all_hydrated() {
            let _ = self.commit(&mut st);
            return Some(if st.mode == Mode::Rw && !st.md.changed() { Step::Done } else { Step::Failed });
        }
        // The periodic commit runs beside this step's copies: its flush of
        // the destination is the slow part, and copying goes on meanwhile.
        let commit_due = st.md.changed() && st.last_commit.elapsed() >= COMMIT_PERIOD;
        if commit_due {
            st.last_commit = Instant::now();
        }
        if !st.enabled || st.threshold == 0 {
            if commit_due {
                drop(st);
                let _ = self.commit_unlocked();
                st = self.lock();
            }
            let _ = self.cond.wait_timeout(st, Duration::from_millis(100));
            return Some(Step::Progress);
        }
        // Users active: one worker, small runs, rests (the throttle's share).
        let pace = self.throttle.pace();
        let workers = match pace {
            Pace::Full => st.threshold.div_ceil(st.batch).clamp(1, MAX_WORKERS),
            Pace::Share { .. } => 1,
        };
        drop(st);
        let until = Instant::now() + self.slice;
        let (copied, failed) = std::thread::scope(|sc| {
            let commit = commit_due.then(|| sc.spawn(|| self.commit_unlocked()));
            let hs: Vec<_> = (1..workers).map(|_| sc.spawn(|| self.hydrate_until(until, pace))).collect();
            let mut results = vec![self.hydrate_until(until, pace)];
            results.extend(
                hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(io_error("clone: copy worker panicked")))),
            );
            if let Some(c) = commit {
                let _ = c.join();
            }
            let copied: u32 = results.iter().map(|r| *r.as_ref().unwrap_or(&0)).sum();
            (copied, results.iter().any(|r| r.is_err()))
        });
        if failed {
            tracing::warn!(clone = ?self, "hydration copy failed; retrying later");
            std::thread::sleep(Duration::from_millis(100));
        } else if copied == 0 {
            // Everything left is being hydrated by writes (or the step was
            // cut short): wait for them.
            let st = self.lock();
            let _ = self.cond.wait_timeout(st, Duration::from_millis(10));
        }
        Some(Step::Progress)
    }
}
