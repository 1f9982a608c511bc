// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon inflate pass: take memory from the guest and surrender it.
 *
 * Owns one pass of inflation (whole 2 MiB blocks first, free ones, then
 * evacuated ones within the defrag time bound, single pages for the rest)
 * and how a block just taken reaches the host (fb_surrender(): as a range
 * or as PFNs). Layer 2: it calls the primitives (pages.c, defrag.c) and
 * the host path (vq.c), never the size work or a policy.
 */
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mm.h>

#include "fastballoon.h"
#include "fb_trace.h"

/* Blocks surrendered per batch, so the host frees memory as we go. */
#define FB_BLOCK_BATCH	16

/*
 * Surrender blocks just taken: as ranges through the reporting queue, or as
 * PFNs through the inflate queue (@tx). @list holds heads linked through
 * lru; they are moved onto @fb->blocks. Caller holds @fb->lock.
 */
void fb_surrender(struct fb_balloon *fb, struct list_head *list,
		  struct fb_tx *tx)
{
	struct page *head, *next;
	unsigned long n = 0;
	struct fb_rtx rtx;

	lockdep_assert_held(&fb->lock);
	if (list_empty(list))
		return;
	if (fb_use_ranges(fb)) {
		mutex_lock(&fb->report_lock);
		fb_rtx_begin(&rtx, fb);
		list_for_each_entry(head, list, lru) {
			fb_rtx_block(&rtx, head);
			fb_block_set_ranged(head);
			n++;
		}
		if (!fb_rtx_end(&rtx))
			fb_count(fb, FB_CNT_RANGED, n * FB_BLOCK_PAGES);
		mutex_unlock(&fb->report_lock);
	} else {
		list_for_each_entry(head, list, lru)
			fb_tx_block(tx, page_to_pfn(head), fb->chain_blocks);
	}
	list_for_each_entry_safe(head, next, list, lru)
		list_move(&head->lru, &fb->blocks);
}

/*
 * Whether the pass stops before its next step: the host stopped answering,
 * the guest is under pressure, or the target moved (the size work reads it
 * again and starts another pass if there is more to take).
 */
static bool fb_pass_stops(struct fb_balloon *fb, struct fb_tx *tx)
{
	return tx->err || READ_ONCE(fb->pressure_hold) ||
	       READ_ONCE(fb->retarget);
}

/* The 4 KiB path: up to @nr single pages. Returns pages added. */
static unsigned long fb_take_small(struct fb_balloon *fb, struct fb_tx *tx,
				   unsigned long nr)
{
	unsigned long got;
	struct page *page;
	LIST_HEAD(pages);

	got = fb_small_alloc(fb, nr, &pages);
	list_for_each_entry(page, &pages, lru)
		fb_tx_pfn(tx, page_to_pfn(page));
	fb_small_enqueue(fb, &pages);
	fb_acct(fb, 0, got);
	return got;
}

/*
 * Blocks taken by the crew on several CPUs: claimed and surrendered here,
 * a batch at a time, as they come in, so the host frees memory while the
 * hands take the next. Free blocks (@evac false) or, when the pass found
 * none free, evacuated ones until @deadline. Returns pages added; *@dry is
 * set when the hands found no free block left.
 *
 * Free blocks go to the crew only on the range path. On the inflate queue
 * the host discards every 4 KiB frame on its own, and each discard makes
 * the host interrupt every vCPU that is running guest code to flush its
 * TLB: measured (TCG, 2 vCPUs, 1280 MiB) QEMU's system time doubled with a
 * second CPU zeroing, and the inflate took 10-20% longer. A range is one
 * discard per 2 MiB. Evacuation is worth its CPUs on both paths: migrating
 * a pageblock costs a CPU far longer than the host takes to discard it.
 */
static unsigned long fb_take_crew(struct fb_balloon *fb, struct fb_tx *tx,
				  unsigned long nr, bool evac,
				  unsigned long deadline, bool *dry)
{
	struct page *head, *next;
	unsigned long done = 0;
	LIST_HEAD(got);
	LIST_HEAD(got_evac);
	LIST_HEAD(list);

	*dry = evac;
	if (!evac && !fb_use_ranges(fb))
		return 0;
	if (evac && !fb_defrag_ready(fb))
		return 0;
	if (!fb_crew_start(fb, nr / FB_BLOCK_PAGES, evac, deadline))
		return 0;
	while (!fb_pass_stops(fb, tx) &&
	       fb_crew_collect(fb, &got, &got_evac, FB_BLOCK_BATCH)) {
		list_for_each_entry_safe(head, next, &got, lru) {
			list_del(&head->lru);
			fb_block_take(fb, head, false, &list);
			done += FB_BLOCK_PAGES;
		}
		list_for_each_entry_safe(head, next, &got_evac, lru) {
			list_del(&head->lru);
			fb_block_take(fb, head, true, &list);
			done += FB_BLOCK_PAGES;
		}
		fb_surrender(fb, &list, tx);
	}
	*dry = fb_crew_finish(fb);
	return done;
}

