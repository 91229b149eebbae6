// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: the buffer object and its HMM mirror of the user range.
 *
 * A buffer keeps a "snapshot": one struct page per buffer page, as the
 * owner's page tables mapped it when the snapshot was published. While no
 * device can reach it (no dynamic attachment), it is like an HMM device
 * page table and holds no page references: an entry is only read under
 * buf->lock while it is valid, and the owner's page tables keep a valid
 * page alive because the notifier runs before they let go of it; CPU
 * mappings of the dma-buf take their own references (cpu_refs, dropped
 * once the refresh has zapped those mappings; a fault takes them for the
 * pages of its fault-around chunk). Reclaim, migration, THP splits and KSM
 * then take the other pages as they would without us.
 *
 * Pages a device can reach are held the way mm expects DMA to hold them:
 * while a dynamic attachment exists, the snapshot holds a FOLL_PIN |
 * FOLL_LONGTERM pin on every page (so no such page sits in ZONE_MOVABLE or
 * CMA), taken by the refresh in process context with the owner's mm and
 * charged to the owner's pinned_vm (udb_pins_charge()); fork() sees the
 * pages as pinned and copies them for the child. Memory GUP refuses such
 * pins for (for writable buffers, shared mappings whose filesystem tracks
 * writes) is kept with page references instead (buf->nopin): a
 * pin held for an attachment's lifetime is what GUP refuses there, while
 * references were always what device mappings of it held. A per-call
 * map_dma_buf() result holds the pages it maps (udb_page_hold()) until it
 * is unmapped; a dynamic attachment's kept mapping borrows the snapshot's
 * pins and holds a page itself only once the snapshot lets it go
 * (udb_devmap.c). When the CPU page tables change, the interval notifier
 * waits for device work already submitted (all dma_resv fences) and marks
 * the affected pages dirty; a pinned snapshot keeps them until the next
 * publish, so map_dma_buf() always has the last published snapshot to
 * serve and never faults or fails for a pending refresh. The refresh
 * re-faults only the dirty pages with hmm_range_fault(), pins them (the
 * refresh worker with the owner's mm adopted, for GUP's lockless walk), and
 * publishes them under the dma_resv lock, notifying importers and adding a
 * KERNEL fence in the same critical section, then drops the replaced pages'
 * pins. A failed refresh drops the pins of the pages it could not replace.
 *
 * Locking, outermost first:
 *
 *   pin_lock      pinned-page set creation/teardown (udb_pin.c); takes
 *                 mmap_lock inside.
 *   refresh_lock  one refresh at a time; protects hmm_pfns. Held across
 *                 mmap_read_lock() and hmm_range_fault().
 *   mmap_lock     of the owner's mm, around hmm_range_fault() and GUP (which
 *                 GUP's lockless walk takes only if it must).
 *   dma_resv      of the dma-buf. The refresh takes it after mmap_lock is
 *                 dropped; map/unmap/pin/unpin/vmap are called with it.
 *   lock          the snapshot and statistics. Also taken by the mmu
 *                 notifier, which can run from reclaim, so while holding
 *                 it: no memory allocation, no fence wait, no mm calls,
 *                 no dma_resv_lock(). Page references may be dropped.
 *
 * The notifier waits for fences without any lock, never takes the
 * dma_resv lock and never calls into importers (that is the refresh's job),
 * which keeps it below fs_reclaim in the order dma_resv_lockdep() primes.
 * Refresh fences are signalled right after the dma_resv lock is released,
 * without taking any lock, so waiting for them under dma_resv is safe.
 * References on the owner's mm (mmget_not_zero()) are dropped with
 * mmput_async(): the last one can be an importer's attach or the refresh
 * worker's while the owner exits, and exit_mmap() (every notifier of that
 * mm) must not run under their locks. The refresh worker holds the
 * dma-buf's file while it runs, so the buffer's release never waits for a
 * refresh (which waits for the owner's faults, for as long as those take).
 */
#include <linux/backing-dev.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/hmm.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/hugetlb_inline.h>
#include <linux/magic.h>
#include <linux/capability.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/shmem_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "udb_internal.h"
#include "udb_trace.h"

/*
 * Postpone a refresh whose retries keep colliding with invalidations for
 * this long after its first full pass (the first pass itself may take as
 * long as faulting the buffer takes), and a fault chunk that does.
 */
#define UDB_REFRESH_TIMEOUT_MS	2000
/*
 * How long a postponed refresh waits before it tries again: doubling from
 * the first to the last while it keeps being postponed.
 */
#define UDB_REFRESH_BACKOFF_MS		20
#define UDB_REFRESH_BACKOFF_MAX_MS	1000

static unsigned long udb_refresh_backoff(const struct udb_buffer *buf)
{
	unsigned int n = min_t(u64, READ_ONCE(buf->postponed_in_row), 6);

	return msecs_to_jiffies(min(UDB_REFRESH_BACKOFF_MS << n,
				    UDB_REFRESH_BACKOFF_MAX_MS));
}

/**
 * udb_queue_refresh() - run the buffer's refresh work
 * @buf: the buffer
 *
 * At once, unless the refresh is postponed: then invalidations, which are
 * what keeps postponing it, do not cut its back-off short.
 *
 * Context: any, including the mmu notifier (takes no sleeping lock).
 */
void udb_queue_refresh(struct udb_buffer *buf)
{
	udb_kcov_note(&buf->kcov_handle);
	if (READ_ONCE(buf->postponed_in_row))
		queue_delayed_work(udb_wq, &buf->refresh_work,
				   udb_refresh_backoff(buf));
	else
		mod_delayed_work(udb_wq, &buf->refresh_work, 0);
}

/* hmm_range_fault() per call, at most: a collision re-faults one chunk. */
#define UDB_FAULT_CHUNK		SZ_2M

/*
 * Whether an invalidation must be refreshed at once: something follows the
 * snapshot (a dynamic attachment, a CPU mapping of the dma-buf, a vmap).
 * Otherwise refreshing would re-fault, for nobody, pages that reclaim just
 * swapped out or writeback just cleaned: the buffer stays STALE until a
 * map, a CPU-mapping fault, an attach, DMA_BUF_IOCTL_SYNC or INFO asks
 * for the snapshot. Under buf->lock.
 */
static bool udb_buffer_wanted(struct udb_buffer *buf)
{
	lockdep_assert_held(&buf->lock);
	return buf->dyn_attachments || atomic_read(&buf->mmaps) ||
	       buf->vmapped;
}

/*
 * Whether notifier calls of the owner's mm go ahead without waiting: the
 * mm is exiting (nobody will read its pages through the CPU again, and
 * every device mapping's pages stay held), or one of its waits timed out
 * less than UDB_FENCE_WAIT_MS ago (jiffies_64: no wrap, on 32-bit too).
 */
static bool udb_skip_device_wait(struct udb_buffer *buf)
{
	u64 until = READ_ONCE(buf->umm->stuck_until);

	if (!atomic_read(&buf->mm->mm_users))
		return true;
	return time_in_range64(get_jiffies_64(),
			       until - msecs_to_jiffies(UDB_FENCE_WAIT_MS),
			       until);
}

/*
 * Wait for all device work on @buf (BOOKKEEP fences), bounded: a fence that
 * never signals (a stuck device, a user's sync_file) must not hang
 * munmap(), reclaim or exit. Memory safety does not depend on this wait,
 * every mapping's pages stay held (by it, or by the snapshot it borrows
 * them from until it holds them itself); coherence does, so a change that
 * goes ahead with device work unfinished is counted. After one wait of the
 * owner mm's buffers timed out, none of them waits again until
 * UDB_FENCE_WAIT_MS have passed (udb_owner.c): an exit over many buffers
 * pays one wait. Those calls neither move that time on nor count unless
 * device work really is unfinished. An exiting mm does not wait at all.
 *
 * Context: mmu notifier, blockable; no locks held; sleeps up to
 * UDB_FENCE_WAIT_MS.
 * Return: true if the change goes ahead with device work unfinished.
 */
static bool udb_wait_device_work(struct udb_buffer *buf)
{
	struct dma_resv *resv = buf->dmabuf->resv;
	struct udb_mm *um = buf->umm;

	if (udb_skip_device_wait(buf))
		return !dma_resv_test_signaled(resv, DMA_RESV_USAGE_BOOKKEEP);
	if (dma_resv_wait_timeout(resv, DMA_RESV_USAGE_BOOKKEEP, false,
				  msecs_to_jiffies(UDB_FENCE_WAIT_MS)) > 0)
		return false;
	WRITE_ONCE(um->stuck_until,
		   get_jiffies_64() + msecs_to_jiffies(UDB_FENCE_WAIT_MS));
	pr_warn_ratelimited("userptr_dmabuf: pid %d: device work still running after %u ms while the CPU mapping changes\n",
			    buf->owner_pid, UDB_FENCE_WAIT_MS);
	return true;
}

/*
 * Whether a CPU change waits for device work on the buffer: only one the
 * owner's own task makes to its own mapping (munmap, madvise, mremap,
 * mprotect, a COW break, fork), which it can order against the device
 * work it submitted. Memory safety never depends on the wait (every page a
 * device can reach is held), and any fd holder can add a fence, so nobody
 * else may be stalled by it: kswapd, compaction, khugepaged and our own
 * refresh worker (kernel threads), anyone's direct reclaim (PF_MEMALLOC),
 * other processes truncating or punching a shared file or using
 * process_madvise(). Writeback's folio_mkclean() of a shared mapping does
 * not wait either, whoever runs it: it write-protects the pages in place
 * (the refresh's write fault dirties them again), and ext4 calls it
 * inside a journal handle.
 */
static bool udb_change_waits(const struct udb_range *r,
			     const struct mmu_notifier_range *range)
{
	if (range->event == MMU_NOTIFY_PROTECTION_PAGE && READ_ONCE(r->shared))
		return false;
	return current->mm == r->buf->mm &&
	       !(current->flags & (PF_KTHREAD | PF_MEMALLOC));
}

/**
 * udb_invalidate() - mmu_interval_notifier_ops.invalidate
 * @mni: the range's notifier
 * @range: the CPU page-table change
 * @cur_seq: sequence to publish with mmu_interval_set_seq()
 *
 * Waits for device work on the buffer (udb_wait_device_work()) if the
 * owner itself makes the change (udb_change_waits()), marks the
 * overlapping pages dirty and queues a refresh if anything follows the
 * snapshot (udb_buffer_wanted()). When the caller cannot
 * block (OOM reaper), gives up with false if it would have to wait.
 *
 * Context: mmu notifier; see the locking rules at the top of the file.
 * Return: true, or false if it would block and may not.
 */
static bool udb_invalidate(struct mmu_interval_notifier *mni,
			   const struct mmu_notifier_range *range,
			   unsigned long cur_seq)
{
	struct udb_range *r = container_of(mni, struct udb_range, notifier);
	struct udb_buffer *buf = r->buf;
	struct dma_resv *resv = buf->dmabuf->resv;
	unsigned long start, end, lo, hi, i;
	bool unfinished, wait, wanted;

	wait = udb_change_waits(r, range);
	if (mmu_notifier_range_blockable(range)) {
		unfinished = wait && udb_wait_device_work(buf);
		mutex_lock(&buf->lock);
		buf->fence_timeouts += unfinished;
	} else {
		if (wait && !dma_resv_test_signaled(resv, DMA_RESV_USAGE_BOOKKEEP))
			return false;
		if (!mutex_trylock(&buf->lock))
			return false;
	}

	mmu_interval_set_seq(mni, cur_seq);

	start = max(range->start, r->start);
	end = min(range->end, r->end);
	lo = r->first + ((start - r->start) >> PAGE_SHIFT);
	hi = r->first + ((end - r->start + PAGE_SIZE - 1) >> PAGE_SHIFT);

	trace_udb_invalidate(buf->ino, lo, hi, range->event,
			     mmu_notifier_range_blockable(range));
	buf->invalidations++;
	if (READ_ONCE(buf->pinset) || buf->vmapped)
		buf->pinned_invalidations++;

	/*
	 * An unpinned snapshot holds no page references: until this notifier
	 * returns the owner's page tables still map (and reference) these
	 * pages. A pinned one keeps them for map_dma_buf() until the refresh
	 * replaces them.
	 */
	if (!buf->kept)
		for (i = lo; i < hi; i++)
			buf->pages[i] = NULL;
	udb_window_extend(&buf->dirty_lo, &buf->dirty_hi, lo, hi);
	udb_window_extend(&buf->refault_lo, &buf->refault_hi, lo, hi);
	if (buf->state == USERPTR_DMABUF_STATE_VALID) {
		WRITE_ONCE(buf->state, USERPTR_DMABUF_STATE_STALE);
		buf->stale_since = ktime_get_ns();
	}
	wanted = udb_buffer_wanted(buf);
	mutex_unlock(&buf->lock);

	if (wanted)
		udb_queue_refresh(buf);
	return true;
}

/* One past the buffer page index of @r's last page. */
static unsigned long udb_range_end(const struct udb_range *r)
{
	return r->first + ((r->end - r->start) >> PAGE_SHIFT);
}

static bool udb_range_overlaps(const struct udb_range *r, unsigned long lo,
			       unsigned long hi)
{
	return r->first < hi && udb_range_end(r) > lo;
}

static const struct mmu_interval_notifier_ops udb_mni_ops = {
	.invalidate = udb_invalidate,
};

/*
 * Tell the dynamic attachments that follow the snapshot to re-map: the
 * core's dma_buf_move_notify() / dma_buf_invalidate_mappings() loop, less
 * the attachments that dma_buf_pin()ned. Those hold the snapshot they
 * pinned (udb_dmabuf.c), which no refresh changes, and to them an
 * invalidation means a revocation (7.x) or is a bug (RDMA's pinned MRs
 * WARN on it). Without dynamic importers every attachment is served the
 * pinned set: nobody is told. Under the dma_resv lock, which protects the
 * attachment list.
 */
static void udb_notify_one(struct dma_buf_attachment *attach)
{
	if (!attach->importer_ops)
		return;
#ifdef UDB_HAVE_INVALIDATE_MAPPINGS
	if (attach->importer_ops->invalidate_mappings)
		attach->importer_ops->invalidate_mappings(attach);
#else
	if (attach->importer_ops->move_notify)
		attach->importer_ops->move_notify(attach);
#endif
}

static void udb_notify_importers(struct udb_buffer *buf)
{
	struct dma_buf_attachment *attach;
	struct udb_attachment *ua;

	if (!UDB_HAVE_DYNAMIC_IMPORTERS)
		return;
	dma_resv_assert_held(buf->dmabuf->resv);
	buf->notify_seq++;
	list_for_each_entry(attach, &buf->dmabuf->attachments, node) {
		ua = attach->priv;
		if (ua->pin_count)
			continue;
		udb_notify_one(attach);
	}
}

/*
 * Memory without struct pages to mirror (VM_IO, VM_PFNMAP) is -EFAULT, as
 * GUP has it. Refused by policy with -EPERM, whatever the access:
 * memfd_secret() memory (GUP refuses it too: it is off the kernel's direct
 * map, which swiotlb bounce buffers, CPU syncs and kmap use, and sharing
 * it is what it exists to prevent), shadow stacks (GUP refuses writes; a
 * CPU mapping of the dma-buf would be an ordinary view of one, writable
 * for a writable buffer) and droppable memory (VM_DROPPABLE, which GUP
 * lets through: it may be freed under memory pressure instead of being
 * swapped, and its contents are not meant for anyone else).
 */
static int udb_vma_refused(struct vm_area_struct *vma)
{
	/* vma_is_secretmem() is not exported: its files have their own fs */
	bool secret = vma->vm_file &&
		      file_inode(vma->vm_file)->i_sb->s_magic == SECRETMEM_MAGIC;

	if (vma->vm_flags & (VM_IO | VM_PFNMAP))
		return -EFAULT;
	if (secret ||
	    (vma->vm_flags & (VM_SHADOW_STACK | VM_DROPPABLE)))
		return -EPERM;
	return 0;
}

/*
 * Every range must be covered by VMAs hmm_range_fault() can mirror. Shared
 * mappings of files are fine for writable buffers too: the refresh faults
 * them for write, so the filesystem's page_mkwrite runs before a device or
 * a CPU mapping of the dma-buf may write a page, and writeback's mkclean
 * invalidates the buffer, whose refresh faults (and dirties) the page again
 * (see udb_dirty_page()). DAX mappings are refused for every buffer: a
 * page reference held for an attachment's lifetime keeps truncate and
 * hole-punch waiting for the page to go idle (dax_break_layout()), which
 * is why GUP refuses FOLL_LONGTERM there. Writable buffers also refuse
 * shared mappings of anything but
 * regular files (device and driver mappings with a page_mkwrite of their
 * own: ring buffers, frame buffers) and of filesystems that need stable
 * pages during writeback (btrfs checksums, dm-integrity): a device may
 * write a page while it is written out. btrfs says so only from 6.15 on
 * (AS_STABLE_WRITES), so it is named. Called at create and by every
 * refresh, under the mmap_lock. Clears *@shared (if given) when a VMA is
 * a private mapping.
 */
int udb_check_vmas(struct mm_struct *mm, unsigned long start,
		   unsigned long end, bool readonly, bool *shared)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	struct file *file;
	int ret;

	while (addr < end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr)
			return -EFAULT;
		ret = udb_vma_refused(vma);
		if (ret)
			return ret;
		if (!(vma->vm_flags & VM_READ))
			return -EACCES;
		if (vma_is_dax(vma))
			return -EOPNOTSUPP;
		file = vma->vm_file;
		if (!readonly) {
			if (!(vma->vm_flags & VM_WRITE))
				return -EACCES;
			if ((vma->vm_flags & VM_SHARED) && file &&
			    !shmem_file(file) && !is_vm_hugetlb_page(vma) &&
			    (!S_ISREG(file_inode(file)->i_mode) ||
			     mapping_stable_writes(file->f_mapping) ||
			     file_inode(file)->i_sb->s_magic ==
			     BTRFS_SUPER_MAGIC))
				return -EOPNOTSUPP;
		}
		if (shared && !(vma->vm_flags & VM_SHARED))
			*shared = false;
		addr = vma->vm_end;
	}
	return 0;
}

