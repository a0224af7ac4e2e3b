#!/usr/bin/env python3
"""Decode the metadata the kernel's dm-raid target keeps on an rmeta device.

    scripts/decode-dm-raid-sb.py FILE...

FILE is a raw image of one rmeta sub-LV (as LVM allocates it: one extent),
or the same compressed with xz (*.xz). Everything is little-endian:

* byte 0: the dm-raid superblock (148 bytes; the kernel writes the rest of
  the logical block, 512 bytes here, as zeros);
* byte 4096: the md bitmap superblock (256 bytes), then the write-intent
  bitmap, one bit per region (bit i of byte i // 8 = region i, least
  significant bit first), 1 = region dirty / needs resync.

Field layout as in the kernel's drivers/md/dm-raid.c (struct
dm_raid_superblock) and drivers/md/md-bitmap.h (bitmap_super_t); see
crates/dm/tests/fixtures/raid/README.md for what each case shows.
"""
import lzma
import struct
import sys

MAX_SECTOR = (1 << 64) - 1  # the kernel's MaxSector ("not set / complete")
DM_RAID_MAGIC = 0x64526D44  # "DmRd"
BITMAP_MAGIC = 0x6D746962  # "bitm"
BITMAP_OFFSET = 4096
BITMAP_SB_SIZE = 256

# (offset, name, struct format)
DM_RAID_SB = [
    (0, "magic", "I"),
    (4, "compat_features", "I"),
    (8, "num_devices", "I"),
    (12, "array_position", "I"),
    (16, "events", "Q"),
    (24, "failed_devices", "Q"),
    (32, "disk_recovery_offset", "Q"),
    (40, "array_resync_offset", "Q"),
    (48, "level", "I"),
    (52, "layout", "I"),
    (56, "stripe_sectors", "I"),
    # from here on only with compat_features bit 0 (the 1.9.0 extension)
    (60, "flags", "I"),
    (64, "reshape_position", "Q"),
    (72, "new_level", "I"),
    (76, "new_layout", "I"),
    (80, "new_stripe_sectors", "I"),
    (84, "delta_disks", "i"),
    (88, "array_sectors", "Q"),
    (96, "data_offset", "Q"),
    (104, "new_data_offset", "Q"),
    (112, "sectors", "Q"),
    (120, "extended_failed_devices[0]", "Q"),
    (128, "extended_failed_devices[1]", "Q"),
    (136, "extended_failed_devices[2]", "Q"),
    (144, "incompat_features", "I"),
]
DM_RAID_SB_SIZE = 148

BITMAP_SB = [
    (0, "magic", "I"),
    (4, "version", "I"),
    (8, "uuid", "16s"),
    (24, "events", "Q"),
    (32, "events_cleared", "Q"),
    (40, "sync_size", "Q"),
    (48, "state", "I"),
    (52, "chunksize", "I"),
    (56, "daemon_sleep", "I"),
    (60, "write_behind", "I"),
    (64, "sectors_reserved", "I"),
    (68, "nodes", "I"),
    (72, "cluster_name", "64s"),
]


def fields(data, base, layout):
    return {name: struct.unpack_from("<" + fmt, data, base + off)[0] for off, name, fmt in layout}


def sectors(v):
    return "MaxSector (all ones)" if v == MAX_SECTOR else f"{v} sectors"


def nonzero_ranges(data):
    """[start, end) byte ranges of the data that are not zero."""
    out, start = [], None
    for i in range(0, len(data), 16):
        nz = any(data[i:i + 16])
        if nz and start is None:
            start = i
        elif not nz and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(data)))
    # tighten to the exact first and last non-zero byte of each range
    tight = []
    for s, e in out:
        while not data[s]:
            s += 1
        while not data[e - 1]:
            e -= 1
        tight.append((s, e))
    return tight


