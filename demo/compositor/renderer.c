/* SPDX-License-Identifier: MIT */
/*
 * The renderer: EGL + GLES2 on Mesa's software EGLDevice (llvmpipe).
 *
 * We do not use the default (surfaceless/GBM) platform: with vgem or
 * virtio_gpu present Mesa would pick kms_swrast, which cannot import
 * foreign dma-bufs. Instead eglQueryDevicesEXT lists the devices and we
 * take the one whose extension string has EGL_MESA_device_software,
 * then eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, device). The
 * context is surfaceless (EGL_KHR_surfaceless_context): every frame is
 * drawn into an FBO of the output size and read back with glReadPixels
 * when someone needs the pixels (captures, KMS scanout).
 *
 * Coordinates: output pixel row 0 (the top of the screen) is FBO row 0,
 * so glReadPixels returns the rows top first and texture row 0 (the first
 * row of a client buffer) lands at the top of its window.
 *
 * The compositor's own pixels (the --status strip, drawn by the CPU in
 * strip.c) are uploaded the same way as wl_shm content and drawn as
 * opaque quads; no other file makes GL calls for them.
 *
 * Client content, every GL and EGL call for it here:
 *  - wl_shm: each surface has one GL_TEXTURE_2D texture (BGRA, i.e.
 *    ARGB8888 little-endian) in its renderer state; repaint.c hands it
 *    the pixels of a newly committed buffer with the damage, and only the
 *    damage is uploaded (glTexSubImage2D) while the size stays the same.
 *    Per surface, not per buffer: damage is relative to the surface's
 *    previous content, which is what that texture holds.
 *  - dma-buf: an EGLImage made when the buffer is created
 *    (renderer_import_dmabuf()) and cached on the struct buffer with a
 *    destroy hook; its GL_TEXTURE_EXTERNAL_OES texture is made at the
 *    first draw. llvmpipe reads the dma-buf's memory directly (lseek +
 *    mmap) while drawing, so a frame that drew a buffer holds a busy
 *    reference on it until it is on screen (repaint.c); renderer_end()
 *    waits for the drawing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <drm_fourcc.h>
#include "server.h"
#include <GLES2/gl2ext.h>

struct program {
	GLuint prog;
	GLint pos, uv, tex, opaque;
};

struct renderer {
	EGLDisplay dpy;
	EGLContext ctx;
	int w, h;
	GLuint fbo, fbo_tex;
	struct program p2d, pext;
	bool unpack_subimage;
	bool modifiers;
	char drm_node[256];
	uint8_t *readbuf;

	PFNEGLCREATEIMAGEKHRPROC create_image;
	PFNEGLDESTROYIMAGEKHRPROC destroy_image;
	PFNGLEGLIMAGETARGETTEXTURE2DOESPROC image_target_texture;
	PFNEGLQUERYDMABUFFORMATSEXTPROC query_formats;
	PFNEGLQUERYDMABUFMODIFIERSEXTPROC query_modifiers;
};

static const char *vs_src =
	"attribute vec2 pos;\n"
	"attribute vec2 uv;\n"
	"varying vec2 v_uv;\n"
	"void main() { gl_Position = vec4(pos, 0.0, 1.0); v_uv = uv; }\n";

static const char *fs_2d =
	"precision highp float;\n"
	"uniform sampler2D tex;\n"
	"uniform float opaque;\n"
	"varying vec2 v_uv;\n"
	"void main() {\n"
	"  vec4 c = texture2D(tex, v_uv);\n"
	"  gl_FragColor = opaque > 0.5 ? vec4(c.rgb, 1.0) : c;\n"
	"}\n";

static const char *fs_ext =
	"#extension GL_OES_EGL_image_external : require\n"
	"precision highp float;\n"
	"uniform samplerExternalOES tex;\n"
	"uniform float opaque;\n"
	"varying vec2 v_uv;\n"
	"void main() {\n"
	"  vec4 c = texture2D(tex, v_uv);\n"
	"  gl_FragColor = opaque > 0.5 ? vec4(c.rgb, 1.0) : c;\n"
	"}\n";

static bool has_ext(const char *list, const char *ext)
{
	size_t n = strlen(ext);
	const char *p = list;

	while (p && (p = strstr(p, ext))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return true;
		p += n;
	}
	return false;
}

static GLuint compile(GLenum type, const char *src)
{
	GLuint s = glCreateShader(type);
	GLint ok = 0;
	char log[512];

	glShaderSource(s, 1, &src, NULL);
	glCompileShader(s);
	glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
	if (!ok) {
		glGetShaderInfoLog(s, sizeof(log), NULL, log);
		fprintf(stderr, "udb-compositor: shader: %s\n", log);
		glDeleteShader(s);
		return 0;
	}
	return s;
}

static bool program_init(struct program *p, const char *fs_src)
{
	GLuint vs = compile(GL_VERTEX_SHADER, vs_src);
	GLuint fs = compile(GL_FRAGMENT_SHADER, fs_src);
	GLint ok = 0;

	if (!vs || !fs)
		return false;
	p->prog = glCreateProgram();
	glAttachShader(p->prog, vs);
	glAttachShader(p->prog, fs);
	glBindAttribLocation(p->prog, 0, "pos");
	glBindAttribLocation(p->prog, 1, "uv");
	glLinkProgram(p->prog);
	glDeleteShader(vs);
	glDeleteShader(fs);
	glGetProgramiv(p->prog, GL_LINK_STATUS, &ok);
	if (!ok)
		return false;
	p->pos = 0;
	p->uv = 1;
	p->tex = glGetUniformLocation(p->prog, "tex");
	p->opaque = glGetUniformLocation(p->prog, "opaque");
	return true;
}

/* Pick the EGLDevice that is Mesa's software rasterizer. */
static EGLDisplay open_software_display(struct renderer *r)
{
	const char *cext = eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS);
	PFNEGLQUERYDEVICESEXTPROC query_devices;
	PFNEGLQUERYDEVICESTRINGEXTPROC query_device_string;
	PFNEGLGETPLATFORMDISPLAYEXTPROC get_platform_display;
	EGLDeviceEXT devs[16];
	EGLint n = 0;

	if (!cext || !has_ext(cext, "EGL_EXT_device_enumeration") ||
	    !has_ext(cext, "EGL_EXT_platform_device")) {
		fprintf(stderr, "udb-compositor: EGL has no device enumeration\n");
		return EGL_NO_DISPLAY;
	}
	query_devices = (void *)eglGetProcAddress("eglQueryDevicesEXT");
	query_device_string = (void *)eglGetProcAddress("eglQueryDeviceStringEXT");
	get_platform_display = (void *)eglGetProcAddress("eglGetPlatformDisplayEXT");
	if (!query_devices || !query_device_string || !get_platform_display ||
	    !query_devices(16, devs, &n))
		return EGL_NO_DISPLAY;
	for (EGLint i = 0; i < n; i++) {
		const char *ext = query_device_string(devs[i], EGL_EXTENSIONS);
		const char *node;

		if (!ext || !has_ext(ext, "EGL_MESA_device_software"))
			continue;
		node = has_ext(ext, "EGL_EXT_device_drm_render_node") ?
		       query_device_string(devs[i], EGL_DRM_RENDER_NODE_FILE_EXT) :
		       NULL;
		if (node)
			snprintf(r->drm_node, sizeof(r->drm_node), "%s", node);
		return get_platform_display(EGL_PLATFORM_DEVICE_EXT, devs[i],
					    NULL);
	}
	fprintf(stderr, "udb-compositor: no EGL_MESA_device_software device\n");
	return EGL_NO_DISPLAY;
}

