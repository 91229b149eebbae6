/* SPDX-License-Identifier: MIT */
/*
 * wl_shm (version 2): pools over the clients' files and wl_buffers in them.
 *
 * Our own instead of libwayland's wl_display_init_shm(), which checks a
 * buffer's stride only against its width in pixels (not bytes), so a
 * buffer whose rows do not fit could only be refused later, on an object
 * that has no such error. Here every rule of the protocol is checked
 * where the protocol puts it:
 *   wl_shm.create_pool   size <= 0                -> wl_shm.invalid_stride
 *                        the fd cannot be mapped  -> wl_shm.invalid_fd
 *   wl_shm_pool.create_buffer  format not advertised -> invalid_format,
 *                        width/height <= 0, offset < 0, stride < width *
 *                        4, offset + stride * height past the pool
 *                                                 -> invalid_stride
 *   wl_shm_pool.resize   smaller than before      -> invalid_stride
 *                        mremap fails             -> invalid_fd
 * (all on the wl_shm_pool). Formats: ARGB8888 and XRGB8888, 4 bytes a
 * pixel, which is what the renderer uploads.
 *
 * A client may still shrink the file under a pool; reads go through
 * shm_buffer_begin_access()/end_access(), guarded by sigbus.c. A read that
 * faulted gets wl_shm.invalid_fd on the pool (or, if the client already
 * destroyed the pool, an implementation error on its connection).
 *
 * Lifetimes: struct shm_pool is reference counted by its wl_shm_pool
 * resource and by each of its buffers (a buffer outlives the pool object
 * that created it); the mapping goes with the last reference. A wl_shm
 * buffer is a struct buffer (buffer.h) of kind BUFFER_SHM: the pool it
 * references, offset, stride, format; it can outlive its wl_buffer while
 * the compositor still uses it (not yet uploaded).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "server.h"

#define SHM_VERSION 2

struct shm_pool {
	struct wl_resource *resource;		/* NULL once destroyed */
	struct server *srv;
	int refs;
	void *map;
	size_t size;
	int fd;		/* a regular file's, for its size; -1 for others */
};

static bool format_ok(uint32_t format)
{
	return format == WL_SHM_FORMAT_ARGB8888 ||
	       format == WL_SHM_FORMAT_XRGB8888;
}

