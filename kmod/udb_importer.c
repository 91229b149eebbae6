// SPDX-License-Identifier: GPL-2.0
/*
 * udb_importer: a reference importer of dynamic dma-bufs.
 *
 * A virtual DMA device (a platform device with a 64-bit DMA mask, the
 * default 64 KiB segment limit, no IOMMU) that imports dma-bufs the way a
 * driver should:
 *
 *  - dynamic attachments register invalidate_mappings (move_notify on
 *    6.12); the callback runs with the dma_resv lock held and drops the
 *    attachment's reference on its mapping at once, so the exporter's pages
 *    are released as early as possible (at once when no job uses them);
 *  - before using a mapping, the importer (re)maps under the dma_resv lock
 *    and waits for the exporter's DMA_RESV_USAGE_KERNEL fences;
 *  - a map error is final (no polling): the exporter serves its last
 *    published snapshot while it refreshes and notifies again when done;
 *  - attachments made with UDB_IMPORTER_ATTACH_PIN are dynamic and call
 *    dma_buf_pin() right after attaching, as scanout and RDMA pinned MRs
 *    do: their mapping is never invalidated;
 *  - static attachments map once and keep the (pinned) mapping.
 *
 * The "device" moves bytes through the mapping: it turns each DMA address
 * back into a page (dma == phys with dma-direct and a 64-bit mask: no
 * bounce buffers) and brackets the CPU access with
 * dma_sync_sgtable_for_cpu()/_for_device(), as hardware would need.
 * COPY does that synchronously in the ioctl; SUBMIT queues a job to the
 * device's thread and returns a sync_file for the job's fence, which is in
 * the dma-buf's dma_resv (WRITE for FILL/COPY, READ for CHECKSUM) before
 * the ioctl returns. Both wait for the exporter's KERNEL fences before
 * using a mapping (the _VMAP copies use no mapping: dma_buf_vmap() under
 * the dma_resv lock serves what is published); neither waits for other
 * fences (a COPY is not ordered after queued jobs: userspace waits for
 * their sync_files when it needs that).
 *
 * Mappings are refcounted (struct imp_mapping): the attachment holds one
 * reference while the mapping is current, every job one until it ends.
 * Invalidation only drops the attachment's; the last put unmaps. A job
 * therefore finishes on the mapping it was submitted with; if an
 * invalidation arrived first (the exporter's notifier waits for our
 * fences, so only after its 5 s fence timeout, or for a move that does not
 * come from the CPU page tables) the job is recorded STALE.
 *
 * One fence context per open file; the thread runs all files' jobs in
 * submission order, so each file's fences signal in seqno order (the
 * dma_resv replaces a context's fence by its later ones). Closing the file
 * marks its queued jobs cancelled; the thread still finishes them in order.
 *
 * A job's fence never depends on mapping the buffer again: the mapping is
 * taken and the exporter's KERNEL fences are waited for before the fence is
 * published, and the thread only sleeps (the job's delay), touches mapped
 * pages and takes spinlocks until it signals. Everything that may block on
 * dma_resv (the last put of a mapping) comes after the signal, and uses
 * dma_resv_trylock() there, else a work item.
 *
 * Locking:
 *  - imp_file.lock (mutex) serialises a file's ioctls except JOB, so a
 *    handle in use by COPY or SUBMIT cannot be detached under it.
 *    Order: imp_file.lock -> dma_resv -> imp_file.jlock / imp_queue_lock.
 *  - dma_resv of the dma-buf protects imp_attachment.map, .maps,
 *    .invalidations, and the last put of an imp_mapping (the unmap).
 *    imp_mapping.invalidated is written under it and read locklessly.
 *  - imp_file.jlock (spinlock) protects the file's in-flight list and
 *    count, its attachments' job counts, the job states and the ring of
 *    finished records; it is the lock the DETACH and release waits check.
 *  - imp_queue_lock (spinlock) protects the device's job queue.
 *  - The job thread takes imp_queue_lock and imp_file.jlock (never
 *    nested), and dma_resv only by trylock after signalling; the put work
 *    takes dma_resv. Neither takes imp_file.lock or touches user memory.
 *  - User memory is only touched with no dma_resv lock held (a user page
 *    fault takes mmap_lock, which orders before dma_resv).
 */
#include <linux/capability.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/iosys-map.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sync_file.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "compat.h"
#include "udb_importer.h"

/* Most bytes one copy moves. */
#define IMP_MAX_COPY	(64UL << 20)
/* The job thread's bounce buffer for COPY jobs. */
#define IMP_BOUNCE_SIZE	(64UL << 10)

static struct platform_device *imp_pdev;

struct imp_attachment;

/**
 * struct imp_mapping - one dma_buf_map_attachment() result
 * @ref: the attachment's reference while current, plus one per job
 * @ia: the attachment it belongs to
 * @sgt: the exporter's table
 * @dir: the direction @sgt is DMA-mapped with, which the syncs must name:
 *	the attachment's, except for a table 6.12's core mapped at attach
 * @seq: the attachment's map counter when it was made (1, 2, ...)
 * @invalidated: the exporter invalidated it (set under dma_resv)
 */
struct imp_mapping {
	refcount_t ref;
	struct imp_attachment *ia;
	struct sg_table *sgt;
	enum dma_data_direction dir;
	u64 seq;
	bool invalidated;
};

