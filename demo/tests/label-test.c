// SPDX-License-Identifier: MIT
/*
 * udb-label-test: host unit test of the demo's on-screen text
 * (demo/common/font.h, label.h, status.h): the 5x7 font against glyph bits written
 * out here by hand, the label's lines from fake INFO figures, its box
 * (label_rect()) and the checkers: the pattern comparison leaves exactly
 * the box out, label_check() compares every pixel in it, the status
 * strip's layout and check. TAP, "N passed, N failed", exit 1 on a
 * failure. No display, no module: run-demo-tests runs it first.
 */
#include <stdlib.h>
#include <string.h>

#include "label.h"
#include "status.h"
#include "tap.h"

#define W 256
#define H 256

static uint32_t img[H * W];

static void clear(uint32_t v)
{
	for (size_t i = 0; i < W * H; i++)
		img[i] = v;
}

/*
 * Does the image at (x0, y0) show @art ('#' fg, '.' background), each art
 * pixel a scale x scale square? Returns the first bad row*1000+col + 1,
 * or 0.
 */
static int art_diff(const char *const *art, int rows, uint32_t x0,
		    uint32_t y0, uint32_t scale, uint32_t fg, uint32_t bg)
{
	for (int r = 0; r < rows; r++) {
		for (int c = 0; art[r][c]; c++) {
			uint32_t want = art[r][c] == '#' ? fg : bg;

			for (uint32_t sy = 0; sy < scale; sy++)
				for (uint32_t sx = 0; sx < scale; sx++)
					if (img[(y0 + r * scale + sy) * W +
						x0 + c * scale + sx] != want)
						return r * 1000 + c + 1;
		}
	}
	return 0;
}

/* "A1" as the font must draw it: 5x7 glyphs, one column of spacing */
static const char *const art_a1[] = {
	".###....#..",
	"#...#..##..",
	"#...#...#..",
	"#####...#..",
	"#...#...#..",
	"#...#...#..",
	"#...#..###.",
	"...........",
	"...........",
};

static const char *const art_7[] = {
	"#####",
	"....#",
	"...#.",
	"..#..",
	".#...",
	".#...",
	".#...",
};

static const char *const art_u[] = {
	"#...#",
	"#...#",
	"#...#",
	"#...#",
	"#...#",
	"#...#",
	".###.",
};

static void test_font(void)
{
	int d;

	clear(0);
	font_draw(img, W * 4, W, H, 10, 20, 1, "A1", 0xffffffffu);
	d = art_diff(art_a1, 9, 10, 20, 1, 0xffffffffu, 0);
	tap(!d, "font: \"A1\" at scale 1 is the expected 5x7 glyph bits (first difference %d)", d);

	clear(0xff000000u);
	font_draw(img, W * 4, W, H, 3, 5, 2, "7", 0xff00ff00u);
	d = art_diff(art_7, 7, 3, 5, 2, 0xff00ff00u, 0xff000000u);
	tap(!d, "font: \"7\" at scale 2 is every glyph bit as a 2x2 square (first difference %d)", d);

	tap(!memcmp(font_glyph('u'), font_glyph('U'), FONT_H) &&
	    !memcmp(font_glyph('#'), font_glyph('?'), FONT_H) &&
	    !memcmp(font_glyph('\x7f'), font_glyph('?'), FONT_H) &&
	    font_bit('U', 0, 0) && !font_bit('U', 1, 0) &&
	    !font_bit('U', 5, 0) && !font_bit('U', 0, 7),
	    "font: lower case is drawn as upper case, unknown characters as '?', nothing outside 5x7");

	/* clipping: text running off the image writes nothing outside it */
	clear(0);
	font_draw(img, W * 4, 8, 8, -3, -2, 1, "WW", 0xffffffffu);
	d = 0;
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			if (img[y * W + x] && (x >= 8 || y >= 8))
				d = 1;
	tap(!d, "font: clipped to the given width x height");
}

