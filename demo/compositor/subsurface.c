/* SPDX-License-Identifier: MIT */
/*
 * wl_subcompositor and wl_subsurface.
 *
 * A struct subsurface lives as long as its wl_subsurface resource. It
 * links the child surface into its parent's stacking list (surface.stack,
 * back to front, where the parent itself is surface.self_node). If the
 * child or the parent wl_surface goes away first, the destroy listener
 * unlinks the node and the subsurface becomes inert until the client
 * destroys it.
 *
 * Synchronized subsurfaces (the default) keep their commits in the
 * surface's cached state; the parent's apply applies them (surface.c
 * calls subsurface_parent_applied()). set_position is applied with the
 * parent's next commit; place_above/below take effect at once (a
 * simplification: the protocol applies them with the parent's commit).
 */
#include <stdlib.h>

#include "server.h"

struct subsurface {
	struct wl_resource *resource;
	struct surface *surface, *parent;
	struct wl_listener surface_destroy, parent_destroy;
	struct stack_node node;			/* in parent->stack */
	int32_t x, y, pending_x, pending_y;
	bool pos_pending;
	bool sync;
};

static const struct surface_role subsurface_role = {
	.name = "wl_subsurface",
};

static void subsurface_unlink(struct subsurface *sub)
{
	if (sub->parent) {
		wl_list_remove(&sub->node.link);
		wl_list_init(&sub->node.link);
		wl_list_remove(&sub->parent_destroy.link);
		sub->parent = NULL;
	}
	if (sub->surface) {
		wl_list_remove(&sub->surface_destroy.link);
		sub->surface->subsurface = NULL;
		sub->surface->role_data = NULL;
		sub->surface->server->dirty = true;
		server_schedule_repaint(sub->surface->server);
		sub->surface = NULL;
	}
}

static void on_surface_destroy(struct wl_listener *l, void *data)
{
	struct subsurface *sub = wl_container_of(l, sub, surface_destroy);

	(void)data;
	subsurface_unlink(sub);
}

static void on_parent_destroy(struct wl_listener *l, void *data)
{
	struct subsurface *sub = wl_container_of(l, sub, parent_destroy);

	(void)data;
	wl_list_remove(&sub->node.link);
	wl_list_init(&sub->node.link);
	wl_list_remove(&sub->parent_destroy.link);
	sub->parent = NULL;
}

bool subsurface_is_synchronized(struct surface *s)
{
	while (s && s->subsurface) {
		if (s->subsurface->sync)
			return true;
		s = s->subsurface->parent;
	}
	return false;
}

void subsurface_parent_applied(struct surface *parent)
{
	struct stack_node *n;

	wl_list_for_each(n, &parent->stack, link) {
		struct subsurface *sub;

		if (n == &parent->self_node)
			continue;
		sub = n->surface->subsurface;
		if (sub->pos_pending) {
			sub->x = sub->pending_x;
			sub->y = sub->pending_y;
			sub->pos_pending = false;
		}
		if (subsurface_is_synchronized(n->surface))
			surface_commit_cached(n->surface);
	}
}

/* For repaint.c: where a child is relative to its parent. */
void subsurface_position(struct surface *s, int32_t *x, int32_t *y)
{
	*x = s->subsurface ? s->subsurface->x : 0;
	*y = s->subsurface ? s->subsurface->y : 0;
}

static void subsurface_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void subsurface_set_position(struct wl_client *c, struct wl_resource *r,
				    int32_t x, int32_t y)
{
	struct subsurface *sub = wl_resource_get_user_data(r);

	(void)c;
	if (!sub->surface)
		return;
	sub->pending_x = x;
	sub->pending_y = y;
	sub->pos_pending = true;
}

static void subsurface_place(struct wl_resource *r, struct wl_resource *sib_r,
			     bool above)
{
	struct subsurface *sub = wl_resource_get_user_data(r);
	struct surface *sib = surface_from_resource(sib_r);
	struct stack_node *target;

	if (!sub->surface || !sub->parent)
		return;
	if (sib == sub->parent)
		target = &sub->parent->self_node;
	else if (sib != sub->surface && sib->subsurface &&
		 sib->subsurface->parent == sub->parent)
		target = &sib->subsurface->node;
	else {
		wl_resource_post_error(r, WL_SUBSURFACE_ERROR_BAD_SURFACE,
				       "not a sibling or the parent");
		return;
	}
	wl_list_remove(&sub->node.link);
	if (above)
		wl_list_insert(&target->link, &sub->node.link);
	else
		wl_list_insert(target->link.prev, &sub->node.link);
	sub->surface->server->dirty = true;
}

