/* SPDX-License-Identifier: MIT */
/*
 * udb-proto-test: a scripted Wayland client that misbehaves on purpose and
 * checks that the compositor answers with the right protocol error (exact
 * interface and code, from wl_display_get_protocol_error) and survives.
 *
 *   udb-proto-test [--socket NAME] [--kms] [-v]
 *
 * One TAP line per case. Every case runs on its own connection; after it a
 * fresh connection must still complete a roundtrip (the compositor is
 * alive), else the case fails and the run bails out. Against a compositor
 * without udb_capture_v1 (weston) the cases that need it are skipped and a
 * few codes the protocol leaves open are accepted in either form.
 *
 * Buffers: a dma-buf made by /dev/userptr_dmabuf when it exists, else by
 * /dev/udmabuf; without either, the cases that need a dma-buf the
 * compositor accepts are skipped (it refuses fds that are not dma-bufs).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include <drm_fourcc.h>

#include <linux/udmabuf.h>

#include "linux-dmabuf-v1-client-protocol.h"
#include "presentation-time-client-protocol.h"
#include "udb-capture-v1-client-protocol.h"
#include "userptr_dmabuf.h"
#include "xdg-shell-client-protocol.h"

#define P_ERR(name) ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_##name
#define FMT DRM_FORMAT_ARGB8888
#define BOGUS_FORMAT 0x58585858u	/* 'XXXX': nobody advertises it */

static const char *socket_name;
static bool verbose;
static bool ours;		/* the demo compositor (has udb_capture_v1) */
static uint64_t modifier = DRM_FORMAT_MOD_LINEAR;
static int udb_dev = -1;
static int test_no;
static int n_pass, n_fail;

/* --- one connection with the globals the cases use --- */

struct conn {
	struct wl_display *d;
	struct wl_registry *reg;
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm;
	struct zwp_linux_dmabuf_v1 *dmabuf;
	uint32_t dmabuf_version;
	struct udb_capture_v1 *capture;
	uint32_t out_w, out_h;		/* udb_capture_v1.mode */
	struct wl_subcompositor *subcompositor;
	struct wp_presentation *presentation;
	uint32_t output_name, output_version;
	bool probe;		/* bind linux-dmabuf v3 to see modifiers */
	uint32_t want_dmabuf_version;	/* 0: the highest up to 4 */
	bool argb_linear, argb_implicit;
};

static void dmabuf_format(void *data, struct zwp_linux_dmabuf_v1 *d,
			  uint32_t format)
{
	(void)data; (void)d; (void)format;
}

static void dmabuf_modifier(void *data, struct zwp_linux_dmabuf_v1 *d,
			    uint32_t format, uint32_t hi, uint32_t lo)
{
	struct conn *c = data;
	uint64_t m = (uint64_t)hi << 32 | lo;

	(void)d;
	if (format != FMT)
		return;
	if (m == DRM_FORMAT_MOD_LINEAR)
		c->argb_linear = true;
	if (m == DRM_FORMAT_MOD_INVALID)
		c->argb_implicit = true;
}

static const struct zwp_linux_dmabuf_v1_listener dmabuf_listener = {
	.format = dmabuf_format,
	.modifier = dmabuf_modifier,
};

