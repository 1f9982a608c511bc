// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: parsing and formatting of values. Pure functions: every input
 * string either yields a value or names what is wrong with it.
 */
#include <stdio.h>
#include <string.h>

#include <linux/fastballoon.h>

#include "parse.h"

/* Fraction digits kept: 10^6 * 2^40 (T) still fits in 64 bits. */
#define FBP_MAX_DECIMALS	6

/* A decimal "I[.F]" as I + frac / scale. */
struct fbp_dec {
	uint64_t ip;
	uint64_t frac;
	uint64_t scale;		/* 10^(fraction digits); 1 without a fraction */
};

static int fbp_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static char fbp_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Parse "I[.F]" at *@sp, advance *@sp past it. */
static enum fbp_err fbp_parse_dec(const char **sp, struct fbp_dec *d)
{
	const char *s = *sp;
	int ndec = 0;

	if (*s == '\0')
		return FBP_EMPTY;
	if (*s == '-')
		return FBP_NEGATIVE;
	if (!fbp_isdigit(*s))
		return FBP_SYNTAX;

	d->ip = 0;
	d->frac = 0;
	d->scale = 1;
	for (; fbp_isdigit(*s); s++) {
		if (__builtin_mul_overflow(d->ip, 10, &d->ip) ||
		    __builtin_add_overflow(d->ip, (uint64_t)(*s - '0'), &d->ip))
			return FBP_OVERFLOW;
	}
	if (*s == '.') {
		s++;
		if (!fbp_isdigit(*s))
			return FBP_SYNTAX;
		for (; fbp_isdigit(*s); s++) {
			if (++ndec > FBP_MAX_DECIMALS)
				return FBP_PRECISION;
			d->frac = d->frac * 10 + (uint64_t)(*s - '0');
			d->scale *= 10;
		}
	}
	*sp = s;
	return FBP_OK;
}

/* A number at the start of @*sp (NULL is empty), as fbp_parse_dec(). */
static enum fbp_err fbp_number(const char **sp, struct fbp_dec *d)
{
	return *sp ? fbp_parse_dec(sp, d) : FBP_EMPTY;
}

/* @d * @mult, exactly: FBP_FRACTION if the product is not whole. */
static enum fbp_err fbp_dec_mul(const struct fbp_dec *d, uint64_t mult,
				uint64_t *out)
{
	uint64_t whole, part;

	if (__builtin_mul_overflow(d->ip, mult, &whole))
		return FBP_OVERFLOW;
	if (__builtin_mul_overflow(d->frac, mult, &part))
		return FBP_OVERFLOW;
	if (part % d->scale)
		return FBP_FRACTION;
	if (__builtin_add_overflow(whole, part / d->scale, out))
		return FBP_OVERFLOW;
	return FBP_OK;
}

const char *fbp_strerror(enum fbp_err err)
{
	static const char *const msg[] = {
		[FBP_OK]		= "no error",
		[FBP_EMPTY]		= "empty value",
		[FBP_NEGATIVE]		= "negative values are not allowed",
		[FBP_SYNTAX]		= "not a number",
		[FBP_UNIT]		= "unknown unit",
		[FBP_OVERFLOW]		= "too large (does not fit in 64 bits)",
		[FBP_PARTIAL_PAGE]	= "not a whole number of 4 KiB pages",
		[FBP_FRACTION]		= "not a whole number",
		[FBP_PRECISION]		= "too many decimal places (at most 6)",
		[FBP_NO_RAM]		= "the guest's RAM size (ram_pages) is unknown, so % cannot be used",
	};

	if ((unsigned int)err >= sizeof(msg) / sizeof(msg[0]))
		return "unknown error";
	return msg[err];
}

/* Binary unit letter to its shift, or -1. */
static int fbp_unit_shift(char c)
{
	switch (fbp_lower(c)) {
	case 'k': return 10;
	case 'm': return 20;
	case 'g': return 30;
	case 't': return 40;
	default:  return -1;
	}
}

/* @s is "/s" or "" when @flags allow a rate suffix; otherwise only "". */
static int fbp_at_end(const char *s, unsigned int flags)
{
	if ((flags & FBP_PER_SEC) && s[0] == '/' && fbp_lower(s[1]) == 's')
		s += 2;
	return *s == '\0';
}

