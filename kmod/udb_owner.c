// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: what buffers cost their owners, per user and per mm.
 *
 * Per user (uid in init_user_ns): the number of live buffers and the bytes
 * they mirror, each with a limit. A buffer costs kernel memory for every
 * page it mirrors (about 24 bytes: snapshot, CPU-mapping references and
 * hmm_range_fault() output) whether or not the pages are ever touched, and
 * the same range may be mirrored by many buffers, so bytes are limited, not
 * only buffers. The per-page arrays are also charged to the creator's
 * memory cgroup (GFP_KERNEL_ACCOUNT).
 *
 * Per owner mm: when the mmu notifier of one of its buffers has waited
 * UDB_FENCE_WAIT_MS for device work in vain, the notifiers of all its
 * buffers go ahead without waiting until that much time has passed, so
 * that an munmap or reclaim over many buffers whose fences never signal
 * (any dma-buf fd holder can add one) costs the owner one wait, not one
 * each. The price: an fd holder of one buffer who adds such a fence makes
 * the owner's other buffers skip their waits for that while, which costs
 * their importers coherence (counted in fence_timeouts), not memory
 * safety (mappings hold their pages).
 *
 * Locking: udb_users_lock protects the per-user counters and waiting
 * lists, udb_mms_lock the per-mm table and reference counts; neither is
 * held while calling out (queueing a work item is all they do inside).
 * udb_mm.stuck_until is read and written locklessly (the notifier).
 */
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "udb_internal.h"

static unsigned int max_buffers_per_user = 4096;
module_param(max_buffers_per_user, uint, 0644);
MODULE_PARM_DESC(max_buffers_per_user,
		 "Live buffers one user may own (default 4096)");

static unsigned int max_mb_per_user;
module_param(max_mb_per_user, uint, 0644);
MODULE_PARM_DESC(max_mb_per_user,
		 "MiB one user's buffers may mirror in all (0: twice the RAM, the default)");

/**
 * struct udb_user - what one uid's live buffers cost
 * @buffers: how many
 * @bytes: the sum of their sizes
 * @refreshing: its running-refresh slots in use: refresh work items of
 *	its buffers running now, or queued with a slot handed to them
 * @waiting: its buffers whose refresh waits for one of those to end
 *	(udb_buffer.slot_node), oldest first
 */
struct udb_user {
	unsigned long buffers;
	u64 bytes;
	unsigned int refreshing;
	struct list_head waiting;
};

/*
 * A refresh runs the owner's page faults, which may never complete (a FUSE
 * server that does not answer): one user may tie up this many of the
 * module's workers at a time, so that others' refreshes still run.
 */
#define UDB_USER_MAX_REFRESHING	8

static DEFINE_XARRAY(udb_users);
static DEFINE_MUTEX(udb_users_lock);

/* Twice the RAM, in MiB: what max_mb_per_user 0 stands for. */
static unsigned int udb_default_mb(void)
{
	return min_t(u64, UINT_MAX, (u64)totalram_pages() >> (19 - PAGE_SHIFT));
}

/**
 * udb_owner_init() - show the default byte limit in the module parameter
 *
 * Context: module init.
 */
void udb_owner_init(void)
{
	if (!max_mb_per_user)
		max_mb_per_user = udb_default_mb();
}

/**
 * udb_user_charge() - account a new buffer of @size bytes to @uid
 * @uid: the creator's uid in init_user_ns
 * @size: the buffer's size
 *
 * Context: process context, may sleep.
 * Return: 0, -EMFILE over max_buffers_per_user, -ENOMEM over
 * max_mb_per_user or without memory.
 */
int udb_user_charge(uid_t uid, u64 size)
{
	unsigned int mb = READ_ONCE(max_mb_per_user);
	u64 limit;
	struct udb_user *u;
	int ret = 0;

	limit = (u64)(mb ?: udb_default_mb()) << 20;
	mutex_lock(&udb_users_lock);
	u = xa_load(&udb_users, uid);
	if (!u) {
		u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
		if (!u || xa_err(xa_store(&udb_users, uid, u, GFP_KERNEL))) {
			kfree(u);
			ret = -ENOMEM;
			goto out;
		}
		INIT_LIST_HEAD(&u->waiting);
	}
	if (u->buffers >= READ_ONCE(max_buffers_per_user))
		ret = -EMFILE;
	else if (size > limit || u->bytes > limit - size)
		ret = -ENOMEM;
	if (!ret) {
		u->buffers++;
		u->bytes += size;
	} else if (!u->buffers) {
		xa_erase(&udb_users, uid);
		kfree(u);
	}
out:
	mutex_unlock(&udb_users_lock);
	return ret;
}

/**
 * udb_user_uncharge() - undo udb_user_charge()
 * @uid: as charged
 * @size: as charged
 *
 * Context: process context, may sleep.
 */
void udb_user_uncharge(uid_t uid, u64 size)
{
	struct udb_user *u;

	mutex_lock(&udb_users_lock);
	u = xa_load(&udb_users, uid);
	if (!WARN_ON_ONCE(!u || !u->buffers || u->bytes < size)) {
		u->buffers--;
		u->bytes -= size;
		if (!u->buffers) {
			/* every buffer took its slot and place back first */
			WARN_ON_ONCE(u->refreshing || !list_empty(&u->waiting));
			xa_erase(&udb_users, uid);
			kfree(u);
		}
	}
	mutex_unlock(&udb_users_lock);
}

