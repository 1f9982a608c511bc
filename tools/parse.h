/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloonctl: parsing and formatting of values (sizes, rates, percentages,
 * durations). No I/O and no global state, so a fuzzer can drive it.
 */
#ifndef BALLOONCTL_PARSE_H
#define BALLOONCTL_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Why a value did not parse; fbp_strerror() gives the words. */
enum fbp_err {
	FBP_OK = 0,
	FBP_EMPTY,		/* "" */
	FBP_NEGATIVE,		/* leading '-' */
	FBP_SYNTAX,		/* no digits, or junk where a number belongs */
	FBP_UNIT,		/* unknown or misplaced unit suffix */
	FBP_OVERFLOW,		/* does not fit in 64 bits */
	FBP_PARTIAL_PAGE,	/* bytes that are not whole 4 KiB pages */
	FBP_FRACTION,		/* fraction where a whole number is needed */
	FBP_PRECISION,		/* more decimals than we keep */
	FBP_NO_RAM,		/* N% but the guest's RAM is unknown */
};

/* Flags for fbp_parse_pages(). */
#define FBP_PERCENT	0x1	/* "N%" allowed: percent of ram_pages */
#define FBP_PER_SEC	0x2	/* a rate: optional "/s" after the unit */

const char *fbp_strerror(enum fbp_err err);

/*
 * A page count: "N" (4 KiB pages), "N[.F]{K,M,G,T}[B|iB]" or "NB" (bytes,
 * binary units, must come to whole pages), "N[.F]%" of ram_pages (rounded
 * down) when FBP_PERCENT. With FBP_PER_SEC any of these may end in "/s".
 */
enum fbp_err fbp_parse_pages(const char *s, unsigned int flags,
			     uint64_t ram_pages, uint64_t *pages);

/* A plain non-negative decimal integer, nothing else. */
enum fbp_err fbp_parse_uint(const char *s, uint64_t *val);

/* A duration in milliseconds: "N", "Nms", "N[.F]s". */
enum fbp_err fbp_parse_ms(const char *s, uint64_t *ms);

/* A duration in seconds, "N[.F]", to milliseconds (watch --interval). */
enum fbp_err fbp_parse_seconds(const char *s, uint64_t *ms);

/*
 * @pages as the largest binary unit that holds it exactly ("2G", "1536M",
 * "4K", "0"), @suffix appended (e.g. "/s"). Returns @buf.
 */
char *fbp_format_size(char *buf, size_t len, uint64_t pages,
		      const char *suffix);

#endif /* BALLOONCTL_PARSE_H */
