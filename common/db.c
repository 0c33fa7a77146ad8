/*  db: a libpq connection with a retryable error class, COPY, and schema migrations.

    Ownership: db_t owns its PGconn, its DSN copy, the COPY buffer and the registry of
    prepared statements; db_result_t owns one PGresult.

    Invariants:
      - conn is NULL or was healthy after its last call; a lost connection is finished at
        once (s_lost) and reopened lazily by the next call, no sooner than reconnect_at.
      - tx_lost is set when a connection dies inside a transaction, and cleared only by
        db_begin or db_rollback: until then nothing may run on a fresh connection.
      - in_copy: between db_copy_begin and db_copy_end/abort only db_copy_* may be called.
      - The DSN never reaches a log line or an error message.                               */
#include "common/db.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_ERR_MAX          1024
#define DB_COPY_FLUSH       (256 * 1024)
#define DB_RECONNECT_BASE   100
#define DB_RECONNECT_CAP    5000
#define DB_MIGRATE_LOCK_KEY "7885159271834009185"   //  arbitrary, fixed: "migrate" lock
#define DB_MIGRATE_WAIT_MS  60000

typedef struct {
    char *name;
    char *sql;
    bool ready;                 //  prepared on the current connection
} s_stmt_t;

struct _db_t {
    char *dsn;
    char *application_name;
    char connect_timeout [24];
    char statement_timeout [24];

    PGconn *conn;
    backoff_t backoff;
    unsigned failures;          //  consecutive connection failures
    int64_t reconnect_at;       //  monotonic ms

    bool in_tx;
    bool tx_lost;

    bool in_copy;
    bool copy_binary;
    int copy_failed;            //  0, or the rc that broke the COPY
    char *copy_buf;
    size_t copy_len;
    size_t copy_cap;

    s_stmt_t *stmts;
    size_t nstmts;

    char sqlstate [6];
    char error [DB_ERR_MAX];
};

struct _db_result_t {
    PGresult *pg;
};

