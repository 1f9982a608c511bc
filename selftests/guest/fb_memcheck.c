// SPDX-License-Identifier: GPL-2.0
/*
 * fb_memcheck: fill FB_MIB (default 256) MiB with a pattern, create the
 * file FB_READY, wait until the file FB_GO exists (at most FB_WAIT_S
 * seconds, default 900), then check every page.
 *
 * Run in the background around something the host does to the guest
 * (migration with free page hinting, balloon moves): the memory a program
 * holds must come out unchanged.
 */
#include <fcntl.h>
#include <time.h>
#include "fb_harness.h"

TEST_F_TIMEOUT(mem, pattern_survives, 1200)
{
	unsigned long mib = fb_env_ul("FB_MIB", 256);
	unsigned long wait_s = fb_env_ul("FB_WAIT_S", 900);
	const char *ready = getenv("FB_READY");
	const char *go = getenv("FB_GO");
	unsigned long seed = time(NULL);
	unsigned long bad;
	unsigned char *p;
	time_t end;
	int fd;

	ASSERT_NE(NULL, ready);
	ASSERT_NE(NULL, go);
	p = fb_map(mib);
	ASSERT_NE(NULL, p);
	fb_touch(p, mib * FB_MIB, seed);

	fd = open(ready, O_CREAT | O_WRONLY, 0644);
	ASSERT_LE(0, fd);
	close(fd);

	end = time(NULL) + wait_s;
	while (access(go, F_OK) && time(NULL) < end)
		usleep(100 * 1000);
	ASSERT_EQ(0, access(go, F_OK)) TH_LOG("%s never appeared", go);

	bad = fb_check(p, mib * FB_MIB, seed);
	EXPECT_EQ(0, bad) TH_LOG("%lu of %lu pages changed", bad, mib * 256);
	munmap(p, mib * FB_MIB);
}

TEST_HARNESS_MAIN
