/* SPDX-License-Identifier: MIT */
/*
 * udb-lib-v4-test: libudb-wayland's linux-dmabuf v4 path, which neither
 * weston nor udb-compositor offer on llvmpipe (no DRM device, so both
 * stay at v3). A forked child is a minimal compositor on one end of a
 * socketpair: only zwp_linux_dmabuf_v1 v4, whose default feedback sends a
 * format table (a sealed memfd), a main device and two tranches:
 *
 *   table: 0 ARGB8888 LINEAR, 1 XRGB8888 INVALID, 2 ABGR8888 LINEAR
 *   tranche 1 (main device): indices 0 and 9 (9 is past the table's end)
 *   tranche 2 (another device, scanout flag): index 1
 *
 * The library must find ARGB8888 LINEAR and XRGB8888 INVALID, not
 * ABGR8888 (in the table, in no tranche), ignore index 9, report the main
 * device and two tranches, and take XRGB8888 only with
 * allow_implicit_modifier. Prints TAP, ends with "N passed, N failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <wayland-client.h>
#include <wayland-server.h>

#include "linux-dmabuf-v1-server-protocol.h"
#include "udb-wayland.h"

#define MAIN_MAJOR 226
#define MAIN_MINOR 128

static int n, failed;

static void tap(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	n++;
	if (!ok)
		failed++;
	printf("%sok %d - ", ok ? "" : "not ", n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* --- the child: a compositor with linux-dmabuf v4 only --- */

struct entry {
	uint32_t format, pad;
	uint64_t modifier;
};

static const struct entry table[] = {
	{ DRM_FORMAT_ARGB8888, 0, DRM_FORMAT_MOD_LINEAR },
	{ DRM_FORMAT_XRGB8888, 0, DRM_FORMAT_MOD_INVALID },
	{ DRM_FORMAT_ABGR8888, 0, DRM_FORMAT_MOD_LINEAR },
};

static void res_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct zwp_linux_dmabuf_feedback_v1_interface feedback_impl = {
	.destroy = res_destroy,
};

static void send_devices(struct wl_resource *fb, dev_t dev,
			 void (*send)(struct wl_resource *, struct wl_array *))
{
	struct wl_array a;

	wl_array_init(&a);
	memcpy(wl_array_add(&a, sizeof(dev)), &dev, sizeof(dev));
	send(fb, &a);
	wl_array_release(&a);
}

static void send_indices(struct wl_resource *fb, const uint16_t *idx, int count)
{
	struct wl_array a;

	wl_array_init(&a);
	memcpy(wl_array_add(&a, count * sizeof(*idx)), idx, count * sizeof(*idx));
	zwp_linux_dmabuf_feedback_v1_send_tranche_formats(fb, &a);
	wl_array_release(&a);
}

static void get_feedback(struct wl_client *c, struct wl_resource *r,
			 uint32_t id)
{
	static const uint16_t t1[] = { 0, 9 }, t2[] = { 1 };
	struct wl_resource *fb;
	int fd;

	fb = wl_resource_create(c, &zwp_linux_dmabuf_feedback_v1_interface,
				wl_resource_get_version(r), id);
	wl_resource_set_implementation(fb, &feedback_impl, NULL, NULL);
	fd = memfd_create("udb-lib-v4-table", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, table, sizeof(table)) != sizeof(table))
		_exit(3);
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	      F_SEAL_SEAL);
	zwp_linux_dmabuf_feedback_v1_send_format_table(fb, fd, sizeof(table));
	close(fd);
	send_devices(fb, makedev(MAIN_MAJOR, MAIN_MINOR),
		     zwp_linux_dmabuf_feedback_v1_send_main_device);
	send_devices(fb, makedev(MAIN_MAJOR, MAIN_MINOR),
		     zwp_linux_dmabuf_feedback_v1_send_tranche_target_device);
	send_indices(fb, t1, 2);
	zwp_linux_dmabuf_feedback_v1_send_tranche_flags(fb, 0);
	zwp_linux_dmabuf_feedback_v1_send_tranche_done(fb);
	send_devices(fb, makedev(MAIN_MAJOR, MAIN_MINOR + 1),
		     zwp_linux_dmabuf_feedback_v1_send_tranche_target_device);
	send_indices(fb, t2, 1);
	zwp_linux_dmabuf_feedback_v1_send_tranche_flags(
		fb, ZWP_LINUX_DMABUF_FEEDBACK_V1_TRANCHE_FLAGS_SCANOUT);
	zwp_linux_dmabuf_feedback_v1_send_tranche_done(fb);
	zwp_linux_dmabuf_feedback_v1_send_done(fb);
}

static void get_surface_feedback(struct wl_client *c, struct wl_resource *r,
				 uint32_t id, struct wl_resource *surface)
{
	(void)surface;
	get_feedback(c, r, id);
}

