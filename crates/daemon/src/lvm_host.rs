//! The LVM layer's device host over the control protocol: one
//! [`DmHost`] ([`ProtocolHost`]) that turns each operation into a
//! [`Request`], whoever answers it. The command line answers through the
//! control socket; the daemon's own jobs and snapshot autoextend answer
//! in-process ([`InProcess`]: the same request handler the socket uses, so
//! loop devices follow, without a socket or JSON in between).

use crate::control::error_reply;
use crate::handler::{self, Ctx};
use crate::proto::{ErrorKind, ErrorReply, Reply, Request};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ulvm_dm::{Table, TargetStatus};
use ulvm_lvm::activate::{DevState, DmDevice, DmHost, LeaseOp, LockFs};
use ulvm_lvm::ops::{Answer, Connect, Report, Session};
use ulvm_lvm::system::SystemDir;
use ulvm_lvm::{HostError, HostErrorKind};

/// Something that answers control requests.
pub trait Requests: Send {
    fn request(&mut self, req: Request) -> Result<Reply, HostError>;
}

/// A protocol refusal as the LVM layer sees it.
pub fn host_error(e: ErrorReply) -> HostError {
    let kind = match e.kind {
        ErrorKind::NotFound => HostErrorKind::NotFound,
        ErrorKind::Exists => HostErrorKind::Exists,
        ErrorKind::Busy => HostErrorKind::Busy,
        ErrorKind::Invalid | ErrorKind::Malformed => HostErrorKind::Invalid,
        ErrorKind::Io => HostErrorKind::Io,
    };
    HostError::new(kind, e.message)
}

/// Requests answered by the daemon's handler, in-process.
pub struct InProcess(pub Arc<Ctx>);

impl Requests for InProcess {
    fn request(&mut self, req: Request) -> Result<Reply, HostError> {
        handler::handle(&self.0, req).map_err(|e| host_error(error_reply(&e)))
    }
}

/// A [`DmHost`] over control requests.
pub struct ProtocolHost<R>(pub R);

/// The daemon's registry as a device host.
pub type RegistryHost = ProtocolHost<InProcess>;

impl ProtocolHost<InProcess> {
    pub fn new(ctx: Arc<Ctx>) -> RegistryHost {
        ProtocolHost(InProcess(ctx))
    }
}

impl<R: Requests> ProtocolHost<R> {
    /// Asks the daemon to poll an LV's background job (`lvconvert
    /// --startpoll`, as LVM asks lvmpolld) and to finish it in the
    /// metadata of `sd` when it is done.
    pub fn poll(&mut self, sd: &Path, devices: Option<&[PathBuf]>, vg: &str, lv: &str) -> Result<(), HostError> {
        self.0
            .request(Request::Poll {
                system_dir: sd.display().to_string(),
                devices: devices.map(|d| d.iter().map(|p| p.display().to_string()).collect()),
                vg: vg.into(),
                lv: lv.into(),
            })
            .map(|_| ())
    }

    fn done(&mut self, req: Request) -> Result<(), HostError> {
        self.0.request(req).map(|_| ())
    }

