// SPDX-License-Identifier: GPL-2.0
/*
 * fb_blocks: what fastballoon says it holds is what it holds.
 *
 * Balloon pages are PageOffline, which /proc/kpageflags shows as
 * KPF_OFFLINE. Walking every frame in 2 MiB-aligned runs, we count offline
 * frames and the runs that are offline as a whole, and compare them with the
 * driver's own figures read before and after the walk (the balloon must not
 * move meanwhile: the host keeps the target steady):
 *
 *   offline frames       == actual_pages == 512 * blocks_2m + pages_4k
 *   whole offline runs   >= blocks_2m
 *
 * FB_MIN_BLOCKS (default 0): also require at least that many blocks.
 */
#include <fcntl.h>
#include <stdint.h>

#include "fb_harness.h"

#define KPF_OFFLINE	23
#define RUN_PAGES	512

struct fb_held {
	long long actual, blocks, small;
};

static int fb_read_held(struct fb_held *h)
{
	char dev[512], path[600], buf[64];
	const char *name[] = { "actual_pages", "blocks_2m", "pages_4k" };
	long long *val[] = { &h->actual, &h->blocks, &h->small };
	int i;

	if (fb_find_balloon(dev, sizeof(dev)))
		return -1;
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/fastballoon/%s", dev, name[i]);
		if (fb_read_str(path, buf, sizeof(buf)))
			return -1;
		*val[i] = strtoll(buf, NULL, 10);
	}
	return 0;
}

/* Offline frames and whole offline 2 MiB runs, over all of memory. */
static int fb_walk(unsigned long *offline, unsigned long *runs)
{
	static uint64_t flags[RUN_PAGES];
	unsigned long pfn = 0;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return -1;
	*offline = *runs = 0;
	for (;;) {
		ssize_t got = pread(fd, flags, sizeof(flags), pfn * sizeof(flags[0]));
		unsigned long n, i, off = 0;

		if (got <= 0)
			break;
		n = got / sizeof(flags[0]);
		for (i = 0; i < n; i++)
			off += (flags[i] >> KPF_OFFLINE) & 1;
		*offline += off;
		*runs += n == RUN_PAGES && off == RUN_PAGES;
		pfn += n;
		if (n < RUN_PAGES)
			break;
	}
	close(fd);
	return 0;
}

TEST_F_TIMEOUT(mem, split_matches_holdings, 300)
{
	unsigned long offline, runs, min_blocks = fb_env_ul("FB_MIN_BLOCKS", 0);
	struct fb_held before, after;

	if (fb_read_held(&before))
		SKIP(return, "fastballoon is not bound to a balloon device");
	ASSERT_EQ(0, fb_walk(&offline, &runs)) TH_LOG("/proc/kpageflags: %s",
						     strerror(errno));
	ASSERT_EQ(0, fb_read_held(&after));
	ASSERT_EQ(before.actual, after.actual) TH_LOG("balloon moved during the walk");
	ASSERT_EQ(before.blocks, after.blocks);

	EXPECT_EQ(after.actual, RUN_PAGES * after.blocks + after.small);
	EXPECT_EQ((unsigned long)after.actual, offline)
		TH_LOG("driver holds %lld pages, kpageflags shows %lu offline",
		       after.actual, offline);
	EXPECT_GE(runs, (unsigned long)after.blocks)
		TH_LOG("%lld blocks claimed, %lu whole offline runs", after.blocks, runs);
	EXPECT_GE((unsigned long)after.blocks, min_blocks);
	printf("# actual=%lld blocks_2m=%lld pages_4k=%lld offline=%lu whole_runs=%lu\n",
	       after.actual, after.blocks, after.small, offline, runs);
	/* The harness ends each test with _exit(): flush, or this is lost. */
	fflush(stdout);
}

TEST_HARNESS_MAIN
