//! `pvscan`, `vgscan` and `lvscan`: LVM's one-line-per-object listings,
//! laid out as LVM 2.03 prints them, and LVM's order of VGs.
//!
//! LVM lists VGs in the order its cache holds them: each VG found is put
//! in front of those found before it, so the VG on the last device scanned
//! comes first ([`vg_order`]); PVs in no VG come last. `vgchange` without
//! a VG name walks the VGs in the same order.

use super::activation::{self, Activation};
use super::Session;
use crate::disk::{Scan, Vg};
use crate::names::dm_name;
use crate::units::size_long;
use crate::LvmError;
use std::collections::BTreeMap;
use ulvm_blockdev::Sectors;

/// The name LVM's cache gives the PVs in no VG; pvscan's VG column is
/// at least this wide.
const ORPHANS: &str = "#orphans_lvm2";

/// The local VGs of a scan, in LVM's order: the VG whose first PV comes
/// last among the devices comes first.
pub fn order(scan: &Scan, vgs: &BTreeMap<String, Vg>) -> Vec<String> {
    order_of(scan, vgs, super::local_names(vgs))
}

/// [`order`] of shared VGs too (`--shared`).
pub fn order_all(scan: &Scan, vgs: &BTreeMap<String, Vg>) -> Vec<String> {
    order_of(scan, vgs, vgs.keys().cloned().collect())
}

fn order_of(scan: &Scan, vgs: &BTreeMap<String, Vg>, names: Vec<String>) -> Vec<String> {
    let first = |v: &Vg| scan.pvs.iter().position(|d| v.disks.values().any(|x| x.path == d.path)).unwrap_or(0);
    let mut names: Vec<(usize, String)> = names.into_iter().map(|n| (first(&vgs[&n]), n)).collect();
    names.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    names.into_iter().map(|(_, n)| n).collect()
}

/// [`order`] of what the session sees.
pub fn vg_order(s: &mut Session) -> Result<Vec<String>, LvmError> {
    let (scan, vgs) = s.scan(true)?;
    Ok(order(&scan, &vgs))
}

/// One `pvscan` listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PvScan {
    /// `-s`: names only.
    pub short: bool,
    /// `-u`: names with PV UUIDs.
    pub uuid: bool,
    /// `-n`: only PVs in no VG.
    pub no_vg: bool,
    /// `-e`: only PVs of exported VGs.
    pub exported: bool,
}

/// One PV of pvscan: its name, its VG with the PV's size and free space
/// there (`None` for a PV in no VG), and its size.
type Row = (String, Option<(String, Sectors, Sectors)>, Sectors);

