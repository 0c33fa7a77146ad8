/*  scrape_task: assigner -> scraper pool (PROTO_SCRAPE_TASK).

    One leased unit of work: scrape `target` listings of one zipcode for one epoch, before the
    lease deadline. A task is at-least-once: the assigner re-leases it (attempt + 1, new
    lease) when the deadline passes without a final listing batch, so the scraper must echo
    lease_id in its batches and storage must ignore batches of a superseded lease.

        epoch              str   YYYY-MM-DDTHH-MM-SS                     required
        zipcode            str   5 digits                                required
        target             uint  1..PROTO_TARGET_MAX listings wanted     required
        lease_id           uint  1..2^63-1 (PostgreSQL bigint)           required
        lease_deadline_ms  int   unix ms, >= 0                           required
        attempt            uint  1..PROTO_ATTEMPT_MAX                    required

    The API follows proto.h. proto_scrape_task_t owns no memory.                             */
#ifndef ZM_PROTO_SCRAPE_TASK_H
#define ZM_PROTO_SCRAPE_TASK_H

#include "proto/proto.h"

#define PROTO_TARGET_MAX    100000
#define PROTO_ATTEMPT_MAX   1000

typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    uint32_t target;
    uint64_t lease_id;
    int64_t lease_deadline_ms;
    uint32_t attempt;
} proto_scrape_task_t;

int proto_scrape_task_encode (const proto_scrape_task_t *msg, msgpack_sbuffer *out,
                              proto_err_t *err);
int proto_scrape_task_decode (const uint8_t *data, size_t size, proto_scrape_task_t *out,
                              proto_err_t *err);
void proto_scrape_task_free (proto_scrape_task_t *msg);
bool proto_scrape_task_equal (const proto_scrape_task_t *a, const proto_scrape_task_t *b);

#endif
