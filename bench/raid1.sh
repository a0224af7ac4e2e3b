#!/usr/bin/env bash
# raid1 (the dm `raid` target) side by side with what it is measured
# against, in one run, through the daemon and NBD with fio's nbd engine:
#
#   bench/raid1.sh [--size 1G] [--runtime 5] [--dir /var/tmp] [--rate 40] [--repeat N]
#
# 1. Writes: raid1 over two files (metadata on two more files, `nosync`)
#    against a linear device over one file of the same kind: 4k random
#    writes at QD16 and 1M sequential writes at QD4, each job ending with
#    an fsync (so both pay for the data reaching the files).
# 2. Initial sync: a new raid1 whose leg 0 holds SIZE of data and leg 1
#    zeroes, from `dmsetup create` until the status says idle, against
#    `dd` of leg 0's file over a written-out file (fdatasync) and `cp` to
#    a new file plus `sync`, page cache dropped before each; the raid1
#    time ends with a `sync` too.
# 3. Reads: 4k random reads at QD16 from raid1 against its leg 0 alone.
#    Each leg is a separate nbdkit export (file plugin, rate filter at
#    --rate MiB/s), standing in for two disks: on this machine every file
#    is on one virtual disk (and in one page cache), where spreading reads
#    over two legs cannot add anything a disk would give.
# Prints markdown tables with the ratios the targets are stated in.
# Needs: fio (with the nbd engine), nbdkit, python3; root for drop_caches.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=1G RUNTIME=5 BASE=/var/tmp RATE=40 REPEAT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) echo "usage: $0 [--size 1G] [--runtime 5] [--dir DIR] [--rate MiB/s] [--repeat N]" >&2; exit 2 ;;
  esac
done
need fio nbdkit python3
[ -n "${ULVM:-}" ] || build_ulvm
workdir "$BASE" ulvm-raid1

BYTES=$(numfmt --from=iec "$SIZE")
SECTORS=$((BYTES / 512))
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
# A written-out file (an LV in real use is not sparse).
mkfile() { dd if="${2:-/dev/zero}" of="$1" bs=1M count=$(($3 >> 20)) status=none; }
echo "# raid1: $SIZE legs, ${RUNTIME}s per timed job, median of $REPEAT, $(nproc) cores, $(date -u +%F)"

mkfile "$W/d0" /dev/urandom "$BYTES"
mkfile "$W/d1" /dev/zero "$BYTES"
mkfile "$W/lin" /dev/zero "$BYTES"
meta() { rm -f "$W/m0" "$W/m1"; mkfile "$W/m0" /dev/zero $((4 << 20)); mkfile "$W/m1" /dev/zero $((4 << 20)); }
start_daemon
URI() { echo "nbd+unix:///$1?socket=$W/run/nbd.sock"; }

fio_job() { # URI ARGS... -> "IOPS MiB/s"
  local u=$1; shift
  sync
  fio --output-format=json --name=j --ioengine=nbd --uri="$u" --size="$BYTES" "$@" | fio_stats
}

# --- 1. writes
declare -A W1
JOBS=("randwrite 4k QD16:--rw=randwrite --bs=4k --iodepth=16 --time_based --runtime=$RUNTIME --end_fsync=1"
      "write 1M QD4:--rw=write --bs=1M --iodepth=4 --end_fsync=1")
