#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the fastballoon selftests in QEMU guests, on each Debian kernel.

    python3 selftests/qemu/run_tests.py [--kernel 6.1|6.12|all]
        [--driver fastballoon|virtio_balloon] [-k SUBSTRING] [--keep]

Every test prints one "ok", "not ok" or "skip" line; the last line is
"N passed, N failed" (", N skipped" when some were).  Exit status is 1 when
any test failed.  See README.md beside this file for what each test asserts.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbqemu  # noqa: E402
import kernels  # noqa: E402
from fbqemu import FbError, GuestDied, GuestTimeout  # noqa: E402

MIB = 1 << 20
KIB = 1 << 10
GUEST_MIB = 2048
FULL = GUEST_MIB * MIB
PACKAGING_TEST = os.path.join(fbqemu.REPO, "selftests", "packaging",
                              "test-packaging.sh")
KSFT_SKIP = 4

# Fastballoon's sysfs attributes, as include/uapi/linux/fastballoon.h names
# them (read here so that a rename there shows up as a failure here).
FB_ATTRS = fbqemu.fb_attr_names()

# Not in the uapi header: fastballoon's count of pages its shrinker gave
# back under pressure (before the OOM notifier would have been called).
SHRINKER_RELEASED = "shrinker_released_pages_total"

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

    def __init__(self, guest, driver, note):
        self.g = guest
        self.driver = driver
        self.note = note        # a test adds facts worth printing here

    # -- the balloon device and its driver

    def bound(self):
        """Name of the driver bound to the balloon device, or None."""
        rc, out = self.g.run("readlink $(fb-dev)/driver")
        return out.rsplit("/", 1)[-1] if rc == 0 and out else None

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
        """MemFree plus the pages parked on per-cpu free lists.

        MemFree leaves out the per-cpu lists, and 6.12 lets them grow to
        tens of MiB after a burst of frees (a deflate, an unload).
        """
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


def deflate_and_check(c, base_memtotal):
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL, timeout=120)
    now = c.meminfo()["MemTotal"]
    check(now == base_memtotal, "MemTotal %d KiB after deflate, was %d KiB",
          now, base_memtotal)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == 0, "actual_pages %d after deflate",
              fb["actual_pages"])


def t_inflate_deflate(c):
    """Touch 1.5 GiB, inflate 1 GiB: RSS falls by >= 90% of it; deflate."""
    c.reset()
    c.ksft("fb_touch", {"FB_MIB": 1536})
    base = c.meminfo()["MemTotal"]
    rss0 = c.rss_mib()
    took = inflate_and_check(c, 1024)
    rss1 = c.rss_mib()
    check(rss0 - rss1 >= 0.9 * 1024,
          "QEMU RSS fell by %d MiB (%d -> %d) for 1024 MiB ballooned",
          rss0 - rss1, rss0, rss1)
    t = time.monotonic()
    deflate_and_check(c, base)
    c.note.append("inflate 1 GiB %.1f s, deflate %.1f s, RSS -%d MiB" %
                  (took, time.monotonic() - t, rss0 - rss1))


