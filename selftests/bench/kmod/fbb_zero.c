// SPDX-License-Identifier: GPL-2.0
/*
 * fbb_zero: the guest's side of a balloon inflate, on its own.
 *
 * Whatever a balloon driver does, the guest must take each page it gives
 * the host from the page allocator, and with init_on_alloc=1 (Debian's
 * default) the allocator zeroes it first. This module does only that:
 * it takes a given amount of free memory the way a balloon does (2 MiB
 * blocks with no reclaim and no compaction, and single pages with the
 * light reclaim balloons use once no block is left), on a given number of
 * CPUs at once, times it, and gives it all back. That time is the least
 * any driver on this many CPUs can take to surrender that much memory.
 *
 *   insmod fbb_zero.ko
 *   echo "MIB [CPUS [HOLD]]" > /sys/module/fbb_zero/parameters/run
 *   cat /sys/module/fbb_zero/parameters/run
 *   echo 0 > /sys/module/fbb_zero/parameters/run
 *
 * CPUS is how many online CPUs share the work (0 or absent: all of them);
 * each takes an equal share, in a thread bound to it. The write returns
 * when all are done (-ENOMEM when not all of it could be had, -EINVAL on
 * bad input, -EBUSY while a run goes on). Then the memory is free again,
 * or with HOLD 1 the module keeps it for the next run: before each
 * allocation, that run frees one piece of what is held, which the
 * allocator hands straight back, so that it zeroes memory the host backs
 * and no free memory lies about for free page reporting to give back to
 * the host meanwhile (it does so 2 s after memory is freed; a run is
 * longer than that on one vCPU under TCG). Writing 0 frees what is held.
 * Reading gives the last run as key=value pairs:
 *   cpus      CPUs that took part
 *   pages     4 KiB pages asked for, and got: pages taken
 *   ns        from the threads' start to the last one's end
 *   slowest   the longest a single thread took, ns; fastest, the shortest
 *   blocks    2 MiB blocks taken; singles: single pages taken
 *   zeroing   1 when the allocator zeroed them (init_on_alloc), else 0
 */
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>

#define FBB_BLOCK_ORDER	9
#define FBB_BLOCK_PAGES	(1UL << FBB_BLOCK_ORDER)

/* A 2 MiB block: no reclaim, no compaction, no warning. */
#define FBB_GFP_BLOCK	((GFP_HIGHUSER_MOVABLE | __GFP_NOWARN | \
			  __GFP_NOMEMALLOC | __GFP_NORETRY) & ~__GFP_RECLAIM)
/* A single page: the light reclaim balloon drivers take single pages with. */
#define FBB_GFP_SINGLE	(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN | \
			 __GFP_NOMEMALLOC | __GFP_NORETRY)

struct fbb_worker {
	struct task_struct *task;
	struct completion done;
	unsigned long want;		/* pages */
	unsigned long blocks, singles;
	struct list_head held_blocks, held_singles;
	u64 start_ns, end_ns;
};

static DEFINE_MUTEX(fbb_lock);
static char fbb_last[256] = "none\n";

/* What a HOLD run kept, for the next run to recycle (@fbb_held_lock). */
static DEFINE_SPINLOCK(fbb_held_lock);
static LIST_HEAD(fbb_held_blocks);
static LIST_HEAD(fbb_held_singles);

/* Free one held piece, a block if @block and one is held, else anything. */
static void fbb_recycle_one(bool block)
{
	struct page *page = NULL;
	bool is_block = false;

	spin_lock(&fbb_held_lock);
	if ((block || list_empty(&fbb_held_singles)) &&
	    !list_empty(&fbb_held_blocks)) {
		page = list_first_entry(&fbb_held_blocks, struct page, lru);
		is_block = true;
	} else if (!list_empty(&fbb_held_singles)) {
		page = list_first_entry(&fbb_held_singles, struct page, lru);
	}
	if (page)
		list_del(&page->lru);
	spin_unlock(&fbb_held_lock);
	if (page)
		__free_pages(page, is_block ? FBB_BLOCK_ORDER : 0);
}

static int fbb_work(void *data)
{
	struct fbb_worker *w = data;
	unsigned long got = 0;
	struct page *page;

	w->start_ns = ktime_get_ns();
	while (got < w->want) {
		page = NULL;
		fbb_recycle_one(w->want - got >= FBB_BLOCK_PAGES);
		if (w->want - got >= FBB_BLOCK_PAGES)
			page = alloc_pages(FBB_GFP_BLOCK, FBB_BLOCK_ORDER);
		if (page) {
			list_add(&page->lru, &w->held_blocks);
			w->blocks++;
			got += FBB_BLOCK_PAGES;
		} else {
			page = alloc_pages(FBB_GFP_SINGLE, 0);
			if (!page)
				break;
			list_add(&page->lru, &w->held_singles);
			w->singles++;
			got++;
		}
		cond_resched();
	}
	w->end_ns = ktime_get_ns();
	complete(&w->done);

	/* Stay until fbb_run() has read the figures and stops us. */
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static void fbb_free_lists(struct list_head *blocks, struct list_head *singles)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, blocks, lru) {
		list_del(&page->lru);
		__free_pages(page, FBB_BLOCK_ORDER);
	}
	list_for_each_entry_safe(page, next, singles, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
}

