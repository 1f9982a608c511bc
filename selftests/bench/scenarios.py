# SPDX-License-Identifier: GPL-2.0
"""scenarios: what the benchmark does in a guest, and the figures it keeps.

Each scenario runs the same steps on a guest with the in-tree
virtio_balloon and on one with fastballoon.  rep(rig) does one repetition
and returns {figure key: value}; FIGURES says how each figure is printed,
which way is better, and what fastballoon aims for.  README.md beside this
file explains every figure.
"""

import time

from rig import FAST, GIB, MIB, POLL_S, USER_HZ, Broken, host_meminfo

TOUCH_MIB = 1536        # "about 1.5 GiB" made resident before inflating
FRAG_MIB = 1600         # "about 1.6 GiB" fragmented
HEAL_WAIT_S = 60        # fastballoon heals 4 KiB pages into blocks meanwhile
INFLATE_TIMEOUT = 240
DEFLATE_TIMEOUT = 180


class Fig:
    """One printed figure.

    @better: "lower", "higher", or None for context that has no better
    side (no ratio is printed for those).
    @target: (kind, value, text); kind "ratio" compares the ratio (at
    least @value), kind "fast" fastballoon's own median (at least @value),
    kind "fast_max" fastballoon's own median (at most @value).
    Informative only.
    @fast_only: fastballoon's own counters; the in-tree driver has none.
    @floor: values below it are noise and count as zero for the ratio.
    """

    def __init__(self, key, label, fmt, better, target=None, fast_only=False,
                 floor=0):
        self.floor = floor
        self.key = key
        self.label = label
        self.fmt = fmt
        self.better = better
        self.target = target
        self.fast_only = fast_only


class Scenario:
    """@host_path: how QEMU discards what fastballoon surrenders here, the
    path fbb_discard replays for the host's limit; @fresh_boot: every
    repetition boots a fresh guest (its state is not the next one's)."""

    def __init__(self, name, title, props, hugetlb, figures, rep,
                 host_path=None, fresh_boot=False):
        self.name = name
        self.title = title
        self.props = props
        self.hugetlb = hugetlb
        self.figures = figures
        self.rep = rep
        self.host_path = host_path
        self.fresh_boot = fresh_boot


# --------------------------------------------------------------- helpers

def timed_inflate(rig, mib, out):
    """Inflate by @mib from empty; fill @out with time, CPU and host RSS.

    The CPU window opens with one /proc/stat read just before the QMP
    command and closes with one just after query-balloon shows the target;
    the cost of that pair of reads (calibrated at boot) is subtracted.
    """
    target = rig.full - mib * MIB
    out["rss_before_mib"] = rig.rss_mib()
    out["thp_before_mib"] = rig.thp_mib()
    c0 = rig.cpu_busy()
    q0 = rig.qemu_cpu_split()
    out["inflate_s"] = rig.balloon_to(target, INFLATE_TIMEOUT)
    q1 = rig.qemu_cpu_split()
    rss1, thp1 = rig.rss_mib(), rig.thp_mib()
    c1 = rig.cpu_busy()
    out["qemu_user_s"] = q1[0] - q0[0]
    out["qemu_sys_s"] = q1[1] - q0[1]
    busy = max(0, c1 - c0 - rig.cpu_overhead)
    out["cpu_jiffies"] = busy
    out["cpu_s_per_gib"] = busy / USER_HZ / (mib * MIB / GIB)
    out["rss_after_mib"] = rss1
    out["rss_drop_mib"] = out["rss_before_mib"] - rss1
    out["rss_drop_frac"] = out["rss_drop_mib"] / mib
    out["thp_after_mib"] = thp1
    out["thp_kept"] = thp1 / rss1 if rss1 else None
    return target


