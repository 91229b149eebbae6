/* SPDX-License-Identifier: MIT */
/* The client's label box and the compositor's status strip: see label.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "label.h"

#define BOX_W (2 * LABEL_PAD + LABEL_COLS * FONT_CELL_W - 1)
#define BOX_H (2 * LABEL_PAD + LABEL_LINES * FONT_CELL_H - 2)

uint32_t label_rect(uint32_t width, uint32_t height, struct udb_rect *r)
{
	uint32_t s;

	if (2 * BOX_W + 2 * LABEL_MARGIN <= width &&
	    2 * BOX_H + 2 * LABEL_MARGIN <= height / 2)
		s = 2;
	else if (BOX_W + 2 * LABEL_MARGIN <= width &&
		 BOX_H + 2 * LABEL_MARGIN <= height)
		s = 1;
	else
		s = 0;
	*r = (struct udb_rect){ LABEL_MARGIN, LABEL_MARGIN, s * BOX_W,
				s * BOX_H };
	if (!s)
		*r = (struct udb_rect){ 0, 0, 0, 0 };
	return s;
}

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

void label_text(const struct label_info *in, label_lines out)
{
	char tmp[LABEL_LINES][64] = { { 0 } };
	int i;

	snprintf(tmp[0], sizeof(tmp[0]), "%s", in->path);
	if (!strcmp(in->churn, "none"))
		snprintf(tmp[1], sizeof(tmp[1]), "CHURN NONE");
	else
		snprintf(tmp[1], sizeof(tmp[1]), "CHURN %s/%" PRIu32,
			 in->churn, in->churn_every);
	snprintf(tmp[2], sizeof(tmp[2]), "FRAME %" PRIu32, in->frame);
	if (in->have_info) {
		snprintf(tmp[3], sizeof(tmp[3]), "GEN %" PRIu64,
			 in->generation);
		snprintf(tmp[4], sizeof(tmp[4]), "INV %" PRIu64,
			 in->invalidations);
	} else {
		snprintf(tmp[3], sizeof(tmp[3]), "GEN -");
		snprintf(tmp[4], sizeof(tmp[4]), "INV -");
	}
	for (i = 0; i < LABEL_LINES; i++) {
		/* cut at LABEL_COLS: what fits in the box */
		memcpy(out[i], tmp[i], LABEL_COLS);
		out[i][LABEL_COLS] = 0;
		upper(out[i]);
	}
}

void label_draw(void *img, uint32_t stride, uint32_t width, uint32_t height,
		const label_lines lines)
{
	struct udb_rect r;
	uint32_t s = label_rect(width, height, &r);

	if (!s)
		return;
	for (uint32_t y = r.y; y < r.y + r.h; y++) {
		uint32_t *row = (uint32_t *)((uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = r.x; x < r.x + r.w; x++)
			row[x] = LABEL_BG;
	}
	for (int i = 0; i < LABEL_LINES; i++) {
		char line[LABEL_COLS + 1];

		/* no more than LABEL_COLS characters: what fits in the box */
		memcpy(line, lines[i], LABEL_COLS);
		line[LABEL_COLS] = 0;
		font_draw(img, stride, width, height,
			  (int32_t)(r.x + LABEL_PAD * s),
			  (int32_t)(r.y + (LABEL_PAD + i * FONT_CELL_H) * s),
			  s, line, LABEL_FG);
	}
}

/*
 * What a box whose text starts at (pad, pad) font pixels shows at font
 * pixel (ux, uy) of the box: fg, bg, or 0 for a line not compared.
 */
static uint32_t box_pixel(const char *const *lines, int nlines, int cols,
			  uint32_t pad, uint32_t ux, uint32_t uy, uint32_t fg,
			  uint32_t bg)
{
	uint32_t tx, ty, line, col;
	const char *text;

	if (ux < pad || uy < pad)
		return bg;
	tx = ux - pad;
	ty = uy - pad;
	line = ty / FONT_CELL_H;
	col = tx / FONT_CELL_W;
	if (line >= (uint32_t)nlines)
		return bg;
	text = lines[line];
	if (!text)
		return ty % FONT_CELL_H < FONT_H ? 0 : bg;
	if (col >= (uint32_t)cols || col >= strlen(text))
		return bg;
	return font_bit(text[col], tx % FONT_CELL_W, ty % FONT_CELL_H) ? fg : bg;
}

uint32_t label_expected(uint32_t width, uint32_t height,
			const char *const lines[LABEL_LINES], uint32_t x,
			uint32_t y)
{
	struct udb_rect r;
	uint32_t s = label_rect(width, height, &r);

	if (!s || !udb_rect_contains(&r, x, y))
		return 0;
	return box_pixel(lines, LABEL_LINES, LABEL_COLS, LABEL_PAD,
			 (x - r.x) / s, (y - r.y) / s, LABEL_FG, LABEL_BG);
}

int label_check(const void *img, uint32_t stride, uint32_t width,
		uint32_t height, uint32_t clip_w, uint32_t clip_h,
		const char *const lines[LABEL_LINES], uint32_t *bad_x,
		uint32_t *bad_y)
{
	struct udb_rect r;

	if (!label_rect(width, height, &r))
		return 1;
	for (uint32_t y = r.y; y < r.y + r.h && y < clip_h; y++) {
		const uint32_t *row = (const uint32_t *)
			((const uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = r.x; x < r.x + r.w && x < clip_w; x++) {
			uint32_t want = label_expected(width, height, lines,
						       x, y);

			if (want && row[x] != want) {
				*bad_x = x;
				*bad_y = y;
				return 0;
			}
		}
	}
	return 1;
}

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
	snprintf(buf, len, STATUS_PREFIX "  FRAME %.1f MS  IMPORTED %" PRIu64
		 " DMA-BUF %" PRIu64 " SHM  INVALIDATIONS %" PRIu64
		 "  CLIENTS %" PRIu32, frame_ms, buffers_dmabuf, buffers_shm,
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

int status_check(const void *img, uint32_t stride, uint32_t out_w,
		 uint32_t out_h, const char *prefix, uint32_t *bad_x,
		 uint32_t *bad_y)
{
	struct udb_rect r;
	uint32_t s = status_rect(out_w, out_h, &r);
	uint32_t w = (STATUS_PAD + (uint32_t)strlen(prefix) * FONT_CELL_W) * s;
	const char *lines[1] = { prefix };

	if (w > r.w)
		w = r.w;
	for (uint32_t y = 0; y < r.h; y++) {
		const uint32_t *row = (const uint32_t *)
			((const uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = 0; x < w; x++) {
			uint32_t want = box_pixel(lines, 1, (int)strlen(prefix),
						  STATUS_PAD, x / s, y / s,
						  STATUS_FG, STATUS_BG);

			if (row[x] != want) {
				*bad_x = x;
				*bad_y = y;
				return 0;
			}
		}
	}
	return 1;
}