def t_target_change(c):
    """A smaller target set while inflating towards a big one wins."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    c.g.set_balloon(512 * MIB)           # inflate 1.5 GiB ...
    time.sleep(0.5)
    mid = c.g.ballooned_bytes() // MIB
    c.g.set_balloon(1536 * MIB)          # ... no, only 512 MiB
    peak, deadline = mid, time.monotonic() + 180
    while c.g.balloon_actual() != 1536 * MIB:
        peak = max(peak, c.g.ballooned_bytes() // MIB)
        check(time.monotonic() < deadline, "balloon at %d MiB after 180 s",
              c.g.ballooned_bytes() // MIB)
        time.sleep(0.1)
    if mid < 1536:
        check(peak < 1536, "the driver finished the first target (%d MiB "
              "ballooned) before it looked at the second", peak)
    time.sleep(2)                         # and it stays there
    check(c.g.balloon_actual() == 1536 * MIB, "balloon moved on to %d MiB",
          c.g.balloon_actual() // MIB)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == 512 * 256, "actual_pages %d",
              fb["actual_pages"])
    deflate_and_check(c, base)
    c.note.append("%d MiB ballooned when the target changed, peak %d MiB" %
                  (mid, peak))


def t_stats(c):
    """guest-stats over QMP agree with /proc/meminfo and /proc/vmstat."""
    c.reset()
    c.g.qom_set("guest-stats-polling-interval", 1)
    try:
        first = c.g.qom_get("guest-stats")["last-update"]
        wait_for(lambda: c.g.qom_get("guest-stats")["last-update"] > first,
                 30, what="a stats update")
        # Read the guest, then take the first stats the device gets after.
        t0 = time.time()
        mi = c.meminfo()
        vm0 = c.g.vmstat()
        st = wait_for(lambda: (lambda r: r if r["last-update"] >= t0 + 1.5
                               else None)(c.g.qom_get("guest-stats")),
                      30, what="stats newer than the guest read")
        s = st["stats"]
        vm1 = c.g.vmstat()
    finally:
        c.g.qom_set("guest-stats-polling-interval", 0)
    missing = [k for k, v in s.items() if v < 0]
    check(not missing, "stats not reported: %s", ", ".join(sorted(missing)))

    def close(name, stat, guest_bytes, slack):
        check(abs(stat - guest_bytes) <= slack,
              "%s: device says %d MiB, guest says %d MiB", name,
              stat // MIB, guest_bytes // MIB)

    check(s["stat-total-memory"] == mi["MemTotal"] * KIB,
          "stat-total-memory %d != MemTotal %d KiB", s["stat-total-memory"],
          mi["MemTotal"])
    close("stat-free-memory", s["stat-free-memory"], mi["MemFree"] * KIB, 64 * MIB)
    close("stat-available-memory", s["stat-available-memory"],
          mi["MemAvailable"] * KIB, 64 * MIB)
    caches = (mi["Cached"] + mi["Buffers"] + mi.get("SwapCached", 0)) * KIB
    check(s["stat-disk-caches"] > 0, "stat-disk-caches is 0")
    close("stat-disk-caches", s["stat-disk-caches"], caches, 32 * MIB)
    for stat, lo, hi in (
            ("stat-major-faults", vm0["pgmajfault"], vm1["pgmajfault"]),
            ("stat-minor-faults", vm0["pgfault"] - vm0["pgmajfault"],
             vm1["pgfault"] - vm0["pgmajfault"])):
        check(lo <= s[stat] <= hi, "%s %d not within guest's [%d, %d]",
              stat, s[stat], lo, hi)
    check(s["stat-minor-faults"] > 0, "stat-minor-faults is 0")
    check(s["stat-swap-in"] == 0 and s["stat-swap-out"] == 0,
          "swap in/out %d/%d without swap", s["stat-swap-in"], s["stat-swap-out"])
    check(vm0["htlb_buddy_alloc_success"] <= s["stat-htlb-pgalloc"] <=
          vm1["htlb_buddy_alloc_success"], "stat-htlb-pgalloc %d",
          s["stat-htlb-pgalloc"])


@fastballoon_only
def t_held_blocks(c):
    """fb_blocks (kselftest) with 1 GiB ballooned in a fresh guest: the
    driver's blocks_2m/pages_4k split matches /proc/kpageflags, and most
    of it is whole 2 MiB blocks."""
    c.reset()
    c.g.set_balloon(FULL - 1024 * MIB)
    c.g.wait_balloon(FULL - 1024 * MIB)
    out = c.ksft("fb_blocks", {"FB_MIN_BLOCKS": 256}, timeout=300)
    c.note.extend(ln[2:] for ln in out.splitlines() if ln.startswith("# actual="))
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)


def t_page_poison_off(c):
    """Default boot: the guest does not poison, so PAGE_POISON is refused."""
    c.reset()
    f = c.features()
    check(f[F_PAGE_POISON] == "0", "page_poison negotiated without poisoning: %s",
          f[:8])
    fb = c.fb()
    if fb:
        check("page_poison" not in fb["features"].split(),
              "fastballoon features say %r", fb["features"])


def t_page_poison_on(c):
    """page_poison=1 and page-poison=on: bit 4 negotiated, balloon works."""
    c.reset()
    f = c.features()
    check(f[F_PAGE_POISON] == "1", "page_poison not negotiated: %s", f[:8])
    fb = c.fb()
    if fb:
        check("page_poison" in fb["features"].split(),
              "fastballoon features say %r", fb["features"])
    base = c.meminfo()["MemTotal"]
    inflate_and_check(c, 512)
    deflate_and_check(c, base)


def t_no_features(c):
    """Only STATS_VQ offered: inflate and deflate still work."""
    c.reset()
    f = c.features()
    check(f[:6] == "010000", "negotiated %s, want only stats_vq", f[:6])
    base = c.meminfo()["MemTotal"]
    c.ksft("fb_touch", {"FB_MIB": 768})
    rss0 = c.rss_mib()
    inflate_and_check(c, 512)
    check(rss0 - c.rss_mib() >= 0.9 * 512, "QEMU RSS fell by only %d MiB",
          rss0 - c.rss_mib())
    deflate_and_check(c, base)


def _full_balloon_release(c, release, restore, what):
    """Inflate 1 GiB, @release the driver: all memory back; @restore."""
    c.reset()
    mi0, free0 = c.meminfo(), c.free_kib()
    inflate_and_check(c, 1024)
    release()
    mi1, free1 = c.meminfo(), c.free_kib()
    check(mi1["MemTotal"] == mi0["MemTotal"],
          "MemTotal %d KiB after %s, %d KiB before inflating",
          mi1["MemTotal"], what, mi0["MemTotal"])
    check(abs(free1 - free0) <= 32 * KIB,
          "free memory (MemFree + per-cpu lists) %d MiB after %s, %d MiB "
          "before inflating", free1 // KIB, what, free0 // KIB)
    wait_for(lambda: c.g.balloon_actual() == FULL, 10,
             what="query-balloon to show the full guest")
    restore()
    c.g.wait_balloon(FULL - 1024 * MIB, timeout=180)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == 1024 * 256, "actual_pages %d after re-%s",
              fb["actual_pages"], what)
    deflate_and_check(c, mi0["MemTotal"])


def t_rmmod_full(c):
    """rmmod with 1 GiB ballooned returns every page; insmod re-inflates."""
    _full_balloon_release(c, lambda: c.unload(c.driver),
                          lambda: c.load(c.driver), "rmmod")


def t_unbind_full(c):
    """unbind with 1 GiB ballooned returns every page; bind re-inflates."""
    _full_balloon_release(c, c.unbind, lambda: c.bind(c.driver), "unbind")


def _cycle(c, release, restore, n=10):
    c.reset()
    base = c.meminfo()["MemTotal"]
    target = FULL - 64 * MIB
    c.g.set_balloon(target)
    c.g.wait_balloon(target, timeout=60)
    for i in range(n):
        release()
        check(c.bound() is None, "round %d: still bound to %s", i, c.bound())
        check(c.meminfo()["MemTotal"] == base, "round %d: MemTotal %d != %d",
              i, c.meminfo()["MemTotal"], base)
        restore()
        check(c.bound() == c.driver, "round %d: bound to %s", i, c.bound())
        c.g.wait_balloon(target, timeout=60)
    deflate_and_check(c, base)


def t_load_unload_cycle(c):
    """insmod/rmmod 10 times with a 64 MiB balloon, cleanly."""
    _cycle(c, lambda: c.unload(c.driver), lambda: c.load(c.driver))


def t_bind_unbind_cycle(c):
    """unbind/bind 10 times with a 64 MiB balloon, cleanly."""
    _cycle(c, c.unbind, lambda: c.bind(c.driver))


@fastballoon_only
def t_sysfs_abi(c):
    """fb_sysfs (kselftest) with 256 MiB ballooned."""
    c.reset()
    c.g.set_balloon(FULL - 256 * MIB)
    c.g.wait_balloon(FULL - 256 * MIB)
    c.ksft("fb_sysfs", timeout=120)
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)


def t_deflate_on_oom(c):
    """Balloon leaves ~300 MiB; allocating 800 MiB succeeds, no OOM kill."""
    c.reset()
    kills0 = c.g.vmstat()["oom_kill"]
    left = 300 * MIB
    inflate_and_check(c, GUEST_MIB - 300, memtotal_drops=False, timeout=300)
    fb0 = c.fb()
    shr0 = c.fb_attr(SHRINKER_RELEASED)
    avail = c.meminfo()["MemAvailable"] * KIB
    c.ksft("fb_oom", {"FB_MIB": 800}, timeout=900)
    check(c.g.vmstat()["oom_kill"] == kills0, "oom_kill went %d -> %d",
          kills0, c.g.vmstat()["oom_kill"])
    killed = c.g.run("dmesg | grep -c 'Killed process'")[1].strip()
    check(killed == "0", "dmesg has %s 'Killed process' lines", killed)
    # The allocation needed 800 MiB - MemAvailable from the balloon at least;
    # allow for what reclaim found besides.
    grown = c.g.balloon_actual() - left
    need = 800 * MIB - avail
    check(grown >= need // 2, "balloon gave back only %d MiB, needed ~%d MiB",
          grown // MIB, need // MIB)
    fb1 = c.fb()
    if fb1:
        # The ABI's counter is oom_released_pages_total. fastballoon also
        # gives pages back from a shrinker before the OOM notifier is ever
        # called, and counts those in shrinker_released_pages_total (not in
        # the uapi header): either shows the release.
        shr1 = c.fb_attr(SHRINKER_RELEASED)
        oom = fb1["oom_released_pages_total"] - fb0["oom_released_pages_total"]
        shr = shr1 - shr0 if shr0 is not None and shr1 is not None else 0
        check(oom + shr > 0, "oom_released_pages_total did not grow (%d)%s",
              fb1["oom_released_pages_total"],
              "" if shr0 is None else ", nor " + SHRINKER_RELEASED)
        c.note.append("released: %d pages by OOM notifier, %d by shrinker" %
                      (oom, shr))
        check(fb1["actual_pages"] < fb0["actual_pages"],
              "actual_pages did not fall (%d)", fb1["actual_pages"])
        check(fb1["actual_pages"] * 4096 == c.g.ballooned_bytes(),
              "actual_pages %d but the host sees %d pages ballooned",
              fb1["actual_pages"], c.g.ballooned_bytes() // 4096)
    c.note.append("MemAvailable was %d MiB, balloon gave back %d MiB" %
                  (avail // MIB, grown // MIB))
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL, timeout=120)


def _hold_memory(c, mib):
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


def t_free_page_reporting(c):
    """1 GiB touched then freed in the guest comes back to the host."""
    c.reset()
    check(c.features()[F_REPORTING] == "1", "reporting not negotiated")
    fb0 = c.fb()
    finish = _hold_memory(c, 1024)
    peak = c.rss_mib()
    finish()
    t = time.monotonic()
    best = wait_for(lambda: peak - c.rss_mib() >= 0.5 * 1024 and c.rss_mib(),
                    30, 1, what="QEMU RSS to fall by 512 MiB")
    c.note.append("RSS %d -> %d MiB in %.0f s" % (peak, best,
                                                  time.monotonic() - t))
    fb1 = c.fb()
    if fb1:
        check(fb1["reported_pages_total"] > fb0["reported_pages_total"],
              "reported_pages_total stayed %d", fb1["reported_pages_total"])


def _host_huge_free():
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("HugePages_Free:"):
                return int(ln.split()[1])
    return 0


@fastballoon_only
def t_hugetlb_blocks(c):
    """Guest RAM on 2 MiB hugetlbfs pages: ballooning 1 GiB gives >= 95% of
    it back to the host as free huge pages (the in-tree driver frees none),
    and what the driver reports holding matches /proc/kpageflags."""
    c.reset()
    # Back (nearly) every free guest page with a host huge page first: a
    # block that was never touched is not backed, and surrendering it frees
    # nothing on the host (nor costs it anything).
    c.ksft("fb_touch", {"FB_MIB": c.meminfo()["MemFree"] // KIB - 160})
    free0 = _host_huge_free()
    inflate_and_check(c, 1024)
    freed = (_host_huge_free() - free0) * 2
    c.note.append("host huge pages freed: %d MiB of 1024" % freed)
    check(freed >= 0.95 * 1024, "host got %d MiB of huge pages back for 1024 "
          "MiB ballooned", freed)
    c.ksft("fb_blocks", {"FB_MIN_BLOCKS": 490}, timeout=300)
    deflate_and_check(c, c.meminfo()["MemTotal"] + 1024 * KIB)


@fastballoon_only
def t_range_path(c):
    """With the reporting queue, blocks go as ranges: actual stays exact,
    every ballooned page went as part of a range, the host's RSS is what
    the guest kept, and deflate brings every page back."""
    c.reset()
    fb0 = c.fb()
    check(fb0["surrender_path"] == "report", "surrender_path is %r",
          fb0["surrender_path"])
    base = c.meminfo()["MemTotal"]
    c.ksft("fb_touch", {"FB_MIB": 1536})
    inflate_and_check(c, 1024)
    fb1 = c.fb()
    ranged = fb1["ranged_pages_total"] - fb0["ranged_pages_total"]
    check(ranged == 1024 * 256, "%d pages went as ranges, want %d", ranged,
          1024 * 256)
    check(fb1["blocks_2m"] == 512, "blocks_2m %d, want 512", fb1["blocks_2m"])
    rss = c.rss_mib()
    check(rss <= GUEST_MIB - 1024 + 256, "QEMU RSS %d MiB with 1 GiB of a "
          "2 GiB guest ballooned", rss)
    c.ksft("fb_blocks", {"FB_MIN_BLOCKS": 512}, timeout=300)
    deflate_and_check(c, base)
    c.note.append("ranged %d MiB, RSS %d MiB" % (ranged >> 8, rss))


@fastballoon_only
def t_heal(c):
    """Balloon inflated over fragmented memory holds 4 KiB pages; once whole
    blocks are free again, the background pass trades the pages for blocks:
    pages_4k falls, actual does not move, the split still matches."""
    c.reset()
    c.unload("fastballoon")
    # No evacuation (defrag_ms=0): the inflate has to use the holes, and
    # healing can only use blocks that are free again.
    c.g.sh("insmod /lib/fb/fastballoon.ko defrag_ms=0 heal_ms=1000")
    try:
        check(c.bound() == "fastballoon", "fastballoon did not bind")
        free_mib = c.meminfo()["MemFree"] // KIB
        c.g.sh("(fb_frag %d > /tmp/frag.log 2>&1 &) ; true" %
               int(free_mib * 0.9))
        wait_for(lambda: "fragmented" in c.g.sh("cat /tmp/frag.log"), 300,
                 what="fb_frag to fragment memory")
        # Most of what is free: more than the free blocks, so the rest must
        # come from the holes.
        take = int(c.meminfo()["MemFree"] // KIB * 0.85) // 64 * 64
        inflate_and_check(c, take)
        fb1 = c.fb()
        small = fb1["pages_4k"]
        if small < 4 * 512:
            raise Skip("memory not fragmented enough: only %d single pages "
                       "ballooned" % small)
        c.g.sh("killall fb_frag; true")
        fb2 = wait_for(lambda: (lambda f: f if f["pages_4k"] <= small // 2
                                else None)(c.fb()), 120, 1,
                       what="pages_4k to fall to half of %d" % small)
        check(fb2["actual_pages"] == fb1["actual_pages"],
              "actual_pages moved while healing: %d -> %d",
              fb1["actual_pages"], fb2["actual_pages"])
        check(fb2["heal_trades_total"] > fb1["heal_trades_total"],
              "no healing trade counted")
        # Let healing finish (no change over 3 passes), then check the split.
        prev = [None]

        def settled():
            cur = c.fb_attr("pages_4k")
            done, prev[0] = cur == prev[0], cur
            return done
        wait_for(settled, 120, 3, what="healing to settle")
        fb2 = c.fb()
        c.ksft("fb_blocks", timeout=300)
        c.note.append("pages_4k %d -> %d, blocks %d -> %d" % (
            small, fb2["pages_4k"], fb1["blocks_2m"], fb2["blocks_2m"]))
    finally:
        c.g.run("killall fb_frag")
        c.g.set_balloon(FULL)
        c.g.wait_balloon(FULL, timeout=120)
        c.unload("fastballoon")
        c.load("fastballoon")


def t_free_page_hint(c):
    """Migrate with free page hinting; the guest's memory survives."""
    c.reset()
    check(c.features()[F_FREE_PAGE_HINT] == "1", "free_page_hint not negotiated")
    fb0 = c.fb()
    finish = _hold_memory(c, 256)
    out = os.path.join(c.g.dir, "migration.bin")
    c.g.qmp("migrate", uri="exec:cat > %s" % out)
    try:
        st = wait_for(lambda: (lambda q: q if q.get("status") in (
            "completed", "failed", "cancelled") else None)(
                c.g.qmp("query-migrate")), 600, 1, what="migration")
        check(st["status"] == "completed", "migration %s: %s", st["status"],
              st.get("error-desc", ""))
        size = os.path.getsize(out)
    finally:
        if os.path.exists(out):
            os.unlink(out)
    c.g.qmp("cont")
    finish()
    fb1 = c.fb()
    if fb1:
        check(fb1["hinted_pages_total"] > fb0["hinted_pages_total"],
              "hinted_pages_total stayed %d", fb1["hinted_pages_total"])
    c.note.append("migration stream %d MiB in %.1f s" %
                  (size // MIB, st.get("total-time", 0) / 1000))


@fastballoon_only
def t_coexistence(c):
    """Move an inflated device virtio_balloon -> fastballoon -> back."""
    c.use("virtio_balloon")
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)
    base = c.meminfo()["MemTotal"]
    c.g.set_balloon(1536 * MIB)
    c.g.wait_balloon(1536 * MIB)
    if not c.loaded("fastballoon"):
        c.load("fastballoon")
    check(c.bound() == "virtio_balloon", "insmod fastballoon stole the device")
    c.unbind()
    wait_for(lambda: c.g.balloon_actual() == FULL, 10,
             what="virtio_balloon's unbind to deflate")
    c.bind("fastballoon")
    c.g.wait_balloon(1536 * MIB)
    c.g.set_balloon(1024 * MIB)
    c.g.wait_balloon(1024 * MIB)
    check(c.fb()["actual_pages"] == 1024 * 256, "fastballoon holds %d pages",
          c.fb()["actual_pages"])
    c.unbind()
    c.bind("virtio_balloon")
    c.g.wait_balloon(1024 * MIB)
    check(c.meminfo()["MemTotal"] == base - 1024 * KIB,
          "MemTotal %d with virtio_balloon holding 1 GiB", c.meminfo()["MemTotal"])
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)
    check(c.meminfo()["MemTotal"] == base, "MemTotal not back")


