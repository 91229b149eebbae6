/* SPDX-License-Identifier: MIT */
/*
 * libudb-wayland: share a program's own memory with a Wayland compositor.
 *
 * A context (struct udb_wl_ctx) is bound to one wl_display. It opens
 * /dev/userptr_dmabuf, binds zwp_linux_dmabuf_v1 and wl_shm through a
 * registry and event queue of its own, and learns which formats the
 * compositor imports (the default feedback's format table on linux-dmabuf
 * v4, the modifier events on v3). A buffer (struct udb_wl_buffer) turns
 * caller memory into a wl_buffer: zero-copy as a userptr dma-buf
 * (USERPTR_DMABUF_IOC_CREATE + zwp_linux_buffer_params_v1) when the
 * module, linux-dmabuf and the format allow it, else a wl_shm buffer the
 * caller fills with udb_wl_buffer_copy() (the copy zero-copy avoids).
 *
 * Every wl_buffer the library makes has its events on the queue the
 * context was created with (default: the display's default queue), so the
 * caller's usual wl_display_dispatch() delivers wl_buffer.release. The
 * library itself only dispatches its private queue, in
 * udb_wl_ctx_create() and udb_wl_buffer_create().
 *
 * Not thread safe: one thread uses a context and its buffers.
 * See docs/demo-client.md ("libudb-wayland").
 */
#ifndef UDB_WAYLAND_H
#define UDB_WAYLAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wl_display;
struct wl_event_queue;
struct wl_buffer;
struct wl_surface;
struct udb_wl_ctx;
struct udb_wl_buffer;

/**
 * enum udb_wl_fallback - why a buffer is (or would be) wl_shm, as bits
 * @UDB_WL_FALLBACK_FORCED: the caller asked for wl_shm
 *	(udb_wl_ctx_options.force_shm)
 * @UDB_WL_FALLBACK_NO_DEVICE: /dev/userptr_dmabuf cannot be used: the
 *	module is not loaded, the caller may not open it, or it speaks
 *	another API version (udb_wl_ctx_device_error() says which)
 * @UDB_WL_FALLBACK_NO_LINUX_DMABUF: the compositor has no
 *	zwp_linux_dmabuf_v1 global
 * @UDB_WL_FALLBACK_FORMAT: linux-dmabuf does not offer the format with
 *	DRM_FORMAT_MOD_LINEAR (nor with DRM_FORMAT_MOD_INVALID, when
 *	udb_wl_ctx_options.allow_implicit_modifier is set)
 * @UDB_WL_FALLBACK_CREATE_FAILED: USERPTR_DMABUF_IOC_CREATE refused this
 *	memory (a hole in the range, VM_IO/PFNMAP memory, a size limit)
 * @UDB_WL_FALLBACK_REFUSED: the compositor answered
 *	zwp_linux_buffer_params_v1.failed for this dma-buf
 *
 * The first three concern the whole context (udb_wl_ctx_fallback()), the
 * format one a format (udb_wl_ctx_format_fallback()), the last two one
 * buffer (udb_wl_buffer_fallback()). Several bits can be set at once:
 * every reason that applies is reported, not only the first.
 */
enum udb_wl_fallback {
	UDB_WL_FALLBACK_FORCED = 1u << 0,
	UDB_WL_FALLBACK_NO_DEVICE = 1u << 1,
	UDB_WL_FALLBACK_NO_LINUX_DMABUF = 1u << 2,
	UDB_WL_FALLBACK_FORMAT = 1u << 3,
	UDB_WL_FALLBACK_CREATE_FAILED = 1u << 4,
	UDB_WL_FALLBACK_REFUSED = 1u << 5,
};

/**
 * enum udb_wl_access - direction of a CPU access
 * @UDB_WL_ACCESS_READ: the CPU reads the buffer
 * @UDB_WL_ACCESS_WRITE: the CPU writes the buffer
 * @UDB_WL_ACCESS_RW: both
 */
enum udb_wl_access {
	UDB_WL_ACCESS_READ = 1u << 0,
	UDB_WL_ACCESS_WRITE = 1u << 1,
	UDB_WL_ACCESS_RW = UDB_WL_ACCESS_READ | UDB_WL_ACCESS_WRITE,
};