/*
 * Evacuate up to @blocks blocks on this CPU, in runs, and claim them onto
 * @list. Returns how many; 0 when nothing more can be evacuated.
 */
static unsigned int fb_take_evacuated(struct fb_balloon *fb,
				      unsigned long blocks,
				      unsigned long deadline,
				      struct list_head *list)
{
	struct page *head, *next;
	unsigned int n;
	LIST_HEAD(made);

	if (!fb_defrag_ready(fb))
		return 0;
	n = fb_defrag_take(fb, deadline,
			   min_t(unsigned long, blocks, FB_DEFRAG_RUN), &made);
	list_for_each_entry_safe(head, next, &made, lru) {
		list_del(&head->lru);
		fb_block_take(fb, head, true, list);
	}
	return n;
}

/*
 * Whole blocks first: free ones (on several CPUs when the pass is large),
 * then evacuated ones while the time bound lasts (on several CPUs too, then
 * on this one for what they left). Returns pages added.
 */
static unsigned long fb_take_blocks(struct fb_balloon *fb, struct fb_tx *tx,
				    unsigned long nr)
{
	unsigned long deadline, done;
	unsigned int batch = 0, n;
	bool dry, crew_evac = false;
	struct page *head;
	LIST_HEAD(list);

	/* defrag_ms for each 64 MiB: a larger pass may evacuate as long. */
	deadline = jiffies + msecs_to_jiffies(READ_ONCE(fb->cfg.defrag_ms)) *
		   DIV_ROUND_UP(nr, FB_DEFRAG_MS_PAGES);
	done = fb_take_crew(fb, tx, nr, false, deadline, &dry);
	while (nr - done >= FB_BLOCK_PAGES && !fb_pass_stops(fb, tx)) {
		/* The crew found none free: straight to evacuation. */
		head = dry ? NULL : fb_block_alloc();
		if (head) {
			fb_block_take(fb, head, false, &list);
			done += FB_BLOCK_PAGES;
			n = 1;
		} else if (!crew_evac) {
			/* Once per pass: the hands evacuate what they can. */
			dry = crew_evac = true;
			fb_surrender(fb, &list, tx);
			batch = 0;
			done += fb_take_crew(fb, tx, nr - done, true, deadline,
					     &dry);
			continue;
		} else {
			n = fb_take_evacuated(fb, (nr - done) / FB_BLOCK_PAGES,
					      deadline, &list);
			if (!n)
				break;
			done += n * FB_BLOCK_PAGES;
		}
		batch += n;
		if (batch >= FB_BLOCK_BATCH) {
			fb_surrender(fb, &list, tx);
			batch = 0;
		}
	}
	fb_surrender(fb, &list, tx);
	return done;
}

/*
 * One inflate pass: add up to @nr pages to the balloon and tell the host,
 * whole 2 MiB blocks first, single pages for the rest. Returns how many
 * were added; fewer than @nr means the guest had no more to give.
 */
unsigned long fb_inflate(struct fb_balloon *fb, unsigned long nr)
{
	unsigned int max_order = READ_ONCE(fb->cfg.max_order);
	unsigned long done = 0, want, got, blocks;
	u64 t0 = ktime_get_ns();
	struct fb_tx tx;

	fb_lock(fb, FB_WAIT);
	blocks = fb->nr_blocks;
	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	fb->small_order = min_t(unsigned int, max_order, FB_BLOCK_ORDER - 1);
	if (max_order >= FB_BLOCK_ORDER)
		done = fb_take_blocks(fb, &tx, nr);
	while (done < nr && !fb_pass_stops(fb, &tx)) {
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
	fb_unlock(fb);

	fb_count(fb, FB_CNT_INFLATED, done);
	trace_fb_inflate(fb->vdev->index, nr, blocks,
			 done - blocks * FB_BLOCK_PAGES,
			 div_u64(ktime_get_ns() - t0, NSEC_PER_USEC));
	return done;
}
