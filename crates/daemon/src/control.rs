//! The control socket: a thread per client, one JSON request per line.

use crate::handler::{handle, Ctx};
use crate::proto::{ErrorKind, ErrorReply, Request, Response};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{debug, info, warn};
use ulvm_dm::target::TargetError;
use ulvm_dm::DmError;

pub struct ControlServer {
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl ControlServer {
    pub fn start(path: &Path, mode: u32, ctx: Arc<Ctx>) -> std::io::Result<ControlServer> {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        l.set_nonblocking(true)?;
        info!(socket = %path.display(), "control: listening");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = std::thread::Builder::new().name("control-accept".into()).spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        let ctx = ctx.clone();
                        std::thread::spawn(move || client(s, &ctx));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(e) => {
                        warn!("control: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
        Ok(ControlServer { stop, accept: Some(accept), path: path.to_path_buf() })
    }

    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A registry refusal as the protocol carries it.
pub fn error_reply(e: &DmError) -> ErrorReply {
    let kind = match e {
        DmError::NotFound(_) => ErrorKind::NotFound,
        DmError::Exists(_) => ErrorKind::Exists,
        DmError::Busy(..) => ErrorKind::Busy,
        DmError::Table(_) | DmError::Invalid(_) => ErrorKind::Invalid,
        DmError::Device(_) | DmError::Target { source: TargetError::Io { .. }, .. } => ErrorKind::Io,
        DmError::Target { .. } => ErrorKind::Invalid,
    };
    ErrorReply::new(kind, e.to_string())
}

fn client(s: UnixStream, ctx: &Ctx) {
    let _ = s.set_nonblocking(false);
    let Ok(mut w) = s.try_clone() else { return };
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { return };
        if line.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::Error(ErrorReply::new(ErrorKind::Malformed, format!("malformed request: {e}"))),
            Ok(req) => {
                debug!(?req, "control");
                match handle(ctx, req) {
                    Ok(r) => Response::Ok(r),
                    Err(e) => Response::Error(error_reply(&e)),
                }
            }
        };
        let mut out = serde_json::to_string(&resp).unwrap_or_else(|e| {
            format!("{{\"error\":{{\"kind\":\"invalid\",\"message\":\"cannot encode the reply: {e}\"}}}}")
        });
        out.push('\n');
        if w.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// A control-socket client: one request, one response.
pub struct ControlClient {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
}

impl ControlClient {
    pub fn connect(socket: &Path) -> std::io::Result<ControlClient> {
        let s = UnixStream::connect(socket)?;
        Ok(ControlClient { rd: BufReader::new(s.try_clone()?), wr: s })
    }

    pub fn call(&mut self, req: &Request) -> std::io::Result<Response> {
        let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
        line.push('\n');
        self.wr.write_all(line.as_bytes())?;
        let mut resp = String::new();
        if self.rd.read_line(&mut resp)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the daemon closed the connection"));
        }
        serde_json::from_str(&resp).map_err(std::io::Error::other)
    }
}
