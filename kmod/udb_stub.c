// SPDX-License-Identifier: GPL-2.0
/*
 * Built as userptr_dmabuf.ko instead of the module on kernels older than
 * 6.12 (see Kbuild): DKMS builds for every kernel installed with its
 * headers, and a kernel DKMS skips makes Debian 12's "dkms autoinstall",
 * and with it the headers package's postinst, fail. This placeholder only
 * says why there is no exporter and refuses to load.
 */
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <generated/utsrelease.h>

static int __init udb_stub_init(void)
{
	pr_err("userptr_dmabuf: needs Linux 6.12 or newer, this is %s\n",
	       UTS_RELEASE);
	return -ENODEV;
}
module_init(udb_stub_init);

MODULE_DESCRIPTION("userptr-dmabuf placeholder for kernels older than 6.12");
MODULE_LICENSE("GPL");