/**
 * udb_vma_needs_dirty_tracking() - a shared writable file mapping
 * @vma: a VMA of a writable buffer
 *
 * Whether the filesystem must hear of every write to a page (page_mkwrite)
 * or writes it back: the mappings pin_user_pages(FOLL_LONGTERM | FOLL_WRITE)
 * refuses, which the pinned fallback tells apart with a clear errno.
 *
 * Return: what GUP's vma_needs_dirty_tracking() answers for a shared
 * mapping: true if the mapping wants write notifications (page_mkwrite or
 * pfn_mkwrite, ramfs too) or its file writes back; false for private
 * mappings, shmem and hugetlbfs.
 */
bool udb_vma_needs_dirty_tracking(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *ops = vma->vm_ops;

	if (!(vma->vm_flags & VM_SHARED))
		return false;
	if (ops && (ops->page_mkwrite || ops->pfn_mkwrite))
		return true;
	return vma->vm_file && mapping_can_writeback(vma->vm_file->f_mapping);
}

/**
 * udb_dirty_page() - record a write by a device or a CPU mapping of the buffer
 * @page: a page of the buffer, referenced by the caller
 *
 * Anonymous memory outside the swap cache needs nothing: it is dirtied when
 * it enters it. Memory without writeback (shmem, ramfs, hugetlbfs, swap
 * cache) is marked dirty. A page of a filesystem that writes back is never
 * dirtied here: it is dirty from the refresh's write fault on
 * (page_mkwrite reserved its blocks), and only writeback cleans it, whose
 * mkclean invalidates the buffer; the refresh that queues faults the page
 * for write again, which dirties it the proper way after the cleaning, so
 * writes in the invalidation window reach the next writeback. Dirtying a
 * clean page behind the filesystem's back is the bug long-term pins have
 * (ext4 WARNs, btrfs may lose the data).
 */
