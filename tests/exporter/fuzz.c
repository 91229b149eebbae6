// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl fuzzer for /dev/userptr_dmabuf and /dev/udb_importer (and the
 * dma-buf fds they hand out): random and boundary values for every field
 * of every ioctl, wrong command numbers, directions and sizes, argument
 * pointers that are NULL, unmapped, kernel addresses or straddle the end
 * of a mapping, ranges over holes, PROT_NONE, read-only memory and
 * VM_PFNMAP memory (a CPU mapping of one of our own dma-bufs), fds that
 * are not dma-bufs, closed fds, our own dma-bufs, importer handles reused
 * after detach, counts above 1024 and range lists in unmapped memory.
 *
 * It passes when nothing crashes, every call returns success or an errno
 * from the set the uAPI documents for that ioctl, and no fd is left behind
 * (/proc/self/fd is counted before and after). The kernel log is checked by
 * the VM harness (tests/vm/scan-dmesg).
 *
 * UDB_FUZZ_ITERS (default 400000) bounds the iterations and
 * UDB_FUZZ_SECONDS (default 30) the time, whichever comes first;
 * UDB_FUZZ_SEED reproduces a run (printed at start).
 *
 * DMA-API debug WARNs when one cacheline is in two device-writable
 * mappings at once (see torture.c, dma_overlap_warns), so at most one
 * attachment that may map DMA_BIDIRECTIONAL (static, or not READONLY) is
 * alive at a time; the others are forced to DYNAMIC | READONLY.
 *
 * The importer's fenced jobs (SUBMIT, JOB) too: every field, copy_to_user
 * of the result failing (no sync_file fd may leak), jobs left queued or
 * running when the fuzzer detaches or closes; a successful SUBMIT must
 * hand back a sync_file that signals, and a JOB record must be coherent.
 * Their device writes land in the buffers' ranges, which are the fuzzer's
 * scratch region (guarded, see the fixture). Delays stay short (at most
 * 50 ms, besides the out-of-range values) so the run keeps its pace.
 *
 * Not fuzzed on purpose: UDB_IMPORTER_READ_VMAP / _WRITE_VMAP where the
 * buffer has no pinned pages, or is read-only: dma_buf_vmap() WARNs on any
 * exporter error (see torture.c, vmap_failure_warns).
 */
#include "common.h"
#include <dirent.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

#define REGION_PAGES	16
#define MAXLIVE		16
#define MAXH		32

static uint64_t rs;

static uint64_t rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 2685821657736338717ULL;
}

static uint64_t rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int count_proc_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

struct fz {
	int dev, imp, imp2;
	size_t ps;
	uint64_t max_size;
	int dynamic;
	uint8_t *region;	/* REGION_PAGES: page 3 a hole, 5 PROT_NONE, 6 read-only */
	uint8_t *pfn;		/* a CPU mapping of one of our dma-bufs: VM_PFNMAP */
	int pfn_fd;
	uint8_t *argpage;	/* two pages, the second PROT_NONE */
	struct userptr_dmabuf_range *list;	/* room for 1100 ranges */
	uint8_t *unmapped;	/* an address with nothing mapped */
	int live[MAXLIVE];	/* our dma-bufs */
	int live_ro[MAXLIVE];
	int closed_fd;		/* a number that was a dma-buf and was closed */
	int memfd, evfd, heapfd;
	int handles[MAXH];	/* importer handles on imp, -1 free */
	int h_static[MAXH];	/* attached statically (or pinned anyway) */
	int h_ro[MAXH];
	uint32_t dead_handles[MAXH];
	int writer;		/* slot of the one bidirectional attachment, or -1 */
	uint8_t *data;		/* 3 pages of bounce data, then a PROT_NONE page */
	long calls, successes, failures;
	long errs[256];
};

static struct fz F;

static void fail_log(const char *what, unsigned long cmd, int e, long it)
{
	F.failures++;
	if (F.failures <= 30)
		fprintf(stderr, "# FAIL iteration %ld: %s cmd %#lx: unexpected %s (%d)\n",
			it, what, cmd, strerror(e), e);
}

static int in_set(int e, const int *set)
{
	for (; *set; set++)
		if (*set == e)
			return 1;
	return 0;
}

/* ---- value pools ---- */

