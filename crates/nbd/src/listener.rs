//! Accepting connections on unix and TCP sockets, a thread per connection,
//! and shutting everything down.

use crate::server::{serve_connection, Exports};
use crate::stream::Stream;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{info, warn};

enum Socket {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

/// Open connections: a handle to end each, and its thread.
type Conns = Arc<Mutex<Vec<(Stream, JoinHandle<()>)>>>;

/// A running NBD server on one socket.
pub struct NbdServer {
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Conns,
    path: Option<PathBuf>,
    addr: Option<SocketAddr>,
}

impl NbdServer {
    /// Serves `exports` on a unix socket at `path` (mode `mode`), replacing
    /// a stale socket file.
    pub fn unix(path: &Path, mode: u32, exports: Arc<dyn Exports>) -> io::Result<NbdServer> {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        info!(socket = %path.display(), "nbd: listening");
        Self::start(Socket::Unix(l, path.to_path_buf()), exports)
    }

    /// Serves `exports` on TCP. There is no authentication: loopback or a
    /// trusted network only.
    pub fn tcp(addr: &str, exports: Arc<dyn Exports>) -> io::Result<NbdServer> {
        let l = TcpListener::bind(addr)?;
        info!(addr = %l.local_addr()?, "nbd: listening on TCP (no authentication)");
        Self::start(Socket::Tcp(l), exports)
    }

    fn start(sock: Socket, exports: Arc<dyn Exports>) -> io::Result<NbdServer> {
        let (path, addr) = match &sock {
            Socket::Unix(l, p) => {
                l.set_nonblocking(true)?;
                (Some(p.clone()), None)
            }
            Socket::Tcp(l) => {
                l.set_nonblocking(true)?;
                (None, Some(l.local_addr()?))
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Conns = Arc::default();
        let (stop2, conns2) = (stop.clone(), conns.clone());
        let accept = std::thread::Builder::new().name("nbd-accept".into()).spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let accepted = match &sock {
                    Socket::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
                    Socket::Tcp(l) => l.accept().map(|(s, _)| {
                        let _ = s.set_nodelay(true);
                        Stream::Tcp(s)
                    }),
                };
                match accepted {
                    Ok(stream) => {
                        let _ = match &stream {
                            Stream::Unix(s) => s.set_nonblocking(false),
                            Stream::Tcp(s) => s.set_nonblocking(false),
                        };
                        let Ok(handle_side) = stream.try_clone() else { continue };
                        let exports = exports.clone();
                        let t = std::thread::spawn(move || {
                            if let Err(e) = serve_connection(stream, &*exports) {
                                warn!("nbd: connection ended: {e}");
                            }
                        });
                        let mut c = conns2.lock().unwrap_or_else(|e| e.into_inner());
                        c.retain(|(_, h)| !h.is_finished());
                        c.push((handle_side, t));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => {
                        warn!("nbd: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
        Ok(NbdServer { stop, accept: Some(accept), conns, path, addr })
    }

    /// The TCP address served (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Stops accepting, ends every connection (requests already read are
    /// served and answered first) and removes the socket file.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for (s, _) in &conns {
            s.shutdown_read();
        }
        for (_, h) in conns {
            let _ = h.join();
        }
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
