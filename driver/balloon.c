// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon inflate, deflate and balloon page migration, and the work
 * that moves the balloon towards the host's target.
 */
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/vmstat.h>

#include "fastballoon.h"
#include "fb_trace.h"

/*
 * Without DEFLATE_ON_OOM the host may count on the memory staying gone, so
 * ballooned pages leave the guest's managed memory (MemTotal drops), as with
 * the in-tree driver. With it, they stay counted: the guest may take them
 * back whenever it needs them.
 */
static bool fb_adjusts_managed(struct fb_balloon *fb)
{
	return !fb_has(fb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
}

u32 fb_target_pages(struct fb_balloon *fb)
{
	u32 target;

	/* The balloon's config space is little-endian even on legacy devices. */
	virtio_cread_le(fb->vdev, struct virtio_balloon_config, num_pages,
			&target);
	return target;
}

/*
 * What the balloon aims at: the guest's own target if one is set, else the
 * host's, never above the cap. The floor is applied as memory is taken
 * (fb_floor_room()), since available memory changes all the time.
 */
unsigned long fb_effective_target(struct fb_balloon *fb)
{
	unsigned long target = READ_ONCE(fb->cfg.guest_target);
	unsigned long cap = READ_ONCE(fb->cfg.max_pages);

	if (!target)
		target = fb_target_pages(fb);
	if (cap)
		target = min(target, cap);
	return target;
}

void fb_update_actual(struct fb_balloon *fb)
{
	u32 actual = READ_ONCE(fb->nr_pages);

	virtio_cwrite_le(fb->vdev, struct virtio_balloon_config, actual,
			 &actual);
}

/* Queue the size work unless the device is going away. */
static void fb_queue_size_work_delayed(struct fb_balloon *fb,
				       unsigned long delay)
{
	unsigned long flags;

	spin_lock_irqsave(&fb->stop_lock, flags);
	if (!fb->stop)
		mod_delayed_work(system_freezable_wq, &fb->size_work, delay);
	spin_unlock_irqrestore(&fb->stop_lock, flags);
}

void fb_queue_size_work(struct fb_balloon *fb)
{
	fb_queue_size_work_delayed(fb, 0);
}

/*
 * The target moved (host config change or a knob): go now, forget the
 * back-off and any hold a release imposed.
 */
void fb_target_changed(struct fb_balloon *fb)
{
	WRITE_ONCE(fb->pressure_hold, false);
	WRITE_ONCE(fb->floor_hold_until, jiffies);
	WRITE_ONCE(fb->retry_delay, FB_RETRY_DELAY);
	fb_queue_size_work(fb);
	fb_queue_floor(fb);
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

/* Pages inflate may still take without pushing MemAvailable into the band. */
static unsigned long fb_floor_room(struct fb_balloon *fb, unsigned long want)
{
	unsigned long floor = READ_ONCE(fb->cfg.floor_pages);
	long avail, keep;

	if (!floor)
		return want;
	keep = floor + fb_floor_band(floor);
	avail = si_mem_available();
	if (avail <= keep)
		return 0;
	return min(want, (unsigned long)(avail - keep));
}

/*
 * The 4 KiB path: up to @nr single pages, taken from the highest order that
 * still comes without effort (each chunk split into migratable single
 * pages), order 0 last with the light reclaim the in-tree driver uses.
 * Caller holds @fb->lock. Returns pages added.
 */
static unsigned long fb_take_small(struct fb_balloon *fb, struct fb_tx *tx,
				   unsigned long nr)
{
	gfp_t gfp = (GFP_HIGHUSER_MOVABLE | __GFP_NOWARN | __GFP_NOMEMALLOC |
		     __GFP_NORETRY) & ~__GFP_RECLAIM;
	bool adjust = fb_adjusts_managed(fb);
	unsigned long got = 0, i;
	unsigned int order;
	struct page *page;
	LIST_HEAD(pages);

	while (got < nr) {
		order = min_t(unsigned int, fb->small_order, ilog2(nr - got));
		if (order)
			page = alloc_pages(gfp, order);
		else
			page = balloon_page_alloc();
		if (!page) {
			if (!order)
				break;
			/* That order is gone for this pass; go lower. */
			fb->small_order = order - 1;
			continue;
		}
		if (order)
			split_page(page, order);
		fb->dbg.small_by_order[order] += 1UL << order;
		for (i = 0; i < (1UL << order); i++)
			list_add(&page[i].lru, &pages);
		got += 1UL << order;
	}
	list_for_each_entry(page, &pages, lru) {
		fb_tx_pfn(tx, page_to_pfn(page));
		if (adjust)
			adjust_managed_page_count(page, -1);
	}
	balloon_page_list_enqueue(&fb->bdev, &pages);
	fb_acct(fb, 0, got);
	return got;
}

/* Blocks surrendered per batch, so the host frees memory as we go. */
#define FB_BLOCK_BATCH	16

/*
 * Whole blocks first: free ones, then evacuated ones while the time bound
 * lasts. Caller holds @fb->lock. Returns pages added.
 */
static unsigned long fb_take_blocks(struct fb_balloon *fb, struct fb_tx *tx,
				    unsigned long nr)
{
	unsigned long deadline, done = 0;
	unsigned int batch = 0;
	struct page *head;
	LIST_HEAD(list);
	bool contig;

	deadline = jiffies + msecs_to_jiffies(READ_ONCE(fb->cfg.defrag_ms));
	while (nr - done >= FB_BLOCK_PAGES && !tx->err &&
	       !READ_ONCE(fb->pressure_hold)) {
		contig = false;
		head = fb_block_alloc();
		if (!head) {
			head = fb_defrag_block(fb, deadline);
			contig = true;
		}
		if (!head)
			break;
		fb_block_take(fb, head, contig, &list);
		done += FB_BLOCK_PAGES;
		if (++batch == FB_BLOCK_BATCH) {
			fb_surrender_blocks(fb, &list, tx);
			batch = 0;
		}
	}
	fb_surrender_blocks(fb, &list, tx);
	return done;
}

/*
 * Add up to @nr pages to the balloon and tell the host: whole 2 MiB blocks
 * first, single pages for the rest. Returns how many were added; fewer than
 * @nr means the guest had no more to give.
 */
static unsigned long fb_inflate(struct fb_balloon *fb, unsigned long nr)
{
	unsigned int max_order = READ_ONCE(fb->cfg.max_order);
	unsigned long done = 0, want, got, blocks;
	u64 t0 = ktime_get_ns();
	struct fb_tx tx;

	mutex_lock(&fb->lock);
	blocks = fb->nr_blocks;
	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	fb->small_order = min_t(unsigned int, max_order, FB_BLOCK_ORDER - 1);
	if (max_order >= FB_BLOCK_ORDER)
		done = fb_take_blocks(fb, &tx, nr);
	while (done < nr && !tx.err && !READ_ONCE(fb->pressure_hold)) {
		want = min_t(unsigned long, nr - done, FB_PFNS_PER_BUF);
		got = fb_take_small(fb, &tx, want);
		done += got;
		if (got < want) {
			fb_count(fb, FB_CNT_ALLOC_FAILS, 1);
			dev_info_ratelimited(&fb->vdev->dev,
					     "guest has no free page to give; will retry\n");
			break;
		}
	}
	/*
	 * Even if the host stopped answering, the pages stay in the balloon:
	 * it may have discarded them already.
	 */
	fb_tx_end(&tx);
	blocks = fb->nr_blocks - blocks;
	mutex_unlock(&fb->lock);

	fb_count(fb, FB_CNT_INFLATED, done);
	trace_fb_inflate(fb->vdev->index, nr, blocks,
			 done - blocks * FB_BLOCK_PAGES,
			 div_u64(ktime_get_ns() - t0, NSEC_PER_USEC));
	return done;
}

/* Give dequeued single pages back to the guest; the caller calls fb_acct(). */
void fb_release_pages(struct fb_balloon *fb, struct list_head *pages)
{
	bool adjust = fb_adjusts_managed(fb);
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		if (adjust)
			adjust_managed_page_count(page, 1);
		put_page(page);		/* the balloon's reference */
	}
}

/*
 * Give up to @nr single pages back to the guest. With @tx, the host hears
 * about them; when it insisted on hearing first (MUST_TELL_HOST) and could
 * not be told, the pages stay in the balloon. Caller holds @fb->lock.
 */
unsigned long fb_release_small(struct fb_balloon *fb, unsigned long nr,
			       struct fb_tx *tx)
{
	bool must_tell = fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST);
	unsigned long small = fb->nr_small;
	struct page *page;
	unsigned long got;
	LIST_HEAD(pages);

	lockdep_assert_held(&fb->lock);
	got = balloon_page_list_dequeue(&fb->bdev, &pages, min(nr, small));
	if (!got)
		return 0;
	if (tx) {
		list_for_each_entry(page, &pages, lru)
			fb_tx_pfn(tx, page_to_pfn(page));
		if (must_tell && fb_tx_end(tx)) {
			balloon_page_list_enqueue(&fb->bdev, &pages);
			return 0;
		}
	}
	fb_release_pages(fb, &pages);
	fb_acct(fb, 0, -(long)got);
	return got;
}

