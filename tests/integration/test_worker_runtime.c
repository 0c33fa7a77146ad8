/*  test_worker_runtime: the worker runtime (common/worker.c) as a real child process.

    This test stands in for the supervisor: it fork+execs build/bin/zm_runtime_probe with a
    real readiness pipe, a real parent-death pipe and a ROUTER bound where ZM_SUP_ENDPOINT
    points, exactly as the supervision contract (docs/worker-runtime.md) describes, and checks
    what the supervisor relies on:

      - the readiness byte arrives, then the pipe closes;
      - heartbeats arrive every heartbeat.ms from routing id "<name>.<index>", decode with the
        proto codec, carry seq/state/uptime and the metrics samples, and those samples
        re-render (with worker/instance labels) into text that passes promtool;
      - SIGTERM -> drain callback -> exit 0 within the shutdown budget; no drain callback ->
        exit 0 at once; a drain that never ends -> exit 1 before the budget; a second SIGTERM
        -> exit 1 at once;
      - parent-death EOF -> exit within 1 s;
      - bad configuration (a bad flag, malformed ZM_* variables) -> exit 100;
      - control "drain" is honoured and answered, "stop" exits at once, "reload" is refused,
        a garbage control frame is survived and counted;
      - a failing handler -> exit 1; worker_exit (100) -> exit 100;
      - run by hand (no ZM_* variables) it still starts, logs readiness and drains on SIGINT. */
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/zmqx.h"
#include "proto/control.h"
#include "proto/heartbeat.h"
#include "tests/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

//  Children whose exit is timed skip LeakSanitizer's exit-time scan (hundreds of ms on a
//  loaded machine under ASan); the untimed children keep it.
#define S_FAST_EXIT "ASAN_OPTIONS=detect_leaks=0"

static char s_dir [64];
static char s_probe [512];
static char s_sup_ep [256];
static zsock_t *s_router;
static int s_test_no;

typedef struct {
    pid_t pid;
    int ready_rd;           //  our end of the readiness pipe, -1 when not supervised
    int pdeath_wr;          //  our end of the parent-death pipe, -1 when not supervised
    char log [128];         //  the child's stdout
} child_t;

//  Starts the probe. env: "K=V" strings (NULL-terminated list, may be NULL); args: extra argv
//  (NULL-terminated, may be NULL).
static child_t
s_spawn (bool supervised, int index, const char *const *env, const char *const *args)
{
    child_t c = { .ready_rd = -1, .pdeath_wr = -1 };
    snprintf (c.log, sizeof c.log, "%s/child%d.log", s_dir, ++s_test_no);
    int ready [2], pdeath [2];
    CHECK (pipe2 (ready, O_CLOEXEC) == 0);
    CHECK (pipe2 (pdeath, O_CLOEXEC) == 0);
    c.pid = fork ();
    CHECK (c.pid >= 0);
    if (c.pid == 0) {
        int out = open (c.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || dup2 (out, 1) < 0)
            _exit (99);
        unsetenv ("ZM_READY_FD");
        unsetenv ("ZM_PDEATH_FD");
        unsetenv ("ZM_SUP_ENDPOINT");
        unsetenv ("ZM_WORKER_NAME");
        unsetenv ("ZM_WORKER_INDEX");
        if (supervised) {
            //  the child's ends lose CLOEXEC; ours close on exec
            char buf [32];
            fcntl (ready [1], F_SETFD, 0);
            fcntl (pdeath [0], F_SETFD, 0);
            snprintf (buf, sizeof buf, "%d", ready [1]);
            setenv ("ZM_READY_FD", buf, 1);
            snprintf (buf, sizeof buf, "%d", pdeath [0]);
            setenv ("ZM_PDEATH_FD", buf, 1);
            snprintf (buf, sizeof buf, "%d", index);
            setenv ("ZM_WORKER_INDEX", buf, 1);
            setenv ("ZM_WORKER_NAME", "zm_runtime_probe", 1);
            setenv ("ZM_SUP_ENDPOINT", s_sup_ep, 1);
        }
        setenv ("ZM_HEARTBEAT_MS", "100", 1);
        setenv ("ZM_SHUTDOWN_BUDGET_MS", "2000", 1);
        setenv ("ZM_RUN_DIR", s_dir, 1);
        for (size_t i = 0; env && env [i]; i++)
            putenv ((char *) env [i]);
        const char *argv [16] = { s_probe };
        size_t n = 1;
        for (size_t i = 0; args && args [i] && n < 15; i++)
            argv [n++] = args [i];
        argv [n] = NULL;
        execv (s_probe, (char **) argv);
        _exit (98);
    }
    close (ready [1]);
    close (pdeath [0]);
    if (supervised) {
        c.ready_rd = ready [0];
        c.pdeath_wr = pdeath [1];
    }
    else {
        close (ready [0]);
        close (pdeath [1]);
    }
    return c;
}

