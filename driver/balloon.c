// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon inflate, deflate and balloon page migration, and the work
 * that moves the balloon towards the host's target.
 */
#include <linux/delay.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/vmstat.h>

#include "fastballoon.h"

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
 * Allocate up to @nr pages, tell the host about them and add them to the
 * balloon. Returns how many were added; fewer than @nr means the guest had
 * no more to give.
 */
static unsigned long fb_inflate(struct fb_balloon *fb, unsigned long nr)
{
	bool adjust = fb_adjusts_managed(fb);
	unsigned long done = 0;
	struct page *page;
	struct fb_tx tx;
	LIST_HEAD(pages);

	mutex_lock(&fb->lock);
	fb_tx_begin(&tx, fb, FB_VQ_INFLATE);
	while (done < nr && !tx.err) {
		unsigned long want = min_t(unsigned long, nr - done,
					   FB_PFNS_PER_BUF);
		unsigned long got = 0;

		while (got < want) {
			page = balloon_page_alloc();
			if (!page)
				break;
			list_add(&page->lru, &pages);
			got++;
		}
		list_for_each_entry(page, &pages, lru) {
			fb_tx_pfn(&tx, page_to_pfn(page));
			if (adjust)
				adjust_managed_page_count(page, -1);
		}
		balloon_page_list_enqueue(&fb->bdev, &pages);
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
	fb->nr_pages += done;
	mutex_unlock(&fb->lock);

	fb_count(fb, FB_CNT_INFLATED, done);
	return done;
}

static void fb_release_pages(struct fb_balloon *fb, struct list_head *pages)
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
 * Take up to @nr pages out of the balloon and give them back to the guest.
 * If @tell, the host hears about them first and, when it insisted on that
 * (MUST_TELL_HOST) but could not be told, the pages stay in the balloon.
 */
static unsigned long __fb_deflate(struct fb_balloon *fb, unsigned long nr,
				  bool tell)
{
	struct page *page;
	unsigned long got;
	struct fb_tx tx;
	LIST_HEAD(pages);
	int err = 0;

	mutex_lock(&fb->lock);
	nr = min(nr, fb->nr_pages);
	got = balloon_page_list_dequeue(&fb->bdev, &pages, nr);
	if (got && tell) {
		fb_tx_begin(&tx, fb, FB_VQ_DEFLATE);
		list_for_each_entry(page, &pages, lru)
			fb_tx_pfn(&tx, page_to_pfn(page));
		err = fb_tx_end(&tx);
	}
	if (err && fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST)) {
		balloon_page_list_enqueue(&fb->bdev, &pages);
		got = 0;
	} else {
		fb_release_pages(fb, &pages);
		fb->nr_pages -= got;
	}
	mutex_unlock(&fb->lock);

	fb_count(fb, FB_CNT_DEFLATED, got);
	return got;
}

unsigned long fb_deflate(struct fb_balloon *fb, unsigned long nr)
{
	return __fb_deflate(fb, nr, true);
}

/*
 * Empty the balloon on remove or freeze. Pages being migrated are off the
 * list for a moment, so an empty pass waits a little and tries again. Once
 * the host is dead, or after the device was reset (@tell false), pages go
 * back without a word to it.
 */
static void fb_deflate_all_tell(struct fb_balloon *fb, bool tell)
{
	while (READ_ONCE(fb->nr_pages)) {
		if (!__fb_deflate(fb, FB_CHUNK_PAGES, tell && !fb->dead))
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

void fb_size_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(to_delayed_work(work),
					     struct fb_balloon, size_work);
	unsigned long target = fb_target_pages(fb);
	unsigned long held = READ_ONCE(fb->nr_pages);
	unsigned long want, got;

	if (target == held)
		return;
	if (fb->dead) {
		dev_warn_ratelimited(&fb->vdev->dev,
				     "host stopped answering; balloon left at %lu pages\n",
				     held);
		return;
	}

	if (target > held && READ_ONCE(fb->pressure_hold))
		return;
	if (target > held) {
		want = min(target - held, FB_CHUNK_PAGES);
		got = fb_inflate(fb, want);
	} else {
		want = min(held - target, FB_CHUNK_PAGES);
		got = fb_deflate(fb, want);
	}
	fb_update_actual(fb);

	/* More to do: go on at once, or after a pause if we got stuck. */
	if (got == want)
		fb_queue_size_work_delayed(fb, 0);
	else
		fb_queue_size_work_delayed(fb, FB_RETRY_DELAY);
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
	INIT_DELAYED_WORK(&fb->size_work, fb_size_func);
}
