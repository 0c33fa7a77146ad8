/*  worker: the runtime loop of every worker process (see worker.h for the contract).

    One thread, one zmq_poll loop. Each iteration polls, in this order: the signalfd, the
    parent-death fd, the supervisor DEALER, then the registered readers; then runs the timers
    (tick, heartbeat, drain deadline). The poll timeout is the nearest timer, never more than
    WORKER_POLL_MAX_MS, so every exit condition is re-checked at least that often.

    Invariants:
      - SIGTERM/SIGINT/SIGHUP are blocked from worker_new on (before czmq starts any I/O
        thread, so no thread ever takes them) and only read from the signalfd; SIGPIPE is
        ignored so a write to a closed pipe or socket is an error return, not a death.
      - The readiness fd is written at most once and closed; the parent-death fd is only
        read; both are CLOEXEC so programs a worker runs (external scrapers) never hold them.
      - Readers live in a fixed table; removal only marks a slot, and the table is compacted
        at the start of an iteration, so handlers may add or remove readers safely.
      - Nothing the supervisor sends is trusted: control frames are size-capped and decoded
        with the proto codec; a bad frame is logged and counted, never fatal.             */
#include "common/worker.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/strbuf.h"
#include "common/zmqx.h"
#include "proto/control.h"
#include "proto/heartbeat.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define WORKER_READERS_MAX 32
//  Largest control frame accepted from the supervisor.
#define WORKER_CONTROL_MAX (64 * 1024)
//  Largest heartbeat sent.
#define WORKER_HEARTBEAT_MAX (1024 * 1024)
//  Control messages handled per iteration (the rest wait for the next one).
#define WORKER_CONTROL_BURST 16
//  Messages a socket reader is given per iteration before the loop moves on.
#define WORKER_READER_BURST 64
//  Longest reason kept per dependency (the heartbeat reason, "<dependency>: <reason>", is
//  cut to the codec's bound).
#define WORKER_DEP_REASON_MAX PROTO_HEARTBEAT_REASON_MAX

typedef struct {
    char name [WORKER_DEPENDENCY_NAME_MAX + 1];
    bool down;
    int64_t since;                  //  monotonic ms the outage began (valid while down)
    char reason [WORKER_DEP_REASON_MAX + 1];
    metrics_series_t *m_down;
    metrics_series_t *m_outages;
} s_dep_t;

typedef struct {
    zsock_t *sock;                  //  NULL for an fd reader
    int fd;
    worker_sock_fn *sock_fn;
    worker_fd_fn *fd_fn;
    void *arg;
    bool removed;
} s_reader_t;

struct _worker_t {
    char name [PROTO_NAME_MAX + 1];
    char id [PROTO_NAME_MAX + 16];
    int index;
    zm_config_t config;
    metrics_t *metrics;
    int64_t started_ms;             //  monotonic

    int sigfd;
    int pdeath_fd;                  //  -1 when not supervised
    int ready_fd;                   //  -1 once written, or when not supervised
    zsock_t *sup;                   //  DEALER to the supervisor, or NULL
    char sup_endpoint [ZMQX_ENDPOINT_MAX];

    worker_state_t state;
    bool done;
    int exit_code;
    const char *exit_reason;        //  static string

    s_reader_t readers [WORKER_READERS_MAX];
    size_t nreaders;

    worker_tick_fn *tick_fn;
    void *tick_arg;
    int64_t tick_ms;
    int64_t next_tick;

    worker_drain_fn *drain_fn;
    void *drain_arg;
    int64_t drain_deadline;         //  monotonic; valid while DRAINING

    int64_t heartbeat_ms;
    int64_t next_heartbeat;
    uint64_t heartbeat_seq;
    bool histograms_on_wire;        //  the heartbeat codec carries histogram rows
    bool omitted_logged;

    //  runtime metrics
    metrics_series_t *m_uptime;
    metrics_series_t *m_iterations;
    metrics_series_t *m_hb_sent;
    metrics_series_t *m_hb_dropped;
    metrics_series_t *m_hb_omitted;
    metrics_series_t *m_handler_errors;
    metrics_series_t *m_busy;
    metrics_series_t *m_ticks;
    metrics_series_t *m_state [3];
    metrics_family_t *m_control;

    //  dependency outages (worker_degraded / worker_recovered)
    s_dep_t deps [WORKER_DEPENDENCIES_MAX];
    size_t ndeps;
    size_t ndown;
    char degraded_reason [PROTO_HEARTBEAT_REASON_MAX + 1];
    metrics_family_t *m_dep_down;
    metrics_family_t *m_dep_outages;
};

