//! The three snapshot targets as thin views onto [`Snapshot`] and
//! [`OriginState`], and the handover of a snapshot's exceptions from one
//! table to the next (a reload, or `snapshot-merge` taking over from
//! `snapshot`).

use super::{chunk_pieces, coalesce, OriginRegistry, OriginState, Piece, Place, SnapTuning, Snapshot};
use crate::kind::{BuildCtx, Caps, TargetKind};
use crate::registry::DmResult;
use crate::status::{SnapshotStatus, TargetStatus};
use crate::table::{DevNum, SnapshotArgs, TargetArgs};
use crate::target::{EventSink, Step, Target, TargetError, Underlying};
use crate::throttle::Throttle;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use ulvm_blockdev::{byte_range, Chunks, Error, ErrorKind, Result, Sectors};

/// The live snapshot a table owns; empty once handed over.
pub(crate) struct Slot {
    snap: Mutex<Option<Arc<Snapshot>>>,
    suspended: AtomicBool,
}

impl Slot {
    fn get(&self) -> Option<Arc<Snapshot>> {
        self.snap.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Which tables hold a snapshot of which COW device, to find a handover
/// source.
#[derive(Default)]
pub struct CowRegistry {
    map: Mutex<HashMap<DevNum, Vec<Weak<Slot>>>>,
}

impl CowRegistry {
    fn holder(&self, cow: DevNum) -> Option<Arc<Slot>> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let v = map.entry(cow).or_default();
        v.retain(|w| w.strong_count() > 0);
        v.iter().filter_map(Weak::upgrade).find(|s| s.get().is_some())
    }
    fn add(&self, cow: DevNum, slot: &Arc<Slot>) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).entry(cow).or_default().push(Arc::downgrade(slot));
    }
}

pub static SNAPSHOT_KIND: TargetKind = TargetKind {
    name: "snapshot",
    version: [1, 16, 0],
    caps: Caps { background: false, origin: false, snapshot: true },
    build: |cx| build_snapshot_family(cx, false),
};
pub static MERGE_KIND: TargetKind = TargetKind {
    name: "snapshot-merge",
    version: [1, 5, 0],
    caps: Caps { background: true, origin: true, snapshot: false },
    build: |cx| build_snapshot_family(cx, true),
};
pub static ORIGIN_KIND: TargetKind = TargetKind {
    name: "snapshot-origin",
    version: [1, 9, 0],
    caps: Caps { background: false, origin: true, snapshot: false },
    build: build_origin_target,
};

fn build_snapshot_family(cx: &BuildCtx<'_>, merge: bool) -> DmResult<Box<dyn Target>> {
    let (TargetArgs::Snapshot(a) | TargetArgs::SnapshotMerge(a)) = &cx.line.target else {
        return Err(cx.wrong_args(if merge { &MERGE_KIND } else { &SNAPSHOT_KIND }));
    };
    let origin = cx.resolve(&a.origin)?;
    let cow = cx.resolve(&a.cow)?;
    let ctx = SnapCtx {
        origins: cx.origins,
        cows: cx.cows,
        events: cx.events.clone(),
        tuning: SnapTuning { merge_batch: cx.config.merge_batch, space_wait: cx.config.snapshot_space_wait },
    };
    let len = cx.line.len;
    Ok(if merge {
        Box::new(MergeTarget {
            common: new_common(origin, cow, a, len, &ctx, true).map_err(|e| cx.fail(e))?,
            throttle: cx.throttle.clone(),
        })
    } else {
        Box::new(SnapshotTarget { common: new_common(origin, cow, a, len, &ctx, false).map_err(|e| cx.fail(e))? })
    })
}

fn build_origin_target(cx: &BuildCtx<'_>) -> DmResult<Box<dyn Target>> {
    let TargetArgs::SnapshotOrigin { origin } = &cx.line.target else { return Err(cx.wrong_args(&ORIGIN_KIND)) };
    let u = cx.resolve(origin)?;
    if cx.line.len > u.dev.size() {
        return Err(cx.fail(format!("origin device {} is smaller than the target", u.num)));
    }
    Ok(Box::new(OriginTarget { origin: cx.origins.get_or_create(&u) }))
}