static uint64_t pick_size(void)
{
	static const uint64_t fixed[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t ps = F.ps;

	switch (rndn(14)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return ps - 1;
	case 3: return ps;
	case 4: return ps + 1;
	case 5: return F.max_size;
	case 6: return F.max_size + ps;
	case 7: return F.max_size + 1;
	case 8: return ~0ULL;
	case 9: return ~0ULL - ps + 1;
	case 10: return 1ULL << (rndn(64));
	case 11: return rnd();
	default: return (fixed[rndn(9)] + 1) * ps;
	}
}

static uint64_t pick_addr(void)
{
	uint64_t r = (uint64_t)(uintptr_t)F.region, ps = F.ps;

	switch (rndn(18)) {
	case 0: return 0;
	case 1: return r + 1;
	case 2: return r + 3 * ps;			/* the hole */
	case 3: return r + 2 * ps;			/* straddles into the hole */
	case 4: return r + 5 * ps;			/* PROT_NONE */
	case 5: return r + 6 * ps;			/* read-only */
	case 6: return (uintptr_t)F.pfn;		/* VM_PFNMAP */
	case 7: return (uintptr_t)F.pfn - ps;
	case 8: return 0xffff800000000000ULL;		/* kernel */
	case 9: return 0xffffffffffffe000ULL;		/* end of the address space */
	case 10: return (1ULL << 47) - ps;		/* end of user space */
	case 11: return 1ULL << 62;
	case 12: return (uintptr_t)F.unmapped;
	/*
	 * Random, but never user memory: under ASan most of the lower user
	 * space is its shadow, and a buffer there would let device writes
	 * corrupt it.
	 */
	case 13: return rnd() | 1ULL << 47;
	case 14: return (rnd() & ~(ps - 1)) | 1ULL << 47;
	default: return r + rndn(REGION_PAGES + 2) * ps;	/* mostly good */
	}
}

static uint32_t pick_flags32(uint32_t valid)
{
	switch (rndn(6)) {
	case 0: return 0;
	case 1: return 1u << rndn(32);
	case 2: return ~0u;
	case 3: return (uint32_t)rnd();
	default: return (uint32_t)rnd() & valid;
	}
}

static uint64_t pick_reserved(void)
{
	return rndn(8) ? 0 : (rndn(2) ? 1 : rnd());
}

static int pick_fd(void)
{
	int i;

	switch (rndn(14)) {
	case 0: return -1;
	case 1: return (int)rndn(3);
	case 2: return 999;
	case 3: return F.dev;
	case 4: return F.imp;
	case 5: return F.closed_fd;
	case 6: return F.memfd;
	case 7: return F.evfd;
	case 8: return F.heapfd >= 0 ? F.heapfd : F.pfn_fd;
	case 9: return (int)rnd();
	case 10: return F.pfn_fd;
	default:
		for (i = 0; i < 4; i++) {
			int fd = F.live[rndn(MAXLIVE)];

			if (fd >= 0)
				return fd;
		}
		return F.pfn_fd;
	}
}

/* Argument blob: right before a PROT_NONE page, or a hostile pointer. */
static void *arg_ptr(size_t size, void **blob)
{
	uint8_t *end = F.argpage + F.ps;

	*blob = end - size;
	switch (rndn(40)) {
	case 0: return NULL;
	case 1: return (void *)0xffff800000001000ULL;
	case 2: return F.unmapped;
	case 3: return end - size / 2;	/* runs into the PROT_NONE page */
	case 4: return F.pfn;		/* a dma-buf mapping: works or EFAULT */
	default: return *blob;
	}
}

/* cmd with a random size (smaller, bigger, huge) and sometimes wrong bits */
static unsigned long mangle_cmd(unsigned long cmd, size_t *size, int *mangled)
{
	unsigned long dir = _IOC_DIR(cmd), type = _IOC_TYPE(cmd), nr = _IOC_NR(cmd);
	size_t sz = _IOC_SIZE(cmd);

	*mangled = 0;
	switch (rndn(16)) {
	case 0: sz = sz > 8 ? sz - 8 : 0; *mangled = 1; break;
	case 1: sz += 8; *mangled = 1; break;
	case 2: sz = rndn(_IOC_SIZEMASK + 1); *mangled = 1; break;
	case 3: sz = 0; *mangled = 1; break;
	case 4: dir = rndn(4); *mangled = 2; break;
	case 5: nr = rndn(256); *mangled = 2; break;
	case 6: type = rndn(256); *mangled = 2; break;
	default: break;
	}
	if (sz > F.ps)
		sz = F.ps;	/* our blob is one page; bigger sizes point past it */
	*size = sz;
	return _IOC(dir, type, nr, sz);
}

/* ---- the exporter ---- */

static const int ok_version[] = { EINVAL, E2BIG, EFAULT, ENOTTY, 0 };
static const int ok_create[] = { EINVAL, E2BIG, EFAULT, EACCES, EOPNOTSUPP,
				 EMFILE, ENOMEM, ENOTTY, 0 };
static const int ok_info[] = { EINVAL, E2BIG, EFAULT, EBADF, ENOTTY, 0 };
/* a command whose number or direction was mangled may decode to any of them */
static const int ok_any[] = { EINVAL, E2BIG, EFAULT, EACCES, EOPNOTSUPP, EMFILE,
			      ENOMEM, EBADF, ENOTTY, 0 };
/* EAGAIN: a static attach while the changer thread kept the range moving */
static const int ok_imp_attach[] = { EINVAL, EFAULT, EBADF, EACCES, ENOMEM,
				     EPERM, ENODEV, ENOTTY, EAGAIN, 0 };
static const int ok_imp_copy[] = { EINVAL, ENOENT, EFAULT, EPERM, ENOMEM,
				   ETIMEDOUT, EACCES, ENODEV, ENOTTY, EBADF, 0 };
static const int ok_imp_detach[] = { EFAULT, ENOENT, ENOTTY, 0 };
static const int ok_imp_submit[] = { EINVAL, ENOENT, EFAULT, EPERM, EBUSY,
				     ENOMEM, EMFILE, ETIMEDOUT, EACCES, ENODEV,
				     EINTR, ENOTTY, 0 };
static const int ok_imp_job[] = { EINVAL, ENOENT, EFAULT, EINTR, ENOTTY, 0 };
static const int ok_sync[] = { EINVAL, EFAULT, ENODEV, EAGAIN, EPERM, EACCES,
			       ETIMEDOUT, ENOMEM, ENOTTY, 0 };
static const int ok_mmap[] = { EINVAL, EACCES, EPERM, ENOMEM, ENODEV,
			       EOVERFLOW, ENXIO, 0 };

static void keep_fd(int fd, int ro)
{
	int i = (int)rndn(MAXLIVE);

	if (F.live[i] >= 0) {
		close(F.live[i]);
		F.closed_fd = F.live[i];
	}
	F.live[i] = fd;
	F.live_ro[i] = ro;
}

/* A successful CREATE or CREATE_LIST: the fd is ours to keep or close. */
static void got_fd(int fd, uint32_t flags)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		F.failures++;
		fprintf(stderr, "# FAIL: success without a valid fd (%d)\n", fd);
		return;
	}
	if (rndn(4) == 0)
		keep_fd(fd, !!(flags & USERPTR_DMABUF_CREATE_READONLY));
	else
		close(fd);
}

