/*  tier2: the quality check (tier2.h). The listings are read in pages of 1000 so memory is
    bounded by a page of parsed documents plus the duplicate keys.                           */
#include "workers/tier2/tier2.h"

#include "common/listing.h"
#include "common/log.h"
#include "common/rc.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIER2_PAGE 1000
#define TIER2_DAY_MS (24 * 3600 * 1000LL)

static const char *s_fields [] = {
    "zpid", "address", "price", "bedrooms", "bathrooms", "sqft", "listing_date",
    "property_type", "listing_status", "days_on_market", "source_url", "scraped_timestamp"
};

static bool
s_nonempty (const json_t *v)
{
    if (!v || json_is_null (v))
        return false;
    if (json_is_string (v)) {
        const char *s = json_string_value (v);
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        return *s != 0;
    }
    if (json_is_array (v))
        return json_array_size (v) > 0;
    if (json_is_object (v))
        return json_object_size (v) > 0;
    return true;
}

static bool
s_complete (const json_t *doc)
{
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields [0]; i++) {
        const json_t *v = json_object_get (doc, s_fields [i]);
        if (i == 0 && !s_nonempty (v))
            v = json_object_get (doc, "mls_id");
        if (!s_nonempty (v))
            return false;
    }
    return true;
}

static bool
s_in_range (const json_t *doc, const char *field, double lo, double hi)
{
    const json_t *v = json_object_get (doc, field);
    if (!json_is_number (v))
        return false;
    double x = json_number_value (v);
    return x >= lo && x <= hi;
}

static bool
s_reasonable (const json_t *doc)
{
    return s_in_range (doc, "price", 10000, 50000000)
        && s_in_range (doc, "bedrooms", 0, 20)
        && s_in_range (doc, "bathrooms", 0, 20)
        && s_in_range (doc, "sqft", 100, 100000);
}

static int
s_digits (const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit ((unsigned char) s [i]))
            return -1;
        v = v * 10 + (s [i] - '0');
    }
    *out = v;
    return 0;
}

int
tier2_iso_ms (const char *s, int64_t *ms)
{
    if (!s || !listing_iso8601_ok (s))
        return -1;
    //  listing_iso8601_ok vouched for the shape: YYYY-MM-DD[THH:MM:SS[.f+][Z|±HH:MM]]
    int y, mo, d, h = 0, mi = 0, se = 0, off = 0;
    if (s_digits (s, 4, &y) || s_digits (s + 5, 2, &mo) || s_digits (s + 8, 2, &d))
        return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (s_digits (p + 1, 2, &h) || s_digits (p + 4, 2, &mi))
            return -1;
        p += 6;
        if (*p == ':') {
            if (s_digits (p + 1, 2, &se))
                return -1;
            p += 3;
        }
        if (*p == '.')
            for (p++; isdigit ((unsigned char) *p); p++)
                ;
        if (*p == '+' || *p == '-') {
            int oh, om;
            if (s_digits (p + 1, 2, &oh) || s_digits (p + 4, 2, &om))
                return -1;
            off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        }
    }
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = se };
    time_t t = timegm (&tm);
    *ms = ((int64_t) t - (int64_t) off * 60) * 1000;
    return 0;
}

static bool
s_consistent (const json_t *doc, int64_t deadline_ms)
{
    const char *date = json_string_value (json_object_get (doc, "listing_date"));
    const char *ts = json_string_value (json_object_get (doc, "scraped_timestamp"));
    int64_t t;
    if (!date || !listing_iso8601_ok (date) || !ts || strlen (ts) <= 10
    ||  tier2_iso_ms (ts, &t) != 0)
        return false;
    return t >= deadline_ms - TIER2_DAY_MS && t <= deadline_ms;
}

//  The duplicate key, or NULL when the listing has no string address.
static char *
s_key (const json_t *doc)
{
    const char *addr = json_string_value (json_object_get (doc, "address"));
    if (!addr)
        return NULL;
    while (isspace ((unsigned char) *addr))
        addr++;
    size_t len = strlen (addr);
    while (len && isspace ((unsigned char) addr [len - 1]))
        len--;
    //  As Python compares them: 300000 and 300000.0 are the same price, "300000" is not.
    const json_t *pv = json_object_get (doc, "price");
    char *price;
    if (json_is_number (pv)) {
        price = malloc (40);
        assert (price);
        snprintf (price, 40, "n%.17g", json_number_value (pv));
    }
    else
        price = json_dumps (pv, JSON_ENCODE_ANY | JSON_COMPACT);
    size_t plen = price ? strlen (price) : 0;
    char *key = malloc (len + plen + 2);
    assert (key);
    for (size_t i = 0; i < len; i++)
        key [i] = (char) tolower ((unsigned char) addr [i]);
    key [len] = '\x1f';
    memcpy (key + len + 1, price ? price : "", plen);
    key [len + 1 + plen] = 0;
    free (price);
    return key;
}

