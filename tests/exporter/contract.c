// SPDX-License-Identifier: GPL-2.0
/*
 * The contract with mm and with importer drivers: pages a device can reach
 * are held as pin_user_pages(FOLL_LONGTERM) would hold them (fork() copies
 * them for the child, memory offline and CMA find none of them, every pin
 * is charged to the owner), and an importer that pins a dynamic attachment
 * (scanout, RDMA pinned MRs) gets what it pinned, without invalidations.
 *
 * The reference importer plays the device. On a kernel without dynamic
 * importers (Debian's stock 6.12) the static pin set plays the snapshot.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/dma-buf.h>

#include "common.h"
#include "kselftest_harness.h"

#define MPOL_BIND	2
#define MEMSYS		"/sys/devices/system/memory/"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* VmPin of /proc/self/status in KiB, or -1. */
static long vm_pin_kib(void)
{
	char line[128];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static size_t count_byte(const uint8_t *p, size_t len, uint8_t b)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += p[i] == b;
	return n;
}

/* A FILL job that writes @value into every byte. */
static int submit_fill(int imp, int h, size_t len, uint8_t value,
		       uint32_t delay_ms, uint64_t *id)
{
	struct udb_importer_submit s = {
		.handle = (uint32_t)h, .op = UDB_IMPORTER_JOB_FILL, .len = len,
		.value = value * 0x01010101u, .delay_ms = delay_ms,
	};

	if (ioctl(imp, UDB_IMPORTER_IOC_SUBMIT, &s))
		return -errno;
	close(s.fence_fd);
	*id = s.job_id;
	return 0;
}

static int job_wait(int imp, uint64_t id, uint32_t timeout_ms)
{
	struct udb_importer_job j = { .job_id = id, .timeout_ms = timeout_ms };

	if (ioctl(imp, UDB_IMPORTER_IOC_JOB, &j))
		return -errno;
	if (j.status == UDB_IMPORTER_JOB_ERROR)
		return j.error;
	return j.status == UDB_IMPORTER_JOB_DONE ? 0 : -ETIMEDOUT;
}

static uint32_t attach_flags(int dev)
{
	return kernel_is_dynamic(dev) ? UDB_IMPORTER_ATTACH_DYNAMIC : 0;
}

FIXTURE(contract) {
	int dev, imp;
	size_t ps;
	int dynamic;
};

FIXTURE_SETUP(contract)
{
	self->ps = page_size();
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	self->imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->imp, 0) TH_LOG("is udb_importer loaded?");
	self->dynamic = kernel_is_dynamic(self->dev);
}

FIXTURE_TEARDOWN(contract)
{
	close(self->imp);
	close(self->dev);
}

/*
 * A device write job that is still running when the owner forks (the
 * notifier's wait for it times out after 5 s) and when the parent then
 * writes its memory: the pages are pinned, so fork() copied them for the
 * child and the parent kept them. The device's bytes land in the parent,
 * all of them, never in the child.
 */
