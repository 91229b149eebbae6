/* SPDX-License-Identifier: MIT */
/*
 * wp_presentation: clock CLOCK_MONOTONIC; one wp_presentation_feedback
 * per request, queued with the surface's pending state (surface.c moves
 * it along with the commit). A repaint that draws the content moves it
 * into the server's frame list; when that frame is on screen it gets
 * sync_output (each wl_output the client bound) and presented (the
 * frame's timestamp, the refresh interval, the retrace counter as seq:
 * 0 on the headless output, which has none; VSYNC/HW_* only for KMS;
 * ZERO_COPY only for a KMS frame that scanned the client's dma-buf out
 * directly (output.frame_feedbacks_zc; the surfaces below it, not
 * shown, are presented without it, as weston does for occluded views): a frame composited with GL is a
 * copy as the protocol counts it). A content update superseded before any repaint drew
 * it, or whose surface goes away first, is discarded.
 * A struct feedback lives with its resource (no requests: we destroy it
 * after the event, the client's teardown destroys it otherwise).
 */
#include <stdlib.h>

#include "server.h"
#include "presentation-time-server-protocol.h"

struct feedback {
	struct wl_resource *resource;
	struct wl_list link;
};

static void feedback_resource_destroy(struct wl_resource *r)
{
	struct feedback *f = wl_resource_get_user_data(r);

	wl_list_remove(&f->link);
	free(f);
}

void feedback_list_discard(struct wl_list *list)
{
	struct feedback *f, *tmp;

	wl_list_for_each_safe(f, tmp, list, link) {
		wp_presentation_feedback_send_discarded(f->resource);
		wl_resource_destroy(f->resource);
	}
}

void feedback_list_present(struct server *srv, struct wl_list *list,
			   int64_t ts_ns, uint64_t seq, int64_t refresh_ns,
			   uint32_t flags)
{
	struct feedback *f, *tmp;
	uint64_t sec = ts_ns / 1000000000;

	wl_list_for_each_safe(f, tmp, list, link) {
		output_for_client(srv, f->resource,
				  wp_presentation_feedback_send_sync_output);
		wp_presentation_feedback_send_presented(f->resource, sec >> 32,
							sec & 0xffffffff,
							ts_ns % 1000000000,
							refresh_ns, seq >> 32,
							seq & 0xffffffff, flags);
		wl_resource_destroy(f->resource);
	}
}

static void presentation_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void presentation_feedback(struct wl_client *c, struct wl_resource *r,
				  struct wl_resource *surf_r, uint32_t id)
{
	struct surface *s = surface_from_resource(surf_r);
	struct feedback *f = calloc(1, sizeof(*f));

	(void)r;
	if (!f) {
		wl_client_post_no_memory(c);
		return;
	}
	f->resource = wl_resource_create(c, &wp_presentation_feedback_interface,
					 1, id);
	if (!f->resource) {
		free(f);
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(f->resource, NULL, f,
				       feedback_resource_destroy);
	wl_list_insert(s->pending.feedbacks.prev, &f->link);
}

static const struct wp_presentation_interface presentation_impl = {
	.destroy = presentation_destroy,
	.feedback = presentation_feedback,
};

static void presentation_bind(struct wl_client *c, void *data, uint32_t ver,
			      uint32_t id)
{
	struct wl_resource *r = wl_resource_create(c, &wp_presentation_interface,
						   ver, id);

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &presentation_impl, data, NULL);
	wp_presentation_send_clock_id(r, CLOCK_MONOTONIC);
}

void presentation_init(struct server *srv)
{
	wl_global_create(srv->display, &wp_presentation_interface, 1, srv,
			 presentation_bind);
}
