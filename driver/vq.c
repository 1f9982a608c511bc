// SPDX-License-Identifier: GPL-2.0
/*
 * fastballoon virtqueues: the only code that talks to the host.
 *
 * Owns the queues, the PFN buffer pool, every request to every queue
 * (inflate and deflate bursts, ranges and free page reports on the
 * reporting queue, stats and hint buffers), the one wait for the host, and
 * the config-space fields the driver reads and writes. Layer 1: it calls
 * only the kernel; everything above calls it to reach the host.
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
static void fb_ack(struct virtqueue *vq)
{
	struct fb_balloon *fb = vq->vdev->priv;

	wake_up(&fb->acked);
}

/*
 * Stats queue callback (interrupt context): the host handed our buffer
 * back and wants new figures; stats.c's work refills it.
 */
static void fb_stats_ack(struct virtqueue *vq)
{
	struct fb_balloon *fb = vq->vdev->priv;

	fb_queue_work(fb, system_freezable_wq, &fb->stats_work);
}

/* The host's target, in 4 KiB pages. */
u32 fb_target_pages(struct fb_balloon *fb)
{
	u32 target;

	/* The balloon's config space is little-endian even on legacy devices. */
	virtio_cread_le(fb->vdev, struct virtio_balloon_config, num_pages,
			&target);
	return target;
}

/* Tell the host how many pages the balloon holds (pages.c decides when). */
void fb_config_write_actual(struct fb_balloon *fb, u32 actual)
{
	virtio_cwrite_le(fb->vdev, struct virtio_balloon_config, actual,
			 &actual);
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
		callbacks[FB_VQ_STATS] = fb_stats_ack;
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

/*
 * Buffers come from kmalloc, one by one: the ring takes their physical
 * addresses, so they must live in the linear map (never vmalloc).
 */
int fb_alloc_bufs(struct fb_balloon *fb)
{
	struct fb_buf *buf;
	unsigned int i;

	fb->free_bufs = NULL;
	for (i = 0; i < FB_NR_BUFS; i++) {
		buf = kzalloc(sizeof(*buf), GFP_KERNEL);
		if (!buf) {
			fb_free_bufs(fb);
			return -ENOMEM;
		}
		buf->next = fb->free_bufs;
		fb->free_bufs = buf;
	}
	return 0;
}

/*
 * Frees the free list: called after fb_reclaim_bufs(), or before the
 * queues ever held a buffer.
 */
void fb_free_bufs(struct fb_balloon *fb)
{
	struct fb_buf *buf;

	while ((buf = fb->free_bufs)) {
		fb->free_bufs = buf->next;
		kfree(buf);
	}
}

static void fb_put_buf(struct fb_balloon *fb, struct fb_buf *buf)
{
	struct fb_buf *pair = buf->pair;

	buf->pair = NULL;
	buf->next = fb->free_bufs;
	fb->free_bufs = buf;
	if (pair)
		fb_put_buf(fb, pair);
}

/*
 * After a device reset the device owns no buffer any more: take back the
 * ones a host that stopped answering (or a queue that broke) still held,
 * so that they are reused after a restore and freed on remove. Must run
 * between the reset and deleting the queues.
 */
void fb_reclaim_bufs(struct fb_balloon *fb)
{
	static const unsigned int qs[] = { FB_VQ_INFLATE, FB_VQ_DEFLATE };
	struct fb_buf *buf;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(qs); i++) {
		if (!fb->vqs[qs[i]])
			continue;
		while ((buf = virtqueue_detach_unused_buf(fb->vqs[qs[i]])))
			fb_put_buf(fb, buf);
	}
}

/*
 * The one wait for the host: sleep until @collect(@arg) takes back at least
 * one finished buffer. A host that returns nothing for FB_HOST_TIMEOUT, or a
 * queue that broke (surprise removal), marks the device dead: its buffers
 * stay with it, never reused, and no further request is sent.
 */
