/*  sup: zipmined's supervisor loop (see sup.h for the state machine).

    Ownership and invariants:
      - self->children is sorted by (spec order, instance index): start order; stop order is
        the reverse. Each child_t is heap-allocated and owned by that array.
      - A child has pid > 0 exactly in STARTING, READY and STOPPING. ready_fd >= 0 only while
        STARTING (until "\n" or EOF arrives).
      - `then` says what happens when a STOPPING child is reaped: DOWN (node stop), START
        (operator restart), BACKOFF (killed for a missed deadline: a crash restart) or RETIRE
        (scaled away: the child is removed).
      - The parent-death pipe is shared: every child gets its read end as fd 4; only this
        process holds the write end, so when it dies every child sees EOF.
      - Nothing here runs in a signal handler: SIGCHLD, SIGTERM, SIGINT and SIGHUP are blocked
        (before the ZeroMQ context creates its threads) and read from a signalfd.        */
#include "supervisor/sup.h"
#include "supervisor/sup_http.h"
#include "supervisor/sup_spec.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "proto/control.h"
#include "proto/heartbeat.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

extern char **environ;

//  Fixed fd numbers in every child (the contract passes them in ZM_READY_FD/ZM_PDEATH_FD).
#define S_CHILD_READY_FD    3
#define S_CHILD_PDEATH_FD   4
//  Largest heartbeat / control frame accepted (libzmq drops a peer announcing more).
#define S_HB_FRAME_MAX      (1024 * 1024)
#define S_CTL_FRAME_MAX     (64 * 1024)
//  After SIGKILLing stragglers, how long the node waits for the kernel to reap them.
#define S_REAP_GRACE_MS     2000
#define S_ENDPOINT_MAX      256

typedef enum {
    S_DOWN = 0, S_STARTING, S_READY, S_STOPPING, S_BACKOFF, S_FAILED, S_NSTATES
} s_state_t;

static const char *s_state_names [S_NSTATES] = {
    "DOWN", "STARTING", "READY", "STOPPING", "BACKOFF", "FAILED"
};
static const char *s_state_lower [S_NSTATES] = {
    "down", "starting", "ready", "stopping", "backoff", "failed"
};

typedef enum { THEN_DOWN, THEN_START, THEN_BACKOFF, THEN_RETIRE } s_then_t;

typedef struct {
    char name [SUP_NAME_MAX + 1];
    int index;
    char id [SUP_NAME_MAX + 16];    //  "name.index": log name and heartbeat routing id
    int spec;                       //  index into self->specs
    s_state_t state;
    int64_t state_at;               //  mono ms of the last transition
    pid_t pid;                      //  > 0 while STARTING, READY, STOPPING
    int ready_fd;                   //  read end of the readiness pipe while STARTING
    int64_t deadline;               //  STARTING: ready timeout; STOPPING: SIGKILL; BACKOFF: start
    bool killed;                    //  SIGKILL sent to the current pid
    s_then_t then;                  //  what to do when a STOPPING child is reaped
    bool spawned;                   //  spawned at least once (later spawns are restarts)
    bool roll_pending;              //  waiting for its turn in a rolling restart
    bool roll_active;               //  its turn: restarting until READY (or it fails)
    int64_t started_at;             //  mono ms of the last spawn
    int64_t ready_at;               //  mono ms it became READY (0: not READY)
    int64_t ready_wall;             //  unix ms it became READY (0: not READY)
    int64_t hb_at;                  //  mono ms of the last heartbeat from this pid (0: none)
    backoff_t backoff;
    uint32_t restarts;
    char last_exit [PROTO_EXIT_MAX + 1];
    bool have_hb;
    proto_heartbeat_t hb;           //  last heartbeat of the current pid (owned)
} s_child_t;

struct _sup_t {
    const zm_config_t *config;
    sup_spec_t specs [SUP_SPEC_MAX];
    int nspecs;
    char bin_dir [PATH_MAX];
    char node_dir [PATH_MAX];
    char **child_argv;              //  [path slot, argv [1..], NULL]
    s_child_t **children;
    size_t nchildren;
    size_t children_cap;
    int sigfd;
    int pdeath_rd;
    int pdeath_wr;
    int lock_fd;
    void *zctx;
    void *hb_sock;
    void *ctl_sock;
    char hb_endpoint [S_ENDPOINT_MAX];
    char ctl_endpoint [S_ENDPOINT_MAX];
    sup_http_t *http;
    int64_t started_at;             //  mono
    int64_t started_wall;
    bool stopping;
    int exit_code;
    int64_t stop_deadline;          //  SIGKILL everything still alive after this
    int64_t *ring;                  //  times of recent crash restarts (restart.intensity + 1)
    size_t ring_size;
    size_t ring_head;
    size_t ring_count;
    uint64_t node_restarts;
    sigset_t old_mask;
};

static void s_node_stop (sup_t *self, int exit_code, const char *reason);

//  ---------------------------------------------------------------------------------------
//  Small helpers

static void
s_fmt (char *buf, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
s_fmt (char *buf, size_t size, const char *format, ...)
{
    va_list ap;
    va_start (ap, format);
    vsnprintf (buf, size, format, ap);
    va_end (ap);
}

static bool
s_spec_required (sup_t *self, int spec)
{
    return !self->specs [spec].optional;
}

static int
s_spec_find (sup_t *self, const char *name)
{
    for (int i = 0; i < self->nspecs; i++)
        if (strcmp (self->specs [i].name, name) == 0)
            return i;
    return -1;
}

static void
s_exit_text (int status, char *buf, size_t size)
{
    if (WIFEXITED (status)) {
        int code = WEXITSTATUS (status);
        const char *what = code == EXIT_CLEAN ? " (clean)"
                         : code == EXIT_TRANSIENT ? " (transient)"
                         : code == EXIT_CONFIG ? " (config)" : "";
        s_fmt (buf, size, "exit %d%s", code, what);
    }
    else
    if (WIFSIGNALED (status))
        s_fmt (buf, size, "signal %d%s", WTERMSIG (status),
               WCOREDUMP (status) ? " (core dumped)" : "");
    else
        s_fmt (buf, size, "status %d", status);
}

//  ---------------------------------------------------------------------------------------
//  The one state transition function

static void
s_set_state (sup_t *self, s_child_t *c, s_state_t to, const char *reason)
{
    s_state_t from = c->state;
    c->state = to;
    //  A rolling restart moves to the next instance once this one is READY again, or has
    //  failed to come back (BACKOFF, FAILED): never wait on a child that cannot recover.
    if (to == S_READY || to == S_BACKOFF || to == S_FAILED || (to == S_DOWN && self->stopping))
        c->roll_active = false;
    c->state_at = clock_mono_ms ();
    if (to != S_READY) {
        c->ready_at = 0;
        c->ready_wall = 0;
    }
    log_write (to == S_FAILED ? LOGL_ERROR : LOGL_INFO, "child_state",
               (const log_field_t []) {
                   LS ("worker", c->id), LI ("child_pid", c->pid),
                   LS ("from", s_state_names [from]), LS ("to", s_state_names [to]),
                   LS ("reason", reason) }, 5);
}

//  ---------------------------------------------------------------------------------------
//  Children table

static s_child_t *
s_child_find (sup_t *self, const char *name, int index)
{
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        if (c->index == index && strcmp (c->name, name) == 0)
            return c;
    }
    return NULL;
}

static s_child_t *
s_child_by_id (sup_t *self, const char *id, size_t len)
{
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        if (strlen (c->id) == len && memcmp (c->id, id, len) == 0)
            return c;
    }
    return NULL;
}

static s_child_t *
s_child_by_pid (sup_t *self, pid_t pid)
{
    for (size_t i = 0; i < self->nchildren; i++)
        if (self->children [i]->pid == pid)
            return self->children [i];
    return NULL;
}

