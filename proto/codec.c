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
    uint32_t n = 0;
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
    uint32_t n = 0;
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
    uint32_t n = 0;
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
    const uint8_t *p = NULL;
    uint32_t n = 0;
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
    for (char *p = err->reason; *p; p++)
        if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
            *p = '?';
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

//  ---- table-driven fields -----------------------------------------------------------------

static const char *
s_rule (codec_kind_t kind)
{
    switch (kind) {
        case CF_EPOCH:   return "epoch id YYYY-MM-DDTHH-MM-SS";
        case CF_ZIPCODE: return "str of 5 digits";
        case CF_HOTKEY:  return "hotkey [A-Za-z0-9]{1,64}";
        default:         return "valid value";
    }
}

static bool (*s_validator (codec_kind_t kind)) (const char *)
{
    switch (kind) {
        case CF_EPOCH:   return proto_valid_epoch;
        case CF_ZIPCODE: return proto_valid_zipcode;
        default:         return proto_valid_hotkey;
    }
}

static size_t
s_fixed_max (const codec_field_t *f)
{
    switch (f->kind) {
        case CF_EPOCH:   return PROTO_EPOCH_LEN;
        case CF_ZIPCODE: return PROTO_ZIPCODE_LEN;
        case CF_HOTKEY:  return PROTO_HOTKEY_MAX;
        default:         return f->size - 1;
    }
}

static uint64_t
s_get_uint (const void *p, size_t width)
{
    switch (width) {
        case 1: return *(const uint8_t *) p;
        case 2: return *(const uint16_t *) p;
        case 4: return *(const uint32_t *) p;
        default: return *(const uint64_t *) p;
    }
}

static void
s_set_uint (void *p, size_t width, uint64_t v)
{
    switch (width) {
        case 1: *(uint8_t *) p = (uint8_t) v; break;
        case 2: *(uint16_t *) p = (uint16_t) v; break;
        case 4: *(uint32_t *) p = (uint32_t) v; break;
        default: *(uint64_t *) p = v; break;
    }
}

static int
s_decode_field (mpr_t *r, const codec_field_t *f, void *msg)
{
    char *p = (char *) msg + f->offset;
    switch (f->kind) {
        case CF_EPOCH:
        case CF_ZIPCODE:
        case CF_HOTKEY:
            return codec_checked (r, f->key, p, s_fixed_max (f), s_validator (f->kind),
                                  s_rule (f->kind));
        case CF_TEXT:
            return codec_text (r, f->key, p, (size_t) f->min, f->size - 1);
        case CF_UINT: {
            uint64_t v;
            if (codec_uint (r, f->key, (uint64_t) f->min, f->max, &v))
                return RC_MALFORMED;
            s_set_uint (p, f->size, v);
            return 0;
        }
        case CF_INT:
            return codec_int (r, f->key, f->min, (int64_t) f->max, (int64_t *) (void *) p);
        case CF_BOOL:
            return codec_bool (r, f->key, (bool *) (void *) p);
        case CF_BIN:
            return codec_bin_exact (r, f->key, (uint8_t *) p, f->size);
        default:
            assert (false);
            return RC_MALFORMED;
    }
}

int
codec_decode_fields (const uint8_t *data, size_t size, int type, const codec_field_t *fields,
                     size_t nfields, void *msg, codec_custom_fn *custom, void *ctx,
                     proto_err_t *err)
{
    assert (nfields <= 64);
    const char *keys [64];
    uint64_t required = 0;
    for (size_t i = 0; i < nfields; i++) {
        keys [i] = fields [i].key;
        if (fields [i].required)
            required |= (uint64_t) 1 << i;
    }
    mpr_t r;
    mpr_map_t map;
    if (codec_open (&r, data, size, type, err) != 0
    ||  mpr_map_begin (&map, &r, "body", keys, nfields) != 0)
        return RC_MALFORMED;
    int key, rc;
    while ((rc = mpr_map_next (&map, &key)) == 1) {
        const codec_field_t *f = &fields [key];
        if (f->kind == CF_CUSTOM) {
            assert (custom);
            if (custom (&r, key, msg, ctx) != 0)
                return RC_MALFORMED;
        }
        else
        if (s_decode_field (&r, f, msg) != 0)
            return RC_MALFORMED;
    }
    if (rc != 0 || mpr_map_require (&map, required) != 0)
        return RC_MALFORMED;
    return codec_close (&r);
}

