/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * udb_importer: the reference dma-buf importer's test interface.
 *
 * The module is a virtual DMA device that imports any dma-buf, dynamically
 * (it follows move_notify / invalidate_mappings) or statically (pinned),
 * and copies bytes between the buffer and userspace through its device
 * mapping. It exists to prove the exporter's contract in tests, and to be
 * read as an example importer. Same conventions as userptr_dmabuf.h.
 */
#ifndef _UAPI_UDB_IMPORTER_H
#define _UAPI_UDB_IMPORTER_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define UDB_IMPORTER_DEVICE	"/dev/udb_importer"

/* Attach with move_notify / invalidate_mappings. */
#define UDB_IMPORTER_ATTACH_DYNAMIC	_BITUL(0)
/* Map DMA_TO_DEVICE only (required for read-only buffers); no writes. */
#define UDB_IMPORTER_ATTACH_READONLY	_BITUL(1)

/**
 * struct udb_importer_attach - UDB_IMPORTER_IOC_ATTACH argument
 * @fd: in: any dma-buf fd
 * @flags: in: UDB_IMPORTER_ATTACH_*
 * @handle: out: names the attachment in later calls on the same open file
 * @reserved: must be zero
 */
struct udb_importer_attach {
	__s32 fd;
	__u32 flags;
	__u32 handle;
	__u32 reserved[5];
};

/* Directions of struct udb_importer_copy. */
#define UDB_IMPORTER_READ	0	/* device reads the buffer */
#define UDB_IMPORTER_WRITE	1	/* device writes the buffer */
/* CPU reads through dma_buf_vmap(): the exporter's kernel mapping */
#define UDB_IMPORTER_READ_VMAP	2

/**
 * struct udb_importer_copy - UDB_IMPORTER_IOC_COPY argument
 * @handle: in: from UDB_IMPORTER_IOC_ATTACH
 * @op: in: UDB_IMPORTER_READ, UDB_IMPORTER_WRITE or UDB_IMPORTER_READ_VMAP
 * @offset: in: byte offset in the dma-buf
 * @len: in: bytes, offset + len <= the dma-buf's size
 * @data: in: user pointer the bytes come from or go to
 * @maps: out: times the importer has mapped the attachment so far
 * @invalidations: out: move_notify / invalidate_mappings calls received
 * @map_retries: out: -EAGAIN map results this copy retried through
 * @reserved: must be zero
 *
 * Maps the attachment if it has no valid mapping (waiting for the
 * exporter's KERNEL fences before use), then copies through the device
 * mapping's DMA addresses with the DMA API's cache maintenance.
 */
struct udb_importer_copy {
	__u32 handle;
	__u32 op;
	__u64 offset;
	__u64 len;
	__u64 data;
	__u64 maps;
	__u64 invalidations;
	__u32 map_retries;
	__u32 reserved[3];
};

#define UDB_IMPORTER_IOC_MAGIC	'I'
#define UDB_IMPORTER_IOC_ATTACH	\
	_IOWR(UDB_IMPORTER_IOC_MAGIC, 0x00, struct udb_importer_attach)
#define UDB_IMPORTER_IOC_DETACH	_IOW(UDB_IMPORTER_IOC_MAGIC, 0x01, __u32)
#define UDB_IMPORTER_IOC_COPY	\
	_IOWR(UDB_IMPORTER_IOC_MAGIC, 0x02, struct udb_importer_copy)

#endif /* _UAPI_UDB_IMPORTER_H */