//  ---------------------------------------------------------------------------------------
//  Set-up

//  Parses a non-negative decimal int from the environment; -1 when absent, -2 when bad.
static int
s_env_int (const char *name, int max)
{
    const char *value = getenv (name);
    if (!value || !*value)
        return -1;
    char *end;
    errno = 0;
    long v = strtol (value, &end, 10);
    if (errno || *end || v < 0 || v > max)
        return -2;
    return (int) v;
}

static void
s_config_exit (const char *key, const char *reason)
{
    fprintf (stderr, "config error: %s: %s\n", key, reason);
    log_error ("config_invalid", LS ("key", key), LS ("reason", reason));
    exit (EXIT_CONFIG);
}

//  Validates an inherited fd from ZM_<name>; returns it (CLOEXEC set) or -1 when unset.
static int
s_env_fd (const char *name)
{
    int fd = s_env_int (name, INT_MAX);
    if (fd == -1)
        return -1;
    if (fd < 0 || fd <= 2)
        s_config_exit (name, "not a file descriptor number above 2");
    int flags = fcntl (fd, F_GETFD);
    if (flags < 0)
        s_config_exit (name, "file descriptor is not open");
    fcntl (fd, F_SETFD, flags | FD_CLOEXEC);
    return fd;
}

static void
s_register_metrics (worker_t *self)
{
    metrics_t *m = self->metrics;
    self->m_uptime = metrics_series (metrics_gauge (m, "zipmine_worker_uptime_seconds",
        "Seconds since the worker process started", NULL));
    self->m_iterations = metrics_series (metrics_counter (m,
        "zipmine_worker_loop_iterations_total", "Iterations of the worker's poll loop", NULL));
    metrics_family_t *hb = metrics_counter (m, "zipmine_worker_heartbeats_total",
        "Heartbeats to the supervisor by outcome", "outcome");
    self->m_hb_sent = metrics_series (hb, "sent");
    self->m_hb_dropped = metrics_series (hb, "dropped");
    self->m_hb_omitted = metrics_series (metrics_counter (m,
        "zipmine_worker_heartbeat_rows_omitted_total",
        "Metric rows left out of heartbeats (over the codec's limit or not carried)", NULL));
    self->m_handler_errors = metrics_series (metrics_counter (m,
        "zipmine_worker_handler_errors_total", "Handlers or ticks that failed fatally", NULL));
    self->m_busy = metrics_series (metrics_counter (m, "zipmine_worker_busy_seconds_total",
        "Seconds spent in handlers and ticks", NULL));
    self->m_ticks = metrics_series (metrics_counter (m, "zipmine_worker_ticks_total",
        "Periodic ticks run", NULL));
    metrics_family_t *state = metrics_gauge (m, "zipmine_worker_state",
        "1 for the state the worker is in", "state");
    self->m_state [0] = metrics_series (state, "starting");
    self->m_state [1] = metrics_series (state, "ready");
    self->m_state [2] = metrics_series (state, "draining");
    self->m_control = metrics_counter (m, "zipmine_worker_control_messages_total",
        "Control messages from the supervisor by command", "command");
    self->m_dep_down = metrics_gauge (m, "zipmine_worker_dependency_down",
        "1 while the worker reports this dependency down (degraded)", "dependency");
    self->m_dep_outages = metrics_counter (m, "zipmine_worker_dependency_outages_total",
        "Outages of this dependency the worker reported", "dependency");
    assert (self->m_dep_down && self->m_dep_outages);
    assert (self->m_uptime && self->m_iterations && self->m_hb_sent && self->m_hb_omitted
            && self->m_handler_errors && self->m_busy && self->m_ticks && self->m_state [2]
            && self->m_control);
}

static void
s_set_state (worker_t *self, worker_state_t state)
{
    if (state != self->state)
        log_info ("worker_state", LS ("from", worker_state_name (self->state)),
                  LS ("to", worker_state_name (state)));
    self->state = state;
    for (int i = 0; i < 3; i++)
        metrics_set (self->m_state [i], (int) state == i + 1 ? 1 : 0);
}

