# SPDX-License-Identifier: GPL-2.0
"""Memory pressure: deflate-on-oom gives a guest program the memory it
asks for without an OOM kill; floor_pages keeps MemAvailable above the
floor, giving back what a program takes.

Groups "tuning" (floor) and "deflate-on-oom" (groups.py).
"""

import time

from fbtest import (
    FULL, GUEST_MIB, KIB, MIB, PAGES_PER_MIB, SHRINKER_RELEASED, check,
    deepest_mib, fastballoon_only, fb_steady, hold_memory, inflate_and_check,
    settled_balloon, wait_for,
)


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
        finish = hold_memory(c, hold_mib)
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
