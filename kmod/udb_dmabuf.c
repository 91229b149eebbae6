// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: the dma_buf_ops of the exporter.
 *
 * Dynamic importers (move_notify / invalidate_mappings) are served the
 * last published snapshot, which is pinned while they are attached
 * (udb_buffer.c); every mapping's pages stay held until it is unmapped: a
 * per-call mapping holds them (udb_page_hold()), a kept one borrows the
 * snapshot's pins and holds a page itself before the snapshot lets it go
 * (udb_devmap.c), so DMA never reaches a freed page even in the window
 * between a CPU change and the notification. A map while a refresh is pending
 * serves the snapshot the importers were last told about: the refresh
 * notifies them again when it publishes, and they re-map then. The map
 * never fails for a pending refresh and never waits for one.
 *
 * Attachments that may pin are served the pinned set (udb_pin.c), created
 * in ->attach because ->pin runs under the dma_resv lock. A dynamic
 * attachment that calls dma_buf_pin() holds the snapshot as it is at that
 * moment (struct udb_held) until it unpins, and is not notified meanwhile.
 *
 * Locking (per the dma-buf convention): attach, detach, release,
 * begin/end_cpu_access and mmap are called without the dma_resv lock;
 * pin, unpin, map_dma_buf, unmap_dma_buf, vmap and vunmap with it.
 * buf->mappings and the attachments' pin counts are protected by the
 * dma_resv lock; the snapshot by buf->lock (see udb_buffer.c), which
 * map_dma_buf takes only to copy page pointers.
 */
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "udb_internal.h"
#include "udb_trace.h"

/**
 * struct udb_mapping - one map_dma_buf() result
 * @sgt: what the importer gets
 * @node: in buf->mappings
 * @dev: the importer's device, for cache maintenance
 * @dir: the direction it was mapped with
 * @generation: snapshot generation it was built from (0 when pinned)
 * @npages: number of @pages
 * @refs: @pages hold plain references (an unpinned snapshot), not
 *	udb_page_hold()
 * @pages: the pages, held until unmap
 */
struct udb_mapping {
	struct sg_table sgt;
	struct list_head node;
	struct device *dev;
	enum dma_data_direction dir;
	u64 generation;
	unsigned long npages;
	bool refs;
	struct page **pages;
};

/* Longest a dynamic attach waits for a pending refresh. */
#define UDB_ATTACH_WAIT_MS	2000

static bool udb_attach_may_pin(struct dma_buf_attachment *attach)
{
	if (!UDB_HAVE_DYNAMIC_IMPORTERS || !attach->importer_ops)
		return true;
#ifdef UDB_HAVE_INVALIDATE_MAPPINGS
	return !attach->importer_ops->invalidate_mappings;
#else
	return !attach->importer_ops->move_notify;
#endif
}

/* The failed refresh's errno while the buffer is FAULT or DEAD, else 0. */
static int udb_state_error(struct udb_buffer *buf)
{
	int ret = 0;

	mutex_lock(&buf->lock);
	ret = udb_state_errno(buf);
	mutex_unlock(&buf->lock);
	return ret;
}

/* Release the first @n pages of @held and free it. */
static void udb_held_free(struct udb_held *held, unsigned long n)
{
	while (n--)
		udb_page_release(held->pages[n]);
	kvfree(held);
}

/*
 * Hold the pinned snapshot's pages for a dynamic attachment that pins:
 * its maps serve them until it unpins. Under the dma_resv lock, where the
 * owner's mm may not be faulted: the snapshot is pinned already.
 */