void udb_dirty_page(struct page *page)
{
	struct folio *folio = page_folio(page);
	struct address_space *mapping;

	if (folio_test_anon(folio) && !folio_test_swapcache(folio))
		return;
	folio_lock(folio);
	mapping = folio_mapping(folio);
	/* no mapping: truncated, or a vmap's scratch page */
	if (mapping && !mapping_can_writeback(mapping))
		folio_mark_dirty(folio);
	folio_unlock(folio);
}

/*
 * Fault [lo, hi) of @r into buf->hmm_pfns, in chunks of UDB_FAULT_CHUNK:
 * a collision with an invalidation re-faults that chunk only. Whether the
 * whole pass is still good is decided by the caller (the range's seq and
 * the refault window). Called with refresh_lock held.
 */
static int udb_fault_range(struct udb_buffer *buf, struct udb_range *r,
			   unsigned long lo, unsigned long hi)
{
	unsigned long start = r->start + ((lo - r->first) << PAGE_SHIFT);
	unsigned long end = r->start + ((hi - r->first) << PAGE_SHIFT);
	struct hmm_range hr = {
		.notifier = &r->notifier,
		.default_flags = HMM_PFN_REQ_FAULT,
	};
	unsigned long timeout;
	bool shared = true;
	int ret;

	if (!(buf->flags & USERPTR_DMABUF_CREATE_READONLY))
		hr.default_flags |= HMM_PFN_REQ_WRITE;

	for (; start < end; start = hr.end) {
		hr.start = start;
		hr.end = min(end, ALIGN_DOWN(start, UDB_FAULT_CHUNK) +
				  UDB_FAULT_CHUNK);
		hr.hmm_pfns = buf->hmm_pfns + r->first +
			      ((start - r->start) >> PAGE_SHIFT);
		timeout = jiffies + msecs_to_jiffies(UDB_REFRESH_TIMEOUT_MS);
		do {
			if (time_after(jiffies, timeout))
				return -EBUSY;
			if (fatal_signal_pending(current))
				return -EINTR;
			hr.notifier_seq = mmu_interval_read_begin(&r->notifier);
			if (mmap_read_lock_killable(buf->mm))
				return -EINTR;
			/* a MAP_FIXED since create may have put anything here */
			ret = udb_check_vmas(buf->mm, hr.start, hr.end,
					     buf->flags &
					     USERPTR_DMABUF_CREATE_READONLY,
					     &shared);
			if (!ret)
				ret = hmm_range_fault(&hr);
			mmap_read_unlock(buf->mm);
		} while (ret == -EBUSY);
		if (ret)
			return ret;
		cond_resched();
	}
	/* known shared only once every page of the range was looked at */
	if (!shared || (lo == r->first && hi == udb_range_end(r)))
		WRITE_ONCE(r->shared, shared);
	return 0;
}

/*
 * Move the kept snapshot's pages in [lo, hi) to buf->hmm_pfns (as page
 * pointers, 0 for none: refresh_lock is held, no pass uses them) for
 * udb_unpin_stashed(), leaving NULL behind. Under buf->lock.
 */
static void udb_stash_pins(struct udb_buffer *buf, unsigned long lo,
			   unsigned long hi)
{
	unsigned long i;

	lockdep_assert_held(&buf->lock);
	for (i = lo; i < hi; i++) {
		buf->hmm_pfns[i] = buf->kept ? (unsigned long)buf->pages[i] : 0;
		buf->pages[i] = NULL;
	}
}

/*
 * Drop what the snapshot kept of the pages stashed in buf->hmm_pfns (pins,
 * or references if @refs), without buf->lock.
 */
static void udb_unpin_stashed(struct udb_buffer *buf, unsigned long lo,
			      unsigned long hi, bool refs)
{
	struct page *page;
	unsigned long i;

	for (i = lo; i < hi; i++) {
		page = (struct page *)buf->hmm_pfns[i];
		buf->hmm_pfns[i] = 0;
		if (page && refs)
			put_page(page);
		else if (page)
			unpin_user_page(page);
		if (!(i % SZ_1K))
			cond_resched();
	}
}

/*
 * Set the final state after a failed refresh and tell importers. The
 * pages the refresh could not replace lose their snapshot pins (device
 * mappings keep theirs until unmapped); the owner gone, all of them do.
 */
static void udb_refresh_failed(struct udb_buffer *buf, int err)
{
	unsigned long lo, hi;
	bool refs;

	dma_resv_lock(buf->dmabuf->resv, NULL);
	mutex_lock(&buf->lock);
	lo = err == -ENODEV ? 0 : min(buf->dirty_lo, buf->npages);
	hi = err == -ENODEV ? buf->npages : min(buf->dirty_hi, buf->npages);
	refs = buf->kept_refs;
	if (lo < hi)
		udb_stash_pins(buf, lo, hi);
	if (err == -ENODEV)
		WRITE_ONCE(buf->kept, false);
	buf->last_error = err;
	WRITE_ONCE(buf->postponed_in_row, 0);
	buf->refreshes++;
	WRITE_ONCE(buf->state, err == -ENODEV ? USERPTR_DMABUF_STATE_DEAD :
						USERPTR_DMABUF_STATE_FAULT);
	trace_udb_refresh(buf->ino, buf->dirty_lo, buf->dirty_hi,
			  buf->generation, err, 0);
	mutex_unlock(&buf->lock);
	if (lo < hi)
		udb_devmap_changed(buf, lo, hi);
	udb_notify_importers(buf);
	udb_devmap_trim_idle(buf);
	dma_resv_unlock(buf->dmabuf->resv);
	if (lo < hi)
		udb_unpin_stashed(buf, lo, hi, refs);
	wake_up_all(&buf->refreshed);
}

/*
 * The owner's mm is gone. Snapshot pages it had not invalidated yet would
 * still be served to CPU mappings of the dma-buf (DEAD serves nothing:
 * udb_snapshot_page()), so zap those mappings and drop their references.
 */
static void udb_buffer_dead(struct udb_buffer *buf)
{
	unsigned long i;

	udb_refresh_failed(buf, -ENODEV);
	if (atomic_read(&buf->mmaps))
		udb_mmap_zap(buf, 0, buf->npages, true);
	mutex_lock(&buf->lock);
	for (i = 0; i < buf->npages; i++) {
		if (buf->cpu_refs[i]) {
			put_page(buf->cpu_refs[i]);
			buf->cpu_refs[i] = NULL;
		}
	}
	mutex_unlock(&buf->lock);
}