//  Adds a DOWN child for spec/index at its place in start order.
static s_child_t *
s_child_add (sup_t *self, int spec, int index)
{
    s_child_t *c = calloc (1, sizeof *c);
    if (!c)
        abort ();
    snprintf (c->name, sizeof c->name, "%s", self->specs [spec].name);
    c->index = index;
    snprintf (c->id, sizeof c->id, "%s.%d", c->name, index);
    c->spec = spec;
    c->state = S_DOWN;
    c->state_at = clock_mono_ms ();
    c->ready_fd = -1;
    //  A seed of its own per child (FNV-1a of "name.index", mixed with the clock), so that
    //  children failing together (a shared dependency went away) do not come back in step.
    uint64_t seed = 1469598103934665603ULL ^ (uint64_t) clock_wall_ms ();
    for (const char *p = c->id; *p; p++)
        seed = (seed ^ (uint8_t) *p) * 1099511628211ULL;
    backoff_init (&c->backoff, self->config->restart_base_ms, self->config->restart_cap_ms,
                  seed ? seed : 1);
    if (self->nchildren == self->children_cap) {
        self->children_cap = self->children_cap ? self->children_cap * 2 : 16;
        self->children = realloc (self->children, self->children_cap * sizeof *self->children);
        if (!self->children)
            abort ();
    }
    size_t at = self->nchildren;
    while (at > 0) {
        s_child_t *prev = self->children [at - 1];
        if (prev->spec < spec || (prev->spec == spec && prev->index < index))
            break;
        at--;
    }
    memmove (self->children + at + 1, self->children + at,
             (self->nchildren - at) * sizeof *self->children);
    self->children [at] = c;
    self->nchildren++;
    return c;
}

//  READY and its last heartbeat reports a dependency outage (DEGRADED is READY for liveness:
//  heartbeats still count and nothing restarts it; only readiness changes).
static bool
s_child_degraded (const s_child_t *c)
{
    return c->state == S_READY && c->have_hb && c->hb.state == PROTO_WORKER_DEGRADED;
}

static void
s_child_forget_hb (s_child_t *c)
{
    if (c->have_hb)
        proto_heartbeat_free (&c->hb);
    memset (&c->hb, 0, sizeof c->hb);
    c->have_hb = false;
    c->hb_at = 0;
}

static void
s_child_remove (sup_t *self, s_child_t *c)
{
    assert (c->pid == 0);
    log_info ("child_removed", LS ("worker", c->id));
    for (size_t i = 0; i < self->nchildren; i++)
        if (self->children [i] == c) {
            memmove (self->children + i, self->children + i + 1,
                     (self->nchildren - i - 1) * sizeof *self->children);
            self->nchildren--;
            break;
        }
    if (c->ready_fd >= 0)
        close (c->ready_fd);
    s_child_forget_hb (c);
    free (c);
}

//  ---------------------------------------------------------------------------------------
//  Restart intensity

//  Records one crash restart; returns true (having started the node stop) when there were
//  more than restart.intensity of them within restart.period.ms.
static bool
s_count_restart (sup_t *self, s_child_t *c)
{
    int64_t now = clock_mono_ms ();
    self->node_restarts++;
    self->ring [self->ring_head] = now;
    self->ring_head = (self->ring_head + 1) % self->ring_size;
    if (self->ring_count < self->ring_size)
        self->ring_count++;
    if (self->ring_count < self->ring_size)
        return false;
    int64_t oldest = self->ring [self->ring_head];
    if (now - oldest > self->config->restart_period_ms)
        return false;
    log_error ("node_restart_intensity", LS ("worker", c->id),
               LI ("restarts", (int64_t) self->ring_size),
               LI ("within_ms", now - oldest),
               LI ("intensity", self->config->restart_intensity),
               LI ("period_ms", self->config->restart_period_ms));
    s_node_stop (self, EXIT_TRANSIENT, "restart intensity exceeded");
    return true;
}

//  ---------------------------------------------------------------------------------------
//  Spawning

//  The child's environment: ours minus any per-child variable, plus this child's.
//  Built before fork (the child may only call async-signal-safe functions). Caller frees
//  with s_env_free.
static const char *s_child_vars [] = {
    "ZM_WORKER_NAME=", "ZM_WORKER_INDEX=", "ZM_READY_FD=", "ZM_PDEATH_FD=", "ZM_SUP_ENDPOINT="
};
#define S_NCHILD_VARS (sizeof s_child_vars / sizeof s_child_vars [0])

static char **
s_env_new (sup_t *self, s_child_t *c)
{
    size_t n = 0;
    while (environ [n])
        n++;
    char **env = calloc (n + S_NCHILD_VARS + 1, sizeof *env);
    if (!env)
        abort ();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool ours = false;
        for (size_t v = 0; v < S_NCHILD_VARS; v++)
            if (strncmp (environ [i], s_child_vars [v], strlen (s_child_vars [v])) == 0)
                ours = true;
        if (!ours)
            env [k++] = environ [i];
    }
    char *own [S_NCHILD_VARS];
    if (asprintf (&own [0], "ZM_WORKER_NAME=%s", c->name) < 0
    ||  asprintf (&own [1], "ZM_WORKER_INDEX=%d", c->index) < 0
    ||  asprintf (&own [2], "ZM_READY_FD=%d", S_CHILD_READY_FD) < 0
    ||  asprintf (&own [3], "ZM_PDEATH_FD=%d", S_CHILD_PDEATH_FD) < 0
    ||  asprintf (&own [4], "ZM_SUP_ENDPOINT=%s", self->hb_endpoint) < 0)
        abort ();
    for (size_t v = 0; v < S_NCHILD_VARS; v++)
        env [k++] = own [v];
    env [k] = NULL;
    return env;
}

static void
s_env_free (char **env)
{
    size_t n = 0;
    while (env [n])
        n++;
    //  Our own strings are the last S_NCHILD_VARS entries; the rest belong to environ.
    for (size_t i = n - S_NCHILD_VARS; i < n; i++)
        free (env [i]);
    free (env);
}

static void
s_child_write_err (const char *what, const char *path, int err)
{
    //  Async-signal-safe: no stdio, no malloc, no locale (strerrordesc_np is a table
    //  lookup; strerror may translate).
    const char *e = strerrordesc_np (err);
    if (!e)
        e = "unknown error";
    const char *parts [] = { "zipmined: ", what, " ", path, ": ", e, "\n" };
    for (size_t i = 0; i < sizeof parts / sizeof parts [0]; i++) {
        ssize_t w = write (2, parts [i], strlen (parts [i]));
        (void) w;
    }
}

//  In the child between fork and exec: only async-signal-safe calls (the parent has ZeroMQ
//  threads, whose locks may be held in this copy of the address space).
static void
s_child_exec (const char *path, char **argv, char **env, int ready_wr, int pdeath_rd,
              pid_t parent)
{
    if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
        _exit (EXIT_TRANSIENT);
    //  Its own process group: a terminal's Ctrl-C (or a group kill) reaches the supervisor
    //  only, which then stops the children in order, each exactly once.
    setpgid (0, 0);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    signal (SIGPIPE, SIG_DFL);
    //  Move both fds above the targets first so neither dup2 clobbers the other.
    int r = fcntl (ready_wr, F_DUPFD, 10);
    int p = fcntl (pdeath_rd, F_DUPFD, 10);
    if (r < 0 || p < 0
    ||  dup2 (r, S_CHILD_READY_FD) < 0 || dup2 (p, S_CHILD_PDEATH_FD) < 0)
        _exit (EXIT_TRANSIENT);
    if (close_range (S_CHILD_PDEATH_FD + 1, ~0U, 0) != 0)
        for (int fd = S_CHILD_PDEATH_FD + 1; fd < 65536; fd++)
            close (fd);
    execve (path, argv, env);
    int err = errno;
    s_child_write_err ("cannot exec", path, err);
    //  A missing or non-executable binary is a configuration problem, not worth retrying.
    _exit (err == ENOENT || err == EACCES || err == ENOEXEC || err == ENOTDIR
           ? EXIT_CONFIG : EXIT_TRANSIENT);
}

