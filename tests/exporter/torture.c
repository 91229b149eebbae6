// SPDX-License-Identifier: GPL-2.0
/*
 * Torture: for a bounded time, mutator threads change the CPU page tables
 * under a set of ranges (munmap + MAP_FIXED, MAP_FIXED over, mremap grow in
 * place and move + back, fork with the child writing, madvise DONTNEED /
 * FREE, mprotect RO/RW, move_pages between NUMA nodes 0 and 1) while worker
 * threads create buffers over them (CREATE, CREATE_LIST), attach them to
 * the reference importer (dynamic and static), copy through it, mmap and
 * read the dma-buf, and close fds / detach in random order. During the
 * storm every call must succeed or fail with an errno from the allowed set
 * (a hole, a protection change, a refresh in flight); nothing else is
 * checked then.
 *
 * Each round ends with a quiescent check: the mutators and workers stop,
 * the CPU fills every range with a pattern that is new for the round, and
 * every live buffer is read through the dynamic attachments that lived
 * through the storm (device read == CPU bytes) and written through one of
 * them (CPU read == device bytes). Static attachments pin at attach time
 * and by design keep the pages they pinned (docs/design.md), so they are
 * detached before the check and a fresh static attachment is checked
 * instead; on kernels without dynamic importers every attachment is pinned
 * and all of them are replaced before the check.
 *
 * UDB_TORTURE_SECONDS (default 60) bounds the whole program; the storm
 * test gets most of it. UDB_TORTURE_SEED reproduces a run (the seed is
 * printed); thread interleaving is not reproducible, the sequence of
 * operations each thread draws is.
 *
 * DMA-API debug (our debug kernels) WARNs when one cacheline is in two
 * DMA_FROM_DEVICE / DMA_BIDIRECTIONAL mappings at once, whichever device
 * (kernel/dma/debug.c, "cacheline tracking EEXIST"), and the buffers here
 * overlap on purpose. So at most one attachment that may map
 * bidirectionally is alive at a time (the "writer": a static attachment,
 * which 6.12 maps DMA_BIDIRECTIONAL at attach, or a writing one); every
 * other attachment is READONLY (DMA_TO_DEVICE, not tracked). That was an
 * exporter bug, since fixed (see two_writable_attachments); the storm
 * keeps the shape it was tuned with.
 *
 * Also: writes racing with publishes never reach the shared zero page,
 * 512 buffers and 64 attachments on one, and the module refusing to
 * unload (delete_module(2), O_NONBLOCK) while an fd, a dma-buf or an
 * attachment is alive.
 */
#include "common.h"
#include <linux/dma-buf.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NSLOTS		8
#define SLOT_PAGES	16
#define NMUTATORS	3
#define NWORKERS	2
#define MAXBUFS		8	/* per worker */
#define MAXHANDLES	6	/* per buffer */
#define ARENA_HINT	0x200000000000UL	/* far below mmap_base */

static uint64_t g_seed;
static double g_seconds = 60;
static size_t g_ps;
static int g_dev = -1;
static int g_dynamic;
static int g_numa;
static atomic_int g_fail;
static atomic_long g_ops, g_errs, g_sigbus, g_mutations;
static atomic_int g_stop;
static atomic_int g_writer;	/* one bidirectional attachment at a time */

static void torture_init(void)
{
	const char *s;

	if (g_ps)
		return;
	g_ps = page_size();
	s = getenv("UDB_TORTURE_SECONDS");
	if (s && atof(s) > 0)
		g_seconds = atof(s);
	s = getenv("UDB_TORTURE_SEED");
	g_seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	g_numa = access("/sys/devices/system/node/node1", F_OK) == 0;
	printf("# torture: seed %#llx (UDB_TORTURE_SEED=%#llx reproduces), %.0f s total, numa %s\n",
	       (unsigned long long)g_seed, (unsigned long long)g_seed, g_seconds,
	       g_numa ? "yes" : "no");
	fflush(stdout);
}

/* xorshift64*: one stream per thread, derived from the seed. */
struct rng {
	uint64_t s;
};

static void rng_init(struct rng *r, uint64_t stream)
{
	r->s = g_seed ^ (0x9e3779b97f4a7c15ULL * (stream + 1));
	if (!r->s)
		r->s = 1;
}

