# SPDX-License-Identifier: GPL-2.0
"""fastballoon installed the ways the README documents, in a Debian 13
guest booted from its disk with systemd, udev and DKMS (distro.py), and
rebooted the way users reboot.

One guest, one disk, the phases in order (each needs the state the one
before left; a phase that cannot run after a failure says so):

  boot          systemd is PID 1 and the system comes up without a failed
                unit; virtio_balloon drives the balloon (the baseline);
                the initramfs does not carry virtio_balloon (or, if a
                later trixie's does, the blacklist must reach it)
  deb           apt install ./fastballoon-dkms_*.deb ./balloonctl_*.deb:
                DKMS builds and installs it; apt's output names the
                command that moves the running device (bind-hint.sh),
                and that command moves it: fastballoon inflates
  deb/reboot    after a reboot fastballoon owns the device from boot,
                virtio_balloon is not loaded, the probe line names the
                device, features and path, balloonctl works and its
                rates come from real runs only (a 2 MiB run leaves them)
  new_kernel    apt install of a second kernel (trixie's cloud flavour):
                DKMS builds the module for it; booted into it,
                fastballoon owns the device
  deb/purge     apt purge of both packages leaves no trace (files, DKMS,
                modules.dep, dpkg); after a reboot virtio_balloon drives
                the device again
  dkms          make dkms-install from the source tree: the tool and the
                hint come with it; make install refuses beside it; after
                a reboot fastballoon owns the device; make dkms-uninstall
                leaves no trace
  make          make; make install: a stripped module, the hint; make
                dkms-install refuses beside it; after a reboot
                fastballoon owns the device; make uninstall leaves no
                trace, and virtio_balloon drives the device after a reboot

Inflating checks the host's view (query-balloon reaches the target) and
the guest's console is checked for WARN, oops or OOM throughout.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import distro
import fbqemu
import qemus
from fbtest import Fail

WHERE = "distro@" + distro.SUITE
MIB = 1 << 20
SRC = "/root/fastballoon"            # the source tree, copied off the payload
DEBS = "/root/debs"

# Everything an install method writes, found by name (the package's and
# make's files, DKMS's tree and registration, the module in any kernel's
# updates/, the modprobe file, the tool and its man page).
_TRACES = (
    "{ find / -xdev \\( -name '*fastballoon*' -o -name 'balloonctl*' "
    "-o -name 'bind-hint.sh' \\) -not -path '/root/*' 2>/dev/null; "
    "grep -l fastballoon /lib/modules/*/modules.dep 2>/dev/null; "
    "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' "
    "fastballoon-dkms balloonctl 2>/dev/null | grep -v '^un '; "
    "dkms status fastballoon 2>/dev/null; } | sort -u")

class Phase(Exception):
    """A phase cannot run: an earlier one failed."""


class Distro:
    """The guest and what the phases share."""

    def __init__(self, st, disk, payload, qemu, keep):
        self.st = st
        self.kver, self.new_kver = st["kver"], st["new_kver"]
        self.qemu = qemu
        self.g = distro.DistroGuest(disk, self.kver, payload=payload,
                                    balloon_props={"deflate-on-oom": "on"},
                                    keep=keep, qemu=qemu)
        self.notes = []
        self.offset = 0

    # -- guest helpers

    def sh(self, cmd, timeout=120):
        return self.g.sh(cmd, timeout=timeout)

    def run(self, cmd, timeout=120):
        return self.g.run(cmd, timeout=timeout)

    def settle(self):
        """Wait for systemd to finish booting (fail on a failed unit) and
        for udev to have handled the coldplug events: nothing in a boot
        waits for those (systemd-udev-settle is not pulled in), and under
        TCG udev binds the balloon seconds after systemd calls the boot
        done."""
        rc, out = self.run("systemctl is-system-running --wait", 300)
        if out.strip() != "running":
            failed = self.run("systemctl --failed --no-legend --plain")[1]
            raise Fail("systemd says %r after boot; failed units: %s" % (
                out.strip(), failed.strip() or "none"))
        rc, out = self.run("udevadm settle --timeout=240", 300)
        if rc:
            raise Fail("udev still had events queued 240 s after the boot: "
                       "%s" % out)
        self.sh("mkdir -p %s && mount -o ro,noload /dev/vdb %s" % (
            distro.PAYLOAD_MOUNT, distro.PAYLOAD_MOUNT))

    def boot(self):
        self.g.boot()
        self.settle()

    def reboot(self, kver=None):
        self.g.reboot(kver=kver)
        self.settle()
        self.notes.append("reboot into %s %.0f s" % self.g.boots[-1])

    def balloon_driver(self):
        """The driver of the guest's balloon device ("" for none)."""
        return self.sh("d=$(fb-dev) && { readlink $d/driver || true; }"
                       ).strip().rsplit("/", 1)[-1]

    def loaded(self, mod):
        rc, _ = self.run("grep -q '^%s ' /proc/modules" % mod)
        return rc == 0

    def expect_owner(self, drv, when, alone=True):
        """@drv drives the balloon; @alone: and the other driver is not
        loaded (after a boot; a takeover leaves it loaded, unbound)."""
        got = self.balloon_driver()
        if got != drv:
            raise Fail("%s: the balloon device is driven by %r, not %s" % (
                when, got or "nothing", drv))
        if not alone:
            return
        other = {"fastballoon": "virtio_balloon",
                 "virtio_balloon": "fastballoon"}[drv]
        if self.loaded(other):
            raise Fail("%s: %s is loaded beside %s" % (when, other, drv))

    def inflate(self, when, mib=768):
        """The host takes @mib MiB and gets them back (query-balloon)."""
        full = self.g.mem_bytes
        self.g.set_balloon(full - mib * MIB)
        try:
            secs = self.g.wait_balloon(full - mib * MIB, timeout=180)
        except fbqemu.GuestTimeout as e:
            raise Fail("%s: %s" % (when, e))
        self.g.set_balloon(full)
        self.g.wait_balloon(full, timeout=180)
        self.notes.append("%s: %d MiB in %.1f s" % (when, mib, secs))

    def must(self, cmd, what, timeout=1800):
        """Run @cmd (its output with stderr); fail unless it exits 0."""
        rc, out = self.run("%s 2>&1" % cmd, timeout)
        if rc:
            raise Fail("%s exited %d:\n%s" % (
                what, rc, "\n".join(out.splitlines()[-15:])))
        return out

    def refuses(self, cmd, says, what, timeout=900):
        """@cmd must fail and say @says."""
        rc, out = self.run("%s 2>&1" % cmd, timeout)
        if rc == 0 or says not in out:
            raise Fail("%s exited %d and said:\n%s" % (
                what, rc, "\n".join(out.splitlines()[-6:])))

    def traces(self):
        return self.sh(_TRACES, 300).strip()

    def expect_no_traces(self, when):
        left = self.traces()
        if left:
            raise Fail("%s left:\n%s" % (when, left))

    def hint_in(self, out, when):
        """The install's output names the command that moves the running
        device; return it."""
        m = re.search(r"^\s+(balloonctl --device \S+ takeover|echo \S+ > "
                      r"/sys/bus/virtio/drivers/\S+/unbind && modprobe "
                      r"fastballoon)$", out, re.M)
        if not m:
            raise Fail("%s said nothing about the balloon device "
                       "virtio_balloon still drives; its output ends:\n%s"
                       % (when, "\n".join(out.splitlines()[-12:])))
        return m.group(1)

    def console_problems(self):
        text = self.g.read_console(self.offset)
        self.offset = self.g.console_size()
        return fbqemu.find_health_problems(text)


