//! `lvmconfig` (`lvm dumpconfig`, `lvm config`): the settings of ulvm's
//! lvm.conf with a command's `--config` applied (`--type current`), LVM
//! 2.03.16's defaults of all its settings (`--type default`), the settings
//! that differ from those (`--type diff`), and the defaults with the
//! current settings merged over them (`--type full`), printed as LVM
//! prints config trees.
//!
//! LVM's settings, their defaults and their order are a table
//! (`lvm_settings.tsv`) that `scripts/lvm-settings.py` wrote from the real
//! LVM 2.03.16: facts about LVM, not the settings ulvm acts on (those are
//! read by [`crate::system::Config`] with ulvm's own defaults); paths under
//! `/etc/lvm` are ulvm's system directory (`{dir}` in the table).

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

/// One row of LVM's settings table (`lvm_settings.tsv`).
struct Row {
    section: bool,
    path: &'static str,
    /// `d`: printed by `--type default`, `c`: a section it prints
    /// commented out, `f`: printed by `--type full`, `l`: named by
    /// `--type list` (known, so asking for it without a value prints
    /// nothing).
    flags: &'static str,
    /// The default as LVM prints it (`{dir}`: the system directory).
    value: &'static str,
}

/// The rows of the table, in LVM's order.
fn rows() -> impl Iterator<Item = Row> {
    include_str!("lvm_settings.tsv").lines().filter(|l| !l.starts_with('#')).filter_map(|l| {
        let mut f = l.splitn(4, '\t');
        let (kind, path, flags, value) = (f.next()?, f.next()?, f.next()?, f.next().unwrap_or(""));
        Some(Row { section: kind == "section", path, flags, value })
    })
}

/// A node of a printed config tree.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    name: String,
    /// Printed behind `# ` (as `--type default` prints).
    commented: bool,
    body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    /// A setting's value as printed.
    Value(String),
    Section(Vec<Node>),
}

impl Node {
    fn section(name: &str, commented: bool, children: Vec<Node>) -> Node {
        Node { name: name.to_string(), commented, body: Body::Section(children) }
    }

    fn setting(name: &str, commented: bool, value: String) -> Node {
        Node { name: name.to_string(), commented, body: Body::Value(value) }
    }

    fn children_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.body {
            Body::Section(c) => Some(c),
            Body::Value(_) => None,
        }
    }

    /// The lines of the node, `depth` tabs in.
    #[cfg(test)]
    fn lines(&self, depth: usize, out: &mut Vec<String>) {
        self.lines_at(depth, None, out);
    }

    /// The lines of the node, `depth` tabs in; with `comments` (the path
    /// of the section it is in, `""` at the top), each node is preceded
    /// by a blank line, its path and ulvm's description of it
    /// (`--withcomments`).
    fn lines_at(&self, depth: usize, comments: Option<&str>, out: &mut Vec<String>) {
        let tabs = "\t".repeat(depth);
        let lead = format!("{tabs}{}", if self.commented { "# " } else { "" });
        let path = comments.map(|parent| match parent {
            "" => self.name.clone(),
            p => format!("{p}/{}", self.name),
        });
        if let Some(path) = &path {
            let what = if matches!(self.body, Body::Section(_)) { "section" } else { "option" };
            out.push(String::new());
            out.push(format!("{tabs}# Configuration {what} {path}."));
            if let Some(d) = description(path) {
                out.push(format!("{tabs}# {d}"));
            }
        }
        match &self.body {
            Body::Value(v) => out.push(format!("{lead}{}={v}", self.name)),
            Body::Section(children) => {
                out.push(format!("{lead}{} {{", self.name));
                for c in children {
                    c.lines_at(depth + 1, path.as_deref(), out);
                }
                out.push(format!("{lead}}}"));
            }
        }
    }
}

