/*  Helpers shared by the tests/unit/test_proto_*.c tests (each is its own executable).

    Allocation counting: the tests prove that decoders allocate nothing (or only a small
    multiple of the input size) before rejecting a lying length header. They count every byte
    requested from malloc/calloc/realloc while a decode runs:
      - under AddressSanitizer, with the sanitizer's malloc hook (ASan owns malloc, so we must
        not interpose it);
      - otherwise by interposing malloc/calloc/realloc in the test executable and forwarding
        to glibc's __libc_* entry points.
    alloc_self_test () checks that the counter really counts, so a broken hook fails the test
    instead of passing everything.

    The counters are process globals: acceptable in a single-threaded test executable.       */
#ifndef ZM_TEST_PROTO_H
#define ZM_TEST_PROTO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto/proto.h"
#include "tests/testutil.h"

static volatile size_t s_alloc_bytes;   //  volatile: the compiler assumes malloc touches no globals
static volatile size_t s_alloc_calls;

#if defined(__SANITIZE_ADDRESS__)
#   define TEST_PROTO_ASAN 1
#elif defined(__has_feature)
#   if __has_feature(address_sanitizer)
#       define TEST_PROTO_ASAN 1
#   endif
#endif

#ifdef TEST_PROTO_ASAN
int __sanitizer_install_malloc_and_free_hooks (void (*malloc_hook) (const volatile void *, size_t),
                                               void (*free_hook) (const volatile void *));
static inline void
s_malloc_hook (const volatile void *ptr, size_t size)
{
    (void) ptr;
    s_alloc_bytes += size;
    s_alloc_calls++;
}
static inline void
s_free_hook (const volatile void *ptr)
{
    (void) ptr;
}
static inline void
alloc_init (void)
{
    __sanitizer_install_malloc_and_free_hooks (s_malloc_hook, s_free_hook);
}
#else
void *__libc_malloc (size_t size);
void *__libc_calloc (size_t n, size_t size);
void *__libc_realloc (void *ptr, size_t size);
void *malloc (size_t size);
void *calloc (size_t n, size_t size);
void *realloc (void *ptr, size_t size);
void *
malloc (size_t size)
{
    s_alloc_bytes += size;
    s_alloc_calls++;
    return __libc_malloc (size);
}
void *
calloc (size_t n, size_t size)
{
    s_alloc_bytes += n * size;
    s_alloc_calls++;
    return __libc_calloc (n, size);
}
void *
realloc (void *ptr, size_t size)
{
    s_alloc_bytes += size;
    s_alloc_calls++;
    return __libc_realloc (ptr, size);
}
static inline void
alloc_init (void)
{
}
#endif

static inline void
alloc_reset (void)
{
    s_alloc_bytes = 0;
    s_alloc_calls = 0;
}

//  Proves the counter sees allocations made from another translation unit's point of view
//  (a volatile pointer keeps the compiler from eliding the pair).
static inline void
alloc_self_test (void)
{
    alloc_init ();
    alloc_reset ();
    void *volatile p = malloc (1000);
    CHECK (p != NULL);
    free (p);
    CHECK (s_alloc_bytes >= 1000);
    CHECK (s_alloc_calls >= 1);
    alloc_reset ();
}

//  A packer over a fresh sbuffer, for building messages (good and bad) by hand.
typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} raw_t;

static inline void
raw_init (raw_t *raw)
{
    msgpack_sbuffer_init (&raw->buf);
    msgpack_packer_init (&raw->pk, &raw->buf, msgpack_sbuffer_write);
}

static inline void
raw_destroy (raw_t *raw)
{
    msgpack_sbuffer_destroy (&raw->buf);
}

static inline void
raw_str (raw_t *raw, const char *s)
{
    msgpack_pack_str_with_body (&raw->pk, s, strlen (s));
}

static inline void
raw_bytes (raw_t *raw, const void *p, size_t n)
{
    msgpack_sbuffer_write (&raw->buf, p, n);
}

