// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon free page hinting (FREE_PAGE_HINT).
 *
 * During live migration the host asks, by writing a new command id to the
 * config space, which guest pages are free so that it can skip sending
 * them. We answer with the command id, then with as many free blocks of the
 * largest order as we can take from the allocator without pressure, then
 * with STOP. The blocks stay allocated (so their contents don't matter to
 * the guest) until the host says DONE, or memory pressure asks for them
 * back through the shrinker, or the device goes away.
 */
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>

#include "fastballoon.h"

#define FB_HINT_ORDER	FB_MAX_ORDER
#define FB_HINT_PAGES	BIT(FB_HINT_ORDER)
#define FB_HINT_GFP	(__GFP_NORETRY | __GFP_NOWARN | __GFP_NOMEMALLOC)
#define FB_HINT_READ	0

/* The host's current command id, re-read from config only after a change. */
static u32 fb_hint_cmd(struct fb_balloon *fb)
{
	if (test_and_clear_bit(FB_HINT_READ, &fb->hint_read_cmd))
		virtio_cread_le(fb->vdev, struct virtio_balloon_config,
				free_page_hint_cmd_id, &fb->hint_cmd);
	return fb->hint_cmd;
}

static void fb_hint_collect(struct fb_balloon *fb)
{
	unsigned int len;

	while (virtqueue_get_buf(fb->vqs[FB_VQ_HINT], &len))
		;
}

/* Send a 4-byte command id (START with the host's id, or STOP). */
static int fb_hint_send_id(struct fb_balloon *fb, __virtio32 *id)
{
	fb_hint_collect(fb);
	return fb_post(fb, FB_VQ_HINT, id, sizeof(*id), false, GFP_KERNEL);
}

/* Give back up to @nr hinted blocks to the page allocator. */
static unsigned long fb_hint_return(struct fb_balloon *fb, unsigned long nr)
{
	unsigned long done = 0, flags;
	struct page *page;

	spin_lock_irqsave(&fb->hint_lock, flags);
	while (done < nr) {
		page = list_first_entry_or_null(&fb->hint_pages, struct page,
						lru);
		if (!page)
			break;
		list_del(&page->lru);
		__free_pages(page, FB_HINT_ORDER);
		done++;
	}
	fb->hint_nr_blocks -= done;
	spin_unlock_irqrestore(&fb->hint_lock, flags);
	return done;
}