static void wm_ping(void *data, struct xdg_wm_base *wm, uint32_t serial)
{
	(void)data;
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_listener = { .ping = wm_ping };

static void capture_mode(void *data, struct udb_capture_v1 *c, uint32_t w,
			 uint32_t h)
{
	struct conn *conn = data;

	(void)c;
	conn->out_w = w;
	conn->out_h = h;
}

static const struct udb_capture_v1_listener capture_listener = {
	.mode = capture_mode,
};

static void global(void *data, struct wl_registry *reg, uint32_t name,
		   const char *iface, uint32_t version)
{
	struct conn *c = data;

	if (!strcmp(iface, wl_compositor_interface.name) && version >= 4) {
		c->compositor = wl_registry_bind(reg, name,
						 &wl_compositor_interface, 4);
	} else if (!strcmp(iface, wl_subcompositor_interface.name)) {
		c->subcompositor = wl_registry_bind(reg, name,
						    &wl_subcompositor_interface, 1);
	} else if (!strcmp(iface, wl_shm_interface.name)) {
		c->shm = wl_registry_bind(reg, name, &wl_shm_interface, 1);
	} else if (!strcmp(iface, xdg_wm_base_interface.name)) {
		c->wm = wl_registry_bind(reg, name, &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(c->wm, &wm_listener, c);
	} else if (!strcmp(iface, zwp_linux_dmabuf_v1_interface.name) &&
		   version >= 3) {
		c->dmabuf_version = c->probe ? 3 : version < 4 ? version : 4;
		if (c->want_dmabuf_version)
			c->dmabuf_version = c->want_dmabuf_version;
		c->dmabuf = wl_registry_bind(reg, name,
					     &zwp_linux_dmabuf_v1_interface,
					     c->dmabuf_version);
		if (c->dmabuf_version < 4)
			zwp_linux_dmabuf_v1_add_listener(c->dmabuf,
							 &dmabuf_listener, c);
	} else if (!strcmp(iface, wp_presentation_interface.name)) {
		c->presentation = wl_registry_bind(reg, name,
						   &wp_presentation_interface, 1);
	} else if (!strcmp(iface, wl_output_interface.name)) {
		c->output_name = name;
		c->output_version = version;
	} else if (!strcmp(iface, udb_capture_v1_interface.name)) {
		c->capture = wl_registry_bind(reg, name,
					      &udb_capture_v1_interface, 1);
		udb_capture_v1_add_listener(c->capture, &capture_listener, c);
	}
}

static void global_remove(void *data, struct wl_registry *r, uint32_t name)
{
	(void)data; (void)r; (void)name;
}

static const struct wl_registry_listener registry_listener = {
	.global = global,
	.global_remove = global_remove,
};

static int conn_open_version(struct conn *c, bool probe, uint32_t dmabuf_ver)
{
	memset(c, 0, sizeof(*c));
	c->probe = probe;
	c->want_dmabuf_version = dmabuf_ver;
	c->d = wl_display_connect(socket_name);
	if (!c->d)
		return -1;
	c->reg = wl_display_get_registry(c->d);
	wl_registry_add_listener(c->reg, &registry_listener, c);
	if (wl_display_roundtrip(c->d) < 0 || wl_display_roundtrip(c->d) < 0)
		return -1;
	return c->compositor && c->shm && c->wm && c->dmabuf ? 0 : -1;
}

static int conn_open(struct conn *c, bool probe)
{
	return conn_open_version(c, probe, 0);
}

/* No polite teardown: the connection may be dead, the server cleans up. */
static void conn_close(struct conn *c)
{
	if (c->d)
		wl_display_disconnect(c->d);
	c->d = NULL;
}

/* --- reporting --- */

static char detail[512];

static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return -1;
}

static int skip(const char *reason)
{
	snprintf(detail, sizeof(detail), "%s", reason);
	return 1;
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
}

/*
 * Wait for the protocol error a misbehaving request must cause. want2 is a
 * second accepted code (or -1); it is only accepted from a compositor that
 * is not ours unless both is set.
 */
static int expect_error_any(struct conn *c, const char *iface, int want,
			    int want2, bool both)
{
	const struct wl_interface *got_iface;
	uint32_t id, code;
	int err;

	if (wl_display_roundtrip(c->d) >= 0)
		return fail("no protocol error (want %s error %d)", iface,
			    want);
	err = wl_display_get_error(c->d);
	if (err != EPROTO)
		return fail("connection error %s, not a protocol error",
			    strerror(err));
	code = wl_display_get_protocol_error(c->d, &got_iface, &id);
	diag("got %s@%u error %u", got_iface ? got_iface->name : "?", id,
	     code);
	if (!got_iface || strcmp(got_iface->name, iface))
		return fail("error on %s (code %u), want %s error %d",
			    got_iface ? got_iface->name : "?", code, iface,
			    want);
	if ((int)code == want)
		return 0;
	if (want2 >= 0 && (int)code == want2 && (both || !ours))
		return 0;
	return fail("%s error %u, want %d", iface, code, want);
}

static int expect_error(struct conn *c, const char *iface, int want)
{
	return expect_error_any(c, iface, want, -1, false);
}

static int expect_no_error(struct conn *c)
{
	const struct wl_interface *iface;
	uint32_t id, code;

	if (wl_display_roundtrip(c->d) >= 0)
		return 0;
	if (wl_display_get_error(c->d) != EPROTO)
		return fail("connection lost: %s",
			    strerror(wl_display_get_error(c->d)));
	code = wl_display_get_protocol_error(c->d, &iface, &id);
	return fail("unexpected %s error %u", iface ? iface->name : "?", code);
}

/* --- memory --- */

static int make_memfd(size_t size)
{
	int fd = memfd_create("udb-proto-test", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A dma-buf of size bytes: the module's, over memory kept until the end of
 * the run (the compositor may hold the buffer longer than the case), else
 * udmabuf's over a sealed memfd; -1 when neither exists (have_dmabuf).
 */
static void *dmabuf_mem[64];
static int n_dmabuf_mem;
static int udmabuf_dev = -1;
static bool have_dmabuf;

static int make_udmabuf(size_t size)
{
	struct udmabuf_create cr = { .flags = UDMABUF_FLAGS_CLOEXEC };
	int mfd = memfd_create("udb-proto-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int fd;

	size = (size + 4095) & ~(size_t)4095;
	if (mfd < 0 || ftruncate(mfd, (off_t)size) ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		if (mfd >= 0)
			close(mfd);
		return -1;
	}
	cr.memfd = mfd;
	cr.size = size;
	fd = ioctl(udmabuf_dev, UDMABUF_CREATE, &cr);
	close(mfd);
	return fd;
}

static int make_dmabuf(size_t size)
{
	struct userptr_dmabuf_create cr = { .size = size,
		.flags = USERPTR_DMABUF_CREATE_CLOEXEC };
	void *mem;

	if (udb_dev < 0)
		return udmabuf_dev >= 0 ? make_udmabuf(size) : -1;
	if (n_dmabuf_mem == 64)
		return -1;
	mem = aligned_alloc((size_t)sysconf(_SC_PAGESIZE), size);
	if (!mem)
		return -1;
	memset(mem, 0x80, size);
	dmabuf_mem[n_dmabuf_mem++] = mem;
	cr.addr = (uintptr_t)mem;
	if (ioctl(udb_dev, USERPTR_DMABUF_IOC_CREATE, &cr))
		return -1;
	return cr.fd;
}

/* Any fd, for the cases the compositor decides before looking at it. */
static int any_fd(size_t size)
{
	int fd = make_dmabuf(size);

	return fd >= 0 ? fd : make_memfd(size);
}

static struct zwp_linux_buffer_params_v1 *params(struct conn *c)
{
	return zwp_linux_dmabuf_v1_create_params(c->dmabuf);
}

static void add_plane(struct zwp_linux_buffer_params_v1 *p, int fd,
		      uint32_t idx, uint32_t offset, uint32_t stride)
{
	zwp_linux_buffer_params_v1_add(p, fd, idx, offset, stride,
				       (uint32_t)(modifier >> 32),
				       (uint32_t)modifier);
}

/* --- create with created / failed events --- */

struct create_result {
	int state;		/* 0 pending, 1 created, -1 failed */
	struct wl_buffer *buffer;
};

static void p_created(void *data, struct zwp_linux_buffer_params_v1 *p,
		      struct wl_buffer *b)
{
	struct create_result *r = data;

	(void)p;
	r->state = 1;
	r->buffer = b;
}

static void p_failed(void *data, struct zwp_linux_buffer_params_v1 *p)
{
	(void)p;
	((struct create_result *)data)->state = -1;
}

static const struct zwp_linux_buffer_params_v1_listener params_listener = {
	.created = p_created,
	.failed = p_failed,
};

/* create() and wait: 1 created, -1 failed event, -2 connection error. */
static int create_and_wait(struct conn *c, struct zwp_linux_buffer_params_v1 *p,
			   int w, int h, uint32_t format)
{
	struct create_result r = { 0 };

	zwp_linux_buffer_params_v1_add_listener(p, &params_listener, &r);
	zwp_linux_buffer_params_v1_create(p, w, h, format, 0);
	while (!r.state)
		if (wl_display_dispatch(c->d) < 0)
			return -2;
	return r.state;
}

/* --- a configured xdg window --- */

struct window {
	struct wl_surface *surface;
	struct xdg_surface *xs;
	struct xdg_toplevel *top;
	bool configured;
	bool frame_done;
};

static void xs_configure(void *data, struct xdg_surface *xs, uint32_t serial)
{
	struct window *w = data;

	xdg_surface_ack_configure(xs, serial);
	w->configured = true;
}

static const struct xdg_surface_listener xs_listener = {
	.configure = xs_configure,
};

static void top_configure(void *data, struct xdg_toplevel *t, int32_t w,
			  int32_t h, struct wl_array *s)
{
	(void)data; (void)t; (void)w; (void)h; (void)s;
}

static void top_close(void *data, struct xdg_toplevel *t)
{
	(void)data; (void)t;
}

static const struct xdg_toplevel_listener top_listener = {
	.configure = top_configure,
	.close = top_close,
};

static void window_init(struct conn *c, struct window *w)
{
	memset(w, 0, sizeof(*w));
	w->surface = wl_compositor_create_surface(c->compositor);
	w->xs = xdg_wm_base_get_xdg_surface(c->wm, w->surface);
	xdg_surface_add_listener(w->xs, &xs_listener, w);
	w->top = xdg_surface_get_toplevel(w->xs);
	xdg_toplevel_add_listener(w->top, &top_listener, w);
}

static int window_configure(struct conn *c, struct window *w)
{
	wl_surface_commit(w->surface);
	while (!w->configured)
		if (wl_display_dispatch(c->d) < 0)
			return -1;
	return 0;
}

static struct wl_buffer *shm_buffer(struct conn *c, int width, int height)
{
	size_t size = (size_t)width * height * 4;
	struct wl_shm_pool *pool;
	struct wl_buffer *b;
	int fd = make_memfd(size);

	if (fd < 0)
		return NULL;
	pool = wl_shm_create_pool(c->shm, fd, (int32_t)size);
	b = wl_shm_pool_create_buffer(pool, 0, width, height, width * 4,
				      WL_SHM_FORMAT_ARGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	return b;
}

static void frame_done(void *data, struct wl_callback *cb, uint32_t t)
{
	(void)t;
	wl_callback_destroy(cb);
	((struct window *)data)->frame_done = true;
}

static const struct wl_callback_listener frame_listener = {
	.done = frame_done,
};

/* Dispatch until *flag or timeout_ms passed; 0 when the flag is set. */
static int wait_flag(struct conn *c, bool *flag, int timeout_ms)
{
	struct pollfd pfd = { .fd = wl_display_get_fd(c->d), .events = POLLIN };
	struct timespec t0, t;
	int left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!*flag) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
					  (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -1;
		while (wl_display_prepare_read(c->d))
			if (wl_display_dispatch_pending(c->d) < 0)
				return -1;
		wl_display_flush(c->d);
		if (poll(&pfd, 1, left) > 0) {
			if (wl_display_read_events(c->d) < 0)
				return -1;
		} else {
			wl_display_cancel_read(c->d);
		}
		if (wl_display_dispatch_pending(c->d) < 0)
			return -1;
	}
	return 0;
}

/* ================= the cases ================= */

static int t_no_planes(struct conn *c)
{
	zwp_linux_buffer_params_v1_create_immed(params(c), 64, 64, FMT, 0);
	return expect_error(c, "zwp_linux_buffer_params_v1", P_ERR(INCOMPLETE));
}

static int t_plane_idx(struct conn *c)
{
	int fd = any_fd(65536);

	add_plane(params(c), fd, 4, 0, 256);
	close(fd);
	return expect_error(c, "zwp_linux_buffer_params_v1", P_ERR(PLANE_IDX));
}

static int t_plane_set(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = any_fd(65536);

	add_plane(p, fd, 0, 0, 256);
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	return expect_error(c, "zwp_linux_buffer_params_v1", P_ERR(PLANE_SET));
}

static int t_already_used(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = make_dmabuf(65536);

	add_plane(p, fd, 0, 0, 256);
	zwp_linux_buffer_params_v1_create_immed(p, 64, 64, FMT, 0);
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	return expect_error(c, "zwp_linux_buffer_params_v1",
			    P_ERR(ALREADY_USED));
}

/* create_immed of a 64x64 ARGB8888 image with the given layout */
static int bad_layout(struct conn *c, size_t fd_size, uint32_t offset,
		      uint32_t stride, int w, int h, int want, int want2)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = make_dmabuf(fd_size);

	add_plane(p, fd, 0, offset, stride);
	close(fd);
	zwp_linux_buffer_params_v1_create_immed(p, w, h, FMT, 0);
	return expect_error_any(c, "zwp_linux_buffer_params_v1", want, want2,
				want2 >= 0 && ours);
}

static int t_out_of_bounds(struct conn *c)
{
	/* 64 rows of 256 bytes do not fit in 4096 */
	return bad_layout(c, 4096, 0, 256, 64, 64, P_ERR(OUT_OF_BOUNDS), -1);
}

static int t_offset_out_of_bounds(struct conn *c)
{
	return bad_layout(c, 65536, 65536 - 4096, 256, 64, 64,
			  P_ERR(OUT_OF_BOUNDS), -1);
}

static int t_offset_overflow(struct conn *c)
{
	/* offset + stride * height wraps around 32 bits */
	return bad_layout(c, 65536, 0xfffff000u, 256, 64, 64,
			  P_ERR(OUT_OF_BOUNDS), -1);
}

static int t_stride_zero(struct conn *c)
{
	/* weston lets a zero stride through to the import */
	if (!ours)
		return skip("weston does not check a zero stride");
	/* the protocol names "bad offset or stride" under OUT_OF_BOUNDS */
	return bad_layout(c, 65536, 0, 0, 64, 64, P_ERR(INVALID_DIMENSIONS),
			  P_ERR(OUT_OF_BOUNDS));
}

static int t_width_zero(struct conn *c)
{
	return bad_layout(c, 65536, 0, 256, 0, 64, P_ERR(INVALID_DIMENSIONS),
			  -1);
}

static int t_height_zero(struct conn *c)
{
	return bad_layout(c, 65536, 0, 256, 64, 0, P_ERR(INVALID_DIMENSIONS),
			  -1);
}

static int t_width_negative(struct conn *c)
{
	return bad_layout(c, 65536, 0, 256, -64, 64,
			  P_ERR(INVALID_DIMENSIONS), -1);
}

static int t_huge(struct conn *c)
{
	/* 65536 x 65536 x 4 overflows 32 bits; either code is right */
	return bad_layout(c, 65536, 0, 262144, 65536, 65536,
			  P_ERR(INVALID_DIMENSIONS), P_ERR(OUT_OF_BOUNDS));
}

static int t_stride_too_small(struct conn *c)
{
	if (!ours)
		return skip("weston does not check stride against width");
	/* 64 pixels need 256 bytes a row */
	return bad_layout(c, 65536, 0, 128, 64, 64,
			  P_ERR(INVALID_DIMENSIONS), P_ERR(OUT_OF_BOUNDS));
}

static int t_bad_format_create(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = make_dmabuf(65536), r;

	add_plane(p, fd, 0, 0, 256);
	close(fd);
	r = create_and_wait(c, p, 64, 64, BOGUS_FORMAT);
	/* v4 demands invalid_format; udb-compositor says it on every version */
	if (r == -1 && !ours && c->dmabuf_version < 4)
		return expect_no_error(c);	/* failed event: fine on v3 */
	if (r == -1)
		return fail("failed event, want the invalid_format error");
	if (r == 1)
		return fail("created a buffer of an unadvertised format");
	return expect_error(c, "zwp_linux_buffer_params_v1",
			    P_ERR(INVALID_FORMAT));
}

static int t_bad_format_immed(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = make_dmabuf(65536);

	add_plane(p, fd, 0, 0, 256);
	close(fd);
	zwp_linux_buffer_params_v1_create_immed(p, 64, 64, BOGUS_FORMAT, 0);
	/* only v4 demands invalid_format; weston (v3) says invalid_wl_buffer */
	return expect_error_any(c, "zwp_linux_buffer_params_v1",
				P_ERR(INVALID_FORMAT), P_ERR(INVALID_WL_BUFFER),
				false);
}

static int t_pipe_create(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int pfd[2], r;

	if (pipe2(pfd, O_CLOEXEC))
		return fail("pipe: %s", strerror(errno));
	add_plane(p, pfd[0], 0, 0, 256);
	close(pfd[0]);
	close(pfd[1]);
	r = create_and_wait(c, p, 64, 64, FMT);
	if (r == -1)
		return expect_no_error(c);
	if (r == 1 && !ours)
		return skip("weston + llvmpipe accept a pipe (lazy import)");
	if (r == 1)
		return fail("created a buffer from a pipe");
	return expect_error(c, "zwp_linux_buffer_params_v1",
			    P_ERR(INVALID_WL_BUFFER));
}

static int t_pipe_immed(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	struct create_result r = { 0 };
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC))
		return fail("pipe: %s", strerror(errno));
	zwp_linux_buffer_params_v1_add_listener(p, &params_listener, &r);
	add_plane(p, pfd[0], 0, 0, 256);
	close(pfd[0]);
	close(pfd[1]);
	zwp_linux_buffer_params_v1_create_immed(p, 64, 64, FMT, 0);
	if (wl_display_roundtrip(c->d) >= 0) {
		/* the other allowed answer: a failed event */
		if (r.state == -1)
			return 0;
		if (!ours)
			return skip("weston + llvmpipe accept a pipe (lazy import)");
		return fail("neither failed nor invalid_wl_buffer");
	}
	return expect_error(c, "zwp_linux_buffer_params_v1",
			    P_ERR(INVALID_WL_BUFFER));
}

static int t_devnull(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), r;

	if (fd < 0)
		return fail("/dev/null: %s", strerror(errno));
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	r = create_and_wait(c, p, 64, 64, FMT);
	if (r == -1)
		return expect_no_error(c);
	if (r == 1)
		return fail("created a buffer from /dev/null");
	/* size 0: out_of_bounds is the honest answer too */
	return expect_error_any(c, "zwp_linux_buffer_params_v1",
				P_ERR(OUT_OF_BOUNDS), P_ERR(INVALID_WL_BUFFER),
				true);
}

