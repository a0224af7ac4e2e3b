//! The LVM commands: `ulvm pvcreate ...`, or `pvcreate ...` through a
//! symlink. Messages and reports are worded and laid out as LVM 2.03's;
//! errors are one line on stderr (indented two spaces, as LVM's), exit
//! status 5 for a failed command and 3 for a bad command line.

mod args;
mod clone;
mod display;
mod export;
pub mod help;
mod host;
mod lv;
mod merge;
mod mirror;
mod pv;
mod pvmove;
mod raid;
mod reports;
mod scan;
mod tools;
mod vg;

use anyhow::{anyhow, bail, Result};
use args::{Args, Opt};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use ulvm_lvm::ops::{Confirm, ReadScope, Report, Session};
use ulvm_lvm::system::SystemDir;
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
    "pvscan",
    "vgscan",
    "lvscan",
    "pvmove",
    "vgexport",
    "vgimport",
    "vgmknodes",
    "vgimportclone",
    "lvmdiskscan",
    "lvmdevices",
    "pvck",
    "lvmconfig",
];

/// Commands only `lvm CMD` runs (LVM installs no link of their name).
pub const LVM_ONLY: &[&str] = &["fullreport"];

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
            let usage = e.downcast_ref::<Usage>().is_some()
                || matches!(e.downcast_ref::<ulvm_lvm::LvmError>(), Some(ulvm_lvm::LvmError::Usage(_)));
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
        return help::print_usage(cmd);
    }
    // LVM's test mode changes nothing; ulvm has none yet, and must not
    // carry out a command its user meant as a dry run.
    if a.has("test") {
        return usage("Test mode (-t|--test) is not supported by ulvm; nothing was changed.");
    }
    let mut ctx = Ctx::new(cmd, argv, &a)?;
    match cmd {
        "pvcreate" => pv::pvcreate(&mut ctx, &a),
        "pvremove" => pv::pvremove(&mut ctx, &a),
        "pvchange" => pv::pvchange(&mut ctx, &a),
        "pvs" | "vgs" | "lvs" => reports::report(&mut ctx, &a),
        "fullreport" => reports::fullreport(&mut ctx, &a),
        "pvdisplay" => display::pvdisplay(&mut ctx, &a),
        "vgdisplay" => display::vgdisplay(&mut ctx, &a),
        "lvdisplay" => display::lvdisplay(&mut ctx, &a),
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
        "pvscan" => scan::pvscan(&mut ctx, &a),
        "vgscan" => scan::vgscan(&mut ctx, &a),
        "lvscan" => scan::lvscan(&mut ctx, &a),
        "lvcreate" => lv::lvcreate(&mut ctx, &a),
        "lvremove" => lv::lvremove(&mut ctx, &a),
        "lvextend" | "lvreduce" | "lvresize" => lv::lvresize(&mut ctx, &a),
        "lvrename" => lv::lvrename(&mut ctx, &a),
        "lvchange" => lv::lvchange(&mut ctx, &a),
        "lvconvert" => merge::lvconvert(&mut ctx, &a),
        "pvmove" => pvmove::pvmove(&mut ctx, &a),
        "vgexport" | "vgimport" => export::vgexport_or_import(&mut ctx, &a),
        "vgmknodes" => export::vgmknodes(&mut ctx, &a),
        "vgimportclone" => export::vgimportclone(&mut ctx, &a),
        "lvmdiskscan" => scan::lvmdiskscan(&mut ctx, &a),
        "lvmdevices" => tools::lvmdevices(&mut ctx, &a),
        "pvck" => tools::pvck(&mut ctx, &a),
        "lvmconfig" => tools::lvmconfig(&mut ctx, &a),
        _ => bail!("{cmd}: not an LVM command ulvm knows"),
    }
}

