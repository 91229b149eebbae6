/* SPDX-License-Identifier: MIT */
/*
 * libudb-wayland: caller memory as wl_buffers, zero-copy through the
 * userptr-dmabuf module and linux-dmabuf, wl_shm when that cannot be.
 * The API and its rules are in udb-wayland.h; docs/demo-client.md has
 * the overview.
 *
 * Queues: the context's registry, globals, feedback and params objects
 * live on a private event queue, dispatched only inside udb_wl_ctx_create()
 * and the buffer-creating calls, so the library never runs the caller's
 * handlers behind its back. A wl_buffer is moved to the caller's queue
 * (udb_wl_ctx_options.queue, default: the display's) as soon as it exists,
 * before it can be attached, so its release reaches the caller's dispatch.
 *
 * Lifetimes: the context owns the device fd, the registry, wl_shm and
 * zwp_linux_dmabuf_v1, the list of (format, modifier) pairs and the
 * buffers whose destruction waits for their release
 * (udb_wl_buffer_destroy_when_released()); each buffer owns its
 * wl_buffer, its dma-buf fd or its shm mapping, never the caller's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm_fourcc.h>
#include <linux/dma-buf.h>
#include <wayland-client.h>

#include "linux-dmabuf-v1-client-protocol.h"
#include "udb-wayland.h"
#include "userptr_dmabuf.h"

#define EXPORT __attribute__((visibility("default")))

/* udb_wl_ctx_options as of 0.1.0: the smallest .size accepted */
#define OPTIONS_SIZE_0 (offsetof(struct udb_wl_ctx_options, log_data) + \
			sizeof(void *))

struct format_mod {
	uint32_t format;
	uint64_t modifier;
};

struct udb_wl_ctx {
	struct wl_display *display;
	struct wl_event_queue *queue;		/* private */
	struct wl_event_queue *user_queue;	/* NULL: default queue */
	struct wl_registry *registry;		/* until the globals are bound */
	struct wl_shm *shm;
	struct zwp_linux_dmabuf_v1 *dmabuf;
	uint32_t dmabuf_version;
	uint32_t fallback;			/* ctx-wide bits */
	bool allow_implicit;
	int dev;				/* the module, or -1 */
	int dev_error;
	size_t page;

	struct format_mod *formats;		/* linux-dmabuf pairs */
	size_t nformats, formats_cap;
	uint32_t shm_formats;			/* shm_bit()s offered */
	struct udb_wl_buffer *deferred;		/* destroy_when_released */

	/* v4 default feedback */
	bool have_main_device;
	dev_t main_device;
	unsigned int tranches;

	void (*log)(void *data, const char *line);
	void *log_data;
};

struct udb_wl_buffer {
	struct udb_wl_ctx *ctx;
	struct wl_buffer *wl;
	bool dmabuf_path;
	uint32_t fallback;
	int fd;			/* dma-buf, or -1 */
	void *src;		/* caller memory (copy source), or NULL */
	void *shm;		/* pool mapping, or NULL */
	size_t shm_size;
	uint32_t width, height, stride, bpp;
	bool busy;
	unsigned long releases;
	void (*release_cb)(struct udb_wl_buffer *buf, void *data);
	void *release_data;
	/* udb_wl_buffer_destroy_when_released(): on the ctx's list */
	bool deferred;
	void (*free_cb)(void *data);
	void *free_data;
	struct udb_wl_buffer *next, **pprev;
};

static void say(const struct udb_wl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct udb_wl_ctx *ctx, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!ctx->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ctx->log(ctx->log_data, line);
}

/* Bytes per pixel of the single-plane formats we share, 0 if unknown. */
static uint32_t format_bpp(uint32_t fourcc)
{
	switch (fourcc) {
	case DRM_FORMAT_ARGB8888:
	case DRM_FORMAT_XRGB8888:
	case DRM_FORMAT_ABGR8888:
	case DRM_FORMAT_XBGR8888:
		return 4;
	case DRM_FORMAT_RGB565:
		return 2;
	default:
		return 0;
	}
}

/* The wl_shm formats we can make buffers of, as bits of shm_formats. */
static uint32_t shm_bit(uint32_t code)
{
	switch (code) {
	case WL_SHM_FORMAT_ARGB8888:
		return 1u << 0;
	case WL_SHM_FORMAT_XRGB8888:
		return 1u << 1;
	case DRM_FORMAT_ABGR8888:
		return 1u << 2;
	case DRM_FORMAT_XBGR8888:
		return 1u << 3;
	case DRM_FORMAT_RGB565:
		return 1u << 4;
	default:
		return 0;	/* a format we never ask for */
	}
}

