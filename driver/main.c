// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon: a virtio-balloon driver that gives memory back to the host
 * fast. This file binds devices: feature negotiation, probe, remove,
 * freeze/restore, the config-change callback and the module parameters.
 * An entry point: it sets every other file up and tears it down, and
 * otherwise only queues work (the README's Layout section has the map).
 *
 * Both this driver and the in-tree virtio_balloon match virtio device id 5;
 * whichever is bound owns the device. See the README for moving a running
 * device between them.
 */
#include <linux/device.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/string.h>
#include <linux/poison.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <uapi/linux/virtio_ring.h>

#include "fastballoon.h"

#define CREATE_TRACE_POINTS
#include "fb_trace.h"

/*
 * Not a knob (no sysfs file), so not in the uapi table: how long a device
 * bound from now on waits for its host. The knobs are in knobs.c.
 */
static unsigned int host_timeout_ms = 30000;
module_param(host_timeout_ms, uint, 0444);
MODULE_PARM_DESC(host_timeout_ms,
		 "how long to wait for the host to return a buffer before declaring it dead, 100-600000 ms [30000]");

/* Refuse to load with a parameter that makes no sense, and say which. */
static int __init fb_check_params(void)
{
	if (host_timeout_ms < 100 || host_timeout_ms > 600000) {
		pr_err("host_timeout_ms=%u: must be 100..600000\n",
		       host_timeout_ms);
		return -ERANGE;
	}
	return fb_knobs_check_params();
}

/*
 * The config space changed: only a new target ends a hold and the back-off.
 * Hosts raise the interrupt for other fields too (a free page hint
 * command), and QEMU raises it whenever it is asked for a size, the same
 * one included. Work, not the callback: config reads may sleep.
 */
static void fb_config_func(struct work_struct *work)
{
	struct fb_balloon *fb = container_of(work, struct fb_balloon,
					     config_work);
	u32 target = fb_target_pages(fb);

	if (target == fb->host_target)
		return;
	fb->host_target = target;
	fb_target_changed(fb);
}

/* Config callback, atomic context: only queue work, and not while stopping. */
static void fb_config_changed(struct virtio_device *vdev)
{
	struct fb_balloon *fb = vdev->priv;

	fb_hint_config_changed(fb);
	fb_queue_work(fb, system_freezable_wq, &fb->config_work);
}

/*
 * Tell the host what free pages contain (PAGE_POISON): zero with
 * init_on_free, the poison byte with page poisoning. Free page reporting
 * relies on it: a host that knows the pages hold a non-zero pattern must
 * not replace them with zero pages.
 */
static void fb_set_poison(struct fb_balloon *fb)
{
	u32 val = 0;

	if (!fb_has(fb, VIRTIO_BALLOON_F_PAGE_POISON))
		return;
	if (!want_init_on_free())
		memset(&val, PAGE_POISON, sizeof(val));
	virtio_cwrite_le(fb->vdev, struct virtio_balloon_config, poison_val,
			 &val);
}

/* Bring the queues up and the device live (probe and restore). */
static int fb_start(struct fb_balloon *fb)
{
	int err;

	err = fb_init_vqs(fb);
	if (err)
		return err;
	virtio_device_ready(fb->vdev);
	if (fb_stats_prime(fb))
		dev_warn(&fb->vdev->dev, "could not prime the stats queue\n");
	return 0;
}

/*
 * QEMU frees a hugetlbfs-backed host page only when a block's 512 frames
 * come in one request, so on PCI we chain two descriptors. Firecracker
 * (virtio-mmio) reads only the first descriptor of a request, so there each
 * half travels on its own; it merges consecutive frames itself.
 */
static bool fb_chain_blocks(struct virtio_device *vdev)
{
	return vdev->dev.parent && dev_is_pci(vdev->dev.parent);
}

static void fb_set_stop(struct fb_balloon *fb, bool stop)
{
	spin_lock_irq(&fb->stop_lock);
	fb->stop = stop;
	spin_unlock_irq(&fb->stop_lock);
}

/*
 * Quiesce and empty the balloon, leaving the device reset with its queues
 * deleted (remove and freeze). The host hears about every page we take
 * back while it still answers; after the reset it has forgotten the balloon,
 * so whatever is left goes back to the guest without a word.
 */
static void fb_stop(struct fb_balloon *fb)
{
	fb_set_stop(fb, true);
	cancel_work_sync(&fb->config_work);	/* it queues the size work */
	cancel_delayed_work_sync(&fb->size_work);
	cancel_delayed_work_sync(&fb->heal_work);
	cancel_delayed_work_sync(&fb->floor_work);
	cancel_work_sync(&fb->stats_work);
	if (fb->hint_wq)
		cancel_work_sync(&fb->hint_work);

	/*
	 * Even a host that stopped answering may read the config space:
	 * every pass leaves it the truth (here: nothing is ballooned) before
	 * the reset.
	 */
	fb_deflate_all(fb);
	fb_hint_return_all(fb);

	virtio_reset_device(fb->vdev);
	fb_release_all_untold(fb);
	fb_reclaim_bufs(fb);
	fb_del_vqs(fb);
}

/*
 * One line when the device is bound: which driver took which device, what
 * the host negotiated and how pages go back to it. A guest where both
 * balloon drivers are installed has no other sign of which one won.
 */
static void fb_log_bound(struct fb_balloon *fb)
{
	struct device *parent = fb->vdev->dev.parent;
	char feats[96];
	int len = fb_feature_names(fb, feats, sizeof(feats));

	dev_info(&fb->vdev->dev,
		 "version %s bound to %s: features %s; surrender path %s\n",
		 FB_VERSION, parent ? dev_name(parent) : "?",
		 len ? feats : "none", fb_use_ranges(fb) ? "report" : "inflate");
}

static int fb_probe(struct virtio_device *vdev)
{
	struct fb_balloon *fb;
	int err;

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "device has no config space access\n");
		return -EINVAL;
	}

	fb = kzalloc(sizeof(*fb), GFP_KERNEL);
	if (!fb)
		return -ENOMEM;
	vdev->priv = fb;
	fb->vdev = vdev;
	spin_lock_init(&fb->stop_lock);
	init_waitqueue_head(&fb->acked);
	fb->ram_pages = totalram_pages();
	fb->host_timeout = msecs_to_jiffies(host_timeout_ms);
	fb_config_defaults(fb);
	fb_reserve_init(fb);
	fb->chain_blocks = fb_chain_blocks(vdev);
	fb_pages_init(fb);
	fb_crew_init(fb);
	fb_migrate_init(fb);
	mutex_init(&fb->report_lock);
	INIT_WORK(&fb->config_work, fb_config_func);
	fb_size_init(fb);
	fb_heal_init(fb);
	fb_floor_init(fb);

	err = fb_defrag_init(fb);
	if (err)
		goto out_free;
	err = fb_stats_init(fb);
	if (err)
		goto out_defrag;
	err = fb_alloc_bufs(fb);
	if (err)
		goto out_stats;
	err = fb_init_vqs(fb);
	if (err)
		goto out_bufs;
	err = fb_hint_init(fb);
	if (err)
		goto out_del_vqs;
	err = fb_pressure_init(fb);
	if (err)
		goto out_hint;
	err = fb_hotplug_init(fb);
	if (err)
		goto out_pressure;
	fb_set_poison(fb);
	err = fb_report_init(fb);
	if (err)
		goto out_hotplug;
	err = device_add_group(&vdev->dev, &fb_attr_group);
	if (err)
		goto out_report;

	fb->host_target = fb_target_pages(fb);
	virtio_device_ready(vdev);
	if (fb_stats_prime(fb))
		dev_warn(&vdev->dev, "could not prime the stats queue\n");
	fb_debugfs_add(fb);
	fb_log_bound(fb);
	fb_queue_size_work(fb);
	return 0;

