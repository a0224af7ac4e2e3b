//! device-mapper's `lock_fs` for the kernel block devices ulvm's volumes
//! appear as.
//!
//! The kernel freezes the file system on a dm device before a suspend
//! drains its I/O and thaws it after the resume, unless told not to
//! (`dmsetup suspend --nolockfs`; LVM locks only snapshot origins and
//! snapshots). A freeze makes the file system consistent on the device:
//! ext4 commits its journal and clears `needs_recovery`, so a snapshot
//! taken meanwhile mounts read-only without recovery.
//!
//! ulvm's devices reach the host's kernel as loop devices over the FUSE
//! files (`--attach-loop`). For a suspend with `lock_fs`, [`Freezes`]
//! looks up the file system mounted on the device's loop device
//! (`/proc/self/mountinfo`), freezes it with `FIFREEZE` before the
//! suspend, and thaws it (`FITHAW`) after the resume, on a failed suspend,
//! before a removal and at shutdown. What it froze is written down in the
//! run directory (`frozen`) before the freeze, so a daemon started after a
//! crash thaws what the crashed one left frozen.
//!
//! A volume used over NBD by a VM holds the guest's file system, which the
//! host cannot freeze: the freeze hook (`--freeze-hook`) is run instead
//! (and as well) around every `lock_fs` suspend, with `freeze NAME` and
//! `thaw NAME` as its arguments, so that it can ask the guest to freeze
//! (for example with the qemu guest agent's `guest-fsfreeze-freeze`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use tracing::{info, warn};

/// `_IOWR('X', 119, int)`: freeze the file system an fd is on.
const FIFREEZE: libc::c_ulong = 0xC004_5877;
/// `_IOWR('X', 120, int)`: thaw it.
const FITHAW: libc::c_ulong = 0xC004_5878;

/// The run directory's record of what is frozen.
pub const FROZEN_FILE: &str = "frozen";

/// What one device's `lock_fs` froze.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frozen {
    /// A file system on the device's loop device, by one of its mount points.
    Mount(PathBuf),
    /// The freeze hook said `freeze` for the device.
    Hook,
}

/// A freeze that failed: one line, what and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FreezeError(pub String);

/// The file systems and hooks frozen for suspended devices.
pub struct Freezes {
    record: Option<PathBuf>,
    hook: Option<PathBuf>,
    frozen: Mutex<HashMap<String, Vec<Frozen>>>,
}

