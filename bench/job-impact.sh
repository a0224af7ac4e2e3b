#!/usr/bin/env bash
# What a background job costs the volume's users, and what the users cost
# the job, side by side in one run.
#
#   bench/job-impact.sh [--size 4G] [--repeat 3] [--dir /var/tmp]
#                       [--runtime 3] [--writes] [--only file|nbd|merge]
#                       [--cold]
#
# For each job kind:
#   file   clone hydration from a local file (region 64 KiB, threshold 64,
#          batch 16: the `lvcreate --type clone` table);
#   nbd    the same from an nbdkit export of that file (unix socket);
#   merge  a snapshot-merge of a persistent COW (chunk 64 KiB) whose
#          exceptions cover all of SIZE.
# it measures, on one fresh setup per round:
#   (a) fio (nbd engine) 4 KiB random reads at QD1 for RUNTIME seconds on
#       the device while no job runs (the clone with hydration disabled;
#       the origin, with its snapshot, before the merge is started), and
#       with --writes 4 KiB random writes at QD1 too; for the clones also
#       (a') after the job windows with hydration disabled again, when
#       part of the reads come from the hydrated destination;
#   (b) the same while the job runs;
#   (c) the job's solo speed: how far it gets in RUNTIME seconds with no
#       user I/O (the clone's hydrated regions, the merge's allocated
#       sectors, from the status line before and after);
#   (d) the job's speed over the window of (b).
# With --cold (root) the page cache is dropped before every window, so that
# every window starts with the same cache (none): without it the idle reads
# of (a) come from a source or origin file that the setup left cached, while
# the job's windows read what it wrote back and dropped.
# Rounds alternate the order of (c) and (b) so that a job that speeds up
# or slows down as it goes weighs on both alike. Figures are medians of
# --repeat rounds; the ratios are b/a (b/a' for the clones) and d/c.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=4G REPEAT=3 BASE=/var/tmp RUNTIME=3 WRITES= ONLY= COLD=
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --writes) WRITES=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --cold) COLD=1; shift ;;
    *) echo "usage: $0 [--size 4G] [--repeat N] [--dir DIR] [--runtime SECONDS] [--writes] [--only file|nbd|merge] [--cold]" >&2; exit 2 ;;
  esac
done
[ -z "$COLD" ] || [ "$(id -u)" = 0 ] || { echo "$0: --cold needs root (it drops the page cache)" >&2; exit 1; }
need nbdkit nbdcopy fio python3
build_ulvm
workdir "$BASE" ulvm-job-bench

BYTES=$(numfmt --from=iec "$SIZE")
SECTORS=$((BYTES / 512))
MIB=$((BYTES >> 20))
REGION=128 CHUNK=128
REGIONS=$(((SECTORS + REGION - 1) / REGION))
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

dd if=/dev/urandom of="$W/src.img" bs=1M count="$MIB" status=none
nbdkit --foreground --readonly --unix "$W/src.sock" --threads 16 file "$W/src.img" & PIDS+=($!)
wait_sock "$W/src.sock"
NBDSRC="nbd+unix:///?socket=$W/src.sock"

now() { date +%s.%N; }

# --cold: write back and drop the page cache before a window.
cold() { [ -z "$COLD" ] || { sync; echo 3 >/proc/sys/vm/drop_caches; }; }

fio_run() { # DEVICE randread|randwrite -> IOPS over RUNTIME seconds, 4k QD1
  fio --output-format=json --name=j --ioengine=nbd --uri="nbd+unix:///$1?socket=$W/run/nbd.sock" \
      --size="$BYTES" --rw="$2" --bs=4k --iodepth=1 --time_based --runtime="$RUNTIME" \
    | fio_stats | cut -d' ' -f1
}

# A job's position in bytes done, from its status line.
clone_done() { DM status cl | awk -v r="$REGION" '{split($7, h, "/"); printf "%d\n", h[1] * r * 512}'; }
merge_done() { DM status base | awk -v t="$BYTES" '{split($4, a, "/"); printf "%d\n", t - a[1] * 512}'; }
clone_finished() { DM status cl | grep -q " $REGIONS/$REGIONS "; }
merge_finished() { DM status base | awk '{split($4, a, "/"); exit !(a[1] == $5)}'; }

# window KIND DEVICE [RW]: runs fio RW on DEVICE for RUNTIME seconds (or
# sleeps that long without RW) and prints "MiB/s-of-the-job [IOPS]".
window() {
  local kind=$1 dev=$2 rw=${3:-} d0 d1 t0 t1 iops=
  cold
  d0=$(${kind}_done); t0=$(now)
  if [ -n "$rw" ]; then iops=$(fio_run "$dev" "$rw"); else sleep "$RUNTIME"; fi
  t1=$(now); d1=$(${kind}_done)
  if ${kind}_finished; then echo "the $kind job finished inside a window: use a larger --size" >&2; kill $$; fi
  echo "$kind ${rw:-solo}: $(((d1 - d0) >> 20)) MiB in $(python3 -c "print('%.2f' % ($t1 - $t0))") s${iops:+, $iops IOPS}" >&2
  python3 -c "print('%.0f' % (($d1 - $d0) / 2**20 / ($t1 - $t0)), end='')"
  [ -z "$iops" ] || echo -n " $iops"
  echo
}

