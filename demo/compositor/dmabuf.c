/* SPDX-License-Identifier: MIT */
/*
 * zwp_linux_dmabuf_v1 (versions 1-4), the protocol only: formats,
 * feedback, buffer params and their checks, implicit-fence lookup. It
 * produces a struct buffer (buffer.h) of kind BUFFER_DMABUF with the
 * dma-buf attributes; the renderer (renderer.c) imports it.
 *
 * Formats: the (format, modifier) pairs the software EGL display can
 * import (eglQueryDmaBufFormatsEXT/ModifiersEXT; a format without
 * modifiers is LINEAR), restricted to the single-plane formats whose
 * bytes per pixel we know, so the stride and size checks below prove
 * that llvmpipe, which reads the client's memory through its own mmap of
 * the fd, never reads past the end of the dma-buf. Only real dma-bufs are
 * imported (their size cannot change; a memfd could shrink under that
 * mapping). Version 4 clients get them as a feedback format table (a
 * sealed memfd of {u32 format, u32 pad, u64 modifier}); versions 1-3 as
 * format/modifier events. The global is version 4 only when the renderer
 * runs on a DRM device (the feedback's main_device); llvmpipe has none, so
 * it is version 3 there, as in weston.
 *
 * Every format is offered with LINEAR and with DRM_FORMAT_MOD_INVALID
 * (implicit, imported without modifier attributes), as weston does.
 *
 * Validation, for every version: an unadvertised format + modifier pair
 * (DRM_FORMAT_MOD_INVALID too, unless advertised) is the invalid_format
 * error, on create as on create_immed (required from v4; v1-3 allow it);
 * before v3 the modifier arguments are ignored. Then plane count
 * (incomplete), size (invalid_dimensions), all planes one modifier
 * (invalid_format), the fd a dma-buf (else failed / invalid_wl_buffer),
 * stride >= width * bpp and offset + stride * height within the dma-buf
 * (out_of_bounds).
 *
 * Lifetimes:
 *  - struct params lives with its zwp_linux_buffer_params_v1 resource and
 *    owns the plane fds until create moves them into a buffer (or closes
 *    them when the import fails).
 *  - A dma-buf wl_buffer is a struct buffer (buffer.h: its references
 *    and its one release rule). It owns the plane fds (needed for
 *    EXPORT_SYNC_FILE and the module's INFO) and is on
 *    server.dmabuf_buffers until the last reference goes; a wl_buffer
 *    destroyed while still shown keeps its pixels until it is replaced.
 *  - At create the renderer imports the attributes
 *    (renderer_import_dmabuf()) and caches the import on the buffer, so
 *    that an import the EGL display refuses is failed / invalid_wl_buffer;
 *    its GL texture is made at the first repaint that draws it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/dma-buf.h>
#include <drm_fourcc.h>

#include "server.h"
#include "linux-dmabuf-v1-server-protocol.h"
#include "userptr_dmabuf.h"

#define MAX_PLANES 4

struct dmabuf_global {
	struct server *srv;
	uint32_t *fmts;
	uint64_t *mods;
	int n;
	int table_fd;
	size_t table_size;
	dev_t main_dev;
	int version;		/* 4 with a main device, else 3 */
};

struct plane {
	int fd;				/* -1: not set */
	uint32_t offset, stride;
	uint64_t modifier;
};

struct params {
	struct wl_resource *resource;
	struct server *srv;
	int version;
	struct plane planes[MAX_PLANES];
	bool used;
};

/* The single-plane formats we accept. */
static const struct dmabuf_format {
	uint32_t fourcc;
	int bpp;				/* bytes per pixel */
	bool has_alpha;
} formats[] = {
	{ DRM_FORMAT_ARGB8888, 4, true },	{ DRM_FORMAT_XRGB8888, 4, false },
	{ DRM_FORMAT_ABGR8888, 4, true },	{ DRM_FORMAT_XBGR8888, 4, false },
	{ DRM_FORMAT_RGBA8888, 4, true },	{ DRM_FORMAT_RGBX8888, 4, false },
	{ DRM_FORMAT_BGRA8888, 4, true },	{ DRM_FORMAT_BGRX8888, 4, false },
	{ DRM_FORMAT_ARGB2101010, 4, true },	{ DRM_FORMAT_XRGB2101010, 4, false },
	{ DRM_FORMAT_ABGR2101010, 4, true },	{ DRM_FORMAT_XBGR2101010, 4, false },
	{ DRM_FORMAT_RGB888, 3, false },	{ DRM_FORMAT_BGR888, 3, false },
	{ DRM_FORMAT_RGB565, 2, false },	{ DRM_FORMAT_BGR565, 2, false },
	{ DRM_FORMAT_GR88, 2, false },		{ DRM_FORMAT_RG88, 2, false },
	{ DRM_FORMAT_R8, 1, false },
	{ DRM_FORMAT_ABGR16161616F, 8, true },	{ DRM_FORMAT_XBGR16161616F, 8, false },
	{ DRM_FORMAT_ARGB16161616F, 8, true },	{ DRM_FORMAT_XRGB16161616F, 8, false },
};

