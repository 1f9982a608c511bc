# SPDX-License-Identifier: GPL-2.0
"""The driver's life: rmmod and unbind with a full balloon give every page
back, load/unload and bind/unbind cycles, virtio_balloon and fastballoon
taking the same device in turn, balloonctl takeover and release.

Groups "default" and "coexist" (groups.py).
"""

import json
import re

from fbtest import (
    FB_ATTRS, FULL, Fail, KIB, MIB, PAGES_PER_MIB, Skip, check,
    deflate_and_check, fastballoon_only, inflate_and_check, wait_for,
)


def _full_balloon_release(c, release, restore, what):
    """Inflate 1 GiB, @release the driver: all memory back; @restore."""
    c.reset()
    mi0, free0 = c.meminfo(), c.free_kib()
    inflate_and_check(c, 1024)
    release()
    mi1, free1 = c.meminfo(), c.free_kib()
    check(mi1["MemTotal"] == mi0["MemTotal"],
          "MemTotal %d KiB after %s, %d KiB before inflating",
          mi1["MemTotal"], what, mi0["MemTotal"])
    check(abs(free1 - free0) <= 32 * KIB,
          "free memory (MemFree + per-cpu lists) %d MiB after %s, %d MiB "
          "before inflating", free1 // KIB, what, free0 // KIB)
    wait_for(lambda: c.g.balloon_actual() == FULL, 10,
             what="query-balloon to show the full guest")
    restore()
    c.g.wait_balloon(FULL - 1024 * MIB, timeout=180)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == 1024 * 256, "actual_pages %d after re-%s",
              fb["actual_pages"], what)
    deflate_and_check(c, mi0["MemTotal"])


def t_rmmod_full(c):
    """rmmod with 1 GiB ballooned returns every page; insmod re-inflates."""
    _full_balloon_release(c, lambda: c.unload(c.driver),
                          lambda: c.load(c.driver), "rmmod")


def t_unbind_full(c):
    """unbind with 1 GiB ballooned returns every page; bind re-inflates."""
    _full_balloon_release(c, c.unbind, lambda: c.bind(c.driver), "unbind")


def _cycle(c, release, restore, n=10):
    c.reset()
    base = c.meminfo()["MemTotal"]
    target = FULL - 64 * MIB
    c.g.set_balloon(target)
    c.g.wait_balloon(target, timeout=60)
    for i in range(n):
        release()
        check(c.bound() is None, "round %d: still bound to %s", i, c.bound())
        check(c.meminfo()["MemTotal"] == base, "round %d: MemTotal %d != %d",
              i, c.meminfo()["MemTotal"], base)
        restore()
        check(c.bound() == c.driver, "round %d: bound to %s", i, c.bound())
        c.g.wait_balloon(target, timeout=60)
    deflate_and_check(c, base)


def t_load_unload_cycle(c):
    """insmod/rmmod 10 times with a 64 MiB balloon, cleanly."""
    _cycle(c, lambda: c.unload(c.driver), lambda: c.load(c.driver))


def t_bind_unbind_cycle(c):
    """unbind/bind 10 times with a 64 MiB balloon, cleanly."""
    _cycle(c, c.unbind, lambda: c.bind(c.driver))


BOUND_LINE = re.compile(r"fastballoon (virtio\d+): version (\S+) bound to "
                        r"(\S+): features ([^;]*); surrender path (\w+)")


@fastballoon_only
def t_bind_log(c):
    """Binding logs one line: the driver, the device and its parent, the
    version, the negotiated features and the surrender path, each as sysfs
    shows it."""
    c.reset()
    off = c.g.console_size()
    c.unbind()
    c.bind("fastballoon")
    check(c.bound() == "fastballoon", "fastballoon did not bind")
    lines = BOUND_LINE.findall(c.g.read_console(off))
    check(len(lines) == 1, "%d 'fastballoon virtioN: version ... bound to' "
          "lines in the log for one bind", len(lines))
    dev, ver, parent, feats, path = lines[0]
    want = (c.g.sh("basename $(fb-dev)"),
            c.g.sh("cat /sys/module/fastballoon/version"),
            c.g.sh("basename $(readlink -f $(fb-dev)/..)"),
            c.g.sh("cat $(fb-dev)/fastballoon/features") or "none",
            c.g.sh("cat $(fb-dev)/fastballoon/surrender_path_active"))
    check((dev, ver, parent, feats, path) == want, "the log says %s, sysfs %s",
          lines[0], want)
    c.note.append("%s: features %s; path %s" % (dev, feats, path))


