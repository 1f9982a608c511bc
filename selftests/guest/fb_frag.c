// SPDX-License-Identifier: GPL-2.0
/*
 * fb_frag: leave the guest's free memory in single-page holes and hold it so
 * until killed. Used to make the balloon fall back to 4 KiB pages.
 *
 *   fb_frag MIB
 *
 * Writes MIB MiB of anonymous memory (no THP, so every page is its own),
 * then gives every other page back, prints "fragmented held=<KiB>" and
 * sleeps. Exit status 1 if the memory could not be had.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 1024) << 20;
	size_t off, held = 0;
	char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("fb_frag: mmap");
		return 1;
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	for (off = 0; off < len; off += 4096)
		p[off] = 1;
	/* Pages touched in a row sit mostly in physically adjacent frames. */
	for (off = 0; off < len; off += 8192) {
		madvise(p + off, 4096, MADV_DONTNEED);
		held += 4;
	}
	printf("fragmented held=%zu\n", held);
	fflush(stdout);
	for (;;)
		pause();
}