//  [version, type, map of `pairs`
static inline void
raw_envelope (raw_t *raw, uint64_t version, uint64_t type, size_t pairs)
{
    msgpack_pack_array (&raw->pk, 3);
    msgpack_pack_uint64 (&raw->pk, version);
    msgpack_pack_uint64 (&raw->pk, type);
    msgpack_pack_map (&raw->pk, pairs);
}

//  The four 5-byte headers that make msgpack-c allocate gigabytes.
static const uint8_t s_nasty [4][5] = {
    { 0xdd, 0xff, 0xff, 0xff, 0xff },     //  array32 of 2^32-1
    { 0xdf, 0xff, 0xff, 0xff, 0xff },     //  map32 of 2^32-1
    { 0xdb, 0xff, 0xff, 0xff, 0xff },     //  str32 of 2^32-1
    { 0xc6, 0xff, 0xff, 0xff, 0xff },     //  bin32 of 2^32-1
};

//  Runs `decode` (a proto_<x>_decode) on (data, size) into a fresh message of type T and
//  checks it fails with RC_MALFORMED, a reason, an offset inside the input, a zeroed output
//  and at most `per_byte` * size + 256 bytes allocated. Frees with `freefn`.
#define EXPECT_REJECT(T, decode, freefn, IN_DATA, IN_SIZE, per_byte) do { \
    T tp_m; \
    memset (&tp_m, 0x5a, sizeof tp_m); \
    proto_err_t tp_e; \
    tp_e.reason [0] = '\0'; \
    alloc_reset (); \
    int tp_rc = decode ((IN_DATA), (IN_SIZE), &tp_m, &tp_e); \
    size_t tp_a = s_alloc_bytes; \
    if (tp_rc != RC_MALFORMED) \
        fprintf (stderr, "accepted %zu bytes that should be rejected\n", (size_t) (IN_SIZE)); \
    CHECK_EQ_INT (tp_rc, RC_MALFORMED); \
    CHECK (tp_e.reason [0] != '\0'); \
    CHECK (tp_e.offset <= (size_t) (IN_SIZE)); \
    if (tp_a > (per_byte) * (size_t) (IN_SIZE) + 256) \
        fprintf (stderr, "allocated %zu bytes for %zu input bytes\n", tp_a, (size_t) (IN_SIZE)); \
    CHECK (tp_a <= (per_byte) * (size_t) (IN_SIZE) + 256); \
    T tp_z; \
    memset (&tp_z, 0, sizeof tp_z); \
    CHECK (memcmp (&tp_m, &tp_z, sizeof tp_m) == 0); \
    freefn (&tp_m); \
} while (0)

//  Like EXPECT_REJECT, and the reason contains `needle`.
#define EXPECT_REASON(T, decode, freefn, IN_DATA, IN_SIZE, needle) do { \
    T tp_m; \
    proto_err_t tp_e; \
    tp_e.reason [0] = '\0'; \
    int tp_rc = decode ((IN_DATA), (IN_SIZE), &tp_m, &tp_e); \
    CHECK_EQ_INT (tp_rc, RC_MALFORMED); \
    if (!strstr (tp_e.reason, (needle))) \
        fprintf (stderr, "reason \"%s\" lacks \"%s\"\n", tp_e.reason, (needle)); \
    CHECK (strstr (tp_e.reason, (needle)) != NULL); \
    freefn (&tp_m); \
} while (0)

//  Every strict prefix of a valid message (and the message plus a trailing byte) is
//  rejected without allocating more than `per_byte` bytes per input byte.
#define EXPECT_PREFIXES_REJECTED(T, decode, freefn, IN_DATA, IN_SIZE, per_byte) do { \
    for (size_t tp_i = 0; tp_i < (size_t) (IN_SIZE); tp_i++) \
        EXPECT_REJECT (T, decode, freefn, (IN_DATA), tp_i, (per_byte)); \
    uint8_t *tp_longer = malloc ((size_t) (IN_SIZE) + 1); \
    memcpy (tp_longer, (IN_DATA), (size_t) (IN_SIZE)); \
    tp_longer [(size_t) (IN_SIZE)] = 0xc0; \
    EXPECT_REASON (T, decode, freefn, tp_longer, (size_t) (IN_SIZE) + 1, "trailing"); \
    free (tp_longer); \
} while (0)

