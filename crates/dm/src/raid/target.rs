//! The `raid` target for raid1 (dm-raid over md raid1, docs/raid.md).
//!
//! - Slots are (metadata, data) pairs; a slot's leg is in sync (`A`),
//!   being recovered or resynchronised (`a`), dead (`D`) or absent (`-`).
//! - Writes set their regions' bits in the write-intent bitmap and make
//!   it durable on every live metadata device before any data goes out
//!   (one bitmap write covers every writer waiting for it), then go to
//!   every in-sync leg and to recovering legs below their recovery
//!   point. Bits clear lazily ([`super::bitmap`]) and never while the set
//!   is degraded, so a leg that returns is recovered from the bitmap.
//! - Reads go to the in-sync leg with the fewest reads in flight (round
//!   robin among equals; `write_mostly` legs only when nothing else is
//!   left); regions not yet resynchronised are read from the first
//!   in-sync leg, which resync copies from. A failed read is retried on
//!   another leg.
//! - A leg whose I/O fails is marked dead, its bit set in the surviving
//!   superblocks' `failed_devices` (events bumped) before the request
//!   that saw the failure completes. The last in-sync leg is never
//!   failed: its errors go to the user, as md's raid1 does.
//! - Superblocks are analysed as the kernel's `analyse_superblocks`:
//!   a device without the magic is new (all new: a new set, resynced
//!   unless `nosync`; else that leg is rebuilt fully, which needs
//!   `rebuild`); the freshest superblock (highest events) decides which
//!   slots failed; a failed slot that is back is recovered from the
//!   bitmap when its own superblock says it was in sync and its events
//!   reach the bitmap's `events_cleared`, else fully.
//! - Background work, one region per step: check/repair when asked,
//!   recovery of returning legs, then resync (a new set from
//!   `array_resync_offset`, regions whose bits were set after a crash).
//!   Progress is saved in the superblocks (after the legs are flushed) at
//!   least every second and at the end, so it resumes after a restart.
//!
//! Departures from the kernel: `frozen` stays frozen until `idle`,
//! `resync` or `recover` (the kernel's 1.15 thaws at once and answers
//! EINVAL); `resync` and `recover` only thaw and never answer busy;
//! `max_write_behind` is kept in the bitmap (an existing bitmap's wins over
//! the table's, as md's, and `dmsetup table` shows it) but writes to
//! `write_mostly` legs are not acknowledged early; a non-zero
//! `data_offset` (reshape space) is refused.

use super::bitmap::WriteIntent;
use super::format::{
    decode_bitmap, encode_bitmap, meta_dev_min, BitmapSuper, Bits, FormatError, SbState, Superblock, BITMAP_OFFSET,
    WRITE_BEHIND_MAX,
};
use crate::device::Background;
use crate::kind::{BuildCtx, Caps, TargetKind};
use crate::registry::DmResult;
use crate::status::TargetStatus;
use crate::table::{DevRef, TargetArgs};
use crate::target::{io_error, EventSink, Step, Target, TargetError, Underlying};
use crate::throttle::{Pace, Throttle};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use ulvm_blockdev::{byte_range, BlockDevice, Bytes, Error, ErrorKind, Result, Sectors};
use ulvm_dm_table::{RaidArgs, RaidHealth, RaidMessage, RaidStatus, RaidSync, SyncAction};

/// md's default daemon sleep when the table gives none.
pub const DEFAULT_DAEMON_SLEEP: Duration = Duration::from_secs(5);

/// Progress is written to the superblocks at least this often.
const CHECKPOINT_PERIOD: Duration = Duration::from_secs(1);

/// The share of the wall time resync and recovery take while the set's
/// users are active (as the mirror's resync, md's `speed_limit_min`).
const SYNC_SHARE_PERCENT: u32 = 10;

/// `check` compares in pieces of this many sectors and counts a whole
/// piece per difference (md's raid1 compares 64 KiB resync buffers).
const CHECK_PIECE: Sectors = Sectors(128);

/// While idle with a worker thread, a step waits at most this long for
/// work before returning (so the worker notices messages and stops).
const IDLE_WAIT: Duration = Duration::from_millis(100);

pub static KIND: TargetKind = TargetKind {
    name: "raid",
    version: [1, 15, 1],
    caps: Caps { background: true, origin: false, snapshot: false },
    build: build_raid,
};

fn build_raid(cx: &BuildCtx<'_>) -> DmResult<Box<dyn Target>> {
    let TargetArgs::Raid(a) = &cx.line.target else { return Err(cx.wrong_args(&KIND)) };
    let slots = a
        .devs
        .iter()
        .map(|d| {
            Ok(Slot {
                meta: d.meta.as_ref().map(|r| cx.resolve(r)).transpose()?,
                data: d.data.as_ref().map(|r| cx.resolve(r)).transpose()?,
            })
        })
        .collect::<DmResult<Vec<_>>>()?;
    let opts = RaidOptions { threads: cx.config.background == Background::Threads };
    let t = RaidTarget::new(a, slots, cx.line.len, cx.events.clone(), opts)
        .map_err(|e| cx.fail(e))?
        .with_throttle(cx.throttle.clone());
    Ok(Box::new(t))
}

/// The devices of one slot, opened.
#[derive(Debug, Clone)]
pub struct Slot {
    pub meta: Option<Underlying>,
    pub data: Option<Underlying>,
}

/// How the target is driven.
#[derive(Debug, Clone, Copy, Default)]
pub struct RaidOptions {
    /// A worker thread steps the background work: an idle step waits for
    /// work instead of returning [`Step::Done`], so messages that start a
    /// check find a worker.
    pub threads: bool,
}

/// One leg's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// No data device in the slot.
    Absent,
    /// Holds the set's data.
    InSync,
    /// Being recovered: regions below `pos` are done. `partial`: only
    /// regions whose bit is set are copied (a returning leg).
    Recovering { pos: u64, partial: bool },
    /// Failed.
    Dead,
}

struct Leg {
    meta: Option<Underlying>,
    data: Option<Underlying>,
    write_mostly: bool,
    reads: AtomicU32,
}

/// A check or repair in progress.
#[derive(Debug, Clone, Copy)]
struct Check {
    repair: bool,
    pos: u64,
}

