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
#define FB_ATTR_SURRENDER_PATH	"surrender_path"	/* "inflate" or "report" */
#define FB_ATTR_RANGED		"ranged_pages_total"	/* sent as ranges */
#define FB_ATTR_SHRINK_RELEASED	"shrinker_released_pages_total"
#define FB_ATTR_DEFRAG_TRIES	"defrag_attempts_total"
#define FB_ATTR_DEFRAG_OK	"defrag_successes_total"
#define FB_ATTR_DEFRAG_US	"defrag_time_us_total"
#define FB_ATTR_HEAL_TRADES	"heal_trades_total"

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