def decode(path):
    raw = open(path, "rb").read()
    data = lzma.decompress(raw) if path.endswith(".xz") else raw
    print(f"== {path.rsplit('/', 1)[-1]}: {len(data)} bytes ({len(data) // 512} sectors)")
    sb = fields(data, 0, DM_RAID_SB)
    magic = sb["magic"]
    print(f"dm-raid superblock at byte 0 ({DM_RAID_SB_SIZE} bytes):")
    print(f"  magic                 0x{magic:08x} {'(DmRd)' if magic == DM_RAID_MAGIC else '(NOT DmRd)'}")
    cf = sb["compat_features"]
    print(f"  compat_features       0x{cf:x}{' (bit 0: 1.9.0 extended superblock)' if cf & 1 else ''}")
    for k in ("num_devices", "array_position", "events"):
        print(f"  {k:<21} {sb[k]}")
    fd = sb["failed_devices"]
    legs = [i for i in range(64) if fd >> i & 1]
    print(f"  failed_devices        0x{fd:016x}" + (f" (legs {legs})" if legs else ""))
    print(f"  disk_recovery_offset  {sectors(sb['disk_recovery_offset'])}")
    print(f"  array_resync_offset   {sectors(sb['array_resync_offset'])}")
    for k in ("level", "layout", "stripe_sectors", "flags"):
        print(f"  {k:<21} {sb[k]}")
    print(f"  reshape_position      {sectors(sb['reshape_position'])}")
    for k in ("new_level", "new_layout", "new_stripe_sectors", "delta_disks"):
        print(f"  {k:<21} {sb[k]}")
    for k in ("array_sectors", "data_offset", "new_data_offset", "sectors"):
        print(f"  {k:<21} {sb[k]}")
    ext = [sb[f"extended_failed_devices[{i}]"] for i in range(3)]
    print(f"  extended_failed_devices {ext}")
    print(f"  incompat_features     {sb['incompat_features']}")
    rest = data[DM_RAID_SB_SIZE:512]
    print(f"  bytes {DM_RAID_SB_SIZE}..511: {'all zero' if not any(rest) else 'NOT all zero'}")

    bm = fields(data, BITMAP_OFFSET, BITMAP_SB)
    print(f"md bitmap superblock at byte {BITMAP_OFFSET} ({BITMAP_SB_SIZE} bytes):")
    print(f"  magic                 0x{bm['magic']:08x} {'(bitm)' if bm['magic'] == BITMAP_MAGIC else '(NOT bitm)'}")
    print(f"  version               {bm['version']}")
    print(f"  uuid                  {bm['uuid'].hex()}")
    for k in ("events", "events_cleared"):
        print(f"  {k:<21} {bm[k]}")
    print(f"  sync_size             {bm['sync_size']} sectors")
    st = bm["state"]
    names = [n for b, n in ((0, "STALE"), (1, "WRITE_ERROR"), (15, "HOSTENDIAN")) if st >> b & 1]
    print(f"  state                 0x{st:x}" + (f" ({' '.join(names)})" if names else ""))
    print(f"  chunksize             {bm['chunksize']} bytes ({bm['chunksize'] // 512} sectors = the LV's region size)")
    print(f"  daemon_sleep          {bm['daemon_sleep']} s")
    for k in ("write_behind", "sectors_reserved", "nodes"):
        print(f"  {k:<21} {bm[k]}")
    cn = bm["cluster_name"].rstrip(b"\0")
    print(f"  cluster_name          {cn!r}")
    pad = data[BITMAP_OFFSET + 136:BITMAP_OFFSET + BITMAP_SB_SIZE]
    print(f"  pad (bytes 136..255)  {'all zero' if not any(pad) else 'NOT all zero'}")

    start = BITMAP_OFFSET + BITMAP_SB_SIZE
    if bm["magic"] == BITMAP_MAGIC and bm["chunksize"]:
        chunk = bm["chunksize"] // 512
        regions = -(-bm["sync_size"] // chunk)
        nbytes = -(-regions // 8)
        bits = data[start:start + nbytes]
        dirty = [i for i in range(regions) if bits[i // 8] >> (i % 8) & 1]
        print(f"bitmap at byte {start}: {regions} regions of {chunk} sectors -> {nbytes} bytes: {bits.hex()}")
        print(f"  dirty regions: {len(dirty)}" + (f" {compress(dirty)}" if dirty else ""))
        # bits past the last region: md keeps the bitmap in 512-byte blocks
        # and may leave set bits there (they map to no region)
        end = BITMAP_OFFSET + 4096
        tail = data[start + nbytes:end]
        if not any(tail):
            print(f"  bytes {start + nbytes}..{end - 1} (past the last region): all zero")
        else:
            last = max(i for i, v in enumerate(tail) if v) + start + nbytes
            seg = data[start + nbytes:last + 1]
            what = "all 0xff" if all(v == 0xFF for v in seg) else "mixed: " + seg.hex()
            zero = f"; zero from {last + 1} to {end - 1}" if last + 1 < end else ""
            print(f"  bytes {start + nbytes}..{last} (past the last region, up to the last non-zero byte): {what}{zero}")
    print("non-zero byte ranges [start, end) in the whole device:",
          ", ".join(f"[{s}, {e})" for s, e in nonzero_ranges(data)) or "none")
    print()


def compress(xs):
    """[0,1,2,5] -> '0-2,5'"""
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(f"{xs[i]}" if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        decode(p)