# ----------------------------------------------------------------- phases

def p_boot(d):
    d.boot()
    init = d.sh("cat /proc/1/comm").strip()
    if init != "systemd":
        raise Fail("PID 1 is %r, not systemd" % init)
    d.expect_owner("virtio_balloon", "first boot")
    rc, carried = d.run("lsinitramfs /boot/initrd.img-$(uname -r) | "
                        "grep -E '/virtio_balloon\\.ko'")
    d.initramfs_balloon = rc == 0
    d.notes.append("QEMU %s, %s; boot %.0f s; initramfs %s virtio_balloon" % (
        d.qemu.vstr, d.kver, d.g.boots[-1][1], "carries" if
        d.initramfs_balloon else "does not carry"))


def p_deb(d):
    d.sh("mkdir -p %s && cp %s/debs/*.deb %s/" % (DEBS, distro.PAYLOAD_MOUNT,
                                                  DEBS))
    t0 = time.monotonic()
    rc, out = d.run("apt-get install -y -q %s/fastballoon-dkms_*.deb "
                    "%s/balloonctl_*.deb 2>&1" % (DEBS, DEBS), 1800)
    if rc:
        raise Fail("apt install of the .debs exited %d:\n%s" % (
            rc, "\n".join(out.splitlines()[-15:])))
    d.notes.append("apt install with the DKMS build %.0f s" % (
        time.monotonic() - t0))
    st = d.sh("dkms status fastballoon")
    if not re.search(r"%s.*: installed" % re.escape(d.kver), st):
        raise Fail("dkms status after apt install: %r" % st)
    cmd = d.hint_in(out, "apt install")
    d.expect_owner("virtio_balloon", "after apt install, before the hint's "
                   "command", alone=False)
    rc, out = d.run(cmd, 300)
    if rc:
        raise Fail("the hinted %r exited %d: %s" % (cmd, rc, out))
    d.expect_owner("fastballoon", "after %r" % cmd, alone=False)
    d.inflate("after the takeover")


