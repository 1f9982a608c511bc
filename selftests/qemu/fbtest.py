# SPDX-License-Identifier: GPL-2.0
"""What every in-guest test sees: constants, verdicts (Fail, Skip, check),
the test context Ctx around one booted guest, and the helpers the test
modules (t_*.py, registered in groups.py) share: inflate/deflate with their
checks, waits, a guest program holding memory, fastballoon's tracepoints.

A helper one module alone uses stays in that module.
"""

import contextlib
import re
import time

import fbqemu
from fbqemu import FbError, GuestDied, GuestTimeout  # noqa: F401

MIB = 1 << 20
KIB = 1 << 10
GUEST_MIB = 2048
FULL = GUEST_MIB * MIB
KSFT_SKIP = 4
PAGES_PER_MIB = 256     # 4 KiB balloon pages

# Fastballoon's sysfs attributes, as include/uapi/linux/fastballoon.h names
# them (read here so that a rename there shows up as a failure here).
FB_ATTRS = fbqemu.fb_attr_names()
# Its numeric constants (the knobs' bounds).
FB_NUM = fbqemu.fb_uapi_numbers()

# Not in the uapi header: fastballoon's count of pages its shrinker gave
# back under pressure (before the OOM notifier would have been called).
SHRINKER_RELEASED = "shrinker_released_pages_total"

# The knobs (read-write attributes), keys of FB_ATTRS.
KNOBS = ("guest_target", "max_pages", "floor", "reserve", "inflate_limit",
         "inflate_cpus", "max_order", "defrag", "defrag_ms", "heal_ms", "oom_pages",
         "surrender_path")


# virtio-balloon feature bits.
F_MUST_TELL_HOST, F_STATS_VQ, F_DEFLATE_ON_OOM, F_FREE_PAGE_HINT, \
    F_PAGE_POISON, F_REPORTING = range(6)


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg, *args):
    if not cond:
        raise Fail(msg % args if args else msg)


def fastballoon_only(fn):
    """Mark a test that means nothing with the in-tree driver."""
    fn.fastballoon_only = True
    return fn


# ------------------------------------------------------------ test context

