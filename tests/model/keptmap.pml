/*
 * A model of the kept device mapping (kmod/udb_devmap.c), checked with
 * spin: a two-page buffer whose pages the owner replaces one at a time,
 * the refresh that publishes a window of pages (or fails: FAULT, DEAD, or
 * finds the memory no longer pinnable, or fails once over a page no one
 * changed), and a dynamic importer whose
 * mapping the exporter keeps across its unmaps and patches where the
 * snapshot changed. invalidation.pml models the protocol with one page;
 * this one has the windows: a kept entry outside the stale window is
 * trusted without a look at the snapshot, so a window too narrow serves a
 * stale page.
 *
 * Pages are numbered: 1 and 2 are the first two, each change of the owner
 * allocates the next. A page is freed once the owner has let it go and no
 * hold is left (the snapshot's pin, a kept entry's own hold). A kept entry
 * borrows the snapshot's pin while the snapshot keeps its page, and takes
 * a hold of its own when the snapshot is about to let that page go
 * (udb_devmap_changed()), or every page (owner gone, memory no longer
 * pinnable). Each
 * critical section under dma_resv is one atomic step (a Lipton reduction:
 * it blocks on nothing and touches what the lock protects).
 *
 * Checked:
 *  - the device never reads a freed page;
 *  - a map hands out exactly the snapshot (no stale entry);
 *  - once the importer no longer uses it, a kept mapping holds only pages
 *    the snapshot pins (nothing the snapshot dropped stays pinned);
 *  - a borrowed entry names the page the snapshot keeps at its index,
 *    also while a detach has taken the attachment off the core's list;
 *  - no page is dirtied (let go by the mapping) after it was freed;
 *  - holds are balanced: never dropped below zero.
 *
 * Mutants (tests/model/check), each must be caught:
 *   BUG_WINDOW_DIRTY   the publish widens the stale window by the owner's
 *                      last change only, not by the pages it published
 *   BUG_FAILED_NO_WIDEN a failed refresh does not widen the window
 *   BUG_RESET_AT_UNMAP the unmap empties the stale window (not the map)
 *   BUG_FLIP_KEEPS     an idle kept mapping survives the snapshot
 *                      becoming one of references
 *   BUG_NO_OWN         the publish does not make the entries that borrow
 *                      a replaced page hold it themselves
 *   BUG_PUT_BORROWED   letting an entry go releases a borrowed page too
 *   BUG_ATTACH_LIST    a change finds the kept mappings through the core's
 *                      attachment list, which a detaching attachment has
 *                      already left (not through the buffer's own list)
 */

#define NP	2		/* buffer pages */
#define CHANGES	2		/* owner changes */
#define MAXP	(NP + CHANGES + 1)
#define NONE	0

/* page lifetime */
bool cpu_released[MAXP];
byte refs[MAXP];
bool freed[MAXP];

/* the owner's page tables */
byte owner[NP];
byte next_page = NP + 1;
bool cpu_done = false;

/* the buffer, under dma_resv (publish, failure) and buf->lock */
byte snap[NP];			/* the snapshot; pinned while kept */
bool kept = true;		/* kept with pins (an importer is attached) */
bool dead = false;
bool fault = false;
byte dirty_lo = NP;		/* pages the owner changed since the publish */
byte dirty_hi = 0;
bool refresh_queued = false;
bool spurious = false;		/* a refusal without a page change happened */

/* the kept mapping, under dma_resv */
byte ent[NP];			/* the page each entry names, NONE: empty */
bool own[NP];			/* the entry holds it, else borrows the snapshot's pin */
bool exists = true;		/* the attachment has one */
bool in_use = false;
byte stale_lo = 0;		/* a new mapping is to be filled whole */
byte stale_hi = NP;
bool notified = false;		/* told of a change since the last map */
bool reading = false;		/* a device job uses the mapping */
bool imp_done = false;
bool off_list = false;		/* dma_buf_detach(): off the core's list, ->detach not yet */

inline put(p) {
	assert(refs[p] > 0);
	refs[p]--;
	if
	:: cpu_released[p] && refs[p] == 0 -> freed[p] = true
	:: else -> skip
	fi
}

inline widen_dirty(lo, hi) {
	if :: lo < dirty_lo -> dirty_lo = lo :: else -> skip fi;
	if :: hi > dirty_hi -> dirty_hi = hi :: else -> skip fi
}

inline widen(lo, hi) {
	if
	:: stale_lo >= stale_hi -> stale_lo = lo; stale_hi = hi
	:: else ->
		if :: lo < stale_lo -> stale_lo = lo :: else -> skip fi;
		if :: hi > stale_hi -> stale_hi = hi :: else -> skip fi
	fi
}

/* udb_devmap_put(): empty entry i, letting its page go if it holds it */
inline release(i) {
	assert(!freed[ent[i]]);		/* udb_dirty_page() touches it */
#ifdef BUG_PUT_BORROWED
	put(ent[i]);
#else
	if :: own[i] -> put(ent[i]) :: else -> skip fi;
#endif
	own[i] = false;
	ent[i] = NONE
}

