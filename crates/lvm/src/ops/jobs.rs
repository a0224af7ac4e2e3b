//! Background jobs: LVM work that the device host carries out on its own
//! (a snapshot merging into its origin, a clone hydrating) and that ends
//! with a metadata change once the host is done. LVM2 calls the part that
//! watches and finishes them polling (`lib/lvmpolld`, `struct
//! poll_functions`); here each kind of job is a [`Job`], and [`poll`]
//! steps any of them.
//!
//! A job is a state machine read off the host: [`Job::step`] asks the
//! device's status and says how far it is (`Running { done, total }`),
//! that it is `Done` (then [`Job::finish`] changes the metadata and the
//! tables), or that its device is not active (it waits for the next
//! activation, which starts it again: that is how a job resumes after a
//! daemon restart). Jobs keep their own state on disk (the COW, the
//! clone's metadata), so polling can stop and start at any time.
//!
//! Adding a kind of job (mirror or raid resync) is one more `Job`
//! implementation and one more arm in [`jobs_of`]; [`PvMove`] is the
//! latest.

use super::{pvmove, Session};
use crate::activate;
use crate::disk::Vg;
use crate::names::dm_name;
use crate::LvmError;
use std::time::{Duration, Instant};
use ulvm_blockdev::{Bytes, Sectors};
use ulvm_dm_table::{SnapshotStatus, TargetStatus};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `done` of `total` units (sectors merged, regions hydrated).
    Running { done: u64, total: u64 },
    /// The host has finished; the metadata still has to follow.
    Done,
    /// The job's device is not active: it continues on activation.
    Inactive,
}

/// One kind of background work on one LV.
pub trait Job: Send {
    fn vg(&self) -> &str;
    /// The LV the job runs on (a merge's origin, a clone LV).
    fn lv(&self) -> &str;
    /// What the job is, for logs: `snapshot merge`, `clone hydration`.
    fn what(&self) -> &'static str;
    /// LVM's word for the progress line: `Merged`, `Copied`.
    fn verb(&self) -> &'static str;
    /// How big one unit of progress is (for rates).
    fn unit_bytes(&self) -> Bytes;
    /// Reads the job's state off the device host.
    fn step(&mut self, s: &mut Session) -> Result<State, LvmError>;
    /// Once [`State::Done`]: the metadata and tables follow. Returns the
    /// LV that went away, or `None` if there was nothing to finish (a
    /// poller elsewhere finished it first).
    fn finish(&mut self, s: &mut Session) -> Result<Option<String>, LvmError>;
    /// Whether the metadata still has this job (false once finished).
    fn pending(&self, vg: &Vg) -> bool;
}

/// A snapshot merging into `origin`.
pub struct SnapshotMerge {
    pub vg: String,
    pub origin: String,
}

impl Job for SnapshotMerge {
    fn vg(&self) -> &str {
        &self.vg
    }
    fn lv(&self) -> &str {
        &self.origin
    }
    fn what(&self) -> &'static str {
        "snapshot merge"
    }
    fn verb(&self) -> &'static str {
        "Merged"
    }
    /// Merge progress counts sectors.
    fn unit_bytes(&self) -> Bytes {
        Sectors(1).bytes()
    }

    fn step(&mut self, s: &mut Session) -> Result<State, LvmError> {
        let Some(h) = s.host_if_running() else { return Ok(State::Inactive) };
        let top = dm_name(&self.vg, &self.origin, None);
        if h.state(&top)?.is_none() {
            return Ok(State::Inactive);
        }
        match h.status(&top)? {
            TargetStatus::SnapshotMerge(SnapshotStatus::Active { allocated, metadata, .. })
                if allocated == metadata =>
            {
                Ok(State::Done)
            }
            TargetStatus::SnapshotMerge(SnapshotStatus::Active { allocated, total, .. }) => {
                Ok(State::Running { done: total.0.saturating_sub(allocated.0), total: total.0 })
            }
            TargetStatus::SnapshotMerge(st) => {
                Err(LvmError::Refused(format!("Merge of {}/{} failed: status {st}", self.vg, self.origin)))
            }
            _ => Ok(State::Inactive),
        }
    }

    /// The COW and its snapshot leave the metadata and the origin gets its
    /// own table back.
    fn finish(&mut self, s: &mut Session) -> Result<Option<String>, LvmError> {
        let _l = s.lock_vg(&self.vg)?;
        let mut vg = s.vg(&self.vg, false)?;
        let Some(snap) = vg.vg.snapshots_of(&self.origin).into_iter().find(|x| x.merging) else { return Ok(None) };
        if self.step(s)? != State::Done {
            return Ok(None);
        }
        let before = activate::plan(&vg, &self.origin)?;
        vg.vg_mut().lvs.retain(|l| l.name != snap.cow && l.name != snap.seg_lv);
        let after = activate::plan(&vg, &self.origin)?;
        activate::sync_family(s.host()?, &before, &after)?;
        s.commit(&mut vg)?;
        Ok(Some(snap.cow))
    }

    fn pending(&self, vg: &Vg) -> bool {
        vg.vg.snapshots_of(&self.origin).iter().any(|x| x.merging)
    }
}