class Ctx:
    """What a test sees: one booted guest and the driver under test."""

    def __init__(self, guest, driver, note,
                 balloonctl=("absent", "not built yet")):
        self.g = guest
        self.driver = driver
        self.note = note        # a test adds facts worth printing here
        # How the guest's balloonctl build went: fbqemu.build_balloonctl()'s
        # (status, why).
        self.balloonctl = balloonctl
        # Console bytes up to which problems are the test's own finding
        # (accept_console()), not a failure; None: every problem fails it.
        self.console_accepted = None

    def accept_console(self):
        """The problems on the console so far (OOM kills, a panic) are what
        this test set out to show: return them, and don't fail the test on
        them.  For a test that shows a documented risk."""
        bad = self.g.health(self.console_accepted or 0)
        self.console_accepted = self.g.console_size()
        return bad

    # -- the balloon device and its driver

    def bound(self):
        """Name of the driver bound to the balloon device, or None."""
        rc, out = self.g.run("readlink $(fb-dev)/driver")
        return out.rsplit("/", 1)[-1] if rc == 0 and out else None

    def kernel_version(self):
        """The guest kernel's (major, minor), from uname -r."""
        rel = self.g.sh("uname -r").strip()
        m = re.match(r"(\d+)\.(\d+)", rel)
        if not m:
            raise FbError("uname -r said %r" % rel)
        return int(m.group(1)), int(m.group(2))

    def qemu_version(self):
        """The (major, minor, micro) of the QEMU the guest runs on."""
        q = self.g.qemu
        if q is not None:
            return q.version
        v = self.g.qmp("query-version")["qemu"]
        return v["major"], v["minor"], v["micro"]

    def loaded(self, drv):
        return self.g.run("grep -q '^%s ' /proc/modules" % drv)[0] == 0

    def load(self, drv):
        self.g.sh("insmod /lib/fb/%s.ko" % drv, timeout=120)

    def unload(self, drv):
        self.g.sh("rmmod %s" % drv, timeout=180)

    def bind(self, drv):
        self.g.sh("basename $(fb-dev) > /sys/bus/virtio/drivers/%s/bind" % drv,
                  timeout=120)

    def unbind(self):
        drv = self.bound()
        if drv:
            self.g.sh("basename $(fb-dev) > /sys/bus/virtio/drivers/%s/unbind"
                      % drv, timeout=180)

    def use(self, drv):
        """Make @drv the loaded, bound driver (the other one unbound)."""
        if self.bound() != drv:
            self.unbind()
            if not self.loaded(drv):
                self.load(drv)
            if self.bound() != drv:
                self.bind(drv)
        check(self.bound() == drv, "could not bind %s", drv)

    def reset(self):
        """Driver under test bound, balloon empty: the start of every test."""
        self.use(self.driver)
        self.g.set_balloon(FULL)
        self.g.wait_balloon(FULL, timeout=120)
        self.g.qom_set("guest-stats-polling-interval", 0)

    def features(self):
        """Negotiated virtio feature bit string (index = bit number)."""
        return self.g.sh("cat $(fb-dev)/features")

    def fb(self):
        """fastballoon's uapi attributes as {name: value}; {} if not bound."""
        if self.bound() != "fastballoon":
            return {}
        out = self.g.sh("cd $(fb-dev)/fastballoon && for f in *; do "
                        "echo \"$f=$(cat $f)\"; done")
        vals = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
        res = {}
        for name in FB_ATTRS.values():
            check(name in vals, "fastballoon attribute %s missing", name)
            v = vals[name]
            res[name] = int(v) if v.isdigit() else v
        return res

    def fb_attr(self, name):
        """One fastballoon attribute as an int; None if it does not exist."""
        rc, out = self.g.run("cat $(fb-dev)/fastballoon/%s" % name)
        return int(out) if rc == 0 and out.strip().isdigit() else None

    def knob(self, key):
        """The value of knob @key (a key of FB_ATTRS) as the guest reads it."""
        return self.g.sh("cat $(fb-dev)/fastballoon/%s" % FB_ATTRS[key])

    def set_knob(self, key, value):
        self.g.sh("echo %s > $(fb-dev)/fastballoon/%s" % (value, FB_ATTRS[key]),
                  timeout=120)

    @contextlib.contextmanager
    def tuned(self, **knobs):
        """Set knobs (keys of FB_ATTRS) for a with-block.  On the way out the
        balloon is emptied (guest target first, so that lifting a cap or a
        floor cannot let the host's target take the guest), then every knob
        set is written back."""
        saved, restore = [], False
        try:
            for k, v in knobs.items():
                saved.append((k, self.knob(k)))
                self.set_knob(k, v)
            yield
            restore = True
        except Skip:
            restore = True
            raise
        finally:
            # After a failure the guest is torn down: restore nothing then.
            if restore:
                if "guest_target" in knobs:
                    self.set_knob("guest_target", 0)
                self.g.set_balloon(FULL)
                self.g.wait_balloon(FULL, timeout=120)
                for k, v in reversed(saved):
                    self.set_knob(k, v)

    def ksft(self, prog, env=None, timeout=600):
        """Run a kselftest program in the guest; Fail/Skip on its verdict."""
        pre = " ".join("%s=%s" % kv for kv in (env or {}).items())
        rc, out = self.g.run("%s %s" % (pre, prog), timeout=timeout)
        tot = re.search(r"# Totals: pass:(\d+) fail:\d+ .*skip:(\d+)", out)
        if rc == KSFT_SKIP or (rc == 0 and tot and tot.group(1) == "0" and
                               tot.group(2) != "0"):
            raise Skip("%s: %s" % (prog, _last_lines(out, 3)))
        check(rc == 0, "%s exited %d:\n%s", prog, rc, _last_lines(out, 15))
        return out

    def meminfo(self):
        return self.g.meminfo()

    def free_kib(self):
        """MemFree plus the pages parked on per-cpu free lists, read after
        dropping clean caches and shrinking every slab cache, so that it
        means what is free: what "nothing leaked" compares.

        MemFree leaves out the per-cpu lists, and 6.12 lets them grow to
        tens of MiB after a burst of frees (a deflate, an unload).
        Shrinking a slab cache also empties its part of KASAN's quarantine:
        the debug kernel keeps freed objects there, up to 1/32 of RAM,
        before their pages go back, and an inflate's pressure drains it
        (rmmod_full once found 34 MiB more free after than before).
        """
        self.g.sh("sync; echo 3 > /proc/sys/vm/drop_caches; "
                  "for f in /sys/kernel/slab/*/shrink; do echo 1 > $f; "
                  "done 2>/dev/null; sleep 1")
        out = self.g.sh("grep MemFree: /proc/meminfo; "
                        "grep -E '^ +count: ' /proc/zoneinfo")
        lines = out.splitlines()
        pcp = sum(int(ln.split()[1]) for ln in lines[1:])
        return int(lines[0].split()[1]) + pcp * 4

    def rss_mib(self):
        return self.g.rss_kib() / KIB