/**
 * struct udb_wl_ctx_options - how udb_wl_ctx_create() sets up a context
 * @size: sizeof(struct udb_wl_ctx_options) as the caller compiled it;
 *	must be set. Later versions of the library add fields at the end
 *	only: a caller built against an older header passes a smaller size
 *	and gets the defaults for the fields it does not know; a size
 *	smaller than this first version's struct fails with EINVAL
 * @force_shm: never make dma-bufs (UDB_WL_FALLBACK_FORCED): for
 *	comparisons, or to test the fallback
 * @allow_implicit_modifier: accept a format the compositor offers only
 *	with DRM_FORMAT_MOD_INVALID (the implicit layout, which software
 *	renderers read as linear) when it lacks DRM_FORMAT_MOD_LINEAR;
 *	false: such a format falls back to wl_shm
 * @device_path: the module's device, NULL for USERPTR_DMABUF_DEVICE
 *	("/dev/userptr_dmabuf")
 * @queue: the queue the wl_buffers' events (release) go to; NULL for the
 *	display's default queue
 * @log: called with one line (no newline) for each failure worth telling
 *	a user about (an ioctl error, a refused dma-buf); NULL: silent
 * @log_data: first argument of @log
 *
 * A NULL pointer, or a zero-initialised struct with only @size set,
 * gives the defaults:
 *
 *	struct udb_wl_ctx_options opt = { .size = sizeof(opt), .log = f };
 */
struct udb_wl_ctx_options {
	uint32_t size;
	bool force_shm;
	bool allow_implicit_modifier;
	const char *device_path;
	struct wl_event_queue *queue;
	void (*log)(void *data, const char *line);
	void *log_data;
};

/**
 * udb_wl_ctx_create() - bind a context to a Wayland connection
 * @display: the connection; must outlive the context
 * @opt: options, or NULL for the defaults
 *
 * Opens the device (unless @opt->force_shm), creates a wl_registry on a
 * private event queue (destroyed again once the globals are bound, so
 * later global events are dropped rather than queued), binds wl_shm (v1)
 * and zwp_linux_dmabuf_v1 (up to v4) and waits (roundtrips on the
 * private queue only) until the
 * compositor has said which formats and modifiers it imports: on v4 the
 * default feedback (format table mapped from its fd, main_device, every
 * tranche), on v3 the modifier events (the format events, which v3
 * still sends, are ignored: they say nothing about the implicit
 * modifier), before v3 the format events (implicit modifier). Neither the module nor linux-dmabuf is required:
 * what is missing becomes a fallback reason.
 *
 * Return: the context, or NULL with errno set (EINVAL: @opt->size too
 * small; ENOMEM; EPROTO or another connection error from the roundtrips;
 * ENOTSUP when the compositor has neither linux-dmabuf nor wl_shm).
 */
struct udb_wl_ctx *udb_wl_ctx_create(struct wl_display *display,
				     const struct udb_wl_ctx_options *opt);

/**
 * udb_wl_ctx_destroy() - free a context
 * @ctx: the context, or NULL
 *
 * Destroys the bound globals and the private queue, closes the device. Every
 * buffer of @ctx must have been destroyed first (udb_wl_buffer_destroy()),
 * except those handed to udb_wl_buffer_destroy_when_released() and not yet
 * released: they are destroyed here and their free_cb called, so destroy
 * the surfaces that may show them and wl_display_roundtrip() first (the
 * compositor then no longer reads their memory).
 */
void udb_wl_ctx_destroy(struct udb_wl_ctx *ctx);

/**
 * udb_wl_ctx_fallback() - why no buffer of this context can be a dma-buf
 * @ctx: the context
 *
 * Return: 0 when dma-bufs are possible (the format decides, see
 * udb_wl_ctx_format_fallback()), else an OR of UDB_WL_FALLBACK_FORCED,
 * UDB_WL_FALLBACK_NO_DEVICE and UDB_WL_FALLBACK_NO_LINUX_DMABUF.
 */