/*
 * udb_devmap_changed(): the snapshot is letting go of its pages in
 * [lo, hi) (all of them if @all): entries that borrow such a page hold it.
 * It walks the buffer's own list of kept mappings, which still has one
 * whose attachment is being detached.
 */
inline own_window(lo, hi, all) {
#ifdef BUG_ATTACH_LIST
	if :: off_list -> goto own_done :: else -> skip fi;
#endif
	i = lo;
	do
	:: i < hi ->
		if
		:: ent[i] != NONE && !own[i] && (all || ent[i] != snap[i]) ->
			refs[ent[i]]++; own[i] = true
		:: else -> skip
		fi;
		i++
	:: else -> break
	od;
#ifdef BUG_ATTACH_LIST
own_done:
#endif
	skip
}

/*
 * udb_devmap_trim(): let go of entries in the window the snapshot replaced;
 * an owned entry whose page the (pinned) snapshot has again borrows again
 */
inline trim() {
	i = stale_lo;
	do
	:: i < stale_hi && i < NP ->
		if
		:: ent[i] != NONE && ent[i] != snap[i] -> release(i)
		:: ent[i] != NONE && ent[i] == snap[i] && own[i] && kept ->
			put(ent[i]); own[i] = false
		:: else -> skip
		fi;
		i++
	:: else -> break
	od
}

inline drop_all() {
	i = 0;
	do
	:: i < NP ->
		if :: ent[i] != NONE -> release(i) :: else -> skip fi;
		i++
	:: else -> break
	od;
	exists = false
}

/* udb_devmap_unmap(): keep, less what the snapshot replaced, while kept */
inline unmap() {
	in_use = false;
#ifdef BUG_RESET_AT_UNMAP
	stale_lo = NP; stale_hi = 0;
#endif
	if
	:: kept -> trim()
	:: else -> drop_all()
	fi
}

/*
 * After the importers are told: an idle kept mapping holds the snapshot
 * only; a borrowed entry, in use or not, names the page the snapshot keeps.
 */
inline check_idle() {
	i = 0;
	do
	:: i < NP ->
		assert(in_use || !exists || off_list || ent[i] == NONE ||
		       (kept && ent[i] == snap[i]));
		assert(ent[i] == NONE || own[i] || (kept && ent[i] == snap[i]));
		i++
	:: else -> break
	od
}

/* The owner replaces one page: the notifier widens the dirty window. */
proctype cpu()
{
	byte k = 0, pg, old;
	do
	:: k < CHANGES ->
		if :: pg = 0 :: pg = 1 fi;
		atomic {
			old = owner[pg];
			owner[pg] = next_page;
			next_page++;
			if :: pg < dirty_lo -> dirty_lo = pg :: else -> skip fi;
			if :: pg + 1 > dirty_hi -> dirty_hi = pg + 1 :: else -> skip fi;
			refresh_queued = true;
			/* the old page leaves the page tables */
			cpu_released[old] = true;
			if :: refs[old] == 0 -> freed[old] = true :: else -> skip fi
		}
		k++
	:: else -> break
	od;
	cpu_done = true
}

/*
 * Refresh: publish the dirty window (or, a re-fault of everything, the
 * whole buffer), or fail over the dirty window (FAULT), or find the owner
 * gone (DEAD), or the memory no longer pinnable (a snapshot of references).
 * Each is one dma_resv section followed by the release of stashed pins.
 */
