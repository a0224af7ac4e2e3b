//! The system directory: what LVM keeps under `/etc/lvm` and `/run/lock/lvm`,
//! in one place ulvm can own without root.
//!
//! ```text
//! DIR/lvm.conf                  lvm.conf-style settings (optional)
//! DIR/devices/system.devices    the devices that belong to this system
//! DIR/backup/VG                 the latest metadata of each VG
//! DIR/archive/VG_NNNNN-R.vg     earlier versions, one per change
//! DIR/locks/P_global, V_VG      flock(2) locks that serialize commands
//! ```
//!
//! The directory is `--system-dir DIR`, else `$ULVM_SYSTEM_DIR`, else
//! `/etc/ulvm` as root, else `$XDG_CONFIG_HOME/ulvm` (`~/.config/ulvm`).

use crate::text::{Item, Items, Tree, Value};
use crate::FormatError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// An error of the system directory: what it was doing, and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SysError {
    pub what: String,
    #[source]
    pub source: io::Error,
}

fn sys<T>(r: io::Result<T>, what: impl FnOnce() -> String) -> Result<T, SysError> {
    r.map_err(|source| SysError { what: what(), source })
}

#[derive(Debug, Clone)]
pub struct SystemDir {
    root: PathBuf,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl SystemDir {
    /// The system directory for an optional explicit choice.
    pub fn locate(explicit: Option<&Path>) -> SystemDir {
        let root = if let Some(p) = explicit {
            p.to_path_buf()
        } else if let Some(p) = std::env::var_os("ULVM_SYSTEM_DIR").filter(|v| !v.is_empty()) {
            PathBuf::from(p)
        } else if is_root() {
            PathBuf::from("/etc/ulvm")
        } else if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            PathBuf::from(x).join("ulvm")
        } else {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".config/ulvm")
        };
        SystemDir { root }
    }

    pub fn new(root: impl Into<PathBuf>) -> SystemDir {
        SystemDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn devices_file(&self) -> PathBuf {
        self.root.join("devices/system.devices")
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.root.join("backup")
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.root.join("archive")
    }

    pub fn config_file(&self) -> PathBuf {
        self.root.join("lvm.conf")
    }

    /// The settings in `lvm.conf` (defaults when there is none), and then,
    /// as LVM merges them, those of `lvm_TAG.conf` for each of the host's
    /// tags that has one.
    pub fn config(&self) -> Result<Config, FormatError> {
        let path = self.config_file();
        let mut config = match fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text).map_err(|e| FormatError(format!("{}: {}", path.display(), e.0)))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(FormatError(format!("{}: {e}", path.display()))),
        };
        let tagged = config.host_tags(&crate::disk::hostname()).into_iter().map(|t| format!("lvm_{t}.conf"));
        // lvmlocal.conf: this host's own settings (its `local/host_id`).
        for file in std::iter::once("lvmlocal.conf".to_string()).chain(tagged) {
            let path = self.root.join(file);
            match fs::read_to_string(&path) {
                Ok(text) => config.apply(&text).map_err(|e| FormatError(format!("{}: {}", path.display(), e.0)))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(FormatError(format!("{}: {e}", path.display()))),
            }
        }
        Ok(config)
    }

    /// Takes a lock: `P_global` for orphan PVs and VG names, `V_<vg>` for a VG.
    pub fn lock(&self, name: &str, exclusive: bool) -> Result<Lock, SysError> {
        let dir = self.root.join("locks");
        sys(fs::create_dir_all(&dir), || format!("creating {}", dir.display()))?;
        let path = dir.join(name);
        let file = sys(OpenOptions::new().create(true).truncate(false).write(true).open(&path), || {
            format!("opening lock {}", path.display())
        })?;
        let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(Lock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(SysError { what: format!("locking {}", path.display()), source: e });
            }
        }
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Writes `data` to `path` atomically: a temporary file, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), SysError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    sys(fs::create_dir_all(dir), || format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
    let what = || format!("writing {}", path.display());
    let mut f = sys(File::create(&tmp), what)?;
    sys(f.write_all(data), what)?;
    sys(f.sync_all(), what)?;
    sys(fs::rename(&tmp, path), what)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// lvm.conf settings ulvm uses. Unknown settings are ignored, as LVM
/// ignores settings of other versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `activation/snapshot_autoextend_threshold`: percent full at which a
    /// snapshot is extended (100 = never).
    pub snapshot_autoextend_threshold: u64,
    /// `activation/snapshot_autoextend_percent`: how much to add, in percent
    /// of the snapshot's size.
    pub snapshot_autoextend_percent: u64,
    /// `global/units`: the default `--units` of reports.
    pub units: String,
    /// `backup/backup`: write `backup/VG` after every metadata change.
    pub backup: bool,
    /// `backup/archive`: keep the replaced version in `archive/`.
    pub archive: bool,
    /// `activation/volume_list`: when set, only the LVs it names may be
    /// activated (entries `vg`, `vg/lv`, `@tag`).
    pub volume_list: Option<Vec<String>>,
    /// `activation/auto_activation_volume_list`: when set, only the LVs it
    /// names are autoactivated (`-aay`).
    pub auto_activation_volume_list: Option<Vec<String>>,
    /// `global/event_activation`: whether `pvscan --cache` with devices or
    /// `-aay` acts (LVM's default, 1).
    pub event_activation: bool,
    /// `activation/mirror_image_fault_policy`: what the daemon's mirror
    /// monitor does with a failed image (`lvconvert --repair
    /// --use-policies`, as dmeventd runs it).
    pub mirror_image_fault_policy: MirrorFaultPolicy,
    /// `activation/activation_mode` (`--activationmode`): whether a raid
    /// LV missing legs is activated (`degraded`, LVM's default; `partial`)
    /// or refused (`complete`).
    pub activation_mode: crate::ops::raid::ActivationMode,
    /// `global/mirror_segtype_default`: what `-m N` makes without
    /// `--type` (`raid1`, LVM 2.03's default, or `mirror`).
    pub mirror_segtype_default: String,
    /// `activation/raid_fault_policy`: what `lvconvert --repair
    /// --use-policies` does with a failed raid image (`warn`, LVM's
    /// default, or `allocate`).
    pub raid_fault_policy_allocate: bool,
    /// `tags/hosttags`: the host's name is one of its tags.
    pub hosttags: bool,
    /// `tags { TAG { host_list = [...] } }`: each tag section, in order,
    /// with its host list (the tag is the host's when the list is absent
    /// or names the host).
    pub tag_sections: Vec<(String, Option<Vec<String>>)>,
    /// `devices/use_devicesfile`, if set. Unset, ulvm uses its devices
    /// file (LVM 2.03.16's default is 0: files are ulvm's PVs, and only
    /// its devices file names them). Set to 0, ulvm scans as LVM does (see
    /// [`crate::devscan`]); set to 1, LVM's checks of the file against a
    /// scan apply too (an entry whose device lost its PVID: `IDNAME=.`).
    pub use_devicesfile: Option<bool>,
    /// `devices/scan`: the directories whose block devices are scanned
    /// without the devices file.
    pub scan: Vec<String>,
    /// `devices/global_filter`: LVM's `a|regex|`/`r|regex|` patterns.
    pub global_filter: Vec<String>,
    /// `devices/filter`: as `global_filter`, applied after it.
    pub filter: Vec<String>,
    /// `global/use_lvmlockd`: shared VGs are used, under their locks (ulvm
    /// takes them through sanlock itself, as lvmlockd would); unset, they
    /// are refused as LVM without lvmlockd refuses them.
    pub use_lvmlockd: bool,
    /// `local/host_id` (lvmlocal.conf): this host's id in the lockspaces
    /// of shared VGs, 1 to 2000, unique among the hosts.
    pub host_id: Option<u64>,
    /// `global/sanlock_lv_extend`: MiB added to a shared VG's lock LV when
    /// its LV lease slots are used up (LVM's default 256; 0: never).
    pub sanlock_lv_extend: u64,
}