static enum fbp_err fbp_percent(const struct fbp_dec *d, uint64_t ram_pages,
				uint64_t *pages)
{
	uint64_t pct, den, q, r, pq, pr, hi, mid;

	if (!ram_pages)
		return FBP_NO_RAM;
	if (__builtin_mul_overflow(d->ip, d->scale, &pct) ||
	    __builtin_add_overflow(pct, d->frac, &pct))
		return FBP_OVERFLOW;
	/*
	 * pages = ram * pct / den, rounded down, without the 128-bit product:
	 * with ram = q * den + r and pct = pq * den + pr that is
	 * q * pct + r * pq + r * pr / den, where r * pr < den^2 <= 10^16. Each
	 * term is part of the result, so one that overflows means the result
	 * does; r * pct, which a huge percentage of a small RAM overflows, is
	 * never formed.
	 */
	den = 100 * d->scale;
	q = ram_pages / den;
	r = ram_pages % den;
	pq = pct / den;
	pr = pct % den;
	if (__builtin_mul_overflow(q, pct, &hi) ||
	    __builtin_mul_overflow(r, pq, &mid) ||
	    __builtin_add_overflow(hi, mid, &hi) ||
	    __builtin_add_overflow(hi, r * pr / den, pages))
		return FBP_OVERFLOW;
	return FBP_OK;
}

enum fbp_err fbp_parse_pages(const char *s, unsigned int flags,
			     uint64_t ram_pages, uint64_t *pages)
{
	struct fbp_dec d;
	enum fbp_err err;
	uint64_t bytes;
	int shift;

	err = fbp_number(&s, &d);
	if (err)
		return err;

	/* plain number: pages */
	if (fbp_at_end(s, flags)) {
		if (d.frac)
			return FBP_FRACTION;
		*pages = d.ip;
		return FBP_OK;
	}

	if (*s == '%') {
		if (!(flags & FBP_PERCENT) || s[1] != '\0')
			return FBP_UNIT;
		return fbp_percent(&d, ram_pages, pages);
	}

	shift = fbp_unit_shift(*s);
	if (shift >= 0) {
		s++;
		if (fbp_lower(s[0]) == 'i' && fbp_lower(s[1]) == 'b')
			s += 2;
		else if (fbp_lower(s[0]) == 'b')
			s++;
	} else if (fbp_lower(*s) == 'b') {
		shift = 0;
		s++;
	} else {
		return FBP_UNIT;
	}
	if (!fbp_at_end(s, flags))
		return FBP_UNIT;

	err = fbp_dec_mul(&d, (uint64_t)1 << shift, &bytes);
	if (err == FBP_FRACTION)
		return FBP_PARTIAL_PAGE;	/* not even whole bytes */
	if (err)
		return err;
	if (bytes & ((1U << FB_PAGE_SHIFT) - 1))
		return FBP_PARTIAL_PAGE;
	*pages = bytes >> FB_PAGE_SHIFT;
	return FBP_OK;
}

enum fbp_err fbp_parse_uint(const char *s, uint64_t *val)
{
	struct fbp_dec d;
	enum fbp_err err;

	err = fbp_number(&s, &d);
	if (err)
		return err;
	if (*s)
		return FBP_SYNTAX;
	if (d.frac || d.scale != 1)
		return FBP_FRACTION;
	*val = d.ip;
	return FBP_OK;
}

/*
 * A duration in milliseconds: "N" means N * @bare ms; "Ns" seconds; "Nms"
 * only where a bare number is milliseconds too (@bare 1).
 */
static enum fbp_err fbp_parse_time(const char *s, uint64_t bare, uint64_t *ms)
{
	struct fbp_dec d;
	enum fbp_err err;

	err = fbp_number(&s, &d);
	if (err)
		return err;
	if (*s == '\0')
		return fbp_dec_mul(&d, bare, ms);
	if (bare == 1 && strcmp(s, "ms") == 0)
		return fbp_dec_mul(&d, 1, ms);
	if (strcmp(s, "s") == 0)
		return fbp_dec_mul(&d, 1000, ms);
	return FBP_UNIT;
}

enum fbp_err fbp_parse_ms(const char *s, uint64_t *ms)
{
	return fbp_parse_time(s, 1, ms);
}

enum fbp_err fbp_parse_seconds(const char *s, uint64_t *ms)
{
	return fbp_parse_time(s, 1000, ms);
}

char *fbp_format_size(char *buf, size_t len, uint64_t pages,
		      const char *suffix)
{
	static const char units[] = "KMGT";
	uint64_t bytes;
	int i;

	if (!suffix)
		suffix = "";
	if (pages == 0) {
		snprintf(buf, len, "0%s", suffix);
		return buf;
	}
	if (pages > (UINT64_MAX >> FB_PAGE_SHIFT)) {
		snprintf(buf, len, "%llu pages%s", (unsigned long long)pages,
			 suffix);
		return buf;
	}
	bytes = pages << FB_PAGE_SHIFT;
	for (i = 3; i > 0; i--)
		if (!(bytes & ((1ULL << (10 * (i + 1))) - 1)))
			break;
	snprintf(buf, len, "%llu%c%s",
		 (unsigned long long)(bytes >> (10 * (i + 1))), units[i], suffix);
	return buf;
}