static int udb_hold_snapshot(struct udb_buffer *buf, struct udb_attachment *ua)
{
	struct udb_held *held;
	unsigned long n;
	int ret;

	held = kvzalloc(struct_size(held, pages, buf->npages),
			GFP_KERNEL_ACCOUNT);
	if (!held)
		return -ENOMEM;
	held->npages = buf->npages;
	ret = udb_pins_charge(buf, held->npages);
	if (ret) {
		kvfree(held);
		return ret;
	}
	mutex_lock(&buf->lock);
	ret = udb_state_errno(buf);
	if (!ret && !udb_snapshot_pinned(buf))	/* FOLL_LONGTERM pins only */
		ret = -EOPNOTSUPP;
	ua->held_seq = buf->notify_seq;	/* under the dma_resv lock */
	for (n = 0; !ret && n < held->npages; n++) {
		ret = buf->pages[n] ? udb_page_hold(buf->pages[n]) : -ENODEV;
		if (ret)
			break;
		held->pages[n] = buf->pages[n];
	}
	mutex_unlock(&buf->lock);
	if (ret) {
		udb_pins_uncharge(buf, held->npages);
		udb_held_free(held, n);
		return ret;
	}
	ua->held = held;
	return 0;
}

/**
 * udb_attach() - dma_buf_ops.attach
 * @dmabuf: our buffer
 * @attach: the new attachment
 *
 * Either way a pending refresh runs first (the refresh worker faults the
 * owner's pages, never the importer), waited for at most
 * UDB_ATTACH_WAIT_MS: the owner's faults and changes must not hold up an
 * importer. Attachments that may pin then pin what it faulted, while
 * mmap_lock may still be taken; dynamic ones wait until the snapshot is
 * pinned for them (udb_buffer_dyn_attach()).
 *
 * Return: 0, -EINTR, -ENOMEM (over the owner's RLIMIT_MEMLOCK), the failed
 * refresh's errno for attachments that may pin (-ENODEV: the owner is
 * gone), the errno of udb_pinset_get() (-EAGAIN: the refresh had not
 * faulted every page within the wait), or -ETIMEDOUT for a dynamic one
 * whose snapshot was not pinned within the wait.
 */
static int udb_attach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct udb_buffer *buf = dmabuf->priv;
	struct udb_attachment *ua;

	ua = kzalloc(sizeof(*ua), GFP_KERNEL);
	if (!ua)
		return -ENOMEM;
	if (udb_attach_may_pin(attach)) {
		/* the refresh worker faults; pinning only takes what it found */
		struct udb_pinset *ps;
		int ret = udb_buffer_settle(buf, UDB_ATTACH_WAIT_MS) ?:
			  udb_state_error(buf);

		ps = ret ? ERR_PTR(ret) : udb_pinset_get(buf);
		if (IS_ERR(ps)) {
			kfree(ua);
			return PTR_ERR(ps);
		}
		ua->pinset = ps;
	} else {
		/* A failed refresh shows up at map time. */
		int ret = udb_buffer_dyn_attach(buf, UDB_ATTACH_WAIT_MS);

		if (ret) {
			kfree(ua);
			return ret;
		}
	}
	attach->priv = ua;
	return 0;
}

/**
 * udb_detach() - dma_buf_ops.detach
 * @dmabuf: our buffer
 * @attach: the attachment going away; the core unmapped and unpinned it
 */
static void udb_detach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct udb_attachment *ua = attach->priv;
	struct udb_buffer *buf = dmabuf->priv;

	/* off the core's list already: only buf->devmaps still finds it */
	udb_debug_delay(UDB_DELAY_DETACH);
	/* before the dynamic count drops: the snapshot's pins outlive it */
	udb_devmap_release(buf, ua, true);
	if (ua->pinset)
		udb_pinset_put(ua->pinset);
	else
		udb_buffer_dyn_detach(buf);
	if (WARN_ON_ONCE(ua->held)) {	/* the core unpins first */
		udb_pins_uncharge(buf, ua->held->npages);
		udb_held_free(ua->held, ua->held->npages);
	}
	kfree(ua);
}

