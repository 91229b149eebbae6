/* SPDX-License-Identifier: MIT */
/*
 * The status strip (--status): one line across the top of the output
 * with the frame time (mean wall time of the last STRIP_FRAMES repaints),
 * the buffers imported (dma-buf and wl_shm wl_buffers created so far), the
 * invalidations seen (USERPTR_DMABUF_IOC_INFO.invalidations of every
 * module dma-buf, freed and live) and the clients connected.
 *
 * The figures are taken at most every STRIP_UPDATE_MS (like weston's fps
 * counter), not at every repaint. A repaint that comes sooner draws the
 * strip as it was and arms a timer (wl_event_loop) for the rest of the
 * STRIP_UPDATE_MS: when it fires, the strip is marked stale and a
 * repaint is scheduled (server_schedule_repaint()), so the figures of
 * the last change (a client leaving, the last buffer) reach the screen
 * within STRIP_UPDATE_MS even when nothing else repaints an idle
 * output. A repaint that refreshes arms nothing: an idle output stays
 * idle. Only at a refresh is the text formatted
 * (status_text(), demo/common/status.h), the module's INFO queried for
 * each live dma-buf (dmabuf_invalidations_now()) and, when the text
 * changed, drawn by the CPU (status_draw(), the demo's 5x7 font) into an
 * ARGB8888 image of the strip and uploaded to the strip's texture
 * through the renderer (glTexSubImage2D after the first upload). Every
 * repaint draws that texture over the windows as an opaque quad at
 * status_rect(). Windows are placed below the strip (xdg.c), so none is
 * covered by it.
 *
 * Lifetime: struct strip is created by strip_init() after the renderer
 * and the event loop and freed (timer, then texture) by strip_fini()
 * before them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "server.h"

#define STRIP_FRAMES 30
#define STRIP_UPDATE_MS 333

struct strip {
	struct udb_rect rect;
	uint32_t *pixels;		/* rect.w x rect.h */
	char text[256];			/* what the texture shows */
	GLuint tex;
	int64_t updated_ns;		/* when the figures were taken */
	struct wl_event_source *timer;	/* the refresh after a throttled repaint */
	bool timer_armed;
	bool stale;			/* the timer fired: refresh at the next repaint */
};

static int strip_timer(void *data)
{
	struct server *srv = data;
	struct strip *st = srv->strip;

	st->timer_armed = false;
	st->stale = true;
	srv->dirty = true;
	server_schedule_repaint(srv);
	return 0;
}

int strip_init(struct server *srv)
{
	struct strip *st;

	if (!srv->opt.status)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	status_rect((uint32_t)srv->output.width, (uint32_t)srv->output.height,
		    &st->rect);
	st->pixels = calloc((size_t)st->rect.w * st->rect.h, 4);
	st->timer = wl_event_loop_add_timer(srv->loop, strip_timer, srv);
	if (!st->pixels || !st->timer) {
		if (st->timer)
			wl_event_source_remove(st->timer);
		free(st->pixels);
		free(st);
		return -1;
	}
	srv->strip = st;
	return 0;
}

void strip_fini(struct server *srv)
{
	struct strip *st = srv->strip;

	if (!st)
		return;
	wl_event_source_remove(st->timer);
	renderer_texture_destroy(srv->renderer, st->tex);
	free(st->pixels);
	free(st);
	srv->strip = NULL;
}

/* A figure changed outside a commit (a client came or left): repaint. */
void strip_changed(struct server *srv)
{
	if (!srv->strip)
		return;
	srv->dirty = true;
	server_schedule_repaint(srv);
}

const char *strip_text(struct server *srv)
{
	return srv->strip && srv->strip->tex ? srv->strip->text : NULL;
}

int strip_height(struct server *srv)
{
	return srv->strip ? (int)srv->strip->rect.h : 0;
}

static double recent_frame_ms(const struct stats *s)
{
	size_t n = s->frame_ms.len < STRIP_FRAMES ? s->frame_ms.len :
		   STRIP_FRAMES;
	double sum = 0;

	for (size_t i = s->frame_ms.len - n; i < s->frame_ms.len; i++)
		sum += s->frame_ms.v[i];
	return n ? sum / n : 0;
}

void strip_draw(struct server *srv)
{
	struct strip *st = srv->strip;
	char text[sizeof(st->text)];
	int64_t now;

	if (!st)
		return;
	now = now_ns(CLOCK_MONOTONIC);
	if (st->tex && !st->stale &&
	    now - st->updated_ns < STRIP_UPDATE_MS * 1000000LL) {
		/* throttled: refresh when the STRIP_UPDATE_MS are up */
		if (!st->timer_armed) {
			int64_t left = st->updated_ns +
				       STRIP_UPDATE_MS * 1000000LL - now;

			wl_event_source_timer_update(st->timer,
						     (int)(left / 1000000) + 1);
			st->timer_armed = true;
		}
		goto draw;
	}
	if (st->timer_armed) {
		wl_event_source_timer_update(st->timer, 0);
		st->timer_armed = false;
	}
	st->stale = false;
	st->updated_ns = now;
	status_text(text, sizeof(text), recent_frame_ms(&srv->stats),
		    srv->stats.buffers_dmabuf, srv->stats.buffers_shm,
		    dmabuf_invalidations_now(srv),
		    srv->clients_now > 0 ? (uint32_t)srv->clients_now : 0);
	if (!st->tex || strcmp(text, st->text)) {
		memcpy(st->text, text, sizeof(text));
		status_draw(st->pixels, st->rect.w * 4,
			    (uint32_t)srv->output.width,
			    (uint32_t)srv->output.height, st->text);
		if (st->tex)
			renderer_update_texture(srv->renderer, st->tex,
						st->pixels, (int)st->rect.w,
						(int)st->rect.h);
		else
			st->tex = renderer_upload_shm(srv->renderer, 0, false,
						      st->pixels,
						      (int)st->rect.w,
						      (int)st->rect.h,
						      (int)st->rect.w * 4);
	}
draw:
	renderer_draw(srv->renderer, st->tex, false, (int)st->rect.x,
		      (int)st->rect.y, (int)st->rect.w, (int)st->rect.h, false,
		      true);
}
