/* SPDX-License-Identifier: MIT */
/*
 * TAP for the library and label tests: tap() prints one numbered line and counts
 * the failures; tap_end() prints the plan and the "N passed, N failed"
 * line and gives the exit status. One test program per include.
 */
#ifndef UDB_TESTS_TAP_H
#define UDB_TESTS_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int n, failed;

static void tap(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	n++;
	if (!ok)
		failed++;
	printf("%sok %d - ", ok ? "" : "not ", n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int tap_end(void)
{
	printf("1..%d\n%d passed, %d failed\n", n, n - failed, failed);
	return failed ? 1 : 0;
}

#endif