//  Waits up to timeout_ms for the child to exit; returns its wait status, or -1 on timeout
//  (the child is then killed).
static int
s_wait (child_t *c, int64_t timeout_ms, int64_t *took_ms)
{
    int64_t t0 = clock_mono_ms ();
    while (clock_mono_ms () - t0 < timeout_ms) {
        int status;
        pid_t r = waitpid (c->pid, &status, WNOHANG);
        if (r == c->pid) {
            if (took_ms)
                *took_ms = clock_mono_ms () - t0;
            return status;
        }
        usleep (2000);
    }
    kill (c->pid, SIGKILL);
    waitpid (c->pid, NULL, 0);
    fprintf (stderr, "child %d did not exit within %lld ms\n", (int) c->pid,
             (long long) timeout_ms);
    return -1;
}

static void
s_close (child_t *c)
{
    if (c->ready_rd >= 0)
        close (c->ready_rd);
    if (c->pdeath_wr >= 0)
        close (c->pdeath_wr);
    c->ready_rd = c->pdeath_wr = -1;
}

static int
s_exit_code (int status)
{
    CHECK (status != -1);
    CHECK (WIFEXITED (status));
    return WEXITSTATUS (status);
}

//  True when the child's log has a line with "event":"<event>".
static bool
s_logged (const child_t *c, const char *event)
{
    FILE *f = fopen (c->log, "r");
    if (!f)
        return false;
    char needle [128], line [8192];
    snprintf (needle, sizeof needle, "\"event\":\"%s\"", event);
    bool found = false;
    while (!found && fgets (line, sizeof line, f))
        found = strstr (line, needle) != NULL;
    fclose (f);
    return found;
}

//  Waits for the readiness byte; returns true when "\n" came before timeout_ms.
static bool
s_wait_ready (child_t *c, int timeout_ms)
{
    struct pollfd p = { .fd = c->ready_rd, .events = POLLIN };
    if (poll (&p, 1, timeout_ms) != 1)
        return false;
    char buf [4];
    ssize_t n = read (c->ready_rd, buf, sizeof buf);
    return n == 1 && buf [0] == '\n';
}

//  Receives the next message from the probe on the ROUTER within timeout_ms: returns its proto
//  type (0 on timeout) and copies it into buf; the routing id goes to id (NUL-terminated).
static int
s_recv (int64_t timeout_ms, uint8_t *buf, size_t *size, char *id)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (clock_mono_ms () < deadline) {
        uint8_t idb [256];
        size_t id_len;
        zmqx_frame_t frame;
        int rc = zmqx_recv_routed (s_router, idb, sizeof idb, &id_len, &frame, 1 << 20, 0);
        if (rc == RC_RETRY)
            continue;
        CHECK_EQ_INT (rc, 0);
        memcpy (id, idb, id_len);
        id [id_len] = 0;
        *size = zmqx_frame_size (&frame);
        memcpy (buf, zmqx_frame_data (&frame), *size);
        zmqx_frame_close (&frame);
        int type = 0;
        CHECK_EQ_INT (proto_peek_type (buf, *size, &type, NULL), 0);
        return type;
    }
    return 0;
}

static uint8_t s_buf [1 << 20];

//  Next heartbeat from process pid within timeout_ms (other messages, and heartbeats of
//  earlier children still queued, are skipped); false on timeout.
static bool
s_next_heartbeat (pid_t pid, int64_t timeout_ms, proto_heartbeat_t *hb, char *id)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    int64_t left;
    while ((left = deadline - clock_mono_ms ()) > 0) {
        size_t size;
        int type = s_recv (left, s_buf, &size, id);
        if (type == 0)
            return false;
        if (type != PROTO_HEARTBEAT)
            continue;
        proto_err_t err;
        int rc = proto_heartbeat_decode (s_buf, size, hb, &err);
        if (rc != 0)
            fprintf (stderr, "heartbeat decode: %s\n", err.reason);
        CHECK_EQ_INT (rc, 0);
        if (hb->pid == pid)
            return true;
        proto_heartbeat_free (hb);
    }
    return false;
}

