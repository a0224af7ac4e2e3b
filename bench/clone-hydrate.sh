#!/usr/bin/env bash
# Hydration speed of a ulvm clone against nbdcopy, side by side in one run,
# and user reads during hydration against reads while idle.
#
#   bench/clone-hydrate.sh [--size 1G] [--repeat 3] [--dir /var/tmp]
#                          [--region 128] [--threshold 64] [--batch 16]
#                          [--only file|nbd|lvm|reads]
#
# 1. Hydration of SIZE from a local file and from an NBD export of the
#    same file (nbdkit, unix socket) onto a fresh destination file, until
#    the status line shows every region hydrated (the clone commits, and so
#    flushes the destination, every second, and at the end).
# 2. nbdcopy --flush of the same source (file, then the same NBD export)
#    to a fresh destination file.
# 2b. `lvcreate --type clone --source FILE` into a VG on a file PV (its
#    own defaults; the destination is then a dm device over the PV), timed
#    to the completion event like 1.
# 3. fio (nbd engine) 4 KiB random reads at QD1 on the clone: with
#    hydration disabled, then while hydration runs.
# Each figure is the median of --repeat runs. The table defaults (region
# 64 KiB, threshold 64 regions, batch 16: 1 MiB copies, four in flight)
# are the ones `lvcreate --type clone` uses.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=1G REPEAT=3 BASE=/var/tmp REGION=128 THRESHOLD=64 BATCH=16 ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --region) REGION=$2; shift 2 ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "usage: $0 [--size 1G] [--repeat N] [--dir DIR] [--region SECTORS] [--threshold N] [--batch N] [--only file|nbd|lvm|reads]" >&2; exit 2 ;;
  esac
done
need nbdkit nbdcopy fio python3
build_ulvm
workdir "$BASE" ulvm-clone-bench

BYTES=$(numfmt --from=iec "$SIZE")
SECTORS=$((BYTES / 512))
REGIONS=$(((SECTORS + REGION - 1) / REGION))
MIB=$((BYTES >> 20))
dd if=/dev/urandom of="$W/src.img" bs=1M count="$MIB" status=none
nbdkit --foreground --readonly --unix "$W/src.sock" --threads 16 file "$W/src.img" & PIDS+=($!)
wait_sock "$W/src.sock"
NBDSRC="nbd+unix:///?socket=$W/src.sock"

now() { date +%s.%N; }
rate() { python3 -c "print('%.0f' % ($MIB / ($2 - $1)))"; }

fresh() { rm -f "$W/dst.img" "$W/meta.img"; truncate -s "$SIZE" "$W/dst.img"; truncate -s 16M "$W/meta.img"; sync; }

table() { # SOURCE [FEATURES...] -> a clone table line
  local src=$1; shift
  echo "0 $SECTORS clone $W/meta.img $W/dst.img $src $REGION $# $* 4 hydration_threshold $THRESHOLD hydration_batch_size $BATCH"
}
# The completion event, not status polling: a status query commits the
# metadata (flushing the destination), as the kernel's does.
wait_hydrated() { DM wait cl 0 >/dev/null; DM status cl | grep -q " $REGIONS/$REGIONS " || { echo "not hydrated" >&2; exit 1; }; }

ulvm_hydrate() { # SOURCE -> MiB/s
  fresh; start_daemon
  local t0; t0=$(now)
  DM create cl --table "$(table "$1")"
  wait_hydrated
  rate "$t0" "$(now)"
  stop_daemon
}
lvm_hydrate() { # -> MiB/s of lvcreate --type clone from the local file
  start_daemon
  rm -rf "$W/sys" "$W/pv.img"; truncate -s $((BYTES + BYTES / 4)) "$W/pv.img"
  "$ULVM" pvcreate -q --run-dir "$W/run" --system-dir "$W/sys" "$W/pv.img" >/dev/null
  "$ULVM" vgcreate -q --run-dir "$W/run" --system-dir "$W/sys" vg "$W/pv.img" >/dev/null
  sync
  local t0; t0=$(now)
  "$ULVM" lvcreate -q --run-dir "$W/run" --system-dir "$W/sys" --type clone --source "$W/src.img" -n cl vg >/dev/null
  DM wait vg-cl 0 >/dev/null
  rate "$t0" "$(now)"
  stop_daemon
}
nbdcopy_run() { # SOURCE -> MiB/s
  fresh
  local t0; t0=$(now)
  nbdcopy --flush "$1" "$W/dst.img"
  rate "$t0" "$(now)"
}
fio_reads() { # -> IOPS of 4k random reads at QD1 for 5 s on the clone
  fio --output-format=json --name=r --ioengine=nbd --uri="nbd+unix:///cl?socket=$W/run/nbd.sock" \
      --size="$BYTES" --rw=randread --bs=4k --iodepth=1 --time_based --runtime=5 \
    | fio_stats | cut -d' ' -f1
}

declare -A R
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
for _ in $(seq "$REPEAT"); do
  if want file; then
    R[ulvm_file]+="$(ulvm_hydrate "$W/src.img") "
    R[nbdcopy_file]+="$(nbdcopy_run "$W/src.img") "
  fi
  if want nbd; then
    R[ulvm_nbd]+="$(ulvm_hydrate "$NBDSRC") "
    R[nbdcopy_nbd]+="$(nbdcopy_run "$NBDSRC") "
  fi
  if want lvm; then
    R[ulvm_lvm]+="$(lvm_hydrate) "
  fi
  if want reads; then
    fresh; start_daemon
    DM create cl --table "$(table "$NBDSRC" no_hydration)"
    R[read_idle]+="$(fio_reads) "
    DM message cl 0 enable_hydration
    R[read_busy]+="$(fio_reads) "
    R[progress]="$(DM message cl 0 progress)"
    stop_daemon
  fi
done
for k in "${!R[@]}"; do [ "$k" = progress ] || R[$k]=$(echo "${R[$k]}" | median); done
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

echo "# clone hydration: $SIZE, region $REGION sectors, threshold $THRESHOLD, batch $BATCH, median of $REPEAT, $(nproc) cores, $(date -u +%F)"
if want file || want nbd; then
  echo
  echo "| source | ulvm clone MiB/s | nbdcopy --flush MiB/s | ulvm / nbdcopy |"
  echo "|---|---|---|---|"
  want file && echo "| local file | ${R[ulvm_file]} | ${R[nbdcopy_file]} | $(ratio "${R[ulvm_file]}" "${R[nbdcopy_file]}") |"
  want nbd && echo "| NBD (nbdkit, unix socket) | ${R[ulvm_nbd]} | ${R[nbdcopy_nbd]} | $(ratio "${R[ulvm_nbd]}" "${R[nbdcopy_nbd]}") |"
fi
if want lvm; then
  echo
  echo "| lvcreate --type clone from the local file (dm destination over a file PV) | MiB/s |"
  echo "|---|---|"
  echo "| ulvm | ${R[ulvm_lvm]} |"
fi
if want reads; then
  echo
  echo "| 4k random reads QD1 on the clone | IOPS |"
  echo "|---|---|"
  echo "| hydration disabled | ${R[read_idle]} |"
  echo "| while hydrating | ${R[read_busy]} |"
  echo "| ratio | $(ratio "${R[read_busy]}" "${R[read_idle]}") |"
  echo
  echo "last progress message after 5 s of hydration: ${R[progress]}"
fi
exit 0
