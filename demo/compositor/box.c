/* SPDX-License-Identifier: MIT */
/*
 * struct box: damage rectangles, and surface damage in buffer
 * coordinates through the buffer transform and scale (wl_surface
 * set_buffer_transform, set_buffer_scale), as weston_surface_to_buffer_rect.
 */
#include "server.h"

bool box_empty(const struct box *b)
{
	return b->x1 >= b->x2 || b->y1 >= b->y2;
}

void box_add(struct box *dst, const struct box *src)
{
	if (box_empty(src))
		return;
	if (box_empty(dst)) {
		*dst = *src;
		return;
	}
	if (src->x1 < dst->x1) dst->x1 = src->x1;
	if (src->y1 < dst->y1) dst->y1 = src->y1;
	if (src->x2 > dst->x2) dst->x2 = src->x2;
	if (src->y2 > dst->y2) dst->y2 = src->y2;
}

static int32_t clamp32(int64_t v)
{
	return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* One surface point in (unscaled) buffer coordinates; w, h: surface size. */
static void to_buffer(int64_t w, int64_t h, int32_t t, int64_t sx, int64_t sy,
		      int64_t *bx, int64_t *by)
{
	switch (t) {
	default:
	case WL_OUTPUT_TRANSFORM_NORMAL:	*bx = sx;	*by = sy;	break;
	case WL_OUTPUT_TRANSFORM_FLIPPED:	*bx = w - sx;	*by = sy;	break;
	case WL_OUTPUT_TRANSFORM_90:		*bx = sy;	*by = w - sx;	break;
	case WL_OUTPUT_TRANSFORM_FLIPPED_90:	*bx = sy;	*by = sx;	break;
	case WL_OUTPUT_TRANSFORM_180:		*bx = w - sx;	*by = h - sy;	break;
	case WL_OUTPUT_TRANSFORM_FLIPPED_180:	*bx = sx;	*by = h - sy;	break;
	case WL_OUTPUT_TRANSFORM_270:		*bx = h - sy;	*by = sx;	break;
	case WL_OUTPUT_TRANSFORM_FLIPPED_270:	*bx = h - sy;	*by = w - sx;	break;
	}
}

struct box box_surface_to_buffer(const struct box *d, int32_t transform,
				 int32_t scale, int32_t buf_w, int32_t buf_h)
{
	int64_t k = scale > 0 ? scale : 1, w, h, ax, ay, bx, by;
	bool swap = transform & 1;	/* 90, 270 and their flips */

	if (box_empty(d))
		return (struct box){ 0 };
	/* the surface size: the buffer's, unscaled and untransformed */
	w = (swap ? buf_h : buf_w) / k;
	h = (swap ? buf_w : buf_h) / k;
	to_buffer(w, h, transform, d->x1, d->y1, &ax, &ay);
	to_buffer(w, h, transform, d->x2, d->y2, &bx, &by);
	return (struct box){
		clamp32((ax < bx ? ax : bx) * k), clamp32((ay < by ? ay : by) * k),
		clamp32((ax > bx ? ax : bx) * k), clamp32((ay > by ? ay : by) * k),
	};
}
