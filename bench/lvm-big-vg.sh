#!/usr/bin/env bash
# ulvm's LVM commands against real LVM 2.03 on one big VG, side by side.
#
#   bench/lvm-big-vg.sh [--lvs "100 1000 3000"] [--repeat 10] [--pvs 10]
#                       [--dir /var/tmp] [--only lvs,vgs,...] [--keep DIR]
#                       [--flush-bound]
#
# For each LV count N: PVS sparse PV files, each on a loop device, made PVs
# and a VG (1 MiB extents, 4 MiB metadata areas: 3000 LVs of text do not fit
# LVM's default 1 MiB ring) by real LVM; N one-extent linear LVs, spread
# round-robin over the PVs, are added with real LVM's `vgcfgrestore` from a
# backup file generated here. Real LVM runs on the loop devices with its own
# LVM_SYSTEM_DIR (a filter that accepts only those loop devices, backup and
# archive off, no udev); ulvm runs on the files behind them (`--devices`,
# its own system directory, no daemon: nothing is activated). Both read the
# same bytes, and the script checks that both print the same number of rows.
#
# Timed, for each tool in turn (the order alternates every round, with a
# sync after each command and its follow-up, untimed), --repeat
# rounds: lvs, vgs, pvs, lvdisplay, vgck, and `lvcreate -an -Zn -l1 -n bench
# vg0` (one metadata commit to every PV; the `lvremove -f vg0/bench` that
# follows is not timed). Both tools are told not to write backup or archive
# files (lvm.conf `backup { backup=0 archive=0 }`). Real LVM has no device-mapper on a
# host without the dm module and warns about it on stderr, which is thrown
# away; it still reads every PV. Its lvcreate and lvremove get
# `--driverloaded n`, without which it refuses to make a striped LV there.
#
# --flush-bound also times ulvm with its flushes made no-ops (libeatmydata
# preloaded: fsync, fdatasync and O_SYNC do nothing), as a third tool in the
# same rounds. That is not a mode to run: it measures how much of ulvm's
# wall time its durability costs, which real LVM on these loop devices does
# not pay (its writes stay dirty in the PV files' page cache).
#
# Printed per N and command: medians of wall time, CPU time (user + system)
# and max RSS for each tool, and LVM/ulvm for wall time. Needs root, lvm2,
# losetup, python3 and GNU time (/usr/bin/time, Debian package `time`, for
# CPU time and RSS; the wall time is measured around it, for both tools).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

