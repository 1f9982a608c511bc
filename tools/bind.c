// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl takeover / release: move a running device between the in-tree
 * virtio_balloon driver and fastballoon through the driver core's
 * unbind/bind files, loading the target module first if needed. If the
 * target refuses the device, the original driver gets it back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balloonctl.h"

#define BC_DRIVERS	"/sys/bus/virtio/drivers"

/* Run modprobe @module (fork/exec, no shell). Its exit status, or -1. */
static int bc_modprobe(const char *module)
{
	static const char *const paths[] = { "/sbin/modprobe",
					     "/usr/sbin/modprobe" };
	char *const argv[] = { "modprobe", (char *)module, NULL };
	int status;
	size_t i;
	pid_t pid;

	printf("loading %s: modprobe %s\n", module, module);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp("modprobe", argv);
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			execv(paths[i], argv);
		fprintf(stderr, "balloonctl: cannot run modprobe: %s\n",
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return -1;
}

/* A device present on the bus with no driver at all. */
static bool bc_device_unbound(const char *dev)
{
	char path[4096];

	bc_path(path, sizeof(path), "/sys/bus/virtio/devices/%s", dev);
	if (!bc_exists(path))
		return false;
	bc_path(path, sizeof(path), "/sys/bus/virtio/devices/%s/driver", dev);
	return !bc_exists(path);
}

static int bc_driver_write(const char *driver, const char *file,
			   const char *dev)
{
	char path[4096];

	bc_path(path, sizeof(path), BC_DRIVERS "/%s/%s", driver, file);
	return bc_write_file(path, dev);
}

static void bc_print_memtotal(const char *label, bool ok, uint64_t kib)
{
	if (ok)
		printf("%s %.1f MiB", label, (double)kib / 1024.0);
	else
		printf("%s ?", label);
}

/* The one device to move, or an exit status. */
static int bc_pick(const struct bc_opts *o, const char *from, const char *to,
		   const char *cmd, char *dev, bool *unbound)
{
	struct bc_devlist devs, others;
	char names[1024];

	*unbound = false;
	if (o->device) {
		snprintf(dev, BC_NAME_LEN, "%s", o->device);
		if (bc_device_bound(from, dev))
			return BC_EXIT_OK;
		if (bc_device_bound(to, dev))
			return -1;	/* already there */
		if (bc_device_unbound(dev)) {
			*unbound = true;
			return BC_EXIT_OK;
		}
		bc_list_devices(from, &devs);
		bc_devlist_join(&devs, names, sizeof(names));
		bc_err("%s: %s is not bound to %s; %s%s", cmd, dev, from,
		       devs.n ? "devices bound to it: " :
		       "no device is bound to it", names);
		return BC_EXIT_NODEV;
	}

	if (bc_list_devices(from, &devs) < 0 || devs.n == 0) {
		bc_list_devices(to, &others);
		bc_devlist_join(&others, names, sizeof(names));
		if (others.n)
			bc_err("%s: no device is bound to %s; %s %s already "
			       "bound to %s", cmd, from, names,
			       others.n > 1 ? "are" : "is", to);
		else
			bc_err("%s: no device is bound to %s%s; 'balloonctl list' "
			       "shows the balloon devices", cmd, from,
			       bc_driver_loaded(from) ? "" :
			       " (the driver is not loaded)");
		return BC_EXIT_NODEV;
	}
	if (devs.n > 1) {
		bc_devlist_join(&devs, names, sizeof(names));
		bc_err("%s: several devices are bound to %s (%s): choose one "
		       "with --device", cmd, from, names);
		return BC_EXIT_USAGE;
	}
	snprintf(dev, BC_NAME_LEN, "%s", devs.name[0]);
	return BC_EXIT_OK;
}

static int bc_move(const struct bc_opts *o, bool release)
{
	const char *from = release ? FB_DRIVER_NAME : BC_IN_TREE_DRIVER;
	const char *to = release ? BC_IN_TREE_DRIVER : FB_DRIVER_NAME;
	const char *cmd = release ? "release" : "takeover";
	char dev[BC_NAME_LEN], path[4096];
	uint64_t before = 0, after = 0, target = 0, actual = 0;
	bool have_before, have_after, have_target, have_actual, unbound;
	int ret, err, rb;

	if (!bc_fixture_mode() && geteuid() != 0) {
		bc_err("%s moves a device between drivers: run as root", cmd);
		return BC_EXIT_PERM;
	}
	ret = bc_pick(o, from, to, cmd, dev, &unbound);
	if (ret < 0) {
		printf("%s is already bound to %s: nothing to do\n", dev, to);
		return BC_EXIT_OK;
	}
	if (ret)
		return ret;

	if (!bc_driver_loaded(to)) {
		if (bc_fixture_mode()) {
			bc_err("%s: %s is not loaded; BALLOONCTL_ROOT is set, so "
			       "not running 'modprobe %s'", cmd, to, to);
			return BC_EXIT_NODEV;
		}
		ret = bc_modprobe(to);
		if (ret != 0 || !bc_driver_loaded(to)) {
			bc_err("%s: 'modprobe %s' failed%s; is the module installed "
			       "for this kernel (make install)? %s stays on %s",
			       cmd, to, ret > 0 ? " (see its message above)" : "",
			       dev, unbound ? "no driver" : from);
			return BC_EXIT_NODEV;
		}
	}

	/* the balloon as fastballoon sees it, before a release empties it */
	if (release) {
		have_target = !bc_attr_read_u64(dev, FB_ATTR_TARGET_PAGES, &target);
		have_actual = !bc_attr_read_u64(dev, FB_ATTR_ACTUAL_PAGES, &actual);
	}
	have_before = bc_meminfo_kib("MemTotal", &before) == 0;

	if (!unbound) {
		err = bc_driver_write(from, "unbind", dev);
		if (err) {
			bc_path(path, sizeof(path), BC_DRIVERS "/%s/unbind", from);
			ret = bc_write_error(NULL, cmd, path, dev, err);
			bc_err("%s: %s is still bound to %s", cmd, dev, from);
			return ret;
		}
	}

	err = bc_driver_write(to, "bind", dev);
	if (!bc_device_bound(to, dev)) {
		bc_err("%s: binding %s to %s failed: %s", cmd, dev, to,
		       err ? strerror(-err) : "the device did not appear under "
		       "the driver");
		if (unbound) {
			bc_err("%s: %s stays without a driver", cmd, dev);
			return err == -EACCES || err == -EPERM ? BC_EXIT_PERM :
			       BC_EXIT_FAIL;
		}
		rb = bc_driver_write(from, "bind", dev);
		if (bc_device_bound(from, dev)) {
			bc_err("%s: rebound %s to %s; nothing changed; 'dmesg' "
			       "says why %s refused it", cmd, dev, from, to);
		} else {
			bc_path(path, sizeof(path), BC_DRIVERS "/%s/bind", from);
			bc_err("%s: rebinding %s to %s failed too (%s): the "
			       "device has no driver now; try 'echo %s > %s'",
			       cmd, dev, from, rb ? strerror(-rb) : "not bound",
			       dev, path);
		}
		return err == -EACCES || err == -EPERM ? BC_EXIT_PERM :
		       BC_EXIT_FAIL;
	}

	have_after = bc_meminfo_kib("MemTotal", &after) == 0;
	if (!release) {
		have_target = !bc_attr_read_u64(dev, FB_ATTR_TARGET_PAGES, &target);
		have_actual = !bc_attr_read_u64(dev, FB_ATTR_ACTUAL_PAGES, &actual);
	}

	printf("%s: %s -> %s\n", dev, unbound ? "(no driver)" : from, to);
	bc_print_memtotal("  MemTotal", have_before, before);
	bc_print_memtotal(" before,", have_after, after);
	printf(" after\n");
	printf("  host target %s%llu pages (%.1f MiB), ", have_target ? "" : "?",
	       (unsigned long long)target, bc_mib(target));
	printf("%s %s%llu pages (%.1f MiB)\n",
	       release ? "fastballoon held" : "actual", have_actual ? "" : "?",
	       (unsigned long long)actual, bc_mib(actual));
	printf("  %s fills the balloon to the host's target in the "
	       "background\n", to);
	return BC_EXIT_OK;
}

static int bc_move_cmd(const struct bc_opts *o, bool release)
{
	if (o->npos) {
		bc_err("%s takes no arguments; use --device virtioN", o->cmd);
		return BC_EXIT_USAGE;
	}
	return bc_move(o, release);
}

int bc_cmd_takeover(const struct bc_opts *o)
{
	return bc_move_cmd(o, false);
}

int bc_cmd_release(const struct bc_opts *o)
{
	return bc_move_cmd(o, true);
}
