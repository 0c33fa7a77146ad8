/*  epoch: the UTC epoch grid shared by coordinator, miners and validators.

    Epochs start at multiples of their length since the Unix epoch (4 h by default: 00:00,
    04:00, … UTC; seconds for local networks). An epoch id is its start in UTC as
    "YYYY-MM-DDTHH-MM-SS" (19 characters, no zone: always UTC). The submission deadline is the
    epoch's end.                                                                               */
#ifndef ZM_EPOCH_H
#define ZM_EPOCH_H

#include <stdbool.h>
#include <stdint.h>

#define EPOCH_ID_LEN 19

typedef struct {
    int64_t start;              //  unix seconds, inclusive
    int64_t end;                //  unix seconds, exclusive; also the submission deadline
    char id [EPOCH_ID_LEN + 1];
} epoch_slot_t;

//  The epoch containing now_s on a grid of length_s seconds (length_s > 0).
void epoch_slot_at (int64_t now_s, int64_t length_s, epoch_slot_t *out);

//  Formats unix seconds as an epoch id into out (EPOCH_ID_LEN + 1 bytes).
void epoch_id_format (int64_t start_s, char *out);

//  Parses and validates an id (exact format, real calendar date). Returns 0 and the start in
//  *start_s, or -1 when id is not a well-formed epoch id. Safe on any NUL-terminated input.
int epoch_id_parse (const char *id, int64_t *start_s);

//  True when id is well formed and falls on the grid of length_s.
bool epoch_id_on_grid (const char *id, int64_t length_s);

//  Formats unix seconds as ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" into out (21 bytes).
void epoch_iso8601 (int64_t unix_s, char *out);

#endif
