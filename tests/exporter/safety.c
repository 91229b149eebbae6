// SPDX-License-Identifier: GPL-2.0
/*
 * What a hostile or careless process must never get from the exporter:
 * a freed page through a CPU mapping of the dma-buf, memory the kernel
 * keeps from devices (memfd_secret(), shadow stacks, droppable memory),
 * pins beyond the owner's RLIMIT_MEMLOCK, kernel memory beyond a per-user
 * limit, or a wait it did not agree to: a fence timeout that disables
 * later waits, an exit that waits once per buffer, a DMA_BUF_IOCTL_SYNC
 * that hangs in the owner's faults, a fence that outlives the module.
 *
 * Most cases need root (sw_sync, module parameters, FUSE, rmmod); as
 * another user they SKIP, and the suite's list of expected SKIPs says so.
 */
#define _GNU_SOURCE
#include <linux/dma-buf.h>
#include <linux/fuse.h>
#include <linux/sync_file.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common.h"
#include "kselftest_harness.h"

#define PARAMS "/sys/module/userptr_dmabuf/parameters/"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int open_dev(void)
{
	return open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
}

/* Read or write a module parameter; -errno on failure. */
static long param_read(const char *name)
{
	char path[256], buf[32] = "";
	long v = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

/* How many references hold the module (sysfs refcnt), or -1. */
static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/userptr_dmabuf/refcnt", "r");
	long v = -1;

	if (f && fscanf(f, "%ld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

/* A sw_sync timeline and one fence on it (signalled by sw_inc()). */
static int sw_fence(int *timeline)
{
	struct sw_sync_create_fence_data cf = { .value = 1, .name = "udb" };

	*timeline = open("/sys/kernel/debug/sync/sw_sync", O_RDWR | O_CLOEXEC);
	if (*timeline < 0)
		return -errno;
	if (ioctl(*timeline, SW_SYNC_IOC_CREATE_FENCE, &cf)) {
		close(*timeline);
		return -errno;
	}
	return cf.fence;
}

static int sw_inc(int timeline)
{
	uint32_t one = 1;

	return ioctl(timeline, SW_SYNC_IOC_INC, &one) ? -errno : 0;
}

/* Any dma-buf fd holder can add a write fence this way. */
static int add_fence(int dmabuf, int fence)
{
	struct dma_buf_import_sync_file im = {
		.flags = DMA_BUF_SYNC_WRITE, .fd = fence,
	};

	return ioctl(dmabuf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im) ? -errno : 0;
}

static int pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/*
 * A CPU mapping of the dma-buf must never map a page nobody references.
 *
 * The fault handler takes a reference while it reads the snapshot, inserts
 * the PTE, then checks whether a refresh zapped the mappings meanwhile.
 * With the test build's delay around the insert, this test makes a refresh
 * replace the page while a reader's fault sleeps before its insert: the
 * owner (this process) maps a memfd over its range while a reader (a child
 * with the dma-buf mapped: its fault holds the child's mmap_lock, not
 * ours) faults. The fault then inserts a PTE to the old page, which only
 * the fault's own reference keeps alive until it zaps that PTE. Threads of
 * the reader allocate and fill pages on the fault's CPU meanwhile, so a
 * page freed too early is reused at once, and read through the mapping:
 * they must see the old bytes or the new ones, nothing else. The fault on
 * page 0 also maps page 1 (fault-around): its PTE obeys the same rule.
 */
struct freed_page_race {
	volatile uint32_t *view;	/* the dma-buf mapping's first word */
	uint32_t old_word, new_word;
	uint32_t old_word1, new_word1;	/* the first word of page 1 */
	uint8_t *spare;			/* untouched memory for the reuse */
	size_t spare_len;
	volatile int go, stop;
	volatile uint32_t bad;
	volatile long reads, bad_reads;
};

struct freed_page_report {
	double fault_start;	/* CLOCK_MONOTONIC ms, reader to owner */
	long reads, bad_reads;
	uint32_t bad;
};

static void *race_fault(void *arg)
{
	struct freed_page_race *r = arg;

	pin_to_cpu(0);
	(void)r->view[0];	/* faults; sleeps before and after its insert */
	return NULL;
}

/*
 * Touches fresh pages on the fault's CPU: a page freed there is the first
 * one its next allocation takes. No mmap()/munmap() here: the fault holds
 * the mmap_lock for reading, and a writer queued behind it would stall
 * every later page fault of this process, the reader's included.
 */
static void *race_reuse(void *arg)
{
	struct freed_page_race *r = arg;
	size_t ps = page_size(), off;

	pin_to_cpu(0);
	while (!r->go)
		usleep(1000);
	for (off = 0; off < r->spare_len && !r->stop; off += ps) {
		memset(r->spare + off, 0x5a, ps);
		usleep(2000);
	}
	return NULL;
}

static void *race_read(void *arg)
{
	struct freed_page_race *r = arg;

	while (!r->go)
		usleep(1000);
	while (!r->stop) {
		uint32_t w = r->view[0];
		uint32_t w1 = r->view[page_size() / 4];

		r->reads++;
		if (w != r->old_word && w != r->new_word) {
			r->bad = w;
			r->bad_reads++;
		}
		if (w1 != r->old_word1 && w1 != r->new_word1) {
			r->bad = w1;
			r->bad_reads++;
		}
		usleep(1000);
	}
	return NULL;
}

/* The reader: fault, then read inside the window; report to the owner. */
static int freed_page_reader(int fd, size_t len, const uint32_t *old_word,
			     const uint32_t *new_word, int to_owner,
			     int from_owner, unsigned int delay_ms)
{
	struct freed_page_race r = {
		.old_word = old_word[0], .new_word = new_word[0],
		.old_word1 = old_word[1], .new_word1 = new_word[1],
		.spare_len = 256 * page_size(),
	};
	struct freed_page_report rep = { 0 };
	pthread_t fault, reuse, reader;
	char go;

	r.view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	r.spare = map_anon(r.spare_len);
	if (r.view == MAP_FAILED || !r.spare)
		return 1;
	/* every thread and mapping exists before the fault takes mmap_lock */
	if (pthread_create(&reuse, NULL, race_reuse, &r) ||
	    pthread_create(&reader, NULL, race_read, &r))
		return 2;
	rep.fault_start = now_ms();
	if (pthread_create(&fault, NULL, race_fault, &r))
		return 2;
	usleep(50 * 1000);	/* inside the sleep before the insert */
	if (write(to_owner, &rep, sizeof(rep)) != sizeof(rep))
		return 3;
	if (read(from_owner, &go, 1) != 1)	/* the refresh published */
		return 4;
	/* until the insert, then inside the sleep after it */
	while (now_ms() < rep.fault_start + delay_ms + 100)
		usleep(10 * 1000);
	r.go = 1;
	pthread_join(fault, NULL);
	r.stop = 1;
	pthread_join(reuse, NULL);
	pthread_join(reader, NULL);
	rep.reads = r.reads;
	rep.bad_reads = r.bad_reads;
	rep.bad = r.bad;
	if (write(to_owner, &rep, sizeof(rep)) != sizeof(rep))
		return 6;
	return 0;
}

TEST(cpu_mapping_never_maps_a_freed_page)
{
	const unsigned int delay_ms = 1000;
	size_t ps = page_size(), len = 16 * ps;
	int dev, round, hits = 0;
	long bad = 0, reads = 0;

	if (geteuid())
		SKIP(return, "needs root (test-build module parameter)");
	if (param_read("debug_insert_delay_ms") < 0)
		SKIP(return, "no debug_insert_delay_ms: not a test build of the module");
	dev = open_dev();
	ASSERT_GE(dev, 0);

	for (round = 0; round < 6 && hits < 2; round++) {
		struct freed_page_report rep;
		struct userptr_dmabuf_info info;
		int fd, memfd, c2p[2], p2c[2], status;
		uint32_t old_word[2], new_word[2];
		uint8_t *mem, *newmem;
		double published;
		uint64_t gen;
		pid_t pid;

		mem = map_anon(len);
		ASSERT_NE(NULL, mem);
		fill(mem, len, 100 + round);
		fd = udb_create(dev, mem, len, 0);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(dev, fd));
		memfd = memfd_create("udb-new", MFD_CLOEXEC);
		ASSERT_GE(memfd, 0);
		ASSERT_EQ(0, ftruncate(memfd, len));
		newmem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			      memfd, 0);
		ASSERT_NE(MAP_FAILED, newmem);
		fill(newmem, len, 200 + round);
		old_word[0] = ((uint32_t *)mem)[0];
		new_word[0] = ((uint32_t *)newmem)[0];
		old_word[1] = ((uint32_t *)(mem + ps))[0];
		new_word[1] = ((uint32_t *)(newmem + ps))[0];
		ASSERT_EQ(0, pipe(c2p));
		ASSERT_EQ(0, pipe(p2c));
		ASSERT_EQ(0, udb_param_write("debug_insert_delay_ms", delay_ms));

		pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0)
			_exit(freed_page_reader(fd, len, old_word, new_word,
						c2p[1], p2c[0], delay_ms));
		ASSERT_EQ((ssize_t)sizeof(rep), read(c2p[0], &rep, sizeof(rep)));
		/* the owner replaces its pages: the refresh zaps and publishes */
		ASSERT_EQ(0, udb_info(dev, fd, &info));
		gen = info.generation;
		ASSERT_EQ(mem, mmap(mem, len, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_FIXED, memfd, 0));
		do {
			usleep(2000);
			ASSERT_EQ(0, udb_info(dev, fd, &info));
		} while (info.generation == gen &&
			 now_ms() < rep.fault_start + 5 * delay_ms);
		published = now_ms();
		ASSERT_EQ(1, write(p2c[1], "R", 1));
		ASSERT_EQ((ssize_t)sizeof(rep), read(c2p[0], &rep, sizeof(rep)));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		udb_param_write("debug_insert_delay_ms", 0);
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("reader: status %#x", status);

		/* inside the window only if the publish beat the insert */
		if (published + 100 < rep.fault_start + delay_ms) {
			hits++;
			reads += rep.reads;
			bad += rep.bad_reads;
			if (rep.bad_reads)
				TH_LOG("round %d: %ld of %ld reads saw %#x (old %#x/%#x, new %#x/%#x): a freed page",
				       round, rep.bad_reads, rep.reads, rep.bad,
				       old_word[0], old_word[1], new_word[0],
				       new_word[1]);
		} else {
			TH_LOG("round %d: the refresh published %.0f ms after the fault began, past its insert: not counted",
			       round, published - rep.fault_start);
		}
		close(c2p[0]);
		close(c2p[1]);
		close(p2c[0]);
		close(p2c[1]);
		munmap(newmem, len);
		munmap(mem, len);
		close(memfd);
		close(fd);
	}
	udb_param_write("debug_insert_delay_ms", 0);
	TH_LOG("%d rounds inside the window, %ld reads through the mapping there",
	       hits, reads);
	EXPECT_GE(hits, 1);
	EXPECT_GT(reads, 0);
	EXPECT_EQ(0, bad);
	close(dev);
}

