/*  db: one PostgreSQL connection (libpq), with parameters only, transactions, COPY, a
    retryable error class, and the node's versioned schema migrations.

    SQL text always comes from the program; values always travel as parameters ($1, $2 …, as
    text; NULL means SQL NULL) or through COPY, never spliced into SQL.

    Errors. Every call returns 0 on success, or:
      RC_RETRY   the connection was lost (or never came up), the server is shutting down
                 (57P01 …), or the transaction hit a serialization failure or deadlock
                 (40001, 40P01). Nothing partial is visible: redo the whole unit of work,
                 from db_begin if in a transaction (a lost COMMIT may have committed, which
                 is why zipmine's writes are idempotent). The next call reconnects, at most
                 once per backoff delay (100 ms doubling to 5 s); a call made before that
                 returns RC_RETRY at once without blocking.
      RC_ERR     anything else (constraint violation, bad SQL, statement timeout 57014 …).
                 db_sqlstate and db_error say what; retrying the same call will not help.
    After a connection loss inside a transaction, every call but db_begin and db_rollback
    returns RC_RETRY, so that statements meant for the lost transaction can never run (or
    COMMIT) outside one on the new connection.

    Timeouts: connect_timeout on connect, statement_timeout on every statement (set with
    set_config when each connection opens), and TCP keepalives so a dead peer is noticed.
    The DSN (which may hold a password) is never logged nor put in an error message.

    Not thread-safe: one db_t per thread.                                                     */
#ifndef ZM_DB_H
#define ZM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _db_t db_t;
typedef struct _db_result_t db_result_t;

//  Expands to the (count, array) pair db_exec takes: db_exec (db, sql, DB_P (a, b), &res).
#define DB_P(...) \
    (int) (sizeof ((const char *[]) { __VA_ARGS__ }) / sizeof (const char *)), \
    ((const char *[]) { __VA_ARGS__ })

//  Creates a connection object; does not connect (see db_connect). application_name shows in
//  pg_stat_activity (e.g. "zipmine-storage"). Returns NULL when dsn is not a valid libpq
//  conninfo string or URI (a configuration error: exit 100), with a message in err that does
//  not repeat the DSN.
db_t *db_new (const char *dsn, const char *application_name, int64_t connect_timeout_s,
              int64_t statement_timeout_ms, char *err, size_t errsize);

//  Closes the connection and frees. No-op on NULL.
void db_destroy (db_t **self_p);

//  Connects now if not connected (every other call does this itself). Returns 0, RC_RETRY
//  (server unreachable, refused, too many clients, or in backoff) or RC_ERR (authentication
//  or database-does-not-exist: a configuration error).
int db_connect (db_t *self);

//  True when a connection is open and healthy as far as libpq knows (no round trip).
bool db_connected (db_t *self);

//  Milliseconds until the next reconnect attempt is allowed (0 when it is now).
int64_t db_retry_in_ms (db_t *self);

//  Runs one statement with nparams text parameters (params [i] NULL = SQL NULL). On success,
//  when result_p is not NULL, *result_p gets the result (caller owns: db_result_destroy),
//  also for statements that return no rows.
int db_exec (db_t *self, const char *sql, int nparams, const char *const *params,
             db_result_t **result_p);

//  Registers a named statement; it is prepared on first use on each connection (and again
//  after a reconnect). name must be unique per db_t. Returns 0, or RC_ERR if the name
//  is already registered.
int db_prepare (db_t *self, const char *name, const char *sql);

//  Runs a statement registered with db_prepare. Same contract as db_exec.
int db_exec_prepared (db_t *self, const char *name, int nparams, const char *const *params,
                      db_result_t **result_p);

//  Transactions (READ COMMITTED unless the caller says otherwise with SET TRANSACTION).
int db_begin (db_t *self);
int db_commit (db_t *self);
//  Always leaves the db_t outside any transaction; returns 0 even when the connection is
//  gone (the server rolled back for us).
int db_rollback (db_t *self);
bool db_in_transaction (db_t *self);

