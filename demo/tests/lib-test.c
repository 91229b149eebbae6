/* SPDX-License-Identifier: MIT */
/*
 * udb-lib-test: libudb-wayland (demo/lib/udb-wayland.h) against a running
 * compositor. Prints TAP, ends with "N passed, N failed", exits 1 on any
 * failure.
 *
 *   udb-lib-test [--socket NAME] --expect-fallback LIST [--no-dmabuf]
 *                [--memfd-dmabuf accepted|refused] [-v]
 *
 * --expect-fallback: the fallback reasons an ARGB8888 buffer of the default
 * context must report, as udb_wl_fallback_string() writes them ("none":
 * zero-copy; "no-device" on a host without the module; add
 * "no-linux-dmabuf" for a compositor without linux-dmabuf). --no-dmabuf:
 * the compositor has no linux-dmabuf (skip the format discovery checks).
 * --memfd-dmabuf: what the compositor does with a memfd passed as a
 * dma-buf through udb_wl_buffer_create_dmabuf() (weston + llvmpipe
 * import it; udb-compositor answers failed): the created and the failed
 * paths of the library's zwp_linux_buffer_params_v1.create, on a host.
 *
 * What is checked: the context-wide and per-format reasons and the device
 * errno; format discovery (ARGB8888 + LINEAR offered, a made-up fourcc
 * not; on v4 a main device and a tranche); a forced-wl_shm context and
 * one whose device path does not exist report exactly their reason;
 * buffers from malloc'd memory at a page-aligned and an unaligned address
 * are dma-bufs or wl_shm as expected, and a wl_shm one gets the pixels by
 * udb_wl_buffer_copy() (and only then); begin/end CPU access; release
 * tracking on a real xdg_toplevel: attach marks busy, attaching a busy
 * buffer and copying into one is refused, the compositor's release clears
 * busy, counts and calls the callback with its data; destroying a buffer
 * the surface still shows and then the context leaves the connection
 * without a protocol error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <wayland-client.h>

#include "udb-wayland.h"
#include "xdg-shell-client-protocol.h"
#include "tap.h"

#define W 64
#define H 48
#define STRIDE (W * 4)

static bool verbose;

static void log_line(void *data, const char *line)
{
	(void)data;
	if (verbose)
		fprintf(stderr, "udb-lib-test: libudb-wayland: %s\n", line);
}

struct win {
	struct wl_display *dpy;
	struct wl_compositor *compositor;
	struct xdg_wm_base *wm;
	struct wl_surface *surface;
	struct xdg_surface *xs;
	struct xdg_toplevel *top;
	bool configured;
};

static void wm_ping(void *data, struct xdg_wm_base *wm, uint32_t serial)
{
	(void)data;
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_listener = { .ping = wm_ping };

static void xs_configure(void *data, struct xdg_surface *xs, uint32_t serial)
{
	xdg_surface_ack_configure(xs, serial);
	((struct win *)data)->configured = true;
}

static const struct xdg_surface_listener xs_listener = {
	.configure = xs_configure,
};

static void top_configure(void *data, struct xdg_toplevel *t, int32_t w,
			  int32_t h, struct wl_array *states)
{
	(void)data; (void)t; (void)w; (void)h; (void)states;
}

static void top_close(void *data, struct xdg_toplevel *t)
{
	(void)data; (void)t;
}

static const struct xdg_toplevel_listener top_listener = {
	.configure = top_configure,
	.close = top_close,
};

static void global(void *data, struct wl_registry *reg, uint32_t name,
		   const char *iface, uint32_t version)
{
	struct win *w = data;

	if (!strcmp(iface, wl_compositor_interface.name) && version >= 4) {
		w->compositor = wl_registry_bind(reg, name,
						 &wl_compositor_interface, 4);
	} else if (!strcmp(iface, xdg_wm_base_interface.name)) {
		w->wm = wl_registry_bind(reg, name, &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(w->wm, &wm_listener, w);
	}
}

static void global_remove(void *data, struct wl_registry *reg, uint32_t name)
{
	(void)data; (void)reg; (void)name;
}

static const struct wl_registry_listener reg_listener = {
	.global = global,
	.global_remove = global_remove,
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Dispatch the default queue until *flag or timeout; false on either bad end. */
static bool dispatch_until(struct wl_display *dpy, const bool *flag,
			   int timeout_ms)
{
	double end = now_ms() + timeout_ms;

	while (!*flag) {
		struct pollfd pfd = { .fd = wl_display_get_fd(dpy),
				      .events = POLLIN };
		int left = (int)(end - now_ms());

		if (left <= 0)
			return false;
		while (wl_display_prepare_read(dpy) != 0)
			if (wl_display_dispatch_pending(dpy) < 0)
				return false;
		if (*flag) {
			wl_display_cancel_read(dpy);
			break;
		}
		if (wl_display_flush(dpy) < 0 && errno != EAGAIN) {
			wl_display_cancel_read(dpy);
			return false;
		}
		if (poll(&pfd, 1, left) <= 0) {
			wl_display_cancel_read(dpy);
			continue;
		}
		if (wl_display_read_events(dpy) < 0 ||
		    wl_display_dispatch_pending(dpy) < 0)
			return false;
	}
	return true;
}