struct renderer *renderer_create(int width, int height)
{
	struct renderer *r = calloc(1, sizeof(*r));
	static const EGLint ctx_attr[] = {
		EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE
	};
	const char *ext, *glext;
	EGLint major, minor;

	if (!r)
		return NULL;
	r->w = width;
	r->h = height;
	r->dpy = open_software_display(r);
	if (r->dpy == EGL_NO_DISPLAY || !eglInitialize(r->dpy, &major, &minor))
		goto fail;
	ext = eglQueryString(r->dpy, EGL_EXTENSIONS);
	if (!has_ext(ext, "EGL_KHR_surfaceless_context") ||
	    !has_ext(ext, "EGL_EXT_image_dma_buf_import") ||
	    !has_ext(ext, "EGL_KHR_image_base")) {
		fprintf(stderr, "udb-compositor: EGL lacks surfaceless/dma-buf import\n");
		goto fail;
	}
	r->modifiers = has_ext(ext, "EGL_EXT_image_dma_buf_import_modifiers");
	if (!eglBindAPI(EGL_OPENGL_ES_API))
		goto fail;
	r->ctx = eglCreateContext(r->dpy, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT,
				  ctx_attr);
	if (r->ctx == EGL_NO_CONTEXT ||
	    !eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, r->ctx))
		goto fail;

	r->create_image = (void *)eglGetProcAddress("eglCreateImageKHR");
	r->destroy_image = (void *)eglGetProcAddress("eglDestroyImageKHR");
	r->image_target_texture =
		(void *)eglGetProcAddress("glEGLImageTargetTexture2DOES");
	if (r->modifiers) {
		r->query_formats = (void *)eglGetProcAddress("eglQueryDmaBufFormatsEXT");
		r->query_modifiers = (void *)eglGetProcAddress("eglQueryDmaBufModifiersEXT");
	}
	glext = (const char *)glGetString(GL_EXTENSIONS);
	if (!r->create_image || !r->destroy_image || !r->image_target_texture ||
	    !has_ext(glext, "GL_OES_EGL_image_external") ||
	    !has_ext(glext, "GL_EXT_texture_format_BGRA8888")) {
		fprintf(stderr, "udb-compositor: GL lacks EGLImage/BGRA support\n");
		goto fail;
	}
	r->unpack_subimage = has_ext(glext, "GL_EXT_unpack_subimage");
	if (!program_init(&r->p2d, fs_2d) || !program_init(&r->pext, fs_ext))
		goto fail;

	glGenTextures(1, &r->fbo_tex);
	glBindTexture(GL_TEXTURE_2D, r->fbo_tex);
	glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, width, height, 0, GL_RGBA,
		     GL_UNSIGNED_BYTE, NULL);
	glGenFramebuffers(1, &r->fbo);
	glBindFramebuffer(GL_FRAMEBUFFER, r->fbo);
	glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0,
			       GL_TEXTURE_2D, r->fbo_tex, 0);
	if (glCheckFramebufferStatus(GL_FRAMEBUFFER) != GL_FRAMEBUFFER_COMPLETE) {
		fprintf(stderr, "udb-compositor: FBO incomplete\n");
		goto fail;
	}
	r->readbuf = malloc((size_t)width * height * 4);
	if (!r->readbuf)
		goto fail;
	return r;