declare -A R
add() { R[$1]+="$2 "; }
# measure NAME KIND DEVICE ROUND: (c), (b) and (d), in an order that alternates.
measure() {
  local name=$1 kind=$2 dev=$3 round=$4 out rw
  local kinds=(randread); [ -z "$WRITES" ] || kinds+=(randwrite)
  if [ $((round % 2)) = 0 ]; then add "$name.solo" "$(window "$kind" "$dev")"; fi
  for rw in "${kinds[@]}"; do
    out=$(window "$kind" "$dev" "$rw")
    add "$name.busy_$rw" "${out#* }"; add "$name.job_$rw" "${out% *}"
  done
  if [ $((round % 2)) = 1 ]; then add "$name.solo" "$(window "$kind" "$dev")"; fi
}
idle() { # NAME DEVICE: (a)
  local rw; cold; add "$1.idle_randread" "$(fio_run "$2" randread)"
  [ -z "$WRITES" ] || { cold; add "$1.idle_randwrite" "$(fio_run "$2" randwrite)"; }
}

clone_round() { # NAME SOURCE ROUND
  rm -f "$W/dst.img" "$W/meta.img"; truncate -s "$SIZE" "$W/dst.img"; truncate -s 64M "$W/meta.img"; sync
  start_daemon
  DM create cl --table "0 $SECTORS clone $W/meta.img $W/dst.img $2 $REGION 1 no_hydration 4 hydration_threshold 64 hydration_batch_size 16"
  idle "$1" cl
  DM message cl 0 enable_hydration
  measure "$1" clone cl "$3"
  # (a') idle again with the job paused halfway: the same reads, now partly
  # served by the hydrated destination instead of the source.
  DM message cl 0 disable_hydration; sleep 0.2
  cold; add "$1.paused_randread" "$(fio_run cl randread)"
  [ -z "$WRITES" ] || { cold; add "$1.paused_randwrite" "$(fio_run cl randwrite)"; }
  stop_daemon
}

# The merge's COW: SIZE written through a snapshot-origin with a
# persistent snapshot, once; each round starts from a copy.
if want merge; then
  truncate -s "$SIZE" "$W/origin0.img"; truncate -s $((BYTES + BYTES / 16)) "$W/cow0.img"
  start_daemon
  DM create base --table "0 $SECTORS snapshot-origin $W/origin0.img"
  DM create snap --table "0 $SECTORS snapshot $W/origin0.img $W/cow0.img P $CHUNK"
  nbdcopy "$W/src.img" "nbd+unix:///base?socket=$W/run/nbd.sock"
  DM status snap >&2
  DM remove snap; DM remove base
  stop_daemon
fi
merge_round() { # ROUND
  cp "$W/origin0.img" "$W/origin.img"; cp "$W/cow0.img" "$W/cow.img"; sync
  start_daemon
  DM create base --table "0 $SECTORS snapshot-origin $W/origin.img"
  DM create snap --table "0 $SECTORS snapshot $W/origin.img $W/cow.img P $CHUNK"
  idle merge base
  # As LVM2 starts a merge (the kernel document's sequence).
  DM suspend base; DM suspend snap
  DM load base --table "0 $SECTORS snapshot-merge $W/origin.img $W/cow.img P $CHUNK"
  DM load snap --table "0 $SECTORS error"
  DM resume base; DM resume snap
  measure merge merge base "$1"
  stop_daemon
}

for round in $(seq "$REPEAT"); do
  want file && clone_round file "$W/src.img" "$round"
  want nbd && clone_round nbd "$NBDSRC" "$round"
  want merge && merge_round "$round"
done

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
for k in "${!R[@]}"; do R[$k]=$(echo "${R[$k]}" | median); done

echo "# background jobs and user I/O: $SIZE, ${RUNTIME} s windows,${COLD:+ page cache dropped before each window,} median of $REPEAT, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
echo
echo "| job | user I/O | idle IOPS (a) | paused halfway (a') | IOPS during job (b) | b/a | b/a' | job solo MiB/s (c) | job with user I/O MiB/s (d) | d/c |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for name in file nbd merge; do
  want "$name" || continue
  case $name in file) label="clone, file source" ;; nbd) label="clone, NBD source" ;; merge) label="snapshot-merge" ;; esac
  for rw in randread ${WRITES:+randwrite}; do
    a=${R[$name.idle_$rw]} p=${R[$name.paused_$rw]:-} b=${R[$name.busy_$rw]} c=${R[$name.solo]} d=${R[$name.job_$rw]}
    echo "| $label | 4k $rw QD1 | $a | ${p:--} | $b | $(ratio "$b" "$a") | $([ -n "$p" ] && ratio "$b" "$p" || echo -) | $c | $d | $(ratio "$d" "$c") |"
  done
done
exit 0
