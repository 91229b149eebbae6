// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection (failslab, fail_page_alloc; CONFIG_FAULT_INJECTION_DEBUG_FS
 * in our debug kernels) over every path of ours that allocates: CREATE,
 * CREATE_LIST, INFO, importer attach (dynamic and static: the pin set),
 * copy (map_dma_buf), and faults on a CPU mapping of the dma-buf.
 *
 * Two modes, both limited to this task (task-filter + /proc/thread-self/
 * make-it-fail, or /proc/thread-self/fail-nth, which is per task anyway):
 *
 *  - systematic: for n = 1, 2, ... fail exactly the n-th allocation of
 *    the call (fail-nth), until the call completes without reaching it;
 *    every error path is taken once;
 *  - random: probability 10, 50 and 100 %, interval 1, times N, space 0,
 *    verbose 0, a few dozen calls each.
 *
 * Every injected call must succeed or fail with an allowed errno (mostly
 * ENOMEM; EFAULT where a page fault failed inside the call), never hang
 * (the harness timeout), and leave things working: after each call the
 * same operation without injection must work and the bytes must match,
 * and at the end every fd is closed and nothing is left. Leaks on error
 * paths are kmemleak's job (the kasan flavour scans at the end of the run).
 *
 * Only one attachment at a time may map DMA_BIDIRECTIONAL (DMA-API debug
 * WARNs on overlapping device-writable mappings, see torture.c): the
 * dynamic ones here are READONLY.
 *
 * Not injected either: a static attach on 6.12 under DMA-API debug. 6.12
 * maps static attachments DMA_BIDIRECTIONAL at attach, and DMA-API
 * debug's cacheline tracking allocates a radix-tree node for such a
 * mapping in the caller's context; failing that allocation disables
 * dma-debug ("DMA-API: cacheline tracking ENOMEM"), which the run's dmesg
 * scan fails on. Static attachments here are READONLY, so on 7.x they map
 * DMA_TO_DEVICE (untracked) and are injected.
 *
 * Not injected: dma_buf_vmap (the dma-buf core WARNs on any vmap error,
 * see torture.c vmap_failure_warns), and the refresh worker (not our task).
 * Needs root and debugfs; SKIPs otherwise.
 */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"

#define DBG		"/sys/kernel/debug"
#define NPAGES		16
#define MAX_NTH		600

static int fi_write(const char *attr, const char *file, const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), DBG "/%s/%s", attr, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static const char *const attrs[] = { "failslab", "fail_page_alloc" };

/* Configure both attributes: off (probability 0) but counting GFP_KERNEL. */
static int fi_base(void)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < 2; i++) {
		ret |= fi_write(attrs[i], "probability", "0");
		ret |= fi_write(attrs[i], "interval", "1");
		ret |= fi_write(attrs[i], "times", "-1");
		ret |= fi_write(attrs[i], "space", "0");
		ret |= fi_write(attrs[i], "verbose", "0");
		ret |= fi_write(attrs[i], "task-filter", "Y");
		ret |= fi_write(attrs[i], "ignore-gfp-wait", "N");
	}
	ret |= fi_write("failslab", "cache-filter", "N");
	ret |= fi_write("fail_page_alloc", "ignore-gfp-highmem", "N");
	ret |= fi_write("fail_page_alloc", "min-order", "0");
	return ret;
}

struct ctx {
	int dev, imp;
	size_t ps, len;
	uint8_t *mem, *bounce;
	int fd;		/* a buffer over mem */
	int h, sh;	/* dynamic and static handles on fd */
	uint8_t *m;	/* CPU mapping of fd */
	int out;	/* what the op produced (fd or handle), or -1 */
	int mif, nth;	/* /proc/thread-self/make-it-fail, fail-nth */
};

static sigjmp_buf jb;
static volatile int in_touch;

