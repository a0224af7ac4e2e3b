#!/usr/bin/env bash
# A controlled comparison of first writes (4 KiB into distinct 64 KiB
# chunks, as in bench/fio-nbd.sh) between two servers, one at a time, on
# the same origin file, with the order swapped every round.
#
#   bench/first-writes-ab.sh A B [--qd 1] [--rounds 6] [--size 1024] [--dir /var/tmp]
#
# A and B are each a ulvm binary (its daemon serves snapshot-origin with a
# transient snapshot of chunk 64 KiB; the COW is rewritten with O_DIRECT in
# place before each run, so no file is deleted between runs) or the word
# `nbdkit` (nbdkit --filter=cow, 64 KiB blocks). Prints each round and the
# medians. Comparing a binary with itself gives the method's noise floor.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || { echo "usage: $0 A B [--qd N] [--rounds N] [--size MIB] [--dir DIR]" >&2; exit 2; }
A=$1 B=$2; shift 2
QD=1 ROUNDS=6 SIZE=1024 BASE=/var/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --qd) QD=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    *) echo "usage: $0 A B [--qd N] [--rounds N] [--size MIB] [--dir DIR]" >&2; exit 2 ;;
  esac
done
need fio nbdkit python3
workdir "$BASE" ulvm-ab
dd if=/dev/urandom of="$W/disk.img" bs=1M count="$SIZE" status=none
dd if=/dev/zero of="$W/cow.img" bs=1M count=$((SIZE * 9 / 8)) oflag=direct status=none
SECTORS=$((SIZE * 2048)) CHUNKS=$((SIZE * 16))

first_writes() { # URI -> IOPS
  sync
  fio --output-format=json --name=j --ioengine=nbd --uri="$1" --size="${SIZE}M" --rw=write:60k --bs=4k \
      --iodepth="$QD" --number_ios="$CHUNKS" | fio_stats | cut -d' ' -f1
}
run() { # SERVER -> IOPS
  if [ "$1" = nbdkit ]; then
    rm -f "$W/cow.sock"
    nbdkit --foreground --unix "$W/cow.sock" --threads 16 --filter=cow file "$W/disk.img" cow-block-size=65536 & PIDS=($!)
    wait_sock "$W/cow.sock"
    first_writes "nbd+unix:///?socket=$W/cow.sock"
  else
    rm -rf "$W/run"
    "$1" daemon --run-dir "$W/run" --log warn 2>>"$W/daemon.log" & PIDS=($!)
    wait_sock "$W/run/nbd.sock"
    dd if=/dev/zero of="$W/cow.img" bs=1M count=$((SIZE * 9 / 8)) oflag=direct conv=notrunc status=none
    "$1" dmsetup --run-dir "$W/run" create base --table "0 $SECTORS snapshot-origin $W/disk.img"
    "$1" dmsetup --run-dir "$W/run" create snap --table "0 $SECTORS snapshot $W/disk.img $W/cow.img N 128"
    first_writes "nbd+unix:///base?socket=$W/run/nbd.sock"
  fi
  kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()
  sync
}
RA=() RB=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then a=$(run "$A"); b=$(run "$B"); else b=$(run "$B"); a=$(run "$A"); fi
  echo "round $r: A $a  B $b"
  RA+=("$a") RB+=("$b")
done
python3 - "${RA[*]}" "${RB[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print("median A %.0f  B %.0f  B/A %.2f" % (statistics.median(a), statistics.median(b), statistics.median(b) / statistics.median(a)))
PY