typedef struct {
    size_t n, complete, reasonable, consistent, duplicates;
    bool zip_ok;
    zhashx_t *keys;
} s_acc_t;

static void
s_acc_init (s_acc_t *a)
{
    memset (a, 0, sizeof *a);
    a->zip_ok = true;
    a->keys = zhashx_new ();
    assert (a->keys);
}

static void
s_acc_one (s_acc_t *a, const json_t *doc, const char *zipcode, int64_t deadline_ms)
{
    a->n++;
    if (!json_is_object (doc)) {
        a->zip_ok = false;
        return;
    }
    a->complete += s_complete (doc);
    a->reasonable += s_reasonable (doc);
    a->consistent += s_consistent (doc, deadline_ms);
    const char *zip = json_string_value (json_object_get (doc, "zipcode"));
    if (!zip || strcmp (zip, zipcode) != 0)
        a->zip_ok = false;
    char *key = s_key (doc);
    if (key) {
        if (zhashx_insert (a->keys, key, (void *) 1) != 0)
            a->duplicates++;
        free (key);
    }
}

static void
s_acc_end (s_acc_t *a, scoring_tier2_t *m)
{
    double n = (double) a->n;
    m->completeness = a->n ? (double) a->complete / n : 0.0;
    m->reasonable = a->n ? (double) a->reasonable / n : 0.0;
    m->consistency = a->n ? (double) a->consistent / n : 0.0;
    m->duplicate_rate = a->n ? (double) a->duplicates / n : 0.0;
    m->zipcodes_match = a->zip_ok;
    zhashx_destroy (&a->keys);
}

void
tier2_metrics (const json_t *listings, const char *zipcode, int64_t deadline_ms,
               scoring_tier2_t *m)
{
    s_acc_t a;
    s_acc_init (&a);
    for (size_t i = 0; i < json_array_size (listings); i++)
        s_acc_one (&a, json_array_get (listings, i), zipcode, deadline_ms);
    s_acc_end (&a, m);
}

int
tier2_check (void *arg, db_t *db, const tier_sub_t *sub, tier_outcome_t *out)
{
    const scoring_cfg_t *cfg = arg;
    s_acc_t a;
    s_acc_init (&a);
    char id [24], from [24];
    snprintf (id, sizeof id, "%" PRId64, sub->id);
    for (int64_t next = 0;;) {
        snprintf (from, sizeof from, "%" PRId64, next);
        db_result_t *res = NULL;
        int rc = db_exec (db, "SELECT idx, doc::text FROM validator_submission_listings "
                              "WHERE submission_id = $1 AND idx >= $2 ORDER BY idx LIMIT 1000",
                          DB_P (id, from), &res);
        if (rc != 0) {
            zhashx_destroy (&a.keys);
            return rc == RC_RETRY ? RC_RETRY : RC_ERR;
        }
        int rows = db_result_rows (res);
        for (int r = 0; r < rows; r++) {
            json_t *doc = json_loads (db_result_get (res, r, 1), 0, NULL);
            s_acc_one (&a, doc, sub->zipcode, sub->deadline_ms);
            json_decref (doc);
            int64_t idx = 0;
            db_result_int64 (res, r, 0, &idx);
            next = idx + 1;
        }
        db_result_destroy (&res);
        if (rows < TIER2_PAGE)
            break;
    }
    size_t n = a.n;
    scoring_tier2_t m;
    s_acc_end (&a, &m);
    tier_outcome_metric (out, "listings", (double) n);
    tier_outcome_metric (out, "completeness", m.completeness);
    tier_outcome_metric (out, "reasonable", m.reasonable);
    tier_outcome_metric (out, "consistency", m.consistency);
    tier_outcome_metric (out, "duplicate_rate", m.duplicate_rate);
    tier_outcome_metric (out, "zipcodes_match", m.zipcodes_match ? 1.0 : 0.0);
    if (scoring_tier2_pass (cfg, &m)) {
        out->verdict = PROTO_VERDICT_PASS;
        return 0;
    }
    out->verdict = PROTO_VERDICT_FAIL;
    const char *why = !m.zipcodes_match ? "wrong_zipcode"
                    : !(m.completeness >= cfg->min_completeness) ? "completeness"
                    : !(m.reasonable >= cfg->min_reasonable) ? "reasonable"
                    : !(m.consistency >= cfg->min_consistency) ? "consistency"
                    : "duplicates";
    snprintf (out->reason, sizeof out->reason, "%s", why);
    return 0;
}