fail:
	renderer_destroy(r);
	return NULL;
}

void renderer_destroy(struct renderer *r)
{
	if (!r)
		return;
	if (r->ctx != EGL_NO_CONTEXT && r->ctx) {
		if (r->fbo)
			glDeleteFramebuffers(1, &r->fbo);
		if (r->fbo_tex)
			glDeleteTextures(1, &r->fbo_tex);
		if (r->p2d.prog)
			glDeleteProgram(r->p2d.prog);
		if (r->pext.prog)
			glDeleteProgram(r->pext.prog);
		eglMakeCurrent(r->dpy, EGL_NO_SURFACE, EGL_NO_SURFACE,
			       EGL_NO_CONTEXT);
		eglDestroyContext(r->dpy, r->ctx);
	}
	if (r->dpy != EGL_NO_DISPLAY)
		eglTerminate(r->dpy);
	eglReleaseThread();
	free(r->readbuf);
	free(r);
}

const char *renderer_drm_node(struct renderer *r)
{
	return r->drm_node[0] ? r->drm_node : NULL;
}

void renderer_begin(struct renderer *r, float bg_r, float bg_g, float bg_b)
{
	glBindFramebuffer(GL_FRAMEBUFFER, r->fbo);
	glViewport(0, 0, r->w, r->h);
	glClearColor(bg_r, bg_g, bg_b, 1.0f);
	glClear(GL_COLOR_BUFFER_BIT);
	glEnable(GL_BLEND);
	/* client content is premultiplied */
	glBlendFunc(GL_ONE, GL_ONE_MINUS_SRC_ALPHA);
}

