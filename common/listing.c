/*  listing: the intake rules of listing.h, on the bounded JSON parser (common/json.h).
    Stateless; every check bounds sizes before it looks at content.                          */
#include "common/listing.h"
#include "common/json.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *s_reason_names [LISTING_REASONS] = {
    "ok", "too_large", "not_json", "not_object", "missing_id", "bad_id", "missing_zipcode",
    "wrong_zipcode", "bad_field", "bad_date"
};

const char *
listing_reason_name (listing_reason_t reason)
{
    if ((int) reason < 0 || (int) reason >= LISTING_REASONS)
        return "unknown";
    return s_reason_names [reason];
}

static listing_reason_t
s_reject (listing_verdict_t *out, listing_reason_t reason, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static listing_reason_t
s_reject (listing_verdict_t *out, listing_reason_t reason, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (out->detail, sizeof out->detail, fmt, args);
    va_end (args);
    out->id [0] = 0;
    return reason;
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
listing_iso8601_ok (const char *s)
{
    size_t len = strnlen (s, 65);
    if (len < 10 || len > 64 || !s_digits (s, 4) || s [4] != '-' || !s_digits (s + 5, 2)
    ||  s [7] != '-' || !s_digits (s + 8, 2))
        return false;
    int year = s_num (s, 4), month = s_num (s + 5, 2), day = s_num (s + 8, 2);
    static const int mdays [12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (year < 1900 || month < 1 || month > 12 || day < 1 || day > mdays [month - 1])
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap)
        return false;
    if (len == 10)
        return true;
    const char *p = s + 10;
    if ((*p != 'T' && *p != ' ') || strlen (p) < 9 || !s_digits (p + 1, 2) || p [3] != ':'
    ||  !s_digits (p + 4, 2) || p [6] != ':' || !s_digits (p + 7, 2))
        return false;
    if (s_num (p + 1, 2) > 23 || s_num (p + 4, 2) > 59 || s_num (p + 7, 2) > 60)
        return false;
    p += 9;
    if (*p == '.') {
        p++;
        size_t digits = 0;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits++;
        }
        if (digits == 0 || digits > 9)
            return false;
    }
    if (*p == 0 || (p [0] == 'Z' && p [1] == 0))
        return true;
    if ((*p == '+' || *p == '-') && strlen (p) == 6 && s_digits (p + 1, 2) && p [3] == ':'
    &&  s_digits (p + 4, 2))
        return s_num (p + 1, 2) <= 23 && s_num (p + 4, 2) <= 59;
    return false;
}

//  A present, non-null field: NULL when absent or null.
static const json_t *
s_field (const json_t *obj, const char *key)
{
    const json_t *v = json_object_get (obj, key);
    return v && !json_is_null (v) ? v : NULL;
}

typedef struct {
    const char *name;
    size_t max;                 //  longest string
} s_str_rule_t;

typedef struct {
    const char *name;
    double max;
    bool integer;
} s_num_rule_t;

listing_reason_t
listing_check (const char *text, size_t len, const char *zipcode, listing_verdict_t *out)
{
    assert (text || len == 0);
    assert (zipcode && out);
    out->id [0] = 0;
    out->detail [0] = 0;
    if (len > LISTING_MAX_BYTES)
        return s_reject (out, LISTING_TOO_LARGE, "%zu bytes, at most %d", len, LISTING_MAX_BYTES);
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (text, len, LISTING_MAX_BYTES, LISTING_MAX_DEPTH, &err);
    if (!doc)
        return s_reject (out, LISTING_NOT_JSON, "%s", err.msg);
    listing_reason_t rc = LISTING_OK;
    if (!json_is_object (doc)) {
        rc = s_reject (out, LISTING_NOT_OBJECT, "a listing must be a JSON object");
        goto done;
    }

    //  identity
    const json_t *zpid = s_field (doc, "zpid");
    const json_t *mls = s_field (doc, "mls_id");
    if (zpid) {
        if (json_is_integer (zpid)) {
            json_int_t v = json_integer_value (zpid);
            if (v < 1 || v > (json_int_t) 9007199254740992LL) {
                rc = s_reject (out, LISTING_BAD_ID, "zpid out of range");
                goto done;
            }
            snprintf (out->id, sizeof out->id, "%lld", (long long) v);
        }
        else
        if (json_is_string (zpid)) {
            size_t n = json_string_length (zpid);
            const char *s = json_string_value (zpid);
            if (n < 1 || n > 20 || !s_digits (s, n)) {
                rc = s_reject (out, LISTING_BAD_ID, "zpid must be 1..20 digits");
                goto done;
            }
            //  "007" and 7 are the same property
            while (n > 1 && *s == '0') {
                s++;
                n--;
            }
            if (n == 1 && *s == '0') {
                rc = s_reject (out, LISTING_BAD_ID, "zpid must not be 0");
                goto done;
            }
            snprintf (out->id, sizeof out->id, "%.*s", (int) n, s);
        }
        else {
            rc = s_reject (out, LISTING_BAD_ID, "zpid must be an integer or a digit string");
            goto done;
        }
    }
    else
    if (mls) {
        size_t n = json_is_string (mls) ? json_string_length (mls) : 0;
        const char *s = json_is_string (mls) ? json_string_value (mls) : "";
        bool ok = n >= 1 && n <= 64;
        for (size_t i = 0; ok && i < n; i++) {
            char c = s [i];
            ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '.' || c == ':' || c == '-';
        }
        if (!ok) {
            rc = s_reject (out, LISTING_BAD_ID, "mls_id must be 1..64 of [A-Za-z0-9_.:-]");
            goto done;
        }
        snprintf (out->id, sizeof out->id, "mls:%s", s);
    }
    else {
        rc = s_reject (out, LISTING_MISSING_ID, "neither zpid nor mls_id");
        goto done;
    }

    //  zipcode
    const json_t *zip = s_field (doc, "zipcode");
    if (!zip) {
        rc = s_reject (out, LISTING_MISSING_ZIPCODE, "no zipcode");
        goto done;
    }
    if (!json_is_string (zip) || json_string_length (zip) != 5
    ||  !s_digits (json_string_value (zip), 5)) {
        rc = s_reject (out, LISTING_BAD_FIELD, "zipcode must be a string of 5 digits");
        goto done;
    }
    if (strcmp (json_string_value (zip), zipcode) != 0) {
        rc = s_reject (out, LISTING_WRONG_ZIPCODE, "zipcode %s, assigned %s",
                       json_string_value (zip), zipcode);
        goto done;
    }

    static const s_str_rule_t strs [] = {
        { "address", 512 }, { "property_type", 64 }, { "listing_status", 64 },
        { "source_url", 2048 }, { "listing_date", 64 }, { "scraped_timestamp", 64 }
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs [0]; i++) {
        const json_t *v = s_field (doc, strs [i].name);
        if (!v)
            continue;
        if (!json_is_string (v) || json_string_length (v) < 1
        ||  json_string_length (v) > strs [i].max) {
            rc = s_reject (out, LISTING_BAD_FIELD, "%s must be a string of 1..%zu bytes",
                           strs [i].name, strs [i].max);
            goto done;
        }
    }
    const json_t *url = s_field (doc, "source_url");
    if (url && strncmp (json_string_value (url), "http://", 7) != 0
            && strncmp (json_string_value (url), "https://", 8) != 0) {
        rc = s_reject (out, LISTING_BAD_FIELD, "source_url must be an http(s) URL");
        goto done;
    }
    static const char *dates [] = { "listing_date", "scraped_timestamp" };
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = s_field (doc, dates [i]);
        if (v && !listing_iso8601_ok (json_string_value (v))) {
            rc = s_reject (out, LISTING_BAD_DATE, "%s is not an ISO 8601 date", dates [i]);
            goto done;
        }
    }
    static const s_num_rule_t nums [] = {
        { "price", 1e12, false }, { "bedrooms", 1000, false }, { "bathrooms", 1000, false },
        { "sqft", 1e9, false }, { "days_on_market", 100000, true }
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums [0]; i++) {
        const json_t *v = s_field (doc, nums [i].name);
        if (!v)
            continue;
        bool typed = nums [i].integer ? json_is_integer (v) : json_is_number (v);
        double d = typed ? json_number_value (v) : -1;
        if (!typed || !isfinite (d) || d < 0 || d > nums [i].max) {
            rc = s_reject (out, LISTING_BAD_FIELD, "%s must be %s in 0..%g", nums [i].name,
                           nums [i].integer ? "an integer" : "a number", nums [i].max);
            goto done;
        }
    }
done:
    json_decref (doc);
    return rc;
}
