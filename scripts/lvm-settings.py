#!/usr/bin/env python3
"""Writes crates/lvm/src/ops/lvm_settings.tsv: the settings of the real LVM
installed on this host (2.03.16), as ulvm's lvmconfig prints them.

Run once, as root, on a host with LVM 2.03.16 (it only reads: lvmconfig
with a private, nearly empty LVM_SYSTEM_DIR):

    scripts/lvm-settings.py > crates/lvm/src/ops/lvm_settings.tsv

Every section and setting LVM prints with `lvmconfig --type default` or
`lvmconfig --type full` (with a config of just `config {}`: LVM refuses
`--type full` over an empty one), in LVM's order (the two printouts merged;
`--type list --showdeprecated --showunsupported` breaks ties), then the
settings of `--type list` neither prints (no default value). Columns,
tab-separated:

    KIND  PATH  FLAGS  VALUE

KIND is `section` or `setting`; FLAGS has `d` (printed by --type default),
`c` (a section --type default prints commented out), `f` (printed by
--type full), `l` (named by --type list: known, so asking for it when it
has no value prints nothing); VALUE is the default as LVM prints it, the
system directory written `{dir}`.
"""
import os
import subprocess
import sys
import tempfile


def lvmconfig(sysdir, *args):
    env = dict(os.environ, LVM_SYSTEM_DIR=sysdir)
    out = subprocess.run(["lvmconfig", *args], env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def entries(lines, sysdir):
    """(kind, path, commented, value) of a printed config tree."""
    stack = []
    out = []
    for raw in lines:
        line = raw.strip()
        commented = line.startswith("# ")
        if commented:
            line = line[2:]
        if line.endswith(" {"):
            stack.append(line[:-2])
            out.append(("section", "/".join(stack), commented, ""))
        elif line == "}":
            stack.pop()
        else:
            key, value = line.split("=", 1)
            out.append(("setting", "/".join(stack + [key]), commented, value.replace(sysdir, "{dir}")))
    return out


def merge(a, b, rank):
    """One sequence holding both (each a subsequence of LVM's order)."""
    out, i, j = [], 0, 0
    bpaths = [e[1] for e in b]
    apaths = [e[1] for e in a]
    while i < len(a) or j < len(b):
        if i == len(a):
            out.append(b[j]); j += 1
        elif j == len(b):
            out.append(a[i]); i += 1
        elif a[i][1] == b[j][1]:
            out.append(a[i]); i += 1; j += 1
        elif a[i][1] in bpaths[j:]:
            out.append(b[j]); j += 1
        elif b[j][1] in apaths[i:]:
            out.append(a[i]); i += 1
        elif rank(b[j][1]) < rank(a[i][1]):
            out.append(b[j]); j += 1
        else:
            out.append(a[i]); i += 1
    return out


def main():
    with tempfile.TemporaryDirectory(prefix="ulvm-settings-") as sysdir:
        with open(os.path.join(sysdir, "lvm.conf"), "w") as f:
            f.write("config {\n}\n")
        default = entries(lvmconfig(sysdir, "--type", "default"), sysdir)
        full = entries(lvmconfig(sysdir, "--type", "full"), sysdir)
        listed = lvmconfig(sysdir, "--type", "list")
        everything = lvmconfig(sysdir, "--type", "list", "--showdeprecated", "--showunsupported")
    rank = lambda p: everything.index(p) if p in everything else len(everything)
    dmap = {e[1]: e for e in default}
    fmap = {e[1]: e for e in full}
    print("# LVM 2.03.16's settings: written by scripts/lvm-settings.py (see there); do not edit.")
    seen = set()
    for kind, path, _, _ in merge(default, full, rank):
        seen.add(path)
        flags = ""
        if path in dmap:
            flags += "d"
            if kind == "section" and dmap[path][2]:
                flags += "c"
        if path in fmap:
            flags += "f"
        if path in listed:
            flags += "l"
        values = {e[3] for e in (dmap.get(path), fmap.get(path)) if e}
        if len(values) > 1:
            sys.exit(f"{path}: --type default and full print different values {values}")
        print(f"{kind}\t{path}\t{flags}\t{values.pop() if values else ''}")
    for path in listed:
        if path not in seen and "<" not in path:
            print(f"setting\t{path}\tl\t")


main()
