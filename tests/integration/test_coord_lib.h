/*  Shared by tests that need the real coordinator binary: start it on a free port with its
    own database, a metagraph and S3 grant settings, wait until it listens, keep its log
    drained; ask it for the current epoch as a registered hotkey.                            */
#ifndef ZM_TEST_COORD_LIB_H
#define ZM_TEST_COORD_LIB_H

#include "common/http.h"
#include "common/s3.h"
#include "common/wallet.h"
#include "tests/testutil.h"

#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    pid_t pid;                  //  the coordinator
    pid_t drainer;              //  reads its stdout to the end
    char base [64];             //  http://127.0.0.1:PORT
    int port;
} tcoord_t;

//  The test S3 server's settings (ZM_TEST_S3_*: the test fails when one is missing), path
//  style, one attempt.
static inline s3_config_t
tcoord_s3_config (void)
{
    s3_config_t c = { .endpoint = TEST_ENV ("ZM_TEST_S3_ENDPOINT"),
                      .region = TEST_ENV ("ZM_TEST_S3_REGION"),
                      .access_key = TEST_ENV ("ZM_TEST_S3_ACCESS_KEY"),
                      .secret_key = TEST_ENV ("ZM_TEST_S3_SECRET_KEY"),
                      .path_style = true, .max_attempts = 1 };
    return c;
}

//  Starts build/bin/coordinator on database dsn with the metagraph file, epochs of epoch_s
//  seconds, grants signed for s3 (endpoint, region, keys) and bucket (s3 NULL: no S3
//  settings, the coordinator cannot grant), and the extra environment env ("NAME=value"
//  strings, NULL-terminated; env may be NULL). Returns once it listens and is ready.
static inline void
tcoord_start_env (tcoord_t *t, const char *build, const char *dsn, const char *metagraph,
                  int epoch_s, const s3_config_t *s3, const char *bucket,
                  const char *const *env)
{
    memset (t, 0, sizeof *t);
    int out [2];
    CHECK (pipe (out) == 0);
    fflush (stdout);
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        dup2 (out [1], 1);
        close (out [0]);
        char es [24];
        snprintf (es, sizeof es, "%d", epoch_s);
        setenv ("ZM_DB_DSN", dsn, 1);
        setenv ("ZM_COORDINATOR_METAGRAPH", metagraph, 1);
        setenv ("ZM_COORDINATOR_PORT", "0", 1);
        setenv ("ZM_COORDINATOR_EPOCH_S", es, 1);
        if (s3) {
            setenv ("ZM_S3_ENDPOINT", s3->endpoint, 1);
            setenv ("ZM_S3_BUCKET", bucket, 1);
            setenv ("ZM_S3_ACCESS_KEY", s3->access_key, 1);
            setenv ("ZM_S3_SECRET_KEY", s3->secret_key, 1);
            setenv ("ZM_S3_REGION", s3->region, 1);
        }
        for (size_t i = 0; env && env [i]; i++)
            putenv ((char *) env [i]);
        char bin [512];
        snprintf (bin, sizeof bin, "%s/bin/coordinator", build);
        execl (bin, bin, (char *) NULL);
        _exit (127);
    }
    t->pid = pid;
    close (out [1]);
    FILE *log = fdopen (out [0], "r");
    CHECK (log);
    char line [4096];
    int port = 0;
    bool ready = false;
    while ((!port || !ready) && fgets (line, sizeof line, log)) {
        char *p = strstr (line, "\"event\":\"coordinator_listening\"");
        if (p && (p = strstr (line, "\"port\":")))
            port = atoi (p + 7);
        if (strstr (line, "\"event\":\"worker_ready\""))
            ready = true;
    }
    if (!port || !ready)
        kill (pid, SIGKILL);
    CHECK (port > 0 && ready);
    fflush (stdout);
    t->drainer = fork ();
    CHECK (t->drainer >= 0);
    if (t->drainer == 0) {
        while (fgets (line, sizeof line, log))
            ;
        _exit (0);
    }
    fclose (log);
    snprintf (t->base, sizeof t->base, "http://127.0.0.1:%d", port);
    t->port = port;
}

//  tcoord_start_env without extra environment.
static inline void
tcoord_start (tcoord_t *t, const char *build, const char *dsn, const char *metagraph,
              int epoch_s, const s3_config_t *s3, const char *bucket)
{
    tcoord_start_env (t, build, dsn, metagraph, epoch_s, s3, bucket, NULL);
}

//  SIGTERM, then reaps both processes. Returns true when the coordinator exited 0 (false
//  also when it had already been stopped). Safe to call twice.
static inline bool
tcoord_stop (tcoord_t *t)
{
    bool clean = false;
    if (t->pid > 0) {
        int st = 0;
        kill (t->pid, SIGTERM);
        clean = waitpid (t->pid, &st, 0) == t->pid && WIFEXITED (st) && WEXITSTATUS (st) == 0;
        t->pid = 0;
    }
    if (t->drainer > 0) {
        waitpid (t->drainer, NULL, 0);
        t->drainer = 0;
    }
    return clean;
}

//  For atexit handlers: SIGKILL, no waiting.
static inline void
tcoord_kill (tcoord_t *t)
{
    if (t->pid > 0)
        kill (t->pid, SIGKILL);
    if (t->drainer > 0)
        kill (t->drainer, SIGKILL);
}

//  GET /api/v1/zipcode-assignments/current signed by w. Caller owns the document.
static inline json_t *
tcoord_current (const tcoord_t *t, const wallet_t *w)
{
    int64_t ts = (int64_t) time (NULL);
    char commitment [96], hex [129], url [512];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) ts);
    uint8_t sig [64];
    CHECK (wallet_sign (w, (const uint8_t *) commitment, strlen (commitment), sig) == 0);
    sodium_bin2hex (hex, sizeof hex, sig, 64);
    snprintf (url, sizeof url, "%s/api/v1/zipcode-assignments/current?hotkey=%s&signature=%s"
                               "&timestamp=%lld", t->base, wallet_ss58 (w), hex, (long long) ts);
    http_t *http = http_new (NULL);
    http_response_t *resp = NULL;
    CHECK_EQ_INT (http_get (http, url, NULL, &resp), 0);
    CHECK_EQ_INT (http_response_status (resp), 200);
    size_t len;
    const char *body = http_response_body (resp, &len);
    json_t *doc = json_loadb (body, len, 0, NULL);
    CHECK (doc);
    http_response_destroy (&resp);
    http_destroy (&http);
    return doc;
}

#endif