/*
 * Invalidations kept colliding with the refresh (writeback of a large
 * file-backed buffer cleans it folio by folio, or the owner keeps
 * changing its pages: @err -EBUSY), or the pins or the fence found no
 * memory (@err -ENOMEM). The range is not gone, so this is no FAULT (CPU
 * writers of the dma-buf would get SIGBUS): stay STALE, with maps
 * serving the last published snapshot (unpinned buffers: -EAGAIN) and
 * CPU-mapping accesses waiting (udb_mmap.c), and
 * try again after a back-off.
 */
static int udb_refresh_postpone(struct udb_buffer *buf, int err)
{
	unsigned long delay;

	mutex_lock(&buf->lock);
	buf->refreshes++;
	buf->postponed++;
	delay = udb_refresh_backoff(buf);
	WRITE_ONCE(buf->postponed_in_row, buf->postponed_in_row + 1);
	/* for INFO and a waiting attach; a publish clears it */
	if (buf->state == USERPTR_DMABUF_STATE_STALE || err != -EBUSY)
		buf->last_error = err;
	trace_udb_refresh(buf->ino, buf->dirty_lo, buf->dirty_hi,
			  buf->generation, err, 0);
	mutex_unlock(&buf->lock);
	queue_delayed_work(udb_wq, &buf->refresh_work, delay);
	wake_up_all(&buf->refreshed);
	return -EBUSY;
}

/*
 * The pages a pass must fault: on the first pass (or after buf->hmm_pfns
 * was reused, @all) the whole dirty window; on a retry, the pages
 * invalidated since the previous pass began, plus any part of the dirty
 * window that pass did not cover. Pages faulted by an earlier pass of this
 * refresh and not invalidated since are still right (the notifier records
 * every invalidation in the refault window).
 */
static void udb_pass_window(struct udb_buffer *buf, bool all,
			    unsigned long plo, unsigned long phi,
			    unsigned long *flo, unsigned long *fhi)
{
	unsigned long lo = buf->dirty_lo, hi = buf->dirty_hi;

	if (all) {
		*flo = lo;
		*fhi = hi;
		return;
	}
	*flo = max(buf->refault_lo, lo);
	*fhi = min(buf->refault_hi, hi);
	if (lo < plo)
		udb_window_extend(flo, fhi, lo, plo);
	if (hi > phi)
		udb_window_extend(flo, fhi, phi, hi);
}

/* Pages pinned per GUP call by a refresh. */
#define UDB_PIN_CHUNK	64

/*
 * Whether every VMA over the buffer takes FOLL_LONGTERM pins: GUP refuses
 * them for writing to shared mappings whose filesystem must see every
 * write (and for DAX, which udb_check_vmas() refuses before this).
 * A buffer over such memory is mirrored without pins (udb_buffer.c's
 * header); a shorter pin held for an attachment's lifetime would be the
 * same long-term pin in disguise. Called with the owner's mmap_lock.
 */
static bool udb_buffer_pinnable(struct udb_buffer *buf)
{
	bool readonly = buf->flags & USERPTR_DMABUF_CREATE_READONLY;
	struct vm_area_struct *vma;
	unsigned int n;

	for (n = 0; n < buf->nranges; n++) {
		VMA_ITERATOR(vmi, buf->mm, buf->ranges[n].start);

		for_each_vma_range(vmi, vma, buf->ranges[n].end)
			if (!readonly && udb_vma_needs_dirty_tracking(vma))
				return false;
	}
	return true;
}

/*
 * Look at the owner's VMAs again (a MAP_FIXED may have put anything
 * there): buf->nopin says whether the snapshot may be pinned. Every pass,
 * also while nothing is attached dynamically: an attach may come between
 * here and the pass's plan, which then pins on what this found. A VMA
 * change after here invalidates, and the pass retries. Under
 * refresh_lock. Return: false if @nofault found the mmap_lock taken.
 */
static bool udb_check_pinnable(struct udb_buffer *buf, bool nofault)
{
	bool nopin;

	if (!mmget_not_zero(buf->mm))
		return true;
	if (nofault ? !mmap_read_trylock(buf->mm) :
		      mmap_read_lock_killable(buf->mm)) {
		mmput_async(buf->mm);
		return false;
	}
	nopin = !udb_buffer_pinnable(buf);
	mmap_read_unlock(buf->mm);
	mmput_async(buf->mm);
	mutex_lock(&buf->lock);
	WRITE_ONCE(buf->nopin, nopin);
	mutex_unlock(&buf->lock);
	return true;
}

/*
 * Whether an invalidation hit a range overlapping [lo, hi) since the pass
 * sampled its sequence: authoritatively under buf->lock (@locked), which
 * the notifier takes, else as a hint.
 */
static bool udb_pass_collided(struct udb_buffer *buf, unsigned long lo,
			      unsigned long hi, bool locked)
{
	struct mmu_interval_notifier *mni;
	unsigned int n;

	for (n = 0; n < buf->nranges; n++) {
		if (!udb_range_overlaps(&buf->ranges[n], lo, hi))
			continue;
		mni = &buf->ranges[n].notifier;
		if (locked ? mmu_interval_read_retry(mni, buf->ranges[n].seq) :
			     mmu_interval_check_retry(mni, buf->ranges[n].seq))
			return true;
	}
	return false;
}

/* Unpin the refresh's pins of [lo, hi), the pages in buf->hmm_pfns. */
static void udb_unpin_faulted(struct udb_buffer *buf, unsigned long lo,
			      unsigned long hi)
{
	unsigned long i;

	for (i = lo; i < hi; i++) {
		unpin_user_page(hmm_pfn_to_page(buf->hmm_pfns[i]));
		if (!(i % SZ_1K))
			cond_resched();
	}
}

/*
 * Pin @want pages of @r from buffer page @i on, which the pass put in
 * buf->hmm_pfns (@nofault: without faulting, see udb_refresh_inline()).
 * With the owner's mm as current->mm (the worker adopts it, see
 * udb_pin_window()) and @nofault unset, pin_user_pages_fast() first walks
 * the page tables without the mmap_lock or a page-table lock per page; it
 * never faults (the pass faulted them: a userfaultfd handler must not
 * hold up the worker) but takes the mmap_lock itself to migrate for
 * FOLL_LONGTERM. Whatever it does not pin that way (a page gone again,
 * memory protection keys, which it checks against the worker's own
 * rights) is pinned as a remote GUP under the mmap_lock (with @nofault:
 * only if a trylock gets it), which may fault and ignores protection keys,
 * as the pass does.
 * Return: how many were pinned, -EAGAIN if GUP found other
 * pages than the pass (an invalidation came in between), or a GUP errno.
 */
static long udb_pin_chunk(struct udb_buffer *buf, struct udb_range *r,
			  unsigned long i, unsigned long want, bool nofault)
{
	unsigned long addr = r->start + ((i - r->first) << PAGE_SHIFT);
	unsigned int gup = FOLL_LONGTERM | (nofault ? FOLL_NOFAULT : 0);
	struct page *pages[UDB_PIN_CHUNK];
	long got, k;

	if (!(buf->flags & USERPTR_DMABUF_CREATE_READONLY))
		gup |= FOLL_WRITE;
	want = min_t(unsigned long, want, UDB_PIN_CHUNK);
	got = 0;
	if (!nofault && current->mm == buf->mm)
		got = pin_user_pages_fast(addr, want, gup | FOLL_NOFAULT, pages);
	if (got <= 0) {
		if (nofault && !mmap_read_trylock(buf->mm))
			return -EAGAIN;
		if (!nofault && mmap_read_lock_killable(buf->mm))
			return -EINTR;
		got = pin_user_pages_remote(buf->mm, addr, want, gup, pages,
					    NULL);
		mmap_read_unlock(buf->mm);
	}
	if (got <= 0)
		return got ?: -EFAULT;
	for (k = 0; k < got; k++) {
		if (pages[k] != hmm_pfn_to_page(buf->hmm_pfns[i + k])) {
			unpin_user_pages(pages, got);
			return -EAGAIN;
		}
	}
	return got;
}

/*
 * Pin the pages of [lo, hi) the pass found (buf->hmm_pfns), with the
 * owner's mm, as GUP would for DMA: FOLL_LONGTERM first migrates a page
 * out of ZONE_MOVABLE or CMA, which invalidates, and the pass retries.
 * The owner's mmap_lock is taken per chunk, if at all, so the owner's own
 * changes are not held up for the whole buffer. The refresh worker adopts
 * the owner's mm (kthread_use_mm()) for the walk, as the owner's own
 * context has it, so that GUP can take its lockless path
 * (udb_pin_chunk()); nothing else runs with it adopted.
 *
 * Return: 0 with all of them pinned; -EAGAIN (nothing pinned) if they
 * changed meanwhile; -ENODEV, -EINTR or GUP's errno otherwise (-EFAULT
 * for a page that needed a fault, with @nofault).
 */
