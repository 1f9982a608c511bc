// SPDX-License-Identifier: GPL-2.0
/*
 * fb_knobs: the read-write attributes of the fastballoon group (the knobs of
 * include/uapi/linux/fastballoon.h), one fixture variant per knob.
 *
 * For each knob: the bounds and a few values between read back as written;
 * one past either bound, 2^64 and a negative number fail with ERANGE (a
 * negative number may also fail with EINVAL: it does not parse as an
 * unsigned number); garbage, an empty line and an unknown word fail with
 * EINVAL; no failed write changes the value; a failed write leaves a line
 * naming the driver and the knob in the kernel log.  Page-count knobs are
 * bounded by ram_pages.  Writing "report" to surrender_path fails with
 * EINVAL unless the device negotiated free page reporting.
 *
 * The fixture saves every knob before a test and writes them all back
 * after it.  Skips when fastballoon is not bound to the balloon device.
 */
#include <fcntl.h>
#include <linux/fastballoon.h>
#include "fb_util.h"
#include "kselftest_harness.h"

/* Upper bound "the guest's RAM": the value of FB_ATTR_RAM. */
#define FB_KNOB_RAM		(~0ULL)
/* oom_pages must release something: its lower bound (uapi table). */
#define FB_OOM_PAGES_MIN	1ULL
/* The kernel's printk ratelimit interval is 5 s: wait it out once. */
#define FB_RATELIMIT_US		5500000

static const char *const fb_knob_names[] = {
	/* guest_target_pages first: restoring it before the cap is lifted
	 * never lets the balloon take the whole guest. */
	FB_ATTR_GUEST_TARGET, FB_ATTR_MAX_PAGES, FB_ATTR_FLOOR,
	FB_ATTR_RESERVE, FB_ATTR_INFLATE_LIMIT, FB_ATTR_INFLATE_CPUS,
	FB_ATTR_MAX_ORDER, FB_ATTR_DEFRAG, FB_ATTR_DEFRAG_MS, FB_ATTR_HEAL_MS,
	FB_ATTR_OOM_PAGES,
	FB_ATTR_SURRENDER_PATH,
};
#define FB_NR_KNOBS (sizeof(fb_knob_names) / sizeof(fb_knob_names[0]))

static const char *const fb_defrag_words[] = { "off", "on", "heal", NULL };
static const char *const fb_path_words[] = { "auto", "inflate", "report", NULL };

static void fb_path(char *buf, size_t len, const char *grp, const char *name)
{
	snprintf(buf, len, "%s/%s", grp, name);
}

/* Read attribute @name into @val; 0 or -errno. */
static int fb_get(const char *grp, const char *name, char *val, size_t len)
{
	char path[512];

	fb_path(path, sizeof(path), grp, name);
	return fb_read_str(path, val, len);
}

/*
 * write(2) the @len bytes at @s to attribute @name in one call; 0 or the
 * errno it failed with.
 */
static int fb_put_n(const char *grp, const char *name, const char *s,
		    size_t len)
{
	char path[512];
	ssize_t n;
	int fd, err = 0;

	fb_path(path, sizeof(path), grp, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	n = write(fd, s, len);
	if (n < 0)
		err = errno;
	else if ((size_t)n != len)
		err = EIO;		/* a short write: nobody should see that */
	close(fd);
	return err;
}

static int fb_put(const char *grp, const char *name, const char *s)
{
	return fb_put_n(grp, name, s, strlen(s));
}

static int fb_put_ull(const char *grp, const char *name, unsigned long long v)
{
	char s[32];

	snprintf(s, sizeof(s), "%llu\n", v);
	return fb_put(grp, name, s);
}

static unsigned long long fb_get_ull(const char *grp, const char *name)
{
	char val[64], *end;
	unsigned long long v;

	if (fb_get(grp, name, val, sizeof(val)))
		return ~0ULL;
	errno = 0;
	v = strtoull(val, &end, 10);
	return errno || end == val || *end ? ~0ULL : v;
}

/*
 * After a refused write, is there a new kernel log record naming the driver
 * and the knob?  @fd is /dev/kmsg opened non-blocking at its end.
 */
static int fb_kmsg_names(int fd, const char *knob, char *seen, size_t len)
{
	char rec[2048];
	ssize_t n;
	int found = 0;

	seen[0] = '\0';
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: read on */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, FB_DRIVER_NAME) && strstr(rec, knob))
			found = 1;
		snprintf(seen, len, "%.200s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
	}
	return found;
}