proctype refresh()
{
	byte lo, hi, i, j, old[NP];
	do
	:: refresh_queued && !dead ->
		atomic {
			refresh_queued = false;
			lo = dirty_lo; hi = dirty_hi;
			if :: skip :: lo = 0; hi = NP fi;	/* refault_all */
			if
			:: lo < hi ->
				/* pin the new pages, publish, stash the old */
				j = lo;
				do
				:: j < hi ->
					old[j] = snap[j];
					snap[j] = owner[j];
					refs[snap[j]]++;
					j++
				:: else -> break
				od;
				fault = false;
				dirty_lo = NP; dirty_hi = 0;
#ifdef BUG_WINDOW_DIRTY
				widen(lo, lo + 1);
#else
				widen(lo, hi);
#endif
#ifndef BUG_NO_OWN
				own_window(lo, hi, false);
#endif
				/* the importer unmaps at once, or later */
				notified = true;
				if
				:: in_use && !reading -> unmap()
				:: skip
				fi;
				/* udb_devmap_trim_idle(): the core's list */
				if :: !in_use && !off_list -> trim() :: else -> skip fi;
				check_idle();
				/* the replaced pages' snapshot pins go */
				j = lo;
				do
				:: j < hi ->
					if :: old[j] != NONE -> put(old[j]) :: else -> skip fi;
					j++
				:: else -> break
				od
			:: else -> skip
			fi
		}
	:: refresh_queued && !dead && !fault ->
		/* FAULT over the dirty window: its pages lose their pins */
		atomic {
			refresh_queued = false;
			lo = dirty_lo; hi = dirty_hi;
			if
			:: lo < hi ->
				j = lo;
				do
				:: j < hi -> old[j] = snap[j]; snap[j] = NONE; j++
				:: else -> break
				od;
				fault = true;
#ifndef BUG_FAILED_NO_WIDEN
				widen(lo, hi);
#endif
				own_window(lo, hi, false);
				notified = true;
				if :: in_use && !reading -> unmap() :: skip fi;
				/* udb_devmap_trim_idle(): the core's list */
				if :: !in_use && !off_list -> trim() :: else -> skip fi;
				check_idle();
				j = lo;
				do
				:: j < hi ->
					if :: old[j] != NONE -> put(old[j]) :: else -> skip fi;
					j++
				:: else -> break
				od;
				/* the range mapped again: the next refresh publishes it */
				refresh_queued = true
			:: else -> skip
			fi
		}
	:: !dead ->
		/* the owner is gone: every pin goes, kept is cleared */
		atomic {
			j = 0;
			do
			:: j < NP -> old[j] = snap[j]; snap[j] = NONE; j++
			:: else -> break
			od;
			dead = true;
			kept = false;
			widen(0, NP);
			own_window(0, NP, true);
			notified = true;
			if :: in_use && !reading -> unmap() :: skip fi;
			if :: !in_use && exists && !off_list -> drop_all() :: else -> skip fi;
			check_idle();
			j = 0;
			do
			:: j < NP -> if :: old[j] != NONE -> put(old[j]) :: else -> skip fi; j++
			:: else -> break
			od
		};
		break
	:: kept && !dead ->
		/* the pages may no longer be pinned long-term: kept with refs */
		atomic {
			kept = false;
			own_window(0, NP, true);
			notified = true;
			if :: in_use && !reading -> unmap() :: skip fi;
#ifndef BUG_FLIP_KEEPS
			if :: !in_use && exists && !off_list -> drop_all() :: else -> skip fi;
#endif
			check_idle()
		}
	:: !spurious && kept && !dead && !fault ->
		/*
		 * The range refused for a while with no page changed (unmapped
		 * and mapped again over the same memory): a refresh fails over
		 * page 0, and a later one publishes the very page again.
		 */
		atomic {
			spurious = true;
			widen_dirty(0, 1);
			refresh_queued = true
		}
	:: cpu_done && !refresh_queued -> break
	od
}

/*
 * Importer: map, let the device read, unmap when told (or on its own),
 * detach at the end.
 */
proctype importer()
{
	byte n = 0, i;
	do
	:: n < 3 && !in_use ->
		atomic {
			if
			:: kept && !dead && !exists ->
				/* a new kept mapping: empty, its window the buffer */
				exists = true;
				stale_lo = 0; stale_hi = NP
			:: else -> skip
			fi;
			if
			:: exists && kept && !fault && !dead ->
				/* udb_devmap_map(): trim, fill the window, hand out */
				trim();
				i = stale_lo;
				do
				:: i < stale_hi && i < NP ->
					if
					:: ent[i] == NONE -> ent[i] = snap[i]; own[i] = false
					:: else -> skip
					fi;
					i++
				:: else -> break
				od;
				i = 0;
				do
				:: i < NP ->
					/* every entry, in the window or not, is the snapshot's */
					assert(ent[i] != NONE && ent[i] == snap[i] &&
					       !freed[ent[i]]);
					i++
				:: else -> break
				od;
				stale_lo = NP; stale_hi = 0;
				in_use = true;
				notified = false
			:: exists && fault && !dead ->
				/* a map while FAULT fails; the mapping stays, trimmed */
				trim()
			:: else -> skip	/* a per-call mapping or an error: not modelled */
			fi
		};
		n++
	:: in_use && !reading ->
		reading = true		/* a job starts on the mapping */
	:: reading ->
		/* the device reads every page of the table, one at a time */
		i = 0;
		do
		:: i < NP -> assert(!freed[ent[i]]); i++
		:: else -> break
		od;
		reading = false
	:: in_use && !reading ->
		atomic {
			unmap();
			check_idle()
		}
	:: n >= 3 && !in_use && !reading ->
		/*
		 * detach: dma_buf_detach() takes the attachment off the core's
		 * list and drops dma_resv; ->detach lets the kept mapping go
		 */
		off_list = true;
		atomic {
			if :: exists -> drop_all() :: else -> skip fi
		};
		break
	od;
	imp_done = true
}

init {
	atomic {
		owner[0] = 1; owner[1] = 2;
		snap[0] = 1; snap[1] = 2;
		refs[1] = 1; refs[2] = 1;	/* the snapshot's pins */
		run cpu();
		run refresh();
		run importer()
	}
}
