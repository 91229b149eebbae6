// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: per-buffer statistics in debugfs.
 *
 * /sys/kernel/debug/userptr_dmabuf/buffers: one block per live buffer,
 * opened by a "buffer: <ino>" line (its dma-buf's inode number, which the
 * tracepoints print and /sys/kernel/debug/dma_buf/bufinfo lists) and
 * closed by an empty line, holding what USERPTR_DMABUF_IOC_INFO returns
 * plus the owner and the mirrored ranges. One file for all buffers, as
 * dma-buf's bufinfo: creating a buffer adds a list entry, not debugfs
 * inodes. debugfs is root-only.
 *
 * Lifetime: a buffer is listed once it is fully created and unlisted
 * first thing in udb_buffer_destroy(), under udb_buffers_lock, which
 * ->show() holds while it walks the list: it may use the buffers.
 *
 * Locking: udb_buffers_lock, then buf->lock and a trylock of the dma_resv
 * lock (udb_buffer_info()): a reader never waits for an importer holding
 * it, so neither does the creation or teardown of any buffer. The ranges
 * never change after create.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "udb_internal.h"

static struct dentry *udb_debugfs_root;
static LIST_HEAD(udb_buffers);
static DEFINE_MUTEX(udb_buffers_lock);

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

static void udb_buffer_show(struct seq_file *m, struct udb_buffer *buf)
{
	struct userptr_dmabuf_info info = { };
	unsigned int i;
	bool busy;

	seq_printf(m, "buffer: %lu\n", buf->ino);
	busy = !udb_buffer_info(buf, &info, true);
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
	if (busy) {	/* not shown rather than wait for an importer */
		seq_puts(m, "pinned_pages: busy\nattachments: busy\n");
	} else {
		seq_printf(m, "pinned_pages: %llu\n", info.pinned_pages);
		seq_printf(m, "attachments: %u\n", info.attachments);
	}
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
	seq_printf(m, "kept_map_own: %ld\n",
		   atomic_long_read(&buf->devmap_own));
	seq_printf(m, "kept_map_entries: %ld\n",
		   atomic_long_read(&buf->devmap_entries));
	seq_printf(m, "inline_pins: %llu\n", READ_ONCE(buf->inline_pins));
	seq_printf(m, "ranges: %u\n", info.nranges);
	for (i = 0; i < buf->nranges; i++)
		seq_printf(m, "range%u: %#lx-%#lx\n", i, buf->ranges[i].start,
			   buf->ranges[i].end);
	seq_putc(m, '\n');
}

/*
 * All buffers in one ->show(): seq_file regenerates it whole until it fits
 * and hands it out across read() calls, so a reader sees one consistent
 * list, not records shifted by buffers that came or went between reads.
 */
static int udb_buffers_show(struct seq_file *m, void *unused)
{
	struct udb_buffer *buf;

	mutex_lock(&udb_buffers_lock);
	list_for_each_entry(buf, &udb_buffers, debugfs_node) {
		/* seq_file grows its buffer and calls again from the start */
		if (seq_has_overflowed(m))
			break;
		udb_buffer_show(m, buf);
	}
	mutex_unlock(&udb_buffers_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(udb_buffers);

/**
 * udb_debugfs_add() - list a fully created buffer
 * @buf: the buffer
 *
 * Context: process context, no locks held.
 */
void udb_debugfs_add(struct udb_buffer *buf)
{
	mutex_lock(&udb_buffers_lock);
	list_add_tail(&buf->debugfs_node, &udb_buffers);
	mutex_unlock(&udb_buffers_lock);
}

/**
 * udb_debugfs_remove() - unlist it, waiting for a reader showing it
 * @buf: the buffer, listed or never listed (a failed create)
 *
 * Context: process context, no locks held.
 */
void udb_debugfs_remove(struct udb_buffer *buf)
{
	mutex_lock(&udb_buffers_lock);
	list_del_init(&buf->debugfs_node);
	mutex_unlock(&udb_buffers_lock);
}

/** udb_debugfs_init() - create /sys/kernel/debug/userptr_dmabuf */
void udb_debugfs_init(void)
{
	udb_debugfs_root = debugfs_create_dir("userptr_dmabuf", NULL);
	debugfs_create_file("buffers", 0400, udb_debugfs_root, NULL,
			    &udb_buffers_fops);
}

/** udb_debugfs_exit() - remove it (every buffer is gone by then) */
void udb_debugfs_exit(void)
{
	debugfs_remove(udb_debugfs_root);
}
