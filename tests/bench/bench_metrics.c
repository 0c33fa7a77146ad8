/*  bench_metrics: cost of the metrics paths that run on every heartbeat and every scrape.

      - update: metrics_inc on a cached series (the hot path in handlers);
      - series lookup: metrics_series with a label value (a lookup by value);
      - heartbeat: metrics_samples + heartbeat encode of a registry of 256 rows (what a worker
        does every heartbeat.ms), with the encoded size;
      - scrape: the supervisor's /metrics for 24 workers x 256 rows (metrics_set_add of each
        worker's decoded heartbeat + render), with the text size.

    Usage: bench_metrics [iterations-scale]   (prints one line per measurement)            */
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "proto/heartbeat.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  A registry of about 256 rows: 3 labelled families of 64 series, some plain ones.
static metrics_t *
s_registry (void)
{
    metrics_t *reg = metrics_new ();
    const char *names [] = { "zipmine_bench_alpha_total", "zipmine_bench_beta_total",
                             "zipmine_bench_gamma_total" };
    for (int f = 0; f < 3; f++) {
        metrics_family_t *fam = metrics_counter (reg, names [f], "A benchmark counter", "route");
        for (int i = 0; i < 64; i++) {
            char v [16];
            snprintf (v, sizeof v, "/route/%d", i);
            metrics_add (metrics_series (fam, v), i * 3);
        }
    }
    for (int i = 0; i < 60; i++) {
        char name [64];
        snprintf (name, sizeof name, "zipmine_bench_level_%d", i);
        metrics_set (metrics_series (metrics_gauge (reg, name, "A benchmark gauge", NULL)), i);
    }
    return reg;
}

static size_t
s_to_proto (metrics_sample_t *rows, size_t n, proto_metric_t *wire)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < PROTO_METRICS_MAX; i++) {
        if (rows [i].type == METRICS_HISTOGRAM)
            continue;
        wire [k].name = rows [i].name;
        wire [k].type = (int) rows [i].type;
        wire [k].value = rows [i].value;
        wire [k].help = rows [i].help;
        wire [k].nlabels = rows [i].nlabels;
        for (size_t j = 0; j < rows [i].nlabels; j++) {
            wire [k].labels [j].name = rows [i].labels [j].name;
            wire [k].labels [j].value = rows [i].labels [j].value;
        }
        k++;
    }
    return k;
}

int
main (int argc, char **argv)
{
    int scale = argc > 1 ? atoi (argv [1]) : 1;
    if (scale < 1)
        scale = 1;
    int devnull = open ("/dev/null", O_WRONLY);
    log_set_fd (devnull);
    metrics_t *reg = s_registry ();

    //  hot path
    metrics_series_t *s = metrics_series (metrics_counter (reg, "zipmine_bench_hot_total",
                                                           "hot", NULL));
    long n = 10000000L * scale;
    double t0 = s_now ();
    for (long i = 0; i < n; i++)
        metrics_inc (s);
    double t = s_now () - t0;
    printf ("metrics_inc: %.1f ns/op (%ld ops)\n", t / (double) n * 1e9, n);

    metrics_family_t *fam = metrics_counter (reg, "zipmine_bench_alpha_total", "A benchmark counter",
                                             "route");
    n = 200000L * scale;
    t0 = s_now ();
    for (long i = 0; i < n; i++) {
        char v [16];
        snprintf (v, sizeof v, "/route/%ld", i % 64);
        metrics_inc (metrics_series (fam, v));
    }
    t = s_now () - t0;
    printf ("metrics_series lookup (64 series, 1 label) + inc: %.2f us/op\n",
            t / (double) n * 1e6);

    //  heartbeat: samples + encode
    int beats = 2000 * scale;
    size_t bytes = 0, nrows = 0;
    t0 = s_now ();
    for (int b = 0; b < beats; b++) {
        metrics_sample_t *rows;
        ssize_t rn = metrics_samples (reg, &rows);
        proto_metric_t *wire = calloc ((size_t) rn, sizeof *wire);
        size_t k = s_to_proto (rows, (size_t) rn, wire);
        proto_heartbeat_t hb = { .index = 0, .pid = 1, .seq = (uint64_t) b + 1,
                                 .state = PROTO_WORKER_READY, .uptime_ms = 1000,
                                 .nmetrics = k, .metrics = wire };
        snprintf (hb.worker, sizeof hb.worker, "storage");
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        proto_err_t err;
        if (proto_heartbeat_encode (&hb, &sb, &err) != 0) {
            fprintf (stderr, "encode: %s\n", err.reason);
            abort ();
        }
        bytes = sb.size;
        nrows = k;
        msgpack_sbuffer_destroy (&sb);
        free (wire);
        free (rows);
    }
    t = s_now () - t0;
    printf ("heartbeat (%zu rows): samples + encode %.1f us, %zu bytes\n", nrows,
            t / beats * 1e6, bytes);

    //  scrape: 24 workers' decoded heartbeats merged and rendered
    metrics_sample_t *rows;
    ssize_t rn = metrics_samples (reg, &rows);
    int scrapes = 50 * scale;
    size_t text_size = 0;
    t0 = s_now ();
    for (int sc = 0; sc < scrapes; sc++) {
        metrics_set_t *set = metrics_set_new (0);
        metrics_set_add_registry (set, reg, NULL, 0);
        for (int w = 0; w < 24; w++) {
            char index [8];
            snprintf (index, sizeof index, "%d", w);
            metrics_label_t extra [] = { { "worker", "scraper" }, { "instance", index } };
            metrics_set_add (set, rows, (size_t) rn, extra, 2);
        }
        char *text = metrics_set_render (set, &text_size);
        free (text);
        metrics_set_destroy (&set);
    }
    t = s_now () - t0;
    printf ("scrape (24 workers x %zd rows + own): %.2f ms, %zu bytes of text\n", rn,
            t / scrapes * 1e3, text_size);
    free (rows);
    metrics_destroy (&reg);
    close (devnull);
    return 0;
}
