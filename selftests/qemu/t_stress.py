# SPDX-License-Identifier: GPL-2.0
"""Stress: a host that never stops changing its mind, hosts that ask for
the impossible, and garbage written to every sysfs attribute.

Group "stress" in groups.py.  Host-side randomness is seeded from
the clock unless FB_STRESS_SEED is set; every test notes its seed, and the
guest programs print theirs.
"""

import os
import random
import re
import time

from fbtest import (
    FB_ATTRS, FULL, F_DEFLATE_ON_OOM, KIB, MIB, PAGES_PER_MIB,
    _last_lines, check, deepest_mib, fastballoon_only, fb_steady,
    inflate_and_check, settled_balloon, wait_for,
)

# Load: targets thrown at the guest, and how much it may take.  The storm
# lasts STORM_S, paced to throw STORM_TARGETS in that time at random
# moments (back to back when behind); it must reach 500 within STORM_MAX_S.
STORM_TARGETS = 600
STORM_S = 30
STORM_MAX_S = 55
STORM_MAX_MIB = 1536            # ballooned, at most
# ... and at most all but fbtest.RAM_SPARE_MIB of MemTotal (deepest_mib):
# the debug kernel's guest has some 300 MiB less of the same 2 GiB.
# At HOLD_AT seconds into the storm it asks for 5/6 of the maximum to all
# of it (1.25-1.5 GiB) and waits HOLD_S (the time an inflate that deep
# takes here, with fb_churn running), so that the balloon gets deep while
# fb_churn holds up to 576 MiB: with the kernel's own that is more than the
# guest has left, and deflate-on-oom must give memory back without anyone
# being killed.
HOLD_AT, HOLD_S = (6, 18), 6
HOLD_FRACTION = 5 / 6           # deep: 5/6 of the storm's maximum at least
CHURN_ANON_MIB = 448            # fb_churn: anonymous memory at most
CHURN_FILE_MIB = 128            # fb_churn: tmpfs files at most
# Flapping: two far-apart targets, 5-10 ms apart, for this long.
FLAP_S = 20
FLAP_LOW_MIB, FLAP_HIGH_MIB = 64, 1536
# MemFree (with the per-cpu lists) may come back this much short of the
# baseline after the storm.  What legitimately stays behind is kernel memory
# the churn grew and reclaim does not hand back at once: slab pages kept as
# partial or per-cpu slabs (kmalloc, radix-tree nodes, page tables' caches)
# and per-cpu LRU batches; the baseline is taken after a warm-up run of the
# same program so that first-time growth is already in it.  Measured: 0.1
# to 0.5 MiB short on both kernels.  A leak of ballooned memory shows in
# 2 MiB blocks, or in the hundreds of MiB the storm moved; a page lost from
# the balloon's books shows in _books_balance().
FREE_SLACK_MIB = 6

# The knobs' documented defaults (README, "Tuning: knobs"), in the order
# they are written back: guest target first, so that lifting a cap or a
# floor never lets it take the guest.
KNOB_DEFAULTS = (("guest_target", "0"), ("max_pages", "0"), ("floor", "0"),
                 ("reserve", "auto"), ("inflate_limit", "0"), ("max_order", "9"),
                 ("defrag", "heal"), ("defrag_ms", "1000"),
                 ("heal_ms", "5000"), ("oom_pages", "4096"),
                 ("surrender_path", "auto"))


def _seed(c):
    """The test's random seed (FB_STRESS_SEED replays one), noted first so
    that a failure reports it too."""
    seed = int(os.environ.get("FB_STRESS_SEED") or time.time() * 1000)
    c.note.append("seed %d" % seed)
    return seed


def _bg_start(c, tag, cmd):
    """Run @cmd in the guest's background; return a function that waits for
    it (@timeout s) and returns (exit status, output)."""
    c.g.sh("rm -f /tmp/%s.log /tmp/%s.rc; (%s > /tmp/%s.log 2>&1; "
           "echo $? > /tmp/%s.rc) &" % (tag, tag, cmd, tag, tag))

    def finish(timeout=120):
        wait_for(lambda: c.g.run("test -e /tmp/%s.rc" % tag)[0] == 0, timeout,
                 what="%s to finish" % tag)
        return (int(c.g.sh("cat /tmp/%s.rc" % tag)),
                c.g.sh("cat /tmp/%s.log" % tag))
    return finish