/// What building a snapshot-family target needs from the registry.
struct SnapCtx<'a> {
    pub origins: &'a OriginRegistry,
    pub cows: &'a Arc<CowRegistry>,
    pub events: Arc<EventSink>,
    pub tuning: SnapTuning,
}

/// The common part of `snapshot` and `snapshot-merge`.
struct SnapCommon {
    slot: Arc<Slot>,
    origin: Arc<OriginState>,
    handover_from: Mutex<Option<Weak<Slot>>>,
    /// To open the store from disk when the handover source went away.
    reopen: Mutex<Option<(Underlying, Underlying, SnapshotArgs)>>,
    len: Sectors,
    events: Arc<EventSink>,
    tuning: SnapTuning,
    merge: bool,
    last_params: Mutex<String>,
}

fn new_common(
    origin: Underlying,
    cow: Underlying,
    args: &SnapshotArgs,
    len: Sectors,
    ctx: &SnapCtx,
    merge: bool,
) -> std::result::Result<SnapCommon, String> {
    if origin.num == cow.num {
        return Err("COW device cannot be the same as origin device".into());
    }
    let origin_state = ctx.origins.get_or_create(&origin);
    let slot = Arc::new(Slot { snap: Mutex::new(None), suspended: AtomicBool::new(false) });
    let mut handover_from = None;
    let mut reopen = None;
    let params;
    if let Some(src) = ctx.cows.holder(cow.num) {
        params = src.get().map(|s| s.table_params()).unwrap_or_default();
        handover_from = Some(Arc::downgrade(&src));
        reopen = Some((origin.clone(), cow.clone(), args.clone()));
    } else {
        let snap = Snapshot::open(origin.clone(), cow.clone(), args, len, ctx.events.clone(), ctx.tuning)
            .map_err(|e| format!("Couldn't create exception store: {e}"))?;
        params = snap.table_params();
        *slot.snap.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(snap));
    }
    ctx.cows.add(cow.num, &slot);
    Ok(SnapCommon {
        slot,
        origin: origin_state,
        handover_from: Mutex::new(handover_from),
        reopen: Mutex::new(reopen),
        len,
        events: ctx.events.clone(),
        tuning: ctx.tuning,
        merge,
        last_params: Mutex::new(params),
    })
}

impl SnapCommon {
    fn snap(&self) -> Result<Arc<Snapshot>> {
        self.slot
            .get()
            .ok_or_else(|| Error::new(ErrorKind::Failed, "snapshot is invalid (its exceptions were handed over)"))
    }

    fn table_params(&self) -> String {
        let mut last = self.last_params.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = self.slot.get() {
            *last = s.table_params();
        }
        last.clone()
    }

    fn status(&self) -> SnapshotStatus {
        self.slot.get().map(|s| s.status()).unwrap_or(SnapshotStatus::Invalid)
    }

    fn preresume(&self) -> std::result::Result<(), TargetError> {
        let from = self.handover_from.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(src) = from.and_then(|w| w.upgrade()) {
            if src.get().is_some() {
                if !src.suspended.load(Ordering::SeqCst) {
                    *self.handover_from.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(&src));
                    return Err(TargetError::NotReady(
                        "Unable to perform snapshot handover until source is suspended.".into(),
                    ));
                }
                let snap = src.snap.lock().unwrap_or_else(|e| e.into_inner()).take();
                *self.slot.snap.lock().unwrap_or_else(|e| e.into_inner()) = snap;
            }
        }
        if self.slot.get().is_none() {
            // The source went away before we resumed: read the store from disk.
            let Some((o, c, a)) = self.reopen.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
                return Err(TargetError::NotReady("snapshot has no exception store".into()));
            };
            let snap = Snapshot::open(o, c, &a, self.len, self.events.clone(), self.tuning)
                .map_err(|source| TargetError::Io { what: "Couldn't create exception store", source })?;
            *self.slot.snap.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(snap));
        }
        let snap = self.snap().map_err(|e| TargetError::NotReady(e.to_string()))?;
        snap.set_events(self.events.clone());
        if self.merge {
            if let Some(other) = self.origin.merging() {
                if !Arc::ptr_eq(&other, &snap) {
                    return Err(TargetError::InvalidArgument("A snapshot is already merging.".into()));
                }
            }
            snap.set_merging();
        }
        Ok(())
    }

    fn resume(&self) {
        self.slot.suspended.store(false, Ordering::SeqCst);
        if let Some(s) = self.slot.get() {
            s.set_active(true);
            self.origin.register(&s);
        }
    }
}

