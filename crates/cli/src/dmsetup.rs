//! `ulvm dmsetup` (and `dmsetup` through a symlink): dmsetup's syntax and
//! output, talking to the daemon over the control socket.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::path::PathBuf;
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::proto::{DeviceLines, ErrorKind, ErrorReply, Info, ListEntry, Reply, Request, Response};
use ulvm_dm::TargetStatus;

const USAGE: &str = "Usage: dmsetup [--run-dir DIR] COMMAND [OPTIONS] ...
Commands:
  create NAME [--table LINE | TABLE_FILE] [-r|--readonly] [-u|--uuid UUID] [--notable]
  load|reload NAME [--table LINE | TABLE_FILE] [-r|--readonly]
  clear NAME
  suspend [--nolockfs] NAME...
  resume NAME...
  remove [-f|--force] NAME...
  remove_all [-f|--force]
  rename NAME NEW_NAME | rename NAME --setuuid UUID
  table [NAME] [--target TYPE] [--inactive]
  status [NAME] [--target TYPE]
  status --progress NAME [-i SECONDS]   (ulvm) a clone's hydration progress
  info [NAME] [-c|-C|--columns [-o FIELDS] [--noheadings]]
  deps [NAME]
  ls [--tree]
  message NAME SECTOR MESSAGE...
  wait NAME [EVENT_NR]
  targets
  version
With no table argument, create and load read the table from standard input.";

#[derive(Default)]
struct Opts {
    run_dir: Option<PathBuf>,
    read_only: bool,
    notable: bool,
    table: Option<String>,
    uuid: Option<String>,
    target: Option<String>,
    inactive: bool,
    tree: bool,
    columns: bool,
    fields: Option<String>,
    noheadings: bool,
    force: bool,
    /// `suspend --nolockfs`: do not freeze the mounted file system.
    nolockfs: bool,
    setuuid: Option<String>,
    /// ulvm: `status --progress`: clone hydration progress after the line.
    progress: bool,
    /// ulvm: `status --progress -i SECONDS`: repeat until hydrated.
    interval: Option<f64>,
    args: Vec<String>,
}

fn parse(argv: &[String]) -> Result<Opts> {
    let mut o = Opts::default();
    let mut it = argv.iter();
    let value = |it: &mut std::slice::Iter<String>, flag: &str| {
        it.next().cloned().ok_or_else(|| anyhow!("option {flag} needs a value"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--run-dir" => o.run_dir = Some(value(&mut it, a)?.into()),
            "-r" | "--readonly" => o.read_only = true,
            "--notable" => o.notable = true,
            "--table" => o.table = Some(value(&mut it, a)?),
            "-u" | "--uuid" => o.uuid = Some(value(&mut it, a)?),
            "--target" => o.target = Some(value(&mut it, a)?),
            "--inactive" => o.inactive = true,
            "--tree" => o.tree = true,
            "-c" | "-C" | "--columns" => o.columns = true,
            "-o" | "--options" => o.fields = Some(value(&mut it, a)?),
            "--noheadings" => o.noheadings = true,
            "-f" | "--force" => o.force = true,
            "--nolockfs" => o.nolockfs = true,
            "--setuuid" => o.setuuid = Some(value(&mut it, a)?),
            "--progress" => o.progress = true,
            "-i" | "--interval" => {
                let v = value(&mut it, a)?;
                o.interval =
                    Some(v.parse().ok().filter(|&s: &f64| s > 0.0).ok_or_else(|| anyhow!("invalid interval '{v}'"))?);
            }
            "-y" | "--yes" | "-v" | "--verbose" | "--noudevsync" | "--noudevrules" => {}
            "-h" | "--help" => o.args.insert(0, "help".into()),
            s if s.starts_with("--run-dir=") => o.run_dir = Some(s["--run-dir=".len()..].into()),
            s if s.starts_with("--table=") => o.table = Some(s["--table=".len()..].into()),
            s if s.starts_with('-') && s.len() > 1 => bail!("unrecognised option '{s}' (see 'dmsetup help')"),
            _ => o.args.push(a.clone()),
        }
    }
    Ok(o)
}

struct Conn {
    client: ControlClient,
    socket: PathBuf,
}

impl Conn {
    fn open(run_dir: Option<&std::path::Path>) -> Result<Conn> {
        let dir = ulvm_daemon::paths::run_dir(run_dir);
        let socket = ulvm_daemon::paths::control_socket(&dir);
        let client = ControlClient::connect(&socket).map_err(|e| {
            anyhow!("cannot reach the ulvm daemon at {}: {e} (is 'ulvm daemon' running?)", socket.display())
        })?;
        Ok(Conn { client, socket })
    }

    /// A request; a refusal becomes an error worded like dmsetup's.
    fn call(&mut self, op: &str, name: Option<&str>, req: Request) -> Result<Reply> {
        let resp =
            self.client.call(&req).with_context(|| format!("talking to the daemon at {}", self.socket.display()))?;
        match resp {
            Response::Ok(r) => Ok(r),
            Response::Error(ErrorReply { kind: ErrorKind::NotFound, message }) => bail!("{message}"),
            Response::Error(ErrorReply { message, .. }) => match name {
                Some(n) => bail!("device-mapper: {op} ioctl on {n} failed: {message}"),
                None => bail!("device-mapper: {op} failed: {message}"),
            },
        }
    }
}

fn table_text(o: &Opts, file_arg: Option<&String>) -> Result<Option<String>> {
    if o.notable {
        return Ok(None);
    }
    if let Some(t) = &o.table {
        return Ok(Some(t.clone()));
    }
    if let Some(f) = file_arg {
        return std::fs::read_to_string(f).map(Some).with_context(|| format!("reading table file {f}"));
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("reading the table from standard input")?;
    Ok(Some(s))
}

fn need<'a>(o: &'a Opts, i: usize, what: &str) -> Result<&'a String> {
    o.args.get(i).ok_or_else(|| anyhow!("{} needs {what} (see 'dmsetup help')", o.args[0]))
}

