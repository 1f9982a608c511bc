#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Smoke test of fastballoon on the debug kernel (or a Debian one, to compare).

    python3 selftests/debug/smoke.py [--kernel 6.1-debug|6.1|6.12] [--mib N]

Builds fastballoon.ko against the kernel with W=1, boots a 2 GiB guest with
panic_on_warn=1 (and kmemleak, on the debug kernel) and the driver not yet
loaded; takes kmemleak's view of boot as the baseline (scan, print, clear);
then loads fastballoon, inflates and deflates N MiB through QMP twice,
reloads the module and does it again, unloads it, and scans twice.

Prints the boot time, each inflate/deflate time, the kernel log problems and
what kmemleak reports.  Exit status 0 only when the build is warning-free,
the console is clean and kmemleak reports nothing new.
"""

import argparse
import shutil
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import debugkernel  # noqa: E402  (puts selftests/qemu on sys.path)
import fbqemu  # noqa: E402
import kernels  # noqa: E402

MIB = 1 << 20
GUEST_MIB = 2048
KMEMLEAK = debugkernel.KMEMLEAK


def get_kernel(series):
    if series == debugkernel.SERIES:
        return debugkernel.build(log=lambda s: print("# " + s, flush=True))
    return fbqemu.fetch_kernel(kernels.resolve(series))


def kmemleak_scan(g):
    """What kmemleak reports after two scans, and the time a scan took."""
    t0 = time.monotonic()
    out = debugkernel.kmemleak_scan(g)
    return out, (time.monotonic() - t0 - 6) / 2


def cycle(g, mib, label, out):
    full = GUEST_MIB * MIB
    t0 = time.monotonic()
    g.set_balloon(full - mib * MIB)
    g.wait_balloon(full - mib * MIB, timeout=900)
    t_in = time.monotonic() - t0
    t0 = time.monotonic()
    g.set_balloon(full)
    g.wait_balloon(full, timeout=900)
    t_out = time.monotonic() - t0
    out.append((label, t_in, t_out))
    print("%-22s inflate %4d MiB %6.2f s   deflate %6.2f s" %
          (label, mib, t_in, t_out), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default=debugkernel.SERIES,
                    choices=[debugkernel.SERIES] + list(kernels.SERIES))
    ap.add_argument("--mib", type=int, default=1024,
                    help="MiB to inflate each time (default 1024)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    debug = args.kernel == debugkernel.SERIES
    failed = []

    k = get_kernel(args.kernel)
    print("# kernel %s %s" % (k.kver, k.vmlinuz), flush=True)
    t0 = time.monotonic()
    b = fbqemu.build_module(k)
    print("# build W=1: %s in %.1f s" % ("clean" if b.ok else "NOT CLEAN",
                                         time.monotonic() - t0), flush=True)
    for ln in b.problems:
        print("#   " + ln)
    if not b.ko:
        print(b.log[-3000:])
        return 1
    if not b.ok:
        failed.append("build")
    work = os.path.join(fbqemu.cache_dir(), "run", "smoke-" + k.kver)
    os.makedirs(work, exist_ok=True)
    initrd = fbqemu.make_initramfs(k, os.path.join(work, "initrd.gz"),
                                   {fbqemu.FB_MODULE: b.ko})
    # The debug kernel brings its own words (panic_on_warn=1 kmemleak=on)
    # fbqemu honours KernelImage.cmdline; say them here
    # too, for a test bed without the hook.
    cmdline = getattr(k, "cmdline", "panic_on_warn=1")
    g = fbqemu.Guest(k, initrd, mem_mib=GUEST_MIB, driver=None,
                     cmdline=cmdline, keep=args.keep)
    times = []
    try:
        g.boot(timeout=900)
        print("# boot %.1f s (to the agent's first answer)" % g.boot_seconds,
              flush=True)
        print("# cmdline " + g.sh("cat /proc/cmdline"))
        if debug:
            base, took = kmemleak_scan(g)
            print("# kmemleak baseline after boot (scan %.1f s): %s" % (
                took, "nothing" if not base.strip() else "\n" + base),
                flush=True)
            g.sh("echo clear > %s" % KMEMLEAK)
        mt = g.meminfo()["MemTotal"]
        print("# MemTotal %d MiB" % (mt >> 10))
        for rnd in (1, 2):
            g.sh("insmod /lib/fb/fastballoon.ko", timeout=300)
            cycle(g, args.mib, "load %d, cycle 1" % rnd, times)
            cycle(g, args.mib, "load %d, cycle 2" % rnd, times)
            # Unload holding a balloon: every page must come back.
            g.set_balloon(GUEST_MIB * MIB - 256 * MIB)
            g.wait_balloon(GUEST_MIB * MIB - 256 * MIB, timeout=900)
            g.sh("rmmod fastballoon", timeout=300)
            if g.meminfo()["MemTotal"] != mt:
                failed.append("MemTotal after rmmod %d" % rnd)
            g.set_balloon(GUEST_MIB * MIB)
        if debug:
            leaks, took = kmemleak_scan(g)
            print("# kmemleak at the end (scan %.1f s): %s" % (
                took, "nothing" if not leaks.strip() else "\n" + leaks),
                flush=True)
            if leaks.strip():
                failed.append("kmemleak")
            print("# kmemleak state: %s" % g.sh(
                "dmesg | grep -i kmemleak | tail -5"))
        fb_lines = g.sh("dmesg | grep -i fastballoon | head -40")
        print("# dmesg, fastballoon lines:\n" + fb_lines)
        # A PROVE_LOCKING kernel says "RCU lockdep checking is enabled." at
        # every boot, which fbqemu's "lockdep" pattern takes for a problem
        # (fbqemu's pattern leaves it out).
        bad = [ln for ln in g.health(0)
               if "RCU lockdep checking is enabled" not in ln]
        if bad:
            failed.append("console")
            print("# CONSOLE PROBLEMS:\n" + "\n".join(bad))
    except fbqemu.FbError as e:
        failed.append("%s: %s" % (type(e).__name__, e))
        print("# guest failed: %s\n# console tail:\n%s" % (e, g.console_tail(80)))
    finally:
        log = os.path.join(work, "console.log")
        try:
            shutil.copy(g.console, log)
            print("# console log: " + log)
        except OSError:
            pass
        g.shutdown()
    print("# result: %s" % ("ok" if not failed else "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
