// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon sysfs: the "fastballoon" attribute group under each bound
 * virtio device. One value per file; names and units are in the uapi
 * header and documented in the README's ABI section.
 *
 * The knobs are read-write. A write is checked completely before anything
 * changes: one that does not parse fails with -EINVAL, a number out of
 * range with -ERANGE, and either way the log says which knob and why
 * (ratelimited: a script in a loop must not flood it). A good write takes
 * effect at once: the work that acts on it is kicked.
 */
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/string.h>
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

/* Single 4 KiB pages held (never waits for an inflate in progress). */
static ssize_t pages_4k_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(fb_from_dev(dev)->nr_small));
}
static DEVICE_ATTR_RO(pages_4k);

static ssize_t ram_pages_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", fb_from_dev(dev)->ram_pages);
}
static DEVICE_ATTR_RO(ram_pages);

/* The reserve computed when the device was bound (reserve_pages' default). */
static ssize_t reserve_auto_pages_show(struct device *dev,
				       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", fb_from_dev(dev)->reserve_auto);
}
static DEVICE_ATTR_RO(reserve_auto_pages);

static ssize_t effective_target_pages_show(struct device *dev,
					   struct device_attribute *attr,
					   char *buf)
{
	return sysfs_emit(buf, "%lu\n", fb_effective_target(fb_from_dev(dev)));
}
static DEVICE_ATTR_RO(effective_target_pages);

static ssize_t last_inflate_pages_per_s_show(struct device *dev,
					     struct device_attribute *attr,
					     char *buf)
{
	return sysfs_emit(buf, "%lu\n",
			  READ_ONCE(fb_from_dev(dev)->last_inflate_rate));
}
static DEVICE_ATTR_RO(last_inflate_pages_per_s);

static ssize_t last_deflate_pages_per_s_show(struct device *dev,
					     struct device_attribute *attr,
					     char *buf)
{
	return sysfs_emit(buf, "%lu\n",
			  READ_ONCE(fb_from_dev(dev)->last_deflate_rate));
}
static DEVICE_ATTR_RO(last_deflate_pages_per_s);

/*
 * The negotiated features' names, space-separated, into @buf of @size
 * bytes (empty if none); returns the length. Also probe's log line.
 */
int fb_feature_names(struct fb_balloon *fb, char *buf, size_t size)
{
	static const char * const names[FB_NR_FEATURES] = FB_FEATURE_NAMES;
	unsigned int bit;
	int len = 0;

	buf[0] = '\0';
	for (bit = 0; bit < FB_NR_FEATURES; bit++)
		if (fb_has(fb, bit))
			len += scnprintf(buf + len, size - len, "%s%s",
					 len ? " " : "", names[bit]);
	return len;
}

static ssize_t features_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	int len = fb_feature_names(fb_from_dev(dev), buf, PAGE_SIZE);

	return len + sysfs_emit_at(buf, len, "\n");
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
FB_COUNTER_ATTR(floor_released_pages_total, FB_CNT_FLOOR_RELEASED);

/* The path blocks take to the host right now: "inflate" or "report". */
static ssize_t surrender_path_active_show(struct device *dev,
					  struct device_attribute *attr,
					  char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  fb_use_ranges(fb_from_dev(dev)) ? "report" : "inflate");
}
static DEVICE_ATTR_RO(surrender_path_active);

/* What was written, at most a line and 32 bytes of it, for the log. */
static int fb_input_len(const char *buf)
{
	return min_t(size_t, strcspn(buf, "\n"), 32);
}

/*
 * sysfs passes what was written as a string of @count bytes: a NUL inside
 * would hide the rest of it from the parsers, so such a write is refused.
 */
static bool fb_nul_inside(struct fb_balloon *fb, const char *knob,
			  const char *buf, size_t count)
{
	if (!memchr(buf, '\0', count))
		return false;
	dev_warn_ratelimited(&fb->vdev->dev,
			     "%s: \"%.*s\" is followed by a NUL byte and more\n",
			     knob, fb_input_len(buf), buf);
	return true;
}

/*
 * Parse a value of knob @id from the @count bytes at @buf: a decimal in its
 * range, or the index of one of its words. On failure, log why (naming the
 * knob) and return -EINVAL (does not parse) or -ERANGE (out of range);
 * *@val is then undefined.
 */
static int fb_knob_parse(struct fb_balloon *fb, unsigned int id,
			 const char *buf, size_t count, unsigned long *val)
{
	const struct fb_knob *k = &fb_knobs[id];
	unsigned long max = fb_knob_max(k, fb->ram_pages);
	char words[64];
	int err;

	if (fb_nul_inside(fb, k->name, buf, count))
		return -EINVAL;
	if (k->unit == FB_UNIT_WORD) {
		err = fb_knob_lookup(k, buf);
		if (err < 0) {
			dev_warn_ratelimited(&fb->vdev->dev,
					     "%s: \"%.*s\" is not one of %s\n",
					     k->name, fb_input_len(buf), buf,
					     fb_knob_words(k, ", ", words,
							   sizeof(words)));
			return err;
		}
		*val = err;
		return 0;
	}
	err = kstrtoul(buf, 10, val);
	if (err == -EINVAL) {
		dev_warn_ratelimited(&fb->vdev->dev,
				     "%s: \"%.*s\" is not a number (write a decimal %lu..%lu)\n",
				     k->name, fb_input_len(buf), buf, k->min, max);
		return -EINVAL;
	}
	if (err || *val < k->min || *val > max) {
		dev_warn_ratelimited(&fb->vdev->dev,
				     "%s: %.*s is out of range %lu..%lu\n",
				     k->name, fb_input_len(buf), buf, k->min, max);
		return -ERANGE;
	}
	return 0;
}