/*
 * Refusals are logged.  First of all the tests, one refused write per knob
 * in a row: the message is ratelimited (a burst of 10 per 5 s by default),
 * and the other tests refuse many more.
 */
FIXTURE(logged)
{
	char grp[300];
};

FIXTURE_SETUP(logged)
{
	const char *why = fb_bound_group(self->grp, sizeof(self->grp));

	if (why)
		SKIP(return, "%s", why);
}

FIXTURE_TEARDOWN(logged)
{
}

TEST_F_TIMEOUT(logged, refusal_is_logged, 120)
{
	char seen[256], before[64], after[64];
	size_t i, waited = 0;
	const char *name;
	int fd, found;

	if (!self->grp[0])
		SKIP(return, "fastballoon is not bound to the balloon");
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, fd) TH_LOG("/dev/kmsg: %s", strerror(errno));
	for (i = 0; i < FB_NR_KNOBS; i++) {
		name = fb_knob_names[i];
		ASSERT_EQ(0, fb_get(self->grp, name, before, sizeof(before)));
		ASSERT_LE(0, lseek(fd, 0, SEEK_END));
		EXPECT_EQ(EINVAL, fb_put(self->grp, name, "bogus\n"));
		found = fb_kmsg_names(fd, name, seen, sizeof(seen));
		if (!found && !waited++) {
			/* burst used up (by an earlier run?): wait it out once */
			usleep(FB_RATELIMIT_US);
			lseek(fd, 0, SEEK_END);
			EXPECT_EQ(EINVAL, fb_put(self->grp, name, "bogus\n"));
			found = fb_kmsg_names(fd, name, seen, sizeof(seen));
		}
		EXPECT_TRUE(found)
			TH_LOG("no kernel log line naming %s and %s; last: %s",
			       FB_DRIVER_NAME, name, seen[0] ? seen : "none");
		ASSERT_EQ(0, fb_get(self->grp, name, after, sizeof(after)));
		EXPECT_STREQ(before, after);
	}
	close(fd);
}

/*
 * "report" on a device without the reporting queue is a request that cannot
 * be met: EINVAL.  With the queue it is accepted and the path in use follows.
 */
TEST_F(logged, report_needs_the_reporting_queue)
{
	char feat[256], path0[64], val[64];
	int err;

	if (!self->grp[0])
		SKIP(return, "fastballoon is not bound to the balloon");
	ASSERT_EQ(0, fb_get(self->grp, FB_ATTR_FEATURES, feat, sizeof(feat)));
	ASSERT_EQ(0, fb_get(self->grp, FB_ATTR_SURRENDER_PATH, path0, sizeof(path0)));
	err = fb_put(self->grp, FB_ATTR_SURRENDER_PATH, "report\n");
	ASSERT_EQ(0, fb_get(self->grp, FB_ATTR_SURRENDER_PATH, val, sizeof(val)));
	if (strstr(feat, "reporting")) {
		EXPECT_EQ(0, err) TH_LOG("report refused: %s", strerror(err));
		EXPECT_STREQ("report", val);
		ASSERT_EQ(0, fb_get(self->grp, FB_ATTR_PATH_ACTIVE, val, sizeof(val)));
		if (!strstr(feat, "must_tell_host"))
			EXPECT_STREQ("report", val);
	} else {
		EXPECT_EQ(EINVAL, err)
			TH_LOG("report without the reporting queue: %s",
			       err ? strerror(err) : "accepted");
		EXPECT_STREQ(path0, val);
		ASSERT_EQ(0, fb_get(self->grp, FB_ATTR_PATH_ACTIVE, val, sizeof(val)));
		EXPECT_STREQ("inflate", val);
	}
	EXPECT_EQ(0, fb_put(self->grp, FB_ATTR_SURRENDER_PATH, path0));
}

