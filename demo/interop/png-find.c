// SPDX-License-Identifier: MIT
/*
 * png-find: is a udb-client window in this screenshot?
 *
 *   png-find [--label MODE|MODE:CHURN:EVERY] [--strip] [--alone]
 *            SHOT.png WIDTH HEIGHT SEED
 *
 * Looks for a WIDTH x HEIGHT area showing exactly the demo pattern of some
 * frame for SEED (demo/common/pattern.h) and prints where and which frame.
 * The frame is read off the window's top-left pixel (its green channel is
 * frame + 97 * seed), so no frame number has to be known: this checks a
 * compositor we cannot ask, like weston. Exit 0 when found, 1 when not,
 * 2 on errors.
 *
 * --label: the client drew its label (demo/common/label.h): the label box
 * (label_rect(), nothing more) is left out of the pattern comparison and
 * must show, pixel for pixel and in the colours of the frame found, the
 * path word MODE and the churn line (CHURN NONE for MODE alone, else all
 * of MODE:CHURN:EVERY); its other lines are read back from the glyph
 * cells and must have their format (FRAME n with n = the frame found mod
 * 256, GEN and INV digits or "-"), then are compared pixel for pixel too.
 * --strip: the compositor ran with --status: its strip (status_rect())
 * must be only its two colours, padding rows background, and read back as
 * exactly what status_text() writes for the figures it shows (or, cut by
 * the output's edge, the start of it: status_check()); the text read is
 * printed (status strip "..."); no window is looked for under it.
 * --alone: every pixel outside the window found (and outside the strip
 * with --strip, exactly its rectangle) must be the background, the
 * colour of the bottom-right pixel.
 */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <getopt.h>
#include <string.h>
#include <strings.h>

#include "label.h"
#include "status.h"
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

/* MODE or MODE:CHURN:EVERY into the label's static lines */
static int static_lines(const char *arg, label_lines l, const char **lines)
{
	char mode[32] = "", churn[32] = "none", end;
	unsigned int every = 0;
	struct label_info li = { 0 };
	int n = sscanf(arg, "%31[^:]:%31[^:]:%u%c", mode, churn, &every, &end);

	if (n == 1 && strchr(arg, ':'))
		return -1;	/* MODE: with nothing after it */
	if ((n != 1 && n != 3) || !mode[0])
		return -1;
	if (n == 3 && !strcasecmp(churn, "none"))
		snprintf(churn, sizeof(churn), "none");
	li.path = mode;
	li.churn = churn;
	li.churn_every = every;
	label_text(&li, l);
	for (int i = 0; i < LABEL_LINES; i++)
		lines[i] = i < LABEL_STATIC_LINES ? l[i] : NULL;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: png-find [--label MODE|MODE:CHURN:EVERY] [--strip] [--alone] SHOT.png WIDTH HEIGHT SEED\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "strip", no_argument, NULL, 's' },
		{ "alone", no_argument, NULL, 'a' },
		{ 0 }
	};
	uint32_t W, H, w, h, seed, x, y, bx, by, frame, *px, y_start = 0;
	const char *lines[LABEL_LINES] = { 0 }, *path;
	struct udb_rect box = { 0, 0, 0, 0 }, strip = { 0, 0, 0, 0 };
	bool label = false, want_strip = false, alone = false;
	label_lines l, seen;
	char strip_seen[256];
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (static_lines(optarg, l, lines))
				return usage();
			label = true;
			break;
		case 's': want_strip = true; break;
		case 'a': alone = true; break;
		default: return usage();
		}
	}
	if (argc - optind != 4)
		return usage();
	path = argv[optind];
	w = strtoul(argv[optind + 1], NULL, 0);
	h = strtoul(argv[optind + 2], NULL, 0);
	seed = strtoul(argv[optind + 3], NULL, 0);
	px = load(path, &W, &H);
	if (!px)
		return 2;
	if (label && !label_rect(w, h, &box)) {
		fprintf(stderr, "png-find: a %ux%u window has no label box\n", w, h);
		free(px);
		return 2;
	}
	if (want_strip) {
		status_rect(W, H, &strip);
		if (!status_check(px, W * 4, W, H, STATUS_PREFIX, strip_seen,
				  sizeof(strip_seen), &bx, &by)) {
			printf("the status strip of %s is not a status line as status_text() writes it (read \"%s\"): pixel %u,%u is 0x%08x\n",
			       path, strip_seen, bx, by,
			       px[(size_t)by * W + bx]);
			free(px);
			return 1;
		}
		y_start = strip.h;
	}
	for (y = y_start; y + h <= H; y++) {
		for (x = 0; x + w <= W; x++) {
			uint32_t *win = px + (size_t)y * W + x;
			uint32_t p = *win | 0xff000000u;

			frame = (((p >> 8) & 0xff) - 97 * seed) & 0xff;
			if (p != pattern_pixel(0, 0, frame, seed))
				continue;
			if (!pattern_check_except(win, w, h, W * 4, frame, seed,
						  &box, &bx, &by))
				continue;
			if (label && !label_check(win, W * 4, w, h, w, h, frame,
						  lines, seen, &bx, &by)) {
				printf("%ux%u window at %u,%u (frame %u of seed %u): its label box does not show \"%s\" / \"%s\" and valid figures (read \"%s\" / \"%s\" / \"%s\"): pixel %u,%u of the window is 0x%08x\n",
				       w, h, x, y, frame, seed, lines[0],
				       lines[1], seen[2], seen[3], seen[4],
				       bx, by, win[(size_t)by * W + bx]);
				free(px);
				return 1;
			}
			if (alone) {
				struct udb_rect wr = { x, y, w, h };
				uint32_t bg = px[(size_t)W * H - 1];

				for (by = 0; by < H; by++)
					for (bx = 0; bx < W; bx++) {
						if (udb_rect_contains(&wr, bx, by) ||
						    udb_rect_contains(&strip, bx, by) ||
						    px[(size_t)by * W + bx] == bg)
							continue;
						printf("pixel %u,%u outside the window at %u,%u%s is 0x%08x, not the background 0x%08x\n",
						       bx, by, x, y,
						       want_strip ? " and the status strip" : "",
						       px[(size_t)by * W + bx], bg);
						free(px);
						return 1;
					}
			}
			printf("found %ux%u window at %u,%u showing frame %u (mod 256) of seed %u%s%s%s%s%s%s%s%s%s%s%s%s%s\n",
			       w, h, x, y, frame, seed,
			       label ? ", label \"" : "", label ? lines[0] : "",
			       label ? " / " : "", label ? seen[2] : "",
			       label ? " / " : "", label ? seen[3] : "",
			       label ? " / " : "", label ? seen[4] : "",
			       label ? "\"" : "",
			       want_strip ? ", status strip \"" : "",
			       want_strip ? strip_seen : "",
			       want_strip ? "\"" : "",
			       alone ? ", nothing else on screen" : "");
			free(px);
			return 0;
		}
	}
	printf("no %ux%u window of seed %u in %s (%ux%u)\n", w, h, seed,
	       path, W, H);
	free(px);
	return 1;
}
