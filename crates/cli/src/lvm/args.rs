//! LVM-style option parsing: long options (`--size 8G`, `--size=8G`),
//! short options with attached or separate values (`-L8G`, `-L 8G`,
//! `-an`), clustered flags (`-ff`, `-vv`), and positional arguments in any
//! order, as LVM's commands accept them.

use anyhow::{bail, Result};

/// One option a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    pub takes_value: bool,
}

pub const fn flag(long: &'static str, short: Option<char>) -> Opt {
    Opt { long, short, takes_value: false }
}

pub const fn value(long: &'static str, short: Option<char>) -> Opt {
    Opt { long, short, takes_value: true }
}

/// Options every command accepts.
pub const COMMON: &[Opt] = &[
    flag("verbose", Some('v')),
    flag("quiet", Some('q')),
    flag("yes", Some('y')),
    flag("force", Some('f')),
    flag("help", Some('h')),
    flag("debug", Some('d')),
    flag("test", Some('t')),
    value("devices", None),
    value("devicesfile", None),
    value("system-dir", None),
    value("run-dir", None),
    value("config", None),
    value("units", None),
    flag("nosuffix", None),
];

#[derive(Debug, Default, Clone)]
pub struct Args {
    /// Options in order, by long name.
    opts: Vec<(&'static str, Option<String>)>,
    pub pos: Vec<String>,
}

impl Args {
    pub fn has(&self, long: &str) -> bool {
        self.opts.iter().any(|(l, _)| *l == long)
    }

    /// How many times a flag was given (`-ff` is 2).
    pub fn count(&self, long: &str) -> usize {
        self.opts.iter().filter(|(l, _)| *l == long).count()
    }

    /// The last value of an option.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.opts.iter().rev().find(|(l, _)| *l == long).and_then(|(_, v)| v.as_deref())
    }

    /// The options given after each `--LONG VALUE`, under that value
    /// (`lvm fullreport --configreport lv -o lv_name`); those before the
    /// first one under `None`.
    pub fn sections(&self, long: &str) -> Vec<(Option<String>, Args)> {
        let mut out = vec![(None, Args::default())];
        for (l, v) in &self.opts {
            if *l == long {
                out.push((v.clone(), Args::default()));
            } else if let Some((_, a)) = out.last_mut() {
                a.opts.push((l, v.clone()));
            }
        }
        out
    }

    /// Every value of a repeatable option (`--devices a --devices b`).
    pub fn all(&self, long: &str) -> Vec<&str> {
        self.opts.iter().filter(|(l, _)| *l == long).filter_map(|(_, v)| v.as_deref()).collect()
    }
}

/// Parses `argv` (without the command name) against the command's options
/// plus [`COMMON`].
pub fn parse(cmd: &str, specs: &[Opt], argv: &[String]) -> Result<Args> {
    let all: Vec<Opt> = specs.iter().chain(COMMON).copied().collect();
    let mut a = Args::default();
    let mut it = argv.iter();
    let mut only_pos = false;
    while let Some(arg) = it.next() {
        if only_pos || arg == "-" || !arg.starts_with('-') || is_negative_number(arg) {
            a.pos.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_pos = true;
            continue;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            // LVM accepts both spellings: --reportformat and --report-format style.
            let Some(o) = all.iter().find(|o| o.long == name || o.long.replace('-', "") == name.replace('-', ""))
            else {
                bail!("{cmd}: unrecognized option '--{name}'");
            };
            let v = if o.takes_value {
                match inline {
                    Some(v) => Some(v),
                    None => Some(
                        it.next()
                            .cloned()
                            .ok_or_else(|| anyhow::anyhow!("{cmd}: option '--{name}' requires an argument"))?,
                    ),
                }
            } else if inline.is_some() {
                bail!("{cmd}: option '--{name}' doesn't allow an argument");
            } else {
                None
            };
            a.opts.push((o.long, v));
            continue;
        }
        let chars: Vec<char> = arg[1..].chars().collect();
        let mut i = 0;
        while i < chars.len() {
            // `-?` is `-h`, as LVM takes it.
            let c = if chars[i] == '?' { 'h' } else { chars[i] };
            let Some(o) = all.iter().find(|o| o.short == Some(c)) else {
                bail!("{cmd}: invalid option -- '{c}'");
            };
            if o.takes_value {
                let rest: String = chars[i + 1..].iter().collect();
                let v = if !rest.is_empty() {
                    rest
                } else {
                    it.next().cloned().ok_or_else(|| anyhow::anyhow!("{cmd}: option requires an argument -- '{c}'"))?
                };
                a.opts.push((o.long, Some(v)));
                break;
            }
            a.opts.push((o.long, None));
            i += 1;
        }
    }
    Ok(a)
}

fn is_negative_number(s: &str) -> bool {
    s.len() > 1 && s[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    const LVCREATE: &[Opt] = &[
        value("size", Some('L')),
        value("name", Some('n')),
        value("activate", Some('a')),
        flag("snapshot", Some('s')),
    ];

    #[test]
    fn test_lvm_style_options() {
        let a = parse("lvcreate", LVCREATE, &v("-L8G -n base vg0 -an --size=+5G -ff -s")).unwrap();
        assert_eq!(a.get("size"), Some("+5G"));
        assert_eq!(a.get("name"), Some("base"));
        assert_eq!(a.get("activate"), Some("n"));
        assert_eq!(a.count("force"), 2);
        assert!(a.has("snapshot"));
        assert_eq!(a.pos, vec!["vg0"]);
        let e = parse("lvcreate", LVCREATE, &v("--bogus vg0")).unwrap_err();
        assert_eq!(e.to_string(), "lvcreate: unrecognized option '--bogus'");
        assert!(parse("lvcreate", LVCREATE, &v("-L")).is_err());
        assert!(parse("lvcreate", LVCREATE, &v("-Q")).is_err());
        assert_eq!(parse("lvcreate", LVCREATE, &v("--system-dir /x vg0")).unwrap().get("system-dir"), Some("/x"));
    }
}
