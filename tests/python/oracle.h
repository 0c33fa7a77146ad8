/*  Shared by the C tests that ask CPython for the expected answers (the scripts in tests/python):
    one python3 process per test, the whole batch written to a file, the answers read back.

    oracle_run (script, input, len)   runs python3 $ZM_SOURCE_DIR/tests/python/<script> with the
                                      input on stdin; returns its stdout (caller owns). Any
                                      failure (no python3, script error) fails the test.
    oracle_line (&cursor)             the next '\n'-terminated line (NUL-terminated in place),
                                      or NULL at the end.
    oracle_seed ()                    ZM_ORACLE_SEED, else the clock; printed for replay.
    oracle_rand (&state)              xorshift64.                                           */
#ifndef ZM_TESTS_PYTHON_ORACLE_H
#define ZM_TESTS_PYTHON_ORACLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"

static inline char *
oracle_run (const char *script, const char *input, size_t len)
{
    const char *src = TEST_ENV ("ZM_SOURCE_DIR");
    char dir [] = "/tmp/zm-oracle-XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        exit (1);
    }
    char in [64], out [64], cmd [1024];
    snprintf (in, sizeof in, "%s/in", dir);
    snprintf (out, sizeof out, "%s/out", dir);
    FILE *f = fopen (in, "wb");
    if (!f || fwrite (input, 1, len, f) != len || fclose (f) != 0) {
        perror ("oracle input");
        exit (1);
    }
    fflush (stdout);
    snprintf (cmd, sizeof cmd, "python3 %s/tests/python/%s < %s > %s", src, script, in, out);
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    int rc = system (cmd);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    if (rc != 0) {
        fprintf (stderr, "oracle failed (%d): %s\n", rc, cmd);
        exit (1);
    }
    printf ("%s answered in %ld ms\n", script,
            (long) ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    f = fopen (out, "rb");
    if (!f) {
        perror ("oracle output");
        exit (1);
    }
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *text = malloc ((size_t) size + 1);
    if (!text || fread (text, 1, (size_t) size, f) != (size_t) size) {
        perror ("oracle output");
        exit (1);
    }
    text [size] = 0;
    fclose (f);
    unlink (in);
    unlink (out);
    rmdir (dir);
    return text;
}

static inline char *
oracle_line (char **cursor)
{
    char *line = *cursor;
    if (!line || !*line)
        return NULL;
    char *nl = strchr (line, '\n');
    if (nl) {
        *nl = 0;
        *cursor = nl + 1;
    }
    else
        *cursor = line + strlen (line);
    return line;
}

static inline uint64_t
oracle_seed (void)
{
    const char *env = getenv ("ZM_ORACLE_SEED");
    uint64_t seed = env ? strtoull (env, NULL, 0) : (uint64_t) time (NULL) * 2654435761ULL;
    if (!seed)
        seed = 1;
    printf ("ZM_ORACLE_SEED=%llu\n", (unsigned long long) seed);
    fflush (stdout);
    return seed;
}

static inline uint64_t
oracle_rand (uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
