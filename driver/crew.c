// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon crew: 2 MiB blocks taken on several CPUs at once.
 *
 * Taking a free block is mostly the page allocator zeroing it
 * (init_on_alloc, Debian's default), and making one where none is free is
 * migrating what is in a pageblock (defrag.c): one CPU does either at one
 * CPU's speed. For a large inflate the pass starts a hand on each of up to
 * inflate_cpus online CPUs (0: all of them); each takes free blocks (no
 * reclaim, no compaction, as fb_block_alloc() always does) or, when the
 * pass asks for it, evacuates pageblocks once none is free, until the pass
 * has as many as it asked for, none is left, time is up, or the pass says
 * stop, and puts them where the pass picks them up. The hands touch nothing
 * of the balloon's: the pass alone claims, accounts and surrenders what
 * they took, under @fb->lock, so the one path to the host, `actual` and the
 * books stay as exact as with one CPU. A hand is a work item on a per-CPU
 * workqueue, at normal priority: while an inflate runs it competes with
 * the guest's own work on its CPU, for the time it takes to zero or move
 * what the host asked for.
 *
 * Layer 1: a primitive beside pages.c and defrag.c; it calls them only.
 */
#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "fastballoon.h"

/* Fewer blocks than this per hand are not worth waking other CPUs for. */
#define FB_CREW_MIN_BLOCKS	4

/*
 * Up to @max blocks of the pass's budget for one hand, and no more than its
 * share of what is left; 0 when none is left. The share keeps the hands'
 * last runs short: the pass waits for the slowest, and a run of 8 evacuated
 * blocks keeps a CPU busy for tens of milliseconds.
 */
static unsigned int fb_crew_claim(struct fb_crew *crew, unsigned int max)
{
	int left = atomic_read(&crew->budget), n;
	int hands = READ_ONCE(crew->nr_hands);

	do {
		n = min_t(int, DIV_ROUND_UP(left, hands), max);
		if (n <= 0)
			return 0;
	} while (!atomic_try_cmpxchg(&crew->budget, &left, left - n));
	return n;
}

/* Hand @list (@n blocks) to the pass. */
static void fb_crew_ready(struct fb_crew *crew, struct list_head *list,
			  unsigned int n, bool evac)
{
	spin_lock(&crew->lock);
	list_splice_tail_init(list, evac ? &crew->ready_evac : &crew->ready);
	crew->nr_ready += n;
	spin_unlock(&crew->lock);
	wake_up(&crew->wait);
}

static void fb_hand_func(struct work_struct *work)
{
	struct fb_hand *hand = container_of(work, struct fb_hand, work);
	struct fb_crew *crew = hand->crew;
	struct fb_balloon *fb = container_of(crew, struct fb_balloon, crew);
	unsigned int n, got;
	struct page *head;
	LIST_HEAD(list);

	while (!READ_ONCE(crew->stop)) {
		if (!READ_ONCE(crew->dry)) {
			if (!fb_crew_claim(crew, 1))
				break;
			head = fb_block_alloc();
			if (head) {
				list_add(&head->lru, &list);
				fb_crew_ready(crew, &list, 1, false);
				cond_resched();
				continue;
			}
			/* None left: the others stop taking free ones too. */
			atomic_inc(&crew->budget);
			WRITE_ONCE(crew->dry, true);
		}
		if (!crew->evac)
			break;
		n = fb_crew_claim(crew, FB_DEFRAG_RUN);
		if (!n)
			break;
		got = fb_defrag_take(fb, crew->deadline, n, &list);
		if (got < n)
			atomic_add(n - got, &crew->budget);
		/* Nothing left to evacuate, or time is up: the pass goes on. */
		if (!got)
			break;
		fb_crew_ready(crew, &list, got, true);
	}
	if (atomic_dec_and_test(&crew->active))
		wake_up(&crew->wait);
}

/*
 * Start hands to take up to @blocks blocks: free ones, or with @evac,
 * evacuated ones until @deadline (the pass found no free block, and
 * fb_defrag_ready() said there are pageblocks to empty). Returns how many
 * started; 0 when one CPU is all the knob, the machine or the size allows,
 * or when taking free blocks and the allocator does not zero
 * (init_on_alloc=0: a block then costs less than waking another CPU;
 * measured, 1280 MiB on the range path took 0.041 s with the crew against
 * 0.014-0.028 s without). The caller then takes blocks itself. Caller
 * holds @fb->lock.
 */
unsigned int fb_crew_start(struct fb_balloon *fb, unsigned long blocks,
			   bool evac, unsigned long deadline)
{
	struct fb_crew *crew = &fb->crew;
	unsigned int want = READ_ONCE(fb->cfg.inflate_cpus);
	unsigned int n = num_online_cpus(), i = 0;
	int cpu;

	lockdep_assert_held(&fb->lock);
	if (!crew->wq || (!evac && !fb_block_alloc_zeroes()))
		return 0;
	if (want && want < n)
		n = want;
	n = min_t(unsigned long, n, blocks / FB_CREW_MIN_BLOCKS);
	if (n < 2)
		return 0;
	atomic_set(&crew->budget, blocks);
	atomic_set(&crew->active, n);
	WRITE_ONCE(crew->stop, false);
	WRITE_ONCE(crew->dry, evac);
	crew->evac = evac;
	crew->deadline = deadline;
	crew->nr_hands = n;
	/*
	 * A CPU that goes offline meanwhile is no harm: its pool's workers
	 * run on another CPU. This CPU is one of the crew: the pass sleeps
	 * while it waits for blocks, and that hand runs then.
	 */
	cpu = raw_smp_processor_id();
	queue_work_on(cpu, crew->wq, &crew->hands[i++].work);
	for_each_online_cpu(cpu) {
		if (i == n)
			break;
		if (cpu == raw_smp_processor_id())
			continue;
		queue_work_on(cpu, crew->wq, &crew->hands[i++].work);
	}
	/* CPUs went offline since we counted: fewer hands, all accounted. */
	if (i < n) {
		atomic_sub(n - i, &crew->active);
		WRITE_ONCE(crew->nr_hands, i);
	}
	fb->dbg.crew_passes++;
	if (evac)
		fb->dbg.crew_evac_passes++;
	fb->dbg.crew_hands += crew->nr_hands;
	return crew->nr_hands;
}

/*
 * Move up to @max blocks the hands have taken onto @list (free ones) and
 * @evac (evacuated ones), waiting for at least one. Returns how many; 0
 * when the hands are done and none is left.
 */
unsigned int fb_crew_collect(struct fb_balloon *fb, struct list_head *list,
			     struct list_head *evac, unsigned int max)
{
	struct fb_crew *crew = &fb->crew;
	struct list_head *from;
	unsigned int n = 0;
	struct page *head;

	wait_event(crew->wait, READ_ONCE(crew->nr_ready) ||
		   !atomic_read(&crew->active));
	spin_lock(&crew->lock);
	while (n < max && crew->nr_ready) {
		from = list_empty(&crew->ready) ? &crew->ready_evac :
						  &crew->ready;
		head = list_first_entry(from, struct page, lru);
		list_move_tail(&head->lru, from == &crew->ready ? list : evac);
		crew->nr_ready--;
		n++;
	}
	spin_unlock(&crew->lock);
	return n;
}

/*
 * Stop the hands, wait for them, and give back what they took that the
 * pass did not collect. Returns true if they found no free block left.
 */
bool fb_crew_finish(struct fb_balloon *fb)
{
	struct fb_crew *crew = &fb->crew;
	struct page *head, *next;
	unsigned int i;
	LIST_HEAD(left);
	LIST_HEAD(left_evac);

	WRITE_ONCE(crew->stop, true);
	wait_event(crew->wait, !atomic_read(&crew->active));
	/* Past their last use of @crew before the next pass requeues them. */
	for (i = 0; i < crew->nr_hands; i++)
		flush_work(&crew->hands[i].work);
	spin_lock(&crew->lock);
	list_splice_init(&crew->ready, &left);
	list_splice_init(&crew->ready_evac, &left_evac);
	crew->nr_ready = 0;
	spin_unlock(&crew->lock);
	list_for_each_entry_safe(head, next, &left, lru) {
		list_del(&head->lru);
		fb_block_drop(head, false);
		fb->dbg.crew_dropped++;
	}
	list_for_each_entry_safe(head, next, &left_evac, lru) {
		list_del(&head->lru);
		fb_block_drop(head, true);
		fb->dbg.crew_dropped++;
	}
	return READ_ONCE(crew->dry);
}

/* Probe: without the workqueue or the hands, inflate uses one CPU. */
void fb_crew_init(struct fb_balloon *fb)
{
	struct fb_crew *crew = &fb->crew;
	unsigned int i;

	spin_lock_init(&crew->lock);
	INIT_LIST_HEAD(&crew->ready);
	INIT_LIST_HEAD(&crew->ready_evac);
	init_waitqueue_head(&crew->wait);
	crew->hands = kcalloc(nr_cpu_ids, sizeof(*crew->hands), GFP_KERNEL);
	if (!crew->hands)
		return;
	for (i = 0; i < nr_cpu_ids; i++) {
		crew->hands[i].crew = crew;
		INIT_WORK(&crew->hands[i].work, fb_hand_func);
	}
	/*
	 * Not freezable: a freeze waits for the size work, which waits for
	 * its hands. Per-CPU: each hand zeroes on the CPU it was sent to. A
	 * rescuer (WQ_MEM_RECLAIM): the pass waits for its hands holding the
	 * balloon lock, so a hand must run even when no new worker can be
	 * made for want of memory. CPU-intensive: an evacuating hand runs for
	 * milliseconds at a time, and must not hold up the other work items
	 * of its CPU's pool (nor be reported for hogging it) meanwhile.
	 */
	crew->wq = alloc_workqueue("fastballoon-crew",
				   WQ_PERCPU | WQ_MEM_RECLAIM |
				   WQ_CPU_INTENSIVE, 0);
	if (!crew->wq) {
		kfree(crew->hands);
		crew->hands = NULL;
	}
}

/* Remove, once no pass can run (the size work is cancelled). */
void fb_crew_destroy(struct fb_balloon *fb)
{
	struct fb_crew *crew = &fb->crew;

	if (crew->wq)
		destroy_workqueue(crew->wq);
	crew->wq = NULL;
	kfree(crew->hands);
	crew->hands = NULL;
}
