/*  The worker runtime's dependency outages (worker_degraded / worker_recovered) as the
    supervisor sees them: heartbeats to an in-process ROUTER carry state DEGRADED and the
    reason, the transition is sent at once (not at the next beat), several outages show the
    oldest plus a count, untrusted reason bytes are made printable and bounded, recovery sends
    READY at once, the metrics count outages, a degraded STARTING worker is reported degraded
    once ready, and a draining worker reports DRAINING without a reason.                     */
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/worker.h"
#include "common/zmqx.h"
#include "proto/heartbeat.h"
#include "tests/support/test_env.h"
#include "tests/support/test_proc.h"
#include "tests/testutil.h"

#include <unistd.h>

static char *s_argv [] = { "test_heartbeat_worker", NULL };
static char s_dir [64];

typedef struct {
    zsock_t *router;
    int step;
    int64_t called_at;              //  mono ms of the last degraded/recovered call
    int64_t max_latency;            //  slowest transition beat, ms
    int state;                      //  last heartbeat seen
    char reason [PROTO_HEARTBEAT_REASON_MAX + 1];
    int beats;
    int failed;                     //  a step that did not happen in time
    int64_t step_at;
} s_ctx_t;

static double
s_metric (worker_t *w, const char *name, const char *label_value)
{
    return t_sample (worker_metrics (w), name, label_value);
}

//  Reads every heartbeat waiting; returns true when one matched (state, reason).
static bool
s_drain_router (s_ctx_t *ctx, int state, const char *reason)
{
    bool matched = false;
    uint8_t id [256];
    size_t id_len;
    zmqx_frame_t frame;
    while (zmqx_recv_routed (ctx->router, id, sizeof id, &id_len, &frame, 1 << 20,
                             ZMQ_DONTWAIT) == 0) {
        proto_heartbeat_t hb;
        CHECK_EQ_INT (proto_heartbeat_decode (zmqx_frame_data (&frame),
                                              zmqx_frame_size (&frame), &hb, NULL), 0);
        zmqx_frame_close (&frame);
        ctx->state = hb.state;
        snprintf (ctx->reason, sizeof ctx->reason, "%s", hb.reason);
        ctx->beats++;
        if (hb.state == state && strcmp (hb.reason, reason) == 0)
            matched = true;
        proto_heartbeat_free (&hb);
    }
    return matched;
}

static void
s_next (s_ctx_t *ctx, bool transition_beat)
{
    int64_t now = clock_mono_ms ();
    if (transition_beat && now - ctx->called_at > ctx->max_latency)
        ctx->max_latency = now - ctx->called_at;
    ctx->step++;
    ctx->step_at = now;
    ctx->called_at = now;
}

//  The tick plays the supervisor and the worker's own logic, one step at a time.
static int
s_tick (worker_t *w, void *arg)
{
    s_ctx_t *ctx = arg;
    if (clock_mono_ms () - ctx->step_at > 5000) {
        fprintf (stderr, "step %d timed out (last state %d reason '%s')\n", ctx->step,
                 ctx->state, ctx->reason);
        ctx->failed = ctx->step;
        worker_drained (w);
        return 0;
    }
    switch (ctx->step) {
        case 0:
            if (s_drain_router (ctx, PROTO_WORKER_READY, "")) {
                s_next (ctx, false);
                worker_degraded (w, "coordinator", "connect refused\n\x01\xff end");
                CHECK (worker_is_degraded (w));
                CHECK_EQ_STR (worker_degraded_reason (w), "coordinator: connect refused??? end");
            }
            break;
        case 1:
            if (s_drain_router (ctx, PROTO_WORKER_DEGRADED,
                                "coordinator: connect refused??? end")) {
                s_next (ctx, true);
                //  the same dependency again: no new outage, only the reason changes
                worker_degraded (w, "coordinator", "connect refused again");
                worker_degraded (w, "s3", "HTTP 503");
            }
            break;
        case 2:
            //  no transition (already degraded): comes with the next regular beat
            if (s_drain_router (ctx, PROTO_WORKER_DEGRADED,
                                "coordinator: connect refused again (+1 more)")) {
                s_next (ctx, false);
                worker_recovered (w, "coordinator");
                worker_recovered (w, "coordinator");        //  no-op
                worker_recovered (w, "postgres");           //  never down: no-op
                CHECK_EQ_STR (worker_degraded_reason (w), "s3: HTTP 503");
            }
            break;
        case 3:
            if (s_drain_router (ctx, PROTO_WORKER_DEGRADED, "s3: HTTP 503")) {
                s_next (ctx, false);
                worker_recovered (w, "s3");
                CHECK (!worker_is_degraded (w));
                CHECK_EQ_STR (worker_degraded_reason (w), "");
            }
            break;
        case 4:
            if (s_drain_router (ctx, PROTO_WORKER_READY, "")) {
                s_next (ctx, true);
                //  a reason as long as anything may send: cut to the codec's bound
                char huge [4096];
                memset (huge, 'x', sizeof huge - 1);
                huge [sizeof huge - 1] = 0;
                worker_degraded (w, "s3", huge);
                CHECK (strlen (worker_degraded_reason (w)) <= PROTO_HEARTBEAT_REASON_MAX);
                CHECK (proto_valid_hb_reason (worker_degraded_reason (w)));
            }
            break;
        case 5:
            if (s_drain_router (ctx, PROTO_WORKER_DEGRADED, worker_degraded_reason (w))) {
                s_next (ctx, true);
                worker_drain (w);
            }
            break;
        case 6:
            if (s_drain_router (ctx, PROTO_WORKER_DRAINING, "")) {
                s_next (ctx, false);
                worker_drained (w);
            }
            break;
        default:
            break;
    }
    return 0;
}