worker_t *
worker_new (const char *name, int argc, char **argv)
{
    assert (name && proto_valid_name (name));
    //  Before anything can start a thread: the signals go to the signalfd only.
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    if (sigprocmask (SIG_BLOCK, &mask, NULL) != 0)
        return NULL;
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);

    worker_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->sigfd = -1;
    self->pdeath_fd = -1;
    self->ready_fd = -1;
    self->state = WORKER_STARTING;
    self->started_ms = clock_mono_ms ();

    const char *env_name = getenv ("ZM_WORKER_NAME");
    snprintf (self->name, sizeof self->name, "%s", env_name && *env_name ? env_name : name);
    log_set_proc (self->name);
    if (!proto_valid_name (self->name))
        s_config_exit ("ZM_WORKER_NAME", "must be [A-Za-z0-9_.-]{1,64}");
    int index = s_env_int ("ZM_WORKER_INDEX", PROTO_HEARTBEAT_INDEX_MAX);
    if (index == -2)
        s_config_exit ("ZM_WORKER_INDEX", "must be an integer in 0..1023");
    self->index = index < 0 ? 0 : index;
    const char *endpoint = getenv ("ZM_SUP_ENDPOINT");
    bool supervised = endpoint && *endpoint;
    if (supervised || index >= 0)
        snprintf (self->id, sizeof self->id, "%s.%d", self->name, self->index);
    else
        snprintf (self->id, sizeof self->id, "%s", self->name);
    log_set_proc (self->id);

    char usage [160];
    snprintf (usage, sizeof usage, "usage: %s [--config FILE] [--option value ...]", name);
    zm_config_load_or_exit (&self->config, argc, argv, usage);

    self->ready_fd = s_env_fd ("ZM_READY_FD");
    self->pdeath_fd = s_env_fd ("ZM_PDEATH_FD");
    if (self->pdeath_fd >= 0) {
        int flags = fcntl (self->pdeath_fd, F_GETFL);
        fcntl (self->pdeath_fd, F_SETFL, flags | O_NONBLOCK);
    }
    if (supervised) {
        if (strlen (endpoint) >= sizeof self->sup_endpoint || strchr (endpoint, ',')
        ||  !strstr (endpoint, "://"))
            s_config_exit ("ZM_SUP_ENDPOINT", "not a single ZeroMQ endpoint");
        snprintf (self->sup_endpoint, sizeof self->sup_endpoint, "%s", endpoint);
    }

    self->sigfd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->sigfd < 0) {
        log_error ("worker_setup_failed", LS ("what", "signalfd"), LS ("reason", strerror (errno)));
        worker_destroy (&self);
        return NULL;
    }
    self->metrics = metrics_new ();
    s_register_metrics (self);
    s_set_state (self, WORKER_STARTING);
    self->histograms_on_wire =
        strcmp (proto_metric_type_name (METRICS_HISTOGRAM), "unknown") != 0;

    self->heartbeat_ms = self->config.heartbeat_ms;
    if (supervised) {
        zmqx_opts_t opts = zmqx_opts_default ();
        opts.linger_ms = 0;             //  heartbeats are worthless once we are gone
        opts.sndhwm = 16;
        opts.rcvhwm = 64;
        opts.sndtimeo_ms = 0;
        opts.rcvtimeo_ms = 0;
        opts.maxmsgsize = WORKER_CONTROL_MAX;
        opts.immediate = true;          //  drop, don't queue, while the supervisor is away
        opts.routing_id = self->id;
        char connect [ZMQX_ENDPOINT_MAX + 1];
        snprintf (connect, sizeof connect, ">%s", self->sup_endpoint);
        self->sup = zmqx_new (ZMQ_DEALER, connect, &opts);
        if (!self->sup) {
            worker_destroy (&self);
            return NULL;
        }
    }
    self->next_heartbeat = clock_mono_ms ();
    log_info ("worker_started", LS ("worker", self->name), LI ("index", self->index),
              LB ("supervised", supervised),
              LI ("heartbeat_ms", self->heartbeat_ms),
              LI ("shutdown_budget_ms", self->config.shutdown_budget_ms));
    return self;
}

void
worker_destroy (worker_t **self_p)
{
    assert (self_p);
    worker_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->sup);
    if (self->sigfd >= 0)
        close (self->sigfd);
    if (self->pdeath_fd >= 0)
        close (self->pdeath_fd);
    if (self->ready_fd >= 0)
        close (self->ready_fd);
    metrics_destroy (&self->metrics);
    zm_config_free (&self->config);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------------------
//  Accessors

const zm_config_t *
worker_config (worker_t *self)
{
    assert (self);
    return &self->config;
}

metrics_t *
worker_metrics (worker_t *self)
{
    assert (self);
    return self->metrics;
}

const char *
worker_name (worker_t *self)
{
    assert (self);
    return self->name;
}

int
worker_index (worker_t *self)
{
    assert (self);
    return self->index;
}

