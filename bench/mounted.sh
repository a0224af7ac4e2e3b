#!/usr/bin/env bash
# The mounted path, side by side in one run: a kernel block device made by
# `losetup --direct-io=on` on each of
#   loop      the file itself (the kernel's own path, the reference);
#   ulvm      a linear ulvm device over a copy of it, as the daemon's FUSE
#             file (--fuse-dir);
#   qsd       qemu-storage-daemon's FUSE export of another copy;
#   nbdfuse   nbdfuse's file over nbdkit's file plugin on another copy;
# and fio with libaio and O_DIRECT on each loop device: 4k random read and
# write at QD1 and QD16, 1M sequential read and write at QD4. The page cache
# is dropped before every job, so no path reads from a cache the others
# lack. Prints medians of --repeat runs (the paths interleaved) and the
# ratios ulvm / loop and ulvm / the best peer. Each --base BIN (repeatable)
# is another ulvm binary (an older build) serving its own copy in the same
# rounds, for a before/after under the same load. With --uring, the ulvm daemon serves
# its FUSE file over io_uring (--fuse-io-uring): the script turns the fuse
# module's enable_uring switch on for the run and puts it back afterwards
# (the --base daemons are not asked, so they stay on /dev/fuse).
#
#   sudo bash bench/mounted.sh [--size 1G] [--runtime 5] [--repeat 3] [--dir /var/tmp] [--base BIN]... [--uring]
#
# Needs root (loop devices, dropping the cache), fio, fuse3,
# qemu-storage-daemon (qemu-system-common), nbdfuse and nbdkit, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=1G RUNTIME=5 REPEAT=3 BASE=/var/tmp URING=
BASES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --base) BASES+=("$(realpath "$2")"); shift 2 ;;
    --uring) URING=1; shift ;;
    *) echo "usage: $0 [--size 1G] [--runtime 5] [--repeat N] [--dir DIR] [--base BIN] [--uring]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "$0: needs root (loop devices, dropping the cache)" >&2; exit 1; }
need fio losetup fusermount3 qemu-storage-daemon nbdfuse nbdkit python3
build_ulvm
workdir "$BASE" ulvm-mounted-bench
BYTES=$(numfmt --from=iec "$SIZE")
MIB=$((BYTES >> 20))

LOOPS=()
URING_SWITCH=/sys/module/fuse/parameters/enable_uring
URING_WAS=
mounted_cleanup() {
  local l
  for l in "${LOOPS[@]:-}"; do [ -n "$l" ] && losetup -d "$l" 2>/dev/null || true; done
  fusermount3 -u -z "$W/qsd.img" 2>/dev/null || true
  fusermount3 -u -z "$W/nbdfuse" 2>/dev/null || true
  fusermount3 -u -z "$W/fuse" 2>/dev/null || true
  for l in "${!BASES[@]}"; do fusermount3 -u -z "$W/fuse-base$l" 2>/dev/null || true; done
  bench_cleanup
  [ -z "$URING_WAS" ] || echo "$URING_WAS" >"$URING_SWITCH"
}
trap mounted_cleanup EXIT

dd if=/dev/urandom of="$W/loop.img" bs=1M count="$MIB" status=none
BASE_PATHS=()
for i in "${!BASES[@]}"; do BASE_PATHS+=("base$i"); done
for c in ulvm qsd nbdfuse "${BASE_PATHS[@]}"; do cp "$W/loop.img" "$W/$c.img"; done
mv "$W/qsd.img" "$W/qsd-data.img"
touch "$W/qsd.img"
mkdir -p "$W/fuse" "$W/nbdfuse"

if [ -n "$URING" ]; then
  [ -w "$URING_SWITCH" ] || { echo "$0: --uring: no $URING_SWITCH (CONFIG_FUSE_IO_URING)" >&2; exit 1; }
  URING_WAS=$(cat "$URING_SWITCH")
  echo Y >"$URING_SWITCH"
