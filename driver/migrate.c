// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon and balloon compaction: the kernel moves our 4 KiB pages.
 *
 * Compaction and offlining may want a page the balloon holds. The balloon
 * core isolates it from our list and calls fb_migratepage(), which puts a
 * new page in its place and tells the host which frame is now ballooned
 * and which is not. Blocks are never migrated (pages.c). An entry point:
 * it uses the primitives (pages.c) and the host path (vq.c).
 */
#include <linux/mm.h>
#include <linux/vmstat.h>

#include "fastballoon.h"

#if FB_BALLOON_MIGRATION
/*
 * Swap @newpage into the balloon in place of @page. Called with both pages
 * locked and @page isolated from our list.
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
	if (!fb_lock(fb, FB_TRY))
		return -EAGAIN;
	if (fb->dead) {
		fb_unlock(fb);
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
	fb_unlock(fb);

	fb_count(fb, FB_CNT_MIGRATED, 1);
	balloon_page_finalize(page);
	put_page(page);			/* the balloon's reference */
	return MIGRATEPAGE_SUCCESS;
}

void fb_migrate_init(struct fb_balloon *fb)
{
	fb->bdev.migratepage = fb_migratepage;
}
#else
void fb_migrate_init(struct fb_balloon *fb) { }
#endif
