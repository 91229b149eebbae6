/*
 * A model of userptr-dmabuf's invalidation protocol (docs/design.md),
 * checked with spin: the CPU changing the owner's page tables (which runs
 * the mmu notifier), the refresh worker, a dynamic importer that maps and
 * submits device jobs, and the device running them.
 *
 * Generations stand for page sets: generation g is what the owner's page
 * tables map after g changes. Checked:
 *  - no deadlock (no invalid end state) and every job ends;
 *  - memory safety: the device never touches a generation whose pages were
 *    freed (freed = the CPU moved on AND no mapping references them);
 *  - freshness: an importer never starts a job on a mapping older than the
 *    last notification it received;
 *  - snapshot consistency: what map serves is what the page tables held
 *    at the last publish, and a VALID snapshot is never behind the CPU
 *    once the notifier has returned.
 *
 * Run: tests/model/check. It verifies this model (must pass) and the
 * mutants below, each a protocol bug that must make it fail:
 *   BUG_NO_RETRY        publish without mmu_interval_read_retry()
 *   BUG_NO_MAP_REF      mappings take no page references
 *   BUG_SERVE_STALE     map_dma_buf serves a snapshot marked stale
 *   BUG_KEEP_MAPPING    the importer ignores the notification
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
byte refs[NGEN];
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

inline try_free(g) {
	atomic {
		if
		:: cpu_released[g] && refs[g] == 0 && !freed[g] -> freed[g] = true
		:: else -> skip
		fi
	}
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
	byte s, g;
	do
	:: refresh_queued ->
		refresh_queued = false;
again:
		/* mmu_interval_read_begin() waits out an invalidation; fault */
		atomic { !in_inv -> s = seq; g = cpu_gen }
		lock(resv);
		lock(buflock);
		if
#ifndef BUG_NO_RETRY
		:: s != seq ->				/* read_retry */
			unlock(buflock);
			unlock(resv);
			goto again
#endif
		:: else ->
			snap_gen = g;
			valid = true;
			unlock(buflock);
			/* move_notify / invalidate_mappings, under resv */
			if
#ifndef BUG_KEEP_MAPPING
			:: map_gen != NONE ->
#ifndef BUG_NO_MAP_REF
				refs[map_gen]--;
#endif
				try_free(map_gen);
				map_gen = NONE
#endif
			:: else -> skip
			fi;
			notified_gen = g;
			unlock(resv)
		fi
	:: cpu_done && !refresh_queued -> break
	od
}

/* Importer: map (retry on -EAGAIN), then submit a job on its mapping. */
proctype importer()
{
	byte n = 0;
	do
	:: n < JOBS ->
		lock(resv);
		if
		:: map_gen == NONE ->
			lock(buflock);
			if
#ifdef BUG_SERVE_STALE
			:: true ->
#else
			:: valid ->
				/* a valid snapshot is the page tables' */
				assert(in_inv || snap_gen == cpu_gen);
#endif
				map_gen = snap_gen;
#ifndef BUG_NO_MAP_REF
				refs[map_gen]++;
#endif
				assert(!freed[map_gen]);
				unlock(buflock)
			:: else ->
				unlock(buflock);	/* -EAGAIN: drop resv, retry */
				unlock(resv);
				goto retry
			fi
		:: else -> skip
		fi;
		/* freshness: never older than what we were told */
		assert(map_gen >= notified_gen);
		/* submit: the job's fence goes into the resv */
		busy == 0;
		job_gen = map_gen;
		refs[job_gen]++;
		busy = 1;
		unlock(resv);
		n++;
retry:
		skip
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
		refs[g]--;
		try_free(g);
		job_gen = NONE;
		busy = 0
	:: imp_done && busy == 0 -> break
	od
}

init {
	atomic {
		run cpu();
		run refresh();
		run importer();
		run device()
	}
}
