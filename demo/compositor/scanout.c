/* SPDX-License-Identifier: MIT */
/*
 * Direct scanout: which surface, if any, the KMS backend may show by
 * putting its client's dma-buf on the primary plane as it is, with no
 * GL composition and no read-back (output_kms.c asks once per frame, as
 * weston's drm_output_propose_state() or wlroots' output test would).
 *
 * One surface qualifies when the frame would show nothing but its
 * buffer, pixel for pixel:
 *  - it is the topmost mapped toplevel, placed at 0,0 (fullscreen
 *    toplevels are), and no subsurface of it has content;
 *  - its buffer is a dma-buf (the module's userptr dma-buf or any
 *    other; wl_shm content lives in a texture and never qualifies) with
 *    one plane, LINEAR or the implicit modifier, not y-inverted;
 *  - XRGB8888 only: ARGB8888 is composited even alone, since vkms
 *    blends a translucent pixel on black where GL blends it on the slate
 *    background, and the compositor tracks no opaque region that would
 *    say no pixel is translucent;
 *  - buffer transform normal, scale 1, size exactly the output mode;
 *  - the --status strip is off (it is drawn above everything), and a
 *    capture waiting for this frame can be served by the writeback
 *    connector (capture_ok: else the capture reads the composed dumb
 *    buffer, which a direct frame does not fill).
 * Anything else: NULL and a short reason, which the report keeps for the
 * last frame that was composited. Whether vkms takes the buffer (import,
 * framebuffer, TEST_ONLY commit) is output_kms.c's part.
 */
#include <drm_fourcc.h>

#include "server.h"

/* Any content in the subsurface tree of s, s itself apart. */
bool scanout_children_have_content(struct surface *s)
{
	struct stack_node *n;

	wl_list_for_each(n, &s->stack, link) {
		if (n == &s->self_node)
			continue;
		if (n->surface->has_content ||
		    scanout_children_have_content(n->surface))
			return true;
	}
	return false;
}

struct surface *scanout_candidate(struct server *srv, bool capture_ok,
				  const char **why)
{
	struct view *v, *top = NULL;
	bool above = false;
	struct surface *s;
	struct buffer *b;

	if (!srv->opt.direct_scanout) {
		*why = "direct scanout off (--no-direct-scanout)";
		return NULL;
	}
	if (strip_height(srv) > 0) {
		*why = "the status strip is shown";
		return NULL;
	}
	if (!capture_ok && capture_wanted(srv)) {
		*why = "a capture without the writeback connector";
		return NULL;
	}
	/* the topmost window covering the whole output */
	wl_list_for_each_reverse(v, &srv->scene.views, link) {
		int sc = v->surface->scale > 0 ? v->surface->scale : 1;

		if (v->x <= 0 && v->y <= 0 &&
		    v->x + v->surface->width / sc >= srv->output.width &&
		    v->y + v->surface->height / sc >= srv->output.height) {
			top = v;
			break;
		}
		above = true;
	}
	if (!top) {
		*why = "no window covers the output";
		return NULL;
	}
	if (above) {
		*why = "another window is above the one covering the output";
		return NULL;
	}
	s = top->surface;
	b = s->buffer;
	if (!s->has_content || !b || b->kind != BUFFER_DMABUF) {
		*why = "the window covering the output is not a dma-buf";
		return NULL;
	}
	if (top->x != 0 || top->y != 0 || s->width != srv->output.width ||
	    s->height != srv->output.height ||
	    s->scale != 1 || s->transform != WL_OUTPUT_TRANSFORM_NORMAL) {
		*why = "buffer not the mode's size at 0,0, scale or transform";
		return NULL;
	}
	if (scanout_children_have_content(s)) {
		*why = "a subsurface is shown above it";
		return NULL;
	}
	if (!scanout_buffer_ok(b, why))
		return NULL;
	*why = NULL;
	return s;
}

/* The buffer rules of a plane, shared with planes.c. */
bool scanout_buffer_ok(const struct buffer *b, const char **why)
{
	if (b->dmabuf.nplanes != 1 ||
	    (b->dmabuf.modifier != DRM_FORMAT_MOD_LINEAR &&
	     b->dmabuf.modifier != DRM_FORMAT_MOD_INVALID) ||
	    dmabuf_buffer_y_invert(b)) {
		*why = "not one LINEAR plane, or y-inverted";
		return false;
	}
	if (b->dmabuf.fourcc != DRM_FORMAT_XRGB8888) {
		*why = "format not XRGB8888 (ARGB8888 may be translucent)";
		return false;
	}
	return true;
}
