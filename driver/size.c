// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon size work: move the balloon towards its target.
 *
 * Owns the target the balloon aims at (the host's, the guest's own, the
 * cap), one step of the work that gets there (a bounded inflate or deflate
 * pass, limited by the reserve's and the floor's room and the rate limit),
 * the back-off when the guest has nothing to give, and the rate of each
 * run. Layer 4, the top of the work: it calls the passes (inflate.c,
 * deflate.c) and the policies (pressure.c for the reserve and the floor,
 * heal.c), and is called only by entry
 * points (config change, sysfs, hotplug, probe) through
 * fb_queue_size_work() and fb_target_changed().
 */
#include <linux/ktime.h>
#include <linux/mm.h>

#include "fastballoon.h"

/*
 * What the balloon aims at: the guest's own target if one is set, else the
 * host's, never above the cap. The floor is applied as memory is taken
 * (fb_floor_room()), since available memory changes all the time.
 */
unsigned long fb_effective_target(struct fb_balloon *fb)
{
	unsigned long target = READ_ONCE(fb->cfg.guest_target);
	unsigned long cap = READ_ONCE(fb->cfg.max_pages);

	if (!target)
		target = fb_target_pages(fb);
	if (cap)
		target = min(target, cap);
	return target;
}

static void fb_queue_size_work_delayed(struct fb_balloon *fb,
				       unsigned long delay)
{
	fb_queue_dwork(fb, system_freezable_wq, &fb->size_work, delay, true);
}

void fb_queue_size_work(struct fb_balloon *fb)
{
	fb_queue_size_work_delayed(fb, 0);
}

/* Forget the back-off: the next pass is a real one, and soon. */
static void fb_retry_reset(struct fb_balloon *fb)
{
	WRITE_ONCE(fb->retry_delay, FB_RETRY_DELAY);
	WRITE_ONCE(fb->retry_at, jiffies);
}

/*
 * The target moved (host config change or a knob): go now, forget the
 * back-off and any hold a release imposed.
 */
void fb_target_changed(struct fb_balloon *fb)
{
	WRITE_ONCE(fb->retarget, true);
	WRITE_ONCE(fb->pressure_hold, false);
	WRITE_ONCE(fb->floor_hold_until, jiffies);
	fb_retry_reset(fb);
	fb_queue_size_work(fb);
	fb_queue_floor(fb);
}

/*
 * What inflation may take changed (the reserve): go now, forget the
 * back-off; the holds stay.
 */
void fb_limits_changed(struct fb_balloon *fb)
{
	fb_retry_reset(fb);
	fb_queue_size_work(fb);
}

/*
 * Backed off after an inflate pass that got nothing (no free memory, or the
 * reserve or the floor left no room): until @fb->retry_at, don't make a
 * pass, only read MemAvailable once a second, which costs nothing. When it
 * grew by a block over what the failed pass left (a program exited, page
 * cache was dropped), go at once; otherwise wait out the exponential
 * delay. Returns true when the work was put off (and requeued).
 */
static bool fb_backed_off(struct fb_balloon *fb)
{
	unsigned long at = READ_ONCE(fb->retry_at);

	if (!time_before(jiffies, at))
		return false;
	if (si_mem_available() >= fb->fail_avail + (long)FB_BLOCK_PAGES)
		return false;
	fb->dbg.backoff_polls++;
	fb_queue_size_work_delayed(fb, min(at - jiffies, FB_RETRY_POLL));
	return true;
}

/*
 * Runs of the size work, for the last_*_pages_per_s attributes: a run starts
 * when the balloon begins moving one way and ends when it reaches the
 * target or can go no further; its rate counts the pauses in between. A
 * run that moved less than FB_RATE_MIN_PAGES leaves the last rate as it
 * was: waking the work, taking the lock and telling the host are most of
 * its time, and a rate over a few microseconds says nothing about what a
 * target change costs (2 MiB given back on the range path: some 50 million
 * pages/s).
 */
static void fb_run_step(struct fb_balloon *fb, enum fb_run dir, u64 start,
			unsigned long got, bool done)
{
	u64 now = ktime_get_ns(), ns;
	unsigned long rate;

	if (dir == FB_RUN_NONE)
		return;
	if (fb->run != dir) {
		fb->run = dir;
		fb->run_start_ns = start;	/* when this pass began */
		fb->run_pages = 0;
	}
	fb->run_pages += got;
	if (!done)
		return;
	if (fb->run_pages >= FB_RATE_MIN_PAGES) {
		ns = max_t(u64, now - fb->run_start_ns, 1);
		rate = div64_u64((u64)fb->run_pages * NSEC_PER_SEC, ns);
		if (dir == FB_RUN_INFLATE)
			WRITE_ONCE(fb->last_inflate_rate, rate);
		else
			WRITE_ONCE(fb->last_deflate_rate, rate);
	}
	fb->run = FB_RUN_NONE;
}

