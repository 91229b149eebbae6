// SPDX-License-Identifier: GPL-2.0
/*
 * The reference importer's job queue: SUBMIT queues a FILL, CHECKSUM or
 * COPY job to the device's thread and returns a sync_file for the job's
 * fence, which sits in the dma-buf's reservation object; JOB reports the
 * result and what the job saw of the exporter. The cases check the results
 * against the CPU's view, the fence's visibility (sync_file, the dma-buf's
 * EXPORT_SYNC_FILE), that a CPU page-table change waits for a submitted
 * job (the exporter's notifier waits for all fences) and that later jobs
 * follow the new pages, and the queue's limits and teardown paths.
 *
 * On kernels without dynamic importers (Debian's stock 6.12) attachments
 * are pinned: the cases that need invalidations are skipped there.
 */
#include "common.h"
#include <linux/dma-buf.h>
#include <linux/sync_file.h>
#include <poll.h>
#include <pthread.h>

#include "kselftest_harness.h"

#define NPAGES	64
#define BIG	(64UL << 20)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int job_submit(int imp, int h, uint32_t op, uint64_t off, uint64_t len,
		      uint64_t value, uint32_t delay_ms, uint64_t *id,
		      int *fence)
{
	struct udb_importer_submit s = {
		.handle = (uint32_t)h, .op = op, .offset = off, .len = len,
		.value = value, .delay_ms = delay_ms,
	};

	if (id)
		*id = 0;
	if (fence)
		*fence = -1;
	if (ioctl(imp, UDB_IMPORTER_IOC_SUBMIT, &s))
		return -errno;
	if (id)
		*id = s.job_id;
	if (fence)
		*fence = s.fence_fd;
	else
		close(s.fence_fd);
	return 0;
}

static int job_get(int imp, uint64_t id, uint32_t timeout_ms,
		   struct udb_importer_job *out)
{
	struct udb_importer_job j = { .job_id = id, .timeout_ms = timeout_ms };
	int ret = ioctl(imp, UDB_IMPORTER_IOC_JOB, &j) ? -errno : 0;

	if (out)
		*out = j;
	return ret;
}

static uint64_t fnv_words(const void *p, size_t len)
{
	const uint32_t *w = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len / 4; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static long check_word(const void *p, size_t len, uint32_t v)
{
	const uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		if (w[i] != v)
			return (long)i;
	return -1;
}

/* 1: signalled, 0: active, <0: signalled with that error. */
static int fence_status(int fd)
{
	struct sync_file_info info;

	memset(&info, 0, sizeof(info));
	if (ioctl(fd, SYNC_IOC_FILE_INFO, &info))
		return -1000 - errno;
	return info.status;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms);
}

FIXTURE(jobs)
{
	int dev, imp, dynamic;
	size_t ps, len;
	uint8_t *mem;
	int fd, h;
};

FIXTURE_SETUP(jobs)
{
	self->dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	self->imp = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->imp, 0) TH_LOG("is udb_importer loaded?");
	self->dynamic = kernel_is_dynamic(self->dev);
	ASSERT_GE(self->dynamic, 0);
	self->ps = page_size();
	self->len = NPAGES * self->ps;
	self->mem = map_anon(self->len);
	ASSERT_NE(NULL, self->mem);
	fill(self->mem, self->len, 1);
	self->fd = udb_create(self->dev, self->mem, self->len, 0);
	ASSERT_GE(self->fd, 0) TH_LOG("create: %s", strerror(-self->fd));
	self->h = imp_attach(self->imp, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(self->h, 0) TH_LOG("attach: %s", strerror(-self->h));
}

FIXTURE_TEARDOWN(jobs)
{
	close(self->imp);
	close(self->fd);
	munmap(self->mem, self->len);
	close(self->dev);
}

