// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: CPU mmap() of the dma-buf, by any process.
 *
 * The mapping is a shared PFN map of the owner's current pages, filled at
 * fault time from the snapshot. PFN maps hold no page references, so the
 * fault takes one into buf->cpu_refs; the refresh drops it only after it
 * has zapped every CPU mapping of the dma-buf, and the last munmap drops
 * them all. A fault on a page whose refresh is pending drops the mmap
 * lock, waits for the refresh and retries.
 *
 * A page the owner no longer maps (the buffer is FAULT after munmap, or
 * DEAD after the owner exited) reads as zeros, the way compositors treat a
 * truncated wl_shm pool: a process sampling a client's buffer must not die
 * of SIGBUS because the client unmapped it. Writing to such a page is
 * SIGBUS: the bytes would be lost. A FAULT buffer is refreshed again on
 * such a fault, and its zero pages are zapped again after
 * UDB_ZERO_RECHECK_MS (nothing tells the exporter when a range is mapped
 * again), so a reader sees the new pages within about that time. A page
 * whose refresh was postponed (invalidations kept colliding with it, the
 * buffer is still STALE) is waited for like any pending refresh: the range
 * is there, and zeros would be wrong data.
 *
 * A fault on a page of the snapshot also maps the snapshot's other pages
 * of its chunk (UDB_FAULT_AROUND pages of address space, aligned, within
 * the VMA), each with its cpu_refs reference, read-only (the first write
 * to each still reaches pfn_mkwrite and dirties it): a buffer read front
 * to back costs one fault per chunk, not one per page. Those references
 * pin pages the reader has not touched yet, until the next refresh or
 * the last munmap, like the pages it did touch.
 *
 * A read fault maps a page read-only, and the first write makes it
 * writable (pfn_mkwrite); a write fault maps it writable at once. Either
 * way the page is marked dirty first, so writeback of file-backed memory
 * sees writes made through the dma-buf. Writeback write-protects the
 * owner's mapping, which invalidates the buffer and zaps these mappings,
 * so the next write dirties the page again.
 *
 * Locking: the fault handler runs under the faulting mm's mmap_lock (or
 * VMA lock) and takes buf->lock only to read the snapshot; it inserts and
 * zaps PTEs without it. buf->mmap_seq is bumped under buf->lock before a
 * zap, so a fault that raced with a zap zaps its own PTE; the temporary
 * page reference it holds from the snapshot read until after that check
 * keeps the page alive while its PTE may still map it.
 */
#include <linux/dma-buf.h>
#include <linux/mm.h>

#include "compat.h"
#include "udb_internal.h"

/* How long a fault waits for a pending refresh before SIGBUS. */
#define UDB_FAULT_WAIT_MS	2000
/* How long a zero page stands for a page of a FAULT buffer. */
#define UDB_ZERO_RECHECK_MS	100
/*
 * Pages one fault maps: the naturally aligned chunk of virtual addresses
 * holding the faulting page, within the VMA (mm's default fault-around
 * and TTM's prefault are 16 pages too). Aligned on the address, a chunk
 * never spans two page tables.
 */
#define UDB_FAULT_AROUND	16
static_assert((UDB_FAULT_AROUND & (UDB_FAULT_AROUND - 1)) == 0 &&
	      UDB_FAULT_AROUND <= PTRS_PER_PTE);

/*
 * buf->mmaps changes only under buf->lock, so the last close cannot drop
 * cpu_refs that a new mapping's fault has just come to rely on.
 */
static void udb_mmaps_inc(struct udb_buffer *buf)
{
	mutex_lock(&buf->lock);
	atomic_inc(&buf->mmaps);
	mutex_unlock(&buf->lock);
}

static void udb_vm_open(struct vm_area_struct *vma)
{
	udb_mmaps_inc(vma->vm_private_data);
}

static void udb_vm_close(struct vm_area_struct *vma)
{
	struct udb_buffer *buf = vma->vm_private_data;
	unsigned long i;

	mutex_lock(&buf->lock);
	if (atomic_dec_and_test(&buf->mmaps)) {
		/* No CPU mapping is left to need the pages, or to zap. */
		buf->zero_mapped = false;
		for (i = 0; i < buf->npages; i++) {
			if (buf->cpu_refs[i]) {
				put_page(buf->cpu_refs[i]);
				buf->cpu_refs[i] = NULL;
			}
		}
	}
	mutex_unlock(&buf->lock);
}

