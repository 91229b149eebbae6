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
 * UDB_FUZZ_ITERS (default 400000) bounds the operations and
 * UDB_FUZZ_SECONDS (default 30) the time, whichever comes first;
 * UDB_FUZZ_SEED (printed at start) replays the fuzzing thread's choices of
 * an unguided run, exactly with UDB_FUZZ_MUTATOR=0 (the mutator thread's
 * timing is not reproducible; it is on by default). UDB_FUZZ_GUIDE=0 turns the
 * guidance off; UDB_FUZZ_PCS=FILE writes the module PCs a guided run saw.
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
 *
 * Coverage guidance. Every random decision of the fuzzing thread comes
 * from a tape, an array of 64-bit values: rnd() returns the next one and,
 * past the tape's end, draws a fresh one and appends it. An iteration is
 * a short sequence of operations (1-8) driven by one tape. With KCOV
 * (/sys/kernel/debug/kcov, root), the fuzzing thread's kernel PCs are
 * collected after every operation and only those inside the text of
 * userptr_dmabuf and udb_importer are kept (a bitmap per text section,
 * sections from /sys/module/NAME/sections, plus a hashed bitmap of edges,
 * pairs of consecutive module PCs); an iteration that reached a module PC
 * or edge never seen before has its tape stored in a bounded corpus, and
 * later iterations mostly replay a corpus tape with mutations (entries set
 * to random or boundary values, splices of two tapes, truncation, chunks
 * inserted or deleted). Without KCOV (or not as root) every iteration
 * draws a fresh tape: the run is unguided, and UDB_FUZZ_SEED replays it.
 * Work the modules do in their own kernel threads (the refresh worker, the
 * importer's device thread) is reported by them as KCOV remote coverage of
 * the task that queued it (its common handle); the fuzzing thread enables
 * remote coverage for this process too and credits those PCs to itself,
 * after the operation during which they arrive. 6.12 refuses remote
 * coverage to a task with its own KCOV (EBUSY): the log says so.
 *
 * The mutator thread changes the memory under the buffers while the
 * ioctls run: MAP_FIXED over pages of the scratch region (anonymous,
 * shared, a memfd's pages, read-only, one of our dma-bufs), munmap,
 * mremap (moved elsewhere in the region and back, MREMAP_DONTUNMAP, grown
 * in place into a hole and shrunk again), madvise (DONTNEED, FREE, COLD,
 * PAGEOUT, WILLNEED, POPULATE_WRITE), mprotect, and fork (the child reads
 * or writes one byte with a raw read()/write(), then _exit()s). It only
 * touches pages MUT_LO .. REGION_PAGES - 1 of the region, in bursts with
 * quiet gaps between them so that refreshes can finish.
 */
#include "common.h"
#include <dirent.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/kcov.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ucontext.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

#define REGION_PAGES	16
/* one page per range, up to one past USERPTR_DMABUF_MAX_RANGES */
#define WIDE_PAGES	(USERPTR_DMABUF_MAX_RANGES + 1)
#define MAXLIVE		16
#define MAXH		32

/* pages of the region the mutator thread (and mutate_region()) change */
#define MUT_LO		7
#define MUT_PAGES	(REGION_PAGES - MUT_LO)

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/*
 * The tape of the running iteration. rnd() is the fuzzing thread's only
 * source of randomness: it replays the tape, then extends it with fresh
 * values from rs (which also makes the corpus decisions, see mrnd()).
 */
#define TAPE_MAX	8192

static uint64_t rs;
static uint64_t tape[TAPE_MAX];
static unsigned int tape_len, tape_pos;

static uint64_t rnd(void)
{
	uint64_t v;

	if (tape_pos < tape_len)
		return tape[tape_pos++];
	v = xorshift(&rs);
	if (tape_len < TAPE_MAX) {
		tape[tape_len++] = v;
		tape_pos = tape_len;
	}
	return v;
}

/* decisions about tapes, never recorded on one */
static uint64_t mrnd(uint64_t n)
{
	return n ? xorshift(&rs) % n : 0;
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
	uint8_t *wide;		/* WIDE_PAGES of plain memory for long range lists */
	uint8_t *pfn;		/* a CPU mapping of one of our dma-bufs: VM_PFNMAP */
	int pfn_fd;
	uint8_t *argpage;	/* two pages, the second PROT_NONE */
	struct userptr_dmabuf_range *list;	/* room for WIDE_PAGES ranges */
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
	long write_sigbus;	/* writes through a dma-buf mapping that faulted */
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
/*
 * EBUSY: the first snapshot could not be taken because invalidations of
 * the range kept colliding with it, which is what the mutator thread does
 * to the region (docs/uapi.md, CREATE).
 */
static const int ok_create[] = { EINVAL, E2BIG, EFAULT, EACCES, EOPNOTSUPP,
				 EMFILE, ENOMEM, ENOTTY, EBUSY, 0 };
static const int ok_info[] = { EINVAL, E2BIG, EFAULT, EBADF, ENOTTY, 0 };
/* a command whose number or direction was mangled may decode to any of them */
static const int ok_any[] = { EINVAL, E2BIG, EFAULT, EACCES, EOPNOTSUPP, EMFILE,
			      ENOMEM, EBADF, ENOTTY, EBUSY, 0 };
/*
 * While the mutator thread keeps the range moving: EAGAIN, a static attach
 * whose refresh had not faulted every page in time; ETIMEDOUT, a dynamic
 * one whose snapshot was not pinned in time (docs/uapi.md, importers)
 */
static const int ok_imp_attach[] = { EINVAL, EFAULT, EBADF, EACCES, ENOMEM,
				     EPERM, ENODEV, ENOTTY, EAGAIN, ETIMEDOUT,
				     0 };
static const int ok_imp_copy[] = { EINVAL, ENOENT, EFAULT, EPERM, ENOMEM,
				   ETIMEDOUT, EACCES, ENODEV, ENOTTY, EBADF, 0 };
static const int ok_imp_detach[] = { EFAULT, ENOENT, ENOTTY, 0 };
/* a mangled command that decodes to ATTACH, COPY or DETACH: any of theirs */
static const int ok_imp_mangled[] = { EINVAL, ENOENT, EFAULT, EPERM, ENOMEM,
				      ETIMEDOUT, EACCES, ENODEV, ENOTTY, EBADF,
				      EAGAIN, 0 };
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

	if (rndn(2)) {	/* all good: disjoint pages of the wide area, so long lists can succeed */
		for (i = 0; i < n && i < WIDE_PAGES; i++) {
			F.list[i].addr = (uintptr_t)F.wide + (uint64_t)i * F.ps;
			F.list[i].size = F.ps;
		}
		return;
	}
	for (i = 0; i < n && i < WIDE_PAGES; i++) {
		if (rndn(3)) {	/* disjoint single pages of the region, in order */
			F.list[i].addr = r + (i % REGION_PAGES) * F.ps;
			F.list[i].size = F.ps;
		} else {
			F.list[i].addr = pick_addr();
			F.list[i].size = pick_size();
		}
	}
}

static int zeroed(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++)
			return 0;
	return 1;
}

/*
 * Must the module refuse this argument, as it reads it (the first @size
 * bytes, zeros after them)? Bytes past the struct it knows (E2BIG), input
 * in VERSION or in INFO's output fields, unknown flags, non-zero reserved
 * fields, a range count out of bounds (EINVAL).
 */
static int exporter_input_bad(unsigned int which, const uint8_t *blob, size_t size)
{
	union {
		struct userptr_dmabuf_version v;
		struct userptr_dmabuf_create c;
		struct userptr_dmabuf_create_list l;
		struct userptr_dmabuf_info i;
	} u;
	const uint8_t *b = (const uint8_t *)&u;
	size_t known = which == 0 ? sizeof(u.v) : which == 1 ? sizeof(u.c) :
		       which == 2 ? sizeof(u.l) : sizeof(u.i);
	size_t i;

	for (i = known; i < size; i++)
		if (blob[i])
			return 1;
	memset(&u, 0, sizeof(u));
	memcpy(&u, blob, size < known ? size : known);
	switch (which) {
	case 1:
		return (u.c.flags & ~USERPTR_DMABUF_CREATE_FLAGS) ||
		       u.c.reserved[0] || u.c.reserved[1];
	case 2:
		return (u.l.flags & ~USERPTR_DMABUF_CREATE_FLAGS) || u.l.reserved0 ||
		       u.l.reserved[0] || u.l.reserved[1] || !u.l.count ||
		       u.l.count > USERPTR_DMABUF_MAX_RANGES;
	case 3:
		u.i.fd = 0;	/* every other field is output */
		break;
	}
	for (i = 0; i < known; i++)
		if (b[i])
			return 1;
	return 0;
}

/*
 * Must the reference importer refuse this argument? Its uAPI rules:
 * unknown ATTACH flags, input in out fields (ATTACH's handle, COPY's
 * counters, SUBMIT's job_id and fence_fd), non-zero flags or reserved
 * fields, an op out of range, SUBMIT's length and alignment rules and
 * delay bound (EINVAL; EPERM for a PIN without CAP_IPC_LOCK).
 */
static int importer_input_bad(unsigned long cmd, const void *blob)
{
	if (cmd == UDB_IMPORTER_IOC_ATTACH) {
		const struct udb_importer_attach *a = blob;

		return (a->flags & ~(UDB_IMPORTER_ATTACH_DYNAMIC |
				     UDB_IMPORTER_ATTACH_READONLY |
				     UDB_IMPORTER_ATTACH_PIN)) ||
		       a->handle || !zeroed(a->reserved, sizeof(a->reserved));
	}
	if (cmd == UDB_IMPORTER_IOC_COPY) {
		const struct udb_importer_copy *c = blob;

		return c->op > UDB_IMPORTER_WRITE_VMAP || c->maps || c->invalidations ||
		       c->map_retries || !c->len ||
		       !zeroed(c->reserved, sizeof(c->reserved));
	}
	if (cmd == UDB_IMPORTER_IOC_SUBMIT) {
		const struct udb_importer_submit *sb = blob;

		return sb->op > UDB_IMPORTER_JOB_COPY || sb->flags || sb->job_id ||
		       sb->fence_fd || !zeroed(sb->reserved, sizeof(sb->reserved)) ||
		       !sb->len || (sb->len | sb->offset) & 3 ||
		       sb->delay_ms > UDB_IMPORTER_MAX_DELAY_MS ||
		       (sb->op == UDB_IMPORTER_JOB_CHECKSUM && sb->value) ||
		       (sb->op == UDB_IMPORTER_JOB_FILL && sb->value > UINT32_MAX);
	}
	if (cmd == UDB_IMPORTER_IOC_JOB) {
		const struct udb_importer_job *jb = blob;

		return !zeroed(jb->reserved, sizeof(jb->reserved));
	}
	return 0;
}

static void fuzz_exporter(long it)
{
	unsigned long base, cmd;
	const int *ok;
	size_t size;
	void *blob, *arg;
	int mangled, ret, e, bad, predicted;
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
		if (!rndn(6)) {
			uint32_t v = (uint32_t)rnd();

			memcpy((uint8_t *)&i + 4 * (1 + rndn(sizeof(i) / 4 - 1)), &v, 4);
		}
		memcpy(blob, &i, size < sizeof(i) ? size : sizeof(i));
		break;
	}
	}
	/* bigger than ours: a non-zero tail must be E2BIG */
	if (mangled == 1 && size > _IOC_SIZE(base) && rndn(2))
		((uint8_t *)blob)[size - 1 - rndn(size - _IOC_SIZE(base))] = 1;
	bad = arg == blob && mangled != 2 && exporter_input_bad(which, blob, size);

	/*
	 * The fd a CREATE would get (the lowest free one: only this thread
	 * opens fds): what the dma-buf mapping reads back can be another
	 * page's bytes by then, as the mutator changes the pages behind it.
	 */
	predicted = dup(0);
	if (predicted >= 0)
		close(predicted);
	ret = ioctl(F.dev, cmd, arg);
	e = errno;
	F.calls++;
	if (!ret) {
		F.successes++;
		if (bad)
			fail_log("exporter (input it must refuse succeeded)", cmd, 0, it);
		if (mangled == 2 &&
		    (_IOC_TYPE(cmd) != USERPTR_DMABUF_IOC_MAGIC ||
		     _IOC_DIR(cmd) != 3 || _IOC_NR(cmd) > 3))
			fail_log("exporter (wrong cmd succeeded)", cmd, 0, it);
		int32_t ofd;
		uint32_t ofl;

		/* the blob may be misaligned: memcpy the outputs out */
		if (_IOC_NR(cmd) == 1 && arg == blob) {
			memcpy(&ofd, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create, fd), 4);
			memcpy(&ofl, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create, flags), 4);
			got_fd(ofd, ofl);
		} else if (_IOC_NR(cmd) == 2 && arg == blob) {
			memcpy(&ofd, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create_list, fd), 4);
			memcpy(&ofl, (uint8_t *)arg + offsetof(struct userptr_dmabuf_create_list, flags), 4);
			got_fd(ofd, ofl);
		} else if ((_IOC_NR(cmd) == 1 || _IOC_NR(cmd) == 2) && arg == (void *)F.pfn) {
			/* the flags from the fd itself, not from the mapping */
			ofl = (fcntl(predicted, F_GETFL) & O_ACCMODE) == O_RDONLY ?
			      USERPTR_DMABUF_CREATE_READONLY : 0;
			got_fd(predicted, ofl);
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
	int submit = rndn(3) != 0, on_imp2 = !rndn(16), ret, e, bad;
	struct udb_importer_submit sb = { 0 };
	struct udb_importer_job jb = { 0 };
	size_t size = submit ? sizeof(sb) : sizeof(jb);
	void *blob, *arg = arg_ptr(size, &blob);
	struct pollfd pfd;

	/* outputs (a fence fd to close) must not be read back from pages
	 * the mutator thread changes: not through the dma-buf mapping */
	if (arg == (void *)F.pfn)
		arg = blob;

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
	bad = arg == blob &&
	      importer_input_bad(submit ? UDB_IMPORTER_IOC_SUBMIT : UDB_IMPORTER_IOC_JOB, blob);
	ret = ioctl(on_imp2 ? F.imp2 : F.imp,
		    submit ? UDB_IMPORTER_IOC_SUBMIT : UDB_IMPORTER_IOC_JOB, arg);
	e = errno;
	F.calls++;
	if (!ret && bad)
		fail_log(submit ? "SUBMIT (input it must refuse succeeded)" :
				  "JOB (input it must refuse succeeded)", 0, 0, it);
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
	int mangled, ret, e, s, on_imp2, bad;
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
	/*
	 * Not through the dma-buf mapping (its bytes change under us): for
	 * ATTACH the flags must be ours (see the header comment), for DETACH
	 * the handle, or the kernel detaches one the bookkeeping keeps.
	 */
	if (which <= 1 && arg == (void *)F.pfn)
		arg = blob;
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
	bad = arg == blob && cmd == base && importer_input_bad(cmd, blob);
	ret = ioctl(on_imp2 ? F.imp2 : F.imp, cmd, arg);
	e = errno;
	F.calls++;
	if (!ret) {
		F.successes++;
		if (mangled && cmd != base)
			fail_log("importer: mangled cmd succeeded", cmd, 0, it);
		if (bad)
			fail_log("importer (input it must refuse succeeded)", cmd, 0, it);
		if (on_imp2)
			return;		/* imp2's handles live and die with it */
		if (which == 0 && arg == blob) {
			int i = (int)rndn(MAXH);
			int hh = (int)((struct udb_importer_attach *)blob)->handle;

			if (handle_slot(hh) >= 0) {
				/* the bookkeeping is exact: a live handle given twice */
				fail_log("ATTACH returned a handle that is still attached", cmd, 0, it);
				return;
			}
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
		ok = ok_imp_mangled;
	if (!in_set(e, ok) && !(mangled && e == ENOTTY))
		fail_log(which == 0 ? "ATTACH" : which == 1 ? "DETACH" : "COPY",
			 cmd, e, it);
	/*
	 * Each kind of attach times out its own way (ok_imp_attach); the
	 * importer attaches PIN dynamically (then pins)
	 */
	if (which == 0 && cmd == base && arg == blob &&
	    (e == EAGAIN || e == ETIMEDOUT) &&
	    (e == ETIMEDOUT) != (!!(a.flags & (UDB_IMPORTER_ATTACH_DYNAMIC |
						UDB_IMPORTER_ATTACH_PIN)) && F.dynamic))
		fail_log(e == EAGAIN ? "ATTACH (EAGAIN from a dynamic attach)" :
				       "ATTACH (ETIMEDOUT from a static attach)", cmd, e, it);
}

/* ---- the dma-buf fds: DMA_BUF_IOCTL_SYNC and mmap ---- */

/* volatile: the compiler must not drop the store around a memset() */
static __thread sigjmp_buf *volatile t_jmp;
static __thread int t_mutator;		/* this is the mutator thread */

static void put_hex(char *b, int *n, uint64_t v)
{
	int i;

	b[(*n)++] = '0';
	b[(*n)++] = 'x';
	for (i = 60; i >= 0; i -= 4)
		b[(*n)++] = "0123456789abcdef"[(v >> i) & 15];
}

static pid_t fuzz_pid;			/* the test process, not a fork child */

/* ASan's, where the tests are built with it */
void __sanitizer_print_stack_trace(void) __attribute__((weak));

static void put_str(char *b, int *n, int max, const char *s)
{
	while (*s && *n < max)
		b[(*n)++] = *s++;
}

static uint64_t get_hex(const char **s)
{
	uint64_t v = 0;

	for (;; (*s)++) {
		if (**s >= '0' && **s <= '9')
			v = v << 4 | (uint64_t)(**s - '0');
		else if (**s >= 'a' && **s <= 'f')
			v = v << 4 | (uint64_t)(**s - 'a' + 10);
		else
			return v;
	}
}

/* the lines of /proc/self/maps whose range holds a or b (signal-safe) */
static void put_maps(uint64_t a, uint64_t b)
{
	static char m[1 << 16];
	const char *l, *e, *q;
	uint64_t lo, hi;
	ssize_t r;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return;
	while (n < sizeof(m) - 1 && (r = read(fd, m + n, sizeof(m) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	for (l = m; l < m + n; l = e + 1) {
		e = memchr(l, '\n', (size_t)(m + n - l));
		if (!e)
			e = m + n;
		q = l;
		lo = get_hex(&q);
		q++;
		hi = get_hex(&q);
		if ((a + (1 << 20) >= lo && a < hi + (1 << 20)) || (b >= lo && b < hi)) {
			if (write(2, "#   maps: ", 10) < 0 ||
			    write(2, l, (size_t)(e - l) + (e < m + n)) < 0)
				return;
		}
	}
}

/*
 * A fault where none is expected: say where, in which thread or fork
 * child, and what is mapped there (async-signal-safe: write()), then die
 * of it.
 */
static void on_sig(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint64_t ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	char b[256];
	int n = 0;

	if (t_jmp)
		siglongjmp(*t_jmp, 1);
	put_str(b, &n, 200, "# fuzz: unexpected signal ");
	b[n++] = '0' + sig / 10;
	b[n++] = '0' + sig % 10;
	put_str(b, &n, 200, " addr ");
	put_hex(b, &n, (uintptr_t)si->si_addr);
	put_str(b, &n, 200, " code ");
	put_hex(b, &n, (uint64_t)(uint32_t)si->si_code);
	put_str(b, &n, 200, " ip ");
	put_hex(b, &n, ip);
	put_str(b, &n, 250, t_mutator ? " (mutator thread" : " (fuzzing thread");
	put_str(b, &n, 250, getpid() == fuzz_pid ? ")\n" : ", in a fork child)\n");
	if (write(2, b, n) < 0)
		n = 0;
	put_maps((uintptr_t)si->si_addr, ip);
	if (__sanitizer_print_stack_trace)	/* not signal-safe, but dying */
		__sanitizer_print_stack_trace();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fuzz_dmabuf(long it)
{
	int fd = F.live[rndn(MAXLIVE)];
	struct dma_buf_sync sync;
	volatile uint8_t *m;
	volatile int stage;
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
	/*
	 * A read never signals (a page the owner no longer maps reads as
	 * zeros); a write may be SIGBUS, where the range is gone.
	 */
	stage = 1;
	if (sigsetjmp(jb, 1) == 0) {
		t_jmp = &jb;
		(void)m[0];
		stage = 2;
		if (prot & PROT_WRITE)
			m[rndn(F.ps)] = 1;
		stage = 0;
	}
	t_jmp = NULL;
	if (stage == 1)
		fail_log("read through a dma-buf's mapping (signal)", 0, 0, it);
	else if (stage == 2)
		F.write_sigbus++;
	munmap((void *)m, len ? len : 1);
}

/*
 * Sometimes change the backing memory, so buffers go STALE / FAULT: the
 * fuzzing thread's own changes, in the tape's order (the mutator thread
 * races its own).
 */
static void mutate_region(void)
{
	uint8_t *p = F.region + (MUT_LO + rndn(MUT_PAGES)) * F.ps;
	sigjmp_buf jb;
	int c;

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
		/* the mutator thread may have unmapped or protected it */
		c = (int)rnd();
		if (sigsetjmp(jb, 1) == 0) {
			t_jmp = &jb;
			memset(p, c, F.ps);
		}
		t_jmp = NULL;
	}
}

/* ---- coverage: KCOV, restricted to the modules' text ---- */

#define KCOV_PATH	"/sys/kernel/debug/kcov"
#ifndef SYS_MODULE
#define SYS_MODULE	"/sys/module"
#endif
#define KCOV_WORDS	(1UL << 18)	/* per thread: 2 MiB, 256K PCs */
#define MAXTEXT		32
#define TEXT_MAX	(16UL << 20)	/* a section bigger than this: a bad range */
#define EDGE_SHIFT	20		/* a bitmap of 2^20 hashed edges */

static const char *const cov_mods[] = { "userptr_dmabuf", "udb_importer" };
#define NMODS	2

struct text {
	uint64_t lo, hi;	/* [lo, hi): this section's code */
	int mod;		/* index in cov_mods */
	char name[40];
	uint8_t *seen;		/* one bit per byte of [lo, hi): PCs seen */
	uint8_t *own[2];	/* the same, per thread: what is new to it */
};

static struct {
	/*
	 * [0] the fuzzing thread, [1] the mutator, [2] remote coverage: the
	 * modules' own threads working for this process (credited to the
	 * fuzzing thread)
	 */
	int fd[3];
	unsigned long *area[3];
	const char *remote;	/* why there is no remote coverage, or NULL */
	long pcs_remote;	/* module PCs first seen in remote coverage */
	struct text t[MAXTEXT];
	int nt;
	uint64_t lo, hi;	/* all of t[]: a quick test */
	uint64_t shift;		/* KCOV reports PC - kaslr_offset() */
	long pcs, pcs_mod[NMODS], pcs_mutator, edges, overflows;
	long outside;		/* traced PCs in no text section of ours */
	long outside_remote;	/* the same in remote coverage */
	uint64_t outside_pc[2][4];	/* the first of each */
	uint8_t edges_seen[(1 << EDGE_SHIFT) / 8];
	uint8_t edges_own[2][(1 << EDGE_SHIFT) / 8];
} C = { .fd = { -1, -1, -1 } };

static void __attribute__((format(printf, 3, 4)))
whyf(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* One line of a sysfs file as a number; 0 or -errno. */
static int read_num(const char *path, int base, uint64_t *v)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n ? -errno : -ENODATA;
	buf[n] = 0;
	*v = strtoull(buf, NULL, base);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The code of our two modules: each of their sections whose name says
 * text (but not .init.text, freed after loading), from its start to the
 * next section start of any loaded module (all sections of all modules
 * are read), and not past the module's first text section plus its
 * coresize. Addresses need root (the files are 0400) and kptr_restrict
 * allowing them (0 otherwise). Returns 0 or fills why.
 */
static int find_text(char *why, size_t whylen)
{
	uint64_t *all = NULL, base[NMODS] = { 0 }, size[NMODS] = { 0 };
	size_t nall = 0, cap = 0, i;
	int m, found[NMODS] = { 0 }, ret = -1;
	struct dirent *me, *se;
	DIR *md, *sd;
	char path[600];

	md = opendir(SYS_MODULE);
	if (!md) {
		whyf(why, whylen, "%s: %s", SYS_MODULE, strerror(errno));
		return -1;
	}
	while ((me = readdir(md))) {
		if (me->d_name[0] == '.')
			continue;
		for (m = 0; m < NMODS; m++)
			if (!strcmp(me->d_name, cov_mods[m]))
				break;
		snprintf(path, sizeof(path), SYS_MODULE "/%s/sections", me->d_name);
		sd = opendir(path);
		if (!sd) {
			if (m < NMODS) {
				whyf(why, whylen, "%s: %s", path, strerror(errno));
				goto out;
			}
			continue;	/* built in: no sections */
		}
		while ((se = readdir(sd))) {
			uint64_t a;
			int r;

			if (se->d_name[0] == '.' && (!se->d_name[1] ||
			    (se->d_name[1] == '.' && !se->d_name[2])))
				continue;
			if (snprintf(path, sizeof(path), SYS_MODULE "/%s/sections/%s",
				     me->d_name, se->d_name) >= (int)sizeof(path))
				continue;
			r = read_num(path, 16, &a);
			if (r && m < NMODS) {
				whyf(why, whylen, "%s: %s", path, strerror(-r));
				closedir(sd);
				goto out;
			}
			if (r)
				continue;
			if (!a && m < NMODS) {
				whyf(why, whylen, "%s reads 0 (kptr_restrict hides module addresses)",
				     path);
				closedir(sd);
				goto out;
			}
			/* freed after init: a later module's text may be there */
			if (!strncmp(se->d_name, ".init", 5))
				continue;
			if (nall == cap) {
				uint64_t *n2 = realloc(all, (cap = cap ? 2 * cap : 1024) * sizeof(*all));

				if (!n2) {
					closedir(sd);
					whyf(why, whylen, "out of memory");
					goto out;
				}
				all = n2;
			}
			all[nall++] = a;
			/* every text section but the freed .init ones */
			if (m == NMODS || !strstr(se->d_name, "text") ||
			    !strncmp(se->d_name, ".init", 5) || C.nt == MAXTEXT)
				continue;
			C.t[C.nt].lo = a;
			C.t[C.nt].mod = m;
			memcpy(C.t[C.nt].name, se->d_name,
			       strnlen(se->d_name, sizeof(C.t[C.nt].name) - 1));
			C.nt++;
			if (!found[m]++ || a < base[m])
				base[m] = a;
		}
		closedir(sd);
	}
	for (m = 0; m < NMODS; m++) {
		if (!found[m]) {
			whyf(why, whylen, "no text section of %s in /sys/module (not loaded?)",
			     cov_mods[m]);
			goto out;
		}
		snprintf(path, sizeof(path), SYS_MODULE "/%s/coresize", cov_mods[m]);
		if (read_num(path, 10, &size[m]) || !size[m])
			size[m] = TEXT_MAX;
	}
	qsort(all, nall, sizeof(*all), cmp_u64);
	C.lo = ~0ULL;
	for (i = 0; i < (size_t)C.nt; i++) {
		struct text *t = &C.t[i];
		uint64_t end = base[t->mod] + size[t->mod];
		size_t lo = 0, hi = nall;

		while (lo < hi) {	/* the first start above t->lo */
			size_t mid = (lo + hi) / 2;

			if (all[mid] <= t->lo)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < nall && all[lo] < end)
			end = all[lo];
		if (end <= t->lo || end - t->lo > TEXT_MAX) {
			whyf(why, whylen, "%s %s: no sensible end (%#llx-%#llx)",
			     cov_mods[t->mod], t->name, (unsigned long long)t->lo,
			     (unsigned long long)end);
			goto out;
		}
		t->hi = end;
		t->seen = calloc((end - t->lo + 7) / 8, 1);
		t->own[0] = calloc((end - t->lo + 7) / 8, 1);
		t->own[1] = calloc((end - t->lo + 7) / 8, 1);
		if (!t->seen || !t->own[0] || !t->own[1]) {
			whyf(why, whylen, "out of memory");
			goto out;
		}
		if (t->lo < C.lo)
			C.lo = t->lo;
		if (t->hi > C.hi)
			C.hi = t->hi;
	}
	ret = 0;
out:
	closedir(md);
	free(all);
	return ret;
}

/*
 * KCOV reports PCs minus kaslr_offset() (canonicalize_ip()), which on
 * x86-64 is _text minus its link address (__START_KERNEL with the default
 * CONFIG_PHYSICAL_START). Other architectures: assumed 0 (no KASLR).
 */
static uint64_t kaslr_shift(void)
{
#ifdef __x86_64__
	unsigned long long a;
	char line[256], name[128], type;
	FILE *f = fopen("/proc/kallsyms", "re");
	uint64_t shift = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %127s", &a, &type, name) == 3 &&
		    !strcmp(name, "_text")) {
			if (a)
				shift = a - 0xffffffff81000000ULL;
			break;
		}
	fclose(f);
	return shift;
#else
	return 0;
#endif
}

static int kcov_open(int t)
{
	void *a;
	int fd = open(KCOV_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, KCOV_INIT_TRACE, KCOV_WORDS)) {
		int e = errno;

		close(fd);
		return -e;
	}
	a = mmap(NULL, KCOV_WORDS * sizeof(unsigned long), PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, 0);
	if (a == MAP_FAILED) {
		int e = errno;

		close(fd);
		return -e;
	}
	C.fd[t] = fd;
	C.area[t] = a;
	return 0;
}

/*
 * Remote coverage: what the modules' refresh worker and device thread do
 * for a task of this process (kcov_remote_start_common() with the common
 * handle a task inherits from the one that enabled it, so the mutator
 * thread, created later, has it too). 7.x lets a task with its own KCOV
 * enable it; 6.12 refuses (EBUSY): then there is none.
 */
static void kcov_remote_enable(void)
{
	struct kcov_remote_arg arg = {
		.trace_mode = KCOV_TRACE_PC,
		.area_size = KCOV_WORDS,
		.num_handles = 0,
		.common_handle = kcov_remote_handle(KCOV_SUBSYSTEM_COMMON,
						    (uint32_t)getpid()),
	};
	int r = kcov_open(2);

	if (!r && ioctl(C.fd[2], KCOV_REMOTE_ENABLE, &arg))
		r = -errno;
	if (r) {
		C.remote = r == -EBUSY ? "KCOV_REMOTE_ENABLE: EBUSY (this kernel refuses it to a task with its own KCOV)" :
					 "KCOV_REMOTE_ENABLE failed";
		if (C.fd[2] >= 0) {
			munmap(C.area[2], KCOV_WORDS * sizeof(unsigned long));
			close(C.fd[2]);
			C.fd[2] = -1;
			C.area[2] = NULL;
		}
		return;
	}
	__atomic_store_n(&C.area[2][0], 0, __ATOMIC_RELAXED);
}

/* in the thread to trace */
static int kcov_enable(int t)
{
	if (ioctl(C.fd[t], KCOV_ENABLE, KCOV_TRACE_PC))
		return -errno;
	__atomic_store_n(&C.area[t][0], 0, __ATOMIC_RELAXED);
	return 0;
}

static void kcov_close(int t)
{
	if (C.fd[t] < 0)
		return;
	ioctl(C.fd[t], KCOV_DISABLE, 0);	/* EINVAL when not enabled by us */
	munmap(C.area[t], KCOV_WORDS * sizeof(unsigned long));
	close(C.fd[t]);
	C.fd[t] = -1;
	C.area[t] = NULL;
}

/*
 * The module PCs thread t's KCOV recorded since the last call, marked in
 * the bitmaps; returns the new signal: module PCs and edges (two module
 * PCs in a row, hashed into EDGE_BITS bits) this thread had not seen
 * before (a PC the mutator thread reached first is still new to the
 * fuzzing thread: its tape is what reaches it on demand). The totals
 * count what either thread saw.
 */
/* PCs outside our text: the callers of tail-called coverage callbacks */
static void note_outside(uint64_t pc, int slot)
{
	int r = slot == 2;
	long n = __atomic_fetch_add(r ? &C.outside_remote : &C.outside, 1,
				    __ATOMIC_RELAXED);

	if (n < 4)
		C.outside_pc[r][n] = pc;
}

static long harvest(int slot)
{
	unsigned long *a = C.area[slot], n, i;
	int t = slot == 1;	/* the thread credited */
	uint64_t prev = 0;
	long fresh = 0;
	int j;

	if (!a)
		return 0;
	n = __atomic_load_n(&a[0], __ATOMIC_RELAXED);
	if (n >= KCOV_WORDS - 1) {
		n = KCOV_WORDS - 1;
		__atomic_add_fetch(&C.overflows, 1, __ATOMIC_RELAXED);
	}
	for (i = 1; i <= n; i++) {
		uint64_t pc = a[i] + C.shift, e;
		uint8_t bit, old;

		if (pc < C.lo || pc >= C.hi) {
			note_outside(pc, slot);
			continue;
		}
		for (j = 0; j < C.nt; j++) {
			struct text *x = &C.t[j];
			uint64_t off = pc - x->lo;

			if (pc < x->lo || pc >= x->hi)
				continue;
			bit = 1u << (off & 7);
			old = x->own[t][off >> 3];	/* only this thread writes it */
			x->own[t][off >> 3] = old | bit;
			fresh += !(old & bit);
			old = __atomic_fetch_or(&x->seen[off >> 3], bit, __ATOMIC_RELAXED);
			if (!(old & bit)) {
				__atomic_add_fetch(&C.pcs, 1, __ATOMIC_RELAXED);
				__atomic_add_fetch(&C.pcs_mod[x->mod], 1, __ATOMIC_RELAXED);
				if (t)
					__atomic_add_fetch(&C.pcs_mutator, 1, __ATOMIC_RELAXED);
				if (slot == 2)
					__atomic_add_fetch(&C.pcs_remote, 1, __ATOMIC_RELAXED);
			}
			break;
		}
		if (j == C.nt) {
			note_outside(pc, slot);
			continue;
		}
		e = ((prev * 0x9e3779b97f4a7c15ULL) ^ pc) * 0xff51afd7ed558ccdULL;
		e >>= 64 - EDGE_SHIFT;
		prev = pc;
		bit = 1u << (e & 7);
		old = C.edges_own[t][e >> 3];
		C.edges_own[t][e >> 3] = old | bit;
		fresh += !(old & bit);
		old = __atomic_fetch_or(&C.edges_seen[e >> 3], bit, __ATOMIC_RELAXED);
		if (!(old & bit))
			__atomic_add_fetch(&C.edges, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&a[0], 0, __ATOMIC_RELAXED);
	return fresh;
}

/* UDB_FUZZ_PCS=FILE: every module PC seen, "module section+offset" */
static void dump_pcs(const char *file)
{
	FILE *f = fopen(file, "we");
	uint64_t off;
	int j;

	if (!f) {
		printf("# fuzz: %s: %s\n", file, strerror(errno));
		return;
	}
	for (j = 0; j < C.nt; j++)
		for (off = 0; off < C.t[j].hi - C.t[j].lo; off++)
			if (C.t[j].seen[off >> 3] & (1u << (off & 7)))
				fprintf(f, "%s %s+%#llx\n", cov_mods[C.t[j].mod],
					C.t[j].name, (unsigned long long)off);
	fclose(f);
}

/* ---- the corpus: tapes that reached new module code ---- */

#define CORPUS_MAX	256

struct entry {
	uint64_t *v;
	unsigned int len;
	long fresh;		/* new signal it found */
	long picks;		/* times it was mutated since */
};

static struct {
	struct entry e[CORPUS_MAX];
	int n;
	long iters_mutated, finds_fresh, finds_mutated;
} K;

static void corpus_add(long fresh)
{
	unsigned int len = tape_pos < tape_len ? tape_pos : tape_len;
	struct entry *e;
	int i, k;

	if (!len)
		return;
	if (K.n < CORPUS_MAX) {
		e = &K.e[K.n++];
	} else {	/* full: replace the weakest of four */
		e = &K.e[mrnd(CORPUS_MAX)];
		for (k = 0; k < 3; k++) {
			i = (int)mrnd(CORPUS_MAX);
			if (K.e[i].fresh < e->fresh)
				e = &K.e[i];
		}
		free(e->v);
	}
	e->v = malloc(len * sizeof(*e->v));
	if (!e->v) {	/* drop the entry: the last one takes its slot */
		*e = K.e[--K.n];
		return;
	}
	memcpy(e->v, tape, len * sizeof(*e->v));
	e->len = len;
	e->fresh = fresh;
	e->picks = 0;
}

/*
 * The better of two random entries: more new signal per time it was
 * already mutated (new finds are tried more, worn-out ones less).
 */
static struct entry *corpus_pick(void)
{
	struct entry *a = &K.e[mrnd(K.n)], *b = &K.e[mrnd(K.n)];

	if ((b->fresh + 1) * (a->picks + 1) > (a->fresh + 1) * (b->picks + 1))
		a = b;
	a->picks++;
	return a;
}

static uint64_t boundary(uint64_t v)
{
	static const uint64_t b[] = { 0, 1, 2, 3, 7, 8, 15, 16, 0x7fffffff,
				      0x80000000, 0xffffffff, 1ULL << 63, ~0ULL };

	switch (mrnd(4)) {
	case 0: return v + 1;
	case 1: return v - 1;
	case 2: return v ^ (1ULL << mrnd(64));
	default: return b[mrnd(ARRAY_SIZE(b))];
	}
}

/* The next iteration's tape: a mutated corpus entry. */
static void mutate_tape(void)
{
	const struct entry *a = corpus_pick(), *b;
	unsigned int i, j, n, k, rounds = 1 + mrnd(4);

	memcpy(tape, a->v, a->len * sizeof(*tape));
	tape_len = a->len;
	while (rounds--) {
		switch (mrnd(7)) {
		case 0:		/* a few entries random */
			for (k = 1 + mrnd(3); k-- && tape_len;)
				tape[mrnd(tape_len)] = xorshift(&rs);
			break;
		case 1:		/* boundary values, neighbours, bit flips */
			for (k = 1 + mrnd(3); k-- && tape_len;) {
				i = mrnd(tape_len);
				tape[i] = boundary(tape[i]);
			}
			break;
		case 2:		/* splice: our head, another tape's tail */
			b = &K.e[mrnd(K.n)];
			i = mrnd(tape_len + 1);
			j = mrnd(b->len + 1);
			n = b->len - j;
			if (i + n > TAPE_MAX)
				n = TAPE_MAX - i;
			memcpy(tape + i, b->v + j, n * sizeof(*tape));
			tape_len = i + n;
			break;
		case 3:		/* truncate: the rest is drawn fresh */
			tape_len = mrnd(tape_len + 1);
			break;
		case 4:		/* insert a chunk of another tape */
			b = &K.e[mrnd(K.n)];
			j = mrnd(b->len);
			n = 1 + mrnd(b->len - j < 32 ? b->len - j : 32);
			i = mrnd(tape_len + 1);
			if (tape_len + n > TAPE_MAX)
				break;
			memmove(tape + i + n, tape + i, (tape_len - i) * sizeof(*tape));
			memcpy(tape + i, b->v + j, n * sizeof(*tape));
			tape_len += n;
			break;
		case 5:		/* delete a chunk */
			if (!tape_len)
				break;
			i = mrnd(tape_len);
			n = 1 + mrnd(tape_len - i < 32 ? tape_len - i : 32);
			memmove(tape + i, tape + i + n, (tape_len - i - n) * sizeof(*tape));
			tape_len -= n;
			break;
		default:	/* extend: a fresh random tail */
			n = 1 + mrnd(64);
			for (k = 0; k < n && tape_len < TAPE_MAX; k++)
				tape[tape_len++] = xorshift(&rs);
		}
	}
}

/* ---- the mutator thread: the region's page tables change under the ioctls ---- */

enum { M_MAP, M_UNMAP, M_MREMAP, M_MADVISE, M_MPROTECT, M_FORK, M_HEAL, M_KINDS };
static const char *const m_names[M_KINDS] = {
	"mmap MAP_FIXED", "munmap", "mremap", "madvise", "mprotect", "fork", "heal",
};

static struct {
	pthread_t th;
	int running, stop;
	uint64_t rs;
	int memfd, devnull, devzero;	/* the memfd has MUT_PAGES pages */
	long ops[M_KINDS], failed[M_KINDS], children_bad;
} M = { .memfd = -1, .devnull = -1, .devzero = -1 };

static uint64_t mut_rndn(uint64_t n)
{
	return n ? xorshift(&M.rs) % n : 0;
}

static uint8_t *mpage(unsigned int i)
{
	return F.region + (MUT_LO + i) * F.ps;
}

/* n (1..maxn) pages from page i, all of them the mutator's */
static void mut_span(unsigned int *i, unsigned int *n, unsigned int maxn)
{
	*n = 1 + mut_rndn(maxn);
	if (*n > MUT_PAGES)
		*n = MUT_PAGES;
	*i = mut_rndn(MUT_PAGES - *n + 1);
}

static void mut_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * Every address below is inside pages MUT_LO .. REGION_PAGES - 1: the
 * PROT_NONE guards after the region are never touched, and a hole made
 * here cannot be taken by another thread's mmap(NULL) (see the fixture:
 * the region sits alone, far below the mmap area), so a MAP_FIXED here
 * never replaces memory of ASan, libc or the harness.
 */
static int mut_once(unsigned int kind)
{
	static const int advice[] = { MADV_DONTNEED, MADV_FREE, MADV_COLD,
				      MADV_PAGEOUT, MADV_WILLNEED, MADV_POPULATE_WRITE };
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };
	const int rw = PROT_READ | PROT_WRITE;
	unsigned int i, j, n, k;
	size_t len;
	uint8_t *p;
	void *r;

	mut_span(&i, &n, 3);
	p = mpage(i);
	len = n * F.ps;
	switch (kind) {
	case M_MAP:
		switch ((k = mut_rndn(8))) {
		case 0: case 1: case 2:
			r = mmap(p, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 3:		/* shmem */
			r = mmap(p, len, rw, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 4:		/* a file, shared and private */
		case 5:
			r = mmap(p, len, rw, (k == 5 ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED,
				 M.memfd, (off_t)(mut_rndn(MUT_PAGES - n + 1) * F.ps));
			break;
		case 6:
			r = mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		default:	/* one of our dma-bufs, over its own range perhaps: VM_PFNMAP */
			if (n > 4)
				n = 4;
			r = mmap(p, n * F.ps, rw, MAP_SHARED | MAP_FIXED, F.pfn_fd,
				 (off_t)(mut_rndn(4 - n + 1) * F.ps));
		}
		if (r == MAP_FAILED)
			return -1;
		if (mut_rndn(2))
			madvise(p, len, MADV_POPULATE_WRITE);
		return 0;
	case M_UNMAP:
		return munmap(p, len);
	case M_MREMAP:
		switch (mut_rndn(4)) {
		case 0:		/* elsewhere in the region, and back */
		case 1:		/* the same, the old place staying mapped (empty) */
			j = mut_rndn(MUT_PAGES - n + 1);
			if (j < i + n && i < j + n)
				return 0;	/* overlapping: nothing to do */
			r = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED |
				   (mut_rndn(2) ? MREMAP_DONTUNMAP : 0), mpage(j));
			if (r == MAP_FAILED)
				return -1;
			mut_sleep_us(mut_rndn(300));
			r = mremap(mpage(j), len, len, MREMAP_MAYMOVE | MREMAP_FIXED, p);
			return r == MAP_FAILED ? -1 : 0;
		case 2:		/* grow in place into a hole, and shrink back */
			k = 1 + mut_rndn(2);
			if (i + n + k > MUT_PAGES)
				return 0;
			munmap(mpage(i + n), k * F.ps);
			r = mremap(p, len, len + k * F.ps, 0);
			if (r == MAP_FAILED)
				return -1;
			mut_sleep_us(mut_rndn(300));
			r = mremap(p, len + k * F.ps, len, 0);
			return r == MAP_FAILED ? -1 : 0;
		default:	/* shrink: the tail becomes a hole */
			if (n < 2)
				return 0;
			r = mremap(p, len, (1 + mut_rndn(n - 1)) * F.ps, 0);
			return r == MAP_FAILED ? -1 : 0;
		}
	case M_MADVISE:
		return madvise(p, len, advice[mut_rndn(ARRAY_SIZE(advice))]);
	case M_MPROTECT:
		return mprotect(p, len, prots[mut_rndn(3)]);
	case M_FORK: {
		/* chosen before the fork: the child only makes raw syscalls */
		uint8_t *b = mut_rndn(4) ? p + mut_rndn(len) : F.pfn + mut_rndn(4 * F.ps);
		int wr = (int)mut_rndn(2), st = 0;
		pid_t pid = fork();

		if (pid == 0) {
			/*
			 * Async-signal-safe only (the other threads may hold
			 * any lock, ASan's too): one byte written (a COW
			 * break in the child) or read, by the kernel, so a
			 * page that is gone is EFAULT, not a signal.
			 */
			if (wr)
				syscall(SYS_read, M.devzero, b, 1);
			else
				syscall(SYS_write, M.devnull, b, 1);
			/* not _exit(): ASan intercepts it */
			syscall(SYS_exit_group, 0);
		}
		if (pid < 0)
			return -1;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			M.children_bad++;
		return 0;
	}
	default:	/* heal: everything mapped and writable again */
		r = mmap(mpage(0), MUT_PAGES * F.ps, rw,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		return r == MAP_FAILED ? -1 : 0;
	}
}

/*
 * Bursts of 1-32 changes a few microseconds apart, then 1-40 ms of quiet:
 * a storm that never stops would keep every refresh postponed, and the
 * ioctls that wait for one (attach, SYNC: up to 2 s) would stall the run.
 */
static void *mutator(void *arg)
{
	static const unsigned char weights[M_KINDS] = { 6, 3, 4, 5, 4, 1, 1 };
	unsigned int burst, kind, w, total = 0;

	(void)arg;
	t_mutator = 1;
	for (kind = 0; kind < M_KINDS; kind++)
		total += weights[kind];
	if (C.fd[1] >= 0 && kcov_enable(1))
		kcov_close(1);
	while (!__atomic_load_n(&M.stop, __ATOMIC_ACQUIRE)) {
		for (burst = 1 + mut_rndn(32); burst--;) {
			w = mut_rndn(total);
			for (kind = 0; w >= weights[kind]; kind++)
				w -= weights[kind];
			M.ops[kind]++;
			if (mut_once(kind))
				M.failed[kind]++;
			harvest(1);
			if (mut_rndn(2))
				mut_sleep_us(mut_rndn(100));
		}
		mut_sleep_us(1000 + mut_rndn(40000));
	}
	return NULL;
}

static int mutator_start(uint64_t seed)
{
	M.rs = seed ^ 0x9e3779b97f4a7c15ULL;
	if (!M.rs)
		M.rs = 1;
	M.stop = 0;
	if (pthread_create(&M.th, NULL, mutator, NULL))
		return -1;
	M.running = 1;
	return 0;
}

static void mutator_stop(void)
{
	if (!M.running)
		return;
	__atomic_store_n(&M.stop, 1, __ATOMIC_RELEASE);
	pthread_join(M.th, NULL);
	M.running = 0;
}

/*
 * The region sits alone in the middle of the user address space: far
 * above the program, its heap and ASan's shadow, below ASan's allocator
 * (0x600000000000), far below the mmap area. mmap(NULL) takes the highest
 * free gap that fits (the lowest one above TASK_UNMAPPED_BASE, about
 * 0x2aaaaaaab000, in the legacy layout), so the holes the fixture and the
 * mutator thread make in the region are never filled by another mapping
 * of this process (ASan's, libc's, a dma-buf's mmap): a MAP_FIXED there
 * would replace it, and a buffer over it would let device writes corrupt it.
 */
static uint8_t *map_region(size_t len)
{
	static const uint64_t at[] = { 0x3d0000000000ULL, 0x3b0000000000ULL,
				       0x390000000000ULL, 0x370000000000ULL };
	unsigned int i;
	void *p;

	for (i = 0; i < ARRAY_SIZE(at); i++) {
		p = mmap((void *)(uintptr_t)at[i], len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == (void *)(uintptr_t)at[i])
			return p;
		if (p != MAP_FAILED)
			munmap(p, len);
	}
	return NULL;
}

FIXTURE(fuzz)
{
	int fds0;
};

FIXTURE_SETUP(fuzz)
{
	struct userptr_dmabuf_version v = { 0 };
	struct sigaction sa = { .sa_sigaction = on_sig, .sa_flags = SA_NODEFER | SA_SIGINFO };
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
	 * ASan's shadow) would let device writes corrupt this process. Where
	 * it sits: map_region().
	 */
	F.region = map_region((REGION_PAGES + 2) * F.ps);
	ASSERT_NE(NULL, F.region) TH_LOG("no free place for the region");
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
	F.list = calloc(WIDE_PAGES, sizeof(*F.list));
	ASSERT_NE(NULL, F.list);
	F.wide = mmap(NULL, WIDE_PAGES * F.ps, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, F.wide);
	/*
	 * Not a page unmapped again: mmap(NULL) would hand that hole to the
	 * next mapping (the mutator thread's ASan state, a thread stack), and
	 * the ioctls given this address would write into it. Nothing is
	 * ever mapped near the region (map_region()).
	 */
	F.unmapped = F.region + (REGION_PAGES + 8) * F.ps;
	ASSERT_EQ(-1, msync(F.unmapped, F.ps, MS_ASYNC));
	ASSERT_EQ(ENOMEM, errno);

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
	/* the mutator thread's */
	M.memfd = memfd_create("fuzz-mutator", MFD_CLOEXEC);
	ASSERT_GE(M.memfd, 0);
	ASSERT_EQ(0, ftruncate(M.memfd, MUT_PAGES * F.ps));
	M.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ASSERT_GE(M.devnull, 0);
	M.devzero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(M.devzero, 0);
	F.evfd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(F.evfd, 0);
	F.heapfd = -1;
	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (heap >= 0) {
		if (!ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &alloc))
			F.heapfd = alloc.fd;
		close(heap);
	}
	fuzz_pid = getpid();
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* One operation of an iteration: which one is on the tape too. */
static void one_op(long it)
{
	unsigned int w = rndn(16);

	if (w < 7)
		fuzz_exporter(it);
	else if (w < 13)
		fuzz_importer(it);
	else if (w < 15)
		fuzz_dmabuf(it);
	else
		mutate_region();
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? atol(v) : def;
}

/*
 * Guidance as root with KCOV: 1 on, 0 off (no KCOV, not root, or
 * UDB_FUZZ_GUIDE=0; why says so), -1 a failure (why says which).
 * UDB_FUZZ_GUIDE=2 is 1 that the caller turns "off" into a failure.
 */
static int cov_setup(char *why, size_t whylen)
{
	int r;

	if (access(KCOV_PATH, F_OK) && errno != EACCES) {
		whyf(why, whylen, "no %s (a kernel without CONFIG_KCOV, or no debugfs): %s",
		     KCOV_PATH, strerror(errno));
		return 0;
	}
	if (!env_long("UDB_FUZZ_GUIDE", 1)) {
		whyf(why, whylen, "UDB_FUZZ_GUIDE=0");
		return 0;
	}
	if (geteuid()) {
		/* debugfs and the section addresses are root's */
		whyf(why, whylen, "KCOV (debugfs) and the module addresses in /sys/module/*/sections are root's, this is uid %d",
		     (int)geteuid());
		return 0;
	}
	if (find_text(why, whylen))
		return -1;
	C.shift = kaslr_shift();
	r = kcov_open(0);
	if (!r)
		r = kcov_open(1);
	if (!r)
		r = kcov_enable(0);
	if (r) {
		whyf(why, whylen, "%s: %s", KCOV_PATH, strerror(-r));
		return -1;
	}
	kcov_remote_enable();	/* before the mutator thread exists */
	return 1;
}

TEST_F_TIMEOUT(fuzz, ioctls, 3600)
{
	const char *s = getenv("UDB_FUZZ_SEED");
	long ops_max = env_long("UDB_FUZZ_ITERS", 400000);
	double secs = getenv("UDB_FUZZ_SECONDS") ? atof(getenv("UDB_FUZZ_SECONDS")) : 30;
	int threaded = env_long("UDB_FUZZ_MUTATOR", 1) != 0;
	uint64_t seed = s ? strtoull(s, NULL, 0) :
			((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
	double end = now() + secs;
	long it, ops = 0, fresh;
	char why[512] = "";
	int i, k, nops, mutated, guided;

	printf("# fuzz: seed %#llx (UDB_FUZZ_SEED=%#llx reproduces an unguided run), at most %ld operations and %.0f s, uid %d, mutator thread %s\n",
	       (unsigned long long)seed, (unsigned long long)seed, ops_max, secs,
	       (int)geteuid(), threaded ? "on (UDB_FUZZ_MUTATOR=0 turns it off)" : "off");
	guided = cov_setup(why, sizeof(why));
	ASSERT_LE(0, guided) TH_LOG("KCOV is there and this is root, but: %s", why);
	/* UDB_FUZZ_GUIDE=2: guidance required (the test kernels have KCOV) */
	ASSERT_TRUE(guided || env_long("UDB_FUZZ_GUIDE", 1) != 2)
		TH_LOG("UDB_FUZZ_GUIDE=2 asks for guidance, but: %s", why);
	if (guided) {
		printf("# fuzz: guided by KCOV, PCs in the text of");
		for (i = 0; i < C.nt; i++)
			printf(" %s:%s (%#llx, %llu bytes)", cov_mods[C.t[i].mod], C.t[i].name,
			       (unsigned long long)C.t[i].lo,
			       (unsigned long long)(C.t[i].hi - C.t[i].lo));
		printf("%s\n", C.shift ? " (KASLR: shifted)" : "");
	} else {
		printf("# fuzz: unguided: %s\n", why);
	}
	fflush(stdout);
	rs = seed ? seed : 1;
	if (threaded)
		ASSERT_EQ(0, mutator_start(seed));

	for (it = 0; ops < ops_max && F.failures < 30; it++) {
		if ((it & 15) == 0 && now() > end)
			break;
		/* a corpus tape, mutated (3 in 4), or a fresh one */
		mutated = guided && K.n && mrnd(4);
		tape_len = 0;
		tape_pos = 0;
		if (mutated) {
			mutate_tape();
			K.iters_mutated++;
		}
		nops = 1 + (int)rndn(8);
		for (k = 0, fresh = 0; k < nops && ops < ops_max; k++, ops++) {
			one_op(it);
			fresh += harvest(0);
			/* late arrivals (a refresh that ends after the op)
			 * count to the op running then */
			fresh += harvest(2);
		}
		if (fresh) {
			corpus_add(fresh);
			if (mutated)
				K.finds_mutated++;
			else
				K.finds_fresh++;
		}
	}
	fprintf(stderr, "# fuzz: %ld iterations done, stopping the mutator thread\n", it);
	/* a hole the ioctls write to must stay one, see the fixture */
	EXPECT_EQ(-ENOMEM, msync(F.unmapped, F.ps, MS_ASYNC) ? -errno : 0)
		TH_LOG("the unmapped page %p got mapped: the kernel wrote into this process's memory",
		       F.unmapped);
	mutator_stop();
	kcov_close(0);
	kcov_close(1);
	kcov_close(2);

	TH_LOG("%ld iterations, %ld operations, %ld calls, %ld succeeded, %ld unexpected, %ld writes through a dma-buf mapping SIGBUS",
	       it, ops, F.calls, F.successes, F.failures, F.write_sigbus);
	for (i = 1; i < 256; i++)
		if (F.errs[i])
			TH_LOG("  %-12s %ld", strerrorname_np(i) ? strerrorname_np(i) : "?",
			       F.errs[i]);
	if (threaded) {
		for (i = 0; i < M_KINDS; i++)
			TH_LOG("mutator: %-15s %ld (%ld failed)", m_names[i], M.ops[i], M.failed[i]);
		EXPECT_EQ(0, M.children_bad) TH_LOG("fork children that did not exit 0");
		for (k = 0, i = 0; i < M_KINDS; i++)
			k += M.ops[i] > M.failed[i];
		EXPECT_LT(M_KINDS / 2, k) TH_LOG("the mutator thread changed next to nothing");
	}
	if (guided) {
		TH_LOG("KCOV on: %ld module PCs (%s %ld, %s %ld; %ld first reached by the mutator thread), %ld edges, KCOV buffer full %ld times, %ld traced PCs outside the modules' text",
		       C.pcs, cov_mods[0], C.pcs_mod[0], cov_mods[1], C.pcs_mod[1],
		       C.pcs_mutator, C.edges, C.overflows, C.outside);
		if (C.remote)
			TH_LOG("remote coverage (the modules' threads): none: %s", C.remote);
		else
			TH_LOG("remote coverage (the modules' threads): %ld module PCs first seen there, %ld PCs outside the modules' text",
			       C.pcs_remote, C.outside_remote);
		TH_LOG("corpus: %d tapes; new coverage from %ld fresh and %ld mutated tapes (%ld iterations replayed a mutated tape)",
		       K.n, K.finds_fresh, K.finds_mutated, K.iters_mutated);
		if (getenv("UDB_FUZZ_PCS"))
			dump_pcs(getenv("UDB_FUZZ_PCS"));
		/* guidance that never saw the module is broken, not a mode */
		EXPECT_LT(0, C.pcs - C.pcs_mutator)
			TH_LOG("KCOV traced no PC of the fuzzing thread in the modules' text");
		/*
		 * Logged, not failed on: a coverage callback the compiler
		 * emitted as a tail call ("jmp __sanitizer_cov_trace_pc" at
		 * the end of one of our functions) records the return address
		 * of our caller. 7.3 debug showed dma_buf_vunmap+0x63, the
		 * return from our vunmap, a few times in 30 s. A misread
		 * section or KASLR shift shows as no module PC at all (above).
		 */
		for (i = 0; i < 4 && i < C.outside; i++)
			TH_LOG("outside the modules' text: %#llx",
			       (unsigned long long)C.outside_pc[0][i]);
		for (i = 0; i < 4 && i < C.outside_remote; i++)
			TH_LOG("outside the modules' text, in remote coverage: %#llx",
			       (unsigned long long)C.outside_pc[1][i]);
	} else {
		TH_LOG("KCOV off: unguided");
	}
	EXPECT_EQ(0, F.failures) TH_LOG("seed %#llx", (unsigned long long)seed);

	/* everything still works, and closes */
	for (i = 0; i < MAXLIVE; i++)
		if (F.live[i] >= 0)
			close(F.live[i]);
	close(F.imp);
	close(F.imp2);
	munmap(F.pfn, 4 * F.ps);
	munmap(F.wide, WIDE_PAGES * F.ps);
	close(F.pfn_fd);
	/* the mutators' pages: anonymous and writable again */
	ASSERT_NE(MAP_FAILED, mmap(F.region + MUT_LO * F.ps, MUT_PAGES * F.ps,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	i = udb_create(F.dev, F.region + 8 * F.ps, 4 * F.ps, 0);
	EXPECT_GE(i, 0) TH_LOG("create after fuzzing: %s", strerror(-i));
	if (i >= 0)
		close(i);
	close(F.dev);
	close(F.memfd);
	close(F.evfd);
	close(M.memfd);
	close(M.devnull);
	close(M.devzero);
	if (F.heapfd >= 0)
		close(F.heapfd);
	EXPECT_EQ(self->fds0, count_proc_fds());
}

TEST_HARNESS_MAIN
