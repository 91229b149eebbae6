/* SPDX-License-Identifier: MIT */
/* Write an ARGB8888 (little-endian: B, G, R, A bytes) image as an RGB PNG. */
#include <png.h>
#include <stdio.h>

#include "server.h"

int png_write_argb(const char *path, const uint32_t *px, int w, int h,
		   int stride)
{
	FILE *f = fopen(path, "wb");
	png_structp png;
	png_infop info;

	if (!f)
		return -1;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!info || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, info ? &info : NULL);
		fclose(f);
		remove(path);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, 1);
	png_write_info(png, info);
	png_set_bgr(png);			/* our bytes are B, G, R */
	png_set_filler(png, 0, PNG_FILLER_AFTER); /* and drop A */
	for (int y = 0; y < h; y++)
		png_write_row(png, (png_const_bytep)px + (size_t)y * stride);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return fclose(f) == 0 ? 0 : -1;
}