/**
 * udb_pin() - dma_buf_ops.pin
 * @attach: the attachment
 *
 * An attachment that may pin had its pages pinned at attach. A dynamic
 * one (amdgpu scanout, RDMA pinned MRs attach dynamically, then pin) holds
 * the snapshot as it is now, which its maps serve until the last unpin:
 * later CPU changes do not reach it (they count in pinned_invalidations)
 * and it gets no invalidation meanwhile, as the dma-buf rules want for a
 * pinned attachment.
 *
 * Return: 0, -ENOMEM (over the owner's RLIMIT_MEMLOCK: the held pages are
 * charged like every pin), the failed refresh's errno while the buffer is
 * FAULT, -ENODEV once the owner is gone, or -EOPNOTSUPP for a buffer over
 * memory that may not be pinned long-term (a writable shared file mapping
 * that writes back).
 */
static int udb_pin(struct dma_buf_attachment *attach)
{
	struct udb_attachment *ua = attach->priv;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (!ua->pinset && !ua->pin_count) {
		ret = udb_hold_snapshot(attach->dmabuf->priv, ua);
		if (ret)
			return ret;
		ua->resync = false;	/* it maps what it holds now */
		udb_devmap_release(attach->dmabuf->priv, ua, false);
	}
	ua->pin_count++;
	return 0;
}

/**
 * udb_unpin() - dma_buf_ops.unpin
 * @attach: the attachment
 *
 * The last unpin of a dynamic attachment releases what udb_pin() held;
 * mappings made meanwhile hold their own pages. The importer re-maps to
 * follow the snapshot again.
 */
static void udb_unpin(struct dma_buf_attachment *attach)
{
	struct udb_attachment *ua = attach->priv;
	struct udb_buffer *buf = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (WARN_ON_ONCE(!ua->pin_count) || --ua->pin_count || !ua->held)
		return;
	udb_pins_uncharge(buf, ua->held->npages);
	udb_held_free(ua->held, ua->held->npages);
	ua->held = NULL;
	/* it was not told of what happened meanwhile: the worker tells it */
	if (ua->held_seq != buf->notify_seq) {
		ua->resync = true;
		WRITE_ONCE(buf->resync, true);
		udb_queue_refresh(buf);
	}
}

static void udb_mapping_free(struct udb_mapping *m)
{
	unsigned long i;

	for (i = 0; i < m->npages; i++) {
		if (m->refs)
			put_page(m->pages[i]);
		else
			udb_page_release(m->pages[i]);
	}
	kvfree(m->pages);
	kfree(m);
}

/* Hold @npages pages of @src for a mapping; the caller keeps them pinned. */
static int udb_mapping_hold(struct udb_mapping *m, struct page **src,
			    unsigned long npages)
{
	int ret;

	for (m->npages = 0; m->npages < npages; m->npages++) {
		ret = src[m->npages] ? udb_page_hold(src[m->npages]) : -ENODEV;
		if (ret)
			return ret;
		m->pages[m->npages] = src[m->npages];
	}
	return 0;
}

/*
 * Reference the snapshot's pages for mapping @m: a snapshot kept with
 * references (memory that may not be pinned long-term), or, should a map
 * come before the snapshot is kept, a valid one (-EAGAIN while a refresh
 * is pending: its pages are not held). Under buf->lock.
 */
static int udb_ref_snapshot(struct udb_buffer *buf, struct udb_mapping *m)
{
	if (!buf->kept && buf->state != USERPTR_DMABUF_STATE_VALID)
		return -EAGAIN;
	m->refs = true;
	for (m->npages = 0; m->npages < buf->npages; m->npages++) {
		m->pages[m->npages] = buf->pages[m->npages];
		get_page(m->pages[m->npages]);
	}
	return 0;
}

/*
 * Hold the last published snapshot's pages for mapping @m. The snapshot
 * is pinned while a dynamic attachment exists, and a refresh keeps it whole
 * until it publishes the next one: a pending refresh (STALE) is no error.
 */
