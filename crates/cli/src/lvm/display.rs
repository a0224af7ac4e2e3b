//! pvdisplay, vgdisplay and lvdisplay: LVM's long forms, over the facts
//! `ulvm_lvm::facts` works out once per VG.

use super::args::Args;
use super::Ctx;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use ulvm_blockdev::Sectors;
use ulvm_lvm::alloc;
use ulvm_lvm::disk::Vg;
use ulvm_lvm::facts::{live, shown_pvs, usage_pct, Devices, View};
use ulvm_lvm::model::{LogicalVolume, SegmentKind, SnapshotRef};
use ulvm_lvm::names::dm_name;
use ulvm_lvm::ops::{check_local, local_names, shared_refusal};
use ulvm_lvm::units::size_long;
use ulvm_lvm::Extents;

/// `println!` into `out`: the displays print thousands of lines, which go
/// out in a few writes instead of one each. As with `println!`, a failed
/// write of stdout is not an error of the command (exit status as LVM's).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Standard output, buffered (flushed when dropped, so before an error
/// message).
fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock())
}

pub fn pvdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (scan, vgs) = ctx.scan(true)?;
    let a = &match super::tag_args(&vgs, "pv", &a.pos) {
        Some(pos) if pos.is_empty() => return Ok(0),
        Some(pos) => {
            let mut a = a.clone();
            a.pos = pos;
            a
        }
        None => a.clone(),
    };
    let out = &mut stdout();
    let views: BTreeMap<&str, View> = vgs.iter().map(|(n, v)| (n.as_str(), View::new(v))).collect();
    let wanted: Vec<std::path::PathBuf> = a.pos.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    for (d, vg) in shown_pvs(&scan.pvs, &vgs, &wanted) {
        let entry = vg.and_then(|v| v.vg.pvs.iter().find(|p| p.id == d.uuid()).map(|p| (v, p)));
        let view = vg.and_then(|v| views.get(v.vg.name.as_str()));
        let exported = vg.filter(|v| ulvm_lvm::ops::export::is_exported(&v.vg));
        if let Some(v) = exported {
            outln!(out, "  Physical volume \"{}\" of volume group \"{}\" is exported", d.path.display(), v.vg.name);
        }
        outln!(out, "  --- {}Physical volume ---", if entry.is_some() { "" } else { "NEW " });
        outln!(out, "  PV Name               {}", d.path.display());
        outln!(
            out,
            "  VG Name               {}{}",
            vg.map(|v| v.vg.name.as_str()).unwrap_or(""),
            if exported.is_some() { " (exported)" } else { "" }
        );
        match entry {
            Some((v, p)) => {
                let es = v.vg.extent_size;
                let data = es.to_sectors(p.pe_count);
                let free = view.map(|w| w.pv_free(&p.key)).unwrap_or_default();
                let dev = d.dev_sectors();
                outln!(out, "  PV Size               {} / not usable {}", size_long(dev), size_long(dev - data));
                let allocatable = p.status.iter().any(|s| s == "ALLOCATABLE");
                if allocatable {
                    outln!(out, "  Allocatable           yes {}", if free == Extents(0) { "(but full)" } else { "" });
                } else {
                    outln!(out, "  Allocatable           NO");
                }
                outln!(out, "  PE Size               {}", size_long(es.sectors()));
                outln!(out, "  Total PE              {}", p.pe_count);
                outln!(out, "  Free PE               {free}");
                outln!(out, "  Allocated PE          {}", p.pe_count - free);
                outln!(out, "  PV UUID               {}", d.uuid());
                outln!(out, "   ");
                if a.has("maps") {
                    outln!(out, "  --- Physical Segments ---");
                    let lvs: HashMap<&str, &LogicalVolume> = v.vg.lvs.iter().map(|l| (l.name.as_str(), l)).collect();
                    for s in &alloc::pv_segments(&v.vg)[&p.key] {
                        outln!(out, "  Physical extent {} to {}:", s.pe, s.pe + s.len - Extents(1));
                        match &s.used_by {
                            Some((lv, le)) => {
                                outln!(out, "    Logical volume\t/dev/{}/{lv}", v.vg.name);
                                let seg_len = lvs
                                    .get(lv.as_str())
                                    .and_then(|l| l.segments.iter().find(|g| g.start_extent == *le))
                                    .map(|g| g.extent_count)
                                    .unwrap_or(s.len);
                                outln!(out, "    Logical extents\t{le} to {}", *le + seg_len - Extents(1));
                            }
                            None => outln!(out, "    FREE"),
                        }
                    }
                    outln!(out, "   ");
                }
            }
            None => {
                outln!(out, "  PV Size               {}", size_long(d.dev_sectors()));
                outln!(out, "  Allocatable           NO");
                outln!(out, "  PE Size               0   ");
                outln!(out, "  Total PE              0");
                outln!(out, "  Free PE               0");
                outln!(out, "  Allocated PE          0");
                outln!(out, "  PV UUID               {}", d.uuid());
                outln!(out, "   ");
            }
        }
    }
    Ok(0)
}

