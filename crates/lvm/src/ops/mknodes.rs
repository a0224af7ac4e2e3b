//! `vgmknodes`: the links LVM keeps in `/dev` for active LVs, checked
//! and made again. In ulvm the daemon makes them when it attaches a
//! device (`ulvm daemon --attach-loop`): `/dev/mapper/VG-LV` points at the
//! loop device and `/dev/VG/LV` at `/dev/mapper/VG-LV`. vgmknodes makes
//! `/dev/VG/LV` again for every active LV whose `/dev/mapper` link is
//! there, and removes links under `/dev/VG` that point into
//! `/dev/mapper` at nothing (an LV no longer active). Without the daemon,
//! or without loop devices, there is nothing to link and nothing is done.
//! It prints nothing, as LVM's.

use super::Session;
use crate::names::{dm_name, split_dm_name};
use crate::LvmError;
use std::path::Path;

/// `vgmknodes [VG|VG/LV ...]` (every local VG when none is named), with
/// `/dev` at `dev_dir`.
pub fn vgmknodes(s: &mut Session, names: &[String], dev_dir: &Path) -> Result<(), LvmError> {
    let (_, vgs) = s.scan(true)?;
    let wanted: Vec<(String, Option<String>)> = if names.is_empty() {
        super::local_names(&vgs).into_iter().map(|n| (n, None)).collect()
    } else {
        names
            .iter()
            .map(|n| {
                let n = n.strip_prefix("/dev/").unwrap_or(n);
                match n.split_once('/') {
                    Some((v, l)) if !l.is_empty() => (v.to_string(), Some(l.to_string())),
                    _ => (n.trim_end_matches('/').to_string(), None),
                }
            })
            .collect()
    };
    for (vg, _) in &wanted {
        if !vgs.contains_key(vg) {
            return Err(LvmError::NotFound(format!("Volume group \"{vg}\" not found")));
        }
    }
    let Some(host) = s.host_if_running() else { return Ok(()) };
    let states = host.states()?;
    let mapper = dev_dir.join("mapper");
    for (vg_name, only) in &wanted {
        let vg = &vgs[vg_name];
        for lv in &vg.vg.lvs {
            if only.as_ref().is_some_and(|o| o != &lv.name) {
                continue;
            }
            let name = dm_name(vg_name, &lv.name, None);
            let target = mapper.join(&name);
            if !states.contains_key(&name) || target.symlink_metadata().is_err() {
                continue;
            }
            let link = dev_dir.join(vg_name).join(&lv.name);
            if std::fs::read_link(&link).is_ok_and(|t| t == target) {
                continue;
            }
            let io = |e: std::io::Error| LvmError::Refused(format!("Failed to create link {}: {e}", link.display()));
            std::fs::create_dir_all(dev_dir.join(vg_name)).map_err(io)?;
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link).map_err(io)?;
        }
        // Links into /dev/mapper at devices that are gone.
        let Ok(entries) = std::fs::read_dir(dev_dir.join(vg_name)) else { continue };
        for e in entries.flatten() {
            let Ok(t) = std::fs::read_link(e.path()) else { continue };
            let ours = t.parent() == Some(mapper.as_path())
                && t.file_name()
                    .and_then(|f| split_dm_name(&f.to_string_lossy()))
                    .is_some_and(|(v, _, layer)| &v == vg_name && layer.is_none());
            if ours && t.symlink_metadata().is_err() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}
