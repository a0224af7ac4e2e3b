//! One vhost-user-blk socket: a thread that accepts one frontend at a
//! time, serves it until it goes, and listens again.
//!
//! A connection opens its export when it is accepted ([`Exports::open`],
//! whose `hold` counts as an open of the device) and gives it back when
//! it ends: the frontend closed its socket, or [`VhostServer::shutdown`]
//! cut it. The queue threads are joined before the hold is dropped, so
//! once the open count falls no request of that frontend is still running.

use crate::backend::{BlkBackend, BlkOptions, Mem};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tracing::{info, warn};
use ulvm_blockdev::DeviceRef;
use vhost::vhost_user::Listener;
use vhost_user_backend::{ShutdownHandle, VhostUserDaemon};
use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};

/// A device opened for one frontend.
pub struct Export {
    /// The device served.
    pub dev: DeviceRef,
    /// Offered with `VIRTIO_BLK_F_RO`; writes, discards and write-zeroes
    /// fail with `VIRTIO_BLK_S_IOERR`.
    pub read_only: bool,
    /// The `GET_ID` serial (cut to 20 bytes).
    pub serial: String,
    /// Held while the frontend is connected (counts as an open of the
    /// device).
    pub hold: Option<Box<dyn Send + Sync>>,
}

/// What a socket serves.
pub trait Exports: Send + Sync {
    /// Opens the export `name` for a new frontend; `None` when it cannot be
    /// served now (the frontend is turned away).
    fn open(&self, name: &str) -> Option<Export>;
}

/// The state a [`VhostServer`] shares with its thread.
struct Shared {
    stop: AtomicBool,
    /// The live connection, to cut it on shutdown.
    conn: Mutex<Option<ShutdownHandle>>,
    connected: AtomicBool,
}

/// A listening vhost-user-blk socket for one export.
pub struct VhostServer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl VhostServer {
    /// Binds `path` (replacing a stale socket), sets its mode and serves
    /// export `name` of `exports` to one frontend at a time.
    pub fn start(
        path: &Path,
        mode: u32,
        name: &str,
        exports: Arc<dyn Exports>,
        opts: BlkOptions,
    ) -> io::Result<VhostServer> {
        if path.exists() {
            let ft = std::fs::symlink_metadata(path)?.file_type();
            use std::os::unix::fs::FileTypeExt;
            if !ft.is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let l = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        l.set_nonblocking(true)?;
        info!(socket = %path.display(), export = name, "vhost-user-blk: listening");
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            conn: Mutex::new(None),
            connected: AtomicBool::new(false),
        });
        let sh = shared.clone();
        let name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("vhost-{name}"))
            .spawn(move || accept_loop(Listener::from(l), &name, &*exports, &opts, &sh))?;
        Ok(VhostServer { shared, thread: Some(thread), path: path.to_path_buf() })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the socket is now, after the caller renamed it; shutdown
    /// removes this path.
    pub fn set_path(&mut self, path: &Path) {
        self.path = path.to_path_buf();
    }

    /// Whether a frontend is connected now.
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }

    /// Stops listening, cuts the frontend (its queue threads finish their
    /// current request) and removes the socket.
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(c) = self.shared.conn.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            c.shutdown();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for VhostServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits up to 100 ms for `fd` to become readable.
fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    let r = unsafe { libc::poll(&mut p, 1, 100) };
    r > 0 && p.revents & libc::POLLIN != 0
}

fn accept_loop(mut listener: Listener, name: &str, exports: &dyn Exports, opts: &BlkOptions, sh: &Shared) {
    while !sh.stop.load(Ordering::SeqCst) {
        if !readable(listener.as_raw_fd()) {
            continue;
        }
        let Some(export) = exports.open(name) else {
            // Turn the frontend away: accept and close.
            warn!(export = name, "vhost-user-blk: a frontend connected but the export cannot be opened");
            let _ = listener.accept();
            continue;
        };
        if let Err(e) = serve_one(&mut listener, name, export, opts, sh) {
            warn!(export = name, "vhost-user-blk: connection ended: {e}");
        }
    }
}

/// Serves the frontend waiting on `listener` until it goes.
fn serve_one(listener: &mut Listener, name: &str, export: Export, opts: &BlkOptions, sh: &Shared) -> io::Result<()> {
    let Export { dev, read_only, serial, hold } = export;
    let mem: Mem = GuestMemoryAtomic::new(GuestMemoryMmap::new());
    let backend = Arc::new(BlkBackend::new(dev, read_only, serial, opts.clone(), mem.clone()));
    let mut daemon =
        VhostUserDaemon::new(format!("vhost-{name}"), backend, mem).map_err(|e| io::Error::other(e.to_string()))?;
    sh.connected.store(true, Ordering::SeqCst);
    let r = match daemon.start(listener) {
        Ok(()) => {
            *sh.conn.lock().unwrap_or_else(|p| p.into_inner()) = daemon.shutdown_handle();
            info!(export = name, "vhost-user-blk: frontend connected");
            // Shut down while we connected: cut it now.
            if sh.stop.load(Ordering::SeqCst) {
                daemon.request_shutdown();
            }
            daemon.wait().map_err(|e| io::Error::other(e.to_string()))
        }
        Err(e) => Err(io::Error::other(e.to_string())),
    };
    *sh.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
    // Dropping the daemon ends and joins the queue threads; only then is
    // the device given back.
    drop(daemon);
    drop(hold);
    sh.connected.store(false, Ordering::SeqCst);
    info!(export = name, "vhost-user-blk: frontend gone");
    r
}
