// SPDX-License-Identifier: MIT
/*
 * png-find: is a udb-client window in this screenshot?
 *
 *   png-find SHOT.png WIDTH HEIGHT SEED
 *
 * Looks for a WIDTH x HEIGHT area showing exactly the demo pattern of some
 * frame for SEED (demo/common/pattern.h) and prints where and which frame.
 * The frame is read off the window's top-left pixel (its green channel is
 * frame + 97 * seed), so no frame number has to be known: this checks a
 * compositor we cannot ask, like weston. Exit 0 when found, 1 when not,
 * 2 on errors.
 */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pattern.h"

static uint32_t *load(const char *path, uint32_t *w, uint32_t *h)
{
	png_image img = { .version = PNG_IMAGE_VERSION };
	uint32_t *px;

	if (!png_image_begin_read_from_file(&img, path)) {
		fprintf(stderr, "png-find: %s: %s\n", path, img.message);
		return NULL;
	}
	img.format = PNG_FORMAT_BGRA;	/* = ARGB8888 in little-endian words */
	px = malloc(PNG_IMAGE_SIZE(img));
	if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
		fprintf(stderr, "png-find: %s: %s\n", path, img.message);
		free(px);
		png_image_free(&img);
		return NULL;
	}
	*w = img.width;
	*h = img.height;
	return px;
}

int main(int argc, char **argv)
{
	uint32_t W, H, w, h, seed, x, y, bx, by, frame, *px;

	if (argc != 5) {
		fprintf(stderr, "usage: png-find SHOT.png WIDTH HEIGHT SEED\n");
		return 2;
	}
	w = strtoul(argv[2], NULL, 0);
	h = strtoul(argv[3], NULL, 0);
	seed = strtoul(argv[4], NULL, 0);
	px = load(argv[1], &W, &H);
	if (!px)
		return 2;
	for (y = 0; y + h <= H; y++) {
		for (x = 0; x + w <= W; x++) {
			uint32_t p = px[(size_t)y * W + x] | 0xff000000u;

			frame = (((p >> 8) & 0xff) - 97 * seed) & 0xff;
			if (p != pattern_pixel(0, 0, frame, seed))
				continue;
			if (pattern_check(px + (size_t)y * W + x, w, h, W * 4,
					  frame, seed, &bx, &by)) {
				printf("found %ux%u window at %u,%u showing frame %u (mod 256) of seed %u\n",
				       w, h, x, y, frame, seed);
				free(px);
				return 0;
			}
		}
	}
	printf("no %ux%u window of seed %u in %s (%ux%u)\n", w, h, seed,
	       argv[1], W, H);
	free(px);
	return 1;
}