static void s_backoff (sup_t *self, s_child_t *c, const char *reason);

static void
s_spawn (sup_t *self, s_child_t *c, const char *reason)
{
    assert (c->pid == 0);
    char path [PATH_MAX];
    s_fmt (path, sizeof path, "%s/%s", self->bin_dir, c->name);
    int ready [2];
    if (pipe2 (ready, O_CLOEXEC) != 0) {
        log_error ("child_spawn_failed", LS ("worker", c->id), LS ("reason", strerror (errno)));
        s_backoff (self, c, "spawn failed");
        return;
    }
    char **env = s_env_new (self, c);
    self->child_argv [0] = path;
    pid_t parent = getpid ();
    int64_t fork_at = clock_mono_ms ();
    pid_t pid = fork ();
    if (pid == 0)
        s_child_exec (path, self->child_argv, env, ready [1], self->pdeath_rd, parent);
    int err = errno;
    self->child_argv [0] = NULL;
    s_env_free (env);
    close (ready [1]);
    if (pid < 0) {
        close (ready [0]);
        log_error ("child_spawn_failed", LS ("worker", c->id), LS ("reason", strerror (err)));
        s_backoff (self, c, "fork failed");
        return;
    }
    fcntl (ready [0], F_SETFL, O_NONBLOCK);
    if (c->spawned)
        c->restarts++;
    c->spawned = true;
    c->pid = pid;
    c->ready_fd = ready [0];
    c->killed = false;
    c->then = THEN_BACKOFF;
    c->started_at = clock_mono_ms ();
    c->deadline = c->started_at + self->config->ready_timeout_ms;
    s_child_forget_hb (c);
    log_info ("child_spawn", LS ("worker", c->id), LI ("child_pid", pid), LS ("path", path),
              LI ("restarts", c->restarts), LI ("fork_ms", c->started_at - fork_at));
    s_set_state (self, c, S_STARTING, reason);
}

//  ---------------------------------------------------------------------------------------
//  Stopping, killing, backing off

//  A crash restart: BACKOFF with the next delay (or DOWN when the node is stopping).
static void
s_backoff (sup_t *self, s_child_t *c, const char *reason)
{
    if (self->stopping) {
        s_set_state (self, c, S_DOWN, reason);
        return;
    }
    int64_t delay = backoff_next (&c->backoff);
    c->deadline = clock_mono_ms () + delay;
    char why [128];
    s_fmt (why, sizeof why, "%s; restart in %lld ms", reason, (long long) delay);
    s_set_state (self, c, S_BACKOFF, why);
    s_count_restart (self, c);
}

//  SIGKILL now; the reap decides what comes next (then).
static void
s_child_kill (sup_t *self, s_child_t *c, const char *reason, s_then_t then)
{
    assert (c->pid > 0);
    kill (c->pid, SIGKILL);
    c->killed = true;
    c->then = then;
    if (c->ready_fd >= 0) {
        close (c->ready_fd);
        c->ready_fd = -1;
    }
    if (c->state != S_STOPPING) {
        c->deadline = clock_mono_ms () + self->config->shutdown_budget_ms;
        s_set_state (self, c, S_STOPPING, reason);
    }
}

//  Graceful stop (SIGTERM, SIGKILL after the budget), then `then`. Children not running
//  go to their `then` state at once.
static void
s_child_stop (sup_t *self, s_child_t *c, const char *reason, s_then_t then)
{
    switch (c->state) {
        case S_STARTING:
        case S_READY:
            kill (c->pid, SIGTERM);
            c->then = then;
            c->killed = false;
            c->deadline = clock_mono_ms () + self->config->shutdown_budget_ms;
            if (c->ready_fd >= 0) {
                close (c->ready_fd);
                c->ready_fd = -1;
            }
            log_info ("child_sigterm", LS ("worker", c->id), LI ("child_pid", c->pid));
            s_set_state (self, c, S_STOPPING, reason);
            break;
        case S_STOPPING:
            //  Already going: a node stop wins over anything; a retire wins over a restart.
            if (then == THEN_DOWN || c->then != THEN_RETIRE)
                c->then = then;
            break;
        case S_DOWN:
        case S_BACKOFF:
        case S_FAILED:
            if (then == THEN_RETIRE)
                s_child_remove (self, c);
            else
            if (then == THEN_START && !self->stopping)
                s_spawn (self, c, reason);
            else
            if (c->state == S_BACKOFF)
                s_set_state (self, c, S_DOWN, reason);
            break;
        case S_NSTATES:
            assert (false);
    }
}

static void
s_node_stop (sup_t *self, int exit_code, const char *reason)
{
    if (self->stopping) {
        if (exit_code > self->exit_code)
            self->exit_code = exit_code;
        return;
    }
    self->stopping = true;
    self->exit_code = exit_code;
    self->stop_deadline = clock_mono_ms () + self->config->shutdown_budget_ms;
    log_info ("node_stop", LS ("reason", reason), LI ("exit_code", exit_code),
              LI ("children", (int64_t) self->nchildren));
    //  Reverse start order. s_child_stop may remove a retiring child, so walk by index
    //  from the end and re-check the bound.
    for (size_t i = self->nchildren; i-- > 0;) {
        if (i >= self->nchildren)
            continue;
        s_child_stop (self, self->children [i], reason, THEN_DOWN);
    }
}

//  ---------------------------------------------------------------------------------------
//  Reaping

static void
s_child_exited (sup_t *self, s_child_t *c, int status)
{
    s_exit_text (status, c->last_exit, sizeof c->last_exit);
    log_write (c->state == S_STOPPING ? LOGL_INFO : LOGL_WARN, "child_exit",
               (const log_field_t []) {
                   LS ("worker", c->id), LI ("child_pid", c->pid), LS ("exit", c->last_exit),
                   LI ("ran_ms", clock_mono_ms () - c->started_at),
                   LS ("state", s_state_names [c->state]) }, 5);
    c->pid = 0;
    c->killed = false;
    if (c->ready_fd >= 0) {
        close (c->ready_fd);
        c->ready_fd = -1;
    }
    s_child_forget_hb (c);

    if (c->state == S_STOPPING) {
        switch (self->stopping ? THEN_DOWN : c->then) {
            case THEN_DOWN:
                s_set_state (self, c, S_DOWN, c->last_exit);
                break;
            case THEN_START:
                s_set_state (self, c, S_DOWN, c->last_exit);
                s_spawn (self, c, "operator restart");
                break;
            case THEN_BACKOFF:
                s_backoff (self, c, c->last_exit);
                break;
            case THEN_RETIRE:
                s_set_state (self, c, S_DOWN, c->last_exit);
                s_child_remove (self, c);
                break;
        }
        return;
    }
    //  Not asked to stop: the exit-code contract decides.
    if (WIFEXITED (status) && WEXITSTATUS (status) == EXIT_CONFIG) {
        s_set_state (self, c, S_FAILED, c->last_exit);
        if (s_spec_required (self, c->spec)) {
            log_error ("node_required_failed", LS ("worker", c->id), LS ("exit", c->last_exit));
            s_node_stop (self, EXIT_TRANSIENT, "required worker failed permanently");
        }
        return;
    }
    s_backoff (self, c, c->last_exit);
}

static void
s_reap (sup_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        s_child_t *c = s_child_by_pid (self, pid);
        if (c)
            s_child_exited (self, c, status);
        else
            log_warn ("reaped_unknown", LI ("child_pid", pid));
    }
}

//  ---------------------------------------------------------------------------------------
//  Readiness, heartbeats, timers