void renderer_draw(struct renderer *r, GLuint tex, bool external,
		   int x, int y, int w, int h, bool y_invert, bool opaque)
{
	struct program *p = external ? &r->pext : &r->p2d;
	GLenum target = external ? GL_TEXTURE_EXTERNAL_OES : GL_TEXTURE_2D;
	float x0 = 2.0f * x / r->w - 1.0f, x1 = 2.0f * (x + w) / r->w - 1.0f;
	float y0 = 2.0f * y / r->h - 1.0f, y1 = 2.0f * (y + h) / r->h - 1.0f;
	float t0 = y_invert ? 1.0f : 0.0f, t1 = y_invert ? 0.0f : 1.0f;
	GLfloat pos[] = { x0, y0, x1, y0, x0, y1, x1, y1 };
	GLfloat uv[] = { 0, t0, 1, t0, 0, t1, 1, t1 };

	glUseProgram(p->prog);
	glActiveTexture(GL_TEXTURE0);
	glBindTexture(target, tex);
	glTexParameteri(target, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
	glTexParameteri(target, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
	glTexParameteri(target, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
	glTexParameteri(target, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
	glUniform1i(p->tex, 0);
	glUniform1f(p->opaque, opaque ? 1.0f : 0.0f);
	glVertexAttribPointer(p->pos, 2, GL_FLOAT, GL_FALSE, 0, pos);
	glVertexAttribPointer(p->uv, 2, GL_FLOAT, GL_FALSE, 0, uv);
	glEnableVertexAttribArray(p->pos);
	glEnableVertexAttribArray(p->uv);
	glDrawArrays(GL_TRIANGLE_STRIP, 0, 4);
	glDisableVertexAttribArray(p->pos);
	glDisableVertexAttribArray(p->uv);
	glBindTexture(target, 0);
}

void renderer_end(struct renderer *r)
{
	(void)r;
	/* llvmpipe reads client memory while it rasterizes: wait for it */
	glFinish();
}

void renderer_read(struct renderer *r, uint32_t *argb, int stride)
{
	glBindFramebuffer(GL_FRAMEBUFFER, r->fbo);
	glPixelStorei(GL_PACK_ALIGNMENT, 4);
	glReadPixels(0, 0, r->w, r->h, GL_RGBA, GL_UNSIGNED_BYTE, r->readbuf);
	for (int y = 0; y < r->h; y++) {
		const uint8_t *s = r->readbuf + (size_t)y * r->w * 4;
		uint32_t *d = (uint32_t *)((uint8_t *)argb + (size_t)y * stride);

		for (int x = 0; x < r->w; x++, s += 4)
			d[x] = (uint32_t)s[3] << 24 | (uint32_t)s[0] << 16 |
			       (uint32_t)s[1] << 8 | s[2];
	}
}

/*
 * Upload w x h BGRA pixels of our own (the --status strip) with the given
 * stride into @tex (made if 0).
 * @same_size: @tex already holds a w x h image, so its storage is kept and
 * only its contents replaced (glTexSubImage2D), as weston does for wl_shm
 * buffers that keep their size; otherwise it is (re)allocated.
 */
GLuint renderer_upload_shm(struct renderer *r, GLuint tex, bool same_size,
			   const void *data, int w, int h, int stride)
{
	if (!tex) {
		glGenTextures(1, &tex);
		same_size = false;
	}
	glBindTexture(GL_TEXTURE_2D, tex);
	glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
	if (!same_size)
		glTexImage2D(GL_TEXTURE_2D, 0, GL_BGRA_EXT, w, h, 0,
			     GL_BGRA_EXT, GL_UNSIGNED_BYTE, NULL);
	if (stride == w * 4 || r->unpack_subimage) {
		if (r->unpack_subimage)
			glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, stride / 4);
		glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_BGRA_EXT,
				GL_UNSIGNED_BYTE, data);
		if (r->unpack_subimage)
			glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, 0);
	} else {
		for (int y = 0; y < h; y++)
			glTexSubImage2D(GL_TEXTURE_2D, 0, 0, y, w, 1,
					GL_BGRA_EXT, GL_UNSIGNED_BYTE,
					(const uint8_t *)data + (size_t)y * stride);
	}
	glBindTexture(GL_TEXTURE_2D, 0);
	return tex;
}

/*
 * Replace the contents of @tex, a texture renderer_upload_shm() made
 * w x h (same size, tightly packed: stride == w * 4), with
 * glTexSubImage2D: no reallocation of its storage.
 */
void renderer_update_texture(struct renderer *r, GLuint tex, const void *data,
			     int w, int h)
{
	(void)r;
	glBindTexture(GL_TEXTURE_2D, tex);
	glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
	glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, w, h, GL_BGRA_EXT,
			GL_UNSIGNED_BYTE, data);
	glBindTexture(GL_TEXTURE_2D, 0);
}

