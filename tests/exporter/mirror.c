// SPDX-License-Identifier: GPL-2.0
/*
 * Coherence and invalidation: the CPU writes, the reference importer reads
 * through its device mapping (and the other way round), and the bytes must
 * match, so a stale mapping is a failure, not a pass. Every CPU page-table
 * change listed in docs/design.md that the VM can produce has a case here.
 *
 * On kernels without dynamic importers (Debian's stock 6.12) every
 * attachment is pinned: the cases that expect the device to follow the CPU
 * are skipped there and the pinned semantics are checked instead.
 */
#include "common.h"
#include <linux/dma-buf.h>
#include <linux/userfaultfd.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/mempolicy.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NPAGES	64

static int g_dev = -1;

FIXTURE(mirror)
{
	int dev, imp, dynamic;
	size_t ps, len;
	uint8_t *mem;
	int fd, h;
};

FIXTURE_SETUP(mirror)
{
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	g_dev = self->dev;
	self->imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->imp, 0) TH_LOG("is udb_importer loaded?");
	self->dynamic = kernel_is_dynamic(self->dev);
	ASSERT_GE(self->dynamic, 0);
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->mem = map_anon(self->len);
	ASSERT_NE(NULL, self->mem);
	fill(self->mem, self->len, 1);
	self->fd = udb_create(self->dev, self->mem, self->len, 0);
	ASSERT_GE(self->fd, 0) TH_LOG("create: %s", strerror(-self->fd));
	self->h = imp_attach(self->imp, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(self->h, 0) TH_LOG("attach: %s", strerror(-self->h));
}

FIXTURE_TEARDOWN(mirror)
{
	close(self->imp);
	close(self->fd);
	munmap(self->mem, self->len);
	close(self->dev);
}

/*
 * Device view of the whole buffer must equal @seed's pattern. It first
 * waits for any pending refresh: between a CPU change and the importer's
 * notification lies the documented window (docs/design.md) in which the
 * importer may still use its old mapping. After it, old bytes are a bug.
 */
static long device_check(struct __test_metadata *_metadata, int imp, int fd,
			 int h, size_t len, uint32_t seed)
{
	uint8_t *p;
	long bad;
	int err;

	udb_settle(g_dev, fd);
	p = imp_read_all(imp, h, len, &err);
	if (!p) {
		TH_LOG("device read: %s", strerror(-err));
		return -2;
	}
	bad = check(p, len, seed);
	free(p);
	return bad;
}

/* The fixture's buffer, through the fixture's importer handle. */
#define EXPECT_DEVICE(seed) \
	EXPECT_EQ(-1, device_check(_metadata, self->imp, self->fd, self->h, \
				   self->len, seed))
#define ASSERT_DEVICE(seed) \
	ASSERT_EQ(-1, device_check(_metadata, self->imp, self->fd, self->h, \
				   self->len, seed))

TEST_F(mirror, cpu_writes_device_reads)
{
	EXPECT_DEVICE(1);
	/* CPU writes without any page-table change: same pages, visible */
	fill(self->mem, self->len, 2);
	EXPECT_DEVICE(2);
}

TEST_F(mirror, device_writes_cpu_reads)
{
	uint8_t *p = malloc(self->len);

	ASSERT_NE(NULL, p);
	fill(p, self->len, 3);
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_WRITE, 0, p,
			      self->len, NULL));
	EXPECT_EQ(-1, check(self->mem, self->len, 3));
	/* partial, unaligned device write */
	memset(p, 0xab, 100);
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_WRITE,
			      self->ps - 50, p, 100, NULL));
	EXPECT_EQ(0xab, self->mem[self->ps - 50]);
	EXPECT_EQ(0xab, self->mem[self->ps + 49]);
	free(p);
}

TEST_F(mirror, importer_bounds)
{
	uint8_t b[8];

	EXPECT_EQ(-EINVAL, imp_copy(self->imp, self->h, UDB_IMPORTER_READ,
				    self->len - 4, b, 8, NULL));
	EXPECT_EQ(-EINVAL, imp_copy(self->imp, self->h, UDB_IMPORTER_READ,
				    UINT64_MAX - 2, b, 8, NULL));
	EXPECT_EQ(-ENOENT, imp_copy(self->imp, 12345, UDB_IMPORTER_READ,
				    0, b, 8, NULL));
}

TEST_F(mirror, madvise_dontneed_then_cpu_write)
{
	struct userptr_dmabuf_info a, b;
	uint8_t *p;
	int err;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_DEVICE(1);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &a));

	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	/* the device sees the zero pages the CPU now has */
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, self->fd));
	p = imp_read_all(self->imp, self->h, self->len, &err);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-1, check_zero(p, self->len));
	free(p);

	ASSERT_EQ(0, udb_info(self->dev, self->fd, &b));
	EXPECT_GT(b.invalidations, a.invalidations);
	EXPECT_GT(b.generation, a.generation);

	/* writing faults in fresh pages: another change the device follows */
	fill(self->mem, self->len, 4);
	ASSERT_DEVICE(4);
}

TEST_F(mirror, importer_is_notified_and_remaps)
{
	struct udb_importer_copy c1, c2;
	uint8_t b[16];

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0, b,
			      sizeof(b), &c1));
	ASSERT_EQ(0, madvise(self->mem + 5 * self->ps, self->ps,
			     MADV_DONTNEED));
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, self->fd));
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0, b,
			      sizeof(b), &c2));
	EXPECT_GT(c2.invalidations, c1.invalidations);
	EXPECT_GT(c2.maps, c1.maps);
}

TEST_F(mirror, munmap_then_map_fixed)
{
	struct userptr_dmabuf_info info;
	uint8_t b[16];
	int i, ret;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_EQ(0, munmap(self->mem, self->len));
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ(-EFAULT, info.last_error);
	EXPECT_EQ(-EFAULT, imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0,
				    b, sizeof(b), NULL));

	/* new memory at the same address: the buffer mirrors it */
	ASSERT_EQ(self->mem, mmap(self->mem, self->len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				  -1, 0));
	fill(self->mem, self->len, 5);
	/* the failed map queued a refresh; it now finds the range again */
	for (i = 0; i < 100; i++) {
		ret = imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0, b,
			       sizeof(b), NULL);
		if (ret != -EFAULT)
			break;
		usleep(10000);
	}
	ASSERT_EQ(0, ret);
	EXPECT_DEVICE(5);
}

TEST_F(mirror, map_fixed_over_the_range)
{
	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_DEVICE(1);
	ASSERT_EQ(self->mem + self->ps,
		  mmap(self->mem + self->ps, self->ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill(self->mem, self->len, 6);
	EXPECT_DEVICE(6);
}

TEST_F(mirror, mremap_move_leaves_a_hole)
{
	void *to;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	to = mmap(NULL, self->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	ASSERT_NE(MAP_FAILED, to);
	ASSERT_EQ(to, mremap(self->mem, self->len, self->len,
			     MREMAP_MAYMOVE | MREMAP_FIXED, to));
	/* the buffer follows the address, which is now unmapped */
	EXPECT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	/* the moved memory still has the data; the fixture unmaps it */
	EXPECT_EQ(-1, check(to, self->len, 1));
	self->mem = to;
}

TEST_F(mirror, mremap_grow_keeps_pages)
{
	uint8_t *big, *p;
	int fd, h;

	/* room to grow in place: map twice the size, give back the top */
	big = map_anon(2 * self->len);
	ASSERT_NE(NULL, big);
	ASSERT_EQ(0, munmap(big + self->len, self->len));
	fill(big, self->len, 7);
	fd = udb_create(self->dev, big, self->len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, self->len, 7));

	p = mremap(big, self->len, 2 * self->len, 0);
	ASSERT_EQ(big, p);
	/* the mirrored part keeps its pages and keeps following the CPU */
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, self->len, 7));
	fill(big, 2 * self->len, 27);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, self->len, 27));
	if (self->dynamic) {
		ASSERT_EQ(0, madvise(big, self->len, MADV_DONTNEED));
		fill(big, self->len, 28);
		EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h,
					   self->len, 28));
	}
	imp_detach(self->imp, h);
	close(fd);
	munmap(big, 2 * self->len);
}

TEST_F(mirror, mprotect_read_only_then_back)
{
	uint8_t b[16];
	int i, ret;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_EQ(0, mprotect(self->mem, self->len, PROT_READ));
	/* a writable buffer cannot mirror a read-only range */
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	EXPECT_NE(0, imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0, b,
			      sizeof(b), NULL));
	ASSERT_EQ(0, mprotect(self->mem, self->len, PROT_READ | PROT_WRITE));
	for (i = 0; i < 100; i++) {
		ret = imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0, b,
			       sizeof(b), NULL);
		if (!ret)
			break;
		usleep(10000);
	}
	ASSERT_EQ(0, ret);
	fill(self->mem, self->len, 8);
	EXPECT_DEVICE(8);
}