TEST_F_TIMEOUT(contract, fork_keeps_device_writes_out_of_the_child, 60)
{
	size_t len = 16 * self->ps, i, in_child = 0;
	int fd, h, pfd[2], status;
	uint64_t id = 0, t0;
	uint8_t *mem;
	pid_t pid;

	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	memset(mem, 1, len);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, attach_flags(self->dev));
	ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
	ASSERT_EQ(0, submit_fill(self->imp, h, len, 0x77, 6000, &id));
	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));

	t0 = now_ms();
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char c;

		if (read(pfd[0], &c, 1) != 1)
			_exit(2);
		_exit(count_byte(mem, len, 0x77) ? 1 : 0);
	}
	TH_LOG("fork() took %llu ms (the job runs 6 s)",
	       (unsigned long long)(now_ms() - t0));
	/* the parent writes: without pins this is where it got copies */
	for (i = 0; i < len; i += self->ps)
		mem[i] = 2;
	EXPECT_EQ(0, job_wait(self->imp, id, 15000));
	ASSERT_EQ(1, write(pfd[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("the child's memory shows the device's writes");
	in_child = WEXITSTATUS(status) == 1;
	TH_LOG("parent sees %zu of %zu device bytes; child saw some: %s",
	       count_byte(mem, len, 0x77), len, in_child ? "yes" : "no");
	EXPECT_EQ(len, count_byte(mem, len, 0x77));
	imp_detach(self->imp, h);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	munmap(mem, len);
}

/*
 * Every pin is charged to the owner's pinned_vm (VmPin), the snapshot's
 * pins of a dynamic attachment as the static pin set's, for as long as the
 * attachment lasts.
 */
TEST_F(contract, attachments_charge_their_pins_to_the_owner)
{
	size_t len = 64 * self->ps;
	long before, attached, after;
	uint8_t *mem, *p;
	int fd, h, err, i;

	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 5);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	before = vm_pin_kib();
	ASSERT_GE(before, 0);
	h = imp_attach(self->imp, fd, attach_flags(self->dev));
	ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
	p = imp_read_all(self->imp, h, len, &err);
	ASSERT_NE(NULL, p) TH_LOG("read: %s", strerror(-err));
	EXPECT_EQ(-1, check(p, len, 5));
	free(p);
	attached = vm_pin_kib();
	EXPECT_EQ(before + (long)(len >> 10), attached)
		TH_LOG("VmPin %ld kB before, %ld kB with a %s attachment", before,
		       attached, self->dynamic ? "dynamic" : "static");
	ASSERT_EQ(0, imp_detach(self->imp, h));
	/*
	 * A dynamic attachment's pins go with the first refresh after the
	 * last detach, which the detach queues: wait for it (a static pin
	 * set goes at once).
	 */
	for (i = 0; i < 100; i++) {
		after = vm_pin_kib();
		if (after == before || !self->dynamic)
			break;
		usleep(20 * 1000);
	}
	EXPECT_EQ(before, after) TH_LOG("VmPin %ld kB after the detach (%d ms later)",
				      after, i * 20);
	close(fd);
	munmap(mem, len);
}

/*
 * A dynamic attachment's pins count against the owner's RLIMIT_MEMLOCK as
 * the static ones do: a root importer cannot pin 16 MiB of an owner
 * limited to 64 KiB by attaching dynamically.
 */
TEST_F(contract, dynamic_pins_limited_by_the_owners_memlock)
{
	size_t len = 16 << 20;
	int fd, h, sock;
	pid_t pid;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	if (geteuid())
		SKIP(return, "needs root (the privileged importer)");
	pid = limited_owner_start(len, &fd, &sock);
	ASSERT_GT(pid, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	EXPECT_EQ(-ENOMEM, h) TH_LOG("a dynamic attachment pinned %zu MiB of an owner limited to 64 KiB",
				     len >> 20);
	if (h >= 0)
		imp_detach(self->imp, h);
	EXPECT_EQ(0, limited_owner_done(pid, sock));
	close(fd);
}

/*
 * dma_buf_pin() on a dynamic attachment (amdgpu scanout, RDMA pinned MRs):
 * the attachment keeps the snapshot it pinned, is never invalidated, and
 * does not follow the owner's changes; a plain dynamic attachment of the
 * same buffer does.
 */
TEST_F(contract, pinned_dynamic_attachment_keeps_its_snapshot)
{
	struct udb_importer_copy cp, cd;
	size_t len = 32 * self->ps;
	int fd, hp, hd;
	uint8_t *mem, *p;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 11);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	hp = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_PIN);
	ASSERT_GE(hp, 0) TH_LOG("dynamic attach + dma_buf_pin(): %s", strerror(-hp));
	hd = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(hd, 0);
	p = malloc(len);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, imp_copy(self->imp, hp, UDB_IMPORTER_READ, 0, p, len, &cp));
	EXPECT_EQ(-1, check(p, len, 11));

	/* the owner maps new memory there */
	ASSERT_EQ(mem, mmap(mem, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill(mem, len, 12);
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));

	ASSERT_EQ(0, imp_copy(self->imp, hd, UDB_IMPORTER_READ, 0, p, len, &cd));
	EXPECT_EQ(-1, check(p, len, 12)) TH_LOG("the dynamic attachment did not follow");
	ASSERT_EQ(0, imp_copy(self->imp, hp, UDB_IMPORTER_READ, 0, p, len, &cp));
	EXPECT_EQ(-1, check(p, len, 11)) TH_LOG("the pinned attachment's pages changed");
	EXPECT_EQ(0ULL, cp.invalidations) TH_LOG("a pinned attachment was invalidated");
	EXPECT_EQ(1ULL, cp.maps);
	EXPECT_LT(0ULL, cd.invalidations);
	free(p);
	EXPECT_EQ(0, imp_detach(self->imp, hp));
	EXPECT_EQ(0, imp_detach(self->imp, hd));
	close(fd);
	munmap(mem, len);
}

/*
 * A writable buffer over a shared mapping whose filesystem tracks writes
 * (ramfs here, ext4 alike) may not be pinned long-term: GUP refuses it.
 * A dynamic importer still follows it (the snapshot is kept with page
 * references) and maps never fail while it refreshes, but dma_buf_pin()
 * says EOPNOTSUPP, as a static attach does.
 */
TEST_F(contract, no_long_term_pin_of_write_tracked_file_memory)
{
	char dir[] = "/tmp/udb-contract-XXXXXX", path[64];
	size_t len = 16 * self->ps;
	int f, fd, h, hp;
	uint8_t *mem, *p;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	if (geteuid())
		SKIP(return, "needs root (mounts ramfs)");
	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, mount("none", dir, "ramfs", 0, NULL));
	snprintf(path, sizeof(path), "%s/f", dir);
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_GE(f, 0);
	ASSERT_EQ(0, ftruncate(f, len));
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	ASSERT_NE(MAP_FAILED, mem);
	fill(mem, len, 41);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0) TH_LOG("dynamic attach: %s", strerror(-h));
	p = malloc(len);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 41));
	fill(mem, len, 42);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 42));
	hp = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_PIN);
	EXPECT_EQ(-EOPNOTSUPP, hp);
	if (hp >= 0)
		imp_detach(self->imp, hp);
	EXPECT_EQ(-EOPNOTSUPP, imp_attach(self->imp, fd, 0)) TH_LOG("static attach");
	free(p);
	imp_detach(self->imp, h);
	close(fd);
	munmap(mem, len);
	close(f);
	umount(dir);
	rmdir(dir);
}

/*
 * A map while a refresh is running (the test build's debug_refresh_delay_ms
 * holds it 3 s before it faults) serves the snapshot the importers were
 * last told about, at once: no -EAGAIN for the importer to poll on, no
 * wait. The refresh's notification then makes the importer re-map.
 */
