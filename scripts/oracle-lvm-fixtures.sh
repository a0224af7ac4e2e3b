#!/usr/bin/env bash
# Regenerate the golden LVM2 output fixtures under crates/lvm/tests/fixtures/.
#
#   scripts/oracle-lvm-fixtures.sh [--oracle-only | --oracle2-only | --oracle3-only | --oracle4-only | --oracle5-only | --oracle6-only | --oracle7-only | --oracle8-only | --oracle9-only | --oracle10-only | --oracle11-only | --oracle13-only | --dm-raid-only | --host-only]
#
# Phase 1 (oracle): runs three guest scripts in the ../shared/oracle VM (real
# Debian kernel with device-mapper + real LVM2 2.03.16) on three 64 MiB disks
# (vda, vdb, vdc) and records every command as
#   crates/lvm/tests/fixtures/oracle{,2,3}/NNN-name.{cmd,out,err,rc}
# plus vgcfgbackup files (*.vgbackup) and, extracted on the host from the disk
# images afterwards, the current metadata text of each PV (mda-*.txt) and an
# xz of each disk's first MiB (label + metadata ring).
#
# Phase 2 (host, no device-mapper): restores captured vgcfgbackup files onto
# loop devices with pvcreate --restorefile + vgcfgrestore and records the
# reports for the (necessarily inactive) VG into
#   crates/lvm/tests/fixtures/host/<scenario>/NNN-name.{cmd,out,err,rc}
# Needs root, losetup and lvm2 on the host.
#
# oracle6 (raid1 on dm-raid) uses four disks (vda..vdd) and loads dm-raid
# into the guest itself (the oracle's initramfs lacks it; see raidmods).
# --dm-raid-only runs a separate guest session that leaves the rmeta sub-LVs
# the kernel wrote, for crates/dm/tests/fixtures/raid/ (decoded there with
# scripts/decode-dm-raid-sb.py); --oracle-only and the default run it too.
#
# See crates/lvm/tests/fixtures/README.md for the format.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ORACLE="${ORACLE_DIR:-$ROOT/../shared/oracle}"
FIX="$ROOT/crates/lvm/tests/fixtures"
MODE="${1:-all}"

W="$(mktemp -d /var/tmp/ulvm-lvm-fixtures.XXXXXX)"
cleanup() { rm -rf "$W"; }
trap cleanup EXIT

# ------------------------------------------------- what both guest scripts share
cat > "$W/prelude.sh" <<'PRELUDE'
#!/bin/bash
# Runs inside the oracle VM. stdin is /dev/null (matters for prompts).
D=$ORACLE_OUT
N=0
export LVM_SUPPRESS_FD_WARNINGS=1
# quote ARG...: one line, words separated by one space, a word single-quoted
# only if it holds characters outside [A-Za-z0-9_@%+=:,./-].
quote() {
  local a out=() sq="'\\''"
  for a in "$@"; do
    case $a in ''|*[!A-Za-z0-9_@%+=:,./-]*) out+=("'${a//\'/$sq}'") ;; *) out+=("$a") ;; esac
  done
  local IFS=' '; printf '%s\n' "${out[*]}"
}
# cap NAME CMD [ARG...]: run CMD, record argv (shell-quoted), stdout, stderr, exit code.
cap() {
  local name=$1; shift
  N=$((N+1)); local id; id=$(printf '%03d-%s' "$N" "$name")
  quote "$@" > "$D/$id.cmd"
  "$@" > "$D/$id.out" 2> "$D/$id.err"
  echo $? > "$D/$id.rc"
  echo "[$id] rc=$(cat "$D/$id.rc")" >&2
}
PRELUDE

# ---------------------------------------------------------------- guest script
{ cat "$W/prelude.sh"; cat <<'GUEST'
# capsh NAME 'shell snippet': same, for pipelines / redirections (cmd file holds "sh -c ...").
capsh() { cap "$1" bash -c "$2"; }
backup() { vgcfgbackup -f "$D/$1.vgbackup" vg0 >/dev/null 2>&1 || echo "vgcfgbackup $1 failed" >&2; }
pattern() { yes "$1" | head -c "$2"; }

# --- setup
cap pvcreate pvcreate /dev/vda /dev/vdb
cap vgcreate vgcreate vg0 /dev/vda /dev/vdb
cap lvcreate-base lvcreate -L 32M -n base vg0
cap lvcreate-striped lvcreate -L 16M -i 2 -I 64k -n striped vg0
cap lvcreate-small lvcreate -l 3 -n small vg0
pattern PRE-SNAPSHOT 4194304 | dd of=/dev/vg0/base bs=1M oflag=direct status=none
cap lvcreate-snap lvcreate -s -L 8M -n snap vg0/base
pattern POST-SNAPSHOT 1048576 | dd of=/dev/vg0/base bs=1M oflag=direct status=none
sync

# --- reports
cap pvs pvs
cap pvs-a pvs -a
cap vgs vgs
cap lvs lvs
cap lvs-a lvs -a
cap lvs-a-devices lvs -a -o+devices
cap lvs-a-devices-ranges lvs -a -o+devices,seg_pe_ranges
cap lvs-units-m lvs --units m
cap lvs-units-b-nosuffix lvs --units b --nosuffix
cap lvs-noheadings lvs --noheadings -o lv_name,lv_size
cap lvs-separator lvs --separator :
cap lvs-snapcols lvs -o lv_name,lv_attr,lv_size,origin,snap_percent,chunk_size
cap lvs-a-snapcols lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,data_percent,chunk_size,lv_role
cap lvs-json lvs --reportformat json
cap vgs-json vgs --reportformat json
cap pvs-json pvs --reportformat json
cap lvs-a-json-devices lvs -a --reportformat json -o+devices
cap pvs-used pvs -o+pv_used,pv_pe_count,pv_pe_alloc_count
cap vgs-extents vgs -o+vg_extent_size,vg_extent_count,vg_free_count
cap lvs-sort-size lvs -O lv_size
cap lvs-sort-name-desc lvs -O -lv_name
cap lvs-segs lvs -a --segments -o+seg_start,seg_size,stripes,stripe_size,seg_pe_ranges
cap lvs-uuid lvs -a -o lv_name,lv_uuid,lv_path,lv_dm_path,lv_kernel_major,lv_kernel_minor
cap lvs-nameprefixes lvs -a --nameprefixes --noheadings -o lv_name,lv_attr,lv_size
cap lvs-aligned-sep lvs --aligned --separator '|' -a
cap lvs-unbuffered lvs --unbuffered -a
cap vgs-units-k vgs --units k
cap vgs-units-h-upper vgs --units H
cap pvs-units-s pvs --units s
cap pvs-segs pvs --segments -o+pvseg_start,pvseg_size,lv_name
cap pvdisplay pvdisplay
cap pvdisplay-m pvdisplay -m
cap pvdisplay-c pvdisplay -c
cap vgdisplay vgdisplay
cap vgdisplay-v vgdisplay -v
cap vgdisplay-c vgdisplay -c
cap lvdisplay lvdisplay
cap lvdisplay-a lvdisplay -a
cap lvdisplay-snap lvdisplay vg0/snap
cap lvdisplay-m-striped lvdisplay -m vg0/striped
cap lvdisplay-c lvdisplay -c
cap dmsetup-table dmsetup table
cap dmsetup-ls dmsetup ls
cap dmsetup-status dmsetup status
cap dmsetup-info-c dmsetup info -c
cap vgcfgbackup vgcfgbackup -f "$D/vg0.vgbackup" vg0
cp /etc/lvm/backup/vg0 "$D/etc-lvm-backup-vg0.vgbackup"
rawmda() { for d in vda vdb; do head -c 1048576 /dev/$d > "$D/raw-$1-$d.img"; done; }
rawmda 00-snapshot
# --- the same VG deactivated (inactive attr strings, lvdisplay without dm info)
cap vgchange-an-snap vgchange -an vg0
cap inactive-pvs pvs
cap inactive-vgs vgs
cap inactive-lvs lvs
cap inactive-lvs-a-devices lvs -a -o+devices
cap inactive-lvs-a-snapcols lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,data_percent,chunk_size,lv_role
cap inactive-lvs-json lvs -a --reportformat json
cap inactive-vgdisplay vgdisplay
cap inactive-lvdisplay lvdisplay
cap inactive-lvdisplay-m lvdisplay -m
cap inactive-lvdisplay-c lvdisplay -c
cap inactive-dmsetup-table dmsetup table
cap vgchange-ay-snap vgchange -ay vg0
cap lvchange-an-small lvchange -an vg0/small
cap lvs-after-an-small lvs -o lv_name,lv_attr
cap lvs-a-after-an-small lvs -a
cap lvdisplay-inactive-small lvdisplay vg0/small

# --- invalidate the snapshot (8 MiB COW, write 12 MiB through the origin)
capsh fill-origin 'yes OVERFLOW | head -c 12582912 | dd of=/dev/vg0/base bs=1M seek=8 iflag=fullblock oflag=direct'
sync
cap invalid-lvs-a lvs -a
cap invalid-lvs-snapcols lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,data_percent,lv_snapshot_invalid
cap invalid-lvdisplay-snap lvdisplay vg0/snap
cap invalid-dmsetup-status dmsetup status
capsh invalid-read-snap 'dd if=/dev/vg0/snap of=/dev/null bs=1M count=1 iflag=direct'
cap invalid-lvs-json lvs -a --reportformat json -o lv_name,lv_attr,snap_percent
backup 01-invalid-snap
cap invalid-lvchange-an-snap-prompt lvchange -an vg0/snap
cap invalid-lvs-a-after-prompt lvs -a
cap invalid-lvdisplay-snap-after-prompt lvdisplay vg0/snap
cap invalid-lvchange-ay-snap-prompt lvchange -ay vg0/snap
cap invalid-lvchange-an-base lvchange -an vg0/base
cap invalid-inactive-base-lvs-a lvs -a
cap invalid-inactive-base-lvdisplay-snap lvdisplay vg0/snap
cap invalid-lvchange-ay-base lvchange -ay vg0/base
cap invalid-reactivated-base-lvs-a lvs -a
cap invalid-reactivated-dmsetup-status dmsetup status
cap invalid-lvremove-snap lvremove -f vg0/snap
cap after-remove-lvs-a lvs -a

# --- deferred merge: origin held open
cap lvcreate-snap2 lvcreate -s -L 8M -n snap2 vg0/base
pattern AFTER-SNAP2 262144 | dd of=/dev/vg0/base bs=64k oflag=direct status=none
backup 02-snap2-before-merge
exec 3< /dev/vg0/base
cap merge-open-lvs-a-before lvs -a
cap merge-open-lvconvert lvconvert --merge vg0/snap2
cap merge-deferred-lvs-a lvs -a
cap merge-deferred-lvs-a-cols lvs -a -o lv_name,lv_attr,lv_size,origin,data_percent,lv_merging,lv_merge_failed,lv_role,devices
cap merge-deferred-lvdisplay lvdisplay -a vg0
cap merge-deferred-dmsetup-table dmsetup table
cap merge-deferred-dmsetup-status dmsetup status
cap merge-deferred-vgcfgbackup vgcfgbackup -f "$D/03-merge-deferred.vgbackup" vg0
rawmda 03-merge-deferred
cap merge-deferred-lvconvert-again lvconvert --merge vg0/snap2
cap merge-deferred-lvremove-snap2 lvremove vg0/snap2
exec 3<&-
cap merge-closed-lvchange-an lvchange -an vg0/base
cap merge-closed-lvs-a-inactive lvs -a
cap merge-closed-lvchange-ay lvchange -ay vg0/base
sleep 2
cap merge-closed-lvs-a lvs -a
cap merge-closed-dmsetup-table dmsetup table
backup 04-after-merge
head -c 11 /dev/vg0/base > "$D/merge-base-first-bytes.txt"; echo >> "$D/merge-base-first-bytes.txt"

# --- immediate merge (origin not open); progress lines are timing dependent
cap lvcreate-snap3 lvcreate -s -L 8M -n snap3 vg0/base
pattern AFTER-SNAP3 1048576 | dd of=/dev/vg0/base bs=1M oflag=direct status=none
cap merge-now-lvconvert lvconvert --merge -i 1 vg0/snap3
cap merge-now-lvs-a lvs -a

# --- messages for common (bad) inputs
cap err-lvcreate-exists lvcreate -L 8M -n base vg0
cap err-lvcreate-too-big lvcreate -L 1G -n big vg0
cap err-lvcreate-too-many-extents lvcreate -l 100 -n big vg0
cap err-vgcreate-pv-in-vg vgcreate vg1 /dev/vda
cap err-lvremove-nonexistent lvremove vg0/nosuch
cap err-lvremove-nonexistent-f lvremove -f vg0/nosuch
cap err-lvs-nonexistent lvs vg0/nosuch
cap err-vgs-nonexistent vgs nosuchvg
cap err-vgremove-with-lvs vgremove vg0
cap err-pvcreate-in-vg pvcreate /dev/vda
cap err-lvcreate-no-size lvcreate -n nosize vg0
cap err-lvcreate-bad-vg lvcreate -L 8M -n x nosuchvg
cap err-lvcreate-bad-name lvcreate -L 8M -n 'bad/name' vg0
cap err-lvrename-exists lvrename vg0 small base
cap lvcreate-no-name lvcreate -L 8M vg0
cap lvcreate-no-name-2 lvcreate -l 1 vg0
cap lvs-after-no-name lvs -a
cap lvremove-lvol0-lvol1 lvremove -f vg0/lvol0 vg0/lvol1
cap err-lvcreate-3-stripes-2pvs lvcreate -L 12M -i 3 -n s3 vg0
cap lvcreate-inact lvcreate -l 1 -n inact vg0
cap lvchange-an-inact lvchange -an vg0/inact
cap lvremove-inactive-no-f lvremove vg0/inact
cap lvextend lvextend -L +8M vg0/base
cap lvextend-extents lvextend -l +1 vg0/base
cap lvreduce lvreduce -L 16M -f vg0/base
cap lvreduce-no-f lvreduce -L 12M vg0/base
cap lvresize lvresize -L 20M vg0/base
cap lvrename lvrename vg0 small tiny
cap lvrename-path lvrename vg0/tiny vg0/small2
cap lvs-after-rename lvs
cap lvremove-f lvremove -f vg0/small2
cap lvremove-active-no-f lvremove vg0/striped
cap vgextend vgextend vg0 /dev/vdc
cap pvs-after-vgextend pvs
cap lvcreate-filler lvcreate -l 100%PVS -n filler vg0 /dev/vdc
cap err-lvcreate-3-stripes lvcreate -L 12M -i 3 -n s3 vg0
cap err-lvcreate-4-stripes lvcreate -L 12M -i 4 -n s4 vg0
cap err-vgreduce-in-use vgreduce vg0 /dev/vdc
cap lvremove-filler lvremove -f vg0/filler
cap vgreduce vgreduce vg0 /dev/vdc
cap pvs-after-vgreduce pvs
cap pvremove pvremove /dev/vdc
cap err-pvremove-in-vg pvremove /dev/vda
cap err-pvremove-not-pv pvremove /dev/vdc
cap vgrename vgrename vg0 vg1
cap vgs-after-rename vgs
cap vgrename-back vgrename vg1 vg0
backup 05-final
cap vgchange-an vgchange -an vg0
cap lvs-after-vgchange-an lvs -a
cap vgchange-ay vgchange -ay vg0
cap vgremove-f vgremove -f vg0
cap pvs-after-vgremove pvs
cap vgs-empty vgs
cap lvs-empty lvs
exit 0
GUEST
} > "$W/guest.sh"

