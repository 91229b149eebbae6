// SPDX-License-Identifier: GPL-2.0
/*
 * uAPI and hostile input: every field of CREATE, CREATE_LIST and INFO gets
 * a clear errno, and no failure leaves an fd behind.
 */
#include "common.h"
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

FIXTURE(uapi)
{
	int dev;
	size_t ps;
	uint8_t *mem;	/* 4 pages of anonymous memory */
};

FIXTURE_SETUP(uapi)
{
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	self->ps = page_size();
	self->mem = map_anon(4 * self->ps);
	ASSERT_NE(NULL, self->mem);
	memset(self->mem, 0x5a, 4 * self->ps);
}

FIXTURE_TEARDOWN(uapi)
{
	munmap(self->mem, 4 * self->ps);
	close(self->dev);
}

TEST_F(uapi, create_returns_sized_dmabuf)
{
	int fd = udb_create(self->dev, self->mem, 4 * self->ps, 0);

	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	EXPECT_EQ((off_t)(4 * self->ps), lseek(fd, 0, SEEK_END));
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	fd = udb_create(self->dev, self->mem, self->ps,
			USERPTR_DMABUF_CREATE_CLOEXEC);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

TEST_F(uapi, zero_unaligned_and_wrapping_ranges)
{
	EXPECT_EQ(-EINVAL, udb_create(self->dev, self->mem, 0, 0));
	EXPECT_EQ(-EINVAL, udb_create(self->dev, self->mem + 1, self->ps, 0));
	EXPECT_EQ(-EINVAL, udb_create(self->dev, self->mem, self->ps + 1, 0));
	EXPECT_EQ(-EINVAL, udb_create(self->dev, self->mem, self->ps - 1, 0));
	/* addr + size wraps around */
	EXPECT_EQ(-EINVAL, udb_create(self->dev,
				      (void *)(uintptr_t)(-(intptr_t)self->ps),
				      2 * self->ps, 0));
	/* beyond the user address space */
	EXPECT_EQ(-EFAULT, udb_create(self->dev,
				      (void *)(uintptr_t)(1ULL << 62),
				      self->ps, 0));
	/* NULL page */
	EXPECT_EQ(-EFAULT, udb_create(self->dev, NULL, self->ps, 0));
}

TEST_F(uapi, over_the_size_limit)
{
	struct userptr_dmabuf_version v = { 0 };

	ASSERT_EQ(0, ioctl(self->dev, USERPTR_DMABUF_IOC_VERSION, &v));
	/* Checked before the range is looked at: nothing needs mapping. */
	EXPECT_EQ(-E2BIG, udb_create(self->dev, self->mem,
				     v.max_size + self->ps, 0));
	EXPECT_EQ(-E2BIG, udb_create(self->dev, self->mem, 1ULL << 46, 0));
}

TEST_F(uapi, holes_and_pfnmap_are_refused)
{
	int fd, fd2;
	void *pfn;

	ASSERT_EQ(0, munmap(self->mem + self->ps, self->ps));
	EXPECT_EQ(-EFAULT, udb_create(self->dev, self->mem, 3 * self->ps, 0));
	EXPECT_EQ(-EFAULT, udb_create(self->dev, self->mem + self->ps,
				      self->ps, 0));
	/* what is still mapped works */
	fd = udb_create(self->dev, self->mem + 2 * self->ps, 2 * self->ps, 0);
	ASSERT_GE(fd, 0);

	/* a CPU mapping of a dma-buf is VM_PFNMAP: not mirrorable */
	pfn = mmap(NULL, 2 * self->ps, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	ASSERT_NE(MAP_FAILED, pfn);
	fd2 = udb_create(self->dev, pfn, 2 * self->ps, 0);
	EXPECT_EQ(-EFAULT, fd2);
	munmap(pfn, 2 * self->ps);
	close(fd);
	/* restore for teardown */
	ASSERT_NE(MAP_FAILED, mmap(self->mem + self->ps, self->ps,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0));
}

TEST_F(uapi, permissions)
{
	int fd;

	ASSERT_EQ(0, mprotect(self->mem, self->ps, PROT_READ));
	EXPECT_EQ(-EACCES, udb_create(self->dev, self->mem, self->ps, 0));
	fd = udb_create(self->dev, self->mem, self->ps,
			USERPTR_DMABUF_CREATE_READONLY);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(0, mprotect(self->mem, self->ps, PROT_NONE));
	EXPECT_EQ(-EACCES, udb_create(self->dev, self->mem, self->ps,
				      USERPTR_DMABUF_CREATE_READONLY));
	ASSERT_EQ(0, mprotect(self->mem, self->ps, PROT_READ | PROT_WRITE));
}

TEST_F(uapi, flags_and_reserved_fields)
{
	struct userptr_dmabuf_create c = {
		.addr = (uintptr_t)self->mem, .size = self->ps,
	};

	c.flags = 1u << 7;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE, &c));
	EXPECT_EQ(EINVAL, errno);
	c.flags = 0;
	c.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE, &c));
	EXPECT_EQ(EINVAL, errno);
}

