// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: per-buffer statistics in debugfs.
 *
 * /sys/kernel/debug/userptr_dmabuf/<ino>/stats: one directory per live
 * buffer, named by its dma-buf's inode number (the number the tracepoints
 * print and /sys/kernel/debug/dma_buf/bufinfo lists), holding what
 * USERPTR_DMABUF_IOC_INFO returns plus the owner and the mirrored ranges.
 * debugfs is root-only; failures to create entries are ignored, as
 * debugfs users do.
 *
 * Lifetime: the directory is added once the buffer is fully created and
 * removed first thing in udb_buffer_destroy(); debugfs_remove() waits for
 * readers inside ->show(), so ->show() may use the buffer.
 *
 * Locking: ->show() takes what udb_buffer_info() takes (buf->lock, then
 * the dma_resv lock) and nothing else; the ranges never change after
 * create.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "udb_internal.h"

static struct dentry *udb_debugfs_root;

static const char *udb_state_name(u32 state)
{
	switch (state) {
	case USERPTR_DMABUF_STATE_VALID:
		return "valid";
	case USERPTR_DMABUF_STATE_STALE:
		return "stale";
	case USERPTR_DMABUF_STATE_FAULT:
		return "fault";
	case USERPTR_DMABUF_STATE_DEAD:
		return "dead";
	}
	return "unknown";
}

static int udb_stats_show(struct seq_file *m, void *unused)
{
	struct udb_buffer *buf = m->private;
	struct userptr_dmabuf_info info = { };
	unsigned int i;

	udb_buffer_info(buf, &info);
	seq_printf(m, "owner_pid: %d\n", buf->owner_pid);
	seq_printf(m, "uid: %u\n", buf->uid);
	seq_printf(m, "size: %llu\n", info.size);
	seq_printf(m, "flags: %#x\n", info.flags);
	seq_printf(m, "state: %s\n", udb_state_name(info.state));
	seq_printf(m, "last_error: %d\n", info.last_error);
	seq_printf(m, "generation: %llu\n", info.generation);
	seq_printf(m, "invalidations: %llu\n", info.invalidations);
	seq_printf(m, "pinned_invalidations: %llu\n",
		   info.pinned_invalidations);
	seq_printf(m, "pinned_pages: %llu\n", info.pinned_pages);
	seq_printf(m, "attachments: %u\n", info.attachments);
	seq_printf(m, "mmaps: %u\n", info.mmaps);
	seq_printf(m, "fence_timeouts: %llu\n", info.fence_timeouts);
	seq_printf(m, "last_window_ns: %llu\n", info.last_window_ns);
	mutex_lock(&buf->lock);
	seq_printf(m, "refresh_postponed: %llu\n", buf->postponed);
	seq_printf(m, "refresh_busy: %d\n", !!buf->postponed_in_row);
	mutex_unlock(&buf->lock);
	seq_printf(m, "dma_map_pages: %llu\n", READ_ONCE(buf->dma_map_pages));
	seq_printf(m, "maps_patched: %llu\n", READ_ONCE(buf->maps_patched));
	seq_printf(m, "map_hold_pages: %llu\n", READ_ONCE(buf->map_hold_pages));
	seq_printf(m, "kept_map_pages: %ld\n",
		   atomic_long_read(&buf->devmap_pages));
	seq_printf(m, "ranges: %u\n", info.nranges);
	for (i = 0; i < buf->nranges; i++)
		seq_printf(m, "range%u: %#lx-%#lx\n", i, buf->ranges[i].start,
			   buf->ranges[i].end);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(udb_stats);

/**
 * udb_debugfs_add() - create the buffer's debugfs directory
 * @buf: a fully created buffer
 *
 * Context: process context, no locks held.
 */
void udb_debugfs_add(struct udb_buffer *buf)
{
	char name[24];

	if (IS_ERR_OR_NULL(udb_debugfs_root))
		return;
	snprintf(name, sizeof(name), "%lu", buf->ino);
	buf->debugfs = debugfs_create_dir(name, udb_debugfs_root);
	debugfs_create_file("stats", 0400, buf->debugfs, buf, &udb_stats_fops);
}

/**
 * udb_debugfs_remove() - remove it, waiting for readers
 * @buf: the buffer
 *
 * Context: process context, no locks held.
 */
void udb_debugfs_remove(struct udb_buffer *buf)
{
	debugfs_remove(buf->debugfs);
	buf->debugfs = NULL;
}

/** udb_debugfs_init() - create /sys/kernel/debug/userptr_dmabuf */
void udb_debugfs_init(void)
{
	udb_debugfs_root = debugfs_create_dir("userptr_dmabuf", NULL);
}

/** udb_debugfs_exit() - remove it (every buffer is gone by then) */
void udb_debugfs_exit(void)
{
	debugfs_remove(udb_debugfs_root);
}
