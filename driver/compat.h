/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fastballoon compatibility layer. Force-included into every driver file by
 * driver/Kbuild, so that no other file needs an #ifdef for a kernel
 * difference. Shims key on features probed by Kbuild (FB_HAVE_*) or on
 * macros the headers themselves define, never on version numbers; each says
 * which upstream change it covers.
 */
#ifndef _FB_COMPAT_H
#define _FB_COMPAT_H

#include <linux/version.h>

/*
 * Tested: 6.1, 6.12 and 7.2 (README, "Supported kernels"). Later 7.x
 * kernels are expected to build: every difference below is probed. A new
 * major release gets tried before the range grows.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0) || \
	LINUX_VERSION_CODE >= KERNEL_VERSION(8, 0, 0)
#error "fastballoon supports Linux 6.1 to 7.x"
#endif

#include <linux/types.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <uapi/linux/virtio_balloon.h>

#if PAGE_SHIFT != 12
#error "fastballoon needs 4 KiB guest pages (the virtio-balloon PFN unit)"
#endif

/*
 * Linux 7.0 (David Hildenbrand's balloon series, 2026) renamed
 * balloon_compaction.h to balloon.h, CONFIG_MEMORY_BALLOON to CONFIG_BALLOON
 * and CONFIG_BALLOON_COMPACTION to CONFIG_BALLOON_MIGRATION.
 */
#ifdef FB_HAVE_BALLOON_H
#include <linux/balloon.h>
#else
#include <linux/balloon_compaction.h>
#endif
#include <linux/vmstat.h>
#if defined(CONFIG_BALLOON_COMPACTION) || defined(CONFIG_BALLOON_MIGRATION)
#define FB_BALLOON_MIGRATION 1
#else
#define FB_BALLOON_MIGRATION 0
#endif

/*
 * Who accounts a 4 KiB balloon page, kernel by kernel. The driver is written
 * the 7.x way: the balloon core accounts every page on its list, the driver
 * accounts only its own 2 MiB blocks (pages.c), the same way the core does.
 *
 * - vm events BALLOON_INFLATE/DEFLATE: counted by balloon_page_list_enqueue/
 *   dequeue on every kernel; BALLOON_MIGRATE by the driver before 7.0.
 * - NR_BALLOON_PAGES (meminfo "Balloon:"): added by upstream "mm: add
 *   NR_BALLOON_PAGES to track memory used by balloon drivers" (6.16), which
 *   made the core's enqueue/dequeue count it. Absent before: nothing to do.
 * - managed pages (MemTotal): upstream "mm/balloon_compaction: centralize
 *   adjust_managed_page_count() handling" (7.0) lets the core adjust them
 *   when balloon_dev_info.adjust_managed_page_count is set; before, every
 *   driver did so itself.
 * - migration: the same 7.0 series moved the bookkeeping after
 *   migratepage() into the core (insert the new page, release the old one,
 *   count, fix managed pages); migratepage() only talks to the host and
 *   returns 0, -ENOENT (old page deflated, new one not inflated) or an
 *   error, and pages_lock, balloon_page_insert/finalize and
 *   MIGRATEPAGE_SUCCESS left the header. Probed by the flag of the same
 *   series (FB_HAVE_BALLOON_ADJUST_MANAGED).
 *
 * The struct has no room for the flag before 7.0, so the driver passes it:
 * fb_balloon_list_enqueue()/_dequeue() are balloon_page_list_enqueue()/
 * _dequeue() as 7.x has them, fb_balloon_migrated() is what the 7.x core
 * does once migratepage() returns.
 */
#if defined(CONFIG_MEMORY_BALLOON) || defined(CONFIG_BALLOON)
#define fb_count_balloon_events(item, n)	count_vm_events(item, n)
#else
#define fb_count_balloon_events(item, n)	do { } while (0)
#endif

/* NR_BALLOON_PAGES of a page's node, on kernels that have the counter. */
static inline void fb_mod_balloon_pages(struct page *page, long nr)
{
#ifdef FB_HAVE_NR_BALLOON_PAGES
	mod_node_page_state(page_pgdat(page), NR_BALLOON_PAGES, nr);
#endif
}

#ifdef FB_HAVE_BALLOON_ADJUST_MANAGED
static inline void fb_balloon_init(struct balloon_dev_info *b,
				   bool adjust_managed)
{
	balloon_devinfo_init(b);
	b->adjust_managed_page_count = adjust_managed;
}