TEST_F(jobs, fill_checksum_copy)
{
	struct udb_importer_job j;
	size_t ps = self->ps;
	uint64_t id;

	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0xdeadbeef, 0, &id, NULL));
	EXPECT_EQ(1ULL, id);
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(0, j.error);
	EXPECT_FALSE(!!(j.flags & UDB_IMPORTER_JOB_STALE));
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0xdeadbeef));

	/* a partial fill in the middle of pages */
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL,
				ps + 4, 3 * ps, 0x01020304, 0, &id, NULL));
	EXPECT_EQ(2ULL, id);
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(-1, check_word(self->mem, ps + 4, 0xdeadbeef));
	EXPECT_EQ(-1, check_word(self->mem + ps + 4, 3 * ps, 0x01020304));
	EXPECT_EQ(-1, check_word(self->mem + 4 * ps + 4, self->len - 4 * ps - 4,
				 0xdeadbeef));

	/* the CPU writes, the device sums: same bytes */
	fill(self->mem, self->len, 7);
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_CHECKSUM,
				0, self->len, 0, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(fnv_words(self->mem, self->len), j.result);
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_CHECKSUM,
				ps - 8, 2 * ps + 12, 0, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(fnv_words(self->mem + ps - 8, 2 * ps + 12), j.result);

	/* copy pages 0-3 (+8 bytes) to page 10 on */
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_COPY,
				10 * ps + 4, 4 * ps + 8, 4, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(0, memcmp(self->mem + 10 * ps + 4, self->mem + 4,
			    4 * ps + 8));
	/* the source is untouched */
	EXPECT_EQ(-1, check(self->mem, 10 * ps, 7));
}

TEST_F(jobs, static_attachment)
{
	struct udb_importer_job j;
	uint64_t id;
	int h;

	h = imp_attach(self->imp, self->fd, 0);
	ASSERT_GE(h, 0) TH_LOG("attach: %s", strerror(-h));
	ASSERT_EQ(0, job_submit(self->imp, h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0x55aa55aa, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_TRUE(!!(j.flags & UDB_IMPORTER_JOB_PINNED));
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0x55aa55aa));
	ASSERT_EQ(0, job_submit(self->imp, h, UDB_IMPORTER_JOB_CHECKSUM, 0,
				self->len, 0, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_EQ(fnv_words(self->mem, self->len), j.result);
	EXPECT_EQ(0, imp_detach(self->imp, h));
}

TEST_F(jobs, sync_file_signals_when_done)
{
	struct udb_importer_job j;
	uint64_t id;
	int fence;

	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0x12345678, 400, &id, &fence));
	EXPECT_NE(0, fcntl(fence, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, readable(fence, 0));
	EXPECT_EQ(0, fence_status(fence));
	ASSERT_EQ(0, job_get(self->imp, id, 0, &j));
	EXPECT_NE(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(1, readable(fence, 10000));
	EXPECT_EQ(1, fence_status(fence));
	ASSERT_EQ(0, job_get(self->imp, id, 0, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0x12345678));
	close(fence);
}

/* The job's fence is in the dma-buf's dma_resv with the right usage. */
TEST_F(jobs, fence_in_resv)
{
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ };
	struct udb_importer_job j;
	uint64_t id;
	int fence;

	/* FILL writes: a reader must wait for it */
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0xa5a5a5a5, 400, &id, &fence));
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	EXPECT_EQ(0, readable(ex.fd, 0));
	EXPECT_EQ(1, readable(ex.fd, 10000));
	/* it signalled because the job did */
	EXPECT_EQ(1, readable(fence, 0));
	ASSERT_EQ(0, job_get(self->imp, id, 0, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	close(ex.fd);
	close(fence);

	/* CHECKSUM reads: a writer waits for it, a reader does not */
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_CHECKSUM,
				0, self->len, 0, 400, &id, &fence));
	ex.flags = DMA_BUF_SYNC_READ;
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	EXPECT_EQ(1, readable(ex.fd, 0));
	close(ex.fd);
	ex.flags = DMA_BUF_SYNC_WRITE;
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	EXPECT_EQ(0, readable(ex.fd, 0));
	EXPECT_EQ(1, readable(ex.fd, 10000));
	EXPECT_EQ(1, readable(fence, 0));
	close(ex.fd);
	close(fence);
}

