// SPDX-License-Identifier: GPL-2.0
/*
 * vkms as a foreign importer that scans out: a framebuffer made from a
 * userptr dma-buf over plain aligned_alloc() memory (PRIME import +
 * ADDFB2), shown on vkms's primary plane, read back through the
 * writeback connector and compared with the bytes the CPU wrote.
 *
 * vkms imports through the GEM shmem helpers: a static importer, so the
 * exporter pins the pages at attach (the pinned path) and vkms reads them
 * through dma_buf_vmap() when it composes. So:
 *  - the first frame shows the client's pattern, pixel for pixel;
 *  - a CPU write to the same memory shows in the next frame (the pinned
 *    pages are the process's pages, no copy anywhere);
 *  - after the owner drops its pages (MADV_DONTNEED), the pinned pages
 *    stay (by design, docs/design.md), the frame still shows the last
 *    pattern, and INFO counts the change in pinned_invalidations.
 *
 * Routing: the writeback connector shares the CRTC with the virtual
 * connector where vkms allows it (7.x); on 6.12 vkms's encoders are not
 * clones of each other and the writeback connector drives the CRTC alone
 * (see demo/compositor/output_kms.c). Needs root (DRM master), vkms and
 * our module; SKIPs without vkms.
 */
#include "common.h"
#include <drm_fourcc.h>
#include <poll.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "kselftest_harness.h"

struct fbuf {
	uint32_t handle, fb, pitch;
	uint64_t size;
	uint8_t *map;
};

static uint32_t prop_id(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint32_t id = 0;

	for (uint32_t i = 0; props && i < props->count_props && !id; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);

		if (p && !strcmp(p->name, name))
			id = p->prop_id;
		drmModeFreeProperty(p);
	}
	drmModeFreeObjectProperties(props);
	return id;
}

static uint64_t prop_value(int fd, uint32_t obj, uint32_t type, const char *name)
{
	drmModeObjectProperties *props = drmModeObjectGetProperties(fd, obj, type);
	uint64_t v = ~0ULL;

	for (uint32_t i = 0; props && i < props->count_props; i++) {
		drmModePropertyRes *p = drmModeGetProperty(fd, props->props[i]);

		if (p && !strcmp(p->name, name))
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
		fprintf(stderr, "# no property %s on object %u\n", name, obj);
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
		if (v && !strcmp(v->name, "vkms")) {
			drmFreeVersion(v);
			return fd;
		}
		drmFreeVersion(v);
		close(fd);
	}
	return -1;
}

/* The pixel the "client" draws at (x, y) for @seed; X8 is 0xff. */
static uint32_t pixel(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t v = x * 2654435761u ^ (y + seed) * 40503u ^ seed * 0x9e3779b9u;

	return 0xff000000u | (v & 0x00ffffffu);
}

static void draw(uint8_t *p, uint32_t w, uint32_t h, uint32_t pitch, uint32_t seed)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			((uint32_t *)(p + (size_t)y * pitch))[x] = pixel(x, y, seed);
}

/* First pixel of the writeback image that differs from @seed's, or -1. */
static long compare(const struct fbuf *wb, uint32_t w, uint32_t h, uint32_t seed,
		    uint32_t *got, uint32_t *want)
{
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint32_t g = ((uint32_t *)(wb->map + (size_t)y * wb->pitch))[x];

			if ((g & 0xffffff) != (pixel(x, y, seed) & 0xffffff)) {
				*got = g;
				*want = pixel(x, y, seed);
				return (long)y * w + x;
			}
		}
	return -1;
}

FIXTURE(vkms)
{
	int drm, dev;
	uint32_t crtc, conn, wb_conn, plane, blob;
	drmModeModeInfo mode;
	int alone;		/* the writeback connector drives the CRTC alone */
	struct fbuf wb;
	uint8_t *mem;
	size_t len;
	uint32_t pitch;
	int dmabuf;
	uint32_t gem, fb;
};

