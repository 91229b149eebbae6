/* SPDX-License-Identifier: MIT */
/*
 * What the demo writes on screen, in the 5x7 font of font.h, and how the
 * checkers read it back.
 *
 * The label: udb-client draws a box of LABEL_LINES lines of up to
 * LABEL_COLS characters into its own buffer, over the test pattern, in the
 * window's top-left corner (LABEL_MARGIN pixels in, so the window's pixel
 * 0,0 is still pattern): light text on a dark opaque box, scaled 2x when
 * that box fits in the window's width and upper half, 1x when it fits at
 * all, no label in smaller windows. label_rect() is the one definition of
 * that rectangle: the client draws there and every pixel checker leaves
 * exactly it out of pattern_check_except() and compares it with
 * label_check() instead. The lines (label_text()):
 *
 *   USERPTR              the buffer path: USERPTR, FILE or SHM
 *   CHURN MREMAP/30      what it churns (--churn) and every how many frames
 *   FRAME 1234           the frame drawn into this buffer
 *   GEN 17               USERPTR_DMABUF_IOC_INFO.generation of the buffer
 *   INV 16               ... .invalidations ("-" without a module dma-buf)
 *
 * LABEL_COLS is the longest line possible (a 7-letter churn word with
 * every = UINT32_MAX, a generation of UINT64_MAX): nothing is ever cut.
 * The first two lines depend on the options only (the static part a
 * checker that does not know the figures can still compare).
 *
 * Like the pattern, the box changes at every pixel from frame to frame:
 * its background and text colours (label_bg(), label_fg()) carry frame
 * mod 8 in the low bits of their blue channel, so a box one to seven
 * frames stale differs from the expected one at every pixel.
 *
 * The status strip of udb-compositor --status: status.h.
 */
#ifndef UDB_DEMO_LABEL_H
#define UDB_DEMO_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "font.h"
#include "pattern.h"

#define LABEL_COLS 24		/* "CHURN REALLOC/4294967295", "GEN " + 20 digits */
#define LABEL_LINES 5
#define LABEL_STATIC_LINES 2	/* lines that depend on the options only */
#define LABEL_MARGIN 4		/* window edge to box, pixels, unscaled */
#define LABEL_PAD 3		/* box edge to text, font pixels */

/* The box's colours in frame @frame: dark background, light text. */
static inline uint32_t label_bg(uint32_t frame)
{
	return 0xff000000u | (frame & 7) << 3;
}

static inline uint32_t label_fg(uint32_t frame)
{
	return 0xffffffc0u | (frame & 7) << 3;
}

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

/* Format the label's lines (upper case, never longer than LABEL_COLS). */
void label_text(const struct label_info *in, label_lines out);

/*
 * Draw the box and @lines into a width x height ARGB8888 window image
 * (nothing when label_rect() says there is no room).
 */
void label_draw(void *img, uint32_t stride, uint32_t width, uint32_t height,
		uint32_t frame, const label_lines lines);

/*
 * Compare the label box of a width x height window with what
 * label_draw() draws for @lines in @frame (its colours): box background,
 * padding and every glyph pixel. Only the part inside clip_w x clip_h
 * (the window as far as it is on screen) is compared.
 *
 * A NULL line is not known to the caller: its cells are read back
 * (font_read()), what they say must have the line's format (FRAME n with
 * n = @frame mod 256, GEN and INV digits or both "-"), and then every
 * pixel is compared with that text like a known line. When the box is
 * not wholly inside the clip an unknown line's pixels must only be
 * label_fg() or label_bg(). @img is the window's top-left pixel.
 *
 * Returns 1 when it matches, else 0 with the first differing pixel
 * (window coordinates) in *bad_x, *bad_y. @seen (may be NULL) gets the
 * lines as compared: the known ones, those read back, "?" for one that
 * could not be read.
 */
int label_check(const void *img, uint32_t stride, uint32_t width,
		uint32_t height, uint32_t clip_w, uint32_t clip_h,
		uint32_t frame, const char *const lines[LABEL_LINES],
		label_lines seen, uint32_t *bad_x, uint32_t *bad_y);

/* What label_check() expects at pixel (x, y) of the window, or 0 if
 * (x, y) is outside the box or in a NULL line. */
uint32_t label_expected(uint32_t width, uint32_t height, uint32_t frame,
			const char *const lines[LABEL_LINES], uint32_t x,
			uint32_t y);

#endif /* UDB_DEMO_LABEL_H */