uint32_t udb_wl_ctx_fallback(const struct udb_wl_ctx *ctx);

/**
 * udb_wl_ctx_format_fallback() - why a buffer of a format would be wl_shm
 * @ctx: the context
 * @fourcc: a DRM_FORMAT_* code (drm_fourcc.h)
 *
 * Return: udb_wl_ctx_fallback(), plus UDB_WL_FALLBACK_FORMAT when
 * linux-dmabuf does not offer @fourcc with an acceptable modifier (also
 * computed when the device is missing, so a caller can tell what would
 * happen with the module; not set without linux-dmabuf, which
 * UDB_WL_FALLBACK_NO_LINUX_DMABUF already says). 0: udb_wl_buffer_create() makes a dma-buf
 * unless the module or the compositor refuses that one buffer.
 */
uint32_t udb_wl_ctx_format_fallback(const struct udb_wl_ctx *ctx,
				    uint32_t fourcc);

/**
 * udb_wl_ctx_device_error() - why the device could not be used
 * @ctx: the context
 *
 * Return: 0 when /dev/userptr_dmabuf is open and speaks
 * USERPTR_DMABUF_API_VERSION; else the errno of the failed open() or
 * USERPTR_DMABUF_IOC_VERSION (ENOENT: module not loaded; EACCES: no
 * permission), EPROTO for another API version, or ECANCELED when
 * force_shm kept the context from opening it.
 */
int udb_wl_ctx_device_error(const struct udb_wl_ctx *ctx);

/**
 * udb_wl_ctx_dmabuf_version() - the zwp_linux_dmabuf_v1 version bound
 * @ctx: the context
 *
 * Return: 1..4, or 0 when the compositor has no linux-dmabuf.
 */
uint32_t udb_wl_ctx_dmabuf_version(const struct udb_wl_ctx *ctx);

/**
 * udb_wl_ctx_main_device() - the default feedback's main device
 * @ctx: the context
 * @dev: where to store the dev_t (of a DRM node)
 *
 * Return: 0 and *@dev set when linux-dmabuf v4 sent a main_device, -1
 * otherwise (v3 and older have none).
 */
int udb_wl_ctx_main_device(const struct udb_wl_ctx *ctx, dev_t *dev);

/**
 * udb_wl_ctx_tranches() - how many tranches the default feedback had
 * @ctx: the context
 *
 * Return: the number of tranche_done events of the default feedback (v4),
 * 0 on v3 and older.
 */
unsigned int udb_wl_ctx_tranches(const struct udb_wl_ctx *ctx);

/**
 * udb_wl_ctx_supports() - does linux-dmabuf offer a format + modifier
 * @ctx: the context
 * @fourcc: a DRM_FORMAT_* code
 * @modifier: a DRM_FORMAT_MOD_* value (DRM_FORMAT_MOD_INVALID: implicit)
 *
 * Return: true when any tranche (v4), a modifier event (v3) or a format
 * event (v1/v2 only, implicit modifier) listed the pair.
 */
bool udb_wl_ctx_supports(const struct udb_wl_ctx *ctx, uint32_t fourcc,
			 uint64_t modifier);

/**
 * udb_wl_ctx_page_size() - the kernel's page size, which dma-bufs are cut in
 * @ctx: the context
 *
 * Return: the module's page_size (USERPTR_DMABUF_IOC_VERSION), or
 * sysconf(_SC_PAGESIZE) without the module.
 */
size_t udb_wl_ctx_page_size(const struct udb_wl_ctx *ctx);

/**
 * udb_wl_fallback_name() - a short name for one fallback bit
 * @bit: one UDB_WL_FALLBACK_* value
 *
 * Return: "forced", "no-device", "no-linux-dmabuf", "format",
 * "create-failed", "refused", or "none" for 0 and "?" for anything else.
 */
const char *udb_wl_fallback_name(uint32_t bit);

/**
 * udb_wl_fallback_string() - every bit of a fallback mask, for logs
 * @mask: an OR of UDB_WL_FALLBACK_* values
 * @buf: where to write, NUL-terminated
 * @len: size of @buf
 *
 * Writes the names of the bits separated by commas ("none" for 0),
 * truncated to @len.
 *
 * Return: @buf.
 */
