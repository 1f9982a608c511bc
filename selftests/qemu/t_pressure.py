# SPDX-License-Identifier: GPL-2.0
"""Memory pressure: deflate-on-oom gives a guest program the memory it
asks for without an OOM kill; floor_pages keeps MemAvailable above the
floor, giving back what a program takes.

Groups "tuning" (floor) and "deflate-on-oom" (groups.py).
"""

import time

from fbtest import (
    FULL, GUEST_MIB, KIB, MIB, PAGES_PER_MIB, SHRINKER_RELEASED, check,
    deepest_mib, fastballoon_only, fb_debugfs, fb_state, fb_steady,
    hold_memory, inflate_and_check, settled_balloon, wait_for,
)


def _check_oom_release(c, fb0, shr0):
    """fb: the release shows in the counters (@fb0 and @shr0 before) and
    actual_pages fell, agreeing with the host."""
    fb1 = c.fb()
    if not fb1:
        return
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


def t_deflate_on_oom(c):
    """Balloon leaves ~400 MiB; allocating 800 MiB succeeds, no OOM kill."""
    c.reset()
    kills0 = c.g.vmstat()["oom_kill"]
    # 2 GiB - 400 MiB ballooned; on the debug kernel, whose MemTotal is
    # some 300 MiB smaller, all but 340 MiB of MemTotal. Either leaves
    # MemAvailable some 100 MiB above the default reserve (113 MiB here),
    # which would otherwise stop the balloon short of the target.
    balloon_mib = deepest_mib(c, GUEST_MIB - 400, spare=340)
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
    _check_oom_release(c, fb0, shr0)
    c.note.append("MemAvailable was %d MiB, balloon gave back %d MiB" %
                  (avail // MIB, grown // MIB))
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL, timeout=120)


# floor: the floor, what the host asks for, what a guest program then
# takes, and how far below the floor MemAvailable may be seen.
FLOOR_MIB, FLOOR_ASK_MIB, FLOOR_HOLD_MIB, FLOOR_TOL_MIB = \
    512, GUEST_MIB - 160, 384, 8


def _settle_at_floor(c):
    """The host asks for FLOOR_ASK_MIB: the balloon settles where
    MemAvailable meets the floor.  Returns (bytes held, MemAvailable MiB)."""
    c.g.set_balloon(FULL - FLOOR_ASK_MIB * MIB)
    # Settled near the floor.  A dip under the floor while inflating
    # gives some back and holds inflation off for a few seconds: the
    # balloon may rest above the floor until the hold ends.
    deadline = time.monotonic() + 120
    while True:
        held = FULL - settled_balloon(c)
        avail = c.meminfo()["MemAvailable"] // KIB
        if avail <= FLOOR_MIB + 64 or time.monotonic() > deadline:
            break
    check(avail >= FLOOR_MIB - FLOOR_TOL_MIB, "MemAvailable %d MiB with a %d "
          "MiB floor", avail, FLOOR_MIB)
    check(avail <= FLOOR_MIB + 64, "balloon stopped at %d MiB, "
          "MemAvailable %d MiB: far above the %d MiB floor", held // MIB,
          avail, FLOOR_MIB)
    check(held < FLOOR_ASK_MIB * MIB, "balloon reached the host's target")
    return held, avail


def _floor_gives_back(c, fb0, held):
    """A guest program takes FLOOR_HOLD_MIB: the balloon (@held bytes, @fb0
    its attributes then) gives it back, and says so.  Returns (the
    program's finish(), bytes held now, pages counted as released)."""
    finish = hold_memory(c, FLOOR_HOLD_MIB)
    wait_for(lambda: c.meminfo()["MemAvailable"] // KIB >=
             FLOOR_MIB - FLOOR_TOL_MIB, 10, 0.25,
             what="MemAvailable back at the floor")
    # The floor may still be giving back: read sysfs while the host's
    # view holds still (CI once saw 40 MiB go between the two reads).
    fb1, guest1 = fb_steady(c)
    held1 = FULL - guest1
    released = fb1["floor_released_pages_total"] - \
        fb0["floor_released_pages_total"]
    check((held - held1) >= (FLOOR_HOLD_MIB - 128) * MIB,
          "balloon gave back %d MiB for %d MiB allocated",
          (held - held1) // MIB, FLOOR_HOLD_MIB)
    check(released >= (FLOOR_HOLD_MIB - 128) * PAGES_PER_MIB,
          "floor_released_pages_total grew by %d pages", released)
    check(fb1["actual_pages"] * 4096 == held1, "actual_pages %d, the host "
          "sees %d pages", fb1["actual_pages"], held1 // 4096)
    return finish, held1, released


@fastballoon_only
def t_floor(c):
    """floor_pages: the host asks for more than RAM - floor, the balloon
    stops where MemAvailable meets the floor; a guest program allocates,
    the balloon gives back what is missing, nobody is OOM-killed; it
    inflates again afterwards."""
    c.reset()
    kills0 = c.g.vmstat()["oom_kill"]
    with c.tuned(floor=FLOOR_MIB * PAGES_PER_MIB):
        held, avail = _settle_at_floor(c)
        fb0 = c.fb()
        check(fb0["target_pages"] == FLOOR_ASK_MIB * PAGES_PER_MIB,
              "target_pages %d", fb0["target_pages"])
        # What is given back is measured from the moment of the counter's
        # first reading (a hold may have ended and the balloon grown since).
        held = fb0["actual_pages"] * 4096
        # A guest program takes memory: the balloon must give it back.
        finish, held1, released = _floor_gives_back(c, fb0, held)
        finish()
        check(c.g.vmstat()["oom_kill"] == kills0, "oom_kill went %d -> %d",
              kills0, c.g.vmstat()["oom_kill"])
        # Memory freed: the balloon inflates to the floor again, later.
        wait_for(lambda: c.g.ballooned_bytes() >= held - 64 * MIB, 60, 0.5,
                 what="the balloon to inflate again after the release")
        avail2 = c.meminfo()["MemAvailable"] // KIB
        check(avail2 >= FLOOR_MIB - FLOOR_TOL_MIB, "MemAvailable %d MiB after "
              "re-inflating, floor %d MiB", avail2, FLOOR_MIB)
    c.note.append("held %d MiB at MemAvailable %d MiB; gave back %d MiB "
                  "(%d pages counted)" % (held // MIB, avail,
                                          (held - held1) // MIB, released))



@fastballoon_only
def t_pressure_holds(c):
    """A pressure hold begins only when memory was given back and ends only
    on a new target: the shrinker finding the balloon lock taken (debugfs
    fail_trylock) while memory is low starts no hold, so a paused inflate
    goes on when its rate limit is lifted; a release that gave memory back
    holds the balloon through QEMU asking again for the same size, and a
    different size ends the hold."""
    c.reset()
    # The holds are what is tested, at depths the default reserve would
    # not let the balloon reach: no reserve (restored on the way out).
    with c.tuned(reserve=0):
        _pressure_holds(c)


def _pressure_holds(c):
    """t_pressure_holds() with the reserve out of the way."""
    d = fb_debugfs(c)
    deep = deepest_mib(c, GUEST_MIB - 300, spare=240)
    target = FULL - deep * MIB

    # 1. Nothing given back, no hold.  The balloon creeps towards the
    # target at one page a second, 64 MiB short of it.
    inflate_and_check(c, deep - 64, memtotal_drops=False, timeout=300)
    shr0 = c.fb_attr(SHRINKER_RELEASED)
    limit0 = c.knob("inflate_limit")
    c.set_knob("inflate_limit", 1)
    c.g.set_balloon(target)
    # Memory low for the shrinker (under 1/32 of RAM available), with room
    # to spare above the watermarks: no OOM, no reclaim of its own.
    avail = c.meminfo()["MemAvailable"] // KIB
    low = c.meminfo()["MemTotal"] // KIB // 32
    finish = hold_memory(c, avail - low // 2)
    try:
        busy0 = fb_state(c)["trylock_busy"]
        c.g.sh("echo 1 > %s/fail_trylock; echo 2 > /proc/sys/vm/drop_caches; "
               "echo 0 > %s/fail_trylock" % (d, d))
        st = fb_state(c)
    finally:
        finish()
    check(st["trylock_busy"] > busy0, "the shrinker was not called "
          "while MemAvailable was under 1/32 of RAM (trylock_busy %s)",
          st["trylock_busy"])
    check(c.fb_attr(SHRINKER_RELEASED) == shr0, "the shrinker gave memory "
          "back with the balloon lock taken")
    check(st["pressure_hold"] == 0, "a shrinker call that gave nothing "
          "back set the pressure hold")
    # Lift the rate limit (not a new target, which would end any hold).
    c.set_knob("inflate_limit", limit0)
    c.g.wait_balloon(target, timeout=60)
    c.note.append("shrinker found the lock taken %d times, no hold" %
                  (st["trylock_busy"] - busy0))

    # 2. Given back: a hold, which the same size asked again does not end.
    avail = c.meminfo()["MemAvailable"] // KIB
    finish = hold_memory(c, avail + 96)
    finish()
    held = c.g.ballooned_bytes()
    check(held < (deep - 4) * MIB, "%d MiB given back for %d MiB allocated "
          "with %d MiB available", deep - held // MIB, avail + 96, avail)
    check(fb_state(c)["pressure_hold"] == 1, "no pressure hold after "
          "giving back %d MiB", deep - held // MIB)
    for _ in range(3):
        c.g.set_balloon(target)
        time.sleep(1)
    time.sleep(2 * c.g.slow)
    check(c.g.ballooned_bytes() == held, "the same target asked again ended "
          "the hold: %d -> %d MiB ballooned", held // MIB,
          c.g.ballooned_bytes() // MIB)
    check(fb_state(c)["pressure_hold"] == 1, "the hold ended")
    # A different target ends it.
    c.g.set_balloon(target + 4 * MIB)
    c.g.wait_balloon(target + 4 * MIB, timeout=120)
    c.note.append("gave back %d MiB, held through the same target asked 3 "
                  "times" % (deep - held // MIB))
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL, timeout=120)
