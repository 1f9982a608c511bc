// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: administer fastballoon devices through sysfs.
 *
 *   balloonctl [--device virtioN] status [--json]
 *   balloonctl [--device virtioN] get KNOB | set KNOB VALUE
 *   balloonctl [--device virtioN] watch [--interval S] [--count N]
 *   balloonctl [--device virtioN] takeover | release
 *   balloonctl list
 *
 * This file holds the command line, device selection, status, get and set;
 * watch.c and bind.c hold the other commands.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloonctl.h"
#include "parse.h"

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

/* ---- help ---- */

struct bc_cmd_help {
	const char *name;
	const char *synopsis;
	const char *text;
};

static const struct bc_cmd_help bc_help[] = {
	{ "status", "status [--json]",
	  "Show the balloon: host and effective target against actual (pages and\n"
	  "MiB), the 2 MiB/4 KiB split, surrender path, features, knobs, counters,\n"
	  "MemAvailable against the floor. Without --device, every fastballoon\n"
	  "device. --json prints one JSON object for one device, an array of them\n"
	  "for several.\n" },
	{ "get", "get KNOB",
	  "Print the value of a knob or read-only attribute, as sysfs has it.\n"
	  "KNOB is a sysfs name or an alias (see 'balloonctl help knobs').\n" },
	{ "set", "set KNOB VALUE",
	  "Set a knob. Page-valued knobs take 4 KiB pages (262144), sizes with\n"
	  "binary K/M/G/T suffixes and an optional B or iB (1G, 512MiB), which must\n"
	  "be whole pages, or a percentage of the guest's RAM (25%). The rate\n"
	  "takes pages or sizes per second (25600, 100M, 100M/s). Durations take\n"
	  "milliseconds (1000, 1000ms, 1s). The value is range-checked here first.\n" },
	{ "watch", "watch [--interval S] [--count N]",
	  "Redraw a live view every S seconds (default 1): target against actual,\n"
	  "inflate and deflate rates from the counters, the 2 MiB/4 KiB split,\n"
	  "defrag attempts/successes/time per interval, MemAvailable against the\n"
	  "floor. Stops after N refreshes with --count. When standard output is not\n"
	  "a terminal, prints one plain line per refresh.\n" },
	{ "takeover", "takeover",
	  "Move a device from the in-tree virtio_balloon driver to fastballoon\n"
	  "without a reboot (loads the module with modprobe if needed). The old\n"
	  "driver empties the balloon; fastballoon refills it to the host's target.\n" },
	{ "release", "release",
	  "The reverse of takeover: move a device from fastballoon back to\n"
	  "virtio_balloon (loads virtio_balloon with modprobe if needed).\n" },
	{ "list", "list",
	  "List virtio balloon devices and the driver each is bound to.\n" },
};

static void bc_usage(FILE *f)
{
	size_t i;

	fputs("Usage: balloonctl [--device virtioN] COMMAND [ARGS]\n"
	      "Administer fastballoon, the virtio-balloon driver, through sysfs.\n\n"
	      "Commands:\n", f);
	for (i = 0; i < sizeof(bc_help) / sizeof(bc_help[0]); i++)
		fprintf(f, "  %s\n", bc_help[i].synopsis);
	fputs("\nOptions:\n"
	      "  -d, --device virtioN   the device (needed by get, set, watch,\n"
	      "                         takeover and release when there are several)\n"
	      "  -j, --json             status as JSON\n"
	      "  -i, --interval S       watch: seconds between refreshes (default 1)\n"
	      "  -n, --count N          watch: stop after N refreshes\n"
	      "  -h, --help             this help; 'balloonctl help COMMAND' or\n"
	      "                         'balloonctl help knobs' for more\n"
	      "  -V, --version          print the version\n\n"
	      "Exit status: 0 ok, 1 failed, 2 usage or bad value, 3 permission\n"
	      "(run as root), 4 module not loaded or no such device.\n"
	      "See balloonctl(8).\n", f);
}