/// `activation/mirror_image_fault_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MirrorFaultPolicy {
    /// Drop the failed image (LVM's default): a two-image mirror becomes
    /// linear on the healthy one.
    #[default]
    Remove,
    /// Replace it with a new image from free space on other PVs.
    Allocate,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            snapshot_autoextend_threshold: 100,
            snapshot_autoextend_percent: 20,
            units: "h".into(),
            backup: true,
            archive: true,
            volume_list: None,
            auto_activation_volume_list: None,
            event_activation: true,
            mirror_image_fault_policy: MirrorFaultPolicy::Remove,
            activation_mode: crate::ops::raid::ActivationMode::Degraded,
            mirror_segtype_default: "raid1".into(),
            raid_fault_policy_allocate: false,
            hosttags: false,
            tag_sections: Vec::new(),
            use_devicesfile: None,
            scan: vec!["/dev".into()],
            global_filter: Vec::new(),
            filter: Vec::new(),
            use_lvmlockd: false,
            host_id: None,
            sanlock_lv_extend: 256,
        }
    }
}

impl Config {
    /// The host's tags, as LVM 2.03 sets them from lvm.conf's `tags`
    /// section: its name with `hosttags = 1`, and each tag section whose
    /// `host_list` is absent or names the host (a leading `@` dropped).
    pub fn host_tags(&self, hostname: &str) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        if self.hosttags && !hostname.is_empty() {
            tags.push(hostname.to_string());
        }
        for (tag, hosts) in &self.tag_sections {
            if hosts.as_ref().is_none_or(|h| h.iter().any(|h| h == hostname)) && !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        tags
    }