//  The nasty headers, as the whole input, as the body, and as the value of an unknown key
//  and of every known key in `keys`: rejected with no allocation at all.
#define EXPECT_NASTY_REJECTED(T, decode, freefn, type, keys, nkeys) do { \
    for (int tp_n = 0; tp_n < 4; tp_n++) { \
        EXPECT_REJECT (T, decode, freefn, s_nasty [tp_n], 5, 0); \
        CHECK_EQ_INT (s_alloc_calls, 0); \
        raw_t tp_raw; \
        raw_init (&tp_raw); \
        msgpack_pack_array (&tp_raw.pk, 3); \
        msgpack_pack_uint32 (&tp_raw.pk, PROTO_VERSION); \
        msgpack_pack_uint32 (&tp_raw.pk, (type)); \
        raw_bytes (&tp_raw, s_nasty [tp_n], 5); \
        EXPECT_REJECT (T, decode, freefn, (uint8_t *) tp_raw.buf.data, tp_raw.buf.size, 0); \
        CHECK_EQ_INT (s_alloc_calls, 0); \
        raw_destroy (&tp_raw); \
        for (size_t tp_k = 0; tp_k <= (nkeys); tp_k++) { \
            raw_init (&tp_raw); \
            raw_envelope (&tp_raw, PROTO_VERSION, (type), 1); \
            raw_str (&tp_raw, tp_k < (nkeys) ? (keys) [tp_k] : "unknown_key"); \
            raw_bytes (&tp_raw, s_nasty [tp_n], 5); \
            EXPECT_REJECT (T, decode, freefn, (uint8_t *) tp_raw.buf.data, tp_raw.buf.size, 0); \
            CHECK_EQ_INT (s_alloc_calls, 0); \
            raw_destroy (&tp_raw); \
        } \
    } \
} while (0)

//  Every single-byte mutation of a valid message (each byte set to a few interesting values)
//  either fails cleanly or decodes to something that re-encodes and re-decodes equal.
#define EXPECT_MUTATIONS_SAFE(T, decode, encode, equal, freefn, IN_DATA, IN_SIZE) do { \
    static const uint8_t tp_vals [] = { 0x00, 0x01, 0x7f, 0x80, 0xa0, 0xc0, 0xc1, 0xc2, 0xca, \
                                      0xcb, 0xcf, 0xd3, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff }; \
    uint8_t *tp_copy = malloc ((size_t) (IN_SIZE)); \
    for (size_t tp_i = 0; tp_i < (size_t) (IN_SIZE); tp_i++) \
        for (size_t tp_v = 0; tp_v < sizeof tp_vals; tp_v++) { \
            memcpy (tp_copy, (IN_DATA), (size_t) (IN_SIZE)); \
            tp_copy [tp_i] = tp_vals [tp_v]; \
            T tp_a, tp_b; \
            proto_err_t tp_e; \
            if (decode (tp_copy, (size_t) (IN_SIZE), &tp_a, &tp_e) != 0) \
                continue; \
            msgpack_sbuffer tp_sb; \
            msgpack_sbuffer_init (&tp_sb); \
            CHECK_EQ_INT (encode (&tp_a, &tp_sb, &tp_e), 0); \
            CHECK_EQ_INT (decode ((uint8_t *) tp_sb.data, tp_sb.size, &tp_b, &tp_e), 0); \
            CHECK (equal (&tp_a, &tp_b)); \
            freefn (&tp_a); \
            freefn (&tp_b); \
            msgpack_sbuffer_destroy (&tp_sb); \
        } \
    free (tp_copy); \
} while (0)

//  ---- body surgery ------------------------------------------------------------------------
//  Family tests describe their decoder as a function that decodes, frees, and returns the rc,
//  so the helpers below can be plain functions.
#include "proto/mpr.h"

typedef int (test_dec_fn) (const uint8_t *data, size_t size, proto_err_t *err);

