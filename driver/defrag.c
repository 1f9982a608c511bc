// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon defragmentation: when no free 2 MiB block is left, make one.
 *
 * We look at every pageblock of the populated zones and estimate what it
 * would cost to empty it: the pages in use that would have to move. Blocks
 * holding anything that cannot move (kernel allocations, reserved or
 * offline pages, our own balloon pages) are skipped. Then, cheapest first,
 * alloc_contig_range() migrates the used pages elsewhere and hands us the
 * whole block, as virtio-mem does when it unplugs a subblock. All of it runs
 * within the caller's time bound; when that expires we fall back to 4 KiB.
 * Layer 1, a primitive: it makes a block and hands it to the caller (the
 * inflate pass, healing), calling only the kernel.
 */
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/nodemask.h>
#include <linux/page-flags.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include "fastballoon.h"
#include "fb_trace.h"

/* A scan is trusted this long; the guest's memory moves under us. */
#define FB_DEFRAG_SCAN_TTL	HZ
/* Pageblocks with more pages in use than this are not worth emptying. */
#define FB_DEFRAG_MAX_USED	(FB_BLOCK_PAGES * 3 / 4)
/*
 * Pageblocks the scan looks at between two chances to reschedule: it runs
 * under @fb->lock on a shared workqueue, and a zone of a large guest has
 * thousands of pageblocks of 512 pages each to read.
 */
#define FB_DEFRAG_SCAN_BATCH	32
/* Candidates kept per scan (each is one word). */
#define FB_DEFRAG_MAX_CAND	BIT(16)

/*
 * Pages in use in the pageblock at @page that would have to move, or -1 if
 * it cannot be emptied. Lockless and racy: an estimate to order the tries,
 * never a promise (alloc_contig_range checks for real).
 */
static int fb_block_cost(struct page *page)
{
	unsigned long i = 0, n;
	unsigned int order;
	struct page *p;
	int used = 0;

	while (i < FB_BLOCK_PAGES) {
		p = page + i;
		if (PageBuddy(p)) {
			order = READ_ONCE(p->private);
			i += order <= FB_MAX_ORDER ? 1UL << order : 1;
			continue;
		}
		if (PageReserved(p) || PageOffline(p) || PageSlab(p))
			return -1;
		if (!PageLRU(p) && !page_has_movable_ops(p))
			return -1;
		n = 1;
		if (PageHead(p))
			n = min(1UL << compound_order(p), FB_BLOCK_PAGES - i);
		used += n;
		i += n;
	}
	return used;
}

/* Sort key: used pages in the low bits, the block's PFN above them. */
#define FB_COST_BITS	10

static int fb_cand_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a & ((1UL << FB_COST_BITS) - 1);
	unsigned long y = *(const unsigned long *)b & ((1UL << FB_COST_BITS) - 1);

	return x < y ? -1 : x > y;
}

static void fb_defrag_scan(struct fb_balloon *fb)
{
	struct fb_defrag_state *st = &fb->dfg;
	unsigned long pfn, end, seen = 0;
	struct page *page;
	struct zone *zone;
	int nid, z, cost;

	BUILD_BUG_ON(FB_BLOCK_PAGES >= (1UL << FB_COST_BITS));
	st->nr = 0;
	st->next = 0;
	st->stamp = jiffies;

	for_each_online_node(nid) {
		for (z = 0; z < MAX_NR_ZONES; z++) {
			zone = &NODE_DATA(nid)->node_zones[z];
			/* ZONE_DMA is tiny and precious: leave it alone. */
			if (!populated_zone(zone) ||
			    (IS_ENABLED(CONFIG_ZONE_DMA) && zone_idx(zone) == 0))
				continue;
			pfn = ALIGN(zone->zone_start_pfn, FB_BLOCK_PAGES);
			end = ALIGN_DOWN(zone_end_pfn(zone), FB_BLOCK_PAGES);
			for (; pfn < end; pfn += FB_BLOCK_PAGES) {
				if (st->nr == st->size)
					goto sort;
				if (!(++seen % FB_DEFRAG_SCAN_BATCH))
					cond_resched();
				page = pfn_to_online_page(pfn);
				if (!page || page_zone(page) != zone)
					continue;
				cost = fb_block_cost(page);
				if (cost < 0 || cost > FB_DEFRAG_MAX_USED)
					continue;
				st->cand[st->nr++] = (pfn << FB_COST_BITS) | cost;
			}
		}
	}
sort:
	sort(st->cand, st->nr, sizeof(*st->cand), fb_cand_cmp, NULL);
}

