# SPDX-License-Identifier: GPL-2.0
"""Giving free memory back without a target: free page reporting, the range
path (blocks surrendered as reported ranges) and switching paths, free
page hinting across a migration, hugetlbfs-backed guests getting whole
host huge pages back, and healing (4 KiB pages traded for 2 MiB blocks).

Groups "reporting", "hugetlb", "heal" and "hinting" (groups.py).
"""

import os
import time

from fbtest import (
    FULL, F_FREE_PAGE_HINT, F_REPORTING, GUEST_MIB, KIB, MIB, PAGES_PER_MIB,
    Skip, check, deepest_mib, deflate_and_check, fastballoon_only,
    fb_state, hold_memory, inflate_and_check, int_or_none, trace_start,
    trace_stop, wait_for,
)


def t_free_page_reporting(c):
    """1 GiB touched then freed in the guest comes back to the host."""
    c.reset()
    check(c.features()[F_REPORTING] == "1", "reporting not negotiated")
    fb0 = c.fb()
    finish = hold_memory(c, 1024)
    peak = c.rss_mib()
    finish()
    t = time.monotonic()
    best = wait_for(lambda: peak - c.rss_mib() >= 0.5 * 1024 and c.rss_mib(),
                    30, 1, what="QEMU RSS to fall by 512 MiB")
    c.note.append("RSS %d -> %d MiB in %.0f s" % (peak, best,
                                                  time.monotonic() - t))
    fb1 = c.fb()
    if fb1:
        check(fb1["reported_pages_total"] > fb0["reported_pages_total"],
              "reported_pages_total stayed %d", fb1["reported_pages_total"])