/* Our copy of the fd is closed before the server even reads it: fine. */
static int t_closed_fd_show(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	struct create_result r = { 0 };
	struct window w;
	int fd = make_dmabuf(65536);

	zwp_linux_buffer_params_v1_add_listener(p, &params_listener, &r);
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	zwp_linux_buffer_params_v1_create(p, 64, 64, FMT, 0);
	while (!r.state)
		if (wl_display_dispatch(c->d) < 0)
			return expect_no_error(c);
	if (r.state != 1)
		return fail("create failed");
	window_init(c, &w);
	if (window_configure(c, &w))
		return fail("no configure");
	wl_callback_add_listener(wl_surface_frame(w.surface), &frame_listener,
				 &w);
	wl_surface_attach(w.surface, r.buffer, 0, 0);
	wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
	wl_surface_commit(w.surface);
	/* the first frame of a fresh compositor can take long under TCG */
	if (wait_flag(c, &w.frame_done, 30000))
		return expect_no_error(c) ? -1 :
			fail("no frame callback within 30 s");
	return expect_no_error(c);
}

static int t_unconfigured_buffer(struct conn *c)
{
	struct window w;
	struct wl_buffer *b = shm_buffer(c, 64, 64);

	window_init(c, &w);
	wl_surface_attach(w.surface, b, 0, 0);
	wl_surface_commit(w.surface);
	return expect_error(c, "xdg_surface",
			    XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER);
}

static int t_shm_pool_size(struct conn *c)
{
	int fd = make_memfd(4096);

	wl_shm_create_pool(c->shm, fd, 0);
	close(fd);
	return expect_error(c, "wl_shm", WL_SHM_ERROR_INVALID_STRIDE);
}

static int t_shm_pool_negative(struct conn *c)
{
	int fd = make_memfd(4096);

	wl_shm_create_pool(c->shm, fd, -4096);
	close(fd);
	return expect_error(c, "wl_shm", WL_SHM_ERROR_INVALID_STRIDE);
}

static int t_shm_pool_bad_fd(struct conn *c)
{
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC))
		return fail("pipe: %s", strerror(errno));
	wl_shm_create_pool(c->shm, pfd[0], 4096);
	close(pfd[0]);
	close(pfd[1]);
	return expect_error(c, "wl_shm", WL_SHM_ERROR_INVALID_FD);
}

static int t_shm_buffer_offset(struct conn *c)
{
	int fd = make_memfd(65536);
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, 65536);

	close(fd);
	/* 16 rows of 64 bytes starting 512 bytes before the end */
	wl_shm_pool_create_buffer(pool, 65536 - 512, 16, 16, 64,
				  WL_SHM_FORMAT_ARGB8888);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_STRIDE);
}

static int t_shm_buffer_negative_offset(struct conn *c)
{
	int fd = make_memfd(65536);
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, 65536);

	close(fd);
	wl_shm_pool_create_buffer(pool, -64, 16, 16, 64,
				  WL_SHM_FORMAT_ARGB8888);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_STRIDE);
}

static int t_shm_stride(struct conn *c)
{
	int fd = make_memfd(65536);
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, 65536);

	close(fd);
	/* libwayland's wl_shm only knows stride >= width, not bytes/pixel */
	wl_shm_pool_create_buffer(pool, 0, 64, 16, 32,
				  WL_SHM_FORMAT_ARGB8888);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_STRIDE);
}

static int t_shm_format(struct conn *c)
{
	int fd = make_memfd(65536);
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, 65536);

	close(fd);
	wl_shm_pool_create_buffer(pool, 0, 16, 16, 64, BOGUS_FORMAT);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_FORMAT);
}

