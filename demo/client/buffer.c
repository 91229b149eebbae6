/* SPDX-License-Identifier: MIT */
/*
 * udb-client: the memory behind each buffer, and what churn does to it.
 *
 * --mode userptr: aligned_alloc(page, stride*height rounded up to pages),
 *   plain malloc-family memory, made a dma-buf by USERPTR_DMABUF_IOC_CREATE.
 * --mode file: MAP_SHARED of an unlinked, ftruncate'd file in --file-dir,
 *   made a dma-buf the same way.
 * --mode shm: a wl_shm pool over a memfd (for comparison, no module),
 *   drawn into directly (udb_wl_shm_buffer_create()).
 * libudb-wayland (demo/lib) makes the dma-buf and its wl_buffer
 * (udb_wl_buffer_create(): zwp_linux_buffer_params_v1, plane 0, offset 0,
 * stride width*4, LINEAR or else the implicit modifier); a dma-buf mode
 * that would fall back to wl_shm is an error here.
 *
 * Churn changes the CPU page tables under a live dma-buf; the module must
 * make the compositor see the new pages at the same address:
 *   mremap:  move the memory away (into a fresh reservation), MAP_FIXED new
 *            anonymous memory at the old address, drop the moved copy.
 *   realloc: odd times, new anonymous pages MAP_FIXED over the old range
 *            (same address, same dma-buf); even times, a new allocation
 *            with a new dma-buf and wl_buffer, the old trio destroyed.
 *   fork:    a child writes its copy-on-write copy (reads, if the memory
 *            is MAP_SHARED) and exits soon; the parent's next write breaks
 *            COW and the dma-buf must follow it.
 *   madvise: MADV_DONTNEED, so the next write faults in zeroed pages.
 * After each churn the caller draws the whole frame into the buffer.
 *
 * --memfd-as-dmabuf (tests only, --mode userptr): the buffer is a
 * MAP_SHARED memfd passed as the "dma-buf", which llvmpipe imports the same
 * way (lseek + mmap): the linux-dmabuf path without the module, on a host.
 * Churn then cannot be followed.
 *
 * --inject-stale (tests only): after a churn, drawing goes to a private
 * copy, so the compositor keeps showing what the buffer memory held: the
 * invalidation test must catch that.
 *
 * Lifetime: buffer_create() fills a struct buffer that owns its memory and
 * its udb_wl_buffer (dma-buf fd or shm pool, wl_buffer);
 * buffer_destroy() releases the udb_wl_buffer, then the memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <linux/dma-buf.h>

#include "client.h"
#include "userptr_dmabuf.h"

static void *map_file(struct client *c, size_t size)
{
	char path[4096];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/udb-client-XXXXXX", c->opt.file_dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		loge("cannot create a file in %s: %s\n", c->opt.file_dir,
		     strerror(errno));
		return NULL;
	}
	unlink(path);
	if (ftruncate(fd, (off_t)size)) {
		loge("ftruncate: %s\n", strerror(errno));
		close(fd);
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);	/* the mapping keeps the file */
	return p == MAP_FAILED ? NULL : p;
}

/* The memory is a dma-buf: the library's wl_shm fallback is an error here. */
static int create_dmabuf(struct client *c, struct buffer *b, int memfd)
{
	uint32_t format = c->opt.opaque ? DRM_FORMAT_XRGB8888 :
					  DRM_FORMAT_ARGB8888;
	char why[128];

	if (memfd >= 0)
		b->ub = udb_wl_buffer_create_dmabuf(c->udb, memfd, b->mem, 0,
						    c->opt.width,
						    c->opt.height, c->stride,
						    format);
	else
		b->ub = udb_wl_buffer_create(c->udb, b->mem, c->opt.width,
					     c->opt.height, c->stride, format);
	if (!b->ub) {
		loge("cannot make a wl_buffer: %s\n", strerror(errno));
		return -1;
	}
	if (!udb_wl_buffer_is_dmabuf(b->ub)) {
		loge("no dma-buf for this buffer (%s)\n",
		     udb_wl_fallback_string(udb_wl_buffer_fallback(b->ub), why,
					    sizeof(why)));
		return -1;
	}
	buffer_watch_release(b);
	return 0;
}

