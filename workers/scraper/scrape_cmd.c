/*  scrape_cmd: the external scraper interface (DESIGN.md section 7, README.md).

    fork + exec of the configured argv, no shell. The child leads its own process group (so
    the whole group, grandchildren included, can be killed), gets the default signal mask and
    dispositions back, and only fds 0-2: stdin carries the request
    {"zipcode","target_count","timeout"} and is closed, stdout is read as listing lines,
    stderr is logged line by line (bounded). At the deadline, or when the output passes its
    cap, or on cancellation, the group is killed with SIGKILL. When the child exits, its group
    is killed too, so a stray grandchild holding stdout open cannot stall the reader.        */
#include "workers/scraper/scrape_job.h"
#include "workers/scraper/scrape_line.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STDERR_LINE_MAX     512
#define STDERR_LINES_MAX    50
#define READ_CHUNK          65536

typedef struct {
    scrape_sink_t *sink;
    bool send_failed;
} s_out_t;

typedef struct {
    const scrape_job_t *job;
    int logged, suppressed;
} s_err_t;

static int
s_on_stdout (void *arg, const char *line, size_t len, bool oversize)
{
    s_out_t *out = arg;
    if (oversize) {
        scrape_sink_reject (out->sink, SCRAPE_REASON_OVERSIZE);
        return 0;
    }
    if (scrape_sink_line (out->sink, line, len) != 0) {
        out->send_failed = true;
        return -1;
    }
    return 0;
}

static int
s_on_stderr (void *arg, const char *line, size_t len, bool oversize)
{
    s_err_t *e = arg;
    if (e->logged >= STDERR_LINES_MAX) {
        e->suppressed++;
        return 0;
    }
    char text [STDERR_LINE_MAX + 1];
    if (oversize)
        snprintf (text, sizeof text, "(line over %d bytes dropped)", STDERR_LINE_MAX);
    else {
        memcpy (text, line, len);
        text [len] = 0;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char) text [i] < 0x20 && text [i] != '\t')
                text [i] = ' ';
    }
    log_info ("scraper_stderr", LS ("zipcode", e->job->task.zipcode), LS ("line", text));
    e->logged++;
    return 0;
}

//  In the child, between fork and exec: only async-signal-safe calls.
static void
s_child (const scrape_job_t *job, int in_fd, int out_fd, int err_fd)
{
    setpgid (0, 0);
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    signal (SIGPIPE, SIG_DFL);
    if (dup2 (in_fd, 0) < 0 || dup2 (out_fd, 1) < 0 || dup2 (err_fd, 2) < 0)
        _exit (126);
    if (syscall (SYS_close_range, 3U, ~0U, 0U) != 0)
        for (int fd = 3; fd < 4096; fd++)
            close (fd);
    execvp (job->argv [0], job->argv);
    static const char msg [] = "scraper: cannot execute the scraper command\n";
    ssize_t ignored = write (2, msg, sizeof msg - 1);
    (void) ignored;
    _exit (127);
}

