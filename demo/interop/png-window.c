// SPDX-License-Identifier: MIT
/*
 * png-window: did a window of some client we did not write show up?
 *
 *   png-window SHOT.png MIN_WIDTH MIN_HEIGHT MIN_COLORS
 *
 * The background is the colour of the top-left pixel (udb-compositor never
 * puts a window at 0,0). Prints the bounding box of the pixels that differ
 * from it and how many distinct colours it holds (counted up to 4096),
 * and exits 0 when the box is at least MIN_WIDTH x MIN_HEIGHT and has at
 * least MIN_COLORS colours (a window with content, not a flat rectangle),
 * 1 when not, 2 on errors. Used for weston's demo clients, whose drawing we
 * cannot predict pixel by pixel.
 */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_COLORS 4096

static uint32_t *load(const char *path, uint32_t *w, uint32_t *h)
{
	png_image img = { .version = PNG_IMAGE_VERSION };
	uint32_t *px;

	if (!png_image_begin_read_from_file(&img, path)) {
		fprintf(stderr, "png-window: %s: %s\n", path, img.message);
		return NULL;
	}
	img.format = PNG_FORMAT_BGRA;	/* = ARGB8888 in little-endian words */
	px = malloc(PNG_IMAGE_SIZE(img));
	if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
		fprintf(stderr, "png-window: %s: %s\n", path, img.message);
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
	static uint32_t colors[MAX_COLORS];
	uint32_t W, H, min_w, min_h, min_colors, bg, *px;
	uint32_t x0 = UINT32_MAX, y0 = UINT32_MAX, x1 = 0, y1 = 0, n = 0;
	uint64_t differ = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: png-window SHOT.png MIN_WIDTH MIN_HEIGHT MIN_COLORS\n");
		return 2;
	}
	min_w = strtoul(argv[2], NULL, 0);
	min_h = strtoul(argv[3], NULL, 0);
	min_colors = strtoul(argv[4], NULL, 0);
	px = load(argv[1], &W, &H);
	if (!px)
		return 2;
	bg = px[0] | 0xff000000u;
	for (uint32_t y = 0; y < H; y++) {
		for (uint32_t x = 0; x < W; x++) {
			uint32_t p = px[(size_t)y * W + x] | 0xff000000u;
			uint32_t i;

			if (p == bg)
				continue;
			differ++;
			if (x < x0)
				x0 = x;
			if (x > x1)
				x1 = x;
			if (y < y0)
				y0 = y;
			if (y > y1)
				y1 = y;
			for (i = 0; i < n && colors[i] != p; i++)
				;
			if (i == n && n < MAX_COLORS)
				colors[n++] = p;
		}
	}
	free(px);
	if (!differ) {
		printf("nothing but the background 0x%08x\n", bg);
		return 1;
	}
	printf("window %ux%u at %u,%u, %u colours, %llu pixels differ from the background 0x%08x\n",
	       x1 - x0 + 1, y1 - y0 + 1, x0, y0, n,
	       (unsigned long long)differ, bg);
	return x1 - x0 + 1 >= min_w && y1 - y0 + 1 >= min_h && n >= min_colors ?
	       0 : 1;
}
