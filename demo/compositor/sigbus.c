/* SPDX-License-Identifier: MIT */
/*
 * Reading memory a client can shrink under us.
 *
 * A wl_shm pool is a MAP_SHARED mapping of a client's file. If the client
 * truncates the file, touching the pages past the new end raises SIGBUS,
 * which would kill the compositor. Around each access the caller names
 * the mapping (sigbus_guard_begin); a SIGBUS whose address lies inside it
 * replaces the whole mapping with anonymous zero pages (MAP_FIXED, so the
 * faulting instruction can be restarted and reads zeros) and marks the
 * access as failed; sigbus_guard_end() tells the caller, who then posts a
 * protocol error. A SIGBUS anywhere else is not ours: the previous
 * handler (the default, or ASan's) is put back and the fault repeats.
 *
 * The guarded range is a global, not a thread-local: the fault may come
 * from a thread of the GL driver copying on the caller's behalf while the
 * caller waits in that GL call. Only the main thread sets it, and never
 * two ranges at once.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "server.h"

static struct sigaction previous;
static void *volatile guard_addr;
static volatile size_t guard_len;
static volatile sig_atomic_t guard_hit;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t a = (uintptr_t)si->si_addr, lo = (uintptr_t)guard_addr;

	(void)sig, (void)ctx;
	if (lo && a >= lo && a - lo < guard_len &&
	    mmap(guard_addr, guard_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
		guard_hit = 1;
		return;
	}
	/* not ours: the previous disposition handles the repeated fault */
	sigaction(SIGBUS, &previous, NULL);
}

int sigbus_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, &previous);
}

void sigbus_guard_begin(void *addr, size_t len)
{
	guard_hit = 0;
	guard_len = len;
	__atomic_store_n(&guard_addr, addr, __ATOMIC_SEQ_CST);
}

bool sigbus_guard_end(void)
{
	__atomic_store_n(&guard_addr, NULL, __ATOMIC_SEQ_CST);
	guard_len = 0;
	return guard_hit != 0;
}
