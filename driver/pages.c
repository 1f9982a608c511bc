// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon primitives: what the balloon holds, and its lock.
 *
 * Owns taking 4 KiB pages and 2 MiB blocks from the page allocator, marking
 * and accounting them (managed pages, the balloon's counts, `actual` in
 * config space), splitting a block into pages, and giving both back to the
 * page allocator. Knows nothing of passes, policies or the host's queues:
 * it calls only the kernel, compat.h and vq.c's config accessor.
 *
 * A block is 512 contiguous, 2 MiB-aligned frames: exactly what the host
 * backs with one huge page. Blocks are not migratable (like vmw_balloon's
 * 2 MiB pages): a pageblock we own entirely is no obstacle to compaction,
 * and moving it page by page would scatter it. Single pages are, through
 * the balloon core's list (@fb->bdev).
 */
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/page-flags.h>

#include "fastballoon.h"

/* page_private() of a block's first page. */
#define FB_BLK_CONTIG	BIT(0)	/* from alloc_contig_range: 512 single pages */
#define FB_BLK_RANGED	BIT(1)	/* surrendered as a range, not as PFNs */

/* No reclaim, no compaction, no warning: making blocks is defrag.c's job. */
#define FB_GFP_LIGHT	((GFP_HIGHUSER_MOVABLE | __GFP_NOWARN | \
			  __GFP_NOMEMALLOC | __GFP_NORETRY) & ~__GFP_RECLAIM)

/* How long the bounded waits of fb_lock() last, at most. */
#define FB_OOM_WAIT_MS		1000
#define FB_OFFLINE_WAIT_MS	2000

/*
 * Take @fb->lock as @wait says. The OOM notifier runs holding the OOM lock,
 * and an allocation under @fb->lock that may not fail but may not kill
 * either (alloc_contig_range()'s migration targets, __GFP_RETRY_MAYFAIL)
 * retries for as long as somebody else holds the OOM lock: waiting for an
 * evacuation there would wait forever (CI, debug kernel: fb_churn and the
 * inflate worker blocked for minutes). So it gives up as soon as one runs,
 * and after FB_OOM_WAIT_MS whatever the holder does. Memory going offline
 * holds the hotplug locks: it gives up after FB_OFFLINE_WAIT_MS, and the
 * offlining fails with -EBUSY and can be retried.
 */
bool fb_lock(struct fb_balloon *fb, enum fb_wait wait)
{
	unsigned long until;

	switch (wait) {
	case FB_WAIT:
		mutex_lock(&fb->lock);
		return true;
	case FB_TRY:
		if (!READ_ONCE(fb->fail_trylock) && mutex_trylock(&fb->lock))
			return true;
		fb->dbg.trylock_busy++;
		return false;
	case FB_WAIT_OOM:
	case FB_WAIT_OFFLINE:
		break;
	}
	until = jiffies + msecs_to_jiffies(wait == FB_WAIT_OOM ?
					   FB_OOM_WAIT_MS : FB_OFFLINE_WAIT_MS);
	while (!mutex_trylock(&fb->lock)) {
		if ((wait == FB_WAIT_OOM && atomic_read(&fb->evacuating)) ||
		    time_after(jiffies, until)) {
			if (wait == FB_WAIT_OOM)
				fb->dbg.oom_gave_up++;
			return false;
		}
		usleep_range(200, 400);
	}
	return true;
}

/*
 * Bring `actual` level with what the balloon holds. A config write, not a
 * request: even a host that stopped answering may read it. Caller holds
 * @fb->lock, so that two writers never cross and leave a stale value.
 */
void fb_update_actual(struct fb_balloon *fb)
{
	lockdep_assert_held(&fb->lock);
	if (fb->told_pages == fb->nr_pages)
		return;
	fb->told_pages = fb->nr_pages;
	fb_config_write_actual(fb, fb->told_pages);
}

/* Every release of the balloon lock tells the host the balloon's size. */
void fb_unlock(struct fb_balloon *fb)
{
	fb_update_actual(fb);
	mutex_unlock(&fb->lock);
}

/*
 * Up to @nr single pages onto @pages, taken from the highest order that
 * still comes without effort (each chunk split into single pages), order 0
 * last with the light reclaim the in-tree driver uses. Not yet the
 * balloon's: fb_small_enqueue() makes them so. Caller holds @fb->lock.
 */
