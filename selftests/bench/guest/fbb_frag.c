// SPDX-License-Identifier: GPL-2.0
/*
 * fbb_frag: fragment the guest's free memory into 4 KiB holes and hold it so.
 *
 * Maps MIB MiB of anonymous memory (MADV_NOHUGEPAGE, so that the guest's
 * own THP setting cannot turn the holes into pages of a huge page that is
 * only split later), writes every page, then frees every page whose PFN is
 * odd with MADV_DONTNEED.  The buddy of each freed page is a page we still
 * hold, so the holes cannot merge: the free memory sits in order-0 holes,
 * one in every other PFN.  Where /proc/self/pagemap gives no PFNs (not
 * root), every other page by address is freed instead.
 *
 * Then it writes its PID to PIDFILE, prints one line of key=value pairs and
 * sleeps until killed, holding the rest:
 *   held_kib   memory still held   freed_kib   memory freed in holes
 *   by         "pfn" or "address"  ms          time taken
 *
 *   fbb_frag MIB PIDFILE
 *
 * Exit status: 1 setup failed, 2 bad usage; otherwise it never exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096UL
#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_CHUNK	4096	/* pagemap entries per read */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int drop(char *p)
{
	if (madvise(p, PAGE, MADV_DONTNEED)) {
		fprintf(stderr, "fbb_frag: madvise(DONTNEED): %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint64_t pm[PM_CHUNK];
	unsigned long mib, npages, i, freed = 0, have_pfn = 0;
	double t0 = now_ms();
	const char *by = "pfn";
	char *end, *p;
	FILE *f;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: fbb_frag MIB PIDFILE\n");
		return 2;
	}
	mib = strtoul(argv[1], &end, 0);
	if (*end || !mib) {
		fprintf(stderr, "fbb_frag: bad size '%s'\n", argv[1]);
		return 2;
	}
	npages = (mib << 20) / PAGE;
	p = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "fbb_frag: mmap(%lu MiB): %s\n", mib, strerror(errno));
		return 1;
	}
	if (madvise(p, mib << 20, MADV_NOHUGEPAGE))
		fprintf(stderr, "fbb_frag: MADV_NOHUGEPAGE: %s\n", strerror(errno));
	for (i = 0; i < npages; i++)
		memset(p + i * PAGE, 0x5a, PAGE);

	fd = open("/proc/self/pagemap", O_RDONLY);
	for (i = 0; fd >= 0 && i < npages; i += PM_CHUNK) {
		unsigned long n = npages - i < PM_CHUNK ? npages - i : PM_CHUNK;
		unsigned long j;
		off_t off = ((uintptr_t)p / PAGE + i) * sizeof(pm[0]);

		if (pread(fd, pm, n * sizeof(pm[0]), off) != (ssize_t)(n * sizeof(pm[0]))) {
			fprintf(stderr, "fbb_frag: pagemap: %s\n", strerror(errno));
			return 1;
		}
		for (j = 0; j < n; j++) {
			uint64_t pfn = pm[j] & PM_PFN_MASK;

			if (!(pm[j] & PM_PRESENT) || !pfn)
				continue;
			have_pfn++;
			if ((pfn & 1) && drop(p + (i + j) * PAGE))
				return 1;
			freed += pfn & 1;
		}
		/* PFNs hidden (no CAP_SYS_ADMIN): fall back to addresses. */
		if (i == 0 && !have_pfn)
			break;
	}
	if (fd >= 0)
		close(fd);
	if (!have_pfn) {
		by = "address";
		for (i = 1; i < npages; i += 2) {
			if (drop(p + i * PAGE))
				return 1;
			freed++;
		}
	}

	f = fopen(argv[2], "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		fprintf(stderr, "fbb_frag: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	printf("held_kib=%lu freed_kib=%lu by=%s ms=%.0f\n",
	       (npages - freed) * (PAGE / 1024), freed * (PAGE / 1024), by,
	       now_ms() - t0);
	fflush(stdout);
	for (;;)
		pause();
}
