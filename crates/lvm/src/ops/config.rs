//! `lvmconfig` (`lvm dumpconfig`, `lvm config`): the settings of ulvm's
//! lvm.conf with a command's `--config` applied (`--type current`), LVM
//! 2.03.16's defaults of the settings ulvm knows (`--type default`), the
//! settings that differ from those (`--type diff`), and both together
//! (`--type full`), printed as LVM prints config trees.
//!
//! The defaults are those LVM 2.03.16 printed in the oracle
//! (`crates/lvm/tests/fixtures/oracle8`, `lvmconfig --type default`);
//! paths under `/etc/lvm` are ulvm's system directory.

use super::Session;
use crate::system::expand_paths;
use crate::text::{Item, Tree, Value};
use crate::LvmError;

/// What `lvmconfig --type` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Current,
    Default,
    Diff,
    Full,
}

impl ConfigType {
    pub fn parse(s: &str) -> Option<ConfigType> {
        Some(match s {
            "current" => ConfigType::Current,
            "default" => ConfigType::Default,
            "diff" => ConfigType::Diff,
            "full" => ConfigType::Full,
            _ => return None,
        })
    }
}

/// LVM 2.03.16's defaults of the settings ulvm knows or its lvm.conf
/// sets, section by section in LVM's order, as `key=value` text (`{dir}`
/// is the system directory). Settings without a default (`volume_list`)
/// are listed with `None`: known, but printed by no `--type default`.
const DEFAULTS: &[(&str, &[SettingDefault])] = &[
    (
        "devices",
        &[
            ("dir", Some("\"/dev\"")),
            ("scan", Some("[\"/dev\"]")),
            ("obtain_device_list_from_udev", Some("0")),
            ("external_device_info_source", Some("\"none\"")),
            ("use_devicesfile", Some("0")),
            ("devicesfile", Some("\"system.devices\"")),
        ],
    ),
    (
        "backup",
        &[
            ("backup", Some("1")),
            ("backup_dir", Some("\"{dir}/backup\"")),
            ("archive", Some("1")),
            ("archive_dir", Some("\"{dir}/archive\"")),
            ("retain_min", Some("10")),
            ("retain_days", Some("30")),
        ],
    ),
    (
        "global",
        &[
            ("units", Some("\"r\"")),
            ("use_lvmlockd", Some("0")),
            ("use_lvmpolld", Some("1")),
            ("mirror_segtype_default", Some("\"raid1\"")),
            ("event_activation", Some("1")),
        ],
    ),
    (
        "activation",
        &[
            ("udev_sync", Some("1")),
            ("udev_rules", Some("1")),
            ("verify_udev_operations", Some("0")),
            ("volume_list", None),
            ("auto_activation_volume_list", None),
            ("snapshot_autoextend_threshold", Some("100")),
            ("snapshot_autoextend_percent", Some("20")),
            ("mirror_image_fault_policy", Some("\"remove\"")),
            ("raid_fault_policy", Some("\"warn\"")),
            ("activation_mode", Some("\"degraded\"")),
            ("monitoring", Some("1")),
        ],
    ),
];

/// One setting's default: its name and value text (none: no default).
type SettingDefault = (&'static str, Option<&'static str>);

/// What a command prints: sections of (key, value as printed, commented).
type Shown = Vec<(String, Vec<(String, String, bool)>)>;

/// Settings: sections of `key = value`, in order.
type Sections = Vec<(String, Vec<(String, Value<'static>)>)>;

/// The sections of a config text (`a/b=v` paths expanded).
fn sections(text: &str) -> Result<Sections, LvmError> {
    let text = expand_paths(text);
    let tree = Tree::parse(&text)?;
    let mut out: Sections = Vec::new();
    for item in tree.0 {
        let Item::Section(name, items) = item.into_owned() else { continue };
        let at = match out.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                out.push((name.to_string(), Vec::new()));
                out.len() - 1
            }
        };
        for i in items {
            if let Item::Assign(k, v) = i {
                let keys = &mut out[at].1;
                match keys.iter_mut().find(|(n, _)| *n == k) {
                    Some(e) => e.1 = v,
                    None => keys.push((k.to_string(), v)),
                }
            }
        }
    }
    Ok(out)
}

/// The defaults as [`Sections`].
fn defaults(dir: &str) -> Sections {
    DEFAULTS
        .iter()
        .map(|(s, keys)| {
            let keys = keys
                .iter()
                .filter_map(|(k, v)| {
                    let text = format!("{k} = {}", (*v)?.replace("{dir}", dir));
                    let tree = Tree::parse(&text).ok()?;
                    match tree.0.into_iter().next()?.into_owned() {
                        Item::Assign(_, v) => Some((k.to_string(), v)),
                        Item::Section(..) => None,
                    }
                })
                .collect();
            (s.to_string(), keys)
        })
        .collect()
}

fn known(section: &str, key: Option<&str>) -> bool {
    DEFAULTS.iter().any(|(s, keys)| *s == section && key.is_none_or(|k| keys.iter().any(|(n, _)| *n == k)))
}

/// A value as LVM prints it; a list of one is printed as its value in
/// the current config (as LVM's tree holds it), as a list in defaults.
fn shown(v: &Value, collapse: bool) -> String {
    let one = |v: &Value| match v {
        Value::Int(i) => i.to_string(),
        Value::Str(s) => format!("\"{s}\""),
        Value::List(_) => String::new(),
    };
    match v {
        Value::List(l) if collapse && l.len() == 1 => one(&l[0]),
        Value::List(l) => format!("[{}]", l.iter().map(one).collect::<Vec<_>>().join(", ")),
        v => one(v),
    }
}