TEST_F_TIMEOUT(contract, map_while_refreshing_serves_the_last_snapshot, 60)
{
	struct userptr_dmabuf_info info;
	struct udb_importer_copy c;
	size_t len = 32 * self->ps;
	int fd, h1, h2, ret;
	uint64_t t0, t;
	uint8_t *mem, *p;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	if (geteuid())
		SKIP(return, "needs root (module parameters)");
	if (access("/sys/module/userptr_dmabuf/parameters/debug_refresh_delay_ms", W_OK))
		SKIP(return, "not a test build of the module");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	p = malloc(len);
	ASSERT_NE(NULL, p);
	fill(mem, len, 31);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h1 = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h1, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h1, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 31));

	ASSERT_EQ(0, udb_param_write("debug_refresh_delay_ms", 3000));
	ASSERT_EQ(mem, mmap(mem, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill(mem, len, 32);
	usleep(100 * 1000);	/* the refresh is in its delay now */
	t0 = now_ms();
	h2 = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ret = h2 < 0 ? h2 : imp_copy(self->imp, h2, UDB_IMPORTER_READ, 0, p,
				     len, &c);
	t = now_ms() - t0;
	ASSERT_EQ(0, udb_info(self->dev, fd, &info));
	udb_param_write("debug_refresh_delay_ms", 0);
	TH_LOG("attach + map + read during the refresh: %s after %llu ms, state %u",
	       ret ? strerror(-ret) : "ok", (unsigned long long)t, info.state);
	ASSERT_EQ(0, ret);
	EXPECT_LT(t, 1000ULL) TH_LOG("the map waited for the refresh");
	EXPECT_EQ((uint32_t)USERPTR_DMABUF_STATE_STALE, info.state);
	EXPECT_EQ(-1, check(p, len, 31)) TH_LOG("not the last published snapshot");

	/* the refresh publishes and notifies: the next use re-maps */
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	ASSERT_EQ(0, imp_copy(self->imp, h2, UDB_IMPORTER_READ, 0, p, len, &c));
	EXPECT_EQ(-1, check(p, len, 32));
	EXPECT_LT(0ULL, c.invalidations);
	EXPECT_EQ(2ULL, c.maps);
	ASSERT_EQ(0, imp_copy(self->imp, h1, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 32));
	imp_detach(self->imp, h2);
	imp_detach(self->imp, h1);
	free(p);
	close(fd);
	munmap(mem, len);
}

/* The physical frame of each page of [p, p + len) (root), 0 if none. */
static int pfns_of(const void *p, size_t len, size_t ps, uint64_t *pfn)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t i, n = len / ps;
	uint64_t e;

	if (fd < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		if (pread(fd, &e, 8, ((uintptr_t)p / ps + i) * 8) != 8) {
			close(fd);
			return -EIO;
		}
		pfn[i] = (e >> 63) ? e & ((1ULL << 55) - 1) : 0;
	}
	close(fd);
	return 0;
}

static int block_state(int block, const char *state)
{
	char path[96];
	int fd, ret = 0;

	snprintf(path, sizeof(path), MEMSYS "memory%d/state", block);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, state, strlen(state)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The highest memory block of node 1 that can be made ZONE_MOVABLE. */
static int movable_block(void)
{
	int best[64], n = 0, i, b;
	struct dirent *d;
	DIR *dir = opendir("/sys/devices/system/node/node1");

	if (!dir)
		return -ENOENT;
	while ((d = readdir(dir)) && n < 64)
		if (sscanf(d->d_name, "memory%d", &b) == 1)
			best[n++] = b;
	closedir(dir);
	for (; n > 0; n--) {
		/* highest first */
		for (b = 0, i = 1; i < n; i++)
			if (best[i] > best[b])
				b = i;
		i = best[b];
		best[b] = best[n - 1];
		if (block_state(i, "offline"))
			continue;
		if (!block_state(i, "online_movable"))
			return i;
		block_state(i, "online");
	}
	return -EBUSY;
}

struct remapper {
	int imp, h;
	size_t len;
	volatile int stop;
	unsigned long reads;
};

/* An importer that keeps using (and so re-mapping) the buffer. */
static void *remap_loop(void *arg)
{
	struct remapper *r = arg;
	uint8_t *p = malloc(r->len);

	while (p && !r->stop) {
		imp_copy(r->imp, r->h, UDB_IMPORTER_READ, 0, p, r->len, NULL);
		r->reads++;
	}
	free(p);
	return NULL;
}

/* Offline @block from a child that gives up after @secs; 0 or an errno. */
static int offline_within(int block, unsigned int secs, uint64_t *ms)
{
	uint64_t t0 = now_ms();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		alarm(secs);	/* offline_pages() gives up on a signal */
		_exit(block_state(block, "offline") ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	*ms = now_ms() - t0;
	if (WIFSIGNALED(status))
		return -ETIMEDOUT;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EBUSY;
}

/*
 * The last dynamic attachment goes while a refresh that pins is between
 * two passes (the test build's debug_refresh_delay_ms holds its first
 * pass; an invalidation during the hold makes it retry): the retry must
 * still publish the pages the owner maps now for the whole dirty window,
 * not only for the part it re-faults. The CPU view of the dma-buf (its
 * mmap) must show the owner's bytes: a page left out would be published
 * as whatever the pass's scratch entry held (physical page 0).
 */
TEST_F_TIMEOUT(contract, detach_between_refresh_passes_keeps_the_snapshot_whole, 60)
{
	size_t ps = self->ps, len = 8 * ps;
	struct userptr_dmabuf_info info;
	uint8_t *mem, *view;
	uint64_t gen;
	int fd, h;
	long bad;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	if (geteuid())
		SKIP(return, "needs root (module parameters)");
	if (access("/sys/module/userptr_dmabuf/parameters/debug_refresh_delay_ms", W_OK))
		SKIP(return, "not a test build of the module");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 51);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	ASSERT_EQ(0, udb_info(self->dev, fd, &info));
	gen = info.generation;

	ASSERT_EQ(0, udb_param_write("debug_refresh_delay_ms", 1500));
	/* pages 0-3 change: a pinning refresh starts and waits */
	ASSERT_EQ(0, madvise(mem, 4 * ps, MADV_DONTNEED));
	usleep(300 * 1000);
	fill(mem, 4 * ps, 52);
	/* page 3 changes again during the hold: the pass will retry */
	ASSERT_EQ(0, madvise(mem + 3 * ps, ps, MADV_DONTNEED));
	fill(mem + 3 * ps, ps, 53);
	/* the last dynamic attachment goes before the first pass ends */
	EXPECT_EQ(0, imp_detach(self->imp, h));
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	udb_param_write("debug_refresh_delay_ms", 0);
	/* one publish for both changes: the held pass retried, as intended */
	ASSERT_EQ(0, udb_info(self->dev, fd, &info));
	EXPECT_EQ(gen + 1, info.generation) TH_LOG("publishes: %llu, not 1: the pass did not retry across the detach",
						   (unsigned long long)(info.generation - gen));

	view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, view) TH_LOG("mmap of the dma-buf: %s", strerror(errno));
	bad = check(view, 3 * ps, 52);
	EXPECT_EQ(-1, bad) TH_LOG("pages 0-2 of the dma-buf are not the owner's: byte %ld", bad);
	EXPECT_EQ(-1, check(view + 3 * ps, ps, 53));
	EXPECT_EQ(0, memcmp(view + 4 * ps, mem + 4 * ps, 4 * ps));
	munmap(view, len);
	close(fd);
	munmap(mem, len);
}