//  Next control reply within timeout_ms (heartbeats are skipped).
static bool
s_next_reply (int64_t timeout_ms, proto_control_reply_t *reply)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    int64_t left;
    char id [256];
    while ((left = deadline - clock_mono_ms ()) > 0) {
        size_t size;
        int type = s_recv (left, s_buf, &size, id);
        if (type == 0)
            return false;
        if (type != PROTO_CONTROL_REPLY)
            continue;
        CHECK_EQ_INT (proto_control_reply_decode (s_buf, size, reply, NULL), 0);
        return true;
    }
    return false;
}

static const proto_metric_t *
s_metric (const proto_heartbeat_t *hb, const char *name, const char *label_value)
{
    for (size_t i = 0; i < hb->nmetrics; i++) {
        const proto_metric_t *m = &hb->metrics [i];
        if (strcmp (m->name, name) != 0)
            continue;
        if (!label_value)
            return m;
        for (size_t j = 0; j < m->nlabels; j++)
            if (strcmp (m->labels [j].value, label_value) == 0)
                return m;
    }
    return NULL;
}

static void
s_send_control (const char *id, int cmd, uint64_t req_id)
{
    proto_control_t msg = { .id = req_id, .cmd = cmd };
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    CHECK_EQ_INT (proto_control_encode (&msg, &sbuf, NULL), 0);
    CHECK_EQ_INT (zmqx_send_routed (s_router, (const uint8_t *) id, strlen (id), sbuf.data,
                                    sbuf.size, 1 << 20, 0), 0);
    msgpack_sbuffer_destroy (&sbuf);
}

static int
s_promtool (const char *text)
{
    char path [128];
    snprintf (path, sizeof path, "%s/metrics.txt", s_dir);
    FILE *f = fopen (path, "w");
    CHECK (f);
    fputs (text, f);
    fclose (f);
    char cmd [256];
    snprintf (cmd, sizeof cmd, "promtool check metrics < %s", path);
    int status = system (cmd);
    CHECK (WIFEXITED (status));
    return WEXITSTATUS (status);
}