/* A numeric knob, field @_field of struct fb_config, reads as its number. */
#define FB_KNOB_SHOW_NUM(_name, _field)					\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct fb_balloon *fb = fb_from_dev(dev);			\
									\
	return sysfs_emit(buf, "%lu\n",					\
			  (unsigned long)READ_ONCE(fb->cfg._field));	\
}

/* A word knob reads as its word. */
#define FB_KNOB_SHOW_WORD(_name, _field)				\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	const struct fb_knob *k = &fb_knobs[FB_KNOB_##_name];		\
									\
	return sysfs_emit(buf, "%s\n",					\
			  k->words[READ_ONCE(fb_from_dev(dev)->cfg._field)]); \
}

/* A good write of knob @_name sets @_field and runs @_kick. */
#define FB_KNOB_STORE(_name, _field, _kick)				\
static ssize_t _name##_store(struct device *dev,			\
			     struct device_attribute *attr,		\
			     const char *buf, size_t count)		\
{									\
	struct fb_balloon *fb = fb_from_dev(dev);			\
	unsigned long val;						\
	int err;							\
									\
	err = fb_knob_parse(fb, FB_KNOB_##_name, buf, count, &val);	\
	if (err)							\
		return err;						\
	WRITE_ONCE(fb->cfg._field, val);				\
	_kick(fb);							\
	return count;							\
}

#define FB_KNOB_NUM_ATTR(_name, _field, _kick)				\
	FB_KNOB_SHOW_NUM(_name, _field)					\
	FB_KNOB_STORE(_name, _field, _kick)				\
	static DEVICE_ATTR_RW(_name)

static void fb_kick_none(struct fb_balloon *fb) { }

FB_KNOB_NUM_ATTR(guest_target_pages, guest_target, fb_target_changed);
FB_KNOB_NUM_ATTR(max_pages, max_pages, fb_target_changed);
FB_KNOB_NUM_ATTR(floor_pages, floor_pages, fb_target_changed);
FB_KNOB_NUM_ATTR(reserve_pages, reserve_pages, fb_limits_changed);
FB_KNOB_NUM_ATTR(inflate_limit_pages_per_s, inflate_limit, fb_queue_size_work);
FB_KNOB_NUM_ATTR(inflate_cpus, inflate_cpus, fb_kick_none);
FB_KNOB_NUM_ATTR(max_order, max_order, fb_queue_heal);
FB_KNOB_NUM_ATTR(defrag_ms, defrag_ms, fb_kick_none);
FB_KNOB_NUM_ATTR(heal_ms, heal_ms, fb_queue_heal);
FB_KNOB_NUM_ATTR(oom_pages, oom_pages, fb_kick_none);

FB_KNOB_SHOW_WORD(defrag, defrag)
FB_KNOB_STORE(defrag, defrag, fb_queue_heal)
static DEVICE_ATTR_RW(defrag);

FB_KNOB_SHOW_WORD(surrender_path, path)

/* The range path needs the reporting queue and a host that needn't hear. */
static ssize_t surrender_path_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t count)
{
	struct fb_balloon *fb = fb_from_dev(dev);
	unsigned long i;
	int err;

	err = fb_knob_parse(fb, FB_KNOB_surrender_path, buf, count, &i);
	if (err)
		return err;
	if (i == FB_PATH_REPORT && !fb->vqs[FB_VQ_REPORT]) {
		dev_warn_ratelimited(dev,
				     "surrender_path: report needs free page reporting, which the host did not offer\n");
		return -EINVAL;
	}
	if (i == FB_PATH_REPORT &&
	    fb_must_tell(fb)) {
		dev_warn_ratelimited(dev,
				     "surrender_path: report is not possible: the host must be told of every page (must_tell_host)\n");
		return -EINVAL;
	}
	WRITE_ONCE(fb->cfg.path, i);
	return count;
}
static DEVICE_ATTR_RW(surrender_path);

#define FB_KNOB_ATTR_PTR(_name, _unit, _min, _max, _def, _words)	\
	&dev_attr_##_name.attr,

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
	&dev_attr_floor_released_pages_total.attr,
	&dev_attr_surrender_path_active.attr,
	&dev_attr_ram_pages.attr,
	&dev_attr_reserve_auto_pages.attr,
	&dev_attr_effective_target_pages.attr,
	&dev_attr_last_inflate_pages_per_s.attr,
	&dev_attr_last_deflate_pages_per_s.attr,
	/* every knob of the table, or this does not build */
	FB_KNOBS(FB_KNOB_ATTR_PTR)
	NULL
};

const struct attribute_group fb_attr_group = {
	.name = FB_SYSFS_GROUP,
	.attrs = fb_attrs,
};
