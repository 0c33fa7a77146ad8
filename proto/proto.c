/*  proto: envelope, type names and the field validators shared by every codec.
    See proto.h for the contract.                                                           */

#include "proto/proto.h"

#include <string.h>

#include "proto/codec.h"

const char *
proto_type_name (int type)
{
    switch (type) {
        case PROTO_HEARTBEAT:          return "heartbeat";
        case PROTO_CONTROL:            return "control";
        case PROTO_CONTROL_REPLY:      return "control_reply";
        case PROTO_SCRAPE_TASK:        return "scrape_task";
        case PROTO_LISTING_BATCH:      return "listing_batch";
        case PROTO_ZIPCODE_STORED:     return "zipcode_stored";
        case PROTO_UPLOAD_DONE:        return "upload_done";
        case PROTO_SUBMISSION_READY:   return "submission_ready";
        case PROTO_TIER_RESULT:        return "tier_result";
        case PROTO_SPOT_CHECK_REQUEST: return "spot_check_request";
        case PROTO_SPOT_CHECK_RESULT:  return "spot_check_result";
        default:                       return "unknown";
    }
}

//  Reads "[version, type," and leaves the reader at the body.
static int
s_envelope (mpr_t *r, int *type)
{
    uint32_t n = 0;
    if (mpr_array (r, &n) != 0)
        return mpr_fail_prefix (r, "envelope");
    if (n != 3)
        return mpr_fail (r, "envelope: expected array of 3 elements, got %u", n);
    uint64_t version;
    if (mpr_uint (r, &version) != 0)
        return mpr_fail_prefix (r, "envelope: version");
    if (version != PROTO_VERSION)
        return mpr_fail (r, "unsupported version %llu", (unsigned long long) version);
    uint64_t t;
    if (mpr_uint (r, &t) != 0)
        return mpr_fail_prefix (r, "envelope: type");
    if (t < PROTO_TYPE_MIN || t > PROTO_TYPE_MAX)
        return mpr_fail (r, "envelope: unknown message type %llu", (unsigned long long) t);
    *type = (int) t;
    return 0;
}

int
proto_peek_type (const uint8_t *data, size_t size, int *type, proto_err_t *err)
{
    mpr_t r;
    mpr_init (&r, data, size, err);
    return s_envelope (&r, type);
}

int
codec_open (mpr_t *r, const uint8_t *data, size_t size, int type, proto_err_t *err)
{
    mpr_init (r, data, size, err);
    int got;
    if (s_envelope (r, &got) != 0)
        return RC_MALFORMED;
    if (got != type)
        return mpr_fail (r, "envelope: expected message type %d (%s), got %d (%s)", type,
                         proto_type_name (type), got, proto_type_name (got));
    return 0;
}

int
codec_close (mpr_t *r)
{
    if (mpr_remaining (r) != 0)
        return mpr_fail (r, "%zu trailing bytes after the message", mpr_remaining (r));
    return 0;
}

static bool
s_digits (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s [i] < '0' || s [i] > '9')
            return false;
    return true;
}

static int
s_num (const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s [i] - '0');
    return v;
}

bool
proto_valid_epoch (const char *s)
{
    //  0123456789012345678
    //  YYYY-MM-DDTHH-MM-SS
    if (strlen (s) != PROTO_EPOCH_LEN)
        return false;
    if (s [4] != '-' || s [7] != '-' || s [10] != 'T' || s [13] != '-' || s [16] != '-')
        return false;
    if (!s_digits (s, 4) || !s_digits (s + 5, 2) || !s_digits (s + 8, 2)
    ||  !s_digits (s + 11, 2) || !s_digits (s + 14, 2) || !s_digits (s + 17, 2))
        return false;
    int month = s_num (s + 5, 2), day = s_num (s + 8, 2);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && s_num (s + 11, 2) <= 23
        && s_num (s + 14, 2) <= 59 && s_num (s + 17, 2) <= 59;
}

bool
proto_valid_zipcode (const char *s)
{
    return strlen (s) == PROTO_ZIPCODE_LEN && s_digits (s, PROTO_ZIPCODE_LEN);
}

bool
proto_valid_hotkey (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > PROTO_HOTKEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

bool
proto_valid_name (const char *s)
{
    size_t n = strlen (s);
    if (n < 1 || n > PROTO_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

bool
proto_valid_utf8 (const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *) s;
    size_t i = 0;
    while (i < len) {
        //  Fast path for the common case, 8 bytes of ASCII at a time: no byte with the high
        //  bit set, and no zero byte (the classic "has a zero byte" test).
        while (len - i >= 8) {
            uint64_t w;
            memcpy (&w, p + i, sizeof w);
            if (w & 0x8080808080808080ull)
                break;
            if ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)
                return false;
            i += 8;
        }
        if (i >= len)
            break;
        uint8_t c = p [i];
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
        else
            return false;
        if (len - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            uint8_t cc = p [i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        //  Overlong forms, UTF-16 surrogates, beyond U+10FFFF.
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
        ||  (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += need + 1;
    }
    return true;
}

bool
proto_valid_text (const char *s, size_t max)
{
    size_t n = strlen (s);
    return n <= max && proto_valid_utf8 (s, n);
}
