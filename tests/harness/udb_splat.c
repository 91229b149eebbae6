// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberate splats for the harness's own tests: loading this module with
 * what=warn emits a WARNING, what=lockdep a real circular locking report
 * (A->B then B->A, single threaded, so nothing deadlocks), what=unlock a
 * lockdep report printed without any WARN (releasing a mutex nobody holds:
 * "bad unlock balance"), what=leak loses a allocation for kmemleak to find
 * (kasan flavour). The harness must turn each into a failed run. Never load
 * it anywhere else.
 *
 * Locking: two local mutexes, taken only from init in a fixed sequence.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>

static char *what = "warn";
module_param(what, charp, 0444);
MODULE_PARM_DESC(what, "warn | lockdep | unlock | leak");

/* Where the leak is last seen before it is lost. */
static void *udb_splat_leak;

static DEFINE_MUTEX(udb_splat_a);
static DEFINE_MUTEX(udb_splat_b);

static int __init udb_splat_init(void)
{
	if (!strcmp(what, "warn")) {
		WARN(1, "udb_splat: deliberate warning for the harness\n");
	} else if (!strcmp(what, "lockdep")) {
		mutex_lock(&udb_splat_a);
		mutex_lock(&udb_splat_b);
		mutex_unlock(&udb_splat_b);
		mutex_unlock(&udb_splat_a);

		mutex_lock(&udb_splat_b);
		mutex_lock(&udb_splat_a);
		mutex_unlock(&udb_splat_a);
		mutex_unlock(&udb_splat_b);
	} else if (!strcmp(what, "unlock")) {
		/*
		 * Nobody holds A: lockdep reports the imbalance and turns
		 * itself off, so the mutex debug check that follows stays
		 * silent. The unlock of an unlocked mutex changes nothing.
		 */
		mutex_unlock(&udb_splat_a);
	} else if (!strcmp(what, "leak")) {
		udb_splat_leak = kmalloc(4096, GFP_KERNEL);
		if (!udb_splat_leak)
			return -ENOMEM;
		/* forget it: nothing refers to the block any more */
		udb_splat_leak = NULL;
	} else {
		return -EINVAL;
	}
	return 0;
}

static void __exit udb_splat_exit(void)
{
}

module_init(udb_splat_init);
module_exit(udb_splat_exit);
MODULE_DESCRIPTION("userptr-dmabuf harness self-test: deliberate splats");
MODULE_LICENSE("GPL");
