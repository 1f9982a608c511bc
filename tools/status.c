// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl status and list: what there is. status shows every attribute
 * of one or every fastballoon device, as text or JSON; list shows the
 * balloon devices and the driver each is bound to.
 */
#include <stdio.h>
#include <string.h>

#include "balloonctl.h"
#include "parse.h"

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
		if (bc_knobs[i].unit == FB_UNIT_WORD)
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

/*
 * "300000 pages/s (1171.9 MiB/s)"; 0 is no run of FB_RATE_MIN_PAGES yet
 * (a smaller run has no rate).
 */
static const char *bc_fmt_rate(char *buf, size_t len, uint64_t rate)
{
	if (rate)
		snprintf(buf, len, "%llu pages/s (%.1f MiB/s)",
			 (unsigned long long)rate, bc_mib(rate));
	else
		snprintf(buf, len, "none yet (no run of %.0f MiB)",
			 bc_mib(FB_RATE_MIN_PAGES));
	return buf;
}

static void bc_status_text(const char *dev)
{
	char buf[BC_VALUE_LEN], sz[64], rbuf[2][64];
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
		printf("  last runs        inflate %s, deflate %s\n",
		       bc_fmt_rate(rbuf[0], sizeof(rbuf[0]), in_rate),
		       bc_fmt_rate(rbuf[1], sizeof(rbuf[1]), de_rate));

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
		if (k->unit != FB_UNIT_WORD &&
		    !bc_attr_read_u64(dev, k->name, &v)) {
			if (v == 0 && k->zero)
				snprintf(sz, sizeof(sz), "%s", k->zero);
			else if (k->unit == FB_UNIT_PAGES)
				snprintf(sz, sizeof(sz), "%.1f MiB", bc_mib(v));
			else if (k->unit == FB_UNIT_PAGES_PER_S)
				fbp_format_size(sz, sizeof(sz), v, "/s");
			else if (k->unit == FB_UNIT_MS)
				snprintf(sz, sizeof(sz), "ms");
			else if (k->unit == FB_UNIT_CPUS)
				snprintf(sz, sizeof(sz), "CPUs");
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

int bc_cmd_status(const struct bc_opts *o)
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

int bc_cmd_list(const struct bc_opts *o)
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
