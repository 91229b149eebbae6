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
 * allow_implicit_modifier.
 *
 * Two more fake compositors, each in a child of its own:
 *
 *   broken v4: the format table's size says 8192 bytes, the file has 48
 *   (mapping it all would SIGBUS on the second page), a tranche's index
 *   array has an odd byte; create_params is a protocol error. The library
 *   must refuse the table, survive the array, and refuse a dma-buf whose
 *   plane ends past its fd (udb_wl_buffer_create_dmabuf(): EINVAL before
 *   any request).
 *
 *   v3: linux-dmabuf v3 sending format(ARGB8888) but only
 *   modifier(ARGB8888, I915 X_TILED), and modifier(XRGB8888, LINEAR);
 *   wl_shm (libwayland-server's) offering 43 formats, RGB565 last; a
 *   wl_compositor whose surfaces release the previous buffer when a
 *   commit replaces it. The library must not take the v3 format event as
 *   the implicit modifier (ARGB8888: reason format, also with
 *   allow_implicit_modifier), must find RGB565 in wl_shm, and
 *   udb_wl_buffer_destroy_when_released() must call its free callback
 *   only once the buffer is released (or at udb_wl_ctx_destroy()).
 *
 * Prints TAP, ends with "1..N" and "N passed, N failed".
 */
#include <errno.h>
#include <stdbool.h>
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
#include "tap.h"

#define MAIN_MAJOR 226
#define MAIN_MINOR 128


/* --- the child: a compositor with linux-dmabuf v4 only --- */

struct entry {
	uint32_t format, pad;
	uint64_t modifier;
};

enum fake { FAKE_V4, FAKE_V4_BROKEN, FAKE_V3 };
static enum fake fake;

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
	struct wl_array odd;
	int fd;

	fb = wl_resource_create(c, &zwp_linux_dmabuf_feedback_v1_interface,
				wl_resource_get_version(r), id);
	wl_resource_set_implementation(fb, &feedback_impl, NULL, NULL);
	fd = memfd_create("udb-lib-v4-table", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || write(fd, table, sizeof(table)) != sizeof(table))
		_exit(3);
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	      F_SEAL_SEAL);
	/* broken: a size past the file's end */
	zwp_linux_dmabuf_feedback_v1_send_format_table(fb, fd,
		fake == FAKE_V4_BROKEN ? 8192 : sizeof(table));
	close(fd);
	if (fake == FAKE_V4_BROKEN) {
		/* index 300 (past the file, inside the claimed size) and an
		 * odd byte */
		static const uint8_t idx[] = { 0, 0, 44, 1, 7 };

		wl_array_init(&odd);
		memcpy(wl_array_add(&odd, sizeof(idx)), idx, sizeof(idx));
		zwp_linux_dmabuf_feedback_v1_send_tranche_formats(fb, &odd);
		wl_array_release(&odd);
		zwp_linux_dmabuf_feedback_v1_send_tranche_done(fb);
		zwp_linux_dmabuf_feedback_v1_send_done(fb);
		return;
	}
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
	if (fake != FAKE_V3)
		return;
	/* v3: format for ARGB8888, but its only modifier is a tiled one */
	zwp_linux_dmabuf_v1_send_format(r, DRM_FORMAT_ARGB8888);
	zwp_linux_dmabuf_v1_send_modifier(r, DRM_FORMAT_ARGB8888,
					  (uint32_t)(I915_FORMAT_MOD_X_TILED >> 32),
					  (uint32_t)I915_FORMAT_MOD_X_TILED);
	zwp_linux_dmabuf_v1_send_format(r, DRM_FORMAT_XRGB8888);
	zwp_linux_dmabuf_v1_send_modifier(r, DRM_FORMAT_XRGB8888,
					  (uint32_t)(DRM_FORMAT_MOD_LINEAR >> 32),
					  (uint32_t)DRM_FORMAT_MOD_LINEAR);
}

/* --- v3's wl_compositor: a commit that replaces a buffer releases it --- */

struct fake_surface {
	struct wl_resource *pending, *current;
	struct wl_listener pending_gone, current_gone;
	bool attached;
};

static void buffer_ref(struct wl_resource **ref, struct wl_listener *l,
		       struct wl_resource *buffer)
{
	wl_list_remove(&l->link);
	wl_list_init(&l->link);
	*ref = buffer;
	if (buffer)
		wl_resource_add_destroy_listener(buffer, l);
}

static void pending_gone(struct wl_listener *l, void *data)
{
	struct fake_surface *fs = wl_container_of(l, fs, pending_gone);

	(void)data;
	buffer_ref(&fs->pending, l, NULL);
}

static void current_gone(struct wl_listener *l, void *data)
{
	struct fake_surface *fs = wl_container_of(l, fs, current_gone);

	(void)data;
	buffer_ref(&fs->current, l, NULL);
}

