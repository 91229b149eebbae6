/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the exporter tests: thin wrappers that return -errno,
 * byte patterns that differ per page and per "generation", and a waiter for
 * the asynchronous refresh.
 */
#ifndef UDB_TEST_COMMON_H
#define UDB_TEST_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "udb_importer.h"
#include "userptr_dmabuf.h"

static inline size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static inline int udb_create(int dev, void *addr, size_t size, uint32_t flags)
{
	struct userptr_dmabuf_create c = {
		.addr = (uintptr_t)addr, .size = size, .flags = flags,
	};

	if (ioctl(dev, USERPTR_DMABUF_IOC_CREATE, &c))
		return -errno;
	return c.fd;
}

static inline int udb_info(int dev, int fd, struct userptr_dmabuf_info *info)
{
	memset(info, 0, sizeof(*info));
	info->fd = fd;
	return ioctl(dev, USERPTR_DMABUF_IOC_INFO, info) ? -errno : 0;
}

/*
 * Wait until no refresh is pending (at most 20 s: a refresh of a big
 * buffer on a loaded TCG host); returns the state. Until then importers'
 * maps serve the last published snapshot.
 */
static inline int udb_settle(int dev, int fd)
{
	struct userptr_dmabuf_info info;
	int i;

	for (i = 0; i < 4000; i++) {
		if (udb_info(dev, fd, &info))
			return -1;
		if (info.state != USERPTR_DMABUF_STATE_STALE)
			return (int)info.state;
		usleep(5000);
	}
	return (int)info.state;
}

static inline int imp_attach(int imp, int fd, uint32_t flags)
{
	struct udb_importer_attach a = { .fd = fd, .flags = flags };

	if (ioctl(imp, UDB_IMPORTER_IOC_ATTACH, &a))
		return -errno;
	return (int)a.handle;
}

static inline int imp_detach(int imp, int handle)
{
	uint32_t h = (uint32_t)handle;

	return ioctl(imp, UDB_IMPORTER_IOC_DETACH, &h) ? -errno : 0;
}

static inline int imp_copy(int imp, int handle, uint32_t op, size_t off,
			   void *data, size_t len,
			   struct udb_importer_copy *out)
{
	struct udb_importer_copy c = {
		.handle = (uint32_t)handle, .op = op, .offset = off,
		.len = len, .data = (uintptr_t)data,
	};
	int ret = ioctl(imp, UDB_IMPORTER_IOC_COPY, &c) ? -errno : 0;

	if (out)
		*out = c;
	return ret;
}

/*
 * @len bytes of dma-buf @fd through the exporter's vmap, under a temporary
 * read-only handle: while a static importer pins, what it holds.
 */
static inline int imp_read_vmap(int imp, int fd, uint8_t *p, size_t len)
{
	int h = imp_attach(imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC |
			   UDB_IMPORTER_ATTACH_READONLY), ret;

	if (h < 0)
		return h;
	ret = imp_copy(imp, h, UDB_IMPORTER_READ_VMAP, 0, p, len, NULL);
	imp_detach(imp, h);
	return ret;
}

/* Device read of the whole buffer into a fresh allocation (or NULL). */
static inline uint8_t *imp_read_all(int imp, int handle, size_t len, int *err)
{
	uint8_t *p = malloc(len);

	*err = -ENOMEM;
	if (!p)
		return NULL;
	*err = imp_copy(imp, handle, UDB_IMPORTER_READ, 0, p, len, NULL);
	if (*err) {
		free(p);
		return NULL;
	}
	return p;
}

/* A pattern that differs per page, per byte and per seed. */
static inline void fill(void *p, size_t len, uint32_t seed)
{
	uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = seed * 2654435761u + (uint32_t)i * 40503u + 1;
}

/* Returns the index of the first mismatching word, or -1. */
static inline long check(const void *p, size_t len, uint32_t seed)
{
	const uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		if (w[i] != seed * 2654435761u + (uint32_t)i * 40503u + 1)
			return (long)i;
	return -1;
}

static inline long check_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return (long)i;
	return -1;
}

static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Pass a file descriptor over a unix socket (SCM_RIGHTS). */
static inline int send_fd(int sock, int fd)
{
	char c = 0, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -errno;
}

static inline int recv_fd(int sock)
{
	char c, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &m, 0) != 1)
		return -EIO;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Write a module parameter of userptr_dmabuf; -errno on failure. */
static inline int udb_param_write(const char *name, long v)
{
	char path[256];
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/module/userptr_dmabuf/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%ld\n", v) < 0)
		ret = -EIO;
	if (fclose(f))
		ret = -errno;
	return ret;
}

/*
 * An unprivileged owner: a child that drops to nobody with an
 * RLIMIT_MEMLOCK of 64 KiB, creates a buffer over @len bytes of its own and
 * passes the dma-buf fd back (*@fd, or -1), keeping the range mapped until
 * limited_owner_done(). Returns the child's pid, or -errno.
 */
