// SPDX-License-Identifier: GPL-2.0
/*
 * A real importer nobody here wrote: vgem (drivers/gpu/drm/vgem), through
 * raw DRM ioctls (no libdrm). What the kernel sources say, and these tests
 * check:
 *
 *  - vgem imports with the GEM shmem helpers: a *static* attachment
 *    (dma_buf_attach(), no move_notify). 6.12 maps it at import
 *    (drm_gem_prime_import_dev(), DMA_BIDIRECTIONAL), 7.x attaches without
 *    mapping (drm_gem_shmem_prime_import_no_map()). Either way our exporter
 *    pins the whole buffer at attach (docs/design.md: static importers get
 *    the pin set) and the pinned pages never move: a CPU change is counted
 *    in pinned_invalidations, and any other static attachment shares the
 *    same pin set while vgem holds it.
 *  - vgem has no CPU access to an imported object of its own:
 *    DRM_IOCTL_MODE_MAP_DUMB refuses imported objects (EINVAL,
 *    drm_gem_dumb_map_offset()), and mmap of an imported shmem object is
 *    forwarded to the exporter (drm_gem_shmem_mmap() -> dma_buf_mmap()).
 *    PRIME_HANDLE_TO_FD hands back our own dma-buf. What "vgem sees" is
 *    therefore the pin set, which we read through dma_buf_vmap() (the
 *    reference importer's READ_VMAP), which serves the pinned pages while
 *    any static importer pins. Not through a static attachment of ours:
 *    on 6.12 both would map the pages DMA_BIDIRECTIONAL at once, which
 *    DMA-API debug reports as overlapping mappings (torture.c).
 *  - 6.12's import maps DMA_BIDIRECTIONAL, which a read-only buffer refuses
 *    (EPERM, docs/design.md known limits); 7.x imports it (no map).
 *  - vgem fences (VGEM_FENCE_ATTACH) land in our dma_resv; the mmu
 *    notifier waits for every fence (BOOKKEEP) up to 5 s before a CPU
 *    change proceeds: madvise(DONTNEED) blocks until another thread
 *    signals the fence, and an unsignalled fence costs 5 s and one
 *    fence_timeouts.
 *
 * Needs vgem loaded (modprobe vgem) and access to its /dev/dri/card*
 * (root); SKIPs otherwise.
 */
#include "common.h"
#include <dirent.h>
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <drm/vgem_drm.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NPAGES	16

static int open_vgem(void)
{
	char path[64], name[32];
	struct drm_version v;
	int i, fd;

	for (i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&v, 0, sizeof(v));
		memset(name, 0, sizeof(name));
		v.name = name;
		v.name_len = sizeof(name) - 1;
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(name, "vgem"))
			return fd;
		close(fd);
	}
	return -1;
}

static int prime_import(int drm, int fd, uint32_t *handle)
{
	struct drm_prime_handle p = { .fd = fd };

	if (ioctl(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p))
		return -errno;
	*handle = p.handle;
	return 0;
}

