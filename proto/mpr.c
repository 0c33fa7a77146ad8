/*  mpr: bounded msgpack reader (see mpr.h for the contract).

    Invariant: self->pos <= self->size at all times, and no byte at or beyond self->size is
    ever read. Every length read from the input is compared with the bytes remaining before
    it is used for anything, including pointer arithmetic. Nothing here allocates.           */

#include "proto/mpr.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
mpr_init (mpr_t *self, const uint8_t *data, size_t size, proto_err_t *err)
{
    assert (self);
    assert (data || size == 0);
    self->data = data;
    self->size = size;
    self->pos = 0;
    self->err = err ? err : &self->scratch;
    self->err->reason [0] = '\0';
    self->err->offset = 0;
}

size_t
mpr_remaining (const mpr_t *self)
{
    return self->size - self->pos;
}

//  Reasons quote input bytes (keys, names); make them printable ASCII so a reason can go to
//  a log line or a terminal as it is.
static void
s_sanitize (char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
            *s = '?';
}

int
mpr_fail (mpr_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->err->reason, sizeof self->err->reason, format, args);
    va_end (args);
    s_sanitize (self->err->reason);
    self->err->offset = self->pos;
    return RC_MALFORMED;
}

int
mpr_fail_prefix (mpr_t *self, const char *format, ...)
{
    char old [PROTO_ERR_REASON_MAX];
    memcpy (old, self->err->reason, sizeof old);
    old [sizeof old - 1] = '\0';
    char *out = self->err->reason;
    size_t cap = sizeof self->err->reason;
    va_list args;
    va_start (args, format);
    int n = vsnprintf (out, cap, format, args);
    va_end (args);
    size_t used = n < 0 ? 0 : (size_t) n < cap ? (size_t) n : cap - 1;
    //  Append ": <old>" by hand, cut to fit.
    const char *parts [2] = { ": ", old };
    for (int k = 0; k < 2; k++)
        for (const char *p = parts [k]; *p && used + 1 < cap; p++)
            out [used++] = *p;
    out [used] = '\0';
    s_sanitize (out);
    return RC_MALFORMED;
}

mpr_kind_t
mpr_peek (const mpr_t *self)
{
    if (self->pos >= self->size)
        return MPR_END;
    uint8_t b = self->data [self->pos];
    if (b <= 0x7f) return MPR_UINT;
    if (b <= 0x8f) return MPR_MAP;
    if (b <= 0x9f) return MPR_ARRAY;
    if (b <= 0xbf) return MPR_STR;
    if (b >= 0xe0) return MPR_INT;
    switch (b) {
        case 0xc0: return MPR_NIL;
        case 0xc1: return MPR_INVALID;
        case 0xc2: case 0xc3: return MPR_BOOL;
        case 0xc4: case 0xc5: case 0xc6: return MPR_BIN;
        case 0xc7: case 0xc8: case 0xc9: return MPR_EXT;
        case 0xca: case 0xcb: return MPR_FLOAT;
        case 0xcc: case 0xcd: case 0xce: case 0xcf: return MPR_UINT;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
            //  Signed encodings: the kind depends on the sign of the value, which is the
            //  top bit of the first payload byte (big-endian).
            if (self->pos + 1 >= self->size)
                return MPR_INT;         //  truncated; the reader will say so
            return (self->data [self->pos + 1] & 0x80) ? MPR_INT : MPR_UINT;
        }
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return MPR_EXT;
        case 0xd9: case 0xda: case 0xdb: return MPR_STR;
        case 0xdc: case 0xdd: return MPR_ARRAY;
        default: return MPR_MAP;       //  0xde, 0xdf
    }
}

const char *
mpr_kind_name (mpr_kind_t kind)
{
    switch (kind) {
        case MPR_END: return "end of input";
        case MPR_NIL: return "nil";
        case MPR_BOOL: return "bool";
        case MPR_UINT: return "uint";
        case MPR_INT: return "negative int";
        case MPR_FLOAT: return "float";
        case MPR_STR: return "str";
        case MPR_BIN: return "bin";
        case MPR_ARRAY: return "array";
        case MPR_MAP: return "map";
        case MPR_EXT: return "ext";
        default: return "invalid byte 0xc1";
    }
}