out_report:
	fb_report_exit(fb);
out_hotplug:
	fb_hotplug_exit(fb);
out_pressure:
	fb_pressure_exit(fb);
out_hint:
	fb_hint_exit(fb);
out_del_vqs:
	virtio_reset_device(vdev);
	fb_del_vqs(fb);
out_bufs:
	fb_free_bufs(fb);
out_stats:
	fb_stats_exit(fb);
out_defrag:
	fb_defrag_exit(fb);
out_free:
	fb_crew_destroy(fb);
	vdev->priv = NULL;
	kfree(fb);
	return err;
}

static void fb_remove(struct virtio_device *vdev)
{
	struct fb_balloon *fb = vdev->priv;

	device_remove_group(&vdev->dev, &fb_attr_group);
	fb_debugfs_remove(fb);
	/* Nobody may ask for pages once we start giving them all back. */
	fb_report_exit(fb);
	fb_pressure_exit(fb);
	fb_hotplug_exit(fb);
	fb_stop(fb);
	fb_hint_exit(fb);
	fb_free_bufs(fb);
	fb_stats_exit(fb);
	fb_defrag_exit(fb);
	fb_crew_destroy(fb);
	vdev->priv = NULL;
	kfree(fb);
}

#ifdef CONFIG_PM_SLEEP
static int fb_freeze(struct virtio_device *vdev)
{
	/* Freezable workqueues are already frozen; the balloon empties. */
	fb_stop(vdev->priv);
	return 0;
}