#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif
#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack 453
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

/* Neither a writable nor a read-only buffer may mirror [addr, addr + len). */
static void expect_refused(struct __test_metadata *_metadata, int dev,
			   void *addr, size_t len, int err)
{
	int fd = udb_create(dev, addr, len, 0);

	EXPECT_EQ(err, fd);
	if (fd >= 0)
		close(fd);
	fd = udb_create(dev, addr, len, USERPTR_DMABUF_CREATE_READONLY);
	EXPECT_EQ(err, fd) TH_LOG("read-only");
	if (fd >= 0)
		close(fd);
}

/* memfd_secret() memory is off the direct map: never mirrored. */
TEST(secretmem_refused)
{
	size_t len = 4 * page_size();
	int dev, sfd;
	uint8_t *mem;

	sfd = syscall(__NR_memfd_secret, 0);
	if (sfd < 0 && errno == ENOSYS)
		SKIP(return, "memfd_secret() not available (secretmem.enable=0?)");
	ASSERT_GE(sfd, 0) TH_LOG("memfd_secret: %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(sfd, len));
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (mem == MAP_FAILED && errno == EAGAIN)
		SKIP(close(sfd); return, "memfd_secret mmap: RLIMIT_MEMLOCK too small");
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0x77, len);
	dev = open_dev();
	ASSERT_GE(dev, 0);

	expect_refused(_metadata, dev, mem, len, -EPERM);
	munmap(mem, len);
	close(sfd);
	close(dev);
}

/* ... and neither is it once the owner maps it over a buffer's range. */
TEST(secretmem_mapped_over_a_buffer_is_not_mirrored)
{
	size_t len = 4 * page_size();
	struct userptr_dmabuf_info info;
	int dev, sfd, fd;
	uint8_t *mem, *view;

	sfd = syscall(__NR_memfd_secret, 0);
	if (sfd < 0 && errno == ENOSYS)
		SKIP(return, "memfd_secret() not available (secretmem.enable=0?)");
	ASSERT_GE(sfd, 0);
	ASSERT_EQ(0, ftruncate(sfd, len));
	dev = open_dev();
	ASSERT_GE(dev, 0);
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 5);
	fd = udb_create(dev, mem, len, USERPTR_DMABUF_CREATE_READONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(dev, fd));

	if (mmap(mem, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 sfd, 0) == MAP_FAILED && errno == EAGAIN)
		SKIP(goto out, "memfd_secret mmap: RLIMIT_MEMLOCK too small");
	memset(mem, 0x77, len);
	EXPECT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(dev, fd));
	ASSERT_EQ(0, udb_info(dev, fd, &info));
	EXPECT_EQ(-EPERM, info.last_error);
	/* a reader of the dma-buf sees zeros, not the secret */
	view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, view);
	EXPECT_EQ(-1, check_zero(view, len));
	munmap(view, len);
out:
	munmap(mem, len);
	close(fd);
	close(sfd);
	close(dev);
}

/* A CPU mapping of the dma-buf would be a writable view of a shadow stack. */
TEST(shadow_stack_refused)
{
	size_t len = 4 * page_size();
	int dev;
	void *ss;

	ss = (void *)syscall(__NR_map_shadow_stack, 0, len, 0);
	if (ss == (void *)-1 && (errno == ENOSYS || errno == EOPNOTSUPP))
		SKIP(return, "no user shadow stacks (CPU without CET, or kernel without X86_USER_SHADOW_STACK)");
	ASSERT_NE((void *)-1, ss) TH_LOG("map_shadow_stack: %s", strerror(errno));
	dev = open_dev();
	ASSERT_GE(dev, 0);
	expect_refused(_metadata, dev, ss, len, -EPERM);
	munmap(ss, len);
	close(dev);
}

/* Droppable memory may vanish under pressure instead of being swapped. */
TEST(droppable_memory_refused)
{
	size_t len = 4 * page_size();
	uint8_t *mem;
	int dev;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED && errno == EINVAL)
		SKIP(return, "no MAP_DROPPABLE (kernel before 6.11)");
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 1, len);
	dev = open_dev();
	ASSERT_GE(dev, 0);
	expect_refused(_metadata, dev, mem, len, -EPERM);
	munmap(mem, len);
	close(dev);
}

/*
 * Pins are charged to the owner's mm, so the owner's RLIMIT_MEMLOCK limits
 * them, whoever attaches: a root importer (a compositor) must not lift an
 * unprivileged owner's limit.
 */
