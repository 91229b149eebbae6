/* SPDX-License-Identifier: MIT */
/*
 * udb-client: connection, globals and the window.
 *
 * Binds wl_compositor (v4, for damage_buffer), xdg_wm_base (v1), wl_shm,
 * zwp_linux_dmabuf_v1 (up to v4), wp_presentation and udb_capture_v1 (both
 * optional). Whether the compositor takes DRM_FORMAT_ARGB8888 with the
 * LINEAR modifier is learnt from the default feedback's format table on
 * v4, from the modifier events on v3 and from the format event before.
 * The window is one xdg_toplevel; nothing is attached before the first
 * configure has been acked.
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
#include "linux-dmabuf-v1-client-protocol.h"
#include "presentation-time-client-protocol.h"
#include "udb-capture-v1-client-protocol.h"
#include "xdg-shell-client-protocol.h"

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void note_format(struct client *c, uint32_t format, uint64_t modifier)
{
	if (format != DRM_FORMAT_ARGB8888)
		return;
	if (modifier == DRM_FORMAT_MOD_LINEAR)
		c->argb_linear = true;
	else if (modifier == DRM_FORMAT_MOD_INVALID)
		c->argb_implicit = true;
}

/* --- zwp_linux_dmabuf_v1 v3 (format / modifier events) --- */

static void dmabuf_format(void *data, struct zwp_linux_dmabuf_v1 *d,
			  uint32_t format)
{
	(void)d;
	/* before v3: no modifiers, the layout is implicit */
	note_format(data, format, DRM_FORMAT_MOD_INVALID);
}

static void dmabuf_modifier(void *data, struct zwp_linux_dmabuf_v1 *d,
			    uint32_t format, uint32_t hi, uint32_t lo)
{
	(void)d;
	note_format(data, format, (uint64_t)hi << 32 | lo);
}

static const struct zwp_linux_dmabuf_v1_listener dmabuf_listener = {
	.format = dmabuf_format,
	.modifier = dmabuf_modifier,
};

/* --- zwp_linux_dmabuf_feedback_v1 (v4 default feedback) --- */

struct feedback {
	struct client *c;
	const uint8_t *table;	/* 16-byte entries: format, pad, modifier */
	size_t table_len;
	bool done;
};

static void fb_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *f)
{
	(void)f;
	((struct feedback *)data)->done = true;
}

static void fb_format_table(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
			    int32_t fd, uint32_t size)
{
	struct feedback *fb = data;
	void *p;

	(void)f;
	if (fb->table)
		munmap((void *)fb->table, fb->table_len);
	fb->table = NULL;
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		loge("cannot map the dmabuf format table: %s\n",
		     strerror(errno));
		return;
	}
	fb->table = p;
	fb->table_len = size;
}

static void fb_main_device(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
			   struct wl_array *dev)
{
	(void)data; (void)f; (void)dev;
}

static void fb_tranche_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *f)
{
	(void)data; (void)f;
}

static void fb_tranche_target_device(void *data,
				     struct zwp_linux_dmabuf_feedback_v1 *f,
				     struct wl_array *dev)
{
	(void)data; (void)f; (void)dev;
}

static void fb_tranche_formats(void *data,
			       struct zwp_linux_dmabuf_feedback_v1 *f,
			       struct wl_array *indices)
{
	struct feedback *fb = data;
	uint16_t *idx;

	(void)f;
	if (!fb->table)
		return;
	wl_array_for_each(idx, indices) {
		const uint8_t *e = fb->table + (size_t)*idx * 16;
		uint32_t format;
		uint64_t modifier;

		if ((size_t)*idx * 16 + 16 > fb->table_len)
			continue;
		memcpy(&format, e, 4);
		memcpy(&modifier, e + 8, 8);
		note_format(fb->c, format, modifier);
	}
}

static void fb_tranche_flags(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
			     uint32_t flags)
{
	(void)data; (void)f; (void)flags;
}

static const struct zwp_linux_dmabuf_feedback_v1_listener feedback_listener = {
	.done = fb_done,
	.format_table = fb_format_table,
	.main_device = fb_main_device,
	.tranche_done = fb_tranche_done,
	.tranche_target_device = fb_tranche_target_device,
	.tranche_formats = fb_tranche_formats,
	.tranche_flags = fb_tranche_flags,
};

