//! The LVM commands: `ulvm pvcreate ...`, or `pvcreate ...` through a
//! symlink. Messages and reports are worded and laid out as LVM 2.03's;
//! errors are one line on stderr (indented two spaces, as LVM's), exit
//! status 5 for a failed command and 3 for a bad command line.

mod args;
mod clone;
mod host;
mod lv;
mod merge;
mod pv;
mod reports;
mod vg;

use anyhow::{anyhow, bail, Result};
use args::{Args, Opt};
use host::Host;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use ulvm_lvm::disk::{self, Scan, Vg};
use ulvm_lvm::system::{DevicesFile, Lock, SystemDir};
use ulvm_lvm::units::Units;

/// The commands this module runs.
pub const COMMANDS: &[&str] = &[
    "pvcreate",
    "pvremove",
    "pvs",
    "pvchange",
    "pvdisplay",
    "vgcreate",
    "vgremove",
    "vgextend",
    "vgreduce",
    "vgrename",
    "vgchange",
    "vgs",
    "vgdisplay",
    "vgck",
    "vgcfgbackup",
    "lvcreate",
    "lvremove",
    "lvextend",
    "lvreduce",
    "lvresize",
    "lvrename",
    "lvchange",
    "lvs",
    "lvdisplay",
    "lvconvert",
    "vgmerge",
    "vgsplit",
    "vgcfgrestore",
    "pvresize",
];

/// A command-line error (LVM exits 3 for these).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage<T>(msg: impl Into<String>) -> Result<T> {
    Err(Usage(msg.into()).into())
}

/// Runs `cmd` with `argv`; returns the exit status.
pub fn run(cmd: &str, argv: &[String]) -> i32 {
    let r = dispatch(cmd, argv);
    match r {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<Usage>().is_some();
            let msg = format!("{e:#}");
            for line in msg.lines() {
                eprintln!("  {line}");
            }
            if usage {
                3
            } else {
                5
            }
        }
    }
}

fn dispatch(cmd: &str, argv: &[String]) -> Result<i32> {
    let specs = specs(cmd);
    let a = args::parse(cmd, specs, argv).map_err(|e| Usage(e.to_string()))?;
    if a.has("help") {
        println!("  {cmd}: see the LVM2 manual page {cmd}(8); ulvm accepts the options it documents that");
        println!("  ulvm supports: {}", specs.iter().map(|o| format!("--{}", o.long)).collect::<Vec<_>>().join(" "));
        return Ok(0);
    }
    let mut ctx = Ctx::new(cmd, argv, &a)?;
    match cmd {
        "pvcreate" => pv::pvcreate(&mut ctx, &a),
        "pvremove" => pv::pvremove(&mut ctx, &a),
        "pvchange" => pv::pvchange(&mut ctx, &a),
        "pvs" | "vgs" | "lvs" => reports::report(&mut ctx, &a),
        "pvdisplay" => reports::pvdisplay(&mut ctx, &a),
        "vgdisplay" => reports::vgdisplay(&mut ctx, &a),
        "lvdisplay" => reports::lvdisplay(&mut ctx, &a),
        "vgcreate" => vg::vgcreate(&mut ctx, &a),
        "vgremove" => vg::vgremove(&mut ctx, &a),
        "vgextend" => vg::vgextend(&mut ctx, &a),
        "vgreduce" => vg::vgreduce(&mut ctx, &a),
        "vgrename" => vg::vgrename(&mut ctx, &a),
        "vgchange" => vg::vgchange(&mut ctx, &a),
        "vgck" => vg::vgck(&mut ctx, &a),
        "vgcfgbackup" => vg::vgcfgbackup(&mut ctx, &a),
        "vgcfgrestore" => vg::vgcfgrestore(&mut ctx, &a),
        "vgmerge" => vg::vgmerge(&mut ctx, &a),
        "vgsplit" => vg::vgsplit(&mut ctx, &a),
        "pvresize" => pv::pvresize(&mut ctx, &a),
        "lvcreate" => lv::lvcreate(&mut ctx, &a),
        "lvremove" => lv::lvremove(&mut ctx, &a),
        "lvextend" | "lvreduce" | "lvresize" => lv::lvresize(&mut ctx, &a),
        "lvrename" => lv::lvrename(&mut ctx, &a),
        "lvchange" => lv::lvchange(&mut ctx, &a),
        "lvconvert" => merge::lvconvert(&mut ctx, &a),
        _ => bail!("{cmd}: not an LVM command ulvm knows"),
    }
}