# ------------------------------------------------- second guest script (oracle2)
# Cases found against real LVM after the first scenario was captured: PV
# attributes with allocation off, a snapshot with nothing copied yet, and a
# VG whose metadata carries a lock type (a shared VG) on a host without
# lvmlockd (the oracle's lvm.conf has use_lvmlockd = 0).
{ cat "$W/prelude.sh"; cat <<'GUEST2'
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc
cap vgcreate vgcreate vgs /dev/vda /dev/vdb
cap lvcreate-lv lvcreate -L 32M -n lv vgs
# --- a snapshot with only its header and first metadata area written
cap lvcreate-snap-c8k lvcreate -L20M -c 8k -s -n snap vgs/lv
cap lvdisplay-snap-fresh lvdisplay vgs/snap
cap lvs-snap-fresh lvs -a -o lv_name,lv_attr,origin,data_percent,snap_percent
cap lvs-json-snap-fresh lvs --reportformat json -o lv_name,data_percent,snap_percent vgs/snap
cap dmsetup-status-snap-fresh dmsetup status vgs-snap
cap lvremove-snap lvremove -f vgs/snap
# --- allocation off on a PV that holds extents, and on one that holds none
cap pvchange-xn-used pvchange -xn /dev/vda
cap pvs-xn-used pvs
cap pvs-xn-used-alloc pvs -o+pv_pe_alloc_count,pv_allocatable
cap pvchange-xn-unused pvchange -xn /dev/vdb
cap pvs-xn-both pvs
cap pvs-xn-json pvs --reportformat json
cap pvdisplay-xn pvdisplay /dev/vda
cap vgs-xn vgs
cap pvchange-xy pvchange -xy /dev/vda /dev/vdb
cap pvs-xy pvs
# --- a shared VG (lock_type sanlock) seen by a host without lvmlockd
cap vgchange-an vgchange -an vgs
cap vgcfgbackup vgcfgbackup -f /tmp/vgs.vgbackup vgs
sed -i 's/^\tformat = "lvm2".*/&\n\tlock_type = "sanlock"\n\tlock_args = "1.0.0:lvmlock"/' /tmp/vgs.vgbackup
cp /tmp/vgs.vgbackup "$D/shared.vgbackup"
cap vgcfgrestore-shared vgcfgrestore -f /tmp/vgs.vgbackup vgs
cap shared-vgs vgs
cap shared-vgs-named vgs vgs
cap shared-lvs lvs
cap shared-lvs-named lvs vgs/lv
cap shared-pvs pvs
cap shared-vgdisplay vgdisplay vgs
cap shared-lvdisplay lvdisplay vgs/lv
cap shared-vgchange-ay vgchange -ay vgs
cap shared-lvchange-ay lvchange -ay vgs/lv
cap shared-lvcreate lvcreate -L 4M -n x vgs
cap shared-lvextend lvextend -L +4M vgs/lv
cap shared-lvrename lvrename vgs lv lv2
cap shared-lvremove lvremove -f vgs/lv
cap shared-vgck vgck vgs
cap shared-vgextend vgextend vgs /dev/vdc
cap shared-vgrename vgrename vgs vgx
cap shared-pvchange pvchange -xn /dev/vda
cap shared-pvremove pvremove /dev/vda
cap shared-vgremove vgremove -f vgs
cap shared-vgs-after vgs -o vg_name,vg_attr,lv_count
for d in vda vdb; do head -c 1048576 /dev/$d > "$D/raw-shared-$d.img"; done
# --- refusals the in-process tests of vgmerge, vgsplit and vgrename found
# (the shared VG's PVs wiped first: this host cannot remove a shared VG)
dd if=/dev/zero of=/dev/vda bs=1M count=1 status=none
dd if=/dev/zero of=/dev/vdb bs=1M count=1 status=none
cap pvcreate-again pvcreate /dev/vda /dev/vdb
cap vgcreate-va vgcreate va /dev/vda
cap vgcreate-vb-maxpv1 vgcreate -p 1 vb /dev/vdb
cap vgmerge-self vgmerge va va
cap vgsplit-self vgsplit va va /dev/vda
cap vgrename-self vgrename va va
cap vgmerge-past-maxpv vgmerge vb va
cap vgs-after-refusals vgs -o vg_name,pv_count,max_pv,seqno
# --- a backup restored from before a vgextend: the PV added after it
cap lvcreate-va lvcreate -an -Zn -L 4M -n w va
cap vgcfgbackup-va vgcfgbackup -f /tmp/va.vgbackup va
cap vgextend-va vgextend va /dev/vdc
cap vgcfgrestore-older vgcfgrestore -f /tmp/va.vgbackup va
cap vgck-outdated vgck va
cap pvs-outdated pvs
cap lvcreate-after-restore lvcreate -an -Zn -L 4M -n w2 va
cap pvs-after-write pvs
cap vgextend-after-write vgextend va /dev/vdc
cap vgs-after-extend vgs -o vg_name,pv_count,seqno va
# --- pvchange -x on a PV in no VG, alone and next to a PV of a VG
dd if=/dev/zero of=/dev/vdc bs=1M count=1 status=none
cap pvcreate-vdc pvcreate /dev/vdc
cap pvchange-xn-orphan pvchange -xn /dev/vdc
cap pvchange-xn-mixed pvchange -xn /dev/vda /dev/vdc
cap pvs-after-mixed pvs -o pv_name,vg_name,pv_attr
exit 0
GUEST2
} > "$W/guest2.sh"

# ------------------------------------------------- third guest script (oracle3)
# pvscan, vgscan, lvscan; autoactivation settings (--setautoactivation),
# vgchange/lvchange -aay with lvm.conf's auto_activation_volume_list and
# volume_list (given with --config), the activation-skip flag (-k, -K), and
# their refusals.
{ cat "$W/prelude.sh"; cat <<'GUEST3'
backup() { vgcfgbackup -f "$D/$1.vgbackup" "$2" >/dev/null 2>&1 || echo "vgcfgbackup $1 failed" >&2; }
# ulvm keeps no pvscan online state (/run/lvm/pvs_online, vgs_online): every
# pvscan --cache here starts from none, as the first one after a boot does.
# The oracle's lvm.conf has event_activation = 0 (pvscan --cache DEV and -aay
# then do nothing); LVM's default, and ulvm's, is 1: EA1 gives it back.
EA1=(--config global/event_activation=1)
fresh() { rm -rf /run/lvm/pvs_online /run/lvm/vgs_online /run/lvm/pvs_lookup; }
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc
cap pvscan-orphans pvscan
cap vgscan-none vgscan
cap lvscan-none lvscan
cap vgcreate vgcreate vg0 /dev/vda /dev/vdb
cap lvcreate-base lvcreate -L 32M -n base vg0
cap lvcreate-other lvcreate -L 8M -n other vg0
cap lvcreate-snap lvcreate -s -L 8M -n snap vg0/base
cap lvcreate-inact lvcreate -an -Zn -L 4M -n inact vg0
# --- scans
cap pvscan pvscan
cap pvscan-s pvscan -s
cap pvscan-n pvscan -n
cap pvscan-e pvscan -e
fresh
cap pvscan-cache pvscan --cache
fresh
cap pvscan-cache-dev pvscan --cache /dev/vda
fresh
cap pvscan-cache-dev-ea1 pvscan "${EA1[@]}" --cache /dev/vda
cap vgscan vgscan
cap vgscan-mknodes vgscan --mknodes
cap lvscan lvscan
cap lvscan-a lvscan -a
cap err-vgscan-arg vgscan vg0
cap err-lvscan-arg lvscan vg0
cap err-pvscan-cache-nodev pvscan --cache /dev/nosuch
cap err-pvscan-aay-nocache pvscan -aay
# --- plain autoactivation
cap vgchange-an vgchange -an vg0
cap lvscan-inactive lvscan
cap vgchange-aay vgchange -aay vg0
cap lvs-after-aay lvs -o lv_name,lv_attr
cap lvs-autoact lvs -o lv_name,autoactivation
cap vgs-autoact vgs -o vg_name,autoactivation
# --- an LV with autoactivation off
cap lvchange-setautoact-n lvchange --setautoactivation n vg0/other
cap lvchange-setautoact-n-again lvchange --setautoactivation n vg0/other
cap lvs-autoact-lv-n lvs -o lv_name,autoactivation
backup 01-lv-noautoactivate vg0
cap vgchange-an-2 vgchange -an vg0
cap vgchange-aay-lv-n vgchange -aay vg0
cap lvs-after-aay-lv-n lvs -o lv_name,lv_attr
cap lvchange-aay-other lvchange -aay vg0/other
cap lvs-after-lvchange-aay-other lvs -o lv_name,lv_attr
cap lvchange-ay-other lvchange -ay vg0/other
cap lvs-after-lvchange-ay-other lvs -o lv_name,lv_attr
# --- a VG with autoactivation off
cap vgchange-an-3 vgchange -an vg0
cap vgchange-setautoact-n vgchange --setautoactivation n vg0
cap vgchange-setautoact-n-again vgchange --setautoactivation n vg0
cap vgs-autoact-vg-n vgs -o vg_name,autoactivation
cap lvs-autoact-vg-n lvs -o lv_name,autoactivation
backup 02-vg-noautoactivate vg0
cap vgchange-aay-vg-n vgchange -aay vg0
cap vgchange-aay-all-vg-n vgchange -aay
cap lvs-after-aay-vg-n lvs -o lv_name,lv_attr
fresh
cap pvscan-cache-aay-vg-n pvscan "${EA1[@]}" --cache -aay
cap lvs-after-pvscan-aay-vg-n lvs -o lv_name,lv_attr
cap vgchange-ay-vg-n vgchange -ay vg0
cap lvs-after-ay-vg-n lvs -o lv_name,lv_attr
cap vgchange-setautoact-y vgchange --setautoactivation y vg0
cap lvchange-setautoact-y lvchange --setautoactivation y vg0/other
cap vgs-autoact-y vgs -o vg_name,autoactivation
# --- auto_activation_volume_list and volume_list
cap vgchange-an-4 vgchange -an vg0
cap vgchange-aay-list-lv vgchange -aay --config 'activation/auto_activation_volume_list=["vg0/base"]' vg0
cap lvs-after-aay-list-lv lvs -o lv_name,lv_attr
cap vgchange-an-5 vgchange -an vg0
cap vgchange-aay-list-vg vgchange -aay --config 'activation { auto_activation_volume_list = [ "vg0" ] }' vg0
cap lvs-after-aay-list-vg lvs -o lv_name,lv_attr
cap vgchange-an-6 vgchange -an vg0
cap vgchange-aay-list-tag vgchange -aay --config 'activation/auto_activation_volume_list=["@foo"]' vg0
cap vgchange-aay-list-empty vgchange -aay --config 'activation/auto_activation_volume_list=[]' vg0
cap vgchange-aay-list-other vgchange -aay --config 'activation/auto_activation_volume_list=["vgx","vg0/inact"]' vg0
cap lvs-after-aay-list-other lvs -o lv_name,lv_attr
cap vgchange-ay-list-ignored vgchange -ay --config 'activation/auto_activation_volume_list=["vgx"]' vg0
cap lvs-after-ay-list-ignored lvs -o lv_name,lv_attr
cap vgchange-an-7 vgchange -an vg0
cap vgchange-ay-volume-list vgchange -ay --config 'activation/volume_list=["vg0/other"]' vg0
cap lvs-after-ay-volume-list lvs -o lv_name,lv_attr
cap lvchange-ay-volume-list lvchange -ay --config 'activation/volume_list=["vg0/other"]' vg0/base
cap lvs-after-lvchange-volume-list lvs -o lv_name,lv_attr
cap vgchange-aay-both-lists vgchange -aay --config 'activation { volume_list = [ "vg0/other", "vg0/base" ] auto_activation_volume_list = [ "vg0/base" ] }' vg0
cap lvs-after-both-lists lvs -o lv_name,lv_attr
cap lvchange-an-base lvchange -an vg0/base
cp /etc/lvm/lvm.conf /tmp/lvm.conf.orig
printf 'activation {\n\tauto_activation_volume_list = [ "vg0/other" ]\n}\n' >> /etc/lvm/lvm.conf
cap vgchange-aay-lvmconf vgchange -aay vg0
cap lvs-after-aay-lvmconf lvs -o lv_name,lv_attr
cp /tmp/lvm.conf.orig /etc/lvm/lvm.conf
# --- the activation-skip flag
cap vgchange-ay-8 vgchange -ay vg0
cap lvcreate-ky lvcreate -ky -L 4M -n skip vg0
cap lvs-ky lvs -o lv_name,lv_attr
cap lvcreate-ky-K lvcreate -ky -K -L 4M -n skip2 vg0
cap lvs-ky-K lvs -o lv_name,lv_attr
backup 03-activation-skip vg0
cap lvchange-ay-skip lvchange -ay vg0/skip
cap lvs-after-lvchange-ay-skip lvs -o lv_name,lv_attr
cap lvchange-ay-K-skip lvchange -ay -K vg0/skip
cap lvs-after-lvchange-ay-K-skip lvs -o lv_name,lv_attr
cap vgchange-an-9 vgchange -an vg0
cap vgchange-ay-skip vgchange -ay vg0
cap lvs-after-vgchange-ay-skip lvs -o lv_name,lv_attr
cap vgchange-aay-skip vgchange -aay vg0
cap vgchange-ay-K vgchange -ay -K vg0
cap lvs-after-vgchange-ay-K lvs -o lv_name,lv_attr
cap lvchange-kn lvchange -kn vg0/skip2
cap lvchange-kn-again lvchange -kn vg0/skip2
cap lvchange-ky lvchange -ky vg0/other
cap lvs-after-k lvs -o lv_name,lv_attr
cap lvchange-an-other lvchange -an vg0/other
cap lvchange-ay-other-skip lvchange -ay vg0/other
cap lvscan-skip lvscan
# --- creation with autoactivation off
cap lvcreate-setautoact-n lvcreate --setautoactivation n -L 4M -n noauto vg0
cap lvs-after-lvcreate-setautoact-n lvs -o lv_name,lv_attr,autoactivation
cap vgcreate-setautoact-n vgcreate --setautoactivation n vg1 /dev/vdc
cap vgs-after-vgcreate-setautoact-n vgs -o vg_name,autoactivation
backup 04-vg1 vg1
cap pvscan-two-vgs pvscan
cap vgscan-two-vgs vgscan
cap lvcreate-vg1 lvcreate -L 4M -n l vg1
cap vgchange-an-all vgchange -an
cap vgchange-aay-all vgchange -aay
cap lvscan-two-vgs lvscan
cap vgchange-an-all-2 vgchange -an
fresh
cap pvscan-cache-aay pvscan "${EA1[@]}" --cache -aay
cap lvscan-after-pvscan-aay lvscan
cap vgchange-an-all-3 vgchange -an
fresh
cap pvscan-cache-aay-dev pvscan "${EA1[@]}" --cache --activate ay /dev/vda /dev/vdb
cap lvscan-after-pvscan-aay-dev lvscan
cap vgchange-an-all-4 vgchange -an
fresh
cap pvscan-cache-aay-incomplete pvscan "${EA1[@]}" --cache -aay /dev/vda
cap lvscan-after-pvscan-aay-incomplete lvscan
# vdb completes vg0 only with vda still online from the command before
cap pvscan-cache-aay-complete pvscan "${EA1[@]}" --cache -aay /dev/vdb
cap lvscan-after-pvscan-aay-complete lvscan
# --- bad values
cap err-vgchange-setautoact-x vgchange --setautoactivation x vg0
cap err-lvchange-setautoact-x lvchange --setautoactivation x vg0/base
cap err-lvcreate-setautoact-x lvcreate --setautoactivation x -L 4M -n bad vg0
cap err-vgcreate-setautoact-x vgcreate --setautoactivation x vg2 /dev/vdc
cap err-lvcreate-k-x lvcreate -k x -L 4M -n bad vg0
cap err-lvchange-k-x lvchange -k x vg0/base
cap err-vgchange-a-x vgchange -a x vg0
cap err-lvchange-a-x lvchange -a x vg0/base
cap err-vgchange-K-only vgchange -K vg0
cap err-lvchange-setautoact-nolv lvchange --setautoactivation n vg0/nosuch
cap err-vgchange-setautoact-novg vgchange --setautoactivation n nosuchvg
cap err-vgchange-aay-novg vgchange -aay nosuchvg
cap vgs-end vgs -o vg_name,vg_seqno,autoactivation
cap lvs-end lvs -o lv_name,lv_attr,autoactivation
exit 0
GUEST3
} > "$W/guest3.sh"

# ------------------------------------------------- fourth guest script (oracle4)
# pvmove: setup, refusals, a named move, a PE range, a move frozen mid-way
# (metadata and reports while it runs, a checkpoint, --abort), a whole PV
# moved, then vgreduce and pvremove of the emptied PV.
{ cat "$W/prelude.sh"; cat <<'GUEST4'
capsh() { cap "$1" bash -c "$2"; }
backup() { vgcfgbackup -f "$D/$1.vgbackup" vg0 >/dev/null 2>&1 || echo "vgcfgbackup $1 failed" >&2; }
THR=/sys/module/dm_mirror/parameters/raid1_resync_throttle
throttle() { if [ -w $THR ]; then echo "$1" > $THR; else echo "no $THR" >&2; fi; }
rawmda() { for d in vda vdb vdc; do head -c 1048576 /dev/$d > "$D/raw-$1-$d.img"; done; }
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc
cap vgcreate vgcreate vg0 /dev/vda /dev/vdb /dev/vdc
cap lvcreate-lv1 lvcreate -L 8M -n lv1 vg0 /dev/vda
cap lvcreate-lv2 lvcreate -L 12M -n lv2 vg0 /dev/vda
cap lvcreate-lv3 lvcreate -L 8M -n lv3 vg0 /dev/vda
cap lvcreate-lv4 lvcreate -L 4M -n lv4 vg0 /dev/vda
cap lvcreate-big lvcreate -L 40M -n big vg0 /dev/vdb
capsh write-lv2 'yes lv2 | head -c 12582912 > /dev/vg0/lv2 && sync'
cap pvdisplay-m pvdisplay -m /dev/vda
cap pvs pvs
cap lvs-devices lvs -a -o +devices
# --- refusals (nothing written: the seqno stays)
cap err-pvmove-empty pvmove /dev/vdc
cap err-pvmove-nodev pvmove /dev/nosuch
cap err-pvmove-same pvmove /dev/vda /dev/vda
cap err-pvmove-insufficient pvmove /dev/vda /dev/vdb
cap err-pvmove-range-bad pvmove /dev/vda:5-2
cap err-pvmove-range-parse pvmove /dev/vda:x
cap err-pvmove-nolv pvmove -n nosuch /dev/vda
cap err-pvmove-dest-range pvmove /dev/vda /dev/vdc:0-1
cap err-pvmove-abort-none pvmove --abort
cap pvmove-none pvmove
cap vgs-after-errs vgs -o vg_name,vg_seqno
# --- one LV, in the foreground
cap pvmove-n-lv3 pvmove -i 1 -n lv3 /dev/vda /dev/vdc
cap lvs-after-n lvs -a -o +devices
# --- a PE range (lv1 is PEs 0-1 of vda)
cap pvmove-range pvmove -i 0 /dev/vda:0-1 /dev/vdb
cap lvs-after-range lvs -a -o +devices
backup 00-before-move
# --- a move held mid-way: lv2 (3 extents) and lv4 (1) to vdc
throttle 1
cap pvmove-b pvmove -b -i 1 /dev/vda /dev/vdc
dmsetup suspend vg0-pvmove0
backup 01-pvmove-running
rawmda 01-pvmove-running
cap lvs-during lvs -a -o +devices,move_pv,copy_percent
cap lvs-during-attr lvs -a -o lv_name,lv_attr,move_pv
cap pvs-during pvs
cap pvdisplay-m-during pvdisplay -m /dev/vda
cap dmsetup-table-during dmsetup table
cap err-pvmove-other-src pvmove /dev/vdb /dev/vdc
dmsetup resume vg0-pvmove0
for i in $(seq 600); do
  vgcfgbackup -f /tmp/cp.vgbackup vg0 >/dev/null 2>&1
  grep -q 'extents_moved = 3' /tmp/cp.vgbackup && break
  sleep 0.1
done
cp /tmp/cp.vgbackup "$D/02-pvmove-checkpoint.vgbackup"
rawmda 02-pvmove-checkpoint
cap dmsetup-table-checkpoint dmsetup table
cap lvs-checkpoint lvs -a -o lv_name,lv_attr,move_pv,devices
cap pvmove-abort pvmove --abort /dev/vda
backup 03-after-abort
cap lvs-after-abort lvs -a -o +devices
throttle 100
# --- the rest of vda, with vda made unallocatable first
cap pvchange-xn pvchange -xn /dev/vda
cap pvs-xn pvs
cap pvmove-fg pvmove -i 1 /dev/vda
backup 04-after-move
cap lvs-after-move lvs -a -o +devices
cap pvs-after-move pvs
cap pvdisplay-m-after pvdisplay -m /dev/vda
capsh read-lv2 'cmp <(yes lv2 | head -c 12582912) /dev/vg0/lv2 && echo same'
cap err-pvmove-nodata pvmove /dev/vda
cap vgreduce vgreduce vg0 /dev/vda
cap err-pvmove-notinvg pvmove /dev/vda
cap pvremove pvremove /dev/vda
cap vgs-end vgs -o vg_name,vg_seqno,pv_count
exit 0
GUEST4
} > "$W/guest4.sh"