/// A clone LV filling itself from its source.
pub struct CloneHydration {
    pub vg: String,
    pub lv: String,
    /// Bytes per region, for rates.
    pub region_bytes: Bytes,
}

impl Job for CloneHydration {
    fn vg(&self) -> &str {
        &self.vg
    }
    fn lv(&self) -> &str {
        &self.lv
    }
    fn what(&self) -> &'static str {
        "clone hydration"
    }
    fn verb(&self) -> &'static str {
        "Copied"
    }
    fn unit_bytes(&self) -> Bytes {
        self.region_bytes
    }

    fn step(&mut self, s: &mut Session) -> Result<State, LvmError> {
        let Some(h) = s.host_if_running() else { return Ok(State::Inactive) };
        let top = dm_name(&self.vg, &self.lv, None);
        if h.state(&top)?.is_none() {
            return Ok(State::Inactive);
        }
        Ok(match h.status(&top)?.clone_status().and_then(|c| c.progress()) {
            Some((h, t)) if h == t => State::Done,
            Some((done, total)) => State::Running { done, total },
            None => State::Inactive,
        })
    }

    /// The clone becomes a plain LV: the metadata LV goes, the table
    /// becomes the LV's own extents.
    fn finish(&mut self, s: &mut Session) -> Result<Option<String>, LvmError> {
        let _l = s.lock_vg(&self.vg)?;
        let mut vg = s.vg(&self.vg, false)?;
        let Some(c) = vg.vg.lv(&self.lv).and_then(|l| l.clone_ref()) else { return Ok(None) };
        if self.step(s)? != State::Done {
            return Ok(None);
        }
        let before = activate::plan(&vg, &self.lv)?;
        let lv = vg.vg_mut().lv_mut(&self.lv).expect("the clone LV");
        lv.clear_clone();
        lv.flags.retain(|f| f != "ACTIVATION_SKIP");
        vg.vg_mut().lvs.retain(|l| l.name != c.metadata_lv);
        let after = activate::plan(&vg, &self.lv)?;
        activate::sync_family(s.host()?, &before, &after)?;
        s.commit(&mut vg)?;
        Ok(Some(c.metadata_lv))
    }

    fn pending(&self, vg: &Vg) -> bool {
        vg.vg.lv(&self.lv).is_some_and(|l| l.clone_ref().is_some())
    }
}

/// A pvmove: its `pvmoveN` LV copies one segment at a time. Each step
/// reads the running segment's mirror status; a segment in sync is
/// committed (`extents_moved = extent_count`) and the next one starts
/// mirroring; once the last one is in sync the move finishes
/// ([`pvmove::finish`]).
pub struct PvMove {
    pub vg: String,
    /// The `pvmoveN` LV.
    pub lv: String,
    /// The source PV's path, for progress lines (`/dev/sdb: Moved: 12.00%`).
    pub source: String,
    pub extent_bytes: Bytes,
}

