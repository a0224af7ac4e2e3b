//! Activation at daemon start: what `vgchange -aay` does on a distribution
//! at boot (LVM's `lvm2-activation` services, or pvscan's event
//! activation), run in-process through the LVM library. Every VG of the
//! system directory's devices file is autoactivated: VGs and LVs with
//! autoactivation disabled (`--setautoactivation n`), LVs that lvm.conf's
//! `activation/auto_activation_volume_list` leaves out and LVs with the
//! activation skip flag stay inactive. The background jobs of what was
//! activated (deferred merges, clone hydrations) are polled to their end,
//! as `vgchange -ay` asks of the daemon.

use crate::handler::Ctx;
use crate::jobs::{JobRunner, PollRequest};
use crate::lvm_host::daemon_session;
use std::sync::Arc;
use tracing::{info, warn};
use ulvm_lvm::ops::activation::autoactivate;
use ulvm_lvm::system::SystemDir;

/// Autoactivates every VG the devices file of `sd` holds and starts the
/// pollers of their jobs. Failures are logged: a VG that cannot be
/// activated does not keep the daemon from serving the others.
pub fn autoactivate_all(ctx: Arc<Ctx>, sd: &SystemDir, jobs: &JobRunner) {
    let mut s = daemon_session(ctx, sd.clone(), None, "vgchange -aay".into(), "autoactivation");
    match autoactivate(&mut s, &[]) {
        Ok(r) => {
            for (vg, lv, why) in &r.skipped {
                info!(vg = %vg, lv = %lv, "autoactivation: skipped ({why:?})");
            }
            info!(activated = r.activated.len(), skipped = r.skipped.len(), "autoactivation: done");
            if r.status != 0 {
                warn!("autoactivation: some LVs could not be activated");
            }
            for (vg, lv) in r.jobs {
                info!(vg = %vg, lv = %lv, "autoactivation: resuming the LV's background job");
                jobs.start(PollRequest { system_dir: sd.root().to_path_buf(), devices: None, vg, lv });
            }
        }
        Err(e) => warn!("autoactivation: {e}"),
    }
}
