/*
 * A model of the CPU side of userptr-dmabuf (docs/design.md), checked with
 * spin: the CPU mmap() of the dma-buf (fault, pfn_mkwrite, munmap), the
 * refresh worker's zap of those mappings and its drop of cpu_refs, the
 * shared zero page served for FAULT/DEAD buffers and zero_work, a static
 * importer on the pinned set, a vmap, the owner's page-table changes and
 * exit, and the release of the dma-buf after its last file reference.
 * invalidation.pml models the dynamic importer and its device jobs.
 *
 * The buffer has one page, page 0, plus the dirty window of another page
 * (dirty_other; its physical pages are not modelled): the owner's exit may
 * unmap that page first, so a refresh can find the mm gone while page 0
 * is still clean, and only udb_snapshot_page()'s DEAD test keeps page 0
 * from being served. Physical pages are a pool of NPAGE slots with
 * reference counts (and pin counts); a slot whose count drops to zero is
 * freed and may be reused by the next allocation. ZERO is the shared zero
 * page, never counted and never freed.
 *
 * Three configurations of this file are checked: -DSIDE_CPU (the owner,
 * the refresh, zero_work, the CPU mapping, release), -DSIDE_PINNED (the
 * owner, the refresh, the static importer, the vmap, release) and
 * -DSIDE_TWO_VMAS (the owner with one change, the refresh, two VMAs of the
 * mapping with one access each, release; no zero_work; compiled with
 * -DCOLLAPSE). They meet only through page references and the release,
 * at up to about ten million states each (all processes at once: far
 * more). A sibling thread of the mapping process and 3 owner steps are
 * left to runs by hand: they cost tens of millions of states.
 *
 * Critical sections under buf->lock, and the short ones under dma_resv,
 * are single atomic steps: they do not block and touch only the data the
 * lock protects and atomic page references (a Lipton reduction). dma_resv
 * and pin_lock stay locks where a section spans a wait (pinset_get).
 *
 * Model step                  kernel function (kmod/)
 * ----------------------------------------------------------------------
 * owner: migrate/munmap/exit  CPU page-table change running
 *   invalidate()                udb_invalidate() (udb_buffer.c), which
 *                               queues the refresh only if a CPU mapping
 *                               or a vmap follows (udb_buffer_wanted())
 * owner: mmap again           a new mapping of the range: no notifier
 * owner: exit                 mmput() -> exit_mmap(): mm_users is 0
 *                             (mmget_not_zero fails), then the unmap
 *                             runs the notifier
 * refresh                     udb_refresh_work() -> udb_refresh_locked()
 *   zap(false)                  udb_mmap_zap(buf, lo, hi, false)
 *   drop_cpu_refs()             the cpu_refs put_page() loop after it
 *   fault step                  mmget_not_zero + hmm_range_fault()
 *   failed                      udb_refresh_failed() (FAULT); the mm
 *                               gone: udb_buffer_dead() (DEAD, zap(true),
 *                               put all cpu_refs)
 *   publish                     under dma_resv + buf->lock, retry on
 *                               mmu_interval_read_retry()
 *   zap(true) if zeros          udb_mmap_zap(buf, lo, hi, true)
 * zero_work                   udb_mmap_zero_work() (udb_mmap.c)
 * cpu_user                    a process using mmap() of the dma-buf
 *   fault                       udb_vm_fault() -> udb_insert()
 *   fault on the other page     -DAROUND: udb_insert()'s fault-around of
 *                               a read fault on another page of the chunk
 *                               maps page 0 too: in that fault's buf->lock
 *                               section (cpu_refs + a temporary ref, only
 *                               when the faulting page is in the
 *                               snapshot: modelled as page "other" clean),
 *                               read-only, only into a none PTE, then the
 *                               mmap_seq re-check zaps it, then the put
 *   mkwrite                     udb_vm_pfn_mkwrite() + the core's
 *                               finish_mkwrite_fault() (pte_same)
 *   munmap                      zap of its PTEs, udb_vm_close(), fput
 *   (second VMA)                udb_mmap() of the dma-buf again: mmaps++
 * importer                    a static importer with two attachments
 *   pinset_get / pinset_put     udb_pinset_get() / udb_pinset_put() +
 *                               udb_pinset_release() (udb_pin.c), from
 *                               udb_attach() / udb_detach(); attach
 *                               first queues a refresh of a STALE/FAULT
 *                               buffer (udb_buffer_settle(), its wait not
 *                               modelled) and fails FAULT/DEAD
 *                               (udb_state_error())
 *   map / unmap                 core pin -> udb_pin(), udb_map_dma_buf();
 *                               udb_unmap_dma_buf(), core unpin
 * vmapper                     udb_vmap() + udb_vmap_snapshot() (queues a
 *                             refresh when STALE), udb_vunmap()
 * release                     udb_release() -> udb_buffer_destroy()
 * get / put / alloc           get_page() / put_page() / alloc_page()
 *
 * Checked:
 *  - no deadlock (no invalid end state);
 *  - no CPU PTE, importer mapping or vmap reaches a freed page: asserted
 *    when a page is freed (nothing may still map it) and at every access;
 *    get_page() only on a live page;
 *  - a CPU write never reaches the zero page, and reaches only the page
 *    the owner maps unless the buffer's window is open (notified, not yet
 *    republished): once the refresh has zapped and published, no PTE to
 *    an old page survives;
 *  - a read through the zero page happens only while the buffer is not
 *    VALID or a zero-page zap is owed (ghost zpend: counted where the
 *    publish reads zero_mapped and where zero_work clears it, uncounted
 *    after the matching zap(true));
 *  - a static importer's pages stay pinned while it maps them, and pins
 *    and page references are balanced at the end (only the owner's own
 *    page is left referenced);
 *  - a DEAD buffer serves nothing new (fault: the zero page or SIGBUS;
 *    vmap: the stand-in; the pinned set cannot be created), also when
 *    page 0 is outside the dirty window (BUG_DEAD_SERVES);
 *  - reach(n) markers (tests/model/reach): each key branch is taken.
 *
 * Known and not a model bug: a sibling thread of the faulting process can
 * write through a PTE that a fault inserted holding a pre-zap mmap_seq,
 * after the refresh published, until the fault's own re-check zaps it:
 * such writes are lost, the same class as writes inside the invalidation
 * window. The model has no sibling accessor (it cost several times the
 * states); with one, the freshness assertion must allow exactly that
 * case (a ghost "insert holding a pre-zap seq"). The same holds for the
 * pages a fault maps around the faulting one: until its re-check, a
 * sibling thread may read their old contents (writes to them fault into
 * pfn_mkwrite, which checks the page).
 *  - nothing reaches the buffer after its release, and the release comes
 *    after the last file reference (fd, mapping, importer, vmap, zap).
 *
 * Mutants, each a bug that must make it fail (tests/model/check):
 *   BUG_EARLY_PUT           udb_insert() drops its temporary page reference
 *                           right after the insert, before the mmap_seq
 *                           re-check and the zap of its own PTE (as it
 *                           did before commit db6cd4b)
 *   BUG_DROP_BEFORE_ZAP     the refresh drops cpu_refs before it zaps the
 *                           CPU mappings: the page is freed under a live
 *                           PTE before the zap runs at all
 *   BUG_UNPIN_WHILE_MAPPED  udb_pinset_get() shares the pin set without
 *                           taking a reference: a detach unpins pages
 *                           another attachment still maps
 *   BUG_PUBLISH_NO_ZAP      the refresh publishes without zapping the CPU
 *                           mappings
 *   BUG_PUBLISH_NO_ZERO_ZAP the publish skips zap(true) of zero pages
 *   BUG_ZERO_WORK_NO_SEQ    zero_work's zap does not bump mmap_seq
 *   BUG_DEAD_SERVES         udb_snapshot_page() without its DEAD test
 *   BUG_CLOSE_DEC_UNLOCKED  udb_vm_close() drops the mmaps count outside
 *                           buf->lock and puts cpu_refs in a later
 *                           section (-DSIDE_TWO_VMAS)
 *   BUG_DROP_EVERY_CLOSE    every udb_vm_close() puts cpu_refs, not only
 *                           the last (-DSIDE_TWO_VMAS)
 *   BUG_AROUND_EARLY_PUT    fault-around drops a neighbour's temporary
 *                           reference right after the insert (-DAROUND)
 *   BUG_AROUND_ZAP_ONE      fault-around's re-check zaps only the faulting
 *                           page, not the neighbours it mapped (-DAROUND)
 * tests/model/check names the assertion that must catch each.
 */