impl Freezes {
    /// `run_dir`: where the record of frozen file systems lives (none: not
    /// recorded, for in-process hosts); `hook`: the freeze hook.
    pub fn new(run_dir: Option<&Path>, hook: Option<PathBuf>) -> Freezes {
        Freezes { record: run_dir.map(|d| d.join(FROZEN_FILE)), hook, frozen: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Frozen>>> {
        self.frozen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Freezes what `name` holds before its suspend: the hook first (it
    /// may need the device to take I/O), then the file system mounted on
    /// `block_dev` (the device's loop device), if any. On an error nothing
    /// stays frozen.
    pub fn freeze(&self, name: &str, block_dev: Option<&Path>) -> Result<(), FreezeError> {
        if self.lock().contains_key(name) {
            return Ok(()); // frozen by an earlier suspend that has not resumed
        }
        let mut done = Vec::new();
        if let Some(hook) = &self.hook {
            self.note(name, &[Frozen::Hook]);
            if let Err(e) = run_hook(hook, "freeze", name) {
                self.note(name, &[]);
                return Err(e);
            }
            done.push(Frozen::Hook);
        }
        if let Some(dev) = block_dev {
            match mount_point_of(dev) {
                Ok(Some(mnt)) => {
                    let mut all = done.clone();
                    all.push(Frozen::Mount(mnt.clone()));
                    self.note(name, &all);
                    match freeze_fs(&mnt) {
                        Ok(true) => done.push(Frozen::Mount(mnt)),
                        Ok(false) => {}
                        Err(e) => {
                            let e = FreezeError(format!(
                                "cannot freeze the file system on {} (mounted on {}): {}",
                                dev.display(),
                                mnt.display(),
                                os_text(&e)
                            ));
                            self.undo(name, &done);
                            self.note(name, &[]);
                            return Err(e);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.undo(name, &done);
                    self.note(name, &[]);
                    return Err(FreezeError(format!(
                        "cannot find what is mounted on {}: {}",
                        dev.display(),
                        os_text(&e)
                    )));
                }
            }
        }
        self.note(name, &done);
        if !done.is_empty() {
            self.lock().insert(name.to_string(), done);
        }
        Ok(())
    }

    /// Thaws what [`Freezes::freeze`] froze for `name`, if anything.
    pub fn thaw(&self, name: &str) {
        let Some(done) = self.lock().remove(name) else { return };
        self.undo(name, &done);
        self.note(name, &[]);
    }

    /// Thaws everything (daemon shutdown).
    pub fn thaw_all(&self) {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for n in names {
            self.thaw(&n);
        }
    }

    /// Whether `name` has something frozen.
    pub fn is_frozen(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// At start: thaws what a daemon that died left frozen, by the record
    /// in the run directory, and clears the record.
    pub fn thaw_leftovers(&self) {
        let Some(path) = &self.record else { return };
        let Ok(text) = std::fs::read_to_string(path) else { return };
        for (name, what) in parse_record(&text) {
            warn!(device = %name, "thawing what a previous daemon left frozen");
            self.undo(&name, &what);
        }
        let _ = std::fs::remove_file(path);
    }

    fn undo(&self, name: &str, done: &[Frozen]) {
        for f in done.iter().rev() {
            match f {
                Frozen::Mount(mnt) => match thaw_fs(mnt) {
                    Ok(()) => info!(device = %name, mount = %mnt.display(), "file system thawed"),
                    Err(e) => warn!(device = %name, mount = %mnt.display(), "cannot thaw: {e}"),
                },
                Frozen::Hook => {
                    if let Some(Err(e)) = self.hook.as_ref().map(|h| run_hook(h, "thaw", name)) {
                        warn!(device = %name, "{e}");
                    }
                }
            }
        }
    }

    /// Rewrites the record with `name`'s entries set to `what`, before a
    /// freeze (so that a crash in the middle leaves a thaw to do) and after
    /// a thaw. The record is small: one line per frozen thing.
    fn note(&self, name: &str, what: &[Frozen]) {
        let Some(path) = &self.record else { return };
        let mut all = std::fs::read_to_string(path).map(|t| parse_record(&t)).unwrap_or_default();
        all.retain(|(n, _)| n != name);
        if !what.is_empty() {
            all.push((name.to_string(), what.to_vec()));
        }
        if all.is_empty() {
            let _ = std::fs::remove_file(path);
            return;
        }
        let mut text = String::new();
        for (n, what) in &all {
            for f in what {
                match f {
                    Frozen::Mount(m) => text.push_str(&format!("{n}\tmount\t{}\n", m.display())),
                    Frozen::Hook => text.push_str(&format!("{n}\thook\n")),
                }
            }
        }
        let tmp = path.with_extension("new");
        let r = File::create(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()))
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = r {
            warn!("cannot write {}: {e}", path.display());
        }
    }
}

fn parse_record(text: &str) -> Vec<(String, Vec<Frozen>)> {
    let mut out: Vec<(String, Vec<Frozen>)> = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(name), Some(kind)) = (f.next(), f.next()) else { continue };
        let what = match (kind, f.next()) {
            ("mount", Some(m)) => Frozen::Mount(PathBuf::from(m)),
            ("hook", _) => Frozen::Hook,
            _ => continue,
        };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.push(what),
            None => out.push((name.to_string(), vec![what])),
        }
    }
    out
}

fn run_hook(hook: &Path, action: &str, name: &str) -> Result<(), FreezeError> {
    let out = Command::new(hook)
        .args([action, name])
        .output()
        .map_err(|e| FreezeError(format!("freeze hook {}: {e}", hook.display())))?;
    if out.status.success() {
        info!(device = %name, hook = %hook.display(), action, "freeze hook ran");
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let why = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    Err(FreezeError(format!(
        "freeze hook {} {action} {name} failed ({}){}",
        hook.display(),
        out.status,
        if why.is_empty() { String::new() } else { format!(": {why}") }
    )))
}

/// The first mount point of the file system on block device `dev`, from
/// this process's mount table.
fn mount_point_of(dev: &Path) -> io::Result<Option<PathBuf>> {
    let md = std::fs::metadata(dev)?;
    if !md.file_type().is_block_device() {
        return Err(io::Error::other("not a block device"));
    }
    let rdev = md.rdev();
    let want = format!("{}:{}", libc::major(rdev), libc::minor(rdev));
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mount_point_in(&table, &want))
}

/// In `/proc/self/mountinfo` text, the mount point of the first mount of
/// device `major:minor`.
fn mount_point_in(mountinfo: &str, major_minor: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let mut f = l.split(' ');
        let (_id, _parent, dev, _root, mnt) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
        (dev == major_minor).then(|| PathBuf::from(unescape(mnt)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1] <= b'3'
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An OS error's text as `strerror` words it, without Rust's
/// ` (os error N)`.
fn os_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn ioctl_on(mnt: &Path, req: libc::c_ulong) -> io::Result<()> {
    let dir = File::open(mnt)?;
    // SAFETY: FIFREEZE/FITHAW take an fd and an ignored int argument; the
    // fd is valid while `dir` lives.
    let r = unsafe { libc::ioctl(dir.as_raw_fd(), req as _, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Freezes the file system mounted on `mnt`. `Ok(false)`: it has no
/// freeze (`EOPNOTSUPP`), so it was only synced, as the kernel's own
/// freeze does for such a file system before the device drains.
fn freeze_fs(mnt: &Path) -> io::Result<bool> {
    match ioctl_on(mnt, FIFREEZE) {
        Ok(()) => {
            info!(mount = %mnt.display(), "file system frozen");
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            let dir = File::open(mnt)?;
            // SAFETY: syncfs takes an fd, valid while `dir` lives.
            if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            info!(mount = %mnt.display(), "file system has no freeze: synced");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Thaws it; one that is not frozen (`EINVAL`) is fine.
fn thaw_fs(mnt: &Path) -> io::Result<()> {
    match ioctl_on(mnt, FITHAW) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
98 22 7:3 / /mnt/my\\040data rw,relatime shared:50 - ext4 /dev/loop3 rw
99 22 7:3 / /srv/bind rw,relatime shared:50 - ext4 /dev/loop3 rw
100 22 7:30 / /mnt/other rw - ext4 /dev/loop30 rw
";

    #[test]
    fn test_mount_point_is_the_first_mount_of_the_device() {
        assert_eq!(mount_point_in(MOUNTINFO, "7:3"), Some(PathBuf::from("/mnt/my data")));
        assert_eq!(mount_point_in(MOUNTINFO, "7:30"), Some(PathBuf::from("/mnt/other")));
        assert_eq!(mount_point_in(MOUNTINFO, "7:4"), None);
    }

    #[test]
    fn test_unescape_octal_escapes_only() {
        assert_eq!(unescape("/a\\040b\\011c\\134d"), "/a b\tc\\d");
        assert_eq!(unescape("/a\\04"), "/a\\04");
        assert_eq!(unescape("/a\\x40"), "/a\\x40");
    }

    #[test]
    fn test_record_round_trips_and_skips_junk() {
        let dir = tempdir();
        let f = Freezes::new(Some(&dir), None);
        f.note("vg-a", &[Frozen::Hook, Frozen::Mount("/mnt/a b".into())]);
        f.note("vg-b", &[Frozen::Mount("/mnt/b".into())]);
        let text = std::fs::read_to_string(dir.join(FROZEN_FILE)).unwrap();
        let mut back = parse_record(&format!("{text}junk line\nvg-c\tmount\n"));
        back.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            back,
            vec![
                ("vg-a".to_string(), vec![Frozen::Hook, Frozen::Mount("/mnt/a b".into())]),
                ("vg-b".to_string(), vec![Frozen::Mount("/mnt/b".into())]),
            ]
        );
        f.note("vg-a", &[]);
        f.note("vg-b", &[]);
        assert!(!dir.join(FROZEN_FILE).exists(), "an empty record goes");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn test_hook_runs_around_and_a_failing_hook_freezes_nothing() {
        let dir = tempdir();
        let log = dir.join("log");
        let hook = dir.join("hook");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\necho \"$1 $2\" >>{}\n[ \"$2\" != bad ] || {{ echo 'guest agent: not running' >&2; exit 3; }}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let f = Freezes::new(Some(&dir), Some(hook.clone()));
        f.freeze("good", None).unwrap();
        assert!(f.is_frozen("good"));
        assert_eq!(std::fs::read_to_string(dir.join(FROZEN_FILE)).unwrap(), "good\thook\n");
        f.freeze("good", None).unwrap(); // a second suspend: frozen once
        f.thaw("good");
        assert!(!f.is_frozen("good"));
        let e = f.freeze("bad", None).unwrap_err().to_string();
        assert!(e.starts_with(&format!("freeze hook {} freeze bad failed", hook.display())), "{e}");
        assert!(e.ends_with(": guest agent: not running"), "{e}");
        assert!(!f.is_frozen("bad"));
        assert!(!dir.join(FROZEN_FILE).exists());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "freeze good\nthaw good\nfreeze bad\n");
        // A record left by a daemon that died: thawed at start.
        std::fs::write(dir.join(FROZEN_FILE), "left\thook\n").unwrap();
        Freezes::new(Some(&dir), Some(hook)).thaw_leftovers();
        assert!(std::fs::read_to_string(&log).unwrap().ends_with("thaw left\n"));
        assert!(!dir.join(FROZEN_FILE).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn test_a_device_that_is_not_a_block_device_is_refused() {
        let f = Freezes::new(None, None);
        let e = f.freeze("x", Some(Path::new("/proc/self/mountinfo"))).unwrap_err().to_string();
        assert_eq!(e, "cannot find what is mounted on /proc/self/mountinfo: not a block device");
        assert!(!f.is_frozen("x"));
    }

    fn tempdir() -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("ulvm-freeze-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
