/* SPDX-License-Identifier: MIT */
/*
 * udb-compositor: a small Wayland compositor for the userptr-dmabuf demo.
 *
 * main.c parses the options, sets up the display, renderer, globals and
 * output, runs the event loop and tears everything down in order:
 * clients first (their resources free surfaces and buffers), then the
 * last frame's busy buffer references, the output, the report, the
 * renderer. Signals (SIGTERM/SIGINT: clean exit; SIGUSR1: screenshot) are
 * blocked before any thread exists (llvmpipe starts worker threads) and
 * read through the event loop's signalfd.
 *
 * Files: renderer.c (EGL/GLES2), surface.c (wl_compositor, commits,
 * fences), subsurface.c, xdg.c, shm.c + sigbus.c (wl_shm), dmabuf.c,
 * presentation.c, output.c (wl_output), capture.c + png.c
 * (udb_capture_v1, screenshots), repaint.c (a frame), strip.c (the
 * --status strip), output_*.c (headless timer, KMS), report.c
 * (statistics).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "userptr_dmabuf.h"

struct client_watch {
	struct wl_listener destroy;
	struct server *srv;
};

int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void server_log(struct server *srv, const char *fmt, ...)
{
	va_list ap;

	(void)srv;
	fprintf(stderr, "udb-compositor: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void server_exit(struct server *srv, int status)
{
	srv->exit_status = status;
	wl_display_terminate(srv->display);
}

static int backend_init(struct server *srv)
{
	if (!strcmp(srv->opt.backend, "kms"))
		return output_kms_init(srv);
	if (!strcmp(srv->opt.backend, "wayland"))
		return output_wayland_init(srv);
	return output_headless_init(srv);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: udb-compositor [options]\n"
		"  --socket NAME         socket in $XDG_RUNTIME_DIR (default udb-0)\n"
		"  --size WxH            output size (default 1280x720)\n"
		"  --refresh HZ          frame rate (default 60)\n"
		"  --backend headless|kms|wayland\n"
		"                        wayland: a window of the compositor\n"
		"                        $WAYLAND_DISPLAY names (nested)\n"
		"  --screenshot-dir DIR  PNG of each capture and on SIGUSR1\n"
		"  --report FILE         statistics written at exit\n"
		"  --run-for SECONDS     exit 0 after that long\n"
		"  --exit-when-idle      exit when the last client has gone\n"
		"  --status              a status strip across the top: frame\n"
		"                        time, buffers, invalidations, clients\n"
		"  --no-direct-scanout   kms: always composite with GL, never put\n"
		"                        a client's dma-buf on the plane\n"
		"  -v                    verbose\n");
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'S' },
		{ "refresh", required_argument, NULL, 'r' },
		{ "backend", required_argument, NULL, 'b' },
		{ "screenshot-dir", required_argument, NULL, 'd' },
		{ "report", required_argument, NULL, 'R' },
		{ "run-for", required_argument, NULL, 't' },
		{ "exit-when-idle", no_argument, NULL, 'i' },
		{ "status", no_argument, NULL, 'T' },
		{ "no-direct-scanout", no_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	o->socket = "udb-0";
	o->width = 1280;
	o->height = 720;
	o->refresh_hz = 60;
	o->backend = "headless";
	o->direct_scanout = true;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's': o->socket = optarg; break;
		case 'D': o->direct_scanout = false; break;
		case 'S':
			if (sscanf(optarg, "%dx%d", &o->width, &o->height) != 2 ||
			    o->width < 16 || o->height < 16 ||
			    o->width > 8192 || o->height > 8192) {
				fprintf(stderr, "udb-compositor: bad --size %s\n", optarg);
				return -1;
			}
			break;
		case 'r':
			o->refresh_hz = strtol(optarg, &end, 10);
			if (*end || o->refresh_hz < 1 || o->refresh_hz > 1000) {
				fprintf(stderr, "udb-compositor: bad --refresh %s\n", optarg);
				return -1;
			}
			break;
		case 'b':
			if (strcmp(optarg, "headless") && strcmp(optarg, "kms") &&
			    strcmp(optarg, "wayland")) {
				fprintf(stderr, "udb-compositor: bad --backend %s\n", optarg);
				return -1;
			}
			o->backend = optarg;
			break;
		case 'd': o->screenshot_dir = optarg; break;
		case 'R': o->report = optarg; break;
		case 't':
			o->run_for = strtod(optarg, &end);
			if (*end || o->run_for < 0) {
				fprintf(stderr, "udb-compositor: bad --run-for %s\n", optarg);
				return -1;
			}
			break;
		case 'i': o->exit_when_idle = true; break;
		case 'T': o->status = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static void client_gone(struct wl_listener *l, void *data)
{
	struct client_watch *w = wl_container_of(l, w, destroy);
	struct server *srv = w->srv;

	(void)data;
	wl_list_remove(&w->destroy.link);
	free(w);
	srv->clients_now--;
	vlog(srv, "client gone (%d left)", srv->clients_now);
	strip_changed(srv);
	if (srv->opt.exit_when_idle && srv->clients_now == 0)
		server_exit(srv, 0);
}

static void client_created(struct wl_listener *l, void *data)
{
	struct server *srv = wl_container_of(l, srv, client_created_listener);
	struct wl_client *client = data;
	struct client_watch *w = calloc(1, sizeof(*w));

	srv->clients_now++;
	if (!srv->stats.clients_seen++)
		stats_window_start(srv);
	vlog(srv, "client connected (%d now)", srv->clients_now);
	strip_changed(srv);
	if (!w)
		return;
	w->srv = srv;
	w->destroy.notify = client_gone;
	wl_client_add_destroy_listener(client, &w->destroy);
}

static int on_signal(int sig, void *data)
{
	struct server *srv = data;

	if (sig == SIGUSR1) {
		screenshot_request(srv);
		return 0;
	}
	vlog(srv, "signal %d: exiting", sig);
	server_exit(srv, 0);
	return 0;
}

static int on_run_for(void *data)
{
	struct server *srv = data;

	vlog(srv, "--run-for elapsed");
	server_exit(srv, 0);
	return 0;
}

int main(int argc, char **argv)
{
	static struct server srv_storage;
	struct server *srv = &srv_storage;
	struct wl_event_source *sigs[3] = { 0 };
	sigset_t mask;
	int ret = 1;

	if (parse_options(&srv->opt, argc, argv) < 0)
		return 2;
	/* before any thread exists: all threads inherit the mask */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &srv->stats.cpu_start);

	wl_list_init(&srv->surfaces);
	scene_init(&srv->scene);
	wl_list_init(&srv->dmabuf_buffers);
	wl_list_init(&srv->captures);
	output_init(&srv->output, srv);
	srv->udb_fd = open(USERPTR_DMABUF_DEVICE, O_RDWR | O_CLOEXEC);
	srv->display = wl_display_create();
	if (!srv->display)
		return 1;
	srv->loop = wl_display_get_event_loop(srv->display);
	protocol_error_logger_init(srv);

	srv->renderer = renderer_create(srv->opt.width, srv->opt.height);
	if (!srv->renderer) {
		fprintf(stderr, "udb-compositor: renderer init failed\n");
		goto out_display;
	}
	if (strip_init(srv) < 0 || shm_init(srv) < 0)
		goto out_renderer;
	compositor_init(srv);
	subcompositor_init(srv);
	xdg_shell_init(srv);
	presentation_init(srv);
	capture_init(srv);
	if (dmabuf_init(srv) < 0) {
		fprintf(stderr, "udb-compositor: linux-dmabuf init failed\n");
		goto out_renderer;
	}
	if (backend_init(srv) < 0) {
		fprintf(stderr, "udb-compositor: %s output init failed\n",
			srv->opt.backend);
		goto out_output;
	}
	if (output_global_init(srv) < 0)
		goto out_output;

	srv->client_created_listener.notify = client_created;
	wl_display_add_client_created_listener(srv->display,
					       &srv->client_created_listener);
	sigs[0] = wl_event_loop_add_signal(srv->loop, SIGTERM, on_signal, srv);
	sigs[1] = wl_event_loop_add_signal(srv->loop, SIGINT, on_signal, srv);
	sigs[2] = wl_event_loop_add_signal(srv->loop, SIGUSR1, on_signal, srv);
	if (srv->opt.run_for > 0) {
		srv->run_for_timer = wl_event_loop_add_timer(srv->loop, on_run_for, srv);
		wl_event_source_timer_update(srv->run_for_timer,
					     (int)(srv->opt.run_for * 1000));
	}
	if (wl_display_add_socket(srv->display, srv->opt.socket) < 0) {
		fprintf(stderr, "udb-compositor: cannot create socket %s: %s\n",
			srv->opt.socket, strerror(errno));
		goto out_output;
	}
	printf("udb-compositor: ready socket=%s\n", srv->opt.socket);
	fflush(stdout);
	/* a first frame: the background */
	srv->dirty = true;
	server_schedule_repaint(srv);

	wl_display_run(srv->display);
	ret = srv->exit_status;

	wl_display_destroy_clients(srv->display);
	output_frame_buffers_drop(&srv->output);	/* the last busy references */
	if (srv->output.ops && srv->output.ops->drop_buffers)
		srv->output.ops->drop_buffers(srv);	/* the plane's */
	if (report_write(srv) < 0)
		ret = 1;
out_output:
	for (int i = 0; i < 3; i++)
		if (sigs[i])
			wl_event_source_remove(sigs[i]);
	if (srv->run_for_timer)
		wl_event_source_remove(srv->run_for_timer);
	if (srv->output.ops)
		srv->output.ops->destroy(srv);
	srv->output.ops = NULL;
	output_fini(&srv->output);
	capture_fini(srv);
	dmabuf_fini(srv);
out_renderer:
	strip_fini(srv);
	renderer_destroy(srv->renderer);
out_display:
	stats_fini(srv);
	wl_display_destroy(srv->display);
	if (srv->udb_fd >= 0)
		close(srv->udb_fd);
	return ret;
}
