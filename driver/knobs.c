// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon knobs as module parameters: the defaults every device bound
 * from now on starts with. Names, units, ranges, defaults and words all come
 * from FB_KNOBS in the uapi header, the one table balloonctl and the tests
 * are made from too; sysfs.c serves the same table as files.
 */
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <linux/stringify.h>
#include <linux/sysfs.h>

#include "fastballoon.h"

#define FB_WORD_STR(value, word)	word,

/* Whether a default is FB_KNOB_AUTO: only page counts may be computed. */
#define FB_AUTO_FB_UNIT_PAGES(def)	((def) == FB_KNOB_AUTO)
#define FB_AUTO_FB_UNIT_PAGES_PER_S(def) false
#define FB_AUTO_FB_UNIT_ORDER(def)	false
#define FB_AUTO_FB_UNIT_MS(def)		false
#define FB_AUTO_FB_UNIT_WORD(def)	false
#define FB_AUTO_FB_UNIT_CPUS(def)	false

#define FB_KNOB_ENTRY(_name, _unit, _min, _max, _def, _words)		\
	[FB_KNOB_##_name] = {						\
		.name = #_name,						\
		.unit = _unit,						\
		.min = _min,						\
		.max = (_max) == FB_KNOB_RAM ? 0 : (_max),		\
		.max_is_ram = (_max) == FB_KNOB_RAM,			\
		.auto_def = FB_AUTO_##_unit(_def),			\
		.words = (const char * const []){ _words(FB_WORD_STR) NULL }, \
	},

const struct fb_knob fb_knobs[FB_NR_KNOBS] = {
	FB_KNOBS(FB_KNOB_ENTRY)
};

/* A page count is bounded by the RAM: the descriptions below say so. */
#define FB_KNOB_RAM_BOUND(_name, _unit, _min, _max, _def, _words)	\
	((_unit) != FB_UNIT_PAGES || (_max) == FB_KNOB_RAM) &&
static_assert(FB_KNOBS(FB_KNOB_RAM_BOUND) true);

/*
 * The parameters' values, the table's defaults until the module is loaded
 * with others. A parameter has the type its unit has always had (modinfo
 * shows it): page counts and rates ulong, orders and times uint, words
 * charp.
 */
struct fb_param {
	unsigned long ul;
	unsigned int ui;
	char *word;
};

#define FB_PINIT_FB_UNIT_PAGES(def)	.ul = (def)
#define FB_PINIT_FB_UNIT_PAGES_PER_S(def) .ul = (def)
#define FB_PINIT_FB_UNIT_ORDER(def)	.ui = (def)
#define FB_PINIT_FB_UNIT_MS(def)	.ui = (def)
#define FB_PINIT_FB_UNIT_WORD(def)	.word = (def)
#define FB_PINIT_FB_UNIT_CPUS(def)	.ui = (def)

