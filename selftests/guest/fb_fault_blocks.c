// SPDX-License-Identifier: GPL-2.0
/*
 * fb_fault_blocks: which memory blocks hold balloon pages.
 *
 * Balloon pages are PageOffline, which /proc/kpageflags shows as
 * KPF_OFFLINE. For every memory block (the unit of memory hot(un)plug,
 * /sys/devices/system/memory/block_size_bytes) that holds at least one
 * offline frame, prints
 *
 *   memoryN <offline frames>
 *
 * Blocks that are offline themselves are skipped (kpageflags says nothing
 * useful about their frames). Exit status 1 if kpageflags or the block size
 * cannot be read.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KPF_OFFLINE	23
#define CHUNK		4096
#define MEMORY_SYSFS	"/sys/devices/system/memory"

static int block_online(unsigned long nr)
{
	char path[128], state[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), MEMORY_SYSFS "/memory%lu/state", nr);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(state, sizeof(state), f))
		state[0] = 0;
	fclose(f);
	return !strncmp(state, "online", 6);
}

int main(void)
{
	static uint64_t flags[CHUNK];
	unsigned long block_pages, pfn = 0, cur = ~0UL, count = 0;
	FILE *f = fopen(MEMORY_SYSFS "/block_size_bytes", "r");
	int fd;

	if (!f || fscanf(f, "%lx", &block_pages) != 1) {
		perror("fb_fault_blocks: " MEMORY_SYSFS "/block_size_bytes");
		return 1;
	}
	fclose(f);
	block_pages /= 4096;
	fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0) {
		perror("fb_fault_blocks: /proc/kpageflags");
		return 1;
	}
	for (;;) {
		ssize_t got = pread(fd, flags, sizeof(flags),
				    pfn * sizeof(flags[0]));
		unsigned long n, i;

		if (got <= 0)
			break;
		n = got / sizeof(flags[0]);
		for (i = 0; i < n; i++, pfn++) {
			if (pfn / block_pages != cur) {
				if (count && block_online(cur))
					printf("memory%lu %lu\n", cur, count);
				cur = pfn / block_pages;
				count = 0;
			}
			count += (flags[i] >> KPF_OFFLINE) & 1;
		}
	}
	if (count && block_online(cur))
		printf("memory%lu %lu\n", cur, count);
	close(fd);
	return 0;
}
