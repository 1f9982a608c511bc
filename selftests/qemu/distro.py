#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A distribution guest: a Debian 13 (trixie) disk image with systemd,
udev, kmod, dkms and the build tools, booted from its own disk under QEMU
(TCG), the way users run fastballoon.

The image is made once into $FASTBALLOON_CACHE/distro/trixie/ (like the
kernels), from a copy of the trixie chroot suites.py makes (its gcc, dkms
and newest kernel's headers are what the guest needs too), plus
systemd-sysv, that kernel's image and initramfs-tools; its filesystem is
written by mke2fs -d, so no loop device or mount is needed. Each run boots
a sparse copy of it, never the cached image.

Booting: there is no bootloader in the image; the host plays its part
after every power-off, reading /boot of the guest's disk with debugfs and
starting the kernel and initramfs the guest itself installed there (by
default the one the image was made with, or the release the test names,
as one picks a GRUB entry). A reboot in the guest ends QEMU (-no-reboot)
and the host starts it again from the disk.

The tests talk to the guest through fbqemu's command agent, run here as
a systemd service (fb-agent.service) on the second serial port; the
guest's console is the first. What a test installs (the source tree, the
.debs of make deb) comes on a second, read-only disk.

    python3 selftests/qemu/distro.py image      # make or reuse, print it
    python3 selftests/qemu/distro.py shell      # boot a copy, run commands

Needs root (chroot), debootstrap and e2fsprogs (debugfs, mke2fs -d).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbqemu  # noqa: E402
import qemus  # noqa: E402
import suites  # noqa: E402

SUITE = "trixie"
# What the image adds to the suite's chroot (which has the kernel's
# headers, gcc, make, dkms, kmod, udev and initramfs-tools already).
PACKAGES = ("systemd-sysv", "initramfs-tools", "procps", "e2fsprogs",
            "binutils", "openssl")
# Bumped when what the image holds or how it is set up changes.
IMAGE_FORMAT = 3
IMAGE_SIZE = "6G"
# A second kernel a test installs in the guest: trixie's cloud flavour,
# the same source as the image's kernel, so its headers need nothing the
# image lacks; its packages are downloaded into the image, not installed.
NEW_KERNEL_DIR = "/var/cache/fb-newkernel"
PAYLOAD_MOUNT = "/mnt/fb"

_AGENT_UNIT = """\
[Unit]
Description=fastballoon test agent on ttyS1 (selftests/qemu/distro.py)
After=local-fs.target
DefaultDependencies=no

[Service]
ExecStart=/usr/local/sbin/fb-agent /dev/ttyS1
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""

_FSTAB = "/dev/vda / ext4 errors=remount-ro 0 1\n"


class DistroError(fbqemu.FbError):
    pass


def image_dir():
    return os.path.join(fbqemu.cache_dir(), "distro", SUITE)


def _stamp():
    return os.path.join(image_dir(), "image.json")


def state():
    try:
        with open(_stamp()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _chroot(root, cmd, **kw):
    p = suites.run_in(root, cmd, check=False, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode:
        raise DistroError("in the image: %s exited %d:\n%s" % (
            " ".join(cmd), p.returncode,
            "\n".join(p.stdout.splitlines()[-15:])))
    return p.stdout


def _cloud_kernel(root, kver):
    """The cloud flavour of @kver's release: (kver, [packages])."""
    cloud = kver.replace("-amd64", "-cloud-amd64")
    pkgs = ["linux-image-" + cloud, "linux-headers-" + cloud]
    for p in pkgs:
        out = _chroot(root, ["apt-cache", "policy", p])
        if "Candidate: (none)" in out or "Candidate:" not in out:
            raise DistroError("%s has no candidate in %s" % (p, SUITE))
    return cloud, pkgs


