//! `--attach-loop` (root): every active device's FUSE file is attached to
//! a loop device with direct I/O, and `/dev/mapper/NAME` points at it, so
//! `mkfs.ext4 /dev/mapper/NAME && mount` works as with kernel dm.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tracing::{info, warn};
use ulvm_dm::Registry;

pub const MAPPER_DIR: &str = "/dev/mapper";

pub struct LoopManager {
    fuse_dir: PathBuf,
    reg: Arc<Registry>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Device name -> loop device.
    attached: HashMap<String, String>,
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
        let live: Vec<(String, bool)> = self
            .reg
            .list()
            .into_iter()
            .filter_map(|(n, _)| self.reg.info(&n).ok())
            .filter(|i| i.live_table)
            .map(|i| (i.name, i.read_only))
            .collect();
        let mut st = self.lock();
        for (name, ro) in &live {
            if st.attached.contains_key(name) || st.removing.contains(name) {
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
                    info!(device = %name, loop_dev = %lo, "attached");
                    st.attached.insert(name.clone(), lo);
                }
                Err(e) => warn!(device = %name, "cannot attach a loop device: {e}"),
            }
        }
        let gone: Vec<String> = st.attached.keys().filter(|n| !live.iter().any(|(l, _)| l == *n)).cloned().collect();
        for name in gone {
            if let Some(lo) = st.attached.remove(&name) {
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
            Some(lo) => {
                detach(name, &lo);
                true
            }
            None => false,
        }
    }

    pub fn done_removing(&self, name: &str) {
        self.lock().removing.remove(name);
    }

    pub fn detach_all(&self) {
        let mut st = self.lock();
        for (name, lo) in std::mem::take(&mut st.attached) {
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

fn detach(name: &str, lo: &str) {
    let link = Path::new(MAPPER_DIR).join(name);
    if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(lo)) {
        let _ = std::fs::remove_file(&link);
    }
    match losetup(&["-d", lo]) {
        Ok(_) => info!(device = %name, loop_dev = %lo, "detached"),
        Err(e) => warn!(device = %name, "{e}"),
    }
}
