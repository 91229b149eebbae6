/* SPDX-License-Identifier: MIT */
/*
 * xdg_wm_base, xdg_surface, xdg_toplevel (and a minimal xdg_popup).
 *
 * Lifetimes: struct wm_base lives with its resource and lists its
 * xdg_surfaces (destroying it while any is alive is the defunct_surfaces
 * error; at client teardown it just clears their back-pointers). A struct
 * xdg_surface lives with its xdg_surface resource; the toplevel or popup
 * resource points to it and is cleared when it goes. The wl_surface may
 * be destroyed first (client teardown): the destroy listener unmaps and
 * drops the pointer.
 *
 * Configure: the initial commit (no buffer) gets one configure (size 0x0,
 * no states: the client picks its size; a toplevel that asked for
 * fullscreen first gets the output size and the FULLSCREEN state and
 * is shown at 0,0). A commit with a buffer before
 * the client acked a configure is the unconfigured_buffer error. Once a
 * toplevel has content and an acked configure it is mapped: a struct
 * view the scene places (scene.c) and repaint.c draws. A NULL buffer
 * unmaps it and the client must start again with an initial commit.
 *
 * Ping: every wm_base is pinged every PING_MS; a client that has not
 * answered by the next ping is logged as unresponsive (we do not kill it).
 *
 * Popups are accepted but never shown: popup_done is sent at once.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "xdg-shell-server-protocol.h"

#define WM_BASE_VERSION 3
#define PING_MS 5000

struct wm_base {
	struct wl_resource *resource;
	struct server *srv;
	struct wl_list surfaces;		/* struct xdg_surface.link */
	struct wl_event_source *ping_timer;
	uint32_t ping_serial;
	bool ping_pending;
};

struct xdg_surface {
	struct wl_resource *resource;
	struct wl_list link;			/* wm_base.surfaces */
	struct wm_base *wm;
	struct surface *surface;
	struct wl_listener surface_destroy;
	struct wl_resource *toplevel, *popup;
	uint32_t last_serial, acked_serial;
	bool configured;			/* a configure was acked */
	bool initial_done;			/* initial commit seen */
	struct view *view;
	char *title;
	bool fullscreen;			/* set_fullscreen, toplevels */
};

static const struct surface_role xdg_toplevel_role;
static const struct surface_role xdg_popup_role;

/* ---- mapping ---- */

static void unmap(struct xdg_surface *xs)
{
	if (!xs->view)
		return;
	scene_unmap(xs->view->surface->server, xs->view);
	xs->view = NULL;
}

static void map(struct xdg_surface *xs, struct server *srv)
{
	struct view *v = scene_map(srv, xs->surface);

	if (!v)
		return;
	xs->view = v;
	if (xs->fullscreen)
		v->x = v->y = 0;
	vlog(srv, "mapped toplevel \"%s\" at %d,%d", xs->title ? xs->title : "",
	     v->x, v->y);
}

static void send_configure(struct xdg_surface *xs)
{
	struct wl_display *d = wl_client_get_display(wl_resource_get_client(xs->resource));
	struct wl_array states;

	xs->last_serial = wl_display_next_serial(d);
	if (xs->toplevel) {
		struct output *o = &xs->surface->server->output;
		uint32_t *st;

		wl_array_init(&states);
		if (xs->fullscreen && (st = wl_array_add(&states, sizeof(*st))))
			*st = XDG_TOPLEVEL_STATE_FULLSCREEN;
		xdg_toplevel_send_configure(xs->toplevel,
					    xs->fullscreen ? o->width : 0,
					    xs->fullscreen ? o->height : 0,
					    &states);
		wl_array_release(&states);
	} else if (xs->popup) {
		xdg_popup_send_configure(xs->popup, 0, 0, 1, 1);
	}
	xdg_surface_send_configure(xs->resource, xs->last_serial);
}

static bool xdg_precommit(struct surface *s, const struct surface_state *st)
{
	struct xdg_surface *xs = s->role_data;

	if (!xs)
		return true;	/* role object destroyed: inert */
	if (!xs->toplevel && !xs->popup) {
		wl_resource_post_error(xs->resource,
				       XDG_SURFACE_ERROR_NOT_CONSTRUCTED,
				       "commit before get_toplevel/get_popup");
		return false;
	}
	if (st->flags & STATE_BUFFER && st->buffer && !xs->configured) {
		wl_resource_post_error(xs->resource,
				       XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER,
				       "buffer committed before ack_configure");
		return false;
	}
	return true;
}