static const struct dmabuf_format *format_info(uint32_t f)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].fourcc == f)
			return &formats[i];
	return NULL;
}

/* Bytes per pixel of an accepted format, 0 for the others. */
static int format_bpp(uint32_t f)
{
	const struct dmabuf_format *fi = format_info(f);

	return fi ? fi->bpp : 0;
}

bool dmabuf_format_has_alpha(uint32_t fourcc)
{
	const struct dmabuf_format *fi = format_info(fourcc);

	return fi && fi->has_alpha;
}

/*
 * Was the pair advertised? From version 3 on a modifier is a modifier,
 * DRM_FORMAT_MOD_INVALID included: only an advertised pair passes. Before
 * version 3 there are no modifiers (params_add made it INVALID): the
 * format event is all a client saw, and our formats are all LINEAR.
 */
static bool format_supported(struct dmabuf_global *g, int version,
			     uint32_t fmt, uint64_t mod)
{
	for (int i = 0; i < g->n; i++)
		if (g->fmts[i] == fmt && (g->mods[i] == mod || version < 3))
			return true;
	return false;
}

/*
 * The size of a dma-buf, or -1 if fd is not one. A dma-buf's size never
 * changes; anything else (a memfd, a file) could shrink under llvmpipe's
 * mapping and SIGBUS the compositor, so only dma-bufs are imported. The
 * kernel prints exp_name (the exporter) in the fdinfo of dma-bufs only,
 * and their size next to it.
 */
static int64_t dmabuf_fd_size(int fd)
{
	char path[64], line[256];
	long long size = -1;
	bool is_dmabuf = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "exp_name:", 9))
			is_dmabuf = true;
		else if (!strncmp(line, "size:", 5))
			size = strtoll(line + 5, NULL, 10);
	}
	fclose(f);
	return is_dmabuf ? size : -1;
}

/* ---- the dma-buf kind of struct buffer ---- */

/* USERPTR_DMABUF_IOC_INFO.invalidations of the buffer; 0 for others */
static uint64_t buffer_invalidations(struct buffer *b)
{
	struct userptr_dmabuf_info info;

	if (b->srv->udb_fd < 0 || b->dmabuf.nplanes < 1)
		return 0;
	memset(&info, 0, sizeof(info));
	info.fd = b->dmabuf.planes[0].fd;
	/* fails with ENOTTY/EINVAL for dma-bufs that are not the module's */
	if (ioctl(b->srv->udb_fd, USERPTR_DMABUF_IOC_INFO, &info))
		return 0;
	return info.invalidations;
}

/* Invalidations of the freed buffers plus those of the live ones now. */
uint64_t dmabuf_invalidations_now(struct server *srv)
{
	struct buffer *b;
	uint64_t n = srv->stats.invalidations;

	wl_list_for_each(b, &srv->dmabuf_buffers, dmabuf.live_link)
		n += buffer_invalidations(b);
	return n;
}

/* The last reference went (the renderer's import is already freed). */
static void buffer_destroy(struct buffer *b)
{
	b->srv->stats.invalidations += buffer_invalidations(b);
	wl_list_remove(&b->dmabuf.live_link);
	b->srv->stats.dmabuf_live--;
	for (int i = 0; i < b->dmabuf.nplanes; i++)
		close(b->dmabuf.planes[i].fd);
}

bool dmabuf_buffer_y_invert(const struct buffer *b)
{
	return b->dmabuf.flags & ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT;
}

