/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * udb_importer: the reference dma-buf importer's test interface.
 *
 * The module is a virtual DMA device that imports any dma-buf, dynamically
 * (it follows move_notify / invalidate_mappings) or statically (pinned),
 * and copies bytes between the buffer and userspace through its device
 * mapping, synchronously (COPY) or as fenced jobs run by the device's
 * own thread (SUBMIT, JOB), the way a GPU driver works. It exists to prove
 * the exporter's contract in tests, and to be read as an example importer.
 * Same conventions as userptr_dmabuf.h.
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
/*
 * Dynamic, then dma_buf_pin() until detach, as scanout and RDMA pinned MRs
 * do: the mapping is never invalidated and does not follow CPU changes.
 * Needs CAP_IPC_LOCK (EPERM): it pins any dma-buf for as long as it lasts.
 */
#define UDB_IMPORTER_ATTACH_PIN		_BITUL(2)

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
/* CPU writes through dma_buf_vmap() (not on read-only attachments) */
#define UDB_IMPORTER_WRITE_VMAP	3

/**
 * struct udb_importer_copy - UDB_IMPORTER_IOC_COPY argument
 * @handle: in: from UDB_IMPORTER_IOC_ATTACH
 * @op: in: UDB_IMPORTER_READ, UDB_IMPORTER_WRITE, UDB_IMPORTER_READ_VMAP
 *	or UDB_IMPORTER_WRITE_VMAP
 * @offset: in: byte offset in the dma-buf
 * @len: in: bytes, offset + len <= the dma-buf's size
 * @data: in: user pointer the bytes come from or go to
 * @maps: out: times the importer has mapped the attachment so far
 * @invalidations: out: move_notify / invalidate_mappings calls received
 * @map_retries: out: always 0 (the exporter serves its last published
 *	snapshot while it refreshes; nothing is retried)
 * @reserved: must be zero
 *
 * Maps the attachment if it has no valid mapping (waiting for the
 * exporter's KERNEL fences before use), then copies through the device
 * mapping's DMA addresses with the DMA API's cache maintenance. The _VMAP
 * ops copy through the exporter's kernel mapping instead (dma_buf_vmap()
 * for this one copy, under the dma-buf's reservation lock); @maps,
 * @invalidations and @map_retries are not updated then. Fails with EPERM
 * for a write on a read-only attachment.
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

/* Operations of struct udb_importer_submit. */
#define UDB_IMPORTER_JOB_FILL		0	/* device writes @value */
#define UDB_IMPORTER_JOB_CHECKSUM	1	/* device reads, result kept */
#define UDB_IMPORTER_JOB_COPY		2	/* device copies @src to @offset */

/* Most in-flight (queued or running) jobs per open file. */
#define UDB_IMPORTER_MAX_QUEUED		64
/* Finished job records kept per open file (oldest dropped first). */
#define UDB_IMPORTER_JOB_RECORDS	256
/* Longest @delay_ms of struct udb_importer_submit. */
#define UDB_IMPORTER_MAX_DELAY_MS	10000

/**
 * struct udb_importer_submit - UDB_IMPORTER_IOC_SUBMIT argument
 * @handle: in: from UDB_IMPORTER_IOC_ATTACH
 * @op: in: UDB_IMPORTER_JOB_FILL, _CHECKSUM or _COPY
 * @offset: in: byte offset in the dma-buf (the destination of a copy);
 *	a multiple of 4
 * @len: in: bytes, non-zero, a multiple of 4, offset + len <= size
 * @value: in: FILL: the 32-bit pattern, stored in native byte order at
 *	every 4-byte word; COPY: the source offset (a multiple of 4, source
 *	and destination must not overlap); CHECKSUM: must be zero
 * @delay_ms: in: the device waits this long before it starts the job
 *	(at most UDB_IMPORTER_MAX_DELAY_MS), to make jobs long in tests
 * @flags: in: must be zero
 * @job_id: out: names the job in UDB_IMPORTER_IOC_JOB on this file
 *	(ids start at 1 and increase by one per accepted job); must be
 *	zero on input
 * @fence_fd: out: a sync_file (O_CLOEXEC) that signals when the job is
 *	done, with an error when it failed or was cancelled; must be zero
 *	on input
 * @reserved: must be zero
 *
 * Maps the attachment if it has no valid mapping (retrying while the
 * exporter refreshes), waits for the exporter's KERNEL fences, and adds the
 * job's fence to the dma-buf's reservation object (WRITE usage for FILL and
 * COPY, READ for CHECKSUM) before queueing the job to the device. The job
 * keeps the mapping it was submitted with until it finishes, even if the
 * exporter invalidates it meanwhile. The out fields are valid only on
 * success. Fails with EBUSY when UDB_IMPORTER_MAX_QUEUED jobs of this file
 * are in flight, EPERM for FILL or COPY on a read-only attachment.
 */
