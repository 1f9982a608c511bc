// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the whole balloonctl command line: option parsing,
 * command dispatch, device selection, knob lookup and value validation, run
 * in-process through balloonctl_main() against fixture sysfs trees
 * (BALLOONCTL_ROOT) built once in a temporary directory.
 *
 * Input: byte 0 picks the fixture (one device / two devices, one without
 * ram_pages / module not loaded); the rest is the argument vector, one
 * argument per NUL-separated piece (at most BCF_MAX_ARGS).
 *
 * After every input:
 *  - no crash, no ASan/UBSan/LSan report (the sanitizers abort);
 *  - the exit status is one of balloonctl.8's (0..4);
 *  - a non-zero status printed a message on stderr that starts with
 *    "balloonctl: " (or the usage text) and has no "(null)" in it;
 *  - a non-zero status left every fixture file byte-for-byte unchanged and
 *    created or removed none;
 *  - status 0 changed at most one file, a knob of a device, which now holds
 *    "N\n" with N in the knob's range (RAM from that device's ram_pages),
 *    or one of an enum knob's choices.
 * A changed knob is put back, so every input starts from the same tree.
 *
 * In-process rather than fork per input: ~50x more executions, and the tool
 * has little global state. What it has is reset here: getopt's (glibc
 * rescans only after optind = 0 and a call), and watch, the only command
 * that does not return by itself, has its sleep replaced (-Wl,--wrap=
 * nanosleep) by a jump back here; it only reads, so the same checks apply.
 *
 * The fixtures hold no device that takeover or release could move (the
 * driver they would move it to is absent, or the device is already there),
 * so those commands never write bind/unbind; their rollback after a refused
 * bind writes files on purpose and is tested in test_balloonctl.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../balloonctl.h"

#define BCF_MAX_ARGS	16
#define BCF_MAX_FILES	256
#define BCF_RAM		524288		/* 2 GiB in 4 KiB pages */
#define BCF_DRIVERS	"sys/bus/virtio/drivers"

/* A fixture tree and what every file in it held when it was built. */
struct bcf_fixture {
	const char *name;
	char root[4096];
	int nfiles;
	char *path[BCF_MAX_FILES];	/* relative to root */
	char *data[BCF_MAX_FILES];
	size_t len[BCF_MAX_FILES];
};

static struct bcf_fixture bcf_fx[3] = {
	{ .name = "one" }, { .name = "two" }, { .name = "none" },
};
static char bcf_base[4096];	/* $TMPDIR/balloonctl-fuzz-XXXXXX */

/* watch's sleep jumps back to the harness */
static jmp_buf bcf_watch_jmp;
static volatile int bcf_in_run;

int __real_nanosleep(const struct timespec *req, struct timespec *rem);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (bcf_in_run)
		longjmp(bcf_watch_jmp, 1);
	return __real_nanosleep(req, rem);
}

static void bcf_die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_cli: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	abort();
}