/// `pvscan`: every PV with its VG and sizes, then the totals.
pub fn pvscan(s: &mut Session, o: &PvScan) -> Result<(), LvmError> {
    if o.no_vg && o.exported {
        return Err(LvmError::Usage("Options -e and -n are incompatible".into()));
    }
    if o.no_vg || o.exported {
        s.warn(format!(
            "WARNING: only considering physical volumes {}",
            if o.exported { "of exported volume group(s)" } else { "in no volume group" }
        ));
    }
    let (scan, vgs) = s.scan(true)?;
    let pv_width = scan.pvs.iter().map(|d| d.path.display().to_string().len()).max().unwrap_or(0) + 2;
    let vg_width = vgs.keys().map(|n| n.len()).chain([ORPHANS.len()]).max().unwrap_or(0) + 2;
    let mut rows: Vec<Row> = Vec::new();
    if !o.no_vg {
        for name in order(&scan, &vgs) {
            let vg = &vgs[&name];
            if o.exported && !super::export::is_exported(&vg.vg) {
                continue;
            }
            let free = crate::alloc::free_extents(&vg.vg);
            let es = vg.vg.extent_size;
            for p in &vg.vg.pvs {
                let Some(d) = vg.disks.get(&p.key) else { continue };
                let f = free.get(&p.key).copied().unwrap_or_default();
                let size = es.to_sectors(p.pe_count);
                rows.push((d.path.display().to_string(), Some((name.clone(), size, es.to_sectors(f))), size));
            }
        }
    }
    if !o.exported {
        for d in &scan.pvs {
            if super::vg_of_device(&vgs, &d.path).is_none() && d.vg.is_none() {
                rows.push((d.path.display().to_string(), None, d.dev_sectors()));
            }
        }
    }
    if rows.is_empty() {
        s.print("No matching physical volumes found");
        return Ok(());
    }
    let mut total = Sectors(0);
    let mut orphan_total = Sectors(0);
    let mut orphans = 0;
    for (name, in_vg, size) in &rows {
        total += *size;
        if in_vg.is_none() {
            orphans += 1;
            orphan_total += *size;
        }
        if o.short {
            s.print(name);
            continue;
        }
        let (name, width) = if o.uuid {
            let d = scan.pvs.iter().find(|d| d.path.display().to_string() == *name).expect("a scanned PV");
            (format!("{name:<w$} with UUID {}", d.uuid(), w = pv_width - 2), pv_width + 50)
        } else {
            (name.clone(), pv_width)
        };
        match in_vg {
            Some((vg, size, free)) if vgs.get(vg).is_some_and(|v| super::export::is_exported(&v.vg)) => s.print(
                format!("PV {name:<width$}  is in exported VG {vg} [{} / {} free]", size_long(*size), size_long(*free)),
            ),
            Some((vg, size, free)) => s.print(format!(
                "PV {name:<width$} VG {vg:<vg_width$} lvm2 [{} / {} free]",
                size_long(*size),
                size_long(*free)
            )),
            None => s.print(format!("PV {name:<width$}    {:<vg_width$} lvm2 [{}]", " ", size_long(*size))),
        }
    }
    s.print(format!(
        "Total: {} [{}] / in use: {} [{}] / in no VG: {orphans} [{}]",
        rows.len(),
        size_long(total),
        rows.len() - orphans,
        size_long(total - orphan_total),
        size_long(orphan_total)
    ));
    Ok(())
}

/// `vgscan`: a line per VG.
pub fn vgscan(s: &mut Session) -> Result<(), LvmError> {
    for name in vg_order(s)? {
        s.print(format!("Found volume group \"{name}\" using metadata type lvm2"));
    }
    Ok(())
}

/// `lvscan [-a]`: a line per LV with whether it is active, whether it is
/// an origin or a snapshot, its size and allocation policy. `all` lists
/// hidden LVs too.
pub fn lvscan(s: &mut Session, all: bool) -> Result<(), LvmError> {
    let (scan, vgs) = s.scan(true)?;
    for name in order(&scan, &vgs) {
        let vg = &vgs[&name];
        for lv in vg.vg.user_lvs() {
            let snap = vg.vg.snapshot_of_cow(&lv.name);
            let visible = match &snap {
                Some(sn) => !sn.merging,
                None => lv.is_visible(),
            };
            if !visible && !all {
                continue;
            }
            let active = match s.host_if_running() {
                Some(h) => h.state(&dm_name(&name, &lv.name, None))?.is_some(),
                None => false,
            };
            let kind = if snap.is_some() {
                "Snapshot"
            } else if !vg.vg.snapshots_of(&lv.name).is_empty() {
                "Original"
            } else {
                "        "
            };
            s.print(format!(
                "{} {kind} '/dev/{name}/{}' [{}] inherit",
                if active { "ACTIVE  " } else { "inactive" },
                lv.name,
                size_long(vg.vg.extent_size.to_sectors(lv.extents()))
            ));
        }
    }
    Ok(())
}

/// One `pvscan --cache [-aay] [DEV...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PvScanCache {
    /// The devices named (every device when empty).
    pub devices: Vec<std::path::PathBuf>,
    /// `-aay`: autoactivate the VGs these PVs complete.
    pub activate: bool,
}

/// What `pvscan --cache -aay` activated.
pub type PvScanActivation = activation::AutoActivation;