/**
 * struct imp_attachment - one imported dma-buf
 * @dmabuf: reference taken at attach
 * @attach: the attachment
 * @map: current mapping or NULL (under the dma_resv lock)
 * @dir: DMA_TO_DEVICE for read-only attachments, else DMA_BIDIRECTIONAL
 * @dynamic: attached with invalidate_mappings
 * @pinned: dma_buf_pin()ned from attach until detach
 * @maps: successful maps
 * @invalidations: notifications received (under the dma_resv lock)
 * @jobs: jobs that hold a mapping of it (under imp_file.jlock)
 */
struct imp_attachment {
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct imp_mapping *map;
	enum dma_data_direction dir;
	bool dynamic;
	bool pinned;
	u64 maps;
	u64 invalidations;
	unsigned int jobs;
};

/* The last reference is gone: unmap. */
static void imp_mapping_put_locked(struct imp_mapping *m)
{
	struct imp_attachment *ia = m->ia;

	dma_resv_assert_held(ia->dmabuf->resv);
	if (!refcount_dec_and_test(&m->ref))
		return;
	dma_buf_unmap_attachment(ia->attach, m->sgt, ia->dir);
	kfree(m);
}

/**
 * imp_invalidate() - invalidate_mappings / move_notify of our attachments
 * @attach: the attachment whose mapping became invalid
 *
 * Jobs that still use the mapping keep it until they end.
 *
 * Context: dma_resv lock held by the exporter.
 */
static void imp_invalidate(struct dma_buf_attachment *attach)
{
	struct imp_attachment *ia = attach->importer_priv;
	struct imp_mapping *m = ia->map;

	dma_resv_assert_held(attach->dmabuf->resv);
	ia->invalidations++;
	if (m) {
		ia->map = NULL;
		WRITE_ONCE(m->invalidated, true);
		imp_mapping_put_locked(m);
	}
}

static const struct dma_buf_attach_ops imp_attach_ops = {
	.allow_peer2peer = false,
#ifdef UDB_HAVE_INVALIDATE_MAPPINGS
	.invalidate_mappings = imp_invalidate,
#else
	.move_notify = imp_invalidate,
#endif
};

/*
 * Make sure @ia has a usable mapping, after the exporter's KERNEL fences.
 * Returns with the dma_resv lock held on success; *@fresh tells whether
 * this call made the mapping. A map error is final: the exporter serves
 * its last published snapshot while it refreshes, so there is nothing to
 * retry.
 */
static int imp_map_locked(struct imp_attachment *ia, bool *fresh)
{
	struct dma_resv *resv = ia->dmabuf->resv;
	struct imp_mapping *m = NULL;
	struct sg_table *sgt;
	long wait;
	int ret;

	*fresh = false;
	ret = dma_resv_lock_interruptible(resv, NULL);
	if (ret)
		return ret;
	if (!ia->map) {
		sgt = dma_buf_map_attachment(ia->attach, ia->dir);
		if (IS_ERR(sgt)) {
			dma_resv_unlock(resv);
			return PTR_ERR(sgt);
		}
		m = kzalloc(sizeof(*m), GFP_KERNEL);
		if (!m) {
			dma_buf_unmap_attachment(ia->attach, sgt, ia->dir);
			dma_resv_unlock(resv);
			return -ENOMEM;
		}
		m->sgt = sgt;
	}
	/*
	 * A mapping, new or not, may only be used once the KERNEL fences
	 * signal (a refresh may be in flight); none is added while we hold
	 * the lock.
	 */
	wait = dma_resv_wait_timeout(resv, DMA_RESV_USAGE_KERNEL, true,
				     MAX_SCHEDULE_TIMEOUT);
	if (wait < 0) {
		if (m) {
			dma_buf_unmap_attachment(ia->attach, m->sgt, ia->dir);
			kfree(m);
		}
		dma_resv_unlock(resv);
		return wait;
	}
	if (m) {
		refcount_set(&m->ref, 1);
		m->ia = ia;
		m->dir = udb_mapped_dir(ia->attach, m->sgt, ia->dir);
		m->seq = ++ia->maps;
		ia->map = m;
		*fresh = true;
	}
	return 0;
}

/*
 * Walk [@offset, @offset + @len) of a DMA-mapped table, calling @fn for
 * each piece (at most a page) through a temporary kernel mapping. The
 * caller brackets it with the DMA API's syncs.
 */
static void imp_walk(struct device *dev, struct sg_table *sgt, u64 offset,
		     size_t len, void (*fn)(void *va, size_t n, void *ctx),
		     void *ctx)
{
	struct scatterlist *sg;
	u64 pos = 0;
	int i;

	for_each_sgtable_dma_sg(sgt, sg, i) {
		u64 seg_len = sg_dma_len(sg);
		phys_addr_t phys;

		if (!len)
			break;
		if (offset >= pos + seg_len) {
			pos += seg_len;
			continue;
		}
		phys = dma_to_phys(dev, sg_dma_address(sg)) + (offset - pos);
		while (len && offset < pos + seg_len) {
			size_t in_page = offset_in_page(phys);
			size_t n = min3(len, (size_t)(PAGE_SIZE - in_page),
					(size_t)(pos + seg_len - offset));
			void *va = kmap_local_page(pfn_to_page(PHYS_PFN(phys)));

			fn(va + in_page, n, ctx);
			kunmap_local(va);
			offset += n;
			phys += n;
			len -= n;
		}
		pos += seg_len;
		cond_resched();
	}
}