/*
 * Memory offline of a ZONE_MOVABLE block that held the buffer, while an
 * importer keeps re-mapping it: the pins (FOLL_LONGTERM) moved the pages
 * out of the movable zone before any device could reach them, so the
 * offline does not wait for them.
 */
TEST_F_TIMEOUT(contract, memory_offline_with_a_mapped_buffer, 120)
{
	size_t len = 4 << 20, n = len / self->ps, i, inside = 0, left = 0;
	unsigned long node1 = 1UL << 1, bsize;
	struct remapper r = { 0 };
	uint64_t *pfn, lo, hi, ms = 0;
	pthread_t thr;
	int fd, h, block, ret, err;
	uint8_t *mem, *p;
	FILE *f;

	if (geteuid())
		SKIP(return, "needs root (memory hotplug, pagemap)");
	f = fopen(MEMSYS "block_size_bytes", "r");
	ASSERT_NE(NULL, f) TH_LOG("no memory hotplug in this kernel");
	ASSERT_EQ(1, fscanf(f, "%lx", &bsize));
	fclose(f);
	block = movable_block();
	ASSERT_GE(block, 0) TH_LOG("no block of node 1 could be made movable: %s",
				   strerror(-block));
	lo = (uint64_t)block * bsize / self->ps;
	hi = lo + bsize / self->ps;

	/* the buffer's pages come from node 1's movable zone: that block */
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, syscall(SYS_mbind, mem, len, MPOL_BIND, &node1,
			     sizeof(node1) * 8, 0));
	fill(mem, len, 21);
	pfn = calloc(n, sizeof(*pfn));
	ASSERT_NE(NULL, pfn);
	ASSERT_EQ(0, pfns_of(mem, len, self->ps, pfn));
	for (i = 0; i < n; i++)
		inside += pfn[i] >= lo && pfn[i] < hi;
	TH_LOG("memory%d: %zu of %zu buffer pages in it", block, inside, n);
	ASSERT_LT(0UL, (unsigned long)inside);

	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, attach_flags(self->dev));
	ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
	r.imp = self->imp;
	r.h = h;
	r.len = len;
	ASSERT_EQ(0, pthread_create(&thr, NULL, remap_loop, &r));
	usleep(200 * 1000);

	ASSERT_EQ(0, pfns_of(mem, len, self->ps, pfn));
	for (i = 0; i < n; i++)
		left += pfn[i] >= lo && pfn[i] < hi;
	TH_LOG("%zu pages still in the movable block while a device maps them",
	       left);
	ret = offline_within(block, 20, &ms);
	TH_LOG("offline: %s after %llu ms, %lu importer reads meanwhile",
	       ret ? strerror(-ret) : "done", (unsigned long long)ms, r.reads);
	EXPECT_EQ(0, ret);
	EXPECT_LT(ms, 10000ULL);
	r.stop = 1;
	pthread_join(thr, NULL);
	EXPECT_EQ(0ULL, (unsigned long long)left);
	p = imp_read_all(self->imp, h, len, &err);
	ASSERT_NE(NULL, p) TH_LOG("read: %s", strerror(-err));
	EXPECT_EQ(-1, check(p, len, 21));
	free(p);
	EXPECT_EQ(-1, check(mem, len, 21));
	imp_detach(self->imp, h);
	close(fd);
	munmap(mem, len);
	free(pfn);
	block_state(block, "online");
}

/*
 * FOLL_PIN pins held system-wide (acquired - released), or -1. The
 * counters are per-CPU until folded: vm.stat_refresh (root) folds them,
 * or /proc/vmstat may be off by a few pages per CPU.
 */
static long pins_held(void)
{
	int f = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	long a, r;

	if (f < 0 || write(f, "1", 1) != 1) {
		if (f >= 0)
			close(f);
		return -1;
	}
	close(f);
	a = vmstat("nr_foll_pin_acquired");
	r = vmstat("nr_foll_pin_released");

	return a < 0 || r < 0 ? -1 : a - r;
}