/* After fork the owner's next write breaks COW: the device must follow. */
TEST_F(mirror, fork_parent_writes_first)
{
	int pipefd[2], status;
	pid_t pid;
	char c;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(pipefd[1]);
		/* hold the COW pages until the parent is done */
		if (read(pipefd[0], &c, 1) != 1)
			_exit(1);
		_exit(check(self->mem, self->len, 1) == -1 ? 0 : 2);
	}
	close(pipefd[0]);
	fill(self->mem, self->len, 9);
	EXPECT_DEVICE(9);
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	/* and the child still saw its own copy of the old data */
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(pipefd[1]);
}

/* The child writes first: its copy must never reach the device. */
TEST_F(mirror, fork_child_writes_first)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		fill(self->mem, self->len, 10);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_DEVICE(1);
	fill(self->mem, self->len, 11);
	if (self->dynamic)
		EXPECT_DEVICE(11);
}

/* Device writes go to the owner's pages, also right after a fork. */
TEST_F(mirror, device_write_after_fork)
{
	uint8_t *p = malloc(self->len);
	int status;
	pid_t pid;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_NE(NULL, p);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		usleep(200000);
		_exit(check(self->mem, self->len, 1) == -1 ? 0 : 3);
	}
	/* our first CPU write after fork breaks COW and refreshes */
	self->mem[0] ^= 1;
	self->mem[0] ^= 1;
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, self->fd));
	fill(p, self->len, 12);
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_WRITE, 0, p,
			      self->len, NULL));
	EXPECT_EQ(-1, check(self->mem, self->len, 12));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	free(p);
}

/*
 * The window between a CPU change and the importer's notification is
 * bounded: the refresh publishes well within a second even on TCG, and an
 * importer that maps during it is told to retry, never served stale pages.
 */
TEST_F(mirror, invalidation_window_is_short)
{
	struct userptr_dmabuf_info info;
	struct timespec t0, t1;
	double ms;
	int state;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, madvise(self->mem, self->ps, MADV_DONTNEED));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	state = udb_settle(self->dev, self->fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	TH_LOG("CPU change to published snapshot: %.2f ms", ms);
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, state);
	EXPECT_LT(ms, 1000.0);
	EXPECT_EQ(0ULL, info.fence_timeouts);
}

static int write_sysfs(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fputs(val, f) < 0 ? -1 : 0;
	if (fclose(f))
		ret = -1;
	return ret;
}

static long read_sysfs_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Migration between NUMA nodes (the VM has two): pages a device can reach
 * are pinned, as pin_user_pages() would pin them, and stay put while the
 * importer is attached; once it detaches, the snapshot holds nothing and
 * the pages move, and a new attachment follows them.
 */
TEST_F(mirror, move_pages_between_nodes)
{
	int nodes[NPAGES], status[NPAGES], i, round, moved = 0;
	void *pages[NPAGES];
	long ret;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	for (i = 0; i < NPAGES; i++) {
		pages[i] = self->mem + i * self->ps;
		nodes[i] = 1;
	}
	ret = syscall(SYS_move_pages, 0, NPAGES, pages, NULL, status, 0);
	if (ret || status[0] < 0)
		SKIP(return, "move_pages query failed");
	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "one NUMA node only");
	if (status[0] == 1)
		for (i = 0; i < NPAGES; i++)
			nodes[i] = 0;
	EXPECT_DEVICE(1);
	ret = syscall(SYS_move_pages, 0, NPAGES, pages, nodes, status,
		      MPOL_MF_MOVE);
	ASSERT_GE(ret, 0) TH_LOG("move_pages: %s", strerror(errno));
	for (moved = 0, i = 0; i < NPAGES; i++)
		moved += status[i] == nodes[i];
	TH_LOG("%d pages moved while the device could reach them", moved);
	EXPECT_EQ(0, moved);
	EXPECT_DEVICE(1);
	ASSERT_EQ(0, imp_detach(self->imp, self->h));
	/* a page may still sit in a CPU's LRU batch: a few rounds */
	for (round = 0; round < 10 && moved < NPAGES; round++) {
		ret = syscall(SYS_move_pages, 0, NPAGES, pages, nodes, status,
			      MPOL_MF_MOVE);
		ASSERT_GE(ret, 0) TH_LOG("move_pages: %s", strerror(errno));
		udb_settle(self->dev, self->fd);
		for (moved = 0, i = 0; i < NPAGES; i++)
			moved += status[i] == nodes[i];
	}
	TH_LOG("all %d pages on node %d after %d move_pages calls", moved,
	       nodes[0], round);
	EXPECT_EQ(NPAGES, moved);
	EXPECT_EQ(-1, check(self->mem, self->len, 1));
	self->h = imp_attach(self->imp, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(self->h, 0);
	EXPECT_DEVICE(1);
	fill(self->mem, self->len, 29);
	EXPECT_DEVICE(29);
}

/* Compaction migrates what it can; the device keeps seeing the right bytes. */
TEST_F(mirror, compaction)
{
	if (geteuid() != 0)
		SKIP(return, "compact_memory needs root");
	EXPECT_DEVICE(1);
	ASSERT_EQ(0, write_sysfs("/proc/sys/vm/compact_memory", "1"));
	EXPECT_DEVICE(1);
	fill(self->mem, self->len, 30);
	EXPECT_DEVICE(30);
}

/*
 * KSM merges identical pages of a buffer nobody is attached to
 * (write-protecting them first, which invalidates; KSM skips pinned pages,
 * as every attached buffer's are). An importer that attaches afterwards
 * pins and reads the merged pages.
 */
TEST_F(mirror, ksm_merge)
{
	const char *ksm = "/sys/kernel/mm/ksm/";
	struct userptr_dmabuf_info before, after;
	size_t len = 16 * self->ps;
	uint8_t *a, *b, *p;
	int fd, h, i, err;
	long shared = 0;

	if (geteuid() != 0 || access("/sys/kernel/mm/ksm/run", W_OK))
		SKIP(return, "KSM control needs root");
	if (!self->dynamic)
		SKIP(return, "a static attach maps 6.12's DMA_BIDIRECTIONAL: no read-only buffer");
	a = map_anon(len);
	b = map_anon(len);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	for (i = 0; i < 16; i++) {
		memset(a + i * self->ps, 0x30 + i, self->ps);
		memset(b + i * self->ps, 0x30 + i, self->ps);
	}
	fd = udb_create(self->dev, a, len, USERPTR_DMABUF_CREATE_READONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, udb_info(self->dev, fd, &before));
	ASSERT_EQ(0, madvise(a, len, MADV_MERGEABLE));
	ASSERT_EQ(0, madvise(b, len, MADV_MERGEABLE));
	write_sysfs("/sys/kernel/mm/ksm/sleep_millisecs", "10");
	write_sysfs("/sys/kernel/mm/ksm/pages_to_scan", "1000");
	ASSERT_EQ(0, write_sysfs("/sys/kernel/mm/ksm/run", "1"));
	for (i = 0; i < 500 && shared <= 0; i++) {
		usleep(20000);
		shared = read_sysfs_long("/sys/kernel/mm/ksm/pages_shared");
	}
	TH_LOG("%sksm: pages_shared %ld after %d ms", ksm, shared, i * 20);
	EXPECT_GT(shared, 0L) TH_LOG("KSM merged nothing");
	udb_settle(self->dev, fd);
	ASSERT_EQ(0, udb_info(self->dev, fd, &after));
	EXPECT_GT(after.invalidations, before.invalidations);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC |
		       UDB_IMPORTER_ATTACH_READONLY);
	ASSERT_GE(h, 0);
	p = imp_read_all(self->imp, h, len, &err);
	ASSERT_NE(NULL, p);
	for (i = 0; i < 16; i++)
		EXPECT_EQ(0x30 + i, p[i * self->ps + 7]);
	free(p);
	write_sysfs("/sys/kernel/mm/ksm/run", "2");
	imp_detach(self->imp, h);
	close(fd);
	munmap(a, len);
	munmap(b, len);
}

/*
 * userfaultfd: missing pages the monitor has not supplied cannot be
 * faulted by the exporter (EFAULT, not a hang); once supplied they can;
 * write-protecting them invalidates the buffer.
 */