fn specs(cmd: &str) -> &'static [Opt] {
    use args::{flag, value};
    // The options of every report (pvs, vgs, lvs, lvm fullreport), with
    // those of one kind of report.
    macro_rules! report_opts {
        ($($own:expr),*) => {
            &[
                $($own,)*
                value("options", Some('o')),
                value("sort", Some('O')),
                value("select", Some('S')),
                flag("all", Some('a')),
                flag("noheadings", None),
                value("separator", None),
                value("reportformat", None),
                flag("aligned", None),
                flag("nameprefixes", None),
                flag("rows", None),
                flag("binary", None),
                flag("unbuffered", None),
                flag("unquoted", None),
                flag("shared", None),
            ]
        };
    }
    const REPORT: &[Opt] = report_opts!(flag("segments", None));
    const FULLREPORT: &[Opt] = report_opts!(value("configreport", None));
    const PVCREATE: &[Opt] = &[value("uuid", Some('u')), value("restorefile", None), value("zero", Some('Z'))];
    const PVCHANGE: &[Opt] = &[
        value("allocatable", Some('x')),
        flag("all", Some('a')),
        value("addtag", None),
        value("deltag", None),
        value("select", Some('S')),
    ];
    const VGEXPORT: &[Opt] = &[flag("all", Some('a'))];
    const VGMKNODES: &[Opt] = &[flag("refresh", None)];
    const VGIMPORTCLONE: &[Opt] = &[value("basevgname", Some('n')), flag("import", Some('i'))];
    const VGCREATE: &[Opt] = &[
        value("physicalextentsize", Some('s')),
        value("maxlogicalvolumes", Some('l')),
        value("maxphysicalvolumes", Some('p')),
        value("setautoactivation", None),
        value("addtag", None),
        flag("shared", None),
        value("locktype", None),
    ];
    const VGCHANGE: &[Opt] = &[
        flag("lockstart", None),
        flag("lockstop", None),
        value("locktype", None),
        value("select", Some('S')),
        value("activate", Some('a')),
        value("setautoactivation", None),
        value("addtag", None),
        value("deltag", None),
        flag("ignoreactivationskip", Some('K')),
        value("activationmode", None),
    ];
    const PVSCAN: &[Opt] = &[
        flag("cache", None),
        value("activate", Some('a')),
        flag("short", Some('s')),
        flag("uuid", Some('u')),
        flag("novolumegroup", Some('n')),
        flag("exported", Some('e')),
    ];
    const VGSCAN: &[Opt] = &[flag("mknodes", None)];
    const LVSCAN: &[Opt] = &[flag("all", Some('a'))];
    const VGREDUCE: &[Opt] = &[flag("all", Some('a')), flag("removemissing", None)];
    const VGCFGBACKUP: &[Opt] = &[value("file", Some('f'))];
    const VGCK: &[Opt] = &[flag("updatemetadata", None)];
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
        value("setautoactivation", None),
        value("setactivationskip", Some('k')),
        flag("ignoreactivationskip", Some('K')),
        value("mirrors", Some('m')),
        value("mirrorlog", None),
        flag("nosync", None),
        value("addtag", None),
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
    const LVCHANGE: &[Opt] = &[
        value("select", Some('S')),
        value("activate", Some('a')),
        value("permission", Some('p')),
        value("setautoactivation", None),
        value("setactivationskip", Some('k')),
        flag("ignoreactivationskip", Some('K')),
        value("activationmode", None),
        flag("refresh", None),
        value("syncaction", None),
        value("rebuild", None),
        value("writemostly", None),
        value("minrecoveryrate", None),
        value("maxrecoveryrate", None),
        value("writebehind", None),
        value("addtag", None),
        value("deltag", None),
    ];
    const LVCONVERT: &[Opt] = &[
        flag("merge", None),
        flag("background", Some('b')),
        value("interval", Some('i')),
        flag("startpoll", None),
        value("mirrors", Some('m')),
        value("type", None),
        value("mirrorlog", None),
        value("splitmirrors", None),
        value("name", Some('n')),
        value("regionsize", Some('R')),
        flag("repair", None),
        flag("use-policies", None),
        flag("splitsnapshot", None),
        flag("snapshot", Some('s')),
        value("chunksize", Some('c')),
        value("zero", Some('Z')),
    ];
    const VGSPLIT: &[Opt] =
        &[value("name", Some('n')), value("maxlogicalvolumes", Some('l')), value("maxphysicalvolumes", Some('p'))];
    const PVDISPLAY: &[Opt] = &[flag("maps", Some('m'))];
    const PVMOVE: &[Opt] = &[
        value("name", Some('n')),
        value("alloc", None),
        flag("atomic", None),
        flag("background", Some('b')),
        value("interval", Some('i')),
        flag("abort", None),
        value("autobackup", Some('A')),
        flag("noudevsync", None),
    ];
    const LVDISPLAY: &[Opt] = &[flag("maps", Some('m')), flag("all", Some('a'))];
    const VGDISPLAY: &[Opt] = &[flag("short", Some('s'))];
    const LVREMOVE: &[Opt] = &[value("select", Some('S'))];
    const NONE: &[Opt] = &[];
    const LVMDISKSCAN: &[Opt] = &[flag("lvmpartition", Some('l'))];
    const LVMDEVICES: &[Opt] = &[
        value("adddev", None),
        value("deldev", None),
        value("delpvid", None),
        flag("check", None),
        flag("update", None),
    ];
    const PVCK: &[Opt] = &[value("dump", None), value("file", Some('f'))];
    const LVMCONFIG: &[Opt] = &[value("typeconfig", None), value("type", None), flag("withcomments", None)];
    match cmd {
        "lvmconfig" => LVMCONFIG,
        "lvmdevices" => LVMDEVICES,
        "pvck" => PVCK,
        "lvmdiskscan" => LVMDISKSCAN,
        "pvs" | "vgs" | "lvs" => REPORT,
        "fullreport" => FULLREPORT,
        "pvcreate" => PVCREATE,
        "pvchange" => PVCHANGE,
        "vgcreate" => VGCREATE,
        "vgchange" => VGCHANGE,
        "vgreduce" => VGREDUCE,
        "vgcfgbackup" => VGCFGBACKUP,
        "vgck" => VGCK,
        "vgcfgrestore" => VGCFGRESTORE,
        "pvresize" => PVRESIZE,
        "lvcreate" => LVCREATE,
        "lvextend" | "lvreduce" | "lvresize" => LVRESIZE,
        "lvchange" => LVCHANGE,
        "lvremove" => LVREMOVE,
        "lvconvert" => LVCONVERT,
        "vgsplit" => VGSPLIT,
        "pvmove" => PVMOVE,
        "pvdisplay" => PVDISPLAY,
        "lvdisplay" => LVDISPLAY,
        "vgdisplay" => VGDISPLAY,
        "pvscan" => PVSCAN,
        "vgexport" | "vgimport" => VGEXPORT,
        "vgmknodes" => VGMKNODES,
        "vgimportclone" => VGIMPORTCLONE,
        "vgscan" => VGSCAN,
        "lvscan" => LVSCAN,
        _ => NONE,
    }
}