static void test_text(void)
{
	struct label_info li = {
		.path = "userptr", .churn = "mremap", .churn_every = 30,
		.frame = 1234, .have_info = true, .generation = 17,
		.invalidations = 16,
	};
	static const char *const want[LABEL_LINES] = {
		"USERPTR", "CHURN MREMAP/30", "FRAME 1234", "GEN 17", "INV 16",
	};
	label_lines l;
	bool ok = true;

	label_text(&li, l);
	for (int i = 0; i < LABEL_LINES; i++)
		ok = ok && !strcmp(l[i], want[i]);
	tap(ok, "label text: fake INFO figures (generation 17, invalidations 16): %s|%s|%s|%s|%s",
	    l[0], l[1], l[2], l[3], l[4]);

	li = (struct label_info){ .path = "shm", .churn = "none",
				  .churn_every = 10, .frame = 4294967295u };
	label_text(&li, l);
	tap(!strcmp(l[0], "SHM") && !strcmp(l[1], "CHURN NONE") &&
	    !strcmp(l[2], "FRAME 4294967295") && !strcmp(l[3], "GEN -") &&
	    !strcmp(l[4], "INV -"),
	    "label text: no INFO (wl_shm): GEN -, INV -; the largest frame fits");

	/* the longest figures: nothing is cut, no digit lost */
	li = (struct label_info){ .path = "userptr", .churn = "realloc",
				  .churn_every = 100, .frame = 12,
				  .have_info = true,
				  .generation = 1234567890123456ull,
				  .invalidations = 98765432109876ull };
	label_text(&li, l);
	tap(!strcmp(l[1], "CHURN REALLOC/100") &&
	    !strcmp(l[3], "GEN 1234567890123456") &&
	    !strcmp(l[4], "INV 98765432109876"),
	    "label text: --churn realloc --churn-every 100 and 16-digit figures keep every digit (%s, %s, %s)",
	    l[1], l[3], l[4]);
	li = (struct label_info){ .path = "userptr", .churn = "madvise",
				  .churn_every = UINT32_MAX,
				  .frame = UINT32_MAX, .have_info = true,
				  .generation = UINT64_MAX,
				  .invalidations = UINT64_MAX };
	label_text(&li, l);
	tap(!strcmp(l[1], "CHURN MADVISE/4294967295") &&
	    !strcmp(l[2], "FRAME 4294967295") &&
	    !strcmp(l[3], "GEN 18446744073709551615") &&
	    !strcmp(l[4], "INV 18446744073709551615"),
	    "label text: the largest every, frame, generation, invalidations are never cut (%s, %s, %s)",
	    l[1], l[3], l[4]);
}

static void test_rect(void)
{
	struct udb_rect r;
	uint32_t s;

	s = label_rect(256, 256, &r);
	tap(s == 1 && r.x == 4 && r.y == 4 && r.w == 149 && r.h == 49,
	    "label box of 256x256: scale 1 at 4,4 149x49 (got %u at %u,%u %ux%u)",
	    s, r.x, r.y, r.w, r.h);
	s = label_rect(384, 288, &r);
	tap(s == 2 && r.w == 298 && r.h == 98, "label box of 384x288: scale 2");
	s = label_rect(157, 57, &r);
	tap(s == 1 && r.x == 4 && r.y == 4 && r.w == 149 && r.h == 49,
	    "label box of 157x57: scale 1 at 4,4 149x49 (got %u, %ux%u)", s,
	    r.w, r.h);
	s = label_rect(156, 57, &r);
	tap(s == 0, "no label box in a 156x57 window");
	s = label_rect(48, 40, &r);
	tap(s == 0 && r.w == 0 && r.h == 0,
	    "no label box in a 48x40 window (the parallel tests' size)");
}

/* the label of @li drawn over the pattern of li->frame */
static void draw_label(const struct label_info *li, label_lines l)
{
	label_text(li, l);
	pattern_fill(img, W, H, W * 4, li->frame, 5);
	label_draw(img, W * 4, W, H, li->frame,
		   (const char (*)[LABEL_COLS + 1])l);
}

