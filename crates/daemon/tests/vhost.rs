//! The daemon's vhost-user-blk exports with libblkio as the frontend:
//! control requests, the open count, suspend, the socket directory.

#[path = "../../vhost/tests/common/client.rs"]
mod client;

use client::Client;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ulvm_daemon::control::ControlClient;
use ulvm_daemon::proto::{ErrorKind, Info, Reply, Request, Response};
use ulvm_daemon::{Daemon, DaemonConfig};
use ulvm_testkit::stamped;

const MIB: u64 = 1 << 20;

struct Env {
    dir: PathBuf,
    daemon: Option<Daemon>,
    ctl: ControlClient,
}

impl Env {
    fn new(name: &str, vhost_dir: bool) -> Env {
        let dir = std::env::temp_dir().join(format!("ulvm-dvhost-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = DaemonConfig {
            run_dir: dir.join("run"),
            nbd_listen: None,
            socket_mode: 0o600,
            merge_batch: 1 << 20,
            fuse_dir: None,
            fuse_io_uring: false,
            attach_loop: false,
            system_dir: None,
            freeze_hook: None,
            autoactivate: false,
            mirror_resync_percent: 100,
            vhost_user_dir: vhost_dir.then(|| dir.join("vhost")),
        };
        let daemon = Daemon::start(&cfg).unwrap();
        let ctl = ControlClient::connect(&dir.join("run/control.sock")).unwrap();
        Env { dir, daemon: Some(daemon), ctl }
    }

    fn call(&mut self, req: Request) -> Result<Reply, (ErrorKind, String)> {
        match self.ctl.call(&req).unwrap() {
            Response::Ok(r) => Ok(r),
            Response::Error(e) => Err((e.kind, e.message)),
        }
    }

    /// A linear device over a new `mib` MiB file.
    fn linear(&mut self, name: &str, mib: u64) -> PathBuf {
        let img = self.dir.join(format!("{name}.img"));
        std::fs::File::create(&img).unwrap().set_len(mib * MIB).unwrap();
        let table = format!("0 {} linear {} 0", mib * MIB / 512, img.display());
        self.call(Request::Create {
            name: name.into(),
            uuid: None,
            table: Some(table),
            read_only: false,
            direct_io: false,
        })
        .unwrap();
        img
    }

    fn info(&mut self, name: &str) -> Info {
        match self.call(Request::Info { name: Some(name.into()) }).unwrap() {
            Reply::Info { mut devices } => devices.remove(0),
            other => panic!("{other:?}"),
        }
    }

    fn export(&mut self, name: &str, queues: u16) -> PathBuf {
        let sock = self.dir.join(format!("{name}.vhost.sock"));
        let r = self.call(Request::VhostExport {
            name: name.into(),
            socket: Some(sock.to_string_lossy().into()),
            num_queues: Some(queues),
        });
        match r.unwrap() {
            Reply::VhostExports { exports } => assert_eq!(Path::new(&exports[0].socket), sock),
            other => panic!("{other:?}"),
        }
        sock
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
    t.elapsed()
}

#[test]
fn test_vhost_client_counts_as_open_and_blocks_remove_until_it_disconnects() {
    let mut env = Env::new("open", false);
    let img = env.linear("lv0", 16);
    let sock = env.export("lv0", 2);
    assert_eq!(env.info("lv0").open_count, 0, "a listening socket is no open");
    let mut c = Client::connect(&sock, 2, false, 2 << 20).unwrap();
    assert_eq!(c.capacity, 16 * MIB);
    let data = stamped(1 << 20, 4, 0);
    c.write(0, 3 * MIB, &data).unwrap();
    c.flush(1).unwrap();
    assert!(c.read(1, 3 * MIB, 1 << 20).unwrap() == data);
    // The flush reached the file.
    let on_disk = std::fs::read(&img).unwrap();
    assert!(on_disk[3 * MIB as usize..4 * MIB as usize] == data[..]);
    assert_eq!(env.info("lv0").open_count, 1);
    let e = env.call(Request::Remove { name: "lv0".into(), force: false }).unwrap_err();
    assert_eq!(e.0, ErrorKind::Busy, "{e:?}");
    drop(c);
    let took = wait_until("the open is released", || env.info("lv0").open_count == 0);
    assert!(took < Duration::from_millis(500), "released after {took:?}");
    env.call(Request::Remove { name: "lv0".into(), force: false }).unwrap();
    // The export went with its device.
    wait_until("the socket is removed", || !sock.exists());
    match env.call(Request::VhostList).unwrap() {
        Reply::VhostExports { exports } => assert!(exports.is_empty(), "{exports:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_vhost_io_waits_while_the_device_is_suspended() {
    let mut env = Env::new("suspend", false);
    env.linear("lv0", 8);
    let sock = env.export("lv0", 1);
    let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
    c.write(0, 0, &stamped(4096, 1, 0)).unwrap();
    env.call(Request::Suspend { name: "lv0".into(), nolockfs: true }).unwrap();
    // Submit a write and watch it not complete while suspended.
    let data = stamped(4096, 2, 0);
    c.buf()[..4096].copy_from_slice(&data);
    let p = c.region.addr as *const u8;
    c.queues[0].write(8192, p, 4096, 7, blkio::ReqFlags::empty());
    let mut done: [std::mem::MaybeUninit<blkio::Completion>; 1] = [std::mem::MaybeUninit::uninit()];
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(300) {
        assert_eq!(c.queues[0].do_io(&mut done, 0, None, None).unwrap(), 0, "a write completed while suspended");
        std::thread::sleep(Duration::from_millis(5));
    }
    env.call(Request::Resume { name: "lv0".into() }).unwrap();
    let t = Instant::now();
    while c.queues[0].do_io(&mut done, 0, None, None).unwrap() == 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "the write did not complete after resume");
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: do_io filled one completion.
    assert_eq!(unsafe { done[0].assume_init_ref() }.ret, 0);
    assert!(c.read(0, 8192, 4096).unwrap() == data);
}

#[test]
fn test_vhost_user_dir_follows_create_rename_and_remove() {
    let mut env = Env::new("dir", true);
    let vdir = env.dir.join("vhost");
    env.linear("a", 4);
    let sock = vdir.join("a.sock");
    assert!(sock.exists(), "created with its device");
    let mut c = Client::connect(&sock, 1, false, 1 << 20).unwrap();
    c.write(0, 0, &stamped(4096, 9, 0)).unwrap();
    env.call(Request::Rename { name: "a".into(), new_name: "b".into() }).unwrap();
    assert!(vdir.join("b.sock").exists() && !sock.exists(), "renamed with its device");
    // The frontend stayed connected through the rename.
    assert!(c.read(0, 0, 4096).unwrap() == stamped(4096, 9, 0));
    assert_eq!(env.info("b").open_count, 1);
    drop(c);
    wait_until("the open is released", || env.info("b").open_count == 0);
    // Stopped on request, and not made again until the device goes.
    env.call(Request::VhostStop { name: "b".into(), socket: None }).unwrap();
    assert!(!vdir.join("b.sock").exists());
    env.linear("c", 4);
    assert!(!vdir.join("b.sock").exists() && vdir.join("c.sock").exists());
    env.call(Request::Remove { name: "c".into(), force: false }).unwrap();
    assert!(!vdir.join("c.sock").exists(), "removed with its device");
}

#[test]
fn test_vhost_export_refuses_bad_requests_with_one_clear_error() {
    let mut env = Env::new("bad", false);
    env.linear("lv0", 4);
    let e =
        env.call(Request::VhostExport { name: "nope".into(), socket: Some("/tmp/x.sock".into()), num_queues: None });
    assert_eq!(e.unwrap_err().0, ErrorKind::NotFound);
    let e = env.call(Request::VhostExport { name: "lv0".into(), socket: None, num_queues: None }).unwrap_err();
    assert!(e.1.contains("--vhost-user-dir"), "{e:?}");
    let e = env.call(Request::VhostExport { name: "lv0".into(), socket: Some("rel.sock".into()), num_queues: None });
    assert!(e.unwrap_err().1.contains("not absolute"));
    let e =
        env.call(Request::VhostExport { name: "lv0".into(), socket: Some("/tmp/y.sock".into()), num_queues: Some(0) });
    assert!(e.unwrap_err().1.contains("num_queues"));
    let e = env.call(Request::VhostStop { name: "lv0".into(), socket: None }).unwrap_err();
    assert!(e.1.contains("not exported"), "{e:?}");
}