static void xdg_applied(struct surface *s)
{
	struct xdg_surface *xs = s->role_data;

	if (!xs || (!xs->toplevel && !xs->popup))
		return;
	if (!xs->initial_done) {
		xs->initial_done = true;
		send_configure(xs);
		return;
	}
	if (!xs->toplevel)
		return;
	if (s->has_content && xs->configured && !xs->view)
		map(xs, s->server);
	else if (!s->has_content && xs->view) {
		unmap(xs);
		xs->configured = false;
		xs->initial_done = false;
	}
}

static const struct surface_role xdg_toplevel_role = {
	.name = "xdg_toplevel",
	.precommit = xdg_precommit,
	.applied = xdg_applied,
};

static const struct surface_role xdg_popup_role = {
	.name = "xdg_popup",
	.precommit = xdg_precommit,
	.applied = xdg_applied,
};

/* ---- xdg_toplevel ---- */

static void toplevel_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void toplevel_set_parent(struct wl_client *c, struct wl_resource *r,
				struct wl_resource *p)
{
	(void)c, (void)r, (void)p;
}

static void toplevel_set_title(struct wl_client *c, struct wl_resource *r,
			       const char *title)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);

	(void)c;
	if (!xs)
		return;
	free(xs->title);
	xs->title = strdup(title);
}

static void toplevel_set_app_id(struct wl_client *c, struct wl_resource *r,
				const char *id)
{
	(void)c, (void)r, (void)id;
}

static void toplevel_show_window_menu(struct wl_client *c,
				      struct wl_resource *r,
				      struct wl_resource *seat, uint32_t serial,
				      int32_t x, int32_t y)
{
	(void)c, (void)r, (void)seat, (void)serial, (void)x, (void)y;
}

static void toplevel_move(struct wl_client *c, struct wl_resource *r,
			  struct wl_resource *seat, uint32_t serial)
{
	(void)c, (void)r, (void)seat, (void)serial;
}

static void toplevel_resize(struct wl_client *c, struct wl_resource *r,
			    struct wl_resource *seat, uint32_t serial,
			    uint32_t edges)
{
	(void)c, (void)seat, (void)serial;
	if (edges > XDG_TOPLEVEL_RESIZE_EDGE_BOTTOM_RIGHT || edges == 3 ||
	    edges == 7)
		wl_resource_post_error(r, XDG_TOPLEVEL_ERROR_INVALID_RESIZE_EDGE,
				       "invalid edge %u", edges);
}

static void toplevel_set_size(struct wl_client *c, struct wl_resource *r,
			      int32_t w, int32_t h)
{
	(void)c;
	if (w < 0 || h < 0)
		wl_resource_post_error(r, XDG_TOPLEVEL_ERROR_INVALID_SIZE,
				       "negative size");
}

static void toplevel_noop(struct wl_client *c, struct wl_resource *r)
{
	(void)c, (void)r;
}

/*
 * Fullscreen: the configure asks for the output's size with the
 * FULLSCREEN state and the window is placed at 0,0 (the client's
 * buffer size is its own choice: one of the output's size covers the
 * output and may be scanned out directly, scanout.c). There is one
 * output, so @output is ignored.
 */
static void set_fullscreen(struct wl_resource *r, bool on)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);

	if (!xs || !xs->surface || xs->fullscreen == on)
		return;
	xs->fullscreen = on;
	if (xs->view && on) {
		xs->view->x = xs->view->y = 0;
		xs->surface->server->dirty = true;
		server_schedule_repaint(xs->surface->server);
	}
	if (xs->initial_done)
		send_configure(xs);
}

static void toplevel_set_fullscreen(struct wl_client *c, struct wl_resource *r,
				    struct wl_resource *output)
{
	(void)c, (void)output;
	set_fullscreen(r, true);
}

static void toplevel_unset_fullscreen(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	set_fullscreen(r, false);
}

