// SPDX-License-Identifier: GPL-2.0
/*
 * fb_latency: how long the guest's CPUs are kept from a program. One
 * thread per online CPU, each pinned to it at nice 0, reads the monotonic
 * clock in a loop for FB_SECONDS (default 10) and keeps the longest gap
 * between two reads. The gap is what a kernel path that never gives its
 * CPU up (a long loop without cond_resched()) costs a program on that CPU,
 * plus whatever the hypervisor stole. Prints one line:
 *
 *   max_gap_us=<longest of all CPUs> cpu=<where> cpus=<threads>
 *
 * and exits 0 (1 when it could not start its threads).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 64

struct spinner {
	pthread_t thread;
	int cpu;
	double seconds;
	long long max_gap_ns;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *spin(void *arg)
{
	struct spinner *s = arg;
	long long start, prev, t, end;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return NULL;	/* the CPU went away: no figure from it */
	start = prev = now_ns();
	end = start + (long long)(s->seconds * 1e9);
	while ((t = now_ns()) < end) {
		if (t - prev > s->max_gap_ns)
			s->max_gap_ns = t - prev;
		prev = t;
	}
	return NULL;
}

int main(void)
{
	const char *env = getenv("FB_SECONDS");
	double seconds = env ? atof(env) : 10;
	struct spinner s[MAX_CPUS] = { 0 };
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int i, worst = 0;

	if (n < 1 || n > MAX_CPUS || seconds <= 0) {
		fprintf(stderr, "fb_latency: %ld CPUs, %g s: out of range\n",
			n, seconds);
		return 1;
	}
	for (i = 0; i < n; i++) {
		s[i].cpu = i;
		s[i].seconds = seconds;
		if (pthread_create(&s[i].thread, NULL, spin, &s[i])) {
			fprintf(stderr, "fb_latency: no thread for CPU %d\n", i);
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		pthread_join(s[i].thread, NULL);
		if (s[i].max_gap_ns > s[worst].max_gap_ns)
			worst = i;
	}
	printf("max_gap_us=%lld cpu=%d cpus=%ld\n",
	       s[worst].max_gap_ns / 1000, worst, n);
	return 0;
}
