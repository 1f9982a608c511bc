#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Side-by-side benchmark: in-tree virtio_balloon vs fastballoon.

    python3 selftests/bench/bench.py [--kernel 6.1|6.12|trixie|sid|all]
        [--cpu MODEL]... [--reps 3] [--only SCENARIO] [--json out.json]
        [--driver-rev REV] [--list]

For each kernel, CPU model and scenario, a 2 GiB, 2-vCPU TCG guest is
booted once with each driver and the scenario is repeated --reps times in
it; every figure is printed for both drivers with their ratio (>1:
fastballoon is better), as medians, beside the limit measured in the same
boot (the guest taking and zeroing the memory on all its vCPUs, the host's
discards for that path).  Runs that went wrong (target not reached, WARN or
oops on the guest console, OOM kill, driver not bound) are reported and
left out, never averaged in.  Timing decides nothing: the exit status is
0 when every run completed, 1 when some run broke or the module did not
build, 2 on bad usage.  README.md beside this file explains each figure.
"""

import argparse
import contextlib
import datetime
import glob
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qemu"))
sys.path.insert(0, HERE)
import fbqemu  # noqa: E402
import kernels  # noqa: E402
import report  # noqa: E402
from rig import FAST, IN_TREE, Broken, Rig, read_nr_hugepages  # noqa: E402
from scenarios import BY_NAME, SCENARIOS, run_rep  # noqa: E402

GUEST_SRC = os.path.join(HERE, "guest")
HOST_SRC = os.path.join(HERE, "host")
KMOD_SRC = os.path.join(HERE, "kmod")
KMOD = "fbb_zero"
DRIVER_PATHS = ("Kbuild", "driver", "include")
# The CPU models every scenario runs on: QEMU's "max", and "max" without
# ERMS and FSRM, whose rep stosb TCG runs a byte at a time; without them
# the guest zeroes with rep stosq, closer to a real host's proportions
# (FACTS, "TCG and zeroing").
CPUS = ("max", "max,-erms,-fsrm")


def log(msg):
    print("# " + msg, flush=True)


def bench_cache():
    d = os.path.join(fbqemu.cache_dir(), "bench")
    os.makedirs(d, exist_ok=True)
    return d


# ------------------------------------------------------------- building

def git(*args):
    return subprocess.run(["git", "-C", fbqemu.REPO] + list(args),
                          capture_output=True, text=True, check=False)


def sources_sha(root):
    """sha256 over the driver's sources (not build output) under @root."""
    h = hashlib.sha256()
    files = []
    for p in DRIVER_PATHS:
        full = os.path.join(root, p)
        if os.path.isfile(full):
            files.append(full)
        for ext in ("*.c", "*.h", "Kbuild", "Makefile"):
            files += glob.glob(os.path.join(full, "**", ext), recursive=True)
    for f in sorted(set(files)):
        h.update(os.path.relpath(f, root).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def export_rev(rev, dst):
    """Unpack the driver as of git @rev into @dst."""
    arch = subprocess.run(["git", "-C", fbqemu.REPO, "archive", rev] +
                          list(DRIVER_PATHS), capture_output=True, check=False)
    if arch.returncode:
        raise fbqemu.FbError("git archive %s: %s" %
                             (rev, arch.stderr.decode().strip()))
    subprocess.run(["tar", "-x", "-C", dst], input=arch.stdout, check=True)


def provenance(rev):
    """What is measured: the revision, and the last commit that changed the
    driver in it (HEAD moves with every selftest commit too)."""
    at = rev or "HEAD"
    c = git("rev-parse", "--short=12", at).stdout.strip()
    last = git("log", "-1", "--format=%h %s", at, "--",
               *DRIVER_PATHS).stdout.strip()
    if rev:
        return {"source": "git " + rev, "commit": c, "dirty": False,
                "driver_commit": last}
    dirty = bool(git("status", "--porcelain", "--", *DRIVER_PATHS).stdout.strip())
    return {"source": "working tree", "commit": c, "dirty": dirty,
            "driver_commit": last,
            "sources_sha256": sources_sha(fbqemu.REPO)}


def describe(prov):
    s = "%s at %s" % (prov["source"], prov["commit"])
    if prov.get("driver_commit"):
        s += " (driver last changed in %s)" % prov["driver_commit"]
    if prov.get("dirty"):
        s += " + uncommitted changes (sources sha256 %s)" % prov["sources_sha256"]
    return s


def build_module(kimg, rev):
    """Build fastballoon.ko for @kimg from @rev (None: the working tree).

    Builds under the bench's own cache directory (the selftest runner
    rebuilds its own copy at will) and keeps the .ko there.  Returns
    (path or None, problems, provenance).  A working tree that does not
    build falls back to HEAD, loudly.
    """
    kodir = os.path.join(bench_cache(), kimg.kver)
    os.makedirs(kodir, exist_ok=True)
    tries = [rev] if rev else [None, "HEAD"]
    problems = []
    with builds_in_bench_cache(kimg):
        for r in tries:
            prov = provenance(r)
            with tempfile.TemporaryDirectory() as tmp:
                src = fbqemu.REPO
                if r:
                    export_rev(r, tmp)
                    src = tmp
                if not fbqemu.driver_sources_present(src):
                    problems.append("%s: no Kbuild or driver/*.c" % describe(prov))
                    continue
                b = fbqemu.build_module(kimg, repo=src)
            if b.ko:
                ko = os.path.join(kodir, "fastballoon.ko")
                shutil.copy(b.ko, ko)
                prov["warnings"] = b.problems
                if problems:
                    prov["fallback_because"] = problems
                return ko, problems + b.problems, prov
            problems.append("%s does not build: %s" % (
                describe(prov), " | ".join(b.problems[:6])))
    return None, problems, provenance(rev)


@contextlib.contextmanager
def builds_in_bench_cache(kimg):
    """fbqemu builds in the bench's cache meanwhile (the selftest runner
    rebuilds its own at will).  A suite's kernel (trixie, sid) builds
    inside its chroot, which lives in the test bed's cache: only the
    host's kernels move."""
    old = os.environ.get("FASTBALLOON_CACHE")
    if not getattr(kimg.pkg, "suite", None):
        os.environ["FASTBALLOON_CACHE"] = bench_cache()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FASTBALLOON_CACHE", None)
        else:
            os.environ["FASTBALLOON_CACHE"] = old


def build_kmod(kimg):
    """fbb_zero.ko (the guest's limit) for @kimg, built the way
    fastballoon.ko is (W=1; a suite's kernel in its chroot).  Returns
    (path or None, problems)."""
    with builds_in_bench_cache(kimg):
        b = fbqemu.build_module(kimg, repo=KMOD_SRC, module=KMOD)
    if not b.ok:
        return None, ["%s.ko: %s" % (KMOD, p) for p in b.problems[:6]]
    ko = os.path.join(bench_cache(), kimg.kver, KMOD + ".ko")
    os.makedirs(os.path.dirname(ko), exist_ok=True)
    shutil.copy(b.ko, ko)
    return ko, []


def build_programs(src, sub, static):
    """Compile every @src/*.c into the bench cache's @sub; return that."""
    out = os.path.join(bench_cache(), sub)
    os.makedirs(out, exist_ok=True)
    for c in sorted(glob.glob(os.path.join(src, "*.c"))):
        exe = os.path.join(out, os.path.basename(c)[:-2])
        if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(c):
            continue
        p = subprocess.run(["gcc"] + (["-static"] if static else []) +
                           ["-O2", "-Wall", "-Wextra", "-o", exe, c],
                           capture_output=True, text=True)
        if p.returncode or p.stderr.strip():
            if os.path.exists(exe):
                os.unlink(exe)
            raise fbqemu.FbError("building %s:\n%s" % (c, p.stderr))
    return out


# -------------------------------------------------------------- running

def run_driver(kimg, initrd, scen, driver, reps, tag, cmdline="",
               boot_per_rep=False, cpu="max", host_bin=None, fb_knobs=None):
    """All reps of @scen with @driver: one boot (a fresh one after a break,
    or for every rep with @boot_per_rep or a @scen that wants it)."""
    boot_per_rep = boot_per_rep or scen.fresh_boot
    runs = {"reps": [], "boots": []}
    rig = None
    logdir = os.path.join(bench_cache(), "logs")
    try:
        for i in range(reps):
            t0 = time.monotonic()
            name = "%s-%s-%s-rep%d" % (tag, scen.name, driver, i + 1)
            try:
                if rig is None:
                    rig = Rig(kimg, initrd, driver, props=scen.props,
                              hugetlb=scen.hugetlb, logdir=logdir,
                              tag="%s-%s-%s" % (tag, scen.name, driver),
                              cmdline=cmdline, cpu=cpu, host_bin=host_bin,
                              fb_knobs=fb_knobs)
                    rig.boot()
                    runs["boots"].append(rig.info)
                figs, notes = run_rep(rig, scen)
                runs["reps"].append({"figures": figs, "notes": notes,
                                     "broken": None,
                                     "wall_s": round(time.monotonic() - t0, 1)})
                shown = ["%s=%s" % (f.key, report.fmt_val(f, figs.get(f.key)))
                         for f in scen.figures[:3] if f.key in figs]
                log("%s: %s (%.0f s)" % (name, " ".join(shown),
                                         time.monotonic() - t0))
                if boot_per_rep:
                    rig.save_console("last")
                    rig.stop()
                    rig = None
            except (Broken, fbqemu.FbError, OSError, ValueError) as e:
                # Anything else going wrong in a run is reported like a
                # broken run rather than ending the whole benchmark.
                where = rig.save_console("rep%d" % (i + 1)) if rig else None
                msg = str(e) if isinstance(e, Broken) else \
                    "%s: %s" % (type(e).__name__, e)
                msg += "  [console: %s]" % where if where else ""
                runs["reps"].append({"figures": {}, "notes": [],
                                     "broken": msg,
                                     "wall_s": round(time.monotonic() - t0, 1)})
                log("%s: BROKEN: %s" % (name, msg))
                if rig is not None:
                    rig.stop()
                    rig = None
    finally:
        if rig is not None:
            rig.save_console("last")
            rig.stop()
    return runs


def run_kernel(series, args, scens):
    """Every scenario on @series, once per CPU model: a list of results,
    one per model (one with an "error" when the kernel cannot be had)."""
    base = {"series": series, "scenarios": {},
            "guest_cmdline": args.guest_cmdline, "fb_knobs": args.fb_knob,
            "boot_per_rep": args.boot_per_rep}
    try:
        pkg = kernels.resolve(series)
        kimg = fbqemu.fetch_kernel(pkg, log=log)
    except (LookupError, fbqemu.FbError, subprocess.CalledProcessError) as e:
        return [dict(base, error="cannot get the kernel: %s" % e)]
    base["kver"] = kimg.kver
    log("kernel %s: building fastballoon.ko and %s.ko" % (kimg.kver, KMOD))
    try:
        ko, problems, prov = build_module(kimg, args.driver_rev)
    except fbqemu.FbError as e:
        ko, problems, prov = None, [str(e)], provenance(args.driver_rev)
    try:
        zko, zproblems = build_kmod(kimg)
    except fbqemu.FbError as e:
        zko, zproblems = None, ["%s.ko: %s" % (KMOD, e)]
    if zproblems:
        return [dict(base, error="cannot build the limit's module: " +
                     " | ".join(zproblems))]
    base["driver"] = prov
    base["build_problems"] = problems
    for p in problems:
        log("build: %s" % p)
    log("measuring fastballoon from %s" % describe(prov))
    extra = {KMOD: zko}
    if ko:
        extra[FAST] = ko
    workdir = os.path.join(bench_cache(), kimg.kver)
    initrd = fbqemu.make_initramfs(
        kimg, os.path.join(workdir, "initrd.gz"), extra,
        build_programs(GUEST_SRC, "bin", static=True))
    host_bin = build_programs(HOST_SRC, "host-bin", static=False)
    results = []
    for cpu in args.cpu:
        t0 = time.monotonic()
        kres = dict(base, cpu=cpu, scenarios={})
        for scen in scens:
            by = {}
            for drv in report.DRIVERS:
                if drv == FAST and not ko:
                    by[drv] = {"reps": [], "boots": [],
                               "skipped": "fastballoon.ko not built"}
                    continue
                by[drv] = run_driver(kimg, initrd, scen, drv, args.reps,
                                     "%s-%s" % (series, cpu_tag(cpu)),
                                     args.guest_cmdline, args.boot_per_rep,
                                     cpu, host_bin, args.fb_knob)
            by["summary"] = report.summarise(scen, by)
            kres["scenarios"][scen.name] = by
        kres["wall_s"] = round(time.monotonic() - t0)
        results.append(kres)
        print("\n".join(kernel_header(kres, args.reps) +
                        report.table(kres, scens, args.reps)), flush=True)
    return results


def cpu_tag(cpu):
    """A CPU model as a file name's part: "max", "max-erms-fsrm"."""
    return cpu.replace(",", "").replace("+", "-")


def kernel_header(kres, reps):
    lines = ["", "=" * 100]
    if "error" in kres:
        return lines + ["kernel %s: %s" % (kres["series"], kres["error"])]
    lines.append("kernel %s (%s): fastballoon = %s" % (
        kres["series"], kres["kver"], describe(kres["driver"])))
    boots = [b for s in kres["scenarios"].values() for d in report.DRIVERS
             for b in s.get(d, {}).get("boots", [])]
    thp = sorted({b.get("thp_enabled", "?") for b in boots})
    init = sorted({b.get("mem_auto_init", "?") for b in boots})
    others = max([b.get("other_qemus_at_boot", 0) for b in boots] or [0])
    load = max([b.get("loadavg_at_boot", 0) for b in boots] or [0])
    lines.append("guest: 2 GiB, 2 vCPUs, TCG, -cpu %s; THP enabled=%s; "
                 "mem auto-init: %s" % (kres.get("cpu", "max"), "/".join(thp),
                                        "; ".join(init)))
    lines.append("boots: %s" % ("a fresh guest for every repetition"
                                if kres.get("boot_per_rep") else
                                "one per driver and scenario, repetitions "
                                "follow each other in it (hugetlb and "
                                "fragmented: a fresh guest for each)"))
    lines.append("limit: measured in each boot just before the timed "
                 "inflate; the larger of the guest taking and zeroing the "
                 "memory on all its vCPUs (fbb_zero) and the host's "
                 "discards for fastballoon's path (fbb_discard)")
    if kres.get("fb_knobs"):
        lines.append("fastballoon knobs set: " + " ".join(
            "%s=%s" % kv for kv in sorted(kres["fb_knobs"].items())))
    if kres.get("guest_cmdline"):
        lines.append("guest kernel arguments added: " + kres["guest_cmdline"])
    if kres.get("build_problems"):
        lines.append("build: " + " | ".join(kres["build_problems"][:4]))
    # Our own guests keep the load average near 2: only other QEMUs count.
    lines.append("host: up to %d other QEMU process(es) at boot, load average "
                 "up to %.1f%s" % (others, load,
                                   "  ** timings skewed by other guests **"
                                   if others else ""))
    lines.append("ratio: fastballoon vs in-tree, >1 = fastballoon better; "
                 "targets are for comparison only")
    lines.append("")
    return lines


def jsonable(x):
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return str(x)
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def host_info():
    q = subprocess.run(["qemu-system-x86_64", "--version"],
                       capture_output=True, text=True).stdout.splitlines()
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"qemu": q[0] if q else "?", "host_kernel": platform.release(),
            "cpu": cpu, "cpus": os.cpu_count()}


