/* SPDX-License-Identifier: MIT */
/*
 * A built-in 5x7 bitmap font for the demo's labels (udb-client's label
 * box, udb-compositor's status strip and the checkers that read them).
 *
 * Glyphs are 5 columns by 7 rows, laid out in cells of FONT_CELL_W x
 * FONT_CELL_H pixels (one column and two rows of spacing) and scaled by
 * an integer factor. It knows space, digits, A-Z (lower case is drawn as
 * upper case) and - . / : = _ ? % , ( ) +; any other character is drawn
 * as '?'. Only the set pixels are written: whoever draws text fills its
 * background first.
 */
#ifndef UDB_DEMO_FONT_H
#define UDB_DEMO_FONT_H

#include <stdbool.h>
#include <stdint.h>

#define FONT_W 5
#define FONT_H 7
#define FONT_CELL_W 6
#define FONT_CELL_H 9

/*
 * The 7 rows of character @c (after folding case and replacing unknown
 * characters by '?'); bit 4 of a row is its leftmost pixel.
 */
const uint8_t *font_glyph(char c);

/* Whether pixel (gx, gy) of @c's glyph is set (false outside 5x7). */
bool font_bit(char c, uint32_t gx, uint32_t gy);

/*
 * Draw @text at (x, y) (top left of the first cell) in an ARGB8888 image
 * of width x height pixels, @stride bytes a row, each glyph pixel a
 * scale x scale square of @fg. Pixels outside the image are skipped.
 */
void font_draw(void *img, uint32_t stride, uint32_t width, uint32_t height,
	       int32_t x, int32_t y, uint32_t scale, const char *text,
	       uint32_t fg);

/*
 * The character whose glyph is @rows (7 rows as font_glyph() returns),
 * ' ' for a blank cell, or 0 when no glyph of the font is @rows.
 */
char font_match(const uint8_t rows[FONT_H]);

/*
 * Read back one glyph that font_draw() drew at scale @scale with its
 * top-left font pixel at (x, y) of an ARGB8888 image: the top-left pixel
 * of each scaled font pixel must be @fg or @bg. Returns the character
 * (' ' for a blank cell), or 0 with the offending pixel in *bad_x,
 * *bad_y when a pixel is neither colour or no glyph matches (then the
 * cell's top-left). The caller compares every pixel afterwards.
 * No bounds are checked: the caller makes sure the whole cell,
 * 5 x 7 font pixels of scale x scale from (x, y), is inside the image.
 */
char font_read(const void *img, uint32_t stride, uint32_t x, uint32_t y,
	       uint32_t scale, uint32_t fg, uint32_t bg, uint32_t *bad_x,
	       uint32_t *bad_y);

#endif /* UDB_DEMO_FONT_H */