const char *
worker_id (worker_t *self)
{
    assert (self);
    return self->id;
}

worker_state_t
worker_state (worker_t *self)
{
    assert (self);
    return self->state;
}

const char *
worker_state_name (worker_state_t state)
{
    switch (state) {
        case WORKER_STARTING: return "starting";
        case WORKER_READY:    return "ready";
        case WORKER_DRAINING: return "draining";
    }
    return "unknown";
}

bool
worker_supervised (worker_t *self)
{
    assert (self);
    return self->sup != NULL;
}

int64_t
worker_uptime_ms (worker_t *self)
{
    assert (self);
    return clock_mono_ms () - self->started_ms;
}

void
worker_child_reset_signals (void)
{
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    sigprocmask (SIG_UNBLOCK, &mask, NULL);
    signal (SIGPIPE, SIG_DFL);
}

//  ---------------------------------------------------------------------------------------
//  Registration

static s_reader_t *
s_reader_slot (worker_t *self)
{
    size_t live = 0;
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers [i].removed)
            live++;
    if (live >= WORKER_READERS_MAX || self->nreaders >= WORKER_READERS_MAX)
        return NULL;
    s_reader_t *reader = &self->readers [self->nreaders++];
    memset (reader, 0, sizeof *reader);
    reader->fd = -1;
    return reader;
}

//  Drops the slots marked removed (between iterations only).
static void
s_readers_compact (worker_t *self)
{
    size_t k = 0;
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers [i].removed)
            self->readers [k++] = self->readers [i];
    self->nreaders = k;
}

int
worker_add_reader (worker_t *self, zsock_t *sock, worker_sock_fn *handler, void *arg)
{
    assert (self && sock && handler);
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers [i].removed && self->readers [i].sock == sock)
            return -1;
    //  Compacting here is safe only outside the loop's dispatch; slot reuse waits otherwise.
    s_reader_t *reader = s_reader_slot (self);
    if (!reader)
        return -1;
    reader->sock = sock;
    reader->sock_fn = handler;
    reader->arg = arg;
    return 0;
}

int
worker_remove_reader (worker_t *self, zsock_t *sock)
{
    assert (self && sock);
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers [i].removed && self->readers [i].sock == sock) {
            self->readers [i].removed = true;
            return 0;
        }
    return -1;
}

int
worker_add_fd (worker_t *self, int fd, worker_fd_fn *handler, void *arg)
{
    assert (self && fd >= 0 && handler);
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers [i].removed && !self->readers [i].sock && self->readers [i].fd == fd)
            return -1;
    s_reader_t *reader = s_reader_slot (self);
    if (!reader)
        return -1;
    reader->fd = fd;
    reader->fd_fn = handler;
    reader->arg = arg;
    return 0;
}

int
worker_remove_fd (worker_t *self, int fd)
{
    assert (self);
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers [i].removed && !self->readers [i].sock && self->readers [i].fd == fd) {
            self->readers [i].removed = true;
            return 0;
        }
    return -1;
}

void
worker_set_tick (worker_t *self, int64_t interval_ms, worker_tick_fn *tick, void *arg)
{
    assert (self);
    assert (!tick || interval_ms > 0);
    self->tick_fn = tick;
    self->tick_arg = arg;
    self->tick_ms = interval_ms;
    self->next_tick = clock_mono_ms () + interval_ms;
}

void
worker_set_drain (worker_t *self, worker_drain_fn *drain, void *arg)
{
    assert (self);
    self->drain_fn = drain;
    self->drain_arg = arg;
}

//  ---------------------------------------------------------------------------------------
//  Lifecycle

static void
s_finish (worker_t *self, int code, const char *reason)
{
    if (self->done)
        return;
    self->done = true;
    self->exit_code = code;
    self->exit_reason = reason;
}

static void s_heartbeat (worker_t *self);

