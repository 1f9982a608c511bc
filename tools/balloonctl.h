/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloonctl: what the command files share. sysfs.c is the only place that
 * touches files; knobs.c knows every attribute; balloonctl.c, watch.c and
 * bind.c are the commands.
 */
#ifndef BALLOONCTL_H
#define BALLOONCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/fastballoon.h>

#define BALLOONCTL_VERSION	"0.1.0"

/* Exit status, documented in balloonctl.8 (EXIT STATUS). */
enum bc_exit {
	BC_EXIT_OK		= 0,	/* done */
	BC_EXIT_FAIL		= 1,	/* the operation failed */
	BC_EXIT_USAGE		= 2,	/* bad command line or value */
	BC_EXIT_PERM		= 3,	/* permission denied: run as root */
	BC_EXIT_NODEV		= 4,	/* module not loaded or no such device */
};

#define BC_IN_TREE_DRIVER	"virtio_balloon"
#define BC_MAX_DEVICES		64
#define BC_NAME_LEN		32
#define BC_VALUE_LEN		512

/* ---- sysfs.c: every path goes through the BALLOONCTL_ROOT prefix ---- */

struct bc_devlist {
	int n;
	char name[BC_MAX_DEVICES][BC_NAME_LEN];
};

void bc_sysfs_init(void);
bool bc_fixture_mode(void);		/* BALLOONCTL_ROOT is set */
const char *bc_root(void);
void bc_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool bc_exists(const char *path);
int bc_read_file(const char *path, char *buf, size_t len);
int bc_write_file(const char *path, const char *val);
bool bc_driver_loaded(const char *driver);
int bc_list_devices(const char *driver, struct bc_devlist *list);
bool bc_device_bound(const char *driver, const char *dev);
void bc_devlist_join(const struct bc_devlist *list, char *buf, size_t len);
int bc_attr_path(char *buf, size_t len, const char *dev, const char *attr);
int bc_attr_read(const char *dev, const char *attr, char *buf, size_t len);
int bc_attr_read_u64(const char *dev, const char *attr, uint64_t *val);
int bc_attr_write(const char *dev, const char *attr, const char *val);
int bc_meminfo_kib(const char *key, uint64_t *kib);
bool bc_valid_devname(const char *name);

/* ---- knobs.c: the attribute and knob tables ---- */

enum bc_knob_kind {
	BC_KNOB_PAGES,		/* 4 KiB pages, sizes, N% */
	BC_KNOB_RATE,		/* pages per second, sizes per second */
	BC_KNOB_UINT,		/* plain integer */
	BC_KNOB_MS,		/* milliseconds */
	BC_KNOB_ENUM,		/* one of @choices */
};

struct bc_knob {
	const char *name;		/* FB_ATTR_* */
	const char *aliases[3];		/* NULL-terminated short names */
	enum bc_knob_kind kind;
	uint64_t min;
	uint64_t max;			/* unused when @max_is_ram */
	bool max_is_ram;		/* upper bound is ram_pages */
	const char *const *choices;	/* BC_KNOB_ENUM, NULL-terminated */
	const char *def;		/* module default */
	const char *zero;		/* what 0 means, or NULL */
};

extern const struct bc_knob bc_knobs[];
extern const size_t bc_nr_knobs;

/* Read-only attributes: the gauges shown by status, then the counters. */
extern const char *const bc_gauges[];
extern const size_t bc_nr_gauges;
extern const char *const bc_counters[];
extern const size_t bc_nr_counters;

const struct bc_knob *bc_knob_find(const char *name);
bool bc_readonly_attr(const char *name);
int bc_knob_parse(const struct bc_knob *k, const char *typed, const char *arg,
		  uint64_t ram_pages, bool ram_known, char *out, size_t outlen);
void bc_knob_range(const struct bc_knob *k, uint64_t ram_pages, bool ram_known,
		   char *buf, size_t len);

/* ---- commands ---- */

/* The command line: parse @argv, run the command, return a bc_exit status. */
int balloonctl_main(int argc, char **argv);

/* The command line after the global parse. */
struct bc_opts {
	const char *cmd;
	const char *device;		/* --device, or NULL */
	const char *interval;		/* watch --interval */
	const char *count;		/* watch --count */
	bool json;			/* status --json */
	int npos;
	const char *pos[8];		/* arguments after the command */
};

int bc_select_devices(const char *want, struct bc_devlist *out, bool need_one,
		      const char *cmd);
int bc_write_error(const char *dev, const char *what, const char *path,
		   const char *val, int err);
int bc_cmd_watch(const struct bc_opts *o);
int bc_cmd_takeover(const struct bc_opts *o, bool release);
void bc_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double bc_mib(uint64_t pages);

#endif /* BALLOONCTL_H */