/* A newer userspace's bigger struct: zero tail is fine, non-zero is E2BIG. */
TEST_F(uapi, extensible_struct)
{
	struct {
		struct userptr_dmabuf_create c;
		uint64_t future;
	} big = { .c = { .addr = (uintptr_t)self->mem, .size = self->ps } };
	unsigned long cmd = _IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x01, big);

	ASSERT_EQ(0, ioctl(self->dev, cmd, &big));
	close(big.c.fd);
	big.future = 1;
	EXPECT_EQ(-1, ioctl(self->dev, cmd, &big));
	EXPECT_EQ(E2BIG, errno);

	/* too small to even carry the fd: EINVAL */
	cmd = _IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x01, uint64_t);
	EXPECT_EQ(-1, ioctl(self->dev, cmd, &big));
	EXPECT_EQ(EINVAL, errno);
}

/* The fd is reported before it is installed: a failed copy leaks nothing. */
TEST_F(uapi, unwritable_argument_leaks_no_fd)
{
	struct userptr_dmabuf_create *c;
	struct userptr_dmabuf_info info;
	int before, i;

	c = mmap(NULL, self->ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c);
	c->addr = (uintptr_t)self->mem;
	c->size = self->ps;
	ASSERT_EQ(0, mprotect(c, self->ps, PROT_READ));

	before = count_fds();
	for (i = 0; i < 64; i++) {
		EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE, c));
		EXPECT_EQ(EFAULT, errno);
	}
	EXPECT_EQ(before, count_fds());
	/* and the buffers were released: INFO on a fresh fd still works */
	i = udb_create(self->dev, self->mem, self->ps, 0);
	ASSERT_GE(i, 0);
	EXPECT_EQ(0, udb_info(self->dev, i, &info));
	close(i);
	munmap(c, self->ps);
}

