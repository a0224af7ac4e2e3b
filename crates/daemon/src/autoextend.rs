//! Snapshot autoextend, as LVM's dmeventd does it: a monitor watches the
//! usage of every LVM snapshot (a `snapshot` device whose UUID starts with
//! `LVM-`) and, once it reaches `activation/snapshot_autoextend_threshold`
//! percent of the system directory's lvm.conf, runs
//! `lvextend --use-policies VG/LV` in-process through the LVM library (as
//! dmeventd runs it through liblvm2cmd), which grows the COW LV by
//! `snapshot_autoextend_percent` from free VG space and reloads its table.
//! While that runs, writes that find the COW full wait (the registry's
//! `snapshot_space_wait`) instead of invalidating the snapshot.
//!
//! The same monitor watches LVM's legacy mirrors, as dmeventd's mirror
//! plugin does: once a mirror's status shows a failed leg, it runs
//! `lvconvert --repair --use-policies VG/LV` in-process, which drops the
//! failed image or replaces it as `activation/mirror_image_fault_policy`
//! says (`remove` by default). A repair that fails is not tried again
//! until the mirror is healthy once more.

use crate::handler::Ctx;
use crate::lvm_host::daemon_session;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};
use ulvm_dm::{Registry, TargetStatus};
use ulvm_lvm::activate::is_pvmove_dm;
use ulvm_lvm::names::split_dm_name;
use ulvm_lvm::ops::mirror::repair;
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

/// `lvconvert --repair --use-policies VG/LV`, in-process.
fn repair_mirror(host_ctx: Arc<Ctx>, sd: &SystemDir, vg: &str, lv: &str) -> Result<bool, LvmError> {
    let mut s =
        daemon_session(host_ctx, sd.clone(), None, format!("lvconvert --repair --use-policies {vg}/{lv}"), "mirror");
    let policy = s.config()?.mirror_image_fault_policy;
    repair(&mut s, vg, lv, Some(policy))
}

/// The mirror side of the monitor: starts a repair for every LVM mirror
/// with a failed leg that has none running and whose last repair did not
/// fail; forgets a failure once the mirror is healthy.
fn watch_mirrors(
    host_ctx: &Arc<Ctx>,
    sd: &SystemDir,
    repairs: &mut HashMap<String, JoinHandle<Result<bool, LvmError>>>,
    failed: &mut HashSet<String>,
) {
    let done: Vec<String> = repairs.iter().filter(|(_, t)| t.is_finished()).map(|(n, _)| n.clone()).collect();
    for name in done {
        match repairs.remove(&name).map(JoinHandle::join) {
            Some(Ok(Ok(_))) => info!(device = %name, "mirror: repaired"),
            Some(Ok(Err(e))) => {
                warn!(device = %name, "mirror: repair failed: {e}");
                failed.insert(name);
            }
            _ => {
                warn!(device = %name, "mirror: repair failed: it panicked");
                failed.insert(name);
            }
        }
    }
    let reg = &host_ctx.reg;
    for (name, _) in reg.list() {
        if repairs.contains_key(&name) || is_pvmove_dm(&name) {
            continue;
        }
        let Some(TargetStatus::Mirror(m)) = lvm_status(reg, &name) else { continue };
        let healthy = m.health.iter().all(|h| h.as_char() == 'A');
        if healthy {
            failed.remove(&name);
            continue;
        }
        if failed.contains(&name) {
            continue;
        }
        let Some((vg, lv, None)) = split_dm_name(&name) else { continue };
        let chars: String = m.health.iter().map(|h| h.as_char()).collect();
        info!(device = %name, "mirror: {vg}/{lv} has a failed leg ({chars}), repairing");
        let (ctx, sd) = (host_ctx.clone(), sd.clone());
        repairs.insert(name, std::thread::spawn(move || repair_mirror(ctx, &sd, &vg, &lv)));
    }
}

/// The first target's status of `name` if LVM made it (its UUID).
fn lvm_status(reg: &Registry, name: &str) -> Option<TargetStatus> {
    if !reg.info(name).ok()?.uuid.starts_with("LVM-") {
        return None;
    }
    reg.status(name).ok()?.into_iter().next().map(|l| l.status)
}

fn watch(host_ctx: &Arc<Ctx>, sd: &SystemDir, stop: &AtomicBool) {
    let reg = &host_ctx.reg;
    let mut running: HashMap<String, JoinHandle<Result<Resized, LvmError>>> = HashMap::new();
    let mut repairs: HashMap<String, JoinHandle<Result<bool, LvmError>>> = HashMap::new();
    let mut failed_repairs: HashSet<String> = HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(PERIOD);
        watch_mirrors(host_ctx, sd, &mut repairs, &mut failed_repairs);
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
            let Some(TargetStatus::Snapshot(snap)) = lvm_status(reg, &name) else { continue };
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
    for (_, t) in repairs {
        let _ = t.join();
    }
}
