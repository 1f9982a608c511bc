/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fastballoon: internal declarations shared by the driver's files.
 *
 * Units: every count named *_pages is in 4 KiB balloon pages, which on the
 * 4 KiB-page kernels we support (compat.h) are also guest pages.
 */
#ifndef _FASTBALLOON_H
#define _FASTBALLOON_H

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/mmzone.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/fastballoon.h>

/* Virtqueues in device order; absent ones are skipped by the transport. */
enum fb_vq {
	FB_VQ_INFLATE,
	FB_VQ_DEFLATE,
	FB_VQ_STATS,
	FB_VQ_HINT,
	FB_VQ_REPORT,
	FB_VQ_MAX
};

/*
 * At most 256 PFNs per descriptor: Firecracker and Cloud Hypervisor drop
 * anything larger. Speed comes from keeping many of them in flight.
 */
#define FB_PFNS_PER_BUF		256
#define FB_NR_BUFS		64
/* Kick the device after this many buffers even if more are coming. */
#define FB_KICK_BATCH		16
/*
 * Most pages one inflate pass of the size work takes (a target that moves
 * meanwhile ends the pass sooner: @retarget). Each pass starts the crew
 * afresh and waits for its slowest hand at the end: at 64 MiB that was
 * 20 starts and 20 tails for 1280 MiB.
 */
#define FB_CHUNK_PAGES		(256UL << (20 - PAGE_SHIFT))
/* What defrag_ms is for: evacuating this much of a pass. */
#define FB_DEFRAG_MS_PAGES	(64UL << (20 - PAGE_SHIFT))
/*
 * Blocks one deflate pass gives back before the host hears of them (2 GiB):
 * without MUST_TELL_HOST the guest may reuse them at once, so `actual`
 * drops first and the PFNs follow.
 */
#define FB_DEFER_MAX		1024
/* A 2 MiB block: the unit the host backs with one huge page. */
#define FB_BLOCK_ORDER		(FB_BLOCK_SHIFT - PAGE_SHIFT)
#define FB_BLOCK_PAGES		BIT(FB_BLOCK_ORDER)
#define FB_BLOCK_ORDER_MAX	FB_BLOCK_ORDER
/* How often the floor is checked while one is set and the balloon holds. */
#define FB_FLOOR_PERIOD		msecs_to_jiffies(250)
/* After giving memory back for the floor, don't inflate again this soon. */
#define FB_FLOOR_HOLD		(5 * HZ)
/* Ranges per reporting-queue request: two requests fill QEMU's 32-entry ring. */
#define FB_RANGES_PER_REQ	16
#define FB_NR_RBUFS		2
/* Back-off when the guest has no memory to give. */
#define FB_RETRY_DELAY		msecs_to_jiffies(200)
#define FB_RETRY_MAX		(10 * HZ)
/*
 * While backed off, how often MemAvailable is looked at (one read, no
 * allocation): a block more than at the failure, and the balloon retries.
 */
#define FB_RETRY_POLL		HZ

/**
 * struct fb_buf - one descriptor's worth of PFNs.
 * @pfns: little- or native-endian 32-bit frame numbers, as the device wants.
 * @nr: PFNs filled in.
 * @next: free-list link while the buffer is not in flight.
 * @pair: second descriptor chained behind this one in the same request (the
 *	other half of a 2 MiB block), or NULL.
 */
struct fb_buf {
	__virtio32 pfns[FB_PFNS_PER_BUF];
	unsigned int nr;
	struct fb_buf *next;
	struct fb_buf *pair;
};

/**
 * struct fb_rbuf - one reporting-queue request: whole blocks as ranges.
 * @sg: one entry per 2 MiB block.
 * @nr: entries filled in.
 * @busy: the device owns it.
 */
struct fb_rbuf {
	struct scatterlist sg[FB_RANGES_PER_REQ];
	unsigned int nr;
	bool busy;
};

/**
 * struct fb_config - the tunables; module parameters give the defaults,
 * sysfs changes them (sysfs.c validates every write).
 * Read locklessly with READ_ONCE(): every field is valid on its own.
 * @max_order: largest allocation order tried (0: 4 KiB only, like in-tree).
 * @path: enum fb_path (uapi), how blocks reach the host.
 * @defrag: enum fb_defrag (uapi), the defragmentation policy.
 * @defrag_ms: time an inflate pass may spend defragmenting per
 *	FB_DEFRAG_MS_PAGES it takes; a healing pass, in all.
 * @heal_ms: pause between healing passes.
 * @oom_pages: pages one OOM notification gives back.
 * @guest_target: pages to hold whatever the host asks; 0 follows the host.
 * @max_pages: cap on the balloon; 0 is no cap.
 * @floor_pages: MemAvailable the balloon never takes the guest below, and
 *	gives memory back to restore; 0 is no floor.
 * @reserve_pages: MemAvailable inflation never takes the guest below (it
 *	gives nothing back); 0 is none. Starts as &fb_balloon.reserve_auto.
 * @inflate_limit: most pages per second inflate takes; 0 is no limit.
 */
