// SPDX-License-Identifier: GPL-2.0
/*
 * fbb_touch: make guest memory resident on the host, then free it in the
 * guest.  Allocates MIB MiB with malloc(), writes every byte, and exits:
 * the memory goes back to the guest's free lists but stays resident in
 * QEMU, which is what a balloon inflate should then hand back.
 *
 *   fbb_touch MIB
 *
 * Exit status: 0 done, 1 allocation failed, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	unsigned long mib;
	double t0 = now_ms();
	char *end;
	char *p;

	if (argc != 2) {
		fprintf(stderr, "usage: fbb_touch MIB\n");
		return 2;
	}
	mib = strtoul(argv[1], &end, 0);
	if (*end || !mib) {
		fprintf(stderr, "fbb_touch: bad size '%s'\n", argv[1]);
		return 2;
	}
	p = malloc(mib << 20);
	if (!p) {
		fprintf(stderr, "fbb_touch: malloc(%lu MiB) failed\n", mib);
		return 1;
	}
	/* Not zero: nothing on the way may treat the pages as empty. */
	memset(p, 0x5a, mib << 20);
	/* The memory is never read: keep the compiler from dropping the writes. */
	__asm__ volatile("" : : "r"(p) : "memory");
	printf("touched_mib=%lu ms=%.0f\n", mib, now_ms() - t0);
	return 0;
}