static void test_draw_check(void)
{
	struct label_info li = {
		.path = "userptr", .churn = "fork", .churn_every = 30,
		.frame = 77, .have_info = true, .generation = 3,
		.invalidations = 2,
	};
	const char *lines[LABEL_LINES], *stat[LABEL_LINES] = { 0 };
	struct udb_rect r;
	uint32_t bx = 0, by = 0, s, keep, fg = label_fg(77), bg = label_bg(77);
	label_lines l, seen;
	bool ok;
	int d;

	draw_label(&li, l);
	for (int i = 0; i < LABEL_LINES; i++)
		lines[i] = l[i];
	stat[0] = l[0];
	stat[1] = l[1];
	s = label_rect(W, H, &r);

	/* the first glyph, 'U', at the box's padding */
	d = art_diff(art_u, 7, r.x + LABEL_PAD * s, r.y + LABEL_PAD * s, s,
		     fg, bg);
	tap(!d, "label: \"U\" of USERPTR at %u,%u in the frame's colours (first difference %d)",
	    r.x + LABEL_PAD * s, r.y + LABEL_PAD * s, d);
	tap(img[r.y * W + r.x] == bg &&
	    img[(r.y + r.h - 1) * W + r.x + r.w - 1] == bg &&
	    img[(r.y + r.h) * W + r.x + r.w] == pattern_pixel(r.x + r.w, r.y + r.h, 77, 5) &&
	    img[0] == pattern_pixel(0, 0, 77, 5),
	    "label: the box's corners are its background, the pattern starts right after it and at 0,0");

	/* the pattern's rule holds in the box: frame N differs from frames
	 * N-1..N-6 at every pixel */
	ok = true;
	for (uint32_t k = 1; k <= 6 && ok; k++)
		for (uint32_t y = r.y; y < r.y + r.h && ok; y++)
			for (uint32_t x = r.x; x < r.x + r.w && ok; x++) {
				uint32_t now = label_expected(W, H, 77, lines, x, y);
				const char *old[LABEL_LINES] = { l[0], l[1] };
				uint32_t then;

				/* frame 77-k's box, whatever its text */
				for (int i = 2; i < LABEL_LINES; i++)
					old[i] = i == 2 ? "FRAME 8" : l[i];
				then = label_expected(W, H, 77 - k, old, x, y);
				ok = now != then;
				if (!ok) {
					bx = x;
					by = y;
				}
			}
	tap(ok, "label: the box of frame N differs from those of frames N-1..N-6 at every pixel (first equal %u,%u)",
	    bx, by);
	tap(label_fg(77) != label_bg(77 - 1) && (label_fg(0) & 0xff) >= 0xc0 &&
	    (label_bg(7) & 0xffffff) < 0x40,
	    "label colours: light text on a dark box in every frame");

	ok = !pattern_check(img, W, H, W * 4, 77, 5, &bx, &by) &&
	     udb_rect_contains(&r, bx, by);
	tap(ok, "pattern_check() without the box fails inside it (%u,%u)", bx,
	    by);
	tap(pattern_check_except(img, W, H, W * 4, 77, 5, &r, &bx, &by),
	    "pattern_check_except() leaves out the box and passes");
	tap(label_check(img, W * 4, W, H, W, H, 77, lines, NULL, &bx, &by),
	    "label_check(): every pixel of the box is the label as drawn");
	ok = label_check(img, W * 4, W, H, W, H, 77, stat, seen, &bx, &by);
	for (int i = 0; i < LABEL_LINES; i++)
		ok = ok && !strcmp(seen[i], l[i]);
	tap(ok, "label_check() of the static lines passes and reads back the others (%s|%s|%s)",
	    seen[2], seen[3], seen[4]);
	tap(!label_check(img, W * 4, W, H, W, H, 78, lines, NULL, &bx, &by) &&
	    bx == r.x && by == r.y &&
	    !label_check(img, W * 4, W, H, W, H, 76 + 256, stat, NULL, &bx, &by),
	    "label_check() of the next or previous frame fails at the box's first pixel (its colours)");

	/* a pixel just outside the box is the pattern's: changed, caught */
	keep = img[(r.y + r.h) * W + r.x];
	img[(r.y + r.h) * W + r.x] ^= 0x010101;
	ok = !pattern_check_except(img, W, H, W * 4, 77, 5, &r, &bx, &by) &&
	     bx == r.x && by == r.y + r.h;
	tap(ok, "a pixel just below the box is compared with the pattern (caught at %u,%u)",
	    bx, by);
	img[(r.y + r.h) * W + r.x] = keep;
	keep = img[r.y * W + r.x + r.w];
	img[r.y * W + r.x + r.w] ^= 0x010101;
	tap(!pattern_check_except(img, W, H, W * 4, 77, 5, &r, &bx, &by) &&
	    bx == r.x + r.w && by == r.y,
	    "a pixel just right of the box is compared with the pattern");
	img[r.y * W + r.x + r.w] = keep;

	/* one glyph pixel of the frame number, one background pixel */
	li.frame = 78;
	label_text(&li, l);
	li.frame = 77;
	ok = !label_check(img, W * 4, W, H, W, H, 77, lines, NULL, &bx, &by) &&
	     by >= r.y + (LABEL_PAD + 2 * FONT_CELL_H) * s &&
	     by < r.y + (LABEL_PAD + 3 * FONT_CELL_H) * s;
	tap(ok, "label_check() catches another frame number (line 3, at %u,%u)",
	    bx, by);
	label_text(&li, l);
	img[(r.y + 1) * W + r.x + 1] ^= 1;
	tap(!label_check(img, W * 4, W, H, W, H, 77, lines, NULL, &bx, &by) &&
	    bx == r.x + 1 && by == r.y + 1 &&
	    !label_check(img, W * 4, W, H, W, H, 77, stat, NULL, &bx, &by),
	    "label_check() catches one wrong background pixel (also with the static lines only)");
	tap(label_check(img, W * 4, W, H, 1, 1, 77, lines, NULL, &bx, &by),
	    "label_check() compares only inside the clip (window partly on screen)");
	img[(r.y + 1) * W + r.x + 1] ^= 1;
	stat[0] = "SHM";
	tap(!label_check(img, W * 4, W, H, W, H, 77, stat, NULL, &bx, &by),
	    "label_check() of another path word (SHM for USERPTR) fails");
	stat[0] = l[0];

	/* the lines png-find does not know: anything else there is caught */
	{
		uint32_t y0 = r.y + (LABEL_PAD + 2 * FONT_CELL_H) * s;
		uint32_t y1 = r.y + r.h - LABEL_PAD * s;

		/* the glyph rows only, from the text's left edge to the
		 * box's right one: what the old check skipped */
		for (uint32_t y = y0; y < y1; y++)
			for (uint32_t x = r.x + LABEL_PAD * s; x < r.x + r.w;
			     x++)
				if ((y - y0) / s % FONT_CELL_H < FONT_H)
					img[y * W + x] =
						pattern_pixel(x, y, 70, 5);
		ok = !label_check(img, W * 4, W, H, W, H, 77, stat, NULL, &bx,
				  &by) && by >= y0;
		tap(ok, "label_check() of the static lines: another frame's pattern over the other lines' glyph rows is caught (at %u,%u)",
		    bx, by);
		draw_label(&li, l);
		img[(y0 + 3) * W + r.x + r.w - 2] = fg;	/* past the text */
		ok = !label_check(img, W * 4, W, H, W, H, 77, stat, NULL, &bx,
				  &by);
		tap(ok, "label_check() of the static lines: a text pixel in the cells past FRAME 77 is caught (at %u,%u)",
		    bx, by);
	}
	li.frame = 77 + 256;	/* same colours, same frame mod 256 */
	draw_label(&li, l);
	tap(label_check(img, W * 4, W, H, W, H, 77, stat, seen, &bx, &by),
	    "label_check() of the static lines: FRAME %s read back matches frame 77 mod 256",
	    seen[2] + 6);
	li.frame = 77 + 8;	/* same colours, another frame mod 256 */
	draw_label(&li, l);
	tap(!label_check(img, W * 4, W, H, W, H, 77, stat, seen, &bx, &by),
	    "label_check() of the static lines: \"%s\" read back in frame 77 fails",
	    seen[2]);
	li.frame = 77;
	draw_label(&li, l);
	{
		static const char *const bad[][2] = {
			{ "GEN 12A", "INV 3" }, { "GEN -", "INV 3" },
			{ "GEN 3", "INV -" }, { "GEN", "INV" },
			{ "INV 3", "GEN 3" }, { "GEN 007", "INV 3" },
			{ "GEN 3", "INV 01" },
		};

		ok = true;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(l[3], sizeof(l[3]), "%s", bad[i][0]);
			snprintf(l[4], sizeof(l[4]), "%s", bad[i][1]);
			pattern_fill(img, W, H, W * 4, 77, 5);
			label_draw(img, W * 4, W, H, 77,
				   (const char (*)[LABEL_COLS + 1])l);
			if (label_check(img, W * 4, W, H, W, H, 77, stat, NULL,
					&bx, &by)) {
				ok = false;
				break;
			}
		}
		snprintf(l[3], sizeof(l[3]), "GEN -");
		snprintf(l[4], sizeof(l[4]), "INV -");
		pattern_fill(img, W, H, W * 4, 77, 5);
		label_draw(img, W * 4, W, H, 77,
			   (const char (*)[LABEL_COLS + 1])l);
		tap(ok && label_check(img, W * 4, W, H, W, H, 77, stat, NULL,
				      &bx, &by),
		    "label_check() of the static lines: GEN/INV lines that are not digits (or have leading zeros, GEN 007) or both \"-\" fail; GEN -, INV - pass");
	}
}