static int gem_close(int drm, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	return ioctl(drm, DRM_IOCTL_GEM_CLOSE, &c) ? -errno : 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

FIXTURE(vgem)
{
	int dev, imp, drm, dynamic;
	size_t ps, len;
	uint8_t *mem;
	int fd;
	uint32_t handle;
};

FIXTURE_SETUP(vgem)
{
	int ret;

	self->drm = open_vgem();
	if (self->drm < 0)
		SKIP(return, "no vgem device (modprobe vgem, run as root)");
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	self->imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->imp, 0);
	self->dynamic = kernel_is_dynamic(self->dev);
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->mem = map_anon(self->len);
	ASSERT_NE(NULL, self->mem);
	fill(self->mem, self->len, 1);
	self->fd = udb_create(self->dev, self->mem, self->len, 0);
	ASSERT_GE(self->fd, 0);
	ret = prime_import(self->drm, self->fd, &self->handle);
	ASSERT_EQ(0, ret) TH_LOG("PRIME_FD_TO_HANDLE: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(vgem)
{
	if (self->drm < 0)
		return;
	close(self->drm);	/* drops every handle, hence vgem's attachment */
	close(self->imp);
	close(self->fd);
	munmap(self->mem, self->len);
	close(self->dev);
}

static int read_dynamic(int dev, int imp, int fd, uint8_t *p, size_t len)
{
	int h = imp_attach(imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC |
			   UDB_IMPORTER_ATTACH_READONLY), ret;

	if (h < 0)
		return h;
	udb_settle(dev, fd);
	ret = imp_copy(imp, h, UDB_IMPORTER_READ, 0, p, len, NULL);
	imp_detach(imp, h);
	return ret;
}

TEST_F(vgem, import_pins_and_hands_back_our_dmabuf)
{
	struct userptr_dmabuf_info info;
	struct drm_prime_handle p = { 0 };
	struct drm_mode_map_dumb md = { 0 };
	struct stat a, b;
	uint32_t h2 = 0;
	uint8_t *m;

	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ(1u, info.attachments);
	EXPECT_EQ((uint64_t)NPAGES, info.pinned_pages) TH_LOG("vgem is a static importer: pinned");

	/* the same dma-buf imports to the same handle (prime cache) */
	ASSERT_EQ(0, prime_import(self->drm, self->fd, &h2));
	EXPECT_EQ(self->handle, h2);

	/* no CPU access of vgem's own to an imported object */
	md.handle = self->handle;
	EXPECT_EQ(-1, ioctl(self->drm, DRM_IOCTL_MODE_MAP_DUMB, &md));
	EXPECT_EQ(EINVAL, errno);

	/* exporting it again gives our dma-buf back */
	p.handle = self->handle;
	p.flags = DRM_CLOEXEC | DRM_RDWR;
	ASSERT_EQ(0, ioctl(self->drm, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p));
	ASSERT_EQ(0, fstat(p.fd, &a));
	ASSERT_EQ(0, fstat(self->fd, &b));
	EXPECT_EQ(b.st_ino, a.st_ino);
	EXPECT_EQ(0, udb_info(self->dev, p.fd, &info));
	/* and its mmap is ours: the owner's current bytes */
	m = mmap(NULL, self->len, PROT_READ, MAP_SHARED, p.fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, memcmp(m, self->mem, self->len));
	munmap(m, self->len);
	close(p.fd);

	/* closing the handle ends the import: attachment and pins go */
	ASSERT_EQ(0, gem_close(self->drm, self->handle));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ(0u, info.attachments);
	EXPECT_EQ(0ULL, info.pinned_pages);
}

/*
 * MAP_FIXED new pages and fork + COW under vgem's import: vgem's pages
 * (the pin set) keep the old bytes, dynamic importers and the dma-buf's
 * mmap follow the CPU (on kernels with dynamic importers), and once vgem
 * lets go a new static import pins the new pages.
 */
TEST_F(vgem, cpu_changes_under_a_pinned_import)
{
	struct userptr_dmabuf_info before, after;
	uint8_t *p = malloc(self->len), *m;
	pid_t pid;
	int st;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, imp_read_vmap(self->imp, self->fd, p, self->len));
	EXPECT_EQ(-1, check(p, self->len, 1));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &before));

	/* new pages at the same address */
	ASSERT_EQ(self->mem, mmap(self->mem, self->len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill(self->mem, self->len, 2);
	udb_settle(self->dev, self->fd);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &after));
	EXPECT_GT(after.pinned_invalidations, before.pinned_invalidations);
	ASSERT_EQ(0, imp_read_vmap(self->imp, self->fd, p, self->len));
	EXPECT_EQ(-1, check(p, self->len, 1)) TH_LOG("vgem's pinned pages must keep the old bytes");
	if (self->dynamic) {
		ASSERT_EQ(0, read_dynamic(self->dev, self->imp, self->fd, p, self->len));
		EXPECT_EQ(-1, check(p, self->len, 2)) TH_LOG("a dynamic importer follows the CPU");
		m = mmap(NULL, self->len, PROT_READ, MAP_SHARED, self->fd, 0);
		ASSERT_NE(MAP_FAILED, m);
		EXPECT_EQ(-1, check(m, self->len, 2)) TH_LOG("the dma-buf's mmap follows the CPU");
		munmap(m, self->len);
	}

	/* fork: the child writes its copy first, then the parent breaks COW */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		fill(self->mem, self->len, 3);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	fill(self->mem, self->len, 4);
	if (self->dynamic) {
		ASSERT_EQ(0, read_dynamic(self->dev, self->imp, self->fd, p, self->len));
		EXPECT_EQ(-1, check(p, self->len, 4));
	}
	ASSERT_EQ(0, imp_read_vmap(self->imp, self->fd, p, self->len));
	EXPECT_EQ(-1, check(p, self->len, 1));

	/* vgem lets go: the next import pins what the CPU has now */
	ASSERT_EQ(0, gem_close(self->drm, self->handle));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &after));
	EXPECT_EQ(0ULL, after.pinned_pages);
	ASSERT_EQ(0, prime_import(self->drm, self->fd, &self->handle));
	ASSERT_EQ(0, imp_read_vmap(self->imp, self->fd, p, self->len));
	EXPECT_EQ(-1, check(p, self->len, 4));
	free(p);
}