TEST(pins_limited_by_the_owners_memlock)
{
	size_t len = 16 << 20;
	int imp, fd, h, sock;
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root (the privileged importer)");
	imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(imp, 0) TH_LOG("is udb_importer loaded?");
	pid = limited_owner_start(len, &fd, &sock);
	ASSERT_GT(pid, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(imp, fd, 0);	/* static: pins the whole buffer */
	EXPECT_EQ(-ENOMEM, h) TH_LOG("a root importer pinned %zu MiB of an owner limited to 64 KiB",
				     len >> 20);
	if (h >= 0)
		imp_detach(imp, h);
	EXPECT_EQ(0, limited_owner_done(pid, sock));
	close(fd);
	close(imp);
}

/*
 * An attach the exporter refuses returns the exporter's errno, every time,
 * and leaves nothing behind: the exporter's per-attachment state is freed
 * before it returns, and the errno must not be read from it afterwards (a
 * freed object's contents became the "error", which the core turned into
 * a bogus attachment pointer the importer later detached). The debug VMs
 * poison freed kmalloc objects (slab_debug=P), so a read after the free
 * shows here as a wrong return, and as a KASAN report in the KASAN VM.
 */
TEST(refused_attach_returns_its_errno)
{
	size_t len = 16 << 20;
	int imp, fd, h, sock, i, bad = 0;
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root (the privileged importer)");
	imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(imp, 0) TH_LOG("is udb_importer loaded?");
	pid = limited_owner_start(len, &fd, &sock);
	ASSERT_GT(pid, 0);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 64; i++) {
		h = imp_attach(imp, fd, 0);	/* static: pins the whole buffer */
		if (h == -ENOMEM)
			continue;
		bad++;
		TH_LOG("static attach %d returned %d, not -ENOMEM", i, h);
		if (h >= 0)
			imp_detach(imp, h);
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, limited_owner_done(pid, sock));
	close(fd);
	close(imp);
}

/*
 * Signal @timeline @after_ms after a byte arrives on the returned pipe,
 * from another process: a thread of the owner could stall behind the
 * mmap_lock the owner's madvise() holds while its notifier waits. Fork
 * before the fence goes into the buffer: fork() itself write-protects the
 * owner's pages, and that change would wait for the fence.
 */
static pid_t signal_later(int timeline, unsigned int after_ms, int *go)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		usleep(after_ms * 1000);
		_exit(sw_inc(timeline) ? 1 : 0);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

/*
 * One fence timeout lets the owner's next CPU changes go ahead without
 * waiting for a while, once: the changes in that while neither extend it
 * nor count as timeouts when the device work has finished, and the first
 * change after it waits for device work again.
 */
TEST(fence_wait_skip_is_one_off)
{
	size_t ps = page_size(), len = 16 * ps;
	struct userptr_dmabuf_info info;
	int dev, fd, tl, tl2, f1, f2, i, status, go;
	pid_t pid;
	uint8_t *mem;
	double t;

	f1 = sw_fence(&tl);
	if (f1 < 0)
		SKIP(return, "no sw_sync (root, debugfs, CONFIG_SW_SYNC)");
	dev = open_dev();
	ASSERT_GE(dev, 0);
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 9);
	fd = udb_create(dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, add_fence(fd, f1));

	t = now_ms();
	ASSERT_EQ(0, madvise(mem, ps, MADV_DONTNEED));
	t = now_ms() - t;
	TH_LOG("first change with a stuck fence: %.0f ms", t);
	EXPECT_GT(t, 4000.0);
	ASSERT_EQ(0, sw_inc(tl));	/* the device finishes */

	/* changes in the next 7 s: no wait, nothing unfinished to count */
	for (i = 1; i <= 7; i++) {
		usleep(1000 * 1000);
		ASSERT_EQ(0, madvise(mem + i * ps, ps, MADV_DONTNEED));
	}
	ASSERT_EQ(0, udb_info(dev, fd, &info));
	EXPECT_EQ(1ULL, info.fence_timeouts);

	/* new device work that takes 1 s: the next change waits for it */
	f2 = sw_fence(&tl2);
	ASSERT_GE(f2, 0);
	pid = signal_later(tl2, 1000, &go);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, add_fence(fd, f2));
	ASSERT_EQ(1, write(go, "g", 1));
	t = now_ms();
	ASSERT_EQ(0, madvise(mem + 8 * ps, ps, MADV_DONTNEED));
	t = now_ms() - t;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	close(go);
	TH_LOG("change with device work that finishes after 1 s: %.0f ms", t);
	EXPECT_GT(t, 800.0) TH_LOG("the change did not wait for device work");
	ASSERT_EQ(0, udb_info(dev, fd, &info));
	EXPECT_EQ(1ULL, info.fence_timeouts);

	close(f1);
	close(f2);
	close(tl);
	close(tl2);
	close(fd);
	munmap(mem, len);
	close(dev);
}

/*
 * Fences any fd holder adds may never signal. An owner that exits with
 * many such buffers must not wait for each one in turn: one timeout, and
 * the rest of its exit goes ahead.
 */
TEST(exit_with_many_stuck_buffers_is_bounded)
{
	const char *env = getenv("UDB_STUCK_BUFFERS");
	int n = env ? atoi(env) : 100;
	int tl, fence, pipefd[2], status, i;
	double t0, t = 0;
	pid_t pid, reaped;

	fence = sw_fence(&tl);
	if (fence < 0)
		SKIP(return, "no sw_sync (root, debugfs, CONFIG_SW_SYNC)");
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		size_t ps = page_size();
		uint8_t *mem = map_anon(n * ps);
		int dev = open_dev();

		if (!mem || dev < 0)
			_exit(10);
		memset(mem, 1, n * ps);
		for (i = 0; i < n; i++) {
			int fd = udb_create(dev, mem + i * ps, ps, 0);

			if (fd < 0 || add_fence(fd, fence))
				_exit(11);
		}
		/* exit_mmap() runs every buffer's notifier, fds still open */
		if (write(pipefd[1], "x", 1) != 1)
			_exit(12);
		_exit(0);
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &i, 1));
	t0 = now_ms();
	/* within kselftest's 30 s per case; the old code took n x 5 s */
	while (!(reaped = waitpid(pid, &status, WNOHANG))) {
		t = now_ms() - t0;
		if (t > 20000)
			break;
		usleep(50 * 1000);
	}
	t = now_ms() - t0;
	TH_LOG("exit with %d buffers holding a never-signalled fence: %.1f s%s",
	       n, t / 1e3, reaped ? "" : " and counting");
	EXPECT_EQ(pid, reaped);
	/* the device finishes: an exit still waiting goes on */
	ASSERT_EQ(0, sw_inc(tl));
	if (!reaped)
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fence);
	close(tl);
	close(pipefd[0]);
}

/*
 * Each buffer costs kernel memory per page it mirrors, touched or not, and
 * one range can be mirrored many times: a user's buffers are limited in
 * bytes (max_mb_per_user), with -ENOMEM, and the allowance comes back.
 */
TEST(per_user_byte_limit)
{
	size_t len = 4 << 20;
	long old;
	int status;
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root (module parameter)");
	old = param_read("max_mb_per_user");
	ASSERT_GT(old, 0) TH_LOG("no max_mb_per_user parameter");
	ASSERT_EQ(0, udb_param_write("max_mb_per_user", 10));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int dev = open_dev(), fd[3], more;
		uint8_t *mem = map_anon(len);

		/* a uid of its own: no other test's buffers count */
		if (dev < 0 || !mem || setresuid(65533, 65533, 65533))
			_exit(10);
		memset(mem, 1, len);
		fd[0] = udb_create(dev, mem, len, 0);
		fd[1] = udb_create(dev, mem, len, 0);
		if (fd[0] < 0 || fd[1] < 0)
			_exit(11);
		fd[2] = udb_create(dev, mem, len, 0);
		if (fd[2] != -ENOMEM)
			_exit(12);
		close(fd[0]);
		fd[2] = udb_create(dev, mem, len, 0);
		if (fd[2] < 0)
			_exit(13);
		/* a smaller one still fits */
		more = udb_create(dev, mem, 2 << 20, 0);
		if (more < 0)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	udb_param_write("max_mb_per_user", old);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("step %d", WEXITSTATUS(status) - 10);
}

