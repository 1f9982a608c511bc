// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl get and set: one attribute of one device. set parses and
 * range-checks the value (knobs.c) before anything is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloonctl.h"
#include "parse.h"

static int bc_unknown_knob(const char *name)
{
	bc_err("unknown knob '%s'; 'balloonctl help knobs' lists them", name);
	return BC_EXIT_USAGE;
}

int bc_cmd_get(const struct bc_opts *o)
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
		return bc_read_error(o->pos[0], path, err);
	}
	puts(buf);
	return BC_EXIT_OK;
}

int bc_cmd_set(const struct bc_opts *o)
{
	const struct bc_knob *k;
	struct bc_devlist devs;
	char val[64], old[BC_VALUE_LEN], path[4096], sz[64];
	const char *dev;
	uint64_t ram = 0, v;
	char *why;
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
	if (bc_knob_parse(k, o->pos[0], o->pos[1], ram, ram_known, val,
			  sizeof(val), &why)) {
		bc_err("%s", why ? why : "out of memory");
		free(why);
		return BC_EXIT_USAGE;
	}

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
	if ((k->unit == FB_UNIT_PAGES || k->unit == FB_UNIT_PAGES_PER_S) &&
	    fbp_parse_uint(val, &v) == FBP_OK && v)
		printf(" (%s)", fbp_format_size(sz, sizeof(sz), v,
				k->unit == FB_UNIT_PAGES_PER_S ? "/s" : NULL));
	putchar('\n');
	return BC_EXIT_OK;
}
