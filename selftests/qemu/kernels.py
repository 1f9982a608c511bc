#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Resolve the Debian kernel packages the selftests boot and build against.

Versions move (security updates bump the ABI number), so nothing here is
pinned: for each kernel series we take the newest image package that apt
knows about whose matching headers package also exists.

    python3 selftests/qemu/kernels.py            # series, kver, image, headers
    python3 selftests/qemu/kernels.py --headers  # header packages, one a line
    python3 selftests/qemu/kernels.py --kernel 6.12 --images
"""

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass

SERIES = ("6.1", "6.12")

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

    @property
    def headers_dir(self):
        return "/usr/src/linux-headers-" + self.kver


def _apt_names(prefix):
    out = subprocess.run(["apt-cache", "pkgnames", prefix],
                         capture_output=True, text=True, check=False).stdout
    return set(out.split())


def _has_candidate(pkg):
    out = subprocess.run(["apt-cache", "madison", pkg],
                         capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def resolve(series):
    """Return the KernelPkg for @series, or raise LookupError."""
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="all", choices=list(SERIES) + ["all"])
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--headers", action="store_true",
                      help="print header package names, one a line")
    what.add_argument("--images", action="store_true",
                      help="print image package names, one a line")
    args = ap.parse_args(argv)
    rc = 0
    for s in series_list(args.kernel):
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