# Boot groups: one guest boot each, tests run in order inside it.
# (name, device properties, extra kernel command line, boot driver, tests)
GROUPS = [
    ("default", {}, "", None, [
        ("inflate_deflate", t_inflate_deflate),
        ("target_change", t_target_change),
        ("stats", t_stats),
        ("sysfs_abi", t_sysfs_abi),
        ("held_blocks", t_held_blocks),
        ("page_poison_off", t_page_poison_off),
        ("rmmod_full", t_rmmod_full),
        ("unbind_full", t_unbind_full),
        ("load_unload_cycle", t_load_unload_cycle),
        ("bind_unbind_cycle", t_bind_unbind_cycle),
    ]),
    ("no-features", {"page-poison": "off", "deflate-on-oom": "off",
                     "free-page-reporting": "off", "free-page-hint": "off"},
     "", None, [("no_features", t_no_features)]),
    ("deflate-on-oom", {"deflate-on-oom": "on"}, "", None,
     [("deflate_on_oom", t_deflate_on_oom)]),
    ("reporting", {"free-page-reporting": "on"}, "", None,
     [("free_page_reporting", t_free_page_reporting),
      ("range_path", t_range_path)]),
    ("hugetlb", {}, "", None, [("hugetlb_blocks", t_hugetlb_blocks)],
     {"hugetlb": True}),
    ("heal", {}, "", None, [("heal", t_heal)]),
    ("hinting", {"free-page-hint": "on"}, "", None,
     [("free_page_hint", t_free_page_hint)]),
    ("poison", {"page-poison": "on"}, "page_poison=1", None,
     [("page_poison_on", t_page_poison_on)]),
    ("coexist", {}, "", "virtio_balloon", [("coexistence", t_coexistence)]),
]


