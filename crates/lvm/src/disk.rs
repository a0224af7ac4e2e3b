//! PVs and VGs on devices: finding the PVs among a set of devices, putting
//! each VG together from the metadata on its PVs, and committing a new
//! version of a VG to every PV with a backup and an archive copy.
//!
//! A commit writes the new text into each PV's ring and then flips each
//! PV's header (see [`crate::pv::commit_metadata`]). A crash part-way leaves
//! some PVs at the old seqno and some at the new; readers take the highest
//! seqno, as LVM does, so the VG reads as either version, never neither.

use crate::label::PvLabel;
use crate::mda::check_text;
use crate::model::{Uuid, VolumeGroup};
use crate::pv::{self, PvError};
use crate::system::{write_atomic, SysError, SystemDir};
use crate::text::Tree;
use crate::FormatError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ulvm_blockdev::{BlockDevice, Bytes, FileDevice, Sectors};

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{0}")]
    Format(#[from] FormatError),
    #[error("{0}")]
    Pv(#[from] PvError),
    #[error("{0}")]
    Sys(#[from] SysError),
    #[error("{0}")]
    Io(#[from] ulvm_blockdev::Error),
}

/// A device that holds a PV label.
#[derive(Clone)]
pub struct PvDisk {
    pub path: PathBuf,
    pub dev: Arc<dyn BlockDevice>,
    pub label: PvLabel,
    /// The VG metadata on this PV, if it is in one, with its text.
    pub vg: Option<Metadata>,
}

/// A VG's metadata as a PV carries it: the model and the text it was read
/// from (or written as). PVs with the same copy share one, so a VG on many
/// PVs is parsed once, and a [`Vg`] put together from them shares it too
/// until a command changes it ([`Vg::vg_mut`]).
#[derive(Debug, Clone)]
pub struct Metadata {
    pub vg: Arc<VolumeGroup>,
    pub text: Arc<str>,
}

impl std::fmt::Debug for PvDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PvDisk").field("path", &self.path).field("uuid", &self.uuid()).finish()
    }
}

impl PvDisk {
    pub fn uuid(&self) -> Uuid {
        Uuid(self.label.uuid)
    }

    /// Device size in sectors, as the label records it.
    pub fn dev_sectors(&self) -> Sectors {
        Bytes(self.label.device_size).sectors_floor()
    }

    /// Where the PV's data starts: its first data area, or LVM's default
    /// ([`pv::PE_START`]) when the label lists none.
    pub fn pe_start(&self) -> Sectors {
        Bytes(self.label.data_areas.first().map_or(pv::PE_START, |a| a.offset)).sectors_floor()
    }
}

/// What a scan of a device set found.
#[derive(Debug, Default)]
pub struct Scan {
    pub pvs: Vec<PvDisk>,
    /// Devices without a PV label.
    pub others: Vec<PathBuf>,
    /// Devices that could not be read or whose metadata is damaged, with why.
    pub problems: Vec<(PathBuf, String)>,
    /// PVs (in `pvs`, with no metadata) whose metadata area header is
    /// damaged: the VG is read from its other PVs and the next commit
    /// writes the header anew, as LVM does.
    pub damaged_mdas: Vec<DamagedMda>,
    /// Devices carrying a PV another device carries too (a copied disk),
    /// left out of `pvs` ([`choose_duplicates`]).
    pub duplicates: Vec<Duplicate>,
}

/// A device not used because another one carries the same PV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub unused: PathBuf,
    /// The device used for the PV.
    pub used: PathBuf,
    pub pv: Uuid,
    /// Why `used` won, in LVM's words.
    pub reason: &'static str,
}

impl Scan {
    /// LVM 2.03's warnings about the duplicates, as its label scan gives
    /// them: every unused device first, then each one's preference.
    pub fn duplicate_warnings(&self) -> Vec<String> {
        let not_using = self
            .duplicates
            .iter()
            .map(|d| format!("WARNING: Not using device {} for PV {}.", d.unused.display(), d.pv));
        let prefers = self
            .duplicates
            .iter()
            .map(|d| format!("WARNING: PV {} prefers device {} because {}.", d.pv, d.used.display(), d.reason));
        not_using.chain(prefers).collect()
    }
}