/*
 * The implicit write fences the compositor must wait for before reading:
 * one sync_file per plane that is not signalled yet. Returns how many it
 * put into fds. ENOTTY/EINVAL (not a real dma-buf, e.g. a memfd, or an
 * old kernel) mean "no fences".
 */
int dmabuf_buffer_busy_fences(struct buffer *b, int *fds, int max)
{
	int n = 0;

	for (int i = 0; i < b->dmabuf.nplanes && n < max; i++) {
		struct dma_buf_export_sync_file arg = {
			.flags = DMA_BUF_SYNC_READ, .fd = -1,
		};
		struct pollfd p;

		if (ioctl(b->dmabuf.planes[i].fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
			  &arg) < 0) {
			if (errno != ENOTTY && errno != EINVAL)
				vlog(b->srv, "EXPORT_SYNC_FILE: %s", strerror(errno));
			continue;
		}
		p.fd = arg.fd;
		p.events = POLLIN;
		if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
			close(arg.fd);
			continue;
		}
		fds[n++] = arg.fd;
	}
	return n;
}

/* ---- zwp_linux_buffer_params_v1 ---- */

static void params_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void params_close_fds(struct params *p)
{
	for (int i = 0; i < MAX_PLANES; i++) {
		if (p->planes[i].fd >= 0)
			close(p->planes[i].fd);
		p->planes[i].fd = -1;
	}
}

static void params_resource_destroy(struct wl_resource *r)
{
	struct params *p = wl_resource_get_user_data(r);

	params_close_fds(p);
	free(p);
}

static void params_add(struct wl_client *c, struct wl_resource *r, int32_t fd,
		       uint32_t idx, uint32_t offset, uint32_t stride,
		       uint32_t mod_hi, uint32_t mod_lo)
{
	struct params *p = wl_resource_get_user_data(r);

	(void)c;
	if (p->used) {
		close(fd);
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED,
				       "params already used");
		return;
	}
	if (idx >= MAX_PLANES) {
		close(fd);
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX,
				       "plane index %u >= %d", idx, MAX_PLANES);
		return;
	}
	if (p->planes[idx].fd >= 0) {
		close(fd);
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET,
				       "plane %u already set", idx);
		return;
	}
	p->planes[idx].fd = fd;
	p->planes[idx].offset = offset;
	p->planes[idx].stride = stride;
	/* before version 3 the modifier arguments mean nothing */
	p->planes[idx].modifier = p->version < 3 ? DRM_FORMAT_MOD_INVALID :
				  (uint64_t)mod_hi << 32 | mod_lo;
}

enum create_result { CREATE_OK, CREATE_ERROR, CREATE_FAILED };

/*
 * Validate the params and import them. Protocol errors are posted here;
 * CREATE_FAILED means "send failed / invalid_wl_buffer".
 */