pub fn vgdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (_, vgs) = ctx.scan(true)?;
    let pos = match super::tag_args(&vgs, "vg", &a.pos) {
        Some(pos) if pos.is_empty() => return Ok(0),
        Some(pos) => pos,
        None => a.pos.clone(),
    };
    let names: Vec<String> = if pos.is_empty() { local_names(&vgs) } else { pos };
    let devs = Devices::get(&mut ctx.s);
    let out = &mut stdout();
    for name in names {
        let Some(vg) = vgs.get(&name) else { bail!("Volume group \"{name}\" not found") };
        check_local(vg)?;
        let view = View::new(vg);
        let v = &vg.vg;
        let es = v.extent_size;
        let total: Extents = v.pvs.iter().map(|p| p.pe_count).sum();
        let free: Extents = view.free().values().copied().sum();
        if a.has("short") {
            // LVM's vgdisplay_short: `"vg1" 60.00 MiB [0         used / 60.00 MiB free]`.
            outln!(
                out,
                "  \"{name}\" {:<9} [{:<9} used / {} free]",
                size_long(es.to_sectors(total)),
                size_long(es.to_sectors(total - free)),
                size_long(es.to_sectors(free))
            );
            continue;
        }
        let mut open = 0;
        for l in v.user_lvs() {
            if live(&mut ctx.s, &devs, &view, l).dev.is_some_and(|d| d.open_count > 0) {
                open += 1;
            }
        }
        outln!(out, "  --- Volume group ---");
        outln!(out, "  VG Name               {name}");
        outln!(out, "  System ID             ");
        outln!(out, "  Format                lvm2");
        outln!(
            out,
            "  Metadata Areas        {}",
            vg.disks.values().map(|d| d.label.metadata_areas.len()).sum::<usize>()
        );
        outln!(out, "  Metadata Sequence No  {}", v.seqno);
        outln!(out, "  VG Access             read/write");
        let exported = if ulvm_lvm::ops::export::is_exported(v) { "exported/" } else { "" };
        outln!(out, "  VG Status             {exported}resizable");
        outln!(out, "  MAX LV                {}", v.max_lv);
        outln!(out, "  Cur LV                {}", v.user_lvs().filter(|l| view.visible(l)).count());
        outln!(out, "  Open LV               {open}");
        outln!(out, "  Max PV                {}", v.max_pv);
        outln!(out, "  Cur PV                {}", v.pvs.len());
        outln!(out, "  Act PV                {}", vg.disks.len());
        outln!(out, "  VG Size               {}", size_long(es.to_sectors(total)));
        outln!(out, "  PE Size               {}", size_long(es.sectors()));
        outln!(out, "  Total PE              {total}");
        outln!(out, "  Alloc PE / Size       {} / {}", total - free, size_long(es.to_sectors(total - free)));
        outln!(out, "  Free  PE / Size       {free} / {}", size_long(es.to_sectors(free)));
        outln!(out, "  VG UUID               {}", v.id);
        outln!(out, "   ");
        if a.has("verbose") {
            for l in v.user_lvs() {
                print_lvdisplay(ctx, &devs, &view, l, out);
            }
            outln!(out, "  --- Physical volumes ---");
            for p in &v.pvs {
                let pfree = view.pv_free(&p.key);
                outln!(out, "  PV Name               {}     ", vg.pv_path(&p.key));
                outln!(out, "  PV UUID               {}", p.id);
                outln!(
                    out,
                    "  PV Status             {}allocatable",
                    if p.status.iter().any(|s| s == "ALLOCATABLE") { "" } else { "NOT " }
                );
                outln!(out, "  Total PE / Free PE    {} / {pfree}", p.pe_count);
                outln!(out, "   ");
            }
        }
    }
    Ok(0)
}