/* reach(n): with -DREACH=n the model must fail there (tests/model/reach) */
#ifndef REACH
#define REACH 0
#endif
#define reach(n) assert(REACH != n)

#ifdef BUG_ZERO_WORK_NO_SEQ
#define ZW_SEQ false	/* zero_work's zap leaves mmap_seq alone */
#else
#define ZW_SEQ true
#endif

#if defined(SIDE_TWO_VMAS) && !defined(STEPS)
#define STEPS		1	/* two VMAs: one owner change is enough */
#endif
#ifndef STEPS
#define STEPS		2	/* owner page-table changes */
#endif
#ifndef ACCESSES
#define ACCESSES	3	/* CPU accesses through the mapping */
#endif
#ifdef SIDE_TWO_VMAS
#define SIDE_CPU
#endif
#if !defined(SIDE_CPU) && !defined(SIDE_PINNED)
#define SIDE_CPU
#define SIDE_PINNED
#endif
#ifdef SIDE_TWO_VMAS		/* two VMAs: ACC0 + ACC1 accesses */
#define NVMA		2
#ifndef ACC0
#define ACC0		1
#endif
#ifndef ACC1
#define ACC1		1
#endif
#else
#define NVMA		1
#define ACC0		ACCESSES
#endif
#define NPAGE		4	/* physical page pool */
#define ZERO		NPAGE	/* the shared zero page */
#define NONE		255

