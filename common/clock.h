/*  Time sources. Monotonic for timeouts and intervals, wall clock only for timestamps that
    leave the process (logs, epoch ids, S3 dates).                                             */
#ifndef ZM_CLOCK_H
#define ZM_CLOCK_H

#include <stddef.h>
#include <stdint.h>

//  Milliseconds on CLOCK_MONOTONIC: never jumps, meaningless across processes.
int64_t clock_mono_ms (void);

//  Milliseconds since the Unix epoch (CLOCK_REALTIME).
int64_t clock_wall_ms (void);

//  Formats unix milliseconds as ISO 8601 UTC with millisecond precision,
//  "2026-11-25T14:03:07.123Z", into buf (at least 25 bytes). Returns buf.
char *clock_iso8601 (int64_t unix_ms, char *buf, size_t size);

#endif
