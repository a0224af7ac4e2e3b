//! `ulvm install --prefix DIR`: the running binary to `DIR/sbin/ulvm`, the
//! command links beside it (`lvm`, `dmsetup`, `lvmlockctl` and every LVM command, each a
//! symlink to `ulvm`), and the systemd units to `DIR/lib/systemd/system`
//! (or `--unit-dir`) with their `ExecStart` naming the installed binary.
//! Every file is written beside its place and renamed over it, so running
//! it again replaces what is there, even the running binary.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct InstallArgs {
    /// Install into DIR/sbin (the binary and the command links) and
    /// DIR/lib/systemd/system (the units). DIR must be a directory.
    #[arg(long, value_name = "DIR")]
    prefix: PathBuf,
    /// Put the systemd units here instead of DIR/lib/systemd/system.
    #[arg(long, value_name = "DIR")]
    unit_dir: Option<PathBuf>,
    /// Print what would be installed; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace files in the way that ulvm did not put there, such as a real
    /// LVM's `lvm` in DIR/sbin (refused without it).
    #[arg(long)]
    force: bool,
}

/// The systemd units as in `packaging/systemd`, naming the binary
/// [`UNIT_BINARY`].
pub const UNITS: &[(&str, &str)] = &[("ulvm.service", include_str!("../../../packaging/systemd/ulvm.service"))];

/// The binary's path in the units as shipped; replaced by the installed one.
pub const UNIT_BINARY: &str = "/usr/sbin/ulvm";

/// The names linked to `ulvm` in `sbin`.
pub fn link_names() -> Vec<&'static str> {
    ["lvm", "dmsetup", "lvmlockctl"].into_iter().chain(crate::lvm::COMMANDS.iter().copied()).collect()
}

enum Step {
    /// The running binary to this path, mode 755.
    Binary(PathBuf),
    /// A symlink to `ulvm` at this path.
    Link(PathBuf),
    /// A unit file with this text, mode 644.
    Unit(PathBuf, String),
}

pub fn run(a: &InstallArgs) -> Result<()> {
    let prefix = std::path::absolute(&a.prefix).context("install: --prefix")?;
    if !prefix.is_dir() {
        let why = if prefix.exists() { "not a directory" } else { "no such directory" };
        bail!("install: --prefix {}: {why}", prefix.display());
    }
    let sbin = prefix.join("sbin");
    let unit_dir = match &a.unit_dir {
        Some(d) => std::path::absolute(d).context("install: --unit-dir")?,
        None => prefix.join("lib/systemd/system"),
    };
    let bin = sbin.join("ulvm");
    let exec = unit_path(&bin)?;
    let mut steps = vec![Step::Binary(bin.clone())];
    steps.extend(link_names().into_iter().map(|n| Step::Link(sbin.join(n))));
    steps.extend(UNITS.iter().map(|(name, text)| Step::Unit(unit_dir.join(name), text.replace(UNIT_BINARY, &exec))));

    // Check everything before changing anything.
    for dir in [&sbin, &unit_dir] {
        if dir.exists() && !dir.is_dir() {
            bail!("install: {}: not a directory", dir.display());
        }
    }
    for s in &steps {
        let (Step::Binary(p) | Step::Link(p) | Step::Unit(p, _)) = s;
        let Ok(m) = p.symlink_metadata() else { continue };
        let ours = match s {
            Step::Binary(_) | Step::Unit(..) => m.is_file() || m.is_symlink(),
            Step::Link(_) => {
                m.is_symlink() && std::fs::read_link(p).is_ok_and(|t| t.file_name() == Some("ulvm".as_ref()))
            }
        };
        if !ours && (m.is_dir() || !a.force) {
            bail!("install: {} is in the way (not ulvm's; --force replaces a file)", p.display());
        }
    }

    let exe = std::env::current_exe().context("install: finding the running binary")?;
    if a.dry_run {
        println!("mkdir -p {} {}", sbin.display(), unit_dir.display());
    } else {
        for dir in [&sbin, &unit_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("install: creating {}", dir.display()))?;
        }
    }
    for s in &steps {
        match s {
            Step::Binary(p) if a.dry_run => println!("install -m 755 {} {}", exe.display(), p.display()),
            Step::Link(p) if a.dry_run => println!("ln -sf ulvm {}", p.display()),
            Step::Unit(p, _) if a.dry_run => println!("install -m 644 {} (ExecStart={exec} ...)", p.display()),
            Step::Binary(p) => replace(p, |tmp| {
                std::fs::copy(&exe, tmp)?;
                std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755))
            })?,
            Step::Link(p) => replace(p, |tmp| std::os::unix::fs::symlink("ulvm", tmp))?,
            Step::Unit(p, text) => replace(p, |tmp| {
                std::fs::write(tmp, text)?;
                std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o644))
            })?,
        }
    }
    if !a.dry_run {
        let units: Vec<&str> = UNITS.iter().map(|(n, _)| *n).collect();
        println!(
            "Installed {} with {} command links beside it (lvm, dmsetup, lvmlockctl, pvcreate, ...), and {} in {}.",
            bin.display(),
            link_names().len(),
            units.join(", "),
            unit_dir.display()
        );
        println!("To start it at boot: systemctl daemon-reload && systemctl enable --now {}", units.join(" "));
    }
    Ok(())
}

/// Makes `path` by `make`-ing a temporary file beside it and renaming that
/// over it: a running binary or an existing link is replaced, never
/// written into, and a failure leaves the old file.
fn replace(path: &Path, make: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("ulvm");
    let tmp = path.with_file_name(format!(".{name}.ulvm-install"));
    let _ = std::fs::remove_file(&tmp);
    let r = make(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.with_context(|| format!("install: writing {}", path.display()))
}

/// The binary's path as a unit's `ExecStart` can name it: `%` doubled
/// (systemd's specifiers); a path systemd would split or unquote is refused.
fn unit_path(bin: &Path) -> Result<String> {
    let Some(s) = bin.to_str() else { bail!("install: {}: not UTF-8, units cannot name it", bin.display()) };
    if s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | ';')) {
        bail!("install: {s}: has a character systemd units cannot take unquoted; choose another --prefix");
    }
    Ok(s.replace('%', "%%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_units_name_the_binary_the_install_rewrites() {
        for (name, text) in UNITS {
            assert!(text.contains(&format!("ExecStart={UNIT_BINARY} ")), "{name}");
        }
        assert_eq!(unit_path(Path::new("/opt/100%/sbin/ulvm")).unwrap(), "/opt/100%%/sbin/ulvm");
        assert!(unit_path(Path::new("/opt/my dir/sbin/ulvm")).is_err());
    }

    #[test]
    fn test_links_are_lvm_dmsetup_and_every_lvm_command() {
        let names = link_names();
        assert!(names.contains(&"lvm") && names.contains(&"dmsetup") && names.contains(&"lvcreate"));
        assert!(names.contains(&"lvmlockctl"));
        assert_eq!(names.len(), crate::lvm::COMMANDS.len() + 3);
    }
}
