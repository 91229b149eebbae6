/* SPDX-License-Identifier: GPL-2.0 */
/*
 * userptr-dmabuf: objects shared by the module's files.
 *
 * A struct udb_buffer mirrors one or more user address ranges of its
 * owner's mm and is exported as one dma-buf. See udb_buffer.c for the
 * locking rules; in short, the lock order is
 *
 *   udb_buffer.pin_lock -> udb_buffer.refresh_lock -> mmap_lock ->
 *   dma_resv -> udb_buffer.lock
 *
 * plus dma_resv -> folio lock (pages let go after device writes are
 * dirtied under dma_resv: unmap, vunmap, kept mappings),
 * and udb_buffer.lock is also taken inside the mmu notifier, so nothing may
 * allocate memory, wait for a fence or call into the mm while holding it.
 */
#ifndef _USERPTR_DMABUF_INTERNAL_H
#define _USERPTR_DMABUF_INTERNAL_H

#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "userptr_dmabuf.h"

struct udb_buffer;

/**
 * struct udb_range - one mirrored range of a buffer
 * @buf: the buffer it belongs to
 * @notifier: interval notifier over [@start, @end) of the owner's mm
 * @start: first user address
 * @end: one past the last user address
 * @first: index of the range's first page within the buffer
 * @seq: notifier sequence sampled at the start of the refresh pass in
 *	progress; any invalidation after it makes the pass retry
 * @shared: every VMA over the range was a shared mapping when a refresh
 *	last faulted all of it (false until then, and as soon as a fault
 *	finds a private one). Shared mappings are never COW, so their
 *	MMU_NOTIFY_PROTECTION_PAGE calls come from writeback's mkclean,
 *	which write-protects the pages in place.
 */
struct udb_range {
	struct udb_buffer *buf;
	struct mmu_interval_notifier notifier;
	unsigned long start;
	unsigned long end;
	pgoff_t first;
	unsigned long seq;
	bool shared;
};

/**
 * struct udb_pinset - pages held with FOLL_LONGTERM for pinned users
 * @ref: one per pre-pinned attachment
 * @buf: owner
 * @npages: number of pages, always the whole buffer
 * @pages: the pinned pages
 */
struct udb_pinset {
	struct kref ref;
	struct udb_buffer *buf;
	unsigned long npages;
	struct page *pages[] __counted_by(npages);
};

