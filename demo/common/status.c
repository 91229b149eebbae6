/* SPDX-License-Identifier: MIT */
/* The compositor's status strip: see status.h. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

#define STATUS_FMT STATUS_PREFIX "  FRAME %.1f MS  IMPORTED %" PRIu64 \
	" DMA-BUF %" PRIu64 " SHM  INVALIDATIONS %" PRIu64 "  CLIENTS %" PRIu32

uint32_t status_rect(uint32_t out_w, uint32_t out_h, struct udb_rect *r)
{
	uint32_t s = out_w >= 1024 && out_h >= 480 ? 2 : 1;

	*r = (struct udb_rect){ 0, 0, out_w, (2 * STATUS_PAD + FONT_H) * s };
	return s;
}

void status_text(char *buf, size_t len, double frame_ms,
		 uint64_t buffers_dmabuf, uint64_t buffers_shm,
		 uint64_t invalidations, uint32_t clients)
{
	snprintf(buf, len, STATUS_FMT, frame_ms, buffers_dmabuf, buffers_shm,
		 invalidations, clients);
}

void status_draw(void *img, uint32_t stride, uint32_t out_w, uint32_t out_h,
		 const char *text)
{
	struct udb_rect r;
	uint32_t s = status_rect(out_w, out_h, &r);

	for (uint32_t y = 0; y < r.h; y++) {
		uint32_t *row = (uint32_t *)((uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = 0; x < r.w; x++)
			row[x] = STATUS_BG;
	}
	font_draw(img, stride, r.w, r.h, (int32_t)(STATUS_PAD * s),
		  (int32_t)(STATUS_PAD * s), s, text, STATUS_FG);
}

/* Does @t have status_text()'s format, all of it? */
static bool status_format(const char *t)
{
	double ms;
	uint64_t a, b, c;
	uint32_t n;
	int end = -1;

	if (sscanf(t, STATUS_PREFIX "  FRAME %lf MS  IMPORTED %" SCNu64
		   " DMA-BUF %" SCNu64 " SHM  INVALIDATIONS %" SCNu64
		   "  CLIENTS %" SCNu32 "%n", &ms, &a, &b, &c, &n, &end) != 5)
		return false;
	return end == (int)strlen(t);
}

int status_check(const void *img, uint32_t stride, uint32_t out_w,
		 uint32_t out_h, const char *prefix, char *seen,
		 size_t seen_len, uint32_t *bad_x, uint32_t *bad_y)
{
	struct udb_rect r;
	uint32_t s = status_rect(out_w, out_h, &r), cells, text_w;
	char text[512], buf[1];
	size_t len = 0, end = 0;

	if (!seen) {
		seen = buf;
		seen_len = sizeof(buf);
	}
	/* the whole cells: their 5 glyph columns inside the strip */
	cells = r.w / s >= STATUS_PAD + FONT_W ?
		(r.w / s - STATUS_PAD - FONT_W) / FONT_CELL_W + 1 : 0;
	if (cells > sizeof(text) - 1)
		cells = sizeof(text) - 1;
	for (uint32_t col = 0; col < cells; col++) {
		char c = font_read(img, stride,
				   (STATUS_PAD + col * FONT_CELL_W) * s,
				   STATUS_PAD * s, s, STATUS_FG, STATUS_BG,
				   bad_x, bad_y);

		if (!c) {
			snprintf(seen, seen_len, "%.*s?", (int)len, text);
			return 0;
		}
		text[len++] = c;
		if (c != ' ')
			end = len;
	}
	text[end] = 0;
	snprintf(seen, seen_len, "%s", text);
	if (strncmp(text, prefix, strlen(prefix)) ||
	    (end < cells && !status_format(text))) {
		/* not the prefix, or ended inside the strip and not the format */
		*bad_x = STATUS_PAD * s;
		*bad_y = STATUS_PAD * s;
		return 0;
	}
	text_w = (STATUS_PAD + cells * FONT_CELL_W) * s;
	for (uint32_t y = 0; y < r.h; y++) {
		const uint32_t *row = (const uint32_t *)
			((const uint8_t *)img + (size_t)y * stride);
		uint32_t uy = y / s;
		bool glyph_row = uy >= STATUS_PAD && uy < STATUS_PAD + FONT_H;

		for (uint32_t x = 0; x < r.w; x++) {
			uint32_t ux = x / s, want = STATUS_BG;

			if (glyph_row && x >= text_w && end == cells) {
				/* a last cell cut by the edge */
				if (row[x] == STATUS_BG || row[x] == STATUS_FG)
					continue;
			} else if (glyph_row && ux >= STATUS_PAD) {
				uint32_t col = (ux - STATUS_PAD) / FONT_CELL_W;

				if (col < end &&
				    font_bit(text[col],
					     (ux - STATUS_PAD) % FONT_CELL_W,
					     uy - STATUS_PAD))
					want = STATUS_FG;
			}
			if (row[x] != want) {
				*bad_x = x;
				*bad_y = y;
				return 0;
			}
		}
	}
	return 1;
}