//  Draining ends in the tick, once the DRAINING beat has been seen.
static void
s_drain (worker_t *w, void *arg)
{
    (void) w;
    (void) arg;
}

static zsock_t *
s_router (const char *name)
{
    char ep [256];
    zsock_t *router = t_sup_router (s_dir, name, ep, sizeof ep);
    setenv ("ZM_SUP_ENDPOINT", ep, 1);
    return router;
}

static void
test_outages (void)
{
    zsock_t *router = s_router ("sup1");
    //  A long beat interval, so a transition seen well before it was sent at once.
    setenv ("ZM_HEARTBEAT_MS", "1500", 1);
    worker_t *w = worker_new ("test_heartbeat_worker", 1, s_argv);
    CHECK (w);
    s_ctx_t ctx = { .router = router, .step_at = clock_mono_ms () };
    worker_set_tick (w, 10, s_tick, &ctx);
    worker_set_drain (w, s_drain, NULL);
    worker_ready (w);
    CHECK_EQ_INT (worker_run (w), 0);
    CHECK_EQ_INT (ctx.failed, 0);
    CHECK_EQ_INT (ctx.step, 7);
    printf ("slowest transition beat: %lld ms (beat interval 1500 ms)\n",
            (long long) ctx.max_latency);
    CHECK (ctx.max_latency < 750);
    CHECK_EQ_INT ((int) s_metric (w, "zipmine_worker_dependency_outages_total", "coordinator"), 1);
    CHECK_EQ_INT ((int) s_metric (w, "zipmine_worker_dependency_outages_total", "s3"), 2);
    CHECK_EQ_INT ((int) s_metric (w, "zipmine_worker_dependency_down", "coordinator"), 0);
    CHECK_EQ_INT ((int) s_metric (w, "zipmine_worker_dependency_down", "s3"), 1);
    //  a dependency never reported has no series (no empty label noise)
    CHECK (s_metric (w, "zipmine_worker_dependency_down", "postgres") == -1);
    worker_destroy (&w);
    zsock_destroy (&router);
    unsetenv ("ZM_SUP_ENDPOINT");
    unsetenv ("ZM_HEARTBEAT_MS");
}

static int
s_tick_first (worker_t *w, void *arg)
{
    s_ctx_t *ctx = arg;
    s_drain_router (ctx, 0, "");
    if (ctx->state != 0 && ctx->state != PROTO_WORKER_STARTING) {
        ctx->step = ctx->state;            //  the first state after STARTING
        worker_drained (w);
    }
    if (clock_mono_ms () - ctx->step_at > 5000) {
        ctx->failed = 1;
        worker_drained (w);
    }
    return 0;
}

//  Degraded while STARTING: reported as STARTING, then DEGRADED from the first ready beat.
static void
test_degraded_before_ready (void)
{
    zsock_t *router = s_router ("sup2");
    setenv ("ZM_HEARTBEAT_MS", "100", 1);
    worker_t *w = worker_new ("test_heartbeat_worker", 1, s_argv);
    CHECK (w);
    worker_degraded (w, "postgres", "could not connect");
    CHECK (worker_is_degraded (w));
    CHECK_EQ_INT (worker_state (w), WORKER_STARTING);
    s_ctx_t ctx = { .router = router, .step_at = clock_mono_ms () };
    worker_set_tick (w, 10, s_tick_first, &ctx);
    //  a few STARTING beats first
    int64_t until = clock_mono_ms () + 300;
    while (clock_mono_ms () < until) {
        s_drain_router (&ctx, 0, "");
        usleep (20 * 1000);
    }
    worker_ready (w);
    CHECK_EQ_INT (worker_run (w), 0);
    CHECK_EQ_INT (ctx.failed, 0);
    CHECK_EQ_INT (ctx.step, PROTO_WORKER_DEGRADED);
    CHECK_EQ_STR (ctx.reason, "postgres: could not connect");
    worker_destroy (&w);
    zsock_destroy (&router);
    unsetenv ("ZM_SUP_ENDPOINT");
    unsetenv ("ZM_HEARTBEAT_MS");
}

int
main (void)
{
    log_set_level (LOGL_WARN);
    snprintf (s_dir, sizeof s_dir, "/tmp/test_hbw.XXXXXX");
    CHECK (mkdtemp (s_dir));
    test_outages ();
    test_degraded_before_ready ();
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK_EQ_INT (system (cmd), 0);
    TEST_DONE ();
}
