// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon and memory hot(un)plug: a memory block going offline.
 *
 * Our 4 KiB pages are migratable (balloon compaction), so offlining moves
 * them like any other movable page. Our 2 MiB blocks are not: the core
 * would fail to offline a memory block holding one. So when a block of
 * memory is about to go offline (its pageblocks are already isolated, so
 * nothing we free there is handed out again), we give back the balloon
 * blocks inside it, telling the host as for any deflate, and let the size
 * work take the same amount elsewhere. The balloon ends up the same size,
 * as with virtio_balloon, whose pages are migrated instead. An entry point:
 * the notifier calls the deflate pass (the core waits for its answer) and
 * queues the size work.
 */
#include <linux/memory.h>
#include <linux/notifier.h>

#include "fastballoon.h"

static int fb_memory_notify(struct notifier_block *nb, unsigned long action,
			    void *arg)
{
	struct fb_balloon *fb = container_of(nb, struct fb_balloon, mem_nb);
	struct memory_notify *mn = arg;
	unsigned long got;
	int err;

	if (action != MEM_GOING_OFFLINE)
		return NOTIFY_OK;
	/*
	 * The caller holds the memory hotplug locks: wait for the balloon
	 * lock only so long (fb_lock()); the offlining then fails with
	 * -EBUSY and can be retried.
	 */
	err = fb_give_back_in(fb, mn->start_pfn, mn->start_pfn + mn->nr_pages,
			      FB_WAIT_OFFLINE, &got);
	if (got) {
		dev_info(&fb->vdev->dev,
			 "memory going offline at pfn %#lx: %lu ballooned pages given back, refilling elsewhere\n",
			 mn->start_pfn, got);
		fb_queue_size_work(fb);
	}
	/*
	 * Blocks we still hold there would make the core retry forever:
	 * refuse instead, and the offlining fails with EBUSY.
	 */
	if (err)
		dev_warn(&fb->vdev->dev,
			 "memory at pfn %#lx cannot go offline now: balloon blocks there are busy\n",
			 mn->start_pfn);
	return notifier_from_errno(err);
}

int fb_hotplug_init(struct fb_balloon *fb)
{
	int err;

	fb->mem_nb.notifier_call = fb_memory_notify;
	err = register_memory_notifier(&fb->mem_nb);
	if (err)
		return err;
	fb->mem_registered = true;
	return 0;
}

void fb_hotplug_exit(struct fb_balloon *fb)
{
	if (fb->mem_registered)
		unregister_memory_notifier(&fb->mem_nb);
	fb->mem_registered = false;
}
