//! dm-clone through the daemon: background hydration on threads, the
//! completion event, the progress message, NBD reads while hydrating, and
//! the switch to a linear table once done.

mod common;

use common::{Daemon, TestDir};
use ulvm_blockdev::{BlockDevice, FileDevice, Sectors};
use ulvm_nbd::NbdClient;
use ulvm_testkit::stamped;

#[test]
fn test_clone_hydrates_in_the_background_and_becomes_linear() {
    let t = TestDir::new("clone");
    let (src, dst, meta) = (t.image("src.img", 16), t.image("dst.img", 16), t.image("meta.img", 4));
    let data = stamped(16 << 20, 9, 0);
    let s = FileDevice::open(&src, false).unwrap();
    s.write(Sectors(0), &data).unwrap();
    s.flush().unwrap();
    let d = Daemon::start(&t.path("run"), &[]);
    let table = format!(
        "0 32768 clone {} {} {} 64 1 no_hydration 2 hydration_batch_size 16",
        meta.display(),
        dst.display(),
        src.display()
    );
    d.ok(&["create", "cl", "--table", &table]);
    // Reads before any hydration come from the source.
    let c = NbdClient::connect_unix(&d.nbd_socket(), "cl").unwrap();
    let mut got = vec![0u8; 1 << 20];
    c.read(Sectors(2048), &mut got).unwrap();
    assert!(got[..] == data[1 << 20..2 << 20]);
    drop(c);
    let ev: u32 = d.ok(&["info", "cl"]).lines().find(|l| l.starts_with("Event number:")).unwrap()
        .split_whitespace().last().unwrap().parse().unwrap();
    d.ok(&["message", "cl", "0", "enable_hydration"]);
    d.ok(&["wait", "cl", &ev.to_string()]);
    let status = d.ok(&["status", "cl"]);
    assert!(status.contains(" 512/512 0 0 4 hydration_threshold 1 hydration_batch_size 16 rw"), "{status}");
    assert!(d.ok(&["message", "cl", "0", "progress"]).starts_with("512/512 regions hydrated"));
    assert!(std::fs::read(&dst).unwrap() == data, "the destination holds the source");
    // Done: a plain linear table onto the destination.
    d.ok(&["load", "cl", "--table", &format!("0 32768 linear {} 0", dst.display())]);
    d.ok(&["suspend", "cl"]);
    d.ok(&["resume", "cl"]);
    assert_eq!(d.ok(&["table", "cl"]).split_whitespace().nth(2), Some("linear"));
    let err = d.fails(&["message", "cl", "0", "enable_hydration"]);
    assert!(err.contains("message"), "{err}");
    d.stop();
}