COUNTS="100 1000 3000" REPEAT=10 NPV=10 BASE=/var/tmp ONLY= KEEP= NOFLUSH=
while [ $# -gt 0 ]; do
  case "$1" in
    --lvs) COUNTS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --pvs) NPV=$2; shift 2 ;;
    --dir) BASE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --flush-bound) NOFLUSH=$(ls /usr/lib/*/libeatmydata.so.1 2>/dev/null | head -1)
      [ -n "$NOFLUSH" ] || { echo "$0: --flush-bound needs libeatmydata (Debian package eatmydata)" >&2; exit 1; }
      shift ;;
    *) echo "usage: $0 [--lvs \"100 1000 3000\"] [--repeat N] [--pvs N] [--dir DIR] [--only lvs,vgs,pvs,lvdisplay,vgck,lvcreate] [--keep DIR] [--flush-bound]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "$0: needs root (loop devices)" >&2; exit 1; }
need lvm losetup python3 /usr/bin/time
build_ulvm
workdir "$BASE" ulvm-big-vg
LOOPS=()
cleanup_loops() {
  local l
  for l in "${LOOPS[@]:-}"; do [ -n "$l" ] && losetup -d "$l" 2>/dev/null || true; done
  LOOPS=()
}
trap 'cleanup_loops; bench_cleanup' EXIT

export LVM_SYSTEM_DIR="$W/etc-lvm" LVM_SUPPRESS_FD_WARNINGS=1
export ULVM_SYSTEM_DIR="$W/etc-ulvm"
mkdir -p "$LVM_SYSTEM_DIR" "$ULVM_SYSTEM_DIR"

# setup N: fresh PV files and loop devices, the VG with N LVs.
setup() {
  local n=$1 i per
  cleanup_loops
  rm -rf "$W/pv" "$ULVM_SYSTEM_DIR"; mkdir -p "$W/pv" "$ULVM_SYSTEM_DIR"
  per=$(((n + NPV - 1) / NPV + 16))
  FILES=()
  for i in $(seq 0 $((NPV - 1))); do
    truncate -s $((per + 8))M "$W/pv/pv$i.img"
    FILES+=("$W/pv/pv$i.img")
    LOOPS+=("$(losetup -f --show "$W/pv/pv$i.img")")
  done
  local filt; filt=$(printf '"a|^%s$|",' "${LOOPS[@]}")
  printf '%s\n' "devices { use_devicesfile=0 obtain_device_list_from_udev=0 filter=[${filt}\"r|.*|\"] }" \
    'backup { backup=0 archive=0 }' 'activation { monitoring=0 udev_sync=0 udev_rules=0 }' \
    'global { use_lvmetad=0 }' >"$LVM_SYSTEM_DIR/lvm.conf"
  # The same backup settings for ulvm: no backup or archive files.
  printf '%s\n' 'backup { backup=0 archive=0 }' >"$ULVM_SYSTEM_DIR/lvm.conf"
  lvm pvcreate -q --metadatasize 4m "${LOOPS[@]}" >/dev/null 2>&1
  lvm vgcreate -q -s 1m vg0 "${LOOPS[@]}" >/dev/null 2>&1
  lvm vgcfgbackup -q -f "$W/vg0.empty" vg0 >/dev/null 2>&1
  python3 - "$W/vg0.empty" "$W/vg0.big" "$n" "$NPV" <<'EOF'
import random, string, sys
src, dst, n, npv = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(src).read()
rnd = random.Random(n)
def uuid():
    s = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(32))
    return "-".join(s[a:b] for a, b in [(0, 6), (6, 10), (10, 14), (14, 18), (18, 22), (22, 26), (26, 32)])
lvs = []
for i in range(n):
    lvs.append(f"""
\t\tlv{i:05d} {{
\t\t\tid = "{uuid()}"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tcreation_time = 1700000000
\t\t\tcreation_host = "bench"
\t\t\tsegment_count = 1

\t\t\tsegment1 {{
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = 1
\t\t\t\ttype = "striped"
\t\t\t\tstripe_count = 1
\t\t\t\tstripes = [
\t\t\t\t\t"pv{i % npv}", {i // npv}
\t\t\t\t]
\t\t\t}}
\t\t}}
""")
section = "\n\t\tlogical_volumes {\n" + "".join(lvs) + "\t\t}\n"
# The VG section ends with the last "}" at column 0; the LVs go before it.
at = text.rindex("\n}") + 1
open(dst, "w").write(text[:at] + section.replace("\n\t\t", "\n\t") + text[at:])
EOF
  lvm vgcfgrestore -q -f "$W/vg0.big" vg0 >/dev/null 2>&1
  DEVS=$(IFS=,; echo "${FILES[*]}")
  local got; got=$(lvm lvs --noheadings vg0 2>/dev/null | wc -l)
  [ "$got" = "$n" ] || { echo "$0: real LVM shows $got LVs, not $n" >&2; exit 1; }
}

U() { "$ULVM" "$@" --devices "$DEVS"; }

# Same rows from both tools (headings included).
check_rows() {
  local c a b
  for c in lvs vgs pvs; do
    a=$(lvm $c 2>/dev/null | wc -l); b=$(U $c 2>/dev/null | wc -l)
    [ "$a" = "$b" ] || { echo "$0: $c: LVM prints $a lines, ulvm $b" >&2; exit 1; }
  done
  a=$(lvm lvdisplay 2>/dev/null | grep -c 'LV Name'); b=$(U lvdisplay 2>/dev/null | grep -c 'LV Name')
  [ "$a" = "$b" ] || { echo "$0: lvdisplay: LVM shows $a LVs, ulvm $b" >&2; exit 1; }
  lvm vgck vg0 >/dev/null 2>&1 || { echo "$0: LVM's vgck fails" >&2; exit 1; }
  U vgck vg0 >/dev/null 2>&1 || { echo "$0: ulvm's vgck fails" >&2; exit 1; }
}

# The timing loop: per round, every command by both tools, the tool order
# swapped every round; a command's untimed follow-up runs right after it.
measure() {
  W=$W NOFLUSH=$NOFLUSH python3 - "$1" "$REPEAT" "$ULVM" "$DEVS" "${ONLY:-lvs,vgs,pvs,lvdisplay,vgck,lvcreate}" <<'EOF'
import os, statistics, subprocess, sys, time
n, repeat, ulvm, devs, only = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split(",")
cmds = {
    "lvs": (["lvs"], None),
    "vgs": (["vgs"], None),
    "pvs": (["pvs"], None),
    "lvdisplay": (["lvdisplay"], None),
    "vgck": (["vgck", "vg0"], None),
    "lvcreate": (["lvcreate", "-an", "-Zn", "-l1", "-n", "bench", "vg0"], ["lvremove", "-f", "vg0/bench"]),
}
noflush = os.environ.get("NOFLUSH")
tools_all = ("lvm", "ulvm", "ulvm-noflush") if noflush else ("lvm", "ulvm")
def argv(tool, args):
    if tool == "ulvm-noflush":
        return [ulvm] + args + ["--devices", devs]
    if tool == "ulvm":
        return [ulvm] + args + ["--devices", devs]
    # Without device-mapper in the kernel LVM refuses to create a striped
    # LV unless told not to use it; nothing is activated either way.
    dm = ["--driverloaded", "n"] if args[0] in ("lvcreate", "lvremove") else []
    return ["lvm", args[0]] + dm + args[1:]
# GNU time for CPU and RSS: a child forked from this Python would report
# Python's RSS as its maximum; GNU time's own is about 2 MiB.
stats = os.path.join(os.environ["W"], "time.out")
def run(tool, cmd):
    """Wall seconds, CPU seconds, max RSS KiB of one run."""
    env = dict(os.environ, LD_PRELOAD=noflush) if tool == "ulvm-noflush" else None
    t0 = time.perf_counter()
    rc = subprocess.call(["/usr/bin/time", "-o", stats, "-f", "%U %S %M"] + cmd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"{' '.join(cmd)}: exit status {rc}")
    u, s, m = open(stats).read().split()[-3:]
    return wall, float(u) + float(s), int(m)
res = {(c, t): [] for c in only for t in tools_all}
for r in range(repeat):
    tools = tools_all if r % 2 == 0 else tools_all[::-1]
    for c in only:
        args, after = cmds[c]
        for t in tools:
            res[(c, t)].append(run(t, argv(t, args)))
            if after:
                run(t, argv(t, after))
            # Untimed: LVM's writes through the loop devices stay dirty in
            # the PV files' page cache (about 18 MiB after an lvcreate and
            # lvremove at 3000 LVs), and the next commit's flush of those
            # files would write them out and be charged for them.
            os.sync()
med = lambda v, i: statistics.median(x[i] for x in v)
for c in only:
    lw, lc, lr = (med(res[(c, "lvm")], i) for i in range(3))
    uw, uc, ur = (med(res[(c, "ulvm")], i) for i in range(3))
    row = f"| {n:>5} | {c:<9} | {lw*1000:8.1f} | {lc*1000:8.1f} | {lr/1024:7.1f} | {uw*1000:9.1f} | {uc*1000:8.1f} | {ur/1024:8.1f} | {lw/uw:6.1f}x |"
    if noflush:
        fw = med(res[(c, "ulvm-noflush")], 0)
        row += f" {fw*1000:10.1f} | {lw/fw:6.1f}x |"
    print(row, flush=True)
EOF
}

echo "medians of $REPEAT rounds; $NPV PVs; ms, MiB; ratio = LVM wall / ulvm wall"
if [ -n "$NOFLUSH" ]; then
  echo "|   LVs | command   | LVM wall |  LVM CPU | LVM RSS | ulvm wall | ulvm CPU | ulvm RSS |   ratio | no-flush wall |  ratio |"
  echo "|------:|-----------|---------:|---------:|--------:|----------:|---------:|---------:|--------:|-----------:|-------:|"
else
  echo "|   LVs | command   | LVM wall |  LVM CPU | LVM RSS | ulvm wall | ulvm CPU | ulvm RSS |   ratio |"
  echo "|------:|-----------|---------:|---------:|--------:|----------:|---------:|---------:|--------:|"
fi
for n in $COUNTS; do
  setup "$n"
  check_rows
  measure "$n"
done
# --keep: the last count's PV files and ulvm system directory, for
# profiling (`ulvm lvs --devices DIR/pv/pv0.img,...` with
# ULVM_SYSTEM_DIR=DIR/etc-ulvm).
if [ -n "$KEEP" ]; then
  cleanup_loops
  mkdir -p "$KEEP"
  rm -rf "$KEEP/pv" "$KEEP/etc-ulvm"
  mv "$W/pv" "$KEEP/pv"
  mv "$ULVM_SYSTEM_DIR" "$KEEP/etc-ulvm"
fi
