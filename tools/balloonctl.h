/* SPDX-License-Identifier: GPL-2.0 */
/*
 * balloonctl: what the files share, top to bottom:
 *   balloonctl.c	the command line: options, the command table, help
 *   status.c getset.c watch.c bind.c	the commands
 *   attr.c		what the commands share: messages, choosing devices,
 *			what a failed read or write of an attribute means
 *   knobs.c		every attribute, the knobs from the uapi table, and
 *			how a knob's value is parsed (parse.c: the units)
 *   sysfs.c		the only place that touches files
 * Each calls only the ones below it.
 */
#ifndef BALLOONCTL_H
#define BALLOONCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/fastballoon.h>

#define BALLOONCTL_VERSION	FB_VERSION	/* the uapi header's */

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
void bc_attr_path(char *buf, size_t len, const char *dev, const char *attr);
int bc_attr_read(const char *dev, const char *attr, char *buf, size_t len);
int bc_attr_read_u64(const char *dev, const char *attr, uint64_t *val);
int bc_meminfo_kib(const char *key, uint64_t *kib);
bool bc_valid_devname(const char *name);

/* ---- knobs.c: the attribute and knob tables ---- */

/* One row of the uapi header's FB_KNOBS, and what the tool adds to it. */
struct bc_knob {
	const char *name;		/* FB_ATTR_* */
	const char *aliases[3];		/* NULL-terminated short names */
	enum fb_unit unit;
	uint64_t min;
	uint64_t max;			/* unused when @max_is_ram */
	bool max_is_ram;		/* upper bound is ram_pages */
	const char *const *choices;	/* FB_UNIT_WORD, NULL-terminated */
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
		  uint64_t ram_pages, bool ram_known, char *out, size_t outlen,
		  char **why);
void bc_knob_range(const struct bc_knob *k, uint64_t ram_pages, bool ram_known,
		   char *buf, size_t len);

/* ---- attr.c: what the commands share ---- */

void bc_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double bc_mib(uint64_t pages);
int bc_select_devices(const char *want, struct bc_devlist *out, bool need_one,
		      const char *cmd);
int bc_read_error(const char *what, const char *path, int err);
int bc_write_error(const char *dev, const char *what, const char *path,
		   const char *val, int err);

/* ---- the commands: each returns a bc_exit status ---- */

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

int bc_cmd_status(const struct bc_opts *o);	/* status.c */
int bc_cmd_list(const struct bc_opts *o);
int bc_cmd_get(const struct bc_opts *o);	/* getset.c */
int bc_cmd_set(const struct bc_opts *o);
int bc_cmd_watch(const struct bc_opts *o);	/* watch.c */
int bc_cmd_takeover(const struct bc_opts *o);	/* bind.c */
int bc_cmd_release(const struct bc_opts *o);

/* balloonctl.c: parse @argv, run the command, return a bc_exit status. */
int balloonctl_main(int argc, char **argv);

#endif /* BALLOONCTL_H */
