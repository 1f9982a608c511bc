#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The QEMU a guest runs on: this machine's (bookworm: 7.2) or the one a
newer Debian suite ships (trixie: 10.0, sid: 11.1), run out of that
suite's cached chroot (suites.py) with the suite's own libraries,
firmware and modules.

A suite's QEMU is not started through chroot(8): the guest's kernel,
initramfs, console file and sockets are host paths, and a chroot would
need each of them mounted. Instead the chroot's own dynamic loader runs
the chroot's qemu-system-x86_64 with the chroot's libraries
(--library-path), firmware (-L, seabios first: Debian's
/usr/share/qemu/bios-256k.bin is a link into /usr/share/seabios) and
modules (QEMU_MODULE_DIR): nothing of the host's QEMU is used.

    python3 selftests/qemu/qemus.py trixie     # make or reuse, print it
"""

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suites  # noqa: E402

NAMES = ("host", "trixie", "sid")
PACKAGE = "qemu-system-x86"
_VERSION_RE = re.compile(r"QEMU emulator version (\d+)\.(\d+)\.(\d+)")


class QemuError(Exception):
    pass


@dataclass(frozen=True)
class Qemu:
    name: str          # "host" or a suite of NAMES
    argv: tuple        # what starts qemu-system-x86_64
    version: tuple     # (major, minor, micro)
    package: str       # the Debian package's version

    @property
    def vstr(self):
        return "%d.%d.%d" % self.version

    @property
    def label(self):
        """What result lines add to a kernel's name for a guest on this
        QEMU ("" for the host's)."""
        return "" if self.name == "host" else "@qemu-%d.%d" % self.version[:2]


def suite_argv(root):
    """The command that runs the QEMU installed in the chroot @root."""
    libs = ":".join(os.path.join(root, d) for d in (
        "usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
    return ("env", "QEMU_MODULE_DIR=" + os.path.join(
                root, "usr/lib/x86_64-linux-gnu/qemu"),
            os.path.join(root, "lib64/ld-linux-x86-64.so.2"),
            "--library-path", libs, "--argv0", "qemu-system-x86_64",
            os.path.join(root, "usr/bin/qemu-system-x86_64"),
            "-L", os.path.join(root, "usr/share/seabios"),
            "-L", os.path.join(root, "usr/share/qemu"))


def parse_version(text):
    m = _VERSION_RE.search(text)
    if not m:
        raise QemuError("no 'QEMU emulator version' in %r" % text[:200])
    return tuple(int(n) for n in m.groups())


def _probe(name, argv):
    p = subprocess.run(list(argv) + ["--version"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        raise QemuError("%s's qemu-system-x86_64 --version exited %d: %s" % (
            name, p.returncode, p.stdout.strip()[:300]))
    return parse_version(p.stdout)


def _host_package():
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def _stamp(suite):
    return os.path.join(suites.root_of(suite), ".fb-qemu.json")


def ensure(name="host", log=print):
    """The QEMU @name (one of NAMES): for a suite, its chroot is made
    (suites.ensure) and gets qemu-system-x86 once; its version is probed
    by running it."""
    if name not in NAMES:
        raise QemuError("unknown QEMU %r (know: %s)" % (name, ", ".join(NAMES)))
    if name == "host":
        argv = ("qemu-system-x86_64",)
        return Qemu(name, argv, _probe(name, argv), _host_package())
    suites.ensure(name, log=log)
    root = suites.root_of(name)
    try:
        with open(_stamp(name)) as f:
            pkg = json.load(f)["package"]
    except (OSError, ValueError, KeyError):
        pkg = None
    if pkg is None:
        if log:
            log("%s: installing %s" % (name, PACKAGE))
        failed = suites.apt_install(root, [PACKAGE])
        if failed:
            raise QemuError("%s: apt-get install %s failed:\n%s" % (
                name, PACKAGE, failed))
        pkg = suites.in_chroot(name, ["dpkg-query", "-W", "-f", "${Version}",
                                      PACKAGE], stdout=subprocess.PIPE,
                               text=True).stdout.strip()
        with open(_stamp(name), "w") as f:
            json.dump({"package": pkg}, f)
    argv = suite_argv(root)
    return Qemu(name, argv, _probe(name, argv), pkg)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", nargs="+", choices=NAMES)
    args = ap.parse_args(argv)
    rc = 0
    for n in args.name:
        try:
            q = ensure(n, log=lambda m: print(m, file=sys.stderr, flush=True))
        except (QemuError, suites.SuiteError,
                subprocess.CalledProcessError) as e:
            print("qemus.py: %s" % e, file=sys.stderr)
            rc = 1
            continue
        print("%s %s (%s) %s" % (n, q.vstr, q.package, " ".join(q.argv)))
    return rc


if __name__ == "__main__":
    sys.exit(main())