static void create_params(struct wl_client *c, struct wl_resource *r,
			  uint32_t id)
{
	(void)c; (void)id;
	wl_resource_post_error(r, 0, "udb-lib-v4-test makes no buffers");
}

static const struct zwp_linux_dmabuf_v1_interface dmabuf_impl = {
	.destroy = res_destroy,
	.create_params = create_params,
	.get_default_feedback = get_feedback,
	.get_surface_feedback = get_surface_feedback,
};

static void bind_dmabuf(struct wl_client *c, void *data, uint32_t version,
			uint32_t id)
{
	struct wl_resource *r;

	(void)data;
	r = wl_resource_create(c, &zwp_linux_dmabuf_v1_interface, version, id);
	wl_resource_set_implementation(r, &dmabuf_impl, NULL, NULL);
}

static void client_gone(struct wl_listener *l, void *data)
{
	(void)l; (void)data;
	wl_display_terminate(wl_client_get_display(data));
}

static struct wl_listener gone = { .notify = client_gone };

static void serve(int fd)
{
	struct wl_display *d = wl_display_create();
	struct wl_client *c;

	if (!d || !wl_global_create(d, &zwp_linux_dmabuf_v1_interface, 4, NULL,
				    bind_dmabuf))
		_exit(3);
	c = wl_client_create(d, fd);
	if (!c)
		_exit(3);
	wl_client_add_destroy_listener(c, &gone);
	wl_display_run(d);
	wl_display_destroy_clients(d);
	wl_display_destroy(d);
	_exit(0);
}

/* --- the parent: the library against it --- */

int main(void)
{
	struct udb_wl_ctx_options strict = { 0 }, implicit = {
		.allow_implicit_modifier = true };
	struct udb_wl_ctx *ctx;
	struct wl_display *dpy;
	int sv[2], status;
	dev_t dev = 0;
	bool have_dev;
	uint32_t base;
	pid_t pid;

	printf("TAP version 13\n");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		tap(false, "socketpair: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		serve(sv[0]);
	}
	close(sv[0]);
	dpy = wl_display_connect_to_fd(sv[1]);
	if (pid < 0 || !dpy) {
		tap(false, "fork / connect: %s", strerror(errno));
		goto out;
	}

	ctx = udb_wl_ctx_create(dpy, &strict);
	tap(ctx && udb_wl_ctx_dmabuf_version(ctx) == 4,
	    "context on a linux-dmabuf v4 compositor: v%u",
	    ctx ? udb_wl_ctx_dmabuf_version(ctx) : 0);
	if (!ctx)
		goto disconnect;
	have_dev = udb_wl_ctx_main_device(ctx, &dev) == 0;
	tap(have_dev && major(dev) == MAIN_MAJOR && minor(dev) == MAIN_MINOR,
	    "main_device %u:%u (want %u:%u)", major(dev), minor(dev),
	    MAIN_MAJOR, MAIN_MINOR);
	tap(udb_wl_ctx_tranches(ctx) == 2, "two tranches (%u)",
	    udb_wl_ctx_tranches(ctx));
	tap(udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888, DRM_FORMAT_MOD_LINEAR),
	    "ARGB8888 LINEAR from table index 0 (first tranche)");
	tap(udb_wl_ctx_supports(ctx, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_INVALID),
	    "XRGB8888 INVALID from table index 1 (second tranche)");
	tap(!udb_wl_ctx_supports(ctx, DRM_FORMAT_ABGR8888, DRM_FORMAT_MOD_LINEAR),
	    "ABGR8888 is in the table but in no tranche: not offered");
	base = udb_wl_ctx_fallback(ctx);
	tap(udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_ARGB8888) == base &&
	    !(base & UDB_WL_FALLBACK_NO_LINUX_DMABUF),
	    "ARGB8888: no format reason");
	tap(udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_XRGB8888) ==
	    (base | UDB_WL_FALLBACK_FORMAT),
	    "XRGB8888 with the implicit modifier only: reason format");
	udb_wl_ctx_destroy(ctx);

	ctx = udb_wl_ctx_create(dpy, &implicit);
	tap(ctx && udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_XRGB8888) ==
	    udb_wl_ctx_fallback(ctx),
	    "with allow_implicit_modifier: XRGB8888 has no format reason");
	udb_wl_ctx_destroy(ctx);
	tap(wl_display_roundtrip(dpy) >= 0, "no protocol error");
disconnect:
	wl_display_disconnect(dpy);
	waitpid(pid, &status, 0);
	tap(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the fake compositor exits 0 when we disconnect");
out:
	printf("1..%d\n%d passed, %d failed\n", n, n - failed, failed);
	return failed ? 1 : 0;
}
