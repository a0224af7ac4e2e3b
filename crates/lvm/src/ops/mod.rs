//! LVM operations as a library, over a [`Session`]: what the LVM commands
//! do, without argv, a terminal or a process of their own. The command
//! line (`ulvm lvcreate ...`) turns options into calls here and prints;
//! the daemon calls the same functions in-process (background jobs,
//! snapshot autoextend), as LVM2's dmeventd runs its commands through
//! liblvm2cmd.
//!
//! A session holds what every operation works with: the system
//! directory (lvm.conf, devices file, backups, locks), the device set, a
//! device host ([`DmHost`], connected on first use), a sink for LVM's
//! messages ([`Report`]) and a way to ask before destroying data
//! ([`Confirm`]). Messages go through the sink with LVM's exact wording;
//! the caller decides where they land.

pub mod activation;
pub mod backup;
pub mod change;
pub mod clone;
pub mod common;
pub mod config;
pub mod create;
pub mod devices;
pub mod export;
pub mod importclone;
pub mod jobs;
pub mod lockd;
pub mod merge;
pub mod mirror;
pub mod mknodes;
pub mod pv;
pub mod pvck;
pub mod pvmove;
pub mod raid;
pub mod remove;
pub mod resize;
pub mod scan;
pub mod split;
pub mod tags;
pub mod vg;

use crate::activate::DmHost;
use crate::disk::{self, Scan, Vg};
use crate::model::VolumeGroup;
use crate::system::{DevicesFile, Lock, SystemDir};
use crate::{HostError, LvmError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where LVM's messages go: `print` is stdout (results, progress),
/// `warn` is stderr (warnings, prompts' context). Lines come without the
/// two-space indent LVM puts in front; the sink adds it.
pub trait Report {
    fn print(&mut self, line: &str);
    fn warn(&mut self, line: &str);
    /// A line of another tool's output, printed as the tool wrote it
    /// (LVM indents its own lines, not fsadm's).
    fn print_raw(&mut self, line: &str) {
        self.print(line);
    }
    /// [`Report::print_raw`] for the tool's error output.
    fn warn_raw(&mut self, line: &str) {
        self.warn(line);
    }
}

/// Asks a yes/no question before something destructive (LVM's `[y/n]`).
pub trait Confirm {
    fn confirm(&mut self, question: &str) -> bool;
}

/// A sink that keeps every line, for tests and for the daemon (which
/// logs them).
#[derive(Debug, Default, Clone)]
pub struct Collect {
    pub out: Vec<String>,
    pub err: Vec<String>,
}

impl Report for Collect {
    fn print(&mut self, line: &str) {
        self.out.push(line.to_string());
    }
    fn warn(&mut self, line: &str) {
        self.err.push(line.to_string());
    }
}

/// Answers every question the same way (the daemon says no: nothing it
/// runs may destroy data on its own).
pub struct Answer(pub bool);

impl Confirm for Answer {
    fn confirm(&mut self, _question: &str) -> bool {
        self.0
    }
}

/// Opens the device host; `None` when there is none to reach (no daemon).
pub type Connect = Box<dyn FnMut() -> Result<Box<dyn DmHost + Send>, HostError> + Send>;

/// What every operation works with.
pub struct Session {
    pub sd: SystemDir,
    /// `--devices`: only these devices, and the devices file is left alone.
    explicit: Option<Vec<PathBuf>>,
    /// The command line as LVM records it in metadata descriptions.
    pub cmdline: String,
    host: Option<Box<dyn DmHost + Send>>,
    connect: Connect,
    /// Whether connecting failed once (then it is not tried again).
    unreachable: Option<HostError>,
    pub report: Box<dyn Report + Send>,
    pub confirm: Box<dyn Confirm + Send>,
    /// `--config`: settings that override lvm.conf's for this session.
    config_override: Option<String>,
    /// How scans open devices (none: the files).
    opener: Option<disk::Opener>,
    /// Warnings about disagreeing metadata already given: a command that
    /// reads a VG twice says them once, as LVM's one read does.
    said: std::collections::BTreeSet<String>,
    /// What the command reads, for the warnings of its scans (none: all).
    scope: Option<ReadScope>,
    /// The devices the last scan left out as duplicates of others.
    duplicates: Vec<disk::Duplicate>,
    /// Whether the devices file was checked against a scan (once a
    /// session, as LVM's one label scan).
    devices_checked: bool,
    /// The shared VGs' locks this session holds (VG locks, through its own
    /// registration with sanlock).
    pub(crate) locks: lockd::Locks,
}

/// The VGs a command processes, as LVM 2.03 reads them: named VGs (and
/// the VGs of named LVs), or the VGs on named PVs. LVM warns about
/// metadata that disagrees only in the VGs it reads; a command with no
/// names (or with `@tag` or `-S`) reads them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadScope {
    pub vgs: Vec<String>,
    pub devices: Vec<PathBuf>,
}

