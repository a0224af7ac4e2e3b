//! `ulvm`: the command line. The only crate that parses flags, prints, and
//! uses `anyhow`; everything it does is a call into the libraries.

mod demo;
mod inspect;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ulvm", version, about = "Device-mapper snapshots and LVM2, in userspace")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
    /// Print the header and exceptions of a persistent COW device (read-only).
    InspectCow {
        cow: PathBuf,
        /// Print every exception, not just the summary.
        #[arg(long)]
        all: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo { dir, origin_mib } => demo::run(&dir, origin_mib),
        Cmd::InspectCow { cow, all } => inspect::run(&cow, all),
    };
    if let Err(e) = r {
        eprintln!("ulvm: {e:#}");
        std::process::exit(1);
    }
}
