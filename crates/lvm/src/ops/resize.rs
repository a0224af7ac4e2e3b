//! `lvextend`, `lvreduce`, `lvresize`: an LV grows from free extents or
//! shrinks from its end, an active LV's tables follow while it is
//! suspended, and with `-r` the file system on it follows, as LVM's fsadm:
//! ext2/3/4 shrunk before the LV shrinks and grown after it grows, xfs
//! grown online with `xfs_growfs` (never shrunk), reiserfs resized
//! unmounted with `resize_reiserfs`.
//!
//! [`Target::Policy`] is dmeventd's way of growing a snapshot: past
//! `snapshot_autoextend_threshold` percent full, by
//! `snapshot_autoextend_percent`; the daemon calls it in-process.

use super::common::{allocate, pv_keys, SizeSpec};
use super::Session;
use crate::activate;
use crate::alloc;
use crate::extent::Extents;
use crate::model::SegmentKind;
use crate::names::dm_name;
use crate::units::size_long;
use crate::LvmError;
use std::path::PathBuf;
use ulvm_blockdev::Sectors;

/// Which command asks: each refuses sizes in the other direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Extend,
    Reduce,
    Resize,
}

/// The size wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Size(SizeSpec),
    /// `--use-policies`: lvm.conf's snapshot autoextend settings.
    Policy,
}

/// One resize, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Resize {
    pub vg: String,
    pub lv: String,
    pub command: Command,
    pub target: Target,
    /// `-i`: stripes for the new extents (else the last segment's).
    pub stripes: Option<usize>,
    /// PVs to allocate from (and to count for `%PVS`).
    pub pvs: Vec<PathBuf>,
    /// `-f`: no question before shrinking.
    pub force: bool,
    /// `-r`: resize the file system too.
    pub resize_fs: bool,
}

/// What a resize did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resized {
    /// From and to, in extents.
    Changed { from: Extents, to: Extents },
    /// `--use-policies` found nothing to do (below the threshold, or
    /// autoextend is off).
    Unchanged,
}

/// Runs a file system tool quietly; whether it succeeded.
fn tool_ok(cmd: &str, args: &[&str]) -> bool {
    std::process::Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
}

/// Where the block device at `path` is mounted, if it is (its device
/// number in this process's mount table).
fn mount_point(path: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata(path).map(|m| m.rdev()).ok()?;
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let dev = format!("{major}:{minor}");
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = table.lines().find(|l| l.split_whitespace().nth(2) == Some(dev.as_str()))?;
    line.split_whitespace().nth(4).map(String::from)
}

fn is_mounted(path: &str) -> bool {
    mount_point(path).is_some()
}

/// The file systems `-r` resizes, as LVM's fsadm does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fs {
    /// ext2/3/4: `e2fsck`, `resize2fs` (shrinks unmounted).
    Ext,
    /// xfs: `xfs_growfs` on its mount point (a temporary one when it is
    /// not mounted); it cannot shrink.
    Xfs,
    /// reiserfs: `resize_reiserfs`, unmounted only.
    Reiser,
}

/// Runs a file system tool for fsadm with no input (a question it asks
/// is answered by the end of input, as when LVM runs fsadm), its error
/// output passed through, and its output too unless fsadm parses it
/// (`parsed`); its exit status.
fn fsadm_tool(s: &mut Session, cmd: &str, args: &[&str], parsed: bool) -> Result<i32, LvmError> {
    let o = std::process::Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| LvmError::Refused(format!("fsadm: {cmd}: {e}")))?;
    if !parsed {
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            s.print_raw(l);
        }
    }
    for l in String::from_utf8_lossy(&o.stderr).lines() {
        s.warn_raw(l);
    }
    Ok(o.status.code().unwrap_or(-1))
}

