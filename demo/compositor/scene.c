/* SPDX-License-Identifier: MIT */
/*
 * The scene: the mapped toplevels (struct view), their stacking and where
 * a new one goes. Shell code (xdg.c) maps and unmaps; repaint.c draws
 * srv->scene.views back to front.
 *
 * A view is owned by the scene from scene_map() to scene_unmap(); it
 * points to its surface, whose role unmaps it before the surface goes.
 *
 * Stacking: a newly mapped view goes on top; nothing restacks (no input).
 *
 * Placement: windows go side by side in rows (a shelf), so that windows
 * of different clients do not overlap and pixel tests can check each
 * one; when a row is full the next starts below the tallest window of
 * the row. Once every window is gone placement starts again top left.
 * If the output is full, windows cascade from the top left. With
 * --status everything starts below the status strip, which then covers
 * no window.
 */
#include <stdlib.h>

#include "server.h"

#define GAP 16

void scene_init(struct scene *sc)
{
	wl_list_init(&sc->views);
}

static void place(struct server *srv, struct view *v)
{
	struct scene *sc = &srv->scene;
	struct surface *s = v->surface;
	int w = s->width / (s->scale > 0 ? s->scale : 1);
	int h = s->height / (s->scale > 0 ? s->scale : 1);
	int top = strip_height(srv) + GAP;

	if (wl_list_empty(&sc->views))
		sc->shelf_x = GAP, sc->shelf_y = top, sc->shelf_h = 0,
		sc->cascade = 0;
	if (sc->shelf_x + w > srv->output.width && sc->shelf_x > GAP) {
		sc->shelf_x = GAP;
		sc->shelf_y += sc->shelf_h + GAP;
		sc->shelf_h = 0;
	}
	if (sc->shelf_y + h > srv->output.height) {
		v->x = GAP + 48 * (sc->cascade % 8);
		v->y = top + 40 * (sc->cascade % 8);
		sc->cascade++;
		return;
	}
	v->x = sc->shelf_x;
	v->y = sc->shelf_y;
	sc->shelf_x += w + GAP;
	if (h > sc->shelf_h)
		sc->shelf_h = h;
}

struct view *scene_map(struct server *srv, struct surface *s)
{
	struct view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->surface = s;
	place(srv, v);
	wl_list_insert(srv->scene.views.prev, &v->link);	/* on top */
	srv->dirty = true;
	return v;
}

void scene_unmap(struct server *srv, struct view *v)
{
	wl_list_remove(&v->link);
	free(v);
	srv->dirty = true;
	server_schedule_repaint(srv);
}