/*
 * Wake-up condition, evaluated in a wait loop where sleeping (buf->lock)
 * is not allowed: lockless reads are enough, the fault is retried anyway.
 */
static bool udb_page_ready(struct udb_buffer *buf, pgoff_t pgoff)
{
	return READ_ONCE(buf->state) != USERPTR_DMABUF_STATE_STALE ||
	       pgoff < READ_ONCE(buf->dirty_lo) ||
	       pgoff >= READ_ONCE(buf->dirty_hi);
}

static unsigned long udb_pgoff_addr(struct vm_area_struct *vma, pgoff_t pgoff)
{
	return vma->vm_start + ((pgoff - vma->vm_pgoff) << PAGE_SHIFT);
}

/* A zap began since @seq was read: what this fault inserted may be old. */
static bool udb_mmap_seq_changed(struct udb_buffer *buf, u64 seq)
{
	bool changed;

	mutex_lock(&buf->lock);
	changed = seq != buf->mmap_seq;
	mutex_unlock(&buf->lock);
	return changed;
}

/* [*first, *end): the page offsets of the chunk a fault at @vmf maps */
static void udb_around(struct vm_fault *vmf, struct udb_buffer *buf,
		       pgoff_t *first, pgoff_t *end)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long lo = ALIGN_DOWN(vmf->address, UDB_FAULT_AROUND * PAGE_SIZE);
	unsigned long hi = lo + UDB_FAULT_AROUND * PAGE_SIZE;

	lo = max(lo, vma->vm_start);
	hi = min(hi, vma->vm_end);
	*first = vmf->pgoff - ((vmf->address - lo) >> PAGE_SHIFT);
	*end = min_t(pgoff_t, vmf->pgoff + ((hi - vmf->address) >> PAGE_SHIFT),
		     buf->npages);
}

/*
 * The snapshot's pages of [first, end) into @pages (NULL where there is
 * none), each with a cpu_refs reference for its PTE and one for the
 * caller, who drops it after the mmap_seq check.
 */
static void udb_take_pages(struct udb_buffer *buf, pgoff_t first, pgoff_t end,
			   struct page **pages)
{
	struct page *page;
	pgoff_t i;

	lockdep_assert_held(&buf->lock);
	for (i = first; i < end; i++) {
		page = udb_snapshot_page(buf, i);
		pages[i - first] = page;
		if (!page)
			continue;
		if (!buf->cpu_refs[i]) {
			get_page(page);
			buf->cpu_refs[i] = page;
		}
		get_page(page);
	}
}

/*
 * Map @pages (from udb_take_pages()) at their addresses: the faulting
 * page @pgoff first, writable for a write fault (vm_page_prot is
 * write-protected for pfn_mkwrite, which would make this very write
 * fault a second time), then the others read-only, up to the first that
 * fails. Return: the faulting page's result.
 */
static vm_fault_t udb_insert_pages(struct vm_area_struct *vma, pgoff_t pgoff,
				   bool write, pgoff_t first, pgoff_t end,
				   struct page **pages)
{
	pgprot_t ro = vm_get_page_prot(vma->vm_flags & ~VM_WRITE);
	pgprot_t rw = vm_get_page_prot(vma->vm_flags);
	struct page *page = pages[pgoff - first];
	vm_fault_t ret, r = VM_FAULT_NOPAGE;
	pgoff_t i;

	if (write)
		udb_dirty_page(page);
	ret = vmf_insert_pfn_prot(vma, udb_pgoff_addr(vma, pgoff),
				  page_to_pfn(page), write ? rw : ro);
	for (i = first; i < end && r == VM_FAULT_NOPAGE; i++) {
		if (i != pgoff && pages[i - first])
			r = vmf_insert_pfn_prot(vma, udb_pgoff_addr(vma, i),
						page_to_pfn(pages[i - first]),
						ro);
	}
	return ret;
}

/* A FAULT or DEAD buffer's page: zeros to read, SIGBUS to write. */
static vm_fault_t udb_insert_zero(struct vm_fault *vmf, bool write,
				  u32 state, u64 seq)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udb_buffer *buf = vma->vm_private_data;
	unsigned long recheck = msecs_to_jiffies(UDB_ZERO_RECHECK_MS);
	vm_fault_t ret;

	/* the range may have been mapped again since: retry */
	if (state == USERPTR_DMABUF_STATE_FAULT) {
		udb_queue_refresh(buf);
		if (!write)
			mod_delayed_work(udb_wq, &buf->zero_work, recheck);
	}
	if (write)
		return VM_FAULT_SIGBUS;
	ret = vmf_insert_pfn_prot(vma, vmf->address,
				  page_to_pfn(ZERO_PAGE(vmf->address)),
				  vm_get_page_prot(vma->vm_flags & ~VM_WRITE));
	udb_debug_delay(UDB_DELAY_INSERT);
	if (udb_mmap_seq_changed(buf, seq))
		udb_zap_pfn_range(vma, vmf->address & PAGE_MASK, PAGE_SIZE);
	return ret;
}

