/*  pyrandom: CPython 3.11's `random` module, bit for bit, and the tier-3 spot-check sample.

    C and Python validators must pick the same listings to spot-check (DESIGN.md section 8), so
    this reproduces exactly what CPython does:
      - MT19937 (Matsumoto & Nishimura, mt19937ar.c), the generator behind random.Random.
      - random.seed(n) for an int n >= 0: the 32-bit words of n, least significant first
        (at least one word, so seed 0 is the key [0]), fed to init_by_array.
      - getrandbits(k): k <= 32 takes one output >> (32 - k); larger k fills 32-bit words
        least significant first, the last one shifted right to keep k bits.
      - random(): (a * 2^26 + b) / 2^53 with a = out >> 5, b = out >> 6.
      - _randbelow(n) (the getrandbits method): k = n.bit_length (); r = getrandbits (k)
        while r >= n.
      - sample(range(n), k) as Lib/random.py 3.11 does it: setsize = 21; if k > 5, setsize +=
        4 ** ceil(log(3k) / log(4)) (math.log in IEEE double, same libm call as CPython);
        n <= setsize: the pool method (j = randbelow(n - i), take pool[j], move pool[n-i-1]
        into the hole), else the set method (j = randbelow(n), redrawn while already picked).
        The result is in draw order, not sorted.

    The tier-3 sample (DESIGN.md section 8, reference-compatible):
        seed = int (sha256 ("{nonce}:{hotkey}:{submission_time}:{n}").hexdigest ()[:8], 16)
        k    = min (10, max (3, n // 10)), then min (k, n)
        idx  = sorted (random.sample (range (n), k))   after random.seed (seed)
    The reference calls random.sample with k = 3 even when n < 3 and so raises ValueError;
    here k is capped at n (n = 0 gives no indices, n = 1 gives [0], n = 2 gives [0, 1]), which
    is what a validator that caught the error and checked every listing would do.
    Strings are hashed as the bytes given (UTF-8, as Python's str.encode () gives them); n is
    printed in decimal.

    Pure: no I/O, no globals. A pyrandom_t is one generator state, not thread-safe.          */
#ifndef ZM_PYRANDOM_H
#define ZM_PYRANDOM_H

#include <stddef.h>
#include <stdint.h>

#define PYRANDOM_TIER3_MAX_K 10
#define PYRANDOM_TIER3_MIN_K 3
//  pyrandom_sample refuses larger k (its setsize, and so its pool, stays below 2^18 + 21
//  entries; nothing here samples more).
#define PYRANDOM_SAMPLE_MAX_K ((size_t) 1 << 16)

typedef struct _pyrandom_t pyrandom_t;

//  A generator seeded as random.seed (seed). Never NULL (out of memory aborts).
pyrandom_t *pyrandom_new (uint64_t seed);
void pyrandom_destroy (pyrandom_t **self_p);

//  Reseeds as random.seed (seed).
void pyrandom_seed (pyrandom_t *self, uint64_t seed);

//  One raw 32-bit MT19937 output.
uint32_t pyrandom_genrand (pyrandom_t *self);

//  random.getrandbits (k) for 0 <= k <= 64 (asserted). k = 0 gives 0 and draws nothing
//  (CPython 3.11 accepts k = 0 and returns 0 without drawing).
uint64_t pyrandom_getrandbits (pyrandom_t *self, int k);

//  random.random ().
double pyrandom_random (pyrandom_t *self);

//  random._randbelow (n) for n >= 1 (asserted): uniform in [0, n).
uint64_t pyrandom_randbelow (pyrandom_t *self, uint64_t n);

//  The setsize random.sample computes for k (21, plus 4 ** ceil (log (3k, 4)) when k > 5),
//  UINT64_MAX when that exceeds 64 bits.
uint64_t pyrandom_sample_setsize (size_t k);

//  random.sample (range (n), k) into out [0..k), in draw order. Returns 0, or -1 when k > n
//  (CPython raises ValueError) or k > PYRANDOM_SAMPLE_MAX_K; nothing is drawn on -1.
//  The pool method runs only when n <= setsize, so it allocates at most setsize entries; the
//  set method allocates 2k to 4k entries.
int pyrandom_sample (pyrandom_t *self, uint64_t n, size_t k, uint64_t *out);

//  The tier-3 seed: the first 32 bits of sha256 ("{nonce}:{hotkey}:{submission_time}:{n}").
uint32_t pyrandom_tier3_seed (const char *nonce, const char *hotkey,
                              const char *submission_time, uint64_t n);

//  The tier-3 sample size for n listings: min (10, max (3, n / 10), n).
size_t pyrandom_tier3_k (uint64_t n);

//  The tier-3 indices, sorted ascending, into out; returns their count (pyrandom_tier3_k (n)).
size_t pyrandom_tier3_sample (const char *nonce, const char *hotkey, const char *submission_time,
                              uint64_t n, uint64_t out [PYRANDOM_TIER3_MAX_K]);

#endif