static void fill_ranges(uint32_t n)
{
	uint64_t r = (uintptr_t)F.region;
	uint32_t i;

	for (i = 0; i < n && i < 1100; i++) {
		if (rndn(3)) {	/* disjoint single pages of the region, in order */
			F.list[i].addr = r + (i % REGION_PAGES) * F.ps;
			F.list[i].size = F.ps;
		} else {
			F.list[i].addr = pick_addr();
			F.list[i].size = pick_size();
		}
	}
}

static void fuzz_exporter(long it)
{
	unsigned long base, cmd;
	const int *ok;
	size_t size;
	void *blob, *arg;
	int mangled, ret, e;
	unsigned int which = rndn(4);

	switch (which) {
	case 0: base = USERPTR_DMABUF_IOC_VERSION; ok = ok_version; break;
	case 1: base = USERPTR_DMABUF_IOC_CREATE; ok = ok_create; break;
	case 2: base = USERPTR_DMABUF_IOC_CREATE_LIST; ok = ok_create; break;
	default: base = USERPTR_DMABUF_IOC_INFO; ok = ok_info; break;
	}
	cmd = mangle_cmd(base, &size, &mangled);
	arg = arg_ptr(size, &blob);
	memset(blob, 0, size);
	switch (which) {
	case 0: {
		struct userptr_dmabuf_version v = { 0 };

		if (!rndn(4))
			v.reserved[rndn(5)] = (uint32_t)rnd();
		if (!rndn(8))
			v.api_version = (uint32_t)rnd();
		memcpy(blob, &v, size < sizeof(v) ? size : sizeof(v));
		break;
	}
	case 1: {
		struct userptr_dmabuf_create c = { 0 };

		c.addr = pick_addr();
		c.size = pick_size();
		c.flags = pick_flags32(USERPTR_DMABUF_CREATE_FLAGS);
		c.fd = (int32_t)rndn(3) - 1;
		c.reserved[0] = pick_reserved();
		c.reserved[1] = pick_reserved();
		memcpy(blob, &c, size < sizeof(c) ? size : sizeof(c));
		break;
	}
	case 2: {
		struct userptr_dmabuf_create_list l = { 0 };
		static const uint32_t counts[] = { 0, 1, 2, 3, 17, 1023, 1024, 1025,
						   4096, ~0u };

		l.count = rndn(3) ? 1 + (uint32_t)rndn(REGION_PAGES) : counts[rndn(10)];
		fill_ranges(l.count);
		switch (rndn(10)) {
		case 0: l.ranges = 0; break;
		case 1: l.ranges = (uintptr_t)F.unmapped; break;
		case 2: l.ranges = 0xffff800000000000ULL; break;
		case 3: l.ranges = (uintptr_t)F.argpage + F.ps - 8; break;	/* runs into PROT_NONE */
		case 4: l.ranges = rnd(); break;
		default: l.ranges = (uintptr_t)F.list; break;
		}
		l.flags = pick_flags32(USERPTR_DMABUF_CREATE_FLAGS);
		l.reserved0 = (uint32_t)pick_reserved();
		l.reserved[rndn(2)] = pick_reserved();
		memcpy(blob, &l, size < sizeof(l) ? size : sizeof(l));
		break;
	}
	default: {
		struct userptr_dmabuf_info i = { 0 };

		i.fd = pick_fd();
		if (!rndn(6))
			((uint32_t *)&i)[1 + rndn(sizeof(i) / 4 - 1)] = (uint32_t)rnd();
		memcpy(blob, &i, size < sizeof(i) ? size : sizeof(i));
		break;
	}
	}
	/* bigger than ours: a non-zero tail must be E2BIG */
	if (mangled == 1 && size > _IOC_SIZE(base) && rndn(2))
		((uint8_t *)blob)[size - 1 - rndn(size - _IOC_SIZE(base))] = 1;

	ret = ioctl(F.dev, cmd, arg);
	e = errno;
	F.calls++;
	if (!ret) {
		F.successes++;
		if (mangled == 2 &&
		    (_IOC_TYPE(cmd) != USERPTR_DMABUF_IOC_MAGIC ||
		     _IOC_DIR(cmd) != 3 || _IOC_NR(cmd) > 3))
			fail_log("exporter (wrong cmd succeeded)", cmd, 0, it);
		int32_t ofd;
		uint32_t ofl;

		/* the blob may be misaligned: memcpy the outputs out */
		if (_IOC_NR(cmd) == 1 && (arg == blob || arg == (void *)F.pfn)) {
			memcpy(&ofd, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create, fd), 4);
			memcpy(&ofl, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create, flags), 4);
			got_fd(ofd, ofl);
		} else if (_IOC_NR(cmd) == 2 && (arg == blob || arg == (void *)F.pfn)) {
			memcpy(&ofd, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create_list, fd), 4);
			memcpy(&ofl, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create_list, flags), 4);
			got_fd(ofd, ofl);
		} else if (_IOC_NR(cmd) == 1 || _IOC_NR(cmd) == 2) {
			fail_log("create succeeded through a bad pointer", cmd, 0, it);
		}
		return;
	}
	F.errs[e & 255]++;
	if (mangled == 2)
		ok = ok_any;
	if (!in_set(e, ok))
		fail_log(which == 0 ? "VERSION" : which == 1 ? "CREATE" :
			 which == 2 ? "CREATE_LIST" : "INFO", cmd, e, it);
}

