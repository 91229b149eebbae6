/* SPDX-License-Identifier: MIT */
/*
 * wl_compositor, wl_surface, wl_region and the commit pipeline.
 *
 * Lifetimes:
 *  - struct surface lives as long as its wl_surface resource. Roles
 *    (subsurface.c, xdg.c) and views hold plain pointers to it and listen
 *    to surface.destroy_signal to drop them.
 *  - Attached buffers are held by resource in a surface_state with a
 *    destroy listener; a commit in the cache or the deferred queue also
 *    holds a busy reference on its buffer (surface_state.held), so a
 *    buffer it replaces or drops is released. Once applied, the struct
 *    buffer (buffer.h) is the surface's current buffer, with a busy
 *    reference of its own: a wl_shm buffer
 *    until the next repaint uploaded it with the damage accumulated since
 *    the last upload (repaint.c, renderer.c), a dma-buf for as long as it
 *    is the content. Dropping that reference may release it (buffer.c).
 *  - wl_callback (frame) and wp_presentation_feedback objects move with
 *    the state: pending -> (cached / deferred) -> current -> sent after
 *    the repaint that showed the content (repaint.c).
 *
 * The commit pipeline: wl_surface.commit first lets the role check the
 * state (xdg: no buffer before the first ack_configure). If the newly
 * attached buffer is a dma-buf whose implicit write fences are not yet
 * signalled (DMA_BUF_IOCTL_EXPORT_SYNC_FILE + poll), or an earlier commit
 * of the surface is still waiting, the state is moved into a struct commit
 * queued on the surface, the sync_file joins the event loop and the
 * commit is applied in order once its fences have signalled. A commit
 * that is ready goes to the cache if the surface is a synchronized
 * subsurface (applied with the parent's next commit), else it is applied.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <drm_fourcc.h>

#include "server.h"

#define COMPOSITOR_VERSION 5

/* A commit waiting for the implicit fences of its dma-buf. */
struct commit {
	struct wl_list link;			/* surface.deferred */
	struct surface *surface;
	struct surface_state state;
	int fences[4];
	int nfences, cur;
	struct wl_event_source *src;
	bool ready;
};

static void apply_state(struct surface *s, struct surface_state *st);

/* ---- surface_state ---- */

static void state_buffer_destroyed(struct wl_listener *l, void *data)
{
	struct surface_state *st = wl_container_of(l, st, buffer_destroy);

	(void)data;
	st->buffer = NULL;
	wl_list_remove(&l->link);
	wl_list_init(&l->link);
}

void surface_state_init(struct surface_state *st)
{
	memset(st, 0, sizeof(*st));
	st->scale = 1;
	st->transform = WL_OUTPUT_TRANSFORM_NORMAL;
	st->buffer_destroy.notify = state_buffer_destroyed;
	wl_list_init(&st->buffer_destroy.link);
	wl_list_init(&st->frame_callbacks);
	wl_list_init(&st->feedbacks);
}

/* x, y, w, h from a request, in 64 bits and clamped: no overflow */
static struct box box_from(int32_t x, int32_t y, int32_t w, int32_t h)
{
	int64_t x2 = (int64_t)x + w, y2 = (int64_t)y + h;

	return (struct box){ x, y, x2 > INT32_MAX ? INT32_MAX : (int32_t)x2,
			     y2 > INT32_MAX ? INT32_MAX : (int32_t)y2 };
}

static void state_set_buffer(struct surface_state *st, struct wl_resource *b)
{
	wl_list_remove(&st->buffer_destroy.link);
	wl_list_init(&st->buffer_destroy.link);
	st->buffer = b;
	if (b)
		wl_resource_add_destroy_listener(b, &st->buffer_destroy);
}

static void destroy_callbacks(struct wl_list *list)
{
	struct wl_resource *cb, *tmp;

	wl_resource_for_each_safe(cb, tmp, list)
		wl_resource_destroy(cb);	/* unlinks itself */
}

/* Replace st's busy reference by b's (taken by the caller) or NULL. */
static void state_hold(struct surface_state *st, struct buffer *b)
{
	struct buffer *old = st->held;

	st->held = b;
	if (old)
		buffer_unref(old);
}

void surface_state_fini(struct surface_state *st)
{
	state_set_buffer(st, NULL);
	state_hold(st, NULL);
	destroy_callbacks(&st->frame_callbacks);
	feedback_list_discard(&st->feedbacks);
}

