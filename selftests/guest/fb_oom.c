// SPDX-License-Identifier: GPL-2.0
/*
 * fb_oom: allocate more than MemAvailable while the balloon holds most of
 * the guest, with the device's DEFLATE_ON_OOM negotiated.  The balloon
 * driver must give pages back instead of letting the OOM killer run: the
 * allocation succeeds, the data is intact and vmstat's oom_kill does not
 * move.
 *
 * FB_MIB (default 800): how much to allocate and touch.
 */
#include "fb_harness.h"

TEST_F_TIMEOUT(mem, alloc_beyond_available, 600)
{
	unsigned long mib = fb_env_ul("FB_MIB", 800);
	long long avail_kib = fb_meminfo_kib("MemAvailable");
	long long kills = fb_vmstat("oom_kill");
	unsigned long seed = 0x5eed;
	unsigned char *p;

	ASSERT_LE(0, avail_kib);
	ASSERT_LE(0, kills);
	TH_LOG("MemAvailable %lld MiB, allocating %lu MiB", avail_kib >> 10, mib);
	/* Otherwise this proves nothing: the host did not inflate enough. */
	ASSERT_GT((long long)mib << 10, avail_kib);

	p = fb_map(mib);
	ASSERT_NE(NULL, p);
	fb_touch(p, mib * FB_MIB, seed);
	EXPECT_EQ(0, fb_check(p, mib * FB_MIB, seed));
	EXPECT_EQ(kills, fb_vmstat("oom_kill"));
	TH_LOG("MemAvailable now %lld MiB", fb_meminfo_kib("MemAvailable") >> 10);
	munmap(p, mib * FB_MIB);
}

TEST_HARNESS_MAIN
