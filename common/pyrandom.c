/*  pyrandom: CPython's random module (MT19937, seed, getrandbits, _randbelow, sample) and the
    tier-3 spot-check sample. See pyrandom.h for the exact rules.

    The MT19937 core follows mt19937ar.c as CPython's Modules/_randommodule.c embeds it; the
    sample follows Lib/random.py 3.11 line by line, including the floating-point setsize
    computation (log (3k) / log (4), as math.log (x, base) computes it). Everything is in
    self; nothing is global.                                                                 */

#include "common/pyrandom.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define MT_N 624
#define MT_M 397
#define MT_MATRIX_A   0x9908b0dfU
#define MT_UPPER_MASK 0x80000000U
#define MT_LOWER_MASK 0x7fffffffU

struct _pyrandom_t {
    uint32_t mt [MT_N];
    int mti;
};

static void
s_init_genrand (pyrandom_t *self, uint32_t s)
{
    self->mt [0] = s;
    for (int i = 1; i < MT_N; i++)
        self->mt [i] = 1812433253U * (self->mt [i - 1] ^ (self->mt [i - 1] >> 30)) + (uint32_t) i;
    self->mti = MT_N;
}

static void
s_init_by_array (pyrandom_t *self, const uint32_t *key, size_t key_length)
{
    s_init_genrand (self, 19650218U);
    size_t i = 1, j = 0;
    size_t k = MT_N > key_length ? MT_N : key_length;
    uint32_t *mt = self->mt;
    for (; k; k--) {
        mt [i] = (mt [i] ^ ((mt [i - 1] ^ (mt [i - 1] >> 30)) * 1664525U))
                 + key [j] + (uint32_t) j;
        i++;
        j++;
        if (i >= MT_N) {
            mt [0] = mt [MT_N - 1];
            i = 1;
        }
        if (j >= key_length)
            j = 0;
    }
    for (k = MT_N - 1; k; k--) {
        mt [i] = (mt [i] ^ ((mt [i - 1] ^ (mt [i - 1] >> 30)) * 1566083941U)) - (uint32_t) i;
        i++;
        if (i >= MT_N) {
            mt [0] = mt [MT_N - 1];
            i = 1;
        }
    }
    mt [0] = 0x80000000U;
}

pyrandom_t *
pyrandom_new (uint64_t seed)
{
    pyrandom_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    pyrandom_seed (self, seed);
    return self;
}

