/*  scrape_task codec (see scrape_task.h): a table of fixed-size fields, nothing allocated. */

#include "proto/scrape_task.h"

#include <string.h>

#include "proto/codec.h"

#define T proto_scrape_task_t
static const codec_field_t s_fields [] = {
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "target", CF_UINT, target, 4, 1, PROTO_TARGET_MAX, true),
    CF_ROW (T, "lease_id", CF_UINT, lease_id, 8, 1, INT64_MAX, true),
    CF_ROW (T, "lease_deadline_ms", CF_INT, lease_deadline_ms, 8, 0, INT64_MAX, true),
    CF_ROW (T, "attempt", CF_UINT, attempt, 4, 1, PROTO_ATTEMPT_MAX, true),
};
#undef T
#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

int
proto_scrape_task_encode (const proto_scrape_task_t *msg, msgpack_sbuffer *out,
                          proto_err_t *err)
{
    if (codec_check_fields (s_fields, S_NFIELDS, msg, err))
        return RC_MALFORMED;
    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_SCRAPE_TASK, s_fields, S_NFIELDS, msg, 0);
    return 0;
}

int
proto_scrape_task_decode (const uint8_t *data, size_t size, proto_scrape_task_t *out,
                          proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_SCRAPE_TASK, s_fields, S_NFIELDS, out, NULL,
                             NULL, err) != 0) {
        memset (out, 0, sizeof *out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_scrape_task_free (proto_scrape_task_t *msg)
{
    if (msg)
        memset (msg, 0, sizeof *msg);
}

bool
proto_scrape_task_equal (const proto_scrape_task_t *a, const proto_scrape_task_t *b)
{
    return codec_equal_fields (s_fields, S_NFIELDS, a, b);
}