/// Runs a dmsetup command line; returns the exit status.
pub fn run(argv: &[String]) -> Result<i32> {
    let o = parse(argv)?;
    let Some(cmd) = o.args.first().cloned() else {
        println!("{USAGE}");
        return Ok(0);
    };
    if cmd == "help" {
        println!("{USAGE}");
        return Ok(0);
    }
    let mut c = Conn::open(o.run_dir.as_deref())?;
    match cmd.as_str() {
        "create" => {
            let name = need(&o, 1, "a device name")?;
            let table = table_text(&o, o.args.get(2))?;
            let req = Request::Create {
                name: name.clone(),
                uuid: o.uuid.clone(),
                table,
                read_only: o.read_only,
                direct_io: false,
            };
            c.call("create", Some(name), req)?;
        }
        "load" | "reload" => {
            let name = need(&o, 1, "a device name")?;
            let table = table_text(&o, o.args.get(2))?.unwrap_or_default();
            c.call("reload", Some(name), Request::Load { name: name.clone(), table, read_only: o.read_only })?;
        }
        "clear" => {
            let name = need(&o, 1, "a device name")?;
            c.call("clear", Some(name), Request::Clear { name: name.clone() })?;
        }
        "suspend" | "resume" => {
            need(&o, 1, "a device name")?;
            for name in &o.args[1..] {
                let req = if cmd == "suspend" {
                    Request::Suspend { name: name.clone(), nolockfs: o.nolockfs }
                } else {
                    Request::Resume { name: name.clone() }
                };
                c.call(&cmd, Some(name), req)?;
            }
        }
        "remove" => {
            need(&o, 1, "a device name")?;
            for name in &o.args[1..] {
                c.call("remove", Some(name), Request::Remove { name: name.clone(), force: o.force })?;
            }
        }
        "remove_all" => {
            c.call("remove_all", None, Request::RemoveAll { force: o.force })?;
        }
        "rename" => {
            let name = need(&o, 1, "a device name")?;
            if let Some(uuid) = &o.setuuid {
                c.call("rename", Some(name), Request::SetUuid { name: name.clone(), uuid: uuid.clone() })?;
            } else {
                let new_name = need(&o, 2, "a new name")?;
                c.call("rename", Some(name), Request::Rename { name: name.clone(), new_name: new_name.clone() })?;
            }
        }
        "status" if o.progress => {
            let Some(name) = o.args.get(1).cloned() else { bail!("status --progress needs a device name") };
            return clone_progress(&mut c, &name, o.interval);
        }
        "table" | "status" => {
            let name = o.args.get(1).cloned();
            let req = if cmd == "table" {
                Request::Table { name: name.clone(), inactive: o.inactive }
            } else {
                Request::Status { name: name.clone() }
            };
            let Reply::Lines { devices } = c.call(&cmd, name.as_deref(), req)? else { bail!("unexpected reply") };
            print_lines(&devices, name.is_none(), o.target.as_deref());
        }
        "info" => {
            let name = o.args.get(1).cloned();
            let Reply::Info { devices } = c.call("info", name.as_deref(), Request::Info { name: name.clone() })? else {
                bail!("unexpected reply")
            };
            if devices.is_empty() {
                println!("No devices found");
            } else if o.columns {
                print_columns(&devices, o.fields.as_deref(), o.noheadings)?;
            } else {
                devices.iter().for_each(print_info);
            }
        }
        "ls" | "deps" => {
            let Reply::List { devices } = c.call(&cmd, None, Request::List)? else { bail!("unexpected reply") };
            if devices.is_empty() {
                println!("No devices found");
            } else if cmd == "deps" {
                for d in devices.iter().filter(|d| o.args.get(1).is_none_or(|n| *n == d.name)) {
                    let deps: Vec<String> = d.deps.iter().rev().map(|(a, b)| format!("({a}, {b})")).collect();
                    let prefix = if o.args.get(1).is_none() { format!("{}: ", d.name) } else { String::new() };
                    println!("{prefix}{} dependencies\t: {}", d.deps.len(), deps.join(" "));
                }
            } else if o.tree {
                print_tree(&devices);
            } else {
                for d in &devices {
                    println!("{}\t({}:{})", d.name, d.major, d.minor);
                }
            }
        }
        "message" => {
            let name = need(&o, 1, "a device name")?;
            let sector: u64 =
                need(&o, 2, "a sector")?.parse().map_err(|_| anyhow!("invalid sector '{}'", o.args[2]))?;
            if o.args.len() < 4 {
                bail!("message needs a message (see 'dmsetup help')");
            }
            let req = Request::Message { name: name.clone(), sector, args: o.args[3..].to_vec() };
            if let Reply::Message { text } = c.call("message", Some(name), req)? {
                if !text.is_empty() {
                    println!("{text}");
                }
            }
        }
        "wait" => {
            let name = need(&o, 1, "a device name")?;
            let event_nr =
                o.args.get(2).map(|e| e.parse().map_err(|_| anyhow!("invalid event number '{e}'"))).transpose()?;
            c.call("wait", Some(name), Request::Wait { name: name.clone(), event_nr })?;
        }
        "targets" => {
            if let Reply::Targets { targets } = c.call("targets", None, Request::Targets)? {
                for t in targets {
                    println!("{:<16} v{}.{}.{}", t.name, t.version[0], t.version[1], t.version[2]);
                }
            }
        }
        "version" => {
            if let Reply::Version { version, driver } = c.call("version", None, Request::Version)? {
                println!("Library version:   ulvm {version}");
                println!("Driver version:    {driver}");
            }
        }
        other => bail!("unknown command '{other}' (see 'dmsetup help')"),
    }
    Ok(0)
}