//  Reads an n-byte big-endian unsigned integer (n = 1, 2, 4 or 8) after checking it fits.
static int
s_be (mpr_t *self, size_t n, uint64_t *value)
{
    if (self->size - self->pos < n)
        return mpr_fail (self, "truncated: need %zu bytes, %zu remain", n,
                         self->size - self->pos);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | self->data [self->pos + i];
    self->pos += n;
    *value = v;
    return 0;
}

static int
s_expected (mpr_t *self, const char *want)
{
    return mpr_fail (self, "expected %s, got %s", want, mpr_kind_name (mpr_peek (self)));
}

int
mpr_nil (mpr_t *self)
{
    if (mpr_peek (self) != MPR_NIL)
        return s_expected (self, "nil");
    self->pos++;
    return 0;
}

int
mpr_bool (mpr_t *self, bool *value)
{
    if (mpr_peek (self) != MPR_BOOL)
        return s_expected (self, "bool");
    *value = self->data [self->pos] == 0xc3;
    self->pos++;
    return 0;
}

//  Reads any integer encoding. On success *neg says whether the value is negative; then
//  *sv holds it, else *uv does.
static int
s_integer (mpr_t *self, bool *neg, uint64_t *uv, int64_t *sv)
{
    mpr_kind_t kind = mpr_peek (self);
    if (kind != MPR_UINT && kind != MPR_INT)
        return s_expected (self, "int");
    size_t start = self->pos;
    uint8_t b = self->data [self->pos++];
    uint64_t raw = 0;
    *neg = false;
    if (b <= 0x7f) {
        *uv = b;
        return 0;
    }
    if (b >= 0xe0) {
        *neg = true;
        *sv = (int64_t) (int8_t) b;
        return 0;
    }
    size_t width = (size_t) 1 << (b & 0x03);     //  cc..cf and d0..d3: 1, 2, 4, 8 bytes
    if (s_be (self, width, &raw) != 0) {
        self->pos = start;
        self->err->offset = start;
        return RC_MALFORMED;
    }
    if (b <= 0xcf) {
        *uv = raw;
        return 0;
    }
    //  Sign-extend the big-endian payload.
    int64_t v = 0;
    switch (width) {
        case 1: v = (int8_t) (uint8_t) raw; break;
        case 2: v = (int16_t) (uint16_t) raw; break;
        case 4: v = (int32_t) (uint32_t) raw; break;
        default: memcpy (&v, &raw, sizeof v); break;
    }
    if (v < 0) {
        *neg = true;
        *sv = v;
    }
    else
        *uv = (uint64_t) v;
    return 0;
}

int
mpr_uint (mpr_t *self, uint64_t *value)
{
    bool neg = false;
    uint64_t uv = 0;
    int64_t sv = 0;
    if (s_integer (self, &neg, &uv, &sv) != 0)
        return RC_MALFORMED;
    if (neg)
        return mpr_fail (self, "expected uint, got negative int %" PRId64, sv);
    *value = uv;
    return 0;
}

int
mpr_int (mpr_t *self, int64_t *value)
{
    bool neg = false;
    uint64_t uv = 0;
    int64_t sv = 0;
    if (s_integer (self, &neg, &uv, &sv) != 0)
        return RC_MALFORMED;
    if (!neg && uv > (uint64_t) INT64_MAX)
        return mpr_fail (self, "integer %" PRIu64 " does not fit int64", uv);
    *value = neg ? sv : (int64_t) uv;
    return 0;
}

int
mpr_double (mpr_t *self, double *value)
{
    mpr_kind_t kind = mpr_peek (self);
    if (kind == MPR_UINT || kind == MPR_INT) {
        bool neg;
        uint64_t uv = 0;
        int64_t sv = 0;
        if (s_integer (self, &neg, &uv, &sv) != 0)
            return RC_MALFORMED;
        *value = neg ? (double) sv : (double) uv;
        return 0;
    }
    if (kind != MPR_FLOAT)
        return s_expected (self, "float");
    size_t start = self->pos;
    uint8_t b = self->data [self->pos++];
    uint64_t raw = 0;
    if (s_be (self, b == 0xca ? 4 : 8, &raw) != 0) {
        self->pos = start;
        self->err->offset = start;
        return RC_MALFORMED;
    }
    if (b == 0xca) {
        uint32_t bits = (uint32_t) raw;
        float f;
        memcpy (&f, &bits, sizeof f);
        *value = (double) f;
    }
    else
        memcpy (value, &raw, sizeof *value);
    return 0;
}

