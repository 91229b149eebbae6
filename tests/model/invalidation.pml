/*
 * A model of userptr-dmabuf's invalidation protocol (docs/design.md),
 * checked with spin: the CPU changing the owner's page tables (which runs
 * the mmu notifier), the refresh worker, a dynamic importer that maps and
 * submits device jobs, and the device running them.
 *
 * Generations stand for page sets: generation g is what the owner's page
 * tables map after g changes. The importer is attached throughout, so the
 * snapshot is kept (pinned): it holds its generation's pages until a
 * publish replaces them, and map_dma_buf() serves it even while a refresh
 * is pending (no -EAGAIN). Checked:
 *  - no deadlock (no invalid end state) and every job ends;
 *  - memory safety: the device never touches a generation whose pages were
 *    freed (freed = the CPU moved on AND nothing holds them: the snapshot,
 *    a mapping, a refresh's pins);
 *  - freshness: an importer never starts a job on a mapping older than the
 *    last notification it received;
 *  - snapshot consistency: what map serves is what the page tables held
 *    at the last publish, and a VALID snapshot is never behind the CPU
 *    once the notifier has returned;
 *  - the kept mapping (udb_devmap.c): the importer's unmap keeps it for the
 *    next map, which re-uses its pages where the snapshot did not change;
 *    once the importers are told, an idle kept mapping holds nothing but
 *    the snapshot's pages. A map while it is still in use (a job owns it)
 *    makes a per-call mapping, as udb_dmabuf.c does.
 *
 * Run: tests/model/check. It verifies this model (must pass) and the
 * mutants below, each a protocol bug that must make it fail:
 *   BUG_NO_RETRY        publish without mmu_interval_read_retry()
 *   BUG_NO_MAP_REF      mappings take no page references
 *   BUG_UNKEPT          the snapshot does not hold its pages (an unpinned
 *                       mirror) yet map serves it while a refresh is pending
 *   BUG_KEEP_MAPPING    the importer ignores the notification
 *   BUG_NO_STALE        the publish does not widen the kept mapping's
 *                       stale window (udb_devmap_changed())
 *   BUG_NO_TRIM         replaced pages stay in an idle kept mapping until
 *                       the next map (no udb_devmap_trim())
 */

#define CHANGES	3	/* CPU page-table changes */
#define JOBS	3	/* device jobs the importer submits */
#define NGEN	(CHANGES + 1)
#define NONE	255

/* locks: 0 free, else owner pid + 1 */
byte resv = 0;		/* dma_resv */
byte buflock = 0;	/* buf->lock */

inline lock(l) { atomic { l == 0 -> l = _pid + 1 } }
inline unlock(l) { assert(l == _pid + 1); l = 0 }

/* the owner's page tables */
byte cpu_gen = 0;
byte seq = 0;			/* mmu_interval notifier sequence */
bool in_inv = false;		/* between invalidate_start and _end */
bool cpu_done = false;

/* page lifetime: the CPU has let go of gen g / references held on it */
bool cpu_released[NGEN];
byte refs[NGEN];	/* refs[0] starts at 1: the kept snapshot's pins */
bool freed[NGEN];

/* the buffer (under buflock) */
bool valid = true;
byte snap_gen = 0;
bool refresh_queued = false;

/* the importer (its mapping is under resv) */
byte map_gen = NONE;
byte notified_gen = 0;	/* generation published with the last notification */
bool imp_done = false;

/* device jobs in flight: the fences in the dma_resv */
byte busy = 0;
byte job_gen = NONE;
bool job_owns_map = false;	/* the notification left the mapping to the job */

/*
 * The exporter's kept mapping (under resv): the generation it holds while
 * idle (NONE: empty), whether it is handed out, whether its stale window
 * covers the page, and which mappings are it (the importer's current one,
 * the one a job owns).
 */
byte kept_gen = NONE;
bool dm_busy = false;
bool stale = false;
bool map_kept = false;
bool job_kept = false;

inline try_free(g) {
	atomic {
		if
		:: cpu_released[g] && refs[g] == 0 && !freed[g] -> freed[g] = true
		:: else -> skip
		fi
	}
}

/* Drop one hold of generation g: never more than were taken. */
inline put(g) {
	assert(refs[g] > 0);
	refs[g]--
}

/* Let go of an idle kept mapping's page if the snapshot replaced it. */
inline trim() {
	if
#ifndef BUG_NO_TRIM
	:: kept_gen != NONE && stale && kept_gen != snap_gen ->
#ifndef BUG_NO_MAP_REF
		put(kept_gen);
#endif
		try_free(kept_gen);
		kept_gen = NONE
#endif
	:: else -> skip
	fi
}

/* The last put of a mapping of generation g: kept (and trimmed) or freed. */
inline put_mapping(g, k) {
	if
	:: k ->
		dm_busy = false;
		kept_gen = g;
		trim()
	:: else ->
#ifndef BUG_NO_MAP_REF
		put(g);
#endif
		try_free(g)
	fi
}

