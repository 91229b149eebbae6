/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * userptr-dmabuf: share ordinary process memory as a dynamic dma-buf.
 *
 * This header is the single source of truth for the ioctl interface; the
 * kernel module, the tests and the demo all include it.
 *
 * Extensibility: every ioctl argument is a struct whose size is encoded in
 * the command number. The kernel dispatches on the ioctl type and number
 * only, copies min(user size, kernel size) bytes, zero-fills what userspace
 * did not pass and rejects non-zero bytes it does not understand with
 * -E2BIG (the copy_struct_from_user() convention). Reserved fields must be
 * zero on input and are zero on output.
 */
#ifndef _UAPI_USERPTR_DMABUF_H
#define _UAPI_USERPTR_DMABUF_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define USERPTR_DMABUF_DEVICE	"/dev/userptr_dmabuf"

/* Interface version, bumped when an ioctl or a flag is added. */
#define USERPTR_DMABUF_API_VERSION	1U

/**
 * struct userptr_dmabuf_version - USERPTR_DMABUF_IOC_VERSION argument
 * @api_version: out: USERPTR_DMABUF_API_VERSION of the running module
 * @features: out: bitmask of USERPTR_DMABUF_FEAT_* the module supports
 * @max_size: out: largest buffer in bytes (module parameter max_size_mb)
 * @page_size: out: PAGE_SIZE of the kernel; addresses and sizes are
 *	multiples of it
 * @reserved: must be zero on input, zero on output
 */
struct userptr_dmabuf_version {
	__u32 api_version;
	__u32 features;
	__u64 max_size;
	__u32 page_size;
	__u32 reserved[5];
};

/* The running kernel has dynamic (move_notify/invalidate) importers. */
#define USERPTR_DMABUF_FEAT_DYNAMIC	_BITUL(0)

#define USERPTR_DMABUF_IOC_MAGIC	'u'
#define USERPTR_DMABUF_IOC_VERSION	\
	_IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x00, struct userptr_dmabuf_version)

#endif /* _UAPI_USERPTR_DMABUF_H */
