/* SPDX-License-Identifier: GPL-2.0 */
/*
 * userptr-dmabuf tracepoints: /sys/kernel/tracing/events/userptr_dmabuf/.
 *
 * Every event names the buffer by its dma-buf inode number (as in
 * /sys/kernel/debug/dma_buf/bufinfo and /proc/PID/fdinfo), so a trace of
 * one buffer can be followed through invalidate -> refresh -> map.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM userptr_dmabuf

#if !defined(_USERPTR_DMABUF_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _USERPTR_DMABUF_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(udb_create,
	    TP_PROTO(unsigned long ino, pid_t pid, unsigned long addr,
		     unsigned long npages, unsigned int nranges, u32 flags),
	    TP_ARGS(ino, pid, addr, npages, nranges, flags),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(pid_t, pid)
			     __field(unsigned long, addr)
			     __field(unsigned long, npages)
			     __field(unsigned int, nranges)
			     __field(u32, flags)),
	    TP_fast_assign(__entry->ino = ino;
			   __entry->pid = pid;
			   __entry->addr = addr;
			   __entry->npages = npages;
			   __entry->nranges = nranges;
			   __entry->flags = flags;),
	    TP_printk("buf=%lu pid=%d addr=0x%lx npages=%lu nranges=%u flags=0x%x",
		      __entry->ino, __entry->pid, __entry->addr,
		      __entry->npages, __entry->nranges, __entry->flags)
);

TRACE_EVENT(udb_invalidate,
	    TP_PROTO(unsigned long ino, unsigned long lo, unsigned long hi,
		     int event, bool blockable),
	    TP_ARGS(ino, lo, hi, event, blockable),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long, lo)
			     __field(unsigned long, hi)
			     __field(int, event)
			     __field(bool, blockable)),
	    TP_fast_assign(__entry->ino = ino;
			   __entry->lo = lo;
			   __entry->hi = hi;
			   __entry->event = event;
			   __entry->blockable = blockable;),
	    TP_printk("buf=%lu pages=[%lu,%lu) event=%d blockable=%d",
		      __entry->ino, __entry->lo, __entry->hi, __entry->event,
		      __entry->blockable)
);

TRACE_EVENT(udb_refresh,
	    TP_PROTO(unsigned long ino, unsigned long lo, unsigned long hi,
		     u64 generation, int ret, u64 window_ns),
	    TP_ARGS(ino, lo, hi, generation, ret, window_ns),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long, lo)
			     __field(unsigned long, hi)
			     __field(u64, generation)
			     __field(int, ret)
			     __field(u64, window_ns)),
	    TP_fast_assign(__entry->ino = ino;
			   __entry->lo = lo;
			   __entry->hi = hi;
			   __entry->generation = generation;
			   __entry->ret = ret;
			   __entry->window_ns = window_ns;),
	    TP_printk("buf=%lu pages=[%lu,%lu) generation=%llu ret=%d window_ns=%llu",
		      __entry->ino, __entry->lo, __entry->hi,
		      __entry->generation, __entry->ret, __entry->window_ns)
);

TRACE_EVENT(udb_map,
	    TP_PROTO(unsigned long ino, const char *dev, unsigned long npages,
		     u64 generation, bool pinned, int dir, int ret),
	    TP_ARGS(ino, dev, npages, generation, pinned, dir, ret),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __string(dev, dev)
			     __field(unsigned long, npages)
			     __field(u64, generation)
			     __field(bool, pinned)
			     __field(int, dir)
			     __field(int, ret)),
	    TP_fast_assign(__entry->ino = ino;
			   __assign_str(dev);
			   __entry->npages = npages;
			   __entry->generation = generation;
			   __entry->pinned = pinned;
			   __entry->dir = dir;
			   __entry->ret = ret;),
	    TP_printk("buf=%lu dev=%s npages=%lu generation=%llu pinned=%d dir=%d ret=%d",
		      __entry->ino, __get_str(dev), __entry->npages,
		      __entry->generation, __entry->pinned, __entry->dir,
		      __entry->ret)
);

TRACE_EVENT(udb_unmap,
	    TP_PROTO(unsigned long ino, const char *dev, u64 generation),
	    TP_ARGS(ino, dev, generation),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __string(dev, dev)
			     __field(u64, generation)),
	    TP_fast_assign(__entry->ino = ino;
			   __assign_str(dev);
			   __entry->generation = generation;),
	    TP_printk("buf=%lu dev=%s generation=%llu", __entry->ino,
		      __get_str(dev), __entry->generation)
);

TRACE_EVENT(udb_pin,
	    TP_PROTO(unsigned long ino, unsigned long npages, bool pin,
		     int ret),
	    TP_ARGS(ino, npages, pin, ret),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long, npages)
			     __field(bool, pin)
			     __field(int, ret)),
	    TP_fast_assign(__entry->ino = ino;
			   __entry->npages = npages;
			   __entry->pin = pin;
			   __entry->ret = ret;),
	    TP_printk("buf=%lu npages=%lu %s ret=%d", __entry->ino,
		      __entry->npages, __entry->pin ? "pin" : "unpin",
		      __entry->ret)
);

#endif /* _USERPTR_DMABUF_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE udb_trace
#include <trace/define_trace.h>
