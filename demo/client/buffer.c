/* SPDX-License-Identifier: MIT */
/*
 * udb-client: the memory behind each buffer, and what churn does to it.
 *
 * --mode userptr: aligned_alloc(page, stride*height rounded up to pages),
 *   plain malloc-family memory, made a dma-buf by USERPTR_DMABUF_IOC_CREATE.
 * --mode file: MAP_SHARED of an unlinked, ftruncate'd file in --file-dir,
 *   made a dma-buf the same way.
 * --mode shm: a wl_shm pool over a memfd (for comparison, no module).
 * A dma-buf becomes a wl_buffer through zwp_linux_buffer_params_v1 (plane 0,
 * offset 0, stride width*4, the modifier display.c found).
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
 * Lifetime: buffer_create() fills a struct buffer that owns its memory,
 * dma-buf fd and wl_buffer; buffer_destroy() releases all of them.
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
#include "linux-dmabuf-v1-client-protocol.h"
#include "userptr_dmabuf.h"

static void buffer_release(void *data, struct wl_buffer *wl)
{
	struct buffer *b = data;

	(void)wl;
	b->busy = false;
}

static const struct wl_buffer_listener buffer_listener = {
	.release = buffer_release,
};

/* --- zwp_linux_buffer_params_v1 (create with created/failed events) --- */

struct params_result {
	struct wl_buffer *wl;
	bool done;
};

static void params_created(void *data, struct zwp_linux_buffer_params_v1 *p,
			   struct wl_buffer *wl)
{
	struct params_result *r = data;

	(void)p;
	r->wl = wl;
	r->done = true;
}

static void params_failed(void *data, struct zwp_linux_buffer_params_v1 *p)
{
	struct params_result *r = data;

	(void)p;
	r->done = true;
}

static const struct zwp_linux_buffer_params_v1_listener params_listener = {
	.created = params_created,
	.failed = params_failed,
};

static struct wl_buffer *dmabuf_to_wl_buffer(struct client *c, int fd)
{
	struct params_result r = { 0 };
	struct zwp_linux_buffer_params_v1 *p;

	p = zwp_linux_dmabuf_v1_create_params(c->dmabuf);
	zwp_linux_buffer_params_v1_add_listener(p, &params_listener, &r);
	zwp_linux_buffer_params_v1_add(p, fd, 0, 0, c->stride,
				       (uint32_t)(c->modifier >> 32),
				       (uint32_t)c->modifier);
	if (c->dmabuf_version >= 2) {
		/* a failure comes as the failed event or a protocol error */
		r.wl = zwp_linux_buffer_params_v1_create_immed(
			p, (int32_t)c->opt.width, (int32_t)c->opt.height,
			DRM_FORMAT_ARGB8888, 0);
		if (wl_display_roundtrip(c->display) < 0 || (r.done && r.wl)) {
			/* failed was sent for the immediate buffer */
			if (r.wl)
				wl_buffer_destroy(r.wl);
			r.wl = NULL;
		}
	} else {
		zwp_linux_buffer_params_v1_create(p, (int32_t)c->opt.width,
						  (int32_t)c->opt.height,
						  DRM_FORMAT_ARGB8888, 0);
		while (!r.done)
			if (wl_display_dispatch(c->display) < 0)
				break;
	}
	zwp_linux_buffer_params_v1_destroy(p);
	if (!r.wl)
		loge("the compositor refused the dma-buf\n");
	return r.wl;
}

static int udb_create_fd(struct client *c, void *addr, size_t size)
{
	struct userptr_dmabuf_create cr = {
		.addr = (uintptr_t)addr,
		.size = size,
		.flags = USERPTR_DMABUF_CREATE_CLOEXEC,
	};

	if (ioctl(c->udb_dev, USERPTR_DMABUF_IOC_CREATE, &cr)) {
		loge("USERPTR_DMABUF_IOC_CREATE: %s\n", strerror(errno));
		return -1;
	}
	return cr.fd;
}

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

static int create_shm(struct client *c, struct buffer *b)
{
	struct wl_shm_pool *pool;
	int fd = memfd_create("udb-client-shm", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)b->size)) {
		loge("memfd: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		close(fd);
		return -1;
	}
	b->mem_mmapped = true;
	pool = wl_shm_create_pool(c->shm, fd, (int32_t)b->size);
	b->wl = wl_shm_pool_create_buffer(pool, 0, (int32_t)c->opt.width,
					  (int32_t)c->opt.height,
					  (int32_t)c->stride,
					  WL_SHM_FORMAT_ARGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	return 0;
}

int buffer_create(struct client *c, struct buffer *b, int index)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->index = index;
	b->dmabuf_fd = -1;
	b->frame = UINT32_MAX;
	b->size = ((size_t)c->stride * c->opt.height + c->page - 1) &
		  ~(c->page - 1);

	if (c->opt.mode == MODE_SHM) {
		if (create_shm(c, b))
			return -1;
	} else {
		if (c->opt.memfd_dmabuf) {
			b->dmabuf_fd = memfd_create("udb-client", MFD_CLOEXEC);
			if (b->dmabuf_fd < 0 ||
			    ftruncate(b->dmabuf_fd, (off_t)b->size))
				return -1;
			b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
				      MAP_SHARED, b->dmabuf_fd, 0);
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
			return -1;
		}
		if (b->dmabuf_fd < 0)
			b->dmabuf_fd = udb_create_fd(c, b->mem, b->size);
		if (b->dmabuf_fd < 0)
			return -1;
		b->wl = dmabuf_to_wl_buffer(c, b->dmabuf_fd);
		if (!b->wl)
			return -1;
	}
	wl_buffer_add_listener(b->wl, &buffer_listener, b);
	return 0;
}

void buffer_destroy(struct buffer *b)
{
	if (b->wl)
		wl_buffer_destroy(b->wl);
	if (b->dmabuf_fd >= 0)
		close(b->dmabuf_fd);
	if (b->shadow) {
		if (b->shadow_mmapped)
			munmap(b->shadow, b->size);
		else
			free(b->shadow);
	}
	if (b->mem) {
		if (b->mem_mmapped)
			munmap(b->mem, b->size);
		else
			free(b->mem);
	}
	memset(b, 0, sizeof(*b));
	b->dmabuf_fd = -1;
}

uint8_t *buffer_draw_target(struct buffer *b)
{
	return b->shadow ? b->shadow : b->mem;
}

/*
 * Bracket CPU drawing with DMA_BUF_IOCTL_SYNC, as dma-buf users should. For
 * a userptr buffer it also matters for correctness: after the client
 * remapped the range (mremap churn), the module only learns that the
 * address is backed again when someone maps or syncs the buffer, and until
 * then the compositor's mapping reads zeros.
 */
int buffer_cpu_access(struct buffer *b, bool begin)
{
	struct dma_buf_sync s = {
		.flags = DMA_BUF_SYNC_WRITE |
			 (begin ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END),
	};

	if (b->dmabuf_fd < 0)
		return 0;
	while (ioctl(b->dmabuf_fd, DMA_BUF_IOCTL_SYNC, &s)) {
		if (errno == EINTR || errno == EAGAIN)
			continue;
		if (errno == ENOTTY)	/* --memfd-as-dmabuf */
			return 0;
		loge("DMA_BUF_IOCTL_SYNC: %s\n", strerror(errno));
		return -1;
	}
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
		wl_buffer_set_user_data(b->wl, b);
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
