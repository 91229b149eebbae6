// SPDX-License-Identifier: GPL-2.0
/*
 * Smoke test: the module is loaded, its device node is usable by anyone,
 * and the ioctl dispatcher honours the extensible-struct rules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "userptr_dmabuf.h"

FIXTURE(dev)
{
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", USERPTR_DMABUF_DEVICE,
				      strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

/*
 * The module creates the node root-only; the plan applies
 * packaging/70-userptr-dmabuf.rules (tests/vm/udev-rule.sh) before this
 * runs, so it is root:render 0660, as on an installed system.
 */
TEST(device_follows_the_udev_rule)
{
	struct group *render = getgrnam("render");
	struct stat st;

	ASSERT_NE(NULL, render);
	ASSERT_EQ(0, stat(USERPTR_DMABUF_DEVICE, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0660U, st.st_mode & 0777);
	EXPECT_EQ(0U, st.st_uid);
	EXPECT_EQ(render->gr_gid, st.st_gid);
}

TEST_F(dev, version_reports_api_and_limits)
{
	struct userptr_dmabuf_version v = { 0 };

	ASSERT_EQ(0, ioctl(self->fd, USERPTR_DMABUF_IOC_VERSION, &v));
	EXPECT_EQ(USERPTR_DMABUF_API_VERSION, v.api_version);
	EXPECT_EQ((unsigned int)sysconf(_SC_PAGESIZE), v.page_size);
	EXPECT_GT(v.max_size, 0ULL);
	EXPECT_EQ(0ULL, v.max_size % v.page_size);
}

/*
 * The compat probes must agree with the kernel: Debian's stock 6.12 has no
 * DMABUF_MOVE_NOTIFY, our debug kernels (6.12 with it, 7.x) are dynamic.
 * UDB_KERNEL is set by tests/vm/run.
 */
TEST_F(dev, dynamic_feature_matches_kernel)
{
	struct userptr_dmabuf_version v = { 0 };
	const char *k = getenv("UDB_KERNEL");

	if (!k)
		SKIP(return, "UDB_KERNEL not set (not run by tests/vm/run)");
	ASSERT_EQ(0, ioctl(self->fd, USERPTR_DMABUF_IOC_VERSION, &v));
	if (!strcmp(k, "stock")) {
		EXPECT_EQ(0U, v.features & USERPTR_DMABUF_FEAT_DYNAMIC);
	} else {
		EXPECT_NE(0U, v.features & USERPTR_DMABUF_FEAT_DYNAMIC);
	}
}

TEST_F(dev, version_rejects_nonzero_input)
{
	struct userptr_dmabuf_version v = { .reserved[2] = 1 };

	EXPECT_EQ(-1, ioctl(self->fd, USERPTR_DMABUF_IOC_VERSION, &v));
	EXPECT_EQ(EINVAL, errno);
}

/* A newer userspace passing a larger struct: zero tail is fine ... */
TEST_F(dev, version_accepts_larger_struct_with_zero_tail)
{
	struct {
		struct userptr_dmabuf_version v;
		__u64 future[2];
	} big = { 0 };
	unsigned long cmd = _IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x00, big);

	ASSERT_EQ(0, ioctl(self->fd, cmd, &big));
	EXPECT_EQ(USERPTR_DMABUF_API_VERSION, big.v.api_version);
}

/* ... a non-zero tail the kernel does not understand is -E2BIG. */
TEST_F(dev, version_rejects_unknown_nonzero_tail)
{
	struct {
		struct userptr_dmabuf_version v;
		__u64 future[2];
	} big = { .future[1] = 1 };
	unsigned long cmd = _IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x00, big);

	EXPECT_EQ(-1, ioctl(self->fd, cmd, &big));
	EXPECT_EQ(E2BIG, errno);
}

/* An older, shorter struct gets only what fits. */
TEST_F(dev, version_accepts_shorter_struct)
{
	__u32 small[2] = { 0, 0xdeadbeef };
	unsigned long cmd = _IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x00, __u32);

	ASSERT_EQ(0, ioctl(self->fd, cmd, small));
	EXPECT_EQ(USERPTR_DMABUF_API_VERSION, small[0]);
	EXPECT_EQ(0xdeadbeefU, small[1]);
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	struct userptr_dmabuf_version v = { 0 };

	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(USERPTR_DMABUF_IOC_MAGIC, 0x7f, v),
			    &v));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IOR(USERPTR_DMABUF_IOC_MAGIC, 0x00, v),
			    &v));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(dev, bad_pointer_is_efault)
{
	EXPECT_EQ(-1, ioctl(self->fd, USERPTR_DMABUF_IOC_VERSION, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

TEST_HARNESS_MAIN