static int udb_pin_window(struct udb_buffer *buf, unsigned long lo,
			  unsigned long hi, bool nofault)
{
	unsigned long i = lo, end;
	unsigned int n;
	long got = 0;
	bool adopt;

	if (!mmget_not_zero(buf->mm))
		return -ENODEV;
	adopt = !nofault && (current->flags & PF_KTHREAD) && !current->mm;
	if (adopt)
		kthread_use_mm(buf->mm);
	for (n = 0; n < buf->nranges && got >= 0; n++) {
		struct udb_range *r = &buf->ranges[n];

		if (!udb_range_overlaps(r, lo, hi))
			continue;
		end = min(hi, udb_range_end(r));
		for (i = max(i, r->first); i < end; i += got) {
			got = udb_pin_chunk(buf, r, i, end - i, nofault);
			if (got < 0)
				break;
			cond_resched();
		}
	}
	if (adopt)
		kthread_unuse_mm(buf->mm);
	mmput_async(buf->mm);
	if (got >= 0)
		return 0;
	udb_unpin_faulted(buf, lo, i);
	/* a change since the pass faulted, or GUP's own verdict */
	if (got == -EINTR || !udb_pass_collided(buf, lo, hi, false))
		return got;
	return -EAGAIN;
}

/*
 * The last dynamic attachment is gone: the snapshot goes back to holding
 * no pages. Entries outside the dirty window are still mapped by the
 * owner; those inside may not be and are dropped. The charge goes with the
 * last attachment. Under refresh_lock.
 *
 * Return: true if it let the snapshot go. buf->hmm_pfns served as the
 * stash and is all zeroes now: the pass that follows must fault the whole
 * dirty window again, not only what changed since an earlier pass.
 */
static bool udb_snapshot_unpin(struct udb_buffer *buf)
{
	unsigned long i, lo, hi;
	bool refs;

	mutex_lock(&buf->lock);
	if (!buf->dyn_attachments && buf->pins_charged) {
		udb_pins_uncharge(buf, buf->npages);
		buf->pins_charged = false;
	}
	refs = buf->kept_refs;
	if (!buf->kept || buf->dyn_attachments) {
		mutex_unlock(&buf->lock);
		return false;
	}
	lo = min(buf->dirty_lo, buf->npages);
	hi = min(buf->dirty_hi, buf->npages);
	for (i = 0; i < buf->npages; i++) {
		buf->hmm_pfns[i] = (unsigned long)buf->pages[i];
		if (i >= lo && i < hi)
			buf->pages[i] = NULL;
	}
	WRITE_ONCE(buf->kept, false);
	mutex_unlock(&buf->lock);
	udb_unpin_stashed(buf, 0, buf->npages, refs);
	return true;
}

/**
 * udb_pins_charge() - charge pins to the buffer owner's mm
 * @buf: the buffer
 * @npages: pages about to be pinned
 *
 * The one rule for every pin of the module: charged to the owner's
 * mm->pinned_vm (VmPin in /proc/PID/status) and checked against the
 * owner's RLIMIT_MEMLOCK, read now, unless the owner had CAP_IPC_LOCK when
 * it created the buffer (as VFIO and RDMA check the task they charge).
 * Whoever attaches does not lift that limit, and its own is not charged.
 *
 * Context: any; takes no lock.
 * Return: 0, or -ENOMEM over the limit.
 */
int udb_pins_charge(struct udb_buffer *buf, unsigned long npages)
{
	unsigned long limit = task_rlimit(buf->owner, RLIMIT_MEMLOCK) >>
			      PAGE_SHIFT;
	s64 pinned = atomic64_add_return(npages, &buf->mm->pinned_vm);

	if (pinned > limit && !buf->lock_cap) {
		atomic64_sub(npages, &buf->mm->pinned_vm);
		return -ENOMEM;
	}
	return 0;
}

/**
 * udb_pins_uncharge() - undo udb_pins_charge()
 * @buf: the buffer
 * @npages: pages charged
 */
void udb_pins_uncharge(struct udb_buffer *buf, unsigned long npages)
{
	atomic64_sub(npages, &buf->mm->pinned_vm);
}

/*
 * One pass's plan, read under buf->lock: fault [*flo, *fhi), publish
 * [*plo, *phi): the dirty window, or the whole buffer when the pass is the
 * first to keep the snapshot, or the memory changed between pinnable and
 * not (buf->nopin) since it was kept: the pages outside the dirty window
 * are taken from the snapshot, and the old snapshot stays whole, kept the
 * old way, until this pass publishes. Returns whether the pass keeps.
 */
static bool udb_pass_plan(struct udb_buffer *buf, unsigned long *plo,
			  unsigned long *phi)
{
	/* only udb_snapshot_unpin() lets a kept snapshot go */
	bool pin = buf->dyn_attachments || buf->kept;
	unsigned long i;

	*plo = buf->dirty_lo;
	*phi = buf->dirty_hi;
	if (*plo >= *phi)
		*plo = *phi = 0;
	if (!pin || (buf->kept && buf->kept_refs == buf->nopin))
		return pin;
	for (i = 0; i < buf->npages; i++) {
		if (i >= *plo && i < *phi)
			continue;
		if (!buf->pages[i]) {
			/* not expected: fault it, the publish check retries */
			udb_window_extend(&buf->dirty_lo, &buf->dirty_hi, i, i + 1);
			if (buf->state == USERPTR_DMABUF_STATE_VALID)
				WRITE_ONCE(buf->state, USERPTR_DMABUF_STATE_STALE);
			continue;
		}
		buf->hmm_pfns[i] = page_to_pfn(buf->pages[i]) | HMM_PFN_VALID;
	}
	*plo = 0;
	*phi = buf->npages;
	return true;
}

/* Undo udb_publish_lock(): nothing was published. */
static void udb_publish_abort(struct udb_buffer *buf, struct dma_fence *fence)
{
	dma_resv_unlock(buf->dmabuf->resv);
	dma_fence_signal(fence);
	dma_fence_put(fence);
}

/*
 * Attachments whose last dma_buf_unpin() left them on a snapshot older than
 * the current one (udb_dmabuf.c) are told to re-map now, from here rather
 * than from ->unpin, inside the importer's own call.
 */
static void udb_resync_unpinned(struct udb_buffer *buf)
{
	struct dma_buf_attachment *attach;
	struct udb_attachment *ua;

	if (!READ_ONCE(buf->resync))
		return;
	dma_resv_lock(buf->dmabuf->resv, NULL);
	WRITE_ONCE(buf->resync, false);
	list_for_each_entry(attach, &buf->dmabuf->attachments, node) {
		ua = attach->priv;
		if (!ua->resync || ua->pin_count)
			continue;
		ua->resync = false;
		udb_notify_one(attach);
	}
	dma_resv_unlock(buf->dmabuf->resv);
}

/* Allocate the refresh fence, take the dma_resv lock with a slot for it. */
static int udb_publish_lock(struct udb_buffer *buf, struct dma_fence **fence)
{
	int ret;

	*fence = udb_fence_alloc(buf);
	if (!*fence)
		return -ENOMEM;
	dma_resv_lock(buf->dmabuf->resv, NULL);
	ret = dma_resv_reserve_fences(buf->dmabuf->resv, 1);
	if (ret)
		udb_publish_abort(buf, *fence);
	return ret;
}

/*
 * Put the pass's pages of [lo, hi) into the snapshot; @keep: the snapshot
 * keeps them (pinned by the pass, or referenced here when buf->nopin: the
 * notifier sequence was just checked, so the owner still maps them). The
 * pages they replace are left in buf->hmm_pfns for udb_unpin_stashed(),
 * after buf->lock is dropped. Under buf->lock.
 *
 * Return: whether those were kept with references rather than pins.
 */
static bool udb_publish_pages(struct udb_buffer *buf, unsigned long lo,
			      unsigned long hi, bool keep)
{
	bool old_refs = buf->kept_refs;
	unsigned long i;
	struct page *old;

	lockdep_assert_held(&buf->lock);
	WARN_ON_ONCE(buf->kept && !keep);
	for (i = lo; i < hi; i++) {
		old = buf->kept ? buf->pages[i] : NULL;
		buf->pages[i] = hmm_pfn_to_page(buf->hmm_pfns[i]);
		if (keep && buf->nopin)
			get_page(buf->pages[i]);
		buf->hmm_pfns[i] = (unsigned long)old;
	}
	WRITE_ONCE(buf->kept, keep);
	buf->kept_refs = keep && buf->nopin;
	return old_refs;
}

/*
 * One refresh, under refresh_lock. @nofault: only if the snapshot is valid
 * and its pages can be pinned without a fault or a wait for the mmap_lock
 * (udb_refresh_inline()); else -EAGAIN, with nothing published and no
 * pin left (the pinnability check may have refreshed buf->nopin).
 */