static void bc_help_knobs(void)
{
	char range[128], aliases[64];
	size_t i, j, n;

	puts("Knobs (sysfs name, aliases, range with RAM = ram_pages, default):");
	for (i = 0; i < bc_nr_knobs; i++) {
		const struct bc_knob *k = &bc_knobs[i];

		bc_knob_range(k, 0, false, range, sizeof(range));
		if (k->max_is_ram)
			snprintf(range, sizeof(range), "%llu..RAM pages",
				 (unsigned long long)k->min);
		aliases[0] = '\0';
		for (j = 0, n = 0; k->aliases[j] && n < sizeof(aliases); j++)
			n += (size_t)snprintf(aliases + n, sizeof(aliases) - n,
					      "%s%s", j ? "," : "",
					      k->aliases[j]);
		printf("  %-26s %-11s %s [default %s]%s%s\n", k->name, aliases,
		       range, k->def, k->zero ? ", 0 = " : "",
		       k->zero ? k->zero : "");
	}
	puts("Read-only attributes (get only):");
	for (i = 0; i < bc_nr_gauges; i++)
		printf("  %s\n", bc_gauges[i]);
	for (i = 0; i < bc_nr_counters; i++)
		printf("  %s\n", bc_counters[i]);
}

static int bc_cmd_help(const char *what)
{
	size_t i;

	if (!what) {
		bc_usage(stdout);
		return BC_EXIT_OK;
	}
	if (strcmp(what, "knobs") == 0) {
		bc_help_knobs();
		return BC_EXIT_OK;
	}
	for (i = 0; i < sizeof(bc_help) / sizeof(bc_help[0]); i++) {
		if (strcmp(bc_help[i].name, what) == 0) {
			printf("Usage: balloonctl [--device virtioN] %s\n\n%s",
			       bc_help[i].synopsis, bc_help[i].text);
			if (strcmp(what, "get") == 0 || strcmp(what, "set") == 0)
				puts("\nSee 'balloonctl help knobs' for the knobs.");
			return BC_EXIT_OK;
		}
	}
	bc_err("no help for '%s': commands are status, get, set, watch, "
	       "takeover, release, list; or 'knobs'", what);
	return BC_EXIT_USAGE;
}

/* ---- devices ---- */

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

/* ---- status ---- */

static void bc_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* An attribute as a JSON number, or null if it is missing or not a number. */
static void bc_json_num(const char *dev, const char *attr)
{
	uint64_t v;

	if (bc_attr_read_u64(dev, attr, &v) == 0)
		printf("%llu", (unsigned long long)v);
	else
		fputs("null", stdout);
}

static void bc_json_attr_str(const char *dev, const char *attr)
{
	char buf[BC_VALUE_LEN];

	if (bc_attr_read(dev, attr, buf, sizeof(buf)) == 0)
		bc_json_str(buf);
	else
		fputs("null", stdout);
}

