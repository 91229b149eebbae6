/*
 * A model of the refresh worker's passes over a multi-page buffer
 * (kmod/udb_buffer.c, udb_refresh_locked()), checked with spin: which pages
 * a pass faults, what it publishes, and the scratch array in between.
 *
 * The buffer has NP pages. owner[i] is the page the owner maps at page i
 * (a generation number, never 0); snap[i] the page the snapshot publishes;
 * pfns[i] the pass's scratch entry (buf->hmm_pfns), 0 when it holds
 * nothing. A kept snapshot (a dynamic attachment exists) is the only one
 * that is pinned; when the last dynamic attachment goes, the next pass
 * lets it go, and doing so reuses pfns[] to stage the old pages' unpin and
 * leaves it all zeroes (udb_snapshot_unpin()).
 *
 * Model step                  kernel
 * ----------------------------------------------------------------------
 * owner: change [a, b)        a CPU page-table change: the notifier
 *                             (udb_invalidate()) extends the dirty and
 *                             refault windows under buf->lock and bumps
 *                             the range's sequence; the owner maps new
 *                             pages
 * detach                      the last dynamic dma_buf_detach():
 *                             udb_buffer_dyn_detach(); the owner's own
 *                             lets the snapshot go itself
 *                             (udb_snapshot_unpin()) if it gets
 *                             refresh_lock (a trylock: no refresh runs)
 * refresh: again              udb_snapshot_unpin() (returns whether it
 *                             let the snapshot go), sequence read,
 *                             udb_pass_window() and the plan under
 *                             buf->lock
 *   fault                       hmm_range_fault() of [flo, fhi), page by
 *                               page, the owner running in between
 *   publish                     under buf->lock: retry if the windows or
 *                               the sequence moved, else
 *                               udb_publish_pages() of [plo, phi)
 *
 * With -DREATTACH a dynamic attach comes back after the detach (the next
 * pass keeps again: udb_pass_plan()'s whole-buffer plan fills the pages
 * outside the dirty window from the snapshot, and a page the notifier
 * dropped from an unkept snapshot widens the dirty window); with -DFLIP
 * a pass may find the memory changed between pinnable and not (the same
 * whole-buffer plan); with -DSPURIOUS udb_pin_window() may say -EAGAIN
 * and send the pass back without a publish check. tests/model/check runs
 * all three. Pinning itself is not modelled. Critical sections under
 * buf->lock are atomic steps.
 *
 * Checked: every page a publish puts in the snapshot is the one the owner
 * maps at that moment (never 0, the "page" an empty scratch entry names),
 * and after every publish the whole snapshot is what the owner maps.
 * Mutants (tests/model/check):
 *   BUG_PARTIAL_REFAULT  the pass after the snapshot was let go faults only
 *                        what changed since the previous pass (the defect
 *                        that published physical page 0)
 *   BUG_DETACH_NO_LOCK   the detach lets the snapshot go without
 *                        refresh_lock, in the middle of a pass
 */
#define NP	3
#define NCHANGE	2
#define NPASS	4

byte owner[NP], snap[NP], pfns[NP];
byte dirty_lo = 0, dirty_hi = 0;	/* empty when lo >= hi */
byte refault_lo = 0, refault_hi = 0;
byte seq = 0;
bool dyn = true, kept = true;
byte gen = 1;
bool owner_done = false;
bool rlock = false;		/* refresh_lock */

inline extend(wlo, whi, wa, wb)
{
	if
	:: wlo >= whi -> wlo = wa; whi = wb
	:: else ->
		if :: wa < wlo -> wlo = wa :: else -> skip fi;
		if :: wb > whi -> whi = wb :: else -> skip fi
	fi
}

proctype Owner()
{
	byte n = 0, a, b, i;

	do
	:: n < NCHANGE ->
		/* any non-empty range [a, b) */
		if :: a = 0 :: a = 1 :: a = 2 fi;
		if :: b = a + 1 :: a + 2 <= NP -> b = a + 2 fi;
		atomic {	/* notifier under buf->lock, then the new pages */
			gen++;
			extend(dirty_lo, dirty_hi, a, b);
			extend(refault_lo, refault_hi, a, b);
			seq++;
			i = a;
			do
			:: i < b -> owner[i] = gen; if :: !kept -> snap[i] = 0 :: else -> skip fi; i++
			:: else -> break
			od
		}
		n++
	:: else -> break
	od;
	owner_done = true
}

