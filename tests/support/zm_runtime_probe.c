/*  zm_runtime_probe: a small real worker on the common runtime (common/worker.h), run as a
    child process by tests/integration/test_worker_runtime.c, which stands in for the
    supervisor. Its behaviour is chosen by environment variables the configuration table does
    not know (so they cannot clash with it):

      ZM_PROBE_TICK_MS      tick interval (default 50); each tick counts zipmine_probe_ticks_total
      ZM_PROBE_DRAIN_MS     on drain, report drained after this many ms (default 0 = at once);
                            "never" = never report drained (drain timeout); "none" = register
                            no drain callback at all
      ZM_PROBE_PULL         endpoint of a PULL socket to bind and read: every frame counts
                            zipmine_probe_messages_total{kind="ok"} and is observed in the
                            zipmine_probe_message_bytes histogram; a frame "fail" makes the
                            handler fail (exit 1); a frame "exit100" calls worker_exit (100)
      ZM_PROBE_NOT_READY    if set, never calls worker_ready

    This file is also the worked example of a worker's main: set-up, register, ready, run.  */
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/worker.h"
#include "common/zmqx.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    metrics_series_t *ticks;
    metrics_series_t *messages;
    metrics_series_t *bytes;
    int64_t drain_ms;               //  -1: never
    int64_t drain_started;          //  0 while not draining
    zsock_t *pull;
} probe_t;

static int
s_tick (worker_t *worker, void *arg)
{
    probe_t *probe = arg;
    metrics_inc (probe->ticks);
    if (probe->drain_started && probe->drain_ms >= 0
    &&  clock_mono_ms () - probe->drain_started >= probe->drain_ms) {
        log_info ("probe_drained");
        worker_drained (worker);
    }
    return 0;
}

static void
s_drain (worker_t *worker, void *arg)
{
    probe_t *probe = arg;
    probe->drain_started = clock_mono_ms ();
    log_info ("probe_drain_started", LI ("drain_ms", probe->drain_ms));
    if (probe->pull)
        worker_remove_reader (worker, probe->pull);       //  stop intake
    if (probe->drain_ms == 0)
        worker_drained (worker);
}

static int
s_on_message (worker_t *worker, zsock_t *sock, void *arg)
{
    probe_t *probe = arg;
    zmqx_frame_t frame;
    int rc = zmqx_recv (sock, &frame, 65536, ZMQ_DONTWAIT);
    if (rc == RC_RETRY)
        return 0;
    if (rc != 0)
        return rc == RC_MALFORMED ? 0 : -1;
    size_t size = zmqx_frame_size (&frame);
    bool fail = size == 4 && memcmp (zmqx_frame_data (&frame), "fail", 4) == 0;
    bool exit100 = size == 7 && memcmp (zmqx_frame_data (&frame), "exit100", 7) == 0;
    zmqx_frame_close (&frame);
    if (fail)
        return -1;
    if (exit100)
        worker_exit (worker, EXIT_CONFIG);
    metrics_inc (probe->messages);
    metrics_observe (probe->bytes, (double) size);
    return 0;
}

int
main (int argc, char **argv)
{
    worker_t *worker = worker_new ("zm_runtime_probe", argc, argv);
    if (!worker)
        return EXIT_TRANSIENT;
    probe_t probe = { .drain_ms = 0 };
    metrics_t *m = worker_metrics (worker);
    probe.ticks = metrics_series (metrics_counter (m, "zipmine_probe_ticks_total",
                                                   "Ticks of the probe", NULL));
    probe.messages = metrics_series (metrics_counter (m, "zipmine_probe_messages_total",
                                                      "Messages read by kind", "kind"), "ok");
    probe.bytes = metrics_series (metrics_histogram (m, "zipmine_probe_message_bytes",
                                                     "Sizes of messages read", NULL,
                                                     (const double []) { 16, 256, 4096 }, 3));
    const char *drain = getenv ("ZM_PROBE_DRAIN_MS");
    const char *tick = getenv ("ZM_PROBE_TICK_MS");
    const char *pull = getenv ("ZM_PROBE_PULL");
    if (drain && strcmp (drain, "never") == 0)
        probe.drain_ms = -1;
    else
    if (drain && strcmp (drain, "none") != 0)
        probe.drain_ms = atoll (drain);
    if (!drain || strcmp (drain, "none") != 0)
        worker_set_drain (worker, s_drain, &probe);
    worker_set_tick (worker, tick ? atoll (tick) : 50, s_tick, &probe);
    if (pull) {
        char bind [ZMQX_ENDPOINT_MAX + 2];
        snprintf (bind, sizeof bind, "@%s", pull);
        probe.pull = zmqx_new (ZMQ_PULL, bind, NULL);
        if (!probe.pull) {
            worker_destroy (&worker);
            return EXIT_TRANSIENT;
        }
        worker_add_reader (worker, probe.pull, s_on_message, &probe);
    }
    if (!getenv ("ZM_PROBE_NOT_READY"))
        worker_ready (worker);
    int rc = worker_run (worker);
    zsock_destroy (&probe.pull);
    worker_destroy (&worker);
    return rc;
}
