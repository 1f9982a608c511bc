// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon debugfs: /sys/kernel/debug/fastballoon/virtioN/state, one
 * "key: value" per line, for people chasing a problem. Unlike sysfs this is
 * not ABI: keys may come and go between versions.
 */
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/seq_file.h>

#include "fastballoon.h"

static struct dentry *fb_debugfs_root;

static int fb_state_show(struct seq_file *m, void *unused)
{
	static const char * const run[] = { "none", "inflate", "deflate" };
	struct fb_balloon *fb = m->private;
	struct fb_debug *d = &fb->dbg;
	unsigned long hold = READ_ONCE(fb->floor_hold_until);
	unsigned long retry_at = READ_ONCE(fb->retry_at);
	unsigned int i;

	seq_printf(m, "host_target_pages: %u\n", fb_target_pages(fb));
	seq_printf(m, "effective_target_pages: %lu\n", fb_effective_target(fb));
	seq_printf(m, "actual_pages: %lu\n", READ_ONCE(fb->nr_pages));
	seq_printf(m, "blocks_2m: %lu\n", READ_ONCE(fb->nr_blocks));
	seq_printf(m, "pages_4k: %lu\n", READ_ONCE(fb->nr_small));
	seq_printf(m, "mem_available_pages: %ld\n", si_mem_available());
	seq_printf(m, "dead: %d\n", READ_ONCE(fb->dead));
	seq_printf(m, "host_timeout_ms: %u\n",
		   jiffies_to_msecs(fb->host_timeout));
	seq_printf(m, "pressure_hold: %d\n", READ_ONCE(fb->pressure_hold));
	seq_printf(m, "floor_hold_ms: %u\n", time_before(jiffies, hold) ?
		   jiffies_to_msecs(hold - jiffies) : 0);
	seq_printf(m, "retry_delay_ms: %u\n",
		   jiffies_to_msecs(READ_ONCE(fb->retry_delay)));
	seq_printf(m, "retry_in_ms: %u\n", time_before(jiffies, retry_at) ?
		   jiffies_to_msecs(retry_at - jiffies) : 0);
	seq_printf(m, "reserve_pages: %lu\n", READ_ONCE(fb->cfg.reserve_pages));
	seq_printf(m, "run: %s\n", run[READ_ONCE(fb->run)]);
	seq_printf(m, "small_order: %u\n", READ_ONCE(fb->small_order));
	seq_printf(m, "deferred_blocks: %u\n", READ_ONCE(fb->nr_deferred));
	seq_printf(m, "chain_blocks: %d\n", fb->chain_blocks);
	seq_printf(m, "ranges: %d\n", fb_use_ranges(fb));
	seq_printf(m, "defrag_candidates: %u\n", READ_ONCE(fb->dfg.nr));
	seq_printf(m, "defrag_next: %u\n", READ_ONCE(fb->dfg.next));
	seq_printf(m, "hinted_blocks: %lu\n", READ_ONCE(fb->hint_nr_blocks));
	seq_printf(m, "blocks_taken_free: %lu\n", d->blocks_free);
	seq_printf(m, "blocks_taken_evacuated: %lu\n", d->blocks_evacuated);
	seq_printf(m, "crew_passes: %lu\n", d->crew_passes);
	seq_printf(m, "crew_hands: %lu\n", d->crew_hands);
	seq_printf(m, "crew_dropped_blocks: %lu\n", d->crew_dropped);
	seq_printf(m, "crew_evac_passes: %lu\n", d->crew_evac_passes);
	seq_printf(m, "defrag_run_blocks: %ld\n",
		   atomic_long_read(&d->defrag_blocks));
	for (i = 0; i < ARRAY_SIZE(d->small_by_order); i++)
		seq_printf(m, "small_pages_order_%u: %lu\n", i,
			   d->small_by_order[i]);
	seq_puts(m, "defrag_ms_histogram:");
	for (i = 0; i < FB_DEFRAG_HIST; i++)
		seq_printf(m, " %lu", d->defrag_hist[i]);
	seq_puts(m, "  (<1 <4 <16 <64 <256 >=256 ms)\n");
	seq_printf(m, "floor_stops: %lu\n", d->floor_stops);
	seq_printf(m, "size_passes: %lu\n", d->size_passes);
	seq_printf(m, "inflate_calls: %lu\n", d->inflate_calls);
	seq_printf(m, "retargets: %lu\n", d->retargets);
	seq_printf(m, "backoff_polls: %lu\n", d->backoff_polls);
	seq_printf(m, "limit_waits: %lu\n", d->limit_waits);
	seq_printf(m, "heal_busy: %lu\n", d->heal_busy);
	seq_printf(m, "defrag_no_room: %lu\n", d->defrag_no_room);
	seq_printf(m, "oom_gave_up: %lu\n", d->oom_gave_up);
	seq_printf(m, "trylock_busy: %lu\n", d->trylock_busy);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fb_state);

void fb_debugfs_init(void)
{
	fb_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

void fb_debugfs_exit(void)
{
	debugfs_remove_recursive(fb_debugfs_root);
	fb_debugfs_root = NULL;
}

/* Failures are not errors: debugfs may be absent or locked down. */
void fb_debugfs_add(struct fb_balloon *fb)
{
	fb->debugfs = debugfs_create_dir(dev_name(&fb->vdev->dev),
					 fb_debugfs_root);
	debugfs_create_file("state", 0444, fb->debugfs, fb, &fb_state_fops);
	/* Fault injection, for tests: see the README. */
	debugfs_create_bool("fail_host_silent", 0600, fb->debugfs,
			    &fb->fail_host_silent);
	debugfs_create_bool("force_must_tell_host", 0600, fb->debugfs,
			    &fb->force_must_tell);
	debugfs_create_bool("fail_trylock", 0600, fb->debugfs,
			    &fb->fail_trylock);
}

void fb_debugfs_remove(struct fb_balloon *fb)
{
	debugfs_remove_recursive(fb->debugfs);
	fb->debugfs = NULL;
}
