//! Background LVM jobs in the daemon, as lvmpolld polls for LVM2: a
//! command that starts a merge or a clone (or activates an LV that has
//! one) asks the daemon to poll it ([`crate::proto::Request::Poll`], what
//! `lvconvert --startpoll` does). The daemon runs the library's poller
//! ([`ulvm_lvm::ops::jobs::poll`]) in-process on a thread, over its own
//! registry ([`RegistryHost`]), and finishes the job in the metadata when
//! the device is done. Start, progress and end are logged.
//!
//! A job polls until it finishes, its device goes away (it resumes when
//! the LV is activated again, which asks for polling again), or the
//! daemon stops. One job per LV and system directory runs at a time.

use crate::handler::Ctx;
use crate::lvm_host::daemon_session;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use ulvm_lvm::ops::jobs::{self, Next, Outcome};
use ulvm_lvm::system::SystemDir;

/// How often a job's device is asked how far it is.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often progress is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What to poll: an LV with a job, under a system directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PollRequest {
    pub system_dir: PathBuf,
    /// The command's `--devices`, if it gave them (else the devices file).
    pub devices: Option<Vec<PathBuf>>,
    pub vg: String,
    pub lv: String,
}

pub struct JobRunner {
    /// The registry and loops the jobs' device host acts on.
    host_ctx: Arc<Ctx>,
    running: Arc<Mutex<HashSet<(PathBuf, String, String)>>>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl JobRunner {
    /// `host_ctx` must not itself have a job runner (jobs never start jobs).
    pub fn new(host_ctx: Arc<Ctx>) -> JobRunner {
        JobRunner { host_ctx, running: Arc::default(), stop: Arc::default(), threads: Mutex::default() }
    }

    /// Starts polling `req` unless it is polled already; whether it started.
    pub fn start(&self, req: PollRequest) -> bool {
        let key = (req.system_dir.clone(), req.vg.clone(), req.lv.clone());
        if self.stop.load(Ordering::SeqCst)
            || !self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone())
        {
            return false;
        }
        let (ctx, running, stop) = (self.host_ctx.clone(), self.running.clone(), self.stop.clone());
        let t = std::thread::spawn(move || {
            run(ctx, &req, &stop);
            running.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        });
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|t| !t.is_finished());
        threads.push(t);
        true
    }

    /// Stops every job after its current step and waits for them.
    pub fn stop_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Polls one job to its end.
fn run(ctx: Arc<Ctx>, req: &PollRequest, stop: &AtomicBool) {
    let mut s = daemon_session(
        ctx,
        SystemDir::new(req.system_dir.clone()),
        req.devices.clone(),
        format!("lvconvert --startpoll {}/{}", req.vg, req.lv),
        "job",
    );
    let (vg, lv) = (req.vg.as_str(), req.lv.as_str());
    let job = s.vg(vg, true).map(|v| jobs::job_of(&v, lv));
    let mut job = match job {
        Ok(Some(j)) => j,
        Ok(None) => return,
        Err(e) => {
            warn!("job: {vg}/{lv}: {e}");
            return;
        }
    };
    let (what, unit) = (job.what(), job.unit_bytes());
    info!("job: {what} of {vg}/{lv} polled");
    let started = Instant::now();
    let mut logged = Instant::now();
    let r = jobs::poll(&mut s, job.as_mut(), POLL_INTERVAL, &mut |p| {
        if logged.elapsed() >= LOG_EVERY {
            logged = Instant::now();
            let mib = p.rate * unit.0 as f64 / f64::from(1 << 20);
            info!("job: {what} of {vg}/{lv}: {}/{} ({:.2}%), {mib:.1} MiB/s", p.done, p.total, p.percent());
        }
        if stop.load(Ordering::SeqCst) {
            Next::Stop
        } else {
            Next::Continue
        }
    });
    let secs = started.elapsed().as_secs_f64();
    match r {
        Ok(Outcome::Finished(gone)) => info!("job: {what} of {vg}/{lv} finished after {secs:.1}s; {gone} removed"),
        Ok(Outcome::FinishedElsewhere) => info!("job: {what} of {vg}/{lv} was finished by another poller"),
        Ok(Outcome::Inactive) => info!("job: {what} of {vg}/{lv} waits for the LV's next activation"),
        Ok(Outcome::Stopped) => info!("job: {what} of {vg}/{lv} stopped with the daemon; it resumes on activation"),
        Err(e) => warn!("job: {what} of {vg}/{lv} failed: {e}"),
    }
}