static void fill(uint8_t *p, uint32_t seed)
{
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint32_t v = 0xff000000u | (uint32_t)(x * 4) << 16 |
				     (uint32_t)(y * 5) << 8 | (seed & 0xff);

			memcpy(p + (size_t)y * STRIDE + (size_t)x * 4, &v, 4);
		}
}

struct release_seen {
	struct udb_wl_buffer *buf;
	bool fired, right;
	bool busy_in_cb;
};

static void on_release(struct udb_wl_buffer *buf, void *data)
{
	struct release_seen *r = data;

	r->fired = true;
	r->right = buf == r->buf;
	r->busy_in_cb = udb_wl_buffer_is_busy(buf);
}

static void frame_done(void *data, struct wl_callback *cb, uint32_t t)
{
	(void)t;
	wl_callback_destroy(cb);
	*(bool *)data = true;
}

static const struct wl_callback_listener frame_listener = { .done = frame_done };

/* damage + frame callback + commit after an attach; wait for the callback */
static bool commit(struct win *w)
{
	bool done = false;

	wl_surface_damage_buffer(w->surface, 0, 0, INT32_MAX, INT32_MAX);
	wl_callback_add_listener(wl_surface_frame(w->surface), &frame_listener,
				 &done);
	wl_surface_commit(w->surface);
	return dispatch_until(w->dpy, &done, 10000);
}

static const char *fb(uint32_t mask, char *s, size_t len)
{
	return udb_wl_fallback_string(mask, s, len);
}

