/* SPDX-License-Identifier: MIT */
/*
 * udb-client: shared state of the demo client (see main.c for the frame
 * loop, display.c for the Wayland globals and the window, buffer.c for the
 * memory behind each buffer and the churn, verify.c for the read-back).
 *
 * The wl_buffers come from libudb-wayland (demo/lib/udb-wayland.h): its
 * context binds linux-dmabuf and wl_shm and turns the client's memory
 * into dma-buf (or wl_shm) wl_buffers and tracks their release.
 *
 * Lifetimes: one struct client per process, set up by display_connect()
 * and torn down by display_disconnect() (which destroys the library
 * context). It owns up to MAX_BUFFERS struct buffer (buffer_create() /
 * buffer_destroy()); each buffer owns its memory and its udb_wl_buffer
 * (the dma-buf fd or shm pool, and the wl_buffer).
 */
#ifndef UDB_CLIENT_H
#define UDB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wayland-client.h>

#include "label.h"
#include "udb-wayland.h"

#define MAX_BUFFERS 4

enum mem_mode { MODE_USERPTR, MODE_FILE, MODE_SHM };
enum churn_kind { CHURN_NONE, CHURN_MREMAP, CHURN_REALLOC, CHURN_FORK,
		  CHURN_MADVISE };

struct options {
	const char *socket;	/* NULL: WAYLAND_DISPLAY */
	enum mem_mode mode;
	const char *file_dir;	/* --mode file */
	uint32_t width, height;
	uint32_t frames;	/* 0 with run_for */
	double run_for;		/* seconds, 0 = use frames */
	int nbuffers;
	uint32_t seed;
	enum churn_kind churn;
	uint32_t churn_every;
	bool verify, stats, verbose;
	/* --verify-resume: also verify every frame drawn into a buffer
	 * whose last presented frame was not ZERO_COPY, so that the first
	 * ZERO_COPY frame of each buffer after composited ones (a re-import
	 * of it) is verified */
	bool verify_resume;
	bool label;		/* draw the label box (label.h); --no-label */
	bool inject_stale;	/* test-only: hide churned buffers' content */
	uint32_t fence_every;	/* test-only: see fence.c; 0: never */
	bool memfd_dmabuf;	/* test-only: pass a memfd as the dma-buf */
	bool fullscreen;	/* ask for fullscreen, take the output size */
	bool opaque;		/* XRGB8888 dma-bufs, not ARGB8888 */
};

struct client;

struct buffer {
	struct client *c;
	int index;
	struct udb_wl_buffer *ub;	/* wl_buffer, dma-buf or shm, busy */
	uint8_t *mem;		/* what the wl_buffer shows: page aligned */
	size_t size;		/* stride * height rounded up to pages */
	bool mem_mmapped;	/* mem is ours to munmap (file), else free */
	bool mem_lib;		/* mem is the library's shm pool (shm mode) */
	uint8_t *shadow;	/* --inject-stale: where drawing goes, or NULL */
	bool shadow_mmapped;	/* shadow is ours to munmap, else free */
	uint32_t frame;		/* frame last drawn into it (UINT32_MAX: none) */
	/* its last presented frame: presented ZERO_COPY (zc), and after
	 * one of its own that was not (zc_resume) */
	bool zc, zc_resume, presented;
};

struct client {
	struct options opt;
	uint32_t stride;
	size_t page;

	struct wl_display *display;
	struct wl_registry *registry;
	struct wl_compositor *compositor;
	struct wl_output *output;	/* the first one, for enter/leave */
	struct xdg_wm_base *wm_base;
	struct udb_wl_ctx *udb;		/* libudb-wayland: dma-buf or shm */
	struct wp_presentation *presentation;
	struct udb_capture_v1 *capture;
	int udb_dev;		/* /dev/userptr_dmabuf for INFO, or -1 */
	uint32_t out_w, out_h;	/* from udb_capture_v1.mode */

	struct wl_surface *surface;
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	bool configured, closed;

	struct buffer buf[MAX_BUFFERS];
	int nbuf;
	uint32_t commits;	/* wl_surface.commit requests made so far */
	bool frame_pending;	/* a frame callback is outstanding */
	unsigned int feedback_pending;	/* wp_presentation_feedback in flight */
	bool failed;		/* fatal error seen in a callback */
	label_lines label;	/* what the label of the last frame says */
	struct label_info label_info;	/* ... and its figures */

	/* statistics */
	uint32_t frames, churns, verified, mismatches, realloc_flip, fenced;
	/*
	 * presentation feedback: frames presented, those with ZERO_COPY
	 * (the compositor showed our buffer itself), and releases of a
	 * buffer whose frame presented ZERO_COPY is still the last frame of
	 * ours presented: it is on screen until a later flip replaced it,
	 * which (when no other client changes the screen) is the flip of a
	 * later frame of ours, whose feedback comes first
	 */
	uint32_t presented, zero_copy, early_releases;
	uint32_t enters, leaves;		/* wl_surface.enter/leave (--stats) */
	int last_presented_buf;		/* -1: none yet */
	bool last_presented_zc;
	/* verified frames that were a buffer's first ZERO_COPY one after
	 * one of its own that was not (struct buffer.zc_resume) */
	uint32_t verified_zc_resumes;
	uint32_t attachments_max;	/* INFO attachments seen, any buffer */
	double last_present_ms, frame_ms_sum;
	uint32_t frame_ms_n;
	/* draw start to frame callback, of frames that used a buffer for the
	 * first time (its memory never shown) and of the others */
	double commit_t0;
	int commit_kind;	/* LAT_STEADY, LAT_NEW or LAT_SKIP */
	double lat_new_sum, lat_steady_sum;
	uint32_t lat_new_n, lat_steady_n;
	/* process CPU and faults when the first frame started */
	double cpu0_ms;
	long minflt0, majflt0;
};

/* What a frame's latency counts as in --stats. */
enum { LAT_STEADY, LAT_NEW, LAT_SKIP };

/* display.c */
int display_connect(struct client *c);
int display_create_window(struct client *c);
void display_destroy_window(struct client *c);
void display_disconnect(struct client *c);
double now_ms(void);

/* main.c: count this buffer's releases (--stats early_releases) */
void buffer_watch_release(struct buffer *b);

/* buffer.c */
int buffer_create(struct client *c, struct buffer *b, int index);
void buffer_destroy(struct buffer *b);
uint8_t *buffer_draw_target(struct buffer *b);
int buffer_cpu_access(struct buffer *b, bool begin);
int buffer_info(struct buffer *b, uint64_t *generation,
		uint64_t *invalidations);

/* fence.c */
int fence_block(struct client *c, struct buffer *b);
int fence_verify(struct client *c, uint32_t frame, uint32_t buffer_prev,
		 int timeline);
int buffer_churn(struct buffer *b, enum churn_kind kind);

/* verify.c */
struct udb_capture_frame_v1;

/* One udb_capture_v1 capture in flight, and what it said so far. */
struct capture {
	struct client *c;
	bool done, ok, found;
	int32_t x, y, w, h;	/* our window in the capture */
	uint32_t commits, seq;	/* our commits it covers; its number */
};

struct udb_capture_frame_v1 *capture_start(struct client *c, int fd,
					   struct capture *cap);
int verify_frame(struct client *c, uint32_t frame, uint32_t buffer_prev);

#define logv(c, ...) do { if ((c)->opt.verbose) fprintf(stderr, "udb-client: " __VA_ARGS__); } while (0)
#define loge(...) fprintf(stderr, "udb-client: " __VA_ARGS__)

#endif /* UDB_CLIENT_H */
