// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon healing: trade the 4 KiB pages the balloon holds for whole
 * 2 MiB blocks, in the background.
 *
 * When inflation had to take single pages (no block was free and none
 * could be evacuated in time), the host's huge pages under them are split.
 * Later, while the balloon holds 4 KiB pages, healing takes a block (free
 * or evacuated), surrenders it, then gives back 512 single pages. The
 * balloon's size never changes, not even for a lockless reader: the block
 * and the pages are accounted in one step, after the host has heard about
 * both. Layer 3: it uses the primitives (pages.c, defrag.c), the
 * inflate pass's fb_surrender() and the host path (vq.c).
 */
#include <linux/list.h>
#include <linux/mm.h>

#include "fastballoon.h"
#include "fb_trace.h"

#define FB_HEAL_TRADES_PER_PASS	32

/* One trade: a block in, 512 single pages out, or nothing at all. */
static bool fb_heal_one(struct fb_balloon *fb, unsigned long deadline)
{
	struct page *head, *page;
	bool contig = false;
	unsigned long got;
	struct fb_tx tx;
	LIST_HEAD(list);
	LIST_HEAD(pages);

	head = fb_block_alloc();
	if (!head) {
		head = fb_defrag_block(fb, deadline);
		contig = true;
	}
	if (!head)
		return false;

	/*
	 * All 512 pages or no trade. Fewer can be on the list while
	 * compaction has some isolated for migration.
	 */
	got = fb_small_dequeue(fb, FB_BLOCK_PAGES, &pages);
	if (got < FB_BLOCK_PAGES) {
		fb_small_putback(fb, &pages);
		fb_block_drop(head, contig);
		return false;
	}

	fb_block_claim(fb, head, contig, &list);
	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	fb_surrender(fb, &list, &tx);
	fb_tx_end(&tx);

	fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
	list_for_each_entry(page, &pages, lru)
		fb_tx_pfn(&tx, page_to_pfn(page));
	if (fb_tx_end(&tx) && fb_must_tell(fb)) {
		/*
		 * The host did not hear: the pages stay, beside the block.
		 * The balloon grew by a block; fb_unlock() tells the host.
		 */
		fb_small_putback(fb, &pages);
		fb_block_account(fb, head);
		fb_acct(fb, 1, 0);
		return false;
	}
	fb_block_account(fb, head);
	fb_small_free(fb, &pages);
	fb_acct(fb, 1, -(long)FB_BLOCK_PAGES);
	fb_count(fb, FB_CNT_HEAL_TRADES, 1);
	return true;
}

static void fb_heal_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(to_delayed_work(work),
					     struct fb_balloon, heal_work);
	unsigned long deadline;
	unsigned int i;

	if (READ_ONCE(fb->cfg.defrag) != FB_DEFRAG_HEAL ||
	    READ_ONCE(fb->cfg.max_order) < FB_BLOCK_ORDER)
		return;

	/*
	 * Healing is never urgent: with the lock taken (an inflate, a deflate,
	 * a pressure release) come back in heal_ms rather than hold a shared
	 * workqueue's worker for as long as that takes.
	 */
	if (!fb_lock(fb, FB_TRY)) {
		fb->dbg.heal_busy++;
		fb_queue_heal(fb);
		return;
	}
	deadline = jiffies + msecs_to_jiffies(READ_ONCE(fb->cfg.defrag_ms));
	for (i = 0; i < FB_HEAL_TRADES_PER_PASS; i++) {
		if (fb->dead || READ_ONCE(fb->pressure_hold) ||
		    fb->nr_small < FB_BLOCK_PAGES)
			break;
		if (!fb_heal_one(fb, deadline))
			break;
	}
	trace_fb_heal(fb->vdev->index, i, fb->nr_small);
	fb_unlock(fb);

	fb_queue_heal(fb);
}

/* Come back later if there is anything left to heal. */
void fb_queue_heal(struct fb_balloon *fb)
{
	if (READ_ONCE(fb->cfg.defrag) != FB_DEFRAG_HEAL)
		return;
	if (READ_ONCE(fb->nr_small) < FB_BLOCK_PAGES)
		return;
	fb_queue_dwork(fb, system_freezable_wq, &fb->heal_work,
		       msecs_to_jiffies(READ_ONCE(fb->cfg.heal_ms)), false);
}

void fb_heal_init(struct fb_balloon *fb)
{
	INIT_DELAYED_WORK(&fb->heal_work, fb_heal_func);
}
