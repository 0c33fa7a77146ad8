/*  listing_batch codec (see listing_batch.h).

    The listings array is the one large thing in any zipmine message. Decode reads its
    header, bounds the count by PROTO_BATCH_LISTINGS_MAX and by remaining / 3 (the smallest
    listing, "{}", takes 3 bytes), and only then allocates one block: the proto_listing_t
    array followed by an arena as large as the input still unread, into which each listing
    text is copied NUL-terminated (a str of n bytes consumes >= n + 1 input bytes, so the
    arena cannot overflow). Copying, rather than pointing into the ZeroMQ frame, lets the
    caller release the frame at once; the benchmark measures what it costs.                 */

#include "proto/listing_batch.h"

#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"

#define S_LISTING_MIN_BYTES 3

enum { F_LISTINGS = 5, F_REASONS = 7 };

#define T proto_listing_batch_t
static const codec_field_t s_fields [] = {
    CF_ROW (T, "epoch", CF_EPOCH, epoch, 0, 0, 0, true),
    CF_ROW (T, "zipcode", CF_ZIPCODE, zipcode, 0, 0, 0, true),
    CF_ROW (T, "lease_id", CF_UINT, lease_id, 8, 1, INT64_MAX, true),
    CF_ROW (T, "seq", CF_UINT, seq, 4, 0, UINT32_MAX, true),
    CF_ROW (T, "final", CF_BOOL, final, 0, 0, 0, true),
    CF_ROW (T, "listings", CF_CUSTOM, listings, 0, 0, 0, true),
    CF_ROW (T, "rejected", CF_UINT, rejected, 8, 0, UINT64_MAX, false),
    CF_ROW (T, "reasons", CF_CUSTOM, reasons, 0, 0, 0, false),
};
#undef T
#define S_NFIELDS (sizeof s_fields / sizeof s_fields [0])

bool
proto_valid_listing (const char *json, size_t len)
{
    return len >= 2 && len <= PROTO_LISTING_MAX && json [0] == '{' && json [len - 1] == '}'
        && proto_valid_utf8 (json, len);
}

//  Cross-field rule: the reasons' counts sum to at most `rejected` (without overflowing).
static int
s_check_reasons (const proto_listing_batch_t *msg, proto_err_t *err)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < msg->nreasons; i++) {
        if (msg->reasons [i].count > msg->rejected - sum)
            return codec_fail (err, "field 'reasons': counts exceed 'rejected' (%llu)",
                               (unsigned long long) msg->rejected);
        sum += msg->reasons [i].count;
    }
    return 0;
}

static int
s_decode_listings (mpr_t *r, proto_listing_batch_t *out)
{
    uint32_t n = 0;
    if (codec_array (r, "listings", PROTO_BATCH_LISTINGS_MAX, S_LISTING_MIN_BYTES, &n))
        return RC_MALFORMED;
    if (n == 0)
        return 0;
    size_t array_bytes = (size_t) n * sizeof (proto_listing_t);
    size_t arena_bytes = mpr_remaining (r);
    char *mem = malloc (array_bytes + arena_bytes);
    if (!mem)
        abort ();
    out->mem_ = mem;
    out->listings = (proto_listing_t *) (void *) mem;
    char *next = mem + array_bytes;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        uint32_t len;
        if (mpr_str (r, &s, &len) != 0)
            return mpr_fail_prefix (r, "field 'listings': [%u]", i);
        if (!proto_valid_listing (s, len))
            return mpr_fail (r, "field 'listings': [%u]: expected a JSON object text of "
                             "2..%d bytes of UTF-8, got %u bytes", i, PROTO_LISTING_MAX, len);
        total += len;
        if (total > PROTO_BATCH_BYTES_MAX)
            return mpr_fail (r, "field 'listings': more than %u bytes of listings",
                             PROTO_BATCH_BYTES_MAX);
        memcpy (next, s, len);
        next [len] = '\0';
        out->listings [i].json = next;
        out->listings [i].len = len;
        next += (size_t) len + 1;
        out->nlistings = i + 1;
    }
    return 0;
}

static int
s_decode_reasons (mpr_t *r, proto_listing_batch_t *out)
{
    uint32_t n = 0;
    if (mpr_map (r, &n) != 0)
        return mpr_fail_prefix (r, "field 'reasons'");
    if (n > PROTO_REJECT_REASONS_MAX)
        return mpr_fail (r, "field 'reasons': %u entries exceed %d", n, PROTO_REJECT_REASONS_MAX);
    for (uint32_t i = 0; i < n; i++) {
        proto_reject_t *x = &out->reasons [i];
        if (codec_text (r, "reasons", x->reason, 1, PROTO_REJECT_REASON_MAX))
            return RC_MALFORMED;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp (out->reasons [j].reason, x->reason) == 0)
                return mpr_fail (r, "field 'reasons': duplicate key '%s'", x->reason);
        if (codec_uint (r, "reasons", 0, UINT64_MAX, &x->count))
            return RC_MALFORMED;
    }
    out->nreasons = n;
    return 0;
}