static int udb_refresh_locked(struct udb_buffer *buf, bool nofault)
{
	unsigned long deadline = 0, lo = 0, hi = 0, flo, fhi, plo, phi, i;
	struct dma_resv *resv = buf->dmabuf->resv;
	struct dma_fence *fence;
	bool first = true, refault_all, retry, zeros, pin, old_refs;
	unsigned int n;
	u32 state;
	int ret;

	if (!nofault)	/* telling other importers is the worker's */
		udb_resync_unpinned(buf);
again:
	/* the VMAs may have changed, or a dynamic attach come, since */
	if (!udb_check_pinnable(buf, nofault))
		return -EAGAIN;
	refault_all = udb_snapshot_unpin(buf) || first;
	/* invalidations keep colliding with the retries: try again later */
	if (!first && time_after(jiffies, deadline))
		return udb_refresh_postpone(buf, -EBUSY);
	/*
	 * Sequences first: an invalidation that began before them has
	 * finished its notifier call, so it is in the windows read below;
	 * one that begins later makes the pass retry.
	 */
	for (n = 0; n < buf->nranges; n++)
		buf->ranges[n].seq =
			mmu_interval_read_begin(&buf->ranges[n].notifier);
	mutex_lock(&buf->lock);
	udb_pass_window(buf, refault_all, lo, hi, &flo, &fhi);
	lo = buf->dirty_lo;
	hi = buf->dirty_hi;
	buf->refault_lo = 0;
	buf->refault_hi = 0;
	state = buf->state;
	pin = udb_pass_plan(buf, &plo, &phi);
	mutex_unlock(&buf->lock);
	if (state == USERPTR_DMABUF_STATE_DEAD)
		return -ENODEV;
	if (plo >= phi)
		return 0;
	if (nofault && (lo < hi || !pin || buf->nopin))
		return -EAGAIN;

	/* CPU mappings of the dma-buf still show the old pages: zap them. */
	if (lo < hi && atomic_read(&buf->mmaps))
		udb_mmap_zap(buf, lo, hi, false);
	mutex_lock(&buf->lock);
	for (i = lo; i < hi; i++) {
		if (buf->cpu_refs[i] && i >= buf->dirty_lo && i < buf->dirty_hi) {
			put_page(buf->cpu_refs[i]);
			buf->cpu_refs[i] = NULL;
		}
	}
	mutex_unlock(&buf->lock);

	if (!mmget_not_zero(buf->mm)) {
		udb_buffer_dead(buf);
		return -ENODEV;
	}
	udb_debug_delay(UDB_DELAY_REFRESH);
	ret = 0;
	for (n = 0; n < buf->nranges && !ret && flo < fhi; n++) {
		struct udb_range *r = &buf->ranges[n];

		if (udb_range_overlaps(r, flo, fhi))
			ret = udb_fault_range(buf, r, max(flo, r->first),
					      min(fhi, udb_range_end(r)));
	}
	mmput_async(buf->mm);
	if (first)
		deadline = jiffies + msecs_to_jiffies(UDB_REFRESH_TIMEOUT_MS);
	first = false;
	if (!ret && pin && !buf->nopin) {
		ret = udb_pin_window(buf, plo, phi, nofault);
		if (ret && nofault)
			return -EAGAIN;
		if (ret == -EAGAIN)
			goto again;
		/*
		 * LONGTERM migration can fail for now (extra page references):
		 * try again later; the owner's create still sees why.
		 */
		if (ret == -ENOMEM || ret == -EBUSY) {
			udb_refresh_postpone(buf, ret);
			return ret;
		}
		if (ret == -ENODEV) {
			udb_buffer_dead(buf);
			return ret;
		}
		/*
		 * A real refusal: fail the whole window it covered, so that
		 * the FAULT buffer is refreshed again later (a first pin pass
		 * may have had an empty dirty window).
		 */
		if (ret && ret != -EINTR) {
			mutex_lock(&buf->lock);
			udb_window_extend(&buf->dirty_lo, &buf->dirty_hi, plo, phi);
			mutex_unlock(&buf->lock);
		}
	}
	if (ret == -EINTR) {
		/* our caller was killed: the buffer is fine, finish later */
		udb_queue_refresh(buf);
		return ret;
	}
	if (ret == -EBUSY)	/* a fault chunk kept colliding */
		return udb_refresh_postpone(buf, -EBUSY);
	if (ret) {
		udb_refresh_failed(buf, ret);
		return ret;
	}

	ret = udb_publish_lock(buf, &fence);
	if (ret) {	/* -ENOMEM: nothing wrong with the range, try later */
		if (pin && !buf->nopin)
			udb_unpin_faulted(buf, plo, phi);
		if (nofault)
			return -EAGAIN;
		udb_refresh_postpone(buf, ret);
		return ret;
	}

	mutex_lock(&buf->lock);
	retry = buf->dirty_lo != lo || buf->dirty_hi != hi ||
		buf->refault_lo < buf->refault_hi ||
		udb_pass_collided(buf, plo, phi, true);
	if (retry) {
		mutex_unlock(&buf->lock);
		udb_publish_abort(buf, fence);
		if (pin && !buf->nopin)
			udb_unpin_faulted(buf, plo, phi);
		if (nofault)
			return -EAGAIN;
		goto again;
	}
	old_refs = udb_publish_pages(buf, plo, phi, pin);
	WRITE_ONCE(buf->dirty_lo, 0);
	WRITE_ONCE(buf->dirty_hi, 0);
	WRITE_ONCE(buf->state, USERPTR_DMABUF_STATE_VALID);
	buf->last_error = 0;
	WRITE_ONCE(buf->postponed_in_row, 0);
	buf->refreshes++;
	buf->generation++;
	if (nofault)
		WRITE_ONCE(buf->inline_pins, buf->inline_pins + 1);
	/* the notification follows in this same dma_resv critical section */
	if (buf->stale_since)
		buf->last_window_ns = ktime_get_ns() - buf->stale_since;
	buf->stale_since = 0;
	/* zero pages served while FAULT lie in [lo, hi): replace them below */
	zeros = buf->zero_mapped;
	buf->zero_mapped = false;
	trace_udb_refresh(buf->ino, plo, phi, buf->generation, 0,
			  buf->last_window_ns);
	mutex_unlock(&buf->lock);

	udb_devmap_changed(buf, plo, phi);
	udb_notify_importers(buf);
	udb_devmap_trim_idle(buf);
	dma_resv_add_fence(resv, fence, DMA_RESV_USAGE_KERNEL);
	dma_resv_unlock(resv);

	/* Depends on no lock: safe to wait for under dma_resv. */
	udb_debug_delay(UDB_DELAY_SIGNAL);
	dma_fence_signal(fence);
	dma_fence_put(fence);
	udb_unpin_stashed(buf, plo, phi, old_refs);
	if (zeros && lo < hi)
		udb_mmap_zap(buf, lo, hi, true);
	wake_up_all(&buf->refreshed);
	return 0;
}

/**
 * udb_buffer_refresh() - re-fault dirty pages and publish a new snapshot
 * @buf: the buffer
 *
 * Context: process context, no locks held; takes refresh_lock, the owner's
 * mmap_lock (read), then the dma_resv lock.
 * Return: 0 when the snapshot is valid, -EINTR if the caller was killed
 * (the refresh is then queued), or the fault's negative errno.
 */
int udb_buffer_refresh(struct udb_buffer *buf)
{
	int ret;

	/* killable: a refresh stuck in a fault must not hang attach() */
	if (mutex_lock_killable(&buf->refresh_lock))
		return -EINTR;
	ret = udb_refresh_locked(buf, false);
	mutex_unlock(&buf->refresh_lock);
	return ret;
}

static bool udb_buffer_settled(struct udb_buffer *buf)
{
	u32 state = READ_ONCE(buf->state);

	return state == USERPTR_DMABUF_STATE_VALID ||
	       state == USERPTR_DMABUF_STATE_DEAD;
}

/**
 * udb_buffer_settle() - let a pending refresh run, for a bounded time
 * @buf: the buffer
 * @timeout_ms: longest wait
 *
 * For callers that would like a fresh snapshot but must not be held up by
 * the owner: a refresh can take as long as the owner's faults and changes
 * make it (the refresh work goes on after the timeout).
 *
 * Context: process context, no locks held; killable.
 * Return: 0, or -EINTR if a fatal signal ended the wait.
 */
int udb_buffer_settle(struct udb_buffer *buf, unsigned int timeout_ms)
{
	u64 done = READ_ONCE(buf->refreshes);	/* before the state */
	long ret;

	if (udb_buffer_settled(buf))
		return 0;
	udb_queue_refresh(buf);
	ret = wait_event_killable_timeout(buf->refreshed,
					  READ_ONCE(buf->refreshes) != done ||
					  udb_buffer_settled(buf),
					  msecs_to_jiffies(timeout_ms));
	return ret < 0 ? -EINTR : 0;
}

/* Whether a dynamic attach can be served: kept, or the refresh failed. */
static bool udb_buffer_servable(struct udb_buffer *buf)
{
	u32 state = READ_ONCE(buf->state);

	return READ_ONCE(buf->kept) ||
	       state == USERPTR_DMABUF_STATE_FAULT ||
	       state == USERPTR_DMABUF_STATE_DEAD;
}

