/*  strbuf: growable NUL-terminated string buffer (see strbuf.h).  */
#include "common/strbuf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
strbuf_reserve (strbuf_t *self, size_t extra)
{
    assert (self);
    if (self->len + extra + 1 <= self->cap)
        return;
    size_t cap = self->cap ? self->cap : 256;
    while (cap < self->len + extra + 1)
        cap *= 2;
    char *data = realloc (self->data, cap);
    if (!data)
        abort ();
    self->data = data;
    self->cap = cap;
}

void
strbuf_addn (strbuf_t *self, const char *s, size_t n)
{
    strbuf_reserve (self, n);
    memcpy (self->data + self->len, s, n);
    self->len += n;
    self->data [self->len] = 0;
}

void
strbuf_add (strbuf_t *self, const char *s)
{
    strbuf_addn (self, s, strlen (s));
}

void
strbuf_addc (strbuf_t *self, char c)
{
    strbuf_reserve (self, 1);
    self->data [self->len++] = c;
    self->data [self->len] = 0;
}

void
strbuf_addf (strbuf_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    assert (n >= 0);
    strbuf_reserve (self, (size_t) n);
    va_start (ap, fmt);
    vsnprintf (self->data + self->len, (size_t) n + 1, fmt, ap);
    va_end (ap);
    self->len += (size_t) n;
}

char *
strbuf_take (strbuf_t *self)
{
    if (!self->data)
        strbuf_reserve (self, 0), self->data [0] = 0;
    char *data = self->data;
    self->data = NULL;
    self->len = self->cap = 0;
    return data;
}

void
strbuf_reset (strbuf_t *self)
{
    free (self->data);
    self->data = NULL;
    self->len = self->cap = 0;
}
