# SPDX-License-Identifier: GPL-2.0
"""rig: one benchmark guest and the measurements taken on it.

A thin layer over selftests/qemu/fbqemu.py (which this file only uses,
never changes): a Rig boots one fbqemu.Guest with one balloon driver and
offers what the scenarios measure -- a balloon move timed by polling QMP
every 5 ms, guest CPU time from /proc/stat, whole-block accounting from
/proc/kpageflags, fastballoon's sysfs counters, QEMU's RSS and THP, the
host's huge page pool -- and turns every sign of a broken run (target not
reached, WARN/oops on the console, OOM kill, a driver that did not bind)
into a Broken exception instead of a number.

Stdlib only.
"""

import os
import re
import shutil
import subprocess
import time

import fbqemu  # selftests/qemu, put on sys.path by bench.py

MIB = 1 << 20
KIB = 1 << 10
GIB = 1 << 30
USER_HZ = 100           # /proc/stat unit on x86 Linux
POLL_S = 0.005          # query-balloon polling period
HUGE_EXTRA = 8          # huge pages reserved beyond what the guest needs

IN_TREE = fbqemu.IN_TREE_DRIVER     # "virtio_balloon"
FAST = fbqemu.FB_MODULE             # "fastballoon"

# fastballoon's sysfs attribute names, read from the uapi header so that a
# rename there shows up here rather than as a silent zero.
FB_ATTRS = fbqemu.fb_attr_names()


class Broken(Exception):
    """This run's figures cannot be trusted; the message says why."""


# ------------------------------------------------------------------ host

def host_meminfo():
    with open("/proc/meminfo") as f:
        return fbqemu.meminfo_kib(f.read())


def read_nr_hugepages():
    with open("/proc/sys/vm/nr_hugepages") as f:
        return int(f.read())


def write_nr_hugepages(n):
    with open("/proc/sys/vm/nr_hugepages", "w") as f:
        f.write("%d\n" % n)