/*
 * A CPU change right after a long job was submitted waits for the job
 * (the exporter's notifier waits for all fences), so the job is not stale;
 * its writes went to the old pages, which MADV_DONTNEED then drops. A job
 * submitted after the change writes the new pages.
 */
TEST_F(jobs, cpu_change_waits_for_job)
{
	struct udb_importer_job j1, j2;
	uint64_t id1, id2, t0, t1;
	int fd, h, i, ret = 0;
	uint8_t *big;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	big = map_anon(BIG);
	ASSERT_NE(NULL, big);
	memset(big, 1, BIG);
	fd = udb_create(self->dev, big, BIG, 0);
	ASSERT_GE(fd, 0) TH_LOG("create: %s", strerror(-fd));
	h = imp_attach(self->imp, fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h, 0);

	ASSERT_EQ(0, job_submit(self->imp, h, UDB_IMPORTER_JOB_FILL, 0, BIG,
				0x5a5a5a5a, 300, &id1, NULL));
	t0 = now_ms();
	ASSERT_EQ(0, madvise(big, BIG, MADV_DONTNEED));
	t1 = now_ms();
	ASSERT_EQ(0, job_get(self->imp, id1, 0, &j1));
	/* done before madvise returned */
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j1.status);
	EXPECT_FALSE(!!(j1.flags & UDB_IMPORTER_JOB_STALE));
	EXPECT_GE(t1 - t0, 200ULL) TH_LOG("madvise took %llu ms",
				       (unsigned long long)(t1 - t0));
	/* the job's writes went with the old pages */
	EXPECT_EQ(-1, check_zero(big, BIG));

	/*
	 * The refresh faults and pins all 64 MiB again, which on a loaded
	 * TCG host can take longer than one udb_settle(); a map before it
	 * publishes would serve the last published snapshot (the old pages)
	 * until the notification. Submit once the new snapshot is out.
	 */
	for (i = 0; i < 10 && udb_settle(self->dev, fd) !=
			      USERPTR_DMABUF_STATE_VALID; i++)
		TH_LOG("refresh of 64 MiB still running after %d s", 2 * (i + 1));
	ret = job_submit(self->imp, h, UDB_IMPORTER_JOB_FILL, 0, BIG,
			 0x11223344, 0, &id2, NULL);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, job_get(self->imp, id2, 20000, &j2));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j2.status);
	EXPECT_FALSE(!!(j2.flags & UDB_IMPORTER_JOB_STALE));
	EXPECT_TRUE(!!(j2.flags & UDB_IMPORTER_JOB_NEW_MAPPING));
	EXPECT_GT(j2.map_seq, j1.map_seq);
	EXPECT_GT(j2.invalidations, j1.invalidations);
	EXPECT_EQ(-1, check_word(big, BIG, 0x11223344));

	EXPECT_EQ(0, imp_detach(self->imp, h));
	close(fd);
	munmap(big, BIG);
}

/*
 * A job longer than the notifier's fence wait (5 s): the CPU change goes
 * ahead without it, the refresh invalidates the mapping while the job is
 * still queued, and the job runs on the old pages it still references (the
 * documented window), so it is recorded STALE. Its writes reach the pages
 * the owner still maps, and not the page the owner dropped.
 */