/**
 * struct imp_copy_ctx - a transfer between a bounce buffer and the buffer
 * @bounce: the next byte of the bounce buffer
 * @to_buffer: direction
 */
struct imp_copy_ctx {
	u8 *bounce;
	bool to_buffer;
};

static void imp_copy_fn(void *va, size_t n, void *ctx)
{
	struct imp_copy_ctx *c = ctx;

	if (c->to_buffer)
		memcpy(va, c->bounce, n);
	else
		memcpy(c->bounce, va, n);
	c->bounce += n;
}

/* Move bytes between @bounce and the buffer (no syncs). */
static void imp_xfer(struct device *dev, struct sg_table *sgt, bool to_buffer,
		     u64 offset, void *bounce, size_t len)
{
	struct imp_copy_ctx c = { .bounce = bounce, .to_buffer = to_buffer };

	imp_walk(dev, sgt, offset, len, imp_copy_fn, &c);
}

/* The "DMA engine": move bytes between @bounce and the mapped buffer. */
static void imp_dma(struct imp_attachment *ia, bool to_buffer, u64 offset,
		    void *bounce, size_t len)
{
	struct device *dev = ia->attach->dev;
	struct imp_mapping *m = ia->map;

	dma_sync_sgtable_for_cpu(dev, m->sgt, m->dir);
	imp_xfer(dev, m->sgt, to_buffer, offset, bounce, len);
	dma_sync_sgtable_for_device(dev, m->sgt, m->dir);
}

/* A CPU copy through the exporter's kernel mapping (dma_buf_vmap()). */
static int imp_vmap_copy(struct imp_attachment *ia, bool to_buffer, u64 offset,
			 void *bounce, size_t len)
{
	struct iosys_map map;
	int ret;

	ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
	if (ret)
		return ret;
	ret = dma_buf_vmap(ia->dmabuf, &map);
	if (!ret) {
		if (to_buffer)
			iosys_map_memcpy_to(&map, offset, bounce, len);
		else
			iosys_map_memcpy_from(bounce, &map, offset, len);
		dma_buf_vunmap(ia->dmabuf, &map);
	}
	dma_resv_unlock(ia->dmabuf->resv);
	return ret;
}

/* Undo the dma_buf_pin() of an UDB_IMPORTER_ATTACH_PIN attachment. */
static void imp_unpin(struct imp_attachment *ia)
{
	if (!ia->pinned)
		return;
	dma_resv_lock(ia->dmabuf->resv, NULL);
	dma_buf_unpin(ia->attach);
	dma_resv_unlock(ia->dmabuf->resv);
}