struct State {
    /// Set by the first preresume: the superblocks are analysed and
    /// written.
    started: bool,
    legs: Vec<LegState>,
    events: u64,
    /// The first region not yet resynchronised (`None`: the set is).
    resync_pos: Option<u64>,
    /// Regions to resynchronise besides those from `resync_pos` (bits
    /// found set at activation).
    needed: Bits,
    intent: WriteIntent,
    bitmap_sb: BitmapSuper,
    /// A region being copied or checked: writes to it wait.
    busy: Option<u64>,
    frozen: bool,
    check: Option<Check>,
    /// The last finished sync action was `check` (its mismatches show).
    last_was_check: bool,
    mismatches: u64,
    last_sweep: Instant,
    last_checkpoint: Instant,
}

/// What analysing the superblocks found.
#[derive(Debug)]
struct Analysis {
    legs: Vec<LegState>,
    events: u64,
    resync_pos: Option<u64>,
    bits: Bits,
    bitmap_sb: BitmapSuper,
}

/// What one metadata device holds.
struct MetaImage {
    sb: SbState,
    /// The bitmap superblock and bits, if the superblock is valid.
    bitmap: Option<std::result::Result<(BitmapSuper, Bits), FormatError>>,
}

pub struct RaidTarget {
    args: RaidArgs,
    legs: Vec<Leg>,
    len: Sectors,
    region: Sectors,
    nr_regions: u64,
    daemon_sleep: Duration,
    opts: RaidOptions,
    events: Arc<EventSink>,
    throttle: Arc<Throttle>,
    rr: AtomicU64,
    /// Set from presuspend to resume: background work stops.
    stopping: AtomicBool,
    /// Serialises metadata writes (bitmap and superblocks), so images
    /// reach the disks in the order they were taken.
    meta_io: Mutex<()>,
    state: Mutex<State>,
    /// Writers and the sync work wait here for each other's regions.
    cond: Condvar,
    /// An idle worker waits here for work (a message, a revived leg, a
    /// suspend); writes do not wake it.
    worker: Condvar,
}

impl std::fmt::Debug for RaidTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let legs: Vec<String> =
            self.legs.iter().map(|l| l.data.as_ref().map_or("-".into(), |d| d.num.to_string())).collect();
        write!(f, "raid1({})", legs.join(" "))
    }
}