struct fb_config {
	unsigned int max_order;
	unsigned int inflate_cpus;
	unsigned int path;
	unsigned int defrag;
	unsigned int defrag_ms;
	unsigned int heal_ms;
	unsigned long oom_pages;
	unsigned long guest_target;
	unsigned long max_pages;
	unsigned long floor_pages;
	unsigned long reserve_pages;
	unsigned long inflate_limit;
};

/* Direction of the size work's current run, for the rate attributes. */
enum fb_run {
	FB_RUN_NONE,
	FB_RUN_INFLATE,
	FB_RUN_DEFLATE,
};

/* Why memory went back to the guest outside a host request (tracepoint). */
enum fb_release_reason {
	FB_REL_OOM,
	FB_REL_SHRINKER,
	FB_REL_FLOOR,
};

/* Buckets of the defragmentation latency histogram in debugfs (ms). */
#define FB_DEFRAG_HIST		6	/* <1 <4 <16 <64 <256 >=256 */

/**
 * struct fb_debug - counters only debugfs shows (updated under @lock or
 * racily: they are for people, not for decisions).
 * @blocks_free: blocks the allocator had free.
 * @blocks_evacuated: blocks made by evacuating a pageblock.
 * @small_by_order: 4 KiB pages taken, by the order of the allocation.
 * @defrag_hist: evacuation attempts by duration.
 * @floor_stops: inflate passes cut short by the floor or the reserve.
 * @size_passes: passes of the size work that set out to inflate (the
 *	floor or the reserve may have left them nothing to take).
 * @inflate_calls: of those, passes that tried to allocate (fb_inflate()).
 * @retargets: inflate passes cut short because the target moved.
 * @backoff_polls: looks at MemAvailable while backed off, no pass made.
 * @limit_waits: pauses the inflate rate limit imposed.
 * @heal_busy: heal passes put off because the balloon lock was taken.
 * @defrag_no_room: evacuations not tried, too little free memory to move to.
 * @defrag_blocks: blocks made by evacuation (a run makes several in one
 *	call; atomic: the crew's hands evacuate at once).
 * @oom_gave_up: OOM notifier calls that found the lock held by an
 *	evacuation, or held too long.
 * @trylock_busy: fb_lock(FB_TRY) calls that found the lock taken (the
 *	shrinker, healing, migration), or failed by @fail_trylock.
 */
struct fb_debug {
	unsigned long blocks_free;
	unsigned long blocks_evacuated;
	unsigned long small_by_order[FB_BLOCK_ORDER_MAX];
	unsigned long defrag_hist[FB_DEFRAG_HIST];
	unsigned long floor_stops;
	unsigned long size_passes;
	unsigned long inflate_calls;
	unsigned long retargets;
	unsigned long backoff_polls;
	unsigned long limit_waits;
	unsigned long heal_busy;
	unsigned long defrag_no_room;
	unsigned long oom_gave_up;
	unsigned long trylock_busy;
	unsigned long crew_passes;
	unsigned long crew_hands;
	unsigned long crew_dropped;
	unsigned long crew_evac_passes;
	atomic_long_t defrag_blocks;
};

struct fb_crew;

/**
 * struct fb_hand - one CPU's share of an inflate pass (crew.c).
 * @work: runs fb_hand_func() on the CPU it was queued on.
 * @crew: the crew it belongs to.
 */
struct fb_hand {
	struct work_struct work;
	struct fb_crew *crew;
};