TEST_F(jobs, stale_after_fence_timeout)
{
	struct userptr_dmabuf_info info;
	struct udb_importer_job j;
	size_t ps = self->ps;
	uint64_t id, t0;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0x600df00d, 6500, &id, NULL));
	t0 = now_ms();
	ASSERT_EQ(0, madvise(self->mem, ps, MADV_DONTNEED));
	EXPECT_GE(now_ms() - t0, 4000ULL);
	ASSERT_EQ(0, udb_info(self->dev, self->fd, &info));
	EXPECT_GE(info.fence_timeouts, 1ULL);
	ASSERT_EQ(0, job_get(self->imp, id, 15000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_TRUE(!!(j.flags & UDB_IMPORTER_JOB_STALE));
	EXPECT_EQ(-1, check_zero(self->mem, ps));
	EXPECT_EQ(-1, check_word(self->mem + ps, self->len - ps, 0x600df00d));
	/* the next job maps the new pages */
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0x0ddba11, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	EXPECT_FALSE(!!(j.flags & UDB_IMPORTER_JOB_STALE));
	EXPECT_TRUE(!!(j.flags & UDB_IMPORTER_JOB_NEW_MAPPING));
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0x0ddba11));
}

/* The importer's map sequence grows with every re-map after a change. */
TEST_F(jobs, map_seq_follows_invalidations)
{
	struct udb_importer_job j;
	uint64_t id, seq = 0, inval = 0;
	int i;

	if (!self->dynamic)
		SKIP(return, "no dynamic importers on this kernel");
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, job_submit(self->imp, self->h,
					UDB_IMPORTER_JOB_CHECKSUM, 0,
					self->len, 0, 0, &id, NULL));
		ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
		EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
		EXPECT_EQ(fnv_words(self->mem, self->len), j.result);
		if (i) {
			EXPECT_GT(j.map_seq, seq);
			EXPECT_GT(j.invalidations, inval);
			EXPECT_TRUE(!!(j.flags & UDB_IMPORTER_JOB_NEW_MAPPING));
		}
		seq = j.map_seq;
		inval = j.invalidations;
		/* a job on an unchanged buffer reuses the mapping */
		ASSERT_EQ(0, job_submit(self->imp, self->h,
					UDB_IMPORTER_JOB_CHECKSUM, 0,
					self->len, 0, 0, &id, NULL));
		ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
		EXPECT_EQ(seq, j.map_seq);
		EXPECT_FALSE(!!(j.flags & UDB_IMPORTER_JOB_NEW_MAPPING));
		/* change one page's backing */
		ASSERT_EQ(0, madvise(self->mem + (size_t)i * self->ps,
				     self->ps, MADV_DONTNEED));
		memset(self->mem + (size_t)i * self->ps, i + 1, self->ps);
		udb_settle(self->dev, self->fd);
	}
}