/*
 * Inflate up to *@want pages; with a rate limit, *@want shrinks to a quarter
 * second's worth and *@pause says how long to wait before the next pass.
 */
static unsigned long fb_inflate_chunk(struct fb_balloon *fb,
				      unsigned long *want, unsigned long *pause)
{
	unsigned long limit = READ_ONCE(fb->cfg.inflate_limit);
	unsigned long got;

	*pause = 0;
	if (limit)
		*want = min(*want, max(limit / 4, 1UL));
	got = fb_inflate(fb, *want);
	if (limit && got) {
		*pause = max_t(unsigned long,
			       div64_u64((u64)got * HZ, limit), 1);
		fb->dbg.limit_waits++;
	}
	return got;
}

static void fb_size_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(to_delayed_work(work),
					     struct fb_balloon, size_work);
	unsigned long target, held, want, got, room, pause = 0;
	unsigned long hold = READ_ONCE(fb->floor_hold_until);
	bool cut = false;	/* the floor allowed less than was asked */
	bool moved;		/* the target moved during the pass */
	u64 start = ktime_get_ns();

	/* A target that moves from here on ends the pass (fb_pass_stops()). */
	WRITE_ONCE(fb->retarget, false);
	target = fb_effective_target(fb);
	held = READ_ONCE(fb->nr_pages);

	if (target == held) {
		fb_run_step(fb, fb->run, start, 0, true);
		return;
	}
	if (READ_ONCE(fb->dead)) {
		dev_warn_ratelimited(&fb->vdev->dev,
				     "host stopped answering; balloon left at %lu pages\n",
				     held);
		return;
	}

	if (target > held && READ_ONCE(fb->pressure_hold))
		return;
	if (target > held && time_before(jiffies, hold)) {
		fb_queue_size_work_delayed(fb, hold - jiffies);
		return;
	}
	if (target > held && fb_backed_off(fb))
		return;
	if (target > held) {
		fb->dbg.size_passes++;
		want = min(target - held, FB_CHUNK_PAGES);
		room = fb_floor_room(fb, want);
		if (room < want) {
			/*
			 * Less than a block of room is no room: taking it a
			 * few pages at a time would keep the work busy for
			 * what MemAvailable's ups and downs let through.
			 */
			fb->dbg.floor_stops++;
			want = room >= FB_BLOCK_PAGES ? room : 0;
			cut = true;
		}
		/* The reserve or the floor left nothing: no allocation at all. */
		if (want)
			fb->dbg.inflate_calls++;
		got = want ? fb_inflate_chunk(fb, &want, &pause) : 0;
		moved = READ_ONCE(fb->retarget);
		fb_run_step(fb, FB_RUN_INFLATE, start, got, !moved &&
			    (held + got >= target || !got || got < want));
		if (moved) {
			/*
			 * Cut short for a new target: read it again now.
			 * fb_target_changed() reset the back-off already.
			 */
			fb->dbg.retargets++;
			fb_queue_size_work_delayed(fb, pause);
			goto out;
		}
	} else {
		/* Deflating is cheap: up to FB_DEFER_MAX blocks in one pass. */
		want = min(held - target, FB_DEFER_MAX * FB_BLOCK_PAGES);
		got = fb_give_back(fb, want, false, FB_WAIT);
		fb_run_step(fb, FB_RUN_DEFLATE, start, got,
			    held - got <= target || got < want);
	}

	/*
	 * More to do: go on at once (or after the rate limit's pause); after
	 * a short pass, pause, and pause longer each time nothing at all could
	 * be taken (the host may ask for more than the guest can give), so
	 * that we don't spin. An inflate backed off that way still looks at
	 * MemAvailable every second (fb_backed_off()).
	 */
	if (got == want && !cut) {
		fb_retry_reset(fb);
		fb_queue_size_work_delayed(fb, pause);
	} else if (got && !cut) {
		fb_retry_reset(fb);
		fb_queue_size_work_delayed(fb, FB_RETRY_DELAY);
	} else {
		/*
		 * Nothing taken, or only what the reserve or the floor let
		 * through: a block that MemAvailable's ups and downs made
		 * room for must not restart the back-off from its shortest
		 * delay (that was a pass every 0.2-6 s for half a minute).
		 */
		unsigned long delay = READ_ONCE(fb->retry_delay);

		WRITE_ONCE(fb->retry_delay, min(delay * 2, FB_RETRY_MAX));
		if (target > held) {
			fb->fail_avail = si_mem_available();
			WRITE_ONCE(fb->retry_at, jiffies + delay);
			delay = min(delay, FB_RETRY_POLL);
		}
		fb_queue_size_work_delayed(fb, delay);
	}
out:
	fb_queue_heal(fb);
	fb_queue_floor(fb);
}

void fb_size_init(struct fb_balloon *fb)
{
	fb->retry_delay = FB_RETRY_DELAY;
	fb->retry_at = jiffies;
	INIT_DELAYED_WORK(&fb->size_work, fb_size_func);
}