/*
 * Accesses the fault counts measure go around ASan: its shadow is mapped
 * lazily, and a fault on a shadow page would be counted too (one per 32
 * KiB of the mapping read).
 */
static __attribute__((no_sanitize_address)) uint8_t peek(const volatile uint8_t *p)
{
	return *p;
}

static __attribute__((no_sanitize_address)) void poke(volatile uint8_t *p, uint8_t v)
{
	*p = v;
}

static long faults_now(void)
{
	struct rusage r;

	getrusage(RUSAGE_THREAD, &r);
	return r.ru_minflt + r.ru_majflt;	/* a retried fault is major */
}

/* Anonymous memory of n pages, page i filled with byte(i), as a dma-buf. */
struct cpu_view {
	int dev, fd;
	size_t len;
	uint8_t *mem, *view;	/* the owner's memory, the dma-buf's mapping */
};

static uint8_t view_byte(size_t i)
{
	return (uint8_t)(i * 7 + 1);
}

/* Returns 0, or the step that failed. */
static int cpu_view_open(struct cpu_view *v, size_t n, int prot)
{
	size_t ps = page_size(), i;

	v->len = n * ps;
	v->dev = open_dev();
	if (v->dev < 0)
		return 1;
	v->mem = map_anon(v->len);
	if (!v->mem)
		return 2;
	for (i = 0; i < n; i++)
		memset(v->mem + i * ps, view_byte(i), ps);
	v->fd = udb_create(v->dev, v->mem, v->len, 0);
	if (v->fd < 0)
		return 3;
	if (udb_settle(v->dev, v->fd) != USERPTR_DMABUF_STATE_VALID)
		return 4;
	v->view = mmap(NULL, v->len, prot, MAP_SHARED, v->fd, 0);
	return v->view == MAP_FAILED ? 5 : 0;
}

static void cpu_view_close(struct cpu_view *v)
{
	munmap(v->view, v->len);
	close(v->fd);
	munmap(v->mem, v->len);
	close(v->dev);
}

/*
 * A first write through a CPU mapping of the dma-buf faults once, not
 * twice: one write per fault-around chunk (64 pages apart, more than a
 * chunk), so the neighbours a fault maps read-only are not counted.
 */
TEST(first_write_faults_once)
{
	size_t ps = page_size(), n = 32, step = 64, i;
	struct cpu_view v;
	long faults;

	ASSERT_EQ(0, cpu_view_open(&v, n * step, PROT_READ | PROT_WRITE));
	faults = faults_now();
	for (i = 0; i < n; i++)
		poke(v.view + i * step * ps, 0xee);
	faults = faults_now() - faults;
	TH_LOG("%zu first writes: %ld faults", n, faults);
	/* 2n when the write fault maps read-only and pfn_mkwrite follows */
	EXPECT_LE(faults, (long)n + (long)n / 2);
	EXPECT_EQ(0xee, v.mem[(n - 1) * step * ps]);
	cpu_view_close(&v);
}

/*
 * The pages a read fault maps around the faulting one are read-only: the
 * first write to each still faults (pfn_mkwrite dirties it, which
 * writeback of file-backed memory relies on), and reaches the owner.
 */
TEST(fault_around_maps_read_only)
{
	size_t ps = page_size(), n = 16, i;
	struct cpu_view v;
	long faults;

	ASSERT_EQ(0, cpu_view_open(&v, n, PROT_READ | PROT_WRITE));
	ASSERT_EQ(view_byte(0), v.view[0]);	/* maps the chunk, read-only */
	faults = faults_now();
	for (i = 1; i < n; i++)
		poke(v.view + i * ps, 0xee);
	faults = faults_now() - faults;
	TH_LOG("%zu writes after a read: %ld faults", n - 1, faults);
	EXPECT_LE((long)n - 1, faults);
	for (i = 1; i < n; i++)
		EXPECT_EQ(0xee, v.mem[i * ps]);
	cpu_view_close(&v);
}

/*
 * Reading a CPU mapping of the dma-buf front to back faults about once per
 * chunk the exporter maps around a fault, not once per page, and every
 * page reads what the owner wrote there, also through a mapping that
 * starts a few pages into the buffer (its pages' addresses come from the
 * mapping's offset).
 */
TEST(read_faults_per_chunk)
{
	size_t ps = page_size(), n = 512, off = 3, vn = 100, i;
	struct cpu_view v;
	long faults, bad = 0;
	uint8_t *win;

	ASSERT_EQ(0, cpu_view_open(&v, n, PROT_READ));
	faults = faults_now();
	for (i = 0; i < n; i++)
		bad += peek(v.view + i * ps + ps / 2) != view_byte(i);
	faults = faults_now() - faults;
	TH_LOG("%zu pages read: %ld faults", n, faults);
	EXPECT_EQ(0, bad);
	/* one per page without fault-around */
	EXPECT_LE(faults, (long)n / 8);

	/* a window: pages off .. off + vn - 1 */
	win = mmap(NULL, vn * ps, PROT_READ, MAP_SHARED, v.fd, (off_t)(off * ps));
	ASSERT_NE(MAP_FAILED, win);
	bad = 0;
	for (i = 0; i < vn; i++)
		bad += win[i * ps] != view_byte(i + off);
	EXPECT_EQ(0, bad);
	munmap(win, vn * ps);
	cpu_view_close(&v);
}

/*
 * The reference importer's pinned (static) attachments never change, so
 * a refresh must not notify them: on a kernel without dynamic importers
 * that would make every importer evict and re-map for nothing.
 */
TEST(pinned_attachment_gets_no_notification)
{
	size_t ps = page_size(), len = 8 * ps;
	struct udb_importer_copy c;
	int dev, imp, fd, h;
	uint8_t *mem, *buf;
	uint32_t flags;

	imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(imp, 0) TH_LOG("is udb_importer loaded?");
	dev = open_dev();
	ASSERT_GE(dev, 0);
	/* where importers can be dynamic, notifying them is right */
	if (kernel_is_dynamic(dev))
		SKIP(close(dev); close(imp); return,
		     "dynamic importers exist: only pinned kernels apply");
	/* the attachment registers move_notify, and is pinned anyway */
	flags = UDB_IMPORTER_ATTACH_DYNAMIC;
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 3);
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	fd = udb_create(dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(imp, fd, flags);
	ASSERT_GE(h, 0);
	ASSERT_EQ(0, imp_copy(imp, h, UDB_IMPORTER_READ, 0, buf, len, &c));
	/* the CPU mapping changes: the buffer refreshes, the pin stays */
	ASSERT_EQ(0, madvise(mem, len, MADV_DONTNEED));
	fill(mem, len, 4);
	ASSERT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(dev, fd));
	ASSERT_EQ(0, imp_copy(imp, h, UDB_IMPORTER_READ, 0, buf, len, &c));
	EXPECT_EQ(0ULL, c.invalidations);
	EXPECT_EQ(1ULL, c.maps);
	imp_detach(imp, h);
	close(fd);
	free(buf);
	munmap(mem, len);
	close(dev);
	close(imp);
}