/**
 * struct udb_buffer - a user range exported as a dma-buf
 * @dmabuf: the exported buffer; its resv is the dma_resv lock
 * @mm: owner's mm (mmgrab()ed); faulted only while mmget_not_zero()
 * @ino: the dma-buf's inode number, names the buffer in traces
 * @owner: the creator's thread-group leader (referenced): pins are checked
 *	against its RLIMIT_MEMLOCK, as they are charged to its mm
 * @lock_cap: the creator had CAP_IPC_LOCK: pins are not limited
 * @owner_pid: tgid of the creator, for the dma-buf name and debugfs
 * @uid: creator's uid in init_user_ns, charged for the buffer
 * @flags: USERPTR_DMABUF_CREATE_* flags
 * @size: total bytes
 * @npages: total pages
 * @nranges: number of @ranges
 * @ranges: the mirrored ranges, in buffer order
 * @lock: protects the snapshot (@pages, @kept, @kept_refs, @nopin,
 *	@pins_charged,
 *	@cpu_refs,
 *	@dirty_lo/@dirty_hi, @refault_lo/@refault_hi, @state, @generation, @mmap_seq,
 *	@refreshes, @postponed, @postponed_in_row) and the statistics. Taken in the
 *	notifier.
 * @pages: the snapshot: for every page outside [@dirty_lo, @dirty_hi) the
 *	page the owner's page tables map. Unless @kept, no reference is
 *	held and pages inside the window are NULL
 * @kept: the snapshot is kept for devices: every non-NULL entry of @pages
 *	holds one FOLL_PIN | FOLL_LONGTERM pin of the snapshot's own, taken
 *	by the refresh (a page reference instead when @kept_refs). An
 *	invalidation then keeps the pages it dirties until the next publish
 *	replaces them, so the last published snapshot stays whole for
 *	map_dma_buf(); a failed refresh drops them. True from the first
 *	publish after a dynamic attach until the first refresh after the last
 *	such detach
 * @kept_refs: the kept snapshot holds references, not pins (@nopin)
 * @nopin: the owner's VMAs over the buffer refuse FOLL_LONGTERM (a shared
 *	mapping whose filesystem tracks writes, for a writable buffer): the
 *	snapshot is kept with page references, as device
 *	mappings of such memory always were, and no dynamic attachment may
 *	dma_buf_pin() it. Set by each refresh
 * @pins_charged: the snapshot's pins are charged to the owner (from the
 *	first dynamic attach until the refresh after the last detach)
 * @resync: some attachment's udb_attachment.resync is set (under the
 *	dma_resv lock; read without it as a hint)
 * @notify_seq: bumped by every notification of importers (under the
 *	dma_resv lock)
 * @cpu_refs: a reference per page mapped into a CPU mapping of the
 *	dma-buf, dropped after those mappings are zapped
 * @dirty_lo: first page index invalidated since the last publish
 * @dirty_hi: one past the last; @dirty_lo >= @dirty_hi means clean
 * @refault_lo: first page index invalidated since the current refresh
 *	pass began: a pass that has to retry re-faults only
 *	[@refault_lo, @refault_hi), the rest of its faults are still good
 * @refault_hi: one past the last; empty when @refault_lo >= @refault_hi
 * @state: USERPTR_DMABUF_STATE_*
 * @last_error: errno of the last failed refresh
 * @generation: bumped by each publish
 * @mmap_seq: bumped before CPU mappings of the dma-buf are zapped
 * @zero_mapped: a CPU mapping of the dma-buf shows the zero page for a
 *	page the owner no longer maps (state FAULT or DEAD); the next
 *	publish zaps those
 * @zero_work: while FAULT, zaps those zero pages again after a while, so
 *	that the next read faults, retries the refresh and finds a range
 *	that was mapped again
 * @invalidations: notifier calls that hit the buffer
 * @pinned_invalidations: those that hit while @pinset was live
 * @fence_timeouts: notifier calls that stopped waiting for device work
 * @umm: state shared with the owner mm's other buffers
 * @stale_since: ktime_get_ns() when the buffer last went from VALID to STALE
 * @last_window_ns: stale_since to notification, for the last publish
 * @refresh_lock: serialises refreshes; protects @hmm_pfns
 * @hmm_pfns: hmm_range_fault() output, one per page
 * @refresh_work: runs udb_buffer_refresh() after an invalidation (at once,
 *	through udb_queue_refresh()), or a while after a refresh postponed
 * @slot_node: on the owner's list of buffers whose refresh waits for one
 *	of the user's running-refresh slots (udb_owner.c), else empty
 * @slot_granted: a refresh that ended handed its slot to this buffer,
 *	whose work is queued to use it (under udb_owner.c's lock)
 * @kcov_handle: KCOV common handle of the task that last queued
 *	@refresh_work (0: none), so the refresh counts as that task's
 *	coverage (a fuzzer's feedback)
 * @refreshes: refreshes that finished (published, failed or postponed)
 * @postponed: refreshes postponed so far
 * @postponed_in_row: refreshes postponed since the last publish or failure
 *	(-EBUSY: invalidations kept colliding); non-zero while the work
 *	retries after a back-off that grows with it
 * @refreshed: woken after each publish or failed refresh
 * @fence_context: dma_fence context of the refresh fences
 * @fence_seqno: last refresh fence seqno
 * @pin_lock: protects @pinset creation and teardown (with the resv lock)
 * @pinset: pinned pages, or NULL
 * @dyn_attachments: attachments served from the snapshot (under @lock).
 *	While there is one the snapshot is
 *	@kept (charged to the owner's pinned_vm), and while there is one, a
 *	CPU mapping or a vmap, an invalidation is refreshed at once; otherwise
 *	the buffer just goes STALE, and the refresh waits until someone needs
 *	the snapshot (udb_buffer_wanted())
 * @mappings: live map_dma_buf() results (under the dma_resv lock)
 * @devmaps: the kept device mappings (udb_devmap.c), including one whose
 *	attachment the core has already taken off its list for a detach
 *	(under the dma_resv lock)
 * @dma_map_pages: pages DMA-mapped by map_dma_buf() so far (under the
 *	dma_resv lock; debugfs)
 * @maps_patched: map_dma_buf() calls served from an attachment's kept
 *	mapping (under the dma_resv lock; debugfs)
 * @map_hold_pages: pages map_dma_buf() took into a mapping, all of them
 *	for a per-call mapping (each held), the changed ones for a kept one
 *	(borrowing the snapshot's pins) (under the dma_resv lock; debugfs)
 * @devmap_pages: pages the kept mappings name (debugfs)
 * @devmap_own: of those, pages the kept mappings hold themselves, the
 *	snapshot having let them go (or published them again since, until
 *	the next trim) (debugfs)
 * @devmap_entries: entries of the kept mappings' tables (debugfs)
 * @inline_pins: snapshots the owner's own attach pinned (debugfs)
 * @mmaps: live CPU mappings of the dma-buf
 * @vmap_pages: the pages of the live vmap, referenced (under the dma_resv
 *	lock)
 * @vmap_vaddr: their kernel mapping (under the dma_resv lock)
 * @vmapped: a vmap is live (under @lock, for the notifier)
 * @debugfs_node: on the debugfs list of buffers (under its lock)
 */