TEST_F(uapi, create_list)
{
	struct userptr_dmabuf_range r[3] = {
		{ (uintptr_t)(self->mem + 2 * self->ps), self->ps },
		{ (uintptr_t)self->mem, self->ps },
		{ (uintptr_t)(self->mem + 3 * self->ps), self->ps },
	};
	struct userptr_dmabuf_create_list l = {
		.ranges = (uintptr_t)r, .count = 3,
	};
	struct userptr_dmabuf_info info;

	ASSERT_EQ(0, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	ASSERT_EQ(0, udb_info(self->dev, l.fd, &info));
	EXPECT_EQ(3u, info.nranges);
	EXPECT_EQ(3 * self->ps, info.size);
	close(l.fd);

	l.count = 0;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	EXPECT_EQ(EINVAL, errno);
	l.count = USERPTR_DMABUF_MAX_RANGES + 1;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	EXPECT_EQ(EINVAL, errno);
	l.count = 3;
	l.ranges = 8;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	EXPECT_EQ(EFAULT, errno);
	l.ranges = (uintptr_t)r;
	/* overlap */
	r[2].addr = (uintptr_t)self->mem;
	r[2].size = 2 * self->ps;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	EXPECT_EQ(EINVAL, errno);
	/* one bad range fails the whole list */
	r[2].addr = (uintptr_t)(self->mem + 3 * self->ps) + 1;
	r[2].size = self->ps;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	EXPECT_EQ(EINVAL, errno);
	r[2].addr = (uintptr_t)(self->mem + 3 * self->ps);
	l.reserved0 = 1;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(uapi, info_rejects_foreign_fds)
{
	struct userptr_dmabuf_info info;
	struct dma_heap_allocation_data alloc = {
		.len = self->ps, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	int heap;

	EXPECT_EQ(-EBADF, udb_info(self->dev, -1, &info));
	EXPECT_EQ(-EBADF, udb_info(self->dev, 999, &info));
	/* not a dma-buf */
	EXPECT_EQ(-EINVAL, udb_info(self->dev, self->dev, &info));
	/* another exporter's dma-buf */
	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap >= 0) {
		ASSERT_EQ(0, ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc));
		EXPECT_EQ(-EINVAL, udb_info(self->dev, alloc.fd, &info));
		close(alloc.fd);
		close(heap);
	}
	/* reserved must be zero */
	memset(&info, 0, sizeof(info));
	info.fd = udb_create(self->dev, self->mem, self->ps, 0);
	ASSERT_GE(info.fd, 0);
	info.reserved[0] = 1;
	EXPECT_EQ(-1, ioctl(self->dev, USERPTR_DMABUF_IOC_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	close(info.fd);
}

TEST_F(uapi, name_and_fdinfo)
{
	char path[64], buf[1024], want[64];
	ssize_t n;
	int fd, f;

	fd = udb_create(self->dev, self->mem, self->ps, 0);
	ASSERT_GE(fd, 0);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	ASSERT_GE(f, 0);
	n = read(f, buf, sizeof(buf) - 1);
	ASSERT_GT(n, 0);
	buf[n] = 0;
	close(f);
	EXPECT_NE(NULL, strstr(buf, "exp_name:\tuserptr_dmabuf"));
	/* every fd holder reads it: the owner, not its address-space layout */
	snprintf(want, sizeof(want), "name:\tpid:%d\n", getpid());
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("fdinfo: %s", buf);
	snprintf(want, sizeof(want), "%lx", (unsigned long)self->mem);
	EXPECT_EQ(NULL, strstr(buf, want)) TH_LOG("fdinfo: %s", buf);
	close(fd);
}

/* Per-user buffer limit: run as nobody, hit it, and get EMFILE. */
TEST_F(uapi, per_user_limit)
{
	FILE *f = fopen("/sys/module/userptr_dmabuf/parameters/max_buffers_per_user", "r+");
	unsigned int old;
	pid_t pid;
	int status;

	if (!f || geteuid() != 0)
		SKIP(return, "needs root to set the module parameter");
	ASSERT_EQ(1, fscanf(f, "%u", &old));
	rewind(f);
	fprintf(f, "4\n");
	fflush(f);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int fds[5], i, bad = 0;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(10);
		for (i = 0; i < 4; i++)
			if ((fds[i] = udb_create(self->dev, self->mem, self->ps, 0)) < 0)
				bad = 11;
		if (udb_create(self->dev, self->mem, self->ps, 0) != -EMFILE)
			bad = 12;
		close(fds[0]);
		/* no refresh runs: the release comes with the last close */
		fds[4] = udb_create(self->dev, self->mem, self->ps, 0);
		if (fds[4] < 0)
			bad = 13;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	rewind(f);
	fprintf(f, "%u\n", old);
	fclose(f);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