/// `lvdisplay -m`: where each segment's extents lie.
fn print_segments(vg: &Vg, lv: &LogicalVolume, out: &mut impl std::io::Write) {
    outln!(out, "  --- Segments ---");
    for seg in &lv.segments {
        outln!(out, "  Logical extents {} to {}:", seg.start_extent, seg.start_extent + seg.extent_count - Extents(1));
        match &seg.kind {
            SegmentKind::Striped { stripes, .. } if stripes.len() == 1 && vg.vg.pv(&stripes[0].0).is_none() => {
                let (k, le) = &stripes[0];
                outln!(out, "    Type\t\tlinear");
                outln!(out, "    Logical volume\t{k}");
                outln!(out, "    Logical extents\t{le} to {}", *le + seg.extent_count - Extents(1));
            }
            SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => {
                let (k, pe) = &stripes[0];
                outln!(out, "    Type\t\tlinear");
                outln!(out, "    Physical volume\t{}", vg.pv_path(k));
                outln!(out, "    Physical extents\t{pe} to {}", *pe + seg.extent_count - Extents(1));
            }
            SegmentKind::Striped { stripes, stripe_size } => {
                let per = seg.extent_count / stripes.len() as u64;
                outln!(out, "    Type\t\tstriped");
                outln!(out, "    Stripes\t\t{}", stripes.len());
                outln!(out, "    Stripe size\t\t{}", size_long(stripe_size.unwrap_or(Sectors(128))));
                for (i, (k, pe)) in stripes.iter().enumerate() {
                    outln!(out, "    Stripe {i}:");
                    outln!(out, "      Physical volume\t{}", vg.pv_path(k));
                    outln!(out, "      Physical extents\t{pe} to {}", *pe + per - Extents(1));
                }
            }
            SegmentKind::Mirror(m) if !m.is_pvmove() && vg.vg.pv(&m.areas[0].0).is_none() => {
                // A legacy mirror: its images are LVs.
                let last = seg.extent_count - Extents(1);
                outln!(out, "    Type\t\tmirror");
                outln!(out, "    Monitoring\t\t");
                outln!(out, "    Mirrors\t\t{}", m.mirror_count);
                outln!(out, "    Mirror size\t\t{}", seg.extent_count);
                if let Some(l) = &m.mirror_log {
                    outln!(out, "    Mirror log volume\t{l}");
                }
                outln!(out, "    Mirror region size\t{}", size_long(m.region_size.unwrap_or_default()));
                for (i, (k, le)) in m.areas.iter().enumerate() {
                    if i < 2 {
                        outln!(out, "    {}", if i == 0 { "Mirror original:" } else { "Mirror destinations:" });
                    }
                    outln!(out, "      Logical volume\t{k}");
                    outln!(out, "      Logical extents\t{le} to {}", *le + last);
                }
            }
            SegmentKind::Mirror(m) => {
                outln!(out, "    Type\t\tmirror");
                outln!(out, "    Mirrors\t\t{}", m.mirror_count);
                for (i, (k, pe)) in m.areas.iter().enumerate() {
                    outln!(out, "    Mirror {i}:");
                    outln!(out, "      Physical volume\t{}", vg.pv_path(k));
                    outln!(out, "      Physical extents\t{pe} to {}", *pe + seg.extent_count - Extents(1));
                }
            }
            SegmentKind::Raid(r) => {
                // LVM's raid segment display: each slot's data LV as a
                // stripe on an LV, then the metadata LVs.
                let last = seg.extent_count - Extents(1);
                outln!(out, "    Type\t\traid1");
                outln!(out, "    Monitoring\t\t");
                for (i, a) in r.areas.iter().enumerate() {
                    outln!(out, "    Raid Data LV{i:2}");
                    outln!(out, "      Logical volume\t{}", a.data);
                    outln!(out, "      Logical extents\t0 to {last}");
                }
                for (i, a) in r.areas.iter().enumerate() {
                    if let Some(m) = &a.meta {
                        outln!(out, "    Raid Metadata LV{i:2}\t{m}");
                    }
                }
            }
            SegmentKind::Snapshot { .. } => outln!(out, "    Type\t\tsnapshot"),
            SegmentKind::Other { segment_type } => outln!(out, "    Type\t\t{segment_type}"),
        }
        outln!(out, "   ");
    }
    outln!(out, "   ");
}