static void bcf_mkdirs(const char *root, const char *rel)
{
	char path[4096], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			bcf_die("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		bcf_die("mkdir %s: %s", path, strerror(errno));
}

static void bcf_write(const char *root, const char *rel, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		bcf_die("write %s: %s", path, strerror(errno));
}

static void bcf_driver(const char *root, const char *driver)
{
	char rel[256];

	snprintf(rel, sizeof(rel), BCF_DRIVERS "/%s", driver);
	bcf_mkdirs(root, rel);
	snprintf(rel, sizeof(rel), BCF_DRIVERS "/%s/bind", driver);
	bcf_write(root, rel, "");
	snprintf(rel, sizeof(rel), BCF_DRIVERS "/%s/unbind", driver);
	bcf_write(root, rel, "");
}

/* A fastballoon device with every attribute balloonctl knows. */
static void bcf_device(const char *root, int n, bool with_ram)
{
	char dir[256], rel[512], val[64];
	size_t i;

	snprintf(dir, sizeof(dir), BCF_DRIVERS "/" FB_DRIVER_NAME "/virtio%d/"
		 FB_SYSFS_GROUP, n);
	bcf_mkdirs(root, dir);
	for (i = 0; i < bc_nr_gauges; i++) {
		const char *a = bc_gauges[i];

		if (strcmp(a, FB_ATTR_RAM) == 0 && !with_ram)
			continue;
		if (strcmp(a, FB_ATTR_FEATURES) == 0)
			snprintf(val, sizeof(val), "stats_vq deflate_on_oom\n");
		else if (strcmp(a, FB_ATTR_PATH_ACTIVE) == 0)
			snprintf(val, sizeof(val), "inflate\n");
		else if (strcmp(a, FB_ATTR_RAM) == 0)
			snprintf(val, sizeof(val), "%d\n", BCF_RAM);
		else
			snprintf(val, sizeof(val), "%zu\n", 1000 * i + (size_t)n);
		snprintf(rel, sizeof(rel), "%s/%s", dir, a);
		bcf_write(root, rel, val);
	}
	for (i = 0; i < bc_nr_counters; i++) {
		snprintf(rel, sizeof(rel), "%s/%s", dir, bc_counters[i]);
		snprintf(val, sizeof(val), "%zu\n", 7 * i);
		bcf_write(root, rel, val);
	}
	for (i = 0; i < bc_nr_knobs; i++) {
		snprintf(rel, sizeof(rel), "%s/%s", dir, bc_knobs[i].name);
		snprintf(val, sizeof(val), "%s\n", bc_knobs[i].def);
		bcf_write(root, rel, val);
	}
}

static char *bcf_slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = open_memstream(&buf, &cap);
	FILE *in = fopen(path, "r");
	char chunk[512];
	size_t n;

	if (!f || !in)
		bcf_die("read %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		fwrite(chunk, 1, n, f);
	fclose(in);
	fclose(f);
	*len = cap;
	return buf;
}

/* nftw() has no user pointer: the walk fills this */
static struct bcf_fixture *bcf_walk_fx;
static struct bcf_fixture bcf_now;

static int bcf_walk_one(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	struct bcf_fixture *fx = bcf_walk_fx;
	size_t rootlen = strlen(fx->root);

	(void)st;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	if (fx->nfiles == BCF_MAX_FILES)
		bcf_die("too many files in %s%s", fx->root, "");
	fx->path[fx->nfiles] = strdup(path + rootlen + 1);
	fx->data[fx->nfiles] = bcf_slurp(path, &fx->len[fx->nfiles]);
	fx->nfiles++;
	return 0;
}

static void bcf_free(struct bcf_fixture *fx)
{
	int i;

	for (i = 0; i < fx->nfiles; i++) {
		free(fx->path[i]);
		free(fx->data[i]);
	}
	fx->nfiles = 0;
}

/* Read the whole tree of @root into @into. */
static void bcf_snapshot(const char *root, struct bcf_fixture *into)
{
	snprintf(into->root, sizeof(into->root), "%s", root);
	bcf_walk_fx = into;
	if (nftw(root, bcf_walk_one, 16, FTW_PHYS))
		bcf_die("walk %s: %s", root, strerror(errno));
}

static void bcf_cleanup(void)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bcf_base);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_cli: could not remove %s\n", bcf_base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct bcf_fixture *fx;
	int i;

	(void)argc;
	(void)argv;
	/* removed at exit; a crash leaves it, so callers point TMPDIR at theirs */
	snprintf(bcf_base, sizeof(bcf_base), "%s/balloonctl-fuzz-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(bcf_base))
		bcf_die("mkdtemp %s: %s", bcf_base, strerror(errno));
	atexit(bcf_cleanup);
	for (i = 0; i < 3; i++) {
		fx = &bcf_fx[i];
		snprintf(fx->root, sizeof(fx->root), "%s/%s", bcf_base, fx->name);
		if (mkdir(fx->root, 0755))
			bcf_die("mkdir %s: %s", fx->root, strerror(errno));
		bcf_mkdirs(fx->root, "proc");
		bcf_write(fx->root, "proc/meminfo",
			  "MemTotal:        2014000 kB\n"
			  "MemFree:         1500000 kB\n"
			  "MemAvailable:    1228800 kB\n");
	}
	/* one: virtio0; virtio_balloon absent, so release stops before writing */
	bcf_driver(bcf_fx[0].root, FB_DRIVER_NAME);
	bcf_device(bcf_fx[0].root, 0, true);
	/* two: virtio0, and virtio1 whose ram_pages is missing */
	bcf_driver(bcf_fx[1].root, FB_DRIVER_NAME);
	bcf_device(bcf_fx[1].root, 0, true);
	bcf_device(bcf_fx[1].root, 1, false);
	/* none: fastballoon not loaded, virtio3 on virtio_balloon */
	bcf_driver(bcf_fx[2].root, BC_IN_TREE_DRIVER);
	bcf_mkdirs(bcf_fx[2].root, BCF_DRIVERS "/" BC_IN_TREE_DRIVER "/virtio3");

	for (i = 0; i < 3; i++) {
		char root[4096];

		memcpy(root, bcf_fx[i].root, sizeof(root));
		bcf_snapshot(root, &bcf_fx[i]);
	}
	return 0;
}

