/* SPDX-License-Identifier: MIT */
/* The client's label box: see label.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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
	/* LABEL_COLS fits the longest of each line: never cut */
	snprintf(out[0], sizeof(out[0]), "%.8s", in->path);
	if (!strcmp(in->churn, "none"))
		snprintf(out[1], sizeof(out[1]), "CHURN NONE");
	else
		snprintf(out[1], sizeof(out[1]), "CHURN %.7s/%" PRIu32,
			 in->churn, in->churn_every);
	snprintf(out[2], sizeof(out[2]), "FRAME %" PRIu32, in->frame);
	if (in->have_info) {
		snprintf(out[3], sizeof(out[3]), "GEN %" PRIu64,
			 in->generation);
		snprintf(out[4], sizeof(out[4]), "INV %" PRIu64,
			 in->invalidations);
	} else {
		snprintf(out[3], sizeof(out[3]), "GEN -");
		snprintf(out[4], sizeof(out[4]), "INV -");
	}
	for (int i = 0; i < LABEL_LINES; i++)
		upper(out[i]);
}

void label_draw(void *img, uint32_t stride, uint32_t width, uint32_t height,
		uint32_t frame, const label_lines lines)
{
	struct udb_rect r;
	uint32_t s = label_rect(width, height, &r);

	if (!s)
		return;
	for (uint32_t y = r.y; y < r.y + r.h; y++) {
		uint32_t *row = (uint32_t *)((uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = r.x; x < r.x + r.w; x++)
			row[x] = label_bg(frame);
	}
	for (int i = 0; i < LABEL_LINES; i++)
		font_draw(img, stride, width, height,
			  (int32_t)(r.x + LABEL_PAD * s),
			  (int32_t)(r.y + (LABEL_PAD + i * FONT_CELL_H) * s),
			  s, lines[i], label_fg(frame));
}

/*
 * What the box shows at font pixel (ux, uy) of the box: fg, bg, or 0 for
 * a NULL line's glyph rows.
 */
static uint32_t box_pixel(const char *const *lines, uint32_t ux, uint32_t uy,
			  uint32_t fg, uint32_t bg)
{
	uint32_t tx, ty, line, col;
	const char *text;

	if (ux < LABEL_PAD || uy < LABEL_PAD)
		return bg;
	tx = ux - LABEL_PAD;
	ty = uy - LABEL_PAD;
	line = ty / FONT_CELL_H;
	col = tx / FONT_CELL_W;
	if (line >= LABEL_LINES)
		return bg;
	text = lines[line];
	if (!text)
		return ty % FONT_CELL_H < FONT_H ? 0 : bg;
	if (col >= LABEL_COLS || col >= strlen(text))
		return bg;
	return font_bit(text[col], tx % FONT_CELL_W, ty % FONT_CELL_H) ? fg : bg;
}

uint32_t label_expected(uint32_t width, uint32_t height, uint32_t frame,
			const char *const lines[LABEL_LINES], uint32_t x,
			uint32_t y)
{
	struct udb_rect r;
	uint32_t s = label_rect(width, height, &r);

	if (!s || !udb_rect_contains(&r, x, y))
		return 0;
	return box_pixel(lines, (x - r.x) / s, (y - r.y) / s, label_fg(frame),
			 label_bg(frame));
}

/* digits only, at least one, at most @max, no leading zeros */
static bool digits(const char *s, size_t max)
{
	size_t n = strspn(s, "0123456789");

	/* as label_text() writes them: no leading zeros */
	return n > 0 && n <= max && !s[n] && (n == 1 || s[0] != '0');
}

/* Does a line read back have the format of line @i? */
static bool line_format(int i, const char *t, uint32_t frame,
			const label_lines seen)
{
	switch (i) {
	case 2:
		return !strncmp(t, "FRAME ", 6) && digits(t + 6, 10) &&
		       (strtoull(t + 6, NULL, 10) & 0xff) == (frame & 0xff);
	case 3:
	case 4:
		if (strncmp(t, i == 3 ? "GEN " : "INV ", 4))
			return false;
		if (!strcmp(t + 4, "-"))
			/* no INFO: both lines say so */
			return i == 3 || !strcmp(seen[3], "GEN -");
		return digits(t + 4, 20) &&
		       (i == 3 || strcmp(seen[3], "GEN -"));
	default:
		return t[0] != 0;	/* the path and churn words */
	}
}

/* Read back line @i of the box at scale @s; 0 and the bad pixel if not. */
static int read_line(const void *img, uint32_t stride,
		     const struct udb_rect *r, uint32_t s, uint32_t frame,
		     int i, label_lines seen, uint32_t *bad_x, uint32_t *bad_y)
{
	char *t = seen[i];
	int end = 0;

	for (int col = 0; col < LABEL_COLS; col++) {
		char c = font_read(img, stride,
				   r->x + (LABEL_PAD + col * FONT_CELL_W) * s,
				   r->y + (LABEL_PAD + i * FONT_CELL_H) * s,
				   s, label_fg(frame), label_bg(frame),
				   bad_x, bad_y);

		if (!c) {
			strcpy(t, "?");
			return 0;
		}
		t[col] = c;
		if (c != ' ')
			end = col + 1;
	}
	t[end] = 0;
	if (!line_format(i, t, frame, (const char (*)[LABEL_COLS + 1])seen)) {
		*bad_x = r->x + LABEL_PAD * s;
		*bad_y = r->y + (LABEL_PAD + i * FONT_CELL_H) * s;
		return 0;
	}
	return 1;
}

int label_check(const void *img, uint32_t stride, uint32_t width,
		uint32_t height, uint32_t clip_w, uint32_t clip_h,
		uint32_t frame, const char *const lines[LABEL_LINES],
		label_lines seen, uint32_t *bad_x, uint32_t *bad_y)
{
	uint32_t fg = label_fg(frame), bg = label_bg(frame), s;
	const char *cmp[LABEL_LINES];
	label_lines buf;
	struct udb_rect r;
	bool whole;

	if (!seen)
		seen = buf;
	s = label_rect(width, height, &r);
	if (!s)
		return 1;
	whole = r.x + r.w <= clip_w && r.y + r.h <= clip_h;
	for (int i = 0; i < LABEL_LINES; i++) {
		seen[i][0] = 0;
		cmp[i] = lines[i];
		if (lines[i]) {
			snprintf(seen[i], sizeof(seen[i]), "%s", lines[i]);
		} else if (whole) {
			if (!read_line(img, stride, &r, s, frame, i, seen,
				       bad_x, bad_y))
				return 0;
			cmp[i] = seen[i];
		}
	}
	for (uint32_t y = r.y; y < r.y + r.h && y < clip_h; y++) {
		const uint32_t *row = (const uint32_t *)
			((const uint8_t *)img + (size_t)y * stride);

		for (uint32_t x = r.x; x < r.x + r.w && x < clip_w; x++) {
			uint32_t want = box_pixel(cmp, (x - r.x) / s,
						  (y - r.y) / s, fg, bg);

			if (want ? row[x] == want : row[x] == fg ||
			    row[x] == bg)
				continue;
			*bad_x = x;
			*bad_y = y;
			return 0;
		}
	}
	return 1;
}
