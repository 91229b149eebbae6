/* SPDX-License-Identifier: MIT */
/*
 * The nested output: udb-compositor as one window of another Wayland
 * compositor (the user's desktop, or weston), found through the usual
 * WAYLAND_DISPLAY of the environment it starts in.
 *
 * The window is an xdg_toplevel of the output's size (min = max size: it
 * does not resize). Each frame is drawn into the renderer's framebuffer
 * and read back into one of two output buffers, which the parent then
 * composites. The output buffers are libudb-wayland's (demo/lib): with
 * /dev/userptr_dmabuf and a parent that imports XRGB8888 LINEAR (or
 * implicit) through linux-dmabuf, they are plain page-aligned anonymous
 * memory of this process shared as userptr dma-bufs: the parent imports
 * our memory, no wl_shm pool and no copy in the parent. Otherwise, or
 * when the parent refuses a dma-buf (zwp_linux_buffer_params_v1.failed),
 * both are wl_shm buffers of the library's that we read back into
 * directly (udb_wl_shm_buffer_create(): no extra copy either).
 *
 * Pacing: the parent's frame callback. A repaint request while a frame
 * is pending, or while both buffers are held by the parent, waits for
 * the callback or a release. The frame counts as presented when the
 * parent's callback for it fires (server_frame_done(), no retrace
 * counter: seq 0), or after NESTED_FRAME_TIMEOUT_MS if the parent
 * withholds it (a hidden window): our clients then run at that pace
 * instead of stopping. The parent closing the window ends the server
 * (status 0); losing the connection, or a protocol error from the
 * parent (logged), ends it with status 1.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <drm_fourcc.h>
#include <wayland-client.h>

#include "server.h"
#include "udb-wayland.h"
#include "xdg-shell-client-protocol.h"

#define NESTED_BUFFERS 2

struct nested_buffer {
	struct nested *n;
	struct udb_wl_buffer *ub;	/* wl_buffer, dma-buf or shm, busy */
	uint32_t *pixels;	/* what the parent shows */
	size_t size;
	bool mapped;		/* pixels is our mmap (userptr), else the pool */
};

struct nested {
	struct server *srv;
	struct wl_display *dpy;
	struct wl_registry *registry;
	struct wl_compositor *compositor;
	struct xdg_wm_base *wm_base;
	struct udb_wl_ctx *udb;		/* linux-dmabuf, wl_shm, the module */

	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	bool configured;
	struct wl_callback *frame;
	struct nested_buffer *presented;	/* the frame the callback is for */
	bool presented_pixels;
	bool wanted;		/* a repaint was asked for */
	struct wl_event_source *src, *idle, *timer;
	int stride;

	struct nested_buffer buf[NESTED_BUFFERS];
	const char *path;	/* "userptr" or "shm" */
};

static void nested_paint(void *data);
static void nested_flush(struct nested *n);

/* the longest the parent may withhold a frame callback */
#define NESTED_FRAME_TIMEOUT_MS 1000

/* --- registry and globals --- */