impl ReadScope {
    /// The names of the VGs in `vgs` this scope reads.
    pub fn names(&self, vgs: &BTreeMap<String, Vg>) -> Vec<String> {
        vgs.values()
            .filter(|v| {
                self.vgs.contains(&v.vg.name)
                    || v.disks.values().any(|d| self.devices.contains(&d.path))
                    || v.stale.iter().any(|p| self.devices.contains(p))
            })
            .map(|v| v.vg.name.clone())
            .collect()
    }
}

impl Session {
    pub fn new(
        sd: SystemDir,
        explicit: Option<Vec<PathBuf>>,
        cmdline: impl Into<String>,
        connect: Connect,
        report: Box<dyn Report + Send>,
        confirm: Box<dyn Confirm + Send>,
    ) -> Session {
        Session {
            sd,
            explicit,
            cmdline: cmdline.into(),
            host: None,
            connect,
            unreachable: None,
            report,
            confirm,
            config_override: None,
            opener: None,
            said: Default::default(),
            scope: None,
            duplicates: Vec::new(),
            devices_checked: false,
            locks: Default::default(),
        }
    }

    /// Scans open devices through `open` instead of the files (a test's
    /// own devices, shared with the device host).
    pub fn set_opener(&mut self, open: disk::Opener) {
        self.opener = Some(open);
    }

    /// `--config TEXT`: settings applied over lvm.conf's (config-tree
    /// text, or `section/key=value` paths).
    pub fn set_config_override(&mut self, text: Option<String>) {
        self.config_override = text;
    }

    /// The session's `--config` text, if any.
    pub fn config_override_text(&self) -> Option<String> {
        self.config_override.clone()
    }

    /// lvm.conf with the session's `--config` applied.
    pub fn config(&self) -> Result<crate::system::Config, LvmError> {
        let mut c = self.sd.config()?;
        if let Some(t) = &self.config_override {
            c.apply(t)?;
        }
        Ok(c)
    }

    pub fn print(&mut self, line: impl AsRef<str>) {
        self.report.print(line.as_ref());
    }

    pub fn warn(&mut self, line: impl AsRef<str>) {
        self.report.warn(line.as_ref());
    }

    /// See [`Report::print_raw`].
    pub fn print_raw(&mut self, line: impl AsRef<str>) {
        self.report.print_raw(line.as_ref());
    }

    /// See [`Report::warn_raw`].
    pub fn warn_raw(&mut self, line: impl AsRef<str>) {
        self.report.warn_raw(line.as_ref());
    }

    /// `--devices`, if the session was given them.
    pub fn explicit_devices(&self) -> Option<&[PathBuf]> {
        self.explicit.as_deref()
    }

    /// The devices this session may look at: `--devices`, else the
    /// devices file's, else (`devices/use_devicesfile = 0`) what a scan
    /// sees ([`crate::devscan`]).
    pub fn device_list(&self) -> Result<Vec<PathBuf>, LvmError> {
        match &self.explicit {
            Some(list) => Ok(list.clone()),
            None => {
                let df = DevicesFile::load(&self.sd.devices_file())?;
                let config = self.config()?;
                if config.use_devicesfile == Some(false) {
                    return Ok(crate::devscan::scanned(&config, &df)?);
                }
                Ok(df.entries.into_iter().filter(|e| e.located()).map(|e| e.path).collect())
            }
        }
    }

    /// Whether commands use the devices file (`devices/use_devicesfile`
    /// unset or 1).
    pub fn uses_devices_file(&self) -> Result<bool, LvmError> {
        Ok(self.config()?.use_devicesfile != Some(false))
    }