struct udb_buffer {
	struct dma_buf *dmabuf;
	struct mm_struct *mm;
	struct task_struct *owner;
	bool lock_cap;
	unsigned long ino;
	pid_t owner_pid;
	uid_t uid;
	u32 flags;
	size_t size;
	unsigned long npages;
	unsigned int nranges;
	struct udb_range *ranges;

	struct mutex lock;	/* snapshot; taken in the notifier */
	struct page **pages;
	bool kept;
	bool kept_refs;
	bool nopin;
	bool pins_charged;
	bool resync;
	u64 notify_seq;
	struct page **cpu_refs;
	unsigned long dirty_lo;
	unsigned long dirty_hi;
	unsigned long refault_lo;
	unsigned long refault_hi;
	u32 state;
	int last_error;
	u64 generation;
	u64 mmap_seq;
	bool zero_mapped;
	struct delayed_work zero_work;
	u64 invalidations;
	u64 pinned_invalidations;
	u64 fence_timeouts;
	struct udb_mm *umm;
	u64 stale_since;
	u64 last_window_ns;

	struct mutex refresh_lock;	/* one refresh at a time */
	unsigned long *hmm_pfns;
	struct delayed_work refresh_work;
	struct list_head slot_node;
	bool slot_granted;
	u64 kcov_handle;
	u64 refreshes;
	u64 postponed;
	u64 postponed_in_row;
	wait_queue_head_t refreshed;

	u64 fence_context;
	u64 fence_seqno;

	struct mutex pin_lock;	/* pin set lifetime, before mmap_lock */
	struct udb_pinset *pinset;

	unsigned int dyn_attachments;
	struct list_head mappings;
	struct list_head devmaps;
	u64 dma_map_pages;
	u64 maps_patched;
	u64 map_hold_pages;
	atomic_long_t devmap_pages;
	atomic_long_t devmap_own;
	atomic_long_t devmap_entries;
	u64 inline_pins;
	atomic_t mmaps;
	struct page **vmap_pages;
	void *vmap_vaddr;
	bool vmapped;
	struct list_head debugfs_node;
};

/**
 * struct udb_held - pages a dynamic attachment holds while it is pinned
 * @npages: number of pages, the whole buffer
 * @pages: the snapshot's pages when dma_buf_pin() was called, each held
 *	with udb_page_hold()
 */
struct udb_held {
	unsigned long npages;
	struct page *pages[] __counted_by(npages);
};

/**
 * struct udb_attachment - exporter state of one attachment
 * @pinset: reference taken at attach for attachments that may pin
 * @held: for a dynamic attachment while dma_buf_pin()ned: what its maps
 *	serve (under the dma_resv lock)
 * @held_seq: buf->notify_seq when @held was taken
 * @pin_count: ->pin() calls not yet undone (under the dma_resv lock)
 * @resync: unpinned after a newer snapshot was published: the refresh
 *	worker tells it to re-map (under the dma_resv lock)
 * @devmap: its mapping of the snapshot, kept across invalidations
 *	(udb_devmap.c; under the dma_resv lock)
 * @devmap_off: keep no mapping: the importer's device was unbound (under
 *	the dma_resv lock)
 */
struct udb_attachment {
	struct udb_pinset *pinset;
	struct udb_held *held;
	u64 held_seq;
	unsigned int pin_count;
	bool resync;
	struct udb_devmap *devmap;
	bool devmap_off;
};

/* Longest the notifier waits for device work before letting the CPU go on. */
#define UDB_FENCE_WAIT_MS	5000

/**
 * struct udb_mm - state shared by the buffers of one owner mm (udb_owner.c)
 * @node: in the module's table, keyed by @mm
 * @mm: the owner's mm (not referenced here: every buffer mmgrab()s it)
 * @ref: buffers using the entry (under the table's lock)
 * @stuck_until: jiffies_64 until which the notifiers of this mm's buffers do
 *	not wait for device work, after one such wait timed out; before the
 *	first, a time whose window lies in the past
 */