def check_booted_fastballoon(d, when):
    d.expect_owner("fastballoon", when)
    probe = d.sh("dmesg | grep -E 'fastballoon virtio[0-9]+: version' || "
                 "true").strip()
    if not re.search(r"bound to \S+: features .*; surrender path \w+",
                     probe):
        raise Fail("%s: no probe line naming the device, features and "
                   "path in the kernel log: %r" % (when, probe))
    rc, out = d.run("balloonctl status")
    if rc:
        raise Fail("%s: balloonctl status exited %d: %s" % (when, rc, out))
    d.inflate(when)


_RUNS_RE = re.compile(r"^\s*last runs\s+inflate (.+?), deflate (.+)$", re.M)


def last_runs(d, when):
    """balloonctl status's rates of the last inflate and deflate run."""
    out = d.sh("balloonctl status")
    m = _RUNS_RE.search(out)
    if not m:
        raise Fail("%s: no 'last runs' line in balloonctl status:\n%s" % (
            when, out))
    return m.group(1), m.group(2)


def check_rates(d, when):
    """balloonctl's rates come from real work only: after a 768 MiB run
    each way both are rates, and a 2 MiB run each way leaves them as they
    were (a run that small is mostly waking the work and telling the host:
    its "rate" was once some 50 million pages/s)."""
    big = last_runs(d, when)
    if not all(r.endswith("MiB/s)") for r in big):
        raise Fail("%s: no rates after 768 MiB each way: inflate %s, "
                   "deflate %s" % ((when,) + big))
    d.inflate(when + ", a small run", mib=2)
    small = last_runs(d, when)
    if small != big:
        raise Fail("%s: a 2 MiB run changed the rates: inflate %s -> %s, "
                   "deflate %s -> %s" % (when, big[0], small[0], big[1],
                                         small[1]))
    d.notes.append("rates: inflate %s, deflate %s" % big)


def check_dkms_signed(d, when):
    """DKMS signed the module with its key (README, "Module signing"), and
    the kernel, which does not know that key, says what the README says
    it does: it loads the module and taints itself."""
    signer = d.sh("modinfo -F signer fastballoon").strip()
    if not signer:
        raise Fail("%s: the module DKMS installed is not signed" % when)
    if d.run("test -e /var/lib/dkms/mok.pub")[0]:
        raise Fail("%s: DKMS has no /var/lib/dkms/mok.pub to enrol" % when)
    taint = d.sh("dmesg | grep -c 'fastballoon: module verification "
                 "failed' || true").strip()
    d.notes.append("signed by %r; %s taint line" % (
        signer, "one" if taint == "1" else taint))


def p_deb_reboot(d):
    d.reboot()
    check_booted_fastballoon(d, "after the reboot")
    check_rates(d, "after the reboot")
    check_dkms_signed(d, "after the reboot")


def p_new_kernel(d):
    t0 = time.monotonic()
    rc, out = d.run("apt-get install -y -q %s/*.deb 2>&1" %
                    d.st["new_kernel_dir"], 1800)
    if rc:
        raise Fail("apt install of %s exited %d:\n%s" % (
            d.new_kver, rc, "\n".join(out.splitlines()[-15:])))
    d.notes.append("new kernel with the DKMS build %.0f s" % (
        time.monotonic() - t0))
    st = d.sh("dkms status fastballoon")
    if not re.search(r"%s.*: installed" % re.escape(d.new_kver), st):
        raise Fail("DKMS did not build for the new kernel %s: dkms status "
                   "%r" % (d.new_kver, st))
    d.reboot(kver=d.new_kver)
    got = d.sh("uname -r").strip()
    if got != d.new_kver:
        raise Fail("booted %s, not %s" % (got, d.new_kver))
    check_booted_fastballoon(d, "booted into " + d.new_kver)