static void
s_on_ready_fd (sup_t *self, s_child_t *c)
{
    char buf [64];
    ssize_t r;
    while ((r = read (c->ready_fd, buf, sizeof buf)) > 0) {
        if (memchr (buf, '\n', (size_t) r)) {
            close (c->ready_fd);
            c->ready_fd = -1;
            int64_t now = clock_mono_ms ();
            log_info ("child_ready", LS ("worker", c->id), LI ("child_pid", c->pid),
                      LI ("ms", now - c->started_at));
            s_set_state (self, c, S_READY, "readiness fd");
            c->ready_at = now;
            c->ready_wall = clock_wall_ms ();
            return;
        }
    }
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        //  Closed without "\n": not ready. The ready timeout or its exit decides.
        log_warn ("child_ready_fd_closed", LS ("worker", c->id), LI ("child_pid", c->pid));
        close (c->ready_fd);
        c->ready_fd = -1;
    }
}

static void
s_tick (sup_t *self, int64_t now)
{
    const zm_config_t *cfg = self->config;
    int64_t silence_max = cfg->heartbeat_misses * cfg->heartbeat_ms;
    //  Walk by index: a transition may add (spawn keeps the table) or remove children.
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        switch (c->state) {
            case S_STARTING:
                if (now >= c->deadline) {
                    log_warn ("child_ready_timeout", LS ("worker", c->id), LI ("child_pid", c->pid),
                              LI ("timeout_ms", cfg->ready_timeout_ms));
                    s_child_kill (self, c, "ready timeout", THEN_BACKOFF);
                }
                break;
            case S_READY: {
                int64_t last = c->hb_at > c->ready_at ? c->hb_at : c->ready_at;
                if (now - last >= silence_max) {
                    log_warn ("child_heartbeat_lost", LS ("worker", c->id), LI ("child_pid", c->pid),
                              LI ("silent_ms", now - last), LI ("limit_ms", silence_max));
                    s_child_kill (self, c, "heartbeat lost", THEN_BACKOFF);
                }
                else
                if (c->backoff.attempt > 0 && now - c->ready_at >= cfg->restart_reset_ms) {
                    backoff_reset (&c->backoff);
                    log_info ("child_backoff_reset", LS ("worker", c->id),
                              LI ("ready_ms", now - c->ready_at));
                }
                break;
            }
            case S_STOPPING:
                if (!c->killed && now >= c->deadline) {
                    log_warn ("child_stop_timeout", LS ("worker", c->id), LI ("child_pid", c->pid),
                              LI ("budget_ms", cfg->shutdown_budget_ms));
                    s_child_kill (self, c, "shutdown budget exceeded", c->then);
                }
                break;
            case S_BACKOFF:
                if (!self->stopping && now >= c->deadline)
                    s_spawn (self, c, "backoff elapsed");
                break;
            default:
                break;
        }
    }
    if (self->stopping && now >= self->stop_deadline + S_REAP_GRACE_MS) {
        //  Belt and braces: SIGKILL cannot be ignored, but say so if something lingers.
        for (size_t i = 0; i < self->nchildren; i++)
            if (self->children [i]->pid > 0) {
                log_error ("child_unreaped", LS ("worker", self->children [i]->id),
                           LI ("child_pid", self->children [i]->pid));
                kill (self->children [i]->pid, SIGKILL);
            }
        self->stop_deadline = now;
    }
}

static int64_t
s_next_deadline (sup_t *self)
{
    int64_t next = INT64_MAX;
    const zm_config_t *cfg = self->config;
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        int64_t d = INT64_MAX;
        if (c->state == S_STARTING || c->state == S_BACKOFF
        || (c->state == S_STOPPING && !c->killed))
            d = c->deadline;
        else
        if (c->state == S_READY) {
            int64_t last = c->hb_at > c->ready_at ? c->hb_at : c->ready_at;
            d = last + cfg->heartbeat_misses * cfg->heartbeat_ms;
            if (c->backoff.attempt > 0 && c->ready_at + cfg->restart_reset_ms < d)
                d = c->ready_at + cfg->restart_reset_ms;
        }
        if (d < next)
            next = d;
    }
    if (self->stopping && self->stop_deadline + S_REAP_GRACE_MS < next)
        next = self->stop_deadline + S_REAP_GRACE_MS;
    int64_t h = sup_http_next_deadline (self->http);
    return h < next ? h : next;
}

//  Receives one multi-part message of at most `max` frames into msgs (initialised here).
//  Returns the number of frames, 0 when none is waiting, -1 when the message had more
//  frames than max (all received and dropped).
static int
s_recv_parts (void *sock, zmq_msg_t *msgs, int max)
{
    int n = 0;
    bool overflow = false;
    while (true) {
        zmq_msg_t tmp;
        zmq_msg_t *m = n < max ? &msgs [n] : &tmp;
        zmq_msg_init (m);
        if (zmq_msg_recv (m, sock, ZMQ_DONTWAIT) < 0) {
            //  Nothing waiting (n == 0), or, should libzmq ever fail between the parts of
            //  one message, drop what was read.
            zmq_msg_close (m);
            for (int i = 0; i < n; i++)
                zmq_msg_close (&msgs [i]);
            return n == 0 ? 0 : -1;
        }
        bool more = zmq_msg_more (m);
        if (n < max)
            n++;
        else {
            zmq_msg_close (m);
            overflow = true;
        }
        if (!more)
            break;
    }
    if (overflow) {
        for (int i = 0; i < n; i++)
            zmq_msg_close (&msgs [i]);
        return -1;
    }
    return n;
}

static void
s_on_heartbeats (sup_t *self)
{
    for (int burst = 0; burst < 1000; burst++) {
        zmq_msg_t parts [2];
        int n = s_recv_parts (self->hb_sock, parts, 2);
        if (n == 0)
            return;
        if (n != 2) {
            if (n > 0)
                for (int i = 0; i < n; i++)
                    zmq_msg_close (&parts [i]);
            log_warn ("heartbeat_rejected", LS ("reason", "expected one frame"));
            continue;
        }
        s_child_t *c = s_child_by_id (self, zmq_msg_data (&parts [0]), zmq_msg_size (&parts [0]));
        proto_heartbeat_t hb;
        proto_err_t err;
        if (!c || c->pid <= 0)
            log_debug ("heartbeat_unknown", LI ("bytes", (int64_t) zmq_msg_size (&parts [1])));
        else
        if (proto_heartbeat_decode (zmq_msg_data (&parts [1]), zmq_msg_size (&parts [1]),
                                    &hb, &err) != 0)
            log_warn ("heartbeat_rejected", LS ("worker", c->id), LS ("reason", err.reason));
        else
        if (hb.pid != c->pid || (int) hb.index != c->index || strcmp (hb.worker, c->name) != 0) {
            //  A late beat from the previous process of this child, or a confused peer.
            log_debug ("heartbeat_stale", LS ("worker", c->id), LI ("child_pid", hb.pid),
                       LI ("expected_pid", c->pid));
            proto_heartbeat_free (&hb);
        }
        else {
            bool was = s_child_degraded (c);
            s_child_forget_hb (c);
            c->hb = hb;
            c->have_hb = true;
            c->hb_at = clock_mono_ms ();
            //  Transitions only: a reason's details (a timing in a libcurl message) may
            //  change with every beat.
            bool now = s_child_degraded (c);
            if (now && !was)
                log_warn ("child_degraded", LS ("worker", c->id), LI ("child_pid", c->pid),
                          LS ("reason", c->hb.reason));
            else
            if (was && !now)
                log_info ("child_recovered", LS ("worker", c->id), LI ("child_pid", c->pid));
        }
        zmq_msg_close (&parts [0]);
        zmq_msg_close (&parts [1]);
    }
}

//  ---------------------------------------------------------------------------------------
//  Control (zipminectl)

static int
s_proto_state (s_state_t s)
{
    return (int) s + PROTO_CHILD_DOWN;
}