struct udb_mm {
	struct hlist_node node;
	struct mm_struct *mm;
	unsigned int ref;
	u64 stuck_until;
};

/* udb_owner.c */
void udb_owner_init(void);
int udb_user_charge(uid_t uid, u64 size);
void udb_user_uncharge(uid_t uid, u64 size);
bool udb_user_refresh_begin(struct udb_buffer *buf);
void udb_user_refresh_end(struct udb_buffer *buf);
void udb_user_refresh_forget(struct udb_buffer *buf);
struct udb_mm *udb_mm_get(struct mm_struct *mm);
void udb_mm_put(struct udb_mm *um);

/* udb_main.c: runs refreshes (unbound, so one stuck fault blocks no one else) */
extern struct workqueue_struct *udb_wq;

/* udb_buffer.c */
int udb_buffer_create(const struct userptr_dmabuf_range *ranges,
		      unsigned int nranges, u32 flags, size_t max_size,
		      struct udb_buffer **out);
void udb_buffer_destroy(struct udb_buffer *buf);
int udb_buffer_refresh(struct udb_buffer *buf);
void udb_queue_refresh(struct udb_buffer *buf);
int udb_buffer_settle(struct udb_buffer *buf, unsigned int timeout_ms);
bool udb_buffer_info(struct udb_buffer *buf, struct userptr_dmabuf_info *info,
		     bool nowait);
bool udb_vma_needs_dirty_tracking(struct vm_area_struct *vma);
int udb_check_vmas(struct mm_struct *mm, unsigned long start,
		   unsigned long end, bool readonly, bool *shared);
void udb_dirty_page(struct page *page);

/*
 * Grow the window [*wlo, *whi) (empty when *wlo >= *whi) by [lo, hi);
 * WRITE_ONCE() for the windows lockless readers peek at.
 */
static inline void udb_window_extend(unsigned long *wlo, unsigned long *whi,
				     unsigned long lo, unsigned long hi)
{
	if (*wlo >= *whi) {
		WRITE_ONCE(*wlo, lo);
		WRITE_ONCE(*whi, hi);
		return;
	}
	WRITE_ONCE(*wlo, min(*wlo, lo));
	WRITE_ONCE(*whi, max(*whi, hi));
}

/* The longest scatterlist entry @dev takes, in bytes. */
static inline unsigned int udb_max_segment(struct device *dev)
{
	size_t lim = min_t(size_t, dma_max_mapping_size(dev),
			   dma_get_max_seg_size(dev));

	return max(min_t(size_t, lim, UINT_MAX) & PAGE_MASK, PAGE_SIZE);
}

/*
 * A device mapping's hold on a page of a pinned snapshot or pin set: one
 * more FOLL_PIN pin of its own where the kernel lets a module add pins to a
 * pinned page (7.x: folio_add_pins()), else a reference, which keeps the
 * page alive (it stays pinned while the snapshot or pin set keeps it).
 * The zero page is never pinned, and needs no reference.
 */
static inline int udb_page_hold(struct page *page)
{
	if (is_zero_page(page))
		return 0;
#ifdef UDB_HAVE_FOLIO_ADD_PINS
	return folio_add_pins(page_folio(page), 1);
#else
	get_page(page);
	return 0;
#endif
}

static inline void udb_page_release(struct page *page)
{
	if (is_zero_page(page))
		return;
#ifdef UDB_HAVE_FOLIO_ADD_PINS
	unpin_user_page(page);
#else
	put_page(page);
#endif
}

/* udb_buffer.c: the snapshot's pins, charged while dynamically attached */
int udb_buffer_dyn_attach(struct udb_buffer *buf, unsigned int timeout_ms);
void udb_buffer_dyn_detach(struct udb_buffer *buf);
int udb_pins_charge(struct udb_buffer *buf, unsigned long npages);
void udb_pins_uncharge(struct udb_buffer *buf, unsigned long npages);

/*
 * DMA attributes of every table map_dma_buf() hands out: the CPU syncs are
 * explicit, and attachments map the same cachelines (kept tables for
 * long), which DMA-API debug need not count as overlapping (7.x can say
 * so; 6.12 warns once past 7 live mappings of a cacheline).
 */
#ifdef DMA_ATTR_DEBUGGING_IGNORE_CACHELINES
#define UDB_DMA_MAP_ATTRS \
	(DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_DEBUGGING_IGNORE_CACHELINES)
#else
#define UDB_DMA_MAP_ATTRS	DMA_ATTR_SKIP_CPU_SYNC
#endif