//  COPY ... FROM STDIN. copy_sql is the program's COPY statement, e.g.
//  "COPY listings (epoch, zipcode, listing_id, doc) FROM STDIN" (add "WITH (FORMAT binary)"
//  and pass binary = true for the binary format). Rows are buffered and streamed in 256 KiB
//  chunks. Between db_copy_begin and db_copy_end/db_copy_abort no other call may be made.
int db_copy_begin (db_t *self, const char *copy_sql, bool binary);

//  Adds one row of ncols values (NULL = SQL NULL).
//  Text format: values are text, NUL-terminated when lengths is NULL, else lengths [i]
//  bytes; they are escaped here (backslash, tab, newline, CR). A value that is not valid
//  UTF-8 or holds a NUL byte is refused with RC_MALFORMED and the row is skipped (the COPY
//  goes on), so one hostile value cannot sink a batch.
//  Binary format: values are each column's binary wire representation (for text, varchar and
//  json the UTF-8 bytes; for jsonb a 0x01 byte then the text; int8 8 bytes big-endian …);
//  lengths is required.
int db_copy_row (db_t *self, int ncols, const char *const *values, const size_t *lengths);

//  Ends the COPY and waits for the server's verdict. On success *rows_p (if not NULL) gets
//  the number of rows the server stored.
int db_copy_end (db_t *self, int64_t *rows_p);

//  Abandons the COPY (nothing is stored). Returns 0 or RC_RETRY.
int db_copy_abort (db_t *self, const char *reason);

//  The last error: "SQLSTATE: message" style text, and the five-character SQLSTATE
//  ("" when the error did not come from the server, e.g. a lost connection).
const char *db_error (db_t *self);
const char *db_sqlstate (db_t *self);

//  Results. Row and column indexes must be in range (programmer error otherwise).
void db_result_destroy (db_result_t **self_p);
int db_result_rows (const db_result_t *self);
int db_result_cols (const db_result_t *self);
//  Rows affected by INSERT/UPDATE/DELETE/COPY (0 for others).
int64_t db_result_affected (const db_result_t *self);
//  The value as text, or NULL for SQL NULL. Borrowed: valid until db_result_destroy.
const char *db_result_get (const db_result_t *self, int row, int col);
size_t db_result_length (const db_result_t *self, int row, int col);
bool db_result_is_null (const db_result_t *self, int row, int col);
//  Parses an integer value. Returns 0, or -1 for NULL or a value that is not an integer.
int db_result_int64 (const db_result_t *self, int row, int col, int64_t *out);

//  --------------------------------------------------------------------------------------
//  Migrations: common/sql/NNNN_name.sql, linked into the binary (common/CMakeLists.txt).

typedef struct {
    int version;                //  NNNN
    const char *name;           //  "base"
    const char *sql;            //  file bytes
    const char *sql_end;        //  one past the last byte
} db_migration_t;

//  The migrations this binary carries, in version order.
const db_migration_t *db_migrations (size_t *count);

//  Applies the pending embedded migrations (db_migrate_list with db_migrations ()).
int db_migrate (db_t *self);

//  Under a session advisory lock (so that the workers of one node starting together apply
//  each migration exactly once), creates schema_migrations if needed, checks that every
//  applied migration is one of list with the same SHA-256, then applies the missing ones in
//  version order, each in its own transaction together with its schema_migrations row.
//  Migration files must not contain BEGIN/COMMIT. Statement timeout is lifted inside a
//  migration. Waits at most 60 s for the lock.
//  Returns 0; RC_RETRY (connection lost, lock wait timed out: restart later); RC_ERR when a
//  migration failed, an applied migration's checksum differs from the binary's, or the
//  database holds a version this binary does not know (all permanent: exit 100), with the
//  version named in db_error.
int db_migrate_list (db_t *self, const db_migration_t *list, size_t count);

#endif
