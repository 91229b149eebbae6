/* SPDX-License-Identifier: MIT */
/*
 * The headless output: frames are paced by a timerfd at --refresh Hz.
 * A repaint request arms the timer for the next frame slot (never sooner
 * than one refresh interval after the previous frame); nothing ticks
 * while nothing changes. The frame exists only in the renderer's FBO and
 * is read back when a capture or screenshot wants it.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include "server.h"

struct headless {
	int tfd;
	struct wl_event_source *src;
	bool scheduled;
	int64_t last_frame;
	uint32_t *pixels;
};

static void headless_schedule(struct server *srv)
{
	struct headless *h = srv->output.backend;
	int64_t now = now_ns(CLOCK_MONOTONIC), when;
	struct itimerspec its = { 0 };

	if (h->scheduled)
		return;
	when = h->last_frame + srv->output.refresh_ns;
	if (when <= now)
		when = now + 1;
	its.it_value.tv_sec = when / 1000000000;
	its.it_value.tv_nsec = when % 1000000000;
	if (timerfd_settime(h->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		h->scheduled = true;
}

static int headless_tick(int fd, uint32_t mask, void *data)
{
	struct server *srv = data;
	struct headless *h = srv->output.backend;
	uint64_t n;
	int64_t ts;
	bool pixels;

	(void)mask;
	if (read(fd, &n, sizeof(n)) < 0)
		return 0;
	h->scheduled = false;
	pixels = server_wants_pixels(srv);
	if (!server_repaint(srv))
		return 0;
	ts = now_ns(CLOCK_MONOTONIC);
	h->last_frame = ts;
	if (pixels)
		renderer_read(srv->renderer, h->pixels, srv->output.width * 4);
	/* no retrace counter: seq 0 */
	server_frame_done(srv, ts, 0, pixels ? h->pixels : NULL,
			  srv->output.width * 4);
	return 0;
}

static void headless_destroy(struct server *srv)
{
	struct headless *h = srv->output.backend;

	if (!h)
		return;
	if (h->src)
		wl_event_source_remove(h->src);
	if (h->tfd >= 0)
		close(h->tfd);
	free(h->pixels);
	free(h);
	srv->output.backend = NULL;
}

static const struct output_ops headless_ops = {
	.schedule = headless_schedule,
	.destroy = headless_destroy,
};

int output_headless_init(struct server *srv)
{
	struct headless *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	srv->output.backend = h;
	srv->output.ops = &headless_ops;
	srv->output.vsync = false;
	h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	h->pixels = malloc((size_t)srv->output.width * srv->output.height * 4);
	if (h->tfd < 0 || !h->pixels)
		return -1;
	h->src = wl_event_loop_add_fd(srv->loop, h->tfd, WL_EVENT_READABLE,
				      headless_tick, srv);
	return h->src ? 0 : -1;
}