static int pick_pipe(FIXTURE_DATA(vkms) *self)
{
	drmModeRes *res = drmModeGetResources(self->drm);
	drmModePlaneRes *pres = drmModeGetPlaneResources(self->drm);
	int crtc_idx = -1;

	for (int i = 0; res && i < res->count_connectors; i++) {
		drmModeConnector *c = drmModeGetConnector(self->drm, res->connectors[i]);
		drmModeEncoder *e;

		if (!c)
			continue;
		if (c->connector_type == DRM_MODE_CONNECTOR_WRITEBACK) {
			self->wb_conn = c->connector_id;
		} else if (!self->conn && c->count_modes && c->count_encoders) {
			/* the smallest mode: less to compose under TCG */
			self->mode = c->modes[0];
			for (int m = 1; m < c->count_modes; m++)
				if (c->modes[m].hdisplay * c->modes[m].vdisplay <
				    self->mode.hdisplay * self->mode.vdisplay)
					self->mode = c->modes[m];
			self->conn = c->connector_id;
			e = drmModeGetEncoder(self->drm, c->encoders[0]);
			for (int j = 0; e && j < res->count_crtcs; j++)
				if (e->possible_crtcs & (1u << j)) {
					crtc_idx = j;
					self->crtc = res->crtcs[j];
					break;
				}
			drmModeFreeEncoder(e);
		}
		drmModeFreeConnector(c);
	}
	for (uint32_t i = 0; pres && crtc_idx >= 0 && i < pres->count_planes; i++) {
		drmModePlane *p = drmModeGetPlane(self->drm, pres->planes[i]);

		if (p && (p->possible_crtcs & (1u << crtc_idx)) &&
		    prop_value(self->drm, p->plane_id, DRM_MODE_OBJECT_PLANE, "type") ==
		    DRM_PLANE_TYPE_PRIMARY)
			self->plane = p->plane_id;
		drmModeFreePlane(p);
		if (self->plane)
			break;
	}
	drmModeFreePlaneResources(pres);
	drmModeFreeResources(res);
	return self->conn && self->crtc && self->plane && self->wb_conn ? 0 : -1;
}

static int dumb_create(int fd, uint32_t w, uint32_t h, struct fbuf *d)
{
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint64_t off;

	if (drmModeCreateDumbBuffer(fd, w, h, 32, 0, &d->handle, &d->pitch, &d->size))
		return -errno;
	handles[0] = d->handle;
	pitches[0] = d->pitch;
	if (drmModeAddFB2(fd, w, h, DRM_FORMAT_XRGB8888, handles, pitches,
			  offsets, &d->fb, 0))
		return -errno;
	if (drmModeMapDumbBuffer(fd, d->handle, &off))
		return -errno;
	d->map = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (d->map == MAP_FAILED) {
		d->map = NULL;
		return -errno;
	}
	return 0;
}

/*
 * One frame: the primary plane shows @fb, the writeback connector gets a
 * job into self->wb. With @modeset the whole pipe is set up. Returns 0
 * when the writeback out-fence signalled without error, else -errno.
 */
