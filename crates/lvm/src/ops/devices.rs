//! `lvmdevices`: the devices file (`devices/system.devices`) listed and
//! changed, as LVM 2.03's `lvmdevices` does (refused, as LVM refuses,
//! with `devices/use_devicesfile = 0`). Entries keep LVM's format, which
//! real LVM reads.

use super::Session;
use crate::disk::{self, DiskError};
use crate::system::DevicesFile;
use crate::LvmError;
use std::path::{Path, PathBuf};

/// One `lvmdevices` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicesAction {
    /// No option: every entry.
    List,
    /// `--adddev PATH`.
    Add(PathBuf),
    /// `--deldev PATH`.
    Del(PathBuf),
    /// `--delpvid PVID`.
    DelPvid(String),
    /// `--check`: entries whose device no longer holds their PVID.
    Check,
    /// `--update`: entries given the PVIDs their devices hold.
    Update,
}

/// The PVID (PV UUID without dashes) on a device, if it is a PV.
fn pvid_on(p: &Path) -> Option<String> {
    disk::read_pv(p, true).ok().flatten().map(|d| String::from_utf8_lossy(&d.label.uuid).into_owned())
}

/// The PVID a device's label names, checked or not (`--adddev`).
fn label_pvid(p: &Path) -> Option<String> {
    disk::open_device(p, true).ok().and_then(|d| crate::pv::read_pvid(d.as_ref()).ok().flatten())
}

/// One line of `lvmdevices`' list.
pub fn entry_line(e: &crate::system::DeviceEntry) -> String {
    let p = e.path.display();
    let pvid = e.pvid.as_deref().unwrap_or(".");
    let part = e.part.as_ref().map(|n| format!(" PART={n}")).unwrap_or_default();
    format!("Device {p} IDTYPE={} IDNAME={} DEVNAME={p} PVID={pvid}{part}", e.idtype, e.idname)
}

/// `lvmdevices [--adddev|--deldev|--delpvid|--check|--update]`.
pub fn lvmdevices(s: &mut Session, action: &DevicesAction) -> Result<(), LvmError> {
    if !s.uses_devices_file()? {
        return Err(LvmError::NotFound("Devices file not enabled.".into()));
    }
    let path = s.sd.devices_file();
    let exists = path.exists();
    let mut df = DevicesFile::load(&path)?;
    s.say_unlocated_devices(&df)?;
    let save = |df: &DevicesFile| df.save(&path, "lvmdevices").map_err(|e| LvmError::from(DiskError::from(e)));
    match action {
        DevicesAction::List => {
            if !exists {
                return Err(LvmError::NotFound("Devices file does not exist.".into()));
            }
            for e in &df.entries {
                s.print(entry_line(e));
            }
        }
        DevicesAction::Add(p) => {
            let p = std::fs::canonicalize(p)
                .map_err(|_| LvmError::NotFound(format!("No device found for {}.", p.display())))?;
            df.set(&p, label_pvid(&p));
            save(&df)?;
        }
        DevicesAction::Del(p) => {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            if df.find(&p).is_none() {
                return Err(LvmError::NotFound(format!("No devices file entry for {}.", p.display())));
            }
            df.remove(&p);
            save(&df)?;
        }
        DevicesAction::DelPvid(id) => {
            let Some(e) = df.entries.iter().find(|e| e.pvid.as_deref() == Some(id.as_str())).cloned() else {
                return Err(LvmError::NotFound("Invalid PVID.".into()));
            };
            df.remove(&e.path);
            save(&df)?;
        }
        DevicesAction::Check | DevicesAction::Update => {
            let mut changed = false;
            for e in &mut df.entries {
                let now = pvid_on(&e.path);
                if now != e.pvid {
                    let p = e.path.display();
                    match (&e.pvid, &now) {
                        (Some(old), _) => s.report.warn(&format!("Devices file PVID {old} not found on device {p}.")),
                        (None, Some(new)) => s.report.warn(&format!("Device {p} has PVID {new}.")),
                        (None, None) => {}
                    }
                    if matches!(action, DevicesAction::Update) {
                        e.pvid = now;
                        changed = true;
                    }
                }
            }
            if matches!(action, DevicesAction::Update) {
                if changed {
                    save(&df)?;
                } else {
                    s.print("No update for devices file is needed.");
                }
            }
        }
    }
    Ok(())
}
