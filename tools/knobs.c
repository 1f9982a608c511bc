// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: every attribute the tool knows, by its uapi name, and how a
 * knob's value is parsed and range-checked before it reaches the kernel.
 */
#define _GNU_SOURCE		/* vasprintf */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "balloonctl.h"
#include "parse.h"

static const char *const bc_defrag_modes[] = { "off", "on", "heal", NULL };
static const char *const bc_paths[] = { "auto", "inflate", "report", NULL };

/* The knobs, in the order status shows them. Ranges as in the uapi header. */
const struct bc_knob bc_knobs[] = {
	{
		.name = FB_ATTR_GUEST_TARGET, .aliases = { "target" },
		.unit = FB_UNIT_PAGES, .max_is_ram = true,
		.def = "0", .zero = "follow the host's target",
	}, {
		.name = FB_ATTR_MAX_PAGES, .aliases = { "max", "cap" },
		.unit = FB_UNIT_PAGES, .max_is_ram = true,
		.def = "0", .zero = "no cap",
	}, {
		.name = FB_ATTR_FLOOR, .aliases = { "floor" },
		.unit = FB_UNIT_PAGES, .max_is_ram = true,
		.def = "0", .zero = "no floor",
	}, {
		.name = FB_ATTR_INFLATE_LIMIT, .aliases = { "rate", "limit" },
		.unit = FB_UNIT_PAGES_PER_S, .max = FB_INFLATE_LIMIT_MAX,
		.def = "0", .zero = "unlimited",
	}, {
		.name = FB_ATTR_MAX_ORDER, .aliases = { "order" },
		.unit = FB_UNIT_ORDER, .max = FB_MAX_ORDER_LIMIT,
		.def = "9",
	}, {
		.name = FB_ATTR_DEFRAG,
		.unit = FB_UNIT_WORD, .choices = bc_defrag_modes,
		.def = "heal",
	}, {
		.name = FB_ATTR_DEFRAG_MS,
		.unit = FB_UNIT_MS, .max = FB_DEFRAG_MS_MAX,
		.def = "1000",
	}, {
		.name = FB_ATTR_HEAL_MS,
		.unit = FB_UNIT_MS, .min = FB_HEAL_MS_MIN, .max = FB_HEAL_MS_MAX,
		.def = "5000",
	}, {
		.name = FB_ATTR_OOM_PAGES, .aliases = { "oom" },
		.unit = FB_UNIT_PAGES, .min = 1, .max_is_ram = true,
		.def = "4096",
	}, {
		.name = FB_ATTR_SURRENDER_PATH, .aliases = { "path" },
		.unit = FB_UNIT_WORD, .choices = bc_paths,
		.def = "auto",
	},
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
