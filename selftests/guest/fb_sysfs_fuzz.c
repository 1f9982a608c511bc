// SPDX-License-Identifier: GPL-2.0
/*
 * fb_sysfs_fuzz: random and boundary writes to every attribute of the
 * fastballoon sysfs group (the names of include/uapi/linux/fastballoon.h,
 * and any other file the group has).
 *
 * FB_WRITES (default 256) writes per attribute, each one write(2) of bytes
 * made up from a seeded generator (FB_SEED, default time and pid; printed,
 * so a run can be repeated): boundary numbers in decimal, hex, octal-looking
 * and zero-padded forms, with signs, whitespace, CR, NUL and doubled
 * newlines; 2^32, 2^63, 2^64 and longer; the knobs' words mangled; random
 * bytes of every value; strings of 4095 to 65536 bytes.
 *
 * What a write must do is worked out here first (the model):
 *  - sysfs hands the store at most one page (4096 bytes) of what was
 *    written, and a successful write returns the number of bytes sysfs
 *    passed on (4096 for a longer write); an empty write is a no-op that
 *    returns 0; a NUL among the bytes passed on is EINVAL (fastballoon
 *    refuses what it could not read to the end);
 *  - a numeric knob takes a strict decimal number: an optional '+', then
 *    digits (leading zeros are decimal), then at most one '\n', nothing
 *    else (the kernel's kstrtoul); no digit or anything after them is
 *    EINVAL, a number over 2^64 - 1 or outside the knob's range ERANGE (a
 *    '-' followed by a number may fail with either);
 *  - a word knob takes one of its words with at most one '\n' after it;
 *    "report" needs the reporting queue; everything else is EINVAL;
 *  - a read-only attribute cannot be opened for writing (EACCES), or the
 *    write fails (EIO, EPERM).
 * A write that succeeds must read back as the model's value, and change no
 * other attribute of the group but effective_target_pages (and
 * surrender_path_active after surrender_path), which must then agree with
 * the knobs.  A write that fails must fail with the model's errno and
 * change nothing at all in the group.
 *
 * The balloon must be empty and the host's target 0 when this runs.  While
 * one knob is written the others are set so that nothing moves by itself:
 * guest_target_pages is written under a floor of ram_pages (no inflation
 * at all) and a cap of 256 pages (in case the floor failed).  Every knob
 * is written back as it was at the start.  Skips when fastballoon is not
 * bound to the balloon device.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <linux/fastballoon.h>
#include "fb_util.h"
#include "kselftest.h"

#define FB_SYSFS_PAGE	4096	/* what sysfs passes to a store, at most */
#define FB_MAX_ATTRS	64
#define FB_VAL_LEN	256
#define FB_INPUT_MAX	65536
#define FB_SHOW_BAD	8	/* mismatches printed per attribute */
#define FB_RAM		(~0ULL)	/* "ram_pages" as a bound */

struct fb_knob {
	const char *name;
	unsigned long long min, max;	/* max FB_RAM: ram_pages */
	const char *const *words;	/* NULL: a number */
};

static const char *const fb_defrag_words[] = { "off", "on", "heal", NULL };
static const char *const fb_path_words[] = { "auto", "inflate", "report", NULL };

/* guest_target_pages first: restored before the cap and the floor go. */
static const struct fb_knob fb_knobs[] = {
	{ FB_ATTR_GUEST_TARGET, 0, FB_RAM },
	{ FB_ATTR_MAX_PAGES, 0, FB_RAM },
	{ FB_ATTR_FLOOR, 0, FB_RAM },
	{ FB_ATTR_RESERVE, 0, FB_RAM },
	{ FB_ATTR_INFLATE_LIMIT, 0, FB_INFLATE_LIMIT_MAX },
	{ FB_ATTR_INFLATE_CPUS, 0, FB_INFLATE_CPUS_MAX },
	{ FB_ATTR_MAX_ORDER, 0, FB_MAX_ORDER_LIMIT },
	{ FB_ATTR_DEFRAG, 0, 0, fb_defrag_words },
	{ FB_ATTR_DEFRAG_MS, 0, FB_DEFRAG_MS_MAX },
	{ FB_ATTR_HEAL_MS, FB_HEAL_MS_MIN, FB_HEAL_MS_MAX },
	{ FB_ATTR_OOM_PAGES, 1, FB_RAM },
	{ FB_ATTR_SURRENDER_PATH, 0, 0, fb_path_words },
};
#define FB_NR_KNOBS	(sizeof(fb_knobs) / sizeof(fb_knobs[0]))