def _last_lines(text, n):
    return "\n".join(text.strip().splitlines()[-n:])


def wait_for(fn, timeout, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ------------------------------------------------------------------- tests

def inflate_and_check(c, balloon_mib, memtotal_drops=True, timeout=180):
    """Inflate by @balloon_mib, check the guest gave that memory up."""
    base = c.meminfo()["MemTotal"]
    t = time.monotonic()
    c.g.set_balloon(FULL - balloon_mib * MIB)
    c.g.wait_balloon(FULL - balloon_mib * MIB, timeout=timeout)
    took = time.monotonic() - t
    now = c.meminfo()["MemTotal"]
    if memtotal_drops:
        check(base - now == balloon_mib * KIB,
              "MemTotal fell by %d KiB, ballooned %d KiB", base - now,
              balloon_mib * KIB)
    else:
        check(now == base, "MemTotal changed by %d KiB with deflate-on-oom",
              now - base)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == balloon_mib * 256,
              "actual_pages %d, want %d", fb["actual_pages"], balloon_mib * 256)
        check(fb["target_pages"] == balloon_mib * 256,
              "target_pages %d, want %d", fb["target_pages"], balloon_mib * 256)
    return took


def ram_mib(c):
    """MemTotal in MiB, read with the balloon empty: what a test sizes its
    deepest balloon or biggest program from.  A debug kernel's guest has
    some 300 MiB less of the same 2 GiB (KASAN's shadow, a bigger kernel)."""
    check(c.g.balloon_actual() == FULL, "ram_mib() with the balloon at %d MiB",
          c.g.balloon_actual() // MIB)
    return c.meminfo()["MemTotal"] // KIB


# What the deepest balloon of a test leaves the guest, at least.
RAM_SPARE_MIB = 400


def deepest_mib(c, cap, spare=RAM_SPARE_MIB):
    """@cap MiB ballooned, or less on a guest with less RAM (the debug
    kernel): all but @spare MiB of MemTotal.  On the Debian kernels the
    caps the tests use are the lower figure."""
    return min(cap, ram_mib(c) - spare)


def deflate_and_check(c, base_memtotal):
    """Deflate all the way, check every page came back; the seconds the
    host saw it take."""
    t = time.monotonic()
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL, timeout=120)
    took = time.monotonic() - t
    now = c.meminfo()["MemTotal"]
    check(now == base_memtotal, "MemTotal %d KiB after deflate, was %d KiB",
          now, base_memtotal)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == 0, "actual_pages %d after deflate",
              fb["actual_pages"])
    return took


def fb_steady(c, tries=20):
    """fastballoon's attributes read while query-balloon stood still (the
    same before and after), with the guest size it showed."""
    for _ in range(tries):
        before = c.g.balloon_actual()
        fb = c.fb()
        if c.g.balloon_actual() == before:
            return fb, before
        time.sleep(0.2)
    raise Fail("query-balloon never held still for one sysfs read")