TEST_F(mirror, userfaultfd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	struct uffdio_copy copy = { 0 };
	size_t len = 4 * self->ps;
	uint8_t *m, *src;
	int uffd, fd;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		SKIP(return, "no userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	m = map_anon(len);
	src = map_anon(len);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, src);
	reg.range.start = (uintptr_t)m;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));

	/* nobody answers the fault: a clear error, never a hang */
	EXPECT_EQ(-EFAULT, udb_create(self->dev, m, len, 0));

	fill(src, len, 31);
	copy.dst = (uintptr_t)m;
	copy.src = (uintptr_t)src;
	copy.len = len;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_COPY, &copy));
	fd = udb_create(self->dev, m, len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	{
		int h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);

		ASSERT_GE(h, 0);
		EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, len, 31));
		if (self->dynamic) {
			/* zap + missing again: the refresh cannot fault it */
			ASSERT_EQ(0, madvise(m, len, MADV_DONTNEED));
			EXPECT_EQ(USERPTR_DMABUF_STATE_FAULT,
				  udb_settle(self->dev, fd));
		}
		imp_detach(self->imp, h);
	}
	close(fd);
	close(uffd);
	munmap(m, len);
	munmap(src, len);
}

/* The tracepoints fire and name the buffer: create, invalidate, refresh, map. */
/* The trace buffer of tracefs at @t, NUL-terminated (malloc'd), or NULL. */
static char *read_trace(const char *t, size_t *len)
{
	char path[128], *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", t);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	buf = calloc(1, 1 << 20);
	if (buf)
		*len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	return buf;
}

TEST_F(mirror, tracepoints)
{
	const char *t = "/sys/kernel/tracing";
	char path[128], *buf;
	uint8_t tmp[8];
	size_t n;

	snprintf(path, sizeof(path), "%s/events/userptr_dmabuf/enable", t);
	if (geteuid() != 0 || access(path, W_OK)) {
		t = "/sys/kernel/debug/tracing";
		snprintf(path, sizeof(path), "%s/events/userptr_dmabuf/enable", t);
		if (geteuid() != 0 || access(path, W_OK))
			SKIP(return, "no tracefs");
	}
	snprintf(path, sizeof(path), "%s/trace", t);
	ASSERT_EQ(0, write_sysfs(path, ""));
	snprintf(path, sizeof(path), "%s/events/userptr_dmabuf/enable", t);
	ASSERT_EQ(0, write_sysfs(path, "1"));

	close(udb_create(self->dev, self->mem, self->ps, 0));
	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	EXPECT_EQ(-1, check_zero(self->mem, 64));
	udb_settle(self->dev, self->fd);
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_READ, 0, tmp,
			      sizeof(tmp), NULL));

	ASSERT_EQ(0, write_sysfs(path, "0"));
	buf = read_trace(t, &n);
	ASSERT_NE(NULL, buf);
	ASSERT_GT(n, 0UL);
	EXPECT_NE(NULL, strstr(buf, "udb_create: buf="));
	EXPECT_NE(NULL, strstr(buf, "udb_invalidate: buf="));
	EXPECT_NE(NULL, strstr(buf, "udb_refresh: buf="));
	EXPECT_NE(NULL, strstr(buf, "udb_map: buf="));
	free(buf);
}

/*
 * MADV_FREE: the pages may go at any time (they do under memory pressure);
 * writing again cancels that. Either way the device sees what the CPU has.
 * MADV_PAGEOUT: reclaims what it can (nothing for anonymous memory without
 * swap, as in the test VM); the device keeps seeing the CPU's bytes.
 */
/* A counter of /proc/vmstat, or -1. */
/*
 * MADV_PAGEOUT with swap (the plan adds a loop device): the pages are
 * written out and their PTEs become swap entries, so the refresh must
 * fault them back in; a device then reads what the CPU wrote before, and
 * later CPU writes as well. Reclaim writes out only pages nobody else
 * references, so the device mapping goes first (an importer that keeps its
 * mapping keeps the pages in memory). Pinned pages (stock) stay put.
 */
TEST_F(mirror, pageout_to_swap)
{
	long before, after = -1;
	int i;

	if (!have_swap())
		SKIP(return, "no swap (tests/vm/swap.sh adds some)");
	fill(self->mem, self->len, 33);
	if (self->dynamic)
		ASSERT_DEVICE(33);
	ASSERT_EQ(0, imp_detach(self->imp, self->h));
	before = vmstat("pswpout");
	ASSERT_GE(before, 0);
	/* a few tries: pages still in a CPU's LRU batch are not isolated */
	for (i = 0; i < 5 && after <= before; i++) {
		ASSERT_EQ(0, madvise(self->mem, self->len, MADV_PAGEOUT));
		after = vmstat("pswpout");
		if (after <= before)
			usleep(100000);
	}
	self->h = imp_attach(self->imp, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(self->h, 0);
	if (self->dynamic) {
		EXPECT_GT(after, before) TH_LOG("nothing was written to swap");
		EXPECT_DEVICE(33);
		EXPECT_EQ(-1, check(self->mem, self->len, 33));
		fill(self->mem, self->len, 34);
		EXPECT_DEVICE(34);
	}
	TH_LOG("%ld pages written to swap in %d tries", after - before, i);
}

TEST_F(mirror, madvise_free_and_pageout)
{
	uint8_t *p;
	int err;

	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_FREE));
	p = imp_read_all(self->imp, self->h, self->len, &err);
	ASSERT_NE(NULL, p) TH_LOG("read: %s", strerror(-err));
	/* each page is either still the old data or a fresh zero page */
	EXPECT_TRUE(check(p, self->ps, 1) == -1 || check_zero(p, self->ps) == -1);
	free(p);
	fill(self->mem, self->len, 32);
	if (self->dynamic)
		EXPECT_DEVICE(32);

#ifdef MADV_PAGEOUT
	if (madvise(self->mem, self->len, MADV_PAGEOUT) == 0 && self->dynamic) {
		EXPECT_EQ(-1, check(self->mem, self->len, 32));
		EXPECT_DEVICE(32);
	}
#endif
}

/*
 * The owner maps the buffer's own dma-buf over the mirrored range: the
 * range is now a PFN map, the buffer goes to FAULT once and stays quiet
 * (no refresh loop feeding on its own zaps).
 */
TEST_F(mirror, own_dmabuf_mapped_over_range)
{
	struct userptr_dmabuf_info a, b;
	void *m;

	m = mmap(self->mem, self->len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, self->fd, 0);
	ASSERT_EQ((void *)self->mem, m);
	if (!self->dynamic)
		return;
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &a));
	EXPECT_EQ(-EFAULT, a.last_error);
	usleep(200000);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &b));
	EXPECT_EQ(a.invalidations, b.invalidations);
	EXPECT_EQ(a.generation, b.generation);
}

/*
 * A file of @len bytes in the directory named by $@env, mapped shared and
 * writable; NULL (and why in @why) when the harness gave no such
 * directory or it cannot do that.
 */
static uint8_t *map_shared_file(const char *env, size_t len, int *f,
				char *why, size_t whylen)
{
	const char *dir = getenv(env);
	char path[256];
	uint8_t *m;
	void *z;

	if (!dir || !*dir) {
		snprintf(why, whylen, "%s not set", env);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/udb-file-%d", dir, getpid());
	*f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*f < 0) {
		snprintf(why, whylen, "cannot create %s: %s", path,
			 strerror(errno));
		return NULL;
	}
	unlink(path);
	z = calloc(1, len);
	/* written out, not ftruncate()d: blocks are allocated and clean */
	if (!z || pwrite(*f, z, len, 0) != (ssize_t)len || fsync(*f)) {
		snprintf(why, whylen, "cannot write %s: %s", path,
			 strerror(errno));
		free(z);
		close(*f);
		return NULL;
	}
	free(z);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *f, 0);
	if (m == MAP_FAILED) {
		snprintf(why, whylen, "no shared mmap in %s", dir);
		close(*f);
		return NULL;
	}
	return m;
}

/*
 * ramfs: a shared file mapping without writeback. Writable buffers over
 * it work on the dynamic path; a long-term pin (static importers) is
 * refused with a clear errno, as GUP refuses it.
 */
TEST_F(mirror, shared_file_mapping_is_writable)
{
	uint8_t *m, *p = malloc(self->len), *r = malloc(self->len);
	char why[300];
	int f, fd, h;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, r);
	m = map_shared_file("UDB_SCRATCH", self->len, &f, why, sizeof(why));
	if (!m) {
		free(p);
		free(r);
		SKIP(return, "%s", why);
	}
	fill(m, self->len, 0x11);
	fd = udb_create(self->dev, m, self->len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	EXPECT_EQ(-EOPNOTSUPP, imp_attach(self->imp, fd, 0));
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	if (!self->dynamic) {
		/* every attachment pins on this kernel */
		EXPECT_EQ(-EOPNOTSUPP, h);
	} else {
		ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
		EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h,
					   self->len, 0x11));
		fill(p, self->len, 0x12);
		ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, p,
				      self->len, NULL));
		ASSERT_EQ((ssize_t)self->len, pread(f, r, self->len, 0));
		EXPECT_EQ(-1, check(r, self->len, 0x12));
		imp_detach(self->imp, h);
	}
	close(fd);
	munmap(m, self->len);
	close(f);
	free(p);
	free(r);
}

