/* SPDX-License-Identifier: MIT */
/*
 * What the demo writes on screen, in the 5x7 font of font.h, and how the
 * checkers read it back.
 *
 * The label: udb-client draws a box of LABEL_LINES lines of LABEL_COLS
 * characters into its own buffer, over the test pattern, in the window's
 * top-left corner (LABEL_MARGIN pixels in, so the window's pixel 0,0 is
 * still pattern): white text on an opaque black box, scaled 2x when that
 * box fits in the window's width and upper half, 1x when it fits at all,
 * no label in smaller windows. label_rect() is the one definition of that
 * rectangle: the client draws there and every pixel checker leaves
 * exactly it out of pattern_check_except() and compares it with
 * label_check() instead. The lines (label_text()):
 *
 *   USERPTR              the buffer path: USERPTR, FILE or SHM
 *   CHURN MREMAP/30      what it churns (--churn) and every how many frames
 *   FRAME 1234           the frame drawn into this buffer
 *   GEN 17               USERPTR_DMABUF_IOC_INFO.generation of the buffer
 *   INV 16               ... .invalidations ("-" without a module dma-buf)
 *
 * The first two lines depend on the options only (the static part a
 * screenshot checker that does not know the frame can still compare).
 *
 * The status strip: udb-compositor --status draws one line of text on an
 * opaque black strip across the top of its output (status_rect(): the
 * whole width, 2x text on outputs at least 1024x480) and places windows
 * below it; status_text() formats it and it always starts with
 * STATUS_PREFIX.
 */
#ifndef UDB_DEMO_LABEL_H
#define UDB_DEMO_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "font.h"
#include "pattern.h"

#define LABEL_COLS 16
#define LABEL_LINES 5
#define LABEL_STATIC_LINES 2	/* lines that depend on the options only */
#define LABEL_MARGIN 4		/* window edge to box, pixels, unscaled */
#define LABEL_PAD 3		/* box edge to text, font pixels */
#define LABEL_BG 0xff000000u
#define LABEL_FG 0xffffffffu

/* What the label says. */
struct label_info {
	const char *path;	/* "userptr", "file", "shm" */
	const char *churn;	/* "none", "mremap", ... */
	uint32_t churn_every;
	uint32_t frame;
	bool have_info;		/* generation/invalidations are known */
	uint64_t generation, invalidations;
};

typedef char label_lines[LABEL_LINES][LABEL_COLS + 1];

/*
 * The label box of a width x height window. Returns its scale (2 or 1)
 * and the box in *r, or 0 and an empty *r when the window is too small
 * for a label.
 */
uint32_t label_rect(uint32_t width, uint32_t height, struct udb_rect *r);

/* Format the label's lines (upper case, cut at LABEL_COLS). */
void label_text(const struct label_info *in, label_lines out);

/*
 * Draw the box and @lines into a width x height ARGB8888 window image
 * (nothing when label_rect() says there is no room).
 */
void label_draw(void *img, uint32_t stride, uint32_t width, uint32_t height,
		const label_lines lines);

/*
 * Compare the label box of a width x height window with what
 * label_draw() draws for @lines: box background, padding and every glyph
 * pixel. Only the part inside clip_w x clip_h (the window as far as it
 * is on screen) is compared; a NULL line is not compared (the rows of its
 * glyphs, whole box width, are skipped). @img is the window's top-left
 * pixel. Returns 1 when it matches, else 0 with the first differing
 * pixel (window coordinates) in *bad_x, *bad_y.
 */
int label_check(const void *img, uint32_t stride, uint32_t width,
		uint32_t height, uint32_t clip_w, uint32_t clip_h,
		const char *const lines[LABEL_LINES], uint32_t *bad_x,
		uint32_t *bad_y);

/* What label_check() expects at pixel (x, y) of the window, or 0 if
 * (x, y) is outside the box or in a line that is not compared. */
uint32_t label_expected(uint32_t width, uint32_t height,
			const char *const lines[LABEL_LINES], uint32_t x,
			uint32_t y);

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
 * Compare the strip in a whole out_w x out_h output image: the strip's
 * top rows and its cells under @prefix (background, padding, glyphs).
 * Returns 1 on a match, else 0 and the first bad pixel.
 */
int status_check(const void *img, uint32_t stride, uint32_t out_w,
		 uint32_t out_h, const char *prefix, uint32_t *bad_x,
		 uint32_t *bad_y);

#endif /* UDB_DEMO_LABEL_H */