# ------------------------------------------------------------------ runner

class Results:
    def __init__(self):
        self.n = {"ok": 0, "not ok": 0, "skip": 0}

    def report(self, verdict, where, name, detail="", secs=None):
        self.n[verdict] += 1
        line = "%s %s %s" % (verdict, where, name)
        if secs is not None:
            line += " (%.1f s)" % secs
        if detail:
            first, _, rest = detail.partition("\n")
            line += ": " + first
            if rest:
                line += "\n" + "\n".join("#   " + ln for ln in rest.splitlines())
        print(line, flush=True)

    def summary(self):
        s = "%d passed, %d failed" % (self.n["ok"], self.n["not ok"])
        if self.n["skip"]:
            s += ", %d skipped" % self.n["skip"]
        return s


def save_console(guest, series, group):
    logs = os.path.join(fbqemu.cache_dir(), "logs")
    os.makedirs(logs, exist_ok=True)
    dst = os.path.join(logs, "%s-%s-console.log" % (series, group))
    try:
        shutil.copy(guest.console, dst)
    except OSError:
        return None
    return dst


def run_group(res, kimg, initrd, args, group, selected):
    name, props, cmdline, boot_driver, tests = group[:5]
    opts = group[5] if len(group) > 5 else {}
    where = kimg.series
    guest = None
    offset = 0
    try:
        for tname, fn in tests:
            if tname not in selected:
                continue
            t0 = time.monotonic()
            note = []
            if getattr(fn, "fastballoon_only", False) and args.driver != "fastballoon":
                res.report("skip", where, tname, "fastballoon only")
                continue
            try:
                if guest is None or not guest.alive():
                    if guest is not None:
                        guest.shutdown()
                    guest = fbqemu.Guest(kimg, initrd, mem_mib=GUEST_MIB,
                                         balloon_props=props, cmdline=cmdline,
                                         driver=boot_driver or args.driver,
                                         hugetlb=opts.get("hugetlb", False),
                                         keep=args.keep)
                    offset = 0
                    guest.boot()
                fn(Ctx(guest, args.driver, note))
                verdict, detail = "ok", "; ".join(note)
            except Skip as e:
                verdict, detail = "skip", str(e)
            except (Fail, FbError) as e:
                verdict, detail = "not ok", "%s%s" % (
                    "" if isinstance(e, Fail) else type(e).__name__ + ": ", e)
            except Exception:   # a bug in the test itself: report, go on
                verdict, detail = "not ok", "test crashed:\n" + traceback.format_exc()
            if guest is not None:
                bad = guest.health(offset)
                offset = guest.console_size()
                if bad:
                    verdict = "not ok"
                    detail = "guest console: %s\n%s" % (bad[0], "\n".join(
                        bad[1:8]) + ("\n" + detail if detail else ""))
                if verdict == "not ok":
                    # A failed test may leave anything behind: start afresh.
                    log = save_console(guest, kimg.series, name)
                    guest.shutdown()
                    detail += "\nconsole log: %s" % log
                    guest = None
            res.report(verdict, where, tname, detail, time.monotonic() - t0)
    finally:
        if guest is not None:
            save_console(guest, kimg.series, name)
            if args.keep:
                print("# kept %s" % guest.dir)
            guest.shutdown()