static inline size_t fb_balloon_list_enqueue(struct balloon_dev_info *b,
					     struct list_head *pages,
					     bool adjust_managed)
{
	return balloon_page_list_enqueue(b, pages);
}

static inline size_t fb_balloon_list_dequeue(struct balloon_dev_info *b,
					     struct list_head *pages,
					     size_t n, bool adjust_managed)
{
	return balloon_page_list_dequeue(b, pages, n);
}

static inline int fb_balloon_migrated(struct balloon_dev_info *b,
				      struct page *newpage, struct page *page,
				      int rc, bool adjust_managed)
{
	return rc;
}
#else /* !FB_HAVE_BALLOON_ADJUST_MANAGED: the driver does the core's part */
static inline void fb_balloon_init(struct balloon_dev_info *b,
				   bool adjust_managed)
{
	balloon_devinfo_init(b);
}

static inline size_t fb_balloon_list_enqueue(struct balloon_dev_info *b,
					     struct list_head *pages,
					     bool adjust_managed)
{
	struct page *page;

	if (adjust_managed)
		list_for_each_entry(page, pages, lru)
			adjust_managed_page_count(page, -1);
	return balloon_page_list_enqueue(b, pages);
}

/* Only the pages dequeued are on @pages: they alone are adjusted. */
static inline size_t fb_balloon_list_dequeue(struct balloon_dev_info *b,
					     struct list_head *pages,
					     size_t n, bool adjust_managed)
{
	struct page *page;
	LIST_HEAD(got);
	size_t nr;

	nr = balloon_page_list_dequeue(b, &got, n);
	if (adjust_managed)
		list_for_each_entry(page, &got, lru)
			adjust_managed_page_count(page, 1);
	list_splice(&got, pages);
	return nr;
}

#if FB_BALLOON_MIGRATION
static inline int fb_balloon_migrated(struct balloon_dev_info *b,
				      struct page *newpage, struct page *page,
				      int rc, bool adjust_managed)
{
	unsigned long flags;

	if (rc && rc != -ENOENT)
		return rc;
	spin_lock_irqsave(&b->pages_lock, flags);
	if (!rc) {
		get_page(newpage);	/* the balloon's reference */
		balloon_page_insert(b, newpage);
		__count_vm_event(BALLOON_MIGRATE);
		if (adjust_managed && page_zone(page) != page_zone(newpage)) {
			adjust_managed_page_count(page, 1);
			adjust_managed_page_count(newpage, -1);
		}
		if (page_pgdat(page) != page_pgdat(newpage)) {
			fb_mod_balloon_pages(page, -1);
			fb_mod_balloon_pages(newpage, 1);
		}
	} else {
		__count_vm_event(BALLOON_DEFLATE);
		if (adjust_managed)
			adjust_managed_page_count(page, 1);
		fb_mod_balloon_pages(page, -1);
	}
	b->isolated_pages--;
	spin_unlock_irqrestore(&b->pages_lock, flags);
	balloon_page_finalize(page);
	put_page(page);			/* the balloon's reference */
	return MIGRATEPAGE_SUCCESS;
}
#endif
#endif /* FB_HAVE_BALLOON_ADJUST_MANAGED */

/*
 * The upstream series "mm, treewide: introduce NR_PAGE_ORDERS" (6.8)
 * replaced the exclusive MAX_ORDER with the inclusive MAX_PAGE_ORDER.
 * FB_MAX_ORDER is the largest order the buddy allocator hands out, on every
 * kernel.
 */
#ifdef MAX_PAGE_ORDER
#define FB_MAX_ORDER	MAX_PAGE_ORDER
#else
#define FB_MAX_ORDER	(MAX_ORDER - 1)
#endif

/*
 * Upstream "mm: rename __PageMovable() to page_has_movable_ops()" (6.17,
 * the movable_ops migration rework) gave the test its current name; before,
 * __PageMovable() answered the same question for non-LRU movable pages.
 */
#ifndef FB_HAVE_PAGE_HAS_MOVABLE_OPS
#define page_has_movable_ops(page)	__PageMovable(page)
#endif

/*
 * Upstream "workqueue: Add new WQ_PERCPU flag" (6.17) began the move to
 * unbound workqueues by default; 7.x warns when alloc_workqueue() is given
 * neither WQ_PERCPU nor WQ_UNBOUND. Before the flag, per-cpu was what no
 * flag meant.
 */
