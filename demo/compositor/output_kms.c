/* SPDX-License-Identifier: MIT */
/*
 * The KMS output, for vkms: atomic modesetting on the card whose driver
 * is "vkms", two dumb buffers as scanout, frames paced by page-flip
 * events. A frame is drawn into the renderer's FBO, read back with
 * glReadPixels straight into the back dumb buffer's mapping and flipped
 * (DRM_MODE_PAGE_FLIP_EVENT); frame callbacks and presentation feedback
 * go out when the flip completed, with the flip's timestamp.
 *
 * Captures use the writeback connector: the flip that carries a capture
 * also sets WRITEBACK_FB_ID (a third dumb buffer of the mode size) and
 * WRITEBACK_OUT_FENCE_PTR; when the flip is done we wait for the
 * writeback out-fence (a sync_file: poll, then check that it signalled
 * without error) and hand what the CRTC really composed to capture.c.
 *
 * Routing the writeback connector: the kernel only accepts a CRTC
 * driving several encoders when each one lists the others in its
 * possible_clones (drm_atomic_check_valid_clones()). Newer vkms (our
 * 7.3 kernel) makes its encoders clones of the writeback encoder; 6.12
 * stable has the check but leaves possible_clones at 0, which the core
 * turns into "only itself", so routing the virtual connector and the
 * writeback connector to the one CRTC is EINVAL there. So
 * the routing is probed with DRM_MODE_ATOMIC_TEST_ONLY commits that
 * carry a writeback job: first both connectors on the CRTC, then the
 * writeback connector alone (vkms composes and page-flips the same
 * without a "display"), and only if both are refused do captures read
 * the scanout buffer, with the reason logged.
 *
 * Direct scanout: when scanout.c finds a surface whose dma-buf is the
 * whole frame as it is, the buffer is imported (PRIME, AddFB2, cached on
 * the struct buffer as its scanout_state, removed with it), tested once
 * with a TEST_ONLY commit and flipped onto the primary plane instead of
 * a dumb buffer: no GL, no read-back, presented ZERO_COPY (output.c). The
 * plane's busy reference (buffer.h) is taken at that commit (flip_buf)
 * and moves to screen_buf when the flip completed; it is dropped when
 * the next flip completed, whatever it showed, so wl_buffer.release
 * comes only once a later frame replaced the buffer on screen. A capture
 * of a direct frame needs the writeback connector (no dumb buffer holds
 * it); without one scanout.c composites such frames.
 *
 * Overlay planes (vkms enable_overlay=1): when no window covers the
 * output, planes.c picks the windows that go on overlays of their own;
 * their buffers are imported as for the primary plane, and the frame's
 * whole configuration is tried with a TEST_ONLY commit (refused: the
 * frame is composited). The primary plane gets the GL-composed rest,
 * unless nothing on it changed since the last composed frame
 * (primary_sig()): then it is left out of the commit and GL draws
 * nothing. Every plane (struct kplane) holds busy references as the
 * primary plane does; a plane not in a commit keeps its buffer.
 *
 * The output size is --size: a connector mode of exactly that size must
 * exist (vkms offers the usual DMT modes, 1024x768 preferred). --refresh
 * is ignored: the mode's refresh rate paces the frames.
 *
 * Lifetime: one struct kms per server (output.backend), freed by
 * kms_destroy() after the last pending flip finished; the writeback
 * fence fd of a capture lives from its commit to the flip event. At exit
 * kms_drop_buffers() (before the report) puts a dumb buffer back on the
 * plane, drops the plane's references and every import.
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
#include <linux/sync_file.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

#include "server.h"
#include "userptr_dmabuf.h"

struct dumb {
	uint32_t handle, fb, pitch;
	uint64_t size;
	void *map;
};

/* which connectors the CRTC drives */
enum wb_route {
	WB_NONE,	/* the virtual connector; no writeback */
	WB_CLONE,	/* the virtual and the writeback connector */
	WB_ALONE,	/* the writeback connector only */
};

/*
 * A client dma-buf imported for direct scanout (cached on the buffer as
 * its scanout_state, like the renderer's EGLImage): the framebuffer
 * (vkms attaches to the dma-buf: our module pins the pages); the GEM
 * handle on our fd only from the PRIME import to AddFB2. refused: the errno of a failed import, framebuffer
 * or TEST_ONLY commit, or ESTALE once the module reported that pinned
 * pages of the buffer were invalidated (the plane would show the old
 * pages), or ENOTTY for a module dma-buf (module: its fdinfo exp_name)
 * whose INFO cannot be asked (no /dev/userptr_dmabuf, or INFO fails):
 * its staleness could not be checked. The buffer is composited from then
 * on, except after ESTALE: it is imported afresh (a new attachment pins
 * the current pages) and scanned out again once
 *  - its framebuffer is gone (off the plane),
 *  - the module's invalidation count of it did not move over the last
 *    2^k frames in which it was a candidate, k the times it went stale,
 *    capped at 2^STALE_BACKOFF_MAX (settle_inv, quiet: the client
 *    stopped moving its memory; one that moves it every few candidacies
 *    waits longer each time rather than being re-pinned every other
 *    time its buffer comes round),
 *  - and INFO shows no pinned pages (pinned_pages 0): removing the
 *    framebuffer does not free vkms's import at once (the old plane
 *    state holds it until vkms's commit tail ran, after the flip event),
 *    and the module hands a new static attachment the pin set it already
 *    has, the pages pinned before the client moved its memory; a new
 *    import then would show the old pages, and pinned_invalidations,
 *    sampled at it, would not tell. Until then the buffer is composited
 *    and INFO asked again on its next candidacy.
 */
struct scanout_fb {
	struct kms *k;
	struct buffer *b;
	struct wl_list link;			/* kms.fbs */
	uint32_t handle, fb;
	int refused;
	bool tested;
	uint64_t pinned_inv;			/* INFO at import, module bufs */
	bool module;				/* exp_name userptr_dmabuf */
	/* ESTALE only: INFO invalidations at the last frame in which the
	 * buffer was a candidate (settle_seen: there was one), and how many
	 * candidacies in a row since then saw the same count (quiet) */
	uint64_t settle_inv;
	bool settle_seen;
	unsigned int quiet;
	unsigned int stale_events;		/* times it went ESTALE */
	bool pin_wait_logged;			/* once per wait for the pin */
};

/* a stale buffer needs 2^min(k, this) quiet candidacies, k its
 * stale_events: 64 candidacies, about 3 s for 3 buffers at 60 Hz */
#define STALE_BACKOFF_MAX 6

#define MAX_OVERLAYS 8

