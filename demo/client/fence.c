/* SPDX-License-Identifier: MIT */
/*
 * udb-client --fence-every N (test-only): does the compositor wait for a
 * buffer's implicit fences before it shows it?
 *
 * Every Nth frame, after drawing, the client puts an unsignalled sw_sync
 * fence into the buffer's dma_resv as a writer (DMA_BUF_IOCTL_IMPORT_
 * SYNC_FILE): to the compositor this looks like a device still rendering
 * into the buffer. It commits and asks for a capture. The capture covers
 * every commit applied before it, and a commit whose buffer is still being
 * written must be deferred, so no capture may arrive while the fence is
 * pending (a compositor that samples at once would answer). Then the
 * client signals the fence and the capture must show this very commit.
 *
 * Needs root (debugfs: /sys/kernel/debug/sync/sw_sync, CONFIG_SW_SYNC) and
 * a dma-buf (userptr or file mode).
 *
 * Lifetime: the timeline fd lives from fence_block() to fence_verify(),
 * which closes it (closing a sw_sync timeline signals what is left).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/types.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"
#include "udb-capture-v1-client-protocol.h"

/* include/uapi/linux/sync_file.h has no sw_sync part: drivers/dma-buf/sw_sync.c */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};
#define SW_SYNC_IOC_CREATE_FENCE _IOWR('W', 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW('W', 1, __u32)

#define SW_SYNC_PATH "/sys/kernel/debug/sync/sw_sync"
#define PENDING_MS 500

int fence_block(struct client *c, struct buffer *b)
{
	struct sw_sync_create_fence_data f = { .value = 1, .name = "udb-client" };
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	int dmabuf = udb_wl_buffer_get_dmabuf_fd(b->ub);
	int tl;

	if (dmabuf < 0) {
		loge("--fence-every needs a dma-buf (userptr or file mode)\n");
		return -1;
	}
	tl = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (tl < 0) {
		loge("%s: %s (root, debugfs, CONFIG_SW_SYNC)\n", SW_SYNC_PATH,
		     strerror(errno));
		return -1;
	}
	if (ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &f)) {
		loge("SW_SYNC_IOC_CREATE_FENCE: %s\n", strerror(errno));
		close(tl);
		return -1;
	}
	imp.fd = f.fence;
	if (ioctl(dmabuf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp)) {
		loge("DMA_BUF_IOCTL_IMPORT_SYNC_FILE: %s\n", strerror(errno));
		close(f.fence);
		close(tl);
		return -1;
	}
	close(f.fence);
	logv(c, "buffer %d: write fence pending\n", b->index);
	return tl;
}

int fence_verify(struct client *c, uint32_t frame, uint32_t buffer_prev,
		 int timeline)
{
	size_t len = (size_t)c->out_w * 4 * c->out_h;
	struct udb_capture_frame_v1 *f;
	struct capture cap;
	__u32 one = 1;
	int fd, i, ret = 0;

	if (!c->capture || !len) {
		close(timeline);
		return 0;
	}
	fd = memfd_create("udb-client-fence", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len)) {
		loge("memfd: %s\n", strerror(errno));
		close(timeline);
		return -1;
	}
	f = capture_start(c, fd, &cap);
	close(fd);
	for (i = 0; i < PENDING_MS / 50 && !cap.done; i++) {
		usleep(50 * 1000);
		if (wl_display_roundtrip(c->display) < 0)
			break;
	}
	if (cap.done) {
		loge("MISMATCH frame %u: the capture came back while the "
		     "buffer's write fence was pending (commit %u shown): the "
		     "compositor did not wait for implicit fences\n", frame,
		     cap.commits);
		c->mismatches++;
	}
	if (ioctl(timeline, SW_SYNC_IOC_INC, &one))
		loge("SW_SYNC_IOC_INC: %s\n", strerror(errno));
	close(timeline);
	while (!cap.done && ret >= 0)
		ret = wl_display_dispatch(c->display);
	udb_capture_frame_v1_destroy(f);
	if (ret < 0)
		return -1;
	c->fenced++;
	/* and now the frame must be on screen, exactly */
	return verify_frame(c, frame, buffer_prev);
}