fn print_lvdisplay(ctx: &mut Ctx, devs: &Devices, view: &View, lv: &LogicalVolume, out: &mut impl std::io::Write) {
    let v = &view.vg.vg;
    let l = live(&mut ctx.s, devs, view, lv);
    let snap = view.snapshot_of_cow(&lv.name);
    let snaps: Vec<&SnapshotRef> = view.snaps.of_origin(&lv.name).collect();
    outln!(out, "  --- Logical volume ---");
    if view.visible(lv) {
        outln!(out, "  LV Path                /dev/{}/{}", v.name, lv.name);
        outln!(out, "  LV Name                {}", lv.name);
    } else {
        outln!(out, "  Internal LV Name       {}", lv.name);
    }
    outln!(out, "  VG Name                {}", v.name);
    outln!(out, "  LV UUID                {}", lv.id);
    outln!(out, "  LV Write Access        {}", if lv.is_writable() { "read/write" } else { "read only" });
    if let (Some(h), Some(t)) = (&lv.creation_host, lv.creation_time) {
        outln!(out, "  LV Creation host, time {h}, {}", format_time(t));
    }
    if !snaps.is_empty() {
        outln!(out, "  LV snapshot status     source of");
        for s in &snaps {
            let active = view
                .lv(&s.cow)
                .map(|c| live(&mut ctx.s, devs, view, c))
                .is_some_and(|cl| cl.dev.is_some() && !cl.invalid);
            outln!(out, "                         {} [{}]", s.cow, if active { "active" } else { "INACTIVE" });
        }
    } else if let Some(s) = &snap {
        let active = l.dev.is_some() && !l.invalid;
        outln!(
            out,
            "  LV snapshot status     {} destination for {}",
            if active { "active" } else { "INACTIVE" },
            s.origin
        );
    }
    outln!(
        out,
        "  LV Status              {}",
        if l.dev.as_ref().is_some_and(|d| d.suspended) {
            "suspended"
        } else if l.dev.is_some() {
            "available"
        } else {
            "NOT available"
        }
    );
    if let Some(d) = &l.dev {
        outln!(out, "  # open                 {}", d.open_count);
    }
    let es = v.extent_size;
    match &snap {
        Some(s) => {
            let o = view.lv(&s.origin).map(|o| o.extents()).unwrap_or_default();
            outln!(out, "  LV Size                {}", size_long(es.to_sectors(o)));
            outln!(out, "  Current LE             {o}");
            outln!(out, "  COW-table size         {}", size_long(es.to_sectors(lv.extents())));
            outln!(out, "  COW-table LE           {}", lv.extents());
            if l.dev.is_some() && !l.invalid {
                // LVM asks a merging snapshot's origin: until the merge
                // runs (snapshot-origin has no usage), that reads as 100%.
                let p = if s.merging {
                    ctx.host_if_running()
                        .and_then(|h| usage_pct(h.status(&dm_name(&v.name, &s.origin, None))))
                        .or(Some(100.0))
                } else {
                    l.pct
                };
                if let Some(p) = p {
                    outln!(out, "  Allocated to snapshot  {p:.2}%");
                }
            }
            outln!(out, "  Snapshot chunk size    {}", size_long(s.chunk_size));
        }
        None => {
            outln!(out, "  LV Size                {}", size_long(es.to_sectors(lv.extents())));
            outln!(out, "  Current LE             {}", lv.extents());
            if let Some(m) = lv.mirror() {
                outln!(out, "  Mirrored volumes       {}", m.areas.len());
            }
            if let Some(r) = lv.raid() {
                outln!(out, "  Mirrored volumes       {}", r.areas.len());
            }
        }
    }
    outln!(out, "  Segments               {}", lv.segments.len());
    outln!(out, "  Allocation             inherit");
    outln!(out, "  Read ahead sectors     auto");
    if let Some(d) = &l.dev {
        // LVM's automatic read-ahead: 256 sectors, or two full stripes.
        let ra = match lv.segments.first().map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, stripe_size: Some(ss) }) if stripes.len() > 1 => {
                (stripes.len() as u64 * ss.0 * 2).max(256)
            }
            _ => 256,
        };
        outln!(out, "  - currently set to     {ra}");
        outln!(out, "  Block device           {}:{}", d.major, d.minor);
    }
    outln!(out, "   ");
}

