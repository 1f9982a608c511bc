// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl watch: a live view of one device, redrawn in place on a
 * terminal (like esxtop), one plain line per refresh otherwise. Rates come
 * from the deltas of the *_total counters between two refreshes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "balloonctl.h"
#include "parse.h"

/* One reading of everything watch shows; a missing value reads as 0. */
struct bc_sample {
	double t;			/* CLOCK_MONOTONIC, seconds */
	uint64_t host, effective, actual, blocks, small;
	uint64_t inflated, deflated;
	uint64_t tries, successes, defrag_us;
	uint64_t floor;
	uint64_t avail_pages;
	bool have_avail;
	char path[32];
};

static uint64_t bc_u64(const char *dev, const char *attr)
{
	uint64_t v = 0;

	bc_attr_read_u64(dev, attr, &v);
	return v;
}

static void bc_sample(const char *dev, struct bc_sample *s)
{
	struct timespec ts;
	uint64_t kib;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	s->host = bc_u64(dev, FB_ATTR_TARGET_PAGES);
	s->effective = bc_u64(dev, FB_ATTR_EFFECTIVE);
	s->actual = bc_u64(dev, FB_ATTR_ACTUAL_PAGES);
	s->blocks = bc_u64(dev, FB_ATTR_BLOCKS_2M);
	s->small = bc_u64(dev, FB_ATTR_PAGES_4K);
	s->inflated = bc_u64(dev, FB_ATTR_INFLATED);
	s->deflated = bc_u64(dev, FB_ATTR_DEFLATED);
	s->tries = bc_u64(dev, FB_ATTR_DEFRAG_TRIES);
	s->successes = bc_u64(dev, FB_ATTR_DEFRAG_OK);
	s->defrag_us = bc_u64(dev, FB_ATTR_DEFRAG_US);
	s->floor = bc_u64(dev, FB_ATTR_FLOOR);
	s->have_avail = bc_meminfo_kib("MemAvailable", &kib) == 0;
	s->avail_pages = s->have_avail ? kib >> (FB_PAGE_SHIFT - 10) : 0;
	if (bc_attr_read(dev, FB_ATTR_PATH_ACTIVE, s->path, sizeof(s->path)))
		snprintf(s->path, sizeof(s->path), "?");
}

/* Counter delta; a counter that went backwards (device rebound) gives 0. */
static uint64_t bc_delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;
}

/* What changed between @a and @b, per second where it is a rate. */
struct bc_rates {
	bool valid;
	double inflate, deflate;	/* pages/s */
	uint64_t tries, successes;	/* in the interval */
	double defrag_ms;
};

static void bc_rates(const struct bc_sample *a, const struct bc_sample *b,
		     struct bc_rates *r)
{
	double dt = b->t - a->t;

	memset(r, 0, sizeof(*r));
	if (dt <= 0)
		return;
	r->valid = true;
	r->inflate = (double)bc_delta(b->inflated, a->inflated) / dt;
	r->deflate = (double)bc_delta(b->deflated, a->deflated) / dt;
	r->tries = bc_delta(b->tries, a->tries);
	r->successes = bc_delta(b->successes, a->successes);
	r->defrag_ms = (double)bc_delta(b->defrag_us, a->defrag_us) / 1000.0;
}

static void bc_plain_header(void)
{
	printf("%8s %10s %10s %10s %8s %8s %10s %10s %6s %6s %9s %10s %10s\n",
	       "time_s", "target", "effective", "actual", "blocks2m", "pages4k",
	       "infl_pg/s", "defl_pg/s", "dfr_n", "dfr_ok", "dfr_ms",
	       "avail_MiB", "floor_MiB");
}

static void bc_plain_line(const struct bc_sample *s, const struct bc_rates *r,
			  double t0)
{
	printf("%8.1f %10llu %10llu %10llu %8llu %8llu ", s->t - t0,
	       (unsigned long long)s->host, (unsigned long long)s->effective,
	       (unsigned long long)s->actual, (unsigned long long)s->blocks,
	       (unsigned long long)s->small);
	if (r->valid)
		printf("%10.0f %10.0f %6llu %6llu %9.1f ", r->inflate, r->deflate,
		       (unsigned long long)r->tries,
		       (unsigned long long)r->successes, r->defrag_ms);
	else
		printf("%10s %10s %6s %6s %9s ", "-", "-", "-", "-", "-");
	if (s->have_avail)
		printf("%10.1f", bc_mib(s->avail_pages));
	else
		printf("%10s", "?");
	printf(" %10.1f\n", bc_mib(s->floor));
}

static void bc_bar(uint64_t val, uint64_t full)
{
	int i, n = full ? (int)(40.0 * (double)val / (double)full) : 0;

	if (n > 40)
		n = 40;
	putchar('[');
	for (i = 0; i < 40; i++)
		putchar(i < n ? '#' : '.');
	putchar(']');
}