static void wm_base_ping(void *data, struct xdg_wm_base *wm, uint32_t serial)
{
	(void)data;
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {
	.ping = wm_base_ping,
};

static void registry_global(void *data, struct wl_registry *reg,
			    uint32_t name, const char *iface, uint32_t version)
{
	struct nested *n = data;

	if (!strcmp(iface, wl_compositor_interface.name) && version >= 4) {
		/* v4: damage_buffer */
		n->compositor = wl_registry_bind(reg, name,
						 &wl_compositor_interface, 4);
	} else if (!strcmp(iface, xdg_wm_base_interface.name)) {
		n->wm_base = wl_registry_bind(reg, name,
					      &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(n->wm_base, &wm_base_listener, n);
	}
}

static void registry_global_remove(void *data, struct wl_registry *reg,
				   uint32_t name)
{
	(void)data; (void)reg; (void)name;
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

/* --- output buffers (libudb-wayland) --- */

static void buffer_released(struct udb_wl_buffer *ub, void *data)
{
	struct nested_buffer *b = data;

	(void)ub;
	if (b->n->wanted)
		server_schedule_repaint(b->n->srv);
}

static void nested_lib_log(void *data, const char *line)
{
	server_log(data, "nested: libudb-wayland: %s", line);
}

/* Our own memory as a userptr dma-buf the parent imports; false: use shm. */
static bool buffer_userptr(struct nested *n, struct nested_buffer *b,
			   int w, int h)
{
	char why[128];

	b->pixels = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->pixels == MAP_FAILED) {
		b->pixels = NULL;
		return false;
	}
	b->mapped = true;
	b->ub = udb_wl_buffer_create(n->udb, b->pixels, (uint32_t)w,
				     (uint32_t)h, (uint32_t)n->stride,
				     DRM_FORMAT_XRGB8888);
	if (b->ub && !udb_wl_buffer_is_dmabuf(b->ub))
		server_log(n->srv, "nested: no dma-buf for an output buffer (%s): using wl_shm",
			   udb_wl_fallback_string(udb_wl_buffer_fallback(b->ub),
						  why, sizeof(why)));
	return b->ub && udb_wl_buffer_is_dmabuf(b->ub);
}

/* A wl_shm buffer of the library's, read back into directly. */
static bool buffer_shm(struct nested *n, struct nested_buffer *b, int w, int h)
{
	b->ub = udb_wl_shm_buffer_create(n->udb, (uint32_t)w, (uint32_t)h,
					 (uint32_t)n->stride,
					 DRM_FORMAT_XRGB8888);
	if (!b->ub)
		return false;
	b->pixels = udb_wl_buffer_data(b->ub);
	return true;
}

/* the wl_buffer (and dma-buf or pool) first, then the memory it showed */
static void buffer_fini(struct nested_buffer *b)
{
	udb_wl_buffer_destroy(b->ub);
	if (b->pixels && b->mapped)
		munmap(b->pixels, b->size);
	b->ub = NULL;
	b->pixels = NULL;
	b->mapped = false;
}

static int buffers_init(struct nested *n)
{
	int w = n->srv->output.width, h = n->srv->output.height;
	size_t page = udb_wl_ctx_page_size(n->udb);
	uint32_t why = udb_wl_ctx_format_fallback(n->udb, DRM_FORMAT_XRGB8888);
	bool userptr = !why;
	char reasons[128];
	int i;

	if (why)
		vlog(n->srv, "nested: wl_shm output buffers (%s)",
		     udb_wl_fallback_string(why, reasons, sizeof(reasons)));
	/* a pitch GPU importers take (amdgpu wants 256-byte aligned rows) */
	n->stride = (w * 4 + 255) & ~255;
	for (i = 0; i < NESTED_BUFFERS; i++) {
		struct nested_buffer *b = &n->buf[i];

		b->n = n;
		b->size = ((size_t)n->stride * h + page - 1) / page * page;
		if (userptr && !buffer_userptr(n, b, w, h)) {
			/* all buffers take one path */
			while (i >= 0)
				buffer_fini(&n->buf[i--]);
			userptr = false;
			i = -1;
			continue;
		}
		if (!userptr && !buffer_shm(n, b, w, h))
			return -1;
		udb_wl_buffer_set_release_callback(b->ub, buffer_released, b);
	}
	n->path = userptr ? "userptr" : "shm";
	return 0;
}

/* --- the window --- */

static void xdg_surface_configure(void *data, struct xdg_surface *xs,
				  uint32_t serial)
{
	struct nested *n = data;

	xdg_surface_ack_configure(xs, serial);
	if (!n->configured) {
		n->configured = true;
		n->srv->dirty = true;
		server_schedule_repaint(n->srv);
	}
}

static const struct xdg_surface_listener xdg_surface_listener = {
	.configure = xdg_surface_configure,
};

static void toplevel_configure(void *data, struct xdg_toplevel *t,
			       int32_t w, int32_t h, struct wl_array *states)
{
	(void)data; (void)t; (void)w; (void)h; (void)states;	/* fixed size */
}

static void toplevel_close(void *data, struct xdg_toplevel *t)
{
	struct nested *n = data;

	(void)t;
	server_log(n->srv, "nested: the parent closed the window");
	server_exit(n->srv, 0);
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

/*
 * The frame is on the parent's screen: its frame callback came, or the
 * parent withholds callbacks (a hidden or minimised window) and the
 * fallback timer stands in, so our clients keep getting theirs.
 */
static void nested_presented(struct nested *n)
{
	struct nested_buffer *b = n->presented;

	if (n->frame)
		wl_callback_destroy(n->frame);
	n->frame = NULL;
	n->presented = NULL;
	wl_event_source_timer_update(n->timer, 0);
	server_frame_done(n->srv, now_ns(CLOCK_MONOTONIC), 0,
			  n->presented_pixels && b ? b->pixels : NULL,
			  n->stride);
	if (n->wanted)
		server_schedule_repaint(n->srv);
}

static void frame_done(void *data, struct wl_callback *cb, uint32_t ms)
{
	(void)cb;
	(void)ms;
	nested_presented(data);
}

static int frame_timeout(void *data)
{
	struct nested *n = data;

	if (n->frame)
		nested_presented(n);
	return 0;
}

static const struct wl_callback_listener frame_listener = {
	.done = frame_done,
};

/* DMA_BUF_IOCTL_SYNC around the readback (nothing for wl_shm) */
static void sync_pixels(struct nested_buffer *b, bool begin)
{
	static bool said;
	int ret;

	if (begin)
		ret = udb_wl_buffer_begin_cpu_access(b->ub, UDB_WL_ACCESS_WRITE);
	else
		ret = udb_wl_buffer_end_cpu_access(b->ub, UDB_WL_ACCESS_WRITE);
	if (ret && !said) {
		said = true;
		server_log(b->n->srv, "nested: DMA_BUF_IOCTL_SYNC: %s", strerror(errno));
	}
}

static struct nested_buffer *free_buffer(struct nested *n)
{
	for (int i = 0; i < NESTED_BUFFERS; i++)
		if (!udb_wl_buffer_is_busy(n->buf[i].ub))
			return &n->buf[i];
	return NULL;
}

static void nested_paint(void *data)
{
	struct nested *n = data;
	struct server *srv = n->srv;
	struct nested_buffer *b;
	bool pixels;

	n->idle = NULL;
	if (!n->configured || n->frame)
		return;
	b = free_buffer(n);
	if (!b)
		return;		/* a release schedules again */
	n->wanted = false;
	pixels = server_wants_pixels(srv);
	if (!server_repaint(srv))
		return;
	sync_pixels(b, true);
	renderer_read(srv->renderer, b->pixels, n->stride);
	sync_pixels(b, false);
	udb_wl_buffer_attach(b->ub, n->surface, 0, 0);	/* b is not busy */
	wl_surface_damage_buffer(n->surface, 0, 0, INT32_MAX, INT32_MAX);
	n->frame = wl_surface_frame(n->surface);
	wl_callback_add_listener(n->frame, &frame_listener, n);
	wl_surface_commit(n->surface);
	n->presented = b;
	n->presented_pixels = pixels;
	wl_event_source_timer_update(n->timer, NESTED_FRAME_TIMEOUT_MS);
	nested_flush(n);
}

static void nested_schedule(struct server *srv)
{
	struct nested *n = srv->output.backend;

	n->wanted = true;
	if (!n->idle && n->configured && !n->frame)
		n->idle = wl_event_loop_add_idle(srv->loop, nested_paint, n);
}

/* Send what is queued; a full socket waits for WRITABLE. */
static void nested_flush(struct nested *n)
{
	uint32_t mask = WL_EVENT_READABLE;

	if (wl_display_flush(n->dpy) < 0 && errno == EAGAIN)
		mask |= WL_EVENT_WRITABLE;
	if (n->src)
		wl_event_source_fd_update(n->src, mask);
}

static void nested_lost(struct nested *n)
{
	const struct wl_interface *iface;
	int err = wl_display_get_error(n->dpy);
	uint32_t id, code;

	if (err == EPROTO) {
		code = wl_display_get_protocol_error(n->dpy, &iface, &id);
		server_log(n->srv, "nested: the parent sent a protocol error: %s#%u, code %u",
			   iface ? iface->name : "?", id, code);
	} else {
		server_log(n->srv, "nested: lost the parent compositor: %s",
			   strerror(err ? err : EPIPE));
	}
	wl_event_source_remove(n->src);
	n->src = NULL;
	server_exit(n->srv, 1);
}

static int nested_dispatch(int fd, uint32_t mask, void *data)
{
	struct nested *n = data;

	(void)fd;
	/* on a hangup, what the parent sent before it (an error) first */
	if ((mask & (WL_EVENT_READABLE | WL_EVENT_HANGUP | WL_EVENT_ERROR)) &&
	    wl_display_dispatch(n->dpy) < 0) {
		nested_lost(n);
		return 0;
	}
	if (mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)) {
		nested_lost(n);
		return 0;
	}
	nested_flush(n);
	return 0;
}

static void nested_destroy(struct server *srv)
{
	struct nested *n = srv->output.backend;

	if (!n)
		return;
	if (n->idle)
		wl_event_source_remove(n->idle);
	if (n->timer)
		wl_event_source_remove(n->timer);
	if (n->src)
		wl_event_source_remove(n->src);
	if (n->frame)
		wl_callback_destroy(n->frame);
	/* the window first: the parent must not sample freed buffers */
	if (n->toplevel)
		xdg_toplevel_destroy(n->toplevel);
	if (n->xdg_surface)
		xdg_surface_destroy(n->xdg_surface);
	if (n->surface) {
		wl_surface_destroy(n->surface);
		/* a busy userptr buffer's pages are sampled live: the parent
		 * has to have handled the destroy before they are unmapped
		 * (returns at once when the connection is gone); no repaint
		 * from releases that come meanwhile */
		for (int i = 0; i < NESTED_BUFFERS; i++)
			if (n->buf[i].ub)
				udb_wl_buffer_set_release_callback(n->buf[i].ub,
								   NULL, NULL);
		wl_display_roundtrip(n->dpy);
	}
	for (int i = 0; i < NESTED_BUFFERS; i++)
		buffer_fini(&n->buf[i]);
	udb_wl_ctx_destroy(n->udb);
	if (n->wm_base)
		xdg_wm_base_destroy(n->wm_base);
	if (n->compositor)
		wl_compositor_destroy(n->compositor);
	if (n->registry)
		wl_registry_destroy(n->registry);
	if (n->dpy) {
		wl_display_flush(n->dpy);
		wl_display_disconnect(n->dpy);
	}
	free(n);
	srv->output.backend = NULL;
}

static const struct output_ops nested_ops = {
	.schedule = nested_schedule,
	.destroy = nested_destroy,
};

static int window_init(struct nested *n)
{
	int w = n->srv->output.width, h = n->srv->output.height;

	n->surface = wl_compositor_create_surface(n->compositor);
	n->xdg_surface = xdg_wm_base_get_xdg_surface(n->wm_base, n->surface);
	xdg_surface_add_listener(n->xdg_surface, &xdg_surface_listener, n);
	n->toplevel = xdg_surface_get_toplevel(n->xdg_surface);
	xdg_toplevel_add_listener(n->toplevel, &toplevel_listener, n);
	xdg_toplevel_set_title(n->toplevel, "udb-compositor");
	xdg_toplevel_set_app_id(n->toplevel, "udb-compositor");
	xdg_toplevel_set_min_size(n->toplevel, w, h);
	xdg_toplevel_set_max_size(n->toplevel, w, h);
	wl_surface_commit(n->surface);
	return wl_display_roundtrip(n->dpy) < 0 ? -1 : 0;
}

int output_wayland_init(struct server *srv)
{
	struct nested *n = calloc(1, sizeof(*n));
	const char *parent = getenv("WAYLAND_DISPLAY");

	if (!n)
		return -1;
	srv->output.backend = n;
	srv->output.ops = &nested_ops;
	srv->output.vsync = false;
	n->srv = srv;
	if (!parent || !strcmp(parent, srv->opt.socket)) {
		fprintf(stderr, "udb-compositor: --backend wayland needs the parent compositor's WAYLAND_DISPLAY (and a --socket of our own)\n");
		return -1;
	}
	n->dpy = wl_display_connect(NULL);
	if (!n->dpy) {
		fprintf(stderr, "udb-compositor: cannot connect to the parent compositor %s: %s\n",
			parent, strerror(errno));
		return -1;
	}
	n->registry = wl_display_get_registry(n->dpy);
	wl_registry_add_listener(n->registry, &registry_listener, n);
	if (wl_display_roundtrip(n->dpy) < 0)
		return -1;
	if (!n->compositor || !n->wm_base) {
		fprintf(stderr, "udb-compositor: the parent compositor lacks wl_compositor v4 or xdg_wm_base\n");
		return -1;
	}
	/* linux-dmabuf (its formats), wl_shm and the module */
	n->udb = udb_wl_ctx_create(n->dpy, &(struct udb_wl_ctx_options){
		.size = sizeof(struct udb_wl_ctx_options),
		.allow_implicit_modifier = true,
		.log = nested_lib_log, .log_data = srv,
	});
	if (!n->udb) {
		fprintf(stderr, "udb-compositor: the parent compositor: %s (wl_shm or linux-dmabuf needed)\n",
			strerror(errno));
		return -1;
	}
	if (buffers_init(n) < 0) {
		fprintf(stderr, "udb-compositor: cannot allocate the output buffers\n");
		return -1;
	}
	if (window_init(n) < 0)
		return -1;
	n->src = wl_event_loop_add_fd(srv->loop, wl_display_get_fd(n->dpy),
				      WL_EVENT_READABLE, nested_dispatch, n);
	n->timer = wl_event_loop_add_timer(srv->loop, frame_timeout, n);
	if (!n->src || !n->timer)
		return -1;
	server_log(srv, "nested in %s: %dx%d window, %s output buffers",
		   parent, srv->output.width, srv->output.height, n->path);
	/* events the roundtrips queued */
	wl_display_dispatch_pending(n->dpy);
	nested_flush(n);
	return 0;
}