static enum create_result params_import(struct params *p, int32_t w,
					int32_t h, uint32_t format,
					uint32_t flags, struct buffer **out)
{
	struct wl_resource *r = p->resource;
	struct server *srv = p->srv;
	struct buffer *b;
	int n = 0, bpp;
	uint64_t mod;

	if (p->used) {
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED,
				       "params already used");
		return CREATE_ERROR;
	}
	p->used = true;
	while (n < MAX_PLANES && p->planes[n].fd >= 0)
		n++;
	for (int i = n; i < MAX_PLANES; i++)
		if (p->planes[i].fd >= 0) {
			wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
					       "plane %d missing", n);
			return CREATE_ERROR;
		}
	if (n == 0) {
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
				       "no planes");
		return CREATE_ERROR;
	}
	mod = p->planes[0].modifier;
	bpp = format_bpp(format);
	/* v4 makes it an error; earlier versions allow it: the same for all */
	if (!bpp || !format_supported(srv->dmabuf, p->version, format, mod)) {
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT,
				       "format 0x%08x modifier 0x%016llx was not advertised",
				       format, (unsigned long long)mod);
		return CREATE_ERROR;
	}
	if (n != 1) {
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
				       "%d planes for a single-plane format", n);
		return CREATE_ERROR;
	}
	if (w <= 0 || h <= 0) {
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS,
				       "invalid size %dx%d", w, h);
		return CREATE_ERROR;
	}
	for (int i = 0; i < n; i++) {
		struct plane *pl = &p->planes[i];
		int64_t size;

		if (pl->modifier != mod) {
			wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_FORMAT,
					       "planes use different modifiers");
			return CREATE_ERROR;
		}
		size = dmabuf_fd_size(pl->fd);
		if (size < 0) {
			/* a memfd, pipe, file: nothing we may map */
			vlog(srv, "dmabuf: plane %d: fd %d is not a dma-buf", i,
			     pl->fd);
			return CREATE_FAILED;
		}
		/* all in 64 bits: offset, stride < 2^32, h < 2^31: no overflow */
		if ((uint64_t)pl->stride < (uint64_t)w * bpp ||
		    (uint64_t)pl->offset + (uint64_t)pl->stride * (uint64_t)h >
		    (uint64_t)size) {
			wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_OUT_OF_BOUNDS,
					       "plane %d: offset %u + stride %u * height %d "
					       "does not fit in %lld bytes (row %lld bytes)",
					       i, pl->offset, pl->stride, h,
					       (long long)size, (long long)w * bpp);
			return CREATE_ERROR;
		}
	}
	if (flags & ~ZWP_LINUX_BUFFER_PARAMS_V1_FLAGS_Y_INVERT) {
		vlog(srv, "dmabuf: unsupported flags 0x%x", flags);
		return CREATE_FAILED;
	}

	if ((int)p->planes[0].offset < 0 || (int)p->planes[0].stride < 0)
		return CREATE_FAILED;	/* EGLint cannot carry it */

	b = calloc(1, sizeof(*b));
	if (!b)
		return CREATE_FAILED;
	buffer_init(b, srv, wl_resource_get_client(r), BUFFER_DMABUF, w, h,
		    buffer_destroy);
	b->dmabuf.fourcc = format;
	b->dmabuf.flags = flags;
	b->dmabuf.modifier = mod;
	b->dmabuf.nplanes = n;
	for (int i = 0; i < n; i++) {
		b->dmabuf.planes[i].fd = p->planes[i].fd;
		b->dmabuf.planes[i].offset = p->planes[i].offset;
		b->dmabuf.planes[i].stride = p->planes[i].stride;
	}
	/* the renderer tries it now (so that failed is sent) and keeps it */
	if (!renderer_import_dmabuf(srv->renderer, b)) {
		free(b);	/* the params still own the fds */
		return CREATE_FAILED;
	}
	srv->stats.dmabuf_live++;
	wl_list_insert(&srv->dmabuf_buffers, &b->dmabuf.live_link);
	for (int i = 0; i < n; i++)
		p->planes[i].fd = -1;
	*out = b;
	return CREATE_OK;
}

static struct wl_resource *buffer_resource(struct buffer *b, uint32_t id)
{
	struct wl_resource *r = buffer_create_resource(b, id);

	if (r)
		b->srv->stats.buffers_dmabuf++;
	return r;
}

static void params_create(struct wl_client *c, struct wl_resource *r,
			  int32_t w, int32_t h, uint32_t format, uint32_t flags)
{
	struct params *p = wl_resource_get_user_data(r);
	struct buffer *b = NULL;
	struct wl_resource *br;

	(void)c;
	switch (params_import(p, w, h, format, flags, &b)) {
	case CREATE_ERROR:
		break;
	case CREATE_FAILED:
		p->srv->stats.dmabuf_imports_failed++;
		zwp_linux_buffer_params_v1_send_failed(r);
		break;
	case CREATE_OK:
		br = buffer_resource(b, 0);
		if (br)
			zwp_linux_buffer_params_v1_send_created(r, br);
		break;
	}
	params_close_fds(p);
}

static void params_create_immed(struct wl_client *c, struct wl_resource *r,
				uint32_t id, int32_t w, int32_t h,
				uint32_t format, uint32_t flags)
{
	struct params *p = wl_resource_get_user_data(r);
	struct buffer *b = NULL;

	(void)c;
	switch (params_import(p, w, h, format, flags, &b)) {
	case CREATE_ERROR:
		break;
	case CREATE_FAILED:
		p->srv->stats.dmabuf_imports_failed++;
		wl_resource_post_error(r, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_WL_BUFFER,
				       "dma-buf import failed");
		break;
	case CREATE_OK:
		buffer_resource(b, id);
		break;
	}
	params_close_fds(p);
}

