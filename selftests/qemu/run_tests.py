#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the fastballoon selftests in QEMU guests, on each Debian kernel.

    python3 selftests/qemu/run_tests.py [--kernel 6.1|6.12|trixie|sid|all]
        [--driver fastballoon|virtio_balloon] [-k SUBSTRING] [--keep]

Every test prints one "ok", "not ok" or "skip" line; the last line is
"N passed, N failed" (", N skipped" when some were).  Exit status is 1 when
any test failed.  See README.md beside this file for what each test asserts.
"""

import argparse
import glob
import importlib
import json
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
import ciplan  # noqa: E402
sys.path.insert(0, os.path.join(fbqemu.REPO, "selftests", "debug"))
import debugkernel  # noqa: E402
from fbqemu import FbError, GuestDied, GuestTimeout  # noqa: E402

PACKAGING_TEST = os.path.join(fbqemu.REPO, "selftests", "packaging",
                              "test-packaging.sh")
TOOL_TESTS = os.path.join(fbqemu.REPO, "selftests", "tools",
                          "test_balloonctl.py")
# How the balloonctl build went: fbqemu.build_balloonctl()'s (status, why).
TOOL_BUILD = ("absent", "not built yet")

from fbtest import (  # noqa: E402,F401
    Ctx, FB_ATTRS, FB_NUM, FULL, F_DEFLATE_ON_OOM, F_FREE_PAGE_HINT,
    F_MUST_TELL_HOST, F_PAGE_POISON, F_REPORTING, F_STATS_VQ, Fail, GUEST_MIB,
    KIB, KNOBS, KSFT_SKIP, MIB, PAGES_PER_MIB, SHRINKER_RELEASED, Skip,
    _last_lines, check, settled_balloon, deflate_and_check, fastballoon_only,
    fb_steady, deepest_mib, inflate_and_check, wait_for,
)

def t_inflate_deflate(c):
    """Touch 1.5 GiB, inflate 1 GiB: RSS falls by >= 90% of it; deflate."""
    c.reset()
    c.ksft("fb_touch", {"FB_MIB": deepest_mib(c, 1536)})
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
    # 2 GiB - 300 MiB ballooned; on the debug kernel, whose MemTotal is
    # some 300 MiB smaller, all but 240 MiB of MemTotal.
    balloon_mib = deepest_mib(c, GUEST_MIB - 300, spare=240)
    left = FULL - balloon_mib * MIB
    inflate_and_check(c, balloon_mib, memtotal_drops=False, timeout=300)
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
        fbs, guest = fb_steady(c)
        check(fbs["actual_pages"] * 4096 == FULL - guest,
              "actual_pages %d but the host sees %d pages ballooned",
              fbs["actual_pages"], (FULL - guest) // 4096)
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
    check(fb0["surrender_path_active"] == "report", "surrender_path_active is "
          "%r (surrender_path %r)", fb0["surrender_path_active"],
          fb0["surrender_path"])
    base = c.meminfo()["MemTotal"]
    # Touch 1.5 GiB (less on the debug kernel, whose MemTotal is smaller).
    c.ksft("fb_touch", {"FB_MIB": deepest_mib(c, 1536)})
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
    pages_4k falls, actual does not move, the split still matches; the
    fb_heal tracepoint accounts for every trade."""
    c.reset()
    c.unload("fastballoon")
    # The inflate takes single pages only (max_order=0), so it fills from
    # the holes and leaves the guest its free blocks; no evacuation
    # (defrag_ms=0): healing can only use blocks that are free again.
    c.g.sh("insmod /lib/fb/fastballoon.ko max_order=0 defrag_ms=0 "
           "heal_ms=1000")
    try:
        check(c.bound() == "fastballoon", "fastballoon did not bind")
        _trace_start(c, ["fb_heal"])
        free_mib = c.meminfo()["MemFree"] // KIB
        c.g.sh("(fb_frag %d > /tmp/frag.log 2>&1 &) ; true" %
               int(free_mib * 0.9))
        wait_for(lambda: "fragmented" in c.g.sh("cat /tmp/frag.log"), 300,
                 what="fb_frag to fragment memory")
        # Half of the holes.  The guest keeps its free blocks: with the
        # balloon holding those too, its free memory was single pages
        # only, and the debug kernel (whose 4 KiB slabs are order-1)
        # OOM-killed fb_frag for a killall's kmalloc when compaction could
        # not make an order-1 page (CI, twice).
        free_mib = c.meminfo()["MemFree"] // KIB
        blocks_mib = sum(int(n) << (o - 8)
                         for ln in c.g.sh("cat /proc/buddyinfo").splitlines()
                         for o, n in enumerate(ln.split()[4:]) if o >= 9)
        take = max(free_mib - blocks_mib, 0) // 2 // 64 * 64
        inflate_and_check(c, take)
        c.set_knob("max_order", "9")    # healing trades for 2 MiB blocks
        fb1, host1 = c.fb(), c.g.balloon_actual()
        small = fb1["pages_4k"]
        if small < 4 * 512:
            raise Skip("memory not fragmented enough: only %d single pages "
                       "ballooned" % small)
        c.g.sh("killall fb_frag; true")
        # actual_pages is read every poll: no reader may see a trade half
        # done (the block and the pages it replaces both counted).
        seen = set()

        def healed():
            f = c.fb()
            seen.add(f["actual_pages"])
            return f if f["pages_4k"] <= small // 2 else None
        fb2 = wait_for(healed, 120, 0.2,
                       what="pages_4k to fall to half of %d" % small)
        check(seen == {fb1["actual_pages"]},
              "actual_pages moved while healing: %d -> %s",
              fb1["actual_pages"], sorted(seen))
        host2 = c.g.balloon_actual()
        check(host2 == host1, "query-balloon moved while healing: %d -> %d "
              "MiB", host1 // MIB, host2 // MIB)
        check(fb2["heal_trades_total"] > fb1["heal_trades_total"],
              "no healing trade counted")
        # Let healing finish (no change over 3 passes), then check the split.
        prev = [None]

        def settled():
            cur = c.fb_attr("pages_4k")
            done, prev[0] = cur == prev[0], cur
            return done
        wait_for(settled, 120, 3, what="healing to settle")
        # One fb_heal per pass: the trades add up to the counter, and the
        # last pass saw what is left.
        heals = [f for e, f in _trace_stop(c) if e == "fb_heal"]
        fb2 = c.fb()
        check(heals, "no fb_heal in the trace")
        trades = sum(_num(f.get("trades", "")) or 0 for f in heals)
        check(trades == fb2["heal_trades_total"], "fb_heal trades add up to "
              "%d, heal_trades_total %d", trades, fb2["heal_trades_total"])
        check(_num(heals[-1].get("small_left", "")) == fb2["pages_4k"],
              "last fb_heal: small_left=%s, pages_4k %d",
              heals[-1].get("small_left"), fb2["pages_4k"])
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
def _in_tree_holds_512(c):
    """virtio_balloon bound and holding 512 MiB, fastballoon loaded beside
    it without taking the device; MemTotal with the balloon empty."""
    c.use("virtio_balloon")
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)
    base = c.meminfo()["MemTotal"]
    c.g.set_balloon(1536 * MIB)
    c.g.wait_balloon(1536 * MIB)
    if not c.loaded("fastballoon"):
        c.load("fastballoon")
    check(c.bound() == "virtio_balloon", "insmod fastballoon stole the device")
    return base


