// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon free page reporting (REPORTING).
 *
 * The kernel's page_reporting core collects free blocks of at least
 * pageblock order and hands them to us as a scatterlist; we pass the list
 * to the device in one request and wait until the host has discarded the
 * ranges. The pages stay free in the guest the whole time: the core keeps
 * them off the free lists until we return. An entry point: the core calls
 * it; it reaches the host only through vq.c.
 */
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>

#include "fastballoon.h"

static int fb_report(struct page_reporting_dev_info *pr,
		     struct scatterlist *sgl, unsigned int nents)
{
	struct fb_balloon *fb = container_of(pr, struct fb_balloon, pr);
	struct scatterlist *sg;
	unsigned long bytes = 0;
	unsigned int i;
	int err;

	for_each_sg(sgl, sg, nents, i)
		bytes += sg->length;
	err = fb_report_sg(fb, sgl, nents);
	if (err)
		return err;
	fb_count(fb, FB_CNT_REPORTED, bytes >> PAGE_SHIFT);
	return 0;
}

int fb_report_init(struct fb_balloon *fb)
{
	int err;

	if (!fb_has(fb, VIRTIO_BALLOON_F_REPORTING))
		return 0;
	/* The core sends up to PAGE_REPORTING_CAPACITY ranges at a time. */
	if (virtqueue_get_vring_size(fb->vqs[FB_VQ_REPORT]) <
	    PAGE_REPORTING_CAPACITY)
		return -ENOSPC;

	fb->pr.report = fb_report;
	err = page_reporting_register(&fb->pr);
	if (err)
		return err;
	fb->pr_registered = true;
	return 0;
}

void fb_report_exit(struct fb_balloon *fb)
{
	if (fb->pr_registered)
		page_reporting_unregister(&fb->pr);
	fb->pr_registered = false;
}
