/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels userptr-dmabuf supports (6.12 LTS, 7.x),
 * kept in one place so the rest of the module reads like upstream code.
 *
 * The UDB_HAVE_* switches come from Kbuild, which probes the target
 * kernel's headers (so distribution backports are detected too), rather
 * than from version numbers.
 */
#ifndef _USERPTR_DMABUF_COMPAT_H
#define _USERPTR_DMABUF_COMPAT_H

#include <linux/kcov.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>

/* 6.13 made the namespace argument a string literal. */
#ifdef UDB_HAVE_STRING_IMPORT_NS
#define UDB_IMPORT_NS_DMA_BUF()	MODULE_IMPORT_NS("DMA_BUF")
#else
#define UDB_IMPORT_NS_DMA_BUF()	MODULE_IMPORT_NS(DMA_BUF)
#endif

/*
 * Whether importers can be dynamic: 6.12 needs CONFIG_DMABUF_MOVE_NOTIFY
 * (Debian's stock kernel does not set it); 7.x renamed move_notify to
 * invalidate_mappings and made it unconditional.
 */
#if defined(UDB_HAVE_INVALIDATE_MAPPINGS) || IS_ENABLED(CONFIG_DMABUF_MOVE_NOTIFY)
#define UDB_HAVE_DYNAMIC_IMPORTERS	1
#else
#define UDB_HAVE_DYNAMIC_IMPORTERS	0
#endif

/* 7.x renamed zap_vma_ptes() (PFN/mixed maps only) to zap_special_vma_range(). */
#ifdef UDB_HAVE_ZAP_SPECIAL_VMA_RANGE
#define udb_zap_pfn_range(vma, addr, size)	zap_special_vma_range(vma, addr, size)
#else
#define udb_zap_pfn_range(vma, addr, size)	zap_vma_ptes(vma, addr, size)
#endif

/*
 * UDB_HAVE_FENCE_OPS_DETACH: 7.x drops a signalled fence's ops pointer
 * (fence->ops is __rcu) when the fence has no release or wait op, so a
 * signalled fence no longer refers to the module that made it. On 6.12 the
 * ops stay referenced until the last put, so a module whose fences may
 * outlive it in another driver's dma_resv must hold itself per fence.
 */

/*
 * UDB_HAVE_FENCE_INLINE_LOCK: 7.x fences can carry their lock inline
 * (dma_fence_init() with a NULL lock). A fence that outlives the module
 * must: a spinlock of the module's own has a lockdep class in the module.
 */

/*
 * UDB_HAVE_FOLIO_ADD_PINS: 7.x exports folio_add_pins(), which adds pins to
 * an already pinned folio without GUP: a device mapping of a pinned page
 * takes a pin of its own (udb_page_hold()). 6.12 has no such export.
 */

/*
 * UDB_HAVE_ATTACH_SGT: 6.12 maps a static attachment of a dynamic exporter
 * once, at attach time and DMA_BIDIRECTIONAL, and hands that cached table
 * (attach->sgt) to every dma_buf_map_attachment(), whatever direction was
 * asked for. DMA-API syncs must name the direction the table was mapped
 * with. 7.x maps every attachment at dma_buf_map_attachment() time.
 */
#include <linux/dma-buf.h>

static inline enum dma_data_direction
udb_mapped_dir(const struct dma_buf_attachment *attach,
	       const struct sg_table *sgt, enum dma_data_direction dir)
{
#ifdef UDB_HAVE_ATTACH_SGT
	if (attach->sgt == sgt)
		return attach->dir;
#endif
	return dir;
}

/*
 * KCOV remote coverage of work done for a task in our own threads (the
 * refresh worker, the importer's device thread): the task's common handle
 * is taken when it queues the work, as a u64. UDB_HAVE_KCOV_HANDLE_ID: 7.x
 * wraps the handle in struct kcov_common_handle_id. Without CONFIG_KCOV
 * all of these are no-ops.
 */
static inline u64 udb_kcov_handle(void)
{
#if !IS_ENABLED(CONFIG_KCOV)
	return 0;
#elif defined(UDB_HAVE_KCOV_HANDLE_ID)
	return kcov_common_handle().val;
#else
	return kcov_common_handle();
#endif
}

/*
 * Record the current task's handle in @slot, if it has one and is not
 * reclaim working for some other mm (kswapd, direct reclaim): the last
 * task that asked for the work with a handle keeps it; nothing clears it
 * (a stale handle is only a miss in kcov_remote_start()).
 */
static inline void udb_kcov_note(u64 *slot)
{
	u64 h = udb_kcov_handle();

	if (h && !(current->flags & (PF_MEMALLOC | PF_KSWAPD)))
		WRITE_ONCE(*slot, h);
}

/*
 * Start a remote section for @h unless it is 0; returns whether
 * udb_kcov_remote_stop() has a section to end. The start may allocate
 * (vmalloc). @noreclaim: the caller must signal a published fence, and
 * reclaim could reach our own notifier, which waits for fences: reclaim
 * is off around the start then.
 */
static inline bool udb_kcov_remote_start(u64 h, bool noreclaim)
{
#if IS_ENABLED(CONFIG_KCOV)
	if (h) {
		unsigned int flags = noreclaim ? memalloc_noreclaim_save() : 0;

#ifdef UDB_HAVE_KCOV_HANDLE_ID
		kcov_remote_start_common((struct kcov_common_handle_id){ .val = h });
#else
		kcov_remote_start_common(h);
#endif
		if (noreclaim)
			memalloc_noreclaim_restore(flags);
		return true;
	}
#endif
	return false;
}

static inline void udb_kcov_remote_stop(bool started)
{
	if (started)
		kcov_remote_stop();
}

#endif /* _USERPTR_DMABUF_COMPAT_H */
