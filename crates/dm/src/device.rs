//! A mapped device: a name, a number, a live table and an inactive one,
//! and the suspend/resume life cycle.
//!
//! I/O enters through [`MappedDevice`]'s [`BlockDevice`] implementation:
//! it waits while the device is suspended, counts itself in flight, and is
//! split at target boundaries. Suspend stops new I/O, stops background
//! work, and waits for in-flight I/O to drain; resume swaps in the
//! inactive table if there is one.

use crate::table::DevNum;
use crate::target::{EventSink, Step, Target, TargetError};
use crate::throttle::Throttle;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use ulvm_blockdev::{
    byte_range, check_io, check_range, push_extent, BlockDevice, Error, ErrorKind, Extent, Result, Sectors,
};

/// One target of a table, placed at its start sector.
pub struct TableEntry {
    pub start: Sectors,
    pub len: Sectors,
    pub target: Box<dyn Target>,
}

/// A constructed table, ready to go live.
pub struct LiveTable {
    pub entries: Vec<TableEntry>,
    pub read_only: bool,
}

impl LiveTable {
    pub fn size(&self) -> Sectors {
        self.entries.last().map(|e| e.start + e.len).unwrap_or_default()
    }

    /// Calls `f(entry, offset in target, range in request)` per piece.
    fn split(
        &self,
        at: Sectors,
        len: Sectors,
        mut f: impl FnMut(&TableEntry, Sectors, std::ops::Range<Sectors>) -> Result<()>,
    ) -> Result<()> {
        let mut done = Sectors(0);
        while done < len {
            let s = at + done;
            let i = self.entries.partition_point(|e| e.start + e.len <= s);
            let e = &self.entries[i];
            let rel = s - e.start;
            let n = (e.len - rel).min(len - done);
            f(e, rel, done..done + n)?;
            done += n;
        }
        Ok(())
    }
}

struct Worker {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

struct DevState {
    live: Option<Arc<LiveTable>>,
    inactive: Option<Arc<LiveTable>>,
    suspended: bool,
    removed: bool,
    inflight: u32,
    /// Someone waits in `drain` for `inflight` to reach zero.
    draining: bool,
    worker: Option<Worker>,
}

/// How background work (merges) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// A thread per device with work, started on resume.
    Threads,
    /// Only when [`MappedDevice::step_background`] is called (tests).
    Manual,
}

/// What `dmsetup info` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    pub uuid: String,
    pub num: DevNum,
    pub suspended: bool,
    pub read_only: bool,
    pub live_table: bool,
    pub inactive_table: bool,
    pub open_count: u32,
    pub event_nr: u32,
    pub target_count: usize,
}

/// How a new device is made ([`crate::registry::Registry::create_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// The device refuses writes.
    pub read_only: bool,
    /// Every regular file and block device the device's tables name (now
    /// and in later loads) is opened with O_DIRECT, so that no write of
    /// the device waits in the page cache: what a shared VG needs.
    pub direct_io: bool,
}

pub struct MappedDevice {
    num: DevNum,
    name: RwLock<String>,
    uuid: RwLock<String>,
    read_only: AtomicBool,
    /// Size of the live table in sectors, kept outside the state lock so
    /// the I/O path's bounds checks take no lock.
    size: std::sync::atomic::AtomicU64,
    state: Mutex<DevState>,
    cond: Condvar,
    pub(crate) events: Arc<EventSink>,
    pub(crate) opens: Arc<AtomicU32>,
    /// User I/O as background jobs see it: every request counts.
    pub(crate) throttle: Arc<Throttle>,
    background: Background,
    /// Every file and block device its tables name is opened with
    /// O_DIRECT (devices of shared VGs; see [`crate::registry`]).
    direct_io: bool,
}

impl fmt::Debug for MappedDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dm:{}", self.name())
    }
}

impl MappedDevice {
    pub(crate) fn new(num: DevNum, name: &str, uuid: &str, opts: DeviceOptions, background: Background) -> Self {
        let DeviceOptions { read_only, direct_io } = opts;
        MappedDevice {
            num,
            name: RwLock::new(name.to_string()),
            uuid: RwLock::new(uuid.to_string()),
            read_only: AtomicBool::new(read_only),
            size: std::sync::atomic::AtomicU64::new(0),
            state: Mutex::new(DevState {
                live: None,
                inactive: None,
                suspended: false,
                removed: false,
                inflight: 0,
                draining: false,
                worker: None,
            }),
            cond: Condvar::new(),
            events: Arc::new(EventSink::default()),
            opens: Arc::new(AtomicU32::new(0)),
            throttle: Arc::new(Throttle::default()),
            background,
            direct_io,
        }
    }

    /// Whether the files and block devices under this device are opened
    /// with O_DIRECT, for every table it loads.
    pub fn direct_io(&self) -> bool {
        self.direct_io
    }

