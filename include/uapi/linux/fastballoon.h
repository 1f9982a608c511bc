/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * fastballoon: names and units shared by the kernel module and user space
 * (balloonctl, the selftests). Everything here is ABI: the sysfs attribute
 * names below live in the attribute group FB_SYSFS_GROUP under each bound
 * virtio device, e.g.
 *
 *   /sys/bus/virtio/drivers/fastballoon/virtio0/fastballoon/actual_pages
 *
 * Units: *_pages are 4 KiB pages (the virtio-balloon page size, independent
 * of the guest's PAGE_SIZE), *_blocks are 2 MiB blocks, *_ms milliseconds.
 */
#ifndef _UAPI_LINUX_FASTBALLOON_H
#define _UAPI_LINUX_FASTBALLOON_H

#define FB_DRIVER_NAME		"fastballoon"
#define FB_SYSFS_GROUP		"fastballoon"

/* Size of one balloon page (the protocol's unit) and of one block. */
#define FB_PAGE_SHIFT		12
#define FB_BLOCK_SHIFT		21
#define FB_PAGES_PER_BLOCK	(1U << (FB_BLOCK_SHIFT - FB_PAGE_SHIFT))

/* Read-only attributes. */
#define FB_ATTR_TARGET_PAGES	"target_pages"	/* host's num_pages */
#define FB_ATTR_ACTUAL_PAGES	"actual_pages"	/* pages held, as told to the host */
#define FB_ATTR_BLOCKS_2M	"blocks_2m"	/* held as whole 2 MiB blocks */
#define FB_ATTR_PAGES_4K	"pages_4k"	/* held as single 4 KiB pages */
#define FB_ATTR_FEATURES	"features"	/* negotiated, space-separated names */
#define FB_ATTR_INFLATED	"inflated_pages_total"
#define FB_ATTR_DEFLATED	"deflated_pages_total"
#define FB_ATTR_MIGRATED	"migrated_pages_total"
#define FB_ATTR_OOM_RELEASED	"oom_released_pages_total"
#define FB_ATTR_HINTED		"hinted_pages_total"
#define FB_ATTR_REPORTED	"reported_pages_total"
#define FB_ATTR_ALLOC_FAILS	"alloc_failures_total"
#define FB_ATTR_PATH_ACTIVE	"surrender_path_active"	/* "inflate" or "report" */
#define FB_ATTR_RANGED		"ranged_pages_total"	/* sent as ranges */
#define FB_ATTR_SHRINK_RELEASED	"shrinker_released_pages_total"
#define FB_ATTR_DEFRAG_TRIES	"defrag_attempts_total"
#define FB_ATTR_DEFRAG_OK	"defrag_successes_total"
#define FB_ATTR_DEFRAG_US	"defrag_time_us_total"
#define FB_ATTR_HEAL_TRADES	"heal_trades_total"
#define FB_ATTR_FLOOR_RELEASED	"floor_released_pages_total"
#define FB_ATTR_RAM		"ram_pages"	/* guest RAM when bound; knob bound */
#define FB_ATTR_EFFECTIVE	"effective_target_pages" /* what the balloon aims at */
#define FB_ATTR_INFLATE_RATE	"last_inflate_pages_per_s"	/* last inflate run */
#define FB_ATTR_DEFLATE_RATE	"last_deflate_pages_per_s"	/* last deflate run */

/*
 * Read-write attributes (the knobs). Each is also a module parameter of the
 * same name giving the default for devices bound later. A write that does
 * not parse fails with EINVAL, one out of range with ERANGE; either way
 * nothing changes and the kernel log says why. A valid write takes effect
 * at once. In the ranges, RAM is the value of FB_ATTR_RAM.
 *
 *   guest_target_pages	 0..RAM	  0 = follow the host's target [0]
 *   max_pages		 0..RAM	  cap on the balloon, 0 = no cap [0]
 *   floor_pages	 0..RAM	  keep MemAvailable above this: inflate stops
 *				  a band (floor/32, >= 2 MiB) above it, memory
 *				  goes back under it [0]
 *   inflate_limit_pages_per_s 0..2^30  0 = unlimited [0]
 *   max_order		 0..9	  largest allocation order tried [9]
 *   defrag		 off|on|heal			[heal]
 *   defrag_ms		 0..60000 time bound of one defrag pass [1000]
 *   heal_ms		 100..3600000 pause between healing passes [5000]
 *   oom_pages		 1..RAM	  pages one OOM/shrinker call releases [4096]
 *   surrender_path	 auto|inflate|report		[auto]
 */
#define FB_ATTR_GUEST_TARGET	"guest_target_pages"
#define FB_ATTR_MAX_PAGES	"max_pages"
#define FB_ATTR_FLOOR		"floor_pages"
#define FB_ATTR_INFLATE_LIMIT	"inflate_limit_pages_per_s"
#define FB_ATTR_MAX_ORDER	"max_order"
#define FB_ATTR_DEFRAG		"defrag"
#define FB_ATTR_DEFRAG_MS	"defrag_ms"
#define FB_ATTR_HEAL_MS		"heal_ms"
#define FB_ATTR_OOM_PAGES	"oom_pages"
#define FB_ATTR_SURRENDER_PATH	"surrender_path"

#define FB_MAX_ORDER_LIMIT	9
#define FB_DEFRAG_MS_MAX	60000U
#define FB_HEAL_MS_MIN		100U
#define FB_HEAL_MS_MAX		3600000U
#define FB_INFLATE_LIMIT_MAX	(1UL << 30)

/* Names printed in FB_ATTR_FEATURES, indexed by virtio-balloon feature bit. */
#define FB_FEATURE_NAMES {	\
	"must_tell_host",	\
	"stats_vq",		\
	"deflate_on_oom",	\
	"free_page_hint",	\
	"page_poison",		\
	"reporting",		\
}

#define FB_NR_FEATURES		6

#endif /* _UAPI_LINUX_FASTBALLOON_H */