FIXTURE(knob)
{
	char grp[300];		/* .../virtioN/fastballoon, "" if not bound */
	unsigned long long ram;	/* ram_pages */
	int reporting;		/* the device negotiated free page reporting */
	char saved[FB_NR_KNOBS][64];
};

FIXTURE_VARIANT(knob)
{
	const char *name;
	unsigned long long min, max;	/* max FB_KNOB_RAM: ram_pages */
	const char *const *words;	/* the accepted words; NULL: a number */
};

FIXTURE_VARIANT_ADD(knob, guest_target_pages) {
	.name = FB_ATTR_GUEST_TARGET, .min = 0, .max = FB_KNOB_RAM,
};
FIXTURE_VARIANT_ADD(knob, max_pages) {
	.name = FB_ATTR_MAX_PAGES, .min = 0, .max = FB_KNOB_RAM,
};
FIXTURE_VARIANT_ADD(knob, floor_pages) {
	.name = FB_ATTR_FLOOR, .min = 0, .max = FB_KNOB_RAM,
};
FIXTURE_VARIANT_ADD(knob, reserve_pages) {
	.name = FB_ATTR_RESERVE, .min = 0, .max = FB_KNOB_RAM,
};
FIXTURE_VARIANT_ADD(knob, inflate_limit_pages_per_s) {
	.name = FB_ATTR_INFLATE_LIMIT, .min = 0, .max = FB_INFLATE_LIMIT_MAX,
};
FIXTURE_VARIANT_ADD(knob, inflate_cpus) {
	.name = FB_ATTR_INFLATE_CPUS, .min = 0, .max = FB_INFLATE_CPUS_MAX,
};
FIXTURE_VARIANT_ADD(knob, max_order) {
	.name = FB_ATTR_MAX_ORDER, .min = 0, .max = FB_MAX_ORDER_LIMIT,
};
FIXTURE_VARIANT_ADD(knob, defrag) {
	.name = FB_ATTR_DEFRAG, .words = fb_defrag_words,
};
FIXTURE_VARIANT_ADD(knob, defrag_ms) {
	.name = FB_ATTR_DEFRAG_MS, .min = 0, .max = FB_DEFRAG_MS_MAX,
};
FIXTURE_VARIANT_ADD(knob, heal_ms) {
	.name = FB_ATTR_HEAL_MS, .min = FB_HEAL_MS_MIN, .max = FB_HEAL_MS_MAX,
};
FIXTURE_VARIANT_ADD(knob, oom_pages) {
	.name = FB_ATTR_OOM_PAGES, .min = FB_OOM_PAGES_MIN, .max = FB_KNOB_RAM,
};
FIXTURE_VARIANT_ADD(knob, surrender_path) {
	.name = FB_ATTR_SURRENDER_PATH, .words = fb_path_words,
};

FIXTURE_SETUP(knob)
{
	const char *why = fb_bound_group(self->grp, sizeof(self->grp));
	char val[256];
	size_t i;

	if (why)
		SKIP(return, "%s", why);
	self->ram = fb_get_ull(self->grp, FB_ATTR_RAM);
	ASSERT_NE(~0ULL, self->ram) TH_LOG("%s is not a number", FB_ATTR_RAM);
	ASSERT_LT(0ULL, self->ram);
	ASSERT_EQ(0, fb_get(self->grp, FB_ATTR_FEATURES, val, sizeof(val)));
	self->reporting = !!strstr(val, "reporting");
	for (i = 0; i < FB_NR_KNOBS; i++) {
		self->saved[i][0] = '\0';
		if (fb_get(self->grp, fb_knob_names[i], self->saved[i],
			   sizeof(self->saved[i])))
			ksft_print_msg("knob %s missing\n", fb_knob_names[i]);
		ASSERT_NE(0, self->saved[i][0]);
	}
}

