/*  grant: the coordinator's upload grant answer. A grant as the coordinator serves it parses
    (fields kept in order, expiry read as UTC, prefix coverage and expiry margin); each field
    that is missing, of the wrong type or out of bounds is refused with the field named;
    "key" or "file" among the form fields, too many fields, oversized and non-JSON input are
    refused.                                                                                 */
#include "common/grant.h"
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *s_good =
    "{\"uploadUrl\":\"http://127.0.0.1:9000/zipmine\",\"fields\":{\"policy\":\"eyJ9\","
    "\"x-amz-algorithm\":\"AWS4-HMAC-SHA256\",\"x-amz-signature\":\"00ff\"},"
    "\"prefix\":\"validators/5Val/2026-11-25T12-00-00/\",\"epochId\":\"2026-11-25T12-00-00\","
    "\"expiresAt\":\"2026-11-25T16:00:00Z\",\"maxBytes\":67108864}";

//  s_good with the first occurrence of from replaced by to: NULL expected, err names why.
static void
s_refused (const char *from, const char *to, const char *why)
{
    char doc [2048], err [256];
    const char *p = strstr (s_good, from);
    CHECK (p);
    snprintf (doc, sizeof doc, "%.*s%s%s", (int) (p - s_good), s_good, to, p + strlen (from));
    err [0] = 0;
    grant_t *g = grant_parse (doc, strlen (doc), err, sizeof err);
    if (g)
        fprintf (stderr, "accepted: %s\n", doc);
    CHECK (!g);
    if (!strstr (err, why))
        fprintf (stderr, "reason '%s' does not name '%s'\n", err, why);
    CHECK (strstr (err, why));
}

int
main (void)
{
    char err [256];
    grant_t *g = grant_parse (s_good, strlen (s_good), err, sizeof err);
    CHECK (g);
    CHECK_EQ_STR (grant_url (g), "http://127.0.0.1:9000/zipmine");
    CHECK_EQ_STR (grant_prefix (g), "validators/5Val/2026-11-25T12-00-00/");
    CHECK_EQ_STR (grant_epoch (g), "2026-11-25T12-00-00");
    CHECK_EQ_INT (grant_expires_s (g), 1795622400);
    size_t n = 0;
    const sigv4_kv_t *f = grant_fields (g, &n);
    CHECK_EQ_INT (n, 3);
    CHECK_EQ_STR (f [0].name, "policy");
    CHECK_EQ_STR (f [1].name, "x-amz-algorithm");
    CHECK_EQ_STR (f [2].name, "x-amz-signature");
    CHECK_EQ_STR (f [2].value, "00ff");
    const char *key = "validators/5Val/2026-11-25T12-00-00/validation_results/1.json";
    CHECK (grant_covers (g, key, 1795622400 - 10, 5));
    CHECK (!grant_covers (g, key, 1795622400 - 5, 5));              //  inside the margin
    CHECK (!grant_covers (g, key, 1795622400, 0));                  //  expired
    CHECK (!grant_covers (g, "validators/5Other/2026-11-25T12-00-00/x.json", 0, 0));
    CHECK (!grant_covers (g, "validators/5Val/", 0, 0));            //  the prefix cut short
    grant_destroy (&g);
    CHECK (!g);
    grant_destroy (&g);

    s_refused ("\"uploadUrl\":\"http://127.0.0.1:9000/zipmine\",", "", "uploadUrl");
    s_refused ("http://127.0.0.1:9000/zipmine", "ftp://127.0.0.1/zipmine", "uploadUrl");
    s_refused ("\"http://127.0.0.1:9000/zipmine\"", "7", "uploadUrl");
    s_refused ("\"prefix\":\"validators/5Val/2026-11-25T12-00-00/\"", "\"prefix\":\"\"",
               "prefix");
    s_refused ("\"epochId\":\"2026-11-25T12-00-00\"", "\"epochId\":\"2026-11-25\"", "epochId");
    s_refused ("\"expiresAt\":\"2026-11-25T16:00:00Z\"",
               "\"expiresAt\":\"2026-11-25T16:00:00+00:00\"", "expiresAt");
    s_refused ("\"expiresAt\":\"2026-11-25T16:00:00Z\"", "\"expiresAt\":1795622400",
               "expiresAt");
    s_refused ("\"policy\":\"eyJ9\"", "\"policy\":1", "policy");
    s_refused ("\"policy\":\"eyJ9\"", "\"key\":\"validators/x\"", "key");
    s_refused ("\"policy\":\"eyJ9\"", "\"file\":\"x\"", "file");
    s_refused ("\"fields\":{", "\"fields\":[],\"x\":{", "fields");

    //  too many fields
    char doc [4096];
    int w = snprintf (doc, sizeof doc, "{\"uploadUrl\":\"http://h/b\",\"prefix\":\"p/\","
                      "\"epochId\":\"2026-11-25T12-00-00\",\"expiresAt\":\"2026-11-25T16:00:00Z\","
                      "\"fields\":{");
    for (int i = 0; i <= GRANT_FIELDS_MAX; i++)
        w += snprintf (doc + w, sizeof doc - (size_t) w, "%s\"f%d\":\"v\"", i ? "," : "", i);
    snprintf (doc + w, sizeof doc - (size_t) w, "}}");
    CHECK (!grant_parse (doc, strlen (doc), err, sizeof err));
    CHECK (strstr (err, "fields"));

    //  not JSON, truncated, oversized
    CHECK (!grant_parse ("", 0, err, sizeof err));
    CHECK (!grant_parse (s_good, strlen (s_good) - 1, err, sizeof err));
    size_t big = GRANT_BYTES_MAX + 10;
    char *huge = malloc (big);
    CHECK (huge);
    memset (huge, ' ', big);
    huge [0] = '{';
    huge [big - 1] = '}';
    CHECK (!grant_parse (huge, big, err, sizeof err));
    free (huge);
    TEST_DONE ();
}
