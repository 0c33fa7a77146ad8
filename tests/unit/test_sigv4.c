/*  Known-answer tests for common/sigv4 against AWS's published Signature V4 examples:
      - "Signature Calculations for the Authorization Header: Transferring Payload in a Single
        Chunk" (GET object with Range, PUT object, GET bucket lifecycle, list objects),
      - "Authenticating Requests: Using Query Parameters" (presigned GET of test.txt),
      - "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)".
    Credentials AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, us-east-1.
    Plus the encoding rules and the input checks.                                           */

#include "common/sigv4.h"
#include "tests/testutil.h"

#include <openssl/evp.h>

static const sigv4_creds_t s_creds = {
    .access_key = "AKIAIOSFODNN7EXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "s3"
};

//  2013-05-24T00:00:00Z
#define T_20130524 1369353600LL
//  2015-12-29T00:00:00Z
#define T_20151229 1451347200LL

#define HOST "examplebucket.s3.amazonaws.com"
#define CRED "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"

static void
s_test_get_object (void)
{
    sigv4_kv_t headers [] = { { "Range", "bytes=0-9" } };
    sigv4_request_t req = {
        .method = "GET", .host = HOST, .path = "/test.txt",
        .headers = headers, .nheaders = 1, .payload_hash = SIGV4_EMPTY_SHA256
    };
    sigv4_signed_t s;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, T_20130524, &s), 0);
    CHECK_EQ_STR (s.amz_date, "20130524T000000Z");
    CHECK_EQ_STR (s.canonical_request,
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n\n"
        "host;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_EQ_STR (s.string_to_sign,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    CHECK_EQ_STR (s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CHECK_EQ_STR (s.authorization,
        "AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host;range;x-amz-content-sha256;"
        "x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CHECK_EQ_STR (s.query, "");
    sigv4_signed_clear (&s);
    sigv4_signed_clear (&s);    //  idempotent
}

