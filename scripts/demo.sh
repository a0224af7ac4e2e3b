#!/usr/bin/env bash
# The main job end to end on the embedded default: a daemon on file-backed
# devices in ./ulvm-demo (no root), the kernel snapshot document's sequence
# through `ulvm dmsetup`, writes over NBD, and a merge; then the LVM
# walk-through on file PVs: pvcreate, vgcreate, lvcreate, lvextend, a
# snapshot, reports, and a merge back with lvconvert.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v qemu-io >/dev/null || { echo "$0: needs qemu-io (Debian qemu-utils) as the NBD client" >&2; exit 1; }
cargo build --release -q -p ulvm
export PATH=$PWD/target/release:$PATH
ULVM=ulvm
D=${1:-$PWD/ulvm-demo}
rm -rf "$D"; mkdir -p "$D"
export ULVM_RUN_DIR=$D/run ULVM_SYSTEM_DIR=$D/sys
say() { printf '$ %s\n' "$*"; "$@"; }
truncate -s 64M "$D/origin.img"; truncate -s 16M "$D/cow.img"
"$ULVM" daemon --merge-batch 256k --log warn 2>"$D/daemon.log" &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$ULVM_RUN_DIR/nbd.sock" ] && [ -S "$ULVM_RUN_DIR/control.sock" ] && break; sleep 0.05; done
DM="ulvm dmsetup"
say $DM create base --table "0 131072 snapshot-origin $D/origin.img"
say $DM create snap --table "0 131072 snapshot $D/origin.img $D/cow.img P 16"
say $DM status
URI="nbd+unix:///base?socket=$ULVM_RUN_DIR/nbd.sock"
say qemu-io -f raw -c "write -P 0x55 0 4M" "$URI"
say qemu-io -f raw -r -c "read -P 0 0 4M" "nbd+unix:///snap?socket=$ULVM_RUN_DIR/nbd.sock"
say $DM status
say $DM ls --tree
echo "# merge the snapshot back into the origin, as LVM2 does"
say $DM suspend base
say $DM suspend snap
say $DM load base --table "0 131072 snapshot-merge $D/origin.img $D/cow.img P 16"
say $DM load snap --table "0 131072 error"
say $DM resume base
say $DM resume snap
while :; do
  st=$($DM status base); echo "$st"
  set -- $st; [ "${4%/*}" = "$5" ] && break
  sleep 0.02
done
say $DM suspend base
say $DM load base --table "0 131072 linear $D/origin.img 0"
say $DM resume base
say $DM remove snap
say $DM table
echo "# done: $D/origin.img holds the snapshot's contents again"

echo
echo "# LVM on file-backed PVs (system directory $ULVM_SYSTEM_DIR)"
truncate -s 128M "$D/pv0.img" "$D/pv1.img"
say ulvm pvcreate "$D/pv0.img" "$D/pv1.img"
say ulvm vgcreate vg0 "$D/pv0.img" "$D/pv1.img"
say ulvm lvcreate -L 32M -n base vg0
say ulvm lvcreate -L 16M -i 2 -I 64k -n striped vg0
LV="nbd+unix:///vg0-base?socket=$ULVM_RUN_DIR/nbd.sock"
say qemu-io -f raw -c "write -P 0x11 0 4M" "$LV"
say ulvm lvextend -L +8M vg0/base
say ulvm lvcreate -s -L 8M -n snap vg0/base
say qemu-io -f raw -c "write -P 0x22 0 1M" "$LV"
say ulvm lvs -a -o +devices
say ulvm vgs
say ulvm dmsetup table
say ulvm lvconvert --merge -i 1 vg0/snap
say qemu-io -f raw -r -c "read -P 0x11 0 4M" "$LV"
say ulvm lvs
say ulvm vgchange -an vg0
echo "# done: vg0/base holds the snapshot's contents again; the metadata is in $D/pv*.img and $ULVM_SYSTEM_DIR/backup/vg0"
