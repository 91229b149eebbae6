/* SPDX-License-Identifier: MIT */
/*
 * udb-compositor: the types every file of the compositor shares.
 *
 * One struct server owns everything. Client-visible objects are plain
 * structs hung off their wl_resource's user data; each file's header
 * comment says who owns what and when it is freed. The rule throughout:
 * a wl_resource's destroy handler frees the struct behind it, and every
 * pointer from one client object to another is guarded by a destroy
 * listener (or a back-pointer the other side clears), because a client
 * that disconnects has its objects destroyed in no particular order.
 */
#ifndef UDB_SERVER_H
#define UDB_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <wayland-server.h>
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>

#include "buffer.h"

struct server;
struct surface;
struct renderer;

/* A rectangle [x1, x2) x [y1, y2); empty when x1 >= x2 or y1 >= y2. */
struct box {
	int32_t x1, y1, x2, y2;
};

/* box.c */
bool box_empty(const struct box *b);
/* dst becomes the bounding box of dst and src */
void box_add(struct box *dst, const struct box *src);
/* Surface damage d in buffer coordinates of a buf_w x buf_h buffer shown
 * with this buffer transform and scale. */
struct box box_surface_to_buffer(const struct box *d, int32_t transform,
				 int32_t scale, int32_t buf_w, int32_t buf_h);

/* ---- options (main.c) ---- */
struct options {
	const char *socket;
	int width, height;
	int refresh_hz;
	const char *backend;		/* "headless" or "kms" */
	const char *screenshot_dir;
	const char *report;
	double run_for;			/* seconds, 0 = forever */
	bool exit_when_idle;
	bool status;			/* --status: the status strip (strip.c) */
	bool direct_scanout;		/* KMS: scan out a client's dma-buf
					 * (off: --no-direct-scanout) */
	bool verbose;
};

/* ---- surface state (surface.c) ---- */
enum {
	STATE_BUFFER = 1 << 0,		/* attach was called */
	STATE_OFFSET = 1 << 1,
	STATE_DAMAGE = 1 << 2,
	STATE_TRANSFORM = 1 << 3,
	STATE_SCALE = 1 << 4,
};

/*
 * Double-buffered wl_surface state. Used for "pending" (being built by
 * requests), for the "cached" state of a synchronized subsurface and for
 * each commit deferred while its buffer's implicit fences are busy.
 * The buffer is referenced by resource, with a destroy listener: a client
 * destroying an attached but not yet applied buffer attaches NULL.
 * Damage is kept as two bounding boxes, surface and buffer coordinates.
 */
struct surface_state {
	uint32_t flags;
	struct wl_resource *buffer;
	struct wl_listener buffer_destroy;
	/* cached/deferred states only: a busy reference (buffer.h) on the
	 * buffer of a ready commit until it is applied, replaced by a newer
	 * one or the state is finalised; NULL in the pending state */
	struct buffer *held;
	struct box damage, buffer_damage;
	/* merged commits changed how surface damage maps to the buffer:
	 * damage is not exact, the whole buffer is uploaded */
	bool damage_full;
	int32_t dx, dy;
	int32_t transform, scale;
	struct wl_list frame_callbacks;	/* wl_resource links */
	struct wl_list feedbacks;	/* struct feedback.link */
};

/* One node of a surface's stacking list: the surface itself or a child. */
struct stack_node {
	struct wl_list link;
	struct surface *surface;
};

struct surface_role {
	const char *name;
	/* Called at wl_surface.commit before anything is applied; may post
	 * a protocol error and return false to drop the commit. */
	bool (*precommit)(struct surface *s, const struct surface_state *st);
	/* Called after a commit was applied. */
	void (*applied)(struct surface *s);
};

struct surface {
	struct server *server;
	struct wl_resource *resource;
	struct wl_list link;			/* server.surfaces */

	struct surface_state pending;
	struct surface_state cached;		/* sync subsurfaces */
	bool has_cache;
	struct wl_list deferred;		/* struct commit.link, FIFO */