//  Readiness, heartbeat cadence and content, metrics re-rendered as the supervisor will.
static void
test_ready_and_heartbeats (void)
{
    char pull_env [300];
    snprintf (pull_env, sizeof pull_env, "ZM_PROBE_PULL=ipc://%s/probe_in.ipc", s_dir);
    const char *env [] = { pull_env, NULL };
    child_t c = s_spawn (true, 2, env, NULL);
    CHECK (s_wait_ready (&c, 5000));
    //  the readiness fd is written once and closed: EOF next
    char b;
    CHECK_EQ_INT (read (c.ready_rd, &b, 1), 0);

    //  feed the probe's PULL reader a few messages
    char ep [300];
    snprintf (ep, sizeof ep, ">ipc://%s/probe_in.ipc", s_dir);
    zsock_t *push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (push);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT (zmqx_send (push, "hello", 5, 1024, 0), 0);

    proto_heartbeat_t hb;
    char id [256];
    uint64_t last_seq = 0, last_uptime = 0;
    int64_t arrivals [12];
    int nready = 0;
    int64_t t0 = clock_mono_ms ();
    while (nready < 12 && clock_mono_ms () - t0 < 5000) {
        CHECK (s_next_heartbeat (c.pid, 1000, &hb, id));
        CHECK_EQ_STR (id, "zm_runtime_probe.2");
        CHECK_EQ_STR (hb.worker, "zm_runtime_probe");
        CHECK_EQ_INT (hb.index, 2);
        CHECK_EQ_INT (hb.pid, c.pid);
        if (last_seq)
            CHECK_EQ_INT (hb.seq, last_seq + 1);
        CHECK (hb.uptime_ms >= last_uptime);
        last_seq = hb.seq;
        last_uptime = hb.uptime_ms;
        if (hb.state == PROTO_WORKER_READY)
            arrivals [nready++] = clock_mono_ms ();
        else
            CHECK_EQ_INT (hb.state, PROTO_WORKER_STARTING);
        if (nready < 12)
            proto_heartbeat_free (&hb);
    }
    CHECK_EQ_INT (nready, 12);
    //  cadence: heartbeat.ms = 100 (the first READY beat is sent at once by worker_ready)
    int64_t span = arrivals [11] - arrivals [1];
    printf ("heartbeat cadence: 10 intervals in %lld ms\n", (long long) span);
    CHECK (span >= 800 && span <= 1600);
    for (int i = 2; i < 12; i++)
        CHECK (arrivals [i] - arrivals [i - 1] < 400);

    //  metrics travel with the heartbeat
    const proto_metric_t *m = s_metric (&hb, "zipmine_worker_uptime_seconds", NULL);
    CHECK (m && m->type == PROTO_METRIC_GAUGE && m->value > 0.5 && m->help);
    m = s_metric (&hb, "zipmine_worker_loop_iterations_total", NULL);
    CHECK (m && m->type == PROTO_METRIC_COUNTER && m->value >= 10);
    m = s_metric (&hb, "zipmine_probe_ticks_total", NULL);
    CHECK (m && m->value >= 10);
    m = s_metric (&hb, "zipmine_probe_messages_total", "ok");
    CHECK (m && m->value == 5);
    m = s_metric (&hb, "zipmine_worker_state", "ready");
    CHECK (m && m->value == 1);
    m = s_metric (&hb, "zipmine_worker_heartbeats_total", "sent");
    CHECK (m && m->value >= 10);

    //  the supervisor's side: samples -> metrics_set with worker/instance -> promtool
    metrics_sample_t *rows = calloc (hb.nmetrics, sizeof *rows);
    CHECK (rows);
    for (size_t i = 0; i < hb.nmetrics; i++) {
        rows [i].name = hb.metrics [i].name;
        rows [i].type = (metrics_type_t) hb.metrics [i].type;
        rows [i].value = hb.metrics [i].value;
        rows [i].help = hb.metrics [i].help;
        rows [i].nlabels = hb.metrics [i].nlabels;
        for (size_t j = 0; j < hb.metrics [i].nlabels; j++) {
            rows [i].labels [j].name = hb.metrics [i].labels [j].name;
            rows [i].labels [j].value = hb.metrics [i].labels [j].value;
        }
    }
    metrics_set_t *set = metrics_set_new (0);
    metrics_label_t extra [] = { { "worker", "zm_runtime_probe" }, { "instance", "2" } };
    CHECK_EQ_INT (metrics_set_add (set, rows, hb.nmetrics, extra, 2), 0);
    char *text = metrics_set_render (set, NULL);
    CHECK (strstr (text, "zipmine_probe_messages_total{kind=\"ok\",worker=\"zm_runtime_probe\","
                         "instance=\"2\"} 5\n"));
    CHECK_EQ_INT (s_promtool (text), 0);
    free (text);
    metrics_set_destroy (&set);
    free (rows);
    proto_heartbeat_free (&hb);

    //  SIGTERM: drain (ZM_PROBE_DRAIN_MS unset: drained at once) -> exit 0
    CHECK (kill (c.pid, SIGTERM) == 0);
    int64_t took;
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 3000, &took)), 0);
    CHECK (s_logged (&c, "worker_ready"));
    CHECK (s_logged (&c, "probe_drain_started"));
    zsock_destroy (&push);
    s_close (&c);
}