int buffer_create(struct client *c, struct buffer *b, int index)
{
	int memfd = -1;

	memset(b, 0, sizeof(*b));
	b->c = c;
	b->index = index;
	b->frame = UINT32_MAX;
	b->size = ((size_t)c->stride * c->opt.height + c->page - 1) &
		  ~(c->page - 1);

	if (c->opt.mode == MODE_SHM) {
		/* the shm baseline draws into the pool itself: no copy */
		b->ub = udb_wl_shm_buffer_create(c->udb, c->opt.width,
						 c->opt.height, c->stride,
						 DRM_FORMAT_ARGB8888);
		if (!b->ub) {
			loge("wl_shm buffer: %s\n", strerror(errno));
			return -1;
		}
		b->mem = udb_wl_buffer_data(b->ub);
		b->mem_lib = true;
		buffer_watch_release(b);
		return 0;
	}
	if (c->opt.memfd_dmabuf) {
		memfd = memfd_create("udb-client", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, (off_t)b->size)) {
			if (memfd >= 0)
				close(memfd);
			return -1;
		}
		b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, memfd, 0);
		if (b->mem == MAP_FAILED)
			b->mem = NULL;
		b->mem_mmapped = true;
	} else if (c->opt.mode == MODE_FILE) {
		b->mem = map_file(c, b->size);
		b->mem_mmapped = true;
	} else {
		b->mem = aligned_alloc(c->page, b->size);
	}
	if (!b->mem) {
		loge("out of memory\n");
		if (memfd >= 0)
			close(memfd);
		return -1;
	}
	return create_dmabuf(c, b, memfd);	/* the buffer owns memfd */
}

void buffer_destroy(struct buffer *b)
{
	/* the wl_buffer and dma-buf first: the compositor reads b->mem */
	udb_wl_buffer_destroy(b->ub);
	if (b->shadow) {
		if (b->shadow_mmapped)
			munmap(b->shadow, b->size);
		else
			free(b->shadow);
	}
	if (b->mem && !b->mem_lib) {
		if (b->mem_mmapped)
			munmap(b->mem, b->size);
		else
			free(b->mem);
	}
	memset(b, 0, sizeof(*b));
}

uint8_t *buffer_draw_target(struct buffer *b)
{
	return b->shadow ? b->shadow : b->mem;
}

/*
 * Bracket CPU drawing with DMA_BUF_IOCTL_SYNC, as dma-buf users should
 * (udb_wl_buffer_begin/end_cpu_access(); nothing for wl_shm). For a
 * userptr buffer it also matters for correctness: after the client
 * remapped the range (mremap churn), the module only learns that the
 * address is backed again when someone maps or syncs the buffer, and until
 * then the compositor's mapping reads zeros.
 */
int buffer_cpu_access(struct buffer *b, bool begin)
{
	if (begin)
		return udb_wl_buffer_begin_cpu_access(b->ub,
						      UDB_WL_ACCESS_WRITE);
	return udb_wl_buffer_end_cpu_access(b->ub, UDB_WL_ACCESS_WRITE);
}

/*
 * The module's figures for the buffer's dma-buf (USERPTR_DMABUF_IOC_INFO):
 * how many snapshots it published (generation) and how many CPU page
 * table changes hit the range (invalidations). -1 for wl_shm buffers, a
 * memfd passed as the dma-buf, or without the device.
 */
int buffer_info(struct buffer *b, uint64_t *generation,
		uint64_t *invalidations)
{
	struct userptr_dmabuf_info info;
	int fd = udb_wl_buffer_get_dmabuf_fd(b->ub);

	if (b->c->udb_dev < 0 || fd < 0 || b->c->opt.memfd_dmabuf)
		return -1;
	memset(&info, 0, sizeof(info));
	info.fd = fd;
	if (ioctl(b->c->udb_dev, USERPTR_DMABUF_IOC_INFO, &info))
		return -1;
	*generation = info.generation;
	*invalidations = info.invalidations;
	return 0;
}