/* Pages of [mem, mem + n pages) whose PTE is a swap entry. */
static long swapped_pages(const uint8_t *mem, size_t n)
{
	int f = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e;
	long swapped = 0;
	size_t i;

	if (f < 0)
		return -1;
	for (i = 0; i < n; i++) {
		off_t off = ((uintptr_t)mem / page_size() + i) * sizeof(e);

		if (pread(f, &e, sizeof(e), off) != sizeof(e)) {
			swapped = -1;
			break;
		}
		swapped += (e >> 62) & 1;
	}
	close(f);
	return swapped;
}

/*
 * Nothing follows a buffer that no importer, CPU mapping or vmap uses: a
 * change of its range must not be refreshed right away, or every page
 * reclaim pushes out would be faulted straight back in (an mlock nobody
 * accounted). The pages stay in swap until someone asks for the snapshot.
 */
TEST(pageout_stays_out_without_users)
{
	size_t ps = page_size(), n = 64, len = n * ps;
	long before, after = -1, swapped;
	uint8_t *mem, *view;
	int dev, fd, i;

	if (!have_swap())
		SKIP(return, "no swap (tests/vm/swap.sh adds some)");
	dev = open_dev();
	ASSERT_GE(dev, 0);
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	fill(mem, len, 11);
	fd = udb_create(dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	before = vmstat("pswpout");
	for (i = 0; i < 5 && after <= before; i++) {
		ASSERT_EQ(0, madvise(mem, len, MADV_PAGEOUT));
		after = vmstat("pswpout");
		if (after <= before)
			usleep(100000);
	}
	ASSERT_GT(after, before) TH_LOG("nothing was written to swap");
	/* a refresh would have faulted them back in by now */
	usleep(2000 * 1000);
	swapped = swapped_pages(mem, n);
	TH_LOG("%ld of %zu pages still in swap 2 s after MADV_PAGEOUT",
	       swapped, n);
	EXPECT_GT(swapped, (long)n / 4);

	/* someone asks: the snapshot follows, with the CPU's bytes */
	view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, view);
	EXPECT_EQ(-1, check(view, len, 11));
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(dev, fd));
	munmap(view, len);
	close(fd);
	munmap(mem, len);
	close(dev);
}

/*
 * A minimal FUSE server over /dev/fuse: one 64 KiB file "f", whose reads
 * are answered until told not to, then left pending (a server that hangs).
 */
struct fuse_srv {
	int fd;
	char dir[64];
	pthread_t thr;
	volatile int answer;	/* answer READs */
	volatile int quit;
	uint64_t pending[64];	/* unanswered READs: unique ... */
	struct fuse_read_in pending_in[64];	/* ... and what they asked */
	volatile int npending;
	pthread_mutex_t lock;
};

#define FUSE_FILE_SIZE	(64 << 10)

static void fuse_reply(struct fuse_srv *s, uint64_t unique, int err,
		       const void *arg, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = err, .unique = unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { (void *)arg, len },
	};

	if (writev(s->fd, iov, len ? 2 : 1) < 0 && errno != ENOENT)
		perror("fuse reply");
}

static void fuse_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = ino == 1 ? 040755 : 0100644;
	a->nlink = 1;
	a->size = ino == 1 ? 0 : FUSE_FILE_SIZE;
	a->blocks = a->size / 512;
	a->blksize = 4096;
}

static void fuse_read_reply(struct fuse_srv *s, uint64_t unique,
			    const struct fuse_read_in *in)
{
	size_t len = in->offset >= FUSE_FILE_SIZE ? 0 :
		     FUSE_FILE_SIZE - in->offset;
	static uint8_t data[FUSE_FILE_SIZE];

	if (len > in->size)
		len = in->size;
	memset(data, 0x42, sizeof(data));
	fuse_reply(s, unique, 0, data, len);
}