pub(super) use ulvm_lvm::calendar::format_time;

pub fn lvdisplay(ctx: &mut Ctx, a: &Args) -> Result<i32> {
    let (_, vgs) = ctx.scan(true)?;
    let a = &match super::tag_args(&vgs, "lv", &a.pos) {
        Some(pos) if pos.is_empty() => return Ok(0),
        Some(pos) => {
            let mut a = a.clone();
            a.pos = pos;
            a
        }
        None => a.clone(),
    };
    let devs = Devices::get(&mut ctx.s);
    let out = &mut stdout();
    let mut any = false;
    for vg in vgs.values() {
        if shared_refusal(vg).is_some() {
            if a.pos.iter().any(|p| p.strip_prefix("/dev/").unwrap_or(p).split('/').next() == Some(&vg.vg.name)) {
                check_local(vg)?;
            }
            continue;
        }
        // An exported VG: refused when named, left out otherwise.
        if ulvm_lvm::ops::export::is_exported(&vg.vg) {
            if a.pos.iter().any(|p| p.strip_prefix("/dev/").unwrap_or(p).split('/').next() == Some(&vg.vg.name)) {
                ulvm_lvm::ops::export::check_not_exported(&vg.vg)?;
            }
            continue;
        }
        let view = View::new(vg);
        for lv in vg.vg.user_lvs() {
            let names_vg = a.pos.iter().any(|p| p.strip_prefix("/dev/").unwrap_or(p) == vg.vg.name);
            let names_lv =
                a.pos.iter().any(|p| p.strip_prefix("/dev/").unwrap_or(p) == format!("{}/{}", vg.vg.name, lv.name));
            let selected = a.pos.is_empty() || names_vg || names_lv;
            // A VG named shows its visible LVs, as no name does; a hidden
            // LV (a mirror's image) shows when named, or with -a.
            let hidden_ok = names_lv || a.has("all") || (names_vg && view.snapshot_of_cow(&lv.name).is_some());
            if selected && (view.visible(lv) || hidden_ok) {
                print_lvdisplay(ctx, &devs, &view, lv, out);
                if a.has("maps") {
                    print_segments(vg, lv, out);
                }
                any = true;
            }
        }
    }
    if !any && !a.pos.is_empty() {
        bail!("Failed to find logical volume \"{}\"", a.pos[0]);
    }
    Ok(0)
}