/* buffer states */
#define VALID		0
#define STALE		1
#define FAULT		2
#define DEAD		3

/* refresh errors */
#define EFAULT		1
#define ENODEV		2

/* locks: 0 free, else owner pid + 1 */
byte resv = 0;		/* dma_resv */
byte pin_lock = 0;	/* buf->pin_lock */

inline lock(l) { atomic { l == 0 -> l = _pid + 1 } }
inline unlock(l) { assert(l == _pid + 1); l = 0 }

/* physical pages */
byte ref[NPAGE];
byte pins[NPAGE];
bool live[NPAGE];	/* allocated; false: free (or never used) */

/* who maps what */
byte pte[NVMA];		/* each VMA's PTE: a page, ZERO or NONE */
bool pte_w[NVMA];	/* writable */
byte smap = NONE;	/* the static importer's mapping */
byte vmap_page = NONE;	/* the vmap */

/* the owner's mm */
byte owner_page = 0;
bool mm_alive = true;	/* mm_users > 0 */
bool in_inv = false;	/* a change runs the notifier: under mmap_lock, or
			 * between invalidate_range_start and _end */
byte mmu_seq = 0;	/* the interval notifier's sequence */
bool registered = true;	/* the interval notifier */

/* the buffer: under buf->lock, but ps_page (pin_lock + dma_resv) */
byte snap = 0;		/* buf->pages[0] */
bool dirty = false;	/* page 0 in [dirty_lo, dirty_hi) */
bool dirty_other = false; /* another page of the buffer in the window:
			 * its pages are not modelled, only its window */
byte state = VALID;
byte cpu_ref = NONE;	/* buf->cpu_refs[0] */
bool zero_mapped = false;
byte mmap_seq = 0;
byte mmaps = 0;		/* live VMAs of the dma-buf */
bool vmapped = false;
byte ps_page = NONE;	/* buf->pinset */
byte ps_ref = 0;	/* its kref */

/* work items: queued, running (not idle), cancelled by the release */
bool refresh_queued = false, refresh_idle = true, cancelled = false;
bool zero_queued = false, zero_idle = true, zcancelled = false;

/* file references: the VMA, the importer, the vmap user, a zap */
byte file_refs = 0;
byte zpend = 0;	/* ghost: zero-page zaps owed */
bool released = false;