fn specs(cmd: &str) -> &'static [Opt] {
    use args::{flag, value};
    const REPORT: &[Opt] = &[
        value("options", Some('o')),
        value("sort", Some('O')),
        flag("all", Some('a')),
        flag("noheadings", None),
        value("separator", None),
        value("reportformat", None),
        flag("aligned", None),
    ];
    const PVCREATE: &[Opt] = &[value("uuid", Some('u')), value("restorefile", None), value("zero", Some('Z'))];
    const PVCHANGE: &[Opt] = &[value("allocatable", Some('x')), flag("all", Some('a'))];
    const VGCREATE: &[Opt] = &[
        value("physicalextentsize", Some('s')),
        value("maxlogicalvolumes", Some('l')),
        value("maxphysicalvolumes", Some('p')),
    ];
    const VGCHANGE: &[Opt] = &[value("activate", Some('a'))];
    const VGREDUCE: &[Opt] = &[flag("all", Some('a')), flag("removemissing", None)];
    const VGCFGBACKUP: &[Opt] = &[value("file", Some('f'))];
    const VGCFGRESTORE: &[Opt] = &[value("file", Some('f')), flag("list", Some('l'))];
    const PVRESIZE: &[Opt] = &[value("setphysicalvolumesize", None)];
    const LVCREATE: &[Opt] = &[
        value("size", Some('L')),
        value("extents", Some('l')),
        value("name", Some('n')),
        value("stripes", Some('i')),
        value("stripesize", Some('I')),
        flag("snapshot", Some('s')),
        value("permission", Some('p')),
        value("chunksize", Some('c')),
        value("activate", Some('a')),
        value("zero", Some('Z')),
        value("type", None),
        value("source", None),
        value("regionsize", Some('R')),
    ];
    const LVRESIZE: &[Opt] = &[
        value("size", Some('L')),
        value("extents", Some('l')),
        flag("resizefs", Some('r')),
        value("stripes", Some('i')),
        value("stripesize", Some('I')),
        flag("nofsck", Some('n')),
        flag("use-policies", None),
    ];
    const LVCHANGE: &[Opt] = &[value("activate", Some('a')), value("permission", Some('p'))];
    const LVCONVERT: &[Opt] =
        &[flag("merge", None), flag("background", Some('b')), value("interval", Some('i')), flag("startpoll", None)];
    const PVDISPLAY: &[Opt] = &[flag("maps", Some('m'))];
    const LVDISPLAY: &[Opt] = &[flag("maps", Some('m')), flag("all", Some('a'))];
    const NONE: &[Opt] = &[];
    match cmd {
        "pvs" | "vgs" | "lvs" => REPORT,
        "pvcreate" => PVCREATE,
        "pvchange" => PVCHANGE,
        "vgcreate" => VGCREATE,
        "vgchange" => VGCHANGE,
        "vgreduce" => VGREDUCE,
        "vgcfgbackup" => VGCFGBACKUP,
        "vgcfgrestore" => VGCFGRESTORE,
        "pvresize" => PVRESIZE,
        "lvcreate" => LVCREATE,
        "lvextend" | "lvreduce" | "lvresize" => LVRESIZE,
        "lvchange" => LVCHANGE,
        "lvconvert" => LVCONVERT,
        "pvdisplay" => PVDISPLAY,
        "lvdisplay" => LVDISPLAY,
        _ => NONE,
    }
}

/// What every command works with.
pub struct Ctx {
    pub cmd: String,
    /// The command line as LVM records it in metadata descriptions.
    pub cmdline: String,
    pub sd: SystemDir,
    /// `--devices`: only these devices, and the devices file is left alone.
    explicit: Option<Vec<PathBuf>>,
    run_dir: Option<PathBuf>,
    pub yes: bool,
    pub force: usize,
    pub units: Units,
    host: Option<Host>,
    /// `host_if_running` found no daemon.
    host_absent: bool,
}

impl Ctx {
    fn new(cmd: &str, argv: &[String], a: &Args) -> Result<Ctx> {
        let sd = SystemDir::locate(a.get("system-dir").map(Path::new));
        let explicit = if a.has("devices") {
            Some(
                a.all("devices")
                    .iter()
                    .flat_map(|v| v.split(','))
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect(),
            )
        } else {
            None
        };
        let config = sd.config().map_err(|e| anyhow!("{e}"))?;
        let units_arg = a.get("units").unwrap_or(&config.units);
        let mut units = Units::parse(units_arg).map_err(|e| Usage(e.0))?;
        if a.has("nosuffix") {
            units = units.without_suffix();
        }
        Ok(Ctx {
            cmd: cmd.to_string(),
            cmdline: std::iter::once(cmd.to_string()).chain(argv.iter().cloned()).collect::<Vec<_>>().join(" "),
            sd,
            explicit,
            run_dir: a.get("run-dir").map(PathBuf::from),
            yes: a.has("yes"),
            force: a.count("force"),
            units,
            host: None,
            host_absent: false,
        })
    }

    /// The devices this command may look at.
    pub fn device_list(&self) -> Result<Vec<PathBuf>> {
        match &self.explicit {
            Some(list) => Ok(list.clone()),
            None => {
                let df = DevicesFile::load(&self.sd.devices_file()).map_err(|e| anyhow!("{e}"))?;
                Ok(df.entries.into_iter().map(|e| e.path).collect())
            }
        }
    }

    /// Records devices (and their PV UUIDs) in the devices file.
    pub fn remember_devices(&self, entries: &[(PathBuf, Option<String>)]) -> Result<()> {
        if self.explicit.is_some() {
            return Ok(());
        }
        let path = self.sd.devices_file();
        let mut df = DevicesFile::load(&path).map_err(|e| anyhow!("{e}"))?;
        for (p, id) in entries {
            df.set(p, id.clone());
        }
        df.save(&path, &self.cmd)?;
        Ok(())
    }