/* A texture of renderer_upload_shm() (client content or our own). */
void renderer_texture_destroy(struct renderer *r, GLuint tex)
{
	(void)r;
	if (tex)
		glDeleteTextures(1, &tex);
}

/* ---- client content ---- */

/* A dma-buf's import, cached on its struct buffer until it is freed. */
struct dmabuf_state {
	struct renderer *r;
	EGLImageKHR image;
	GLuint tex;				/* made at the first draw */
	bool tex_failed;			/* that failed: never retried */
};

static void dmabuf_state_destroy(struct buffer *b)
{
	struct dmabuf_state *ds = b->renderer_state;

	if (ds->tex)
		glDeleteTextures(1, &ds->tex);
	ds->r->destroy_image(ds->r->dpy, ds->image);
	free(ds);
	b->renderer_state = NULL;
}

bool renderer_import_dmabuf(struct renderer *r, struct buffer *b)
{
	const struct buffer_plane *pl = &b->dmabuf.planes[0];
	struct dmabuf_state *ds;
	EGLint attr[32];
	int k = 0;

	if (b->dmabuf.nplanes != 1)
		return false;	/* single-plane formats only (dmabuf.c) */
	attr[k++] = EGL_WIDTH;
	attr[k++] = b->width;
	attr[k++] = EGL_HEIGHT;
	attr[k++] = b->height;
	attr[k++] = EGL_LINUX_DRM_FOURCC_EXT;
	attr[k++] = (EGLint)b->dmabuf.fourcc;
	attr[k++] = EGL_DMA_BUF_PLANE0_FD_EXT;
	attr[k++] = pl->fd;
	attr[k++] = EGL_DMA_BUF_PLANE0_OFFSET_EXT;
	attr[k++] = (EGLint)pl->offset;
	attr[k++] = EGL_DMA_BUF_PLANE0_PITCH_EXT;
	attr[k++] = (EGLint)pl->stride;
	if (b->dmabuf.modifier != DRM_FORMAT_MOD_INVALID && r->modifiers) {
		attr[k++] = EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT;
		attr[k++] = (EGLint)(b->dmabuf.modifier & 0xffffffff);
		attr[k++] = EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT;
		attr[k++] = (EGLint)(b->dmabuf.modifier >> 32);
	}
	attr[k++] = EGL_NONE;
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return false;
	ds->r = r;
	ds->image = r->create_image(r->dpy, EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT,
				    NULL, attr);
	if (ds->image == EGL_NO_IMAGE_KHR) {
		vlog(b->srv, "dmabuf: eglCreateImageKHR failed: 0x%x",
		     eglGetError());
		free(ds);
		return false;
	}
	b->renderer_state = ds;
	b->renderer_state_destroy = dmabuf_state_destroy;
	return true;
}