# ------------------------------------------------- fifth guest script (oracle5)
# Legacy mirrored LVs (--type mirror): each log type, --nosync, -R, the
# reports and displays, the kernel's tables and statuses, refusals,
# lvconvert -m 0 / -m 1 / --mirrorlog / --splitmirrors, deactivation,
# removal, and a one-PV VG.
{ cat "$W/prelude.sh"; cat <<'GUEST5'
capsh() { cap "$1" bash -c "$2"; }
backup() { vgcfgbackup -f "$D/$1.vgbackup" vg0 >/dev/null 2>&1 || echo "vgcfgbackup $1 failed" >&2; }
rawmda() { for d in vda vdb vdc; do head -c 1048576 /dev/$d > "$D/raw-$1-$d.img"; done; }
# waitsync: until every mirror of vg0 shows 100.00 (or 60 s).
waitsync() {
  for i in $(seq 600); do
    lvs --noheadings -o copy_percent vg0 2>/dev/null | grep -v 100.00 | grep -q '[0-9]' || return 0
    sleep 0.1
  done
  echo "waitsync: timeout" >&2
}
# The guest's lvm.conf turns archiving off; on, it keeps every version.
sed -i 's/archive *= *0/archive = 1/' /etc/lvm/lvm.conf
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc
cap vgcreate vgcreate vg0 /dev/vda /dev/vdb /dev/vdc
cap lvcreate-mdisk lvcreate --type mirror -m 1 -L 8M -n mdisk vg0
waitsync
capsh mlog-head 'head -c 1536 /dev/mapper/vg0-mdisk_mlog | xxd -a'
cap lvs-a lvs -a
cap lvs-a-mirror lvs -a -o +devices,mirror_log,region_size,copy_percent
cap lvs-seg lvs -a -o lv_name,lv_attr,seg_pe_ranges,devices
cap lvdisplay lvdisplay vg0/mdisk
cap lvdisplay-m lvdisplay -m vg0/mdisk
cap dmsetup-table dmsetup table
cap dmsetup-status dmsetup status
backup 00-mdisk
capsh write-mdisk 'yes mdisk | head -c 8388608 > /dev/vg0/mdisk && sync'
capsh cmp-legs 'cmp /dev/mapper/vg0-mdisk_mimage_0 /dev/mapper/vg0-mdisk_mimage_1 && echo same'
cap lvcreate-mcore lvcreate --type mirror -m 1 --mirrorlog core -L 4M -n mcore vg0
cap lvcreate-mnosync lvcreate --type mirror -m 1 --nosync -L 4M -n mnosync vg0
cap lvcreate-mregion lvcreate --type mirror -m 1 -R 512k -L 4M -n mregion vg0
cap lvcreate-mmlog lvcreate --type mirror -m 1 --mirrorlog mirrored -L 4M -n mmlog vg0
cap lvcreate-mtwo lvcreate --type mirror -m 1 -L 4M -n mtwo vg0 /dev/vda /dev/vdb
waitsync
cap lvs-a-all lvs -a -o +devices,mirror_log,region_size,copy_percent
cap lvs-attr-all lvs -a -o lv_name,lv_attr,segtype,seg_pe_ranges
cap dmsetup-table-all dmsetup table
cap dmsetup-status-all dmsetup status
backup 01-all
rawmda 01-all
# --- refusals (nothing written: the seqno stays)
cap err-m3 lvcreate --type mirror -m 3 -L 4M -n m3 vg0
cap err-onepv lvcreate --type mirror -m 1 -L 4M -n m1pv vg0 /dev/vda
cap err-big lvcreate --type mirror -m 1 -L 60M -n big vg0
cap err-region lvcreate --type mirror -m 1 -R 3k -L 4M -n mr vg0
cap err-mirrorlog lvcreate --type mirror -m 1 --mirrorlog nosuch -L 4M -n ml vg0
cap vgs-after-errs vgs -o vg_name,vg_seqno
# --- conversions
cap lvconvert-m0 lvconvert -y -m 0 vg0/mcore
cap lvs-after-m0 lvs -a -o +devices
cap lvconvert-m1 lvconvert -y --type mirror -m 1 -i 1 vg0/mcore
cap lvs-after-m1 lvs -a -o +devices,mirror_log
cap lvconvert-log-core lvconvert -y --mirrorlog core vg0/mdisk
cap lvs-after-log-core lvs -a -o +devices,mirror_log
cap lvconvert-log-disk lvconvert -y --mirrorlog disk vg0/mdisk
cap lvs-after-log-disk lvs -a -o +devices,mirror_log
capsh cmp-legs-2 'cmp /dev/mapper/vg0-mdisk_mimage_0 /dev/mapper/vg0-mdisk_mimage_1 && echo same'
cap lvconvert-split lvconvert -y --splitmirrors 1 --name split vg0/mregion
cap lvs-after-split lvs -a -o +devices
cap lvconvert-m0-pv lvconvert -y -m 0 vg0/mtwo /dev/vda
cap lvs-after-m0-pv lvs -a -o +devices
cap dmsetup-table-converted dmsetup table
backup 02-converted
cap lvchange-an lvchange -an vg0/mdisk
cap lvs-inactive lvs -a -o +devices vg0
cap dmsetup-table-inactive dmsetup table
cap lvchange-ay lvchange -ay vg0/mdisk
capsh read-mdisk 'cmp <(yes mdisk | head -c 8388608) /dev/vg0/mdisk && echo same'
cap lvremove-mnosync lvremove -f vg0/mnosync
cap lvremove-mdisk lvremove -f vg0/mdisk
cap lvs-after-remove lvs -a
cap dmsetup-table-after-remove dmsetup table
# --- a VG of one PV
cap lvremove-all lvremove -f vg0
cap vgreduce vgreduce vg0 /dev/vdc
cap vgcreate-vg1 vgcreate vg1 /dev/vdc
cap err-vg1-mirror lvcreate --type mirror -m 1 -L 4M -n m vg1
cap lvcreate-vg1-lin lvcreate -L 4M -n lin vg1
cap err-vg1-convert lvconvert -y --type mirror -m 1 vg1/lin
cap vgs-end vgs -o vg_name,vg_seqno,pv_count
# Every version LVM wrote of vg0 (its archive: the seqno before each
# command, with the command in its description), to see the intermediate
# commits of the mirror commands.
mkdir -p "$D/archive"
for f in /etc/lvm/archive/vg0_*.vg; do
  [ -e "$f" ] || continue
  n=$(sed -n 's/^\tseqno = //p' "$f"); d=$(sed -n 's/^description = //p' "$f")
  printf '%s\t%s\n' "$n" "$d"
  cp "$f" "$D/archive/seqno-$n.vg"
done | sort -n > "$D/archive/vg0-seqnos.txt"
exit 0
GUEST5
} > "$W/guest5.sh"

# ------------------------------------------------ eighth guest script (oracle8)
# Metadata tools: metadata that disagrees between PVs (a stale copy made by
# writing a PV's saved first MiB back after a change; an outdated PV that a
# restored backup left out), vgck [--updatemetadata], pvck [--dump ...],
# lvmconfig, lvmdevices, lvmdiskscan. Three disks (vda, vdb, vdc).
{ cat "$W/prelude.sh"; cat <<'GUEST8'
capsh() { cap "$1" bash -c "$2"; }
# stale DISK: the current first MiB of DISK is saved; restore DISK puts it back
save() { dd if="$1" of="/tmp/$(basename "$1").mib" bs=1M count=1 iflag=direct 2>/dev/null; }
restore() { dd if="/tmp/$(basename "$1").mib" of="$1" bs=1M count=1 oflag=direct conv=notrunc 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches; }

# --- tools on a blank disk and on the first PVs
cap lvmdiskscan-blank lvmdiskscan
cap pvck-blank pvck /dev/vdc
cap pvck-noargs pvck
cap pvcreate pvcreate /dev/vda /dev/vdb
cap vgcreate vgcreate vgs /dev/vda /dev/vdb
cap lvcreate-l1 lvcreate -an -Zn -L 4M -n l1 vgs
cap pvck pvck /dev/vda
cap pvck-two pvck /dev/vda /dev/vdb
cap pvck-dump-headers pvck --dump headers /dev/vda
cap pvck-dump-metadata pvck --dump metadata /dev/vda
cap pvck-dump-metadata-all pvck --dump metadata_all /dev/vda
cap pvck-dump-metadata-search pvck --dump metadata_search /dev/vda
cap pvck-dump-metadata-f pvck --dump metadata -f /tmp/md.txt /dev/vda
capsh cat-md 'cat /tmp/md.txt'
cap pvck-dump-bad pvck --dump bogus /dev/vda
cap pvck-dump-blank pvck --dump headers /dev/vdc
cap lvmdiskscan lvmdiskscan
cap lvmdiskscan-l lvmdiskscan -l

# --- a stale copy on vdb (seqno 2 beside 3 on vda)
save /dev/vdb
cap lvcreate-l2 lvcreate -an -Zn -L 4M -n l2 vgs
restore /dev/vdb
cap vgs-stale vgs
cap pvs-stale pvs
cap lvs-stale lvs
cap vgdisplay-stale vgdisplay vgs
cap vgck-stale vgck vgs
cap vgck-stale-all vgck
cap pvck-stale pvck /dev/vdb
cap vgck-updatemetadata vgck --updatemetadata vgs
cap vgs-updated vgs -o vg_name,pv_count,lv_count,seqno
cap vgck-clean vgck vgs
cap vgck-updatemetadata-clean vgck --updatemetadata vgs
# --- again: the next write repairs the stale copy
save /dev/vdb
cap lvcreate-l3 lvcreate -an -Zn -L 4M -n l3 vgs
restore /dev/vdb
cap lvcreate-l4 lvcreate -an -Zn -L 4M -n l4 vgs
cap vgs-repaired vgs -o vg_name,pv_count,lv_count,seqno
# --- the stale copy on vda (the first PV) instead
save /dev/vda
cap lvremove-l4 lvremove -y vgs/l4
restore /dev/vda
cap vgs-stale-a vgs -o vg_name,pv_count,lv_count,seqno
cap lvs-stale-a lvs
cap lvremove-l3 lvremove -y vgs/l3
cap vgs-repaired-a vgs -o vg_name,pv_count,lv_count,seqno

# --- an outdated PV: a restored backup leaves vdc out of the VG
cap vgcfgbackup vgcfgbackup -f /tmp/vgs.vgbackup vgs
cap pvcreate-c pvcreate /dev/vdc
cap vgextend vgextend vgs /dev/vdc
cap vgcfgrestore vgcfgrestore -f /tmp/vgs.vgbackup vgs
cap pvs-outdated pvs
cap vgs-outdated vgs -o vg_name,pv_count,seqno
cap vgck-outdated vgck vgs
cap pvck-outdated pvck /dev/vdc
cap vgck-updatemetadata-outdated vgck --updatemetadata vgs
cap pvs-after-outdated pvs
cap pvs-a-after-outdated pvs -a
cap vgck-updatemetadata-missing vgck --updatemetadata nosuch
cap vgck-missing vgck nosuch

# --- a damaged PV header (orphan vdc: its label sector)
capsh damage-label 'printf XXXX | dd of=/dev/vdc bs=1 seek=600 conv=notrunc,fsync 2>/dev/null; echo 3 > /proc/sys/vm/drop_caches'
cap pvck-damaged pvck /dev/vdc
cap pvck-dump-headers-damaged pvck --dump headers /dev/vdc
cap pvs-damaged pvs
# --- a damaged mda header (vdb's, at 4096)
save /dev/vdb
capsh damage-mda 'printf XXXX | dd of=/dev/vdb bs=1 seek=4200 conv=notrunc,fsync 2>/dev/null; echo 3 > /proc/sys/vm/drop_caches'
cap pvck-damaged-mda pvck /dev/vdb
cap pvck-dump-headers-damaged-mda pvck --dump headers /dev/vdb
cap vgs-damaged-mda vgs
restore /dev/vdb
cap vgs-restored vgs

# --- lvmconfig (the guest's /etc/lvm/lvm.conf is recorded as lvm.conf.txt)
grep -v '^[[:space:]]*#' /etc/lvm/lvm.conf | grep -v '^[[:space:]]*$' > "$D/lvm.conf.txt"
cap lvmconfig lvmconfig
cap lvmconfig-use-devicesfile lvmconfig devices/use_devicesfile
cap lvmconfig-global lvmconfig global
cap lvmconfig-backup lvmconfig backup
cap lvmconfig-backup-backup lvmconfig backup/backup
cap lvmconfig-default-backup lvmconfig --type default backup
cap lvmconfig-default-global-units lvmconfig --type default global/units
cap lvmconfig-default-activation-snap lvmconfig --type default activation/snapshot_autoextend_threshold activation/snapshot_autoextend_percent activation/mirror_image_fault_policy activation/raid_fault_policy activation/activation_mode
cap lvmconfig-default-global-mirror lvmconfig --type default global/mirror_segtype_default global/event_activation
cap lvmconfig-default-devices-udf lvmconfig --type default devices/use_devicesfile
cap lvmconfig-default-lists lvmconfig --type default activation/volume_list activation/auto_activation_volume_list
cap lvmconfig-diff lvmconfig --type diff
cap lvmconfig-current-config lvmconfig --config 'backup/retain_min=7' backup/retain_min
cap lvmconfig-diff-config lvmconfig --type diff --config 'backup/archive=0'
cap lvmconfig-full-backup lvmconfig --type full backup
cap lvmconfig-default-withcomments lvmconfig --type default --withcomments backup/backup
cap lvmconfig-nosuch lvmconfig nosuch/setting
cap lvmconfig-nosuch-section lvmconfig nosuch
cap lvmconfig-badtype lvmconfig --type bogus
cap lvmconfig-default-nosuch lvmconfig --type default nosuch/setting
cap lvm-dumpconfig lvm dumpconfig backup/backup
cap lvm-config lvm config global/units
cap lvmconfig-default-full lvmconfig --type default
cap lvmconfig-default-backup-section lvmconfig --type default --withcomments backup

# --- lvmdevices (the guest has no lvmdevices link: lvm lvmdevices); first
# with lvm.conf's use_devicesfile=0, then with it set to 1
cap lvmdevices-disabled lvm lvmdevices
sed -i 's/use_devicesfile = 0/use_devicesfile = 1/' /etc/lvm/lvm.conf
cap lvmdevices-none lvm lvmdevices
cap lvmdevices-adddev lvm lvmdevices --adddev /dev/vda
cap lvmdevices-list lvm lvmdevices
cap lvmdevices-adddev-b lvm lvmdevices --adddev /dev/vdb
capsh cat-devices 'grep -v "^#" /etc/lvm/devices/system.devices'
cap pvs-devicesfile pvs
cap lvmdevices-check lvm lvmdevices --check
cap lvmdevices-update lvm lvmdevices --update
cap lvmdevices-adddev-again lvm lvmdevices --adddev /dev/vda
cap lvmdevices-adddev-nodev lvm lvmdevices --adddev /dev/nosuch
cap lvmdevices-deldev lvm lvmdevices --deldev /dev/vdb
cap lvmdevices-deldev-absent lvm lvmdevices --deldev /dev/vdb
cap lvmdevices-list-after lvm lvmdevices
cap pvs-after-deldev pvs
cap lvmdevices-adddev-c lvm lvmdevices --adddev /dev/vdc
cap lvmdevices-list-c lvm lvmdevices
cap lvmdiskscan-devicesfile lvmdiskscan
cap lvmdevices-bad lvm lvmdevices --adddev
cap lvmdevices-deldev-pvid lvm lvmdevices --delpvid nosuchpvid
capsh cat-devices-end 'grep -v "^#" /etc/lvm/devices/system.devices'
exit 0
GUEST8
} > "$W/guest8.sh"