/*
 * Give @nr pages back to the guest. A normal deflate returns single pages
 * first (they are the holes in the host's huge pages) and then blocks,
 * splitting one if it must stop at an exact count. Under memory pressure
 * (@blocks_first) whole blocks go first: they are the fastest memory to
 * return, and the guest gets contiguous memory. Caller holds @fb->lock.
 */
unsigned long fb_release(struct fb_balloon *fb, unsigned long nr,
			 bool blocks_first, struct fb_tx *tx)
{
	unsigned long done = 0, rem;

	lockdep_assert_held(&fb->lock);
	nr = min(nr, fb->nr_pages);
	if (blocks_first) {
		done = fb_release_blocks(fb, DIV_ROUND_UP(nr, FB_BLOCK_PAGES),
					 tx) * FB_BLOCK_PAGES;
		if (done < nr)
			done += fb_release_small(fb, nr - done, tx);
		return done;
	}

	done = fb_release_small(fb, nr, tx);
	while (done < nr) {
		rem = nr - done;
		if (rem >= FB_BLOCK_PAGES) {
			rem = fb_release_blocks(fb, rem / FB_BLOCK_PAGES, tx);
			if (!rem)
				break;
			done += rem * FB_BLOCK_PAGES;
			continue;
		}
		if (!fb_block_to_small(fb))
			break;
		rem = fb_release_small(fb, rem, tx);
		if (!rem)
			break;
		done += rem;
	}
	return done;
}

