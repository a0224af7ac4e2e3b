//! `vgck`, `vgcfgbackup`, `vgcfgrestore`: the metadata checked, written to
//! backup files, and put back from one.

use super::export::{check_not_exported, is_exported};
use super::vg::active_lvs;
use super::{check_local, local_names, shared_refusal, Session};
use crate::disk::{self, Vg};
use crate::extent::Extents;
use crate::model::{SegmentKind, VolumeGroup};
use crate::system::write_atomic;
use crate::text::Tree;
use crate::LvmError;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// `vgck [--updatemetadata] [VG...]`: problems found go to the session's
/// warnings; the exit status is LVM's (5 when any was found). Copies that
/// disagree between PVs are warned about by the scan, as LVM's VG read
/// warns, and are no failure: LVM exits 0. `update` (`--updatemetadata`)
/// writes the VG again (repairing older copies) and wipes the metadata of
/// outdated PVs, as LVM does. An exported VG is refused when named
/// (`Volume group vg1 is exported`, status 5) and passed over otherwise.
pub fn vgck(s: &mut Session, names: &[String], update: bool) -> Result<i32, LvmError> {
    let _g = if update { Some(s.lock_global()?) } else { None };
    let (scan, vgs) = s.scan_quiet(!update)?;
    // Without names an exported VG is passed over silently; a named one
    // is refused (LVM's status 5), as LVM 2.03 does.
    let names: Vec<String> = if names.is_empty() {
        local_names(&vgs).into_iter().filter(|n| !vgs.get(n).is_some_and(|v| is_exported(&v.vg))).collect()
    } else {
        names.to_vec()
    };
    s.say_disagreements(&scan, &vgs, Some(&names));
    let mut status = 0;
    for (p, why) in &scan.problems {
        s.warn(format!("{}: {why}", p.display()));
        status = 5;
    }
    for name in names {
        let Some(vg) = vgs.get(&name) else {
            s.warn(format!("Volume group \"{name}\" not found"));
            status = 5;
            continue;
        };
        if let Some(msg) = shared_refusal(vg) {
            s.warn(msg);
            status = 5;
            continue;
        }
        if let Err(e) = check_not_exported(&vg.vg) {
            s.warn(e.to_string());
            status = 5;
            continue;
        }
        for k in &vg.missing {
            s.warn(format!("WARNING: VG {name} is missing PV {k} ({}).", vg.pv_path(k)));
            status = 5;
        }
        if update {
            update_metadata(s, &scan, vg)?;
            continue;
        }
        // Extents used twice or beyond a PV are damage.
        let mut seen = BTreeMap::<String, Vec<(Extents, Extents)>>::new();
        for lv in &vg.vg.lvs {
            for seg in &lv.segments {
                let SegmentKind::Striped { stripes, .. } = &seg.kind else { continue };
                let per = seg.extent_count / stripes.len().max(1) as u64;
                for (k, pe) in stripes {
                    let Some(pv) = vg.vg.pv(k) else {
                        s.warn(format!("LV {name}/{}: unknown PV {k}", lv.name));
                        status = 5;
                        continue;
                    };
                    if *pe + per > pv.pe_count {
                        s.warn(format!(
                            "LV {name}/{}: extents {pe}..{} beyond PV {k} ({} extents)",
                            lv.name,
                            *pe + per,
                            pv.pe_count
                        ));
                        status = 5;
                    }
                    let runs = seen.entry(k.clone()).or_default();
                    if runs.iter().any(|&(st, l)| *pe < st + l && st < *pe + per) {
                        s.warn(format!("LV {name}/{}: extents {pe}..{} of {k} are used twice", lv.name, *pe + per));
                        status = 5;
                    }
                    runs.push((*pe, per));
                }
            }
        }
    }
    Ok(status)
}