def other_qemus(mine=()):
    """PIDs of qemu-system processes that are not ours (they skew timing)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in mine:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0]
        except OSError:
            continue
        if os.path.basename(argv0).startswith(b"qemu-system"):
            pids.append(int(d))
    return pids


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---------------------------------------------------------------- parsing

def cpu_busy_jiffies(stat_line):
    """Busy jiffies, all CPUs, from the "cpu" line of /proc/stat.

    Everything but idle and iowait: user nice system irq softirq steal.
    guest and guest_nice are left out because user and nice already
    include them.
    """
    w = stat_line.split()
    if not w or w[0] != "cpu":
        raise Broken("unexpected /proc/stat line %r" % stat_line)
    v = [int(x) for x in w[1:]] + [0] * 10
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    return user + nice + system + irq + softirq + steal


def keyvals(text):
    """{key: int or str} from "k=v k=v" text."""
    out = {}
    for tok in text.split():
        k, sep, v = tok.partition("=")
        if sep:
            try:
                out[k] = int(v)
            except ValueError:
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
    return out


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


# ------------------------------------------------------------------- rig

class Rig:
    """One booted guest running @driver; boot() it, stop() it.

    @props: balloon device properties; @hugetlb: back guest RAM with 2 MiB
    hugetlbfs pages (HUGE_EXTRA more than needed are reserved, and the pool
    is put back to what it was in stop(), whatever happens).
    """

    def __init__(self, kimg, initrd, driver, props=None, hugetlb=False,
                 mem_mib=2048, smp=2, logdir=None, tag="", cmdline="",
                 cpu="max", host_bin=None, fb_knobs=None):
        self.kimg = kimg
        self.cpu = cpu
        self.host_bin = host_bin    # where fbb_discard was built
        self.fb_knobs = dict(fb_knobs or {})   # fastballoon's, set at boot
        self.initrd = initrd
        self.driver = driver
        self.props = dict(props or {})
        self.hugetlb = hugetlb
        self.mem_mib = mem_mib
        self.smp = smp
        self.logdir = logdir
        self.tag = tag
        self.cmdline = cmdline
        self.g = None
        self.offset = 0         # console bytes already checked
        self.nr_huge_saved = None
        self.cpu_overhead = 0   # busy jiffies a /proc/stat read pair costs
        self.info = {}

    @property
    def full(self):
        return self.mem_mib * MIB

    # -- lifecycle

    def boot(self, timeout=300):
        if self.hugetlb:
            # The pool goes back to this in stop().  fbqemu's Guest
            # reserves the guest's own pages on top of what it finds.
            self.nr_huge_saved = read_nr_hugepages()
            write_nr_hugepages(self.nr_huge_saved + HUGE_EXTRA)
        others = other_qemus()
        self.g = fbqemu.Guest(self.kimg, self.initrd, mem_mib=self.mem_mib,
                              smp=self.smp, balloon_props=self.props,
                              driver=self.driver, hugetlb=self.hugetlb,
                              cmdline=self.cmdline, cpu=self.cpu)
        t0 = time.monotonic()
        try:
            self.g.boot(timeout=timeout)
        except fbqemu.FbError as e:
            raise Broken("boot failed: %s: %s" % (type(e).__name__, e))
        self.info = {
            "boot_s": round(time.monotonic() - t0, 1),
            "other_qemus_at_boot": len(others),
            "loadavg_at_boot": loadavg(),
        }
        con = self.g.read_console()
        bad = [ln for ln in con.splitlines() if "fb-init: insmod" in ln]
        if bad:
            raise Broken("guest init: %s" % bad[0].strip())
        m = re.search(r"mem auto-init: (.*)", con)
        self.info["mem_auto_init"] = m.group(1).strip() if m else "?"
        bound = self.bound_driver()
        if bound != self.driver:
            raise Broken("balloon device bound to %r, not %s" %
                         (bound, self.driver))
        self.info["thp_enabled"] = self.thp_setting()
        self.info["features"] = self.sh(
            "for d in /sys/bus/virtio/devices/*; do "
            "[ \"$(cat $d/device)\" = 0x0005 ] && cat $d/features; done; true")
        self.check_health("boot")
        if self.driver == FAST:
            for k, v in self.fb_knobs.items():
                self.sh("echo %s > $(fb-dev)/%s/%s" % (v, FAST, k))
            self.info["fb_knobs"] = self.fb_knobs
        self.cpu_overhead = self.calibrate_cpu()
        self.info["cpu_overhead_jiffies"] = self.cpu_overhead
        return self

    def alive(self):
        return self.g is not None and self.g.alive()

    def save_console(self, why):
        if not self.g or not self.logdir:
            return None
        os.makedirs(self.logdir, exist_ok=True)
        dst = os.path.join(self.logdir, "%s-%s.log" % (self.tag, why))
        try:
            shutil.copy(self.g.console, dst)
        except OSError:
            return None
        return dst

    def stop(self):
        try:
            if self.g is not None:
                self.g.shutdown()
        finally:
            self.g = None
            if self.nr_huge_saved is not None:
                write_nr_hugepages(self.nr_huge_saved)
                self.nr_huge_saved = None

    # -- guest commands

    def sh(self, cmd, timeout=120):
        try:
            return self.g.sh(cmd, timeout=timeout)
        except fbqemu.FbError as e:
            raise Broken("%s: %s" % (type(e).__name__, e))

    def run(self, cmd, timeout=120):
        try:
            return self.g.run(cmd, timeout=timeout)
        except fbqemu.FbError as e:
            raise Broken("%s: %s" % (type(e).__name__, e))

    def bound_driver(self):
        out = self.sh("for d in /sys/bus/virtio/devices/*; do "
                      "[ \"$(cat $d/device)\" = 0x0005 ] && "
                      "readlink $d/driver; done; true")
        return out.strip().rsplit("/", 1)[-1] or None

    def thp_setting(self):
        out = self.sh("cat /sys/kernel/mm/transparent_hugepage/enabled")
        m = re.search(r"\[(\w+)\]", out)
        return m.group(1) if m else out.strip()

    def oom_kills(self):
        return fbqemu.vmstat(self.sh("cat /proc/vmstat")).get("oom_kill", 0)

    def check_health(self, what):
        """Broken if the console shows trouble since the last check."""
        if not self.g.alive():
            raise Broken("QEMU died during %s:\n%s" %
                         (what, self.g.console_tail(15)))
        bad = self.g.health(self.offset)
        self.offset = self.g.console_size()
        if bad:
            raise Broken("guest console during %s: %s" %
                         (what, " | ".join(bad[:6])))

    def driver_lines(self, since):
        """Console lines from either balloon driver since byte @since."""
        return [ln.strip() for ln in self.g.read_console(since).splitlines()
                if FAST + ":" in ln or IN_TREE + ":" in ln or
                "virtio_balloon" in ln]

    # -- balloon

    def actual(self):
        try:
            a = self.g.balloon_actual()
        except fbqemu.FbError as e:
            raise Broken("query-balloon: %s" % e)
        # Every config write queues a BALLOON_CHANGE event; don't hoard them.
        if self.g.qmp_conn is not None:
            del self.g.qmp_conn.events[:]
        return a

    def balloon_to(self, guest_bytes, timeout):
        """Set the target; seconds until query-balloon shows it."""
        t0 = time.monotonic()
        try:
            self.g.set_balloon(guest_bytes)
        except fbqemu.FbError as e:
            raise Broken("balloon command: %s" % e)
        while True:
            a = self.actual()
            t = time.monotonic() - t0
            if a == guest_bytes:
                return t
            if t > timeout:
                raise Broken("target not reached: guest at %d MiB, wanted "
                             "%d MiB after %.1f s" % (a // MIB,
                                                      guest_bytes // MIB, t))
            if not self.g.alive():
                raise Broken("QEMU died while ballooning")
            time.sleep(POLL_S)

    def ensure_empty(self, timeout=180):
        if self.actual() != self.full:
            self.balloon_to(self.full, timeout)

    def cpu_busy(self):
        return cpu_busy_jiffies(self.sh("head -n1 /proc/stat"))

    def calibrate_cpu(self, n=5):
        """Busy jiffies that a back-to-back pair of /proc/stat reads costs.

        A timed window starts with one read and ends with another; what
        the agent does after the first and before the second lands inside
        it.  This is that cost, subtracted from every window.
        """
        d = []
        for _ in range(n):
            a = self.cpu_busy()
            d.append(self.cpu_busy() - a)
        return median(d)

    # -- fastballoon's own counters

    def fb_attrs(self):
        """fastballoon's sysfs group: {uapi key: value} plus every other
        file there under its own name; {} for the in-tree driver."""
        if self.driver != FAST:
            return {}
        out = self.sh("for f in /sys/bus/virtio/drivers/%s/virtio*/%s/*; do "
                      "echo \"${f##*/}=$(cat $f | tr ' ' ,)\"; done" %
                      (FAST, FAST))
        vals = keyvals(out)
        res = {k: vals.pop(name, None) for k, name in FB_ATTRS.items()}
        res.update(vals)
        return res

    def kpf(self):
        """Offline (ballooned) pages and those in whole 2 MiB blocks."""
        return keyvals(self.sh("fbb_kpf", timeout=300))

    # -- host side

    def rss_mib(self):
        return self.g.rss_kib() / KIB

    def thp_mib(self):
        return self.g.anon_huge_kib() / KIB

    def qemu_hugetlb_mib(self):
        return self.g.hugetlb_kib() / KIB

    def qemu_cpu_s(self):
        """CPU seconds (user + system) the QEMU process has used."""
        return sum(self.qemu_cpu_split())

    def qemu_cpu_split(self):
        """(user, system) CPU seconds the QEMU process has used.  Under TCG
        user time is the guest's emulated work and QEMU's own; system time
        is the host kernel's: the discards' madvise calls, page faults."""
        try:
            with open("/proc/%d/stat" % self.g.proc.pid) as f:
                # fields after the command name, which may hold spaces
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, AttributeError) as e:
            raise Broken("QEMU's /proc stat: %s" % e)
        # utime and stime are fields 14 and 15 of stat(5), 12 and 13 here
        hz = os.sysconf("SC_CLK_TCK")
        return int(rest[11]) / hz, int(rest[12]) / hz

    @staticmethod
    def _settle(read, stable_s, max_s, eps, period=0.5):
        """Wait until read() moved less than @eps over @stable_s seconds."""
        t0 = time.monotonic()
        hist = [(t0, read())]
        while True:
            time.sleep(period)
            now = time.monotonic()
            hist.append((now, read()))
            win = [v for t, v in hist if t >= now - stable_s]
            if now - t0 >= stable_s and max(win) - min(win) <= eps:
                return hist[-1][1]
            if now - t0 >= max_s:
                return hist[-1][1]

    def settle_rss(self, stable_s=3.0, max_s=60.0, eps_mib=4.0):
        """Wait until QEMU's RSS stops moving (page reporting, frees)."""
        return self._settle(self.rss_mib, stable_s, max_s, eps_mib)

    def settle_hugetlb(self, stable_s=3.0, max_s=60.0):
        return self._settle(lambda: host_meminfo()["HugePages_Free"],
                            stable_s, max_s, 0)

    # -- the limits (selftests/bench/kmod/fbb_zero.c, host/fbb_discard.c)

    def zero_limit(self, mib, cpus=0, hold=False):
        """Take @mib of free memory the way a balloon must (and zero it,
        under init_on_alloc) on @cpus vCPUs at once (0: all), then free it,
        or with @hold keep it for the next run to recycle (zero_release()
        frees it): {cpus, pages, got, ns, slowest, fastest, blocks,
        singles, zeroing}."""
        rc, out = self.run("grep -q '^fbb_zero ' /proc/modules || "
                           "insmod /lib/fb/fbb_zero.ko && "
                           "echo '%d %d %d' > "
                           "/sys/module/fbb_zero/parameters/run"
                           " && cat /sys/module/fbb_zero/parameters/run" %
                           (mib, cpus, int(hold)), timeout=600)
        kv = keyvals(out)
        if rc or kv.get("got") != mib * MIB // 4096:
            raise Broken("fbb_zero %d MiB on %s CPUs: exit %d: %s" % (
                mib, cpus or "all", rc, out.strip()[-300:]))
        return kv

    def zero_release(self):
        """Free what zero_limit(hold=True) kept."""
        self.sh("echo 0 > /sys/module/fbb_zero/parameters/run")

    def host_discard(self, mode, mib):
        """Replay on the host the discards QEMU makes for @mib through
        @mode ("pages", "ranges", "hugetlb"): {calls, discard_ns, ...}.
        For "hugetlb" the pool grows by what it needs, and shrinks back."""
        exe = os.path.join(self.host_bin, "fbb_discard")
        saved = None
        if mode == "hugetlb":
            saved = read_nr_hugepages()
            write_nr_hugepages(saved + mib // 2)
        try:
            p = subprocess.run([exe, mode, str(mib)], capture_output=True,
                               text=True, timeout=300)
        finally:
            if saved is not None:
                write_nr_hugepages(saved)
        kv = keyvals(p.stdout)
        if p.returncode or "discard_ns" not in kv:
            raise Broken("fbb_discard %s %d exited %d: %s" % (
                mode, mib, p.returncode, (p.stderr or p.stdout).strip()))
        return kv

    # -- guest workloads

    def touch(self, mib):
        rc, out = self.run("fbb_touch %d" % mib, timeout=600)
        if rc:
            raise Broken("fbb_touch %d exited %d: %s" % (mib, rc, out[-300:]))
        return keyvals(out)

    def frag_start(self, mib, timeout=600):
        """Start fbb_frag in the background; wait until it holds its memory."""
        self.sh("rm -f /tmp/frag.pid /tmp/frag.out; "
                "fbb_frag %d /tmp/frag.pid >/tmp/frag.out 2>&1 &" % mib)
        t0 = time.monotonic()
        while True:
            out = self.sh("cat /tmp/frag.out")
            if "held_kib=" in out:
                return keyvals(out)
            if self.run("[ -s /tmp/frag.pid ] || pidof fbb_frag")[0]:
                raise Broken("fbb_frag died: %s" % out[-300:])
            if time.monotonic() - t0 > timeout:
                raise Broken("fbb_frag not ready after %d s" % timeout)
            time.sleep(1)

    def frag_stop(self):
        self.run("kill $(cat /tmp/frag.pid) 2>/dev/null; "
                 "while pidof fbb_frag >/dev/null; do sleep 0.1; done",
                 timeout=120)