/* get_page(): only on a live page */
inline get(p) {
	d_step {
		assert(p < NPAGE && live[p] && ref[p] > 0);
		ref[p]++
	}
}

/* put_page(): when the last reference goes, nothing may still map it */
inline put(p) {
	d_step {
		assert(p < NPAGE && live[p] && ref[p] > 0);
		ref[p]--;
		if
		:: ref[p] == 0 ->
			assert(pte[0] != p);
#if NVMA > 1
			assert(pte[1] != p);
#endif
			assert(smap != p);
			assert(vmap_page != p);
			assert(pins[p] == 0);
			live[p] = false
		:: else -> skip
		fi
	}
}

/* alloc_page(): the lowest free slot, a freed one reused */
inline alloc(p) {
	d_step {
		p = 0;
		do
		:: p < NPAGE && live[p] -> p++
		:: else -> break
		od;
		assert(p < NPAGE);	/* the pool is big enough */
		live[p] = true;
		ref[p] = 1
	}
}

/* udb_queue_refresh() */
inline queue_refresh() {
	assert(!cancelled && !released);
	refresh_queued = true
}

/* udb_snapshot_page() */
inline snapshot_page(p) {
	if
#ifndef BUG_DEAD_SERVES
	:: state == DEAD -> p = NONE
#endif
	:: dirty -> p = NONE
	:: else -> p = snap
	fi
}

/* an access through a present PTE, in the MMU's step */
inline cpu_access(w, v) {
	assert(pte[v] == ZERO || live[pte[v]]);
	if
	:: !w && pte[v] == ZERO ->
		/* zeros stand only for a gone page, or until an owed zap */
		assert(state != VALID || zpend > 0)
	:: w ->
		assert(pte_w[v]);
		assert(pte[v] != ZERO);
		/* the owner's page, unless the window is open */
		assert(pte[v] == owner_page || dirty);
		if
		:: pte[v] != owner_page -> reach(7)
		:: else -> skip
		fi
	:: !w && pte[v] != ZERO -> skip
	fi
}

/* udb_mmap_zap(): mmap_seq++ under buf->lock, then unmap_mapping_range() */
inline zap(force, seq) {
	atomic {	/* buf->lock */
		mapped = (force || cpu_ref != NONE) && mmaps > 0;
		if
		:: mapped ->
			assert(file_refs > 0);	/* get_dma_buf(): a live file */
			file_refs++;
			if
			:: seq -> mmap_seq++
			:: else -> skip
			fi
		:: else -> skip
		fi
	};
	if
	:: mapped ->
		d_step {
			assert(file_refs > 0);	/* f_mapping still there */
			pte[0] = NONE;
			pte_w[0] = false;
#if NVMA > 1
			pte[1] = NONE;
			pte_w[1] = false;
#endif
			skip
		};
		file_refs--			/* dma_buf_put() */
	:: else -> skip
	fi
}

/* udb_refresh_locked(): put the cpu_refs of the dirty window */
inline drop_cpu_refs() {
	atomic {	/* buf->lock */
		if
		:: d && cpu_ref != NONE && dirty ->	/* [lo, hi) and now */
			put(cpu_ref);
			cpu_ref = NONE
		:: else -> skip
		fi
	}
}

/*
 * udb_invalidate(), from the owner's page-table change; the caller set
 * in_inv and read registered in one step (mmu_interval_notifier_remove()
 * waits for a running invalidation).
 */
inline invalidate(other) {
	if
	:: reg ->
		atomic {	/* buf->lock */
			mmu_seq++;	/* mmu_interval_set_seq() */
			if
			:: other -> dirty_other = true
			:: else ->
				snap = NONE;
				dirty = true
			fi;
			if
			:: state == VALID -> state = STALE
			:: else -> skip
			fi;
			/* udb_buffer_wanted(): a CPU mapping or a vmap follows */
			wanted = mmaps > 0 || vmapped
		};
		if
		:: wanted -> queue_refresh()
		:: else -> reach(9)
		fi
	:: else -> skip
	fi
}