static int frame(FIXTURE_DATA(vkms) *self, uint32_t fb, int modeset, int test_only)
{
	drmModeAtomicReq *req = drmModeAtomicAlloc();
	uint32_t w = self->mode.hdisplay, h = self->mode.vdisplay;
	uint32_t t = DRM_MODE_OBJECT_CONNECTOR, pl = DRM_MODE_OBJECT_PLANE;
	int32_t fence = -1;
	struct pollfd pfd;
	int r = 0, ret;

	if (!req)
		return -ENOMEM;
	if (modeset) {
		r |= add(req, self->drm, self->conn, t, "CRTC_ID",
			 self->alone ? 0 : self->crtc);
		r |= add(req, self->drm, self->wb_conn, t, "CRTC_ID", self->crtc);
		r |= add(req, self->drm, self->crtc, DRM_MODE_OBJECT_CRTC, "MODE_ID",
			 self->blob);
		r |= add(req, self->drm, self->crtc, DRM_MODE_OBJECT_CRTC, "ACTIVE", 1);
		r |= add(req, self->drm, self->plane, pl, "CRTC_ID", self->crtc);
		r |= add(req, self->drm, self->plane, pl, "SRC_X", 0);
		r |= add(req, self->drm, self->plane, pl, "SRC_Y", 0);
		r |= add(req, self->drm, self->plane, pl, "SRC_W", (uint64_t)w << 16);
		r |= add(req, self->drm, self->plane, pl, "SRC_H", (uint64_t)h << 16);
		r |= add(req, self->drm, self->plane, pl, "CRTC_X", 0);
		r |= add(req, self->drm, self->plane, pl, "CRTC_Y", 0);
		r |= add(req, self->drm, self->plane, pl, "CRTC_W", w);
		r |= add(req, self->drm, self->plane, pl, "CRTC_H", h);
	}
	r |= add(req, self->drm, self->plane, pl, "FB_ID", fb);
	r |= add(req, self->drm, self->wb_conn, t, "WRITEBACK_FB_ID", self->wb.fb);
	if (!test_only)
		r |= add(req, self->drm, self->wb_conn, t, "WRITEBACK_OUT_FENCE_PTR",
			 (uintptr_t)&fence);
	if (r) {
		drmModeAtomicFree(req);
		return -EINVAL;
	}
	ret = drmModeAtomicCommit(self->drm, req,
				  (modeset ? DRM_MODE_ATOMIC_ALLOW_MODESET : 0) |
				  (test_only ? DRM_MODE_ATOMIC_TEST_ONLY : 0), NULL) ? -errno : 0;
	drmModeAtomicFree(req);
	if (ret || test_only)
		return ret;
	if (fence < 0)
		return -ENOENT;
	pfd.fd = fence;
	pfd.events = POLLIN;
	ret = poll(&pfd, 1, 10000) == 1 ? 0 : -ETIMEDOUT;
	close(fence);
	return ret;
}

FIXTURE_SETUP(vkms)
{
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	int r;

	self->drm = open_vkms();
	if (self->drm < 0)
		SKIP(return, "no vkms card (modprobe vkms; needs root)");
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	ASSERT_EQ(0, drmSetClientCap(self->drm, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1));
	ASSERT_EQ(0, drmSetClientCap(self->drm, DRM_CLIENT_CAP_ATOMIC, 1));
	ASSERT_EQ(0, drmSetClientCap(self->drm, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1));
	ASSERT_EQ(0, pick_pipe(self)) TH_LOG("no connector + crtc + primary plane + writeback");
	ASSERT_EQ(0, drmModeCreatePropertyBlob(self->drm, &self->mode,
					       sizeof(self->mode), &self->blob));
	ASSERT_EQ(0, dumb_create(self->drm, self->mode.hdisplay, self->mode.vdisplay,
				 &self->wb));

	/* the client's memory: plain aligned_alloc(), as a compositor client has */
	self->pitch = self->mode.hdisplay * 4;
	self->len = ((size_t)self->pitch * self->mode.vdisplay + page_size() - 1) &
		    ~(page_size() - 1);
	self->mem = aligned_alloc(page_size(), self->len);
	ASSERT_NE(NULL, self->mem);
	memset(self->mem, 0, self->len);
	draw(self->mem, self->mode.hdisplay, self->mode.vdisplay, self->pitch, 1);
	self->dmabuf = udb_create(self->dev, self->mem, self->len, 0);
	ASSERT_GE(self->dmabuf, 0) TH_LOG("create: %s", strerror(-self->dmabuf));
	r = drmPrimeFDToHandle(self->drm, self->dmabuf, &self->gem);
	ASSERT_EQ(0, r) TH_LOG("vkms PRIME import of a userptr dma-buf: %s", strerror(errno));
	handles[0] = self->gem;
	pitches[0] = self->pitch;
	ASSERT_EQ(0, drmModeAddFB2(self->drm, self->mode.hdisplay, self->mode.vdisplay,
				   DRM_FORMAT_XRGB8888, handles, pitches, offsets,
				   &self->fb, 0)) TH_LOG("ADDFB2: %s", strerror(errno));

	/* route the writeback connector (see the header comment) */
	self->alone = 0;
	if (frame(self, self->fb, 1, 1)) {
		self->alone = 1;
		ASSERT_EQ(0, frame(self, self->fb, 1, 1))
			TH_LOG("no writeback route accepted: %s", strerror(errno));
	}
	printf("# vkms: %ux%u, writeback %s, fb %u over a userptr dma-buf of %zu bytes\n",
	       self->mode.hdisplay, self->mode.vdisplay,
	       self->alone ? "drives the CRTC alone" : "shares the CRTC", self->fb,
	       self->len);
}