/* The size of the buffer a state shows: its own or the surface's. */
static void state_size(struct surface *s, struct surface_state *st,
		       int32_t *w, int32_t *h)
{
	struct buffer *b = st->held;

	if (!(st->flags & STATE_BUFFER)) {
		*w = s->width;
		*h = s->height;
		return;
	}
	if (!b)
		b = buffer_from_resource(st->buffer);
	*w = b ? b->width : 0;
	*h = b ? b->height : 0;
}

/*
 * Merged surface damage is converted with the scale, transform and
 * buffer size of the merged state: if src changes any of them, dst's
 * damage is not exact there and the whole buffer is uploaded.
 */
static void merge_damage_mapping(struct surface *s, struct surface_state *dst,
				 struct surface_state *src)
{
	int32_t w0, h0, w1, h1;

	dst->damage_full |= src->damage_full;
	if (box_empty(&dst->damage))
		return;
	if (src->flags & (STATE_SCALE | STATE_TRANSFORM)) {
		dst->damage_full = true;
		return;
	}
	if (!(src->flags & STATE_BUFFER))
		return;
	state_size(s, dst, &w0, &h0);
	state_size(s, src, &w1, &h1);
	if (w0 != w1 || h0 != h1)
		dst->damage_full = true;
}

/*
 * Merge src (a newer commit) into dst; src is left empty. dst holds a
 * busy reference on its buffer: src's moves over, or one is taken for a
 * pending state's; the buffer dst held before is released if unused.
 */
static void state_merge(struct surface *s, struct surface_state *dst,
			struct surface_state *src)
{
	merge_damage_mapping(s, dst, src);
	if (src->flags & STATE_BUFFER) {
		struct buffer *b = src->held;

		src->held = NULL;
		if (!b && src->buffer && buffer_from_resource(src->buffer))
			b = buffer_ref(buffer_from_resource(src->buffer));
		state_hold(dst, b);
		state_set_buffer(dst, src->buffer);
		/* the content dst's feedback was about is never shown */
		feedback_list_discard(&dst->feedbacks);
	}
	if (src->flags & STATE_OFFSET) {
		dst->dx += src->dx;
		dst->dy += src->dy;
	}
	if (src->flags & STATE_TRANSFORM)
		dst->transform = src->transform;
	if (src->flags & STATE_SCALE)
		dst->scale = src->scale;
	box_add(&dst->damage, &src->damage);
	box_add(&dst->buffer_damage, &src->buffer_damage);
	src->damage = src->buffer_damage = (struct box){ 0 };
	src->damage_full = false;
	dst->flags |= src->flags;
	wl_list_insert_list(dst->frame_callbacks.prev, &src->frame_callbacks);
	wl_list_init(&src->frame_callbacks);
	wl_list_insert_list(dst->feedbacks.prev, &src->feedbacks);
	wl_list_init(&src->feedbacks);
	state_set_buffer(src, NULL);
	src->flags = 0;
	src->dx = src->dy = 0;
}

/* ---- wl_region: accepted and ignored (we have no input) ---- */