int
codec_check_fields (const codec_field_t *fields, size_t nfields, const void *msg,
                    proto_err_t *err)
{
    for (size_t i = 0; i < nfields; i++) {
        const codec_field_t *f = &fields [i];
        const char *p = (const char *) msg + f->offset;
        switch (f->kind) {
            case CF_EPOCH:
            case CF_ZIPCODE:
            case CF_HOTKEY:
                if (memchr (p, '\0', s_fixed_max (f) + 1) == NULL)
                    return codec_fail (err, "field '%s': not NUL-terminated", f->key);
                if (codec_check (err, f->key, p, s_validator (f->kind), s_rule (f->kind)))
                    return RC_MALFORMED;
                break;
            case CF_TEXT:
                if (memchr (p, '\0', f->size) == NULL)
                    return codec_fail (err, "field '%s': not NUL-terminated", f->key);
                if (codec_check_text (err, f->key, p, (size_t) f->min, f->size - 1))
                    return RC_MALFORMED;
                break;
            case CF_UINT: {
                uint64_t v = s_get_uint (p, f->size);
                if (v < (uint64_t) f->min || v > f->max)
                    return codec_fail (err, "field '%s': %" PRIu64 " outside %" PRIu64 "..%"
                                       PRIu64, f->key, v, (uint64_t) f->min, f->max);
                break;
            }
            case CF_INT: {
                int64_t v;
                memcpy (&v, p, sizeof v);
                if (v < f->min || v > (int64_t) f->max)
                    return codec_fail (err, "field '%s': %" PRId64 " outside %" PRId64 "..%"
                                       PRId64, f->key, v, f->min, (int64_t) f->max);
                break;
            }
            default:
                break;
        }
    }
    return 0;
}

void
codec_put_fields (msgpack_packer *pk, int type, const codec_field_t *fields, size_t nfields,
                  const void *msg, size_t extra_pairs)
{
    size_t pairs = extra_pairs;
    for (size_t i = 0; i < nfields; i++)
        if (fields [i].kind != CF_CUSTOM)
            pairs++;
    codec_put_envelope (pk, type, pairs);
    for (size_t i = 0; i < nfields; i++) {
        const codec_field_t *f = &fields [i];
        const char *p = (const char *) msg + f->offset;
        if (f->kind == CF_CUSTOM)
            continue;
        codec_put_key (pk, f->key);
        switch (f->kind) {
            case CF_EPOCH:
            case CF_ZIPCODE:
            case CF_HOTKEY:
            case CF_TEXT:
                codec_put_str (pk, p);
                break;
            case CF_UINT:
                msgpack_pack_uint64 (pk, s_get_uint (p, f->size));
                break;
            case CF_INT: {
                int64_t v;
                memcpy (&v, p, sizeof v);
                msgpack_pack_int64 (pk, v);
                break;
            }
            case CF_BOOL:
                if (*(const bool *) (const void *) p)
                    msgpack_pack_true (pk);
                else
                    msgpack_pack_false (pk);
                break;
            default:    //  CF_BIN
                msgpack_pack_bin_with_body (pk, p, f->size);
                break;
        }
    }
}

bool
codec_equal_fields (const codec_field_t *fields, size_t nfields, const void *a, const void *b)
{
    for (size_t i = 0; i < nfields; i++) {
        const codec_field_t *f = &fields [i];
        const char *x = (const char *) a + f->offset, *y = (const char *) b + f->offset;
        switch (f->kind) {
            case CF_EPOCH:
            case CF_ZIPCODE:
            case CF_HOTKEY:
            case CF_TEXT:
                if (strcmp (x, y) != 0)
                    return false;
                break;
            case CF_UINT:
                if (s_get_uint (x, f->size) != s_get_uint (y, f->size))
                    return false;
                break;
            case CF_INT:
                if (memcmp (x, y, sizeof (int64_t)) != 0)
                    return false;
                break;
            case CF_BOOL:
                if (*(const bool *) (const void *) x != *(const bool *) (const void *) y)
                    return false;
                break;
            case CF_BIN:
                if (memcmp (x, y, f->size) != 0)
                    return false;
                break;
            default:
                break;
        }
    }
    return true;
}