/* How many buffers the module's debugfs list shows, or -1. */
static int buffers_listed(void)
{
	FILE *f = fopen("/sys/kernel/debug/userptr_dmabuf/buffers", "r");
	char line[128];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, "buffer: ", 8);
	fclose(f);
	return n;
}

/*
 * pins_held() as a baseline for a test that has @mine buffers open: once
 * the buffers earlier tests closed are gone (a buffer leaves the list
 * before its teardown unpins, and a queued unpinning may still run) and
 * the count has not moved for 300 ms; after 10 s, whatever it is then.
 */
static long pins_quiet(int mine)
{
	long v = -1, last = -2;
	int i, still = 0;

	for (i = 0; i < 1000 && buffers_listed() > mine; i++)
		usleep(10 * 1000);
	for (i = 0; i < 100 && still < 3; i++) {
		usleep(100 * 1000);
		v = pins_held();
		still = v == last ? still + 1 : 0;
		last = v;
	}
	return v;
}

/*
 * pins_held() once it is @want, or its value after 2 s: the refresh that
 * lets pins go may still be finishing (a buffer is VALID before its
 * importers are told).
 */
static long pins_held_reach(long want)
{
	long v = pins_held();
	int i;

	for (i = 0; i < 200 && v != want; i++) {
		usleep(10 * 1000);
		v = pins_held();
	}
	return v;
}

/* debugfs @key of the buffer behind @fd once it is @want, or after 2 s. */
static long long stat_reach(int fd, const char *key, long long want)
{
	long long v = debugfs_stat(fd, key);
	int i;

	for (i = 0; i < 200 && v != want; i++) {
		usleep(10 * 1000);
		v = debugfs_stat(fd, key);
	}
	return v;
}

/* Replace page @idx of @mem with new bytes and wait for the publish. */
static int change_page(int dev, int fd, uint8_t *mem, size_t ps, size_t idx,
		       uint8_t byte)
{
	if (madvise(mem + idx * ps, ps, MADV_DONTNEED))
		return -errno;
	memset(mem + idx * ps, byte, ps);
	return udb_settle(dev, fd);
}

/*
 * A dynamic importer re-maps after every change of the snapshot. The
 * re-map after a one-page change takes that page only: the attachment's
 * previous mapping is kept across the invalidation and patched (its
 * table is DMA-mapped again as a whole). It serves
 * the new page and the old ones around it, device writes through it reach
 * the owner, a replaced page is let go once the importer has unmapped (at
 * its unmap, or at the notification when it had unmapped already: the
 * second of two changes in a row), and detach lets go of everything.
 * The mapping borrows the snapshot's pins: no page is pinned twice, so the
 * system's FOLL_PIN count (7.x) is the snapshot's, one per page, whatever
 * the mapping does. kept_map_pages is the exporter's count of the pages
 * the mapping names, kept_map_own of those it holds itself.
 */
TEST_F(contract, remap_after_a_page_change_maps_that_page_only)
{
	static const size_t changed[] = { 3, 500, 1023 };
	const size_t npages = 1024, len = npages * self->ps;
	struct udb_importer_copy c;
	long before, mapped, pins = -1;
	long long base, n = npages;
	uint8_t *mem, *p;
	unsigned int k;
	size_t i;
	int fd, h;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	p = malloc(len);
	ASSERT_NE(NULL, p);
	fill(mem, len, 21);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	before = pins_quiet(1);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, &c));
	EXPECT_EQ(-1, check(p, len, 21));
	base = debugfs_stat(fd, "map_hold_pages");
	ASSERT_EQ(n, base) TH_LOG("debugfs map_hold_pages");
	ASSERT_EQ(n, debugfs_stat(fd, "kept_map_pages"));
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"))
		TH_LOG("the first map held pages of its own");
	/* the snapshot pins every page once; the mapping borrows them (7.x) */
	mapped = pins_held();
	if (before >= 0 && mapped - before == n) {
		pins = mapped;
	} else if (before >= 0 && mapped - before > n) {
		EXPECT_EQ(n, mapped - before) TH_LOG("pages pinned twice");
	} else {
		TH_LOG("%ld pins for the mapping and the snapshot: held with references here",
		       mapped - before);
	}

	for (k = 0; k < sizeof(changed) / sizeof(changed[0]); k++) {
		ASSERT_EQ(USERPTR_DMABUF_STATE_VALID,
			  change_page(self->dev, fd, mem, self->ps, changed[k], 0x40 + k));
		EXPECT_EQ(n - 1, stat_reach(fd, "kept_map_pages", n - 1))
			TH_LOG("the replaced page is still held after the importer unmapped");
		EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"));
		if (pins >= 0)
			EXPECT_EQ(pins, pins_held_reach(pins));
		ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, &c));
		EXPECT_EQ(k + 2ULL, c.maps);
		EXPECT_EQ(0, memcmp(p, mem, len)) TH_LOG("the device does not see the owner's memory");
		EXPECT_EQ(base + k + 1, debugfs_stat(fd, "map_hold_pages"))
			TH_LOG("re-map %u took more than the changed page", k + 1);
		EXPECT_EQ(k + 1LL, debugfs_stat(fd, "maps_patched"));
		EXPECT_EQ(n, debugfs_stat(fd, "kept_map_pages"));
		if (pins >= 0)
			EXPECT_EQ(pins, pins_held_reach(pins));
	}

	/* two changes before the next map: the second finds it unmapped */
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID,
		  change_page(self->dev, fd, mem, self->ps, 10, 0x50));
	EXPECT_EQ(n - 1, stat_reach(fd, "kept_map_pages", n - 1));
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID,
		  change_page(self->dev, fd, mem, self->ps, 700, 0x51));
	EXPECT_EQ(n - 2, stat_reach(fd, "kept_map_pages", n - 2))
		TH_LOG("a page replaced while nothing was mapped is still held");
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"));
	if (pins >= 0)
		EXPECT_EQ(pins, pins_held_reach(pins));
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, &c));
	EXPECT_EQ(0, memcmp(p, mem, len));
	EXPECT_EQ(base + 5, debugfs_stat(fd, "map_hold_pages"));
	EXPECT_EQ(n, debugfs_stat(fd, "kept_map_pages"));

	/* device writes through the patched mapping reach every page */
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, p, len, &c));
	EXPECT_EQ(0, memcmp(p, mem, len)) TH_LOG("device writes did not reach the owner");
	EXPECT_EQ(0, imp_detach(self->imp, h));
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_pages")) TH_LOG("kept pages left after detach");
	/* the refresh the last detach queues drops the snapshot's pins */
	if (pins >= 0)
		EXPECT_EQ(before, pins_held_reach(before)) TH_LOG("pins left after detach");
	free(p);
	close(fd);
	munmap(mem, len);
}