static void
s_test_put_object (void)
{
    const char *body = "Welcome to Amazon S3.";
    char hash [65];
    sigv4_sha256_hex (body, strlen (body), hash);
    CHECK_EQ_STR (hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    //  Header order and case are the caller's; the signer sorts and lowercases.
    sigv4_kv_t headers [] = {
        { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
        { "Date", "Fri, 24 May 2013 00:00:00 GMT" }
    };
    sigv4_request_t req = {
        .method = "PUT", .host = HOST, .path = "/test$file.text",
        .headers = headers, .nheaders = 2, .payload_hash = hash
    };
    sigv4_signed_t s;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, T_20130524, &s), 0);
    CHECK_EQ_STR (s.canonical_request,
        "PUT\n/test%24file.text\n\n"
        "date:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"
        "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
        "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    CHECK_EQ_STR (s.string_to_sign,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    CHECK_EQ_STR (s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    CHECK_EQ_STR (s.signed_headers,
                  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
    sigv4_signed_clear (&s);
}

static void
s_test_lifecycle (void)
{
    sigv4_kv_t query [] = { { "lifecycle", NULL } };
    sigv4_request_t req = {
        .method = "GET", .host = HOST, .path = "/",
        .query = query, .nquery = 1, .payload_hash = SIGV4_EMPTY_SHA256
    };
    sigv4_signed_t s;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, T_20130524, &s), 0);
    CHECK_EQ_STR (s.query, "lifecycle=");
    CHECK_EQ_STR (s.string_to_sign,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
    CHECK_EQ_STR (s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    sigv4_signed_clear (&s);
}

static void
s_test_list_objects (void)
{
    //  Given unsorted: the canonical query is sorted.
    sigv4_kv_t query [] = { { "prefix", "J" }, { "max-keys", "2" } };
    sigv4_request_t req = {
        .method = "GET", .host = HOST, .path = "/",
        .query = query, .nquery = 2, .payload_hash = SIGV4_EMPTY_SHA256
    };
    sigv4_signed_t s;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, T_20130524, &s), 0);
    CHECK_EQ_STR (s.query, "max-keys=2&prefix=J");
    CHECK_EQ_STR (s.string_to_sign,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
    CHECK_EQ_STR (s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    sigv4_signed_clear (&s);
}

static void
s_test_presigned_url (void)
{
    sigv4_request_t req = { .method = "GET", .host = HOST, .path = "/test.txt" };
    char *url = sigv4_presign (&s_creds, &req, "https", T_20130524, 86400);
    CHECK (url);
    CHECK_EQ_STR (url,
        "https://examplebucket.s3.amazonaws.com/test.txt"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free (url);

    //  Bounds: expiry 0 and beyond 7 days refused; caller X-Amz-* parameters refused.
    CHECK (sigv4_presign (&s_creds, &req, "https", T_20130524, 0) == NULL);
    CHECK (sigv4_presign (&s_creds, &req, "https", T_20130524, SIGV4_MAX_EXPIRES + 1) == NULL);
    CHECK (sigv4_presign (&s_creds, &req, "ftp", T_20130524, 60) == NULL);
    sigv4_kv_t q [] = { { "x-amz-expires", "1" } };
    req.query = q;
    req.nquery = 1;
    CHECK (sigv4_presign (&s_creds, &req, "https", T_20130524, 60) == NULL);

    //  A session token is signed as X-Amz-Security-Token.
    sigv4_creds_t tc = s_creds;
    tc.session_token = "tok/en+=";
    req.query = NULL;
    req.nquery = 0;
    url = sigv4_presign (&tc, &req, "http", T_20130524, 60);
    CHECK (url);
    CHECK (strstr (url, "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host&"));
    free (url);
}

static void
s_test_post_example (void)
{
    //  The policy exactly as AWS prints it, with CRLF line ends (its base64 says so).
    const char *policy =
        "{ \"expiration\": \"2015-12-30T12:00:00.000Z\",\r\n"
        "  \"conditions\": [\r\n"
        "    {\"bucket\": \"sigv4examplebucket\"},\r\n"
        "    [\"starts-with\", \"$key\", \"user/user1/\"],\r\n"
        "    {\"acl\": \"public-read\"},\r\n"
        "    {\"success_action_redirect\": \"http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html\"},\r\n"
        "    [\"starts-with\", \"$Content-Type\", \"image/\"],\r\n"
        "    {\"x-amz-meta-uuid\": \"14365123651274\"},\r\n"
        "    {\"x-amz-server-side-encryption\": \"AES256\"},\r\n"
        "    [\"starts-with\", \"$x-amz-meta-tag\", \"\"],\r\n"
        "\r\n"
        "    {\"x-amz-credential\": \"AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request\"},\r\n"
        "    {\"x-amz-algorithm\": \"AWS4-HMAC-SHA256\"},\r\n"
        "    {\"x-amz-date\": \"20151229T000000Z\" }\r\n"
        "  ]\r\n"
        "}";
    const char *expected_b64 =
        "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    char b64 [2048];
    int n = EVP_EncodeBlock ((unsigned char *) b64, (const unsigned char *) policy,
                             (int) strlen (policy));
    CHECK (n > 0);
    CHECK_EQ_STR (b64, expected_b64);
    char sig [65];
    sigv4_sign_policy (&s_creds, "20151229", expected_b64, sig);
    CHECK_EQ_STR (sig, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
}

static void
s_test_post_policy (void)
{
    sigv4_post_params_t p = {
        .bucket = "zm-bucket", .key_prefix = "data/hotkey=5F\"x\\/", .min_size = 1,
        .max_size = 1048576, .expires_s = 3600
    };
    sigv4_post_t *post = sigv4_post_new (&s_creds, &p, T_20151229);
    CHECK (post);
    CHECK_EQ_STR (sigv4_post_policy (post),
        "{\"expiration\":\"2015-12-29T01:00:00.000Z\",\"conditions\":["
        "{\"bucket\":\"zm-bucket\"},[\"starts-with\",\"$key\",\"data/hotkey=5F\\\"x\\\\/\"],"
        "[\"content-length-range\",1,1048576],{\"x-amz-algorithm\":\"AWS4-HMAC-SHA256\"},"
        "{\"x-amz-credential\":\"AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request\"},"
        "{\"x-amz-date\":\"20151229T000000Z\"}]}");
    size_t count;
    const sigv4_kv_t *f = sigv4_post_fields (post, &count);
    CHECK_EQ_INT (count, 5);
    CHECK_EQ_STR (f [0].name, "policy");
    CHECK_EQ_STR (f [4].name, "x-amz-signature");
    CHECK_EQ_STR (sigv4_post_field (post, "x-amz-date"), "20151229T000000Z");
    CHECK_EQ_STR (sigv4_post_field (post, "x-amz-credential"),
                  "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request");
    CHECK (sigv4_post_field (post, "x-amz-security-token") == NULL);
    //  The policy field is the base64 of the JSON, and the signature signs that base64.
    char b64 [2048];
    const char *json = sigv4_post_policy (post);
    EVP_EncodeBlock ((unsigned char *) b64, (const unsigned char *) json, (int) strlen (json));
    CHECK_EQ_STR (sigv4_post_field (post, "policy"), b64);
    char sig [65];
    sigv4_sign_policy (&s_creds, "20151229", b64, sig);
    CHECK_EQ_STR (sigv4_post_field (post, "x-amz-signature"), sig);
    sigv4_post_destroy (&post);
    CHECK (post == NULL);
    sigv4_post_destroy (&post);

    sigv4_creds_t tc = s_creds;
    tc.session_token = "SESSION";
    post = sigv4_post_new (&tc, &p, T_20151229);
    CHECK (post);
    CHECK (strstr (sigv4_post_policy (post), ",{\"x-amz-security-token\":\"SESSION\"}]}"));
    CHECK_EQ_STR (sigv4_post_field (post, "x-amz-security-token"), "SESSION");
    f = sigv4_post_fields (post, &count);
    CHECK_EQ_INT (count, 6);
    sigv4_post_destroy (&post);

    p.min_size = 10;
    p.max_size = 9;
    CHECK (sigv4_post_new (&s_creds, &p, T_20151229) == NULL);
    p.max_size = 10;
    p.expires_s = 0;
    CHECK (sigv4_post_new (&s_creds, &p, T_20151229) == NULL);
}

static void
s_test_encoding (void)
{
    const char raw [] = "a b+c%d/e~f=g\xc3\xa9.-_*";
    char *e = sigv4_uri_encode (raw, strlen (raw), true);
    CHECK_EQ_STR (e, "a%20b%2Bc%25d/e~f%3Dg%C3%A9.-_%2A");
    free (e);
    e = sigv4_uri_encode (raw, strlen (raw), false);
    CHECK_EQ_STR (e, "a%20b%2Bc%25d%2Fe~f%3Dg%C3%A9.-_%2A");
    free (e);
    //  Embedded NUL is data, not a terminator.
    e = sigv4_uri_encode ("a\0b", 3, false);
    CHECK_EQ_STR (e, "a%00b");
    free (e);

    //  Query: sorted by encoded name then value; valueless is "name="; duplicates kept.
    sigv4_kv_t query [] = {
        { "b", "2" }, { "a b", NULL }, { "b", "10" }, { "A", "x/y" }, { "a+", "" }
    };
    sigv4_request_t req = {
        .method = "GET", .host = "h", .path = "/k ey//./../x",
        .query = query, .nquery = 5, .payload_hash = SIGV4_UNSIGNED_PAYLOAD
    };
    sigv4_signed_t s;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, T_20130524, &s), 0);
    CHECK_EQ_STR (s.query, "A=x%2Fy&a%20b=&a%2B=&b=10&b=2");
    //  S3 paths are not normalised.
    CHECK (strncmp (s.canonical_request, "GET\n/k%20ey//./../x\nA=", 22) == 0);
    sigv4_signed_clear (&s);

    //  Header values: trimmed, inner runs of blanks collapsed.
    sigv4_kv_t headers [] = { { "X-Meta", "  a \t  b   c " } };
    req.query = NULL;
    req.nquery = 0;
    req.headers = headers;
    req.nheaders = 1;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, T_20130524, &s), 0);
    CHECK (strstr (s.canonical_request, "\nx-meta:a b c\n"));
    sigv4_signed_clear (&s);
}