/* What a worker took: kept for the next run with @hold, else freed. */
static void fbb_release(struct fbb_worker *w, bool hold)
{
	if (!hold) {
		fbb_free_lists(&w->held_blocks, &w->held_singles);
		return;
	}
	spin_lock(&fbb_held_lock);
	list_splice_init(&w->held_blocks, &fbb_held_blocks);
	list_splice_init(&w->held_singles, &fbb_held_singles);
	spin_unlock(&fbb_held_lock);
}

/* Free everything held (nobody else touches the lists then). */
static void fbb_release_held(void)
{
	fbb_free_lists(&fbb_held_blocks, &fbb_held_singles);
}

static int fbb_run(unsigned long mib, unsigned int ncpus, bool hold)
{
	unsigned long pages = mib << (20 - PAGE_SHIFT), got = 0, share, blocks = 0;
	unsigned long singles = 0;
	u64 t0, end = 0, slowest = 0, fastest = U64_MAX;
	struct fbb_worker *ws;
	unsigned int cpu, i = 0, n;
	int err = 0;

	cpus_read_lock();
	n = num_online_cpus();
	if (ncpus && ncpus < n)
		n = ncpus;
	ws = kcalloc(n, sizeof(*ws), GFP_KERNEL);
	if (!ws) {
		cpus_read_unlock();
		return -ENOMEM;
	}
	/* Equal shares in whole blocks; the first worker takes the rest. */
	share = pages / n / FBB_BLOCK_PAGES * FBB_BLOCK_PAGES;
	for_each_online_cpu(cpu) {
		struct fbb_worker *w;

		if (i == n)
			break;
		w = &ws[i];
		init_completion(&w->done);
		INIT_LIST_HEAD(&w->held_blocks);
		INIT_LIST_HEAD(&w->held_singles);
		w->want = i ? share : pages - share * (n - 1);
		w->task = kthread_create(fbb_work, w, "fbb_zero/%u", cpu);
		if (IS_ERR(w->task)) {
			err = PTR_ERR(w->task);
			w->task = NULL;
			break;
		}
		kthread_bind(w->task, cpu);
		i++;
	}
	if (!err) {
		t0 = ktime_get_ns();
		for (i = 0; i < n; i++)
			wake_up_process(ws[i].task);
		for (i = 0; i < n; i++) {
			struct fbb_worker *w = &ws[i];

			wait_for_completion(&w->done);
			end = max(end, w->end_ns);
			slowest = max(slowest, w->end_ns - w->start_ns);
			fastest = min(fastest, w->end_ns - w->start_ns);
			got += w->blocks * FBB_BLOCK_PAGES + w->singles;
			blocks += w->blocks;
			singles += w->singles;
		}
		scnprintf(fbb_last, sizeof(fbb_last),
			  "cpus=%u pages=%lu got=%lu ns=%llu slowest=%llu "
			  "fastest=%llu blocks=%lu singles=%lu zeroing=%d\n",
			  n, pages, got, end - t0, slowest, fastest, blocks,
			  singles, want_init_on_alloc(FBB_GFP_BLOCK) ? 1 : 0);
		if (got < pages)
			err = -ENOMEM;
	}
	/* A thread that never ran stops without running fbb_work(). */
	for (i = 0; i < n; i++) {
		if (!ws[i].task)
			break;
		kthread_stop(ws[i].task);
		fbb_release(&ws[i], hold && !err);
	}
	/* What this run did not recycle, and everything after a failure. */
	if (!hold || err)
		fbb_release_held();
	cpus_read_unlock();
	kfree(ws);
	return err;
}

static int fbb_set_run(const char *val, const struct kernel_param *kp)
{
	unsigned int ncpus = 0, hold = 0;
	unsigned long mib;
	char extra;
	int err = 0, n;

	n = sscanf(val, "%lu %u %u %c", &mib, &ncpus, &hold, &extra);
	if (n < 1 || n > 3 || hold > 1 ||
	    mib > totalram_pages() >> (20 - PAGE_SHIFT))
		return -EINVAL;
	if (!mutex_trylock(&fbb_lock))
		return -EBUSY;
	if (mib)
		err = fbb_run(mib, ncpus, hold);
	else
		fbb_release_held();
	mutex_unlock(&fbb_lock);
	return err;
}

static int fbb_get_run(char *buf, const struct kernel_param *kp)
{
	int n;

	mutex_lock(&fbb_lock);
	n = scnprintf(buf, PAGE_SIZE, "%s", fbb_last);
	mutex_unlock(&fbb_lock);
	return n;
}

static const struct kernel_param_ops fbb_run_ops = {
	.set = fbb_set_run,
	.get = fbb_get_run,
};
module_param_cb(run, &fbb_run_ops, NULL, 0600);
MODULE_PARM_DESC(run, "write \"MIB [CPUS [HOLD]]\" to time taking MIB on CPUS CPUs, 0 to free what is held");

static void __exit fbb_exit(void)
{
	fbb_release_held();
}
module_exit(fbb_exit);

MODULE_DESCRIPTION("fastballoon benchmark: the guest's allocate-and-zero limit");
MODULE_LICENSE("GPL");