/*
 * The external texture of a dma-buf's image, made the first time; 0 if
 * it cannot be made, which is remembered: the buffer is never drawn.
 */
static GLuint dmabuf_texture(struct renderer *r, struct buffer *b)
{
	struct dmabuf_state *ds = b->renderer_state;
	GLenum err;
	GLuint tex;

	if (!ds || ds->tex || ds->tex_failed)
		return ds ? ds->tex : 0;
	while (glGetError() != GL_NO_ERROR)
		;	/* only this import's error counts below */
	glGenTextures(1, &tex);
	glBindTexture(GL_TEXTURE_EXTERNAL_OES, tex);
	r->image_target_texture(GL_TEXTURE_EXTERNAL_OES, ds->image);
	glBindTexture(GL_TEXTURE_EXTERNAL_OES, 0);
	err = glGetError();
	if (err != GL_NO_ERROR) {
		vlog(b->srv, "dmabuf: glEGLImageTargetTexture2DOES failed: 0x%x, "
		     "the buffer is not drawn", err);
		glDeleteTextures(1, &tex);
		ds->tex_failed = true;
		return 0;
	}
	ds->tex = tex;
	return tex;
}

/* A surface's wl_shm content: its texture, which outlives the buffers. */
struct surface_state_gl {
	GLuint tex;
	int32_t w, h;				/* its size, 0 = none */
	bool opaque;
};

static struct surface_state_gl *surface_gl(struct surface *s)
{
	if (!s->renderer_state)
		s->renderer_state = calloc(1, sizeof(struct surface_state_gl));
	return s->renderer_state;
}

/* Copy rows [y1, y2) x columns [x1, x2) of data into the bound texture. */
static void upload_rect(struct renderer *r, const uint8_t *data, int stride,
			int x1, int y1, int x2, int y2)
{
	const uint8_t *p = data + (size_t)y1 * stride + (size_t)x1 * 4;

	glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
	if (r->unpack_subimage && stride % 4 == 0) {
		glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, stride / 4);
		glTexSubImage2D(GL_TEXTURE_2D, 0, x1, y1, x2 - x1, y2 - y1,
				GL_BGRA_EXT, GL_UNSIGNED_BYTE, p);
		glPixelStorei(GL_UNPACK_ROW_LENGTH_EXT, 0);
	} else if (x1 == 0 && stride == x2 * 4) {
		glTexSubImage2D(GL_TEXTURE_2D, 0, 0, y1, x2, y2 - y1,
				GL_BGRA_EXT, GL_UNSIGNED_BYTE, p);
	} else {
		for (int y = y1; y < y2; y++, p += stride)
			glTexSubImage2D(GL_TEXTURE_2D, 0, x1, y, x2 - x1, 1,
					GL_BGRA_EXT, GL_UNSIGNED_BYTE, p);
	}
}

/*
 * Upload a wl_shm buffer's pixels into the surface's texture: only the
 * damage (buffer coordinates) when the texture already holds the
 * surface's previous content at this size and !full, else all of it
 * into storage (re)allocated at the new size. The caller guards the
 * read (shm_buffer_begin_access()).
 */
void renderer_upload_surface(struct renderer *r, struct surface *s,
			     const void *data, int w, int h, int stride,
			     const struct box *damage, bool full, bool opaque)
{
	struct surface_state_gl *gs = surface_gl(s);
	int x1 = 0, y1 = 0, x2 = w, y2 = h;

	if (!gs)
		return;
	if (!gs->tex) {
		glGenTextures(1, &gs->tex);
		full = true;
	}
	glBindTexture(GL_TEXTURE_2D, gs->tex);
	if (gs->w != w || gs->h != h) {
		glTexImage2D(GL_TEXTURE_2D, 0, GL_BGRA_EXT, w, h, 0,
			     GL_BGRA_EXT, GL_UNSIGNED_BYTE, NULL);
		gs->w = w;
		gs->h = h;
		full = true;
	}
	if (!full) {
		x1 = damage->x1 > 0 ? damage->x1 : 0;
		y1 = damage->y1 > 0 ? damage->y1 : 0;
		x2 = damage->x2 < w ? damage->x2 : w;
		y2 = damage->y2 < h ? damage->y2 : h;
	}
	if (x1 < x2 && y1 < y2)
		upload_rect(r, data, stride, x1, y1, x2, y2);
	glBindTexture(GL_TEXTURE_2D, 0);
	gs->opaque = opaque;
}

