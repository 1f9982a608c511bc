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
 * This file is the command line: the options, the command table that both
 * the help and the dispatch are made from, and the help. The commands live
 * in status.c, getset.c, watch.c and bind.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "balloonctl.h"

/* The command options a command takes (the global ones are for all). */
#define BC_OPT_JSON	0x1		/* --json */
#define BC_OPT_WATCH	0x2		/* --interval, --count */

/**
 * struct bc_cmd - a command.
 * @name: what is typed.
 * @args: what follows it in the synopsis ("" for nothing).
 * @help: 'balloonctl help NAME', after the synopsis.
 * @opts: BC_OPT_* it takes.
 * @knobs: its help points at 'balloonctl help knobs'.
 * @run: does it; returns a bc_exit status.
 */
struct bc_cmd {
	const char *name;
	const char *args;
	const char *help;
	unsigned int opts;
	bool knobs;
	int (*run)(const struct bc_opts *o);
};

static const struct bc_cmd bc_cmds[] = {
	{ "status", "[--json]",
	  "Show the balloon: host and effective target against actual (pages and\n"
	  "MiB), the 2 MiB/4 KiB split, surrender path, features, knobs, counters,\n"
	  "MemAvailable against the floor. Without --device, every fastballoon\n"
	  "device. --json prints one JSON object for one device, an array of them\n"
	  "for several.\n",
	  BC_OPT_JSON, false, bc_cmd_status },
	{ "get", "KNOB",
	  "Print the value of a knob or read-only attribute, as sysfs has it.\n"
	  "KNOB is a sysfs name or an alias (see 'balloonctl help knobs').\n",
	  0, true, bc_cmd_get },
	{ "set", "KNOB VALUE",
	  "Set a knob. Page-valued knobs take 4 KiB pages (262144), sizes with\n"
	  "binary K/M/G/T suffixes and an optional B or iB (1G, 512MiB), which must\n"
	  "be whole pages, or a percentage of the guest's RAM (25%). The rate\n"
	  "takes pages or sizes per second (25600, 100M, 100M/s). Durations take\n"
	  "milliseconds (1000, 1000ms, 1s). The value is range-checked here first.\n",
	  0, true, bc_cmd_set },
	{ "watch", "[--interval S] [--count N]",
	  "Redraw a live view every S seconds (default 1): target against actual,\n"
	  "inflate and deflate rates from the counters, the 2 MiB/4 KiB split,\n"
	  "defrag attempts/successes/time per interval, MemAvailable against the\n"
	  "floor. Stops after N refreshes with --count. When standard output is not\n"
	  "a terminal, prints one plain line per refresh.\n",
	  BC_OPT_WATCH, false, bc_cmd_watch },
	{ "takeover", "",
	  "Move a device from the in-tree virtio_balloon driver to fastballoon\n"
	  "without a reboot (loads the module with modprobe if needed). The old\n"
	  "driver empties the balloon; fastballoon refills it to the host's target.\n",
	  0, false, bc_cmd_takeover },
	{ "release", "",
	  "The reverse of takeover: move a device from fastballoon back to\n"
	  "virtio_balloon (loads virtio_balloon with modprobe if needed).\n",
	  0, false, bc_cmd_release },
	{ "list", "",
	  "List virtio balloon devices and the driver each is bound to.\n",
	  0, false, bc_cmd_list },
};

#define BC_NR_CMDS	(sizeof(bc_cmds) / sizeof(bc_cmds[0]))

static const struct bc_cmd *bc_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < BC_NR_CMDS; i++)
		if (strcmp(bc_cmds[i].name, name) == 0)
			return &bc_cmds[i];
	return NULL;
}

/* "set KNOB VALUE", "list" */
static void bc_print_synopsis(FILE *f, const struct bc_cmd *c)
{
	fprintf(f, "%s%s%s", c->name, c->args[0] ? " " : "", c->args);
}

/* ---- help ---- */

static void bc_usage(FILE *f)
{
	size_t i;

	fputs("Usage: balloonctl [--device virtioN] COMMAND [ARGS]\n"
	      "Administer fastballoon, the virtio-balloon driver, through sysfs.\n\n"
	      "Commands:\n", f);
	for (i = 0; i < BC_NR_CMDS; i++) {
		fputs("  ", f);
		bc_print_synopsis(f, &bc_cmds[i]);
		fputc('\n', f);
	}
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
	const struct bc_cmd *c;
	char names[128];
	size_t i, n;

	if (!what) {
		bc_usage(stdout);
		return BC_EXIT_OK;
	}
	if (strcmp(what, "knobs") == 0) {
		bc_help_knobs();
		return BC_EXIT_OK;
	}
	c = bc_cmd_find(what);
	if (c) {
		fputs("Usage: balloonctl [--device virtioN] ", stdout);
		bc_print_synopsis(stdout, c);
		printf("\n\n%s", c->help);
		if (c->knobs)
			puts("\nSee 'balloonctl help knobs' for the knobs.");
		return BC_EXIT_OK;
	}
	for (i = 0, n = 0; i < BC_NR_CMDS && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
				      i ? ", " : "", bc_cmds[i].name);
	bc_err("no help for '%s': commands are %s; or 'knobs'", what, names);
	return BC_EXIT_USAGE;
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
	const struct bc_cmd *cmd_entry;
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
	cmd_entry = bc_cmd_find(cmd);
	if (o.json && !(cmd_entry && cmd_entry->opts & BC_OPT_JSON)) {
		bc_err("--json is an option of status only");
		return BC_EXIT_USAGE;
	}
	if ((o.interval || o.count) &&
	    !(cmd_entry && cmd_entry->opts & BC_OPT_WATCH)) {
		bc_err("--interval and --count are options of watch only");
		return BC_EXIT_USAGE;
	}
	if (!cmd_entry) {
		bc_err("unknown command '%s'; try 'balloonctl --help'", cmd);
		return BC_EXIT_USAGE;
	}
	return cmd_entry->run(&o);
}
