/* SPDX-License-Identifier: MIT */
/*
 * The output: its state (struct output: size, refresh, the backend's ops
 * and data, the frame in flight) and wl_output (version 4), the one
 * output as clients see it.
 *
 * The frame in flight: at repaint, the frame callbacks and presentation
 * feedback of every surface drawn move from the surface into the
 * output's lists (output_frame_take()), and the output holds a busy
 * reference on every dma-buf drawn (output_frame_hold()). A commit
 * applied after that is not in this frame (KMS: while the flip is
 * pending) and waits for the next one. When the backend has the frame on
 * screen (headless: after drawing; KMS: page flip complete; nested: the
 * parent's frame callback) it calls server_frame_done(), which calls
 * output_frame_present(): done for the callbacks, sync_output +
 * presented for the feedback, and the references dropped (buffer.c
 * releases what no surface shows any more; a buffer the KMS backend
 * scans out directly stays busy on the plane until a later flip replaced
 * it). Feedback of content replaced
 * before it was drawn was discarded by surface.c and never gets here.
 *
 * Bound resources get geometry (at 0,0; no physical size: the headless
 * output has none and vkms reports none), the current and preferred mode
 * (--size, the refresh rate the backend paces at), scale 1, name and
 * description (v4), then done (v2). Resources are kept in
 * output.resources so that surfaces can be told which output they
 * are on (wl_surface.enter/leave, sent by repaint.c when a surface starts
 * or stops being drawn) and presentation feedback can name the output
 * (wp_presentation_feedback.sync_output). The list holds only links; a
 * resource unlinks itself when destroyed (wl_output.release or the
 * client's disconnect).
 */
#include <stdio.h>

#include "server.h"
#include "presentation-time-server-protocol.h"

#define OUTPUT_VERSION 4

static void output_release(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct wl_output_interface output_impl = {
	.release = output_release,
};

static void output_unlink(struct wl_resource *r)
{
	wl_list_remove(wl_resource_get_link(r));
}

static void output_bind(struct wl_client *c, void *data, uint32_t ver,
			uint32_t id)
{
	struct server *srv = data;
	struct wl_resource *r = wl_resource_create(c, &wl_output_interface,
						   ver, id);
	char desc[128];
	int32_t mhz;

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &output_impl, srv, output_unlink);
	wl_list_insert(&srv->output.resources, wl_resource_get_link(r));
	mhz = srv->output.refresh_ns > 0 ?
	      (int32_t)(1000000000000LL / srv->output.refresh_ns) : 0;
	wl_output_send_geometry(r, 0, 0, 0, 0, WL_OUTPUT_SUBPIXEL_UNKNOWN,
				"udb", srv->opt.backend,
				WL_OUTPUT_TRANSFORM_NORMAL);
	wl_output_send_mode(r, WL_OUTPUT_MODE_CURRENT | WL_OUTPUT_MODE_PREFERRED,
			    srv->output.width, srv->output.height, mhz);
	if (ver >= WL_OUTPUT_SCALE_SINCE_VERSION)
		wl_output_send_scale(r, 1);
	if (ver >= WL_OUTPUT_NAME_SINCE_VERSION) {
		snprintf(desc, sizeof(desc), "udb-compositor %s output %dx%d",
			 srv->opt.backend, srv->output.width, srv->output.height);
		wl_output_send_name(r, srv->output.name);
		wl_output_send_description(r, desc);
	}
	if (ver >= WL_OUTPUT_DONE_SINCE_VERSION)
		wl_output_send_done(r);
}

void output_init(struct output *o, struct server *srv)
{
	o->srv = srv;
	o->width = srv->opt.width;
	o->height = srv->opt.height;
	o->refresh_ns = 1000000000LL / srv->opt.refresh_hz;
	wl_list_init(&o->resources);
	wl_list_init(&o->frame_callbacks);
	wl_list_init(&o->frame_feedbacks);
	wl_list_init(&o->frame_feedbacks_zc);
	wl_array_init(&o->frame_buffers);
}