void renderer_surface_fini(struct renderer *r, struct surface *s)
{
	struct surface_state_gl *gs = s->renderer_state;

	(void)r;
	if (!gs)
		return;
	if (gs->tex)
		glDeleteTextures(1, &gs->tex);
	free(gs);
	s->renderer_state = NULL;
}

/*
 * Draw a surface's current content: its dma-buf (s->buffer, imported at
 * create, its texture made here the first time) or its wl_shm texture.
 * False if there is nothing to draw.
 */
bool renderer_draw_surface(struct renderer *r, struct surface *s, int x, int y,
			   int w, int h)
{
	struct buffer *b = s->buffer;
	struct surface_state_gl *gs = s->renderer_state;
	GLuint tex;

	if (b && b->kind == BUFFER_DMABUF) {
		tex = dmabuf_texture(r, b);
		if (!tex)
			return false;
		renderer_draw(r, tex, true, x, y, w, h, dmabuf_buffer_y_invert(b),
			      !dmabuf_format_has_alpha(b->dmabuf.fourcc));
		return true;
	}
	if (!gs || !gs->tex)
		return false;
	renderer_draw(r, gs->tex, false, x, y, w, h, false, gs->opaque);
	return true;
}

/*
 * The (format, modifier) pairs the display can import. Formats that
 * report no modifier are importable as LINEAR (what llvmpipe does).
 */
int renderer_query_formats(struct renderer *r, uint32_t **fmts_out,
			   uint64_t **mods_out, int *count)
{
	EGLint nf = 0, total = 0;
	EGLint *fmts = NULL;
	uint32_t *of = NULL;
	uint64_t *om = NULL;

	*count = 0;
	if (r->query_formats && r->query_formats(r->dpy, 0, NULL, &nf) && nf > 0) {
		fmts = calloc(nf, sizeof(*fmts));
		if (!fmts || !r->query_formats(r->dpy, nf, fmts, &nf))
			nf = 0;
	}
	if (nf <= 0) {
		/* no modifier extension: the two formats every Mesa imports */
		free(fmts);
		fmts = calloc(2, sizeof(*fmts));
		if (!fmts)
			return -1;
		fmts[0] = 0x34325241; /* AR24 */
		fmts[1] = 0x34325258; /* XR24 */
		nf = 2;
	}
	for (int pass = 0; pass < 2; pass++) {
		int k = 0;

		for (EGLint i = 0; i < nf; i++) {
			EGLint nm = 0;
			EGLuint64KHR mods[64];
			EGLBoolean ext_only[64];

			if (r->query_modifiers &&
			    !r->query_modifiers(r->dpy, fmts[i], 64, mods,
						ext_only, &nm))
				nm = 0;
			if (nm <= 0) {
				if (pass)
					of[k] = fmts[i], om[k] = 0; /* LINEAR */
				k++;
				continue;
			}
			for (EGLint j = 0; j < nm; j++, k++)
				if (pass)
					of[k] = fmts[i], om[k] = mods[j];
		}
		if (!pass) {
			total = k;
			of = calloc(total ? total : 1, sizeof(*of));
			om = calloc(total ? total : 1, sizeof(*om));
			if (!of || !om) {
				free(of), free(om), free(fmts);
				return -1;
			}
		}
	}
	free(fmts);
	*fmts_out = of;
	*mods_out = om;
	*count = total;
	return 0;
}
