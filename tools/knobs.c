// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: every attribute the tool knows, by its uapi name, and how a
 * knob's value is parsed and range-checked before it reaches the kernel.
 * The knobs' names, units, ranges, defaults and words are the uapi header's
 * FB_KNOBS table; only the aliases and the words for 0 are the tool's.
 */
#define _GNU_SOURCE		/* vasprintf */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "balloonctl.h"
#include "parse.h"

/*
 * What the tool adds to the uapi table: short names to type, and what 0
 * means where it means something else than a number (status, help knobs).
 */
#define BC_ALIASES_guest_target_pages	{ "target" }
#define BC_ALIASES_max_pages		{ "max", "cap" }
#define BC_ALIASES_floor_pages		{ "floor" }
#define BC_ALIASES_reserve_pages	{ "reserve" }
#define BC_ALIASES_inflate_limit_pages_per_s { "rate", "limit" }
#define BC_ALIASES_inflate_cpus		{ "cpus" }
#define BC_ALIASES_max_order		{ "order" }
#define BC_ALIASES_defrag		{ NULL }
#define BC_ALIASES_defrag_ms		{ NULL }
#define BC_ALIASES_heal_ms		{ NULL }
#define BC_ALIASES_oom_pages		{ "oom" }
#define BC_ALIASES_surrender_path	{ "path" }

#define BC_ZERO_guest_target_pages	"follow the host's target"
#define BC_ZERO_max_pages		"no cap"
#define BC_ZERO_floor_pages		"no floor"
#define BC_ZERO_reserve_pages		"no reserve"
#define BC_ZERO_inflate_limit_pages_per_s "unlimited"
#define BC_ZERO_inflate_cpus		"all online CPUs"
#define BC_ZERO_max_order		NULL
#define BC_ZERO_defrag			NULL
#define BC_ZERO_defrag_ms		NULL
#define BC_ZERO_heal_ms			NULL
#define BC_ZERO_oom_pages		NULL
#define BC_ZERO_surrender_path		NULL

/* A default as balloonctl prints it: a number's digits, or the word. */
#define BC_STR(x)			#x
#define BC_XSTR(x)			BC_STR(x)
#define BC_DEF_FB_UNIT_PAGES(def)	BC_XSTR(def)
#define BC_DEF_FB_UNIT_PAGES_PER_S(def)	BC_XSTR(def)
#define BC_DEF_FB_UNIT_ORDER(def)	BC_XSTR(def)
#define BC_DEF_FB_UNIT_MS(def)		BC_XSTR(def)
#define BC_DEF_FB_UNIT_WORD(def)	def
#define BC_DEF_FB_UNIT_CPUS(def)	BC_XSTR(def)
/* A page count the driver computes when the device binds reads "auto". */
#define BC_AUTO_FB_UNIT_PAGES(def)	((def) == FB_KNOB_AUTO)
#define BC_AUTO_FB_UNIT_PAGES_PER_S(def) 0
#define BC_AUTO_FB_UNIT_ORDER(def)	0
#define BC_AUTO_FB_UNIT_MS(def)		0
#define BC_AUTO_FB_UNIT_WORD(def)	0
#define BC_AUTO_FB_UNIT_CPUS(def)	0

#define BC_WORD(value, word)		word,

#define BC_KNOB(name_, unit_, min_, max_, def_, words_)			\
	{								\
		.name = #name_,						\
		.aliases = BC_ALIASES_##name_,				\
		.unit = unit_,						\
		.min = min_,						\
		.max = (max_) == FB_KNOB_RAM ? 0 : (max_),		\
		.max_is_ram = (max_) == FB_KNOB_RAM,			\
		.choices = (const char *const []){ words_(BC_WORD) NULL }, \
		.def = BC_AUTO_##unit_(def_) ? "auto" : BC_DEF_##unit_(def_), \
		.zero = BC_ZERO_##name_,				\
	},

