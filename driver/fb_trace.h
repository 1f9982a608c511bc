/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fastballoon tracepoints (tracefs events/fastballoon/). Every event names
 * the device by its virtio index: dev=N is /sys/bus/virtio/devices/virtioN.
 * Page counts are 4 KiB pages, times microseconds.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM fastballoon

#if !defined(_FB_TRACE_H_) || defined(TRACE_HEADER_MULTI_READ)
#define _FB_TRACE_H_

#include <linux/tracepoint.h>

/*
 * One inflate or deflate pass: asked for @want pages, moved @blocks whole
 * blocks and @small single pages, in @us.
 */
DECLARE_EVENT_CLASS(fb_pass,
	TP_PROTO(int dev, unsigned long want, unsigned long blocks,
		 unsigned long small, unsigned long us),
	TP_ARGS(dev, want, blocks, small, us),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(unsigned long, want)
		__field(unsigned long, blocks)
		__field(unsigned long, small)
		__field(unsigned long, us)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->want = want;
		__entry->blocks = blocks;
		__entry->small = small;
		__entry->us = us;
	),
	TP_printk("dev=%d want=%lu blocks=%lu small=%lu us=%lu",
		  __entry->dev, __entry->want, __entry->blocks, __entry->small,
		  __entry->us)
);

DEFINE_EVENT(fb_pass, fb_inflate,
	TP_PROTO(int dev, unsigned long want, unsigned long blocks,
		 unsigned long small, unsigned long us),
	TP_ARGS(dev, want, blocks, small, us)
);

DEFINE_EVENT(fb_pass, fb_deflate,
	TP_PROTO(int dev, unsigned long want, unsigned long blocks,
		 unsigned long small, unsigned long us),
	TP_ARGS(dev, want, blocks, small, us)
);

/* One pageblock evacuation: @ret is 0 or alloc_contig_range()'s error. */
TRACE_EVENT(fb_defrag,
	TP_PROTO(int dev, unsigned long pfn, int ret, unsigned long us),
	TP_ARGS(dev, pfn, ret, us),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(unsigned long, pfn)
		__field(int, ret)
		__field(unsigned long, us)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->pfn = pfn;
		__entry->ret = ret;
		__entry->us = us;
	),
	TP_printk("dev=%d pfn=0x%lx ret=%d us=%lu", __entry->dev,
		  __entry->pfn, __entry->ret, __entry->us)
);

/* Memory given back on the guest's own account (enum fb_release_reason). */
TRACE_EVENT(fb_release,
	TP_PROTO(int dev, int reason, unsigned long want, unsigned long got),
	TP_ARGS(dev, reason, want, got),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(int, reason)
		__field(unsigned long, want)
		__field(unsigned long, got)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->reason = reason;
		__entry->want = want;
		__entry->got = got;
	),
	TP_printk("dev=%d reason=%s want=%lu got=%lu", __entry->dev,
		  __print_symbolic(__entry->reason, { 0, "oom" },
				   { 1, "shrinker" }, { 2, "floor" }),
		  __entry->want, __entry->got)
);

/* One healing pass: @trades blocks taken for as many 512-page sets. */
TRACE_EVENT(fb_heal,
	TP_PROTO(int dev, unsigned int trades, unsigned long small_left),
	TP_ARGS(dev, trades, small_left),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(unsigned int, trades)
		__field(unsigned long, small_left)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->trades = trades;
		__entry->small_left = small_left;
	),
	TP_printk("dev=%d trades=%u small_left=%lu", __entry->dev,
		  __entry->trades, __entry->small_left)
);

#endif /* _FB_TRACE_H_ */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE fb_trace
#include <trace/define_trace.h>