char *udb_wl_fallback_string(uint32_t mask, char *buf, size_t len);

/**
 * udb_wl_buffer_create() - share caller memory as a wl_buffer
 * @ctx: the context
 * @ptr: the first pixel: any address (malloc, mmap of anonymous memory, a
 *	MAP_SHARED file or memfd); it must stay mapped, at this address,
 *	and must not be reused for anything else while the compositor may
 *	read it (see udb_wl_buffer_destroy())
 * @width: width in pixels, > 0
 * @height: height in pixels, > 0
 * @stride: bytes from one row to the next, >= @width * bytes per pixel
 * @fourcc: DRM_FORMAT_* code of a single-plane format: ARGB8888,
 *	XRGB8888, ABGR8888, XBGR8888, RGB565 (others: EINVAL)
 *
 * Zero-copy when udb_wl_ctx_format_fallback() is 0: the pages holding
 * [@ptr, @ptr + @stride * @height) become a userptr dma-buf
 * (USERPTR_DMABUF_IOC_CREATE) and the plane starts at @ptr's offset in its
 * first page. Whole pages are shared: bytes before @ptr and after the
 * last row on the same pages are readable by the compositor too; memory
 * from aligned_alloc(page size, size rounded up to pages) shares nothing
 * else. The wl_buffer comes from zwp_linux_buffer_params_v1.create; the
 * call waits (on the private queue) for created or failed. The compositor
 * then reads @ptr's memory directly, and keeps following it when the
 * process remaps it (the module's promise).
 *
 * Otherwise (any fallback reason, including CREATE_FAILED and REFUSED for
 * this very buffer) the wl_buffer is a wl_shm buffer over a memfd pool of
 * the library's, and the caller must call udb_wl_buffer_copy() after
 * each drawing for the compositor to see it.
 *
 * The buffer starts released (not busy). The library owns the wl_buffer
 * and its listener: do not add another listener to it.
 *
 * Return: the buffer, or NULL with errno set (EINVAL: bad arguments;
 * ENOTSUP: wl_shm was needed and the compositor has none, or the format
 * has no wl_shm code it offers; ENOMEM; a connection error).
 */
struct udb_wl_buffer *udb_wl_buffer_create(struct udb_wl_ctx *ctx, void *ptr,
					   uint32_t width, uint32_t height,
					   uint32_t stride, uint32_t fourcc);

/**
 * udb_wl_buffer_create_dmabuf() - a wl_buffer over a dma-buf the caller has
 * @ctx: the context
 * @fd: a dma-buf (or anything the compositor imports as one); the buffer
 *	takes ownership and closes it at udb_wl_buffer_destroy(), also when
 *	this call fails
 * @ptr: the CPU view of the buffer's first pixel, or NULL; only kept for
 *	udb_wl_buffer_data()
 * @offset: plane offset in @fd
 * @width: width in pixels
 * @height: height in pixels
 * @stride: bytes per row
 * @fourcc: DRM_FORMAT_* code
 *
 * The linux-dmabuf half of udb_wl_buffer_create() without the module and
 * without a wl_shm fallback: for dma-bufs from elsewhere (udmabuf, a
 * driver) and for tests.
 *
 * Return: the buffer, or NULL with errno set (EINVAL: bad arguments, or
 * @offset + @stride * @height past the end of @fd as lseek(SEEK_END) sees
 * it, checked when @fd can seek; ENOTSUP: no linux-dmabuf, or the format
 * is not offered; ECONNREFUSED: the compositor answered failed).
 */
struct udb_wl_buffer *udb_wl_buffer_create_dmabuf(struct udb_wl_ctx *ctx,
						  int fd, void *ptr,
						  uint32_t offset,
						  uint32_t width,
						  uint32_t height,
						  uint32_t stride,
						  uint32_t fourcc);