TEST_F(jobs, queue_depth)
{
	int fences[UDB_IMPORTER_MAX_QUEUED];
	struct udb_importer_job j;
	uint64_t id, last = 0;
	int i;

	/* the first job holds the device, the rest queue behind it */
	for (i = 0; i < UDB_IMPORTER_MAX_QUEUED; i++) {
		ASSERT_EQ(0, job_submit(self->imp, self->h,
					UDB_IMPORTER_JOB_CHECKSUM, 0, 4, 0,
					i ? 0 : 1500, &last, &fences[i]));
	}
	EXPECT_EQ(-EBUSY, job_submit(self->imp, self->h,
				     UDB_IMPORTER_JOB_CHECKSUM, 0, 4, 0, 0,
				     &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, last, 10000, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	for (i = 0; i < UDB_IMPORTER_MAX_QUEUED; i++) {
		EXPECT_EQ(1, fence_status(fences[i]));
		close(fences[i]);
	}
	/* the mapping references may be dropped a little later */
	for (i = 0; i < 200; i++) {
		if (!job_submit(self->imp, self->h, UDB_IMPORTER_JOB_CHECKSUM,
				0, 4, 0, 0, &id, NULL))
			break;
		usleep(5000);
	}
	EXPECT_LT(i, 200);
	EXPECT_EQ(last + 1, id);
}

/* Finished records live in a ring: old ids are forgotten. */
TEST_F(jobs, record_ring)
{
	struct udb_importer_job j;
	uint64_t id;
	int i;

	for (i = 0; i < UDB_IMPORTER_JOB_RECORDS + 8; i++) {
		ASSERT_EQ(0, job_submit(self->imp, self->h,
					UDB_IMPORTER_JOB_CHECKSUM, 0, 4, 0, 0,
					&id, NULL));
		ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
		ASSERT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	}
	EXPECT_EQ(-ENOENT, job_get(self->imp, 1, 0, NULL));
	EXPECT_EQ(0, job_get(self->imp, id - UDB_IMPORTER_JOB_RECORDS + 1, 0,
			     NULL));
	EXPECT_EQ(-EINVAL, job_get(self->imp, id + 1, 0, NULL));
	EXPECT_EQ(-EINVAL, job_get(self->imp, 0, 0, NULL));
}

/*
 * Closing the file with jobs queued: the running one finishes, the others
 * are cancelled and their fences signal with ECANCELED.
 */
TEST_F(jobs, close_with_queued_jobs)
{
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_WRITE };
	int imp2, h2, fa, fb, fc, i;
	struct udb_importer_job j;
	uint64_t ida;

	imp2 = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(imp2, 0);
	h2 = imp_attach(imp2, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h2, 0);
	ASSERT_EQ(0, job_submit(imp2, h2, UDB_IMPORTER_JOB_FILL, 0, self->len,
				0x0badf00d, 500, &ida, &fa));
	ASSERT_EQ(0, job_submit(imp2, h2, UDB_IMPORTER_JOB_FILL, 0, self->len,
				0x77777777, 0, NULL, &fb));
	ASSERT_EQ(0, job_submit(imp2, h2, UDB_IMPORTER_JOB_CHECKSUM, 0,
				self->len, 0, 0, NULL, &fc));
	for (i = 0; i < 400; i++) {
		ASSERT_EQ(0, job_get(imp2, ida, 0, &j));
		if ((int)j.status != UDB_IMPORTER_JOB_QUEUED)
			break;
		usleep(1000);
	}
	EXPECT_EQ(UDB_IMPORTER_JOB_RUNNING, (int)j.status);
	close(imp2);
	/* the release waited for the running job and cancelled the rest */
	EXPECT_EQ(1, fence_status(fa));
	EXPECT_EQ(-ECANCELED, fence_status(fb));
	EXPECT_EQ(-ECANCELED, fence_status(fc));
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0x0badf00d));
	/* nothing of that file is left in the dma-buf's reservation */
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	EXPECT_EQ(1, readable(ex.fd, 0));
	close(ex.fd);
	close(fa);
	close(fb);
	close(fc);
}

struct closer {
	int fd;
	uint64_t done_ms;
};

static void *close_thread(void *arg)
{
	struct closer *c = arg;

	close(c->fd);
	c->done_ms = now_ms();
	return NULL;
}

/*
 * The dma_resv keeps only the latest fence of a context: a cancelled job's
 * fence must not signal while an earlier job of the same file still runs,
 * or the reservation would look idle (a CPU change would not wait).
 */
TEST_F(jobs, cancel_keeps_fence_order)
{
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_READ };
	struct udb_importer_job j;
	struct closer c;
	pthread_t t;
	uint64_t ida;
	int fa, fb, i, h2;

	c.fd = open(UDB_IMPORTER_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_GE(c.fd, 0);
	h2 = imp_attach(c.fd, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC);
	ASSERT_GE(h2, 0);
	ASSERT_EQ(0, job_submit(c.fd, h2, UDB_IMPORTER_JOB_FILL, 0, self->len,
				0x1badb002, 1500, &ida, &fa));
	ASSERT_EQ(0, job_submit(c.fd, h2, UDB_IMPORTER_JOB_FILL, 0, self->len,
				0x2badb002, 0, NULL, &fb));
	for (i = 0; i < 400; i++) {
		ASSERT_EQ(0, job_get(c.fd, ida, 0, &j));
		if ((int)j.status != UDB_IMPORTER_JOB_QUEUED)
			break;
		usleep(1000);
	}
	c.done_ms = 0;
	ASSERT_EQ(0, pthread_create(&t, NULL, close_thread, &c));
	usleep(300 * 1000);
	/* the close is waiting for the running job; B is cancelled */
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	EXPECT_EQ(0, readable(ex.fd, 0));
	EXPECT_EQ(0, fence_status(fb));
	EXPECT_EQ(1, readable(ex.fd, 10000));
	EXPECT_EQ(1, fence_status(fa));
	EXPECT_EQ(-ECANCELED, fence_status(fb));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_NE(0ULL, c.done_ms);
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0x1badb002));
	close(ex.fd);
	close(fa);
	close(fb);
}