/* wl_shm's codes are the DRM fourccs but for the two oldest formats. */
static uint32_t shm_code(uint32_t fourcc)
{
	if (fourcc == DRM_FORMAT_ARGB8888)
		return WL_SHM_FORMAT_ARGB8888;
	if (fourcc == DRM_FORMAT_XRGB8888)
		return WL_SHM_FORMAT_XRGB8888;
	return fourcc;
}

static void add_format(struct udb_wl_ctx *ctx, uint32_t format,
		       uint64_t modifier)
{
	struct format_mod *f;

	for (size_t i = 0; i < ctx->nformats; i++)
		if (ctx->formats[i].format == format &&
		    ctx->formats[i].modifier == modifier)
			return;
	if (ctx->nformats == ctx->formats_cap) {
		size_t cap = ctx->formats_cap ? ctx->formats_cap * 2 : 64;

		f = realloc(ctx->formats, cap * sizeof(*f));
		if (!f)
			return;	/* the format is then not offered to us */
		ctx->formats = f;
		ctx->formats_cap = cap;
	}
	ctx->formats[ctx->nformats++] = (struct format_mod){ format, modifier };
}

/* --- zwp_linux_dmabuf_v1 v1-v3: format / modifier events --- */

static void dmabuf_format(void *data, struct zwp_linux_dmabuf_v1 *d,
			  uint32_t format)
{
	struct udb_wl_ctx *ctx = data;

	(void)d;
	/* From v3 on, format is sent next to modifier events for the same
	 * format and says nothing about the implicit modifier (the spec:
	 * compositors must send modifier events, clients must ignore
	 * format): only modifier events count. Before v3 there are no
	 * modifiers: the layout is implicit. */
	if (ctx->dmabuf_version >= ZWP_LINUX_DMABUF_V1_MODIFIER_SINCE_VERSION)
		return;
	add_format(ctx, format, DRM_FORMAT_MOD_INVALID);
}

static void dmabuf_modifier(void *data, struct zwp_linux_dmabuf_v1 *d,
			    uint32_t format, uint32_t hi, uint32_t lo)
{
	(void)d;
	add_format(data, format, (uint64_t)hi << 32 | lo);
}

static const struct zwp_linux_dmabuf_v1_listener dmabuf_listener = {
	.format = dmabuf_format,
	.modifier = dmabuf_modifier,
};

/* --- zwp_linux_dmabuf_feedback_v1: the v4 default feedback --- */

struct feedback {
	struct udb_wl_ctx *ctx;
	const uint8_t *table;	/* 16-byte entries: u32 format, pad, u64 mod */
	size_t table_len;
	bool done;
};

static void fb_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *f)
{
	(void)f;
	((struct feedback *)data)->done = true;
}

static void fb_format_table(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
			    int32_t fd, uint32_t size)
{
	struct feedback *fb = data;
	struct stat st;
	void *p;
	int err;

	(void)f;
	if (fb->table)
		munmap((void *)fb->table, fb->table_len);
	fb->table = NULL;
	fb->table_len = 0;
	/* a size past the file's end would SIGBUS us on the pages beyond it */
	if (fstat(fd, &st) < 0) {
		err = errno;
		close(fd);
		say(fb->ctx, "linux-dmabuf format table: fstat: %s", strerror(err));
		return;
	}
	if (!size || (uint64_t)size > (uint64_t)st.st_size) {
		close(fd);
		say(fb->ctx, "linux-dmabuf format table: size %u, the file has %lld bytes: ignored",
		    size, (long long)st.st_size);
		return;
	}
	/* MAP_PRIVATE: the protocol says the table must be mapped so */
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	err = errno;
	close(fd);
	if (p == MAP_FAILED) {
		say(fb->ctx, "cannot map the linux-dmabuf format table (%u bytes): %s",
		    size, strerror(err));
		return;
	}
	fb->table = p;
	fb->table_len = size;
}

static void fb_main_device(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
			   struct wl_array *dev)
{
	struct feedback *fb = data;

	(void)f;
	if (dev->size != sizeof(dev_t))
		return;
	memcpy(&fb->ctx->main_device, dev->data, sizeof(dev_t));
	fb->ctx->have_main_device = true;
}

static void fb_tranche_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *f)
{
	(void)f;
	((struct feedback *)data)->ctx->tranches++;
}

static void fb_tranche_target_device(void *data,
				     struct zwp_linux_dmabuf_feedback_v1 *f,
				     struct wl_array *dev)
{
	/* we import nothing: every tranche's formats are usable by the
	 * compositor, whichever device it targets */
	(void)data; (void)f; (void)dev;
}