/*
 * Room to evacuate: free pages above every zone's high watermark, plus two
 * blocks' worth for the used pages to move to. With less, the migration
 * would push the guest into reclaim for the balloon's sake, its target
 * allocations warn when they fail, and they wait on the OOM lock.
 */
static bool fb_defrag_room(void)
{
	return global_zone_page_state(NR_FREE_PAGES) >
	       2 * FB_BLOCK_PAGES + fb_high_wmarks();
}

/* Count an evacuation in the debugfs histogram: <1, <4, <16, <64, <256 ms. */
static void fb_defrag_histo(struct fb_balloon *fb, unsigned long us)
{
	unsigned int b = 0;
	unsigned long ms = us / USEC_PER_MSEC;

	while (b < FB_DEFRAG_HIST - 1 && ms >= (1UL << (2 * b)))
		b++;
	fb->dbg.defrag_hist[b]++;
}

/*
 * Empty the cheapest pageblock we can and return it as a block (512 single
 * pages, first page returned), or NULL when nothing worked before
 * @deadline or defragmentation is off. Caller holds @fb->lock.
 */
struct page *fb_defrag_block(struct fb_balloon *fb, unsigned long deadline)
{
	struct fb_defrag_state *st = &fb->dfg;
	unsigned long pfn, us;
	struct page *page;
	u64 t0;
	int ret;

	lockdep_assert_held(&fb->lock);
	if (READ_ONCE(fb->cfg.defrag) == FB_DEFRAG_OFF)
		return NULL;
	if (time_after_eq(jiffies, deadline))
		return NULL;
	if (st->next >= st->nr ||
	    time_after(jiffies, st->stamp + FB_DEFRAG_SCAN_TTL))
		fb_defrag_scan(fb);

	while (st->next < st->nr && time_before(jiffies, deadline)) {
		/* Under pressure, evacuating only makes it worse. */
		if (READ_ONCE(fb->pressure_hold))
			break;
		if (!fb_defrag_room()) {
			fb->dbg.defrag_no_room++;
			break;
		}
		pfn = st->cand[st->next++] >> FB_COST_BITS;
		page = pfn_to_online_page(pfn);
		/* Taken or changed since the scan? Then don't bother. */
		if (!page || fb_block_cost(page) < 0)
			continue;
		t0 = ktime_get_ns();
		fb_count(fb, FB_CNT_DEFRAG_TRIES, 1);
		WRITE_ONCE(fb->evacuating, true);
		ret = alloc_contig_range(pfn, pfn + FB_BLOCK_PAGES,
					 FB_CONTIG_MOVABLE,
					 GFP_KERNEL | __GFP_NOWARN);
		WRITE_ONCE(fb->evacuating, false);
		us = div_u64(ktime_get_ns() - t0, NSEC_PER_USEC);
		fb_count(fb, FB_CNT_DEFRAG_US, us);
		fb_defrag_histo(fb, us);
		trace_fb_defrag(fb->vdev->index, pfn, ret, us);
		if (!ret) {
			fb_count(fb, FB_CNT_DEFRAG_OK, 1);
			return pfn_to_page(pfn);
		}
		cond_resched();
	}
	return NULL;
}

/*
 * The candidate array is sized for all of RAM at probe: allocating it later,
 * under @fb->lock, could recurse into our own OOM notifier.
 */
int fb_defrag_init(struct fb_balloon *fb)
{
	unsigned long n = totalram_pages() / FB_BLOCK_PAGES + 64;

	fb->dfg.size = min_t(unsigned long, n, FB_DEFRAG_MAX_CAND);
	fb->dfg.cand = kvmalloc_array(fb->dfg.size, sizeof(*fb->dfg.cand),
				      GFP_KERNEL);
	return fb->dfg.cand ? 0 : -ENOMEM;
}

void fb_defrag_exit(struct fb_balloon *fb)
{
	kvfree(fb->dfg.cand);
	fb->dfg.cand = NULL;
	fb->dfg.nr = 0;
	fb->dfg.next = 0;
}
