/*  libFuzzer target: the ListObjectsV2 parser and the S3 <Error> parser (common/s3 on
    common/xml), and the signing of the keys they yield (common/sigv4). The documents come
    straight from an S3 server, and a validator signs a GET for every key it lists, so any
    input must end in a result or a clean rejection, never a crash, a leak or a read out of
    bounds, and a signed URL must never carry a raw byte that could split or bend a request.

    The first input byte picks the mode (mod 3: 0 list, 1 error, 2 the rest is one raw key
    to sign); the rest is the body. Successful list parses are checked for the invariants
    callers rely on, and every listed key is signed.                                        */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "common/s3.h"
#include "common/sigv4.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Signs a GET for key both ways and checks what would go on the wire.
static void
s_sign_key (const char *key)
{
    static const sigv4_creds_t creds = {
        .access_key = "AK", .secret_key = "SK", .region = "us-east-1", .service = "s3"
    };
    size_t klen = strlen (key);
    char *path = malloc (klen + 16);
    assert (path);
    memcpy (path, "/bucket/", 8);
    memcpy (path + 8, key, klen + 1);
    sigv4_kv_t q [] = { { "prefix", key }, { "list-type", "2" } };
    sigv4_request_t req = { .method = "GET", .host = "h:1", .path = path, .query = q, .nquery = 2 };
    char *url = sigv4_presign (&creds, &req, "https", 1764079200, 60);
    assert (url);
    for (const char *p = url; *p; p++)
        assert ((unsigned char) *p > 0x20 && (unsigned char) *p < 0x7f && *p != '#');
    free (url);
    req.payload_hash = SIGV4_EMPTY_SHA256;
    sigv4_signed_t s;
    int rc = sigv4_sign (&creds, &req, 1764079200, &s);
    assert (rc == 0);
    for (const char *p = s.query; *p; p++)
        assert ((unsigned char) *p > 0x20 && (unsigned char) *p < 0x7f);
    char *epath = sigv4_uri_encode (path, strlen (path), true);
    for (const char *p = epath; *p; p++)
        assert ((unsigned char) *p > 0x20 && (unsigned char) *p < 0x7f && *p != '?');
    free (epath);
    sigv4_signed_clear (&s);
    free (path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *xml = (const char *) data + 1;
    size_t len = size - 1;
    if (data [0] % 3 == 2) {
        char *key = malloc (len + 1);
        assert (key);
        memcpy (key, xml, len);
        key [len] = 0;          //  a key is a C string: it ends at the first NUL
        s_sign_key (key);
        free (key);
    }
    else if (data [0] % 3 == 0) {
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
                s_sign_key (page.objects [i].key);
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
