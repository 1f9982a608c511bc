#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""fastballoon demo: build the module, boot a QEMU guest with it and watch
it inflate and deflate the balloon, guest and host side by side.

    python3 selftests/demo.py [--kernel 6.1|6.12] [--mib 1024] [--ranges]

The guest (2 GiB, TCG) first makes 1.5 GiB resident on the host and frees
it, so the balloon has real memory to hand back. Then the host asks for
--mib MiB over QMP, exactly as `virsh setmem` or QEMU's `balloon` command
would, and the demo prints what the guest's driver holds (whole 2 MiB
blocks, single 4 KiB pages) and what QEMU's process holds, until the
target is reached; then it deflates back.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "qemu"))
import fbqemu      # noqa: E402
import kernels     # noqa: E402

MIB = 1 << 20
FB = fbqemu.fb_attr_names()     # sysfs names from the uapi header


def fb_attr(guest, name):
    return int(guest.sh("cat $(fb-dev)/fastballoon/%s" % name))


def watch(guest, target, label):
    t0 = time.monotonic()
    guest.set_balloon(target)
    last = None
    while True:
        size = guest.balloon_actual()
        blocks = fb_attr(guest, FB["blocks_2m"])
        small = fb_attr(guest, FB["pages_4k"])
        line = ("  %6.2f s  guest size %5d MiB | balloon: %4d x 2 MiB blocks"
                " + %6d x 4 KiB | QEMU RSS %5d MiB, huge pages %5d MiB" %
                (time.monotonic() - t0, size >> 20, blocks, small,
                 guest.rss_kib() >> 10, guest.anon_huge_kib() >> 10))
        if line[12:] != last:
            print(line, flush=True)
            last = line[12:]
        if size == target:
            return time.monotonic() - t0
        if time.monotonic() - t0 > 120:
            raise fbqemu.FbError("%s: target not reached in 120 s" % label)
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="6.12", choices=("6.1", "6.12"))
    ap.add_argument("--mib", type=int, default=1024,
                    help="memory to balloon, MiB (default 1024)")
    ap.add_argument("--ranges", action="store_true",
                    help="offer free page reporting: blocks go as ranges")
    args = ap.parse_args()

    pkg = kernels.resolve(args.kernel)
    print("== kernel %s (%s)" % (pkg.kver, pkg.image))
    kimg = fbqemu.fetch_kernel(pkg)
    build = fbqemu.build_module(kimg)
    if not build.ok:
        print("\n".join(build.problems))
        return 1
    print("== built %s" % build.ko)
    bindir = fbqemu.build_guest_programs()
    initrd = fbqemu.make_initramfs(
        kimg, os.path.join(fbqemu.cache_dir(), "demo-initrd.gz"),
        extra_modules={"fastballoon": build.ko}, bindir=bindir)
    props = {"free-page-reporting": "on"} if args.ranges else {}
    with fbqemu.Guest(kimg, initrd, driver="fastballoon",
                      balloon_props=props) as g:
        print("== guest up in %.1f s; driver bound to %s" %
              (g.boot_seconds, g.sh("basename $(readlink $(fb-dev)/driver)")))
        grp = "$(fb-dev)/fastballoon/"
        print("   negotiated: %s; blocks go by: %s (surrender_path=%s)" %
              (g.sh("cat " + grp + FB["features"]),
               g.sh("cat " + grp + FB["path_active"]),
               g.sh("cat " + grp + FB["surrender_path"])))
        g.sh("FB_MIB=1536 fb_touch", timeout=600)
        print("== guest touched 1536 MiB and freed it: QEMU RSS %d MiB" %
              (g.rss_kib() >> 10))
        full = g.mem_bytes
        rss0 = g.rss_kib()
        print("== host: balloon value=%d MiB (give back %d MiB)" %
              ((full >> 20) - args.mib, args.mib))
        t_in = watch(g, full - args.mib * MIB, "inflate")
        freed = (rss0 - g.rss_kib()) >> 10
        print("== inflated %d MiB in %.2f s; QEMU gave %d MiB back to the host"
              % (args.mib, t_in, freed))
        print("== host: balloon value=%d MiB (give it all back)" %
              (full >> 20))
        t_out = watch(g, full, "deflate")
        print("== deflated in %.2f s" % t_out)
        bad = g.health()
        if bad:
            print("== guest log shows trouble:\n" + "\n".join(bad))
            return 1
        print("== guest log clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
