/*  ratelimit: open-addressing table of token buckets, linear probing, no deletion
    (slots are reused in place once their bucket is full again, so probe chains stay intact). */
#include "common/ratelimit.h"

#include <assert.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define KEY_MAX 128

typedef struct {
    char key [KEY_MAX];
    bool used;
    double tokens;
    int64_t updated_ms;
} s_bucket_t;

struct _ratelimit_t {
    double rate_per_ms;
    double burst;
    size_t max_keys;
    size_t slots;           //  power of two, >= 2 * max_keys
    size_t used;
    s_bucket_t *table;
};

static uint64_t
s_hash (const char *key)
{
    uint64_t h = 1469598103934665603ULL;       //  FNV-1a
    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

ratelimit_t *
ratelimit_new (double per_minute, double burst, size_t max_keys)
{
    if (!(per_minute > 0) || !(burst >= 1) || max_keys == 0 || max_keys > (1u << 24))
        return NULL;
    ratelimit_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->rate_per_ms = per_minute / 60000.0;
    self->burst = burst;
    self->max_keys = max_keys;
    self->slots = 16;
    while (self->slots < 2 * max_keys)
        self->slots *= 2;
    self->table = calloc (self->slots, sizeof (s_bucket_t));
    if (!self->table)
        abort ();
    return self;
}

void
ratelimit_destroy (ratelimit_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->table);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_refill (ratelimit_t *self, s_bucket_t *b, int64_t now_ms)
{
    if (now_ms > b->updated_ms) {
        b->tokens += (double) (now_ms - b->updated_ms) * self->rate_per_ms;
        if (b->tokens > self->burst)
            b->tokens = self->burst;
        b->updated_ms = now_ms;
    }
}

bool
ratelimit_take (ratelimit_t *self, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    assert (self && key);
    char k [KEY_MAX];
    snprintf (k, sizeof k, "%s", key);
    size_t mask = self->slots - 1;
    size_t i = (size_t) s_hash (k) & mask;
    s_bucket_t *reusable = NULL;
    s_bucket_t *b = NULL;
    for (size_t probes = 0; probes < self->slots; probes++, i = (i + 1) & mask) {
        s_bucket_t *slot = &self->table [i];
        if (!slot->used) {
            if (!reusable && self->used < self->max_keys) {
                reusable = slot;
                self->used++;
            }
            break;
        }
        if (strcmp (slot->key, k) == 0) {
            b = slot;
            break;
        }
        if (!reusable) {
            s_refill (self, slot, now_ms);
            if (slot->tokens >= self->burst)
                reusable = slot;    //  an idle key: its slot can serve another
        }
    }
    if (!b) {
        if (!reusable) {
            //  table full of active keys: refuse rather than forget someone's debt
            if (retry_after_ms)
                *retry_after_ms = (int64_t) (1.0 / self->rate_per_ms);
            return false;
        }
        b = reusable;
        b->used = true;
        memcpy (b->key, k, sizeof b->key);
        b->tokens = self->burst;
        b->updated_ms = now_ms;
    }
    s_refill (self, b, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    if (retry_after_ms) {
        int64_t wait = (int64_t) ((1.0 - b->tokens) / self->rate_per_ms) + 1;
        *retry_after_ms = wait > 0 ? wait : 1;
    }
    return false;
}

size_t
ratelimit_size (const ratelimit_t *self)
{
    return self->used;
}
