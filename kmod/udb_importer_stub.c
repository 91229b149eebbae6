// SPDX-License-Identifier: GPL-2.0
/*
 * Built as udb_importer.ko instead of the reference importer on kernels
 * older than 6.12 (see Kbuild and udb_stub.c), for a DKMS configuration
 * that installs the importer too: it refuses to load and says why.
 */
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <generated/utsrelease.h>

static int __init udb_importer_stub_init(void)
{
	pr_err("udb_importer: needs Linux 6.12 or newer, this is %s\n",
	       UTS_RELEASE);
	return -ENODEV;
}
module_init(udb_importer_stub_init);

MODULE_DESCRIPTION("udb_importer placeholder for kernels older than 6.12");
MODULE_LICENSE("GPL");