    /// Records devices (and their PV UUIDs) in the devices file. Without
    /// it (`use_devicesfile = 0`) only files are recorded: a scan finds
    /// block devices, and ulvm's file PVs only through the file.
    pub fn remember_devices(&self, entries: &[(PathBuf, Option<String>)], command: &str) -> Result<(), LvmError> {
        if self.explicit.is_some() {
            return Ok(());
        }
        let files_only = !self.uses_devices_file()?;
        let path = self.sd.devices_file();
        let mut df = DevicesFile::load(&path)?;
        for (p, id) in entries {
            if files_only && !std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
                continue;
            }
            df.set(p, id.clone());
        }
        df.save(&path, command).map_err(disk::DiskError::from)?;
        Ok(())
    }

    /// Takes a device out of the devices file; without it
    /// (`use_devicesfile = 0`) the file is left alone, as LVM leaves it
    /// (a file PV stays known, as a disk stays in LVM's scan).
    pub fn forget_device(&self, p: &Path, command: &str) -> Result<(), LvmError> {
        if self.explicit.is_some() || !self.uses_devices_file()? {
            return Ok(());
        }
        let path = self.sd.devices_file();
        let mut df = DevicesFile::load(&path)?;
        df.remove(p);
        df.save(&path, command).map_err(disk::DiskError::from)?;
        Ok(())
    }

    /// Limits the warnings of [`Session::scan`] about disagreeing
    /// metadata to the VGs the command reads (`None`: all).
    pub fn set_scope(&mut self, scope: Option<ReadScope>) {
        self.scope = scope;
    }

    /// Every PV and VG on the session's devices; unreadable devices are
    /// warned about, and so is metadata that disagrees in the VGs of the
    /// session's [`ReadScope`].
    pub fn scan(&mut self, read_only: bool) -> Result<(Scan, BTreeMap<String, Vg>), LvmError> {
        let (s, vgs) = self.scan_quiet(read_only)?;
        let only = self.scope.as_ref().map(|sc| sc.names(&vgs));
        self.say_disagreements(&s, &vgs, only.as_deref());
        Ok((s, vgs))
    }

    /// [`Session::scan`] without the warnings about disagreeing metadata:
    /// for commands that name their VGs ([`Session::say_disagreements`]).
    pub fn scan_quiet(&mut self, read_only: bool) -> Result<(Scan, BTreeMap<String, Vg>), LvmError> {
        let mut s = disk::scan_with(&self.device_list()?, read_only, self.opener.as_ref());
        self.check_devices_file(&mut s)?;
        self.say_scan_problems(&s);
        let mut vgs = disk::assemble(&s);
        if self.config()?.use_lvmlockd {
            vgs.values_mut().for_each(|v| v.lockd = true);
        }
        Ok((s, vgs))
    }

    /// LVM 2.03's check of the devices file against its label scan, once
    /// a session, with lvm.conf's `devices/use_devicesfile = 1`: an entry whose device does not hold its PVID (the PV is
    /// gone, or its label is damaged: `lvmdevices --adddev` took the PVID
    /// anyway) is warned about, its device is left out of the scan, and
    /// the entry no longer names it (`IDNAME=.`). Entries that name no
    /// device are warned about first (LVM's search for their PVID on
    /// other devices finds nothing: ulvm knows no other devices).
    fn check_devices_file(&mut self, scan: &mut Scan) -> Result<(), LvmError> {
        if self.explicit.is_some() || self.devices_checked {
            return Ok(());
        }
        self.devices_checked = true;
        if self.config()?.use_devicesfile != Some(true) {
            return Ok(());
        }
        let path = self.sd.devices_file();
        let mut df = DevicesFile::load(&path)?;
        self.say_unlocated_devices(&df)?;
        let mut changed = false;
        for e in df.entries.iter_mut().filter(|e| e.located()) {
            let Some(want) = e.pvid.clone() else { continue };
            if scan.problems.iter().any(|(p, _)| *p == e.path) {
                continue;
            }
            let on_disk = scan
                .pvs
                .iter()
                .find(|d| d.path == e.path)
                .map(|d| String::from_utf8_lossy(&d.label.uuid).into_owned())
                .or_else(|| {
                    let dup = scan.duplicates.iter().find(|d| d.unused == e.path)?;
                    Some(dup.pv.to_string().replace('-', ""))
                });
            if on_disk.as_deref() == Some(want.as_str()) {
                continue;
            }
            let p = e.path.display();
            self.report.warn(&match &on_disk {
                Some(other) => format!("Devices file PVID {want} not found on device {p} (device PVID {other})."),
                None => format!("Devices file PVID {want} not found on device {p}."),
            });
            scan.pvs.retain(|d| d.path != e.path);
            scan.others.retain(|o| *o != e.path);
            e.idname = ".".into();
            changed = true;
        }
        if changed {
            df.save(&path, &self.cmdline).map_err(disk::DiskError::from)?;
        }
        Ok(())
    }

    /// LVM 2.03's warnings as it reads a VG some of whose PVs no device
    /// carries (once a session): `Couldn't find device with uuid U.` for
    /// each, then `VG V is missing PV U (last written to D).` with the
    /// device the metadata last named.
    pub fn say_missing_pvs(&mut self, vg: &Vg) {
        let pvs: Vec<_> = vg.missing.iter().filter_map(|k| vg.vg.pv(k)).collect();
        let couldnt = pvs.iter().map(|p| format!("WARNING: Couldn't find device with uuid {}.", p.id));
        let last = pvs.iter().map(|p| {
            let dev = p.device.as_deref().unwrap_or("[unknown]");
            format!("WARNING: VG {} is missing PV {} (last written to {dev}).", vg.vg.name, p.id)
        });
        let lines: Vec<String> = couldnt.chain(last).collect();
        self.warn_once(&lines);
    }

    /// Warns `lines`, unless the session said them already.
    pub(crate) fn warn_once(&mut self, lines: &[String]) {
        if !lines.is_empty() && self.said.insert(lines.join("\n")) {
            for line in lines {
                self.report.warn(line);
            }
        }
    }

    /// `Devices file PVID X last seen on P not found.` for each entry that
    /// names no device (with `devices/use_devicesfile = 1`).
    pub fn say_unlocated_devices(&mut self, df: &DevicesFile) -> Result<(), LvmError> {
        if self.config()?.use_devicesfile != Some(true) {
            return Ok(());
        }
        for e in df.entries.iter().filter(|e| !e.located()) {
            if let Some(id) = &e.pvid {
                self.report.warn(&format!("Devices file PVID {id} last seen on {} not found.", e.path.display()));
            }
        }
        Ok(())
    }

    /// Devices a scan could not read, and damaged metadata area headers
    /// (LVM's lines, once per session).
    fn say_scan_problems(&mut self, s: &Scan) {
        for (p, why) in &s.problems {
            self.report.warn(&format!("WARNING: {}: {why}", p.display()));
        }
        for d in &s.damaged_mdas {
            self.warn_once(&d.warnings());
        }
        self.warn_once(&s.duplicate_warnings());
        self.duplicates = s.duplicates.clone();
    }

    /// Whether a PV of `vg` appeared on several devices in the last scan.
    pub fn has_duplicate_pvs(&self, vg: &VolumeGroup) -> bool {
        vg.pvs.iter().any(|p| self.duplicates.iter().any(|d| d.pv == p.id))
    }

    /// LVM's refusal to activate LVs of a VG whose PVs appear on several
    /// devices.
    pub fn check_no_duplicates_to_activate(&self, vg: &VolumeGroup) -> Result<(), LvmError> {
        if self.has_duplicate_pvs(vg) {
            return Err(LvmError::Refused(format!(
                "Cannot activate LVs in VG {} while PVs appear on duplicate devices.",
                vg.name
            )));
        }
        Ok(())
    }

    /// LVM's warnings about the VGs (all, or those in `only`) whose
    /// metadata disagrees between devices, each VG's once per session.
    pub fn say_disagreements(&mut self, scan: &Scan, vgs: &BTreeMap<String, Vg>, only: Option<&[String]>) {
        for d in disk::disagreements(scan, vgs) {
            if only.is_some_and(|o| !o.contains(&d.vg)) {
                continue;
            }
            self.warn_once(&d.warnings());
        }
    }

    /// One VG by name (`Volume group "X" not found` otherwise; a shared VG
    /// is refused, see [`shared_refusal`]).
    pub fn vg(&mut self, name: &str, read_only: bool) -> Result<Vg, LvmError> {
        // LVM reads this VG alone: its warnings are this VG's.
        let (scan, mut vgs) = self.scan_quiet(read_only)?;
        self.say_disagreements(&scan, &vgs, Some(&[name.to_string()]));
        match vgs.remove(name) {
            Some(v) => {
                check_local(&v)?;
                export::check_not_exported(&v.vg)?;
                let v = self.under_lock(v, read_only)?;
                self.say_missing_pvs(&v);
                Ok(v)
            }
            None => Err(LvmError::NotFound(format!("Volume group \"{name}\" not found"))),
        }
    }

    /// The global lock of commands that change the set of VGs or orphan
    /// PVs: this host's (`P_global`) and, with `use_lvmlockd = 1`, the
    /// shared VGs' global lease (see [`lockd`]).
    pub fn lock_global(&mut self) -> Result<Lock, LvmError> {
        let l = self.lock_global_local()?;
        self.lock_global_lease()?;
        Ok(l)
    }

    /// This host's global lock only.
    pub fn lock_global_local(&self) -> Result<Lock, LvmError> {
        Ok(self.sd.lock("P_global", true).map_err(disk::DiskError::from)?)
    }

    pub fn lock_vg(&self, name: &str) -> Result<Lock, LvmError> {
        Ok(self.sd.lock(&format!("V_{name}"), true).map_err(disk::DiskError::from)?)
    }

    /// Writes a new version of the VG to its PVs, with backup and archive.
    pub fn commit(&mut self, vg: &mut Vg) -> Result<(), LvmError> {
        if self.has_duplicate_pvs(&vg.vg) {
            return Err(LvmError::Refused(format!(
                "Cannot update volume group {} with duplicate PV devices.",
                vg.vg.name
            )));
        }
        self.say_repairs(vg);
        disk::commit(&self.sd, vg, &self.cmdline)?;
        self.committed(vg);
        Ok(())
    }

    /// LVM's line for each PV whose older copy a commit replaces.
    fn say_repairs(&mut self, vg: &Vg) {
        for p in &vg.stale {
            let older = vg.disks.values().any(|d| &d.path == p && d.vg.as_ref().is_some_and(|m| m.vg.id == vg.vg.id));
            if older {
                let line = format!(
                    "WARNING: updating old metadata to {} on {} for VG {}.",
                    vg.vg.seqno + 1,
                    p.display(),
                    vg.vg.name
                );
                self.report.warn(&line);
            }
        }
    }

    /// [`Session::commit`] of a VG with missing PVs (flagged `MISSING`),
    /// for the repairs LVM allows then.
    pub fn commit_missing(&mut self, vg: &mut Vg) -> Result<(), LvmError> {
        self.say_repairs(vg);
        Ok(disk::commit_missing(&self.sd, vg, &self.cmdline)?)
    }

    /// The device host, connected on first use.
    pub fn host(&mut self) -> Result<&mut (dyn DmHost + Send), LvmError> {
        if self.host.is_none() {
            if let Some(e) = &self.unreachable {
                return Err(e.clone().into());
            }
            match (self.connect)() {
                Ok(h) => self.host = Some(h),
                Err(e) => {
                    self.unreachable = Some(e.clone());
                    return Err(e.into());
                }
            }
        }
        Ok(self.host.as_deref_mut().expect("just connected"))
    }

    /// The device host if one is reachable (reports show everything
    /// inactive without one). A failed connection is not retried.
    pub fn host_if_running(&mut self) -> Option<&mut (dyn DmHost + Send)> {
        self.host().ok()
    }

    /// LVM's `[y/n]` question.
    pub fn confirm(&mut self, question: &str) -> bool {
        self.confirm.confirm(question)
    }
}

