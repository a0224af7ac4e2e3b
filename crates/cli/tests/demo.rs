//! The main job end to end: `ulvm demo` on files in a temporary directory.

use std::process::Command;

#[test]
fn test_demo_runs_kernel_walkthrough_on_files() {
    let dir = std::env::temp_dir().join(format!("ulvm-demo-test-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ulvm")).args(["demo", "--dir"]).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "snap: 0 131072 snapshot 32/32768 32",
        "snap: 0 131072 snapshot 2144/32768 32",
        "chunk 7   origin: ORIGINAL DATA chunk 7        snapshot: WRITTEN TO SNAPSHOT chunk 7",
        "base: 0 131072 snapshot-merge 32/32768 32",
        "chunk 7   origin after merge: WRITTEN TO SNAPSHOT chunk 7",
    ] {
        assert!(stdout.lines().any(|l| l == want), "missing line '{want}' in:\n{stdout}");
    }
    let inspect =
        Command::new(env!("CARGO_BIN_EXE_ulvm")).arg("inspect-cow").arg(dir.join("cow.img")).output().unwrap();
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("header: magic SnAp valid=1 version=1 chunk_size=16"));
    let bad = Command::new(env!("CARGO_BIN_EXE_ulvm")).arg("inspect-cow").arg(dir.join("origin.img")).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "one clear error line: {err}");
    std::fs::remove_dir_all(dir).unwrap();
}