/* A v3 create_immed of ARGB8888 with modifier mod */
static int v3_create_with(uint64_t mod, bool *advertised_implicit)
{
	struct conn v3;
	struct zwp_linux_buffer_params_v1 *p;
	int fd, r;

	if (conn_open(&v3, true))
		return fail("cannot bind linux-dmabuf v3");
	*advertised_implicit = v3.argb_implicit;
	p = zwp_linux_dmabuf_v1_create_params(v3.dmabuf);
	fd = make_dmabuf(65536);
	zwp_linux_buffer_params_v1_add(p, fd, 0, 0, 256, (uint32_t)(mod >> 32),
				       (uint32_t)mod);
	close(fd);
	zwp_linux_buffer_params_v1_create_immed(p, 64, 64, FMT, 0);
	if (mod == DRM_FORMAT_MOD_INVALID && *advertised_implicit)
		r = expect_no_error(&v3);
	else
		r = expect_error(&v3, "zwp_linux_buffer_params_v1",
				 P_ERR(INVALID_FORMAT));
	conn_close(&v3);
	return r;
}

/* DRM_FORMAT_MOD_INVALID is a modifier like any other: only if advertised */
static int t_mod_invalid(struct conn *c)
{
	bool implicit;
	int r;

	(void)c;
	r = v3_create_with(DRM_FORMAT_MOD_INVALID, &implicit);
	diag("ARGB8888 + MOD_INVALID %sadvertised", implicit ? "" : "not ");
	return r;
}

/* a modifier nobody advertised for it (Intel X-tiling) */
static int t_mod_unadvertised(struct conn *c)
{
	bool implicit;

	(void)c;
	return v3_create_with(I915_FORMAT_MOD_X_TILED, &implicit);
}

/* Before version 3 there are no modifiers: the arguments mean nothing. */
static int t_v2_modifier_ignored(struct conn *c)
{
	struct conn v2;
	struct zwp_linux_buffer_params_v1 *p;
	struct wl_buffer *b;
	int fd, r;

	(void)c;
	if (conn_open_version(&v2, false, 2))
		return fail("cannot bind linux-dmabuf v2");
	p = zwp_linux_dmabuf_v1_create_params(v2.dmabuf);
	fd = make_dmabuf(65536);
	zwp_linux_buffer_params_v1_add(p, fd, 0, 0, 256, 0x01234567u,
				       0x89abcdefu);
	close(fd);
	b = zwp_linux_buffer_params_v1_create_immed(p, 64, 64, FMT, 0);
	r = expect_no_error(&v2);
	(void)b;
	conn_close(&v2);
	return r;
}

/* A memfd is not a dma-buf: it could shrink under the compositor. */
static int t_memfd_create(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = make_memfd(65536), r;

	if (!ours)
		return skip("weston + llvmpipe accept a memfd");
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	r = create_and_wait(c, p, 64, 64, FMT);
	if (r == -1)
		return expect_no_error(c);
	if (r == 1)
		return fail("created a buffer from a memfd");
	return fail("a protocol error, want the failed event");
}

static int t_memfd_immed(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p = params(c);
	int fd = make_memfd(65536);

	if (!ours)
		return skip("weston + llvmpipe accept a memfd");
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	zwp_linux_buffer_params_v1_create_immed(p, 64, 64, FMT, 0);
	return expect_error(c, "zwp_linux_buffer_params_v1",
			    P_ERR(INVALID_WL_BUFFER));
}

/* Version 4 only with a real main device and a non-empty format table. */
struct fb_state {
	dev_t main_dev;
	bool have_main;
	uint32_t table_size;
	int tranches;
	bool done;
};

static void fb_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *f)
{
	(void)f;
	((struct fb_state *)data)->done = true;
}

static void fb_table(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
		     int32_t fd, uint32_t size)
{
	(void)f;
	((struct fb_state *)data)->table_size = size;
	close(fd);
}

static void fb_main(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
		    struct wl_array *dev)
{
	struct fb_state *st = data;

	(void)f;
	if (dev->size == sizeof(dev_t)) {
		memcpy(&st->main_dev, dev->data, sizeof(dev_t));
		st->have_main = true;
	}
}

static void fb_tranche_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *f)
{
	(void)f;
	((struct fb_state *)data)->tranches++;
}

static void fb_target(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
		      struct wl_array *dev)
{
	(void)data; (void)f; (void)dev;
}

static void fb_formats(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
		       struct wl_array *idx)
{
	(void)data; (void)f; (void)idx;
}

static void fb_flags(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
		     uint32_t flags)
{
	(void)data; (void)f; (void)flags;
}

static const struct zwp_linux_dmabuf_feedback_v1_listener fb_listener = {
	.done = fb_done,
	.format_table = fb_table,
	.main_device = fb_main,
	.tranche_done = fb_tranche_done,
	.tranche_target_device = fb_target,
	.tranche_formats = fb_formats,
	.tranche_flags = fb_flags,
};

static int t_v4_main_device(struct conn *c)
{
	struct fb_state st = { 0 };
	struct zwp_linux_dmabuf_feedback_v1 *f;
	char path[64];
	struct stat sb;
	bool found = false;

	if (c->dmabuf_version < 4)
		return 0;	/* v3: formats come as events, checked above */
	f = zwp_linux_dmabuf_v1_get_default_feedback(c->dmabuf);
	zwp_linux_dmabuf_feedback_v1_add_listener(f, &fb_listener, &st);
	while (!st.done)
		if (wl_display_dispatch(c->d) < 0)
			return expect_no_error(c);
	if (!st.have_main || st.main_dev == 0)
		return fail("v4 feedback with main_device 0");
	if (st.table_size < 16 || st.tranches < 1)
		return fail("v4 feedback with an empty format table (%u bytes, %d tranches)",
			    st.table_size, st.tranches);
	for (int i = 128; i < 192 && !found; i++) {
		snprintf(path, sizeof(path), "/dev/dri/renderD%d", i);
		found = stat(path, &sb) == 0 && S_ISCHR(sb.st_mode) &&
			sb.st_rdev == st.main_dev;
	}
	if (!found)
		return fail("main_device %u:%u is no render node here",
			    major(st.main_dev), minor(st.main_dev));
	return 0;
}

/* libwayland's own wl_shm checks stride >= width only */
static int t_shm_stride_bpp(struct conn *c)
{
	int fd = make_memfd(65536);
	struct wl_shm_pool *pool;

	if (!ours) {
		close(fd);
		return skip("libwayland's wl_shm checks stride >= width only");
	}
	pool = wl_shm_create_pool(c->shm, fd, 65536);
	close(fd);
	/* 64 ARGB8888 pixels need 256 bytes a row, not 128 */
	wl_shm_pool_create_buffer(pool, 0, 64, 16, 128,
				  WL_SHM_FORMAT_ARGB8888);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_STRIDE);
}

/*
 * The client shrinks the file under its pool after creating a buffer: the
 * compositor's read of it must not kill the compositor (SIGBUS), and the
 * client gets wl_shm.invalid_fd on its pool.
 */
static int t_shm_truncated(struct conn *c)
{
	struct window w;
	struct wl_shm_pool *pool;
	struct wl_buffer *b;
	int fd = make_memfd(64 * 64 * 4);

	if (!ours)
		return skip("libwayland's wl_shm posts invalid_fd on the wl_buffer");
	window_init(c, &w);
	if (window_configure(c, &w))
		return fail("no configure");
	pool = wl_shm_create_pool(c->shm, fd, 64 * 64 * 4);
	b = wl_shm_pool_create_buffer(pool, 0, 64, 64, 256,
				      WL_SHM_FORMAT_ARGB8888);
	if (wl_display_roundtrip(c->d) < 0)
		return expect_no_error(c);
	if (ftruncate(fd, 0))
		return fail("ftruncate: %s", strerror(errno));
	close(fd);
	wl_surface_attach(w.surface, b, 0, 0);
	wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
	wl_surface_commit(w.surface);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_FD);
}

/* The pool's file shrunk after the buffer's first commit: the next
 * commit of it is the error. */
static int t_shm_truncated_later(struct conn *c)
{
	struct window w;
	struct wl_shm_pool *pool;
	struct wl_buffer *b;
	int fd = make_memfd(64 * 64 * 4);

	if (!ours)
		return skip("libwayland's wl_shm posts invalid_fd on the wl_buffer");
	window_init(c, &w);
	if (window_configure(c, &w))
		return fail("no configure");
	pool = wl_shm_create_pool(c->shm, fd, 64 * 64 * 4);
	b = wl_shm_pool_create_buffer(pool, 0, 64, 64, 256,
				      WL_SHM_FORMAT_ARGB8888);
	wl_surface_attach(w.surface, b, 0, 0);
	wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
	wl_surface_commit(w.surface);
	if (wl_display_roundtrip(c->d) < 0)
		return expect_no_error(c);
	if (ftruncate(fd, 4096))
		return fail("ftruncate: %s", strerror(errno));
	close(fd);
	wl_surface_attach(w.surface, b, 0, 0);
	wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
	wl_surface_commit(w.surface);
	return expect_error(c, "wl_shm_pool", WL_SHM_ERROR_INVALID_FD);
}