static int query_feedback(struct client *c)
{
	struct feedback fb = { .c = c };
	struct zwp_linux_dmabuf_feedback_v1 *f;
	int ret = 0;

	f = zwp_linux_dmabuf_v1_get_default_feedback(c->dmabuf);
	zwp_linux_dmabuf_feedback_v1_add_listener(f, &feedback_listener, &fb);
	while (!fb.done && ret >= 0)
		ret = wl_display_dispatch(c->display);
	zwp_linux_dmabuf_feedback_v1_destroy(f);
	if (fb.table)
		munmap((void *)fb.table, fb.table_len);
	return ret < 0 ? -1 : 0;
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
	/* we keep our size: the compositor's suggestion is only a hint */
	(void)data; (void)t; (void)w; (void)h; (void)states;
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

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

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
	} else if (!strcmp(iface, wl_shm_interface.name)) {
		c->shm = wl_registry_bind(reg, name, &wl_shm_interface, 1);
	} else if (!strcmp(iface, zwp_linux_dmabuf_v1_interface.name) &&
		   version >= 2) {
		c->dmabuf_version = min_u32(version, 4);
		c->dmabuf = wl_registry_bind(reg, name,
					     &zwp_linux_dmabuf_v1_interface,
					     c->dmabuf_version);
		if (c->dmabuf_version < 4)
			zwp_linux_dmabuf_v1_add_listener(c->dmabuf,
							 &dmabuf_listener, c);
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
	c->display = wl_display_connect(c->opt.socket);
	if (!c->display) {
		loge("cannot connect to %s: %s\n",
		     c->opt.socket ? c->opt.socket : "$WAYLAND_DISPLAY",
		     strerror(errno));
		return -1;
	}
	c->registry = wl_display_get_registry(c->display);
	wl_registry_add_listener(c->registry, &registry_listener, c);
	/* globals, then the events sent on bind (formats, capture mode) */
	if (wl_display_roundtrip(c->display) < 0 ||
	    wl_display_roundtrip(c->display) < 0)
		return -1;
	if (!c->compositor || !c->wm_base) {
		loge("the compositor lacks wl_compositor v4 or xdg_wm_base\n");
		return -1;
	}
	if (c->opt.mode == MODE_SHM && !c->shm) {
		loge("no wl_shm\n");
		return -1;
	}
	if (c->opt.mode != MODE_SHM) {
		if (!c->dmabuf) {
			loge("no zwp_linux_dmabuf_v1 (v2+)\n");
			return -1;
		}
		if (c->dmabuf_version >= 4 && query_feedback(c))
			return -1;
		if (c->argb_linear) {
			c->modifier = DRM_FORMAT_MOD_LINEAR;
		} else if (c->argb_implicit) {
			c->modifier = DRM_FORMAT_MOD_INVALID;
			logv(c, "ARGB8888 only with the implicit modifier\n");
		} else {
			loge("the compositor does not take ARGB8888 dma-bufs\n");
			return -1;
		}
		logv(c, "linux-dmabuf v%u, modifier 0x%llx\n",
		     c->dmabuf_version, (unsigned long long)c->modifier);
	}
	return 0;
}

int display_create_window(struct client *c)
{
	c->surface = wl_compositor_create_surface(c->compositor);
	c->xdg_surface = xdg_wm_base_get_xdg_surface(c->wm_base, c->surface);
	xdg_surface_add_listener(c->xdg_surface, &xdg_surface_listener, c);
	c->toplevel = xdg_surface_get_toplevel(c->xdg_surface);
	xdg_toplevel_add_listener(c->toplevel, &toplevel_listener, c);
	xdg_toplevel_set_title(c->toplevel, "udb-client");
	xdg_toplevel_set_app_id(c->toplevel, "udb-client");
	/* the initial commit without a buffer asks for the first configure */
	wl_surface_commit(c->surface);
	c->commits++;	/* udb_capture_v1 counts every commit, this one too */
	while (!c->configured)
		if (wl_display_dispatch(c->display) < 0)
			return -1;
	return 0;
}

void display_disconnect(struct client *c)
{
	if (c->toplevel)
		xdg_toplevel_destroy(c->toplevel);
	if (c->xdg_surface)
		xdg_surface_destroy(c->xdg_surface);
	if (c->surface)
		wl_surface_destroy(c->surface);
	if (c->capture)
		udb_capture_v1_destroy(c->capture);
	if (c->presentation)
		wp_presentation_destroy(c->presentation);
	if (c->dmabuf)
		zwp_linux_dmabuf_v1_destroy(c->dmabuf);
	if (c->shm)
		wl_shm_destroy(c->shm);
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