static void
s_test_rejects (void)
{
    sigv4_signed_t s;
    sigv4_kv_t bad_value [] = { { "x-a", "a\r\nInjected: 1" } };
    sigv4_kv_t bad_name [] = { { "x a", "v" } };
    sigv4_kv_t reserved [] = { { "Host", "other" } };
    sigv4_kv_t dup [] = { { "x-a", "1" }, { "X-A", "2" } };
    sigv4_request_t req = {
        .method = "GET", .host = "h", .path = "/", .payload_hash = SIGV4_EMPTY_SHA256
    };
    req.headers = bad_value, req.nheaders = 1;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 0, &s), -1);
    req.headers = bad_name;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 0, &s), -1);
    req.headers = reserved;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 0, &s), -1);
    req.headers = dup, req.nheaders = 2;
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 0, &s), -1);
    req.headers = NULL, req.nheaders = 0;
    req.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 0, &s), -1);
    req.payload_hash = SIGV4_EMPTY_SHA256;
    req.path = "noslash";
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 0, &s), -1);
    req.path = "/";
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, -1, &s), -1);
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 253402300800LL, &s), -1);
    CHECK_EQ_INT (sigv4_sign (&s_creds, &req, 253402300799LL, &s), 0);
    CHECK_EQ_STR (s.amz_date, "99991231T235959Z");
    sigv4_signed_clear (&s);
    sigv4_creds_t nokey = s_creds;
    nokey.access_key = "";
    CHECK_EQ_INT (sigv4_sign (&nokey, &req, 0, &s), -1);

    //  Signing key derivation: a different secret, date or region changes the key.
    uint8_t k1 [32], k2 [32];
    sigv4_signing_key (&s_creds, "20130524", k1);
    sigv4_signing_key (&s_creds, "20130525", k2);
    CHECK (memcmp (k1, k2, 32) != 0);
}

int
main (void)
{
    s_test_get_object ();
    s_test_put_object ();
    s_test_lifecycle ();
    s_test_list_objects ();
    s_test_presigned_url ();
    s_test_post_example ();
    s_test_post_policy ();
    s_test_encoding ();
    s_test_rejects ();
    TEST_DONE ();
}
