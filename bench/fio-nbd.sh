#!/usr/bin/env bash
# Side-by-side fio benchmark over NBD (fio's nbd engine), in one run:
# ulvm, qemu-nbd and nbdkit serving the same file.
#
#   bench/fio-nbd.sh [--size 1G] [--runtime 5] [--dir /var/tmp] [--repeat N]
#                    [--only linear|first]
#
# 1. A linear ulvm device, qemu-nbd (raw) and nbdkit (file plugin) over the
#    same file: 4k random read and write at QD1 and QD16, 1M sequential
#    read and write (QD4).
# 2. First writes: 4k writes into distinct 64 KiB chunks of an origin with
#    one snapshot (ulvm snapshot-origin with an N and a P snapshot of chunk
#    64 KiB) against nbdkit --filter=cow and a qemu-nbd qcow2 overlay with
#    64 KiB clusters, at QD1 and QD16.
# Prints markdown tables with the ratios the targets are stated in. With
# --repeat N every job runs N times per server (servers interleaved) and
# the tables show the median, which tames this machine's run-to-run noise.
# Needs: fio (with the nbd engine), qemu-utils, nbdkit, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=1G RUNTIME=5 BASE=/var/tmp REPEAT=1 ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "usage: $0 [--size 1G] [--runtime 5] [--dir DIR] [--repeat N] [--only linear|first]" >&2; exit 2 ;;
  esac
done
# "IOPS MiB/s" lines -> the line with the median IOPS.
median() { python3 -c 'import sys; r=sorted((l.split() for l in sys.stdin if l.strip()), key=lambda x: float(x[0])); print(" ".join(r[len(r)//2]))'; }
need fio qemu-nbd qemu-img nbdkit python3
build_ulvm
workdir "$BASE" ulvm-bench

BYTES=$(numfmt --from=iec "$SIZE")
SECTORS=$((BYTES / 512))
echo "# fio over NBD: $SIZE per job, ${RUNTIME}s per timed job, median of $REPEAT, $(nproc) cores, $(date -u +%F)"
dd if=/dev/urandom of="$W/disk.img" bs=1M count=$((BYTES >> 20)) status=none

# --- servers over the same file
"$ULVM" daemon --run-dir "$W/run" --log warn 2>"$W/ulvm.log" & PIDS+=($!); declare -A PID=([ulvm]=$!)
wait_sock "$W/run/control.sock"; wait_sock "$W/run/nbd.sock"
DMS=("$ULVM" dmsetup --run-dir "$W/run")
"${DMS[@]}" create lin --table "0 $SECTORS linear $W/disk.img 0"
qemu-nbd -f raw --socket="$W/qemu.sock" --persistent --shared=16 "$W/disk.img" & PIDS+=($!); PID[qemu-nbd]=$!
nbdkit --foreground --unix "$W/nbdkit.sock" --threads 16 file "$W/disk.img" & PIDS+=($!); PID[nbdkit]=$!
wait_sock "$W/qemu.sock"; wait_sock "$W/nbdkit.sock"

declare -A URI=(
  [ulvm]="nbd+unix:///lin?socket=$W/run/nbd.sock"
  [qemu-nbd]="nbd+unix:///?socket=$W/qemu.sock"
  [nbdkit]="nbd+unix:///?socket=$W/nbdkit.sock"
)

# cpu_ticks PID: user+system CPU of a process and all its threads, in
# clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# fio_run SERVER-PID JOB-ARGS... -> "IOPS MiB/s SERVER-CPU FIO-CPU", the
# CPU columns in microseconds per I/O (the nbd engine prints a line before
# the JSON). What each side spends per request says which one bounds the
# rate: fio is one thread, so at 1e6 / FIO-CPU IOPS it is saturated.
fio_run() {
  local pid=$1 t0 t1; shift
  # Write back what the previous job dirtied, so no job pays for another's.
  sync
  t0=$(cpu_ticks "$pid")
  fio --output-format=json --name=j --ioengine=nbd --size="$BYTES" "$@" >"$W/fio.json"
  t1=$(cpu_ticks "$pid")
  python3 - "$W/fio.json" $((t1 - t0)) "$(getconf CLK_TCK)" <<'EOF'
import json, sys
t = open(sys.argv[1]).read(); j = json.loads(t[t.index("{"):])["jobs"][0]; r, w = j["read"], j["write"]
ios = max(r["total_ios"] + w["total_ios"], 1)
server = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / ios
client = (j["usr_cpu"] + j["sys_cpu"]) / 100 * j["job_runtime"] * 1e3 / ios
print("%.0f %.1f %.1f %.1f" % (r["iops"] + w["iops"], (r["bw_bytes"] + w["bw_bytes"]) / 2**20, server, client))
EOF
}

declare -A RES
# Each test runs the servers in a rotated order: none always goes first.
ORDERS=("ulvm qemu-nbd nbdkit" "qemu-nbd nbdkit ulvm" "nbdkit ulvm qemu-nbd")
TESTS=("randread 4k QD1:--rw=randread --bs=4k --iodepth=1"
       "randread 4k QD16:--rw=randread --bs=4k --iodepth=16"
       "randwrite 4k QD1:--rw=randwrite --bs=4k --iodepth=1"
       "randwrite 4k QD16:--rw=randwrite --bs=4k --iodepth=16"
       "read 1M QD4:--rw=read --bs=1M --iodepth=4"
       "write 1M QD4:--rw=write --bs=1M --iodepth=4")