/* How long the OOM notifier waits for the balloon lock, at most. */
#define FB_OOM_WAIT_MS		1000

/*
 * Take @fb->lock as @wait says. The OOM notifier runs holding the OOM lock,
 * and an allocation under @fb->lock that may not fail but may not kill
 * either (alloc_contig_range()'s migration targets, __GFP_RETRY_MAYFAIL)
 * retries for as long as somebody else holds the OOM lock: waiting for an
 * evacuation there would wait forever (CI, debug kernel: fb_churn and the
 * inflate worker blocked for minutes). So it gives up as soon as one runs,
 * and after FB_OOM_WAIT_MS whatever the holder does.
 */
static bool fb_lock(struct fb_balloon *fb, enum fb_wait wait)
{
	unsigned long until = jiffies + msecs_to_jiffies(FB_OOM_WAIT_MS);

	switch (wait) {
	case FB_WAIT:
		mutex_lock(&fb->lock);
		return true;
	case FB_TRY:
		return mutex_trylock(&fb->lock);
	case FB_WAIT_OOM:
		while (!mutex_trylock(&fb->lock)) {
			if (READ_ONCE(fb->evacuating) ||
			    time_after(jiffies, until)) {
				fb->dbg.oom_gave_up++;
				return false;
			}
			usleep_range(200, 400);
		}
		return true;
	}
	return false;
}