//  SIGTERM -> drain callback -> the worker's own drain time -> exit 0 within the budget.
static void
test_sigterm_drain (void)
{
    const char *env [] = { "ZM_PROBE_DRAIN_MS=400", S_FAST_EXIT, NULL };
    child_t c = s_spawn (true, 0, env, NULL);
    CHECK (s_wait_ready (&c, 5000));
    proto_heartbeat_t hb;
    char id [256];
    CHECK (s_next_heartbeat (c.pid, 2000, &hb, id));
    proto_heartbeat_free (&hb);
    int64_t t0 = clock_mono_ms ();
    CHECK (kill (c.pid, SIGTERM) == 0);
    //  a DRAINING heartbeat is sent at once
    bool draining = false;
    while (!draining && s_next_heartbeat (c.pid, 1000, &hb, id)) {
        draining = hb.state == PROTO_WORKER_DRAINING;
        proto_heartbeat_free (&hb);
    }
    CHECK (draining);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 3000, NULL)), 0);
    int64_t took = clock_mono_ms () - t0;
    printf ("sigterm drain: exit 0 after %lld ms (drain 400 ms, budget 2000 ms)\n",
            (long long) took);
    CHECK (took >= 380 && took < 2000);
    CHECK (s_logged (&c, "probe_drained"));
    s_close (&c);

    //  no drain callback: exit 0 at once
    const char *none [] = { "ZM_PROBE_DRAIN_MS=none", S_FAST_EXIT, NULL };
    c = s_spawn (true, 0, none, NULL);
    CHECK (s_wait_ready (&c, 5000));
    t0 = clock_mono_ms ();
    CHECK (kill (c.pid, SIGTERM) == 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 0);
    took = clock_mono_ms () - t0;
    printf ("sigterm without drain callback: exit 0 after %lld ms\n", (long long) took);
    CHECK (took < 500);
    CHECK (!s_logged (&c, "probe_drain_started"));
    s_close (&c);

    //  a drain that never finishes: the runtime gives up before the budget, exit 1
    const char *never [] = { "ZM_PROBE_DRAIN_MS=never", "ZM_SHUTDOWN_BUDGET_MS=600",
                            S_FAST_EXIT, NULL };
    c = s_spawn (true, 0, never, NULL);
    CHECK (s_wait_ready (&c, 5000));
    t0 = clock_mono_ms ();
    CHECK (kill (c.pid, SIGTERM) == 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 3000, NULL)), 1);
    took = clock_mono_ms () - t0;
    printf ("drain timeout: exit 1 after %lld ms (budget 600 ms)\n", (long long) took);
    CHECK (took >= 380 && took < 600);
    CHECK (s_logged (&c, "drain_timeout"));
    s_close (&c);

    //  a second SIGTERM while draining: exit 1 at once
    c = s_spawn (true, 0, never, NULL);
    CHECK (s_wait_ready (&c, 5000));
    CHECK (kill (c.pid, SIGTERM) == 0);
    usleep (100 * 1000);
    t0 = clock_mono_ms ();
    CHECK (kill (c.pid, SIGINT) == 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 1);
    CHECK (clock_mono_ms () - t0 < 300);
    CHECK (s_logged (&c, "probe_drain_started"));
    s_close (&c);

    //  SIGHUP is logged and ignored
    c = s_spawn (true, 0, NULL, NULL);
    CHECK (s_wait_ready (&c, 5000));
    CHECK (kill (c.pid, SIGHUP) == 0);
    usleep (200 * 1000);
    CHECK (waitpid (c.pid, NULL, WNOHANG) == 0);
    CHECK (kill (c.pid, SIGTERM) == 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 0);
    CHECK (s_logged (&c, "signal_ignored"));
    s_close (&c);
}

//  The parent-death pipe: EOF means the supervisor is gone; exit within 1 s, no drain.
static void
test_parent_death (void)
{
    const char *env [] = { "ZM_PROBE_DRAIN_MS=never", S_FAST_EXIT, NULL };
    child_t c = s_spawn (true, 0, env, NULL);
    CHECK (s_wait_ready (&c, 5000));
    int64_t t0 = clock_mono_ms ();
    close (c.pdeath_wr);
    c.pdeath_wr = -1;
    int status = s_wait (&c, 1000, NULL);
    int64_t took = clock_mono_ms () - t0;
    printf ("parent death: exit after %lld ms\n", (long long) took);
    CHECK_EQ_INT (s_exit_code (status), 1);
    CHECK (took < 1000);
    CHECK (s_logged (&c, "parent_died"));
    CHECK (!s_logged (&c, "probe_drain_started"));
    s_close (&c);

    //  also while still starting (never ready)
    const char *starting [] = { "ZM_PROBE_NOT_READY=1", NULL };
    c = s_spawn (true, 0, starting, NULL);
    proto_heartbeat_t hb;
    char id [256];
    CHECK (s_next_heartbeat (c.pid, 3000, &hb, id));
    CHECK_EQ_INT (hb.state, PROTO_WORKER_STARTING);
    proto_heartbeat_free (&hb);
    close (c.pdeath_wr);
    c.pdeath_wr = -1;
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 1000, NULL)), 1);
    s_close (&c);
}