/**
 * struct fb_crew - blocks taken on several CPUs for one inflate pass: free
 * ones, or, when none is left and the pass says so, evacuated ones.
 * @wq: per-CPU workqueue the hands run on; NULL: inflate uses one CPU.
 * @hands: nr_cpu_ids of them; the first @nr_hands run in a pass.
 * @nr_hands: hands started by the current or last pass (@fb->lock).
 * @lock: guards @ready, @ready_evac and @nr_ready.
 * @ready: free blocks taken and not yet collected, by their first page's
 *	lru.
 * @ready_evac: the same for evacuated blocks (512 single pages each).
 * @nr_ready: blocks on both lists (read locklessly by the waiting pass).
 * @evac: the hands evacuate pageblocks (fb_defrag_take()) when no free
 *	block is left, until @deadline (set by the pass before it starts them).
 * @deadline: jiffies after which the hands evacuate no more.
 * @budget: blocks still to take in this pass (atomic).
 * @active: hands that have not finished (atomic).
 * @stop: the pass wants no more (WRITE_ONCE by the pass).
 * @dry: a hand found no free block (WRITE_ONCE by the hands).
 * @wait: the pass waits here for blocks and for the hands to finish.
 */
struct fb_crew {
	struct workqueue_struct *wq;
	struct fb_hand *hands;
	unsigned int nr_hands;
	spinlock_t lock;
	struct list_head ready;
	struct list_head ready_evac;
	unsigned int nr_ready;
	bool evac;
	unsigned long deadline;
	atomic_t budget;
	atomic_t active;
	bool stop;
	bool dry;
	wait_queue_head_t wait;
};

/**
 * struct fb_defrag_state - evacuation candidates from the last scan.
 * @cand: pageblock start PFNs, cheapest first.
 * @size: capacity of @cand.
 * @nr: entries in @cand.
 * @next: the next entry to try.
 * @stamp: jiffies of the scan; older scans are redone.
 * @lock: guards @next while the crew's hands take candidates; the scan
 *	itself runs under @fb->lock, with no hand running.
 */
struct fb_defrag_state {
	spinlock_t lock;
	unsigned long *cand;
	unsigned int size;
	unsigned int nr;
	unsigned int next;
	unsigned long stamp;
};

/**
 * struct fb_tx - one burst of PFNs to the inflate or deflate queue.
 * @fb: the balloon.
 * @vq: the queue.
 * @cur: buffer being filled, or NULL.
 * @inflight: buffers the device owns.
 * @unkicked: buffers added since the last kick.
 * @lazy: kick only when the pool or ring runs dry, or at the end.
 * @err: first error; once set, the burst sends nothing more.
 *
 * Lives on the stack of a caller holding &fb_balloon.lock.
 */
struct fb_tx {
	struct fb_balloon *fb;
	struct virtqueue *vq;
	struct fb_buf *cur;
	unsigned int inflight;
	unsigned int unkicked;
	bool lazy;
	int err;
};

/**
 * struct fb_rtx - one burst of ranges to the reporting queue.
 * @fb: the balloon; the caller holds &fb_balloon.lock and .report_lock.
 * @cur: request being filled, or NULL.
 * @inflight: requests the device owns.
 * @err: first error.
 */
struct fb_rtx {
	struct fb_balloon *fb;
	struct fb_rbuf *cur;
	unsigned int inflight;
	int err;
};

enum fb_counter {
	FB_CNT_INFLATED,
	FB_CNT_DEFLATED,
	FB_CNT_MIGRATED,
	FB_CNT_OOM_RELEASED,
	FB_CNT_HINTED,
	FB_CNT_REPORTED,
	FB_CNT_ALLOC_FAILS,
	FB_CNT_DEFRAG_TRIES,
	FB_CNT_DEFRAG_OK,
	FB_CNT_DEFRAG_US,
	FB_CNT_HEAL_TRADES,
	FB_CNT_SHRINK_RELEASED,
	FB_CNT_RANGED,
	FB_CNT_FLOOR_RELEASED,
	FB_CNT_MAX
};