/*
 * A plane of the CRTC. fb: the framebuffer the last commit put on it (0:
 * off; primary: a dumb buffer's or a client's). A client buffer on it
 * has a busy reference (buffer.h): flip_buf from the commit that put it
 * there until that flip completed, then screen_buf until a later flip
 * that had this plane in its commit completed (in_commit). next_*: what
 * the commit being built puts on it (primary: next_fb 0 leaves it as it
 * is; overlay: 0 turns it off).
 */
struct kplane {
	uint32_t id;
	uint32_t fb;
	struct buffer *flip_buf, *screen_buf;
	bool in_commit;
	uint32_t next_fb;
	struct buffer *next_buf;
	int32_t nx, ny, nw, nh;
};

struct kms {
	struct server *srv;
	int fd;
	struct wl_event_source *fd_src, *idle;
	uint32_t crtc, conn, plane, wb_conn;
	enum wb_route wb_route;
	uint64_t captures_wb, captures_scanout;
	drmModeModeInfo mode;
	uint32_t mode_blob;
	struct dumb bufs[2], wb;
	int back;
	bool wb_ok;				/* captures use writeback */
	bool flip_pending, want_repaint, capture_in_flight, wb_in_flight;
	int wb_fence;
	uint32_t *pixels;			/* capture copy, alpha forced */
	/* direct scanout: the imports (struct scanout_fb.link); planes[0]
	 * is the primary plane, then the overlays bottom to top */
	struct wl_list fbs;
	struct kplane planes[1 + MAX_OVERLAYS];
	int noverlays;
	bool direct_in_flight, last_direct;
	const char *last_why;
	/* the primary plane shows the composed image of prim_sig (valid:
	 * a dumb buffer composed by the last composited frame is on it) */
	uint64_t prim_sig;
	bool prim_valid;
	int last_n;				/* windows on overlays, last frame */
	int last_test_err;			/* of the last overlay TEST_ONLY */
	const char *last_pwhy;
};

static uint32_t prop_id(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint32_t id = 0;

	for (uint32_t i = 0; props && i < props->count_props && !id; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);

		if (p && strcmp(p->name, name) == 0)
			id = p->prop_id;
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return id;
}

static uint64_t prop_value(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint64_t v = 0;

	for (uint32_t i = 0; props && i < props->count_props; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);

		if (p && strcmp(p->name, name) == 0)
			v = props->prop_values[i];
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return v;
}

static int add(drmModeAtomicReq *req, int fd, uint32_t obj, uint32_t type,
	       const char *name, uint64_t value)
{
	uint32_t id = prop_id(fd, obj, type, name);

	if (!id) {
		fprintf(stderr, "udb-compositor: kms: no property %s\n", name);
		return -1;
	}
	return drmModeAtomicAddProperty(req, obj, id, value) < 0 ? -1 : 0;
}

static int open_vkms(void)
{
	char path[64];

	for (int i = 0; i < 16; i++) {
		drmVersion *v;
		int fd;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		v = drmGetVersion(fd);
		if (v && strcmp(v->name, "vkms") == 0) {
			drmFreeVersion(v);
			return fd;
		}
		drmFreeVersion(v);
		close(fd);
	}
	return -1;
}

static int dumb_create(int fd, int w, int h, struct dumb *d)
{
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint64_t off;

	if (drmModeCreateDumbBuffer(fd, w, h, 32, 0, &d->handle, &d->pitch,
				    &d->size) < 0)
		return -1;
	handles[0] = d->handle;
	pitches[0] = d->pitch;
	if (drmModeAddFB2(fd, w, h, DRM_FORMAT_XRGB8888, handles, pitches,
			  offsets, &d->fb, 0) < 0)
		return -1;
	if (drmModeMapDumbBuffer(fd, d->handle, &off) < 0)
		return -1;
	d->map = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (d->map == MAP_FAILED) {
		d->map = NULL;
		return -1;
	}
	return 0;
}

static void dumb_destroy(int fd, struct dumb *d)
{
	if (d->map)
		munmap(d->map, d->size);
	if (d->fb)
		drmModeRmFB(fd, d->fb);
	if (d->handle)
		drmModeDestroyDumbBuffer(fd, d->handle);
	memset(d, 0, sizeof(*d));
}

/*
 * The overlays bottom to top: by their zpos property where the driver
 * has one, else in the order the kernel lists them, which is the order
 * the core's normalized zpos follows (vkms 6.12 and 7.3 have no zpos;
 * their overlays are all above the primary plane).
 */
static void sort_overlays(struct kms *k)
{
	uint64_t z[MAX_OVERLAYS];
	bool has = false;

	for (int i = 0; i < k->noverlays; i++) {
		uint32_t id = k->planes[1 + i].id;

		has |= prop_id(k->fd, id, DRM_MODE_OBJECT_PLANE, "zpos") != 0;
		z[i] = prop_value(k->fd, id, DRM_MODE_OBJECT_PLANE, "zpos");
	}
	if (!has)
		return;
	/* insertion sort: stable for equal zpos */
	for (int i = 1; i < k->noverlays; i++)
		for (int j = i; j > 0 && z[j - 1] > z[j]; j--) {
			uint64_t tz = z[j];
			struct kplane tp = k->planes[1 + j];

			z[j] = z[j - 1];
			z[j - 1] = tz;
			k->planes[1 + j] = k->planes[j];
			k->planes[j] = tp;
		}
}

static int pick_pipe(struct kms *k)
{
	drmModeRes *res = drmModeGetResources(k->fd);
	drmModePlaneRes *pres = drmModeGetPlaneResources(k->fd);
	int crtc_idx = -1, ret = -1;

	if (!res || !pres)
		goto out;
	for (int i = 0; i < res->count_connectors; i++) {
		drmModeConnector *c = drmModeGetConnector(k->fd, res->connectors[i]);
		drmModeEncoder *e;

		if (!c)
			continue;
		if (c->connector_type == DRM_MODE_CONNECTOR_WRITEBACK) {
			k->wb_conn = c->connector_id;
		} else if (!k->conn && c->connection == DRM_MODE_CONNECTED) {
			for (int m = 0; m < c->count_modes; m++)
				if (c->modes[m].hdisplay == k->srv->output.width &&
				    c->modes[m].vdisplay == k->srv->output.height) {
					k->mode = c->modes[m];
					k->conn = c->connector_id;
					break;
				}
			e = k->conn && c->count_encoders ?
			    drmModeGetEncoder(k->fd, c->encoders[0]) : NULL;
			for (int j = 0; e && j < res->count_crtcs; j++)
				if (e->possible_crtcs & (1u << j)) {
					crtc_idx = j;
					k->crtc = res->crtcs[j];
					break;
				}
			drmModeFreeEncoder(e);
		}
		drmModeFreeConnector(c);
	}
	if (!k->conn || !k->crtc) {
		fprintf(stderr, "udb-compositor: kms: no connector with a %dx%d mode\n",
			k->srv->output.width, k->srv->output.height);
		goto out;
	}
	for (uint32_t i = 0; i < pres->count_planes; i++) {
		drmModePlane *p = drmModeGetPlane(k->fd, pres->planes[i]);

		if (p && (p->possible_crtcs & (1u << crtc_idx)) &&
		    prop_value(k->fd, p->plane_id, DRM_MODE_OBJECT_PLANE, "type") ==
		    DRM_PLANE_TYPE_PRIMARY)
			k->plane = p->plane_id;
		drmModeFreePlane(p);
		if (k->plane)
			break;
	}
	k->planes[0].id = k->plane;
	for (uint32_t i = 0; k->plane && i < pres->count_planes; i++) {
		drmModePlane *p = drmModeGetPlane(k->fd, pres->planes[i]);
		bool xrgb = false;

		for (uint32_t j = 0; p && j < p->count_formats; j++)
			xrgb |= p->formats[j] == DRM_FORMAT_XRGB8888;
		if (p && xrgb && k->noverlays < MAX_OVERLAYS &&
		    (p->possible_crtcs & (1u << crtc_idx)) &&
		    prop_value(k->fd, p->plane_id, DRM_MODE_OBJECT_PLANE, "type") ==
		    DRM_PLANE_TYPE_OVERLAY)
			k->planes[1 + k->noverlays++].id = p->plane_id;
		drmModeFreePlane(p);
	}
	sort_overlays(k);
	ret = k->plane ? 0 : -1;
out:
	drmModeFreePlaneResources(pres);
	drmModeFreeResources(res);
	return ret;
}

