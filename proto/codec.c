/*  codec: field readers and writers shared by the proto/ codecs (see codec.h).

    Every reader names the field in its error ("field 'zipcode': ..."). Copies into fixed
    buffers check the length against the buffer before copying; copies into an arena rely on
    the arena having been sized to the bytes that remained in the input when it was made: a
    str of n bytes consumes at least n + 1 input bytes and needs n + 1 arena bytes, so the
    arena cannot run out (asserted, because it would be a bug in this file, not bad input). */

#include "proto/codec.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
codec_text (mpr_t *r, const char *field, char *dst, size_t min, size_t max)
{
    const char *s;
    uint32_t n;
    if (mpr_str (r, &s, &n) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (n < min || n > max)
        return mpr_fail (r, "field '%s': expected str of %zu..%zu bytes, got %" PRIu32,
                         field, min, max, n);
    if (!proto_valid_utf8 (s, n))
        return mpr_fail (r, "field '%s': not valid UTF-8 (or contains NUL)", field);
    memcpy (dst, s, n);
    dst [n] = '\0';
    return 0;
}

int
codec_checked (mpr_t *r, const char *field, char *dst, size_t max,
               bool (*valid) (const char *), const char *expect)
{
    const char *s;
    uint32_t n;
    if (mpr_str (r, &s, &n) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (n > max || memchr (s, '\0', n))
        return mpr_fail (r, "field '%s': expected %s", field, expect);
    memcpy (dst, s, n);
    dst [n] = '\0';
    if (!valid (dst))
        return mpr_fail (r, "field '%s': expected %s", field, expect);
    return 0;
}

int
codec_text_arena (mpr_t *r, const char *field, codec_arena_t *arena, size_t min, size_t max,
                  const char **out)
{
    const char *s;
    uint32_t n;
    if (mpr_str (r, &s, &n) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (n < min || n > max)
        return mpr_fail (r, "field '%s': expected str of %zu..%zu bytes, got %" PRIu32,
                         field, min, max, n);
    if (!proto_valid_utf8 (s, n))
        return mpr_fail (r, "field '%s': not valid UTF-8 (or contains NUL)", field);
    assert ((size_t) (arena->end - arena->next) >= (size_t) n + 1);
    memcpy (arena->next, s, n);
    arena->next [n] = '\0';
    *out = arena->next;
    arena->next += (size_t) n + 1;
    return 0;
}

int
codec_uint (mpr_t *r, const char *field, uint64_t min, uint64_t max, uint64_t *v)
{
    if (mpr_uint (r, v) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (*v < min || *v > max)
        return mpr_fail (r, "field '%s': %" PRIu64 " outside %" PRIu64 "..%" PRIu64,
                         field, *v, min, max);
    return 0;
}

int
codec_int (mpr_t *r, const char *field, int64_t min, int64_t max, int64_t *v)
{
    if (mpr_int (r, v) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (*v < min || *v > max)
        return mpr_fail (r, "field '%s': %" PRId64 " outside %" PRId64 "..%" PRId64,
                         field, *v, min, max);
    return 0;
}

int
codec_bool (mpr_t *r, const char *field, bool *v)
{
    if (mpr_bool (r, v) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    return 0;
}

int
codec_double (mpr_t *r, const char *field, bool finite_only, double *v)
{
    if (mpr_double (r, v) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (finite_only && !isfinite (*v))
        return mpr_fail (r, "field '%s': expected a finite number", field);
    return 0;
}

int
codec_bin_exact (mpr_t *r, const char *field, uint8_t *dst, size_t len)
{
    const uint8_t *p;
    uint32_t n;
    if (mpr_bin (r, &p, &n) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (n != len)
        return mpr_fail (r, "field '%s': expected bin of %zu bytes, got %" PRIu32, field,
                         len, n);
    memcpy (dst, p, len);
    return 0;
}

int
codec_array (mpr_t *r, const char *field, uint32_t max, size_t min_bytes, uint32_t *n)
{
    if (mpr_array (r, n) != 0)
        return mpr_fail_prefix (r, "field '%s'", field);
    if (*n > max)
        return mpr_fail (r, "field '%s': array of %" PRIu32 " elements exceeds %" PRIu32,
                         field, *n, max);
    if ((uint64_t) *n * min_bytes > mpr_remaining (r))
        return mpr_fail (r, "field '%s': truncated: %" PRIu32 " elements need at least %zu "
                         "bytes each, %zu remain", field, *n, min_bytes, mpr_remaining (r));
    return 0;
}

//  msgpack_sbuffer_write, except that running out of memory aborts (STYLE.md).
static int
s_write (void *data, const char *buf, size_t len)
{
    if (msgpack_sbuffer_write (data, buf, len) != 0) {
        fprintf (stderr, "proto: out of memory growing a message buffer by %zu bytes\n", len);
        abort ();
    }
    return 0;
}

void
codec_packer_init (msgpack_packer *pk, msgpack_sbuffer *out)
{
    msgpack_packer_init (pk, out, s_write);
}

void
codec_put_envelope (msgpack_packer *pk, int type, size_t pairs)
{
    msgpack_pack_array (pk, 3);
    msgpack_pack_unsigned_int (pk, PROTO_VERSION);
    msgpack_pack_unsigned_int (pk, (unsigned int) type);
    msgpack_pack_map (pk, pairs);
}

void
codec_put_str (msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body (pk, s, strlen (s));
}

void
codec_put_key (msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body (pk, key, strlen (key));
}

int
codec_fail (proto_err_t *err, const char *format, ...)
{
    if (!err)
        return RC_MALFORMED;
    va_list args;
    va_start (args, format);
    vsnprintf (err->reason, sizeof err->reason, format, args);
    va_end (args);
    err->offset = 0;
    return RC_MALFORMED;
}

int
codec_check_text (proto_err_t *err, const char *field, const char *s, size_t min, size_t max)
{
    if (!s)
        return codec_fail (err, "field '%s': missing (NULL)", field);
    size_t n = strlen (s);
    if (n < min || n > max)
        return codec_fail (err, "field '%s': expected str of %zu..%zu bytes, got %zu", field,
                           min, max, n);
    if (!proto_valid_utf8 (s, n))
        return codec_fail (err, "field '%s': not valid UTF-8", field);
    return 0;
}

int
codec_check (proto_err_t *err, const char *field, const char *s,
             bool (*valid) (const char *), const char *expect)
{
    if (!s || !valid (s))
        return codec_fail (err, "field '%s': expected %s", field, expect);
    return 0;
}
