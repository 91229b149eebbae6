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

/*
 * Interface version, bumped when an ioctl, a flag or a command number
 * changes. 3: the ioctl type moved from 'u' (taken by ublk) to 'Y'.
 */
#define USERPTR_DMABUF_API_VERSION	3U

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

/* Flags of USERPTR_DMABUF_IOC_CREATE and USERPTR_DMABUF_IOC_CREATE_LIST. */
/* The returned dma-buf fd has FD_CLOEXEC set. */
#define USERPTR_DMABUF_CREATE_CLOEXEC	_BITUL(0)
/*
 * Devices only read the buffer: device mappings are DMA_TO_DEVICE and a
 * writable mmap() of the dma-buf is refused. The range itself need only be
 * readable.
 */
#define USERPTR_DMABUF_CREATE_READONLY	_BITUL(1)
#define USERPTR_DMABUF_CREATE_FLAGS	(USERPTR_DMABUF_CREATE_CLOEXEC | \
					 USERPTR_DMABUF_CREATE_READONLY)

/**
 * struct userptr_dmabuf_create - USERPTR_DMABUF_IOC_CREATE argument
 * @addr: in: start of the range in the caller's address space, page aligned
 * @size: in: length in bytes, page aligned, non-zero, at most max_size
 * @flags: in: USERPTR_DMABUF_CREATE_*
 * @fd: out: the new dma-buf file descriptor
 * @reserved: must be zero on input, zero on output
 *
 * The range must be covered by mappings hmm_range_fault() can mirror
 * (anonymous, shmem/memfd, MAP_SHARED or MAP_PRIVATE files, THP, hugetlb),
 * without holes, and readable (writable unless READONLY). VM_IO and
 * VM_PFNMAP ranges are refused with -EFAULT.
 */
struct userptr_dmabuf_create {
	__u64 addr;
	__u64 size;
	__u32 flags;
	__s32 fd;
	__u64 reserved[2];
};

/**
 * struct userptr_dmabuf_range - one range of a USERPTR_DMABUF_IOC_CREATE_LIST
 * @addr: start, page aligned
 * @size: length in bytes, page aligned, non-zero
 */
struct userptr_dmabuf_range {
	__u64 addr;
	__u64 size;
};

/* Most ranges one USERPTR_DMABUF_IOC_CREATE_LIST accepts. */
#define USERPTR_DMABUF_MAX_RANGES	1024

/**
 * struct userptr_dmabuf_create_list - USERPTR_DMABUF_IOC_CREATE_LIST argument
 * @ranges: in: pointer to an array of struct userptr_dmabuf_range; the
 *	buffer is their concatenation, in order. Ranges may not overlap.
 * @count: in: number of ranges, 1..USERPTR_DMABUF_MAX_RANGES
 * @flags: in: USERPTR_DMABUF_CREATE_*
 * @fd: out: the new dma-buf file descriptor
 * @reserved0: must be zero
 * @reserved: must be zero on input, zero on output
 *
 * The total size obeys the same limit as USERPTR_DMABUF_IOC_CREATE.
 */
struct userptr_dmabuf_create_list {
	__u64 ranges;
	__u32 count;
	__u32 flags;
	__s32 fd;
	__u32 reserved0;
	__u64 reserved[2];
};

/* Values of struct userptr_dmabuf_info.state. */
/* The snapshot matches the CPU page tables; importers may map. */
#define USERPTR_DMABUF_STATE_VALID	0
/* The CPU mapping changed; a refresh is queued or running. */
#define USERPTR_DMABUF_STATE_STALE	1
/* The last refresh failed (range unmapped, or not accessible). */
#define USERPTR_DMABUF_STATE_FAULT	2
/* The owner's address space is gone; the buffer can never be mapped. */
#define USERPTR_DMABUF_STATE_DEAD	3

/**
 * struct userptr_dmabuf_info - USERPTR_DMABUF_IOC_INFO argument
 * @fd: in: a dma-buf fd created by this module
 * @state: out: USERPTR_DMABUF_STATE_*
 * @size: out: size in bytes
 * @flags: out: the USERPTR_DMABUF_CREATE_* flags it was created with
 * @nranges: out: number of ranges
 * @generation: out: bumped each time a new snapshot is published
 * @invalidations: out: notifier calls that hit the range
 * @pinned_invalidations: out: of those, ones that hit while pinned pages
 *	(static importers) or a kernel vmap could not follow the change
 * @pinned_pages: out: pages held with FOLL_LONGTERM for pinned users
 * @attachments: out: current device attachments
 * @mmaps: out: live CPU mappings of the dma-buf
 * @last_error: out: negative errno of the last failed refresh, or 0
 *	(-EBUSY while a STALE buffer's refresh is postponed)
 * @reserved0: zero
 * @fence_timeouts: out: CPU mapping changes that went ahead while device
 *	work on the buffer was still unfinished after 5 s (the device then
 *	kept accessing the old, still referenced pages)
 * @last_window_ns: out: for the last published refresh, nanoseconds from
 *	the CPU change that made the buffer stale to the importers'
 *	notification: the window of docs/design.md
 * @reserved: must be zero on input, zero on output
 *
 * Every field but @fd must be zero on input.
 */
struct userptr_dmabuf_info {
	__s32 fd;
	__u32 state;
	__u64 size;
	__u32 flags;
	__u32 nranges;
	__u64 generation;
	__u64 invalidations;
	__u64 pinned_invalidations;
	__u64 pinned_pages;
	__u32 attachments;
	__u32 mmaps;
	__s32 last_error;
	__u32 reserved0;
	__u64 fence_timeouts;
	__u64 last_window_ns;
	__u64 reserved[2];
};

/*
 * Type 'Y', numbers 0x00-0x1f: free in the ioctl-number.rst registry of
 * Linux 6.12 and 7.3 (and used by no ioctl in either tree). The reference
 * importer (udb_importer.h) uses 'Y' 0x40-0x4f.
 */
#define USERPTR_DMABUF_IOC_MAGIC	'Y'
#define USERPTR_DMABUF_IOC_VERSION	\
	_IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x00, struct userptr_dmabuf_version)
#define USERPTR_DMABUF_IOC_CREATE	\
	_IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x01, struct userptr_dmabuf_create)
#define USERPTR_DMABUF_IOC_CREATE_LIST	\
	_IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x02, struct userptr_dmabuf_create_list)
#define USERPTR_DMABUF_IOC_INFO	\
	_IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x03, struct userptr_dmabuf_info)

#endif /* _UAPI_USERPTR_DMABUF_H */