static void on_sigbus(int sig)
{
	if (in_touch)
		siglongjmp(jb, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- the operations; each returns 0 or -errno ---- */

static int op_create(struct ctx *c)
{
	c->out = udb_create(c->dev, c->mem, c->len, 0);
	return c->out < 0 ? c->out : 0;
}

static int op_create_list(struct ctx *c)
{
	struct userptr_dmabuf_range r[3] = {
		{ (uintptr_t)(c->mem + 8 * c->ps), 8 * c->ps },
		{ (uintptr_t)c->mem, 4 * c->ps },
		{ (uintptr_t)(c->mem + 4 * c->ps), 4 * c->ps },
	};
	struct userptr_dmabuf_create_list l = { .ranges = (uintptr_t)r, .count = 3 };

	if (ioctl(c->dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l))
		return -errno;
	c->out = l.fd;
	return 0;
}

static int op_info(struct ctx *c)
{
	struct userptr_dmabuf_info info;

	return udb_info(c->dev, c->fd, &info);
}

static int op_attach_dyn(struct ctx *c)
{
	c->out = imp_attach(c->imp, c->fd, UDB_IMPORTER_ATTACH_DYNAMIC |
			    UDB_IMPORTER_ATTACH_READONLY);
	return c->out < 0 ? c->out : 0;
}

static int op_attach_static(struct ctx *c)
{
	c->out = imp_attach(c->imp, c->fd, UDB_IMPORTER_ATTACH_READONLY);
	return c->out < 0 ? c->out : 0;
}

/* A fresh dynamic handle maps on its first copy: map_dma_buf runs. */
static int op_copy_dyn(struct ctx *c)
{
	return imp_copy(c->imp, c->h, UDB_IMPORTER_READ, 0, c->bounce, c->len, NULL);
}

static int op_copy_static(struct ctx *c)
{
	return imp_copy(c->imp, c->sh, UDB_IMPORTER_READ, 0, c->bounce, c->len, NULL);
}

static int op_mmap_fault(struct ctx *c)
{
	volatile uint8_t *m = c->m;
	size_t i;
	int ret = 0;

	if (sigsetjmp(jb, 1) == 0) {
		in_touch = 1;
		for (i = 0; i < c->len; i += c->ps)
			(void)m[i];
		m[c->ps] = m[c->ps];	/* pfn_mkwrite */
	} else {
		ret = -EBUSY;	/* SIGBUS: reported as a failure below */
	}
	in_touch = 0;
	return ret;
}

struct op {
	const char *name;
	int (*run)(struct ctx *c);
	int needs_h, needs_sh, needs_m;	/* prepared without injection */
	int out_is_fd, out_is_handle;
	int random_ok;	/* safe under probability mode (no fault retry loop) */
};

static const struct op ops[] = {
	{ "CREATE", op_create, 0, 0, 0, 1, 0, 1 },
	{ "CREATE_LIST", op_create_list, 0, 0, 0, 1, 0, 1 },
	{ "INFO", op_info, 0, 0, 0, 0, 0, 1 },
	{ "ATTACH dynamic", op_attach_dyn, 0, 0, 0, 0, 1, 1 },
	{ "ATTACH static", op_attach_static, 0, 0, 0, 0, 1, 1 },
	{ "COPY dynamic (map)", op_copy_dyn, 1, 0, 0, 0, 0, 1 },
	{ "COPY static (pinned map)", op_copy_static, 0, 1, 0, 0, 0, 1 },
	/* a failed page-table allocation in a fault is retried by the core */
	{ "mmap fault", op_mmap_fault, 0, 0, 1, 0, 0, 0 },
};

/* Would injecting into this op reach DMA-API debug's cacheline tracking? */
static int skip_op(const struct op *o)
{
	struct utsname u;

	if (o->run != op_attach_static || access(DBG "/dma-api", F_OK))
		return 0;
	uname(&u);
	return !strncmp(u.release, "6.", 2);
}

static const int ok_errs[] = { ENOMEM, EFAULT, ENFILE, EMFILE, EINTR, 0 };

static int errno_ok(int ret)
{
	const int *e;

	if (ret >= 0)
		return 1;
	for (e = ok_errs; *e; e++)
		if (-ret == *e)
			return 1;
	return 0;
}

static void pwrite_str(int fd, const char *s)
{
	if (pwrite(fd, s, strlen(s), 0) < 0)
		fprintf(stderr, "# pwrite: %s\n", strerror(errno));
}

static int prepare(struct __test_metadata *_metadata, struct ctx *c,
		   const struct op *o)
{
	c->out = -1;
	c->h = c->sh = -1;
	c->m = NULL;
	if (o->needs_h) {
		c->h = imp_attach(c->imp, c->fd, UDB_IMPORTER_ATTACH_DYNAMIC |
				  UDB_IMPORTER_ATTACH_READONLY);
		if (c->h < 0)
			return c->h;
	}
	if (o->needs_sh) {
		c->sh = imp_attach(c->imp, c->fd, UDB_IMPORTER_ATTACH_READONLY);
		if (c->sh < 0)
			return c->sh;
	}
	if (o->needs_m) {
		c->m = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			    c->fd, 0);
		if (c->m == MAP_FAILED) {
			c->m = NULL;
			return -errno;
		}
	}
	/* touch what the op touches, so user page faults are not injected */
	memset(c->bounce, 0x3c, c->len);
	return 0;
}

/* After an injected call: the same thing works without injection. */
static void verify_and_clean(struct __test_metadata *_metadata, struct ctx *c,
			     const struct op *o, int ret, const char *mode, int n)
{
	struct userptr_dmabuf_info info;
	int r;

	if (o->out_is_fd && !ret) {
		EXPECT_EQ(0, udb_info(c->dev, c->out, &info)) TH_LOG("%s %s %d", o->name, mode, n);
		EXPECT_EQ(c->len, info.size);
		close(c->out);
	}
	if (o->out_is_handle && !ret) {
		r = imp_copy(c->imp, c->out, UDB_IMPORTER_READ, 0, c->bounce, c->len, NULL);
		EXPECT_EQ(0, r) TH_LOG("%s %s %d: copy after attach: %s", o->name, mode, n, strerror(-r));
		EXPECT_EQ(0, imp_detach(c->imp, c->out));
	}
	if (c->h >= 0) {
		r = imp_copy(c->imp, c->h, UDB_IMPORTER_READ, 0, c->bounce, c->len, NULL);
		EXPECT_EQ(0, r) TH_LOG("%s %s %d: copy again: %s", o->name, mode, n, strerror(-r));
		EXPECT_EQ(-1, check(c->bounce, c->len, 7));
		EXPECT_EQ(0, imp_detach(c->imp, c->h));
	}
	if (c->sh >= 0) {
		r = imp_copy(c->imp, c->sh, UDB_IMPORTER_READ, 0, c->bounce, c->len, NULL);
		EXPECT_EQ(0, r) TH_LOG("%s %s %d: static copy again: %s", o->name, mode, n, strerror(-r));
		EXPECT_EQ(-1, check(c->bounce, c->len, 7));
		EXPECT_EQ(0, imp_detach(c->imp, c->sh));
	}
	if (c->m) {
		EXPECT_EQ(-1, check(c->m, c->len, 7)) TH_LOG("%s %s %d: mmap view", o->name, mode, n);
		munmap(c->m, c->len);
	}
	EXPECT_EQ(0, udb_info(c->dev, c->fd, &info));
	EXPECT_EQ(1u, info.attachments) TH_LOG("%s %s %d: attachment left behind", o->name, mode, n);
}

FIXTURE(fi)
{
	struct ctx c;
	int fds0, base_h;
};

FIXTURE_SETUP(fi)
{
	struct ctx *c = &self->c;
	struct sigaction sa = { .sa_handler = on_sigbus, .sa_flags = SA_NODEFER };

	if (geteuid() != 0)
		SKIP(return, "fault injection needs root");
	if (access(DBG "/failslab", F_OK))
		mount("debugfs", DBG, "debugfs", 0, NULL);
	if (access(DBG "/failslab", F_OK) || access(DBG "/fail_page_alloc", F_OK))
		SKIP(return, "no failslab / fail_page_alloc in debugfs");
	ASSERT_EQ(0, fi_base());
	self->fds0 = count_fds();
	c->ps = page_size();
	c->len = NPAGES * c->ps;
	c->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(c->dev, 0);
	c->imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(c->imp, 0);
	c->mem = map_anon(c->len);
	c->bounce = map_anon(c->len);
	ASSERT_NE(NULL, c->mem);
	ASSERT_NE(NULL, c->bounce);
	fill(c->mem, c->len, 7);
	c->fd = udb_create(c->dev, c->mem, c->len, 0);
	ASSERT_GE(c->fd, 0);
	/* one attachment stays for the whole test: the counts must return to 1 */
	self->base_h = imp_attach(c->imp, c->fd, UDB_IMPORTER_ATTACH_DYNAMIC |
				  UDB_IMPORTER_ATTACH_READONLY);
	ASSERT_GE(self->base_h, 0);
	c->mif = open("/proc/thread-self/make-it-fail", O_RDWR | O_CLOEXEC);
	c->nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	ASSERT_GE(c->mif, 0);
	ASSERT_GE(c->nth, 0);
	sigaction(SIGBUS, &sa, NULL);
}

FIXTURE_TEARDOWN(fi)
{
	struct ctx *c = &self->c;
	unsigned int i;

	if (geteuid() != 0 || access(DBG "/failslab", F_OK))
		return;
	for (i = 0; i < 2; i++)
		fi_write(attrs[i], "probability", "0");
	if (c->mif >= 0)
		pwrite_str(c->mif, "0");
	close(c->mif);
	close(c->nth);
	/* everything still works without injection, and closes */
	memset(c->bounce, 0, c->len);
	EXPECT_EQ(0, imp_copy(c->imp, self->base_h, UDB_IMPORTER_READ, 0,
			      c->bounce, c->len, NULL));
	EXPECT_EQ(-1, check(c->bounce, c->len, 7));
	close(c->imp);
	close(c->fd);
	close(c->dev);
	munmap(c->mem, c->len);
	munmap(c->bounce, c->len);
	EXPECT_EQ(self->fds0, count_fds());
}

/* Fail the n-th allocation of each call, for every n the call reaches. */
TEST_F_TIMEOUT(fi, systematic_fail_nth, 1200)
{
	struct ctx *c = &self->c;
	unsigned int i;
	char buf[32];
	int n, ret, reached, failed, dynamic = kernel_is_dynamic(c->dev);

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const struct op *o = &ops[i];

		if (skip_op(o)) {
			TH_LOG("%s: not injected here (maps bidirectionally at attach under DMA-API debug)", o->name);
			continue;
		}
		failed = 0;
		for (n = 1; n <= MAX_NTH; n++) {
			ASSERT_EQ(0, prepare(_metadata, c, o));
			snprintf(buf, sizeof(buf), "%d", n);
			pwrite_str(c->nth, buf);
			ret = o->run(c);
			memset(buf, 0, sizeof(buf));
			reached = pread(c->nth, buf, sizeof(buf) - 1, 0) > 0 && atoi(buf) == 0;
			pwrite_str(c->nth, "0");
			if (ret)
				failed++;
			if (ret == -EBUSY && o->run == op_mmap_fault) {
				EXPECT_EQ(0, ret) TH_LOG("mmap fault: SIGBUS after failing allocation %d", n);
			} else {
				EXPECT_TRUE(errno_ok(ret)) TH_LOG("%s: failing allocation %d gave %s",
								  o->name, n, strerror(-ret));
			}
			verify_and_clean(_metadata, c, o, ret, "fail-nth", n);
			if (!reached)
				break;
		}
		TH_LOG("%-26s %3d allocation points, %d calls failed", o->name, n - 1, failed);
		EXPECT_LT(n, MAX_NTH + 1) TH_LOG("%s: still reaching allocations at %d", o->name, n);
	}
	(void)dynamic;
}

