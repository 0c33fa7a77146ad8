/*  log: JSON-lines / text event logger.

    Rendering is pure (log_render) and bounded by LOG_LINE_MAX; output is one write(2) per
    line. Strings are JSON-escaped (control characters as \u00XX; bytes >= 0x80 passed through,
    invalid UTF-8 replaced by '?', so a hostile value can never break the line format).       */
#include "common/log.h"
#include "common/clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char s_proc [64] = "zipmine";
static log_format_t s_format = LOG_FORMAT_JSON;
static log_level_t s_level = LOGL_INFO;
static int s_fd = 1;

static const char *s_level_names [] = { "debug", "info", "warn", "error" };
static const char *s_level_upper [] = { "DEBUG", "INFO", "WARN", "ERROR" };

void
log_set_proc (const char *proc)
{
    snprintf (s_proc, sizeof s_proc, "%s", proc ? proc : "zipmine");
}

void log_set_format (log_format_t format) { s_format = format; }
void log_set_level (log_level_t level) { s_level = level; }
void log_set_fd (int fd) { s_fd = fd; }

int
log_format_parse (const char *name, log_format_t *out)
{
    if (strcmp (name, "json") == 0) { *out = LOG_FORMAT_JSON; return 0; }
    if (strcmp (name, "text") == 0) { *out = LOG_FORMAT_TEXT; return 0; }
    return -1;
}

int
log_level_parse (const char *name, log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp (name, s_level_names [i]) == 0) {
            *out = (log_level_t) i;
            return 0;
        }
    return -1;
}

//  Output cursor that never overruns: once full, further appends are dropped and the line
//  is later terminated with "…".
typedef struct {
    char *buf;
    size_t size, len;
    bool full;
} s_out_t;

static void
s_put (s_out_t *o, const char *s, size_t n)
{
    if (o->full)
        return;
    //  keep room for the truncation mark, closing brace and newline
    size_t room = o->size - o->len - 8;
    if (n > room) {
        n = room;
        o->full = true;
    }
    memcpy (o->buf + o->len, s, n);
    o->len += n;
}

static void
s_puts (s_out_t *o, const char *s)
{
    s_put (o, s, strlen (s));
}

//  Length of a valid UTF-8 sequence starting at s (1..4), or 0 if invalid.
static size_t
s_utf8_len (const unsigned char *s, size_t avail)
{
    unsigned char c = s [0];
    size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (n == 0 || n > avail)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s [i] & 0xC0) != 0x80)
            return 0;
    return n;
}

//  Writes str escaped, cut after LOG_VALUE_MAX input bytes (marked with "…").
#define LOG_VALUE_MAX 1024

static void
s_put_escaped (s_out_t *o, const char *str, bool json)
{
    if (!str) {
        s_puts (o, json ? "null" : "-");
        return;
    }
    if (json)
        s_put (o, "\"", 1);
    const unsigned char *s = (const unsigned char *) str;
    size_t len = strnlen (str, LOG_VALUE_MAX + 1);
    bool cut = len > LOG_VALUE_MAX;
    if (cut)
        len = LOG_VALUE_MAX;
    for (size_t i = 0; i < len && !o->full; ) {
        unsigned char c = s [i];
        char esc [8];
        if (c == '"' || c == '\\') {
            if (json) {
                esc [0] = '\\'; esc [1] = (char) c;
                s_put (o, esc, 2);
            }
            else
                s_put (o, (const char *) &s [i], 1);
            i++;
        }
        else
        if (c < 0x20 || c == 0x7F) {
            if (json) {
                snprintf (esc, sizeof esc, "\\u%04x", c);
                s_put (o, esc, 6);
            }
            else
                s_put (o, " ", 1);
            i++;
        }
        else
        if (c < 0x80) {
            s_put (o, (const char *) &s [i], 1);
            i++;
        }
        else {
            size_t n = s_utf8_len (s + i, len - i);
            if (n == 0) {
                s_put (o, "?", 1);
                i++;
            }
            else {
                s_put (o, (const char *) &s [i], n);
                i += n;
            }
        }
    }
    if (cut)
        s_puts (o, "\xE2\x80\xA6");
    if (json)
        s_put (o, "\"", 1);
}

