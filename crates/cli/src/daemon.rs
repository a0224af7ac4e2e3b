//! `ulvm daemon`: flags to a `DaemonConfig`, logging, and the wait for a
//! termination signal.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use tracing::info;
use ulvm_daemon::{signals, Daemon, DaemonConfig};

#[derive(Args)]
pub struct DaemonArgs {
    /// Directory for control.sock, nbd.sock and the lock (default:
    /// $ULVM_RUN_DIR, /run/ulvm as root, else $XDG_RUNTIME_DIR/ulvm).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Also serve NBD on this TCP address, e.g. 127.0.0.1:10809. There is
    /// no authentication: loopback or a trusted network only.
    #[arg(long)]
    nbd_listen: Option<String>,
    /// Mode of the sockets (octal).
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    socket_mode: u32,
    /// Mount the FUSE export here: every active device is a file of its size.
    #[arg(long)]
    fuse_dir: Option<PathBuf>,
    /// Serve every active device as a vhost-user-blk socket NAME.sock in
    /// this directory (for qemu's vhost-user-blk-pci, cloud-hypervisor,
    /// libblkio); created if missing. Without it, `ulvm vhost export`
    /// serves single devices.
    #[arg(long)]
    vhost_user_dir: Option<PathBuf>,
    /// Attach a loop device (direct I/O) to every FUSE file and link
    /// /dev/mapper/NAME to it. Needs root and --fuse-dir.
    #[arg(long)]
    attach_loop: bool,
    /// Serve the FUSE export over io_uring if the kernel offers it
    /// (/sys/module/fuse/parameters/enable_uring is Y when the daemon
    /// starts; the daemon never sets it); /dev/fuse otherwise.
    #[arg(long)]
    fuse_io_uring: bool,
    /// Data a snapshot merge moves per step and commit, e.g. 32M.
    #[arg(long, default_value = "32M", value_parser = parse_size)]
    merge_batch: usize,
    /// The LVM system directory (lvm.conf, devices file) whose snapshot
    /// autoextend policy the daemon carries out (default: $ULVM_SYSTEM_DIR,
    /// /etc/ulvm as root, else ~/.config/ulvm).
    #[arg(long)]
    system_dir: Option<PathBuf>,
    /// Run `HOOK freeze NAME` before every suspend that locks the file
    /// system (dmsetup suspend without --nolockfs; LVM on snapshot origins
    /// and snapshots) and `HOOK thaw NAME` after the resume; a failing
    /// freeze fails the suspend. For file systems the host cannot freeze
    /// itself, such as a VM's on a volume used over NBD.
    #[arg(long)]
    freeze_hook: Option<PathBuf>,
    /// The share of the time mirror resync (pvmove's copy) may spend
    /// copying, 1 to 100 percent (the kernel's dm_mirror module parameter
    /// raid1_resync_throttle).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    mirror_resync_throttle: u32,
    /// Do not activate the VGs of the devices file at start (by default
    /// the daemon does what `vgchange -aay` does, as a distribution's LVM
    /// does at boot).
    #[arg(long)]
    no_autoactivate: bool,
    /// Log filter (tracing syntax), e.g. "info" or "ulvm_nbd=debug";
    /// $RUST_LOG also works.
    #[arg(long)]
    log: Option<String>,
    /// Where the log goes: stderr (under systemd, the journal) or syslog
    /// (the daemon facility, through --syslog-socket) for a daemon started
    /// without systemd.
    #[arg(long, value_enum, default_value = "stderr")]
    log_target: LogTarget,
    /// The syslog socket for --log-target syslog.
    #[arg(long, default_value = "/dev/log")]
    syslog_socket: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogTarget {
    Stderr,
    Syslog,
}

/// `N[kKmMgG]` bytes.
fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("'{s}' is not a size"))
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).map_err(|_| format!("'{s}' is not an octal mode"))
}

pub fn run(a: DaemonArgs) -> Result<()> {
    signals::block_termination_signals();
    let filter = a.log.clone().or_else(|| std::env::var("RUST_LOG").ok()).unwrap_or_else(|| "info".into());
    let log = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).with_target(false);
    match a.log_target {
        LogTarget::Stderr => {
            log.with_writer(std::io::stderr).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init()
        }
        // syslog stamps and ranks each message itself.
        LogTarget::Syslog => {
            let syslog = crate::syslog::Syslog::connect(a.syslog_socket.clone())
                .with_context(|| format!("--log-target syslog: {}", a.syslog_socket.display()))?;
            log.with_writer(syslog).with_ansi(false).without_time().with_level(false).init()
        }
    }
    let cfg = DaemonConfig {
        run_dir: ulvm_daemon::paths::run_dir(a.run_dir.as_deref()),
        nbd_listen: a.nbd_listen,
        socket_mode: a.socket_mode,
        merge_batch: a.merge_batch,
        fuse_dir: a.fuse_dir,
        attach_loop: a.attach_loop,
        fuse_io_uring: a.fuse_io_uring,
        system_dir: Some(ulvm_lvm::system::SystemDir::locate(a.system_dir.as_deref()).root().to_path_buf()),
        freeze_hook: a.freeze_hook,
        autoactivate: !a.no_autoactivate,
        mirror_resync_percent: a.mirror_resync_throttle,
        vhost_user_dir: a.vhost_user_dir,
    };
    let daemon = Daemon::start(&cfg)?;
    sd_notify("READY=1");
    let sig = signals::wait_for_termination();
    info!(signal = sig, "daemon: shutting down");
    sd_notify("STOPPING=1");
    daemon.shutdown();
    Ok(())
}

/// systemd's readiness protocol (`Type=notify`, sd_notify(3)): `state` as
/// one datagram to `$NOTIFY_SOCKET`, a path or (`@NAME`) an abstract
/// socket name. Nothing without the variable; a failure is only logged.
fn sd_notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else { return };
    let sent = UnixDatagram::unbound().and_then(|sock| {
        let addr = match target.as_bytes().strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(&target)?,
        };
        sock.send_to_addr(state.as_bytes(), &addr)
    });
    if let Err(e) = sent {
        tracing::warn!("daemon: telling systemd {state} through {}: {e}", target.to_string_lossy());
    }
}