static long imp_ioctl_attach(struct xarray *handles, void __user *uarg)
{
	struct udb_importer_attach args;
	struct imp_attachment *ia;
	u32 handle;
	int ret;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	if (args.flags & ~(UDB_IMPORTER_ATTACH_DYNAMIC |
			   UDB_IMPORTER_ATTACH_READONLY |
			   UDB_IMPORTER_ATTACH_PIN) || args.handle ||
	    memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	/* dma_buf_pin() of any dma-buf for as long as the file lives */
	if ((args.flags & UDB_IMPORTER_ATTACH_PIN) && !capable(CAP_IPC_LOCK))
		return -EPERM;

	ia = kzalloc(sizeof(*ia), GFP_KERNEL);
	if (!ia)
		return -ENOMEM;
	ia->dmabuf = dma_buf_get(args.fd);
	if (IS_ERR(ia->dmabuf)) {
		ret = PTR_ERR(ia->dmabuf);
		goto err_free;
	}
	/* A device that writes needs a dma-buf opened for writing. */
	if (!(args.flags & UDB_IMPORTER_ATTACH_READONLY) &&
	    !(ia->dmabuf->file->f_mode & FMODE_WRITE)) {
		ret = -EACCES;
		goto err_put;
	}
	ia->dynamic = args.flags & (UDB_IMPORTER_ATTACH_DYNAMIC |
				    UDB_IMPORTER_ATTACH_PIN);
	ia->pinned = args.flags & UDB_IMPORTER_ATTACH_PIN;
	ia->dir = (args.flags & UDB_IMPORTER_ATTACH_READONLY) ?
		  DMA_TO_DEVICE : DMA_BIDIRECTIONAL;
	if (ia->dynamic)
		ia->attach = dma_buf_dynamic_attach(ia->dmabuf, &imp_pdev->dev,
						    &imp_attach_ops, ia);
	else
		ia->attach = dma_buf_attach(ia->dmabuf, &imp_pdev->dev);
	if (IS_ERR(ia->attach)) {
		ret = PTR_ERR(ia->attach);
		goto err_put;
	}
	if (ia->pinned) {
		ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
		if (ret)
			goto err_detach_unpinned;
		ret = dma_buf_pin(ia->attach);
		dma_resv_unlock(ia->dmabuf->resv);
		if (ret)
			goto err_detach_unpinned;
	}
	ret = xa_alloc(handles, &handle, ia, xa_limit_31b, GFP_KERNEL);
	if (ret)
		goto err_detach;
	if (put_user(handle, (u32 __user *)(uarg +
			offsetof(struct udb_importer_attach, handle)))) {
		xa_erase(handles, handle);
		ret = -EFAULT;
		goto err_detach;
	}
	return 0;

err_detach:
	imp_unpin(ia);
err_detach_unpinned:
	dma_buf_detach(ia->dmabuf, ia->attach);
err_put:
	dma_buf_put(ia->dmabuf);
err_free:
	kfree(ia);
	return ret;
}

/* Context: no job uses @ia any more. */
static void imp_detach(struct imp_attachment *ia)
{
	dma_resv_lock(ia->dmabuf->resv, NULL);
	if (ia->map)
		imp_mapping_put_locked(ia->map);
	ia->map = NULL;
	dma_resv_unlock(ia->dmabuf->resv);
	imp_unpin(ia);
	dma_buf_detach(ia->dmabuf, ia->attach);
	dma_buf_put(ia->dmabuf);
	kfree(ia);
}

static long imp_ioctl_copy(struct xarray *handles, void __user *uarg)
{
	struct udb_importer_copy args;
	struct imp_attachment *ia;
	bool fresh, writes;
	void *bounce;
	u64 end;
	int ret;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	if (args.op > UDB_IMPORTER_WRITE_VMAP || args.maps || args.invalidations ||
	    args.map_retries || memchr_inv(args.reserved, 0,
					   sizeof(args.reserved)))
		return -EINVAL;
	if (!args.len || args.len > IMP_MAX_COPY)
		return -EINVAL;

	/* The handle stays valid: ioctls on one file are serialised. */
	ia = xa_load(handles, args.handle);
	if (!ia)
		return -ENOENT;
	if (check_add_overflow(args.offset, args.len, &end) ||
	    end > ia->dmabuf->size)
		return -EINVAL;
	writes = args.op == UDB_IMPORTER_WRITE ||
		 args.op == UDB_IMPORTER_WRITE_VMAP;
	if (writes && ia->dir == DMA_TO_DEVICE)
		return -EPERM;

	bounce = kvmalloc(args.len, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	if (writes &&
	    copy_from_user(bounce, u64_to_user_ptr(args.data), args.len)) {
		ret = -EFAULT;
		goto out;
	}

	if (args.op == UDB_IMPORTER_READ_VMAP ||
	    args.op == UDB_IMPORTER_WRITE_VMAP) {
		ret = imp_vmap_copy(ia, writes, args.offset, bounce, args.len);
		if (ret)
			goto out;
		goto copy_out;
	}

	ret = imp_map_locked(ia, &fresh);
	if (ret)
		goto out;
	imp_dma(ia, args.op == UDB_IMPORTER_WRITE, args.offset, bounce,
		args.len);
	args.maps = ia->maps;
	args.invalidations = ia->invalidations;
	dma_resv_unlock(ia->dmabuf->resv);

copy_out:
	if (!writes &&
	    copy_to_user(u64_to_user_ptr(args.data), bounce, args.len)) {
		ret = -EFAULT;
		goto out;
	}
	if (copy_to_user(uarg, &args, sizeof(args)))
		ret = -EFAULT;
out:
	kvfree(bounce);
	return ret;
}

/**
 * struct imp_job_rec - what UDB_IMPORTER_IOC_JOB reports of a job
 * @id: the job id (0: empty ring slot)
 * @status: UDB_IMPORTER_JOB_*
 * @error: negative errno with UDB_IMPORTER_JOB_ERROR
 * @flags: UDB_IMPORTER_JOB_STALE, _NEW_MAPPING, _PINNED
 * @result: the checksum
 * @map_seq: imp_mapping.seq of the job's mapping
 * @invalidations: the attachment's count at submit
 * @map_retries: always 0 (uAPI compatibility)
 */
struct imp_job_rec {
	u64 id;
	u32 status;
	s32 error;
	u32 flags;
	u64 result;
	u64 map_seq;
	u64 invalidations;
	u32 map_retries;
};

/**
 * struct imp_file - one open /dev/udb_importer
 * @lock: one ioctl at a time on this file (except JOB), so a handle in
 *	use by a copy or a submit cannot be detached under it
 * @handles: the attachments
 * @fence_context: the timeline of this file's job fences
 * @fence_seqno: last seqno used (under @lock)
 * @jlock: protects @inflight, @ninflight, @last_id, @ring, the attachments'
 *	job counts and the records of in-flight jobs
 * @inflight: jobs queued or running
 * @ninflight: jobs not yet released (their mapping may still be held)
 * @last_id: last job id given out
 * @idle: woken when a job is released
 * @ring: records of finished jobs, indexed by id
 */
struct imp_file {
	struct mutex lock;	/* serialises this file's ioctls but JOB */
	struct xarray handles;
	u64 fence_context;
	u64 fence_seqno;
	spinlock_t jlock;	/* see above */
	struct list_head inflight;
	unsigned int ninflight;
	u64 last_id;
	wait_queue_head_t idle;
	struct imp_job_rec ring[UDB_IMPORTER_JOB_RECORDS];
};

/**
 * struct imp_job - one submitted job
 * @qnode: in imp_queue (under imp_queue_lock)
 * @fnode: in imp_file.inflight (under imp_file.jlock)
 * @put_work: drops the mapping when dma_resv was busy at the job's end
 * @f: the file that submitted it
 * @ia: the attachment it was submitted on
 * @map: the mapping it runs on (a reference)
 * @fence: its fence (a reference until it is signalled)
 * @op: UDB_IMPORTER_JOB_*
 * @offset: destination or checked range
 * @len: bytes
 * @value: FILL pattern or COPY source
 * @delay_ms: sleep before starting
 * @cancelled: the file was closed first (under imp_queue_lock)
 * @kcov_handle: KCOV common handle of the submitting task: the job runs
 *	as its coverage
 * @rec: the record, under imp_file.jlock
 */
struct imp_job {
	struct list_head qnode;
	struct list_head fnode;
	struct work_struct put_work;
	struct imp_file *f;
	struct imp_attachment *ia;
	struct imp_mapping *map;
	struct dma_fence *fence;
	u32 op;
	u64 offset;
	u64 len;
	u64 value;
	u32 delay_ms;
	bool cancelled;
	u64 kcov_handle;
	struct imp_job_rec rec;
};

/**
 * struct imp_fence - a job fence; it may outlive the file in a sync_file
 * @base: the fence; first, so the core's kfree_rcu() frees the whole
 * @lock: its spinlock on 6.12; 7.x fences use their inline lock, whose
 *	lockdep class is the core's, as they may outlive the module
 */
struct imp_fence {
	struct dma_fence base;
#ifndef UDB_HAVE_FENCE_INLINE_LOCK
	spinlock_t lock;	/* taken by the dma_fence core only */
#endif
};

static const char *imp_fence_driver_name(struct dma_fence *fence)
{
	return "udb_importer";
}

static const char *imp_fence_timeline_name(struct dma_fence *fence)
{
	return "jobs";
}

#ifndef UDB_HAVE_FENCE_OPS_DETACH
/*
 * The dma-buf's dma_resv may keep our signalled fence after every file of
 * ours is closed, and 6.12 calls its ops until the last put: the module
 * stays loaded until then (see compat.h).
 */
static void imp_fence_release(struct dma_fence *fence)
{
	dma_fence_free(fence);
	module_put(THIS_MODULE);
}
#endif

static const struct dma_fence_ops imp_fence_ops = {
	.get_driver_name = imp_fence_driver_name,
	.get_timeline_name = imp_fence_timeline_name,
#ifndef UDB_HAVE_FENCE_OPS_DETACH
	.release = imp_fence_release,
#endif
};

static DEFINE_SPINLOCK(imp_queue_lock);
static LIST_HEAD(imp_queue);
static DECLARE_WAIT_QUEUE_HEAD(imp_queue_wq);
static struct task_struct *imp_thread;
static struct workqueue_struct *imp_put_wq;
static void *imp_bounce;	/* the job thread's */

/* The job's mapping reference is gone: forget the job. */
static void imp_job_release(struct imp_job *job)
{
	struct imp_file *f = job->f;

	/* The waiters check under jlock: f may go once it is dropped. */
	spin_lock(&f->jlock);
	job->ia->jobs--;
	f->ninflight--;
	wake_up_all(&f->idle);
	spin_unlock(&f->jlock);
}

static void imp_job_put_work(struct work_struct *work)
{
	struct imp_job *job = container_of(work, struct imp_job, put_work);
	struct imp_mapping *m = job->map;
	struct dma_resv *resv = m->ia->dmabuf->resv;

	dma_resv_lock(resv, NULL);
	imp_mapping_put_locked(m);
	dma_resv_unlock(resv);
	imp_job_release(job);
	kfree(job);
}

/*
 * Record the job's end, signal its fence, drop its mapping. The mapping's
 * last put needs dma_resv: whoever holds it may be waiting for a later job
 * of ours, so only try; else a work item drops it.
 */
static void imp_job_finish(struct imp_job *job, int error)
{
	struct imp_mapping *m = job->map;
	struct imp_file *f = job->f;
	struct dma_resv *resv = m->ia->dmabuf->resv;

	if (READ_ONCE(m->invalidated))
		job->rec.flags |= UDB_IMPORTER_JOB_STALE;
	spin_lock(&f->jlock);
	job->rec.status = error ? UDB_IMPORTER_JOB_ERROR : UDB_IMPORTER_JOB_DONE;
	job->rec.error = error;
	list_del(&job->fnode);
	f->ring[job->rec.id % UDB_IMPORTER_JOB_RECORDS] = job->rec;
	spin_unlock(&f->jlock);

	if (error)
		dma_fence_set_error(job->fence, error);
	dma_fence_signal(job->fence);
	dma_fence_put(job->fence);
	job->fence = NULL;

	if (!refcount_dec_not_one(&m->ref)) {
		/* Ours is the last reference: nobody can take another. */
		if (!dma_resv_trylock(resv)) {
			queue_work(imp_put_wq, &job->put_work);
			return;
		}
		imp_mapping_put_locked(m);
		dma_resv_unlock(resv);
	}
	imp_job_release(job);
	kfree(job);
}

static void imp_fill_fn(void *va, size_t n, void *ctx)
{
	u32 v = *(u32 *)ctx, *w = va;
	size_t i;

	for (i = 0; i < n / 4; i++)
		w[i] = v;
}

#define IMP_FNV_BASIS	0xcbf29ce484222325ULL
#define IMP_FNV_PRIME	0x100000001b3ULL

static void imp_sum_fn(void *va, size_t n, void *ctx)
{
	u64 h = *(u64 *)ctx;
	const u32 *w = va;
	size_t i;

	for (i = 0; i < n / 4; i++) {
		h ^= w[i];
		h *= IMP_FNV_PRIME;
	}
	*(u64 *)ctx = h;
}

/* Run one job on its mapping: the device's work, no locks, no allocation. */
static void imp_job_run(struct imp_job *job)
{
	struct imp_attachment *ia = job->map->ia;
	struct sg_table *sgt = job->map->sgt;
	struct device *dev = ia->attach->dev;
	u64 done, h = IMP_FNV_BASIS;
	u32 v = (u32)job->value;

	if (job->delay_ms)
		msleep(job->delay_ms);
	dma_sync_sgtable_for_cpu(dev, sgt, job->map->dir);
	switch (job->op) {
	case UDB_IMPORTER_JOB_FILL:
		imp_walk(dev, sgt, job->offset, job->len, imp_fill_fn, &v);
		break;
	case UDB_IMPORTER_JOB_CHECKSUM:
		imp_walk(dev, sgt, job->offset, job->len, imp_sum_fn, &h);
		job->rec.result = h;
		break;
	case UDB_IMPORTER_JOB_COPY:
		for (done = 0; done < job->len; done += IMP_BOUNCE_SIZE) {
			size_t n = min_t(u64, job->len - done, IMP_BOUNCE_SIZE);

			imp_xfer(dev, sgt, false, job->value + done,
				 imp_bounce, n);
			imp_xfer(dev, sgt, true, job->offset + done,
				 imp_bounce, n);
		}
		break;
	}
	dma_sync_sgtable_for_device(dev, sgt, job->map->dir);
}

static int imp_thread_fn(void *data)
{
	struct imp_job *job;
	bool cookie, kcov, cancelled = false;

	while (!kthread_should_stop()) {
		wait_event_interruptible(imp_queue_wq, kthread_should_stop() ||
					 !list_empty(&imp_queue));
		spin_lock(&imp_queue_lock);
		job = list_first_entry_or_null(&imp_queue, struct imp_job,
					       qnode);
		if (job) {
			list_del_init(&job->qnode);
			cancelled = job->cancelled;
		}
		spin_unlock(&imp_queue_lock);
		if (!job)
			continue;
		/*
		 * A cancelled job is still finished here, in queue order:
		 * the dma_resv keeps only the latest fence of a context, so
		 * a fence must not signal before the earlier ones.
		 */
		if (cancelled) {
			imp_job_finish(job, -ECANCELED);
			continue;
		}

		spin_lock(&job->f->jlock);
		job->rec.status = UDB_IMPORTER_JOB_RUNNING;
		spin_unlock(&job->f->jlock);
		/* From here to the signal nothing may wait for a fence. */
		cookie = dma_fence_begin_signalling();
		kcov = udb_kcov_remote_start(job->kcov_handle, true);
		imp_job_run(job);
		dma_fence_end_signalling(cookie);
		imp_job_finish(job, 0);
		udb_kcov_remote_stop(kcov);
	}
	return 0;
}

static long imp_ioctl_submit(struct imp_file *f, void __user *uarg)
{
	struct udb_importer_submit args;
	struct imp_attachment *ia;
	struct sync_file *sync;
	struct imp_fence *fence;
	enum dma_resv_usage usage;
	struct dma_resv *resv;
	struct imp_job *job;
	bool full, fresh;
	u64 end, src_end;
	int ret, fd;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	if (args.op > UDB_IMPORTER_JOB_COPY || args.flags || args.job_id ||
	    args.fence_fd || memchr_inv(args.reserved, 0,
					sizeof(args.reserved)))
		return -EINVAL;
	if (!args.len || (args.len | args.offset) & 3 ||
	    args.delay_ms > UDB_IMPORTER_MAX_DELAY_MS)
		return -EINVAL;
	if (args.op == UDB_IMPORTER_JOB_CHECKSUM && args.value)
		return -EINVAL;
	if (args.op == UDB_IMPORTER_JOB_FILL && args.value > U32_MAX)
		return -EINVAL;

	ia = xa_load(&f->handles, args.handle);
	if (!ia)
		return -ENOENT;
	if (check_add_overflow(args.offset, args.len, &end) ||
	    end > ia->dmabuf->size)
		return -EINVAL;
	if (args.op == UDB_IMPORTER_JOB_COPY &&
	    (args.value & 3 ||
	     check_add_overflow(args.value, args.len, &src_end) ||
	     src_end > ia->dmabuf->size ||
	     (args.value < end && args.offset < src_end)))
		return -EINVAL;
	if (args.op != UDB_IMPORTER_JOB_CHECKSUM && ia->dir == DMA_TO_DEVICE)
		return -EPERM;

	/* Only this file's ioctls add jobs, and they are serialised. */
	spin_lock(&f->jlock);
	full = f->ninflight >= UDB_IMPORTER_MAX_QUEUED;
	spin_unlock(&f->jlock);
	if (full)
		return -EBUSY;

	job = kzalloc(sizeof(*job), GFP_KERNEL);
	fence = kzalloc(sizeof(*fence), GFP_KERNEL);
	if (!job || !fence) {
		kfree(job);
		kfree(fence);
		return -ENOMEM;
	}
#ifdef UDB_HAVE_FENCE_INLINE_LOCK
	/* may outlive the module in a sync_file: the core's lock class */
	dma_fence_init(&fence->base, &imp_fence_ops, NULL,
		       f->fence_context, ++f->fence_seqno);
#else
	spin_lock_init(&fence->lock);
	dma_fence_init(&fence->base, &imp_fence_ops, &fence->lock,
		       f->fence_context, ++f->fence_seqno);
#endif
#ifndef UDB_HAVE_FENCE_OPS_DETACH
	__module_get(THIS_MODULE);	/* put by imp_fence_release() */
#endif
	ret = -ENOMEM;
	sync = sync_file_create(&fence->base);
	if (!sync)
		goto err_fence;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_sync;
	}
	/* Before dma_resv: a fault here takes mmap_lock. */
	args.job_id = f->last_id + 1;
	args.fence_fd = fd;
	ret = -EFAULT;
	if (copy_to_user(uarg, &args, sizeof(args)))
		goto err_fd;

	INIT_LIST_HEAD(&job->qnode);
	INIT_WORK(&job->put_work, imp_job_put_work);
	job->f = f;
	job->ia = ia;
	job->op = args.op;
	job->offset = args.offset;
	job->len = args.len;
	job->value = args.value;
	job->delay_ms = args.delay_ms;
	udb_kcov_note(&job->kcov_handle);
	job->rec.id = args.job_id;
	job->rec.status = UDB_IMPORTER_JOB_QUEUED;
	if (!ia->dynamic || ia->pinned || !UDB_HAVE_DYNAMIC_IMPORTERS)
		job->rec.flags |= UDB_IMPORTER_JOB_PINNED;

	resv = ia->dmabuf->resv;
	ret = imp_map_locked(ia, &fresh);
	if (ret)
		goto err_fd;
	ret = dma_resv_reserve_fences(resv, 1);
	if (ret)
		goto err_unlock;
	if (fresh)
		job->rec.flags |= UDB_IMPORTER_JOB_NEW_MAPPING;
	job->map = ia->map;
	refcount_inc(&job->map->ref);
	job->rec.map_seq = job->map->seq;
	job->rec.invalidations = ia->invalidations;
	usage = args.op == UDB_IMPORTER_JOB_CHECKSUM ? DMA_RESV_USAGE_READ :
						       DMA_RESV_USAGE_WRITE;
	/* Published: from now on it must signal without our help. */
	job->fence = dma_fence_get(&fence->base);
	dma_resv_add_fence(resv, &fence->base, usage);
	dma_resv_unlock(resv);

	spin_lock(&f->jlock);
	f->last_id = job->rec.id;
	list_add_tail(&job->fnode, &f->inflight);
	f->ninflight++;
	ia->jobs++;
	spin_unlock(&f->jlock);
	spin_lock(&imp_queue_lock);
	list_add_tail(&job->qnode, &imp_queue);
	spin_unlock(&imp_queue_lock);
	wake_up(&imp_queue_wq);

	fd_install(fd, sync->file);
	dma_fence_put(&fence->base);
	return 0;

err_unlock:
	dma_resv_unlock(resv);
err_fd:
	put_unused_fd(fd);
err_sync:
	fput(sync->file);
err_fence:
	/* Never published; signal it for the sync_file's sake anyway. */
	dma_fence_set_error(&fence->base, -ECANCELED);
	dma_fence_signal(&fence->base);
	dma_fence_put(&fence->base);
	kfree(job);
	return ret;
}

/* Look up a job's record; with @fence, a reference on its fence if busy. */
static int imp_job_lookup(struct imp_file *f, u64 id, struct imp_job_rec *rec,
			  struct dma_fence **fence)
{
	struct imp_job_rec *slot;
	struct imp_job *job;
	int ret = -ENOENT;

	spin_lock(&f->jlock);
	if (!id || id > f->last_id) {
		ret = -EINVAL;
		goto out;
	}
	list_for_each_entry(job, &f->inflight, fnode) {
		if (job->rec.id == id) {
			*rec = job->rec;
			if (fence)
				*fence = dma_fence_get(job->fence);
			ret = 0;
			goto out;
		}
	}
	slot = &f->ring[id % UDB_IMPORTER_JOB_RECORDS];
	if (slot->id == id) {
		*rec = *slot;
		ret = 0;
	}
out:
	spin_unlock(&f->jlock);
	return ret;
}

static long imp_ioctl_job(struct imp_file *f, void __user *uarg)
{
	struct dma_fence *fence = NULL;
	struct udb_importer_job args;
	struct imp_job_rec rec;
	long wait;
	int ret;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	if (memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	ret = imp_job_lookup(f, args.job_id, &rec,
			     args.timeout_ms ? &fence : NULL);
	if (ret)
		return ret;
	if (fence) {
		wait = dma_fence_wait_timeout(fence, true,
					      msecs_to_jiffies(args.timeout_ms));
		dma_fence_put(fence);
		if (wait < 0)
			return wait;
		ret = imp_job_lookup(f, args.job_id, &rec, NULL);
		if (ret)
			return ret;
	}
	args.status = rec.status;
	args.error = rec.error;
	args.flags = rec.flags;
	args.result = rec.result;
	args.map_seq = rec.map_seq;
	args.invalidations = rec.invalidations;
	args.map_retries = rec.map_retries;
	return copy_to_user(uarg, &args, sizeof(args)) ? -EFAULT : 0;
}

static bool imp_file_idle(struct imp_file *f)
{
	bool idle;

	spin_lock(&f->jlock);
	idle = !f->ninflight;
	spin_unlock(&f->jlock);
	return idle;
}

static bool imp_attachment_idle(struct imp_file *f, struct imp_attachment *ia)
{
	bool idle;

	spin_lock(&f->jlock);
	idle = !ia->jobs;
	spin_unlock(&f->jlock);
	return idle;
}

static int imp_open(struct inode *inode, struct file *file)
{
	struct imp_file *f = kvzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	xa_init_flags(&f->handles, XA_FLAGS_ALLOC);
	f->fence_context = dma_fence_context_alloc(1);
	spin_lock_init(&f->jlock);
	INIT_LIST_HEAD(&f->inflight);
	init_waitqueue_head(&f->idle);
	file->private_data = f;
	return 0;
}

/*
 * The last close: jobs not started yet are cancelled (the job thread
 * signals their fences with -ECANCELED, in order), the running one is
 * waited for, then all is detached.
 */
static int imp_release(struct inode *inode, struct file *file)
{
	struct imp_file *f = file->private_data;
	struct imp_attachment *ia;
	unsigned long index;
	struct imp_job *job;

	spin_lock(&imp_queue_lock);
	list_for_each_entry(job, &imp_queue, qnode)
		if (job->f == f)
			job->cancelled = true;
	spin_unlock(&imp_queue_lock);
	wait_event(f->idle, imp_file_idle(f));

	xa_for_each(&f->handles, index, ia)
		imp_detach(ia);
	xa_destroy(&f->handles);
	mutex_destroy(&f->lock);
	kvfree(f);
	return 0;
}

/*
 * DETACH waits (killably) for the attachment's jobs to finish and release
 * their mapping; the handle stays valid if the wait is interrupted.
 */
static long imp_ioctl_detach(struct imp_file *f, void __user *uarg)
{
	struct imp_attachment *ia;
	u32 handle;
	int ret;

	if (get_user(handle, (u32 __user *)uarg))
		return -EFAULT;
	ia = xa_load(&f->handles, handle);
	if (!ia)
		return -ENOENT;
	ret = wait_event_killable(f->idle, imp_attachment_idle(f, ia));
	if (ret)
		return ret;
	xa_erase(&f->handles, handle);
	imp_detach(ia);
	return 0;
}

/**
 * imp_ioctl() - UDB_IMPORTER_IOC_* on /dev/udb_importer
 * @file: the open device; handles are per open file
 * @cmd: the command
 * @arg: user pointer to its argument
 *
 * Return: 0 or a negative errno.
 */
static long imp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct imp_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	/* May wait for a job: without the file's lock. */
	if (cmd == UDB_IMPORTER_IOC_JOB)
		return imp_ioctl_job(f, uarg);

	if (mutex_lock_interruptible(&f->lock))
		return -ERESTARTSYS;
	switch (cmd) {
	case UDB_IMPORTER_IOC_ATTACH:
		ret = imp_ioctl_attach(&f->handles, uarg);
		break;
	case UDB_IMPORTER_IOC_DETACH:
		ret = imp_ioctl_detach(f, uarg);
		break;
	case UDB_IMPORTER_IOC_COPY:
		ret = imp_ioctl_copy(&f->handles, uarg);
		break;
	case UDB_IMPORTER_IOC_SUBMIT:
		ret = imp_ioctl_submit(f, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&f->lock);
	return ret;
}

static const struct file_operations imp_fops = {
	.owner = THIS_MODULE,
	.open = imp_open,
	.release = imp_release,
	.unlocked_ioctl = imp_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice imp_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udb_importer",
	.fops = &imp_fops,
	.mode = 0600,
};

static int __init imp_init(void)
{
	int ret = -ENOMEM;

	imp_bounce = kmalloc(IMP_BOUNCE_SIZE, GFP_KERNEL);
	if (!imp_bounce)
		return -ENOMEM;
	imp_put_wq = alloc_workqueue("udb_importer_put", WQ_UNBOUND, 0);
	if (!imp_put_wq)
		goto err_bounce;
	imp_pdev = platform_device_register_simple("udb_importer", -1, NULL, 0);
	if (IS_ERR(imp_pdev)) {
		ret = PTR_ERR(imp_pdev);
		goto err_wq;
	}
	ret = dma_coerce_mask_and_coherent(&imp_pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto err_pdev;
	/*
	 * No dma_set_max_seg_size(): the default 64 KiB segment limit is
	 * kept on purpose, so exporters must split their tables for it.
	 */
	imp_thread = kthread_run(imp_thread_fn, NULL, "udb_importer");
	if (IS_ERR(imp_thread)) {
		ret = PTR_ERR(imp_thread);
		goto err_pdev;
	}
	ret = misc_register(&imp_misc);
	if (ret)
		goto err_thread;
	return 0;
err_thread:
	kthread_stop(imp_thread);
err_pdev:
	platform_device_unregister(imp_pdev);
err_wq:
	destroy_workqueue(imp_put_wq);
err_bounce:
	kfree(imp_bounce);
	return ret;
}

/* No file is open any more, so no job is queued or running. */
static void __exit imp_exit(void)
{
	misc_deregister(&imp_misc);
	kthread_stop(imp_thread);
	destroy_workqueue(imp_put_wq);
	platform_device_unregister(imp_pdev);
	kfree(imp_bounce);
}

module_init(imp_init);
module_exit(imp_exit);

MODULE_DESCRIPTION("Reference dynamic dma-buf importer (test device)");
MODULE_LICENSE("GPL");
UDB_IMPORT_NS_DMA_BUF();