def settled_balloon(c, timeout=180, quiet=3):
    """Wait until query-balloon has not moved for @quiet seconds; its value."""
    last, since = None, time.monotonic()
    deadline = since + timeout
    while True:
        now = c.g.balloon_actual()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        check(time.monotonic() < deadline, "balloon still moving after %d s",
              timeout)
        time.sleep(0.25)


# ------------------------------------------- guest programs, tracepoints

def hold_memory(c, mib):
    """Start fb_memcheck holding @mib MiB; return a function ending it."""
    c.g.sh("rm -f /tmp/mc.*; (FB_MIB=%d FB_READY=/tmp/mc.ready FB_GO=/tmp/mc.go "
           "fb_memcheck > /tmp/mc.log 2>&1; echo $? > /tmp/mc.rc) &" % mib)
    wait_for(lambda: c.g.run("test -e /tmp/mc.ready")[0] == 0, 300,
             what="fb_memcheck to fill its memory")

    def finish():
        c.g.sh("touch /tmp/mc.go")
        wait_for(lambda: c.g.run("test -e /tmp/mc.rc")[0] == 0, 300,
                 what="fb_memcheck to verify its memory")
        rc = c.g.sh("cat /tmp/mc.rc").strip()
        check(rc == "0", "fb_memcheck failed:\n%s",
              _last_lines(c.g.sh("cat /tmp/mc.log"), 10))
    return finish


DEBUGFS = "/sys/kernel/debug"


def fb_debugfs(c):
    """Mount debugfs if need be; the bound device's fastballoon directory
    there (fault injection and the state file: README, "Tracing and
    debugfs")."""
    c.g.sh("grep -q ' %s debugfs ' /proc/mounts || mount -t debugfs none %s"
           % (DEBUGFS, DEBUGFS))
    return "%s/fastballoon/%s" % (DEBUGFS, c.g.sh("basename $(fb-dev)").strip())


def fb_state(c):
    """The bound device's debugfs state file as {key: int, or str for a
    value that is not a number}."""
    st = {}
    for ln in c.g.sh("cat %s/state" % fb_debugfs(c)).splitlines():
        k, sep, v = ln.partition(": ")
        if sep:
            st[k] = int(v) if v.lstrip("-").isdigit() else v
    return st


TRACEFS = "/sys/kernel/tracing"
TRACE_EVENTS = ("fb_inflate", "fb_deflate", "fb_defrag", "fb_release",
                "fb_heal")


def trace_start(c, events=None):
    """Mount tracefs, clear the buffer, enable fastballoon's @events (all of
    them by default)."""
    c.g.sh("mountpoint -q %s || mount -t tracefs nodev %s" % (TRACEFS, TRACEFS))
    have = c.g.sh("ls %s/events/fastballoon" % TRACEFS).split()
    missing = [e for e in TRACE_EVENTS if e not in have]
    check(not missing, "no tracepoint %s in events/fastballoon (%s)",
          ", ".join(missing), " ".join(have))
    c.g.sh("echo 0 > %s/events/enable; echo > %s/trace" % (TRACEFS, TRACEFS))
    for e in events or ("",):
        c.g.sh("echo 1 > %s/events/fastballoon/%s/enable" % (TRACEFS, e))
    c.g.sh("echo 1 > %s/tracing_on" % TRACEFS)


def trace_stop(c):
    """Disable the events; the trace as [(event, {field: value})]."""
    c.g.sh("echo 0 > %s/events/fastballoon/enable" % TRACEFS)
    out = c.g.sh("cat %s/trace" % TRACEFS, timeout=120)
    recs = []
    for ln in out.splitlines():
        m = re.search(r"\s(fb_\w+):\s(.*)$", ln)
        if m:
            recs.append((m.group(1), dict(re.findall(r"(\w+)=(\S+)",
                                                     m.group(2)))))
    return recs


def int_or_none(v):
    try:
        return int(v, 0)
    except ValueError:
        return None