/* What the disk holds: O_DIRECT bypasses the page cache. */
static int read_disk(int f, void *buf, size_t len)
{
	char path[64];
	int d;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", f);
	d = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (d < 0)
		return -errno;
	n = pread(d, buf, len, 0);
	close(d);
	return n == (ssize_t)len ? 0 : -EIO;
}

/*
 * ext4 on a loop device: the dirty-tracking problem long-term pins have.
 * The device writes, msync() writes back, and O_DIRECT must read the
 * device's bytes from the disk. Writeback cleans the pages (mkclean, which
 * invalidates the buffer); a second device write must make them dirty
 * again, or the second msync() leaves the old bytes on the disk. With a
 * pin (or a refresh that does not fault for write) that second round is
 * what fails.
 */
TEST_F(mirror, disk_file_device_writes_reach_the_disk)
{
	struct userptr_dmabuf_info before, after;
	uint8_t *m, *p, *r;
	char why[300];
	int f, fd, h, round;
	uint8_t *cpu;

	m = map_shared_file("UDB_DISK", self->len, &f, why, sizeof(why));
	if (!m)
		SKIP(return, "%s", why);
	p = aligned_alloc(self->ps, self->len);
	r = aligned_alloc(self->ps, self->len);
	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, r);
	fd = udb_create(self->dev, m, self->len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	EXPECT_EQ(-EOPNOTSUPP, imp_attach(self->imp, fd, 0));
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);

	if (self->dynamic) {
		ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
		for (round = 0; round < 3; round++) {
			ASSERT_EQ(0, udb_info(self->dev, fd, &before));
			fill(p, self->len, 0x30 + round);
			ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE,
					      0, p, self->len, NULL));
			ASSERT_EQ(0, msync(m, self->len, MS_SYNC));
			ASSERT_EQ(0, read_disk(f, r, self->len));
			EXPECT_EQ(-1, check(r, self->len, 0x30 + round))
				TH_LOG("round %d: the disk misses the device's write",
				       round);
			/* writeback's mkclean invalidated the buffer */
			udb_settle(self->dev, fd);
			ASSERT_EQ(0, udb_info(self->dev, fd, &after));
			EXPECT_GT(after.invalidations, before.invalidations);
			EXPECT_EQ(-1, check(m, self->len, 0x30 + round));
		}
		/* and what the CPU writes there is what the device reads */
		fill(m, self->len, 0x40);
		EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h,
					   self->len, 0x40));
		imp_detach(self->imp, h);
	} else {
		EXPECT_EQ(-EOPNOTSUPP, h);
	}

	/* the CPU mapping of the dma-buf writes through to the disk too */
	cpu = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, cpu);
	for (round = 0; round < 2; round++) {
		fill(cpu, self->len, 0x50 + round);
		ASSERT_EQ(0, msync(m, self->len, MS_SYNC));
		ASSERT_EQ(0, read_disk(f, r, self->len));
		EXPECT_EQ(-1, check(r, self->len, 0x50 + round))
			TH_LOG("round %d: the disk misses the dma-buf mmap's write",
			       round);
		udb_settle(self->dev, fd);
	}
	munmap(cpu, self->len);

	/* truncation takes the pages away */
	if (self->dynamic) {
		ASSERT_EQ(0, ftruncate(f, 0));
		EXPECT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, fd));
	}
	close(fd);
	munmap(m, self->len);
	close(f);
	free(p);
	free(r);
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 +
	       (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Device work that never finishes must not hang the CPU: the notifier
 * waits 5 s for the buffer's fences, counts a timeout, and for the next
 * 5 s does not wait again (an munmap over many ranges pays it once).
 */
TEST_F(mirror, stuck_fence_times_out)
{
	struct sw_sync_create_fence_data cf = { .value = 1, .name = "udb" };
	struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE };
	struct userptr_dmabuf_info info;
	struct timespec t0;
	uint32_t one = 1;
	double ms;
	int tl;

	tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (tl < 0)
		SKIP(return, "no sw_sync (root, debugfs, CONFIG_SW_SYNC)");
	ASSERT_EQ(0, ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf));
	im.fd = cf.fence;
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, madvise(self->mem, self->ps, MADV_DONTNEED));
	ms = elapsed_ms(&t0);
	TH_LOG("madvise with an unsignalled fence took %.0f ms", ms);
	EXPECT_GT(ms, 4000.0);
	EXPECT_LT(ms, 20000.0);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ(1ULL, info.fence_timeouts);

	/* within the next 5 s: no second wait */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, madvise(self->mem + self->ps, self->ps, MADV_DONTNEED));
	EXPECT_LT(elapsed_ms(&t0), 2000.0);

	/* the device "finishes": everything is normal again */
	ASSERT_EQ(0, ioctl(tl, SW_SYNC_IOC_INC, &one));
	fill(self->mem, self->len, 34);
	EXPECT_DEVICE(34);
	close(cf.fence);
	close(tl);
}

/*
 * Writeback write-protects a shared file mapping's pages in place
 * (folio_mkclean(), MMU_NOTIFY_PROTECTION_PAGE): the notifier must not
 * wait for the buffer's fences there, or any user with a fence of their
 * own stalls the filesystem (ext4 calls it inside a journal handle). The
 * buffer is still invalidated (the refresh dirties the pages again), and
 * a real change of the same pages still waits.
 */
TEST_F(mirror, writeback_does_not_wait_for_device_work)
{
	struct sw_sync_create_fence_data cf = { .value = 1, .name = "udb" };
	struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE };
	struct userptr_dmabuf_info before, after;
	struct timespec t0;
	uint32_t one = 1;
	uint8_t *m, *r;
	char why[300];
	int tl, f, fd;
	double ms;

	tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (tl < 0)
		SKIP(return, "no sw_sync (root, debugfs, CONFIG_SW_SYNC)");
	m = map_shared_file("UDB_DISK", self->len, &f, why, sizeof(why));
	if (!m) {
		close(tl);
		SKIP(return, "%s", why);
	}
	r = aligned_alloc(self->ps, self->len);
	ASSERT_NE(NULL, r);
	fd = udb_create(self->dev, m, self->len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	ASSERT_EQ(0, ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf));
	im.fd = cf.fence;
	ASSERT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im));

	ASSERT_EQ(0, udb_info(self->dev, fd, &before));
	fill(m, self->len, 0x61);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, msync(m, self->len, MS_SYNC));
	ms = elapsed_ms(&t0);
	TH_LOG("msync with an unsignalled fence in the buffer took %.0f ms", ms);
	EXPECT_LT(ms, 2500.0);
	ASSERT_EQ(0, read_disk(f, r, self->len));
	EXPECT_EQ(-1, check(r, self->len, 0x61));
	udb_settle(self->dev, fd);
	ASSERT_EQ(0, udb_info(self->dev, fd, &after));
	EXPECT_GT(after.invalidations, before.invalidations);
	EXPECT_EQ(0ULL, after.fence_timeouts);

	/* dropping the pages is a real change: that waits, and times out */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, madvise(m, self->ps, MADV_DONTNEED));
	ms = elapsed_ms(&t0);
	EXPECT_GT(ms, 4000.0) TH_LOG("MADV_DONTNEED took %.0f ms", ms);
	ASSERT_EQ(0, udb_info(self->dev, fd, &after));
	EXPECT_EQ(1ULL, after.fence_timeouts);

	ASSERT_EQ(0, ioctl(tl, SW_SYNC_IOC_INC, &one));
	close(cf.fence);
	close(tl);
	close(fd);
	munmap(m, self->len);
	close(f);
	free(r);
}

/*
 * Only the owner's own changes of its mapping wait for the buffer's device
 * work: any fd holder can add a fence, and memory safety never depends on
 * the wait, so another process's change (here a hole punched into shared
 * memory by a child, which zaps the owner's PTEs; reclaim, compaction and
 * khugepaged are the same case) must not stall for the fence timeout. The
 * buffer is still invalidated; the owner's own change of the same memory
 * still waits and times out.
 */
