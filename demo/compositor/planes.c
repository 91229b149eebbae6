/* SPDX-License-Identifier: MIT */
/*
 * Overlay planes: which windows the KMS backend may show on overlay
 * planes of their own, each client's dma-buf as it is, while the primary
 * plane keeps the GL-composited rest (output_kms.c asks once per frame
 * when no window covers the whole output; scanout.c's fullscreen case
 * comes first). The rules are weston's (drm_output_propose_state()):
 *  - the window is fully on the output, its buffer scale 1 and
 *    transform normal, and no subsurface of it has content;
 *  - its buffer passes scanout_buffer_ok(): a dma-buf of one LINEAR (or
 *    implicit-modifier) plane, not y-inverted, XRGB8888 (opaque: vkms
 *    blends planes the way GL does only for opaque pixels);
 *  - no window that stays composited and is above it overlaps it (the
 *    primary plane is below every overlay, so such a window would be
 *    hidden under the overlay);
 *  - the backend takes the buffer (accept(): import, framebuffer, not
 *    stale); one it refuses is composited, and counts as a composited
 *    window above the ones below it.
 * Windows are walked top to bottom; the result lists them bottom to top,
 * so the lowest window gets the lowest overlay plane and the stacking
 * on screen is the scene's. At most max windows (the planes there are).
 * why: why the topmost dma-buf window that could not go on a plane is
 * composited (else the topmost window's reason), NULL if none was.
 * Off with --no-direct-scanout, with the --status strip (drawn above
 * everything) and when a capture waits that the writeback connector
 * cannot serve (capture_ok: it would read the composed primary only).
 */
#include "server.h"

/* composited windows above the one looked at; more: all treated as
 * covering the output */
#define MAX_ABOVE 64

/* The bounding box of the content of s's tree placed at x,y. */
static void tree_box(struct surface *s, int32_t x, int32_t y, struct box *bb)
{
	struct stack_node *n;

	wl_list_for_each(n, &s->stack, link) {
		struct surface *c = n->surface;
		int32_t cx, cy, sc;
		struct box b;

		if (n != &s->self_node) {
			subsurface_position(c, &cx, &cy);
			tree_box(c, x + cx, y + cy, bb);
			continue;
		}
		if (!s->has_content)
			continue;
		sc = s->scale > 0 ? s->scale : 1;
		b = (struct box){ x, y, x + s->width / sc, y + s->height / sc };
		box_add(bb, &b);
	}
}

static bool overlaps(const struct box *a, const struct box *b)
{
	return a->x1 < b->x2 && b->x1 < a->x2 && a->y1 < b->y2 && b->y1 < a->y2;
}

/* Whether v's window may go on a plane by itself (rules 1 and 2). */
static const char not_dmabuf[] = "not a dma-buf";

static bool view_ok(struct server *srv, struct view *v, const char **why)
{
	struct surface *s = v->surface;
	struct buffer *b = s->buffer;

	if (!s->has_content || !b || b->kind != BUFFER_DMABUF) {
		*why = not_dmabuf;
		return false;
	}
	if (s->scale != 1 || s->transform != WL_OUTPUT_TRANSFORM_NORMAL) {
		*why = "buffer scale or transform";
		return false;
	}
	if (v->x < 0 || v->y < 0 || v->x + s->width > srv->output.width ||
	    v->y + s->height > srv->output.height) {
		*why = "not fully on the output";
		return false;
	}
	if (scanout_children_have_content(s)) {
		*why = "a subsurface has content";
		return false;
	}
	return scanout_buffer_ok(b, why);
}

int planes_assign(struct server *srv, bool capture_ok, int max,
		  bool (*accept)(void *data, struct surface *s),
		  void *data, struct plane_view *out, const char **why)
{
	struct box above[MAX_ABOVE];
	int n = 0, nabove = 0;
	bool all_covered = false;
	struct view *v;

	*why = NULL;
	if (!srv->opt.direct_scanout) {
		*why = "direct scanout off (--no-direct-scanout)";
		return 0;
	}
	if (strip_height(srv) > 0) {
		*why = "the status strip is shown";
		return 0;
	}
	if (!capture_ok && capture_wanted(srv)) {
		*why = "a capture without the writeback connector";
		return 0;
	}
	wl_list_for_each_reverse(v, &srv->scene.views, link) {
		struct box bb = { 0 };
		const char *no = NULL;
		bool ok;

		tree_box(v->surface, v->x, v->y, &bb);
		ok = n < max && view_ok(srv, v, &no);
		if (!no && n >= max)
			no = "no overlay plane left";
		for (int i = 0; ok && i < nabove; i++)
			if (overlaps(&bb, &above[i]))
				ok = false, no = "a composited window above overlaps it";
		if (ok && all_covered)
			ok = false, no = "too many composited windows above it";
		if (ok && !accept(data, v->surface))
			ok = false, no = "the backend refused its buffer";
		if (ok) {
			out[n++] = (struct plane_view){
				.surface = v->surface, .x = v->x, .y = v->y,
				.w = v->surface->width, .h = v->surface->height,
			};
			continue;
		}
		/* why: the topmost dma-buf window composited, else the
		 * topmost window */
		if (!*why || *why == not_dmabuf)
			*why = no;
		if (box_empty(&bb))
			continue;
		if (nabove < MAX_ABOVE)
			above[nabove++] = bb;
		else
			all_covered = true;
	}
	/* bottom to top */
	for (int i = 0; i < n / 2; i++) {
		struct plane_view t = out[i];

		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return n;
}
