#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""libvirt driving a guest, as a Debian host runs it: the libvirt and QEMU
of a newer suite (trixie: libvirt 11.3 on QEMU 10.0; sid: 12.8 on 11.1),
out of a copy of that suite's cached chroot (suites.py, qemus.py).

The copy lives in $FASTBALLOON_CACHE/libvirt/<suite> and gets libvirtd,
its QEMU driver and virsh once. The tests start libvirtd inside it
(chroot, with /proc, /sys and /dev of the host) and stop it after. This
machine is not a systemd host and its cgroups are v1 under a container's
init, so qemu.conf runs QEMU as root, without cgroups, namespaces or a
security driver; everything a guest sees (the domain XML, the balloon
device, QMP, the stats) is what it sees under a distribution's libvirtd.

A guest is the suite's usual initramfs guest (fbqemu.Guest), defined by
domain XML instead of a QEMU command line: its console is a file, its
command agent a unix socket (both serial ports), QMP belongs to libvirtd
and is reached with virsh qemu-monitor-command.

    python3 selftests/qemu/libvirt.py trixie      # make or reuse, print it
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbqemu  # noqa: E402
import qemus  # noqa: E402
import suites  # noqa: E402

NAMES = ("trixie", "sid")
# libvirtd, its QEMU driver and virsh; nothing recommended (no network,
# storage or firewall drivers: the guest has no disk and no NIC).
PACKAGES = ("libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients")
URI = "qemu:///system"

# Appended to the suite's qemu.conf (the last setting of a name wins).
QEMU_CONF = """
# fastballoon selftests: no systemd, cgroup v1 under a container's init
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""
LIBVIRTD_CONF = """\
# fastballoon selftests
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""


class LibvirtError(fbqemu.FbError):
    pass


def cache_root():
    return os.path.join(fbqemu.cache_dir(), "libvirt")


def root_of(suite):
    return os.path.join(cache_root(), suite)


def _stamp(suite):
    return os.path.join(root_of(suite), ".fb-libvirt.json")


