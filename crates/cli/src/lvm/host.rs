//! The daemon as the LVM layer's device host: control requests over its
//! socket, answered as `ulvm_daemon::lvm_host::ProtocolHost` turns them
//! into `DmHost` operations.

use anyhow::{anyhow, Result};
use std::path::{Path, PathBuf};
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::lvm_host::{host_error, ProtocolHost, Requests};
use ulvm_daemon::proto::{Reply, Request, Response};
use ulvm_lvm::{HostError, HostErrorKind};

/// The control socket, as an answerer of requests.
pub struct Socket {
    client: ControlClient,
    path: PathBuf,
}

impl Requests for Socket {
    fn request(&mut self, req: Request) -> Result<Reply, HostError> {
        match self.client.call(&req) {
            Ok(Response::Ok(r)) => Ok(r),
            Ok(Response::Error(e)) => Err(host_error(e)),
            Err(e) => Err(HostError::new(
                HostErrorKind::Unreachable,
                format!("talking to the daemon at {}: {e}", self.path.display()),
            )),
        }
    }
}

/// The daemon as a device host.
pub type Host = ProtocolHost<Socket>;

/// Connects to the daemon of `run_dir` (or the default run directory).
pub fn connect(run_dir: Option<&Path>) -> Result<Host> {
    let dir = ulvm_daemon::paths::run_dir(run_dir);
    let path = ulvm_daemon::paths::control_socket(&dir);
    let client = ControlClient::connect(&path)
        .map_err(|e| anyhow!("Cannot reach the ulvm daemon at {}: {e} (is 'ulvm daemon' running?)", path.display()))?;
    Ok(ProtocolHost(Socket { client, path }))
}
