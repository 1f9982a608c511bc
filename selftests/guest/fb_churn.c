// SPDX-License-Identifier: GPL-2.0
/*
 * fb_churn: keep the guest's memory moving while the host moves the balloon.
 *
 * One loop, until the file FB_STOP exists (or FB_SECONDS, default 600,
 * have passed), picks at random:
 *  - anonymous memory: map a chunk of 1-32 MiB and write a pattern word
 *    into every page, or check a random chunk and unmap it; at most FB_MIB
 *    (default 256) MiB mapped at a time;
 *  - files: write a file of 1-16 MiB in FB_DIR (default /tmp/fb-churn),
 *    read it back and check it, truncate one to half, or delete the oldest;
 *    at most FB_FILE_MIB (default 128) MiB in files at a time.
 * The files live on whatever FB_DIR is; in the test guest that is tmpfs,
 * so their pages go through the page cache (Cached and Shmem in meminfo)
 * but are shmem: there is no swap to reclaim them to.
 *
 * On the way out every chunk and file is checked once more and freed.  A
 * page that does not read back what was written (a ballooned page that
 * found its way back, a deflate that handed out a page in use) fails the
 * run; so does a failed read or write.  Prints the seed (FB_SEED, default
 * time and pid) and what it did.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include "fb_util.h"
#include "kselftest.h"

#define FB_CHUNKS	64
#define FB_FILES	32
#define FB_IO		(64 * 1024)

struct fb_chunk {
	unsigned char *p;
	unsigned long bytes;
	unsigned long seed;
};

struct fb_file {
	char path[256];
	unsigned long bytes;
	unsigned long seed;
};

static uint64_t fb_rng;

/* splitmix64: small, seeded, reproducible. */
static uint64_t fb_rand(void)
{
	uint64_t z = (fb_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned long fb_between(unsigned long lo, unsigned long hi)
{
	return lo + fb_rand() % (hi - lo + 1);
}

static struct fb_chunk chunks[FB_CHUNKS];
static struct fb_file files[FB_FILES];
static unsigned long anon_bytes, file_bytes;
static unsigned long bad_pages, io_errors;
static unsigned long n_map, n_unmap, n_write, n_read, n_trunc, n_unlink;

static void fb_chunk_free(struct fb_chunk *c)
{
	bad_pages += fb_check(c->p, c->bytes, c->seed);
	munmap(c->p, c->bytes);
	anon_bytes -= c->bytes;
	c->p = NULL;
	n_unmap++;
}

static void fb_anon_step(unsigned long cap)
{
	struct fb_chunk *c = &chunks[fb_rand() % FB_CHUNKS];
	unsigned long mib = fb_between(1, 32);

	if (c->p) {
		fb_chunk_free(c);
		return;
	}
	if (anon_bytes + mib * FB_MIB > cap)
		return;
	c->p = fb_map(mib);
	if (!c->p)
		return;		/* no address space: try again later */
	c->bytes = mib * FB_MIB;
	c->seed = fb_rand();
	fb_touch(c->p, c->bytes, c->seed);
	anon_bytes += c->bytes;
	n_map++;
}

/* Pattern of file @f's word at byte offset @off (one word a page). */
static unsigned long fb_file_word(const struct fb_file *f, unsigned long off)
{
	return fb_pattern(off / 4096, f->seed);
}

static int fb_file_write(struct fb_file *f)
{
	static unsigned char buf[FB_IO];
	unsigned long off, i;
	int fd = open(f->path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	if (fd < 0)
		return -1;
	memset(buf, 0x5a, sizeof(buf));
	for (off = 0; off < f->bytes; off += FB_IO) {
		for (i = 0; i < FB_IO; i += 4096)
			*(unsigned long *)(buf + i) = fb_file_word(f, off + i);
		if (pwrite(fd, buf, FB_IO, off) != FB_IO) {
			close(fd);
			return -1;
		}
	}
	return close(fd);
}

/* Read @f back: pages that differ are counted in bad_pages. */
static int fb_file_check(const struct fb_file *f)
{
	static unsigned char buf[FB_IO];
	unsigned long off, i;
	int fd = open(f->path, O_RDONLY);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) || (unsigned long)st.st_size != f->bytes)
		goto fail;
	for (off = 0; off < f->bytes; off += FB_IO) {
		if (pread(fd, buf, FB_IO, off) != FB_IO)
			goto fail;
		for (i = 0; i < FB_IO; i += 4096)
			if (*(unsigned long *)(buf + i) != fb_file_word(f, off + i) ||
			    buf[i + 8] != 0x5a)
				bad_pages++;
	}
	return close(fd);
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static void fb_file_drop(struct fb_file *f)
{
	if (fb_file_check(f))
		io_errors++;
	if (unlink(f->path))
		io_errors++;
	file_bytes -= f->bytes;
	f->bytes = 0;
	n_unlink++;
}

static void fb_file_step(const char *dir, unsigned long cap)
{
	struct fb_file *f = &files[fb_rand() % FB_FILES];
	unsigned long mib = fb_between(1, 16), op = fb_rand() % 4;

	if (!f->bytes) {
		if (file_bytes + mib * FB_MIB > cap)
			return;
		snprintf(f->path, sizeof(f->path), "%s/f%ld", dir, (long)(f - files));
		f->bytes = mib * FB_MIB;
		f->seed = fb_rand();
		file_bytes += f->bytes;
		if (fb_file_write(f))
			io_errors++;
		n_write++;
		return;
	}
	if (op == 0) {
		fb_file_drop(f);
	} else if (op == 1 && f->bytes >= 2 * FB_MIB) {
		/* keep the first half; its pages must still be right */
		if (truncate(f->path, f->bytes / 2))
			io_errors++;
		file_bytes -= f->bytes / 2;
		f->bytes /= 2;
		n_trunc++;
	} else {
		if (fb_file_check(f))
			io_errors++;
		n_read++;
	}
}

int main(void)
{
	unsigned long cap = fb_env_ul("FB_MIB", 256) * FB_MIB;
	unsigned long fcap = fb_env_ul("FB_FILE_MIB", 128) * FB_MIB;
	unsigned long secs = fb_env_ul("FB_SECONDS", 600);
	const char *dir = getenv("FB_DIR") ? getenv("FB_DIR") : "/tmp/fb-churn";
	const char *stop = getenv("FB_STOP");
	time_t end = time(NULL) + secs;
	unsigned long steps = 0, i;

	fb_rng = fb_env_ul("FB_SEED", (unsigned long)time(NULL) ^ getpid() << 16);
	ksft_print_header();
	ksft_set_plan(2);
	ksft_print_msg("seed=%llu (rerun with FB_SEED=%llu)\n",
		       (unsigned long long)fb_rng, (unsigned long long)fb_rng);
	if (mkdir(dir, 0700) && errno != EEXIST)
		ksft_exit_fail_msg("mkdir %s: %s\n", dir, strerror(errno));

	while (time(NULL) < end && !(stop && !access(stop, F_OK))) {
		if (fb_rand() % 3)
			fb_anon_step(cap);
		else
			fb_file_step(dir, fcap);
		steps++;
	}

	for (i = 0; i < FB_CHUNKS; i++)
		if (chunks[i].p)
			fb_chunk_free(&chunks[i]);
	for (i = 0; i < FB_FILES; i++)
		if (files[i].bytes)
			fb_file_drop(&files[i]);
	rmdir(dir);

	ksft_print_msg("steps=%lu anon: mapped=%lu unmapped=%lu; files: written=%lu read=%lu truncated=%lu deleted=%lu\n",
		       steps, n_map, n_unmap, n_write, n_read, n_trunc, n_unlink);
	ksft_test_result(bad_pages == 0, "every page read back as written (%lu differ)\n",
			 bad_pages);
	ksft_test_result(io_errors == 0, "file reads and writes complete (%lu failed)\n",
			 io_errors);
	ksft_finished();
}