# ------------------------------------------------- sixth guest script (oracle6)
# raid1 on dm-raid: lvcreate -m / --type raid1 (-m 2, --nosync, -R), the
# reports and displays, the kernel's tables and statuses, --syncaction
# check/repair with a mismatch planted on one leg, recovery rates,
# writemostly/writebehind, --rebuild, conversions (linear <-> raid1,
# mirror <-> raid1, -m up/down, --splitmirrors), refusals, then a PV lost
# (its virtio disk unbound in the guest) and the degraded array: reports,
# activation modes, lvconvert --repair onto a new PV, vgreduce
# --removemissing. Four disks: vdd stays outside vg0 until the repair.
# The Debian initramfs lacks dm-raid: run_oracle passes the modules in
# (-f raidmods) and the guest insmods them (loadraid).
{ cat "$W/prelude.sh"; cat <<'GUEST6'
capsh() { cap "$1" bash -c "$2"; }
backup() { vgcfgbackup -f "$D/$1.vgbackup" vg0 >/dev/null 2>&1 || echo "vgcfgbackup $1 failed" >&2; }
# rawmda POINT DISK...: first MiB of each PV (label + metadata ring)
rawmda() { local p=$1 d; shift; for d in "$@"; do head -c 1048576 /dev/$d > "$D/raw-$p-$d.img"; done; }
loadraid() {
  local ko m
  for ko in "$ORACLE_JOB"/files/raidmods/*.ko; do
    m=$(basename "$ko" .ko); m=${m#??-}; m=${m//-/_}
    grep -q "^$m " /proc/modules || insmod "$ko" 2>/dev/null || echo "insmod $m failed" >&2
  done
}
# waitsync: until no raid/mirror of vg0 is below 100% and every raid
# target is idle (or 60 s).
waitsync() {
  for i in $(seq 600); do
    if ! lvs -a --noheadings -o copy_percent vg0 2>/dev/null | grep -v 100.00 | grep -q '[0-9]' &&
       ! dmsetup status --target raid 2>/dev/null | grep ' raid ' | grep -v -q ' idle '; then return 0; fi
    sleep 0.1
  done
  echo "waitsync: timeout" >&2
}
# pedev LV: "DEV BYTE-OFFSET" of the LV's first extent on its PV
pedev() {
  local r dev pe start
  r=$(lvs -a --noheadings -o seg_pe_ranges -S "lv_name=$1" vg0 | tr -d ' ')
  dev=${r%%:*}; pe=${r#*:}; pe=${pe%%-*}
  start=$(pvs --noheadings --nosuffix --units b -o pe_start "$dev" | tr -d ' ')
  echo "$dev $((start + pe * 4194304))"
}
loadraid
R=lv_name,lv_attr,segtype,devices,copy_percent,raid_sync_action,raid_mismatch_count,lv_health_status,region_size,sync_percent
S=lv_name,lv_attr,copy_percent,raid_sync_action,raid_mismatch_count,lv_health_status
# The guest's lvm.conf turns archiving off; on, it keeps every version.
sed -i 's/archive *= *0/archive = 1/' /etc/lvm/lvm.conf
capsh dmsetup-targets-raid 'dmsetup targets | grep raid'
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc /dev/vdd /dev/vde /dev/vdf
cap vgcreate vgcreate vg0 /dev/vda /dev/vdb /dev/vdc
# --- 1. creation
cap lvcreate-r1 lvcreate -m1 -L 8M -n r1 vg0
cap lvcreate-r2 lvcreate --type raid1 -m 2 -L 8M -n r2 vg0
cap lvcreate-r3 lvcreate --type raid1 -m1 --nosync -L 4M -n r3 vg0
cap lvcreate-r4 lvcreate --type raid1 -m1 -L 4M -R 512k -n r4 vg0
waitsync
# --- 2. reports
cap lvs lvs
cap lvs-a lvs -a
cap lvs-a-raid lvs -a -o $R
cap lvs-a-raid2 lvs -a -o lv_name,lv_attr,stripes,data_stripes,raid_write_behind,raid_min_recovery_rate,raid_max_recovery_rate,lv_image_synced,lv_initial_image_sync,lv_role,seg_pe_ranges
cap lvs-a-devices lvs -a -o+devices
cap lvs-a-segments lvs -a --segments
cap lvs-a-segments-pe lvs -a --segments -o+seg_start,seg_size,seg_pe_ranges
cap lvs-json lvs --reportformat json -a
cap lvs-json-raid lvs --reportformat json -a -o $R
cap pvs pvs
cap pvs-segs pvs --segments -o+pvseg_start,pvseg_size,lv_name
cap vgs vgs
cap lvdisplay-r1 lvdisplay vg0/r1
cap lvdisplay-m-r1 lvdisplay -m vg0/r1
cap lvdisplay-m-r3 lvdisplay -m vg0/r3
cap lvdisplay-a-r2 lvdisplay -a -m vg0/r2_rimage_0 vg0/r2_rmeta_0
cap pvdisplay-m-vda pvdisplay -m /dev/vda
cap dmsetup-table dmsetup table
cap dmsetup-status dmsetup status
cap dmsetup-ls-tree dmsetup ls --tree
cap dmsetup-ls dmsetup ls
cap dmsetup-info-c dmsetup info -c
cap vgcfgbackup vgcfgbackup -f "$D/vg0.vgbackup" vg0
rawmda 00-created vda vdb vdc
# inactive
cap lvchange-an-r1 lvchange -an vg0/r1
cap lvs-a-inactive lvs -a -o $R
cap dmsetup-table-inactive dmsetup table
cap lvchange-ay-r1 lvchange -ay vg0/r1
waitsync
cap dmsetup-status-reactivated dmsetup status vg0-r1
# --- 3. sync actions: check, a planted mismatch, repair
cap lvchange-check lvchange --syncaction check vg0/r1
waitsync
cap lvs-after-check lvs -a -o $S vg0/r1
cap dmsetup-status-after-check dmsetup status vg0-r1
read -r dev off < <(pedev r1_rimage_1)
yes MISMATCH | head -c 4096 > /tmp/mm
# 4 KiB of different data at 1 MiB into leg 1 (region 0), on the raw PV
cap plant-mismatch dd if=/tmp/mm of="$dev" bs=4096 seek=$(( (off + 1048576) / 4096 )) oflag=direct status=none
cap lvchange-check-2 lvchange --syncaction check vg0/r1
waitsync
cap lvs-mismatch lvs -a -o $S vg0/r1
cap lvs-mismatch-all lvs -a -o $R
cap dmsetup-status-mismatch dmsetup status vg0-r1
cap lvchange-repair lvchange --syncaction repair vg0/r1
waitsync
cap lvs-after-repair lvs -a -o $S vg0/r1
cap dmsetup-status-after-repair dmsetup status vg0-r1
capsh cmp-legs 'cmp /dev/mapper/vg0-r1_rimage_0 /dev/mapper/vg0-r1_rimage_1 && echo same'
cap lvchange-check-3 lvchange --syncaction check vg0/r1
waitsync
cap lvs-after-recheck lvs -a -o $S vg0/r1
cap dmsetup-status-after-recheck dmsetup status vg0-r1
# LVM takes only check and repair (the kernel also knows frozen, idle, ...)
cap err-syncaction-frozen lvchange --syncaction frozen vg0/r2
cap err-syncaction-idle lvchange --syncaction idle vg0/r2
# --- 4. recovery rates, writemostly / writebehind, rebuild
cap lvchange-maxrate lvchange --maxrecoveryrate 1M vg0/r4
cap lvchange-minrate lvchange --minrecoveryrate 64k vg0/r4
read -r dev4 off4 < <(pedev r4_rimage_1)
cap lvchange-writemostly lvchange -y --writemostly "$dev4" vg0/r4
cap lvchange-writebehind lvchange --writebehind 512 vg0/r4
capsh lvchange-refresh-vvvv-r4 'lvchange --refresh -vvvv vg0/r4 2>&1 | grep -o "raid1 [0-9]* 0 .*" | sort -u'
cap lvs-r4-options lvs -a -o lv_name,lv_attr,raid_write_behind,raid_min_recovery_rate,raid_max_recovery_rate,devices vg0/r4 vg0/r4_rimage_0 vg0/r4_rimage_1
cap dmsetup-table-r4 dmsetup table vg0-r4
cap dmsetup-status-r4 dmsetup status vg0-r4
backup 01-r4-options
cap lvchange-writemostly-off lvchange -y --writemostly "$dev4:n" vg0/r4
cap lvchange-writebehind-0 lvchange --writebehind 0 vg0/r4
cap dmsetup-table-r4-off dmsetup table vg0-r4
read -r dev2 off2 < <(pedev r2_rimage_1)
cap err-rebuild-noprompt lvchange --rebuild "$dev2" vg0/r2
cap lvchange-rebuild lvchange -y --rebuild "$dev2" vg0/r2
waitsync
cap dmsetup-table-r2-rebuilt dmsetup table vg0-r2
cap dmsetup-status-r2-rebuilt dmsetup status vg0-r2
cap lvs-r2-rebuilt lvs -a -o $S vg0
# --- 5. conversions
cap lvcreate-lin lvcreate -L 8M -n lin vg0
capsh write-lin 'yes lin | head -c 8388608 > /dev/vg0/lin && sync'
cap lvconvert-lin-m1 lvconvert -y -m1 vg0/lin
waitsync
cap lvs-lin-raid1 lvs -a -o $R vg0
cap dmsetup-table-lin-raid1 dmsetup table
capsh cmp-lin-legs 'cmp /dev/mapper/vg0-lin_rimage_0 /dev/mapper/vg0-lin_rimage_1 && echo same'
backup 02-lin-raid1
cap lvconvert-lin-m0 lvconvert -y -m0 vg0/lin
cap lvs-lin-linear lvs -a -o+devices vg0
cap dmsetup-table-lin-linear dmsetup table
capsh read-lin 'cmp <(yes lin | head -c 8388608) /dev/vg0/lin && echo same'
cap lvcreate-mir lvcreate --type mirror -m1 -L 4M -n mir vg0
waitsync
cap lvs-mir lvs -a -o $R vg0
cap lvconvert-mir-raid1 lvconvert -y --type raid1 vg0/mir
waitsync
cap lvs-mir-raid1 lvs -a -o $R vg0
cap dmsetup-table-mir-raid1 dmsetup table
backup 03-mir-raid1
cap lvconvert-mir-mirror lvconvert -y --type mirror vg0/mir
waitsync
cap lvs-mir-mirror lvs -a -o $R vg0
cap lvremove-mir lvremove -f vg0/mir
cap lvconvert-r1-m2 lvconvert -y -m2 vg0/r1
waitsync
cap lvs-r1-m2 lvs -a -o $R vg0
cap dmsetup-table-r1-m2 dmsetup table
cap dmsetup-status-r1-m2 dmsetup status vg0-r1
backup 04-r1-m2
cap lvconvert-r1-m1 lvconvert -y -m1 vg0/r1
cap lvs-r1-m1 lvs -a -o $R vg0
cap dmsetup-table-r1-m1 dmsetup table
cap lvconvert-split lvconvert -y --splitmirrors 1 --name split vg0/r2
cap lvs-split lvs -a -o $R vg0
cap lvremove-split lvremove -f vg0/split
backup 05-converted
# --- 6. refusals
cap vgcreate-vg1 vgcreate vg1 /dev/vdd
cap err-vg1-m1 lvcreate -m1 -L 4M -n x vg1
cap err-vg1-raid1 lvcreate --type raid1 -m1 -L 4M -n x vg1
cap vgremove-vg1 vgremove vg1
cap err-m3 lvcreate -m 3 -L 4M -n m3 vg0
cap err-syncaction-linear lvchange --syncaction check vg0/lin
cap err-syncaction-bogus lvchange --syncaction bogus vg0/r1
cap lvconvert-repair-healthy lvconvert -y --repair vg0/r4
cap err-repair-linear lvconvert -y --repair vg0/lin
cap err-rebuild-notinlv lvchange -y --rebuild /dev/vdd vg0/r1
cap lvconvert-m1-same lvconvert -y -m1 vg0/r4
cap err-region-bad lvcreate --type raid1 -m1 -R 3k -L 4M -n rr vg0
cap err-raid1-m0 lvcreate --type raid1 -m 0 -L 4M -n r0 vg0
cap lvcreate-lsnap lvcreate -s -L 4M -n lsnap vg0/lin
cap lvconvert-snap-origin-m1 lvconvert -y -m1 vg0/lin
cap lvs-snap-origin lvs -a -o $R vg0
cap lvremove-lsnap lvremove -f vg0/lsnap
cap lvconvert-lin-m0-again lvconvert -y -m0 vg0/lin
cap vgs-after-errs vgs -o vg_name,vg_seqno
# --- 7. a PV lost: vdb's virtio disk unbound (the disk disappears)
backup 06-before-failure
rawmda 06-before-failure vda vdb vdc vdd
cap lvs-before-failure lvs -a -o lv_name,lv_attr,devices
capsh unbind-vdb 'echo $(basename $(readlink /sys/block/vdb/device)) > /sys/bus/virtio/drivers/virtio_blk/unbind'
cap write-r1 dd if=/dev/zero of=/dev/vg0/r1 bs=1M count=1 oflag=direct status=none
cap write-r2 dd if=/dev/zero of=/dev/vg0/r2 bs=1M count=1 oflag=direct status=none
cap dmsetup-status-failed dmsetup status
cap lvs-failed lvs -a -o lv_name,lv_attr,lv_health_status,devices
cap lvs-failed-raid lvs -a -o $R
cap lvs-a-failed lvs -a
cap pvs-failed pvs
cap vgs-failed vgs
cap lvdisplay-m-failed lvdisplay -m vg0/r1
cap vgcfgbackup-failed vgcfgbackup -f "$D/07-failed.vgbackup" vg0
cap lvchange-refresh-r1 lvchange --refresh vg0/r1
cap dmsetup-status-refreshed dmsetup status vg0-r1
# activation modes on r4 (a leg on vdb, not written since)
cap lvchange-an-r4 lvchange -an vg0/r4
cap err-activation-complete lvchange -ay --activationmode complete vg0/r4
cap lvchange-ay-degraded lvchange -ay --activationmode degraded vg0/r4
cap dmsetup-table-degraded dmsetup table
cap dmsetup-status-degraded dmsetup status vg0-r4
cap dmsetup-ls-tree-degraded dmsetup ls --tree
cap lvs-degraded lvs -a -o lv_name,lv_attr,lv_health_status,devices vg0
cap lvchange-an-r4-2 lvchange -an vg0/r4
cap lvchange-ay-partial lvchange -ay --activationmode partial vg0/r4
cap dmsetup-table-partial dmsetup table
cap lvs-partial lvs -a -o lv_name,lv_attr,lv_health_status vg0/r4
# repair onto vdd
cap err-repair-notinvg lvconvert -y --repair vg0/r1 /dev/vdd
cap vgextend-vdd vgextend vg0 /dev/vdd
cap lvconvert-repair-r1 lvconvert -y --repair vg0/r1 /dev/vdd
waitsync
cap lvs-repaired-r1 lvs -a -o $R vg0
cap dmsetup-table-repaired dmsetup table
cap dmsetup-status-repaired dmsetup status
backup 08-repaired-r1
cap lvconvert-repair-r2 lvconvert -y --repair vg0/r2
waitsync
cap lvs-repaired-r2 lvs -a -o $R vg0
cap vgreduce-removemissing vgreduce --removemissing vg0
cap lvs-after-removemissing lvs -a -o $R vg0
cap vgreduce-removemissing-force vgreduce --removemissing --force vg0
cap lvs-after-removemissing-force lvs -a -o $R vg0
cap dmsetup-table-after-removemissing-force dmsetup table
cap dmsetup-status-after-removemissing-force dmsetup status
backup 09-after-removemissing-force
# the legs vgreduce turned into error segments, replaced
cap lvconvert-repair-r3 lvconvert -y --repair vg0/r3
cap lvconvert-repair-r4 lvconvert -y --repair vg0/r4
waitsync
cap lvs-end lvs -a -o $R vg0
cap pvs-end pvs
cap vgs-end vgs -o vg_name,vg_seqno,pv_count,lv_count
cap dmsetup-table-end dmsetup table
cap dmsetup-status-end dmsetup status
backup 10-final
rawmda 10-final vda vdc vdd
# Every version LVM wrote of vg0 (see oracle5).
mkdir -p "$D/archive"
for f in /etc/lvm/archive/vg0_*.vg; do
  [ -e "$f" ] || continue
  n=$(sed -n 's/^\tseqno = //p' "$f"); d=$(sed -n 's/^description = //p' "$f")
  printf '%s\t%s\n' "$n" "$d"
  cp "$f" "$D/archive/seqno-$n.vg"
done | sort -n > "$D/archive/vg0-seqnos.txt"
exit 0
GUEST6
} > "$W/guest6.sh"

# ------------------------------------------------- tenth guest script (oracle10)
# Tags (--addtag/--deltag on vgcreate, lvcreate, vgchange, lvchange,
# pvchange; the report fields; @tag arguments; activation/volume_list and
# auto_activation_volume_list), vgexport/vgimport (-a too), vgimportclone
# of copied disks (default name, -n, --import) and vgmknodes. Five disks:
# vg0 on vda+vdb, vg1 on vdc, vdd and vde become copies of vdc.
{ cat "$W/prelude.sh"; cat <<'GUEST10'
capsh() { cap "$1" bash -c "$2"; }
A="lv_name,lv_attr"
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc
cap vgcreate-addtag vgcreate --addtag vgt1 vg0 /dev/vda /dev/vdb
cap lvcreate-addtag lvcreate --addtag lvt1 -L 8M -n lv1 vg0
cap lvcreate-lv2 lvcreate -L 8M -n lv2 vg0
cap vgs-tags vgs -o vg_name,vg_tags
cap lvs-tags lvs -o lv_name,lv_tags
cap pvs-tags pvs -o pv_name,pv_tags
cap vgchange-addtag vgchange --addtag vgt2 vg0
cap vgchange-deltag vgchange --deltag vgt1 vg0
cap vgchange-addtag-two vgchange --addtag zz --addtag aa vg0
cap vgs-tags-2 vgs -o vg_name,vg_tags
cap lvchange-addtag lvchange --addtag lvt2 vg0/lv2
cap lvchange-addtag-two lvchange --addtag b_t --addtag a.t vg0/lv1
cap lvchange-deltag lvchange --deltag b_t vg0/lv1
cap pvchange-addtag pvchange --addtag pvt1 /dev/vda
cap pvchange-addtag-b pvchange --addtag pvt2 /dev/vdb
cap pvchange-deltag pvchange --deltag pvt2 /dev/vdb
cap lvs-tags-2 lvs -o lv_name,lv_tags
cap pvs-tags-2 pvs -o pv_name,pv_tags
cap lvs-tags-all lvs -o lv_name,lv_tags,vg_tags
cap vgs-json vgs --reportformat json -o vg_name,vg_tags
cap lvs-json lvs --reportformat json -o lv_name,lv_tags
# tag rules
cap err-addtag-bad-char vgchange --addtag 'bad!tag' vg0
cap err-addtag-space lvchange --addtag 'a b' vg0/lv1
cap err-addtag-empty lvchange --addtag '' vg0/lv1
cap addtag-chars lvchange --addtag 'x/y=z+w:v-u' vg0/lv1
cap addtag-at lvchange --addtag '@at' vg0/lv1
cap err-addtag-long lvchange --addtag "$(printf 'a%.0s' $(seq 1 1025))" vg0/lv1
cap addtag-again vgchange --addtag vgt2 vg0
cap deltag-missing vgchange --deltag nosuch vg0
cap lvchange-deltag-missing lvchange --deltag nosuch vg0/lv1
cap pvchange-deltag-missing pvchange --deltag nosuch /dev/vda
cap err-pvcreate-addtag pvcreate --addtag x /dev/vdd
cap lvs-tags-3 lvs -o lv_name,lv_tags
# @tag arguments
cap lvs-at lvs @lvt1
cap lvs-at-vgtag lvs @vgt2
cap vgs-at vgs @vgt2
cap vgs-at-lvtag vgs @lvt1
cap pvs-at pvs @pvt1
cap lvs-at-none lvs @nosuch
cap vgs-at-none vgs @nosuch
cap lvchange-an-at lvchange -an @lvt2
cap lvs-attr lvs -o $A
cap vgchange-an-at vgchange -an @vgt2
cap lvs-attr-2 lvs -o $A
cap lvchange-ay-at lvchange -ay @lvt1
cap lvs-attr-3 lvs -o $A
cap lvchange-deltag-at lvchange --deltag lvt1 @lvt1
cap vgchange-an vgchange -an vg0
# activation/volume_list and auto_activation_volume_list
cap lvchange-ay-list-miss lvchange -ay --config 'activation/volume_list=["@lvt2"]' vg0/lv1
cap lvs-attr-4 lvs -o $A
cap lvchange-ay-list-hit lvchange -ay --config 'activation/volume_list=["@lvt2"]' vg0/lv2
cap lvs-attr-5 lvs -o $A
cap vgchange-an-2 vgchange -an vg0
cap vgchange-ay-list-lv vgchange -ay --config 'activation/volume_list=["vg0/lv1"]' vg0
cap lvs-attr-6 lvs -o $A
cap vgchange-an-3 vgchange -an vg0
cap vgchange-ay-list-star vgchange -ay --config 'activation/volume_list=["@*"]' vg0
cap lvs-attr-7 lvs -o $A
cap vgchange-ay-list-vg vgchange -ay --config 'activation/volume_list=["vg0"]' vg0
cap lvs-attr-8 lvs -o $A
cap vgchange-an-4 vgchange -an vg0
cap vgchange-ay-list-vgtag vgchange -ay --config 'activation/volume_list=["@vgt2"]' vg0
cap lvs-attr-9 lvs -o $A
cap vgchange-an-5 vgchange -an vg0
cap vgchange-aay-autolist vgchange -aay --config 'activation/auto_activation_volume_list=["@lvt2"]' vg0
cap lvs-attr-10 lvs -o $A
cap vgchange-an-6 vgchange -an vg0
cap vgchange-ay-autolist vgchange -ay --config 'activation/auto_activation_volume_list=["@lvt2"]' vg0
cap lvs-attr-11 lvs -o $A
# vgexport / vgimport
cap err-vgexport-active vgexport vg0
cap vgchange-an-7 vgchange -an vg0
cap vgexport vgexport vg0
cap vgs vgs
cap vgs-attr vgs -o vg_name,vg_attr,vg_exported
cap pvs pvs
cap pvs-attr pvs -o pv_name,pv_attr,pv_exported,vg_name
cap lvs-exported lvs vg0
cap lvs-all-exported lvs
cap err-lvcreate-exported lvcreate -L 4M -n lv3 vg0
cap err-vgchange-ay-exported vgchange -ay vg0
cap err-lvchange-exported lvchange -ay vg0/lv1
cap err-vgchange-addtag-exported vgchange --addtag q vg0
cap err-vgexport-again vgexport vg0
cap pvscan pvscan
cap vgimport vgimport vg0
cap err-vgimport-again vgimport vg0
cap vgs-after-import vgs -o vg_name,vg_attr
cap pvs-after-import pvs -o pv_name,pv_attr
cap err-vgexport-none vgexport
cap err-vgimport-none vgimport
cap err-vgexport-missing vgexport nosuch
cap err-vgimport-missing vgimport nosuch
cap vgcreate-vg1 vgcreate vg1 /dev/vdc
cap lvcreate-vg1 lvcreate -L 4M -n l1 vg1
cap vgchange-an-vg1 vgchange -an vg1
cap vgexport-a vgexport -a
cap vgs-exported-all vgs -o vg_name,vg_attr
cap vgimport-a vgimport -a
cap vgs-imported-all vgs -o vg_name,vg_attr
cap vgcfgbackup-vg0 vgcfgbackup -f "$D/vg0.vgbackup" vg0
# vgimportclone: vdd a copy of vdc (vg1, inactive)
cap copy-vdd dd if=/dev/vdc of=/dev/vdd bs=1M oflag=direct status=none
cap pvs-dup pvs
cap vgimportclone vgimportclone /dev/vdd
cap vgs-clone vgs -o vg_name,pv_count,lv_count,vg_attr
cap pvs-clone pvs -o pv_name,vg_name
cap lvs-clone lvs vg1_1
cap vgexport-vg1 vgexport vg1
cap copy-vde dd if=/dev/vdc of=/dev/vde bs=1M oflag=direct status=none
cap err-vgimportclone-exported vgimportclone /dev/vde
cap vgimportclone-import vgimportclone --import -n clone2 /dev/vde
cap vgs-clone2 vgs -o vg_name,vg_attr
cap vgimport-vg1 vgimport vg1
cap err-vgimportclone-name-taken vgimportclone -n vg0 /dev/vde
cap err-vgimportclone-none vgimportclone
cap vgs-end vgs
# vgmknodes
cap vgchange-ay-vg0 vgchange -ay vg0
cap vgmknodes vgmknodes
cap vgmknodes-vg vgmknodes vg0
rm -f /dev/vg0/lv1
cap vgmknodes-recreate vgmknodes vg0
capsh ls-dev-vg0 'ls /dev/vg0'
cap vgmknodes-refresh vgmknodes --refresh vg0
cap err-vgmknodes-missing vgmknodes nosuch
cap vgmknodes-lv vgmknodes vg0/lv1
# more: pvscan -e, bad tags elsewhere, @tag in more commands
cap pvscan-e-none pvscan -e
cap vgexport-vg1-2 vgexport vg1
cap pvscan-e pvscan -e
cap vgimport-vg1-2 vgimport vg1
cap err-vgexport-a-name vgexport -a vg0
cap err-lvcreate-addtag-bad lvcreate --addtag 'a b' -L 4M -n bad vg0
cap err-vgcreate-addtag-bad vgcreate --addtag , vgx /dev/vdd
cap vgchange-addtag-at vgchange --addtag more @vgt2
cap vgs-tags-end vgs -o vg_name,vg_tags
cap pvchange-at pvchange --addtag pvt9 @pvt1
cap pvs-tags-end pvs -o pv_name,pv_tags
cap lvchange-p-at lvchange -p r @lvt2
cap lvs-attr-end lvs -o lv_name,lv_attr,lv_tags vg0
cap lvs-at-multi lvs -o lv_name @a.t @lvt2
cap lvs-at-and-vg lvs -o lv_name,vg_name @a.t vg1
cap vgchange-an-end vgchange -an vg0
cap lvremove-at lvremove -f @lvt2
cap lvs-after-lvremove lvs -o lv_name,lv_tags vg0
cap vgchange-addtag-vg11 vgchange --addtag gone vg11
cap vgremove-at vgremove -f @gone
cap vgs-after-vgremove vgs -o vg_name,vg_tags
# what an exported VG allows; @tag in the displays
cap vgexport-vg1-3 vgexport vg1
cap vgdisplay-exported vgdisplay vg1
cap pvdisplay-exported pvdisplay /dev/vdc
cap lvdisplay-exported lvdisplay vg1
cap vgck-exported vgck vg1
cap vgcfgbackup-exported vgcfgbackup -f /out/vg1-exported.vgbackup vg1
cap vgchange-an-exported vgchange -an vg1
cap vgchange-an-all vgchange -an
cap lvs-all-exported-2 lvs -o lv_name,vg_name
cap vgrename-exported vgrename vg1 vg1x
cap vgimport-a-2 vgimport -a
cap vgs-after-rename vgs -o vg_name,vg_attr
cap lvchange-addtag-dt lvchange --addtag dt vg0/lv1
cap lvdisplay-at lvdisplay @dt
cap vgdisplay-at vgdisplay @vgt2
cap pvdisplay-at pvdisplay @pvt1
cap lvs-at-dt-vg lvs -o lv_name,vg_name @dt vg0
# vgimportclone refusals: a PV in no VG (vdd, once vg11), a bad name, a
# VG that is no copy, part of a VG (vdd a copy of vda, half of vg0)
cap pvchange-addtag-orphan pvchange --addtag x /dev/vdd
cap err-vgimportclone-orphan vgimportclone /dev/vdd
cap err-vgimportclone-badname vgimportclone -n bad/name /dev/vde
cap vgimportclone-notdup vgimportclone /dev/vde
cap vgs-notdup vgs -o vg_name
cap copy-vda-vdd dd if=/dev/vda of=/dev/vdd bs=1M oflag=direct status=none
cap err-vgimportclone-part vgimportclone /dev/vdd
cap vgs-part vgs -o vg_name,pv_count
# the copy of vda wiped; --addtag and --deltag of one tag together,
# pvchange -a, tags with activation
cap wipe-vdd dd if=/dev/zero of=/dev/vdd bs=1M count=1 oflag=direct status=none
cap lvchange-add-del-same lvchange --addtag q --deltag q vg0/lv1
cap vgchange-del-add-same vgchange --deltag r --addtag r vg0
cap lvs-tags-q lvs -o lv_name,lv_tags vg0
cap vgs-tags-r vgs -o vg_name,vg_tags vg0
cap pvchange-a-addtag pvchange -a --addtag all1
cap pvs-tags-all pvs -o pv_name,pv_tags
cap lvchange-ay-addtag lvchange -ay --addtag act vg0/lv1
cap lvs-attr-act lvs -o lv_name,lv_attr,lv_tags vg0
exit 0
GUEST10
} > "$W/guest10.sh"
# ------------------------------------------------- ninth guest script (oracle9)
# Origins with snapshots resized (lvextend active and inactive, the kernel's
# tables before and after, lvreduce refused), vgsplit into an existing VG
# (attribute mismatches, active LVs) and vgsplit -n LV, lvconvert
# --splitsnapshot and lvconvert -s re-attaching the COW (prompt, -y, -Zn),
# with the snapshot's data read back. Six disks: vdd, vde and vdf make VGs
# with another extent size, a maximum of 1 LV and of 1 PV.
{ cat "$W/prelude.sh"; cat <<'GUEST9'
capsh() { cap "$1" bash -c "$2"; }
pattern() { yes "$1" | head -c "$2"; }
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc /dev/vdd /dev/vde /dev/vdf
cap vgcreate vgcreate vg0 /dev/vda /dev/vdb
# --- 1. an origin with a snapshot grows; LVM refuses to shrink it
cap lvcreate-origin lvcreate -L 8M -n origin vg0 /dev/vda
pattern OLD 8388608 | dd of=/dev/vg0/origin bs=1M oflag=direct status=none
cap lvcreate-snap lvcreate -s -L 4M -n snap vg0/origin /dev/vda
pattern NEW 1048576 | dd of=/dev/vg0/origin bs=1M oflag=direct status=none
cap dmsetup-table-before dmsetup table
cap lvextend-origin-active lvextend -L 12M vg0/origin
cap dmsetup-table-extended dmsetup table
cap lvs-extended lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,devices vg0
capsh snap-data-extended 'cmp <(yes OLD | head -c 8388608) <(head -c 8388608 /dev/vg0/snap) && echo same'
capsh snap-size-extended 'blockdev --getsz /dev/vg0/snap /dev/vg0/origin'
cap lvreduce-origin lvreduce -f -L 8M vg0/origin
cap lvresize-origin-shrink lvresize -f -l 1 vg0/origin
cap lvreduce-origin-inactive-prep vgchange -an vg0
cap lvreduce-origin-inactive lvreduce -f -L 8M vg0/origin
cap lvextend-origin-inactive lvextend -l +1 vg0/origin
cap lvs-extended-inactive lvs -a -o lv_name,lv_attr,lv_size,origin,devices vg0
cap vgchange-ay vgchange -ay vg0
cap dmsetup-table-reactivated dmsetup table
capsh snap-data-reactivated 'cmp <(yes OLD | head -c 8388608) <(head -c 8388608 /dev/vg0/snap) && echo same'
capsh snap-size-reactivated 'blockdev --getsz /dev/vg0/snap /dev/vg0/origin'
cap lvresize-origin-grow lvresize -L +4M vg0/origin
cap dmsetup-table-resized dmsetup table
# --- 2. lvconvert --splitsnapshot, then -s re-attaching the COW
cap splitsnapshot-origin lvconvert --splitsnapshot vg0/origin
cap splitsnapshot-missing lvconvert --splitsnapshot vg0/nosuch
cap splitsnapshot-active-noanswer lvconvert --splitsnapshot vg0/snap
cap vgchange-an-split vgchange -an vg0
cap splitsnapshot-inactive lvconvert --splitsnapshot vg0/snap
cap lvs-split lvs -a -o lv_name,lv_attr,lv_size,origin,devices vg0
cap vgchange-ay-split vgchange -ay vg0
cap dmsetup-table-split dmsetup table
cap reattach-noanswer lvconvert -s vg0/origin vg0/snap
cap reattach-active-Zn lvconvert -y -Zn -s vg0/origin vg0/snap
cap lvs-reattached lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,chunk_size,devices vg0
cap dmsetup-table-reattached dmsetup table
capsh snap-data-reattached 'cmp <(yes OLD | head -c 8388608) <(head -c 8388608 /dev/vg0/snap) && echo same'
cap reattach-twice lvconvert -y -Zn -s vg0/origin vg0/snap
cap splitsnapshot-active-y lvconvert -y --splitsnapshot vg0/snap
cap lvs-split-active lvs -a -o lv_name,lv_attr,lv_size,origin,devices vg0
cap dmsetup-table-split-active dmsetup table
cap reattach-chunksize lvconvert -y -Zn --snapshot --chunksize 8k vg0/origin vg0/snap
cap lvs-reattached-8k lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,chunk_size vg0
cap dmsetup-table-8k dmsetup table
capsh snap-data-8k 'cmp <(yes OLD | head -c 8388608) <(head -c 8388608 /dev/vg0/snap) && echo same'
cap splitsnapshot-8k lvconvert -y --splitsnapshot vg0/snap
cap reattach-zero-y lvconvert -y -s -c 4k vg0/origin vg0/snap
cap lvs-reattached-zeroed lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,chunk_size vg0
capsh snap-data-zeroed 'cmp <(head -c 8388608 /dev/vg0/origin) <(head -c 8388608 /dev/vg0/snap) && echo same'
cap reattach-self lvconvert -y -s vg0/origin vg0/origin
cap reattach-missing lvconvert -y -s vg0/origin vg0/nosuch
cap splitsnapshot-zeroed lvconvert -y --splitsnapshot vg0/snap
cap reattach-bad-chunk lvconvert -y -s -c 3k vg0/origin vg0/snap
cap reattach-big-chunk lvconvert -y -s -c 1m vg0/origin vg0/snap
cap reattach-origin-missing lvconvert -y -s vg0/nosuch vg0/snap
cap reattach-final lvconvert -y -Zn -s vg0/origin vg0/snap
cap vgchange-an-2 vgchange -an vg0
# --- 3. vgsplit into an existing VG, vgsplit -n
cap lvcreate-a lvcreate -an -L 4M -n a vg0 /dev/vdb
cap lvcreate-b lvcreate -L 4M -n b vg0 /dev/vdb
cap vgcreate-vg1 vgcreate vg1 /dev/vdc
cap vgcreate-vg2 vgcreate -s 1M vg2 /dev/vdd
cap vgsplit-existing-active vgsplit vg0 vg1 /dev/vdb
cap lvchange-an-b lvchange -an vg0/b
cap vgsplit-extent-mismatch vgsplit vg0 vg2 /dev/vdb
cap vgcreate-maxlv vgcreate -l 1 vgl /dev/vde
cap vgsplit-maxlv vgsplit vg0 vgl /dev/vdb
cap vgcreate-maxpv vgcreate -p 1 vgp /dev/vdf
cap vgsplit-maxpv vgsplit vg0 vgp /dev/vdb
cap vgsplit-new-option vgsplit -l 5 vg0 vg1 /dev/vdb
cap vgsplit-existing vgsplit vg0 vg1 /dev/vdb
cap vgs-split vgs -o vg_name,pv_count,lv_count,vg_extent_size,vg_attr
cap lvs-split-existing lvs -a -o vg_name,lv_name,lv_attr,lv_size,devices
cap vgsplit-n-missing vgsplit -n nosuch vg1 vg0
cap vgsplit-n-and-pv vgsplit -n a vg1 vg0 /dev/vdb
cap vgsplit-n-nodest vgsplit -n a vg1
cap lvcreate-span lvcreate -l 13 -n span vg1 /dev/vdb
cap lvextend-span lvextend -l +1 vg1/span /dev/vdc
cap lvchange-an-span lvchange -an vg1/span
cap pvs-span pvs -o pv_name,vg_name,pv_pe_count,pv_pe_alloc_count,pv_free
cap vgsplit-n-spans vgsplit -n a vg1 vg0
cap lvremove-span lvremove -f vg1/span
cap lvchange-ay-a lvchange -ay vg1/a
cap vgsplit-n-active vgsplit -n a vg1 vg0
cap lvchange-an-a lvchange -an vg1/a
cap vgsplit-n vgsplit -n a vg1 vg0
cap lvs-split-n lvs -a -o vg_name,lv_name,lv_attr,lv_size,devices
cap vgs-split-n vgs -o vg_name,pv_count,lv_count,vg_attr
cap lvchange-ay-b lvchange -ay vg0/b
cap vgsplit-n-new-active vgsplit -n b vg0 vg4
cap lvchange-an-b2 lvchange -an vg0/b
cap vgsplit-n-new vgsplit -n b vg0 vg4
cap vgs-split-n-new vgs -o vg_name,pv_count,lv_count,vg_attr
cap vgsplit-n-snapshot vgsplit -n snap vg0 vg5
cap vgsplit-all-pvs vgsplit vg5 vg6 /dev/vda
cap vgs-end vgs -o vg_name,pv_count,lv_count,vg_attr
cap lvs-end lvs -a -o vg_name,lv_name,lv_attr,lv_size,origin,devices
# --- 4. lvextend/lvreduce/lvresize -r on xfs: LVM runs fsadm, which
# grows xfs with xfs_growfs (mounted, or mounted on a temporary directory)
# and refuses to shrink it. The guest lacks xfs: xfsfiles passes xfsprogs,
# fsadm and the xfs module in (-f xfsfiles), loadxfs installs them.
loadxfs() {
  local f="$ORACLE_JOB/files/xfsfiles" ko
  cp -a "$f"/bin/* /usr/sbin/ && cp "$f"/lib/* /usr/lib/x86_64-linux-gnu/ && cp "$f/fsadm" /sbin/fsadm
  for ko in "$f"/ko/*.ko; do insmod "$ko" 2>/dev/null; done
  grep -q '^xfs ' /proc/modules || echo "loadxfs: no xfs module" >&2
}
loadxfs
cap lvcreate-xfs lvcreate -L 32M -n xfs vg1
# mkfs.xfs makes nothing under 300 MB unless told it runs under fstests.
capsh mkfs-xfs 'TEST_DIR=/tmp TEST_DEV=/dev/vg1/xfs QA_CHECK_FS=1 mkfs.xfs -q /dev/vg1/xfs'
mkdir -p /mnt/x
mount /dev/vg1/xfs /mnt/x && echo kept > /mnt/x/file
cap lvextend-r-xfs-mounted lvextend -r -L +8M vg1/xfs
capsh xfs-blocks-mounted 'xfs_info /mnt/x | grep -o "^data *=.*blocks=[0-9]*"'
umount /mnt/x
cap lvextend-r-xfs-unmounted lvextend -r -L +4M vg1/xfs
cap lvreduce-r-xfs lvreduce -r -f -L -4M vg1/xfs
cap lvresize-r-xfs-shrink lvresize -r -f -L 32M vg1/xfs
cap lvresize-r-xfs lvresize -r -L 48M vg1/xfs
cap lvs-xfs lvs -o lv_name,lv_size vg1
capsh xfs-data 'mount /dev/vg1/xfs /mnt/x && xfs_info /mnt/x | grep -o "^data *=.*blocks=[0-9]*" && cat /mnt/x/file && umount /mnt/x'
# --- 5. the same on reiserfs (fsck, reiserfstune, resize_reiserfs; loadxfs
# brought reiserfsprogs and util-linux's fsck too), in vg2 (1 MiB extents).
cap lvcreate-reiser lvcreate -L 32M -n reiser vg2
capsh mkreiserfs 'mkreiserfs -q -f -s 513 /dev/vg2/reiser'
cap lvextend-r-reiser lvextend -r -L +8M vg2/reiser
capsh reiser-blocks-extended 'reiserfstune /dev/vg2/reiser | grep -E "^(Blocksize|Count of blocks)"'
cap lvreduce-r-reiser lvreduce -r -f -L -16M vg2/reiser
capsh reiser-blocks-reduced 'reiserfstune /dev/vg2/reiser | grep -E "^(Blocksize|Count of blocks)"'
cap lvresize-r-reiser lvresize -r -L 40M vg2/reiser
mkdir -p /mnt/r
mount /dev/vg2/reiser /mnt/r || echo "mount reiserfs failed" >&2
cap lvextend-r-reiser-mounted lvextend -r -L +4M vg2/reiser
umount /mnt/r
capsh reiser-blocks-end 'reiserfstune /dev/vg2/reiser | grep -E "^(Blocksize|Count of blocks)"'
cap lvs-reiser lvs -o lv_name,lv_size vg2
exit 0
GUEST9
} > "$W/guest9.sh"

# ----------------------------------------------- thirteenth guest script (oracle13)
# Shared VGs (issue 16), as LVM 2.03.16 makes them with lvmlockd and
# sanlock: vgcreate --shared (the lvmlock LV, lock_type, lock_args), the
# reports, --lockstart/--lockstop, lvcreate (an LV's lease offset),
# -aey/-asy/-an, lvextend (the VG lock's value block), the refusals
# without lvmlockd, vgs --shared, --locktype none; the lock LV's areas
# with `sanlock direct read_leader` and raw. The initramfs has neither
# sanlock nor lvmlockd: run_oracle13 passes them in with their libraries
# (slbundle, from the host's Debian packages), and the guest's lvm.conf
# gets use_lvmlockd = 1 and lvmlocal.conf host_id = 1. Two 512 MiB disks
# (the lock LV alone is 256 MiB).
{ cat "$W/prelude.sh"; cat <<'GUEST13'
capsh() { cap "$1" bash -c "$2"; }
B=$ORACLE_JOB/files/slbundle
export LD_LIBRARY_PATH=$B/lib PATH=$B/bin:$PATH
mkdir -p /run/sanlock /run/lvm /var/log /etc/lvm
sed -i 's/use_lvmlockd = 0/use_lvmlockd = 1/' /etc/lvm/lvm.conf
grep -q 'use_lvmlockd = 1' /etc/lvm/lvm.conf || printf 'global {\n\tuse_lvmlockd = 1\n}\n' >> /etc/lvm/lvm.conf
printf 'local {\n\thost_id = 1\n}\n' > /etc/lvm/lvmlocal.conf
sanlock daemon -w 0 -U root -G root
lvmlockd -g sanlock -o 2
sleep 1
L=/dev/mapper/vgs-lvmlock
cap pvcreate pvcreate /dev/vda /dev/vdb
cap vgcreate-shared vgcreate --shared vgs /dev/vda /dev/vdb
cap vgs-locktype vgs -o+lock_type,lock_args vgs
cap vgs-attr vgs -o vg_name,vg_attr,vg_shared,vg_lock_type,vg_lock_args
cap lvs-a-lockargs lvs -a -o lv_name,lv_attr,lv_size,lv_lockargs,seg_pe_ranges vgs
cap vgchange-lockstart vgchange --lockstart vgs
cap lvcreate-lv1 lvcreate -L 8M -n lv1 vgs
cap lvcreate-lv2-an lvcreate -an -L 4M -n lv2 vgs
cap lvs-lockargs lvs -a -o lv_name,lv_attr,lv_lockargs,lv_active_exclusively,lv_active_locally vgs
cap read-leader-lockspace sanlock direct read_leader -s lvm_vgs:0:$L:0
cap read-leader-gl sanlock direct read_leader -r lvm_vgs:GLLK:$L:68157440
cap read-leader-vg sanlock direct read_leader -r lvm_vgs:VGLK:$L:69206016
cap read-leader-lv1 sanlock direct read_leader -r lvm_vgs:lv1:$L:70254592
cap read-leader-lv2 sanlock direct read_leader -r lvm_vgs:lv2:$L:71303168
cap sanlock-status sanlock client status
cap lvchange-an lvchange -an vgs/lv1
cap lvchange-asy lvchange -asy vgs/lv1
cap lvs-shared lvs -o lv_name,lv_attr,lv_active_exclusively vgs
cap lvchange-aey-while-shared lvchange -aey vgs/lv1
cap lvchange-an-2 lvchange -an vgs/lv1
cap lvchange-aey lvchange -aey vgs/lv1
cap lvextend lvextend -L 12M vgs/lv1
cap vgs-seqno vgs -o vg_name,vg_seqno,vg_lock_args vgs
cap lvremove-lv2 lvremove -y vgs/lv2
cap read-leader-lv2-removed sanlock direct read_leader -r lvm_vgs:lv2:$L:71303168
capsh lockstop-active 'vgchange --lockstop vgs'
cap lvchange-an-3 lvchange -an vgs/lv1
vgcfgbackup -f "$D/vgs.vgbackup" vgs >/dev/null 2>&1 || echo "vgcfgbackup failed" >&2
# The lock LV's first areas, raw: the lockspace (area 0), GLLK, VGLK, lv1.
for a in 0 65 66 67; do dd if=$L of="$D/lockarea-$a.img" bs=1M skip=$a count=1 status=none; done
cap vgchange-lockstop vgchange --lockstop vgs
cap vgs-stopped vgs vgs
cap lvchange-ay-stopped lvchange -ay vgs/lv1
# Without lvmlockd.
lvmlockctl --quit >/dev/null 2>&1 || kill "$(cat /run/lvmlockd.pid 2>/dev/null)" 2>/dev/null
sleep 1
cap vgs-no-lockd vgs vgs
cap vgs-no-lockd-shared vgs --shared vgs
cap lvs-no-lockd-shared lvs --shared -a -o lv_name,lv_attr,lv_lockargs vgs
cap lvchange-no-lockd lvchange -ay vgs/lv1
cap vgchange-locktype-none vgchange --locktype none vgs
cap vgs-after-none vgs -o vg_name,vg_attr,vg_lock_type vgs
cap lvs-after-none lvs -a -o lv_name,lv_attr,lv_lockargs vgs
vgcfgbackup -f "$D/vgs-none.vgbackup" vgs >/dev/null 2>&1 || echo "vgcfgbackup none failed" >&2
GUEST13
} > "$W/guest13.sh"

# ------------------------------------------------- eleventh guest script (oracle11)
# Everyday commands of issue 15: lvcreate --addtag of raid1 and mirror
# LVs (which sub-LVs get the tags), metadata that disagrees in one VG
# warned about only by commands that process it, host tags (tags/hosttags
# and tag sections, `@*` in volume_list and auto_activation_volume_list)
# and duplicate PVs (a PV copied with dd: LVM's warnings and which device
# it uses). Five disks: vg0 on vda+vdb+vdc, vg1 on vdd, vde a copy of vdd.
# The guest's name is set to `oraclehost` (the replay maps it to its own).
# The Debian initramfs lacks dm-raid: run_oracle11 passes the modules in.
{ cat "$W/prelude.sh"; cat <<'GUEST11'
capsh() { cap "$1" bash -c "$2"; }
loadraid() {
  local ko m
  for ko in "$ORACLE_JOB"/files/raidmods/*.ko; do
    m=$(basename "$ko" .ko); m=${m#??-}; m=${m//-/_}
    grep -q "^$m " /proc/modules || insmod "$ko" 2>/dev/null || echo "insmod $m failed" >&2
  done
}
waitsync() {
  for i in $(seq 600); do
    lvs --noheadings -o copy_percent vg0 2>/dev/null | grep -v 100.00 | grep -q '[0-9]' || return 0
    sleep 0.1
  done
  echo "waitsync: timeout" >&2
}
loadraid
echo oraclehost > /proc/sys/kernel/hostname
cap pvcreate pvcreate /dev/vda /dev/vdb /dev/vdc /dev/vdd
cap vgcreate-vg0 vgcreate vg0 /dev/vda /dev/vdb /dev/vdc
cap vgcreate-vg1 vgcreate vg1 /dev/vdd

# --- lvcreate --addtag of raid1 and mirror LVs
cap lvcreate-raid1-addtag lvcreate --type raid1 -m1 -L 8M -n r1 --addtag rt1 --addtag rt2 vg0
cap lvcreate-mirror-addtag lvcreate --type mirror -m1 -L 8M -n m1 --addtag mt vg0
waitsync
cap lvs-a-tags lvs -a -o lv_name,lv_tags vg0
cap lvs-tag-rt1 lvs -o lv_name @rt1
cap lvs-a-tag-mt lvs -a -o lv_name @mt
vgcfgbackup -f "$D/vg0-tags.vgbackup" vg0 >/dev/null 2>&1

# --- metadata that disagrees in vg0, and commands on vg1 only
head -c 1048576 /dev/vdb > /tmp/vdb.save
cap lvcreate-l2 lvcreate -L 4M -n l2 vg0
dd if=/tmp/vdb.save of=/dev/vdb bs=1M oflag=direct status=none
cap vgs-vg1-only vgs vg1
cap lvs-vg1-only lvs vg1
cap pvs-vdd-only pvs /dev/vdd
cap vgdisplay-vg1-only vgdisplay -s vg1
cap vgs-vg0-only vgs vg0
cap vgs-all vgs
cap pvs-all pvs
cap lvs-all lvs
cap vgck-vg1 vgck vg1
cap vgck-updatemetadata vgck --updatemetadata vg0
cap vgs-repaired vgs

# --- host tags (vg1)
cap lvcreate-h1 lvcreate -L 4M -n h1 --addtag oraclehost vg1
cap lvcreate-h2 lvcreate -L 4M -n h2 --addtag mytag vg1
cap lvcreate-h3 lvcreate -L 4M -n h3 vg1
cap vgchange-an-1 vgchange -an vg1
cap vgchange-ay-hosttags vgchange -ay --config 'tags { hosttags = 1 }' vg1
cap lvs-hosttags lvs -o lv_name,lv_attr vg1
cap vgchange-an-2 vgchange -an vg1
cap vgchange-ay-star vgchange -ay --config 'tags { hosttags = 1 } activation { volume_list = [ "@*" ] }' vg1
cap lvs-star lvs -o lv_name,lv_attr vg1
cap vgchange-an-3 vgchange -an vg1
cap vgchange-ay-star-nohosttags vgchange -ay --config 'activation { volume_list = [ "@*" ] }' vg1
cap lvs-star-nohosttags lvs -o lv_name,lv_attr vg1
cap vgchange-an-4 vgchange -an vg1
cap vgchange-ay-tag-section vgchange -ay --config 'tags { mytag { } } activation { volume_list = [ "@*" ] }' vg1
cap lvs-tag-section lvs -o lv_name,lv_attr vg1
cap vgchange-an-5 vgchange -an vg1
cap vgchange-ay-tag-hostlist-other vgchange -ay --config 'tags { mytag { host_list = [ "otherhost" ] } } activation { volume_list = [ "@*" ] }' vg1
cap lvs-tag-hostlist-other lvs -o lv_name,lv_attr vg1
cap vgchange-ay-tag-hostlist-self vgchange -ay --config 'tags { mytag { host_list = [ "oraclehost" ] } } activation { volume_list = [ "@*" ] }' vg1
cap lvs-tag-hostlist-self lvs -o lv_name,lv_attr vg1
cap vgchange-an-6 vgchange -an vg1
cap vgchange-aay-star vgchange -aay --config 'tags { hosttags = 1 } activation { auto_activation_volume_list = [ "@*" ] }' vg1
cap lvs-aay-star lvs -o lv_name,lv_attr vg1
cap vgchange-an-7 vgchange -an vg1
cap vgchange-ay-star-named vgchange -ay --config 'tags { hosttags = 1 } activation { volume_list = [ "vg1/h3", "@*" ] }' vg1
cap lvs-star-named lvs -o lv_name,lv_attr vg1
cap vgchange-an-8 vgchange -an vg1
cp /etc/lvm/lvm.conf /tmp/lvm.conf.orig
printf 'tags {\n\thosttags = 1\n}\n' >> /etc/lvm/lvm.conf
cap lvchange-ay-h3-conf lvchange -ay vg1/h3
cap lvchange-ay-h1-conf lvchange -ay vg1/h1
cap lvs-conf lvs -o lv_name,lv_attr vg1
cap vgchange-addtag-host vgchange --addtag oraclehost vg1
cap vgchange-ay-vgtag vgchange -ay vg1
cap lvs-vgtag lvs -o lv_name,lv_attr vg1
cap vgchange-deltag-host vgchange --deltag oraclehost vg1
cap vgchange-an-9 vgchange -an vg1
cp /tmp/lvm.conf.orig /etc/lvm/lvm.conf

# --- duplicate PVs: vde a copy of vdd
cap lvchange-ay-h1 lvchange -ay vg1/h1
dd if=/dev/vdd of=/dev/vde bs=1M oflag=direct status=none
cap pvs-dup-used pvs
cap vgs-dup-used vgs
cap lvs-dup-used lvs -o lv_name,lv_attr vg1
cap vgs-vg0-dup vgs vg0
cap lvchange-an-dup lvchange -an vg1/h1
cap pvs-dup pvs
cap pvs-dup-a pvs -a -o pv_name,vg_name
cap pvs-dup-vde pvs /dev/vde
cap vgchange-addtag-dup vgchange --addtag x vg1
cap lvchange-ay-dup lvchange -ay vg1/h1
cap lvs-dup lvs -o lv_name,lv_attr vg1
cap vgck-dup vgck vg1
dd if=/dev/zero of=/dev/vde bs=1M count=1 oflag=direct status=none
cap pvs-nodup pvs
GUEST11
} > "$W/guest11.sh"

# run_oracle [GUEST_SCRIPT OUT_DIR]: the first scenario by default.
# ------------------------------------------- dm-raid superblocks (dm fixtures)
# Golden kernel-written rmeta: raid1 LVs made by real LVM 2.03.16, run by the
# real dm-raid target, then deactivated (the kernel writes its superblocks
# and bitmap on stop) and each rmeta sub-LV read back from its PV. Goes to
# crates/dm/tests/fixtures/raid/ (see the README there). No extent is
# reused, so every rmeta was all zeros on disk before LVM and the kernel
# wrote it.
{ cat "$W/prelude.sh"; cat <<'GUESTDM'
T="$D/session.txt"
t() { echo "\$ $(quote "$@")" >> "$T"; "$@" >> "$T" 2>&1; local rc=$?; [ $rc = 0 ] || echo "(exit $rc)" >> "$T"; }
loadraid() {
  local ko m
  for ko in "$ORACLE_JOB"/files/raidmods/*.ko; do
    m=$(basename "$ko" .ko); m=${m#??-}; m=${m//-/_}
    grep -q "^$m " /proc/modules || insmod "$ko" 2>/dev/null || echo "insmod $m failed" >&2
  done
}
waitsync() { # waitsync LV: until its raid status is idle and 100% (or 60 s)
  local s
  for i in $(seq 600); do
    s=$(dmsetup status "vg0-$1")
    set -- "$1" $s
    case "$9" in idle) [ "${8%/*}" = "${8#*/}" ] && return 0 ;; esac
    sleep 0.1
  done
  echo "waitsync $1: timeout" >&2
}
# show LV: the LV's and its sub-LVs' tables and statuses, lvs
show() {
  t dmsetup table --target raid "vg0-$1"
  t dmsetup status "vg0-$1"
  t lvs -a -o lv_name,lv_attr,lv_size,region_size,copy_percent,raid_sync_action,lv_health_status,devices -S "lv_name=~^$1" vg0
  dmsetup table | grep "^vg0-$1_rmeta_" > "/tmp/$1.rmeta-tables"
  cat "/tmp/$1.rmeta-tables" >> "$T"
}
# dump LV: after deactivation, read each rmeta sub-LV (4 MiB) from its PV
dump() {
  local name start len tgt dev off
  while read -r name start len tgt dev off; do
    name=${name%:}; name=${name#vg0-}
    dev=/dev/$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$dev/uevent")
    echo "# $name = $dev sectors $off..$((off + len - 1))" >> "$T"
    dd if="$dev" of="$D/$name.img" bs=512 skip="$off" count="$len" status=none
  done < "/tmp/$1.rmeta-tables"
}
loadraid
t uname -r
t bash -c 'dmsetup targets | grep raid'
t pvcreate /dev/vda /dev/vdb /dev/vdc /dev/vdd
t vgcreate vg0 /dev/vda /dev/vdb /dev/vdc /dev/vdd

echo "## 1. sync: fresh 8 MiB raid1, two legs, default region size, in sync" >> "$T"
t lvcreate --type raid1 -m1 -L 8M -n sync vg0 /dev/vda /dev/vdb
waitsync sync
show sync
t lvchange -an vg0/sync
dump sync

echo "## 2. nosync: 8 MiB raid1 created with --nosync" >> "$T"
t lvcreate --type raid1 -m1 --nosync -L 8M -n nosync vg0 /dev/vda /dev/vdb
waitsync nosync
show nosync
t lvchange -an vg0/nosync
dump nosync

echo "## 3. three: 8 MiB raid1 with three legs (-m 2), in sync" >> "$T"
t lvcreate --type raid1 -m2 -L 8M -n three vg0 /dev/vda /dev/vdb /dev/vdc
waitsync three
show three
t lvchange -an vg0/three
dump three

echo "## 4. failed: 8 MiB raid1 in sync; leg 1's rimage then replaced by an error target and 1 MiB written at 0 and at 5 MiB" >> "$T"
t lvcreate --type raid1 -m1 -L 8M -n failed vg0 /dev/vdc /dev/vdd
waitsync failed
t dmsetup suspend vg0-failed_rimage_1
t dmsetup reload vg0-failed_rimage_1 --table "0 16384 error"
t dmsetup resume vg0-failed_rimage_1
t dd if=/dev/zero of=/dev/vg0/failed bs=1M count=1 oflag=direct status=none
t dd if=/dev/zero of=/dev/vg0/failed bs=1M count=1 seek=5 oflag=direct status=none
show failed
t lvchange -an vg0/failed
dump failed

echo "## 5. half: 32 MiB raid1, region 512 KiB, max recovery rate 512 KiB/s, deactivated ~3 s into the initial resync" >> "$T"
t lvcreate --type raid1 -m1 -L 32M -R 512k --maxrecoveryrate 512k -n half vg0 /dev/vdc /dev/vdd
sleep 3
show half
t lvchange -an vg0/half
dump half
t lvs -a -o lv_name,lv_attr,lv_size,region_size,devices vg0
t dmsetup table
vgcfgbackup -f "$D/vg0.vgbackup" vg0 >/dev/null
t bash -c 'dmesg | grep -E "raid|md[:/]" | sed "s/^\[ *[0-9.]*\] //"'
exit 0
GUESTDM
} > "$W/guest-dmraid.sh"

