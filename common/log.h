/*  Structured logging: one line per event on stdout.

    JSON lines by default: {"ts":"…Z","level":"info","proc":"storage","pid":42,"event":"…",k:v…}
    or, with log_set_format (LOG_FORMAT_TEXT), "ts LEVEL proc[pid] event k=v …" for humans.
    `event` is a stable snake_case name that tests and alerts match on. Values are typed fields:

        log_info ("zipcode_stored", LS ("epoch", id), LS ("zipcode", zip), LI ("rows", n));

    Each line is written with a single write(2) so lines from many processes sharing one
    stdout never interleave (lines are capped at LOG_LINE_MAX; longer values are cut and
    marked with "…"). Never pass secrets or full signatures.

    The process-wide logger state (proc name, format, level) is set once in main() before any
    thread or child exists; it is the one piece of global state outside main.c, because every
    module logs and threading a logger through every call would hide the code's intent.       */
#ifndef ZM_LOG_H
#define ZM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 4096

//  LOGL_ (not LOG_): syslog.h, which czmq includes, owns LOG_DEBUG and LOG_INFO.
typedef enum {
    LOGL_DEBUG = 0,
    LOGL_INFO  = 1,
    LOGL_WARN  = 2,
    LOGL_ERROR = 3
} log_level_t;

typedef enum {
    LOG_FORMAT_JSON = 0,
    LOG_FORMAT_TEXT = 1
} log_format_t;

typedef enum {
    LOG_T_NONE = 0, LOG_T_STR, LOG_T_INT, LOG_T_DBL, LOG_T_BOOL
} log_type_t;

typedef struct {
    const char *key;
    log_type_t type;
    union {
        const char *s;
        int64_t i;
        double d;
        bool b;
    } v;
} log_field_t;

#define LS(k, val) ((log_field_t) { .key = (k), .type = LOG_T_STR,  .v.s = (val) })
#define LI(k, val) ((log_field_t) { .key = (k), .type = LOG_T_INT,  .v.i = (int64_t) (val) })
#define LF(k, val) ((log_field_t) { .key = (k), .type = LOG_T_DBL,  .v.d = (double) (val) })
#define LB(k, val) ((log_field_t) { .key = (k), .type = LOG_T_BOOL, .v.b = (bool) (val) })

//  Sets the process name shown in every line (copied; at most 63 bytes).
void log_set_proc (const char *proc);
void log_set_format (log_format_t format);
void log_set_level (log_level_t level);
//  Redirects output to fd (default 1). For tests.
void log_set_fd (int fd);

//  Parses "json"/"text" and "debug"/"info"/"warn"/"error". Return 0, or -1 if unknown.
int log_format_parse (const char *name, log_format_t *out);
int log_level_parse (const char *name, log_level_t *out);

//  Renders one event into buf (always NUL-terminated, ends in '\n'); returns its length.
//  log_write uses it; exposed for tests.
size_t log_render (char *buf, size_t size, log_level_t level, const char *event,
                   const log_field_t *fields, size_t nfields);

//  Writes one event. fields may be NULL when nfields is 0.
void log_write (log_level_t level, const char *event, const log_field_t *fields, size_t nfields);

//  The field array starts with a dummy element so that a call with no fields is valid C.
#define LOG_FIELDS_(...) ((const log_field_t []) { { .key = NULL }, __VA_ARGS__ })
#define LOG_NFIELDS_(...) (sizeof (LOG_FIELDS_ (__VA_ARGS__)) / sizeof (log_field_t) - 1)
#define LOG_AT_(level, event, ...) \
    log_write ((level), (event), LOG_FIELDS_ (__VA_ARGS__) + 1, LOG_NFIELDS_ (__VA_ARGS__))

#define log_debug(event, ...) LOG_AT_ (LOGL_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...)  LOG_AT_ (LOGL_INFO,  event, __VA_ARGS__)
#define log_warn(event, ...)  LOG_AT_ (LOGL_WARN,  event, __VA_ARGS__)
#define log_error(event, ...) LOG_AT_ (LOGL_ERROR, event, __VA_ARGS__)

#endif