static const struct zwp_linux_buffer_params_v1_interface params_impl = {
	.destroy = params_destroy_req,
	.add = params_add,
	.create = params_create,
	.create_immed = params_create_immed,
};

/* ---- feedback ---- */

static void feedback_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct zwp_linux_dmabuf_feedback_v1_interface feedback_impl = {
	.destroy = feedback_destroy_req,
};

static void send_feedback(struct dmabuf_global *g, struct wl_resource *fb)
{
	struct wl_array dev, idx;
	dev_t *d;

	zwp_linux_dmabuf_feedback_v1_send_format_table(fb, g->table_fd,
						       g->table_size);
	wl_array_init(&dev);
	d = wl_array_add(&dev, sizeof(*d));
	if (d)
		*d = g->main_dev;
	zwp_linux_dmabuf_feedback_v1_send_main_device(fb, &dev);
	zwp_linux_dmabuf_feedback_v1_send_tranche_target_device(fb, &dev);
	wl_array_release(&dev);
	wl_array_init(&idx);
	for (int i = 0; i < g->n; i++) {
		uint16_t *e = wl_array_add(&idx, sizeof(*e));

		if (e)
			*e = i;
	}
	zwp_linux_dmabuf_feedback_v1_send_tranche_formats(fb, &idx);
	wl_array_release(&idx);
	zwp_linux_dmabuf_feedback_v1_send_tranche_flags(fb, 0);
	zwp_linux_dmabuf_feedback_v1_send_tranche_done(fb);
	zwp_linux_dmabuf_feedback_v1_send_done(fb);
}

static void new_feedback(struct wl_client *c, struct wl_resource *r,
			 uint32_t id)
{
	struct server *srv = wl_resource_get_user_data(r);
	struct wl_resource *fb;

	fb = wl_resource_create(c, &zwp_linux_dmabuf_feedback_v1_interface,
				wl_resource_get_version(r), id);
	if (!fb) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(fb, &feedback_impl, NULL, NULL);
	send_feedback(srv->dmabuf, fb);
}

/* ---- zwp_linux_dmabuf_v1 ---- */

static void dmabuf_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void dmabuf_create_params(struct wl_client *c, struct wl_resource *r,
				 uint32_t id)
{
	struct params *p = calloc(1, sizeof(*p));

	if (!p) {
		wl_client_post_no_memory(c);
		return;
	}
	for (int i = 0; i < MAX_PLANES; i++)
		p->planes[i].fd = -1;
	p->srv = wl_resource_get_user_data(r);
	p->version = wl_resource_get_version(r);
	p->resource = wl_resource_create(c, &zwp_linux_buffer_params_v1_interface,
					 wl_resource_get_version(r), id);
	if (!p->resource) {
		free(p);
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(p->resource, &params_impl, p,
				       params_resource_destroy);
}

static void dmabuf_get_default_feedback(struct wl_client *c,
					struct wl_resource *r, uint32_t id)
{
	new_feedback(c, r, id);
}

static void dmabuf_get_surface_feedback(struct wl_client *c,
					struct wl_resource *r, uint32_t id,
					struct wl_resource *surface)
{
	(void)surface;	/* one output, one device: same as the default */
	new_feedback(c, r, id);
}

static const struct zwp_linux_dmabuf_v1_interface dmabuf_impl = {
	.destroy = dmabuf_destroy_req,
	.create_params = dmabuf_create_params,
	.get_default_feedback = dmabuf_get_default_feedback,
	.get_surface_feedback = dmabuf_get_surface_feedback,
};

static void dmabuf_bind(struct wl_client *c, void *data, uint32_t ver,
			uint32_t id)
{
	struct server *srv = data;
	struct dmabuf_global *g = srv->dmabuf;
	struct wl_resource *r;

	r = wl_resource_create(c, &zwp_linux_dmabuf_v1_interface, ver, id);
	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &dmabuf_impl, srv, NULL);
	if (ver >= 4)
		return;		/* feedback only */
	for (int i = 0; i < g->n; i++) {
		bool dup = false;

		if (ver >= 3) {
			zwp_linux_dmabuf_v1_send_modifier(r, g->fmts[i],
							  g->mods[i] >> 32,
							  g->mods[i] & 0xffffffff);
			continue;
		}
		for (int j = 0; j < i; j++)
			dup |= g->fmts[j] == g->fmts[i];
		if (!dup)
			zwp_linux_dmabuf_v1_send_format(r, g->fmts[i]);
	}
}

