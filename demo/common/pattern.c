/* SPDX-License-Identifier: MIT */
/* The demo's test pattern: see pattern.h. */
#include <stddef.h>

#include "pattern.h"

void pattern_fill(void *dst, uint32_t width, uint32_t height, uint32_t stride,
		  uint32_t frame, uint32_t seed)
{
	for (uint32_t y = 0; y < height; y++) {
		uint32_t *row = (uint32_t *)((uint8_t *)dst + (size_t)y * stride);

		for (uint32_t x = 0; x < width; x++)
			row[x] = pattern_pixel(x, y, frame, seed);
	}
}

int pattern_check(const void *img, uint32_t width, uint32_t height,
		  uint32_t stride, uint32_t frame, uint32_t seed,
		  uint32_t *bad_x, uint32_t *bad_y)
{
	return pattern_check_except(img, width, height, stride, frame, seed,
				    NULL, bad_x, bad_y);
}

int pattern_check_except(const void *img, uint32_t width, uint32_t height,
			 uint32_t stride, uint32_t frame, uint32_t seed,
			 const struct udb_rect *skip, uint32_t *bad_x,
			 uint32_t *bad_y)
{
	for (uint32_t y = 0; y < height; y++) {
		const uint32_t *row = (const uint32_t *)
			((const uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = 0; x < width; x++) {
			if (row[x] == pattern_pixel(x, y, frame, seed) ||
			    udb_rect_contains(skip, x, y))
				continue;
			*bad_x = x;
			*bad_y = y;
			return 0;
		}
	}
	return 1;
}
