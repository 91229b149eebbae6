// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: the pinned fallback for importers that cannot follow
 * invalidations (static importers, importers that call dma_buf_pin(), every
 * importer on kernels without CONFIG_DMABUF_MOVE_NOTIFY) and for vmap.
 *
 * The whole buffer is pinned with pin_user_pages_remote(FOLL_LONGTERM) on
 * the owner's mm, charged and checked as every pin of the module is
 * (udb_pins_charge(): the owner's pinned_vm against its RLIMIT_MEMLOCK).
 * ->pin runs under the dma_resv lock, where mmap_lock may not be taken, so
 * the pages are pinned earlier, in ->attach, and the pin set is shared by
 * all attachments that need it (a vmap takes its own page references). A
 * CPU page-table change does not move pinned pages; the notifier counts it
 * in pinned_invalidations.
 *
 * Locking: pin_lock serialises creation and teardown and is taken before
 * mmap_lock; buf->pinset is written with both pin_lock and the dma_resv
 * lock held, so either is enough to read it.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "udb_internal.h"
#include "udb_trace.h"

/*
 * GUP refuses long-term write pins of shared file mappings with -EFAULT,
 * since the filesystem could no longer track the pages' dirty state; the
 * dynamic path serves them. Tell importers that need pins why.
 */
static int udb_pin_check(struct mm_struct *mm, unsigned long start,
			 unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;

	for_each_vma_range(vmi, vma, end)
		if (udb_vma_needs_dirty_tracking(vma))
			return -EOPNOTSUPP;
	return 0;
}

/*
 * Whether only anonymous memory backs [start, end): the only memory whose
 * faults an importer may run (the unshare of a page shared after fork(),
 * a swap-in), as nothing a user controls can hold them up: userfaultfd
 * gets no retry from remote GUP and fails the fault, and no file server
 * is involved.
 */
static bool udb_pin_anonymous(struct mm_struct *mm, unsigned long start,
			      unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;

	for_each_vma_range(vmi, vma, end)
		if (!vma_is_anonymous(vma))
			return false;
	return true;
}

/*
 * Pin what the refresh worker faulted (@nofault: FOLL_NOFAULT): the caller
 * is an importer, which must not run the owner's page faults (a FUSE
 * server that never answers would hang it). Without @nofault only over
 * anonymous memory (udb_pin_anonymous()), else -EAGAIN. The same VMAs as
 * for a refresh are refused, whatever GUP itself allows.
 */
static int udb_pin_pages(struct udb_buffer *buf, struct udb_pinset *ps,
			 bool nofault)
{
	unsigned int gup = FOLL_LONGTERM | (nofault ? FOLL_NOFAULT : 0);
	unsigned long done = 0, want;
	unsigned int n;
	long got;
	int ret = 0;

	if (!(buf->flags & USERPTR_DMABUF_CREATE_READONLY))
		gup |= FOLL_WRITE;
	if (!mmget_not_zero(buf->mm))
		return -ENODEV;
	ret = mmap_read_lock_killable(buf->mm);
	if (ret)
		goto out_mmput;
	for (n = 0; n < buf->nranges && !ret; n++) {
		struct udb_range *r = &buf->ranges[n];
		unsigned long addr = r->start;

		ret = udb_check_vmas(buf->mm, r->start, r->end,
				     !(gup & FOLL_WRITE), NULL);
		if (!ret && (gup & FOLL_WRITE))
			ret = udb_pin_check(buf->mm, r->start, r->end);
		if (!ret && !nofault &&
		    !udb_pin_anonymous(buf->mm, r->start, r->end))
			ret = -EAGAIN;
		while (!ret && addr < r->end) {
			want = (r->end - addr) >> PAGE_SHIFT;
			got = pin_user_pages_remote(buf->mm, addr, want, gup,
						    ps->pages + done, NULL);
			if (got <= 0) {
				/* a page the refresh faulted is gone again */
				ret = !got || got == -EFAULT ? -EAGAIN : got;
				break;
			}
			done += got;
			addr += got << PAGE_SHIFT;
		}
	}
	mmap_read_unlock(buf->mm);
	if (ret)
		unpin_user_pages(ps->pages, done);
out_mmput:
	mmput_async(buf->mm);
	return ret;
}

/**
 * udb_pinset_get() - take a reference on the buffer's pinned pages
 * @buf: the buffer
 *
 * Pins the whole buffer the first time, as the refresh worker faulted it:
 * the caller has let a pending refresh run (udb_buffer_settle()).
 *
 * Context: process context, no dma_resv lock held; takes pin_lock
 * (killable), the owner's mmap_lock, then the dma_resv lock.
 * Return: the pin set, or ERR_PTR(-ENOMEM) over the owner's RLIMIT_MEMLOCK
 * or without memory, ERR_PTR(-EAGAIN) if a page is not faulted in (the
 * refresh is still running, or the owner changed the range since),
 * ERR_PTR(-EINTR) if killed, ERR_PTR(-EPERM) or -EFAULT for VMAs a buffer
 * may not mirror, ERR_PTR(-ENODEV) if the owner is gone, ERR_PTR(-EOPNOTSUPP) for
 * a writable buffer over a shared file mapping (which only dynamic
 * importers can use), or a GUP errno.
 */
struct udb_pinset *udb_pinset_get(struct udb_buffer *buf)
{
	struct udb_pinset *ps;
	int ret;

	if (mutex_lock_killable(&buf->pin_lock))
		return ERR_PTR(-EINTR);
	ps = buf->pinset;
	if (ps) {
		kref_get(&ps->ref);
		goto out;
	}

	ps = kvzalloc(struct_size(ps, pages, buf->npages), GFP_KERNEL_ACCOUNT);
	if (!ps) {
		ps = ERR_PTR(-ENOMEM);
		goto out;
	}
	kref_init(&ps->ref);
	ps->buf = buf;
	ps->npages = buf->npages;

	ret = udb_pins_charge(buf, ps->npages);
	if (ret) {
		trace_udb_pin(buf->ino, ps->npages, true, ret);
		kvfree(ps);
		ps = ERR_PTR(ret);
		goto out;
	}
	ret = udb_pin_pages(buf, ps, true);
	/*
	 * Every page was there at the last publish, yet one still needs a
	 * fault: a read-only pin of an anonymous page shared after fork()
	 * must be unshared (a copy, no I/O; the refresh faults for reading
	 * and does not). Only over anonymous memory: the owner may have
	 * dropped a file page again since, and its fault may never return.
	 */
	if (ret == -EAGAIN &&
	    READ_ONCE(buf->state) == USERPTR_DMABUF_STATE_VALID) {
		udb_debug_delay(UDB_DELAY_PIN);
		ret = udb_pin_pages(buf, ps, false);
	}
	trace_udb_pin(buf->ino, ps->npages, true, ret);
	if (ret)
		goto err_unaccount;

	dma_resv_lock(buf->dmabuf->resv, NULL);
	buf->pinset = ps;
	dma_resv_unlock(buf->dmabuf->resv);
	goto out;

err_unaccount:
	udb_pins_uncharge(buf, ps->npages);
	kvfree(ps);
	ps = ERR_PTR(ret);
out:
	mutex_unlock(&buf->pin_lock);
	return ps;
}

static void udb_pinset_release(struct kref *ref)
{
	struct udb_pinset *ps = container_of(ref, struct udb_pinset, ref);
	struct udb_buffer *buf = ps->buf;

	dma_resv_lock(buf->dmabuf->resv, NULL);
	buf->pinset = NULL;
	dma_resv_unlock(buf->dmabuf->resv);

	trace_udb_pin(buf->ino, ps->npages, false, 0);
	unpin_user_pages_dirty_lock(ps->pages, ps->npages,
				    !(buf->flags & USERPTR_DMABUF_CREATE_READONLY));
	udb_pins_uncharge(buf, ps->npages);
	kvfree(ps);
}

/**
 * udb_pinset_put() - drop a reference taken by udb_pinset_get()
 * @ps: the pin set
 *
 * Context: process context, no dma_resv lock held; may take pin_lock and
 * the dma_resv lock.
 */
void udb_pinset_put(struct udb_pinset *ps)
{
	struct udb_buffer *buf = ps->buf;

	if (kref_put_mutex(&ps->ref, udb_pinset_release, &buf->pin_lock))
		mutex_unlock(&buf->pin_lock);
}