def p_deb_purge(d):
    rc, out = d.run("apt-get purge -y -q fastballoon-dkms balloonctl 2>&1",
                    600)
    if rc:
        raise Fail("apt purge exited %d:\n%s" % (rc, out))
    d.expect_no_traces("apt purge")
    d.reboot()
    d.expect_owner("virtio_balloon", "after the purge and a reboot")


def _copy_src(d):
    d.sh("rm -rf %s && cp -a %s/src %s" % (SRC, distro.PAYLOAD_MOUNT, SRC))


def p_dkms(d):
    _copy_src(d)
    out = d.must("make -C %s dkms-install" % SRC, "make dkms-install")
    d.hint_in(out, "make dkms-install")
    if d.run("test -x /usr/local/sbin/balloonctl")[0]:
        raise Fail("make dkms-install did not install balloonctl")
    d.refuses("make -C %s install" % SRC, "installed by DKMS",
              "make install beside DKMS")
    if d.run("ls /lib/modules/*/updates/fastballoon.ko")[0] == 0:
        raise Fail("the refused make install left updates/fastballoon.ko")
    d.reboot()
    check_booted_fastballoon(d, "after make dkms-install and a reboot")
    d.must("make -C %s dkms-uninstall" % SRC, "make dkms-uninstall")
    d.expect_no_traces("make dkms-uninstall")


def p_make(d):
    _copy_src(d)
    out = d.must("make -C %s && make -C %s install" % (SRC, SRC),
                 "make; make install")
    d.hint_in(out, "make install")
    ko = "/lib/modules/%s/updates/fastballoon.ko" % d.kver
    rc, _ = d.run("readelf -S %s | grep -q '\\.debug_info'" % ko)
    if rc == 0:
        raise Fail("make install installed %s with debug info" % ko)
    d.refuses("make -C %s dkms-install" % SRC, "installed by 'make install'",
              "make dkms-install beside make install")
    d.reboot()
    check_booted_fastballoon(d, "after make install and a reboot")
    d.must("make -C %s uninstall" % SRC, "make uninstall")
    d.expect_no_traces("make uninstall")
    d.reboot()
    d.expect_owner("virtio_balloon", "after make uninstall and a reboot")


# (result name, phase, in make check): new_kernel, dkms and make each
# repeat the DKMS (or module) build under TCG, about 5 min each; CI runs
# the package's path, what the README puts first for a distribution.
PHASES = (
    ("boot", p_boot, True, None),
    ("deb", p_deb, True, "boot"),
    ("deb/reboot", p_deb_reboot, True, "deb"),
    ("new_kernel", p_new_kernel, False, "deb/reboot"),
    ("deb/purge", p_deb_purge, True, "deb"),
    ("dkms", p_dkms, False, "boot"),
    ("make", p_make, False, "boot"),
)
# (the fourth field: the phase whose state it starts from; deb/purge,
# dkms and make leave a system with nothing of fastballoon installed)


def names():
    return ["distro/" + p[0] for p in PHASES]