static inline pid_t limited_owner_start(size_t len, int *fd, int *sock)
{
	int sv[2];
	pid_t pid;

	*fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 64 << 10, 64 << 10 };
		int dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
		uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int bfd;

		/* the device is opened before privileges go */
		if (dev < 0 || mem == MAP_FAILED ||
		    setrlimit(RLIMIT_MEMLOCK, &rl) ||
		    setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(10);
		memset(mem, 3, len);
		bfd = udb_create(dev, mem, len, 0);
		if (bfd < 0 || send_fd(sv[1], bfd))
			_exit(11);
		if (read(sv[1], &bfd, 1) < 0)
			_exit(12);
		_exit(0);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -errno;
	}
	*sock = sv[0];
	*fd = recv_fd(sv[0]);
	return pid;
}

/* Let the owner go; 0 if it ran as it should. */
static inline int limited_owner_done(pid_t pid, int sock)
{
	int status;

	if (write(sock, "x", 1) != 1 || waitpid(pid, &status, 0) != pid)
		status = -1;
	close(sock);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline int count_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/* sw_sync (debugfs, CONFIG_SW_SYNC): fences that signal when we say so. */
struct sw_sync_create_fence_data {
	uint32_t value;
	char name[32];
	int32_t fence;
};
#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW('W', 1, uint32_t)

/* A counter of /proc/vmstat, or -1. */
static inline long vmstat(const char *name)
{
	char line[128];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/vmstat", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ' ') {
			v = atol(line + n + 1);
			break;
		}
	fclose(f);
	return v;
}

/* One debugfs value of the buffer behind @fd, or -1. */
/*
 * A statistic of the buffer whose dma-buf inode is @ino from the module's
 * debugfs list of buffers, -1 if the buffer or the key is not listed, -2
 * if it shows "busy".
 */
static inline long long debugfs_stat_ino(unsigned long ino, const char *key)
{
	char line[128], head[40];
	size_t klen = strlen(key);
	long long v = -1;
	int in = 0;
	FILE *f;

	f = fopen("/sys/kernel/debug/userptr_dmabuf/buffers", "r");
	if (!f)
		return -1;
	snprintf(head, sizeof(head), "buffer: %lu\n", ino);
	while (v == -1 && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "buffer: ", 8))
			in = !strcmp(line, head);
		else if (in && !strncmp(line, key, klen) && line[klen] == ':')
			v = strstr(line + klen, "busy") ? -2 :
			    strtoll(line + klen + 1, NULL, 0);
	}
	fclose(f);
	return v;
}

/*
 * The same for the dma-buf @fd; a figure shown as "busy" (an importer held
 * the reservation lock) is read again.
 */
static inline long long debugfs_stat(int fd, const char *key)
{
	long long v = -1;
	struct stat st;
	int i;

	if (fstat(fd, &st))
		return -1;
	for (i = 0; i < 100; i++) {
		v = debugfs_stat_ino((unsigned long)st.st_ino, key);
		if (v != -2)
			break;
		usleep(10 * 1000);
	}
	return v;
}

/* Whether the system has swap (tests/vm/swap.sh adds some). */
static inline int have_swap(void)
{
	char line[256];
	int lines = 0;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	return lines > 1;
}

static inline int kernel_is_dynamic(int dev)
{
	struct userptr_dmabuf_version v = { 0 };

	if (ioctl(dev, USERPTR_DMABUF_IOC_VERSION, &v))
		return -1;
	return !!(v.features & USERPTR_DMABUF_FEAT_DYNAMIC);
}

/*
 * Every program here is a kselftest_harness.h program: include it now so
 * that its SKIP() can be replaced. kselftest's SKIP() overwrites the exit
 * code, so a case that failed an EXPECT and then skipped (a stale device
 * read followed by "not supported here") would report SKIP and hide the
 * failure. Here a SKIP after a failed expectation leaves the case FAILED,
 * with the skip's reason after "failed, then skipped:". Checked by
 * tests/harness/skipguard.c (tests/vm/plans/splat-silent.plan).
 */
#ifndef UDB_TEST_NO_HARNESS	/* the benchmark uses the helpers only */
#include "kselftest_harness.h"

#undef SKIP
#define SKIP(statement, fmt, ...) do { \
	if (_metadata->exit_code == KSFT_FAIL) { \
		snprintf(_metadata->results->reason, \
			 sizeof(_metadata->results->reason), \
			 "failed, then skipped: " fmt, ##__VA_ARGS__); \
		__TH_LOG("SKIP after a failed expectation: the case FAILS"); \
	} else { \
		snprintf(_metadata->results->reason, \
			 sizeof(_metadata->results->reason), \
			 fmt, ##__VA_ARGS__); \
		if (TH_LOG_ENABLED) \
			fprintf(TH_LOG_STREAM, "#      SKIP      %s\n", \
				_metadata->results->reason); \
		_metadata->exit_code = KSFT_SKIP; \
	} \
	_metadata->trigger = 0; \
	statement; \
} while (0)

#endif /* UDB_TEST_NO_HARNESS */

#endif /* UDB_TEST_COMMON_H */