TEST_F(mirror, another_process_change_does_not_wait_for_device_work)
{
	struct sw_sync_create_fence_data cf = { .value = 1, .name = "udb" };
	struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE };
	struct userptr_dmabuf_info before, after;
	struct timespec t0;
	uint32_t one = 1;
	int tl, fd, pipefd[2], status;
	double ms, child_ms = -1;
	uint8_t *m;
	pid_t pid;

	tl = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (tl < 0)
		SKIP(return, "no sw_sync (root, debugfs, CONFIG_SW_SYNC)");
	m = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	fill(m, self->len, 0x63);
	fd = udb_create(self->dev, m, self->len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	ASSERT_EQ(0, ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &cf));
	im.fd = cf.fence;
	ASSERT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im));
	ASSERT_EQ(0, udb_info(self->dev, fd, &before));

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (madvise(m + self->ps, self->ps, MADV_REMOVE))
			_exit(1);
		ms = elapsed_ms(&t0);
		_exit(write(pipefd[1], &ms, sizeof(ms)) == sizeof(ms) ? 0 : 2);
	}
	close(pipefd[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the child's MADV_REMOVE failed");
	EXPECT_EQ((ssize_t)sizeof(child_ms), read(pipefd[0], &child_ms, sizeof(child_ms)));
	close(pipefd[0]);
	TH_LOG("another process's hole punch took %.0f ms", child_ms);
	EXPECT_LT(child_ms, 2500.0) TH_LOG("another process waited for the buffer's fence");
	EXPECT_EQ(-1, check_zero(m + self->ps, self->ps));
	ASSERT_EQ(0, udb_info(self->dev, fd, &after));
	EXPECT_GT(after.invalidations, before.invalidations);
	EXPECT_EQ(0ULL, after.fence_timeouts);

	/* the owner's own change waits for the fence, and times out */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, madvise(m + 2 * self->ps, self->ps, MADV_REMOVE));
	ms = elapsed_ms(&t0);
	EXPECT_GT(ms, 4000.0) TH_LOG("the owner's MADV_REMOVE took %.0f ms", ms);
	ASSERT_EQ(0, udb_info(self->dev, fd, &after));
	EXPECT_EQ(1ULL, after.fence_timeouts);

	ASSERT_EQ(0, ioctl(tl, SW_SYNC_IOC_INC, &one));
	close(cf.fence);
	close(tl);
	close(fd);
	munmap(m, self->len);
}

/*
 * A shared mapping of something other than a regular file (here io_uring's
 * rings: pages a driver inserted, with no filesystem behind them) cannot
 * back a writable buffer: whatever such a driver does on writes (a
 * page_mkwrite of its own, dirty tracking) the refresh and unmap would
 * get wrong. Read-only is fine.
 */
TEST_F(mirror, writable_buffer_over_driver_mapping_refused)
{
	struct io_uring_params p = { 0 };
	size_t len;
	void *sq;
	int ring, fd;

	ring = syscall(__NR_io_uring_setup, 4, &p);
	if (ring < 0)
		SKIP(return, "no io_uring: %s", strerror(errno));
	len = (p.sq_off.array + p.sq_entries * sizeof(uint32_t) + self->ps - 1) &
	      ~(self->ps - 1);
	sq = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  ring, IORING_OFF_SQ_RING);
	ASSERT_NE(MAP_FAILED, sq) TH_LOG("mmap of the rings: %s", strerror(errno));
	EXPECT_EQ(-EOPNOTSUPP, udb_create(self->dev, sq, len, 0));
	fd = udb_create(self->dev, sq, len, USERPTR_DMABUF_CREATE_READONLY);
	EXPECT_GE(fd, 0) TH_LOG("read-only create: %s", strerror(-fd));
	if (fd >= 0)
		close(fd);
	munmap(sq, len);
	close(ring);
}

struct hammer {
	uint8_t *mem;
	size_t len;
	volatile int stop;
	unsigned long rounds;
};

static void *hammer_range(void *arg)
{
	struct hammer *hm = arg;

	while (!hm->stop) {
		madvise(hm->mem, hm->len, MADV_DONTNEED);
		hm->rounds++;
	}
	return NULL;
}

/*
 * Invalidations that keep colliding with the refresh make it postpone and
 * retry, not give up: the range is still there, so the buffer must never
 * turn FAULT (CPU writers of the dma-buf would get SIGBUS, readers zeros
 * for good), and it is VALID with the right bytes once the storm ends.
 * The storm: the whole range dropped in a tight loop for 5 s, so every
 * pass of the refresh, which must fault all of it again, collides with
 * the next drop.
 */
TEST_F(mirror, colliding_invalidations_never_fault)
{
	struct userptr_dmabuf_info info;
	struct hammer hm = { 0 };
	struct timespec t0;
	size_t len = 16UL << 20;
	unsigned long polls = 0, faults = 0, busy = 0;
	long long postponed;
	pthread_t th;
	uint8_t *mem;
	int fd, h;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 0x21);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));

	hm.mem = mem;
	hm.len = len;
	ASSERT_EQ(0, pthread_create(&th, NULL, hammer_range, &hm));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (elapsed_ms(&t0) < 5000.0) {
		ASSERT_EQ(0, udb_info(self->dev, fd, &info));
		polls++;
		faults += info.state == USERPTR_DMABUF_STATE_FAULT;
		busy += info.state == USERPTR_DMABUF_STATE_STALE &&
			info.last_error == -EBUSY;
		usleep(1000);
	}
	hm.stop = 1;
	pthread_join(th, NULL);
	postponed = debugfs_stat(fd, "refresh_postponed");
	TH_LOG("%lu invalidation rounds, %lu polls, %lu saw FAULT, %lu saw a postponed refresh, debugfs: %lld postponed",
	       hm.rounds, polls, faults, busy, postponed);
	EXPECT_EQ(0UL, faults);
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	fill(mem, len, 0x22);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, len, 0x22));
	imp_detach(self->imp, h);
	close(fd);
	munmap(mem, len);
	/* (a SKIP would hide the failures above: only when there are none) */
	if (!busy && !faults)
		SKIP(return, "the storm never made a refresh give up for a while");
}

/*
 * The non-blockable notifier path (the OOM reaper's): process_mrelease()
 * reaps a killed owner's memory with non-blocking mmu notifiers. The
 * buffer must go DEAD cleanly and the tracepoint shows blockable=0.
 */
TEST_F(mirror, oom_reap_nonblocking)
{
	const char *t = "/sys/kernel/tracing";
	char path[128], *trace = NULL;
	int attempt, reaped = 0;

	if (geteuid() != 0)
		SKIP(return, "needs root (tracing, process_mrelease on others)");
	snprintf(path, sizeof(path), "%s/events/userptr_dmabuf/udb_invalidate/enable", t);
	if (access(path, W_OK)) {
		t = "/sys/kernel/debug/tracing";
		snprintf(path, sizeof(path), "%s/events/userptr_dmabuf/udb_invalidate/enable", t);
	}
	if (access(path, W_OK))
		SKIP(return, "no tracefs");

	for (attempt = 0; attempt < 20 && !reaped; attempt++) {
		int sv[2], pipefd[2], status, fd = -1, pidfd, h;
		char cbuf[CMSG_SPACE(sizeof(int))], x;
		struct iovec iov = { .iov_base = &x, .iov_len = 1 };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *cm;
		pid_t pid;

		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
		ASSERT_EQ(0, pipe(pipefd));
		pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			uint8_t *m = map_anon(self->len);
			volatile unsigned long spin = 0;
			int cfd;

			/* never outlive a failed test (it holds our fds) */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			fill(m, self->len, 35);
			cfd = udb_create(self->dev, m, self->len, 0);
			if (cfd < 0)
				_exit(1);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &cfd, sizeof(int));
			if (sendmsg(sv[1], &msg, 0) != 1)
				_exit(2);
			/* stay alive (and running) until killed */
			for (;;)
				spin++;
		}
		ASSERT_EQ(1, recvmsg(sv[0], &msg, 0));
		cm = CMSG_FIRSTHDR(&msg);
		ASSERT_NE(NULL, cm);
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
		ASSERT_GE(h, 0);
		ASSERT_EQ(-1, device_check(_metadata, self->imp, fd, h,
					   self->len, 35));

		snprintf(path, sizeof(path), "%s/trace", t);
		write_sysfs(path, "");
		snprintf(path, sizeof(path), "%s/events/userptr_dmabuf/udb_invalidate/enable", t);
		ASSERT_EQ(0, write_sysfs(path, "1"));
		pidfd = syscall(434 /* pidfd_open */, pid, 0);
		ASSERT_GE(pidfd, 0);
		kill(pid, SIGKILL);
		if (syscall(448 /* process_mrelease */, pidfd, 0) == 0)
			reaped = 1;
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status));
		write_sysfs(path, "0");

		EXPECT_EQ(USERPTR_DMABUF_STATE_DEAD, udb_settle(self->dev, fd));
		/* pinned importers keep the (safe, now unowned) pages */
		EXPECT_EQ(self->dynamic ? -ENODEV : 0,
			  imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, &x, 1,
				   NULL));
		if (reaped) {
			size_t n;

			trace = read_trace(t, &n);
			ASSERT_NE(NULL, trace);
		}
		imp_detach(self->imp, h);
		close(pidfd);
		close(fd);
		close(sv[0]);
		close(sv[1]);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	TH_LOG("process_mrelease reaped the owner on attempt %d", attempt);
	ASSERT_TRUE(reaped);
	EXPECT_NE(NULL, strstr(trace, "blockable=0")) TH_LOG("trace: %.400s", trace);
	free(trace);
}

