#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side tests of balloonctl (no QEMU, no root needed).

Builds tools/balloonctl into a temporary directory, builds fixture sysfs
trees (one device, two devices, none, module not loaded) and runs the tool
against them through BALLOONCTL_ROOT. Prints one line per check,
"PASS name", "FAIL name: reason" or "SKIP name: reason", and exits 1 if any
check failed.

    python3 selftests/tools/test_balloonctl.py [-k SUBSTRING] [-v]

BALLOONCTL_SANITIZE=1 builds balloonctl with ASan+UBSan (make sanitize) and
runs every check against that build; a sanitizer report fails the check.

Last, fuzz_parse and fuzz_cli run the libFuzzer harnesses in tools/fuzz/ for
BALLOONCTL_FUZZ_SECONDS each (default 30; 0 skips them). They need clang and
its libFuzzer runtime (Debian: clang libclang-rt-14-dev); without those they
are skipped, saying so.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import knob_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(REPO, "include", "uapi", "linux", "fastballoon.h")


def uapi_version():
    """FB_VERSION from the uapi header, the one place it is written."""
    with open(HEADER) as f:
        m = re.search(r'^#define\s+FB_VERSION\s+"([^"]+)"', f.read(), re.M)
    return m.group(1) if m else None


VERSION = uapi_version()
DRIVERS = "sys/bus/virtio/drivers"

RAM = 524288            # 2 GiB guest, in 4 KiB pages
MEMINFO = ("MemTotal:        2014000 kB\n"
           "MemFree:         1500000 kB\n"
           "MemAvailable:    1228800 kB\n")


def uapi_names():
    """FB_ATTR_* macro -> attribute name, from the uapi header."""
    names = {}
    with open(HEADER) as f:
        for m in re.finditer(r'#define\s+(FB_ATTR_\w+)\s+"(\w+)"', f.read()):
            names[m.group(1)] = m.group(2)
    return names


A = uapi_names()
COUNTERS = sorted(v for v in A.values() if v.endswith("_total"))
# the knobs and their defaults, from the uapi header's FB_KNOBS
# (a computed default, "auto", reads in sysfs as the pages it came to)
KNOB_DEFAULTS = {k["name"]: "16896" if k["def"] == "auto" else str(k["def"])
                 for k in knob_table.header_knobs()}


def device_attrs(n=0):
    """Attribute values of fixture device virtio<n>; distinct per device."""
    attrs = {
        A["FB_ATTR_TARGET_PAGES"]: 131072 + n,
        A["FB_ATTR_EFFECTIVE"]: 131072 + n,
        A["FB_ATTR_ACTUAL_PAGES"]: 250 * 512 + 3072 + n,
        A["FB_ATTR_BLOCKS_2M"]: 250,
        A["FB_ATTR_PAGES_4K"]: 3072 + n,
        A["FB_ATTR_RAM"]: RAM,
        A["FB_ATTR_INFLATE_RATE"]: 300000,
        A["FB_ATTR_DEFLATE_RATE"]: 1200000,
        A["FB_ATTR_FEATURES"]: "stats_vq deflate_on_oom reporting",
        A["FB_ATTR_PATH_ACTIVE"]: "report",
    }
    for i, c in enumerate(COUNTERS):
        attrs[c] = 1000 * (i + 1) + n
    attrs.update(KNOB_DEFAULTS)
    return attrs


class Fixture:
    """A fake root: /sys/bus/virtio/drivers/... and /proc/meminfo."""

    def __init__(self, base, name, devices=(0,), loaded=True,
                 in_tree=(), in_tree_loaded=True):
        self.root = os.path.join(base, name)
        os.makedirs(os.path.join(self.root, "proc"))
        self.write("proc/meminfo", MEMINFO)
        if loaded:
            self.driver("fastballoon")
            for n in devices:
                d = "%s/fastballoon/virtio%d/fastballoon" % (DRIVERS, n)
                os.makedirs(os.path.join(self.root, d))
                for k, v in device_attrs(n).items():
                    self.write("%s/%s" % (d, k), "%s\n" % v)
        if in_tree_loaded:
            self.driver("virtio_balloon")
            for n in in_tree:
                os.makedirs(os.path.join(
                    self.root, DRIVERS, "virtio_balloon", "virtio%d" % n))

    def driver(self, name):
        os.makedirs(os.path.join(self.root, DRIVERS, name))
        for f in ("bind", "unbind"):
            self.write("%s/%s/%s" % (DRIVERS, name, f), "")

    def path(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, text):
        with open(self.path(rel), "w") as f:
            f.write(text)

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def attr(self, name, dev="virtio0"):
        return "%s/fastballoon/%s/fastballoon/%s" % (DRIVERS, dev, name)

    def knob(self, name, dev="virtio0"):
        return self.read(self.attr(name, dev))


class Runner:
    def __init__(self, verbose=False, only=None):
        self.failed = 0
        self.passed = 0
        self.verbose = verbose
        self.only = only

    def check(self, name, fn):
        if self.only and self.only not in name:
            return
        try:
            fn()
        except AssertionError as e:
            self.failed += 1
            print("FAIL %s: %s" % (name, str(e).replace("\n", "\\n")[:400]))
        except Exception as e:  # a crash in a test is a failure, not an abort
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        else:
            self.passed += 1
            print("PASS %s" % name)
        sys.stdout.flush()

    def skip(self, name, reason):
        if self.only and self.only not in name:
            return
        print("SKIP %s: %s" % (name, reason))
        sys.stdout.flush()


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


SANITIZE = os.environ.get("BALLOONCTL_SANITIZE", "") not in ("", "0")
# a report is a failure whatever the exit status: halt on the first one
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=86",
}
SAN_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
             "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def expect_no_sanitizer_report(text, what="balloonctl"):
    """Fail with the report's first lines if ASan/UBSan/LSan said anything."""
    if not SANITIZE:
        return
    for mark in SAN_MARKS:
        i = text.find(mark)
        if i >= 0:
            raise AssertionError("%s: sanitizer report: %s" %
                                 (what, text[max(0, i - 80):i + 600]))