/* The knobs, in the uapi table's order, which is the order status shows. */
const struct bc_knob bc_knobs[] = {
	FB_KNOBS(BC_KNOB)
};
const size_t bc_nr_knobs = sizeof(bc_knobs) / sizeof(bc_knobs[0]);

/* Read-only values that are not counters; features is a string. */
const char *const bc_gauges[] = {
	FB_ATTR_TARGET_PAGES,
	FB_ATTR_EFFECTIVE,
	FB_ATTR_ACTUAL_PAGES,
	FB_ATTR_BLOCKS_2M,
	FB_ATTR_PAGES_4K,
	FB_ATTR_RAM,
	FB_ATTR_RESERVE_AUTO,
	FB_ATTR_INFLATE_RATE,
	FB_ATTR_DEFLATE_RATE,
	FB_ATTR_PATH_ACTIVE,
	FB_ATTR_FEATURES,
};
const size_t bc_nr_gauges = sizeof(bc_gauges) / sizeof(bc_gauges[0]);

const char *const bc_counters[] = {
	FB_ATTR_INFLATED,
	FB_ATTR_DEFLATED,
	FB_ATTR_MIGRATED,
	FB_ATTR_OOM_RELEASED,
	FB_ATTR_SHRINK_RELEASED,
	FB_ATTR_FLOOR_RELEASED,
	FB_ATTR_HINTED,
	FB_ATTR_REPORTED,
	FB_ATTR_RANGED,
	FB_ATTR_ALLOC_FAILS,
	FB_ATTR_DEFRAG_TRIES,
	FB_ATTR_DEFRAG_OK,
	FB_ATTR_DEFRAG_US,
	FB_ATTR_HEAL_TRADES,
};
const size_t bc_nr_counters = sizeof(bc_counters) / sizeof(bc_counters[0]);

const struct bc_knob *bc_knob_find(const char *name)
{
	size_t i, j;

	for (i = 0; i < bc_nr_knobs; i++) {
		if (strcmp(bc_knobs[i].name, name) == 0)
			return &bc_knobs[i];
		for (j = 0; bc_knobs[i].aliases[j]; j++)
			if (strcmp(bc_knobs[i].aliases[j], name) == 0)
				return &bc_knobs[i];
	}
	return NULL;
}

bool bc_readonly_attr(const char *name)
{
	size_t i;

	for (i = 0; i < bc_nr_gauges; i++)
		if (strcmp(bc_gauges[i], name) == 0)
			return true;
	for (i = 0; i < bc_nr_counters; i++)
		if (strcmp(bc_counters[i], name) == 0)
			return true;
	return false;
}