impl RaidTarget {
    /// Builds the target over opened devices: checks their sizes and the
    /// superblocks (as the kernel's constructor does; they are read again
    /// when the table goes live).
    pub fn new(
        args: &RaidArgs,
        slots: Vec<Slot>,
        len: Sectors,
        events: Arc<EventSink>,
        opts: RaidOptions,
    ) -> std::result::Result<RaidTarget, String> {
        if args.data_offset.is_some_and(|d| d.0 != 0) {
            return Err("raid: data_offset (reshape space) is not supported by ulvm's raid1".into());
        }
        let region = args.effective_region_size(len);
        let nr_regions = len.0.div_ceil(region.0);
        for s in &slots {
            if let Some(d) = &s.data {
                if d.dev.size() < len {
                    return Err(format!("raid: data device {} too small: {} sectors, need {len}", d.num, d.dev.size()));
                }
            }
            if let Some(m) = &s.meta {
                let need = meta_dev_min(nr_regions);
                if m.dev.size().bytes() < need {
                    return Err(format!("raid: metadata device {} too small: need {} bytes", m.num, need.0));
                }
                if m.dev.logical_block_size() as usize > 4096 {
                    return Err("raid: superblock size of a logical block is no longer valid".into());
                }
            }
        }
        let legs = slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| Leg {
                meta: s.meta,
                data: s.data,
                write_mostly: args.write_mostly.contains(&i),
                reads: AtomicU32::new(0),
            })
            .collect::<Vec<_>>();
        let daemon_sleep = args.daemon_sleep.map_or(DEFAULT_DAEMON_SLEEP, Duration::from_millis);
        let now = Instant::now();
        let t = RaidTarget {
            args: args.clone(),
            len,
            region,
            nr_regions,
            daemon_sleep,
            opts,
            events,
            throttle: Arc::new(Throttle::default()),
            rr: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            meta_io: Mutex::new(()),
            state: Mutex::new(State {
                started: false,
                legs: vec![LegState::Absent; legs.len()],
                events: 0,
                resync_pos: None,
                needed: Bits::new(nr_regions),
                intent: WriteIntent::new(Bits::new(nr_regions)),
                bitmap_sb: BitmapSuper::new(region, len, 1),
                busy: None,
                frozen: false,
                check: None,
                last_was_check: false,
                mismatches: 0,
                last_sweep: now,
                last_checkpoint: now,
            }),
            legs,
            cond: Condvar::new(),
            worker: Condvar::new(),
        };
        t.analyse()?;
        Ok(t)
    }

    /// Yields background work to the users `throttle` counts (the device's).
    pub fn with_throttle(mut self, throttle: Arc<Throttle>) -> Self {
        self.throttle = throttle;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.cond.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    /// Regions touched by `[at, at+len)`.
    fn regions(&self, at: Sectors, len: Sectors) -> std::ops::Range<u64> {
        at.0 / self.region.0..(at + len).0.div_ceil(self.region.0)
    }

    /// Sectors of region `r`: `[start, end)`.
    fn span(&self, r: u64) -> (Sectors, Sectors) {
        let s = r * self.region.0;
        (Sectors(s), Sectors((s + self.region.0).min(self.len.0)))
    }

    fn daemon_sleep_secs(&self) -> u32 {
        (self.daemon_sleep.as_secs() as u32).max(1)
    }

    // ----- superblock analysis -----

    fn read_meta(&self, m: &Underlying) -> Result<MetaImage> {
        let bs = (m.dev.logical_block_size() as usize).max(512);
        let mut sb = vec![0u8; bs];
        m.dev.read(Sectors(0), &mut sb)?;
        let sb = Superblock::decode(&sb).map_err(|e| Error::new(ErrorKind::Invalid, e.0))?;
        let bitmap = match &sb {
            SbState::New => None,
            SbState::Valid(_) => {
                let at = BITMAP_OFFSET.sectors_floor();
                let mut head = vec![0u8; 512];
                m.dev.read(at, &mut head)?;
                Some(match BitmapSuper::decode(&head) {
                    Err(e) => Err(e),
                    Ok(bsb) => {
                        let regions = bsb.sync_size.0.div_ceil(bsb.region_size().0.max(1));
                        let len = super::format::bitmap_area_len(regions);
                        if Bytes(BITMAP_OFFSET.0 + len as u64) > m.dev.size().bytes() {
                            Err(FormatError(format!("bitmap of {regions} regions does not fit the metadata device")))
                        } else {
                            let mut area = vec![0u8; len];
                            m.dev.read(at, &mut area)?;
                            decode_bitmap(&area)
                        }
                    }
                })
            }
        };
        Ok(MetaImage { sb, bitmap })
    }

    /// Reads every slot's metadata and decides each leg's state, as the
    /// kernel's `analyse_superblocks` and `super_validate`.
    fn analyse(&self) -> std::result::Result<Analysis, String> {
        let n = self.legs.len();
        let force_new = self.args.sync == RaidSync::Sync;
        // Per slot: None = no metadata (or absent); Some(Err) = unreadable.
        let mut images: Vec<Option<std::result::Result<MetaImage, Error>>> = Vec::with_capacity(n);
        for l in &self.legs {
            match (&l.meta, &l.data) {
                (Some(m), Some(_)) => match self.read_meta(m) {
                    Err(e) if e.kind() == ErrorKind::Invalid => return Err(format!("raid: {}: {e}", m.num)),
                    r => images.push(Some(r)),
                },
                _ => images.push(None),
            }
        }
        let is_new = |i: usize| -> bool {
            force_new
                || self.args.rebuild.contains(&i)
                || matches!(&images[i], Some(Ok(MetaImage { sb: SbState::New, .. })))
        };
        let sb_of = |i: usize| -> Option<&Superblock> {
            match &images[i] {
                Some(Ok(MetaImage { sb: SbState::Valid(sb), .. })) if !is_new(i) => Some(sb),
                _ => None,
            }
        };
        // The freshest: the highest events, the first of equals.
        let mut freshest: Option<usize> = None;
        for i in 0..n {
            if let Some(sb) = sb_of(i) {
                if freshest.and_then(sb_of).is_none_or(|f| sb.events > f.events) {
                    freshest = Some(i);
                }
            }
        }
        let mut legs = vec![LegState::Absent; n];
        let regions = self.nr_regions;
        let mut bits = Bits::new(regions);
        let mut bitmap_sb = BitmapSuper::new(self.region, self.len, self.daemon_sleep_secs());
        // A new bitmap takes the table's limit (md: at most COUNTER_MAX).
        bitmap_sb.write_behind = self.args.max_write_behind.map_or(0, |w| w.min(u64::from(WRITE_BEHIND_MAX)) as u32);
        let Some(f) = freshest else {
            // A new set: every present leg holds "the data"; resync unless nosync.
            for (i, l) in self.legs.iter().enumerate() {
                legs[i] = match (&l.data, &images[i]) {
                    (None, _) => LegState::Absent,
                    (Some(_), Some(Err(_))) => LegState::Dead,
                    (Some(_), _) if self.args.rebuild.contains(&i) => LegState::Recovering { pos: 0, partial: false },
                    (Some(_), _) => LegState::InSync,
                };
            }
            if !legs.contains(&LegState::InSync) {
                return Err("raid: Insufficient redundancy to activate array".into());
            }
            let resync_pos = (self.args.sync != RaidSync::NoSync).then_some(0);
            return Ok(Analysis { legs, events: 0, resync_pos, bits, bitmap_sb });
        };
        let fsb = sb_of(f).expect("freshest has a superblock").clone();
        if fsb.level != 1 {
            return Err(format!("raid: superblock of slot {f} is for md level {}, not raid1", fsb.level));
        }
        // raid1 takes a table with more or fewer slots than the
        // superblocks name as it is (md's raid1 reshape without
        // `delta_disks`: the device count just changes): new slots come
        // with zeroed metadata and `rebuild`, and the superblocks are
        // rewritten with the new count.
        if fsb.reshape_position.is_some() {
            return Err("raid: the set is being reshaped (not supported by ulvm)".into());
        }
        let mut resync_pos = match self.args.sync {
            RaidSync::NoSync => None,
            _ => fsb.array_resync_offset.map(|s| (s.0 / self.region.0).min(regions)),
        };
        if fsb.sectors < self.len {
            // Grown: the new part is resynchronised.
            let old = fsb.sectors.0 / self.region.0;
            resync_pos = Some(resync_pos.map_or(old, |p| p.min(old)));
        }
        // New devices in an existing set need `rebuild`.
        let new_devs: Vec<usize> = (0..n)
            .filter(|&i| {
                self.legs[i].data.is_some() && matches!(&images[i], Some(Ok(MetaImage { sb: SbState::New, .. })))
            })
            .collect();
        if new_devs.iter().any(|i| !self.args.rebuild.contains(i)) {
            return Err(
                "raid: New device injected into existing raid set without 'delta_disks' or 'rebuild' parameter specified"
                    .into(),
            );
        }
        if !self.args.rebuild.is_empty() {
            if let Some(p) = resync_pos {
                return Err(format!(
                    "raid: 'rebuild' specified while raid set is not in-sync (recovery_cp={})",
                    Sectors(p * self.region.0).min(self.len)
                ));
            }
        }
        // The bitmap: from every in-sync leg whose bitmap reads, OR-ed.
        let mut template: Option<BitmapSuper> = None;
        let mut stale = false;
        for (i, image) in images.iter().enumerate() {
            let Some(sb) = sb_of(i) else { continue };
            if fsb.is_failed(i) || sb.disk_recovery_offset.is_some() {
                continue;
            }
            if let Some(Ok(MetaImage { bitmap: Some(b), .. })) = image {
                match b {
                    Ok((bsb, b)) => {
                        stale |= bsb.is_stale();
                        self.merge_bits(&mut bits, bsb, b);
                        if i == f || template.is_none() {
                            template = Some(bsb.clone());
                        }
                    }
                    Err(e) if i == f => return Err(format!("raid: Failed to load bitmap: {e}")),
                    Err(_) => {}
                }
            }
        }
        if stale {
            bits.set_all();
        }
        let events_cleared = template.as_ref().map_or(0, |t| t.events_cleared);
        if let Some(t) = template {
            bitmap_sb.events_cleared = t.events_cleared;
            bitmap_sb.sectors_reserved = t.sectors_reserved;
            bitmap_sb.uuid = t.uuid;
            if self.args.daemon_sleep.is_none() {
                bitmap_sb.daemon_sleep = t.daemon_sleep;
            }
            // md reads the write-behind limit from an existing bitmap,
            // whatever the table said (and the table re-emits that).
            bitmap_sb.write_behind = t.write_behind;
        }
        for (i, l) in self.legs.iter().enumerate() {
            legs[i] = match (&l.data, &images[i]) {
                (None, _) => LegState::Absent,
                (Some(_), Some(Err(_))) => LegState::Dead,
                (Some(_), None) => LegState::InSync,
                (Some(_), Some(Ok(_))) if is_new(i) => LegState::Recovering { pos: 0, partial: false },
                (Some(_), Some(Ok(_))) => {
                    let own = sb_of(i).expect("not new: valid");
                    if fsb.is_failed(i) {
                        let partial = !stale && own.disk_recovery_offset.is_none() && own.events >= events_cleared;
                        LegState::Recovering { pos: 0, partial }
                    } else {
                        match own.disk_recovery_offset {
                            None => LegState::InSync,
                            Some(s) => LegState::Recovering { pos: (s.0 / self.region.0).min(regions), partial: false },
                        }
                    }
                }
            };
        }
        if !legs.contains(&LegState::InSync) {
            return Err("raid: Insufficient redundancy to activate array".into());
        }
        Ok(Analysis { legs, events: fsb.events, resync_pos, bits, bitmap_sb })
    }

    /// ORs `from` (with its own region size) into `into` (ours).
    fn merge_bits(&self, into: &mut Bits, bsb: &BitmapSuper, from: &Bits) {
        let theirs = bsb.region_size();
        if theirs == self.region {
            for r in from.iter_set() {
                into.set(r, true);
            }
            return;
        }
        for r in from.iter_set() {
            let (s, e) = (r * theirs.0, ((r + 1) * theirs.0).min(self.len.0));
            if s < e {
                for ours in self.regions(Sectors(s), Sectors(e - s)) {
                    into.set(ours, true);
                }
            }
        }
    }

    /// Installs an analysis: the state the set runs with.
    fn install(&self, a: Analysis) {
        let mut st = self.lock();
        st.legs = a.legs;
        st.events = a.events;
        st.resync_pos = a.resync_pos.filter(|p| *p < self.nr_regions);
        // Set bits say where in-sync legs may differ: with one, nowhere.
        let in_sync = st.legs.iter().filter(|l| **l == LegState::InSync).count();
        st.needed = if in_sync > 1 { a.bits.clone() } else { Bits::new(self.nr_regions) };
        st.intent = WriteIntent::new(a.bits.clone());
        for r in a.bits.iter_set() {
            // Cleared once the set is whole and the region is resynced.
            st.intent.release(r);
        }
        st.bitmap_sb = a.bitmap_sb;
        st.started = true;
    }

    // ----- metadata writes -----

    /// The superblock of slot `i` as things stand.
    fn superblock(&self, st: &State, i: usize) -> Superblock {
        let mut sb = Superblock::raid1(self.legs.len() as u32, i as u32, self.len);
        sb.events = st.events;
        for (j, s) in st.legs.iter().enumerate() {
            sb.set_failed(j, matches!(s, LegState::Dead | LegState::Absent));
        }
        sb.disk_recovery_offset = match st.legs[i] {
            LegState::Recovering { pos, .. } => Some(self.span(pos.min(self.nr_regions)).0.min(self.len)),
            _ => None,
        };
        sb.array_resync_offset = st.resync_pos.map(|p| self.span(p).0.min(self.len));
        sb
    }

    /// Whether the set is degraded: bits must not be cleared.
    fn degraded(st: &State) -> bool {
        st.legs.iter().any(|l| *l != LegState::InSync)
    }

    /// Slots whose metadata is written.
    fn live_meta(&self, st: &State) -> Vec<usize> {
        (0..self.legs.len())
            .filter(|&i| {
                self.legs[i].meta.is_some() && matches!(st.legs[i], LegState::InSync | LegState::Recovering { .. })
            })
            .collect()
    }

    /// Writes the bitmap (and with `sbs` the superblocks, events bumped)
    /// to every live metadata device and makes them durable. A metadata
    /// device that fails takes its leg down, and the write is repeated for
    /// the others. The caller holds `meta_io`.
    fn write_meta_locked(&self, sbs: bool) -> Result<()> {
        let mut sbs = sbs;
        loop {
            let (targets, bitmap, blocks, image) = {
                let mut st = self.lock();
                if sbs {
                    st.events += 1;
                }
                let image = st.intent.current().clone();
                let mut bsb = st.bitmap_sb.clone();
                bsb.events = st.events;
                let bitmap = encode_bitmap(&bsb, &image);
                let targets = self.live_meta(&st);
                let blocks: Vec<Vec<u8>> = if sbs {
                    targets
                        .iter()
                        .map(|&i| {
                            let bs = self.legs[i].meta.as_ref().map_or(512, |m| m.dev.logical_block_size() as usize);
                            self.superblock(&st, i).encode(bs.max(512))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                (targets, bitmap, blocks, image)
            };
            let results: Vec<Result<()>> = std::thread::scope(|sc| {
                let hs: Vec<_> = targets
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| {
                        let m = self.legs[i].meta.as_ref().expect("live meta");
                        // Whole logical blocks of the device (4 KiB on 4Kn
                        // disks), ones after the bits as md's page.
                        let lbs = (m.dev.logical_block_size() as usize).max(512);
                        let mut bitmap = bitmap.clone();
                        bitmap.resize(bitmap.len().div_ceil(lbs) * lbs, 0xff);
                        let sb = blocks.get(k);
                        // Each durable before the next, as md's
                        // PREFLUSH|FUA metadata writes: a superblock never
                        // lands without the bitmap written before it.
                        sc.spawn(move || {
                            m.dev.write(BITMAP_OFFSET.sectors_floor(), &bitmap)?;
                            m.dev.flush()?;
                            if let Some(sb) = sb {
                                m.dev.write(Sectors(0), sb)?;
                                m.dev.flush()?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(io_error("raid: metadata write panicked"))))
                    .collect()
            });
            let failed: Vec<usize> =
                targets.iter().zip(&results).filter(|(_, r)| r.is_err()).map(|(i, _)| *i).collect();
            if failed.is_empty() {
                self.lock().intent.committed(image);
                return Ok(());
            }
            let mut any = false;
            for &i in &failed {
                tracing::warn!(raid = ?self, slot = i, "raid: metadata write failed");
                any |= self.mark_dead(i);
            }
            if !any {
                return Err(Error::new(ErrorKind::Io, "raid: metadata write failed on every leg"));
            }
            sbs = true;
        }
    }

    fn write_meta(&self, sbs: bool) -> Result<()> {
        let _io = self.meta_io.lock().unwrap_or_else(|e| e.into_inner());
        self.write_meta_locked(sbs)
    }

    /// Makes the bits of `rs` durable (a group commit: a writer finding
    /// its bits written by another's commit writes nothing).
    fn commit_intent(&self, rs: std::ops::Range<u64>) -> Result<()> {
        let _io = self.meta_io.lock().unwrap_or_else(|e| e.into_inner());
        {
            let st = self.lock();
            if rs.clone().all(|r| st.intent.is_durable(r)) {
                return Ok(());
            }
        }
        self.write_meta_locked(false)
    }

    /// Marks leg `i` dead (md_error). The last in-sync leg stays: false.
    fn mark_dead(&self, i: usize) -> bool {
        let mut st = self.lock();
        let in_sync = st.legs.iter().filter(|l| **l == LegState::InSync).count();
        match st.legs[i] {
            LegState::InSync if in_sync <= 1 => false,
            LegState::InSync | LegState::Recovering { .. } => {
                st.legs[i] = LegState::Dead;
                tracing::error!(raid = ?self, slot = i, "raid1: disk failure, continuing on the other legs");
                drop(st);
                self.cond.notify_all();
                self.events.raise();
                true
            }
            _ => false,
        }
    }

    /// Fails the legs in `failed` and records it in the superblocks.
    /// Returns false if one of them is the last in-sync leg.
    fn fail_legs(&self, failed: &[usize]) -> bool {
        let mut all = true;
        let mut any = false;
        for &i in failed {
            if self.mark_dead(i) {
                any = true;
            } else if self.lock().legs[i] == LegState::InSync {
                all = false;
            }
        }
        if any {
            if let Err(e) = self.write_meta(true) {
                tracing::error!(raid = ?self, "raid: cannot record a failed leg: {e}");
            }
        }
        all
    }

    /// Flushes the data of every leg in `which`, in parallel; returns the
    /// legs that failed.
    fn flush_data(&self, which: &[usize]) -> Vec<usize> {
        let results: Vec<(usize, Result<()>)> = std::thread::scope(|sc| {
            let hs: Vec<_> = which
                .iter()
                .map(|&i| {
                    let d = self.legs[i].data.as_ref().expect("present");
                    (i, sc.spawn(move || d.dev.flush()))
                })
                .collect();
            hs.into_iter()
                .map(|(i, h)| (i, h.join().unwrap_or_else(|_| Err(io_error("raid: flush panicked")))))
                .collect()
        });
        results.into_iter().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect()
    }

    fn active_legs(st: &State) -> Vec<usize> {
        (0..st.legs.len()).filter(|&i| matches!(st.legs[i], LegState::InSync | LegState::Recovering { .. })).collect()
    }

    // ----- the I/O path -----

    /// Counts a write on `rs` (after any copy of those regions) and
    /// returns, per leg to write, the sectors below which it takes the
    /// write (recovering legs take only what they already hold).
    fn begin_write(&self, rs: std::ops::Range<u64>) -> (bool, Vec<(usize, Sectors)>) {
        let mut st = self.lock();
        while st.busy.is_some_and(|b| rs.contains(&b)) {
            st = self.wait(st);
        }
        let mut commit = false;
        for r in rs.clone() {
            commit |= st.intent.start_write(r);
        }
        let targets = (0..self.legs.len())
            .filter_map(|i| match st.legs[i] {
                LegState::InSync => Some((i, self.len)),
                LegState::Recovering { pos, .. } => Some((i, self.span(pos.min(self.nr_regions)).0.min(self.len))),
                _ => None,
            })
            .collect();
        (commit, targets)
    }

    fn end_write(&self, rs: std::ops::Range<u64>) {
        let mut st = self.lock();
        for r in rs {
            st.intent.end_write(r);
        }
        drop(st);
        self.cond.notify_all();
    }

    /// A write-like request: `op(dev, at, len)` on every leg that takes it.
    fn write_with(
        &self,
        at: Sectors,
        len: Sectors,
        op: &dyn Fn(&dyn BlockDevice, Sectors, Sectors) -> Result<()>,
    ) -> Result<()> {
        if len.0 == 0 {
            return Ok(());
        }
        let rs = self.regions(at, len);
        let (commit, targets) = self.begin_write(rs.clone());
        if commit {
            if let Err(e) = self.commit_intent(rs.clone()) {
                self.end_write(rs);
                return Err(e);
            }
        }
        let end = at + len;
        let mut failed = Vec::new();
        let mut wrote = 0;
        let mut first_err = None;
        for &(i, limit) in &targets {
            let stop = end.min(limit);
            if stop <= at {
                continue;
            }
            let d = self.legs[i].data.as_ref().expect("present");
            match op(&*d.dev, at, stop - at) {
                Ok(()) => wrote += 1,
                Err(e) => {
                    tracing::warn!(raid = ?self, slot = i, "raid1: write error: {e}");
                    failed.push(i);
                    first_err.get_or_insert(e);
                }
            }
        }
        let result = if failed.is_empty() {
            Ok(())
        } else {
            // The regions stay dirty: the legs may differ there.
            {
                let mut st = self.lock();
                for r in rs.clone() {
                    st.intent.dirty(r);
                }
            }
            let all_failed = self.fail_legs(&failed);
            if wrote > 0 && all_failed {
                Ok(())
            } else {
                Err(first_err.unwrap_or_else(|| Error::new(ErrorKind::Io, "raid1: write failed on every leg")))
            }
        };
        self.end_write(rs);
        result
    }

    /// The leg to read `rs` from, not in `exclude`.
    fn choose_read_leg(&self, rs: std::ops::Range<u64>, exclude: &[usize]) -> Option<usize> {
        let st = self.lock();
        let unsynced = rs.clone().any(|r| st.resync_pos.is_some_and(|p| r >= p) || st.needed.get(r));
        let in_sync: Vec<usize> =
            (0..self.legs.len()).filter(|&i| st.legs[i] == LegState::InSync && !exclude.contains(&i)).collect();
        drop(st);
        if unsynced {
            // What resync copies from, so reads agree before and after.
            return in_sync.first().copied();
        }
        let normal: Vec<usize> = in_sync.iter().copied().filter(|&i| !self.legs[i].write_mostly).collect();
        let pool = if normal.is_empty() { in_sync } else { normal };
        if pool.is_empty() {
            return None;
        }
        let start = (self.rr.fetch_add(1, Ordering::Relaxed) % pool.len() as u64) as usize;
        (0..pool.len())
            .map(|k| pool[(start + k) % pool.len()])
            .min_by_key(|&i| self.legs[i].reads.load(Ordering::Relaxed))
    }

    // ----- background work -----

    /// What the sync thread is doing, and how far it is.
    fn action(&self, st: &State) -> (SyncAction, Sectors) {
        let recovering = st.legs.iter().filter_map(|l| match l {
            LegState::Recovering { pos, .. } => Some(*pos),
            _ => None,
        });
        let resync = Self::resync_from(st);
        let (action, at) = if let Some(c) = st.check {
            (if c.repair { SyncAction::Repair } else { SyncAction::Check }, Some(c.pos))
        } else if let Some(p) = recovering.min() {
            (SyncAction::Recover, Some(p))
        } else if let Some(p) = resync {
            (SyncAction::Resync, Some(p))
        } else {
            (SyncAction::Idle, None)
        };
        let done = at.map_or(self.len, |p| self.span(p.min(self.nr_regions)).0.min(self.len));
        if st.frozen {
            (SyncAction::Frozen, done)
        } else {
            (action, done)
        }
    }

    /// The first region resync still has to do.
    fn resync_from(st: &State) -> Option<u64> {
        let needed = st.needed.iter_set().next();
        match (st.resync_pos, needed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Waits until no write is in flight on `r` and marks it busy.
    fn quiesce(&self, r: u64) {
        let mut st = self.lock();
        st.busy = Some(r);
        while st.intent.is_pending(r) {
            st = self.wait(st);
        }
    }

    fn unbusy(&self) {
        self.lock().busy = None;
        self.cond.notify_all();
    }

    /// Copies region `r` from leg `from` to the legs `to`. Returns the
    /// legs that failed (the source first if its read failed).
    fn copy_region(&self, r: u64, from: usize, to: &[usize]) -> Vec<usize> {
        let (s, e) = self.span(r);
        let len = e - s;
        let src = self.legs[from].data.as_ref().expect("present");
        let mut data: Option<Vec<u8>> = None;
        let mut failed = Vec::new();
        for &i in to {
            let dst = self.legs[i].data.as_ref().expect("present");
            let res = match ulvm_blockdev::copy_in_kernel(&*src.dev, s, &*dst.dev, s, len) {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => {
                    if data.is_none() {
                        let mut buf = vec![0u8; len.byte_len()];
                        if let Err(e) = src.dev.read(s, &mut buf) {
                            tracing::error!(raid = ?self, "raid1: read error during sync of region {r}: {e}");
                            return vec![from];
                        }
                        data = Some(buf);
                    }
                    dst.dev.write(s, data.as_deref().expect("read above"))
                }
            };
            if let Err(e) = res {
                tracing::error!(raid = ?self, slot = i, "raid1: write error during sync of region {r}: {e}");
                failed.push(i);
            }
        }
        failed
    }

    /// Compares region `r` of the in-sync legs with `from`'s; with
    /// `repair` rewrites the pieces that differ. Returns the mismatched
    /// sectors and the legs that failed.
    fn check_region(&self, r: u64, from: usize, others: &[usize], repair: bool) -> (u64, Vec<usize>) {
        let (s, e) = self.span(r);
        let len = e - s;
        let read = |i: usize| -> Result<Vec<u8>> {
            let mut b = vec![0u8; len.byte_len()];
            self.legs[i].data.as_ref().expect("present").dev.read(s, &mut b)?;
            Ok(b)
        };
        let Ok(primary) = read(from) else { return (0, vec![from]) };
        let mut mismatched = 0;
        let mut failed = Vec::new();
        for &i in others {
            let Ok(theirs) = read(i) else {
                failed.push(i);
                continue;
            };
            let mut off = Sectors(0);
            while off < len {
                let n = CHECK_PIECE.min(len - off);
                let range = byte_range(off..off + n);
                if primary[range.clone()] != theirs[range.clone()] {
                    mismatched += n.0;
                    if repair {
                        let d = self.legs[i].data.as_ref().expect("present");
                        if d.dev.write(s + off, &primary[range]).is_err() {
                            failed.push(i);
                            break;
                        }
                    }
                }
                off += n;
            }
        }
        (mismatched, failed)
    }

    /// Writes progress to the superblocks once the legs hold what it
    /// claims (`force`: now; else at most every [`CHECKPOINT_PERIOD`]).
    fn checkpoint(&self, force: bool) {
        let (due, legs) = {
            let st = self.lock();
            (force || st.last_checkpoint.elapsed() >= CHECKPOINT_PERIOD, Self::active_legs(&st))
        };
        if !due {
            return;
        }
        let failed = self.flush_data(&legs);
        if !failed.is_empty() {
            self.fail_legs(&failed);
        }
        if let Err(e) = self.write_meta(true) {
            tracing::error!(raid = ?self, "raid: cannot write the superblocks: {e}");
        }
        self.lock().last_checkpoint = Instant::now();
    }

    /// md's bitmap daemon: clears the bits of regions idle for a period,
    /// after the legs are flushed so that a clear bit on disk means equal
    /// legs on disk. Not while degraded. `force`: at suspend, clear every
    /// idle region now.
    fn sweep(&self, force: bool) {
        let _io = self.meta_io.lock().unwrap_or_else(|e| e.into_inner());
        let legs = {
            let st = self.lock();
            if Self::degraded(&st) || !st.intent.has_idle() || !force && st.last_sweep.elapsed() < self.daemon_sleep {
                return;
            }
            Self::active_legs(&st)
        };
        if !self.flush_data(&legs).is_empty() {
            return;
        }
        let cleared = {
            let mut st = self.lock();
            st.last_sweep = Instant::now();
            let mut cleared = 0;
            for _ in 0..if force { 2 } else { 1 } {
                let State { intent, needed, resync_pos, .. } = &mut *st;
                let rp = *resync_pos;
                cleared += intent.sweep(|r| !needed.get(r) && rp.is_none_or(|p| r < p));
            }
            if cleared > 0 {
                st.bitmap_sb.events_cleared = st.events;
            }
            cleared
        };
        if cleared > 0 {
            if let Err(e) = self.write_meta_locked(false) {
                tracing::error!(raid = ?self, "raid: cannot write the bitmap: {e}");
            }
        }
    }

    /// Paces after a piece of background work that took `took` and moved
    /// `bytes` per leg.
    fn pace_after(&self, pace: Pace, took: Duration, bytes: u64) {
        if pace != Pace::Full {
            self.throttle.rest_after_at(took, SYNC_SHARE_PERCENT);
        }
        if let Some(kib) = self.args.max_recovery_rate.filter(|k| *k > 0) {
            let min = Duration::from_secs_f64(bytes as f64 / (f64::from(kib) * 1024.0));
            if let Some(rest) = min.checked_sub(took) {
                std::thread::sleep(rest);
            }
        }
    }

    /// One region of the running sync action. `None`: nothing to do.
    fn sync_step(&self) -> Option<Step> {
        enum Work {
            Check(Check),
            Recover(usize, u64, bool),
            Resync(u64),
        }
        let (work, primary, others) = {
            let st = self.lock();
            if st.frozen || !st.started {
                return None;
            }
            let primary = st.legs.iter().position(|l| *l == LegState::InSync)?;
            let others: Vec<usize> =
                (0..st.legs.len()).filter(|&i| i != primary && st.legs[i] == LegState::InSync).collect();
            let recovering = (0..st.legs.len())
                .filter_map(|i| match st.legs[i] {
                    LegState::Recovering { pos, partial } => Some((pos, i, partial)),
                    _ => None,
                })
                .min();
            let work = if let Some(c) = st.check {
                Work::Check(c)
            } else if let Some((pos, i, partial)) = recovering {
                Work::Recover(i, pos, partial)
            } else if let Some(p) = Self::resync_from(&st) {
                Work::Resync(p)
            } else {
                return None;
            };
            (work, primary, others)
        };
        let pace = self.throttle.pace();
        let t0 = Instant::now();
        let mut bytes = 0;
        match work {
            Work::Check(c) => {
                if c.pos >= self.nr_regions {
                    let mut st = self.lock();
                    st.check = None;
                    st.last_was_check = !c.repair;
                    drop(st);
                    self.events.raise();
                    return Some(Step::Progress);
                }
                self.quiesce(c.pos);
                let (m, failed) = self.check_region(c.pos, primary, &others, c.repair);
                {
                    let mut st = self.lock();
                    st.mismatches += m;
                    if let Some(cc) = st.check.as_mut() {
                        cc.pos = c.pos + 1;
                    }
                }
                self.unbusy();
                self.fail_legs(&failed);
                bytes = (self.span(c.pos).1 - self.span(c.pos).0).bytes().0;
            }
            Work::Recover(i, pos, partial) => {
                if pos >= self.nr_regions {
                    {
                        let mut st = self.lock();
                        st.legs[i] = LegState::InSync;
                    }
                    self.checkpoint(true);
                    tracing::info!(raid = ?self, slot = i, "raid1: recovery done");
                    self.events.raise();
                    return Some(Step::Progress);
                }
                // Skip clean regions of a partial recovery in one go.
                let r = if partial {
                    let st = self.lock();
                    (pos..self.nr_regions).find(|&r| st.intent.is_set(r) || st.needed.get(r)).unwrap_or(self.nr_regions)
                } else {
                    pos
                };
                if r < self.nr_regions {
                    self.quiesce(r);
                    let failed = self.copy_region(r, primary, &[i]);
                    {
                        let mut st = self.lock();
                        if let LegState::Recovering { pos, .. } = &mut st.legs[i] {
                            *pos = r + 1;
                        }
                    }
                    self.unbusy();
                    self.fail_legs(&failed);
                    bytes = (self.span(r).1 - self.span(r).0).bytes().0;
                } else {
                    let mut st = self.lock();
                    if let LegState::Recovering { pos, .. } = &mut st.legs[i] {
                        *pos = r;
                    }
                }
                self.checkpoint(false);
            }
            Work::Resync(r) => {
                self.quiesce(r);
                let failed = if others.is_empty() { Vec::new() } else { self.copy_region(r, primary, &others) };
                // A leg that failed the copy is away from now on: the
                // region's bit below must stay for its return.
                self.fail_legs(&failed);
                let done = {
                    let mut st = self.lock();
                    st.needed.set(r, false);
                    if Self::degraded(&st) {
                        // As md's bitmap: a region resynced while a leg is
                        // away keeps its bit, so that leg gets it when it
                        // is recovered from the bitmap.
                        st.intent.dirty(r);
                    } else {
                        st.intent.release(r);
                    }
                    if st.resync_pos == Some(r) {
                        st.resync_pos = (r + 1 < self.nr_regions).then_some(r + 1);
                    }
                    Self::resync_from(&st).is_none()
                };
                self.unbusy();
                bytes = (self.span(r).1 - self.span(r).0).bytes().0;
                self.checkpoint(done);
                if done {
                    tracing::info!(raid = ?self, "raid1: resync done");
                    self.events.raise();
                }
            }
        }
        self.pace_after(pace, t0.elapsed(), bytes);
        Some(Step::Progress)
    }

    /// Revives dead legs whose superblock reads again (the kernel's
    /// `attempt_restore_of_faulty_devices` on a second resume): they are
    /// recovered from the bitmap.
    fn restore_dead_legs(&self) {
        let dead: Vec<usize> = {
            let st = self.lock();
            (0..self.legs.len()).filter(|&i| st.legs[i] == LegState::Dead).collect()
        };
        let mut any = false;
        for i in dead {
            let Some(m) = &self.legs[i].meta else { continue };
            if !matches!(self.read_meta(m), Ok(MetaImage { sb: SbState::Valid(_), .. })) {
                continue;
            }
            tracing::info!(raid = ?self, slot = i, "raid1: faulty device has a readable superblock, reviving it");
            self.lock().legs[i] = LegState::Recovering { pos: 0, partial: true };
            any = true;
        }
        if any {
            if let Err(e) = self.write_meta(true) {
                tracing::error!(raid = ?self, "raid: cannot write the superblocks: {e}");
            }
            self.worker.notify_all();
        }
    }

    /// Copies of regions made so far are counted by tests through the
    /// devices; this is the set's view of its progress.
    pub fn raid_status(&self) -> RaidStatus {
        let st = self.lock();
        let (action, done) = self.action(&st);
        // As the kernel: during a resync every leg is 'a'; during a
        // recovery only the legs being recovered.
        let resyncing = action == SyncAction::Resync
            || action == SyncAction::Frozen
                && Self::resync_from(&st).is_some()
                && !st.legs.iter().any(|l| matches!(l, LegState::Recovering { .. }));
        let health = st
            .legs
            .iter()
            .map(|l| match l {
                LegState::Absent => RaidHealth::Absent,
                LegState::Dead => RaidHealth::Dead,
                LegState::Recovering { .. } => RaidHealth::Syncing,
                LegState::InSync if resyncing => RaidHealth::Syncing,
                LegState::InSync => RaidHealth::InSync,
            })
            .collect();
        RaidStatus {
            raid_type: self.args.raid_type,
            health,
            sync_done: done,
            sync_total: self.len,
            action,
            mismatch_count: if st.last_was_check || st.check.is_some_and(|c| !c.repair) { st.mismatches } else { 0 },
            data_offset: Sectors(0),
            journal: '-',
        }
    }

    fn busy_error(&self) -> TargetError {
        TargetError::InvalidArgument("raid: Device or resource busy".into())
    }
}

impl Target for RaidTarget {
    fn kind(&self) -> &'static TargetKind {
        &KIND
    }

    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let rs = self.regions(at, Sectors::of_buf(buf));
        let mut tried = Vec::new();
        loop {
            let Some(i) = self.choose_read_leg(rs.clone(), &tried) else {
                return Err(Error::new(ErrorKind::Io, "raid1: no leg to read from"));
            };
            let leg = &self.legs[i];
            leg.reads.fetch_add(1, Ordering::Relaxed);
            let r = leg.data.as_ref().expect("in sync").dev.read(at, buf);
            leg.reads.fetch_sub(1, Ordering::Relaxed);
            match r {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(raid = ?self, slot = i, "raid1: read error, trying another leg: {e}");
                    tried.push(i);
                    if !self.fail_legs(&[i]) {
                        // The last in-sync leg: its error is the answer.
                        return Err(e);
                    }
                }
            }
        }
    }

    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        let len = Sectors::of_buf(buf);
        self.write_with(at, len, &|dev, s, n| dev.write(s, &buf[byte_range(s - at..s - at + n)]))
    }

    fn flush(&self) -> Result<()> {
        let legs = Self::active_legs(&self.lock());
        let failed = self.flush_data(&legs);
        if failed.is_empty() || self.fail_legs(&failed) && failed.len() < legs.len() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Io, "raid1: flush failed"))
        }
    }

    /// To every leg that takes writes, as a write (it dirties its regions).
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_with(at, len, &|dev, s, n| dev.discard(s, n))
    }

    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.write_with(at, len, &|dev, s, n| dev.write_zeroes(s, n))
    }

    fn table_params(&self) -> String {
        let mut a = self.args.clone();
        if a.max_write_behind.is_some() {
            // The limit in effect: an existing bitmap's (the kernel's
            // table reads back 0 after `lvchange --writebehind 512` on a
            // set created without one: lvm fixtures oracle6 059).
            let st = self.lock();
            if st.started {
                a.max_write_behind = Some(u64::from(st.bitmap_sb.write_behind));
            }
        }
        for (d, l) in a.devs.iter_mut().zip(&self.legs) {
            d.meta = l.meta.as_ref().map(|u| DevRef::Number(u.num));
            d.data = l.data.as_ref().map(|u| DevRef::Number(u.num));
        }
        a.to_string()
    }

    fn status(&self) -> TargetStatus {
        TargetStatus::Raid(self.raid_status())
    }

    fn message(&self, args: &[&str]) -> std::result::Result<String, TargetError> {
        let m = RaidMessage::parse(args).map_err(|e| TargetError::InvalidArgument(e.0))?;
        let mut st = self.lock();
        match m {
            RaidMessage::Frozen => {
                st.frozen = true;
                st.check = None;
            }
            RaidMessage::Idle => {
                st.frozen = false;
                st.check = None;
            }
            RaidMessage::Resync | RaidMessage::Recover => {
                if st.check.is_some() {
                    return Err(self.busy_error());
                }
                st.frozen = false;
            }
            RaidMessage::Check | RaidMessage::Repair => {
                st.frozen = false;
                if self.action(&st).0 != SyncAction::Idle {
                    return Err(self.busy_error());
                }
                if !st.legs.contains(&LegState::InSync) {
                    return Err(self.busy_error());
                }
                st.check = Some(Check { repair: m == RaidMessage::Repair, pos: 0 });
                st.mismatches = 0;
                st.last_was_check = false;
            }
        }
        drop(st);
        self.worker.notify_all();
        Ok(String::new())
    }

    /// The first time: the superblocks are read again (the previous
    /// table has written its last state by now), analysed and written
    /// back with the events bumped (`rs_update_sbs`). Later: dead legs
    /// whose superblock reads are revived.
    fn preresume(&self) -> std::result::Result<(), TargetError> {
        if self.lock().started {
            self.restore_dead_legs();
            return Ok(());
        }
        let a = self.analyse().map_err(TargetError::NotReady)?;
        self.install(a);
        self.write_meta(true).map_err(|e| TargetError::Io { what: "raid: writing the superblocks", source: e })?;
        Ok(())
    }

    fn resume(&self) {
        self.stopping.store(false, Ordering::SeqCst);
    }

    fn presuspend(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.worker.notify_all();
    }

    /// As md's `md_stop_writes`: the legs are flushed, idle bits cleared
    /// and the superblocks written with the progress so far.
    fn postsuspend(&self) {
        if !self.lock().started {
            return;
        }
        self.sweep(true);
        self.checkpoint(true);
    }

    fn background_step(&self) -> Option<Step> {
        if self.stopping.load(Ordering::SeqCst) {
            return Some(Step::Done);
        }
        self.sweep(false);
        if let Some(s) = self.sync_step() {
            return Some(s);
        }
        if !self.opts.threads {
            return Some(Step::Done);
        }
        // A worker thread stays for messages and the bitmap daemon.
        let st = self.lock();
        let wait = if st.intent.has_idle() { self.daemon_sleep.min(IDLE_WAIT) } else { IDLE_WAIT };
        drop(self.worker.wait_timeout(st, wait).unwrap_or_else(|e| e.into_inner()));
        if self.stopping.load(Ordering::SeqCst) {
            return Some(Step::Done);
        }
        Some(Step::Progress)
    }
}