def measure_limits(rig, mib, path, out, settle):
    """The limit of an inflate of @mib, in this boot, on the memory the
    timed inflate will take: the guest taking and zeroing @mib on all its
    vCPUs and on one, and the host's discards for @path, replayed by
    fbb_discard while the guest idles.  @out["limit_s"] is the larger of
    the all-vCPU and the host figure: no driver can beat it, whatever it
    does.

    The guest's runs follow a first one, and each keeps what it took for
    the next to recycle, so that they zero memory the host backs.  Memory
    free page reporting gave back costs more to zero the first time (the
    host faults it in again: 4.4 s for 1280 MiB on one vCPU here, where
    the drivers' inflate took 0.6-2.4 s, because QEMU's discards during an
    inflate hand the host memory it reuses at once): a run on it would be
    no bound, and memory left free between runs is reported 2 s later.
    That first run is kept as @out["zero_cold_s"].  Then everything is
    freed and the guest settles (@settle) so that the inflate starts from
    what the touch left."""
    out["zero_cold_s"] = rig.zero_limit(mib, hold=True)["ns"] / 1e9
    out["zero_1cpu_s"] = rig.zero_limit(mib, 1, hold=True)["ns"] / 1e9
    z = rig.zero_limit(mib, hold=True)
    rig.zero_release()
    out["zero_all_s"] = z["ns"] / 1e9
    out["zero_cpus"] = z["cpus"]
    out["zero_blocks_frac"] = z["blocks"] * 512 / z["got"]
    settle()
    h = rig.host_discard(path, mib)
    out["host_limit_s"] = h["discard_ns"] / 1e9
    out["host_calls"] = h["calls"]
    out["limit_s"] = max(out["zero_all_s"], out["host_limit_s"])


def over_limit(out):
    """The inflate's time as a multiple of this boot's limit."""
    if out.get("limit_s"):
        out["over_limit"] = out["inflate_s"] / out["limit_s"]


def check_fb_actual(rig, mib, out, notes):
    fb = rig.fb_attrs()
    if not fb:
        return fb
    out["blocks_2m"] = fb.get("blocks_2m")
    out["pages_4k"] = fb.get("pages_4k")
    out["fb_sysfs"] = fb
    if "surrender_path" in fb:
        notes.append("surrender_path=%s" % fb["surrender_path"])
    want = mib * MIB // 4096
    if fb.get("actual_pages") != want:
        notes.append("actual_pages %s with %d MiB ballooned (want %d)" %
                     (fb.get("actual_pages"), mib, want))
    b, p = fb.get("blocks_2m"), fb.get("pages_4k")
    if isinstance(b, int) and isinstance(p, int) and \
            b * 512 + p != fb.get("actual_pages"):
        notes.append("blocks_2m*512 + pages_4k = %d, actual_pages %s" %
                     (b * 512 + p, fb.get("actual_pages")))
    return fb


def timed_deflate(rig, out):
    out["deflate_s"] = rig.balloon_to(rig.full, DEFLATE_TIMEOUT)


# ------------------------------------------------------------- scenarios

def rep_inflate(rig, notes, mib=1280, path="pages"):
    out = {}
    rig.ensure_empty()
    out["touch_ms"] = rig.touch(TOUCH_MIB).get("ms")
    rss_touched = rig.rss_mib()
    # With free page reporting the guest hands freed memory back in passes
    # two seconds apart: let that finish so it does not run into the timing.
    reporting = rig.props.get("free-page-reporting") == "on"
    stable = 7 if reporting else 3
    rig.settle_rss(stable_s=stable, max_s=180)
    out["reported_before_mib"] = rss_touched - rig.rss_mib()
    # The limit runs on the memory the inflate will take, in the same
    # state; what it frees is reported again (and settles) before the
    # inflate.
    measure_limits(rig, mib, path, out,
                   lambda: rig.settle_rss(stable_s=stable, max_s=180))
    timed_inflate(rig, mib, out)
    over_limit(out)
    check_fb_actual(rig, mib, out, notes)
    time.sleep(2)
    out["rss_drop_settled_frac"] = (out["rss_before_mib"] -
                                    rig.rss_mib()) / mib
    timed_deflate(rig, out)
    return out


def rep_hugetlb(rig, notes, mib=1024):
    out = {}
    rig.ensure_empty()
    rig.touch(TOUCH_MIB)
    rig.settle_hugetlb()
    measure_limits(rig, mib, "hugetlb", out, rig.settle_hugetlb)
    mi = host_meminfo()
    page_mib = mi["Hugepagesize"] / 1024
    free0 = mi["HugePages_Free"]
    q0 = rig.qemu_hugetlb_mib()
    out["qemu_hugetlb_before_mib"] = q0
    timed_inflate(rig, mib, out)
    over_limit(out)
    out["freed_at_target_mib"] = (host_meminfo()["HugePages_Free"] -
                                  free0) * page_mib
    check_fb_actual(rig, mib, out, notes)
    free1 = rig.settle_hugetlb()
    out["freed_mib"] = (free1 - free0) * page_mib
    out["freed_frac"] = out["freed_mib"] / mib
    out["qemu_hugetlb_drop_mib"] = q0 - rig.qemu_hugetlb_mib()
    if abs(out["qemu_hugetlb_drop_mib"] - out["freed_mib"]) > 2 * page_mib:
        notes.append("host pool rose by %d MiB but QEMU's HugetlbPages fell "
                     "by %d MiB: someone else uses huge pages?" %
                     (out["freed_mib"], out["qemu_hugetlb_drop_mib"]))
    timed_deflate(rig, out)
    return out


