//! The kernel oracle (`../shared/oracle`): a throw-away VM with the real
//! Debian kernel, dmsetup and LVM2, for interop tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The oracle's directory when it is set up. Otherwise `None` after
/// printing why, or a panic when `ULVM_REQUIRE_ORACLE=1` (CI).
pub fn oracle_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ULVM_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/oracle"));
    let cache = std::env::var_os("ORACLE_CACHE").map(PathBuf::from).unwrap_or_else(|| "/var/tmp/oracle".into());
    if dir.join("run-in-vm.sh").exists() && cache.join("initramfs.cpio").exists() {
        return Some(dir);
    }
    if std::env::var("ULVM_REQUIRE_ORACLE").as_deref() == Ok("1") {
        panic!("oracle not set up (run ../shared/oracle/setup.sh) but ULVM_REQUIRE_ORACLE=1");
    }
    eprintln!("skipping: the kernel oracle is not set up (../shared/oracle/setup.sh)");
    None
}

/// Runs `script` in the VM with `disks` as vda, vdb, ...; writes the
/// script to `work/guest.sh`; returns stdout, panicking on failure.
pub fn run_vm(oracle: &Path, work: &Path, disks: &[&Path], script: &str) -> String {
    let sp = work.join("guest.sh");
    std::fs::write(&sp, script).unwrap();
    let mut cmd = Command::new(oracle.join("run-in-vm.sh"));
    for d in disks {
        cmd.arg("-d").arg(d);
    }
    cmd.arg("-t").arg("240").arg(&sp);
    let out = cmd.output().expect("run-in-vm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "guest script failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A scratch directory for one oracle test, removed when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// Creates `ulvm-oracle-<name>-<pid>` in the temporary directory, empty.
    pub fn new(name: &str) -> ScratchDir {
        let d = std::env::temp_dir().join(format!("ulvm-oracle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        ScratchDir(d)
    }

    /// A sparse file of `mib` MiB: one of the VM's disks.
    pub fn image(&self, name: &str, mib: u64) -> PathBuf {
        let p = self.0.join(name);
        std::fs::File::create(&p).unwrap().set_len(mib << 20).unwrap();
        p
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