impl PvMove {
    /// The running segment's state: `(segment index, in-sync regions,
    /// regions)`, or `None` when every segment is done.
    fn running(&self, s: &mut Session, vg: &Vg) -> Result<Option<(usize, u64, u64)>, LvmError> {
        let Some(lv) = vg.vg.lv(&self.lv) else { return Ok(None) };
        let states = activate::move_states(lv);
        let Some(i) = states.iter().position(|st| *st == activate::MoveState::Running) else { return Ok(None) };
        if !matches!(lv.segments[i].kind, crate::model::SegmentKind::Mirror(_)) {
            // An orphan left between the two commits of a finish.
            return Ok(None);
        }
        let dm = dm_name(&self.vg, &self.lv, None);
        let h = s.host()?;
        let lines = h.status_lines(&dm)?;
        match lines.get(i).map(|l| &l.status) {
            Some(TargetStatus::Mirror(m)) => Ok(Some((i, m.in_sync, m.regions))),
            _ => Err(LvmError::Refused(format!(
                "Number of segments in active LV {}/{} does not match metadata.",
                self.vg, self.lv
            ))),
        }
    }

    /// Commits a segment in sync and reloads the pvmove's table: that
    /// segment maps the destination now, the next one mirrors.
    fn advance(&mut self, s: &mut Session, seg: usize) -> Result<(), LvmError> {
        let _l = s.lock_vg(&self.vg)?;
        let mut vg = s.vg(&self.vg, false)?;
        let before = activate::plan(&vg, &self.lv)?;
        let Some(lv) = vg.vg_mut().lv_mut(&self.lv) else { return Ok(()) };
        let Some(segment) = lv.segments.get_mut(seg) else { return Ok(()) };
        if let crate::model::SegmentKind::Mirror(m) = &mut segment.kind {
            if m.extents_moved == Some(segment.extent_count) {
                return Ok(());
            }
            m.extents_moved = Some(segment.extent_count);
        }
        let after = activate::plan(&vg, &self.lv)?;
        pvmove::flush_pvs(&vg)?;
        s.commit(&mut vg)?;
        activate::sync_family(s.host()?, &before, &after)
    }
}

impl Job for PvMove {
    fn vg(&self) -> &str {
        &self.vg
    }
    fn lv(&self) -> &str {
        &self.lv
    }
    fn what(&self) -> &'static str {
        "pvmove"
    }
    fn verb(&self) -> &'static str {
        "Moved"
    }
    /// Progress counts extents (LVM's `extents_copied`).
    fn unit_bytes(&self) -> Bytes {
        self.extent_bytes
    }

    fn step(&mut self, s: &mut Session) -> Result<State, LvmError> {
        let Some(h) = s.host_if_running() else { return Ok(State::Inactive) };
        if h.state(&dm_name(&self.vg, &self.lv, None))?.is_none() {
            return Ok(State::Inactive);
        }
        loop {
            let vg = s.vg(&self.vg, true)?;
            let Some(lv) = vg.vg.lv(&self.lv) else { return Ok(State::Inactive) };
            let total = lv.extents().0;
            let Some((i, in_sync, regions)) = self.running(s, &vg)? else { return Ok(State::Done) };
            let last = i + 1 == lv.segments.len();
            if in_sync == regions && !last {
                self.advance(s, i)?;
                continue;
            }
            if in_sync == regions {
                return Ok(State::Done);
            }
            // LVM's `copy_percent`: whole segments moved, plus the running
            // one's share in whole extents.
            let moved: u64 = lv.segments[..i].iter().map(|x| x.extent_count.0).sum();
            let running = lv.segments[i].extent_count.0 * in_sync / regions.max(1);
            return Ok(State::Running { done: moved + running, total });
        }
    }

    fn finish(&mut self, s: &mut Session) -> Result<Option<String>, LvmError> {
        // The last segment is in sync: it counts as moved in the finish's
        // first commit, as LVM's (no checkpoint of its own).
        let copied = {
            let vg = s.vg(&self.vg, true)?;
            if vg.vg.lv(&self.lv).is_none() {
                return Ok(None);
            }
            match self.running(s, &vg)? {
                Some((_, a, b)) if a != b => return Ok(None),
                Some((i, _, _)) => Some(i),
                None => None,
            }
        };
        Ok(pvmove::finish(s, &self.vg, &self.lv, copied)?.then(|| self.lv.clone()))
    }

    fn pending(&self, vg: &Vg) -> bool {
        vg.vg.lv(&self.lv).is_some_and(|l| l.is_pvmove())
    }
}

