/*  ratelimit: per-key token buckets with a bounded table.

    Each key (a hotkey, a client address) gets a bucket of `burst` tokens refilled at
    `per_minute` tokens per minute. A request takes one token; with none left the caller
    answers 429 and ratelimit_take reports how long until one token is back (Retry-After).
    The table holds at most max_keys buckets: when full, a bucket that has refilled completely
    (its key is idle) is reused, and if none has, new keys are refused, so a flood of distinct
    keys can cost neither unbounded memory nor other keys their state. Not thread-safe: callers
    serialise (one mutex per limiter where handlers run in several threads).                  */
#ifndef ZM_RATELIMIT_H
#define ZM_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _ratelimit_t ratelimit_t;

//  per_minute > 0, burst >= 1, max_keys >= 1. Returns NULL on bad arguments.
ratelimit_t *ratelimit_new (double per_minute, double burst, size_t max_keys);
void ratelimit_destroy (ratelimit_t **self_p);

//  Takes a token for key at time now_ms (monotonic). Returns true if allowed; otherwise
//  false and *retry_after_ms (if not NULL) is the wait until a token is available
//  (at least 1 ms). Keys longer than 127 bytes are cut.
bool ratelimit_take (ratelimit_t *self, const char *key, int64_t now_ms, int64_t *retry_after_ms);

//  Number of keys tracked.
size_t ratelimit_size (const ratelimit_t *self);

#endif