/* udb_snapshot_unpin(): the snapshot lets its pages go */
inline unpin_snapshot()
{
	i = 0;
	do
	:: i < NP -> pfns[i] = 0; i++
	:: else -> break
	od;
	kept = false;
	i = dirty_lo;
	do
	:: i < dirty_hi -> snap[i] = 0; i++
	:: else -> break
	od
}

proctype Detach()
{
	byte i;

	dyn = false;
	/* the owner's own detach, if no refresh runs (mutex_trylock()) */
	atomic {
#ifndef BUG_DETACH_NO_LOCK
		if
		:: !rlock && !dyn && kept -> unpin_snapshot()
		:: else -> skip
		fi
#else
		if
		:: !dyn && kept -> unpin_snapshot()
		:: else -> skip
		fi
#endif
	}
#ifdef REATTACH
	dyn = true
#endif
}

proctype Refresh()
{
	byte flo, fhi, plo, phi, lo = 0, hi = 0, s, i, passes = 0;
	bool first = true, all, keep, flip = false;

	/* wait for a change to refresh; refresh_lock for the whole refresh */
	atomic { (dirty_lo < dirty_hi) && !rlock -> rlock = true };
again:
	atomic {	/* udb_snapshot_unpin() */
		all = first;
		if
		:: !dyn && kept ->
			unpin_snapshot();
#ifndef BUG_PARTIAL_REFAULT
			all = true
#endif
		:: else -> skip
		fi
	}
	atomic {	/* sequence, windows and plan under buf->lock */
		s = seq;
		if
		:: all -> flo = dirty_lo; fhi = dirty_hi
		:: else ->
			/* udb_pass_window(): the refault window in the dirty one */
			flo = (refault_lo > dirty_lo -> refault_lo : dirty_lo);
			fhi = (refault_hi < dirty_hi -> refault_hi : dirty_hi);
			if :: dirty_lo < lo -> extend(flo, fhi, dirty_lo, lo) :: else -> skip fi;
			if :: dirty_hi > hi -> extend(flo, fhi, hi, dirty_hi) :: else -> skip fi
		fi;
		lo = dirty_lo;
		hi = dirty_hi;
		refault_lo = 0;
		refault_hi = 0;
		plo = dirty_lo;
		phi = dirty_hi;
		first = false;
		keep = dyn || kept;
#ifdef FLIP
		if :: flip = true :: flip = false fi;
#endif
		if
		:: keep && (!kept || flip) ->	/* udb_pass_plan(): first keep or nopin flip, whole buffer */
			i = 0;
			do
			:: i < NP ->
				if
				:: i >= plo && i < phi -> skip
				:: else ->
					if
					:: snap[i] == 0 -> extend(dirty_lo, dirty_hi, i, i + 1)
					:: else -> pfns[i] = snap[i]
					fi
				fi;
				i++
			:: else -> break
			od;
			plo = 0; phi = NP
		:: else -> skip
		fi
	}
	/* the fault, page by page */
	i = flo;
	do
	:: i < fhi -> pfns[i] = owner[i]; i++
	:: else -> break
	od;
#ifdef SPURIOUS
	/* udb_pin_window() -EAGAIN: back to again without a publish check */
	if :: passes < NPASS - 1 -> passes++; goto again :: true -> skip fi;
#endif
	atomic {	/* publish under buf->lock */
		passes++;
		if
		:: dirty_lo != lo || dirty_hi != hi || refault_lo < refault_hi ||
		   seq != s ->
			if
			:: passes < NPASS -> goto again
			:: else -> goto out	/* postponed: publishes nothing */
			fi
		:: else -> skip
		fi;
		i = plo;
		do
		:: i < phi ->
			snap[i] = pfns[i];
			assert(snap[i] != 0 && snap[i] == owner[i]);
			i++
		:: else -> break
		od;
		dirty_lo = 0;
		dirty_hi = 0;
		kept = keep;
		i = 0;
		do
		:: i < NP -> assert(snap[i] == owner[i]); i++
		:: else -> break
		od
	}
	/* another change after this publish: refresh again (the lock is let
	 * go between refreshes) */
	rlock = false;
	if
	:: !owner_done || dirty_lo < dirty_hi ->
		(owner_done || dirty_lo < dirty_hi);
		if
		:: dirty_lo < dirty_hi ->
			atomic { !rlock -> rlock = true };
			first = true; passes = 0; goto again
		:: else -> skip
		fi
	:: else -> skip
	fi;
out:
	rlock = false
}

init
{
	byte i = 0;

	atomic {
		do
		:: i < NP -> owner[i] = 1; snap[i] = 1; i++
		:: else -> break
		od;
		run Owner();
		run Detach();
		run Refresh()
	}
}