static void subsurface_place_above(struct wl_client *c, struct wl_resource *r,
				   struct wl_resource *sib)
{
	(void)c;
	subsurface_place(r, sib, true);
}

static void subsurface_place_below(struct wl_client *c, struct wl_resource *r,
				   struct wl_resource *sib)
{
	(void)c;
	subsurface_place(r, sib, false);
}

static void subsurface_set_sync(struct wl_client *c, struct wl_resource *r)
{
	struct subsurface *sub = wl_resource_get_user_data(r);

	(void)c;
	sub->sync = true;
}

static void subsurface_set_desync(struct wl_client *c, struct wl_resource *r)
{
	struct subsurface *sub = wl_resource_get_user_data(r);

	(void)c;
	if (!sub->sync)
		return;
	sub->sync = false;
	/* leaving sync mode applies what was cached */
	if (sub->surface && !subsurface_is_synchronized(sub->surface))
		surface_commit_cached(sub->surface);
}

static const struct wl_subsurface_interface subsurface_impl = {
	.destroy = subsurface_destroy_req,
	.set_position = subsurface_set_position,
	.place_above = subsurface_place_above,
	.place_below = subsurface_place_below,
	.set_sync = subsurface_set_sync,
	.set_desync = subsurface_set_desync,
};

static void subsurface_resource_destroy(struct wl_resource *r)
{
	struct subsurface *sub = wl_resource_get_user_data(r);

	subsurface_unlink(sub);
	free(sub);
}

static bool is_ancestor(struct surface *a, struct surface *s)
{
	for (; s; s = s->subsurface ? s->subsurface->parent : NULL)
		if (s == a)
			return true;
	return false;
}

static void subcompositor_get_subsurface(struct wl_client *c,
					 struct wl_resource *r, uint32_t id,
					 struct wl_resource *surf_r,
					 struct wl_resource *parent_r)
{
	struct surface *s = surface_from_resource(surf_r);
	struct surface *parent = surface_from_resource(parent_r);
	struct subsurface *sub;

	if (is_ancestor(s, parent)) {
		wl_resource_post_error(r, WL_SUBCOMPOSITOR_ERROR_BAD_PARENT,
				       "parent is the surface or its descendant");
		return;
	}
	sub = calloc(1, sizeof(*sub));
	if (!sub) {
		wl_client_post_no_memory(c);
		return;
	}
	if (!surface_set_role(s, &subsurface_role, sub, r,
			      WL_SUBCOMPOSITOR_ERROR_BAD_SURFACE)) {
		free(sub);
		return;
	}
	sub->resource = wl_resource_create(c, &wl_subsurface_interface, 1, id);
	if (!sub->resource) {
		s->role_data = NULL;
		free(sub);
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(sub->resource, &subsurface_impl, sub,
				       subsurface_resource_destroy);
	sub->surface = s;
	sub->parent = parent;
	sub->sync = true;
	sub->node.surface = s;
	s->subsurface = sub;
	wl_list_insert(parent->stack.prev, &sub->node.link);
	sub->surface_destroy.notify = on_surface_destroy;
	wl_signal_add(&s->destroy_signal, &sub->surface_destroy);
	sub->parent_destroy.notify = on_parent_destroy;
	wl_signal_add(&parent->destroy_signal, &sub->parent_destroy);
}

static void subcompositor_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct wl_subcompositor_interface subcompositor_impl = {
	.destroy = subcompositor_destroy,
	.get_subsurface = subcompositor_get_subsurface,
};

static void subcompositor_bind(struct wl_client *c, void *data, uint32_t ver,
			       uint32_t id)
{
	struct wl_resource *r = wl_resource_create(c, &wl_subcompositor_interface,
						   ver, id);

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &subcompositor_impl, data, NULL);
}

void subcompositor_init(struct server *srv)
{
	wl_global_create(srv->display, &wl_subcompositor_interface, 1, srv,
			 subcompositor_bind);
}