/* ---- the importer ---- */

static int pick_handle(void)
{
	int i;

	switch (rndn(8)) {
	case 0: return (int)rnd();
	case 1: return 0;
	case 2: return -1;
	case 3: return (int)F.dead_handles[rndn(MAXH)];	/* reused after detach */
	default:
		for (i = 0; i < 4; i++) {
			int h = F.handles[rndn(MAXH)];

			if (h >= 0)
				return h;
		}
		return (int)rndn(64);
	}
}

static int handle_slot(int h)
{
	int i;

	for (i = 0; i < MAXH; i++)
		if (F.handles[i] == h)
			return i;
	return -1;
}

/* One of our writable dma-bufs (vmap cannot be refused for being read-only). */
static int our_writable(int fd)
{
	int i;

	if (fd == F.pfn_fd)
		return 1;
	for (i = 0; i < MAXLIVE; i++)
		if (F.live[i] == fd && fd >= 0)
			return !F.live_ro[i];
	return 0;
}

static int ok_job_fd(int fd)
{
	struct stat st;

	return fd >= 0 && !fstat(fd, &st) && fcntl(fd, F_GETFD) == FD_CLOEXEC;
}

/* UDB_IMPORTER_IOC_SUBMIT and UDB_IMPORTER_IOC_JOB. */
static void fuzz_jobs(long it)
{
	static const uint64_t lens[] = { 0, 1, 3, 4, 4092, 4096, 4100,
					 64 << 20, (64 << 20) + 4, ~0ULL - 3 };
	static const uint32_t delays[] = { 10001, 0x7fffffff, ~0u };
	static uint64_t ids[8];
	int submit = rndn(3) != 0, on_imp2 = !rndn(16), ret, e;
	struct udb_importer_submit sb = { 0 };
	struct udb_importer_job jb = { 0 };
	size_t size = submit ? sizeof(sb) : sizeof(jb);
	void *blob, *arg = arg_ptr(size, &blob);
	struct pollfd pfd;

	if (submit) {
		sb.handle = (uint32_t)pick_handle();
		sb.op = rndn(4) ? (uint32_t)rndn(3) : (uint32_t)rnd();
		sb.offset = rndn(3) ? rndn(3 * F.ps) & ~3ULL : pick_size();
		sb.len = rndn(3) ? 4 * (1 + rndn(F.ps / 2)) : lens[rndn(10)];
		switch (sb.op) {
		case UDB_IMPORTER_JOB_FILL:
			sb.value = rndn(8) ? (uint32_t)rnd() : rnd();
			break;
		case UDB_IMPORTER_JOB_COPY:
			sb.value = rndn(4) ? rndn(3 * F.ps) & ~3ULL : pick_size();
			break;
		default:
			sb.value = rndn(8) ? 0 : rnd();
		}
		sb.delay_ms = rndn(8) ? 0 : rndn(16) ? (uint32_t)rndn(51) : delays[rndn(3)];
		if (!rndn(16))
			sb.flags = pick_flags32(0);
		if (!rndn(16))
			sb.job_id = rnd();
		if (!rndn(16))
			sb.fence_fd = (int32_t)rnd();
		if (!rndn(16))
			sb.reserved[rndn(3)] = (uint32_t)rnd();
		memcpy(blob, &sb, sizeof(sb));
	} else {
		jb.job_id = rndn(4) ? ids[rndn(8)] : rndn(2) ? rndn(400) : rnd();
		/* a short wait, or none; long ones only for ids that do not exist */
		jb.timeout_ms = rndn(2) ? 0 : (uint32_t)rndn(30);
		if (!rndn(32) && jb.job_id > (1ULL << 40))
			jb.timeout_ms = ~0u;
		if (!rndn(16))
			jb.reserved[rndn(3)] = (uint32_t)rnd();
		if (!rndn(16))
			jb.status = (uint32_t)rnd();	/* out fields: ignored */
		memcpy(blob, &jb, sizeof(jb));
	}
	ret = ioctl(on_imp2 ? F.imp2 : F.imp,
		    submit ? UDB_IMPORTER_IOC_SUBMIT : UDB_IMPORTER_IOC_JOB, arg);
	e = errno;
	F.calls++;
	if (ret) {
		F.errs[e & 255]++;
		if (!in_set(e, submit ? ok_imp_submit : ok_imp_job))
			fail_log(submit ? "SUBMIT" : "JOB", 0, e, it);
		return;
	}
	F.successes++;
	if (submit) {
		memcpy(&sb, arg, sizeof(sb));
		if (!ok_job_fd(sb.fence_fd) || !sb.job_id) {
			fail_log("SUBMIT: success without a sync_file fd or id", 0, 0, it);
			return;
		}
		if (!on_imp2)
			ids[rndn(8)] = sb.job_id;
		/* sometimes wait: the fence must signal (delays are <= 50 ms) */
		if (!rndn(8)) {
			pfd.fd = sb.fence_fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 5000) != 1)
				fail_log("SUBMIT: the job's fence did not signal in 5 s", 0, 0, it);
		}
		close(sb.fence_fd);
		return;
	}
	memcpy(&jb, arg, sizeof(jb));
	if (jb.status > UDB_IMPORTER_JOB_ERROR ||
	    (jb.status == UDB_IMPORTER_JOB_ERROR) != (jb.error < 0) ||
	    jb.flags & ~(UDB_IMPORTER_JOB_STALE | UDB_IMPORTER_JOB_NEW_MAPPING |
			 UDB_IMPORTER_JOB_PINNED))
		fail_log("JOB: incoherent record", 0, 0, it);
}

