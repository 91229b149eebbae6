/* SPDX-License-Identifier: MIT */
/*
 * udb-client --verify: read the screen back with udb_capture_v1 and compare
 * our window's pixels with the pattern of the frame we committed last.
 *
 * A capture covers every commit the compositor applied before it handled
 * the request; the surface event says which commit (counting from 1) our
 * window shows. If that is not our last commit yet we capture again (a
 * few times); once it is, every pixel must equal pattern(frame), except
 * those in the label box (label_rect(), the same rectangle the client
 * drew it in), which must equal the label drawn for that frame, text and
 * background, pixel for pixel (label_check()). The first
 * mismatch is reported with what it looks like: the previous frame, the
 * frame the buffer held before (stale: the compositor saw old pages), zero
 * (empty pages; transparent, so the pixel equals the screen just left of
 * the window), or something else.
 *
 * Lifetime: one memfd + udb_capture_frame_v1 per attempt, both gone when
 * verify_frame() returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"
#include "pattern.h"
#include "udb-capture-v1-client-protocol.h"

#define MAX_ATTEMPTS 8

static void frame_surface(void *data, struct udb_capture_frame_v1 *f,
			  struct wl_surface *surface, int32_t x, int32_t y,
			  int32_t w, int32_t h, uint32_t commits)
{
	struct capture *cap = data;

	(void)f;
	if (surface != cap->c->surface)
		return;
	cap->found = true;
	cap->x = x;
	cap->y = y;
	cap->w = w;
	cap->h = h;
	cap->commits = commits;
}

static void frame_ready(void *data, struct udb_capture_frame_v1 *f,
			uint32_t seq, const char *path)
{
	struct capture *cap = data;

	(void)f;
	(void)path;
	cap->seq = seq;
	cap->ok = true;
	cap->done = true;
}

static void frame_failed(void *data, struct udb_capture_frame_v1 *f,
			 const char *reason)
{
	struct capture *cap = data;

	(void)f;
	loge("capture failed: %s\n", reason);
	cap->done = true;
}

static const struct udb_capture_frame_v1_listener frame_listener = {
	.surface = frame_surface,
	.ready = frame_ready,
	.failed = frame_failed,
};

/*
 * Ask for a capture of the screen into @fd (out_w * 4 bytes a row); @cap
 * follows it. The caller dispatches until cap->done and destroys the
 * returned object.
 */
struct udb_capture_frame_v1 *capture_start(struct client *c, int fd,
					   struct capture *cap)
{
	struct udb_capture_frame_v1 *f;

	memset(cap, 0, sizeof(*cap));
	cap->c = c;
	f = udb_capture_v1_capture(c->capture, fd, c->out_w * 4);
	udb_capture_frame_v1_add_listener(f, &frame_listener, cap);
	return f;
}

/* One capture into fd; 0 when the pixels are there. */
static int capture_once(struct client *c, int fd, struct capture *cap)
{
	struct udb_capture_frame_v1 *f = capture_start(c, fd, cap);
	int ret = 0;

	while (!cap->done && ret >= 0)
		ret = wl_display_dispatch(c->display);
	udb_capture_frame_v1_destroy(f);
	return ret >= 0 && cap->ok ? 0 : -1;
}

static const char *classify(uint32_t got, uint32_t x, uint32_t y,
			    uint32_t frame, uint32_t buffer_prev, uint32_t seed,
			    bool have_bg, uint32_t bg)
{
	if (frame > 0 && got == pattern_pixel(x, y, frame - 1, seed))
		return "stale: the previous frame";
	if (buffer_prev != UINT32_MAX &&
	    got == pattern_pixel(x, y, buffer_prev, seed))
		return "stale: what this buffer held before the churn";
	if ((got & 0xffffff) == 0)
		return "empty (zero pages)";
	if (have_bg && got == bg)
		return "empty (transparent zero pages: the background shows)";
	return "wrong";
}