static void
s_status_reply (sup_t *self, proto_control_reply_t *reply)
{
    int64_t now = clock_mono_ms ();
    size_t n = self->nchildren < PROTO_CHILDREN_MAX ? self->nchildren : PROTO_CHILDREN_MAX;
    reply->children = n ? calloc (n, sizeof *reply->children) : NULL;
    if (n && !reply->children)
        abort ();
    reply->nchildren = n;
    for (size_t i = 0; i < n; i++) {
        s_child_t *c = self->children [i];
        proto_child_status_t *row = &reply->children [i];
        snprintf (row->name, sizeof row->name, "%s", c->name);
        row->index = (uint32_t) c->index;
        row->pid = c->pid;
        row->state = s_proto_state (c->state);
        row->restarts = c->restarts;
        snprintf (row->last_exit, sizeof row->last_exit, "%s", c->last_exit);
        row->ready_since_ms = c->state == S_READY ? c->ready_wall : 0;
        row->hb_age_ms = c->hb_at ? now - c->hb_at : -1;
    }
    s_fmt (reply->message, sizeof reply->message,
           "node %s pid %d %s, up %llds, %zu children%s", self->config->node_name,
           (int) getpid (), self->stopping ? "stopping" : "running",
           (long long) ((now - self->started_at) / 1000), self->nchildren,
           n < self->nchildren ? " (table truncated)" : "");
    //  The status table's state column is the supervision state (READY): a dependency
    //  outage is named in the header line, "; degraded: uploader.0 (s3: ...)", cut to fit.
    size_t len = strlen (reply->message), room = sizeof reply->message;
    const char *sep = "; degraded: ";
    for (size_t i = 0; i < self->nchildren && len + 1 < room; i++) {
        s_child_t *c = self->children [i];
        if (!s_child_degraded (c))
            continue;
        int k = snprintf (reply->message + len, room - len, "%s%s (%s)", sep, c->id,
                          c->hb.reason);
        len = k < 0 || (size_t) k >= room - len ? room - 1 : len + (size_t) k;
        sep = ", ";
    }
}

//  "name" or "name.index": fills name and index (-1 for all instances). Returns 0 or -1.
static int
s_parse_target (const char *target, char *name, size_t size, int *index)
{
    const char *dot = strrchr (target, '.');
    *index = -1;
    if (dot) {
        char *end;
        long v = strtol (dot + 1, &end, 10);
        if (dot [1] == 0 || *end || v < 0 || v > PROTO_CHILD_INDEX_MAX)
            return -1;
        *index = (int) v;
        if ((size_t) (dot - target) >= size)
            return -1;
        memcpy (name, target, (size_t) (dot - target));
        name [dot - target] = 0;
    }
    else
        snprintf (name, size, "%s", target);
    return sup_spec_name_valid (name) ? 0 : -1;
}

static void
s_cmd_restart (sup_t *self, const char *target, proto_control_reply_t *reply)
{
    char name [PROTO_NAME_MAX + 1];
    int index;
    if (s_parse_target (target, name, sizeof name, &index) != 0) {
        s_fmt (reply->message, sizeof reply->message, "bad worker '%s' (name or name.index)",
               target);
        return;
    }
    //  One instance: at once. A whole pool: rolling, one instance at a time (s_roll), so
    //  the pool never loses all its capacity at once.
    size_t hits = 0;
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        if (strcmp (c->name, name) != 0 || (index >= 0 && c->index != index))
            continue;
        if (c->state == S_STOPPING && c->then == THEN_RETIRE)
            continue;
        hits++;
        backoff_reset (&c->backoff);
        log_info ("child_restart_requested", LS ("worker", c->id), LI ("child_pid", c->pid));
        if (index >= 0) {
            c->roll_pending = false;
            s_child_stop (self, c, "operator restart", THEN_START);
            //  s_child_stop never removes with THEN_START, so index i is still c.
        }
        else
            c->roll_pending = true;
    }
    if (hits == 0) {
        s_fmt (reply->message, sizeof reply->message, "no worker '%s' on this node", target);
        return;
    }
    reply->ok = true;
    s_fmt (reply->message, sizeof reply->message, "restarting %zu instance%s of %s%s", hits,
           hits == 1 ? "" : "s", target, hits > 1 ? " one at a time" : "");
}

//  Rolling restarts: for each worker with instances waiting, restart the lowest-indexed one
//  once no other instance of it is in its turn.
static void
s_roll (sup_t *self)
{
    for (int spec = 0; spec < self->nspecs; spec++) {
        s_child_t *next = NULL;
        bool busy = false;
        for (size_t i = 0; i < self->nchildren; i++) {
            s_child_t *c = self->children [i];
            if (c->spec != spec)
                continue;
            busy = busy || c->roll_active;
            if (c->roll_pending && !next)
                next = c;
        }
        if (busy || !next)
            continue;
        next->roll_pending = false;
        if (next->state == S_STOPPING && next->then == THEN_RETIRE)
            continue;
        next->roll_active = true;
        s_child_stop (self, next, "operator restart (rolling)", THEN_START);
    }
}

static void
s_cmd_scale (sup_t *self, const char *pool, uint32_t size, proto_control_reply_t *reply)
{
    int spec = s_spec_find (self, pool);
    if (spec < 0) {
        s_fmt (reply->message, sizeof reply->message, "no worker '%s' on this node", pool);
        return;
    }
    if (size > SUP_POOL_MAX) {
        s_fmt (reply->message, sizeof reply->message, "pool size %u above %d", size,
               SUP_POOL_MAX);
        return;
    }
    int from = self->specs [spec].count;
    self->specs [spec].count = (int) size;
    log_info ("pool_scale", LS ("pool", pool), LI ("from", from), LI ("to", size));
    //  Shrink: the highest indexes go first (reverse order).
    for (size_t i = self->nchildren; i-- > 0;) {
        if (i >= self->nchildren)
            continue;
        s_child_t *c = self->children [i];
        if (c->spec == spec && c->index >= (int) size)
            s_child_stop (self, c, "scaled down", THEN_RETIRE);
    }
    //  Grow: new instances in index order; a retiring one that is wanted again restarts.
    for (int k = 0; k < (int) size; k++) {
        s_child_t *c = s_child_find (self, pool, k);
        if (c && c->state == S_STOPPING && c->then == THEN_RETIRE)
            c->then = THEN_START;
        else
        if (!c) {
            c = s_child_add (self, spec, k);
            s_spawn (self, c, "scaled up");
        }
    }
    reply->ok = true;
    s_fmt (reply->message, sizeof reply->message, "pool %s: %d -> %u", pool, from, size);
}

