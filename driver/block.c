// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon 2 MiB blocks: how they are taken, surrendered, given back,
 * and how 4 KiB pages are traded for them over time ("healing").
 *
 * A block is 512 contiguous, 2 MiB-aligned frames: exactly what the host
 * backs with one huge page. Surrendering whole blocks lets the host free
 * whole huge pages (hugetlbfs) and keeps the rest of its THPs intact, where
 * 4 KiB ballooning splits every huge page it touches.
 *
 * Blocks are not migratable (like vmw_balloon's 2 MiB pages): a pageblock we
 * own entirely is no obstacle to compaction, and moving it page by page
 * would scatter it.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/page-flags.h>

#include "fastballoon.h"
#include "fb_trace.h"

/* page_private() of a block's first page. */
#define FB_BLK_CONTIG	BIT(0)	/* from alloc_contig_range: 512 single pages */
#define FB_BLK_RANGED	BIT(1)	/* surrendered as a range, not as PFNs */

/*
 * A free block, or nothing: no reclaim, no compaction, no warning. Making
 * blocks is defrag.c's job, within its time bound.
 */
struct page *fb_block_alloc(void)
{
	gfp_t gfp = (GFP_HIGHUSER_MOVABLE | __GFP_NOWARN | __GFP_NOMEMALLOC |
		     __GFP_NORETRY) & ~__GFP_RECLAIM;

	return alloc_pages(gfp, FB_BLOCK_ORDER);
}

/*
 * Auto takes the range path only where it is sound and useful: the host
 * offered the reporting queue, did not ask to hear about every page
 * (MUST_TELL_HOST), and free pages are not poisoned with a non-zero pattern
 * (QEMU then keeps reported ranges instead of discarding them).
 */
bool fb_use_ranges(struct fb_balloon *fb)
{
	unsigned int path = READ_ONCE(fb->cfg.path);

	/* Unsound, whatever was asked for: the host wants every PFN. */
	if (!fb->vqs[FB_VQ_REPORT] ||
	    fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST))
		return false;
	if (path != FB_PATH_AUTO)
		return path == FB_PATH_REPORT;
	if (fb_has(fb, VIRTIO_BALLOON_F_PAGE_POISON) && !want_init_on_free())
		return false;
	return true;
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
 * balloon's pages are, so that dump tools skip them. What the balloon
 * holds is accounted apart (fb_block_account()).
 */
static void fb_block_claim(struct fb_balloon *fb, struct page *head,
			   bool contig, struct list_head *list)
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

/* The guest's RAM no longer counts a claimed block. */
static void fb_block_account(struct fb_balloon *fb, struct page *head)
{
	if (!fb_has(fb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		adjust_managed_page_count(head, -(long)FB_BLOCK_PAGES);
}

/* Claim and account a block (caller holds @fb->lock). */
void fb_block_take(struct fb_balloon *fb, struct page *head, bool contig,
		   struct list_head *list)
{
	fb_block_claim(fb, head, contig, list);
	fb_block_account(fb, head);
	fb_acct(fb, 1, 0);
}

static void fb_block_set_ranged(struct page *head)
{
	set_page_private(head, page_private(head) | FB_BLK_RANGED);
}

/* Give a block back to the page allocator (off every list already). */
void fb_block_free(struct fb_balloon *fb, struct page *head)
{
	unsigned long flags = page_private(head);

	set_page_private(head, 0);
	fb_block_mark(head, false);
	if (!fb_has(fb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		adjust_managed_page_count(head, FB_BLOCK_PAGES);
	if (flags & FB_BLK_CONTIG)
		free_contig_range(page_to_pfn(head), FB_BLOCK_PAGES);
	else
		__free_pages(head, FB_BLOCK_ORDER);
}

/*
 * Turn one held block into 512 single balloon pages (migratable, on the
 * 4 KiB list), so that a deflate can stop at an exact page count. The host
 * is not involved: the pages stay surrendered. False if no block is held.
 */
bool fb_block_to_small(struct fb_balloon *fb)
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
	balloon_page_list_enqueue(&fb->bdev, &pages);
	return true;
}

/*
 * Give the @got blocks on @list (taken off @fb->blocks) back to the guest.
 * Blocks surrendered as PFNs are announced on the deflate queue when @tx is
 * given; ranges need no word: the host already discarded them and faults
 * fresh pages in on first touch. With MUST_TELL_HOST the host hears first
 * and, if it can't, the blocks stay; otherwise the memory goes back at once
 * and the announcement waits in @fb->deferred for fb_flush_deferred().
 * Returns blocks released. Caller holds @fb->lock.
 */
static unsigned long fb_release_list(struct fb_balloon *fb,
				     struct list_head *list, unsigned long got,
				     struct fb_tx *tx)
{
	bool must_tell = fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST);
	struct page *head, *next;

	if (!got)
		return 0;
	list_for_each_entry(head, list, lru) {
		if (!tx || (page_private(head) & FB_BLK_RANGED))
			continue;
		if (must_tell)
			fb_tx_block(tx, page_to_pfn(head), false);
		else
			fb->deferred[fb->nr_deferred++] = page_to_pfn(head);
	}
	if (tx && must_tell && fb_tx_end(tx)) {
		/* The host insisted and could not be told: keep them. */
		list_splice(list, &fb->blocks);
		return 0;
	}
	list_for_each_entry_safe(head, next, list, lru) {
		list_del(&head->lru);
		fb_block_free(fb, head);
	}
	fb_acct(fb, -(long)got, 0);
	fb->released_blocks += got;
	return got;
}

static bool fb_block_in(struct page *head, unsigned long start,
			unsigned long end)
{
	unsigned long pfn = page_to_pfn(head);

	return pfn + FB_BLOCK_PAGES > start && pfn < end;
}

/* Does the balloon hold a block with frames in [@start, @end)? */
bool fb_holds_blocks_in(struct fb_balloon *fb, unsigned long start,
			unsigned long end)
{
	struct page *head;

	lockdep_assert_held(&fb->lock);
	list_for_each_entry(head, &fb->blocks, lru)
		if (fb_block_in(head, start, end))
			return true;
	return false;
}

/* How many blocks one release may take: deferred messages need room. */
static unsigned long fb_release_room(struct fb_balloon *fb, unsigned long nr,
				     struct fb_tx *tx)
{
	if (tx && !fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST))
		nr = min_t(unsigned long, nr, FB_DEFER_MAX - fb->nr_deferred);
	return nr;
}

unsigned long fb_release_blocks(struct fb_balloon *fb, unsigned long nr,
				struct fb_tx *tx)
{
	struct page *head;
	unsigned long got = 0;
	LIST_HEAD(list);

	lockdep_assert_held(&fb->lock);
	nr = fb_release_room(fb, nr, tx);
	while (got < nr && !list_empty(&fb->blocks)) {
		head = list_first_entry(&fb->blocks, struct page, lru);
		list_move(&head->lru, &list);
		got++;
	}
	return fb_release_list(fb, &list, got, tx);
}

/*
 * Like fb_release_blocks(), but only blocks whose frames lie in
 * [@start, @end): a memory block is going offline.
 */
unsigned long fb_release_blocks_in(struct fb_balloon *fb, unsigned long start,
				   unsigned long end, struct fb_tx *tx)
{
	struct page *head, *next;
	unsigned long got = 0, nr;
	LIST_HEAD(list);

	lockdep_assert_held(&fb->lock);
	nr = fb_release_room(fb, ULONG_MAX, tx);
	list_for_each_entry_safe(head, next, &fb->blocks, lru) {
		if (got == nr)
			break;
		if (!fb_block_in(head, start, end))
			continue;
		list_move(&head->lru, &list);
		got++;
	}
	return fb_release_list(fb, &list, got, tx);
}

/* Announce the blocks given back since the last flush. */
void fb_flush_deferred(struct fb_balloon *fb, struct fb_tx *tx)
{
	unsigned int i;

	lockdep_assert_held(&fb->lock);
	for (i = 0; i < fb->nr_deferred; i++)
		fb_tx_block(tx, fb->deferred[i], false);
	fb->nr_deferred = 0;
}

/*
 * Surrender blocks just taken: as ranges through the reporting queue, or as
 * PFNs through the inflate queue. @list holds heads linked through lru;
 * they are moved onto @fb->blocks.
 */
void fb_surrender_blocks(struct fb_balloon *fb, struct list_head *list,
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
 * Healing: while the balloon holds 4 KiB pages, trade them for whole blocks,
 * FB_BLOCK_PAGES at a time: take a block (free or evacuated), surrender it,
 * then give back 512 single pages. The balloon's size never changes, not
 * even for a lockless reader: the block and the pages are accounted in one
 * step, after the host has heard about both.
 */
#define FB_HEAL_TRADES_PER_PASS	32

static bool fb_heal_one(struct fb_balloon *fb, unsigned long deadline)
{
	bool must_tell = fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST);
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
	got = balloon_page_list_dequeue(&fb->bdev, &pages, FB_BLOCK_PAGES);
	if (got < FB_BLOCK_PAGES) {
		balloon_page_list_enqueue(&fb->bdev, &pages);
		if (contig)
			free_contig_range(page_to_pfn(head), FB_BLOCK_PAGES);
		else
			__free_pages(head, FB_BLOCK_ORDER);
		return false;
	}

	fb_block_claim(fb, head, contig, &list);
	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	fb_surrender_blocks(fb, &list, &tx);
	fb_tx_end(&tx);

	fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
	list_for_each_entry(page, &pages, lru)
		fb_tx_pfn(&tx, page_to_pfn(page));
	if (fb_tx_end(&tx) && must_tell) {
		/* The host did not hear: the pages stay, beside the block. */
		balloon_page_list_enqueue(&fb->bdev, &pages);
		fb_block_account(fb, head);
		fb_acct(fb, 1, 0);
		return false;
	}
	fb_block_account(fb, head);
	fb_release_pages(fb, &pages);
	fb_acct(fb, 1, -(long)FB_BLOCK_PAGES);
	fb_count(fb, FB_CNT_HEAL_TRADES, 1);
	return true;
}

void fb_heal_func(struct work_struct *work)
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
	if (!mutex_trylock(&fb->lock)) {
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
	mutex_unlock(&fb->lock);

	fb_queue_heal(fb);
}

/* Come back later if there is anything left to heal. */
void fb_queue_heal(struct fb_balloon *fb)
{
	unsigned long flags;

	if (READ_ONCE(fb->cfg.defrag) != FB_DEFRAG_HEAL)
		return;
	if (READ_ONCE(fb->nr_small) < FB_BLOCK_PAGES)
		return;
	spin_lock_irqsave(&fb->stop_lock, flags);
	if (!fb->stop)
		queue_delayed_work(system_freezable_wq, &fb->heal_work,
				   msecs_to_jiffies(READ_ONCE(fb->cfg.heal_ms)));
	spin_unlock_irqrestore(&fb->stop_lock, flags);
}
