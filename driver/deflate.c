// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon deflate passes: give memory back to the guest.
 *
 * Owns one pass of deflation (fb_give_back(): single pages first for a
 * host's target, blocks first under pressure), the give-back of the blocks
 * in a range of memory going offline (fb_give_back_in()), emptying the
 * balloon on remove, and the deflate messages deferred behind `actual`.
 * Layer 2: it calls the primitives (pages.c) and the host path (vq.c),
 * never the size work or a policy.
 */
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/sched.h>

#include "fastballoon.h"
#include "fb_trace.h"

/*
 * Single pages go back this many at a time, with the CPU offered to others
 * between: a deflate of 1 GiB of 4 KiB pages otherwise kept one CPU from
 * everything else for most of the pass (under TCG on 6.1, a program
 * pinned to each CPU waited up to 873 ms; 23 ms in chunks).
 */
#define FB_SMALL_CHUNK	1024

/*
 * Give up to @nr single pages back to the guest, FB_SMALL_CHUNK at a time.
 * With @tx, the host hears about them; when it insisted on hearing first
 * (MUST_TELL_HOST) and could not be told, the chunk it was not told of
 * stays in the balloon and the call ends. Caller holds @fb->lock (a mutex:
 * the pass may sleep).
 */
static unsigned long fb_release_small(struct fb_balloon *fb, unsigned long nr,
				      struct fb_tx *tx)
{
	unsigned long got, done = 0;
	struct page *page;
	LIST_HEAD(pages);

	while (done < nr) {
		got = fb_small_dequeue(fb, min_t(unsigned long, nr - done,
						 FB_SMALL_CHUNK), &pages);
		if (!got)
			break;
		if (tx) {
			list_for_each_entry(page, &pages, lru)
				fb_tx_pfn(tx, page_to_pfn(page));
			if (fb_must_tell(fb) && fb_tx_end(tx)) {
				fb_small_putback(fb, &pages);
				break;
			}
		}
		fb_small_free(fb, &pages);
		fb_acct(fb, 0, -(long)got);
		done += got;
		cond_resched();
	}
	return done;
}

/*
 * Give the @got blocks on @list (taken off @fb->blocks) back to the guest.
 * Blocks surrendered as PFNs are announced on the deflate queue when @tx is
 * given; ranges need no word: the host already discarded them and faults
 * fresh pages in on first touch. With MUST_TELL_HOST the host hears first
 * and, if it can't, the blocks stay; otherwise the memory goes back at once
 * and the announcement waits in @fb->deferred for fb_flush_deferred().
 * Returns blocks released.
 */
static unsigned long fb_release_list(struct fb_balloon *fb,
				     struct list_head *list, unsigned long got,
				     struct fb_tx *tx)
{
	bool must_tell = fb_must_tell(fb);
	struct page *head, *next;

	if (!got)
		return 0;
	list_for_each_entry(head, list, lru) {
		if (!tx || fb_block_ranged(head))
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
		cond_resched();
	}
	fb_acct(fb, -(long)got, 0);
	fb->released_blocks += got;
	return got;
}

/*
 * Give back up to @nr held blocks with frames in [@start, @end) (all of
 * memory for a plain deflate). Deferred messages need room, so one call
 * takes at most what @fb->deferred still holds. Caller holds @fb->lock.
 */
static unsigned long fb_release_blocks(struct fb_balloon *fb, unsigned long nr,
				       unsigned long start, unsigned long end,
				       struct fb_tx *tx)
{
	struct page *head, *next;
	unsigned long got = 0;
	LIST_HEAD(list);

	lockdep_assert_held(&fb->lock);
	if (tx && !fb_must_tell(fb))
		nr = min_t(unsigned long, nr, FB_DEFER_MAX - fb->nr_deferred);
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
static void fb_flush_deferred(struct fb_balloon *fb, struct fb_tx *tx)
{
	unsigned int i;

	lockdep_assert_held(&fb->lock);
	for (i = 0; i < fb->nr_deferred; i++)
		fb_tx_block(tx, fb->deferred[i], false);
	fb->nr_deferred = 0;
}

/*
 * Give @nr pages back to the guest. A normal deflate returns single pages
 * first (they are the holes in the host's huge pages) and then blocks,
 * splitting one if it must stop at an exact count. Under memory pressure
 * (@blocks_first) whole blocks go first: they are the fastest memory to
 * return, and the guest gets contiguous memory. Caller holds @fb->lock.
 */
static unsigned long fb_release(struct fb_balloon *fb, unsigned long nr,
				bool blocks_first, struct fb_tx *tx)
{
	unsigned long done = 0, rem;

	lockdep_assert_held(&fb->lock);
	nr = min(nr, fb->nr_pages);
	if (blocks_first) {
		done = fb_release_blocks(fb, DIV_ROUND_UP(nr, FB_BLOCK_PAGES),
					 0, ULONG_MAX, tx) * FB_BLOCK_PAGES;
		if (done < nr)
			done += fb_release_small(fb, nr - done, tx);
		return done;
	}

	done = fb_release_small(fb, nr, tx);
	while (done < nr) {
		rem = nr - done;
		if (rem >= FB_BLOCK_PAGES) {
			rem = fb_release_blocks(fb, rem / FB_BLOCK_PAGES, 0,
						ULONG_MAX, tx);
			if (!rem)
				break;
			done += rem * FB_BLOCK_PAGES;
			continue;
		}
		if (!fb_block_split(fb))
			break;
		rem = fb_release_small(fb, rem, tx);
		if (!rem)
			break;
		done += rem;
	}
	return done;
}

/*
 * Start a deflate burst: lazy (the deferred messages go out in one burst
 * after `actual`), or none at all (NULL) once the host stopped answering.
 */
static struct fb_tx *fb_deflate_begin(struct fb_balloon *fb, struct fb_tx *tx)
{
	if (fb->dead)
		return NULL;
	fb_tx_begin(tx, fb, FB_VQ_DEFLATE);
	tx->lazy = true;
	return tx;
}

/*
 * End a deflate pass: tell the host the new size first (without
 * MUST_TELL_HOST the guest may use the pages before the host has read
 * about them, so `actual` need not wait for it), then send the deferred
 * messages, then release the lock.
 */
static void fb_deflate_end(struct fb_balloon *fb, struct fb_tx *tx)
{
	fb_update_actual(fb);
	if (tx) {
		fb_flush_deferred(fb, tx);
		fb_tx_end(tx);
	}
	fb_unlock(fb);
}

/*
 * One deflate pass: give up to @nr pages back. @wait says how to take the
 * lock (fb_lock()). Returns pages given back.
 */
unsigned long fb_give_back(struct fb_balloon *fb, unsigned long nr,
			   bool blocks_first, enum fb_wait wait)
{
	struct fb_tx tx, *txp;
	unsigned long got, blocks;
	u64 t0 = ktime_get_ns();

	if (!fb_lock(fb, wait))
		return 0;
	txp = fb_deflate_begin(fb, &tx);
	fb->released_blocks = 0;
	got = fb_release(fb, nr, blocks_first, txp);
	blocks = fb->released_blocks;
	fb_deflate_end(fb, txp);

	fb_count(fb, FB_CNT_DEFLATED, got);
	trace_fb_deflate(fb->vdev->index, nr, blocks,
			 got - blocks * FB_BLOCK_PAGES,
			 div_u64(ktime_get_ns() - t0, NSEC_PER_USEC));
	return got;
}

/* Does the balloon hold a block with frames in [@start, @end)? */
static bool fb_holds_blocks_in(struct fb_balloon *fb, unsigned long start,
			       unsigned long end)
{
	struct page *head;

	lockdep_assert_held(&fb->lock);
	list_for_each_entry(head, &fb->blocks, lru)
		if (fb_block_in(head, start, end))
			return true;
	return false;
}

/*
 * Give back every block held in [@start, @end), telling the host as in any
 * deflate. Sets *@got to the pages given back; returns -EBUSY if the lock
 * could not be had as @wait says, or a block in the range is still held
 * (MUST_TELL_HOST and the host could not be told), 0 otherwise.
 */
int fb_give_back_in(struct fb_balloon *fb, unsigned long start,
		    unsigned long end, enum fb_wait wait, unsigned long *got)
{
	struct fb_tx tx, *txp;
	unsigned long n;
	int ret;

	*got = 0;
	if (!fb_lock(fb, wait))
		return -EBUSY;
	txp = fb_deflate_begin(fb, &tx);
	do {
		n = fb_release_blocks(fb, ULONG_MAX, start, end, txp);
		*got += n * FB_BLOCK_PAGES;
		fb_update_actual(fb);
		if (txp)
			fb_flush_deferred(fb, txp);
	} while (n);
	ret = fb_holds_blocks_in(fb, start, end) ? -EBUSY : 0;
	if (txp)
		fb_tx_end(txp);
	fb_unlock(fb);

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
			fb_lock(fb, FB_WAIT);
			got = fb_release(fb, FB_DEFER_MAX * FB_BLOCK_PAGES,
					 true, NULL);
			fb_unlock(fb);
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