static const char *const fb_ro_attrs[] = {
	FB_ATTR_TARGET_PAGES, FB_ATTR_ACTUAL_PAGES, FB_ATTR_BLOCKS_2M,
	FB_ATTR_PAGES_4K, FB_ATTR_FEATURES, FB_ATTR_INFLATED, FB_ATTR_DEFLATED,
	FB_ATTR_MIGRATED, FB_ATTR_OOM_RELEASED, FB_ATTR_HINTED,
	FB_ATTR_REPORTED, FB_ATTR_ALLOC_FAILS, FB_ATTR_PATH_ACTIVE,
	FB_ATTR_RANGED, FB_ATTR_SHRINK_RELEASED, FB_ATTR_DEFRAG_TRIES,
	FB_ATTR_DEFRAG_OK, FB_ATTR_DEFRAG_US, FB_ATTR_HEAL_TRADES,
	FB_ATTR_FLOOR_RELEASED, FB_ATTR_RAM, FB_ATTR_EFFECTIVE,
	FB_ATTR_INFLATE_RATE, FB_ATTR_DEFLATE_RATE, FB_ATTR_RESERVE_AUTO,
};
#define FB_NR_RO	(sizeof(fb_ro_attrs) / sizeof(fb_ro_attrs[0]))

/* Every file of the group, open for reading, and its value. */
struct fb_attr {
	char name[256];
	int fd;
	const struct fb_knob *knob;	/* NULL: read-only */
};

static struct fb_attr attrs[FB_MAX_ATTRS];
static unsigned int nr_attrs;
static char grp[300];
static unsigned long long ram;
static int reporting;		/* a write of "report" can be accepted */
static uint64_t fb_rng;