/*
 * One deflate pass: give up to @nr pages back, tell the host the new size,
 * then send the deflate messages. Without MUST_TELL_HOST the guest may use
 * the pages before the host has read about them, so `actual` need not wait
 * for the host. @wait says how to take the lock (fb_lock()). Returns pages
 * given back.
 */
unsigned long fb_give_back(struct fb_balloon *fb, unsigned long nr,
			   bool blocks_first, enum fb_wait wait)
{
	struct fb_tx tx, *txp = NULL;
	unsigned long got, blocks;
	u64 t0 = ktime_get_ns();

	if (!fb_lock(fb, wait))
		return 0;
	if (!fb->dead) {
		fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
		tx.lazy = true;
		txp = &tx;
	}
	fb->released_blocks = 0;
	got = fb_release(fb, nr, blocks_first, txp);
	blocks = fb->released_blocks;
	/* A config write, not a request: a dead host may still read it. */
	if (got)
		fb_update_actual(fb);
	if (txp) {
		fb_flush_deferred(fb, txp);
		fb_tx_end(txp);
	}
	mutex_unlock(&fb->lock);

	fb_count(fb, FB_CNT_DEFLATED, got);
	trace_fb_deflate(fb->vdev->index, nr, blocks,
			 got - blocks * FB_BLOCK_PAGES,
			 div_u64(ktime_get_ns() - t0, NSEC_PER_USEC));
	return got;
}

/*
 * Give back every block held in [@start, @start + @nr_pages): that memory
 * is going offline. The host hears as in any deflate; the size work then
 * takes the same amount elsewhere. Sets *@got to the pages given back;
 * returns -EBUSY if a block in the range is still held, 0 otherwise.
 *
 * The caller holds the memory hotplug locks. Rather than wait on @fb->lock
 * unboundedly with those held, give up after FB_OFFLINE_WAIT_MS: the
 * offlining then fails with -EBUSY and can be retried.
 */
#define FB_OFFLINE_WAIT_MS	2000

int fb_give_back_range(struct fb_balloon *fb, unsigned long start,
		       unsigned long nr_pages, unsigned long *got)
{
	struct fb_tx tx, *txp = NULL;
	unsigned long n;
	unsigned int waited = 0;
	int ret;

	*got = 0;
	while (!mutex_trylock(&fb->lock)) {
		if (waited >= FB_OFFLINE_WAIT_MS)
			return -EBUSY;
		msleep(20);
		waited += 20;
	}
	if (!fb->dead) {
		fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
		tx.lazy = true;
		txp = &tx;
	}
	do {
		n = fb_release_blocks_in(fb, start, start + nr_pages, txp);
		*got += n * FB_BLOCK_PAGES;
		if (n)
			fb_update_actual(fb);
		if (txp)
			fb_flush_deferred(fb, txp);
	} while (n);
	if (txp)
		fb_tx_end(txp);
	/* Kept (MUST_TELL_HOST and the host could not be told)? Then say so. */
	ret = fb_holds_blocks_in(fb, start, start + nr_pages) ? -EBUSY : 0;
	mutex_unlock(&fb->lock);

	fb_count(fb, FB_CNT_DEFLATED, *got);
	return ret;
}

/*
 * Empty the balloon on remove or freeze. Pages being migrated are off the
 * list for a moment, so an empty pass waits a little and tries again. After
 * the device was reset (@tell false) pages go back without a word to it.
 */
static void fb_deflate_all_tell(struct fb_balloon *fb, bool tell)
{
	unsigned long got;

	while (READ_ONCE(fb->nr_pages)) {
		if (tell) {
			got = fb_give_back(fb, FB_DEFER_MAX * FB_BLOCK_PAGES,
					   true, FB_WAIT);
		} else {
			mutex_lock(&fb->lock);
			got = fb_release(fb, FB_DEFER_MAX * FB_BLOCK_PAGES,
					 true, NULL);
			mutex_unlock(&fb->lock);
			fb_count(fb, FB_CNT_DEFLATED, got);
		}
		if (!got)
			msleep(20);
	}
}