/// ulvm's `dmsetup status --progress NAME`: the clone's kernel status line,
/// then its hydration progress and rate. With `-i SECONDS` a progress line
/// every interval until every region is hydrated; on a terminal without
/// `-i`, a progress bar.
fn clone_progress(c: &mut Conn, name: &str, interval: Option<f64>) -> Result<i32> {
    use std::io::{IsTerminal, Write};
    let status = |c: &mut Conn| -> Result<(String, u64, u64, String)> {
        let Reply::Lines { devices } = c.call("status", Some(name), Request::Status { name: Some(name.into()) })?
        else {
            bail!("unexpected reply")
        };
        let line = devices.first().and_then(|d| d.lines.first()).ok_or_else(|| anyhow!("{name}: no status"))?;
        let st = TargetStatus::parse(&line.target_type, &line.params).map_err(|e| anyhow!("{name}: {e}"))?;
        let Some(clone) = st.clone_status() else {
            bail!("{name} is not a clone (its target is {})", line.target_type);
        };
        let (h, t) = clone.progress().ok_or_else(|| anyhow!("{name}: the clone reports '{clone}'"))?;
        let Reply::Message { text } = c.call(
            "message",
            Some(name),
            Request::Message { name: name.into(), sector: 0, args: vec!["progress".into()] },
        )?
        else {
            bail!("unexpected reply")
        };
        Ok((format!("{} {} {} {}", line.start, line.length, line.target_type, line.params), h, t, text))
    };
    let (line, h, t, text) = status(c)?;
    println!("{line}");
    let bar = interval.is_none() && std::io::stdout().is_terminal();
    if interval.is_none() && !bar {
        println!("  {text}");
        return Ok(0);
    }
    let (mut h, t, mut text) = (h, t, text);
    loop {
        if bar {
            print!("\r  {} {text}  ", crate::progress::bar(h, t, 30));
            let _ = std::io::stdout().flush();
        } else {
            println!("  {text}");
        }
        if h >= t {
            if bar {
                println!();
            }
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_secs_f64(interval.unwrap_or(1.0)));
        let (_, nh, _, nt) = status(c)?;
        h = nh;
        text = nt;
    }
}

