#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Debian suites beyond the host's: a cached chroot per suite for its
toolchain, its kernel headers and its kernel image.

A kernel newer than bookworm's needs the compiler it was built with, so
fastballoon is built inside a minbase chroot of that kernel's suite, made by
debootstrap into $FASTBALLOON_CACHE/suites/<suite> (so CI caches it with the
kernel images). The host's apt sources are never touched: the chroot has
its own. Nothing is pinned: the chroot's apt picks the newest kernel whose
headers package exists, installs those headers (and gcc, make, dkms where
wanted), and downloads the image package(s) for booting.

    python3 selftests/qemu/suites.py sid          # make or reuse, print it
    python3 selftests/qemu/suites.py --refresh sid  # a newer kernel, if any
    python3 selftests/qemu/suites.py --build sid  # W=1 build inside it

Needs root (debootstrap, chroot) and the debootstrap package.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Suite:
    name: str
    # what the chroot gets on top of minbase and the kernel headers (apt
    # resolves the versions)
    packages: tuple
    about: str


# Building a module: gcc and make (the headers package pulls in the gcc its
# kernel was built with), perl for W=1's kernel-doc (minbase has perl-base
# only, without Pod::Usage), kmod and xz/zstd for the modules.
_BUILD = ("gcc", "make", "libc6-dev", "perl", "kmod", "xz-utils", "zstd")

SUITES = {
    # dkms: selftests/packaging runs dkms add/build/install inside.
    # Debian 13, the current stable: gcc 14.
    "trixie": Suite("trixie", _BUILD + ("dkms",), "Debian 13 (trixie)"),
    # Debian unstable: gcc 16, Linux 7.x.
    "sid": Suite("sid", _BUILD + ("dkms",), "Debian unstable (sid)"),
}

# Options apt gets inside every chroot. This machine's apt, like CI's, runs
# without a clock it can trust against the mirror's Valid-Until.
_APT_CONF = """\
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dpkg::Use-Pty "false";
"""

_HEADERS_RE = re.compile(r"^linux-headers-(\d+\.\d+\.\d+\+deb\d+-amd64)$")


class SuiteError(Exception):
    pass


