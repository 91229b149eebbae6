// SPDX-License-Identifier: GPL-2.0
/*
 * userptr-dmabuf: race-window hooks of test builds (make UDB_DEBUG_HOOKS=y).
 *
 * Each delay point sleeps for the milliseconds its module parameter says
 * (0, the default, does nothing), so that a test can reliably be inside a
 * window that is otherwise a few instructions wide. Never built into a
 * module meant for users.
 *
 * Locking: none; the parameters are read once per call.
 */
#include <linux/delay.h>
#include <linux/moduleparam.h>

#include "udb_internal.h"

static unsigned int debug_insert_delay_ms;
module_param(debug_insert_delay_ms, uint, 0600);
MODULE_PARM_DESC(debug_insert_delay_ms,
		 "Test builds: sleep before and after a CPU-mapping fault inserts its PTE");

static unsigned int debug_signal_delay_ms;
module_param(debug_signal_delay_ms, uint, 0600);
MODULE_PARM_DESC(debug_signal_delay_ms,
		 "Test builds: a refresh sleeps this long before it signals its fence");

static unsigned int debug_refresh_delay_ms;
module_param(debug_refresh_delay_ms, uint, 0600);
MODULE_PARM_DESC(debug_refresh_delay_ms,
		 "Test builds: a refresh pass sleeps this long before it faults");

static unsigned int debug_detach_delay_ms;
module_param(debug_detach_delay_ms, uint, 0600);
MODULE_PARM_DESC(debug_detach_delay_ms,
		 "Test builds: a detach sleeps this long before it lets the kept mapping go");

static unsigned int debug_pin_delay_ms;
module_param(debug_pin_delay_ms, uint, 0600);
MODULE_PARM_DESC(debug_pin_delay_ms,
		 "Test builds: a pin set sleeps this long before its pass that may fault");

static unsigned int *const udb_delays[UDB_DELAY_NR] = {
	[UDB_DELAY_INSERT] = &debug_insert_delay_ms,
	[UDB_DELAY_SIGNAL] = &debug_signal_delay_ms,
	[UDB_DELAY_REFRESH] = &debug_refresh_delay_ms,
	[UDB_DELAY_DETACH] = &debug_detach_delay_ms,
	[UDB_DELAY_PIN] = &debug_pin_delay_ms,
};

/**
 * udb_debug_delay() - sleep at a delay point if a test asked for it
 * @point: which one
 *
 * Context: process context, may sleep; called with no spinlock held.
 */
void udb_debug_delay(enum udb_delay_point point)
{
	unsigned int ms = READ_ONCE(*udb_delays[point]);

	if (ms)
		msleep(ms);
}