fi
"$ULVM" daemon --run-dir "$W/run" --fuse-dir "$W/fuse" ${URING:+--fuse-io-uring} --log warn 2>>"$W/daemon.log" & PIDS+=($!)
wait_sock "$W/run/control.sock"
"$ULVM" dmsetup --run-dir "$W/run" create lin --table "0 $((BYTES / 512)) linear $W/ulvm.img 0"
for _ in $(seq 100); do [ -e "$W/fuse/lin" ] && break; sleep 0.05; done
for i in "${!BASES[@]}"; do
  mkdir -p "$W/fuse-base$i"
  "${BASES[$i]}" daemon --run-dir "$W/run-base$i" --fuse-dir "$W/fuse-base$i" --log warn 2>>"$W/daemon-base$i.log" & PIDS+=($!)
  wait_sock "$W/run-base$i/control.sock"
  "${BASES[$i]}" dmsetup --run-dir "$W/run-base$i" create lin --table "0 $((BYTES / 512)) linear $W/base$i.img 0"
  for _ in $(seq 100); do [ -e "$W/fuse-base$i/lin" ] && break; sleep 0.05; done
done

qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$W/qsd-data.img,cache.direct=off" \
  --export "type=fuse,id=e,node-name=f,mountpoint=$W/qsd.img,writable=on" & PIDS+=($!)
nbdkit --foreground -U "$W/nbdkit.sock" file "$W/nbdfuse.img" & PIDS+=($!)
wait_sock "$W/nbdkit.sock"
nbdfuse "$W/nbdfuse" "nbd+unix:///?socket=$W/nbdkit.sock" & PIDS+=($!)
for _ in $(seq 100); do
  [ "$(stat -c %s "$W/qsd.img")" = "$BYTES" ] && [ -e "$W/nbdfuse/nbd" ] && break
  sleep 0.05
done

declare -A DEV
attach() { DEV[$1]=$(losetup --direct-io=on -f --show "$2"); LOOPS+=("${DEV[$1]}"); }
attach loop "$W/loop.img"
attach ulvm "$W/fuse/lin"
attach qsd "$W/qsd.img"
attach nbdfuse "$W/nbdfuse/nbd"
for i in "${!BASES[@]}"; do attach "base$i" "$W/fuse-base$i/lin"; done

JOBS=("randread 4k 1" "randread 4k 16" "randwrite 4k 1" "randwrite 4k 16" "read 1M 4" "write 1M 4")
PATHS=(loop ulvm qsd nbdfuse "${BASE_PATHS[@]}")
declare -A R
# fio_job DEV RW BS QD -> IOPS
fio_job() {
  sync; echo 3 >/proc/sys/vm/drop_caches
  fio --name=j --filename="$1" --ioengine=libaio --direct=1 --rw="$2" --bs="$3" --iodepth="$4" \
      --size="$BYTES" --time_based --runtime="$RUNTIME" --output-format=json | fio_stats | cut -d' ' -f1
}
for round in $(seq "$REPEAT"); do
  for job in "${JOBS[@]}"; do
    for p in "${PATHS[@]}"; do
      # shellcheck disable=SC2086
      R["$job/$p"]+="$(fio_job "${DEV[$p]}" $job) "
    done
  done
  echo "round $round done" >&2
done

echo "# mounted path: $SIZE, medians of $REPEAT, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)${URING:+, ulvm over io_uring}"
echo
HEAD="| job (IOPS) | loop on the file (direct-io) | ulvm FUSE+loop | qemu-storage-daemon FUSE + loop | nbdfuse + loop | ulvm / loop | ulvm / best peer |"
RULE="|---|---|---|---|---|---|---|"
for i in "${!BASES[@]}"; do
  HEAD+=" ulvm --base $i | ulvm / --base $i |"
  RULE+="---|---|"
done
echo "$HEAD"
echo "$RULE"
for job in "${JOBS[@]}"; do
  set -- $job
  declare -A M=()
  for p in "${PATHS[@]}"; do M[$p]=$(echo "${R["$job/$p"]}" | median); done
  BASE_M=()
  for b in "${BASE_PATHS[@]}"; do BASE_M+=("${M[$b]}"); done
  python3 - "$1 $2 QD$3" "${M[loop]}" "${M[ulvm]}" "${M[qsd]}" "${M[nbdfuse]}" "${BASE_M[@]}" <<'EOF'
import sys
name, loop, ulvm, qsd, nbdf, *bases = sys.argv[1], *map(float, sys.argv[2:])
row = "| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |" % (name, loop, ulvm, qsd, nbdf, ulvm / loop, ulvm / max(qsd, nbdf))
for b in bases:
    row += " %.0f | %.2f |" % (b, ulvm / b)
print(row)
EOF
done
