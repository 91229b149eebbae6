/* SPDX-License-Identifier: MIT */
/*
 * udb-client: connection, globals and the window.
 *
 * Binds wl_compositor (v4, for damage_buffer), xdg_wm_base (v1),
 * wp_presentation and udb_capture_v1 (both optional). wl_shm and
 * zwp_linux_dmabuf_v1 are libudb-wayland's (demo/lib): its context learns
 * whether the compositor takes DRM_FORMAT_ARGB8888 with the LINEAR
 * modifier (or only the implicit one, which we accept) and says why a
 * dma-buf mode cannot work. The window is one xdg_toplevel; nothing is
 * attached before the first configure has been acked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "client.h"
#include "presentation-time-client-protocol.h"
#include "udb-capture-v1-client-protocol.h"
#include "userptr_dmabuf.h"
#include "xdg-shell-client-protocol.h"

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void lib_log(void *data, const char *line)
{
	(void)data;
	loge("%s\n", line);
}

/* --- udb_capture_v1 --- */

static void capture_mode(void *data, struct udb_capture_v1 *cap, uint32_t w,
			 uint32_t h)
{
	struct client *c = data;

	(void)cap;
	c->out_w = w;
	c->out_h = h;
}

static const struct udb_capture_v1_listener capture_listener = {
	.mode = capture_mode,
};

/* --- xdg_wm_base, xdg_surface, xdg_toplevel --- */