/* wl_output: geometry, a current mode, scale, name, description, done */
struct out_state {
	int32_t mode_w, mode_h, refresh, scale;
	bool geometry, current, done;
	char name[64], description[128];
};

static void o_geometry(void *data, struct wl_output *o, int32_t x, int32_t y,
		       int32_t pw, int32_t ph, int32_t sub, const char *make,
		       const char *model, int32_t transform)
{
	(void)o; (void)x; (void)y; (void)pw; (void)ph; (void)sub; (void)make;
	(void)model; (void)transform;
	((struct out_state *)data)->geometry = true;
}

static void o_mode(void *data, struct wl_output *o, uint32_t flags,
		   int32_t w, int32_t h, int32_t refresh)
{
	struct out_state *st = data;

	(void)o;
	if (!(flags & WL_OUTPUT_MODE_CURRENT))
		return;
	st->current = true;
	st->mode_w = w;
	st->mode_h = h;
	st->refresh = refresh;
}

static void o_done(void *data, struct wl_output *o)
{
	(void)o;
	((struct out_state *)data)->done = true;
}

static void o_scale(void *data, struct wl_output *o, int32_t f)
{
	(void)o;
	((struct out_state *)data)->scale = f;
}

static void o_name(void *data, struct wl_output *o, const char *name)
{
	struct out_state *st = data;

	(void)o;
	snprintf(st->name, sizeof(st->name), "%s", name);
}

static void o_description(void *data, struct wl_output *o, const char *d)
{
	struct out_state *st = data;

	(void)o;
	snprintf(st->description, sizeof(st->description), "%s", d);
}

static const struct wl_output_listener output_listener = {
	.geometry = o_geometry,
	.mode = o_mode,
	.done = o_done,
	.scale = o_scale,
	.name = o_name,
	.description = o_description,
};

static int t_wl_output(struct conn *c)
{
	struct out_state st = { 0 };
	struct wl_output *o;

	if (!c->output_name)
		return fail("no wl_output global");
	if (c->output_version < 4)
		return fail("wl_output version %u, want 4", c->output_version);
	o = wl_registry_bind(c->reg, c->output_name, &wl_output_interface, 4);
	wl_output_add_listener(o, &output_listener, &st);
	if (wl_display_roundtrip(c->d) < 0)
		return expect_no_error(c);
	if (!st.geometry || !st.current || !st.done || st.scale != 1 ||
	    !st.name[0] || !st.description[0])
		return fail("geometry %d, current mode %d, done %d, scale %d, name '%s', description '%s'",
			    st.geometry, st.current, st.done, st.scale,
			    st.name, st.description);
	if (st.mode_w <= 0 || st.mode_h <= 0 || st.refresh <= 0)
		return fail("mode %dx%d@%d mHz", st.mode_w, st.mode_h,
			    st.refresh);
	diag("wl_output %s (%s): %dx%d@%d mHz", st.name, st.description,
	     st.mode_w, st.mode_h, st.refresh);
	wl_output_release(o);
	return expect_no_error(c);
}

/*
 * wp_presentation: of two commits before a repaint the first is
 * discarded, the second presented; no ZERO_COPY (the content is
 * composited with GL, a copy by the protocol's definition); without the
 * VSYNC flag (no vertical retrace counter) seq must be 0.
 */
struct pf_state {
	int presented, discarded;
	uint32_t flags, seq_hi, seq_lo;
};

static void pf_sync_output(void *data, struct wp_presentation_feedback *f,
			   struct wl_output *o)
{
	(void)data; (void)f; (void)o;
}

static void pf_presented(void *data, struct wp_presentation_feedback *f,
			 uint32_t tv_hi, uint32_t tv_lo, uint32_t tv_nsec,
			 uint32_t refresh, uint32_t seq_hi, uint32_t seq_lo,
			 uint32_t flags)
{
	struct pf_state *st = data;

	(void)tv_hi; (void)tv_lo; (void)tv_nsec; (void)refresh;
	st->presented++;
	st->flags = flags;
	st->seq_hi = seq_hi;
	st->seq_lo = seq_lo;
	wp_presentation_feedback_destroy(f);
}

static void pf_discarded(void *data, struct wp_presentation_feedback *f)
{
	((struct pf_state *)data)->discarded++;
	wp_presentation_feedback_destroy(f);
}

static const struct wp_presentation_feedback_listener pf_listener = {
	.sync_output = pf_sync_output,
	.presented = pf_presented,
	.discarded = pf_discarded,
};

static struct wl_buffer *dmabuf_or_shm(struct conn *c)
{
	struct zwp_linux_buffer_params_v1 *p;
	int fd;

	if (!have_dmabuf)
		return shm_buffer(c, 64, 64);
	p = params(c);
	fd = make_dmabuf(65536);
	add_plane(p, fd, 0, 0, 256);
	close(fd);
	return zwp_linux_buffer_params_v1_create_immed(p, 64, 64, FMT, 0);
}

static int t_presentation(struct conn *c)
{
	struct pf_state a = { 0 }, b = { 0 };
	struct wl_buffer *b1, *b2;
	struct wp_presentation_feedback *f;
	struct window w;
	bool presented = false;

	if (!c->presentation)
		return skip("no wp_presentation");
	window_init(c, &w);
	if (window_configure(c, &w))
		return fail("no configure");
	b1 = dmabuf_or_shm(c);
	b2 = dmabuf_or_shm(c);
	f = wp_presentation_feedback(c->presentation, w.surface);
	wp_presentation_feedback_add_listener(f, &pf_listener, &a);
	wl_surface_attach(w.surface, b1, 0, 0);
	wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
	wl_surface_commit(w.surface);
	f = wp_presentation_feedback(c->presentation, w.surface);
	wp_presentation_feedback_add_listener(f, &pf_listener, &b);
	wl_surface_attach(w.surface, b2, 0, 0);
	wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
	wl_callback_add_listener(wl_surface_frame(w.surface), &frame_listener,
				 &w);
	wl_surface_commit(w.surface);
	if (wait_flag(c, &w.frame_done, 30000))
		return expect_no_error(c) ? -1 :
			fail("no frame callback within 30 s");
	/* feedback may come a frame after the callback (weston): 30 s */
	for (int i = 0; i < 1500 && !(a.presented + a.discarded &&
				       b.presented + b.discarded); i++) {
		if (wl_display_roundtrip(c->d) < 0)
			return expect_no_error(c);
		usleep(20000);
	}
	presented = b.presented == 1;
	if (a.discarded != 1 || a.presented || !presented)
		return fail("first commit: %d presented %d discarded; second: %d presented %d discarded",
			    a.presented, a.discarded, b.presented, b.discarded);
	diag("presented: flags 0x%x seq %u:%u (%s)", b.flags, b.seq_hi,
	     b.seq_lo, have_dmabuf ? "dma-buf" : "wl_shm");
	if (b.flags & WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY)
		return fail("ZERO_COPY for content composited with GL");
	if (!(b.flags & WP_PRESENTATION_FEEDBACK_KIND_VSYNC) &&
	    (b.seq_hi || b.seq_lo))
		return fail("seq %u:%u without a retrace counter (no VSYNC flag)",
			    b.seq_hi, b.seq_lo);
	return expect_no_error(c);
}

/*
 * KMS only (--kms): a commit applied while the previous frame's page flip
 * is pending is not in that frame. C1 is committed on an idle output (the
 * repaint starts at once), C2 10 ms later, while the repaint of C1 or its
 * flip is still under way (glReadPixels of the whole frame alone takes
 * longer than that under TCG). C1 was on screen: its feedback must be
 * presented, C2's in a later frame (higher seq). A compositor that fires
 * at flip time whatever is pending then reports C2 in C1's frame and C1
 * discarded.
 */
