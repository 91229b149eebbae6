// SPDX-License-Identifier: GPL-2.0
/*
 * Exporter benchmark (not a test: it never fails on timings).
 *
 * 1. create + first device map + teardown, 4 KiB .. 1 GiB (after a
 *    warm-up round, the order of the three rotating every round), for
 *    - userptr:   this module over already-populated anonymous memory
 *    - udmabuf:   the data already in a sealed memfd, UDMABUF_CREATE
 *    - heap+copy: allocate from the system dma-heap, memcpy the data in
 *    all imported by the same reference importer (dynamic attachment);
 *    ratios are printed against the peers measured in this same run.
 * 2. Re-map after a one-page CPU change in a 256 MiB buffer, against the
 *    first map of the same buffer.
 * 3. Invalidation window: CPU change to importer notification (the
 *    module's own measurement, INFO.last_window_ns), median and p99.
 *
 * Usage: bench [max_size_mb]   (default 1024)
 */
#define UDB_TEST_NO_HARNESS
#include "../exporter/common.h"

#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <sched.h>

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static int dev, imp, udmabuf_dev, heap;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* attach + first map (a 4-byte device read) + detach; returns map ms */
static double import_once(int fd, double *teardown_ms)
{
	uint32_t word;
	double t0, t1;
	int h;

	t0 = now_ms();
	h = imp_attach(imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	if (h < 0 || imp_copy(imp, h, UDB_IMPORTER_READ, 0, &word, 4, NULL))
		die("import");
	t1 = now_ms();
	imp_detach(imp, h);
	*teardown_ms = now_ms() - t1;
	return t1 - t0;
}

static double run_userptr(size_t size, void *data)
{
	double t0, t1, td;
	int fd;

	t0 = now_ms();
	fd = udb_create(dev, data, size, 0);
	if (fd < 0) {
		errno = -fd;
		die("userptr create");
	}
	import_once(fd, &td);
	t1 = now_ms();
	close(fd);
	return t1 - t0;
}

static double run_udmabuf(size_t size, int memfd)
{
	struct udmabuf_create c = { .memfd = memfd, .size = size };
	double t0, t1, td;
	int fd;

	t0 = now_ms();
	fd = ioctl(udmabuf_dev, UDMABUF_CREATE, &c);
	if (fd < 0)
		die("UDMABUF_CREATE");
	import_once(fd, &td);
	t1 = now_ms();
	close(fd);
	return t1 - t0;
}

static double run_heap_copy(size_t size, const void *data)
{
	struct dma_heap_allocation_data a = {
		.len = size, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	double t0, t1, td;
	void *m;

	t0 = now_ms();
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a))
		die("DMA_HEAP_IOCTL_ALLOC");
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, a.fd, 0);
	if (m == MAP_FAILED)
		die("heap mmap");
	memcpy(m, data, size);
	munmap(m, size);
	import_once(a.fd, &td);
	t1 = now_ms();
	close(a.fd);
	return t1 - t0;
}

/* Wait for the refresh; returns the module's window measurement in us. */
static double settle_window_us(int fd)
{
	struct userptr_dmabuf_info info;

	for (;;) {
		if (udb_info(dev, fd, &info))
			die("INFO");
		if (info.state != USERPTR_DMABUF_STATE_STALE)
			return info.last_window_ns / 1e3;
		sched_yield();
	}
}

static void bench_create_map(size_t max_size)
{
	static const size_t sizes[] = {
		4UL << 10, 64UL << 10, 1UL << 20, 16UL << 20, 256UL << 20,
		1UL << 30,
	};
	unsigned int i;

	printf("# create + first map + teardown (median ms; ratios from this run)\n");
	printf("# %10s %10s %10s %10s %14s %14s\n", "size", "userptr",
	       "udmabuf", "heap+copy", "udmabuf/userptr", "heap/userptr");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t size = sizes[i];
		int reps = size >= (256UL << 20) ? 3 : 15, r, memfd;
		double u[15], d[15], hc[15], mu, md, mh;
		void *data, *mdata;

		if (size > max_size)
			break;
		data = map_anon(size);
		if (!data)
			die("mmap data");
		memset(data, 0x5a, size);
		memfd = memfd_create("bench", MFD_ALLOW_SEALING | MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, size) ||
		    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
			die("memfd");
		mdata = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     memfd, 0);
		if (mdata == MAP_FAILED)
			die("memfd mmap");
		memset(mdata, 0x5a, size);

		/* a warm-up round, then the order rotates every round */
		run_userptr(size, data);
		run_udmabuf(size, memfd);
		run_heap_copy(size, data);
		for (r = 0; r < reps; r++) {
			int k;

			for (k = 0; k < 3; k++) {
				switch ((r + k) % 3) {
				case 0:
					u[r] = run_userptr(size, data);
					break;
				case 1:
					d[r] = run_udmabuf(size, memfd);
					break;
				default:
					hc[r] = run_heap_copy(size, data);
				}
			}
		}
		mu = median(u, reps);
		md = median(d, reps);
		mh = median(hc, reps);
		printf("# %9zuK %10.3f %10.3f %10.3f %14.2f %14.2f\n",
		       size >> 10, mu, md, mh, md / mu, mh / mu);
		munmap(mdata, size);
		close(memfd);
		munmap(data, size);
	}
}

