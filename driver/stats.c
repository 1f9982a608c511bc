// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon memory statistics (STATS_VQ).
 *
 * The stats queue runs backwards: we give the device one buffer at probe;
 * whenever the host wants fresh numbers it hands that buffer back, and the
 * callback queues work that refills it and returns it. The host never waits
 * on us for anything else.
 */
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/vmstat.h>

#include "fastballoon.h"

static unsigned int fb_put_stat(struct fb_balloon *fb, unsigned int i,
				u16 tag, u64 val)
{
	if (WARN_ON_ONCE(i >= FB_NR_STATS))
		return i;
	fb->stats[i].tag = cpu_to_virtio16(fb->vdev, tag);
	fb->stats[i].val = cpu_to_virtio64(fb->vdev, val);
	return i + 1;
}

static u64 fb_bytes(unsigned long pages)
{
	return (u64)pages << PAGE_SHIFT;
}

#ifdef CONFIG_VM_EVENT_COUNTERS
/* The per-zone ALLOCSTALL events, summed over the zones this kernel has. */
static unsigned long fb_alloc_stalls(const unsigned long *ev)
{
	unsigned long sum = 0;
	int z;

	for (z = 0; z < MAX_NR_ZONES; z++)
		sum += ev[ALLOCSTALL_NORMAL - ZONE_NORMAL + z];
	return sum;
}

static unsigned int fb_event_stats(struct fb_balloon *fb, unsigned int i)
{
	unsigned long *ev = fb->events;

	all_vm_events(ev);
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_SWAP_IN, fb_bytes(ev[PSWPIN]));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_SWAP_OUT, fb_bytes(ev[PSWPOUT]));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_MAJFLT, ev[PGMAJFAULT]);
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_MINFLT, ev[PGFAULT]);
#ifdef CONFIG_HUGETLB_PAGE
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_HTLB_PGALLOC,
			ev[HTLB_BUDDY_PGALLOC]);
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_HTLB_PGFAIL,
			ev[HTLB_BUDDY_PGALLOC_FAIL]);
#endif
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_OOM_KILL, ev[OOM_KILL]);
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_ALLOC_STALL, fb_alloc_stalls(ev));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_ASYNC_SCAN,
			fb_bytes(ev[PGSCAN_KSWAPD]));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_DIRECT_SCAN,
			fb_bytes(ev[PGSCAN_DIRECT]));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_ASYNC_RECLAIM,
			fb_bytes(ev[PGSTEAL_KSWAPD]));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_DIRECT_RECLAIM,
			fb_bytes(ev[PGSTEAL_DIRECT]));
	return i;
}
#else
static unsigned int fb_event_stats(struct fb_balloon *fb, unsigned int i)
{
	return i;
}
#endif

/* Fill fb->stats with current figures; returns how many entries. */
static unsigned int fb_stats_fill(struct fb_balloon *fb)
{
	struct sysinfo si;
	unsigned int i;

	si_meminfo(&si);
	i = fb_event_stats(fb, 0);
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_MEMFREE, fb_bytes(si.freeram));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_MEMTOT, fb_bytes(si.totalram));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_AVAIL,
			fb_bytes(max_t(long, si_mem_available(), 0)));
	i = fb_put_stat(fb, i, VIRTIO_BALLOON_S_CACHES,
			fb_bytes(global_node_page_state(NR_FILE_PAGES)));
	return i;
}

static int fb_stats_send(struct fb_balloon *fb)
{
	unsigned int n = fb_stats_fill(fb);

	return fb_post(fb, FB_VQ_STATS, fb->stats, n * sizeof(fb->stats[0]),
		       false, GFP_KERNEL);
}

/* Probe and restore: give the device the buffer it will hand back. */
int fb_stats_prime(struct fb_balloon *fb)
{
	if (!fb->vqs[FB_VQ_STATS])
		return 0;
	return fb_stats_send(fb);
}

static void fb_stats_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(work, struct fb_balloon,
					     stats_work);
	struct virtqueue *vq = fb->vqs[FB_VQ_STATS];
	unsigned int len;

	/* Only answer once the host has given our buffer back. */
	if (!vq || !virtqueue_get_buf(vq, &len))
		return;
	if (fb_stats_send(fb))
		dev_warn_ratelimited(&fb->vdev->dev,
				     "could not return the stats buffer\n");
}

int fb_stats_init(struct fb_balloon *fb)
{
	INIT_WORK(&fb->stats_work, fb_stats_func);
	fb->events = kcalloc(NR_VM_EVENT_ITEMS, sizeof(*fb->events),
			     GFP_KERNEL);
	return fb->events ? 0 : -ENOMEM;
}

void fb_stats_exit(struct fb_balloon *fb)
{
	kfree(fb->events);
	fb->events = NULL;
}
