# SPDX-License-Identifier: GPL-2.0
"""The kernel's books on the balloon: /proc/meminfo's MemTotal and
Balloon:, /proc/vmstat's balloon_inflate, balloon_deflate and
balloon_migrate, against what fastballoon says it holds.

Registered in groups.py (groups books and books-doo).  What differs by kernel:

  * Balloon: (NR_BALLOON_PAGES) exists from Linux 6.16 on (here: sid's
    7.2); 6.1 and 6.12 have no such line, and the test checks the rest.
  * On 7.x the balloon core books the 4 KiB pages and fastballoon only its
    2 MiB blocks; on 6.x the driver books both (driver/compat.h).  The
    figures must be the same everywhere: one count per page, blocks in
    every counter, and nothing for pages that only go back on the list
    (a block split into single pages to stop a deflate at an exact count).
  * MemTotal drops with the balloon unless DEFLATE_ON_OOM is offered (the
    in-tree driver's rule); Balloon: and the events count either way.
"""

import time

from fbtest import (
    FB_NUM, FULL, F_DEFLATE_ON_OOM, MIB, check, fastballoon_only,
    settled_balloon,
)

PAGE = 4096


def _books(c):
    mi = c.meminfo()
    vm = c.g.vmstat()
    return {"memtotal": mi["MemTotal"], "balloon": mi.get("Balloon"),
            "inflate": vm.get("balloon_inflate", 0),
            "deflate": vm.get("balloon_deflate", 0),
            "migrate": vm.get("balloon_migrate", 0),
            "fb_migrated": c.fb_attr("migrated_pages_total") or 0}


def _held(c, guest_bytes):
    """Set the guest size, wait for it, return fastballoon's attributes."""
    c.g.set_balloon(guest_bytes)
    c.g.wait_balloon(guest_bytes, timeout=180)
    settled_balloon(c, quiet=2)
    return c.fb()


def _agree(c, b0, fb, inflated, deflated, what):
    """The books since @b0 say the balloon took @inflated pages and gave
    back @deflated, and hold what fastballoon holds."""
    b = _books(c)
    held = fb["actual_pages"]
    check(held == inflated - deflated, "%s: fastballoon holds %d pages, "
          "the test moved %d - %d", what, held, inflated, deflated)
    check(b["inflate"] - b0["inflate"] == inflated and
          b["deflate"] - b0["deflate"] == deflated,
          "%s: vmstat balloon_inflate +%d, balloon_deflate +%d; the balloon "
          "took %d and gave back %d pages", what, b["inflate"] - b0["inflate"],
          b["deflate"] - b0["deflate"], inflated, deflated)
    if b0["balloon"] is not None:
        check(b["balloon"] - b0["balloon"] == held * 4,
              "%s: meminfo Balloon: %d kB, fastballoon holds %d kB (%d "
              "blocks, %d single pages)", what, b["balloon"], held * 4,
              fb["blocks_2m"], fb["pages_4k"])
    drops = c.features()[F_DEFLATE_ON_OOM] != "1"
    want = b0["memtotal"] - (held * 4 if drops else 0)
    check(b["memtotal"] == want, "%s: MemTotal %d kB, expected %d (%d pages "
          "held, MemTotal %s with the balloon)", what, b["memtotal"], want,
          held, "drops" if drops else "stays")
    return b


@fastballoon_only
def t_balloon_books(c):
    """Inflate 128 MiB of single pages (max_order=0) and compact (the
    balloon core migrates some of them), deflate; inflate 1 GiB and 3 pages
    (blocks and single pages), deflate 5 pages (the 3 single ones, then a
    block split for 2 more), deflate all: at each step meminfo and vmstat
    agree with what the balloon holds, balloon_migrate with fastballoon's
    migrations, and the split and the migrations move neither inflate nor
    deflate."""
    c.reset()
    # No healing trades or evacuations: every event below is the test's.
    with c.tuned(defrag="off"):
        b0 = _books(c)
        if b0["balloon"] is None:
            c.note.append("no meminfo Balloon: on this kernel (from 6.16)")
        m = 128 * MIB // PAGE
        c.set_knob("max_order", 0)
        fb = _held(c, FULL - m * PAGE)
        c.set_knob("max_order", FB_NUM["FB_MAX_ORDER_LIMIT"])
        _agree(c, b0, fb, m, 0, "128 MiB in single pages")
        # Whether compaction picks balloon pages depends on where they
        # landed (measured on 7.2: 169 of 32768 in one boot, none in the
        # next): try a few times; the books must agree either way.
        for _ in range(3):
            c.g.sh("echo 1 > /proc/sys/vm/compact_memory", timeout=300)
            time.sleep(1)
            fb = c.fb()
            if fb["migrated_pages_total"] > b0["fb_migrated"]:
                break
        b = _agree(c, b0, fb, m, 0, "after compaction")
        moved = fb["migrated_pages_total"] - b0["fb_migrated"]
        check(b["migrate"] - b0["migrate"] == moved,
              "vmstat balloon_migrate +%d, fastballoon migrated %d",
              b["migrate"] - b0["migrate"], moved)
        fb = _held(c, FULL)
        _agree(c, b0, fb, m, m, "deflated")

        n = 1024 * MIB // PAGE + 3
        fb = _held(c, FULL - n * PAGE)
        check(fb["pages_4k"] >= 3 and fb["blocks_2m"] > 0,
              "wanted blocks and single pages, got %d blocks, %d pages",
              fb["blocks_2m"], fb["pages_4k"])
        _agree(c, b0, fb, m + n, m, "1 GiB and 3 pages inflated")
        fb = _held(c, FULL - (n - 5) * PAGE)
        split = fb["pages_4k"] > 5
        _agree(c, b0, fb, m + n, m + 5, "5 pages deflated")
        fb = _held(c, FULL)
        _agree(c, b0, fb, m + n, m + n, "deflated")
    c.note.append("%d pages migrated by compaction; %s" % (
        moved, "a block was split" if split else
        "no block split (single pages were left)"))