/**
 * struct fb_balloon - one bound virtio-balloon device.
 *
 * Locks, outermost first. A lock may only be taken while holding the ones
 * above it on its line, never the other way round:
 *
 *   memory hotplug locks (MEM_GOING_OFFLINE)  -> @lock, bounded wait
 *   oom_lock (the OOM notifier)               -> @lock, bounded wait that
 *                                                gives up on an evacuation
 *   reclaim (the shrinkers)                   -> @lock, trylock only
 *   page locks (migratepage, compaction)      -> @lock, trylock only
 *   @lock -> @report_lock                        (the range path)
 *   page_reporting core's lock -> @report_lock   (fb_report())
 *   @lock -> @bdev's page list lock              (balloon core, 6.x)
 *   @stop_lock, @hint_lock: irq-safe spinlocks, innermost: nothing is
 *   taken under them but the workqueue's own locks (queueing work).
 *
 * @lock is a mutex held across allocation, evacuation and waits for the
 * host; callers that run inside allocation or with the locks above held
 * must never wait for it without a bound (fb_lock()).
 * Fields read with READ_ONCE() outside their lock are written with
 * WRITE_ONCE(); each such value is valid on its own.
 *
 * @vdev: the device.
 * @vqs: its virtqueues, NULL where the feature is absent (set in probe and
 *	restore, before the device is live; read-only otherwise).
 * @stop_lock: protects @stop; taken from config and queue callbacks.
 * @stop: set on remove/freeze so that callbacks queue no more work.
 * @dead: the host stopped answering; no more requests go out. Set with
 *	WRITE_ONCE() by fb_wait_host() from any path to the host (under
 *	@lock, @report_lock, or the page_reporting core's lock), read
 *	locklessly; cleared only by fb_init_vqs() while no request is in
 *	flight.
 * @host_timeout: how long we wait for the host to return a buffer before
 *	declaring it dead (module parameter host_timeout_ms; read-only).
 * @fail_host_silent: fault injection (debugfs): ignore the host's answers.
 * @force_must_tell: fault injection (debugfs): act as if the host had
 *	negotiated MUST_TELL_HOST (no QEMU offers it), see fb_must_tell().
 * @fail_trylock: fault injection (debugfs): fb_lock(FB_TRY) fails, as if
 *	the lock were always taken.
 * @config_work: reads the config space after a config interrupt.
 * @host_target: the host's num_pages when @config_work last read it: a
 *	config interrupt that leaves it alone ends no hold. Only @config_work
 *	uses it, and probe and restore before the device is live.
 * @mem_nb: memory hotplug notifier (probe and remove only).
 * @mem_registered: whether @mem_nb is registered (probe and remove only).
 * @size_work: moves the balloon towards the target (freezable wq).
 * @retry_delay: how long @size_work waits after a pass that got nothing;
 *	doubles up to FB_RETRY_MAX, reset by progress or a new target.
 *	Written by @size_work and by fb_target_changed() (WRITE_ONCE); the
 *	work item never runs twice at once.
 * @retry_at: jiffies before which the size work only polls MemAvailable
 *	(the back-off); written like @retry_delay.
 * @fail_avail: MemAvailable (pages) after the pass that backed off; the
 *	poll retries early once it grew by a block (@size_work).
 * @stats_work: refills the stats queue when the host asks.
 * @lock: serialises inflate, deflate, healing and migration, and with them
 *	every use of the inflate/deflate queues and of @free_bufs (sleeps:
 *	never taken in atomic context).
 * @bdev: the 4 KiB pages we hold, migratable (balloon compaction); its
 *	list is the balloon core's, under its own lock.
 * @blocks: the 2 MiB blocks we hold, by their first page (@lock). They are
 *	not migratable: moving one would scatter it again.
 * @nr_blocks: length of @blocks (@lock; read locklessly).
 * @nr_pages: pages held, blocks included (@lock; read locklessly); `actual`
 *	is brought level with it before @lock is released (fb_unlock()).
 * @told_pages: what `actual` in config space says (@lock).
 * @nr_small: of those, single 4 KiB pages (@lock; read locklessly).
 * @released_blocks: blocks given back since the caller zeroed it (@lock;
 *	for the deflate tracepoint: a block split into pages is not one).
 * @ram_pages: guest RAM when the device was bound; bounds the page knobs
 *	(read-only after probe).
 * @reserve_auto: the reserve computed when the device was bound, the
 *	default of reserve_pages (read-only after probe).
 * @chain_blocks: send a block's 512 PFNs as one two-descriptor request
 *	(QEMU frees a huge page only then); else as two requests (read-only).
 * @small_order: order the 4 KiB path allocates at, lowered as it fails
 *	(@lock).
 * @deferred: first PFNs of blocks given back whose deflate message is still
 *	to be sent (@lock).
 * @nr_deferred: entries in @deferred (@lock; read locklessly by debugfs).
 * @report_lock: serialises the reporting queue between the page_reporting
 *	core and the range path.
 * @rbufs: reporting-queue requests for the range path (@report_lock).
 * @cfg: tunables (see struct fb_config: lockless).
 * @dfg: defragmentation candidates (@lock).
 * @crew: the hands that take blocks on other CPUs during a pass (crew.c).
 * @heal_work: trades 4 KiB pages for blocks in the background.
 * @free_bufs: the PFN buffer pool (@lock).
 * @acked: woken by every queue callback; waiters poll their queue.
 * @stats: the stats buffer (@stats_work).
 * @events: scratch for vm events (@stats_work).
 * @hint_wq: ordered workqueue for free page hinting.
 * @hint_work: the hinting work, on @hint_wq.
 * @hint_read_cmd: bit 0 set when the config's command id must be re-read
 *	(atomic bitops).
 * @hint_cmd: last command id read from config (@hint_work).
 * @hint_active: command id of the hinting run in progress (device endian;
 *	@hint_work, and restore while the work cannot run).
 * @hint_stop: the STOP id, kept in memory the device may read (read-only).
 * @hint_lock: protects @hint_pages and @hint_nr_blocks (irq-safe).
 * @hint_pages: blocks handed to the host as hints, to return to mm.
 * @hint_nr_blocks: length of @hint_pages (read locklessly by debugfs).
 * @hint_shrinker: gives hinted blocks back under memory pressure.
 * @pr: free page reporting registration.
 * @pr_registered: whether @pr is registered (probe and remove only).
 * @oom_nb: the OOM notifier (DEFLATE_ON_OOM).
 * @oom_registered: whether @oom_nb is registered (probe and remove only).
 * @shrinker: gives memory back when reclaim runs short (DEFLATE_ON_OOM).
 * @pressure_hold: the guest took memory back under pressure; don't inflate
 *	again until the host sets a new target (a different num_pages). No
 *	lock: set by the pressure releases, cleared by fb_target_changed(),
 *	read by the passes between steps (WRITE_ONCE/READ_ONCE); a stale read
 *	costs one step.
 * @retarget: the target moved while an inflate pass ran: the pass stops
 *	at its next step and the size work reads the target again. Set by
 *	fb_target_changed(), cleared by the size work before it reads the
 *	target for a pass; no lock, as @pressure_hold.
 * @evacuating: alloc_contig_range() calls running under @lock, the pass's
 *	or its hands' (see fb_lock()). Atomic: the OOM notifier reads it
 *	locklessly.
 * @floor_work: gives memory back while MemAvailable is under the floor.
 * @floor_hold_until: jiffies before which inflate waits after a floor
 *	release. No lock: written by @floor_work and fb_target_changed(),
 *	read by @size_work (WRITE_ONCE/READ_ONCE).
 * @run: direction of the size work's current run (@size_work).
 * @run_start_ns: when the current run began (@size_work).
 * @run_pages: pages the current run moved (@size_work).
 * @last_inflate_rate: pages per second of the last inflate run
 *	(@size_work; read locklessly).
 * @last_deflate_rate: the same for deflate.
 * @dbg: debugfs-only counters.
 * @debugfs: the device's debugfs directory (probe and remove only).
 * @cnt: event counters, exported through sysfs (atomic).
 */
