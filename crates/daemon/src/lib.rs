//! The ulvm daemon: the userspace "kernel" of device-mapper.
//!
//! It owns the device [`Registry`], runs background work (merges) on
//! threads, serves the control socket ([`control`], protocol in [`proto`]),
//! and exports every active device over NBD ([`exports`]) on a unix socket
//! and, when asked, on TCP.

pub mod autoextend;
pub mod boot;
pub mod control;
pub mod exports;
pub mod freeze;
pub mod fuse;
pub mod handler;
pub mod jobs;
pub mod leases;
pub mod loops;
pub mod lvm_host;
pub mod paths;
pub mod proto;
pub mod signals;
pub mod vhost;

use std::fs::File;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::info;
use ulvm_dm::{Registry, RegistryConfig};
use ulvm_nbd::NbdServer;

/// Daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub run_dir: PathBuf,
    /// Also serve NBD on this TCP address (no authentication).
    pub nbd_listen: Option<String>,
    /// Mode of the control and NBD sockets.
    pub socket_mode: u32,
    /// Bytes a snapshot merge moves per step.
    pub merge_batch: usize,
    /// Mount the FUSE export here.
    pub fuse_dir: Option<PathBuf>,
    /// Attach a loop device to every FUSE file and link `/dev/mapper/NAME` (root).
    pub attach_loop: bool,
    /// Serve the FUSE export over io_uring when the kernel offers it
    /// (`fuse::FuseOptions::io_uring`).
    pub fuse_io_uring: bool,
    /// The LVM system directory whose lvm.conf sets snapshot autoextend
    /// (`None`: no autoextend monitor).
    pub system_dir: Option<PathBuf>,
    /// Run as `HOOK freeze NAME` before a `lock_fs` suspend and `HOOK thaw
    /// NAME` after the resume (a guest's file system on a volume used over
    /// NBD, which the host cannot freeze itself).
    pub freeze_hook: Option<PathBuf>,
    /// At start, activate the VGs of `system_dir`'s devices file as
    /// `vgchange -aay` does (boot-time activation).
    pub autoactivate: bool,
    /// The share of the time mirror resync (pvmove's copy) may use, in
    /// percent, as the kernel's `dm_mirror.raid1_resync_throttle`.
    pub mirror_resync_percent: u32,
    /// Serve every active device as a vhost-user-blk socket `NAME.sock`
    /// in this directory (`vhost_export` requests work without it).
    pub vhost_user_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("another ulvm daemon is running on {0} (pid {1})")]
    AlreadyRunning(PathBuf, String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// A running daemon.
pub struct Daemon {
    pub registry: Arc<Registry>,
    run_dir: PathBuf,
    control: control::ControlServer,
    nbd: Vec<NbdServer>,
    fuse: Option<fuse::FuseExport>,
    vhost: Arc<vhost::VhostExports>,
    loops: Option<Arc<loops::LoopManager>>,
    monitor: Option<autoextend::Monitor>,
    jobs: Arc<jobs::JobRunner>,
    freezes: Arc<freeze::Freezes>,
    lock: Option<File>,
}

/// How long a write waits for an autoextend before a full snapshot is
/// invalidated.
pub const AUTOEXTEND_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Daemon {
    /// Takes the run directory's lock (refusing a second daemon), then
    /// starts the control socket and the NBD export.
    pub fn start(cfg: &DaemonConfig) -> Result<Daemon, DaemonError> {
        std::fs::create_dir_all(&cfg.run_dir).map_err(io(format!("creating {}", cfg.run_dir.display())))?;
        let lock = take_lock(&cfg.run_dir)?;
        // What a daemon that died left frozen is thawed first.
        let freezes = Arc::new(freeze::Freezes::new(Some(&cfg.run_dir), cfg.freeze_hook.clone()));
        freezes.thaw_leftovers();
        // With autoextend configured, writes to a full snapshot wait for it.
        let sd = cfg.system_dir.as_ref().map(|d| ulvm_lvm::system::SystemDir::new(d.clone()));
        let autoextend =
            sd.as_ref().and_then(|s| s.config().ok()).is_some_and(|c| c.snapshot_autoextend_threshold < 100);
        // Tables may name NBD exports (`nbd://`, `nbd+unix://`): clone
        // sources. A dropped connection is retried for five minutes.
        let remote = ulvm_dm::RemoteOpener(Arc::new(|uri: &str| {
            let u = ulvm_nbd::NbdUri::parse(uri)?;
            let d = ulvm_nbd::RemoteDevice::open(u, std::time::Duration::from_secs(300)).map_err(|e| e.to_string())?;
            Ok(Arc::new(d) as ulvm_blockdev::DeviceRef)
        }));
        let registry = Arc::new(Registry::new(RegistryConfig {
            merge_batch: cfg.merge_batch,
            remote: Some(remote),
            snapshot_space_wait: if autoextend { AUTOEXTEND_WAIT } else { std::time::Duration::ZERO },
            mirror_resync_percent: cfg.mirror_resync_percent,
            ..RegistryConfig::default()
        }));
        let fuse = match &cfg.fuse_dir {
            Some(dir) => Some(
                fuse::FuseExport::mount_with(dir, registry.clone(), fuse::FuseOptions { io_uring: cfg.fuse_io_uring })
                    .map_err(io(format!("mounting FUSE on {}", dir.display())))?,
            ),
            None => None,
        };
        let loops = match (&cfg.fuse_dir, cfg.attach_loop) {
            (Some(dir), true) => Some(Arc::new(loops::LoopManager::new(dir, registry.clone()))),
            (None, true) => {
                return Err(DaemonError::Io {
                    what: "--attach-loop".into(),
                    source: std::io::Error::other("needs --fuse-dir"),
                })
            }
            _ => None,
        };
        let vhost =
            Arc::new(vhost::VhostExports::new(registry.clone(), cfg.vhost_user_dir.clone(), cfg.socket_mode).map_err(
                io(format!(
                    "creating --vhost-user-dir {}",
                    cfg.vhost_user_dir.as_deref().unwrap_or(Path::new("")).display()
                )),
            )?);
        let fenced = registry.clone();
        let leases = Arc::new(leases::Leases::new(
            Arc::new(move |ls: &str| handler::fence(&fenced, ls)),
            Some(cfg.run_dir.clone()),
        ));
        let ctx_with = |jobs: Option<Arc<jobs::JobRunner>>, lock_fs: bool| {
            Arc::new(handler::Ctx {
                reg: registry.clone(),
                loops: loops.clone(),
                jobs,
                freezes: freezes.clone(),
                lock_fs,
                vhost: Some(vhost.clone()),
                leases: leases.clone(),
            })
        };
        let host_ctx = ctx_with(None, true);
        let jobs = Arc::new(jobs::JobRunner::new(host_ctx.clone()));
        let ctx = ctx_with(Some(jobs.clone()), true);
        // Boot-time activation, before the sockets answer: a client never
        // sees it half done.
        if let (true, Some(sd)) = (cfg.autoactivate, &sd) {
            boot::autoactivate_all(host_ctx.clone(), sd, &jobs);
        }
        let control = control::ControlServer::start(&paths::control_socket(&cfg.run_dir), cfg.socket_mode, ctx)
            .map_err(io("starting the control socket"))?;
        let exports = Arc::new(exports::RegistryExports(registry.clone()));
        let mut nbd = vec![NbdServer::unix(&paths::nbd_socket(&cfg.run_dir), cfg.socket_mode, exports.clone())
            .map_err(io("starting the NBD socket"))?];
        if let Some(addr) = &cfg.nbd_listen {
            nbd.push(NbdServer::tcp(addr, exports).map_err(io(format!("listening on {addr}")))?);
        }
        let monitor = sd.map(|sd| {
            info!(system_dir = %sd.root().display(), autoextend, "daemon: watching LVM snapshots and mirrors");
            autoextend::Monitor::start(ctx_with(None, false), sd)
        });
        info!(run_dir = %cfg.run_dir.display(), "daemon: ready");
        Ok(Daemon {
            registry,
            run_dir: cfg.run_dir.clone(),
            control,
            nbd,
            fuse,
            vhost,
            loops,
            monitor,
            jobs,
            freezes,
            lock: Some(lock),
        })
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Clean shutdown: no new control requests or NBD connections; NBD
    /// requests already read are answered; every device is suspended
    /// (in-flight I/O drains, merges stop at a committed step) and flushed;
    /// sockets and the lock file go.
    pub fn shutdown(mut self) {
        if let Some(mut m) = self.monitor.take() {
            m.stop();
        }
        self.control.shutdown();
        self.jobs.stop_all();
        for s in &mut self.nbd {
            s.shutdown();
        }
        self.vhost.shutdown();
        // Nothing stays frozen: thawed before the devices go.
        self.freezes.thaw_all();
        if let Some(l) = &self.loops {
            l.detach_all();
        }
        if let Some(mut f) = self.fuse.take() {
            f.unmount();
        }
        for (name, _) in self.registry.list() {
            if let Ok(dev) = self.registry.device(&name) {
                dev.suspend();
                // Suspended devices take no I/O: flush their targets directly.
                for e in dev.live_table().iter().flat_map(|t| t.entries.iter()) {
                    let _ = e.target.flush();
                }
            }
        }
        let _ = std::fs::remove_file(self.run_dir.join(paths::LOCK_FILE));
        drop(self.lock.take());
        info!("daemon: stopped");
    }
}

/// `daemon.lock` with an exclusive `flock`: the kernel releases it when
/// the process dies, so a crashed daemon never blocks a new one.
fn take_lock(run_dir: &Path) -> Result<File, DaemonError> {
    let path = run_dir.join(paths::LOCK_FILE);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    // SAFETY: flock only takes the fd, valid while `f` lives.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let pid = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
        return Err(DaemonError::AlreadyRunning(run_dir.to_path_buf(), pid));
    }
    f.set_len(0).map_err(io("truncating the lock file"))?;
    write!(f, "{}", std::process::id()).map_err(io("writing the lock file"))?;
    Ok(f)
}
