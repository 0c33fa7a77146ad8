/*  assign_doc: parse and check the coordinator's assignment (assign_doc.h).                  */
#include "common/assign_doc.h"

#include "common/epoch.h"
#include "common/json.h"
#include "common/rc.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  "YYYY-MM-DDTHH:MM:SS" then an optional fraction, then "Z" or "+00:00"; returns unix seconds.
static int
s_iso_utc (const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (strlen (s) >= ASSIGN_DOC_TIME_LEN
    ||  sscanf (s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit ((unsigned char) *p))
            return -1;
        while (isdigit ((unsigned char) *p))
            p++;
    }
    if (strcmp (p, "Z") != 0 && strcmp (p, "+00:00") != 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_sec = sec };
    *out = (int64_t) timegm (&tm);
    return 0;
}

static void
s_copy_time (const json_t *doc, const char *key, char *out, int64_t *unix_s, jsonx_err_t *err)
{
    const char *v = jsonx_str (doc, key, err);
    int64_t t = 0;
    if (!v)
        return;
    if (s_iso_utc (v, &t) != 0) {
        jsonx_fail (err, "field '%s': expected an ISO 8601 UTC time", key);
        return;
    }
    snprintf (out, ASSIGN_DOC_TIME_LEN, "%s", v);
    if (unix_s)
        *unix_s = t;
}

int
assign_doc_parse (const char *body, size_t len, assign_doc_t *out, char *errbuf,
                  size_t errsize)
{
    memset (out, 0, sizeof *out);
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (body, len, ASSIGN_DOC_BYTES_MAX, 8, &err);
    if (!doc) {
        snprintf (errbuf, errsize, "%s", err.msg);
        return RC_MALFORMED;
    }
    const char *id = jsonx_str (doc, "epochId", &err);
    int64_t start = 0;
    if (id && epoch_id_parse (id, &start) != 0)
        jsonx_fail (&err, "field 'epochId': expected YYYY-MM-DDTHH-MM-SS");
    else
    if (id)
        snprintf (out->epoch_id, sizeof out->epoch_id, "%s", id);
    const char *nonce = jsonx_str (doc, "nonce", &err);
    if (nonce) {
        bool ok = strlen (nonce) == 16;
        for (size_t i = 0; ok && i < 16; i++)
            ok = isxdigit ((unsigned char) nonce [i]) != 0;
        if (!ok)
            jsonx_fail (&err, "field 'nonce': expected 16 hex digits");
        else
            snprintf (out->nonce, sizeof out->nonce, "%s", nonce);
    }
    int64_t s_start = 0, s_end = 0;
    s_copy_time (doc, "epochStart", out->epoch_start, &s_start, &err);
    s_copy_time (doc, "epochEnd", out->epoch_end, &s_end, &err);
    s_copy_time (doc, "submissionDeadline", out->deadline, &out->deadline_s, &err);
    out->target = jsonx_int_in (doc, "targetListings", 0, 100000000, &err);
    out->tolerance = jsonx_num (doc, "tolerancePercent", &err);
    if (!err.failed && (out->tolerance < 0 || out->tolerance > 100))
        jsonx_fail (&err, "field 'tolerancePercent': expected 0..100");
    if (!err.failed && !(s_start < s_end && s_end <= out->deadline_s))
        jsonx_fail (&err, "epoch times out of order");
    const json_t *zips = jsonx_arr (doc, "zipcodes", &err);
    if (!err.failed && json_array_size (zips) > ASSIGN_DOC_ZIPCODES_MAX)
        jsonx_fail (&err, "field 'zipcodes': more than %d", ASSIGN_DOC_ZIPCODES_MAX);
    if (!err.failed && json_array_size (zips) > 0) {
        out->zips = calloc (json_array_size (zips), sizeof *out->zips);
        assert (out->zips);
        size_t i;
        json_t *z;
        json_array_foreach (zips, i, z) {
            const char *zip = jsonx_str (z, "zipcode", &err);
            int64_t expected = jsonx_int_in (z, "expectedListings", 0, ASSIGN_DOC_EXPECTED_MAX, &err);
            if (err.failed)
                break;
            bool ok = strlen (zip) == 5;
            for (size_t k = 0; ok && k < 5; k++)
                ok = zip [k] >= '0' && zip [k] <= '9';
            for (size_t k = 0; ok && k < out->nzips; k++)
                ok = strcmp (out->zips [k].zipcode, zip) != 0;
            if (!ok) {
                jsonx_fail (&err, "zipcodes[%zu]: not 5 digits, or a duplicate", i);
                break;
            }
            memcpy (out->zips [out->nzips].zipcode, zip, 6);
            out->zips [out->nzips].expected = expected;
            out->nzips++;
        }
    }
    json_decref (doc);
    if (err.failed) {
        snprintf (errbuf, errsize, "%s", err.msg);
        assign_doc_free (out);
        return RC_MALFORMED;
    }
    return 0;
}

void
assign_doc_free (assign_doc_t *self)
{
    free (self->zips);
    self->zips = NULL;
    self->nzips = 0;
}
