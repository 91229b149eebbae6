/*
 * A model of the CPU side of userptr-dmabuf (docs/design.md), checked with
 * spin: the CPU mmap() of the dma-buf (fault, pfn_mkwrite, munmap), the
 * refresh worker's zap of those mappings and its drop of cpu_refs, the
 * shared zero page served for FAULT/DEAD buffers and zero_work, a static
 * importer on the pinned set, a vmap, the owner's page-table changes and
 * exit, and the release of the dma-buf after its last file reference.
 * invalidation.pml models the dynamic importer and its device jobs.
 *
 * The buffer has one page. Physical pages are a pool of NPAGE slots with
 * reference counts (and pin counts); a slot whose count drops to zero is
 * freed and may be reused by the next allocation. ZERO is the shared zero
 * page, never counted and never freed.
 *
 * Two configurations of this file are checked: -DSIDE_CPU (the owner, the
 * refresh, zero_work, the CPU mapping, release) and -DSIDE_PINNED (the
 * owner, the refresh, the static importer, the vmap, release). They meet
 * only through page references and the release, and together they stay
 * at a few million states (all processes at once: tens of millions).
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
 *   failed                      udb_refresh_failed() (FAULT / DEAD)
 *   publish                     under dma_resv + buf->lock, retry on
 *                               mmu_interval_read_retry()
 *   zap(true) if zeros          udb_mmap_zap(buf, lo, hi, true)
 * zero_work                   udb_mmap_zero_work() (udb_mmap.c)
 * cpu_user                    a process using mmap() of the dma-buf
 *   fault                       udb_vm_fault() -> udb_insert()
 *   mkwrite                     udb_vm_pfn_mkwrite() + the core's
 *                               finish_mkwrite_fault() (pte_same)
 *   munmap                      zap of its PTEs, udb_vm_close(), fput
 * importer                    a static importer with two attachments
 *   pinset_get / pinset_put     udb_pinset_get() / udb_pinset_put() +
 *                               udb_pinset_release() (udb_pin.c), from
 *                               udb_attach() / udb_detach()
 *   map / unmap                 core pin -> udb_pin(), udb_map_dma_buf();
 *                               udb_unmap_dma_buf(), core unpin
 * vmapper                     udb_vmap() + udb_vmap_snapshot(), udb_vunmap()
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
 *  - a static importer's pages stay pinned while it maps them, and pins
 *    and page references are balanced at the end (only the owner's own
 *    page is left referenced);
 *  - a DEAD buffer serves nothing new (fault: the zero page or SIGBUS;
 *    vmap: the stand-in; the pinned set cannot be created);
 *  - nothing reaches the buffer after its release, and the release comes
 *    after the last file reference (fd, mapping, importer, vmap, zap).
 *
 * Mutants, each a bug that must make it fail (tests/model/check):
 *   BUG_EARLY_PUT           udb_insert() drops its temporary page reference
 *                           right after the insert, before the mmap_seq
 *                           re-check and the zap of its own PTE (as it
 *                           did before commit db6cd4b)
 *   BUG_DROP_BEFORE_ZAP     the refresh drops cpu_refs before it zaps the
 *                           CPU mappings
 *   BUG_UNPIN_WHILE_MAPPED  udb_pinset_get() shares the pin set without
 *                           taking a reference: a detach unpins pages
 *                           another attachment still maps
 *   BUG_PUBLISH_NO_ZAP      the refresh publishes without zapping the CPU
 *                           mappings
 */

#ifndef STEPS
#define STEPS		2	/* owner page-table changes */
#endif
#ifndef ACCESSES
#define ACCESSES	3	/* CPU accesses through the mapping */
#endif
#if !defined(SIDE_CPU) && !defined(SIDE_PINNED)
#define SIDE_CPU
#define SIDE_PINNED
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
byte pte = NONE;	/* the CPU mapping's PTE: a page, ZERO or NONE */
bool pte_w = false;	/* writable */
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
			assert(pte != p);
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

inline snapshot_page(p) {
	if
	:: dirty -> p = NONE
	:: else -> p = snap
	fi
}

/* an access through a present PTE, in the MMU's step */
inline cpu_access(w) {
	assert(pte == ZERO || live[pte]);
	if
	:: w ->
		assert(pte_w);
		assert(pte != ZERO);
		/* the owner's page, unless the window is open */
		assert(pte == owner_page || dirty)
	:: else -> skip
	fi
}

/* udb_mmap_zap(): mmap_seq++ under buf->lock, then unmap_mapping_range() */
inline zap(force) {
	atomic {	/* buf->lock */
		mapped = (force || cpu_ref != NONE) && mmaps > 0;
		if
		:: mapped ->
			assert(file_refs > 0);	/* get_dma_buf(): a live file */
			file_refs++;
			mmap_seq++
		:: else -> skip
		fi
	};
	if
	:: mapped ->
		d_step {
			assert(file_refs > 0);	/* f_mapping still there */
			pte = NONE;
			pte_w = false
		};
		file_refs--			/* dma_buf_put() */
	:: else -> skip
	fi
}

