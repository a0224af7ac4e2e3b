//! The devices commands see without the devices file
//! (`devices/use_devicesfile = 0`), as LVM 2.03 scans then: the block
//! devices under the `devices/scan` directories (LVM's default, `/dev`),
//! and ulvm's file PVs, the `file` entries of its devices file (files are
//! under no scan directory, and the devices file is how ulvm knows them),
//! each kept when `devices/global_filter` and then `devices/filter`
//! accept its name.
//!
//! Block devices are found by walking the directories without following
//! symbolic links (`/dev/disk/by-*` aliases are not seen twice), one name
//! per device (the first in the walk, a directory's devices before its
//! subdirectories), in the order of their device numbers as LVM's device
//! cache keeps them. `$ULVM_DEV_DIR` stands for `/dev` at the start of a
//! scan directory (a test's private device directory).

use crate::system::{Config, DevicesFile};
use crate::FormatError;
use regex_automata::meta::Regex;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// LVM's device filter: `a|regex|` accepts and `r|regex|` rejects the
/// names that match (any character may stand for `|`); the first pattern
/// that matches a name decides, and a name none matches is accepted.
#[derive(Debug, Clone)]
pub struct Filter(Vec<(bool, Regex)>);

impl Filter {
    pub fn parse(patterns: &[String]) -> Result<Filter, FormatError> {
        let bad = |p: &str| FormatError(format!("Invalid filter pattern \"{p}\"."));
        let rules = patterns
            .iter()
            .map(|p| {
                let accept = match p.chars().next() {
                    Some('a') => true,
                    Some('r') => false,
                    _ => return Err(bad(p)),
                };
                let rest = &p[1..];
                let delim = rest.chars().next().ok_or_else(|| bad(p))?;
                let body = &rest[delim.len_utf8()..];
                let end = body.rfind(delim).ok_or_else(|| bad(p))?;
                let re = Regex::new(&body[..end]).map_err(|_| bad(p))?;
                Ok((accept, re))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter(rules))
    }

    pub fn accepts(&self, name: &str) -> bool {
        self.0.iter().find(|(_, re)| re.is_match(name)).is_none_or(|(accept, _)| *accept)
    }
}

/// The directory standing for `/dev` (`$ULVM_DEV_DIR`, else `/dev`).
fn dev_dir() -> PathBuf {
    std::env::var_os("ULVM_DEV_DIR").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| "/dev".into())
}

/// A scan directory with `/dev` at its start standing for [`dev_dir`].
fn scan_dir(dir: &str) -> PathBuf {
    match dir.strip_prefix("/dev") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => dev_dir().join(rest.trim_start_matches('/')),
        _ => PathBuf::from(dir),
    }
}

/// The block devices under `dir` as (device number, name), one name per
/// device.
fn walk(dir: &Path, out: &mut Vec<(u64, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    let mut subdirs = Vec::new();
    for p in entries {
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        if m.file_type().is_block_device() {
            if !out.iter().any(|(rdev, _)| *rdev == m.rdev()) {
                out.push((m.rdev(), p));
            }
        } else if m.is_dir() {
            subdirs.push(p);
        }
    }
    for d in subdirs {
        walk(&d, out);
    }
}

/// The devices a command sees without the devices file, in order.
pub fn scanned(config: &Config, df: &DevicesFile) -> Result<Vec<PathBuf>, FormatError> {
    let global = Filter::parse(&config.global_filter)?;
    let filter = Filter::parse(&config.filter)?;
    let mut found = Vec::new();
    for d in &config.scan {
        walk(&scan_dir(d), &mut found);
    }
    found.sort_by_key(|(rdev, _)| *rdev);
    let files = df
        .entries
        .iter()
        .filter(|e| std::fs::symlink_metadata(&e.path).is_ok_and(|m| m.is_file()))
        .map(|e| e.path.clone());
    Ok(found
        .into_iter()
        .map(|(_, p)| p)
        .chain(files)
        .filter(|p| p.to_str().is_some_and(|n| global.accepts(n) && filter.accepts(n)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_filter_first_matching_pattern_decides_and_unmatched_names_pass() {
        let f = Filter::parse(&["a|^/dev/loop1$|".into(), "r|loop|".into(), "r#/dev/sd.*#".into()]).unwrap();
        assert!(f.accepts("/dev/loop1"));
        assert!(!f.accepts("/dev/loop12"));
        assert!(!f.accepts("/dev/sda"));
        assert!(f.accepts("/dev/vda"));
        assert!(Filter::parse(&[]).unwrap().accepts("/x"));
        assert!(Filter::parse(&["x|a|".into()]).is_err());
        assert!(Filter::parse(&["a|a".into()]).is_err());
    }

    #[test]
    fn test_scan_directories_under_dev_follow_ulvm_dev_dir() {
        assert_eq!(scan_dir("/devices"), PathBuf::from("/devices"));
        assert_eq!(scan_dir("/tmp/x"), PathBuf::from("/tmp/x"));
        assert!(scan_dir("/dev/mapper").ends_with("mapper"));
    }
}