def run_kernel(res, series, args, selected):
    t0 = time.monotonic()
    try:
        pkg = kernels.resolve(series)
        kimg = fbqemu.fetch_kernel(pkg, log=lambda s: print("# " + s, flush=True))
    except (LookupError, FbError, subprocess.CalledProcessError) as e:
        res.report("not ok", series, "kernel", "cannot get the kernel: %s" % e)
        return
    print("# kernel %s (%s)" % (kimg.kver, pkg.image), flush=True)
    guest_tests = [t for g in GROUPS for t, _ in g[4] if t in selected]
    extra = {}
    why_not = None          # why fastballoon.ko is not there to test
    tb = time.monotonic()
    if not fbqemu.driver_sources_present():
        why_not = "no Kbuild or driver/*.c yet"
        verdict, detail = "skip", why_not
    else:
        try:
            b = fbqemu.build_module(kimg)
            if b.ko:
                extra[fbqemu.FB_MODULE] = b.ko
            else:
                why_not = "fastballoon.ko did not build"
            verdict = "ok" if b.ok else "not ok"
            detail = "" if b.ok else "make W=1 said:\n" + "\n".join(b.problems[:20])
        except fbqemu.HeadersMissing as e:
            why_not = str(e)
            verdict, detail = "not ok", why_not
    if "build" in selected:
        res.report(verdict, series, "build", detail, time.monotonic() - tb)
    if not guest_tests:
        return
    if args.driver == "fastballoon" and why_not:
        for t in guest_tests:
            res.report("not ok", series, t, why_not)
        return
    workdir = os.path.join(fbqemu.cache_dir(), "run", kimg.kver)
    os.makedirs(workdir, exist_ok=True)
    try:
        initrd = fbqemu.make_initramfs(kimg, os.path.join(workdir, "initrd.gz"),
                                       extra, fbqemu.build_guest_programs())
    except (FbError, subprocess.CalledProcessError) as e:
        for t in guest_tests:
            res.report("not ok", series, t, "no initramfs: %s" % e)
        return
    for group in GROUPS:
        run_group(res, kimg, initrd, args, group, selected)
    print("# %s: %.0f s" % (series, time.monotonic() - t0), flush=True)