/**
 * udb_user_refresh_begin() - claim one of the owner's running-refresh slots
 * @buf: the buffer whose refresh work is about to run
 *
 * Without a free slot the buffer joins its owner's waiting list; a refresh
 * that ends hands its slot to the oldest waiter and queues its work: no
 * polling, however many buffers wait behind refreshes stuck in faults.
 *
 * Context: process context (the refresh work), may sleep.
 * Return: true if the refresh may run now; false if the owner has
 * UDB_USER_MAX_REFRESHING running.
 */
bool udb_user_refresh_begin(struct udb_buffer *buf)
{
	struct udb_user *u;
	bool ok = false;

	mutex_lock(&udb_users_lock);
	u = xa_load(&udb_users, buf->uid);
	if (WARN_ON_ONCE(!u))
		goto out;
	if (buf->slot_granted) {
		buf->slot_granted = false;
		ok = true;
	} else if (u->refreshing < UDB_USER_MAX_REFRESHING) {
		u->refreshing++;
		list_del_init(&buf->slot_node);
		ok = true;
	} else if (list_empty(&buf->slot_node)) {
		list_add_tail(&buf->slot_node, &u->waiting);
	}
out:
	mutex_unlock(&udb_users_lock);
	return ok;
}

/* A slot frees: the oldest waiter gets it, else nobody. Under the lock. */
static void udb_user_pass_slot(struct udb_user *u)
{
	struct udb_buffer *next;

	lockdep_assert_held(&udb_users_lock);
	next = list_first_entry_or_null(&u->waiting, struct udb_buffer,
					slot_node);
	if (!next) {
		u->refreshing--;
		return;
	}
	/* its release takes the grant back, under this lock, first */
	list_del_init(&next->slot_node);
	next->slot_granted = true;
	mod_delayed_work(udb_wq, &next->refresh_work, 0);
}

/**
 * udb_user_refresh_end() - release a slot udb_user_refresh_begin() claimed
 * @buf: the buffer whose refresh ran
 *
 * Context: process context, may sleep.
 */
void udb_user_refresh_end(struct udb_buffer *buf)
{
	struct udb_user *u;

	mutex_lock(&udb_users_lock);
	u = xa_load(&udb_users, buf->uid);
	if (!WARN_ON_ONCE(!u || !u->refreshing))
		udb_user_pass_slot(u);
	mutex_unlock(&udb_users_lock);
}

/**
 * udb_user_refresh_forget() - a buffer's release: off the waiting list
 * @buf: the buffer, whose refresh work is cancelled next
 *
 * A slot handed to it and not used yet goes to the next waiter.
 *
 * Context: process context, may sleep.
 */
void udb_user_refresh_forget(struct udb_buffer *buf)
{
	struct udb_user *u;

	mutex_lock(&udb_users_lock);
	list_del_init(&buf->slot_node);
	u = xa_load(&udb_users, buf->uid);
	if (buf->slot_granted && !WARN_ON_ONCE(!u)) {
		buf->slot_granted = false;
		udb_user_pass_slot(u);
	}
	mutex_unlock(&udb_users_lock);
}

static DEFINE_HASHTABLE(udb_mms, 6);
static DEFINE_MUTEX(udb_mms_lock);

/**
 * udb_mm_get() - the shared state of @mm's buffers, created on first use
 * @mm: the owner's mm; its buffers keep it mmgrab()ed, so the pointer
 *	names one mm for as long as the entry lives
 *
 * Context: process context, may sleep.
 * Return: the entry (referenced), or NULL without memory.
 */
struct udb_mm *udb_mm_get(struct mm_struct *mm)
{
	struct udb_mm *um;

	mutex_lock(&udb_mms_lock);
	hash_for_each_possible(udb_mms, um, node, (unsigned long)mm)
		if (um->mm == mm) {
			um->ref++;
			goto out;
		}
	um = kzalloc(sizeof(*um), GFP_KERNEL_ACCOUNT);
	if (um) {
		um->mm = mm;
		um->ref = 1;
		/*
		 * No skip window yet: the window ends UDB_FENCE_WAIT_MS
		 * before now (not now: a change in this very jiffy would
		 * be in it and skip its wait).
		 */
		um->stuck_until = get_jiffies_64() -
				  msecs_to_jiffies(UDB_FENCE_WAIT_MS) - 1;
		hash_add(udb_mms, &um->node, (unsigned long)mm);
	}
out:
	mutex_unlock(&udb_mms_lock);
	return um;
}

/**
 * udb_mm_put() - drop a reference taken by udb_mm_get()
 * @um: the entry
 *
 * Context: process context, may sleep.
 */
void udb_mm_put(struct udb_mm *um)
{
	mutex_lock(&udb_mms_lock);
	if (!--um->ref) {
		hash_del(&um->node);
		kfree(um);
	}
	mutex_unlock(&udb_mms_lock);
}