/* Plane p shows all of fb (w x h) at x,y; fb 0 turns it off. */
static int plane_rect(struct kms *k, drmModeAtomicReq *req, uint32_t p,
		      uint32_t fb, int32_t x, int32_t y, int32_t w, int32_t h)
{
	uint32_t t = DRM_MODE_OBJECT_PLANE;
	int r = 0;

	r |= add(req, k->fd, p, t, "FB_ID", fb);
	r |= add(req, k->fd, p, t, "CRTC_ID", fb ? k->crtc : 0);
	if (!fb)
		return r;
	r |= add(req, k->fd, p, t, "SRC_X", 0);
	r |= add(req, k->fd, p, t, "SRC_Y", 0);
	r |= add(req, k->fd, p, t, "SRC_W", (uint64_t)w << 16);
	r |= add(req, k->fd, p, t, "SRC_H", (uint64_t)h << 16);
	r |= add(req, k->fd, p, t, "CRTC_X", (uint64_t)(int64_t)x);
	r |= add(req, k->fd, p, t, "CRTC_Y", (uint64_t)(int64_t)y);
	r |= add(req, k->fd, p, t, "CRTC_W", w);
	r |= add(req, k->fd, p, t, "CRTC_H", h);
	return r;
}

/* The primary plane shows all of fb, the output's size. */
static int plane_props(struct kms *k, drmModeAtomicReq *req, uint32_t fb)
{
	return plane_rect(k, req, k->plane, fb, 0, 0, k->srv->output.width,
			  k->srv->output.height);
}

/* The next commit: nothing on the overlays (those on go off). */
static void next_clear(struct kms *k)
{
	for (int i = 0; i <= k->noverlays; i++) {
		k->planes[i].next_fb = 0;
		k->planes[i].next_buf = NULL;
	}
}

/* The next commit puts fb (of client buffer b, or a dumb one: NULL) on
 * plane i at x,y, w x h. */
static void next_set(struct kms *k, int i, uint32_t fb, struct buffer *b,
		     int32_t x, int32_t y, int32_t w, int32_t h)
{
	struct kplane *p = &k->planes[i];

	p->next_fb = fb;
	p->next_buf = b;
	p->nx = x, p->ny = y, p->nw = w, p->nh = h;
}

/* Whether plane i is part of the next commit. */
static bool next_touches(struct kms *k, int i)
{
	return k->planes[i].next_fb || (i > 0 && k->planes[i].fb);
}

/*
 * The planes' next_* as one atomic commit (flags: TEST_ONLY, or a
 * nonblocking page flip with its event), with a writeback job if @wb.
 * 0 or -errno. A page flip that the kernel took moves each plane's
 * next buffer (busy reference) to flip_buf.
 */
static int commit_planes(struct kms *k, uint32_t flags, bool wb)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	int r = 0;

	if (!req)
		return -ENOMEM;
	for (int i = 0; i <= k->noverlays; i++) {
		struct kplane *p = &k->planes[i];

		if (!next_touches(k, i))
			continue;
		if (i == 0)
			r |= plane_props(k, req, p->next_fb);
		else
			r |= plane_rect(k, req, p->id, p->next_fb, p->nx, p->ny,
					p->nw, p->nh);
	}
	if (!(flags & DRM_MODE_ATOMIC_TEST_ONLY))
		k->wb_fence = -1;
	if (wb) {
		uint32_t t = DRM_MODE_OBJECT_CONNECTOR;

		r |= add(req, k->fd, k->wb_conn, t, "WRITEBACK_FB_ID", k->wb.fb);
		r |= add(req, k->fd, k->wb_conn, t, "WRITEBACK_OUT_FENCE_PTR",
			 (uint64_t)(uintptr_t)&k->wb_fence);
	}
	if (r)
		r = -EINVAL;
	else if (drmModeAtomicCommit(k->fd, req, flags, k))
		r = -errno;
	drmModeAtomicFree(req);
	if (r || (flags & DRM_MODE_ATOMIC_TEST_ONLY))
		return r;
	for (int i = 0; i <= k->noverlays; i++) {
		struct kplane *p = &k->planes[i];

		if (!next_touches(k, i))
			continue;
		p->fb = p->next_fb;
		p->flip_buf = p->next_buf ? buffer_ref(p->next_buf) : NULL;
		p->in_commit = true;
	}
	return 0;
}

/*
 * A full configuration: the mode, the connectors of @route on the CRTC
 * (the others off), the primary plane showing bufs[0]; with @wb_job also
 * a writeback job into k->wb (for the probes: the kernel checks a
 * writeback fb's format and size only when a job comes with it).
 */