void
pyrandom_destroy (pyrandom_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

void
pyrandom_seed (pyrandom_t *self, uint64_t seed)
{
    assert (self);
    //  CPython: keyused = bits == 0 ? 1 : (bits - 1) / 32 + 1, words little-endian.
    uint32_t key [2] = { (uint32_t) seed, (uint32_t) (seed >> 32) };
    s_init_by_array (self, key, key [1] ? 2 : 1);
}

uint32_t
pyrandom_genrand (pyrandom_t *self)
{
    static const uint32_t mag01 [2] = { 0x0U, MT_MATRIX_A };
    uint32_t y;
    uint32_t *mt = self->mt;
    if (self->mti >= MT_N) {
        int kk;
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (mt [kk] & MT_UPPER_MASK) | (mt [kk + 1] & MT_LOWER_MASK);
            mt [kk] = mt [kk + MT_M] ^ (y >> 1) ^ mag01 [y & 0x1U];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (mt [kk] & MT_UPPER_MASK) | (mt [kk + 1] & MT_LOWER_MASK);
            mt [kk] = mt [kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01 [y & 0x1U];
        }
        y = (mt [MT_N - 1] & MT_UPPER_MASK) | (mt [0] & MT_LOWER_MASK);
        mt [MT_N - 1] = mt [MT_M - 1] ^ (y >> 1) ^ mag01 [y & 0x1U];
        self->mti = 0;
    }
    y = mt [self->mti++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

uint64_t
pyrandom_getrandbits (pyrandom_t *self, int k)
{
    assert (self);
    assert (k >= 0 && k <= 64);
    if (k == 0)
        return 0;
    if (k <= 32)
        return pyrandom_genrand (self) >> (32 - k);
    //  Words least significant first; the last (most significant) word keeps k - 32 bits.
    uint64_t lo = pyrandom_genrand (self);
    uint64_t hi = pyrandom_genrand (self) >> (64 - k);
    return lo | (hi << 32);
}

double
pyrandom_random (pyrandom_t *self)
{
    uint32_t a = pyrandom_genrand (self) >> 5, b = pyrandom_genrand (self) >> 6;
    return ((double) a * 67108864.0 + (double) b) * (1.0 / 9007199254740992.0);
}

static int
s_bit_length (uint64_t n)
{
    int k = 0;
    while (n) {
        k++;
        n >>= 1;
    }
    return k;
}

uint64_t
pyrandom_randbelow (pyrandom_t *self, uint64_t n)
{
    assert (self);
    assert (n >= 1);
    int k = s_bit_length (n);
    uint64_t r = pyrandom_getrandbits (self, k);
    while (r >= n)
        r = pyrandom_getrandbits (self, k);
    return r;
}

uint64_t
pyrandom_sample_setsize (size_t k)
{
    uint64_t setsize = 21;
    if (k > 5) {
        //  math.log (x, 4) is log (x) / log (4.0) in double; math.ceil; exact 4 ** c.
        //  3k is exact in double for any k below 2^51; Python converts the int the same way.
        double c = ceil (log ((double) k * 3.0) / log (4.0));
        if (c >= 32)
            return UINT64_MAX;      //  4^c beyond 2^64: larger than any population here
        setsize += (uint64_t) 1 << (2 * (unsigned) c);
    }
    return setsize;
}

//  Membership for the set method: open addressing over a power-of-two table, UINT64_MAX free.
static int
s_set_add_if_absent (uint64_t *table, size_t mask, uint64_t v)
{
    size_t h = (size_t) ((v * 0x9e3779b97f4a7c15ULL) >> 17) & mask;
    while (table [h] != UINT64_MAX) {
        if (table [h] == v)
            return 0;
        h = (h + 1) & mask;
    }
    table [h] = v;
    return 1;
}

int
pyrandom_sample (pyrandom_t *self, uint64_t n, size_t k, uint64_t *out)
{
    assert (self);
    assert (out || k == 0);
    if (k > n || k > PYRANDOM_SAMPLE_MAX_K)
        return -1;
    uint64_t setsize = pyrandom_sample_setsize (k);
    if (n <= setsize) {
        uint64_t *pool = malloc ((size_t) (n ? n : 1) * sizeof *pool);
        if (!pool)
            abort ();
        for (uint64_t i = 0; i < n; i++)
            pool [i] = i;
        for (size_t i = 0; i < k; i++) {
            uint64_t j = pyrandom_randbelow (self, n - i);
            out [i] = pool [j];
            pool [j] = pool [n - i - 1];
        }
        free (pool);
    }
    else {
        size_t cap = 4;
        while (cap < 2 * k)
            cap *= 2;
        uint64_t *table = malloc (cap * sizeof *table);
        if (!table)
            abort ();
        memset (table, 0xff, cap * sizeof *table);
        for (size_t i = 0; i < k; i++) {
            uint64_t j = pyrandom_randbelow (self, n);
            while (!s_set_add_if_absent (table, cap - 1, j))
                j = pyrandom_randbelow (self, n);
            out [i] = j;
        }
        free (table);
    }
    return 0;
}

uint32_t
pyrandom_tier3_seed (const char *nonce, const char *hotkey, const char *submission_time,
                     uint64_t n)
{
    assert (nonce && hotkey && submission_time);
    char num [24];
    snprintf (num, sizeof num, "%llu", (unsigned long long) n);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!ctx
        || !EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL)
        || !EVP_DigestUpdate (ctx, nonce, strlen (nonce))
        || !EVP_DigestUpdate (ctx, ":", 1)
        || !EVP_DigestUpdate (ctx, hotkey, strlen (hotkey))
        || !EVP_DigestUpdate (ctx, ":", 1)
        || !EVP_DigestUpdate (ctx, submission_time, strlen (submission_time))
        || !EVP_DigestUpdate (ctx, ":", 1)
        || !EVP_DigestUpdate (ctx, num, strlen (num))
        || !EVP_DigestFinal_ex (ctx, md, &mdlen)
        || mdlen != 32)
        abort ();                   //  SHA-256 cannot fail short of OpenSSL running out of memory
    EVP_MD_CTX_free (ctx);
    //  The first 8 hex digits are the first 4 bytes, big-endian.
    return (uint32_t) md [0] << 24 | (uint32_t) md [1] << 16 | (uint32_t) md [2] << 8 | md [3];
}

size_t
pyrandom_tier3_k (uint64_t n)
{
    uint64_t k = n / 10;
    if (k < PYRANDOM_TIER3_MIN_K)
        k = PYRANDOM_TIER3_MIN_K;
    if (k > PYRANDOM_TIER3_MAX_K)
        k = PYRANDOM_TIER3_MAX_K;
    if (k > n)
        k = n;
    return (size_t) k;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

size_t
pyrandom_tier3_sample (const char *nonce, const char *hotkey, const char *submission_time,
                       uint64_t n, uint64_t out [PYRANDOM_TIER3_MAX_K])
{
    size_t k = pyrandom_tier3_k (n);
    pyrandom_t rng;
    pyrandom_seed (&rng, pyrandom_tier3_seed (nonce, hotkey, submission_time, n));
    int rc = pyrandom_sample (&rng, n, k, out);
    assert (rc == 0);               //  k <= n and k <= 10 by construction
    (void) rc;
    qsort (out, k, sizeof out [0], s_cmp_u64);
    return k;
}
