//! `--attach-loop` (root): every active device's FUSE file is attached to
//! a loop device with direct I/O, and `/dev/mapper/NAME` points at it, so
//! `mkfs.ext4 /dev/mapper/NAME && mount` works as with kernel dm. LVM's
//! LVs (dm UUID `LVM-...`) also get `/dev/VG/LV`, and a device that
//! changes size (lvextend) has its loop device's capacity refreshed.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};
use ulvm_blockdev::BlockDevice;
use ulvm_dm::Registry;

pub const MAPPER_DIR: &str = "/dev/mapper";

pub struct LoopManager {
    fuse_dir: PathBuf,
    reg: Arc<Registry>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Device name -> loop device and the size it was attached with.
    attached: HashMap<String, (String, u64)>,
    /// Names being removed: not to be attached again meanwhile.
    removing: HashSet<String>,
}

fn losetup(args: &[&str]) -> Result<String, String> {
    let out = Command::new("losetup").args(args).output().map_err(|e| format!("losetup: {e}"))?;
    if !out.status.success() {
        return Err(format!("losetup {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl LoopManager {
    pub fn new(fuse_dir: &Path, reg: Arc<Registry>) -> LoopManager {
        LoopManager { fuse_dir: fuse_dir.to_path_buf(), reg, state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches every active device that has no loop yet, and detaches
    /// loops whose device went away.
    pub fn reconcile(&self) {
        let live: Vec<(String, bool, String, u64)> = self
            .reg
            .list()
            .into_iter()
            .filter_map(|(n, _)| self.reg.info(&n).ok())
            .filter(|i| i.live_table)
            .map(|i| {
                let size = self.reg.device(&i.name).map(|d| d.size().0).unwrap_or(0);
                (i.name, i.read_only, i.uuid, size)
            })
            .collect();
        let mut st = self.lock();
        for (name, ro, uuid, size) in &live {
            if st.removing.contains(name) {
                continue;
            }
            if let Some((lo, old)) = st.attached.get_mut(name) {
                if *old != *size {
                    match losetup(&["--set-capacity", lo]) {
                        Ok(_) => info!(device = %name, loop_dev = %lo, sectors = size, "loop capacity refreshed"),
                        Err(e) => warn!(device = %name, "{e}"),
                    }
                    *old = *size;
                }
                continue;
            }
            match attach(&self.fuse_dir.join(name), *ro) {
                Ok(lo) => {
                    let link = Path::new(MAPPER_DIR).join(name);
                    let _ = std::fs::create_dir_all(MAPPER_DIR);
                    let _ = std::fs::remove_file(&link);
                    if let Err(e) = std::os::unix::fs::symlink(&lo, &link) {
                        warn!(device = %name, "cannot link {}: {e}", link.display());
                    }
                    if let Some(l) = lvm_link(name, uuid) {
                        let _ = std::fs::create_dir_all(l.parent().expect("/dev/VG"));
                        let _ = std::fs::remove_file(&l);
                        if let Err(e) = std::os::unix::fs::symlink(&link, &l) {
                            warn!(device = %name, "cannot link {}: {e}", l.display());
                        }
                    }
                    info!(device = %name, loop_dev = %lo, "attached");
                    st.attached.insert(name.clone(), (lo, *size));
                }
                Err(e) => warn!(device = %name, "cannot attach a loop device: {e}"),
            }
        }
        let gone: Vec<String> = st.attached.keys().filter(|n| !live.iter().any(|(l, ..)| l == *n)).cloned().collect();
        for name in gone {
            if let Some((lo, _)) = st.attached.remove(&name) {
                detach(&name, &lo);
            }
        }
    }

    /// Detaches `name` before it is removed; [`LoopManager::done_removing`]
    /// lets it be attached again. Returns whether a loop was detached.
    pub fn start_removing(&self, name: &str) -> bool {
        let mut st = self.lock();
        st.removing.insert(name.to_string());
        match st.attached.remove(name) {
            Some((lo, _)) => {
                detach(name, &lo);
                true
            }
            None => false,
        }
    }

    /// The open count users see: the loop device's own open of the FUSE
    /// file does not count, but the loop device being claimed (a mounted
    /// filesystem, which opens it exclusively) does, as one opener.
    pub fn user_open_count(&self, name: &str, count: u32) -> u32 {
        let st = self.lock();
        let Some((lo, _)) = st.attached.get(name) else { return count };
        let claimed = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_EXCL)
            .open(lo)
            .is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY));
        count.saturating_sub(1) + u32::from(claimed)
    }

    /// The loop device `name` is attached to, if any.
    pub fn loop_of(&self, name: &str) -> Option<PathBuf> {
        self.lock().attached.get(name).map(|(lo, _)| PathBuf::from(lo))
    }

    pub fn done_removing(&self, name: &str) {
        self.lock().removing.remove(name);
    }

    pub fn detach_all(&self) {
        let mut st = self.lock();
        for (name, (lo, _)) in std::mem::take(&mut st.attached) {
            detach(&name, &lo);
        }
    }
}

fn attach(file: &Path, read_only: bool) -> Result<String, String> {
    let f = file.to_str().ok_or("non-UTF-8 path")?;
    let mut args = vec!["--find", "--show", "--direct-io=on"];
    if read_only {
        args.push("--read-only");
    }
    args.push(f);
    losetup(&args).or_else(|e| {
        // Direct I/O needs kernel support for it on this file; fall back.
        warn!("{e}; attaching without direct I/O");
        args.retain(|a| *a != "--direct-io=on");
        losetup(&args)
    })
}

/// `/dev/VG/LV` for a top-level LVM device (`VG-LV` with an `LVM-` UUID).
fn lvm_link(name: &str, uuid: &str) -> Option<PathBuf> {
    if !uuid.starts_with("LVM-") {
        return None;
    }
    match ulvm_lvm::names::split_dm_name(name)? {
        (vg, lv, None) => Some(Path::new("/dev").join(vg).join(lv)),
        _ => None,
    }
}

fn detach(name: &str, lo: &str) {
    let link = Path::new(MAPPER_DIR).join(name);
    if let Some(l) = ulvm_lvm::names::split_dm_name(name)
        .and_then(|(vg, lv, layer)| layer.is_none().then(|| Path::new("/dev").join(&vg).join(lv)))
    {
        if std::fs::read_link(&l).is_ok_and(|t| t == link) {
            let _ = std::fs::remove_file(&l);
            let _ = std::fs::remove_dir(l.parent().expect("/dev/VG"));
        }
    }
    if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(lo)) {
        let _ = std::fs::remove_file(&link);
    }
    match losetup(&["-d", lo]) {
        Ok(_) => info!(device = %name, loop_dev = %lo, "detached"),
        Err(e) => warn!(device = %name, "{e}"),
    }
}