FIXTURE_TEARDOWN(knob)
{
	size_t i;

	if (!self->grp[0])
		return;
	for (i = 0; i < FB_NR_KNOBS; i++) {
		if (!self->saved[i][0])
			continue;
		if (fb_put(self->grp, fb_knob_names[i], self->saved[i])) {
			ksft_print_msg("cannot restore %s=%s\n", fb_knob_names[i],
				       self->saved[i]);
			_metadata->passed = 0;
		}
	}
}

/* The 6.1 harness runs the body even after FIXTURE_SETUP skipped. */
#define FB_NEED_GROUP() do {						\
	if (!self->grp[0])						\
		SKIP(return, "fastballoon is not bound to the balloon");	\
} while (0)

static unsigned long long fb_knob_max(FIXTURE_DATA(knob) *self,
				      const FIXTURE_VARIANT(knob) *variant)
{
	return variant->max == FB_KNOB_RAM ? self->ram : variant->max;
}

/*
 * Write @s (which must fail) and check the errno is one of @e1, @e2 and the
 * value did not change.
 */
/* Write @n bytes of @s, which must fail with @e1 or @e2 and change nothing. */
#define EXPECT_REFUSED_N(s, n, e1, e2) do {				\
	char _before[64], _after[64];					\
	int _err;							\
									\
	ASSERT_EQ(0, fb_get(self->grp, variant->name, _before,		\
			    sizeof(_before)));				\
	_err = fb_put_n(self->grp, variant->name, (s), (n));		\
	EXPECT_TRUE(_err == (e1) || _err == (e2))			\
		TH_LOG("%s <- \"%.*s\": %s, want %s", variant->name,	\
		       (int)strcspn((s), "\n"), (s),			\
		       _err ? strerror(_err) : "accepted",		\
		       strerror(e1));					\
	ASSERT_EQ(0, fb_get(self->grp, variant->name, _after,		\
			    sizeof(_after)));				\
	EXPECT_STREQ(_before, _after)					\
		TH_LOG("%s changed by a refused write of \"%.*s\"",	\
		       variant->name, (int)strcspn((s), "\n"), (s));	\
} while (0)

#define EXPECT_REFUSED(s, e1, e2) EXPECT_REFUSED_N(s, strlen(s), e1, e2)

/* Write @s (which must succeed) and read back @want. */
#define EXPECT_ACCEPTED(s, want) do {					\
	char _val[64];							\
	int _err = fb_put(self->grp, variant->name, (s));		\
									\
	EXPECT_EQ(0, _err)						\
		TH_LOG("%s <- \"%.*s\": %s", variant->name,		\
		       (int)strcspn((s), "\n"), (s), strerror(_err));	\
	ASSERT_EQ(0, fb_get(self->grp, variant->name, _val,		\
			    sizeof(_val)));				\
	EXPECT_STREQ((want), _val);					\
} while (0)

