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

/*
 * The release, of the module (MODULE_VERSION) and of balloonctl (--version)
 * alike, written here only: the Makefile reads it from this line, and
 * dkms.conf repeats it for DKMS (selftests/packaging checks they agree).
 */
#define FB_VERSION		"0.1.0"

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
/* A run that moved fewer pages than this has no rate: the last one stands. */
#define FB_RATE_MIN_PAGES	(32 * FB_PAGES_PER_BLOCK)	/* 64 MiB */
#define FB_ATTR_RESERVE_AUTO	"reserve_auto_pages"	/* reserve_pages' computed default */

/*
 * Read-write attributes (the knobs). Each is also a module parameter of the
 * same name giving the default for devices bound later. A write that does
 * not parse fails with EINVAL, one out of range with ERANGE; either way
 * nothing changes and the kernel log says why. A valid write takes effect
 * at once. FB_KNOBS below gives every knob's unit, range and default.
 */
#define FB_ATTR_GUEST_TARGET	"guest_target_pages"
#define FB_ATTR_MAX_PAGES	"max_pages"
#define FB_ATTR_FLOOR		"floor_pages"
#define FB_ATTR_RESERVE		"reserve_pages"
#define FB_ATTR_INFLATE_LIMIT	"inflate_limit_pages_per_s"
#define FB_ATTR_INFLATE_CPUS	"inflate_cpus"
#define FB_ATTR_MAX_ORDER	"max_order"
#define FB_ATTR_DEFRAG		"defrag"
#define FB_ATTR_DEFRAG_MS	"defrag_ms"
#define FB_ATTR_HEAL_MS		"heal_ms"
#define FB_ATTR_OOM_PAGES	"oom_pages"
#define FB_ATTR_SURRENDER_PATH	"surrender_path"

/*
 * Bounds used in FB_KNOBS. Plain decimal literals, so that they can be
 * stringified into the module parameters' descriptions.
 */
#define FB_MAX_ORDER_LIMIT	9		/* a 2 MiB block */
#define FB_DEFRAG_MS_MAX	60000
#define FB_HEAL_MS_MIN		100
#define FB_HEAL_MS_MAX		3600000
#define FB_INFLATE_LIMIT_MAX	1073741824	/* 2^30 pages per second */
#define FB_INFLATE_CPUS_MAX	8192		/* Debian's NR_CPUS */

/* The upper bound of a page-valued knob: ram_pages (FB_ATTR_RAM). */
#define FB_KNOB_RAM		(~0ULL)
/*
 * The default of a page-valued knob that the driver computes when the
 * device binds (reserve_pages: the value FB_ATTR_RESERVE_AUTO shows). The
 * knob itself always reads as the pages in effect, never as this; as a
 * module parameter it means "compute it", as it does by default.
 */
#define FB_KNOB_AUTO		(~0ULL - 1)

/* How a knob's value is counted. */
enum fb_unit {
	FB_UNIT_PAGES,		/* 4 KiB pages, at most FB_KNOB_RAM */
	FB_UNIT_PAGES_PER_S,	/* 4 KiB pages per second */
	FB_UNIT_ORDER,		/* an allocation order, a plain number */
	FB_UNIT_MS,		/* milliseconds */
	FB_UNIT_WORD,		/* one of the knob's words */
	FB_UNIT_CPUS,		/* a number of CPUs; 0 means all online */
};

/*
 * The words of the word knobs, W(value, word), in the order of their values
 * (enum fb_defrag and enum fb_path below are made from them).
 */
#define FB_DEFRAG_WORDS(W)						\
	W(FB_DEFRAG_OFF, "off")		/* only blocks that are free */	\
	W(FB_DEFRAG_ON, "on")		/* evacuate when none is free */ \
	W(FB_DEFRAG_HEAL, "heal")	/* ... and trade pages for blocks */

#define FB_PATH_WORDS(W)						\
	W(FB_PATH_AUTO, "auto")		/* ranges where sound, else queue */ \
	W(FB_PATH_INFLATE, "inflate")	/* inflate queue, 512 PFNs/block */ \
	W(FB_PATH_REPORT, "report")	/* reporting queue, 1 range/block */

/* For the numeric knobs' @words in FB_KNOBS: no words. */
#define FB_NO_WORDS(W)

#define FB_WORD_VALUE(value, word)	value,
enum fb_defrag { FB_DEFRAG_WORDS(FB_WORD_VALUE) FB_NR_DEFRAG };
enum fb_path { FB_PATH_WORDS(FB_WORD_VALUE) FB_NR_PATH };
#undef FB_WORD_VALUE

/*
 * FB_KNOBS(X): every knob, the one table the driver (module parameters,
 * defaults, sysfs validation), balloonctl and the tests are made from, in
 * the order balloonctl shows them. Each row is
 *
 *	X(name, unit, min, max, def, words)
 *
 * @name: the sysfs file and module parameter, as a C identifier (#name is
 *	the FB_ATTR_* string above).
 * @unit: enum fb_unit.
 * @min, @max: the accepted range, both included; @max FB_KNOB_RAM means
 *	ram_pages. Unused (0) for word knobs.
 * @def: the default: a number, FB_KNOB_AUTO (computed at bind), or for a
 *	word knob its word.
 * @words: FB_<KNOB>_WORDS for a word knob, FB_NO_WORDS for the others.
 *
 * The numbers are decimal literals or macros for them (see above).
 */
#define FB_KNOBS(X)							\
	X(guest_target_pages, FB_UNIT_PAGES, 0, FB_KNOB_RAM, 0, FB_NO_WORDS) \
	X(max_pages, FB_UNIT_PAGES, 0, FB_KNOB_RAM, 0, FB_NO_WORDS)	\
	X(floor_pages, FB_UNIT_PAGES, 0, FB_KNOB_RAM, 0, FB_NO_WORDS)	\
	X(reserve_pages, FB_UNIT_PAGES, 0, FB_KNOB_RAM, FB_KNOB_AUTO,	\
	  FB_NO_WORDS)							\
	X(inflate_limit_pages_per_s, FB_UNIT_PAGES_PER_S, 0,		\
	  FB_INFLATE_LIMIT_MAX, 0, FB_NO_WORDS)				\
	X(inflate_cpus, FB_UNIT_CPUS, 0, FB_INFLATE_CPUS_MAX, 0,	\
	  FB_NO_WORDS)							\
	X(max_order, FB_UNIT_ORDER, 0, FB_MAX_ORDER_LIMIT,		\
	  FB_MAX_ORDER_LIMIT, FB_NO_WORDS)				\
	X(defrag, FB_UNIT_WORD, 0, 0, "heal", FB_DEFRAG_WORDS)		\
	X(defrag_ms, FB_UNIT_MS, 0, FB_DEFRAG_MS_MAX, 1000, FB_NO_WORDS)	\
	X(heal_ms, FB_UNIT_MS, FB_HEAL_MS_MIN, FB_HEAL_MS_MAX, 5000,	\
	  FB_NO_WORDS)							\
	X(oom_pages, FB_UNIT_PAGES, 1, FB_KNOB_RAM, 4096, FB_NO_WORDS)	\
	X(surrender_path, FB_UNIT_WORD, 0, 0, "auto", FB_PATH_WORDS)

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
