#!/usr/bin/env bash
# Long fuzzing runs, not part of CI: every fuzz target for a given time or
# number of executions, one after the other, with a summary line per
# target (executions, time, crashes). Crashing inputs stay in
# fuzz/artifacts/TARGET/ (libFuzzer's default); the corpus grows in
# fuzz/corpus/TARGET/.
#
#   scripts/fuzz-long.sh [--runs N | --seconds S] [TARGET...]
#
# Defaults: --runs 10000000 and every target in fuzz/Cargo.toml.
# Needs cargo-fuzz (cargo install cargo-fuzz --locked).
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-runs=10000000)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) limit=(-runs="$2"); shift 2 ;;
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "$0: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
command -v cargo-fuzz >/dev/null || { echo "$0: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2; exit 1; }
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(awk '/^\[\[bin\]\]/{b=1} b && /^name = /{gsub(/"/,"",$3); print $3; b=0}' fuzz/Cargo.toml)
fi

log=$(mktemp -d /tmp/ulvm-fuzz-long.XXXXXX)
summary=()
status=0
for t in "${targets[@]}"; do
  echo "== fuzz $t (${limit[*]})" >&2
  start=$(date +%s)
  set +e
  # cargo-fuzz needs -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --release "$t" -- "${limit[@]}" -print_final_stats=1) \
    > "$log/$t.log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  # libFuzzer's last words: "Done N runs in S second(s)" and stat::number_of_executed_units.
  runs=$(awk '/stat::number_of_executed_units:/{n=$2} /^Done [0-9]+ runs/{n=$2} END{print n+0}' "$log/$t.log")
  crashes=$( (find "fuzz/artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) -newer "$log" 2>/dev/null || true) | wc -l)
  line="$t: $runs executions in ${secs}s, exit $rc, $crashes new crash/oom/timeout/leak inputs"
  summary+=("$line")
  echo "   $line" >&2
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    tail -n 30 "$log/$t.log" >&2
  fi
done
echo "== summary (logs in $log)"
printf '%s\n' "${summary[@]}"
exit "$status"
