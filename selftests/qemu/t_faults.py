# SPDX-License-Identifier: GPL-2.0
"""Faults: the device or the driver goes away in the middle of its work,
memory goes offline under the balloon, the host stops answering, the guest
suspends.

Group "faults" in groups.py.  After each fault the tests look at
what a user would notice: every page back in the guest (MemTotal exactly,
MemFree within a little), what QEMU says (query-balloon), the guest still
answering, and the driver binding and working again.  The runner's health
check turns any WARN, oops, lockdep splat or OOM kill into a failure.
"""

import base64
import contextlib
import re
import threading
import time

from fbtest import (
    FULL, KIB, MIB, PAGES_PER_MIB, Skip, check, deepest_mib,
    deflate_and_check, fastballoon_only, fb_debugfs, inflate_and_check,
    wait_for,
)

# An rmmod or unbind that empties the balloon must be done within this,
# whatever the driver was doing when it started (TCG: it takes < 1 s).
RMMOD_BOUND_S = 20
# MemFree (with the per-cpu lists, Ctx.free_kib) may differ from what it
# was before the balloon inflated by this much once the driver is gone:
# slab and per-cpu lists move a little; a lost 2 MiB block per 64 MiB
# ballooned, or a lost pass, is far more.
FREE_SLACK_MIB = 32
# How long a guest-side watcher waits for the moment it was told to act on.
WATCH_S = 120
# fastballoon's fault injection lives in debugfs (fbtest.fb_debugfs());
# memory blocks go offline through sysfs.
MEMORY = "/sys/devices/system/memory"
# Host-silence test: the module parameter, and the log line it leads to.
HOST_TIMEOUT_MS = 3000
DEAD_LINE = "host returned no buffer for %d ms" % HOST_TIMEOUT_MS
# unbind/bind cycles with a full balloon.
CYCLES = 50
CYCLE_MIB = 256
# Ballooned while memory blocks go offline: enough to spread over several
# blocks that could go offline (not the first, nor those with reserved pages).
OFFLINE_MIB = 768


# --------------------------------------------------------------- helpers

def _bg(c, name, script, timeout):
    """Run shell @script in the guest's background as /tmp/@name.sh; return
    a function that waits for it (@timeout s) and gives its output, failing
    on a non-zero exit."""
    path = "/tmp/%s" % name
    c.g.sh("echo %s | base64 -d > %s.sh" % (
        base64.b64encode(script.encode()).decode(), path))
    c.g.sh("rm -f %s.out %s.rc; (sh %s.sh > %s.out 2>&1; echo $? > %s.rc) &"
           % ((path,) * 5))

    def finish():
        wait_for(lambda: c.g.run("test -e %s.rc" % path)[0] == 0, timeout,
                 what="guest script %s" % name)
        rc, out = int(c.g.sh("cat %s.rc" % path)), c.g.sh("cat %s.out" % path)
        check(rc == 0, "%s: %s", name, out.strip() or "exit %d" % rc)
        return out
    return finish


# Shell: give up when $end (seconds of uptime) has passed.
_DEADLINE = """read up x < /proc/uptime
if [ ${up%%.*} -ge $end ]; then echo "%s"; exit 1; fi"""


