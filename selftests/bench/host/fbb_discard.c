// SPDX-License-Identifier: GPL-2.0
/*
 * fbb_discard: the host's side of a balloon inflate, on its own.
 *
 * A QEMU whose guest RAM is anonymous memory gives a ballooned page back
 * with madvise(MADV_DONTNEED) on the host: once per 4 KiB PFN that arrives
 * on the inflate queue, once per range that arrives on the reporting
 * queue. With RAM in a hugetlbfs memfd it punches a hole in the file
 * instead (fallocate(PUNCH_HOLE)), once per 2 MiB page, when all 512 of
 * its PFNs have arrived. This program makes the same calls on memory of
 * its own that is in the state a guest's touched RAM is in (written,
 * backed by host huge pages where the host gives them) and times only
 * the calls: the least time any driver can take to give that much memory
 * back through that path, whatever the guest does.
 *
 *   fbb_discard pages|ranges|hugetlb MIB
 *
 *   pages    MIB worth of madvise(MADV_DONTNEED) calls of 4 KiB each, in
 *            ascending order (a 2 MiB block's PFNs arrive that way)
 *   ranges   one madvise(MADV_DONTNEED) per 2 MiB range
 *   hugetlb  one fallocate(PUNCH_HOLE | KEEP_SIZE) per 2 MiB page of a
 *            MFD_HUGETLB memfd mapped shared (the pool must have MIB/2
 *            free huge pages)
 *
 * Prints one line of key=value pairs:
 *   mode       as given
 *   calls      discard calls made
 *   discard_ns wall time of those calls together
 *   touch_ns   time taken to write the memory first (not part of the limit)
 *   thp_kib    AnonHugePages of this process just before the discards
 *   rss_kib    VmRSS just before, and rss_after_kib just after
 *
 * Exit status: 0 done, 1 a call failed (the line is not printed), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB	0x0004U
#endif

#define PAGE		4096UL
#define BLOCK		(2UL << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A field of /proc/self/status or smaps_rollup, in KiB; -1 when absent. */
static long proc_kib(const char *file, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int usage(void)
{
	fprintf(stderr, "usage: fbb_discard pages|ranges|hugetlb MIB\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long mib, len, step, off, calls = 0;
	uint64_t t0, touch_ns, discard_ns;
	long thp, rss;
	int hugetlb, fd = -1;
	char *end, *map;

	if (argc != 3)
		return usage();
	mib = strtoul(argv[2], &end, 10);
	if (*end || !mib || mib > (1UL << 20))
		return usage();
	hugetlb = !strcmp(argv[1], "hugetlb");
	if (!strcmp(argv[1], "pages"))
		step = PAGE;
	else if (!strcmp(argv[1], "ranges") || hugetlb)
		step = BLOCK;
	else
		return usage();
	len = mib << 20;
	if (len % BLOCK)
		return usage();

	if (hugetlb) {
		fd = memfd_create("fbb_discard", MFD_HUGETLB);
		if (fd < 0 || ftruncate(fd, (off_t)len)) {
			perror("fbb_discard: hugetlb memfd");
			return 1;
		}
		map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			fprintf(stderr, "fbb_discard: mmap of %lu MiB of huge pages: "
				"%s (are %lu free in the pool?)\n", mib,
				strerror(errno), mib / 2);
			return 1;
		}
	} else {
		/* 2 MiB-aligned, as QEMU aligns guest RAM, and THP-advised. */
		char *raw = mmap(NULL, len + BLOCK, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (raw == MAP_FAILED) {
			perror("fbb_discard: mmap");
			return 1;
		}
		map = (char *)(((uintptr_t)raw + BLOCK - 1) & ~(BLOCK - 1));
		if (madvise(map, len, MADV_HUGEPAGE))
			perror("fbb_discard: MADV_HUGEPAGE (going on)");
	}

	t0 = now_ns();
	for (off = 0; off < len; off += PAGE)
		map[off] = 1;
	touch_ns = now_ns() - t0;
	thp = proc_kib("/proc/self/smaps_rollup", "AnonHugePages");
	rss = proc_kib("/proc/self/status", "VmRSS");

	t0 = now_ns();
	for (off = 0; off < len; off += step, calls++) {
		int r = hugetlb ?
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)off, (off_t)step) :
			madvise(map + off, step, MADV_DONTNEED);

		if (r) {
			fprintf(stderr, "fbb_discard: %s at offset %lu: %s\n",
				hugetlb ? "fallocate" : "madvise", off,
				strerror(errno));
			return 1;
		}
	}
	discard_ns = now_ns() - t0;

	printf("mode=%s calls=%lu discard_ns=%llu touch_ns=%llu thp_kib=%ld "
	       "rss_kib=%ld rss_after_kib=%ld\n", argv[1], calls,
	       (unsigned long long)discard_ns, (unsigned long long)touch_ns,
	       thp, rss, proc_kib("/proc/self/status", "VmRSS"));
	return 0;
}