/// `vgck --updatemetadata` of one VG: a new version on every PV (older
/// copies replaced), and outdated PVs made orphans with no metadata area
/// in use, as LVM leaves them.
fn update_metadata(s: &mut Session, scan: &disk::Scan, vg: &Vg) -> Result<(), LvmError> {
    let _l = s.lock_vg(&vg.vg.name)?;
    let outdated: Vec<_> = disk::disagreements(scan, &BTreeMap::from([(vg.vg.name.clone(), vg.clone())]))
        .into_iter()
        .flat_map(|d| d.outdated.into_iter().map(|o| o.0))
        .collect();
    let mut vg = vg.clone();
    s.commit(&mut vg)?;
    for p in outdated {
        let Some(mut pv) = scan.pvs.iter().find(|x| x.path == p).cloned() else { continue };
        s.warn(format!("WARNING: wiping header on outdated PV {}", p.display()));
        disk::wipe_outdated(&mut pv)?;
    }
    Ok(())
}

/// `vgcfgbackup [-f FILE] [VG...]`: `%s` in FILE is the VG's name when
/// there are several.
pub fn vgcfgbackup(s: &mut Session, names: &[String], file: Option<&str>) -> Result<(), LvmError> {
    let (_, vgs) = s.scan(true)?;
    let many = names.len() > 1 || (names.is_empty() && vgs.len() > 1);
    let names: Vec<String> = if names.is_empty() { local_names(&vgs) } else { names.to_vec() };
    for name in names {
        let Some(vg) = vgs.get(&name) else {
            return Err(LvmError::NotFound(format!("Volume group \"{name}\" not found")));
        };
        check_local(vg)?;
        match file {
            Some(f) => {
                let f = if many { f.replace("%s", &name) } else { f.to_string() };
                let text = disk::backup_text(&vg.vg, &format!("Created *after* executing '{}'", s.cmdline));
                write_atomic(Path::new(&f), text.as_bytes()).map_err(disk::DiskError::from)?;
            }
            None => disk::write_backup(&s.sd, &vg.vg, &s.cmdline)?,
        }
        s.print(format!("Volume group \"{name}\" successfully backed up."));
    }
    Ok(())
}

/// `vgcfgrestore [-f FILE] VG`: the VG as FILE (or its backup) has it,
/// on the PVs with the UUIDs it names; refused while LVs are active unless
/// `force`.
pub fn vgcfgrestore(s: &mut Session, name: &str, file: &Path, force: bool) -> Result<(), LvmError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| LvmError::NotFound(format!("Couldn't read {}: {e}", file.display())))?;
    let restored = VolumeGroup::from_tree(&Tree::parse(&text)?)
        .map_err(|e| LvmError::Refused(format!("{}: {e}", file.display())))?;
    if restored.name != name {
        return Err(LvmError::Refused(format!("{} holds volume group {}, not {name}", file.display(), restored.name)));
    }
    let _g = s.lock_global()?;
    let _l = s.lock_vg(name)?;
    let (scan, vgs) = s.scan(false)?;
    let current = vgs.get(name);
    if let Some(cur) = current {
        if !active_lvs(s, cur).is_empty() && !force {
            return Err(LvmError::InUse(format!(
                "Volume group {name} has active volumes; deactivate them first (or --force)."
            )));
        }
    }
    let mut disks = BTreeMap::new();
    for p in &restored.pvs {
        match scan.pvs.iter().find(|d| d.uuid() == p.id) {
            Some(d) => {
                disks.insert(p.key.clone(), d.clone());
            }
            None => {
                return Err(LvmError::NotFound(format!(
                    "Couldn't find device with uuid {}; cannot restore volume group {name} with PVs missing.",
                    p.id
                )))
            }
        }
    }
    // LVM writes the backup's seqno plus one (the commit adds the one): a
    // PV the backup leaves out keeps its copy, reported as outdated. ulvm
    // writes at least the current seqno, so no such copy can win a read.
    let seqno = restored.seqno.max(current.map(|c| c.vg.seqno.saturating_sub(1)).unwrap_or(0));
    let mut vg = Vg {
        vg: Arc::new(VolumeGroup { seqno, ..restored }),
        text: current.map(|c| c.text.clone()).unwrap_or_default(),
        disks,
        missing: vec![],
        stale: vec![],
        lockd: false,
    };
    s.commit(&mut vg)?;
    s.print(format!("Restored volume group {name}."));
    Ok(())
}
