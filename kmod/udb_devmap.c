// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: device mappings kept across invalidations.
 *
 * A dynamic importer unmaps when told of a change and maps again before
 * its next use. Its mapping of the snapshot (struct udb_devmap, one per
 * attachment) outlives the unmap: the snapshot's pages, and a table of
 * them built as the per-call one is (physically contiguous pages merged
 * into one entry, at most UDB_DEVMAP_SEG long), DMA-mapped as a whole with
 * dma_map_sgtable() like every table this exporter hands out. A slot
 * borrows the snapshot's pin of its page for as long as the snapshot keeps
 * that page, and takes a hold of its own (udb_page_hold()) only when the
 * snapshot is about to let the page go while the slot still names it
 * (udb_devmap_changed()): a first map and a detach cost no page reference
 * at all, and a change costs one hold per changed page and mapping. The
 * next map re-uses the mapping, so a re-map after a one-page change of a
 * large buffer takes and lets go of one page, not the buffer. A table
 * whose pages did not change is handed out again as it is; one that
 * changed is DMA-unmapped whole before any of its pages is let go,
 * rebuilt at the next map from its old entries and the changed pages'
 * neighbourhood only (udb_devmap_build()), and mapped whole again (a loop
 * over the entries without an IOMMU; IOMMU work with one; one call, so no
 * reschedule inside it).
 *
 * Invariants, under the dma_resv lock:
 *  - A slot of pages[] is empty, holds its page itself (its bit in @own),
 *    or borrows it: then the snapshot is kept with pins and has that same
 *    page at that index. The table is DMA-mapped only while every slot
 *    names a page and the table is built over them: entries outside
 *    [build_lo, build_hi) are.
 *  - Every slot outside [stale_lo, stale_hi) names the snapshot's page.
 *    Each change of a kept snapshot widens that window, and turns the
 *    borrowed slots whose page it replaces into held ones, before the
 *    importers are told and before the snapshot lets those pages go
 *    (udb_devmap_changed(): the publish and the failed refresh, the only
 *    writers of a kept snapshot that has kept mappings, both under the
 *    dma_resv lock). It walks buf->devmaps, not the core's attachment
 *    list: dma_buf_detach() takes an attachment off that list before it
 *    calls ->detach, which lets the kept mapping go. udb_snapshot_unpin()
 *    lets a snapshot go without the dma_resv lock, but only once no
 *    dynamic attachment is left, and ->detach releases its kept mapping
 *    before it drops the count; a leaked mapping holds all its pages.
 *  - An owned slot whose page is the snapshot's again (a failed refresh,
 *    then the same page published) goes back to borrowing at the next
 *    trim.
 *  - A mapping the importer no longer uses holds no page the snapshot
 *    does not: the replaced ones are let go when it is unmapped, or right
 *    after the notification if it was unmapped already
 *    (udb_devmap_trim_idle(); one whose attachment is being detached
 *    keeps them until ->detach lets it go, moments later). So the pages
 *    held are the snapshot's, pinned by it anyway; nothing the snapshot
 *    dropped stays pinned.
 *  - Only a snapshot kept with FOLL_LONGTERM pins is served this way;
 *    memory that may not be pinned long-term (buf->kept_refs) is mapped
 *    per call by udb_dmabuf.c and never kept.
 *
 * Device writes: a mapping the device may have written (any direction but
 * DMA_TO_DEVICE) dirties its pages when it lets them go, as
 * unpin_user_pages_dirty_lock() does for a long-term pin. Writable kept
 * pages are anonymous, shmem or hugetlb memory (write-tracked file memory is
 * never long-term pinned), which reclaim leaves alone while the snapshot
 * pins them; file pages reach this path only in read-only buffers, which
 * devices never write. On 6.12 a kept page is held with a reference, and
 * it is the snapshot's pin that keeps it pinned.
 *
 * A device keeps its DMA mapping of the kept pages (the snapshot's own)
 * after it unmaps, until they change or it detaches or its driver
 * unbinds. Devices that bounce through swiotlb (forced bouncing,
 * addressing limits, iommu-dma's bouncing of untrusted devices) are not
 * served this way: a kept table would hold their bounce slots for the
 * attachment's lifetime.
 *
 * Locking: ua->devmap, buf->devmaps and the mappings' contents are under
 * the dma_resv lock; the snapshot is read under buf->lock, taken inside
 * it. Pages are compared and held under buf->lock; DMA calls and letting
 * a page go come after it is dropped, except the hold an owned slot gives
 * up to borrow the snapshot's pin again, which leaves the page pinned.
 */
#include <linux/bitmap.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/log2.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>

#include "compat.h"
#include "udb_internal.h"
#include "udb_trace.h"

/**
 * struct udb_devmap - an attachment's mapping of the snapshot, kept
 * @sgt: the table map_dma_buf() hands out, over @sgl
 * @sgl: its entries, one flat array; NULL until first built
 * @dev: the importer's device, referenced
 * @dir: the direction it is mapped with
 * @in_use: handed out and not unmapped yet
 * @mapped: the table is DMA-mapped
 * @unbound: the device's driver unbound while the table was in use: its
 *	DMA state is gone, the table is never DMA-unmapped or synced again
 * @written: the device may have written its pages (dirtied when let go)
 * @generation: the snapshot's generation at the last map
 * @stale_lo: first page the snapshot may have changed since the last map
 * @stale_hi: one past the last; the window is empty when @stale_lo >=
 *	@stale_hi
 * @build_lo: first page whose entry no longer matches @pages
 * @build_hi: one past the last; empty when @build_lo >= @build_hi
 * @max_seg: longest entry, in bytes
 * @align_pages: no entry crosses a multiple of this many pages
 * @drop: scratch bitmap, the pages udb_devmap_trim() lets go
 * @own: bitmap of the slots holding their page themselves; the other
 *	slots that name a page borrow the snapshot's pin
 * @used: slots naming a page
 * @owned: bits set in @own
 * @forgot: a slot had to be emptied while the table maps its page: the
 *	table is not handed out again
 * @node: in buf->devmaps
 * @unbind: its devres entry on @dev
 * @npages: slots, the buffer's pages
 * @pages: the pages named, held or borrowed, one slot per buffer page
 */
struct udb_devmap {
	struct sg_table sgt;
	struct scatterlist *sgl;
	struct device *dev;
	enum dma_data_direction dir;
	bool in_use;
	bool mapped;
	bool unbound;
	bool written;
	u64 generation;
	unsigned long stale_lo;
	unsigned long stale_hi;
	unsigned long build_lo;
	unsigned long build_hi;
	unsigned int max_seg;
	unsigned long align_pages;
	unsigned long *drop;
	unsigned long *own;
	unsigned long used;
	unsigned long owned;
	bool forgot;
	struct list_head node;
	struct udb_unbind *unbind;
	unsigned long npages;
	struct page *pages[] __counted_by(npages);
};

/**
 * struct udb_unbind - a kept mapping's devres entry on the importer's device
 * @ref: one for the kept mapping, one for the devres entry
 * @dmabuf: the buffer's dma-buf, referenced: the entry may run after the
 *	detach
 * @ua: the attachment, while it has the kept mapping (under the dma_resv
 *	lock)
 *
 * The importer's driver may unbind while still attached (DRM imports
 * detach when the last GEM handle goes, after a hot-unplug): the device's
 * devres entries are released before its DMA ops are torn down and before
 * its IOMMU state goes, so an idle kept mapping goes then, and the
 * attachment keeps no other. One still in use then is left to its unmap,
 * which can no longer DMA-unmap it: it is leaked (with a warning).
 */
struct udb_unbind {
	struct kref ref;
	struct dma_buf *dmabuf;
	struct udb_attachment *ua;
};

static void udb_unbind_free(struct kref *ref)
{
	struct udb_unbind *ub = container_of(ref, struct udb_unbind, ref);

	dma_buf_put(ub->dmabuf);	/* fput(): never releases inline */
	kfree(ub);
}

static void udb_unbind_release(struct device *dev, void *res)
{
	struct udb_unbind *ub = *(struct udb_unbind **)res;
	struct dma_resv *resv = ub->dmabuf->resv;

	dma_resv_lock(resv, NULL);
	if (ub->ua) {
		ub->ua->devmap_off = true;
		if (ub->ua->devmap && ub->ua->devmap->in_use)
			ub->ua->devmap->unbound = true;
		udb_devmap_release(ub->dmabuf->priv, ub->ua, false);
	}
	dma_resv_unlock(resv);
	kref_put(&ub->ref, udb_unbind_free);
}

static int udb_unbind_match(struct device *dev, void *res, void *data)
{
	return *(struct udb_unbind **)res == data;
}

/* Register the devres entry for @dm of @ua. Under the dma_resv lock. */
static int udb_unbind_add(struct udb_devmap *dm, struct udb_buffer *buf,
			  struct udb_attachment *ua)
{
	struct udb_unbind **res;
	struct udb_unbind *ub;

	ub = kzalloc(sizeof(*ub), GFP_KERNEL);
	res = devres_alloc(udb_unbind_release, sizeof(*res), GFP_KERNEL);
	if (!ub || !res) {
		kfree(ub);
		devres_free(res);
		return -ENOMEM;
	}
	kref_init(&ub->ref);
	kref_get(&ub->ref);
	get_dma_buf(buf->dmabuf);
	ub->dmabuf = buf->dmabuf;
	ub->ua = ua;
	*res = ub;
	devres_add(dm->dev, res);
	dm->unbind = ub;
	return 0;
}

/* Undo udb_unbind_add(), unless the unbind took the entry already. */
static void udb_unbind_del(struct udb_devmap *dm)
{
	struct udb_unbind *ub = dm->unbind;

	if (!ub)
		return;
	ub->ua = NULL;
	if (!devres_destroy(dm->dev, udb_unbind_release, udb_unbind_match, ub))
		kref_put(&ub->ref, udb_unbind_free);
	kref_put(&ub->ref, udb_unbind_free);
}

/* Pages scanned under one buf->lock hold, or handled between reschedules. */
#define UDB_DEVMAP_CHUNK	1024
/*
 * Longest entry of a kept table, and the physical alignment no entry
 * crosses: a THP is one entry where the device takes segments that long,
 * and no entry crosses a segment boundary of this size or more (PCI's
 * default is 4 GiB). A change re-scans the pages of the entries it
 * touches, at most about twice this much for one page.
 */
#define UDB_DEVMAP_SEG		SZ_2M

static struct udb_devmap *udb_devmap_alloc(unsigned long npages,
					   struct device *dev,
					   enum dma_data_direction dir)
{
	unsigned long boundary = dma_get_seg_boundary(dev);
	struct udb_devmap *dm;

	if (npages > INT_MAX)	/* dma_map_sg() counts entries in an int */
		return NULL;
	/*
	 * Charged to the caller's memcg, as the per-call mappings are: an fd
	 * holder chooses how many attachments make the kernel keep per-page
	 * arrays (the importer's process when it maps in its own context).
	 * A table too large to allocate leaves the map to the per-call path.
	 */
	dm = kvzalloc(struct_size(dm, pages, npages),
		      GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!dm)
		return NULL;
	dm->npages = npages;
	INIT_LIST_HEAD(&dm->node);
	dm->drop = kvcalloc(BITS_TO_LONGS(npages), sizeof(long),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	dm->own = kvcalloc(BITS_TO_LONGS(npages), sizeof(long),
			   GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!dm->drop || !dm->own) {
		kvfree(dm->own);
		kvfree(dm->drop);
		kvfree(dm);
		return NULL;
	}
	dm->dev = get_device(dev);
	dm->dir = dir;
	dm->max_seg = min_t(unsigned int, udb_max_segment(dev), UDB_DEVMAP_SEG);
	/* a power of two, at least a page: the boundary mask's or ours */
	dm->align_pages = (min_t(unsigned long, boundary, UDB_DEVMAP_SEG - 1) +
			   1) >> PAGE_SHIFT;
	if (!dm->align_pages || !is_power_of_2(dm->align_pages))
		dm->align_pages = 1;
	dm->stale_hi = npages;	/* every slot is to be filled */
	dm->build_hi = npages;
	return dm;
}

/*
 * Whether page @p may extend an entry ending with page @prev, @len long.
 * The boundary is checked on physical addresses: right for dma-direct
 * without a bus offset that breaks its alignment; iommu-dma keeps
 * segment boundaries itself.
 */
static bool udb_devmap_extends(const struct udb_devmap *dm, struct page *prev,
			       struct page *p, unsigned int len)
{
	unsigned long pfn = page_to_pfn(p);

	return pfn == page_to_pfn(prev) + 1 &&
	       !IS_ALIGNED(pfn, dm->align_pages) &&
	       len <= dm->max_seg - PAGE_SIZE;
}

/*
 * Entries for pages [lo, hi), merged as udb_devmap_extends() allows,
 * written from **@sgp on (which is left after them) or, without @sgp,
 * only counted. Return: how many.
 */
static unsigned int udb_devmap_runs(const struct udb_devmap *dm,
				    unsigned long lo, unsigned long hi,
				    struct scatterlist **sgp)
{
	struct scatterlist *sg = sgp ? *sgp : NULL;
	unsigned int n = 0, len = 0;
	unsigned long i;

	for (i = lo; i < hi; i++) {
		if (len && udb_devmap_extends(dm, dm->pages[i - 1],
					      dm->pages[i], len)) {
			len += PAGE_SIZE;
			continue;
		}
		if (sg && len) {
			sg->length = len;
			sg = sg_next(sg);
		}
		if (sg)
			sg_set_page(sg, dm->pages[i], PAGE_SIZE, 0);
		len = PAGE_SIZE;
		n++;
	}
	if (sg && len) {
		sg->length = len;
		sg = sg_next(sg);
	}
	if (sgp)
		*sgp = sg;
	return n;
}

/*
 * The old table's entries before page @lo and from page @hi on stay as
 * they are; [*a, *b) is @lo..@hi widened to the entries it cuts. Return:
 * how many entries lie before *a, in *after those from *b on.
 */
static unsigned int udb_devmap_keep(const struct udb_devmap *dm,
				    unsigned long lo, unsigned long hi,
				    unsigned long *a, unsigned long *b,
				    unsigned int *after)
{
	unsigned int before = 0, k;
	unsigned long at = 0, next;
	struct scatterlist *sg;

	*a = lo;
	*b = hi;
	*after = 0;
	for_each_sg(dm->sgl, sg, dm->sgt.orig_nents, k) {
		next = at + (sg->length >> PAGE_SHIFT);
		if (next <= lo)
			before++;
		else if (at >= hi)
			(*after)++;
		else
			*b = max(*b, next);
		if (at < lo && next > lo)
			*a = at;
		at = next;
	}
	return before;
}

/*
 * Build the table over @pages, every slot naming a page: the old table's
 * entries outside [build_lo, build_hi) are copied, the pages of the
 * entries that window touches merged anew. The table is not DMA-mapped.
 * Return: 0 or -ENOMEM.
 */
static int udb_devmap_build(struct udb_buffer *buf, struct udb_devmap *dm)
{
	unsigned long lo = dm->build_lo, hi = min(dm->build_hi, dm->npages);
	unsigned long a = 0, b = dm->npages;
	unsigned int before = 0, after = 0, n, k;
	unsigned int old_n = dm->sgl ? dm->sgt.orig_nents : 0;
	struct scatterlist *sgl, *sg;

	if (lo >= hi && dm->sgl)
		return 0;
	if (dm->sgl)
		before = udb_devmap_keep(dm, lo, hi, &a, &b, &after);
	n = before + udb_devmap_runs(dm, a, b, NULL) + after;
	sgl = kvmalloc_array(n, sizeof(*sgl), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!sgl)
		return -ENOMEM;
	sg_init_table(sgl, n);
	for (k = 0; k < before; k++)
		sg_set_page(&sgl[k], sg_page(&dm->sgl[k]), dm->sgl[k].length, 0);
	sg = &sgl[before];
	udb_devmap_runs(dm, a, b, &sg);
	for (k = 0; k < after; k++)
		sg_set_page(&sgl[n - after + k],
			    sg_page(&dm->sgl[old_n - after + k]),
			    dm->sgl[old_n - after + k].length, 0);
	kvfree(dm->sgl);
	atomic_long_add((long)n - old_n, &buf->devmap_entries);
	dm->sgl = sgl;
	dm->sgt.sgl = sgl;
	dm->sgt.orig_nents = n;
	dm->sgt.nents = n;
	dm->build_lo = 0;
	dm->build_hi = 0;
	return 0;
}

/* DMA-unmap the table, if it is mapped. */
static void udb_devmap_unmap_dma(struct udb_devmap *dm)
{
	if (!dm->mapped)
		return;
	dma_unmap_sgtable(dm->dev, &dm->sgt, dm->dir, UDB_DMA_MAP_ATTRS);
	dm->mapped = false;
}

/*
 * A scan of slots from @lo on under buf->lock, at slot @i: take the lock at
 * the first, and let it go for a reschedule every UDB_DEVMAP_CHUNK slots
 * (the notifier takes it too). A kept snapshot changes only under the
 * dma_resv lock, which the caller holds.
 */
static void udb_devmap_scan_lock(struct udb_buffer *buf, unsigned long i,
				 unsigned long lo)
{
	if (i == lo) {
		mutex_lock(&buf->lock);
	} else if (!(i % UDB_DEVMAP_CHUNK)) {
		mutex_unlock(&buf->lock);
		cond_resched();
		mutex_lock(&buf->lock);
	}
}

/*
 * Empty slot @i: dirty its page if the device may have written it, and let
 * it go if the slot holds it (a borrowed page is still the snapshot's,
 * pinned: udb_devmap_changed() finds every kept mapping, and the caller
 * holds the dma_resv lock). The table is not DMA-mapped.
 */
static void udb_devmap_put(struct udb_buffer *buf, struct udb_devmap *dm,
			   unsigned long i)
{
	struct page *page = dm->pages[i];

	if (!page)
		return;
	if (dm->written)
		udb_dirty_page(page);
	if (__test_and_clear_bit(i, dm->own)) {
		udb_page_release(page);
		dm->owned--;
		atomic_long_dec(&buf->devmap_own);
	}
	dm->pages[i] = NULL;
	dm->used--;
	atomic_long_dec(&buf->devmap_pages);
}

/*
 * Empty slot @i without touching its page, which the slot may no longer
 * rely on: the table, which may still map it, is never handed out again.
 */
static void udb_devmap_forget(struct udb_buffer *buf, struct udb_devmap *dm,
			      unsigned long i)
{
	dm->pages[i] = NULL;
	dm->used--;
	atomic_long_dec(&buf->devmap_pages);
	dm->forgot = true;
}

/*
 * Slot @i borrows its page, which the snapshot is about to let go: hold it.
 * The snapshot still pins it, so only a corrupt refcount makes the hold
 * fail; then the slot forgets the page.
 */
static void udb_devmap_own_slot(struct udb_buffer *buf, struct udb_devmap *dm,
				unsigned long i)
{
	if (WARN_ON_ONCE(udb_page_hold(dm->pages[i]))) {
		udb_devmap_forget(buf, dm, i);
		return;
	}
	__set_bit(i, dm->own);
	dm->owned++;
	atomic_long_inc(&buf->devmap_own);
}

/* Owned slot @i names the snapshot's page again: borrow its pin. */
static void udb_devmap_borrow_slot(struct udb_buffer *buf,
				   struct udb_devmap *dm, unsigned long i)
{
	__clear_bit(i, dm->own);
	dm->owned--;
	atomic_long_dec(&buf->devmap_own);
	udb_page_release(dm->pages[i]);	/* the snapshot's pin remains */
}

/*
 * Before the snapshot lets go of its pages in [@lo, @hi) (@all: of every
 * page, it is no longer kept with pins): every slot there that borrows a
 * page the snapshot will no longer have takes its own hold. Compared
 * under buf->lock, in chunks: a kept snapshot does not change meanwhile,
 * the caller holds the dma_resv lock (with @all nothing is compared).
 */
static void udb_devmap_own(struct udb_buffer *buf, struct udb_devmap *dm,
			   unsigned long lo, unsigned long hi, bool all)
{
	struct page *page;
	unsigned long i;

	hi = min(hi, dm->npages);
	if (lo >= hi || dm->used == dm->owned)
		return;
	for (i = lo; i < hi; i++) {
		udb_devmap_scan_lock(buf, i, lo);
		page = dm->pages[i];
		if (page && !test_bit(i, dm->own) &&
		    (all || page != buf->pages[i]))
			udb_devmap_own_slot(buf, dm, i);
	}
	mutex_unlock(&buf->lock);
}

/* Take @dm's pages and entries out of the buffer's debugfs figures. */
static void udb_devmap_uncount(struct udb_buffer *buf, struct udb_devmap *dm)
{
	atomic_long_sub(dm->used, &buf->devmap_pages);
	atomic_long_sub(dm->owned, &buf->devmap_own);
	if (dm->sgl)
		atomic_long_sub(dm->sgt.orig_nents, &buf->devmap_entries);
}

static void udb_devmap_free(struct udb_buffer *buf, struct udb_devmap *dm)
{
	unsigned long i;

	list_del(&dm->node);
	udb_unbind_del(dm);
	udb_devmap_unmap_dma(dm);
	for (i = 0; i < dm->npages && dm->used; i++) {
		udb_devmap_put(buf, dm, i);
		if (!(i % UDB_DEVMAP_CHUNK))
			cond_resched();
	}
	udb_devmap_uncount(buf, dm);	/* the entries: no slot is left */
	put_device(dm->dev);
	kvfree(dm->sgl);
	kvfree(dm->own);
	kvfree(dm->drop);
	kvfree(dm);
}

/* Drop @ua's kept mapping. Under the dma_resv lock. */
static void udb_devmap_drop(struct udb_buffer *buf, struct udb_attachment *ua)
{
	struct udb_devmap *dm = ua->devmap;

	ua->devmap = NULL;
	if (dm)
		udb_devmap_free(buf, dm);
}

/*
 * Forget @ua's kept mapping without any DMA call or page release: its
 * device can no longer be trusted with them (unmapped after its unbind, or
 * never unmapped before the detach). Its pages stay held for good: the
 * borrowed ones get holds of their own first.
 */
static void udb_devmap_leak(struct udb_buffer *buf, struct udb_attachment *ua)
{
	struct udb_devmap *dm = ua->devmap;

	udb_devmap_own(buf, dm, 0, dm->npages, true);
	list_del(&dm->node);
	udb_unbind_del(dm);
	dm->unbind = NULL;
	udb_devmap_uncount(buf, dm);
	ua->devmap = NULL;
}

/*
 * Let go of the slots in the stale window whose page the snapshot no
 * longer has, and have the owned ones whose page it has again borrow its
 * pin: compared under buf->lock, unmapped after it.
 */
static void udb_devmap_trim(struct udb_buffer *buf, struct udb_devmap *dm)
{
	unsigned long i, owned, lo = dm->stale_lo;
	unsigned long hi = min(dm->stale_hi, dm->npages);
	unsigned long dlo = hi, dhi = 0;
	struct page *page;

	if (lo >= hi || !dm->used)
		return;
	for (i = lo; i < hi; i++) {
		udb_devmap_scan_lock(buf, i, lo);
		page = dm->pages[i];
		if (!page)
			continue;
		if (!test_bit(i, dm->own)) {
			/* udb_devmap_changed() made such slots hold their page */
			if (WARN_ON_ONCE(page != buf->pages[i]))
				udb_devmap_forget(buf, dm, i);
		} else if (page == buf->pages[i]) {
			if (udb_snapshot_pinned(buf))
				udb_devmap_borrow_slot(buf, dm, i);
		} else {
			__set_bit(i, dm->drop);
			dlo = min(dlo, i);
			dhi = i + 1;
		}
	}
	mutex_unlock(&buf->lock);
	if (dlo >= dhi)
		return;
	udb_devmap_unmap_dma(dm);
	udb_window_extend(&dm->build_lo, &dm->build_hi, dlo, dhi);
	owned = dm->owned;
	i = lo;
	for_each_set_bit_from(i, dm->drop, hi) {
		udb_devmap_put(buf, dm, i);
		__clear_bit(i, dm->drop);
		if (!((owned - dm->owned) % UDB_DEVMAP_CHUNK))
			cond_resched();
	}
}

/*
 * Name the snapshot's pages in the empty slots of the stale window,
 * borrowing its pins, if the snapshot is kept with pins. Return: 1 when it
 * is not (the caller maps per call), 0, or the buffer's errno (FAULT,
 * DEAD).
 */
static int udb_devmap_fill(struct udb_buffer *buf, struct udb_devmap *dm,
			   unsigned long *filledp)
{
	unsigned long i, filled = 0, hi = min(dm->stale_hi, dm->npages);
	unsigned long flo = hi, fhi = 0;
	struct page *page;
	u32 state;
	int ret;

	mutex_lock(&buf->lock);
	state = buf->state;
	ret = udb_state_errno(buf);
	if (!ret && !udb_snapshot_pinned(buf))
		ret = 1;
	for (i = dm->stale_lo; !ret && i < hi; i++) {
		if (i != dm->stale_lo)	/* taken above */
			udb_devmap_scan_lock(buf, i, dm->stale_lo);
		if (dm->pages[i])
			continue;
		page = buf->pages[i];
		if (!page) {
			ret = -ENODEV;
			break;
		}
		dm->pages[i] = page;
		dm->used++;
		filled++;
		flo = min(flo, i);
		fhi = i + 1;
	}
	dm->generation = buf->generation;
	mutex_unlock(&buf->lock);
	if (flo < fhi)
		udb_window_extend(&dm->build_lo, &dm->build_hi, flo, fhi);
	atomic_long_add(filled, &buf->devmap_pages);
	*filledp = filled;

	udb_map_catch_up(buf, state);
	return ret;
}

/* Whether @dev may keep mappings: not if it bounces through swiotlb. */
static bool udb_devmap_allowed(struct device *dev)
{
	return !dma_addressing_limited(dev) && !is_swiotlb_force_bounce(dev);
}

/**
 * udb_devmap_map() - serve a dynamic attachment from its kept mapping
 * @buf: the buffer
 * @ua: the attachment, neither a pin-set one nor dma_buf_pin()ned
 * @dev: the importer's device
 * @dir: the direction
 *
 * Context: under the dma_resv lock.
 * Return: the table; NULL when the snapshot is not kept with pins or the
 * kept mapping is in use (the caller maps per call); or ERR_PTR() of the
 * buffer's errno (FAULT: the failed refresh's, DEAD: -ENODEV) or -ENOMEM.
 */
struct sg_table *udb_devmap_map(struct udb_buffer *buf,
				struct udb_attachment *ua, struct device *dev,
				enum dma_data_direction dir)
{
	struct udb_devmap *dm = ua->devmap;
	bool patched = !!dm;
	unsigned long filled, mapped_now = 0;
	int ret;

	if (dm && dm->in_use)
		return NULL;
	/* a hint, checked again under buf->lock: no table to find it out */
	if (!READ_ONCE(buf->kept) || READ_ONCE(buf->kept_refs) ||
	    ua->devmap_off || !udb_devmap_allowed(dev)) {
		udb_devmap_drop(buf, ua);
		return NULL;
	}
	if (dm && (dm->dev != dev || dm->dir != dir || dm->forgot)) {
		udb_devmap_drop(buf, ua);
		dm = NULL;
		patched = false;
	}
	if (!dm) {
		dm = udb_devmap_alloc(buf->npages, dev, dir);
		if (!dm)
			return NULL;	/* the per-call mapping may still fit */
		if (udb_unbind_add(dm, buf, ua)) {
			udb_devmap_free(buf, dm);
			return NULL;
		}
		ua->devmap = dm;
		list_add(&dm->node, &buf->devmaps);
	}
	udb_devmap_trim(buf, dm);
	if (dm->forgot) {
		udb_devmap_drop(buf, ua);
		return NULL;
	}
	ret = udb_devmap_fill(buf, dm, &filled);
	if (ret == 1 || ret == -ENODEV) {
		/* a snapshot of references, or the owner is gone */
		udb_devmap_drop(buf, ua);
		return ret == 1 ? NULL : ERR_PTR(ret);
	}
	/* FAULT: kept; the failed pages were let go, the next map fills them */
	if (ret) {
		trace_udb_map(buf->ino, dev_name(dev), 0, 0, false, dir, ret);
		return ERR_PTR(ret);
	}
	dm->stale_lo = 0;
	dm->stale_hi = 0;
	if (!dm->mapped) {
		if (udb_devmap_build(buf, dm) ||
		    dma_map_sgtable(dev, &dm->sgt, dir, UDB_DMA_MAP_ATTRS)) {
			/* the per-call mapping may still fit */
			udb_devmap_drop(buf, ua);
			return NULL;
		}
		dm->mapped = true;
		/* iommu-dma bounces untrusted devices' pages: not kept */
		if (sg_dma_is_swiotlb(dm->sgt.sgl)) {
			udb_devmap_drop(buf, ua);
			return NULL;
		}
		mapped_now = dm->npages;
		WRITE_ONCE(buf->dma_map_pages, buf->dma_map_pages + mapped_now);
	}
	dma_sync_sgtable_for_device(dev, &dm->sgt, dir);
	dm->in_use = true;
	WRITE_ONCE(buf->map_hold_pages, buf->map_hold_pages + filled);
	if (patched)
		WRITE_ONCE(buf->maps_patched, buf->maps_patched + 1);
	trace_udb_map(buf->ino, dev_name(dev), mapped_now, dm->generation,
		      false, dir, 0);
	return &dm->sgt;
}

/**
 * udb_devmap_unmap() - the importer unmaps a table
 * @buf: the buffer
 * @ua: the attachment
 * @sgt: the table
 *
 * Keeps the mapping for the next map, less the pages the snapshot has
 * replaced meanwhile, unless the snapshot is no longer kept with pins or
 * the attachment is dma_buf_pin()ned (its maps serve what it holds).
 *
 * Context: under the dma_resv lock.
 * Return: whether @sgt was @ua's kept mapping.
 */
bool udb_devmap_unmap(struct udb_buffer *buf, struct udb_attachment *ua,
		      struct sg_table *sgt)
{
	struct udb_devmap *dm = ua->devmap;
	bool keep;

	if (!dm || sgt != &dm->sgt)
		return false;
	trace_udb_unmap(buf->ino, dev_name(dm->dev), dm->generation);
	if (WARN_ON_ONCE(dm->unbound)) {	/* unmapped after its unbind */
		udb_devmap_leak(buf, ua);
		return true;
	}
	if (!dm->forgot)
		dma_sync_sgtable_for_cpu(dm->dev, sgt, dm->dir);
	dm->in_use = false;
	if (dm->dir != DMA_TO_DEVICE)
		dm->written = true;
	mutex_lock(&buf->lock);
	keep = udb_snapshot_pinned(buf) &&
	       buf->state != USERPTR_DMABUF_STATE_DEAD;
	mutex_unlock(&buf->lock);
	if (keep && !ua->pin_count && !ua->devmap_off)
		udb_devmap_trim(buf, dm);
	if (!keep || ua->pin_count || ua->devmap_off || dm->forgot)
		udb_devmap_drop(buf, ua);
	return true;
}

/**
 * udb_devmap_changed() - the snapshot's pages [@lo, @hi) are changing
 * @buf: the buffer
 * @lo: first page
 * @hi: one past the last
 *
 * Widens every kept mapping's stale window, and has the slots that borrow
 * a page the snapshot is letting go hold it themselves (every borrowed
 * slot, if the snapshot is no longer kept with pins); called after the
 * snapshot changed under buf->lock, before the importers are told (so
 * that those that unmap at once let the old pages go then) and before the
 * snapshot lets the replaced pages go. O(pages in the window) per kept
 * mapping.
 *
 * Context: under the dma_resv lock, which protects buf->devmaps; takes
 * buf->lock.
 */
void udb_devmap_changed(struct udb_buffer *buf, unsigned long lo,
			unsigned long hi)
{
	struct udb_devmap *dm;
	bool all;

	dma_resv_assert_held(buf->dmabuf->resv);
	mutex_lock(&buf->lock);
	all = !udb_snapshot_pinned(buf);
	mutex_unlock(&buf->lock);
	/* also the mapping of an attachment the core is detaching */
	list_for_each_entry(dm, &buf->devmaps, node) {
		udb_window_extend(&dm->stale_lo, &dm->stale_hi, lo, hi);
		udb_devmap_own(buf, dm, all ? 0 : lo, all ? dm->npages : hi,
			       all);
	}
}

/**
 * udb_devmap_trim_idle() - let go of replaced pages nobody maps any more
 * @buf: the buffer
 *
 * For the kept mappings their importers had unmapped before (or while)
 * being told of the change; all of an idle kept mapping goes once the
 * snapshot is no longer kept with pins.
 *
 * Context: under the dma_resv lock, after udb_devmap_changed() and the
 * notification.
 */
void udb_devmap_trim_idle(struct udb_buffer *buf)
{
	struct dma_buf_attachment *attach;
	struct udb_attachment *ua;
	bool pinned;

	dma_resv_assert_held(buf->dmabuf->resv);
	/* no longer a snapshot of pins (gone, or now write-tracked memory) */
	mutex_lock(&buf->lock);
	pinned = udb_snapshot_pinned(buf);
	mutex_unlock(&buf->lock);
	list_for_each_entry(attach, &buf->dmabuf->attachments, node) {
		ua = attach->priv;
		if (!ua->devmap || ua->devmap->in_use)
			continue;
		if (pinned)
			udb_devmap_trim(buf, ua->devmap);
		if (!pinned || ua->devmap->forgot)
			udb_devmap_drop(buf, ua);
	}
}

/**
 * udb_devmap_sync() - CPU syncs of the kept mappings in use
 * @buf: the buffer
 * @for_cpu: towards the CPU, else towards the devices
 *
 * Context: under the dma_resv lock.
 */
void udb_devmap_sync(struct udb_buffer *buf, bool for_cpu)
{
	struct dma_buf_attachment *attach;
	struct udb_attachment *ua;
	struct udb_devmap *dm;

	dma_resv_assert_held(buf->dmabuf->resv);
	list_for_each_entry(attach, &buf->dmabuf->attachments, node) {
		ua = attach->priv;
		dm = ua->devmap;
		/* a forgotten slot's page may be gone: no cache maintenance */
		if (dm && dm->in_use && !dm->unbound && !dm->forgot)
			udb_sync_handed_out(dm->dev, &dm->sgt, dm->dir, for_cpu);
	}
}

/**
 * udb_sync_handed_out() - CPU syncs of a table an importer holds
 * @dev: the importer's device
 * @sgt: a dma_map_sgtable() result handed out by map_dma_buf()
 * @dir: its direction
 * @for_cpu: towards the CPU, else towards the device
 *
 * Context: under the dma_resv lock.
 */
void udb_sync_handed_out(struct device *dev, struct sg_table *sgt,
			 enum dma_data_direction dir, bool for_cpu)
{
	if (for_cpu)
		dma_sync_sgtable_for_cpu(dev, sgt, dir);
	else
		dma_sync_sgtable_for_device(dev, sgt, dir);
}

/**
 * udb_devmap_release() - drop an attachment's kept mapping
 * @buf: the buffer
 * @ua: the attachment: being pinned or its device unbound (under the
 *	dma_resv lock), or detached (off the attachment list already; this
 *	takes the dma_resv lock)
 * @detach: the attachment goes away: drop the mapping even if the
 *	importer never unmapped it
 *
 * Otherwise a mapping in use stays until its unmap, which drops it for a
 * pinned attachment.
 */
void udb_devmap_release(struct udb_buffer *buf, struct udb_attachment *ua,
			bool detach)
{
	struct dma_resv *resv = buf->dmabuf->resv;

	if (!detach) {
		if (ua->devmap && !ua->devmap->in_use)
			udb_devmap_drop(buf, ua);
		return;
	}
	/* against the unbind's devres entry, which may drop it meanwhile */
	dma_resv_lock(resv, NULL);
	/*
	 * Importers unmap before they detach. One that did not may still
	 * use the table (whose page pointers the 6.12 core scrambles while
	 * it is handed out): leak it rather than unmap under a device.
	 */
	if (ua->devmap && WARN_ON_ONCE(ua->devmap->in_use))
		udb_devmap_leak(buf, ua);
	else
		udb_devmap_drop(buf, ua);
	dma_resv_unlock(resv);
}