/* The "N\n" or choice a successful set left in @rel; aborts if it is wrong. */
static void bcf_check_knob(const struct bcf_fixture *fx, const char *rel,
			   const char *data, size_t len)
{
	const struct bc_knob *k;
	const char *name = strrchr(rel, '/') + 1;
	char dev[BC_NAME_LEN], want[512], ram_path[4096], *end;
	unsigned long long v, max;
	uint64_t ram = 0;
	size_t i;

	k = bc_knob_find(name);
	if (!k || strcmp(k->name, name) != 0 ||
	    sscanf(rel, BCF_DRIVERS "/" FB_DRIVER_NAME "/%31[^/]/", dev) != 1 ||
	    !bc_valid_devname(dev))
		bcf_die("exit 0 but changed %s, which is not a knob%s", rel, "");
	if (!len || data[len - 1] != '\n' || memchr(data, '\0', len))
		bcf_die("set left %s without one newline-terminated value%s",
			rel, "");
	snprintf(want, sizeof(want), "%.*s", (int)len - 1, data);

	if (k->unit == FB_UNIT_WORD) {
		for (i = 0; k->choices[i]; i++)
			if (strcmp(k->choices[i], want) == 0)
				return;
		bcf_die("set wrote '%s' to %s, not one of its choices", want, rel);
	}
	if (want[0] < '0' || want[0] > '9')
		bcf_die("set wrote '%s' to %s, not a number", want, rel);
	errno = 0;
	v = strtoull(want, &end, 10);
	if (errno || *end || (want[0] == '0' && want[1]))
		bcf_die("set wrote '%s' to %s, not a plain number", want, rel);
	max = k->max;
	if (k->max_is_ram) {
		snprintf(ram_path, sizeof(ram_path), "%s/%.*s%s", fx->root,
			 (int)(name - rel), rel, FB_ATTR_RAM);
		/* the upper bound is left to the kernel when RAM is unknown */
		if (bc_read_file(ram_path, want, sizeof(want)) ||
		    sscanf(want, "%" SCNu64, &ram) != 1 || !ram)
			ram = UINT64_MAX;
		max = ram;
	}
	if (v < k->min || v > max) {
		snprintf(want, sizeof(want), "%llu not in %llu..%llu", v,
			 (unsigned long long)k->min, max);
		bcf_die("set wrote %s to %s", want, rel);
	}
}

/* Compare the tree with its snapshot; put changed files back. */
static void bcf_check_tree(struct bcf_fixture *fx, int rc, char **argv,
			   int argc)
{
	char args[2048], path[4300];
	size_t n = 0;
	int i, changed = 0;
	FILE *f;

	for (i = 1; i < argc && n < sizeof(args); i++)
		n += (size_t)snprintf(args + n, sizeof(args) - n, " '%s'",
				      argv[i]);

	bcf_snapshot(fx->root, &bcf_now);
	if (bcf_now.nfiles != fx->nfiles)
		bcf_die("balloonctl%s created or removed a file in the fixture%s",
			args, "");
	for (i = 0; i < fx->nfiles; i++) {
		/* nftw's order is the directory's, the same between walks */
		if (strcmp(bcf_now.path[i], fx->path[i]) != 0)
			bcf_die("balloonctl%s: the fixture's files changed (%s)",
				args, bcf_now.path[i]);
		if (bcf_now.len[i] == fx->len[i] &&
		    memcmp(bcf_now.data[i], fx->data[i], fx->len[i]) == 0)
			continue;
		if (rc != BC_EXIT_OK)
			bcf_die("balloonctl%s failed but changed %s", args,
				fx->path[i]);
		if (++changed > 1)
			bcf_die("balloonctl%s changed more than one file, %s "
				"among them", args, fx->path[i]);
		bcf_check_knob(fx, fx->path[i], bcf_now.data[i],
			       bcf_now.len[i]);
		snprintf(path, sizeof(path), "%s/%s", fx->root, fx->path[i]);
		f = fopen(path, "w");
		if (!f || fwrite(fx->data[i], 1, fx->len[i], f) != fx->len[i] ||
		    fclose(f))
			bcf_die("restore %s: %s", path, strerror(errno));
	}
	bcf_free(&bcf_now);
}

