//! `lvmlockctl` for ulvm: the daemon's side of shared VGs' locks, as
//! LVM's lvmlockctl is lvmlockd's. `--kill VG` is the kill path sanlock
//! runs when this host cannot renew its lease in the VG's lockspace: the
//! daemon fences the VG (its devices get `error` tables) and lets its
//! leases go. `--drop VG` lets them go only; `--info` lists them.
//! `--gl-enable VG` / `--gl-disable VG` move the global lock (the
//! leases on disk, in the system directory's VGs).

use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::proto::{LeaseMode, Reply, Request, Response};

const USAGE: &str =
    "Usage: lvmlockctl [--run-dir DIR] --info | --kill VG | --drop VG | --gl-enable VG | --gl-disable VG";

pub fn run(args: &[String]) -> Result<i32> {
    let mut run_dir: Option<PathBuf> = None;
    let mut req = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().cloned().ok_or_else(|| anyhow!("{a} needs {what}. {USAGE}"));
        match a.as_str() {
            "--run-dir" => run_dir = Some(PathBuf::from(value("a directory")?)),
            "-k" | "--kill" => req = Some(fence(&value("a VG name")?, false)),
            "-r" | "--drop" => req = Some(fence(&value("a VG name")?, true)),
            "-i" | "--info" => req = Some(Request::Leases),
            "-E" | "--gl-enable" => return gl_able(&value("a VG name")?, true),
            "-D" | "--gl-disable" => return gl_able(&value("a VG name")?, false),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(0);
            }
            other => bail!("unknown option {other}. {USAGE}"),
        }
    }
    let Some(req) = req else { bail!("{USAGE}") };
    let dir = ulvm_daemon::paths::run_dir(run_dir.as_deref());
    let path = ulvm_daemon::paths::control_socket(&dir);
    let mut c = ControlClient::connect(&path)
        .map_err(|e| anyhow!("Cannot reach the ulvm daemon at {}: {e}", path.display()))?;
    match c.call(&req)? {
        Response::Error(e) => bail!("{}", e.message),
        Response::Ok(Reply::Leases { leases }) => {
            for l in leases {
                let mode = match l.mode {
                    LeaseMode::Ex => "ex",
                    LeaseMode::Sh => "sh",
                    LeaseMode::Un => "un",
                };
                println!("{}:{}:{}:{} {mode}", l.lockspace, l.name, l.path, l.offset);
            }
            Ok(0)
        }
        Response::Ok(_) => Ok(0),
    }
}

fn fence(vg: &str, drop_only: bool) -> Request {
    Request::Fence { lockspace: ulvm_lvm::lockd::lockspace(vg), drop_only }
}

/// `--gl-enable` / `--gl-disable`: written to the VG's lock LV, through
/// sanlock (no daemon needed).
fn gl_able(vg: &str, enable: bool) -> Result<i32> {
    use ulvm_lvm::ops::{Answer, Collect, Session};
    let sd = ulvm_lvm::system::SystemDir::locate(None);
    let none: ulvm_lvm::ops::Connect =
        Box::new(|| Err(ulvm_lvm::HostError::new(ulvm_lvm::HostErrorKind::Unreachable, "no device host needed")));
    let cmd = format!("lvmlockctl --gl-{} {vg}", if enable { "enable" } else { "disable" });
    let mut s = Session::new(sd, None, cmd, none, Box::new(Collect::default()), Box::new(Answer(false)));
    ulvm_lvm::ops::lockd::gl_able(&mut s, vg, enable)?;
    Ok(0)
}