static void
s_put_value (s_out_t *o, const log_field_t *f, bool json)
{
    char num [64];
    switch (f->type) {
        case LOG_T_STR:
            s_put_escaped (o, f->v.s, json);
            break;
        case LOG_T_INT:
            snprintf (num, sizeof num, "%lld", (long long) f->v.i);
            s_puts (o, num);
            break;
        case LOG_T_DBL:
            if (isfinite (f->v.d))
                snprintf (num, sizeof num, "%.17g", f->v.d);
            else
                snprintf (num, sizeof num, json ? "null" : "%g", f->v.d);
            s_puts (o, num);
            break;
        case LOG_T_BOOL:
            s_puts (o, f->v.b ? "true" : "false");
            break;
        default:
            s_puts (o, "null");
            break;
    }
}

size_t
log_render (char *buf, size_t size, log_level_t level, const char *event,
            const log_field_t *fields, size_t nfields)
{
    s_out_t o = { buf, size, 0, false };
    char ts [32];
    clock_iso8601 (clock_wall_ms (), ts, sizeof ts);
    char pid [24];
    snprintf (pid, sizeof pid, "%d", (int) getpid ());
    unsigned lv = (unsigned) level <= LOGL_ERROR ? (unsigned) level : LOGL_ERROR;

    if (s_format == LOG_FORMAT_JSON) {
        s_puts (&o, "{\"ts\":\"");
        s_puts (&o, ts);
        s_puts (&o, "\",\"level\":\"");
        s_puts (&o, s_level_names [lv]);
        s_puts (&o, "\",\"proc\":");
        s_put_escaped (&o, s_proc, true);
        s_puts (&o, ",\"pid\":");
        s_puts (&o, pid);
        s_puts (&o, ",\"event\":");
        s_put_escaped (&o, event, true);
        size_t header_len = o.len;
        for (size_t i = 0; i < nfields; i++) {
            s_put (&o, ",", 1);
            s_put_escaped (&o, fields [i].key, true);
            s_put (&o, ":", 1);
            s_put_value (&o, &fields [i], true);
        }
        if (o.full) {
            //  Too many fields for one line: keep the header, say so, and stay valid JSON.
            o.full = false;
            o.len = header_len;
            s_puts (&o, ",\"truncated\":true");
        }
        s_put (&o, "}\n", 2);
    }
    else {
        s_puts (&o, ts);
        s_put (&o, " ", 1);
        s_puts (&o, s_level_upper [lv]);
        s_put (&o, " ", 1);
        s_put_escaped (&o, s_proc, false);
        s_put (&o, "[", 1);
        s_puts (&o, pid);
        s_put (&o, "] ", 2);
        s_put_escaped (&o, event, false);
        for (size_t i = 0; i < nfields; i++) {
            s_put (&o, " ", 1);
            s_put_escaped (&o, fields [i].key, false);
            s_put (&o, "=", 1);
            s_put_value (&o, &fields [i], false);
        }
        if (o.full)
            s_puts ((o.full = false, &o), "\xE2\x80\xA6");
        s_put (&o, "\n", 1);
    }
    buf [o.len] = 0;
    return o.len;
}

void
log_write (log_level_t level, const char *event, const log_field_t *fields, size_t nfields)
{
    if (level < s_level)
        return;
    int saved = errno;      //  logging must not disturb the caller's errno
    char line [LOG_LINE_MAX];
    size_t len = log_render (line, sizeof line, level, event, fields, nfields);
    const char *p = line;
    while (len > 0) {
        ssize_t n = write (s_fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;          //  nowhere to report a logging failure: drop the line
        p += n;
        len -= (size_t) n;
    }
    errno = saved;
}
