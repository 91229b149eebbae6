// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: module entry, the misc device and ioctl dispatch.
 *
 * Locking: this file holds no state of its own beyond the module
 * parameters, which are read-only after load (0444), so it takes no locks.
 * Buffer creation takes the locks udb_buffer.c describes.
 *
 * Every ioctl argument arrives from an unprivileged user: sizes, flags,
 * addresses and fds are validated here or in udb_buffer.c, and a failed
 * copy_to_user() of a new fd releases the buffer without installing it.
 */
#include <linux/dma-buf.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "udb_internal.h"

static unsigned int max_size_mb = 1024;
module_param(max_size_mb, uint, 0444);
MODULE_PARM_DESC(max_size_mb, "Largest buffer in MiB (default 1024)");

/*
 * Copy an ioctl argument by the extensible-struct rules: at least @min
 * bytes (up to the first output field), zero-filled past what userspace
 * passed, -E2BIG for non-zero bytes past what we know.
 */
static int udb_copy_args(void *dst, size_t ksize, size_t min,
			 const void __user *uarg, size_t usize)
{
	if (usize < min)
		return -EINVAL;
	return copy_struct_from_user(dst, ksize, uarg, usize);
}

static long udb_ioctl_version(void __user *uarg, size_t usize)
{
	struct userptr_dmabuf_version args;
	int ret;

	ret = copy_struct_from_user(&args, sizeof(args), uarg, usize);
	if (ret)
		return ret;
	if (memchr_inv(&args, 0, sizeof(args)))
		return -EINVAL;

	args.api_version = USERPTR_DMABUF_API_VERSION;
	args.features = UDB_HAVE_DYNAMIC_IMPORTERS ?
			USERPTR_DMABUF_FEAT_DYNAMIC : 0;
	args.max_size = (u64)max_size_mb << 20;
	args.page_size = PAGE_SIZE;

	if (copy_to_user(uarg, &args, min(usize, sizeof(args))))
		return -EFAULT;
	return 0;
}

/*
 * Install the buffer's dma-buf as a new fd, after telling userspace its
 * number: if that copy fails, the fd was never visible and is released.
 */
static int udb_install_fd(struct udb_buffer *buf, u32 flags,
			  s32 __user *ufd)
{
	int fd;

	fd = get_unused_fd_flags(O_RDWR |
				 ((flags & USERPTR_DMABUF_CREATE_CLOEXEC) ?
				  O_CLOEXEC : 0));
	if (fd < 0) {
		dma_buf_put(buf->dmabuf);
		return fd;
	}
	if (put_user(fd, ufd)) {
		put_unused_fd(fd);
		dma_buf_put(buf->dmabuf);
		return -EFAULT;
	}
	fd_install(fd, buf->dmabuf->file);
	return 0;
}

static int udb_create_and_install(const struct userptr_dmabuf_range *ranges,
				  unsigned int nranges, u32 flags,
				  s32 __user *ufd)
{
	struct udb_buffer *buf;
	int ret;

	ret = udb_buffer_create(ranges, nranges, flags,
				(size_t)max_size_mb << 20, &buf);
	if (ret)
		return ret;
	return udb_install_fd(buf, flags, ufd);
}

