#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Build and cache the fastballoon debug kernel (series "6.1-debug").

Debian's linux-source-6.1 with x86_64_defconfig + kvm_guest.config +
selftests/debug/debug.config (KASAN, kmemleak, lockdep, DEBUG_VM, ...),
virtio built in and virtio_balloon as a module.

    python3 selftests/debug/debugkernel.py [--force] [-j N]
    python3 selftests/debug/debugkernel.py --check-config   # configure only

From Python, build() returns an object the test bed (fbqemu) takes where it
takes a KernelImage: .vmlinuz, .kver, .series, .modules, .virtio_stack,
.headers_dir (the built tree: make -C <tree> M=... modules works) and .pkg.

The build lives in ${FASTBALLOON_CACHE:-~/.cache/fastballoon}/debug-6.1/ and
is done once: its stamp is a hash of the linux-source-6.1 package version,
the fragment and this script's recipe; a second call with the same inputs
returns at once.  Stdlib only.
"""

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "selftests", "qemu"))
import fbqemu  # noqa: E402
from fbqemu import FbError  # noqa: E402

SERIES = "6.1-debug"
SOURCE_PKG = "linux-source-6.1"
SOURCE_TAR = fbqemu.LINUX_SOURCE_TAR
TOP = "linux-source-6.1"                 # the tarball's top directory
FRAGMENT = os.path.join(HERE, "debug.config")
BASE_TARGETS = ("x86_64_defconfig", "kvm_guest.config")
# Bump when the steps below change in a way that changes the result.
RECIPE = "1"
# What the test bed takes from the tree besides bzImage.
MODULES = {"virtio_balloon": "drivers/virtio/virtio_balloon.ko"}


class DebugPkg:
    """Stands in for kernels.KernelPkg: what the kernel was made from."""

    def __init__(self, kver, tree, source_version):
        self.series = SERIES
        self.kver = kver
        self.image = "%s %s + debug.config" % (SOURCE_PKG, source_version)
        self.headers = SOURCE_PKG        # named by "not installed" messages
        self.headers_dir = tree


class DebugKernel(fbqemu.KernelImage):
    """The built debug kernel: a KernelImage (vmlinuz and modules/ under
    @root; virtio is built in, so its virtio_stack is empty) plus what the
    test bed should do differently with it."""

    # Kernel command line words the guest gets on top of the test bed's:
    # a WARN (lockdep, DEBUG_VM, DEBUG_LIST, debugobjects) is a panic, so a
    # run cannot go on past one; kmemleak is on by default, said anyway.
    # pci=noacpi: under TCG this kernel interprets AML so slowly that the
    # PCI _PRT method of QEMU's i440fx DSDT (a loop over every slot) hits
    # ACPICA's 30 s loop timeout (AE_AML_LOOP_TIMEOUT); the balloon device
    # then has no INTx ("PCI INT A: no GSI"), no config interrupt reaches
    # the driver and the balloon never moves.  SeaBIOS's $PIR table routes
    # the interrupts instead, and boot is 30 s shorter.
    # no5lvl: 4-level paging.  With -cpu max, TCG offers LA57, and this
    # kernel clears boot_cpu_data's feature bits for a moment in
    # identify_cpu() while interrupts are already on and before the
    # alternatives are patched.  A timer interrupt in that window sees
    # pgtable_l5_enabled() false, KASAN takes a 5-level direct-map address
    # for a wild one, and panic_on_warn ends the boot (CI hit it once:
    # "wild-memory-access in do_raw_spin_lock" at 2.3 s, before init).
    cmdline = "panic_on_warn=1 kmemleak=on pci=noacpi no5lvl"
    # The test bed scans for leaks at the end of each boot (kmemleak_scan).
    kmemleak = True
    # Factor on every guest timeout (boot, commands, balloon waits).
    timeout_scale = 4

    def __init__(self, root, info):
        self.info = info                 # build-info.json
        self.tree = os.path.join(root, TOP)
        super().__init__(DebugPkg(info["kver"], self.tree,
                                  info["source_version"]), root)

    @staticmethod
    def kmemleak_scan(guest):
        return kmemleak_scan(guest)


KMEMLEAK = "/sys/kernel/debug/kmemleak"


def kmemleak_scan(guest, scans=2):
    """Scan twice, 6 s apart (kmemleak never reports an object younger
    than 5 s, and a pointer may sit in a register or stack through one
    scan), and return what /sys/kernel/debug/kmemleak lists: empty when
    no leak is suspected."""
    for i in range(scans):
        if i:
            time.sleep(6)
        guest.sh("echo scan > " + KMEMLEAK, timeout=600)
    return guest.sh("cat " + KMEMLEAK, timeout=120)


# ------------------------------------------------------------ the inputs

def cache_root():
    return os.path.join(fbqemu.cache_dir(), "debug-6.1")


def source_version():
    """linux-source-6.1's package version, or the tarball's size and mtime
    when dpkg does not know it (a tarball put there by hand)."""
    if not os.path.exists(SOURCE_TAR):
        raise FbError("%s missing: apt-get install %s" % (SOURCE_TAR, SOURCE_PKG))
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", SOURCE_PKG],
                       capture_output=True, text=True, check=False)
    if p.returncode == 0 and p.stdout.strip():
        return p.stdout.strip()
    st = os.stat(SOURCE_TAR)
    return "tar-%d-%d" % (st.st_size, int(st.st_mtime))


def cache_key(version):
    h = hashlib.sha256()
    for part in (RECIPE, version, " ".join(BASE_TARGETS)):
        h.update(part.encode() + b"\0")
    with open(FRAGMENT, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def wanted_options(path=FRAGMENT):
    """{CONFIG_X: value} the fragment asks for; "n" for "is not set"."""
    want = {}
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            m = re.fullmatch(r"# (CONFIG_\w+) is not set", ln)
            if m:
                want[m.group(1)] = "n"
                continue
            if not ln or ln.startswith("#"):
                continue
            m = re.fullmatch(r"(CONFIG_\w+)=(.*)", ln)
            if not m:
                raise FbError("%s: cannot read line %r" % (path, ln))
            want[m.group(1)] = m.group(2)
    return want


def read_config(path):
    have = {}
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            m = re.fullmatch(r"# (CONFIG_\w+) is not set", ln)
            if m:
                have[m.group(1)] = "n"
            elif ln.startswith("CONFIG_"):
                k, _, v = ln.partition("=")
                have[k] = v
    return have


def config_mismatches(dotconfig, fragment=FRAGMENT):
    """Lines of the fragment the final .config does not honour."""
    have = read_config(dotconfig)
    bad = []
    for k, v in wanted_options(fragment).items():
        got = have.get(k, "n")          # absent = not set (or not existing)
        if got != v:
            bad.append("%s: asked %s, got %s%s" % (
                k, v, got, "" if k in have else " (absent: unmet dependency "
                "or no such option in 6.1)"))
    return bad


# ------------------------------------------------------------- the steps

def _nice(cmd):
    return ["nice", "-n", "19"] + cmd


def _make(tree, args, logf, jobs=None):
    cmd = ["make", "-C", tree]
    if jobs:
        cmd.append("-j%d" % jobs)
    logf.write("\n$ %s\n" % " ".join(cmd + args))
    logf.flush()
    p = subprocess.run(_nice(cmd + args), stdout=logf, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL)
    if p.returncode:
        raise FbError("make %s failed (exit %d); see %s" % (
            " ".join(args), p.returncode, logf.name))


def configure(tree, logf):
    """defconfig + kvm_guest.config + the fragment, then verify it took."""
    _make(tree, list(BASE_TARGETS), logf)
    logf.write("\n$ merge_config.sh -m .config %s\n" % FRAGMENT)
    logf.flush()
    p = subprocess.run(["scripts/kconfig/merge_config.sh", "-m", "-O", tree,
                        ".config", FRAGMENT], cwd=tree, stdout=logf,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if p.returncode:
        raise FbError("merge_config.sh failed; see %s" % logf.name)
    _make(tree, ["olddefconfig"], logf)
    bad = config_mismatches(os.path.join(tree, ".config"))
    if bad:
        raise FbError("debug.config not honoured by make olddefconfig:\n  " +
                      "\n  ".join(bad))


class _LoadWatch:
    """Samples the machine's load while the build runs: the build time
    means little without it (QEMU tests may share the machine)."""

    def __init__(self, period=15):
        self.period = period
        self.samples = []           # (1-min loadavg, QEMU processes)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _qemus():
        n = 0
        for d in glob.glob("/proc/[0-9]*/comm"):
            try:
                with open(d) as f:
                    n += f.read().startswith("qemu-system")
            except OSError:
                pass
        return n

    def _loop(self):
        while not self._stop.is_set():
            with open("/proc/loadavg") as f:
                self.samples.append((float(f.read().split()[0]), self._qemus()))
            self._stop.wait(self.period)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def summary(self):
        if not self.samples:
            return {}
        loads = [s[0] for s in self.samples]
        busy = sum(1 for s in self.samples if s[1])
        return {"load_avg_mean": round(sum(loads) / len(loads), 2),
                "load_avg_max": max(loads),
                "qemu_running_fraction": round(busy / len(self.samples), 2)}


def _prune(tree):
    """Drop what neither the test bed nor an out-of-tree module build reads:
    the kernel's object files (scripts/ and tools/ keep theirs: modpost and
    objtool are built there)."""
    freed = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = os.path.relpath(dirpath, tree)
        if rel.split(os.sep)[0] in ("scripts", "tools"):
            continue
        for fn in filenames:
            if fn.endswith((".o", ".a")):
                p = os.path.join(dirpath, fn)
                freed += os.path.getsize(p)
                os.unlink(p)
    return freed


def du(path):
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True,
                         check=False).stdout.split()
    return int(out[0]) if out else 0


@contextlib.contextmanager
def _locked(path):
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached(root=None):
    """The cached kernel if its stamp matches the inputs, else None."""
    root = root or cache_root()
    key = cache_key(source_version())
    if not fbqemu._stamp_ok(os.path.join(root, ".done"), key):
        return None
    with open(os.path.join(root, "build-info.json")) as f:
        return DebugKernel(root, json.load(f))


def build(log=print, force=False, jobs=None, prune=True):
    """Return the debug kernel, building it first unless it is cached."""
    root = cache_root()
    os.makedirs(os.path.dirname(root), exist_ok=True)
    with _locked(root + ".lock"):
        if not force:
            k = cached(root)
            if k:
                return k
        version = source_version()
        key = cache_key(version)
        jobs = jobs or os.cpu_count() or 2
        log("building the debug kernel from %s %s in %s (nice -n 19, -j%d)" %
            (SOURCE_PKG, version, root, jobs))
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "modules"))
        tree = os.path.join(root, TOP)
        times = {}
        t0 = time.monotonic()
        with open(os.path.join(root, "build.log"), "w") as logf, \
                _LoadWatch() as load:
            subprocess.run(_nice(["tar", "-xJf", SOURCE_TAR, "-C", root]),
                           check=True)
            times["extract_s"] = round(time.monotonic() - t0, 1)
            t = time.monotonic()
            configure(tree, logf)
            times["configure_s"] = round(time.monotonic() - t, 1)
            log("configured (%s); compiling" % ", ".join(
                "%s %s" % kv for kv in times.items()))
            t = time.monotonic()
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            _make(tree, ["bzImage", "modules"], logf, jobs)
            times["compile_s"] = round(time.monotonic() - t, 1)
            ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU seconds: what the build costs whatever else runs; on an
            # idle machine the wall clock is about this over nproc.
            times["compile_cpu_s"] = round(ru2.ru_utime + ru2.ru_stime -
                                           ru.ru_utime - ru.ru_stime, 1)
        times["total_s"] = round(time.monotonic() - t0, 1)
        kver = subprocess.run(["make", "-s", "-C", tree, "kernelrelease"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        shutil.copy(os.path.join(tree, "arch", "x86", "boot", "bzImage"),
                    os.path.join(root, "vmlinuz"))
        for name, rel in MODULES.items():
            shutil.copy(os.path.join(tree, rel),
                        os.path.join(root, "modules", name + ".ko"))
        size_built = du(root)
        freed = _prune(tree) if prune else 0
        info = dict(times, kver=kver, series=SERIES, source_version=version,
                    jobs=jobs, nproc=os.cpu_count(), niced=19,
                    cache_bytes_built=size_built, cache_bytes=du(root),
                    pruned_bytes=freed, load=load.summary(),
                    built_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        with open(os.path.join(root, "build-info.json"), "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
        fbqemu._write(os.path.join(root, ".done"), key)
        return DebugKernel(root, info)


def check_config_only(log=print):
    """Configure a scratch copy of the tree and verify the fragment; the
    cheap way to see whether an edited debug.config holds (~1 min)."""
    scratch = os.path.join(fbqemu.cache_dir(), "debug-6.1-config")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    try:
        subprocess.run(["tar", "-xJf", SOURCE_TAR, "-C", scratch], check=True)
        tree = os.path.join(scratch, TOP)
        with open(os.path.join(scratch, "config.log"), "w") as logf:
            configure(tree, logf)
        log("debug.config: all %d options hold" % len(wanted_options()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _mib(n):
    return "%.0f MiB" % (n / (1 << 20))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true",
                    help="rebuild even when the cache is current")
    ap.add_argument("-j", dest="jobs", type=int, default=None,
                    help="make jobs (default: nproc)")
    ap.add_argument("--no-prune", action="store_true",
                    help="keep the object files in the cached tree")
    ap.add_argument("--check-config", action="store_true",
                    help="only configure a scratch tree and check the fragment")
    args = ap.parse_args(argv)
    try:
        if args.check_config:
            check_config_only()
            return 0
        t0 = time.monotonic()
        k = build(force=args.force, jobs=args.jobs, prune=not args.no_prune,
                  log=lambda s: print("# " + s, flush=True))
        took = time.monotonic() - t0
    except (FbError, subprocess.CalledProcessError) as e:
        print("debugkernel: %s" % e, file=sys.stderr)
        return 1
    i = k.info
    print("path     %s" % k.root)
    print("vmlinuz  %s" % k.vmlinuz)
    print("tree     %s" % k.tree)
    print("release  %s" % k.kver)
    print("build    %.0f s (extract %.0f, configure %.0f, compile %.0f; -j%d "
          "nice 19; load mean %s max %s, QEMU running %d%% of the time)%s" % (
              i["total_s"], i["extract_s"], i["configure_s"], i["compile_s"],
              i["jobs"], i["load"].get("load_avg_mean"),
              i["load"].get("load_avg_max"),
              100 * i["load"].get("qemu_running_fraction", 0),
              "" if took > 60 else ", cached %s (this call %.1f s)" % (
                  i["built_at"], took)))
    if "compile_cpu_s" in i:
        print("cpu      %.0f s of CPU for the compile (idle %d-core machine: "
              "about %.0f s of wall clock)" % (
                  i["compile_cpu_s"], i["nproc"],
                  i["compile_cpu_s"] / max(1, min(i["jobs"], i["nproc"]))))
    print("cache    %s (%s before pruning objects)" % (
        _mib(i["cache_bytes"]), _mib(i["cache_bytes_built"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