void fb_hint_return_all(struct fb_balloon *fb)
{
	if (fb_has(fb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		fb_hint_return(fb, ULONG_MAX);
}

/*
 * Hand one free block to the host. Returns false when there is nothing more
 * to hint: the allocator has no block of that order left without effort.
 * One ring slot always stays free for the STOP id.
 */
static bool fb_hint_one(struct fb_balloon *fb, u32 active)
{
	struct virtqueue *vq = fb->vqs[FB_VQ_HINT];
	struct page *page;
	unsigned long flags;
	int tries = 0;

	fb_hint_collect(fb);
	while (vq->num_free <= 1) {
		/* The host is still reading; give it a moment. */
		if (++tries > 1000 || fb_hint_cmd(fb) != active)
			return false;
		usleep_range(500, 1000);
		fb_hint_collect(fb);
	}

	page = alloc_pages(FB_HINT_GFP, FB_HINT_ORDER);
	if (!page)
		return false;
	if (fb_post(fb, FB_VQ_HINT, page_address(page),
		    FB_HINT_PAGES << PAGE_SHIFT, true, GFP_KERNEL)) {
		__free_pages(page, FB_HINT_ORDER);
		return false;
	}

	spin_lock_irqsave(&fb->hint_lock, flags);
	list_add(&page->lru, &fb->hint_pages);
	fb->hint_nr_blocks++;
	spin_unlock_irqrestore(&fb->hint_lock, flags);
	fb_count(fb, FB_CNT_HINTED, FB_HINT_PAGES);
	return true;
}

static void fb_hint_run(struct fb_balloon *fb, u32 cmd)
{
	struct device *dev = &fb->vdev->dev;

	fb->hint_active = cpu_to_virtio32(fb->vdev, cmd);
	if (fb_hint_send_id(fb, &fb->hint_active)) {
		dev_err_ratelimited(dev, "could not start free page hinting\n");
		return;
	}
	/* Stop as soon as the host moves on to another id or to STOP. */
	while (fb_hint_cmd(fb) == cmd && fb_hint_one(fb, cmd))
		cond_resched();
	if (fb_hint_send_id(fb, &fb->hint_stop))
		dev_err_ratelimited(dev, "could not end free page hinting\n");
}

static void fb_hint_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(work, struct fb_balloon,
					     hint_work);
	u32 cmd = fb_hint_cmd(fb);

	if (cmd == VIRTIO_BALLOON_CMD_ID_DONE)
		fb_hint_return(fb, ULONG_MAX);
	else if (cmd != VIRTIO_BALLOON_CMD_ID_STOP &&
		 cmd != virtio32_to_cpu(fb->vdev, fb->hint_active))
		fb_hint_run(fb, cmd);
}

/* Config callback (atomic): a new command id may be waiting. */
void fb_hint_config_changed(struct fb_balloon *fb)
{
	if (!fb_has(fb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		return;
	set_bit(FB_HINT_READ, &fb->hint_read_cmd);
	fb_queue_work(fb, fb->hint_wq, &fb->hint_work);
}

static unsigned long fb_hint_count(struct shrinker *s,
				   struct shrink_control *sc)
{
	struct fb_balloon *fb = fb_shrinker_priv(s);

	return READ_ONCE(fb->hint_nr_blocks) * FB_HINT_PAGES;
}

static unsigned long fb_hint_scan(struct shrinker *s,
				  struct shrink_control *sc)
{
	struct fb_balloon *fb = fb_shrinker_priv(s);
	unsigned long blocks = DIV_ROUND_UP(sc->nr_to_scan, FB_HINT_PAGES);

	return fb_hint_return(fb, blocks) * FB_HINT_PAGES;
}

int fb_hint_init(struct fb_balloon *fb)
{
	if (!fb_has(fb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		return 0;
	/* One slot for a block and one kept for the STOP id. */
	if (virtqueue_get_vring_size(fb->vqs[FB_VQ_HINT]) < 2)
		return -ENOSPC;

	spin_lock_init(&fb->hint_lock);
	INIT_LIST_HEAD(&fb->hint_pages);
	INIT_WORK(&fb->hint_work, fb_hint_func);
	fb->hint_cmd = VIRTIO_BALLOON_CMD_ID_STOP;
	fb->hint_active = cpu_to_virtio32(fb->vdev, VIRTIO_BALLOON_CMD_ID_STOP);
	fb->hint_stop = cpu_to_virtio32(fb->vdev, VIRTIO_BALLOON_CMD_ID_STOP);

	fb->hint_wq = alloc_workqueue("fastballoon-hint", WQ_FREEZABLE |
				      WQ_CPU_INTENSIVE | WQ_PERCPU, 0);
	if (!fb->hint_wq)
		return -ENOMEM;
	fb->hint_shrinker = fb_shrinker_create(fb_hint_count, fb_hint_scan, fb,
					       "fastballoon-hint");
	if (!fb->hint_shrinker) {
		destroy_workqueue(fb->hint_wq);
		fb->hint_wq = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Called once callbacks can no longer queue hint work. */
void fb_hint_exit(struct fb_balloon *fb)
{
	if (!fb->hint_wq)
		return;
	fb_shrinker_destroy(fb->hint_shrinker);
	fb->hint_shrinker = NULL;
	cancel_work_sync(&fb->hint_work);
	destroy_workqueue(fb->hint_wq);
	fb->hint_wq = NULL;
}