static int make_table(struct dmabuf_global *g)
{
	struct { uint32_t format, pad; uint64_t modifier; } *t;
	size_t size = sizeof(*t) * (g->n ? g->n : 1);
	int fd = memfd_create("udb-dmabuf-formats",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	t = calloc(g->n ? g->n : 1, sizeof(*t));
	if (!t) {
		close(fd);
		return -1;
	}
	for (int i = 0; i < g->n; i++) {
		t[i].format = g->fmts[i];
		t[i].modifier = g->mods[i];
	}
	if (write(fd, t, size) != (ssize_t)size) {
		free(t);
		close(fd);
		return -1;
	}
	free(t);
	/* clients map it; nobody may change it */
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	      F_SEAL_SEAL);
	g->table_fd = fd;
	g->table_size = size;
	return 0;
}

int dmabuf_init(struct server *srv)
{
	struct dmabuf_global *g = calloc(1, sizeof(*g));
	uint32_t *fmts;
	uint64_t *mods;
	int n, k = 0;
	const char *node;
	struct stat st;

	if (!g)
		return -1;
	g->srv = srv;
	g->table_fd = -1;
	srv->dmabuf = g;
	if (renderer_query_formats(srv->renderer, &fmts, &mods, &n) < 0)
		return -1;
	/* keep the formats we can bounds-check */
	for (int i = 0; i < n; i++)
		if (format_bpp(fmts[i]) &&
		    (mods[i] == DRM_FORMAT_MOD_LINEAR)) {
			fmts[k] = fmts[i];
			mods[k++] = mods[i];
		}
	/*
	 * Each of them also with DRM_FORMAT_MOD_INVALID (the implicit
	 * layout), as weston's GL renderer advertises: such a buffer is
	 * imported without modifier attributes, which llvmpipe reads as
	 * linear. GBM on drivers without modifiers (kms_swrast) allocates
	 * those, so weston-simple-dmabuf-egl needs it.
	 */
	if (k > 0) {
		uint32_t *f2 = realloc(fmts, 2 * k * sizeof(*f2));
		uint64_t *m2 = f2 ? realloc(mods, 2 * k * sizeof(*m2)) : NULL;

		if (f2)
			fmts = f2;
		if (m2)
			mods = m2;
		if (!f2 || !m2) {
			free(fmts);
			free(mods);
			return -1;
		}
		for (int i = 0; i < k; i++) {
			fmts[k + i] = fmts[i];
			mods[k + i] = DRM_FORMAT_MOD_INVALID;
		}
		k *= 2;
	}
	g->fmts = fmts;
	g->mods = mods;
	g->n = k;
	for (int i = 0; i < k; i++)
		vlog(srv, "dmabuf format %.4s modifier 0x%llx",
		     (const char *)&fmts[i], (unsigned long long)mods[i]);
	if (make_table(g) < 0)
		return -1;

	/*
	 * main_device: the render node of the device the renderer runs on.
	 * llvmpipe has none: then, as weston does with a renderer without a
	 * DRM device, no feedback and version 3 (a v4 main_device a client
	 * cannot use, or 0, sends Mesa's EGL clients astray).
	 */
	node = renderer_drm_node(srv->renderer);
	if (node && stat(node, &st) == 0 && S_ISCHR(st.st_mode))
		g->main_dev = st.st_rdev;
	g->version = g->main_dev && k > 0 ? 4 : 3;
	server_log(srv, "linux-dmabuf v%d: %d formats, main device %s", g->version,
		   k, g->main_dev ? node : "none (the renderer has no DRM device)");
	if (k == 0) {
		server_log(srv, "no importable dma-buf format: no linux-dmabuf");
		return 0;
	}
	if (!wl_global_create(srv->display, &zwp_linux_dmabuf_v1_interface,
			      g->version, srv, dmabuf_bind))
		return -1;
	return 0;
}

void dmabuf_fini(struct server *srv)
{
	struct dmabuf_global *g = srv->dmabuf;

	if (!g)
		return;
	if (g->table_fd >= 0)
		close(g->table_fd);
	free(g->fmts);
	free(g->mods);
	free(g);
	srv->dmabuf = NULL;
}