def run_packaging(res):
    if not os.path.exists(PACKAGING_TEST):
        return
    t0 = time.monotonic()
    p = subprocess.run(["bash", PACKAGING_TEST], cwd=fbqemu.REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, stdin=subprocess.DEVNULL)
    verdict = {0: "ok", KSFT_SKIP: "skip"}.get(p.returncode, "not ok")
    detail = {"ok": "", "skip": _last_lines(p.stdout, 1)}.get(
        verdict, "exit %d:\n%s" % (p.returncode, _last_lines(p.stdout, 15)))
    res.report(verdict, "host", "packaging", detail, time.monotonic() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="all",
                    choices=list(kernels.SERIES) + ["all"])
    ap.add_argument("--driver", default="fastballoon",
                    choices=["fastballoon", "virtio_balloon"])
    ap.add_argument("-k", dest="substr", default="",
                    help="run only tests whose name contains SUBSTRING")
    ap.add_argument("--keep", action="store_true",
                    help="keep the guests' work directories (console logs)")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    args = ap.parse_args(argv)

    names = ["build"] + [t for g in GROUPS for t, _ in g[4]]
    if args.list:
        print("host/packaging\n" + "\n".join(names))
        return 0
    selected = {n for n in names if args.substr in n}
    t0 = time.monotonic()
    res = Results()
    if args.substr in "host/packaging":
        run_packaging(res)
    for series in kernels.series_list(args.kernel):
        run_kernel(res, series, args, selected)
    print("# wall time %.0f s (driver %s)" % (time.monotonic() - t0, args.driver))
    print(res.summary())
    return 1 if res.n["not ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