FIXTURE_TEARDOWN(vkms)
{
	if (self->drm < 0)
		return;
	/* closing the card turns the pipe off and drops the framebuffers */
	close(self->drm);
	if (self->wb.map)
		munmap(self->wb.map, self->wb.size);
	if (self->dmabuf >= 0)
		close(self->dmabuf);
	close(self->dev);
	free(self->mem);
}

TEST_F_TIMEOUT(vkms, scanout_shows_the_bytes_the_cpu_wrote, 300)
{
	uint32_t w = self->mode.hdisplay, h = self->mode.vdisplay, got = 0, want = 0;
	struct userptr_dmabuf_info info;
	long bad;
	int r;

	memset(self->wb.map, 0, self->wb.size);
	r = frame(self, self->fb, 1, 0);
	ASSERT_EQ(0, r) TH_LOG("first frame: %s", strerror(-r));
	bad = compare(&self->wb, w, h, 1, &got, &want);
	EXPECT_EQ(-1, bad) TH_LOG("frame 1: pixel %ld (%ld,%ld) is %#x, the client drew %#x",
				  bad, bad % w, bad / w, got, want);

	/* the CPU draws again into the same memory: no copy, no re-import */
	draw(self->mem, w, h, self->pitch, 2);
	memset(self->wb.map, 0, self->wb.size);
	r = frame(self, self->fb, 0, 0);
	ASSERT_EQ(0, r) TH_LOG("second frame: %s", strerror(-r));
	bad = compare(&self->wb, w, h, 2, &got, &want);
	EXPECT_EQ(-1, bad) TH_LOG("frame 2: pixel %ld is %#x, the client drew %#x",
				  bad, got, want);

	/* vkms is a static importer: the exporter pinned for it */
	ASSERT_EQ(0, udb_info(self->dev, self->dmabuf, &info));
	EXPECT_LT(0ULL, info.pinned_pages) TH_LOG("vkms imported without a pin?");

	/*
	 * The owner drops its pages (MADV_DONTNEED: its page tables change,
	 * it reads zeros now): the pinned pages stay for vkms, by design, and
	 * the next frame still shows the last pattern; the change is counted.
	 */
	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	EXPECT_EQ(0, self->mem[0]);
	memset(self->wb.map, 0, self->wb.size);
	r = frame(self, self->fb, 0, 0);
	ASSERT_EQ(0, r) TH_LOG("frame after MADV_DONTNEED: %s", strerror(-r));
	bad = compare(&self->wb, w, h, 2, &got, &want);
	EXPECT_EQ(-1, bad) TH_LOG("frame 3: pixel %ld is %#x, expected the pinned %#x",
				  bad, got, want);
	ASSERT_EQ(0, udb_info(self->dev, self->dmabuf, &info));
	EXPECT_LT(0ULL, info.pinned_invalidations);
}

TEST_HARNESS_MAIN