/* kB of huge pages /proc/self/smaps shows in the mapping holding @addr. */
static long anon_huge_kb(const void *addr)
{
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[256];
	long kb = -1;
	int in = 0;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f)) {
		/* mapping lines start with a lower-case hex address, keys not */
		if (isxdigit((unsigned char)line[0]) &&
		    !isupper((unsigned char)line[0]) &&
		    sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = a >= lo && a < hi;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			kb = strtol(line + 14, NULL, 10);
	}
	fclose(f);
	return kb;
}

/*
 * A kept mapping of huge pages has one table entry per huge page (or per
 * segment, where the device takes shorter ones), as a per-call one would,
 * not one per page; a one-page change splits only the entry holding it:
 * the re-map rebuilds the entries around the change, and the device still
 * sees every page right.
 */
TEST_F(contract, kept_mapping_of_huge_pages_stays_merged)
{
	size_t hp = 2UL << 20, len = 2 * hp;
	uint8_t *raw, *mem, *p;
	long long entries, first;
	int fd, h;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	raw = map_anon(len + hp);
	ASSERT_NE(NULL, raw);
	mem = (uint8_t *)(((uintptr_t)raw + hp - 1) & ~(hp - 1));
	p = malloc(len);
	ASSERT_NE(NULL, p);
	if (madvise(mem, len, MADV_HUGEPAGE))
		SKIP(goto out, "no THP on this kernel");
	fill(mem, len, 61);
	ASSERT_LE(0, anon_huge_kb(mem)) TH_LOG("no AnonHugePages line for %p in /proc/self/smaps", mem);
	if (anon_huge_kb(mem) < (long)(len >> 10))
		SKIP(goto out, "the kernel gave %ld kB of huge pages, not %zu",
		     anon_huge_kb(mem), len >> 10);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 61));
	/* at most 2 MiB per entry, or the device's segment size (64 KiB on 6.12) */
	first = debugfs_stat(fd, "kept_map_entries");
	EXPECT_GE(first, (long long)(len / hp));
	EXPECT_LE(first, (long long)(len >> 16))
		TH_LOG("%lld table entries for %zu huge pages", first, len / hp);

	/* page 100 of the first huge page: its entry splits in three */
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID,
		  change_page(self->dev, fd, mem, self->ps, 100, 0x62));
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(0, memcmp(p, mem, len)) TH_LOG("the device does not see the owner's memory");
	entries = debugfs_stat(fd, "kept_map_entries");
	EXPECT_LE(entries, first + 2) TH_LOG("%lld entries after a one-page change, %lld before",
					     entries, first);
	EXPECT_GE(entries, first);

	/* both sides of the huge pages' border before one re-map: two more */
	ASSERT_EQ(0, madvise(mem + 511 * self->ps, 2 * self->ps, MADV_DONTNEED));
	memset(mem + 511 * self->ps, 0x64, 2 * self->ps);
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(0, memcmp(p, mem, len)) TH_LOG("the device does not see the owner's memory");
	entries = debugfs_stat(fd, "kept_map_entries");
	EXPECT_LE(entries, first + 4) TH_LOG("%lld entries after changes at the border, %lld at first",
					     entries, first);

	/* a device write through the rebuilt table reaches the owner */
	memset(p, 0x63, len);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, p, len, NULL));
	EXPECT_EQ(len, count_byte(mem, len, 0x63));
	EXPECT_EQ(0, imp_detach(self->imp, h));
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_entries"));
	close(fd);
out:
	free(p);
	munmap(raw, len + hp);
}

/* Whether a child exited normally with status 0. */
static int child_ok(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * The owner's own first attach of a small valid buffer pins the snapshot
 * in its context (debugfs inline_pins), without faulting; another
 * process's attach, or one after fork() (the copy-on-write invalidation
 * leaves the snapshot stale), goes through the refresh worker, and the
 * worker lets the pins go after another process's last detach. Each way
 * the device sees the owner's bytes, and writes reach the owner, not the
 * child.
 */
