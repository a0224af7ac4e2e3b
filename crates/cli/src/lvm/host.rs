//! The daemon as the LVM layer's device host.

use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::proto::{Reply, Request, Response};
use ulvm_dm::TargetStatus;
use ulvm_lvm::activate::{DevState, DmDevice, DmHost};

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

    /// Every device's state, by dm name, in one request.
    pub fn states(&mut self) -> Result<HashMap<String, DevState>, String> {
        match self.call(Request::Info { name: None })? {
            Reply::Info { devices } => Ok(devices
                .into_iter()
                .map(|i| {
                    let st =
                        DevState { open_count: i.open_count, suspended: i.suspended, major: i.major, minor: i.minor };
                    (i.name, st)
                })
                .collect()),
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    fn call(&mut self, req: Request) -> Result<Reply, String> {
        match self.client.call(&req) {
            Ok(Response::Ok(r)) => Ok(r),
            Ok(Response::Error(e)) => Err(e),
            Err(e) => Err(format!("talking to the daemon at {}: {e}", self.socket.display())),
        }
    }
}

impl DmHost for Host {
    fn state(&mut self, name: &str) -> Result<Option<DevState>, String> {
        match self.call(Request::Info { name: Some(name.to_string()) }) {
            Ok(Reply::Info { devices }) => Ok(devices.first().map(|i| DevState {
                open_count: i.open_count,
                suspended: i.suspended,
                major: i.major,
                minor: i.minor,
            })),
            Ok(other) => Err(format!("unexpected reply {other:?}")),
            Err(e) if e.ends_with("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create(&mut self, d: &DmDevice) -> Result<(), String> {
        self.call(Request::Create {
            name: d.name.clone(),
            uuid: Some(d.uuid.clone()),
            table: Some(d.table.clone()),
            read_only: d.read_only,
        })
        .map(|_| ())
    }

    fn load(&mut self, name: &str, table: &str, read_only: bool) -> Result<(), String> {
        self.call(Request::Load { name: name.into(), table: table.into(), read_only }).map(|_| ())
    }

    fn suspend(&mut self, name: &str) -> Result<(), String> {
        self.call(Request::Suspend { name: name.into() }).map(|_| ())
    }

    fn resume(&mut self, name: &str) -> Result<(), String> {
        self.call(Request::Resume { name: name.into() }).map(|_| ())
    }

    fn remove(&mut self, name: &str) -> Result<(), String> {
        self.call(Request::Remove { name: name.into(), force: false }).map(|_| ())
    }

    fn rename(&mut self, name: &str, new_name: &str) -> Result<(), String> {
        self.call(Request::Rename { name: name.into(), new_name: new_name.into() }).map(|_| ())
    }

    fn status(&mut self, name: &str) -> Result<TargetStatus, String> {
        match self.call(Request::Status { name: Some(name.into()) })? {
            Reply::Lines { devices } => {
                let line = devices
                    .first()
                    .and_then(|d| d.lines.first())
                    .ok_or_else(|| format!("device {name} has no live table"))?;
                TargetStatus::parse(&line.target_type, &line.params).map_err(|e| format!("{name}: {e}"))
            }
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    fn table(&mut self, name: &str) -> Result<(String, String), String> {
        match self.call(Request::Table { name: Some(name.into()), inactive: false })? {
            Reply::Lines { devices } => Ok(devices
                .first()
                .and_then(|d| d.lines.first())
                .map(|l| (l.target_type.clone(), l.params.clone()))
                .unwrap_or_default()),
            other => Err(format!("unexpected reply {other:?}")),
        }
    }
}
