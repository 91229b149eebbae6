// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: module entry, the misc device and ioctl dispatch.
 *
 * Locking: this file holds no state of its own beyond the module
 * parameters, which are read-only after load (0444), so it takes no locks.
 * Each ioctl handler documents the locks it takes.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "userptr_dmabuf.h"

static unsigned int max_size_mb = 1024;
module_param(max_size_mb, uint, 0444);
MODULE_PARM_DESC(max_size_mb, "Largest buffer in MiB (default 1024)");

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
	.mode = 0666,
};

static int __init udb_init(void)
{
	if (!max_size_mb || max_size_mb > (UINT_MAX >> 1)) {
		pr_err("userptr_dmabuf: max_size_mb=%u out of range\n",
		       max_size_mb);
		return -EINVAL;
	}
	return misc_register(&udb_misc);
}

static void __exit udb_exit(void)
{
	misc_deregister(&udb_misc);
}

module_init(udb_init);
module_exit(udb_exit);

MODULE_DESCRIPTION("Share process memory as a dynamic dma-buf");
MODULE_LICENSE("GPL");
UDB_IMPORT_NS_DMA_BUF();