def show(path):
    with open(path) as f:
        doc = json.load(f)
    reps = doc.get("args", {}).get("reps", 0)
    for kres in doc["kernels"]:
        scens = [s for s in SCENARIOS if s.name in kres.get("scenarios", {})]
        for s in scens:
            by = kres["scenarios"][s.name]
            by["summary"] = report.summarise(s, by)
        lines = kernel_header(kres, reps)
        if "error" not in kres:
            lines += report.table(kres, scens, reps)
        print("\n".join(lines))
    print("\ntotal wall time: %s s (run started %s, host %s)" % (
        doc.get("wall_s"), doc.get("started"), doc.get("host", {}).get("qemu")))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="all",
                    choices=list(kernels.SERIES) + ["all"])
    ap.add_argument("--cpu", action="append", metavar="MODEL",
                    help="QEMU -cpu model to run every scenario on (may be "
                    "repeated; default: %s)" % " and ".join(CPUS))
    ap.add_argument("--reps", type=int, default=3,
                    help="repetitions per driver and scenario (default 3)")
    ap.add_argument("--only", action="append", metavar="SCENARIO",
                    choices=list(BY_NAME),
                    help="run only this scenario (may be repeated)")
    ap.add_argument("--json", metavar="FILE", help="also write results here")
    ap.add_argument("--driver-rev", metavar="REV",
                    help="measure the driver as of this git revision "
                    "(default: the working tree, or HEAD if that does not build)")
    ap.add_argument("--guest-cmdline", default="", metavar="ARGS",
                    help="extra guest kernel arguments, for both drivers "
                    "(e.g. init_on_alloc=0); printed with the results")
    ap.add_argument("--fb-knob", action="append", metavar="NAME=VALUE",
                    default=[], help="set this fastballoon knob (its sysfs "
                    "name) after each boot, e.g. inflate_cpus=1; printed "
                    "with the results")
    ap.add_argument("--boot-per-rep", action="store_true",
                    help="boot a fresh guest for every repetition (default: "
                    "one boot per driver and scenario; later reps then "
                    "inherit the host-side state the earlier ones left)")
    ap.add_argument("--show", metavar="FILE",
                    help="print the tables of an earlier --json FILE again "
                    "and exit (nothing is run)")
    ap.add_argument("--list", action="store_true",
                    help="list the scenarios and exit")
    args = ap.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print("%-15s %s" % (s.name, s.title))
        return 0
    if args.show:
        return show(args.show)
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    args.cpu = args.cpu or list(CPUS)
    knobs = fbqemu.fb_attr_names().values()
    for kv in args.fb_knob:
        k, sep, v = kv.partition("=")
        if not sep or k not in knobs or not re.fullmatch(r"[\w.-]+", v):
            ap.error("--fb-knob %r: want NAME=VALUE with a knob's sysfs name"
                     % kv)
    args.fb_knob = dict(kv.split("=", 1) for kv in args.fb_knob)
    for c in args.cpu:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+(,[+-]?[A-Za-z0-9_.=-]+)*", c):
            ap.error("--cpu %r: not a QEMU CPU model" % c)
    if os.geteuid() != 0:
        print("bench.py: must run as root (QEMU, huge pages)", file=sys.stderr)
        return 2
    scens = [s for s in SCENARIOS if not args.only or s.name in args.only]
    t0 = time.monotonic()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    huge0 = read_nr_hugepages()
    results = []
    for series in kernels.series_list(args.kernel):
        for kres in run_kernel(series, args, scens):
            results.append(kres)
            if "error" in kres:
                print("\n".join(kernel_header(kres, args.reps)), flush=True)
    wall = time.monotonic() - t0
    if read_nr_hugepages() != huge0:
        log("warning: nr_hugepages is %d, was %d at start (someone else?)" %
            (read_nr_hugepages(), huge0))
    print("\ntotal wall time: %.0f s (%.1f min)" % (wall, wall / 60))
    broken = any(r.get("broken") for k in results
                 for s in k.get("scenarios", {}).values()
                 for d in report.DRIVERS for r in s.get(d, {}).get("reps", []))
    failed = any("error" in k or not k.get("scenarios") or
                 any(s.get(FAST, {}).get("skipped")
                     for s in k["scenarios"].values()) for k in results)
    if args.json:
        doc = {"started": started, "wall_s": round(wall),
               "args": vars(args), "host": host_info(),
               "drivers": {"in_tree": IN_TREE, "fast": FAST},
               "kernels": results}
        with open(args.json, "w") as f:
            json.dump(jsonable(doc), f, indent=1, sort_keys=True)
        log("results written to %s" % args.json)
    return 1 if broken or failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