static const struct xdg_toplevel_interface toplevel_impl = {
	.destroy = toplevel_destroy,
	.set_parent = toplevel_set_parent,
	.set_title = toplevel_set_title,
	.set_app_id = toplevel_set_app_id,
	.show_window_menu = toplevel_show_window_menu,
	.move = toplevel_move,
	.resize = toplevel_resize,
	.set_max_size = toplevel_set_size,
	.set_min_size = toplevel_set_size,
	.set_maximized = toplevel_noop,
	.unset_maximized = toplevel_noop,
	.set_fullscreen = toplevel_set_fullscreen,
	.unset_fullscreen = toplevel_unset_fullscreen,
	.set_minimized = toplevel_noop,
};

static void role_object_destroyed(struct wl_resource *r)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);

	if (!xs)
		return;
	unmap(xs);
	if (xs->toplevel == r)
		xs->toplevel = NULL;
	if (xs->popup == r)
		xs->popup = NULL;
	xs->configured = false;
	xs->initial_done = false;
	if (xs->surface)
		xs->surface->role_data = NULL;
}

/* ---- xdg_popup (minimal) ---- */

static void popup_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void popup_grab(struct wl_client *c, struct wl_resource *r,
		       struct wl_resource *seat, uint32_t serial)
{
	(void)c, (void)r, (void)seat, (void)serial;
}

static void popup_reposition(struct wl_client *c, struct wl_resource *r,
			     struct wl_resource *pos, uint32_t token)
{
	(void)c, (void)r, (void)pos, (void)token;
}

static const struct xdg_popup_interface popup_impl = {
	.destroy = popup_destroy,
	.grab = popup_grab,
	.reposition = popup_reposition,
};

/* ---- xdg_positioner: accepted, validated, otherwise ignored ---- */

static void positioner_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void positioner_set_size(struct wl_client *c, struct wl_resource *r,
				int32_t w, int32_t h)
{
	(void)c;
	if (w <= 0 || h <= 0)
		wl_resource_post_error(r, XDG_POSITIONER_ERROR_INVALID_INPUT,
				       "non-positive size");
}

static void positioner_set_anchor_rect(struct wl_client *c,
				       struct wl_resource *r, int32_t x,
				       int32_t y, int32_t w, int32_t h)
{
	(void)c, (void)x, (void)y;
	if (w < 0 || h < 0)
		wl_resource_post_error(r, XDG_POSITIONER_ERROR_INVALID_INPUT,
				       "negative size");
}

static void positioner_set_u32(struct wl_client *c, struct wl_resource *r,
			       uint32_t v)
{
	(void)c, (void)r, (void)v;
}

static void positioner_set_offset(struct wl_client *c, struct wl_resource *r,
				  int32_t x, int32_t y)
{
	(void)c, (void)r, (void)x, (void)y;
}

static void positioner_noop(struct wl_client *c, struct wl_resource *r)
{
	(void)c, (void)r;
}

static const struct xdg_positioner_interface positioner_impl = {
	.destroy = positioner_destroy,
	.set_size = positioner_set_size,
	.set_anchor_rect = positioner_set_anchor_rect,
	.set_anchor = positioner_set_u32,
	.set_gravity = positioner_set_u32,
	.set_constraint_adjustment = positioner_set_u32,
	.set_offset = positioner_set_offset,
	.set_reactive = positioner_noop,
	.set_parent_size = positioner_set_offset,
	.set_parent_configure = positioner_set_u32,
};

/* ---- xdg_surface ---- */

static void xdg_surface_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);

	(void)c;
	if (xs->toplevel || xs->popup) {
		wl_resource_post_error(r, XDG_SURFACE_ERROR_DEFUNCT_ROLE_OBJECT,
				       "xdg_surface destroyed before its role object");
		return;
	}
	wl_resource_destroy(r);
}

static bool xdg_surface_role(struct xdg_surface *xs, struct wl_resource *r,
			     const struct surface_role *role)
{
	if (xs->toplevel || xs->popup) {
		wl_resource_post_error(r, XDG_SURFACE_ERROR_ALREADY_CONSTRUCTED,
				       "xdg_surface already has a role object");
		return false;
	}
	if (!xs->surface)
		return false;
	if (xs->surface->role && xs->surface->role != role) {
		wl_resource_post_error(xs->wm ? xs->wm->resource : r,
				       XDG_WM_BASE_ERROR_ROLE,
				       "wl_surface already has role %s",
				       xs->surface->role->name);
		return false;
	}
	xs->surface->role = role;
	xs->surface->role_data = xs;
	return true;
}