/// Two values the same, a list of one being its value.
fn same(a: &Value, b: &Value) -> bool {
    fn flat<'v, 'a>(v: &'v Value<'a>) -> &'v Value<'a> {
        match v {
            Value::List(l) if l.len() == 1 => &l[0],
            v => v,
        }
    }
    flat(a) == flat(b)
}

/// LVM's order of the top sections it read from one file: the first,
/// then the others last to first (LVM 2.03.16, as the oracle prints them;
/// with a `--config` merged over the file, the file's own order).
fn lvm_order(mut s: Sections) -> Sections {
    if s.len() > 1 {
        s[1..].reverse();
    }
    s
}

/// `lvmconfig [--type T] [NODE...]`: the exit status is LVM's.
pub fn lvmconfig(s: &mut Session, kind: ConfigType, nodes: &[String]) -> Result<i32, LvmError> {
    let dir = s.sd.root().display().to_string();
    let file = std::fs::read_to_string(s.sd.config_file()).unwrap_or_default();
    let mut current = sections(&file)?;
    let over = s.config_override_text();
    // LVM 2.03.16 keeps a file's order when a --config is merged over it.
    if over.is_none() {
        current = lvm_order(current);
    }
    if let Some(o) = over {
        for (sec, keys) in sections(&o)? {
            let at = match current.iter().position(|(n, _)| *n == sec) {
                Some(i) => i,
                None => {
                    current.push((sec, Vec::new()));
                    current.len() - 1
                }
            };
            for (k, v) in keys {
                match current[at].1.iter_mut().find(|(n, _)| *n == k) {
                    Some(e) => e.1 = v,
                    None => current[at].1.push((k, v)),
                }
            }
        }
    }
    let defaults = defaults(&dir);
    let default_of = |sec: &str, k: &str| {
        defaults.iter().find(|(n, _)| n == sec).and_then(|(_, keys)| keys.iter().find(|(n, _)| n == k)).map(|x| &x.1)
    };
    // What to print: sections of (key, value, commented).
    let shown_tree: Shown = match kind {
        ConfigType::Current => current
            .iter()
            .map(|(n, keys)| (n.clone(), keys.iter().map(|(k, v)| (k.clone(), shown(v, true), false)).collect()))
            .collect(),
        ConfigType::Default => defaults
            .iter()
            .map(|(n, keys)| (n.clone(), keys.iter().map(|(k, v)| (k.clone(), shown(v, false), true)).collect()))
            .collect(),
        ConfigType::Diff => current
            .iter()
            .map(|(n, keys)| {
                let keys = keys
                    .iter()
                    .filter(|(k, v)| default_of(n, k).is_some_and(|d| !same(d, v)))
                    .map(|(k, v)| (k.clone(), shown(v, true), false))
                    .collect();
                (n.clone(), keys)
            })
            .filter(|(_, keys): &(String, Vec<_>)| !keys.is_empty())
            .collect(),
        ConfigType::Full => defaults
            .iter()
            .map(|(n, keys)| {
                let keys = keys
                    .iter()
                    .map(|(k, d)| {
                        let cur =
                            current.iter().find(|(c, _)| c == n).and_then(|(_, ks)| ks.iter().find(|(c, _)| c == k));
                        (k.clone(), cur.map_or_else(|| shown(d, true), |(_, v)| shown(v, true)), false)
                    })
                    .collect();
                (n.clone(), keys)
            })
            .collect(),
    };
    let line = |k: &str, v: &str, commented: bool| format!("{}{k}={v}", if commented { "# " } else { "" });
    if nodes.is_empty() {
        for (n, keys) in &shown_tree {
            s.report.print_raw(&format!("{n} {{"));
            for (k, v, c) in keys {
                s.report.print_raw(&format!("\t{}", line(k, v, *c)));
            }
            s.report.print_raw("}");
        }
        return Ok(0);
    }
    for node in nodes {
        let (sec, key) = match node.trim_matches('/').split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (node.trim_matches('/'), None),
        };
        let found = shown_tree.iter().find(|(n, _)| n == sec);
        let not_found = || LvmError::NotFound(format!("Configuration node {node} not found"));
        match key {
            None => {
                let Some((n, keys)) = found else { return Err(not_found()) };
                s.report.print_raw(&format!("{n} {{"));
                for (k, v, c) in keys {
                    s.report.print_raw(&format!("\t{}", line(k, v, *c)));
                }
                s.report.print_raw("}");
            }
            Some(k) => match found.and_then(|(_, keys)| keys.iter().find(|(n, ..)| n == k)) {
                Some((k, v, c)) => s.report.print_raw(&line(k, v, *c)),
                // A known setting with no default: nothing, as LVM.
                None if kind == ConfigType::Default && known(sec, Some(k)) => {}
                None => return Err(not_found()),
            },
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_lvm_order_keeps_the_first_section_and_reverses_the_rest() {
        let s = sections("devices { a = 1 }\nactivation { b = 2 }\nglobal { c = 3 }\nbackup { d = 4 }").unwrap();
        let names: Vec<String> = lvm_order(s).into_iter().map(|x| x.0).collect();
        assert_eq!(names, ["devices", "backup", "global", "activation"]);
    }

    #[test]
    fn test_values_print_as_lvm_prints_them() {
        let s = sections("devices { scan = [ \"/dev\" ] filter = [ \"a|x|\", \"r|.*|\" ] n = 0 }").unwrap();
        let v: Vec<String> = s[0].1.iter().map(|(_, v)| shown(v, true)).collect();
        assert_eq!(v, ["\"/dev\"", "[\"a|x|\", \"r|.*|\"]", "0"]);
        assert!(same(&s[0].1[0].1, &Value::Str("/dev".into())));
    }
}