TEST_F(vgem, read_only_buffer)
{
	struct utsname u;
	uint32_t h = 0;
	int fd, ret;

	fd = udb_create(self->dev, self->mem, self->len,
			USERPTR_DMABUF_CREATE_READONLY);
	ASSERT_GE(fd, 0);
	ret = prime_import(self->drm, fd, &h);
	uname(&u);
	if (!strncmp(u.release, "6.", 2)) {
		/* 6.12 maps at import, DMA_BIDIRECTIONAL: refused */
		EXPECT_EQ(-EPERM, ret);
	} else {
		TH_LOG("%s: read-only import %s", u.release, ret ? strerror(-ret) : "works (no map at import)");
		if (!ret)
			EXPECT_EQ(0, gem_close(self->drm, h));
	}
	close(fd);
}

/*
 * The signaller is another process: a thread of ours would be stuck
 * behind the mmap_lock that madvise holds while the notifier waits for
 * the fence (a new thread faults on its stack), so the change would
 * always pay the 5 s timeout. Observed on 6.12: a signalling thread only
 * ran after madvise gave up. It is forked *before* the fence is attached:
 * fork() write-protects the owner's pages, itself a CPU change that waits
 * for the fence (observed: fork blocked 5 s, then the timeout also let
 * the madvise through unwaited, fence_timeouts 0 -> 2).
 */
TEST_F(vgem, cpu_change_waits_for_vgem_fence)
{
	struct drm_vgem_fence_attach fa = { .handle = self->handle,
					    .flags = VGEM_FENCE_WRITE };
	struct userptr_dmabuf_info a, b;
	double t0, t1, signalled_at = 0;
	int pfd[2], st;
	pid_t pid;

	int go[2];

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct drm_vgem_fence_signal sig = { 0 };
		double at;

		if (read(go[0], &sig.fence, sizeof(sig.fence)) != sizeof(sig.fence))
			_exit(1);
		usleep(1000000);
		at = now();
		if (ioctl(self->drm, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sig))
			at = -errno;
		if (write(pfd[1], &at, sizeof(at)) != sizeof(at))
			_exit(1);
		_exit(0);
	}
	udb_settle(self->dev, self->fd);
	ASSERT_EQ(0, ioctl(self->drm, DRM_IOCTL_VGEM_FENCE_ATTACH, &fa))
		TH_LOG("FENCE_ATTACH: %s", strerror(errno));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &a));
	ASSERT_EQ((ssize_t)sizeof(fa.out_fence), write(go[1], &fa.out_fence, sizeof(fa.out_fence)));
	t0 = now();
	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	t1 = now();
	ASSERT_EQ((ssize_t)sizeof(signalled_at), read(pfd[0], &signalled_at, sizeof(signalled_at)));
	waitpid(pid, &st, 0);
	close(pfd[0]);
	close(pfd[1]);
	close(go[0]);
	close(go[1]);
	ASSERT_GT(signalled_at, 0) TH_LOG("FENCE_SIGNAL: %s", strerror((int)-signalled_at));
	TH_LOG("madvise took %.3f s, returned %.3f s after the signal",
	       t1 - t0, t1 - signalled_at);
	EXPECT_GE(t1, signalled_at) TH_LOG("madvise returned before vgem's fence signalled");
	EXPECT_GT(t1 - t0, 0.8);
	EXPECT_LT(t1 - t0, 4.5);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &b));
	EXPECT_EQ(a.fence_timeouts, b.fence_timeouts);
}

/* An unsignalled vgem fence: the change goes ahead after 5 s, counted. */
TEST_F(vgem, unsignalled_fence_times_out)
{
	struct drm_vgem_fence_attach fa = { .handle = self->handle };
	struct drm_vgem_fence_signal sig = { 0 };
	struct userptr_dmabuf_info a, b;
	double t0, t1;

	udb_settle(self->dev, self->fd);
	ASSERT_EQ(0, ioctl(self->drm, DRM_IOCTL_VGEM_FENCE_ATTACH, &fa));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &a));
	t0 = now();
	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	t1 = now();
	TH_LOG("madvise with a stuck read fence took %.3f s", t1 - t0);
	/* vgem's own timer signals after 10 s; ours gives up at 5 s */
	EXPECT_GT(t1 - t0, 4.5);
	EXPECT_LT(t1 - t0, 9.5);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &b));
	EXPECT_EQ(a.fence_timeouts + 1, b.fence_timeouts);
	sig.fence = fa.out_fence;
	ioctl(self->drm, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sig);
}

TEST_HARNESS_MAIN