struct fb_balloon {
	struct virtio_device *vdev;
	struct virtqueue *vqs[FB_VQ_MAX];

	spinlock_t stop_lock;		/* see above: guards @stop */
	bool stop;
	bool dead;
	unsigned long host_timeout;
	bool fail_host_silent;
	bool force_must_tell;
	bool fail_trylock;
	struct work_struct config_work;
	u32 host_target;
	struct notifier_block mem_nb;
	bool mem_registered;
	struct delayed_work size_work;
	unsigned long retry_delay;
	unsigned long retry_at;
	long fail_avail;
	struct work_struct stats_work;

	struct mutex lock;		/* see above: the balloon itself */
	struct balloon_dev_info bdev;
	struct list_head blocks;
	unsigned long nr_blocks;
	unsigned long nr_pages;
	unsigned long told_pages;
	unsigned long nr_small;
	unsigned long released_blocks;
	unsigned long ram_pages;
	unsigned long reserve_auto;
	bool chain_blocks;
	unsigned int small_order;
	unsigned long deferred[FB_DEFER_MAX];
	unsigned int nr_deferred;
	struct mutex report_lock;	/* see above: the reporting queue */
	struct fb_rbuf rbufs[FB_NR_RBUFS];
	struct fb_config cfg;
	struct fb_defrag_state dfg;
	struct fb_crew crew;
	struct delayed_work heal_work;
	struct fb_buf *free_bufs;
	wait_queue_head_t acked;

	struct virtio_balloon_stat stats[FB_NR_STATS];
	unsigned long *events;

	struct workqueue_struct *hint_wq;
	struct work_struct hint_work;
	unsigned long hint_read_cmd;
	u32 hint_cmd;
	__virtio32 hint_active;
	__virtio32 hint_stop;
	spinlock_t hint_lock;		/* see above: hinted blocks */
	struct list_head hint_pages;
	unsigned long hint_nr_blocks;
	struct shrinker *hint_shrinker;

