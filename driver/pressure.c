// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon under memory pressure (DEFLATE_ON_OOM).
 *
 * When the host allows it, the guest takes ballooned memory back before the
 * OOM killer picks a victim: the OOM notifier chain runs before any kill,
 * and whatever we release there counts as progress, so the allocation is
 * retried instead. After a release we stop re-inflating until the host
 * sets a new target, or the balloon and the allocator would fight.
 */
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/oom.h>

#include "fastballoon.h"

/* 16 MiB per OOM call: enough that a large allocation needs few rounds. */
#define FB_OOM_PAGES		4096
#define FB_OOM_PRIORITY		80

static int fb_oom_notify(struct notifier_block *nb, unsigned long unused,
			 void *parm)
{
	struct fb_balloon *fb = container_of(nb, struct fb_balloon, oom_nb);
	unsigned long *freed = parm;
	unsigned long got;

	WRITE_ONCE(fb->pressure_hold, true);
	got = fb_deflate(fb, FB_OOM_PAGES);
	if (got) {
		fb_update_actual(fb);
		fb_count(fb, FB_CNT_OOM_RELEASED, got);
		*freed += got;
	}
	return NOTIFY_OK;
}

int fb_pressure_init(struct fb_balloon *fb)
{
	int err;

	if (!fb_has(fb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM))
		return 0;
	fb->oom_nb.notifier_call = fb_oom_notify;
	fb->oom_nb.priority = FB_OOM_PRIORITY;
	err = register_oom_notifier(&fb->oom_nb);
	if (err)
		return err;
	fb->oom_registered = true;
	return 0;
}

void fb_pressure_exit(struct fb_balloon *fb)
{
	if (fb->oom_registered)
		unregister_oom_notifier(&fb->oom_nb);
	fb->oom_registered = false;
}