//  Reads the length of a str/bin/array/map whose first byte is b, given its fixed-size
//  ranges. Checks nothing about the remaining bytes yet.
static int
s_length (mpr_t *self, size_t width, uint32_t *len)
{
    uint64_t v = 0;
    if (s_be (self, width, &v) != 0)
        return RC_MALFORMED;
    *len = (uint32_t) v;
    return 0;
}

static int
s_blob (mpr_t *self, bool is_str, const uint8_t **ptr, uint32_t *len)
{
    mpr_kind_t kind = mpr_peek (self);
    if (kind != (is_str ? MPR_STR : MPR_BIN))
        return s_expected (self, is_str ? "str" : "bin");
    size_t start = self->pos;
    uint8_t b = self->data [self->pos++];
    uint32_t n = 0;
    if (b >= 0xa0 && b <= 0xbf)
        n = b & 0x1f;
    else {
        size_t width = (b == 0xd9 || b == 0xc4) ? 1 : (b == 0xda || b == 0xc5) ? 2 : 4;
        if (s_length (self, width, &n) != 0) {
            self->pos = start;
            self->err->offset = start;
            return RC_MALFORMED;
        }
    }
    if (n > self->size - self->pos) {
        size_t remain = self->size - self->pos;
        self->pos = start;
        return mpr_fail (self, "truncated: %s of %" PRIu32 " bytes but %zu remain",
                         is_str ? "str" : "bin", n, remain);
    }
    *ptr = self->data + self->pos;
    *len = n;
    self->pos += n;
    return 0;
}

int
mpr_str (mpr_t *self, const char **ptr, uint32_t *len)
{
    const uint8_t *p = NULL;
    if (s_blob (self, true, &p, len) != 0)
        return RC_MALFORMED;
    *ptr = (const char *) p;
    return 0;
}

int
mpr_bin (mpr_t *self, const uint8_t **ptr, uint32_t *len)
{
    return s_blob (self, false, ptr, len);
}

int
mpr_array (mpr_t *self, uint32_t *count)
{
    if (mpr_peek (self) != MPR_ARRAY)
        return s_expected (self, "array");
    size_t start = self->pos;
    uint8_t b = self->data [self->pos++];
    uint32_t n = 0;
    if (b <= 0x9f)
        n = b & 0x0f;
    else if (s_length (self, b == 0xdc ? 2 : 4, &n) != 0) {
        self->pos = start;
        self->err->offset = start;
        return RC_MALFORMED;
    }
    //  Every element takes at least one byte.
    if (n > self->size - self->pos) {
        size_t remain = self->size - self->pos;
        self->pos = start;
        return mpr_fail (self, "truncated: array of %" PRIu32 " elements but %zu bytes remain",
                         n, remain);
    }
    *count = n;
    return 0;
}

int
mpr_map (mpr_t *self, uint32_t *count)
{
    if (mpr_peek (self) != MPR_MAP)
        return s_expected (self, "map");
    size_t start = self->pos;
    uint8_t b = self->data [self->pos++];
    uint32_t n = 0;
    if (b <= 0x8f)
        n = b & 0x0f;
    else if (s_length (self, b == 0xde ? 2 : 4, &n) != 0) {
        self->pos = start;
        self->err->offset = start;
        return RC_MALFORMED;
    }
    //  Every pair takes at least two bytes; computed in 64 bits so 2n cannot wrap.
    if ((uint64_t) n * 2 > self->size - self->pos) {
        size_t remain = self->size - self->pos;
        self->pos = start;
        return mpr_fail (self, "truncated: map of %" PRIu32 " pairs but %zu bytes remain",
                         n, remain);
    }
    *count = n;
    return 0;
}

