/* SPDX-License-Identifier: MIT */
/*
 * udb-client: the demo client. Draws an animated test pattern (pattern.h)
 * into ordinary process memory, shares it with the compositor as a dma-buf
 * made by the userptr-dmabuf module (or as wl_shm for comparison), and can
 * churn the memory's page tables mid-run and verify with udb_capture_v1
 * that the compositor keeps showing the right pixels.
 *
 * The frame loop: wait until the previous frame callback has fired and a
 * buffer has been released, churn it if it is time, draw frame N into it
 * with the label box on top (label.h: the buffer path, the churn, the
 * frame, the module's generation and invalidation counts of the buffer),
 * attach + damage_buffer + commit (with a frame callback and, if offered, a
 * wp_presentation feedback for the frame timing), then verify if asked.
 * See docs/demo-client.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client.h"
#include "pattern.h"
#include "presentation-time-client-protocol.h"
#include "udb-capture-v1-client-protocol.h"
#include "userptr_dmabuf.h"
#include "xdg-shell-client-protocol.h"

static const char *mode_name[] = { "userptr", "file", "shm" };
static const char *churn_name[] = { "none", "mremap", "realloc", "fork",
				    "madvise" };

static void usage(FILE *f)
{
	fprintf(f,
"usage: udb-client [options]\n"
"  --socket NAME        Wayland socket (default $WAYLAND_DISPLAY)\n"
"  --mode M             userptr (default) | file | shm\n"
"  --file-dir DIR       where --mode file makes its files ($XDG_RUNTIME_DIR)\n"
"  --size WxH           window size (default 256x256)\n"
"  --frames N           frames to draw (default 120)\n"
"  --run-for SECONDS    draw for this long instead\n"
"  --buffers N          buffers in the ring, 2..4 (default 3)\n"
"  --seed S             pattern seed (default 0)\n"
"  --churn K            none | mremap | realloc | fork | madvise\n"
"  --churn-every N      frames between churns (default 10)\n"
"  --verify             compare the screen with what was drawn (udb_capture_v1)\n"
"  --verify-resume      --verify, and every frame drawn into a buffer whose\n"
"                       last frame was not presented ZERO_COPY\n"
"  --no-label           no label box (path, churn, frame, INFO figures)\n"
"  --fullscreen         ask to be fullscreen; the size is the output's\n"
"  --opaque             XRGB8888 dma-bufs (the pattern is opaque), not ARGB8888\n"
"  --stats              print key=value statistics at exit\n"
"  -v, --verbose        say what happens\n");
}

static int pick(const char *arg, const char **names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(arg, names[i]))
			return i;
	return -1;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	enum { O_SOCKET = 256, O_MODE, O_FILE_DIR, O_SIZE, O_FRAMES, O_RUN_FOR,
	       O_BUFFERS, O_SEED, O_CHURN, O_CHURN_EVERY, O_VERIFY, O_VERIFY_RESUME, O_STATS,
	       O_INJECT_STALE, O_MEMFD_DMABUF, O_FENCE_EVERY, O_NO_LABEL,
	       O_HELP, O_FULLSCREEN, O_OPAQUE };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "mode", required_argument, NULL, O_MODE },
		{ "file-dir", required_argument, NULL, O_FILE_DIR },
		{ "size", required_argument, NULL, O_SIZE },
		{ "frames", required_argument, NULL, O_FRAMES },
		{ "run-for", required_argument, NULL, O_RUN_FOR },
		{ "buffers", required_argument, NULL, O_BUFFERS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "churn", required_argument, NULL, O_CHURN },
		{ "churn-every", required_argument, NULL, O_CHURN_EVERY },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "verify-resume", no_argument, NULL, O_VERIFY_RESUME },
		{ "stats", no_argument, NULL, O_STATS },
		{ "no-label", no_argument, NULL, O_NO_LABEL },
		{ "fullscreen", no_argument, NULL, O_FULLSCREEN },
		{ "opaque", no_argument, NULL, O_OPAQUE },
		/* test-only, undocumented: see buffer.c */
		{ "inject-stale", no_argument, NULL, O_INJECT_STALE },
		{ "memfd-as-dmabuf", no_argument, NULL, O_MEMFD_DMABUF },
		{ "fence-every", required_argument, NULL, O_FENCE_EVERY },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 }
	};
	uint32_t n;
	char *end;
	int opt, i;

	*o = (struct options){
		.mode = MODE_USERPTR, .width = 256, .height = 256,
		.frames = 120, .nbuffers = 3, .churn_every = 10,
		.file_dir = getenv("XDG_RUNTIME_DIR"), .label = true,
	};
	while ((opt = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (opt) {
		case O_SOCKET:
			o->socket = optarg;
			break;
		case O_MODE:
			if ((i = pick(optarg, mode_name, 3)) < 0)
				goto bad;
			o->mode = (enum mem_mode)i;
			break;
		case O_FILE_DIR:
			o->file_dir = optarg;
			break;
		case O_SIZE:
			if (sscanf(optarg, "%ux%u", &o->width, &o->height) != 2 ||
			    !o->width || !o->height || o->width > 16384 ||
			    o->height > 16384)
				goto bad;
			break;
		case O_FRAMES:
			if (parse_u32(optarg, 1, UINT32_MAX - 1, &o->frames))
				goto bad;
			break;
		case O_RUN_FOR:
			o->run_for = strtod(optarg, &end);
			if (*end || !(o->run_for > 0))
				goto bad;
			break;
		case O_BUFFERS:
			if (parse_u32(optarg, 2, MAX_BUFFERS, &n))
				goto bad;
			o->nbuffers = (int)n;
			break;
		case O_SEED:
			if (parse_u32(optarg, 0, UINT32_MAX, &o->seed))
				goto bad;
			break;
		case O_CHURN:
			if ((i = pick(optarg, churn_name, 5)) < 0)
				goto bad;
			o->churn = (enum churn_kind)i;
			break;
		case O_CHURN_EVERY:
			if (parse_u32(optarg, 1, UINT32_MAX, &o->churn_every))
				goto bad;
			break;
		case O_VERIFY:
			o->verify = true;
			break;
		case O_VERIFY_RESUME:
			o->verify = true;
			o->verify_resume = true;
			break;
		case O_STATS:
			o->stats = true;
			break;
		case O_FULLSCREEN:
			o->fullscreen = true;
			break;
		case O_OPAQUE:
			o->opaque = true;
			break;
		case O_NO_LABEL:
			o->label = false;
			break;
		case O_INJECT_STALE:
			o->inject_stale = true;
			break;
		case O_FENCE_EVERY:
			if (parse_u32(optarg, 1, UINT32_MAX, &o->fence_every))
				goto bad;
			break;
		case O_MEMFD_DMABUF:
			o->memfd_dmabuf = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	if (o->mode == MODE_FILE && !o->file_dir) {
		loge("--mode file needs --file-dir or $XDG_RUNTIME_DIR\n");
		return -1;
	}
	return 0;
bad:
	loge("bad value for --%s: %s\n", longopts[opt - O_SOCKET].name, optarg);
	return -1;
}

/* --- frame callbacks and presentation feedback --- */

static void record_frame_time(struct client *c, double t)
{
	if (c->last_present_ms > 0) {
		c->frame_ms_sum += t - c->last_present_ms;
		c->frame_ms_n++;
	}
	c->last_present_ms = t;
}

static void frame_done(void *data, struct wl_callback *cb, uint32_t time)
{
	struct client *c = data;

	(void)time;
	wl_callback_destroy(cb);
	c->frame_pending = false;
	if (c->commit_kind == LAT_NEW) {
		c->lat_new_sum += now_ms() - c->commit_t0;
		c->lat_new_n++;
	} else if (c->commit_kind == LAT_STEADY) {
		c->lat_steady_sum += now_ms() - c->commit_t0;
		c->lat_steady_n++;
	}
	if (!c->presentation)
		record_frame_time(c, now_ms());
}

static const struct wl_callback_listener frame_listener = {
	.done = frame_done,
};

static void fb_sync_output(void *data, struct wp_presentation_feedback *f,
			   struct wl_output *output)
{
	(void)data; (void)f; (void)output;
}

/* The feedback of one commit: whose and which buffer it showed. */
struct feedback {
	struct client *c;
	int buf;
};

static void fb_presented(void *data, struct wp_presentation_feedback *f,
			 uint32_t sec_hi, uint32_t sec_lo, uint32_t nsec,
			 uint32_t refresh, uint32_t seq_hi, uint32_t seq_lo,
			 uint32_t flags)
{
	struct feedback *fb = data;
	struct client *c = fb->c;
	uint64_t sec = (uint64_t)sec_hi << 32 | sec_lo;
	double ts = (double)sec * 1e3 + nsec / 1e6;

	(void)seq_hi; (void)seq_lo; (void)refresh;
	wp_presentation_feedback_destroy(f);
	c->feedback_pending--;
	c->presented++;
	if (flags & WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY)
		c->zero_copy++;
	if (fb->buf >= 0 && fb->buf < c->nbuf) {
		struct buffer *b = &c->buf[fb->buf];
		bool zc = flags & WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY;

		b->zc_resume = zc && b->presented && !b->zc;
		b->zc = zc;
		b->presented = true;
	}
	c->last_presented_buf = fb->buf;
	c->last_presented_zc = flags & WP_PRESENTATION_FEEDBACK_KIND_ZERO_COPY;
	free(fb);
	record_frame_time(c, ts);
}

static void fb_discarded(void *data, struct wp_presentation_feedback *f)
{
	struct feedback *fb = data;

	wp_presentation_feedback_destroy(f);
	fb->c->feedback_pending--;
	free(fb);
}

/* presented ZERO_COPY means on screen until a later flip replaced it */
static void on_release(struct udb_wl_buffer *ub, void *data)
{
	struct buffer *b = data;
	struct client *c = b->c;

	(void)ub;
	if (c->last_presented_buf != b->index || !c->last_presented_zc)
		return;
	c->early_releases++;
	logv(c, "buffer %d released while its ZERO_COPY frame is our last "
	     "one presented: still on screen\n", b->index);
}

void buffer_watch_release(struct buffer *b)
{
	udb_wl_buffer_set_release_callback(b->ub, on_release, b);
}

/* The most attachments the module's INFO reports for any of our buffers
 * (an importer such as vkms attaches when it scans one out). */
static void note_attachments(struct client *c)
{
	struct userptr_dmabuf_info info;
	int fd;

	if (c->udb_dev < 0)
		return;
	for (int i = 0; i < c->nbuf; i++) {
		if (!c->buf[i].ub || !udb_wl_buffer_is_dmabuf(c->buf[i].ub))
			continue;
		fd = udb_wl_buffer_get_dmabuf_fd(c->buf[i].ub);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		info.fd = fd;
		if (!ioctl(c->udb_dev, USERPTR_DMABUF_IOC_INFO, &info) &&
		    info.attachments > c->attachments_max)
			c->attachments_max = info.attachments;
	}
}

static const struct wp_presentation_feedback_listener feedback_listener = {
	.sync_output = fb_sync_output,
	.presented = fb_presented,
	.discarded = fb_discarded,
};

/* --- the loop --- */

/* The pattern of @frame, and the label over it. */
static void draw(struct client *c, struct buffer *b, uint32_t frame)
{
	struct label_info li = {
		.path = mode_name[c->opt.mode],
		/* shm ignores --churn (main() warns): the label says none */
		.churn = churn_name[c->opt.mode == MODE_SHM ? CHURN_NONE :
				    c->opt.churn],
		.churn_every = c->opt.churn_every,
		.frame = frame,
	};

	pattern_fill(buffer_draw_target(b), c->opt.width, c->opt.height,
		     c->stride, frame, c->opt.seed);
	if (!c->opt.label)
		return;
	li.have_info = buffer_info(b, &li.generation, &li.invalidations) == 0;
	c->label_info = li;
	label_text(&li, c->label);
	label_draw(buffer_draw_target(b), c->stride, c->opt.width,
		   c->opt.height, frame,
		   (const char (*)[LABEL_COLS + 1])c->label);
}

static struct buffer *free_buffer(struct client *c)
{
	for (int i = 0; i < c->nbuf; i++)
		if (!udb_wl_buffer_is_busy(c->buf[i].ub))
			return &c->buf[i];
	return NULL;
}

static int report_display_error(struct client *c)
{
	const struct wl_interface *iface;
	uint32_t id, code;
	int err = wl_display_get_error(c->display);

	if (err == EPROTO) {
		code = wl_display_get_protocol_error(c->display, &iface, &id);
		loge("protocol error %u on %s@%u\n", code,
		     iface ? iface->name : "?", id);
	} else {
		loge("display error: %s\n", strerror(err));
	}
	return -1;
}

static double usage_now(long *minflt, long *majflt)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*minflt = ru.ru_minflt;
	*majflt = ru.ru_majflt;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* The start of the measured part of the run: the first frame. */
static void usage_mark(struct client *c)
{
	c->cpu0_ms = usage_now(&c->minflt0, &c->majflt0);
}

static int run(struct client *c)
{
	double start = now_ms();
	uint32_t frame, prev;
	struct buffer *b;
	bool churn_now, resume_now;
	uint32_t verified0;
	int timeline;

	for (frame = 0;; frame++) {
		if (c->opt.run_for > 0) {
			if (now_ms() - start >= c->opt.run_for * 1e3)
				break;
		} else if (frame >= c->opt.frames) {
			break;
		}
		while (c->frame_pending || !(b = free_buffer(c))) {
			if (wl_display_dispatch(c->display) < 0)
				return report_display_error(c);
			if (c->closed)
				return 0;
		}
		churn_now = c->opt.churn != CHURN_NONE && frame > 0 &&
			    frame % c->opt.churn_every == 0;
		/* --verify-resume: this buffer's last frame was composited,
		 * this one may be its first ZERO_COPY one again */
		resume_now = c->opt.verify_resume && b->presented && !b->zc;
		/* from here to the frame callback: the frame's latency */
		c->commit_t0 = now_ms();
		if (frame == 0)
			usage_mark(c);
		if (churn_now) {
			logv(c, "frame %u: churn %s on buffer %d\n", frame,
			     churn_name[c->opt.churn], b->index);
			if (buffer_churn(b, c->opt.churn))
				return -1;
			c->churns++;
		}
		prev = b->frame;
		/*
		 * A buffer shown for the first time (made at start or by a
		 * realloc churn) against steady frames; the client's first
		 * frame (the window appears) and in-place churns count as
		 * neither.
		 */
		c->commit_kind = frame == 0 ? LAT_SKIP :
				 prev == UINT32_MAX ? LAT_NEW :
				 churn_now ? LAT_SKIP : LAT_STEADY;
		if (buffer_cpu_access(b, true))
			return -1;
		draw(c, b, frame);
		if (buffer_cpu_access(b, false))
			return -1;
		b->frame = frame;
		timeline = -1;
		if (c->opt.fence_every && frame % c->opt.fence_every == 0) {
			timeline = fence_block(c, b);
			if (timeline < 0)
				return -1;
		}

		wl_callback_add_listener(wl_surface_frame(c->surface),
					 &frame_listener, c);
		c->frame_pending = true;
		if (c->presentation) {
			struct feedback *fb = malloc(sizeof(*fb));

			if (!fb)
				return -1;
			fb->c = c;
			fb->buf = b->index;
			c->feedback_pending++;
			wp_presentation_feedback_add_listener(
				wp_presentation_feedback(c->presentation,
							 c->surface),
				&feedback_listener, fb);
		}
		if (udb_wl_buffer_attach(b->ub, c->surface, 0, 0))
			return -1;	/* cannot happen: b was released */
		wl_surface_damage_buffer(c->surface, 0, 0, INT32_MAX,
					 INT32_MAX);
		wl_surface_commit(c->surface);
		c->commits++;
		c->frames++;

		if (timeline >= 0) {
			if (fence_verify(c, frame, prev, timeline))
				return -1;
		} else if (c->opt.verify && c->capture &&
			   (churn_now || resume_now || frame % 16 == 0)) {
			/* the capture shows this commit: its feedback came
			 * before the capture's (last_zc_resume is this frame's) */
			verified0 = c->verified;
			if (verify_frame(c, frame, prev))
				return -1;
			if (c->verified > verified0 && b->zc_resume &&
			    c->last_presented_buf == b->index)
				c->verified_zc_resumes++;
		}
		if (wl_display_flush(c->display) < 0 && errno != EAGAIN)
			return report_display_error(c);
		if (c->opt.stats)
			note_attachments(c);
	}
	/* let the last frame reach the screen, and its feedback come back */
	while (c->frame_pending || c->feedback_pending)
		if (wl_display_dispatch(c->display) < 0)
			return report_display_error(c);
	return 0;
}

int main(int argc, char **argv)
{
	struct client c = { 0 };
	int ret = 1, i;

	if (parse_options(&c.opt, argc, argv))
		return 2;
	c.page = (size_t)sysconf(_SC_PAGESIZE);
	c.stride = c.opt.width * 4;
	if (c.opt.churn == CHURN_FORK)
		signal(SIGCHLD, SIG_IGN);	/* churn children reap themselves */
	c.udb_dev = -1;
	c.last_presented_buf = -1;
	/* INFO for the label and --stats */
	if (c.opt.mode != MODE_SHM && !c.opt.memfd_dmabuf &&
	    (c.opt.label || c.opt.stats))
		c.udb_dev = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	if (c.opt.churn != CHURN_NONE && c.opt.mode == MODE_SHM)
		loge("--churn needs a dma-buf mode: ignored with --mode shm\n");

	if (c.opt.mode == MODE_USERPTR && c.opt.memfd_dmabuf)
		loge("--memfd-as-dmabuf: memfds instead of the module\n");
	if (display_connect(&c))
		goto out;
	if (c.opt.verify && !c.capture)
		loge("no udb_capture_v1 global: --verify skipped\n");
	if (display_create_window(&c))
		goto out;
	for (i = 0; i < c.opt.nbuffers; i++) {
		c.nbuf = i + 1;
		if (buffer_create(&c, &c.buf[i], i))
			goto out;
	}
	if (run(&c) == 0 && !c.mismatches)
		ret = 0;
out:
	if (c.opt.stats) {
		uint64_t gen, inv, inv_sum = 0;
		bool have_inv = false;
		long minflt, majflt;
		double cpu = usage_now(&minflt, &majflt);

		printf("frames=%u\n", c.frames);
		/*
		 * The process (drawing, syncs, faults, churns, the protocol)
		 * from the first frame on; start-up (connecting, the first
		 * buffers and their imports) apart
		 */
		printf("cpu_ms=%.3f\nstartup_cpu_ms=%.3f\n", cpu - c.cpu0_ms, c.cpu0_ms);
		printf("minflt=%ld\nmajflt=%ld\n", minflt - c.minflt0, majflt - c.majflt0);
		printf("first_use_ms_mean=%.3f\nfirst_use_frames=%u\n",
		       c.lat_new_n ? c.lat_new_sum / c.lat_new_n : 0.0, c.lat_new_n);
		printf("steady_ms_mean=%.3f\nsteady_frames=%u\n",
		       c.lat_steady_n ? c.lat_steady_sum / c.lat_steady_n : 0.0,
		       c.lat_steady_n);
		for (i = 0; i < c.nbuf; i++)
			if (c.buf[i].ub && !buffer_info(&c.buf[i], &gen, &inv)) {
				inv_sum += inv;
				have_inv = true;
			}
		if (have_inv)
			printf("invalidations=%" PRIu64 "\n", inv_sum);
		printf("frame_ms_mean=%.3f\n",
		       c.frame_ms_n ? c.frame_ms_sum / c.frame_ms_n : 0.0);
		printf("verified=%u\n", c.verified);
		printf("verified_zc_resumes=%u\n", c.verified_zc_resumes);
		printf("mismatches=%u\n", c.mismatches);
		printf("churns=%u\n", c.churns);
		printf("fenced=%u\n", c.fenced);
		printf("presented=%u\nzero_copy=%u\nearly_releases=%u\n",
		       c.presented, c.zero_copy, c.early_releases);
		printf("enters=%u\nleaves=%u\n", c.enters, c.leaves);
		printf("attachments_max=%u\n", c.attachments_max);
		printf("mode=%s\n", mode_name[c.opt.mode]);
		/* the last label's INFO figures: what it showed */
		if (!c.label_info.path)	/* --no-label or nothing drawn */
			printf("label_info=none\n");
		else if (!c.label_info.have_info)
			printf("label_info=no\n");
		else
			printf("label_info=yes\nlabel_generation=%" PRIu64
			       "\nlabel_invalidations=%" PRIu64 "\n",
			       c.label_info.generation,
			       c.label_info.invalidations);
		fflush(stdout);
	}
	/* the surface first: the compositor may show a buffer's memory until
	 * it has handled the destroy (buffer_destroy() frees that memory) */
	display_destroy_window(&c);
	for (i = 0; i < c.nbuf; i++)
		buffer_destroy(&c.buf[i]);
	display_disconnect(&c);
	if (c.udb_dev >= 0)
		close(c.udb_dev);
	return ret;
}