def _rmmod_when(c, cond, setup="", show=""):
    """Start a guest-side watcher that runs rmmod of the driver under test
    the moment the shell condition @cond holds (polled in a loop after
    @setup ran; the shell words @show are printed with the result).

    The host then starts the work the rmmod is to land in.  The function
    returned waits for the watcher and gives {"memtotal": KiB when rmmod
    started, "secs": rmmod's run time, and @show's name=value words}."""
    script = """%s
read up x < /proc/uptime
end=$((${up%%.*} + %d))
until %s; do
%s
done
read k memtotal u < /proc/meminfo
read t0 x < /proc/uptime
rmmod %s || exit 1
read t1 x < /proc/uptime
echo "memtotal=$memtotal t0=$t0 t1=$t1 %s"
""" % (setup, WATCH_S, cond,
       _DEADLINE % ("the moment to rmmod never came: " + cond), c.driver, show)
    wait = _bg(c, "fb-rmmod", script, WATCH_S + RMMOD_BOUND_S + 30)

    def finish():
        out = wait()
        res = dict(re.findall(r"(\w+)=(\S+)", out))
        check("t1" in res, "rmmod watcher said: %s", out)
        res["memtotal"] = int(res["memtotal"])
        res["secs"] = float(res["t1"]) - float(res["t0"])
        check(res["secs"] <= RMMOD_BOUND_S, "rmmod took %.1f s (bound %d s)",
              res["secs"], RMMOD_BOUND_S)
        return res
    return finish


