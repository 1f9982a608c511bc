// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon virtqueues and the one path that tells the host about pages.
 *
 * The in-tree driver sends 256 PFNs and sleeps until the host acknowledges
 * them before sending the next 256. Here a burst fills buffers from a pool
 * and queues them back to back, kicking every FB_KICK_BATCH buffers, and
 * only waits when the pool or the ring runs dry and once at the end of the
 * burst, so the host processes many buffers per notification.
 */
#include <linux/scatterlist.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#include "fastballoon.h"

/* Callback of every queue the driver polls: wake whoever waits. */
void fb_ack(struct virtqueue *vq)
{
	struct fb_balloon *fb = vq->vdev->priv;

	wake_up(&fb->acked);
}

int fb_init_vqs(struct fb_balloon *fb)
{
	vq_callback_t *callbacks[FB_VQ_MAX] = {};
	const char *names[FB_VQ_MAX] = {};
	int err;

	callbacks[FB_VQ_INFLATE] = fb_ack;
	names[FB_VQ_INFLATE] = "inflate";
	callbacks[FB_VQ_DEFLATE] = fb_ack;
	names[FB_VQ_DEFLATE] = "deflate";
	/* A NULL name leaves the queue out; the transport numbers the rest. */
	if (fb_has(fb, VIRTIO_BALLOON_F_STATS_VQ)) {
		callbacks[FB_VQ_STATS] = fb_stats_request;
		names[FB_VQ_STATS] = "stats";
	}
	if (fb_has(fb, VIRTIO_BALLOON_F_FREE_PAGE_HINT))
		names[FB_VQ_HINT] = "free_page_hint";
	if (fb_has(fb, VIRTIO_BALLOON_F_REPORTING)) {
		callbacks[FB_VQ_REPORT] = fb_ack;
		names[FB_VQ_REPORT] = "reporting";
	}

	memset(fb->vqs, 0, sizeof(fb->vqs));
	err = fb_find_vqs(fb->vdev, FB_VQ_MAX, fb->vqs, callbacks, names);
	if (err)
		return err;
	fb->dead = false;
	return 0;
}

void fb_del_vqs(struct fb_balloon *fb)
{
	fb->vdev->config->del_vqs(fb->vdev);
	memset(fb->vqs, 0, sizeof(fb->vqs));
}

int fb_alloc_bufs(struct fb_balloon *fb)
{
	unsigned int i;

	fb->bufs = kvcalloc(FB_NR_BUFS, sizeof(*fb->bufs), GFP_KERNEL);
	if (!fb->bufs)
		return -ENOMEM;
	fb->free_bufs = NULL;
	for (i = 0; i < FB_NR_BUFS; i++) {
		fb->bufs[i].next = fb->free_bufs;
		fb->free_bufs = &fb->bufs[i];
	}
	return 0;
}

void fb_free_bufs(struct fb_balloon *fb)
{
	kvfree(fb->bufs);
	fb->bufs = NULL;
	fb->free_bufs = NULL;
}

static void fb_put_buf(struct fb_balloon *fb, struct fb_buf *buf)
{
	buf->next = fb->free_bufs;
	fb->free_bufs = buf;
}

/* Take back every buffer the host has finished with; true if any. */
static bool fb_tx_collect(struct fb_tx *tx)
{
	struct fb_buf *buf;
	unsigned int len;
	bool got = false;

	while ((buf = virtqueue_get_buf(tx->vq, &len))) {
		fb_put_buf(tx->fb, buf);
		tx->inflight--;
		got = true;
	}
	return got;
}

/*
 * Collect finished buffers, sleeping until at least one is back. A host
 * that returns nothing for FB_HOST_TIMEOUT, or a queue that broke (surprise
 * removal), marks the device dead: its buffers stay with it, never reused,
 * and no further request is sent.
 */
static int fb_tx_reap(struct fb_tx *tx)
{
	struct fb_balloon *fb = tx->fb;
	long left;

	if (fb_tx_collect(tx) || !tx->inflight)
		return 0;
	left = wait_event_timeout(fb->acked,
				  fb_tx_collect(tx) || virtqueue_is_broken(tx->vq),
				  FB_HOST_TIMEOUT);
	if (left && !virtqueue_is_broken(tx->vq))
		return 0;
	fb->dead = true;
	dev_err_ratelimited(&fb->vdev->dev,
			    "host returned no buffer for %u s or the queue broke; not sending it any more\n",
			    FB_HOST_TIMEOUT / HZ);
	return -EIO;
}

static void fb_tx_kick(struct fb_tx *tx)
{
	if (tx->unkicked) {
		virtqueue_kick(tx->vq);
		tx->unkicked = 0;
	}
}

static void fb_tx_submit(struct fb_tx *tx)
{
	struct fb_buf *buf = tx->cur;
	struct scatterlist sg;
	int err;

	tx->cur = NULL;
	sg_init_one(&sg, buf->pfns, buf->nr * sizeof(buf->pfns[0]));
	for (;;) {
		err = virtqueue_add_outbuf(tx->vq, &sg, 1, buf, GFP_KERNEL);
		if (err != -ENOSPC)
			break;
		/* Ring full: let the host catch up, then retry. */
		fb_tx_kick(tx);
		err = fb_tx_reap(tx);
		if (err)
			break;
	}
	if (err) {
		tx->err = tx->err ?: err;
		fb_put_buf(tx->fb, buf);
		return;
	}
	tx->inflight++;
	if (++tx->unkicked >= FB_KICK_BATCH)
		fb_tx_kick(tx);
}

void fb_tx_begin(struct fb_tx *tx, struct fb_balloon *fb, enum fb_vq q)
{
	lockdep_assert_held(&fb->lock);
	tx->fb = fb;
	tx->vq = fb->vqs[q];
	tx->cur = NULL;
	tx->inflight = 0;
	tx->unkicked = 0;
	tx->err = fb->dead ? -EIO : 0;
}

/* Queue one 4 KiB frame number for the host. */
void fb_tx_pfn(struct fb_tx *tx, unsigned long pfn)
{
	struct fb_balloon *fb = tx->fb;

	if (tx->err)
		return;
	if (!tx->cur) {
		while (!fb->free_bufs) {
			fb_tx_kick(tx);
			tx->err = fb_tx_reap(tx);
			if (tx->err)
				return;
		}
		tx->cur = fb->free_bufs;
		fb->free_bufs = tx->cur->next;
		tx->cur->nr = 0;
	}
	tx->cur->pfns[tx->cur->nr++] = cpu_to_virtio32(fb->vdev, pfn);
	if (tx->cur->nr == FB_PFNS_PER_BUF)
		fb_tx_submit(tx);
}

/*
 * Send what is left and wait until the host has processed all of the
 * burst: when this returns 0 the host has seen every PFN.
 */
int fb_tx_end(struct fb_tx *tx)
{
	if (tx->cur) {
		if (tx->err)
			fb_put_buf(tx->fb, tx->cur);
		else
			fb_tx_submit(tx);
		tx->cur = NULL;
	}
	fb_tx_kick(tx);
	while (tx->inflight) {
		int err = fb_tx_reap(tx);

		if (err) {
			tx->err = tx->err ?: err;
			break;
		}
	}
	return tx->err;
}