static void test_status(void)
{
	enum { OW = 1280, OH = 720 };
	uint32_t *out = calloc((size_t)OW * OH, 4);
	struct udb_rect r;
	uint32_t s, bx = 0, by = 0;
	char text[256], seen[256];
	bool ok;

	if (!out) {
		tap(false, "status: out of memory");
		return;
	}
	s = status_rect(OW, OH, &r);
	tap(s == 2 && r.x == 0 && r.y == 0 && r.w == OW && r.h == 26,
	    "status strip of 1280x720: 0,0 1280x26, text 2x");
	s = status_rect(640, 480, &r);
	tap(s == 1 && r.h == 13, "status strip of 640x480: 13 rows, text 1x");
	status_text(text, sizeof(text), 2.345, 12, 3, 40, 4);
	tap(!strcmp(text, "UDB-COMPOSITOR  FRAME 2.3 MS  IMPORTED 12 DMA-BUF 3 SHM  INVALIDATIONS 40  CLIENTS 4"),
	    "status text: %s", text);
	status_rect(OW, OH, &r);
	for (size_t i = 0; i < (size_t)OW * OH; i++)
		out[i] = 0xff333d47u;
	status_draw(out, OW * 4, OW, OH, text);
	ok = status_check(out, OW * 4, OW, OH, STATUS_PREFIX, seen,
			  sizeof(seen), &bx, &by);
	tap(ok && !strcmp(seen, text),
	    "status_check() reads back the whole text: %s", seen);
	tap(out[r.h * OW] == 0xff333d47u && out[(r.h - 1) * OW] == STATUS_BG,
	    "status_draw() writes exactly the strip's rows");
	ok = !status_check(out, OW * 4, OW, OH, "UDB-CLIENT", NULL, 0, &bx,
			   &by);
	tap(ok, "status_check() of another text fails (at %u,%u)", bx, by);
	out[(3 * 2) * OW + 3 * 2] ^= 0xffffff;	/* the U's top-left pixel */
	tap(!status_check(out, OW * 4, OW, OH, STATUS_PREFIX, NULL, 0, &bx,
			  &by) &&
	    bx == 6 && by == 6, "status_check() catches one wrong glyph pixel");
	out[(3 * 2) * OW + 3 * 2] ^= 0xffffff;
	/* past the prefix: text, spacing and padding rows */
	{
		static const uint32_t spots[][2] = {
			{ 1200, 10 },	/* glyph rows, right of the text */
			{ 600, 1 },	/* top padding row */
			{ 1279, 25 },	/* bottom padding row, last pixel */
			{ 700, 12 },	/* in the text, past the prefix */
		};

		ok = true;
		for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
			uint32_t *p = &out[spots[i][1] * OW + spots[i][0]];
			uint32_t keep = *p;

			*p = 0xff123456u;
			if (status_check(out, OW * 4, OW, OH, STATUS_PREFIX,
					 NULL, 0, &bx, &by) ||
			    bx != spots[i][0] || by != spots[i][1])
				ok = false;
			*p = keep;
		}
		tap(ok, "status_check() catches a foreign pixel anywhere in the strip (past the text, padding rows, later text)");
	}
	/* another text, right colours: must still be a status line */
	status_draw(out, OW * 4, OW, OH, STATUS_PREFIX "  HELLO");
	tap(!status_check(out, OW * 4, OW, OH, STATUS_PREFIX, NULL, 0, &bx,
			  &by),
	    "status_check() of \"" STATUS_PREFIX "  HELLO\" fails: not the status line's format");
	status_draw(out, OW * 4, OW, OH, text);
	status_text(text, sizeof(text), 2.345, 12, 3, 40, 4);
	{
		enum { NW = 400 };	/* text cut by the output's edge */
		uint32_t *narrow = calloc((size_t)NW * 13, 4);

		ok = narrow != NULL;
		if (ok) {
			status_draw(narrow, NW * 4, NW, 13, text);
			ok = status_check(narrow, NW * 4, NW, 13, STATUS_PREFIX,
					  seen, sizeof(seen), &bx, &by) &&
			     !strncmp(seen, text, strlen(seen)) &&
			     strlen(seen) > strlen(STATUS_PREFIX);
		}
		tap(ok, "status_check() of a 400 px strip: the text cut by the edge reads \"%s\"",
		    ok ? seen : "");
		free(narrow);
	}
	free(out);
}