void
worker_ready (worker_t *self)
{
    assert (self);
    if (self->state != WORKER_STARTING)
        return;
    if (self->ready_fd >= 0) {
        ssize_t n;
        do
            n = write (self->ready_fd, "\n", 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            log_warn ("readiness_write_failed", LS ("reason", strerror (errno)));
        close (self->ready_fd);
        self->ready_fd = -1;
    }
    s_set_state (self, WORKER_READY);
    log_info ("worker_ready", LI ("startup_ms", worker_uptime_ms (self)),
              LB ("supervised", self->sup != NULL));
    s_heartbeat (self);
}

void
worker_drained (worker_t *self)
{
    assert (self);
    s_finish (self, EXIT_CLEAN, self->state == WORKER_DRAINING ? "drained" : "done");
}

void
worker_exit (worker_t *self, int exit_code)
{
    assert (self);
    s_finish (self, exit_code, "worker_exit");
}

void
worker_drain (worker_t *self)
{
    assert (self);
    if (self->state == WORKER_DRAINING || self->done)
        return;
    int64_t budget = self->config.shutdown_budget_ms;
    //  Keep a tenth of the budget (200 ms .. 1 s, at most half) to tear down and be reaped
    //  before the supervisor's SIGKILL.
    int64_t margin = budget / 10;
    margin = margin < 200 ? 200 : margin > 1000 ? 1000 : margin;
    if (margin > budget / 2)
        margin = budget / 2;
    self->drain_deadline = clock_mono_ms () + budget - margin;
    s_set_state (self, WORKER_DRAINING);
    log_info ("worker_draining", LI ("budget_ms", budget), LB ("has_drain", self->drain_fn != NULL));
    s_heartbeat (self);
    if (self->drain_fn)
        self->drain_fn (self, self->drain_arg);
    else
        s_finish (self, EXIT_CLEAN, "drained");
}

//  ---------------------------------------------------------------------------------------
//  Dependency outages

static bool
s_dep_name_valid (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > WORKER_DEPENDENCY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s [i] >= 'a' && s [i] <= 'z') || (s [i] >= '0' && s [i] <= '9') || s [i] == '_'))
            return false;
    return true;
}

static s_dep_t *
s_dep (worker_t *self, const char *name, bool create)
{
    assert (name && s_dep_name_valid (name));
    for (size_t i = 0; i < self->ndeps; i++)
        if (strcmp (self->deps [i].name, name) == 0)
            return &self->deps [i];
    if (!create)
        return NULL;
    assert (self->ndeps < WORKER_DEPENDENCIES_MAX);
    s_dep_t *d = &self->deps [self->ndeps++];
    snprintf (d->name, sizeof d->name, "%s", name);
    d->m_down = metrics_series (self->m_dep_down, name);
    d->m_outages = metrics_series (self->m_dep_outages, name);
    return d;
}

//  Rebuilds the heartbeat reason: the oldest outage, and how many more there are.
static void
s_degraded_reason (worker_t *self)
{
    self->degraded_reason [0] = 0;
    const s_dep_t *oldest = NULL;
    for (size_t i = 0; i < self->ndeps; i++)
        if (self->deps [i].down && (!oldest || self->deps [i].since < oldest->since))
            oldest = &self->deps [i];
    if (!oldest)
        return;
    char more [32] = "";
    if (self->ndown > 1)
        snprintf (more, sizeof more, " (+%zu more)", self->ndown - 1);
    //  "<name>: <reason>" cut so that the count still fits within the codec's bound.
    strbuf_t b = STRBUF_INIT;
    strbuf_addf (&b, "%s: %s", oldest->name, oldest->reason);
    size_t keep = sizeof self->degraded_reason - 1 - strlen (more);
    if (b.len > keep)
        b.len = keep;
    memcpy (self->degraded_reason, b.data, b.len);
    memcpy (self->degraded_reason + b.len, more, strlen (more) + 1);
    strbuf_reset (&b);
}

void
worker_degraded (worker_t *self, const char *dependency, const char *reason)
{
    assert (self);
    s_dep_t *d = s_dep (self, dependency, true);
    //  Untrusted text (an HTTP body, a libcurl message): printable ASCII only, bounded.
    const char *src = reason && *reason ? reason : "unavailable";
    size_t n = 0;
    for (; src [n] && n < WORKER_DEP_REASON_MAX; n++) {
        unsigned char c = (unsigned char) src [n];
        d->reason [n] = c >= 0x20 && c <= 0x7e ? (char) c : '?';
    }
    d->reason [n] = 0;
    bool was_degraded = self->ndown > 0;
    if (!d->down) {
        d->down = true;
        d->since = clock_mono_ms ();
        self->ndown++;
        metrics_set (d->m_down, 1);
        metrics_inc (d->m_outages);
        log_warn ("worker_degraded", LS ("dependency", d->name), LS ("reason", d->reason),
                  LI ("down", (int64_t) self->ndown));
    }
    s_degraded_reason (self);
    if (!was_degraded && self->state == WORKER_READY)
        s_heartbeat (self);
}