/// `pvscan --cache [-aay]`: reports each PV named (every PV when none
/// is) as online, or as not used when it is in no VG; with `-aay` it says
/// for each whether the PVs online so far complete its VG, and runs
/// `vgchange -aay` on each VG it completes, in that order. LVM remembers
/// online PVs across commands (`/run/lvm/pvs_online`, filled by udev
/// events); ulvm keeps no such state, so each command starts with no PV
/// online: the PVs of a VG must be named together (or none named). With
/// `global/event_activation = 0` a command with devices or `-aay` does
/// nothing, as LVM's.
pub fn pvscan_cache(s: &mut Session, c: &PvScanCache, pid: u32) -> Result<PvScanActivation, LvmError> {
    let event_activation = s.config()?.event_activation;
    if !event_activation && (!c.devices.is_empty() || c.activate) {
        return Ok(PvScanActivation::default());
    }
    let (scan, vgs) = s.scan(true)?;
    let named = |p: &std::path::Path| c.devices.is_empty() || c.devices.iter().any(|d| d == p);
    let mut online: Vec<&std::path::Path> = Vec::new();
    let mut complete: Vec<String> = Vec::new();
    for d in &scan.pvs {
        if !named(&d.path) {
            continue;
        }
        let dev = d.path.display();
        match super::vg_of_device(&vgs, &d.path) {
            Some(vg) if super::shared_refusal(vg).is_none() => {
                online.push(&d.path);
                if !c.activate {
                    s.print(format!("pvscan[{pid}] PV {dev} online."));
                    continue;
                }
                let name = &vg.vg.name;
                let need = vg.vg.pvs.len() - vg.disks.values().filter(|x| online.contains(&x.path.as_path())).count();
                if need == 0 {
                    s.print(format!("pvscan[{pid}] PV {dev} online, VG {name} is complete."));
                    complete.push(name.clone());
                } else {
                    s.print(format!("pvscan[{pid}] PV {dev} online, VG {name} incomplete (need {need})."));
                }
            }
            Some(_) => {}
            None => s.print(format!("pvscan[{pid}] PV {dev} not used.")),
        }
    }
    for name in &complete {
        s.print(format!("pvscan[{pid}] VG {name} run autoactivation."));
    }
    if complete.is_empty() {
        return Ok(PvScanActivation::default());
    }
    activation::activate_vgs(s, &complete, Activation::AUTO)
}

/// Whether lvmdiskscan counts a device as a partition: LVM 2.03 tells by
/// the name alone (it ends in a digit: `/dev/sda1`, but also `/dev/loop1`).
fn is_partition(name: &str) -> bool {
    name.ends_with(|c: char| c.is_ascii_digit())
}

/// `lvmdiskscan [-l]`: every device the session may look at with its
/// size, the PVs marked, then the counts, as LVM 2.03 prints them (devices
/// of no size left out). `pvs_only` (`-l`)
/// lists only the PVs, without the disk and partition counts.
pub fn lvmdiskscan(s: &mut Session, pvs_only: bool) -> Result<(), LvmError> {
    if pvs_only {
        s.warn("WARNING: only considering LVM devices");
    }
    let (scan, _) = s.scan_quiet(true)?;
    // (name, size, a PV, a partition)
    let mut rows: Vec<(String, Sectors, bool, bool)> = Vec::new();
    for p in s.device_list()? {
        let pv = scan.pvs.iter().find(|d| d.path == p);
        let size = match pv {
            Some(d) => d.dev.size(),
            None if pvs_only => continue,
            None => match crate::disk::open_device(&p, true) {
                Ok(dev) => dev.size(),
                Err(_) => continue,
            },
        };
        // A device that cannot hold anything (a loop device with no file).
        if size == Sectors(0) {
            continue;
        }
        let name = p.display().to_string();
        let part = is_partition(&name);
        rows.push((name, size, pv.is_some(), part));
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, size, pv, _) in &rows {
        s.print(format!("{name:<width$} [{:>15}] {}", size_long(*size), if *pv { "LVM physical volume" } else { "" }));
    }
    let plural = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let count = |pv: bool, part: bool| rows.iter().filter(|r| r.2 == pv && r.3 == part).count();
    if !pvs_only {
        s.print(plural(count(false, false), "disk"));
        s.print(plural(count(false, true), "partition"));
    }
    s.print(plural(count(true, false), "LVM physical volume whole disk"));
    s.print(plural(count(true, true), "LVM physical volume"));
    Ok(())
}
