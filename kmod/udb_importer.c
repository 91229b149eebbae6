// SPDX-License-Identifier: GPL-2.0
/*
 * udb_importer: a reference importer of dynamic dma-bufs.
 *
 * A virtual DMA device (a platform device with a 64-bit DMA mask, the
 * default 64 KiB segment limit, no IOMMU) that imports dma-bufs the way a driver should:
 *
 *  - dynamic attachments register invalidate_mappings (move_notify on
 *    6.12); the callback runs with the dma_resv lock held and unmaps at
 *    once, so the exporter's pages are released as early as possible;
 *  - before using a mapping, the importer (re)maps under the dma_resv lock
 *    and waits for the exporter's DMA_RESV_USAGE_KERNEL fences;
 *  - a map that fails with -EAGAIN (the exporter is refreshing) is retried
 *    after dropping the lock;
 *  - static attachments map once and keep the (pinned) mapping.
 *
 * The "device" copies bytes through the mapping: it turns each DMA address
 * back into a page (dma == phys without an IOMMU) and brackets the access
 * with dma_sync_sgtable_for_cpu()/_for_device(), as hardware would need.
 *
 * Locking: an attachment's mapping state (sgt) is protected by the
 * dma-buf's dma_resv lock. Per-file handles live in an xarray; a per-file
 * mutex serialises that file's ioctls. User memory is only touched with no
 * dma_resv lock held (a user page fault takes mmap_lock, which orders
 * before dma_resv).
 */
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "compat.h"
#include "udb_importer.h"

/* Most bytes one copy moves. */
#define IMP_MAX_COPY	(64UL << 20)
/* How long a copy keeps retrying a map that says -EAGAIN. */
#define IMP_MAP_RETRY_MS	5000

static struct platform_device *imp_pdev;

/**
 * struct imp_attachment - one imported dma-buf
 * @dmabuf: reference taken at attach
 * @attach: the attachment
 * @sgt: current mapping or NULL (under the dma_resv lock)
 * @dir: DMA_TO_DEVICE for read-only attachments, else DMA_BIDIRECTIONAL
 * @dynamic: attached with invalidate_mappings
 * @maps: successful maps
 * @invalidations: notifications received (under the dma_resv lock)
 */
struct imp_attachment {
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	enum dma_data_direction dir;
	bool dynamic;
	u64 maps;
	u64 invalidations;
};

/**
 * imp_invalidate() - invalidate_mappings / move_notify of our attachments
 * @attach: the attachment whose mapping became invalid
 *
 * Context: dma_resv lock held by the exporter.
 */
static void imp_invalidate(struct dma_buf_attachment *attach)
{
	struct imp_attachment *ia = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	ia->invalidations++;
	if (ia->sgt) {
		dma_buf_unmap_attachment(attach, ia->sgt, ia->dir);
		ia->sgt = NULL;
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
 * Make sure @ia has a usable mapping. Returns with the dma_resv lock held
 * on success.
 */
static int imp_map_locked(struct imp_attachment *ia, u32 *retries)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(IMP_MAP_RETRY_MS);
	struct dma_resv *resv = ia->dmabuf->resv;
	struct sg_table *sgt;
	long wait;
	int ret;

	for (;;) {
		ret = dma_resv_lock_interruptible(resv, NULL);
		if (ret)
			return ret;
		if (ia->sgt)
			return 0;
		sgt = dma_buf_map_attachment(ia->attach, ia->dir);
		if (!IS_ERR(sgt))
			break;
		dma_resv_unlock(resv);
		ret = PTR_ERR(sgt);
		if (ret != -EAGAIN)
			return ret;
		/* The exporter is refreshing: let it take the lock. */
		(*retries)++;
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		if (signal_pending(current))
			return -ERESTARTSYS;
		usleep_range(50, 200);
	}

	/* A new mapping may only be used once the KERNEL fences signal. */
	wait = dma_resv_wait_timeout(resv, DMA_RESV_USAGE_KERNEL, true,
				     MAX_SCHEDULE_TIMEOUT);
	if (wait < 0) {
		dma_buf_unmap_attachment(ia->attach, sgt, ia->dir);
		dma_resv_unlock(resv);
		return wait;
	}
	ia->sgt = sgt;
	ia->maps++;
	return 0;
}

/* The "DMA engine": move bytes between @bounce and the mapped buffer. */
static void imp_dma(struct imp_attachment *ia, bool to_buffer, u64 offset,
		    void *bounce, size_t len)
{
	struct device *dev = ia->attach->dev;
	struct scatterlist *sg;
	u64 pos = 0;
	int i;

	dma_sync_sgtable_for_cpu(dev, ia->sgt, ia->dir);
	for_each_sgtable_dma_sg(ia->sgt, sg, i) {
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

			if (to_buffer)
				memcpy(va + in_page, bounce, n);
			else
				memcpy(bounce, va + in_page, n);
			kunmap_local(va);
			bounce += n;
			offset += n;
			phys += n;
			len -= n;
		}
		pos += seg_len;
	}
	dma_sync_sgtable_for_device(dev, ia->sgt, ia->dir);
}

