// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon policies that keep memory for the guest: the reserve, the
 * floor, and memory pressure (DEFLATE_ON_OOM).
 *
 * Owns the reserve and the floor (how much inflation may take, and the work
 * that gives back while MemAvailable is under the floor), the OOM notifier
 * and the shrinker, and the holds each release imposes. Layer 3: it calls
 * the deflate pass (deflate.c); the size work asks it for the room the
 * reserve and the floor leave; the notifiers are entry points the kernel
 * waits on, so they call the pass directly.
 *
 * The reserve: what the guest's kernel and programs need to go on living
 * (see fb_reserve_init()). Inflation never takes MemAvailable below it,
 * whatever the host asks: a host that asks for everything would otherwise
 * leave a guest that cannot fork, OOM-kills what it runs and at last
 * panics, deadlocked on memory. It only limits inflation; it gives nothing
 * back (the floor and deflate-on-oom do that).
 *
 * The floor: while MemAvailable is under it, give back what is missing
 * (blocks first) and hold inflation off for a while, so that the balloon
 * and the guest's workload don't trade the same memory back and forth.
 *
 * Under pressure, when the host allows it, the guest takes ballooned memory
 * back before anything is killed, whole blocks first:
 *  - the shrinker gives memory back when reclaim runs while available
 *    memory is already low, so a large allocation is served at reclaim
 *    speed instead of crawling through one OOM round per megabyte;
 *  - the OOM notifier runs before the OOM killer picks a victim; whatever
 *    we release there counts as progress and the allocation is retried.
 * The shrinker leaves the balloon alone while there is plenty of memory
 * left: dropping page cache is not a reason to deflate (that is why the
 * in-tree driver moved away from a shrinker).
 * After any release that gave memory back we stop re-inflating until the
 * host sets a new target, or the balloon and the allocator would fight; a
 * release that found the balloon busy and gave nothing holds nothing.
 */
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/oom.h>
#include <linux/shrinker.h>

#include "fastballoon.h"
#include "fb_trace.h"

#define FB_OOM_PRIORITY		80

/* Below this share of RAM available, reclaim may shrink the balloon. */
#define FB_LOW_MEM_SHIFT	5	/* 1/32 */

/*
 * Give memory back on the guest's own account, blocks first. After an OOM
 * or shrinker release that gave anything back, the balloon stays put until
 * the host sets a new target; the floor sets its own, timed hold
 * (fb_floor_func()).
 */
static unsigned long fb_pressure_release(struct fb_balloon *fb,
					 unsigned long nr,
					 enum fb_release_reason why,
					 enum fb_wait wait)
{
	static const enum fb_counter cnt[] = {
		[FB_REL_OOM] = FB_CNT_OOM_RELEASED,
		[FB_REL_SHRINKER] = FB_CNT_SHRINK_RELEASED,
		[FB_REL_FLOOR] = FB_CNT_FLOOR_RELEASED,
	};
	unsigned long got;

	/* fb_trace.h prints the reasons by these numbers. */
	BUILD_BUG_ON(FB_REL_OOM != 0 || FB_REL_SHRINKER != 1 ||
		     FB_REL_FLOOR != 2);
	got = fb_give_back(fb, nr, true, wait);
	/*
	 * Hold only when memory was given back, not when the lock was busy or
	 * the balloon empty. Set after the pass: an inflate step that slips in
	 * meanwhile sees the hold at its next step (fb_inflate()).
	 */
	if (got && why != FB_REL_FLOOR)
		WRITE_ONCE(fb->pressure_hold, true);
	fb_count(fb, cnt[why], got);
	trace_fb_release(fb->vdev->index, why, nr, got);
	return got;
}

/*
 * The floor has a band above it: inflation stops a band short of the floor,
 * and a give-back refills MemAvailable to two bands over it. Were the
 * inflate to stop at the floor itself, the next small allocation in the
 * guest would push MemAvailable under it, the floor would give back, and
 * after each hold the balloon would take the same memory again.
 */
static unsigned long fb_floor_band(unsigned long floor)
{
	return max(floor / 32, FB_BLOCK_PAGES);
}

/*
 * The default reserve, computed when the device binds: the zones' high
 * watermarks once more (MemAvailable already leaves them out; this is
 * room for kswapd to work in before allocations stall, which THP's
 * raised min_free_kbytes makes large on a small guest), a sixty-fourth of
 * RAM (page tables, slab and the working set of what runs grow with the
 * guest), and a fixed margin for the first fork of a guest under
 * pressure: a process with its page tables, kernel stack and the pages it
 * dirties at once. Never more than half the RAM. Measured on Debian's
 * 6.1 (THP "always"): 113 MiB on a 2 GiB guest, 365 MiB on a 16 GiB one.
 */
#define FB_RESERVE_WMARK_MULT	1
#define FB_RESERVE_RAM_SHIFT	6	/* 1/64 */
#define FB_RESERVE_MARGIN	(16UL << (20 - PAGE_SHIFT))