/* DETACH waits for the attachment's jobs (it does not fail with EBUSY). */
TEST_F(jobs, detach_waits_for_jobs)
{
	struct udb_importer_job j;
	uint64_t id, t0, t1;
	int fence;

	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0x31415926, 400, &id, &fence));
	t0 = now_ms();
	ASSERT_EQ(0, imp_detach(self->imp, self->h));
	t1 = now_ms();
	EXPECT_GE(t1 - t0, 200ULL);
	EXPECT_EQ(1, fence_status(fence));
	ASSERT_EQ(0, job_get(self->imp, id, 0, &j));
	EXPECT_EQ(UDB_IMPORTER_JOB_DONE, (int)j.status);
	EXPECT_EQ(-1, check_word(self->mem, self->len, 0x31415926));
	EXPECT_EQ(-ENOENT, job_submit(self->imp, self->h,
				      UDB_IMPORTER_JOB_FILL, 0, 4, 0, 0, NULL,
				      NULL));
	close(fence);
}

TEST_F(jobs, bad_arguments)
{
	struct udb_importer_submit s = {
		.handle = (uint32_t)self->h, .op = UDB_IMPORTER_JOB_FILL,
		.len = 4,
	};
	struct udb_importer_job jq = { .job_id = 1 };
	size_t len = self->len;
	int imp = self->imp, h = self->h, ro;

#define BAD(err, op, off, l, v, d) \
	EXPECT_EQ(-(err), job_submit(imp, h, op, off, l, v, d, NULL, NULL))
	BAD(EINVAL, 3, 0, 4, 0, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, 0, 0, 0, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, 2, 4, 0, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, 0, 6, 0, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, len - 4, 8, 0, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, UINT64_MAX - 3, 8, 0, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, 0, 4, 1ULL << 32, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_FILL, 0, 4, 0,
	    UDB_IMPORTER_MAX_DELAY_MS + 1);
	BAD(EINVAL, UDB_IMPORTER_JOB_CHECKSUM, 0, 4, 1, 0);
	BAD(EINVAL, UDB_IMPORTER_JOB_COPY, 0, 8, 4, 0);	/* overlap */
	BAD(EINVAL, UDB_IMPORTER_JOB_COPY, 8, 8, 2, 0);	/* unaligned src */
	BAD(EINVAL, UDB_IMPORTER_JOB_COPY, 0, 8, len - 4, 0);
	EXPECT_EQ(-ENOENT, job_submit(imp, 12345, UDB_IMPORTER_JOB_FILL, 0, 4,
				      0, 0, NULL, NULL));

	s.flags = 1;
	EXPECT_EQ(-1, ioctl(imp, UDB_IMPORTER_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.flags = 0;
	s.reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(imp, UDB_IMPORTER_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.reserved[2] = 0;
	s.job_id = 5;
	EXPECT_EQ(-1, ioctl(imp, UDB_IMPORTER_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.job_id = 0;
	EXPECT_EQ(-1, ioctl(imp, UDB_IMPORTER_IOC_SUBMIT, (void *)8));
	EXPECT_EQ(EFAULT, errno);

	/* no job yet */
	EXPECT_EQ(-1, ioctl(imp, UDB_IMPORTER_IOC_JOB, &jq));
	EXPECT_EQ(EINVAL, errno);
	jq.reserved[0] = 1;
	EXPECT_EQ(-1, ioctl(imp, UDB_IMPORTER_IOC_JOB, &jq));
	EXPECT_EQ(EINVAL, errno);

	/* a read-only attachment may only read */
	ro = imp_attach(imp, self->fd, UDB_IMPORTER_ATTACH_DYNAMIC |
				       UDB_IMPORTER_ATTACH_READONLY);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(-EPERM, job_submit(imp, ro, UDB_IMPORTER_JOB_FILL, 0, 4, 0,
				     0, NULL, NULL));
	EXPECT_EQ(-EPERM, job_submit(imp, ro, UDB_IMPORTER_JOB_COPY, 0, 4, 8,
				     0, NULL, NULL));
	EXPECT_EQ(0, job_submit(imp, ro, UDB_IMPORTER_JOB_CHECKSUM, 0, 4, 0,
				0, NULL, NULL));
	EXPECT_EQ(0, imp_detach(imp, ro));
#undef BAD
}

/* The existing synchronous COPY still works next to jobs. */
TEST_F(jobs, copy_after_jobs)
{
	struct udb_importer_job j;
	uint8_t *p;
	uint64_t id;
	int err;

	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0xcafef00d, 0, &id, NULL));
	ASSERT_EQ(0, job_get(self->imp, id, 5000, &j));
	p = imp_read_all(self->imp, self->h, self->len, &err);
	ASSERT_NE(NULL, p) TH_LOG("read: %s", strerror(-err));
	EXPECT_EQ(-1, check_word(p, self->len, 0xcafef00d));
	free(p);
}

/*
 * A job's fence may outlive the importer module in a sync_file and in the
 * dma-buf's dma_resv: asking for its status after the module is gone
 * must not touch anything of the module (on 7.x its lock is the fence's
 * inline one, whose lockdep class is the core's; on 6.12 each fence holds
 * the module, which then refuses to unload).
 */
TEST_F(jobs, job_fence_outlives_the_importer_module)
{
	const char *build = getenv("UDB_BUILD");
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_WRITE };
	char cmd[512];
	int fence, unloaded, i;

	if (geteuid() || !build)
		SKIP(return, "needs root and UDB_BUILD (unloads and reloads udb_importer)");
	ASSERT_EQ(0, job_submit(self->imp, self->h, UDB_IMPORTER_JOB_FILL, 0,
				self->len, 0x5a5a5a5a, 100, NULL, &fence));
	ASSERT_EQ(1, readable(fence, 10000));
	EXPECT_EQ(0, imp_detach(self->imp, self->h));
	close(self->imp);
	self->imp = -1;

	unloaded = system("rmmod udb_importer 2>/dev/null") == 0;
	TH_LOG("rmmod with a job fence alive: %s", unloaded ? "unloaded" : "refused");
	EXPECT_EQ(1, fence_status(fence));
	/* the dma_resv's copy of it, through a sync_file of the dma-buf */
	ASSERT_EQ(0, ioctl(self->fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex));
	EXPECT_EQ(1, fence_status(ex.fd));
	close(ex.fd);
	close(fence);
	if (!unloaded) {
		/* the last fence reference goes with the buffer's dma_resv */
		close(self->fd);
		self->fd = -1;
		for (i = 0; i < 50 && !unloaded; i++) {
			usleep(100 * 1000);
			unloaded = system("rmmod udb_importer 2>/dev/null") == 0;
		}
		EXPECT_TRUE(unloaded) TH_LOG("udb_importer still in use after its fences went");
	}
	snprintf(cmd, sizeof(cmd), "insmod %s/kmod/udb_importer.ko && { test ! -x tests/vm/udev-rule.sh || tests/vm/udev-rule.sh; }",
		 build);
	ASSERT_EQ(0, system(cmd));
}

TEST_HARNESS_MAIN