static void xdg_surface_get_toplevel(struct wl_client *c,
				     struct wl_resource *r, uint32_t id)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);
	struct wl_resource *t;

	if (!xdg_surface_role(xs, r, &xdg_toplevel_role))
		return;
	t = wl_resource_create(c, &xdg_toplevel_interface,
			       wl_resource_get_version(r), id);
	if (!t) {
		xs->surface->role_data = NULL;
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(t, &toplevel_impl, xs,
				       role_object_destroyed);
	xs->toplevel = t;
}

static void xdg_surface_get_popup(struct wl_client *c, struct wl_resource *r,
				  uint32_t id, struct wl_resource *parent,
				  struct wl_resource *positioner)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);
	struct wl_resource *p;

	(void)parent, (void)positioner;
	if (!xdg_surface_role(xs, r, &xdg_popup_role))
		return;
	p = wl_resource_create(c, &xdg_popup_interface,
			       wl_resource_get_version(r), id);
	if (!p) {
		xs->surface->role_data = NULL;
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(p, &popup_impl, xs,
				       role_object_destroyed);
	xs->popup = p;
	/* we have no input and no popup placement: dismiss it at once */
	xdg_popup_send_popup_done(p);
}

static void xdg_surface_set_window_geometry(struct wl_client *c,
					    struct wl_resource *r, int32_t x,
					    int32_t y, int32_t w, int32_t h)
{
	(void)c, (void)x, (void)y;
	if (w <= 0 || h <= 0)
		wl_resource_post_error(r, XDG_SURFACE_ERROR_INVALID_SIZE,
				       "non-positive window geometry");
}

static void xdg_surface_ack_configure(struct wl_client *c,
				      struct wl_resource *r, uint32_t serial)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);

	(void)c;
	if (!xs->toplevel && !xs->popup) {
		wl_resource_post_error(r, XDG_SURFACE_ERROR_NOT_CONSTRUCTED,
				       "ack_configure without a role object");
		return;
	}
	/* serials only grow: accept any we sent that is not older than the
	 * last ack */
	if (!xs->initial_done || (int32_t)(serial - xs->last_serial) > 0 ||
	    (xs->configured && (int32_t)(serial - xs->acked_serial) < 0)) {
		wl_resource_post_error(r, XDG_SURFACE_ERROR_INVALID_SERIAL,
				       "ack_configure with unknown serial %u",
				       serial);
		return;
	}
	xs->acked_serial = serial;
	xs->configured = true;
}

static const struct xdg_surface_interface xdg_surface_impl = {
	.destroy = xdg_surface_destroy_req,
	.get_toplevel = xdg_surface_get_toplevel,
	.get_popup = xdg_surface_get_popup,
	.set_window_geometry = xdg_surface_set_window_geometry,
	.ack_configure = xdg_surface_ack_configure,
};

static void xdg_surface_on_surface_destroy(struct wl_listener *l, void *data)
{
	struct xdg_surface *xs = wl_container_of(l, xs, surface_destroy);

	(void)data;
	unmap(xs);
	wl_list_remove(&xs->surface_destroy.link);
	wl_list_init(&xs->surface_destroy.link);
	xs->surface = NULL;
}

static void xdg_surface_resource_destroy(struct wl_resource *r)
{
	struct xdg_surface *xs = wl_resource_get_user_data(r);

	/* at client teardown the role object may still exist: detach it */
	if (xs->toplevel)
		wl_resource_set_user_data(xs->toplevel, NULL);
	if (xs->popup)
		wl_resource_set_user_data(xs->popup, NULL);
	unmap(xs);
	if (xs->surface && xs->surface->role_data == xs)
		xs->surface->role_data = NULL;
	wl_list_remove(&xs->surface_destroy.link);
	wl_list_remove(&xs->link);
	free(xs->title);
	free(xs);
}

/* ---- xdg_wm_base ---- */

static void wm_destroy(struct wl_client *c, struct wl_resource *r)
{
	struct wm_base *wm = wl_resource_get_user_data(r);

	(void)c;
	if (!wl_list_empty(&wm->surfaces)) {
		wl_resource_post_error(r, XDG_WM_BASE_ERROR_DEFUNCT_SURFACES,
				       "xdg_wm_base destroyed before its surfaces");
		return;
	}
	wl_resource_destroy(r);
}

static void wm_create_positioner(struct wl_client *c, struct wl_resource *r,
				 uint32_t id)
{
	struct wl_resource *p = wl_resource_create(c, &xdg_positioner_interface,
						   wl_resource_get_version(r), id);

	if (!p) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(p, &positioner_impl, NULL, NULL);
}