impl Drop for SnapCommon {
    fn drop(&mut self) {
        if let Some(s) = self.slot.get() {
            self.origin.unregister(&s);
        }
    }
}

/// `snapshot <origin> <COW> <P|PO|N> <chunksize> [features]`
pub struct SnapshotTarget {
    common: SnapCommon,
}

/// The most [`zeroes_by_writing`] writes at once: 1 MiB.
const ZERO_PIECE: Sectors = Sectors(2048);

/// Writes zeroes through `write` in pieces of at most 1 MiB.
fn zeroes_by_writing(at: Sectors, len: Sectors, write: impl Fn(Sectors, &[u8]) -> Result<()>) -> Result<()> {
    let zero = vec![0u8; ZERO_PIECE.min(len).byte_len()];
    let mut done = Sectors(0);
    while done < len {
        let n = ZERO_PIECE.min(len - done);
        write(at + done, &zero[..n.byte_len()])?;
        done += n;
    }
    Ok(())
}

impl Target for SnapshotTarget {
    fn kind(&self) -> &'static TargetKind {
        &SNAPSHOT_KIND
    }
    fn snapshot_origin(&self) -> Option<DevNum> {
        Some(self.common.origin.dev.num)
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.common.snap()?.snap_read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.common.snap()?.snap_write(at, buf)
    }
    fn flush(&self) -> Result<()> {
        self.common.snap()?.snap_flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.common.snap()?.snap_discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        let snap = self.common.snap()?;
        zeroes_by_writing(at, len, |s, b| snap.snap_write(s, b))
    }
    fn table_params(&self) -> String {
        self.common.table_params()
    }
    fn status(&self) -> TargetStatus {
        TargetStatus::Snapshot(self.common.status())
    }
    fn preresume(&self) -> std::result::Result<(), TargetError> {
        self.common.preresume()
    }
    fn resume(&self) {
        self.common.resume()
    }
    fn postsuspend(&self) {
        self.common.slot.suspended.store(true, Ordering::SeqCst);
    }
}

/// `snapshot-origin <origin>`: reads pass through; writes copy out first.
pub struct OriginTarget {
    origin: Arc<OriginState>,
}

impl Target for OriginTarget {
    fn kind(&self) -> &'static TargetKind {
        &ORIGIN_KIND
    }
    fn snapshot_origin(&self) -> Option<DevNum> {
        Some(self.origin.dev.num)
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        self.origin.dev.dev.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.origin.prepare_write(at, Sectors::of_buf(buf))?;
        self.origin.dev.dev.write(at, buf)
    }
    fn flush(&self) -> Result<()> {
        self.origin.dev.dev.flush()
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.origin.prepare_write(at, len)?;
        self.origin.dev.dev.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.origin.prepare_write(at, len)?;
        self.origin.dev.dev.write_zeroes(at, len)
    }
    fn allocation(&self, at: Sectors, len: Sectors) -> Result<Vec<ulvm_blockdev::Extent>> {
        self.origin.dev.dev.allocation(at, len)
    }
    fn table_params(&self) -> String {
        self.origin.dev.num.to_string()
    }
    fn status(&self) -> TargetStatus {
        TargetStatus::SnapshotOrigin
    }
}