void bc_knob_range(const struct bc_knob *k, uint64_t ram_pages, bool ram_known,
		   char *buf, size_t len)
{
	char lo[48], hi[48];
	size_t n;
	int i;

	switch (k->unit) {
	case FB_UNIT_PAGES:
		if (!ram_known) {
			snprintf(buf, len, "at least %llu pages; the upper bound, "
				 FB_ATTR_RAM ", could not be read",
				 (unsigned long long)k->min);
			break;
		}
		snprintf(buf, len, "%s..%s, %llu..%llu pages",
			 fbp_format_size(lo, sizeof(lo), k->min, NULL),
			 fbp_format_size(hi, sizeof(hi), ram_pages, NULL),
			 (unsigned long long)k->min,
			 (unsigned long long)ram_pages);
		break;
	case FB_UNIT_PAGES_PER_S:
		snprintf(buf, len, "%s..%s, %llu..%llu pages/s",
			 fbp_format_size(lo, sizeof(lo), k->min,
					 k->min ? "/s" : NULL),
			 fbp_format_size(hi, sizeof(hi), k->max, "/s"),
			 (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	case FB_UNIT_ORDER:
		snprintf(buf, len, "%llu..%llu", (unsigned long long)k->min,
			 (unsigned long long)k->max);
		break;
	case FB_UNIT_MS:
		snprintf(buf, len, "%llu..%llu ms", (unsigned long long)k->min,
			 (unsigned long long)k->max);
		break;
	case FB_UNIT_CPUS:
		snprintf(buf, len, "%llu..%llu CPUs", (unsigned long long)k->min,
			 (unsigned long long)k->max);
		break;
	case FB_UNIT_WORD:
		n = (size_t)snprintf(buf, len, "one of");
		for (i = 0; k->choices[i] && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, " %s",
					      k->choices[i]);
		break;
	}
}

static const char *bc_knob_hint(const struct bc_knob *k)
{
	switch (k->unit) {
	case FB_UNIT_PAGES:
		return "use 4 KiB pages (e.g. 262144), a size with K/M/G/T "
		       "(e.g. 1G, 512MiB) or a percentage of RAM (e.g. 25%)";
	case FB_UNIT_PAGES_PER_S:
		return "use 4 KiB pages per second (e.g. 25600) or a size per "
		       "second (e.g. 100M or 100M/s)";
	case FB_UNIT_ORDER:
	case FB_UNIT_CPUS:
		return "use a whole number";
	case FB_UNIT_MS:
		return "use milliseconds (e.g. 1000, 1000ms or 1s)";
	case FB_UNIT_WORD:
		break;
	}
	return "";
}

/* *@why = the message, allocated; NULL if there is no memory for it. */
static void bc_why(char **why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bc_why(char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(why, fmt, ap) < 0)
		*why = NULL;
	va_end(ap);
}

/*
 * Parse @arg for knob @k (typed by the user as @typed), check its range and
 * put the value to write in @out. Returns 0, -EINVAL (does not parse) or
 * -ERANGE (out of range); on an error *@why is what to tell the user, for
 * the caller to print and free (NULL if there was no memory for it).
 */
int bc_knob_parse(const struct bc_knob *k, const char *typed, const char *arg,
		  uint64_t ram_pages, bool ram_known, char *out, size_t outlen,
		  char **why)
{
	char range[128];
	enum fbp_err err = FBP_OK;
	uint64_t val = 0, max;
	int i;

	*why = NULL;
	bc_knob_range(k, ram_pages, ram_known, range, sizeof(range));

	switch (k->unit) {
	case FB_UNIT_WORD:
		for (i = 0; k->choices[i]; i++) {
			if (strcmp(k->choices[i], arg) == 0) {
				snprintf(out, outlen, "%s", arg);
				return 0;
			}
		}
		if (!*arg)
			bc_why(why, "%s: empty value; use %s", typed, range);
		else
			bc_why(why, "%s: invalid value '%s'; use %s", typed, arg,
			       range);
		return -EINVAL;
	case FB_UNIT_PAGES:
		err = fbp_parse_pages(arg, FBP_PERCENT, ram_pages, &val);
		break;
	case FB_UNIT_PAGES_PER_S:
		err = fbp_parse_pages(arg, FBP_PER_SEC, 0, &val);
		break;
	case FB_UNIT_ORDER:
	case FB_UNIT_CPUS:
		err = fbp_parse_uint(arg, &val);
		break;
	case FB_UNIT_MS:
		err = fbp_parse_ms(arg, &val);
		break;
	}

	if (err == FBP_EMPTY) {
		bc_why(why, "%s: empty value; %s", typed, bc_knob_hint(k));
		return -EINVAL;
	}
	if (err == FBP_OVERFLOW) {
		bc_why(why, "%s: '%s' is %s; the range is %s", typed, arg,
		       fbp_strerror(err), range);
		return -ERANGE;
	}
	if (err) {
		bc_why(why, "%s: invalid value '%s': %s; %s", typed, arg,
		       fbp_strerror(err), bc_knob_hint(k));
		return -EINVAL;
	}

	max = k->max_is_ram ? (ram_known ? ram_pages : UINT64_MAX) : k->max;
	if (val < k->min || val > max) {
		bc_why(why, "%s: %s is out of range (%s)", typed, arg, range);
		return -ERANGE;
	}
	snprintf(out, outlen, "%llu", (unsigned long long)val);
	return 0;
}
