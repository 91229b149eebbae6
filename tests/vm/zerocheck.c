// SPDX-License-Identifier: GPL-2.0
/*
 * zerocheck: is the kernel's shared zero page still all zeros?
 *
 * A read of untouched private anonymous memory maps the shared zero page
 * (the huge zero page for a THP-sized read when THP is on), so every
 * process in the system sees its bytes as "fresh memory". An exporter bug
 * that lets a write reach it corrupts every process at once, yet leaves
 * no trace in dmesg. tests/vm/guest.sh runs this after every step, so
 * the step that did it is named.
 *
 * Built without sanitizers: ASan's shadow is itself untouched anonymous
 * memory, i.e. the zero page.
 *
 * Exit 0 when both pages read as zeros, 1 (and the first bytes that are
 * not) otherwise, 2 when it cannot tell.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HPAGE	(2UL << 20)

static int check(const char *what, const volatile uint8_t *p, size_t len)
{
	size_t i, shown = 0;
	int bad = 0;

	for (i = 0; i < len; i++) {
		if (!p[i])
			continue;
		if (!bad)
			printf("zerocheck: the %s is corrupted:", what);
		bad = 1;
		if (shown++ < 16)
			printf(" [%zu]=0x%02x", i, p[i]);
	}
	if (bad)
		printf("\n");
	return bad;
}

int main(void)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *small, *huge, *h;
	int bad;

	small = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	huge = mmap(NULL, 2 * HPAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (small == MAP_FAILED || huge == MAP_FAILED) {
		perror("zerocheck: mmap");
		return 2;
	}
	madvise(small, ps, MADV_NOHUGEPAGE);
	bad = check("zero page", small, ps);
	/* the huge zero page, where THP maps it (else small zero pages) */
	h = (uint8_t *)(((uintptr_t)huge + HPAGE - 1) & ~(HPAGE - 1));
	madvise(h, HPAGE, MADV_HUGEPAGE);
	bad |= check("huge zero page", h, HPAGE);
	return bad;
}