/* A CPU read through the exporter's kernel mapping (dma_buf_vmap()). */
static int imp_vmap_read(struct imp_attachment *ia, u64 offset, void *bounce,
			 size_t len)
{
	struct iosys_map map;
	int ret;

	ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
	if (ret)
		return ret;
	ret = dma_buf_vmap(ia->dmabuf, &map);
	if (!ret) {
		iosys_map_memcpy_from(bounce, &map, offset, len);
		dma_buf_vunmap(ia->dmabuf, &map);
	}
	dma_resv_unlock(ia->dmabuf->resv);
	return ret;
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
			   UDB_IMPORTER_ATTACH_READONLY) || args.handle ||
	    memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;

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
	ia->dynamic = args.flags & UDB_IMPORTER_ATTACH_DYNAMIC;
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
	dma_buf_detach(ia->dmabuf, ia->attach);
err_put:
	dma_buf_put(ia->dmabuf);
err_free:
	kfree(ia);
	return ret;
}

static void imp_detach(struct imp_attachment *ia)
{
	dma_resv_lock(ia->dmabuf->resv, NULL);
	if (ia->sgt)
		dma_buf_unmap_attachment(ia->attach, ia->sgt,
					 ia->dir);
	ia->sgt = NULL;
	dma_resv_unlock(ia->dmabuf->resv);
	dma_buf_detach(ia->dmabuf, ia->attach);
	dma_buf_put(ia->dmabuf);
	kfree(ia);
}

static long imp_ioctl_copy(struct xarray *handles, void __user *uarg)
{
	struct udb_importer_copy args;
	struct imp_attachment *ia;
	void *bounce;
	u64 end;
	int ret;

	if (copy_from_user(&args, uarg, sizeof(args)))
		return -EFAULT;
	if (args.op > UDB_IMPORTER_READ_VMAP || args.maps || args.invalidations ||
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
	if (args.op == UDB_IMPORTER_WRITE && ia->dir == DMA_TO_DEVICE)
		return -EPERM;

	bounce = kvmalloc(args.len, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	if (args.op == UDB_IMPORTER_WRITE &&
	    copy_from_user(bounce, u64_to_user_ptr(args.data), args.len)) {
		ret = -EFAULT;
		goto out;
	}

	if (args.op == UDB_IMPORTER_READ_VMAP) {
		ret = imp_vmap_read(ia, args.offset, bounce, args.len);
		if (ret)
			goto out;
		goto copy_out;
	}

	ret = imp_map_locked(ia, &args.map_retries);
	if (ret)
		goto out;
	imp_dma(ia, args.op == UDB_IMPORTER_WRITE, args.offset, bounce,
		args.len);
	args.maps = ia->maps;
	args.invalidations = ia->invalidations;
	dma_resv_unlock(ia->dmabuf->resv);

copy_out:
	if (args.op != UDB_IMPORTER_WRITE &&
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
 * struct imp_file - one open /dev/udb_importer
 * @lock: one ioctl at a time on this file, so a handle in use by a copy
 *	cannot be detached under it
 * @handles: the attachments
 */
struct imp_file {
	struct mutex lock;	/* serialises this file's ioctls */
	struct xarray handles;
};

static int imp_open(struct inode *inode, struct file *file)
{
	struct imp_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	xa_init_flags(&f->handles, XA_FLAGS_ALLOC);
	file->private_data = f;
	return 0;
}

static int imp_release(struct inode *inode, struct file *file)
{
	struct imp_file *f = file->private_data;
	struct imp_attachment *ia;
	unsigned long index;

	xa_for_each(&f->handles, index, ia)
		imp_detach(ia);
	xa_destroy(&f->handles);
	mutex_destroy(&f->lock);
	kfree(f);
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
	struct xarray *handles = &f->handles;
	void __user *uarg = (void __user *)arg;
	struct imp_attachment *ia;
	u32 handle;
	long ret;

	if (mutex_lock_interruptible(&f->lock))
		return -ERESTARTSYS;
	switch (cmd) {
	case UDB_IMPORTER_IOC_ATTACH:
		ret = imp_ioctl_attach(handles, uarg);
		break;
	case UDB_IMPORTER_IOC_DETACH:
		ret = -EFAULT;
		if (get_user(handle, (u32 __user *)uarg))
			break;
		ia = xa_erase(handles, handle);
		ret = -ENOENT;
		if (!ia)
			break;
		imp_detach(ia);
		ret = 0;
		break;
	case UDB_IMPORTER_IOC_COPY:
		ret = imp_ioctl_copy(handles, uarg);
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
	.mode = 0666,
};

static int __init imp_init(void)
{
	int ret;

	imp_pdev = platform_device_register_simple("udb_importer", -1, NULL, 0);
	if (IS_ERR(imp_pdev))
		return PTR_ERR(imp_pdev);
	ret = dma_coerce_mask_and_coherent(&imp_pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto err;
	/*
	 * No dma_set_max_seg_size(): the default 64 KiB segment limit is
	 * kept on purpose, so exporters must split their tables for it.
	 */
	ret = misc_register(&imp_misc);
	if (ret)
		goto err;
	return 0;
err:
	platform_device_unregister(imp_pdev);
	return ret;
}

static void __exit imp_exit(void)
{
	misc_deregister(&imp_misc);
	platform_device_unregister(imp_pdev);
}

module_init(imp_init);
module_exit(imp_exit);

MODULE_DESCRIPTION("Reference dynamic dma-buf importer (test device)");
MODULE_LICENSE("GPL");
UDB_IMPORT_NS_DMA_BUF();