/* Largest buffer whose owner's attach pins it in its own context. */
#define UDB_INLINE_PIN_PAGES	1024

/*
 * Whether no page of a valid snapshot sits in ZONE_MOVABLE, where
 * FOLL_LONGTERM would migrate it first (waiting for the page's lock and
 * writeback, running the mm's notifiers). A page in a CMA area is migrated
 * too, but modules cannot tell: folio_is_longterm_pinnable() needs
 * unexported pageblock helpers. Reads the snapshot under buf->lock.
 */
static bool udb_snapshot_longterm_ok(struct udb_buffer *buf)
{
	unsigned long i;
	bool ok;

	mutex_lock(&buf->lock);
	ok = buf->state == USERPTR_DMABUF_STATE_VALID && !buf->kept;
	for (i = 0; ok && i < buf->npages; i++)
		ok = buf->pages[i] &&
		     !folio_is_zone_movable(page_folio(buf->pages[i]));
	mutex_unlock(&buf->lock);
	return ok;
}

/*
 * The owner itself attaches (a driver importing its own process's memory
 * into its device): pin a small valid snapshot in its context rather than
 * through a round trip to the worker. Importers may hold locks of their
 * own here (DRM's prime import holds the device's object_name_lock), so
 * this never faults (FOLL_NOFAULT: the owner's FUSE daemon or userfaultfd
 * cannot hold it up), never migrates out of ZONE_MOVABLE (such snapshots
 * are left to the worker; CMA, see above, is the exception), only tries
 * the owner's mmap_lock and refresh_lock,
 * and tells no other importer (a pending resync is the worker's); whatever
 * it cannot do at once is the worker's. What it may wait for: buf->lock
 * and the dma_resv lock, which the core takes in attach too.
 */
static void udb_refresh_inline(struct udb_buffer *buf)
{
	if (current->mm != buf->mm || buf->npages > UDB_INLINE_PIN_PAGES ||
	    READ_ONCE(buf->state) != USERPTR_DMABUF_STATE_VALID ||
	    READ_ONCE(buf->resync) || !udb_snapshot_longterm_ok(buf))
		return;
	if (!mutex_trylock(&buf->refresh_lock))
		return;
	udb_refresh_locked(buf, true);
	mutex_unlock(&buf->refresh_lock);
}

/**
 * udb_buffer_dyn_attach() - account a dynamic attachment
 * @buf: the buffer
 * @timeout_ms: longest wait for the snapshot's pins
 *
 * The first one charges the snapshot's pins (udb_pins_charge()) and has
 * the snapshot pinned: by the refresh worker, which this waits for,
 * killably and for @timeout_ms at most (the owner's faults must not hold
 * up an importer), or right here when the owner itself attaches. So every
 * map of the attachment has a pinned snapshot to serve. A refresh that
 * fails instead is reported at map time.
 *
 * Context: process context, not under the dma_resv lock (the core calls
 * ->attach without it); the owner's own attach may take refresh_lock, its
 * mmap_lock and the dma_resv lock, in that order.
 * Return: 0, -ENOMEM over the owner's RLIMIT_MEMLOCK, -EINTR, or
 * -ETIMEDOUT if the snapshot was not pinned in time.
 */
int udb_buffer_dyn_attach(struct udb_buffer *buf, unsigned int timeout_ms)
{
	long left;
	int ret = 0;

	mutex_lock(&buf->lock);
	if (!buf->pins_charged) {
		ret = udb_pins_charge(buf, buf->npages);
		buf->pins_charged = !ret;
	}
	if (!ret)
		buf->dyn_attachments++;
	mutex_unlock(&buf->lock);
	if (ret)
		return ret;
	if (READ_ONCE(buf->kept))
		return 0;
	udb_refresh_inline(buf);
	if (!udb_buffer_servable(buf))
		udb_queue_refresh(buf);
	left = wait_event_killable_timeout(buf->refreshed,
					   udb_buffer_servable(buf),
					   msecs_to_jiffies(timeout_ms));
	if (left > 0)
		return 0;
	udb_buffer_dyn_detach(buf);
	if (left)
		return -EINTR;
	/* postponed for want of memory rather than by the owner's changes */
	return READ_ONCE(buf->last_error) == -ENOMEM ? -ENOMEM : -ETIMEDOUT;
}

/**
 * udb_buffer_dyn_detach() - undo udb_buffer_dyn_attach()
 * @buf: the buffer
 *
 * After the last one the snapshot's pins and their charge go: here when
 * the owner itself detaches and no refresh is running, else (and for a
 * buffer that is not VALID, to refresh it) in the refresh worker: another
 * process's detach does not pay for the owner's buffer.
 *
 * Context: any process context; takes buf->lock, tries refresh_lock.
 */
void udb_buffer_dyn_detach(struct udb_buffer *buf)
{
	bool last;

	mutex_lock(&buf->lock);
	last = !--buf->dyn_attachments;
	mutex_unlock(&buf->lock);
	if (!last)
		return;
	/* the owner's, with no refresh running: let the pins go now */
	if (current->mm == buf->mm && mutex_trylock(&buf->refresh_lock)) {
		udb_snapshot_unpin(buf);
		mutex_unlock(&buf->refresh_lock);
		if (READ_ONCE(buf->state) == USERPTR_DMABUF_STATE_VALID)
			return;
	}
	/* the worker does, and refreshes what is not valid */
	udb_kcov_note(&buf->kcov_handle);
	mod_delayed_work(udb_wq, &buf->refresh_work, 0);
}

/*
 * A reference on the buffer's dma-buf file for its refresh work, or NULL
 * if the release is under way (it cancels the work). The file can be
 * freed before the release runs (dma-buf releases from its dentry), and
 * its slot reused: a file that is not this dma-buf's is not taken.
 */
static struct file *udb_refresh_file(struct udb_buffer *buf)
{
	struct file *file = get_file_active(&buf->dmabuf->file);

	if (file && file->private_data != buf->dmabuf) {
		fput(file);
		return NULL;
	}
	return file;
}

/*
 * The work holds the dma-buf while it runs, so the buffer's release never
 * waits for a refresh: a fault can take as long as the owner's file server
 * or userfaultfd handler makes it. When the work holds the only reference
 * (every fd, CPU mapping, vmap and importer holds one) nobody can use the
 * snapshot: the release, which drops whatever it keeps, follows at once.
 * In both cases (the release may also wait for whoever holds the dma-buf's
 * dentry) a slot handed to the buffer goes on to the next waiter.
 */
static void udb_refresh_work(struct work_struct *work)
{
	struct udb_buffer *buf = container_of(to_delayed_work(work),
					      struct udb_buffer, refresh_work);
	struct file *file;
	bool kcov;

	/* nobody can use the buffer again: no slot waits for it */
	file = udb_refresh_file(buf);
	if (!file) {
		udb_user_refresh_forget(buf);
		return;
	}
	if (file_count(file) == 1) {
		udb_user_refresh_forget(buf);
		goto out;
	}
	/* the owner has enough refreshes running: queued again after one */
	if (!udb_user_refresh_begin(buf))
		goto out;
	/* traced as coverage of the task that asked for it, if it traces */
	kcov = udb_kcov_remote_start(READ_ONCE(buf->kcov_handle), false);
	udb_buffer_refresh(buf);
	udb_kcov_remote_stop(kcov);
	udb_user_refresh_end(buf);
out:
	/* the last one releases from delayed_fput, not from this worker */
	fput(file);
}

static int udb_check_ranges(const struct userptr_dmabuf_range *ranges,
			    unsigned int nranges, size_t max_size,
			    unsigned long *npages)
{
	u64 total = 0, end_i, end_j;
	unsigned int i, j;

	for (i = 0; i < nranges; i++) {
		const struct userptr_dmabuf_range *r = &ranges[i];

		if (!r->size || !PAGE_ALIGNED(r->addr) || !PAGE_ALIGNED(r->size))
			return -EINVAL;
		if (check_add_overflow(r->addr, r->size, &end_i))
			return -EINVAL;
		if (check_add_overflow(total, r->size, &total) ||
		    total > max_size)
			return -E2BIG;
		if (end_i > TASK_SIZE)
			return -EFAULT;
		for (j = 0; j < i; j++) {
			end_j = ranges[j].addr + ranges[j].size;
			if (r->addr < end_j && ranges[j].addr < end_i)
				return -EINVAL;
		}
	}
	*npages = total >> PAGE_SHIFT;
	return 0;
}

/**
 * udb_buffer_create() - mirror user ranges and export them as a dma-buf
 * @ranges: the ranges, in buffer order (already copied from userspace)
 * @nranges: how many, at least one
 * @flags: USERPTR_DMABUF_CREATE_*
 * @max_size: the size limit in bytes
 * @out: the new buffer, whose dma-buf holds the only reference
 *
 * Context: process context of the owner, no locks held.
 * Return: 0 or a negative errno: -EINVAL for misaligned, empty, wrapping
 * or overlapping ranges, -E2BIG over the size limit, -EMFILE over the
 * per-user buffer limit, -ENOMEM over the per-user byte limit or without
 * memory, -EFAULT for holes, VM_IO or VM_PFNMAP, -EPERM for memfd_secret(),
 * shadow-stack or droppable memory, -EACCES for missing permissions,
 * -EOPNOTSUPP for DAX or for a writable buffer over an unsupported shared
 * mapping.
 */
