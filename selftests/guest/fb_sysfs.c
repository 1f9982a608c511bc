// SPDX-License-Identifier: GPL-2.0
/*
 * fb_sysfs: the fastballoon attribute group, as include/uapi/linux/
 * fastballoon.h names it, under the bound virtio-balloon device.
 *
 * Every read-only attribute exists and reads as one unsigned number
 * (features and the surrender paths as names), none can be opened for
 * writing, the features file names exactly the virtio-balloon bits the
 * virtio core says were negotiated, and the held pages add up.  The knobs
 * (read-write) are fb_knobs' business.  Skips when fastballoon is not bound
 * to the device.
 */
#include <fcntl.h>
#include <linux/fastballoon.h>
#include "fb_util.h"
#include "kselftest_harness.h"

static const char *const fb_numeric_attrs[] = {
	FB_ATTR_TARGET_PAGES, FB_ATTR_ACTUAL_PAGES, FB_ATTR_BLOCKS_2M,
	FB_ATTR_PAGES_4K, FB_ATTR_INFLATED, FB_ATTR_DEFLATED, FB_ATTR_MIGRATED,
	FB_ATTR_OOM_RELEASED, FB_ATTR_HINTED, FB_ATTR_REPORTED,
	FB_ATTR_ALLOC_FAILS, FB_ATTR_RANGED, FB_ATTR_SHRINK_RELEASED,
	FB_ATTR_DEFRAG_TRIES, FB_ATTR_DEFRAG_OK, FB_ATTR_DEFRAG_US,
	FB_ATTR_HEAL_TRADES, FB_ATTR_FLOOR_RELEASED, FB_ATTR_RAM,
	FB_ATTR_EFFECTIVE, FB_ATTR_INFLATE_RATE, FB_ATTR_DEFLATE_RATE,
	FB_ATTR_RESERVE_AUTO,
};

/* Read-only attributes that are not numbers. */
static const char *const fb_word_attrs[] = {
	FB_ATTR_FEATURES, FB_ATTR_PATH_ACTIVE,
};

static const char *const fb_feature_names[] = FB_FEATURE_NAMES;

FIXTURE(fb)
{
	char dev[256];		/* /sys/bus/virtio/devices/virtioN */
	char grp[300];		/* .../virtioN/fastballoon */
};

FIXTURE_SETUP(fb)
{
	char drv[512], link[512];
	ssize_t n;

	if (fb_find_balloon(self->dev, sizeof(self->dev)))
		SKIP(return, "no virtio-balloon device");
	snprintf(drv, sizeof(drv), "%s/driver", self->dev);
	n = readlink(drv, link, sizeof(link) - 1);
	if (n < 0)
		SKIP(return, "balloon device not bound");
	link[n] = '\0';
	if (strcmp(strrchr(link, '/') + 1, FB_DRIVER_NAME))
		SKIP(return, "balloon device bound to %s", strrchr(link, '/') + 1);
	snprintf(self->grp, sizeof(self->grp), "%s/" FB_SYSFS_GROUP, self->dev);
}

FIXTURE_TEARDOWN(fb)
{
}

/*
 * The 6.1 harness runs the test body even after FIXTURE_SETUP skipped:
 * each test skips again when setup found no fastballoon group.
 */
#define FB_NEED_GROUP() do {						\
	if (!self->grp[0])						\
		SKIP(return, "fastballoon is not bound to the balloon");	\
} while (0)

static int fb_attr_ul(const char *grp, const char *name, unsigned long *val)
{
	char path[512], buf[64], *end;

	snprintf(path, sizeof(path), "%s/%s", grp, name);
	if (fb_read_str(path, buf, sizeof(buf)))
		return -1;
	errno = 0;
	*val = strtoul(buf, &end, 10);
	if (errno || end == buf || *end || buf[0] == '-')
		return -1;
	return 0;
}

TEST_F(fb, numeric_attributes)
{
	const char *name;
	unsigned long v;
	size_t i;

	FB_NEED_GROUP();

	for (i = 0; i < sizeof(fb_numeric_attrs) / sizeof(fb_numeric_attrs[0]); i++) {
		name = fb_numeric_attrs[i];
		EXPECT_EQ(0, fb_attr_ul(self->grp, name, &v))
			TH_LOG("%s is not one unsigned number", name);
	}
}

TEST_F(fb, read_only)
{
	char path[512];
	size_t i;
	int fd;

	FB_NEED_GROUP();

	for (i = 0; i < sizeof(fb_numeric_attrs) / sizeof(fb_numeric_attrs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", self->grp, fb_numeric_attrs[i]);
		fd = open(path, O_WRONLY);
		EXPECT_GT(0, fd) TH_LOG("%s opens for writing", path);
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < sizeof(fb_word_attrs) / sizeof(fb_word_attrs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", self->grp, fb_word_attrs[i]);
		fd = open(path, O_WRONLY);
		EXPECT_GT(0, fd) TH_LOG("%s opens for writing", path);
		if (fd >= 0)
			close(fd);
	}
}

/* The setting is one of the three words, the path in use one of two. */
TEST_F(fb, surrender_path_is_known)
{
	char path[400], val[64];

	FB_NEED_GROUP();
	snprintf(path, sizeof(path), "%s/" FB_ATTR_SURRENDER_PATH, self->grp);
	ASSERT_EQ(0, fb_read_str(path, val, sizeof(val)));
	EXPECT_TRUE(!strcmp(val, "auto") || !strcmp(val, "inflate") ||
		    !strcmp(val, "report"))
		TH_LOG(FB_ATTR_SURRENDER_PATH " reads %s", val);
	snprintf(path, sizeof(path), "%s/" FB_ATTR_PATH_ACTIVE, self->grp);
	ASSERT_EQ(0, fb_read_str(path, val, sizeof(val)));
	EXPECT_TRUE(!strcmp(val, "inflate") || !strcmp(val, "report"))
		TH_LOG(FB_ATTR_PATH_ACTIVE " reads %s", val);
}

TEST_F(fb, features_match_virtio)
{
	char path[512], bits[256], names[256], want[256] = "";
	int i;

	FB_NEED_GROUP();

	snprintf(path, sizeof(path), "%s/features", self->dev);
	ASSERT_EQ(0, fb_read_str(path, bits, sizeof(bits)));
	snprintf(path, sizeof(path), "%s/" FB_ATTR_FEATURES, self->grp);
	ASSERT_EQ(0, fb_read_str(path, names, sizeof(names)));
	for (i = 0; i < FB_NR_FEATURES && bits[i]; i++) {
		if (bits[i] != '1')
			continue;
		if (want[0])
			strcat(want, " ");
		strcat(want, fb_feature_names[i]);
	}
	EXPECT_STREQ(want, names);
}

TEST_F(fb, held_pages_add_up)
{
	unsigned long actual, blocks, pages;

	FB_NEED_GROUP();

	ASSERT_EQ(0, fb_attr_ul(self->grp, FB_ATTR_ACTUAL_PAGES, &actual));
	ASSERT_EQ(0, fb_attr_ul(self->grp, FB_ATTR_BLOCKS_2M, &blocks));
	ASSERT_EQ(0, fb_attr_ul(self->grp, FB_ATTR_PAGES_4K, &pages));
	EXPECT_EQ(actual, blocks * FB_PAGES_PER_BLOCK + pages);
}

TEST_HARNESS_MAIN