    fn lock(&self) -> MutexGuard<'_, DevState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn num(&self) -> DevNum {
        self.num
    }
    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(crate) fn set_name(&self, n: &str) {
        *self.name.write().unwrap_or_else(|e| e.into_inner()) = n.to_string();
    }
    pub fn uuid(&self) -> String {
        self.uuid.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(crate) fn set_uuid(&self, u: &str) {
        *self.uuid.write().unwrap_or_else(|e| e.into_inner()) = u.to_string();
    }
    pub fn events(&self) -> &Arc<EventSink> {
        &self.events
    }
    /// The user-I/O signal the background work of this device's targets
    /// yields to.
    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.throttle
    }

    /// Counts an open (an export, a holder) until the handle is dropped.
    pub fn open(&self) -> crate::target::OpenHold {
        crate::target::OpenHold::new(self.opens.clone())
    }

    pub fn info(&self) -> DeviceInfo {
        let st = self.lock();
        DeviceInfo {
            name: self.name(),
            uuid: self.uuid(),
            num: self.num,
            suspended: st.suspended,
            read_only: self.read_only.load(Ordering::SeqCst) || st.live.as_ref().is_some_and(|t| t.read_only),
            live_table: st.live.is_some(),
            inactive_table: st.inactive.is_some(),
            open_count: self.opens.load(Ordering::SeqCst),
            event_nr: self.events.current(),
            target_count: st.live.as_ref().map_or(0, |t| t.entries.len()),
        }
    }

    pub fn live_table(&self) -> Option<Arc<LiveTable>> {
        self.lock().live.clone()
    }
    pub fn inactive_table(&self) -> Option<Arc<LiveTable>> {
        self.lock().inactive.clone()
    }

    pub(crate) fn set_inactive(&self, t: Option<LiveTable>) {
        let old = {
            let mut st = self.lock();
            std::mem::replace(&mut st.inactive, t.map(Arc::new))
        };
        drop(old);
    }

    /// Stops new I/O and background work and waits for in-flight I/O.
    pub fn suspend(&self) {
        let (table, worker) = {
            let mut st = self.lock();
            if st.suspended {
                return;
            }
            st.suspended = true;
            (st.live.clone(), st.worker.take())
        };
        if let Some(t) = &table {
            t.entries.iter().for_each(|e| e.target.presuspend());
        }
        stop_worker(worker);
        drop(self.drain());
        if let Some(t) = &table {
            t.entries.iter().for_each(|e| e.target.postsuspend());
        }
    }

    /// Swaps in the inactive table (if any) and lets I/O flow again. If the
    /// new table refuses to go live the device stays suspended with its
    /// old table and the inactive table is kept.
    pub fn resume(self: &Arc<Self>) -> std::result::Result<(), TargetError> {
        let mut st = self.lock();
        if !st.suspended && st.inactive.is_none() {
            return Ok(());
        }
        if st.inactive.is_some() && !st.suspended {
            drop(st);
            self.suspend();
            st = self.lock();
        }
        let old = if let Some(new) = st.inactive.clone() {
            for e in &new.entries {
                e.target.preresume()?;
            }
            st.inactive = None;
            self.size.store(new.size().0, Ordering::SeqCst);
            st.live.replace(new)
        } else {
            if let Some(t) = &st.live {
                for e in &t.entries {
                    e.target.preresume()?;
                }
            }
            None
        };
        let live = st.live.clone();
        drop(st);
        drop(old);
        if let Some(t) = &live {
            t.entries.iter().for_each(|e| e.target.resume());
        }
        let mut st = self.lock();
        st.suspended = false;
        if self.background == Background::Threads && live.as_ref().is_some_and(|t| has_background(t)) {
            st.worker = Some(spawn_worker(self.clone(), live.clone().expect("checked")));
        }
        drop(st);
        self.cond.notify_all();
        Ok(())
    }

    /// Runs one background step of every target (tests, or a caller that
    /// drives work itself). `None` when there is no background work.
    pub fn step_background(&self) -> Option<Step> {
        let t = self.live_table()?;
        step_table(&t)
    }

    /// Marks the device gone: waiting and future I/O fails.
    pub(crate) fn mark_removed(&self) -> (Option<Arc<LiveTable>>, Option<Arc<LiveTable>>) {
        let worker = {
            let mut st = self.lock();
            st.removed = true;
            st.worker.take()
        };
        stop_worker(worker);
        let mut st = self.drain();
        let tables = (st.live.take(), st.inactive.take());
        self.size.store(0, Ordering::SeqCst);
        drop(st);
        self.cond.notify_all();
        tables
    }

    /// Waits until no I/O is in flight (new I/O must already be held off).
    fn drain(&self) -> MutexGuard<'_, DevState> {
        let mut st = self.lock();
        while st.inflight > 0 {
            st.draining = true;
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.draining = false;
        st
    }

    /// Waits out a suspension and counts the caller in flight.
    fn enter(&self) -> Result<Arc<LiveTable>> {
        let mut st = self.lock();
        loop {
            if st.removed {
                return Err(Error::new(ErrorKind::NoDevice, format!("device {} was removed", self.name())));
            }
            if !st.suspended {
                break;
            }
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let Some(t) = st.live.clone() else {
            return Err(Error::new(ErrorKind::NoDevice, format!("device {} has no table", self.name())));
        };
        st.inflight += 1;
        Ok(t)
    }

    fn leave(&self) {
        let mut st = self.lock();
        st.inflight -= 1;
        // Only a drain waits for idleness: no wake-up on the common path.
        let wake = st.inflight == 0 && st.draining;
        drop(st);
        if wake {
            self.cond.notify_all();
        }
    }

    fn with_io<T>(&self, f: impl FnOnce(&LiveTable) -> Result<T>) -> Result<T> {
        let t = self.enter()?;
        let user = self.throttle.user();
        let r = f(&t);
        drop(user);
        // The table goes before the device counts the I/O done: a suspend
        // that drained it may swap the table and remove a device the old
        // one held (a finished pvmove's), which must not be open then.
        drop(t);
        self.leave();
        r
    }

    fn check_writable(&self, t: &LiveTable) -> Result<()> {
        if self.read_only.load(Ordering::SeqCst) || t.read_only {
            return Err(Error::new(ErrorKind::ReadOnly, format!("device {} is read-only", self.name())));
        }
        Ok(())
    }
}

