// SPDX-License-Identifier: GPL-2.0
/*
 * fbb_kpf: how much of the ballooned memory lies in whole 2 MiB blocks.
 *
 * Both balloon drivers mark the pages they hold PageOffline, which
 * /proc/kpageflags reports as KPF_OFFLINE.  This counts every offline page
 * and those of them that lie in 2 MiB-aligned runs of 512 offline pages,
 * the same way whatever driver holds them.
 *
 *   fbb_kpf
 *
 * Prints one line of key=value pairs:
 *   pfns           PFNs /proc/kpageflags covers
 *   offline        offline pages
 *   whole_pages    offline pages in fully offline 2 MiB-aligned blocks
 *   whole_blocks   such blocks
 *   partial_blocks 2 MiB blocks with some, but not all, pages offline
 *
 * Exit status: 0 done, 1 cannot read /proc/kpageflags (needs root and
 * CONFIG_PROC_PAGE_MONITOR).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KPF_OFFLINE		23	/* include/uapi/linux/kernel-page-flags.h */
#define PAGES_PER_BLOCK		512	/* 2 MiB of 4 KiB pages */

int main(void)
{
	static uint64_t flags[PAGES_PER_BLOCK];
	unsigned long pfns = 0, offline = 0, whole_pages = 0;
	unsigned long whole_blocks = 0, partial_blocks = 0;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "fbb_kpf: /proc/kpageflags: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		/* One aligned block per read: pread at block * 512 * 8. */
		ssize_t got = pread(fd, flags, sizeof(flags),
				    (off_t)pfns * sizeof(flags[0]));
		unsigned long n, i, off = 0;

		if (got < 0) {
			fprintf(stderr, "fbb_kpf: read: %s\n", strerror(errno));
			return 1;
		}
		if (got == 0)
			break;
		n = got / sizeof(flags[0]);
		for (i = 0; i < n; i++)
			off += (flags[i] >> KPF_OFFLINE) & 1;
		offline += off;
		if (n == PAGES_PER_BLOCK && off == PAGES_PER_BLOCK) {
			whole_pages += off;
			whole_blocks++;
		} else if (off) {
			partial_blocks++;
		}
		pfns += n;
		if (n < PAGES_PER_BLOCK)
			break;
	}
	close(fd);
	printf("pfns=%lu offline=%lu whole_pages=%lu whole_blocks=%lu partial_blocks=%lu\n",
	       pfns, offline, whole_pages, whole_blocks, partial_blocks);
	return 0;
}