static int fb_restore(struct virtio_device *vdev)
{
	struct fb_balloon *fb = vdev->priv;
	int err;

	fb->hint_active = cpu_to_virtio32(vdev, VIRTIO_BALLOON_CMD_ID_STOP);
	fb->host_target = fb_target_pages(fb);
	err = fb_start(fb);
	if (err)
		return err;
	fb_set_poison(fb);
	fb_set_stop(fb, false);
	fb_retell_actual(fb);
	fb_queue_size_work(fb);
	fb_queue_floor(fb);
	return 0;
}
#endif

static int fb_validate(struct virtio_device *vdev)
{
	/*
	 * PAGE_POISON says what free pages hold; it only means something if
	 * the guest poisons or zeroes them. If it does but the host can't be
	 * told, reporting could hand back pages whose contents change.
	 */
	if (!want_init_on_free() && !page_poisoning_enabled_static())
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_POISON);
	else if (!virtio_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_POISON))
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_REPORTING);

	/* Reporting must not allocate; indirect descriptors would. */
	__virtio_clear_bit(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	/* PFNs are guest-physical frames, never DMA addresses. */
	__virtio_clear_bit(vdev, VIRTIO_F_ACCESS_PLATFORM);
	return 0;
}

static unsigned int fb_features[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	VIRTIO_BALLOON_F_FREE_PAGE_HINT,
	VIRTIO_BALLOON_F_PAGE_POISON,
	VIRTIO_BALLOON_F_REPORTING,
};

static const struct virtio_device_id fb_id_table[] = {
	{ VIRTIO_ID_BALLOON, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, fb_id_table);

static struct virtio_driver fb_driver = {
	.feature_table = fb_features,
	.feature_table_size = ARRAY_SIZE(fb_features),
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.id_table = fb_id_table,
	.validate = fb_validate,
	.probe = fb_probe,
	.remove = fb_remove,
	.config_changed = fb_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze = fb_freeze,
	.restore = fb_restore,
#endif
};

static int __init fb_init(void)
{
	int err = fb_check_params();

	if (err)
		return err;
	fb_debugfs_init();
	err = register_virtio_driver(&fb_driver);
	if (err)
		fb_debugfs_exit();
	return err;
}
module_init(fb_init);

static void __exit fb_exit(void)
{
	unregister_virtio_driver(&fb_driver);
	fb_debugfs_exit();
}
module_exit(fb_exit);

MODULE_DESCRIPTION("Fast virtio-balloon driver: whole 2 MiB blocks, quickly");
MODULE_LICENSE("GPL");
MODULE_VERSION(FB_VERSION);