/// Stops a background worker after its current step.
fn stop_worker(worker: Option<Worker>) {
    if let Some(w) = worker {
        w.stop.store(true, Ordering::SeqCst);
        let _ = w.handle.join();
    }
}

fn has_background(t: &LiveTable) -> bool {
    t.entries.iter().any(|e| e.target.kind().caps.background)
}

fn step_table(t: &LiveTable) -> Option<Step> {
    let mut any = None;
    for e in &t.entries {
        match e.target.background_step() {
            Some(Step::Progress) => any = Some(Step::Progress),
            Some(s) if any.is_none() => any = Some(s),
            _ => {}
        }
    }
    any
}

fn spawn_worker(dev: Arc<MappedDevice>, table: Arc<LiveTable>) -> Worker {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::Builder::new()
        .name(format!("dm-bg-{}", dev.num))
        .spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match step_table(&table) {
                    Some(Step::Progress) => continue,
                    _ => break,
                }
            }
        })
        .expect("spawn background worker");
    Worker { stop, handle }
}

impl BlockDevice for MappedDevice {
    fn size(&self) -> Sectors {
        Sectors(self.size.load(Ordering::SeqCst))
    }
    fn read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst) || self.lock().live.as_ref().is_some_and(|t| t.read_only)
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.with_io(|t| {
            check_io(self, "read", at, buf.len() as u64)?;
            t.split(at, Sectors::of_buf(buf), |e, rel, r| e.target.read(rel, &mut buf[byte_range(r)]))
        })
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.with_io(|t| {
            self.check_writable(t)?;
            check_io(self, "write", at, buf.len() as u64)?;
            t.split(at, Sectors::of_buf(buf), |e, rel, r| e.target.write(rel, &buf[byte_range(r)]))
        })
    }
    fn flush(&self) -> Result<()> {
        self.with_io(|t| t.entries.iter().try_for_each(|e| e.target.flush()))
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.with_io(|t| {
            self.check_writable(t)?;
            check_range(self, "discard", at, len)?;
            t.split(at, len, |e, rel, r| e.target.discard(rel, r.end - r.start))
        })
    }
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<Extent>> {
        self.with_io(|t| {
            check_range(self, "read", at, len)?;
            let mut out = Vec::new();
            t.split(at, len, |e, rel, r| {
                for x in e.target.allocation(rel, r.end - r.start)? {
                    push_extent(&mut out, x);
                }
                Ok(())
            })?;
            Ok(out)
        })
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.with_io(|t| {
            self.check_writable(t)?;
            check_range(self, "write-zeroes", at, len)?;
            t.split(at, len, |e, rel, r| e.target.write_zeroes(rel, r.end - r.start))
        })
    }
    /// Passed to each target (a `linear` one hands it on to its device),
    /// so a clone whose destination is an LV still writes back as it goes.
    fn writeback(&self, at: Sectors, len: Sectors, how: ulvm_blockdev::Writeback) -> Result<()> {
        self.with_io(|t| {
            check_range(self, "write-back", at, len)?;
            t.split(at, len, |e, rel, r| e.target.writeback(rel, r.end - r.start, how))
        })
    }
}
