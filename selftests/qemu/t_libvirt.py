# SPDX-License-Identifier: GPL-2.0
"""libvirt drives the balloon (libvirt.py: a Debian suite's libvirtd and
QEMU), with the in-tree virtio_balloon and with fastballoon, one fresh
guest each, in one run. The balloon is the one a libvirt user writes:

    <memballoon model='virtio' autodeflate='on' freePageReporting='on'>
      <stats period='2'/>
    </memballoon>

  libvirt/setmem      with 1.5 GiB of the 2 GiB guest made resident,
                      virsh setmem 768M then 2048M: dommemstat's actual
                      reaches each target, QEMU's RSS
                      falls by at least 90% of the 1280 MiB, and so does
                      MemFree (MemTotal stays: autodeflate); both drivers'
                      times printed side by side, with their ratio (timing
                      gates nothing)
  libvirt/dommemstat  every field virsh dommemstat shows with virtio_balloon
                      shows with fastballoon, and each agrees with what the
                      guest (/proc/meminfo, /proc/vmstat) and the host (QEMU's
                      VmRSS) read around it
  libvirt/dominfo     virsh dominfo's "Used memory" follows both targets
                      (libvirt takes it from QEMU's BALLOON_CHANGE events)

The guests' consoles are checked for WARN, oops or OOM throughout.
"""

import os
import shutil
import subprocess
import time

import fbqemu
import libvirt
import qemus
import suites
from fbtest import KIB, Ctx, Fail, check, deepest_mib, wait_for

MEMBALLOON = ("<memballoon model='virtio' autodeflate='on' "
              "freePageReporting='on'><stats period='2'/></memballoon>")
DRIVERS = ("virtio_balloon", "fastballoon")
GUEST_MIB = 2048
TARGET_MIB = 768                  # 1280 MiB ballooned
TESTS = ("setmem", "dommemstat", "dominfo")
# Feature bits libvirt's <memballoon> above offers and both drivers take:
# the stats queue, deflate on OOM (autodeflate), free page reporting.
FEATURES = {1: "STATS_VQ", 2: "DEFLATE_ON_OOM", 5: "REPORTING"}
# What the guest reads beside each dommemstat field: (field, meminfo key).
CLOSE_TO_MEMINFO = (("unused", "MemFree", 64 * KIB),
                    ("usable", "MemAvailable", 64 * KIB))
# (field, vmstat keys summed; KiB per count): each must lie between the
# guest's counters read before and after the stats it came with.
BETWEEN_VMSTAT = (("major_fault", ("pgmajfault",), 1),
                  ("swap_in", ("pswpin",), 4),
                  ("swap_out", ("pswpout",), 4),
                  ("hugetlb_pgalloc", ("htlb_buddy_alloc_success",), 1),
                  ("hugetlb_pgfail", ("htlb_buddy_alloc_fail",), 1))


def names():
    return ["libvirt/" + t for t in TESTS]


# What run_tests.py's --groups, -k and CI's plan (ciplan.py) see.
GROUP = {"name": "libvirt", "tests": [(n, None) for n in names()]}


# The CPU the guests get: TCG's maximum less the two string-move features
# it emulates byte by byte (FACTS, "TCG and zeroing"), as the distribution
# guest runs; FB_LIBVIRT_CPU=max keeps them.
CPU_ENV = "FB_LIBVIRT_CPU"


def cpu_xml():
    spec = os.environ.get(CPU_ENV, "max,-erms,-fsrm").split(",")
    if spec[0] != "max":
        raise fbqemu.FbError("%s: only max[,-feature...] (got %r)" % (
            CPU_ENV, ",".join(spec)))
    feats = "".join("<feature policy='disable' name='%s'/>" % f[1:]
                    for f in spec[1:] if f.startswith("-"))
    return "<cpu mode='maximum' check='none'>%s</cpu>" % feats


class Run:
    """One driver's guest and what each test found in it."""

    def __init__(self, daemon, kimg, initrd, drv, keep):
        self.drv = drv
        self.g = libvirt.LibvirtGuest(daemon, "fb-" + drv, kimg, initrd,
                                      MEMBALLOON, mem_mib=GUEST_MIB,
                                      driver=drv, cpu=cpu_xml(), keep=keep)
        self.c = Ctx(self.g, drv, [])
        self.fail = {}            # test -> why
        self.facts = {}           # what the side-by-side line prints

    def failed(self, test, why):
        self.fail.setdefault(test, why)

    def setmem(self, mib, timeout=180):
        """virsh setmem @mib MiB, then poll dommemstat until actual shows
        it: the seconds it took."""
        t0 = time.monotonic()
        self.g.virsh("setmem", "%dM" % mib, "--live")
        wait_for(lambda: self.g.memstat()["actual"] == mib * KIB, timeout,
                 interval=0.05, what="%s: dommemstat actual at %d MiB" % (
                     self.drv, mib))
        return time.monotonic() - t0

    def used_follows(self, mib, timeout=15):
        """dominfo's Used memory reaches @mib MiB (after the target is
        reached): the seconds it lagged, or None and a failure."""
        t0 = time.monotonic()
        want = "%d KiB" % (mib * KIB)
        try:
            wait_for(lambda: self.g.dominfo().get("Used memory") == want,
                     timeout, interval=0.2, what="%s: dominfo Used memory "
                     "%s after actual reached it" % (self.drv, want))
        except Fail as e:
            self.failed("dominfo", str(e))
            return None
        return time.monotonic() - t0