static int
s_skip (mpr_t *self, int depth)
{
    mpr_kind_t kind = mpr_peek (self);
    switch (kind) {
        case MPR_END:
            return mpr_fail (self, "truncated: value expected, input ended");
        case MPR_INVALID:
            return mpr_fail (self, "invalid byte 0xc1");
        case MPR_NIL:
            return mpr_nil (self);
        case MPR_BOOL: {
            bool b;
            return mpr_bool (self, &b);
        }
        case MPR_UINT:
        case MPR_INT: {
            bool neg;
            uint64_t uv;
            int64_t sv;
            return s_integer (self, &neg, &uv, &sv);
        }
        case MPR_FLOAT: {
            double d;
            return mpr_double (self, &d);
        }
        case MPR_STR:
        case MPR_BIN: {
            const uint8_t *p;
            uint32_t n;
            return s_blob (self, kind == MPR_STR, &p, &n);
        }
        case MPR_EXT: {
            uint8_t b = self->data [self->pos];
            size_t start = self->pos++;
            uint32_t n;
            if (b >= 0xd4 && b <= 0xd8)
                n = 1u << (b - 0xd4);
            else if (s_length (self, b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4, &n) != 0) {
                self->pos = start;
                self->err->offset = start;
                return RC_MALFORMED;
            }
            //  One type byte, then n data bytes.
            if ((uint64_t) n + 1 > self->size - self->pos) {
                size_t remain = self->size - self->pos;
                self->pos = start;
                return mpr_fail (self, "truncated: ext of %" PRIu32 " bytes but %zu remain",
                                 n, remain);
            }
            self->pos += (size_t) n + 1;
            return 0;
        }
        case MPR_ARRAY:
        case MPR_MAP: {
            if (depth >= MPR_MAX_DEPTH)
                return mpr_fail (self, "nesting deeper than %d levels", MPR_MAX_DEPTH);
            uint32_t n;
            if (kind == MPR_ARRAY ? mpr_array (self, &n) : mpr_map (self, &n))
                return RC_MALFORMED;
            uint64_t items = kind == MPR_ARRAY ? n : (uint64_t) n * 2;
            for (uint64_t i = 0; i < items; i++)
                if (s_skip (self, depth + 1) != 0)
                    return RC_MALFORMED;
            return 0;
        }
    }
    return mpr_fail (self, "unreachable kind");
}

int
mpr_skip (mpr_t *self)
{
    return s_skip (self, 0);
}

int
mpr_map_begin (mpr_map_t *map, mpr_t *r, const char *what,
               const char *const *keys, size_t nkeys)
{
    assert (nkeys <= 64);
    map->r = r;
    map->what = what;
    map->keys = keys;
    map->nkeys = nkeys;
    map->found = 0;
    map->nunknown = 0;
    map->left = 0;
    uint32_t n = 0;
    if (mpr_map (r, &n) != 0)
        return mpr_fail_prefix (r, "%s", what);
    if (n > MPR_MAP_MAX_PAIRS)
        return mpr_fail (r, "%s: map of %" PRIu32 " pairs exceeds %d", what, n,
                         MPR_MAP_MAX_PAIRS);
    map->left = n;
    return 0;
}

int
mpr_map_next (mpr_map_t *map, int *index)
{
    mpr_t *r = map->r;
    while (map->left > 0) {
        map->left--;
        const char *key;
        uint32_t len;
        if (mpr_str (r, &key, &len) != 0)
            return mpr_fail_prefix (r, "%s: key", map->what);
        if (len > MPR_KEY_MAX)
            return mpr_fail (r, "%s: key of %" PRIu32 " bytes exceeds %d", map->what, len,
                             MPR_KEY_MAX);
        for (size_t i = 0; i < map->nkeys; i++) {
            if (strlen (map->keys [i]) == len && memcmp (map->keys [i], key, len) == 0) {
                if (mpr_map_has (map, (int) i))
                    return mpr_fail (r, "%s: duplicate key '%s'", map->what, map->keys [i]);
                map->found |= (uint64_t) 1 << i;
                *index = (int) i;
                return 1;
            }
        }
        //  Unknown key: remember it for the duplicate check, skip its value.
        for (uint32_t i = 0; i < map->nunknown; i++)
            if (map->unknown [i].len == len && memcmp (map->unknown [i].ptr, key, len) == 0)
                return mpr_fail (r, "%s: duplicate key '%.*s'", map->what, (int) len, key);
        assert (map->nunknown < MPR_MAP_MAX_PAIRS);
        map->unknown [map->nunknown].ptr = key;
        map->unknown [map->nunknown].len = len;
        map->nunknown++;
        if (mpr_skip (r) != 0)
            return mpr_fail_prefix (r, "%s: key '%.*s'", map->what, (int) len, key);
    }
    return 0;
}

int
mpr_map_require (mpr_map_t *map, uint64_t required)
{
    uint64_t missing = required & ~map->found;
    if (!missing)
        return 0;
    for (size_t i = 0; i < map->nkeys; i++)
        if ((missing >> i) & 1u)
            return mpr_fail (map->r, "%s: missing required field '%s'", map->what,
                             map->keys [i]);
    return mpr_fail (map->r, "%s: missing required field", map->what);
}