/// `snapshot-merge <origin> <COW> P <chunksize>`: the origin's device while
/// the COW is merged back into it.
pub struct MergeTarget {
    common: SnapCommon,
    /// The origin device's user-I/O signal, which the merge yields to.
    throttle: Arc<Throttle>,
}

impl MergeTarget {
    fn plan(st: &super::SnapState, at: Sectors, len: Sectors) -> Vec<Piece> {
        let cs = st.chunk_size;
        chunk_pieces(cs, at, len)
            .map(|(off, n, c)| {
                let s = at + off;
                let place = match st.complete.get(&c) {
                    Some(&new) => Place::Cow(cs.start_of(Chunks(new)) + cs.offset_in_chunk(s)),
                    None => Place::Origin(s),
                };
                Piece { off, len: n, chunk: c, place }
            })
            .collect()
    }
}

impl Target for MergeTarget {
    fn kind(&self) -> &'static TargetKind {
        &MERGE_KIND
    }
    fn snapshot_origin(&self) -> Option<DevNum> {
        Some(self.common.origin.dev.num)
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let snap = self.common.snap()?;
        let st = snap.lock();
        let pieces = Self::plan(&st, at, Sectors::of_buf(buf));
        drop(st);
        for p in coalesce(&pieces) {
            let dst = &mut buf[byte_range(p.off..p.off + p.len)];
            match p.place {
                Place::Origin(s) => self.common.origin.dev.dev.read(s, dst)?,
                Place::Cow(s) => snap.cow.dev.read(s, dst)?,
            }
        }
        Ok(())
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        let snap = self.common.snap()?;
        let len = Sectors::of_buf(buf);
        let mut st = snap.lock();
        let pieces = loop {
            let cs = st.chunk_size;
            if chunk_pieces(cs, at, len).any(|(_, _, c)| st.merging_chunks.contains(&c)) {
                st = snap.wait(st);
                continue;
            }
            let pieces = Self::plan(&st, at, len);
            for p in &pieces {
                if matches!(p.place, Place::Cow(_)) {
                    st.track(p.chunk);
                }
            }
            break pieces;
        };
        drop(st);
        let mut result = Ok(());
        for p in coalesce(&pieces) {
            let src = &buf[byte_range(p.off..p.off + p.len)];
            let r = match p.place {
                Place::Origin(s) => {
                    self.common.origin.prepare_write(s, p.len).and_then(|_| self.common.origin.dev.dev.write(s, src))
                }
                Place::Cow(s) => snap.cow.dev.write(s, src),
            };
            if r.is_err() && result.is_ok() {
                result = r;
            }
        }
        let mut st = snap.lock();
        for p in &pieces {
            if matches!(p.place, Place::Cow(_)) {
                st.untrack(p.chunk);
            }
        }
        drop(st);
        snap.cond.notify_all();
        result
    }
    fn flush(&self) -> Result<()> {
        let snap = self.common.snap()?;
        snap.cow.dev.flush()?;
        self.common.origin.dev.dev.flush()
    }
    /// The kernel completes discards without effect while merging.
    fn discard(&self, _at: Sectors, _len: Sectors) -> Result<()> {
        Ok(())
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        zeroes_by_writing(at, len, |s, b| self.write(s, b))
    }
    fn table_params(&self) -> String {
        self.common.table_params()
    }
    fn status(&self) -> TargetStatus {
        TargetStatus::SnapshotMerge(self.common.status())
    }
    fn preresume(&self) -> std::result::Result<(), TargetError> {
        self.common.preresume()
    }
    fn resume(&self) {
        self.common.resume()
    }
    fn postsuspend(&self) {
        self.common.slot.suspended.store(true, Ordering::SeqCst);
    }
    fn background_step(&self) -> Option<Step> {
        let snap = self.common.slot.get()?;
        Some(snap.merge_step(&self.common.origin, &self.throttle))
    }
}