def _all_back(c, mi0, free0, what, host_sees=True):
    """The driver is gone (@what): every page is back in the guest, the guest
    answers, and (@host_sees) QEMU sees the whole guest again."""
    check(c.g.sh("echo alive") == "alive", "guest does not answer")
    check(c.bound() is None, "still bound to %s after %s", c.bound(), what)
    mi1, free1 = c.meminfo(), c.free_kib()
    check(mi1["MemTotal"] == mi0["MemTotal"],
          "MemTotal %d KiB after %s, %d KiB before inflating",
          mi1["MemTotal"], what, mi0["MemTotal"])
    check(abs(free1 - free0) <= FREE_SLACK_MIB * KIB,
          "free memory (MemFree + per-cpu lists) %d MiB after %s, %d MiB "
          "before inflating", free1 // KIB, what, free0 // KIB)
    if host_sees:
        wait_for(lambda: c.g.balloon_actual() == FULL, 10,
                 what="query-balloon to show the full guest after " + what)


def _works_again(c, base, load=None):
    """Load the driver again (or call @load): it binds, inflates 256 MiB
    and deflates."""
    c.g.set_balloon(FULL)
    (load or (lambda: c.load(c.driver)))()
    wait_for(lambda: c.bound() == c.driver, 30,
             what="%s to bind again" % c.driver)
    inflate_and_check(c, 256)
    deflate_and_check(c, base)


def _mib(kib):
    return kib // KIB


def _into_4k(c):
    """fastballoon: take 4 KiB pages only, so that a deflate or a remove of
    1 GiB takes a pass long enough to land in (the knob goes with the
    module)."""
    if c.driver == "fastballoon":
        c.set_knob("max_order", 0)


# ----------------------------------------------------------------- tests

def t_hot_unplug(c):
    """device_del while 1.5 GiB inflate: the guest ejects the device (the
    driver's remove empties the balloon first), MemTotal is whole; device_add
    it back: the driver binds to it and works."""
    if "pci=noacpi" in c.g.sh("cat /proc/cmdline").split():
        # QEMU's i440fx hot-unplugs PCI devices through ACPI (acpiphp).
        raise Skip("PCI hotplug needs ACPI, and this kernel boots with "
                   "pci=noacpi (the debug kernel: selftests/debug/README.md)")
    c.reset()
    deep = deepest_mib(c, 1536)
    mi0, free0 = c.meminfo(), c.free_kib()
    base = mi0["MemTotal"]
    # The least MemTotal the guest showed before the device left: the
    # balloon's peak, to show that the remove came before the inflate ended.
    peak = _bg(c, "fb-peak", """dev=/sys/bus/virtio/devices/$(basename $(fb-dev))
read up x < /proc/uptime
end=$((${up%%.*} + %d))
min=%d
while [ -e $dev ]; do
	read k m u < /proc/meminfo
	[ $m -lt $min ] && min=$m
%s
done
echo $min
""" % (WATCH_S, base, _DEADLINE % "the device never left"), WATCH_S + 30)
    c.g.set_balloon(FULL - deep * MIB)
    wait_for(lambda: c.g.ballooned_bytes() >= 128 * MIB, 60, 0.05,
             what="the inflate to start")
    t = time.monotonic()
    c.g.unplug_balloon(timeout=60)
    gone = time.monotonic() - t
    top = _mib(base - int(peak()))
    check(top < deep, "the inflate had finished (%d MiB) before the device "
          "left: nothing was interrupted", top)
    wait_for(lambda: c.g.run("fb-dev")[0] != 0, 30,
             what="the balloon device to leave the guest")
    _all_back(c, mi0, free0, "device_del", host_sees=False)
    t = time.monotonic()
    c.g.plug_balloon()
    wait_for(lambda: c.bound() == c.driver, 60, 0.2,
             what="%s to bind to the new device" % c.driver)
    back = time.monotonic() - t
    check(c.g.balloon_actual() == FULL, "the new device says %d MiB "
          "ballooned", c.g.ballooned_bytes() // MIB)
    inflate_and_check(c, 512)
    deflate_and_check(c, base)
    c.note.append("device_del at %d of %d MiB: gone in %.1f s; bound %.1f s "
                  "after device_add" % (top, deep, gone, back))


def t_rmmod_mid_inflate(c):
    """rmmod 128 MiB into a 1.5 GiB inflate."""
    c.reset()
    deep = deepest_mib(c, 1536)
    mi0, free0 = c.meminfo(), c.free_kib()
    base = mi0["MemTotal"]
    done = _rmmod_when(c, "read k m u < /proc/meminfo; [ $m -le %d ]" % (
        base - 128 * KIB))
    c.g.set_balloon(FULL - deep * MIB)
    r = done()
    at = _mib(base - r["memtotal"])
    check(at < deep, "rmmod started with the inflate done (%d MiB)", at)
    _all_back(c, mi0, free0, "rmmod")
    c.note.append("rmmod at %d of %d MiB took %.2f s" % (at, deep, r["secs"]))
    _works_again(c, base)


# How often rmmod_mid_deflate tries to land its rmmod in the deflate: the
# guest-side watcher polls MemTotal, and on a loaded host (two cores, two
# TCG guests) it was once not scheduled until the deflate was over
# (sid, a fresh-clone CI run here), so that nothing was tested.
MID_DEFLATE_TRIES = 3


def t_rmmod_mid_deflate(c):
    """rmmod 64 MiB into the deflate of 1 GiB of 4 KiB pages (tried again,
    up to MID_DEFLATE_TRIES times, when the deflate ended before the rmmod
    started: that tests nothing)."""
    c.reset()
    mi0, free0 = c.meminfo(), c.free_kib()
    base = mi0["MemTotal"]
    missed = 0
    while True:
        _into_4k(c)
        inflate_and_check(c, 1024)
        done = _rmmod_when(c, "read k m u < /proc/meminfo; [ $m -ge %d ]" % (
            base - (1024 - 64) * KIB))
        c.g.set_balloon(FULL)
        r = done()
        left = _mib(base - r["memtotal"])
        _all_back(c, mi0, free0, "rmmod")
        if left > 0:
            break
        missed += 1
        check(missed < MID_DEFLATE_TRIES, "rmmod started with the deflate "
              "done, %d times out of %d", missed, missed)
        _works_again(c, base)
    c.note.append("rmmod with %d of 1024 MiB left took %.2f s%s" % (
        left, r["secs"], " (the deflate was over before the rmmod %d "
        "time(s) before)" % missed if missed else ""))
    _works_again(c, base)


# A deflate of 1 GiB of single pages must give the CPU up as it goes: a
# program on each CPU waits at most this long (measured under TCG on 6.1,
# two guests on the two cores: 873 ms when fastballoon freed the pages in
# one loop, 23 ms in chunks of 1024 with cond_resched() between; 8-46 ms
# with no deflate at all, what the host steals).
LATENCY_BOUND_MS = 400


def t_deflate_latency(c):
    """fb_latency (a spinning thread pinned to each CPU) through the deflate
    of 1 GiB of 4 KiB pages: no CPU is kept from it for LATENCY_BOUND_MS
    (also measured before the deflate, to show what the host steals)."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    # The later tests of the group get the driver's own max_order back.
    with (c.tuned(max_order=0) if c.driver == "fastballoon"
          else contextlib.nullcontext()):
        inflate_and_check(c, 1024)
        quiet = c.g.sh("FB_SECONDS=3 fb_latency", timeout=60)
        wait = _bg(c, "fb-latency", "FB_SECONDS=12 fb_latency", 120)
        time.sleep(1)
        t = time.monotonic()
        deflate_and_check(c, base)
        took = time.monotonic() - t
        out = wait()
    gap = int(re.search(r"max_gap_us=(\d+)", out).group(1)) // 1000
    idle = int(re.search(r"max_gap_us=(\d+)", quiet).group(1)) // 1000
    check(gap <= LATENCY_BOUND_MS, "a CPU was kept from a program for %d ms "
          "during the deflate (bound %d; %d ms without a deflate; the deflate "
          "took %.1f s)", gap, LATENCY_BOUND_MS, idle, took)
    c.note.append("longest wait %d ms during a %.1f s deflate, %d ms without"
                  % (gap, took, idle))


@fastballoon_only
def t_rmmod_mid_defrag(c):
    """fb_frag leaves no free 2 MiB block; the inflate evacuates pageblocks;
    rmmod at the first evacuation."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    c.g.sh("(fb_frag 1024 > /tmp/frag.log 2>&1 &) ; true")
    wait_for(lambda: "fragmented" in c.g.sh("cat /tmp/frag.log"), 120,
             what="fb_frag to fragment memory")
    mi0, free0 = c.meminfo(), c.free_kib()
    d0 = c.fb()["defrag_attempts_total"]
    # All but 64 MiB of what is free: more than the free blocks.
    take = (_mib(mi0["MemFree"]) - 64) // 64 * 64
    done = _rmmod_when(
        c, "read d < $fbd/defrag_attempts_total; [ $d -gt %d ]" % d0,
        setup="fbd=$(fb-dev)/fastballoon", show="defrag=$d")
    c.g.set_balloon(FULL - take * MIB)
    r = done()
    at = _mib(base - r["memtotal"])
    check(at < take, "rmmod started with the inflate done (%d MiB)", at)
    _all_back(c, mi0, free0, "rmmod")
    c.note.append("rmmod at %d of %d MiB, %d evacuations tried, took %.2f s"
                  % (at, take, int(r["defrag"]) - d0, r["secs"]))
    c.g.sh("killall fb_frag")
    _works_again(c, base)


def t_unbind_bind_50(c):
    """unbind/bind 50 times with 256 MiB ballooned: whole after each unbind,
    back at the target after each bind."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    free0 = c.free_kib()
    target = FULL - CYCLE_MIB * MIB
    c.g.set_balloon(target)
    c.g.wait_balloon(target, timeout=60)
    t = time.monotonic()
    out = _bg(c, "fb-cycle", """dev=$(basename $(fb-dev)) || exit 1
drv=/sys/bus/virtio/drivers/%s
want=%d
i=1
while [ $i -le %d ]; do
	echo $dev > $drv/unbind || { echo "round $i: unbind failed"; exit 1; }
	if [ -e /sys/bus/virtio/devices/$dev/driver ]; then
		echo "round $i: still bound after unbind"; exit 1
	fi
	read k m u < /proc/meminfo
	if [ $m -ne %d ]; then
		echo "round $i: MemTotal $m KiB after unbind, want %d"; exit 1
	fi
	echo $dev > $drv/bind || { echo "round $i: bind failed"; exit 1; }
	read t0 x < /proc/uptime
	end=$((${t0%%.*} + 60))
	until read k m u < /proc/meminfo; [ $m -eq $want ]; do
%s
		usleep 20000
	done
	read t1 x < /proc/uptime
	echo "round $i refill $t0 $t1"
	i=$((i + 1))
done
""" % (c.driver, base - CYCLE_MIB * KIB, CYCLES, base, base,
       _DEADLINE % ("round $i: MemTotal $m KiB 60 s after bind, want $want")),
              CYCLES * 10 + 60)()
    took = time.monotonic() - t
    refill = [float(b) - float(a) for a, b in
              re.findall(r"refill (\S+) (\S+)", out)]
    check(len(refill) == CYCLES, "%d rounds done, want %d", len(refill), CYCLES)
    check(c.bound() == c.driver, "bound to %s", c.bound())
    c.g.wait_balloon(target, timeout=30)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == CYCLE_MIB * PAGES_PER_MIB,
              "actual_pages %d after %d rounds", fb["actual_pages"], CYCLES)
    deflate_and_check(c, base)
    free1 = c.free_kib()
    check(abs(free1 - free0) <= FREE_SLACK_MIB * KIB, "free memory %d MiB "
          "after %d rounds, %d MiB before", free1 // KIB, CYCLES, free0 // KIB)
    c.note.append("%d rounds in %.0f s, refill %.1f s mean, %.1f s max" % (
        CYCLES, took, sum(refill) / len(refill), max(refill)))


def _offline(c, blk):
    """Try to take memory block @blk offline (once more after a failure);
    put it back online.  Returns None if it went offline, else the error."""
    err = None
    state = "%s/%s/state" % (MEMORY, blk)
    for _ in range(2):
        rc, out = c.g.run("timeout 10 sh -c 'echo offline > %s'" % state,
                          timeout=60)
        # timeout(1) says 124 when its time ran out, even if the write had
        # finished just before the signal: the block is offline then, and
        # must come back (the debug kernel takes about 10 s to offline one).
        if rc == 0 or c.g.sh("cat %s" % state).strip() == "offline":
            c.g.sh("echo online > %s" % state)
            return None
        err = out.strip().rsplit(":", 1)[-1].strip() or "timed out (%d)" % rc
        time.sleep(1)
    return err


def _offline_round(c, drv, mib):
    """@drv holds @mib: try to offline each memory block holding balloon
    pages; {block: None or error}.  The balloon is back at its target
    afterwards, with every block online."""
    c.use(drv)
    base = c.meminfo()["MemTotal"]
    target = FULL - mib * MIB
    c.g.set_balloon(target)
    c.g.wait_balloon(target, timeout=120)
    held = [ln.split()[0] for ln in c.g.sh("fb_fault_blocks").splitlines()]
    res = {}
    for blk in held:
        # fastballoon refills elsewhere what it gave back: wait for that.
        c.g.wait_balloon(target, timeout=60)
        res[blk] = _offline(c, blk)
    c.g.wait_balloon(target, timeout=60)
    check(c.meminfo()["MemTotal"] == base - mib * KIB, "%s: MemTotal %d KiB "
          "with every block back online, want %d", drv,
          c.meminfo()["MemTotal"], base - mib * KIB)
    fb = c.fb()
    if fb:
        check(fb["actual_pages"] == mib * PAGES_PER_MIB, "actual_pages %d "
              "after the offlining, want %d", fb["actual_pages"],
              mib * PAGES_PER_MIB)
    c.g.set_balloon(FULL)
    c.g.wait_balloon(FULL, timeout=120)
    return res


@fastballoon_only
def t_offline_block(c):
    """Memory blocks holding balloon pages go offline at least as often with
    fastballoon as with virtio_balloon (same amount ballooned, same guest)."""
    c.reset()
    if c.g.run("test -w %s/memory1/state" % MEMORY)[0]:
        raise Skip("no memory hot-remove in this guest (%s)" % MEMORY)
    off = c.g.console_size()
    got = {}
    for drv in ("virtio_balloon", "fastballoon"):
        got[drv] = _offline_round(c, drv, OFFLINE_MIB)
    # A block that will not go offline without any balloon in it says
    # nothing about either driver.
    failed = {b for r in got.values() for b, e in r.items() if e}
    never = {b for b in sorted(failed) if _offline(c, b)}
    c.unload("virtio_balloon")
    gave = len(re.findall(r"memory going offline at pfn",
                          c.g.read_console(off)))
    score = {}
    for drv, r in got.items():
        cand = [b for b in r if b not in never]
        ok = [b for b in cand if r[b] is None]
        score[drv] = (len(ok), len(cand))
        c.note.append("%s: %d of %d blocks went offline%s" % (
            drv, len(ok), len(cand), "" if len(ok) == len(cand) else
            " (%s)" % ", ".join("%s: %s" % (b, r[b]) for b in cand
                                if r[b] is not None)))
    c.note.append("left out, no offlining without a balloon either: %s; "
                  "fastballoon gave blocks back %d times" % (
                      " ".join(sorted(never)) or "none", gave))
    (fok, fn), (tok, tn) = score["fastballoon"], score["virtio_balloon"]
    # A block left out failed with the balloon empty as well: what holds it
    # is not the balloon.  If one driver's pages were all in such blocks
    # (the debug kernel: 10 of its 16 blocks, once), there is nothing to
    # compare; a driver whose own pages keep a block online is not left out.
    if not fn or not tn:
        raise Skip("every block holding %s pages stays online with the "
                   "balloon empty too: nothing to compare (%s)" % (
                       "fastballoon" if not fn else "virtio_balloon",
                       "; ".join(c.note)))
    check(fok * tn >= tok * fn, "fastballoon: %d of %d blocks went offline, "
          "virtio_balloon %d of %d", fok, fn, tok, tn)
    check(fok == 0 or gave > 0, "blocks went offline but fastballoon never "
          "said it gave any back")


@fastballoon_only
def t_host_silent(c):
    """host_timeout_ms=3000; the host stops returning buffers (debugfs
    fail_host_silent) mid-inflate: the log says so, the balloon stops, rmmod
    returns every page within the bound; a new insmod works."""
    c.reset()
    mi0, free0 = c.meminfo(), c.free_kib()
    base = mi0["MemTotal"]
    c.unload("fastballoon")
    c.g.sh("insmod /lib/fb/fastballoon.ko host_timeout_ms=%d" %
           HOST_TIMEOUT_MS, timeout=120)
    check(c.bound() == "fastballoon", "fastballoon did not bind")
    inflate_and_check(c, 256)
    d = fb_debugfs(c)
    off = c.g.console_size()
    c.g.sh("echo 1 > %s/fail_host_silent" % d)
    c.g.set_balloon(FULL - 768 * MIB)
    t = time.monotonic()
    wait_for(lambda: DEAD_LINE in c.g.read_console(off), 30,
             what="'%s' in the log" % DEAD_LINE)
    dead = time.monotonic() - t
    held = base - c.meminfo()["MemTotal"]
    time.sleep(2)
    check(base - c.meminfo()["MemTotal"] == held, "the balloon moved after "
          "the host was declared dead: %d -> %d MiB", _mib(held),
          _mib(base - c.meminfo()["MemTotal"]))
    t = time.monotonic()
    c.g.sh("rmmod fastballoon", timeout=RMMOD_BOUND_S + 60)
    took = time.monotonic() - t
    check(took <= RMMOD_BOUND_S, "rmmod took %.1f s (bound %d s)", took,
          RMMOD_BOUND_S)
    # The host heard no deflate message, but `actual` is a config write,
    # not a request: the driver leaves it at 0 before the reset, so QEMU
    # shows the whole guest again.
    stale = c.g.ballooned_bytes() // MIB
    _all_back(c, mi0, free0, "rmmod", host_sees=True)
    c.load("fastballoon")
    check(c.bound() == "fastballoon", "fastballoon did not bind again")
    c.g.wait_balloon(FULL - 768 * MIB, timeout=120)
    check(base - c.meminfo()["MemTotal"] == 768 * KIB, "MemTotal fell by %d "
          "MiB after the new insmod, target 768", _mib(base -
                                                         c.meminfo()["MemTotal"]))
    check(c.fb()["actual_pages"] == 768 * PAGES_PER_MIB, "actual_pages %d",
          c.fb()["actual_pages"])
    deflate_and_check(c, base)
    c.note.append("declared dead after %.1f s at %d MiB; rmmod %.2f s; "
                  "query-balloon said %d MiB ballooned after it" % (
                      dead, _mib(held), took, stale))


@fastballoon_only
def t_heal_untold(c):
    """A healing trade whose 512 pages the host could not be told about
    (MUST_TELL_HOST, forced through debugfs: no QEMU offers it; the host
    stops answering mid-trade) keeps the pages beside the new block: the
    balloon grew by one block, and `actual` must say so, or QEMU counts 2
    MiB less than the guest gave it for as long as the driver lives."""
    c.reset()
    mi0, free0 = c.meminfo(), c.free_kib()
    c.unload("fastballoon")
    # Single pages only (max_order=0), no evacuation: healing then trades
    # them for blocks that are free anyway.
    c.g.sh("insmod /lib/fb/fastballoon.ko max_order=0 defrag_ms=0 "
           "heal_ms=1000 host_timeout_ms=%d" % HOST_TIMEOUT_MS, timeout=120)
    check(c.bound() == "fastballoon", "fastballoon did not bind")
    d = fb_debugfs(c)
    c.g.sh("echo 1 > %s/force_must_tell_host" % d)
    inflate_and_check(c, 64)
    check(c.fb_attr("pages_4k") == 64 * PAGES_PER_MIB, "pages_4k %s after "
          "a 64 MiB inflate with max_order=0", c.fb_attr("pages_4k"))
    off = c.g.console_size()
    c.g.sh("echo 1 > %s/fail_host_silent" % d)
    c.set_knob("max_order", "9")        # healing may trade now
    wait_for(lambda: DEAD_LINE in c.g.read_console(off), 60,
             what="'%s' in the log" % DEAD_LINE)
    # The trade's inflate burst timed out, its deflate burst could not go
    # out: the block and the pages both stay, and nothing moves after.
    time.sleep(2)
    fb = c.fb()
    check(fb["blocks_2m"] == 1 and fb["pages_4k"] == 64 * PAGES_PER_MIB,
          "after the failed trade: %d blocks, %d single pages (1 and %d "
          "expected)", fb["blocks_2m"], fb["pages_4k"], 64 * PAGES_PER_MIB)
    host = c.g.ballooned_bytes() // 4096
    check(host == fb["actual_pages"], "the balloon holds %d pages, QEMU "
          "(query-balloon) counts %d", fb["actual_pages"], host)
    # Target back to the full guest first: the module loaded below must
    # find nothing to inflate, or the next test's reset could read
    # MemTotal in the middle of that inflate.
    c.g.set_balloon(FULL)
    c.g.sh("rmmod fastballoon", timeout=RMMOD_BOUND_S + 60)
    _all_back(c, mi0, free0, "rmmod")
    c.load("fastballoon")
    check(c.bound() == "fastballoon", "fastballoon did not bind again")
    c.note.append("after the failed trade: %d pages held, QEMU counts %d" %
                  (fb["actual_pages"], host))


def t_suspend_resume(c):
    """Suspend with 512 MiB ballooned (pm_test: devices suspended for real,
    the platform not entered): the driver empties the balloon on the way
    down and refills it to the target after resume, exactly."""
    c.reset()
    if c.g.run("test -w /sys/power/pm_test")[0]:
        raise Skip("no /sys/power/pm_test (CONFIG_PM_DEBUG is off)")
    states = c.g.sh("cat /sys/power/state").split()
    runs = [(s, lvl) for s, lvl in (("freeze", "devices"), ("mem", "core"))
            if s in states]
    check(runs, "/sys/power/state offers neither freeze nor mem: %s", states)
    base = c.meminfo()["MemTotal"]
    target = FULL - 512 * MIB
    inflate_and_check(c, 512)
    for state, level in runs:
        off = c.g.console_size()
        c.g.qmp_conn.events.clear()
        t = time.monotonic()
        rc, out = c.g.run("echo %s > /sys/power/pm_test && echo %s > "
                          "/sys/power/state; rc=$?; echo none > "
                          "/sys/power/pm_test; exit $rc" % (level, state),
                          timeout=120)
        check(rc == 0, "%s (pm_test %s) failed: %s", state, level, out)
        log = c.g.read_console(off)
        check("PM: suspend exit" in log, "%s: no 'PM: suspend exit' in the "
              "log", state)
        bad = [ln for ln in log.splitlines()
               if re.search(r"(?i)fail|error", ln)]
        check(not bad, "%s: %s", state, "; ".join(bad[:3]))
        # The driver's freeze gave everything back and told the host.
        c.g.wait_event("BALLOON_CHANGE", 10, actual=FULL)
        c.g.wait_balloon(target, timeout=120)
        refill = time.monotonic() - t
        check(base - c.meminfo()["MemTotal"] == 512 * KIB, "%s: MemTotal "
              "fell by %d MiB after resume, want 512", state,
              _mib(base - c.meminfo()["MemTotal"]))
        fb = c.fb()
        if fb:
            check(fb["actual_pages"] == 512 * PAGES_PER_MIB, "%s: "
                  "actual_pages %d after resume", state, fb["actual_pages"])
        c.note.append("%s/%s: back at 512 MiB %.1f s after the echo" % (
            state, level, refill))
    deflate_and_check(c, base)


def _flip_while(c, action, lo_mib, hi_mib):
    """Run @action (in the guest) while a host thread flips the target
    between @lo_mib and @hi_mib ballooned as fast as QMP goes.  Returns
    (action's seconds, flips made while it ran)."""
    stop = threading.Event()
    flips = [0]
    err = []

    def flip():
        try:
            while not stop.is_set():
                mib = hi_mib if flips[0] % 2 else lo_mib
                c.g.set_balloon(FULL - mib * MIB)
                flips[0] += 1
                time.sleep(0.005)
        except Exception as e:      # reported by the main thread
            err.append(e)
    th = threading.Thread(target=flip, daemon=True)
    th.start()
    time.sleep(0.1)
    t = time.monotonic()
    n0 = flips[0]
    try:
        action()
    finally:
        took = time.monotonic() - t
        n = flips[0] - n0
        stop.set()
        th.join(10)
    check(not err, "flipping the target failed: %s", err[0] if err else "")
    return took, n


def t_config_during_remove(c):
    """The host flips its target every few ms while rmmod, then unbind,
    empties 1 GiB of 4 KiB pages: both complete, every page back."""
    c.reset()
    deep = deepest_mib(c, 1536)
    mi0, free0 = c.meminfo(), c.free_kib()
    base = mi0["MemTotal"]
    for what, release, restore in (
            ("rmmod", lambda: c.unload(c.driver), lambda: c.load(c.driver)),
            ("unbind", c.unbind, lambda: c.bind(c.driver))):
        _into_4k(c)
        inflate_and_check(c, 1024)
        took, n = _flip_while(c, release, 256, deep)
        check(took <= RMMOD_BOUND_S, "%s took %.1f s (bound %d s)", what,
              took, RMMOD_BOUND_S)
        c.g.set_balloon(FULL)
        _all_back(c, mi0, free0, what)
        c.note.append("%s %.2f s, %d target changes meanwhile" % (
            what, took, n))
        _works_again(c, base, restore)