TEST_F(contract, attach_by_the_owner_after_fork_and_by_another_process)
{
	size_t len = 64 * self->ps;
	int fd, h, pipefd[2];
	long before;
	uint8_t *mem, *p;
	pid_t pid;
	char c;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	p = malloc(len);
	ASSERT_NE(NULL, p);
	fill(mem, len, 71);

	/* the owner's own attach: pinned in its context */
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	EXPECT_EQ(1, debugfs_stat(fd, "inline_pins"));
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 71));
	EXPECT_EQ(0, imp_detach(self->imp, h));
	close(fd);

	/* another process: through the worker, which also unpins */
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	before = pins_quiet(1);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int hc = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);

		if (hc < 0)
			_exit(10);
		if (imp_copy(self->imp, hc, UDB_IMPORTER_READ, 0, p, len, NULL))
			_exit(11);
		if (check(p, len, 71) != -1)
			_exit(12);
		_exit(imp_detach(self->imp, hc) ? 13 : 0);
	}
	EXPECT_EQ(0, child_ok(pid)) TH_LOG("the other process's attach, read or detach failed");
	EXPECT_EQ(0, debugfs_stat(fd, "inline_pins"));
	if (before >= 0)
		EXPECT_EQ(before, pins_held_reach(before))
			TH_LOG("the snapshot's pins outlived another process's detach");

	/* after fork the snapshot is stale: the owner's attach waits for the worker */
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) != 1)
			_exit(1);
		_exit(check(mem, len, 71) == -1 ? 0 : 20);
	}
	close(pipefd[0]);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	EXPECT_EQ(0, debugfs_stat(fd, "inline_pins"));
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 71));
	fill(p, len, 72);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_WRITE, 0, p, len, NULL));
	EXPECT_EQ(-1, check(mem, len, 72)) TH_LOG("the device write did not reach the owner");
	/* the child looks only after the device write */
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	EXPECT_EQ(0, child_ok(pid)) TH_LOG("the device write reached the child");
	close(pipefd[1]);
	EXPECT_EQ(0, imp_detach(self->imp, h));
	close(fd);
	free(p);
	munmap(mem, len);
}

/*
 * A kept mapping through the owner's munmap (FAULT: every kept page goes,
 * maps fail, and once the range is mapped again the kept mapping is filled
 * anew) and through the owner's exit (DEAD: the kept mapping goes whole).
 */