static void wm_ping(void *data, struct xdg_wm_base *wm, uint32_t serial)
{
	(void)data;
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_listener = { .ping = wm_ping };

static void xdg_surface_configure(void *data, struct xdg_surface *xs,
				  uint32_t serial)
{
	struct client *c = data;

	xdg_surface_ack_configure(xs, serial);
	c->configured = true;
}

static const struct xdg_surface_listener xdg_surface_listener = {
	.configure = xdg_surface_configure,
};

static void toplevel_configure(void *data, struct xdg_toplevel *t, int32_t w,
			       int32_t h, struct wl_array *states)
{
	struct client *c = data;

	/* we keep our size: the compositor's suggestion is only a hint;
	 * but --fullscreen takes the output's size (before the buffers
	 * are made: the first configure) */
	(void)t; (void)states;
	if (c->opt.fullscreen && !c->nbuf && w > 0 && h > 0) {
		c->opt.width = (uint32_t)w;
		c->opt.height = (uint32_t)h;
		c->stride = c->opt.width * 4;
	}
}

static void toplevel_close(void *data, struct xdg_toplevel *t)
{
	(void)t;
	((struct client *)data)->closed = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

/* --- registry --- */

static void registry_global(void *data, struct wl_registry *reg, uint32_t name,
			    const char *iface, uint32_t version)
{
	struct client *c = data;

	if (!strcmp(iface, wl_compositor_interface.name) && version >= 4) {
		c->compositor = wl_registry_bind(reg, name,
						 &wl_compositor_interface, 4);
	} else if (!strcmp(iface, xdg_wm_base_interface.name)) {
		c->wm_base = wl_registry_bind(reg, name,
					      &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(c->wm_base, &wm_listener, c);
	} else if (!strcmp(iface, wl_output_interface.name) && !c->output) {
		/* bound so that wl_surface.enter/leave come (--stats) */
		c->output = wl_registry_bind(reg, name, &wl_output_interface,
					     1);
	} else if (!strcmp(iface, wp_presentation_interface.name)) {
		c->presentation = wl_registry_bind(reg, name,
						   &wp_presentation_interface,
						   1);
	} else if (!strcmp(iface, udb_capture_v1_interface.name)) {
		c->capture = wl_registry_bind(reg, name,
					      &udb_capture_v1_interface, 1);
		udb_capture_v1_add_listener(c->capture, &capture_listener, c);
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

int display_connect(struct client *c)
{
	struct udb_wl_ctx_options uo = {
		.size = sizeof(uo),
		/* --mode shm is the comparison: never a dma-buf */
		.force_shm = c->opt.mode == MODE_SHM,
		/* what llvmpipe compositors read as linear: accepted */
		.allow_implicit_modifier = true,
		.log = lib_log,
	};
	uint32_t why, need = 0;
	char reasons[128];

	c->display = wl_display_connect(c->opt.socket);
	if (!c->display) {
		loge("cannot connect to %s: %s\n",
		     c->opt.socket ? c->opt.socket : "$WAYLAND_DISPLAY",
		     strerror(errno));
		return -1;
	}
	c->registry = wl_display_get_registry(c->display);
	wl_registry_add_listener(c->registry, &registry_listener, c);
	/* globals, then the events sent on bind (capture mode) */
	if (wl_display_roundtrip(c->display) < 0 ||
	    wl_display_roundtrip(c->display) < 0)
		return -1;
	if (!c->compositor || !c->wm_base) {
		loge("the compositor lacks wl_compositor v4 or xdg_wm_base\n");
		return -1;
	}
	c->udb = udb_wl_ctx_create(c->display, &uo);
	if (!c->udb) {
		loge("libudb-wayland: %s\n", strerror(errno));
		return -1;
	}
	why = udb_wl_ctx_format_fallback(c->udb, DRM_FORMAT_ARGB8888);
	if (c->opt.mode == MODE_SHM)
		return 0;	/* wl_shm exists, or the context would have failed */
	/* a dma-buf mode: everything but the device must be there for
	 * --memfd-as-dmabuf, everything for the module's dma-bufs */
	need = UDB_WL_FALLBACK_NO_LINUX_DMABUF | UDB_WL_FALLBACK_FORMAT;
	if (!c->opt.memfd_dmabuf)
		need |= UDB_WL_FALLBACK_NO_DEVICE;
	if (why & need & UDB_WL_FALLBACK_NO_DEVICE)
		loge("%s: %s (is the module loaded?)\n", USERPTR_DMABUF_DEVICE,
		     strerror(udb_wl_ctx_device_error(c->udb)));
	if (why & need & UDB_WL_FALLBACK_NO_LINUX_DMABUF)
		loge("no zwp_linux_dmabuf_v1\n");
	if (why & need & UDB_WL_FALLBACK_FORMAT)
		loge("the compositor does not take ARGB8888 dma-bufs\n");
	if (why & need) {
		loge("no dma-bufs (%s)\n",
		     udb_wl_fallback_string(why, reasons, sizeof(reasons)));
		return -1;
	}
	logv(c, "linux-dmabuf v%u, ARGB8888 %s\n",
	     udb_wl_ctx_dmabuf_version(c->udb),
	     udb_wl_ctx_supports(c->udb, DRM_FORMAT_ARGB8888,
				 DRM_FORMAT_MOD_LINEAR) ?
	     "LINEAR" : "implicit modifier only");
	return 0;
}

static void surface_enter(void *data, struct wl_surface *s,
			  struct wl_output *o)
{
	struct client *c = data;

	(void)s;
	(void)o;
	c->enters++;
}

static void surface_leave(void *data, struct wl_surface *s,
			  struct wl_output *o)
{
	struct client *c = data;

	(void)s;
	(void)o;
	c->leaves++;
}

static const struct wl_surface_listener surface_listener = {
	.enter = surface_enter,
	.leave = surface_leave,
};

int display_create_window(struct client *c)
{
	c->surface = wl_compositor_create_surface(c->compositor);
	wl_surface_add_listener(c->surface, &surface_listener, c);
	c->xdg_surface = xdg_wm_base_get_xdg_surface(c->wm_base, c->surface);
	xdg_surface_add_listener(c->xdg_surface, &xdg_surface_listener, c);
	c->toplevel = xdg_surface_get_toplevel(c->xdg_surface);
	xdg_toplevel_add_listener(c->toplevel, &toplevel_listener, c);
	xdg_toplevel_set_title(c->toplevel, "udb-client");
	xdg_toplevel_set_app_id(c->toplevel, "udb-client");
	if (c->opt.fullscreen)
		xdg_toplevel_set_fullscreen(c->toplevel, NULL);
	/* the initial commit without a buffer asks for the first configure */
	wl_surface_commit(c->surface);
	c->commits++;	/* udb_capture_v1 counts every commit, this one too */
	while (!c->configured)
		if (wl_display_dispatch(c->display) < 0)
			return -1;
	return 0;
}

/*
 * The window goes, and a roundtrip makes sure the compositor has handled
 * that: until then it may show (sample the live pages of) the last buffer
 * attached, busy or not, so no buffer memory may be freed before this.
 */
void display_destroy_window(struct client *c)
{
	bool had_surface = c->surface != NULL;

	if (c->toplevel)
		xdg_toplevel_destroy(c->toplevel);
	if (c->xdg_surface)
		xdg_surface_destroy(c->xdg_surface);
	if (c->surface)
		wl_surface_destroy(c->surface);
	c->toplevel = NULL;
	c->xdg_surface = NULL;
	c->surface = NULL;
	if (had_surface)
		wl_display_roundtrip(c->display);
}

void display_disconnect(struct client *c)
{
	display_destroy_window(c);
	if (c->capture)
		udb_capture_v1_destroy(c->capture);
	if (c->presentation)
		wp_presentation_destroy(c->presentation);
	if (c->output)
		wl_output_destroy(c->output);
	/* the caller destroyed the buffers: the context can go */
	udb_wl_ctx_destroy(c->udb);
	c->udb = NULL;
	if (c->wm_base)
		xdg_wm_base_destroy(c->wm_base);
	if (c->compositor)
		wl_compositor_destroy(c->compositor);
	if (c->registry)
		wl_registry_destroy(c->registry);
	if (c->display) {
		wl_display_roundtrip(c->display);
		wl_display_disconnect(c->display);
	}
}
