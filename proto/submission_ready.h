/*  submission_ready: downloader -> tier1 / tier2 / tier3 (PROTO_SUBMISSION_READY).

    A miner's submission for one zipcode has been downloaded, checked and stored in
    PostgreSQL under db_id; the tiers read its listings from there. last_modified is the S3
    LastModified string exactly as the listing returned it (it feeds the tier-3 seed, so it
    must not be reformatted).

        epoch          str   YYYY-MM-DDTHH-MM-SS                         required
        hotkey         str   [A-Za-z0-9]{1,64}                           required
        zipcode        str   5 digits                                    required
        s3_key         str   UTF-8, 1..1024 bytes                        required
        last_modified  str   UTF-8, 1..64 bytes, verbatim                required
        size           uint  object bytes, 0..2^40                       required
        count          uint  listings in the object, 0..PROTO_LISTINGS_MAX   required
        db_id          uint  1..2^63-1 (PostgreSQL bigint)               required

    The API follows proto.h. proto_submission_ready_t owns no memory.                        */
#ifndef ZM_PROTO_SUBMISSION_READY_H
#define ZM_PROTO_SUBMISSION_READY_H

#include "proto/proto.h"

#define PROTO_LAST_MODIFIED_MAX 64

typedef struct {
    char epoch [PROTO_EPOCH_LEN + 1];
    char hotkey [PROTO_HOTKEY_MAX + 1];
    char zipcode [PROTO_ZIPCODE_LEN + 1];
    char s3_key [PROTO_S3_KEY_MAX + 1];
    char last_modified [PROTO_LAST_MODIFIED_MAX + 1];
    uint64_t size;
    uint32_t count;
    uint64_t db_id;
} proto_submission_ready_t;

int proto_submission_ready_encode (const proto_submission_ready_t *msg, msgpack_sbuffer *out,
                                   proto_err_t *err);
int proto_submission_ready_decode (const uint8_t *data, size_t size,
                                   proto_submission_ready_t *out, proto_err_t *err);
void proto_submission_ready_free (proto_submission_ready_t *msg);
bool proto_submission_ready_equal (const proto_submission_ready_t *a,
                                   const proto_submission_ready_t *b);

#endif
