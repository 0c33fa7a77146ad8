/*  strbuf: a growable, always NUL-terminated string buffer.

    A plain value (zero-initialised = empty, no allocation yet), so it can live on the stack
    inside a function that builds a string:

        strbuf_t b = STRBUF_INIT;
        strbuf_add (&b, "GET ");
        strbuf_addf (&b, "/%s", path);
        char *text = strbuf_take (&b);          //  caller owns; b is empty again

    data is NULL until the first append, then always NUL-terminated after len bytes (which
    may include NULs when strbuf_addn adds them). Growth doubles; out of memory aborts.      */
#ifndef ZM_STRBUF_H
#define ZM_STRBUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} strbuf_t;

#define STRBUF_INIT { NULL, 0, 0 }

//  Makes room for extra more bytes (plus the NUL).
void strbuf_reserve (strbuf_t *self, size_t extra);

//  Appends n bytes of s / the C string s / one byte / printf-formatted text.
void strbuf_addn (strbuf_t *self, const char *s, size_t n);
void strbuf_add (strbuf_t *self, const char *s);
void strbuf_addc (strbuf_t *self, char c);
void strbuf_addf (strbuf_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Returns the string (never NULL: "" when nothing was added) and resets the buffer.
//  Caller owns.
char *strbuf_take (strbuf_t *self);

//  Frees the contents and resets the buffer.
void strbuf_reset (strbuf_t *self);

#endif