/* Another process maps the dma-buf and sees and changes the owner's bytes. */
TEST_F(mirror, mmap_in_another_process)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		uint8_t *m = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
				  MAP_SHARED, self->fd, 0);

		if (m == MAP_FAILED)
			_exit(1);
		if (check(m, self->len, 1) != -1)
			_exit(2);
		fill(m, self->len, 13);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* the child's writes landed in the owner's memory... */
	EXPECT_EQ(-1, check(self->mem, self->len, 13));
	/* ...and the device sees them */
	EXPECT_DEVICE(13);
}

/* A CPU mapping of the dma-buf follows the owner's page-table changes. */
TEST_F(mirror, mmap_follows_invalidation)
{
	uint8_t *m;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	m = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(-1, check(m, self->len, 1));
	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	/* stale PTEs are zapped by the refresh: wait for it (the window) */
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, self->fd));
	EXPECT_EQ(-1, check_zero(m, self->len));
	fill(self->mem, self->len, 14);
	EXPECT_EQ(-1, check(m, self->len, 14));
	fill(m, self->len, 15);
	EXPECT_EQ(-1, check(self->mem, self->len, 15));
	/* offset mapping */
	munmap(m, self->len);
	m = mmap(NULL, self->ps, PROT_READ, MAP_SHARED, self->fd,
		 3 * self->ps);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, memcmp(m, self->mem + 3 * self->ps, self->ps));
	munmap(m, self->ps);
	/* private and out-of-range mappings are refused */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, self->ps, PROT_READ, MAP_PRIVATE,
				   self->fd, 0));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * self->ps, PROT_READ, MAP_SHARED,
				   self->fd, self->len - self->ps));
}

/*
 * A reader of a CPU mapping of the dma-buf (a compositor sampling a
 * client's buffer) must not die of SIGBUS when the owner unmaps the range:
 * it reads zeros, a write is SIGBUS, and once the range is mapped again
 * the reader sees the new pages within the recheck period (100 ms).
 */
TEST_F(mirror, unmapped_range_reads_zeros)
{
	int status, i;
	uint8_t *m;
	pid_t pid;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	m = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(-1, check(m, self->len, 1));
	ASSERT_EQ(0, munmap(self->mem, self->len));
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	EXPECT_EQ(-1, check_zero(m, self->len));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* ASan reports SIGBUS itself; the test wants the signal */
		signal(SIGBUS, SIG_DFL);
		m[self->ps] = 1;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGBUS, WTERMSIG(status));

	/* nothing tells the exporter; the reader's next faults find it */
	ASSERT_EQ(self->mem, mmap(self->mem, self->len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				  -1, 0));
	fill(self->mem, self->len, 31);
	for (i = 0; i < 200; i++) {
		if (check(m, self->len, 31) == -1)
			break;
		usleep(10000);
	}
	EXPECT_GT(200, i) TH_LOG("the mapping still reads zeros after 2 s");
	TH_LOG("new pages visible after %d ms", i * 10);
	/* and it is writable again */
	fill(m, self->len, 32);
	EXPECT_EQ(-1, check(self->mem, self->len, 32));
	EXPECT_DEVICE(32);
	munmap(m, self->len);
}

/*
 * DMA_BUF_IOCTL_SYNC is where a process says it touches the memory: on a
 * FAULT buffer whose range is mapped again it refreshes at once, so the
 * CPU mappings (and importers) follow before the ioctl returns.
 */
TEST_F(mirror, sync_ioctl_catches_up)
{
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE,
	};
	struct userptr_dmabuf_info info;
	uint8_t *m;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	m = mmap(NULL, self->len, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, munmap(self->mem, self->len));
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	/* still nothing there: the errno says so */
	EXPECT_EQ(-1, ioctl(self->fd, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, check_zero(m, self->len));

	ASSERT_EQ(self->mem, mmap(self->mem, self->len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				  -1, 0));
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_SYNC, &sync));
	fill(self->mem, self->len, 33);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE;
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_SYNC, &sync));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ((__u32)USERPTR_DMABUF_STATE_VALID, info.state);
	/* no waiting: the zero pages were replaced before the ioctl returned */
	EXPECT_EQ(-1, check(m, self->len, 33));
	EXPECT_DEVICE(33);
	munmap(m, self->len);
}

/*
 * The newest KERNEL-usage fence in the buffer's dma_resv, as the dma-buf
 * core's debugfs bufinfo lists it: its seqno, 0 if there is none, -1 if
 * bufinfo cannot be read or does not list the buffer. 6.12 prints
 * "\tkernel fence:DRIVER TIMELINE seq N [un]signalled", 7.x
 * "\tkernel fence:CONTEXT:N ... [un]signalled".
 */
static long long kernel_fence_seqno(int fd)
{
	unsigned long long ino, seq, ctx;
	long long best = -1;
	char line[512], name[64], tl[64];
	struct stat st;
	int in = 0;
	FILE *f;

	if (fstat(fd, &st))
		return -1;
	f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] != '\t') {
			/* size flags mode count exporter ino name */
			in = sscanf(line, "%*s %*s %*s %*s %63s %llu", name,
				    &ino) == 2 && ino == (unsigned long long)st.st_ino;
			if (in && best < 0)
				best = 0;
			continue;
		}
		if (!in || strncmp(line, "\tkernel fence:", 14))
			continue;
		if (sscanf(line + 14, "%63s %63s seq %llu", name, tl, &seq) != 3 &&
		    sscanf(line + 14, "%llu:%llu", &ctx, &seq) != 2)
			continue;
		if ((long long)seq > best)
			best = seq;
	}
	fclose(f);
	return best;
}

/*
 * Each publish adds a DMA_RESV_USAGE_KERNEL fence that dynamic importers
 * wait for before they use a new mapping (the rule of
 * drivers/infiniband/core/umem_dmabuf.c): after a CPU change and its
 * refresh there must be a newer one.
 */
TEST_F(mirror, refresh_adds_a_kernel_fence)
{
	long long before, after;

	before = kernel_fence_seqno(self->fd);
	if (before < 0)
		SKIP(return, "no dma_buf/bufinfo (root, debugfs)");
	EXPECT_GT(before, 0) TH_LOG("no KERNEL fence after the first refresh");
	ASSERT_EQ(0, madvise(self->mem, self->ps, MADV_DONTNEED));
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, self->fd));
	after = kernel_fence_seqno(self->fd);
	TH_LOG("KERNEL fence seqno %lld before, %lld after the change", before,
	       after);
	EXPECT_GT(after, before);
}

/* Per-buffer statistics in debugfs follow INFO and vanish with the buffer. */
TEST_F(mirror, debugfs_stats)
{
	struct userptr_dmabuf_info info;
	struct stat st;
	int fd;

	if (geteuid())
		SKIP(return, "debugfs is root's");
	if (access("/sys/kernel/debug/userptr_dmabuf", F_OK))
		mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	ASSERT_EQ(0, access("/sys/kernel/debug/userptr_dmabuf", F_OK));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ((long long)info.generation,
		  debugfs_stat(self->fd, "generation"));
	EXPECT_EQ((long long)self->len, debugfs_stat(self->fd, "size"));
	EXPECT_EQ(1, debugfs_stat(self->fd, "attachments"));
	EXPECT_EQ(getpid(), debugfs_stat(self->fd, "owner_pid"));
	EXPECT_EQ((long long)(uintptr_t)self->mem,
		  debugfs_stat(self->fd, "range0"));
	ASSERT_EQ(0, madvise(self->mem, self->ps, MADV_DONTNEED));
	udb_settle(self->dev, self->fd);
	EXPECT_LE((long long)info.invalidations + 1,
		  debugfs_stat(self->fd, "invalidations"));

	/* a second buffer gets its own block, gone after close */
	fd = udb_create(self->dev, self->mem, self->ps, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((long long)self->ps, debugfs_stat(fd, "size"));
	EXPECT_EQ((long long)self->len, debugfs_stat(self->fd, "size"));
	close(fd);
	EXPECT_EQ(-1, debugfs_stat_ino((unsigned long)st.st_ino, "size"));
	EXPECT_EQ((long long)self->len, debugfs_stat(self->fd, "size"));
}

/* Shared file memory: device writes reach the page cache and read(2). */
TEST_F(mirror, memfd_device_write_reaches_page_cache)
{
	int mfd, fd, h;
	uint8_t *m, *p, *r;

	mfd = memfd_create("udb-test", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, self->len));
	m = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, m);
	fd = udb_create(self->dev, m, self->len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);

	p = malloc(self->len);
	r = malloc(self->len);
	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, r);
	fill(p, self->len, 16);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, p,
			      self->len, NULL));
	ASSERT_EQ(0, msync(m, self->len, MS_SYNC));
	ASSERT_EQ((ssize_t)self->len, pread(mfd, r, self->len, 0));
	EXPECT_EQ(-1, check(r, self->len, 16));

	/* and pwrite(2) is what the device reads */
	fill(r, self->len, 17);
	ASSERT_EQ((ssize_t)self->len, pwrite(mfd, r, self->len, 0));
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, self->len, 17));

	/* truncation takes the pages away */
	if (self->dynamic) {
		ASSERT_EQ(0, ftruncate(mfd, 0));
		EXPECT_EQ(USERPTR_DMABUF_STATE_FAULT,
			  udb_settle(self->dev, fd));
	}
	free(p);
	free(r);
	imp_detach(self->imp, h);
	close(fd);
	munmap(m, self->len);
	close(mfd);
}