/// ulvm's own one-line descriptions of the settings it acts on, for
/// `--withcomments` (LVM's descriptions are its documentation, which
/// ulvm does not copy; other settings get their path only).
const DESCRIPTIONS: &[(&str, &str)] = &[
    ("devices", "Which devices commands look at."),
    ("devices/scan", "Directories whose block devices are scanned when the devices file is not used."),
    ("devices/use_devicesfile", "1: commands see only the devices file's devices; 0: they scan (ulvm's default is 1)."),
    ("devices/filter", "Accept (a|re|) or reject (r|re|) scanned devices by name; the first match decides."),
    ("devices/global_filter", "As filter, applied before it."),
    ("backup", "Copies of each VG's metadata kept in the system directory."),
    ("backup/backup", "1: write backup/VG after every metadata change."),
    ("backup/archive", "1: keep each replaced metadata version in archive/."),
    ("global", "Settings of every command."),
    ("global/units", "Default --units of reports and displays."),
    ("global/event_activation", "1: pvscan --cache and -aay activate LVs as their PVs appear."),
    ("global/mirror_segtype_default", "What -m N makes without --type: raid1 or mirror."),
    ("activation", "How LVs are activated and kept."),
    ("activation/volume_list", "When set, only the LVs it names (vg, vg/lv, @tag) may be activated."),
    ("activation/auto_activation_volume_list", "When set, only the LVs it names are autoactivated (-aay)."),
    ("activation/snapshot_autoextend_threshold", "Percent full at which the daemon extends a snapshot (100: never)."),
    ("activation/snapshot_autoextend_percent", "How much a snapshot grows, in percent of its size."),
    ("activation/mirror_image_fault_policy", "What the daemon does with a failed mirror image: remove or allocate."),
    (
        "activation/raid_fault_policy",
        "What lvconvert --repair --use-policies does with a failed raid image: warn or allocate.",
    ),
    ("activation/activation_mode", "Whether a raid LV missing legs is activated: complete, degraded or partial."),
    ("tags", "Tags of this host, for @tag in activation lists."),
    ("tags/hosttags", "1: the host's name is one of its tags."),
];

/// ulvm's description of the setting or section at `path`.
fn description(path: &str) -> Option<&'static str> {
    DESCRIPTIONS.iter().find(|(p, _)| *p == path).map(|(_, d)| *d)
}

/// The node at `path` (`a/b/c`) of a forest.
fn find<'n>(forest: &'n [Node], path: &str) -> Option<&'n Node> {
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    let mut node = forest.iter().find(|n| Some(n.name.as_str()) == parts.clone().next())?;
    parts.next();
    for p in parts {
        let Body::Section(children) = &node.body else { return None };
        node = children.iter().find(|n| n.name == p)?;
    }
    Some(node)
}

/// The tree of the table's rows with `flag` (`d` or `f`), commented as
/// `--type default` prints when `default`.
fn table_tree(flag: char, default: bool, dir: &str) -> Vec<Node> {
    let mut forest: Vec<Node> = Vec::new();
    for row in rows().filter(|r| r.flags.contains(flag)) {
        let (parent, name) = match row.path.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, row.path),
        };
        let node = if row.section {
            Node::section(name, default && row.flags.contains('c'), Vec::new())
        } else {
            Node::setting(name, default, row.value.replace("{dir}", dir))
        };
        let parents: Vec<&str> = parent.map(|p| p.split('/').collect()).unwrap_or_default();
        place(&mut forest, &parents, node);
    }
    forest
}

/// Puts `node` last in the section at `parents` of a forest (or last in
/// the forest if there is no such section).
fn place(forest: &mut Vec<Node>, parents: &[&str], node: Node) {
    let Some((first, rest)) = parents.split_first() else { return forest.push(node) };
    match forest.iter_mut().find(|n| n.name == *first).and_then(Node::children_mut) {
        Some(children) => place(children, rest, node),
        None => forest.push(node),
    }
}

/// LVM's default of `section/key` as a value, if it has one.
fn default_of(section: &str, key: &str, dir: &str) -> Option<Value<'static>> {
    let path = format!("{section}/{key}");
    let row = rows().find(|r| !r.section && r.path == path && !r.value.is_empty())?;
    let text = format!("{key} = {}", row.value.replace("{dir}", dir));
    let tree = Tree::parse(&text).ok()?;
    match tree.0.into_iter().next()?.into_owned() {
        Item::Assign(_, v) => Some(v),
        Item::Section(..) => None,
    }
}