#ifndef FB_HAVE_WQ_PERCPU
#define WQ_PERCPU	0
#endif

/*
 * alloc_contig_range()'s third argument was the migratetype of the range
 * until upstream replaced it with acr_flags_t (after 6.12; 7.2 has it).
 * MIGRATE_MOVABLE is 1, and 1 there is ACR_FLAGS_CMA: it would ask for a
 * CMA allocation, which a balloon's evacuation is not.
 */
#ifdef FB_HAVE_ACR_FLAGS
#define FB_CONTIG_MOVABLE	ACR_FLAGS_NONE
#else
#define FB_CONTIG_MOVABLE	MIGRATE_MOVABLE
#endif

/*
 * Stats tags 10-15 arrived in the uapi header with the upstream series
 * "virtio_balloon: introduce oom-kill invocations" (6.12).
 * Hosts that don't know a tag ignore it, so we always send them.
 */
#ifndef VIRTIO_BALLOON_S_OOM_KILL
#define VIRTIO_BALLOON_S_OOM_KILL	10
#define VIRTIO_BALLOON_S_ALLOC_STALL	11
#define VIRTIO_BALLOON_S_ASYNC_SCAN	12
#define VIRTIO_BALLOON_S_DIRECT_SCAN	13
#define VIRTIO_BALLOON_S_ASYNC_RECLAIM	14
#define VIRTIO_BALLOON_S_DIRECT_RECLAIM	15
#endif
#define FB_NR_STATS	16

/*
 * Upstream "virtio: create struct virtqueue_info" (6.11) folded the
 * callback and name arrays into one array of struct virtqueue_info.
 * fb_find_vqs() takes the two arrays on every kernel.
 */
static inline int fb_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			      struct virtqueue *vqs[],
			      vq_callback_t *callbacks[],
			      const char * const names[])
{
#ifdef FB_HAVE_VIRTQUEUE_INFO
	struct virtqueue_info info[8] = {};
	unsigned int i;

	if (WARN_ON_ONCE(nvqs > ARRAY_SIZE(info)))
		return -EINVAL;
	for (i = 0; i < nvqs; i++) {
		info[i].name = names[i];
		info[i].callback = callbacks[i];
	}
	return virtio_find_vqs(vdev, nvqs, vqs, info, NULL);
#else
	return virtio_find_vqs(vdev, nvqs, vqs, callbacks, names, NULL);
#endif
}

/*
 * Upstream "mm: shrinker: add infrastructure for dynamically allocating
 * shrinker" (6.7) replaced register_shrinker() on an embedded
 * struct with shrinker_alloc()/shrinker_register()/shrinker_free(), and gave
 * the shrinker a private_data pointer. On older kernels we allocate a
 * wrapper that carries the pointer.
 */
typedef unsigned long (*fb_shrink_fn)(struct shrinker *s,
				      struct shrink_control *sc);

#ifdef FB_HAVE_SHRINKER_ALLOC
static inline struct shrinker *fb_shrinker_create(fb_shrink_fn count,
						  fb_shrink_fn scan,
						  void *priv, const char *name)
{
	struct shrinker *s = shrinker_alloc(0, "%s", name);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	s->private_data = priv;
	shrinker_register(s);
	return s;
}

static inline void *fb_shrinker_priv(struct shrinker *s)
{
	return s->private_data;
}

static inline void fb_shrinker_destroy(struct shrinker *s)
{
	if (s)
		shrinker_free(s);
}
#else
struct fb_shrinker_wrap {
	struct shrinker shrinker;
	void *priv;
};

static inline struct shrinker *fb_shrinker_create(fb_shrink_fn count,
						  fb_shrink_fn scan,
						  void *priv, const char *name)
{
	struct fb_shrinker_wrap *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	w->shrinker.count_objects = count;
	w->shrinker.scan_objects = scan;
	w->shrinker.seeks = DEFAULT_SEEKS;
	w->priv = priv;
	if (register_shrinker(&w->shrinker, "%s", name)) {
		kfree(w);
		return NULL;
	}
	return &w->shrinker;
}

static inline void *fb_shrinker_priv(struct shrinker *s)
{
	return container_of(s, struct fb_shrinker_wrap, shrinker)->priv;
}

static inline void fb_shrinker_destroy(struct shrinker *s)
{
	if (!s)
		return;
	unregister_shrinker(s);
	kfree(container_of(s, struct fb_shrinker_wrap, shrinker));
}
#endif

#endif /* _FB_COMPAT_H */
