/* SPDX-License-Identifier: MIT */
/*
 * The status strip of udb-compositor --status: one line of text in the
 * demo's 5x7 font (font.h) on an opaque black strip across the top of its
 * output (status_rect(): the whole width, 2x text on outputs at least
 * 1024x480); windows are placed below it. status_text() formats it and it
 * always starts with STATUS_PREFIX. status_check() is how the screenshot
 * checker (png-find --strip) reads it back.
 */
#ifndef UDB_DEMO_STATUS_H
#define UDB_DEMO_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "font.h"
#include "pattern.h"

#define STATUS_PAD 3		/* strip edge to text, font pixels */
#define STATUS_BG 0xff000000u
#define STATUS_FG 0xffffffffu
#define STATUS_PREFIX "UDB-COMPOSITOR"

/* The status strip of an out_w x out_h output; returns its text scale. */
uint32_t status_rect(uint32_t out_w, uint32_t out_h, struct udb_rect *r);

/* The strip's text. */
void status_text(char *buf, size_t len, double frame_ms,
		 uint64_t buffers_dmabuf, uint64_t buffers_shm,
		 uint64_t invalidations, uint32_t clients);

/* Draw the strip (background and @text) into an image of the strip's
 * size (r.w x r.h of status_rect()). */
void status_draw(void *img, uint32_t stride, uint32_t out_w, uint32_t out_h,
		 const char *text);

/*
 * Check the strip in a whole out_w x out_h output image (0 at once when
 * the image is shorter than the strip or @stride narrower than out_w):
 * every pixel of it is STATUS_BG or STATUS_FG, the padding rows are
 * background across the full width, the text is read back cell by cell
 * (font_read()), must start with @prefix (as far as cells fit) and its
 * figures are parsed (digits only, the frame time's one decimal) and
 * formatted again by status_text(): the cells must show exactly that
 * text, blank past its end, or, when the output's edge cuts it, its
 * first cells. Then every pixel is compared with that text as
 * status_draw() draws it (a last cell cut by the edge: fg or bg).
 * Returns 1 on a match, else 0 and the first bad pixel. @seen (may be
 * NULL) gets the text read back, @seen_len bytes.
 */
int status_check(const void *img, uint32_t stride, uint32_t out_w,
		 uint32_t out_h, const char *prefix, char *seen,
		 size_t seen_len, uint32_t *bad_x, uint32_t *bad_y);

#endif /* UDB_DEMO_STATUS_H */
