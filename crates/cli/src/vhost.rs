//! `ulvm vhost`: serve a device to VMs over vhost-user-blk, stop it, list
//! the sockets (control requests `vhost_export`, `vhost_stop`,
//! `vhost_list`).

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::proto::{Reply, Request, Response};

#[derive(Args)]
pub struct VhostArgs {
    /// The daemon's run directory (as for `ulvm daemon`).
    #[arg(long, global = true)]
    run_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: VhostCmd,
}

#[derive(Subcommand)]
enum VhostCmd {
    /// Serve device NAME at a vhost-user-blk socket; prints its path.
    Export {
        name: String,
        /// The socket (default: NAME.sock in the daemon's --vhost-user-dir).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Queues offered, each served by its own thread (default: one
        /// per CPU, up to four).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        queues: Option<u16>,
    },
    /// Stop serving NAME (at one socket, or everywhere); a connected VM
    /// loses the disk.
    Stop {
        name: String,
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// List the sockets: device, path, queues, whether a VM is connected.
    List,
}

fn absolute(p: PathBuf) -> Result<String> {
    let p = if p.is_absolute() { p } else { std::env::current_dir().context("the current directory")?.join(p) };
    Ok(p.to_string_lossy().into_owned())
}

pub fn run(a: VhostArgs) -> Result<()> {
    let dir = ulvm_daemon::paths::run_dir(a.run_dir.as_deref());
    let socket = ulvm_daemon::paths::control_socket(&dir);
    let mut c = ControlClient::connect(&socket).map_err(|e| {
        anyhow!("cannot reach the ulvm daemon at {}: {e} (is 'ulvm daemon' running?)", socket.display())
    })?;
    let req = match a.cmd {
        VhostCmd::Export { name, socket, queues } => {
            Request::VhostExport { name, socket: socket.map(absolute).transpose()?, num_queues: queues }
        }
        VhostCmd::Stop { name, socket } => Request::VhostStop { name, socket: socket.map(absolute).transpose()? },
        VhostCmd::List => Request::VhostList,
    };
    let list = matches!(req, Request::VhostList);
    match c.call(&req).with_context(|| format!("talking to the daemon at {}", socket.display()))? {
        Response::Error(e) => bail!("{}", e.message),
        Response::Ok(Reply::VhostExports { exports }) => {
            for e in exports {
                if list {
                    let state = if e.connected { "connected" } else { "listening" };
                    println!("{}\t{}\t{} queues\t{state}", e.name, e.socket, e.num_queues);
                } else {
                    println!("{}", e.socket);
                }
            }
            Ok(())
        }
        Response::Ok(_) => Ok(()),
    }
}