	struct page_reporting_dev_info pr;
	bool pr_registered;

	struct notifier_block oom_nb;
	bool oom_registered;
	struct shrinker *shrinker;
	bool pressure_hold;
	bool retarget;
	atomic_t evacuating;

	struct delayed_work floor_work;
	unsigned long floor_hold_until;
	enum fb_run run;
	u64 run_start_ns;
	unsigned long run_pages;
	unsigned long last_inflate_rate;
	unsigned long last_deflate_rate;

	struct fb_debug dbg;
	struct dentry *debugfs;

	atomic64_t cnt[FB_CNT_MAX];
};

static inline bool fb_has(const struct fb_balloon *fb, unsigned int bit)
{
	return virtio_has_feature(fb->vdev, bit);
}

/*
 * Without DEFLATE_ON_OOM the host may count on the memory staying gone, so
 * ballooned pages leave the guest's managed memory (MemTotal drops), as with
 * the in-tree driver. With it, they stay counted: the guest may take them
 * back whenever it needs them.
 */
static inline bool fb_adjusts_managed(const struct fb_balloon *fb)
{
	return !fb_has(fb, VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
}

/*
 * The host wants to hear about every page before the guest uses it again
 * (MUST_TELL_HOST), or a test makes us behave so (debugfs force_must_tell).
 */
static inline bool fb_must_tell(const struct fb_balloon *fb)
{
	return fb_has(fb, VIRTIO_BALLOON_F_MUST_TELL_HOST) ||
	       READ_ONCE(fb->force_must_tell);
}

/*
 * The one rule for every work item: queue it unless the device is going
 * away (@fb->stop, under @fb->stop_lock, which remove and freeze set before
 * they cancel the work). @mod moves an already queued item to @delay;
 * otherwise a queued item keeps its time.
 */
static inline void fb_queue_dwork(struct fb_balloon *fb,
				  struct workqueue_struct *wq,
				  struct delayed_work *dw, unsigned long delay,
				  bool mod)
{
	unsigned long flags;

	spin_lock_irqsave(&fb->stop_lock, flags);
	if (!fb->stop) {
		if (mod)
			mod_delayed_work(wq, dw, delay);
		else
			queue_delayed_work(wq, dw, delay);
	}
	spin_unlock_irqrestore(&fb->stop_lock, flags);
}

static inline void fb_queue_work(struct fb_balloon *fb,
				 struct workqueue_struct *wq,
				 struct work_struct *work)
{
	unsigned long flags;

	spin_lock_irqsave(&fb->stop_lock, flags);
	if (!fb->stop)
		queue_work(wq, work);
	spin_unlock_irqrestore(&fb->stop_lock, flags);
}

/*
 * Change what the balloon holds (caller holds @fb->lock). Each field is
 * written once, so lockless readers see a value that was true; `actual`
 * follows when the lock is released (fb_unlock()).
 */
static inline void fb_acct(struct fb_balloon *fb, long blocks, long small)
{
	lockdep_assert_held(&fb->lock);
	WRITE_ONCE(fb->nr_blocks, fb->nr_blocks + blocks);
	WRITE_ONCE(fb->nr_small, fb->nr_small + small);
	WRITE_ONCE(fb->nr_pages,
		   fb->nr_pages + blocks * (long)FB_BLOCK_PAGES + small);
}

static inline void fb_count(struct fb_balloon *fb, enum fb_counter c, u64 n)
{
	atomic64_add(n, &fb->cnt[c]);
}

/**
 * fb_high_wmarks() - the high watermarks of every populated zone, summed
 *
 * Return: pages; what kswapd keeps free before allocations stall, which
 * both the reserve (pressure.c) and defragmentation's room (defrag.c)
 * start from.
 */
static inline unsigned long fb_high_wmarks(void)
{
	unsigned long sum = 0;
	struct zone *zone;
	int nid, z;

	for_each_online_node(nid) {
		for (z = 0; z < MAX_NR_ZONES; z++) {
			zone = &NODE_DATA(nid)->node_zones[z];
			if (populated_zone(zone))
				sum += high_wmark_pages(zone);
		}
	}
	return sum;
}

/*
 * The layers, from the bottom. A file calls only into its own layer's
 * primitives below it, never up (the README's Layout section has the map).
 */

/* Layer 1, vq.c: the queues and the only paths to the host */
int fb_init_vqs(struct fb_balloon *fb);
void fb_del_vqs(struct fb_balloon *fb);
int fb_alloc_bufs(struct fb_balloon *fb);
void fb_free_bufs(struct fb_balloon *fb);
void fb_reclaim_bufs(struct fb_balloon *fb);
void fb_tx_begin(struct fb_tx *tx, struct fb_balloon *fb, enum fb_vq q);
void fb_tx_pfn(struct fb_tx *tx, unsigned long pfn);
void fb_tx_block(struct fb_tx *tx, unsigned long pfn, bool chain);
int fb_tx_end(struct fb_tx *tx);
bool fb_use_ranges(struct fb_balloon *fb);
void fb_rtx_begin(struct fb_rtx *rtx, struct fb_balloon *fb);
void fb_rtx_block(struct fb_rtx *rtx, struct page *page);
int fb_rtx_end(struct fb_rtx *rtx);
int fb_report_sg(struct fb_balloon *fb, struct scatterlist *sgl,
		 unsigned int nents);
int fb_post(struct fb_balloon *fb, enum fb_vq q, void *data, unsigned int len,
	    bool in, gfp_t gfp);
void *fb_get_buf(struct virtqueue *vq);
void fb_config_write_actual(struct fb_balloon *fb, u32 actual);
u32 fb_target_pages(struct fb_balloon *fb);

/* Layer 1, pages.c: what the balloon holds, and its lock */
/* How fb_lock() waits for the balloon lock. */
enum fb_wait {
	FB_WAIT,	/* sleep until it is free */
	FB_TRY,		/* reclaim: give up if it is taken */
	FB_WAIT_OOM,	/* the OOM notifier: 1 s at most, never for an evacuation */
	FB_WAIT_OFFLINE, /* memory going offline: 2 s at most */
};

bool fb_lock(struct fb_balloon *fb, enum fb_wait wait);
void fb_unlock(struct fb_balloon *fb);
void fb_update_actual(struct fb_balloon *fb);
void fb_retell_actual(struct fb_balloon *fb);
unsigned long fb_small_alloc(struct fb_balloon *fb, unsigned long nr,
			     struct list_head *pages);
void fb_small_enqueue(struct fb_balloon *fb, struct list_head *pages);
unsigned long fb_small_dequeue(struct fb_balloon *fb, unsigned long nr,
			       struct list_head *pages);
void fb_small_putback(struct fb_balloon *fb, struct list_head *pages);
void fb_small_free(struct fb_balloon *fb, struct list_head *pages);
struct page *fb_block_alloc(void);
bool fb_block_alloc_zeroes(void);
void fb_block_drop(struct page *head, bool contig);
void fb_block_claim(struct fb_balloon *fb, struct page *head, bool contig,
		    struct list_head *list);
void fb_block_account(struct fb_balloon *fb, struct page *head);
void fb_block_take(struct fb_balloon *fb, struct page *head, bool contig,
		   struct list_head *list);
void fb_block_set_ranged(struct page *head);
bool fb_block_ranged(struct page *head);
bool fb_block_in(struct page *head, unsigned long start, unsigned long end);
bool fb_block_split(struct fb_balloon *fb);
void fb_block_free(struct fb_balloon *fb, struct page *head);
void fb_pages_init(struct fb_balloon *fb);

/* Layer 1, crew.c: free blocks taken on several CPUs at once */
unsigned int fb_crew_start(struct fb_balloon *fb, unsigned long blocks,
			   bool evac, unsigned long deadline);
unsigned int fb_crew_collect(struct fb_balloon *fb, struct list_head *list,
			     struct list_head *evac, unsigned int max);
bool fb_crew_finish(struct fb_balloon *fb);
void fb_crew_init(struct fb_balloon *fb);
void fb_crew_destroy(struct fb_balloon *fb);

/* Layer 1, defrag.c: evacuate movable pageblocks into free 2 MiB blocks */
/* Neighbouring pageblocks evacuated by one alloc_contig_range() call. */
#define FB_DEFRAG_RUN	8
bool fb_defrag_ready(struct fb_balloon *fb);
unsigned int fb_defrag_take(struct fb_balloon *fb, unsigned long deadline,
			    unsigned int max, struct list_head *list);
struct page *fb_defrag_block(struct fb_balloon *fb, unsigned long deadline);
int fb_defrag_init(struct fb_balloon *fb);
void fb_defrag_exit(struct fb_balloon *fb);

/* Layer 2, inflate.c: the inflate pass */
void fb_surrender(struct fb_balloon *fb, struct list_head *list,
		  struct fb_tx *tx);
unsigned long fb_inflate(struct fb_balloon *fb, unsigned long nr);

/* Layer 2, deflate.c: the deflate passes */
unsigned long fb_give_back(struct fb_balloon *fb, unsigned long nr,
			   bool blocks_first, enum fb_wait wait);
int fb_give_back_in(struct fb_balloon *fb, unsigned long start,
		    unsigned long end, enum fb_wait wait, unsigned long *got);
void fb_deflate_all(struct fb_balloon *fb);
void fb_release_all_untold(struct fb_balloon *fb);

/* Layer 3, heal.c: trade held 4 KiB pages for blocks */
void fb_heal_init(struct fb_balloon *fb);
void fb_queue_heal(struct fb_balloon *fb);

/* Layer 3, pressure.c: the floor, and memory back under pressure */
void fb_floor_init(struct fb_balloon *fb);
void fb_reserve_init(struct fb_balloon *fb);
unsigned long fb_floor_room(struct fb_balloon *fb, unsigned long want);
void fb_queue_floor(struct fb_balloon *fb);
int fb_pressure_init(struct fb_balloon *fb);
void fb_pressure_exit(struct fb_balloon *fb);

/* Layer 4, size.c: the size work, towards the target */
void fb_size_init(struct fb_balloon *fb);
unsigned long fb_effective_target(struct fb_balloon *fb);
void fb_queue_size_work(struct fb_balloon *fb);
void fb_target_changed(struct fb_balloon *fb);
void fb_limits_changed(struct fb_balloon *fb);

/*
 * Entry points: the callbacks of the kernel and of the device. They queue
 * work or, where the kernel waits for their answer, call a pass or a
 * policy directly.
 */

/* migrate.c: balloon compaction moves our 4 KiB pages */
void fb_migrate_init(struct fb_balloon *fb);

/* hotplug.c: memory blocks going offline */
int fb_hotplug_init(struct fb_balloon *fb);
void fb_hotplug_exit(struct fb_balloon *fb);

/* knobs.c: FB_KNOBS (uapi) as module parameters, the tunables' defaults */
#define FB_KNOB_ID(_name, _unit, _min, _max, _def, _words) FB_KNOB_##_name,
enum fb_knob_id { FB_KNOBS(FB_KNOB_ID) FB_NR_KNOBS };
#undef FB_KNOB_ID

/**
 * struct fb_knob - one row of FB_KNOBS, for the code that checks values.
 * @name: sysfs file and module parameter.
 * @unit: enum fb_unit.
 * @min: smallest value.
 * @max: largest value, unless @max_is_ram.
 * @max_is_ram: the largest value is the guest's RAM in pages.
 * @auto_def: the default is FB_KNOB_AUTO: computed when the device binds.
 * @words: a word knob's words, in the order of their values; NULL-terminated.
 */
struct fb_knob {
	const char *name;
	enum fb_unit unit;
	unsigned long min;
	unsigned long max;
	bool max_is_ram;
	bool auto_def;
	const char * const *words;
};

extern const struct fb_knob fb_knobs[FB_NR_KNOBS];
int fb_knob_lookup(const struct fb_knob *k, const char *val);
unsigned long fb_knob_max(const struct fb_knob *k, unsigned long ram);
char *fb_knob_words(const struct fb_knob *k, const char *last, char *buf,
		    size_t len);
int fb_knobs_check_params(void);
void fb_config_defaults(struct fb_balloon *fb);

/* stats.c */
int fb_stats_init(struct fb_balloon *fb);
void fb_stats_exit(struct fb_balloon *fb);
int fb_stats_prime(struct fb_balloon *fb);

/* hint.c: free page hinting (FREE_PAGE_HINT) */
int fb_hint_init(struct fb_balloon *fb);
void fb_hint_exit(struct fb_balloon *fb);
void fb_hint_config_changed(struct fb_balloon *fb);
void fb_hint_return_all(struct fb_balloon *fb);

/* report.c: free page reporting (REPORTING) */
int fb_report_init(struct fb_balloon *fb);
void fb_report_exit(struct fb_balloon *fb);

/* debugfs.c */
void fb_debugfs_init(void);
void fb_debugfs_exit(void);
void fb_debugfs_add(struct fb_balloon *fb);
void fb_debugfs_remove(struct fb_balloon *fb);

/* sysfs.c */
extern const struct attribute_group fb_attr_group;
int fb_feature_names(struct fb_balloon *fb, char *buf, size_t size);

#endif /* _FASTBALLOON_H */