/// A setting LVM names (`--type list`) that has no default.
fn listed(path: &str) -> bool {
    let path = path.trim_matches('/');
    rows().any(|r| !r.section && r.path == path && r.flags.contains('l'))
}

/// `--type full`: LVM's settings with the current ones merged over them,
/// section by section in the current settings' order. As LVM 2.03.16
/// merges, a current setting is taken out of its place among the defaults
/// and put back second in its section; settings LVM does not know are
/// left out.
fn merge_full(mut full: Vec<Node>, current: &Sections) -> Vec<Node> {
    for (sec, keys) in current {
        let Some(children) = full.iter_mut().find(|n| n.name == *sec).and_then(Node::children_mut) else { continue };
        for (k, v) in keys {
            let Some(at) = children.iter().position(|n| n.name == *k && matches!(n.body, Body::Value(_))) else {
                continue;
            };
            children.remove(at);
            children.insert(children.len().min(1), Node::setting(k, false, shown(v, true)));
        }
    }
    full
}

/// lvm.conf's settings with a `--config` merged over them as LVM merges
/// a command's config into the file's for `--type full` and `diff`: a
/// setting the file has keeps its place, a new one goes second in its
/// section.
fn cascade(file: Sections, over: Sections) -> Sections {
    let mut out = file;
    for (sec, keys) in over {
        let at = match out.iter().position(|(n, _)| *n == sec) {
            Some(i) => i,
            None => {
                out.push((sec, Vec::new()));
                out.len() - 1
            }
        };
        let section = &mut out[at].1;
        for (k, v) in keys {
            match section.iter_mut().find(|(n, _)| *n == k) {
                Some(e) => e.1 = v,
                None => section.insert(section.len().min(1), (k, v)),
            }
        }
    }
    out
}