unsigned long fb_small_alloc(struct fb_balloon *fb, unsigned long nr,
			     struct list_head *pages)
{
	unsigned long got = 0, i;
	unsigned int order;
	struct page *page;

	lockdep_assert_held(&fb->lock);
	while (got < nr) {
		order = min_t(unsigned int, fb->small_order, ilog2(nr - got));
		if (order)
			page = alloc_pages(FB_GFP_LIGHT, order);
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
			list_add(&page[i].lru, pages);
		got += 1UL << order;
	}
	return got;
}

/*
 * Make freshly taken pages the balloon's; the caller calls fb_acct(). The
 * balloon core accounts them (compat.h: managed pages, NR_BALLOON_PAGES,
 * balloon_inflate).
 */
void fb_small_enqueue(struct fb_balloon *fb, struct list_head *pages)
{
	fb_balloon_list_enqueue(&fb->bdev, pages, fb_adjusts_managed(fb));
}

/*
 * Take up to @nr of the balloon's single pages off its list, still
 * surrendered; they go on with fb_small_free() or fb_small_putback(). The
 * core accounts them as deflated already (balloon_deflate, managed pages,
 * NR_BALLOON_PAGES): a putback takes that back.
 */
unsigned long fb_small_dequeue(struct fb_balloon *fb, unsigned long nr,
			       struct list_head *pages)
{
	lockdep_assert_held(&fb->lock);
	return fb_balloon_list_dequeue(&fb->bdev, pages, min(nr, fb->nr_small),
				       fb_adjusts_managed(fb));
}

/*
 * Uncount @nr balloon_inflate and @nr_deflate balloon_deflate events the
 * core counted for pages that only went back on the list. No kernel has a
 * list call that does not count, so the counters step back once the core
 * has stepped them forward (count_vm_events() takes a signed delta; the
 * per-cpu sums stay right).
 */
static void fb_uncount(unsigned long inflate, unsigned long deflate)
{
	fb_count_balloon_events(BALLOON_INFLATE, -(long)inflate);
	fb_count_balloon_events(BALLOON_DEFLATE, -(long)deflate);
}

/*
 * Put dequeued pages back on the balloon's list: nothing changed, and no
 * counter says otherwise (managed pages and NR_BALLOON_PAGES come back
 * with the enqueue, the events are uncounted).
 */
void fb_small_putback(struct fb_balloon *fb, struct list_head *pages)
{
	size_t n = fb_balloon_list_enqueue(&fb->bdev, pages,
					   fb_adjusts_managed(fb));

	fb_uncount(n, n);
}

/* Give dequeued single pages back to the guest; the caller calls fb_acct(). */
void fb_small_free(struct fb_balloon *fb, struct list_head *pages)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, pages, lru) {
		list_del(&page->lru);
		put_page(page);		/* the balloon's reference */
	}
}

/* A free block, or nothing: no reclaim, no compaction, no warning. */
struct page *fb_block_alloc(void)
{
	return alloc_pages(FB_GFP_LIGHT, FB_BLOCK_ORDER);
}

/*
 * Whether the allocator zeroes what fb_block_alloc() returns (init_on_alloc,
 * Debian's default): most of a block's cost then, and what the crew
 * spreads over the CPUs. Without it a block costs next to nothing.
 */
bool fb_block_alloc_zeroes(void)
{
	return want_init_on_alloc(FB_GFP_LIGHT);
}

/* Give an unclaimed block back to the page allocator the way it came. */
void fb_block_drop(struct page *head, bool contig)
{
	if (contig)
		free_contig_range(page_to_pfn(head), FB_BLOCK_PAGES);
	else
		__free_pages(head, FB_BLOCK_ORDER);
}

static void fb_block_mark(struct page *head, bool offline)
{
	unsigned long i;

	for (i = 0; i < FB_BLOCK_PAGES; i++) {
		if (offline)
			__SetPageOffline(head + i);
		else
			__ClearPageOffline(head + i);
	}
}

/*
 * Mark a block we now own (caller holds @fb->lock and surrenders it to the
 * host) and put it on @list. Its pages are marked offline, as every
 * balloon's pages are, so that dump tools skip them. The guest's RAM still
 * counts it until fb_block_account().
 */