static int udb_take_snapshot(struct udb_buffer *buf, struct udb_mapping *m)
{
	u32 state;
	int ret;

	mutex_lock(&buf->lock);
	state = buf->state;
	ret = udb_state_errno(buf);
	if (!ret && !udb_snapshot_pinned(buf))
		ret = udb_ref_snapshot(buf, m);
	else if (!ret)
		ret = udb_mapping_hold(m, buf->pages, buf->npages);
	m->generation = buf->generation;
	mutex_unlock(&buf->lock);

	udb_map_catch_up(buf, state);
	return ret;
}

/**
 * udb_map_dma_buf() - dma_buf_ops.map_dma_buf
 * @attach: the attachment
 * @dir: requested direction; read-only buffers accept DMA_TO_DEVICE only
 *	(their pages may be shared read-only, e.g. the zero page)
 *
 * Never takes mmap_lock, never faults and never waits for a refresh:
 * serves the pinned set, what a pinned dynamic attachment holds, or the
 * last published snapshot.
 *
 * Return: the mapping, or ERR_PTR(-ENODEV) once the owner's mm is gone,
 * the last refresh's errno while the buffer is FAULT (-EFAULT: the range
 * is not mapped), ERR_PTR(-EPERM) for a device write to a read-only
 * buffer, or -ENOMEM.
 */
static struct sg_table *udb_map_dma_buf(struct dma_buf_attachment *attach,
					enum dma_data_direction dir)
{
	struct udb_buffer *buf = attach->dmabuf->priv;
	struct udb_attachment *ua = attach->priv;
	struct udb_mapping *m;
	int ret;

	dma_resv_assert_held(attach->dmabuf->resv);
	if ((buf->flags & USERPTR_DMABUF_CREATE_READONLY) &&
	    dir != DMA_TO_DEVICE)
		return ERR_PTR(-EPERM);
	if (!ua->pinset && !ua->held) {
		struct sg_table *sgt = udb_devmap_map(buf, ua, attach->dev, dir);

		if (sgt)
			return sgt;
	}

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->pages = kvmalloc_array(buf->npages, sizeof(*m->pages),
				  GFP_KERNEL_ACCOUNT);
	if (!m->pages) {
		kfree(m);
		return ERR_PTR(-ENOMEM);
	}

	if (ua->pinset)
		ret = udb_mapping_hold(m, ua->pinset->pages, buf->npages);
	else if (ua->held)
		ret = udb_mapping_hold(m, ua->held->pages, buf->npages);
	else
		ret = udb_take_snapshot(buf, m);
	if (ret)
		goto err_free;

	/* Segments no longer than the importer's device takes. */
	ret = sg_alloc_table_from_pages_segment(&m->sgt, m->pages, m->npages,
						0, buf->size,
						udb_max_segment(attach->dev),
						GFP_KERNEL_ACCOUNT);
	if (ret)
		goto err_free;
	/*
	 * Every attachment maps the same pages, which DMA-API debug reports
	 * as overlapping mappings unless the map skips the CPU sync: sync
	 * explicitly instead, as drm_gem_map_dma_buf() does.
	 */
	ret = dma_map_sgtable(attach->dev, &m->sgt, dir, UDB_DMA_MAP_ATTRS);
	if (ret)
		goto err_sgt;
	dma_sync_sgtable_for_device(attach->dev, &m->sgt, dir);

	m->dev = attach->dev;
	m->dir = dir;
	list_add(&m->node, &buf->mappings);
	WRITE_ONCE(buf->dma_map_pages, buf->dma_map_pages + m->npages);
	WRITE_ONCE(buf->map_hold_pages, buf->map_hold_pages + m->npages);
	trace_udb_map(buf->ino, dev_name(attach->dev), m->npages,
		      m->generation, !!ua->pinset, dir, 0);
	return &m->sgt;

err_sgt:
	sg_free_table(&m->sgt);
err_free:
	trace_udb_map(buf->ino, dev_name(attach->dev), 0, 0, !!ua->pinset,
		      dir, ret);
	udb_mapping_free(m);
	return ERR_PTR(ret);
}

