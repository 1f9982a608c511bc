#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check that the driver's calls go down its layers, as the README says.

The README's "The driver's layers" table is the map: each row names a
layer (blank: the row above's), its files, and in "calls" the files of its
own layer it may call (or "everything").  A file may call any file of a
lower layer, and the files of its own layer that its row names.  The
object files of a built module say who calls whom: every fb_* symbol a
file uses but does not define is looked up among the symbols the others
define.

    python3 selftests/qemu/layers.py BUILD_DIR   # the dir holding driver/*.o

Exit status 0 when every call goes down (or sideways as listed), 1 with
one line per call that does not, or per driver file the table leaves out.
"""

import glob
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")
HEADING = "### The driver's layers"
ENTRY = "entry points"


def read_table(path=README):
    """{file: (layer number, set of same-layer files it may call, or None
    for everything)} from the README's table; entry points are the top."""
    with open(path) as f:
        text = f.read()
    if HEADING not in text:
        raise ValueError("README has no %r section" % HEADING)
    rows = [ln for ln in text.split(HEADING, 1)[1].splitlines()
            if ln.startswith("|")][2:]      # the header and its rule
    table, layer, top = {}, None, 99
    for ln in rows:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) != 4:
            raise ValueError("layer table row with %d cells: %s" %
                             (len(cells), ln))
        name, files, _, calls = cells
        if name:
            m = re.match(r"(\d+):", name)
            if name == ENTRY:
                layer = top
            elif m:
                layer = int(m.group(1))
            else:
                raise ValueError("layer %r: neither %r nor 'N: ...'" %
                                 (name, ENTRY))
        if layer is None:
            raise ValueError("the first row names no layer")
        may = None if "everything" in calls else set(
            re.findall(r"`(\w+\.c)`", calls))
        for f in re.findall(r"`(\w+\.c)`", files):
            table[f] = (layer, may)
    return table


def symbols(obj):
    """(defined global names, undefined names) of one object file."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1].isupper() and parts[1] != "U":
            defined.add(parts[2])
    return defined, undefined


def check(build_dir, table=None):
    """Problems, one string each ([] when the calls go down)."""
    table = table if table is not None else read_table()
    objs = {}
    for o in sorted(glob.glob(os.path.join(build_dir, "driver", "*.o"))):
        name = os.path.basename(o)[:-2] + ".c"
        if name.startswith("fastballoon") or name.endswith(".mod.c"):
            continue
        objs[name] = symbols(o)
    if not objs:
        return ["no driver/*.o under %s" % build_dir]
    problems = ["%s is not in the README's layer table" % f
                for f in sorted(objs) if f not in table]
    where = {s: f for f, (d, _) in objs.items() for s in d}
    for caller, (_, undefined) in sorted(objs.items()):
        if caller not in table:
            continue
        layer, may = table[caller]
        for sym in sorted(undefined):
            callee = where.get(sym)
            if not sym.startswith("fb_") or callee in (None, caller):
                continue
            if callee not in table:
                continue
            clayer = table[callee][0]
            if clayer < layer or may is None or callee in may:
                continue
            problems.append("%s (layer %d) calls %s() in %s (layer %d)" % (
                caller, layer, sym, callee, clayer))
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: layers.py BUILD_DIR", file=sys.stderr)
        return 2
    problems = check(argv[0])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