@fastballoon_only
def _in_tree_holds_512(c):
    """virtio_balloon bound and holding 512 MiB, fastballoon loaded beside
    it without taking the device; MemTotal with the balloon empty."""
    c.use("virtio_balloon")
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)
    base = c.meminfo()["MemTotal"]
    c.g.set_balloon(1536 * MIB)
    c.g.wait_balloon(1536 * MIB)
    if not c.loaded("fastballoon"):
        c.load("fastballoon")
    check(c.bound() == "virtio_balloon", "insmod fastballoon stole the device")
    return base


def t_coexistence(c):
    """Move an inflated device virtio_balloon -> fastballoon -> back."""
    base = _in_tree_holds_512(c)
    c.unbind()
    wait_for(lambda: c.g.balloon_actual() == FULL, 10,
             what="virtio_balloon's unbind to deflate")
    c.bind("fastballoon")
    c.g.wait_balloon(1536 * MIB)
    c.g.set_balloon(1024 * MIB)
    c.g.wait_balloon(1024 * MIB)
    check(c.fb()["actual_pages"] == 1024 * 256, "fastballoon holds %d pages",
          c.fb()["actual_pages"])
    c.unbind()
    c.bind("virtio_balloon")
    c.g.wait_balloon(1024 * MIB)
    check(c.meminfo()["MemTotal"] == base - 1024 * KIB,
          "MemTotal %d with virtio_balloon holding 1 GiB", c.meminfo()["MemTotal"])
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)
    check(c.meminfo()["MemTotal"] == base, "MemTotal not back")


def _check_status_json(c, dev):
    """balloonctl status --json: one object, naming @dev, with fastballoon
    holding 512 MiB (and MemTotal, if it says)."""
    out = c.g.sh("balloonctl status --json")
    try:
        st = json.loads(out)
    except ValueError as e:
        raise Fail("status --json is not JSON (%s):\n%s" % (e, out[:500]))
    check(isinstance(st, dict), "status --json: not one object:\n%s",
          out[:500])
    check(st.get("device") == dev, "status --json: device %r, want %s",
          st.get("device"), dev)
    check(st.get(FB_ATTRS["actual_pages"]) == 512 * PAGES_PER_MIB,
          "status --json: %s %r, want %d", FB_ATTRS["actual_pages"],
          st.get(FB_ATTRS["actual_pages"]), 512 * PAGES_PER_MIB)
    if "mem_total_kib" in st:
        check(st["mem_total_kib"] == c.meminfo()["MemTotal"],
              "status --json: mem_total_kib %r, MemTotal %d",
              st["mem_total_kib"], c.meminfo()["MemTotal"])


@fastballoon_only
def t_takeover_release(c):
    """balloonctl takeover moves an inflated device from virtio_balloon to
    fastballoon, release moves it back; the balloon converges each time;
    status --json parses; set takes units."""
    status, why = c.balloonctl
    if status == "absent":
        raise Skip("balloonctl: %s" % why)
    check(status == "ok", "balloonctl did not build: %s", why)
    base = _in_tree_holds_512(c)
    dev = c.g.sh("basename $(fb-dev)")
    c.g.sh("balloonctl takeover --device %s" % dev, timeout=300)
    check(c.bound() == "fastballoon", "bound to %s after takeover", c.bound())
    c.g.wait_balloon(1536 * MIB)
    check(c.meminfo()["MemTotal"] == base - 512 * KIB,
          "MemTotal %d KiB with fastballoon holding 512 MiB, %d before",
          c.meminfo()["MemTotal"], base)
    check(c.fb()["actual_pages"] == 512 * PAGES_PER_MIB, "actual_pages %d",
          c.fb()["actual_pages"])
    _check_status_json(c, dev)
    c.g.sh("balloonctl set %s 256M" % FB_ATTRS["max_pages"])
    check(c.knob("max_pages") == str(256 * PAGES_PER_MIB),
          "balloonctl set max_pages 256M: max_pages reads %s",
          c.knob("max_pages"))
    c.g.wait_balloon(FULL - 256 * MIB, timeout=60)
    got = c.g.sh("balloonctl get %s" % FB_ATTRS["max_pages"])
    check(got.strip(), "balloonctl get max_pages printed nothing")
    c.g.sh("balloonctl set %s 0" % FB_ATTRS["max_pages"])
    c.g.wait_balloon(1536 * MIB, timeout=60)
    c.g.sh("balloonctl release", timeout=300)
    check(c.bound() == "virtio_balloon", "bound to %s after release",
          c.bound())
    c.g.wait_balloon(1536 * MIB)
    check(c.meminfo()["MemTotal"] == base - 512 * KIB,
          "MemTotal %d KiB with virtio_balloon holding 512 MiB, %d before",
          c.meminfo()["MemTotal"], base)
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL)
    check(c.meminfo()["MemTotal"] == base, "MemTotal not back")