for j in "${JOBS[@]}"; do
  name=${j%%:*}; args=${j#*:}
  for _ in $(seq "$REPEAT"); do
    DM remove_all >/dev/null 2>&1 || true
    meta
    DM create r --table "0 $SECTORS raid raid1 2 0 nosync 2 $W/m0 $W/d0 $W/m1 $W/d1"
    DM create l --table "0 $SECTORS linear $W/lin 0"
    # shellcheck disable=SC2086
    W1["$name/raid"]+="$(fio_job "$(URI r)" $args | cut -d' ' -f1) "
    # shellcheck disable=SC2086
    W1["$name/lin"]+="$(fio_job "$(URI l)" $args | cut -d' ' -f1) "
  done
done
DM remove_all >/dev/null 2>&1 || true
echo
echo "## Writes: raid1 (2 legs) vs linear, files"
echo
echo "| job | raid1 IOPS | linear IOPS | raid1 / linear |"
echo "|---|---|---|---|"
for j in "${JOBS[@]}"; do
  name=${j%%:*}
  r=$(echo "${W1[$name/raid]}" | tr ' ' '\n' | grep . | median); l=$(echo "${W1[$name/lin]}" | tr ' ' '\n' | grep . | median)
  echo "| $name | $r | $l | $(python3 -c "print('%.2f' % ($r/$l))") |"
done

# --- 2. initial sync
S_ULVM= S_CP= S_DD=
mkfile "$W/copy" /dev/zero "$BYTES"
for _ in $(seq "$REPEAT"); do
  meta
  mkfile "$W/d1" /dev/zero "$BYTES"
  # cp makes a new file (allocating it); dd overwrites a written-out one,
  # as resync overwrites leg 1.
  rm -f "$W/cpcopy"
  drop_caches
  t0=$(date +%s.%N)
  cp "$W/d0" "$W/cpcopy"; sync
  t1=$(date +%s.%N)
  S_CP+="$(python3 -c "print($t1 - $t0)") "
  drop_caches
  t0=$(date +%s.%N)
  dd if="$W/d0" of="$W/copy" bs=4M conv=notrunc,fdatasync status=none
  t1=$(date +%s.%N)
  S_DD+="$(python3 -c "print($t1 - $t0)") "
  drop_caches
  t0=$(date +%s.%N)
  DM create s --table "0 $SECTORS raid raid1 1 0 2 $W/m0 $W/d0 $W/m1 $W/d1"
  until DM status s | grep -q " idle "; do sleep 0.05; done
  # The status says idle once the last region is copied; its legs are
  # files, so the copy is durable after a sync, as cp's.
  sync
  t1=$(date +%s.%N)
  S_ULVM+="$(python3 -c "print($t1 - $t0)") "
  DM status s >"$W/sync.status"
  DM remove s
  cmp -s "$W/d0" "$W/d1" || { echo "legs differ after sync" >&2; exit 1; }
done
su=$(echo "$S_ULVM" | tr ' ' '\n' | grep . | python3 -c 'import sys; v=sorted(float(x) for x in sys.stdin); print("%.2f" % v[len(v)//2])')
med() { tr ' ' '\n' | grep . | python3 -c 'import sys; v=sorted(float(x) for x in sys.stdin); print("%.2f" % v[len(v)//2])'; }
sc=$(echo "$S_CP" | med); sd=$(echo "$S_DD" | med)
echo
echo "## Initial sync of $SIZE vs a plain copy of one leg"
echo
echo "| raid1 resync s | dd over a written file (fdatasync) s | cp to a new file + sync s | raid1 / dd speed | raid1 / cp speed |"
echo "|---|---|---|---|---|"
echo "| $su | $sd | $sc | $(python3 -c "print('%.2f' % ($sd/$su))") | $(python3 -c "print('%.2f' % ($sc/$su))") |"

# --- 3. reads over two rate-limited legs
BITS=$((RATE * 8 * 1024 * 1024))
for i in 0 1; do
  nbdkit --foreground --unix "$W/leg$i.sock" --threads 16 --filter=rate file "$W/d$i" rate="$BITS" & PIDS+=($!)
  wait_sock "$W/leg$i.sock"
done
cp "$W/d0" "$W/d1"
meta
L0="nbd+unix:///?socket=$W/leg0.sock"
L1="nbd+unix:///?socket=$W/leg1.sock"
DM create rr --table "0 $SECTORS raid raid1 2 0 nosync 2 $W/m0 $L0 $W/m1 $L1"
DM create one --table "0 $SECTORS linear $L0 0"
RR= ONE=
for _ in $(seq "$REPEAT"); do
  ONE+="$(fio_job "$(URI one)" --rw=randread --bs=4k --iodepth=16 --time_based --runtime="$RUNTIME" | cut -d' ' -f1) "
  RR+="$(fio_job "$(URI rr)" --rw=randread --bs=4k --iodepth=16 --time_based --runtime="$RUNTIME" | cut -d' ' -f1) "
done
rr=$(echo "$RR" | tr ' ' '\n' | grep . | median); one=$(echo "$ONE" | tr ' ' '\n' | grep . | median)
# The same on the files themselves, page cache dropped: one disk for both.
DM create rf --table "0 $SECTORS raid raid1 2 0 nosync 2 $W/m0 $W/d0 $W/m1 $W/d1"
DM create of --table "0 $SECTORS linear $W/d0 0"
drop_caches
OF=$(fio_job "$(URI of)" --rw=randread --bs=4k --iodepth=16 --time_based --runtime="$RUNTIME" | cut -d' ' -f1)
drop_caches
RF=$(fio_job "$(URI rf)" --rw=randread --bs=4k --iodepth=16 --time_based --runtime="$RUNTIME" | cut -d' ' -f1)
echo
echo "## 4k random reads QD16: raid1 vs one leg"
echo
echo "| legs | raid1 IOPS | one leg IOPS | raid1 / one leg |"
echo "|---|---|---|---|"
echo "| nbdkit exports at $RATE MiB/s each | $rr | $one | $(python3 -c "print('%.2f' % ($rr/$one))") |"
echo "| files on one disk, caches dropped | $RF | $OF | $(python3 -c "print('%.2f' % ($RF/$OF))") |"
DM remove_all >/dev/null 2>&1 || true
stop_daemon