/// fsadm's check of an unmounted reiserfs before a resize: `fsck -p`
/// (exit status 0 or 1 is success).
fn check_reiser(s: &mut Session, dev: &str) -> Result<(), LvmError> {
    if is_mounted(dev) {
        return Ok(());
    }
    if !matches!(fsadm_tool(s, "fsck", &["-p", dev], false)?, 0 | 1) {
        s.warn_raw("fsadm: Fsck reiserfs failed.");
        return Err(LvmError::Refused("Filesystem check failed.".into()));
    }
    Ok(())
}

/// fsadm's resize of a reiserfs to `size`: unmounted only (fsadm asks
/// to unmount a mounted one, and the end of input says no), with
/// `resize_reiserfs -s BYTES` (which asks before it shrinks). `shrink`:
/// before the LV shrinks, where LVM adds `Filesystem resize failed.`.
fn resize_reiser(s: &mut Session, dev: &str, size: Sectors, shrink: bool) -> Result<(), LvmError> {
    let failed = |what: &str| {
        let tail = if shrink { "\n  Filesystem resize failed." } else { "" };
        LvmError::Refused(format!("{what}{tail}"))
    };
    if let Some(m) = mount_point(dev) {
        s.print_raw(format!("Do you want to unmount \"{m}\" ? [Y|n] n"));
        s.warn_raw(format!("fsadm: Cannot proceed with mounted filesystem \"{m}\"."));
        return Err(failed("/sbin/fsadm failed: 1"));
    }
    if fsadm_tool(s, "reiserfstune", &[dev], true)? != 0 {
        s.warn_raw("fsadm: Cannot parse reiserfstune output.");
        return Err(failed("/sbin/fsadm failed: 1"));
    }
    if fsadm_tool(s, "resize_reiserfs", &["-s", &size.bytes().0.to_string(), dev], false)? != 0 {
        s.warn_raw("fsadm: reiserfs resize failed.");
        return Err(failed("/sbin/fsadm failed: 1"));
    }
    Ok(())
}

/// The file system on `dev`, as `blkid` names it.
fn fs_type(dev: &str) -> Option<String> {
    let o = std::process::Command::new("blkid").args(["-c", "/dev/null", "-o", "value", "-s", "TYPE", dev]).output();
    let t = String::from_utf8_lossy(&o.ok()?.stdout).trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// fsadm's check of an unmounted xfs before a resize (`xfs_repair -n -o
/// force_geometry`, its output passed through as fsadm does); a mounted
/// one is not checked.
fn check_xfs(s: &mut Session, dev: &str) -> Result<(), LvmError> {
    if is_mounted(dev) {
        return Ok(());
    }
    let o = std::process::Command::new("xfs_repair").args(["-n", "-o", "force_geometry", dev]).output();
    let o = o.map_err(|e| LvmError::Refused(format!("fsadm: xfs_repair: {e}\n  Filesystem check failed.")))?;
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        s.print_raw(l);
    }
    for l in String::from_utf8_lossy(&o.stderr).lines() {
        s.warn_raw(l);
    }
    if !o.status.success() {
        s.warn_raw("fsadm: Xfs repair failed.");
        return Err(LvmError::Refused("Filesystem check failed.".into()));
    }
    Ok(())
}