/* A memfd as the "dma-buf": created (weston) or failed (udb-compositor). */
static void memfd_dmabuf(struct wl_display *dpy, struct udb_wl_ctx *ctx,
			 bool accepted)
{
	size_t size = (size_t)STRIDE * H;
	struct udb_wl_buffer *b;
	void *p = MAP_FAILED;
	int fd, err;

	fd = memfd_create("udb-lib-test", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) ||
	    (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      0)) == MAP_FAILED) {
		tap(false, "memfd: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	errno = 0;
	b = udb_wl_buffer_create_dmabuf(ctx, fd, p, 0, W, H, STRIDE,
					DRM_FORMAT_ARGB8888);	/* owns fd */
	err = errno;
	if (accepted) {
		tap(b && udb_wl_buffer_is_dmabuf(b) &&
		    udb_wl_buffer_get_dmabuf_fd(b) >= 0 &&
		    udb_wl_buffer_fallback(b) == 0 &&
		    udb_wl_buffer_data(b) == p &&
		    udb_wl_buffer_begin_cpu_access(b, UDB_WL_ACCESS_WRITE) == 0 &&
		    udb_wl_buffer_end_cpu_access(b, UDB_WL_ACCESS_WRITE) == 0,
		    "a memfd as the dma-buf: created (%s)",
		    b ? "a dma-buf wl_buffer" : strerror(err));
	} else {
		tap(!b && err == ECONNREFUSED && wl_display_get_error(dpy) == 0,
		    "a memfd as the dma-buf: the compositor's failed event gives ECONNREFUSED, the connection lives (%s)",
		    b ? "created" : strerror(err));
	}
	udb_wl_buffer_destroy(b);
	munmap(p, size);
}

/* A second context with other options: its reasons, and one buffer's. */
static void side_context(struct wl_display *dpy, const char *what,
			 const struct udb_wl_ctx_options *opt, uint32_t want,
			 int want_errno)
{
	struct udb_wl_ctx *ctx = udb_wl_ctx_create(dpy, opt);
	struct udb_wl_buffer *b;
	char s1[128], s2[128];
	uint8_t *mem;

	if (!ctx) {
		tap(false, "%s: context: %s", what, strerror(errno));
		return;
	}
	tap((udb_wl_ctx_fallback(ctx) & want) == want &&
	    udb_wl_ctx_device_error(ctx) == want_errno,
	    "%s: context fallback %s (has %s), device errno %d (want %d)", what,
	    fb(udb_wl_ctx_fallback(ctx), s1, sizeof(s1)),
	    fb(want, s2, sizeof(s2)), udb_wl_ctx_device_error(ctx),
	    want_errno);
	mem = aligned_alloc(4096, (size_t)STRIDE * H);
	b = mem ? udb_wl_buffer_create(ctx, mem, W, H, STRIDE,
				       DRM_FORMAT_ARGB8888) : NULL;
	if (!b) {
		tap(false, "%s: buffer: %s", what, strerror(errno));
	} else {
		tap(!udb_wl_buffer_is_dmabuf(b) &&
		    (udb_wl_buffer_fallback(b) & want) == want &&
		    udb_wl_buffer_get_dmabuf_fd(b) == -1,
		    "%s: the buffer is wl_shm, fallback %s", what,
		    fb(udb_wl_buffer_fallback(b), s1, sizeof(s1)));
	}
	udb_wl_buffer_destroy(b);
	free(mem);
	udb_wl_ctx_destroy(ctx);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "expect-fallback", required_argument, NULL, 'e' },
		{ "no-dmabuf", no_argument, NULL, 'n' },
		{ "memfd-dmabuf", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 }
	};
	const char *socket = NULL, *expect = NULL, *memfd = NULL;
	struct udb_wl_ctx_options opt = { .size = sizeof(opt),
					   .log = log_line };
	struct release_seen rel = { 0 }, rel_b = { 0 };
	struct udb_wl_buffer *a = NULL, *b = NULL, *u = NULL;
	struct udb_wl_ctx *ctx = NULL;
	struct win w = { 0 };
	struct wl_registry *reg;
	bool no_dmabuf = false, want_dmabuf, have_dev;
	uint8_t *mem_a = NULL, *mem_b = NULL, *raw_u = NULL;
	char s1[128];
	dev_t dev = 0;
	long copied;
	int c, err;

	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'e': expect = optarg; break;
		case 'n': no_dmabuf = true; break;
		case 'm': memfd = optarg; break;
		case 'v': verbose = true; break;
		default: return 2;
		}
	}
	if (!expect || optind != argc ||
	    (memfd && strcmp(memfd, "accepted") && strcmp(memfd, "refused"))) {
		fprintf(stderr, "usage: udb-lib-test [--socket NAME] --expect-fallback LIST [--no-dmabuf] [--memfd-dmabuf accepted|refused] [-v]\n");
		return 2;
	}
	want_dmabuf = !strcmp(expect, "none");
	printf("TAP version 13\n");
	w.dpy = wl_display_connect(socket);
	if (!w.dpy) {
		tap(false, "connect to %s: %s", socket ? socket : "$WAYLAND_DISPLAY",
		    strerror(errno));
		goto out;
	}
	reg = wl_display_get_registry(w.dpy);
	wl_registry_add_listener(reg, &reg_listener, &w);
	wl_display_roundtrip(w.dpy);
	if (!w.compositor || !w.wm) {
		tap(false, "wl_compositor v4 and xdg_wm_base");
		goto out;
	}

	/* --- the default context --- */
	ctx = udb_wl_ctx_create(w.dpy, &opt);
	tap(ctx != NULL, "udb_wl_ctx_create%s%s", ctx ? "" : ": ",
	    ctx ? "" : strerror(errno));
	if (!ctx)
		goto out;
	fb(udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_ARGB8888), s1, sizeof(s1));
	tap(!strcmp(s1, expect),
	    "ARGB8888 fallback reasons: %s (want %s; device errno %d, linux-dmabuf v%u)",
	    s1, expect, udb_wl_ctx_device_error(ctx),
	    udb_wl_ctx_dmabuf_version(ctx));
	tap(!!(udb_wl_ctx_fallback(ctx) & UDB_WL_FALLBACK_NO_DEVICE) ==
	    (udb_wl_ctx_device_error(ctx) != 0),
	    "no-device exactly when the device errno is set (%d)",
	    udb_wl_ctx_device_error(ctx));
	if (no_dmabuf) {
		tap(udb_wl_ctx_dmabuf_version(ctx) == 0 &&
		    (udb_wl_ctx_fallback(ctx) & UDB_WL_FALLBACK_NO_LINUX_DMABUF),
		    "no linux-dmabuf: version 0, reason no-linux-dmabuf");
	} else {
		tap(udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888,
					DRM_FORMAT_MOD_LINEAR),
		    "format discovery (v%u): ARGB8888 + LINEAR offered",
		    udb_wl_ctx_dmabuf_version(ctx));
		tap(udb_wl_ctx_format_fallback(ctx, fourcc_code('X', 'X', 'X', 'X')) &
		    UDB_WL_FALLBACK_FORMAT,
		    "a fourcc nobody offers: reason format");
		have_dev = udb_wl_ctx_main_device(ctx, &dev) == 0;
		if (udb_wl_ctx_dmabuf_version(ctx) >= 4)
			tap(have_dev && udb_wl_ctx_tranches(ctx) > 0,
			    "v4 default feedback: main device %u:%u, %u tranches",
			    major(dev), minor(dev), udb_wl_ctx_tranches(ctx));
		else
			tap(!have_dev && udb_wl_ctx_tranches(ctx) == 0,
			    "v%u: no main device, no tranches",
			    udb_wl_ctx_dmabuf_version(ctx));
	}

	if (memfd && !no_dmabuf)
		memfd_dmabuf(w.dpy, ctx, !strcmp(memfd, "accepted"));

	/* --- other contexts: each reason on its own --- */
	side_context(w.dpy, "force_shm", &(struct udb_wl_ctx_options){
			.size = sizeof(struct udb_wl_ctx_options),
			.force_shm = true, .log = log_line },
		     UDB_WL_FALLBACK_FORCED, ECANCELED);
	side_context(w.dpy, "missing device", &(struct udb_wl_ctx_options){
			.size = sizeof(struct udb_wl_ctx_options),
			.device_path = "/dev/udb-lib-test-no-such-device",
			.log = log_line },
		     UDB_WL_FALLBACK_NO_DEVICE, ENOENT);

	/* --- buffers --- */
	mem_a = aligned_alloc(4096, (size_t)STRIDE * H);
	mem_b = aligned_alloc(4096, (size_t)STRIDE * H);
	raw_u = aligned_alloc(4096, (size_t)STRIDE * H + 4096);
	if (!mem_a || !mem_b || !raw_u) {
		tap(false, "memory");
		goto out_ctx;
	}
	a = udb_wl_buffer_create(ctx, mem_a, W, H, STRIDE, DRM_FORMAT_ARGB8888);
	b = udb_wl_buffer_create(ctx, mem_b, W, H, STRIDE, DRM_FORMAT_ARGB8888);
	/* a pointer 16 bytes into a page: a dma-buf plane at an offset */
	u = udb_wl_buffer_create(ctx, raw_u + 16, W, H, STRIDE,
				 DRM_FORMAT_ARGB8888);
	tap(a && b && u, "three buffers from malloc'd memory%s%s",
	    a && b && u ? "" : ": ", a && b && u ? "" : strerror(errno));
	if (!a || !b || !u)
		goto out_ctx;
	tap(udb_wl_buffer_is_dmabuf(a) == want_dmabuf &&
	    udb_wl_buffer_is_dmabuf(u) == want_dmabuf &&
	    !strcmp(fb(udb_wl_buffer_fallback(a), s1, sizeof(s1)), expect) &&
	    (udb_wl_buffer_get_dmabuf_fd(a) >= 0) == want_dmabuf,
	    "buffers are %s (fallback %s), the unaligned one too",
	    udb_wl_buffer_is_dmabuf(a) ? "dma-bufs" : "wl_shm", s1);
	tap(!udb_wl_buffer_is_busy(a) && !udb_wl_buffer_is_busy(b) &&
	    udb_wl_buffer_release_count(a) == 0, "new buffers are not busy");

	/* draw: the bracket, then the copy a wl_shm buffer needs */
	err = udb_wl_buffer_begin_cpu_access(a, UDB_WL_ACCESS_WRITE);
	fill(mem_a, 1);
	err |= udb_wl_buffer_end_cpu_access(a, UDB_WL_ACCESS_WRITE);
	tap(err == 0, "begin/end CPU access around drawing");
	if (!want_dmabuf) {
		bool before = !memcmp(udb_wl_buffer_data(a), mem_a,
				      (size_t)STRIDE * H);

		copied = udb_wl_buffer_copy(a);
		tap(!before && copied == (long)STRIDE * H &&
		    !memcmp(udb_wl_buffer_data(a), mem_a, (size_t)STRIDE * H),
		    "wl_shm: the pool shows the drawing only after udb_wl_buffer_copy (%ld bytes)",
		    copied);
	} else {
		copied = udb_wl_buffer_copy(a);
		tap(copied == 0 && udb_wl_buffer_data(a) == mem_a,
		    "dma-buf: no copy, the compositor's pixels are the caller's memory");
	}
	fill(mem_b, 2);
	udb_wl_buffer_copy(b);

	/* --- release tracking on a real window --- */
	w.surface = wl_compositor_create_surface(w.compositor);
	w.xs = xdg_wm_base_get_xdg_surface(w.wm, w.surface);
	xdg_surface_add_listener(w.xs, &xs_listener, &w);
	w.top = xdg_surface_get_toplevel(w.xs);
	xdg_toplevel_add_listener(w.top, &top_listener, &w);
	xdg_toplevel_set_title(w.top, "udb-lib-test");
	wl_surface_commit(w.surface);
	if (!dispatch_until(w.dpy, &w.configured, 10000)) {
		tap(false, "xdg_toplevel configured");
		goto out_ctx;
	}
	rel.buf = a;
	udb_wl_buffer_set_release_callback(a, on_release, &rel);
	rel_b.buf = b;
	udb_wl_buffer_set_release_callback(b, on_release, &rel_b);
	tap(udb_wl_buffer_attach(a, w.surface, 0, 0) == 0 &&
	    udb_wl_buffer_is_busy(a), "attach: the buffer is busy");
	errno = 0;
	tap(udb_wl_buffer_attach(a, w.surface, 0, 0) < 0 && errno == EBUSY,
	    "attaching a busy buffer is refused (EBUSY)");
	errno = 0;
	if (want_dmabuf)
		tap(udb_wl_buffer_copy(a) == 0,
		    "udb_wl_buffer_copy on a busy dma-buf: nothing to copy (0)");
	else
		tap(udb_wl_buffer_copy(a) < 0 && errno == EBUSY,
		    "copying into a busy wl_shm buffer is refused (EBUSY)");
	tap(commit(&w), "commit: the frame callback came");
	tap(udb_wl_buffer_attach(b, w.surface, 0, 0) == 0 && commit(&w),
	    "the second buffer replaces it");
	/* the release may come with that frame or soon after (a wl_shm
	 * buffer may even have been released right after its upload) */
	dispatch_until(w.dpy, &rel.fired, 5000);
	tap(rel.fired && rel.right && !rel.busy_in_cb &&
	    !udb_wl_buffer_is_busy(a) && udb_wl_buffer_release_count(a) == 1,
	    "the compositor released the first buffer: callback with its data, not busy in it, 1 release (fired %d, count %lu)",
	    rel.fired, udb_wl_buffer_release_count(a));
	rel.fired = false;
	tap(udb_wl_buffer_attach(a, w.surface, 0, 0) == 0 && commit(&w),
	    "a released buffer can be attached again");
	dispatch_until(w.dpy, &rel_b.fired, 5000);
	tap(rel_b.fired && rel_b.right && !udb_wl_buffer_is_busy(b) &&
	    udb_wl_buffer_release_count(b) == 1,
	    "and the second buffer is released in turn (count %lu)",
	    udb_wl_buffer_release_count(b));

	/* destroy the shown buffer first, then the other, then the context */
	udb_wl_buffer_destroy(a);
	a = NULL;
	udb_wl_buffer_destroy(b);
	b = NULL;
	udb_wl_buffer_destroy(u);
	u = NULL;
	wl_display_roundtrip(w.dpy);
	tap(wl_display_get_error(w.dpy) == 0,
	    "buffers destroyed (the shown one first): no protocol error");
out_ctx:
	udb_wl_buffer_destroy(a);
	udb_wl_buffer_destroy(b);
	udb_wl_buffer_destroy(u);
	udb_wl_ctx_destroy(ctx);
	if (w.top)
		xdg_toplevel_destroy(w.top);
	if (w.xs)
		xdg_surface_destroy(w.xs);
	if (w.surface)
		wl_surface_destroy(w.surface);
	wl_display_roundtrip(w.dpy);
	tap(wl_display_get_error(w.dpy) == 0,
	    "context destroyed, connection still fine");
	free(mem_a);
	free(mem_b);
	free(raw_u);
	xdg_wm_base_destroy(w.wm);
	wl_compositor_destroy(w.compositor);
	wl_registry_destroy(reg);
out:
	if (w.dpy)
		wl_display_disconnect(w.dpy);
	return tap_end();
}