void
scrape_cmd_run (const scrape_job_t *job, scrape_sink_t *sink, int64_t deadline,
                scrape_outcome_t *outcome)
{
    int in [2], out [2], err [2];
    if (pipe2 (in, O_CLOEXEC) != 0)
        goto pipes_failed;
    if (pipe2 (out, O_CLOEXEC) != 0) {
        close (in [0]); close (in [1]);
        goto pipes_failed;
    }
    if (pipe2 (err, O_CLOEXEC) != 0) {
        close (in [0]); close (in [1]); close (out [0]); close (out [1]);
        goto pipes_failed;
    }
    pid_t pid = fork ();
    if (pid == 0)
        s_child (job, in [0], out [1], err [1]);
    close (in [0]);
    close (out [1]);
    close (err [1]);
    if (pid < 0) {
        close (in [1]); close (out [0]); close (err [0]);
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason, "fork failed: %s", strerror (errno));
        return;
    }
    setpgid (pid, pid);         //  both sides set it: whichever runs first wins the race
    log_info ("scraper_command_started", LS ("zipcode", job->task.zipcode), LI ("pid", pid),
              LS ("program", job->argv [0]));

    //  the request: far below the pipe's capacity, so one write cannot block
    char request [160];
    int64_t timeout_s = (deadline - clock_mono_ms () + 999) / 1000;
    int rlen = snprintf (request, sizeof request,
                         "{\"zipcode\":\"%s\",\"target_count\":%u,\"timeout\":%lld}\n",
                         job->task.zipcode, job->task.target, (long long) timeout_s);
    ssize_t wrote = write (in [1], request, (size_t) rlen);
    (void) wrote;               //  a scraper that exits without reading it is judged below
    close (in [1]);

    scrape_liner_t *out_liner = scrape_liner_new (job->line_max);
    scrape_liner_t *err_liner = scrape_liner_new (STDERR_LINE_MAX);
    s_out_t out_ctx = { .sink = sink };
    s_err_t err_ctx = { .job = job };
    char *buf = malloc (READ_CHUNK);
    size_t total = 0;
    bool out_open = true, err_open = true, exited = false, killed = false;
    bool timed_out = false, over_cap = false, group_killed = false;
    int status = 0;
    while (out_open || err_open || !exited) {
        int64_t now = clock_mono_ms ();
        if (!killed && now >= deadline)
            timed_out = true;
        if (!killed && job->cancel && atomic_load (job->cancel))
            killed = true;
        if (!killed && (timed_out || over_cap || out_ctx.send_failed))
            killed = true;
        //  The group is killed while its leader is not yet reaped, so its id cannot have
        //  been reused by an unrelated process group.
        if (killed && !exited && !group_killed) {
            kill (-pid, SIGKILL);
            kill (pid, SIGKILL);
            group_killed = true;
        }
        if (!exited) {
            siginfo_t si;
            memset (&si, 0, sizeof si);
            if (waitid (P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0
            &&  si.si_pid == pid) {
                if (!group_killed)
                    kill (-pid, SIGKILL);       //  strays still holding our pipes
                group_killed = true;
                waitpid (pid, &status, 0);
                exited = true;
            }
        }
        struct pollfd fds [2];
        nfds_t nfds = 0;
        if (out_open)
            fds [nfds++] = (struct pollfd) { .fd = out [0], .events = POLLIN };
        if (err_open)
            fds [nfds++] = (struct pollfd) { .fd = err [0], .events = POLLIN };
        if (nfds == 0) {
            if (!exited)
                usleep (5000);
            continue;
        }
        if (poll (fds, nfds, 20) <= 0)
            continue;
        for (nfds_t i = 0; i < nfds; i++) {
            if (!(fds [i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read (fds [i].fd, buf, READ_CHUNK);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            bool is_out = fds [i].fd == out [0];
            if (n <= 0) {
                if (is_out) {
                    if (!killed)
                        scrape_liner_finish (out_liner, s_on_stdout, &out_ctx);
                    out_open = false;
                }
                else {
                    scrape_liner_finish (err_liner, s_on_stderr, &err_ctx);
                    err_open = false;
                }
                continue;
            }
            if (is_out) {
                if (killed)
                    continue;           //  drain what is left, judge none of it
                total += (size_t) n;
                if (total > job->output_max) {
                    over_cap = true;
                    continue;
                }
                scrape_liner_feed (out_liner, buf, (size_t) n, s_on_stdout, &out_ctx);
            }
            else
                scrape_liner_feed (err_liner, buf, (size_t) n, s_on_stderr, &err_ctx);
        }
    }
    free (buf);
    scrape_liner_destroy (&out_liner);
    scrape_liner_destroy (&err_liner);
    close (out [0]);
    close (err [0]);
    if (err_ctx.suppressed > 0)
        log_info ("scraper_stderr_suppressed", LS ("zipcode", job->task.zipcode),
                  LI ("lines", err_ctx.suppressed));
    log_info ("scraper_command_exited", LS ("zipcode", job->task.zipcode), LI ("pid", pid),
              LI ("status", WIFEXITED (status) ? WEXITSTATUS (status) : -1),
              LI ("signal", WIFSIGNALED (status) ? WTERMSIG (status) : 0),
              LI ("bytes", (int64_t) total), LB ("timed_out", timed_out));

    if (timed_out) {
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason,
                  "timeout: killed after %lld ms", (long long) job->timeout_ms);
    }
    else
    if (over_cap) {
        outcome->verdict = SCRAPE_FAIL;
        snprintf (outcome->reason, sizeof outcome->reason,
                  "output over %zu bytes: killed", job->output_max);
    }
    else
    if (out_ctx.send_failed) {
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason, "storage did not take a batch in time");
    }
    else
    if (killed) {
        outcome->verdict = SCRAPE_RETRY;
        snprintf (outcome->reason, sizeof outcome->reason, "cancelled: scraper stopping");
    }
    else
    if (WIFSIGNALED (status) || (WIFEXITED (status) && WEXITSTATUS (status) != 0)) {
        //  garbage decides over a crash (retrying it cannot help); otherwise the attempt
        //  failed, and no final batch is sent
        if (scrape_sink_garbage (sink, outcome))
            return;
        scrape_sink_counts (sink, outcome);
        outcome->verdict = SCRAPE_RETRY;
        if (WIFSIGNALED (status))
            snprintf (outcome->reason, sizeof outcome->reason, "scraper killed by signal %d",
                      WTERMSIG (status));
        else
            snprintf (outcome->reason, sizeof outcome->reason, "scraper exited with status %d",
                      WEXITSTATUS (status));
        return;
    }
    else {
        scrape_sink_finish (sink, outcome);
        return;
    }
    scrape_sink_counts (sink, outcome);
    return;

pipes_failed:
    outcome->verdict = SCRAPE_RETRY;
    snprintf (outcome->reason, sizeof outcome->reason, "pipe failed: %s", strerror (errno));
}