static int t_presentation_flip_race(struct conn *c)
{
	struct window w;
	struct wp_presentation_feedback *f;
	int c1_presented = 0, trials = 5;

	if (!c->presentation)
		return skip("no wp_presentation");
	window_init(c, &w);
	if (window_configure(c, &w))
		return fail("no configure");
	for (int t = 0; t < trials; t++) {
		struct pf_state a = { 0 }, b = { 0 };
		struct wl_buffer *b1 = shm_buffer(c, 64, 64);
		struct wl_buffer *b2 = shm_buffer(c, 64, 64);
		uint64_t sa, sb;

		if (wl_display_roundtrip(c->d) < 0)
			return expect_no_error(c);
		usleep(300000);		/* no flip pending any more */
		f = wp_presentation_feedback(c->presentation, w.surface);
		wp_presentation_feedback_add_listener(f, &pf_listener, &a);
		wl_surface_attach(w.surface, b1, 0, 0);
		wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
		wl_surface_commit(w.surface);
		wl_display_flush(c->d);
		usleep(10000);
		f = wp_presentation_feedback(c->presentation, w.surface);
		wp_presentation_feedback_add_listener(f, &pf_listener, &b);
		wl_surface_attach(w.surface, b2, 0, 0);
		wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
		wl_surface_commit(w.surface);
		for (int i = 0; i < 1500 && !(a.presented + a.discarded &&
					       b.presented + b.discarded); i++) {
			if (wl_display_roundtrip(c->d) < 0)
				return expect_no_error(c);
			usleep(20000);
		}
		if (!(a.presented + a.discarded) || !b.presented)
			return fail("trial %d: C1 %d/%d, C2 %d/%d presented/discarded",
				    t, a.presented, a.discarded, b.presented,
				    b.discarded);
		if (!(b.flags & WP_PRESENTATION_FEEDBACK_KIND_VSYNC))
			return skip("no VSYNC flag: not a KMS output");
		sa = (uint64_t)a.seq_hi << 32 | a.seq_lo;
		sb = (uint64_t)b.seq_hi << 32 | b.seq_lo;
		diag("trial %d: C1 %s (seq %llu), C2 presented (seq %llu)", t,
		     a.presented ? "presented" : "discarded",
		     (unsigned long long)sa, (unsigned long long)sb);
		if (a.presented && sa >= sb)
			return fail("trial %d: C2 presented in frame %llu, not after C1's %llu",
				    t, (unsigned long long)sb,
				    (unsigned long long)sa);
		c1_presented += a.presented;
	}
	if (!c1_presented)
		return fail("C1 was discarded in all %d trials although the repaint "
			    "that drew it had started before C2 came", trials);
	diag("C1 presented in %d of %d trials", c1_presented, trials);
	return expect_no_error(c);
}

static int t_capture_bad_buffer(struct conn *c)
{
	int fd;

	if (!c->capture)
		return skip("no udb_capture_v1");
	fd = make_memfd(16);
	udb_capture_v1_capture(c->capture, fd, 64);
	close(fd);
	return expect_error(c, "udb_capture_v1",
			    UDB_CAPTURE_V1_ERROR_BAD_BUFFER);
}

static int t_capture_disconnect(struct conn *c)
{
	int fd;

	if (!c->capture)
		return skip("no udb_capture_v1");
	fd = make_memfd(64 << 20);	/* big enough for any output */
	udb_capture_v1_capture(c->capture, fd, 8192);
	close(fd);
	wl_display_flush(c->d);
	return 0;	/* conn_close() drops the connection, capture pending */
}

/*
 * A child shows a dma-buf, asks for a frame callback, commits the next
 * frame and is SIGKILLed before the callback fires. The compositor must
 * clean up and keep serving the next client.
 */
static int t_client_killed(struct conn *c)
{
	struct window w;
	int sync[2], status, fd;
	struct wl_buffer *b;
	char byte = 0;
	pid_t pid;

	if (pipe2(sync, O_CLOEXEC))
		return fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct zwp_linux_buffer_params_v1 *p;
		struct conn k;

		close(sync[0]);
		if (conn_open(&k, false))
			_exit(1);
		window_init(&k, &w);
		if (window_configure(&k, &w))
			_exit(1);
		for (int i = 0; i < 2; i++) {
			p = params(&k);
			fd = make_dmabuf(65536);
			add_plane(p, fd, 0, 0, 256);
			close(fd);
			b = zwp_linux_buffer_params_v1_create_immed(p, 64, 64,
								    FMT, 0);
			wl_surface_frame(w.surface);
			wl_surface_attach(w.surface, b, 0, 0);
			wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
			wl_surface_commit(w.surface);
			if (i == 0 && wl_display_roundtrip(k.d) < 0)
				_exit(1);
		}
		wl_display_flush(k.d);
		if (write(sync[1], &byte, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], &byte, 1) != 1) {
		close(sync[0]);
		waitpid(pid, &status, 0);
		return fail("the doomed client did not get its buffer shown");
	}
	close(sync[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);

	/* the next client still gets its frames */
	window_init(c, &w);
	if (window_configure(c, &w))
		return fail("no configure after the kill");
	for (int i = 0; i < 3; i++) {
		b = shm_buffer(c, 64, 64);
		w.frame_done = false;
		wl_callback_add_listener(wl_surface_frame(w.surface),
					 &frame_listener, &w);
		wl_surface_attach(w.surface, b, 0, 0);
		wl_surface_damage_buffer(w.surface, 0, 0, 64, 64);
		wl_surface_commit(w.surface);
		if (wait_flag(c, &w.frame_done, 30000))
			return fail("frame %d: no frame callback within 30 s",
				    i);
	}
	return expect_no_error(c);
}

/* ---- buffer releases, damage and what the capture shows ---- */

/* A wl_shm buffer whose pixels the case writes: w x h ARGB8888. */
struct pixbuf {
	struct wl_buffer *b;
	uint32_t *px;
	int w, h;
	int releases;
};

static void pb_release(void *data, struct wl_buffer *b)
{
	(void)b;
	((struct pixbuf *)data)->releases++;
}

static const struct wl_buffer_listener pb_listener = { .release = pb_release };

static int pixbuf_init(struct conn *c, struct pixbuf *pb, int w, int h)
{
	size_t size = (size_t)w * h * 4;
	struct wl_shm_pool *pool;
	int fd = make_memfd(size);

	memset(pb, 0, sizeof(*pb));
	if (fd < 0)
		return -1;
	pb->px = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pb->px == MAP_FAILED) {
		close(fd);
		return -1;
	}
	pool = wl_shm_create_pool(c->shm, fd, (int32_t)size);
	pb->b = wl_shm_pool_create_buffer(pool, 0, w, h, w * 4,
					  WL_SHM_FORMAT_ARGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	wl_buffer_add_listener(pb->b, &pb_listener, pb);
	pb->w = w;
	pb->h = h;
	return 0;
}

static void pixbuf_fill(struct pixbuf *pb, uint32_t argb)
{
	for (int i = 0; i < pb->w * pb->h; i++)
		pb->px[i] = argb;
}

/* Roundtrip until *n >= want, up to 10 s (repaints are asynchronous). */
static void wait_count(struct conn *c, const int *n, int want)
{
	for (int i = 0; i < 500 && *n < want; i++) {
		if (wl_display_roundtrip(c->d) < 0)
			return;
		if (*n < want)
			usleep(20000);
	}
}

/* Attach pb (damage: buffer box, or all of it if dw = 0), commit and
 * wait for the frame callback of that commit. */
static int show(struct conn *c, struct window *w, struct pixbuf *pb,
		int dx, int dy, int dw, int dh)
{
	w->frame_done = false;
	wl_surface_attach(w->surface, pb->b, 0, 0);
	if (dw)
		wl_surface_damage_buffer(w->surface, dx, dy, dw, dh);
	else
		wl_surface_damage_buffer(w->surface, 0, 0, pb->w, pb->h);
	wl_callback_add_listener(wl_surface_frame(w->surface), &frame_listener,
				 w);
	wl_surface_commit(w->surface);
	return wait_flag(c, &w->frame_done, 30000);
}

/* One capture of the output: the pixels and where surface is. */
struct shot {
	struct wl_surface *surface;
	uint32_t *px;
	size_t size;
	int stride;
	int32_t x, y, w, h;
	bool found, done, failed;
};

static void shot_surface(void *data, struct udb_capture_frame_v1 *f,
			 struct wl_surface *s, int32_t x, int32_t y, int32_t w,
			 int32_t h, uint32_t commits)
{
	struct shot *sh = data;

	(void)f, (void)commits;
	if (s != sh->surface)
		return;
	sh->found = true;
	sh->x = x, sh->y = y, sh->w = w, sh->h = h;
}

static void shot_ready(void *data, struct udb_capture_frame_v1 *f,
		       uint32_t seq, const char *path)
{
	(void)f, (void)seq, (void)path;
	((struct shot *)data)->done = true;
}

static void shot_failed(void *data, struct udb_capture_frame_v1 *f,
			const char *reason)
{
	struct shot *sh = data;

	(void)f;
	diag("capture failed: %s", reason);
	sh->failed = sh->done = true;
}

static const struct udb_capture_frame_v1_listener shot_listener = {
	.surface = shot_surface,
	.ready = shot_ready,
	.failed = shot_failed,
};