static void fb_tranche_formats(void *data,
			       struct zwp_linux_dmabuf_feedback_v1 *f,
			       struct wl_array *indices)
{
	struct feedback *fb = data;
	const uint8_t *bytes = indices->data;

	(void)f;
	if (!fb->table)
		return;
	/* size / 2 entries: an odd trailing byte is no index */
	for (size_t i = 0; i < indices->size / 2; i++) {
		const uint8_t *e;
		uint32_t format;
		uint64_t modifier;
		uint16_t idx;

		memcpy(&idx, bytes + 2 * i, 2);
		if ((size_t)idx * 16 + 16 > fb->table_len)
			continue;	/* a broken table: ignore the entry */
		e = fb->table + (size_t)idx * 16;
		memcpy(&format, e, 4);
		memcpy(&modifier, e + 8, 8);
		add_format(fb->ctx, format, modifier);
	}
}

static void fb_tranche_flags(void *data, struct zwp_linux_dmabuf_feedback_v1 *f,
			     uint32_t flags)
{
	/* scanout tranches are a subset the compositor can also import */
	(void)data; (void)f; (void)flags;
}

static const struct zwp_linux_dmabuf_feedback_v1_listener feedback_listener = {
	.done = fb_done,
	.format_table = fb_format_table,
	.main_device = fb_main_device,
	.tranche_done = fb_tranche_done,
	.tranche_target_device = fb_tranche_target_device,
	.tranche_formats = fb_tranche_formats,
	.tranche_flags = fb_tranche_flags,
};

static int query_feedback(struct udb_wl_ctx *ctx)
{
	struct feedback fb = { .ctx = ctx };
	struct zwp_linux_dmabuf_feedback_v1 *f;
	int ret = 0;

	f = zwp_linux_dmabuf_v1_get_default_feedback(ctx->dmabuf);
	zwp_linux_dmabuf_feedback_v1_add_listener(f, &feedback_listener, &fb);
	while (!fb.done && ret >= 0)
		ret = wl_display_dispatch_queue(ctx->display, ctx->queue);
	zwp_linux_dmabuf_feedback_v1_destroy(f);
	if (fb.table)
		munmap((void *)fb.table, fb.table_len);
	return ret < 0 ? -1 : 0;
}

/* --- wl_shm --- */

static void shm_format(void *data, struct wl_shm *shm, uint32_t format)
{
	struct udb_wl_ctx *ctx = data;

	(void)shm;
	/* a bit per format we can use: compositors list dozens */
	ctx->shm_formats |= shm_bit(format);
}

static const struct wl_shm_listener shm_listener = { .format = shm_format };

/* --- registry --- */

static void registry_global(void *data, struct wl_registry *reg, uint32_t name,
			    const char *iface, uint32_t version)
{
	struct udb_wl_ctx *ctx = data;

	if (!strcmp(iface, wl_shm_interface.name) && !ctx->shm) {
		ctx->shm = wl_registry_bind(reg, name, &wl_shm_interface, 1);
		wl_shm_add_listener(ctx->shm, &shm_listener, ctx);
	} else if (!strcmp(iface, zwp_linux_dmabuf_v1_interface.name) &&
		   !ctx->dmabuf) {
		/* what it offers, what we implement (4), what our
		 * generated protocol code knows */
		ctx->dmabuf_version = version < 4 ? version : 4;
		if (ctx->dmabuf_version >
		    (uint32_t)zwp_linux_dmabuf_v1_interface.version)
			ctx->dmabuf_version =
				(uint32_t)zwp_linux_dmabuf_v1_interface.version;
		ctx->dmabuf = wl_registry_bind(reg, name,
					       &zwp_linux_dmabuf_v1_interface,
					       ctx->dmabuf_version);
		/* v4 still sends the v3 events if we listen: we do not */
		if (ctx->dmabuf_version < 4)
			zwp_linux_dmabuf_v1_add_listener(ctx->dmabuf,
							 &dmabuf_listener, ctx);
	}
}