TEST_F(contract, kept_mapping_through_fault_and_owner_exit)
{
	const size_t npages = 64, len = npages * self->ps;
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
	};
	long long n = npages, base;
	int fd, h, sv[2], status;
	uint8_t *mem, *p;
	pid_t pid;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	p = malloc(len);
	ASSERT_NE(NULL, p);
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 31);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 31));
	ASSERT_EQ(n, debugfs_stat(fd, "kept_map_pages"));
	base = debugfs_stat(fd, "map_hold_pages");

	ASSERT_EQ(0, munmap(mem, len));
	EXPECT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, fd));
	EXPECT_EQ(0, stat_reach(fd, "kept_map_pages", 0))
		TH_LOG("pages of an unmapped range are still held");
	EXPECT_EQ(-EFAULT, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));

	ASSERT_EQ(mem, mmap(mem, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	fill(mem, len, 32);
	ASSERT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 32)) TH_LOG("the re-mapped range is not what the device sees");
	EXPECT_EQ(base + n, debugfs_stat(fd, "map_hold_pages"));
	EXPECT_EQ(1, debugfs_stat(fd, "maps_patched"));
	EXPECT_EQ(n, debugfs_stat(fd, "kept_map_pages"));
	EXPECT_EQ(0, imp_detach(self->imp, h));
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_pages"));
	close(fd);
	munmap(mem, len);

	/* an owner that exits while the kept mapping holds its pages */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		uint8_t *m = map_anon(len);
		char x;
		int bfd;

		if (!m)
			_exit(10);
		fill(m, len, 33);
		bfd = udb_create(self->dev, m, len, 0);
		if (bfd < 0 || send_fd(sv[1], bfd))
			_exit(11);
		_exit(read(sv[1], &x, 1) == 1 ? 0 : 12);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(-1, check(p, len, 33));
	EXPECT_EQ(n, debugfs_stat(fd, "kept_map_pages"));
	ASSERT_EQ(1, write(sv[0], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	close(sv[0]);
	EXPECT_EQ(USERPTR_DMABUF_STATE_DEAD, udb_settle(self->dev, fd));
	EXPECT_EQ(0, stat_reach(fd, "kept_map_pages", 0))
		TH_LOG("the kept mapping outlived its owner");
	EXPECT_EQ(-ENODEV, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(0, imp_detach(self->imp, h));
	close(fd);
	free(p);
}

/*
 * An importer that unmaps late (a job still uses the mapping when the
 * change is published) keeps the replaced page until that unmap: the
 * kept mapping is in use meanwhile, so it takes its own hold on the page
 * the snapshot lets go (it borrowed the snapshot's pin until then), and
 * only the unmap lets the page go. Then the next map patches that page
 * alone.
 */
TEST_F_TIMEOUT(contract, kept_mapping_lets_go_at_a_late_unmap, 60)
{
	const size_t npages = 64, len = npages * self->ps;
	long long n = npages, base;
	uint64_t id;
	uint8_t *mem, *p;
	int fd, h;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	if (geteuid())
		SKIP(return, "needs root (module parameters)");
	if (access("/sys/module/userptr_dmabuf/parameters/debug_refresh_delay_ms", W_OK))
		SKIP(return, "not a test build of the module");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	p = malloc(len);
	ASSERT_NE(NULL, p);
	fill(mem, len, 41);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	base = debugfs_stat(fd, "map_hold_pages");
	ASSERT_EQ(n, base);
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"));

	/* the refresh waits 1.5 s; a 4 s job on the mapping starts meanwhile */
	ASSERT_EQ(0, udb_param_write("debug_refresh_delay_ms", 1500));
	ASSERT_EQ(0, madvise(mem + 5 * self->ps, self->ps, MADV_DONTNEED));
	memset(mem + 5 * self->ps, 0x60, self->ps);
	usleep(100 * 1000);
	ASSERT_EQ(0, submit_fill(self->imp, h, self->ps, 0x61, 4000, &id));
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	udb_param_write("debug_refresh_delay_ms", 0);
	EXPECT_EQ(n, debugfs_stat(fd, "kept_map_pages"))
		TH_LOG("a page of a mapping still in use was let go");
	EXPECT_EQ(1, debugfs_stat(fd, "kept_map_own"))
		TH_LOG("the mapping in use does not hold the page the snapshot let go");
	EXPECT_EQ(0, job_wait(self->imp, id, 20000));
	EXPECT_EQ(n - 1, stat_reach(fd, "kept_map_pages", n - 1))
		TH_LOG("the replaced page outlived the late unmap");
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"));

	ASSERT_EQ(0, imp_copy(self->imp, h, UDB_IMPORTER_READ, 0, p, len, NULL));
	EXPECT_EQ(self->ps, count_byte(mem, self->ps, 0x61)) TH_LOG("the job did not run");
	EXPECT_EQ(self->ps, count_byte(p + 5 * self->ps, self->ps, 0x60));
	EXPECT_EQ(0, memcmp(p, mem, len));
	EXPECT_EQ(base + 1, debugfs_stat(fd, "map_hold_pages"));
	EXPECT_EQ(n, debugfs_stat(fd, "kept_map_pages"));
	EXPECT_EQ(0, imp_detach(self->imp, h));
	free(p);
	close(fd);
	munmap(mem, len);
}

struct detacher {
	int imp, h, ret;
	volatile int done;
};

static void *detach_thread(void *arg)
{
	struct detacher *d = arg;

	d->ret = imp_detach(d->imp, d->h);
	d->done = 1;
	return NULL;
}

/*
 * dma_buf_detach() takes the attachment off the dma-buf's list before it
 * calls ->detach, which lets the kept mapping go. A change published in
 * between must still find that mapping: its slots borrow the snapshot's
 * pins, so the slot of the replaced page must hold the old page itself
 * before the snapshot unpins it (kept_map_own 1), or the detach would
 * dirty and DMA-unmap a page that may be freed. The system's FOLL_PIN
 * count is not compared exactly here: other tests' refreshes may still
 * let pins go meanwhile; only that none of ours is left. The test build's
 * debug_detach_delay_ms holds the detach in that window for 3 s; the test
 * checks it is in it (debugfs attachments 0 while the kept mapping is
 * still there, the detach not returned) before and after the change.
 */
TEST_F_TIMEOUT(contract, change_during_a_detach_keeps_the_replaced_page, 90)
{
	const size_t npages = 64, len = npages * self->ps;
	struct detacher d = { .imp = self->imp };
	long before;
	uint8_t *mem, *p;
	pthread_t thr;
	int fd, i;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	if (geteuid())
		SKIP(return, "needs root (module parameters)");
	if (access("/sys/module/userptr_dmabuf/parameters/debug_detach_delay_ms", W_OK))
		SKIP(return, "not a test build of the module");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	p = malloc(len);
	ASSERT_NE(NULL, p);
	fill(mem, len, 51);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	before = pins_quiet(1);
	d.h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(d.h, 0);
	ASSERT_EQ(0, imp_copy(self->imp, d.h, UDB_IMPORTER_WRITE, 0, mem, len, NULL));
	ASSERT_EQ((long long)npages, debugfs_stat(fd, "kept_map_pages"));
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"));

	ASSERT_EQ(0, udb_param_write("debug_detach_delay_ms", 3000));
	if (pthread_create(&thr, NULL, detach_thread, &d)) {
		udb_param_write("debug_detach_delay_ms", 0);
		ASSERT_TRUE(0) TH_LOG("pthread_create");
	}
	/* the detach is off the core's list, sleeping before ->detach lets go */
	for (i = 0; i < 200 && debugfs_stat(fd, "attachments") != 0; i++)
		usleep(10 * 1000);
	EXPECT_EQ(0, debugfs_stat(fd, "attachments"));
	EXPECT_EQ((long long)npages, debugfs_stat(fd, "kept_map_pages"));
	EXPECT_EQ(0, madvise(mem + 5 * self->ps, self->ps, MADV_DONTNEED));
	memset(mem + 5 * self->ps, 0x52, self->ps);
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(self->dev, fd));
	EXPECT_EQ(1, debugfs_stat(fd, "kept_map_own"))
		TH_LOG("the detaching mapping does not hold the page the snapshot let go");
	EXPECT_EQ(0, d.done) TH_LOG("the detach left the window before the checks");
	pthread_join(thr, NULL);
	udb_param_write("debug_detach_delay_ms", 0);
	EXPECT_EQ(0, d.ret);
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_pages"));
	EXPECT_EQ(0, debugfs_stat(fd, "kept_map_own"));
	/* system-wide: other pins may come and go meanwhile, none of ours stay */
	if (before >= 0)
		EXPECT_GE(before, pins_held_reach(before)) TH_LOG("pins left after detach");
	EXPECT_EQ(self->ps, count_byte(mem + 5 * self->ps, self->ps, 0x52));
	free(p);
	close(fd);
	munmap(mem, len);
}

TEST_HARNESS_MAIN
