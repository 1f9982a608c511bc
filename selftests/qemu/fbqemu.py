# SPDX-License-Identifier: GPL-2.0
"""fbqemu: boot Debian kernels under QEMU (TCG) with a virtio-balloon device.

A small library shared by the selftest runner and the benchmarks:

  * kernel cache: fetch a Debian kernel image package (apt-get download),
    unpack vmlinuz and the virtio modules into the cache;
  * module build: build fastballoon.ko against a kernel's headers in a
    per-kernel copy of the sources;
  * guest programs: build selftests/guest/*.c statically against the
    kselftest headers unpacked from /usr/src/linux-source-6.1.tar.xz;
  * initramfs: busybox, the modules, the guest programs, an init and a
    command agent listening on the second serial port;
  * Guest: boot QEMU, talk QMP, run shell commands in the guest, read the
    host-side cost (RSS, AnonHugePages) and watch the console for trouble.

Stdlib only.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
GUEST_SRC = os.path.join(REPO, "selftests", "guest")
TOOLS_SRC = os.path.join(REPO, "tools")
TOOL = "balloonctl"
LINUX_SOURCE_TAR = "/usr/src/linux-source-6.1.tar.xz"
BUSYBOX = "/bin/busybox"

# Loaded in this order when they exist as modules (6.1); built in on 6.12.
VIRTIO_STACK = ("virtio_ring", "virtio", "virtio_pci_modern_dev",
                "virtio_pci_legacy_dev", "virtio_pci")
IN_TREE_DRIVER = "virtio_balloon"
FB_MODULE = "fastballoon"

READY_MARK = "FB-AGENT-READY"
# The kernel's line as it starts init (rdinit=/init).
INIT_MARK = "Run /init as init process"
END_MARK = "@@FB-END"

# Console lines that mean the kernel is unhappy.  Any of them fails the test
# that was running when it appeared.
HEALTH_PATTERNS = [
    # (not "RCU lockdep checking is enabled.", which a PROVE_LOCKING
    # kernel prints at every boot)
    r"WARNING:", r"BUG:", r"Oops", r"Call Trace", r"(?<!RCU )lockdep",
    r"possible circular locking", r"inconsistent lock state",
    r"INFO: task .* blocked", r"Kernel panic", r"general protection fault",
    r"Out of memory", r"Killed process", r"kernel BUG at",
    r"soft lockup", r"rcu_sched self-detected stall",
    r"rcu: INFO: .* stall",
    # the debug kernel (selftests/debug): KASAN and lockdep say "BUG:" or
    # "WARNING:" already; kmemleak and UBSAN do not.
    r"suspected memory leak", r"Kernel memory leak detector disabled",
    r"UBSAN:",
]
_HEALTH_RE = re.compile("|".join("(?:%s)" % p for p in HEALTH_PATTERNS))


def fb_attr_names(repo=REPO):
    """fastballoon's sysfs attribute names from the uapi header, as
    {short name: file name} (FB_ATTR_ACTUAL_PAGES -> "actual_pages": ...),
    so that a rename there shows up in every user rather than as a zero."""
    names = {}
    with open(os.path.join(repo, "include", "uapi", "linux",
                           "fastballoon.h")) as f:
        for ln in f:
            w = ln.split()
            if len(w) >= 3 and w[0] == "#define" and w[1].startswith("FB_ATTR_"):
                names[w[1][len("FB_ATTR_"):].lower()] = w[2].strip('"')
    return names


def fb_uapi_numbers(repo=REPO):
    """The numeric constants of the uapi header, {"FB_MAX_ORDER_LIMIT": 9,
    ...}: plain integers, U/UL suffixes, shifts and parentheses."""
    nums = {}
    with open(os.path.join(repo, "include", "uapi", "linux",
                           "fastballoon.h")) as f:
        for ln in f:
            m = re.match(r"#define\s+(FB_\w+)\s+([^/]*?)\s*(?:/\*.*)?$", ln)
            if not m:
                continue
            expr = re.sub(r"\b(\d+)[uU]?[lL]{0,2}\b", r"\1", m.group(2))
            if expr and re.fullmatch(r"[\d\s()<+-]+", expr):
                try:
                    nums[m.group(1)] = int(eval(expr, {"__builtins__": {}}))
                except (SyntaxError, ValueError, TypeError):
                    pass
    return nums


class FbError(Exception):
    """Something in the test bed itself went wrong."""


class HeadersMissing(FbError):
    pass


class GuestDied(FbError):
    pass


class GuestTimeout(FbError):
    pass


def cache_dir():
    d = os.environ.get("FASTBALLOON_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "fastballoon")
    os.makedirs(d, exist_ok=True)
    return d


def _run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def _stamp_ok(path, key):
    try:
        with open(path) as f:
            return f.read() == key
    except OSError:
        return False


def _write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


# ---------------------------------------------------------------- kernels

class KernelImage:
    """vmlinuz and the modules we need from one Debian kernel image package.

    @modules maps a module name to an uncompressed .ko in the cache.
    """

    def __init__(self, pkg, root):
        self.pkg = pkg
        self.kver = pkg.kver
        self.series = pkg.series
        self.root = root
        self.vmlinuz = os.path.join(root, "vmlinuz")
        self.modules = {}
        for ko in sorted(glob.glob(os.path.join(root, "modules", "*.ko"))):
            self.modules[os.path.basename(ko)[:-3]] = ko

    @property
    def virtio_stack(self):
        """Virtio core modules to load before any balloon driver, in order."""
        return [m for m in VIRTIO_STACK if m in self.modules]

    @property
    def headers_dir(self):
        return self.pkg.headers_dir


def _unpack_suite_kernel(pkg, ex):
    """A suite's kernel (kernels.SUITE_SERIES): its image package(s) were
    downloaded into its chroot (suites.py); unpack vmlinuz and the virtio
    modules from them into @ex."""
    import suites
    debs = suites.image_debs(pkg.suite)
    if not debs:
        raise FbError("%s: no image package in %s (suites.py --refresh %s)"
                      % (pkg.suite, suites.debs_dir(pkg.suite), pkg.suite))
    os.makedirs(ex)
    for deb in debs:
        suites.extract(pkg.suite, deb, ex, ["*/vmlinuz*",
                                            "*/kernel/drivers/virtio/*"])


def fetch_kernel(pkg, log=print):
    """Download and unpack @pkg (a kernels.KernelPkg) into the cache once."""
    root = os.path.join(cache_dir(), "kernels", pkg.kver)
    stamp = os.path.join(root, ".done")
    if _stamp_ok(stamp, pkg.image):
        return KernelImage(pkg, root)
    log("fetching %s into %s" % (pkg.image, root))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "modules"))
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        ex = os.path.join(tmp, "x")
        if getattr(pkg, "suite", None):
            _unpack_suite_kernel(pkg, ex)
        else:
            # apt's sandbox user cannot write to root's cache: let it fall
            # back quietly instead of printing a warning on every fetch.
            _run(["apt-get", "download", "-q", "-o",
                  "APT::Sandbox::User=root", pkg.image], cwd=tmp,
                 stdout=subprocess.DEVNULL)
            debs = glob.glob(os.path.join(tmp, "*.deb"))
            if len(debs) != 1:
                raise FbError("apt-get download %s gave %r" % (pkg.image, debs))
            _run(["dpkg", "-x", debs[0], ex])
        # /boot/vmlinuz-<kver> (bookworm, trixie) or, in sid's split
        # packages, /usr/lib/modules/<kver>/vmlinuz; modules under /lib or
        # (merged /usr) /usr/lib.
        vmlinuz = glob.glob(os.path.join(ex, "boot", "vmlinuz-*")) + \
            glob.glob(os.path.join(ex, "usr", "lib", "modules", pkg.kver,
                                   "vmlinuz"))
        if len(vmlinuz) != 1:
            raise FbError("no single vmlinuz in %s" % pkg.image)
        shutil.copy(vmlinuz[0], os.path.join(root, "vmlinuz"))
        vdir = os.path.join(ex, "lib", "modules", pkg.kver, "kernel",
                            "drivers", "virtio")
        if not os.path.isdir(vdir):
            vdir = os.path.join(ex, "usr", "lib", "modules", pkg.kver,
                                "kernel", "drivers", "virtio")
        for name in VIRTIO_STACK + (IN_TREE_DRIVER,):
            dst = os.path.join(root, "modules", name + ".ko")
            for ext, unpack in ((".ko", None), (".ko.xz", "xz"),
                                (".ko.zst", "zstd")):
                src = os.path.join(vdir, name + ext)
                if not os.path.exists(src):
                    continue
                if unpack:
                    with open(dst, "wb") as out:
                        _run([unpack, "-dc", src], stdout=out)
                else:
                    shutil.copy(src, dst)
                break
    if not os.path.exists(os.path.join(root, "modules", IN_TREE_DRIVER + ".ko")):
        raise FbError("%s has no %s module" % (pkg.image, IN_TREE_DRIVER))
    _write(stamp, pkg.image)
    return KernelImage(pkg, root)


# ---------------------------------------------------------- module build

class BuildResult:
    def __init__(self, ok, log, ko, problems):
        self.ok = ok            # built, and no warning or error printed
        self.log = log          # full make output
        self.ko = ko            # path of fastballoon.ko or None
        self.problems = problems  # the warning/error lines


def driver_sources_present(repo=REPO):
    return (os.path.exists(os.path.join(repo, "Kbuild")) and
            bool(glob.glob(os.path.join(repo, "driver", "*.c"))))


# Someone may have built in the source tree itself: never carry its objects
# (made for another kernel, perhaps) into a per-kernel build directory.
_BUILD_OUTPUT = shutil.ignore_patterns(
    "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "modules.order",
    "Module.symvers", "*.a", ".tmp_versions")


def build_module(kimg, repo=REPO, module=FB_MODULE):
    """Build fastballoon.ko for @kimg with W=1 in $CACHE/build/<kver>, or,
    for a suite's kernel, inside its chroot with the suite's gcc.

    @repo: the tree to build (its Kbuild, driver/, include/ and any *.c
    beside Kbuild); @module: the .ko it makes (the benchmark's helper
    module builds the same way, in a directory of its own)."""
    hdr = kimg.headers_dir
    suite = getattr(kimg.pkg, "suite", None)
    if not os.path.exists(os.path.join(hdr, "Makefile")):
        raise HeadersMissing(
            "%s is not installed: %s" % (hdr, "suites.py --refresh " + suite
                                         if suite else "apt-get install " +
                                         kimg.pkg.headers))
    if suite:
        import suites
        rc, out, dst = suites.build_module(suite, kimg.kver, repo)
        p = subprocess.CompletedProcess([], rc, out)
    else:
        dst = os.path.join(cache_dir(), "build", kimg.kver +
                           ("" if module == FB_MODULE else "-" + module))
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        for f in ["Kbuild"] + glob.glob(os.path.join(repo, "*.c")):
            shutil.copy(os.path.join(repo, f), dst)
        for sub in ("driver", "include"):
            if os.path.isdir(os.path.join(repo, sub)):
                shutil.copytree(os.path.join(repo, sub),
                                os.path.join(dst, sub), ignore=_BUILD_OUTPUT)
        p = _run(["make", "-C", hdr, "M=" + dst, "W=1",
                  "-j%d" % (os.cpu_count() or 2), "modules"], check=False,
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    problems = [ln for ln in p.stdout.splitlines()
                if re.search(r"(?i)\b(warning|error):|\*\*\*", ln)]
    kos = glob.glob(os.path.join(dst, "**", module + ".ko"), recursive=True)
    ko = kos[0] if kos else None
    if p.returncode and not problems:
        problems = p.stdout.splitlines()[-5:]
    ok = p.returncode == 0 and not problems and ko is not None
    if p.returncode == 0 and ko is None:
        problems.append("make succeeded but no %s.ko was produced" % module)
    return BuildResult(ok, p.stdout, ko, problems)


# -------------------------------------------------------- guest programs

def kselftest_include():
    """Unpack kselftest.h and kselftest_harness.h from linux-source once."""
    d = os.path.join(cache_dir(), "kselftest")
    inc = os.path.join(d, "linux-source-6.1", "tools", "testing", "selftests")
    if os.path.exists(os.path.join(inc, "kselftest_harness.h")):
        return inc
    if not os.path.exists(LINUX_SOURCE_TAR):
        raise FbError("%s missing: apt-get install linux-source-6.1" %
                      LINUX_SOURCE_TAR)
    os.makedirs(d, exist_ok=True)
    _run(["tar", "-xJf", LINUX_SOURCE_TAR, "-C", d, "--wildcards",
          "linux-source-6.1/tools/testing/selftests/kselftest*.h"])
    return inc


def build_guest_programs(src=GUEST_SRC):
    """Compile every selftests/guest/*.c into $CACHE/guest-bin; return dir."""
    inc = kselftest_include()
    out = os.path.join(cache_dir(), "guest-bin")
    os.makedirs(out, exist_ok=True)
    uapi = os.path.join(REPO, "include", "uapi")
    deps = glob.glob(os.path.join(src, "*.h")) + \
        glob.glob(os.path.join(uapi, "linux", "*.h"))
    newest_dep = max([os.path.getmtime(p) for p in deps] or [0])
    for c in sorted(glob.glob(os.path.join(src, "*.c"))):
        exe = os.path.join(out, os.path.basename(c)[:-2])
        if os.path.exists(exe) and os.path.getmtime(exe) >= max(
                os.path.getmtime(c), newest_dep):
            continue
        p = _run(["gcc", "-static", "-O2", "-Wall", "-I", inc, "-I", uapi,
                  "-I", src, "-o", exe, c], check=False,
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode or p.stdout.strip():
            if os.path.exists(exe):
                os.unlink(exe)
            raise FbError("building %s:\n%s" % (c, p.stdout))
    return out


def build_balloonctl(bindir):
    """Build tools/balloonctl statically (make -C tools O=... STATIC=1) and
    put it in @bindir, the guest programs' directory, when tools/Makefile
    exists.

    Returns (status, why): ("ok", ""), ("absent", why) when there is no
    tools/Makefile yet, or ("failed", make's last lines).  A stale copy in
    @bindir is removed unless the build succeeded, so a guest never runs an
    old tool.
    """
    dst = os.path.join(bindir, TOOL)
    if os.path.exists(dst):
        os.unlink(dst)
    if not os.path.exists(os.path.join(TOOLS_SRC, "Makefile")):
        return "absent", "tools/Makefile does not exist yet"
    out = os.path.join(cache_dir(), "tools-build")
    os.makedirs(out, exist_ok=True)
    p = _run(["make", "-C", TOOLS_SRC, "O=" + out, "STATIC=1"], check=False,
             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    exe = os.path.join(out, TOOL)
    if p.returncode or not os.path.exists(exe):
        return "failed", "make -C tools O=%s STATIC=1 exited %d:\n%s" % (
            out, p.returncode, "\n".join(p.stdout.splitlines()[-10:]))
    shutil.copy(exe, dst)
    return "ok", ""


# ------------------------------------------------------------- initramfs

# PID 1.  Loads the virtio stack and the balloon driver named by fb.driver=
# on the kernel command line, then serves commands on ttyS1 forever.
_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mkdir -p /proc /sys /dev /tmp /mnt
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
echo 60 > /proc/sys/kernel/hung_task_timeout_secs
# Every SysRq function: a command that times out gets the blocked tasks
# dumped (Guest.sysrq(), through the PS/2 keyboard).
echo 1 > /proc/sys/kernel/sysrq
for m in $(cat /lib/fb/stack.list); do
	insmod /lib/fb/$m.ko || echo "fb-init: insmod $m failed"
done
drv=
for w in $(cat /proc/cmdline); do
	case "$w" in fb.driver=*) drv=${w#fb.driver=} ;; esac
done
if [ -n "$drv" ] && [ "$drv" != none ]; then
	insmod /lib/fb/$drv.ko || echo "fb-init: insmod $drv failed"
fi
echo "FB-GUEST-READY driver=$drv"
while true; do
	/bin/fb-agent /dev/ttyS1
	echo "fb-init: agent exited, restarting"
	sleep 1
done
"""

# The command agent: one command a line ("<id> <shell command>"), its output,
# then "@@FB-END <id> <exit status>@@".  The port is raw so that nothing is
# echoed or translated.
_AGENT = r"""#!/bin/sh
tty=$1
stty -F "$tty" raw -echo
exec <"$tty" >"$tty" 2>&1
echo "FB-AGENT-READY" > /dev/console
while IFS= read -r line; do
	[ -n "$line" ] || continue
	id=${line%% *}
	cmd=${line#* }
	sh -c "$cmd" </dev/null >/tmp/.fb-out 2>&1
	rc=$?
	cat /tmp/.fb-out
	printf '\n@@FB-END %s %s@@\n' "$id" "$rc"
done
"""


# Prints the balloon device's sysfs directory (virtio device id 5).
_FB_DEV = r"""#!/bin/sh
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0005 ] && echo "$d" && exit 0
done
echo "fb-dev: no virtio-balloon device" >&2
exit 1
"""


def make_initramfs(kimg, out, extra_modules=None, bindir=None):
    """Write a gzipped newc initramfs for @kimg to @out.

    @extra_modules: {name: path to .ko} added next to the in-tree ones.
    @bindir: directory of guest programs installed into /usr/bin.
    """
    with tempfile.TemporaryDirectory(dir=cache_dir()) as root:
        for d in ("bin", "usr/bin", "lib/fb", "proc", "sys", "dev", "tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
        _write(os.path.join(root, "init"), _INIT, 0o755)
        _write(os.path.join(root, "bin", "fb-agent"), _AGENT, 0o755)
        _write(os.path.join(root, "bin", "fb-dev"), _FB_DEV, 0o755)
        _write(os.path.join(root, "lib", "fb", "stack.list"),
               "\n".join(kimg.virtio_stack) + "\n")
        mods = dict(kimg.modules)
        mods.update(extra_modules or {})
        for name, path in mods.items():
            shutil.copy(path, os.path.join(root, "lib", "fb", name + ".ko"))
        if bindir:
            for exe in glob.glob(os.path.join(bindir, "*")):
                shutil.copy(exe, os.path.join(root, "usr", "bin"))
        names = subprocess.run("find . | sort", shell=True, cwd=root,
                               check=True, stdout=subprocess.PIPE).stdout
        cpio = _run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"],
                    cwd=root, input=names, stdout=subprocess.PIPE).stdout
        with open(out, "wb") as f:
            f.write(subprocess.run(["gzip", "-1"], input=cpio, check=True,
                                   stdout=subprocess.PIPE).stdout)
    return out


# ------------------------------------------------------------------- QMP

class Qmp:
    """Minimal QMP client over a unix socket.  Events are kept, not lost."""

    def __init__(self, sock, timeout=30):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self._recv()                      # greeting
        self.cmd("qmp_capabilities")

    def _recv(self):
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise GuestTimeout("QMP: no answer")
            if not data:
                raise GuestDied("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise FbError("QMP %s: %s" % (name, r["error"].get("desc")))
            if "return" in r:
                return r["return"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------- guest

def _connect_unix(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def find_health_problems(text):
    """Lines of console @text that match HEALTH_PATTERNS."""
    return [ln.strip() for ln in text.splitlines() if _HEALTH_RE.search(ln)]


_INT3_RE = re.compile(r"Oops: int3\b")
_CODE_RE = re.compile(r"Code: (?:[0-9a-f]{2} )*([0-9a-f]{2}) <[0-9a-f]{2}>")


def stale_int3(text):
    """The "Oops: int3" line of console @text when the breakpoint that
    trapped is no longer in memory: the first "Code:" line after it shows
    the bytes around the trap address, and the one just before it (the
    int3, 0xcc, when it is really there) is something else. Text patching
    (a static key, a tracepoint turned on) writes an int3, then the new
    instruction, and waits for every CPU to serialize in between; under TCG
    a vCPU can still run the int3 afterwards from code translated before.
    Real hardware cannot, and a stray int3 of ours would still be in
    memory. None if @text shows no such trap."""
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if not _INT3_RE.search(ln):
            continue
        for code in lines[i + 1:i + 40]:
            m = _CODE_RE.search(code)
            if m:
                if m.group(1) != "cc":
                    return ln.strip()
                break
    return None


def meminfo_kib(text):
    """Parse /proc/meminfo text into {field: kB}."""
    out = {}
    for ln in text.splitlines():
        k, _, v = ln.partition(":")
        if v.strip():
            out[k.strip()] = int(v.split()[0])
    return out


def vmstat(text):
    return {k: int(v) for k, v in (ln.split() for ln in text.splitlines()
                                   if len(ln.split()) == 2)}


class Guest:
    """One QEMU guest with a virtio-balloon-pci device called balloon0.

    balloon_props: extra device properties, e.g. {"deflate-on-oom": "on"}.
    driver: balloon driver init loads at boot ("fastballoon",
            "virtio_balloon" or None).
    hugetlb: back guest RAM with 2 MiB hugetlbfs pages (reserves them on
             the host for the guest's lifetime).
    qemu:    the QEMU to run (qemus.Qemu: the host's or a suite's); None
             is the system's qemu-system-x86_64.
    cpu:     the -cpu model ("max"; the benchmark also runs
             "max,-erms,-fsrm", FACTS: "TCG and zeroing").
    """

    BALLOON_QOM = "/machine/peripheral/balloon0"

    def __init__(self, kimg, initrd, mem_mib=2048, smp=2, balloon_props=None,
                 driver=None, cmdline="", hugetlb=False, keep=False,
                 workdir=None, iothread=None, qemu=None, cpu="max"):
        self.kimg = kimg
        self.cpu = cpu
        # qemus.Qemu, or None for the system's qemu-system-x86_64
        self.qemu = qemu
        self.initrd = initrd
        self.mem_mib = mem_mib
        self.smp = smp
        self.props = dict(balloon_props or {})
        self.driver = driver
        self.cmdline = cmdline
        self.hugetlb = hugetlb
        self.keep = keep
        self.iothread = iothread if iothread is not None else \
            self.props.get("free-page-hint") == "on"
        self.dir = workdir or tempfile.mkdtemp(prefix="fbq-")
        self.console = os.path.join(self.dir, "console.log")
        self.proc = None
        self.qmp_conn = None
        self.cmd_sock = None
        self._cmd_buf = b""
        self._seq = 0
        self._saved_nr_huge = None
        self.early_crashes = []
        # A slow kernel (the debug kernel: KASAN, lockdep) stretches every
        # timeout by this factor; what the tests assert does not change.
        self.slow = getattr(kimg, "timeout_scale", 1)

    # -- lifecycle

    @property
    def mem_bytes(self):
        return self.mem_mib << 20

    def balloon_device(self):
        """The balloon device's properties, as QMP device_add takes them
        (and -device, joined with commas)."""
        dev = {"driver": "virtio-balloon-pci", "id": "balloon0"}
        if self.iothread:
            dev["iothread"] = "iot0"
        dev.update(self.props)
        return dev

    def qemu_argv(self):
        props = self.balloon_device()
        dev = ",".join([props.pop("driver")] +
                       ["%s=%s" % kv for kv in props.items()])
        argv = list(self.qemu.argv if self.qemu else ("qemu-system-x86_64",))
        argv += ["-accel", "tcg", "-cpu", self.cpu,
                "-m", "%dM" % self.mem_mib, "-smp", str(self.smp),
                "-nodefaults", "-no-user-config", "-display", "none",
                "-no-reboot",
                "-kernel", self.kimg.vmlinuz, "-initrd", self.initrd,
                "-append", self.kernel_cmdline(),
                "-chardev", "file,id=con0,path=" + self.console,
                "-serial", "chardev:con0",
                "-chardev", "socket,id=cmd0,path=%s,server=on,wait=off" %
                os.path.join(self.dir, "cmd.sock"),
                "-serial", "chardev:cmd0",
                "-qmp", "unix:%s,server=on,wait=off" %
                os.path.join(self.dir, "qmp.sock")]
        if self.iothread:
            argv += ["-object", "iothread,id=iot0"]
        if self.hugetlb:
            argv += ["-object", "memory-backend-memfd,id=mem,size=%dM,"
                     "hugetlb=on,hugetlbsize=2M" % self.mem_mib,
                     "-machine", "memory-backend=mem"]
        argv += ["-device", dev]
        return argv

    def kernel_cmdline(self):
        words = ["console=ttyS0", "panic=-1", "oops=panic", "rdinit=/init",
                 "fb.driver=%s" % (self.driver or "none")]
        # What the kernel itself asks for (the debug kernel: panic_on_warn=1,
        # kmemleak=on, pci=noacpi).
        words += getattr(self.kimg, "cmdline", "").split()
        return " ".join(words + ([self.cmdline] if self.cmdline else []))

    def _reserve_hugepages(self):
        path = "/proc/sys/vm/nr_hugepages"
        with open(path) as f:
            self._saved_nr_huge = int(f.read())
        need = self._saved_nr_huge + self.mem_mib // 2
        with open(path, "w") as f:
            f.write(str(need))
        with open(path) as f:
            got = int(f.read())
        if got < need:
            self._release_hugepages()
            raise FbError("could reserve only %d of %d huge pages" % (got, need))

    def _release_hugepages(self):
        if self._saved_nr_huge is not None:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(self._saved_nr_huge))
            self._saved_nr_huge = None

    # A kernel that dies before it starts init has run none of our code (the
    # balloon drivers are modules init loads).  Under TCG that happens now
    # and then: a vCPU still runs an int3 that text patching has already
    # taken out again ("Oops: int3" at 2-3 s on 6.12: once in 44 boots
    # with two guests on two cores, once in a CI run).  Such a boot is
    # tried again, at most this many times; early_crashes says what
    # happened, and the console of each is kept in the cache's logs/.
    BOOT_RETRIES = 2

    def boot(self, timeout=180):
        """Start QEMU and wait until the guest's agent answers."""
        if self.hugetlb:
            self._reserve_hugepages()
        for attempt in range(self.BOOT_RETRIES + 1):
            try:
                return self._boot_once(timeout)
            except GuestDied:
                text = self.read_console()
                if INIT_MARK in text or attempt == self.BOOT_RETRIES:
                    raise
                self._stop()
                logs = os.path.join(cache_dir(), "logs")
                os.makedirs(logs, exist_ok=True)
                kept = os.path.join(logs, "early-crash-%s-%d.log" % (
                    time.strftime("%Y%m%d-%H%M%S"), os.getpid()))
                shutil.copy(self.console, kept)
                first = find_health_problems(text) or ["no problem line"]
                self.early_crashes.append("%s (console: %s)" % (first[0],
                                                                kept))

    def _boot_once(self, timeout):
        timeout *= self.slow
        open(self.console, "w").close()
        self.t_start = time.monotonic()
        deadline = self.t_start + timeout
        self._start(deadline)
        while READY_MARK not in self.read_console():
            self._check_alive()
            if time.monotonic() > deadline:
                raise GuestTimeout("guest not ready after %d s" % timeout)
            time.sleep(0.2)
        # Bytes sent before the agent had the port open and raw are lost
        # (or half lost): sync with short pings, each on a fresh line.
        while True:
            self.cmd_sock.sendall(b"\n")
            try:
                self.run("true", timeout=3, stuck_report=False)
                break
            except GuestTimeout:
                if time.monotonic() > deadline:
                    raise GuestTimeout("guest agent silent after %d s" % timeout)
        self.boot_seconds = time.monotonic() - self.t_start
        return self

    def _start(self, deadline):
        """Start QEMU (self.proc) and connect to its command agent's socket
        (self.cmd_sock) and QMP (self.qmp_conn)."""
        with open(os.path.join(self.dir, "qemu.out"), "w") as out:
            self.proc = subprocess.Popen(self.qemu_argv(),
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        try:
            self.cmd_sock = _connect_unix(os.path.join(self.dir, "cmd.sock"), deadline)
            self.qmp_conn = Qmp(_connect_unix(os.path.join(self.dir, "qmp.sock"),
                                              deadline))
        except OSError:
            self._check_alive()
            raise GuestDied("QEMU sockets never appeared")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            try:
                with open(os.path.join(self.dir, "qemu.out")) as f:
                    said = f.read().strip()
            except OSError:
                said = ""
            raise GuestDied("QEMU exited with %s%s; console tail:\n%s" % (
                self.proc.returncode, ": " + said if said else "",
                self.console_tail()))

    def shutdown(self):
        self._stop()
        self._release_hugepages()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop(self):
        """Close the sockets and end QEMU."""
        if self.qmp_conn:
            self.qmp_conn.close()
            self.qmp_conn = None
        if self.cmd_sock:
            self.cmd_sock.close()
            self.cmd_sock = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    def __enter__(self):
        return self.boot()

    def __exit__(self, *exc):
        self.shutdown()

    # -- console

    def read_console(self, offset=0):
        try:
            with open(self.console, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def console_size(self):
        try:
            return os.path.getsize(self.console)
        except OSError:
            return 0

    def console_tail(self, n=25):
        return "\n".join(self.read_console().splitlines()[-n:])

    def health(self, offset=0):
        """Problem lines on the console from byte @offset on."""
        return find_health_problems(self.read_console(offset))

    # -- commands

    def run(self, cmd, timeout=60, check=False, stuck_report=True):
        """Run @cmd with sh -c in the guest; return (status, output).  On a
        timeout, the error carries the guest's SysRq dumps (stuck_report())
        unless @stuck_report is false."""
        if "\n" in cmd:
            raise ValueError("guest commands are one line")
        timeout *= self.slow
        self._seq += 1
        tag = "%s %d " % (END_MARK, self._seq)
        self.cmd_sock.sendall(("%d %s\n" % (self._seq, cmd)).encode())
        deadline = time.monotonic() + timeout
        while True:
            i = self._cmd_buf.find(tag.encode())
            if i >= 0:
                j = self._cmd_buf.find(b"@@\n", i + len(tag))
                if j >= 0:
                    out = self._cmd_buf[:i].decode("utf-8", "replace")
                    rc = int(self._cmd_buf[i + len(tag):j])
                    self._cmd_buf = self._cmd_buf[j + 3:]
                    out = out.rstrip("\n")
                    if check and rc:
                        raise FbError("guest command %r exited %d:\n%s" %
                                      (cmd, rc, out))
                    return rc, out
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestTimeout("guest command %r timed out after %d s%s"
                                   % (cmd, timeout, self.stuck_report()
                                      if stuck_report else ""))
            self._check_alive()
            self.cmd_sock.settimeout(min(left, 0.5))
            try:
                data = self.cmd_sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                self._check_alive()
                raise GuestDied("command channel closed")
            self._cmd_buf += data

    # What a stuck guest is asked for: its blocked tasks (w), what each CPU
    # is running (l) and its memory (m).
    STUCK_SYSRQ = "wlm"
    STUCK_LINES = 80

    def sysrq(self, keys, settle=5):
        """Press Alt-SysRq-<key> for each of @keys on the guest's keyboard
        (it does not need the guest's userspace); the console's new text."""
        start = self.console_size()
        for k in keys:
            self.qmp("human-monitor-command",
                     **{"command-line": "sendkey alt-sysrq-" + k})
        time.sleep(settle * self.slow)
        return self.read_console(start)

    def stuck_report(self):
        """For an error message: the SysRq dumps of a guest that stopped
        answering, the lines that name tasks and functions, or why there
        are none."""
        try:
            text = self.sysrq(self.STUCK_SYSRQ)
        except (FbError, OSError) as e:
            return "\n# no SysRq dump: %s" % e
        keep = [ln for ln in text.splitlines()
                if re.search(r"task:|state:|blocked|Show |CPU\d|NMI| [a-z_]"
                             r"\w*\+0x|Mem-Info|free:|active_anon", ln)]
        if not keep:
            return "\n# SysRq dump: nothing on the console"
        more = len(keep) - self.STUCK_LINES
        return "\n# SysRq %s (whole dump in the console log):\n%s%s" % (
            self.STUCK_SYSRQ, "\n".join(keep[:self.STUCK_LINES]),
            "\n# ... %d more lines" % more if more > 0 else "")

    def sh(self, cmd, timeout=60):
        """Run @cmd, fail unless it exits 0, return its output."""
        return self.run(cmd, timeout=timeout, check=True)[1]

    def meminfo(self):
        return meminfo_kib(self.sh("cat /proc/meminfo"))

    def vmstat(self):
        return vmstat(self.sh("cat /proc/vmstat"))

    # -- QMP

    def qmp(self, name, **args):
        self._check_alive()
        return self.qmp_conn.cmd(name, **args)

    def wait_event(self, name, timeout=30, **data):
        """Wait for QMP event @name whose data has the items @data; return
        it.  It and the events before it are dropped from the queue."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.qmp_conn.events
            for i, e in enumerate(ev):
                if e["event"] == name and all(
                        e.get("data", {}).get(k) == v for k, v in data.items()):
                    del ev[:i + 1]
                    return e
            if time.monotonic() > deadline:
                raise GuestTimeout("no QMP event %s %r after %d s" % (
                    name, data, timeout))
            time.sleep(0.1)
            self.qmp("query-status")      # reads the events sent meanwhile

    def unplug_balloon(self, timeout=60):
        """device_del the balloon; wait until QEMU says it is gone (the
        guest ejected it)."""
        self.qmp_conn.events.clear()
        self.qmp("device_del", id="balloon0")
        return self.wait_event("DEVICE_DELETED", timeout, device="balloon0")

    def plug_balloon(self):
        """device_add the balloon again, with the properties it booted with."""
        self.qmp("device_add", **self.balloon_device())

    def set_balloon(self, guest_bytes):
        """Ask the guest to shrink to @guest_bytes of RAM."""
        self.qmp("balloon", value=int(guest_bytes))

    def balloon_actual(self):
        """Guest RAM size in bytes as QEMU sees it (ram - ballooned)."""
        return self.qmp("query-balloon")["actual"]

    def ballooned_bytes(self):
        return self.mem_bytes - self.balloon_actual()

    def wait_balloon(self, guest_bytes, timeout=120, slack=0):
        """Wait until query-balloon reports @guest_bytes (+- @slack)."""
        timeout *= self.slow
        deadline = time.monotonic() + timeout
        while True:
            actual = self.balloon_actual()
            if abs(actual - guest_bytes) <= slack:
                return time.monotonic() - (deadline - timeout)
            if time.monotonic() > deadline:
                raise GuestTimeout("balloon: guest size %d MiB, wanted %d MiB "
                                   "after %d s%s" % (actual >> 20,
                                                     guest_bytes >> 20, timeout,
                                                     self.stuck_report()))
            time.sleep(0.2)

    def qom_get(self, prop, path=BALLOON_QOM):
        return self.qmp("qom-get", path=path, property=prop)

    def qom_set(self, prop, value, path=BALLOON_QOM):
        return self.qmp("qom-set", path=path, property=prop, value=value)

    # -- host-side cost

    def _proc_kib(self, fname, key):
        with open("/proc/%d/%s" % (self.proc.pid, fname)) as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
        return 0

    def rss_kib(self):
        return self._proc_kib("status", "VmRSS")

    def anon_huge_kib(self):
        return self._proc_kib("smaps_rollup", "AnonHugePages")

    def hugetlb_kib(self):
        """hugetlbfs memory mapped by QEMU (not part of VmRSS)."""
        return self._proc_kib("status", "HugetlbPages")