static drmModeAtomicReq *modeset_req(struct kms *k, enum wb_route route,
				     bool wb_job)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	uint32_t t = DRM_MODE_OBJECT_CONNECTOR;
	int r = 0;

	if (!req)
		return NULL;
	r |= add(req, k->fd, k->conn, t, "CRTC_ID",
		 route == WB_ALONE ? 0 : k->crtc);
	if (k->wb_conn)
		r |= add(req, k->fd, k->wb_conn, t, "CRTC_ID",
			 route == WB_NONE ? 0 : k->crtc);
	if (wb_job)
		r |= add(req, k->fd, k->wb_conn, t, "WRITEBACK_FB_ID", k->wb.fb);
	r |= add(req, k->fd, k->crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID", k->mode_blob);
	r |= add(req, k->fd, k->crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", 1);
	r |= plane_props(k, req, k->bufs[0].fb);
	if (r) {
		drmModeAtomicFree(req);
		return NULL;
	}
	return req;
}

/* TEST_ONLY commit of a configuration with a writeback job: 0 or -errno */
static int probe_route(struct kms *k, enum wb_route route)
{
	drmModeAtomicReq *req = modeset_req(k, route, true);
	int r;

	if (!req)
		return -EINVAL;
	r = drmModeAtomicCommit(k->fd, req, DRM_MODE_ATOMIC_TEST_ONLY |
				DRM_MODE_ATOMIC_ALLOW_MODESET, NULL) ? -errno : 0;
	drmModeAtomicFree(req);
	return r;
}

/*
 * Pick how the writeback connector is routed (see the file comment) and
 * say why. Without a usable route the writeback connector is dropped and
 * captures read the scanout buffer.
 */
static void pick_wb_route(struct kms *k)
{
	struct server *srv = k->srv;
	int clone, alone;

	clone = probe_route(k, WB_CLONE);
	if (!clone) {
		k->wb_route = WB_CLONE;
		k->wb_ok = true;
		server_log(srv, "kms: writeback connector %u shares crtc %u with connector %u",
			   k->wb_conn, k->crtc, k->conn);
		return;
	}
	alone = probe_route(k, WB_ALONE);
	if (!alone) {
		k->wb_route = WB_ALONE;
		k->wb_ok = true;
		server_log(srv, "kms: writeback connector %u next to connector %u refused (%s: "
			   "the driver does not let its encoders be cloned); "
			   "the writeback connector drives crtc %u alone",
			   k->wb_conn, k->conn, strerror(-clone), k->crtc);
		return;
	}
	server_log(srv, "kms: writeback connector %u refused (with connector %u: %s, "
		   "alone: %s); captures read the scanout buffer",
		   k->wb_conn, k->conn, strerror(-clone), strerror(-alone));
	dumb_destroy(k->fd, &k->wb);
	k->wb_route = WB_NONE;
}

static int modeset(struct kms *k)
{
	drmModeAtomicReq *req = modeset_req(k, k->wb_route, false);
	int r;

	if (!req)
		return -1;
	r = drmModeAtomicCommit(k->fd, req, DRM_MODE_ATOMIC_ALLOW_MODESET,
				NULL) ? -errno : 0;
	drmModeAtomicFree(req);
	if (r) {
		fprintf(stderr, "udb-compositor: kms: modeset failed: %s\n",
			strerror(-r));
		return -1;
	}
	k->back = 1;
	return 0;
}

/*
 * The page flip of framebuffer fb (client buffer b, or a dumb buffer:
 * NULL) on the primary plane, every overlay off, with a writeback job if
 * @wb: 0 or -errno
 */
static int flip(struct kms *k, uint32_t fb, struct buffer *b, bool wb)
{
	next_clear(k);
	next_set(k, 0, fb, b, 0, 0, k->srv->output.width, k->srv->output.height);
	return commit_planes(k, DRM_MODE_ATOMIC_NONBLOCK |
			     DRM_MODE_PAGE_FLIP_EVENT, wb);
}

/* ---- direct scanout: the client's dma-buf on the plane ---- */

static void gem_close(struct kms *k, struct scanout_fb *f)
{
	struct drm_gem_close gc = { .handle = f->handle };

	if (f->handle)
		ioctl(k->fd, DRM_IOCTL_GEM_CLOSE, &gc);
	f->handle = 0;
}

static void scanout_fb_free(struct scanout_fb *f)
{
	if (f->fb)
		drmModeRmFB(f->k->fd, f->fb);
	gem_close(f->k, f);
	wl_list_remove(&f->link);
	f->b->scanout_state = NULL;
	f->b->scanout_state_destroy = NULL;
	free(f);
}

/* buffer.c: the buffer's last reference went */
static void scanout_state_destroy(struct buffer *b)
{
	scanout_fb_free(b->scanout_state);
}

/*
 * Whether fd is one of the module's dma-bufs: the kernel prints the
 * exporter's name (the module's KBUILD_MODNAME) in a dma-buf's fdinfo
 * (dmabuf.c reads the same lines). Known without /dev/userptr_dmabuf.
 */
static bool module_dmabuf(int fd)
{
	char path[64], line[256];
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "exp_name:", 9)) {
			yes = !strcmp(line + 9 + strspn(line + 9, " \t"),
				      "userptr_dmabuf\n");
			break;
		}
	fclose(f);
	return yes;
}

/*
 * The module's INFO pinned_invalidations of b (a module dma-buf);
 * false when INFO cannot be asked (no /dev/userptr_dmabuf, or it fails).
 */
static bool buffer_info(struct kms *k, struct buffer *b,
			struct userptr_dmabuf_info *info)
{
	if (k->srv->udb_fd < 0)
		return false;
	memset(info, 0, sizeof(*info));
	info->fd = b->dmabuf.planes[0].fd;
	return !ioctl(k->srv->udb_fd, USERPTR_DMABUF_IOC_INFO, info);
}

static bool pinned_invalidations(struct kms *k, struct buffer *b, uint64_t *n)
{
	struct userptr_dmabuf_info info;

	if (!buffer_info(k, b, &info))
		return false;
	*n = info.pinned_invalidations;
	return true;
}

/*
 * All of the module's invalidations of b, pinned or not: once vkms's
 * pin is gone, pinned_invalidations no longer moves when the client
 * moves its memory; this count does.
 */
static bool all_invalidations(struct kms *k, struct buffer *b, uint64_t *n)
{
	struct userptr_dmabuf_info info;

	if (!buffer_info(k, b, &info))
		return false;
	*n = info.invalidations;
	return true;
}

/* The quiet candidacies a stale buffer needs before its import:
 * exponential in the times it went stale, capped. */
static unsigned int settle_need(const struct scanout_fb *f)
{
	unsigned int k = f->stale_events;

	return 1u << (k < STALE_BACKOFF_MAX ? k : STALE_BACKOFF_MAX);
}

/*
 * A stale buffer (ESTALE) that is a candidate again: note its
 * invalidation count; true once it may be imported again (see struct
 * scanout_fb): its framebuffer gone, the count unmoved over the last
 * settle_need() candidacies, and no pinned pages left (*info: INFO
 * just before the import). The quiet count survives a wait for the pin:
 * only a move of the memory resets it.
 */