def t_coexistence(c):
    """Move an inflated device virtio_balloon -> fastballoon -> back."""
    base = _in_tree_holds_512(c)
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


# ------------------------------------------------- the tuning interface

def _make_resident(c):
    """Make (nearly) every free guest page resident in QEMU, unless an
    earlier test already did, so that what the balloon takes shows in RSS."""
    if c.rss_mib() < 0.85 * GUEST_MIB:
        c.ksft("fb_touch", {"FB_MIB": c.meminfo()["MemFree"] // KIB - 160})


def _stays(c, guest_bytes, secs=2):
    """query-balloon still shows @guest_bytes @secs seconds later."""
    time.sleep(secs)
    now = c.g.balloon_actual()
    check(now == guest_bytes, "balloon moved on: guest size %d MiB, was %d MiB",
          now // MIB, guest_bytes // MIB)


@fastballoon_only
def t_knobs(c):
    """fb_knobs (kselftest): every knob's bounds, errnos, log lines."""
    c.reset()
    fb = c.fb()
    mi = c.meminfo()
    # ram_pages bounds the page knobs: the guest's RAM, with an empty balloon
    # at least what the guest counts as MemTotal, at most what QEMU gave it.
    check(mi["MemTotal"] // 4 <= fb["ram_pages"] <= GUEST_MIB * PAGES_PER_MIB,
          "ram_pages %d, MemTotal %d pages, guest %d pages", fb["ram_pages"],
          mi["MemTotal"] // 4, GUEST_MIB * PAGES_PER_MIB)
    out = c.ksft("fb_knobs", timeout=300)
    tot = re.search(r"# Totals: .*", out)
    c.note.append(tot.group(0)[2:] if tot else "")


@fastballoon_only
def t_module_params(c):
    """Knobs as module parameters: defaults for the device bound at insmod;
    a bad one refuses the load and the log says which."""
    c.reset()
    params = [("floor", 64 * PAGES_PER_MIB), ("max_order", 0),
              ("oom_pages", 1024), ("defrag", "on"), ("defrag_ms", 500),
              ("heal_ms", 2000), ("inflate_limit", 1 << 20),
              ("max_pages", 1024 * PAGES_PER_MIB),
              ("surrender_path", "inflate")]
    bad = [("max_order", FB_NUM["FB_MAX_ORDER_LIMIT"] + 1),
           ("defrag", "sometimes"), ("heal_ms", FB_NUM["FB_HEAL_MS_MIN"] - 1),
           ("surrender_path", "sideways"),
           ("inflate_limit", FB_NUM["FB_INFLATE_LIMIT_MAX"] + 1)]
    c.unload("fastballoon")
    try:
        c.g.sh("insmod /lib/fb/fastballoon.ko " + " ".join(
            "%s=%s" % (FB_ATTRS[k], v) for k, v in params), timeout=120)
        check(c.bound() == "fastballoon", "fastballoon did not bind")
        fb = c.fb()
        for k, v in params:
            check(str(fb[FB_ATTRS[k]]) == str(v), "%s reads %r after insmod "
                  "%s=%s", FB_ATTRS[k], fb[FB_ATTRS[k]], FB_ATTRS[k], v)
        # The parameters act, not only show: 4 KiB pages only, capped.
        inflate_and_check(c, 64)
        fb = c.fb()
        check(fb["blocks_2m"] == 0 and fb["pages_4k"] == 64 * PAGES_PER_MIB,
              "max_order=0 at insmod, yet blocks_2m %d, pages_4k %d",
              fb["blocks_2m"], fb["pages_4k"])
        check(fb["surrender_path_active"] == "inflate",
              "surrender_path_active %r", fb["surrender_path_active"])
        c.g.set_balloon(FULL)
        c.g.wait_balloon(FULL)
        c.unload("fastballoon")
        for k, v in bad:
            name = FB_ATTRS[k]
            n0 = len(c.g.sh("dmesg").splitlines())
            rc, out = c.g.run("insmod /lib/fb/fastballoon.ko %s=%s" % (name, v),
                              timeout=120)
            check(rc != 0, "insmod with %s=%s succeeded", name, v)
            check(not c.loaded("fastballoon"), "fastballoon loaded with %s=%s",
                  name, v)
            log = "\n".join(c.g.sh("dmesg").splitlines()[n0:])
            check(any("fastballoon" in ln and name in ln
                      for ln in log.splitlines()),
                  "insmod %s=%s refused, but the log does not say why:\n%s",
                  name, v, _last_lines(log, 5) or "(nothing)")
    finally:
        if c.g.alive():
            if c.loaded("fastballoon"):
                c.unload("fastballoon")
            c.load("fastballoon")


@fastballoon_only
def t_max_pages_cap(c):
    """max_pages caps the balloon below the host's target; lowering it
    deflates down to it; 0 follows the host again."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    with c.tuned(max_pages=256 * PAGES_PER_MIB):
        c.g.set_balloon(FULL - 512 * MIB)
        c.g.wait_balloon(FULL - 256 * MIB)
        _stays(c, FULL - 256 * MIB)
        fb = c.fb()
        check(fb["target_pages"] == 512 * PAGES_PER_MIB, "target_pages %d",
              fb["target_pages"])
        check(fb["effective_target_pages"] == 256 * PAGES_PER_MIB,
              "effective_target_pages %d with a 256 MiB cap",
              fb["effective_target_pages"])
        check(fb["actual_pages"] == 256 * PAGES_PER_MIB, "actual_pages %d",
              fb["actual_pages"])
        check(base - c.meminfo()["MemTotal"] == 256 * KIB,
              "MemTotal fell by %d KiB under a 256 MiB cap",
              base - c.meminfo()["MemTotal"])
        c.set_knob("max_pages", 128 * PAGES_PER_MIB)
        c.g.wait_balloon(FULL - 128 * MIB, timeout=60)
        check(base - c.meminfo()["MemTotal"] == 128 * KIB,
              "MemTotal fell by %d KiB under a 128 MiB cap",
              base - c.meminfo()["MemTotal"])
        c.set_knob("max_pages", 0)
        c.g.wait_balloon(FULL - 512 * MIB, timeout=60)
        check(c.fb()["effective_target_pages"] == 512 * PAGES_PER_MIB,
              "effective_target_pages %d without a cap",
              c.fb()["effective_target_pages"])
    check(c.meminfo()["MemTotal"] == base, "MemTotal not back")


@fastballoon_only
def t_max_order_0(c):
    """max_order=0: only 4 KiB pages, like the in-tree driver."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    with c.tuned(max_order=0):
        inflate_and_check(c, 128)
        fb = c.fb()
        check(fb["blocks_2m"] == 0, "blocks_2m %d with max_order=0",
              fb["blocks_2m"])
        check(fb["pages_4k"] == fb["actual_pages"] == 128 * PAGES_PER_MIB,
              "pages_4k %d, actual_pages %d", fb["pages_4k"],
              fb["actual_pages"])
        deflate_and_check(c, base)


@fastballoon_only
def t_inflate_limit(c):
    """inflate_limit_pages_per_s bounds the inflate rate: 128 MiB at 32
    MiB/s takes at least 0.7 x 4 s (the knob's function, not a speed)."""
    c.reset()
    limit, mib = 8 * 1024, 128
    pages = mib * PAGES_PER_MIB
    base = c.meminfo()["MemTotal"]
    with c.tuned(inflate_limit=limit):
        took = inflate_and_check(c, mib)
        rate = c.fb()["last_inflate_pages_per_s"]
        deflate_and_check(c, base)
    check(took >= 0.7 * pages / limit, "%d pages inflated in %.1f s with a "
          "limit of %d pages/s", pages, took, limit)
    check(0 < rate <= 1.1 * limit, "last_inflate_pages_per_s %d with a limit "
          "of %d", rate, limit)
    # Unlimited again (0): for the note, and the rate attribute moves.
    took0 = inflate_and_check(c, mib)
    rate0 = c.fb()["last_inflate_pages_per_s"]
    deflate_and_check(c, base)
    c.note.append("128 MiB in %.1f s at %d pages/s limited, %.1f s at %d "
                  "pages/s unlimited" % (took, rate, took0, rate0))


@fastballoon_only
def t_guest_target(c):
    """guest_target_pages inflates with no host request: query-balloon shows
    it, MemTotal and QEMU RSS fall; a host target does not move it; 0
    deflates."""
    c.reset()
    _make_resident(c)
    base = c.meminfo()["MemTotal"]
    rss0 = c.rss_mib()
    with c.tuned(guest_target=512 * PAGES_PER_MIB):
        c.g.wait_balloon(FULL - 512 * MIB)
        fb = c.fb()
        check(fb["target_pages"] == 0, "target_pages %d", fb["target_pages"])
        check(fb["effective_target_pages"] == 512 * PAGES_PER_MIB,
              "effective_target_pages %d", fb["effective_target_pages"])
        check(fb["actual_pages"] == 512 * PAGES_PER_MIB, "actual_pages %d",
              fb["actual_pages"])
        check(base - c.meminfo()["MemTotal"] == 512 * KIB,
              "MemTotal fell by %d KiB", base - c.meminfo()["MemTotal"])
        rss1 = c.rss_mib()
        check(rss0 - rss1 >= 0.9 * 512, "QEMU RSS fell by %d MiB (%d -> %d) "
              "for 512 MiB ballooned", rss0 - rss1, rss0, rss1)
        c.g.set_balloon(FULL - 1024 * MIB)
        _stays(c, FULL - 512 * MIB)
        c.g.set_balloon(FULL)
        c.set_knob("guest_target", 0)
        c.g.wait_balloon(FULL, timeout=60)
        check(c.meminfo()["MemTotal"] == base, "MemTotal not back")
    c.note.append("RSS -%d MiB" % (rss0 - rss1))


@fastballoon_only
def t_floor(c):
    """floor_pages: the host asks for more than RAM - floor, the balloon
    stops where MemAvailable meets the floor; a guest program allocates,
    the balloon gives back what is missing, nobody is OOM-killed; it
    inflates again afterwards."""
    c.reset()
    floor_mib, ask_mib, hold_mib, tol_mib = 512, GUEST_MIB - 160, 384, 8
    kills0 = c.g.vmstat()["oom_kill"]
    with c.tuned(floor=floor_mib * PAGES_PER_MIB):
        c.g.set_balloon(FULL - ask_mib * MIB)
        # Settled near the floor.  A dip under the floor while inflating
        # gives some back and holds inflation off for a few seconds: the
        # balloon may rest above the floor until the hold ends.
        deadline = time.monotonic() + 120
        while True:
            held = FULL - settled_balloon(c)
            avail = c.meminfo()["MemAvailable"] // KIB
            if avail <= floor_mib + 64 or time.monotonic() > deadline:
                break
        check(avail >= floor_mib - tol_mib, "MemAvailable %d MiB with a %d "
              "MiB floor", avail, floor_mib)
        check(avail <= floor_mib + 64, "balloon stopped at %d MiB, "
              "MemAvailable %d MiB: far above the %d MiB floor", held // MIB,
              avail, floor_mib)
        check(held < ask_mib * MIB, "balloon reached the host's target")
        fb0 = c.fb()
        check(fb0["target_pages"] == ask_mib * PAGES_PER_MIB, "target_pages %d",
              fb0["target_pages"])
        # What is given back is measured from the moment of the counter's
        # first reading (a hold may have ended and the balloon grown since).
        held = fb0["actual_pages"] * 4096
        # A guest program takes memory: the balloon must give it back.
        finish = _hold_memory(c, hold_mib)
        wait_for(lambda: c.meminfo()["MemAvailable"] // KIB >=
                 floor_mib - tol_mib, 10, 0.25,
                 what="MemAvailable back at the floor")
        # The floor may still be giving back: read sysfs while the host's
        # view holds still (CI once saw 40 MiB go between the two reads).
        fb1, guest1 = fb_steady(c)
        held1 = FULL - guest1
        released = fb1["floor_released_pages_total"] - \
            fb0["floor_released_pages_total"]
        check((held - held1) >= (hold_mib - 128) * MIB,
              "balloon gave back %d MiB for %d MiB allocated",
              (held - held1) // MIB, hold_mib)
        check(released >= (hold_mib - 128) * PAGES_PER_MIB,
              "floor_released_pages_total grew by %d pages", released)
        check(fb1["actual_pages"] * 4096 == held1, "actual_pages %d, the host "
              "sees %d pages", fb1["actual_pages"], held1 // 4096)
        finish()
        check(c.g.vmstat()["oom_kill"] == kills0, "oom_kill went %d -> %d",
              kills0, c.g.vmstat()["oom_kill"])
        # Memory freed: the balloon inflates to the floor again, later.
        wait_for(lambda: c.g.ballooned_bytes() >= held - 64 * MIB, 60, 0.5,
                 what="the balloon to inflate again after the release")
        avail2 = c.meminfo()["MemAvailable"] // KIB
        check(avail2 >= floor_mib - tol_mib, "MemAvailable %d MiB after "
              "re-inflating, floor %d MiB", avail2, floor_mib)
    c.note.append("held %d MiB at MemAvailable %d MiB; gave back %d MiB "
                  "(%d pages counted)" % (held // MIB, avail,
                                          (held - held1) // MIB, released))


TRACEFS = "/sys/kernel/tracing"
TRACE_EVENTS = ("fb_inflate", "fb_deflate", "fb_defrag", "fb_release",
                "fb_heal")


def _trace_start(c, events=None):
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


def _trace_stop(c):
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


def _num(v):
    try:
        return int(v, 0)
    except ValueError:
        return None


@fastballoon_only
def t_tracepoints(c):
    """fb_inflate/fb_deflate fire once per pass with the pages moved (their
    sum is what the counters say, also when a deflate splits a block); the
    debugfs state file reads."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    fb0 = c.fb()
    _trace_start(c)
    inflate_and_check(c, 256)
    # A deflate that stops inside a block splits it: the split block is not
    # given back, only the 3 pages are (fb_deflate once said small=-1 here).
    c.g.set_balloon(FULL - 256 * MIB + 3 * 4096)
    c.g.wait_balloon(FULL - 256 * MIB + 3 * 4096, timeout=60)
    deflate_and_check(c, base)
    recs = _trace_stop(c)
    fb1 = c.fb()
    dev = c.g.sh("basename $(fb-dev)")
    fields = ("dev", "want", "blocks", "small", "us")
    for ev, cnt in (("fb_inflate", "inflated_pages_total"),
                    ("fb_deflate", "deflated_pages_total")):
        lines = [f for e, f in recs if e == ev]
        check(lines, "no %s in the trace (%d fastballoon records)", ev,
              len(recs))
        for f in lines:
            check(all(_num(f.get(k, "")) is not None for k in fields),
                  "%s: want numeric %s, got %r", ev, ", ".join(fields), f)
            moved = _num(f["blocks"]) * 512 + _num(f["small"])
            check(moved <= _num(f["want"]), "%s moved %d pages, asked for %d",
                  ev, moved, _num(f["want"]))
            check("virtio%d" % _num(f["dev"]) == dev, "%s dev=%s, the "
                  "device is %s", ev, f["dev"], dev)
        total = sum(_num(f["blocks"]) * 512 + _num(f["small"]) for f in lines)
        want = fb1[cnt] - fb0[cnt]
        check(total == want == 256 * PAGES_PER_MIB, "%s pages add up to %d, "
              "%s grew by %d, ballooned %d", ev, total, cnt, want,
              256 * PAGES_PER_MIB)
        c.note.append("%d %s" % (len(lines), ev))
    state = c.g.sh("cat /sys/kernel/debug/fastballoon/%s/state" % dev)
    lines = [ln for ln in state.splitlines() if ln.strip()]
    check(lines, "debugfs state of %s is empty", dev)
    bad = [ln for ln in lines if not re.match(r"^\S[^:]*:\s*\S", ln)]
    check(not bad, "debugfs state: not a 'key: value' line: %r",
          bad[0] if bad else None)


@fastballoon_only
def t_path_switch(c):
    """surrender_path on a reporting device: inflate sends nothing as
    ranges, report sends every block as a range; both can be held at once
    and deflate brings every page back."""
    c.reset()
    fb0 = c.fb()
    check(fb0["surrender_path"] == "auto" and
          fb0["surrender_path_active"] == "report",
          "surrender_path %r, active %r on a reporting device",
          fb0["surrender_path"], fb0["surrender_path_active"])
    base = c.meminfo()["MemTotal"]
    with c.tuned(surrender_path="inflate"):
        check(c.knob("path_active") == "inflate", "surrender_path_active %r "
              "after writing inflate", c.knob("path_active"))
        inflate_and_check(c, 256)
        fb1 = c.fb()
        check(fb1["ranged_pages_total"] == fb0["ranged_pages_total"],
              "%d pages went as ranges with surrender_path=inflate",
              fb1["ranged_pages_total"] - fb0["ranged_pages_total"])
        c.set_knob("surrender_path", "report")
        check(c.knob("path_active") == "report", "surrender_path_active %r "
              "after writing report", c.knob("path_active"))
        c.g.set_balloon(FULL - 512 * MIB)
        c.g.wait_balloon(FULL - 512 * MIB)
        check(base - c.meminfo()["MemTotal"] == 512 * KIB, "MemTotal fell "
              "by %d KiB with 512 MiB ballooned by both paths",
              base - c.meminfo()["MemTotal"])
        fb2 = c.fb()
        check(fb2["actual_pages"] == 512 * PAGES_PER_MIB, "actual_pages %d",
              fb2["actual_pages"])
        ranged = fb2["ranged_pages_total"] - fb1["ranged_pages_total"]
        check(ranged == 256 * PAGES_PER_MIB, "%d pages went as ranges for "
              "256 MiB more with surrender_path=report", ranged)
        deflate_and_check(c, base)


@fastballoon_only
def t_takeover_release(c):
    """balloonctl takeover moves an inflated device from virtio_balloon to
    fastballoon, release moves it back; the balloon converges each time;
    status --json parses; set takes units."""
    status, why = TOOL_BUILD
    if status == "absent":
        raise Skip("balloonctl: %s" % why)
    check(status == "ok", "balloonctl did not build: %s", why)
    base = _in_tree_holds_512(c)
    dev = c.g.sh("basename $(fb-dev)")
    c.g.sh("balloonctl takeover --device %s" % dev, timeout=300)
    check(c.bound() == "fastballoon", "bound to %s after takeover", c.bound())
    c.g.wait_balloon(1536 * MIB)
    check(c.meminfo()["MemTotal"] == base - 512 * KIB,
          "MemTotal %d KiB with fastballoon holding 512 MiB, %d before",
          c.meminfo()["MemTotal"], base)
    check(c.fb()["actual_pages"] == 512 * PAGES_PER_MIB, "actual_pages %d",
          c.fb()["actual_pages"])
    out = c.g.sh("balloonctl status --json")
    try:
        st = json.loads(out)
    except ValueError as e:
        raise Fail("status --json is not JSON (%s):\n%s" % (e, out[:500]))
    check(isinstance(st, dict), "status --json: not one object:\n%s",
          out[:500])
    check(st.get("device") == dev, "status --json: device %r, want %s",
          st.get("device"), dev)
    check(st.get(FB_ATTRS["actual_pages"]) == 512 * PAGES_PER_MIB,
          "status --json: %s %r, want %d", FB_ATTRS["actual_pages"],
          st.get(FB_ATTRS["actual_pages"]), 512 * PAGES_PER_MIB)
    if "mem_total_kib" in st:
        check(st["mem_total_kib"] == c.meminfo()["MemTotal"],
              "status --json: mem_total_kib %r, MemTotal %d",
              st["mem_total_kib"], c.meminfo()["MemTotal"])
    c.g.sh("balloonctl set %s 256M" % FB_ATTRS["max_pages"])
    check(c.knob("max_pages") == str(256 * PAGES_PER_MIB),
          "balloonctl set max_pages 256M: max_pages reads %s",
          c.knob("max_pages"))
    c.g.wait_balloon(FULL - 256 * MIB, timeout=60)
    got = c.g.sh("balloonctl get %s" % FB_ATTRS["max_pages"])
    check(got.strip(), "balloonctl get max_pages printed nothing")
    c.g.sh("balloonctl set %s 0" % FB_ATTRS["max_pages"])
    c.g.wait_balloon(1536 * MIB, timeout=60)
    c.g.sh("balloonctl release", timeout=300)
    check(c.bound() == "virtio_balloon", "bound to %s after release",
          c.bound())
    c.g.wait_balloon(1536 * MIB)
    check(c.meminfo()["MemTotal"] == base - 512 * KIB,
          "MemTotal %d KiB with virtio_balloon holding 512 MiB, %d before",
          c.meminfo()["MemTotal"], base)
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
    ("tuning", {}, "", None, [
        ("knobs", t_knobs),
        ("module_params", t_module_params),
        ("max_pages_cap", t_max_pages_cap),
        ("max_order_0", t_max_order_0),
        ("inflate_limit", t_inflate_limit),
        ("tracepoints", t_tracepoints),
        ("guest_target", t_guest_target),
        ("floor", t_floor),
    ]),
    ("no-features", {"page-poison": "off", "deflate-on-oom": "off",
                     "free-page-reporting": "off", "free-page-hint": "off"},
     "", None, [("no_features", t_no_features)]),
    ("deflate-on-oom", {"deflate-on-oom": "on"}, "", None,
     [("deflate_on_oom", t_deflate_on_oom),
      ("floor_deflate_on_oom", t_floor)]),
    ("reporting", {"free-page-reporting": "on"}, "", None,
     [("free_page_reporting", t_free_page_reporting),
      ("range_path", t_range_path),
      ("path_switch", t_path_switch)]),
    ("hugetlb", {}, "", None, [("hugetlb_blocks", t_hugetlb_blocks)],
     {"hugetlb": True}),
    ("heal", {}, "", None, [("heal", t_heal)]),
    ("hinting", {"free-page-hint": "on"}, "", None,
     [("free_page_hint", t_free_page_hint)]),
    ("poison", {"page-poison": "on"}, "page_poison=1", None,
     [("page_poison_on", t_page_poison_on)]),
    ("coexist", {}, "", "virtio_balloon", [
        ("coexistence", t_coexistence),
        ("takeover_release", t_takeover_release),
    ]),
]


# Test modules beside this file (t_*.py, each with a GROUPS list built on
# fbtest) add groups of their own.
for _mod in sorted(glob.glob(os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "t_*.py"))):
    GROUPS += importlib.import_module(os.path.basename(_mod)[:-3]).GROUPS
_names = [t for g in GROUPS for t, _ in g[4]]
assert len(_names) == len(set(_names)), "two tests share a name"


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


def save_console(guest, series, group, test=None):
    """Copy the guest's console log to the cache's logs/: one per group
    (<series>-<group>-console.log, the last boot's), and one per failed
    test (<series>-<group>-<test>-console.log), which the group's next
    boot does not overwrite."""
    logs = os.path.join(fbqemu.cache_dir(), "logs")
    os.makedirs(logs, exist_ok=True)
    dst = os.path.join(logs, "%s-%s-console.log" % (
        series, group + ("-" + test if test else "")))
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
                    for why in guest.early_crashes:
                        print("# %s %s: the kernel died before init, booted "
                              "again: %s" % (where, name, why), flush=True)
                fn(Ctx(guest, args.driver, note))
                verdict, detail = "ok", "; ".join(note)
            except Skip as e:
                verdict, detail = "skip", str(e)
            except (Fail, FbError) as e:
                verdict, detail = "not ok", "%s%s" % (
                    "" if isinstance(e, Fail) else type(e).__name__ + ": ", e)
                if note:        # what the test had noted (a seed, say)
                    detail += "\nnoted before it failed: " + "; ".join(note)
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
                    log = save_console(guest, kimg.series, name, tname)
                    guest.shutdown()
                    detail += "\nconsole log: %s" % log
                    guest = None
            res.report(verdict, where, tname, detail, time.monotonic() - t0)
    finally:
        if guest is not None and getattr(kimg, "kmemleak", False):
            check_kmemleak(res, guest, kimg, name)
        if guest is not None:
            save_console(guest, kimg.series, name)
            if args.keep:
                print("# kept %s" % guest.dir)
            guest.shutdown()


def check_kmemleak(res, guest, kimg, group):
    """Debug kernel, at the end of a group's boot: unload fastballoon (its
    leaks show once nothing of it holds the pointer), scan twice (objects
    younger than 5 s are never reported) and fail "<group>/kmemleak" on any
    report, or on a console problem meanwhile."""
    if not guest.alive():
        return
    t0 = time.monotonic()
    offset = guest.console_size()
    try:
        guest.run("rmmod %s" % fbqemu.FB_MODULE, timeout=180)
        report = kimg.kmemleak_scan(guest)
        verdict, detail = ("ok", "") if not report.strip() else (
            "not ok", "kmemleak reports:\n" + report)
    except FbError as e:
        verdict, detail = "not ok", "%s: %s" % (type(e).__name__, e)
    bad = guest.health(offset)
    if bad:
        verdict, detail = "not ok", "guest console: %s\n%s" % (
            bad[0], "\n".join(bad[1:8]) + ("\n" + detail if detail else ""))
    res.report(verdict, kimg.series, group + "/kmemleak", detail,
               time.monotonic() - t0)


def run_kernel(res, series, args, selected, gate=None):
    """Every selected test on one kernel.  @gate(group), when given, says
    before each group why not to run it (None: run it)."""
    t0 = time.monotonic()
    try:
        if series == debugkernel.SERIES:
            # Built from linux-source-6.1 once, then cached (selftests/debug).
            kimg = debugkernel.build(log=lambda s: print("# " + s, flush=True))
            pkg = kimg.pkg
        else:
            pkg = kernels.resolve(series)
            kimg = fbqemu.fetch_kernel(pkg, log=lambda s: print("# " + s,
                                                                flush=True))
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
    global TOOL_BUILD
    try:
        bindir = fbqemu.build_guest_programs()
        TOOL_BUILD = fbqemu.build_balloonctl(bindir)
        initrd = fbqemu.make_initramfs(kimg, os.path.join(workdir, "initrd.gz"),
                                       extra, bindir)
    except (FbError, subprocess.CalledProcessError) as e:
        for t in guest_tests:
            res.report("not ok", series, t, "no initramfs: %s" % e)
        return
    for group in GROUPS:
        why = gate(group) if gate else None
        if why:
            for t, _ in group[4]:
                if t in selected:
                    res.report("skip", series, t, why)
            continue
        run_group(res, kimg, initrd, args, group, selected)
    print("# %s: %.0f s" % (series, time.monotonic() - t0), flush=True)


# The debug kernel in make check: what its build and each group took on the
# 2-core machine (TCG, idle; boot, tests, kmemleak scan), about 1.5 times
# over; a group starts only if the time left in --budget covers its figure
# here.  Measured: build 707 s; default 420, tuning 300, no-features 70,
# deflate-on-oom 88, reporting 142, hugetlb 94, heal 120, hinting 77,
# poison 99, coexist 144, faults 400, stress 321 s.
DEBUG_BUILD_S = 1100
DEBUG_GROUP_S = {
    "default": 630, "tuning": 450, "no-features": 120, "deflate-on-oom": 150,
    "reporting": 220, "hugetlb": 150, "heal": 180, "hinting": 120,
    "poison": 150, "coexist": 220, "faults": 600, "stress": 480,
}
DEBUG_GROUP_DEFAULT_S = 600


def run_debug_groups(res, args, selected, t0):
    """The groups named by --debug-groups on the debug kernel, each one only
    while the --budget (minutes from @t0) has room for it; what does not
    fit is reported as skipped, with the reason."""
    wanted = [g for g in args.debug_groups.split(",") if g]
    sel = {"build"} & selected | {
        t for g in GROUPS if g[0] in wanted for t, _ in g[4]} & selected

    def left():
        return args.budget * 60 - (time.monotonic() - t0) if args.budget \
            else float("inf")

    if not wanted:
        return
    built = debugkernel.cached() is not None
    need = (0 if built else DEBUG_BUILD_S) + min(
        DEBUG_GROUP_S.get(g, DEBUG_GROUP_DEFAULT_S) for g in wanted)
    if left() < need:
        why = ("the debug kernel: %.1f of the %g min budget left, %s "
               "needs %.0f" % (max(0, left()) / 60, args.budget,
                               "its smallest group" if built else
                               "its build and its smallest group",
                               need / 60))
        for t in sorted(sel):
            res.report("skip", debugkernel.SERIES, t, why)
        return

    def gate(group):
        if group[0] not in wanted:
            return None      # not selected: run_group runs nothing of it
        est = DEBUG_GROUP_S.get(group[0], DEBUG_GROUP_DEFAULT_S)
        if left() < est:
            return ("%.1f of the %g min budget left, the group needs "
                    "about %.0f on the debug kernel" % (
                        max(0, left()) / 60, args.budget, est / 60))
        return None
    run_kernel(res, debugkernel.SERIES, args, sel, gate)


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


def run_tool_tests(res):
    """selftests/tools/test_balloonctl.py: one result per "PASS name" /
    "FAIL name: reason" (/ "SKIP name: reason") line it prints."""
    if not os.path.exists(TOOL_TESTS):
        res.report("skip", "host", "balloonctl",
                   "%s does not exist yet" % os.path.relpath(TOOL_TESTS,
                                                             fbqemu.REPO))
        return
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, TOOL_TESTS], cwd=fbqemu.REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, stdin=subprocess.DEVNULL)
    n = fails = 0
    for ln in p.stdout.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP) (\S+?):?(?: (.*))?$", ln)
        if not m:
            continue
        n += 1
        fails += m.group(1) == "FAIL"
        verdict = {"PASS": "ok", "FAIL": "not ok", "SKIP": "skip"}[m.group(1)]
        res.report(verdict, "host", "balloonctl/" + m.group(2),
                   m.group(3) or "")
    if not n and p.returncode == KSFT_SKIP:
        res.report("skip", "host", "balloonctl", _last_lines(p.stdout, 1))
    elif not n or (p.returncode and not fails):
        # Died, or failed without saying what: that is a failure of its own.
        res.report("not ok", "host", "balloonctl",
                   "%s exited %d after %d results:\n%s" % (
                       os.path.basename(TOOL_TESTS), p.returncode, n,
                       _last_lines(p.stdout, 15)), time.monotonic() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="all",
                    choices=list(kernels.SERIES) + [debugkernel.SERIES, "all"],
                    help="all: the Debian kernels; %s (built once, about "
                    "12 min) only when named" % debugkernel.SERIES)
    ap.add_argument("--driver", default="fastballoon",
                    choices=["fastballoon", "virtio_balloon"])
    ap.add_argument("-k", dest="substr", default="",
                    help="run only tests whose name, or whose group's name, "
                    "contains SUBSTRING")
    ap.add_argument("--keep", action="store_true",
                    help="keep the guests' work directories (console logs)")
    ap.add_argument("--debug-groups", default="", metavar="G1,G2",
                    help="after the --kernel run, also run these groups on "
                    "the debug kernel (%s), each only if --budget leaves "
                    "time for it" % debugkernel.SERIES)
    ap.add_argument("--budget", type=float, default=0, metavar="MIN",
                    help="minutes the whole run may take (0: no limit); "
                    "a --debug-groups group that would not finish within it "
                    "is skipped, and says so")
    ap.add_argument("--plan", choices=["ci"],
                    help="instead of --kernel: what make check runs on each "
                    "kernel (ciplan.py); the groups it leaves out are "
                    "reported as skipped, with the reason")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    args = ap.parse_args(argv)

    names = ["build"] + [t for g in GROUPS for t, _ in g[4]]
    known = [g[0] for g in GROUPS]
    for g in filter(None, args.debug_groups.split(",")):
        if g not in known:
            ap.error("--debug-groups: no group %r (groups: %s)" % (
                g, ", ".join(known)))
    if args.list:
        print("host/packaging\nhost/balloonctl\n" + "\n".join(names))
        return 0
    selected = {n for n in names if args.substr in n} | {
        t for g in GROUPS if args.substr in g[0] for t, _ in g[4]}
    t0 = time.monotonic()
    res = Results()
    # The host tests do not depend on the kernel: a debug kernel run
    # (make check-debug, after make check) does not repeat them.
    host = args.kernel != debugkernel.SERIES
    if host and args.substr in "host/packaging":
        run_packaging(res)
    if host and args.substr in "host/balloonctl":
        run_tool_tests(res)
    if args.plan == "ci":
        ciplan.run_ci(run_kernel, res, args, selected)
    else:
        for series in kernels.series_list(args.kernel):
            run_kernel(res, series, args, selected)
    if args.debug_groups:
        run_debug_groups(res, args, selected, t0)
    print("# wall time %.0f s (driver %s)" % (time.monotonic() - t0, args.driver))
    print(res.summary())
    return 1 if res.n["not ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