static void fuse_handle(struct fuse_srv *s, const struct fuse_in_header *ih,
			const void *arg)
{
	switch (ih->opcode) {
	case FUSE_INIT: {
		struct fuse_init_out o = {
			.major = FUSE_KERNEL_VERSION, .minor = 26,
			.max_readahead = 65536, .max_write = 65536,
		};

		fuse_reply(s, ih->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out o = { .nodeid = 2, .generation = 1 };

		if (strcmp(arg, "f")) {
			fuse_reply(s, ih->unique, -ENOENT, NULL, 0);
			break;
		}
		fuse_attr(&o.attr, 2);
		o.entry_valid = o.attr_valid = 3600;
		fuse_reply(s, ih->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { .attr_valid = 3600 };

		fuse_attr(&o.attr, ih->nodeid);
		fuse_reply(s, ih->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_OPEN: {
		struct fuse_open_out o = { .fh = 1, .open_flags = FOPEN_KEEP_CACHE };

		fuse_reply(s, ih->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READ:
		pthread_mutex_lock(&s->lock);
		if (s->answer || s->npending == 64)
			fuse_read_reply(s, ih->unique, arg);
		else {
			s->pending_in[s->npending] = *(const struct fuse_read_in *)arg;
			s->pending[s->npending++] = ih->unique;
		}
		pthread_mutex_unlock(&s->lock);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		fuse_reply(s, ih->unique, 0, NULL, 0);
		break;
	default:
		fuse_reply(s, ih->unique, -ENOSYS, NULL, 0);
		break;
	}
}

static void *fuse_loop(void *arg)
{
	struct fuse_srv *s = arg;
	static uint8_t buf[1 << 17];

	while (!s->quit) {
		ssize_t n = read(s->fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			break;	/* ENODEV: unmounted */
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		fuse_handle(s, (void *)buf, buf + sizeof(struct fuse_in_header));
	}
	return NULL;
}

static int fuse_start(struct fuse_srv *s)
{
	char opts[128];

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->answer = 1;
	s->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	strcpy(s->dir, "/tmp/udb-fuse-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0",
		 s->fd);
	if (mount("udbfuse", s->dir, "fuse", MS_NOSUID | MS_NODEV, opts))
		return -errno;
	return pthread_create(&s->thr, NULL, fuse_loop, s) ? -EAGAIN : 0;
}

/* Answer what is pending and every later READ. */
static void fuse_release_pending(struct fuse_srv *s)
{
	int i;

	pthread_mutex_lock(&s->lock);
	s->answer = 1;
	for (i = 0; i < s->npending; i++)
		fuse_read_reply(s, s->pending[i], &s->pending_in[i]);
	s->npending = 0;
	pthread_mutex_unlock(&s->lock);
}

static void fuse_stop(struct fuse_srv *s)
{
	fuse_release_pending(s);
	s->quit = 1;
	umount2(s->dir, MNT_DETACH);
	close(s->fd);	/* aborts the connection, ends the loop's read */
	pthread_join(s->thr, NULL);
	rmdir(s->dir);
}

/* The server drops the file's cached pages, which unmaps them. */
static int fuse_inval(struct fuse_srv *s)
{
	struct fuse_notify_inval_inode_out o = { .ino = 2, .off = 0, .len = -1 };
	struct fuse_out_header oh = {
		.len = sizeof(oh) + sizeof(o),
		.error = FUSE_NOTIFY_INVAL_INODE,
	};
	struct iovec iov[2] = { { &oh, sizeof(oh) }, { &o, sizeof(o) } };

	return writev(s->fd, iov, 2) < 0 ? -errno : 0;
}

/*
 * A FUSE server here and an owner child that makes a buffer over the
 * server's file and passes it: what the FUSE tests share.
 */
struct fuse_case {
	struct fuse_srv s;
	int dev, fd, sv[2], done[2];
	pid_t owner;
	char skip[64];	/* why the test cannot run here */
};

typedef int (*fuse_owner_fn)(const char *path, int sock, int done);

/*
 * Start the server and @owner_fn in a child with the file's path, one end
 * of a socket to pass the buffer's fd on, and a pipe to wait on until the
 * test is done. Return: 0; 1 if the test cannot run here (not root, no
 * FUSE in the kernel), why in fc->skip; or -errno.
 */
static int fuse_case_start(struct fuse_case *fc, fuse_owner_fn owner_fn)
{
	char path[96];
	int ret;

	if (geteuid()) {
		strcpy(fc->skip, "needs root (mounts a FUSE filesystem)");
		return 1;
	}
	/* no module to load: fuse_start() says so */
	if (access("/dev/fuse", F_OK) && system("modprobe fuse 2>/dev/null"))
		errno = 0;
	ret = fuse_start(&fc->s);
	if (ret == -ENOENT || ret == -ENODEV) {
		snprintf(fc->skip, sizeof(fc->skip), "no FUSE (/dev/fuse: %s)",
			 strerror(-ret));
		return 1;
	}
	if (ret)
		return ret;
	fc->dev = open_dev();
	if (fc->dev < 0)
		return -ENODEV;
	snprintf(path, sizeof(path), "%s/f", fc->s.dir);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fc->sv) ||
	    pipe2(fc->done, O_CLOEXEC))
		return -errno;
	fc->owner = fork();
	if (fc->owner < 0)
		return -errno;
	if (fc->owner == 0)
		_exit(owner_fn(path, fc->sv[1], fc->done[0]));
	fc->fd = recv_fd(fc->sv[0]);
	return fc->fd < 0 ? -EPROTO : 0;
}

/* Let the owner's @readers processes go; the owner's wait status. */
static int fuse_case_end(struct fuse_case *fc, int readers)
{
	int status = -1;

	if (write(fc->done[1], "xxxx", readers) != readers ||
	    waitpid(fc->owner, &status, 0) != fc->owner)
		status = -1;
	close(fc->dev);
	fuse_stop(&fc->s);
	return status;
}

/*
 * How long @pid took to exit, polled, with its wait status in @status;
 * over @limit_ms it still runs: @status is then -1 (wait for it later).
 */
static double child_exit_ms(pid_t pid, double limit_ms, int *status)
{
	double t0 = now_ms(), t = 0;

	*status = -1;
	while (waitpid(pid, status, WNOHANG) == 0) {
		t = now_ms() - t0;
		if (t > limit_ms)
			break;
		usleep(20 * 1000);
	}
	return t;
}

static void child_reap(pid_t pid, int *status)
{
	if (*status == -1)
		waitpid(pid, status, 0);
}

/*
 * Any dma-buf fd holder may bracket CPU access with DMA_BUF_IOCTL_SYNC;
 * the owner's memory may sit on a filesystem whose server never answers.
 * The SYNC must come back within its bound, not hang in the owner's
 * faults (a compositor syncing a client's buffer). The owner is a child
 * (the stuck refresh holds its mmap_lock), the server runs here.
 */
static int fuse_owner(const char *path, int sock, int done)
{
	int dev = open_dev(), f = open(path, O_RDONLY | O_CLOEXEC), fd;
	uint8_t *mem;
	char c;

	if (dev < 0 || f < 0)
		return 1;
	mem = mmap(NULL, FUSE_FILE_SIZE, PROT_READ, MAP_PRIVATE, f, 0);
	if (mem == MAP_FAILED || mem[0] != 0x42)
		return 2;
	fd = udb_create(dev, mem, FUSE_FILE_SIZE, USERPTR_DMABUF_CREATE_READONLY);
	if (fd < 0 || send_fd(sock, fd))
		return 3;
	/* the test's fd is the only one left; then say so */
	close(fd);
	if (write(sock, "c", 1) != 1)
		return 5;
	/* keep the range mapped until the test is done */
	return read(done, &c, 1) == 1 ? 0 : 4;
}

TEST(sync_does_not_hang_in_the_owners_faults)
{
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
	};
	struct userptr_dmabuf_info info;
	int res[2], status, ret;
	struct fuse_case fc;
	pid_t syncer;
	double t;

	ret = fuse_case_start(&fc, fuse_owner);
	if (ret > 0)
		SKIP(return, "%s", fc.skip);
	ASSERT_EQ(0, ret) TH_LOG("fuse: %s", strerror(-ret));
	ASSERT_EQ(0, pipe2(res, O_CLOEXEC));

	/* the server hangs, and drops the pages: the refresh must fault */
	fc.s.answer = 0;
	ASSERT_EQ(0, fuse_inval(&fc.s));
	syncer = fork();
	ASSERT_GE(syncer, 0);
	if (syncer == 0) {
		/* another process with the fd: a compositor */
		ret = ioctl(fc.fd, DMA_BUF_IOCTL_SYNC, &sync) ? errno : 0;
		_exit(write(res[1], &ret, sizeof(ret)) == sizeof(ret) ? 0 : 1);
	}
	t = child_exit_ms(syncer, 10000, &status);
	TH_LOG("SYNC from another process while the owner's faults hang: %.0f ms%s",
	       t, t > 10000 ? " and counting" : "");
	EXPECT_LT(t, 5000.0);
	if (!udb_info(fc.dev, fc.fd, &info))
		TH_LOG("buffer state %u meanwhile", info.state);

	/* the server recovers: everything comes back */
	fuse_release_pending(&fc.s);
	child_reap(syncer, &status);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (read(res[0], &ret, sizeof(ret)) == sizeof(ret))
		EXPECT_EQ(0, ret) TH_LOG("SYNC: %s", strerror(ret));
	EXPECT_EQ(USERPTR_DMABUF_STATE_VALID, udb_settle(fc.dev, fc.fd));
	close(fc.fd);
	status = fuse_case_end(&fc, 1);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * The last close of a buffer whose refresh is stuck in the owner's faults
 * (the owner's file server stopped answering) must come back at once,
 * whichever process closes: the release must not wait for the refresh.
 * Once the server answers, the refresh ends and the buffer is gone.
 */
TEST(last_close_does_not_wait_for_a_refresh_in_the_owners_faults)
{
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
	};
	int go[2], status, ret, i;
	struct fuse_case fc;
	struct stat st;
	pid_t closer;
	char c;
	double t;

	/* whether the buffer is still there is read from debugfs */
	if (!geteuid() && access("/sys/kernel/debug/userptr_dmabuf/buffers", R_OK))
		SKIP(return, "no debugfs list of buffers");
	ret = fuse_case_start(&fc, fuse_owner);
	if (ret > 0)
		SKIP(return, "%s", fc.skip);
	ASSERT_EQ(0, ret) TH_LOG("fuse: %s", strerror(-ret));
	ASSERT_EQ(1, read(fc.sv[0], &c, 1)) TH_LOG("the owner kept its fd");
	ASSERT_EQ(0, fstat(fc.fd, &st));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));

	/* the server hangs and drops the pages; a SYNC asks for a refresh */
	fc.s.answer = 0;
	ASSERT_EQ(0, fuse_inval(&fc.s));
	if (!ioctl(fc.fd, DMA_BUF_IOCTL_SYNC, &sync)) {
		sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
		ioctl(fc.fd, DMA_BUF_IOCTL_SYNC, &sync);
	}
	for (i = 0; i < 500 && !fc.s.npending; i++)
		usleep(10 * 1000);
	ASSERT_NE(0, fc.s.npending) TH_LOG("the refresh never asked for the page");

	/* another process closes the last fd: this one cannot hang */
	closer = fork();
	ASSERT_GE(closer, 0);
	if (closer == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 1 && !close(fc.fd) ? 0 : 1);
	}
	close(fc.fd);
	ASSERT_EQ(1, write(go[1], "x", 1));
	t = child_exit_ms(closer, 10000, &status);
	TH_LOG("last close while the refresh waits for the owner's server: %.0f ms%s",
	       t, t > 10000 ? " and counting" : "");
	EXPECT_LT(t, 2000.0);
	EXPECT_LT(0, debugfs_stat_ino((unsigned long)st.st_ino, "size"))
		TH_LOG("the buffer went while its refresh still ran");

	/* the server recovers: the refresh ends, then the buffer goes */
	fuse_release_pending(&fc.s);
	child_reap(closer, &status);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (i = 0; i < 500; i++) {
		if (debugfs_stat_ino((unsigned long)st.st_ino, "size") == -1)
			break;
		usleep(10 * 1000);
	}
	EXPECT_EQ(-1, debugfs_stat_ino((unsigned long)st.st_ino, "size"))
		TH_LOG("the buffer is still listed 5 s after its refresh could end");
	status = fuse_case_end(&fc, 1);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * One user runs at most 8 refreshes at a time; the others wait for a slot.
 * While 8 hang in the owner's faults (its file server stopped answering),
 * the same user's other buffers waiting for a slot must not keep the CPUs
 * busy (each used to retry every 20 ms), must go when released, and must
 * all refresh once the server answers.
 */
#define SLOT_HOGS	8
#define SLOT_WAITERS	1000
#define SLOT_GONE	500	/* released while they wait */
#define SLOT_GONE_LATE	100	/* released as the slots free */
#define SLOT_KEPT	(SLOT_WAITERS - SLOT_GONE - SLOT_GONE_LATE)

static int fuse_slot_owner(const char *path, int sock, int done)
{
	size_t ps = page_size();
	int dev = open_dev(), f = open(path, O_RDONLY | O_CLOEXEC), fd[SLOT_HOGS];
	uint8_t *mem;
	char c;
	int i;

	if (dev < 0 || f < 0)
		return 1;
	mem = mmap(NULL, SLOT_HOGS * ps, PROT_READ, MAP_PRIVATE, f, 0);
	if (mem == MAP_FAILED || mem[0] != 0x42)
		return 2;
	/* a buffer per page, each followed by a CPU mapping: refreshed at once */
	for (i = 0; i < SLOT_HOGS; i++) {
		fd[i] = udb_create(dev, mem + i * ps, ps,
				   USERPTR_DMABUF_CREATE_READONLY);
		if (fd[i] < 0 || mmap(NULL, ps, PROT_READ, MAP_SHARED, fd[i], 0) ==
				 MAP_FAILED)
			return 3;
	}
	if (send_fd(sock, fd[0]))
		return 4;
	return read(done, &c, 1) == 1 ? 0 : 5;
}

/* The share of the CPUs' time that was not idle over @ms; -1 on error. */
static double cpu_busy_over(int ms)
{
	unsigned long long a[2][8] = { { 0 } };
	double busy, total;
	int k, n;

	for (k = 0; k < 2; k++) {
		FILE *f = fopen("/proc/stat", "r");

		if (!f)
			return -1;
		n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &a[k][0], &a[k][1], &a[k][2], &a[k][3], &a[k][4],
			   &a[k][5], &a[k][6], &a[k][7]);
		fclose(f);
		if (n != 8)
			return -1;
		if (!k)
			usleep(ms * 1000);
	}
	/* steal (the last) is neither: the host's, not ours */
	for (busy = total = 0, k = 0; k < 7; k++) {
		total += a[1][k] - a[0][k];
		if (k != 3 && k != 4)	/* idle, iowait */
			busy += a[1][k] - a[0][k];
	}
	return total ? busy / total : -1;
}

/*
 * How many of this process's buffers debugfs lists, and how many of those
 * are valid. Reading the list asks for no refresh (INFO would).
 */
static int my_buffers(int *valid)
{
	FILE *f = fopen("/sys/kernel/debug/userptr_dmabuf/buffers", "r");
	char line[128];
	int n = 0, mine = 0;

	*valid = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "owner_pid: ", 11)) {
			mine = atoi(line + 11) == getpid();
			n += mine;
		} else if (mine && !strcmp(line, "state: valid\n")) {
			(*valid)++;
		}
	}
	fclose(f);
	return n;
}