static int
s_custom (mpr_t *r, int index, void *msg, void *ctx)
{
    (void) ctx;
    return index == F_LISTINGS ? s_decode_listings (r, msg) : s_decode_reasons (r, msg);
}

int
proto_listing_batch_encode (const proto_listing_batch_t *msg, msgpack_sbuffer *out,
                            proto_err_t *err)
{
    if (codec_check_fields (s_fields, S_NFIELDS, msg, err))
        return RC_MALFORMED;
    if (msg->nlistings > PROTO_BATCH_LISTINGS_MAX)
        return codec_fail (err, "field 'listings': %zu listings exceed %d", msg->nlistings,
                           PROTO_BATCH_LISTINGS_MAX);
    size_t total = 0;
    for (size_t i = 0; i < msg->nlistings; i++) {
        const proto_listing_t *l = &msg->listings [i];
        if (!l->json || !proto_valid_listing (l->json, l->len))
            return codec_fail (err, "field 'listings': [%zu]: expected a JSON object text of "
                               "2..%d bytes of UTF-8", i, PROTO_LISTING_MAX);
        total += l->len;
    }
    if (total > PROTO_BATCH_BYTES_MAX)
        return codec_fail (err, "field 'listings': %zu bytes exceed %u", total,
                           PROTO_BATCH_BYTES_MAX);
    if (msg->nreasons > PROTO_REJECT_REASONS_MAX)
        return codec_fail (err, "field 'reasons': %zu entries exceed %d", msg->nreasons,
                           PROTO_REJECT_REASONS_MAX);
    for (size_t i = 0; i < msg->nreasons; i++) {
        const char *reason = msg->reasons [i].reason;
        if (!memchr (reason, '\0', sizeof msg->reasons [i].reason)
        ||  codec_check_text (err, "reasons", reason, 1, PROTO_REJECT_REASON_MAX))
            return RC_MALFORMED;
        for (size_t j = 0; j < i; j++)
            if (strcmp (msg->reasons [j].reason, reason) == 0)
                return codec_fail (err, "field 'reasons': duplicate key '%s'", reason);
    }
    if (s_check_reasons (msg, err))
        return RC_MALFORMED;

    msgpack_packer pk;
    codec_packer_init (&pk, out);
    codec_put_fields (&pk, PROTO_LISTING_BATCH, s_fields, S_NFIELDS, msg,
                      1 + (msg->nreasons > 0));
    codec_put_key (&pk, "listings");
    msgpack_pack_array (&pk, msg->nlistings);
    for (size_t i = 0; i < msg->nlistings; i++)
        msgpack_pack_str_with_body (&pk, msg->listings [i].json, msg->listings [i].len);
    if (msg->nreasons) {
        codec_put_key (&pk, "reasons");
        msgpack_pack_map (&pk, msg->nreasons);
        for (size_t i = 0; i < msg->nreasons; i++) {
            codec_put_str (&pk, msg->reasons [i].reason);
            msgpack_pack_uint64 (&pk, msg->reasons [i].count);
        }
    }
    return 0;
}

int
proto_listing_batch_decode (const uint8_t *data, size_t size, proto_listing_batch_t *out,
                            proto_err_t *err)
{
    memset (out, 0, sizeof *out);
    if (codec_decode_fields (data, size, PROTO_LISTING_BATCH, s_fields, S_NFIELDS, out,
                             s_custom, NULL, err) != 0
    ||  s_check_reasons (out, err) != 0) {
        proto_listing_batch_free (out);
        return RC_MALFORMED;
    }
    return 0;
}

void
proto_listing_batch_free (proto_listing_batch_t *msg)
{
    if (!msg)
        return;
    free (msg->mem_);
    memset (msg, 0, sizeof *msg);
}

bool
proto_listing_batch_equal (const proto_listing_batch_t *a, const proto_listing_batch_t *b)
{
    if (!codec_equal_fields (s_fields, S_NFIELDS, a, b) || a->nlistings != b->nlistings
    ||  a->nreasons != b->nreasons)
        return false;
    for (size_t i = 0; i < a->nlistings; i++)
        if (a->listings [i].len != b->listings [i].len
        ||  memcmp (a->listings [i].json, b->listings [i].json, a->listings [i].len) != 0)
            return false;
    for (size_t i = 0; i < a->nreasons; i++)
        if (strcmp (a->reasons [i].reason, b->reasons [i].reason) != 0
        ||  a->reasons [i].count != b->reasons [i].count)
            return false;
    return true;
}