static void
s_on_control (sup_t *self)
{
    for (int burst = 0; burst < 100; burst++) {
        zmq_msg_t parts [3];
        int n = s_recv_parts (self->ctl_sock, parts, 3);
        if (n == 0)
            return;
        if (n < 0)
            continue;
        //  [id, payload] from a DEALER or [id, "", payload] from a REQ.
        bool delimited = n == 3 && zmq_msg_size (&parts [1]) == 0;
        if (n < 2 || (n == 3 && !delimited)) {
            for (int i = 0; i < n; i++)
                zmq_msg_close (&parts [i]);
            log_warn ("control_rejected", LS ("reason", "bad framing"));
            continue;
        }
        zmq_msg_t *payload = &parts [n - 1];
        proto_control_t req;
        proto_err_t err;
        proto_control_reply_t reply;
        memset (&reply, 0, sizeof reply);
        bool stop_after = false;
        if (proto_control_decode (zmq_msg_data (payload), zmq_msg_size (payload), &req, &err)
            != 0) {
            s_fmt (reply.message, sizeof reply.message, "bad request: %s", err.reason);
            log_warn ("control_rejected", LS ("reason", err.reason));
        }
        else {
            reply.id = req.id;
            //  status is polled by scripts: keep it out of the info stream.
            log_write (req.cmd == PROTO_CMD_STATUS ? LOGL_DEBUG : LOGL_INFO, "control_command",
                       (const log_field_t []) {
                           LS ("cmd", proto_command_name (req.cmd)), LS ("worker", req.worker),
                           LI ("size", req.size) }, 3);
            switch (req.cmd) {
                case PROTO_CMD_STATUS:
                    reply.ok = true;
                    s_status_reply (self, &reply);
                    break;
                case PROTO_CMD_RESTART:
                    if (self->stopping)
                        s_fmt (reply.message, sizeof reply.message, "node is stopping");
                    else
                        s_cmd_restart (self, req.worker, &reply);
                    break;
                case PROTO_CMD_SCALE:
                    if (self->stopping)
                        s_fmt (reply.message, sizeof reply.message, "node is stopping");
                    else
                        s_cmd_scale (self, req.worker, req.size, &reply);
                    break;
                case PROTO_CMD_STOP:
                    reply.ok = true;
                    s_fmt (reply.message, sizeof reply.message, "node %s stopping",
                           self->config->node_name);
                    stop_after = true;
                    break;
                default:
                    s_fmt (reply.message, sizeof reply.message,
                           "command '%s' is not for a supervisor", proto_command_name (req.cmd));
                    break;
            }
        }
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        if (proto_control_reply_encode (&reply, &out, &err) != 0)
            log_error ("control_reply_failed", LS ("reason", err.reason));
        else {
            zmq_msg_send (&parts [0], self->ctl_sock, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            if (delimited)
                zmq_send (self->ctl_sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (self->ctl_sock, out.data, out.size, ZMQ_DONTWAIT);
        }
        msgpack_sbuffer_destroy (&out);
        free (reply.children);
        for (int i = 0; i < n; i++)
            zmq_msg_close (&parts [i]);
        if (stop_after)
            s_node_stop (self, EXIT_CLEAN, "zipminectl stop");
    }
}

//  ---------------------------------------------------------------------------------------
//  HTTP: /livez /readyz /metrics

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} s_buf_t;

static void
s_buf_printf (s_buf_t *b, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void
s_buf_printf (s_buf_t *b, const char *format, ...)
{
    while (true) {
        va_list ap;
        va_start (ap, format);
        size_t room = b->cap - b->len;
        int n = vsnprintf (b->data ? b->data + b->len : NULL, room, format, ap);
        va_end (ap);
        assert (n >= 0);
        if ((size_t) n < room) {
            b->len += (size_t) n;
            return;
        }
        b->cap = (b->cap + (size_t) n + 1) * 2;
        b->data = realloc (b->data, b->cap);
        if (!b->data)
            abort ();
    }
}

static void
s_http_readyz (sup_t *self, sup_http_reply_t *reply)
{
    s_buf_t b = { 0 };
    size_t missing = 0;
    s_buf_printf (&b, "{\"ready\":");
    size_t mark = b.len;
    s_buf_printf (&b, "false,\"not_ready\":[");
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        if (!s_spec_required (self, c->spec) || (c->state == S_READY && !s_child_degraded (c)))
            continue;
        //  Worker ids are [A-Za-z0-9_-].digits and states fixed words: nothing to escape.
        if (!s_child_degraded (c)) {
            s_buf_printf (&b, "%s{\"worker\":\"%s\",\"state\":\"%s\"}", missing ? "," : "",
                          c->id, s_state_lower [c->state]);
            missing++;
            continue;
        }
        //  The reason is printable ASCII (the heartbeat codec's rule): only '"' and '\\'
        //  need escaping for JSON.
        s_buf_printf (&b, "%s{\"worker\":\"%s\",\"state\":\"degraded\",\"reason\":\"",
                      missing ? "," : "", c->id);
        for (const char *p = c->hb.reason; *p; p++)
            s_buf_printf (&b, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
        s_buf_printf (&b, "\"}");
        missing++;
    }
    s_buf_printf (&b, "]%s}\n", self->stopping ? ",\"stopping\":true" : "");
    if (missing == 0 && !self->stopping) {
        b.len = mark;
        s_buf_printf (&b, "true}\n");
    }
    reply->status = missing == 0 && !self->stopping ? 200 : 503;
    reply->content_type = "application/json";
    reply->body = b.data;
    reply->body_len = b.len;
}

static void
s_row (metrics_sample_t *row, const char *name, metrics_type_t type, double value,
       const char *help)
{
    memset (row, 0, sizeof *row);
    row->name = name;
    row->type = type;
    row->value = value;
    row->help = help;
}

static void
s_http_metrics (sup_t *self, sup_http_reply_t *reply)
{
    int64_t now = clock_mono_ms ();
    metrics_set_t *set = metrics_set_new (0);
    if (!set)
        abort ();

    //  The node's own families first, so a worker can never redefine them.
    metrics_sample_t rows [S_NSTATES + 3];
    size_t nrows = 0;
    s_row (&rows [nrows++], "zipmine_supervisor_uptime_seconds", METRICS_GAUGE,
           (double) (now - self->started_at) / 1000.0, "Seconds since zipmined started");
    s_row (&rows [nrows++], "zipmine_supervisor_node_restarts_total", METRICS_COUNTER,
           (double) self->node_restarts, "Crash restarts of all children of this node");
    s_row (&rows [nrows++], "zipmine_supervisor_stopping", METRICS_GAUGE,
           self->stopping ? 1.0 : 0.0, "1 while the node is shutting down");
    for (int s = 0; s < S_NSTATES; s++) {
        size_t count = 0;
        for (size_t i = 0; i < self->nchildren; i++)
            count += self->children [i]->state == (s_state_t) s;
        metrics_sample_t *row = &rows [nrows++];
        s_row (row, "zipmine_supervisor_children", METRICS_GAUGE, (double) count,
               "Children of this node by supervision state");
        row->nlabels = 1;
        row->labels [0] = (metrics_label_t) { "state", s_state_lower [s] };
    }
    metrics_set_add (set, rows, nrows, NULL, 0);

    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        char index [16];
        s_fmt (index, sizeof index, "%d", c->index);
        metrics_label_t extra [2] = { { "worker", c->name }, { "instance", index } };
        metrics_sample_t crow [4];
        size_t n = 0;
        s_row (&crow [n++], "zipmine_supervisor_restarts_total", METRICS_COUNTER,
               (double) c->restarts, "Restarts of this child (crash, timeout or operator)");
        s_row (&crow [n++], "zipmine_supervisor_child_ready", METRICS_GAUGE,
               c->state == S_READY ? 1.0 : 0.0, "1 when the child is READY");
        s_row (&crow [n++], "zipmine_worker_degraded", METRICS_GAUGE,
               s_child_degraded (c) ? 1.0 : 0.0,
               "1 while the child is READY but reports a dependency outage (not ready)");
        if (c->hb_at)
            s_row (&crow [n++], "zipmine_supervisor_heartbeat_age_seconds", METRICS_GAUGE,
                   (double) (now - c->hb_at) / 1000.0,
                   "Seconds since the child's last heartbeat");
        metrics_set_add (set, crow, n, extra, 2);
    }
    //  Then every worker's last heartbeat samples, labelled worker/instance. Untrusted:
    //  metrics_set_add re-validates each row; names in our own namespace are refused here.
    size_t dropped = 0;
    for (size_t i = 0; i < self->nchildren; i++) {
        s_child_t *c = self->children [i];
        if (!c->have_hb || c->hb.nmetrics == 0)
            continue;
        char index [16];
        s_fmt (index, sizeof index, "%d", c->index);
        metrics_label_t extra [2] = { { "worker", c->name }, { "instance", index } };
        metrics_sample_t *wrows = calloc (c->hb.nmetrics, sizeof *wrows);
        if (!wrows)
            abort ();
        size_t n = 0;
        for (size_t k = 0; k < c->hb.nmetrics; k++) {
            const proto_metric_t *m = &c->hb.metrics [k];
            if (strncmp (m->name, "zipmine_supervisor_", 19) == 0
            ||  strcmp (m->name, "zipmine_worker_degraded") == 0
            ||  m->nlabels > METRICS_SAMPLE_LABELS_MAX) {
                dropped++;
                continue;
            }
            metrics_sample_t *row = &wrows [n++];
            s_row (row, m->name, (metrics_type_t) m->type, m->value, m->help);
            row->nlabels = m->nlabels;
            for (size_t l = 0; l < m->nlabels; l++)
                row->labels [l] = (metrics_label_t) { m->labels [l].name, m->labels [l].value };
        }
        dropped += metrics_set_add (set, wrows, n, extra, 2);
        free (wrows);
    }
    if (dropped)
        log_debug ("metrics_rows_dropped", LI ("rows", (int64_t) dropped));
    size_t len = 0;
    char *text = metrics_set_render (set, &len);
    metrics_set_destroy (&set);
    if (!text)
        abort ();
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply->body = text;
    reply->body_len = len;
}

static void
s_http_handler (void *arg, const char *path, sup_http_reply_t *reply)
{
    sup_t *self = arg;
    if (strcmp (path, "/livez") == 0) {
        reply->status = 200;
        reply->body = strdup ("ok\n");
        if (!reply->body)
            abort ();
        reply->body_len = 3;
    }
    else
    if (strcmp (path, "/readyz") == 0)
        s_http_readyz (self, reply);
    else
    if (strcmp (path, "/metrics") == 0)
        s_http_metrics (self, reply);
    else {
        reply->status = 404;
        reply->body = strdup ("not found\n");
        if (!reply->body)
            abort ();
        reply->body_len = strlen (reply->body);
    }
}

//  ---------------------------------------------------------------------------------------
//  Construction

static int
s_mkdirs (const char *path, char *err, size_t errsize)
{
    char tmp [PATH_MAX];
    s_fmt (tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir (tmp, 0750) != 0 && errno != EEXIST) {
                s_fmt (err, errsize, "mkdir %s: %s", tmp, strerror (errno));
                return -1;
            }
            *p = '/';
        }
    if (mkdir (tmp, 0750) != 0 && errno != EEXIST) {
        s_fmt (err, errsize, "mkdir %s: %s", tmp, strerror (errno));
        return -1;
    }
    return 0;
}

