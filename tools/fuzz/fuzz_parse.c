// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for tools/parse.c: every entry point gets every input.
 *
 * Input: byte 0 picks the output buffer length for fbp_format_size(),
 * bytes 1..8 are ram_pages (little endian), the rest is the value string
 * (cut at the first NUL). Shorter inputs leave the missing bytes 0.
 *
 * Beyond "no crash, no ASan/UBSan report", every value a parser accepts is
 * checked against an exact recomputation in 128-bit arithmetic, every
 * FBP_OVERFLOW against the exact value really not fitting in 64 bits, and
 * every page count fbp_format_size() prints must parse back to itself.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/fastballoon.h>

#include "../parse.h"

typedef unsigned __int128 u128;

/* "I[.F]" as the parsers see it, kept exactly (I saturates at 2^100). */
struct ref_dec {
	u128 ip;
	u128 frac;		/* the first 6 fraction digits */
	u128 scale;		/* 10^(those digits) */
	int ndec;		/* all fraction digits */
	const char *rest;
};

static const u128 REF_BIG = (u128)1 << 100;
static const u128 REF_U64_LIMIT = (u128)1 << 64;

static void fail(const char *what, const char *s, unsigned long long got,
		 unsigned long long want)
{
	fprintf(stderr, "fuzz_parse: %s: input '%s': got %llu, want %llu\n",
		what, s, got, want);
	abort();
}

static bool ref_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static char ref_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* false if @s does not start with a decimal number */
static bool ref_parse_dec(const char *s, struct ref_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->scale = 1;
	if (!ref_isdigit(*s))
		return false;
	for (; ref_isdigit(*s); s++) {
		d->ip = d->ip * 10 + (u128)(*s - '0');
		if (d->ip > REF_BIG)
			d->ip = REF_BIG;
	}
	if (*s == '.') {
		for (s++; ref_isdigit(*s); s++, d->ndec++) {
			if (d->ndec < 6) {
				d->frac = d->frac * 10 + (u128)(*s - '0');
				d->scale *= 10;
			}
		}
	}
	d->rest = s;
	return true;
}

/* rest without a trailing "/s" when @per_sec */
static size_t ref_rest_len(const struct ref_dec *d, bool per_sec)
{
	size_t n = strlen(d->rest);

	if (per_sec && n >= 2 && d->rest[n - 2] == '/' &&
	    ref_lower(d->rest[n - 1]) == 's')
		n -= 2;
	return n;
}

static int ref_shift(char c)
{
	switch (ref_lower(c)) {
	case 'k': return 10;
	case 'm': return 20;
	case 'g': return 30;
	case 't': return 40;
	case 'b': return 0;
	default:  return -1;
	}
}

/*
 * The exact number of pages @s denotes for fbp_parse_pages(); false when it
 * is not a whole number of pages / the form is not one we recompute.
 * *@exact is false when the value is beyond what we can compute exactly, or
 * (sizes) when it is 16 EiB or more, which the parser counts as overflow.
 */
static bool ref_pages(const char *s, unsigned int flags, uint64_t ram,
		      u128 *pages, bool *exact)
{
	struct ref_dec d;
	size_t n;
	int shift;
	u128 num, bytes;

	*exact = true;
	if (!ref_parse_dec(s, &d) || d.ndec > 6)
		return false;
	n = ref_rest_len(&d, flags & FBP_PER_SEC);
	num = d.ip * d.scale + d.frac;		/* value * scale */
	if (n == 0) {
		if (d.frac)
			return false;
		*pages = d.ip;
		*exact = d.ip < REF_BIG;
		return true;
	}
	if (d.rest[0] == '%' && n == 1 && strlen(d.rest) == 1) {
		/* ram * value / 100, rounded down; ram * num < 2^128 */
		if (num >= REF_U64_LIMIT) {
			*exact = false;
			return true;
		}
		*pages = (u128)ram * num / (100 * d.scale);
		return true;
	}
	shift = ref_shift(d.rest[0]);
	if (shift < 0)
		return false;
	if (d.ip >= REF_U64_LIMIT) {
		*exact = false;
		return true;
	}
	bytes = num << shift;
	if (bytes % d.scale)
		return false;
	bytes /= d.scale;
	/* sizes are counted in bytes: 16 EiB and up is FBP_OVERFLOW by design */
	*exact = bytes < REF_U64_LIMIT;
	if (bytes % (1U << FB_PAGE_SHIFT))
		return false;
	*pages = bytes >> FB_PAGE_SHIFT;
	return true;
}

static void check_err(enum fbp_err err)
{
	const char *msg = fbp_strerror(err);

	if (!msg || !*msg || strcmp(msg, "unknown error") == 0)
		fail("fbp_strerror: no words for an error it returned", "",
		     (unsigned long long)err, 0);
}

static void check_pages(const char *s, unsigned int flags, uint64_t ram)
{
	enum fbp_err err;
	uint64_t got = 0xdeadbeef;
	bool ok, exact;
	u128 want;

	err = fbp_parse_pages(s, flags, ram, &got);
	check_err(err);
	ok = ref_pages(s, flags, ram, &want, &exact);
	if (err == FBP_OK) {
		if (!ok || !exact)
			fail("fbp_parse_pages accepted a value the reference "
			     "refuses or cannot represent", s, got, 0);
		if (want != got)
			fail("fbp_parse_pages: wrong value", s, got,
			     (unsigned long long)want);
	} else if (err == FBP_OVERFLOW) {
		if (ok && exact && want < REF_U64_LIMIT)
			fail("fbp_parse_pages: FBP_OVERFLOW for a value that "
			     "fits in 64 bits", s, 0, (unsigned long long)want);
	}
}