void
worker_recovered (worker_t *self, const char *dependency)
{
    assert (self);
    s_dep_t *d = s_dep (self, dependency, false);
    if (!d || !d->down)
        return;
    d->down = false;
    self->ndown--;
    metrics_set (d->m_down, 0);
    log_info ("worker_recovered", LS ("dependency", d->name),
              LI ("outage_ms", clock_mono_ms () - d->since), LI ("down", (int64_t) self->ndown));
    s_degraded_reason (self);
    if (self->ndown == 0 && self->state == WORKER_READY)
        s_heartbeat (self);
}

bool
worker_is_degraded (worker_t *self)
{
    assert (self);
    return self->ndown > 0;
}

const char *
worker_degraded_reason (worker_t *self)
{
    assert (self);
    return self->degraded_reason;
}

//  ---------------------------------------------------------------------------------------
//  Heartbeats and control

static void
s_heartbeat (worker_t *self)
{
    self->next_heartbeat = clock_mono_ms () + self->heartbeat_ms;
    if (!self->sup)
        return;
    metrics_set (self->m_uptime, (double) worker_uptime_ms (self) / 1000.0);
    metrics_sample_t *rows = NULL;
    ssize_t nrows = metrics_samples (self->metrics, &rows);
    proto_metric_t *wire = NULL;
    size_t nwire = 0, omitted = 0;
    if (nrows > 0) {
        wire = calloc ((size_t) nrows, sizeof *wire);
        if (!wire)
            abort ();
        for (ssize_t i = 0; i < nrows; i++) {
            const metrics_sample_t *row = &rows [i];
            if ((row->type == METRICS_HISTOGRAM && !self->histograms_on_wire)
            ||  nwire == PROTO_METRICS_MAX || row->nlabels > PROTO_LABELS_MAX) {
                omitted++;
                continue;
            }
            proto_metric_t *m = &wire [nwire++];
            m->name = row->name;
            m->type = (int) row->type;
            m->value = row->value;
            m->help = row->help;
            m->nlabels = row->nlabels;
            for (size_t j = 0; j < row->nlabels; j++) {
                m->labels [j].name = row->labels [j].name;
                m->labels [j].value = row->labels [j].value;
            }
        }
    }
    if (omitted) {
        metrics_add (self->m_hb_omitted, (double) omitted);
        if (!self->omitted_logged) {
            self->omitted_logged = true;
            log_warn ("heartbeat_rows_omitted", LI ("omitted", omitted), LI ("rows", nrows),
                      LI ("max", PROTO_METRICS_MAX),
                      LB ("histograms_on_wire", self->histograms_on_wire));
        }
    }
    proto_heartbeat_t hb;
    memset (&hb, 0, sizeof hb);
    snprintf (hb.worker, sizeof hb.worker, "%s", self->name);
    hb.index = (uint32_t) self->index;
    hb.pid = (int32_t) getpid ();
    hb.seq = ++self->heartbeat_seq;
    hb.state = (int) self->state;
    if (self->state == WORKER_READY && self->ndown > 0) {
        hb.state = PROTO_WORKER_DEGRADED;
        snprintf (hb.reason, sizeof hb.reason, "%s", self->degraded_reason);
    }
    hb.uptime_ms = (uint64_t) worker_uptime_ms (self);
    hb.nmetrics = nwire;
    hb.metrics = wire;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    int rc = proto_heartbeat_encode (&hb, &sbuf, &err);
    if (rc != 0) {
        //  A metric the codec refuses must not silence the heartbeat itself.
        log_warn ("heartbeat_encode_failed", LS ("reason", err.reason));
        hb.nmetrics = 0;
        hb.metrics = NULL;
        rc = proto_heartbeat_encode (&hb, &sbuf, &err);
    }
    if (rc == 0)
        rc = zmqx_send_sbuf (self->sup, &sbuf, WORKER_HEARTBEAT_MAX, ZMQ_DONTWAIT);
    if (rc == 0)
        metrics_inc (self->m_hb_sent);
    else {
        metrics_inc (self->m_hb_dropped);
        log_debug ("heartbeat_dropped", LI ("seq", hb.seq), LI ("rc", rc));
    }
    msgpack_sbuffer_destroy (&sbuf);
    free (wire);
    free (rows);
}

static void
s_control_reply (worker_t *self, uint64_t id, bool ok, const char *message)
{
    proto_control_reply_t reply;
    memset (&reply, 0, sizeof reply);
    reply.id = id;
    reply.ok = ok;
    snprintf (reply.message, sizeof reply.message, "%s", message);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    proto_err_t err;
    if (proto_control_reply_encode (&reply, &sbuf, &err) == 0
    &&  zmqx_send_sbuf (self->sup, &sbuf, WORKER_CONTROL_MAX, ZMQ_DONTWAIT) != 0)
        log_warn ("control_reply_dropped", LI ("id", id));
    msgpack_sbuffer_destroy (&sbuf);
}