def _ksft_ok(out):
    """A kselftest output's verdict: (passed, its '# Totals' line)."""
    tot = re.search(r"# Totals: pass:(\d+) fail:(\d+)", out)
    return bool(tot) and tot.group(2) == "0", tot.group(0) if tot else "no totals"


def _oom_kills(c):
    return c.g.vmstat()["oom_kill"]


def _no_oom_kill(c, kills0):
    kills = _oom_kills(c)
    check(kills == kills0, "oom_kill went %d -> %d", kills0, kills)
    killed = c.g.run("dmesg | grep -c 'Killed process'")[1].strip()
    check(killed == "0", "dmesg has %s 'Killed process' lines", killed)


def _converged(c, guest_bytes, timeout=180):
    """query-balloon reaches @guest_bytes exactly and stays 2 s; sysfs
    agrees; the balloon's own books balance."""
    took = c.g.wait_balloon(guest_bytes, timeout=timeout)
    t = time.monotonic()
    while time.monotonic() - t < 2:
        now = c.g.balloon_actual()
        check(now == guest_bytes, "balloon left the target: guest %d KiB, "
              "target %d KiB", now // KIB, guest_bytes // KIB)
        time.sleep(0.25)
    fb = c.fb()
    if fb:
        want = (FULL - guest_bytes) // 4096
        check(fb["target_pages"] == want, "target_pages %d, want %d",
              fb["target_pages"], want)
        check(fb["actual_pages"] == want, "actual_pages %d, want %d",
              fb["actual_pages"], want)
        _books_balance(fb)
    return took


def _books_balance(fb):
    """Every page that went in either came out or is still held."""
    net = fb["inflated_pages_total"] - fb["deflated_pages_total"]
    check(net == fb["actual_pages"], "inflated_pages_total %d - "
          "deflated_pages_total %d = %d, but actual_pages %d",
          fb["inflated_pages_total"], fb["deflated_pages_total"], net,
          fb["actual_pages"])


def _released(fb1, fb0):
    """Pages the guest took back under pressure between two readings."""
    return sum(fb1.get(k, 0) - fb0.get(k, 0) for k in (
        "oom_released_pages_total", "shrinker_released_pages_total",
        "floor_released_pages_total"))


def _storm_value(rnd, mx):
    """A guest size between FULL - @mx MiB and FULL: mostly any 4 KiB page
    count, sometimes whole 2 MiB blocks, sometimes an extreme."""
    r = rnd.random()
    if r < 0.05:
        return FULL
    if r < 0.10:
        return FULL - mx * MIB
    if r < 0.30:
        return FULL - rnd.randint(0, mx // 2) * 2 * MIB
    return FULL - rnd.randint(0, mx * PAGES_PER_MIB) * 4096


def _storm(c, rnd, mx):
    """Throw STORM_TARGETS random targets (at most @mx MiB ballooned) in
    STORM_S seconds, holding deep ones at HOLD_AT.  Returns (targets
    thrown, holds, the smallest and largest guest size seen, the last
    target, seconds taken)."""
    thrown, holds, lo, hi, last = 0, 0, FULL, 0, FULL
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        if (now - t0 >= STORM_S and thrown >= STORM_TARGETS) or \
                now - t0 >= STORM_MAX_S:
            break
        deep = holds < len(HOLD_AT) and now - t0 >= HOLD_AT[holds]
        if deep:
            last = FULL - rnd.randint(int(mx * HOLD_FRACTION) * PAGES_PER_MIB,
                                      mx * PAGES_PER_MIB) * 4096
        else:
            last = _storm_value(rnd, mx)
        c.g.set_balloon(last)
        thrown += 1
        if deep or thrown % 20 == 0:
            if deep:
                time.sleep(HOLD_S)
                holds += 1
            size = c.g.balloon_actual()
            lo, hi = min(lo, size), max(hi, size)
        elif thrown > STORM_TARGETS * (now - t0) / STORM_S:
            # ahead of the pace: a random pause, on average the pace's gap
            time.sleep(rnd.uniform(0, 2.0 * STORM_S / STORM_TARGETS))
    return thrown, holds, lo, hi, last, time.monotonic() - t0


def _deflated_whole(c, base_total, base_free):
    """Deflate: MemTotal exactly @base_total, free memory within
    FREE_SLACK_MIB of @base_free (KiB).  Returns free memory then."""
    c.g.set_balloon(FULL)
    _converged(c, FULL, timeout=120)
    total, free = c.meminfo()["MemTotal"], c.free_kib()
    check(total == base_total, "MemTotal %d KiB after the storm, %d KiB "
          "before", total, base_total)
    check(base_free - free <= FREE_SLACK_MIB * KIB, "MemFree (+ per-cpu "
          "lists) %d KiB after the storm, %d KiB before: %d KiB missing",
          free, base_free, base_free - free)
    return free


def t_stress_load(c):
    """Load: STORM_TARGETS random targets (0 to 1.5 GiB ballooned, now and
    then held for a few seconds) thrown over QMP in STORM_S seconds while
    fb_churn maps, touches, checks and unmaps random anonymous chunks (up
    to 448 MiB) and writes, reads back, truncates and deletes files (up to
    128 MiB).  The files are on tmpfs:
    the guest has no disk, and every block device or disk filesystem that
    could hold real, reclaimable page cache (loop, brd, zram, ext4, erofs,
    squashfs) is a module the initramfs does not carry, on both kernels.
    So the page cache churned is shmem: the pages go in and out of the
    page cache (Cached, Shmem) but cannot be reclaimed, which makes the
    pressure harder on the balloon, not easier.  With deflate-on-oom.

    Then: fb_churn found every page as written; the last target (sent once
    more after fb_churn stopped, one page off first, since a pressure release
    holds the balloon until the host sets a new target) is reached exactly by query-balloon and
    actual_pages and kept; inflated - deflated = actual_pages; nobody was
    OOM-killed.  Deflated, MemTotal is exactly the baseline and MemFree
    (with the per-cpu lists) within FREE_SLACK_MIB of it; the baseline is
    taken after a warm-up run of fb_churn, with caches dropped both times.
    """
    c.reset()
    check(c.features()[F_DEFLATE_ON_OOM] == "1", "deflate-on-oom not negotiated")
    seed = _seed(c)
    rnd = random.Random(seed)
    kills0 = _oom_kills(c)
    mx = deepest_mib(c, STORM_MAX_MIB)
    env = "FB_MIB=%d FB_FILE_MIB=%d FB_SEED=%d" % (CHURN_ANON_MIB,
                                                   CHURN_FILE_MIB, seed)
    # Warm-up: what fb_churn makes the kernel grow once is in the baseline.
    rc, out = c.g.run("%s FB_SECONDS=3 fb_churn" % env, timeout=180)
    check(rc == 0, "fb_churn (warm-up) exited %d:\n%s", rc, _last_lines(out, 8))
    base_total, base_free = c.meminfo()["MemTotal"], c.free_kib()
    fb0 = c.fb()

    finish = _bg_start(c, "churn", "%s FB_STOP=/tmp/churn.stop fb_churn" % env)
    thrown, holds, lo, hi, last, storm_s = _storm(c, rnd, mx)
    c.g.sh("touch /tmp/churn.stop")
    rc, out = finish(timeout=300)
    ok, totals = _ksft_ok(out)
    check(rc == 0 and ok, "fb_churn exited %d (%s):\n%s", rc, totals,
          _last_lines(out, 10))
    check(thrown >= 500 and storm_s <= 60, "only %d targets thrown in %.0f s",
          thrown, storm_s)

    # A pressure release holds the balloon until the host sets a new
    # target; the same one asked again ends no hold.  One page off, then
    # the last one.
    c.g.set_balloon(last - 4096 if last >= FULL else last + 4096)
    c.g.set_balloon(last)
    took = _converged(c, last)
    _no_oom_kill(c, kills0)
    fb1 = c.fb()
    rel = _released(fb1, fb0) if fb1 else 0

    free = _deflated_whole(c, base_total, base_free)
    churn = re.search(r"# (steps=.*)", out)
    c.note.append("%d targets (%d held %.1f s) in %.1f s (%.0f/s); "
                  "guest moved between "
                  "%d and %d MiB ballooned; last %d MiB reached %.1f s after "
                  "fb_churn stopped; %d pages taken back under pressure; free "
                  "%+d KiB vs baseline; fb_churn %s" % (
                      thrown, holds, HOLD_S, storm_s, thrown / storm_s,
                      (FULL - hi) // MIB, (FULL - lo) // MIB,
                      (FULL - last) // MIB, took, rel, free - base_free,
                      churn.group(1) if churn else "?"))


def t_stress_flap(c):
    """A host flipping its target every 5-10 ms between 64 MiB and 1.5 GiB
    ballooned for FLAP_S seconds, far faster than the guest can follow, the
    last flip asking for the deep one: the balloon then settles exactly on
    it and stays, query-balloon and actual_pages agree, the books balance,
    nobody is OOM-killed."""
    c.reset()
    seed = _seed(c)
    rnd = random.Random(seed)
    kills0 = _oom_kills(c)
    vals = (FULL - FLAP_LOW_MIB * MIB,
            FULL - deepest_mib(c, FLAP_HIGH_MIB) * MIB)
    n, lo, hi = 0, FULL, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < FLAP_S or n % 2:
        c.g.set_balloon(vals[n % 2])
        n += 1
        if n % 50 == 0:
            now = c.g.balloon_actual()
            lo, hi = min(lo, now), max(hi, now)
        time.sleep(rnd.uniform(0.005, 0.010))
    flap_s = time.monotonic() - t0
    # The last flip asked for the deep one, where the balloon never got.
    last = vals[1]
    took = _converged(c, last)
    _no_oom_kill(c, kills0)
    c.g.set_balloon(FULL)
    _converged(c, FULL, timeout=120)
    c.note.append("%d flips in %.0f s; guest moved between %d and %d MiB "
                  "ballooned; settled on %d MiB in %.1f s" % (
                      n, flap_s, (FULL - hi) // MIB,
                      (FULL - lo) // MIB, (FULL - last) // MIB, took))


def _held_below_ram(c):
    """The balloon holds less than RAM, the host sees what sysfs says, the
    books balance; (attributes, guest size)."""
    fb, guest = fb_steady(c)
    check(guest > 0 and fb["actual_pages"] < fb["ram_pages"], "actual_pages "
          "%d, ram_pages %d: the balloon took everything", fb["actual_pages"],
          fb["ram_pages"])
    check(fb["actual_pages"] * 4096 == FULL - guest, "actual_pages %d, the "
          "host sees %d pages", fb["actual_pages"], (FULL - guest) // 4096)
    _books_balance(fb)
    return fb, guest


def _watch_floor(c, floor_mib, tol_mib, watch_s):
    """For @watch_s seconds, every 0.5 s: MemAvailable >= @floor_mib -
    @tol_mib.  Returns (the lowest MemAvailable, how many samples saw the
    floor give back, the samples as text)."""
    low, t1 = None, time.monotonic()
    seen, gave = [], 0
    rel = c.fb_attr("floor_released_pages_total")
    while time.monotonic() - t1 < watch_s:
        avail = c.meminfo()["MemAvailable"] // KIB
        held = c.g.ballooned_bytes() // MIB
        rel1 = c.fb_attr("floor_released_pages_total")
        gave += rel1 != rel
        rel = rel1
        seen.append("%.1fs %d/%d" % (time.monotonic() - t1, avail, held))
        low = avail if low is None else min(low, avail)
        check(avail >= floor_mib - tol_mib, "MemAvailable %d MiB under a "
              "%d MiB floor, %d MiB ballooned; MemAvailable/ballooned "
              "MiB so far: %s", avail, floor_mib, held, " ".join(seen))
        time.sleep(0.5)
    return low, gave, seen


@fastballoon_only
def t_stress_huge_target(c):
    """A host asking for more than the guest has: QMP's smallest guest size
    (1 byte, which QEMU turns into all of RAM but one page; QEMU will not
    send more) with deflate-on-oom.  The balloon stops below RAM; the guest
    answers and a 64 MiB program runs without an OOM kill.  Then with
    floor_pages 256 MiB and the same target sent again: once the balloon has
    come to rest, MemAvailable stays >= floor - 8 MiB for 15 s, the floor
    gives back at most once meanwhile (the balloon does not flap around
    it), and the guest answers.  The host sees what sysfs says and the
    books balance throughout."""
    c.reset()
    kills0 = _oom_kills(c)
    t0 = time.monotonic()
    c.g.set_balloon(1)
    guest = settled_balloon(c)
    t_full = time.monotonic() - t0
    fb, guest = _held_below_ram(c)
    check(fb["target_pages"] == FULL // 4096 - 1, "target_pages %d, want %d",
          fb["target_pages"], FULL // 4096 - 1)
    avail0 = c.meminfo()["MemAvailable"] // KIB
    held0 = (FULL - guest) // MIB
    rc, out = c.g.run("FB_MIB=64 fb_touch", timeout=300)
    check(rc == 0, "fb_touch 64 MiB with the balloon full exited %d:\n%s", rc,
          _last_lines(out, 8))
    _no_oom_kill(c, kills0)
    _held_below_ram(c)

    floor_mib, tol_mib, watch_s = 256, 8, 15
    with c.tuned(floor=floor_mib * PAGES_PER_MIB):
        t0 = time.monotonic()
        c.g.set_balloon(1)
        settled_balloon(c)
        t_floor = time.monotonic() - t0
        low, gave, seen = _watch_floor(c, floor_mib, tol_mib, watch_s)
        # The balloon took the same memory back after every 5 s hold until
        # inflation learnt to stop a band above the floor: that driver gave
        # back 2 times in these 15 s on 6.1.  One may still follow the
        # first re-inflate.
        check(gave <= 1, "the floor gave back %d times in %d s: the balloon "
              "flaps around the floor; MemAvailable/ballooned MiB: %s", gave,
              watch_s, " ".join(seen))
        fb, guest = _held_below_ram(c)
        check(c.g.sh("echo alive") == "alive", "guest does not answer")
    _no_oom_kill(c, kills0)
    c.note.append("no floor: %d MiB ballooned in %.0f s, MemAvailable %d MiB; "
                  "floor %d MiB: %d MiB ballooned after %.0f s, MemAvailable "
                  ">= %d MiB for %d s, %d give-backs" % (
                      held0, t_full, avail0, floor_mib, (FULL - guest) // MIB,
                      t_floor, low, watch_s, gave))


@fastballoon_only
def t_stress_sysfs_fuzz(c):
    """Bad input: fb_sysfs_fuzz writes 256 seeded random and boundary
    inputs to every file of the fastballoon group (knobs and read-only
    attributes): each write does what a strict decimal (or word) parse
    says, read back exactly, and a refused one changes nothing in the group
    (details in fb_sysfs_fuzz.c).  Afterwards every knob is written back to
    its documented default and reads it, and a 64 MiB inflate and deflate
    still work."""
    c.reset()
    seed = _seed(c)
    out = c.ksft("fb_sysfs_fuzz", {"FB_SEED": seed, "FB_WRITES": 256},
                 timeout=600)
    m = re.search(r"# writes=(\d+) wrong=(\d+) attributes=(\d+)", out)
    check(m, "fb_sysfs_fuzz printed no summary:\n%s", _last_lines(out, 5))
    # the reserve's "auto": the pages reserve_auto_pages says
    defaults = [(k, c.knob("reserve_auto") if k == "reserve" else v)
                for k, v in KNOB_DEFAULTS]
    for key, val in defaults:
        c.set_knob(key, val)
    wrong = ["%s=%s" % (FB_ATTRS[k], c.knob(k)) for k, v in defaults
             if c.knob(k) != v]
    check(not wrong, "knobs not at their defaults: %s", ", ".join(wrong))
    doo = c.features()[F_DEFLATE_ON_OOM] == "1"
    inflate_and_check(c, 64, memtotal_drops=not doo)
    c.g.set_balloon(FULL)
    _converged(c, FULL, timeout=120)
    c.note.append("%s writes to %s attributes" % (m.group(1), m.group(3)))
