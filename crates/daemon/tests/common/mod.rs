//! What the daemon's integration tests share: finding tools and skipping
//! with a printed reason (an error under `ULVM_REQUIRE_TOOLS=1`, as in CI).

use std::process::Command;

/// Whether `tool --version` runs and succeeds.
pub fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Prints why a test skips and returns true; panics instead when
/// `ULVM_REQUIRE_TOOLS=1` forbids skipping.
pub fn skip(why: &str) -> bool {
    if std::env::var("ULVM_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}, and ULVM_REQUIRE_TOOLS=1 forbids skipping");
    }
    eprintln!("skipping: {why}");
    true
}