TEST(refreshes_waiting_for_a_slot_cost_no_cpu)
{
	size_t ps = page_size(), len = SLOT_WAITERS * ps;
	int ret, i, status, probe = -1, fd, bad, valid;
	struct userptr_dmabuf_info info;
	void *views[SLOT_WAITERS];
	struct fuse_case fc;
	uint8_t *mem;
	double busy;

	/* whether the buffers refreshed is read from debugfs */
	if (!geteuid() && access("/sys/kernel/debug/userptr_dmabuf/buffers", R_OK))
		SKIP(return, "no debugfs list of buffers");
	ret = fuse_case_start(&fc, fuse_slot_owner);
	if (ret > 0)
		SKIP(return, "%s", fc.skip);
	ASSERT_EQ(0, ret) TH_LOG("fuse: %s", strerror(-ret));
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	memset(mem, 1, len);
	for (i = 0; i < SLOT_WAITERS; i++) {
		fd = udb_create(fc.dev, mem + i * ps, ps, 0);
		ASSERT_GE(fd, 0) TH_LOG("buffer %d: %s", i, strerror(-fd));
		views[i] = mmap(NULL, ps, PROT_READ, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, views[i]);
		if (i == SLOT_WAITERS - 1)
			probe = fd;
		else
			close(fd);
	}

	/* the owner's 8 refreshes hang in its file server ... */
	fc.s.answer = 0;
	ASSERT_EQ(0, fuse_inval(&fc.s));
	for (i = 0; i < 500 && !fc.s.npending; i++)
		usleep(10 * 1000);
	ASSERT_NE(0, fc.s.npending) TH_LOG("no refresh asked for the file");
	usleep(500 * 1000);
	/* ... and this user's other buffers wait for a slot */
	ASSERT_EQ(0, madvise(mem, len, MADV_DONTNEED));
	usleep(500 * 1000);
	ASSERT_EQ(0, udb_info(fc.dev, probe, &info));
	EXPECT_EQ((__u32)USERPTR_DMABUF_STATE_STALE, info.state)
		TH_LOG("refreshed while every slot was taken?");
	busy = cpu_busy_over(2000);
	TH_LOG("%d buffers waiting for a refresh slot: CPUs %.0f%% busy",
	       SLOT_WAITERS, busy * 100);
	EXPECT_LE(0, busy);
	EXPECT_GT(0.15, busy) TH_LOG("waiting refreshes keep the CPUs busy");

	/* half of them go while they wait */
	for (i = 0; i < SLOT_GONE; i++)
		munmap(views[i], ps);
	usleep(200 * 1000);

	/*
	 * The server recovers, and 100 more waiting buffers go meanwhile:
	 * every buffer left refreshes without anything asking again.
	 */
	fuse_release_pending(&fc.s);
	for (i = SLOT_GONE; i < SLOT_GONE + SLOT_GONE_LATE; i++)
		munmap(views[i], ps);
	for (i = 0; i < 300; i++) {
		if (my_buffers(&valid) == SLOT_KEPT && valid == SLOT_KEPT)
			break;
		usleep(100 * 1000);
	}
	i = my_buffers(&valid);
	TH_LOG("%d of my buffers listed, %d of them valid", i, valid);
	EXPECT_EQ(SLOT_KEPT, valid) TH_LOG("waiting buffers never got a slot");
	for (i = SLOT_GONE + SLOT_GONE_LATE, bad = 0; i < SLOT_WAITERS; i++) {
		mem[i * ps] = 7;
		bad += ((volatile uint8_t *)views[i])[0] != 7;
	}
	EXPECT_EQ(0, bad) TH_LOG("buffers not following their page");
	for (i = SLOT_GONE + SLOT_GONE_LATE; i < SLOT_WAITERS; i++)
		munmap(views[i], ps);
	close(probe);
	munmap(mem, len);
	status = fuse_case_end(&fc, 1);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * A static importer's attach pins what the refresh faulted; a second pass
 * that may fault exists only for a read-only pin of an anonymous page
 * shared after fork() (the unshare). It must not run the owner's other
 * faults: here the buffer is that anonymous page plus a page of a FUSE
 * file, and the owner's file server drops the page (and stops answering)
 * between the attach's check and that pass (the test build's
 * debug_pin_delay_ms holds the attach there). The attach must come back
 * (EAGAIN: not every page was there), not wait for the server.
 */