/**
 * udb_wl_shm_buffer_create() - a wl_shm buffer to draw into directly
 * @ctx: the context
 * @width: width in pixels
 * @height: height in pixels
 * @stride: bytes per row
 * @fourcc: DRM_FORMAT_* code (as udb_wl_buffer_create())
 *
 * The memory is the library's memfd pool (udb_wl_buffer_data()): the
 * wl_shm baseline without the extra copy, for programs that can draw
 * into memory they did not allocate. udb_wl_buffer_fallback() is
 * UDB_WL_FALLBACK_FORCED.
 *
 * Return: the buffer, or NULL with errno set.
 */
struct udb_wl_buffer *udb_wl_shm_buffer_create(struct udb_wl_ctx *ctx,
					       uint32_t width, uint32_t height,
					       uint32_t stride,
					       uint32_t fourcc);

/**
 * udb_wl_buffer_destroy() - free a buffer
 * @buf: the buffer, or NULL
 *
 * Order: the wl_buffer is destroyed, then the shm pool mapping is
 * unmapped and the dma-buf fd closed. The caller's memory is left alone.
 *
 * When the caller may free or reuse its memory: a released buffer's
 * (udb_wl_buffer_is_busy() false) right after this call. A busy buffer's
 * NOT: destroying a wl_buffer before its release does not take it off the
 * surface; the compositor keeps showing (and, for a userptr dma-buf,
 * keeps sampling the live pages of) the memory until the surface gets
 * another buffer attached and committed and the compositor is done with
 * this one, or the surface is destroyed. wayland.xml (wl_surface.attach)
 * allows destroying before release only if the storage is not reused;
 * memory freed and reused by the heap would appear on screen. For a busy
 * buffer use udb_wl_buffer_destroy_when_released(), or destroy the surface
 * and wl_display_roundtrip() before freeing.
 */