/// What every command works with: the library's session, plus what only
/// the command line has (its name, units, -y, -f).
pub struct Ctx {
    pub cmd: String,
    pub s: Session,
    run_dir: Option<PathBuf>,
    pub force: usize,
    pub units: Units,
}

impl std::ops::Deref for Ctx {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.s
    }
}

impl std::ops::DerefMut for Ctx {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.s
    }
}

/// LVM's messages on the terminal: two spaces in front, results on
/// stdout, warnings on stderr.
struct Terminal;

impl Report for Terminal {
    fn print(&mut self, line: &str) {
        println!("  {line}");
    }
    fn warn(&mut self, line: &str) {
        eprintln!("  {line}");
    }
    fn print_raw(&mut self, line: &str) {
        println!("{line}");
    }
    fn warn_raw(&mut self, line: &str) {
        eprintln!("{line}");
    }
}

/// LVM's `[y/n]` prompt; `-y` answers yes, and no terminal or EOF answers no.
struct Prompt {
    yes: bool,
}

impl Confirm for Prompt {
    fn confirm(&mut self, question: &str) -> bool {
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
        let run_dir: Option<PathBuf> = a.get("run-dir").map(PathBuf::from);
        let cmdline = std::iter::once(cmd.to_string()).chain(argv.iter().cloned()).collect::<Vec<_>>().join(" ");
        let connect_dir = run_dir.clone();
        let connect: ulvm_lvm::ops::Connect = Box::new(move || {
            host::connect(connect_dir.as_deref())
                .map(|h| Box::new(h) as Box<dyn ulvm_lvm::activate::DmHost + Send>)
                .map_err(|e| ulvm_lvm::HostError::new(ulvm_lvm::HostErrorKind::Unreachable, e.to_string()))
        });
        let yes = a.has("yes");
        Ok(Ctx {
            cmd: cmd.to_string(),
            s: {
                let mut s = Session::new(sd, explicit, cmdline, connect, Box::new(Terminal), Box::new(Prompt { yes }));
                let mut config: Vec<String> = a.all("config").iter().map(|c| c.to_string()).collect();
                if let Some(m) = a.get("activationmode") {
                    ulvm_lvm::ops::raid::ActivationMode::parse(m).map_err(|e| Usage(e.to_string()))?;
                    config.push(format!("activation/activation_mode=\"{m}\""));
                }
                s.set_scope(read_scope(cmd, a));
                if !config.is_empty() {
                    let text = config.join("\n");
                    let mut check = ulvm_lvm::system::Config::default();
                    check
                        .apply(&text)
                        .map_err(|e| Usage(format!("Failed to set overridden configuration entries: {e}")))?;
                    s.set_config_override(Some(text));
                }
                s
            },
            run_dir,
            force: a.count("force"),
            units,
        })
    }