/*
 * The errno a buffer serves nothing with: the failed refresh's while FAULT,
 * -ENODEV once DEAD, else 0. Under buf->lock.
 */
static inline int udb_state_errno(struct udb_buffer *buf)
{
	lockdep_assert_held(&buf->lock);
	if (buf->state == USERPTR_DMABUF_STATE_FAULT)
		return buf->last_error;
	if (buf->state == USERPTR_DMABUF_STATE_DEAD)
		return -ENODEV;
	return 0;
}

/*
 * Whether the snapshot is kept with FOLL_LONGTERM pins (not with page
 * references, not let go): what pinned attachments and kept mappings
 * need. Under buf->lock.
 */
static inline bool udb_snapshot_pinned(struct udb_buffer *buf)
{
	lockdep_assert_held(&buf->lock);
	return buf->kept && !buf->kept_refs;
}

/*
 * After a map served a buffer in @state: a STALE one nobody followed has
 * no refresh queued yet, and a FAULT range may have been mapped again
 * since; (re)try either way.
 */
static inline void udb_map_catch_up(struct udb_buffer *buf, u32 state)
{
	if (state == USERPTR_DMABUF_STATE_STALE ||
	    state == USERPTR_DMABUF_STATE_FAULT)
		udb_queue_refresh(buf);
}

/* udb_devmap.c: dynamic attachments' mappings, kept across invalidations */
void udb_sync_handed_out(struct device *dev, struct sg_table *sgt,
			 enum dma_data_direction dir, bool for_cpu);
struct sg_table *udb_devmap_map(struct udb_buffer *buf,
				struct udb_attachment *ua, struct device *dev,
				enum dma_data_direction dir);
bool udb_devmap_unmap(struct udb_buffer *buf, struct udb_attachment *ua,
		      struct sg_table *sgt);
void udb_devmap_changed(struct udb_buffer *buf, unsigned long lo,
			unsigned long hi);
void udb_devmap_trim_idle(struct udb_buffer *buf);
void udb_devmap_sync(struct udb_buffer *buf, bool for_cpu);
void udb_devmap_release(struct udb_buffer *buf, struct udb_attachment *ua,
			bool detach);

/* udb_dmabuf.c */
int udb_dmabuf_export(struct udb_buffer *buf);
struct udb_buffer *udb_dmabuf_to_buffer(struct dma_buf *dmabuf);

/* udb_mmap.c */
int udb_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma);
void udb_mmap_zero_work(struct work_struct *work);
void udb_mmap_zap(struct udb_buffer *buf, unsigned long lo, unsigned long hi,
		  bool force);

/*
 * The snapshot's page at @pgoff, or NULL while it is dirty or once the
 * owner is gone (DEAD serves nothing). Under buf->lock.
 */
static inline struct page *udb_snapshot_page(struct udb_buffer *buf,
					     pgoff_t pgoff)
{
	if (buf->state == USERPTR_DMABUF_STATE_DEAD)
		return NULL;
	if (pgoff >= buf->dirty_lo && pgoff < buf->dirty_hi)
		return NULL;
	return buf->pages[pgoff];
}

/*
 * Test builds only (make UDB_DEBUG_HOOKS=y): module parameters that widen a
 * race window on purpose, so that a test can show what happens inside it.
 */
enum udb_delay_point {
	UDB_DELAY_INSERT,	/* CPU-mapping fault: around the PTE insert */
	UDB_DELAY_SIGNAL,	/* refresh: before it signals its fence */
	UDB_DELAY_REFRESH,	/* refresh pass: before it faults */
	UDB_DELAY_DETACH,	/* ->detach: before it lets the kept mapping go */
	UDB_DELAY_PIN,		/* pin set: before the pass that may fault */
	UDB_DELAY_NR,
};

#ifdef UDB_DEBUG_HOOKS
void udb_debug_delay(enum udb_delay_point point);
#else
static inline void udb_debug_delay(enum udb_delay_point point) { }
#endif

/* udb_debugfs.c */
void udb_debugfs_add(struct udb_buffer *buf);
void udb_debugfs_remove(struct udb_buffer *buf);
void udb_debugfs_init(void);
void udb_debugfs_exit(void);

/* udb_pin.c */
struct udb_pinset *udb_pinset_get(struct udb_buffer *buf);
void udb_pinset_put(struct udb_pinset *ps);

/* udb_fence.c */
struct dma_fence *udb_fence_alloc(struct udb_buffer *buf);

#endif /* _USERPTR_DMABUF_INTERNAL_H */