static uint64_t fb_rand(void)
{
	uint64_t z = (fb_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------------ sysfs */

static int fb_read_fd(int fd, char *val)
{
	ssize_t n = pread(fd, val, FB_VAL_LEN - 1, 0);

	if (n < 0)
		return -errno;
	val[n] = '\0';
	if (n && val[n - 1] == '\n')
		val[n - 1] = '\0';
	return 0;
}

static struct fb_attr *fb_attr(const char *name)
{
	unsigned int i;

	for (i = 0; i < nr_attrs; i++)
		if (!strcmp(attrs[i].name, name))
			return &attrs[i];
	return NULL;
}

/* Every attribute's value into @snap; the first that cannot be read fails. */
static int fb_snapshot(char snap[][FB_VAL_LEN])
{
	unsigned int i;

	for (i = 0; i < nr_attrs; i++)
		if (fb_read_fd(attrs[i].fd, snap[i]))
			return -1;
	return 0;
}

/* One write(2) of @len bytes; the bytes written or -errno (open's too). */
static long fb_write(const char *name, const char *buf, size_t len)
{
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", grp, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

static int fb_set(const char *name, const char *val)
{
	return fb_write(name, val, strlen(val)) == (long)strlen(val) ? 0 : -1;
}

static void fb_set_ull(const char *name, unsigned long long v)
{
	char s[32];

	snprintf(s, sizeof(s), "%llu", v);
	if (fb_set(name, s))
		ksft_exit_fail_msg("cannot set %s to %s\n", name, s);
}

/* Open every file of the group; each uapi name must be one of them. */
static void fb_open_group(void)
{
	struct dirent *de;
	char path[600];
	unsigned int i;
	DIR *d = opendir(grp);

	if (!d)
		ksft_exit_fail_msg("%s: %s\n", grp, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (nr_attrs == FB_MAX_ATTRS)
			ksft_exit_fail_msg("more than %d files in %s\n",
					   FB_MAX_ATTRS, grp);
		snprintf(attrs[nr_attrs].name, sizeof(attrs[nr_attrs].name),
			 "%.255s", de->d_name);
		snprintf(path, sizeof(path), "%s/%.255s", grp, de->d_name);
		attrs[nr_attrs].fd = open(path, O_RDONLY);
		if (attrs[nr_attrs].fd < 0)
			ksft_exit_fail_msg("%s: %s\n", path, strerror(errno));
		for (i = 0; i < FB_NR_KNOBS; i++)
			if (!strcmp(fb_knobs[i].name, de->d_name))
				attrs[nr_attrs].knob = &fb_knobs[i];
		nr_attrs++;
	}
	closedir(d);
	for (i = 0; i < FB_NR_KNOBS; i++)
		if (!fb_attr(fb_knobs[i].name))
			ksft_exit_fail_msg("knob %s missing\n", fb_knobs[i].name);
	for (i = 0; i < FB_NR_RO; i++)
		if (!fb_attr(fb_ro_attrs[i]))
			ksft_exit_fail_msg("attribute %s missing\n", fb_ro_attrs[i]);
}

/* ------------------------------------------------------------ model */

struct fb_expect {
	long ret;		/* bytes the write returns, or -errno */
	long alt;		/* another acceptable -errno, or 0 */
	char val[FB_VAL_LEN];	/* what the knob reads after a success */
};

/* kstrtoul(s, 10) and the knob's range; see the head of the file. */
static void fb_model_number(const struct fb_knob *k, const char *s,
			    struct fb_expect *e)
{
	unsigned long long v = 0, max = k->max == FB_RAM ? ram : k->max;
	const char *p = s;
	int over = 0, neg = 0;

	if (*p == '+') {
		p++;
	} else if (*p == '-' && p[1] >= '0' && p[1] <= '9') {
		neg = 1;
		p++;
	}
	if (!(*p >= '0' && *p <= '9')) {
		e->ret = -EINVAL;
		return;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (~0ULL - (unsigned long long)(*p - '0')) / 10)
			over = 1;
		v = v * 10 + (*p - '0');
	}
	if (neg) {
		/* not an unsigned number; ERANGE says the same in other words */
		e->ret = -EINVAL;
		e->alt = -ERANGE;
		return;
	}
	if (over) {
		e->ret = -ERANGE;
		return;
	}
	if (*p == '\n')
		p++;
	if (*p) {
		e->ret = -EINVAL;
		return;
	}
	if (v < k->min || v > max) {
		e->ret = -ERANGE;
		return;
	}
	snprintf(e->val, sizeof(e->val), "%llu", v);
}

/* sysfs_streq() against each word. */
static void fb_model_word(const struct fb_knob *k, const char *s,
			  struct fb_expect *e)
{
	size_t n = strlen(s);
	unsigned int i;

	if (n && s[n - 1] == '\n')
		n--;
	for (i = 0; k->words[i]; i++) {
		if (strlen(k->words[i]) != n || strncmp(s, k->words[i], n))
			continue;
		if (!strcmp(k->words[i], "report") && !reporting)
			break;
		snprintf(e->val, sizeof(e->val), "%.32s", k->words[i]);
		return;
	}
	e->ret = -EINVAL;
}

static void fb_model(const struct fb_attr *a, const char *buf, size_t len,
		     struct fb_expect *e)
{
	static char s[FB_SYSFS_PAGE + 1];
	size_t n = len < FB_SYSFS_PAGE ? len : FB_SYSFS_PAGE;

	e->alt = 0;
	e->val[0] = '\0';
	if (!a->knob) {
		e->ret = -EACCES;
		e->alt = -EIO;
		return;
	}
	e->ret = n;
	if (!n)
		return;		/* sysfs does not call the store at all */
	if (memchr(buf, '\0', n)) {
		e->ret = -EINVAL;
		return;
	}
	memcpy(s, buf, n);
	s[n] = '\0';
	if (a->knob->words)
		fb_model_word(a->knob, s, e);
	else
		fb_model_number(a->knob, s, e);
}

/* -------------------------------------------------------- the inputs */

static const unsigned long long fb_specials[] = {
	0, 1, 2, 9, 10, 99, 100, 255, 256, 4096, 65535, 65536, 1000000,
	(1ULL << 30) - 1, 1ULL << 30, (1ULL << 30) + 1,
	(1ULL << 31) - 1, 1ULL << 31, (1ULL << 32) - 1, 1ULL << 32,
	(1ULL << 32) + 1, (1ULL << 63) - 1, 1ULL << 63, ~0ULL - 1, ~0ULL,
};
#define FB_NR_SPECIALS	(sizeof(fb_specials) / sizeof(fb_specials[0]))

/* A number the knob cares about: a bound, next to one, or anything. */
static unsigned long long fb_pick_number(const struct fb_knob *k)
{
	unsigned long long max = k && !k->words ?
		(k->max == FB_RAM ? ram : k->max) : ram;
	unsigned long long min = k && !k->words ? k->min : 0;

	switch (fb_rand() % 8) {
	case 0: return min + fb_rand() % 3 - 1;
	case 1: return max + fb_rand() % 3 - 1;
	case 2: return fb_specials[fb_rand() % FB_NR_SPECIALS];
	case 3: return ram + fb_rand() % 3 - 1;
	case 4: return fb_rand();
	case 5: return fb_rand() >> (fb_rand() % 64);
	default: return min + (max > min ? fb_rand() % (max - min + 1) : 0);
	}
}

/* @v written in one of many forms, into @out; its length. */
static size_t fb_number_form(unsigned long long v, char *out)
{
	static const char *const fmts[] = {
		"%llu", "%llu\n", "+%llu\n", "-%llu\n", " %llu\n", "%llu \n",
		"\t%llu", "%llu\n\n", "%llu\r\n", "0x%llx\n", "0X%llX", "0%llo\n",
		"%025llu\n", "%llu.0\n", "%llue0\n", "%llu\n%llu\n", "++%llu",
		"+-%llu", "%lluk\n", "%llu%%", "1%llu\n", "%llu,%llu",
	};
	const char *f = fmts[fb_rand() % (sizeof(fmts) / sizeof(fmts[0]))];
	size_t n = snprintf(out, 128, f, v, v);

	switch (fb_rand() % 8) {
	case 0:		/* a NUL, then more */
		out[n++] = '\0';
		n += snprintf(out + n, 64, "%s", fb_rand() % 2 ? "junk" : "7\n");
		break;
	case 1:		/* cut short */
		n = fb_rand() % (n + 1);
		break;
	}
	return n;
}

static size_t fb_word_form(const struct fb_knob *k, char *out)
{
	static const char *const others[] = {
		"auto", "inflate", "report", "off", "on", "heal", "none",
		"default", "true", "1", "0", "yes", "",
	};
	const char *w = k && k->words && fb_rand() % 3 ?
		k->words[fb_rand() % 3] : others[fb_rand() % 13];
	size_t n, i;

	switch (fb_rand() % 12) {
	case 0: return sprintf(out, "%s", w);
	case 1: return sprintf(out, "%s\n", w);
	case 2: return sprintf(out, "%s\n\n", w);
	case 3: return sprintf(out, " %s\n", w);
	case 4: return sprintf(out, "%s \n", w);
	case 5: return sprintf(out, "%s\r\n", w);
	case 6: return sprintf(out, "x%s", w);
	case 7: return sprintf(out, "%sx\n", w);
	case 8:
		n = sprintf(out, "%s\n", w);
		for (i = 0; i < n; i++)
			if (out[i] >= 'a' && out[i] <= 'z' && fb_rand() % 2)
				out[i] -= 'a' - 'A';
		return n;
	case 9:
		n = sprintf(out, "%s", w);
		out[n++] = '\0';
		return n + sprintf(out + n, "junk");
	case 10: return sprintf(out, "%s %s\n", w, w);
	default: return sprintf(out, "%.*s\n", (int)(strlen(w) / 2), w);
	}
}

/* Random bytes, weighted towards what parsers trip on. */
static size_t fb_random_bytes(char *out)
{
	static const char tricky[] = "0123456789+-\n \t\r\0xXeE.,kKmMgG%";
	size_t n = fb_rand() % 48, i;

	for (i = 0; i < n; i++)
		out[i] = fb_rand() % 2 ? tricky[fb_rand() % (sizeof(tricky) - 1)] :
			(char)fb_rand();
	return n;
}

/* Long inputs around sysfs's page: what survives the cut decides. */
static size_t fb_long_form(char *out)
{
	static const size_t lens[] = { 4094, 4095, 4096, 4097, 8192, FB_INPUT_MAX };
	size_t n = lens[fb_rand() % 6], i;
	char fill = "0019 \n\0a"[fb_rand() % 8];

	memset(out, fill, n);
	switch (fb_rand() % 4) {
	case 0: out[n - 1] = '1'; break;		/* ...0001 */
	case 1: out[n - 1] = '\n'; break;
	case 2: out[0] = '5'; break;			/* 5 then fill */
	default:
		for (i = 0; i < n; i += 1 + fb_rand() % 64)
			out[i] = (char)fb_rand();
	}
	return n;
}

/* The next input for attribute @k (NULL: read-only); its length. */
static size_t fb_input(const struct fb_knob *k, unsigned int i, char *out)
{
	static const char *const fixed[] = {
		"", "\n", " ", "\t", "+", "-", "0x", "\n0", "\r", "0\n", "1\n",
		"18446744073709551615\n", "18446744073709551616\n",
		"99999999999999999999999\n", "-1\n", "-0\n", "+0\n", "010\n",
		"0010", "1 2\n", "0 \n", " 0", "1\n\n",
	};

	if (i < sizeof(fixed) / sizeof(fixed[0]))
		return sprintf(out, "%s", fixed[i]);
	switch (fb_rand() % 10) {
	case 0: case 1: case 2: case 3:
		return fb_number_form(fb_pick_number(k), out);
	case 4: case 5:
		return fb_word_form(k, out);
	case 6: case 7:
		return fb_random_bytes(out);
	case 8:
		if (fb_rand() % 4 == 0)
			return fb_long_form(out);
		/* fall through */
	default:
		return fb_number_form(fb_rand() % 2 ? fb_rand() % 10 : fb_pick_number(k), out);
	}
}

/* ------------------------------------------------------- the checks */

/* @buf as a C literal, cut to a readable length. */
static const char *fb_quote(const char *buf, size_t len)
{
	static char q[200];
	size_t i, o = 0;

	for (i = 0; i < len && o < sizeof(q) - 24; i++) {
		unsigned char c = buf[i];

		if (c == '\n')
			o += sprintf(q + o, "\\n");
		else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			q[o++] = c;
		else
			o += sprintf(q + o, "\\x%02x", c);
	}
	if (i < len)
		o += sprintf(q + o, "...(%zu bytes)", len);
	q[o] = '\0';
	return q;
}

static const char *fb_err(long r)
{
	static char s[3][48];	/* three may be in one printf */
	static int w;

	w = (w + 1) % 3;
	if (r >= 0)
		snprintf(s[w], sizeof(s[w]), "%ld bytes", r);
	else
		snprintf(s[w], sizeof(s[w]), "%s", strerror(-r));
	return s[w];
}

/* What effective_target_pages must read with the knobs as in @snap. */
static unsigned long long fb_effective(char snap[][FB_VAL_LEN])
{
	unsigned long long t, cap;

	t = strtoull(snap[fb_attr(FB_ATTR_GUEST_TARGET) - attrs], NULL, 10);
	cap = strtoull(snap[fb_attr(FB_ATTR_MAX_PAGES) - attrs], NULL, 10);
	if (!t)
		t = strtoull(snap[fb_attr(FB_ATTR_TARGET_PAGES) - attrs], NULL, 10);
	return cap && cap < t ? cap : t;
}

struct fb_tally {
	unsigned long writes, ok, einval, erange, denied, other, bad;
};

/*
 * One write of @buf to @a and its checks.  Returns 0, or -1 after printing
 * what went wrong (at most FB_SHOW_BAD times per attribute).
 */
static int fb_try(struct fb_attr *a, const char *buf, size_t len,
		  struct fb_tally *t)
{
	static char before[FB_MAX_ATTRS][FB_VAL_LEN], after[FB_MAX_ATTRS][FB_VAL_LEN];
	unsigned int self = a - attrs, eff = fb_attr(FB_ATTR_EFFECTIVE) - attrs;
	unsigned int pa = fb_attr(FB_ATTR_PATH_ACTIVE) - attrs, i;
	char why[400] = "";
	struct fb_expect e;
	long r;

	fb_model(a, buf, len, &e);
	if (fb_snapshot(before))
		ksft_exit_fail_msg("cannot read the group\n");
	r = fb_write(a->name, buf, len);
	if (fb_snapshot(after))
		ksft_exit_fail_msg("cannot read the group after writing %s <- \"%s\"\n",
				   a->name, fb_quote(buf, len));
	t->writes++;
	if (r >= 0)
		t->ok++;
	else if (r == -EINVAL)
		t->einval++;
	else if (r == -ERANGE)
		t->erange++;
	else if (r == -EACCES || r == -EPERM || r == -EIO)
		t->denied++;
	else
		t->other++;

	if (r != e.ret && (!e.alt || r != e.alt)) {
		snprintf(why, sizeof(why), "got %s, want %s%s%s", fb_err(r),
			 fb_err(e.ret), e.alt ? " or " : "", e.alt ? fb_err(e.alt) : "");
	} else if (r > 0 && e.val[0] && strcmp(after[self], e.val)) {
		snprintf(why, sizeof(why), "accepted, reads \"%s\", want \"%s\"",
			 after[self], e.val);
	} else {
		for (i = 0; i < nr_attrs && !why[0]; i++) {
			if (!strcmp(before[i], after[i]))
				continue;
			if (r > 0 && (i == self || i == eff || i == pa))
				continue;	/* checked below */
			snprintf(why, sizeof(why), "%s changed \"%s\" -> \"%s\"",
				 attrs[i].name, before[i], after[i]);
		}
		if (!why[0] && r > 0 &&
		    strtoull(after[eff], NULL, 10) != fb_effective(after))
			snprintf(why, sizeof(why), "%s reads %s, the knobs say %llu",
				 FB_ATTR_EFFECTIVE, after[eff], fb_effective(after));
		if (!why[0] && r > 0 && !reporting && strcmp(after[pa], "inflate"))
			snprintf(why, sizeof(why), "%s reads %s without reporting",
				 FB_ATTR_PATH_ACTIVE, after[pa]);
	}
	if (!why[0])
		return 0;
	if (t->bad++ < FB_SHOW_BAD)
		ksft_print_msg("MISMATCH %s <- \"%s\" (%zu bytes): %s\n", a->name,
			       fb_quote(buf, len), len, why);
	return -1;
}

/* Nothing may move while a knob is written; see the head of the file. */
static void fb_quiet(const struct fb_knob *k)
{
	fb_set_ull(FB_ATTR_GUEST_TARGET, 0);
	fb_set_ull(FB_ATTR_FLOOR, k && !strcmp(k->name, FB_ATTR_GUEST_TARGET) ? ram : 0);
	fb_set_ull(FB_ATTR_MAX_PAGES,
		   k && !strcmp(k->name, FB_ATTR_GUEST_TARGET) ? 256 : 0);
}

int main(void)
{
	static char saved[FB_NR_KNOBS][FB_VAL_LEN], in[FB_INPUT_MAX + 64];
	unsigned long per = fb_env_ul("FB_WRITES", 256), total = 0, bad = 0;
	unsigned long long seed;
	char val[FB_VAL_LEN];
	const char *why;
	struct fb_tally t;
	unsigned int i, j;
	size_t len;

	ksft_print_header();
	why = fb_bound_group(grp, sizeof(grp));
	if (why)
		ksft_exit_skip("%s\n", why);
	seed = fb_env_ul("FB_SEED", (unsigned long)time(NULL) ^ getpid() << 16);
	fb_rng = seed;
	ksft_print_msg("seed=%llu (rerun with FB_SEED=%llu)\n", seed, seed);
	fb_open_group();
	ksft_set_plan(nr_attrs);

	if (fb_read_fd(fb_attr(FB_ATTR_RAM)->fd, val))
		ksft_exit_fail_msg("cannot read %s\n", FB_ATTR_RAM);
	ram = strtoull(val, NULL, 10);
	if (fb_read_fd(fb_attr(FB_ATTR_FEATURES)->fd, val))
		ksft_exit_fail_msg("cannot read %s\n", FB_ATTR_FEATURES);
	reporting = strstr(val, "reporting") && !strstr(val, "must_tell_host");
	if (fb_read_fd(fb_attr(FB_ATTR_ACTUAL_PAGES)->fd, val) || strcmp(val, "0"))
		ksft_exit_fail_msg("the balloon holds %s pages: empty it first\n", val);
	for (i = 0; i < FB_NR_KNOBS; i++)
		if (fb_read_fd(fb_attr(fb_knobs[i].name)->fd, saved[i]))
			ksft_exit_fail_msg("cannot read %s\n", fb_knobs[i].name);

	for (i = 0; i < nr_attrs; i++) {
		struct fb_attr *a = &attrs[i];

		fb_quiet(a->knob);
		memset(&t, 0, sizeof(t));
		for (j = 0; j < per; j++) {
			len = fb_input(a->knob, j, in);
			fb_try(a, in, len, &t);
		}
		/* leave the knob as it was before the next one is written */
		for (j = 0; j < FB_NR_KNOBS; j++)
			if (fb_knobs + j == a->knob && fb_set(a->name, saved[j]))
				ksft_exit_fail_msg("cannot restore %s\n", a->name);
		total += t.writes;
		bad += t.bad;
		ksft_test_result(!t.bad, "%s%s: %lu writes: %lu accepted, %lu EINVAL, %lu ERANGE, %lu denied, %lu other; %lu wrong\n",
				 a->name, a->knob ? "" : " (read-only)", t.writes,
				 t.ok, t.einval, t.erange, t.denied, t.other, t.bad);
	}

	/* guest_target_pages first, so that no cap or floor is lifted under it */
	for (i = 0; i < FB_NR_KNOBS; i++)
		if (fb_set(fb_knobs[i].name, saved[i]))
			ksft_exit_fail_msg("cannot restore %s=%s\n", fb_knobs[i].name,
					   saved[i]);
	ksft_print_msg("writes=%lu wrong=%lu attributes=%u seed=%llu\n", total,
		       bad, nr_attrs, seed);
	ksft_finished();
}
