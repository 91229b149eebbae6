/* SPDX-License-Identifier: MIT */
/*
 * wl_output (version 4): the one output, as clients see it.
 *
 * Bound resources get geometry (at 0,0; no physical size: the headless
 * output has none and vkms reports none), the current and preferred mode
 * (--size, the refresh rate the backend paces at), scale 1, name and
 * description (v4), then done (v2). Resources are kept in
 * server.output_resources so that surfaces can be told which output they
 * are on (wl_surface.enter/leave, sent by repaint.c when a surface starts
 * or stops being drawn) and presentation feedback can name the output
 * (wp_presentation_feedback.sync_output). The list holds only links; a
 * resource unlinks itself when destroyed (wl_output.release or the
 * client's disconnect).
 */
#include <stdio.h>

#include "server.h"

#define OUTPUT_VERSION 4

static void output_release(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct wl_output_interface output_impl = {
	.release = output_release,
};

static void output_unlink(struct wl_resource *r)
{
	wl_list_remove(wl_resource_get_link(r));
}

static void output_bind(struct wl_client *c, void *data, uint32_t ver,
			uint32_t id)
{
	struct server *srv = data;
	struct wl_resource *r = wl_resource_create(c, &wl_output_interface,
						   ver, id);
	char desc[128];
	int32_t mhz;

	if (!r) {
		wl_client_post_no_memory(c);
		return;
	}
	wl_resource_set_implementation(r, &output_impl, srv, output_unlink);
	wl_list_insert(&srv->output_resources, wl_resource_get_link(r));
	mhz = srv->refresh_ns > 0 ? (int32_t)(1000000000000LL / srv->refresh_ns) : 0;
	wl_output_send_geometry(r, 0, 0, 0, 0, WL_OUTPUT_SUBPIXEL_UNKNOWN,
				"udb", srv->opt.backend,
				WL_OUTPUT_TRANSFORM_NORMAL);
	wl_output_send_mode(r, WL_OUTPUT_MODE_CURRENT | WL_OUTPUT_MODE_PREFERRED,
			    srv->opt.width, srv->opt.height, mhz);
	if (ver >= WL_OUTPUT_SCALE_SINCE_VERSION)
		wl_output_send_scale(r, 1);
	if (ver >= WL_OUTPUT_NAME_SINCE_VERSION) {
		snprintf(desc, sizeof(desc), "udb-compositor %s output %dx%d",
			 srv->opt.backend, srv->opt.width, srv->opt.height);
		wl_output_send_name(r, srv->output_name);
		wl_output_send_description(r, desc);
	}
	if (ver >= WL_OUTPUT_DONE_SINCE_VERSION)
		wl_output_send_done(r);
}

/* After the backend is up: its refresh rate is part of the mode. */
int output_global_init(struct server *srv)
{
	snprintf(srv->output_name, sizeof(srv->output_name), "%s",
		 srv->opt.backend[0] == 'k' ? "KMS-1" :
		 srv->opt.backend[0] == 'w' ? "WL-1" : "HEADLESS-1");
	return wl_global_create(srv->display, &wl_output_interface,
				OUTPUT_VERSION, srv, output_bind) ? 0 : -1;
}

/* Call fn for each wl_output the client of @res has bound. */
void output_for_client(struct server *srv, struct wl_resource *res,
		       void (*fn)(struct wl_resource *res,
				  struct wl_resource *output))
{
	struct wl_client *c = wl_resource_get_client(res);
	struct wl_resource *r;

	wl_resource_for_each(r, &srv->output_resources)
		if (wl_resource_get_client(r) == c)
			fn(res, r);
}