	/* current content */
	int32_t width, height;			/* buffer size, 0 = none */
	bool has_content;
	/*
	 * The current buffer, busy-referenced: a dma-buf for as long as it
	 * is the content; a wl_shm buffer until a repaint uploaded it
	 * (upload_pending), then NULL (the renderer state holds the pixels).
	 */
	struct buffer *buffer;
	bool upload_pending;
	bool upload_full;			/* the texture is not the content */
	struct box damage;			/* buffer coords, not yet uploaded */
	void *renderer_state;			/* renderer.c: the wl_shm texture */
	int32_t scale, transform;		/* current buffer scale/transform */
	uint32_t commits;			/* applied commits, from 1 */
	bool was_dmabuf;			/* last content came from dma-buf */
	/* where the last repaint drew it (capture.c reports it) */
	bool drawn;
	int32_t out_x, out_y, out_w, out_h;
	uint32_t drawn_commits;
	struct wl_list frame_callbacks;		/* applied, waiting for a repaint */
	struct wl_list feedbacks;		/* applied, waiting for a repaint */
	bool entered;				/* wl_surface.enter sent */

	/* role */
	const struct surface_role *role;
	void *role_data;
	struct subsurface *subsurface;		/* if role is subsurface */
	struct wl_list stack;			/* struct stack_node, back to front */
	struct stack_node self_node;

	struct wl_signal destroy_signal;
};

/* A mapped toplevel window (scene.c places it, repaint.c draws it). */
struct view {
	struct wl_list link;			/* scene.views, back to front */
	struct surface *surface;
	int32_t x, y;
};

/* scene.c: the mapped toplevels and where the next one goes */
struct scene {
	struct wl_list views;			/* struct view.link, back to front */
	int cascade;
	int shelf_x, shelf_y, shelf_h;
};

/* ---- the output (output.c; the backends fill in ops and backend) ---- */
struct output_ops {
	/* the server wants a repaint: call server_repaint() soon */
	void (*schedule)(struct server *srv);
	/* optional: drop what the backend holds of client buffers (the
	 * buffer on the plane), before the report and the teardown */
	void (*drop_buffers)(struct server *srv);
	void (*destroy)(struct server *srv);
};

struct output {
	struct server *srv;
	int32_t width, height;
	int64_t refresh_ns;
	bool vsync;				/* true for KMS */
	char name[32];
	const struct output_ops *ops;		/* NULL until a backend is up */
	void *backend;				/* the backend's own state */
	struct wl_list resources;		/* wl_output links */
	uint32_t seq;				/* frames drawn so far */
	/*
	 * The frame in flight: the frame callbacks and feedback of the
	 * surfaces it drew, moved there at repaint (output_frame_take()),
	 * and busy references on the dma-bufs it drew; fired, presented
	 * and dropped when it is on screen (output_frame_present()).
	 */
	struct wl_list frame_callbacks;		/* wl_callback links */
	struct wl_list frame_feedbacks;		/* struct feedback.link */
	struct wl_array frame_buffers;		/* struct buffer * */
	/* the feedback of the surface whose buffer the frame in flight
	 * shows itself (KMS direct scanout): it alone says ZERO_COPY */
	struct wl_list frame_feedbacks_zc;	/* struct feedback.link */
};

/* ---- the server ---- */

struct samples {
	double *v;
	size_t len, cap;
};

struct stats {
	uint64_t frames;
	/* KMS: frames scanned out directly / composited with GL, and why
	 * the last composited frame was not scanned out (scanout.c) */
	uint64_t frames_direct, frames_composited;
	char direct_refused[96];
	/* KMS: stale buffers imported again once they settled, and the
	 * candidacies of settled ones that waited for the module's old pin
	 * set to go (INFO pinned_pages not 0 yet) */
	uint64_t direct_reimports, direct_pin_waits;
	/* KMS overlay planes: frames with at least one window on an
	 * overlay, windows put there (summed over frames), and frames that
	 * left the primary plane as it was (nothing composited changed) */
	uint64_t frames_overlay, overlay_views, frames_primary_kept;
	struct samples frame_ms;		/* every repaint's wall time */
	uint64_t clients_seen;
	uint64_t buffers_dmabuf, buffers_shm;
	uint64_t dmabuf_live;			/* imported, not yet destroyed */
	uint64_t dmabuf_imports_failed;
	uint64_t protocol_errors;
	uint64_t invalidations;
	struct timespec cpu_start;
	/* the measured window: from the first client's connection to exit */
	struct samples win_wall, win_cpu;	/* per repaint: wall, process CPU */
	double last_cpu_ms;			/* process CPU at the last repaint */
	bool window_open;
	uint64_t window_frames;			/* frames before the window */
	double window_cpu_ms;			/* process CPU before it */
	long window_minflt, window_majflt;	/* faults before it */
};