def _blocks(rig, mib, out, sfx, notes):
    k = rig.kpf()
    off = k.get("offline", 0)
    out["offline_pages" + sfx] = off
    out["whole_frac" + sfx] = k.get("whole_pages", 0) / off if off else None
    out["offline_ratio" + sfx] = off / (mib * MIB // 4096)
    rss, thp = rig.rss_mib(), rig.thp_mib()
    out["thp_kept" + sfx] = thp / rss if rss else None
    fb = check_fb_actual(rig, mib, {}, notes)
    if fb:
        out["blocks_2m" + sfx] = fb.get("blocks_2m")
        out["pages_4k" + sfx] = fb.get("pages_4k")
        out["fb_sysfs" + sfx] = fb


def rep_fragmented(rig, notes, mib=700):
    out = {}
    rig.ensure_empty()
    fr = rig.frag_start(FRAG_MIB)
    try:
        out["frag_held_mib"] = fr.get("held_kib", 0) / 1024
        out["frag_freed_mib"] = fr.get("freed_kib", 0) / 1024
        out["frag_by"] = fr.get("by")
        rig.settle_rss()
        k0 = rig.kpf()
        if k0.get("offline"):
            notes.append("%d pages offline before inflating" % k0["offline"])
        measure_limits(rig, mib, "pages", out, rig.settle_rss)
        timed_inflate(rig, mib, out)
        over_limit(out)
        t_target = time.monotonic()
        _blocks(rig, mib, out, "", notes)
        left = HEAL_WAIT_S - (time.monotonic() - t_target)
        if left > 0:
            time.sleep(left)
        _blocks(rig, mib, out, "_later", notes)
        timed_deflate(rig, out)
    finally:
        if rig.alive():
            rig.frag_stop()
    return out


UNMET_LEFT_MIB = 64     # the host asks for all of the guest but this
UNMET_FREE_MIB = 256    # held in tmpfs, then freed
UNMET_WATCH_S = 60


def _settled(rig, quiet_s=3, max_s=240):
    """Wait until query-balloon stopped moving for @quiet_s seconds."""
    t0 = since = time.monotonic()
    last = rig.actual()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() - t0 > max_s:
            raise Broken("balloon still moving after %d s" % max_s)
        time.sleep(0.25)
        now = rig.actual()
        if now != last:
            last, since = now, time.monotonic()
    return last


def rep_unmet(rig, notes):
    """A target that cannot be met: what it costs, and how soon memory
    freed meanwhile is taken."""
    out = {}
    rig.ensure_empty()
    rig.sh("mkdir -p /mnt/unmet && mount -t tmpfs -o size=%dm none "
           "/mnt/unmet && dd if=/dev/zero of=/mnt/unmet/hold bs=1M count=%d "
           "2>/dev/null" % (UNMET_FREE_MIB + 16, UNMET_FREE_MIB), timeout=300)
    try:
        rig.g.set_balloon(UNMET_LEFT_MIB * MIB)
        guest = _settled(rig)
        out["ballooned_mib"] = (rig.full - guest) / MIB
        c0, q0, t0 = rig.cpu_busy(), rig.qemu_cpu_s(), time.monotonic()
        while time.monotonic() - t0 < UNMET_WATCH_S:
            time.sleep(1)
            if not rig.alive():
                raise Broken("QEMU died with the target unmet")
        c1, q1 = rig.cpu_busy(), rig.qemu_cpu_s()
        secs = time.monotonic() - t0
        out["guest_cpu_s"] = max(0, c1 - c0 - rig.cpu_overhead) / USER_HZ
        out["host_cpu_s"] = q1 - q0
        out["window_s"] = secs
        out["avail_mib"] = int(rig.sh("grep MemAvailable /proc/meminfo")
                               .split()[1]) / 1024
        held = rig.full - rig.actual()
        rig.sh("rm /mnt/unmet/hold")
        t0 = time.monotonic()
        while rig.full - rig.actual() < held + (UNMET_FREE_MIB - 64) * MIB:
            if time.monotonic() - t0 > 60:
                raise Broken("freed memory not taken in 60 s")
            time.sleep(POLL_S)
        out["take_freed_s"] = time.monotonic() - t0
    finally:
        if rig.alive():
            rig.run("rm -f /mnt/unmet/hold; umount /mnt/unmet")
    rig.ensure_empty()
    return out


def _time(key, what, mib, target=None):
    """A balloon move in seconds; below the 5 ms polling period a ratio is
    only a lower bound."""
    return Fig(key, "%s %d MiB (s)" % (what, mib), "%.3f", "lower", target,
               floor=POLL_S)


def _cpu(mib):
    """Guest CPU per GiB; below one jiffy per window a ratio is only a
    lower bound."""
    return Fig("cpu_s_per_gib", "guest CPU s per GiB surrendered", "%.3f",
               "lower", floor=1.0 / USER_HZ / (mib * MIB / GIB))


def _rss_drop():
    return Fig("rss_drop_mib", "QEMU RSS drop at target (MiB)", "%.0f",
               "higher", floor=16)


def _limits(mib, path, target=None):
    """The limit rows: measured in each driver's boot, so both columns
    carry them; only the multiple has a better side."""
    return [
        Fig("over_limit", "inflate / limit (x)", "%.2f", None, target),
        Fig("limit_s", "  limit: larger of the next two (s)", "%.3f", None),
        Fig("zero_all_s", "  guest takes+zeroes %d MiB, all vCPUs" % mib,
            "%.3f", None),
        Fig("host_limit_s", "  host discards, %s (s)" % path, "%.3f", None),
        Fig("zero_1cpu_s", "  guest takes+zeroes %d MiB, 1 vCPU" % mib,
            "%.3f", None),
        Fig("qemu_sys_s", "QEMU system CPU s during inflate", "%.2f",
            "lower", floor=0.01),
    ]


def _fb_counts(sfx="", label=""):
    return [Fig("blocks_2m" + sfx, "fastballoon blocks_2m" + label, "%d",
                None, fast_only=True),
            Fig("pages_4k" + sfx, "fastballoon pages_4k" + label, "%d",
                None, fast_only=True)]


LIMIT_TARGET = ("fast_max", 1.25, "<=1.25x the limit")


def _inflate_figs(speed_target, path):
    return [
        _time("inflate_s", "inflate", 1280,
              ("ratio", speed_target, ">=%dx faster" % speed_target)),
    ] + _limits(1280, path, LIMIT_TARGET) + [
        _time("deflate_s", "deflate", 1280, ("ratio", 3, ">=3x faster")),
        _rss_drop(),
        Fig("rss_drop_frac", "  / 1280 MiB", "%.2f", "higher"),
        Fig("rss_drop_settled_frac", "  / 1280 MiB, 2 s later", "%.2f",
            "higher"),
        _cpu(1280),
        Fig("thp_kept", "host THP / QEMU RSS after inflate", "%.2f", "higher"),
        Fig("rss_before_mib", "QEMU RSS before inflate (MiB)", "%.0f", None),
        Fig("thp_before_mib", "host THP before inflate (MiB)", "%.0f", None),
        Fig("reported_before_mib", "RSS freed before inflate (MiB)", "%.0f",
            None),
    ] + _fb_counts()


_LATER = ", %d s later" % HEAL_WAIT_S

SCENARIOS = [
    Scenario("inflate",
             "touch %d MiB, balloon 1280 MiB, deflate (inflate queue)" %
             TOUCH_MIB, {}, False, _inflate_figs(5, "pages"), rep_inflate,
             host_path="pages"),
    Scenario("inflate-ranges",
             "same, free-page-reporting=on (fastballoon: 2 MiB ranges)",
             {"free-page-reporting": "on"}, False,
             _inflate_figs(25, "ranges"),
             lambda rig, notes: rep_inflate(rig, notes, path="ranges"),
             host_path="ranges"),
    Scenario("hugetlb",
             "2 MiB hugetlbfs-backed guest, touch %d MiB, balloon 1024 MiB" %
             TOUCH_MIB, {}, True, [
                 Fig("freed_frac", "host memory freed / 1024 MiB", "%.2f",
                     "higher", ("fast", 0.95, ">=0.95 (in-tree 0)")),
                 Fig("freed_mib", "host huge pages freed (MiB)", "%.0f",
                     "higher"),
                 Fig("freed_at_target_mib", "  of them at target (MiB)",
                     "%.0f", "higher"),
                 Fig("qemu_hugetlb_drop_mib", "QEMU HugetlbPages drop (MiB)",
                     "%.0f", "higher"),
                 _time("inflate_s", "inflate", 1024),
             ] + _limits(1024, "hugetlb") + [
                 _time("deflate_s", "deflate", 1024),
                 _cpu(1024),
             ] + _fb_counts(), rep_hugetlb, host_path="hugetlb",
             fresh_boot=True),
    Scenario("fragmented",
             "%d MiB touched, every odd PFN freed and the rest held, "
             "balloon 700 MiB" % FRAG_MIB, {}, False, [
                 _time("inflate_s", "inflate", 700,
                       ("ratio", 1, "no slower (>=1x)")),
             ] + _limits(700, "pages") + [
                 Fig("whole_frac", "ballooned in whole 2 MiB blocks", "%.2f",
                     "higher", ("fast", 0.90, ">=0.90")),
                 Fig("whole_frac_later", "  same" + _LATER, "%.2f", "higher",
                     ("fast", 0.90, ">=0.90")),
                 Fig("thp_kept", "host THP / QEMU RSS after inflate", "%.2f",
                     "higher", ("fast", 0.90, ">=0.90 (in-tree ~0.45)")),
                 Fig("thp_kept_later", "  same" + _LATER, "%.2f", "higher",
                     ("fast", 0.90, ">=0.90")),
                 _rss_drop(),
                 _time("deflate_s", "deflate", 700),
                 _cpu(700),
             ] + _fb_counts() + _fb_counts("_later", _LATER) + [
                 Fig("thp_before_mib", "host THP before inflate (MiB)",
                     "%.0f", None),
                 Fig("offline_ratio", "kpageflags offline / ballooned",
                     "%.2f", None),
                 Fig("frag_freed_mib", "freed in 4 KiB holes (MiB)", "%.0f",
                     None),
                 Fig("zero_blocks_frac", "limit run: share taken in 2 MiB "
                     "blocks", "%.2f", None),
             ], rep_fragmented, host_path="pages", fresh_boot=True),
]

SCENARIOS.append(Scenario(
    "unmet", "host asks for all but %d MiB (deflate-on-oom), %d MiB held in "
    "tmpfs: %d s with the target unmet, then the tmpfs file removed" % (
        UNMET_LEFT_MIB, UNMET_FREE_MIB, UNMET_WATCH_S),
    {"deflate-on-oom": "on"}, False, [
        Fig("guest_cpu_s", "guest CPU s over %d s unmet" % UNMET_WATCH_S,
            "%.2f", "lower", floor=0.01),
        Fig("host_cpu_s", "QEMU process CPU s over %d s unmet" %
            UNMET_WATCH_S, "%.2f", "lower", floor=0.01),
        Fig("take_freed_s", "time to take %d of %d MiB freed (s)" % (
            UNMET_FREE_MIB - 64, UNMET_FREE_MIB), "%.2f", "lower",
            floor=POLL_S),
        Fig("ballooned_mib", "ballooned at rest (MiB)", "%.0f", None),
        Fig("avail_mib", "guest MemAvailable at rest (MiB)", "%.0f", None),
    ], rep_unmet))

BY_NAME = {s.name: s for s in SCENARIOS}


def run_rep(rig, scen):
    """One repetition with the health checks around it.

    Returns (figures, notes); raises Broken when the run cannot be trusted.
    """
    notes = []
    rig.check_health("previous step")
    con0 = rig.g.console_size()
    oom0 = rig.oom_kills()
    out = scen.rep(rig, notes)
    rig.check_health(scen.name)
    kills = rig.oom_kills() - oom0
    if kills:
        raise Broken("%d OOM kill(s) in the guest" % kills)
    lines = rig.driver_lines(con0)
    if lines:
        notes.append("driver said: " + " | ".join(lines[:5]))
    if rig.driver != FAST:
        for k in [k for k in out if k.startswith(("blocks_2m", "pages_4k"))]:
            del out[k]
    return out, notes
