# SPDX-License-Identifier: GPL-2.0
"""The balloon's core: inflate and deflate (memory really leaves the guest
and the QEMU process), a target changed mid-way, the stats queue, the
blocks fastballoon holds, and feature negotiation (page poison, a device
offering nothing but the stats queue).

Groups "default", "no-features" and "poison" (groups.py).
"""

import time

from fbtest import (
    FULL, F_PAGE_POISON, KIB, MIB, PAGES_PER_MIB, check, deepest_mib,
    deflate_and_check, fastballoon_only, fb_state, inflate_and_check,
    wait_for,
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


# What the balloon may take after the guest lowers its target mid-pass: the
# blocks the pass takes before it sees the change. The debug kernel takes
# free blocks fast (it does not zero them) and is slow to schedule the
# shell that writes: 40 MiB was seen there. A pass that ran on would take
# 256 MiB.
RETARGET_SLACK_MIB = 32
RETARGET_SLACK_DEBUG_MIB = 128


@fastballoon_only
def t_retarget_mid_pass(c):
    """A target that moves while an inflate pass runs ends that pass at its
    next block: the guest lowers its own target as soon as the balloon
    holds 8 MiB of a 1 GiB inflate, and the balloon takes at most 32 MiB
    more before it turns back (128 on the debug kernel; a pass takes up to
    256 MiB: one that ran on would take 256, and one of the old 64 MiB
    passes 64), then holds exactly the new target."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    st0, fb0 = fb_state(c), c.fb()
    new = 2 * PAGES_PER_MIB
    # In the guest, beside the pass: wait for 4 blocks, then retarget.
    # Shell builtins only (read, [, echo): no fork between the last read
    # of blocks_2m and the write, which the debug kernel makes slow.
    c.g.sh("rm -f /tmp/rt; d=$(fb-dev)/fastballoon; ( i=0; "
           "read n < $d/blocks_2m; "
           "while [ $n -lt 4 ] && [ $i -lt 1000000 ]; do "
           "i=$((i+1)); read n < $d/blocks_2m; done; "
           "echo %d > $d/guest_target_pages; echo $n > /tmp/rt ) "
           ">/dev/null 2>&1 &" % new)
    c.g.set_balloon(FULL - 1024 * MIB)
    wait_for(lambda: c.g.run("cat /tmp/rt")[0] == 0, 60,
             what="the guest's retarget")
    held = int(c.g.sh("cat /tmp/rt")) * 512
    check(held >= 4 * 512, "the guest saw %d pages held: the balloon "
          "never reached 4 blocks", held)
    c.g.wait_balloon(FULL - new * 4 * KIB, timeout=120)
    fb, st1 = c.fb(), fb_state(c)
    took = fb["inflated_pages_total"] - fb0["inflated_pages_total"]
    slack = RETARGET_SLACK_DEBUG_MIB if c.g.slow > 1 else RETARGET_SLACK_MIB
    check(took <= held + slack * PAGES_PER_MIB, "the balloon took %d MiB "
          "after the target fell at %d MiB held (%d MiB more allowed)",
          took // PAGES_PER_MIB, held // PAGES_PER_MIB, slack)
    check(st1["retargets"] > st0["retargets"], "retargets %d -> %d: no "
          "pass was cut short", st0["retargets"], st1["retargets"])
    check(fb["actual_pages"] == new, "actual_pages %d, want %d",
          fb["actual_pages"], new)
    c.set_knob("guest_target", 0)
    deflate_and_check(c, base)
    c.note.append("target fell at %d MiB held; %d MiB taken in all" %
                  (held // PAGES_PER_MIB, took // PAGES_PER_MIB))


# The stats QEMU knows by name (guest-stats), by the version that named
# them: QEMU 9.2 added the six tags Linux 6.12 added (10-15).
STATS_QEMU_7 = ("stat-swap-in", "stat-swap-out", "stat-major-faults",
                "stat-minor-faults", "stat-free-memory", "stat-total-memory",
                "stat-available-memory", "stat-disk-caches",
                "stat-htlb-pgalloc", "stat-htlb-pgfail")
STATS_QEMU_9_2 = ("stat-oom-kills", "stat-alloc-stalls", "stat-async-scans",
                  "stat-direct-scans", "stat-async-reclaims",
                  "stat-direct-reclaims")
# What guest-stats shows for a stat the guest never sent (QEMU keeps -1 in
# a u64).
NOT_REPORTED = (1 << 64) - 1


def expected_stats(c):
    """(names the device should list, names the driver should fill):
    QEMU before 9.2 lists 10; fastballoon sends all 16 tags on every
    kernel; the in-tree driver sends 10-15 from 6.12 on."""
    names = STATS_QEMU_7 + (STATS_QEMU_9_2 if c.qemu_version()[:2] >= (9, 2)
                            else ())
    filled = names
    if c.driver != "fastballoon" and c.kernel_version() < (6, 12):
        filled = STATS_QEMU_7
    return names, filled


def t_stats(c):
    """guest-stats over QMP agree with /proc/meminfo and /proc/vmstat; every
    stat the QEMU names and the driver sends is filled (QEMU 9.2 names 16,
    older QEMU 10), the rest shows as not reported."""
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
    names, filled = expected_stats(c)
    check(sorted(s) == sorted(names), "QEMU %s lists stats %s, want %s",
          "%d.%d.%d" % c.qemu_version(), ", ".join(sorted(s)),
          ", ".join(sorted(names)))
    unset = {k for k, v in s.items() if v == NOT_REPORTED}
    missing = set(filled) & unset
    check(not missing, "stats not reported: %s", ", ".join(sorted(missing)))
    extra = (set(names) - set(filled)) - unset
    check(not extra, "stats this driver does not send show values: %s",
          ", ".join("%s=%d" % (k, s[k]) for k in sorted(extra)))

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

    def stalls(vm):
        return sum(v for k, v in vm.items() if k.startswith("allocstall_"))

    page = 4 * KIB
    between = [
        ("stat-major-faults", vm0["pgmajfault"], vm1["pgmajfault"]),
        ("stat-minor-faults", vm0["pgfault"] - vm0["pgmajfault"],
         vm1["pgfault"]),
        ("stat-htlb-pgalloc", vm0["htlb_buddy_alloc_success"],
         vm1["htlb_buddy_alloc_success"]),
        ("stat-oom-kills", vm0["oom_kill"], vm1["oom_kill"]),
        ("stat-alloc-stalls", stalls(vm0), stalls(vm1))]
    for stat, key in (("stat-async-scans", "pgscan_kswapd"),
                      ("stat-direct-scans", "pgscan_direct"),
                      ("stat-async-reclaims", "pgsteal_kswapd"),
                      ("stat-direct-reclaims", "pgsteal_direct")):
        between.append((stat, vm0[key] * page, vm1[key] * page))
    for stat, lo, hi in between:
        if stat in filled:
            check(lo <= s[stat] <= hi, "%s %d not within guest's [%d, %d]",
                  stat, s[stat], lo, hi)
    check(s["stat-minor-faults"] > 0, "stat-minor-faults is 0")
    check(s["stat-swap-in"] == 0 and s["stat-swap-out"] == 0,
          "swap in/out %d/%d without swap", s["stat-swap-in"], s["stat-swap-out"])
    c.note.append("QEMU %s: %d stats listed, %d filled" % (
        "%d.%d.%d" % c.qemu_version(), len(names), len(filled)))


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