/* Private file mapping: the buffer gets the process's private copy. */
TEST_F(mirror, private_file_mapping)
{
	int mfd, fd, h;
	uint8_t *m, *r;

	mfd = memfd_create("udb-priv", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	r = malloc(self->len);
	ASSERT_NE(NULL, r);
	fill(r, self->len, 18);
	ASSERT_EQ((ssize_t)self->len, pwrite(mfd, r, self->len, 0));
	m = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	ASSERT_NE(MAP_FAILED, m);
	fd = udb_create(self->dev, m, self->len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, self->len, 18));
	fill(r, self->len, 19);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, r,
			      self->len, NULL));
	EXPECT_EQ(-1, check(m, self->len, 19));
	/* the file itself is untouched */
	ASSERT_EQ((ssize_t)self->len, pread(mfd, r, self->len, 0));
	EXPECT_EQ(-1, check(r, self->len, 18));
	free(r);
	imp_detach(self->imp, h);
	close(fd);
	munmap(m, self->len);
	close(mfd);
}

TEST_F(mirror, transparent_huge_pages)
{
	size_t hp = 2UL << 20, len = 2 * hp;
	uint8_t *raw, *m;
	int fd, h;

	raw = map_anon(len + hp);
	ASSERT_NE(NULL, raw);
	m = (uint8_t *)(((uintptr_t)raw + hp - 1) & ~(hp - 1));
	if (madvise(m, len, MADV_HUGEPAGE))
		SKIP(goto out, "no THP");
	fill(m, len, 20);
	fd = udb_create(self->dev, m, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, len, 20));
	if (self->dynamic) {
		/* split: unmap one small page out of the huge page */
		ASSERT_EQ(0, madvise(m + 4 * self->ps, self->ps, MADV_DONTNEED));
		fill(m, len, 21);
		EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, len, 21));
#ifdef MADV_COLLAPSE
		/* collapse back, where the kernel supports it */
		if (!madvise(m, len, MADV_COLLAPSE)) {
			fill(m, len, 22);
			EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h,
						   len, 22));
		}
#endif
	}
	imp_detach(self->imp, h);
	close(fd);
out:
	munmap(raw, len + hp);
}

TEST_F(mirror, hugetlb)
{
	size_t len = 4UL << 20;
	uint8_t *m;
	int fd, h;

	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (m == MAP_FAILED)
		SKIP(return, "no free huge pages (set nr_hugepages)");
	fill(m, len, 23);
	fd = udb_create(self->dev, m, len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, len, 23));
	fill(m, len, 24);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, len, 24));
	imp_detach(self->imp, h);
	close(fd);
	munmap(m, len);
}

TEST_F(mirror, create_list_concatenates)
{
	uint8_t *a = map_anon(2 * self->ps), *b = map_anon(3 * self->ps), *p;
	struct userptr_dmabuf_range r[2] = {
		{ (uintptr_t)b, 3 * self->ps }, { (uintptr_t)a, 2 * self->ps },
	};
	struct userptr_dmabuf_create_list l = {
		.ranges = (uintptr_t)r, .count = 2,
	};
	int h, err;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	memset(a, 0xaa, 2 * self->ps);
	memset(b, 0xbb, 3 * self->ps);
	ASSERT_EQ(0, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	h = imp_attach(self->imp, l.fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	p = imp_read_all(self->imp, h, 5 * self->ps, &err);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(0xbb, p[0]);
	EXPECT_EQ(0xbb, p[3 * self->ps - 1]);
	EXPECT_EQ(0xaa, p[3 * self->ps]);
	EXPECT_EQ(0xaa, p[5 * self->ps - 1]);
	free(p);
	if (self->dynamic) {
		/* invalidating the second range refreshes only that part */
		ASSERT_EQ(0, madvise(a, 2 * self->ps, MADV_DONTNEED));
		memset(a, 0xcc, 2 * self->ps);
		udb_settle(self->dev, l.fd);
		p = imp_read_all(self->imp, h, 5 * self->ps, &err);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(0xbb, p[0]);
		EXPECT_EQ(0xcc, p[3 * self->ps]);
		free(p);
	}
	imp_detach(self->imp, h);
	close(l.fd);
	munmap(a, 2 * self->ps);
	munmap(b, 3 * self->ps);
}

/* The owner dies; the fd lives on in another process, safely. */
TEST_F(mirror, owner_exit)
{
	struct userptr_dmabuf_info info;
	int sv[2], status, fd, h;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	uint8_t b[16], *m;
	pid_t pid;
	char x;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		uint8_t *m = map_anon(self->len);
		int cfd;

		fill(m, self->len, 25);
		cfd = udb_create(self->dev, m, self->len, 0);
		if (cfd < 0)
			_exit(1);
		iov.iov_base = &x;
		iov.iov_len = 1;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &cfd, sizeof(int));
		_exit(sendmsg(sv[1], &msg, 0) == 1 ? 0 : 2);
	}
	iov.iov_base = &x;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	ASSERT_EQ(1, recvmsg(sv[0], &msg, 0));
	cm = CMSG_FIRSTHDR(&msg);
	ASSERT_NE(NULL, cm);
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));

	ASSERT_EQ(USERPTR_DMABUF_STATE_DEAD, udb_settle(self->dev, fd));
	ASSERT_EQ(0, udb_info(self->dev, fd, &info));
	EXPECT_EQ(-ENODEV, info.last_error);
	/* a reader of a dead buffer's mapping reads zeros, never SIGBUS */
	m = mmap(NULL, self->len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(-1, check_zero(m, self->len));
	munmap(m, self->len);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	if (self->dynamic) {
		ASSERT_GE(h, 0);
		EXPECT_EQ(-ENODEV, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0,
					    b, sizeof(b), NULL));
		imp_detach(self->imp, h);
	} else {
		/* pinning needs the owner's mm */
		EXPECT_EQ(-ENODEV, h);
	}
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* Static importers get the pinned fallback; changes are counted, not lost. */
TEST_F(mirror, static_importer_is_pinned)
{
	struct userptr_dmabuf_info info;
	int h;

	h = imp_attach(self->imp, self->fd, 0);
	ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_EQ((uint64_t)NPAGES, info.pinned_pages);
	EXPECT_EQ(2u, info.attachments);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, self->fd, h, self->len, 1));
	fill(self->mem, self->len, 26);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, self->fd, h, self->len, 26));

	/* a CPU change cannot move pinned pages: counted */
	ASSERT_EQ(0, madvise(self->mem, self->len, MADV_DONTNEED));
	udb_settle(self->dev, self->fd);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_GT(info.pinned_invalidations, 0ULL);
	/* the pinned pages still hold the old bytes, safely */
	EXPECT_EQ(-1, device_check(_metadata, self->imp, self->fd, h, self->len, 26));

	ASSERT_EQ(0, imp_detach(self->imp, h));
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	/* without dynamic importers the fixture's attachment is pinned too */
	EXPECT_EQ(self->dynamic ? 0ULL : (uint64_t)NPAGES, info.pinned_pages);
	EXPECT_EQ(1u, info.attachments);
}

/*
 * A static read-only attachment, and a static attachment of a second
 * buffer over the same memory but one page further on. 6.12 maps every
 * static attachment at attach time, DMA_BIDIRECTIONAL, whatever the
 * importer asks for later. An importer that syncs such a table with its
 * own direction (DMA_TO_DEVICE) matches neither of the device's DMA-API
 * debug entries for the shared pages, and DMA-API debug reports a sync of
 * memory the driver never mapped (the dmesg scan catches that). The
 * offset matters: DMA-API debug skips the whole check when the first
 * entry is ambiguous too.
 */