//  Bad configuration is permanent: exit 100, never ready.
static void
test_bad_config (void)
{
    const char *bad_flag [] = { "--heartbeat.ms", "abc", NULL };
    child_t c = s_spawn (true, 0, NULL, bad_flag);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 5000, NULL)), 100);
    CHECK (!s_wait_ready (&c, 0));
    s_close (&c);

    const char *unknown [] = { "--no-such-option", "1", NULL };
    c = s_spawn (true, 0, NULL, unknown);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 5000, NULL)), 100);
    s_close (&c);

    const char *bad_env [][2] = {
        { "ZM_WORKER_INDEX=5000", NULL },
        { "ZM_WORKER_INDEX=-1", NULL },
        { "ZM_READY_FD=abc", NULL },
        { "ZM_READY_FD=900", NULL },            //  not open
        { "ZM_PDEATH_FD=1", NULL },             //  stdout is not a pdeath pipe
        { "ZM_WORKER_NAME=bad/name", NULL },
        { "ZM_SUP_ENDPOINT=nonsense", NULL },
        { "ZM_HEARTBEAT_MS=10", NULL },         //  below the table's bound
    };
    for (size_t i = 0; i < sizeof bad_env / sizeof bad_env [0]; i++) {
        c = s_spawn (true, 0, bad_env [i], NULL);
        int code = s_exit_code (s_wait (&c, 5000, NULL));
        if (code != 100)
            fprintf (stderr, "%s: exit %d\n", bad_env [i][0], code);
        CHECK_EQ_INT (code, 100);
        s_close (&c);
    }
}

//  Control messages from the supervisor over the ROUTER.
static void
test_control (void)
{
    //  drain: answered, then drained, exit 0
    const char *env [] = { "ZM_PROBE_DRAIN_MS=200", NULL };
    child_t c = s_spawn (true, 1, env, NULL);
    CHECK (s_wait_ready (&c, 5000));
    proto_heartbeat_t hb;
    char id [256];
    CHECK (s_next_heartbeat (c.pid, 2000, &hb, id));        //  the peer is known to the ROUTER now
    proto_heartbeat_free (&hb);
    CHECK_EQ_STR (id, "zm_runtime_probe.1");

    //  garbage first: survived and counted
    CHECK_EQ_INT (zmqx_send_routed (s_router, (const uint8_t *) id, strlen (id),
                                    "\x93\x01\x02\xc1", 4, 1024, 0), 0);
    //  a heartbeat is not a control message
    CHECK_EQ_INT (zmqx_send_routed (s_router, (const uint8_t *) id, strlen (id),
                                    "\x93\x01\x01\x80", 4, 1024, 0), 0);
    //  reload: refused with a reason
    s_send_control (id, PROTO_CMD_RELOAD, 41);
    proto_control_reply_t reply;
    CHECK (s_next_reply (2000, &reply));
    CHECK_EQ_INT (reply.id, 41);
    CHECK (!reply.ok);
    CHECK (strstr (reply.message, "immutable"));
    proto_control_reply_free (&reply);
    const proto_metric_t *m;
    bool counted = false;
    for (int i = 0; i < 5 && !counted; i++) {
        CHECK (s_next_heartbeat (c.pid, 2000, &hb, id));
        m = s_metric (&hb, "zipmine_worker_control_messages_total", "malformed");
        counted = m && m->value == 2;
        proto_heartbeat_free (&hb);
    }
    CHECK (counted);
    CHECK (s_logged (&c, "control_malformed"));

    int64_t t0 = clock_mono_ms ();
    s_send_control (id, PROTO_CMD_DRAIN, 42);
    CHECK (s_next_reply (2000, &reply));
    CHECK_EQ_INT (reply.id, 42);
    CHECK (reply.ok);
    proto_control_reply_free (&reply);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 3000, NULL)), 0);
    int64_t took = clock_mono_ms () - t0;
    CHECK (took >= 190 && took < 2000);
    CHECK (s_logged (&c, "probe_drain_started"));
    CHECK (s_logged (&c, "probe_drained"));
    s_close (&c);

    //  stop: exit 0 at once even though the drain would never end
    const char *never [] = { "ZM_PROBE_DRAIN_MS=never", S_FAST_EXIT, NULL };
    c = s_spawn (true, 1, never, NULL);
    CHECK (s_wait_ready (&c, 5000));
    CHECK (s_next_heartbeat (c.pid, 2000, &hb, id));
    proto_heartbeat_free (&hb);
    t0 = clock_mono_ms ();
    s_send_control (id, PROTO_CMD_STOP, 43);
    CHECK (s_next_reply (2000, &reply));
    CHECK (reply.ok && reply.id == 43);
    proto_control_reply_free (&reply);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 0);
    CHECK (clock_mono_ms () - t0 < 500);
    CHECK (!s_logged (&c, "probe_drain_started"));
    s_close (&c);
}

