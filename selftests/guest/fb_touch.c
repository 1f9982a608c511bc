// SPDX-License-Identifier: GPL-2.0
/*
 * fb_touch: make guest memory resident on the host, then give it back to
 * the guest's free lists.  FB_MIB (default 1536) MiB are mapped, every page
 * is written and read back, and the mapping is unmapped on exit.
 *
 * The host side uses this to make QEMU's RSS grow before it inflates the
 * balloon or waits for free page reporting.
 */
#include "fb_harness.h"

TEST_F_TIMEOUT(mem, touch_and_free, 600)
{
	unsigned long mib = fb_env_ul("FB_MIB", 1536);
	unsigned long seed = getpid();
	unsigned char *p;

	p = fb_map(mib);
	ASSERT_NE(NULL, p) TH_LOG("mmap of %lu MiB failed: %s", mib, strerror(errno));
	fb_touch(p, mib * FB_MIB, seed);
	EXPECT_EQ(0, fb_check(p, mib * FB_MIB, seed));
	ASSERT_EQ(0, munmap(p, mib * FB_MIB));
}

TEST_HARNESS_MAIN
