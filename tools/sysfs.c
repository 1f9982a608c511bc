// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: the only file that touches /sys and /proc. Every path is
 * prefixed with $BALLOONCTL_ROOT, so the tests can run against a fixture
 * tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "balloonctl.h"

#define BC_DRIVERS_DIR	"/sys/bus/virtio/drivers"

static const char *bc_root_dir = "";
static bool bc_fixture;

void bc_sysfs_init(void)
{
	const char *root = getenv("BALLOONCTL_ROOT");

	if (root) {
		bc_fixture = true;
		bc_root_dir = root;
	}
}

bool bc_fixture_mode(void)
{
	return bc_fixture;
}

const char *bc_root(void)
{
	return bc_root_dir;
}

void bc_path(char *buf, size_t len, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(buf, len, "%s", bc_root_dir);
	if (n >= len)
		n = len - 1;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

bool bc_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Read a one-value file, trailing newline stripped. 0 or -errno. */
int bc_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/*
 * Write @val and a newline in one write(), as sysfs wants it. Never creates
 * a file. 0 or -errno (the kernel's answer to the write).
 */
int bc_write_file(const char *path, const char *val)
{
	char buf[BC_VALUE_LEN];
	ssize_t n;
	size_t len;
	int fd, err = 0;

	len = (size_t)snprintf(buf, sizeof(buf), "%s\n", val);
	if (len >= sizeof(buf))
		return -E2BIG;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

bool bc_valid_devname(const char *name)
{
	const char *p;

	if (strncmp(name, "virtio", 6) != 0 || !name[6])
		return false;
	for (p = name + 6; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return strlen(name) < BC_NAME_LEN;
}

bool bc_driver_loaded(const char *driver)
{
	char path[4096];

	bc_path(path, sizeof(path), BC_DRIVERS_DIR "/%s", driver);
	return bc_exists(path);
}

static int bc_devcmp(const void *a, const void *b)
{
	long x = strtol((const char *)a + 6, NULL, 10);
	long y = strtol((const char *)b + 6, NULL, 10);

	return (x > y) - (x < y);
}

/* Devices bound to @driver, in numeric order. -ENOENT: driver not loaded. */
int bc_list_devices(const char *driver, struct bc_devlist *list)
{
	char path[4096];
	struct dirent *de;
	DIR *dir;

	list->n = 0;
	bc_path(path, sizeof(path), BC_DRIVERS_DIR "/%s", driver);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && list->n < BC_MAX_DEVICES) {
		if (!bc_valid_devname(de->d_name))
			continue;
		/* bc_valid_devname() checked that it fits */
		memcpy(list->name[list->n++], de->d_name,
		       strlen(de->d_name) + 1);
	}
	closedir(dir);
	qsort(list->name, (size_t)list->n, BC_NAME_LEN, bc_devcmp);
	return 0;
}

bool bc_device_bound(const char *driver, const char *dev)
{
	char path[4096];

	if (!bc_valid_devname(dev))
		return false;
	bc_path(path, sizeof(path), BC_DRIVERS_DIR "/%s/%s", driver, dev);
	return bc_exists(path);
}

void bc_devlist_join(const struct bc_devlist *list, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < list->n && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "",
				      list->name[i]);
}

void bc_attr_path(char *buf, size_t len, const char *dev, const char *attr)
{
	bc_path(buf, len, BC_DRIVERS_DIR "/" FB_DRIVER_NAME "/%s/"
		FB_SYSFS_GROUP "/%s", dev, attr);
}

int bc_attr_read(const char *dev, const char *attr, char *buf, size_t len)
{
	char path[4096];

	bc_attr_path(path, sizeof(path), dev, attr);
	return bc_read_file(path, buf, len);
}

/* An unsigned decimal attribute. -EINVAL if the file holds anything else. */
int bc_attr_read_u64(const char *dev, const char *attr, uint64_t *val)
{
	char buf[BC_VALUE_LEN], *end;
	unsigned long long v;
	int err;

	err = bc_attr_read(dev, attr, buf, sizeof(buf));
	if (err)
		return err;
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*val = v;
	return 0;
}

/* A /proc/meminfo line, in kB. */
int bc_meminfo_kib(const char *key, uint64_t *kib)
{
	char path[4096], line[256];
	size_t klen = strlen(key);
	unsigned long long v;
	FILE *f;
	int err = -ENOENT;

	bc_path(path, sizeof(path), "/proc/meminfo");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) != 0 || line[klen] != ':')
			continue;
		if (sscanf(line + klen + 1, "%llu", &v) == 1) {
			*kib = v;
			err = 0;
		}
		break;
	}
	fclose(f);
	return err;
}