static long udb_ioctl_create(void __user *uarg, size_t usize)
{
	struct userptr_dmabuf_create args;
	struct userptr_dmabuf_range range;
	int ret;

	ret = udb_copy_args(&args, sizeof(args),
			    offsetofend(struct userptr_dmabuf_create, fd),
			    uarg, usize);
	if (ret)
		return ret;
	if (args.flags & ~USERPTR_DMABUF_CREATE_FLAGS)
		return -EINVAL;
	if (memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;

	range.addr = args.addr;
	range.size = args.size;
	return udb_create_and_install(&range, 1, args.flags,
				      uarg + offsetof(struct userptr_dmabuf_create, fd));
}

static long udb_ioctl_create_list(void __user *uarg, size_t usize)
{
	struct userptr_dmabuf_create_list args;
	struct userptr_dmabuf_range *ranges;
	int ret;

	ret = udb_copy_args(&args, sizeof(args),
			    offsetofend(struct userptr_dmabuf_create_list, fd),
			    uarg, usize);
	if (ret)
		return ret;
	if (args.flags & ~USERPTR_DMABUF_CREATE_FLAGS)
		return -EINVAL;
	if (args.reserved0 || memchr_inv(args.reserved, 0, sizeof(args.reserved)))
		return -EINVAL;
	if (!args.count || args.count > USERPTR_DMABUF_MAX_RANGES)
		return -EINVAL;

	ranges = memdup_array_user(u64_to_user_ptr(args.ranges), args.count,
				   sizeof(*ranges));
	if (IS_ERR(ranges))
		return PTR_ERR(ranges);
	ret = udb_create_and_install(ranges, args.count, args.flags,
				     uarg + offsetof(struct userptr_dmabuf_create_list, fd));
	kfree(ranges);
	return ret;
}

static long udb_ioctl_info(void __user *uarg, size_t usize)
{
	struct userptr_dmabuf_info args;
	struct udb_buffer *buf;
	struct dma_buf *dmabuf;
	s32 fd;
	int ret;

	ret = udb_copy_args(&args, sizeof(args),
			    offsetofend(struct userptr_dmabuf_info, fd),
			    uarg, usize);
	if (ret)
		return ret;
	fd = args.fd;
	args.fd = 0;
	if (memchr_inv(&args, 0, sizeof(args)))
		return -EINVAL;

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	buf = udb_dmabuf_to_buffer(dmabuf);
	if (!buf) {
		dma_buf_put(dmabuf);
		return -EINVAL;
	}
	udb_buffer_info(buf, &args, false);
	/* asking for the state is asking for the snapshot: see it refreshed */
	if (args.state == USERPTR_DMABUF_STATE_STALE)
		udb_queue_refresh(buf);
	args.fd = fd;
	dma_buf_put(dmabuf);

	if (copy_to_user(uarg, &args, min(usize, sizeof(args))))
		return -EFAULT;
	return 0;
}

/**
 * udb_ioctl() - dispatch an ioctl on /dev/userptr_dmabuf
 * @file: the opened device
 * @cmd: ioctl command; only type and number select the handler, the size
 *	field says how much of the argument userspace passed
 * @arg: userspace pointer to the argument struct
 *
 * Return: 0 or a negative errno; -ENOTTY for an unknown command.
 */
static long udb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	size_t usize = _IOC_SIZE(cmd);

	if (_IOC_TYPE(cmd) != USERPTR_DMABUF_IOC_MAGIC)
		return -ENOTTY;
	if (_IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE))
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(USERPTR_DMABUF_IOC_VERSION):
		return udb_ioctl_version(uarg, usize);
	case _IOC_NR(USERPTR_DMABUF_IOC_CREATE):
		return udb_ioctl_create(uarg, usize);
	case _IOC_NR(USERPTR_DMABUF_IOC_CREATE_LIST):
		return udb_ioctl_create_list(uarg, usize);
	case _IOC_NR(USERPTR_DMABUF_IOC_INFO):
		return udb_ioctl_info(uarg, usize);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations udb_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = udb_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice udb_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "userptr_dmabuf",
	.fops = &udb_fops,
	.mode = 0600,
};

struct workqueue_struct *udb_wq;

/* 256 GiB: keeps per-buffer arrays below kvmalloc's INT_MAX limit. */
#define UDB_MAX_SIZE_MB_LIMIT	(256U << 10)

static int __init udb_init(void)
{
	int ret;

	if (!max_size_mb || max_size_mb > UDB_MAX_SIZE_MB_LIMIT) {
		pr_err("userptr_dmabuf: max_size_mb=%u out of range (1..%u)\n",
		       max_size_mb, UDB_MAX_SIZE_MB_LIMIT);
		return -EINVAL;
	}
	udb_owner_init();
	udb_wq = alloc_workqueue("userptr_dmabuf", WQ_UNBOUND, 0);
	if (!udb_wq)
		return -ENOMEM;
	udb_debugfs_init();
	ret = misc_register(&udb_misc);
	if (ret) {
		udb_debugfs_exit();
		destroy_workqueue(udb_wq);
	}
	return ret;
}

static void __exit udb_exit(void)
{
	misc_deregister(&udb_misc);
	udb_debugfs_exit();
	destroy_workqueue(udb_wq);
}

module_init(udb_init);
module_exit(udb_exit);

MODULE_DESCRIPTION("Share process memory as a dynamic dma-buf");
MODULE_LICENSE("GPL");
UDB_IMPORT_NS_DMA_BUF();