void fb_deflate_all(struct fb_balloon *fb)
{
	fb_deflate_all_tell(fb, true);
}

void fb_release_all_untold(struct fb_balloon *fb)
{
	fb_deflate_all_tell(fb, false);
}

/*
 * Runs of the size work, for the last_*_pages_per_s attributes: a run starts
 * when the balloon begins moving one way and ends when it reaches the
 * target or can go no further; its rate counts the pauses in between.
 */
static void fb_run_step(struct fb_balloon *fb, enum fb_run dir, u64 start,
			unsigned long got, bool done)
{
	u64 now = ktime_get_ns(), ns;
	unsigned long rate;

	if (dir == FB_RUN_NONE)
		return;
	if (fb->run != dir) {
		fb->run = dir;
		fb->run_start_ns = start;	/* when this pass began */
		fb->run_pages = 0;
	}
	fb->run_pages += got;
	if (!done)
		return;
	if (fb->run_pages) {
		ns = max_t(u64, now - fb->run_start_ns, 1);
		rate = div64_u64((u64)fb->run_pages * NSEC_PER_SEC, ns);
		if (dir == FB_RUN_INFLATE)
			WRITE_ONCE(fb->last_inflate_rate, rate);
		else
			WRITE_ONCE(fb->last_deflate_rate, rate);
	}
	fb->run = FB_RUN_NONE;
}

/*
 * Inflate up to *@want pages; with a rate limit, *@want shrinks to a quarter
 * second's worth and *@pause says how long to wait before the next pass.
 */
static unsigned long fb_inflate_chunk(struct fb_balloon *fb,
				      unsigned long *want, unsigned long *pause)
{
	unsigned long limit = READ_ONCE(fb->cfg.inflate_limit);
	unsigned long got;

	*pause = 0;
	if (limit)
		*want = min(*want, max(limit / 4, 1UL));
	got = fb_inflate(fb, *want);
	if (limit && got) {
		*pause = max_t(unsigned long,
			       div64_u64((u64)got * HZ, limit), 1);
		fb->dbg.limit_waits++;
	}
	return got;
}

void fb_size_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(to_delayed_work(work),
					     struct fb_balloon, size_work);
	unsigned long target = fb_effective_target(fb);
	unsigned long held = READ_ONCE(fb->nr_pages);
	unsigned long want, got, room, pause = 0;
	unsigned long hold = READ_ONCE(fb->floor_hold_until);
	bool cut = false;	/* the floor allowed less than was asked */
	u64 start = ktime_get_ns();

	if (target == held) {
		fb_run_step(fb, fb->run, start, 0, true);
		return;
	}
	if (fb->dead) {
		dev_warn_ratelimited(&fb->vdev->dev,
				     "host stopped answering; balloon left at %lu pages\n",
				     held);
		return;
	}

	if (target > held && READ_ONCE(fb->pressure_hold))
		return;
	if (target > held && time_before(jiffies, hold)) {
		fb_queue_size_work_delayed(fb, hold - jiffies);
		return;
	}
	if (target > held) {
		want = min(target - held, FB_CHUNK_PAGES);
		room = fb_floor_room(fb, want);
		if (room < want) {
			fb->dbg.floor_stops++;
			want = room;
			cut = true;
		}
		got = want ? fb_inflate_chunk(fb, &want, &pause) : 0;
		fb_update_actual(fb);
		fb_run_step(fb, FB_RUN_INFLATE, start, got,
			    held + got >= target || !got || got < want);
	} else {
		/* Deflating is cheap: up to FB_DEFER_MAX blocks in one pass. */
		want = min(held - target, FB_DEFER_MAX * FB_BLOCK_PAGES);
		got = fb_give_back(fb, want, false, FB_WAIT);	/* writes actual */
		fb_run_step(fb, FB_RUN_DEFLATE, start, got,
			    held - got <= target || got < want);
	}

	/*
	 * More to do: go on at once (or after the rate limit's pause); after
	 * a short pass, pause, and pause longer each time nothing at all could
	 * be taken (the host may ask for more than the guest can give), so
	 * that we don't spin.
	 */
	if (got == want && !cut) {
		fb->retry_delay = FB_RETRY_DELAY;
		fb_queue_size_work_delayed(fb, pause);
	} else if (got) {
		fb->retry_delay = FB_RETRY_DELAY;
		fb_queue_size_work_delayed(fb, fb->retry_delay);
	} else {
		fb_queue_size_work_delayed(fb, fb->retry_delay);
		fb->retry_delay = min(fb->retry_delay * 2, FB_RETRY_MAX);
	}
	fb_queue_heal(fb);
	fb_queue_floor(fb);
}