//  Handler failures and worker_exit codes.
static void
test_handler_exit (void)
{
    char pull_env [300];
    snprintf (pull_env, sizeof pull_env, "ZM_PROBE_PULL=ipc://%s/probe_fail.ipc", s_dir);
    const char *env [] = { pull_env, NULL };
    char ep [300];
    snprintf (ep, sizeof ep, ">ipc://%s/probe_fail.ipc", s_dir);

    child_t c = s_spawn (true, 0, env, NULL);
    CHECK (s_wait_ready (&c, 5000));
    zsock_t *push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK (push);
    CHECK_EQ_INT (zmqx_send (push, "fail", 4, 1024, 0), 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 1);
    CHECK (s_logged (&c, "handler_failed"));
    zsock_destroy (&push);
    s_close (&c);

    c = s_spawn (true, 0, env, NULL);
    CHECK (s_wait_ready (&c, 5000));
    push = zmqx_new (ZMQ_PUSH, ep, NULL);
    CHECK_EQ_INT (zmqx_send (push, "exit100", 7, 1024, 0), 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 100);
    zsock_destroy (&push);
    s_close (&c);
}

//  Run by hand: no ZM_* variables, no supervisor.
static void
test_standalone (void)
{
    child_t c = s_spawn (false, 0, NULL, NULL);
    int64_t t0 = clock_mono_ms ();
    while (!s_logged (&c, "worker_ready") && clock_mono_ms () - t0 < 5000)
        usleep (20 * 1000);
    CHECK (s_logged (&c, "worker_ready"));
    CHECK (kill (c.pid, SIGINT) == 0);
    CHECK_EQ_INT (s_exit_code (s_wait (&c, 2000, NULL)), 0);
    //  no heartbeats reached our ROUTER from it
    proto_heartbeat_t hb;
    char id [256];
    CHECK (!s_next_heartbeat (c.pid, 300, &hb, id));
    //  the log proc name is the bare worker name
    FILE *f = fopen (c.log, "r");
    CHECK (f);
    char line [4096];
    CHECK (fgets (line, sizeof line, f));
    CHECK (strstr (line, "\"proc\":\"zm_runtime_probe\""));
    fclose (f);
    s_close (&c);
}

int
main (void)
{
    const char *build = TEST_ENV ("ZM_BUILD_DIR");
    snprintf (s_probe, sizeof s_probe, "%s/bin/zm_runtime_probe", build);
    CHECK (access (s_probe, X_OK) == 0);
    int devnull = open ("/dev/null", O_WRONLY);
    log_set_fd (devnull);
    zsys_handler_set (NULL);
    signal (SIGPIPE, SIG_IGN);
    snprintf (s_dir, sizeof s_dir, "/tmp/zm_wrt_XXXXXX");
    CHECK (mkdtemp (s_dir));
    snprintf (s_sup_ep, sizeof s_sup_ep, "ipc://%s/sup.ipc", s_dir);
    char bind [300];
    snprintf (bind, sizeof bind, "@%s", s_sup_ep);
    zmqx_opts_t opts = zmqx_opts_default ();
    opts.rcvtimeo_ms = 50;
    opts.linger_ms = 0;
    s_router = zmqx_new (ZMQ_ROUTER, bind, &opts);
    CHECK (s_router);

    test_ready_and_heartbeats ();
    test_sigterm_drain ();
    test_parent_death ();
    test_bad_config ();
    test_control ();
    test_handler_exit ();
    test_standalone ();

    zsock_destroy (&s_router);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    CHECK (system (cmd) == 0);
    close (devnull);
    TEST_DONE ();
}
