#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The README's knob table against the uapi header's FB_KNOBS.

include/uapi/linux/fastballoon.h is the one table of the knobs (names,
units, ranges, defaults, words); the README's "Tuning: knobs" table says
the same for people. This compiles a small program against the header that
prints FB_KNOBS as the C compiler sees it, parses the README's table, and
lists every difference: a knob in one and not the other, another range,
default or set of words, a different order, or an FB_ATTR_* name that is
not the table's.

    python3 selftests/tools/knob_table.py    # exit 1 and the differences

test_balloonctl.py runs it as its check readme_knob_table.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(REPO, "include", "uapi", "linux", "fastballoon.h")
README = os.path.join(REPO, "README.md")

# Prints FB_KNOBS as JSON lines: the compiler, not a regex, reads the header.
DUMP_C = r"""
#include <stdio.h>
#include <linux/fastballoon.h>

#define WORD(value, word)	word,
#define ROW(name, unit, min, max, def, words) {				\
	const char *w[] = { words(WORD) NULL };				\
									\
	row(#name, unit == FB_UNIT_WORD, (unsigned long long)(min),	\
	    (unsigned long long)(max), (unsigned long long)(def), #def, w); \
}

/* a word knob's #def is a string literal already, a word JSON's too */
static void row(const char *name, int is_word, unsigned long long min,
		unsigned long long max, unsigned long long def,
		const char *def_word, const char **w)
{
	printf("{\"name\": \"%s\", \"word\": %d, ", name, is_word);
	if (is_word)
		printf("\"min\": 0, \"max\": 0, \"def\": %s, ", def_word);
	else if (max == FB_KNOB_RAM && def == FB_KNOB_AUTO)
		printf("\"min\": %llu, \"max\": \"RAM\", \"def\": \"auto\", ",
		       min);
	else if (max == FB_KNOB_RAM)
		printf("\"min\": %llu, \"max\": \"RAM\", \"def\": %llu, ", min,
		       def);
	else
		printf("\"min\": %llu, \"max\": %llu, \"def\": %llu, ", min, max,
		       def);
	printf("\"words\": [");
	for (; *w; w++)
		printf("\"%s\"%s", *w, w[1] ? ", " : "");
	printf("]}\n");
}

int main(void)
{
	FB_KNOBS(ROW)
	return 0;
}
"""


def header_knobs(cc=None):
    """FB_KNOBS as a list of {name, word, min, max, def, words}, in order,
    every macro in it replaced by its value."""
    cc = cc or os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory(prefix="knob-table-") as tmp:
        src = os.path.join(tmp, "dump.c")
        exe = os.path.join(tmp, "dump")
        with open(src, "w") as f:
            f.write(DUMP_C)
        subprocess.run([cc, "-std=gnu11", "-Wall", "-Werror", "-I",
                        os.path.join(REPO, "include", "uapi"), "-o", exe, src],
                       check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
        out = subprocess.run([exe], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
    return [json.loads(ln) for ln in out.splitlines()]


def attr_names():
    """The FB_ATTR_* strings of the header."""
    with open(HEADER) as f:
        return set(re.findall(r'#define\s+FB_ATTR_\w+\s+"(\w+)"', f.read()))


def _number(text):
    """"0", "60000", "2^30" -> int; "RAM" and "auto" stay."""
    text = text.strip()
    if text in ("RAM", "auto"):
        return text
    m = re.fullmatch(r"(\d+)\^(\d+)", text)
    if m:
        return int(m.group(1)) ** int(m.group(2))
    return int(text)


def readme_knobs(path=README):
    """The README's "Tuning: knobs" table as rows like header_knobs()."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"^## Tuning: knobs\n(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        raise ValueError("README has no '## Tuning: knobs' section")
    rows = []
    for ln in m.group(1).splitlines():
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        words = re.findall(r"`([^`]+)`", cells[1])
        if words:
            row = {"name": name, "word": 1, "min": 0, "max": 0,
                   "def": cells[2].strip("`"), "words": words}
        else:
            lo, _, hi = cells[1].partition("..")
            row = {"name": name, "word": 0, "min": _number(lo),
                   "max": _number(hi), "def": _number(cells[2]), "words": []}
        rows.append(row)
    return rows


def differences(header=None, readme=None):
    """What the README says differently from the header; [] if nothing."""
    header = header_knobs() if header is None else header
    readme = readme_knobs() if readme is None else readme
    diffs = []
    h = {r["name"]: r for r in header}
    d = {r["name"]: r for r in readme}
    for n in h:
        if n not in d:
            diffs.append("%s: in the header, not in the README" % n)
    for n in d:
        if n not in h:
            diffs.append("%s: in the README, not in the header" % n)
    for n in h:
        if n not in d:
            continue
        for key, what in (("min", "lower bound"), ("max", "upper bound"),
                          ("def", "default"), ("words", "words")):
            if h[n]["word"] and key in ("min", "max"):
                continue
            if h[n][key] != d[n][key]:
                diffs.append("%s: README %s %r, header %r" %
                             (n, what, d[n][key], h[n][key]))
    common = [n for n in h if n in d]
    if [n for n in d if n in h] != common:
        diffs.append("the README lists the knobs in another order: %s" %
                     ", ".join(n for n in d if n in h))
    names = attr_names()
    for n in h:
        if n not in names:
            diffs.append("%s: no FB_ATTR_* in the header names it" % n)
    return diffs


def main():
    diffs = differences()
    for line in diffs:
        print("README vs %s: %s" % (os.path.relpath(HEADER, REPO), line))
    if not diffs:
        print("README's knob table matches FB_KNOBS (%d knobs)" %
              len(header_knobs()))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