/* "unknown option 'X'" must not name an option balloonctl has. */
static void bcf_check_unknown_option(const char *err, const char *args)
{
	static const char *const longs[] = {
		"device", "json", "interval", "count", "help", "version",
	};
	static const char head[] = "balloonctl: unknown option '";
	static const char tail[] = "'; try 'balloonctl --help'\n";
	const char *p = err, *end;
	char name[256];
	size_t i, n;

	if (strncmp(p, head, strlen(head)) != 0)
		return;
	p += strlen(head);
	/* the option as typed may hold the hint too: the real one ends it */
	n = strlen(err);
	end = err + n - strlen(tail);
	if (n < strlen(head) + strlen(tail) || end < p || strcmp(end, tail))
		bcf_die("balloonctl%s: unknown option message without its hint: "
			"'%s'", args, err);
	n = strcspn(p, "=");
	if (p + n > end)
		n = (size_t)(end - p);
	snprintf(name, sizeof(name), "%.*s", (int)n, p);
	if (name[0] == '-' && name[1] && name[1] != '-' && !name[2] &&
	    strchr("djinhV", name[1]))
		bcf_die("balloonctl%s: called known option %s unknown", args,
			name);
	if (strncmp(name, "--", 2) != 0 || !name[2])
		return;
	n = strlen(name + 2);
	for (i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (strncmp(longs[i], name + 2, n) == 0)
			bcf_die("balloonctl%s: called known option %s unknown",
				args, name);
}

static void bcf_check_message(int rc, const char *err, char **argv, int argc)
{
	bool null_typed = false;
	char args[2048];
	size_t n = 0;
	int i;

	if (rc == BC_EXIT_OK)
		return;
	for (i = 1; i < argc && n < sizeof(args); i++) {
		n += (size_t)snprintf(args + n, sizeof(args) - n, " '%s'",
				      argv[i]);
		null_typed |= strstr(argv[i], "(null)") != NULL;
	}
	if (strncmp(err, "balloonctl: ", 12) != 0 &&
	    strncmp(err, "Usage: balloonctl", 17) != 0)
		bcf_die("balloonctl%s failed without a 'balloonctl: ' message: "
			"'%s'", args, err);
	if (strstr(err, "(null)") && !null_typed)
		bcf_die("balloonctl%s printed '(null)': '%s'", args, err);
	bcf_check_unknown_option(err, args);
	if (err[strlen(err) - 1] != '\n')
		bcf_die("balloonctl%s: message without a newline: '%s'", args,
			err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const reinit_argv[] = { "balloonctl", NULL };
	static FILE *devnull;
	struct bcf_fixture *fx;
	char *argv[BCF_MAX_ARGS + 2], *errbuf = NULL;
	size_t errlen = 0, i, start;
	FILE *errf, *saved_out, *saved_err;
	volatile int rc;
	int argc = 0;

	if (size < 1)
		return 0;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	fx = &bcf_fx[data[0] % 3];

	/* every argument in its own allocation, exactly its size */
	argv[argc++] = strdup("balloonctl");
	for (start = i = 1; size > 1 && i <= size && argc <= BCF_MAX_ARGS; i++) {
		if (i < size && data[i])
			continue;
		argv[argc] = malloc(i - start + 1);
		memcpy(argv[argc], data + start, i - start);
		argv[argc++][i - start] = '\0';
		start = i + 1;
	}
	argv[argc] = NULL;	/* no byte after the selector: no arguments */

	setenv("BALLOONCTL_ROOT", fx->root, 1);
	errf = open_memstream(&errbuf, &errlen);
	saved_out = stdout;
	saved_err = stderr;
	stdout = devnull;
	stderr = errf;
	bcf_in_run = 1;
	if (setjmp(bcf_watch_jmp) == 0)
		rc = balloonctl_main(argc, argv);
	else
		rc = BC_EXIT_OK;	/* watch, stopped at its first sleep */
	bcf_in_run = 0;
	fflush(stdout);
	stdout = saved_out;
	stderr = saved_err;
	fclose(errf);

	/* the next getopt_long() must start afresh, as in a new process */
	optind = 0;
	getopt(1, reinit_argv, "+");

	if (rc < BC_EXIT_OK || rc > BC_EXIT_NODEV) {
		fprintf(stderr, "fuzz_cli: exit status %d is not one of "
			"balloonctl.8's\n", rc);
		abort();
	}
	bcf_check_message(rc, errbuf, argv, argc);
	bcf_check_tree(fx, rc, argv, argc);

	free(errbuf);
	for (i = 0; i < (size_t)argc; i++)
		free(argv[i]);
	return 0;
}
