// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon defragmentation: when no free 2 MiB block is left, make one.
 *
 * We look at every pageblock of the populated zones and estimate what it
 * would cost to empty it: the pages in use that would have to move. Blocks
 * holding anything that cannot move (kernel allocations, reserved or
 * offline pages, our own balloon pages) are skipped. Then, cheapest first,
 * alloc_contig_range() migrates the used pages elsewhere and hands us the
 * whole block, as virtio-mem does when it unplugs a subblock. A candidate
 * whose following pageblocks can be emptied too is evacuated with them, up
 * to FB_DEFRAG_RUN blocks in one call: each call drains every CPU's LRU
 * and page lists and isolates its range, and that is paid once per run
 * instead of once per block. Evacuation may run on several CPUs at once
 * (the crew's hands), each taking the next candidate. All of it runs
 * within the caller's time bound; when that expires we fall back to 4 KiB.
 * Layer 1, a primitive: it makes blocks and hands them to the caller (the
 * inflate pass, the crew, healing), calling only the kernel.
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
/* Costs this close (in pages) sort as equal, neighbours next to each other. */
#define FB_COST_GRAIN_SHIFT	6

/*
 * Cheapest first, by cost in steps of 64 pages; within a step by PFN, so
 * that a run's neighbours follow its first block in the list and one hand
 * claims them all (fb_defrag_next()).
 */
static int fb_cand_cmp(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;
	unsigned long cx = (x & ((1UL << FB_COST_BITS) - 1)) >>
			   FB_COST_GRAIN_SHIFT;
	unsigned long cy = (y & ((1UL << FB_COST_BITS) - 1)) >>
			   FB_COST_GRAIN_SHIFT;

	if (cx != cy)
		return cx < cy ? -1 : 1;
	x >>= FB_COST_BITS;
	y >>= FB_COST_BITS;
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
 * Blocks we may evacuate at once, at most @max: a block's worth of free
 * pages for each (its used pages move into them), on top of every zone's
 * high watermark and one block more. With less, the migration would push the guest
 * into reclaim for the balloon's sake, its target allocations warn when
 * they fail, and they wait on the OOM lock. 0: no room for even one.
 */
static unsigned int fb_defrag_room(unsigned int max)
{
	unsigned long free = global_zone_page_state(NR_FREE_PAGES);
	unsigned long keep = FB_BLOCK_PAGES + fb_high_wmarks();

	if (free <= keep + FB_BLOCK_PAGES)
		return 0;
	return min_t(unsigned long, max, (free - keep) / FB_BLOCK_PAGES);
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
 * The next candidate's PFN, or 0 when none is left (PFN 0 is ZONE_DMA).
 * The candidates right after it that are its next @max - 1 neighbours are
 * claimed with it: no other hand tries them while it evacuates them.
 */
static unsigned long fb_defrag_next(struct fb_defrag_state *st,
				    unsigned int max)
{
	unsigned long pfn = 0;
	unsigned int k;

	spin_lock(&st->lock);
	if (st->next < st->nr) {
		pfn = st->cand[st->next++] >> FB_COST_BITS;
		for (k = 1; k < max && st->next < st->nr &&
		     st->cand[st->next] >> FB_COST_BITS ==
		     pfn + k * FB_BLOCK_PAGES; k++)
			st->next++;
	}
	spin_unlock(&st->lock);
	return pfn;
}

/*
 * How many pageblocks from @pfn on, at most @max, form one run worth
 * evacuating: the first (already checked) and those that follow it in
 * the same zone and would pass the scan's test. Those may be candidates
 * of their own further down the list: once ours they fail the test there.
 */
static unsigned int fb_defrag_run_len(unsigned long pfn, unsigned int max)
{
	struct zone *zone = page_zone(pfn_to_page(pfn));
	struct page *page;
	unsigned int n;
	int cost;

	for (n = 1; n < max; n++) {
		page = pfn_to_online_page(pfn + n * FB_BLOCK_PAGES);
		if (!page || page_zone(page) != zone)
			break;
		cost = fb_block_cost(page);
		if (cost < 0 || cost > FB_DEFRAG_MAX_USED)
			break;
	}
	return n;
}

/* One alloc_contig_range() call over @n pageblocks from @pfn. */
static int fb_evacuate(struct fb_balloon *fb, unsigned long pfn,
		       unsigned int n)
{
	unsigned long us;
	u64 t0;
	int ret;

	t0 = ktime_get_ns();
	fb_count(fb, FB_CNT_DEFRAG_TRIES, 1);
	atomic_inc(&fb->evacuating);
	ret = alloc_contig_range(pfn, pfn + n * FB_BLOCK_PAGES,
				 FB_CONTIG_MOVABLE, GFP_KERNEL | __GFP_NOWARN);
	atomic_dec(&fb->evacuating);
	us = div_u64(ktime_get_ns() - t0, NSEC_PER_USEC);
	fb_count(fb, FB_CNT_DEFRAG_US, us);
	fb_defrag_histo(fb, us);
	trace_fb_defrag(fb->vdev->index, pfn, ret, us);
	if (ret)
		return ret;
	fb_count(fb, FB_CNT_DEFRAG_OK, 1);
	atomic_long_add(n, &fb->dbg.defrag_blocks);
	return 0;
}

/*
 * Empty the cheapest pageblock we can, with up to @max - 1 of those that
 * follow it, and put them on @list as blocks (512 single pages each, first
 * pages linked through lru). Returns how many; 0 when nothing worked
 * before @deadline, no candidate is left, or the guest has no room to move
 * pages to. Draws on the last scan only, so it may run on several CPUs at
 * once while the caller of fb_defrag_ready() holds @fb->lock for them.
 */
unsigned int fb_defrag_take(struct fb_balloon *fb, unsigned long deadline,
			    unsigned int max, struct list_head *list)
{
	unsigned long pfn;
	struct page *page;
	unsigned int n, i;
	int ret;

	if (READ_ONCE(fb->cfg.defrag) == FB_DEFRAG_OFF || !max)
		return 0;
	while (time_before(jiffies, deadline)) {
		/* Under pressure, evacuating only makes it worse. */
		if (READ_ONCE(fb->pressure_hold))
			break;
		n = fb_defrag_room(min_t(unsigned int, max, FB_DEFRAG_RUN));
		if (!n) {
			fb->dbg.defrag_no_room++;
			break;
		}
		pfn = fb_defrag_next(&fb->dfg, n);
		if (!pfn)
			break;
		page = pfn_to_online_page(pfn);
		/* Taken or changed since the scan? Then don't bother. */
		if (!page || fb_block_cost(page) < 0)
			continue;
		n = fb_defrag_run_len(pfn, n);
		ret = fb_evacuate(fb, pfn, n);
		/* One page that would not move fails a run: try the first. */
		if (ret && n > 1) {
			n = 1;
			ret = fb_evacuate(fb, pfn, 1);
		}
		if (ret) {
			cond_resched();
			continue;
		}
		for (i = 0; i < n; i++)
			list_add_tail(&pfn_to_page(pfn + i * FB_BLOCK_PAGES)->lru,
				      list);
		return n;
	}
	return 0;
}

/*
 * Before fb_defrag_take(): scan again if the last scan is used up or too
 * old. False when defragmentation is off or there is nothing to evacuate.
 * Caller holds @fb->lock.
 */
bool fb_defrag_ready(struct fb_balloon *fb)
{
	struct fb_defrag_state *st = &fb->dfg;

	lockdep_assert_held(&fb->lock);
	if (READ_ONCE(fb->cfg.defrag) == FB_DEFRAG_OFF)
		return false;
	if (st->next >= st->nr ||
	    time_after(jiffies, st->stamp + FB_DEFRAG_SCAN_TTL))
		fb_defrag_scan(fb);
	return st->next < st->nr;
}

/* One block for callers that want one: fb_defrag_take() of one. */
struct page *fb_defrag_block(struct fb_balloon *fb, unsigned long deadline)
{
	LIST_HEAD(list);

	if (time_after_eq(jiffies, deadline) || !fb_defrag_ready(fb) ||
	    !fb_defrag_take(fb, deadline, 1, &list))
		return NULL;
	return list_first_entry(&list, struct page, lru);
}

/*
 * The candidate array is sized for all of RAM at probe: allocating it later,
 * under @fb->lock, could recurse into our own OOM notifier.
 */
int fb_defrag_init(struct fb_balloon *fb)
{
	unsigned long n = totalram_pages() / FB_BLOCK_PAGES + 64;

	spin_lock_init(&fb->dfg.lock);
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
