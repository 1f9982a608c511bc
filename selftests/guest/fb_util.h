/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by the fastballoon guest selftests: /proc parsing,
 * sysfs access, finding the virtio-balloon device, touching memory.
 */
#ifndef FB_UTIL_H
#define FB_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fastballoon.h>
#include <sys/mman.h>

#define FB_VIRTIO_DEVICES	"/sys/bus/virtio/devices"
#define FB_VIRTIO_ID_BALLOON	5
#define FB_MIB			(1UL << 20)

/* Value of @key in a "name value" or "Name: value kB" file; -1 if absent. */
static inline long long fb_read_keyed(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen))
			continue;
		if (line[klen] != ':' && line[klen] != ' ')
			continue;
		val = strtoll(line + klen + 1 + strspn(line + klen + 1, ": "), NULL, 10);
		break;
	}
	fclose(f);
	return val;
}

static inline long long fb_meminfo_kib(const char *key)
{
	return fb_read_keyed("/proc/meminfo", key);
}

static inline long long fb_vmstat(const char *key)
{
	return fb_read_keyed("/proc/vmstat", key);
}

/* Read a whole small file into @buf, stripping the trailing newline. */
static inline int fb_read_str(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/*
 * Find the virtio-balloon device: "/sys/bus/virtio/devices/virtioN" into
 * @path.  Returns 0, or -ENODEV when there is none.
 */
static inline int fb_find_balloon(char *path, size_t len)
{
	DIR *d = opendir(FB_VIRTIO_DEVICES);
	struct dirent *de;
	char p[512], id[32];
	int ret = -ENODEV;

	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "virtio", 6))
			continue;
		snprintf(p, sizeof(p), FB_VIRTIO_DEVICES "/%.64s/device", de->d_name);
		if (fb_read_str(p, id, sizeof(id)) ||
		    strtol(id, NULL, 0) != FB_VIRTIO_ID_BALLOON)
			continue;
		snprintf(path, len, FB_VIRTIO_DEVICES "/%.64s", de->d_name);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/*
 * The fastballoon group of the balloon device ("/sys/.../virtioN/fastballoon")
 * into @grp, or why there is none (a static string; @grp is then "").
 */
static inline const char *fb_bound_group(char *grp, size_t len)
{
	static char why[300];
	char dev[256], drv[512], link[512];
	ssize_t n;

	grp[0] = '\0';
	if (fb_find_balloon(dev, sizeof(dev)))
		return "no virtio-balloon device";
	snprintf(drv, sizeof(drv), "%s/driver", dev);
	n = readlink(drv, link, sizeof(link) - 1);
	if (n < 0)
		return "balloon device not bound";
	link[n] = '\0';
	if (strcmp(strrchr(link, '/') + 1, FB_DRIVER_NAME)) {
		snprintf(why, sizeof(why), "balloon device bound to %s",
			 strrchr(link, '/') + 1);
		return why;
	}
	snprintf(grp, len, "%s/" FB_SYSFS_GROUP, dev);
	return NULL;
}

/* An anonymous mapping of @mib MiB, or NULL. */
static inline unsigned char *fb_map(unsigned long mib)
{
	void *p = mmap(NULL, mib * FB_MIB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The pattern word stored at word index @i: never zero, differs per page. */
static inline unsigned long fb_pattern(unsigned long i, unsigned long seed)
{
	unsigned long x = (i + 1) * 0x9e3779b97f4a7c15UL ^ seed;

	return (x ^ (x >> 29)) | 1;
}

/* Write one pattern word into every 4 KiB page of [p, p + bytes). */
static inline void fb_touch(unsigned char *p, unsigned long bytes,
			    unsigned long seed)
{
	unsigned long off;

	for (off = 0; off < bytes; off += 4096)
		*(unsigned long *)(p + off) = fb_pattern(off / 4096, seed);
}

/* Count the pages of [p, p + bytes) whose word differs from fb_touch()'s. */
static inline unsigned long fb_check(const unsigned char *p, unsigned long bytes,
				     unsigned long seed)
{
	unsigned long off, bad = 0;

	for (off = 0; off < bytes; off += 4096)
		if (*(const unsigned long *)(p + off) != fb_pattern(off / 4096, seed))
			bad++;
	return bad;
}

static inline unsigned long fb_env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

#endif /* FB_UTIL_H */