/// LVM without lvmlockd (`use_lvmlockd = 0`, ulvm's default): a VG whose
/// metadata has a lock type is shared between hosts, and nothing may read
/// it as if it were local. Commands that list VGs skip it; commands that
/// name it are refused with this line and exit 5, with nothing written.
/// With `use_lvmlockd = 1` a `sanlock` VG is used under its locks
/// ([`lockd`]); a `dlm` VG stays refused (ulvm has no dlm).
pub fn shared_refusal(vg: &Vg) -> Option<String> {
    vg.vg
        .lock_type()
        .filter(|lt| !(vg.lockd && *lt == "sanlock"))
        .map(|lt| format!("Cannot access VG {} with lock type {lt} that requires lvmlockd.", vg.vg.name))
}

/// [`shared_refusal`] as an error.
pub fn check_local(vg: &Vg) -> Result<(), LvmError> {
    match shared_refusal(vg) {
        Some(msg) => Err(LvmError::Refused(msg)),
        None => Ok(()),
    }
}

/// The names of the local VGs, for commands that act on every VG.
pub fn local_names(vgs: &BTreeMap<String, Vg>) -> Vec<String> {
    vgs.values().filter(|v| shared_refusal(v).is_none()).map(|v| v.vg.name.clone()).collect()
}

/// The VG (local or shared) a PV device belongs to.
pub fn vg_of_device<'a>(vgs: &'a BTreeMap<String, Vg>, p: &Path) -> Option<&'a Vg> {
    vgs.values().find(|v| v.disks.values().any(|d| d.path == p))
}

pub use crate::disk::now;