//  Copies a valid message, editing its body: drops the pair whose key is `drop`; replaces
//  the value of `replace` with the `vlen` bytes at `value`; appends a second copy of the pair
//  `dup`; appends an unknown key with a nested value when add_unknown. NULL/false: no edit.
static inline void
body_edit (const uint8_t *valid, size_t size, const char *drop, const char *replace,
           const void *value, size_t vlen, const char *dup, bool add_unknown, raw_t *out)
{
    mpr_t r;
    mpr_init (&r, valid, size, NULL);
    uint32_t n, pairs;
    uint64_t version, type;
    CHECK_EQ_INT (mpr_array (&r, &n), 0);
    CHECK_EQ_INT (mpr_uint (&r, &version), 0);
    CHECK_EQ_INT (mpr_uint (&r, &type), 0);
    CHECK_EQ_INT (mpr_map (&r, &pairs), 0);
    struct { size_t k0, v0, v1; const char *key; uint32_t klen; } span [64];
    CHECK (pairs <= 64);
    for (uint32_t i = 0; i < pairs; i++) {
        span [i].k0 = r.pos;
        CHECK_EQ_INT (mpr_str (&r, &span [i].key, &span [i].klen), 0);
        span [i].v0 = r.pos;
        CHECK_EQ_INT (mpr_skip (&r), 0);
        span [i].v1 = r.pos;
    }
    size_t outpairs = pairs;
    bool found_drop = false, found_dup = false, found_replace = false;
    for (uint32_t i = 0; i < pairs; i++) {
        if (drop && strlen (drop) == span [i].klen && !memcmp (drop, span [i].key, span [i].klen)) {
            outpairs--;
            found_drop = true;
        }
        if (dup && strlen (dup) == span [i].klen && !memcmp (dup, span [i].key, span [i].klen)) {
            outpairs++;
            found_dup = true;
        }
        if (replace && strlen (replace) == span [i].klen
            && !memcmp (replace, span [i].key, span [i].klen))
            found_replace = true;
    }
    CHECK (!drop || found_drop);
    CHECK (!dup || found_dup);
    CHECK (!replace || found_replace);
    raw_init (out);
    raw_envelope (out, version, type, outpairs + add_unknown);
    for (uint32_t i = 0; i < pairs; i++) {
        bool is_drop = drop && strlen (drop) == span [i].klen
                       && !memcmp (drop, span [i].key, span [i].klen);
        bool is_rep = replace && strlen (replace) == span [i].klen
                      && !memcmp (replace, span [i].key, span [i].klen);
        bool is_dup = dup && strlen (dup) == span [i].klen
                      && !memcmp (dup, span [i].key, span [i].klen);
        if (is_drop)
            continue;
        raw_bytes (out, valid + span [i].k0, span [i].v0 - span [i].k0);
        if (is_rep)
            raw_bytes (out, value, vlen);
        else
            raw_bytes (out, valid + span [i].v0, span [i].v1 - span [i].v0);
        if (is_dup)
            raw_bytes (out, valid + span [i].k0, span [i].v1 - span [i].k0);
    }
    if (add_unknown) {
        raw_str (out, "zz_future_field");
        msgpack_pack_map (&out->pk, 1);
        raw_str (out, "nested");
        msgpack_pack_array (&out->pk, 2);
        msgpack_pack_double (&out->pk, 1.5);
        msgpack_pack_bin_with_body (&out->pk, "\x00\x01", 2);
    }
}

//  Decodes (data, size): needle NULL means it must succeed; else it must fail with a reason
//  containing needle.
static inline void
expect_dec (test_dec_fn *dec, const uint8_t *data, size_t size, const char *needle)
{
    proto_err_t err;
    err.reason [0] = '\0';
    int rc = dec (data, size, &err);
    if (!needle) {
        if (rc != 0)
            fprintf (stderr, "unexpected rejection: %s\n", err.reason);
        CHECK_EQ_INT (rc, 0);
        return;
    }
    if (rc != RC_MALFORMED || !strstr (err.reason, needle))
        fprintf (stderr, "rc %d, reason \"%s\", expected \"%s\"\n", rc, err.reason, needle);
    CHECK_EQ_INT (rc, RC_MALFORMED);
    CHECK (strstr (err.reason, needle) != NULL);
}

