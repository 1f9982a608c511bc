// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: what the commands share, above sysfs.c: the message format,
 * choosing the devices a command works on, and what a failed read or write
 * of an attribute means to the user (the message and the exit status).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "balloonctl.h"

void bc_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("balloonctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

double bc_mib(uint64_t pages)
{
	return (double)pages / (double)(1U << (20 - FB_PAGE_SHIFT));
}

/*
 * The devices a command works on: @want alone, or every fastballoon device.
 * With @need_one, several devices and no @want is a usage error.
 */
int bc_select_devices(const char *want, struct bc_devlist *out, bool need_one,
		      const char *cmd)
{
	struct bc_devlist other;
	char names[1024];

	if (bc_list_devices(FB_DRIVER_NAME, out) < 0) {
		bc_err("the fastballoon module is not loaded (no %s/sys/bus/virtio/"
		       "drivers/" FB_DRIVER_NAME "): run 'modprobe fastballoon', "
		       "or 'balloonctl takeover' to move a device from "
		       BC_IN_TREE_DRIVER, bc_root());
		return BC_EXIT_NODEV;
	}
	if (want) {
		if (bc_device_bound(FB_DRIVER_NAME, want)) {
			out->n = 1;
			snprintf(out->name[0], BC_NAME_LEN, "%s", want);
			return BC_EXIT_OK;
		}
		bc_devlist_join(out, names, sizeof(names));
		if (bc_device_bound(BC_IN_TREE_DRIVER, want))
			bc_err("%s is bound to " BC_IN_TREE_DRIVER ", not fastballoon: "
			       "run 'balloonctl --device %s takeover'", want, want);
		else
			bc_err("no device %s is bound to fastballoon; %s%s", want,
			       out->n ? "bound devices: " : "no device is bound",
			       names);
		return BC_EXIT_NODEV;
	}
	if (out->n == 0) {
		bc_list_devices(BC_IN_TREE_DRIVER, &other);
		bc_devlist_join(&other, names, sizeof(names));
		if (other.n)
			bc_err("no device is bound to fastballoon; %s %s bound to "
			       BC_IN_TREE_DRIVER ": run 'balloonctl takeover'",
			       names, other.n > 1 ? "are" : "is");
		else
			bc_err("no device is bound to fastballoon (the module is "
			       "loaded but found no virtio balloon device)");
		return BC_EXIT_NODEV;
	}
	if (need_one && out->n > 1) {
		bc_devlist_join(out, names, sizeof(names));
		bc_err("%s: several devices are bound to fastballoon (%s): choose "
		       "one with --device", cmd, names);
		return BC_EXIT_USAGE;
	}
	return BC_EXIT_OK;
}

/* The message and exit status for a failed read of attribute @path. */
int bc_read_error(const char *what, const char *path, int err)
{
	if (err == -ENOENT) {
		bc_err("%s: %s does not exist: the loaded module predates "
		       "this balloonctl; install the current fastballoon "
		       "module", what, path);
		return BC_EXIT_FAIL;
	}
	if (err == -EACCES || err == -EPERM) {
		bc_err("%s: permission denied reading %s: run as root",
		       what, path);
		return BC_EXIT_PERM;
	}
	bc_err("%s: reading %s failed: %s", what, path, strerror(-err));
	return BC_EXIT_FAIL;
}

/* The message and exit status for a failed sysfs write. */
int bc_write_error(const char *dev, const char *what, const char *path,
		   const char *val, int err)
{
	switch (err) {
	case -EACCES:
	case -EPERM:
		bc_err("%s: permission denied writing %s: run as root", what,
		       path);
		return BC_EXIT_PERM;
	case -ENOENT:
		if (dev && !bc_device_bound(FB_DRIVER_NAME, dev)) {
			bc_err("%s: %s is no longer bound to fastballoon", what,
			       dev);
			return BC_EXIT_NODEV;
		}
		bc_err("%s: %s does not exist: the loaded module predates this "
		       "balloonctl; install the current fastballoon module", what,
		       path);
		return BC_EXIT_FAIL;
	case -EINVAL:
		bc_err("%s: the kernel rejected '%s' as invalid (EINVAL); "
		       "'dmesg' says why", what, val);
		return BC_EXIT_FAIL;
	case -ERANGE:
		bc_err("%s: the kernel rejected %s as out of range (ERANGE); "
		       "'dmesg' says why", what, val);
		return BC_EXIT_FAIL;
	default:
		bc_err("%s: writing '%s' to %s failed: %s", what, val, path,
		       strerror(-err));
		return BC_EXIT_FAIL;
	}
}