static void
s_control (worker_t *self, const uint8_t *data, size_t size)
{
    proto_control_t msg;
    proto_err_t err;
    if (proto_control_decode (data, size, &msg, &err) != 0) {
        metrics_inc (metrics_series (self->m_control, "malformed"));
        log_warn ("control_malformed", LS ("reason", err.reason), LI ("offset", err.offset),
                  LI ("bytes", size));
        return;
    }
    const char *command = proto_command_name (msg.cmd);
    log_info ("control_received", LS ("command", command), LI ("id", msg.id));
    switch (msg.cmd) {
        case PROTO_CMD_DRAIN:
            metrics_inc (metrics_series (self->m_control, "drain"));
            s_control_reply (self, msg.id, true, "draining");
            worker_drain (self);
            break;
        case PROTO_CMD_STOP:
            metrics_inc (metrics_series (self->m_control, "stop"));
            s_control_reply (self, msg.id, true, "stopping");
            s_finish (self, EXIT_CLEAN, "stop_command");
            break;
        case PROTO_CMD_RELOAD:
            metrics_inc (metrics_series (self->m_control, "reload"));
            s_control_reply (self, msg.id, false,
                             "reload is not supported: configuration is immutable, restart");
            break;
        default:
            metrics_inc (metrics_series (self->m_control, "other"));
            s_control_reply (self, msg.id, false, "not a worker command");
            break;
    }
    proto_control_free (&msg);
}

static void
s_read_supervisor (worker_t *self)
{
    for (int i = 0; i < WORKER_CONTROL_BURST && !self->done; i++) {
        zmqx_frame_t frame;
        int rc = zmqx_recv (self->sup, &frame, WORKER_CONTROL_MAX, ZMQ_DONTWAIT);
        if (rc == RC_RETRY)
            return;
        if (rc == RC_MALFORMED) {
            metrics_inc (metrics_series (self->m_control, "malformed"));
            log_warn ("control_malformed", LS ("reason", "multi-part or over-size frame"));
            continue;
        }
        if (rc != 0) {
            log_error ("control_socket_failed", LS ("reason", zmq_strerror (zmq_errno ())));
            return;
        }
        int type = 0;
        proto_err_t err;
        if (proto_peek_type (zmqx_frame_data (&frame), zmqx_frame_size (&frame), &type, &err) != 0
        ||  type != PROTO_CONTROL) {
            metrics_inc (metrics_series (self->m_control, "malformed"));
            log_warn ("control_malformed", LS ("reason", type ? "not a control message"
                                                              : err.reason));
        }
        else
            s_control (self, zmqx_frame_data (&frame), zmqx_frame_size (&frame));
        zmqx_frame_close (&frame);
    }
}

static void
s_read_signals (worker_t *self)
{
    struct signalfd_siginfo info;
    while (read (self->sigfd, &info, sizeof info) == (ssize_t) sizeof info) {
        int signo = (int) info.ssi_signo;
        if (signo == SIGHUP) {
            log_info ("signal_ignored", LS ("signal", "SIGHUP"),
                      LS ("reason", "configuration is immutable"));
            continue;
        }
        const char *signame = signo == SIGTERM ? "SIGTERM" : "SIGINT";
        if (self->state == WORKER_DRAINING) {
            log_warn ("signal_received", LS ("signal", signame), LS ("action", "exit_now"));
            s_finish (self, EXIT_TRANSIENT, "second_signal");
            return;
        }
        log_info ("signal_received", LS ("signal", signame), LS ("action", "drain"),
                  LI ("from_pid", info.ssi_pid));
        worker_drain (self);
    }
}

//  EOF or an error on the parent-death pipe: the supervisor is gone.
static void
s_read_pdeath (worker_t *self)
{
    char buf [64];
    ssize_t n = read (self->pdeath_fd, buf, sizeof buf);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
        return;                         //  nobody writes; data is ignored
    log_warn ("parent_died", LS ("action", "exit_now"));
    s_finish (self, EXIT_TRANSIENT, "parent_died");
}

//  ---------------------------------------------------------------------------------------
//  The loop

static void
s_handler_failed (worker_t *self, const char *what)
{
    metrics_inc (self->m_handler_errors);
    log_error ("handler_failed", LS ("what", what));
    s_finish (self, EXIT_TRANSIENT, "handler_failed");
}