static void bench_remap(size_t size)
{
	size_t ps = page_size();
	double first[3], re[20], remap[20], t0, td;
	long long mapped0, held0, patched0;
	uint32_t word;
	uint8_t *data;
	int fd, h, i;

	data = map_anon(size);
	if (!data)
		die("mmap");
	memset(data, 1, size);
	for (i = 0; i < 3; i++) {
		t0 = now_ms();
		fd = udb_create(dev, data, size, 0);
		if (fd < 0)
			die("create");
		first[i] = now_ms() - t0;
		first[i] += import_once(fd, &td);
		close(fd);
	}
	fd = udb_create(dev, data, size, 0);
	h = imp_attach(imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	if (fd < 0 || h < 0 || imp_copy(imp, h, UDB_IMPORTER_READ, 0, &word, 4,
					NULL))
		die("setup");
	mapped0 = debugfs_stat(fd, "dma_map_pages");
	held0 = debugfs_stat(fd, "map_hold_pages");
	patched0 = debugfs_stat(fd, "maps_patched");
	for (i = 0; i < 20; i++) {
		uint8_t *page = data + ((size_t)i * 997 % (size / ps)) * ps;
		struct udb_importer_copy c;
		double t1;

		t0 = now_ms();
		if (madvise(page, ps, MADV_DONTNEED))
			die("madvise");
		page[0] = 2;
		/* until the importer is notified it still uses the old mapping */
		settle_window_us(fd);
		t1 = now_ms();
		if (imp_copy(imp, h, UDB_IMPORTER_READ, 0, &word, 4, &c))
			die("remap read");
		re[i] = now_ms() - t0;
		remap[i] = now_ms() - t1;
		if (c.maps != (uint64_t)i + 2)
			fprintf(stderr, "bench: importer did not re-map (%llu maps)\n",
				(unsigned long long)c.maps);
	}
	printf("# re-map after a one-page change, %zu MiB buffer (median ms)\n",
	       size >> 20);
	printf("#   first create+map %.3f; one-page change to re-mapped %.3f (ratio %.3f),\n",
	       median(first, 3), median(re, 20),
	       median(re, 20) / median(first, 3));
	printf("#   of which the importer's re-map %.3f (the 20 re-maps took %lld pages anew, DMA-mapped %lld; %lld patched a kept table)\n",
	       median(remap, 20), debugfs_stat(fd, "map_hold_pages") - held0,
	       debugfs_stat(fd, "dma_map_pages") - mapped0,
	       debugfs_stat(fd, "maps_patched") - patched0);
	imp_detach(imp, h);
	close(fd);
	munmap(data, size);
}

static void bench_window(void)
{
	size_t ps = page_size(), size = 1UL << 20;
	enum { N = 200 };
	double w[N];
	uint8_t *data;
	uint32_t word;
	int fd, h, i;

	data = map_anon(size);
	if (!data)
		die("mmap");
	memset(data, 1, size);
	fd = udb_create(dev, data, size, 0);
	h = imp_attach(imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	if (fd < 0 || h < 0 || imp_copy(imp, h, UDB_IMPORTER_READ, 0, &word, 4,
					NULL))
		die("setup");
	for (i = 0; i < N; i++) {
		if (madvise(data + (i % 256) * ps, ps, MADV_DONTNEED))
			die("madvise");
		w[i] = settle_window_us(fd);
	}
	qsort(w, N, sizeof(*w), cmp_double);
	printf("# invalidation window (CPU change -> importer notified), %d one-page changes\n", N);
	printf("#   median %.1f us, p99 %.1f us, max %.1f us\n", w[N / 2],
	       w[N * 99 / 100], w[N - 1]);
	imp_detach(imp, h);
	close(fd);
	munmap(data, size);
}

int main(int argc, char **argv)
{
	size_t max_size = (size_t)(argc > 1 ? atol(argv[1]) : 1024) << 20;

	setvbuf(stdout, NULL, _IOLBF, 0);
	dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	udmabuf_dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (dev < 0 || imp < 0 || udmabuf_dev < 0 || heap < 0)
		die("open devices");

	printf("# userptr-dmabuf benchmark (uname: ");
	fflush(stdout);
	if (system("uname -r | tr -d '\\n'"))
		return 1;
	printf(")\n");
	bench_create_map(max_size);
	bench_remap(256UL << 20);
	bench_window();
	return 0;
}
