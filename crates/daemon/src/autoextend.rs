//! Snapshot autoextend, as LVM's dmeventd does it: a monitor watches the
//! usage of every LVM snapshot (a `snapshot` device whose UUID starts with
//! `LVM-`) and, once it reaches `activation/snapshot_autoextend_threshold`
//! percent of the system directory's lvm.conf, runs
//! `lvextend --use-policies VG/LV` in-process through the LVM library (as
//! dmeventd runs it through liblvm2cmd), which grows the COW LV by
//! `snapshot_autoextend_percent` from free VG space and reloads its table.
//! While that runs, writes that find the COW full wait (the registry's
//! `snapshot_space_wait`) instead of invalidating the snapshot.

use crate::handler::Ctx;
use crate::lvm_host::daemon_session;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};
use ulvm_dm::TargetStatus;
use ulvm_lvm::names::split_dm_name;
use ulvm_lvm::ops::resize::{resize, Command, Resize, Resized, Target};
use ulvm_lvm::system::SystemDir;
use ulvm_lvm::LvmError;

/// How often usage is looked at.
const PERIOD: Duration = Duration::from_millis(200);

pub struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts watching; extensions run in-process over `host_ctx`'s registry.
    pub fn start(host_ctx: Arc<Ctx>, sd: SystemDir) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("autoextend".into())
            .spawn(move || watch(&host_ctx, &sd, &s))
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

/// `lvextend --use-policies VG/LV`, in-process.
fn extend(host_ctx: Arc<Ctx>, sd: &SystemDir, vg: &str, lv: &str) -> Result<Resized, LvmError> {
    let mut s = daemon_session(host_ctx, sd.clone(), None, format!("lvextend --use-policies {vg}/{lv}"), "autoextend");
    let r = Resize {
        vg: vg.to_string(),
        lv: lv.to_string(),
        command: Command::Extend,
        target: Target::Policy,
        stripes: None,
        pvs: Vec::new(),
        force: false,
        resize_fs: false,
    };
    resize(&mut s, &r)
}

fn watch(host_ctx: &Arc<Ctx>, sd: &SystemDir, stop: &AtomicBool) {
    let reg = &host_ctx.reg;
    let mut running: HashMap<String, JoinHandle<Result<Resized, LvmError>>> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(PERIOD);
        let done: Vec<String> = running.iter().filter(|(_, t)| t.is_finished()).map(|(n, _)| n.clone()).collect();
        for name in done {
            match running.remove(&name).map(JoinHandle::join) {
                Some(Ok(Ok(Resized::Changed { from, to }))) => {
                    info!(device = %name, "autoextend: done, from {from} to {to} extents")
                }
                Some(Ok(Ok(Resized::Unchanged))) => info!(device = %name, "autoextend: done, nothing to extend"),
                Some(Ok(Err(e))) => warn!(device = %name, "autoextend failed: {e}"),
                _ => warn!(device = %name, "autoextend failed: the extension panicked"),
            }
        }
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
            let (ctx, sd) = (host_ctx.clone(), sd.clone());
            running.insert(name, std::thread::spawn(move || extend(ctx, &sd, &vg, &lv)));
        }
    }
    for (_, t) in running {
        let _ = t.join();
    }
}