struct udb_importer_submit {
	__u32 handle;
	__u32 op;
	__u64 offset;
	__u64 len;
	__u64 value;
	__u32 delay_ms;
	__u32 flags;
	__u64 job_id;
	__s32 fence_fd;
	__u32 reserved[3];
};

/* Job states of struct udb_importer_job. */
#define UDB_IMPORTER_JOB_QUEUED		0
#define UDB_IMPORTER_JOB_RUNNING	1
#define UDB_IMPORTER_JOB_DONE		2
#define UDB_IMPORTER_JOB_ERROR		3	/* @error says why */

/* Out flags of struct udb_importer_job. */
/* An invalidation of the job's mapping arrived before the job finished. */
#define UDB_IMPORTER_JOB_STALE		_BITUL(0)
/* The submit had to map the attachment (no valid mapping was cached). */
#define UDB_IMPORTER_JOB_NEW_MAPPING	_BITUL(1)
/* The attachment is static: its mapping is pinned and never invalidated. */
#define UDB_IMPORTER_JOB_PINNED		_BITUL(2)

/**
 * struct udb_importer_job - UDB_IMPORTER_IOC_JOB argument
 * @job_id: in: from UDB_IMPORTER_IOC_SUBMIT on this file
 * @timeout_ms: in: wait up to this long for the job to finish (0: do not
 *	wait); the call still succeeds, with @status, when the job is not
 *	done in time
 * @status: out: UDB_IMPORTER_JOB_QUEUED, _RUNNING, _DONE or _ERROR
 * @error: out: with _ERROR, the negative errno (ECANCELED: the file was
 *	closed before the job ran)
 * @flags: out: UDB_IMPORTER_JOB_STALE, _NEW_MAPPING, _PINNED
 * @result: out: CHECKSUM: FNV-1a (64 bit) over the range's 32-bit words in
 *	native byte order, each word folded in whole (h ^= w; h *= prime)
 * @map_seq: out: the importer's map counter value of the mapping the job
 *	used (the attachment's n-th successful map): it grows with every
 *	re-map after an invalidation
 * @invalidations: out: invalidations of the attachment received before
 *	the job was submitted
 * @map_retries: out: always 0, as in struct udb_importer_copy
 * @reserved: must be zero
 *
 * Finished jobs are remembered in a ring of UDB_IMPORTER_JOB_RECORDS per
 * open file; older ids fail with ENOENT, ids not yet given with EINVAL.
 * The mapping an importer uses tells it what it can know of the exporter:
 * whether it moved since the last
 * job (@map_seq, _NEW_MAPPING), and whether the job raced with a move
 * (_STALE; see docs/design.md for that window).
 */
struct udb_importer_job {
	__u64 job_id;
	__u32 timeout_ms;
	__u32 status;
	__s32 error;
	__u32 flags;
	__u64 result;
	__u64 map_seq;
	__u64 invalidations;
	__u32 map_retries;
	__u32 reserved[3];
};

/*
 * Type 'Y', numbers 0x40-0x4f (the exporter, userptr_dmabuf.h, has
 * 0x00-0x1f): free in the ioctl-number.rst registry of Linux 6.12 and 7.3.
 * 'I' 0x00-0x04 until userptr_dmabuf API version 3 (ISDN's range).
 */
#define UDB_IMPORTER_IOC_MAGIC	'Y'
#define UDB_IMPORTER_IOC_ATTACH	\
	_IOWR(UDB_IMPORTER_IOC_MAGIC, 0x40, struct udb_importer_attach)
#define UDB_IMPORTER_IOC_DETACH	_IOW(UDB_IMPORTER_IOC_MAGIC, 0x41, __u32)
#define UDB_IMPORTER_IOC_COPY	\
	_IOWR(UDB_IMPORTER_IOC_MAGIC, 0x42, struct udb_importer_copy)
#define UDB_IMPORTER_IOC_SUBMIT	\
	_IOWR(UDB_IMPORTER_IOC_MAGIC, 0x43, struct udb_importer_submit)
#define UDB_IMPORTER_IOC_JOB	\
	_IOWR(UDB_IMPORTER_IOC_MAGIC, 0x44, struct udb_importer_job)

#endif /* _UAPI_UDB_IMPORTER_H */