# run_oracle [GUEST_SCRIPT OUT_DIR [DISKS [RUN-IN-VM OPTION...]]]: DISKS is
# how many 64 MiB disks (default 3: vda vdb vdc).
run_oracle() {
  local guest="${1:-$W/guest.sh}" out="$FIX/${2:-oracle}" ndisks="${3:-3}"
  shift $(( $# < 3 ? $# : 3 ))
  [ -e /var/tmp/oracle/initramfs.cpio ] || { echo "oracle not set up: run $ORACLE/setup.sh" >&2; exit 1; }
  rm -rf "$W/out" "$W"/vd?.img
  local d disks=()
  for d in a b c d e f; do
    [ ${#disks[@]} -lt $((2 * ndisks)) ] || break
    truncate -s "${DISK_SIZE:-64M}" "$W/vd$d.img"; disks+=(-d "$W/vd$d.img")
  done
  ORACLE_QUIET=0 "$ORACLE/run-in-vm.sh" -t 600 -o "$W/out" "$@" \
    "${disks[@]}" "$guest" 2> "$W/guest.log" \
    || { cat "$W/guest.log" >&2; echo "guest failed" >&2; exit 1; }
  tail -1 "$W/guest.log" >&2
  rm -rf "$out"; mkdir -p "$out"
  cp -a "$W/out/." "$out/"
  # raw-<point>-<disk>.img = first MiB of a PV (label + whole metadata ring)
  # dumped in the guest: keep the current metadata text and an xz of it.
  local r base
  for r in "$out"/raw-*.img; do
    [ -e "$r" ] || continue
    base=$(basename "$r" .img); base=${base#raw-}
    python3 - "$r" > "$out/mda-$base.txt" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(2 << 20)
for sec in range(4):
    if d[sec*512:sec*512+8] == b'LABELONE': break
else:
    sys.exit("no label")
ph = sec * 512 + struct.unpack_from('<I', d, sec * 512 + 20)[0]
p = ph + 40; lists = [[], []]; k = 0
while k < 2:
    o, sz = struct.unpack_from('<QQ', d, p); p += 16
    if o == 0 and sz == 0: k += 1; continue
    lists[k].append((o, sz))
mo = lists[1][0][0]
cs, magic, ver, start, size = struct.unpack_from('<I16sIQQ', d, mo)
ro, rs, rc, rf = struct.unpack_from('<QQII', d, mo + 40)
sys.stdout.write(d[start + ro:start + ro + rs].rstrip(b'\0').decode())
PY
    xz -9e < "$r" > "$out/$base-first-1MiB.img.xz"
    rm -f "$r"
  done
  chmod a+r "$out"/*
}

# raidmods: the oracle's initramfs has no dm-raid. Copy dm-raid, raid1 and
# their dependencies out of the oracle's unpacked kernel package into
# $W/raidmods (NN-name.ko in load order); run-in-vm -f passes the folder
# in and the guest insmods what is not loaded yet (loadraid).
raidmods() {
  local cache="${ORACLE_CACHE:-/var/tmp/oracle}" kver ko i=0
  kver=$(sed -n 's/^ORACLE_KVER=//p' "$cache/oracle.env")
  rm -rf "$W/raidmods"; mkdir -p "$W/raidmods"
  for ko in $( { modprobe -S "$kver" -d "$cache/kernel/root" --show-depends dm-raid
                 modprobe -S "$kver" -d "$cache/kernel/root" --show-depends raid1; } |
               awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
    i=$((i + 1)); cp "$ko" "$W/raidmods/$(printf %02d $i)-$(basename "$ko")"
  done
  [ -e "$W/raidmods/"*dm-raid.ko ] || { echo "no dm-raid.ko under $cache/kernel/root" >&2; exit 1; }
}
run_oracle6() { raidmods; run_oracle "$W/guest6.sh" oracle6 4 -f "$W/raidmods"; }
run_oracle10() { run_oracle "$W/guest10.sh" oracle10 5; }
run_oracle11() { raidmods; run_oracle "$W/guest11.sh" oracle11 5 -f "$W/raidmods"; }
# sanlock and lvmlockd with the libraries they need that the initramfs
# lacks, from the host's packages (sanlock, lvm2-lockd).
slbundle() {
  local b l
  command -v sanlock >/dev/null && command -v lvmlockd >/dev/null ||
    { echo "oracle13 needs the host's sanlock and lvm2-lockd packages" >&2; exit 1; }
  rm -rf "$W/slbundle"; mkdir -p "$W/slbundle/bin" "$W/slbundle/lib"
  for b in "$(command -v sanlock)" "$(command -v lvmlockd)" "$(command -v lvmlockctl)"; do
    cp "$b" "$W/slbundle/bin/"
    for l in $(ldd "$b" | awk '/=>/ { print $3 }'); do
      case $(basename "$l") in libc.so.*|libm.so.*) ;; *) cp -n "$l" "$W/slbundle/lib/" ;; esac
    done
  done
}
run_oracle13() {
  slbundle
  DISK_SIZE=512M run_oracle "$W/guest13.sh" oracle13 2 -f "$W/slbundle"
  xz -f "$FIX"/oracle13/lockarea-*.img
}

# xfsfiles: the oracle's initramfs has no xfs nor reiserfs. Copy the
# host's xfsprogs and reiserfsprogs (apt install xfsprogs reiserfsprogs),
# findmnt (xfs_info needs it) and fsck (fsadm checks reiserfs with it), the
# libraries the guest lacks, LVM's fsadm and the oracle kernel's xfs and
# reiserfs modules with their dependencies into $W/xfsfiles (loadxfs in
# guest9 installs them).
xfsfiles() {
  local cache="${ORACLE_CACHE:-/var/tmp/oracle}" kver ko b l i=0 x="$W/xfsfiles"
  kver=$(sed -n 's/^ORACLE_KVER=//p' "$cache/oracle.env")
  rm -rf "$x"; mkdir -p "$x/bin" "$x/lib" "$x/ko"
  for b in mkfs.xfs xfs_growfs xfs_info xfs_spaceman xfs_db xfs_repair findmnt fsck \
      mkreiserfs reiserfsck resize_reiserfs reiserfstune; do
    cp "$(command -v $b)" "$x/bin/" || { echo "$b is missing: apt install xfsprogs reiserfsprogs" >&2; exit 1; }
    { ldd "$(command -v $b)" 2>/dev/null || true; } | awk '$3 ~ /^\// { print $3 }' | while read -r l; do
      [ -e "$cache/stage/usr/lib/x86_64-linux-gnu/$(basename "$l")" ] || cp -L "$l" "$x/lib/"
    done
  done
  cp /usr/sbin/fsadm "$x/fsadm"
  ln -s reiserfsck "$x/bin/fsck.reiserfs"
  for ko in $( { modprobe -S "$kver" -d "$cache/kernel/root" --show-depends xfs
                 modprobe -S "$kver" -d "$cache/kernel/root" --show-depends reiserfs; } |
               awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
    i=$((i + 1)); cp "$ko" "$x/ko/$(printf %02d $i)-$(basename "$ko")"
  done
}
run_oracle9() { xfsfiles; run_oracle "$W/guest9.sh" oracle9 6 -f "$W/xfsfiles"; }

# run_dm_raid: the dm-raid superblock session; its files go to
# crates/dm/tests/fixtures/raid/ (README.md there is written by hand and kept).
run_dm_raid() {
  local out="$ROOT/crates/dm/tests/fixtures/raid" d f
  [ -e /var/tmp/oracle/initramfs.cpio ] || { echo "oracle not set up: run $ORACLE/setup.sh" >&2; exit 1; }
  raidmods
  rm -rf "$W/out" "$W"/vd?.img
  for d in a b c d; do truncate -s 64M "$W/vd$d.img"; done
  ORACLE_QUIET=0 "$ORACLE/run-in-vm.sh" -t 600 -o "$W/out" -f "$W/raidmods" \
    -d "$W/vda.img" -d "$W/vdb.img" -d "$W/vdc.img" -d "$W/vdd.img" "$W/guest-dmraid.sh" 2> "$W/guest.log" \
    || { cat "$W/guest.log" >&2; echo "guest failed" >&2; exit 1; }
  tail -1 "$W/guest.log" >&2
  mkdir -p "$out"
  rm -f "$out"/*.img.xz "$out/session.txt" "$out/decoded.txt" "$out/vg0.vgbackup"
  cp "$W/out/session.txt" "$W/out/vg0.vgbackup" "$out/"
  for f in "$W/out"/*.img; do xz -9e < "$f" > "$out/$(basename "$f").xz"; done
  local order=()
  for d in sync nosync three failed half; do order+=("$out/${d}_rmeta_"*.img.xz); done
  python3 "$HERE/decode-dm-raid-sb.py" "${order[@]}" > "$out/decoded.txt"
  chmod a+r "$out"/*
}

# ------------------------------------------------------------- host phase
# quote ARG...: one line, words separated by one space, a word single-quoted
# only if it holds characters outside [A-Za-z0-9_@%+=:,./-].
quote() {
  local a out=() sq="'\\''"
  for a in "$@"; do
    case $a in ''|*[!A-Za-z0-9_@%+=:,./-]*) out+=("'${a//\'/$sq}'") ;; *) out+=("$a") ;; esac
  done
  local IFS=' '; printf '%s\n' "${out[*]}"
}
# hostcap DIR NAME CMD...: like cap in the guest.
HN=0
hostcap() {
  local dir=$1 name=$2; shift 2
  HN=$((HN+1)); local id; id=$(printf '%03d-%s' "$HN" "$name")
  quote "$@" > "$dir/$id.cmd"
  set +e; "$@" > "$dir/$id.out" 2> "$dir/$id.err" < /dev/null; echo $? > "$dir/$id.rc"; set -e
}

host_scenario() { # host_scenario NAME BACKUPFILE
  local name=$1 bk=$2 dir="$FIX/host/$1"
  rm -rf "$dir"; mkdir -p "$dir"; HN=0
  local loops=() pvids=()
  mapfile -t pvids < <(awk '/^\t\tpv[0-9]+ \{/{p=1} p && /id = /{gsub(/[",]/,"",$3); print $3; p=0}' "$bk")
  local i
  for i in "${!pvids[@]}"; do
    truncate -s 64M "$W/host$i.img"
    loops+=("$(losetup -f --show "$W/host$i.img")")
  done
  local filt; filt=$(printf '"a|^%s$|",' "${loops[@]}")
  # our own LVM_SYSTEM_DIR (lvm.conf recorded as lvm.conf.txt) so that only
  # these loop devices are seen and no host backup/archive/cache file is touched
  mkdir -p "$W/etc-lvm"
  printf '%s\n' "devices { use_devicesfile=0 obtain_device_list_from_udev=0 filter=[${filt}\"r|.*|\"] }" \
    'backup { backup=0 archive=0 }' 'activation { monitoring=0 }' > "$W/etc-lvm/lvm.conf"
  cp "$W/etc-lvm/lvm.conf" "$dir/lvm.conf.txt"
  export LVM_SYSTEM_DIR="$W/etc-lvm" LVM_SUPPRESS_FD_WARNINGS=1
  cp "$bk" "$W/restore.vgbackup"
  for i in "${!pvids[@]}"; do
    hostcap "$dir" "pvcreate-restore-$i" pvcreate --uuid "${pvids[$i]}" --restorefile "$W/restore.vgbackup" "${loops[$i]}"
  done
  hostcap "$dir" vgcfgrestore vgcfgrestore -f "$W/restore.vgbackup" vg0
  local c
  while IFS='|' read -r n args; do
    [ -n "$n" ] || continue
    # shellcheck disable=SC2086
    hostcap "$dir" "$n" $args
  done <<'EOF'
pvs|pvs
vgs|vgs
lvs|lvs
lvs-a|lvs -a
lvs-a-devices|lvs -a -o+devices
lvs-a-devices-ranges|lvs -a -o+devices,seg_pe_ranges
lvs-units-m|lvs --units m
lvs-units-b-nosuffix|lvs --units b --nosuffix
lvs-noheadings|lvs --noheadings -o lv_name,lv_size
lvs-separator|lvs --separator :
lvs-snapcols|lvs -o lv_name,lv_attr,lv_size,origin,snap_percent,chunk_size
lvs-a-snapcols|lvs -a -o lv_name,lv_attr,lv_size,origin,snap_percent,data_percent,chunk_size,lv_role
lvs-a-merge-cols|lvs -a -o lv_name,lv_attr,origin,lv_merging,lv_role,devices
lvs-json|lvs --reportformat json
lvs-a-json|lvs -a --reportformat json -o+devices
vgs-json|vgs --reportformat json
pvs-json|pvs --reportformat json
pvs-used|pvs -o+pv_used,pv_pe_count,pv_pe_alloc_count
vgs-extents|vgs -o+vg_extent_size,vg_extent_count,vg_free_count
lvs-sort-size|lvs -O lv_size
lvs-sort-name-desc|lvs -O -lv_name
lvs-segs|lvs -a --segments -o+seg_start,seg_size,stripes,stripe_size,seg_pe_ranges
pvdisplay|pvdisplay
pvdisplay-m|pvdisplay -m
vgdisplay|vgdisplay
vgdisplay-v|vgdisplay -v
lvdisplay|lvdisplay
lvdisplay-a|lvdisplay -a
lvdisplay-m|lvdisplay -m
lvdisplay-c|lvdisplay -c
pvdisplay-c|pvdisplay -c
vgdisplay-c|vgdisplay -c
EOF
  # the restore file was a temp copy: name the fixture it came from instead
  sed -i "s|$W/restore.vgbackup|oracle/$(basename "$bk")|g" "$dir"/*.cmd
  # host loop device names vary from run to run; record which were used
  for i in "${!loops[@]}"; do echo "${loops[$i]} ${pvids[$i]}"; done > "$dir/loops.txt"
  vgremove -f vg0 >/dev/null 2>&1 || true
  for i in "${!loops[@]}"; do
    pvremove -ff -y "${loops[$i]}" >/dev/null 2>&1 || true
    losetup -d "${loops[$i]}"
    rm -f "$W/host$i.img"
  done
  unset LVM_SYSTEM_DIR
}

run_host() {
  [ "$(id -u)" = 0 ] || { echo "host phase needs root" >&2; exit 1; }
  local o="$FIX/oracle"
  rm -rf "$FIX/host"; mkdir -p "$FIX/host"
  host_scenario snapshot "$o/vg0.vgbackup"
  host_scenario invalid-snapshot "$o/01-invalid-snap.vgbackup"
  host_scenario merge-deferred "$o/03-merge-deferred.vgbackup"
  host_scenario final "$o/05-final.vgbackup"
}

# ------------------------------------------------ seventh guest script (oracle7)
# Reports: -S/--select (comparisons, regexes, && || ! , #, grouping, sizes
# with units, percentages, times, aliases, string lists, LVM's errors), the
# report options (--nameprefixes, --aligned, --rows, --unbuffered,
# --binary, -o help, lvm fullreport) and fields (lv_role, lv_merging,
# lv_snapshot_invalid, lv_time, lv_host, pvseg_*). Four disks: vg0 on vda
# and vdb, vg1 on vdc, vdd an orphan PV. Tags (set with real LVM) come last.
{ cat "$W/prelude.sh"; cat <<'GUEST7'
capsh() { cap "$1" bash -c "$2"; }
pvcreate -q /dev/vda /dev/vdb /dev/vdc /dev/vdd >/dev/null
vgcreate -q vg0 /dev/vda /dev/vdb >/dev/null
vgcreate -q vg1 /dev/vdc >/dev/null
lvcreate -q -L 8M -n lv1 vg0 >/dev/null
lvcreate -q -L 16M -n lv2 vg0 >/dev/null
lvcreate -q -L 16M -i 2 -I 64k -n str vg0 >/dev/null
lvcreate -q -s -L 4M -n snap vg0/lv1 >/dev/null
lvcreate -q -l 2 -n other vg1 >/dev/null
lvchange -q -an vg1/other >/dev/null
cap lvs lvs
cap lvs-size-gt lvs -S 'lv_size>8m'
cap lvs-size-ge lvs -S 'lv_size>=16m'
cap lvs-size-lt lvs -S 'lv_size<16m'
cap lvs-size-le lvs -S 'lv_size<=8m'
cap lvs-size-eq-nounit lvs -S 'lv_size=16'
cap lvs-size-g lvs -S 'lv_size>0.01g'
cap lvs-size-k lvs -S 'lv_size=8192k'
cap lvs-size-s lvs -S 'size=16384s'
cap lvs-size-upper lvs -S 'lv_size>8M'
cap lvs-name-eq lvs -S lv_name=lv1
cap lvs-name-alias lvs -S name=lv2
cap lvs-name-ne lvs -S 'lv_name!=lv1'
cap lvs-name-quoted lvs -S 'lv_name="lv1"'
cap lvs-name-squoted lvs -S "lv_name='lv2'"
cap lvs-regex lvs -S 'lv_name=~^lv'
cap lvs-regex-not lvs -S 'lv_name!~^lv'
cap lvs-regex-quoted lvs -S 'lv_name=~"[0-9]$"'
cap lvs-regex-dot lvs -S 'lv_name=~s.r'
cap lvs-and lvs -S 'lv_name!=lv1 && lv_size<16m'
cap lvs-and-comma lvs -S 'lv_name=~lv,lv_size=8m'
cap lvs-or lvs -S 'lv_name=lv1 || lv_name=str'
cap lvs-or-hash lvs -S 'lv_name=lv1#lv_name=str'
cap lvs-not lvs -S '!(lv_name=lv1)'
cap lvs-not-bare lvs -S '!lv_name=lv1'
cap lvs-group lvs -S '(lv_name=lv1 || lv_name=lv2) && lv_size>8m'
cap lvs-precedence lvs -S 'lv_name=lv1 || lv_name=lv2 && lv_size>8m'
cap lvs-spaces lvs -S ' lv_name = lv1 '
cap lvs-vgname lvs -S vg_name=vg1
cap lvs-vgfield lvs -S 'vg_size>100m'
cap lvs-origin lvs -S origin=lv1
cap lvs-origin-empty lvs -S 'origin=""'
cap lvs-attr-regex lvs -S 'lv_attr=~^s'
cap lvs-segtype lvs -S segtype=striped
cap lvs-stripes lvs -S stripes=2
cap lvs-snap-percent lvs -S 'snap_percent>=0'
cap lvs-snap-percent-gt lvs -S 'snap_percent>50'
cap lvs-data-percent lvs -S 'data_percent<50'
cap lvs-data-percent-unit lvs -S 'data_percent<50%'
cap lvs-copy-percent lvs -S 'copy_percent>=0'
cap lvs-kmaj-undef lvs -S 'lv_kernel_major=-1'
cap lvs-kmaj-undefined lvs -S 'lv_kernel_major=undefined'
cap lvs-time-after lvs -S 'lv_time>"2000-01-01"'
cap lvs-time-since lvs -S 'lv_time since "2000-01-01 10:00"'
cap lvs-time-before lvs -S 'lv_time before 2000-01-01'
cap lvs-time-until lvs -S 'lv_time until "2100-01-01 00:00:00"'
cap lvs-time-eq lvs -S 'lv_time=2000-01-01'
cap lvs-role lvs -a -S lv_role=public
cap lvs-role-list lvs -a -S 'lv_role={snapshot}'
cap lvs-role-list-exact lvs -a -S 'lv_role=[public]'
cap lvs-role-list-or lvs -a -S 'lv_role={snapshot||origin}'
cap lvs-role-list-and lvs -a -S 'lv_role=[public,origin,thickorigin]'
cap lvs-role-list-ne lvs -a -S 'lv_role!={public}'
cap lvs-role-regex lvs -a -S 'lv_role=~snap'
cap lvs-nomatch lvs -S lv_name=nomatch
cap lvs-o-select lvs --noheadings -o lv_name,lv_size -S 'lv_size>8m'
cap lvs-vg-select lvs -S 'lv_size>8m' vg0
cap lvs-lv-select lvs -S 'lv_size>8m' vg0/lv1
cap lvs-select-long lvs --select lv_name=lv2
cap lvs-json-select lvs --reportformat json -S lv_name=lv1
cap lvs-json-nomatch lvs --reportformat json -S lv_name=nomatch
cap lvs-uuid-regex lvs -o lv_name -S 'lv_uuid=~.'
cap vgs vgs
cap vgs-free vgs -S 'vg_free>0'
cap vgs-pvcount vgs -S pv_count=2
cap vgs-alias vgs -S name=vg1
cap vgs-and vgs -S 'vg_name=vg0 && lv_count>1'
cap vgs-extsize vgs -S 'vg_extent_size=4m'
cap vgs-attr vgs -S 'vg_attr=~^wz'
cap pvs pvs
cap pvs-free pvs -S 'pv_free>10m'
cap pvs-vg pvs -S vg_name=vg0
cap pvs-orphan pvs -S 'vg_name=""'
cap pvs-name-regex pvs -S 'pv_name=~vd[ab]'
cap pvs-alias pvs -S 'size<60m'
cap pvs-ne pvs -S 'pv_name!=/dev/vda'
cap err-unknown-field lvs -S foo=1
cap err-bad-size lvs -S 'lv_size>abc'
cap err-bad-number vgs -S 'pv_count=x'
cap err-no-op lvs -S lv_size
cap err-no-value lvs -S 'lv_name='
cap err-unclosed lvs -S '(lv_name=lv1'
cap err-extra-close lvs -S 'lv_name=lv1)'
cap err-double-eq lvs -S 'lv_name==lv1'
cap err-str-lt lvs -S 'lv_name<lv1'
cap err-regex-num lvs -S 'lv_size=~1'
cap err-bad-regex lvs -S 'lv_name=~"("'
cap err-dangling-and lvs -S 'lv_name=lv1 &&'
cap err-empty lvs -S ''
cap err-bad-time lvs -S 'lv_time>notatime'
cap err-time-op-num lvs -S 'lv_size since 1'
cap err-pv-field-in-vgs vgs -S pv_name=/dev/vda
cap err-list-on-str lvs -S 'lv_name={lv1}'
cap err-unclosed-quote lvs -S 'lv_name="lv1'
cap err-percent-bad lvs -S 'snap_percent>abc'
cap lvs-nameprefixes lvs --nameprefixes
cap lvs-nameprefixes-noheadings lvs --nameprefixes --noheadings -a -o lv_name,lv_attr,lv_size
cap vgs-nameprefixes vgs --nameprefixes --noheadings
cap pvs-nameprefixes pvs --nameprefixes --units b
cap lvs-rows lvs --rows
cap vgs-rows vgs --rows -o vg_name,vg_size
cap lvs-rows-noheadings lvs --rows --noheadings -o lv_name,lv_size
cap lvs-aligned lvs --aligned --separator '|'
cap lvs-aligned-noheadings lvs --aligned --noheadings --separator ' : ' -o lv_name,lv_size,origin
cap lvs-unbuffered lvs --unbuffered
cap lvs-unbuffered-sort lvs --unbuffered -O -lv_name
cap lvs-binary lvs --binary -o lv_name,lv_active,lv_merging,lv_snapshot_invalid,lv_allocation_locked
cap vgs-binary vgs --binary -o vg_name,vg_exported,vg_partial,vg_clustered
cap pvs-binary pvs --binary -o pv_name,pv_allocatable,pv_exported,pv_missing
cap lvs-colon lvs -c
cap lvs-fields-new lvs -a -o lv_name,lv_role,lv_merging,lv_snapshot_invalid,lv_active,lv_permissions,lv_allocation_policy
cap lvs-fields-time lvs -o lv_name,lv_time,lv_host
cap lvs-fields-more lvs -a -o lv_name,lv_full_name,lv_parent,lv_layout,lv_read_ahead,lv_kernel_read_ahead,lv_active_locally,lv_suspended,lv_device_open,lv_skip_activation,lv_fixed_minor,lv_major,lv_minor
cap lvs-fields-snap lvs -a -o lv_name,origin,origin_uuid,snap_percent,lv_when_full,lv_health_status,lv_check_needed
cap vgs-fields-more vgs -o vg_name,vg_permissions,vg_extendable,vg_exported,vg_partial,vg_allocation_policy,vg_clustered,vg_shared,vg_mda_count,vg_mda_used_count,vg_mda_free,vg_mda_size,vg_missing_pv_count,vg_systemid,vg_lock_type
cap pvs-fields-more pvs -o pv_name,pv_exported,pv_missing,pv_in_use,pv_duplicate,pv_major,pv_minor,pv_mda_free,pv_mda_size,pv_mda_used_count,pv_ba_start,pv_ba_size,pv_ext_vsn,pe_start
cap pvs-segments pvs --segments
cap pvs-segments-fields pvs --segments -o+pvseg_start,pvseg_size,lv_name
cap pvs-segments-select pvs --segments -S 'pvseg_size>2'
cap lvs-segments lvs --segments
cap lvs-segments-a lvs -a --segments -o+seg_start,seg_size,seg_start_pe,seg_size_pe,seg_pe_ranges,devices
cap lvs-segments-select lvs --segments -S segtype=linear
cap lvs-o-help lvs -o help
cap vgs-o-help vgs -o help
cap pvs-o-help pvs -o help
cap lvs-S-help lvs -S help
cap fullreport lvm fullreport
cap fullreport-vg lvm fullreport vg1
cap fullreport-select lvm fullreport -S vg_name=vg1
lvchange -q --addtag t1 --addtag t2 vg0/lv1 >/dev/null
lvchange -q --addtag t2 vg0/lv2 >/dev/null
vgchange -q --addtag vgt vg1 >/dev/null
cap tags-lvs lvs -o lv_name,lv_tags
cap tags-eq lvs -S 'lv_tags=t1'
cap tags-subset lvs -S 'lv_tags={t2}'
cap tags-exact lvs -S 'lv_tags=[t2]'
cap tags-exact-and lvs -S 'lv_tags=[t1,t2]'
cap tags-subset-or lvs -S 'lv_tags={t1||t3}'
cap tags-exact-or lvs -S 'lv_tags=[t1||t2]'
cap tags-empty lvs -S 'lv_tags=""'
cap tags-empty-list lvs -S 'lv_tags=[]'
cap tags-ne lvs -S 'lv_tags!={t1}'
cap tags-regex lvs -S 'lv_tags=~t'
cap tags-vg vgs -S 'vg_tags=vgt'
cap tags-vg-in-lvs lvs -S 'vg_tags={vgt}'
# -S on the commands that change things (tags above do not matter here).
cap lvchange-select-an lvchange -an -S lv_name=lv2
cap lvs-after-lvchange-select lvs -o lv_name,lv_attr
cap lvchange-select-ay lvchange -ay -S 'lv_name=lv2 || lv_name=other'
cap lvs-after-lvchange-select-ay lvs -o lv_name,lv_attr
cap lvchange-select-nomatch lvchange -an -S lv_name=nomatch
cap lvchange-select-vg lvchange -an -S 'lv_size>8m' vg0
cap lvs-after-lvchange-select-vg lvs -o lv_name,lv_attr
cap lvchange-select-bad lvchange -an -S foo=1
cap lvchange-select-both lvchange -ay -S lv_name=lv2 vg0/str
cap lvs-after-lvchange-select-both lvs -o lv_name,lv_attr
cap vgchange-select-an vgchange -an -S vg_name=vg1
cap vgchange-select-ay vgchange -ay -S 'vg_free>0'
cap vgchange-select-nomatch vgchange -an -S vg_name=nomatch
cap lvs-after-vgchange-select lvs -o lv_name,lv_attr
cap pvchange-select pvchange -x n -S pv_name=/dev/vdb
cap pvs-after-pvchange-select pvs
cap pvchange-select-back pvchange -x y -S 'pv_attr=~^u'
cap pvs-after-pvchange-select-back pvs
cap pvchange-select-nomatch pvchange -x n -S pv_name=nomatch
cap lvremove-select lvremove -f -S lv_name=lv2
cap lvremove-select-nomatch lvremove -f -S lv_name=nomatch
cap lvremove-select-vg lvremove -f -S 'lv_size<16m' vg1
cap lvs-after-lvremove-select lvs -o lv_name,lv_attr
GUEST7
} > "$W/guest7.sh"

case "$MODE" in
  all) run_oracle; run_oracle "$W/guest2.sh" oracle2; run_oracle "$W/guest3.sh" oracle3; run_oracle "$W/guest4.sh" oracle4; run_oracle "$W/guest5.sh" oracle5; run_oracle6; run_oracle "$W/guest7.sh" oracle7 4; run_oracle "$W/guest8.sh" oracle8; run_oracle9; run_oracle10; run_oracle11; run_oracle13; run_dm_raid; run_host ;;
  --oracle-only) run_oracle; run_oracle "$W/guest2.sh" oracle2; run_oracle "$W/guest3.sh" oracle3; run_oracle "$W/guest4.sh" oracle4; run_oracle "$W/guest5.sh" oracle5; run_oracle6; run_oracle "$W/guest7.sh" oracle7 4; run_oracle "$W/guest8.sh" oracle8; run_oracle9; run_oracle10; run_oracle11; run_oracle13; run_dm_raid ;;
  --oracle2-only) run_oracle "$W/guest2.sh" oracle2 ;;
  --oracle3-only) run_oracle "$W/guest3.sh" oracle3 ;;
  --oracle4-only) run_oracle "$W/guest4.sh" oracle4 ;;
  --oracle5-only) run_oracle "$W/guest5.sh" oracle5 ;;
  --oracle6-only) run_oracle6 ;;
  --oracle7-only) run_oracle "$W/guest7.sh" oracle7 4 ;;
  --oracle8-only) run_oracle "$W/guest8.sh" oracle8 ;;
  --oracle9-only) run_oracle9 ;;
  --oracle10-only) run_oracle10 ;;
  --oracle11-only) run_oracle11 ;;
  --oracle13-only) run_oracle13 ;;
  --dm-raid-only) run_dm_raid ;;
  --host-only) run_host ;;
  *) echo "usage: $0 [--oracle-only | --oracle2-only | --oracle3-only | --oracle4-only | --oracle5-only | --oracle6-only | --oracle7-only | --oracle8-only | --oracle9-only | --oracle10-only | --oracle11-only | --oracle13-only | --dm-raid-only | --host-only]" >&2; exit 2 ;;
esac
du -sh "$FIX" >&2