/* udb_refresh_locked(): put the cpu_refs of the dirty window */
inline drop_cpu_refs() {
	atomic {	/* buf->lock */
		if
		:: cpu_ref != NONE && dirty ->
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
inline invalidate() {
	if
	:: reg ->
		atomic {	/* buf->lock */
			mmu_seq++;	/* mmu_interval_set_seq() */
			snap = NONE;
			dirty = true;
			if
			:: state == VALID -> state = STALE
			:: else -> skip
			fi;
			/* udb_buffer_wanted(): a CPU mapping or a vmap follows */
			wanted = mmaps > 0 || vmapped
		};
		if
		:: wanted -> queue_refresh()
		:: else -> skip
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
		invalidate();
		alloc(np);
		old = owner_page;
		owner_page = np;
		in_inv = false;
		put(old);
		n++
	:: atomic { n < STEPS && owner_page != NONE ->
		in_inv = true; reg = registered };
		/* munmap(), MADV_DONTNEED: pinned or not */
		invalidate();
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
		:: owner_page != NONE ->
			atomic { in_inv = true; reg = registered };
			invalidate();
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
	bool d, zeros, mapped, retry;
	do
	:: atomic { refresh_queued && !cancelled ->
		refresh_queued = false; refresh_idle = false };
again:
		assert(!released);
		atomic { !in_inv -> s = mmu_seq };	/* read_begin */
		atomic {	/* buf->lock */
			d = dirty;
			st = state
		};
		if
		:: st == DEAD || !d -> goto done
		:: else -> skip
		fi;
#ifdef BUG_DROP_BEFORE_ZAP
		drop_cpu_refs();
#endif
#ifndef BUG_PUBLISH_NO_ZAP
		/* CPU mappings still show the old pages: zap them */
		if
		:: mmaps > 0 -> zap(false)
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
		:: err != 0 ->
			atomic {	/* udb_refresh_failed() */
				lock(resv);
				if
				:: err == ENODEV -> state = DEAD
				:: else -> state = FAULT
				fi;
				unlock(resv)
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
				state = VALID;
				zeros = zero_mapped;
				zero_mapped = false
			:: else -> skip
			fi;
			/* notify importers, add the KERNEL fence */
			unlock(resv)
		};
		if
		:: retry -> goto again
		:: else -> skip
		fi;
		if
		:: zeros -> zap(true)
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
			:: z -> zero_mapped = false
			:: else -> skip
			fi
		};
		if
		:: z -> zap(true)
		:: else -> skip
		fi;
		zero_idle = true
	:: zcancelled -> break
	od
}

/* A process reading and writing the dma-buf through its mmap(). */
proctype cpu_user()
{
	byte n = 0, p, s, st, o, act;
	bool w, gone, stale, same;
	do
	:: n < ACCESSES ->
		n++;
		if
		:: w = false
		:: w = true
		fi;
		/* the MMU: through the PTE, or a fault */
		d_step {
			o = pte;
			if
			:: pte == NONE -> act = 0
			:: pte != NONE && w && !pte_w -> act = 1
			:: else -> act = 2; cpu_access(w)
			fi
		};
		if
		:: act == 2 -> skip
		:: act == 1 ->
			/* udb_vm_pfn_mkwrite() */
			atomic {	/* buf->lock */
				snapshot_page(p);
				same = p != NONE && o == p;
				if
				:: same -> get(p)
				:: else -> skip
				fi
			};
			if
			:: !same ->	/* old or zero page: drop it, refault */
				d_step { pte = NONE; pte_w = false }
			:: else ->
				/* finish_mkwrite_fault(): still that PTE? */
				d_step {
					if
					:: pte == o -> pte_w = true
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
					d_step { pte = ZERO; pte_w = false }
				fi
			:: !gone && p == NONE ->
				/* maybe nothing asked for it yet */
				queue_refresh();
				goto next	/* wait for the refresh, retry */
			:: p != NONE ->
				d_step { pte = p; pte_w = w }
#ifdef BUG_EARLY_PUT
				;
				put(p)		/* udb_insert() before its fix */
#endif
			fi;
			atomic {	/* buf->lock */
				stale = s != mmap_seq
			};
			if
			:: stale -> d_step { pte = NONE; pte_w = false }
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
	atomic { pte = NONE; pte_w = false };
	atomic {	/* buf->lock */
		mmaps--;
		if
		:: mmaps == 0 ->
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
			:: else -> r = NONE
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
	byte pin_count = 0;

	pinset_get(pa);			/* attach A */
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
		unlock(resv)
	};
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
		run owner();
		run refresh();
#ifdef SIDE_CPU
		mmaps = 1;		/* udb_mmap() */
		file_refs++;
		run zero_work();
		run cpu_user();
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
