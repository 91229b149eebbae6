// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: the KERNEL-usage fence a refresh adds to the dma_resv.
 *
 * Dynamic importers wait for DMA_RESV_USAGE_KERNEL fences before they use a
 * new mapping (and static importers' maps wait for them in the core). A
 * refresh publishes the new snapshot, notifies importers and adds one of
 * these fences in a single dma_resv critical section, and signals it right
 * after unlocking: it depends on no lock, so waiting for it with the
 * dma_resv lock held is safe.
 *
 * Lifetime: a fence may outlive its buffer (a sync_file, another driver's
 * dma_resv) and, where the core drops a signalled fence's ops (7.x), this
 * module: it then uses the core's inline lock, whose lockdep class is not
 * ours. Where the core keeps using the ops and the lock until the last
 * put (6.12), each fence carries its own spinlock and holds the module.
 *
 * Locking: the fence's spinlock is taken by the dma_fence core only.
 */
#include <linux/dma-fence.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "compat.h"
#include "udb_internal.h"

/**
 * struct udb_fence - a refresh fence
 * @base: the fence; first, so the core's kfree_rcu() frees the whole
 * @lock: its spinlock, where the core has no inline one
 */
struct udb_fence {
	struct dma_fence base;
#ifndef UDB_HAVE_FENCE_INLINE_LOCK
	spinlock_t lock;	/* taken by the dma_fence core only */
#endif
};

static const char *udb_fence_driver_name(struct dma_fence *fence)
{
	return "userptr_dmabuf";
}

static const char *udb_fence_timeline_name(struct dma_fence *fence)
{
	return "refresh";
}

#ifndef UDB_HAVE_FENCE_OPS_DETACH
/*
 * A sync_file exported from the dma-buf (DMA_BUF_IOCTL_EXPORT_SYNC_FILE),
 * or another driver's dma_resv, may keep our fence after every buffer is
 * gone, and 6.12 calls its ops until the last put: each fence holds the
 * module (see compat.h).
 */
static void udb_fence_release(struct dma_fence *fence)
{
	dma_fence_free(fence);
	module_put(THIS_MODULE);
}
#endif

static const struct dma_fence_ops udb_fence_ops = {
	.get_driver_name = udb_fence_driver_name,
	.get_timeline_name = udb_fence_timeline_name,
#ifndef UDB_HAVE_FENCE_OPS_DETACH
	.release = udb_fence_release,
#endif
};

/**
 * udb_fence_alloc() - allocate the next refresh fence of a buffer
 * @buf: the buffer; the caller holds refresh_lock, which orders seqnos
 *
 * Context: process context, may sleep; call before taking dma_resv.
 * Return: a new unsignalled fence, or NULL without memory.
 */
struct dma_fence *udb_fence_alloc(struct udb_buffer *buf)
{
	struct udb_fence *fence;

	lockdep_assert_held(&buf->refresh_lock);
	fence = kzalloc(sizeof(*fence), GFP_KERNEL);
	if (!fence)
		return NULL;
#ifndef UDB_HAVE_FENCE_OPS_DETACH
	__module_get(THIS_MODULE);	/* put by udb_fence_release() */
#endif
#ifdef UDB_HAVE_FENCE_INLINE_LOCK
	/*
	 * The fence's inline lock: its lockdep class is the core's, so a
	 * fence that outlives this module refers to nothing of it.
	 */
	dma_fence_init(&fence->base, &udb_fence_ops, NULL,
		       buf->fence_context, ++buf->fence_seqno);
#else
	spin_lock_init(&fence->lock);
	dma_fence_init(&fence->base, &udb_fence_ops, &fence->lock,
		       buf->fence_context, ++buf->fence_seqno);
#endif
	return &fence->base;
}
