/*  Exponential backoff with jitter.

    delay(n) = min (cap, base * 2^n), then "equal jitter": a uniform pick in [delay/2, delay].
    Used for worker restarts (1 s doubling to 30 s, DESIGN.md section 2) and for retries of
    network calls. The caller owns the attempt counter via backoff_next / backoff_reset, so a
    success (or 10 s of READY, for restarts) resets it.                                        */
#ifndef ZM_BACKOFF_H
#define ZM_BACKOFF_H

#include <stdint.h>

typedef struct {
    int64_t base_ms;        //  first delay
    int64_t cap_ms;         //  largest delay
    unsigned attempt;       //  failures since the last reset
    uint64_t rng;           //  xorshift state for the jitter; never 0
} backoff_t;

//  Initialises with a base and cap (base > 0, cap >= base). The jitter stream is seeded from
//  seed (pass 0 to seed from the clock and pid).
void backoff_init (backoff_t *self, int64_t base_ms, int64_t cap_ms, uint64_t seed);

//  Returns the delay before the next attempt and counts one more failure.
int64_t backoff_next (backoff_t *self);

//  The delay backoff_next would return without jitter (for status displays and tests).
int64_t backoff_peek_ms (const backoff_t *self);

//  Forgets past failures.
void backoff_reset (backoff_t *self);

#endif