/* The faulting page is being refreshed: wait for it, then fault again. */
static vm_fault_t udb_insert_wait(struct vm_fault *vmf)
{
	struct udb_buffer *buf = vmf->vma->vm_private_data;

	/* nothing may have needed the snapshot before this fault */
	udb_queue_refresh(buf);
	/*
	 * Cannot drop the lock to wait (a retried fault, or no retry
	 * allowed): let the access fault again; the refresh is queued.
	 */
	if (!fault_flag_allow_retry_first(vmf->flags))
		return VM_FAULT_NOPAGE;
	if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
		return VM_FAULT_RETRY;
	/* The refresh may need this very mmap_lock: drop it. */
	get_dma_buf(buf->dmabuf);
	release_fault_lock(vmf);
	wait_event_killable_timeout(buf->refreshed,
				    udb_page_ready(buf, vmf->pgoff),
				    msecs_to_jiffies(UDB_FAULT_WAIT_MS));
	dma_buf_put(buf->dmabuf);
	return VM_FAULT_RETRY;
}

static vm_fault_t udb_insert(struct vm_fault *vmf, bool write)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udb_buffer *buf = vma->vm_private_data;
	struct page *pages[UDB_FAULT_AROUND];
	pgoff_t pgoff = vmf->pgoff, first, end, i;
	vm_fault_t ret;
	u32 state;
	u64 seq;

	if (pgoff >= buf->npages)
		return VM_FAULT_SIGBUS;
	udb_around(vmf, buf, &first, &end);

	mutex_lock(&buf->lock);
	state = buf->state;
	if (udb_snapshot_page(buf, pgoff)) {
		udb_take_pages(buf, first, end, pages);
	} else {
		first = pgoff;
		end = pgoff;
		/* before the insert: a publish that follows must zap it */
		if (!write && (state == USERPTR_DMABUF_STATE_FAULT ||
			       state == USERPTR_DMABUF_STATE_DEAD))
			buf->zero_mapped = true;
	}
	seq = buf->mmap_seq;
	mutex_unlock(&buf->lock);
	udb_debug_delay(UDB_DELAY_INSERT);

	if (first == end && (state == USERPTR_DMABUF_STATE_FAULT ||
			     state == USERPTR_DMABUF_STATE_DEAD))
		return udb_insert_zero(vmf, write, state, seq);
	if (first == end)
		return udb_insert_wait(vmf);

	ret = udb_insert_pages(vma, pgoff, write, first, end, pages);
	udb_debug_delay(UDB_DELAY_INSERT);
	if (udb_mmap_seq_changed(buf, seq))
		udb_zap_pfn_range(vma, udb_pgoff_addr(vma, first),
				  (end - first) << PAGE_SHIFT);
	/*
	 * Only now: a refresh may have zapped and dropped cpu_refs[] between
	 * the snapshot read and the insert, and until the zap above these
	 * PTEs may map pages whose only reference is ours.
	 */
	for (i = first; i < end; i++) {
		if (pages[i - first])
			put_page(pages[i - first]);
	}
	return ret;
}

static vm_fault_t udb_vm_fault(struct vm_fault *vmf)
{
	return udb_insert(vmf, vmf->flags & FAULT_FLAG_WRITE);
}

/**
 * udb_mmap_zero_work() - drop the zero pages of a buffer that is still FAULT
 * @work: &udb_buffer.zero_work
 *
 * The next read faults again and retries the refresh.
 *
 * Context: process context (udb_wq), no locks held.
 */
void udb_mmap_zero_work(struct work_struct *work)
{
	struct udb_buffer *buf = container_of(to_delayed_work(work),
					      struct udb_buffer, zero_work);
	unsigned long lo, hi;
	bool zap;

	mutex_lock(&buf->lock);
	zap = buf->zero_mapped && buf->state == USERPTR_DMABUF_STATE_FAULT;
	if (zap)
		buf->zero_mapped = false;	/* they lie in [lo, hi) */
	lo = buf->dirty_lo;
	hi = buf->dirty_hi;
	mutex_unlock(&buf->lock);
	if (zap)
		udb_mmap_zap(buf, lo, hi, true);
}