/// Keeps one device for each PV that several devices carry, as LVM 2.03
/// chooses (`_choose_duplicates`): starting from the first scanned, a
/// device wins whose size is the PV's size in its metadata (`device size
/// is correct`), then one whose path is the metadata's device hint
/// (`device name matches previous`), else the one seen first. LVM's other
/// reasons (a devices-file device id, a device an active LV uses, a
/// mounted file system, dm and subsystem devices) are not told apart.
pub fn choose_duplicates(s: &mut Scan) {
    let mut uuids: Vec<Uuid> = Vec::new();
    for p in &s.pvs {
        if !uuids.contains(&p.uuid()) {
            uuids.push(p.uuid());
        }
    }
    for uuid in uuids {
        let same: Vec<usize> = (0..s.pvs.len()).filter(|&j| s.pvs[j].uuid() == uuid).collect();
        if same.len() < 2 {
            continue;
        }
        let summary =
            same.iter().find_map(|&j| s.pvs[j].vg.as_ref()).and_then(|m| m.vg.pvs.iter().find(|p| p.id == uuid));
        let size = summary.and_then(|p| p.dev_size);
        let hint = summary.and_then(|p| p.device.clone());
        let facts = |d: &PvDisk| (size.is_some_and(|sz| d.dev.size() == sz), hint.as_deref() == d.path.to_str());
        let mut best = same[0];
        let mut reason = "device was seen first";
        for &j in &same[1..] {
            let ((size1, name1), (size2, name2)) = (facts(&s.pvs[best]), facts(&s.pvs[j]));
            let (change, why) = if size1 != size2 {
                (size2, "device size is correct")
            } else if name1 != name2 {
                (name2, "device name matches previous")
            } else {
                (false, "device was seen first")
            };
            if change {
                best = j;
            }
            reason = why;
        }
        let used = s.pvs[best].path.clone();
        let unused: Vec<usize> = same.into_iter().filter(|&j| j != best).collect();
        for &j in &unused {
            s.duplicates.push(Duplicate { unused: s.pvs[j].path.clone(), used: used.clone(), pv: uuid, reason });
        }
        let mut k = 0;
        s.pvs.retain(|_| {
            let keep = !unused.contains(&k);
            k += 1;
            keep
        });
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedMda {
    pub path: PathBuf,
    /// The PV UUID without dashes.
    pub pvid: String,
    pub damage: pv::MdaDamage,
}

impl DamagedMda {
    /// LVM 2.03's warnings about it, as its label scan gives them.
    pub fn warnings(&self) -> Vec<String> {
        let (p, d) = (self.path.display(), &self.damage);
        let mut out = Vec::new();
        if !d.checksum_ok {
            out.push(format!("WARNING: wrong checksum {:x} in mda header on {p} at {}", d.checksum, d.at));
        }
        if !d.magic_ok {
            out.push(format!("WARNING: wrong magic number in mda header on {p} at {}", d.at));
        }
        if d.version != 1 {
            out.push(format!("WARNING: wrong version {} in mda header on {p} at {}", d.version, d.at));
        }
        if d.start != d.at {
            out.push(format!("WARNING: wrong start sector {} in mda header on {p} at {}", d.start, d.at));
        }
        out.push(format!("WARNING: bad metadata header on {p} at {}.", d.at));
        out.push(format!("WARNING: scanning {p} mda1 failed to read metadata summary."));
        out.push(format!("WARNING: repair VG metadata on {p} with vgck --updatemetadata."));
        out.push(format!("WARNING: scan failed to get metadata summary from {p} PVID {}", self.pvid));
        out
    }
}

/// Opens a device for the LVM layer (read-write unless `read_only`).
pub fn open_device(path: &Path, read_only: bool) -> Result<Arc<dyn BlockDevice>, DiskError> {
    Ok(Arc::new(FileDevice::open(path, read_only)?))
}

/// Reads one device: `Ok(None)` when it carries no PV label.
pub fn read_pv(path: &Path, read_only: bool) -> Result<Option<PvDisk>, DiskError> {
    read_pv_on(path, open_device(path, read_only)?)
}

/// Reads the PV on an open device (`path` names it in messages and metadata).
pub fn read_pv_on(path: &Path, dev: Arc<dyn BlockDevice>) -> Result<Option<PvDisk>, DiskError> {
    read_pv_sharing(path, dev, &mut Seen::default())
}

/// What a scan has read so far: the metadata copies it checked and parsed,
/// with their checksums, and a buffer for reading the next copy.
#[derive(Default)]
struct Seen {
    copies: Vec<(u32, Metadata)>,
    buf: Vec<u8>,
    /// Whether a PV with a damaged mda header is kept (as one with no
    /// metadata, in `damaged`) rather than refused: for whole scans, where
    /// the VG comes from the other PVs; a single PV read refuses it.
    tolerate: bool,
    damaged: Vec<DamagedMda>,
}

/// [`read_pv_on`], taking the parsed metadata from `seen` when another PV
/// carried the same bytes, and adding it there otherwise. Bytes equal to a checked copy, under the
/// same checksum, need no check of their own.
fn read_pv_sharing(path: &Path, dev: Arc<dyn BlockDevice>, seen: &mut Seen) -> Result<Option<PvDisk>, DiskError> {
    let Some(label) = pv::read_label(dev.as_ref())? else { return Ok(None) };
    let raw = match pv::read_raw_metadata_into(dev.as_ref(), &label, &mut seen.buf) {
        Ok(r) => r,
        Err(e) if seen.tolerate => match pv::mda_header_damage(dev.as_ref(), &label)? {
            Some(damage) => {
                let pvid = String::from_utf8_lossy(&label.uuid).into_owned();
                seen.damaged.push(DamagedMda { path: path.to_path_buf(), pvid, damage });
                None
            }
            None => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let vg = match raw {
        Some(locn) => {
            let bytes = &seen.buf;
            let same = |(crc, m): &&(u32, Metadata)| {
                *crc == locn.checksum && bytes.split_last() == Some((&0, m.text.as_bytes()))
            };
            Some(match seen.copies.iter().find(same) {
                Some((_, m)) => m.clone(),
                None => {
                    let text = check_text(std::mem::take(&mut seen.buf), &locn)?;
                    let vg = Arc::new(VolumeGroup::from_tree(&Tree::parse(&text)?)?);
                    let m = Metadata { vg, text: text.into() };
                    seen.copies.push((locn.checksum, m.clone()));
                    m
                }
            })
        }
        None => None,
    };
    Ok(Some(PvDisk { path: path.to_path_buf(), dev, label, vg }))
}

/// Opens the device at a path for a scan: the files by default
/// ([`open_device`]); a program that keeps its devices itself (a crash
/// test over write-logging devices) brings its own.
pub type Opener = std::sync::Arc<dyn Fn(&Path, bool) -> Result<Arc<dyn BlockDevice>, DiskError> + Send + Sync>;

/// Reads every device in `paths`.
pub fn scan(paths: &[PathBuf], read_only: bool) -> Scan {
    scan_with(paths, read_only, None)
}

/// [`scan`], opening the devices with `open` if given.
pub fn scan_with(paths: &[PathBuf], read_only: bool, open: Option<&Opener>) -> Scan {
    let mut s = Scan::default();
    let mut seen = Seen { tolerate: true, ..Seen::default() };
    for p in paths {
        let dev = match open {
            Some(o) => o(p, read_only),
            None => open_device(p, read_only),
        };
        match dev.and_then(|dev| read_pv_sharing(p, dev, &mut seen)) {
            Ok(Some(pv)) => s.pvs.push(pv),
            Ok(None) => s.others.push(p.clone()),
            Err(e) => s.problems.push((p.clone(), e.to_string())),
        }
    }
    s.damaged_mdas = seen.damaged;
    choose_duplicates(&mut s);
    s
}

/// A VG put together from its PVs.
#[derive(Debug, Clone)]
pub struct Vg {
    /// The VG as read, shared with the PVs that carry it until changed
    /// through [`Vg::vg_mut`].
    pub vg: Arc<VolumeGroup>,
    /// The metadata text the VG was read from (for the archive).
    pub text: Arc<str>,
    /// The PVs found, by their key in the metadata (`pv0`, ...).
    pub disks: BTreeMap<String, PvDisk>,
    /// PV keys the metadata names but no device carries.
    pub missing: Vec<String>,
    /// PVs whose metadata is older than the newest copy (repaired on commit).
    pub stale: Vec<PathBuf>,
    /// Whether this host takes a shared VG's locks (lvm.conf's
    /// `global/use_lvmlockd`, set by the session's scan): then a
    /// `sanlock` VG is used under them instead of refused.
    pub lockd: bool,
}

impl Vg {
    /// The VG to change: a copy of its own the first time.
    pub fn vg_mut(&mut self) -> &mut VolumeGroup {
        Arc::make_mut(&mut self.vg)
    }

    pub fn disk(&self, key: &str) -> Option<&PvDisk> {
        self.disks.get(key)
    }

    /// The device path of a PV key (the metadata's hint when it is missing).
    pub fn pv_path(&self, key: &str) -> String {
        match self.disks.get(key) {
            Some(d) => d.path.display().to_string(),
            None => self
                .vg
                .pvs
                .iter()
                .find(|p| p.key == key)
                .and_then(|p| p.device.clone())
                .unwrap_or_else(|| "[unknown]".into()),
        }
    }

    /// The key of the PV on `path`.
    pub fn key_of(&self, path: &Path) -> Option<String> {
        self.disks.iter().find(|(_, d)| d.path == path).map(|(k, _)| k.clone())
    }
}

/// The VGs on a scan's PVs, by name. For each VG the copy with the highest
/// seqno wins; PVs are matched to the metadata by UUID.
///
/// Two different texts with the same seqno (LVM's `vgcfgrestore` writes
/// the backup's seqno plus one, which a PV the backup leaves out may hold
/// too): the text more devices carry wins, then the first scanned, so an
/// outdated PV scanned first does not stand for the VG.
pub fn assemble(scan: &Scan) -> BTreeMap<String, Vg> {
    let carriers = |m: &Metadata| {
        scan.pvs
            .iter()
            .filter(|d| d.vg.as_ref().is_some_and(|x| Arc::ptr_eq(&x.text, &m.text) || x.text == m.text))
            .count()
    };
    let mut newest: BTreeMap<Uuid, (&Metadata, usize)> = BTreeMap::new();
    for pv in &scan.pvs {
        if let Some(m) = &pv.vg {
            let n = carriers(m);
            let keep = newest
                .get(&m.vg.id)
                .is_none_or(|(cur, cn)| m.vg.seqno > cur.vg.seqno || (m.vg.seqno == cur.vg.seqno && n > *cn));
            if keep {
                newest.insert(m.vg.id, (m, n));
            }
        }
    }
    let newest: BTreeMap<Uuid, &Metadata> = newest.into_iter().map(|(k, (m, _))| (k, m)).collect();
    let mut out = BTreeMap::new();
    for (_, m) in newest {
        let Metadata { vg, text } = m.clone();
        let mut disks = BTreeMap::new();
        let mut missing = Vec::new();
        let mut stale = Vec::new();
        for p in &vg.pvs {
            match scan.pvs.iter().find(|d| d.uuid() == p.id) {
                Some(d) => {
                    if d.vg.as_ref().is_none_or(|m| m.vg.id != vg.id || m.vg.seqno != vg.seqno) {
                        stale.push(d.path.clone());
                    }
                    disks.insert(p.key.clone(), d.clone());
                }
                None => missing.push(p.key.clone()),
            }
        }
        out.insert(vg.name.clone(), Vg { vg, text, disks, missing, stale, lockd: false });
    }
    out
}

/// Seconds since the epoch, for creation times and metadata descriptions.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The host name LVM records in metadata.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The backup-file form of a VG: header first, then the VG, indented.
pub fn backup_text(vg: &VolumeGroup, description: &str) -> String {
    let t = now();
    let preamble = format!("# Generated by ulvm {}: {}\n\n", env!("CARGO_PKG_VERSION"), t);
    vg.to_backup_text(preamble, description, &hostname(), t)
}

/// Commits `vg` (its seqno is raised by one) to every PV it names, after
/// archiving the previous version; then writes the backup. `command` is
/// the command line, recorded as LVM records it.
pub fn commit(sd: &SystemDir, vg: &mut Vg, command: &str) -> Result<(), DiskError> {
    commit_inner(sd, vg, command, false)
}

/// [`commit`] of a VG with missing PVs, to the PVs that are there, as LVM
/// writes it when it repairs around a lost PV (`lvconvert --repair`): the
/// missing PVs stay in the metadata with the `MISSING` status flag.
pub fn commit_missing(sd: &SystemDir, vg: &mut Vg, command: &str) -> Result<(), DiskError> {
    let missing = vg.missing.clone();
    if !missing.is_empty() {
        for p in vg.vg_mut().pvs.iter_mut().filter(|p| missing.contains(&p.key)) {
            if !p.status.iter().any(|f| f == "MISSING") {
                p.status.push("MISSING".into());
            }
        }
    }
    commit_inner(sd, vg, command, true)
}

fn commit_inner(sd: &SystemDir, vg: &mut Vg, command: &str, allow_missing: bool) -> Result<(), DiskError> {
    if let Some(k) = vg.missing.first().filter(|_| !allow_missing) {
        return Err(FormatError(format!(
            "Cannot change VG {} while PVs are missing ({k}: {}).",
            vg.vg.name,
            vg.pv_path(k)
        ))
        .into());
    }
    // A broken lvm.conf is refused where commands start; here it means
    // LVM's defaults (backup and archive on).
    let cfg = sd.config().unwrap_or_default();
    if !vg.text.is_empty() && cfg.archive {
        // The version being replaced, as read: a PV still holds it parsed.
        // The same copy (one Arc) in the common case; equal bytes otherwise.
        let same = |m: &&Metadata| Arc::ptr_eq(&m.text, &vg.text) || m.text == vg.text;
        let read = vg.disks.values().filter_map(|d| d.vg.as_ref()).find(same).map(|m| m.vg.clone());
        let old = match read {
            Some(old) => old,
            None => Arc::new(VolumeGroup::from_tree(&Tree::parse(&vg.text)?)?),
        };
        archive(sd, &vg.vg.name, &old, vg.vg.seqno, command)?;
    }
    let paths: Vec<(String, String)> =
        vg.disks.iter().map(|(k, d)| (k.clone(), d.path.display().to_string())).collect();
    let new = vg.vg_mut();
    new.seqno += 1;
    for p in &mut new.pvs {
        if let Some((_, path)) = paths.iter().find(|(k, _)| *k == p.key) {
            p.device = Some(path.clone());
        }
    }
    let text: Arc<str> = vg.vg.to_text(&format!("Write from {command}."), &hostname(), now()).into();
    let meta = Metadata { vg: vg.vg.clone(), text: text.clone() };
    let pvs = &vg.vg.pvs;
    let targets: Vec<&mut PvDisk> =
        vg.disks.iter_mut().filter(|(key, _)| pvs.iter().any(|p| &p.key == *key)).map(|(_, d)| d).collect();
    // Each PV is committed on its own (readers take the highest seqno, so
    // any PV may be ahead of another), so they are committed at once: a
    // commit is two flushes per PV, and those wait on the disk, not the CPU.
    let bytes = pv::MetadataText::new(&text);
    // A shared VG's PVs are written with O_DIRECT: nothing of this commit
    // stays in the page cache, to reach the disk after the VG lock went to
    // another host.
    let devs: Vec<Arc<dyn BlockDevice>> = if vg.vg.lock_type().is_some() {
        targets
            .iter()
            .map(|d| Ok(Arc::new(FileDevice::open_direct(&d.path, false)?) as Arc<dyn BlockDevice>))
            .collect::<Result<_, DiskError>>()?
    } else {
        targets.iter().map(|d| d.dev.clone()).collect()
    };
    let results: Vec<Result<(), PvError>> = std::thread::scope(|s| {
        let text = &bytes;
        let running: Vec<_> = targets
            .iter()
            .zip(&devs)
            .map(|(d, dev)| s.spawn(move || pv::commit_metadata(dev.as_ref(), &d.label, text)))
            .collect();
        running.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut first_error = None;
    for (d, r) in targets.into_iter().zip(results) {
        match r {
            Ok(()) => {
                if !d.label.in_use() {
                    pv::set_in_use(d.dev.as_ref(), &mut d.label, true)?;
                }
                d.vg = Some(meta.clone());
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if let Some(e) = first_error {
        return Err(e.into());
    }
    vg.text = text;
    vg.stale.clear();
    if cfg.backup {
        write_backup(sd, &vg.vg, command)?;
    }
    Ok(())
}

/// Writes `DIR/backup/VG` for the current metadata.
pub fn write_backup(sd: &SystemDir, vg: &VolumeGroup, command: &str) -> Result<(), DiskError> {
    let text = backup_text(vg, &format!("Created *after* executing '{command}'"));
    write_atomic(&sd.backup_dir().join(&vg.name), text.as_bytes())?;
    Ok(())
}

/// Keeps the version being replaced (`old`) in `DIR/archive/VG_SEQNO-N.vg`.
fn archive(sd: &SystemDir, name: &str, old: &VolumeGroup, seqno: u64, command: &str) -> Result<(), DiskError> {
    let text = backup_text(old, &format!("Created *before* executing '{command}'"));
    let dir = sd.archive_dir();
    let mut n = 0;
    let path = loop {
        let p = dir.join(format!("{name}_{seqno:05}-{n}.vg"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Archive files of a VG, oldest first.
pub fn archives(sd: &SystemDir, name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sd.archive_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".vg"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Clears the VG metadata of a PV that leaves its VG (it becomes an orphan).
pub fn make_orphan(d: &mut PvDisk) -> Result<(), DiskError> {
    pv::clear_metadata(d.dev.as_ref(), &d.label)?;
    pv::set_in_use(d.dev.as_ref(), &mut d.label, false)?;
    d.vg = None;
    Ok(())
}

/// Wipes the header of an outdated PV (one a VG's newest metadata no
/// longer lists) as LVM 2.03's `vgck --updatemetadata` does: the label is
/// written again with no metadata area and as in no VG (extension version
/// 2, `PV_EXT_USED` cleared). The old text stays in the area, which no
/// label names any more.
pub fn wipe_outdated(d: &mut PvDisk) -> Result<(), DiskError> {
    d.label.metadata_areas.clear();
    let ext = d.label.ext.get_or_insert(crate::label::PvHeaderExt { version: 2, flags: 0, bootloader_areas: vec![] });
    ext.version = 2;
    pv::set_in_use(d.dev.as_ref(), &mut d.label, false)?;
    d.vg = None;
    Ok(())
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;

/// How the metadata of one VG disagrees between devices, as LVM 2.03
/// reports it when it reads the VG: PVs of the VG with an older copy
/// (`older`), and PVs the newest copy no longer lists but that still
/// carry a copy of the VG (`outdated`: a restored backup left them out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub vg: String,
    pub seqno: u64,
    /// The first device holding the newest copy.
    pub newest_on: PathBuf,
    /// The newest copy's checksum and size in the ring (text and NUL).
    pub newest_sum: (u32, u64),
    /// Devices with an older copy: path, seqno.
    pub older: Vec<(PathBuf, u64)>,
    /// Devices outside the VG with a copy of it: path, PV UUID (no
    /// dashes), seqno, and the copy's checksum and size when its seqno is
    /// the newest's (LVM then compares checksums first).
    pub outdated: Vec<(PathBuf, String, u64, (u32, u64))>,
}

/// The checksum and size LVM's ring records for a metadata text.
fn ring_sum(text: &str) -> (u32, u64) {
    let crc = crate::crc::crc_update(crate::crc::crc_update(crate::crc::INITIAL_CRC, text.as_bytes()), &[0]);
    (crc, text.len() as u64 + 1)
}

impl Disagreement {
    /// LVM's warnings, in its order.
    pub fn warnings(&self) -> Vec<String> {
        let (vg, n) = (&self.vg, self.seqno);
        let mut out = Vec::new();
        for (p, _, _, (crc, size)) in self.outdated.iter().filter(|o| o.2 == n) {
            let (ncrc, nsize) = self.newest_sum;
            let lines = [
                format!(
                    "WARNING: scan of VG {vg} from {} mda1 found mda_checksum {crc:08x} mda_size {size} vs {ncrc:08x} {nsize}",
                    p.display()
                ),
                format!("WARNING: Scanning {} mda1 found mismatch with other metadata.", p.display()),
            ];
            let id = &self.outdated.iter().find(|o| &o.0 == p).map(|o| o.1.clone()).unwrap_or_default();
            let summary = format!("WARNING: scan failed to get metadata summary from {} PVID {id}", p.display());
            // LVM scans twice (label scan, then the VG's rescan).
            for _ in 0..2 {
                out.extend(lines.iter().cloned());
                out.push(summary.clone());
            }
        }
        let older: Vec<(&PathBuf, u64)> = self
            .older
            .iter()
            .map(|(p, s)| (p, *s))
            .chain(self.outdated.iter().filter(|o| o.2 < n).map(|o| (&o.0, o.2)))
            .collect();
        for (p, s) in &older {
            out.push(format!(
                "WARNING: ignoring metadata seqno {s} on {} for seqno {n} on {} for VG {vg}.",
                p.display(),
                self.newest_on.display()
            ));
        }
        if !older.is_empty() {
            out.push(format!("WARNING: Inconsistent metadata found for VG {vg}."));
            out.push("See vgck --updatemetadata to correct inconsistency.".into());
        }
        for (p, _, s, _) in self.outdated.iter().filter(|o| o.2 <= n) {
            out.push(format!(
                "WARNING: outdated PV {} seqno {s} has been removed in current VG {vg} seqno {n}.",
                p.display()
            ));
            out.push("See vgck --updatemetadata to clear outdated metadata.".into());
        }
        out
    }
}

/// The VGs of a scan whose metadata disagrees between devices.
pub fn disagreements(scan: &Scan, vgs: &BTreeMap<String, Vg>) -> Vec<Disagreement> {
    let mut out = Vec::new();
    for vg in vgs.values() {
        let (id, n) = (vg.vg.id, vg.vg.seqno);
        let copy = |d: &PvDisk| d.vg.as_ref().filter(|m| m.vg.id == id).cloned();
        let Some(newest) = scan.pvs.iter().find(|d| copy(d).is_some_and(|m| m.vg.seqno == n)) else { continue };
        let mut older = Vec::new();
        let mut outdated = Vec::new();
        for d in &scan.pvs {
            let Some(m) = copy(d) else { continue };
            let member = vg.vg.pvs.iter().any(|p| p.id == d.uuid());
            if member && m.vg.seqno < n {
                older.push((d.path.clone(), m.vg.seqno));
            } else if !member && m.vg.seqno <= n {
                let id = d.uuid().to_string().replace('-', "");
                outdated.push((d.path.clone(), id, m.vg.seqno, ring_sum(&m.text)));
            }
        }
        if older.is_empty() && outdated.is_empty() {
            continue;
        }
        out.push(Disagreement {
            vg: vg.vg.name.clone(),
            seqno: n,
            newest_on: newest.path.clone(),
            newest_sum: ring_sum(&vg.text),
            older,
            outdated,
        });
    }
    out
}
