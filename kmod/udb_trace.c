// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: instantiates the tracepoints declared in udb_trace.h.
 *
 * Locking: none; tracepoints may fire in any context the module runs in,
 * including the mmu notifier.
 */
#define CREATE_TRACE_POINTS
#include "udb_trace.h"
