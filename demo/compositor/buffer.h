/* SPDX-License-Identifier: MIT */
/*
 * struct buffer: the compositor's side of a wl_buffer, wl_shm or dma-buf.
 *
 * Two counts:
 *  - busy: the compositor's uses. buffer_ref()/buffer_unref() take and
 *    drop one: the surface whose current content it is (surface.c),
 *    each frame in flight that drew it (repaint.c) and, for a dma-buf
 *    scanned out directly (output_kms.c), the KMS plane: from the commit
 *    that puts it on screen until the flip that replaced it completed.
 *  - refs: the lifetime. The wl_buffer resource holds one, every busy
 *    use one more; the struct, its renderer state and the kind's
 *    resources (the pool mapping, the plane fds) go with the last.
 * The one release rule: wl_buffer.release is sent when busy drops to 0
 * while the client still holds the wl_buffer.
 */
#ifndef UDB_BUFFER_H
#define UDB_BUFFER_H

#include <stdbool.h>
#include <stdint.h>
#include <wayland-server.h>

#define BUFFER_MAX_PLANES 4

struct server;
struct shm_pool;

enum buffer_kind { BUFFER_SHM, BUFFER_DMABUF };

struct buffer_plane {
	int fd;
	uint32_t offset, stride;
};

struct buffer {
	struct server *srv;
	struct wl_resource *resource;		/* NULL once destroyed */
	struct wl_client *client;
	enum buffer_kind kind;
	int32_t width, height;
	int refs, busy;
	bool counted;				/* in the report's buffers_shm */

	struct {				/* BUFFER_SHM (shm.c) */
		struct shm_pool *pool;		/* referenced */
		int32_t offset, stride;
		uint32_t format;		/* WL_SHM_FORMAT_* */
		size_t checked_pool_size;	/* pages touched at this size */
	} shm;
	struct {				/* BUFFER_DMABUF (dmabuf.c) */
		int nplanes;
		struct buffer_plane planes[BUFFER_MAX_PLANES];	/* fds owned */
		uint32_t fourcc, flags;		/* flags: params Y_INVERT */
		uint64_t modifier;
		struct wl_list live_link;	/* server.dmabuf_buffers */
	} dmabuf;

	/* the kind's own cleanup, when the last reference goes */
	void (*destroy)(struct buffer *b);
	/* renderer.c's cached state (dma-buf import), freed first */
	void *renderer_state;
	void (*renderer_state_destroy)(struct buffer *b);
	/* output_kms.c's cached state (the KMS framebuffer of a direct
	 * scanout), freed with the renderer's */
	void *scanout_state;
	void (*scanout_state_destroy)(struct buffer *b);
};

/* Fill the common fields: refs = 1 (the creator's, handed to the
 * resource by buffer_create_resource()). */
void buffer_init(struct buffer *b, struct server *srv, struct wl_client *c,
		 enum buffer_kind kind, int32_t w, int32_t h,
		 void (*destroy)(struct buffer *b));
/* The wl_buffer for b; NULL (b freed, no_memory posted) on failure. */
struct wl_resource *buffer_create_resource(struct buffer *b, uint32_t id);
struct buffer *buffer_from_resource(struct wl_resource *r);
struct buffer *buffer_ref(struct buffer *b);
void buffer_unref(struct buffer *b);

#endif
