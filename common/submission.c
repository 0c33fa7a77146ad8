/*  submission: key parsing and bounded checking of a miner's submission object
    (submission.h). The structural pre-scan runs before jansson so that the cost of parsing
    is bounded by the limits, not by how cleverly the bytes were packed; jsonx_parse then
    applies its own byte, depth, UTF-8 and duplicate-key rules. On success the caller owns
    out->root; on failure nothing is left allocated.                                         */
#include "common/submission.h"

#include "common/canon.h"
#include "common/epoch.h"
#include "common/json.h"
#include "common/rc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *s_reason_names [SUBMISSION_REASONS] = {
    "ok", "too_large", "bad_key", "not_json", "bad_utf8", "too_deep", "too_many_listings",
    "bad_shape", "wrong_epoch", "wrong_hotkey", "wrong_zipcode", "count_mismatch",
    "changed", "gone"
};

const char *
submission_reason_name (submission_reason_t reason)
{
    if ((int) reason < 0 || (int) reason >= SUBMISSION_REASONS)
        return "unknown";
    return s_reason_names [reason];
}

static bool
s_alnum (const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s [i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static bool
s_digits (const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s [i] < '0' || s [i] > '9')
            return false;
    return true;
}

//  Copies the segment [s, s+len) after its "name=" prefix into out (size bytes).
static int
s_segment (const char *s, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen (name);
    if (len <= nlen || memcmp (s, name, nlen) != 0 || len - nlen >= size)
        return -1;
    memcpy (out, s + nlen, len - nlen);
    out [len - nlen] = 0;
    return 0;
}

int
submission_key_parse (const char *key, submission_key_t *out)
{
    memset (out, 0, sizeof *out);
    if (!key)
        return -1;
    const char *seg [5];
    size_t seglen [5];
    const char *p = key;
    for (int i = 0; i < 5; i++) {
        const char *slash = strchr (p, '/');
        if ((i < 4) != (slash != NULL))
            goto bad;
        seg [i] = p;
        seglen [i] = slash ? (size_t) (slash - p) : strlen (p);
        p = slash ? slash + 1 : p;
    }
    if (seglen [0] != 4 || memcmp (seg [0], "data", 4) != 0)
        goto bad;
    if (s_segment (seg [1], seglen [1], "hotkey=", out->hotkey, sizeof out->hotkey) != 0
    ||  !s_alnum (out->hotkey, strlen (out->hotkey)))
        goto bad;
    int64_t start = 0;
    if (s_segment (seg [2], seglen [2], "epoch=", out->epoch, sizeof out->epoch) != 0
    ||  epoch_id_parse (out->epoch, &start) != 0)
        goto bad;
    if (s_segment (seg [3], seglen [3], "zipcode=", out->zipcode, sizeof out->zipcode) != 0
    ||  strlen (out->zipcode) != 5 || !s_digits (out->zipcode, 5))
        goto bad;
    //  data_<stamp>.json: the stamp is the miner's business, but it must be there and
    //  plain ([A-Za-z0-9_-]), so the key is printable ASCII everywhere it travels
    if (seglen [4] < strlen ("data_x.json") || memcmp (seg [4], "data_", 5) != 0
    ||  memcmp (seg [4] + seglen [4] - 5, ".json", 5) != 0)
        goto bad;
    for (size_t i = 5; i < seglen [4] - 5; i++) {
        char c = seg [4][i];
        if (!s_alnum (&c, 1) && c != '_' && c != '-')
            goto bad;
    }
    return 0;
bad:
    memset (out, 0, sizeof *out);
    return -1;
}

int
submission_prefix (const char *hotkey, const char *epoch, char *out, size_t size)
{
    int n = snprintf (out, size, "data/hotkey=%s/epoch=%s/", hotkey, epoch);
    return (n < 0 || (size_t) n >= size) ? -1 : 0;
}

static int
s_reject (submission_t *out, submission_reason_t reason, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_reject (submission_t *out, submission_reason_t reason, const char *fmt, ...)
{
    //  format first: the arguments may point into the document
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (out->detail, sizeof out->detail, fmt, ap);
    va_end (ap);
    json_decref (out->root);
    out->root = NULL;
    out->listings = NULL;
    out->count = 0;
    out->reason = reason;
    return RC_MALFORMED;
}

//  One pass outside strings: depth, listings-array elements (commas directly inside an
//  array that is a member of the root object), and a node budget (containers, commas and
//  colons: every value jansson builds is announced by one of them).
static int
s_prescan (const char *data, size_t len, const submission_limits_t *limits,
           submission_t *out)
{
    char stack [JSONX_MAX_DEPTH + 2];
    int depth = 0;
    bool in_string = false;
    size_t elements = 0, nodes = 1;
    size_t node_budget = limits->max_listings * SUBMISSION_VALUES_PER_LISTING + 64;
    for (size_t i = 0; i < len; i++) {
        char c = data [i];
        if (in_string) {
            if (c == '\\')
                i++;
            else
            if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                if (depth >= limits->max_depth)
                    return s_reject (out, SUBMISSION_TOO_DEEP, "nesting deeper than %d",
                                     limits->max_depth);
                stack [depth++] = c;
                nodes++;
                break;
            case ']':
            case '}':
                if (depth > 0)
                    depth--;
                break;
            case ',':
                if (depth == 2 && stack [0] == '{' && stack [1] == '['
                &&  ++elements >= limits->max_listings)
                    return s_reject (out, SUBMISSION_TOO_MANY_LISTINGS,
                                     "more than %zu listings", limits->max_listings);
                nodes++;
                break;
            case ':':
                nodes++;
                break;
            default:
                break;
        }
        if (nodes > node_budget)
            return s_reject (out, SUBMISSION_TOO_MANY_LISTINGS,
                             "more than %zu JSON values (%d per allowed listing)",
                             node_budget, SUBMISSION_VALUES_PER_LISTING);
    }
    return 0;
}

static int
s_expect_str (submission_t *out, const json_t *root, const char *key, const char *want,
              submission_reason_t reason)
{
    const json_t *v = json_object_get (root, key);
    if (!json_is_string (v))
        return s_reject (out, SUBMISSION_BAD_SHAPE, "field '%s': expected a string", key);
    if (strcmp (json_string_value (v), want) != 0) {
        //  the value is UTF-8 without NUL (jsonx checked); cut it for the message
        return s_reject (out, reason, "field '%s' is '%.80s', the key says '%s'", key,
                         json_string_value (v), want);
    }
    return 0;
}

int
submission_parse (const char *data, size_t len, const submission_key_t *expect,
                  const submission_limits_t *limits, submission_t *out)
{
    memset (out, 0, sizeof *out);
    if (!data || !expect || !limits || limits->max_depth < 3
    ||  limits->max_depth > JSONX_MAX_DEPTH || limits->max_listings == 0)
        return s_reject (out, SUBMISSION_BAD_SHAPE, "invalid arguments");
    if (len > limits->max_bytes)
        return s_reject (out, SUBMISSION_TOO_LARGE, "%zu bytes, cap %zu", len,
                         limits->max_bytes);
    if (!canon_utf8_valid (data, len))
        return s_reject (out, SUBMISSION_BAD_UTF8, "body is not valid UTF-8");
    if (s_prescan (data, len, limits, out) != 0)
        return RC_MALFORMED;

    jsonx_err_t err = { 0 };
    json_t *root = jsonx_parse (data, len, limits->max_bytes, limits->max_depth, &err);
    if (!root)
        return s_reject (out, SUBMISSION_NOT_JSON, "%s", err.msg);
    out->root = root;
    if (!json_is_object (root))
        return s_reject (out, SUBMISSION_BAD_SHAPE, "not a JSON object");

    if (s_expect_str (out, root, "epoch_id", expect->epoch, SUBMISSION_WRONG_EPOCH) != 0
    ||  s_expect_str (out, root, "miner_hotkey", expect->hotkey, SUBMISSION_WRONG_HOTKEY) != 0
    ||  s_expect_str (out, root, "zipcode", expect->zipcode, SUBMISSION_WRONG_ZIPCODE) != 0)
        return RC_MALFORMED;

    const json_t *ts = json_object_get (root, "submission_timestamp");
    if (ts && !json_is_null (ts)) {
        if (!json_is_string (ts) || json_string_length (ts) > SUBMISSION_TIMESTAMP_MAX)
            return s_reject (out, SUBMISSION_BAD_SHAPE,
                             "field 'submission_timestamp': expected a string of at most %d "
                             "bytes", SUBMISSION_TIMESTAMP_MAX);
        snprintf (out->submission_timestamp, sizeof out->submission_timestamp, "%s",
                  json_string_value (ts));
    }

    const json_t *count = json_object_get (root, "listing_count");
    if (!json_is_integer (count))
        return s_reject (out, SUBMISSION_BAD_SHAPE, "field 'listing_count': expected an "
                         "integer");
    const json_t *listings = json_object_get (root, "listings");
    if (!json_is_array (listings))
        return s_reject (out, SUBMISSION_BAD_SHAPE, "field 'listings': expected an array");
    size_t n = json_array_size (listings);
    if (n > limits->max_listings)
        return s_reject (out, SUBMISSION_TOO_MANY_LISTINGS, "%zu listings, cap %zu", n,
                         limits->max_listings);
    json_int_t claimed = json_integer_value (count);
    if (claimed < 0 || (uint64_t) claimed != (uint64_t) n)
        return s_reject (out, SUBMISSION_COUNT_MISMATCH,
                         "listing_count says %lld, listings holds %zu", (long long) claimed, n);
    for (size_t i = 0; i < n; i++)
        if (!json_is_object (json_array_get (listings, i)))
            return s_reject (out, SUBMISSION_BAD_SHAPE, "listings[%zu]: expected an object",
                             i);
    out->listings = listings;
    out->count = n;
    out->reason = SUBMISSION_OK;
    return 0;
}

void
submission_free (submission_t *self)
{
    if (!self)
        return;
    json_decref (self->root);
    self->root = NULL;
    self->listings = NULL;
}