static bool stale_settled(struct kms *k, struct scanout_fb *f,
			  struct userptr_dmabuf_info *info)
{
	if (!buffer_info(k, f->b, info)) {
		f->settle_seen = false;
		f->quiet = 0;
		return false;
	}
	if (f->settle_seen && info->invalidations == f->settle_inv)
		f->quiet++;
	else
		f->quiet = 0;
	f->settle_inv = info->invalidations;
	f->settle_seen = true;
	if (f->fb || f->quiet < settle_need(f))
		return false;
	if (info->pinned_pages) {
		if (!f->pin_wait_logged)
			server_log(k->srv, "kms: a settled stale buffer waits: "
				   "the old pin set still holds %llu pages "
				   "(attachments %u)",
				   (unsigned long long)info->pinned_pages,
				   info->attachments);
		f->pin_wait_logged = true;
		k->srv->stats.direct_pin_waits++;
		return false;
	}
	f->quiet = 0;
	f->settle_seen = false;
	f->pin_wait_logged = false;
	return true;
}

static int test_fb(struct kms *k, uint32_t fb)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	int r;

	if (!req)
		return -ENOMEM;
	r = plane_props(k, req, fb) ? -EINVAL : 0;
	if (!r && drmModeAtomicCommit(k->fd, req, DRM_MODE_ATOMIC_TEST_ONLY, NULL))
		r = -errno;
	drmModeAtomicFree(req);
	return r;
}

/* Errors worth another try on a later frame. */
static bool transient(int err)
{
	return err == EAGAIN || err == EINTR || err == ENOMEM || err == EBUSY;
}

/* Whether b is on a plane or on its way there. */
static bool on_plane(struct kms *k, struct buffer *b)
{
	for (int i = 0; i <= k->noverlays; i++)
		if (b == k->planes[i].flip_buf || b == k->planes[i].screen_buf)
			return true;
	return false;
}

/*
 * A refused buffer's framebuffer goes once the buffer is off the plane
 * (screen_advance() catches the one that still is): it holds vkms's
 * import, a static pin of the whole buffer charged to the client's
 * RLIMIT_MEMLOCK, which the buffer no longer needs.
 */
static void scanout_fb_drop(struct kms *k, struct scanout_fb *f)
{
	if (f->fb && !on_plane(k, f->b)) {
		drmModeRmFB(k->fd, f->fb);
		f->fb = 0;
		if (f->refused)
			server_log(k->srv, "kms: framebuffer of a refused buffer "
				   "dropped (%s): vkms's pin of it goes",
				   strerror(f->refused));
	}
}

/* After a transient failure: the next try imports afresh. */
static void scanout_fb_drop_transient(struct kms *k, struct scanout_fb *f)
{
	scanout_fb_drop(k, f);
	if (!f->fb)
		f->tested = false;
}

/*
 * The framebuffer of b for a plane, imported on first use and, for the
 * primary plane (the whole output), tested there once (an overlay's is
 * tested with the frame's whole configuration, every frame);
 * NULL with the reason when vkms does not take it: a final refusal is
 * remembered (and the framebuffer dropped once off the plane), a
 * transient failure (EAGAIN, EINTR, ENOMEM, EBUSY) is tried again.
 */
static struct scanout_fb *scanout_fb(struct kms *k, struct buffer *b,
				     bool primary, const char **why)
{
	struct scanout_fb *f = b->scanout_state;
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint64_t mods[4] = { 0 }, inv;
	struct userptr_dmabuf_info info;
	int r;

	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f) {
			*why = "out of memory";
			return NULL;
		}
		f->k = k;
		f->b = b;
		wl_list_insert(&k->fbs, &f->link);
		b->scanout_state = f;
		b->scanout_state_destroy = scanout_state_destroy;
		f->module = module_dmabuf(b->dmabuf.planes[0].fd);
	}
	if (f->refused == ESTALE && stale_settled(k, f, &info)) {
		/* its old framebuffer and vkms's pins are gone */
		f->refused = 0;
		f->tested = false;
		k->srv->stats.direct_reimports++;
		server_log(k->srv, "kms: a stale buffer is imported again "
			   "(INFO before: pinned_pages %llu, attachments %u; "
			   "%u quiet candidacies)",
			   (unsigned long long)info.pinned_pages,
			   info.attachments, settle_need(f));
	}
	if (!f->refused && !f->fb) {
		/* a module dma-buf whose staleness cannot be checked is
		 * never imported: vkms's pin would hold pages the client's
		 * memory may have left, and nothing would tell */
		if (f->module && !pinned_invalidations(k, b, &f->pinned_inv)) {
			f->refused = ENOTTY;
			server_log(k->srv, "kms: a module dma-buf whose INFO "
				   "cannot be asked is composited");
			goto refused;
		}
		if (drmPrimeFDToHandle(k->fd, b->dmabuf.planes[0].fd,
				       &f->handle)) {
			r = errno;
			f->handle = 0;
			server_log(k->srv, "kms: PRIME import of a client dma-buf: %s",
				   strerror(r));
			goto failed;
		}
		handles[0] = f->handle;
		pitches[0] = b->dmabuf.planes[0].stride;
		offsets[0] = b->dmabuf.planes[0].offset;
		mods[0] = b->dmabuf.modifier;
		r = -1;
		errno = EINVAL;
		if (b->dmabuf.modifier != DRM_FORMAT_MOD_INVALID)
			r = drmModeAddFB2WithModifiers(k->fd, b->width, b->height,
						       b->dmabuf.fourcc, handles,
						       pitches, offsets, mods,
						       &f->fb, DRM_MODE_FB_MODIFIERS);
		/* the implicit modifier, or a driver without modifiers:
		 * LINEAR is what its implicit layout is (scanout.c only
		 * lets LINEAR and the implicit modifier through) */
		if (r && errno == EINVAL)
			r = drmModeAddFB2(k->fd, b->width, b->height,
					  b->dmabuf.fourcc, handles, pitches,
					  offsets, &f->fb, 0);
		if (r)
			r = errno;
		/* the framebuffer holds its own reference on the GEM object;
		 * the handle goes now: PRIME gives one handle per dma-buf on
		 * our fd, so two wl_buffers on one dma-buf (at offsets) share
		 * it, and one's GEM_CLOSE would close the other's */
		gem_close(k, f);
		if (r) {
			f->fb = 0;
			server_log(k->srv, "kms: framebuffer of a client dma-buf: %s",
				   strerror(r));
			goto failed;
		}
		f->tested = false;
	}
	if (!f->refused && primary && !f->tested) {
		r = -test_fb(k, f->fb);
		if (r) {
			server_log(k->srv, "kms: TEST_ONLY commit of a client dma-buf "
				   "on plane %u refused: %s", k->plane, strerror(r));
			goto failed;
		}
		f->tested = true;
	}
	if (!f->refused && f->module && !pinned_invalidations(k, b, &inv)) {
		f->refused = ENOTTY;
		server_log(k->srv, "kms: INFO of a scanned-out module dma-buf "
			   "failed; it is composited from now on");
	} else if (!f->refused && f->module && inv != f->pinned_inv) {
		/* vkms's pin holds the pages of the import: the client's
		 * memory moved since, the plane would show the old pages */
		f->refused = ESTALE;
		f->stale_events++;
		f->quiet = 0;
		f->settle_seen = all_invalidations(k, b, &f->settle_inv);
		server_log(k->srv, "kms: a scanned-out buffer's pinned pages "
			   "were invalidated; it is composited until it settles");
	}
	if (!f->refused)
		return f;