def t_free_page_hint(c):
    """Migrate with free page hinting; the guest's memory survives."""
    c.reset()
    check(c.features()[F_FREE_PAGE_HINT] == "1", "free_page_hint not negotiated")
    fb0 = c.fb()
    finish = hold_memory(c, 256)
    out = os.path.join(c.g.dir, "migration.bin")
    c.g.qmp("migrate", uri="exec:cat > %s" % out)
    try:
        st = wait_for(lambda: (lambda q: q if q.get("status") in (
            "completed", "failed", "cancelled") else None)(
                c.g.qmp("query-migrate")), 600, 1, what="migration")
        check(st["status"] == "completed", "migration %s: %s", st["status"],
              st.get("error-desc", ""))
        size = os.path.getsize(out)
    finally:
        if os.path.exists(out):
            os.unlink(out)
    c.g.qmp("cont")
    finish()
    fb1 = c.fb()
    if fb1:
        check(fb1["hinted_pages_total"] > fb0["hinted_pages_total"],
              "hinted_pages_total stayed %d", fb1["hinted_pages_total"])
    c.note.append("migration stream %d MiB in %.1f s" %
                  (size // MIB, st.get("total-time", 0) / 1000))


@fastballoon_only
def t_path_switch(c):
    """surrender_path on a reporting device: inflate sends nothing as
    ranges, report sends every block as a range; both can be held at once
    and deflate brings every page back."""
    c.reset()
    fb0 = c.fb()
    check(fb0["surrender_path"] == "auto" and
          fb0["surrender_path_active"] == "report",
          "surrender_path %r, active %r on a reporting device",
          fb0["surrender_path"], fb0["surrender_path_active"])
    base = c.meminfo()["MemTotal"]
    with c.tuned(surrender_path="inflate"):
        check(c.knob("path_active") == "inflate", "surrender_path_active %r "
              "after writing inflate", c.knob("path_active"))
        inflate_and_check(c, 256)
        fb1 = c.fb()
        check(fb1["ranged_pages_total"] == fb0["ranged_pages_total"],
              "%d pages went as ranges with surrender_path=inflate",
              fb1["ranged_pages_total"] - fb0["ranged_pages_total"])
        c.set_knob("surrender_path", "report")
        check(c.knob("path_active") == "report", "surrender_path_active %r "
              "after writing report", c.knob("path_active"))
        c.g.set_balloon(FULL - 512 * MIB)
        c.g.wait_balloon(FULL - 512 * MIB)
        check(base - c.meminfo()["MemTotal"] == 512 * KIB, "MemTotal fell "
              "by %d KiB with 512 MiB ballooned by both paths",
              base - c.meminfo()["MemTotal"])
        fb2 = c.fb()
        check(fb2["actual_pages"] == 512 * PAGES_PER_MIB, "actual_pages %d",
              fb2["actual_pages"])
        ranged = fb2["ranged_pages_total"] - fb1["ranged_pages_total"]
        check(ranged == 256 * PAGES_PER_MIB, "%d pages went as ranges for "
              "256 MiB more with surrender_path=report", ranged)
        deflate_and_check(c, base)


def _host_huge_free():
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("HugePages_Free:"):
                return int(ln.split()[1])
    return 0


@fastballoon_only
def t_hugetlb_blocks(c):
    """Guest RAM on 2 MiB hugetlbfs pages: ballooning 1 GiB gives >= 95% of
    it back to the host as free huge pages (the in-tree driver frees none),
    and what the driver reports holding matches /proc/kpageflags."""
    c.reset()
    # Back (nearly) every free guest page with a host huge page first: a
    # block that was never touched is not backed, and surrendering it frees
    # nothing on the host (nor costs it anything).
    c.ksft("fb_touch", {"FB_MIB": c.meminfo()["MemFree"] // KIB - 160})
    free0 = _host_huge_free()
    inflate_and_check(c, 1024)
    freed = (_host_huge_free() - free0) * 2
    c.note.append("host huge pages freed: %d MiB of 1024" % freed)
    check(freed >= 0.95 * 1024, "host got %d MiB of huge pages back for 1024 "
          "MiB ballooned", freed)
    c.ksft("fb_blocks", {"FB_MIN_BLOCKS": 490}, timeout=300)
    deflate_and_check(c, c.meminfo()["MemTotal"] + 1024 * KIB)


@fastballoon_only
def t_range_path(c):
    """With the reporting queue, blocks go as ranges: actual stays exact,
    every ballooned page went as part of a range, the host's RSS is what
    the guest kept, and deflate brings every page back."""
    c.reset()
    fb0 = c.fb()
    check(fb0["surrender_path_active"] == "report", "surrender_path_active is "
          "%r (surrender_path %r)", fb0["surrender_path_active"],
          fb0["surrender_path"])
    base = c.meminfo()["MemTotal"]
    # Touch 1.5 GiB (less on the debug kernel, whose MemTotal is smaller).
    c.ksft("fb_touch", {"FB_MIB": deepest_mib(c, 1536)})
    inflate_and_check(c, 1024)
    fb1 = c.fb()
    ranged = fb1["ranged_pages_total"] - fb0["ranged_pages_total"]
    check(ranged == 1024 * 256, "%d pages went as ranges, want %d", ranged,
          1024 * 256)
    check(fb1["blocks_2m"] == 512, "blocks_2m %d, want 512", fb1["blocks_2m"])
    rss = c.rss_mib()
    check(rss <= GUEST_MIB - 1024 + 256, "QEMU RSS %d MiB with 1 GiB of a "
          "2 GiB guest ballooned", rss)
    c.ksft("fb_blocks", {"FB_MIN_BLOCKS": 512}, timeout=300)
    deflate_and_check(c, base)
    c.note.append("ranged %d MiB, RSS %d MiB" % (ranged >> 8, rss))


@fastballoon_only
def t_crew(c):
    """On the range path a large inflate takes blocks on every online CPU
    (inflate_cpus 0) when the allocator zeroes them, on one when it does
    not or with inflate_cpus 1, with the books as exact as ever: the
    balloon holds exactly the target in blocks, nothing the hands took is
    lost, and deflate brings every page back."""
    c.reset()
    check(c.fb()["surrender_path_active"] == "report",
          "surrender_path_active is %r", c.fb()["surrender_path_active"])
    cpus = int(c.g.sh("grep -c ^processor /proc/cpuinfo"))
    check(cpus >= 2, "the guest has %d CPU(s); the test needs 2", cpus)
    base = c.meminfo()["MemTotal"]
    free0 = c.meminfo()["MemFree"]
    check(c.knob("inflate_cpus").strip() == "0",
          "inflate_cpus reads %r by default",
          c.knob("inflate_cpus"))
    # Free blocks go to hands only when the allocator zeroes them
    # (init_on_alloc, Debian's default): without, a block costs less than
    # waking a CPU. The debug kernel boots with heap alloc:off.
    zeroes = "heap alloc:on" in c.g.read_console()
    for ncpus, hands in ((0, cpus if zeroes else 0), (1, 0)):
        with c.tuned(inflate_cpus=ncpus):
            st0 = fb_state(c)
            mib = deepest_mib(c, 768)
            inflate_and_check(c, mib)
            st1, fb = fb_state(c), c.fb()
            passes = st1["crew_passes"] - st0["crew_passes"]
            used = st1["crew_hands"] - st0["crew_hands"]
            check(fb["blocks_2m"] * 512 == mib * PAGES_PER_MIB and
                  fb["pages_4k"] == 0, "inflate_cpus %d: blocks_2m %d, "
                  "pages_4k %d for %d MiB", ncpus, fb["blocks_2m"],
                  fb["pages_4k"], mib)
            if hands:
                check(passes > 0 and used == passes * hands,
                      "inflate_cpus 0: %d crew passes with %d hands, want "
                      "some, %d hands each", passes, used, hands)
            else:
                check(passes == 0, "inflate_cpus %d%s: %d crew passes",
                      ncpus, "" if zeroes else " (no zeroing on allocation)",
                      passes)
            c.note.append("inflate_cpus %d: %d passes, %d hands, %d blocks "
                          "dropped" % (ncpus, passes, used,
                                       st1["crew_dropped_blocks"] -
                                       st0["crew_dropped_blocks"]))
        deflate_and_check(c, base)
    # Whatever the hands took and the pass did not claim went back.
    free1 = c.meminfo()["MemFree"]
    check(free1 >= free0 - 64 * KIB, "MemFree %d MiB after the inflates, "
          "was %d MiB", free1 // KIB, free0 // KIB)


@fastballoon_only
def t_run_rates(c):
    """last_*_pages_per_s are rates of real work: a 256 MiB run's rate is
    no slower than the host saw it go (the host's time includes the run's),
    and runs under 64 MiB (2 MiB given back on the range path takes a few
    microseconds) leave the figures as they were."""
    c.reset()
    base = c.meminfo()["MemTotal"]
    pages = 256 * PAGES_PER_MIB
    took_in = inflate_and_check(c, 256)
    took_de = deflate_and_check(c, base)
    fb = c.fb()
    rin, rde = fb["last_inflate_pages_per_s"], fb["last_deflate_pages_per_s"]
    check(rin * took_in >= pages, "inflate rate %d pages/s, but the host saw "
          "%d pages take %.3f s", rin, pages, took_in)
    check(rde * took_de >= pages, "deflate rate %d pages/s, but the host saw "
          "%d pages take %.3f s", rde, pages, took_de)
    for mib in (2, 4, 32, 2):
        inflate_and_check(c, mib)
        deflate_and_check(c, base)
        fb = c.fb()
        check((fb["last_inflate_pages_per_s"],
               fb["last_deflate_pages_per_s"]) == (rin, rde),
              "a %d MiB run changed the rates: inflate %d -> %d, deflate "
              "%d -> %d pages/s", mib, rin, fb["last_inflate_pages_per_s"],
              rde, fb["last_deflate_pages_per_s"])
    c.note.append("256 MiB: inflate %d pages/s (host saw %.2f s), deflate %d "
                  "pages/s (%.3f s); 2-32 MiB runs left them" %
                  (rin, took_in, rde, took_de))


def _fragment_and_inflate(c):
    """fb_frag fragments memory; inflate over half of the 4 KiB holes;
    max_order back to 9.  Returns fastballoon's attributes and the host's
    view then (fastballoon loaded with max_order=0 defrag_ms=0)."""
    free_mib = c.meminfo()["MemFree"] // KIB
    c.g.sh("(fb_frag %d > /tmp/frag.log 2>&1 &) ; true" %
           int(free_mib * 0.9))
    wait_for(lambda: "fragmented" in c.g.sh("cat /tmp/frag.log"), 300,
             what="fb_frag to fragment memory")
    # Half of the holes.  The guest keeps its free blocks: with the
    # balloon holding those too, its free memory was single pages
    # only, and the debug kernel (whose 4 KiB slabs are order-1)
    # OOM-killed fb_frag for a killall's kmalloc when compaction could
    # not make an order-1 page (CI, twice).
    free_mib = c.meminfo()["MemFree"] // KIB
    blocks_mib = sum(int(n) << (o - 8)
                     for ln in c.g.sh("cat /proc/buddyinfo").splitlines()
                     for o, n in enumerate(ln.split()[4:]) if o >= 9)
    take = max(free_mib - blocks_mib, 0) // 2 // 64 * 64
    inflate_and_check(c, take)
    c.set_knob("max_order", "9")    # healing trades for 2 MiB blocks
    return c.fb(), c.g.balloon_actual()


def _watch_healing(c, fb1, host1, small):
    """fb_frag exits: pages_4k falls to half of @small while actual_pages
    and query-balloon (@fb1, @host1 before) never move."""
    c.g.sh("killall fb_frag; true")
    # actual_pages is read every poll: no reader may see a trade half
    # done (the block and the pages it replaces both counted).
    seen = set()

    def healed():
        f = c.fb()
        seen.add(f["actual_pages"])
        return f if f["pages_4k"] <= small // 2 else None
    fb2 = wait_for(healed, 120, 0.2,
                   what="pages_4k to fall to half of %d" % small)
    check(seen == {fb1["actual_pages"]},
          "actual_pages moved while healing: %d -> %s",
          fb1["actual_pages"], sorted(seen))
    host2 = c.g.balloon_actual()
    check(host2 == host1, "query-balloon moved while healing: %d -> %d "
          "MiB", host1 // MIB, host2 // MIB)
    check(fb2["heal_trades_total"] > fb1["heal_trades_total"],
          "no healing trade counted")


def _check_heal_trace(c):
    """Healing settled (no change over 3 passes): the fb_heal records (one
    per pass) add up to heal_trades_total and the last one saw what is
    left.  Returns the attributes then."""
    prev = [None]

    def settled():
        cur = c.fb_attr("pages_4k")
        done, prev[0] = cur == prev[0], cur
        return done
    wait_for(settled, 120, 3, what="healing to settle")
    heals = [f for e, f in trace_stop(c) if e == "fb_heal"]
    fb2 = c.fb()
    check(heals, "no fb_heal in the trace")
    trades = sum(int_or_none(f.get("trades", "")) or 0 for f in heals)
    check(trades == fb2["heal_trades_total"], "fb_heal trades add up to "
          "%d, heal_trades_total %d", trades, fb2["heal_trades_total"])
    check(int_or_none(heals[-1].get("small_left", "")) == fb2["pages_4k"],
          "last fb_heal: small_left=%s, pages_4k %d",
          heals[-1].get("small_left"), fb2["pages_4k"])
    return fb2


@fastballoon_only
def t_heal(c):
    """Balloon inflated over fragmented memory holds 4 KiB pages; once whole
    blocks are free again, the background pass trades the pages for blocks:
    pages_4k falls, actual does not move, the split still matches; the
    fb_heal tracepoint accounts for every trade."""
    c.reset()
    c.unload("fastballoon")
    # The inflate takes single pages only (max_order=0), so it fills from
    # the holes and leaves the guest its free blocks; no evacuation
    # (defrag_ms=0): healing can only use blocks that are free again.
    c.g.sh("insmod /lib/fb/fastballoon.ko max_order=0 defrag_ms=0 "
           "heal_ms=1000")
    try:
        check(c.bound() == "fastballoon", "fastballoon did not bind")
        trace_start(c, ["fb_heal"])
        fb1, host1 = _fragment_and_inflate(c)
        small = fb1["pages_4k"]
        if small < 4 * 512:
            raise Skip("memory not fragmented enough: only %d single pages "
                       "ballooned" % small)
        _watch_healing(c, fb1, host1, small)
        fb2 = _check_heal_trace(c)
        c.ksft("fb_blocks", timeout=300)
        c.note.append("pages_4k %d -> %d, blocks %d -> %d" % (
            small, fb2["pages_4k"], fb1["blocks_2m"], fb2["blocks_2m"]))
    finally:
        c.g.run("killall fb_frag")
        c.g.set_balloon(FULL)
        c.g.wait_balloon(FULL, timeout=120)
        c.unload("fastballoon")
        c.load("fastballoon")


def _free_block_mib(c):
    """MiB the guest has free in blocks of 2 MiB and more (buddyinfo)."""
    return sum(int(n) << (o - 8)
               for ln in c.g.sh("cat /proc/buddyinfo").splitlines()
               for o, n in enumerate(ln.split()[4:]) if o >= 9)


def _evacuating_inflate(c, base, what):
    """fb_frag leaves the guest's free memory in 4 KiB holes; inflate past
    its free blocks, so that at least 128 MiB must be evacuated; check the
    balloon holds the target, more of it in blocks than was free, deflate,
    and stop fb_frag.
    Returns (MiB ballooned, the state deltas of interest).
    Proactive compaction is off meanwhile: kcompactd, woken every 500 ms
    by so many holes, made free blocks during the inflate for the balloon
    to take instead of evacuating (CI, 6.1: 0 evacuations)."""
    pro = "/proc/sys/vm/compaction_proactiveness"
    proactive = c.g.run("cat %s" % pro)[1].strip()
    if proactive.isdigit():
        c.g.sh("echo 0 > %s" % pro)
    free_mib = c.meminfo()["MemFree"] // KIB
    c.g.sh("(fb_frag %d > /tmp/frag.log 2>&1 &) ; true" %
           int(free_mib * 0.9))
    try:
        wait_for(lambda: "fragmented" in c.g.sh("cat /tmp/frag.log"), 300,
                 what="fb_frag to fragment memory")
        mi = c.meminfo()
        blocks = _free_block_mib(c)
        holes = max(mi["MemFree"] // KIB - blocks, 0)
        # Evacuation migrates a block's used pages into the holes: a third
        # of them is plenty, and leaves the guest single pages to run on.
        room = (mi["MemAvailable"] - c.fb()["reserve_pages"] * 4) // KIB - 64
        take = min(blocks + holes // 3, room) // 64 * 64
        if take < blocks + 128:
            raise Skip("%s: %d MiB free in blocks, %d in holes, room for "
                       "%d: too little to evacuate" % (what, blocks, holes,
                                                       room))
        st0, fb0 = fb_state(c), c.fb()
        inflate_and_check(c, take)
        st1, fb1 = fb_state(c), c.fb()
        # Whole blocks, but for what the time bound left to 4 KiB pages
        # (on the debug kernel evacuation is slow).
        check(fb1["blocks_2m"] * 512 + fb1["pages_4k"] ==
              take * PAGES_PER_MIB and fb1["blocks_2m"] * 2 > blocks,
              "%s: blocks_2m %d, pages_4k %d for %d MiB (%d MiB were free "
              "in blocks)", what, fb1["blocks_2m"], fb1["pages_4k"], take,
              blocks)
        d = {k: st1[k] - st0[k] for k in
             ("defrag_run_blocks", "crew_evac_passes", "crew_dropped_blocks",
              "blocks_taken_evacuated")}
        d["calls"] = (fb1["defrag_successes_total"] -
                      fb0["defrag_successes_total"])
        d["pages_4k"] = fb1["pages_4k"]
        deflate_and_check(c, base)
    finally:
        # Gone, its memory freed, before the next round measures.
        c.g.run("killall fb_frag; while pidof fb_frag; do sleep 0.2; done")
        if proactive.isdigit():
            c.g.sh("echo %s > %s" % (proactive, pro))
    return take, d


@fastballoon_only
def t_defrag_runs(c):
    """On a fragmented guest the balloon still reaches its target in whole
    blocks by evacuating pageblocks, several neighbours per call (more
    blocks made than successful calls), on every vCPU by default and on
    one with inflate_cpus 1; deflate gives every page back, evacuated
    blocks the pass did not claim included."""
    c.reset()
    cpus = int(c.g.sh("grep -c ^processor /proc/cpuinfo"))
    check(cpus >= 2, "the guest has %d CPU(s); the test needs 2", cpus)
    base = c.meminfo()["MemTotal"]
    free0 = c.meminfo()["MemFree"]
    for ncpus in (0, 1):
        what = "inflate_cpus %d" % ncpus
        with c.tuned(inflate_cpus=ncpus):
            take, d = _evacuating_inflate(c, base, what)
        check(d["calls"] >= 1 and d["defrag_run_blocks"] > d["calls"],
              "%s: %d evacuations made %d blocks: no run of several",
              what, d["calls"], d["defrag_run_blocks"])
        check(d["blocks_taken_evacuated"] + d["crew_dropped_blocks"] ==
              d["defrag_run_blocks"], "%s: %d blocks evacuated, %d claimed "
              "and %d dropped", what, d["defrag_run_blocks"],
              d["blocks_taken_evacuated"], d["crew_dropped_blocks"])
        if ncpus == 0:
            check(d["crew_evac_passes"] >= 1, "%s: the hands never "
                  "evacuated", what)
        else:
            check(d["crew_evac_passes"] == 0, "%s: %d passes evacuated on "
                  "several CPUs", what, d["crew_evac_passes"])
        c.note.append("%s: %d MiB, %d evacuations made %d blocks, %d crew "
                      "passes evacuated, %d pages_4k" % (
                          what, take, d["calls"], d["defrag_run_blocks"],
                          d["crew_evac_passes"], d["pages_4k"]))
    # Nothing evacuated went missing: with fb_frag gone, the guest has its
    # memory back.
    wait_for(lambda: c.meminfo()["MemFree"] >= free0 - 64 * KIB, 30, 1,
             what="MemFree back within 64 MiB of %d MiB" % (free0 // KIB))
