//! The FUSE export passes a queue of direct I/O through at its depth: fio
//! submits 16 O_DIRECT reads at once with libaio on a device file, and the
//! device behind it must see several of them at the same time. Without
//! `FUSE_ASYNC_DIO` the kernel sends a file's asynchronous direct I/O one
//! request at a time, and the device sees one (as a loop device in
//! direct-I/O mode, the mounted path, did: QD16 barely faster than QD1).
//! Skips with a reason without /dev/fuse, fusermount3 or fio; CI has them.

mod common;
use common::{have, skip};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, MemDevice, Result, Sectors};
use ulvm_daemon::fuse::FuseExport;
use ulvm_dm::{Registry, RegistryConfig};

/// Counts reads in flight; each read waits (up to `HOLD`) until four are,
/// so reads sent together overlap for certain, and reads sent one at a
/// time cost `HOLD` each and never overlap.
#[derive(Debug)]
struct Overlap {
    inner: MemDevice,
    state: Mutex<(u32, u32)>,
    cond: Condvar,
}

const HOLD: Duration = Duration::from_millis(100);

impl BlockDevice for Overlap {
    fn size(&self) -> Sectors {
        self.inner.size()
    }
    fn read(&self, at: Sectors, buf: &mut [u8]) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        st.1 = st.1.max(st.0);
        self.cond.notify_all();
        let (mut st, _) = self.cond.wait_timeout_while(st, HOLD, |s| s.0 < 4).unwrap();
        st.0 -= 1;
        drop(st);
        self.inner.read(at, buf)
    }
    fn write(&self, at: Sectors, buf: &[u8]) -> Result<()> {
        self.inner.write(at, buf)
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn discard(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.inner.discard(at, len)
    }
    fn write_zeroes(&self, at: Sectors, len: Sectors) -> Result<()> {
        self.inner.write_zeroes(at, len)
    }
}

#[test]
fn test_fuse_direct_io_reaches_the_device_at_the_queue_depth() {
    if !Path::new("/dev/fuse").exists() && skip("/dev/fuse is missing")
        || !have("fusermount3") && skip("fusermount3 (Debian fuse3) is not installed")
        || !have("fio") && skip("fio is not installed")
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ulvm-fuse-async-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let reg = Arc::new(Registry::new(RegistryConfig::default()));
    let dev = Arc::new(Overlap {
        inner: MemDevice::new("mem", Sectors(8192)),
        state: Mutex::new((0, 0)),
        cond: Condvar::new(),
    });
    reg.add_device("slow", dev.clone());
    reg.create("lin", None, Some(&"0 8192 linear slow 0".parse().unwrap()), false).unwrap();
    let mnt = dir.join("devs");
    let mut fuse = FuseExport::mount(&mnt, reg.clone()).unwrap();
    let file = mnt.join("lin");
    let out = Command::new("fio")
        .args(["--name=q16", "--ioengine=libaio", "--direct=1", "--rw=randread", "--bs=4k", "--iodepth=16"])
        .args(["--size=4M", "--number_ios=64", "--output-format=terse"])
        .arg(format!("--filename={}", file.display()))
        .output()
        .unwrap();
    fuse.unmount();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "fio: {}", String::from_utf8_lossy(&out.stderr));
    let most = dev.state.lock().unwrap().1;
    assert!(most >= 4, "at most {most} of fio's 16 direct reads reached the device at once");
}