refused:
	scanout_fb_drop(k, f);
	*why = f->refused == ESTALE ? "its pinned pages were invalidated" :
	       f->refused == ENOTTY ? "a module dma-buf whose INFO "
				      "cannot be asked (staleness unchecked)" :
	       "vkms refused the buffer (import, framebuffer or test)";
	return NULL;
failed:
	/* import, framebuffer or test: a transient failure is tried
	 * again on a later frame, anything else is final */
	if (!transient(r)) {
		f->refused = r;
		goto refused;
	}
	scanout_fb_drop_transient(k, f);
	*why = "vkms could not take the buffer this time (tried again later)";
	return NULL;
}

/* The frame just committed was composited (why: not scanned out). */
static void note_composited(struct kms *k, const char *why)
{
	struct stats *st = &k->srv->stats;

	st->frames_composited++;
	snprintf(st->direct_refused, sizeof(st->direct_refused), "%s", why);
	if (k->last_direct || k->last_why != why)
		server_log(k->srv, "kms: composition%s: %s",
			   k->last_direct ? " resumes" : "", why);
	k->last_direct = false;
	k->last_why = why;
}

/* A direct frame: fb on the plane. 0 or -errno (nothing changed then). */
static int repaint_direct(struct kms *k, struct surface *s,
			  struct scanout_fb *f, bool wb)
{
	struct server *srv = k->srv;
	int r;

	r = flip(k, f->fb, s->buffer, wb);	/* on the plane from now */
	if (r < 0)
		return r;
	server_repaint_direct(srv, s);
	k->direct_in_flight = true;
	k->prim_valid = false;
	srv->stats.frames_direct++;
	if (!k->last_direct)
		server_log(srv, "kms: direct scanout of a %dx%d client dma-buf "
			   "(frame %u)", s->width, s->height, srv->output.seq);
	k->last_direct = true;
	k->last_why = NULL;
	return 0;
}

/* planes_assign()'s accept: the buffer's framebuffer for an overlay */
static bool accept_overlay(void *data, struct surface *s)
{
	const char *why;

	return scanout_fb(data, s->buffer, false, &why) != NULL;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		h = (h ^ (v & 0xff)) * 0x100000001b3ULL;
	return h;
}

static uint64_t sig_tree(uint64_t h, struct surface *s, int32_t x, int32_t y,
			 const struct plane_view *pv, int n)
{
	struct stack_node *nd;

	wl_list_for_each(nd, &s->stack, link) {
		struct surface *c = nd->surface;
		int32_t cx, cy;
		bool on = false;

		if (nd != &s->self_node) {
			subsurface_position(c, &cx, &cy);
			h = sig_tree(h, c, x + cx, y + cy, pv, n);
			continue;
		}
		if (!s->has_content)
			continue;
		for (int i = 0; i < n; i++)
			on |= pv[i].surface == s;
		h = fnv(h, (uintptr_t)s);
		h = fnv(h, (uint64_t)(uint32_t)x << 32 | (uint32_t)y);
		h = fnv(h, (uint64_t)(uint32_t)s->width << 32 | (uint32_t)s->height);
		h = fnv(h, (uint64_t)s->scale << 32 | (uint32_t)s->transform);
		/* a window on a plane leaves the background under it in
		 * the primary, whatever it commits */
		h = fnv(h, on ? 0 : (uint64_t)s->commits << 1 | 1);
		h = fnv(h, on ? 0 : (uintptr_t)s->buffer);
	}
	return h;
}

/*
 * What the primary plane's composed image depends on when the windows
 * pv[0..n) are on overlays: every other surface on the output with its
 * place, size and commits (a commit may change its content), and where
 * the overlay windows are (the background shows there). The status
 * strip is never shown with overlays (planes.c).
 */
static uint64_t primary_sig(struct server *srv, const struct plane_view *pv,
			    int n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	struct view *v;

	wl_list_for_each(v, &srv->scene.views, link)
		h = sig_tree(h, v->surface, v->x, v->y, pv, n);
	return fnv(h, (uint64_t)n);
}