/**
 * udb_unmap_dma_buf() - dma_buf_ops.unmap_dma_buf
 * @attach: the attachment
 * @sgt: a table returned by udb_map_dma_buf() for it
 * @dir: the direction the importer mapped with
 *
 * Marks the pages dirty if the device could write them, so writeback of
 * file-backed memory sees device writes, then drops the references.
 */
static void udb_unmap_dma_buf(struct dma_buf_attachment *attach,
			      struct sg_table *sgt, enum dma_data_direction dir)
{
	struct udb_buffer *buf = attach->dmabuf->priv;
	struct udb_mapping *m;
	unsigned long i;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (udb_devmap_unmap(buf, attach->priv, sgt))
		return;
	m = container_of(sgt, struct udb_mapping, sgt);
	trace_udb_unmap(buf->ino, dev_name(attach->dev), m->generation);
	list_del(&m->node);
	dma_sync_sgtable_for_cpu(attach->dev, sgt, m->dir);
	dma_unmap_sgtable(attach->dev, sgt, m->dir, UDB_DMA_MAP_ATTRS);
	if (m->dir != DMA_TO_DEVICE) {
		for (i = 0; i < m->npages; i++)
			udb_dirty_page(m->pages[i]);
	}
	sg_free_table(sgt);
	udb_mapping_free(m);
}

/**
 * udb_release() - dma_buf_ops.release: the last file reference is gone
 * @dmabuf: our buffer
 */
static void udb_release(struct dma_buf *dmabuf)
{
	udb_buffer_destroy(dmabuf->priv);
}

/* Longest a CPU access bracket waits for a pending refresh. */
#define UDB_SYNC_WAIT_MS	2000

static int udb_sync_mappings(struct dma_buf *dmabuf, bool for_cpu)
{
	struct udb_buffer *buf = dmabuf->priv;
	struct udb_mapping *m;
	u32 state = READ_ONCE(buf->state);
	int ret;

	/*
	 * A CPU access bracket is where a process that changed its memory
	 * says so: catch up now. Nothing else retries a FAULT buffer whose
	 * range was mapped again until a device maps it, and readers of CPU
	 * mappings would see zero pages meanwhile. The refresh worker
	 * faults, never the caller: any fd holder may call this, and the
	 * owner's faults (a FUSE server that never answers) must not hang
	 * it. It waits, killably and for UDB_SYNC_WAIT_MS at most.
	 */
	if (state == USERPTR_DMABUF_STATE_STALE ||
	    state == USERPTR_DMABUF_STATE_FAULT) {
		if (udb_buffer_settle(buf, UDB_SYNC_WAIT_MS))
			return -EINTR;
		ret = udb_state_error(buf);
		if (ret)
			return ret;
	}

	ret = dma_resv_lock_interruptible(dmabuf->resv, NULL);
	if (ret)
		return ret;
	list_for_each_entry(m, &buf->mappings, node)
		udb_sync_handed_out(m->dev, &m->sgt, m->dir, for_cpu);
	udb_devmap_sync(buf, for_cpu);
	dma_resv_unlock(dmabuf->resv);
	return 0;
}

/**
 * udb_begin_cpu_access() - dma_buf_ops.begin_cpu_access
 * @dmabuf: our buffer
 * @dir: CPU access direction
 *
 * The core has already waited for the fences. A buffer that is not
 * VALID has its refresh run first (by the refresh worker; this waits for
 * it at most UDB_SYNC_WAIT_MS), so a process that remapped its range (the
 * buffer went FAULT) and brackets its drawing with DMA_BUF_IOCTL_SYNC has
 * every mapping of the dma-buf follow at once. Then this makes device
 * writes visible to the CPU on non-coherent devices.
 *
 * Return: 0 (also when the refresh is still running after the wait),
 * -EINTR, or the failed refresh's errno (-EFAULT: the range is still not
 * mapped; -ENODEV: the owner is gone).
 */
static int udb_begin_cpu_access(struct dma_buf *dmabuf,
				enum dma_data_direction dir)
{
	return udb_sync_mappings(dmabuf, true);
}