/* The owner: its page-table changes, then maybe its exit. */
proctype owner()
{
	byte n = 0, old, np;
	bool reg, wanted;
	do
	:: atomic { n < STEPS && owner_page != NONE && pins[owner_page] == 0 ->
		in_inv = true; reg = registered };
		/* migration, compaction, KSM: not of pinned pages */
		invalidate(false);
		alloc(np);
		old = owner_page;
		owner_page = np;
		in_inv = false;
		put(old);
		n++
	:: atomic { n < STEPS && owner_page != NONE ->
		in_inv = true; reg = registered };
		/* munmap(), MADV_DONTNEED: pinned or not */
		invalidate(false);
		old = owner_page;
		owner_page = NONE;
		in_inv = false;
		put(old);
		n++
	:: n < STEPS && owner_page == NONE ->
		/* the range is mapped again: no notifier */
		alloc(np);
		owner_page = np;
		n++
	:: n < STEPS ->
		/* exit: mm_users drops to 0, then exit_mmap() unmaps */
		mm_alive = false;
		if
		:: true
		:: atomic { in_inv = true; reg = registered };
			/* exit_mmap() unmaps another page of the buffer
			 * first: a refresh may find the mm gone while page
			 * 0 is still clean */
			invalidate(true);
			in_inv = false
		fi;
		if
		:: owner_page != NONE ->
			atomic { in_inv = true; reg = registered };
			invalidate(false);
			old = owner_page;
			owner_page = NONE;
			in_inv = false;
			put(old)
		:: else -> skip
		fi;
		break
	:: break
	od
}

/* The refresh work: udb_refresh_locked(). */
proctype refresh()
{
	byte s, g, err, st;
	bool d, d1, zeros, mapped, retry;
	do
	:: atomic { refresh_queued && !cancelled ->
		refresh_queued = false; refresh_idle = false };
again:
		assert(!released);
		atomic { !in_inv -> s = mmu_seq };	/* read_begin */
		atomic {	/* buf->lock */
			d = dirty;
			d1 = dirty_other;
			st = state
		};
		if
		:: st == DEAD || !(d || d1) -> goto done
		:: else -> skip
		fi;
#ifdef BUG_DROP_BEFORE_ZAP
		drop_cpu_refs();
#endif
#ifndef BUG_PUBLISH_NO_ZAP
		/* CPU mappings still show the old pages: zap them */
		if
		:: mmaps > 0 && d -> zap(false, true)
		:: else -> skip
		fi;
#endif
#ifndef BUG_DROP_BEFORE_ZAP
		drop_cpu_refs();
#endif
		/* mmget_not_zero(), hmm_range_fault() under mmap_lock */
		atomic {
			!in_inv ->
			if
			:: !mm_alive -> err = ENODEV
			:: mm_alive && owner_page == NONE -> err = EFAULT
			:: else -> err = 0; g = owner_page
			fi
		};
		if
		:: err == EFAULT ->
			atomic {	/* udb_refresh_failed() */
				lock(resv);
				state = FAULT;
				unlock(resv)
			};
			goto done
		:: err == ENODEV ->
			/* udb_buffer_dead() */
			atomic {	/* udb_refresh_failed() */
				lock(resv);
				state = DEAD;
				unlock(resv)
			};
			reach(1);
			if
			:: mmaps > 0 -> zap(true, true)
			:: else -> skip
			fi;
			atomic {	/* buf->lock: all cpu_refs */
				if
				:: cpu_ref != NONE ->
					put(cpu_ref);
					cpu_ref = NONE
				:: else -> skip
				fi
			};
			goto done
		:: else -> skip
		fi;
		atomic {
			lock(resv);
			/* buf->lock */
			retry = s != mmu_seq;	/* read_retry */
			if
			:: !retry ->
				snap = g;
				dirty = false;
				dirty_other = false;
				state = VALID;
				zeros = zero_mapped;
				if :: zeros -> zpend++ :: else -> skip fi;
				zero_mapped = false
			:: else -> skip
			fi;
			/* notify importers, add the KERNEL fence */
			unlock(resv)
		};
		if
		:: retry -> reach(8); goto again
		:: else -> skip
		fi;
		if
		:: zeros ->
			reach(3);
#ifndef BUG_PUBLISH_NO_ZERO_ZAP
			zap(true, true);
#endif
			zpend--
		:: else -> skip
		fi;
done:
		refresh_idle = true
	:: cancelled -> break
	od
}