static uint64_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static unsigned int rndn(struct rng *r, unsigned int n)
{
	return (unsigned int)(rnd(r) % n);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

#define FAIL(fmt, ...) do { \
	fprintf(stderr, "# FAIL %s:%d: " fmt "\n", __func__, __LINE__, ##__VA_ARGS__); \
	atomic_fetch_add(&g_fail, 1); \
} while (0)

/* errno must be one of the listed ones (a negative return of -errno). */
static int allowed(int ret, const int *ok, const char *what)
{
	if (ret >= 0)
		return 1;
	for (; *ok; ok++)
		if (-ret == *ok) {
			atomic_fetch_add(&g_errs, 1);
			return 1;
		}
	FAIL("%s: unexpected %s", what, strerror(-ret));
	return 0;
}

/*
 * What the storm may legitimately get back. ETIMEDOUT from a copy: a
 * refresh whose retries kept colliding with the mutators was postponed
 * for longer than the importer retries its maps (seen under KASAN, where
 * a pass is slow); EBUSY from older exporters that gave up instead. The
 * quiescent checks allow none of these.
 */
static const int ok_create[] = { EFAULT, EACCES, ENOMEM, EINTR, 0 };
/*
 * EOPNOTSUPP: a static (pinned) attachment over an ext4 mapping (op 9);
 * EAGAIN: a static attachment while the mutators kept the range changing
 * (the refresh had not faulted every page within the attach's wait);
 * ETIMEDOUT: the first dynamic attachment, when the refresh that keeps
 * the snapshot for it was postponed past the attach's wait
 */
static const int ok_attach[] = { EFAULT, EACCES, ENOMEM, EINTR, EPERM, EBUSY,
				 EOPNOTSUPP, EAGAIN, ETIMEDOUT, 0 };
static const int ok_copy[] = { EFAULT, EACCES, EPERM, ENOMEM, ETIMEDOUT, EINTR,
			       EBUSY, 0 };

/* ---- the ranges: NSLOTS slots of [range | same-sized PROT_NONE tail] ---- */

struct slot {
	pthread_mutex_t lock;
	uint8_t *addr;
};

static struct slot slots[NSLOTS];
static uint8_t *arena;
static size_t slot_len;
static int g_disk = -1;		/* a file on ext4 (UDB_DISK) for op 9, or -1 */
static atomic_uint g_file_slots;	/* slots that had the file mapped */
static atomic_long g_file_maps, g_writebacks;

/*
 * The file op 9 maps, written out and unlinked: like the arena, twice a
 * slot per slot, so an mremap that grows a slot's file mapping into its
 * tail stays inside the file and off the other slots' pages.
 */
static void disk_open(void)
{
	const char *dir = getenv("UDB_DISK");
	size_t len = NSLOTS * 2 * slot_len;
	char path[256];
	void *z;

	atomic_store(&g_file_slots, 0);
	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/udb-torture-%d", dir, getpid());
	g_disk = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (g_disk < 0)
		return;
	unlink(path);
	z = calloc(1, len);
	if (!z || pwrite(g_disk, z, len, 0) != (ssize_t)len || fsync(g_disk)) {
		close(g_disk);
		g_disk = -1;
	}
	free(z);
}

/* Whether a range of @b may cover the file (a pin of it is refused). */
static int covers_file(const struct userptr_dmabuf_range *r, unsigned int n)
{
	unsigned int i, files = atomic_load(&g_file_slots);

	for (i = 0; i < n; i++)
		if (files & (1u << ((r[i].addr - (uintptr_t)arena) /
				    (2 * slot_len))))
			return 1;
	return 0;
}

static int arena_map(void)
{
	int i;

	slot_len = SLOT_PAGES * g_ps;
	arena = mmap((void *)ARENA_HINT, NSLOTS * 2 * slot_len, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED)
		return -errno;
	for (i = 0; i < NSLOTS; i++) {
		slots[i].addr = arena + i * 2 * slot_len;
		pthread_mutex_init(&slots[i].lock, NULL);
		if (mprotect(slots[i].addr, slot_len, PROT_READ | PROT_WRITE))
			return -errno;
		memset(slots[i].addr, i, slot_len);
	}
	disk_open();
	return 0;
}

static void arena_unmap(void)
{
	munmap(arena, NSLOTS * 2 * slot_len);
	if (g_disk >= 0)
		close(g_disk);
	g_disk = -1;
}

/* Put back the PROT_NONE tail after a slot; nobody else may take it. */
static void restore_tail(uint8_t *a)
{
	void *t = mmap(a + slot_len, slot_len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (t == MAP_FAILED && errno != EEXIST)
		FAIL("tail: %s", strerror(errno));
}

static void remap_fresh(uint8_t *a, size_t len, int noreplace)
{
	void *p = mmap(a, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS |
		       (noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED), -1, 0);

	if (p != a)
		FAIL("mmap at %p: %s (someone took the hole?)", a, strerror(errno));
}

static void mutate(struct rng *r, int op)
{
	struct slot *s = &slots[rndn(r, NSLOTS)];
	uint8_t *a = s->addr;
	size_t off = rndn(r, SLOT_PAGES) * g_ps;
	size_t len = (1 + rndn(r, SLOT_PAGES - off / g_ps)) * g_ps;
	pid_t pid;
	int st;

	pthread_mutex_lock(&s->lock);
	switch (op) {
	case 0:		/* munmap, then new memory at the same place */
		munmap(a + off, len);
		usleep(rndn(r, 500));
		remap_fresh(a + off, len, 1);
		break;
	case 1:		/* MAP_FIXED straight over */
		remap_fresh(a + off, len, 0);
		break;
	case 2:		/* mremap grow in place into the tail, shrink back */
		munmap(a + slot_len, slot_len);
		if (mremap(a, slot_len, 2 * slot_len, 0) == a) {
			a[slot_len + 7] = 1;
			if (mremap(a, 2 * slot_len, slot_len, 0) != a)
				FAIL("mremap shrink: %s", strerror(errno));
		}
		restore_tail(a);
		break;
	case 3:		/* mremap move into the tail and back */
		if (mremap(a, slot_len, slot_len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   a + slot_len) != a + slot_len) {
			/* EFAULT: the slot is split into several VMAs */
			if (errno != EFAULT)
				FAIL("mremap move: %s", strerror(errno));
			restore_tail(a);
			break;
		}
		usleep(rndn(r, 500));
		if (mremap(a + slot_len, slot_len, slot_len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, a) != a)
			FAIL("mremap back: %s", strerror(errno));
		restore_tail(a);
		break;
	case 4:		/* fork: the child writes its copy and exits */
		pid = fork();
		if (pid == 0) {
			volatile uint8_t *v = a;
			size_t i;

			for (i = off; i < off + len; i += 64)
				v[i] = (uint8_t)i;
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, &st, 0);
		break;
	case 5:
		madvise(a + off, len, MADV_DONTNEED);
		break;
	case 6:
		madvise(a + off, len, MADV_FREE);
		break;
	case 7:
		mprotect(a + off, len, PROT_READ);
		usleep(rndn(r, 1000));
		if (mprotect(a + off, len, PROT_READ | PROT_WRITE))
			FAIL("mprotect back: %s", strerror(errno));
		break;
	case 8: {	/* migrate between nodes 0 and 1 */
		void *pages[SLOT_PAGES];
		int nodes[SLOT_PAGES], status[SLOT_PAGES];
		unsigned int i, n = len / g_ps, to = rndn(r, 2);

		if (!g_numa)
			break;
		for (i = 0; i < n; i++) {
			pages[i] = a + off + i * g_ps;
			nodes[i] = (int)to;
		}
		syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE);
		break;
	}
	case 9:		/* ext4: map the slot's part of the file, or write back */
		if (g_disk < 0)
			break;
		if (rndn(r, 2)) {
			off_t fo = (off_t)((s - slots) * 2 * slot_len + off);

			if (mmap(a + off, len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, g_disk, fo) != a + off)
				FAIL("mmap of the ext4 file: %s", strerror(errno));
			atomic_fetch_or(&g_file_slots, 1u << (s - slots));
			atomic_fetch_add(&g_file_maps, 1);
			memset(a + off, (int)rnd(r), len);
		} else {
			/* writeback: mkclean of every dirty page of the file */
			if (!fdatasync(g_disk))
				atomic_fetch_add(&g_writebacks, 1);
		}
		break;
	default:	/* plain CPU writes, no page-table change */
		memset(a + off, (int)rnd(r), len);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&g_mutations, 1);
}

static void *mutator(void *arg)
{
	struct rng r;

	rng_init(&r, 1000 + (uintptr_t)arg);
	while (!atomic_load(&g_stop)) {
		mutate(&r, rndn(&r, 11));
		usleep(rndn(&r, 2000));
	}
	return NULL;
}

/* ---- buffers, owned by one worker each (importer files are per worker) ---- */

struct tbuf {
	int fd;			/* -1: slot free */
	int ro;
	size_t len;
	unsigned int nr;
	struct userptr_dmabuf_range r[NSLOTS];
	int h[MAXHANDLES];	/* -1 or a handle on the owner's importer */
	int hdyn[MAXHANDLES];
	int hw[MAXHANDLES];	/* holds the writer token */
};

struct worker {
	int idx;
	int imp;
	struct rng r;
	struct tbuf b[MAXBUFS];
};

static struct worker workers[NWORKERS];

static __thread sigjmp_buf *t_jmp;

static void on_sigbus(int sig)
{
	if (t_jmp)
		siglongjmp(*t_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void tbuf_reset(struct tbuf *b)
{
	int i;

	b->fd = -1;
	for (i = 0; i < MAXHANDLES; i++) {
		b->h[i] = -1;
		b->hw[i] = 0;
	}
}

static void detach_one(int imp, struct tbuf *b, int i)
{
	int ret;

	if (b->h[i] < 0)
		return;
	ret = imp_detach(imp, b->h[i]);
	if (ret)
		FAIL("detach: %s", strerror(-ret));
	if (b->hw[i])
		atomic_store(&g_writer, 0);
	b->h[i] = -1;
	b->hw[i] = 0;
}

static void tbuf_drop(struct worker *w, struct tbuf *b, struct rng *r)
{
	int i, j, first_close = rndn(r, 2);

	if (first_close)	/* the attachments keep the dma-buf alive */
		close(b->fd);
	for (i = 0; i < MAXHANDLES; i++) {
		j = (i + (int)rndn(r, MAXHANDLES)) % MAXHANDLES;
		detach_one(w->imp, b, j);
	}
	for (i = 0; i < MAXHANDLES; i++)
		detach_one(w->imp, b, i);
	if (!first_close)
		close(b->fd);
	tbuf_reset(b);
}

static void worker_create(struct worker *w, struct tbuf *b)
{
	struct rng *r = &w->r;
	unsigned int i, n, used = 0;
	uint32_t flags = rndn(r, 6) == 0 ? USERPTR_DMABUF_CREATE_READONLY : 0;
	int fd;

	if (rndn(r, 2)) {
		unsigned int s = rndn(r, NSLOTS), p = rndn(r, SLOT_PAGES);

		n = 1;
		b->r[0].addr = (uintptr_t)slots[s].addr + p * g_ps;
		b->r[0].size = (1 + rndn(r, SLOT_PAGES - p)) * g_ps;
		fd = udb_create(g_dev, (void *)(uintptr_t)b->r[0].addr,
				b->r[0].size, flags);
	} else {
		struct userptr_dmabuf_create_list l = { 0 };

		n = 1 + rndn(r, NSLOTS);
		for (i = 0; i < n; i++) {
			unsigned int s, p;

			do
				s = rndn(r, NSLOTS);
			while (used & (1u << s));
			used |= 1u << s;
			p = rndn(r, SLOT_PAGES);
			b->r[i].addr = (uintptr_t)slots[s].addr + p * g_ps;
			b->r[i].size = (1 + rndn(r, SLOT_PAGES - p)) * g_ps;
		}
		l.ranges = (uintptr_t)b->r;
		l.count = n;
		l.flags = flags;
		fd = ioctl(g_dev, USERPTR_DMABUF_IOC_CREATE_LIST, &l) ? -errno : l.fd;
	}
	if (!allowed(fd, ok_create, "create") || fd < 0)
		return;
	b->fd = fd;
	b->nr = n;
	b->ro = !!flags;
	b->len = 0;
	for (i = 0; i < n; i++)
		b->len += b->r[i].size;
}

static int free_handle(struct tbuf *b)
{
	int i;

	for (i = 0; i < MAXHANDLES; i++)
		if (b->h[i] < 0)
			return i;
	return -1;
}

/* Dynamic attachments read only; a static one takes the writer token. */
static void worker_attach(struct worker *w, struct tbuf *b, int dyn)
{
	int i = free_handle(b), h, zero = 0;

	if (i < 0)
		return;
	if (!dyn && !atomic_compare_exchange_strong(&g_writer, &zero, 1))
		return;
	h = imp_attach(w->imp, b->fd, dyn ? UDB_IMPORTER_ATTACH_DYNAMIC |
		       UDB_IMPORTER_ATTACH_READONLY :
		       (b->ro ? UDB_IMPORTER_ATTACH_READONLY : 0));
	if (!allowed(h, ok_attach, dyn ? "attach dynamic" : "attach static") || h < 0) {
		if (!dyn)
			atomic_store(&g_writer, 0);
		return;
	}
	b->h[i] = h;
	b->hdyn[i] = dyn;
	b->hw[i] = !dyn;
}

static int has_pinset(const struct tbuf *b)
{
	int i;

	for (i = 0; i < MAXHANDLES; i++)
		if (b->h[i] >= 0 && (!b->hdyn[i] || !g_dynamic))
			return 1;
	return 0;
}

static void worker_copy(struct worker *w, struct tbuf *b)
{
	struct rng *r = &w->r;
	int i = rndn(r, MAXHANDLES), ret;
	uint32_t op = rndn(r, 8);
	size_t off, len;
	uint8_t *tmp;

	if (b->h[i] < 0)
		return;
	off = rndn(r, b->len);
	len = 1 + rndn(r, b->len - off);
	tmp = malloc(len);
	if (!tmp)
		return;
	memset(tmp, (int)op, len);
	op = op < 4 ? UDB_IMPORTER_READ : op < 7 ? UDB_IMPORTER_WRITE :
	     UDB_IMPORTER_READ_VMAP;
	if (op == UDB_IMPORTER_WRITE && (b->ro || !b->hw[i]))
		op = UDB_IMPORTER_READ;
	/*
	 * vmap of a stale or faulted buffer without a pin set shows zero
	 * pages where the data is being refreshed (see vmap_of_a_faulted_
	 * buffer), which the byte checks here would count as wrong: vmap only
	 * where it shows the current pages.
	 */
	if (op == UDB_IMPORTER_READ_VMAP && (b->ro || !has_pinset(b)))
		op = UDB_IMPORTER_READ;
	ret = imp_copy(w->imp, b->h[i], op, off, tmp, len, NULL);
	allowed(ret, ok_copy, op == UDB_IMPORTER_WRITE ? "device write" :
		op == UDB_IMPORTER_READ ? "device read" : "vmap read");
	free(tmp);
}

/* A CPU mapping of the dma-buf, read once. SIGBUS is counted, not fatal. */
static void worker_mmap_read(struct worker *w, struct tbuf *b)
{
	volatile uint8_t *m;
	sigjmp_buf jb;
	size_t i;

	m = mmap(NULL, b->len, PROT_READ, MAP_SHARED, b->fd, 0);
	if (m == MAP_FAILED) {
		allowed(-errno, ok_create, "mmap");
		return;
	}
	if (sigsetjmp(jb, 1) == 0) {
		t_jmp = &jb;
		for (i = 0; i < b->len; i += g_ps)
			(void)m[i + rndn(&w->r, g_ps)];
	} else {
		atomic_fetch_add(&g_sigbus, 1);
	}
	t_jmp = NULL;
	munmap((void *)m, b->len);
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct rng *r = &w->r;
	struct userptr_dmabuf_info info;

	while (!atomic_load(&g_stop)) {
		struct tbuf *b = &w->b[rndn(r, MAXBUFS)];
		unsigned int op = rndn(r, 20);

		atomic_fetch_add(&g_ops, 1);
		if (b->fd < 0) {
			worker_create(w, b);
			continue;
		}
		if (op < 3)
			worker_attach(w, b, 1);
		else if (op < 5)
			worker_attach(w, b, 0);
		else if (op < 12)
			worker_copy(w, b);
		else if (op < 13)
			worker_mmap_read(w, b);
		else if (op < 14) {
			detach_one(w->imp, b, rndn(r, MAXHANDLES));
		} else if (op < 15) {
			if (udb_info(g_dev, b->fd, &info))
				FAIL("info: %s", strerror(errno));
		} else if (op < 16) {
			tbuf_drop(w, b, r);
		}
		/* else: nothing, give the mutators room */
	}
	return NULL;
}

/* ---- the quiescent check ---- */

/* Device read with the buffer settled; FAULT re-queues a refresh: retry. */
static int device_read(int imp, int fd, int h, uint8_t *p, size_t len)
{
	int i, ret = 0;

	for (i = 0; i < 20; i++) {
		udb_settle(g_dev, fd);
		ret = imp_copy(imp, h, UDB_IMPORTER_READ, 0, p, len, NULL);
		if (ret != -EFAULT && ret != -EPERM && ret != -ETIMEDOUT)
			return ret;
		usleep(10000);
	}
	return ret;
}

static int device_write(int imp, int fd, int h, uint8_t *p, size_t len)
{
	int i, ret = 0;

	for (i = 0; i < 20; i++) {
		udb_settle(g_dev, fd);
		ret = imp_copy(imp, h, UDB_IMPORTER_WRITE, 0, p, len, NULL);
		if (ret != -EFAULT && ret != -EPERM && ret != -ETIMEDOUT)
			return ret;
		usleep(10000);
	}
	return ret;
}

/* The CPU's view of a buffer: its ranges, concatenated. */
static void cpu_gather(struct tbuf *b, uint8_t *p)
{
	unsigned int i;

	for (i = 0; i < b->nr; i++) {
		memcpy(p, (void *)(uintptr_t)b->r[i].addr, b->r[i].size);
		p += b->r[i].size;
	}
}

static long first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

static void check_buffer(struct worker *w, struct tbuf *b, uint32_t seed,
			 int round)
{
	uint8_t *cpu = malloc(b->len), *dev = malloc(b->len);
	int i, h, ret, checked = 0;
	long d;

	if (!cpu || !dev)
		goto out;
	cpu_gather(b, cpu);
	/* dynamic attachments that lived through the storm must follow */
	for (i = 0; i < MAXHANDLES; i++) {
		if (b->h[i] < 0)
			continue;
		checked++;
		ret = device_read(w->imp, b->fd, b->h[i], dev, b->len);
		if (ret) {
			FAIL("round %d: device read (dynamic): %s", round, strerror(-ret));
			continue;
		}
		d = first_diff(cpu, dev, b->len);
		if (d >= 0)
			FAIL("round %d: stale device view at byte %ld of %zu (%u ranges, ro %d): cpu %#x dev %#x",
			     round, d, b->len, b->nr, b->ro, cpu[d], dev[d]);
	}
	/* a fresh static (pinned) attachment sees the current pages */
	h = imp_attach(w->imp, b->fd, b->ro ? UDB_IMPORTER_ATTACH_READONLY : 0);
	if (h == -EPERM && b->ro) {
		/* 6.12 maps static attachments DMA_BIDIRECTIONAL: refused */
	} else if (h == -EOPNOTSUPP && !b->ro && covers_file(b->r, b->nr)) {
		/* no long-term write pins of an ext4 mapping */
	} else if (h < 0) {
		FAIL("round %d: fresh static attach: %s", round, strerror(-h));
	} else {
		ret = device_read(w->imp, b->fd, h, dev, b->len);
		if (ret)
			FAIL("round %d: device read (fresh static): %s", round, strerror(-ret));
		else if ((d = first_diff(cpu, dev, b->len)) >= 0)
			FAIL("round %d: fresh static attachment differs at byte %ld", round, d);
		ret = imp_detach(w->imp, h);
		if (ret)
			FAIL("detach: %s", strerror(-ret));
	}
	if (b->ro)
		goto out;
	/* the other way: the device writes, the CPU reads */
	h = imp_attach(w->imp, b->fd, g_dynamic ? UDB_IMPORTER_ATTACH_DYNAMIC : 0);
	if (h == -EOPNOTSUPP && !g_dynamic && covers_file(b->r, b->nr))
		goto out;
	if (h < 0) {
		FAIL("round %d: writer attach: %s", round, strerror(-h));
		goto out;
	}
	fill(dev, b->len, seed ^ 0x5555);
	ret = device_write(w->imp, b->fd, h, dev, b->len);
	if (ret)
		FAIL("round %d: device write: %s", round, strerror(-ret));
	cpu_gather(b, cpu);
	if (!ret && (d = first_diff(cpu, dev, b->len)) >= 0)
		FAIL("round %d: device write not seen by the CPU at byte %ld", round, d);
	/* and the old dynamic attachments see the device's bytes */
	for (i = 0; i < MAXHANDLES && !ret && checked; i++) {
		if (b->h[i] < 0)
			continue;
		if (device_read(w->imp, b->fd, b->h[i], cpu, b->len) ||
		    (d = first_diff(cpu, dev, b->len)) >= 0)
			FAIL("round %d: dynamic attachment misses the device write", round);
	}
	ret = imp_detach(w->imp, h);
	if (ret)
		FAIL("detach: %s", strerror(-ret));
out:
	free(cpu);
	free(dev);
}

static void quiescent_check(int round)
{
	uint32_t seed = (uint32_t)(g_seed >> 8) + (uint32_t)round * 977;
	int wi, bi, i;

	/* static attachments keep the pages they pinned: replace them */
	for (wi = 0; wi < NWORKERS; wi++)
		for (bi = 0; bi < MAXBUFS; bi++) {
			struct tbuf *b = &workers[wi].b[bi];

			if (b->fd < 0)
				continue;
			for (i = 0; i < MAXHANDLES; i++)
				if (b->h[i] >= 0 && (!b->hdyn[i] || !g_dynamic))
					detach_one(workers[wi].imp, b, i);
		}
	for (i = 0; i < NSLOTS; i++)
		fill(slots[i].addr, slot_len, seed + (uint32_t)i);
	for (wi = 0; wi < NWORKERS; wi++)
		for (bi = 0; bi < MAXBUFS; bi++)
			if (workers[wi].b[bi].fd >= 0)
				check_buffer(&workers[wi], &workers[wi].b[bi],
					     seed, round);
}

static int run_storm(struct __test_metadata *_metadata, double seconds,
		     int nmut, int nwork)
{
	pthread_t mt[NMUTATORS], wt[NWORKERS];
	double round_s = seconds < 6 ? seconds / 2 : 3, end = now() + seconds;
	int round = 0, i, b, fds0;

	fds0 = count_fds();
	atomic_store(&g_writer, 0);
	for (i = 0; i < NWORKERS; i++) {
		workers[i].imp = -1;
		for (b = 0; b < MAXBUFS; b++)
			tbuf_reset(&workers[i].b[b]);
	}
	for (i = 0; i < nwork; i++) {
		workers[i].idx = i;
		workers[i].imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
		if (workers[i].imp < 0)
			return -errno;
		rng_init(&workers[i].r, (uint64_t)i);
		for (b = 0; b < MAXBUFS; b++)
			tbuf_reset(&workers[i].b[b]);
	}
	while (now() < end && !atomic_load(&g_fail)) {
		atomic_store(&g_stop, 0);
		for (i = 0; i < nmut; i++)
			pthread_create(&mt[i], NULL, mutator, (void *)(uintptr_t)(round * NMUTATORS + i));
		for (i = 0; i < nwork; i++)
			pthread_create(&wt[i], NULL, worker, &workers[i]);
		usleep((useconds_t)(round_s * 1e6));
		atomic_store(&g_stop, 1);
		for (i = 0; i < nmut; i++)
			pthread_join(mt[i], NULL);
		for (i = 0; i < nwork; i++)
			pthread_join(wt[i], NULL);
		quiescent_check(round);
		round++;
	}
	for (i = 0; i < nwork; i++) {
		struct rng r;

		rng_init(&r, 77 + (uint64_t)i);
		for (b = 0; b < MAXBUFS; b++)
			if (workers[i].b[b].fd >= 0)
				tbuf_drop(&workers[i], &workers[i].b[b], &r);
		close(workers[i].imp);
	}
	TH_LOG("%d rounds, %ld worker ops (%ld allowed errors), %ld mutations (%ld ext4 maps, %ld writebacks), %ld SIGBUS on dma-buf mmap reads",
	       round, atomic_load(&g_ops), atomic_load(&g_errs),
	       atomic_load(&g_mutations), atomic_load(&g_file_maps),
	       atomic_load(&g_writebacks), atomic_load(&g_sigbus));
	EXPECT_EQ(fds0, count_fds());
	return round;
}

FIXTURE(torture)
{
	int dev, imp;
};

FIXTURE_SETUP(torture)
{
	struct sigaction sa = { .sa_handler = on_sigbus, .sa_flags = SA_NODEFER };

	torture_init();
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	self->imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->imp, 0) TH_LOG("is udb_importer loaded?");
	g_dev = self->dev;
	g_dynamic = kernel_is_dynamic(self->dev);
	ASSERT_GE(g_dynamic, 0);
	sigaction(SIGBUS, &sa, NULL);
	atomic_store(&g_fail, 0);
}

FIXTURE_TEARDOWN(torture)
{
	close(self->imp);
	close(self->dev);
}

/* The storm: 75% of the time budget. */
TEST_F_TIMEOUT(torture, storm, 3600)
{
	int rounds;

	ASSERT_EQ(0, arena_map());
	rounds = run_storm(_metadata, g_seconds * 0.75, NMUTATORS, NWORKERS);
	arena_unmap();
	ASSERT_GE(rounds, 0) TH_LOG("importer: %s", strerror(-rounds));
	EXPECT_EQ(0, atomic_load(&g_fail)) TH_LOG("seed %#llx", (unsigned long long)g_seed);
}

/* The same with one mutator and one worker: a different interleaving. 15%. */
TEST_F_TIMEOUT(torture, storm_narrow, 3600)
{
	int rounds;

	ASSERT_EQ(0, arena_map());
	rounds = run_storm(_metadata, g_seconds * 0.15, 1, 1);
	arena_unmap();
	ASSERT_GE(rounds, 0);
	EXPECT_EQ(0, atomic_load(&g_fail)) TH_LOG("seed %#llx", (unsigned long long)g_seed);
}

/* 512 buffers over one region, 64 attachments on one of them. */
TEST_F_TIMEOUT(torture, many_buffers_many_attachments, 600)
{
	enum { NB = 512, NA = 64, PAGES = 4 };
	size_t len = PAGES * g_ps;
	struct userptr_dmabuf_info info;
	struct rlimit rl = { 4096, 4096 };
	int *fds = calloc(NB, sizeof(int)), h[NA];
	uint8_t *mem = map_anon(NB * len), *p = malloc(len);
	int i, fds0, order[NA];
	struct rng r;

	ASSERT_NE(NULL, fds);
	ASSERT_NE(NULL, mem);
	ASSERT_NE(NULL, p);
	rng_init(&r, 4242);
	setrlimit(RLIMIT_NOFILE, &rl);
	fds0 = count_fds();
	for (i = 0; i < NB; i++) {
		fill(mem + i * len, len, (uint32_t)i);
		fds[i] = udb_create(self->dev, mem + i * len, len, 0);
		ASSERT_GE(fds[i], 0) TH_LOG("buffer %d: %s", i, strerror(-fds[i]));
	}
	for (i = 0; i < NA; i++) {
		/* one static (bidirectional) attachment, the rest DMA_TO_DEVICE */
		h[i] = imp_attach(self->imp, fds[7], i ? UDB_IMPORTER_ATTACH_DYNAMIC |
				  UDB_IMPORTER_ATTACH_READONLY : 0);
		ASSERT_GE(h[i], 0) TH_LOG("attachment %d: %s", i, strerror(-h[i]));
		order[i] = i;
	}
	ASSERT_EQ(0, udb_info(self->dev, fds[7], &info));
	EXPECT_EQ((uint32_t)NA, info.attachments);
	EXPECT_EQ((uint64_t)PAGES, info.pinned_pages);	/* one shared pin set */
	for (i = 0; i < NA; i++) {
		ASSERT_EQ(0, imp_copy(self->imp, h[i], UDB_IMPORTER_READ, 0, p, len, NULL));
		EXPECT_EQ(-1, check(p, len, 7)) TH_LOG("attachment %d", i);
	}
	/* every buffer through one dynamic attachment each, then detach */
	for (i = 0; i < NB; i += 37) {
		int hh = imp_attach(self->imp, fds[i], UDB_IMPORTER_ATTACH_DYNAMIC |
				    UDB_IMPORTER_ATTACH_READONLY);

		ASSERT_GE(hh, 0);
		ASSERT_EQ(0, imp_copy(self->imp, hh, UDB_IMPORTER_READ, 0, p, len, NULL));
		EXPECT_EQ(-1, check(p, len, (uint32_t)i));
		ASSERT_EQ(0, imp_detach(self->imp, hh));
	}
	/* a CPU change under 64 attachments: one notification round */
	if (g_dynamic) {
		ASSERT_EQ(0, madvise(mem + 7 * len, len, MADV_DONTNEED));
		fill(mem + 7 * len, len, 1000);
		udb_settle(self->dev, fds[7]);
		for (i = 1; i < NA; i++) {
			ASSERT_EQ(0, imp_copy(self->imp, h[i], UDB_IMPORTER_READ, 0, p, len, NULL));
			EXPECT_EQ(-1, check(p, len, 1000)) TH_LOG("dynamic attachment %d", i);
		}
	}
	/* detach in random order, closing the dma-buf half way */
	for (i = NA - 1; i > 0; i--) {
		int j = rndn(&r, i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < NA; i++) {
		if (i == NA / 2) {
			close(fds[7]);
			fds[7] = -1;
		}
		EXPECT_EQ(0, imp_detach(self->imp, h[order[i]]));
	}
	for (i = NB - 1; i > 0; i--) {		/* close in random order */
		int j = rndn(&r, i + 1), t = fds[i];

		fds[i] = fds[j];
		fds[j] = t;
	}
	for (i = 0; i < NB; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	EXPECT_EQ(fds0, count_fds());
	munmap(mem, NB * len);
	free(fds);
	free(p);
}

static int try_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

static int in_use_errno(int e)
{
	return e == -EWOULDBLOCK || e == -EAGAIN || e == -EBUSY;
}

/*
 * rmmod while in use must fail: an open device, a dma-buf without the
 * device, a CPU mapping without either, an importer attachment.
 */
TEST_F_TIMEOUT(torture, unload_refused_while_in_use, 120)
{
	uint8_t *mem = map_anon(4 * g_ps);
	void *m;
	int fd, h, ret;

	if (geteuid() != 0)
		SKIP(return, "delete_module needs root");
	ASSERT_NE(NULL, mem);
	memset(mem, 1, 4 * g_ps);
	/* the fixture's open device */
	ret = try_unload("userptr_dmabuf");
	EXPECT_TRUE(in_use_errno(ret)) TH_LOG("device open: %s", strerror(-ret));
	ret = try_unload("udb_importer");
	EXPECT_TRUE(in_use_errno(ret)) TH_LOG("importer open: %s", strerror(-ret));

	/* a dma-buf alone holds the exporter */
	fd = udb_create(self->dev, mem, 4 * g_ps, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	close(self->dev);
	self->dev = -1;
	ret = try_unload("userptr_dmabuf");
	EXPECT_TRUE(in_use_errno(ret)) TH_LOG("dma-buf fd alive: %s", strerror(-ret));

	/* a CPU mapping alone (fd closed, attachment gone) */
	m = mmap(NULL, 4 * g_ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, imp_detach(self->imp, h));
	close(fd);
	ret = try_unload("userptr_dmabuf");
	EXPECT_TRUE(in_use_errno(ret)) TH_LOG("mmap alive: %s", strerror(-ret));
	EXPECT_EQ(1, ((uint8_t *)m)[5]);
	munmap(m, 4 * g_ps);

	/* an attachment alone: the importer's file holds the dma-buf */
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	fd = udb_create(self->dev, mem, 4 * g_ps, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, 0);
	ASSERT_GE(h, 0);
	close(fd);
	close(self->dev);
	self->dev = -1;
	ret = try_unload("userptr_dmabuf");
	EXPECT_TRUE(in_use_errno(ret)) TH_LOG("attachment alive: %s", strerror(-ret));
	/* the module is still fine */
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	ASSERT_EQ(0, imp_detach(self->imp, h));
	munmap(mem, 4 * g_ps);
}

/*
 * Regression (found by this suite): a dynamic attachment vmaps a buffer
 * whose owner unmapped the range. udb_vmap() used to return the refresh
 * error, and dma_buf_vmap() has WARN_ON_ONCE(ret) (drivers/dma-buf/
 * dma-buf.c), so any user of an importer that vmaps could WARN the kernel.
 * Now the vmap shows zeros for the missing pages; the dmesg scan fails the
 * run if the WARN comes back.
 */
static long zero_page_dirty(void);

TEST_F_TIMEOUT(torture, vmap_of_a_faulted_buffer, 60)
{
	uint8_t *mem, b[64];
	int fd, h, ret;
	size_t i;

	if (!g_dynamic)
		SKIP(return, "every attachment pins here: vmap uses the pinned pages");
	mem = map_anon(4 * g_ps);
	ASSERT_NE(NULL, mem);
	memset(mem, 1, 4 * g_ps);
	fd = udb_create(self->dev, mem, 4 * g_ps, 0);
	ASSERT_GE(fd, 0);
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);
	/* while VALID, a write through the vmap reaches the owner's memory */
	memset(b, 0x5c, sizeof(b));
	ret = imp_copy(self->imp, h, UDB_IMPORTER_WRITE_VMAP, g_ps, b, sizeof(b), NULL);
	EXPECT_EQ(0, ret) TH_LOG("vmap write: %s", strerror(-ret));
	EXPECT_EQ(0x5c, mem[g_ps + sizeof(b) - 1]);
	EXPECT_EQ(1, mem[g_ps + sizeof(b)]);

	ASSERT_EQ(0, munmap(mem, 4 * g_ps));
	ASSERT_EQ(USERPTR_DMABUF_STATE_FAULT, udb_settle(self->dev, fd));
	memset(b, 0xaa, sizeof(b));
	ret = imp_copy(self->imp, h, UDB_IMPORTER_READ_VMAP, 0, b, sizeof(b), NULL);
	EXPECT_EQ(0, ret) TH_LOG("vmap of a FAULT buffer: %s", strerror(-ret));
	for (i = 0; i < sizeof(b); i++)
		if (b[i])
			break;
	EXPECT_EQ(sizeof(b), i) TH_LOG("byte %zu is %#x, not 0", i, b[i]);
	/*
	 * A write to pages that are gone is discarded, and must not land in
	 * the shared zero page (the vmap used to map it writable there).
	 */
	memset(b, 0xa5, sizeof(b));
	ret = imp_copy(self->imp, h, UDB_IMPORTER_WRITE_VMAP, 0, b, sizeof(b), NULL);
	EXPECT_EQ(0, ret) TH_LOG("vmap write to a FAULT buffer: %s", strerror(-ret));
	EXPECT_EQ(-1, zero_page_dirty()) TH_LOG("a vmap write reached the zero page");
	memset(b, 0xaa, sizeof(b));
	ret = imp_copy(self->imp, h, UDB_IMPORTER_READ_VMAP, 0, b, sizeof(b), NULL);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(0, b[0]) TH_LOG("a fresh vmap shows %#x where pages are gone", b[0]);
	imp_detach(self->imp, h);
	close(fd);
}

/*
 * Regression (found by this suite): two attachments of one buffer that
 * both map DMA_BIDIRECTIONAL (two writing attachments; or on 6.12 any two
 * static ones, mapped at attach). The exporter mapped each attachment
 * without DMA_ATTR_SKIP_CPU_SYNC, so DMA-API debug saw one cacheline in
 * two device-writable mappings and WARNed in add_dma_entry() ("cacheline
 * tracking EEXIST, overlapping mappings aren't supported"). Now it maps
 * with DMA_ATTR_SKIP_CPU_SYNC and syncs explicitly, as DRM's PRIME helpers
 * do; the dmesg scan fails the run if the report comes back.
 */
TEST_F_TIMEOUT(torture, two_writable_attachments, 60)
{
	uint8_t *mem, b[64];
	int fd, h1, h2, i;

	mem = map_anon(4 * g_ps);
	ASSERT_NE(NULL, mem);
	memset(mem, 1, 4 * g_ps);
	fd = udb_create(self->dev, mem, 4 * g_ps, 0);
	ASSERT_GE(fd, 0);
	h1 = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	h2 = imp_attach(self->imp, fd, g_dynamic ? UDB_IMPORTER_ATTACH_DYNAMIC : 0);
	ASSERT_GE(h1, 0);
	ASSERT_GE(h2, 0);
	for (i = 0; i < 10; i++) {
		memset(b, i, sizeof(b));
		EXPECT_EQ(0, imp_copy(self->imp, i & 1 ? h1 : h2,
				      UDB_IMPORTER_WRITE, 0, b, sizeof(b), NULL));
		EXPECT_EQ(0, imp_copy(self->imp, i & 1 ? h2 : h1,
				      UDB_IMPORTER_READ, 0, b, sizeof(b), NULL));
		EXPECT_EQ(i, b[0]);
		EXPECT_EQ(i, mem[sizeof(b) - 1]);
	}
	imp_detach(self->imp, h1);
	imp_detach(self->imp, h2);
	close(fd);
	munmap(mem, 4 * g_ps);
}

/* Is the shared zero page (what fresh anonymous memory reads) still zero? */
__attribute__((no_sanitize_address))
static long zero_page_dirty(void)
{
	volatile uint8_t *p = mmap(NULL, g_ps, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long bad = -1;
	size_t i;

	if (p == MAP_FAILED)
		return -1;
	madvise((void *)p, g_ps, MADV_NOHUGEPAGE);
	for (i = 0; i < g_ps && bad < 0; i++)
		if (p[i])
			bad = (long)i;
	munmap((void *)p, g_ps);
	return bad;
}

struct zp_writer {
	volatile uint8_t *m;
	size_t len;
	atomic_long writes, sigbus;
};

/* Read every page of the dma-buf's mapping (zero pages while FAULT), then write each. */
static void *zp_write_loop(void *arg)
{
	struct zp_writer *z = arg;
	volatile size_t off;
	sigjmp_buf jb;

	while (!atomic_load(&g_stop)) {
		/* all reads first: the refresh they queue publishes meanwhile */
		for (off = 0; off < z->len; off += g_ps) {
			if (sigsetjmp(jb, 1) == 0) {
				t_jmp = &jb;
				(void)z->m[off];
			}
			t_jmp = NULL;
		}
		for (off = 0; off < z->len; off += g_ps) {
			if (sigsetjmp(jb, 1) == 0) {
				t_jmp = &jb;
				z->m[off + 8] = 0xa5;
				atomic_fetch_add(&z->writes, 1);
			} else {
				atomic_fetch_add(&z->sigbus, 1);
			}
			t_jmp = NULL;
		}
	}
	return NULL;
}

/*
 * Regression (found by this suite; the symptom was every later process
 * in the VM reading garbage as fresh memory): a read of a FAULT buffer's
 * CPU mapping maps the shared zero page read-only. A write to it reaches
 * pfn_mkwrite, which used to let the PTE become writable as soon as the
 * snapshot had a page at that offset again, without asking which page
 * the PTE maps. A refresh publishing between the read and the write, but
 * before its zap, made the zero page writable, and the write landed in
 * every process's zeros. The owner here takes its range away (PROT_NONE)
 * and maps fresh memory there again in a loop while a thread reads and writes the dma-buf's mapping; the
 * zero page must stay zero (tests/vm/zerocheck also checks after every
 * step of every plan).
 */
TEST_F_TIMEOUT(torture, zero_page_never_written, 120)
{
	struct zp_writer z = { 0 };
	double end = now() + (g_seconds / 6 < 10 ? g_seconds / 6 : 10);
	size_t len = 16 * g_ps;
	struct dma_buf_sync sync;
	pthread_t th;
	long bad = -1, cycles = 0;
	uint8_t *mem;
	int fd;

	ASSERT_EQ(-1, zero_page_dirty()) TH_LOG("the zero page was dirty before this test");
	mem = map_anon(len);
	ASSERT_NE(NULL, mem);
	memset(mem, 1, len);
	fd = udb_create(self->dev, mem, len, 0);
	ASSERT_GE(fd, 0);
	z.len = len;
	z.m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, z.m);
	atomic_store(&g_stop, 0);
	ASSERT_EQ(0, pthread_create(&th, NULL, zp_write_loop, &z));
	while (now() < end && bad < 0) {
		/*
		 * FAULT: reads of the mapping get the zero page. (PROT_NONE
		 * over the range rather than munmap: keeps the addresses ours,
		 * other threads' mmap()s cannot land there meanwhile.)
		 */
		ASSERT_EQ(mem, mmap(mem, len, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		usleep(1000);
		/* mapped again: the next read (or SYNC) refreshes and publishes */
		ASSERT_EQ(mem, mmap(mem, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
		memset(mem, 1, len);
		usleep(1000);
		if (cycles & 1) {
			sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
			ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
		}
		bad = zero_page_dirty();
		cycles++;
	}
	atomic_store(&g_stop, 1);
	pthread_join(th, NULL);
	printf("# %ld unmap/map cycles, %ld writes, %ld SIGBUS\n", cycles,
	       atomic_load(&z.writes), atomic_load(&z.sigbus));
	EXPECT_EQ(-1, bad) TH_LOG("after %ld cycles the zero page has %#x at byte %ld",
				  cycles, 0xa5, bad);
	EXPECT_LT(0, atomic_load(&z.writes)) TH_LOG("no write got through: nothing was tested");
	munmap((void *)z.m, len);
	close(fd);
	munmap(mem, len);
}

TEST_HARNESS_MAIN
