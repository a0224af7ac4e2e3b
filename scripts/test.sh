#!/usr/bin/env bash
# Runs every test: formatting, lints, unit/property/crash-replay/interop
# tests (nextest), and a short run of each fuzz target.
#
#   ULVM_FUZZ_SECONDS=N   seconds per fuzz target (default 30; 0 skips)
#   ULVM_REQUIRE_ORACLE=1 fail instead of skip when the kernel oracle
#                         (../shared/oracle) is not set up
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo nextest"
cargo nextest run --workspace --no-fail-fast

secs="${ULVM_FUZZ_SECONDS:-30}"
if [ "$secs" = 0 ]; then
  echo "== fuzz: skipped (ULVM_FUZZ_SECONDS=0)"
elif ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== fuzz: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)"
else
  for t in table_line cow_load nbd_request lvm_metadata raid_meta select; do
    echo "== fuzz $t (${secs}s)"
    # cargo-fuzz needs -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" -- -max_total_time="$secs" 2>&1 | tail -n 3)
  done
fi
echo "== all tests passed"