/* udb_mmap_zero_work() */
proctype zero_work()
{
	bool z, mapped;
	do
	:: atomic { zero_queued && !zcancelled ->
		zero_queued = false; zero_idle = false };
		assert(!released);
		atomic {	/* buf->lock */
			z = zero_mapped && state == FAULT;
			if
			:: z -> zero_mapped = false; zpend++
			:: else -> skip
			fi
		};
		if
		:: z -> reach(4); zap(true, ZW_SEQ); zpend--
		:: else -> skip
		fi;
		zero_idle = true
	:: zcancelled -> break
	od
}

/* A process reading and writing the dma-buf through its mmap(). */
proctype cpu_user(byte v; byte acc)
{
	byte n = 0, p, s, st, o, act;
	bool w, gone, stale, same, last;
	if
	:: v > 0 -> atomic { mmaps++ }	/* udb_mmap() of a second VMA */
	:: else -> skip
	fi;
	do
	:: n < acc ->
		n++;
		if
		:: w = false
		:: w = true
		fi;
		/* the MMU: through the PTE, or a fault */
		if
#ifdef AROUND
		:: !w -> act = 3	/* a read fault on the other page */
#endif
		:: d_step {
			o = pte[v];
			if
			:: pte[v] == NONE -> act = 0
			:: pte[v] != NONE && w && !pte_w[v] -> act = 1
			:: else -> act = 2; cpu_access(w, v)
			fi
		}
		fi;
		if
		:: act == 2 -> skip
#ifdef AROUND
		:: act == 3 ->
			/* udb_insert() on the other page maps page 0 around it */
			atomic {	/* buf->lock */
				if
				:: state != DEAD && !dirty_other ->
					snapshot_page(p);
					if
					:: p != NONE ->
						if
						:: cpu_ref == NONE ->
							get(p);
							cpu_ref = p
						:: else -> assert(cpu_ref == p)
						fi;
						get(p)
					:: else -> skip
					fi
				:: else -> p = NONE
				fi;
				s = mmap_seq
			};
			if
			:: p != NONE ->
				/* vmf_insert_pfn_prot(): only into a none PTE */
				d_step {
					if
					:: pte[v] == NONE -> pte[v] = p; pte_w[v] = false
					:: else -> skip
					fi
				};
#ifdef BUG_AROUND_EARLY_PUT
				put(p);
#endif
				atomic { stale = s != mmap_seq };
				if
#ifndef BUG_AROUND_ZAP_ONE
				:: stale -> d_step { pte[v] = NONE; pte_w[v] = false }
#endif
				:: else -> skip
				fi;
#ifndef BUG_AROUND_EARLY_PUT
				put(p)
#else
				skip
#endif
			:: else -> skip
			fi
#endif
		:: act == 1 ->
			/* udb_vm_pfn_mkwrite() */
			atomic {	/* buf->lock */
				snapshot_page(p);
				if
				:: o == ZERO -> reach(5)
				:: else -> skip
				fi;
				same = p != NONE && o == p;
				if
				:: same -> get(p)
				:: else -> skip
				fi
			};
			if
			:: !same ->	/* old or zero page: drop it, refault */
				d_step { pte[v] = NONE; pte_w[v] = false }
			:: else ->
				/* finish_mkwrite_fault(): still that PTE? */
				d_step {
					if
					:: pte[v] == o -> pte_w[v] = true
					:: else -> skip
					fi
				};
				put(p)
			fi
		:: act == 0 ->
			/* udb_insert() */
			atomic {	/* buf->lock */
				st = state;
				snapshot_page(p);
				if
				:: p != NONE ->
					/* one for the PTE, one for us */
					if
					:: cpu_ref == NONE ->
						get(p);
						cpu_ref = p
					:: else -> assert(cpu_ref == p)
					fi;
					get(p)
				:: else -> skip
				fi;
				assert(st != DEAD || p == NONE);	/* nothing new */
				if
				:: st == DEAD -> reach(2)
				:: else -> skip
				fi;
				gone = p == NONE && (st == FAULT || st == DEAD);
				if
				:: gone && !w -> zero_mapped = true
				:: else -> skip
				fi;
				s = mmap_seq
			};
			if
			:: gone ->
				if
				:: st == FAULT ->
					queue_refresh();
					if
					:: !w -> zero_queued = true
					:: else -> skip
					fi
				:: else -> skip
				fi;
				if
				:: w -> goto next		/* SIGBUS */
				:: else ->
					d_step { pte[v] = ZERO; pte_w[v] = false }
				fi
			:: !gone && p == NONE ->
				/* maybe nothing asked for it yet */
				queue_refresh();
				goto next	/* wait for the refresh, retry */
			:: p != NONE ->
				d_step { pte[v] = p; pte_w[v] = w }
#ifdef BUG_EARLY_PUT
				;
				put(p)		/* udb_insert() before its fix */
#endif
			fi;
			atomic {	/* buf->lock */
				stale = s != mmap_seq
			};
			if
			:: stale -> reach(6); d_step { pte[v] = NONE; pte_w[v] = false }
			:: else -> skip
			fi;
#ifndef BUG_EARLY_PUT
			/* only now: the PTE is zapped or the seq held */
			if
			:: p != NONE -> put(p)
			:: else -> skip
			fi;
#endif
next:
			skip
		fi
	:: else -> break
	od;
	/* munmap(): the PTEs go, then udb_vm_close(), then fput() */
	atomic { pte[v] = NONE; pte_w[v] = false };
#ifdef BUG_CLOSE_DEC_UNLOCKED
	/* the count drops outside buf->lock, cpu_refs go in a later section */
	atomic { mmaps--; last = mmaps == 0 };
	atomic {	/* buf->lock */
		if
		:: last ->
#else
	atomic {	/* buf->lock */
		mmaps--;
		if
#ifdef BUG_DROP_EVERY_CLOSE
		:: true ->	/* not only the last close */
#else
		:: mmaps == 0 ->
#endif
#endif
			zero_mapped = false;
			if
			:: cpu_ref != NONE ->
				put(cpu_ref);
				cpu_ref = NONE
			:: else -> skip
			fi
		:: else -> skip
		fi
	};
	file_refs--
}

/* udb_pinset_get(): pin the owner's page the first time, else share */
inline pinset_get(r) {
	lock(pin_lock);
	if
	:: ps_page != NONE ->
#ifndef BUG_UNPIN_WHILE_MAPPED
		ps_ref++;		/* kref_get() */
#endif
		r = ps_page
	:: else ->
		/* mmget_not_zero(), pin_user_pages_remote() under mmap_lock */
		atomic {
			!in_inv ->
			if
			:: mm_alive && owner_page != NONE ->
				assert(state != DEAD);
				r = owner_page;
				get(r);
				pins[r]++
			:: else ->
				if
				:: state == DEAD -> reach(10)
				:: else -> skip
				fi;
				r = NONE
			fi
		};
		if
		:: r != NONE ->
			lock(resv);
			ps_page = r;
			ps_ref = 1;
			unlock(resv)
		:: else -> skip
		fi
	fi;
	unlock(pin_lock)
}

/* udb_pinset_put(): kref_put_mutex(), udb_pinset_release() */
inline pinset_put() {
	lock(pin_lock);
	assert(ps_ref > 0);
	ps_ref--;
	if
	:: ps_ref == 0 ->
		atomic {
			lock(resv);
			q = ps_page;
			ps_page = NONE;
			unlock(resv)
		};
		d_step {		/* unpin_user_pages_dirty_lock() */
			pins[q]--
		};
		put(q)
	:: else -> skip
	fi;
	unlock(pin_lock)
}

/*
 * A static importer with two attachments (two devices): A is detached
 * while B maps the pinned set.
 */
proctype importer()
{
	byte pa, pb, m, q;
	bool err;
	byte pin_count = 0;

	/* attach A: udb_buffer_settle() queues a refresh (its wait is
	 * not modelled), udb_state_error() fails FAULT and DEAD */
	atomic {	/* buf->lock */
		if
		:: state == STALE || state == FAULT -> queue_refresh()
		:: else -> skip
		fi;
		err = state == FAULT || state == DEAD
	};
	if
	:: err -> pa = NONE
	:: else -> pinset_get(pa)
	fi;
	if
	:: pa == NONE -> goto out	/* -ENODEV, -EFAULT */
	:: else -> skip
	fi;
	pinset_get(pb);			/* attach B */
	assert(pb == pa);
	atomic {			/* map B: the core pins, then maps */
		lock(resv);
		pin_count++;		/* udb_pin() */
		m = pb;
		get(m);
		smap = m;
		unlock(resv)
	};
	pinset_put();			/* detach A */
	d_step {			/* the device uses B's mapping */
		assert(live[m]);
		assert(pins[m] > 0)	/* still pinned while mapped */
	};
	atomic {			/* unmap B, then the core unpins */
		lock(resv);
		smap = NONE;
		put(m);
		assert(pin_count > 0);
		pin_count--;		/* udb_unpin() */
		unlock(resv)
	};
	pinset_put();			/* detach B */
out:
	file_refs--			/* dma_buf_put() */
}

/* A kernel user of the dma-buf's vmap: a read, a write, vunmap. */
proctype vmapper()
{
	byte vp, sc, p;
	bool stale = false;

	atomic {
		lock(resv);
		if
		:: ps_page != NONE ->
			vp = ps_page;
			get(vp)
		:: else ->
			/* udb_vmap_snapshot(): a writable buffer's stand-in */
			alloc(sc);
			/* buf->lock */
			snapshot_page(p);
			if
			:: p == NONE -> p = sc
			:: else -> skip
			fi;
			assert(state != DEAD || p == sc);	/* nothing new */
			get(p);
			put(sc);
			vp = p
		fi;
		vmap_page = vp;
		vmapped = true;		/* buf->lock */
		stale = state == STALE;
		unlock(resv)
	};
	if
	:: stale -> queue_refresh()	/* udb_vmap_snapshot() */
	:: else -> skip
	fi;
	d_step { assert(live[vp]) };
	d_step { assert(live[vp] && vp != ZERO) };
	atomic {			/* udb_vunmap() */
		lock(resv);
		vmapped = false;	/* buf->lock */
		vmap_page = NONE;
		put(vp);
		unlock(resv)
	};
	file_refs--
}

/* udb_release() -> udb_buffer_destroy(), after the last file reference */
proctype release()
{
	file_refs == 0;
	/* mmu_interval_notifier_remove(): waits for a running invalidation */
	atomic { !in_inv -> registered = false };
	/* cancel_delayed_work_sync() of both works */
	atomic { refresh_idle -> cancelled = true };
	atomic { zero_idle -> zcancelled = true };
	assert(ps_page == NONE && !vmapped && mmaps == 0);
	if
	:: cpu_ref != NONE ->
		put(cpu_ref);
		cpu_ref = NONE
	:: else -> skip
	fi;
	released = true
}

init {
	byte i;

	atomic {
		live[0] = true;
		ref[0] = 1;		/* the owner's page table */
		pte[0] = NONE;
#if NVMA > 1
		pte[1] = NONE;
#endif
		run owner();
		run refresh();
#ifdef SIDE_CPU
		mmaps = 1;		/* udb_mmap() */
		file_refs++;
#ifdef SIDE_TWO_VMAS
		file_refs++;		/* the file that mmap()s VMA 1 */
		run cpu_user(1, ACC1);
#else
		run zero_work();
#endif
		run cpu_user(0, ACC0);
#endif
#ifdef SIDE_PINNED
		file_refs = file_refs + 2;
		run importer();
		run vmapper();
#endif
		run release()
	};
	/* everyone is done: pins and references balanced */
	_nr_pr == 1;
	assert(released);
	i = 0;
	do
	:: i < NPAGE ->
		assert(pins[i] == 0);
		assert(ref[i] == (owner_page == i -> 1 : 0));
		assert(live[i] == (ref[i] > 0));
		i++
	:: else -> break
	od
}