static int fb_wait_host(struct fb_balloon *fb, struct virtqueue *vq,
			bool (*collect)(void *arg), void *arg)
{
	long left;

	left = wait_event_timeout(fb->acked,
				  collect(arg) || virtqueue_is_broken(vq),
				  fb->host_timeout);
	if (left && !virtqueue_is_broken(vq))
		return 0;
	WRITE_ONCE(fb->dead, true);
	dev_err_ratelimited(&fb->vdev->dev,
			    "%s queue: host returned no buffer for %u ms or the queue broke; not sending it any more\n",
			    vq->name, jiffies_to_msecs(fb->host_timeout));
	return -EIO;
}

/*
 * A buffer the host has finished with, or NULL. With the debugfs fault
 * fail_host_silent set, the host's answers are left in the ring: to the
 * driver it looks exactly like a host that stopped answering.
 */
void *fb_get_buf(struct virtqueue *vq)
{
	struct fb_balloon *fb = vq->vdev->priv;
	unsigned int len;

	if (READ_ONCE(fb->fail_host_silent))
		return NULL;
	return virtqueue_get_buf(vq, &len);
}

/* Take back every buffer the host has finished with; true if any. */
static bool fb_tx_collect(void *arg)
{
	struct fb_tx *tx = arg;
	struct fb_buf *buf;
	bool got = false;

	while ((buf = fb_get_buf(tx->vq))) {
		fb_put_buf(tx->fb, buf);
		tx->inflight--;
		got = true;
	}
	return got;
}

/* Collect finished buffers, sleeping until at least one is back. */
static int fb_tx_reap(struct fb_tx *tx)
{
	if (fb_tx_collect(tx) || !tx->inflight)
		return 0;
	return fb_wait_host(tx->fb, tx->vq, fb_tx_collect, tx);
}

static void fb_tx_kick(struct fb_tx *tx)
{
	if (tx->unkicked) {
		virtqueue_kick(tx->vq);
		tx->unkicked = 0;
	}
}

