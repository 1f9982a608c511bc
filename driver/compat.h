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

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "fastballoon supports Linux 6.1 and later"
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
 * linux-next (2026) renames balloon_compaction.h to balloon.h and
 * CONFIG_BALLOON_COMPACTION to CONFIG_BALLOON_MIGRATION.
 */
#ifdef FB_HAVE_BALLOON_H
#include <linux/balloon.h>
#else
#include <linux/balloon_compaction.h>
#endif
#if defined(CONFIG_BALLOON_COMPACTION) || defined(CONFIG_BALLOON_MIGRATION)
#define FB_BALLOON_MIGRATION 1
#else
#define FB_BALLOON_MIGRATION 0
#endif

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
