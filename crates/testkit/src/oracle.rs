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
    run_vm_with_files(oracle, work, disks, &[], script)
}

/// As [`run_vm`], with `files` copied into the guest as
/// `/job/files/<name>`.
pub fn run_vm_with_files(oracle: &Path, work: &Path, disks: &[&Path], files: &[&Path], script: &str) -> String {
    let sp = work.join("guest.sh");
    std::fs::write(&sp, script).unwrap();
    let mut cmd = Command::new(oracle.join("run-in-vm.sh"));
    for f in files {
        cmd.arg("-f").arg(f);
    }
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

/// dm-raid and what it needs, in load order (module, path in the kernel
/// tree). The oracle's initramfs has none of them.
const DM_RAID_MODULES: &[(&str, &str)] = &[
    ("md_mod", "drivers/md/md-mod"),
    ("raid1", "drivers/md/raid1"),
    ("libcrc32c", "lib/libcrc32c"),
    ("raid6_pq", "lib/raid6/raid6_pq"),
    ("xor", "crypto/xor"),
    ("async_tx", "crypto/async_tx/async_tx"),
    ("async_memcpy", "crypto/async_tx/async_memcpy"),
    ("async_xor", "crypto/async_tx/async_xor"),
    ("async_pq", "crypto/async_tx/async_pq"),
    ("async_raid6_recov", "crypto/async_tx/async_raid6_recov"),
    ("raid456", "drivers/md/raid456"),
    ("dm_raid", "drivers/md/dm-raid"),
];

/// Copies the dm-raid modules from the oracle's kernel package into
/// `work/mods` and returns that directory (for `run-in-vm.sh -f`, which
/// the guest sees as `/job/files/mods`) and the guest shell lines that
/// load them; `None` when the package lacks them.
pub fn dm_raid_modules(work: &Path) -> Option<(PathBuf, String)> {
    let cache = std::env::var_os("ORACLE_CACHE").map(PathBuf::from).unwrap_or_else(|| "/var/tmp/oracle".into());
    let env = std::fs::read_to_string(cache.join("oracle.env")).unwrap_or_default();
    let Some(kver) = env.lines().find_map(|l| l.strip_prefix("ORACLE_KVER=")) else {
        if std::env::var("ULVM_REQUIRE_ORACLE").as_deref() == Ok("1") {
            panic!("no ORACLE_KVER in {} but ULVM_REQUIRE_ORACLE=1", cache.join("oracle.env").display());
        }
        return None;
    };
    let tree = cache.join("kernel/root/lib/modules").join(kver).join("kernel");
    let dir = work.join("mods");
    std::fs::create_dir_all(&dir).unwrap();
    let mut load = String::new();
    for (name, rel) in DM_RAID_MODULES {
        if let Err(e) = std::fs::copy(tree.join(format!("{rel}.ko")), dir.join(format!("{name}.ko"))) {
            if std::env::var("ULVM_REQUIRE_ORACLE").as_deref() == Ok("1") {
                panic!("the oracle's kernel package lacks {rel}.ko ({e}) but ULVM_REQUIRE_ORACLE=1");
            }
            return None;
        }
        load.push_str(&format!("[ -d /sys/module/{name} ] || insmod /job/files/mods/{name}.ko\n"));
    }
    Some((dir, load))
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
