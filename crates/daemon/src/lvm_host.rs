//! The daemon as the LVM layer's device host, in-process: the same
//! requests the control socket takes ([`handler::handle`]), so loop
//! devices follow, without a socket or JSON in between. The daemon's
//! background jobs and snapshot autoextend run LVM operations over it.

use crate::handler::{self, Ctx};
use crate::proto::{Reply, Request};
use std::collections::HashMap;
use std::sync::Arc;
use ulvm_dm::{DmError, Table, TargetStatus};
use ulvm_lvm::activate::{DevState, DmDevice, DmHost};
use ulvm_lvm::{HostError, HostErrorKind};

pub struct RegistryHost {
    ctx: Arc<Ctx>,
}

impl RegistryHost {
    pub fn new(ctx: Arc<Ctx>) -> RegistryHost {
        RegistryHost { ctx }
    }

    fn call(&self, req: Request) -> Result<Reply, HostError> {
        handler::handle(&self.ctx, req).map_err(|e| {
            let kind = match e {
                DmError::NotFound(_) => HostErrorKind::NotFound,
                DmError::Exists(_) => HostErrorKind::Exists,
                DmError::Busy(..) => HostErrorKind::Busy,
                DmError::Table(_) | DmError::Invalid(_) => HostErrorKind::Invalid,
                DmError::Device(_) => HostErrorKind::Io,
            };
            HostError::new(kind, e.to_string())
        })
    }
}

fn unexpected(r: Reply) -> HostError {
    HostError::new(HostErrorKind::Invalid, format!("unexpected reply {r:?}"))
}

impl DmHost for RegistryHost {
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

    /// Typed, straight from the registry: no text in between.
    fn status(&mut self, name: &str) -> Result<TargetStatus, HostError> {
        let lines = self.ctx.reg.status(name).map_err(|e| HostError::new(HostErrorKind::NotFound, e.to_string()))?;
        lines
            .into_iter()
            .next()
            .map(|l| l.status)
            .ok_or_else(|| HostError::new(HostErrorKind::Invalid, format!("device {name} has no live table")))
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
