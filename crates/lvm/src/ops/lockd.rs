//! Shared VGs under their locks, as LVM with lvmlockd and sanlock keeps
//! them; ulvm takes the same leases itself, through the host's sanlock
//! daemon, so ulvm hosts and LVM hosts can share one VG.
//!
//! With `global/use_lvmlockd = 1` and this host's `local/host_id`
//! (lvmlocal.conf):
//! - a VG is changed only under its VG lease (`VGLK`) held exclusive by
//!   the command, whose value block then carries the new seqno; a command
//!   that finds the seqno in the value block ahead of the metadata it
//!   read drops its cached copy and reads again;
//! - an LV is active on a host only while the host's daemon holds the
//!   LV's lease, exclusive (`-aey`) or shared (`-asy`): another host is
//!   refused ("LV locked by other host");
//! - `vgchange --lockstart`/`--lockstop` join and leave the VG's
//!   lockspace (`lvm_<vg>`, the delta leases at the start of `lvmlock`).
//!
//! The leases live in the hidden `lvmlock` LV at lvmlockd's offsets
//! ([`crate::lockd`]); sanlock is handed the PV and the LV's offset on it
//! (lvmlockd hands it `/dev/mapper/<vg>-lvmlock`: the bytes are the same).

use super::Session;
use crate::activate::{self, LeaseOp};
use crate::disk::Vg;
use crate::lockd::{self as layout, ValBlk};
use crate::model::{SegmentKind, VolumeGroup};
use crate::text::Items;
use crate::{HostErrorKind, LvmError};
use std::path::PathBuf;
use std::time::Duration;
use ulvm_sanlock::{Align, Area, Client, Lease, Mode, Sanlock};

/// How often a lock another host holds is tried again before the command
/// gives up (LVM's `global/lvmlockd_lock_retries`, 3), a second apart.
const RETRIES: u32 = 3;

/// The shared VGs' locks a session holds.
#[derive(Default)]
pub struct Locks {
    client: Option<Client<'static>>,
    /// The leases held (VG locks, the global lock), released when the
    /// session ends; a VG lock's value block is written then.
    held: Vec<Lease>,
}

impl Drop for Locks {
    fn drop(&mut self) {
        if let Some(c) = &self.client {
            for lease in self.held.drain(..) {
                let _ = c.release(&lease);
            }
        }
    }
}

/// Why a lock could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No sanlock daemon answers (LVM: lvmlockd is not running).
    NotRunning,
    /// This host has not joined the VG's lockspace (`--lockstart`).
    NotStarted,
    /// Another host holds it.
    Busy,
    /// No VG started here has the global lock enabled.
    NoGlobal,
    Other(String),
}

impl From<ulvm_sanlock::Error> for Failure {
    fn from(e: ulvm_sanlock::Error) -> Failure {
        if e.held_elsewhere() {
            Failure::Busy
        } else if e.not_running() {
            Failure::NotRunning
        } else {
            Failure::Other(e.to_string())
        }
    }
}

/// sanlock's I/O timeout for the lockspaces this host writes and joins:
/// `ULVM_SANLOCK_IO_TIMEOUT` seconds (lvmlockd's `-o`), else sanlock's
/// default of 10 s. Its multiples are every failure time: a lease is
/// renewed every 2x, a host that stops renewing fails its lease at 8x,
/// and other hosts may take its leases after 8x + 60 s.
pub fn io_timeout() -> u32 {
    std::env::var("ULVM_SANLOCK_IO_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(layout::IO_TIMEOUT)
}

/// The sanlock library, with its daemon answering.
fn sanlock() -> Result<&'static Sanlock, Failure> {
    let s = Sanlock::global().map_err(|_| Failure::NotRunning)?;
    s.version().map_err(|_| Failure::NotRunning)?;
    Ok(s)
}

/// The lock LV's extents on its PVs: where the sanlock areas in it are.
pub struct LockLv {
    /// `(start in the LV, length, PV path, offset on the PV)`, in bytes.
    pieces: Vec<(u64, u64, PathBuf, u64)>,
    /// The LV's size in bytes.
    pub len: u64,
}

impl LockLv {
    /// The lock LV `lock_args` names.
    pub fn of(vg: &Vg) -> Result<LockLv, LvmError> {
        LockLv::in_vg(&vg.vg, |key| vg.disk(key).map(|d| d.path.clone()))
    }

    /// [`LockLv::of`] a VG whose PVs (by key) are at `path_of`.
    pub fn in_vg(vg: &VolumeGroup, path_of: impl Fn(&str) -> Option<PathBuf>) -> Result<LockLv, LvmError> {
        let bad = |why: String| LvmError::Refused(format!("VG {}: {why}", vg.name));
        let args = vg.extra.as_slice().str("lock_args").ok_or_else(|| bad("no lock_args".into()))?;
        let name = layout::parse_vg_lock_args(args).map_err(|e| bad(e.to_string()))?;
        let lv = vg.lv(&name).ok_or_else(|| bad(format!("its lock LV {name} is missing")))?;
        let es = vg.extent_size;
        let mut pieces = Vec::new();
        for seg in &lv.segments {
            let SegmentKind::Striped { stripes, .. } = &seg.kind else {
                return Err(bad(format!("its lock LV {name} is not linear")));
            };
            let [(key, pe)] = stripes.as_slice() else {
                return Err(bad(format!("its lock LV {name} is not linear")));
            };
            let pv = vg.pv(key).ok_or_else(|| bad(format!("unknown PV {key}")))?;
            let path = path_of(key).ok_or_else(|| bad(format!("the PV of its lock LV ({key}) is missing")))?;
            pieces.push((
                es.to_sectors(seg.start_extent).bytes().0,
                es.to_sectors(seg.extent_count).bytes().0,
                path,
                (pv.pe_start + es.to_sectors(*pe)).bytes().0,
            ));
        }
        Ok(LockLv { len: es.to_sectors(lv.extents()).bytes().0, pieces })
    }

