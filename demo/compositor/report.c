/* SPDX-License-Identifier: MIT */
/*
 * Statistics and the --report file (key=value lines, written at exit).
 * frame_ms is the wall time of one repaint (draw + glFinish);
 * cpu_ms_per_frame is the process CPU time (all threads: llvmpipe
 * rasterizes on worker threads) over the whole run divided by frames.
 * The window_* figures cover only the time from the first client's
 * connection to the report (start-up and idle frames left out): frames,
 * process CPU and page faults (getrusage) in that window, what a
 * benchmark divides by the frames presented.
 * KMS only: frames_direct and frames_composited count the frames that
 * put a client's dma-buf on the plane and those composited with GL;
 * direct_refused is why the last composited one was not scanned out
 * (scanout.c, output_kms.c), "none" if every frame was;
 * direct_reimports counts the stale buffers imported again once they
 * settled (output_kms.c), direct_pin_waits the candidacies of settled
 * ones that waited for the module's old pin set to go first. frames_overlay counts the frames that put at
 * least one window on an overlay plane (planes.c), overlay_views the
 * windows they put there, frames_primary_kept those of them that left
 * the primary plane as it was (nothing composited changed: no GL).
 * protocol_errors counts every wl_display.error sent to a client, ours
 * and libwayland's own, seen through a protocol logger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server.h"

static double cpu_ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void samples_add(struct samples *s, double v)
{
	if (s->len == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *n = realloc(s->v, cap * sizeof(*n));

		if (!n)
			return;
		s->v = n;
		s->cap = cap;
	}
	s->v[s->len++] = v;
}

static int cmp_double(const void *a, const void *b);

/* Nearest-rank quantile q (0..1] of @n sorted values; 0 for none. */
static double quantile(const double *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(q * (double)n + 0.999999);
	return v[k ? k - 1 : 0];
}

static void samples_print(FILE *f, const char *name, struct samples *s)
{
	if (s->len)	/* s->v is NULL until the first sample */
		qsort(s->v, s->len, sizeof(double), cmp_double);
	fprintf(f, "%s_median=%.3f\n", name, quantile(s->v, s->len, 0.5));
	fprintf(f, "%s_p99=%.3f\n", name, quantile(s->v, s->len, 0.99));
}

void stats_window_start(struct server *srv)
{
	struct stats *st = &srv->stats;
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	st->window_open = true;
	st->window_frames = st->frames;
	st->window_cpu_ms = cpu_ms_now();
	st->last_cpu_ms = st->window_cpu_ms;
	st->window_minflt = ru.ru_minflt;
	st->window_majflt = ru.ru_majflt;
}