fn print_lines(devices: &[DeviceLines], prefixed: bool, target: Option<&str>) {
    if prefixed && devices.is_empty() {
        println!("No devices found");
        return;
    }
    for d in devices {
        for l in d.lines.iter().filter(|l| target.is_none_or(|t| t == l.target_type)) {
            let line = format!("{} {} {} {}", l.start, l.length, l.target_type, l.params);
            if prefixed {
                println!("{}: {line}", d.name);
            } else {
                println!("{line}");
            }
        }
    }
}

fn print_info(i: &Info) {
    let state = if i.suspended { "SUSPENDED" } else { "ACTIVE" };
    let ro = if i.read_only { " (READ-ONLY)" } else { "" };
    let tables = match (i.live_table, i.inactive_table) {
        (true, true) => "LIVE & INACTIVE",
        (true, false) => "LIVE",
        (false, true) => "INACTIVE",
        (false, false) => "None",
    };
    println!("Name:              {}", i.name);
    println!("State:             {state}{ro}");
    println!("Read Ahead:        256");
    println!("Tables present:    {tables}");
    println!("Open count:        {}", i.open_count);
    println!("Event number:      {}", i.event_nr);
    println!("Major, minor:      {}, {}", i.major, i.minor);
    if i.live_table {
        println!("Number of targets: {}", i.target_count);
    }
    if !i.uuid.is_empty() {
        println!("UUID: {}", i.uuid);
    }
    println!();
}

fn print_columns(devices: &[Info], fields: Option<&str>, noheadings: bool) -> Result<()> {
    let fields: Vec<&str> = fields.unwrap_or("name,major,minor,attr,open,segments,events,uuid").split(',').collect();
    // (header, min width, right-aligned, value)
    let mut cols: Vec<(&str, usize, bool, Vec<String>)> = Vec::new();
    for f in &fields {
        let (h, w, right): (&str, usize, bool) = match *f {
            "name" => ("Name", 16, false),
            "major" => ("Maj", 3, true),
            "minor" => ("Min", 3, true),
            "attr" => ("Stat", 4, false),
            "open" => ("Open", 4, true),
            "segments" => ("Targ", 4, true),
            "events" => ("Event", 6, true),
            "uuid" => ("UUID", 4, false),
            other => bail!("unrecognised field: {other}"),
        };
        let vals = devices
            .iter()
            .map(|i| match *f {
                "name" => i.name.clone(),
                "major" => i.major.to_string(),
                "minor" => i.minor.to_string(),
                "attr" => format!(
                    "{}{}{}{}",
                    if i.live_table { 'L' } else { '-' },
                    if i.inactive_table { 'I' } else { '-' },
                    if i.suspended { 's' } else { '-' },
                    if i.read_only { 'r' } else { 'w' }
                ),
                "open" => i.open_count.to_string(),
                "segments" => i.target_count.to_string(),
                "events" => i.event_nr.to_string(),
                _ => i.uuid.clone(),
            })
            .collect();
        cols.push((h, w, right, vals));
    }
    let widths: Vec<usize> =
        cols.iter().map(|(h, w, _, v)| v.iter().map(String::len).chain([*w, h.len()]).max().unwrap_or(0)).collect();
    // Headings are left-aligned; values right-aligned for numbers.
    let row = |cells: Vec<String>, heading: bool| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&cols)
            .zip(&widths)
            .map(|((c, (_, _, right, _)), w)| if *right && !heading { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        println!("{}", parts.join(" "));
    };
    if !noheadings {
        row(cols.iter().map(|(h, ..)| h.to_string()).collect(), true);
    }
    for i in 0..devices.len() {
        row(cols.iter().map(|(_, _, _, v)| v[i].clone()).collect(), false);
    }
    Ok(())
}

fn print_tree(devices: &[ListEntry]) {
    let by_num = |m: u32, n: u32| devices.iter().find(|d| d.major == m && d.minor == n);
    let used: Vec<(u32, u32)> = devices.iter().flat_map(|d| d.deps.iter().copied()).collect();
    fn walk<'a>(d: &'a ListEntry, prefix: &str, all: &dyn Fn(u32, u32) -> Option<&'a ListEntry>) {
        let deps: Vec<&(u32, u32)> = d.deps.iter().rev().collect();
        for (i, (m, n)) in deps.iter().enumerate() {
            let last = i + 1 == deps.len();
            let branch = if last { " `-" } else { " |-" };
            match all(*m, *n) {
                Some(child) => {
                    println!("{prefix}{branch}{} ({m}:{n})", child.name);
                    walk(child, &format!("{prefix}{}", if last { "   " } else { " | " }), all);
                }
                None => println!("{prefix}{branch} ({m}:{n})"),
            }
        }
    }
    for d in devices.iter().filter(|d| !used.contains(&(d.major, d.minor))) {
        println!("{} ({}:{})", d.name, d.major, d.minor);
        walk(d, "", &by_num);
    }
}