    /// The first line of `name`'s table or status reply.
    fn first_line(&mut self, req: Request, name: &str) -> Result<crate::proto::Line, HostError> {
        match self.0.request(req)? {
            Reply::Lines { devices } => devices
                .into_iter()
                .next()
                .and_then(|d| d.lines.into_iter().next())
                .ok_or_else(|| HostError::new(HostErrorKind::Invalid, format!("device {name} has no live table"))),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(r: Reply) -> HostError {
    HostError::new(HostErrorKind::Unreachable, format!("unexpected reply {r:?}"))
}

fn dev_state(i: &crate::proto::Info) -> DevState {
    DevState { open_count: i.open_count, suspended: i.suspended, major: i.major, minor: i.minor }
}

impl<R: Requests> DmHost for ProtocolHost<R> {
    fn states(&mut self) -> Result<HashMap<String, DevState>, HostError> {
        match self.0.request(Request::Info { name: None })? {
            Reply::Info { devices } => Ok(devices.iter().map(|i| (i.name.clone(), dev_state(i))).collect()),
            other => Err(unexpected(other)),
        }
    }

    fn state(&mut self, name: &str) -> Result<Option<DevState>, HostError> {
        match self.0.request(Request::Info { name: Some(name.to_string()) }) {
            Ok(Reply::Info { devices }) => Ok(devices.first().map(dev_state)),
            Ok(other) => Err(unexpected(other)),
            Err(e) if e.kind == HostErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn create(&mut self, d: &DmDevice) -> Result<(), HostError> {
        self.done(Request::Create {
            name: d.name.clone(),
            uuid: Some(d.uuid.clone()),
            table: Some(d.table.to_string()),
            read_only: d.read_only,
            direct_io: d.direct_io,
        })
    }

    fn load(&mut self, name: &str, table: &Table, read_only: bool) -> Result<(), HostError> {
        self.done(Request::Load { name: name.into(), table: table.to_string(), read_only })
    }

    fn suspend(&mut self, name: &str, lock_fs: LockFs) -> Result<(), HostError> {
        self.done(Request::Suspend { name: name.into(), nolockfs: lock_fs == LockFs::Skip })
    }

    fn resume(&mut self, name: &str) -> Result<(), HostError> {
        self.done(Request::Resume { name: name.into() })
    }

    fn remove(&mut self, name: &str) -> Result<(), HostError> {
        self.done(Request::Remove { name: name.into(), force: false })
    }

    fn rename(&mut self, name: &str, new_name: &str) -> Result<(), HostError> {
        self.done(Request::Rename { name: name.into(), new_name: new_name.into() })
    }

    fn raid_message(&mut self, name: &str, message: ulvm_lvm::activate::RaidMessage) -> Result<(), HostError> {
        let word = ulvm_lvm::activate::raid_message_word(message).to_string();
        self.done(Request::Message { name: name.into(), sector: 0, args: vec![word] })
    }

    fn lease(&mut self, lease: &ulvm_lvm::activate::Lease, op: LeaseOp) -> Result<(), HostError> {
        let mode = match op {
            LeaseOp::Exclusive => ulvm_sanlock::Mode::Exclusive,
            LeaseOp::Shared => ulvm_sanlock::Mode::Shared,
            LeaseOp::Release => ulvm_sanlock::Mode::Exclusive,
        };
        let mut info = crate::handler::lease_info(lease, mode);
        if op == LeaseOp::Release {
            info.mode = crate::proto::LeaseMode::Un;
        }
        self.done(Request::Lease { lease: info })
    }

    /// The status travels as the kernel's text and is parsed here, once.
    fn status(&mut self, name: &str) -> Result<TargetStatus, HostError> {
        let line = self.first_line(Request::Status { name: Some(name.into()) }, name)?;
        TargetStatus::parse(&line.target_type, &line.params)
            .map_err(|e| HostError::new(HostErrorKind::Unreachable, format!("{name}: {e}")))
    }

    fn status_lines(&mut self, name: &str) -> Result<Vec<ulvm_dm::StatusLine>, HostError> {
        match self.0.request(Request::Status { name: Some(name.into()) })? {
            Reply::Lines { devices } => devices
                .into_iter()
                .next()
                .map(|d| d.lines)
                .unwrap_or_default()
                .into_iter()
                .map(|l| {
                    Ok(ulvm_dm::StatusLine {
                        start: ulvm_blockdev::Sectors(l.start),
                        len: ulvm_blockdev::Sectors(l.length),
                        status: TargetStatus::parse(&l.target_type, &l.params)
                            .map_err(|e| HostError::new(HostErrorKind::Unreachable, format!("{name}: {e}")))?,
                    })
                })
                .collect(),
            other => Err(unexpected(other)),
        }
    }
}

/// LVM's messages from the daemon's own operations go to its log, with
/// what produced them in front (`job`, `autoextend`).
struct Log(&'static str);

impl Report for Log {
    fn print(&mut self, line: &str) {
        tracing::info!("{}: {line}", self.0);
    }
    fn warn(&mut self, line: &str) {
        tracing::warn!("{}: {line}", self.0);
    }
}

/// A session for an LVM operation the daemon runs itself: its registry as
/// the device host, its log (tagged `source`) as the report, and no to
/// every question (nothing the daemon runs on its own may destroy data).
pub fn daemon_session(
    ctx: Arc<Ctx>,
    sd: SystemDir,
    devices: Option<Vec<PathBuf>>,
    cmdline: String,
    source: &'static str,
) -> Session {
    let connect: Connect = Box::new(move || Ok(Box::new(RegistryHost::new(ctx.clone())) as Box<dyn DmHost + Send>));
    Session::new(sd, devices, cmdline, connect, Box::new(Log(source)), Box::new(Answer(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulvm_dm::Registry;

    /// Issue 16: a planned device's `direct_io` reaches the registry
    /// through the protocol, and a reload keeps it.
    #[test]
    fn test_registry_host_creates_direct_devices_when_asked() {
        let img = PathBuf::from(format!("/var/tmp/ulvm-lvm-host-direct-{}.img", std::process::id()));
        ulvm_blockdev::FileDevice::create(&img, ulvm_blockdev::Sectors(64)).unwrap();
        let reg = Arc::new(Registry::default());
        let ctx = Arc::new(Ctx::bare(reg.clone()));
        let mut host = RegistryHost::new(ctx);
        let table: Table = format!("0 64 linear {} 0", img.display()).parse().unwrap();
        for (name, direct_io) in [("vg0-shared", true), ("vg0-local", false)] {
            let d = DmDevice {
                name: name.into(),
                uuid: format!("LVM-{name}"),
                table: table.clone(),
                read_only: false,
                direct_io,
            };
            host.create(&d).unwrap();
            assert_eq!(reg.device(name).unwrap().direct_io(), direct_io, "{name}");
        }
        host.suspend("vg0-shared", LockFs::Skip).unwrap();
        host.load("vg0-shared", &table, false).unwrap();
        host.resume("vg0-shared").unwrap();
        assert!(reg.device("vg0-shared").unwrap().direct_io());
        reg.remove_all().unwrap();
        std::fs::remove_file(img).unwrap();
    }
}