def _tree_files(repo):
    """The files of the source tree a user would have: what git tracks
    (with the working tree's contents), or all but .git and build/."""
    p = subprocess.run(["git", "-c", "safe.directory=*", "-C", repo,
                        "ls-files", "-z"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if p.returncode == 0 and p.stdout:
        return [f for f in p.stdout.decode().split("\0")
                if f and os.path.exists(os.path.join(repo, f))]
    out = []
    for top, dirs, files in os.walk(repo):
        rel = os.path.relpath(top, repo)
        dirs[:] = [x for x in dirs if not (rel == "." and x in (".git",
                                                                "build"))]
        out += [os.path.normpath(os.path.join(rel, f)) for f in files]
    return out


def _payload(work, log):
    """The read-only disk: the source tree (src/) and make deb's packages
    (debs/)."""
    src = os.path.join(work, "src")
    for f in _tree_files(fbqemu.REPO):
        dst = os.path.join(src, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(fbqemu.REPO, f), dst)
    debs = os.path.join(work, "debs")
    p = subprocess.run(["make", "-C", src, "deb", "DEB_OUT=" + debs],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode:
        raise fbqemu.FbError("make deb exited %d:\n%s" % (
            p.returncode, "\n".join(p.stdout.splitlines()[-10:])))
    for f in os.listdir(debs):
        if not f.endswith(".deb") or "dbgsym" in f:
            path = os.path.join(debs, f)
            (shutil.rmtree if os.path.isdir(path) else os.unlink)(path)
    shutil.rmtree(os.path.join(src, "build"), ignore_errors=True)
    log("distro: payload: %d source files, %s" % (
        len(_tree_files(src)), " ".join(sorted(os.listdir(debs)))))
    return distro.make_payload(os.path.join(work, "payload.raw"),
                               {"src": src, "debs": debs})


def run(res, selected, ci=False, keep=False):
    """The @selected phases (names()), those CI runs only when @ci, on the
    QEMU of the guest's own release (a trixie host's). Each phase needs
    the state another leaves (PHASES): a selected phase brings those it
    needs along."""
    need = {p[0]: p[3] for p in PHASES}
    run_set = set()
    for n in need:
        if "distro/" + n in selected:
            while n and n not in run_set:
                run_set.add(n)
                n = need[n]
    want = [(n, fn) for n, fn, in_ci, _ in PHASES
            if n in run_set and (in_ci or not ci)]
    skipped = [n for n, fn, in_ci, _ in PHASES
               if n in run_set and ci and not in_ci]
    for n in skipped:
        res.report("skip", WHERE, "distro/" + n, "left out of CI (another "
                   "DKMS or module build in the guest under TCG and a "
                   "reboot or two, 6-12 min); make check-all runs it")
    if not want:
        return
    log = lambda s: print("# " + s, flush=True)  # noqa: E731
    t0 = time.monotonic()
    try:
        # (QEMU first, as in make check, where trixie's kernel has run on
        # it: the image is then made from a chroot that has it)
        qemu = qemus.ensure(distro.SUITE, log=log)
        st = distro.ensure_image(log=log)
        work = tempfile.mkdtemp(prefix="distro-", dir=fbqemu.cache_dir())
        payload = _payload(work, log)
        disk = distro.copy_disk(st["path"], os.path.join(work, "disk.raw"))
    except (fbqemu.FbError, qemus.QemuError, qemus.suites.SuiteError, OSError,
            subprocess.CalledProcessError) as e:
        for n, _ in want:
            res.report("not ok" if n == want[0][0] else "skip", WHERE,
                       "distro/" + n, "the image or payload: %s" % e
                       if n == want[0][0] else "no image")
        return
    log("distro: image and payload ready in %.0f s (image: %s)" % (
        time.monotonic() - t0, ", ".join("%s %.0f s" % kv for kv in
                                         st["times"].items())))
    d = Distro(st, disk, payload, qemu, keep)
    broken = None
    try:
        for n, fn in want:
            t = time.monotonic()
            if broken:
                res.report("skip", WHERE, "distro/" + n, "needs the state "
                           "%s leaves, and it failed" % broken)
                continue
            d.notes = []
            try:
                fn(d)
                verdict, detail = "ok", "; ".join(d.notes)
            except (Fail, fbqemu.FbError) as e:
                verdict, detail = "not ok", "%s%s" % (
                    "" if isinstance(e, Fail) else type(e).__name__ + ": ", e)
            bad = d.console_problems() if d.g.proc else []
            if bad:
                verdict = "not ok"
                detail = "console: %s%s" % ("; ".join(bad[:5]),
                                             "\n" + detail if detail else "")
            if verdict == "not ok":
                broken = n
                keepdir = os.path.join(fbqemu.cache_dir(), "logs")
                os.makedirs(keepdir, exist_ok=True)
                log_path = os.path.join(keepdir, "distro-%s-%s.log" % (
                    n.replace("/", "-"), time.strftime("%Y%m%d-%H%M%S")))
                shutil.copy(d.g.console, log_path)
                detail += "\nconsole log: %s" % log_path
            res.report(verdict, WHERE, "distro/" + n, detail,
                       time.monotonic() - t)
    finally:
        d.g.shutdown()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