    pub fn parse(text: &str) -> Result<Config, FormatError> {
        let mut c = Config::default();
        c.apply(text)?;
        Ok(c)
    }

    /// Applies the settings of a config text on top of these: lvm.conf,
    /// then a command's `--config`, which may also name settings by path
    /// (`activation/volume_list=["vg0"]`).
    pub fn apply(&mut self, text: &str) -> Result<(), FormatError> {
        let text = expand_paths(text);
        let tree = Tree::parse(&text)?;
        let c = self;
        for item in &tree.0 {
            c.apply_items(std::slice::from_ref(item))?;
        }
        Ok(())
    }

    fn apply_items(&mut self, top: &[Item]) -> Result<(), FormatError> {
        /// `section/key` as a list of strings (a lone string is a list of
        /// one), if set.
        fn strings(items: &[Item], section: &str, key: &str) -> Result<Option<Vec<String>>, FormatError> {
            let bad = || FormatError(format!("{section}/{key}: a list of strings is expected"));
            match items.value(key) {
                None => Ok(None),
                Some(Value::Str(s)) => Ok(Some(vec![s.to_string()])),
                Some(Value::List(l)) => l
                    .iter()
                    .map(|v| match v {
                        Value::Str(s) => Ok(s.to_string()),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(bad()),
            }
        }
        let c = self;
        if let Some(act) = top.section("activation") {
            let list = |key: &str| strings(act, "activation", key);
            if let Some(l) = list("volume_list")? {
                c.volume_list = Some(l);
            }
            if let Some(l) = list("auto_activation_volume_list")? {
                c.auto_activation_volume_list = Some(l);
            }
            if let Some(v) = act.int("snapshot_autoextend_threshold") {
                c.snapshot_autoextend_threshold = v.clamp(50, 100) as u64;
            }
            if let Some(v) = act.int("snapshot_autoextend_percent") {
                c.snapshot_autoextend_percent = v.max(0) as u64;
            }
            if let Some(Value::Str(p)) = act.value("mirror_image_fault_policy") {
                c.mirror_image_fault_policy = match &**p {
                    "remove" => MirrorFaultPolicy::Remove,
                    "allocate" => MirrorFaultPolicy::Allocate,
                    other => {
                        return Err(FormatError(format!(
                            "activation/mirror_image_fault_policy: \"{other}\" is not remove or allocate"
                        )))
                    }
                };
            }
        }
        if let Some(act) = top.section("activation") {
            if let Some(Value::Str(m)) = act.value("activation_mode") {
                c.activation_mode = crate::ops::raid::ActivationMode::parse(m).map_err(|_| {
                    FormatError(format!("activation/activation_mode: \"{m}\" is not complete, degraded or partial"))
                })?;
            }
            if let Some(Value::Str(p)) = act.value("raid_fault_policy") {
                c.raid_fault_policy_allocate = matches!(&**p, "allocate" | "replace");
            }
        }
        if let Some(Value::Str(t)) = top.section("global").and_then(|g| g.value("mirror_segtype_default")) {
            if !matches!(&**t, "raid1" | "mirror") {
                return Err(FormatError(format!("global/mirror_segtype_default: \"{t}\" is not raid1 or mirror")));
            }
            c.mirror_segtype_default = t.to_string();
        }
        if let Some(v) = top.section("local").and_then(|l| l.int("host_id")) {
            if !(1..=2000).contains(&v) {
                return Err(FormatError(format!("local/host_id: {v} is not between 1 and 2000")));
            }
            c.host_id = Some(v as u64);
        }
        if let Some(tags) = top.section("tags") {
            if let Some(v) = tags.int("hosttags") {
                c.hosttags = v != 0;
            }
            for item in tags {
                let Item::Section(name, items) = item else { continue };
                let hosts = match items.value("host_list") {
                    None => None,
                    Some(Value::Str(h)) => Some(vec![h.to_string()]),
                    Some(Value::List(l)) => Some(
                        l.iter()
                            .map(|v| match v {
                                Value::Str(h) => Ok(h.to_string()),
                                _ => Err(FormatError(format!("Invalid hostname string for tag {name}"))),
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => return Err(FormatError(format!("Invalid hostname string for tag {name}"))),
                };
                let tag = name.strip_prefix('@').unwrap_or(name).to_string();
                c.tag_sections.retain(|(t, _)| t != &tag);
                c.tag_sections.push((tag, hosts));
            }
        }
        if let Some(d) = top.section("devices") {
            let strings = |key: &str| strings(d, "devices", key);
            if let Some(v) = d.int("use_devicesfile") {
                c.use_devicesfile = Some(v != 0);
            }
            if let Some(l) = strings("scan")? {
                c.scan = l;
            }
            if let Some(l) = strings("global_filter")? {
                c.global_filter = l;
            }
            if let Some(l) = strings("filter")? {
                c.filter = l;
            }
        }
        if let Some(b) = top.section("backup") {
            if let Some(v) = b.int("backup") {
                c.backup = v != 0;
            }
            if let Some(v) = b.int("archive") {
                c.archive = v != 0;
            }
        }
        if let Some(g) = top.section("global") {
            if let Some(v) = g.int("use_lvmlockd") {
                c.use_lvmlockd = v != 0;
            }
            if let Some(v) = g.int("sanlock_lv_extend") {
                c.sanlock_lv_extend = v.max(0) as u64;
            }
            if let Some(v) = g.int("event_activation") {
                c.event_activation = v != 0;
            }
            if let Some(Value::Str(u)) = g.value("units") {
                crate::units::Units::parse(u)?;
                c.units = u.to_string();
            }
        }
        Ok(())
    }

    /// A config text with these settings (for tests and `ulvm lvmconfig`).
    pub fn to_text(&self) -> String {
        let tree = Tree(vec![
            Item::Section(
                "activation".into(),
                vec![
                    Item::Assign(
                        "snapshot_autoextend_threshold".into(),
                        Value::Int(self.snapshot_autoextend_threshold as i64),
                    ),
                    Item::Assign(
                        "snapshot_autoextend_percent".into(),
                        Value::Int(self.snapshot_autoextend_percent as i64),
                    ),
                    Item::Assign(
                        "mirror_image_fault_policy".into(),
                        Value::Str(
                            match self.mirror_image_fault_policy {
                                MirrorFaultPolicy::Remove => "remove",
                                MirrorFaultPolicy::Allocate => "allocate",
                            }
                            .into(),
                        ),
                    ),
                ],
            ),
            Item::Section("global".into(), vec![Item::Assign("units".into(), Value::Str(self.units.as_str().into()))]),
            Item::Section(
                "backup".into(),
                vec![
                    Item::Assign("backup".into(), Value::Int(self.backup as i64)),
                    Item::Assign("archive".into(), Value::Int(self.archive as i64)),
                ],
            ),
        ]);
        tree.print()
    }
}

/// Rewrites settings named by path (`a/b = v`, as `--config` takes them)
/// into sections (`a { b = v }`); text without such names is unchanged.
pub(crate) fn expand_paths(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let name_char = |c: u8| c.is_ascii_alphanumeric() || b"_.+-/".contains(&c);
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            let end = string_end(b, i);
            out.push_str(&text[i..end]);
            i = end;
        } else if c == b'#' {
            let end = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
            out.push_str(&text[i..end]);
            i = end;
        } else if name_char(c) && !(c == b'-' || c.is_ascii_digit()) {
            let start = i;
            while i < b.len() && name_char(b[i]) {
                i += 1;
            }
            let name = &text[start..i];
            let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
            if parts.len() < 2 {
                out.push_str(name);
                continue;
            }
            // The value after `=`: a list, a string or a word.
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if b.get(j) != Some(&b'=') {
                out.push_str(name);
                continue;
            }
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let end = match b.get(j) {
                Some(b'[') => {
                    let mut k = j + 1;
                    while k < b.len() && b[k] != b']' {
                        k = if b[k] == b'"' { string_end(b, k) } else { k + 1 };
                    }
                    (k + 1).min(b.len())
                }
                Some(b'"') => string_end(b, j),
                _ => {
                    let mut k = j;
                    while k < b.len() && !b[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    k
                }
            };
            let (sections, key) = parts.split_at(parts.len() - 1);
            for s in sections {
                out.push_str(s);
                out.push_str(" { ");
            }
            out.push_str(key[0]);
            out.push_str(" = ");
            out.push_str(&text[j..end]);
            for _ in sections {
                out.push_str(" }");
            }
            i = end;
        } else {
            let ch = text[i..].chars().next().expect("a char boundary");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Where the string starting with the quote at `at` ends (after its quote).
fn string_end(b: &[u8], at: usize) -> usize {
    let mut k = at + 1;
    while k < b.len() && b[k] != b'"' {
        k += if b[k] == b'\\' { 2 } else { 1 };
    }
    (k + 1).min(b.len())
}

/// A time as C's `ctime` writes it (`Thu Dec  3 08:17:19 2026`), in UTC.
fn ctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, rest) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {day:>2} {:02}:{:02}:{:02} {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// One line of the devices file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// `devname` for block devices, `file` for regular files (ulvm's own
    /// type: LVM has no file PVs).
    pub idtype: String,
    /// What identifies the device for its `idtype` (its path for
    /// `devname` and `file`; `.` when LVM lost it), kept as read.
    pub idname: String,
    /// The device's path (`DEVNAME`).
    pub path: PathBuf,
    /// The PV UUID (32 characters, no dashes), once it is a PV.
    pub pvid: Option<String>,
    /// `PART`: the partition number LVM records for a partition.
    pub part: Option<String>,
}

impl DeviceEntry {
    /// Whether the entry still names its device (`IDNAME` is not `.`): a
    /// scan that finds the device no longer holds the entry's PVID writes
    /// `IDNAME=.`, keeping the path as a hint, and the device is not used.
    pub fn located(&self) -> bool {
        self.idname != "."
    }
}

/// The devices file (LVM's `system.devices`): the devices commands look
/// at, so nothing else on the machine is scanned or touched. It is
/// written in LVM 2.03.16's layout: two comment lines, `VERSION=1.1.N`
/// (N counts the writes, as LVM counts them), then one line per device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevicesFile {
    pub entries: Vec<DeviceEntry>,
    /// N of the `VERSION=1.1.N` read (0: no file yet).
    pub version: u64,
}

impl DevicesFile {
    pub fn load(path: &Path) -> Result<DevicesFile, FormatError> {
        match fs::read_to_string(path) {
            Ok(t) => DevicesFile::parse(&t).map_err(|e| FormatError(format!("{}: {}", path.display(), e.0))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DevicesFile::default()),
            Err(e) => Err(FormatError(format!("{}: {e}", path.display()))),
        }
    }

    /// The entries of a devices file's text.
    pub fn parse(text: &str) -> Result<DevicesFile, FormatError> {
        let mut entries = Vec::new();
        let mut version = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("VERSION=") {
                version = v.rsplit('.').next().and_then(|c| c.parse().ok()).unwrap_or(0);
                continue;
            }
            if line.is_empty() || line.starts_with('#') || line.starts_with("SYSTEMID=") {
                continue;
            }
            let (mut idtype, mut idname, mut devname, mut pvid, mut part) = (None, None, None, None, None);
            for field in line.split_whitespace() {
                match field.split_once('=') {
                    Some(("IDTYPE", v)) => idtype = Some(v.to_string()),
                    Some(("IDNAME", v)) => idname = Some(v.to_string()),
                    Some(("DEVNAME", v)) if v != "." => devname = Some(PathBuf::from(v)),
                    Some(("PVID", v)) if v != "." => pvid = Some(v.to_string()),
                    Some(("PART", v)) => part = Some(v.to_string()),
                    _ => {}
                }
            }
            let idname = idname.unwrap_or_else(|| ".".into());
            let path = devname.or_else(|| idname.starts_with('/').then(|| PathBuf::from(&idname)));
            match (idtype, path) {
                (Some(idtype), Some(path)) => entries.push(DeviceEntry { idtype, idname, path, pvid, part }),
                _ => return Err(FormatError(format!("line {}: not a device entry", n + 1))),
            }
        }
        Ok(DevicesFile { entries, version })
    }

    /// The file's text as `command` writes it now (the next VERSION).
    pub fn to_text(&self, command: &str) -> String {
        let mut s = String::from("# LVM uses devices listed in this file.\n");
        s.push_str(&format!(
            "# Created by LVM command {command} pid {} at {}\n",
            std::process::id(),
            ctime(crate::disk::now())
        ));
        s.push_str(&format!("VERSION=1.1.{}\n", self.version.wrapping_add(1)));
        for e in &self.entries {
            s.push_str(&format!(
                "IDTYPE={} IDNAME={} DEVNAME={} PVID={}",
                e.idtype,
                e.idname,
                e.path.display(),
                e.pvid.as_deref().unwrap_or(".")
            ));
            if let Some(p) = &e.part {
                s.push_str(&format!(" PART={p}"));
            }
            s.push('\n');
        }
        s
    }

    pub fn save(&self, path: &Path, command: &str) -> Result<(), SysError> {
        write_atomic(path, self.to_text(command).as_bytes())
    }

    pub fn find(&self, path: &Path) -> Option<&DeviceEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Adds or updates the entry of `path`.
    pub fn set(&mut self, path: &Path, pvid: Option<String>) {
        let idtype = match fs::metadata(path) {
            Ok(m) if std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()) => "devname",
            _ => "file",
        };
        match self.entries.iter_mut().find(|e| e.path == path) {
            Some(e) => {
                e.pvid = pvid;
                if !e.located() {
                    e.idname = path.display().to_string();
                }
            }
            None => self.entries.push(DeviceEntry {
                idtype: idtype.into(),
                idname: path.display().to_string(),
                path: path.to_path_buf(),
                pvid,
                part: None,
            }),
        }
    }

    pub fn remove(&mut self, path: &Path) {
        self.entries.retain(|e| e.path != path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_devices_file_roundtrip_and_lvm_lines() {
        let dir = std::env::temp_dir().join(format!("ulvm-sys-{}", std::process::id()));
        let sd = SystemDir::new(&dir);
        let mut d = DevicesFile::default();
        d.set(Path::new("/nonexistent/pv1.img"), None);
        d.set(Path::new("/nonexistent/pv1.img"), Some("abc".into()));
        d.set(Path::new("/nonexistent/pv2.img"), None);
        d.save(&sd.devices_file(), "pvcreate").unwrap();
        let back = DevicesFile::load(&sd.devices_file()).unwrap();
        assert_eq!(back.entries, d.entries);
        assert_eq!(back.entries[0].idtype, "file");
        assert_eq!(back.version, 1);
        // A VERSION at the top of its counter (found by the lvm_metadata
        // fuzz target) starts it again, as LVM's unsigned counter does.
        let top = DevicesFile::parse("VERSION=1.1.18446744073709551615\n").unwrap();
        assert!(top.to_text("x").contains("VERSION=1.1.0\n"));
        let text = back.to_text("pvcreate");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# LVM uses devices listed in this file.");
        assert!(lines[1].starts_with("# Created by LVM command pvcreate pid "), "{text}");
        assert_eq!(lines[2], "VERSION=1.1.2");
        assert_eq!(lines[3], "IDTYPE=file IDNAME=/nonexistent/pv1.img DEVNAME=/nonexistent/pv1.img PVID=abc");
        assert_eq!(ctime(1_796_285_839), "Thu Dec  3 08:17:19 2026");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        // A line as LVM itself writes it.
        let lvm = "VERSION=1.1.2\nIDTYPE=devname IDNAME=/dev/sdb DEVNAME=/dev/sdb PVID=LQQEzwIRd7BglDsm7OMCRA6SE1pIAcjI PART=0\n";
        fs::write(sd.devices_file(), lvm).unwrap();
        let l = DevicesFile::load(&sd.devices_file()).unwrap();
        assert_eq!(l.entries[0].path, Path::new("/dev/sdb"));
        assert_eq!(l.entries[0].pvid.as_deref(), Some("LQQEzwIRd7BglDsm7OMCRA6SE1pIAcjI"));
        // LVM's entries keep their fields when ulvm writes them back.
        let lvm = "VERSION=1.1.6\nIDTYPE=loop_file IDNAME=/tmp/d1.img DEVNAME=/dev/loop1 PVID=.\nIDTYPE=devname IDNAME=. DEVNAME=/dev/vdc PVID=w4YYTSxrNYMA0sLN0SZ0YIPmyS1evcno\nIDTYPE=devname IDNAME=/dev/sda1 DEVNAME=/dev/sda1 PVID=. PART=1\n";
        let text = DevicesFile::parse(lvm).unwrap().to_text("x");
        assert_eq!(text.lines().skip(2).collect::<Vec<_>>().join("\n") + "\n", lvm.replace("1.1.6", "1.1.7"));
        // oracle8 105: an entry whose device no longer held its PVID.
        let lost = "IDTYPE=devname IDNAME=. DEVNAME=/dev/vdc PVID=w4YYTSxrNYMA0sLN0SZ0YIPmyS1evcno\n";
        let l = DevicesFile::parse(lost).unwrap();
        assert_eq!(l.entries[0].path, Path::new("/dev/vdc"));
        assert!(!l.entries[0].located());
        assert!(l.to_text("x").contains("IDNAME=. DEVNAME=/dev/vdc PVID=w4YY"), "{}", l.to_text("x"));
        assert!(DevicesFile::parse(lvm).unwrap().entries[0].located());
        fs::write(sd.devices_file(), "garbage\n").unwrap();
        assert!(DevicesFile::load(&sd.devices_file()).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// lvm.conf's `tags` as LVM's `_init_tags` reads them (oracle11 021-055).
    #[test]
    fn test_config_host_tags_are_the_host_name_and_the_tag_sections_for_this_host() {
        let none = Config::parse("tags { hosttags = 0 }").unwrap();
        assert!(none.host_tags("oraclehost").is_empty());
        let c = Config::parse(
            "tags {\n hosttags = 1\n mytag { }\n @other { host_list = [ \"otherhost\" ] }\n              mine { host_list = [ \"x\", \"oraclehost\" ] }\n}\n",
        )
        .unwrap();
        assert_eq!(c.host_tags("oraclehost"), ["oraclehost", "mytag", "mine"]);
        assert_eq!(c.host_tags("otherhost"), ["otherhost", "mytag", "other"]);
        assert!(Config::parse("tags { t { host_list = [ 1 ] } }").is_err());
    }

    /// LVM merges `lvm_TAG.conf` of each host tag over lvm.conf (checked
    /// with real lvmconfig 2.03.16: `activation/volume_list` from
    /// `lvm_HOST.conf`, `global/units` from `lvm_t2.conf`).
    #[test]
    fn test_config_merges_the_files_of_the_host_tags() {
        let dir = std::env::temp_dir().join(format!("ulvm-tagconf-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let sd = SystemDir::new(&dir);
        let host = crate::disk::hostname();
        fs::write(dir.join("lvm.conf"), "tags {\n hosttags = 1\n t2 { }\n}\n").unwrap();
        fs::write(dir.join(format!("lvm_{host}.conf")), format!("activation {{ volume_list = [ \"@{host}\" ] }}\n"))
            .unwrap();
        fs::write(dir.join("lvm_t2.conf"), "global { units = \"k\" }\n").unwrap();
        fs::write(dir.join("lvm_other.conf"), "global { units = \"g\" }\n").unwrap();
        let c = sd.config().unwrap();
        assert_eq!(c.volume_list, Some(vec![format!("@{host}")]));
        assert_eq!(c.units, "k");
        // Without host tags, no tag's file is read.
        fs::write(dir.join("lvm.conf"), "tags {\n hosttags = 0\n}\n").unwrap();
        let c = sd.config().unwrap();
        assert_eq!((c.volume_list, c.units), (None, Config::default().units));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_config_reads_the_devices_settings_and_keeps_ulvms_devices_file_by_default() {
        let c = Config::parse("global { units = \"h\" }").unwrap();
        assert_eq!(c.use_devicesfile, None);
        assert_eq!(c.scan, ["/dev"]);
        let mut c =
            Config::parse("devices {\n use_devicesfile = 0\n scan = \"/dev/x\"\n filter = [ \"a|a|\", \"r|.*|\" ]\n}")
                .unwrap();
        assert_eq!(c.use_devicesfile, Some(false));
        assert_eq!(c.scan, ["/dev/x"]);
        assert_eq!(c.filter, ["a|a|", "r|.*|"]);
        c.apply("devices/use_devicesfile=1 devices/global_filter=[\"r|b|\"]").unwrap();
        assert_eq!(c.use_devicesfile, Some(true));
        assert_eq!(c.global_filter, ["r|b|"]);
    }

    #[test]
    fn test_config_reads_autoextend_and_units() {
        let c = Config::parse(
            "activation {\n snapshot_autoextend_threshold = 70\n snapshot_autoextend_percent = 50\n}\nglobal { units = \"m\" }\n",
        )
        .unwrap();
        assert_eq!(c.snapshot_autoextend_threshold, 70);
        assert_eq!(c.snapshot_autoextend_percent, 50);
        assert_eq!(c.units, "m");
        assert_eq!(Config::parse(&c.to_text()).unwrap(), c);
        assert_eq!(c.mirror_image_fault_policy, MirrorFaultPolicy::Remove);
        let a = Config::parse("activation { mirror_image_fault_policy = \"allocate\" }").unwrap();
        assert_eq!(a.mirror_image_fault_policy, MirrorFaultPolicy::Allocate);
        assert_eq!(Config::parse(&a.to_text()).unwrap(), a);
        assert!(Config::parse("activation { mirror_image_fault_policy = \"warn\" }").is_err());
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert!(Config::parse("global { units = \"q\" }").is_err());
        let off = Config::parse("backup {\n backup = 0\n archive = 0\n}\n").unwrap();
        assert!(!off.backup && !off.archive);
        assert!(Config::default().backup && Config::default().archive);
        assert_eq!(Config::parse(&off.to_text()).unwrap(), off);
    }

    #[test]
    fn test_exclusive_lock_excludes_another_holder() {
        let dir = std::env::temp_dir().join(format!("ulvm-lock-{}", std::process::id()));
        let sd = SystemDir::new(&dir);
        let held = sd.lock("V_vg0", true).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let sd2 = sd.clone();
        let t = std::thread::spawn(move || {
            let _l = sd2.lock("V_vg0", true).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err(), "second lock taken while held");
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        t.join().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