static int shot_take(struct conn *c, struct shot *sh, struct wl_surface *s)
{
	struct udb_capture_frame_v1 *f;
	int fd;

	memset(sh, 0, sizeof(*sh));
	sh->surface = s;
	sh->stride = (int)c->out_w * 4;
	sh->size = (size_t)sh->stride * c->out_h;
	fd = make_memfd(sh->size);
	if (fd < 0 || !sh->size)
		return fail("no memfd for a %ux%u capture", c->out_w, c->out_h);
	sh->px = mmap(NULL, sh->size, PROT_READ, MAP_SHARED, fd, 0);
	if (sh->px == MAP_FAILED) {
		close(fd);
		return fail("mmap: %s", strerror(errno));
	}
	f = udb_capture_v1_capture(c->capture, fd, (uint32_t)sh->stride);
	close(fd);
	udb_capture_frame_v1_add_listener(f, &shot_listener, sh);
	if (wait_flag(c, &sh->done, 30000) || sh->failed)
		return expect_no_error(c) ? -1 : fail("no capture");
	udb_capture_frame_v1_destroy(f);
	if (!sh->found)
		return fail("the capture does not show the surface");
	return 0;
}

/* The pixel at (x, y) of the surface as shown, without alpha. */
static uint32_t shot_at(const struct shot *sh, int x, int y)
{
	return sh->px[(size_t)(sh->y + y) * (sh->stride / 4) + sh->x + x] &
	       0xffffff;
}

static void shot_fini(struct shot *sh)
{
	if (sh->px && sh->px != MAP_FAILED)
		munmap(sh->px, sh->size);
}

#define RED 0xffff0000u
#define BLUE 0xff0000ffu

/* Expect colour (RGB) at surface pixel (x, y) of the capture. */
static int expect_px(const struct shot *sh, int x, int y, uint32_t argb,
		     const char *what)
{
	uint32_t got = shot_at(sh, x, y);

	if (got != (argb & 0xffffff))
		return fail("%s: pixel (%d,%d) is 0x%06x, want 0x%06x", what, x,
			    y, got, argb & 0xffffff);
	return 0;
}

/* Releases per attach: each commit's buffer once, once superseded. */
static int t_release_per_attach(struct conn *c)
{
	struct pixbuf x, y;
	struct window w;

	window_init(c, &w);
	if (window_configure(c, &w) || pixbuf_init(c, &x, 32, 32) ||
	    pixbuf_init(c, &y, 32, 32))
		return fail("setup");
	if (show(c, &w, &x, 0, 0, 0, 0) || show(c, &w, &y, 0, 0, 0, 0) ||
	    show(c, &w, &x, 0, 0, 0, 0))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	/* the surface drops its last buffer with it */
	xdg_toplevel_destroy(w.top);
	xdg_surface_destroy(w.xs);
	wl_surface_destroy(w.surface);
	wait_count(c, &x.releases, 2);
	wait_count(c, &y.releases, 1);
	wl_display_roundtrip(c->d);
	if (x.releases != 2 || y.releases != 1)
		return fail("X attached twice, released %d times; Y once, released %d",
			    x.releases, y.releases);
	return expect_no_error(c);
}

/*
 * A synchronized subsurface: a buffer replaced in its cache before the
 * parent commits is released, and so is the cached buffer of a
 * subsurface destroyed before the parent commits.
 */
static int t_release_sync_subsurface(struct conn *c)
{
	struct pixbuf p, a, b, d;
	struct wl_surface *cs;
	struct wl_subsurface *sub;
	struct window w;

	if (!c->subcompositor)
		return skip("no wl_subcompositor");
	window_init(c, &w);
	if (window_configure(c, &w) || pixbuf_init(c, &p, 32, 32) ||
	    pixbuf_init(c, &a, 16, 16) || pixbuf_init(c, &b, 16, 16) ||
	    pixbuf_init(c, &d, 16, 16))
		return fail("setup");
	cs = wl_compositor_create_surface(c->compositor);
	sub = wl_subcompositor_get_subsurface(c->subcompositor, cs, w.surface);
	wl_surface_attach(cs, a.b, 0, 0);
	wl_surface_damage_buffer(cs, 0, 0, 16, 16);
	wl_surface_commit(cs);		/* cached */
	wl_surface_attach(cs, b.b, 0, 0);
	wl_surface_damage_buffer(cs, 0, 0, 16, 16);
	wl_surface_commit(cs);		/* replaces A in the cache */
	wait_count(c, &a.releases, 1);
	if (a.releases != 1 || b.releases)
		return fail("A replaced in the cache: released %d times (B %d)",
			    a.releases, b.releases);
	if (show(c, &w, &p, 0, 0, 0, 0))	/* applies B */
		return expect_no_error(c) ? -1 : fail("no frame callback");
	wl_surface_attach(cs, d.b, 0, 0);
	wl_surface_damage_buffer(cs, 0, 0, 16, 16);
	wl_surface_commit(cs);		/* D cached, never applied */
	wl_subsurface_destroy(sub);
	wl_surface_destroy(cs);
	wait_count(c, &d.releases, 1);
	wait_count(c, &b.releases, 1);
	if (d.releases != 1 || b.releases != 1 || a.releases != 1)
		return fail("subsurface destroyed: cached D released %d times, shown B %d, A %d",
			    d.releases, b.releases, a.releases);
	return expect_no_error(c);
}

/* Partial damage: the damaged box shows the new pixels, the rest the old. */
static int t_damage_partial(struct conn *c)
{
	struct pixbuf x;
	struct window w;
	struct shot sh;
	int r;

	if (!c->capture)
		return skip("no udb_capture_v1");
	window_init(c, &w);
	if (window_configure(c, &w) || pixbuf_init(c, &x, 64, 64))
		return fail("setup");
	pixbuf_fill(&x, RED);
	if (show(c, &w, &x, 0, 0, 0, 0))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	wait_count(c, &x.releases, 1);	/* the pixels are ours again */
	pixbuf_fill(&x, BLUE);
	if (show(c, &w, &x, 8, 8, 8, 8))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	if (shot_take(c, &sh, w.surface))
		return -1;
	r = expect_px(&sh, 8, 8, BLUE, "damaged") ||
	    expect_px(&sh, 15, 15, BLUE, "damaged") ||
	    expect_px(&sh, 40, 40, RED, "not damaged") ||
	    expect_px(&sh, 16, 16, RED, "not damaged") ? -1 : 0;
	shot_fini(&sh);
	return r ? r : expect_no_error(c);
}

/*
 * wl_surface.damage with buffer transform 90: a 64x32 buffer is a 32x64
 * surface; surface box (0,0)-(8,8) is buffer box (0,24)-(8,32). The
 * compositor draws buffers untransformed (docs), so that box of the
 * buffer is where the new pixels must show.
 */
static int t_damage_transform(struct conn *c)
{
	struct pixbuf x;
	struct window w;
	struct shot sh;
	int r;

	if (!c->capture)
		return skip("no udb_capture_v1");
	window_init(c, &w);
	if (window_configure(c, &w) || pixbuf_init(c, &x, 64, 32))
		return fail("setup");
	wl_surface_set_buffer_transform(w.surface, WL_OUTPUT_TRANSFORM_90);
	pixbuf_fill(&x, RED);
	if (show(c, &w, &x, 0, 0, 0, 0))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	wait_count(c, &x.releases, 1);
	pixbuf_fill(&x, BLUE);
	w.frame_done = false;
	wl_surface_attach(w.surface, x.b, 0, 0);
	wl_surface_damage(w.surface, 0, 0, 8, 8);
	wl_callback_add_listener(wl_surface_frame(w.surface), &frame_listener,
				 &w);
	wl_surface_commit(w.surface);
	if (wait_flag(c, &w.frame_done, 30000))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	if (shot_take(c, &sh, w.surface))
		return -1;
	r = expect_px(&sh, 1, 25, BLUE, "surface damage (0,0,8,8)") ||
	    expect_px(&sh, 6, 30, BLUE, "surface damage (0,0,8,8)") ? -1 : 0;
	shot_fini(&sh);
	return r ? r : expect_no_error(c);
}

/*
 * Two commits merged in a sync subsurface's cache: the first damages
 * surface box (0,0)-(8,8) at scale 2 (buffer box (0,0)-(16,16)), the
 * second sets scale 1. The merged damage must still cover buffer pixel
 * (12,12), shown at (12,12) of the 64x64 surface.
 */