void udb_wl_buffer_destroy(struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_destroy_when_released() - free a buffer once it is released
 * @buf: the buffer, or NULL
 * @free_cb: called when the compositor no longer reads the buffer's
 *	memory, after the buffer is destroyed: free or unmap the memory
 *	there; NULL for none. It must not destroy the context.
 * @data: argument of @free_cb
 *
 * A released buffer is destroyed at once and @free_cb called before this
 * returns. A busy one keeps its wl_buffer (still attached where it was)
 * until its wl_buffer.release, which the caller's dispatch of the
 * context's queue delivers: then it is destroyed and @free_cb called from
 * that dispatch. The release callback is not called for it any more. If
 * no release comes (the surface was destroyed, the compositor keeps its
 * last buffer), udb_wl_ctx_destroy() finishes it: destroy the surface and
 * wl_display_roundtrip() before that. @buf belongs to the library after
 * this call: use it no more.
 */
void udb_wl_buffer_destroy_when_released(struct udb_wl_buffer *buf,
					 void (*free_cb)(void *data),
					 void *data);

/**
 * udb_wl_buffer_get_wl_buffer() - the wl_buffer to attach
 * @buf: the buffer
 *
 * Return: the wl_buffer, owned by @buf.
 */
struct wl_buffer *udb_wl_buffer_get_wl_buffer(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_is_dmabuf() - zero-copy or not
 * @buf: the buffer
 *
 * Return: true for a dma-buf, false for wl_shm.
 */
bool udb_wl_buffer_is_dmabuf(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_fallback() - why this buffer is wl_shm
 * @buf: the buffer
 *
 * Return: 0 for a dma-buf, else the UDB_WL_FALLBACK_* bits that applied
 * when it was created (the format's, plus CREATE_FAILED or REFUSED).
 */
uint32_t udb_wl_buffer_fallback(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_get_dmabuf_fd() - the dma-buf behind a buffer
 * @buf: the buffer
 *
 * For the caller's own dma-buf ioctls (DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
 * USERPTR_DMABUF_IOC_INFO). The fd stays owned by @buf.
 *
 * Return: the fd, or -1 for a wl_shm buffer.
 */
int udb_wl_buffer_get_dmabuf_fd(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_data() - where the compositor's pixels are
 * @buf: the buffer
 *
 * Return: the caller's @ptr for a dma-buf, the shm pool mapping for a
 * wl_shm buffer (what udb_wl_buffer_copy() writes; the memory to draw
 * into for udb_wl_shm_buffer_create()).
 */
void *udb_wl_buffer_data(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_copy() - make a wl_shm fallback show the caller's memory
 * @buf: the buffer
 *
 * Copies the @height rows of @width pixels from the memory given to
 * udb_wl_buffer_create() into the shm pool, after the caller drew and
 * before it attaches: exactly the copy the dma-buf path avoids. A no-op for
 * a dma-buf and for udb_wl_shm_buffer_create() buffers. Must not be
 * called while the buffer is busy (the compositor may be reading the
 * pool).
 *
 * Return: the number of bytes copied (0 when nothing needed copying), -1
 * with errno EBUSY when the buffer is busy.
 */
long udb_wl_buffer_copy(struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_begin_cpu_access() - start a CPU access to a dma-buf
 * @buf: the buffer
 * @access: UDB_WL_ACCESS_READ, UDB_WL_ACCESS_WRITE or both
 *
 * DMA_BUF_IOCTL_SYNC with DMA_BUF_SYNC_START, retried on EINTR/EAGAIN.
 * Bracket every drawing with this and udb_wl_buffer_end_cpu_access():
 * it waits for device work on the buffer, and for a userptr dma-buf it is
 * where the module catches up with a remapped range (after an mremap a
 * compositor could otherwise read zeros for a while, see
 * docs/demo-client.md). A no-op for wl_shm buffers and for fds that are
 * not dma-bufs (ENOTTY).
 *
 * Return: 0, or -1 with errno set.
 */
int udb_wl_buffer_begin_cpu_access(struct udb_wl_buffer *buf,
				   uint32_t access);

/**
 * udb_wl_buffer_end_cpu_access() - end a CPU access to a dma-buf
 * @buf: the buffer
 * @access: the same flags as the begin call
 *
 * DMA_BUF_IOCTL_SYNC with DMA_BUF_SYNC_END. A no-op for wl_shm buffers.
 *
 * Return: 0, or -1 with errno set.
 */
int udb_wl_buffer_end_cpu_access(struct udb_wl_buffer *buf, uint32_t access);

/**
 * udb_wl_buffer_attach() - attach to a surface and mark busy
 * @buf: the buffer; must not be busy
 * @surface: the surface
 * @x: as wl_surface.attach
 * @y: as wl_surface.attach
 *
 * wl_surface_attach() and udb_wl_buffer_mark_busy(). The caller adds
 * damage and commits. Attaching a busy buffer is allowed by the protocol
 * but races the compositor's reads: the call refuses it.
 *
 * Return: 0, or -1 with errno EBUSY.
 */
int udb_wl_buffer_attach(struct udb_wl_buffer *buf, struct wl_surface *surface,
			 int32_t x, int32_t y);

/**
 * udb_wl_buffer_mark_busy() - the caller attached the wl_buffer itself
 * @buf: the buffer
 *
 * The buffer counts as busy until the compositor sends wl_buffer.release.
 */
void udb_wl_buffer_mark_busy(struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_is_busy() - is the compositor still using the buffer
 * @buf: the buffer
 *
 * Return: true from an attach until the wl_buffer.release that follows
 * it; a released buffer may be drawn into.
 */
bool udb_wl_buffer_is_busy(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_release_count() - how many releases the buffer got
 * @buf: the buffer
 *
 * Return: the number of wl_buffer.release events received so far.
 */
unsigned long udb_wl_buffer_release_count(const struct udb_wl_buffer *buf);

/**
 * udb_wl_buffer_set_release_callback() - be told when the buffer is free
 * @buf: the buffer
 * @cb: called from the caller's dispatch of the context's queue after
 *	the buffer has been marked released; NULL to remove. It may destroy
 *	@buf.
 * @data: second argument of @cb
 */
void udb_wl_buffer_set_release_callback(struct udb_wl_buffer *buf,
					void (*cb)(struct udb_wl_buffer *buf,
						   void *data),
					void *data);

#ifdef __cplusplus
}
#endif

#endif /* UDB_WAYLAND_H */