    /// The name of a shared VG's lock LV (none for a local VG).
    pub fn name(vg: &Vg) -> Option<String> {
        vg.vg.lock_type()?;
        layout::parse_vg_lock_args(vg.vg.extra.as_slice().str("lock_args")?).ok()
    }

    /// The area at `offset` bytes into the LV, one lease long (a lease
    /// that would cross from one PV extent run into another is refused).
    pub fn area(&self, offset: u64) -> Result<Area, LvmError> {
        let align = Align::Sector512;
        self.pieces
            .iter()
            .find(|(start, len, _, _)| offset >= *start && offset + align.bytes() <= start + len)
            .map(|(start, _, path, at)| Area::new(path.clone(), at + (offset - start), align))
            .ok_or_else(|| LvmError::Refused(format!("No lease area at {offset} in the lock LV.")))
    }

    /// The offsets of the LV lease slots, lvmlockd's from area 67 on.
    pub fn slots(&self) -> impl Iterator<Item = u64> + '_ {
        let a = Align::Sector512.bytes();
        (layout::LV_LOCK_AREA..).map(move |n| layout::area_offset(n, a)).take_while(move |o| o + a <= self.len)
    }

    fn lease(&self, vg: &str, name: &str, offset: u64) -> Result<Lease, LvmError> {
        Ok(Lease { lockspace: layout::lockspace(vg), name: name.to_string(), area: self.area(offset)? })
    }
}

/// The lease an LV is active under in a shared VG: its lock holder's (the
/// origin of a snapshot), named by the LV's UUID at its `lock_args`
/// offset. None in a local VG or for LVs without one (`lvmlock`).
pub fn lv_lease(vg: &Vg, lv: &str) -> Result<Option<Lease>, LvmError> {
    if vg.vg.lock_type().is_none() {
        return Ok(None);
    }
    let holder = activate::family_origin(vg, lv);
    let Some(l) = vg.vg.lv(&holder) else { return Ok(None) };
    let Some(args) = l.extra.as_slice().str("lock_args") else { return Ok(None) };
    let offset = layout::parse_lv_lock_args(args).map_err(|e| LvmError::Refused(format!("LV {lv}: {e}")))?;
    Ok(Some(LockLv::of(vg)?.lease(&vg.vg.name, &l.id.to_string(), offset)?))
}

impl Session {
    /// This host's `local/host_id`.
    fn host_id(&self) -> Result<u64, LvmError> {
        self.config()?
            .host_id
            .ok_or_else(|| LvmError::Refused("local/host_id must be set in lvmlocal.conf to use shared VGs.".into()))
    }

    /// Whether this host has joined `vg`'s lockspace.
    fn started(&self, vg: &Vg) -> Result<bool, Failure> {
        let s = sanlock()?;
        let host_id = self.host_id().map_err(|e| Failure::Other(e.to_string()))?;
        let area = LockLv::of(vg).map_err(|e| Failure::Other(e.to_string()))?.area(0);
        let area = area.map_err(|e| Failure::Other(e.to_string()))?;
        Ok(s.inq_lockspace(&layout::lockspace(&vg.vg.name), host_id, &area)?)
    }

    /// Takes `vg`'s VG lease in `mode` for the rest of the session (or
    /// until [`Session::unlock_vg`]); the value block it carries, if any
    /// was set.
    fn lock_vg_lease(&mut self, vg: &Vg, mode: Mode) -> Result<Option<ValBlk>, Failure> {
        if !self.started(vg)? {
            return Err(Failure::NotStarted);
        }
        let other = |e: LvmError| Failure::Other(e.to_string());
        let lock_lv = LockLv::of(vg).map_err(other)?;
        let lease = lock_lv
            .lease(&vg.vg.name, layout::VG_LOCK, layout::area_offset(layout::VG_LOCK_AREA, Align::Sector512.bytes()))
            .map_err(other)?;
        self.hold(lease, mode, true)
    }

