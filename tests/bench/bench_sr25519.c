/*  sr25519 throughput, with libsodium's ed25519 as the yardstick, in one run.

    Usage: bench_sr25519 [seconds-per-case (default 1)] [message-bytes (default 64)]
    Prints operations per CPU-second (and per wall-clock second) for: keypair from seed, sign, verify (exact), verify of a
    <Bytes>-wrapped signature (the slow path: up to three transcript checks), ed25519 sign
    and verify; then the peak RSS of the process.                                          */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "common/sr25519.h"

static double
s_clock (clockid_t id)
{
    struct timespec ts;
    clock_gettime (id, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

typedef int (*op_fn) (void *ctx);

typedef struct {
    sr25519_keypair_t kp;
    uint8_t seed [32];
    uint8_t msg [4096];
    size_t msg_len;
    uint8_t sig [64];
    uint8_t wrapped_sig [64];
    uint8_t ed_pk [crypto_sign_PUBLICKEYBYTES];
    uint8_t ed_sk [crypto_sign_SECRETKEYBYTES];
    uint8_t ed_sig [crypto_sign_BYTES];
} bench_t;

static int
s_keypair (void *ctx)
{
    bench_t *b = ctx;
    sr25519_keypair_t kp;
    int rc = sr25519_keypair_from_seed (&kp, b->seed);
    b->seed [0]++;
    return rc;
}

static int
s_sign (void *ctx)
{
    bench_t *b = ctx;
    return sr25519_sign (&b->kp, b->msg, b->msg_len, b->sig);
}

static int
s_verify (void *ctx)
{
    bench_t *b = ctx;
    return sr25519_verify_exact (b->kp.public_key, b->msg, b->msg_len, b->sig) == SR25519_OK? 0: -1;
}

static int
s_verify_wrapped (void *ctx)
{
    bench_t *b = ctx;
    return sr25519_verify (b->kp.public_key, b->msg, b->msg_len, b->wrapped_sig) == SR25519_OK? 0: -1;
}

static int
s_ed_sign (void *ctx)
{
    bench_t *b = ctx;
    return crypto_sign_detached (b->ed_sig, NULL, b->msg, b->msg_len, b->ed_sk);
}

static int
s_ed_verify (void *ctx)
{
    bench_t *b = ctx;
    return crypto_sign_verify_detached (b->ed_sig, b->msg, b->msg_len, b->ed_pk);
}

//  Runs fn for `seconds` of CPU time. Rates are per CPU-second (the process is single
//  threaded), so they hold on a loaded machine; the wall-clock rate is printed beside them.
static void
s_run (const char *name, op_fn fn, void *ctx, double seconds)
{
    long ops = 0;
    double cpu0 = s_clock (CLOCK_PROCESS_CPUTIME_ID), wall0 = s_clock (CLOCK_MONOTONIC), cpu;
    do {
        for (int i = 0; i < 64; i++)
            if (fn (ctx) != 0) {
                fprintf (stderr, "%s failed\n", name);
                exit (1);
            }
        ops += 64;
        cpu = s_clock (CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    } while (cpu < seconds);
    double wall = s_clock (CLOCK_MONOTONIC) - wall0;
    printf ("%-28s %10.0f ops/cpu-s %8.1f us/op   (wall: %8.0f ops/s)\n", name,
            (double) ops / cpu, 1e6 * cpu / (double) ops, (double) ops / wall);
}

int
main (int argc, char **argv)
{
    double seconds = argc > 1? atof (argv [1]): 1.0;
    size_t msg_len = argc > 2? (size_t) atol (argv [2]): 64;
    if (seconds <= 0 || msg_len > 4096 - 15 || sodium_init () < 0) {
        fprintf (stderr, "usage: bench_sr25519 [seconds>0] [message-bytes<=4081]\n");
        return 2;
    }
    static bench_t b;
    randombytes_buf (b.seed, sizeof b.seed);
    randombytes_buf (b.msg, msg_len);
    b.msg_len = msg_len;
    if (sr25519_keypair_from_seed (&b.kp, b.seed) != 0
    ||  sr25519_sign (&b.kp, b.msg, msg_len, b.sig) != 0)
        return 1;
    uint8_t wrapped [4096];
    memcpy (wrapped, "<Bytes>", 7);
    memcpy (wrapped + 7, b.msg, msg_len);
    memcpy (wrapped + 7 + msg_len, "</Bytes>", 8);
    if (sr25519_sign (&b.kp, wrapped, msg_len + 15, b.wrapped_sig) != 0)
        return 1;
    crypto_sign_keypair (b.ed_pk, b.ed_sk);
    crypto_sign_detached (b.ed_sig, NULL, b.msg, msg_len, b.ed_sk);

    printf ("message %zu bytes, %.1f s per case, libsodium %s\n", msg_len, seconds,
            sodium_version_string ());
    s_run ("sr25519 keypair_from_seed", s_keypair, &b, seconds);
    s_run ("sr25519 sign", s_sign, &b, seconds);
    s_run ("sr25519 verify", s_verify, &b, seconds);
    s_run ("sr25519 verify <Bytes>", s_verify_wrapped, &b, seconds);
    s_run ("ed25519 sign (libsodium)", s_ed_sign, &b, seconds);
    s_run ("ed25519 verify (libsodium)", s_ed_verify, &b, seconds);
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("peak RSS %ld KiB\n", ru.ru_maxrss);
    sr25519_keypair_wipe (&b.kp);
    return 0;
}