static void surface_attach(struct wl_client *c, struct wl_resource *r,
			   struct wl_resource *buffer, int32_t x, int32_t y)
{
	struct fake_surface *fs = wl_resource_get_user_data(r);

	(void)c; (void)x; (void)y;
	buffer_ref(&fs->pending, &fs->pending_gone, buffer);
	fs->attached = true;
}

static void surface_commit(struct wl_client *c, struct wl_resource *r)
{
	struct fake_surface *fs = wl_resource_get_user_data(r);

	(void)c;
	if (!fs->attached)
		return;
	if (fs->current && fs->current != fs->pending)
		wl_buffer_send_release(fs->current);
	buffer_ref(&fs->current, &fs->current_gone, fs->pending);
	buffer_ref(&fs->pending, &fs->pending_gone, NULL);
	fs->attached = false;
}

static const struct wl_surface_interface surface_impl = {
	.destroy = res_destroy,
	.attach = surface_attach,
	.commit = surface_commit,
};

static void surface_gone(struct wl_resource *r)
{
	struct fake_surface *fs = wl_resource_get_user_data(r);

	/* like a compositor that keeps its last buffer: no release */
	wl_list_remove(&fs->pending_gone.link);
	wl_list_remove(&fs->current_gone.link);
	free(fs);
}

static void create_surface(struct wl_client *c, struct wl_resource *r,
			   uint32_t id)
{
	struct fake_surface *fs = calloc(1, sizeof(*fs));
	struct wl_resource *s;

	if (!fs)
		_exit(3);
	wl_list_init(&fs->pending_gone.link);
	wl_list_init(&fs->current_gone.link);
	fs->pending_gone.notify = pending_gone;
	fs->current_gone.notify = current_gone;
	s = wl_resource_create(c, &wl_surface_interface,
			       wl_resource_get_version(r), id);
	wl_resource_set_implementation(s, &surface_impl, fs, surface_gone);
}

static const struct wl_compositor_interface compositor_impl = {
	.create_surface = create_surface,
};

static void bind_compositor(struct wl_client *c, void *data, uint32_t version,
			    uint32_t id)
{
	struct wl_resource *r;

	(void)data;
	r = wl_resource_create(c, &wl_compositor_interface, version, id);
	wl_resource_set_implementation(r, &compositor_impl, NULL, NULL);
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

	if (!d || !wl_global_create(d, &zwp_linux_dmabuf_v1_interface,
				    fake == FAKE_V3 ? 3 : 4, NULL, bind_dmabuf))
		_exit(3);
	if (fake == FAKE_V3) {
		/* ARGB8888, XRGB8888, 40 made-up codes, RGB565 last */
		if (wl_display_init_shm(d) ||
		    !wl_global_create(d, &wl_compositor_interface, 1, NULL,
				      bind_compositor))
			_exit(3);
		for (int i = 0; i < 40; i++)
			wl_display_add_shm_format(d, fourcc_code('U', 'D', 'B',
								 'A' + i));
		wl_display_add_shm_format(d, DRM_FORMAT_RGB565);
	}
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

/* fork a fake compositor of the given kind, connect to it */
static struct wl_display *spawn(enum fake kind, pid_t *pid)
{
	struct wl_display *dpy;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		tap(false, "socketpair: %s", strerror(errno));
		return NULL;
	}
	fake = kind;
	*pid = fork();
	if (*pid == 0) {
		close(sv[1]);
		serve(sv[0]);
	}
	close(sv[0]);
	dpy = *pid < 0 ? NULL : wl_display_connect_to_fd(sv[1]);
	if (!dpy) {
		tap(false, "fork / connect: %s", strerror(errno));
		close(sv[1]);
	}
	return dpy;
}