/**
 * udb_vm_pfn_mkwrite() - first write to a page mapped read-only
 * @vmf: the write fault on a present, read-only PTE
 *
 * Returning 0 makes the PTE that is there (vmf->orig_pte) writable, so
 * this must be sure that PTE maps the snapshot's current page. It may
 * not: a read of a FAULT buffer maps the shared zero page, and a refresh
 * can publish new pages between that read and this write, before its
 * zap reaches the PTE; a page replaced by a refresh is in the same
 * window. Letting either become writable would let this write land in
 * the zero page (every process's zeros) or in a page the owner no longer
 * has. Such a PTE is dropped instead, and the refault maps the right
 * page writable (or SIGBUS when the range is gone).
 *
 * Return: 0 (make writable), VM_FAULT_NOPAGE (PTE dropped, refault) or
 * VM_FAULT_SIGBUS.
 */
static vm_fault_t udb_vm_pfn_mkwrite(struct vm_fault *vmf)
{
	struct udb_buffer *buf = vmf->vma->vm_private_data;
	pgoff_t pgoff = vmf->pgoff;
	struct page *page;
	bool same;

	if (pgoff >= buf->npages)
		return VM_FAULT_SIGBUS;
	mutex_lock(&buf->lock);
	page = udb_snapshot_page(buf, pgoff);
	same = page && pte_present(vmf->orig_pte) &&
	       pte_pfn(vmf->orig_pte) == page_to_pfn(page);
	if (same)
		get_page(page);
	mutex_unlock(&buf->lock);

	if (!same) {
		/* Being refreshed, or an old/zero page: drop the PTE. */
		udb_zap_pfn_range(vmf->vma, vmf->address & PAGE_MASK, PAGE_SIZE);
		return VM_FAULT_NOPAGE;
	}
	udb_dirty_page(page);
	put_page(page);
	return 0;
}

static const struct vm_operations_struct udb_vm_ops = {
	.open = udb_vm_open,
	.close = udb_vm_close,
	.fault = udb_vm_fault,
	.pfn_mkwrite = udb_vm_pfn_mkwrite,
};

/**
 * udb_mmap() - dma_buf_ops.mmap
 * @dmabuf: our buffer
 * @vma: the new mapping; the core checked its size and offset
 *
 * Return: 0, -EINVAL for a private mapping, -EPERM for a writable mapping
 * of a read-only buffer.
 */
int udb_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct udb_buffer *buf = dmabuf->priv;

	/* read-only shared mappings of an O_RDONLY file lose VM_SHARED */
	if (!(vma->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	if (buf->flags & USERPTR_DMABUF_CREATE_READONLY) {
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &udb_vm_ops;
	vma->vm_private_data = buf;
	udb_mmaps_inc(buf);
	return 0;
}

/**
 * udb_mmap_zap() - remove CPU mappings of the dma-buf's pages [lo, hi)
 * @buf: the buffer
 * @lo: first page index
 * @hi: one past the last
 * @force: zap even if no page of the range holds a CPU reference (zero
 *	pages were mapped)
 *
 * Only zaps when one of those pages was mapped: zapping runs the mmu
 * notifiers of every mapper, including (if the owner maps its own dma-buf
 * inside a mirrored range) this buffer's, which would invalidate again.
 * Only while a CPU mapping exists, and holding a file reference: the
 * mapping's inode goes before the buffer does (the dma-buf's dentry is
 * released after its inode), so a refresh that runs while the last
 * mapping and fd are closed must not reach it.
 *
 * Context: process context, no locks held.
 */
void udb_mmap_zap(struct udb_buffer *buf, unsigned long lo, unsigned long hi,
		  bool force)
{
	unsigned long i;
	bool mapped = force;

	mutex_lock(&buf->lock);
	for (i = lo; i < hi && !mapped; i++)
		mapped = buf->cpu_refs[i];
	/* a live mapping holds the file: mmaps drops under this lock first */
	mapped = mapped && atomic_read(&buf->mmaps);
	if (mapped) {
		get_dma_buf(buf->dmabuf);
		buf->mmap_seq++;
	}
	mutex_unlock(&buf->lock);
	if (!mapped)
		return;
	unmap_mapping_range(buf->dmabuf->file->f_mapping,
			    (loff_t)lo << PAGE_SHIFT,
			    (loff_t)(hi - lo) << PAGE_SHIFT, 1);
	dma_buf_put(buf->dmabuf);
}