static int t_damage_merged_scale(struct conn *c)
{
	struct pixbuf p, x;
	struct wl_surface *cs;
	struct window w;
	struct shot sh;
	int r;

	if (!c->capture || !c->subcompositor)
		return skip("no udb_capture_v1 or wl_subcompositor");
	window_init(c, &w);
	if (window_configure(c, &w) || pixbuf_init(c, &p, 32, 32) ||
	    pixbuf_init(c, &x, 64, 64))
		return fail("setup");
	cs = wl_compositor_create_surface(c->compositor);
	wl_subcompositor_get_subsurface(c->subcompositor, cs, w.surface);
	pixbuf_fill(&x, RED);
	wl_surface_set_buffer_scale(cs, 2);
	wl_surface_attach(cs, x.b, 0, 0);
	wl_surface_damage_buffer(cs, 0, 0, 64, 64);
	wl_surface_commit(cs);
	if (show(c, &w, &p, 0, 0, 0, 0))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	wait_count(c, &x.releases, 1);
	pixbuf_fill(&x, BLUE);
	wl_surface_attach(cs, x.b, 0, 0);
	wl_surface_damage(cs, 0, 0, 8, 8);
	wl_surface_commit(cs);
	wl_surface_set_buffer_scale(cs, 1);
	wl_surface_commit(cs);
	if (show(c, &w, &p, 0, 0, 0, 0))
		return expect_no_error(c) ? -1 : fail("no frame callback");
	if (shot_take(c, &sh, cs))
		return -1;
	r = expect_px(&sh, 12, 12, BLUE, "merged damage") ||
	    expect_px(&sh, 2, 2, BLUE, "merged damage") ? -1 : 0;
	shot_fini(&sh);
	return r ? r : expect_no_error(c);
}

struct test {
	const char *name;
	int (*run)(struct conn *c);
	bool dmabuf;		/* needs a dma-buf the compositor accepts */
};

static const struct test tests[] = {
	{ "dmabuf params without planes: incomplete", t_no_planes, false },
	{ "dmabuf plane index 4: plane_idx", t_plane_idx, false },
	{ "dmabuf same plane twice: plane_set", t_plane_set, false },
	{ "dmabuf params reused after create: already_used", t_already_used, true },
	{ "dmabuf stride*height beyond the fd: out_of_bounds", t_out_of_bounds, true },
	{ "dmabuf offset beyond the fd: out_of_bounds", t_offset_out_of_bounds, true },
	{ "dmabuf offset+size wraps 32 bits: out_of_bounds", t_offset_overflow, true },
	{ "dmabuf stride 0: invalid_dimensions/out_of_bounds", t_stride_zero, true },
	{ "dmabuf stride < width*4: invalid_dimensions/out_of_bounds", t_stride_too_small, true },
	{ "dmabuf width 0: invalid_dimensions", t_width_zero, true },
	{ "dmabuf height 0: invalid_dimensions", t_height_zero, true },
	{ "dmabuf negative width: invalid_dimensions", t_width_negative, true },
	{ "dmabuf 65536x65536 overflows: invalid_dimensions/out_of_bounds", t_huge, true },
	{ "dmabuf unadvertised format, create: invalid_format (failed on v3 elsewhere)", t_bad_format_create, true },
	{ "dmabuf MOD_INVALID: accepted if advertised, else invalid_format", t_mod_invalid, true },
	{ "dmabuf unadvertised modifier (X-tiled): invalid_format", t_mod_unadvertised, true },
	{ "dmabuf v2: modifier arguments are ignored", t_v2_modifier_ignored, true },
	{ "dmabuf unadvertised format, create_immed: invalid_format", t_bad_format_immed, true },
	{ "dmabuf from a pipe, create: failed", t_pipe_create, false },
	{ "dmabuf from a pipe, create_immed: failed/invalid_wl_buffer", t_pipe_immed, false },
	{ "dmabuf from /dev/null, create: failed", t_devnull, false },
	{ "dmabuf from a memfd (not a dma-buf), create: failed", t_memfd_create, false },
	{ "dmabuf from a memfd (not a dma-buf), create_immed: invalid_wl_buffer", t_memfd_immed, false },
	{ "linux-dmabuf v4 only with a render node as main_device and formats", t_v4_main_device, false },
	{ "dmabuf fd closed by the client after add: created, shown", t_closed_fd_show, true },
	{ "xdg attach before ack_configure: unconfigured_buffer", t_unconfigured_buffer, false },
	{ "wl_shm pool of size 0: invalid_stride", t_shm_pool_size, false },
	{ "wl_shm pool of negative size: invalid_stride", t_shm_pool_negative, false },
	{ "wl_shm pool over a pipe: invalid_fd", t_shm_pool_bad_fd, false },
	{ "wl_shm buffer past the pool end: invalid_stride", t_shm_buffer_offset, false },
	{ "wl_shm buffer at a negative offset: invalid_stride", t_shm_buffer_negative_offset, false },
	{ "wl_shm stride < width: invalid_stride", t_shm_stride, false },
	{ "wl_shm unknown format: invalid_format", t_shm_format, false },
	{ "wl_shm stride < width * 4: invalid_stride on wl_shm_pool", t_shm_stride_bpp, false },
	{ "wl_shm pool file shrunk by the client: invalid_fd, no SIGBUS", t_shm_truncated, false },
	{ "wl_shm pool file shrunk after a first commit: invalid_fd at the next", t_shm_truncated_later, false },
	{ "wl_output v4: geometry, current mode, scale, name, description, done", t_wl_output, false },
	{ "presentation: superseded commit discarded, no ZERO_COPY, seq 0 without VSYNC", t_presentation, false },
	{ "capture into a too small fd: bad_buffer", t_capture_bad_buffer, false },
	{ "client disconnects with a capture pending", t_capture_disconnect, false },
	{ "client SIGKILLed mid-frame, next client gets frame callbacks", t_client_killed, true },
	{ "wl_buffer.release once per attach, the last with the surface", t_release_per_attach, false },
	{ "sync subsurface: buffers replaced in or dropped with the cache are released", t_release_sync_subsurface, false },
	{ "partial damage: only the damaged box is new, the rest kept", t_damage_partial, false },
	{ "surface damage with buffer transform 90 updates the right box", t_damage_transform, false },
	{ "sync subsurface: damage of a cached commit, then a new scale", t_damage_merged_scale, false },
};

/* Only with --kms: they need a page-flipping output. */
static const struct test kms_tests[] = {
	{ "presentation: a commit during the page flip is not in that frame", t_presentation_flip_race, false },
};

static bool compositor_alive(void)
{
	struct conn c;
	bool ok = conn_open(&c, false) == 0 &&
		  wl_display_roundtrip(c.d) >= 0;

	conn_close(&c);
	return ok;
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! a case hung for 60 s\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

int main(int argc, char **argv)
{
	const struct test *list = tests;
	size_t n = sizeof(tests) / sizeof(tests[0]);
	struct conn probe;
	int i, r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			socket_name = argv[++i];
		} else if (!strcmp(argv[i], "-v")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--kms")) {
			list = kms_tests;
			n = sizeof(kms_tests) / sizeof(kms_tests[0]);
		} else {
			fprintf(stderr, "usage: udb-proto-test [--socket NAME] [--kms] [-v]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	udb_dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (udb_dev < 0)
		udmabuf_dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	have_dmabuf = udb_dev >= 0 || udmabuf_dev >= 0;

	/* what the compositor is, and which ARGB8888 modifier it takes */
	if (conn_open(&probe, true)) {
		printf("Bail out! cannot connect, or no wl_compositor v4, "
		       "wl_shm, xdg_wm_base, linux-dmabuf v3+\n");
		return 1;
	}
	ours = probe.capture != NULL;
	if (!probe.argb_linear && probe.argb_implicit)
		modifier = DRM_FORMAT_MOD_INVALID;
	conn_close(&probe);
	printf("# compositor: %s, buffers: %s, modifier 0x%llx\n",
	       ours ? "udb-compositor" : "other (no udb_capture_v1)",
	       udb_dev >= 0 ? "userptr dma-bufs" :
	       udmabuf_dev >= 0 ? "udmabuf" : "none (dma-buf cases skipped)",
	       (unsigned long long)modifier);

	printf("1..%zu\n", n);
	for (i = 0; i < (int)n; i++) {
		struct conn c;

		test_no = i + 1;
		detail[0] = 0;
		alarm(60);
		if (list[i].dmabuf && !have_dmabuf)
			r = skip("no /dev/userptr_dmabuf or /dev/udmabuf");
		else if (conn_open(&c, false))
			r = fail("cannot connect");
		else
			r = list[i].run(&c);
		conn_close(&c);
		if (!compositor_alive()) {
			printf("not ok %d - %s # compositor gone after the case"
			       "%s%s\n", test_no, list[i].name,
			       detail[0] ? ": " : "", detail);
			n_fail++;
			printf("Bail out! compositor died\n");
			break;
		}
		alarm(0);
		if (r > 0) {
			printf("ok %d - %s # SKIP %s\n", test_no, list[i].name,
			       detail);
			n_pass++;
		} else if (r == 0) {
			printf("ok %d - %s\n", test_no, list[i].name);
			n_pass++;
		} else {
			printf("not ok %d - %s # %s\n", test_no, list[i].name,
			       detail);
			n_fail++;
		}
	}
	if (udb_dev >= 0)
		close(udb_dev);
	if (udmabuf_dev >= 0)
		close(udmabuf_dev);
	for (i = 0; i < n_dmabuf_mem; i++)
		free(dmabuf_mem[i]);
	printf("# %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