static void fuzz_importer(long it)
{
	unsigned long base, cmd;
	const int *ok;
	size_t size;
	void *blob, *arg;
	int mangled, ret, e, s, on_imp2;
	unsigned int which = rndn(6);
	struct udb_importer_attach a = { 0 };
	struct udb_importer_copy c = { 0 };
	uint32_t h = 0;
	uint8_t *data = F.data;
	const size_t data_len = 3 * F.ps;

	if (which == 4) {
		fuzz_jobs(it);
		return;
	}
	switch (which) {
	case 0: base = UDB_IMPORTER_IOC_ATTACH; ok = ok_imp_attach; break;
	case 1: base = UDB_IMPORTER_IOC_DETACH; ok = ok_imp_detach; break;
	default: base = UDB_IMPORTER_IOC_COPY; ok = ok_imp_copy; break;
	}
	/*
	 * COPY, SUBMIT and JOB are all 64 bytes, so a mangled number can
	 * land on another real command, which would read these fields with
	 * its own rules and errno set: draw again.
	 */
	do
		cmd = mangle_cmd(base, &size, &mangled);
	while (cmd != base && (cmd == UDB_IMPORTER_IOC_COPY ||
			       cmd == UDB_IMPORTER_IOC_SUBMIT ||
			       cmd == UDB_IMPORTER_IOC_JOB));
	on_imp2 = !rndn(16);
	arg = arg_ptr(size, &blob);
	if (which == 0 && arg == (void *)F.pfn)
		arg = blob;	/* flags we control: see the header comment */
	memset(blob, 0, size);
	switch (which) {
	case 0:
		a.fd = pick_fd();
		/* the system heap maps at attach, bidirectionally: not twice */
		if (a.fd == F.heapfd && F.heapfd >= 0)
			a.fd = F.memfd;
		a.flags = pick_flags32(UDB_IMPORTER_ATTACH_DYNAMIC |
				       UDB_IMPORTER_ATTACH_READONLY);
		if (on_imp2 || F.writer >= 0)
			a.flags |= UDB_IMPORTER_ATTACH_DYNAMIC |
				   UDB_IMPORTER_ATTACH_READONLY;
		if (!rndn(8))
			a.handle = (uint32_t)rnd();
		if (!rndn(8))
			a.reserved[rndn(5)] = (uint32_t)rnd();
		memcpy(blob, &a, size < sizeof(a) ? size : sizeof(a));
		break;
	case 1:
		h = (uint32_t)pick_handle();
		memcpy(blob, &h, size < sizeof(h) ? size : sizeof(h));
		break;
	default: {
		static const uint64_t lens[] = { 0, 1, 4095, 4096, 4097, 8192,
						 64 << 20, (64 << 20) + 1, ~0ULL };

		c.handle = (uint32_t)pick_handle();
		c.op = rndn(4) ? (uint32_t)rndn(2) : rndn(2) ? (uint32_t)rndn(4) :
					     (uint32_t)rnd();
		s = handle_slot((int)c.handle);
		/* vmap only where it cannot fail (see the header comment) */
		if ((c.op == UDB_IMPORTER_READ_VMAP || c.op == UDB_IMPORTER_WRITE_VMAP) &&
		    (s < 0 || !F.h_static[s] || F.h_ro[s]))
			c.op -= UDB_IMPORTER_READ_VMAP;
		c.offset = rndn(3) ? rndn(3 * F.ps) : pick_size();
		c.len = rndn(3) ? 1 + rndn(2 * F.ps) : lens[rndn(9)];
		switch (rndn(8)) {
		case 0: c.data = 0; break;
		case 1: c.data = (uintptr_t)F.unmapped; break;
		case 2: c.data = 0xffff800000000000ULL; break;
		case 3: c.data = (uintptr_t)F.pfn; break;
		case 4: c.data = (uintptr_t)F.region + rndn(REGION_PAGES) * F.ps; break;
		default: c.data = (uintptr_t)data; break;
		}
		/* a big len with a small bounce buffer: keep it inside data */
		if (c.data == (uintptr_t)data && c.len > data_len && rndn(2))
			c.len = data_len;
		if (!rndn(10))
			c.maps = rnd();
		if (!rndn(10))
			c.reserved[rndn(3)] = (uint32_t)rnd();
		memcpy(blob, &c, size < sizeof(c) ? size : sizeof(c));
		break;
	}
	}
	ret = ioctl(on_imp2 ? F.imp2 : F.imp, cmd, arg);
	e = errno;
	F.calls++;
	if (!ret) {
		F.successes++;
		if (mangled && cmd != base)
			fail_log("importer: mangled cmd succeeded", cmd, 0, it);
		if (on_imp2)
			return;		/* imp2's handles live and die with it */
		if (which == 0 && arg == blob) {
			int i = (int)rndn(MAXH);
			int hh = (int)((struct udb_importer_attach *)blob)->handle;

			if (handle_slot(hh) >= 0)
				return;
			if (F.handles[i] >= 0 && !ioctl(F.imp, UDB_IMPORTER_IOC_DETACH,
							&(uint32_t){ (uint32_t)F.handles[i] }))
				F.dead_handles[i] = (uint32_t)F.handles[i];
			if (F.writer == i)
				F.writer = -1;
			F.handles[i] = hh;
			if ((a.flags & (UDB_IMPORTER_ATTACH_DYNAMIC | UDB_IMPORTER_ATTACH_READONLY)) !=
			    (UDB_IMPORTER_ATTACH_DYNAMIC | UDB_IMPORTER_ATTACH_READONLY))
				F.writer = i;
			F.h_static[i] = !(a.flags & UDB_IMPORTER_ATTACH_DYNAMIC) || !F.dynamic;
			F.h_ro[i] = !our_writable(a.fd);
		} else if (which == 1 && (s = handle_slot((int)h)) >= 0) {
			F.dead_handles[s] = h;
			F.handles[s] = -1;
			if (F.writer == s)
				F.writer = -1;
		}
		return;
	}
	F.errs[e & 255]++;
	if (mangled == 2)
		ok = ok_imp_copy;
	if (!in_set(e, ok) && !(mangled && e == ENOTTY))
		fail_log(which == 0 ? "ATTACH" : which == 1 ? "DETACH" : "COPY",
			 cmd, e, it);
}