int
worker_run (worker_t *self)
{
    assert (self);
    enum { MAX_ITEMS = WORKER_READERS_MAX + 3 };
    zmq_pollitem_t items [MAX_ITEMS];
    size_t slot_of [MAX_ITEMS];         //  reader slot of each item, for items >= first

    while (!self->done) {
        s_readers_compact (self);
        size_t n = 0;
        items [n++] = (zmq_pollitem_t) { .fd = self->sigfd, .events = ZMQ_POLLIN };
        size_t i_pdeath = SIZE_MAX, i_sup = SIZE_MAX;
        if (self->pdeath_fd >= 0) {
            i_pdeath = n;
            items [n++] = (zmq_pollitem_t) { .fd = self->pdeath_fd, .events = ZMQ_POLLIN };
        }
        if (self->sup) {
            i_sup = n;
            items [n++] = (zmq_pollitem_t) { .socket = zsock_resolve (self->sup),
                                             .events = ZMQ_POLLIN };
        }
        size_t first = n;
        for (size_t r = 0; r < self->nreaders; r++) {
            s_reader_t *reader = &self->readers [r];
            slot_of [n] = r;
            if (reader->sock)
                items [n++] = (zmq_pollitem_t) { .socket = zsock_resolve (reader->sock),
                                                 .events = ZMQ_POLLIN };
            else
                items [n++] = (zmq_pollitem_t) { .fd = reader->fd, .events = ZMQ_POLLIN };
        }

        int64_t now = clock_mono_ms ();
        int64_t wake = now + WORKER_POLL_MAX_MS;
        if (self->sup && self->next_heartbeat < wake)
            wake = self->next_heartbeat;
        if (self->tick_fn && self->next_tick < wake)
            wake = self->next_tick;
        if (self->state == WORKER_DRAINING && self->drain_deadline < wake)
            wake = self->drain_deadline;
        long timeout = wake > now ? (long) (wake - now) : 0;

        int rc = zmq_poll (items, (int) n, timeout);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            log_error ("poll_failed", LS ("reason", zmq_strerror (zmq_errno ())));
            s_finish (self, EXIT_TRANSIENT, "poll_failed");
            break;
        }
        metrics_inc (self->m_iterations);
        if (items [0].revents)
            s_read_signals (self);
        if (i_pdeath != SIZE_MAX && items [i_pdeath].revents && !self->done)
            s_read_pdeath (self);
        if (self->done)
            break;
        if (i_sup != SIZE_MAX && items [i_sup].revents)
            s_read_supervisor (self);

        int64_t busy_from = clock_mono_ms ();
        for (size_t k = first; k < n && !self->done; k++) {
            if (!items [k].revents)
                continue;
            s_reader_t *reader = &self->readers [slot_of [k]];
            if (reader->removed)
                continue;
            if (reader->sock) {
                //  Up to a burst of messages, so one busy socket cannot starve the others.
                for (int b = 0; b < WORKER_READER_BURST && !reader->removed && !self->done; b++) {
                    if (reader->sock_fn (self, reader->sock, reader->arg) != 0) {
                        s_handler_failed (self, "socket_reader");
                        break;
                    }
                    if (!(zsock_events (reader->sock) & ZMQ_POLLIN))
                        break;
                }
            }
            else
            if (reader->fd_fn (self, reader->fd, reader->arg) != 0)
                s_handler_failed (self, "fd_reader");
        }
        now = clock_mono_ms ();
        if (self->tick_fn && now >= self->next_tick && !self->done) {
            //  After a stall, the next tick is one interval from now, not a burst of ticks.
            self->next_tick += self->tick_ms;
            if (self->next_tick <= now)
                self->next_tick = now + self->tick_ms;
            metrics_inc (self->m_ticks);
            if (self->tick_fn (self, self->tick_arg) != 0)
                s_handler_failed (self, "tick");
            now = clock_mono_ms ();
        }
        metrics_add (self->m_busy, (double) (now - busy_from) / 1000.0);
        if (self->done)
            break;
        if (now >= self->next_heartbeat)
            s_heartbeat (self);
        if (self->state == WORKER_DRAINING && now >= self->drain_deadline) {
            log_warn ("drain_timeout", LI ("budget_ms", self->config.shutdown_budget_ms));
            s_finish (self, EXIT_TRANSIENT, "drain_timeout");
        }
    }
    log_info ("worker_exit", LI ("code", self->exit_code),
              LS ("reason", self->exit_reason ? self->exit_reason : "?"),
              LI ("uptime_ms", worker_uptime_ms (self)));
    return self->exit_code;
}
