//! The daemon as the LVM layer's device host.

use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::proto::{ErrorKind, ErrorReply, Reply, Request, Response};
use ulvm_dm::{Table, TargetStatus};
use ulvm_lvm::activate::{DevState, DmDevice, DmHost};
use ulvm_lvm::{HostError, HostErrorKind};

pub struct Host {
    client: ControlClient,
    socket: PathBuf,
}

impl Host {
    pub fn connect(run_dir: Option<&Path>) -> Result<Host> {
        let dir = ulvm_daemon::paths::run_dir(run_dir);
        let socket = ulvm_daemon::paths::control_socket(&dir);
        let client = ControlClient::connect(&socket).map_err(|e| {
            anyhow!("Cannot reach the ulvm daemon at {}: {e} (is 'ulvm daemon' running?)", socket.display())
        })?;
        Ok(Host { client, socket })
    }

    /// Asks the daemon to poll an LV's background job (`lvconvert
    /// --startpoll`, as LVM asks lvmpolld) and to finish it in the
    /// metadata of `sd` when it is done.
    pub fn poll(&mut self, sd: &Path, devices: Option<&[PathBuf]>, vg: &str, lv: &str) -> Result<(), HostError> {
        self.call(Request::Poll {
            system_dir: sd.display().to_string(),
            devices: devices.map(|d| d.iter().map(|p| p.display().to_string()).collect()),
            vg: vg.into(),
            lv: lv.into(),
        })
        .map(|_| ())
    }

    fn call(&mut self, req: Request) -> Result<Reply, HostError> {
        match self.client.call(&req) {
            Ok(Response::Ok(r)) => Ok(r),
            Ok(Response::Error(ErrorReply { kind, message })) => {
                let kind = match kind {
                    ErrorKind::NotFound => HostErrorKind::NotFound,
                    ErrorKind::Exists => HostErrorKind::Exists,
                    ErrorKind::Busy => HostErrorKind::Busy,
                    ErrorKind::Invalid | ErrorKind::Malformed => HostErrorKind::Invalid,
                    ErrorKind::Io => HostErrorKind::Io,
                };
                Err(HostError::new(kind, message))
            }
            Err(e) => Err(HostError::new(
                HostErrorKind::Unreachable,
                format!("talking to the daemon at {}: {e}", self.socket.display()),
            )),
        }
    }
}

fn unexpected(r: Reply) -> HostError {
    HostError::new(HostErrorKind::Unreachable, format!("unexpected reply {r:?}"))
}

impl DmHost for Host {
    fn states(&mut self) -> Result<HashMap<String, DevState>, HostError> {
        match self.call(Request::Info { name: None })? {
            Reply::Info { devices } => Ok(devices
                .into_iter()
                .map(|i| {
                    let st =
                        DevState { open_count: i.open_count, suspended: i.suspended, major: i.major, minor: i.minor };
                    (i.name, st)
                })
                .collect()),
            other => Err(unexpected(other)),
        }
    }

    fn state(&mut self, name: &str) -> Result<Option<DevState>, HostError> {
        match self.call(Request::Info { name: Some(name.to_string()) }) {
            Ok(Reply::Info { devices }) => Ok(devices.first().map(|i| DevState {
                open_count: i.open_count,
                suspended: i.suspended,
                major: i.major,
                minor: i.minor,
            })),
            Ok(other) => Err(unexpected(other)),
            Err(e) if e.kind == HostErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create(&mut self, d: &DmDevice) -> Result<(), HostError> {
        self.call(Request::Create {
            name: d.name.clone(),
            uuid: Some(d.uuid.clone()),
            table: Some(d.table.to_string()),
            read_only: d.read_only,
        })
        .map(|_| ())
    }

    fn load(&mut self, name: &str, table: &Table, read_only: bool) -> Result<(), HostError> {
        self.call(Request::Load { name: name.into(), table: table.to_string(), read_only }).map(|_| ())
    }

    fn suspend(&mut self, name: &str) -> Result<(), HostError> {
        self.call(Request::Suspend { name: name.into() }).map(|_| ())
    }

    fn resume(&mut self, name: &str) -> Result<(), HostError> {
        self.call(Request::Resume { name: name.into() }).map(|_| ())
    }

    fn remove(&mut self, name: &str) -> Result<(), HostError> {
        self.call(Request::Remove { name: name.into(), force: false }).map(|_| ())
    }

    fn rename(&mut self, name: &str, new_name: &str) -> Result<(), HostError> {
        self.call(Request::Rename { name: name.into(), new_name: new_name.into() }).map(|_| ())
    }

    fn status(&mut self, name: &str) -> Result<TargetStatus, HostError> {
        match self.call(Request::Status { name: Some(name.into()) })? {
            Reply::Lines { devices } => {
                let line = devices.first().and_then(|d| d.lines.first()).ok_or_else(|| {
                    HostError::new(HostErrorKind::Invalid, format!("device {name} has no live table"))
                })?;
                TargetStatus::parse(&line.target_type, &line.params)
                    .map_err(|e| HostError::new(HostErrorKind::Unreachable, format!("{name}: {e}")))
            }
            other => Err(unexpected(other)),
        }
    }

    fn table(&mut self, name: &str) -> Result<(String, String), HostError> {
        match self.call(Request::Table { name: Some(name.into()), inactive: false })? {
            Reply::Lines { devices } => Ok(devices
                .first()
                .and_then(|d| d.lines.first())
                .map(|l| (l.target_type.clone(), l.params.clone()))
                .unwrap_or_default()),
            other => Err(unexpected(other)),
        }
    }
}