/* ---- the dma-buf fds: DMA_BUF_IOCTL_SYNC and mmap ---- */

static __thread sigjmp_buf *t_jmp;

static void on_sig(int sig)
{
	if (t_jmp)
		siglongjmp(*t_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fuzz_dmabuf(long it)
{
	int fd = F.live[rndn(MAXLIVE)];
	struct dma_buf_sync sync;
	volatile uint8_t *m;
	sigjmp_buf jb;
	size_t len;
	off_t off;
	int prot;

	if (fd < 0)
		fd = F.pfn_fd;
	F.calls++;
	if (rndn(2)) {
		static const uint64_t fl[] = { DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
			DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
			DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
			DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW };

		sync.flags = rndn(3) ? fl[rndn(4)] : rnd();
		if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync)) {
			F.errs[errno & 255]++;
			if (!in_set(errno, ok_sync))
				fail_log("DMA_BUF_IOCTL_SYNC", DMA_BUF_IOCTL_SYNC, errno, it);
		} else {
			F.successes++;
		}
		return;
	}
	len = rndn(4) ? (1 + rndn(4)) * F.ps : pick_size();
	if (len > (64UL << 20))
		len = 64UL << 20;
	off = rndn(4) ? 0 : (off_t)(rndn(8) * F.ps + (rndn(4) ? 0 : 1));
	prot = rndn(2) ? PROT_READ : PROT_READ | PROT_WRITE;
	m = mmap(NULL, len ? len : 1, prot, rndn(8) ? MAP_SHARED : MAP_PRIVATE, fd, off);
	if (m == MAP_FAILED) {
		F.errs[errno & 255]++;
		if (!in_set(errno, ok_mmap))
			fail_log("mmap", 0, errno, it);
		return;
	}
	F.successes++;
	if (sigsetjmp(jb, 1) == 0) {
		t_jmp = &jb;
		(void)m[0];
		if (prot & PROT_WRITE)
			m[rndn(F.ps)] = 1;
	}
	t_jmp = NULL;
	munmap((void *)m, len ? len : 1);
}

