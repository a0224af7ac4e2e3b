//! Background jobs survive the daemon dying: the daemon is killed
//! (SIGKILL) at random points of a snapshot merge and of a clone's
//! hydration, started again, and the VG activated again; the job resumes
//! from what is on disk, the daemon's poller finishes it in the metadata,
//! and the data is right. The delays are random; the seed is printed so a
//! failure can be replayed (`ULVM_CRASH_SEED=N`).

mod common;

use common::{wait_for, Daemon, Lvm, TestDir};
use std::time::Duration;
use ulvm_blockdev::{BlockDevice, FileDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

/// A small xorshift generator: random kill points without a dependency.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("ULVM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        eprintln!("ULVM_CRASH_SEED={seed}");
        Rng(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn read_lv(d: &Daemon, dm_name: &str, len: usize) -> Vec<u8> {
    let c = NbdClient::connect_unix(&d.nbd_socket(), dm_name).unwrap();
    let mut v = vec![0u8; len];
    c.read(Sectors(0), &mut v).unwrap();
    v
}

#[test]
fn test_merge_killed_at_random_points_resumes_and_brings_back_the_snapshot() {
    let mut rng = Rng::from_env();
    let t = TestDir::new("job-crash-merge");
    let a = t.image("a.img", 128);
    let run = t.path("run");
    // Small merge steps, so that a merge takes a while and a kill lands
    // inside it.
    let daemon = |run: &std::path::Path| Daemon::start(run, &["--merge-batch", "256K"]);
    let mut d = daemon(&run);
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    lvm.ok(&["lvcreate", "-L", "48M", "-n", "base", "vg0"]);
    let len = 24 << 20;
    let pre = stamped(len, 1, 0);
    let write = |d: &Daemon, data: &[u8]| {
        let c = NbdClient::connect_unix(&d.nbd_socket(), "vg0-base").unwrap();
        c.write(Sectors(0), data).unwrap();
        c.flush().unwrap();
    };
    write(&d, &pre);
    lvm.ok(&["lvcreate", "-s", "-L", "32M", "-n", "snap", "vg0/base"]);
    write(&d, &stamped(len, 2, 0));
    lvm.ok(&["lvconvert", "--merge", "-b", "vg0/snap"]);
    let merged = |lvm: &Lvm| lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]) == "  base\n";
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        let done = merged(&lvm);
        d.crash();
        d = daemon(&run);
        eprintln!("round {round}: killed the daemon {} the merge finished", if done { "after" } else { "before" });
        // Activation resumes the merge and asks the daemon to poll it.
        lvm.ok(&["vgchange", "-ay", "vg0"]);
    }
    wait_for("the merge to finish", || merged(&lvm));
    assert!(read_lv(&d, "vg0-base", len) == pre, "the merge did not bring back the snapshot's data");
    assert_eq!(lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,lv_attr"]), "  base -wi-a-----\n");
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
}

#[test]
fn test_hydration_killed_at_random_points_resumes_and_finishes_the_clone() {
    if !common::require(common::have("nbdkit", "--version"), "nbdkit is not installed") {
        return;
    }
    let mut rng = Rng::from_env();
    let t = TestDir::new("job-crash-clone");
    let a = t.image("a.img", 128);
    let src = t.image("src.img", 32);
    let data = stamped(32 << 20, 7, 0);
    let s = FileDevice::open(&src, false).unwrap();
    s.write(Sectors(0), &data).unwrap();
    s.flush().unwrap();
    drop(s);
    // A slow remote source: every read waits, so hydration takes a while.
    let sock = t.path("src.sock");
    let mut server = common::Nbdkit::start(&sock, &src, "20ms");
    let uri = format!("nbd+unix:///?socket={}", sock.display());
    let run = t.path("run");
    let mut d = Daemon::start(&run, &[]);
    let lvm = Lvm { sys: t.path("sys"), run: &run };
    lvm.ok(&["vgcreate", "vg0", a.to_str().unwrap()]);
    lvm.ok(&["lvcreate", "--type", "clone", "--source", &uri, "--regionsize", "8k", "-n", "cl", "vg0"]);
    let plain = |lvm: &Lvm| lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name"]) == "  cl  \n";
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        let done = plain(&lvm);
        d.crash();
        d = Daemon::start(&run, &[]);
        eprintln!("round {round}: killed the daemon {} the clone finished", if done { "after" } else { "before" });
        // Debian 12's nbdkit (1.32) can abort when a client dies with reads
        // in flight ("raw_send_socket: Assertion `sock >= 0' failed"): the
        // source comes back, as a server would after a crash.
        if std::os::unix::net::UnixStream::connect(&sock).is_err() {
            eprintln!("round {round}: nbdkit died with its client; restarting it");
            drop(server);
            server = common::Nbdkit::start(&sock, &src, "20ms");
        }
        lvm.ok(&["vgchange", "-ay", "vg0"]);
    }
    // Hydration reads a source that waits 20 ms per read: under a loaded
    // CI machine (kernel VMs of other tests beside it) it can take more
    // than the usual 30 s, so the bound is wider; progress is printed.
    let mut last = String::new();
    common::wait_for_within("the clone to finish", Duration::from_secs(180), || {
        let now = lvm.ok(&["lvs", "-a", "--noheadings", "-o", "lv_name,copy_percent"]);
        if now != last {
            eprintln!("clone: {}", now.split_whitespace().collect::<Vec<_>>().join(" "));
            last = now;
        }
        plain(&lvm)
    });
    assert!(read_lv(&d, "vg0-cl", data.len()) == data, "the clone does not hold its source's data");
    lvm.ok(&["vgchange", "-an", "vg0"]);
    d.stop();
    drop(server);
}
