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

#endif