//  The same with the value of `key` replaced by the bytes a packer produced.
static inline void
expect_field (test_dec_fn *dec, const uint8_t *valid, size_t size, const char *key,
              const raw_t *value, const char *needle)
{
    raw_t edited;
    body_edit (valid, size, NULL, key, value->buf.data, value->buf.size, NULL, false, &edited);
    expect_dec (dec, (uint8_t *) edited.buf.data, edited.buf.size, needle);
    raw_destroy (&edited);
}

//  The rules every body obeys, checked on a valid message carrying every key in `keys`:
//  each key dropped (required -> "missing required field 'k'", optional -> decodes), each
//  value replaced by nil / an array / a map (-> "field 'k'"), each pair duplicated
//  (-> "duplicate key 'k'"), an unknown key added (-> decodes). shapes [k] is 'a' for a key
//  whose value is an array and 'm' for a map (an empty one is then valid, so not tried),
//  anything else for a scalar.
static inline void
expect_body_rules (test_dec_fn *dec, const uint8_t *valid, size_t size,
                   const char *const *keys, const bool *required, const char *shapes,
                   size_t nkeys)
{
    raw_t edited;
    char needle [96];
    expect_dec (dec, valid, size, NULL);
    body_edit (valid, size, NULL, NULL, NULL, 0, NULL, true, &edited);
    expect_dec (dec, (uint8_t *) edited.buf.data, edited.buf.size, NULL);
    raw_destroy (&edited);
    static const uint8_t wrong [3][1] = { { 0xc0 }, { 0x90 }, { 0x80 } };
    for (size_t k = 0; k < nkeys; k++) {
        body_edit (valid, size, keys [k], NULL, NULL, 0, NULL, false, &edited);
        snprintf (needle, sizeof needle, "missing required field '%s'", keys [k]);
        expect_dec (dec, (uint8_t *) edited.buf.data, edited.buf.size,
                    required [k] ? needle : NULL);
        raw_destroy (&edited);
        snprintf (needle, sizeof needle, "field '%s'", keys [k]);
        for (int w = 0; w < 3; w++) {
            if ((w == 1 && shapes [k] == 'a') || (w == 2 && shapes [k] == 'm'))
                continue;
            body_edit (valid, size, NULL, keys [k], wrong [w], 1, NULL, false, &edited);
            expect_dec (dec, (uint8_t *) edited.buf.data, edited.buf.size, needle);
            raw_destroy (&edited);
        }
        body_edit (valid, size, NULL, NULL, NULL, 0, keys [k], false, &edited);
        snprintf (needle, sizeof needle, "duplicate key '%s'", keys [k]);
        expect_dec (dec, (uint8_t *) edited.buf.data, edited.buf.size, needle);
        raw_destroy (&edited);
    }
}

//  Wrong version and wrong type of a valid message (byte 1 = version, byte 2 = type, as our
//  encoders always write them as positive fixints).
static inline void
expect_envelope_rules (test_dec_fn *dec, const uint8_t *valid, size_t size, int type)
{
    uint8_t *copy = malloc (size);
    memcpy (copy, valid, size);
    CHECK_EQ_INT (copy [0], 0x93);
    CHECK_EQ_INT (copy [1], PROTO_VERSION);
    CHECK_EQ_INT (copy [2], type);
    copy [1] = 2;
    expect_dec (dec, copy, size, "unsupported version 2");
    copy [1] = PROTO_VERSION;
    copy [2] = (uint8_t) (type == PROTO_HEARTBEAT ? PROTO_CONTROL : PROTO_HEARTBEAT);
    expect_dec (dec, copy, size, "expected message type");
    copy [2] = 0x7f;
    expect_dec (dec, copy, size, "unknown message type 127");
    free (copy);
}

#endif