static unsigned long fb_reserve_default(unsigned long ram)
{
	unsigned long reserve;

	reserve = FB_RESERVE_WMARK_MULT * fb_high_wmarks() +
		  (ram >> FB_RESERVE_RAM_SHIFT) + FB_RESERVE_MARGIN;
	return min(reserve, ram / 2);
}

/* Probe: compute the default reserve, and take it unless a number was set. */
void fb_reserve_init(struct fb_balloon *fb)
{
	fb->reserve_auto = fb_reserve_default(fb->ram_pages);
	if (fb->cfg.reserve_pages == FB_KNOB_AUTO)
		fb->cfg.reserve_pages = fb->reserve_auto;
}

/*
 * Pages inflate may still take without pushing MemAvailable under the
 * reserve or into the floor's band, whichever is higher.
 */
unsigned long fb_floor_room(struct fb_balloon *fb, unsigned long want)
{
	unsigned long floor = READ_ONCE(fb->cfg.floor_pages);
	long avail, keep = READ_ONCE(fb->cfg.reserve_pages);

	if (floor)
		keep = max_t(long, keep, floor + fb_floor_band(floor));
	if (!keep)
		return want;
	avail = si_mem_available();
	if (avail <= keep)
		return 0;
	return min(want, (unsigned long)(avail - keep));
}

static void fb_floor_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(to_delayed_work(work),
					     struct fb_balloon, floor_work);
	unsigned long floor = READ_ONCE(fb->cfg.floor_pages);
	long avail = si_mem_available();
	unsigned long need;

	if (!floor || !READ_ONCE(fb->nr_pages))
		return;
	if (avail < (long)floor) {
		need = floor + 2 * fb_floor_band(floor) - avail;
		WRITE_ONCE(fb->floor_hold_until, jiffies + FB_FLOOR_HOLD);
		fb_pressure_release(fb, need, FB_REL_FLOOR, FB_WAIT);
	}
	fb_queue_floor(fb);
}

/* Keep checking the floor while one is set and there is memory to give. */
void fb_queue_floor(struct fb_balloon *fb)
{
	if (!READ_ONCE(fb->cfg.floor_pages) || !READ_ONCE(fb->nr_pages))
		return;
	fb_queue_dwork(fb, system_freezable_wq, &fb->floor_work,
		       FB_FLOOR_PERIOD, false);
}

void fb_floor_init(struct fb_balloon *fb)
{
	INIT_DELAYED_WORK(&fb->floor_work, fb_floor_func);
}

static int fb_oom_notify(struct notifier_block *nb, unsigned long unused,
			 void *parm)
{
	struct fb_balloon *fb = container_of(nb, struct fb_balloon, oom_nb);
	unsigned long *freed = parm;
	unsigned long got;

	got = fb_pressure_release(fb, READ_ONCE(fb->cfg.oom_pages), FB_REL_OOM,
				  FB_WAIT_OOM);
	*freed += got;
	return NOTIFY_OK;
}

/* Low: under 1/32 of RAM available, or under the floor if that is higher. */
static bool fb_memory_low(struct fb_balloon *fb)
{
	unsigned long low = max(totalram_pages() >> FB_LOW_MEM_SHIFT,
				READ_ONCE(fb->cfg.floor_pages));

	return si_mem_available() < (long)low;
}

static unsigned long fb_shrink_count(struct shrinker *s,
				     struct shrink_control *sc)
{
	struct fb_balloon *fb = fb_shrinker_priv(s);

	if (!fb_memory_low(fb))
		return 0;
	return READ_ONCE(fb->nr_pages);
}

static unsigned long fb_shrink_scan(struct shrinker *s,
				    struct shrink_control *sc)
{
	struct fb_balloon *fb = fb_shrinker_priv(s);
	unsigned long got;

	if (!fb_memory_low(fb))
		return SHRINK_STOP;
	/*
	 * Never wait for the lock: inflate holds it while it allocates, and
	 * that allocation may be what is reclaiming right now.
	 */
	got = fb_pressure_release(fb, max(sc->nr_to_scan,
					  READ_ONCE(fb->cfg.oom_pages)),
				  FB_REL_SHRINKER, FB_TRY);
	return got ?: SHRINK_STOP;
}

int fb_pressure_init(struct fb_balloon *fb)
{
	int err;

	if (!fb_has(fb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		return 0;
	fb->oom_nb.notifier_call = fb_oom_notify;
	fb->oom_nb.priority = FB_OOM_PRIORITY;
	err = register_oom_notifier(&fb->oom_nb);
	if (err)
		return err;
	fb->oom_registered = true;

	fb->shrinker = fb_shrinker_create(fb_shrink_count, fb_shrink_scan, fb,
					  "fastballoon");
	if (!fb->shrinker) {
		fb_pressure_exit(fb);
		return -ENOMEM;
	}
	return 0;
}

void fb_pressure_exit(struct fb_balloon *fb)
{
	fb_shrinker_destroy(fb->shrinker);
	fb->shrinker = NULL;
	if (fb->oom_registered)
		unregister_oom_notifier(&fb->oom_nb);
	fb->oom_registered = false;
}
