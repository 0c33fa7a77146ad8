/*  clock: monotonic and wall time in milliseconds, and ISO 8601 rendering.  */
#include "common/clock.h"

#include <assert.h>
#include <stdio.h>
#include <time.h>

int64_t
clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
clock_iso8601 (int64_t unix_ms, char *buf, size_t size)
{
    assert (buf && size >= 25);
    time_t secs = (time_t) (unix_ms / 1000);
    int ms = (int) (unix_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r (&secs, &tm);
    snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
              tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}