def check_memstat(r):
    """The dommemstat fields against the guest's and QEMU's own figures;
    returns the fields shown."""
    g = r.g
    first = g.memstat().get("last_update", 0)
    deadline = time.monotonic() + 30
    while g.memstat().get("last_update", 0) <= first:
        check(time.monotonic() < deadline, "%s: dommemstat's last_update did "
              "not move in 30 s (stats period 2 s)", r.drv)
        time.sleep(0.5)
    # The guest's counters, then the first stats taken after them.
    t0 = time.time()
    mi = g.meminfo()
    vm0 = g.vmstat()
    rss0 = g.rss_kib()
    deadline = time.monotonic() + 30
    while True:
        s = g.memstat()
        if s.get("last_update", 0) >= t0 + 1:
            break
        check(time.monotonic() < deadline, "%s: no stats newer than the "
              "guest's read in 30 s", r.drv)
        time.sleep(0.3)
    vm1 = g.vmstat()
    rss1 = g.rss_kib()
    bad = []

    def near(field, want, slack):
        if field in s and abs(s[field] - want) > slack:
            bad.append("%s %d KiB, the guest says %d KiB" % (field, s[field],
                                                             want))

    if s.get("available") != mi["MemTotal"]:
        bad.append("available %s KiB, MemTotal %d KiB" % (
            s.get("available"), mi["MemTotal"]))
    for field, key, slack in CLOSE_TO_MEMINFO:
        near(field, mi[key], slack)
    near("disk_caches", mi["Cached"] + mi["Buffers"] +
         mi.get("SwapCached", 0), 32 * KIB)
    for field, keys, per in BETWEEN_VMSTAT:
        lo = sum(vm0.get(k, 0) for k in keys) * per
        hi = sum(vm1.get(k, 0) for k in keys) * per
        if field in s and not lo <= s[field] <= hi:
            bad.append("%s %d, the guest counted %d..%d" % (field, s[field],
                                                            lo, hi))
    lo = (vm0["pgfault"] - vm0["pgmajfault"])
    if "minor_fault" in s and not lo <= s["minor_fault"] <= vm1["pgfault"]:
        bad.append("minor_fault %d, the guest counted %d..%d" % (
            s["minor_fault"], lo, vm1["pgfault"]))
    if s.get("actual") != GUEST_MIB * KIB:
        bad.append("actual %s KiB with an empty balloon" % s.get("actual"))
    if "rss" in s and not min(rss0, rss1) - 16 * KIB <= s["rss"] <= \
            max(rss0, rss1) + 16 * KIB:
        bad.append("rss %d KiB, QEMU's VmRSS %d..%d KiB" % (s["rss"], rss0,
                                                            rss1))
    if bad:
        r.failed("dommemstat", "%s: %s" % (r.drv, "; ".join(bad)))
    return sorted(s)