/*
 * Populate and lock this process's file-backed mappings (program and
 * libraries). mlock(2) by its raw number: ASan makes the libc call a no-op.
 */
static int lock_file_mappings(void)
{
	unsigned long lo, hi;
	char line[512], path[256];
	FILE *f = fopen("/proc/self/maps", "re");
	int ret = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &lo, &hi, path) < 2)
			continue;
		if (path[0] != '/')
			continue;
		if (syscall(SYS_mlock, lo, hi - lo) && errno != ENOMEM)
			ret = -errno;
	}
	fclose(f);
	return ret;
}

/* Probability 10, 50, 100 %, each attribute alone, make-it-fail around the call. */
TEST_F_TIMEOUT(fi, random_probability, 1200)
{
	static const char *const probs[] = { "10", "50", "100" };
	struct ctx *c = &self->c;
	unsigned int a, p, i;
	int k, ret, failed;

	/*
	 * make-it-fail covers every allocation of this task while it is set,
	 * including those of its own page faults: a fault on a text page of
	 * this program or its libraries that is not mapped yet reads the file
	 * (over the VM's shared root filesystem), and a failed allocation
	 * there is a read error, which the fault turns into SIGBUS (that
	 * killed this test on 6.12 before). Lock those mappings first.
	 */
	ASSERT_EQ(0, lock_file_mappings());
	for (a = 0; a < 2; a++) {
		for (p = 0; p < 3; p++) {
			ASSERT_EQ(0, fi_write(attrs[a], "times", "1000"));
			ASSERT_EQ(0, fi_write(attrs[a], "probability", probs[p]));
			for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
				const struct op *o = &ops[i];

				if (!o->random_ok || skip_op(o))
					continue;
				failed = 0;
				for (k = 0; k < 12; k++) {
					ASSERT_EQ(0, prepare(_metadata, c, o));
					pwrite_str(c->mif, "1");
					ret = o->run(c);
					pwrite_str(c->mif, "0");
					if (ret)
						failed++;
					EXPECT_TRUE(errno_ok(ret)) TH_LOG("%s %s%%: %s: %s", attrs[a],
									  probs[p], o->name, strerror(-ret));
					verify_and_clean(_metadata, c, o, ret, attrs[a], k);
				}
				TH_LOG("%-16s %3s%% %-26s %2d/12 failed", attrs[a], probs[p],
				       o->name, failed);
			}
			ASSERT_EQ(0, fi_write(attrs[a], "probability", "0"));
		}
	}
}

TEST_HARNESS_MAIN
