//! Shared by the vhost tests: the blkio client, qemu-storage-daemon as a
//! reference server, skipping with a reason.
#![allow(dead_code)]

pub mod client;
pub mod qsd;

/// Skips a test that needs a tool, printing why; with
/// `ULVM_REQUIRE_TOOLS=1` (CI) a missing tool fails it instead.
pub fn skip(why: &str) {
    if std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
    }
    eprintln!("skipped: {why}");
}