int udb_buffer_create(const struct userptr_dmabuf_range *ranges,
		      unsigned int nranges, u32 flags, size_t max_size,
		      struct udb_buffer **out)
{
	struct mm_struct *mm = current->mm;
	bool readonly = flags & USERPTR_DMABUF_CREATE_READONLY;
	struct udb_buffer *buf;
	unsigned long npages;
	pgoff_t first = 0;
	unsigned int i;
	uid_t uid;
	int ret;

	if (!mm)
		return -EINVAL;
	ret = udb_check_ranges(ranges, nranges, max_size, &npages);
	if (ret)
		return ret;

	ret = mmap_read_lock_killable(mm);
	if (ret)
		return ret;
	for (i = 0; i < nranges && !ret; i++)
		ret = udb_check_vmas(mm, ranges[i].addr,
				     ranges[i].addr + ranges[i].size, readonly,
				     NULL);
	mmap_read_unlock(mm);
	if (ret)
		return ret;

	uid = from_kuid(&init_user_ns, current_uid());
	ret = udb_user_charge(uid, (u64)npages << PAGE_SHIFT);
	if (ret)
		return ret;
	buf = kzalloc(sizeof(*buf), GFP_KERNEL_ACCOUNT);
	if (!buf) {
		udb_user_uncharge(uid, (u64)npages << PAGE_SHIFT);
		return -ENOMEM;
	}
	buf->uid = uid;
	buf->npages = npages;
	buf->umm = udb_mm_get(mm);
	buf->ranges = kcalloc(nranges, sizeof(*buf->ranges),
			      GFP_KERNEL_ACCOUNT);
	buf->pages = kvcalloc(npages, sizeof(*buf->pages), GFP_KERNEL_ACCOUNT);
	buf->cpu_refs = kvcalloc(npages, sizeof(*buf->cpu_refs),
				 GFP_KERNEL_ACCOUNT);
	buf->hmm_pfns = kvcalloc(npages, sizeof(*buf->hmm_pfns),
				 GFP_KERNEL_ACCOUNT);
	if (!buf->umm || !buf->ranges || !buf->pages || !buf->cpu_refs ||
	    !buf->hmm_pfns) {
		if (buf->umm)
			udb_mm_put(buf->umm);
		kfree(buf->ranges);
		kvfree(buf->pages);
		kvfree(buf->cpu_refs);
		kvfree(buf->hmm_pfns);
		kfree(buf);
		udb_user_uncharge(uid, (u64)npages << PAGE_SHIFT);
		return -ENOMEM;
	}

	INIT_LIST_HEAD(&buf->debugfs_node);
	INIT_LIST_HEAD(&buf->slot_node);
	mutex_init(&buf->lock);
	mutex_init(&buf->refresh_lock);
	mutex_init(&buf->pin_lock);
	INIT_DELAYED_WORK(&buf->refresh_work, udb_refresh_work);
	INIT_DELAYED_WORK(&buf->zero_work, udb_mmap_zero_work);
	init_waitqueue_head(&buf->refreshed);
	buf->fence_context = dma_fence_context_alloc(1);
	atomic_set(&buf->mmaps, 0);
	mmgrab(mm);
	buf->mm = mm;
	buf->owner = get_task_struct(current->group_leader);
	buf->lock_cap = ns_capable_noaudit(&init_user_ns, CAP_IPC_LOCK);
	buf->owner_pid = task_tgid_nr(current);
	buf->flags = flags;
	buf->size = (size_t)npages << PAGE_SHIFT;
	buf->dirty_lo = 0;
	buf->dirty_hi = npages;
	buf->state = USERPTR_DMABUF_STATE_STALE;
	for (i = 0; i < nranges; i++) {
		buf->ranges[i].buf = buf;
		buf->ranges[i].start = ranges[i].addr;
		buf->ranges[i].end = ranges[i].addr + ranges[i].size;
		buf->ranges[i].first = first;
		first += ranges[i].size >> PAGE_SHIFT;
	}

	/* From here on, the dma-buf's release tears the buffer down. */
	ret = udb_dmabuf_export(buf);
	if (ret) {
		udb_buffer_destroy(buf);
		return ret;
	}

	for (i = 0; i < nranges; i++) {
		struct udb_range *r = &buf->ranges[i];

		ret = mmu_interval_notifier_insert(&r->notifier, mm, r->start,
						   r->end - r->start,
						   &udb_mni_ops);
		if (ret)
			goto err_put;
		buf->nranges = i + 1;
	}

	ret = udb_buffer_refresh(buf);
	if (ret)
		goto err_put;

	udb_debugfs_add(buf);
	trace_udb_create(buf->ino, buf->owner_pid, buf->ranges[0].start,
			 npages, nranges, flags);
	*out = buf;
	return 0;

err_put:
	dma_buf_put(buf->dmabuf);
	return ret;
}

/**
 * udb_buffer_destroy() - tear down a buffer whose dma-buf is being released
 * @buf: the buffer; no attachment, mapping, pin or mmap is left
 *
 * Context: process context, no locks held.
 */
void udb_buffer_destroy(struct udb_buffer *buf)
{
	unsigned long i;
	unsigned int n;

	udb_debugfs_remove(buf);
	/* No notifier runs after this, so no refresh is queued after it. */
	for (n = 0; n < buf->nranges; n++)
		mmu_interval_notifier_remove(&buf->ranges[n].notifier);
	/* no slot is handed to it after this; one it was handed goes on */
	udb_user_refresh_forget(buf);
	/* a running refresh would hold the dma-buf: this one finds none */
	cancel_delayed_work_sync(&buf->refresh_work);
	/* no CPU mapping is left to fault and queue it again */
	cancel_delayed_work_sync(&buf->zero_work);

	WARN_ON(buf->pinset || buf->vmap_pages || buf->dyn_attachments ||
		!list_empty(&buf->devmaps));
	if (buf->pins_charged)
		udb_pins_uncharge(buf, buf->npages);
	for (i = 0; i < buf->npages; i++) {
		if (!(i % 4096))	/* maybe in the deferred-fput work */
			cond_resched();
		if (buf->cpu_refs[i])
			put_page(buf->cpu_refs[i]);
		/* the last detach queued the unpinning; it may not have run */
		if (buf->kept && buf->kept_refs && buf->pages[i])
			put_page(buf->pages[i]);
		else if (buf->kept && buf->pages[i])
			unpin_user_page(buf->pages[i]);
	}
	/* before the mm can be freed and its address reused for another */
	udb_mm_put(buf->umm);
	mmdrop(buf->mm);
	put_task_struct(buf->owner);
	mutex_destroy(&buf->lock);
	mutex_destroy(&buf->refresh_lock);
	mutex_destroy(&buf->pin_lock);
	kvfree(buf->hmm_pfns);
	kvfree(buf->cpu_refs);
	kvfree(buf->pages);
	kfree(buf->ranges);
	udb_user_uncharge(buf->uid, buf->size);
	kfree(buf);
}

/**
 * udb_buffer_info() - fill the statistics of USERPTR_DMABUF_IOC_INFO
 * @buf: the buffer
 * @info: out; @info->fd is left alone
 * @nowait: leave @info->attachments and @info->pinned_pages alone rather
 *	than wait for the dma_resv lock (an importer may hold it for long)
 *
 * Context: process context; takes buf->lock, then the dma_resv lock.
 * Return: false if @nowait found the dma_resv lock taken.
 */
bool udb_buffer_info(struct udb_buffer *buf, struct userptr_dmabuf_info *info,
		     bool nowait)
{
	struct udb_pinset *ps;

	mutex_lock(&buf->lock);
	info->state = buf->state;
	info->size = buf->size;
	info->flags = buf->flags;
	info->nranges = buf->nranges;
	info->generation = buf->generation;
	info->invalidations = buf->invalidations;
	info->pinned_invalidations = buf->pinned_invalidations;
	info->fence_timeouts = buf->fence_timeouts;
	info->last_window_ns = buf->last_window_ns;
	info->last_error = buf->last_error;
	mutex_unlock(&buf->lock);

	info->mmaps = atomic_read(&buf->mmaps);
	/* the core keeps the attachment list under dma_resv, as we do pinset */
	if (!nowait)
		dma_resv_lock(buf->dmabuf->resv, NULL);
	else if (!dma_resv_trylock(buf->dmabuf->resv))
		return false;
	ps = buf->pinset;
	info->pinned_pages = ps ? ps->npages : 0;
	info->attachments = list_count_nodes(&buf->dmabuf->attachments);
	dma_resv_unlock(buf->dmabuf->resv);
	return true;
}