/// fsadm's `xfs_growfs` of an xfs on `dev`, mounted where it is or on a
/// temporary directory for the while; its output is what fsadm prints.
fn grow_xfs(s: &mut Session, dev: &str) -> Result<(), LvmError> {
    let (dir, temp) = match mount_point(dev) {
        Some(m) => (m, None),
        None => {
            let t = std::env::temp_dir().join(format!("ulvm-fsadm-{}", std::process::id()));
            std::fs::create_dir_all(&t).map_err(|e| LvmError::Refused(format!("fsadm: {}: {e}", t.display())))?;
            let d = t.display().to_string();
            if !tool_ok("mount", &["-t", "xfs", dev, &d]) {
                let _ = std::fs::remove_dir(&t);
                return Err(LvmError::Refused("fsadm: Cannot mount Xfs filesystem.".into()));
            }
            (d, Some(t))
        }
    };
    let o = std::process::Command::new("xfs_growfs").arg(&dir).output();
    if let Some(t) = &temp {
        let _ = std::process::Command::new("umount").arg(t).output();
        let _ = std::fs::remove_dir(t);
    }
    let o = o.map_err(|e| LvmError::Refused(format!("xfs_growfs: {e}")))?;
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        s.print_raw(l);
    }
    if !o.status.success() {
        return Err(LvmError::Refused(format!(
            "xfs_growfs {dir} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(())
}

/// Runs a file system tool; its error output becomes the error.
fn run_tool(cmd: &str, args: &[&str]) -> Result<(), LvmError> {
    let o =
        std::process::Command::new(cmd).args(args).output().map_err(|e| LvmError::Refused(format!("{cmd}: {e}")))?;
    if !o.status.success() {
        return Err(LvmError::Refused(format!(
            "{cmd} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(())
}

/// Resizes one LV; see the module documentation.
pub fn resize(s: &mut Session, r: &Resize) -> Result<Resized, LvmError> {
    let (vg_name, name) = (r.vg.as_str(), r.lv.as_str());
    let _l = s.lock_vg(vg_name)?;
    let mut vg = s.vg(vg_name, false)?;
    let lv = vg
        .vg
        .lv(name)
        .filter(|_| vg.vg.user_lvs().any(|l| l.name == name))
        .ok_or_else(|| LvmError::NotFound(format!("Failed to find logical volume \"{vg_name}/{name}\"")))?
        .clone();
    if vg.vg.raid_parent(name).is_some() {
        return Err(LvmError::Refused(format!("Can't resize internal logical volume {vg_name}/{name}.")));
    }
    if lv.raid().is_some() && r.command == Command::Reduce {
        return Err(LvmError::Refused(format!(
            "ulvm cannot reduce raid1 LV {vg_name}/{name} yet: lvconvert -m 0, reduce, then lvconvert -m 1."
        )));
    }
    if vg.vg.mirror_parent(name).is_some() {
        return Err(LvmError::Refused(format!("Can't resize internal logical volume {vg_name}/{name}.")));
    }
    if lv.mirror().is_some() && (r.command == Command::Reduce || lv.segments.len() != 1) {
        return Err(LvmError::Refused(format!(
            "ulvm cannot reduce mirrored LV {vg_name}/{name} yet: lvconvert -m 0, reduce, then mirror it again."
        )));
    }
    let cur = lv.extents();
    let pvs = pv_keys(&vg, &r.pvs)?;
    let want = match r.target {
        Target::Policy => {
            let Some(snap) = vg.vg.snapshot_of_cow(name) else {
                return Err(LvmError::Refused(format!(
                    "--use-policies works on snapshots; {vg_name}/{name} is not one."
                )));
            };
            let cfg = s.sd.config()?;
            if cfg.snapshot_autoextend_threshold >= 100 || cfg.snapshot_autoextend_percent == 0 {
                return Ok(Resized::Unchanged);
            }
            let st = s.host()?.status(&dm_name(vg_name, name, None))?;
            match st.snapshot().and_then(crate::percent::snapshot) {
                Some(p) if p >= cfg.snapshot_autoextend_threshold as f64 => {}
                Some(_) => return Ok(Resized::Unchanged),
                None => {
                    return Err(LvmError::Refused(format!(
                        "Snapshot {vg_name}/{name} ({name} of {vg_name}/{}) has no usage to act on: {st}",
                        snap.origin
                    )))
                }
            }
            cur + Extents((cur * cfg.snapshot_autoextend_percent).0.div_ceil(100).max(1))
        }
        Target::Size(spec) => spec.resolve(s, &vg, cur, pvs.as_deref())?.0,
    };
    let es = vg.vg.extent_size;
    if want == cur && !r.resize_fs {
        return Err(LvmError::Refused(format!("New size ({want} extents) matches existing size ({cur} extents).")));
    }
    if r.command == Command::Extend && want < cur {
        return Err(LvmError::Refused(format!(
            "New size given ({want} extents) not larger than existing size ({cur} extents)"
        )));
    }
    if r.command == Command::Reduce && want > cur {
        return Err(LvmError::Refused(format!(
            "New size given ({want} extents) not less than existing size ({cur} extents)"
        )));
    }
    let fs_dev = format!("/dev/{vg_name}/{name}");
    if r.resize_fs && !std::path::Path::new(&fs_dev).exists() {
        return Err(LvmError::Refused(format!(
            "-r needs {fs_dev}: activate the LV with the daemon running --fuse-dir and --attach-loop."
        )));
    }
    let fs = match r.resize_fs.then(|| fs_type(&fs_dev)) {
        None => None,
        Some(Some(t)) if matches!(t.as_str(), "ext2" | "ext3" | "ext4") => Some(Fs::Ext),
        Some(Some(t)) if t == "xfs" => Some(Fs::Xfs),
        Some(Some(t)) if t == "reiserfs" => Some(Fs::Reiser),
        Some(_) => {
            return Err(LvmError::Refused(format!(
                "-r resizes ext2/3/4, xfs and reiserfs file systems only; {fs_dev} holds none."
            )))
        }
    };
    let origin = activate::family_origin(&vg, name);
    let before = activate::plan(&vg, &origin)?;
    let active = match s.host_if_running() {
        Some(h) => activate::is_active(h, &vg, &origin)?,
        None => None,
    };
    // As LVM 2.03: an origin grows only while inactive (its snapshots keep
    // their size, the size the origin had when they were taken) and never
    // shrinks.
    if !vg.vg.snapshots_of(name).is_empty() {
        if want < cur {
            return Err(LvmError::Refused("Snapshot origin volumes cannot be reduced in size yet.".into()));
        }
        if active.is_some() {
            return Err(LvmError::Refused(
                "Snapshot origin volumes can be resized only while inactive: try lvchange -an.".into(),
            ));
        }
    }
    if fs == Some(Fs::Xfs) {
        check_xfs(s, &fs_dev)?;
        if want < cur {
            s.warn_raw("fsadm: Xfs filesystem shrinking is unsupported.");
            return Err(LvmError::Refused("/sbin/fsadm failed: 1\n  Filesystem resize failed.".into()));
        }
    }
    if fs == Some(Fs::Reiser) {
        check_reiser(s, &fs_dev)?;
        if want < cur {
            resize_reiser(s, &fs_dev, es.to_sectors(want), true)?;
        }
    }
    if want == cur {
        // With -r, LVM resizes the file system to an LV that stays.
        s.print(format!(
            "Size of logical volume {vg_name}/{name} unchanged from {} ({cur} extents).",
            size_long(es.to_sectors(cur))
        ));
        s.print(format!("Logical volume {vg_name}/{name} successfully resized."));
        match fs {
            Some(Fs::Reiser) => resize_reiser(s, &fs_dev, es.to_sectors(cur), false)?,
            Some(Fs::Xfs) => grow_xfs(s, &fs_dev)?,
            _ => run_tool("resize2fs", &[&fs_dev])?,
        }
        return Ok(Resized::Unchanged);
    }
    if want < cur {
        s.warn(format!(
            "WARNING: Reducing {}logical volume to {}.",
            if active.is_some() { "active " } else { "" },
            size_long(es.to_sectors(want))
        ));
        s.warn("THIS MAY DESTROY YOUR DATA (filesystem etc.)");
        if !r.force && !s.confirm(&format!("Do you really want to reduce {vg_name}/{name}?")) {
            return Err(LvmError::Refused(format!("Logical volume {vg_name}/{name} NOT reduced.")));
        }
    }
    if fs == Some(Fs::Ext) && want < cur {
        let kib = es.to_sectors(want).bytes().0 / 1024;
        if !tool_ok("e2fsck", &["-f", "-p", &fs_dev]) {
            return Err(LvmError::Refused(format!("e2fsck of {fs_dev} failed; not reducing (is it mounted?).")));
        }
        run_tool("resize2fs", &[&fs_dev, &format!("{kib}K")])?;
    }
    let mut new_lv = lv.clone();
    if lv.raid().is_some() {
        if want < cur {
            return Err(LvmError::Refused(format!(
                "ulvm cannot reduce raid1 LV {vg_name}/{name} yet: lvconvert -m 0, reduce, then lvconvert -m 1."
            )));
        }
        super::raid::extend_images(&mut vg, name, want - cur, pvs.as_deref())?;
        new_lv = vg.vg.lv(name).expect("the raid LV").clone();
    } else if lv.mirror().is_some() {
        if want < cur {
            return Err(LvmError::Refused(format!(
                "ulvm cannot reduce mirrored LV {vg_name}/{name} yet: lvconvert -m 0, reduce, then mirror it again."
            )));
        }
        super::mirror::extend_images(&mut vg, name, want - cur, pvs.as_deref())?;
        new_lv = vg.vg.lv(name).expect("the mirror").clone();
    } else if want > cur {
        let last = lv.segments.last().map(|s| &s.kind);
        let stripes = match last {
            Some(SegmentKind::Striped { stripes, .. }) => stripes.len(),
            _ => 1,
        };
        let stripes = r.stripes.unwrap_or(stripes);
        let stripe_size = match last {
            Some(SegmentKind::Striped { stripe_size: Some(ss), .. }) => *ss,
            _ => Sectors(128),
        };
        let add = Extents((want - cur).0.div_ceil(stripes as u64)) * stripes as u64;
        let areas = allocate(&vg, name, add, stripes, pvs.as_deref(), Some(&lv))?;
        alloc::append_segments(&mut new_lv, alloc::segments_from(&areas, cur, stripe_size));
    } else {
        let mut left = want;
        let mut segs = Vec::new();
        for mut seg in lv.segments.clone() {
            if left == Extents(0) {
                break;
            }
            if seg.extent_count > left {
                let n = match &seg.kind {
                    SegmentKind::Striped { stripes, .. } => stripes.len() as u64,
                    _ => 1,
                };
                if !left.is_multiple_of(n) {
                    return Err(LvmError::Refused(format!(
                        "Cannot reduce a {n}-stripe segment to {left} extents (not a multiple of {n})."
                    )));
                }
                seg.extent_count = left;
            }
            left -= seg.extent_count;
            segs.push(seg);
        }
        new_lv.segments = segs;
    }
    let new_size = new_lv.extents();
    *vg.vg_mut().lv_mut(name).expect("LV exists") = new_lv;
    if active.is_some() {
        let after = activate::plan(&vg, &origin)?;
        if lv.raid().is_some() {
            // The images grow before the raid's new table is loaded.
            super::raid::reload(s.host()?, vg_name, name, &before, &after)?;
        } else if lv.mirror().is_some() {
            // The images grow before the mirror's new table is loaded.
            super::mirror::reload_mirror(s.host()?, &before, &after, &dm_name(vg_name, name, None))?;
        } else {
            activate::sync_family(s.host()?, &before, &after)?;
        }
    }
    s.commit(&mut vg)?;
    s.print(format!(
        "Size of logical volume {vg_name}/{name} changed from {} ({cur} extents) to {} ({new_size} extents).",
        size_long(es.to_sectors(cur)),
        size_long(es.to_sectors(new_size))
    ));
    s.print(format!("Logical volume {vg_name}/{name} successfully resized."));
    if fs == Some(Fs::Xfs) && new_size > cur {
        grow_xfs(s, &fs_dev)?;
    }
    if fs == Some(Fs::Reiser) && new_size > cur {
        resize_reiser(s, &fs_dev, es.to_sectors(new_size), false)?;
    }
    if fs == Some(Fs::Ext) && new_size > cur {
        // As fsadm: an unmounted ext file system is checked first, which
        // resize2fs demands when it was mounted since its last check.
        if !is_mounted(&fs_dev) {
            run_tool("e2fsck", &["-f", "-p", &fs_dev])?;
        }
        run_tool("resize2fs", &[&fs_dev])?;
    }
    Ok(Resized::Changed { from: cur, to: new_size })
}