def ensure(suite, log=print):
    """Make (once) or reuse the libvirt chroot of @suite; return its state:
    suite, root, libvirt (package version), qemu (version string), times."""
    if suite not in NAMES:
        raise LibvirtError("unknown suite %r (know: %s)" % (suite,
                                                           ", ".join(NAMES)))
    q = qemus.ensure(suite, log=log)
    root = root_of(suite)
    try:
        with open(_stamp(suite)) as f:
            st = json.load(f)
        if st.get("packages") == list(PACKAGES) and st.get("qemu") == q.vstr:
            return st
    except (OSError, ValueError):
        pass
    times = {}
    t = time.monotonic()
    src = suites.root_of(suite)
    tmp = root + ".tmp"
    for d in (tmp, root):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(cache_root(), exist_ok=True)
    if log:
        log("libvirt: copying the %s chroot" % suite)
    subprocess.run(["cp", "-a", "--reflink=auto", src, tmp], check=True)
    times["copy"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    if log:
        log("libvirt: %s: installing %s" % (suite, " ".join(PACKAGES)))
    failed = suites.apt_install(tmp, PACKAGES)
    if failed:
        raise LibvirtError("%s: apt-get install %s failed:\n%s" % (
            suite, " ".join(PACKAGES), failed))
    times["install"] = round(time.monotonic() - t, 1)
    with open(os.path.join(tmp, "etc/libvirt/qemu.conf"), "a") as f:
        f.write(QEMU_CONF)
    with open(os.path.join(tmp, "etc/libvirt/libvirtd.conf"), "w") as f:
        f.write(LIBVIRTD_CONF)
    os.makedirs(os.path.join(tmp, "var/log/libvirt"), exist_ok=True)
    ver = suites.run_in(tmp, ["dpkg-query", "-W", "-f", "${Version}",
                              "libvirt-daemon"], stdout=subprocess.PIPE,
                        text=True).stdout.strip()
    st = {"suite": suite, "root": root, "libvirt": ver, "qemu": q.vstr,
          "packages": list(PACKAGES), "times": times}
    os.rename(tmp, root)
    with open(_stamp(suite), "w") as f:
        json.dump(st, f, indent=1)
    if log:
        log("libvirt: %s: libvirt %s on QEMU %s (%s)" % (
            suite, ver, q.vstr, ", ".join("%s %.0f s" % kv
                                          for kv in times.items())))
    return st


def short_version(pkg):
    """'11.3.0-3+deb13u3' -> '11.3'."""
    return ".".join(pkg.split(":")[-1].split("-")[0].split(".")[:2])


class Daemon:
    """libvirtd running in the chroot of @st (ensure()'s state): started by
    start(), stopped (with every domain it runs) by stop()."""

    MOUNTS = (("proc", ["-t", "proc", "proc"]), ("sys", ["--rbind", "/sys"]),
              ("dev", ["--bind", "/dev"]), ("dev/pts", ["--bind", "/dev/pts"]))

    def __init__(self, st):
        self.st = st
        self.root = st["root"]
        self.mounted = []
        self.pid = None

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip("/"))

    def start(self, timeout=60):
        for sub, how in self.MOUNTS:
            p = os.path.join(self.root, sub)
            os.makedirs(p, exist_ok=True)
            if not os.path.ismount(p):
                subprocess.run(["mount"] + how + [p], check=True)
                self.mounted.append(p)
        pidfile = self.path("/run/libvirtd.pid")
        sock = self.path("/run/libvirt/libvirt-sock")
        for f in (pidfile, sock):
            if os.path.exists(f):
                os.unlink(f)
        log = self.path("/var/log/libvirt/libvirtd.log")
        if os.path.exists(log):
            os.unlink(log)
        suites.run_in(self.root, ["/usr/sbin/libvirtd", "--daemon",
                                  "--pid-file", "/run/libvirtd.pid"])
        deadline = time.monotonic() + timeout
        while not (os.path.exists(sock) and os.path.exists(pidfile)):
            if time.monotonic() > deadline:
                self.stop()
                raise LibvirtError("libvirtd: no socket after %d s; log:\n%s"
                                   % (timeout, self.log_tail()))
            time.sleep(0.2)
        with open(pidfile) as f:
            self.pid = int(f.read().strip())
        # The first connection probes QEMU's capabilities (seconds): made
        # here, so that no test's timing pays for it.
        self.virsh("version", timeout=120)
        return self

    def log_tail(self, n=20):
        try:
            with open(self.path("/var/log/libvirt/libvirtd.log")) as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def virsh(self, *args, timeout=60, check=True):
        """virsh @args inside the chroot: its output (stdout); raises
        LibvirtError on a non-zero exit unless not @check."""
        p = suites.run_in(self.root, ["virsh", "-c", URI, "-q"] + list(args),
                          check=False, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and p.returncode:
            raise LibvirtError("virsh %s exited %d: %s" % (
                " ".join(args), p.returncode, p.stderr.strip()))
        return p.stdout if check else p

    def stop(self):
        if self.pid:
            try:
                for dom in self.virsh("list", "--name").split():
                    self.virsh("destroy", dom, check=False)
            except (LibvirtError, subprocess.TimeoutExpired):
                pass
            try:
                os.kill(self.pid, 15)
                for _ in range(100):
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            self.pid = None
        for p in reversed(self.mounted):
            subprocess.run(["umount", "-R", "-l", p], check=False)
        self.mounted = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Pid:
    """What fbqemu.Guest wants of its QEMU process (pid, poll()) for a QEMU
    libvirtd started."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        try:
            os.kill(self.pid, 0)
            return None
        except ProcessLookupError:
            self.returncode = "gone"
            return self.returncode


class LibvirtGuest(fbqemu.Guest):
    """An fbqemu.Guest that libvirtd runs: @memballoon is the XML of its
    balloon device (the <memballoon> element), @cpu its <cpu> element."""

    def __init__(self, daemon, name, kimg, initrd, memballoon,
                 cpu="<cpu mode='maximum'/>", **kw):
        self.daemon = daemon
        self.name = name
        self.memballoon = memballoon
        self.cpu_xml = cpu
        work = tempfile.mkdtemp(prefix="fblv-",
                                dir=daemon.path("/var/lib/libvirt"))
        super().__init__(kimg, initrd, workdir=work, **kw)
        # QEMU (and libvirtd) open these inside the chroot
        self.inside = "/" + os.path.relpath(work, daemon.root)

    def domain_xml(self):
        j = lambda f: os.path.join(self.inside, f)  # noqa: E731
        return """\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <currentMemory unit='MiB'>{mem}</currentMemory>
  <vcpu>{smp}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  {cpu}
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='{console}'/>
      <target port='0'/>
    </serial>
    <serial type='unix'>
      <source mode='bind' path='{cmd}'/>
      <target port='1'/>
    </serial>
    {memballoon}
  </devices>
</domain>
""".format(name=self.name, mem=self.mem_mib, smp=self.smp,
           kernel=j("vmlinuz"), initrd=j("initrd"),
           cmdline=escape(self.kernel_cmdline()), console=j("console.log"),
           cmd=j("cmd.sock"), memballoon=self.memballoon,
           cpu=self.cpu_xml)

    def _start(self, deadline):
        shutil.copy(self.kimg.vmlinuz, os.path.join(self.dir, "vmlinuz"))
        shutil.copy(self.initrd, os.path.join(self.dir, "initrd"))
        with open(os.path.join(self.dir, "domain.xml"), "w") as f:
            f.write(self.domain_xml())
        self.daemon.virsh("destroy", self.name, check=False)
        self.daemon.virsh("create", os.path.join(self.inside, "domain.xml"))
        with open(self.daemon.path("/run/libvirt/qemu/%s.pid" %
                                   self.name)) as f:
            self.proc = _Pid(int(f.read().strip()))
        try:
            self.cmd_sock = fbqemu._connect_unix(
                os.path.join(self.dir, "cmd.sock"), deadline)
        except OSError:
            self._check_alive()
            raise fbqemu.GuestDied("the agent's socket never appeared")

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise fbqemu.GuestDied("QEMU (libvirt domain %s) is gone; "
                                   "libvirtd's log:\n%s\nconsole tail:\n%s" % (
                                       self.name, self.daemon.log_tail(),
                                       self.console_tail()))

    def _stop(self):
        if self.cmd_sock:
            self.cmd_sock.close()
            self.cmd_sock = None
        if self.proc is not None:
            self.daemon.virsh("destroy", self.name, check=False)
            self.proc = None

    def virsh(self, cmd, *args, **kw):
        """virsh @cmd on this domain."""
        return self.daemon.virsh(cmd, self.name, *args, **kw)

    def qmp(self, name, **args):
        self._check_alive()
        out = self.virsh("qemu-monitor-command", json.dumps(
            {"execute": name, "arguments": args}))
        reply = json.loads(out)
        if "error" in reply:
            raise fbqemu.FbError("QMP %s: %s" % (name, reply["error"]))
        return reply["return"]

    def memstat(self):
        """virsh dommemstat as a dict of ints (KiB, counts or seconds)."""
        out = {}
        for ln in self.virsh("dommemstat").splitlines():
            k, _, v = ln.strip().partition(" ")
            if k:
                out[k] = int(v)
        return out

    def dominfo(self):
        out = {}
        for ln in self.virsh("dominfo").splitlines():
            k, _, v = ln.partition(":")
            out[k.strip()] = v.strip()
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="+", choices=NAMES)
    args = ap.parse_args(argv)
    rc = 0
    for s in args.suite:
        try:
            st = ensure(s, log=lambda m: print(m, file=sys.stderr, flush=True))
        except (fbqemu.FbError, qemus.QemuError, suites.SuiteError,
                subprocess.CalledProcessError) as e:
            print("libvirt.py: %s" % e, file=sys.stderr)
            rc = 1
            continue
        print("%s libvirt %s QEMU %s %s" % (s, st["libvirt"], st["qemu"],
                                            st["root"]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