/* CPU: each change runs the notifier, then the old pages are released. */
proctype cpu()
{
	byte old;
	do
	:: cpu_gen < CHANGES ->
		in_inv = true;
		/* mmu_interval notifier: wait for fences without any lock */
		busy == 0;
		lock(buflock);
		seq++;
		valid = false;
		refresh_queued = true;
		unlock(buflock);
		/* the page-table change itself */
		old = cpu_gen;
		cpu_gen++;
		in_inv = false;
		cpu_released[old] = true;
		try_free(old);
	:: else -> break
	od;
	cpu_done = true
}

/* Refresh worker: fault (reads the page tables), publish under resv. */
proctype refresh()
{
	byte s, g, old;
	do
	:: refresh_queued ->
		refresh_queued = false;
again:
		/*
		 * mmu_interval_read_begin() waits out an invalidation; fault,
		 * and pin what the page tables map (GUP, checked against the
		 * fault's pages)
		 */
		atomic {
			!in_inv -> s = seq; g = cpu_gen;
#ifndef BUG_UNKEPT
			refs[g]++
#endif
		}
		lock(resv);
		lock(buflock);
		if
#ifndef BUG_NO_RETRY
		:: s != seq ->				/* read_retry */
			unlock(buflock);
			unlock(resv);
#ifndef BUG_UNKEPT
			put(g);			/* unpin, retry */
#endif
			try_free(g);
			goto again
#endif
		:: else ->
			old = snap_gen;
			snap_gen = g;
			valid = true;
			unlock(buflock);
#ifndef BUG_NO_STALE
			stale = true;		/* udb_devmap_changed() */
#endif
			/*
			 * move_notify / invalidate_mappings, under resv; the
			 * mapping's refcount is atomic against the job's put
			 */
			atomic {
				if
#ifndef BUG_KEEP_MAPPING
				:: map_gen != NONE && busy == 1 && job_gen == map_gen ->
					job_owns_map = true;	/* the job puts last */
					job_kept = map_kept;
					map_gen = NONE
				:: map_gen != NONE && !(busy == 1 && job_gen == map_gen) ->
					put_mapping(map_gen, map_kept);
					map_gen = NONE
#endif
				:: else -> skip
				fi
			};
			notified_gen = g;
			/* udb_devmap_trim_idle() */
			atomic {
				if
				:: !dm_busy -> trim()
				:: else -> skip
				fi;
				assert(dm_busy || kept_gen == NONE || kept_gen == snap_gen)
			};
			unlock(resv);
			/* the replaced pages' snapshot pins go after the publish */
#ifndef BUG_UNKEPT
			put(old);
#endif
			try_free(old)
		fi
	:: cpu_done && !refresh_queued -> break
	od
}

/*
 * Importer: map (the last published snapshot, even while a refresh is
 * pending: no -EAGAIN), then submit a job on its mapping.
 */
proctype importer()
{
	byte n = 0;
	do
	:: n < JOBS ->
		lock(resv);
		if
		:: map_gen == NONE && !dm_busy ->
			/* udb_devmap_map(): trim, then fill what is empty */
			trim();
			lock(buflock);
			assert(!valid || in_inv || snap_gen == cpu_gen);
			if
			:: kept_gen == NONE ->
				kept_gen = snap_gen;
#ifndef BUG_NO_MAP_REF
				refs[kept_gen]++
#endif
			:: else -> skip
			fi;
			map_gen = kept_gen;
			kept_gen = NONE;
			stale = false;
			dm_busy = true;
			map_kept = true;
			assert(!freed[map_gen]);
			unlock(buflock)
		:: map_gen == NONE && dm_busy ->
			/* the kept mapping is in use: a per-call one */
			lock(buflock);
			/* a valid snapshot is the page tables' */
			assert(!valid || in_inv || snap_gen == cpu_gen);
			map_gen = snap_gen;
			map_kept = false;
#ifndef BUG_NO_MAP_REF
			refs[map_gen]++;
#endif
			assert(!freed[map_gen]);
			unlock(buflock)
		:: else -> skip
		fi;
		/* freshness: never older than what we were told */
		assert(map_gen >= notified_gen);
		/* submit: the job's fence goes into the resv; it uses the mapping */
		busy == 0;
		job_gen = map_gen;
		busy = 1;
		unlock(resv);
		n++
	:: else -> break
	od;
	imp_done = true
}

/* Device: runs the job on the pages it was given, then signals. */
proctype device()
{
	byte g;
	do
	:: busy == 1 ->
		g = job_gen;
		assert(!freed[g]);	/* DMA reaches only live pages */
		atomic {
			if
			:: job_owns_map ->	/* the mapping's last put */
				put_mapping(g, job_kept);
				job_owns_map = false
			:: else -> skip
			fi;
			job_gen = NONE;
			busy = 0
		}
	:: imp_done && busy == 0 -> break
	od
}

init {
	atomic {
		refs[0] = 1;	/* the snapshot keeps generation 0 */
		run cpu();
		run refresh();
		run importer();
		run device()
	}
}