static void reap(struct wl_display *dpy, pid_t pid, const char *what)
{
	int status = 0;

	tap(wl_display_roundtrip(dpy) >= 0, "%s: no protocol error", what);
	wl_display_disconnect(dpy);
	waitpid(pid, &status, 0);
	tap(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: the fake compositor exits 0 when we disconnect", what);
}

static void test_v4(void)
{
	struct udb_wl_ctx_options strict = { .size = sizeof(strict) },
		implicit = { .size = sizeof(implicit),
			     .allow_implicit_modifier = true };
	struct udb_wl_ctx *ctx;
	struct wl_display *dpy;
	dev_t dev = 0;
	bool have_dev;
	uint32_t base;
	pid_t pid;

	dpy = spawn(FAKE_V4, &pid);
	if (!dpy)
		return;
	ctx = udb_wl_ctx_create(dpy, &strict);
	tap(ctx && udb_wl_ctx_dmabuf_version(ctx) == 4,
	    "context on a linux-dmabuf v4 compositor: v%u",
	    ctx ? udb_wl_ctx_dmabuf_version(ctx) : 0);
	if (ctx) {
		have_dev = udb_wl_ctx_main_device(ctx, &dev) == 0;
		tap(have_dev && major(dev) == MAIN_MAJOR &&
		    minor(dev) == MAIN_MINOR,
		    "main_device %u:%u (want %u:%u)", major(dev), minor(dev),
		    MAIN_MAJOR, MAIN_MINOR);
		tap(udb_wl_ctx_tranches(ctx) == 2, "two tranches (%u)",
		    udb_wl_ctx_tranches(ctx));
		tap(udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888,
					DRM_FORMAT_MOD_LINEAR),
		    "ARGB8888 LINEAR from table index 0 (first tranche)");
		tap(udb_wl_ctx_supports(ctx, DRM_FORMAT_XRGB8888,
					DRM_FORMAT_MOD_INVALID),
		    "XRGB8888 INVALID from table index 1 (second tranche)");
		tap(!udb_wl_ctx_supports(ctx, DRM_FORMAT_ABGR8888,
					 DRM_FORMAT_MOD_LINEAR),
		    "ABGR8888 is in the table but in no tranche: not offered");
		base = udb_wl_ctx_fallback(ctx);
		tap(udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_ARGB8888) ==
		    base && !(base & UDB_WL_FALLBACK_NO_LINUX_DMABUF),
		    "ARGB8888: no format reason");
		tap(udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_XRGB8888) ==
		    (base | UDB_WL_FALLBACK_FORMAT),
		    "XRGB8888 with the implicit modifier only: reason format");
		udb_wl_ctx_destroy(ctx);
	}
	ctx = udb_wl_ctx_create(dpy, &implicit);
	tap(ctx && udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_XRGB8888) ==
	    udb_wl_ctx_fallback(ctx),
	    "with allow_implicit_modifier: XRGB8888 has no format reason");
	udb_wl_ctx_destroy(ctx);
	/* options: .size is required */
	errno = 0;
	ctx = udb_wl_ctx_create(dpy, &(struct udb_wl_ctx_options){ 0 });
	tap(!ctx && errno == EINVAL, "options without .size: EINVAL (%s)",
	    strerror(errno));
	udb_wl_ctx_destroy(ctx);
	reap(dpy, pid, "v4");
}

static void test_v4_broken(void)
{
	struct udb_wl_ctx_options opt = { .size = sizeof(opt) };
	struct udb_wl_buffer *buf;
	struct udb_wl_ctx *ctx;
	struct wl_display *dpy;
	pid_t pid;
	int fd;

	dpy = spawn(FAKE_V4_BROKEN, &pid);
	if (!dpy)
		return;
	ctx = udb_wl_ctx_create(dpy, &opt);
	tap(ctx && udb_wl_ctx_dmabuf_version(ctx) == 4,
	    "broken v4: a table size past the file's end and an odd index array do not kill the context");
	if (ctx) {
		tap(!udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888,
					 DRM_FORMAT_MOD_LINEAR) &&
		    (udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_ARGB8888) &
		     UDB_WL_FALLBACK_FORMAT),
		    "broken v4: the table is refused, ARGB8888 falls back (format)");
		tap(udb_wl_ctx_tranches(ctx) == 1, "broken v4: one tranche (%u)",
		    udb_wl_ctx_tranches(ctx));
		/* a 4096-byte fd cannot hold 64 rows of 256 bytes: refused
		 * before any request (this compositor makes create_params a
		 * protocol error, which reap() would see) */
		fd = memfd_create("udb-lib-v4-small", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 4096) < 0) {
			close(fd);
			fd = -1;
		}
		errno = 0;
		buf = fd >= 0 ? udb_wl_buffer_create_dmabuf(ctx, fd, NULL, 0, 64,
							    64, 256,
							    DRM_FORMAT_ARGB8888)
			      : NULL;
		tap(fd >= 0 && !buf && errno == EINVAL,
		    "udb_wl_buffer_create_dmabuf: plane past the fd's end is EINVAL (%s)",
		    strerror(errno));
		udb_wl_buffer_destroy(buf);
		udb_wl_ctx_destroy(ctx);
	}
	reap(dpy, pid, "broken v4");
}

/* the test's own globals on the v3 compositor */
static struct wl_compositor *compositor;

static void global(void *data, struct wl_registry *reg, uint32_t name,
		   const char *iface, uint32_t version)
{
	(void)data; (void)version;
	if (!strcmp(iface, wl_compositor_interface.name))
		compositor = wl_registry_bind(reg, name,
					      &wl_compositor_interface, 1);
}

static void global_remove(void *data, struct wl_registry *reg, uint32_t name)
{
	(void)data; (void)reg; (void)name;
}

static const struct wl_registry_listener registry_listener = {
	.global = global,
	.global_remove = global_remove,
};

static void freed(void *data)
{
	(*(int *)data)++;
}