/* Sometimes change the backing memory, so buffers go STALE / FAULT. */
static void mutate_region(void)
{
	uint8_t *p = F.region + (rndn(3) == 0 ? 7 : 8 + rndn(8)) * F.ps;

	switch (rndn(4)) {
	case 0:
		madvise(p, F.ps, MADV_DONTNEED);
		break;
	case 1:
		mmap(p, F.ps, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		break;
	case 2:
		mprotect(p, F.ps, PROT_READ);
		mprotect(p, F.ps, PROT_READ | PROT_WRITE);
		break;
	default:
		memset(p, (int)rnd(), F.ps);
	}
}

FIXTURE(fuzz)
{
	int fds0;
};

FIXTURE_SETUP(fuzz)
{
	struct userptr_dmabuf_version v = { 0 };
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = SA_NODEFER };
	struct dma_heap_allocation_data alloc = { .fd_flags = O_RDWR | O_CLOEXEC };
	int i, heap, fd;

	self->fds0 = count_proc_fds();
	F.ps = page_size();
	alloc.len = F.ps;
	F.dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(F.dev, 0);
	F.imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(F.imp, 0);
	F.imp2 = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(F.imp2, 0);
	ASSERT_EQ(0, ioctl(F.dev, USERPTR_DMABUF_IOC_VERSION, &v));
	F.max_size = v.max_size;
	F.dynamic = !!(v.features & USERPTR_DMABUF_FEAT_DYNAMIC);

	/* every scratch area ends in a PROT_NONE page: reads stop there */
	/*
	 * Two PROT_NONE pages after the region: pick_addr() goes up to
	 * REGION_PAGES + 1, and a buffer over memory we do not own (the heap,
	 * ASan's shadow) would let device writes corrupt this process.
	 */
	F.region = map_anon((REGION_PAGES + 2) * F.ps);
	ASSERT_NE(NULL, F.region);
	ASSERT_EQ(0, mprotect(F.region + REGION_PAGES * F.ps, 2 * F.ps,
			      PROT_NONE));
	F.data = map_anon(4 * F.ps);
	ASSERT_NE(NULL, F.data);
	ASSERT_EQ(0, mprotect(F.data + 3 * F.ps, F.ps, PROT_NONE));
	F.writer = -1;
	memset(F.region, 0x11, REGION_PAGES * F.ps);
	ASSERT_EQ(0, munmap(F.region + 3 * F.ps, F.ps));
	ASSERT_EQ(0, mprotect(F.region + 5 * F.ps, F.ps, PROT_NONE));
	ASSERT_EQ(0, mprotect(F.region + 6 * F.ps, F.ps, PROT_READ));
	F.pfn_fd = udb_create(F.dev, F.region + 8 * F.ps, 4 * F.ps, 0);
	ASSERT_GE(F.pfn_fd, 0);
	/* PROT_NONE on both sides: pick_addr() also tries F.pfn - ps */
	F.pfn = mmap(NULL, 6 * F.ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, F.pfn);
	F.pfn += F.ps;
	ASSERT_EQ(F.pfn, mmap(F.pfn, 4 * F.ps, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_FIXED, F.pfn_fd, 0));
	F.argpage = mmap(NULL, 2 * F.ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, F.argpage);
	ASSERT_EQ(0, mprotect(F.argpage + F.ps, F.ps, PROT_NONE));
	F.list = calloc(1100, sizeof(*F.list));
	ASSERT_NE(NULL, F.list);
	F.unmapped = mmap(NULL, F.ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, F.unmapped);
	munmap(F.unmapped, F.ps);

	for (i = 0; i < MAXLIVE; i++)
		F.live[i] = -1;
	for (i = 0; i < MAXH; i++) {
		F.handles[i] = -1;
		F.dead_handles[i] = (uint32_t)i;
	}
	fd = udb_create(F.dev, F.region, F.ps, 0);
	ASSERT_GE(fd, 0);
	F.closed_fd = fd;
	close(fd);
	F.memfd = memfd_create("fuzz", MFD_CLOEXEC);
	ASSERT_GE(F.memfd, 0);
	F.evfd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(F.evfd, 0);
	F.heapfd = -1;
	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap >= 0) {
		if (!ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc))
			F.heapfd = alloc.fd;
		close(heap);
	}
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

