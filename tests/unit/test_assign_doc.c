/*  assign_doc: the coordinator's assignment document. A document as the coordinator serves
    it parses; each field that is missing, of the wrong type or out of bounds is refused with
    the field named; duplicates, bad zipcodes, bad times and oversized input are refused.    */
#include "common/assign_doc.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *s_good =
    "{\"epochId\":\"2026-11-25T12-00-00\",\"epochStart\":\"2026-11-25T12:00:00Z\","
    "\"epochEnd\":\"2026-11-25T16:00:00Z\",\"nonce\":\"9f86d081884c7d65\",\"targetListings\":8500,"
    "\"tolerancePercent\":10.0,\"submissionDeadline\":\"2026-11-25T16:00:00Z\","
    "\"zipcodes\":[{\"zipcode\":\"77494\",\"expectedListings\":567,\"state\":\"TX\"},"
    "{\"zipcode\":\"00501\",\"expectedListings\":50,\"city\":\"Holtsville\"}]}";

//  s_good with the first occurrence of from replaced by to; parse result.
static int
s_variant (const char *from, const char *to, char *err)
{
    char doc [2048];
    const char *p = strstr (s_good, from);
    CHECK (p);
    snprintf (doc, sizeof doc, "%.*s%s%s", (int) (p - s_good), s_good, to, p + strlen (from));
    assign_doc_t d;
    int rc = assign_doc_parse (doc, strlen (doc), &d, err, 256);
    if (rc == 0)
        assign_doc_free (&d);
    return rc;
}

int
main (void)
{
    assign_doc_t d;
    char err [256];
    CHECK_EQ_INT (assign_doc_parse (s_good, strlen (s_good), &d, err, sizeof err), 0);
    CHECK_EQ_STR (d.epoch_id, "2026-11-25T12-00-00");
    CHECK_EQ_STR (d.nonce, "9f86d081884c7d65");
    CHECK_EQ_STR (d.deadline, "2026-11-25T16:00:00Z");
    CHECK_EQ_INT (d.deadline_s, 1795622400);
    CHECK_EQ_INT (d.target, 8500);
    CHECK (d.tolerance == 10.0);
    CHECK_EQ_INT (d.nzips, 2);
    CHECK_EQ_STR (d.zips [0].zipcode, "77494");
    CHECK_EQ_INT (d.zips [0].expected, 567);
    CHECK_EQ_STR (d.zips [1].zipcode, "00501");
    assign_doc_free (&d);
    CHECK (d.zips == NULL);

    struct { const char *from, *to, *why; } bad [] = {
        { "\"epochId\":\"2026-11-25T12-00-00\"", "\"epochId\":\"2026-11-25T12:00:00\"", "epochId" },
        { "\"epochId\":\"2026-11-25T12-00-00\"", "\"epochId\":7", "epochId" },
        { "\"nonce\":\"9f86d081884c7d65\"", "\"nonce\":\"9f86d081884c7d6\"", "nonce" },
        { "\"nonce\":\"9f86d081884c7d65\"", "\"nonce\":\"9f86d081884c7d6g\"", "nonce" },
        { "\"epochStart\":\"2026-11-25T12:00:00Z\"", "\"epochStart\":\"2026-11-25 12:00:00\"", "epochStart" },
        { "\"epochEnd\":\"2026-11-25T16:00:00Z\"", "\"epochEnd\":\"2026-11-25T11:00:00Z\"", "order" },
        { "\"targetListings\":8500", "\"targetListings\":-1", "targetListings" },
        { "\"targetListings\":8500", "\"targetListings\":\"8500\"", "targetListings" },
        { "\"tolerancePercent\":10.0", "\"tolerancePercent\":101", "tolerancePercent" },
        { "\"zipcode\":\"77494\"", "\"zipcode\":\"7749\"", "zipcodes[0]" },
        { "\"zipcode\":\"77494\"", "\"zipcode\":\"7749x\"", "zipcodes[0]" },
        { "\"zipcode\":\"00501\"", "\"zipcode\":\"77494\"", "zipcodes[1]" },
        { "\"expectedListings\":567", "\"expectedListings\":100001", "expectedListings" },
        { "\"expectedListings\":567", "\"expectedListings\":5.5", "expectedListings" },
        { "\"zipcodes\":[", "\"zipcodes\":{\"a\":[", "" },
        { "\"submissionDeadline\":\"2026-11-25T16:00:00Z\"", "\"x\":1", "submissionDeadline" },
        { "{\"epochId\"", "[{\"epochId\"", "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        int rc = s_variant (bad [i].from, bad [i].to, err);
        if (rc != RC_MALFORMED)
            fprintf (stderr, "case %zu accepted\n", i);
        CHECK_EQ_INT (rc, RC_MALFORMED);
        CHECK (strlen (err) > 0);
        if (bad [i].why [0] && !strstr (err, bad [i].why))
            fprintf (stderr, "case %zu: reason \"%s\" does not name %s\n", i, err, bad [i].why);
        CHECK (!bad [i].why [0] || strstr (err, bad [i].why));
    }
    //  extra fields are fine (forward compatible); a fraction and +00:00 in times too
    CHECK_EQ_INT (s_variant ("\"nonce\"", "\"future\":{\"x\":[1]},\"nonce\"", err), 0);
    CHECK_EQ_INT (s_variant ("2026-11-25T12:00:00Z", "2026-11-25T12:00:00.000+00:00", err), 0);
    //  empty and non-JSON input, oversized input
    CHECK_EQ_INT (assign_doc_parse ("", 0, &d, err, sizeof err), RC_MALFORMED);
    CHECK_EQ_INT (assign_doc_parse ("nope", 4, &d, err, sizeof err), RC_MALFORMED);
    size_t n = ASSIGN_DOC_BYTES_MAX + 10;
    char *huge = malloc (n);
    CHECK (huge);
    memset (huge, ' ', n);
    huge [0] = '{';
    huge [n - 1] = '}';
    CHECK_EQ_INT (assign_doc_parse (huge, n, &d, err, sizeof err), RC_MALFORMED);
    free (huge);
    TEST_DONE ();
}