/**
 * udb_end_cpu_access() - dma_buf_ops.end_cpu_access
 * @dmabuf: our buffer
 * @dir: CPU access direction
 *
 * Lets the refresh of a buffer that is not VALID run, as
 * begin_cpu_access does.
 *
 * Return: as udb_begin_cpu_access().
 */
static int udb_end_cpu_access(struct dma_buf *dmabuf,
			      enum dma_data_direction dir)
{
	return udb_sync_mappings(dmabuf, false);
}

/* The zero page may stand in for missing pages: it is never referenced. */
static void udb_vmap_get_page(struct page *p)
{
	if (p != ZERO_PAGE(0))
		get_page(p);
}

/*
 * The snapshot for a vmap, referenced, with a stand-in for pages that are
 * being refreshed or are gone. A read-only buffer's stand-in is the zero
 * page (its mapping is PAGE_KERNEL_RO). A writable buffer's is one zeroed
 * scratch page of this vmap's own, shared by all its missing pages:
 * writes to them are discarded, and must never reach the zero page,
 * which every process reads as its zeros. Under dma_resv.
 */
static int udb_vmap_snapshot(struct udb_buffer *buf, struct page **pages)
{
	struct page *stand_in = ZERO_PAGE(0);
	unsigned long i;
	struct page *p;
	bool stale;

	if (!(buf->flags & USERPTR_DMABUF_CREATE_READONLY)) {
		stand_in = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!stand_in)
			return -ENOMEM;
	}
	mutex_lock(&buf->lock);
	for (i = 0; i < buf->npages; i++) {
		p = udb_snapshot_page(buf, i);
		if (!p)
			p = stand_in;
		udb_vmap_get_page(p);
		pages[i] = p;
	}
	stale = buf->state == USERPTR_DMABUF_STATE_STALE;
	mutex_unlock(&buf->lock);
	/* nothing may have asked for the refresh yet: the next vmap follows */
	if (stale)
		udb_queue_refresh(buf);
	/* the pages that use it hold their own references */
	if (stand_in != ZERO_PAGE(0))
		put_page(stand_in);
	return 0;
}

static void udb_vmap_put_pages(struct page **pages, unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++)
		if (pages[i] != ZERO_PAGE(0))
			put_page(pages[i]);
	kvfree(pages);
}

/**
 * udb_vmap() - dma_buf_ops.vmap
 * @dmabuf: our buffer
 * @map: out: the kernel address
 *
 * Maps the pinned pages when some attachment pinned them (every static
 * importer does, from attach until detach), else the current snapshot: a
 * point-in-time view that does not follow later CPU changes (vmap users
 * are never notified), which the notifier counts in pinned_invalidations.
 * Pages being refreshed, or gone (FAULT, DEAD), read as zeros in that
 * view (see udb_vmap_snapshot()): the core WARNs on any vmap error, so
 * only -ENOMEM is returned.
 * Either way the mapping holds its own page references until vunmap, so
 * it outlives detaches and invalidations safely. The core caches the
 * mapping, so only one of ours is live at a time. Read-only buffers get a
 * read-only kernel mapping: their pages may belong to files the user
 * cannot write, or be the shared zero page.
 *
 * Return: 0 or -ENOMEM.
 */
static int udb_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct udb_buffer *buf = dmabuf->priv;
	struct udb_pinset *ps = buf->pinset;
	struct page **pages;
	unsigned long i;
	void *vaddr;

	dma_resv_assert_held(dmabuf->resv);
	if (WARN_ON_ONCE(buf->vmap_pages))
		return -EBUSY;

	pages = kvmalloc_array(buf->npages, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return -ENOMEM;
	if (ps) {
		for (i = 0; i < buf->npages; i++) {
			udb_vmap_get_page(ps->pages[i]);
			pages[i] = ps->pages[i];
		}
	} else if (udb_vmap_snapshot(buf, pages)) {
		kvfree(pages);
		return -ENOMEM;
	}
	vaddr = vmap(pages, buf->npages, VM_MAP,
		     buf->flags & USERPTR_DMABUF_CREATE_READONLY ?
		     PAGE_KERNEL_RO : PAGE_KERNEL);
	if (!vaddr) {
		udb_vmap_put_pages(pages, buf->npages);
		return -ENOMEM;
	}
	buf->vmap_pages = pages;
	buf->vmap_vaddr = vaddr;
	mutex_lock(&buf->lock);
	buf->vmapped = true;
	mutex_unlock(&buf->lock);
	iosys_map_set_vaddr(map, vaddr);
	return 0;
}

