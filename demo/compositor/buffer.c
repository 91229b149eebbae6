/* SPDX-License-Identifier: MIT */
/*
 * struct buffer: reference counting, the release rule and the wl_buffer
 * resource shared by wl_shm (shm.c) and linux-dmabuf (dmabuf.c). See
 * buffer.h for the two counts.
 */
#include <stdlib.h>

#include "server.h"

void buffer_init(struct buffer *b, struct server *srv, struct wl_client *c,
		 enum buffer_kind kind, int32_t w, int32_t h,
		 void (*destroy)(struct buffer *b))
{
	b->srv = srv;
	b->client = c;
	b->kind = kind;
	b->width = w;
	b->height = h;
	b->refs = 1;
	b->destroy = destroy;
	wl_list_init(&b->dmabuf.live_link);
}

static void buffer_put(struct buffer *b)
{
	if (--b->refs > 0)
		return;
	if (b->renderer_state_destroy)
		b->renderer_state_destroy(b);
	if (b->scanout_state_destroy)
		b->scanout_state_destroy(b);
	if (b->destroy)
		b->destroy(b);
	free(b);
}

struct buffer *buffer_ref(struct buffer *b)
{
	b->busy++;
	b->refs++;
	return b;
}

void buffer_unref(struct buffer *b)
{
	if (--b->busy == 0 && b->resource)
		wl_buffer_send_release(b->resource);
	buffer_put(b);
}

static void buffer_destroy_req(struct wl_client *c, struct wl_resource *r)
{
	(void)c;
	wl_resource_destroy(r);
}

static const struct wl_buffer_interface buffer_impl = {
	.destroy = buffer_destroy_req,
};

struct buffer *buffer_from_resource(struct wl_resource *r)
{
	if (!r || !wl_resource_instance_of(r, &wl_buffer_interface, &buffer_impl))
		return NULL;
	return wl_resource_get_user_data(r);
}

static void buffer_resource_destroy(struct wl_resource *r)
{
	struct buffer *b = wl_resource_get_user_data(r);

	b->resource = NULL;
	buffer_put(b);
}

struct wl_resource *buffer_create_resource(struct buffer *b, uint32_t id)
{
	b->resource = wl_resource_create(b->client, &wl_buffer_interface, 1, id);
	if (!b->resource) {
		wl_client_post_no_memory(b->client);
		buffer_put(b);
		return NULL;
	}
	wl_resource_set_implementation(b->resource, &buffer_impl, b,
				       buffer_resource_destroy);
	return b->resource;
}