static void bc_status_json(const char *dev)
{
	char buf[BC_VALUE_LEN], *tok, *save = NULL;
	uint64_t kib;
	size_t i;
	bool first = true;

	printf("{\"device\": ");
	bc_json_str(dev);
	printf(", \"driver\": \"" FB_DRIVER_NAME "\"");
	for (i = 0; i < bc_nr_gauges; i++) {
		const char *a = bc_gauges[i];

		printf(", \"%s\": ", a);
		if (strcmp(a, FB_ATTR_FEATURES) == 0) {
			if (bc_attr_read(dev, a, buf, sizeof(buf))) {
				fputs("null", stdout);
				continue;
			}
			putchar('[');
			for (tok = strtok_r(buf, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				printf("%s", first ? "" : ", ");
				bc_json_str(tok);
				first = false;
			}
			putchar(']');
		} else if (strcmp(a, FB_ATTR_PATH_ACTIVE) == 0) {
			bc_json_attr_str(dev, a);
		} else {
			bc_json_num(dev, a);
		}
	}
	printf(", \"mem_total_kib\": ");
	if (bc_meminfo_kib("MemTotal", &kib) == 0)
		printf("%llu", (unsigned long long)kib);
	else
		fputs("null", stdout);
	printf(", \"mem_available_kib\": ");
	if (bc_meminfo_kib("MemAvailable", &kib) == 0)
		printf("%llu", (unsigned long long)kib);
	else
		fputs("null", stdout);

	printf(", \"knobs\": {");
	for (i = 0; i < bc_nr_knobs; i++) {
		printf("%s\"%s\": ", i ? ", " : "", bc_knobs[i].name);
		if (bc_knobs[i].kind == BC_KNOB_ENUM)
			bc_json_attr_str(dev, bc_knobs[i].name);
		else
			bc_json_num(dev, bc_knobs[i].name);
	}
	printf("}, \"counters\": {");
	for (i = 0; i < bc_nr_counters; i++) {
		printf("%s\"%s\": ", i ? ", " : "", bc_counters[i]);
		bc_json_num(dev, bc_counters[i]);
	}
	printf("}}");
}

/* "131072 pages  512.0 MiB", or "?" when the attribute cannot be read. */
static const char *bc_fmt_pages(char *buf, size_t len, const char *dev,
				const char *attr, uint64_t *val)
{
	uint64_t v;

	if (bc_attr_read_u64(dev, attr, &v)) {
		snprintf(buf, len, "%10s", "?");
		if (val)
			*val = 0;
		return buf;
	}
	snprintf(buf, len, "%10llu pages %10.1f MiB", (unsigned long long)v,
		 bc_mib(v));
	if (val)
		*val = v;
	return buf;
}

static void bc_status_text(const char *dev)
{
	char buf[BC_VALUE_LEN], sz[64];
	uint64_t host, eff, actual, blocks = 0, small = 0, ram = 0, floor = 0;
	uint64_t avail, v, in_rate, de_rate;
	bool have_blocks, have_small, have_floor;
	size_t i;

	printf("%s: fastballoon\n", dev);
	printf("  host target      %s\n",
	       bc_fmt_pages(buf, sizeof(buf), dev, FB_ATTR_TARGET_PAGES, &host));
	printf("  effective target %s\n",
	       bc_fmt_pages(buf, sizeof(buf), dev, FB_ATTR_EFFECTIVE, &eff));
	printf("  actual           %s",
	       bc_fmt_pages(buf, sizeof(buf), dev, FB_ATTR_ACTUAL_PAGES, &actual));
	if (eff)
		printf("  (%.1f%% of target)", 100.0 * (double)actual / (double)eff);
	putchar('\n');

	have_blocks = !bc_attr_read_u64(dev, FB_ATTR_BLOCKS_2M, &blocks);
	have_small = !bc_attr_read_u64(dev, FB_ATTR_PAGES_4K, &small);
	if (have_blocks && have_small) {
		uint64_t bp = blocks * FB_PAGES_PER_BLOCK;

		printf("  held as          %llu x 2 MiB blocks (%.1f MiB) + "
		       "%llu x 4 KiB pages (%.1f MiB)",
		       (unsigned long long)blocks, bc_mib(bp),
		       (unsigned long long)small, bc_mib(small));
		if (bp + small)
			printf(", %.1f%% in blocks",
			       100.0 * (double)bp / (double)(bp + small));
		putchar('\n');
	} else {
		printf("  held as          ?\n");
	}

	if (bc_attr_read(dev, FB_ATTR_PATH_ACTIVE, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "?");
	printf("  surrender path   %s\n", buf);
	if (bc_attr_read(dev, FB_ATTR_FEATURES, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "?");
	printf("  features         %s\n", buf[0] ? buf : "(none)");

	if (!bc_attr_read_u64(dev, FB_ATTR_INFLATE_RATE, &in_rate) &&
	    !bc_attr_read_u64(dev, FB_ATTR_DEFLATE_RATE, &de_rate))
		printf("  last runs        inflate %llu pages/s (%.1f MiB/s), "
		       "deflate %llu pages/s (%.1f MiB/s)\n",
		       (unsigned long long)in_rate, bc_mib(in_rate),
		       (unsigned long long)de_rate, bc_mib(de_rate));

	bc_attr_read_u64(dev, FB_ATTR_RAM, &ram);
	have_floor = !bc_attr_read_u64(dev, FB_ATTR_FLOOR, &floor);
	printf("  memory           RAM %.1f MiB", bc_mib(ram));
	if (bc_meminfo_kib("MemAvailable", &avail) == 0) {
		uint64_t avail_pages = avail >> (FB_PAGE_SHIFT - 10);

		printf(", MemAvailable %.1f MiB", bc_mib(avail_pages));
		if (!have_floor)
			printf(", floor ?");
		else if (!floor)
			printf(", no floor");
		else
			printf(", floor %.1f MiB: %s", bc_mib(floor),
			       avail_pages >= floor ? "above it" :
			       "BELOW it, the balloon gives memory back");
	}
	putchar('\n');

	printf("  knobs\n");
	for (i = 0; i < bc_nr_knobs; i++) {
		const struct bc_knob *k = &bc_knobs[i];

		printf("    %-26s ", k->name);
		if (bc_attr_read(dev, k->name, buf, sizeof(buf))) {
			printf("?\n");
			continue;
		}
		sz[0] = '\0';
		if (k->kind != BC_KNOB_ENUM &&
		    !bc_attr_read_u64(dev, k->name, &v)) {
			if (v == 0 && k->zero)
				snprintf(sz, sizeof(sz), "%s", k->zero);
			else if (k->kind == BC_KNOB_PAGES)
				snprintf(sz, sizeof(sz), "%.1f MiB", bc_mib(v));
			else if (k->kind == BC_KNOB_RATE)
				fbp_format_size(sz, sizeof(sz), v, "/s");
			else if (k->kind == BC_KNOB_MS)
				snprintf(sz, sizeof(sz), "ms");
		}
		if (sz[0])
			printf("%-10s %s\n", buf, sz);
		else
			printf("%s\n", buf);
	}
	printf("  counters\n");
	for (i = 0; i < bc_nr_counters; i++) {
		if (bc_attr_read(dev, bc_counters[i], buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "?");
		printf("    %-30s %s\n", bc_counters[i], buf);
	}
}

static int bc_cmd_status(const struct bc_opts *o)
{
	struct bc_devlist devs;
	int i, ret;

	if (o->npos) {
		bc_err("status takes no arguments (got '%s'); choose a device "
		       "with --device", o->pos[0]);
		return BC_EXIT_USAGE;
	}
	ret = bc_select_devices(o->device, &devs, false, "status");
	if (ret)
		return ret;
	if (o->json) {
		if (devs.n > 1)
			putchar('[');
		for (i = 0; i < devs.n; i++) {
			if (i)
				fputs(", ", stdout);
			bc_status_json(devs.name[i]);
		}
		puts(devs.n > 1 ? "]" : "");
		return BC_EXIT_OK;
	}
	for (i = 0; i < devs.n; i++) {
		if (i)
			putchar('\n');
		bc_status_text(devs.name[i]);
	}
	return BC_EXIT_OK;
}

/* ---- get, set ---- */

static int bc_unknown_knob(const char *name)
{
	bc_err("unknown knob '%s'; 'balloonctl help knobs' lists them", name);
	return BC_EXIT_USAGE;
}

static int bc_cmd_get(const struct bc_opts *o)
{
	const struct bc_knob *k;
	struct bc_devlist devs;
	char buf[BC_VALUE_LEN], path[4096];
	const char *attr;
	int ret, err;

	if (o->npos != 1) {
		bc_err("usage: balloonctl [--device virtioN] get KNOB");
		return BC_EXIT_USAGE;
	}
	k = bc_knob_find(o->pos[0]);
	if (k)
		attr = k->name;
	else if (bc_readonly_attr(o->pos[0]))
		attr = o->pos[0];
	else
		return bc_unknown_knob(o->pos[0]);

	ret = bc_select_devices(o->device, &devs, true, "get");
	if (ret)
		return ret;
	err = bc_attr_read(devs.name[0], attr, buf, sizeof(buf));
	if (err) {
		bc_attr_path(path, sizeof(path), devs.name[0], attr);
		if (err == -ENOENT) {
			bc_err("%s: %s does not exist: the loaded module predates "
			       "this balloonctl; install the current fastballoon "
			       "module", o->pos[0], path);
			return BC_EXIT_FAIL;
		}
		if (err == -EACCES || err == -EPERM) {
			bc_err("%s: permission denied reading %s: run as root",
			       o->pos[0], path);
			return BC_EXIT_PERM;
		}
		bc_err("%s: reading %s failed: %s", o->pos[0], path,
		       strerror(-err));
		return BC_EXIT_FAIL;
	}
	puts(buf);
	return BC_EXIT_OK;
}

static int bc_cmd_set(const struct bc_opts *o)
{
	const struct bc_knob *k;
	struct bc_devlist devs;
	char val[64], old[BC_VALUE_LEN], path[4096], sz[64];
	const char *dev;
	uint64_t ram = 0, v;
	bool ram_known;
	int ret, err;

	if (o->npos != 2) {
		bc_err("usage: balloonctl [--device virtioN] set KNOB VALUE");
		return BC_EXIT_USAGE;
	}
	k = bc_knob_find(o->pos[0]);
	if (!k) {
		if (bc_readonly_attr(o->pos[0])) {
			bc_err("%s is read-only; 'balloonctl help knobs' lists "
			       "the knobs", o->pos[0]);
			return BC_EXIT_USAGE;
		}
		return bc_unknown_knob(o->pos[0]);
	}
	ret = bc_select_devices(o->device, &devs, true, "set");
	if (ret)
		return ret;
	dev = devs.name[0];

	ram_known = bc_attr_read_u64(dev, FB_ATTR_RAM, &ram) == 0 && ram;
	ret = bc_knob_parse(k, o->pos[0], o->pos[1], ram, ram_known, val,
			    sizeof(val));
	if (ret)
		return ret;

	if (bc_attr_read(dev, k->name, old, sizeof(old)))
		snprintf(old, sizeof(old), "?");
	bc_attr_path(path, sizeof(path), dev, k->name);
	err = bc_write_file(path, val);
	if (err) {
		ret = bc_write_error(dev, o->pos[0], path, val, err);
		if (err == -EINVAL && strcmp(k->name, FB_ATTR_SURRENDER_PATH) == 0 &&
		    strcmp(val, "report") == 0)
			bc_err("%s: 'report' needs the reporting feature and no "
			       "must_tell_host; 'balloonctl get features' shows "
			       "what %s negotiated", o->pos[0], dev);
		return ret;
	}

	printf("%s: %s %s -> %s", dev, k->name, old, val);
	if ((k->kind == BC_KNOB_PAGES || k->kind == BC_KNOB_RATE) &&
	    fbp_parse_uint(val, &v) == FBP_OK && v)
		printf(" (%s)", fbp_format_size(sz, sizeof(sz), v,
				k->kind == BC_KNOB_RATE ? "/s" : NULL));
	putchar('\n');
	return BC_EXIT_OK;
}

static int bc_cmd_list(const struct bc_opts *o)
{
	static const char *const drivers[] = { FB_DRIVER_NAME, BC_IN_TREE_DRIVER };
	struct bc_devlist devs;
	int i, d, found = 0;

	if (o->npos) {
		bc_err("list takes no arguments");
		return BC_EXIT_USAGE;
	}
	for (d = 0; d < 2; d++) {
		if (bc_list_devices(drivers[d], &devs) < 0)
			continue;
		for (i = 0; i < devs.n; i++, found++)
			printf("%s %s\n", devs.name[i], drivers[d]);
	}
	if (!found) {
		bc_err("no virtio balloon device is bound to fastballoon or "
		       BC_IN_TREE_DRIVER "%s",
		       bc_driver_loaded(FB_DRIVER_NAME) ? "" :
		       " (fastballoon is not loaded: run 'modprobe fastballoon')");
		return BC_EXIT_NODEV;
	}
	return BC_EXIT_OK;
}

/* ---- command line ---- */

/* "-5", "-1G", "-.5": a negative value for set, not an option. */
static bool bc_negative_number(const char *s)
{
	return s[0] == '-' && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.');
}

static bool bc_long_option(const char *arg)
{
	return strncmp(arg, "--", 2) == 0;
}

/* The long name of short option @c. */
static const char *bc_long_name(const struct option *opts, int c)
{
	for (; opts->name; opts++)
		if (opts->val == c)
			return opts->name;
	return "?";
}

/*
 * The whole tool, as a function: main.c calls it once; the fuzzer in fuzz/
 * calls it once per input, so it returns a status instead of exiting.
 */
int balloonctl_main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "device",	required_argument,	NULL, 'd' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "interval",	required_argument,	NULL, 'i' },
		{ "count",	required_argument,	NULL, 'n' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct bc_opts o = { 0 };
	bool help = false, version = false, dashdash = false;
	const char *cmd;
	int c;

	bc_sysfs_init();
	opterr = 0;
	optind = 1;
	while (optind < argc) {
		int before = optind;

		if (dashdash || argv[optind][0] != '-' || !argv[optind][1] ||
		    bc_negative_number(argv[optind])) {
			if (!o.cmd) {
				o.cmd = argv[optind];
			} else if (o.npos < (int)(sizeof(o.pos) / sizeof(o.pos[0]))) {
				o.pos[o.npos++] = argv[optind];
			} else {
				bc_err("too many arguments");
				return BC_EXIT_USAGE;
			}
			optind++;
			continue;
		}
		c = getopt_long(argc, argv, "+:d:ji:n:hV", long_opts, NULL);
		if (c == -1) {
			if (optind > before)	/* "--" */
				dashdash = true;
			continue;
		}
		switch (c) {
		case 'd':
			o.device = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'i':
			o.interval = optarg;
			break;
		case 'n':
			o.count = optarg;
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			version = true;
			break;
		case ':':
			/* argv[optind - 1] is the whole "-jd" for a short one */
			if (bc_long_option(argv[optind - 1]))
				bc_err("option %s needs a value; try 'balloonctl "
				       "--help'", argv[optind - 1]);
			else
				bc_err("option -%c needs a value; try 'balloonctl "
				       "--help'", optopt);
			return BC_EXIT_USAGE;
		default:
			/* getopt_long sets optopt for "--json=1" too */
			if (optopt && bc_long_option(argv[optind - 1]))
				bc_err("option --%s takes no value (got '%s'); try "
				       "'balloonctl --help'",
				       bc_long_name(long_opts, optopt),
				       argv[optind - 1]);
			else if (optopt)
				bc_err("unknown option '-%c'; try 'balloonctl "
				       "--help'", optopt);
			else
				bc_err("unknown option '%s'; try 'balloonctl "
				       "--help'", argv[optind - 1]);
			return BC_EXIT_USAGE;
		}
	}

	if (version) {
		puts("balloonctl " BALLOONCTL_VERSION);
		return BC_EXIT_OK;
	}
	cmd = o.cmd;
	if (help)
		return bc_cmd_help(cmd && strcmp(cmd, "help") ? cmd :
				   (o.npos ? o.pos[0] : NULL));
	if (!cmd) {
		bc_usage(stderr);
		return BC_EXIT_USAGE;
	}
	if (strcmp(cmd, "help") == 0)
		return bc_cmd_help(o.npos ? o.pos[0] : NULL);

	if (o.device) {
		const char *d = o.device;
		static char full[BC_NAME_LEN];

		/* "--device 1" means virtio1 */
		if (d[0] >= '0' && d[0] <= '9' && strlen(d) < 20) {
			snprintf(full, sizeof(full), "virtio%s", d);
			o.device = d = full;
		}
		if (!bc_valid_devname(d)) {
			bc_err("--device %s: not a virtio device name (virtioN); "
			       "'balloonctl list' shows the devices", d);
			return BC_EXIT_USAGE;
		}
	}
	if (o.json && strcmp(cmd, "status") != 0) {
		bc_err("--json is an option of status only");
		return BC_EXIT_USAGE;
	}
	if ((o.interval || o.count) && strcmp(cmd, "watch") != 0) {
		bc_err("--interval and --count are options of watch only");
		return BC_EXIT_USAGE;
	}

	if (strcmp(cmd, "status") == 0)
		return bc_cmd_status(&o);
	if (strcmp(cmd, "get") == 0)
		return bc_cmd_get(&o);
	if (strcmp(cmd, "set") == 0)
		return bc_cmd_set(&o);
	if (strcmp(cmd, "watch") == 0)
		return bc_cmd_watch(&o);
	if (strcmp(cmd, "takeover") == 0 || strcmp(cmd, "release") == 0) {
		if (o.npos) {
			bc_err("%s takes no arguments; use --device virtioN", cmd);
			return BC_EXIT_USAGE;
		}
		return bc_cmd_takeover(&o, strcmp(cmd, "release") == 0);
	}
	if (strcmp(cmd, "list") == 0)
		return bc_cmd_list(&o);

	bc_err("unknown command '%s'; try 'balloonctl --help'", cmd);
	return BC_EXIT_USAGE;
}
