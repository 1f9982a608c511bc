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
 * Tell the host that @newpage is ballooned in place of @page. Called with
 * both pages locked and @page isolated from our list; the balloon core
 * then swaps them on its list and accounts the move (compat.h's
 * fb_balloon_migrated() does that part on kernels before 7.0).
 */
static int fb_migratepage(struct balloon_dev_info *bdev, struct page *newpage,
			  struct page *page, enum migrate_mode mode)
{
	struct fb_balloon *fb = container_of(bdev, struct fb_balloon, bdev);
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

	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	fb_tx_pfn(&tx, page_to_pfn(newpage));
	fb_tx_end(&tx);
	fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
	fb_tx_pfn(&tx, page_to_pfn(page));
	fb_tx_end(&tx);
	fb_unlock(fb);

	fb_count(fb, FB_CNT_MIGRATED, 1);
	return fb_balloon_migrated(bdev, newpage, page, 0,
				   fb_adjusts_managed(fb));
}

void fb_migrate_init(struct fb_balloon *fb)
{
	fb->bdev.migratepage = fb_migratepage;
}
#else
void fb_migrate_init(struct fb_balloon *fb) { }
#endif