/* "N", "Nms", "N[.F]s" (fbp_parse_ms) or "N[.F]", "N[.F]s" (seconds) */
static void check_ms(const char *s, bool seconds)
{
	enum fbp_err err;
	struct ref_dec d;
	uint64_t got = 0xdeadbeef;
	u128 num, mult;

	err = seconds ? fbp_parse_seconds(s, &got) : fbp_parse_ms(s, &got);
	check_err(err);
	if (err != FBP_OK && err != FBP_OVERFLOW)
		return;
	if (!ref_parse_dec(s, &d))
		fail("fbp_parse_ms/seconds: a value or FBP_OVERFLOW for a "
		     "non-number", s, got, 0);
	/* FBP_OVERFLOW of the integer part comes before the rest is read */
	if (err == FBP_OK && (d.ndec > 6 || (*d.rest && strcmp(d.rest, "s") &&
					     (seconds || strcmp(d.rest, "ms")))))
		fail("fbp_parse_ms/seconds accepted a bad fraction or unit", s,
		     got, 0);
	if (seconds || strcmp(d.rest, "s") == 0)
		mult = 1000;
	else
		mult = 1;
	if (d.ip >= REF_U64_LIMIT || d.ndec > 6) {
		if (err == FBP_OK)
			fail("fbp_parse_ms/seconds: huge value accepted", s,
			     got, 0);
		return;
	}
	num = d.ip * d.scale + d.frac;
	if (err == FBP_OK) {
		if ((num * mult) % d.scale ||
		    (u128)got != num * mult / d.scale)
			fail("fbp_parse_ms/seconds: wrong value", s, got,
			     (unsigned long long)(num * mult / d.scale));
	} else if ((num * mult) / d.scale < REF_U64_LIMIT) {
		fail("fbp_parse_ms/seconds: FBP_OVERFLOW for a value that fits",
		     s, 0, (unsigned long long)(num * mult / d.scale));
	}
}

static void check_uint(const char *s)
{
	enum fbp_err err;
	struct ref_dec d;
	uint64_t got = 0xdeadbeef;

	err = fbp_parse_uint(s, &got);
	check_err(err);
	if (err != FBP_OK)
		return;
	if (!ref_parse_dec(s, &d) || *d.rest || d.ndec || d.ip != got)
		fail("fbp_parse_uint: wrong value", s, got,
		     (unsigned long long)d.ip);
}

/* fbp_format_size() into a buffer of exactly @len bytes, parsed back */
static void check_format(uint64_t pages, size_t len)
{
	static const char *const suffixes[] = { NULL, "", "/s", "/S" };
	char full[96];
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *buf = malloc(len);
		unsigned int flags = suffixes[i] && suffixes[i][0] ?
				     FBP_PER_SEC : 0;
		uint64_t back = 0;

		if (!buf)
			abort();
		fbp_format_size(buf, len, pages, suffixes[i]);
		if (strnlen(buf, len) >= len)
			fail("fbp_format_size: not NUL-terminated in its buffer",
			     "", pages, len);
		free(buf);

		fbp_format_size(full, sizeof(full), pages, suffixes[i]);
		if (pages > (UINT64_MAX >> FB_PAGE_SHIFT))
			continue;	/* printed as "N pages": not an input */
		if (fbp_parse_pages(full, flags, 0, &back) != FBP_OK ||
		    back != pages)
			fail("fbp_format_size output does not parse back", full,
			     back, pages);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int flag_sets[] = {
		0, FBP_PERCENT, FBP_PER_SEC, FBP_PERCENT | FBP_PER_SEC,
	};
	uint8_t head[9] = { 0 };
	uint64_t ram = 0, v;
	size_t i, n, buflen;
	char *s;

	n = size < sizeof(head) ? size : sizeof(head);
	memcpy(head, data, n);
	for (i = 0; i < 8; i++)
		ram |= (uint64_t)head[1 + i] << (8 * i);
	buflen = 1 + head[0] % 64;

	/* exactly as long as the string, so ASan sees any read past its NUL */
	n = size - n;
	s = malloc(n + 1);
	if (!s)
		return 0;
	memcpy(s, data + (size - n), n);
	s[n] = '\0';

	for (i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++)
		check_pages(s, flag_sets[i], ram);
	check_uint(s);
	check_ms(s, false);
	check_ms(s, true);
	if (fbp_parse_pages(NULL, 0, ram, &v) != FBP_EMPTY ||
	    fbp_parse_uint(NULL, &v) != FBP_EMPTY ||
	    fbp_parse_ms(NULL, &v) != FBP_EMPTY ||
	    fbp_parse_seconds(NULL, &v) != FBP_EMPTY)
		fail("a parser took NULL for a value", "(null)", 0, 0);

	check_format(ram, buflen);
	if (fbp_parse_pages(s, FBP_PERCENT | FBP_PER_SEC, ram, &v) == FBP_OK)
		check_format(v, buflen);
	for (i = 0; i <= FBP_NO_RAM + 1; i++)
		if (!fbp_strerror((enum fbp_err)i))
			fail("fbp_strerror returned NULL", "", i, 0);

	free(s);
	return 0;
}