def cache_root():
    d = os.environ.get("FASTBALLOON_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "fastballoon")
    return os.path.join(d, "suites")


def root_of(suite):
    return os.path.join(cache_root(), suite)


def _state_path(suite):
    return os.path.join(root_of(suite), ".fb-suite.json")


def state(suite):
    """What the cached chroot holds ({} when it is not complete)."""
    try:
        with open(_state_path(suite)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _log(log, msg):
    if log:
        log(msg)


def _ver_key(kver):
    return tuple(int(n) for n in re.findall(r"\d+", kver))


class _Proc:
    """/proc (and /dev/pts) mounted in the chroot while apt and dpkg run:
    maintainer scripts look there. Unmounted on the way out."""

    def __init__(self, root):
        self.mounts = [(os.path.join(root, "proc"), ["-t", "proc", "proc"])]

    def __enter__(self):
        self.done = []
        for path, how in self.mounts:
            os.makedirs(path, exist_ok=True)
            if os.path.ismount(path):
                continue
            subprocess.run(["mount"] + how + [path], check=True)
            self.done.append(path)
        return self

    def __exit__(self, *exc):
        for path in reversed(self.done):
            subprocess.run(["umount", "-l", path], check=False)


def run_in(root, cmd, **kw):
    """Run @cmd (a list) inside the chroot at @root (a suite's, or a copy
    of one), with a clean environment; returns the CompletedProcess
    (check=True unless told)."""
    kw.setdefault("check", True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
           "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["chroot", root] + list(cmd), env=env, **kw)


def in_chroot(suite, cmd, **kw):
    """run_in() the chroot of @suite."""
    return run_in(root_of(suite), cmd, **kw)


def apt_install(root, packages):
    """apt-get install @packages in the chroot at @root (with /proc
    mounted). A chroot made some time ago may have stale lists: on a
    failure they are updated and the install tried once more. Returns
    None, or the failed try's last lines."""
    with _Proc(root):
        for stale in (False, True):
            if stale:
                run_in(root, ["apt-get", "update", "-q"],
                       stdout=subprocess.DEVNULL)
            p = run_in(root, ["apt-get", "install", "-y", "-q"] +
                       list(packages), check=False, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
            if p.returncode == 0:
                run_in(root, ["apt-get", "clean"])
                return None
    return "\n".join(p.stdout.splitlines()[-15:])


def _out(suite, cmd):
    return in_chroot(suite, cmd, stdout=subprocess.PIPE,
                     text=True).stdout


def _has_candidate(suite, pkg):
    p = in_chroot(suite, ["apt-cache", "policy", pkg], check=False,
                  stdout=subprocess.PIPE, text=True)
    m = re.search(r"Candidate:\s*(\S+)", p.stdout)
    return bool(m and m.group(1) != "(none)")


def resolve_kernel(suite):
    """The newest kernel of @suite (as the chroot's apt lists have it) whose
    headers and image packages both have a candidate:
    (kver, headers package, [image packages])."""
    names = _out(suite, ["apt-cache", "pkgnames", "linux-headers-"]).split()
    kvers = sorted({m.group(1) for m in map(_HEADERS_RE.match, names) if m},
                   key=_ver_key, reverse=True)
    for kver in kvers:
        hdr = "linux-headers-" + kver
        if not _has_candidate(suite, hdr):
            continue
        # sid (2026) splits the kernel: linux-binary-<abi> has vmlinuz,
        # linux-modules-<abi> the modules; linux-image-<abi> is only their
        # meta package. Older suites ship one image package, the unsigned
        # one where there is a signed twin.
        for images in (["linux-binary-" + kver, "linux-modules-" + kver],
                       ["linux-image-%s-unsigned" % kver],
                       ["linux-image-" + kver]):
            if all(_has_candidate(suite, p) for p in images):
                return kver, hdr, images
    raise SuiteError("%s: no linux-headers-*-amd64 with an image package "
                     "(apt lists: %d header names)" % (suite, len(names)))


def _debootstrap(suite, log):
    root = root_of(suite)
    if shutil.which("debootstrap") is None:
        raise SuiteError("debootstrap is not installed (make deps)")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(cache_root(), exist_ok=True)
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _log(log, "debootstrap --variant=minbase %s %s" % (suite, root))
    p = subprocess.run(["debootstrap", "--variant=minbase", suite, tmp, MIRROR],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode:
        raise SuiteError("debootstrap %s failed:\n%s" % (
            suite, "\n".join(p.stdout.splitlines()[-15:])))
    os.rename(tmp, root)
    _write(os.path.join(root, "etc", "apt", "apt.conf.d", "99fastballoon"),
           _APT_CONF)
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def debs_dir(suite):
    """Host path of the kernel image packages downloaded for @suite."""
    return os.path.join(root_of(suite), "var", "cache", "fb-kernel")


def ensure(suite, refresh=False, log=print):
    """Make (once) or reuse the chroot of @suite with its newest kernel's
    headers installed and image package(s) downloaded; return its state
    dict: suite, kver, headers, images, gcc, dkms, times (s per step)."""
    if suite not in SUITES:
        raise SuiteError("unknown suite %r (know: %s)" % (
            suite, ", ".join(SUITES)))
    st = state(suite)
    s = SUITES[suite]
    if st and not refresh and st.get("packages") == list(s.packages):
        return st
    times = dict(st.get("times", {}))
    t = time.monotonic()
    if not os.path.exists(os.path.join(root_of(suite), "usr", "bin", "apt-get")):
        _debootstrap(suite, log)
        times["debootstrap"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    with _Proc(root_of(suite)):
        _log(log, "%s: apt-get update" % suite)
        in_chroot(suite, ["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
        kver, hdr, images = resolve_kernel(suite)
        _log(log, "%s: installing %s %s" % (suite, hdr, " ".join(s.packages)))
        p = in_chroot(suite, ["apt-get", "install", "-y", "-q", hdr] +
                      list(s.packages), check=False,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      text=True)
        if p.returncode:
            raise SuiteError("%s: apt-get install failed:\n%s" % (
                suite, "\n".join(p.stdout.splitlines()[-15:])))
        times["install"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        d = debs_dir(suite)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        _log(log, "%s: apt-get download %s" % (suite, " ".join(images)))
        in_chroot(suite, ["sh", "-c", "cd /var/cache/fb-kernel && "
                          "apt-get download -q -o APT::Sandbox::User=root "
                          + " ".join(images)], stdout=subprocess.DEVNULL)
        in_chroot(suite, ["apt-get", "clean"])
        times["download"] = round(time.monotonic() - t, 1)
    gcc = _out(suite, ["gcc", "-dumpfullversion"]).strip()
    dkms = ""
    if os.path.exists(os.path.join(root_of(suite), "usr", "sbin", "dkms")):
        dkms = _out(suite, ["dkms", "--version"]).strip().split()[-1]
        dkms = dkms[len("dkms-"):] if dkms.startswith("dkms-") else dkms
    st = {"suite": suite, "kver": kver, "headers": hdr, "images": images,
          "gcc": gcc, "dkms": dkms, "packages": list(s.packages),
          "times": times}
    _write(_state_path(suite), json.dumps(st, indent=1) + "\n")
    _log(log, "%s: %s, gcc %s; %s" % (suite, kver, gcc, ", ".join(
        "%s %.0f s" % kv for kv in times.items())))
    return st


def image_debs(suite):
    """The downloaded image .debs of @suite (host paths)."""
    return sorted(glob.glob(os.path.join(debs_dir(suite), "*.deb")))


def extract(suite, deb, dst, patterns):
    """Unpack the members of @deb (a host path in the chroot's debs_dir)
    that match the tar wildcards @patterns into @dst, a host directory,
    with the suite's own dpkg-deb and tar: they read whatever compression
    the suite uses, and the 110 MB of sid's modules package are not all
    written out for the few modules a guest needs."""
    inside = "/var/cache/fb-kernel/x"
    host = os.path.join(root_of(suite), inside.lstrip("/"))
    shutil.rmtree(host, ignore_errors=True)
    os.makedirs(host)
    in_chroot(suite, ["sh", "-c", 'd=$1 o=$2; shift 2; dpkg-deb '
                      '--fsys-tarfile "$d" | tar -x -C "$o" --wildcards "$@"',
                      "sh",
                      "/var/cache/fb-kernel/" + os.path.basename(deb),
                      inside] + list(patterns), check=False,
                stderr=subprocess.DEVNULL)
    # (tar exits 2 when a pattern matches nothing in this package: the
    # caller checks for what it needs)
    subprocess.run(["cp", "-a", host + "/.", dst], check=True)
    shutil.rmtree(host, ignore_errors=True)


def headers_dir(suite, kver):
    """Host path of the headers tree of @kver in @suite's chroot."""
    return os.path.join(root_of(suite), "usr", "src", "linux-headers-" + kver)


# Sources a module build needs, as the DKMS tree has them.
_BUILD_OUTPUT = shutil.ignore_patterns(
    "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "modules.order",
    "Module.symvers", "*.a", ".tmp_versions")


def build_module(suite, kver, repo=REPO, extra=()):
    """Copy the module's sources into the chroot and build them there with
    W=1 against @kver's headers and the suite's gcc. Returns (returncode,
    make's output, host path of the build directory). Each source tree
    builds in its own directory, so that two trees (worktrees sharing the
    cached chroot) never build into each other's."""
    tree = hashlib.sha1(os.path.realpath(repo).encode()).hexdigest()[:8]
    inside = "/fb-build/%s-%s" % (kver, tree)
    dst = os.path.join(root_of(suite), inside.lstrip("/"))
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for f in ["Kbuild"] + glob.glob(os.path.join(repo, "*.c")):
        shutil.copy(os.path.join(repo, f), dst)
    for sub in ("driver", "include"):
        if os.path.isdir(os.path.join(repo, sub)):
            shutil.copytree(os.path.join(repo, sub), os.path.join(dst, sub),
                            ignore=_BUILD_OUTPUT)
    # /proc: objtool reads its stack limit there.
    with _Proc(root_of(suite)):
        p = in_chroot(suite, ["make", "-C", "/usr/src/linux-headers-" + kver,
                              "M=" + inside, "W=1",
                              "-j%d" % (os.cpu_count() or 2), "modules"] +
                      list(extra), check=False, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout, dst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="+", choices=list(SUITES))
    ap.add_argument("--refresh", action="store_true",
                    help="apt-get update in the chroot and move to its "
                    "newest kernel")
    ap.add_argument("--build", action="store_true",
                    help="then build fastballoon.ko inside it with W=1")
    ap.add_argument("--print", action="store_true", dest="print_only",
                    help="print only 'ROOT KVER' (for selftests/packaging)")
    args = ap.parse_args(argv)
    rc = 0
    for s in args.suite:
        try:
            st = ensure(s, refresh=args.refresh,
                        log=lambda m: print(m, file=sys.stderr, flush=True))
        except (SuiteError, subprocess.CalledProcessError) as e:
            print("suites.py: %s" % e, file=sys.stderr)
            rc = 1
            continue
        if args.print_only:
            print(root_of(s), st["kver"])
            continue
        print("%s %s gcc-%s dkms-%s %s" % (s, st["kver"], st["gcc"],
                                          st["dkms"] or "none",
                                          json.dumps(st["times"])))
        if args.build:
            code, out, _ = build_module(s, st["kver"])
            print(out)
            rc |= code != 0
    return rc


if __name__ == "__main__":
    sys.exit(main())