static void region_destroy(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void region_op(struct wl_client *c, struct wl_resource *r, int32_t x,
		      int32_t y, int32_t w, int32_t h)
{
	(void)c, (void)r, (void)x, (void)y, (void)w, (void)h;
}

static const struct wl_region_interface region_impl = {
	.destroy = region_destroy,
	.add = region_op,
	.subtract = region_op,
};

/* ---- wl_surface requests ---- */

struct surface *surface_from_resource(struct wl_resource *r)
{
	return wl_resource_get_user_data(r);
}

static void surface_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void surface_attach(struct wl_client *c, struct wl_resource *r,
			   struct wl_resource *buffer, int32_t x, int32_t y)
{
	struct surface *s = surface_from_resource(r);

	(void)c;
	if ((x || y) && wl_resource_get_version(r) >= 5) {
		wl_resource_post_error(r, WL_SURFACE_ERROR_INVALID_OFFSET,
				       "attach with non-zero offset");
		return;
	}
	state_set_buffer(&s->pending, buffer);
	s->pending.flags |= STATE_BUFFER;
	if (x || y) {
		s->pending.dx = x;
		s->pending.dy = y;
		s->pending.flags |= STATE_OFFSET;
	}
}

static void surface_damage(struct wl_client *c, struct wl_resource *r,
			   int32_t x, int32_t y, int32_t w, int32_t h)
{
	struct surface *s = surface_from_resource(r);
	struct box b = box_from(x, y, w, h);

	(void)c;
	box_add(&s->pending.damage, &b);
	s->pending.flags |= STATE_DAMAGE;
}

static void surface_damage_buffer(struct wl_client *c, struct wl_resource *r,
				  int32_t x, int32_t y, int32_t w, int32_t h)
{
	struct surface *s = surface_from_resource(r);
	struct box b = box_from(x, y, w, h);

	(void)c;
	box_add(&s->pending.buffer_damage, &b);
	s->pending.flags |= STATE_DAMAGE;
}

static void callback_unlink(struct wl_resource *r)
{
	wl_list_remove(wl_resource_get_link(r));
}

static void surface_frame(struct wl_client *c, struct wl_resource *r,
			  uint32_t id)
{
	struct surface *s = surface_from_resource(r);
	struct wl_resource *cb;

	cb = wl_resource_create(c, &wl_callback_interface, 1, id);
	if (!cb) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(cb, NULL, NULL, callback_unlink);
	wl_list_insert(s->pending.frame_callbacks.prev,
		       wl_resource_get_link(cb));
}

static void surface_set_region(struct wl_client *c, struct wl_resource *r,
			       struct wl_resource *region)
{
	(void)c, (void)r, (void)region;
}

static void surface_set_buffer_transform(struct wl_client *c,
					 struct wl_resource *r, int32_t t)
{
	struct surface *s = surface_from_resource(r);

	(void)c;
	if (t < WL_OUTPUT_TRANSFORM_NORMAL || t > WL_OUTPUT_TRANSFORM_FLIPPED_270) {
		wl_resource_post_error(r, WL_SURFACE_ERROR_INVALID_TRANSFORM,
				       "invalid transform %d", t);
		return;
	}
	s->pending.transform = t;
	s->pending.flags |= STATE_TRANSFORM;
}

static void surface_set_buffer_scale(struct wl_client *c,
				     struct wl_resource *r, int32_t scale)
{
	struct surface *s = surface_from_resource(r);

	(void)c;
	if (scale < 1) {
		wl_resource_post_error(r, WL_SURFACE_ERROR_INVALID_SCALE,
				       "invalid scale %d", scale);
		return;
	}
	s->pending.scale = scale;
	s->pending.flags |= STATE_SCALE;
}

static void surface_offset(struct wl_client *c, struct wl_resource *r,
			   int32_t x, int32_t y)
{
	struct surface *s = surface_from_resource(r);

	(void)c;
	s->pending.dx = x;
	s->pending.dy = y;
	s->pending.flags |= STATE_OFFSET;
}

/* ---- deferred commits ---- */

static void commit_free(struct commit *cm)
{
	if (cm->src)
		wl_event_source_remove(cm->src);
	for (int i = cm->cur; i < cm->nfences; i++)
		close(cm->fences[i]);
	surface_state_fini(&cm->state);
	wl_list_remove(&cm->link);
	free(cm);
}

/* Apply the deferred commits at the head of the queue that are ready. */
static void surface_flush_deferred(struct surface *s)
{
	struct commit *cm, *tmp;

	wl_list_for_each_safe(cm, tmp, &s->deferred, link) {
		if (!cm->ready)
			break;
		wl_list_remove(&cm->link);
		wl_list_init(&cm->link);
		if (subsurface_is_synchronized(s)) {
			state_merge(s, &s->cached, &cm->state);
			s->has_cache = true;
		} else {
			apply_state(s, &cm->state);
		}
		commit_free(cm);
	}
	/* a capture may have been waiting for this client's commits */
	server_schedule_repaint(s->server);
}

static int fence_signalled(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;	/* error counts as signalled */
}

static int commit_fence_ready(int fd, uint32_t mask, void *data);

/* Wait for the next fence that is still busy; true when none is left. */
static bool commit_arm(struct commit *cm)
{
	struct wl_event_loop *loop = cm->surface->server->loop;

	for (; cm->cur < cm->nfences; cm->cur++) {
		if (!fence_signalled(cm->fences[cm->cur])) {
			cm->src = wl_event_loop_add_fd(loop, cm->fences[cm->cur],
						       WL_EVENT_READABLE,
						       commit_fence_ready, cm);
			if (cm->src)
				return false;
		}
		close(cm->fences[cm->cur]);
	}
	return true;
}

static int commit_fence_ready(int fd, uint32_t mask, void *data)
{
	struct commit *cm = data;

	(void)fd, (void)mask;
	wl_event_source_remove(cm->src);
	cm->src = NULL;
	close(cm->fences[cm->cur++]);
	if (commit_arm(cm)) {
		cm->ready = true;
		vlog(cm->surface->server, "deferred commit ready");
		surface_flush_deferred(cm->surface);
	}
	return 0;
}

bool surface_client_has_deferred(struct wl_client *client, struct server *srv)
{
	struct surface *s;

	wl_list_for_each(s, &srv->surfaces, link)
		if (wl_resource_get_client(s->resource) == client &&
		    !wl_list_empty(&s->deferred))
			return true;
	return false;
}

/* ---- applying state ---- */

/* Replace the current buffer; b comes with its busy reference or NULL. */
static void set_buffer(struct surface *s, struct buffer *b)
{
	struct buffer *old = s->buffer;

	s->buffer = b;
	if (old)
		buffer_unref(old);
}

static void apply_buffer(struct surface *s, struct wl_resource *res)
{
	struct buffer *b = buffer_from_resource(res);

	if (!b) {	/* NULL: surface_commit() let only ours through */
		set_buffer(s, NULL);
		s->has_content = false;
		s->width = s->height = 0;
		s->upload_pending = false;
		s->upload_full = true;
		return;
	}
	if (b != s->buffer)
		set_buffer(s, buffer_ref(b));
	s->width = b->width;
	s->height = b->height;
	s->has_content = true;
	if (b->kind == BUFFER_SHM) {
		s->upload_pending = true;
		s->was_dmabuf = false;
		if (!b->counted) {	/* each wl_shm buffer once in the report */
			b->counted = true;
			s->server->stats.buffers_shm++;
		}
	} else {
		s->upload_pending = false;
		s->upload_full = true;	/* the texture no longer is the content */
		s->was_dmabuf = true;
	}
}

/*
 * The commit's damage in buffer coordinates, added to the surface's:
 * surface damage through the buffer transform and scale now in effect
 * (merged commits that changed them asked for a full upload instead).
 */
static void apply_damage(struct surface *s, struct surface_state *st)
{
	struct box d = box_surface_to_buffer(&st->damage, s->transform,
					     s->scale, s->width, s->height);

	box_add(&s->damage, &d);
	box_add(&s->damage, &st->buffer_damage);
	/* a new buffer without damage: all of it (clients that forget) */
	if (st->flags & STATE_BUFFER && box_empty(&st->damage) &&
	    box_empty(&st->buffer_damage))
		s->upload_full = true;
	if (st->damage_full)
		s->upload_full = true;
	st->damage = st->buffer_damage = (struct box){ 0 };
	st->damage_full = false;
}

static void apply_state(struct surface *s, struct surface_state *st)
{
	if (st->flags & STATE_BUFFER)
		apply_buffer(s, st->buffer);
	if (st->flags & STATE_SCALE)
		s->scale = st->scale;
	if (st->flags & STATE_TRANSFORM)
		s->transform = st->transform;
	apply_damage(s, st);
	state_set_buffer(st, NULL);
	state_hold(st, NULL);	/* apply_buffer() took the surface's own */
	s->commits++;

	/* a new content update: earlier feedback was never shown */
	feedback_list_discard(&s->feedbacks);
	wl_list_insert_list(s->feedbacks.prev, &st->feedbacks);
	wl_list_init(&st->feedbacks);
	wl_list_insert_list(s->frame_callbacks.prev, &st->frame_callbacks);
	wl_list_init(&st->frame_callbacks);
	st->flags = 0;
	st->dx = st->dy = 0;

	subsurface_parent_applied(s);
	if (s->role && s->role->applied)
		s->role->applied(s);
	s->server->dirty = true;
	server_schedule_repaint(s->server);
}

/* A synchronized subsurface's parent was applied: apply the cache. */
void surface_commit_cached(struct surface *s)
{
	if (!s->has_cache)
		return;
	s->has_cache = false;
	apply_state(s, &s->cached);
}

/*
 * A buffer must be ours: wl_shm (checked at creation, shm.c; checked
 * again now, so a file shrunk under its pool is this commit's error) or
 * a dma-buf.
 */
static bool check_buffer(struct surface *s, struct wl_resource *res,
			 struct buffer **out)
{
	struct buffer *b = buffer_from_resource(res);

	if (!b) {
		wl_client_post_implementation_error(wl_resource_get_client(s->resource),
						    "unknown wl_buffer type");
		return false;
	}
	if (b->kind == BUFFER_SHM)
		return shm_buffer_check(b);
	*out = b;
	return true;
}

static void surface_commit(struct wl_client *c, struct wl_resource *r)
{
	struct surface *s = surface_from_resource(r);
	struct surface_state *st = &s->pending;
	struct buffer *db = NULL;
	struct commit *cm;
	int fences[4], n = 0;

	(void)c;
	if (st->flags & STATE_BUFFER && st->buffer &&
	    !check_buffer(s, st->buffer, &db))
		return;
	if (s->role && s->role->precommit && !s->role->precommit(s, st))
		return;
	if (db)
		n = dmabuf_buffer_busy_fences(db, fences, 4);
	if (n == 0 && wl_list_empty(&s->deferred)) {
		if (subsurface_is_synchronized(s)) {
			state_merge(s, &s->cached, st);
			s->has_cache = true;
		} else {
			apply_state(s, st);
		}
		return;
	}
	cm = calloc(1, sizeof(*cm));
	if (!cm) {
		for (int i = 0; i < n; i++)
			close(fences[i]);
		wl_client_post_no_memory(c);
		return;
	}
	cm->surface = s;
	surface_state_init(&cm->state);
	state_merge(s, &cm->state, st);
	memcpy(cm->fences, fences, sizeof(fences));
	cm->nfences = n;
	wl_list_insert(s->deferred.prev, &cm->link);
	vlog(s->server, "commit deferred (%d busy fences)", n);
	if (commit_arm(cm)) {
		cm->ready = true;
		surface_flush_deferred(s);
	}
}

static const struct wl_surface_interface surface_impl = {
	.destroy = surface_destroy_req,
	.attach = surface_attach,
	.damage = surface_damage,
	.frame = surface_frame,
	.set_opaque_region = surface_set_region,
	.set_input_region = surface_set_region,
	.commit = surface_commit,
	.set_buffer_transform = surface_set_buffer_transform,
	.set_buffer_scale = surface_set_buffer_scale,
	.damage_buffer = surface_damage_buffer,
	.offset = surface_offset,
};

static void surface_resource_destroy(struct wl_resource *r)
{
	struct surface *s = surface_from_resource(r);
	struct commit *cm, *tmp;

	/* roles, subsurfaces, views drop their pointers */
	wl_signal_emit(&s->destroy_signal, s);
	wl_list_for_each_safe(cm, tmp, &s->deferred, link)
		commit_free(cm);
	surface_state_fini(&s->pending);
	surface_state_fini(&s->cached);
	destroy_callbacks(&s->frame_callbacks);
	feedback_list_discard(&s->feedbacks);
	set_buffer(s, NULL);
	renderer_surface_fini(s->server->renderer, s);
	wl_list_remove(&s->self_node.link);
	wl_list_remove(&s->link);
	s->server->dirty = true;
	server_schedule_repaint(s->server);
	free(s);
}

bool surface_set_role(struct surface *s, const struct surface_role *role,
		      void *data, struct wl_resource *err_res, uint32_t err)
{
	if ((s->role && s->role != role) || s->role_data) {
		wl_resource_post_error(err_res, err,
				       "wl_surface@%u already has role %s",
				       wl_resource_get_id(s->resource),
				       s->role ? s->role->name : "?");
		return false;
	}
	s->role = role;
	s->role_data = data;
	return true;
}

/* ---- wl_compositor ---- */

static void compositor_create_surface(struct wl_client *c,
				      struct wl_resource *r, uint32_t id)
{
	struct server *srv = wl_resource_get_user_data(r);
	struct surface *s = calloc(1, sizeof(*s));

	if (!s) {
		wl_client_post_no_memory(c);
		return;
	}
	s->resource = wl_resource_create(c, &wl_surface_interface,
					 wl_resource_get_version(r), id);
	if (!s->resource) {
		free(s);
		wl_client_post_no_memory(c);
		return;
	}
	s->server = srv;
	s->scale = 1;
	surface_state_init(&s->pending);
	surface_state_init(&s->cached);
	wl_list_init(&s->deferred);
	wl_list_init(&s->frame_callbacks);
	wl_list_init(&s->feedbacks);
	wl_list_init(&s->stack);
	s->self_node.surface = s;
	wl_list_insert(&s->stack, &s->self_node.link);
	wl_signal_init(&s->destroy_signal);
	wl_list_insert(srv->surfaces.prev, &s->link);
	wl_resource_set_implementation(s->resource, &surface_impl, s,
				       surface_resource_destroy);
}

static void compositor_create_region(struct wl_client *c,
				     struct wl_resource *r, uint32_t id)
{
	struct wl_resource *reg = wl_resource_create(c, &wl_region_interface,
						     1, id);

	(void)r;
	if (!reg) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(reg, &region_impl, NULL, NULL);
}

static const struct wl_compositor_interface compositor_impl = {
	.create_surface = compositor_create_surface,
	.create_region = compositor_create_region,
};

static void compositor_bind(struct wl_client *c, void *data, uint32_t ver,
			    uint32_t id)
{
	struct wl_resource *r = wl_resource_create(c, &wl_compositor_interface,
						   ver, id);

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &compositor_impl, data, NULL);
}

void compositor_init(struct server *srv)
{
	wl_global_create(srv->display, &wl_compositor_interface,
			 COMPOSITOR_VERSION, srv, compositor_bind);
}