static void kms_repaint(struct kms *k)
{
	struct server *srv = k->srv;
	struct dumb *d = &k->bufs[k->back];
	bool capture, wb, compose = true;
	struct scanout_fb *f = NULL;
	struct plane_view pv[MAX_OVERLAYS];
	struct surface *on[MAX_OVERLAYS];
	struct surface *s;
	const char *why, *pwhy = NULL;
	uint64_t sig;
	int r, n = 0;

	k->want_repaint = false;
	if (!server_needs_repaint(srv))
		return;
	capture = server_wants_pixels(srv);
	wb = capture && k->wb_ok;
	s = scanout_candidate(srv, k->wb_ok, &why);
	if (s)
		f = scanout_fb(k, s->buffer, true, &why);
	if (f) {
		r = repaint_direct(k, s, f, wb);
		if (!r)
			goto flipped;
		if (!transient(-r))
			f->refused = -r;
		scanout_fb_drop(k, f);	/* refused or not: import afresh */
		if (!f->fb)
			f->tested = false;
		why = "the page flip with it failed";
		server_log(srv, "kms: flip of a client dma-buf failed: %s",
			   strerror(-r));
	}
	/* windows on overlay planes (planes.c), the rest composed on the
	 * primary plane, or not at all if nothing composed changed */
	next_clear(k);
	if (k->noverlays && !s)
		n = planes_assign(srv, k->wb_ok, k->noverlays, accept_overlay,
				  k, pv, &pwhy);
	for (int i = 0; i < n; i++) {
		struct scanout_fb *o = pv[i].surface->buffer->scanout_state;

		on[i] = pv[i].surface;
		next_set(k, 1 + i, o->fb, on[i]->buffer, pv[i].x, pv[i].y,
			 pv[i].w, pv[i].h);
	}
	sig = primary_sig(srv, pv, n);
	if (n) {
		compose = !k->prim_valid || sig != k->prim_sig;
		if (compose)
			next_set(k, 0, d->fb, NULL, 0, 0, 0, 0);
		r = commit_planes(k, DRM_MODE_ATOMIC_TEST_ONLY, false);
		if (r && r != k->last_test_err)
			server_log(srv, "kms: TEST_ONLY commit of %d overlay "
				   "planes refused: %s; composited", n,
				   strerror(-r));
		k->last_test_err = r;
		if (r) {
			next_clear(k);
			n = 0;
			compose = true;
			why = "vkms refused the overlay planes";
			sig = primary_sig(srv, pv, 0);
		}
	}
	if (n != k->last_n || pwhy != k->last_pwhy) {
		if (n > 0 || k->last_n > 0)
			server_log(srv, "kms: %d window%s on overlay planes%s%s "
				   "(frame %u)", n, n == 1 ? "" : "s",
				   pwhy ? "; one composited: " : "",
				   pwhy ? pwhy : "", srv->output.seq);
		k->last_n = n;
		k->last_pwhy = pwhy;
	}
	if (n) {
		server_repaint_planes(srv, on, n, compose);
		srv->stats.frames_overlay++;
		srv->stats.overlay_views += n;
		if (compose)
			srv->stats.frames_composited++;
		else
			srv->stats.frames_primary_kept++;
		k->last_direct = false;
		k->last_why = NULL;
	} else {
		if (!server_repaint(srv))
			return;
		note_composited(k, why ? why : pwhy ? pwhy :
				"no window on a plane");
	}
	if (compose) {
		renderer_read(srv->renderer, d->map, d->pitch);
		next_set(k, 0, d->fb, NULL, 0, 0, 0, 0);
	}
	r = commit_planes(k, DRM_MODE_ATOMIC_NONBLOCK |
			  DRM_MODE_PAGE_FLIP_EVENT, wb);
	if (r < 0 && wb) {
		server_log(srv, "kms: flip with a writeback job failed (%s); "
			   "captures read the scanout buffer from now on",
			   strerror(-r));
		k->wb_ok = false;
		wb = false;
		r = commit_planes(k, DRM_MODE_ATOMIC_NONBLOCK |
				  DRM_MODE_PAGE_FLIP_EVENT, false);
	}
	if (r < 0) {
		server_log(srv, "kms: commit failed: %s", strerror(-r));
		server_exit(srv, 1);
		return;
	}
	/* a capture of a frame with overlays needs the writeback connector
	 * (no dumb buffer holds the frame), as a direct frame does */
	k->direct_in_flight = n > 0;
	if (compose) {
		k->back ^= 1;
		k->prim_sig = sig;
		k->prim_valid = true;
	}
flipped:
	k->flip_pending = true;
	k->capture_in_flight = capture;
	k->wb_in_flight = wb;
}

/*
 * The flip that was in flight is on screen: on each plane it had in its
 * commit, the buffer it put there (if any) stays busy there; the one it
 * replaced leaves the screen now and may be released (after the frame's
 * feedback went). Planes it left alone keep theirs.
 */
static void screen_advance(struct kms *k)
{
	for (int i = 0; i <= k->noverlays; i++) {
		struct kplane *p = &k->planes[i];
		struct buffer *old = p->screen_buf;

		if (!p->in_commit)
			continue;
		p->in_commit = false;
		p->screen_buf = p->flip_buf;
		p->flip_buf = NULL;
		if (old && old->scanout_state_destroy == scanout_state_destroy &&
		    ((struct scanout_fb *)old->scanout_state)->refused)
			scanout_fb_drop(k, old->scanout_state);
		if (old)
			buffer_unref(old);
	}
}

/*
 * Wait for the writeback out-fence of the flip that just completed: true
 * when it signalled without error (k->wb then holds what the CRTC
 * composed). vkms signals it from its composer right after the vblank
 * that sent the flip event, so this wait is short.
 */
static bool wait_wb_fence(struct kms *k)
{
	struct pollfd p = { .fd = k->wb_fence, .events = POLLIN };
	struct sync_file_info info = { 0 };
	int r;

	if (k->wb_fence < 0) {
		server_log(k->srv, "kms: the kernel returned no writeback fence");
		return false;
	}
	do
		r = poll(&p, 1, 1000);
	while (r < 0 && errno == EINTR);
	if (r != 1) {
		server_log(k->srv, "kms: writeback fence %s",
			   r ? strerror(errno) : "timed out");
	} else if (ioctl(k->wb_fence, SYNC_IOC_FILE_INFO, &info) < 0) {
		server_log(k->srv, "kms: writeback fence info: %s", strerror(errno));
		r = 0;
	} else if (info.status != 1) {
		server_log(k->srv, "kms: writeback fence status %d", info.status);
		r = 0;
	}
	close(k->wb_fence);
	k->wb_fence = -1;
	return r == 1;
}

static void on_flip(int fd, unsigned int seq, unsigned int sec,
		    unsigned int usec, unsigned int crtc, void *data)
{
	struct kms *k = data;
	struct server *srv = k->srv;
	int64_t ts = (int64_t)sec * 1000000000 + (int64_t)usec * 1000;
	const uint32_t *px = NULL;
	int stride = srv->output.width * 4;
	bool wb_done;

	(void)fd, (void)crtc;
	k->flip_pending = false;
	wb_done = k->capture_in_flight && k->wb_in_flight && wait_wb_fence(k);
	if (k->capture_in_flight && k->direct_in_flight && !wb_done) {
		/* no dumb buffer holds this frame: the capture waits for a
		 * composited one */
		server_log(srv, "kms: writeback of direct frame %u failed; "
			   "captures make composited frames from now on",
			   srv->output.seq);
		k->wb_ok = false;
		srv->dirty = true;
		k->want_repaint = true;
	} else if (k->capture_in_flight) {
		/* what the CRTC composed, from writeback when we have it */
		const struct dumb *src = &k->bufs[k->back ^ 1];

		if (wb_done) {
			src = &k->wb;
			k->captures_wb++;
			server_log(srv, "kms: capture of frame %u read back through "
				   "writeback connector %u", srv->output.seq, k->wb_conn);
		} else {
			k->captures_scanout++;
			server_log(srv, "kms: capture of frame %u read from the "
				   "scanout buffer (no writeback)", srv->output.seq);
		}
		for (int y = 0; y < srv->output.height; y++) {
			const uint32_t *s = (const uint32_t *)((const uint8_t *)src->map +
							       (size_t)y * src->pitch);
			uint32_t *d = k->pixels + (size_t)y * srv->output.width;

			for (int x = 0; x < srv->output.width; x++)
				d[x] = s[x] | 0xff000000;
		}
		px = k->pixels;
	}
	server_frame_done(srv, ts, seq, px, stride);	/* seq: the vblank count */
	screen_advance(k);
	if (k->want_repaint)
		kms_repaint(k);
}

static int on_drm(int fd, uint32_t mask, void *data)
{
	drmEventContext ev = {
		.version = 3,
		.page_flip_handler2 = on_flip,
	};

	(void)mask, (void)data;
	drmHandleEvent(fd, &ev);
	return 0;
}