/// `lvmconfig [--type T] [--withcomments] [NODE...]`: the exit status is
/// LVM's. With `comments` every setting and section is preceded by its
/// path and ulvm's description of it (ulvm's, not LVM's text).
pub fn lvmconfig(s: &mut Session, kind: ConfigType, nodes: &[String], comments: bool) -> Result<i32, LvmError> {
    let dir = s.sd.root().display().to_string();
    let file = std::fs::read_to_string(s.sd.config_file()).unwrap_or_default();
    let over = match s.config_override_text() {
        Some(o) => Some(sections(&o)?),
        None => None,
    };
    let as_nodes = |secs: &Sections| -> Vec<Node> {
        secs.iter()
            .map(|(n, keys)| {
                Node::section(n, false, keys.iter().map(|(k, v)| Node::setting(k, false, shown(v, true))).collect())
            })
            .collect()
    };
    let tree: Vec<Node> = match kind {
        ConfigType::Default => table_tree('d', true, &dir),
        ConfigType::Full => {
            merge_full(table_tree('f', false, &dir), &cascade(sections(&file)?, over.unwrap_or_default()))
        }
        ConfigType::Current | ConfigType::Diff => {
            // LVM 2.03.16 prints a command's --config alone as the current
            // settings, and diffs them merged over the file's (in the
            // file's order).
            let mut current = match (over, kind) {
                (Some(over), ConfigType::Current) => over,
                (Some(over), _) => cascade(sections(&file)?, over),
                (None, _) => lvm_order(sections(&file)?),
            };
            if kind == ConfigType::Diff {
                for (n, keys) in &mut current {
                    keys.retain(|(k, v)| default_of(n, k, &dir).is_some_and(|d| !same(&d, v)));
                }
                current.retain(|(_, keys)| !keys.is_empty());
            }
            as_nodes(&current)
        }
    };
    let mut out = Vec::new();
    let print = |n: &Node, parent: &str, out: &mut Vec<String>| n.lines_at(0, comments.then_some(parent), out);
    if nodes.is_empty() {
        for n in &tree {
            print(n, "", &mut out);
        }
    }
    for node in nodes {
        let parent = node.trim_matches('/').rsplit_once('/').map_or("", |(p, _)| p);
        match find(&tree, node) {
            Some(n) => print(n, parent, &mut out),
            // A setting LVM knows without a default: nothing, as LVM.
            None if matches!(kind, ConfigType::Default | ConfigType::Full) && listed(node) => {}
            None => return Err(LvmError::NotFound(format!("Configuration node {node} not found"))),
        }
    }
    for l in out {
        s.report.print_raw(&l);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lvmconfig --type full backup` as LVM 2.03.16 printed it with
    /// `backup { backup = 1 archive = 0 }` in lvm.conf and the given
    /// `--config` (the keys in its order).
    fn full_backup(over: &str) -> Vec<String> {
        let file = sections("backup {\nbackup = 1\narchive = 0\nnosuch = 3\n}\nnosuch { a = 1 }").unwrap();
        let over = if over.is_empty() { Vec::new() } else { sections(over).unwrap() };
        let full = merge_full(table_tree('f', false, "/etc/lvm"), &cascade(file, over));
        let mut out = Vec::new();
        find(&full, "backup").unwrap().lines(0, &mut out);
        out.into_iter().filter(|l| l.starts_with('\t')).map(|l| l[1..].to_string()).collect()
    }

    #[test]
    fn test_full_puts_current_settings_second_in_their_section_as_lvm() {
        let dirs = |v: &[&str]| v.iter().map(|s| s.replace("DIR", "\"/etc/lvm")).collect::<Vec<_>>();
        assert_eq!(
            full_backup(""),
            dirs(&[
                "backup_dir=DIR/backup\"",
                "archive=0",
                "backup=1",
                "archive_dir=DIR/archive\"",
                "retain_min=10",
                "retain_days=30"
            ])
        );
        assert_eq!(
            full_backup("backup/retain_min=7"),
            dirs(&[
                "backup_dir=DIR/backup\"",
                "archive=0",
                "retain_min=7",
                "backup=1",
                "archive_dir=DIR/archive\"",
                "retain_days=30"
            ])
        );
        assert_eq!(
            full_backup("backup { retain_min=7 backup=0 }"),
            dirs(&[
                "backup_dir=DIR/backup\"",
                "archive=0",
                "retain_min=7",
                "backup=0",
                "archive_dir=DIR/archive\"",
                "retain_days=30"
            ])
        );
    }

    #[test]
    fn test_default_prints_advanced_sections_and_subsections_commented() {
        let tree = table_tree('d', true, "/etc/lvm");
        let lines = |path: &str| {
            let mut out = Vec::new();
            find(&tree, path).unwrap().lines(0, &mut out);
            out
        };
        assert_eq!(lines("tags"), ["# tags {", "\t# hosttags=0", "\t# tag {", "\t# }", "# }"]);
        assert_eq!(lines("allocation/cache_settings"), ["# cache_settings {", "# }"]);
        assert_eq!(lines("local"), ["local {", "\t# system_id=\"\"", "\t# host_id=0", "}"]);
        assert!(find(&tree, "devices/cache").is_none() && !listed("devices/cache"));
        assert!(find(&table_tree('f', false, "/x"), "devices/cache").is_some());
        assert!(listed("activation/volume_list") && find(&tree, "activation/volume_list").is_none());
    }

    #[test]
    fn test_withcomments_gives_each_node_its_path_and_ulvms_description() {
        let tree = table_tree('d', true, "/etc/lvm");
        let mut out = Vec::new();
        find(&tree, "backup/backup").unwrap().lines_at(0, Some("backup"), &mut out);
        assert_eq!(
            out,
            [
                "",
                "# Configuration option backup/backup.",
                "# 1: write backup/VG after every metadata change.",
                "# backup=1"
            ]
        );
        out.clear();
        find(&tree, "backup/retain_min").unwrap().lines_at(1, Some("backup"), &mut out);
        assert_eq!(out, ["", "\t# Configuration option backup/retain_min.", "\t# retain_min=10"]);
        // Every description is of a node LVM has.
        for (path, _) in DESCRIPTIONS {
            assert!(rows().any(|r| r.path == *path), "{path}");
        }
    }

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
