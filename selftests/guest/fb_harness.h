/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kselftest harness plus an empty fixture, "mem", for tests that need
 * more than the 30 s a plain TEST() gets in the 6.1 harness: touching
 * hundreds of MiB under TCG takes longer.  Use TEST_F_TIMEOUT(mem, ...).
 */
#ifndef FB_HARNESS_H
#define FB_HARNESS_H

#include "fb_util.h"
#include "kselftest_harness.h"

FIXTURE(mem)
{
	int unused;
};

FIXTURE_SETUP(mem)
{
}

FIXTURE_TEARDOWN(mem)
{
}

#endif /* FB_HARNESS_H */