#define FB_KNOB_DEFAULT(_name, _unit, _min, _max, _def, _words)	\
	[FB_KNOB_##_name] = { FB_PINIT_##_unit(_def) },

static struct fb_param fb_params[FB_NR_KNOBS] = {
	FB_KNOBS(FB_KNOB_DEFAULT)
};

#define FB_PTYPE_FB_UNIT_PAGES		ulong
#define FB_PTYPE_FB_UNIT_PAGES_PER_S	ulong
#define FB_PTYPE_FB_UNIT_ORDER		uint
#define FB_PTYPE_FB_UNIT_MS		uint
#define FB_PTYPE_FB_UNIT_WORD		charp
#define FB_PTYPE_FB_UNIT_CPUS		uint

#define FB_PFIELD_FB_UNIT_PAGES		ul
#define FB_PFIELD_FB_UNIT_PAGES_PER_S	ul
#define FB_PFIELD_FB_UNIT_ORDER		ui
#define FB_PFIELD_FB_UNIT_MS		ui
#define FB_PFIELD_FB_UNIT_WORD		word
#define FB_PFIELD_FB_UNIT_CPUS		ui

/*
 * The default, as it reads in the parameter's description (@spelt: as the
 * table spells it, so that a computed default reads FB_KNOB_AUTO).
 */
#define FB_PDEF_FB_UNIT_PAGES(def, spelt)	spelt
#define FB_PDEF_FB_UNIT_PAGES_PER_S(def, spelt)	__stringify(def)
#define FB_PDEF_FB_UNIT_ORDER(def, spelt)	__stringify(def)
#define FB_PDEF_FB_UNIT_MS(def, spelt)		__stringify(def)
#define FB_PDEF_FB_UNIT_WORD(def, spelt)	def
#define FB_PDEF_FB_UNIT_CPUS(def, spelt)	__stringify(def)

/* The range, as it reads there: page counts are bounded by the RAM. */
#define FB_WORD_SP(value, word)		" " word
#define FB_PRANGE_FB_UNIT_PAGES(min, max, words)	__stringify(min) "..RAM"
#define FB_PRANGE_FB_UNIT_PAGES_PER_S(min, max, words)	\
	__stringify(min) ".." __stringify(max) " pages/s"
#define FB_PRANGE_FB_UNIT_ORDER(min, max, words)	\
	__stringify(min) ".." __stringify(max)
#define FB_PRANGE_FB_UNIT_MS(min, max, words)		\
	__stringify(min) ".." __stringify(max) " ms"
#define FB_PRANGE_FB_UNIT_WORD(min, max, words)	"one of" words(FB_WORD_SP)
#define FB_PRANGE_FB_UNIT_CPUS(min, max, words)		\
	__stringify(min) ".." __stringify(max) " CPUs"

/* What each parameter does; the table adds the range and the default. */
#define FB_DESC_guest_target_pages \
	"4 KiB pages to hold whatever the host asks; 0 follows the host"
#define FB_DESC_max_pages	"cap on the balloon in 4 KiB pages; 0 is no cap"
#define FB_DESC_reserve_pages \
	"inflation never takes MemAvailable below this many 4 KiB pages; 0 is none (in-tree behaviour); FB_KNOB_AUTO: the zones' high watermarks + RAM/64 + 16 MiB, computed when the device binds"
#define FB_DESC_floor_pages \
	"keep MemAvailable above this many 4 KiB pages: inflation stops a band (1/32, at least 2 MiB) above it, deflate restores it; 0 is none"
#define FB_DESC_inflate_limit_pages_per_s \
	"most 4 KiB pages inflated per second; 0 is no limit"
#define FB_DESC_inflate_cpus \
	"CPUs that take and zero blocks at once in a large inflate, each at normal priority beside the guest's own work there; 0 is all online CPUs, 1 only the balloon's worker"
#define FB_DESC_max_order \
	"largest allocation order tried (0: 4 KiB only, like virtio_balloon)"
#define FB_DESC_defrag \
	"defragmentation: off, on (when no block is free) or heal (also trade 4 KiB pages for blocks later)"
#define FB_DESC_defrag_ms \
	"time an inflate may spend evacuating pageblocks per 64 MiB it takes"
#define FB_DESC_heal_ms		"pause between healing passes"
#define FB_DESC_oom_pages \
	"4 KiB pages given back per OOM notification or shrinker call"
#define FB_DESC_surrender_path \
	"how blocks reach the host: auto, inflate (queue) or report (ranges)"

#define fb_module_param(name, field, type)				\
	module_param_named(name, fb_params[FB_KNOB_##name].field, type, 0444)

#define FB_KNOB_PARAM(_name, _unit, _min, _max, _def, _words)		\
	fb_module_param(_name, FB_PFIELD_##_unit, FB_PTYPE_##_unit);	\
	MODULE_PARM_DESC(_name, FB_DESC_##_name "; "			\
			 FB_PRANGE_##_unit(_min, _max, _words)		\
			 " [" FB_PDEF_##_unit(_def, #_def) "]");

FB_KNOBS(FB_KNOB_PARAM)

/* The index of @val among @k's words, or -EINVAL. */
int fb_knob_lookup(const struct fb_knob *k, const char *val)
{
	unsigned int i;

	for (i = 0; k->words[i]; i++)
		if (sysfs_streq(val, k->words[i]))
			return i;
	return -EINVAL;
}

/* @k's upper bound on a guest with @ram pages. */
unsigned long fb_knob_max(const struct fb_knob *k, unsigned long ram)
{
	return k->max_is_ram ? ram : k->max;
}

/* @k's words, "a, b, c" (@last: "a, b or c"), for messages. Returns @buf. */
char *fb_knob_words(const struct fb_knob *k, const char *last, char *buf,
		    size_t len)
{
	size_t n = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; k->words[i]; i++)
		n += scnprintf(buf + n, len - n, "%s%s",
			       !i ? "" : k->words[i + 1] ? ", " : last,
			       k->words[i]);
	return buf;
}

/* Whether @k's parameter is a uint (orders, times, CPUs) or a ulong. */
static bool fb_param_is_uint(const struct fb_knob *k)
{
	return k->unit == FB_UNIT_ORDER || k->unit == FB_UNIT_MS ||
	       k->unit == FB_UNIT_CPUS;
}

/* Parameter @id's value, brought into range for a guest of @ram pages. */
static unsigned long fb_param_value(unsigned int id, unsigned long ram)
{
	const struct fb_knob *k = &fb_knobs[id];
	unsigned long val;

	if (k->unit == FB_UNIT_WORD)
		return max(fb_knob_lookup(k, fb_params[id].word), 0);
	val = fb_param_is_uint(k) ? fb_params[id].ui : fb_params[id].ul;
	if (k->auto_def && val == FB_KNOB_AUTO)
		return val;
	return clamp(val, k->min, fb_knob_max(k, ram));
}

/*
 * Seed a new device's tunables. fb_knobs_check_params() refused nonsense at
 * load; the page counts are clamped again here because RAM may have changed
 * since. A computed default stays FB_KNOB_AUTO, for probe to compute
 * (fb_reserve_init()).
 */
void fb_config_defaults(struct fb_balloon *fb)
{
	struct fb_config *cfg = &fb->cfg;
	unsigned long ram = fb->ram_pages;

	cfg->guest_target = fb_param_value(FB_KNOB_guest_target_pages, ram);
	cfg->max_pages = fb_param_value(FB_KNOB_max_pages, ram);
	cfg->floor_pages = fb_param_value(FB_KNOB_floor_pages, ram);
	cfg->reserve_pages = fb_param_value(FB_KNOB_reserve_pages, ram);
	cfg->inflate_limit = fb_param_value(FB_KNOB_inflate_limit_pages_per_s,
					    ram);
	cfg->inflate_cpus = fb_param_value(FB_KNOB_inflate_cpus, ram);
	cfg->max_order = fb_param_value(FB_KNOB_max_order, ram);
	cfg->defrag = fb_param_value(FB_KNOB_defrag, ram);
	cfg->defrag_ms = fb_param_value(FB_KNOB_defrag_ms, ram);
	cfg->heal_ms = fb_param_value(FB_KNOB_heal_ms, ram);
	cfg->oom_pages = fb_param_value(FB_KNOB_oom_pages, ram);
	cfg->path = fb_param_value(FB_KNOB_surrender_path, ram);
}

static int __init fb_check_param(unsigned int id)
{
	const struct fb_knob *k = &fb_knobs[id];
	unsigned long ram = totalram_pages();
	unsigned long val, max = fb_knob_max(k, ram);
	char words[64];

	if (k->unit == FB_UNIT_WORD) {
		if (fb_knob_lookup(k, fb_params[id].word) >= 0)
			return 0;
		pr_err("%s=%s: must be %s\n", k->name, fb_params[id].word,
		       fb_knob_words(k, " or ", words, sizeof(words)));
		return -EINVAL;
	}
	val = fb_param_is_uint(k) ? fb_params[id].ui : fb_params[id].ul;
	if ((val >= k->min && val <= max) ||
	    (k->auto_def && val == FB_KNOB_AUTO))
		return 0;
	if (k->unit == FB_UNIT_PAGES) {
		pr_err("%s=%lu: must be %lu..%lu (4 KiB pages; the guest has %lu MiB)\n",
		       k->name, val, k->min, max, ram >> (20 - PAGE_SHIFT));
		return -ERANGE;
	}
	pr_err("%s=%lu: must be %lu..%lu\n", k->name, val, k->min, max);
	/* max_order has always failed the load with EINVAL, the rest ERANGE */
	return k->unit == FB_UNIT_ORDER ? -EINVAL : -ERANGE;
}

/* Refuse to load with a default that makes no sense, and say which. */
int __init fb_knobs_check_params(void)
{
	unsigned int id;
	int err;

	/* max_order counts guest pages: its largest is a 2 MiB block */
	BUILD_BUG_ON(FB_MAX_ORDER_LIMIT != FB_BLOCK_ORDER);

	for (id = 0; id < FB_NR_KNOBS; id++) {
		err = fb_check_param(id);
		if (err)
			return err;
	}
	return 0;
}
