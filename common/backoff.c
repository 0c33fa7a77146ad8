/*  backoff: capped exponential delays with equal jitter. Pure; no I/O, no globals.  */
#include "common/backoff.h"
#include "common/clock.h"

#include <assert.h>
#include <unistd.h>

void
backoff_init (backoff_t *self, int64_t base_ms, int64_t cap_ms, uint64_t seed)
{
    assert (self && base_ms > 0 && cap_ms >= base_ms);
    self->base_ms = base_ms;
    self->cap_ms = cap_ms;
    self->attempt = 0;
    if (seed == 0)
        seed = (uint64_t) clock_mono_ms () * 0x9E3779B97F4A7C15ULL ^ (uint64_t) getpid ();
    self->rng = seed ? seed : 0x2545F4914F6CDD1DULL;
}

int64_t
backoff_peek_ms (const backoff_t *self)
{
    int64_t delay = self->base_ms;
    for (unsigned i = 0; i < self->attempt && delay < self->cap_ms; i++)
        delay *= 2;
    return delay < self->cap_ms ? delay : self->cap_ms;
}

int64_t
backoff_next (backoff_t *self)
{
    int64_t delay = backoff_peek_ms (self);
    if (self->attempt < 64)
        self->attempt++;
    //  xorshift64: cheap, and jitter needs no cryptographic quality
    uint64_t x = self->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->rng = x;
    int64_t half = delay / 2;
    return half + (int64_t) (x % (uint64_t) (delay - half + 1));
}

void
backoff_reset (backoff_t *self)
{
    self->attempt = 0;
}
