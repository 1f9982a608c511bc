// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon sysfs: the "fastballoon" attribute group under each bound
 * virtio device. One value per file; names and units are in the uapi
 * header and documented in the README's ABI section.
 */
#include <linux/device.h>
#include <linux/sysfs.h>

#include "fastballoon.h"

static struct fb_balloon *fb_from_dev(struct device *dev)
{
	return dev_to_virtio(dev)->priv;
}

static ssize_t target_pages_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", fb_target_pages(fb_from_dev(dev)));
}
static DEVICE_ATTR_RO(target_pages);

static ssize_t actual_pages_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(fb_from_dev(dev)->nr_pages));
}
static DEVICE_ATTR_RO(actual_pages);

/* Whole 2 MiB blocks held. */
static ssize_t blocks_2m_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(fb_from_dev(dev)->nr_blocks));
}
static DEVICE_ATTR_RO(blocks_2m);

/* Single 4 KiB pages held; consistent with blocks_2m under the lock. */
static ssize_t pages_4k_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct fb_balloon *fb = fb_from_dev(dev);
	unsigned long n;

	mutex_lock(&fb->lock);
	n = fb->nr_pages - fb->nr_blocks * FB_BLOCK_PAGES;
	mutex_unlock(&fb->lock);
	return sysfs_emit(buf, "%lu\n", n);
}
static DEVICE_ATTR_RO(pages_4k);

static ssize_t features_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	static const char * const names[FB_NR_FEATURES] = FB_FEATURE_NAMES;
	struct fb_balloon *fb = fb_from_dev(dev);
	const char *sep = "";
	ssize_t len = 0;
	unsigned int bit;

	for (bit = 0; bit < FB_NR_FEATURES; bit++) {
		if (!fb_has(fb, bit))
			continue;
		len += sysfs_emit_at(buf, len, "%s%s", sep, names[bit]);
		sep = " ";
	}
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(features);

/* Counters: one show function per counter, generated. */
#define FB_COUNTER_ATTR(_name, _cnt)					\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct fb_balloon *fb = fb_from_dev(dev);			\
									\
	return sysfs_emit(buf, "%lld\n",				\
			  (long long)atomic64_read(&fb->cnt[_cnt]));	\
}									\
static DEVICE_ATTR_RO(_name)

FB_COUNTER_ATTR(inflated_pages_total, FB_CNT_INFLATED);
FB_COUNTER_ATTR(deflated_pages_total, FB_CNT_DEFLATED);
FB_COUNTER_ATTR(migrated_pages_total, FB_CNT_MIGRATED);
FB_COUNTER_ATTR(oom_released_pages_total, FB_CNT_OOM_RELEASED);
FB_COUNTER_ATTR(hinted_pages_total, FB_CNT_HINTED);
FB_COUNTER_ATTR(reported_pages_total, FB_CNT_REPORTED);
FB_COUNTER_ATTR(alloc_failures_total, FB_CNT_ALLOC_FAILS);
FB_COUNTER_ATTR(defrag_attempts_total, FB_CNT_DEFRAG_TRIES);
FB_COUNTER_ATTR(defrag_successes_total, FB_CNT_DEFRAG_OK);
FB_COUNTER_ATTR(defrag_time_us_total, FB_CNT_DEFRAG_US);
FB_COUNTER_ATTR(heal_trades_total, FB_CNT_HEAL_TRADES);
FB_COUNTER_ATTR(shrinker_released_pages_total, FB_CNT_SHRINK_RELEASED);
FB_COUNTER_ATTR(ranged_pages_total, FB_CNT_RANGED);

/* The path blocks take to the host right now: "inflate" or "report". */
static ssize_t surrender_path_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  fb_use_ranges(fb_from_dev(dev)) ? "report" : "inflate");
}
static DEVICE_ATTR_RO(surrender_path);

static struct attribute *fb_attrs[] = {
	&dev_attr_target_pages.attr,
	&dev_attr_actual_pages.attr,
	&dev_attr_blocks_2m.attr,
	&dev_attr_pages_4k.attr,
	&dev_attr_features.attr,
	&dev_attr_inflated_pages_total.attr,
	&dev_attr_deflated_pages_total.attr,
	&dev_attr_migrated_pages_total.attr,
	&dev_attr_oom_released_pages_total.attr,
	&dev_attr_hinted_pages_total.attr,
	&dev_attr_reported_pages_total.attr,
	&dev_attr_alloc_failures_total.attr,
	&dev_attr_defrag_attempts_total.attr,
	&dev_attr_defrag_successes_total.attr,
	&dev_attr_defrag_time_us_total.attr,
	&dev_attr_heal_trades_total.attr,
	&dev_attr_shrinker_released_pages_total.attr,
	&dev_attr_ranged_pages_total.attr,
	&dev_attr_surrender_path.attr,
	NULL
};

const struct attribute_group fb_attr_group = {
	.name = FB_SYSFS_GROUP,
	.attrs = fb_attrs,
};
