# SPDX-License-Identifier: GPL-2.0
"""The host-side tests, which need no guest: the packaging tests
(selftests/packaging/test-packaging.sh: make install and DKMS;
test-deb.sh: the Debian packages), balloonctl's own tests
(selftests/tools/test_balloonctl.py) and the runner's reading of guest
consoles, each turned into the runner's results through its
res.report(verdict, where, name, detail, secs).
"""

import os
import re
import subprocess
import sys
import time

import fbqemu
from fbtest import KSFT_SKIP, _last_lines

PACKAGING_DIR = os.path.join(fbqemu.REPO, "selftests", "packaging")
# result name -> script
PACKAGING_TESTS = {"packaging": "test-packaging.sh",
                   "packaging/deb": "test-deb.sh"}
TOOL_TESTS = os.path.join(fbqemu.REPO, "selftests", "tools",
                          "test_balloonctl.py")


def run_packaging(res, name="packaging"):
    """One packaging test (@name, a key of PACKAGING_TESTS): one result."""
    script = os.path.join(PACKAGING_DIR, PACKAGING_TESTS[name])
    if not os.path.exists(script):
        return
    t0 = time.monotonic()
    p = subprocess.run(["bash", script], cwd=fbqemu.REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, stdin=subprocess.DEVNULL)
    verdict = {0: "ok", KSFT_SKIP: "skip"}.get(p.returncode, "not ok")
    detail = {"ok": "", "skip": _last_lines(p.stdout, 1)}.get(
        verdict, "exit %d:\n%s" % (p.returncode, _last_lines(p.stdout, 15)))
    res.report(verdict, "host", name, detail, time.monotonic() - t0)


def run_tool_tests(res):
    """selftests/tools/test_balloonctl.py: one result per "PASS name" /
    "FAIL name: reason" (/ "SKIP name: reason") line it prints."""
    if not os.path.exists(TOOL_TESTS):
        res.report("skip", "host", "balloonctl",
                   "%s does not exist yet" % os.path.relpath(TOOL_TESTS,
                                                             fbqemu.REPO))
        return
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, TOOL_TESTS], cwd=fbqemu.REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, stdin=subprocess.DEVNULL)
    n = fails = 0
    for ln in p.stdout.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP) (\S+?):?(?: (.*))?$", ln)
        if not m:
            continue
        n += 1
        fails += m.group(1) == "FAIL"
        verdict = {"PASS": "ok", "FAIL": "not ok", "SKIP": "skip"}[m.group(1)]
        res.report(verdict, "host", "balloonctl/" + m.group(2),
                   m.group(3) or "")
    if not n and p.returncode == KSFT_SKIP:
        res.report("skip", "host", "balloonctl", _last_lines(p.stdout, 1))
    elif not n or (p.returncode and not fails):
        # Died, or failed without saying what: that is a failure of its own.
        res.report("not ok", "host", "balloonctl",
                   "%s exited %d after %d results:\n%s" % (
                       os.path.basename(TOOL_TESTS), p.returncode, n,
                       _last_lines(p.stdout, 15)), time.monotonic() - t0)


# Console excerpts for fbqemu.stale_int3(), each with what it must say. The
# first is as seen in a run (trixie's 6.12, a tracepoint turned on): the
# byte before the trap address is 0f, the first of the 5-byte NOP that
# replaced the int3; in the second the int3 (cc) is still there.
_OOPS = ("[   55.376521] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n"
         "[   55.378264] RIP: 0010:__schedule+0x343/0xbe0\n"
         "[   55.379013] Code: 9f 48 89 45 b8 0f 85 ab 06 00 00 e9 f4 02 00 "
         "00 %s <1f> 44 00 00 48 8b 83 88 0a 00 00\n")
_STALE_INT3_CASES = (
    ("a replaced int3", _OOPS % "0f", True),
    ("an int3 still in memory", _OOPS % "cc", False),
    ("an int3 oops without a Code line", _OOPS.splitlines()[0] + "\n", False),
    ("another oops", _OOPS.replace("int3", "general protection") % "0f",
     False),
    ("a clean console", "[    1.0] Run /init as init process\n", False),
)


def run_console_tests(res):
    """fbqemu.stale_int3(): the emulator's stale int3, which the runner
    tries once more in a fresh guest, is told from every other oops."""
    t0 = time.monotonic()
    wrong = ["%s: %r" % (what, fbqemu.stale_int3(text))
             for what, text, want in _STALE_INT3_CASES
             if bool(fbqemu.stale_int3(text)) != want]
    res.report("not ok" if wrong else "ok", "host", "stale_int3",
               "misread: " + "; ".join(wrong) if wrong else
               "%d console excerpts read right" % len(_STALE_INT3_CASES),
               time.monotonic() - t0)


# The virtio-balloon-pci properties the groups (groups.py) and the tests
# set: a QEMU that lost one would fail them in a way that reads like a
# driver bug.
BALLOON_PROPS = ("deflate-on-oom", "free-page-hint", "free-page-reporting",
                 "page-poison", "guest-stats-polling-interval", "iothread")


def run_qemu_tests(res, names):
    """Each QEMU of @names (qemus.NAMES) runs, says its version, and its
    virtio-balloon-pci has every property the tests use: one result each,
    host/qemu/<name>. A suite's QEMU is installed in its chroot first."""
    import qemus
    import suites
    for name in names:
        t0 = time.monotonic()
        try:
            q = qemus.ensure(name, log=lambda s: print("# " + s, flush=True))
            p = subprocess.run(list(q.argv) + ["-device",
                                               "virtio-balloon-pci,help"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL, timeout=60)
            have = set(re.findall(r"^\s*([\w-]+)=", p.stdout, re.M))
            lost = [prop for prop in BALLOON_PROPS if prop not in have]
            if p.returncode or lost:
                verdict, detail = "not ok", "QEMU %s: %s" % (
                    q.vstr, "exit %d: %s" % (p.returncode, p.stdout[-300:])
                    if p.returncode else "virtio-balloon-pci has no " +
                    ", ".join(lost))
            else:
                verdict, detail = "ok", "QEMU %s (%s), %d device properties" \
                    % (q.vstr, q.package or "?", len(have))
        except (qemus.QemuError, suites.SuiteError, OSError,
                subprocess.SubprocessError) as e:
            verdict, detail = "not ok", "%s: %s" % (type(e).__name__, e)
        res.report(verdict, "host", "qemu/" + name, detail,
                   time.monotonic() - t0)
