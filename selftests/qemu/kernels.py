#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Resolve the Debian kernel packages the selftests boot and build against.

Versions move (security updates bump the ABI number), so nothing here is
pinned: for each kernel series we take the newest image package that apt
knows about whose matching headers package also exists.

6.1 and 6.12 come from the host's own apt (bookworm, bookworm-backports).
"trixie" and "sid" are the newest kernel of that Debian suite (6.12 and
7.2 on 2026-12-01), built for and with that suite's toolchain: they live
in a chroot of the suite that suites.py makes and caches.

    python3 selftests/qemu/kernels.py            # series, kver, image, headers
    python3 selftests/qemu/kernels.py --headers  # header packages, one a line
    python3 selftests/qemu/kernels.py --kernel 6.12 --images
"""

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import suites

HOST_SERIES = ("6.1", "6.12")
SUITE_SERIES = ("trixie", "sid")
SERIES = HOST_SERIES + SUITE_SERIES

# series -> (image package regex, headers package template).  The regex's
# group 1 is the kernel release ("kver") as `uname -r` prints it.
_PATTERNS = {
    "6.1": (r"^linux-image-(6\.1\.0-(\d+)-amd64)$", "linux-headers-{kver}"),
    "6.12": (r"^linux-image-(6\.12\.(\d+)\+deb12-amd64)-unsigned$",
             "linux-headers-{kver}"),
}


@dataclass(frozen=True)
class KernelPkg:
    series: str
    kver: str          # e.g. 6.1.0-56-amd64, 6.12.117+deb12-amd64
    image: str         # package carrying vmlinuz and modules
    headers: str       # package carrying /usr/src/linux-headers-<kver>
    suite: str = None  # the chroot it lives in (suites.py), None: the host

    @property
    def headers_dir(self):
        if self.suite:
            return suites.headers_dir(self.suite, self.kver)
        return "/usr/src/linux-headers-" + self.kver

    @property
    def images(self):
        """The image package(s): sid splits vmlinuz and the modules."""
        return self.image.split()


def _apt_names(prefix):
    out = subprocess.run(["apt-cache", "pkgnames", prefix],
                         capture_output=True, text=True, check=False).stdout
    return set(out.split())


def _has_candidate(pkg):
    out = subprocess.run(["apt-cache", "madison", pkg],
                         capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def resolve(series, log=None):
    """Return the KernelPkg for @series, or raise LookupError. A suite's
    series makes its chroot the first time (minutes: suites.py)."""
    if series in SUITE_SERIES:
        try:
            st = suites.ensure(series, log=log)
        except (suites.SuiteError, subprocess.CalledProcessError,
                OSError) as e:
            raise LookupError("%s: %s" % (series, e))
        return KernelPkg(series, st["kver"], " ".join(st["images"]),
                         st["headers"], suite=series)
    if series not in _PATTERNS:
        raise LookupError("unknown kernel series %r (know: %s)" %
                          (series, ", ".join(SERIES)))
    img_re, hdr_tmpl = _PATTERNS[series]
    images = _apt_names("linux-image-" + series + ".")
    headers = _apt_names("linux-headers-" + series + ".")
    found = []
    for name in images:
        m = re.match(img_re, name)
        if not m:
            continue
        hdr = hdr_tmpl.format(kver=m.group(1))
        if hdr in headers:
            found.append((int(m.group(2)), KernelPkg(series, m.group(1), name, hdr)))
    # Newest first; skip names apt lists but cannot actually install.
    for _, pkg in sorted(found, key=lambda t: t[0], reverse=True):
        if _has_candidate(pkg.image) and _has_candidate(pkg.headers):
            return pkg
    raise LookupError("no linux-image/linux-headers pair found for %s "
                      "(run apt-get update?)" % series)


def series_list(arg):
    return list(SERIES) if arg in (None, "all") else [arg]


def have_chroot_tools():
    """Why the suites' kernels cannot be had here, or None."""
    if os.geteuid() != 0:
        return "not root (debootstrap, chroot)"
    if not any(os.access(os.path.join(d, "debootstrap"), os.X_OK)
               for d in ("/usr/sbin", "/sbin", "/usr/bin")):
        return "debootstrap is not installed (make deps)"
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The default is the host's series: deps.sh apt-installs what --headers
    # prints, and a suite's headers belong in its chroot.
    ap.add_argument("--kernel", default="host",
                    choices=list(SERIES) + ["host", "all"])
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--headers", action="store_true",
                      help="print header package names, one a line")
    what.add_argument("--images", action="store_true",
                      help="print image package names, one a line")
    args = ap.parse_args(argv)
    rc = 0
    for s in HOST_SERIES if args.kernel == "host" else series_list(args.kernel):
        try:
            k = resolve(s)
        except LookupError as e:
            print("kernels.py: %s" % e, file=sys.stderr)
            rc = 1
            continue
        if args.headers:
            print(k.headers)
        elif args.images:
            print(k.image)
        else:
            print(k.series, k.kver, k.image, k.headers)
    return rc


if __name__ == "__main__":
    sys.exit(main())
