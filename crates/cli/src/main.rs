//! `ulvm`: the command line. The only crate that parses flags, prints, and
//! uses `anyhow`; everything it does is a call into the libraries.

mod daemon;
mod demo;
mod dmsetup;
mod inspect;
mod install;
mod lockctl;
mod lvm;
mod progress;
mod syslog;
mod vhost;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ulvm", version, about = "Device-mapper snapshots and LVM2, in userspace")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon: the device registry, the control socket and the
    /// NBD export of every active device.
    Daemon(daemon::DaemonArgs),
    /// dmsetup, talking to the daemon (also runs as `dmsetup` through a
    /// symlink of that name).
    #[command(disable_help_flag = true)]
    Dmsetup {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the kernel snapshot document's walk-through on file-backed
    /// devices in DIR (created if missing): snapshot-origin + persistent
    /// snapshot, writes, re-activation, merge.
    Demo {
        /// Directory for origin.img and cow.img.
        #[arg(long, default_value = "ulvm-demo")]
        dir: PathBuf,
        /// Origin size in MiB.
        #[arg(long, default_value_t = 64)]
        origin_mib: u64,
    },
    /// Install the binary, the LVM and dmsetup command links beside it, and
    /// the systemd units into a prefix.
    Install(install::InstallArgs),
    /// Serve devices to VMs over vhost-user-blk (export, stop, list).
    Vhost(vhost::VhostArgs),
    /// Print the header and exceptions of a persistent COW device (read-only).
    InspectCow {
        cow: PathBuf,
        /// Print every exception, not just the summary.
        #[arg(long)]
        all: bool,
    },
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let invoked = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    if invoked == "dmsetup" {
        exit_with("dmsetup", dmsetup::run(&argv[1..]));
    }
    if invoked == "lvmlockctl" {
        exit_with("lvmlockctl", lockctl::run(&argv[1..]));
    }
    if argv.get(1).map(String::as_str) == Some("lvmlockctl") {
        exit_with("lvmlockctl", lockctl::run(&argv[2..]));
    }
    // LVM commands: `lvcreate ...` through a symlink, `ulvm lvcreate ...`,
    // or `lvm lvcreate ...` / `ulvm lvm lvcreate ...` as with LVM's own
    // `lvm` binary.
    if invoked == "lvm" {
        std::process::exit(lvm::help::lvm_main(&argv[1..]));
    }
    if lvm::COMMANDS.contains(&invoked.as_str()) {
        std::process::exit(lvm::run(&invoked, &argv[1..]));
    }
    match argv.get(1).map(String::as_str) {
        Some("lvm") => std::process::exit(lvm::help::lvm_main(&argv[2..])),
        Some(cmd) if lvm::COMMANDS.contains(&cmd) => std::process::exit(lvm::run(cmd, &argv[2..])),
        _ => {}
    }
    // `ulvm --help` lists the LVM commands too, from `lvm::COMMANDS`.
    let matches = Cli::command().after_help(lvm::help::ulvm_help_list()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let r = match cli.cmd {
        Cmd::Daemon(args) => daemon::run(args).map(|_| 0),
        Cmd::Dmsetup { args } => exit_with("dmsetup", dmsetup::run(&args)),
        Cmd::Demo { dir, origin_mib } => demo::run(&dir, origin_mib).map(|_| 0),
        Cmd::InspectCow { cow, all } => inspect::run(&cow, all).map(|_| 0),
        Cmd::Install(args) => install::run(&args).map(|_| 0),
        Cmd::Vhost(args) => vhost::run(args).map(|_| 0),
    };
    exit_with("ulvm", r);
}

/// One error line, then the exit status.
fn exit_with(prog: &str, r: anyhow::Result<i32>) -> ! {
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.starts_with("device-mapper:") || msg.starts_with("Device ") {
                eprintln!("{msg}");
            } else {
                eprintln!("{prog}: {msg}");
            }
            std::process::exit(1);
        }
    }
}
