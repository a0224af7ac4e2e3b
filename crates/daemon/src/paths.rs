//! Where the daemon keeps its sockets, found the same way by every ulvm
//! command: `--run-dir`, else `$ULVM_RUN_DIR`, else `/run/ulvm` as root,
//! else `$XDG_RUNTIME_DIR/ulvm` (or `/tmp/ulvm-UID` without one).

use std::path::{Path, PathBuf};

pub const CONTROL_SOCKET: &str = "control.sock";
pub const NBD_SOCKET: &str = "nbd.sock";
pub const LOCK_FILE: &str = "daemon.lock";

/// The run directory for an optional explicit choice.
pub fn run_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("ULVM_RUN_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/ulvm");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("ulvm"),
        None => PathBuf::from(format!("/tmp/ulvm-{uid}")),
    }
}

pub fn control_socket(run_dir: &Path) -> PathBuf {
    run_dir.join(CONTROL_SOCKET)
}

pub fn nbd_socket(run_dir: &Path) -> PathBuf {
    run_dir.join(NBD_SOCKET)
}