static int
s_write_file (const char *dir, const char *name, const char *text)
{
    char path [PATH_MAX], tmp [PATH_MAX];
    s_fmt (path, sizeof path, "%s/%s", dir, name);
    s_fmt (tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    size_t len = strlen (text);
    bool ok = write (fd, text, len) == (ssize_t) len;
    ok = close (fd) == 0 && ok;
    if (!ok || rename (tmp, path) != 0) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

static int
s_resolve_workers (sup_t *self, char *err, size_t errsize, int *exit_code)
{
    const zm_config_t *cfg = self->config;
    bool explicit_list = cfg->workers && *cfg->workers;
    sup_spec_t specs [SUP_SPEC_MAX];
    int n = explicit_list
          ? sup_spec_parse (cfg->workers, specs, SUP_SPEC_MAX, err, errsize)
          : sup_spec_from_role (cfg->role, cfg->scraper_pool, cfg->tier3_pool, specs,
                                SUP_SPEC_MAX, err, errsize);
    if (n < 0) {
        *exit_code = EXIT_CONFIG;
        return -1;
    }
    self->nspecs = 0;
    for (int i = 0; i < n; i++) {
        char path [PATH_MAX];
        s_fmt (path, sizeof path, "%s/%s", self->bin_dir, specs [i].name);
        if (access (path, X_OK) != 0) {
            if (explicit_list) {
                s_fmt (err, errsize, "config workers: no executable %s (%s)", path,
                       strerror (errno));
                *exit_code = EXIT_CONFIG;
                return -1;
            }
            log_warn ("worker_binary_missing", LS ("worker", specs [i].name), LS ("path", path));
            continue;
        }
        self->specs [self->nspecs++] = specs [i];
    }
    if (self->nspecs == 0) {
        //  A node that runs nothing must not look healthy (/readyz would say 200).
        s_fmt (err, errsize, "config role: none of the workers of role '%s' has an "
               "executable in %s (set bin.dir)", cfg->role, self->bin_dir);
        *exit_code = EXIT_CONFIG;
        return -1;
    }
    return 0;
}

static void *
s_router (sup_t *self, const char *endpoint, int64_t maxmsg, char *err, size_t errsize)
{
    void *sock = zmq_socket (self->zctx, ZMQ_ROUTER);
    if (!sock) {
        s_fmt (err, errsize, "zmq socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    int zero = 0, one = 1, hwm = 10000;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_SNDTIMEO, &zero, sizeof zero);
    //  A restarted (or SIGSTOPped-then-replaced) child reconnects with the same routing id:
    //  let the new connection take it over.
    zmq_setsockopt (sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    if (zmq_bind (sock, endpoint) != 0) {
        s_fmt (err, errsize, "bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zmq_close (sock);
        return NULL;
    }
    return sock;
}

sup_t *
sup_new (const zm_config_t *config, int argc, char **argv, const char *self_exe,
         char *err, size_t errsize, int *exit_code)
{
    assert (config && exit_code);
    *exit_code = EXIT_TRANSIENT;
    sup_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->config = config;
    self->sigfd = self->pdeath_rd = self->pdeath_wr = self->lock_fd = -1;
    self->started_at = clock_mono_ms ();
    self->started_wall = clock_wall_ms ();

    //  Signals first: blocked before ZeroMQ starts its threads, so only the signalfd sees them.
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGCHLD);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    sigprocmask (SIG_BLOCK, &mask, &self->old_mask);
    signal (SIGPIPE, SIG_IGN);
    self->sigfd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->sigfd < 0) {
        s_fmt (err, errsize, "signalfd: %s", strerror (errno));
        goto fail;
    }

    if (config->bin_dir && *config->bin_dir)
        s_fmt (self->bin_dir, sizeof self->bin_dir, "%s", config->bin_dir);
    else {
        s_fmt (self->bin_dir, sizeof self->bin_dir, "%s", self_exe);
        char *slash = strrchr (self->bin_dir, '/');
        if (slash)
            *slash = 0;
        else
            s_fmt (self->bin_dir, sizeof self->bin_dir, ".");
    }
    if (s_resolve_workers (self, err, errsize, exit_code) != 0)
        goto fail;
    *exit_code = EXIT_TRANSIENT;

    s_fmt (self->node_dir, sizeof self->node_dir, "%s/%s", config->run_dir, config->node_name);
    s_fmt (self->hb_endpoint, sizeof self->hb_endpoint, "ipc://%s/sup.ipc", self->node_dir);
    s_fmt (self->ctl_endpoint, sizeof self->ctl_endpoint, "ipc://%s/ctl.ipc", self->node_dir);
    if (strlen (self->node_dir) + strlen ("/sup.ipc") > 107) {
        s_fmt (err, errsize, "config run.dir: %s/%s is too long for an ipc:// socket path "
               "(at most 99 bytes)", config->run_dir, config->node_name);
        *exit_code = EXIT_CONFIG;
        goto fail;
    }
    if (s_mkdirs (self->node_dir, err, errsize) != 0)
        goto fail;

    //  One supervisor per node directory: the ipc binds below would silently steal a
    //  running node's sockets.
    char lock_path [PATH_MAX];
    s_fmt (lock_path, sizeof lock_path, "%s/zipmined.lock", self->node_dir);
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (self->lock_fd < 0 || flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        s_fmt (err, errsize, "node '%s' is already supervised (lock %s: %s)",
               config->node_name, lock_path, strerror (errno));
        goto fail;
    }
    char pidtext [32];
    s_fmt (pidtext, sizeof pidtext, "%d\n", (int) getpid ());
    if (ftruncate (self->lock_fd, 0) != 0
    ||  write (self->lock_fd, pidtext, strlen (pidtext)) < 0)
        log_warn ("lock_write_failed", LS ("path", lock_path), LS ("reason", strerror (errno)));

    int pd [2];
    if (pipe2 (pd, O_CLOEXEC) != 0) {
        s_fmt (err, errsize, "pipe: %s", strerror (errno));
        goto fail;
    }
    self->pdeath_rd = pd [0];
    self->pdeath_wr = pd [1];

    self->zctx = zmq_ctx_new ();
    if (!self->zctx) {
        s_fmt (err, errsize, "zmq_ctx_new: %s", zmq_strerror (zmq_errno ()));
        goto fail;
    }
    self->hb_sock = s_router (self, self->hb_endpoint, S_HB_FRAME_MAX, err, errsize);
    if (!self->hb_sock)
        goto fail;
    self->ctl_sock = s_router (self, self->ctl_endpoint, S_CTL_FRAME_MAX, err, errsize);
    if (!self->ctl_sock)
        goto fail;

    self->http = sup_http_new (config->http_bind, (int) config->http_port, s_http_handler,
                               self, err, errsize);
    if (!self->http)
        goto fail;
    char port [16];
    s_fmt (port, sizeof port, "%d\n", sup_http_port (self->http));
    if (s_write_file (self->node_dir, "http.port", port) != 0) {
        s_fmt (err, errsize, "cannot write %s/http.port: %s", self->node_dir, strerror (errno));
        goto fail;
    }

    self->ring_size = (size_t) config->restart_intensity + 1;
    self->ring = calloc (self->ring_size, sizeof *self->ring);
    if (!self->ring)
        abort ();
    self->child_argv = calloc ((size_t) (argc > 0 ? argc : 1) + 1, sizeof *self->child_argv);
    if (!self->child_argv)
        abort ();
    for (int i = 1; i < argc; i++)
        self->child_argv [i] = argv [i];

    for (int s = 0; s < self->nspecs; s++)
        for (int k = 0; k < self->specs [s].count; k++)
            s_child_add (self, s, k);
    log_info ("supervisor_start", LS ("node", config->node_name), LS ("role", config->role),
              LI ("http_port", sup_http_port (self->http)), LS ("control", self->ctl_endpoint),
              LS ("heartbeats", self->hb_endpoint), LS ("bin_dir", self->bin_dir),
              LI ("children", (int64_t) self->nchildren));
    return self;

fail:
    sup_destroy (&self);
    return NULL;
}

void
sup_destroy (sup_t **self_p)
{
    assert (self_p);
    sup_t *self = *self_p;
    if (!self)
        return;
    while (self->nchildren > 0) {
        s_child_t *c = self->children [self->nchildren - 1];
        if (c->pid > 0) {
            //  Only on an error path: sup_run reaps everything before returning.
            kill (c->pid, SIGKILL);
            waitpid (c->pid, NULL, 0);
            c->pid = 0;
        }
        self->nchildren--;
        if (c->ready_fd >= 0)
            close (c->ready_fd);
        s_child_forget_hb (c);
        free (c);
    }
    free (self->children);
    sup_http_destroy (&self->http);
    if (self->hb_sock)
        zmq_close (self->hb_sock);
    if (self->ctl_sock)
        zmq_close (self->ctl_sock);
    if (self->zctx)
        zmq_ctx_term (self->zctx);
    if (self->sigfd >= 0)
        close (self->sigfd);
    if (self->pdeath_rd >= 0)
        close (self->pdeath_rd);
    if (self->pdeath_wr >= 0)
        close (self->pdeath_wr);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    free (self->ring);
    free (self->child_argv);
    sigprocmask (SIG_SETMASK, &self->old_mask, NULL);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------------------
//  The loop

static void
s_on_signals (sup_t *self)
{
    struct signalfd_siginfo si;
    while (read (self->sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
        int sig = (int) si.ssi_signo;
        if (sig == SIGCHLD)
            s_reap (self);
        else
        if ((sig == SIGTERM || sig == SIGINT) && self->stopping) {
            //  Asked twice: the operator will not wait for the drain. SIGKILL what is left.
            log_warn ("node_signal_escalate", LS ("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
                      LI ("from_pid", si.ssi_pid));
            for (size_t i = 0; i < self->nchildren; i++) {
                s_child_t *c = self->children [i];
                if (c->pid > 0 && !c->killed)
                    s_child_kill (self, c, "second stop signal", THEN_DOWN);
            }
        }
        else
        if (sig == SIGTERM || sig == SIGINT) {
            log_info ("node_signal", LS ("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
                      LI ("from_pid", si.ssi_pid));
            s_node_stop (self, EXIT_CLEAN, sig == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        else
            log_info ("node_signal_ignored", LI ("signal", sig));
    }
    //  SIGCHLDs coalesce: reap whatever has exited, whichever signal woke us.
    s_reap (self);
}

static bool
s_any_running (sup_t *self)
{
    for (size_t i = 0; i < self->nchildren; i++)
        if (self->children [i]->pid > 0)
            return true;
    return false;
}

int
sup_run (sup_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->nchildren && !self->stopping; i++)
        if (self->children [i]->state == S_DOWN)
            s_spawn (self, self->children [i], "node start");

    size_t cap = 0;
    zmq_pollitem_t *items = NULL;
    s_child_t **ready_of = NULL;
    while (!self->stopping || s_any_running (self)) {
        size_t want = 3 + 1 + SUP_HTTP_MAX_CONNS + self->nchildren;
        if (want > cap) {
            cap = want * 2;
            items = realloc (items, cap * sizeof *items);
            ready_of = realloc (ready_of, cap * sizeof *ready_of);
            if (!items || !ready_of)
                abort ();
        }
        size_t n = 0;
        items [n++] = (zmq_pollitem_t) { .fd = self->sigfd, .events = ZMQ_POLLIN };
        items [n++] = (zmq_pollitem_t) { .socket = self->hb_sock, .events = ZMQ_POLLIN };
        items [n++] = (zmq_pollitem_t) { .socket = self->ctl_sock, .events = ZMQ_POLLIN };
        size_t http_at = n;
        size_t nhttp = sup_http_pollitems (self->http, items + n, cap - n);
        n += nhttp;
        size_t ready_at = n;
        for (size_t i = 0; i < self->nchildren; i++) {
            s_child_t *c = self->children [i];
            if (c->ready_fd >= 0) {
                ready_of [n] = c;
                items [n++] = (zmq_pollitem_t) { .fd = c->ready_fd, .events = ZMQ_POLLIN };
            }
        }
        int64_t now = clock_mono_ms ();
        int64_t next = s_next_deadline (self);
        long timeout = next == INT64_MAX ? 1000
                     : next <= now ? 0 : (long) (next - now < 1000 ? next - now : 1000);
        int rc = zmq_poll (items, (int) n, timeout);
        if (rc < 0 && zmq_errno () != EINTR) {
            log_error ("poll_failed", LS ("reason", zmq_strerror (zmq_errno ())));
            s_node_stop (self, EXIT_TRANSIENT, "poll failed");
            usleep (10000);
        }
        if (rc > 0) {
            if (items [0].revents & ZMQ_POLLIN)
                s_on_signals (self);
            if (items [1].revents & ZMQ_POLLIN)
                s_on_heartbeats (self);
            if (items [2].revents & ZMQ_POLLIN)
                s_on_control (self);
            //  Readiness before HTTP: a child reaped above has had its fd closed; match by
            //  fd and state so a stale item is skipped.
            for (size_t i = ready_at; i < n; i++) {
                s_child_t *c = ready_of [i];
                if (!(items [i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                    continue;
                for (size_t k = 0; k < self->nchildren; k++)
                    if (self->children [k] == c && c->ready_fd == items [i].fd
                    &&  c->state == S_STARTING) {
                        s_on_ready_fd (self, c);
                        break;
                    }
            }
        }
        now = clock_mono_ms ();
        sup_http_service (self->http, items + http_at, rc > 0 ? nhttp : 0, now);
        //  SIGCHLDs coalesce and are read from the signalfd; reaping once more per
        //  iteration (one WNOHANG syscall) also covers a SIGCHLD taken by a thread that
        //  did not block it (a library's own thread), which the signalfd would never see.
        s_reap (self);
        if (!self->stopping)
            s_roll (self);
        s_tick (self, now);
    }
    free (items);
    free (ready_of);
    log_info ("node_exit", LI ("exit_code", self->exit_code),
              LI ("uptime_ms", clock_mono_ms () - self->started_at));
    return self->exit_code;
}