i=0
[ "$ONLY" = first ] && TESTS=()
for t in "${TESTS[@]}"; do
  name=${t%%:*}; args=${t#*:}
  for _ in $(seq "$REPEAT"); do
    order=${ORDERS[$((i % 3))]}; i=$((i + 1))
    for s in $order; do
      # shellcheck disable=SC2086
      RES["$name/$s"]+="$(fio_run "${PID[$s]}" --uri="${URI[$s]}" --time_based --runtime="$RUNTIME" $args)"$'\n'
    done
  done
  for s in ulvm qemu-nbd nbdkit; do RES["$name/$s"]=$(printf '%s' "${RES[$name/$s]}" | median); done
done

[ "$ONLY" != first ] && echo && echo "## Linear device vs qemu-nbd and nbdkit on the same file"
echo
[ "$ONLY" != first ] && echo "| job | ulvm IOPS | qemu-nbd IOPS | nbdkit IOPS | ulvm MiB/s | qemu-nbd MiB/s | nbdkit MiB/s | ulvm / nbdkit | CPU µs/IO: ulvm, nbdkit | fio's CPU µs/IO with ulvm, nbdkit |"
[ "$ONLY" != first ] && echo "|---|---|---|---|---|---|---|---|---|---|"
for t in "${TESTS[@]}"; do
  name=${t%%:*}
  read -r ui um uc uf <<<"${RES[$name/ulvm]}"; read -r qi qm _ <<<"${RES[$name/qemu-nbd]}"; read -r ni nm nc nf <<<"${RES[$name/nbdkit]}"
  echo "| $name | $ui | $qi | $ni | $um | $qm | $nm | $(python3 -c "print('%.2f' % ($ui/$ni))") | $uc, $nc | $uf, $nf |"
done

# --- first writes into distinct 64 KiB chunks
CHUNKS=$((BYTES / 65536))
first_writes() { # URI QD SERVER-PID -> as fio_run
  fio_run "$3" --uri="$1" --rw=write:60k --bs=4k --iodepth="$2" --number_ios="$CHUNKS"
}
ulvm_snap() { # STORE -> sets SNAPURI; fresh COW each time
  "${DMS[@]}" remove_all >/dev/null 2>&1 || true
  # A COW is a written-out device (an LV) in real use: no sparse or
  # unwritten extents that make every flush a file-system journal commit.
  # Written with O_DIRECT, so none of it sits in the page cache, as with a
  # fresh LV: cached in 4 KiB pages (as `head -c` leaves it), every 64 KiB
  # copy-out would be sixteen page writes instead of one.
  rm -f "$W/cow.img"
  dd if=/dev/zero of="$W/cow.img" bs=1M count=$(((BYTES + BYTES / 8) >> 20)) oflag=direct status=none
  "${DMS[@]}" create base --table "0 $SECTORS snapshot-origin $W/disk.img"
  "${DMS[@]}" create snap --table "0 $SECTORS snapshot $W/disk.img $W/cow.img $1 128"
  SNAPURI="nbd+unix:///base?socket=$W/run/nbd.sock"
}
nbdkit_cow() {
  [ -n "${COWPID:-}" ] && { kill "$COWPID"; wait "$COWPID" 2>/dev/null || true; }
  rm -f "$W/cow.sock"
  nbdkit --foreground --unix "$W/cow.sock" --threads 16 --filter=cow file "$W/disk.img" cow-block-size=65536 & COWPID=$!
  wait_sock "$W/cow.sock"
}
qemu_overlay() {
  [ -n "${QOPID:-}" ] && { kill "$QOPID"; wait "$QOPID" 2>/dev/null || true; }
  rm -f "$W/ov.sock" "$W/overlay.qcow2"
  qemu-img create -q -f qcow2 -o cluster_size=65536 -b "$W/disk.img" -F raw "$W/overlay.qcow2"
  qemu-nbd -f qcow2 --socket="$W/ov.sock" --persistent --shared=16 "$W/overlay.qcow2" & QOPID=$!
  wait_sock "$W/ov.sock"
}
[ "$ONLY" = linear ] && exit 0
echo
echo "## First 4k writes into distinct 64 KiB chunks, one snapshot"
echo
echo "| QD | ulvm N IOPS | ulvm P IOPS | nbdkit cow IOPS | qemu-nbd qcow2 IOPS | ulvm N / nbdkit cow | ulvm P / ulvm N | CPU µs/IO: ulvm N, nbdkit cow | fio's CPU µs/IO with ulvm N, nbdkit cow |"
echo "|---|---|---|---|---|---|---|---|---|"
for qd in 1 16; do
  UN= UP= NC= QO=
  for _ in $(seq "$REPEAT"); do
    ulvm_snap N; UN+="$(first_writes "$SNAPURI" "$qd" "${PID[ulvm]}")"$'\n'
    ulvm_snap P; UP+="$(first_writes "$SNAPURI" "$qd" "${PID[ulvm]}")"$'\n'
    nbdkit_cow; NC+="$(first_writes "nbd+unix:///?socket=$W/cow.sock" "$qd" "$COWPID")"$'\n'
    qemu_overlay; QO+="$(first_writes "nbd+unix:///?socket=$W/ov.sock" "$qd" "$QOPID")"$'\n'
  done
  read -r un _ unc unf <<<"$(printf '%s' "$UN" | median)"
  read -r up _ <<<"$(printf '%s' "$UP" | median)"
  read -r nc _ ncc ncf <<<"$(printf '%s' "$NC" | median)"
  read -r qo _ <<<"$(printf '%s' "$QO" | median)"
  echo "| $qd | $un | $up | $nc | $qo | $(python3 -c "print('%.2f' % ($un/$nc))") | $(python3 -c "print('%.2f' % ($up/$un))") | $unc, $ncc | $unf, $ncf |"
done
PIDS+=("${COWPID:-}" "${QOPID:-}")
