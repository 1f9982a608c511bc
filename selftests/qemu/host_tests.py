# SPDX-License-Identifier: GPL-2.0
"""The host-side tests, which need no guest: the packaging tests
(selftests/packaging/test-packaging.sh: make install and DKMS;
test-deb.sh: the Debian packages) and balloonctl's own tests
(selftests/tools/test_balloonctl.py), each turned into the runner's
results through its res.report(verdict, where, name, detail, secs).
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