/* Hand @buf (and its pair, chained behind it) to the device as one request. */
static void fb_tx_add(struct fb_tx *tx, struct fb_buf *buf)
{
	struct scatterlist sg[2];
	unsigned int n = 1;
	int err;

	sg_init_table(sg, buf->pair ? 2 : 1);
	sg_set_buf(&sg[0], buf->pfns, buf->nr * sizeof(buf->pfns[0]));
	if (buf->pair) {
		sg_set_buf(&sg[1], buf->pair->pfns,
			   buf->pair->nr * sizeof(buf->pfns[0]));
		n = 2;
	}
	for (;;) {
		/*
		 * The caller holds the balloon lock, perhaps on the OOM
		 * notifier's behalf: the indirect table must not wait on
		 * reclaim. Without one, the ring takes the entries directly.
		 */
		err = virtqueue_add_outbuf(tx->vq, sg, n, buf,
					   GFP_NOWAIT | __GFP_NOWARN);
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
	if (++tx->unkicked >= FB_KICK_BATCH && !tx->lazy)
		fb_tx_kick(tx);
}

static void fb_tx_submit(struct fb_tx *tx)
{
	struct fb_buf *buf = tx->cur;

	tx->cur = NULL;
	fb_tx_add(tx, buf);
}

/* An empty buffer from the pool, waiting for the host if it is dry. */
static struct fb_buf *fb_tx_get_buf(struct fb_tx *tx)
{
	struct fb_balloon *fb = tx->fb;
	struct fb_buf *buf;

	while (!fb->free_bufs) {
		fb_tx_kick(tx);
		tx->err = fb_tx_reap(tx);
		if (tx->err)
			return NULL;
	}
	buf = fb->free_bufs;
	fb->free_bufs = buf->next;
	buf->nr = 0;
	buf->pair = NULL;
	return buf;
}

void fb_tx_begin(struct fb_tx *tx, struct fb_balloon *fb, enum fb_vq q)
{
	lockdep_assert_held(&fb->lock);
	tx->fb = fb;
	tx->vq = fb->vqs[q];
	tx->cur = NULL;
	tx->inflight = 0;
	tx->unkicked = 0;
	tx->lazy = false;
	tx->err = fb->dead ? -EIO : 0;
}

/* Queue one 4 KiB frame number for the host. */
void fb_tx_pfn(struct fb_tx *tx, unsigned long pfn)
{
	if (tx->err)
		return;
	if (!tx->cur) {
		tx->cur = fb_tx_get_buf(tx);
		if (!tx->cur)
			return;
	}
	tx->cur->pfns[tx->cur->nr++] = cpu_to_virtio32(tx->fb->vdev, pfn);
	if (tx->cur->nr == FB_PFNS_PER_BUF)
		fb_tx_submit(tx);
}

static void fb_fill_pfns(struct fb_tx *tx, struct fb_buf *buf,
			 unsigned long pfn)
{
	unsigned int i;

	for (i = 0; i < FB_PFNS_PER_BUF; i++)
		buf->pfns[i] = cpu_to_virtio32(tx->fb->vdev, pfn + i);
	buf->nr = FB_PFNS_PER_BUF;
}

/*
 * Queue the 512 frames of the 2 MiB block at @pfn, in order and in requests
 * of their own. With @chain they travel as one request of two 256-PFN
 * descriptors: QEMU frees a hugetlbfs-backed host page only when all its
 * frames arrive in one request. Without, as two requests, for hosts that read
 * only the first descriptor of a request (Firecracker merges consecutive
 * frames across requests by itself).
 */
void fb_tx_block(struct fb_tx *tx, unsigned long pfn, bool chain)
{
	struct fb_buf *a, *b;

	BUILD_BUG_ON(FB_BLOCK_PAGES != 2 * FB_PFNS_PER_BUF);
	if (tx->err)
		return;
	if (tx->cur)
		fb_tx_submit(tx);
	a = fb_tx_get_buf(tx);
	if (!a)
		return;
	fb_fill_pfns(tx, a, pfn);
	if (!chain) {
		fb_tx_add(tx, a);
		a = fb_tx_get_buf(tx);
		if (!a)
			return;
		fb_fill_pfns(tx, a, pfn + FB_PFNS_PER_BUF);
		fb_tx_add(tx, a);
		return;
	}
	b = fb_tx_get_buf(tx);
	if (!b) {
		fb_put_buf(tx->fb, a);
		return;
	}
	fb_fill_pfns(tx, b, pfn + FB_PFNS_PER_BUF);
	a->pair = b;
	fb_tx_add(tx, a);
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

/*
 * One buffer to a queue the driver does not poll in bursts (stats, hints):
 * add it and kick. @in: the device writes it.
 */
int fb_post(struct fb_balloon *fb, enum fb_vq q, void *data, unsigned int len,
	    bool in, gfp_t gfp)
{
	struct virtqueue *vq = fb->vqs[q];
	struct scatterlist sg;
	int err;

	sg_init_one(&sg, data, len);
	if (in)
		err = virtqueue_add_inbuf(vq, &sg, 1, data, gfp);
	else
		err = virtqueue_add_outbuf(vq, &sg, 1, data, gfp);
	if (!err)
		virtqueue_kick(vq);
	return err;
}

/* The reporting queue: the range path, and free page reports. */

/*
 * Auto takes the range path only where it is sound and useful: the host
 * offered the reporting queue, did not ask to hear about every page
 * (MUST_TELL_HOST), and free pages are not poisoned with a non-zero pattern
 * (QEMU then keeps reported ranges instead of discarding them).
 */
bool fb_use_ranges(struct fb_balloon *fb)
{
	unsigned int path = READ_ONCE(fb->cfg.path);

	/* Unsound, whatever was asked for: the host wants every PFN. */
	if (!fb->vqs[FB_VQ_REPORT] || fb_must_tell(fb))
		return false;
	if (path != FB_PATH_AUTO)
		return path == FB_PATH_REPORT;
	if (fb_has(fb, VIRTIO_BALLOON_F_PAGE_POISON) && !want_init_on_free())
		return false;
	return true;
}

/* The range path: whole blocks as (address, length) entries. */

static bool fb_rtx_collect(void *arg)
{
	struct fb_rtx *rtx = arg;
	struct fb_rbuf *rb;
	bool got = false;

	while ((rb = fb_get_buf(rtx->fb->vqs[FB_VQ_REPORT]))) {
		rb->busy = false;
		rtx->inflight--;
		got = true;
	}
	return got;
}

static int fb_rtx_reap(struct fb_rtx *rtx)
{
	if (fb_rtx_collect(rtx) || !rtx->inflight)
		return 0;
	return fb_wait_host(rtx->fb, rtx->fb->vqs[FB_VQ_REPORT],
			    fb_rtx_collect, rtx);
}

void fb_rtx_begin(struct fb_rtx *rtx, struct fb_balloon *fb)
{
	lockdep_assert_held(&fb->report_lock);
	rtx->fb = fb;
	rtx->cur = NULL;
	rtx->inflight = 0;
	rtx->err = fb->dead ? -EIO : 0;
}

static void fb_rtx_submit(struct fb_rtx *rtx)
{
	struct virtqueue *vq = rtx->fb->vqs[FB_VQ_REPORT];
	struct fb_rbuf *rb = rtx->cur;
	int err;

	rtx->cur = NULL;
	sg_mark_end(&rb->sg[rb->nr - 1]);
	for (;;) {
		/*
		 * Device-writable, as the reporting protocol wants; no waiting
		 * for an indirect table, as in fb_tx_add(). The ring holds at
		 * least PAGE_REPORTING_CAPACITY entries (fb_report_init()), so
		 * a request always fits directly once the ring is empty.
		 */
		err = virtqueue_add_inbuf(vq, rb->sg, rb->nr, rb,
					  GFP_NOWAIT | __GFP_NOWARN);
		if (err != -ENOSPC)
			break;
		virtqueue_kick(vq);
		err = fb_rtx_reap(rtx);
		if (err)
			break;
	}
	if (err) {
		rtx->err = rtx->err ?: err;
		return;
	}
	rb->busy = true;
	rtx->inflight++;
	virtqueue_kick(vq);
}

void fb_rtx_block(struct fb_rtx *rtx, struct page *page)
{
	struct fb_balloon *fb = rtx->fb;
	unsigned int i;

	if (rtx->err)
		return;
	while (!rtx->cur) {
		for (i = 0; i < FB_NR_RBUFS; i++) {
			if (!fb->rbufs[i].busy) {
				rtx->cur = &fb->rbufs[i];
				rtx->cur->nr = 0;
				sg_init_table(rtx->cur->sg, FB_RANGES_PER_REQ);
				break;
			}
		}
		if (rtx->cur)
			break;
		rtx->err = fb_rtx_reap(rtx);
		if (rtx->err)
			return;
	}
	sg_set_page(&rtx->cur->sg[rtx->cur->nr++], page,
		    FB_BLOCK_PAGES << PAGE_SHIFT, 0);
	if (rtx->cur->nr == FB_RANGES_PER_REQ)
		fb_rtx_submit(rtx);
}

/* Send what is left and wait until the host has discarded every range. */
int fb_rtx_end(struct fb_rtx *rtx)
{
	if (rtx->cur && rtx->cur->nr && !rtx->err)
		fb_rtx_submit(rtx);
	rtx->cur = NULL;
	while (rtx->inflight && !rtx->err)
		rtx->err = fb_rtx_reap(rtx);
	return rtx->err;
}

/* The free page report in flight came back (there is only ever one). */
static bool fb_report_done(void *arg)
{
	return fb_get_buf(arg);
}

/*
 * Hand the page_reporting core's list of free ranges to the host in one
 * request and wait until it has discarded them. The range path shares the
 * queue: @report_lock makes this wait out a burst of it.
 */
int fb_report_sg(struct fb_balloon *fb, struct scatterlist *sgl,
		 unsigned int nents)
{
	struct virtqueue *vq = fb->vqs[FB_VQ_REPORT];
	int err;

	if (READ_ONCE(fb->dead))
		return -EIO;
	mutex_lock(&fb->report_lock);
	/* Indirect descriptors are off (validate), so this cannot allocate. */
	err = virtqueue_add_inbuf(vq, sgl, nents, fb, GFP_NOWAIT | __GFP_NOWARN);
	if (err) {
		mutex_unlock(&fb->report_lock);
		dev_warn_ratelimited(&fb->vdev->dev,
				     "could not queue %u free ranges: %d\n",
				     nents, err);
		return err;
	}
	virtqueue_kick(vq);
	err = fb_wait_host(fb, vq, fb_report_done, vq);
	mutex_unlock(&fb->report_lock);
	return err;
}
