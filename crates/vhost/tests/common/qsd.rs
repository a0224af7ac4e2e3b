//! qemu-storage-daemon's vhost-user-blk export of a raw image: the
//! reference server.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct QsdExport {
    pub sock: PathBuf,
    pub image: PathBuf,
    dir: PathBuf,
    child: Child,
}

impl QsdExport {
    /// Exports a fresh `size`-byte image with `queues` queues; `None` when
    /// qemu-storage-daemon is not installed.
    pub fn start(name: &str, size: u64, queues: u32) -> Option<QsdExport> {
        let dir = std::env::temp_dir().join(format!("ulvm-qsd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let image = dir.join("disk.img");
        std::fs::File::create(&image).ok()?.set_len(size).ok()?;
        Self::on_image(dir, image, queues)
    }

    /// Exports an existing image file.
    pub fn on_image(dir: PathBuf, image: PathBuf, queues: u32) -> Option<QsdExport> {
        let sock = dir.join("qsd.sock");
        let _ = std::fs::remove_file(&sock);
        let child = Command::new("qemu-storage-daemon")
            .arg("--blockdev")
            .arg(format!("driver=file,node-name=file0,filename={},cache.direct=off,aio=threads", image.display()))
            .arg("--blockdev")
            .arg("driver=raw,node-name=disk0,file=file0")
            .arg("--export")
            .arg(format!(
                "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path={},writable=on,num-queues={queues}",
                sock.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let t = Instant::now();
        while !sock.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "qemu-storage-daemon did not create {}", sock.display());
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(QsdExport { sock, image, dir, child })
    }
}

impl Drop for QsdExport {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