/* Draw @text as the strip of a w x h output (background elsewhere) and
 * check it; @seen gets what was read. */
static int strip_round(uint32_t *img, uint32_t w, uint32_t h,
		       const char *text, char *seen, size_t seen_len)
{
	uint32_t bx, by;

	for (size_t i = 0; i < (size_t)w * h; i++)
		img[i] = 0xff333d47u;
	status_draw(img, w * 4, w, h, text);
	return status_check(img, w * 4, w, h, STATUS_PREFIX, seen, seen_len,
			    &bx, &by);
}

static void test_status_strict(void)
{
	enum { MW = 1400, MH = 768 };
	uint32_t *img = calloc((size_t)MW * MH, 4), bx, by;
	char text[256], seen[256], first[600] = "";
	unsigned fails = 0, runs = 0;
	bool ok;

	if (!img) {
		tap(false, "status strict: out of memory");
		return;
	}
	/* every correctly drawn strip passes, the edge cutting it anywhere
	 * (at a space too: the last whole cell blank) */
	{
		static const uint32_t widths[] = { 40, 60, 100, 260, 408, 556,
						   1024, 1111, 1280 };
		static const uint64_t vals[] = { 0, 4, 1093, 12345 };

		for (size_t wi = 0; wi < sizeof(widths) / sizeof(widths[0]); wi++)
			for (size_t a = 0; a < 4; a++)
				for (size_t c = 0; c < 4; c++)
					for (uint32_t n = 0; n < 12; n += 3) {
						uint32_t w = widths[wi],
							 h = w >= 1024 ? 768 : 13;

						status_text(text, sizeof(text),
							    0.05 * (double)(a + c * n),
							    vals[a], vals[c] / 2,
							    vals[(a + c) % 4], n);
						runs++;
						if (strip_round(img, w, h, text,
								seen, sizeof(seen)))
							continue;
						if (!fails++)
							snprintf(first, sizeof(first),
								 "%ux%u \"%s\" read \"%s\"",
								 w, h, text, seen);
					}
		tap(!fails, "status_check() passes every correctly drawn strip, cut by the edge anywhere (%u of %u fail%s%s)",
		    fails, runs, fails ? ": " : "", first);
	}
	/* 85 cells at 1024x768: the last one the blank after CLIENTS */
	status_text(text, sizeof(text), 2.345, 10, 0, 1093, 4);
	tap(strip_round(img, 1024, 768, text, seen, sizeof(seen)) &&
	    text[84] == ' ' && text[83] == 'S',
	    "status_check() at 1024x768 of \"%s\", cut at a space: read \"%s\"",
	    text, seen);
	/* a strip that is not status_text()'s: wrong spacing, INF, NAN,
	 * exponents, signs, leading zeros, two decimals; whole or cut */
	{
		static const char *const bad[] = {
			STATUS_PREFIX " FRAME 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2.3 MS IMPORTED 1 DMA-BUF 2 SHM INVALIDATIONS 3 CLIENTS 4",
			STATUS_PREFIX "  FRAME INF MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME NAN MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 1E9 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME -1 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2.34 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2.3 MS  IMPORTED -5 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2.3 MS  IMPORTED 1 DMA-BUF 02 SHM  INVALIDATIONS 3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS +3  CLIENTS 4",
			STATUS_PREFIX "  FRAME 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4294967296",
			STATUS_PREFIX "  FRAME 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4 X",
			STATUS_PREFIX "  FRAMX 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
			"UDB-COMPOSITOX  FRAME 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4",
		};
		static const char good[] = STATUS_PREFIX "  FRAME 2.3 MS  IMPORTED 1 DMA-BUF 2 SHM  INVALIDATIONS 3  CLIENTS 4";
		const char *which = NULL;

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strip_round(img, 1280, 720, bad[i], seen,
					sizeof(seen))) {
				which = bad[i];
				break;
			}
		tap(!which, "status_check() rejects strips not formatted by status_text()%s%s",
		    which ? ", passes: " : "", which ? which : "");
		/* cut by the edge 3 cells after the first wrong one (not
		 * the ones wrong only past the good text's end: a correct
		 * prefix) */
		which = NULL;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t d = 0, cells;

			while (good[d] && bad[i][d] == good[d])
				d++;
			cells = d + 3;
			if (!good[d] || cells >= strlen(bad[i]))
				continue;
			if (strip_round(img, 8 + (uint32_t)(cells - 1) * 6, 13,
					bad[i], seen, sizeof(seen))) {
				which = bad[i];
				break;
			}
		}
		tap(!which, "status_check() rejects wrong strips cut by the edge 3 cells past the first wrong one%s%s",
		    which ? ", passes: " : "", which ? which : "");
	}
	/* an image shorter than the strip: rejected, nothing read past it */
	{
		uint32_t *shortimg = malloc((size_t)300 * 8 * 4);

		ok = shortimg != NULL;
		if (ok) {
			for (size_t i = 0; i < (size_t)300 * 8; i++)
				shortimg[i] = STATUS_BG;
			ok = !status_check(shortimg, 300 * 4, 300, 8,
					   STATUS_PREFIX, seen, sizeof(seen),
					   &bx, &by);
		}
		tap(ok, "status_check() of a 300x8 image (shorter than the strip) fails without reading past it");
		free(shortimg);
	}
	free(img);
}

int main(void)
{
	test_font();
	test_text();
	test_rect();
	test_draw_check();
	test_status();
	test_status_strict();
	return tap_end();
}
