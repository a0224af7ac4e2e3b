//! Snapshot autoextend, as LVM's dmeventd does it: a monitor watches the
//! usage of every LVM snapshot (a `snapshot` device whose UUID starts with
//! `LVM-`) and, once it reaches `activation/snapshot_autoextend_threshold`
//! percent of the system directory's lvm.conf, runs
//! `ulvm lvextend --use-policies VG/LV`, which grows the COW LV by
//! `snapshot_autoextend_percent` from free VG space and reloads its table.
//! While that runs, writes that find the COW full wait (the registry's
//! `snapshot_space_wait`) instead of invalidating the snapshot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};
use ulvm_dm::{Registry, TargetStatus};
use ulvm_lvm::names::split_dm_name;
use ulvm_lvm::system::SystemDir;

/// How often usage is looked at.
const PERIOD: Duration = Duration::from_millis(200);

pub struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts watching; `exe` is the ulvm binary that runs the extension.
    pub fn start(reg: Arc<Registry>, sd: SystemDir, run_dir: PathBuf, exe: PathBuf) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("autoextend".into())
            .spawn(move || watch(&reg, &sd, &run_dir, &exe, &s))
            .expect("spawning the autoextend monitor");
        Monitor { stop, thread: Some(thread) }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn watch(reg: &Registry, sd: &SystemDir, run_dir: &PathBuf, exe: &PathBuf, stop: &AtomicBool) {
    let mut running: HashMap<String, Child> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(PERIOD);
        running.retain(|name, child| match child.try_wait() {
            Ok(None) => true,
            Ok(Some(st)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                if st.success() {
                    info!(device = %name, "autoextend: done");
                } else {
                    warn!(device = %name, "autoextend failed: {}", err.trim());
                }
                false
            }
            Err(_) => false,
        });
        let Ok(cfg) = sd.config() else { continue };
        if cfg.snapshot_autoextend_threshold >= 100 {
            continue;
        }
        for (name, _) in reg.list() {
            if running.contains_key(&name) {
                continue;
            }
            let Ok(info) = reg.info(&name) else { continue };
            if !info.uuid.starts_with("LVM-") {
                continue;
            }
            let Ok(lines) = reg.status(&name) else { continue };
            let Some(l) = lines.first() else { continue };
            let TargetStatus::Snapshot(snap) = &l.status else { continue };
            let Some(pct) = snap.usage_percent() else { continue };
            if pct < cfg.snapshot_autoextend_threshold as f64 {
                continue;
            }
            let Some((vg, lv, None)) = split_dm_name(&name) else { continue };
            info!(device = %name, "autoextend: {vg}/{lv} is {pct:.2}% full, extending by {}%", cfg.snapshot_autoextend_percent);
            let child = Command::new(exe)
                .args(["lvextend", "--use-policies", &format!("{vg}/{lv}")])
                .arg("--system-dir")
                .arg(sd.root())
                .arg("--run-dir")
                .arg(run_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn();
            match child {
                Ok(c) => {
                    running.insert(name, c);
                }
                Err(e) => warn!(device = %name, "autoextend: cannot run {}: {e}", exe.display()),
            }
        }
    }
    for (_, mut c) in running {
        let _ = c.wait();
    }
}