/*
 * The floor: while MemAvailable is under it, give back what is missing
 * (blocks first) and hold inflation off for a while, so that the balloon
 * and the guest's workload don't trade the same memory back and forth.
 */
void fb_floor_func(struct work_struct *work)
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
	unsigned long flags;

	if (!READ_ONCE(fb->cfg.floor_pages) || !READ_ONCE(fb->nr_pages))
		return;
	spin_lock_irqsave(&fb->stop_lock, flags);
	if (!fb->stop)
		queue_delayed_work(system_freezable_wq, &fb->floor_work,
				   FB_FLOOR_PERIOD);
	spin_unlock_irqrestore(&fb->stop_lock, flags);
}

#if FB_BALLOON_MIGRATION
/*
 * Compaction or offlining wants @page: swap @newpage into the balloon in its
 * place, telling the host that @newpage is now ballooned and @page is not.
 * Called with both pages locked and @page isolated from our list.
 */
static int fb_migratepage(struct balloon_dev_info *bdev, struct page *newpage,
			  struct page *page, enum migrate_mode mode)
{
	struct fb_balloon *fb = container_of(bdev, struct fb_balloon, bdev);
	unsigned long flags;
	struct fb_tx tx;

	/*
	 * Inflate and deflate hold the lock while they allocate, and an
	 * allocation can compact: never wait for it here, let the core retry.
	 */
	if (!mutex_trylock(&fb->lock))
		return -EAGAIN;
	if (fb->dead) {
		mutex_unlock(&fb->lock);
		return -EAGAIN;
	}

	get_page(newpage);		/* the balloon's reference */
	if (fb_adjusts_managed(fb) && page_zone(page) != page_zone(newpage)) {
		adjust_managed_page_count(page, 1);
		adjust_managed_page_count(newpage, -1);
	}

	spin_lock_irqsave(&bdev->pages_lock, flags);
	balloon_page_insert(bdev, newpage);
	bdev->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	spin_unlock_irqrestore(&bdev->pages_lock, flags);

	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	fb_tx_pfn(&tx, page_to_pfn(newpage));
	fb_tx_end(&tx);
	fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
	fb_tx_pfn(&tx, page_to_pfn(page));
	fb_tx_end(&tx);
	mutex_unlock(&fb->lock);

	fb_count(fb, FB_CNT_MIGRATED, 1);
	balloon_page_finalize(page);
	put_page(page);			/* the balloon's reference */
	return MIGRATEPAGE_SUCCESS;
}

static void fb_set_migratepage(struct fb_balloon *fb)
{
	fb->bdev.migratepage = fb_migratepage;
}
#else
static void fb_set_migratepage(struct fb_balloon *fb) { }
#endif

void fb_balloon_init(struct fb_balloon *fb)
{
	balloon_devinfo_init(&fb->bdev);
	fb_set_migratepage(fb);
	INIT_LIST_HEAD(&fb->blocks);
	mutex_init(&fb->report_lock);
	INIT_DELAYED_WORK(&fb->size_work, fb_size_func);
	INIT_DELAYED_WORK(&fb->heal_work, fb_heal_func);
	INIT_DELAYED_WORK(&fb->floor_work, fb_floor_func);
}
