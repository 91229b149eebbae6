/* SPDX-License-Identifier: MIT */
/* The compositor's status strip: see status.h. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * Read the figures of a status line from @t, digits only (the frame time
 * with at most its one decimal), as far as @t follows status_text()'s
 * format; a figure @t does not reach, or that stops being digits, is
 * left 0 (or as far as read). The caller formats the figures again with
 * status_text() and compares: anything that is not exactly what
 * status_text() writes (spacing, signs, INF, exponents, leading zeros,
 * another decimal) then differs.
 */
static void status_parse(const char *t, double *ms, uint64_t v[4])
{
	static const char *const lit[] = {
		STATUS_PREFIX "  FRAME ", " MS  IMPORTED ", " DMA-BUF ",
		" SHM  INVALIDATIONS ", "  CLIENTS ",
	};

	*ms = 0;
	v[0] = v[1] = v[2] = v[3] = 0;
	for (int f = 0; f < 5; f++) {
		size_t n = strlen(lit[f]), d;

		if (strncmp(t, lit[f], n))
			return;
		t += n;
		d = strspn(t, "0123456789");
		if (!d || d > 20)
			return;
		if (f == 0) {
			char num[24];

			if (t[d] == '.' && t[d + 1] >= '0' && t[d + 1] <= '9')
				d += 2;
			else if (t[d] == '.')
				d++;
			if (d > 15)
				return;
			memcpy(num, t, d);
			num[d] = 0;
			*ms = strtod(num, NULL);
		} else {
			uint64_t x = 0;

			for (size_t i = 0; i < d; i++) {
				uint64_t dig = (uint64_t)(t[i] - '0');

				if (x > (UINT64_MAX - dig) / 10)
					return;
				x = x * 10 + dig;
			}
			if (f == 4 && x > UINT32_MAX)
				return;
			v[f - 1] = x;
		}
		t += d;
	}
}

int status_check(const void *img, uint32_t stride, uint32_t out_w,
		 uint32_t out_h, const char *prefix, char *seen,
		 size_t seen_len, uint32_t *bad_x, uint32_t *bad_y)
{
	struct udb_rect r;
	uint32_t s = status_rect(out_w, out_h, &r), cells, text_w;
	char text[512], full[512], buf[1];
	size_t len = 0, end = 0, full_len, n;
	uint64_t v[4];
	double ms;

	if (!seen) {
		seen = buf;
		seen_len = sizeof(buf);
	}
	if (seen_len)
		seen[0] = 0;
	*bad_x = 0;
	*bad_y = 0;
	/* font_read() trusts its caller: the strip must be inside the image */
	if (out_h < r.h || !out_w || stride / 4 < out_w)
		return 0;
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
	text[len] = 0;
	snprintf(seen, seen_len, "%.*s", (int)end, text);
	/*
	 * The figures read, formatted again: the cells must show exactly
	 * that text, blank past its end, or its first cells when the
	 * output's edge cuts it (a prefix; at a space too).
	 */
	text[end] = 0;
	status_parse(text, &ms, v);
	status_text(full, sizeof(full), ms, v[0], v[1], v[2], (uint32_t)v[3]);
	full_len = strlen(full);
	n = strlen(prefix);
	if (n > cells)
		n = cells;
	for (size_t col = end; col < cells; col++)
		text[col] = ' ';
	if (strncmp(text, prefix, n)) {
		*bad_x = STATUS_PAD * s;
		*bad_y = STATUS_PAD * s;
		return 0;
	}
	for (size_t col = 0; col < cells; col++)
		if (text[col] != (col < full_len ? full[col] : ' ')) {
			/* not status_text()'s text: the first wrong cell */
			*bad_x = (STATUS_PAD + (uint32_t)col * FONT_CELL_W) * s;
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

			if (glyph_row && x >= text_w && full_len > cells) {
				/* a last cell cut by the edge */
				if (row[x] == STATUS_BG || row[x] == STATUS_FG)
					continue;
			} else if (glyph_row && ux >= STATUS_PAD) {
				uint32_t col = (ux - STATUS_PAD) / FONT_CELL_W;

				if (col < cells &&
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