TEST_F(mirror, static_reader_and_overlapping_writer)
{
	uint8_t *p = malloc(self->len), *q = malloc(self->len);
	int fd2, rw, ro;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, q);
	fd2 = udb_create(self->dev, self->mem + self->ps,
			 self->len - self->ps, 0);
	ASSERT_GE(fd2, 0) TH_LOG("create: %s", strerror(-fd2));
	rw = imp_attach(self->imp, fd2, 0);
	ASSERT_GE(rw, 0) TH_LOG("attach: %s", strerror(-rw));
	ro = imp_attach(self->imp, self->fd, UDB_IMPORTER_ATTACH_READONLY);
	ASSERT_GE(ro, 0) TH_LOG("attach: %s", strerror(-ro));
	EXPECT_EQ(-1, device_check(_metadata, self->imp, self->fd, ro, self->len, 1));

	/* a device write through the second buffer, read through the first */
	fill(p, self->len, 27);
	ASSERT_EQ(0, imp_copy(self->imp, rw, UDB_IMPORTER_WRITE, 0,
			      p + self->ps, self->len - self->ps, NULL));
	ASSERT_EQ(0, imp_copy(self->imp, ro, UDB_IMPORTER_READ, 0, q,
			      self->len, NULL));
	EXPECT_EQ(-1, check(q, self->ps, 1));
	EXPECT_EQ(0, memcmp(q + self->ps, p + self->ps, self->len - self->ps));
	EXPECT_EQ(0, memcmp(self->mem + self->ps, p + self->ps,
			    self->len - self->ps));
	/* the read-only handle cannot write */
	EXPECT_EQ(-EPERM, imp_copy(self->imp, ro, UDB_IMPORTER_WRITE, 0, p,
				   self->len, NULL));
	ASSERT_EQ(0, imp_detach(self->imp, ro));
	ASSERT_EQ(0, imp_detach(self->imp, rw));
	close(fd2);
	free(q);
	free(p);
}

/* vmap: of the snapshot, or of the pinned pages once a static importer pins. */
TEST_F(mirror, vmap_through_pinned_pages)
{
	uint8_t *p = malloc(self->len);
	int h;

	ASSERT_NE(NULL, p);
	/* without pinned pages: a point-in-time view of the snapshot */
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_READ_VMAP, 0, p,
			      self->len, NULL));
	EXPECT_EQ(-1, check(p, self->len, 1));
	h = imp_attach(self->imp, self->fd, 0);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ_VMAP, 0, p,
			      self->len, NULL));
	EXPECT_EQ(-1, check(p, self->len, 1));
	fill(self->mem, self->len, 33);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ_VMAP, 0, p,
			      self->len, NULL));
	EXPECT_EQ(-1, check(p, self->len, 33));
	imp_detach(self->imp, h);
	free(p);
}

/*
 * dma_buf_vmap() WARNs on any exporter error, and the importer's vmap is
 * reachable by any user: vmap must not fail for a buffer whose range is
 * gone (zeros) nor for a read-only one (a read-only kernel mapping). The
 * run's dmesg scan fails on the WARN.
 */
TEST_F(mirror, vmap_never_fails)
{
	uint8_t *p = malloc(self->len);
	uint8_t *ro;
	int fd, h;

	ASSERT_NE(NULL, p);
	/* read-only buffer over the zero page and written pages */
	ro = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	fill(ro, self->len / 2, 35);
	ASSERT_EQ(0, mprotect(ro, self->len, PROT_READ));
	fd = udb_create(self->dev, ro, self->len,
			USERPTR_DMABUF_CREATE_READONLY);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC |
		       UDB_IMPORTER_ATTACH_READONLY);
	if (h >= 0) {
		ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ_VMAP, 0,
				      p, self->len, NULL));
		EXPECT_EQ(-1, check(p, self->len / 2, 35));
		EXPECT_EQ(-1, check_zero(p + self->len / 2, self->len / 2));
		imp_detach(self->imp, h);
	}
	close(fd);
	munmap(ro, self->len);

	/* the rest needs a dynamic buffer (a SKIP here would hide failures) */
	if (!self->dynamic) {
		free(p);
		return;
	}
	/* a buffer whose range is gone reads zeros through vmap */
	ASSERT_EQ(0, munmap(self->mem, self->len));
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, self->fd));
	memset(p, 0xaa, self->len);
	ASSERT_EQ(0, imp_copy(self->imp, self->h, UDB_IMPORTER_READ_VMAP, 0, p,
			      self->len, NULL));
	EXPECT_EQ(-1, check_zero(p, self->len));
	self->mem = map_anon(self->len);
	free(p);
}

/* Pinning is charged to RLIMIT_MEMLOCK for users without CAP_IPC_LOCK. */
TEST_F(mirror, pinning_respects_memlock)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { 16 * 4096, 16 * 4096 };
		int fd, h, ret = 0;

		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(10);
		if (geteuid() == 0 &&
		    (setresgid(65534, 65534, 65534) ||
		     setresuid(65534, 65534, 65534)))
			_exit(11);
		/* our own buffer, so nothing is pinned for it yet */
		fd = udb_create(self->dev, self->mem, self->len, 0);
		if (fd < 0)
			_exit(12);
		/* 64 pages > 16: refused */
		h = imp_attach(self->imp, fd, 0);
		if (h != -ENOMEM)
			ret = 13;
		/* within the limit: fine */
		fd = udb_create(self->dev, self->mem, 8 * 4096, 0);
		if (fd < 0 || imp_attach(self->imp, fd, 0) < 0)
			ret = 14;
		_exit(ret);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(mirror, read_only_buffer)
{
	struct userptr_dmabuf_info info;
	uint8_t b[16];
	int fd, h;

	ASSERT_EQ(0, mprotect(self->mem, self->len, PROT_READ));
	fd = udb_create(self->dev, self->mem, self->len,
			USERPTR_DMABUF_CREATE_READONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, udb_info(self->dev, fd, &info));
	EXPECT_EQ(USERPTR_DMABUF_CREATE_READONLY, info.flags);
	/* no writable CPU mapping */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, self->len, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0));
	/* read-only mapping is fine */
	{
		uint8_t *m = mmap(NULL, self->len, PROT_READ, MAP_SHARED, fd, 0);

		ASSERT_NE(MAP_FAILED, m);
		EXPECT_EQ(-1, check(m, self->len, 1));
		EXPECT_NE(0, mprotect(m, self->len, PROT_READ | PROT_WRITE));
		munmap(m, self->len);
	}
	/* device mappings are DMA_TO_DEVICE only */
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	if (h >= 0) {
		EXPECT_EQ(-EPERM, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0,
					   b, sizeof(b), NULL));
		imp_detach(self->imp, h);
	}
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC |
		       UDB_IMPORTER_ATTACH_READONLY);
	ASSERT_GE(h, 0);
	EXPECT_EQ(-1, device_check(_metadata, self->imp, fd, h, self->len, 1));
	EXPECT_EQ(-EPERM, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, b,
				   sizeof(b), NULL));
	imp_detach(self->imp, h);
	close(fd);
	ASSERT_EQ(0, mprotect(self->mem, self->len, PROT_READ | PROT_WRITE));
}

/* Implicit sync and CPU access brackets work with this exporter. */
TEST_F(mirror, sync_file_and_cpu_access)
{
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_RW };
	struct dma_buf_import_sync_file im = { .flags = DMA_BUF_SYNC_WRITE };
	struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	struct pollfd pfd;

	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	ASSERT_GE(ex.fd, 0);
	pfd.fd = ex.fd;
	pfd.events = POLLIN;
	/* the refresh fences signal right away */
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
	im.fd = ex.fd;
	EXPECT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im));
	close(ex.fd);

	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_SYNC, &s));
	s.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_SYNC, &s));
	pfd.fd = self->fd;
	pfd.events = POLLIN | POLLOUT;
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
}

/* Buffers and attachments outlive the importer file and vice versa. */
TEST_F(mirror, close_order)
{
	int fd2 = dup(self->fd), imp2, h;

	ASSERT_GE(fd2, 0);
	imp2 = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(imp2, 0);
	h = imp_attach(imp2, fd2, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	close(fd2);
	close(self->fd);
	self->fd = -1;
	/* the attachment holds the dma-buf */
	munmap(self->mem, self->len);
	self->mem = map_anon(self->len);
	close(imp2);
	self->fd = udb_create(self->dev, self->mem, self->len, 0);
	ASSERT_GE(self->fd, 0);
}

TEST_HARNESS_MAIN