static void registry_global_remove(void *data, struct wl_registry *reg,
				   uint32_t name)
{
	(void)data; (void)reg; (void)name;
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

static void open_device(struct udb_wl_ctx *ctx, const char *path)
{
	struct userptr_dmabuf_version v = { 0 };

	ctx->dev = open(path, O_RDWR | O_CLOEXEC);
	if (ctx->dev < 0) {
		ctx->dev_error = errno;
		return;
	}
	if (ioctl(ctx->dev, USERPTR_DMABUF_IOC_VERSION, &v)) {
		ctx->dev_error = errno;
	} else if (v.api_version != USERPTR_DMABUF_API_VERSION) {
		say(ctx, "%s speaks API version %u, we %u", path,
		    v.api_version, USERPTR_DMABUF_API_VERSION);
		ctx->dev_error = EPROTO;
	} else {
		if (v.page_size)
			ctx->page = v.page_size;
		return;
	}
	close(ctx->dev);
	ctx->dev = -1;
}

EXPORT struct udb_wl_ctx *udb_wl_ctx_create(struct wl_display *display,
					    const struct udb_wl_ctx_options *opt)
{
	struct udb_wl_ctx_options o = { 0 };
	struct wl_display *wrapper;
	struct udb_wl_ctx *ctx;
	int err;

	if (opt) {
		/* an older caller's shorter struct: the fields it lacks are
		 * zero; a newer caller's longer one: what we know of it */
		if (opt->size < OPTIONS_SIZE_0) {
			errno = EINVAL;
			return NULL;
		}
		memcpy(&o, opt, opt->size < sizeof(o) ? opt->size : sizeof(o));
	}
	opt = &o;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->display = display;
	ctx->user_queue = opt->queue;
	ctx->allow_implicit = opt->allow_implicit_modifier;
	ctx->log = opt->log;
	ctx->log_data = opt->log_data;
	ctx->dev = -1;
	ctx->page = (size_t)sysconf(_SC_PAGESIZE);

	if (opt->force_shm) {
		ctx->fallback |= UDB_WL_FALLBACK_FORCED;
		ctx->dev_error = ECANCELED;
	} else {
		open_device(ctx, opt->device_path ? opt->device_path :
			    USERPTR_DMABUF_DEVICE);
		if (ctx->dev < 0)
			ctx->fallback |= UDB_WL_FALLBACK_NO_DEVICE;
	}

	ctx->queue = wl_display_create_queue(display);
	wrapper = ctx->queue ? wl_proxy_create_wrapper(display) : NULL;
	if (!wrapper) {
		err = ENOMEM;
		goto fail;
	}
	wl_proxy_set_queue((struct wl_proxy *)wrapper, ctx->queue);
	ctx->registry = wl_display_get_registry(wrapper);
	wl_proxy_wrapper_destroy(wrapper);
	if (!ctx->registry) {
		err = ENOMEM;
		goto fail;
	}
	wl_registry_add_listener(ctx->registry, &registry_listener, ctx);
	/* the globals, then what binding them sent (formats, modifiers) */
	if (wl_display_roundtrip_queue(display, ctx->queue) < 0 ||
	    wl_display_roundtrip_queue(display, ctx->queue) < 0)
		goto conn_fail;
	if (ctx->dmabuf_version >= 4 && query_feedback(ctx))
		goto conn_fail;
	/* later global events (outputs coming and going) would pile up on
	 * a queue nobody dispatches: without the proxy they are dropped */
	wl_registry_destroy(ctx->registry);
	ctx->registry = NULL;
	if (!ctx->dmabuf)
		ctx->fallback |= UDB_WL_FALLBACK_NO_LINUX_DMABUF;
	if (!ctx->dmabuf && !ctx->shm) {
		err = ENOTSUP;
		goto fail;
	}
	return ctx;

conn_fail:
	err = wl_display_get_error(display);
	if (!err)
		err = EPROTO;
fail:
	udb_wl_ctx_destroy(ctx);
	errno = err;
	return NULL;
}

static void finish_deferred(struct udb_wl_buffer *buf);

EXPORT void udb_wl_ctx_destroy(struct udb_wl_ctx *ctx)
{
	if (!ctx)
		return;
	/* buffers still waiting for their release: the caller says the
	 * compositor is done with them (surface destroyed, roundtrip) */
	while (ctx->deferred)
		finish_deferred(ctx->deferred);
	if (ctx->dmabuf)
		zwp_linux_dmabuf_v1_destroy(ctx->dmabuf);
	if (ctx->shm)
		wl_shm_destroy(ctx->shm);	/* v1: client-side only */
	if (ctx->registry)
		wl_registry_destroy(ctx->registry);
	if (ctx->queue)
		wl_event_queue_destroy(ctx->queue);
	if (ctx->dev >= 0)
		close(ctx->dev);
	free(ctx->formats);
	free(ctx);
}

EXPORT uint32_t udb_wl_ctx_fallback(const struct udb_wl_ctx *ctx)
{
	return ctx->fallback;
}

EXPORT bool udb_wl_ctx_supports(const struct udb_wl_ctx *ctx, uint32_t fourcc,
				uint64_t modifier)
{
	for (size_t i = 0; i < ctx->nformats; i++)
		if (ctx->formats[i].format == fourcc &&
		    ctx->formats[i].modifier == modifier)
			return true;
	return false;
}

/* The modifier a dma-buf of this format gets, false if none will do. */
static bool pick_modifier(const struct udb_wl_ctx *ctx, uint32_t fourcc,
			  uint64_t *modifier)
{
	if (udb_wl_ctx_supports(ctx, fourcc, DRM_FORMAT_MOD_LINEAR)) {
		*modifier = DRM_FORMAT_MOD_LINEAR;
		return true;
	}
	if (ctx->allow_implicit &&
	    udb_wl_ctx_supports(ctx, fourcc, DRM_FORMAT_MOD_INVALID)) {
		*modifier = DRM_FORMAT_MOD_INVALID;
		return true;
	}
	return false;
}

EXPORT uint32_t udb_wl_ctx_format_fallback(const struct udb_wl_ctx *ctx,
					   uint32_t fourcc)
{
	uint64_t mod;
	uint32_t bits = ctx->fallback;

	/* without linux-dmabuf nothing is offered: that reason says it */
	if (ctx->dmabuf && !pick_modifier(ctx, fourcc, &mod))
		bits |= UDB_WL_FALLBACK_FORMAT;
	return bits;
}

EXPORT int udb_wl_ctx_device_error(const struct udb_wl_ctx *ctx)
{
	return ctx->dev < 0 ? ctx->dev_error : 0;
}

EXPORT uint32_t udb_wl_ctx_dmabuf_version(const struct udb_wl_ctx *ctx)
{
	return ctx->dmabuf ? ctx->dmabuf_version : 0;
}

EXPORT int udb_wl_ctx_main_device(const struct udb_wl_ctx *ctx, dev_t *dev)
{
	if (!ctx->have_main_device)
		return -1;
	*dev = ctx->main_device;
	return 0;
}

EXPORT unsigned int udb_wl_ctx_tranches(const struct udb_wl_ctx *ctx)
{
	return ctx->tranches;
}

EXPORT size_t udb_wl_ctx_page_size(const struct udb_wl_ctx *ctx)
{
	return ctx->page;
}

EXPORT const char *udb_wl_fallback_name(uint32_t bit)
{
	switch (bit) {
	case 0:
		return "none";
	case UDB_WL_FALLBACK_FORCED:
		return "forced";
	case UDB_WL_FALLBACK_NO_DEVICE:
		return "no-device";
	case UDB_WL_FALLBACK_NO_LINUX_DMABUF:
		return "no-linux-dmabuf";
	case UDB_WL_FALLBACK_FORMAT:
		return "format";
	case UDB_WL_FALLBACK_CREATE_FAILED:
		return "create-failed";
	case UDB_WL_FALLBACK_REFUSED:
		return "refused";
	default:
		return "?";
	}
}

EXPORT char *udb_wl_fallback_string(uint32_t mask, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (!mask) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (uint32_t bit = 1; bit && used < len; bit <<= 1) {
		int n;

		if (!(mask & bit))
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
			     udb_wl_fallback_name(bit));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

/* --- buffers --- */

static void buffer_release(void *data, struct wl_buffer *wl)
{
	struct udb_wl_buffer *buf = data;

	(void)wl;
	buf->busy = false;
	buf->releases++;
	if (buf->deferred) {
		finish_deferred(buf);	/* frees buf, then the caller's memory */
		return;
	}
	if (buf->release_cb)
		buf->release_cb(buf, buf->release_data);	/* may free buf */
}

static const struct wl_buffer_listener buffer_listener = {
	.release = buffer_release,
};

/* The wl_buffer exists: its events go to the caller's queue from now on. */
static void adopt_wl_buffer(struct udb_wl_buffer *buf, struct wl_buffer *wl)
{
	buf->wl = wl;
	wl_proxy_set_queue((struct wl_proxy *)wl, buf->ctx->user_queue);
	wl_buffer_add_listener(wl, &buffer_listener, buf);
}

struct params_result {
	struct wl_buffer *wl;
	int state;		/* 0 pending, 1 created, -1 failed */
};

static void params_created(void *data, struct zwp_linux_buffer_params_v1 *p,
			   struct wl_buffer *wl)
{
	struct params_result *r = data;

	(void)p;
	r->wl = wl;
	r->state = 1;
}

static void params_failed(void *data, struct zwp_linux_buffer_params_v1 *p)
{
	struct params_result *r = data;

	(void)p;
	r->state = -1;
}

static const struct zwp_linux_buffer_params_v1_listener params_listener = {
	.created = params_created,
	.failed = params_failed,
};

/*
 * zwp_linux_buffer_params_v1.create, then wait for created or failed on
 * our queue. Not create_immed: its failure may be a fatal protocol error
 * (invalid_wl_buffer), and a library must be able to fall back instead.
 * Return 0 (buf->wl set), 1 refused, -1 connection error.
 */
static int import_dmabuf(struct udb_wl_buffer *buf, uint32_t offset,
			 uint64_t modifier, uint32_t fourcc)
{
	struct udb_wl_ctx *ctx = buf->ctx;
	struct params_result r = { 0 };
	struct zwp_linux_buffer_params_v1 *p;
	int ret = 0;

	p = zwp_linux_dmabuf_v1_create_params(ctx->dmabuf);
	zwp_linux_buffer_params_v1_add_listener(p, &params_listener, &r);
	zwp_linux_buffer_params_v1_add(p, buf->fd, 0, offset, buf->stride,
				       (uint32_t)(modifier >> 32),
				       (uint32_t)modifier);
	zwp_linux_buffer_params_v1_create(p, (int32_t)buf->width,
					  (int32_t)buf->height, fourcc, 0);
	while (r.state == 0 && ret >= 0)
		ret = wl_display_dispatch_queue(ctx->display, ctx->queue);
	zwp_linux_buffer_params_v1_destroy(p);
	if (r.state == 1) {
		adopt_wl_buffer(buf, r.wl);
		return 0;
	}
	if (ret < 0)
		return -1;
	say(ctx, "the compositor refused a %ux%u dma-buf (zwp_linux_buffer_params_v1.failed)",
	    buf->width, buf->height);
	return 1;
}

static bool shm_offers(const struct udb_wl_ctx *ctx, uint32_t code)
{
	if (code == WL_SHM_FORMAT_ARGB8888 || code == WL_SHM_FORMAT_XRGB8888)
		return true;	/* every wl_shm has them */
	return ctx->shm_formats & shm_bit(code);
}

static int make_shm(struct udb_wl_buffer *buf, uint32_t fourcc)
{
	struct udb_wl_ctx *ctx = buf->ctx;
	uint32_t code = shm_code(fourcc);
	struct wl_shm_pool *pool;
	struct wl_buffer *wl;
	size_t size;
	int fd, err;

	if (!ctx->shm || !shm_offers(ctx, code)) {
		errno = ENOTSUP;
		return -1;
	}
	size = (size_t)buf->stride * buf->height;
	if (size > INT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	fd = memfd_create("udb-wayland-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	/* the pool cannot shrink under the compositor's mapping */
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL);
	buf->shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf->shm == MAP_FAILED) {
		buf->shm = NULL;
		goto fail;
	}
	buf->shm_size = size;
	pool = wl_shm_create_pool(ctx->shm, fd, (int32_t)size);
	wl = wl_shm_pool_create_buffer(pool, 0, (int32_t)buf->width,
				       (int32_t)buf->height,
				       (int32_t)buf->stride, code);
	wl_shm_pool_destroy(pool);	/* the buffer keeps the pool */
	close(fd);
	adopt_wl_buffer(buf, wl);
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static struct udb_wl_buffer *buffer_new(struct udb_wl_ctx *ctx,
					uint32_t width, uint32_t height,
					uint32_t stride, uint32_t fourcc)
{
	struct udb_wl_buffer *buf;
	uint32_t bpp = format_bpp(fourcc);

	if (!bpp || !width || !height || width > INT32_MAX ||
	    height > INT32_MAX || stride / bpp < width ||
	    (uint64_t)stride * height > SIZE_MAX / 2) {
		errno = EINVAL;
		return NULL;
	}
	buf = calloc(1, sizeof(*buf));
	if (!buf)
		return NULL;
	buf->ctx = ctx;
	buf->fd = -1;
	buf->width = width;
	buf->height = height;
	buf->stride = stride;
	buf->bpp = bpp;
	return buf;
}

/* Our fault or the connection's: fail the call, never fall back. */
static struct udb_wl_buffer *fail_buffer(struct udb_wl_buffer *buf, int err)
{
	udb_wl_buffer_destroy(buf);
	errno = err;
	return NULL;
}

static int conn_error(struct udb_wl_ctx *ctx)
{
	int err = wl_display_get_error(ctx->display);

	return err ? err : EPROTO;
}

EXPORT struct udb_wl_buffer *udb_wl_buffer_create(struct udb_wl_ctx *ctx,
						  void *ptr, uint32_t width,
						  uint32_t height,
						  uint32_t stride,
						  uint32_t fourcc)
{
	struct udb_wl_buffer *buf;
	uint64_t modifier = DRM_FORMAT_MOD_LINEAR;
	uint32_t why;
	int ret;

	if (!ptr) {
		errno = EINVAL;
		return NULL;
	}
	buf = buffer_new(ctx, width, height, stride, fourcc);
	if (!buf)
		return NULL;
	buf->src = ptr;
	why = udb_wl_ctx_format_fallback(ctx, fourcc);
	if (!why && pick_modifier(ctx, fourcc, &modifier)) {
		uintptr_t start = (uintptr_t)ptr & ~(uintptr_t)(ctx->page - 1);
		uintptr_t end = (uintptr_t)ptr + (size_t)stride * height;
		struct userptr_dmabuf_create cr = {
			.addr = start,
			.size = (end - start + ctx->page - 1) &
				~(uintptr_t)(ctx->page - 1),
			.flags = USERPTR_DMABUF_CREATE_CLOEXEC,
		};

		if (ioctl(ctx->dev, USERPTR_DMABUF_IOC_CREATE, &cr)) {
			say(ctx, "USERPTR_DMABUF_IOC_CREATE %p + %llu: %s", ptr,
			    (unsigned long long)cr.size, strerror(errno));
			why = UDB_WL_FALLBACK_CREATE_FAILED;
		} else {
			buf->fd = cr.fd;
			ret = import_dmabuf(buf, (uint32_t)((uintptr_t)ptr - start),
					    modifier, fourcc);
			if (ret < 0)
				return fail_buffer(buf, conn_error(ctx));
			if (ret == 0) {
				buf->dmabuf_path = true;
				return buf;
			}
			why = UDB_WL_FALLBACK_REFUSED;
			close(buf->fd);
			buf->fd = -1;
		}
	}
	buf->fallback = why;
	if (make_shm(buf, fourcc))
		return fail_buffer(buf, errno);
	return buf;
}

EXPORT struct udb_wl_buffer *udb_wl_buffer_create_dmabuf(struct udb_wl_ctx *ctx,
							 int fd, void *ptr,
							 uint32_t offset,
							 uint32_t width,
							 uint32_t height,
							 uint32_t stride,
							 uint32_t fourcc)
{
	struct udb_wl_buffer *buf;
	uint64_t modifier;
	off_t end;
	int ret;

	buf = buffer_new(ctx, width, height, stride, fourcc);
	if (!buf) {
		int err = errno;

		close(fd);
		errno = err;
		return NULL;
	}
	buf->fd = fd;
	buf->src = ptr;
	/* a plane past the end is a fatal protocol error (out_of_bounds)
	 * for the compositor to raise: refuse it here instead */
	end = lseek(fd, 0, SEEK_END);
	if (end >= 0) {
		lseek(fd, 0, SEEK_SET);
		if ((uint64_t)offset + (uint64_t)stride * height > (uint64_t)end)
			return fail_buffer(buf, EINVAL);
	}
	if (!ctx->dmabuf || !pick_modifier(ctx, fourcc, &modifier))
		return fail_buffer(buf, ENOTSUP);
	ret = import_dmabuf(buf, offset, modifier, fourcc);
	if (ret < 0)
		return fail_buffer(buf, conn_error(ctx));
	if (ret > 0)
		return fail_buffer(buf, ECONNREFUSED);
	buf->dmabuf_path = true;
	return buf;
}

EXPORT struct udb_wl_buffer *udb_wl_shm_buffer_create(struct udb_wl_ctx *ctx,
						      uint32_t width,
						      uint32_t height,
						      uint32_t stride,
						      uint32_t fourcc)
{
	struct udb_wl_buffer *buf = buffer_new(ctx, width, height, stride,
					       fourcc);

	if (!buf)
		return NULL;
	buf->fallback = UDB_WL_FALLBACK_FORCED;
	if (make_shm(buf, fourcc))
		return fail_buffer(buf, errno);
	return buf;
}

EXPORT void udb_wl_buffer_destroy(struct udb_wl_buffer *buf)
{
	if (!buf)
		return;
	/* the compositor's import goes first, then what it imported */
	if (buf->wl)
		wl_buffer_destroy(buf->wl);
	if (buf->shm)
		munmap(buf->shm, buf->shm_size);
	if (buf->fd >= 0)
		close(buf->fd);
	free(buf);
}

/* A deferred buffer is released (or its context goes): destroy it, then
 * let the caller free the memory the compositor no longer reads. */
static void finish_deferred(struct udb_wl_buffer *buf)
{
	void (*free_cb)(void *data) = buf->free_cb;
	void *free_data = buf->free_data;

	*buf->pprev = buf->next;
	if (buf->next)
		buf->next->pprev = buf->pprev;
	udb_wl_buffer_destroy(buf);
	if (free_cb)
		free_cb(free_data);
}

EXPORT void udb_wl_buffer_destroy_when_released(struct udb_wl_buffer *buf,
						void (*free_cb)(void *data),
						void *data)
{
	struct udb_wl_ctx *ctx;

	if (!buf || !buf->busy) {
		/* released: the compositor no longer reads the memory */
		udb_wl_buffer_destroy(buf);
		if (free_cb)
			free_cb(data);
		return;
	}
	if (buf->deferred)
		return;		/* already waiting */
	ctx = buf->ctx;
	buf->deferred = true;
	buf->free_cb = free_cb;
	buf->free_data = data;
	buf->release_cb = NULL;
	buf->next = ctx->deferred;
	if (buf->next)
		buf->next->pprev = &buf->next;
	buf->pprev = &ctx->deferred;
	ctx->deferred = buf;
}

EXPORT struct wl_buffer *udb_wl_buffer_get_wl_buffer(const struct udb_wl_buffer *buf)
{
	return buf->wl;
}

EXPORT bool udb_wl_buffer_is_dmabuf(const struct udb_wl_buffer *buf)
{
	return buf->dmabuf_path;
}

EXPORT uint32_t udb_wl_buffer_fallback(const struct udb_wl_buffer *buf)
{
	return buf->fallback;
}

EXPORT int udb_wl_buffer_get_dmabuf_fd(const struct udb_wl_buffer *buf)
{
	return buf->dmabuf_path ? buf->fd : -1;
}

EXPORT void *udb_wl_buffer_data(const struct udb_wl_buffer *buf)
{
	return buf->dmabuf_path ? buf->src : buf->shm;
}

EXPORT long udb_wl_buffer_copy(struct udb_wl_buffer *buf)
{
	size_t row = (size_t)buf->width * buf->bpp;
	const uint8_t *from = buf->src;
	uint8_t *to = buf->shm;

	if (buf->dmabuf_path || !buf->src || !buf->shm)
		return 0;
	if (buf->busy) {
		errno = EBUSY;
		return -1;
	}
	if (row == buf->stride) {
		memcpy(to, from, row * buf->height);
	} else {
		for (uint32_t y = 0; y < buf->height; y++)
			memcpy(to + (size_t)y * buf->stride,
			       from + (size_t)y * buf->stride, row);
	}
	return (long)(row * buf->height);
}

static int cpu_access(struct udb_wl_buffer *buf, uint32_t access,
		      uint64_t phase)
{
	struct dma_buf_sync s = { .flags = phase };

	if (!buf->dmabuf_path)
		return 0;
	if (access & UDB_WL_ACCESS_READ)
		s.flags |= DMA_BUF_SYNC_READ;
	if (access & UDB_WL_ACCESS_WRITE)
		s.flags |= DMA_BUF_SYNC_WRITE;
	if (!(access & UDB_WL_ACCESS_RW)) {
		errno = EINVAL;
		return -1;
	}
	while (ioctl(buf->fd, DMA_BUF_IOCTL_SYNC, &s)) {
		if (errno == EINTR || errno == EAGAIN)
			continue;
		if (errno == ENOTTY)	/* not a dma-buf: nothing to sync */
			return 0;
		say(buf->ctx, "DMA_BUF_IOCTL_SYNC: %s", strerror(errno));
		return -1;
	}
	return 0;
}

EXPORT int udb_wl_buffer_begin_cpu_access(struct udb_wl_buffer *buf,
					  uint32_t access)
{
	return cpu_access(buf, access, DMA_BUF_SYNC_START);
}

EXPORT int udb_wl_buffer_end_cpu_access(struct udb_wl_buffer *buf,
					uint32_t access)
{
	return cpu_access(buf, access, DMA_BUF_SYNC_END);
}

EXPORT int udb_wl_buffer_attach(struct udb_wl_buffer *buf,
				struct wl_surface *surface, int32_t x,
				int32_t y)
{
	if (buf->busy) {
		errno = EBUSY;
		return -1;
	}
	wl_surface_attach(surface, buf->wl, x, y);
	buf->busy = true;
	return 0;
}

EXPORT void udb_wl_buffer_mark_busy(struct udb_wl_buffer *buf)
{
	buf->busy = true;
}

EXPORT bool udb_wl_buffer_is_busy(const struct udb_wl_buffer *buf)
{
	return buf->busy;
}

EXPORT unsigned long udb_wl_buffer_release_count(const struct udb_wl_buffer *buf)
{
	return buf->releases;
}

EXPORT void udb_wl_buffer_set_release_callback(struct udb_wl_buffer *buf,
					       void (*cb)(struct udb_wl_buffer *,
							  void *),
					       void *data)
{
	buf->release_cb = cb;
	buf->release_data = data;
}