static void test_v3(void)
{
	struct udb_wl_ctx_options strict = { .size = sizeof(strict) },
		implicit = { .size = sizeof(implicit),
			     .allow_implicit_modifier = true };
	struct udb_wl_buffer *a, *b, *c565;
	struct wl_registry *reg;
	struct wl_surface *surf;
	struct udb_wl_ctx *ctx;
	struct wl_display *dpy;
	int freed_a = 0, freed_b = 0, freed_c = 0;
	uint32_t why;
	pid_t pid;

	dpy = spawn(FAKE_V3, &pid);
	if (!dpy)
		return;
	ctx = udb_wl_ctx_create(dpy, &implicit);
	tap(ctx && udb_wl_ctx_dmabuf_version(ctx) == 3,
	    "context on a linux-dmabuf v3 compositor: v%u",
	    ctx ? udb_wl_ctx_dmabuf_version(ctx) : 0);
	if (!ctx)
		goto out;
	tap(!udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888,
				 DRM_FORMAT_MOD_INVALID),
	    "v3: the format event is not the implicit modifier");
	tap(!udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888,
				 DRM_FORMAT_MOD_LINEAR) &&
	    udb_wl_ctx_supports(ctx, DRM_FORMAT_ARGB8888,
				I915_FORMAT_MOD_X_TILED),
	    "v3: ARGB8888 only with its X_TILED modifier");
	why = udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_ARGB8888);
	tap(why & UDB_WL_FALLBACK_FORMAT,
	    "v3: ARGB8888 falls back (format), allow_implicit_modifier or not (0x%x)",
	    why);
	tap(udb_wl_ctx_supports(ctx, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR) &&
	    !(udb_wl_ctx_format_fallback(ctx, DRM_FORMAT_XRGB8888) &
	      UDB_WL_FALLBACK_FORMAT),
	    "v3: XRGB8888 LINEAR from its modifier event");
	udb_wl_ctx_destroy(ctx);

	ctx = udb_wl_ctx_create(dpy, &strict);
	if (!ctx) {
		tap(false, "v3: second context: %s", strerror(errno));
		goto out;
	}
	/* wl_shm with 43 formats, RGB565 the last */
	c565 = udb_wl_shm_buffer_create(ctx, 16, 16, 64, DRM_FORMAT_RGB565);
	tap(c565 != NULL, "wl_shm: RGB565, the 43rd format offered, is found (%s)",
	    c565 ? "ok" : strerror(errno));
	/* not busy: freed at once */
	udb_wl_buffer_destroy_when_released(c565, freed, &freed_c);
	tap(freed_c == 1, "destroy_when_released on a released buffer frees at once");

	reg = wl_display_get_registry(dpy);
	wl_registry_add_listener(reg, &registry_listener, NULL);
	wl_display_roundtrip(dpy);
	a = udb_wl_shm_buffer_create(ctx, 16, 16, 64, DRM_FORMAT_ARGB8888);
	b = udb_wl_shm_buffer_create(ctx, 16, 16, 64, DRM_FORMAT_ARGB8888);
	if (!compositor || !a || !b) {
		tap(false, "v3: wl_compositor and two wl_shm buffers");
		udb_wl_buffer_destroy(a);
		udb_wl_buffer_destroy(b);
		goto ctx_out;
	}
	surf = wl_compositor_create_surface(compositor);
	udb_wl_buffer_attach(a, surf, 0, 0);
	wl_surface_commit(surf);
	udb_wl_buffer_destroy_when_released(a, freed, &freed_a);
	wl_display_roundtrip(dpy);
	tap(freed_a == 0, "a busy buffer handed to destroy_when_released is not freed");
	udb_wl_buffer_attach(b, surf, 0, 0);
	wl_surface_commit(surf);
	wl_display_roundtrip(dpy);	/* the release of a */
	tap(freed_a == 1, "... its free callback runs once it is released (%d)",
	    freed_a);
	udb_wl_buffer_destroy_when_released(b, freed, &freed_b);
	wl_display_roundtrip(dpy);
	tap(freed_b == 0, "the shown buffer handed to destroy_when_released waits");
	wl_surface_destroy(surf);	/* this compositor sends no release */
	wl_display_roundtrip(dpy);
	tap(freed_b == 0, "... no release after the surface's destroy either");
ctx_out:
	udb_wl_ctx_destroy(ctx);
	tap(freed_b == 1, "... udb_wl_ctx_destroy() finishes it (%d)", freed_b);
	if (compositor)
		wl_compositor_destroy(compositor);
	compositor = NULL;
	wl_registry_destroy(reg);
out:
	reap(dpy, pid, "v3");
}

int main(void)
{
	printf("TAP version 13\n");
	fflush(stdout);
	test_v4();
	test_v4_broken();
	test_v3();
	return tap_end();
}