def ensure_image(log=print):
    """Make (once) or reuse the image; return its state: kver (the kernel
    it boots), new_kver (the one a test installs), path, times."""
    st = suites.ensure(SUITE, log=log)
    key = {"format": IMAGE_FORMAT, "packages": list(PACKAGES),
           "kver": st["kver"]}
    have = state()
    if have.get("key") == key and os.path.exists(have.get("path", "")):
        return have
    d = image_dir()
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    times = {}
    t = time.monotonic()
    root = os.path.join(d, "root")
    log("distro: copying the %s chroot into %s" % (SUITE, root))
    subprocess.run(["cp", "-a", suites.root_of(SUITE), root], check=True)
    # the QEMU qemus.py installs into the chroot is the host's, not the
    # guest's: a guest system does not have it
    had_qemu = os.path.exists(os.path.join(root, ".fb-qemu.json"))
    # what the chroot keeps for the runner, not part of a system
    for junk in ("fb-build", "var/cache/fb-kernel", ".fb-suite.json",
                 ".fb-qemu.json"):
        p = os.path.join(root, junk)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.unlink(p)
    # the chroot's apt options (suites.py) hold for the guest too (no
    # clock to trust, no recommends), under a name that is not ours: the
    # tests look for every file named after fastballoon
    os.rename(os.path.join(root, "etc/apt/apt.conf.d/99fastballoon"),
              os.path.join(root, "etc/apt/apt.conf.d/99selftests"))
    times["copy"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    kver = st["kver"]
    with suites._Proc(root):
        _chroot(root, ["apt-get", "update", "-q"])
        new_kver, new_pkgs = _cloud_kernel(root, kver)
        if had_qemu:
            log("distro: purging the chroot's QEMU from the image")
            _chroot(root, ["apt-get", "purge", "-y", "-q", qemus.PACKAGE])
            _chroot(root, ["apt-get", "autoremove", "--purge", "-y", "-q"])
        log("distro: installing %s" % " ".join(PACKAGES))
        _chroot(root, ["apt-get", "install", "-y", "-q",
                       "linux-image-" + kver] + list(PACKAGES))
        log("distro: downloading %s" % " ".join(new_pkgs))
        os.makedirs(root + NEW_KERNEL_DIR)
        _chroot(root, ["sh", "-c", "cd %s && apt-get download -q -o "
                       "APT::Sandbox::User=root %s" % (NEW_KERNEL_DIR,
                                                       " ".join(new_pkgs))])
        # the image's own initramfs (initramfs-tools, MODULES=most)
        _chroot(root, ["update-initramfs", "-c", "-k", kver]
                if not os.path.exists(os.path.join(root, "boot",
                                                   "initrd.img-" + kver))
                else ["update-initramfs", "-u", "-k", kver])
        _chroot(root, ["apt-get", "clean"])
        # no timers that would start apt or anything else mid-test
        for unit in ("apt-daily.timer", "apt-daily-upgrade.timer",
                     "dpkg-db-backup.timer", "fstrim.timer",
                     "e2scrub_all.timer", "e2scrub_reap.service"):
            os.makedirs(os.path.join(root, "etc/systemd/system"),
                        exist_ok=True)
            link = os.path.join(root, "etc/systemd/system", unit)
            if not os.path.lexists(link):
                os.symlink("/dev/null", link)
    times["install"] = round(time.monotonic() - t, 1)
    _write(os.path.join(root, "etc/fstab"), _FSTAB)
    _write(os.path.join(root, "etc/hostname"), "fbguest\n")
    _chroot(root, ["passwd", "-d", "root"])
    agent = _write(os.path.join(root, "usr/local/sbin/fb-agent"),
                   fbqemu._AGENT.replace("/tmp/.fb-out", "/run/.fb-out"))
    os.chmod(agent, 0o755)
    _write(os.path.join(root, "usr/local/sbin/fb-dev"), fbqemu._FB_DEV)
    os.chmod(os.path.join(root, "usr/local/sbin/fb-dev"), 0o755)
    _write(os.path.join(root, "etc/systemd/system/fb-agent.service"),
           _AGENT_UNIT)
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    os.symlink("/etc/systemd/system/fb-agent.service",
               os.path.join(wants, "fb-agent.service"))
    os.makedirs(root + PAYLOAD_MOUNT, exist_ok=True)
    t = time.monotonic()
    img = os.path.join(d, "disk.raw")
    log("distro: mke2fs -d into %s (%s, sparse)" % (img, IMAGE_SIZE))
    open(img, "w").close()
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "fbroot",
                    "-d", root, img, IMAGE_SIZE], check=True)
    times["mke2fs"] = round(time.monotonic() - t, 1)
    shutil.rmtree(root)
    out = {"key": key, "path": img, "kver": kver, "new_kver": new_kver,
           "new_kernel_dir": NEW_KERNEL_DIR, "times": times,
           "gcc": st["gcc"], "dkms": st["dkms"]}
    _write(_stamp(), json.dumps(out, indent=1) + "\n")
    log("distro: %s, kernel %s (then %s); %s" % (img, kver, new_kver, ", ".join(
        "%s %.0f s" % kv for kv in times.items())))
    return out


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def _debugfs(img, request):
    p = subprocess.run(["debugfs", "-R", request, img],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode:
        raise DistroError("debugfs -R %r %s: %s" % (request, img, p.stderr))
    return p.stdout


def boot_files(img, kver, dst):
    """Copy /boot/vmlinuz-@kver and /boot/initrd.img-@kver out of the
    disk @img into @dst (what a bootloader would load); return their host
    paths. The guest may have rewritten either since the last boot."""
    names = set(_debugfs(img, "ls -p /boot").split("/"))
    out = []
    for f in ("vmlinuz-" + kver, "initrd.img-" + kver):
        if f not in names:
            raise DistroError("the guest's /boot has no %s" % f)
        path = os.path.join(dst, f)
        if os.path.exists(path):
            os.unlink(path)
        _debugfs(img, "dump /boot/%s %s" % (f, path))
        if not os.path.getsize(path):
            raise DistroError("debugfs gave an empty %s" % f)
        out.append(path)
    return out


def make_payload(path, files):
    """A small ext4 disk with @files ({path inside: host path of a file or
    directory}), for the guest to mount read-only at PAYLOAD_MOUNT."""
    with tempfile.TemporaryDirectory(dir=fbqemu.cache_dir()) as top:
        for inside, host in files.items():
            dst = os.path.join(top, inside)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(host):
                shutil.copytree(host, dst, symlinks=True)
            else:
                shutil.copy(host, dst)
        open(path, "w").close()
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "fbpayload",
                        "-d", top, path, "512M"], check=True)
    return path