FIXTURE_TEARDOWN(fuzz)
{
}

TEST_F_TIMEOUT(fuzz, ioctls, 3600)
{
	const char *s = getenv("UDB_FUZZ_SEED");
	long iters = getenv("UDB_FUZZ_ITERS") ? atol(getenv("UDB_FUZZ_ITERS")) : 400000;
	double secs = getenv("UDB_FUZZ_SECONDS") ? atof(getenv("UDB_FUZZ_SECONDS")) : 30;
	uint64_t seed = s ? strtoull(s, NULL, 0) :
			((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
	double end = now() + secs;
	long it;
	int i, n;

	printf("# fuzz: seed %#llx (UDB_FUZZ_SEED=%#llx reproduces), %ld iterations, %.0f s at most, uid %d\n",
	       (unsigned long long)seed, (unsigned long long)seed, iters, secs,
	       (int)geteuid());
	fflush(stdout);
	rs = seed ? seed : 1;
	for (it = 0; it < iters && F.failures < 30; it++) {
		unsigned int w = rndn(16);

		if ((it & 255) == 0 && now() > end)
			break;
		if (w < 7)
			fuzz_exporter(it);
		else if (w < 13)
			fuzz_importer(it);
		else if (w < 15)
			fuzz_dmabuf(it);
		else
			mutate_region();
	}
	TH_LOG("%ld iterations, %ld calls, %ld succeeded, %ld unexpected", it,
	       F.calls, F.successes, F.failures);
	for (i = 1, n = 0; i < 256; i++)
		if (F.errs[i])
			TH_LOG("  %-12s %ld", strerrorname_np(i) ? strerrorname_np(i) : "?",
			       F.errs[i]);
	(void)n;
	EXPECT_EQ(0, F.failures) TH_LOG("seed %#llx", (unsigned long long)seed);

	/* everything still works, and closes */
	for (i = 0; i < MAXLIVE; i++)
		if (F.live[i] >= 0)
			close(F.live[i]);
	close(F.imp);
	close(F.imp2);
	munmap(F.pfn, 4 * F.ps);
	close(F.pfn_fd);
	i = udb_create(F.dev, F.region + 8 * F.ps, 4 * F.ps, 0);
	if (i == -EFAULT || i == -EACCES) {	/* the mutations may have left it RO */
		mprotect(F.region + 7 * F.ps, 9 * F.ps, PROT_READ | PROT_WRITE);
		i = udb_create(F.dev, F.region + 8 * F.ps, 4 * F.ps, 0);
	}
	EXPECT_GE(i, 0) TH_LOG("create after fuzzing: %s", strerror(-i));
	if (i >= 0)
		close(i);
	close(F.dev);
	close(F.memfd);
	close(F.evfd);
	if (F.heapfd >= 0)
		close(F.heapfd);
	EXPECT_EQ(self->fds0, count_proc_fds());
}

TEST_HARNESS_MAIN