/* After the clients are gone and the backend is destroyed. */
void output_fini(struct output *o)
{
	output_frame_buffers_drop(o);
	wl_array_release(&o->frame_buffers);
}

void output_frame_take(struct output *o, struct surface *s)
{
	wl_list_insert_list(o->frame_callbacks.prev, &s->frame_callbacks);
	wl_list_init(&s->frame_callbacks);
	wl_list_insert_list(o->frame_feedbacks.prev, &s->feedbacks);
	wl_list_init(&s->feedbacks);
}

bool output_frame_reserve(struct output *o, size_t n)
{
	size_t used = o->frame_buffers.size;

	if (!wl_array_add(&o->frame_buffers, n * sizeof(struct buffer *)))
		return false;
	o->frame_buffers.size = used;
	return true;
}

/*
 * Within what output_frame_reserve() made room for this cannot fail. If
 * it does (no room was made), the frame holds no reference on b: still
 * correct, since renderer_end() finishes every read of a client's
 * buffer before the repaint returns; only the release may come before
 * the frame is on screen.
 */
void output_frame_hold(struct output *o, struct buffer *b)
{
	struct buffer **slot = wl_array_add(&o->frame_buffers, sizeof(*slot));

	if (!slot) {
		fprintf(stderr, "udb-compositor: out of memory: a frame holds "
			"no reference on a buffer it drew\n");
		return;
	}
	*slot = buffer_ref(b);
}

void output_frame_buffers_drop(struct output *o)
{
	struct buffer **b;

	wl_array_for_each(b, &o->frame_buffers)
		buffer_unref(*b);
	o->frame_buffers.size = 0;
}

void output_frame_present(struct output *o, int64_t ts_ns, uint64_t seq)
{
	struct wl_resource *cb, *tmp;
	uint32_t ms = (uint32_t)(ts_ns / 1000000);
	uint32_t flags = o->vsync ? WP_PRESENTATION_FEEDBACK_KIND_VSYNC |
				    WP_PRESENTATION_FEEDBACK_KIND_HW_CLOCK |
				    WP_PRESENTATION_FEEDBACK_KIND_HW_COMPLETION : 0;

	wl_resource_for_each_safe(cb, tmp, &o->frame_callbacks) {
		wl_callback_send_done(cb, ms);
		wl_resource_destroy(cb);	/* unlinks itself */
	}
	/* GL composition is a copy; only the surface whose own buffer
	 * the frame put on the plane (KMS direct scanout) is ZERO_COPY */
	feedback_list_present(o->srv, &o->frame_feedbacks, ts_ns,
			      o->vsync ? seq : 0, o->refresh_ns, flags);
	feedback_list_present(o->srv, &o->frame_feedbacks_zc, ts_ns,
			      o->vsync ? seq : 0, o->refresh_ns,
			      flags | WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY);
	output_frame_buffers_drop(o);
}

/* After the backend is up: its refresh rate is part of the mode. */
int output_global_init(struct server *srv)
{
	snprintf(srv->output.name, sizeof(srv->output.name), "%s",
		 srv->opt.backend[0] == 'k' ? "KMS-1" :
		 srv->opt.backend[0] == 'w' ? "WL-1" : "HEADLESS-1");
	return wl_global_create(srv->display, &wl_output_interface,
				OUTPUT_VERSION, srv, output_bind) ? 0 : -1;
}

/* Call fn for each wl_output the client of @res has bound. */
void output_for_client(struct server *srv, struct wl_resource *res,
		       void (*fn)(struct wl_resource *res,
				  struct wl_resource *output))
{
	struct wl_client *c = wl_resource_get_client(res);
	struct wl_resource *r;

	wl_resource_for_each(r, &srv->output.resources)
		if (wl_resource_get_client(r) == c)
			fn(res, r);
}
