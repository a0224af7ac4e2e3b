#!/usr/bin/env bash
# pvmove against a plain sequential copy of the same data between the same
# files, and what a move leaves to the LV's users, side by side in one run.
#
#   bench/pvmove.sh [--size 1G] [--repeat 3] [--dir /var/tmp] [--runtime 3]
#
# Two PV files, one LV of SIZE on the first, filled with random data. Each
# round, with the page cache dropped before each timed step (root) so both
# start from the disk:
#   copy    the LV's bytes copied from the PV file it is on to the other
#           one at the same offset, 4 MiB reads and writes, one fdatasync at
#           the end (what the move has to do at least);
#   pvmove  `pvmove -i 0 SRC` of the same PV, in the foreground, to the
#           other PV (it ends when the data is on the destination and the
#           metadata says so: two checkpoints' commits included);
# the direction alternates every round (a to b, then b to a), and so does
# which of the two goes first. Then the users: fio's nbd engine, 4 KiB
# random writes at QD1 on the LV, RUNTIME seconds with no move (idle), then
# on in the same fio run from `pvmove -b` until the move is done (during).
# Printed: medians, MiB/s, the pvmove / copy ratio, and the IOPS during /
# idle ratio. Needs root, fio, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=1G REPEAT=3 BASE=/var/tmp RUNTIME=3
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    *) echo "usage: $0 [--size 1G] [--repeat N] [--dir DIR] [--runtime SECONDS]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "$0: needs root (it drops the page cache)" >&2; exit 1; }
need fio python3 nbdcopy
build_ulvm
workdir "$BASE" ulvm-pvmove-bench

BYTES=$(numfmt --from=iec "$SIZE")
MIB=$((BYTES >> 20))
export ULVM_SYSTEM_DIR="$W/sys" ULVM_RUN_DIR="$W/run"
U() { "$ULVM" "$@"; }
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
secs() { python3 -c "print('%.3f' % ($2 - $1))"; }

# Each PV: the LV plus room for pvmove0's bookkeeping and the metadata.
truncate -s $((BYTES + (64 << 20))) "$W/a.img" "$W/b.img"
start_daemon
U vgcreate -q vg0 "$W/a.img" "$W/b.img" >/dev/null
U lvcreate -q -L "${MIB}M" -n lv vg0 "$W/a.img" >/dev/null
dd if=/dev/urandom of="$W/data" bs=1M count="$MIB" status=none
nbdcopy "$W/data" "nbd+unix:///vg0-lv?socket=$W/run/nbd.sock"
rm -f "$W/data"

# Where the LV's bytes are in a PV file: it is the only LV, at PE 0 of
# whichever PV holds it, so at pe_start (the same on both).
[ "$(U lvs --noheadings -o devices vg0/lv | tr -d ' ')" = "$W/a.img(0)" ] || { echo "$0: the LV is not at PE 0" >&2; exit 1; }
OFF=$(U pvs --noheadings --units b --nosuffix -o pv_name,pe_start | awk -v f="$W/a.img" '$1 == f { print $2 }')
# plain_copy SRC DST: the LV's bytes from SRC to DST at the same offset,
# 4 MiB at a time, one fdatasync at the end.
plain_copy() {
  python3 - "$1" "$2" "$OFF" "$BYTES" <<'EOF'
import os, sys
src, dst, off, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s, d = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY)
step, done = 4 << 20, 0
while done < n:
    b = os.pread(s, min(step, n - done), off + done)
    os.pwrite(d, b, off + done)
    done += len(b)
os.fdatasync(d)
EOF
}

declare -A R
add() { R[$1]+="$2 "; }
src="$W/a.img" dst="$W/b.img"
for round in $(seq "$REPEAT"); do
  steps=(copy pvmove); [ $((round % 2)) = 0 ] && steps=(pvmove copy)
  for step in "${steps[@]}"; do
    cold
    t0=$(now)
    if [ "$step" = copy ]; then plain_copy "$src" "$dst"; else U pvmove -i 0 "$src" >/dev/null; fi
    t1=$(now)
    add "$step" "$(python3 -c "print('%.1f' % ($MIB / ($t1 - $t0)))")"
    echo "round $round: $step $(secs "$t0" "$t1") s" >&2
  done
  tmp=$src; src=$dst; dst=$tmp
done

# The users: one fio run per round (4 KiB random writes at QD1, its IOPS
# logged every 100 ms), the page cache dropped first. After RUNTIME seconds
# `pvmove -b` starts; once pvmove0 is gone fio is stopped. Idle IOPS are
# the samples before the move started, during IOPS those from its start to
# its end: both from the same fio process, so the only difference is the
# move.
users_round() {
  local log="$W/iops.$1"
  rm -f "$log"_iops*.log
  cold
  fio --name=j --ioengine=nbd --uri="nbd+unix:///vg0-lv?socket=$W/run/nbd.sock" \
      --size="$BYTES" --rw=randwrite --bs=4k --iodepth=1 --time_based --runtime=600 \
      --write_iops_log="$log" --log_avg_msec=100 --log_unix_epoch=1 >/dev/null 2>&1 &
  local fio=$!
  sleep "$RUNTIME"
  local ts; ts=$(now)
  U pvmove -b "$src" >/dev/null
  while U lvs -a --noheadings -o lv_name vg0 | grep -q pvmove0; do sleep 0.05; done
  local te; te=$(now)
  kill -INT "$fio"; wait "$fio" || true
  # Samples are "msec since the epoch, iops, ..." (fio writes them at its
  # end); the first one counts from fio's start-up, so it is left out.
  python3 - "$log"_iops.1.log "$ts" "$te" <<'PY'
import sys
path, ts, te = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
idle, during = [], []
for line in list(open(path))[1:]:
    ms, iops = int(line.split(",")[0]), int(line.split(",")[1])
    t = ms / 1000.0
    if t <= ts:
        idle.append(iops)
    elif t <= te:
        during.append(iops)
mean = lambda v: sum(v) / len(v) if v else 0.0
print("%.0f %.0f %.2f" % (mean(idle), mean(during), te - ts))
PY
}
for round in $(seq "$REPEAT"); do
  read -r idle during took < <(users_round "$round")
  add idle "$idle"; add during "$during"
  echo "round $round: users: idle $idle IOPS, during the move $during IOPS; the move took $took s" >&2
  tmp=$src; src=$dst; dst=$tmp
done
stop_daemon

for k in "${!R[@]}"; do R[$k]=$(echo "${R[$k]}" | median); done
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "# pvmove: $SIZE, median of $REPEAT, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
echo
echo "| plain copy MiB/s | pvmove MiB/s | pvmove / copy | idle 4k randwrite IOPS | during pvmove | during / idle |"
echo "|---|---|---|---|---|---|"
echo "| ${R[copy]} | ${R[pvmove]} | $(ratio "${R[pvmove]}" "${R[copy]}") | ${R[idle]} | ${R[during]} | $(ratio "${R[during]}" "${R[idle]}") |"