TEST_F(knob, valid_writes_read_back)
{
	unsigned long long max, v[4], eff;
	char s[32], want[32];
	size_t i;

	FB_NEED_GROUP();

	if (variant->words) {
		for (i = 0; variant->words[i]; i++) {
			if (!strcmp(variant->words[i], "report") && !self->reporting)
				continue;
			snprintf(s, sizeof(s), "%s\n", variant->words[i]);
			EXPECT_ACCEPTED(s, variant->words[i]);
			/* without the newline too, as write(2) would send it */
			EXPECT_ACCEPTED(variant->words[i], variant->words[i]);
		}
		return;
	}

	max = fb_knob_max(self, variant);
	/*
	 * guest_target_pages = RAM would have the balloon take the whole
	 * guest: cap it to 1 MiB first, which also shows the cap applied.
	 */
	if (!strcmp(variant->name, FB_ATTR_GUEST_TARGET))
		ASSERT_EQ(0, fb_put_ull(self->grp, FB_ATTR_MAX_PAGES, 256));

	v[0] = variant->min;
	v[1] = max;
	v[2] = variant->min + (max - variant->min) / 3;
	v[3] = variant->min + 1;
	for (i = 0; i < 4; i++) {
		snprintf(s, sizeof(s), "%llu\n", v[i]);
		snprintf(want, sizeof(want), "%llu", v[i]);
		EXPECT_ACCEPTED(s, want);
		if (!strcmp(variant->name, FB_ATTR_GUEST_TARGET)) {
			eff = v[i] ? v[i] : fb_get_ull(self->grp, FB_ATTR_TARGET_PAGES);
			if (eff > 256)
				eff = 256;
			EXPECT_EQ(eff, fb_get_ull(self->grp, FB_ATTR_EFFECTIVE))
				TH_LOG("%s with %s=%llu and %s=256", FB_ATTR_EFFECTIVE,
				       variant->name, v[i], FB_ATTR_MAX_PAGES);
		}
	}
	/* no trailing newline */
	snprintf(s, sizeof(s), "%llu", variant->min);
	EXPECT_ACCEPTED(s, s);
}

TEST_F(knob, out_of_range)
{
	unsigned long long max;
	char s[32];

	FB_NEED_GROUP();
	if (variant->words) {
		/* a number is no word */
		EXPECT_REFUSED("1\n", EINVAL, EINVAL);
		EXPECT_REFUSED("0\n", EINVAL, EINVAL);
		return;
	}
	max = fb_knob_max(self, variant);
	snprintf(s, sizeof(s), "%llu\n", max + 1);
	EXPECT_REFUSED(s, ERANGE, ERANGE);
	if (variant->min > 0) {
		snprintf(s, sizeof(s), "%llu\n", variant->min - 1);
		EXPECT_REFUSED(s, ERANGE, ERANGE);
	}
	EXPECT_REFUSED("18446744073709551616\n", ERANGE, ERANGE);	/* 2^64 */
	EXPECT_REFUSED("99999999999999999999999\n", ERANGE, ERANGE);
	EXPECT_REFUSED("-1\n", ERANGE, EINVAL);
	snprintf(s, sizeof(s), "-%llu\n", max);
	EXPECT_REFUSED(s, ERANGE, EINVAL);
}

TEST_F(knob, garbage)
{
	static const char *const junk[] = {
		"\n", " \n", "abc\n", "12abc\n", "1.5\n", "1 2\n", "+\n",
		"bogus\n", "autox\n", "on off\n",
	};
	char s[80], num[24];
	size_t i, n;

	FB_NEED_GROUP();
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		EXPECT_REFUSED(junk[i], EINVAL, EINVAL);
	if (variant->words) {
		/* a known word with a prefix or suffix glued on */
		snprintf(s, sizeof(s), "x%s\n", variant->words[0]);
		EXPECT_REFUSED(s, EINVAL, EINVAL);
		snprintf(s, sizeof(s), "%sx\n", variant->words[0]);
		EXPECT_REFUSED(s, EINVAL, EINVAL);
	}
	/*
	 * A good value, a NUL, then the value again: the store must not take
	 * the part before the NUL and leave the rest unread.
	 */
	if (variant->words)
		snprintf(num, sizeof(num), "%s", variant->words[0]);
	else
		snprintf(num, sizeof(num), "%llu", variant->min);
	n = snprintf(s, sizeof(s), "%s", num) + 1;	/* the NUL too */
	n += snprintf(s + n, sizeof(s) - n, "%s\n", num);
	EXPECT_REFUSED_N(s, n, EINVAL, EINVAL);
}

TEST_HARNESS_MAIN