static int fuse_mixed_owner(const char *path, int sock, int done)
{
	size_t ps = page_size();
	int dev = open_dev(), f = open(path, O_RDONLY | O_CLOEXEC), fd, ret;
	uint8_t *mem;
	pid_t kid;
	char c;

	if (dev < 0 || f < 0)
		return 1;
	mem = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 2;
	mem[0] = 1;
	if (mmap(mem + ps, ps, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0) ==
	    MAP_FAILED || mem[ps] != 0x42)
		return 3;
	/* the anonymous page is shared with a child until the test ends */
	kid = fork();
	if (kid < 0)
		return 4;
	if (kid == 0)
		_exit(read(done, &c, 1) == 1 ? 0 : 1);
	fd = udb_create(dev, mem, 2 * ps, USERPTR_DMABUF_CREATE_READONLY);
	if (fd < 0 || send_fd(sock, fd))
		return 5;
	ret = read(done, &c, 1) == 1 ? 0 : 6;
	waitpid(kid, NULL, 0);
	return ret;
}

TEST(static_attach_does_not_run_the_owners_file_faults)
{
	int res[2], status, ret, h = 0;
	struct fuse_case fc;
	pid_t attacher;
	double t;

	if (geteuid())
		SKIP(return, "needs root (mounts a FUSE filesystem)");
	if (access("/sys/module/userptr_dmabuf/parameters/debug_pin_delay_ms", W_OK))
		SKIP(return, "not a test build of the module");
	ret = fuse_case_start(&fc, fuse_mixed_owner);
	if (ret > 0)
		SKIP(return, "%s", fc.skip);
	ASSERT_EQ(0, ret) TH_LOG("fuse: %s", strerror(-ret));
	ASSERT_EQ(0, pipe2(res, O_CLOEXEC));

	ASSERT_EQ(0, udb_param_write("debug_pin_delay_ms", 2000));
	attacher = fork();
	ASSERT_GE(attacher, 0);
	if (attacher == 0) {
		/* a static importer in another process: a compositor */
		int imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);

		h = imp < 0 ? -ENODEV : imp_attach(imp, fc.fd, UDB_IMPORTER_ATTACH_READONLY);
		_exit(write(res[1], &h, sizeof(h)) == sizeof(h) ? 0 : 1);
	}
	/* inside the delay: the server drops the file page and hangs */
	usleep(700 * 1000);
	fc.s.answer = 0;
	ASSERT_EQ(0, fuse_inval(&fc.s));
	t = child_exit_ms(attacher, 10000, &status);
	TH_LOG("static attach while the owner's file server hangs: %.0f ms after the drop%s",
	       t, t > 10000 ? " and counting" : "");
	EXPECT_LT(t, 5000.0) TH_LOG("the attach waited in the owner's file fault");

	fuse_release_pending(&fc.s);
	udb_param_write("debug_pin_delay_ms", 0);
	child_reap(attacher, &status);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (read(res[0], &h, sizeof(h)) == sizeof(h))
		EXPECT_EQ(-EAGAIN, h) TH_LOG("attach: %d", h);
	close(fc.fd);
	status = fuse_case_end(&fc, 2);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * The refresh fence may outlive the buffer and the module in a sync_file
 * (DMA_BUF_IOCTL_EXPORT_SYNC_FILE): the module must not unload while it
 * does, or the fence must no longer need the module (7.x drops a signalled
 * fence's ops). Either way the sync_file stays safe to query and close.
 * The fence is signalled right after the publish, and an export skips
 * signalled fences: the test build's debug_signal_delay_ms keeps it
 * pending long enough to be exported. Reloads the module: the last case.
 */
static int export_our_fence(int fd)
{
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ };
	struct sync_fence_info fi[4];
	struct sync_file_info sfi;

	if (ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex))
		return -errno;
	memset(fi, 0, sizeof(fi));
	memset(&sfi, 0, sizeof(sfi));
	sfi.num_fences = 4;
	sfi.sync_fence_info = (uintptr_t)fi;
	if (!ioctl(ex.fd, SYNC_IOC_FILE_INFO, &sfi) && sfi.num_fences &&
	    !strcmp(fi[0].driver_name, "userptr_dmabuf") && fi[0].status == 0)
		return ex.fd;
	close(ex.fd);
	return -EAGAIN;
}

TEST(refresh_fence_outlives_the_module_safely)
{
	const char *build = getenv("UDB_BUILD");
	struct sync_fence_info fi[4] = { 0 };
	struct sync_file_info sfi = {
		.num_fences = 4, .sync_fence_info = (uintptr_t)fi,
	};
	size_t len = 4 * page_size();
	int dev, fd, sfd = -EAGAIN, unloaded, i;
	uint8_t *mem, *view;
	char cmd[512];
	double t0;

	if (geteuid() || !build)
		SKIP(return, "needs root and UDB_BUILD (unloads and reloads the module)");
	if (param_read("debug_signal_delay_ms") < 0)
		SKIP(return, "no debug_signal_delay_ms: not a test build of the module");
	dev = open_dev();
	ASSERT_GE(dev, 0);
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	memset(mem, 1, len);
	fd = udb_create(dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	/* a CPU mapping follows the buffer: its refreshes run at once */
	view = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, view);
	ASSERT_EQ(0, udb_param_write("debug_signal_delay_ms", 3000));
	ASSERT_EQ(0, madvise(mem, page_size(), MADV_DONTNEED));
	for (t0 = now_ms(); sfd == -EAGAIN && now_ms() < t0 + 2500;) {
		sfd = export_our_fence(fd);
		if (sfd == -EAGAIN)
			usleep(10 * 1000);
	}
	udb_param_write("debug_signal_delay_ms", 0);
	ASSERT_GE(sfd, 0) TH_LOG("never exported a pending refresh fence");
	munmap(view, len);
	close(fd);
	close(dev);
	munmap(mem, len);
	/*
	 * The refresh holds the dma-buf, and the dma-buf the module, until it
	 * has signalled the fence: wait for the module to be free.
	 */
	for (i = 0; i < 1000 && module_refcnt() > 0; i++)
		usleep(10 * 1000);

	unloaded = system("rmmod userptr_dmabuf 2>/dev/null") == 0;
	TH_LOG("rmmod with the fence alive in a sync_file: %s",
	       unloaded ? "unloaded" : "refused");
	/* SYNC_IOC_FILE_INFO names each fence's driver through its ops */
	EXPECT_EQ(0, ioctl(sfd, SYNC_IOC_FILE_INFO, &sfi));
	TH_LOG("sync_file: %.32s, %u fence(s), the first from %.32s, status %d",
	       sfi.name, sfi.num_fences, fi[0].driver_name, sfi.status);
	close(sfd);
	if (!unloaded)
		EXPECT_EQ(0, system("rmmod userptr_dmabuf"));
	snprintf(cmd, sizeof(cmd), "insmod %s/kmod/userptr_dmabuf.ko && { test ! -x tests/vm/udev-rule.sh || tests/vm/udev-rule.sh; }",
		 build);
	ASSERT_EQ(0, system(cmd));
}

TEST_HARNESS_MAIN
