# SPDX-License-Identifier: GPL-2.0
"""fastballoon's interface: the sysfs ABI, every knob (written through sysfs
and as module parameters), the max_pages cap, max_order, the inflate rate
limit, the guest's own target, the tracepoints and the debugfs state.

Groups "default" (sysfs_abi) and "tuning" (groups.py).
"""

import re
import time

from fbtest import (
    FB_ATTRS, FB_NUM, FULL, GUEST_MIB, KIB, MIB, PAGES_PER_MIB, _last_lines,
    check, deflate_and_check, fastballoon_only, inflate_and_check,
    int_or_none, trace_start, trace_stop,
)


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
def t_sysfs_abi(c):
    """fb_sysfs (kselftest) with 256 MiB ballooned."""
    c.reset()
    c.g.set_balloon(FULL - 256 * MIB)
    c.g.wait_balloon(FULL - 256 * MIB)
    c.ksft("fb_sysfs", timeout=120)
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)


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


def _insmod_refused(c, name, v):
    """insmod with parameter @name=@v fails, leaves no module loaded, and
    the kernel log names fastballoon and the parameter."""
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


@fastballoon_only
def t_module_params(c):
    """Knobs as module parameters: defaults for the device bound at insmod;
    a bad one refuses the load and the log says which."""
    c.reset()
    params = [("floor", 64 * PAGES_PER_MIB), ("reserve", 32 * PAGES_PER_MIB),
              ("max_order", 0),
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
            _insmod_refused(c, FB_ATTRS[k], v)
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
def t_tracepoints(c):
    """fb_inflate/fb_deflate fire once per pass with the pages moved (their
    sum is what the counters say, also when a deflate splits a block); the
    debugfs state file reads."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    fb0 = c.fb()
    trace_start(c)
    inflate_and_check(c, 256)
    # A deflate that stops inside a block splits it: the split block is not
    # given back, only the 3 pages are (fb_deflate once said small=-1 here).
    c.g.set_balloon(FULL - 256 * MIB + 3 * 4096)
    c.g.wait_balloon(FULL - 256 * MIB + 3 * 4096, timeout=60)
    deflate_and_check(c, base)
    recs = trace_stop(c)
    fb1 = c.fb()
    dev = c.g.sh("basename $(fb-dev)")
    fields = ("dev", "want", "blocks", "small", "us")
    for ev, cnt in (("fb_inflate", "inflated_pages_total"),
                    ("fb_deflate", "deflated_pages_total")):
        lines = [f for e, f in recs if e == ev]
        check(lines, "no %s in the trace (%d fastballoon records)", ev,
              len(recs))
        for f in lines:
            check(all(int_or_none(f.get(k, "")) is not None for k in fields),
                  "%s: want numeric %s, got %r", ev, ", ".join(fields), f)
            moved = int_or_none(f["blocks"]) * 512 + int_or_none(f["small"])
            check(moved <= int_or_none(f["want"]), "%s moved %d pages, asked for %d",
                  ev, moved, int_or_none(f["want"]))
            check("virtio%d" % int_or_none(f["dev"]) == dev, "%s dev=%s, the "
                  "device is %s", ev, f["dev"], dev)
        total = sum(int_or_none(f["blocks"]) * 512 + int_or_none(f["small"]) for f in lines)
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