    pub fn forget_device(&self, p: &Path) -> Result<()> {
        if self.explicit.is_some() {
            return Ok(());
        }
        let path = self.sd.devices_file();
        let mut df = DevicesFile::load(&path).map_err(|e| anyhow!("{e}"))?;
        df.remove(p);
        df.save(&path, &self.cmd)?;
        Ok(())
    }

    pub fn scan(&self, read_only: bool) -> Result<(Scan, BTreeMap<String, Vg>)> {
        let s = disk::scan(&self.device_list()?, read_only);
        for (p, why) in &s.problems {
            eprintln!("  WARNING: {}: {why}", p.display());
        }
        let vgs = disk::assemble(&s);
        Ok((s, vgs))
    }

    /// One VG by name (`Volume group "X" not found` otherwise; a shared
    /// VG is refused, see [`shared_refusal`]).
    pub fn vg(&self, name: &str, read_only: bool) -> Result<Vg> {
        let (_, mut vgs) = self.scan(read_only)?;
        match vgs.remove(name) {
            Some(v) => {
                check_local(&v)?;
                for k in &v.missing {
                    let id = v.vg.pv(k).map(|p| p.id.to_string()).unwrap_or_default();
                    eprintln!("  WARNING: Couldn't find device with uuid {id}.");
                }
                Ok(v)
            }
            None => bail!("Volume group \"{name}\" not found"),
        }
    }

    pub fn lock_global(&self) -> Result<Lock> {
        Ok(self.sd.lock("P_global", true)?)
    }

    pub fn lock_vg(&self, name: &str) -> Result<Lock> {
        Ok(self.sd.lock(&format!("V_{name}"), true)?)
    }

    pub fn commit(&self, vg: &mut Vg) -> Result<()> {
        disk::commit(&self.sd, vg, &self.cmdline)?;
        Ok(())
    }

    /// `--run-dir`, if given.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref()
    }

    /// The daemon, connected on first use.
    pub fn host(&mut self) -> Result<&mut Host> {
        if self.host.is_none() {
            self.host = Some(Host::connect(self.run_dir.as_deref())?);
        }
        Ok(self.host.as_mut().expect("just set"))
    }

    /// The daemon if it is running (reports show everything inactive
    /// without one). A failed connection is not retried within a command.
    pub fn host_if_running(&mut self) -> Option<&mut Host> {
        if self.host.is_none() && !self.host_absent {
            self.host = Host::connect(self.run_dir.as_deref()).ok();
            self.host_absent = self.host.is_none();
        }
        self.host.as_mut()
    }

    /// LVM's `[y/n]` prompt; `-y` answers yes, and no terminal or EOF answers no.
    pub fn confirm(&self, question: &str) -> bool {
        if self.yes {
            return true;
        }
        // As LVM: the prompt on stderr, and `[n]` when there is no answer.
        eprint!("{question} [y/n]: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
            eprintln!("[n]");
            return false;
        }
        matches!(line.trim(), "y" | "Y" | "yes")
    }
}

/// LVM without lvmlockd (`use_lvmlockd = 0`, as ulvm runs): a VG whose
/// metadata has a lock type is shared between hosts, and nothing may read
/// it as if it were local. Commands that list VGs skip it; commands that
/// name it are refused with this line and exit 5, with nothing written.
pub fn shared_refusal(vg: &Vg) -> Option<String> {
    vg.vg.lock_type().map(|lt| format!("Cannot access VG {} with lock type {lt} that requires lvmlockd.", vg.vg.name))
}

/// [`shared_refusal`] as an error.
pub fn check_local(vg: &Vg) -> Result<()> {
    match shared_refusal(vg) {
        Some(msg) => bail!(msg),
        None => Ok(()),
    }
}

/// The names of the local VGs, for commands that act on every VG.
pub fn local_names(vgs: &BTreeMap<String, Vg>) -> Vec<String> {
    vgs.values().filter(|v| shared_refusal(v).is_none()).map(|v| v.vg.name.clone()).collect()
}

/// The VG (local or shared) a PV device belongs to.
pub fn vg_of_device<'a>(vgs: &'a BTreeMap<String, Vg>, p: &Path) -> Option<&'a Vg> {
    vgs.values().find(|v| v.disks.values().any(|d| d.path == p))
}

/// Canonical paths of device arguments (`No device found for X.` otherwise).
pub fn device_args(args: &[String]) -> Result<Vec<PathBuf>> {
    args.iter().map(|a| std::fs::canonicalize(a).map_err(|_| anyhow!("No device found for {a}."))).collect()
}

/// Splits `VG/LV` (or takes `LV` with a VG from elsewhere).
pub fn split_lv(arg: &str) -> Result<(String, String)> {
    let arg = arg.strip_prefix("/dev/").unwrap_or(arg);
    match arg.split_once('/') {
        Some((v, l)) if !v.is_empty() && !l.is_empty() => Ok((v.to_string(), l.to_string())),
        _ => usage(format!("\"{arg}\": Invalid path for Logical Volume.")),
    }
}