def one_driver(r):
    """Boot @r's guest and run every check on it."""
    g, c = r.g, r.c
    g.boot()
    r.facts["boot"] = g.boot_seconds
    check(c.bound() == r.drv, "%s: the balloon is bound to %s", r.drv,
          c.bound())
    feats = c.features()
    missing = [n for b, n in FEATURES.items() if feats[b:b + 1] != "1"]
    check(not missing, "%s did not negotiate %s (features %s)", r.drv,
          ", ".join(missing), feats)
    try:
        r.facts["fields"] = check_memstat(r)
    except Fail as e:
        r.failed("dommemstat", str(e))
        r.facts["fields"] = []
    c.ksft("fb_touch", {"FB_MIB": deepest_mib(c, 1536)})
    mi0 = c.meminfo()
    rss0 = g.rss_kib()
    r.facts["inflate"] = r.setmem(TARGET_MIB)
    rss1 = g.rss_kib()
    mi1 = c.meminfo()
    ballooned = GUEST_MIB - TARGET_MIB
    # With DEFLATE_ON_OOM (autodeflate) both drivers leave ballooned pages
    # in MemTotal: the guest may take them back under pressure.
    check(mi1["MemTotal"] == mi0["MemTotal"], "%s: MemTotal %d -> %d KiB "
          "with autodeflate", r.drv, mi0["MemTotal"], mi1["MemTotal"])
    check(mi0["MemFree"] - mi1["MemFree"] >= 0.9 * ballooned * KIB,
          "%s: MemFree fell by %d MiB for %d MiB ballooned", r.drv,
          (mi0["MemFree"] - mi1["MemFree"]) // KIB, ballooned)
    check(rss0 - rss1 >= 0.9 * ballooned * KIB, "%s: QEMU's RSS fell by %d "
          "MiB (%d -> %d) for %d MiB ballooned", r.drv, (rss0 - rss1) // KIB,
          rss0 // KIB, rss1 // KIB, ballooned)
    r.facts["rss"] = (rss0 // KIB, rss1 // KIB)
    r.facts["lag_in"] = r.used_follows(TARGET_MIB)
    r.facts["deflate"] = r.setmem(GUEST_MIB)
    mi2 = c.meminfo()
    check(mi2["MemFree"] >= mi1["MemFree"] + 0.9 * ballooned * KIB,
          "%s: MemFree %d MiB after the deflate, %d MiB before", r.drv,
          mi2["MemFree"] // KIB, mi1["MemFree"] // KIB)
    r.facts["lag_out"] = r.used_follows(GUEST_MIB)


def _ratio(a, b):
    return "%.1fx" % (a / b) if b else "-"


def run(res, where, kimg, initrd, suite, selected, keep=False):
    """The @selected tests (names()) with libvirt of @suite, on @kimg."""
    want = [t for t in TESTS if "libvirt/" + t in selected]
    if not want:
        return
    log = lambda s: print("# " + s, flush=True)  # noqa: E731
    t0 = time.monotonic()
    try:
        st = libvirt.ensure(suite, log=log)
        daemon = libvirt.Daemon(st).start()
    except (fbqemu.FbError, qemus.QemuError, suites.SuiteError, OSError,
            subprocess.CalledProcessError) as e:
        for t in want:
            res.report("not ok", where, "libvirt/" + t,
                       "cannot run libvirtd: %s" % e)
        return
    where = "%s@libvirt-%s" % (where.split("@")[0],
                               libvirt.short_version(st["libvirt"]))
    log("%s: libvirt %s, QEMU %s; daemon up in %.0f s" % (
        where, st["libvirt"], st["qemu"], time.monotonic() - t0))
    runs = []
    try:
        for drv in DRIVERS:
            r = Run(daemon, kimg, initrd, drv, keep)
            runs.append(r)
            try:
                one_driver(r)
            except (Fail, fbqemu.FbError) as e:
                for t in TESTS:
                    r.failed(t, "%s%s" % ("" if isinstance(e, Fail) else
                                          type(e).__name__ + ": ", e))
            bad = r.g.health() if r.g.proc else []
            if bad:
                for t in TESTS:
                    r.failed(t, "%s console: %s" % (drv, "; ".join(bad[:5])))
            if r.fail:
                logs = os.path.join(fbqemu.cache_dir(), "logs")
                os.makedirs(logs, exist_ok=True)
                kept = os.path.join(logs, "libvirt-%s-%s.log" % (
                    drv, time.strftime("%Y%m%d-%H%M%S")))
                shutil.copy(r.g.console, kept)
                for t in r.fail:
                    r.fail[t] += " (console log: %s)" % kept
            r.g.shutdown()
    finally:
        daemon.stop()
    secs = time.monotonic() - t0
    vb, fb = runs
    for t in want:
        why = "; ".join(r.fail[t] for r in runs if t in r.fail)
        if not why and t == "dommemstat":
            lost = set(vb.facts["fields"]) - set(fb.facts["fields"])
            if lost:
                why = "fields virtio_balloon fills and fastballoon does not: " \
                    + ", ".join(sorted(lost))
        if why:
            res.report("not ok", where, "libvirt/" + t, why)
            continue
        if t == "setmem":
            detail = ("%d -> %d MiB: virtio_balloon %.2f s, fastballoon "
                      "%.2f s (%s); back: %.2f s, %.2f s (%s); QEMU RSS "
                      "%d -> %d and %d -> %d MiB" % (
                          GUEST_MIB, TARGET_MIB, vb.facts["inflate"],
                          fb.facts["inflate"], _ratio(vb.facts["inflate"],
                                                      fb.facts["inflate"]),
                          vb.facts["deflate"], fb.facts["deflate"],
                          _ratio(vb.facts["deflate"], fb.facts["deflate"]),
                          *(vb.facts["rss"] + fb.facts["rss"])))
        elif t == "dommemstat":
            detail = "%d fields with both drivers: %s" % (
                len(fb.facts["fields"]), " ".join(fb.facts["fields"]))
        else:
            detail = ("Used memory followed %.1f/%.1f s after actual "
                      "(virtio_balloon), %.1f/%.1f s (fastballoon)" % (
                          vb.facts["lag_in"], vb.facts["lag_out"],
                          fb.facts["lag_in"], fb.facts["lag_out"]))
        res.report("ok", where, "libvirt/" + t, detail,
                   secs if t == want[0] else None)