static void pool_unref(struct shm_pool *p)
{
	if (--p->refs > 0)
		return;
	munmap(p->map, p->size);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

/* ---- the wl_shm kind of struct buffer ---- */

static void buffer_destroy(struct buffer *b)
{
	pool_unref(b->shm.pool);
}

const void *shm_buffer_begin_access(struct buffer *b)
{
	sigbus_guard_begin(b->shm.pool->map, b->shm.pool->size);
	return (const uint8_t *)b->shm.pool->map + b->shm.offset;
}

/* The pool's file is smaller than the buffer needs: the client's error. */
static void post_shrunk(struct buffer *b)
{
	if (b->shm.pool->resource) {
		wl_resource_post_error(b->shm.pool->resource, WL_SHM_ERROR_INVALID_FD,
				       "the pool's file shrank below %zu bytes "
				       "while a buffer was read",
				       b->shm.pool->size);
	} else {
		wl_client_post_implementation_error(b->client,
			"the file of a destroyed wl_shm_pool shrank while "
			"a wl_buffer of it was read");
	}
}

bool shm_buffer_end_access(struct buffer *b)
{
	if (!sigbus_guard_end())
		return true;
	/* the pages are zeros now; the client broke its promise */
	post_shrunk(b);
	return false;
}

/*
 * At commit, so that a file shrunk under the pool is the wl_shm error of
 * that commit, not of a later repaint (which reads it guarded the same
 * way): a regular file's size is compared with the buffer's end; for
 * other files one byte of every page of the buffer is touched, the first
 * time the buffer is committed at this pool size.
 */
bool shm_buffer_check(struct buffer *b)
{
	struct shm_pool *pool = b->shm.pool;
	size_t len = (size_t)b->shm.stride * (size_t)b->height;
	long page = sysconf(_SC_PAGESIZE);
	const volatile uint8_t *p;
	struct stat st;

	if (pool->fd >= 0 && fstat(pool->fd, &st) == 0) {
		if ((uint64_t)st.st_size >= (uint64_t)b->shm.offset + len)
			return true;
		post_shrunk(b);
		return false;
	}
	if (b->shm.checked_pool_size == pool->size)
		return true;
	p = shm_buffer_begin_access(b);
	for (size_t off = 0; off < len; off += (size_t)page)
		(void)p[off];
	(void)p[len - 1];
	if (!shm_buffer_end_access(b))
		return false;
	b->shm.checked_pool_size = pool->size;
	return true;
}

/* ---- wl_shm_pool ---- */

static void pool_create_buffer(struct wl_client *c, struct wl_resource *r,
			       uint32_t id, int32_t offset, int32_t width,
			       int32_t height, int32_t stride, uint32_t format)
{
	struct shm_pool *p = wl_resource_get_user_data(r);
	struct buffer *b;

	if (!format_ok(format)) {
		wl_resource_post_error(r, WL_SHM_ERROR_INVALID_FORMAT,
				       "format 0x%08x was not advertised", format);
		return;
	}
	/* 64 bits: none of these can overflow */
	if (offset < 0 || width <= 0 || height <= 0 ||
	    (int64_t)stride < (int64_t)width * 4 ||
	    (int64_t)offset + (int64_t)stride * height > (int64_t)p->size) {
		wl_resource_post_error(r, WL_SHM_ERROR_INVALID_STRIDE,
				       "offset %d, %dx%d, stride %d do not fit "
				       "4-byte pixels in a pool of %zu bytes",
				       offset, width, height, stride, p->size);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		wl_client_post_no_memory(c);
		return;
	}
	buffer_init(b, p->srv, c,
		    BUFFER_SHM, width, height, buffer_destroy);
	b->shm.pool = p;
	p->refs++;
	b->shm.offset = offset;
	b->shm.stride = stride;
	b->shm.format = format;
	buffer_create_resource(b, id);
}

static void pool_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void pool_resize(struct wl_client *c, struct wl_resource *r,
			int32_t size)
{
	struct shm_pool *p = wl_resource_get_user_data(r);
	void *map;

	(void)c;
	if (size <= 0 || (size_t)size < p->size) {
		wl_resource_post_error(r, WL_SHM_ERROR_INVALID_STRIDE,
				       "pool can only grow (%zu -> %d bytes)",
				       p->size, size);
		return;
	}
	/* no access is in progress between requests: moving is safe */
	map = mremap(p->map, p->size, (size_t)size, MREMAP_MAYMOVE);
	if (map == MAP_FAILED) {
		wl_resource_post_error(r, WL_SHM_ERROR_INVALID_FD,
				       "cannot grow the mapping to %d bytes: %s",
				       size, strerror(errno));
		return;
	}
	p->map = map;
	p->size = (size_t)size;
}

static const struct wl_shm_pool_interface pool_impl = {
	.create_buffer = pool_create_buffer,
	.destroy = pool_destroy_req,
	.resize = pool_resize,
};

static void pool_resource_destroy(struct wl_resource *r)
{
	struct shm_pool *p = wl_resource_get_user_data(r);

	p->resource = NULL;
	pool_unref(p);
}

/* ---- wl_shm ---- */

static void shm_create_pool(struct wl_client *c, struct wl_resource *r,
			    uint32_t id, int32_t fd, int32_t size)
{
	struct shm_pool *p;
	struct stat st;
	void *map;

	if (size <= 0) {
		close(fd);
		wl_resource_post_error(r, WL_SHM_ERROR_INVALID_STRIDE,
				       "invalid pool size %d", size);
		return;
	}
	/* read-only: we never write, and sealed files allow nothing else */
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		wl_resource_post_error(r, WL_SHM_ERROR_INVALID_FD,
				       "cannot map the fd: %s", strerror(errno));
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		munmap(map, (size_t)size);
		close(fd);
		wl_client_post_no_memory(c);
		return;
	}
	/* kept only where its size says whether the buffers still fit */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		p->fd = fd;
	} else {
		p->fd = -1;
		close(fd);
	}
	p->map = map;
	p->size = (size_t)size;
	p->refs = 1;
	p->srv = wl_resource_get_user_data(r);
	p->resource = wl_resource_create(c, &wl_shm_pool_interface,
					 wl_resource_get_version(r), id);
	if (!p->resource) {
		pool_unref(p);
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(p->resource, &pool_impl, p,
				       pool_resource_destroy);
}

static void shm_release(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct wl_shm_interface shm_impl = {
	.create_pool = shm_create_pool,
	.release = shm_release,
};

static void shm_bind(struct wl_client *c, void *data, uint32_t ver,
		     uint32_t id)
{
	struct wl_resource *r = wl_resource_create(c, &wl_shm_interface, ver, id);

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &shm_impl, data, NULL);
	wl_shm_send_format(r, WL_SHM_FORMAT_ARGB8888);
	wl_shm_send_format(r, WL_SHM_FORMAT_XRGB8888);
}

int shm_init(struct server *srv)
{
	if (sigbus_init() < 0)
		return -1;
	return wl_global_create(srv->display, &wl_shm_interface, SHM_VERSION,
				srv, shm_bind) ? 0 : -1;
}
