/* SPDX-License-Identifier: MIT */
/*
 * The output-independent half of a frame.
 *
 * server_schedule_repaint() asks the output's backend (headless timer,
 * KMS page flip, nested frame callback) for a frame; when its time comes
 * the backend calls server_repaint(), which draws only if something
 * changed or a capture/screenshot waits. First every surface with new
 * wl_shm content has it uploaded with its damage and drops the buffer
 * (buffer.c may release it then). Then the background, every mapped
 * toplevel back to front (scene.c), each with its subsurfaces in
 * stacking order, then the --status strip (strip.c). The frame callbacks
 * and presentation feedback of the surfaces it drew move into the
 * output's frame lists and the output holds the dma-bufs it drew
 * (output.c). Surfaces that start or stop being drawn get
 * wl_surface.enter/leave.
 * The KMS backend may instead scan out one surface's dma-buf directly
 * (scanout.c decides; server_repaint_direct() does the bookkeeping of a
 * frame that draws nothing).
 * Then the backend presents (KMS, nested) or not (headless), reads the
 * pixels back if server_wants_pixels() and calls server_frame_done()
 * once the frame is on screen: the output fires its frame lists, then
 * captures are served.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server.h"

/* background: a dark slate grey */
#define BG_R 0.20f
#define BG_G 0.24f
#define BG_B 0.28f

void server_schedule_repaint(struct server *srv)
{
	if (srv->output.ops)
		srv->output.ops->schedule(srv);
}

bool server_wants_pixels(struct server *srv)
{
	return capture_wanted(srv);
}

/*
 * Upload a surface's new wl_shm content with its damage, then drop the
 * buffer: the texture holds the pixels, the client gets it back.
 */
static void upload(struct server *srv, struct surface *s)
{
	struct buffer *b = s->buffer;
	const void *data;

	data = shm_buffer_begin_access(b);
	renderer_upload_surface(srv->renderer, s, data, b->width, b->height,
				b->shm.stride, &s->damage, s->upload_full,
				b->shm.format == WL_SHM_FORMAT_XRGB8888);
	shm_buffer_end_access(b);	/* a shrunk file: error posted */
	s->upload_pending = false;
	s->upload_full = false;
	s->damage = (struct box){ 0 };
	s->buffer = NULL;
	buffer_unref(b);
}

/* What a frame does with the surfaces: which are on planes of their
 * own, whether the rest is drawn with GL. */
struct frame_plan {
	struct surface *const *planes;
	int n;
	bool compose;
};

static bool plan_on_plane(const struct frame_plan *p, struct surface *s)
{
	for (int i = 0; i < p->n; i++)
		if (p->planes[i] == s)
			return true;
	return false;
}

/*
 * Draws s and its subsurfaces at x,y, except the surfaces on planes of
 * their own and everything when the frame does not compose; a surface
 * not drawn for those reasons is marked drawn all the same. That is
 * weston's way with occluded views: every view on the output gets its
 * frame callbacks and its feedback presented (not discarded) with the
 * frame, and keeps the output entered; only the scanned-out surfaces'
 * feedback says ZERO_COPY (server_repaint_planes()). So windows under a
 * fullscreen one keep running as they do under a composited one. The
 * frame holds the buffers it reads: those it draws and those on planes.
 */
static void draw_tree(struct server *srv, struct surface *s, int32_t x,
		      int32_t y, const struct frame_plan *p)
{
	struct stack_node *n;

	wl_list_for_each(n, &s->stack, link) {
		struct surface *c = n->surface;
		int32_t cx, cy, w, h;
		bool on_plane;

		if (n != &s->self_node) {
			subsurface_position(c, &cx, &cy);
			if (c->has_content)
				draw_tree(srv, c, x + cx, y + cy, p);
			continue;
		}
		if (!s->has_content)
			continue;
		w = s->width / (s->scale > 0 ? s->scale : 1);
		h = s->height / (s->scale > 0 ? s->scale : 1);
		on_plane = plan_on_plane(p, s);
		if (p->compose && !on_plane &&
		    !renderer_draw_surface(srv->renderer, s, x, y, w, h)) {
			/* content that cannot be drawn (a failed dma-buf
			 * import) is not shown, but its client is not
			 * stalled: its frame callbacks fire with this frame */
			feedback_list_discard(&s->feedbacks);
			output_frame_take(&srv->output, s);
			continue;
		}
		if (s->buffer && (on_plane || p->compose))
			output_frame_hold(&srv->output, s->buffer);
		s->drawn = true;
		s->out_x = x;
		s->out_y = y;
		s->out_w = w;
		s->out_h = h;
		s->drawn_commits = s->commits;
	}
}

bool server_needs_repaint(struct server *srv)
{
	return srv->dirty || capture_wanted(srv);
}

/* The start of every frame: new wl_shm content uploaded, room made. */
static void frame_begin(struct server *srv)
{
	struct surface *s;

	wl_list_for_each(s, &srv->surfaces, link) {
		s->drawn = false;
		if (s->upload_pending)
			upload(srv, s);
	}
	/* at most one buffer reference per surface drawn */
	if (!output_frame_reserve(&srv->output,
				  (size_t)wl_list_length(&srv->surfaces)))
		fprintf(stderr, "udb-compositor: out of memory: this frame "
			"may hold no references on the buffers it draws\n");
}

/* The end of every frame: enter/leave, the frame lists, the figures. */
static void frame_end(struct server *srv, int64_t t0)
{
	struct surface *s;

	srv->dirty = false;
	srv->output.seq++;
	wl_list_for_each(s, &srv->surfaces, link) {
		if (s->drawn != s->entered) {
			output_for_client(srv, s->resource, s->drawn ?
					  wl_surface_send_enter :
					  wl_surface_send_leave);
			s->entered = s->drawn;
		}
		/* one not drawn keeps them for a frame that draws it */
		if (s->drawn)
			output_frame_take(&srv->output, s);
	}
	stats_frame(srv, (now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
}

void server_repaint_planes(struct server *srv, struct surface *const *planes,
			   int n, bool compose)
{
	const struct frame_plan p = { planes, n, compose };
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct view *v;

	frame_begin(srv);
	if (compose)
		renderer_begin(srv->renderer, BG_R, BG_G, BG_B);
	wl_list_for_each(v, &srv->scene.views, link)
		draw_tree(srv, v->surface, v->x, v->y, &p);
	if (compose) {
		strip_draw(srv);
		renderer_end(srv->renderer);
	}
	/* before frame_end() takes the rest into the plain list */
	for (int i = 0; i < n; i++) {
		wl_list_insert_list(srv->output.frame_feedbacks_zc.prev,
				    &planes[i]->feedbacks);
		wl_list_init(&planes[i]->feedbacks);
	}
	frame_end(srv, t0);
}

bool server_repaint(struct server *srv)
{
	if (!server_needs_repaint(srv))
		return false;
	server_repaint_planes(srv, NULL, 0, true);
	return true;
}

/*
 * s (scanout.c said so) is the whole output as it is: no drawing, but
 * the same bookkeeping as a composited frame for every surface it would
 * have drawn, and the frame holds s's buffer like a drawn one. s's
 * feedback alone says ZERO_COPY. The backend puts the buffer on the
 * plane.
 */
void server_repaint_direct(struct server *srv, struct surface *s)
{
	server_repaint_planes(srv, &s, 1, false);
}

void server_frame_done(struct server *srv, int64_t ts_ns, uint64_t seq,
		       const uint32_t *pixels, int stride)
{
	output_frame_present(&srv->output, ts_ns, seq);
	if (pixels)
		capture_frame_done(srv, pixels, stride);
}
