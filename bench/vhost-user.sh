#!/usr/bin/env bash
# Side-by-side vhost-user-blk benchmark, in one run: ulvm's export of a
# linear device and qemu-storage-daemon's vhost-user-blk export of the
# same file, driven by the same libblkio client (crates/vhost/examples/
# vhost_load.rs: one queue, fixed queue depth, fixed time), plus ulvm's
# own NBD export at QD16 through fio's nbd engine.
#
#   bench/vhost-user.sh [--size 1G] [--runtime 5] [--dir /var/tmp] [--repeat 5]
#
# Jobs: 4k random read and write at QD1 and QD16, 1M sequential read and
# write at QD4. Every job runs --repeat times per server, servers
# interleaved in rotated order; the table shows medians and the ratios
# ulvm/qsd and, at QD16, ulvm vhost / ulvm NBD.
# Needs: qemu-storage-daemon (qemu-utils), fio (nbd engine), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZE=1G RUNTIME=5 BASE=/var/tmp REPEAT=5
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --runtime) RUNTIME=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) echo "usage: $0 [--size 1G] [--runtime 5] [--dir DIR] [--repeat N]" >&2; exit 2 ;;
  esac
done
# "IOPS MiB/s" lines -> the line with the median IOPS.
median() { python3 -c 'import sys; r=sorted((l.split() for l in sys.stdin if l.strip()), key=lambda x: float(x[0])); print(" ".join(r[len(r)//2]))'; }
need qemu-storage-daemon fio python3
build_ulvm
cargo build --release -q -p ulvm-vhost --example vhost_load
LOAD=$PWD/target/release/examples/vhost_load
workdir "$BASE" ulvm-vhost-bench

BYTES=$(numfmt --from=iec "$SIZE")
SECTORS=$((BYTES / 512))
echo "# vhost-user-blk: $SIZE file, ${RUNTIME}s per job, median of $REPEAT, $(nproc) cores, $(date -u +%F)"
dd if=/dev/urandom of="$W/disk.img" bs=1M count=$((BYTES >> 20)) status=none

"$ULVM" daemon --run-dir "$W/run" --log warn 2>"$W/ulvm.log" & PIDS+=($!)
wait_sock "$W/run/control.sock"; wait_sock "$W/run/nbd.sock"
"$ULVM" dmsetup --run-dir "$W/run" create lin --table "0 $SECTORS linear $W/disk.img 0"
"$ULVM" vhost --run-dir "$W/run" export lin --queues 1 --socket "$W/ulvm.vhost.sock" >/dev/null
qemu-storage-daemon \
  --blockdev "driver=file,node-name=file0,filename=$W/disk.img,cache.direct=off,aio=threads" \
  --blockdev driver=raw,node-name=disk0,file=file0 \
  --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$W/qsd.sock,writable=on,num-queues=1" \
  & PIDS+=($!)
wait_sock "$W/qsd.sock"

declare -A SOCK=([ulvm]="$W/ulvm.vhost.sock" [qsd]="$W/qsd.sock")
run() { # SERVER RW BS QD -> "IOPS MiB/s"
  sync
  if [ "$1" = nbd ]; then
    fio --output-format=json --name=j --ioengine=nbd --uri="nbd+unix:///lin?socket=$W/run/nbd.sock" \
      --size="$BYTES" --rw="$2" --bs="$3" --iodepth="$4" --time_based --runtime="$RUNTIME" | fio_stats
  else
    "$LOAD" "${SOCK[$1]}" "$2" "$3" "$4" "$RUNTIME"
  fi
}

declare -A RES
TESTS=("randread 4k QD1:randread 4096 1" "randread 4k QD16:randread 4096 16"
       "randwrite 4k QD1:randwrite 4096 1" "randwrite 4k QD16:randwrite 4096 16"
       "read 1M QD4:read 1048576 4" "write 1M QD4:write 1048576 4")
i=0
for t in "${TESTS[@]}"; do
  name=${t%%:*}; read -r rw bs qd <<<"${t#*:}"
  servers="ulvm qsd"; [ "$qd" = 16 ] && servers="ulvm qsd nbd"
  for _ in $(seq "$REPEAT"); do
    # Rotate the order so no server always goes first.
    set -- $servers; n=$#; order=""
    for k in $(seq 0 $((n - 1))); do idx=$(( (k + i) % n + 1 )); order+=" ${!idx}"; done
    i=$((i + 1))
    for s in $order; do RES["$name/$s"]+="$(run "$s" "$rw" "$bs" "$qd")"$'\n'; done
  done
  for s in $servers; do RES["$name/$s"]=$(printf '%s' "${RES[$name/$s]}" | median); done
done

echo
echo "| job | ulvm vhost IOPS | qsd vhost IOPS | ulvm NBD IOPS | ulvm vhost MiB/s | qsd MiB/s | ulvm / qsd | ulvm vhost / ulvm NBD |"
echo "|---|---|---|---|---|---|---|---|"
for t in "${TESTS[@]}"; do
  name=${t%%:*}
  read -r ui um <<<"${RES[$name/ulvm]}"; read -r qi qm <<<"${RES[$name/qsd]}"
  ni=- vn=-
  if [ -n "${RES[$name/nbd]:-}" ]; then
    read -r ni _ <<<"${RES[$name/nbd]}"; vn=$(python3 -c "print('%.2f' % ($ui/$ni))")
  fi
  echo "| $name | $ui | $qi | $ni | $um | $qm | $(python3 -c "print('%.2f' % ($ui/$qi))") | $vn |"
done
