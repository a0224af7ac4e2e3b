# Helpers the benchmark scripts share; source it, don't run it.

# need TOOL...: exits with a message naming the first tool not installed.
need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "$0: $t is not installed" >&2; exit 1; }
  done
}

# build_ulvm: builds the release binary and sets ULVM to it.
build_ulvm() {
  cargo build --release -q -p ulvm
  ULVM=$PWD/target/release/ulvm
}

# workdir BASE PREFIX: sets W to a fresh directory under BASE. On exit,
# every process in PIDS is killed and W is removed.
workdir() {
  W=$(mktemp -d "$1/$2.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}

# wait_sock PATH: waits up to 5 s for a unix socket to appear.
wait_sock() {
  for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
  echo "no socket $1" >&2
  exit 1
}

# start_daemon: a ulvm daemon on "$W/run" (log in "$W/daemon.log"), up once
# its control and NBD sockets are; stop_daemon stops it; DM runs dmsetup
# against it.
start_daemon() {
  rm -rf "$W/run"
  "$ULVM" daemon --run-dir "$W/run" --log warn 2>>"$W/daemon.log" & DAEMON=$!
  wait_sock "$W/run/control.sock"; wait_sock "$W/run/nbd.sock"
}
stop_daemon() { kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; }
DM() { "$ULVM" dmsetup --run-dir "$W/run" "$@"; }

# median: the median of the numbers on stdin, rounded to a whole number.
median() { python3 -c 'import sys; v=sorted(float(x) for x in sys.stdin.read().split()); print("%.0f" % v[len(v)//2])'; }

# fio_stats: fio's JSON output (the nbd engine prints a line before it) on
# stdin -> "IOPS MiB/s" of the first job, reads and writes together.
fio_stats() {
  python3 -c 'import json,sys
t = sys.stdin.read(); j = json.loads(t[t.index("{"):])["jobs"][0]; r, w = j["read"], j["write"]
print("%.0f %.1f" % (r["iops"] + w["iops"], (r["bw_bytes"] + w["bw_bytes"]) / 2**20))'
}
