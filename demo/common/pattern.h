/* SPDX-License-Identifier: MIT */
/*
 * The demo's deterministic test pattern (shared by udb-client, the tests
 * and, read-only, the compositor).
 *
 * pattern_pixel(x, y, frame, seed) is one ARGB8888 pixel, alpha always
 * 0xff. The blue channel moves by 37 (mod 256) per frame at every pixel, so
 * the pattern of frame N differs from the one of any frame N-1..N-6 at
 * every single pixel: a capture that shows an older frame anywhere is
 * caught wherever one compares. The seed shifts all channels so two
 * clients with different seeds differ too.
 *
 * udb-client draws a label box over the pattern (label.h); the checkers
 * leave exactly that rectangle out of the pattern comparison
 * (pattern_check_except()) and compare it with the label instead.
 */
#ifndef UDB_DEMO_PATTERN_H
#define UDB_DEMO_PATTERN_H

#include <stdint.h>

/* A rectangle in the pixels of an image (or a window of it). */
struct udb_rect {
	uint32_t x, y, w, h;
};

static inline int udb_rect_contains(const struct udb_rect *r, uint32_t x,
				    uint32_t y)
{
	return r && x >= r->x && x - r->x < r->w && y >= r->y &&
	       y - r->y < r->h;
}

static inline uint32_t pattern_pixel(uint32_t x, uint32_t y, uint32_t frame,
				     uint32_t seed)
{
	uint32_t r = (x + 2 * frame + 53 * seed) & 0xff;
	uint32_t g = (y + frame + 97 * seed) & 0xff;
	uint32_t b = ((x ^ y) + 37 * frame + 11 * seed) & 0xff;

	return 0xff000000u | r << 16 | g << 8 | b;
}

/*
 * Fill a width x height ARGB8888 image (stride in bytes, a multiple of 4)
 * with the pattern of one frame.
 */
void pattern_fill(void *dst, uint32_t width, uint32_t height, uint32_t stride,
		  uint32_t frame, uint32_t seed);

/*
 * Compare an image with the pattern of a frame. Returns 1 when every pixel
 * matches, else 0 and the first mismatching pixel in *bad_x, *bad_y.
 */
int pattern_check(const void *img, uint32_t width, uint32_t height,
		  uint32_t stride, uint32_t frame, uint32_t seed,
		  uint32_t *bad_x, uint32_t *bad_y);

/*
 * The same, leaving the pixels inside @skip (window coordinates; NULL or
 * empty: none) out of the comparison.
 */
int pattern_check_except(const void *img, uint32_t width, uint32_t height,
			 uint32_t stride, uint32_t frame, uint32_t seed,
			 const struct udb_rect *skip, uint32_t *bad_x,
			 uint32_t *bad_y);

#endif /* UDB_DEMO_PATTERN_H */