/**
 * udb_vunmap() - dma_buf_ops.vunmap
 * @dmabuf: our buffer
 * @map: what udb_vmap() returned
 */
static void udb_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct udb_buffer *buf = dmabuf->priv;
	unsigned long i;

	dma_resv_assert_held(dmabuf->resv);
	if (WARN_ON_ONCE(!buf->vmap_pages || map->vaddr != buf->vmap_vaddr))
		return;
	vunmap(buf->vmap_vaddr);
	mutex_lock(&buf->lock);
	buf->vmapped = false;
	mutex_unlock(&buf->lock);
	/* kernel writes through the vmap reach writeback as device ones do */
	if (!(buf->flags & USERPTR_DMABUF_CREATE_READONLY))
		for (i = 0; i < buf->npages; i++)
			udb_dirty_page(buf->vmap_pages[i]);
	udb_vmap_put_pages(buf->vmap_pages, buf->npages);
	buf->vmap_pages = NULL;
	buf->vmap_vaddr = NULL;
}

static const struct dma_buf_ops udb_dmabuf_ops = {
	.attach = udb_attach,
	.detach = udb_detach,
	.pin = udb_pin,
	.unpin = udb_unpin,
	.map_dma_buf = udb_map_dma_buf,
	.unmap_dma_buf = udb_unmap_dma_buf,
	.release = udb_release,
	.begin_cpu_access = udb_begin_cpu_access,
	.end_cpu_access = udb_end_cpu_access,
	.mmap = udb_mmap,
	.vmap = udb_vmap,
	.vunmap = udb_vunmap,
};

/**
 * udb_dmabuf_export() - export a buffer as a dma-buf
 * @buf: the buffer; on success its dma-buf owns it
 *
 * Names the dma-buf "pid:<owner tgid>" (fdinfo, and
 * /sys/kernel/debug/dma_buf/bufinfo): every fd holder reads the name, so
 * it carries no address of the owner's address-space layout.
 *
 * Return: 0 or a negative errno.
 */
int udb_dmabuf_export(struct udb_buffer *buf)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp);
	struct dma_buf *dmabuf;
	char *name;

	INIT_LIST_HEAD(&buf->mappings);
	INIT_LIST_HEAD(&buf->devmaps);
	exp.ops = &udb_dmabuf_ops;
	exp.size = buf->size;
	exp.flags = (buf->flags & USERPTR_DMABUF_CREATE_READONLY) ?
		    O_RDONLY : O_RDWR;
	exp.priv = buf;
	dmabuf = dma_buf_export(&exp);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	buf->dmabuf = dmabuf;
	buf->ino = file_inode(dmabuf->file)->i_ino;

	name = kasprintf(GFP_KERNEL, "pid:%d", buf->owner_pid);
	if (name) {
		spin_lock(&dmabuf->name_lock);
		dmabuf->name = name;
		spin_unlock(&dmabuf->name_lock);
	}
	return 0;
}

/**
 * udb_dmabuf_to_buffer() - our buffer behind a dma-buf, if it is ours
 * @dmabuf: any dma-buf
 *
 * Return: the buffer, or NULL for another exporter's dma-buf.
 */
struct udb_buffer *udb_dmabuf_to_buffer(struct dma_buf *dmabuf)
{
	return dmabuf->ops == &udb_dmabuf_ops ? dmabuf->priv : NULL;
}
