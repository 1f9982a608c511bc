#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the fastballoon selftests in QEMU guests, on each Debian kernel.

    python3 selftests/qemu/run_tests.py [--kernel 6.1|6.12|trixie|sid|all]
        [--driver fastballoon|virtio_balloon] [-k SUBSTRING] [--keep]

Every test prints one "ok", "not ok" or "skip" line; the last line is
"N passed, N failed" (", N skipped" when some were).  Exit status is 1 when
any test failed.  See README.md beside this file for what each test asserts.

The runner only: the tests are in the t_*.py modules, the groups they run
in (and the debug kernel's timings) in groups.py, the host-side tests in
host_tests.py, what tests share in fbtest.py.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbqemu  # noqa: E402
import kernels  # noqa: E402
import ciplan  # noqa: E402
import qemus  # noqa: E402
import suites  # noqa: E402
sys.path.insert(0, os.path.join(fbqemu.REPO, "selftests", "debug"))
import debugkernel  # noqa: E402
import groups  # noqa: E402
import layers  # noqa: E402
import host_tests  # noqa: E402
import t_distro  # noqa: E402
import t_libvirt  # noqa: E402
import libvirt  # noqa: E402
from fbqemu import FbError  # noqa: E402
from fbtest import GUEST_MIB, Ctx, Fail, Skip  # noqa: E402
from groups import GROUPS  # noqa: E402


class Results:
    """Prints one line per result and counts them; summary() is the run's
    last line."""

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


def console_detail(bad, detail):
    """A failure's detail for the problem lines @bad (guest.health()) found
    on the console, followed by what the test said (@detail)."""
    return "guest console: %s\n%s" % (bad[0], "\n".join(bad[1:8]) + (
        "\n" + detail if detail else ""))


class GroupBoot:
    """The guest of one group: booted when a test needs one, booted again
    after a failed test (it may leave anything behind) or a dead guest; the
    console written during each test is checked."""

    def __init__(self, kimg, initrd, args, group, qemu=None):
        self.kimg, self.initrd = kimg, initrd
        self.args, self.group = args, group
        self.qemu = qemu
        # what result lines name: the kernel, and the QEMU if not the host's
        self.where = kimg.series + (qemu.label if qemu else "")
        self.guest = None
        self.offset = 0         # console bytes checked so far
        self.stale_int3 = None  # judge(): the emulator's fault, if it was

    def ensure(self):
        """The live guest, booted afresh if there is none."""
        if self.guest is not None and self.guest.alive():
            return self.guest
        if self.guest is not None:
            self.guest.shutdown()
        g = self.group
        self.guest = fbqemu.Guest(self.kimg, self.initrd, mem_mib=GUEST_MIB,
                                  balloon_props=g["device"],
                                  cmdline=g["cmdline"],
                                  driver=g["boot_driver"] or self.args.driver,
                                  hugetlb=g["hugetlb"], keep=self.args.keep,
                                  qemu=self.qemu)
        self.offset = 0
        self.guest.boot()
        for why in self.guest.early_crashes:
            print("# %s %s: the kernel died before init, booted again: %s" % (
                self.where, g["name"], why), flush=True)
        return self.guest

    def judge(self, test, verdict, detail):
        """@test's (verdict, detail), failed by a problem on the console
        written meanwhile; a failed test's console is saved and its guest
        shut down. self.stale_int3 says whether the emulator's stale int3
        (fbqemu.stale_int3()) is what the console shows."""
        self.stale_int3 = None
        if self.guest is None:
            return verdict, detail
        text = self.guest.read_console(self.offset)
        bad = fbqemu.find_health_problems(text)
        self.offset = self.guest.console_size()
        if bad:
            verdict, detail = "not ok", console_detail(bad, detail)
        if verdict == "not ok":
            self.stale_int3 = fbqemu.stale_int3(text)
            log = save_console(self.guest, self.where,
                               self.group["name"], test)
            self.guest.shutdown()
            detail += "\nconsole log: %s" % log
            self.guest = None
        return verdict, detail

    def close(self, res):
        """The group is done: kmemleak on the debug kernel, save the
        console, shut the guest down."""
        guest = self.guest
        if guest is None:
            return
        if getattr(self.kimg, "kmemleak", False):
            check_kmemleak(res, guest, self.kimg, self.group["name"])
        save_console(guest, self.where, self.group["name"])
        if self.args.keep:
            print("# kept %s" % guest.dir)
        guest.shutdown()


def run_test(boot, fn, args, balloonctl, note):
    """@fn in @boot's guest (booted first if need be): (verdict, detail)."""
    try:
        ctx = Ctx(boot.ensure(), args.driver, note, balloonctl)
        fn(ctx)
        if ctx.console_accepted is not None:
            boot.offset = max(boot.offset, ctx.console_accepted)
        return "ok", "; ".join(note)
    except Skip as e:
        return "skip", str(e)
    except (Fail, FbError) as e:
        detail = "%s%s" % ("" if isinstance(e, Fail) else
                           type(e).__name__ + ": ", e)
        if note:        # what the test had noted (a seed, say)
            detail += "\nnoted before it failed: " + "; ".join(note)
        return "not ok", detail
    except Exception:   # a bug in the test itself: report, go on
        return "not ok", "test crashed:\n" + traceback.format_exc()


def run_group(res, kimg, initrd, args, group, selected, balloonctl,
              qemu=None):
    """The @selected tests of @group (an entry of groups.GROUPS), in order,
    on @qemu (qemus.Qemu; None: the system's)."""
    boot = GroupBoot(kimg, initrd, args, group, qemu)
    where = boot.where
    try:
        for tname, fn in group["tests"]:
            if tname not in selected:
                continue
            t0 = time.monotonic()
            if getattr(fn, "fastballoon_only", False) and \
                    args.driver != "fastballoon":
                res.report("skip", where, tname, "fastballoon only")
                continue
            verdict, detail = boot.judge(tname, *run_test(
                boot, fn, args, balloonctl, []))
            if boot.stale_int3:
                # The emulator's fault, not the kernel's or ours: once more,
                # in a fresh guest (a second time fails the test).
                print("# %s %s: the emulator ran an int3 that text patching "
                      "had already replaced (%s), run again in a fresh "
                      "guest; %s" % (where, tname, boot.stale_int3,
                                     detail.splitlines()[-1]), flush=True)
                verdict, detail = boot.judge(tname, *run_test(
                    boot, fn, args, balloonctl, []))
            res.report(verdict, where, tname, detail,
                       time.monotonic() - t0)
    finally:
        boot.close(res)


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
        verdict, detail = "not ok", console_detail(bad, detail)
    res.report(verdict, kimg.series, group + "/kmemleak", detail,
               time.monotonic() - t0)


def get_kernel(series):
    """The kernel image of @series: (kimg, package)."""
    log = lambda s: print("# " + s, flush=True)  # noqa: E731
    if series == debugkernel.SERIES:
        # Built from linux-source-6.1 once, then cached (selftests/debug).
        kimg = debugkernel.build(log=log)
        return kimg, kimg.pkg
    pkg = kernels.resolve(series)
    return fbqemu.fetch_kernel(pkg, log=log), pkg


def build_module(kimg):
    """fastballoon.ko for @kimg: (verdict, detail) of the "build" test, the
    modules for the initramfs, and why fastballoon.ko is not there to test
    (None when it is)."""
    if not fbqemu.driver_sources_present():
        why_not = "no Kbuild or driver/*.c yet"
        return "skip", why_not, {}, why_not
    try:
        b = fbqemu.build_module(kimg)
    except fbqemu.HeadersMissing as e:
        return "not ok", str(e), {}, str(e)
    extra = {fbqemu.FB_MODULE: b.ko} if b.ko else {}
    why_not = None if b.ko else "fastballoon.ko did not build"
    verdict = "ok" if b.ok else "not ok"
    detail = "" if b.ok else "make W=1 said:\n" + "\n".join(b.problems[:20])
    if b.ko:
        # The objects say who calls whom: calls go down the README's layers.
        up = layers.check(os.path.dirname(os.path.dirname(b.ko)))
        if up:
            verdict = "not ok"
            detail += ("\n" if detail else "") + "calls against the " \
                "README's layers:\n" + "\n".join(up[:20])
    return verdict, detail, extra, why_not


def make_initrd(kimg, extra):
    """Guest programs, balloonctl, the initramfs with the modules @extra:
    (initrd path, balloonctl's build (status, why))."""
    workdir = os.path.join(fbqemu.cache_dir(), "run", kimg.kver)
    os.makedirs(workdir, exist_ok=True)
    bindir = fbqemu.build_guest_programs()
    balloonctl = fbqemu.build_balloonctl(bindir)
    initrd = fbqemu.make_initramfs(kimg, os.path.join(workdir, "initrd.gz"),
                                   extra, bindir)
    return initrd, balloonctl


def get_qemu(name):
    """The QEMU @name (qemus.NAMES): (qemus.Qemu, None) or (None, why)."""
    try:
        return qemus.ensure(name, log=lambda s: print("# " + s,
                                                      flush=True)), None
    except (qemus.QemuError, suites.SuiteError, OSError,
            subprocess.CalledProcessError) as e:
        return None, "cannot run %s's QEMU: %s" % (name, e)


def run_kernel(res, series, args, selected, gate=None, qemu="host"):
    """Every selected test on one kernel, its guests on the QEMU @qemu
    (qemus.NAMES; results name "<series>@qemu-<major.minor>" for a suite's
    QEMU).  @gate(group), when given, says before each group why not to
    run it (None: run it)."""
    t0 = time.monotonic()
    try:
        kimg, pkg = get_kernel(series)
    except (LookupError, FbError, subprocess.CalledProcessError) as e:
        res.report("not ok", series, "kernel", "cannot get the kernel: %s" % e)
        return
    print("# kernel %s (%s)" % (kimg.kver, pkg.image), flush=True)
    guest_tests = [t for t in groups.test_names() if t in selected]
    lv_tests = [t for t in t_libvirt.names() if t in selected]
    tb = time.monotonic()
    verdict, detail, extra, why_not = build_module(kimg)
    if "build" in selected:
        res.report(verdict, series, "build", detail, time.monotonic() - tb)
    if not guest_tests + lv_tests:
        return
    q, no_qemu = get_qemu(qemu)
    where = series + (q.label if q else "@qemu-" + qemu)
    if q:
        print("# %s: guests on QEMU %s (%s's, package %s)" % (
            where, q.vstr, q.name, q.package or "?"), flush=True)
    if args.driver == "fastballoon" and why_not or no_qemu:
        for t in guest_tests + lv_tests:
            res.report("not ok", where, t, no_qemu or why_not)
        return
    try:
        initrd, balloonctl = make_initrd(kimg, extra)
    except (FbError, subprocess.CalledProcessError) as e:
        for t in guest_tests + lv_tests:
            res.report("not ok", where, t, "no initramfs: %s" % e)
        return
    for group in GROUPS:
        why = gate(group) if gate else None
        if why:
            for t, _ in group["tests"]:
                if t in selected:
                    res.report("skip", where, t, why)
            continue
        run_group(res, kimg, initrd, args, group, selected, balloonctl, q)
    if lv_tests:
        run_libvirt(res, where, kimg, initrd, q, lv_tests, gate, args)
    print("# %s: %.0f s" % (where, time.monotonic() - t0), flush=True)


def run_libvirt(res, where, kimg, initrd, q, tests, gate, args):
    """The libvirt tests (t_libvirt.py) with the libvirtd of @q's suite:
    on a suite's own QEMU only (bookworm's libvirt 9.0 is not tested)."""
    why = gate(t_libvirt.GROUP) if gate else None
    if not why and (q is None or q.name not in libvirt.NAMES):
        why = ("libvirt runs with a newer suite's libvirtd and QEMU (%s), "
               "not on this machine's QEMU" % ", ".join(libvirt.NAMES))
    if why:
        for t in tests:
            res.report("skip", where, t, why)
        return
    t_libvirt.run(res, where, kimg, initrd, q.name, set(tests),
                  keep=args.keep)


def run_debug_groups(res, args, selected, t0):
    """The groups named by --debug-groups on the debug kernel, each one only
    while the --budget (minutes from @t0) has room for it (its debug_s in
    groups.py); what does not fit is reported as skipped, with the
    reason."""
    wanted = [g for g in args.debug_groups.split(",") if g]
    if not wanted:
        return
    est = {g["name"]: g["debug_s"] for g in GROUPS}
    sel = {"build"} & selected | {
        t for g in GROUPS if g["name"] in wanted
        for t, _ in g["tests"]} & selected

    def left():
        return args.budget * 60 - (time.monotonic() - t0) if args.budget \
            else float("inf")

    built = debugkernel.cached() is not None
    need = (0 if built else groups.DEBUG_BUILD_S) + min(
        est[g] for g in wanted)
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
        if group["name"] not in wanted:
            return None      # not selected: run_group runs nothing of it
        if left() < group["debug_s"]:
            return ("%.1f of the %g min budget left, the group needs "
                    "about %.0f on the debug kernel" % (
                        max(0, left()) / 60, args.budget,
                        group["debug_s"] / 60))
        return None
    run_kernel(res, debugkernel.SERIES, args, sel, gate)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="all",
                    choices=list(kernels.SERIES) + [debugkernel.SERIES, "all",
                                                     "none"],
                    help="all: the Debian kernels; %s (built once, about "
                    "12 min) only when named; none: no kernel's guests "
                    "(the host tests, --distro)" % debugkernel.SERIES)
    ap.add_argument("--qemu", default="host", choices=qemus.NAMES,
                    help="the QEMU the guests run on: this machine's, or "
                    "the one trixie or sid ships, run from that suite's "
                    "cached chroot (qemus.py); --plan ci picks per kernel")
    ap.add_argument("--driver", default="fastballoon",
                    choices=["fastballoon", "virtio_balloon"])
    ap.add_argument("-k", dest="substr", default="",
                    help="run only tests whose name, or whose group's name, "
                    "contains SUBSTRING")
    ap.add_argument("--groups", default="", metavar="G1,G2",
                    help="run only the tests of these groups (and the "
                    "build); 'core' is ciplan.CORE_GROUPS")
    ap.add_argument("--no-host", action="store_true",
                    help="leave out the host tests (packaging, balloonctl, "
                    "the QEMUs): guests only")
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
    ap.add_argument("--distro", choices=["none", "ci", "all"],
                    help="the distribution guest (t_distro.py: a Debian 13 "
                    "disk image with systemd and DKMS): all its phases, the "
                    "ones make check runs, or none (default: ci with --plan "
                    "ci, else none)")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    args = ap.parse_args(argv)

    names = ["build"] + groups.test_names() + t_libvirt.names()
    known = [g["name"] for g in GROUPS]
    # --groups and -k also name libvirt's tests (t_libvirt.py), which run
    # once per kernel in their own guests, not as a group's boot
    with_lv = GROUPS + [t_libvirt.GROUP]
    groupable = known + [t_libvirt.GROUP["name"]]
    for g in filter(None, args.debug_groups.split(",")):
        if g not in known:
            ap.error("--debug-groups: no group %r (groups: %s)" % (
                g, ", ".join(known)))
    only = []
    for g in filter(None, args.groups.split(",")):
        if g == "core":
            only += ciplan.CORE_GROUPS
        elif g in groupable:
            only.append(g)
        else:
            ap.error("--groups: no group %r (groups: core, %s)" % (
                g, ", ".join(groupable)))
    if args.list:
        print("".join("host/%s\n" % n for n in host_tests.PACKAGING_TESTS) +
              "host/balloonctl\nhost/stale_int3\n" +
              "".join("host/qemu/%s\n" % n for n in qemus.NAMES) +
              "".join("%s\n" % n for n in t_distro.names()) +
              "\n".join(names))
        return 0
    selected = {n for n in names if args.substr in n} | {
        t for g in with_lv if args.substr in g["name"]
        for t, _ in g["tests"]}
    if only:
        selected &= {"build"} | {t for g in with_lv if g["name"] in only
                                 for t, _ in g["tests"]}
    t0 = time.monotonic()
    res = Results()
    # The host tests do not depend on the kernel: a debug kernel run
    # (make check-debug, after make check) does not repeat them.
    host = args.kernel != debugkernel.SERIES and not args.no_host
    for name in host_tests.PACKAGING_TESTS:
        if host and args.substr in "host/" + name:
            host_tests.run_packaging(res, name)
    if host and args.substr in "host/balloonctl":
        host_tests.run_tool_tests(res)
    if host and args.substr in "host/stale_int3":
        host_tests.run_console_tests(res)
    qemu_names = [n for n in qemus.NAMES if args.substr in "host/qemu/" + n]
    if host and qemu_names:
        host_tests.run_qemu_tests(res, qemu_names)
    if args.plan == "ci":
        ciplan.run_ci(run_kernel, res, args, selected)
    else:
        for series in ([] if args.kernel == "none" else
                       kernels.series_list(args.kernel)):
            run_kernel(res, series, args, selected, qemu=args.qemu)
    distro = args.distro or ("ci" if args.plan == "ci" else "none")
    if distro != "none" and args.kernel != debugkernel.SERIES:
        t_distro.run(res, {n for n in t_distro.names() if args.substr in n},
                     ci=distro == "ci", keep=args.keep)
    if args.debug_groups:
        run_debug_groups(res, args, selected, t0)
    print("# wall time %.0f s (driver %s)" % (time.monotonic() - t0, args.driver))
    print(res.summary())
    return 1 if res.n["not ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
