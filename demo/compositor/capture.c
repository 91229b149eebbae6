/* SPDX-License-Identifier: MIT */
/*
 * udb_capture_v1: read back the output (pixel tests, screenshots).
 *
 * A capture request maps the client's fd (checked: stride >= 4 * width,
 * stride * height bytes behind it, else the bad_buffer error), queues a
 * struct capture on the server and forces a repaint. The capture is
 * served by the first repaint after all of the requesting client's
 * deferred commits (waiting for implicit fences) were applied: it gets
 * the pixels, one surface event per surface of that client drawn in the
 * frame (position, size, commit counter), then ready (seq, PNG path).
 *
 * Lifetime: struct capture lives with its udb_capture_frame_v1 resource;
 * the mapping is dropped once the frame was delivered, or when the
 * client destroys the object (cancel) or disconnects.
 * SIGUSR1 sets server.screenshot_pending: the next repaint writes a PNG.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "server.h"
#include "udb-capture-v1-server-protocol.h"

struct capture {
	struct wl_resource *resource;
	struct wl_list link;			/* server.captures */
	struct server *srv;
	void *map;
	size_t map_size;
	uint32_t stride;
};

static void capture_unmap(struct capture *cp)
{
	if (cp->map) {
		munmap(cp->map, cp->map_size);
		cp->map = NULL;
	}
	wl_list_remove(&cp->link);
	wl_list_init(&cp->link);
}

static void frame_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct udb_capture_frame_v1_interface frame_impl = {
	.destroy = frame_destroy_req,
};

static void frame_resource_destroy(struct wl_resource *r)
{
	struct capture *cp = wl_resource_get_user_data(r);

	capture_unmap(cp);
	free(cp);
}

static bool ready(struct server *srv, struct capture *cp)
{
	return !surface_client_has_deferred(wl_resource_get_client(cp->resource),
					    srv);
}

bool capture_wanted(struct server *srv)
{
	struct capture *cp;

	if (srv->screenshot_pending)
		return true;
	wl_list_for_each(cp, &srv->captures, link)
		if (ready(srv, cp))
			return true;
	return false;
}

static const char *write_png(struct server *srv, const uint32_t *px,
			     int stride, char *path, size_t len)
{
	if (!srv->opt.screenshot_dir)
		return "";
	snprintf(path, len, "%s/frame-%06u.png", srv->opt.screenshot_dir,
		 srv->output.seq);
	if (png_write_argb(path, px, srv->output.width, srv->output.height,
			   stride) < 0) {
		server_log(srv, "cannot write %s: %s", path, strerror(errno));
		return "";
	}
	return path;
}

void capture_frame_done(struct server *srv, const uint32_t *px, int stride)
{
	struct capture *cp, *tmp;
	char buf[PATH_MAX];
	const char *path = NULL;

	if (srv->screenshot_pending) {
		srv->screenshot_pending = false;
		path = write_png(srv, px, stride, buf, sizeof(buf));
		server_log(srv, "screenshot %s", path[0] ? path : "(no --screenshot-dir)");
	}
	wl_list_for_each_safe(cp, tmp, &srv->captures, link) {
		struct wl_client *client = wl_resource_get_client(cp->resource);
		struct surface *s;

		if (!ready(srv, cp))
			continue;
		for (int y = 0; y < srv->output.height; y++)
			memcpy((uint8_t *)cp->map + (size_t)y * cp->stride,
			       (const uint8_t *)px + (size_t)y * stride,
			       (size_t)srv->output.width * 4);
		wl_list_for_each(s, &srv->surfaces, link)
			if (s->drawn && wl_resource_get_client(s->resource) == client)
				udb_capture_frame_v1_send_surface(cp->resource,
								  s->resource,
								  s->out_x, s->out_y,
								  s->out_w, s->out_h,
								  s->drawn_commits);
		if (!path)
			path = write_png(srv, px, stride, buf, sizeof(buf));
		udb_capture_frame_v1_send_ready(cp->resource, srv->output.seq, path);
		capture_unmap(cp);
	}
}

static void capture_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static void capture_capture(struct wl_client *c, struct wl_resource *r,
			    uint32_t id, int32_t fd, uint32_t stride)
{
	struct server *srv = wl_resource_get_user_data(r);
	struct capture *cp;
	uint64_t need = (uint64_t)stride * srv->output.height;
	off_t size = lseek(fd, 0, SEEK_END);
	void *map;

	if (stride < (uint64_t)srv->output.width * 4 || size < 0 ||
	    (uint64_t)size < need) {
		close(fd);
		wl_resource_post_error(r, UDB_CAPTURE_V1_ERROR_BAD_BUFFER,
				       "stride %u / fd size %lld too small for %dx%d",
				       stride, (long long)size, srv->output.width,
				       srv->output.height);
		return;
	}
	map = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		wl_resource_post_error(r, UDB_CAPTURE_V1_ERROR_BAD_BUFFER,
				       "cannot map the buffer: %s", strerror(errno));
		return;
	}
	cp = calloc(1, sizeof(*cp));
	if (!cp) {
		munmap(map, need);
		wl_client_post_no_memory(c);
		return;
	}
	cp->resource = wl_resource_create(c, &udb_capture_frame_v1_interface,
					  1, id);
	if (!cp->resource) {
		munmap(map, need);
		free(cp);
		wl_client_post_no_memory(c);
		return;
	}
	cp->srv = srv;
	cp->map = map;
	cp->map_size = need;
	cp->stride = stride;
	wl_list_insert(srv->captures.prev, &cp->link);
	wl_resource_set_implementation(cp->resource, &frame_impl, cp,
				       frame_resource_destroy);
	server_schedule_repaint(srv);
}

static const struct udb_capture_v1_interface capture_impl = {
	.destroy = capture_destroy_req,
	.capture = capture_capture,
};

static void capture_bind(struct wl_client *c, void *data, uint32_t ver,
			 uint32_t id)
{
	struct server *srv = data;
	struct wl_resource *r = wl_resource_create(c, &udb_capture_v1_interface,
						   ver, id);

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &capture_impl, srv, NULL);
	udb_capture_v1_send_mode(r, srv->output.width, srv->output.height);
}

void capture_init(struct server *srv)
{
	wl_global_create(srv->display, &udb_capture_v1_interface, 1, srv,
			 capture_bind);
}

void screenshot_request(struct server *srv)
{
	srv->screenshot_pending = true;
	server_schedule_repaint(srv);
}

void capture_fini(struct server *srv)
{
	(void)srv;	/* captures die with their clients' resources */
}