void fb_block_claim(struct fb_balloon *fb, struct page *head, bool contig,
		    struct list_head *list)
{
	lockdep_assert_held(&fb->lock);
	if (contig)
		fb->dbg.blocks_evacuated++;
	else
		fb->dbg.blocks_free++;
	fb_block_mark(head, true);
	set_page_private(head, contig ? FB_BLK_CONTIG : 0);
	list_add(&head->lru, list);
}

/*
 * A block in or out of the balloon's books (@nr: FB_BLOCK_PAGES or its
 * negative), the way the core books its single pages: managed pages,
 * NR_BALLOON_PAGES (blocks are ballooned memory too, so meminfo's
 * "Balloon:" shows them wherever it exists). The events are the callers'.
 */
static void fb_block_books(struct fb_balloon *fb, struct page *head, long nr)
{
	if (fb_adjusts_managed(fb))
		adjust_managed_page_count(head, -nr);
	fb_mod_balloon_pages(head, nr);
}

/* The guest's RAM no longer counts a claimed block: it is ballooned. */
void fb_block_account(struct fb_balloon *fb, struct page *head)
{
	fb_block_books(fb, head, FB_BLOCK_PAGES);
	fb_count_balloon_events(BALLOON_INFLATE, FB_BLOCK_PAGES);
}

/* Claim and account a block, and count it held (caller holds @fb->lock). */
void fb_block_take(struct fb_balloon *fb, struct page *head, bool contig,
		   struct list_head *list)
{
	fb_block_claim(fb, head, contig, list);
	fb_block_account(fb, head);
	fb_acct(fb, 1, 0);
}

void fb_block_set_ranged(struct page *head)
{
	set_page_private(head, page_private(head) | FB_BLK_RANGED);
}

/* Surrendered as a range: the host heard of no PFN, and needs none back. */
bool fb_block_ranged(struct page *head)
{
	return page_private(head) & FB_BLK_RANGED;
}

/* Does the block at @head have frames in [@start, @end)? */
bool fb_block_in(struct page *head, unsigned long start, unsigned long end)
{
	unsigned long pfn = page_to_pfn(head);

	return pfn + FB_BLOCK_PAGES > start && pfn < end;
}

/*
 * Give a held block back to the page allocator (off every list already);
 * the caller calls fb_acct().
 */
void fb_block_free(struct fb_balloon *fb, struct page *head)
{
	bool contig = page_private(head) & FB_BLK_CONTIG;

	set_page_private(head, 0);
	fb_block_mark(head, false);
	fb_block_books(fb, head, -(long)FB_BLOCK_PAGES);
	fb_count_balloon_events(BALLOON_DEFLATE, FB_BLOCK_PAGES);
	fb_block_drop(head, contig);
}

/*
 * Turn one held block into 512 single balloon pages (migratable, on the
 * 4 KiB list), so that a deflate can stop at an exact page count. The host
 * is not involved: the pages stay surrendered, and stay counted once: the
 * block leaves our books as its pages enter the core's, and the inflate
 * events the core counts for them are taken back. False if no block is
 * held.
 */
bool fb_block_split(struct fb_balloon *fb)
{
	struct page *head;
	unsigned long i;
	LIST_HEAD(pages);

	lockdep_assert_held(&fb->lock);
	head = list_first_entry_or_null(&fb->blocks, struct page, lru);
	if (!head)
		return false;
	list_del(&head->lru);
	fb_acct(fb, -1, FB_BLOCK_PAGES);
	fb_block_mark(head, false);
	if (!(page_private(head) & FB_BLK_CONTIG))
		split_page(head, FB_BLOCK_ORDER);
	set_page_private(head, 0);
	for (i = 0; i < FB_BLOCK_PAGES; i++)
		list_add(&head[i].lru, &pages);
	fb_block_books(fb, head, -(long)FB_BLOCK_PAGES);
	fb_uncount(fb_balloon_list_enqueue(&fb->bdev, &pages,
					   fb_adjusts_managed(fb)), 0);
	return true;
}

void fb_pages_init(struct fb_balloon *fb)
{
	mutex_init(&fb->lock);
	/* called in probe, where the features are known */
	fb_balloon_init(&fb->bdev, fb_adjusts_managed(fb));
	INIT_LIST_HEAD(&fb->blocks);
}

/*
 * After a device reset the host has forgotten what we told it: tell it
 * again (restore).
 */
void fb_retell_actual(struct fb_balloon *fb)
{
	fb_lock(fb, FB_WAIT);
	fb->told_pages = ULONG_MAX;
	fb_unlock(fb);
}