FUZZ_HINT = "apt-get install clang libclang-rt-14-dev"


def libfuzzer_missing(tmp):
    """None if clang can build a libFuzzer binary, else why not."""
    cc = os.environ.get("FUZZ_CC", "clang")
    if not shutil.which(cc):
        return "%s not found (%s)" % (cc, FUZZ_HINT)
    src = os.path.join(tmp, "libfuzzer-probe.c")
    with open(src, "w") as f:
        f.write("#include <stddef.h>\n#include <stdint.h>\n"
                "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)\n"
                "{ (void)d; (void)n; return 0; }\n")
    p = subprocess.run([cc, "-fsanitize=fuzzer,address,undefined", "-o",
                        src[:-2], src], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if p.returncode != 0:
        return ("%s cannot link -fsanitize=fuzzer (%s): %s" %
                (cc, FUZZ_HINT, p.stdout.strip().splitlines()[-1:]))
    return None


def fuzz_summary(out):
    """The lines of a libFuzzer crash report that say what and with what."""
    keep = []
    for ln in out.splitlines():
        if (ln.startswith(("fuzz_parse:", "fuzz_cli:", "SUMMARY:", "Base64:"))
                or "ERROR:" in ln or "runtime error:" in ln):
            keep.append(ln.strip())
    return "; ".join(keep) or out.strip()[-400:]


def run_fuzzers(tmp, t):
    """fuzz_parse, fuzz_cli: each harness for BALLOONCTL_FUZZ_SECONDS."""
    names = ("fuzz_parse", "fuzz_cli")
    secs = int(os.environ.get("BALLOONCTL_FUZZ_SECONDS", "30"))
    if t.only and not any(t.only in n for n in names):
        return
    if secs <= 0:
        for n in names:
            t.skip(n, "BALLOONCTL_FUZZ_SECONDS=%d" % secs)
        return
    why = libfuzzer_missing(tmp)
    if why:
        for n in names:
            t.skip(n, why)
        return
    fdir = os.path.join(tmp, "fuzzbuild")
    tools = os.path.join(REPO, "tools")
    build = subprocess.run(["make", "-s", "-C", tools, "O=" + fdir, "fuzz"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
    out_dir = os.path.join(fdir, "fuzz", "out")
    for n in names:
        short = n[len("fuzz_"):]

        def fuzz_check(n=n, short=short):
            expect(build.returncode == 0, "make fuzz failed:\n" + build.stdout)
            corpus = os.path.join(out_dir, "corpus-" + short)
            arts = os.path.join(out_dir, "artifacts-" + short) + "/"
            os.makedirs(corpus, exist_ok=True)
            os.makedirs(arts, exist_ok=True)
            cmd = ["nice", "-n", "10", os.path.join(out_dir, n),
                   "-max_total_time=%d" % secs, "-timeout=10",
                   "-rss_limit_mb=1536", "-close_fd_mask=1",
                   "-print_final_stats=1",
                   "-dict=" + os.path.join(tools, "fuzz", short + ".dict"),
                   "-artifact_prefix=" + arts, corpus,
                   os.path.join(tools, "fuzz", "corpus", short)]
            # fuzz_cli's fixture trees go under tmp, removed even after a crash
            p = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env=dict(os.environ, TMPDIR=tmp),
                               universal_newlines=True, timeout=secs + 300)
            execs = re.search(r"stat::number_of_executed_units:\s*(\d+)",
                              p.stdout)
            print("  %s: %s executions in %d s" %
                  (n, execs.group(1) if execs else "?", secs))
            expect(p.returncode == 0, "exit %d: %s" %
                   (p.returncode, fuzz_summary(p.stdout)))
        # libFuzzer on tools/fuzz/<harness>.c: no crash, no sanitizer report
        t.check(n, fuzz_check)


# ---- what every test shares -------------------------------------------------

FLOOR = A["FB_ATTR_FLOOR"]
RATE = A["FB_ATTR_INFLATE_LIMIT"]
PAGE_RANGE = "(0..2G, 0..524288 pages)"


class Ctx:
    """One run's balloonctl build and fixtures, and the helpers the tests
    call: run the tool, check its exit status, make a fixture, set a knob
    and check what was (or was not) written.  The fixtures one (a device)
    and two (two devices) are shared by the tests, in order."""

    def __init__(self, tmp, tool, t):
        self.tmp = tmp
        self.tool = tool
        self.t = t
        self.counter = 0
        self.one = self.fixture()
        self.two = self.fixture(devices=(0, 1))

    def run(self, args, fx=None, env=None, **kw):
        e = dict(os.environ)
        e.pop("BALLOONCTL_ROOT", None)
        if fx is not None:
            e["BALLOONCTL_ROOT"] = fx.root
        if env:
            e.update(env)
        p = subprocess.run([self.tool] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True,
                           env=e, timeout=20, **kw)
        if self.t.verbose:
            print("  $ balloonctl %s -> %d\n%s%s" % (" ".join(args),
                  p.returncode, p.stdout, p.stderr))
        expect_no_sanitizer_report(p.stderr, "balloonctl " + " ".join(args))
        return p

    @staticmethod
    def rc_is(p, rc, what=""):
        expect(p.returncode == rc, "%sexit %d, wanted %d; stderr: %s" %
               (what, p.returncode, rc, p.stderr.strip()))

    def fixture(self, **kw):
        self.counter += 1
        return Fixture(self.tmp, "fx%d" % self.counter, **kw)

    def set_ok(self, knob, value, attr, want):
        """set KNOB VALUE on one succeeds and writes want."""
        p = self.run(["set", knob, value], self.one)
        self.rc_is(p, 0, "set %s %s: " % (knob, value))
        got = self.one.knob(attr)
        expect(got == "%s\n" % want, "set %s %s wrote %r, wanted %r" %
               (knob, value, got, want))

    def set_bad(self, knob, value, attr, msg, rc=2):
        """set KNOB VALUE on one fails with rc and msg, file unchanged."""
        before = self.one.knob(attr)
        p = self.run(["set", knob, value], self.one)
        self.rc_is(p, rc, "set %s %r: " % (knob, value))
        expect(msg in p.stderr, "set %s %r: stderr %r lacks %r" %
               (knob, value, p.stderr.strip(), msg))
        expect(p.stderr.startswith("balloonctl: "), "no prefix: %r" % p.stderr)
        expect(self.one.knob(attr) == before,
               "set %s %r changed the file to %r" %
               (knob, value, self.one.knob(attr)))


# ---- set: units write the right number --------------------------------------


def test_set_page_units(ctx):
    """Set page units: pages, K/M/G with B/iB, bytes, %, 0 and max."""
    units = [
        ("floor", "262144", FLOOR, 262144),
        ("floor", "1G", FLOOR, 262144),
        ("floor", "1GiB", FLOOR, 262144),
        ("floor", "1gb", FLOOR, 262144),
        ("floor", "512M", FLOOR, 131072),
        ("floor", "512MiB", FLOOR, 131072),
        ("floor", "0.5G", FLOOR, 131072),
        ("floor", "8K", FLOOR, 2),
        ("floor", "4096B", FLOOR, 1),
        ("floor", "25%", FLOOR, 131072),
        ("floor", "12.5%", FLOOR, 65536),
        ("floor", "100%", FLOOR, RAM),
        ("floor", "0", FLOOR, 0),
        ("floor", str(RAM), FLOOR, RAM),
    ]
    for knob, value, attr, want in units:
        ctx.set_ok(knob, value, attr, want)


def test_set_rate_units(ctx):
    """Set rate: pages/s, sizes per second, max 2^30."""
    for value, want in (("100M", 25600), ("100M/s", 25600),
                        ("25600", 25600), ("1000/s", 1000),
                        ("4T", 1 << 30), ("0", 0)):
        ctx.set_ok("rate", value, RATE, want)


def test_set_other_knobs(ctx):
    """Set order, defrag, durations, oom_pages, path."""
    ctx.set_ok("order", "0", A["FB_ATTR_MAX_ORDER"], 0)
    ctx.set_ok("max_order", "9", A["FB_ATTR_MAX_ORDER"], 9)
    ctx.set_ok("defrag", "on", A["FB_ATTR_DEFRAG"], "on")
    ctx.set_ok("defrag_ms", "1s", A["FB_ATTR_DEFRAG_MS"], 1000)
    ctx.set_ok("defrag_ms", "60000", A["FB_ATTR_DEFRAG_MS"], 60000)
    ctx.set_ok("heal_ms", "100ms", A["FB_ATTR_HEAL_MS"], 100)
    ctx.set_ok("heal_ms", "1.5s", A["FB_ATTR_HEAL_MS"], 1500)
    ctx.set_ok("oom_pages", "1", A["FB_ATTR_OOM_PAGES"], 1)
    ctx.set_ok("path", "report", A["FB_ATTR_SURRENDER_PATH"], "report")


def test_set_aliases(ctx):
    """Set aliases and sysfs names."""
    for alias, attr in (("target", A["FB_ATTR_GUEST_TARGET"]),
                        ("cap", A["FB_ATTR_MAX_PAGES"]),
                        ("max", A["FB_ATTR_MAX_PAGES"]),
                        ("limit", A["FB_ATTR_INFLATE_LIMIT"]),
                        ("cpus", A["FB_ATTR_INFLATE_CPUS"]),
                        (A["FB_ATTR_FLOOR"], A["FB_ATTR_FLOOR"])):
        ctx.set_ok(alias, "1234", attr, 1234)


def test_set_prints_old_new(ctx):
    """Set reports old and new value."""
    ctx.one.write(ctx.one.attr(FLOOR), "0\n")
    p = ctx.run(["set", "floor", "1G"], ctx.one)
    ctx.rc_is(p, 0)
    expect("floor_pages 0 -> 262144 (1G)" in p.stdout,
           "set output: %r" % p.stdout)


# ---- set: bad values leave the file alone, exit 2, name the range -----------


def test_set_range_message(ctx):
    """Out of range: exact message, file unchanged."""
    ctx.one.write(ctx.one.attr(FLOOR), "77\n")
    p = ctx.run(["set", "floor", "9G"], ctx.one)
    ctx.rc_is(p, 2)
    expect(p.stderr == "balloonctl: floor: 9G is out of range "
           "(0..2G, 0..524288 pages)\n", "stderr %r" % p.stderr)
    expect(ctx.one.knob(FLOOR) == "77\n", "file changed")


def test_set_bad_page_values(ctx):
    """Bad page values: max+1, overflow, negative, garbage, empty, junk,
    partial pages."""
    bad_pages = [
        (str(RAM + 1), PAGE_RANGE),             # max + 1
        ("2049M", PAGE_RANGE),
        ("101%", PAGE_RANGE),
        ("99999999999999999999", "too large"),  # > 2^64
        ("18446744073709551616", "too large"),  # 2^64
        ("20000000000T", "too large"),
        ("-1", "negative"),
        ("-1G", "negative"),
        ("-0", "negative"),
        ("", "empty value"),
        ("abc", "not a number"),
        ("0x10", "unknown unit"),
        ("12x", "unknown unit"),
        ("12 ", "unknown unit"),
        (" 12", "not a number"),
        ("1G/s", "unknown unit"),
        ("1GiBs", "unknown unit"),
        ("5%%", "unknown unit"),
        ("1.", "not a number"),
        ("1.5", "not a whole number"),
        ("1K", "4 KiB pages"),
        ("6K", "4 KiB pages"),
        ("1.5K", "4 KiB pages"),
        ("0.1234567G", "decimal places"),
    ]

    for value, msg in bad_pages:
        ctx.set_bad("floor", value, FLOOR, msg)


def test_set_bad_other_values(ctx):
    """Bad values of rate, order, defrag, durations, oom, path."""
    ctx.set_bad("rate", "1073741825", RATE,
            "out of range (0..4T/s, 0..1073741824 pages/s)")
    ctx.set_bad("rate", "25%", RATE, "unknown unit")
    ctx.set_bad("rate", "100M/h", RATE, "unknown unit")
    ctx.set_bad("order", "10", A["FB_ATTR_MAX_ORDER"], "out of range (0..9)")
    ctx.set_bad("order", "1K", A["FB_ATTR_MAX_ORDER"], "not a number")
    ctx.set_bad("defrag", "maybe", A["FB_ATTR_DEFRAG"], "one of off on heal")
    ctx.set_bad("defrag", "", A["FB_ATTR_DEFRAG"], "empty value")
    ctx.set_bad("defrag_ms", "60001", A["FB_ATTR_DEFRAG_MS"],
            "out of range (0..60000 ms)")
    ctx.set_bad("heal_ms", "99", A["FB_ATTR_HEAL_MS"],
            "out of range (100..3600000 ms)")
    ctx.set_bad("heal_ms", "1.0005s", A["FB_ATTR_HEAL_MS"], "not a whole")
    ctx.set_bad("oom_pages", "0", A["FB_ATTR_OOM_PAGES"],
            "out of range (4K..2G, 1..524288 pages)")
    ctx.set_bad("path", "ranges", A["FB_ATTR_SURRENDER_PATH"],
            "one of auto inflate report")


def test_set_usage_errors(ctx):
    """Set: read-only, unknown knob, missing value -> exit 2."""
    ctx.set_bad("actual_pages", "5", A["FB_ATTR_ACTUAL_PAGES"], "read-only")
    p = ctx.run(["set", "bogus", "5"], ctx.one)
    ctx.rc_is(p, 2)
    expect("unknown knob 'bogus'" in p.stderr, p.stderr)
    p = ctx.run(["set", "floor"], ctx.one)
    ctx.rc_is(p, 2)
    expect("usage" in p.stderr, p.stderr)


def test_set_ram_unknown(ctx):
    """Ram_pages unreadable: % refused, sizes still written."""
    fx = ctx.fixture()
    os.unlink(fx.path(fx.attr(A["FB_ATTR_RAM"])))
    p = ctx.run(["set", "floor", "10%"], fx)
    ctx.rc_is(p, 2)
    expect("ram_pages" in p.stderr, p.stderr)
    p = ctx.run(["set", "floor", "1G"], fx)   # upper bound left to the kernel
    ctx.rc_is(p, 0)
    expect(fx.knob(FLOOR) == "262144\n", fx.knob(FLOOR))


def test_set_missing_attribute(ctx):
    """Set on an attribute the module lacks: exit 1, no file created."""
    fx = ctx.fixture()
    os.unlink(fx.path(fx.attr(A["FB_ATTR_HEAL_MS"])))
    p = ctx.run(["set", "heal_ms", "1000"], fx)
    ctx.rc_is(p, 1)
    expect("does not exist" in p.stderr and "module" in p.stderr,
           p.stderr)
    expect(not os.path.exists(fx.path(fx.attr(A["FB_ATTR_HEAL_MS"]))),
           "set created the attribute file")


def test_set_permission_exit3(ctx):
    """Set without permission: exit 3, 'run as root'."""
    fx = ctx.fixture()
    if os.geteuid() == 0:
        # drop to nobody for the run; the fixture stays root's, 0644
        for d, _, _ in os.walk(ctx.tmp):
            os.chmod(d, 0o755)
        def drop():
            os.setgid(65534)
            os.setuid(65534)
        p = ctx.run(["set", "floor", "5"], fx, preexec_fn=drop)
    else:
        os.chmod(fx.path(fx.attr(FLOOR)), 0o444)
        p = ctx.run(["set", "floor", "5"], fx)
    ctx.rc_is(p, 3)
    expect("run as root" in p.stderr, p.stderr)
    expect(fx.knob(FLOOR) == "0\n", "file changed")


# ---- get --------------------------------------------------------------------


def test_get(ctx):
    """Get knob, alias, read-only attribute; unknown -> 2."""
    ctx.one.write(ctx.one.attr(FLOOR), "4242\n")
    for name in ("floor", FLOOR):
        p = ctx.run(["get", name], ctx.one)
        ctx.rc_is(p, 0)
        expect(p.stdout == "4242\n", "get %s: %r" % (name, p.stdout))
    p = ctx.run(["get", A["FB_ATTR_ACTUAL_PAGES"]], ctx.one)
    expect(p.stdout == "131072\n", p.stdout)
    p = ctx.run(["get", "path"], ctx.one)
    expect(p.stdout == "auto\n" or p.stdout == "report\n", p.stdout)
    p = ctx.run(["get", "nonsense"], ctx.one)
    ctx.rc_is(p, 2)


# ---- status -----------------------------------------------------------------


def test_status_text(ctx):
    """Status text: target/actual, split, path, features, memory, knobs,
    counters."""
    fx = ctx.fixture()
    fx.write(fx.attr(FLOOR), "262144\n")
    p = ctx.run(["status"], fx)
    ctx.rc_is(p, 0)
    o = p.stdout
    for s in ("virtio0", "131072 pages", "512.0 MiB",
              "250 x 2 MiB blocks (500.0 MiB)", "3072 x 4 KiB pages",
              "report", "stats_vq deflate_on_oom reporting",
              "MemAvailable 1200.0 MiB", "floor 1024.0 MiB: above it",
              "heal", "follow the host's target"):
        expect(s in o, "status lacks %r:\n%s" % (s, o))
    for i, c in enumerate(COUNTERS):
        expect(re.search(r"%s\s+%d\n" % (c, 1000 * (i + 1)), o),
               "status lacks counter %s" % c)


def test_status_rates(ctx):
    """Status gives each last run's rate, and says when there is none yet
    (0: no run of FB_RATE_MIN_PAGES, the size a rate needs)."""
    p = ctx.run(["status"], ctx.one)
    ctx.rc_is(p, 0)
    expect("inflate 300000 pages/s (1171.9 MiB/s), deflate 1200000 pages/s "
           "(4687.5 MiB/s)" in p.stdout, "status lacks the rates:\n%s"
           % p.stdout)
    fx = ctx.fixture()
    fx.write(fx.attr(A["FB_ATTR_INFLATE_RATE"]), "0\n")
    p = ctx.run(["status"], fx)
    ctx.rc_is(p, 0)
    want = "inflate none yet (no run of 64 MiB), deflate 1200000"
    expect(want in p.stdout, "status lacks %r:\n%s" % (want, p.stdout))


def test_status_json(ctx):
    """Status --json: one object, required keys, numbers and strings."""
    p = ctx.run(["status", "--json"], ctx.one)
    ctx.rc_is(p, 0)
    j = json.loads(p.stdout)
    expect(isinstance(j, dict), "not an object: %r" % j)
    want = device_attrs(0)
    expect(j["device"] == "virtio0", j.get("device"))
    for k in ("target_pages", "actual_pages", "blocks_2m", "pages_4k",
              "ram_pages", "effective_target_pages"):
        expect(j[k] == want[k] and type(j[k]) is int,
               "%s = %r, wanted %r" % (k, j.get(k), want[k]))
    expect(j["features"] == ["stats_vq", "deflate_on_oom", "reporting"],
           j["features"])
    expect(j["surrender_path_active"] == "report", j)
    expect(j["mem_available_kib"] == 1228800, j)
    expect(set(j["knobs"]) == set(KNOB_DEFAULTS), sorted(j["knobs"]))
    expect(j["knobs"][A["FB_ATTR_DEFRAG"]] in ("heal", "on"), j["knobs"])
    expect(type(j["knobs"][A["FB_ATTR_HEAL_MS"]]) is int, j["knobs"])
    expect(j["knobs"][A["FB_ATTR_OOM_PAGES"]] == 1, j["knobs"])
    expect(set(j["counters"]) == set(COUNTERS), sorted(j["counters"]))
    for c in COUNTERS:
        expect(j["counters"][c] == want[c], "%s = %r" % (c, j["counters"][c]))


def test_status_json_null_and_escape(ctx):
    """Status --json: missing attribute is null, strings escaped."""
    fx = ctx.fixture()
    os.unlink(fx.path(fx.attr(A["FB_ATTR_HEAL_TRADES"])))
    fx.write(fx.attr(A["FB_ATTR_FEATURES"]), "\n")
    fx.write(fx.attr(A["FB_ATTR_PATH_ACTIVE"]), 'we"ird\n')
    p = ctx.run(["status", "--json"], fx)
    ctx.rc_is(p, 0)
    j = json.loads(p.stdout)
    expect(j["counters"][A["FB_ATTR_HEAL_TRADES"]] is None, j["counters"])
    expect(j["features"] == [], j["features"])
    expect(j["surrender_path_active"] == 'we"ird', j)


# ---- several devices, none, module not loaded -------------------------------


def test_two_devices_status(ctx):
    """Two devices: status covers both, --device picks one."""
    p = ctx.run(["status", "--json"], ctx.two)
    ctx.rc_is(p, 0)
    j = json.loads(p.stdout)
    expect(isinstance(j, list) and [d["device"] for d in j] ==
           ["virtio0", "virtio1"], p.stdout[:200])
    expect(j[1]["actual_pages"] == device_attrs(1)["actual_pages"], j[1])
    p = ctx.run(["--device", "virtio1", "status", "--json"], ctx.two)
    j = json.loads(p.stdout)
    expect(isinstance(j, dict) and j["device"] == "virtio1", p.stdout[:80])
    p = ctx.run(["status"], ctx.two)
    expect("virtio0:" in p.stdout and "virtio1:" in p.stdout, p.stdout)


def test_two_devices_need_device(ctx):
    """Two devices: get/set/watch need --device; it picks the right one."""
    for args in (["get", "floor"], ["set", "floor", "1"],
                 ["watch", "--count", "1"]):
        p = ctx.run(args, ctx.two)
        ctx.rc_is(p, 2, " ".join(args) + ": ")
        expect("--device" in p.stderr and "virtio0 virtio1" in p.stderr,
               p.stderr)
    expect(ctx.two.knob(FLOOR, "virtio1") == "0\n", "set wrote anyway")
    p = ctx.run(["set", "--device", "virtio1", "floor", "1M"], ctx.two)
    ctx.rc_is(p, 0)
    expect(ctx.two.knob(FLOOR, "virtio1") == "256\n",
           ctx.two.knob(FLOOR, "virtio1"))
    expect(ctx.two.knob(FLOOR, "virtio0") == "0\n", "wrote the other device")
    p = ctx.run(["-d", "1", "get", "actual_pages"], ctx.two)
    expect(p.stdout == "%d\n" % device_attrs(1)["actual_pages"], p.stdout)


def test_device_unknown_or_malformed(ctx):
    """--device: unknown -> 4 listing devices, malformed -> 2."""
    p = ctx.run(["--device", "virtio7", "status"], ctx.two)
    ctx.rc_is(p, 4)
    expect("virtio0 virtio1" in p.stderr, p.stderr)
    p = ctx.run(["--device", "../../etc", "status"], ctx.two)
    ctx.rc_is(p, 2)


def test_no_device_exit4(ctx):
    """No device bound: exit 4, points at takeover."""
    fx = ctx.fixture(devices=(), in_tree=(0,))
    p = ctx.run(["status"], fx)
    ctx.rc_is(p, 4)
    expect("virtio0 is bound to virtio_balloon" in p.stderr and
           "takeover" in p.stderr, p.stderr)
    fx = ctx.fixture(devices=())
    p = ctx.run(["get", "floor"], fx)
    ctx.rc_is(p, 4)
    expect("no device" in p.stderr, p.stderr)


def test_module_not_loaded_exit4(ctx):
    """Module not loaded: exit 4, says modprobe fastballoon; list."""
    fx = ctx.fixture(loaded=False, in_tree=(0,))
    for args in (["status"], ["set", "floor", "1"], ["watch"]):
        p = ctx.run(args, fx)
        ctx.rc_is(p, 4, " ".join(args) + ": ")
        expect("modprobe fastballoon" in p.stderr, p.stderr)
    p = ctx.run(["list"], fx)
    ctx.rc_is(p, 0)
    expect(p.stdout == "virtio0 virtio_balloon\n", p.stdout)


# ---- watch ------------------------------------------------------------------


def test_watch_plain_rates(ctx):
    """Watch --count 2: plain lines, rates and defrag from deltas."""
    fx = ctx.fixture()
    e = dict(os.environ, BALLOONCTL_ROOT=fx.root)
    p = subprocess.Popen([ctx.tool, "watch", "--interval", "0.6", "--count",
                          "2"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True,
                         env=e)
    time.sleep(0.3)     # between the first and the second sample
    inf = A["FB_ATTR_INFLATED"]
    c = {k: int(fx.knob(k)) for k in (inf, A["FB_ATTR_DEFRAG_TRIES"],
         A["FB_ATTR_DEFRAG_OK"], A["FB_ATTR_DEFRAG_US"])}
    fx.write(fx.attr(inf), "%d\n" % (c[inf] + 61440))
    fx.write(fx.attr(A["FB_ATTR_DEFRAG_TRIES"]),
             "%d\n" % (c[A["FB_ATTR_DEFRAG_TRIES"]] + 3))
    fx.write(fx.attr(A["FB_ATTR_DEFRAG_OK"]),
             "%d\n" % (c[A["FB_ATTR_DEFRAG_OK"]] + 2))
    fx.write(fx.attr(A["FB_ATTR_DEFRAG_US"]),
             "%d\n" % (c[A["FB_ATTR_DEFRAG_US"]] + 4500))
    out, err = p.communicate(timeout=10)
    expect_no_sanitizer_report(err, "balloonctl watch")
    expect(p.returncode == 0, "exit %d: %s" % (p.returncode, err))
    expect("\033" not in out, "escape codes when stdout is not a tty")
    lines = out.strip("\n").split("\n")
    expect(len(lines) == 3, "want header + 2 lines:\n" + out)
    hdr = lines[0].split()
    first = dict(zip(hdr, lines[1].split()))
    second = dict(zip(hdr, lines[2].split()))
    expect(first["infl_pg/s"] == "-", "first refresh has no rate: %s" %
           lines[1])
    expect(second["actual"] == "131072" and second["blocks2m"] == "250",
           lines[2])
    r = float(second["infl_pg/s"])
    expect(61440 / 0.9 < r < 61440 / 0.5,
           "inflate rate %s, wanted about %d" % (r, 61440 / 0.6))
    expect(second["defl_pg/s"] == "0", lines[2])
    expect((second["dfr_n"], second["dfr_ok"], second["dfr_ms"]) ==
           ("3", "2", "4.5"), lines[2])
    expect(second["avail_MiB"] == "1200.0", lines[2])


def test_watch_bad_args(ctx):
    """Watch: bad --interval/--count -> 2."""
    for args in (["watch", "--interval", "0"], ["watch", "--interval", "x"],
                 ["watch", "--count", "0"], ["watch", "--count", "-1"]):
        p = ctx.run(args, ctx.one)
        ctx.rc_is(p, 2, " ".join(args) + ": ")


# ---- takeover / release -----------------------------------------------------


def test_takeover_ok(ctx):
    """Takeover: unbind then bind written, report printed."""
    fx = ctx.fixture(devices=(0,), in_tree=(0,))   # target dir pre-created
    p = ctx.run(["takeover"], fx)
    ctx.rc_is(p, 0)
    expect(fx.read(DRIVERS + "/virtio_balloon/unbind") == "virtio0\n",
           "unbind: %r" % fx.read(DRIVERS + "/virtio_balloon/unbind"))
    expect(fx.read(DRIVERS + "/fastballoon/bind") == "virtio0\n",
           "bind: %r" % fx.read(DRIVERS + "/fastballoon/bind"))
    expect(fx.read(DRIVERS + "/virtio_balloon/bind") == "",
           "rebound the old driver")
    for s in ("virtio0: virtio_balloon -> fastballoon", "MemTotal 1966.8 MiB",
              "host target 131072 pages (512.0 MiB)", "actual 131072"):
        expect(s in p.stdout, "takeover output lacks %r:\n%s" %
               (s, p.stdout))


def test_takeover_fail_rebinds(ctx):
    """Takeover failing: original driver rebound, exit 1."""
    fx = ctx.fixture(devices=(), in_tree=(0,))     # bind will not "work"
    p = ctx.run(["--device", "virtio0", "takeover"], fx)
    ctx.rc_is(p, 1)
    expect(fx.read(DRIVERS + "/fastballoon/bind") == "virtio0\n", "bind")
    expect(fx.read(DRIVERS + "/virtio_balloon/bind") == "virtio0\n",
           "no rebind to virtio_balloon")
    expect("rebound virtio0 to virtio_balloon" in p.stderr, p.stderr)


def test_takeover_errors(ctx):
    """Takeover: module missing, no source device, already there,
    ambiguous."""
    fx = ctx.fixture(loaded=False, in_tree=(0,))
    p = ctx.run(["takeover"], fx)
    ctx.rc_is(p, 4)
    expect("not running 'modprobe fastballoon'" in p.stderr, p.stderr)
    expect(fx.read(DRIVERS + "/virtio_balloon/unbind") == "",
           "unbound without a driver to go to")
    fx = ctx.fixture(devices=(0,))
    p = ctx.run(["takeover"], fx)
    ctx.rc_is(p, 4)
    expect("no device is bound to virtio_balloon" in p.stderr and
           "virtio0 is already bound to fastballoon" in p.stderr, p.stderr)
    p = ctx.run(["--device", "virtio0", "takeover"], fx)
    ctx.rc_is(p, 0)
    expect("already bound to fastballoon" in p.stdout, p.stdout)
    fx = ctx.fixture(devices=(0,), in_tree=(1, 2))
    p = ctx.run(["takeover"], fx)
    ctx.rc_is(p, 2)
    expect("--device" in p.stderr, p.stderr)


def test_release(ctx):
    """Release: reverse writes; virtio_balloon missing -> 4."""
    fx = ctx.fixture(devices=(0,), in_tree=(0,))
    p = ctx.run(["release"], fx)
    ctx.rc_is(p, 0)
    expect(fx.read(DRIVERS + "/fastballoon/unbind") == "virtio0\n",
           "unbind")
    expect(fx.read(DRIVERS + "/virtio_balloon/bind") == "virtio0\n",
           "bind")
    expect("virtio0: fastballoon -> virtio_balloon" in p.stdout and
           "fastballoon held 131072 pages" in p.stdout, p.stdout)
    fx = ctx.fixture(devices=(0,), in_tree_loaded=False)
    p = ctx.run(["release"], fx)
    ctx.rc_is(p, 4)
    expect("not running 'modprobe virtio_balloon'" in p.stderr, p.stderr)


# ---- command line -----------------------------------------------------------


def test_help_version(ctx):
    """--help, per-command help, help knobs, --version."""
    p = ctx.run(["--help"])
    ctx.rc_is(p, 0)
    for c in ("status", "get KNOB", "set KNOB VALUE", "watch", "takeover",
              "release", "--device", "Exit status"):
        expect(c in p.stdout, "--help lacks %r" % c)
    p = ctx.run(["set", "--help"])
    ctx.rc_is(p, 0)
    expect("set KNOB VALUE" in p.stdout and "25%" in p.stdout, p.stdout)
    p = ctx.run(["help", "knobs"])
    ctx.rc_is(p, 0)
    for k in KNOB_DEFAULTS:
        expect(k in p.stdout, "help knobs lacks %s" % k)
    p = ctx.run(["--version"])
    expect(p.returncode == 0 and p.stdout == "balloonctl %s\n" % VERSION,
           p.stdout)


def test_usage_errors_exit2(ctx):
    """Usage errors -> exit 2 with a message."""
    for args in ([], ["frobnicate"], ["--bogus", "status"],
                 ["status", "extra"], ["get"], ["--device"],
                 ["get", "floor", "--json"]):
        p = ctx.run(args, ctx.one)
        ctx.rc_is(p, 2, " ".join(args) + ": ")
        expect(p.stderr.strip(), "no message for %r" % args)


def test_build_static(ctx):
    """Make O=dir STATIC=1 builds a static binary."""
    sdir = os.path.join(ctx.tmp, "static")
    b = subprocess.run(["make", "-s", "-C", os.path.join(REPO, "tools"),
                        "O=" + sdir, "STATIC=1"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    expect(b.returncode == 0, b.stdout)
    out = subprocess.run(["ldd", os.path.join(sdir, "balloonctl")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True).stdout
    expect("not a dynamic executable" in out or "statically" in out, out)


def test_man_page(ctx):
    """Man page: every knob, required sections, groff -ww clean."""
    page = os.path.join(REPO, "tools", "balloonctl.8")
    with open(page) as f:
        text = f.read()
    for k in KNOB_DEFAULTS:
        expect(k.replace("_", "\\_") in text or k in text,
               "man page lacks knob %s" % k)
    for s in (".SH EXIT STATUS", ".SH ENVIRONMENT", "BALLOONCTL_ROOT",
              ".SH EXAMPLES", ".SH FILES", ".SH OPTIONS", ".SH KNOBS"):
        expect(s in text, "man page lacks %s" % s)
    if not shutil.which("groff"):
        return
    g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    expect(g.returncode == 0 and not g.stderr.strip(),
           "groff warnings: %s" % g.stderr)


def test_watch_tty(ctx):
    """Watch on a terminal: redrawn in place, full view."""
    import pty
    fx = ctx.fixture()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["BALLOONCTL_ROOT"] = fx.root
        os.execv(ctx.tool, [ctx.tool, "watch", "--interval", "0.05", "--count",
                          "2"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    expect_no_sanitizer_report(text, "balloonctl watch on a tty")
    expect(os.WEXITSTATUS(status) == 0, "exit %d" % status)
    expect(text.count("\033[H\033[2J") == 2, "want 2 redraws:\n%r" % text)
    for s in ("virtio0", "131072 pages", "512.0 MiB", "250 x 2 MiB",
              "inflate", "defrag", "MemAvailable 1200.0 MiB"):
        expect(s in text, "tty view lacks %r" % s)


def test_set_write_refused_exit1(ctx):
    """Set: a write the system refuses -> exit 1 naming it."""
    # a knob that is a directory stands in for a write the kernel refuses
    fx = ctx.fixture()
    path = fx.path(fx.attr(FLOOR))
    os.unlink(path)
    os.mkdir(path)
    p = ctx.run(["set", "floor", "5"], fx)
    ctx.rc_is(p, 1)
    expect("floor" in p.stderr and "failed" in p.stderr, p.stderr)


def test_option_error_messages(ctx):
    """Option errors name the option as typed: --json=1 is not "unknown
    -j"."""
    for args, msg in ((["--json=1", "status"],
                       "option --json takes no value (got '--json=1')"),
                      (["--help=x"], "option --help takes no value"),
                      (["-jd"], "option -d needs a value"),
                      (["--dev"], "option --dev needs a value"),
                      (["-jx", "status"], "unknown option '-x'"),
                      (["--bogus=1"], "unknown option '--bogus=1'")):
        p = ctx.run(args, ctx.one)
        ctx.rc_is(p, 2, " ".join(args) + ": ")
        expect(msg in p.stderr, "%s: stderr %r lacks %r" %
               (" ".join(args), p.stderr, msg))


def test_set_huge_percent(ctx):
    """A huge percentage is out of range, not "does not fit in 64 bits"."""
    # 4*10^7 % of 2 GiB is 2*10^11 pages: out of range, not overflow
    # (RAM * percent * 10^6 does not fit; the result does)
    p = ctx.run(["set", "floor", "40000000.000001%"], ctx.one)
    ctx.rc_is(p, 2)
    expect("out of range" in p.stderr and "64 bits" not in p.stderr,
           p.stderr)


# ---- the uapi table is the one source --------------------------------------


def test_readme_knob_table(ctx):
    """README's knob table: the names, ranges, defaults and words of the
    uapi header's FB_KNOBS (knob_table.py)."""
    diffs = knob_table.differences()
    expect(not diffs, "README.md disagrees with FB_KNOBS: " + "; ".join(diffs))


def test_tool_knob_table(ctx):
    """Help knobs shows FB_KNOBS: every knob, in order, its range and
    default as the header has them."""
    p = ctx.run(["help", "knobs"])
    ctx.rc_is(p, 0)
    rows = [ln.split() for ln in p.stdout.splitlines()[1:]
            if ln.startswith("  ") and "[default" in ln]
    knobs = knob_table.header_knobs()
    expect([r[0] for r in rows] == [k["name"] for k in knobs],
           "help knobs order %s" % [r[0] for r in rows])
    for k, ln in zip(knobs, p.stdout.splitlines()[1:]):
        expect("[default %s]" % k["def"] in ln, "%s: %r" % (k["name"], ln))
        want = (" ".join(k["words"]) if k["word"] else
                "%d..%s" % (k["min"], k["max"]))
        expect(want in ln, "%s: %r lacks %r" % (k["name"], ln, want))


# Every test, in the order they run (some share state through ctx.one).
TESTS = [test_set_page_units,
         test_set_rate_units,
         test_set_other_knobs,
         test_set_aliases,
         test_set_prints_old_new,
         test_set_range_message,
         test_set_bad_page_values,
         test_set_bad_other_values,
         test_set_usage_errors,
         test_set_ram_unknown,
         test_set_missing_attribute,
         test_set_permission_exit3,
         test_get,
         test_status_text,
         test_status_rates,
         test_status_json,
         test_status_json_null_and_escape,
         test_two_devices_status,
         test_two_devices_need_device,
         test_device_unknown_or_malformed,
         test_no_device_exit4,
         test_module_not_loaded_exit4,
         test_watch_plain_rates,
         test_watch_bad_args,
         test_takeover_ok,
         test_takeover_fail_rebinds,
         test_takeover_errors,
         test_release,
         test_help_version,
         test_usage_errors_exit2,
         test_build_static,
         test_man_page,
         test_watch_tty,
         test_set_write_refused_exit1,
         test_option_error_messages,
         test_set_huge_percent,
         test_readme_knob_table,
         test_tool_knob_table]


def build_tool(tmp, t):
    """Build balloonctl (-Wall -Wextra -Werror; ASan+UBSan with
    BALLOONCTL_SANITIZE=1) into tmp: the tool's path, or None."""
    bindir = os.path.join(tmp, "bin")
    build = subprocess.run(["make", "-s", "-C", os.path.join(REPO, "tools"),
                            "O=" + bindir] + (["sanitize"] if SANITIZE else []),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
    tool = os.path.join(bindir, "sanitize" if SANITIZE else "", "balloonctl")
    if SANITIZE:
        print("  balloonctl built with ASan+UBSan: %s" % tool)
        os.environ.update(SAN_ENV)

    def build_check():
        expect(build.returncode == 0 and os.access(tool, os.X_OK),
               "make -C tools O=%s failed:\n%s" % (bindir, build.stdout))
        expect(build.stdout.strip() == "", "build printed: %s" % build.stdout)
    # build -Wall -Wextra -Werror
    t.check("build", build_check)
    return tool if build.returncode == 0 else None


def run_all(tmp, t):
    t0 = time.monotonic()
    tool = build_tool(tmp, t)
    if not tool:
        return 1            # the build check said why
    ctx = Ctx(tmp, tool, t)
    for test in TESTS:
        t.check(test.__name__[len("test_"):], lambda test=test: test(ctx))
    run_fuzzers(tmp, t)

    total = t.passed + t.failed
    print("%d passed, %d failed (%d checks, %.1f s)" %
          (t.passed, t.failed, total, time.monotonic() - t0))
    return 1 if t.failed else 0


def main():
    verbose = "-v" in sys.argv
    only = None
    if "-k" in sys.argv:
        only = sys.argv[sys.argv.index("-k") + 1]
    tmp = tempfile.mkdtemp(prefix="balloonctl-test-")
    try:
        return run_all(tmp, Runner(verbose, only))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