/* Compare the window in the capture; returns 1 on a match. */
static int compare(struct client *c, const uint8_t *img,
		   const struct capture *cap, uint32_t frame,
		   uint32_t buffer_prev)
{
	uint32_t w = c->opt.width, h = c->opt.height, stride = c->out_w * 4;
	uint32_t x0, y0, cw, ch, bx, by, got, bg = 0;
	struct udb_rect box = { 0, 0, 0, 0 };
	const char *lines[LABEL_LINES];
	const uint8_t *win;
	bool have_bg = false;

	if ((uint32_t)cap->w != w || (uint32_t)cap->h != h) {
		loge("MISMATCH frame %u: window shown as %dx%d, drew %ux%u\n",
		     frame, cap->w, cap->h, w, h);
		return 0;
	}
	if (cap->x < 0 || cap->y < 0 || (uint32_t)cap->x >= c->out_w ||
	    (uint32_t)cap->y >= c->out_h) {
		loge("window at %d,%d is not fully on the output: not "
		     "compared\n", cap->x, cap->y);
		return 1;
	}
	x0 = (uint32_t)cap->x;
	y0 = (uint32_t)cap->y;
	cw = w < c->out_w - x0 ? w : c->out_w - x0;
	ch = h < c->out_h - y0 ? h : c->out_h - y0;
	win = img + (size_t)y0 * stride + (size_t)x0 * 4;
	if (c->opt.label)
		label_rect(w, h, &box);
	if (!pattern_check_except(win, cw, ch, stride, frame, c->opt.seed,
				  &box, &bx, &by))
		goto mismatch;
	if (!c->opt.label)
		return 1;
	for (int i = 0; i < LABEL_LINES; i++)
		lines[i] = c->label[i];
	if (label_check(win, stride, w, h, cw, ch, frame, lines, NULL, &bx,
			&by))
		return 1;
	memcpy(&got, win + (size_t)by * stride + (size_t)bx * 4, 4);
	loge("MISMATCH frame %u (commit %u): pixel %u,%u of the window, in "
	     "its label box, is 0x%08x, want 0x%08x: the label (\"%s\" ...) "
	     "is not shown as drawn\n", frame, cap->commits, bx, by, got,
	     label_expected(w, h, frame, lines, bx, by), c->label[0]);
	return 0;
mismatch:
	memcpy(&got, img + (size_t)(y0 + by) * stride + (size_t)(x0 + bx) * 4,
	       4);
	/* what the screen shows just left of the window */
	if (x0 > 0) {
		memcpy(&bg, img + (size_t)(y0 + by) * stride +
		       (size_t)(x0 - 1) * 4, 4);
		have_bg = true;
	}
	loge("MISMATCH frame %u (commit %u): pixel %u,%u of the window is "
	     "0x%08x, want 0x%08x: %s\n", frame, cap->commits, bx, by, got,
	     pattern_pixel(bx, by, frame, c->opt.seed),
	     classify(got, bx, by, frame, buffer_prev, c->opt.seed, have_bg,
		      bg));
	return 0;
}

int verify_frame(struct client *c, uint32_t frame, uint32_t buffer_prev)
{
	size_t len = (size_t)c->out_w * 4 * c->out_h;
	struct capture cap;
	uint8_t *img;
	int fd, i, ret = -1;

	if (!c->capture || !len)
		return 0;
	fd = memfd_create("udb-client-capture", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len)) {
		loge("memfd: %s\n", strerror(errno));
		goto out;
	}
	img = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (img == MAP_FAILED) {
		loge("mmap: %s\n", strerror(errno));
		goto out;
	}
	for (i = 0; i < MAX_ATTEMPTS; i++) {
		if (capture_once(c, fd, &cap))
			break;
		if (cap.found && cap.commits == c->commits)
			break;
		logv(c, "capture %u shows commit %u of %u, again\n", cap.seq,
		     cap.found ? cap.commits : 0, c->commits);
		usleep(10 * 1000);
	}
	if (i == MAX_ATTEMPTS || !cap.ok) {
		loge("MISMATCH frame %u: no capture shows commit %u (last: "
		     "%s %u)\n", frame, c->commits,
		     cap.found ? "commit" : "window not found,", cap.commits);
		c->mismatches++;
	} else if (compare(c, img, &cap, frame, buffer_prev)) {
		c->verified++;
		logv(c, "frame %u verified (capture %u, commit %u)\n", frame,
		     cap.seq, cap.commits);
	} else {
		c->mismatches++;
	}
	ret = 0;
	munmap(img, len);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}