static void bc_screen(const char *dev, const struct bc_sample *s,
		      const struct bc_rates *r, double interval)
{
	uint64_t bp = s->blocks * FB_PAGES_PER_BLOCK;
	time_t now = time(NULL);
	char clock[16];

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	/* home, clear screen */
	fputs("\033[H\033[2J", stdout);
	printf("balloonctl watch  %s  every %.1f s  (Ctrl-C quits)   %s\n\n",
	       dev, interval, clock);
	printf("  target   %10llu pages %9.1f MiB   (host %llu, effective %llu)\n",
	       (unsigned long long)s->effective, bc_mib(s->effective),
	       (unsigned long long)s->host, (unsigned long long)s->effective);
	printf("  actual   %10llu pages %9.1f MiB   ",
	       (unsigned long long)s->actual, bc_mib(s->actual));
	bc_bar(s->actual, s->effective);
	if (s->effective)
		printf(" %5.1f%%", 100.0 * (double)s->actual /
		       (double)s->effective);
	printf("\n  held     %llu x 2 MiB (%.1f MiB) + %llu x 4 KiB (%.1f MiB)",
	       (unsigned long long)s->blocks, bc_mib(bp),
	       (unsigned long long)s->small, bc_mib(s->small));
	if (bp + s->small)
		printf("   %.1f%% in blocks", 100.0 * (double)bp /
		       (double)(bp + s->small));
	putchar('\n');
	if (r->valid)
		printf("  rate     inflate %10.0f pages/s %8.1f MiB/s   deflate "
		       "%10.0f pages/s %8.1f MiB/s\n"
		       "  defrag   %llu attempts, %llu successes, %.1f ms "
		       "(last interval)\n",
		       r->inflate, r->inflate / 256.0, r->deflate,
		       r->deflate / 256.0, (unsigned long long)r->tries,
		       (unsigned long long)r->successes, r->defrag_ms);
	else
		printf("  rate     (after the next refresh)\n"
		       "  defrag   (after the next refresh)\n");
	printf("  memory   ");
	if (s->have_avail)
		printf("MemAvailable %.1f MiB", bc_mib(s->avail_pages));
	else
		printf("MemAvailable ?");
	if (!s->floor)
		printf(", no floor\n");
	else
		printf(", floor %.1f MiB%s\n", bc_mib(s->floor),
		       s->have_avail && s->avail_pages < s->floor ?
		       "  BELOW THE FLOOR" : "");
	printf("  path     %s\n", s->path);
	fflush(stdout);
}

static void bc_sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int bc_cmd_watch(const struct bc_opts *o)
{
	struct bc_sample prev, cur;
	struct bc_rates r;
	struct bc_devlist devs;
	uint64_t interval_ms = 1000, count = 0, n;
	enum fbp_err err;
	bool tty = isatty(STDOUT_FILENO);
	double t0;
	int ret;

	if (o->npos) {
		bc_err("watch takes no arguments (got '%s')", o->pos[0]);
		return BC_EXIT_USAGE;
	}
	if (o->interval) {
		err = fbp_parse_seconds(o->interval, &interval_ms);
		if (err || interval_ms < 10 || interval_ms > 3600000) {
			bc_err("--interval %s: %s; give seconds from 0.01 to 3600 "
			       "(e.g. 0.5)", o->interval,
			       err ? fbp_strerror(err) : "out of range");
			return BC_EXIT_USAGE;
		}
	}
	if (o->count) {
		err = fbp_parse_uint(o->count, &count);
		if (err || count == 0) {
			bc_err("--count %s: %s; give a number of refreshes, 1 or "
			       "more", o->count, err ? fbp_strerror(err) :
			       "must be at least 1");
			return BC_EXIT_USAGE;
		}
	}
	ret = bc_select_devices(o->device, &devs, true, "watch");
	if (ret)
		return ret;

	bc_sample(devs.name[0], &cur);
	t0 = cur.t;
	memset(&r, 0, sizeof(r));
	if (!tty)
		bc_plain_header();
	for (n = 1;; n++) {
		if (tty)
			bc_screen(devs.name[0], &cur, &r, (double)interval_ms / 1000);
		else
			bc_plain_line(&cur, &r, t0);
		fflush(stdout);
		if (count && n >= count)
			break;
		if (!bc_device_bound(FB_DRIVER_NAME, devs.name[0])) {
			bc_err("%s is no longer bound to fastballoon", devs.name[0]);
			return BC_EXIT_NODEV;
		}
		bc_sleep_ms(interval_ms);
		prev = cur;
		bc_sample(devs.name[0], &cur);
		bc_rates(&prev, &cur, &r);
	}
	return BC_EXIT_OK;
}