    /// Holds `lease` in `mode` for the rest of the session, through the
    /// session's own registration, retrying while another host holds it
    /// (LVM's retries); its value block with `lvb`.
    fn hold(&mut self, lease: Lease, mode: Mode, lvb: bool) -> Result<Option<ValBlk>, Failure> {
        let s = sanlock()?;
        let value = |s: &Sanlock, lease: &Lease| {
            if lvb {
                s.get_lvb(lease, ValBlk::LEN).ok().and_then(|b| ValBlk::decode(&b))
            } else {
                None
            }
        };
        if self.locks.held.contains(&lease) {
            // Held since an earlier step of this session.
            return Ok(value(s, &lease));
        }
        if self.locks.client.is_none() {
            self.locks.client = Some(s.register(None)?);
        }
        let client = self.locks.client.as_ref().expect("registered above");
        let mut attempt = 0;
        loop {
            match client.acquire(&lease, mode, lvb) {
                Ok(()) => break,
                Err(e) if e.held_elsewhere() && attempt < RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let b = value(s, &lease);
        self.locks.held.push(lease);
        Ok(b)
    }

    /// The global lock: `GLLK` in the lockspace of a sanlock VG this host
    /// has started (lvmlockd enables it in one VG, `_GLLK_disabled` in the
    /// others).
    fn global_lease(&mut self) -> Result<Lease, Failure> {
        let s = sanlock()?;
        let host_id = self.host_id().map_err(|e| Failure::Other(e.to_string()))?;
        let (_, vgs) = self.scan_quiet(true).map_err(|e| Failure::Other(e.to_string()))?;
        let gl = layout::area_offset(layout::GL_LOCK_AREA, Align::Sector512.bytes());
        let mut started = false;
        for vg in vgs.values().filter(|v| v.vg.lock_type() == Some("sanlock")) {
            let Ok(l) = LockLv::of(vg) else { continue };
            let (Ok(space), Ok(area)) = (l.area(0), l.area(gl)) else { continue };
            let name = layout::lockspace(&vg.vg.name);
            if !s.inq_lockspace(&name, host_id, &space).unwrap_or(false) {
                continue;
            }
            started = true;
            if s.read_resource(&area).is_ok_and(|(_, n, _)| n == layout::GL_LOCK) {
                return Ok(Lease { lockspace: name, name: layout::GL_LOCK.into(), area });
            }
        }
        Err(if started { Failure::NoGlobal } else { Failure::NotStarted })
    }

    /// Whether any sanlock VG is seen (started here or not).
    fn any_sanlock_vg(&mut self) -> bool {
        self.scan_quiet(true).is_ok_and(|(_, vgs)| vgs.values().any(|v| v.vg.lock_type() == Some("sanlock")))
    }

    /// With `use_lvmlockd = 1`, LVM's global lock, exclusive, for a
    /// command that changes the set of VGs or orphan PVs (pvcreate,
    /// vgcreate, vgremove, ...): held until the session ends.
    pub(crate) fn lock_global_lease(&mut self) -> Result<(), LvmError> {
        if !self.config()?.use_lvmlockd {
            return Ok(());
        }
        let r = self.global_lease().and_then(|l| self.hold(l, Mode::Exclusive, false).map(drop));
        let why = match r {
            Ok(()) => return Ok(()),
            Err(Failure::NotRunning) => {
                self.warn_once(&["WARNING: lvmlockd process is not running.".to_string()]);
                "check that lvmlockd is running.".to_string()
            }
            Err(Failure::NotStarted) if self.any_sanlock_vg() => {
                "start existing sanlock VGs to access global lock.".to_string()
            }
            Err(Failure::NotStarted) => "check that global lockspace is started".to_string(),
            Err(Failure::NoGlobal) => "check that VG holding global lock exists and is started.".to_string(),
            Err(Failure::Busy) => "held by other host.".to_string(),
            Err(Failure::Other(e)) => e,
        };
        Err(LvmError::Refused(format!("Global lock failed: {why}")))
    }

    /// With `use_lvmlockd = 1`, the global lock shared, for a command
    /// that lists every VG or PV; without it the command goes on, with
    /// LVM's warning.
    pub fn lock_global_shared(&mut self) {
        if !self.config().is_ok_and(|c| c.use_lvmlockd) {
            return;
        }
        match self.global_lease().and_then(|l| self.hold(l, Mode::Shared, false).map(drop)) {
            Ok(()) => {}
            Err(Failure::NotRunning) => {
                self.warn_once(&["WARNING: lvmlockd process is not running.".to_string()]);
                self.warn("Reading without shared global lock.");
            }
            Err(_) => self.warn("Skipping global lock: lockspace not found or started"),
        }
    }

    /// Lets the VG lease of `vg` go, leaving in its value block the seqno
    /// a commit under it wrote.
    pub fn unlock_vg(&mut self, vg: &str) {
        let lockspace = layout::lockspace(vg);
        self.release_where(|l| l.lockspace == lockspace && l.name == layout::VG_LOCK);
    }

    /// Lets every lease this session holds in `lockspace` go.
    fn release_lockspace(&mut self, lockspace: &str) {
        self.release_where(|l| l.lockspace == lockspace);
    }

    fn release_where(&mut self, which: impl Fn(&Lease) -> bool) {
        let Some(client) = &self.locks.client else { return };
        let (mine, rest): (Vec<_>, Vec<_>) = self.locks.held.drain(..).partition(|l| which(l));
        self.locks.held = rest;
        for lease in mine {
            let _ = client.release(&lease);
        }
    }

    /// A shared VG just read, under its lock: exclusive for a command
    /// that changes it (held until the session ends), shared and let go
    /// at once for one that reads it. When the lock's value block says
    /// another host committed a newer seqno than the one read, the PVs'
    /// cached pages are dropped and the VG is read again. Without its
    /// lock a VG may still be read (LVM's warning), not changed.
    pub(crate) fn under_lock(&mut self, vg: Vg, read_only: bool) -> Result<Vg, LvmError> {
        if vg.vg.lock_type().is_none() || !vg.lockd {
            return Ok(vg);
        }
        let name = vg.vg.name.clone();
        let mode = if read_only { Mode::Shared } else { Mode::Exclusive };
        match self.lock_vg_lease(&vg, mode) {
            Ok(lvb) => {
                let vg = match lvb {
                    Some(b) if u64::from(b.seqno) > vg.vg.seqno => self.reread(&vg, read_only)?,
                    _ => vg,
                };
                if read_only {
                    self.unlock_vg(&name);
                }
                Ok(vg)
            }
            Err(f) => {
                if f == Failure::NotRunning {
                    self.warn_once(&["WARNING: lvmlockd process is not running.".to_string()]);
                }
                match (read_only, f == Failure::Busy) {
                    (true, true) => {
                        self.warn(format!("VG {name} lock skipped: held by other host."));
                        return Ok(vg);
                    }
                    (true, false) => {
                        self.warn(format!("Reading VG {name} without a lock."));
                        return Ok(vg);
                    }
                    (false, true) => {
                        return Err(LvmError::Refused(format!("VG {name} lock failed: held by other host.")));
                    }
                    (false, false) => {}
                }
                Err(LvmError::Refused(format!("Cannot access VG {name} due to failed lock.")))
            }
        }
    }

    /// The VG again, after dropping what the page cache holds of its PVs
    /// (another host wrote them).
    fn reread(&mut self, vg: &Vg, read_only: bool) -> Result<Vg, LvmError> {
        for d in vg.disks.values() {
            drop_cache(&d.path);
        }
        let (_, mut vgs) = self.scan_quiet(read_only)?;
        vgs.remove(&vg.vg.name).ok_or_else(|| LvmError::NotFound(format!("Volume group \"{}\" not found", vg.vg.name)))
    }

    /// After a commit of a shared VG under its lock: the new seqno goes
    /// into the lock's value block, for other hosts to see.
    pub(crate) fn committed(&mut self, vg: &Vg) {
        let lockspace = layout::lockspace(&vg.vg.name);
        let Ok(s) = Sanlock::global() else { return };
        let b = ValBlk::new(vg.vg.seqno as u32).encode();
        for lease in self.locks.held.iter().filter(|l| l.lockspace == lockspace && l.name == layout::VG_LOCK) {
            let _ = s.set_lvb(lease, &b);
        }
    }

    /// Whether the LV locks of `vg` can be taken here, as LVM says when
    /// they cannot.
    fn check_started(&mut self, vg: &Vg) -> Result<(), LvmError> {
        match self.started(vg) {
            Ok(true) => Ok(()),
            Ok(false) | Err(Failure::NotStarted | Failure::Busy | Failure::NoGlobal) => {
                Err(LvmError::Refused(format!("Cannot access VG {} due to failed lock.", vg.vg.name)))
            }
            Err(Failure::NotRunning) => {
                self.warn_once(&["WARNING: lvmlockd process is not running.".to_string()]);
                Err(LvmError::Refused(format!("Cannot access VG {} due to failed lock.", vg.vg.name)))
            }
            Err(Failure::Other(e)) => Err(LvmError::Refused(e)),
        }
    }
}

/// Drops the page cache of a PV (what another host wrote is read from the
/// disk next time).
fn drop_cache(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: an advice call on an fd we own.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

/// Activates `lv` (its family), under its lease in a shared VG:
/// exclusive, or shared with `-asy`.
pub fn activate_lv(s: &mut Session, vg: &Vg, lv: &str, op: LeaseOp) -> Result<(), LvmError> {
    let Some(lease) = lv_lease(vg, lv)? else {
        return activate::activate(s.host()?, vg, lv);
    };
    if op == LeaseOp::Shared {
        check_shareable(vg, lv)?;
    }
    s.check_started(vg)?;
    let was_active = activate::is_active(s.host()?, vg, lv)?.is_some();
    match s.host()?.lease(&lease, op) {
        Err(e) if e.kind == HostErrorKind::Busy => {
            let (v, l) = (&vg.vg.name, lv);
            return Err(LvmError::Refused(format!(
                "LV locked by other host: {v}/{l}\nFailed to lock logical volume {v}/{l}."
            )));
        }
        Err(e) => return Err(e.into()),
        Ok(()) => {}
    }
    let r = activate::activate(s.host()?, vg, lv);
    if r.is_err() && !was_active {
        let _ = s.host()?.lease(&lease, LeaseOp::Release);
    }
    r
}

/// `-asy` is for LVs several hosts may use at once: not for snapshots and
/// their origins (a write to the origin copies out to every snapshot) nor
/// for mirrors and raid LVs (whose resync one host runs), as lvmlockd's
/// LVM refuses them.
fn check_shareable(vg: &Vg, lv: &str) -> Result<(), LvmError> {
    let Some(l) = vg.vg.lv(lv) else { return Ok(()) };
    let family = !vg.vg.snapshots_of(lv).is_empty() || vg.vg.snapshot_of_cow(lv).is_some();
    let seg = l.segments.first().map(|s| s.type_name()).unwrap_or_default();
    if family || matches!(seg.as_str(), "snapshot" | "mirror" | "raid1") {
        return Err(LvmError::Refused(format!(
            "Shared activation not compatible with LV type {seg} of {}/{lv}",
            vg.vg.name
        )));
    }
    Ok(())
}

/// Deactivates `lv` (its family) and lets its lease go.
pub fn deactivate_lv(s: &mut Session, vg: &Vg, lv: &str) -> Result<(), LvmError> {
    activate::deactivate(s.host()?, vg, lv)?;
    if let Some(lease) = lv_lease(vg, lv)? {
        match s.host()?.lease(&lease, LeaseOp::Release) {
            Err(e) if e.kind != HostErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// A `key = "value"` item of the metadata text.
fn assign(key: &'static str, value: String) -> crate::text::Item<'static> {
    use std::borrow::Cow;
    crate::text::Item::Assign(Cow::Borrowed(key), crate::text::Value::Str(Cow::Owned(value)))
}

/// The lock manager for a command that writes leases: sanlock, running.
fn manager(vg: &str) -> Result<&'static Sanlock, LvmError> {
    sanlock().map_err(|_| LvmError::Refused(format!("VG {vg} init failed: lock manager sanlock is not running")))
}

fn sanlock_failed(what: &str, e: ulvm_sanlock::Error) -> LvmError {
    LvmError::Refused(format!("{what}: {e}"))
}

/// lvcreate in a shared VG: a lease for the new LV (named by its UUID) in
/// the first slot of the lock LV that no LV of the metadata holds (on
/// disk `#unused`, never written, or left by a removal cut short); the
/// LV's `lock_args` go into its metadata. When every slot is taken the
/// lock LV grows by `global/sanlock_lv_extend` MiB (zeroed), in the same
/// metadata change, as LVM grows it.
pub fn new_lease(s: &Session, vg: &mut Vg, lv_name: &str) -> Result<(), LvmError> {
    if vg.vg.lock_type().is_none() {
        return Ok(());
    }
    let id = vg.vg.lv(lv_name).ok_or_else(|| LvmError::NotFound(format!("No LV {lv_name}")))?.id.to_string();
    let sl = manager(&vg.vg.name)?;
    let used: std::collections::BTreeSet<u64> = vg
        .vg
        .lvs
        .iter()
        .filter_map(|l| l.extra.as_slice().str("lock_args").and_then(|a| layout::parse_lv_lock_args(a).ok()))
        .collect();
    loop {
        let lock_lv = LockLv::of(vg)?;
        if let Some(offset) = lock_lv.slots().find(|o| !used.contains(o)) {
            let area = lock_lv.area(offset)?;
            match sl.read_resource(&area) {
                Ok(_) => {}
                Err(e) if e.no_lease() => {}
                Err(e) => return Err(sanlock_failed("Reading the LV lock area failed", e)),
            }
            let lease = Lease { lockspace: layout::lockspace(&vg.vg.name), name: id, area };
            sl.write_resource(&lease).map_err(|e| sanlock_failed("Writing the LV lock failed", e))?;
            let lv = vg.vg_mut().lv_mut(lv_name).expect("found above");
            lv.extra.push(assign("lock_args", layout::lv_lock_args(offset)));
            return Ok(());
        }
        let mib = s.config()?.sanlock_lv_extend;
        if mib == 0 {
            return Err(LvmError::Refused("No space for sanlock lock, extend the internal lvmlock LV.".into()));
        }
        extend_lock_lv(vg, mib)?;
    }
}

/// Grows the lock LV by `mib` MiB (whole extents) and zeroes what it
/// gained, so that no old bytes there look like a lease.
fn extend_lock_lv(vg: &mut Vg, mib: u64) -> Result<(), LvmError> {
    let name = LockLv::name(vg).ok_or_else(|| LvmError::Refused(format!("VG {} has no lock LV", vg.vg.name)))?;
    let es = vg.vg.extent_size;
    let extents = es.extents_ceil(ulvm_blockdev::Bytes(mib << 20).sectors_ceil());
    let current = vg.vg.lv(&name).map(|l| l.extents()).unwrap_or_default();
    let areas = super::common::allocate(vg, &name, extents, 1, None, None)?;
    let segments = crate::alloc::segments_from(&areas, current, ulvm_blockdev::Sectors(128));
    for seg in &segments {
        if let SegmentKind::Striped { stripes, .. } = &seg.kind {
            for (key, pe) in stripes {
                let (Some(pv), Some(d)) = (vg.vg.pv(key), vg.disk(key)) else { continue };
                d.dev.write_zeroes(pv.pe_start + es.to_sectors(*pe), es.to_sectors(seg.extent_count))?;
                d.dev.flush()?;
            }
        }
    }
    let lv = vg.vg_mut().lv_mut(&name).expect("the lock LV");
    crate::alloc::append_segments(lv, segments);
    Ok(())
}

/// lvremove in a shared VG: the LV's lease slot is written `#unused`
/// again, free for the next LV (as lvmlockd frees it).
pub fn free_lease(_s: &mut Session, vg: &Vg, lv: &str) -> Result<(), LvmError> {
    let Some(l) = vg.vg.lv(lv) else { return Ok(()) };
    if vg.vg.lock_type().is_none() || l.extra.as_slice().str("lock_args").is_none() {
        return Ok(());
    }
    let Some(mut lease) = lv_lease(vg, lv)? else { return Ok(()) };
    lease.name = layout::UNUSED.to_string();
    manager(&vg.vg.name)?.write_resource(&lease).map_err(|e| sanlock_failed("Freeing the LV lock failed", e))
}

/// What vgcreate --shared needs before it writes anything: lvmlockd's
/// settings, and sanlock running.
pub fn check_can_share(s: &Session, vg: &str) -> Result<(), LvmError> {
    if !s.config()?.use_lvmlockd {
        return Err(LvmError::Usage("Using a shared lock type requires lvmlockd.".into()));
    }
    s.host_id()?;
    manager(vg).map(drop)
}

/// vgcreate --shared, once the VG with its lock LV is written: the
/// lockspace, the global lock (`GLLK` in the first sanlock VG, as
/// lvmlockd enables it; `_GLLK_disabled` in the others), the VG lock and
/// every LV slot `#unused`.
pub fn init_vg(vg: &Vg, global: bool) -> Result<(), LvmError> {
    let s = manager(&vg.vg.name)?;
    let lock_lv = LockLv::of(vg)?;
    let name = layout::lockspace(&vg.vg.name);
    let a = Align::Sector512.bytes();
    let failed = |e| sanlock_failed(&format!("VG {} init failed", vg.vg.name), e);
    s.write_lockspace(&name, &lock_lv.area(0)?, 0, io_timeout()).map_err(failed)?;
    let gl = if global { layout::GL_LOCK } else { layout::GL_LOCK_DISABLED };
    let mut leases = vec![
        (gl, layout::area_offset(layout::GL_LOCK_AREA, a)),
        (layout::VG_LOCK, layout::area_offset(layout::VG_LOCK_AREA, a)),
    ];
    leases.extend(lock_lv.slots().map(|o| (layout::UNUSED, o)));
    for (lease, offset) in leases {
        let lease = Lease { lockspace: name.clone(), name: lease.to_string(), area: lock_lv.area(offset)? };
        s.write_resource(&lease).map_err(failed)?;
    }
    Ok(())
}

/// `vgchange --lockstart`: this host joins the VG's lockspace (its delta
/// lease at `host_id`; sanlock takes a few of its I/O timeouts to be sure
/// no other host has it). Already started is fine.
pub fn lockstart(s: &mut Session, vg: &Vg) -> Result<(), LvmError> {
    let failed = |why: &str| LvmError::Refused(format!("VG {} start failed: {why}", vg.vg.name));
    let host_id = s.host_id().map_err(|_| failed("invalid sanlock host_id, set in lvmlocal.conf"))?;
    let sl = sanlock().map_err(|_| failed("lock manager sanlock is not running"))?;
    let area = LockLv::of(vg)?.area(0)?;
    let name = layout::lockspace(&vg.vg.name);
    if sl.inq_lockspace(&name, host_id, &area).unwrap_or(false) {
        return Ok(());
    }
    match sl.add_lockspace(&name, host_id, &area, io_timeout()) {
        Err(e) if e.code() == Some(-libc::EEXIST) => Ok(()),
        r => r.map_err(|e| LvmError::Refused(format!("VG {} start failed: {e}", vg.vg.name))),
    }
}

/// `lvmlockctl --gl-enable VG` / `--gl-disable VG`: the global lock
/// lives in `VG` (its area 65 named `GLLK`), or no longer (named
/// `_GLLK_disabled`). What an administrator does when the VG holding the
/// global lock was removed: without one, pvcreate and vgcreate are
/// refused. Enabling it in a second VG is refused.
pub fn gl_able(s: &mut Session, name: &str, enable: bool) -> Result<(), LvmError> {
    let (_, vgs) = s.scan_quiet(true)?;
    let vg = vgs.get(name).ok_or_else(|| LvmError::NotFound(format!("Volume group \"{name}\" not found")))?;
    if vg.vg.lock_type() != Some("sanlock") {
        return Err(LvmError::Refused(format!("VG {name} is not a sanlock VG.")));
    }
    let sl = manager(name)?;
    let gl = layout::area_offset(layout::GL_LOCK_AREA, Align::Sector512.bytes());
    if enable {
        for other in vgs.values().filter(|v| v.vg.name != name && v.vg.lock_type() == Some("sanlock")) {
            let area = LockLv::of(other).and_then(|l| l.area(gl));
            if area.is_ok_and(|a| sl.read_resource(&a).is_ok_and(|(_, n, _)| n == layout::GL_LOCK)) {
                return Err(LvmError::Refused(format!(
                    "The global lock is enabled in VG {} already: disable it there first.",
                    other.vg.name
                )));
            }
        }
    }
    let lease = Lease {
        lockspace: layout::lockspace(name),
        name: if enable { layout::GL_LOCK } else { layout::GL_LOCK_DISABLED }.to_string(),
        area: LockLv::of(vg)?.area(gl)?,
    };
    sl.write_resource(&lease).map_err(|e| sanlock_failed(&format!("VG {name}: writing the global lock"), e))
}

/// vgrename of a shared VG, before the metadata changes: under its VG
/// lock, with no LV active here and no other host in its lockspace
/// (LVM's `Lockspace for "VG" not stopped on other hosts`).
pub fn before_rename(s: &mut Session, vg: Vg) -> Result<Vg, LvmError> {
    let vg = s.under_lock(vg, false)?;
    let name = vg.vg.name.clone();
    if !super::vg::active_lvs(s, &vg).is_empty() {
        return Err(LvmError::Refused(format!("Cannot rename VG {name} with active LVs.")));
    }
    let sl = manager(&name)?;
    let me = s.host_id()?;
    let others = sl.hosts(&layout::lockspace(&name)).map_err(|e| sanlock_failed("Reading the lockspace's hosts", e))?;
    let live = |h: &ulvm_sanlock::HostState| {
        let state = h.flags & 0xf;
        // SANLK_HOST_FREE (2) and DEAD (5) are gone; LIVE, FAIL and UNKNOWN may not be.
        h.host_id != me && h.timestamp != 0 && state != 2 && state != 5
    };
    if others.iter().any(live) {
        return Err(LvmError::Refused(format!("Lockspace for \"{name}\" not stopped on other hosts")));
    }
    Ok(vg)
}

/// vgrename of a shared VG, once the metadata has the new name: this
/// host leaves the old lockspace, the lockspace and every lease are
/// written again under the new name, and this host joins it.
pub fn after_rename(s: &mut Session, before: &Vg, after: &Vg) -> Result<(), LvmError> {
    leave(s, before);
    let sl = manager(&after.vg.name)?;
    let lock_lv = LockLv::of(after)?;
    let name = layout::lockspace(&after.vg.name);
    let failed = |e| sanlock_failed(&format!("VG {} rename failed", after.vg.name), e);
    sl.write_lockspace(&name, &lock_lv.area(0)?, 0, io_timeout()).map_err(failed)?;
    let a = Align::Sector512.bytes();
    let areas = [layout::GL_LOCK_AREA, layout::VG_LOCK_AREA].map(|n| layout::area_offset(n, a));
    for offset in areas.into_iter().chain(lock_lv.slots()) {
        let area = lock_lv.area(offset)?;
        match sl.read_resource(&area) {
            Ok((_, lease, _)) => {
                sl.write_resource(&Lease { lockspace: name.clone(), name: lease, area }).map_err(failed)?
            }
            // A slot never written (a grown lock LV's) stays so.
            Err(e) if e.no_lease() => {}
            Err(e) => return Err(failed(e)),
        }
    }
    lockstart(s, after)
}

/// vgremove of a shared VG: its lock lets go and this host leaves the
/// lockspace (what lvmlockd does when the VG is freed).
pub fn leave(s: &mut Session, vg: &Vg) {
    // Every lease this session holds there first (the VG lock, the global
    // lock if the VG has it): sanlock kills the holders of leases in a
    // lockspace that goes.
    s.release_lockspace(&layout::lockspace(&vg.vg.name));
    if let (Ok(sl), Ok(host_id), Ok(l)) = (sanlock(), s.host_id(), LockLv::of(vg)) {
        if let Ok(area) = l.area(0) {
            let _ = sl.rem_lockspace(&layout::lockspace(&vg.vg.name), host_id, &area);
        }
    }
}

/// `vgchange --lockstop`: this host leaves the VG's lockspace, refused
/// while any of its LVs is active here.
pub fn lockstop(s: &mut Session, vg: &Vg) -> Result<(), LvmError> {
    if !super::vg::active_lvs(s, vg).is_empty() {
        return Err(LvmError::Refused(format!("VG {} stop failed: LVs must first be deactivated", vg.vg.name)));
    }
    let host_id = s.host_id()?;
    let Ok(sl) = sanlock() else { return Ok(()) };
    let area = LockLv::of(vg)?.area(0)?;
    let name = layout::lockspace(&vg.vg.name);
    if !sl.inq_lockspace(&name, host_id, &area).unwrap_or(false) {
        return Ok(());
    }
    s.release_lockspace(&name);
    sl.rem_lockspace(&name, host_id, &area)
        .map_err(|e| LvmError::Refused(format!("VG {} stop failed: {e}", vg.vg.name)))
}

/// LVM's refusal of what a shared VG does not allow: `why` with the VG's
/// lock type.
pub fn refuse_shared(vg: &Vg, why: impl FnOnce(&str) -> String) -> Result<(), LvmError> {
    match vg.vg.lock_type() {
        Some(t) => Err(LvmError::Refused(why(t))),
        None => Ok(()),
    }
}

/// A shared VG by name, read without its lock (what lock start and stop
/// work on).
fn shared_vg(s: &mut Session, name: &str) -> Result<Option<Vg>, LvmError> {
    let (_, mut vgs) = s.scan_quiet(true)?;
    let vg = vgs.remove(name).ok_or_else(|| LvmError::NotFound(format!("Volume group \"{name}\" not found")))?;
    super::check_local(&vg)?;
    Ok(vg.vg.lock_type().is_some().then_some(vg))
}

/// `vgchange --lockstart VG` (a local VG is left alone, as LVM does).
pub fn vgchange_lockstart(s: &mut Session, name: &str) -> Result<(), LvmError> {
    match shared_vg(s, name)? {
        Some(vg) => lockstart(s, &vg),
        None => Ok(()),
    }
}

/// `vgchange --lockstop VG`.
pub fn vgchange_lockstop(s: &mut Session, name: &str) -> Result<(), LvmError> {
    match shared_vg(s, name)? {
        Some(vg) => lockstop(s, &vg),
        None => Ok(()),
    }
}

/// Whether an LV holds a lock of its own in a shared VG, as lvmlockd
/// gives them: visible LVs that are not snapshots.
fn holds_lock(vg: &crate::model::VolumeGroup, lv: &crate::model::LogicalVolume) -> bool {
    lv.is_visible()
        && vg.snapshot_of_cow(&lv.name).is_none()
        && !lv.segments.iter().any(|s| matches!(s.kind, SegmentKind::Snapshot { .. }))
}

/// The global lock `vgchange --locktype` takes first. LVM 2.03.16 says
/// why it cannot be had and changes nothing, yet exits 0; so does ulvm
/// (false: nothing to do).
fn global_for_locktype(s: &mut Session) -> Result<bool, LvmError> {
    if !s.config()?.use_lvmlockd {
        s.warn("Using lock type requires lvmlockd.");
        return Ok(false);
    }
    match s.lock_global_lease() {
        Ok(()) => Ok(true),
        Err(LvmError::Refused(why)) => {
            s.warn(why);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// `vgchange --locktype sanlock VG`: a local VG becomes shared, with its
/// `lvmlock` LV, the lockspace and leases, and a lease for each LV. Its
/// LVs must be inactive.
pub fn to_sanlock(s: &mut Session, name: &str) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    let (_, vgs) = s.scan_quiet(true)?;
    // The first shared VG gets the global lock; before it there is none.
    let global = !vgs.values().any(|v| v.vg.lock_type() == Some("sanlock"));
    if (!s.config()?.use_lvmlockd || !global) && !global_for_locktype(s)? {
        return Ok(());
    }
    let mut vg = s.vg(name, false)?;
    if let Some(t) = vg.vg.lock_type() {
        return Err(LvmError::Refused(format!("New lock type sanlock matches the current lock type {t}.")));
    }
    check_can_share(s, name)?;
    if !super::vg::active_lvs(s, &vg).is_empty() {
        return Err(LvmError::Refused(format!("Changing VG {name} lock type not allowed with active LVs")));
    }
    super::vg::share(&mut vg)?;
    init_vg(&vg, global)?;
    let holders: Vec<String> = vg.vg.lvs.iter().filter(|l| holds_lock(&vg.vg, l)).map(|l| l.name.clone()).collect();
    for n in holders {
        new_lease(s, &mut vg, &n)?;
    }
    s.commit(&mut vg)?;
    s.print(format!("Volume group \"{name}\" successfully changed"));
    Ok(())
}

/// `vgchange --locktype none VG`: a shared VG becomes local again (its
/// lock LV and every `lock_args` go), under its VG lock; its LVs must be
/// inactive, and this host leaves the lockspace.
pub fn to_none(s: &mut Session, name: &str) -> Result<(), LvmError> {
    let _l = s.lock_vg(name)?;
    if !global_for_locktype(s)? {
        return Ok(());
    }
    let mut vg = s.vg(name, false)?;
    if vg.vg.lock_type().is_none() {
        return Ok(());
    }
    if !super::vg::active_lvs(s, &vg).is_empty() {
        return Err(LvmError::Refused(format!("Changing VG {name} lock type not allowed with active LVs")));
    }
    let lock_lv = layout::parse_vg_lock_args(vg.vg.extra.as_slice().str("lock_args").unwrap_or(""))
        .unwrap_or_else(|_| layout::LOCK_LV.to_string());
    let before = vg.clone();
    let v = vg.vg_mut();
    v.extra.retain(|i| !matches!(i, crate::text::Item::Assign(k, _) if k == "lock_type" || k == "lock_args"));
    v.lvs.retain(|l| l.name != lock_lv);
    for lv in &mut v.lvs {
        lv.extra.retain(|i| !matches!(i, crate::text::Item::Assign(k, _) if k == "lock_args"));
    }
    s.commit(&mut vg)?;
    leave(s, &before);
    s.print(format!("Volume group \"{name}\" successfully changed"));
    Ok(())
}

impl Session {
    /// What a report reads of the shared VGs among `vgs` (those named, or
    /// all): each under its VG lock, shared, as [`Session::under_lock`]
    /// reads it (again, when another host committed since), or with LVM's
    /// warning when the lock cannot be had.
    pub fn read_shared(
        &mut self,
        mut vgs: std::collections::BTreeMap<String, Vg>,
        names: Option<&[&str]>,
    ) -> Result<std::collections::BTreeMap<String, Vg>, LvmError> {
        let shared: Vec<String> = vgs
            .values()
            .filter(|v| v.lockd && v.vg.lock_type() == Some("sanlock"))
            .filter(|v| names.is_none_or(|n| n.contains(&v.vg.name.as_str())))
            .map(|v| v.vg.name.clone())
            .collect();
        for n in shared {
            let v = vgs.remove(&n).expect("listed");
            let v = self.under_lock(v, true)?;
            vgs.insert(n, v);
        }
        Ok(vgs)
    }
}

#[cfg(test)]
#[path = "lockd_tests.rs"]
mod tests;