    /// `--run-dir`, if given.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref()
    }
}

/// The VGs a command reads, from its arguments, as LVM 2.03 reads them
/// (see [`ReadScope`]): a VG-or-LV command reads the VGs it names, `pvs`
/// and `pvdisplay` the VGs of the PVs they name; without names, or with
/// an `@tag` or `-S`, every VG (`None`).
fn read_scope(cmd: &str, a: &Args) -> Option<ReadScope> {
    if a.pos.is_empty() || a.has("select") || a.pos.iter().any(|p| p.starts_with('@')) {
        return None;
    }
    match cmd {
        "pvs" | "pvdisplay" => Some(ReadScope { devices: a.pos.iter().map(PathBuf::from).collect(), vgs: vec![] }),
        "vgs" | "lvs" | "vgdisplay" | "lvdisplay" | "vgchange" | "lvchange" | "lvremove" | "vgck" | "vgcfgbackup"
        | "vgexport" | "vgimport" | "vgremove" | "vgmknodes" | "lvextend" | "lvreduce" | "lvresize" | "lvrename"
        | "lvconvert" | "lvcreate" | "vgextend" | "vgreduce" | "vgrename" | "vgsplit" | "vgmerge" => Some(ReadScope {
            // VG, VG/LV or /dev/VG/LV; a PV's path names no VG here.
            vgs: a
                .pos
                .iter()
                .filter_map(|p| {
                    let p = p.strip_prefix("/dev/").unwrap_or(p);
                    let vg = p.split('/').next().unwrap_or("");
                    (!vg.is_empty()).then(|| vg.to_string())
                })
                .collect(),
            devices: vec![],
        }),
        _ => None,
    }
}

/// LVM's yes/no argument of option `--opt`.
pub fn yes_no(a: &Args, opt: &str) -> Result<Option<bool>> {
    match a.get(opt) {
        None => Ok(None),
        Some("y" | "yes") => Ok(Some(true)),
        Some("n" | "no") => Ok(Some(false)),
        Some(v) => usage(format!("Invalid argument for --{opt}: {v}")),
    }
}

/// The `--addtag`/`--deltag` of a command line: LVM's refusal of a tag
/// it does not take.
pub fn tag_edit(a: &Args) -> Result<ulvm_lvm::ops::tags::TagEdit> {
    let tags = |opt: &str| -> Result<Vec<String>> {
        a.all(opt)
            .into_iter()
            .map(|t| {
                ulvm_lvm::ops::tags::parse_tag(t)
                    .ok_or_else(|| Usage(format!("Invalid argument for --{opt}: {t}")).into())
            })
            .collect()
    };
    Ok(ulvm_lvm::ops::tags::TagEdit { add: tags("addtag")?, del: tags("deltag")? })
}

/// Names on a command line with each `@tag` standing for what carries
/// the tag: for `what` `lv`, `VG/LV` of each LV tagged so and `VG` of
/// each VG tagged so; for `vg`, the VGs; for `pv`, the PVs' paths. `None`
/// when there is no `@tag`; an empty list when the tags name nothing.
pub fn tag_args(
    vgs: &std::collections::BTreeMap<String, ulvm_lvm::disk::Vg>,
    what: &str,
    pos: &[String],
) -> Option<Vec<String>> {
    use ulvm_lvm::ops::tags;
    if !pos.iter().any(|p| p.starts_with('@')) {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for p in pos {
        let Some(t) = tags::tag_arg(p) else {
            out.push(p.clone());
            continue;
        };
        let names: Vec<String> = match what {
            "lv" => tags::lvs_tagged(vgs, t)
                .into_iter()
                .map(|(v, l)| match l {
                    Some(l) => format!("{v}/{l}"),
                    None => v,
                })
                .collect(),
            "vg" => tags::vgs_tagged(vgs, t),
            _ => vgs
                .values()
                .flat_map(|v| {
                    v.vg.pvs
                        .iter()
                        .filter(|x| x.tags.iter().any(|y| y == t))
                        .filter_map(|x| v.disks.get(&x.key))
                        .map(|d| d.path.display().to_string())
                })
                .collect(),
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    Some(out)
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