/// The job that `lv` of `vg` has in the metadata, if any: a merge into it
/// (as an origin), its hydration (as a clone), or a pvmove (`pvmoveN`).
pub fn job_of(vg: &Vg, lv: &str) -> Option<Box<dyn Job>> {
    let v = &vg.vg;
    if let Some(m) = v.lv(lv).filter(|l| l.is_pvmove()) {
        return Some(Box::new(PvMove {
            vg: v.name.clone(),
            lv: lv.to_string(),
            source: pvmove::source_key(v, m).map(|k| vg.pv_path(k)).unwrap_or_default(),
            extent_bytes: v.extent_size.sectors().bytes(),
        }));
    }
    if v.snapshots_of(lv).iter().any(|s| s.merging) {
        return Some(Box::new(SnapshotMerge { vg: v.name.clone(), origin: lv.to_string() }));
    }
    let c = v.lv(lv)?.clone_ref()?;
    Some(Box::new(CloneHydration { vg: v.name.clone(), lv: lv.to_string(), region_bytes: c.region_size.bytes() }))
}

/// Every job a VG's metadata has.
pub fn jobs_of(vg: &Vg) -> Vec<Box<dyn Job>> {
    let mut lvs: Vec<String> = vg.vg.snapshots().into_iter().filter(|s| s.merging).map(|s| s.origin).collect();
    lvs.dedup();
    lvs.extend(vg.vg.lvs.iter().filter(|l| l.clone_ref().is_some()).map(|l| l.name.clone()));
    lvs.extend(vg.vg.lvs.iter().filter(|l| l.is_pvmove()).map(|l| l.name.clone()));
    lvs.iter().filter_map(|l| job_of(vg, l)).collect()
}

/// One progress report of [`poll`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    /// Units per second since polling began.
    pub rate: f64,
}

impl Progress {
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        }
    }
}

/// How polling ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This poller finished the job; the LV that went away.
    Finished(String),
    /// Someone else finished it (another poller, or the daemon).
    FinishedElsewhere,
    /// The job's device is not active; it continues on activation.
    Inactive,
    /// The caller asked to stop.
    Stopped,
}

/// What the caller wants after a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Stop,
}

/// Steps `job` every `interval` until it is done, then finishes it.
/// `report` sees every `Running` state and may stop polling.
pub fn poll(
    s: &mut Session,
    job: &mut dyn Job,
    interval: Duration,
    report: &mut dyn FnMut(&Progress) -> Next,
) -> Result<Outcome, LvmError> {
    let start = Instant::now();
    let mut first: Option<u64> = None;
    loop {
        match job.step(s)? {
            State::Running { done, total } => {
                let base = *first.get_or_insert(done);
                let secs = start.elapsed().as_secs_f64();
                let rate = if secs > 0.0 { done.saturating_sub(base) as f64 / secs } else { 0.0 };
                if report(&Progress { done, total, rate }) == Next::Stop {
                    return Ok(Outcome::Stopped);
                }
                std::thread::sleep(interval);
            }
            State::Done => {
                return Ok(match job.finish(s)? {
                    Some(gone) => Outcome::Finished(gone),
                    None => Outcome::FinishedElsewhere,
                });
            }
            State::Inactive => {
                // A job whose device went away because another poller
                // finished it is done, not waiting.
                let vg = s.vg(job.vg(), true)?;
                return Ok(if job.pending(&vg) { Outcome::Inactive } else { Outcome::FinishedElsewhere });
            }
        }
    }
}