static void
s_set_error (db_t *self, const char *sqlstate, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_set_error (db_t *self, const char *sqlstate, const char *fmt, ...)
{
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", sqlstate ? sqlstate : "");
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
    //  libpq messages end in newlines; keep the error one line
    for (char *p = self->error; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t len = strlen (self->error);
    while (len > 0 && self->error [len - 1] == ' ')
        self->error [--len] = 0;
}

static void
s_sleep_ms (int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

db_t *
db_new (const char *dsn, const char *application_name, int64_t connect_timeout_s,
        int64_t statement_timeout_ms, char *err, size_t errsize)
{
    assert (dsn && application_name && err && errsize > 0);
    assert (connect_timeout_s > 0 && statement_timeout_ms >= 0);
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse (dsn, &perr);
    if (!opts) {
        //  libpq's message may quote a piece of the DSN, which may be the password
        PQfreemem (perr);
        snprintf (err, errsize, "db.dsn is not a valid libpq connection string or URI");
        return NULL;
    }
    PQconninfoFree (opts);

    db_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->dsn = strdup (dsn);
    self->application_name = strdup (application_name);
    if (!self->dsn || !self->application_name)
        abort ();
    snprintf (self->connect_timeout, sizeof self->connect_timeout, "%" PRId64,
              connect_timeout_s);
    snprintf (self->statement_timeout, sizeof self->statement_timeout, "%" PRId64,
              statement_timeout_ms);
    backoff_init (&self->backoff, DB_RECONNECT_BASE, DB_RECONNECT_CAP, 0);
    return self;
}

void
db_destroy (db_t **self_p)
{
    assert (self_p);
    db_t *self = *self_p;
    if (!self)
        return;
    if (self->conn)
        PQfinish (self->conn);
    for (size_t i = 0; i < self->nstmts; i++) {
        free (self->stmts [i].name);
        free (self->stmts [i].sql);
    }
    free (self->stmts);
    free (self->copy_buf);
    free (self->application_name);
    free (self->dsn);
    free (self);
    *self_p = NULL;
}

//  The connection is gone (or never came): drop it and schedule the next attempt. The first
//  reconnect after a healthy period is immediate; consecutive failures back off.
static void
s_lost (db_t *self)
{
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    if (self->in_tx)
        self->tx_lost = true;
    self->in_tx = false;
    for (size_t i = 0; i < self->nstmts; i++)
        self->stmts [i].ready = false;
    int64_t delay = self->failures++ ? backoff_next (&self->backoff) : 0;
    self->reconnect_at = clock_mono_ms () + delay;
}

static void
s_healthy (db_t *self)
{
    self->failures = 0;
    backoff_reset (&self->backoff);
}

//  Server errors after which this connection must not be used again, or the work redone.
static bool
s_retryable (const char *sqlstate, bool *drop_conn)
{
    *drop_conn = false;
    if (strncmp (sqlstate, "08", 2) == 0
    ||  strcmp (sqlstate, "57P01") == 0         //  admin_shutdown
    ||  strcmp (sqlstate, "57P02") == 0         //  crash_shutdown
    ||  strcmp (sqlstate, "57P03") == 0) {      //  cannot_connect_now
        *drop_conn = true;
        return true;
    }
    return strcmp (sqlstate, "40001") == 0      //  serialization_failure
        || strcmp (sqlstate, "40P01") == 0;     //  deadlock_detected
}

//  Classifies a finished statement. Takes ownership of res. On success hands it to result_p
//  (or frees it) and returns 0.
static int
s_result (db_t *self, PGresult *res, ExecStatusType expect, db_result_t **result_p)
{
    ExecStatusType status = res ? PQresultStatus (res) : PGRES_FATAL_ERROR;
    if (res && (status == expect
            || (expect == PGRES_COMMAND_OK && status == PGRES_TUPLES_OK)
            || (expect == PGRES_TUPLES_OK && status == PGRES_COMMAND_OK))) {
        s_healthy (self);
        if (result_p) {
            db_result_t *result = calloc (1, sizeof *result);
            if (!result)
                abort ();
            result->pg = res;
            *result_p = result;
        }
        else
            PQclear (res);
        return 0;
    }
    const char *sqlstate = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    int rc = RC_ERR;
    bool drop = false;
    if (sqlstate && s_retryable (sqlstate, &drop))
        rc = RC_RETRY;
    if (PQstatus (self->conn) != CONNECTION_OK) {
        drop = true;
        rc = RC_RETRY;
    }
    if (sqlstate) {
        const char *primary = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
        const char *detail = PQresultErrorField (res, PG_DIAG_MESSAGE_DETAIL);
        s_set_error (self, sqlstate, "SQLSTATE %s: %s%s%s%s", sqlstate,
                     primary ? primary : "(no message)", detail ? " (" : "",
                     detail ? detail : "", detail ? ")" : "");
    }
    else
    if (res && status != PGRES_FATAL_ERROR && status != PGRES_NONFATAL_ERROR)
        s_set_error (self, "", "unexpected result %s", PQresStatus (status));
    else
        s_set_error (self, "", "%s", PQerrorMessage (self->conn));
    PQclear (res);
    if (drop) {
        log_warn ("db_connection_lost", LS ("sqlstate", self->sqlstate),
                  LS ("error", self->error));
        s_lost (self);
    }
    return rc;
}

//  NOTICE and WARNING messages from the server go to the log, not to stderr.
static void
s_notice (void *arg, const char *message)
{
    (void) arg;
    char line [512];
    snprintf (line, sizeof line, "%s", message);
    size_t len = strlen (line);
    while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == ' '))
        line [--len] = 0;
    log_debug ("db_notice", LS ("message", line));
}

static int
s_open (db_t *self)
{
    //  Keepalives first so the DSN may override them; timeout and name after, so the node's
    //  configuration wins over whatever the DSN says.
    const char *keys [] = {
        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
        "client_encoding", "dbname", "connect_timeout", "application_name", NULL
    };
    const char *values [] = {
        "1", "30", "10", "3", "UTF8", self->dsn, self->connect_timeout,
        self->application_name, NULL
    };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    if (!conn)
        abort ();
    if (PQstatus (conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage (conn);
        //  Startup errors carry no SQLSTATE through libpq; these wordings are libpq's and
        //  the server's own (lc_messages C) for faults that no retry can fix.
        bool permanent = PQconnectionNeedsPassword (conn)
                      || strstr (msg, "password authentication failed")
                      || strstr (msg, "does not exist")
                      || strstr (msg, "no pg_hba.conf entry");
        s_set_error (self, "", "connect: %s", msg);
        PQfinish (conn);
        log_warn ("db_connect_failed", LS ("error", self->error), LB ("permanent", permanent));
        s_lost (self);
        return permanent ? RC_ERR : RC_RETRY;
    }
    self->conn = conn;
    PQsetNoticeProcessor (conn, s_notice, NULL);
    const char *params [] = { self->statement_timeout };
    PGresult *res = PQexecParams (conn, "SELECT set_config('statement_timeout', $1 || 'ms', false)",
                                  1, NULL, params, NULL, NULL, 0);
    int rc = s_result (self, res, PGRES_TUPLES_OK, NULL);
    if (rc != 0) {
        //  never keep a session without its statement timeout
        if (self->conn)
            s_lost (self);
        return rc;
    }
    log_info ("db_connected", LS ("host", PQhost (conn)), LS ("port", PQport (conn)),
              LS ("dbname", PQdb (conn)), LS ("user", PQuser (conn)),
              LI ("server_version", PQserverVersion (conn)));
    return 0;
}

//  Makes sure a usable connection exists for the next statement.
static int
s_ensure (db_t *self)
{
    assert (!self->in_copy);
    if (self->tx_lost) {
        s_set_error (self, "", "the connection was lost inside a transaction: roll back "
                     "and redo it");
        return RC_RETRY;
    }
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK)
        return 0;
    if (self->conn)
        s_lost (self);
    int64_t wait = self->reconnect_at - clock_mono_ms ();
    if (wait > 0) {
        s_set_error (self, "", "not connected: next attempt in %" PRId64 " ms", wait);
        return RC_RETRY;
    }
    return s_open (self);
}

int
db_connect (db_t *self)
{
    assert (self);
    return s_ensure (self);
}

bool
db_connected (db_t *self)
{
    assert (self);
    return self->conn && PQstatus (self->conn) == CONNECTION_OK;
}

int64_t
db_retry_in_ms (db_t *self)
{
    assert (self);
    if (db_connected (self))
        return 0;
    int64_t wait = self->reconnect_at - clock_mono_ms ();
    return wait > 0 ? wait : 0;
}

int
db_exec (db_t *self, const char *sql, int nparams, const char *const *params,
         db_result_t **result_p)
{
    assert (self && sql && nparams >= 0 && (nparams == 0 || params));
    if (result_p)
        *result_p = NULL;
    int rc = s_ensure (self);
    if (rc != 0)
        return rc;
    PGresult *res = PQexecParams (self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    return s_result (self, res, PGRES_COMMAND_OK, result_p);
}

//  A statement with no parameters, possibly several separated by ';' (simple protocol).
static int
s_exec_simple (db_t *self, const char *sql)
{
    int rc = s_ensure (self);
    if (rc != 0)
        return rc;
    return s_result (self, PQexec (self->conn, sql), PGRES_COMMAND_OK, NULL);
}

int
db_prepare (db_t *self, const char *name, const char *sql)
{
    assert (self && name && sql);
    for (size_t i = 0; i < self->nstmts; i++)
        if (strcmp (self->stmts [i].name, name) == 0) {
            s_set_error (self, "", "statement %s is already registered", name);
            return RC_ERR;
        }
    s_stmt_t *stmts = realloc (self->stmts, (self->nstmts + 1) * sizeof *stmts);
    if (!stmts)
        abort ();
    self->stmts = stmts;
    s_stmt_t *stmt = &self->stmts [self->nstmts++];
    stmt->name = strdup (name);
    stmt->sql = strdup (sql);
    stmt->ready = false;
    if (!stmt->name || !stmt->sql)
        abort ();
    return 0;
}

int
db_exec_prepared (db_t *self, const char *name, int nparams, const char *const *params,
                  db_result_t **result_p)
{
    assert (self && name && nparams >= 0 && (nparams == 0 || params));
    if (result_p)
        *result_p = NULL;
    s_stmt_t *stmt = NULL;
    for (size_t i = 0; i < self->nstmts; i++)
        if (strcmp (self->stmts [i].name, name) == 0)
            stmt = &self->stmts [i];
    assert (stmt);          //  using an unregistered name is a programmer error
    int rc = s_ensure (self);
    if (rc != 0)
        return rc;
    if (!stmt->ready) {
        rc = s_result (self, PQprepare (self->conn, name, stmt->sql, 0, NULL),
                       PGRES_COMMAND_OK, NULL);
        if (rc != 0)
            return rc;
        stmt->ready = true;
    }
    PGresult *res = PQexecPrepared (self->conn, name, nparams, params, NULL, NULL, 0);
    return s_result (self, res, PGRES_COMMAND_OK, result_p);
}

int
db_begin (db_t *self)
{
    assert (self && !self->in_tx);
    self->tx_lost = false;
    int rc = s_exec_simple (self, "BEGIN");
    if (rc == 0)
        self->in_tx = true;
    return rc;
}

int
db_commit (db_t *self)
{
    assert (self);
    if (self->tx_lost)
        return s_ensure (self);         //  RC_RETRY with the reason
    assert (self->in_tx);
    int rc = s_ensure (self);
    if (rc != 0)
        return rc;
    PGresult *res = PQexec (self->conn, "COMMIT");
    //  COMMIT of a transaction that already failed "succeeds" with the tag ROLLBACK
    bool rolled_back = res && PQresultStatus (res) == PGRES_COMMAND_OK
                    && strcmp (PQcmdStatus (res), "ROLLBACK") == 0;
    rc = s_result (self, res, PGRES_COMMAND_OK, NULL);
    self->in_tx = false;
    if (rc == 0 && rolled_back) {
        s_set_error (self, "25P02", "COMMIT rolled back: the transaction had failed");
        rc = RC_ERR;
    }
    return rc;
}

int
db_rollback (db_t *self)
{
    assert (self && !self->in_copy);
    bool had_tx = self->in_tx;
    self->tx_lost = false;
    self->in_tx = false;
    if (had_tx && self->conn && PQstatus (self->conn) == CONNECTION_OK) {
        PGresult *res = PQexec (self->conn, "ROLLBACK");
        //  A failure here means the connection died: the server rolls back by itself.
        s_result (self, res, PGRES_COMMAND_OK, NULL);
        self->tx_lost = false;
    }
    return 0;
}

bool
db_in_transaction (db_t *self)
{
    assert (self);
    return self->in_tx;
}

//  --------------------------------------------------------------------------------------
//  COPY

static void
s_copy_reserve (db_t *self, size_t more)
{
    if (self->copy_len + more <= self->copy_cap)
        return;
    size_t cap = self->copy_cap ? self->copy_cap : DB_COPY_FLUSH + 4096;
    while (cap < self->copy_len + more)
        cap *= 2;
    char *buf = realloc (self->copy_buf, cap);
    if (!buf)
        abort ();
    self->copy_buf = buf;
    self->copy_cap = cap;
}

static void
s_copy_put (db_t *self, const void *data, size_t len)
{
    s_copy_reserve (self, len);
    memcpy (self->copy_buf + self->copy_len, data, len);
    self->copy_len += len;
}

static void
s_copy_put_be (db_t *self, uint64_t value, int bytes)
{
    char be [8];
    for (int i = 0; i < bytes; i++)
        be [i] = (char) (value >> (8 * (bytes - 1 - i)));
    s_copy_put (self, be, (size_t) bytes);
}

//  Sends what is buffered. On failure the COPY is broken; the rc is kept for db_copy_end.
static int
s_copy_flush (db_t *self)
{
    if (self->copy_failed)
        return self->copy_failed;
    if (self->copy_len == 0)
        return 0;
    assert (self->copy_len <= INT32_MAX);
    if (PQputCopyData (self->conn, self->copy_buf, (int) self->copy_len) != 1) {
        s_set_error (self, "", "COPY: %s", PQerrorMessage (self->conn));
        self->copy_failed = PQstatus (self->conn) == CONNECTION_OK ? RC_ERR : RC_RETRY;
        return self->copy_failed;
    }
    self->copy_len = 0;
    return 0;
}

int
db_copy_begin (db_t *self, const char *copy_sql, bool binary)
{
    assert (self && copy_sql && !self->in_copy);
    int rc = s_ensure (self);
    if (rc != 0)
        return rc;
    rc = s_result (self, PQexec (self->conn, copy_sql), PGRES_COPY_IN, NULL);
    if (rc != 0)
        return rc;
    self->in_copy = true;
    self->copy_binary = binary;
    self->copy_failed = 0;
    self->copy_len = 0;
    if (binary) {
        s_copy_put (self, "PGCOPY\n\377\r\n\0", 11);
        s_copy_put_be (self, 0, 4);         //  flags
        s_copy_put_be (self, 0, 4);         //  header extension length
    }
    return 0;
}

//  Valid UTF-8 as PostgreSQL accepts it: shortest forms, no surrogates, at most U+10FFFF,
//  and no NUL (text cannot hold one).
static bool
s_utf8_ok (const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s [i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else
        if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else
        if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else
            return false;
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s [i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s [i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF
        ||  (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

int
db_copy_row (db_t *self, int ncols, const char *const *values, const size_t *lengths)
{
    assert (self && self->in_copy && ncols > 0 && values);
    assert (!self->copy_binary || lengths);
    if (self->copy_failed)
        return self->copy_failed;
    if (self->copy_binary) {
        assert (ncols <= INT16_MAX);
        //  check the whole row before writing any of it
        for (int i = 0; i < ncols; i++)
            if (values [i] && lengths [i] > INT32_MAX) {
                s_set_error (self, "", "COPY: column %d is %zu bytes", i + 1, lengths [i]);
                return RC_MALFORMED;
            }
        s_copy_put_be (self, (uint64_t) ncols, 2);
        for (int i = 0; i < ncols; i++) {
            if (!values [i]) {
                s_copy_put_be (self, 0xFFFFFFFFu, 4);
                continue;
            }
            s_copy_put_be (self, (uint64_t) lengths [i], 4);
            s_copy_put (self, values [i], lengths [i]);
        }
    }
    else {
        //  check the whole row before writing any of it
        for (int i = 0; i < ncols; i++) {
            if (!values [i])
                continue;
            size_t len = lengths ? lengths [i] : strlen (values [i]);
            if (!s_utf8_ok ((const unsigned char *) values [i], len)) {
                s_set_error (self, "", "COPY: column %d is not valid UTF-8 text", i + 1);
                return RC_MALFORMED;
            }
        }
        for (int i = 0; i < ncols; i++) {
            if (i > 0)
                s_copy_put (self, "\t", 1);
            if (!values [i]) {
                s_copy_put (self, "\\N", 2);
                continue;
            }
            size_t len = lengths ? lengths [i] : strlen (values [i]);
            s_copy_reserve (self, len * 2);
            char *out = self->copy_buf + self->copy_len;
            for (size_t k = 0; k < len; k++) {
                char c = values [i][k];
                switch (c) {
                    case '\\': *out++ = '\\'; *out++ = '\\'; break;
                    case '\n': *out++ = '\\'; *out++ = 'n'; break;
                    case '\r': *out++ = '\\'; *out++ = 'r'; break;
                    case '\t': *out++ = '\\'; *out++ = 't'; break;
                    default:   *out++ = c;
                }
            }
            self->copy_len = (size_t) (out - self->copy_buf);
        }
        s_copy_put (self, "\n", 1);
    }
    if (self->copy_len >= DB_COPY_FLUSH)
        return s_copy_flush (self);
    return 0;
}

//  Collects the results that end a COPY. Returns the rc for the first one.
static int
s_copy_finish (db_t *self, int64_t *rows_p)
{
    int rc = 0;
    bool first = true;
    PGresult *res;
    while ((res = PQgetResult (self->conn)) != NULL) {
        if (first) {
            if (rows_p && PQresultStatus (res) == PGRES_COMMAND_OK)
                *rows_p = strtoll (PQcmdTuples (res), NULL, 10);
            first = false;
            rc = s_result (self, res, PGRES_COMMAND_OK, NULL);
            if (!self->conn)
                return rc;
        }
        else
            PQclear (res);
    }
    if (first)
        rc = s_result (self, NULL, PGRES_COMMAND_OK, NULL);
    return rc;
}

int
db_copy_end (db_t *self, int64_t *rows_p)
{
    assert (self && self->in_copy);
    if (rows_p)
        *rows_p = 0;
    if (self->copy_binary && !self->copy_failed)
        s_copy_put_be (self, 0xFFFF, 2);    //  file trailer
    int rc = s_copy_flush (self);
    self->in_copy = false;
    self->copy_len = 0;
    if (rc != 0) {
        if (PQstatus (self->conn) != CONNECTION_OK)
            s_lost (self);
        else {
            PQputCopyEnd (self->conn, "client gave up");
            s_copy_finish (self, NULL);
        }
        return rc;
    }
    if (PQputCopyEnd (self->conn, NULL) != 1) {
        s_set_error (self, "", "COPY end: %s", PQerrorMessage (self->conn));
        s_lost (self);
        return RC_RETRY;
    }
    return s_copy_finish (self, rows_p);
}

int
db_copy_abort (db_t *self, const char *reason)
{
    assert (self && self->in_copy);
    self->in_copy = false;
    self->copy_len = 0;
    if (PQstatus (self->conn) != CONNECTION_OK) {
        s_lost (self);
        return RC_RETRY;
    }
    char err [DB_ERR_MAX], state [6];
    snprintf (err, sizeof err, "%s", self->error);
    snprintf (state, sizeof state, "%s", self->sqlstate);
    PQputCopyEnd (self->conn, reason ? reason : "aborted");
    s_copy_finish (self, NULL);         //  the server answers 57014, as asked
    snprintf (self->error, sizeof self->error, "%s", err);
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state);
    return self->conn ? 0 : RC_RETRY;
}

const char *
db_error (db_t *self)
{
    assert (self);
    return self->error;
}

const char *
db_sqlstate (db_t *self)
{
    assert (self);
    return self->sqlstate;
}

//  --------------------------------------------------------------------------------------
//  Results

void
db_result_destroy (db_result_t **self_p)
{
    assert (self_p);
    if (!*self_p)
        return;
    PQclear ((*self_p)->pg);
    free (*self_p);
    *self_p = NULL;
}

int
db_result_rows (const db_result_t *self)
{
    assert (self);
    return PQntuples (self->pg);
}

int
db_result_cols (const db_result_t *self)
{
    assert (self);
    return PQnfields (self->pg);
}

int64_t
db_result_affected (const db_result_t *self)
{
    assert (self);
    const char *tuples = PQcmdTuples (self->pg);
    return *tuples ? strtoll (tuples, NULL, 10) : 0;
}

static void
s_check_cell (const db_result_t *self, int row, int col)
{
    assert (self);
    assert (row >= 0 && row < PQntuples (self->pg));
    assert (col >= 0 && col < PQnfields (self->pg));
}

const char *
db_result_get (const db_result_t *self, int row, int col)
{
    s_check_cell (self, row, col);
    if (PQgetisnull (self->pg, row, col))
        return NULL;
    return PQgetvalue (self->pg, row, col);
}

size_t
db_result_length (const db_result_t *self, int row, int col)
{
    s_check_cell (self, row, col);
    return (size_t) PQgetlength (self->pg, row, col);
}

bool
db_result_is_null (const db_result_t *self, int row, int col)
{
    s_check_cell (self, row, col);
    return PQgetisnull (self->pg, row, col);
}

int
db_result_int64 (const db_result_t *self, int row, int col, int64_t *out)
{
    const char *text = db_result_get (self, row, col);
    if (!text || !*text)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll (text, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

//  --------------------------------------------------------------------------------------
//  Migrations

//  Generated at build time from common/sql/*.sql (common/CMakeLists.txt).
extern const db_migration_t zm_db_migrations [];
extern const size_t zm_db_migrations_count;

const db_migration_t *
db_migrations (size_t *count)
{
    assert (count);
    *count = zm_db_migrations_count;
    return zm_db_migrations;
}

static void
s_sha256_hex (const char *data, size_t len, char hex [65])
{
    unsigned char md [32];
    unsigned int mdlen = 0;
    if (!EVP_Digest (data, len, md, &mdlen, EVP_sha256 (), NULL) || mdlen != 32)
        abort ();
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", md [i]);
}

static int
s_migration_lock (db_t *self)
{
    const char *params [] = { DB_MIGRATE_LOCK_KEY };
    int64_t deadline = clock_mono_ms () + DB_MIGRATE_WAIT_MS;
    while (true) {
        db_result_t *res = NULL;
        int rc = db_exec (self, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, &res);
        if (rc != 0)
            return rc;
        bool got = strcmp (db_result_get (res, 0, 0), "t") == 0;
        db_result_destroy (&res);
        if (got)
            return 0;
        if (clock_mono_ms () >= deadline) {
            s_set_error (self, "", "migrations: another process held the migration lock "
                         "for %d s", DB_MIGRATE_WAIT_MS / 1000);
            return RC_RETRY;
        }
        s_sleep_ms (50);
    }
}

static int
s_migrate_one (db_t *self, const db_migration_t *m, const char *checksum)
{
    size_t len = (size_t) (m->sql_end - m->sql);
    if (strlen (m->sql) != len) {
        s_set_error (self, "", "migration %04d_%s holds a NUL byte", m->version, m->name);
        return RC_ERR;
    }
    int64_t started = clock_mono_ms ();
    int rc = db_begin (self);
    if (rc == 0)
        rc = db_exec (self, "SELECT set_config('statement_timeout', '0', true)", 0, NULL, NULL);
    if (rc == 0)
        rc = s_exec_simple (self, m->sql);
    if (rc == 0) {
        char version [16];
        snprintf (version, sizeof version, "%d", m->version);
        rc = db_exec (self, "INSERT INTO schema_migrations (version, name, checksum) "
                      "VALUES ($1, $2, $3)", DB_P (version, m->name, checksum), NULL);
    }
    if (rc == 0)
        rc = db_commit (self);
    if (rc != 0) {
        char why [DB_ERR_MAX], state [6];
        snprintf (why, sizeof why, "%s", self->error);
        snprintf (state, sizeof state, "%s", self->sqlstate);
        db_rollback (self);
        s_set_error (self, state, "migration %04d_%s failed: %s", m->version, m->name, why);
        log_error ("db_migration_failed", LI ("version", m->version), LS ("name", m->name),
                   LS ("error", self->error));
        return rc;
    }
    log_info ("db_migration_applied", LI ("version", m->version), LS ("name", m->name),
              LS ("checksum", checksum), LI ("ms", clock_mono_ms () - started));
    return 0;
}

//  Everything db_migrate_list does once the lock is held.
static int
s_migrate_locked (db_t *self, const db_migration_t *list, size_t count)
{
    int rc = s_exec_simple (self,
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  version     integer PRIMARY KEY,"
        "  name        text NOT NULL,"
        "  checksum    text NOT NULL,"
        "  applied_at  timestamptz NOT NULL DEFAULT now())");
    if (rc != 0)
        return rc;
    db_result_t *res = NULL;
    rc = db_exec (self, "SELECT version, name, checksum FROM schema_migrations "
                  "ORDER BY version", 0, NULL, &res);
    if (rc != 0)
        return rc;

    char (*sums) [65] = calloc (count ? count : 1, sizeof *sums);
    bool *applied = calloc (count ? count : 1, sizeof *applied);
    if (!sums || !applied)
        abort ();
    for (size_t i = 0; i < count; i++)
        s_sha256_hex (list [i].sql, (size_t) (list [i].sql_end - list [i].sql), sums [i]);

    for (int row = 0; row < db_result_rows (res) && rc == 0; row++) {
        int64_t version = 0;
        if (db_result_int64 (res, row, 0, &version) != 0)
            abort ();       //  an integer primary key column
        const char *name = db_result_get (res, row, 1);
        const char *checksum = db_result_get (res, row, 2);
        size_t i = 0;
        while (i < count && list [i].version != version)
            i++;
        if (i == count) {
            s_set_error (self, "", "database has migration %04" PRId64 "_%s which this binary "
                         "does not know: it was written by a newer zipmine", version, name);
            rc = RC_ERR;
        }
        else
        if (strcmp (checksum, sums [i]) != 0) {
            s_set_error (self, "", "migration %04d_%s was changed after it was applied "
                         "(database %.12s…, binary %.12s…): add a new migration instead",
                         list [i].version, list [i].name, checksum, sums [i]);
            rc = RC_ERR;
        }
        else
            applied [i] = true;
    }
    db_result_destroy (&res);
    if (rc != 0)
        log_error ("db_migration_mismatch", LS ("error", self->error));

    for (size_t i = 0; i < count && rc == 0; i++)
        if (!applied [i])
            rc = s_migrate_one (self, &list [i], sums [i]);
    free (sums);
    free (applied);
    return rc;
}

int
db_migrate_list (db_t *self, const db_migration_t *list, size_t count)
{
    assert (self && (list || count == 0) && !self->in_tx && !self->in_copy);
    for (size_t i = 1; i < count; i++)
        assert (list [i].version > list [i - 1].version);
    int rc = s_migration_lock (self);
    if (rc != 0)
        return rc;
    rc = s_migrate_locked (self, list, count);
    if (db_connected (self)) {
        //  keep the migration's error, not the unlock's
        char err [DB_ERR_MAX], state [6];
        snprintf (err, sizeof err, "%s", self->error);
        snprintf (state, sizeof state, "%s", self->sqlstate);
        const char *params [] = { DB_MIGRATE_LOCK_KEY };
        db_exec (self, "SELECT pg_advisory_unlock($1::bigint)", 1, params, NULL);
        snprintf (self->error, sizeof self->error, "%s", err);
        snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state);
    }
    return rc;
}

int
db_migrate (db_t *self)
{
    size_t count;
    const db_migration_t *list = db_migrations (&count);
    return db_migrate_list (self, list, count);
}