void stats_frame(struct server *srv, double ms)
{
	struct stats *st = &srv->stats;

	st->frames++;
	if (st->window_open) {
		double cpu = cpu_ms_now();

		/* commit-time work (dma-buf imports, the wl_shm page check)
		 * and llvmpipe's threads since the last repaint count to
		 * this one; wl_shm uploads are in the repaint itself */
		samples_add(&st->win_wall, ms);
		samples_add(&st->win_cpu, cpu - st->last_cpu_ms);
		st->last_cpu_ms = cpu;
	}
	samples_add(&st->frame_ms, ms);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int report_write(struct server *srv)
{
	struct stats *st = &srv->stats;
	double mean = 0, p99 = 0, median = 0, cpu_ms;
	struct timespec cpu;
	struct rusage ru;
	FILE *f;

	if (!srv->opt.report)
		return 0;
	if (st->frame_ms.len) {
		for (size_t i = 0; i < st->frame_ms.len; i++)
			mean += st->frame_ms.v[i];
		mean /= st->frame_ms.len;
		qsort(st->frame_ms.v, st->frame_ms.len, sizeof(double), cmp_double);
		p99 = quantile(st->frame_ms.v, st->frame_ms.len, 0.99);
		median = quantile(st->frame_ms.v, st->frame_ms.len, 0.5);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	cpu_ms = (cpu.tv_sec - st->cpu_start.tv_sec) * 1e3 +
		 (cpu.tv_nsec - st->cpu_start.tv_nsec) / 1e6;
	f = fopen(srv->opt.report, "w");
	if (!f) {
		server_log(srv, "cannot write report %s", srv->opt.report);
		return -1;
	}
	fprintf(f, "frames=%llu\n", (unsigned long long)st->frames);
	fprintf(f, "frame_ms_mean=%.3f\n", mean);
	if (srv->opt.backend[0] == 'k') {
		/* direct scanout (scanout.c, output_kms.c) */
		fprintf(f, "frames_direct=%llu\n",
			(unsigned long long)st->frames_direct);
		fprintf(f, "frames_composited=%llu\n",
			(unsigned long long)st->frames_composited);
		fprintf(f, "direct_refused=%s\n", st->direct_refused[0] ?
			st->direct_refused : "none");
		fprintf(f, "direct_reimports=%llu\n",
			(unsigned long long)st->direct_reimports);
		fprintf(f, "direct_pin_waits=%llu\n",
			(unsigned long long)st->direct_pin_waits);
		fprintf(f, "frames_overlay=%llu\n",
			(unsigned long long)st->frames_overlay);
		fprintf(f, "overlay_views=%llu\n",
			(unsigned long long)st->overlay_views);
		fprintf(f, "frames_primary_kept=%llu\n",
			(unsigned long long)st->frames_primary_kept);
	}
	fprintf(f, "frame_ms_p99=%.3f\n", p99);
	fprintf(f, "frame_ms_median=%.3f\n", median);
	fprintf(f, "cpu_ms_per_frame=%.3f\n", st->frames ? cpu_ms / st->frames : 0.0);
	if (st->window_open) {
		getrusage(RUSAGE_SELF, &ru);
		fprintf(f, "window_frames=%llu\n",
			(unsigned long long)(st->frames - st->window_frames));
		fprintf(f, "window_cpu_ms=%.3f\n", cpu_ms_now() - st->window_cpu_ms);
		fprintf(f, "window_minflt=%ld\n", ru.ru_minflt - st->window_minflt);
		fprintf(f, "window_majflt=%ld\n", ru.ru_majflt - st->window_majflt);
		samples_print(f, "window_repaint_ms", &st->win_wall);
		samples_print(f, "window_cpu_frame_ms", &st->win_cpu);
		/* for pooling across runs */
		fprintf(f, "window_cpu_frame_ms_samples=");
		for (size_t i = 0; i < st->win_cpu.len; i++)
			fprintf(f, "%s%.2f", i ? "," : "", st->win_cpu.v[i]);
		fprintf(f, "\n");
	}
	fprintf(f, "clients_seen=%llu\n", (unsigned long long)st->clients_seen);
	fprintf(f, "buffers_dmabuf=%llu\n", (unsigned long long)st->buffers_dmabuf);
	fprintf(f, "buffers_shm=%llu\n", (unsigned long long)st->buffers_shm);
	fprintf(f, "dmabuf_images_live=%llu\n", (unsigned long long)st->dmabuf_live);
	fprintf(f, "dmabuf_imports_failed=%llu\n",
		(unsigned long long)st->dmabuf_imports_failed);
	fprintf(f, "protocol_errors=%llu\n", (unsigned long long)st->protocol_errors);
	fprintf(f, "invalidations=%llu\n", (unsigned long long)st->invalidations);
	if (strip_text(srv))
		fprintf(f, "status_text=%s\n", strip_text(srv));
	return fclose(f) == 0 ? 0 : -1;
}

void stats_fini(struct server *srv)
{
	if (srv->logger)
		wl_protocol_logger_destroy(srv->logger);
	srv->logger = NULL;
	free(srv->stats.frame_ms.v);
	free(srv->stats.win_wall.v);
	free(srv->stats.win_cpu.v);
	srv->stats.frame_ms = (struct samples){ 0 };
	srv->stats.win_wall = (struct samples){ 0 };
	srv->stats.win_cpu = (struct samples){ 0 };
}

static void logger(void *data, enum wl_protocol_logger_type dir,
		   const struct wl_protocol_logger_message *m)
{
	struct server *srv = data;

	if (dir != WL_PROTOCOL_LOGGER_EVENT ||
	    strcmp(wl_resource_get_class(m->resource), "wl_display") != 0 ||
	    strcmp(m->message->name, "error") != 0)
		return;
	srv->stats.protocol_errors++;
	server_log(srv, "protocol error to client %p: code %u: %s",
		   (void *)wl_resource_get_client(m->resource),
		   m->arguments[1].u, m->arguments[2].s ? m->arguments[2].s : "");
}

void protocol_error_logger_init(struct server *srv)
{
	srv->logger = wl_display_add_protocol_logger(srv->display, logger, srv);
}