static void on_idle(void *data)
{
	struct kms *k = data;

	k->idle = NULL;
	if (!k->flip_pending)
		kms_repaint(k);
}

static void kms_schedule(struct server *srv)
{
	struct kms *k = srv->output.backend;

	k->want_repaint = true;
	if (!k->flip_pending && !k->idle)
		k->idle = wl_event_loop_add_idle(srv->loop, on_idle, k);
}

/* Let a pending flip finish (its event is dropped). */
static void wait_flip(struct kms *k)
{
	while (k->flip_pending) {
		struct pollfd p = { .fd = k->fd, .events = POLLIN };
		drmEventContext ev = { .version = 3 };

		if (poll(&p, 1, 1000) != 1)
			break;
		ev.page_flip_handler2 = NULL;
		drmHandleEvent(k->fd, &ev);
		k->flip_pending = false;
	}
}

/*
 * At exit, before the report: the plane goes back to a dumb buffer (the
 * last one composed, or bufs[0]) so that the client buffers it showed
 * can go, then every import is dropped.
 */
static void kms_drop_buffers(struct server *srv)
{
	struct kms *k = srv->output.backend;
	struct scanout_fb *f, *tmp;
	bool client = false;

	if (!k || k->fd < 0)
		return;
	wait_flip(k);
	for (int i = 0; i <= k->noverlays; i++)
		client |= k->planes[i].flip_buf || k->planes[i].screen_buf;
	if (client) {
		drmModeAtomicReq *req = drmModeAtomicAlloc();
		int r = req ? plane_props(k, req, k->bufs[k->back ^ 1].fb) : -1;

		for (int i = 1; i <= k->noverlays; i++)
			if (k->planes[i].fb)
				r |= plane_rect(k, req, k->planes[i].id, 0, 0, 0, 0, 0);
		if (!r)
			drmModeAtomicCommit(k->fd, req, 0, NULL);
		drmModeAtomicFree(req);
	}
	for (int i = 0; i <= k->noverlays; i++) {
		struct kplane *p = &k->planes[i];

		if (p->flip_buf)
			buffer_unref(p->flip_buf);
		if (p->screen_buf)
			buffer_unref(p->screen_buf);
		p->flip_buf = p->screen_buf = NULL;
		p->fb = 0;
	}
	wl_list_for_each_safe(f, tmp, &k->fbs, link)
		scanout_fb_free(f);
}

static void kms_destroy(struct server *srv)
{
	struct kms *k = srv->output.backend;

	if (!k)
		return;
	kms_drop_buffers(srv);
	if (k->idle)
		wl_event_source_remove(k->idle);
	if (k->fd_src)
		wl_event_source_remove(k->fd_src);
	if (k->mode_blob)
		server_log(srv, "kms: captures: %llu read back through writeback, "
			   "%llu from the scanout buffer",
			   (unsigned long long)k->captures_wb,
			   (unsigned long long)k->captures_scanout);
	if (k->fd >= 0) {
		/* let a pending flip finish before freeing its buffers */
		wait_flip(k);
		if (k->wb_fence >= 0)
			close(k->wb_fence);
		for (int i = 0; i < 2; i++)
			dumb_destroy(k->fd, &k->bufs[i]);
		dumb_destroy(k->fd, &k->wb);
		if (k->mode_blob)
			drmModeDestroyPropertyBlob(k->fd, k->mode_blob);
		close(k->fd);
	}
	free(k->pixels);
	free(k);
	srv->output.backend = NULL;
}

static const struct output_ops kms_ops = {
	.schedule = kms_schedule,
	.drop_buffers = kms_drop_buffers,
	.destroy = kms_destroy,
};

int output_kms_init(struct server *srv)
{
	struct kms *k = calloc(1, sizeof(*k));
	int w = srv->output.width, h = srv->output.height;

	if (!k)
		return -1;
	k->srv = srv;
	k->wb_fence = -1;
	wl_list_init(&k->fbs);
	srv->output.backend = k;
	srv->output.ops = &kms_ops;
	k->fd = open_vkms();
	if (k->fd < 0) {
		fprintf(stderr, "udb-compositor: kms: no vkms card (modprobe vkms?)\n");
		return -1;
	}
	if (drmSetClientCap(k->fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) < 0 ||
	    drmSetClientCap(k->fd, DRM_CLIENT_CAP_ATOMIC, 1) < 0) {
		fprintf(stderr, "udb-compositor: kms: no atomic modesetting\n");
		return -1;
	}
	/* without this cap the writeback connector is not even listed */
	if (drmSetClientCap(k->fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1) < 0)
		server_log(srv, "kms: DRM_CLIENT_CAP_WRITEBACK_CONNECTORS: %s",
			   strerror(errno));
	if (pick_pipe(k) < 0)
		return -1;
	k->pixels = malloc((size_t)w * h * 4);
	if (!k->pixels || dumb_create(k->fd, w, h, &k->bufs[0]) < 0 ||
	    dumb_create(k->fd, w, h, &k->bufs[1]) < 0) {
		fprintf(stderr, "udb-compositor: kms: dumb buffers: %s\n",
			strerror(errno));
		return -1;
	}
	if (drmModeCreatePropertyBlob(k->fd, &k->mode, sizeof(k->mode),
				      &k->mode_blob) < 0) {
		fprintf(stderr, "udb-compositor: kms: mode blob: %s\n",
			strerror(errno));
		return -1;
	}
	if (!k->wb_conn) {
		server_log(srv, "kms: no writeback connector (vkms enable_writeback=0?); "
			   "captures read the scanout buffer");
	} else if (dumb_create(k->fd, w, h, &k->wb) < 0) {
		server_log(srv, "kms: writeback dumb buffer: %s; captures read "
			   "the scanout buffer", strerror(errno));
		dumb_destroy(k->fd, &k->wb);
		k->wb_ok = false;
	} else {
		pick_wb_route(k);
	}
	if (modeset(k) < 0)
		return -1;
	srv->output.refresh_ns = (int64_t)k->mode.htotal * k->mode.vtotal *
				 1000000 / (k->mode.clock ? k->mode.clock : 1);
	srv->output.vsync = true;
	k->fd_src = wl_event_loop_add_fd(srv->loop, k->fd, WL_EVENT_READABLE,
					 on_drm, k);
	server_log(srv, "kms: vkms %dx%d@%.2f Hz, connector %u%s, crtc %u, plane %u, "
		   "%d overlay planes, writeback %u",
		   w, h, 1e9 / srv->output.refresh_ns, k->conn,
		   k->wb_route == WB_ALONE ? " (off)" : "", k->crtc, k->plane,
		   k->noverlays, k->wb_ok ? k->wb_conn : 0);
	return k->fd_src ? 0 : -1;
}