struct server {
	struct options opt;
	struct wl_display *display;
	struct wl_event_loop *loop;
	struct renderer *renderer;

	struct output output;			/* the one output */

	struct wl_list surfaces;		/* struct surface.link */
	struct scene scene;
	struct wl_list dmabuf_buffers;		/* struct buffer.dmabuf.live_link */
	struct wl_list captures;		/* struct capture.link */
	bool dirty;
	bool screenshot_pending;		/* SIGUSR1 */

	int clients_now;
	int exit_status;
	int udb_fd;				/* /dev/userptr_dmabuf or -1 */

	struct dmabuf_global *dmabuf;
	struct strip *strip;			/* --status, else NULL */
	struct stats stats;
	struct wl_event_source *run_for_timer;
	struct wl_listener client_created_listener;
	struct wl_protocol_logger *logger;
};

/* main.c */
void server_log(struct server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void server_exit(struct server *srv, int status);
#define vlog(srv, ...) do { if ((srv)->opt.verbose) server_log(srv, __VA_ARGS__); } while (0)
int64_t now_ns(clockid_t clk);

/* surface.c */
void compositor_init(struct server *srv);
struct surface *surface_from_resource(struct wl_resource *r);
bool surface_set_role(struct surface *s, const struct surface_role *role,
		      void *data, struct wl_resource *err_res, uint32_t err);
void surface_commit_cached(struct surface *s);	/* sync subsurface apply */
bool surface_client_has_deferred(struct wl_client *client, struct server *srv);
void surface_state_init(struct surface_state *st);
void surface_state_fini(struct surface_state *st);

/* subsurface.c */
void subcompositor_init(struct server *srv);
bool subsurface_is_synchronized(struct surface *s);
void subsurface_parent_applied(struct surface *parent);
void subsurface_position(struct surface *s, int32_t *x, int32_t *y);

/* xdg.c */
void xdg_shell_init(struct server *srv);

/* scene.c: a mapped view is on top, placed; unmap frees it */
void scene_init(struct scene *sc);
struct view *scene_map(struct server *srv, struct surface *s);
void scene_unmap(struct server *srv, struct view *v);

/* dmabuf.c */
int dmabuf_init(struct server *srv);
void dmabuf_fini(struct server *srv);
int dmabuf_buffer_busy_fences(struct buffer *b, int *fds, int max);
bool dmabuf_buffer_y_invert(const struct buffer *b);
/* An accepted format with an alpha channel (else drawn opaque). */
bool dmabuf_format_has_alpha(uint32_t fourcc);
uint64_t dmabuf_invalidations_now(struct server *srv);

/* presentation.c */
void presentation_init(struct server *srv);
void feedback_list_discard(struct wl_list *list);
void feedback_list_present(struct server *srv, struct wl_list *list,
			   int64_t ts_ns, uint64_t seq, int64_t refresh_ns,
			   uint32_t flags);

/* output.c: the output's state, its frame lists, wl_output */
void output_init(struct output *o, struct server *srv);
void output_fini(struct output *o);
/* at repaint: s was drawn, its callbacks and feedback join the frame */
void output_frame_take(struct output *o, struct surface *s);
/* before drawing: room for n more references, false if out of memory */
bool output_frame_reserve(struct output *o, size_t n);
/* and so was b: the frame holds a busy reference until it is on screen */
void output_frame_hold(struct output *o, struct buffer *b);
/* the frame is on screen: fire, present, drop the references */
void output_frame_present(struct output *o, int64_t ts_ns, uint64_t seq);
void output_frame_buffers_drop(struct output *o);
int output_global_init(struct server *srv);
void output_for_client(struct server *srv, struct wl_resource *res,
		       void (*fn)(struct wl_resource *res,
				  struct wl_resource *output));

/* shm.c: wl_shm; sigbus.c: reading memory a client can shrink */
int shm_init(struct server *srv);
const void *shm_buffer_begin_access(struct buffer *b);
bool shm_buffer_end_access(struct buffer *b);	/* false: error posted */
bool shm_buffer_check(struct buffer *b);	/* false: error posted */
int sigbus_init(void);
void sigbus_guard_begin(void *addr, size_t len);
bool sigbus_guard_end(void);	/* true: the range faulted, now zeros */

/* capture.c */
void capture_init(struct server *srv);
bool capture_wanted(struct server *srv);
void capture_frame_done(struct server *srv, const uint32_t *pixels,
			int stride);
void capture_fini(struct server *srv);
void screenshot_request(struct server *srv);

/* png.c */
int png_write_argb(const char *path, const uint32_t *px, int w, int h,
		   int stride);

/* repaint.c: the output-independent part of a frame */
void server_schedule_repaint(struct server *srv);
/* Draw the scene into the renderer's framebuffer. Returns true if it
 * drew (the output then reads back / presents and calls
 * server_frame_done()). */
bool server_repaint(struct server *srv);
/* The frame is on screen at ts_ns; seq is the output's vertical retrace
 * counter then (0 without one). pixels: the frame just drawn (may be NULL
 * when nobody needs them). */
void server_frame_done(struct server *srv, int64_t ts_ns, uint64_t seq,
		       const uint32_t *pixels, int stride);
bool server_wants_pixels(struct server *srv);

/*
 * The direct-scanout half of a frame, for a surface scanout_candidate()
 * chose: the bookkeeping of a repaint (frame callbacks, feedback, the
 * buffer held, enter/leave, the capture geometry) without drawing.
 */
void server_repaint_direct(struct server *srv, struct surface *s);
/*
 * A frame with planes[0..n) on planes of their own (not drawn, held,
 * their feedback ZERO_COPY) and, if compose, the rest drawn with GL as
 * server_repaint() does; without compose nothing is drawn (the primary
 * plane keeps the image of the last composed frame: nothing in it
 * changed). Either way the bookkeeping of every surface on the output.
 */
void server_repaint_planes(struct server *srv, struct surface *const *planes,
			   int n, bool compose);
bool server_needs_repaint(struct server *srv);

/* scanout.c: the surface whose dma-buf can be shown as the whole output
 * as it is, or NULL with the reason in why (a static string) */
struct surface *scanout_candidate(struct server *srv, bool capture_ok,
				  const char **why);
bool scanout_buffer_ok(const struct buffer *b, const char **why);
bool scanout_children_have_content(struct surface *s);

/* planes.c: the windows that may go on overlay planes, bottom to top */
struct plane_view {
	struct surface *surface;
	int32_t x, y, w, h;			/* on the output */
};
int planes_assign(struct server *srv, bool capture_ok, int max,
		  bool (*accept)(void *data, struct surface *s),
		  void *data, struct plane_view *out, const char **why);

/* output_headless.c, output_kms.c */
int output_headless_init(struct server *srv);
int output_wayland_init(struct server *srv);
int output_kms_init(struct server *srv);

/* strip.c: the --status strip across the top of the output */
int strip_init(struct server *srv);
void strip_fini(struct server *srv);
int strip_height(struct server *srv);	/* 0 without --status */
void strip_draw(struct server *srv);	/* in a repaint, over the windows */
void strip_changed(struct server *srv);	/* clients came or left: repaint */
const char *strip_text(struct server *srv); /* what it shows, or NULL */

/* report.c */
void stats_frame(struct server *srv, double ms);
void stats_window_start(struct server *srv);
int report_write(struct server *srv);
void stats_fini(struct server *srv);
void protocol_error_logger_init(struct server *srv);

/* renderer.c */
struct renderer *renderer_create(int width, int height);
void renderer_destroy(struct renderer *r);
const char *renderer_drm_node(struct renderer *r);
void renderer_begin(struct renderer *r, float bg_r, float bg_g, float bg_b);
void renderer_draw(struct renderer *r, GLuint tex, bool external,
		   int x, int y, int w, int h, bool y_invert, bool opaque);
void renderer_end(struct renderer *r);	/* waits for the GPU (llvmpipe) */
void renderer_read(struct renderer *r, uint32_t *argb, int stride);
GLuint renderer_upload_shm(struct renderer *r, GLuint tex, bool same_size,
			   const void *data, int w, int h, int stride);
void renderer_update_texture(struct renderer *r, GLuint tex, const void *data,
			     int w, int h);
void renderer_texture_destroy(struct renderer *r, GLuint tex);
bool renderer_import_dmabuf(struct renderer *r, struct buffer *b);
void renderer_upload_surface(struct renderer *r, struct surface *s,
			     const void *data, int w, int h, int stride,
			     const struct box *damage, bool full, bool opaque);
bool renderer_draw_surface(struct renderer *r, struct surface *s, int x, int y,
			   int w, int h);
void renderer_surface_fini(struct renderer *r, struct surface *s);
int renderer_query_formats(struct renderer *r, uint32_t **fmts, uint64_t **mods,
			   int *count);

#endif