static void wm_get_xdg_surface(struct wl_client *c, struct wl_resource *r,
			       uint32_t id, struct wl_resource *surf_r)
{
	struct wm_base *wm = wl_resource_get_user_data(r);
	struct surface *s = surface_from_resource(surf_r);
	struct xdg_surface *xs;

	if (s->role_data || (s->role && s->role != &xdg_toplevel_role &&
			     s->role != &xdg_popup_role)) {
		wl_resource_post_error(r, XDG_WM_BASE_ERROR_ROLE,
				       "wl_surface already has a role");
		return;
	}
	if (s->has_content || (s->pending.flags & STATE_BUFFER && s->pending.buffer)) {
		wl_resource_post_error(r, XDG_WM_BASE_ERROR_INVALID_SURFACE_STATE,
				       "wl_surface has a buffer");
		return;
	}
	xs = calloc(1, sizeof(*xs));
	if (!xs) {
		wl_client_post_no_memory(c);
		return;
	}
	xs->resource = wl_resource_create(c, &xdg_surface_interface,
					  wl_resource_get_version(r), id);
	if (!xs->resource) {
		free(xs);
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(xs->resource, &xdg_surface_impl, xs,
				       xdg_surface_resource_destroy);
	xs->wm = wm;
	wl_list_insert(&wm->surfaces, &xs->link);
	xs->surface = s;
	xs->surface_destroy.notify = xdg_surface_on_surface_destroy;
	wl_signal_add(&s->destroy_signal, &xs->surface_destroy);
}

static void wm_pong(struct wl_client *c, struct wl_resource *r, uint32_t serial)
{
	struct wm_base *wm = wl_resource_get_user_data(r);

	(void)c;
	if (wm->ping_pending && serial == wm->ping_serial)
		wm->ping_pending = false;
}

static const struct xdg_wm_base_interface wm_impl = {
	.destroy = wm_destroy,
	.create_positioner = wm_create_positioner,
	.get_xdg_surface = wm_get_xdg_surface,
	.pong = wm_pong,
};

static int wm_ping(void *data)
{
	struct wm_base *wm = data;

	if (wm->ping_pending) {
		server_log(wm->srv, "client %p does not answer ping %u",
			   (void *)wl_resource_get_client(wm->resource),
			   wm->ping_serial);
	} else {
		wm->ping_serial = wl_display_next_serial(wm->srv->display);
		wm->ping_pending = true;
		xdg_wm_base_send_ping(wm->resource, wm->ping_serial);
	}
	wl_event_source_timer_update(wm->ping_timer, PING_MS);
	return 0;
}

static void wm_resource_destroy(struct wl_resource *r)
{
	struct wm_base *wm = wl_resource_get_user_data(r);
	struct xdg_surface *xs, *tmp;

	wl_list_for_each_safe(xs, tmp, &wm->surfaces, link) {
		wl_list_remove(&xs->link);
		wl_list_init(&xs->link);
		xs->wm = NULL;
	}
	wl_event_source_remove(wm->ping_timer);
	free(wm);
}

static void wm_bind(struct wl_client *c, void *data, uint32_t ver, uint32_t id)
{
	struct server *srv = data;
	struct wm_base *wm = calloc(1, sizeof(*wm));

	if (!wm) {
		wl_client_post_no_memory(c);
		return;
	}
	wm->resource = wl_resource_create(c, &xdg_wm_base_interface, ver, id);
	if (!wm->resource) {
		free(wm);
		wl_client_post_no_memory(c);
		return;
	}
	wm->ping_timer = wl_event_loop_add_timer(srv->loop, wm_ping, wm);
	if (!wm->ping_timer) {
		wl_resource_destroy(wm->resource);
		free(wm);
		wl_client_post_no_memory(c);
		return;
	}
	wm->srv = srv;
	wl_list_init(&wm->surfaces);
	wl_resource_set_implementation(wm->resource, &wm_impl, wm,
				       wm_resource_destroy);
	wl_event_source_timer_update(wm->ping_timer, PING_MS);
}

void xdg_shell_init(struct server *srv)
{
	wl_global_create(srv->display, &xdg_wm_base_interface, WM_BASE_VERSION,
			 srv, wm_bind);
}
