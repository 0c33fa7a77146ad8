/*  libFuzzer target: the ListObjectsV2 parser and the S3 <Error> parser (common/s3 on
    common/xml). Both read bytes straight from an S3 server, so any input must end in a
    result or a clean rejection, never a crash, a leak or a read out of bounds.

    The first input byte picks the parser (even: list, odd: error); the rest is the body.
    Successful list parses are checked for the invariants callers rely on.                  */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "common/s3.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *xml = (const char *) data + 1;
    size_t len = size - 1;
    if (data [0] % 2 == 0) {
        s3_list_page_t page;
        const char *reason = NULL;
        int rc = s3_list_page_parse (xml, len, &page, &reason);
        if (rc == 0) {
            assert (page.nobjects <= S3_LIST_MAX_OBJECTS);
            for (size_t i = 0; i < page.nobjects; i++) {
                assert (page.objects [i].key && *page.objects [i].key);
                assert (strlen (page.objects [i].key) <= S3_KEY_MAX);
                assert (page.objects [i].size >= 0);
                assert (page.objects [i].etag && page.objects [i].last_modified);
            }
            for (size_t i = 0; i < page.nprefixes; i++)
                assert (page.prefixes [i]);
            s3_list_page_clear (&page);
        }
        else {
            assert (rc == RC_MALFORMED && reason && *reason);
            assert (page.objects == NULL && page.nobjects == 0 && page.next_token == NULL);
        }
    }
    else {
        char code [64], message [128];
        int rc = s3_error_parse (xml, len, code, sizeof code, message, sizeof message);
        assert (strlen (code) < sizeof code && strlen (message) < sizeof message);
        assert (rc == 0 ? *code != 0 : *code == 0);
    }
    return 0;
}