class _Boot:
    """What fbqemu.Guest reads of a kernel image."""

    def __init__(self, vmlinuz, initrd, kver):
        self.vmlinuz, self.initrd, self.kver = vmlinuz, initrd, kver
        self.series = "distro"


class DistroGuest(fbqemu.Guest):
    """A guest booted from a copy of the image: Guest's QMP, command agent
    and console checks, with the disk, its kernel and a reboot."""

    def __init__(self, disk, kver, payload=None, mem_mib=2048, smp=2,
                 balloon_props=None, qemu=None, keep=False):
        self.disk, self.payload = disk, payload
        self.default_kver = kver
        wd = tempfile.mkdtemp(prefix="fbd-")
        super().__init__(None, None, mem_mib=mem_mib, smp=smp,
                         balloon_props=balloon_props, keep=keep, workdir=wd,
                         qemu=qemu)
        self.boots = []         # (kver, seconds to the agent) per boot

    def boot(self, timeout=300, kver=None):
        kver = kver or self.default_kver
        vmlinuz, initrd = boot_files(self.disk, kver, self.dir)
        self.kimg = _Boot(vmlinuz, initrd, kver)
        self.initrd = initrd
        super().boot(timeout)
        self.boots.append((kver, round(self.boot_seconds, 1)))
        return self

    def kernel_cmdline(self):
        return ("root=/dev/vda ro console=ttyS0 panic=-1 oops=panic " +
                os.environ.get("FB_DISTRO_CMDLINE", "")).strip()

    # The guest's CPU: -cpu max without ERMS and FSRM, whose rep stosb/movsb
    # TCG runs a byte at a time (FACTS: "TCG and zeroing"), the model closer
    # to hardware. Measured here it does not change the DKMS build in the
    # guest (about 300 s with either).
    CPU = os.environ.get("FB_DISTRO_CPU", "max,-erms,-fsrm")

    def qemu_argv(self):
        argv = super().qemu_argv()
        argv[argv.index("-cpu") + 1] = self.CPU
        argv += ["-drive", "file=%s,if=virtio,format=raw,cache=unsafe" %
                 self.disk]
        if self.payload:
            argv += ["-drive", "file=%s,if=virtio,format=raw,readonly=on" %
                     self.payload]
        return argv

    def reboot(self, kver=None, timeout=300):
        """Reboot from inside (systemctl reboot: units stopped, disks
        synced), wait for QEMU to end (-no-reboot), boot @kver from the
        disk. The console file goes on (the boots follow each other)."""
        self.cmd_sock.sendall(b"0 systemctl reboot\n")
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise fbqemu.GuestTimeout("the guest did not power off within"
                                          " %d s of systemctl reboot" % timeout)
            time.sleep(0.5)
        self._stop()
        self._cmd_buf = b""
        saved = self.read_console()
        self.boot(kver=kver, timeout=timeout)
        # keep every boot's console in one file, as a serial log would
        new = self.read_console()
        with open(self.console, "w") as f:
            f.write(saved + new)


def copy_disk(img, dst):
    subprocess.run(["cp", "--sparse=always", img, dst], check=True)
    return dst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["image", "shell"])
    ap.add_argument("--disk", help="shell: boot this disk (a copy a run "
                    "kept with --keep), not a fresh copy of the image")
    ap.add_argument("--kver", help="shell: the kernel to boot")
    args = ap.parse_args(argv)
    st = ensure_image(log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.what == "image":
        print(json.dumps(st, indent=1))
        return 0
    with tempfile.TemporaryDirectory(dir=fbqemu.cache_dir()) as tmp:
        disk = args.disk or copy_disk(st["path"], os.path.join(tmp,
                                                               "disk.raw"))
        g = DistroGuest(disk, args.kver or st["kver"], keep=True)
        try:
            g.boot()
            print("# booted %s in %.0f s; console %s" % (
                st["kver"], g.boot_seconds, g.console), file=sys.stderr)
            for line in sys.stdin:
                line = line.strip()
                if line == "reboot":
                    g.reboot()
                    print("# booted again in %.0f s" % g.boot_seconds)
                    continue
                if line:
                    rc, out = g.run(line, timeout=1800)
                    print(out)
                    print("# exit %d" % rc, flush=True)
        finally:
            g.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