/* --inject-stale: from now on draw where the compositor cannot see it. */
static int hide_drawing(struct buffer *b, void *moved_copy)
{
	if (b->shadow)
		return 0;
	if (moved_copy) {
		b->shadow = moved_copy;
		b->shadow_mmapped = true;
		return 0;
	}
	b->shadow = malloc(b->size);
	return b->shadow ? 0 : -1;
}

static void *map_fixed_anon(void *addr, size_t size)
{
	return mmap(addr, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

static int churn_mremap(struct buffer *b)
{
	void *to, *moved;

	to = mmap(NULL, b->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	if (to == MAP_FAILED)
		return -1;
	moved = mremap(b->mem, b->size, b->size,
		       MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (moved == MAP_FAILED) {
		loge("mremap: %s\n", strerror(errno));
		munmap(to, b->size);
		return -1;
	}
	/* the old range is a hole now: fill it with fresh memory */
	if (map_fixed_anon(b->mem, b->size) == MAP_FAILED) {
		loge("mmap MAP_FIXED: %s\n", strerror(errno));
		munmap(moved, b->size);
		return -1;
	}
	if (b->c->opt.inject_stale && !b->shadow)
		return hide_drawing(b, moved);
	munmap(moved, b->size);
	return 0;
}

static int churn_realloc(struct buffer *b)
{
	struct client *c = b->c;
	struct buffer nb;

	if (c->realloc_flip++ % 2 == 0) {
		/* new pages at the same address: the dma-buf keeps the range */
		if (map_fixed_anon(b->mem, b->size) == MAP_FAILED) {
			loge("mmap MAP_FIXED: %s\n", strerror(errno));
			return -1;
		}
		logv(c, "realloc in place at %p\n", (void *)b->mem);
	} else {
		/* a new allocation (made while the old one still exists, so
		 * at another address) with its own dma-buf and wl_buffer */
		if (buffer_create(c, &nb, b->index)) {
			buffer_destroy(&nb);
			return -1;
		}
		logv(c, "realloc %p -> %p, new dma-buf\n", (void *)b->mem,
		     (void *)nb.mem);
		buffer_destroy(b);
		*b = nb;
		/* its release callback was given &nb, which goes now */
		buffer_watch_release(b);
	}
	return c->opt.inject_stale ? hide_drawing(b, NULL) : 0;
}

static int churn_fork(struct buffer *b)
{
	pid_t pid = fork();

	if (pid < 0) {
		loge("fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* the child scribbles on its copy-on-write copy, which must
		 * never reach the screen, and lingers a little; a MAP_SHARED
		 * buffer (file mode) is the parent's too: only read it */
		volatile uint8_t sink = 0;

		if (b->mem_mmapped)
			for (size_t i = 0; i < b->size; i += b->c->page)
				sink ^= b->mem[i];
		else
			memset(b->mem, 0x5a, b->size);
		(void)sink;
		usleep(100 * 1000);
		_exit(0);
	}
	/* reaped by SIGCHLD = SIG_IGN (main.c) */
	return b->c->opt.inject_stale ? hide_drawing(b, NULL) : 0;
}

static int churn_madvise(struct buffer *b)
{
	if (madvise(b->mem, b->size, MADV_DONTNEED)) {
		loge("madvise: %s\n", strerror(errno));
		return -1;
	}
	return b->c->opt.inject_stale ? hide_drawing(b, NULL) : 0;
}

int buffer_churn(struct buffer *b, enum churn_kind kind)
{
	if (b->c->opt.mode == MODE_SHM)
		return 0;	/* churn is about dma-bufs; main.c warns */
	switch (kind) {
	case CHURN_MREMAP:
		return churn_mremap(b);
	case CHURN_REALLOC:
		return churn_realloc(b);
	case CHURN_FORK:
		return churn_fork(b);
	case CHURN_MADVISE:
		return churn_madvise(b);
	case CHURN_NONE:
		break;
	}
	return 0;
}
