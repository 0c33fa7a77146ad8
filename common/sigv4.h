/*  AWS Signature Version 4 for S3: pure functions, no I/O.

    Everything here is computed from its arguments, including the signing time (unix seconds),
    so the published AWS examples and the @smithy/signature-v4 oracle can check it byte for
    byte. Three products:
      - an Authorization header for a request (sigv4_sign),
      - a presigned URL (sigv4_presign),
      - a presigned browser POST policy and its form fields (sigv4_post_new).

    S3 rules (which differ from other AWS services): the path is URI-encoded once (every byte
    but A-Za-z0-9-._~ and '/' becomes %XX, uppercase hex), never normalised and never
    double-encoded; query names and values are encoded the same way (including '/'), sorted by
    encoded name then encoded value, and a parameter without a value is written "name=".

    Paths, query names and values are passed RAW (unencoded); this module encodes them, and
    the caller must send exactly the encoded forms it returns (sigv4_encode_path and
    sigv4_signed_t.query), or the signature will not match.                                  */
#ifndef ZM_SIGV4_H
#define ZM_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_ALGORITHM        "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
//  Longest presigned URL / POST policy lifetime AWS accepts (7 days).
#define SIGV4_MAX_EXPIRES      604800

typedef struct {
    const char *access_key;
    const char *secret_key;
    const char *session_token;      //  NULL or "" when there is none
    const char *region;             //  "us-east-1"
    const char *service;            //  "s3"
} sigv4_creds_t;

//  A name/value pair: a query parameter (value NULL = valueless, signed as "name=") or a
//  header (value must not be NULL).
typedef struct {
    const char *name;
    const char *value;
} sigv4_kv_t;

typedef struct {
    const char *method;             //  "GET", "PUT"...
    const char *host;               //  the Host header exactly as sent ("127.0.0.1:9000")
    const char *path;               //  raw path starting with '/', e.g. "/bucket/a b+c"
    const sigv4_kv_t *query;        //  raw query parameters, any order
    size_t nquery;
    const sigv4_kv_t *headers;      //  extra headers to sign (content-md5, range...), any
    size_t nheaders;                //  case; never host/x-amz-date/x-amz-content-sha256
    const char *payload_hash;       //  lowercase hex SHA-256 of the body, or UNSIGNED-PAYLOAD
} sigv4_request_t;

//  Result of sigv4_sign. Strings are owned by the struct; free with sigv4_signed_clear.
typedef struct {
    char amz_date [17];             //  "20130524T000000Z": send as x-amz-date
    char signature [65];            //  lowercase hex
    char *authorization;            //  the Authorization header value
    char *signed_headers;           //  "host;range;x-amz-content-sha256;x-amz-date"
    char *canonical_request;        //  for tests and debugging; never log with secrets
    char *string_to_sign;
    char *query;                    //  canonical (sorted, encoded) query string, "" if none:
                                    //  send exactly this after '?'
} sigv4_signed_t;

//  Signs a request at unix time `now`. The signed headers are host, x-amz-content-sha256,
//  x-amz-date, x-amz-security-token (when creds has a session token) and req->headers; the
//  caller must send all of them with the same values (payload_hash as x-amz-content-sha256,
//  out->amz_date as x-amz-date). Returns 0, or -1 on invalid input (header value with CR/LF/
//  NUL, empty or duplicate header name, a reserved header in req->headers, bad payload hash,
//  time outside years 1970..9999). On -1, out holds nothing to free.
int sigv4_sign (const sigv4_creds_t *creds, const sigv4_request_t *req, int64_t now,
                sigv4_signed_t *out);

//  Frees the strings of a sigv4_signed_t and zeroes it. Safe on a zeroed struct.
void sigv4_signed_clear (sigv4_signed_t *signed_req);

//  Returns a presigned URL "scheme://host/encoded-path?query&X-Amz-Signature=..." valid for
//  expires_s seconds (1..SIGV4_MAX_EXPIRES) from `now`. Only host is signed; the payload is
//  UNSIGNED-PAYLOAD; req->headers and req->payload_hash must be unset. Returns NULL on
//  invalid input. Caller owns.
char *sigv4_presign (const sigv4_creds_t *creds, const sigv4_request_t *req,
                     const char *scheme, int64_t now, int64_t expires_s);

//  Percent-encodes src (len bytes) per the S3 rules into a new NUL-terminated string; '/'
//  is kept when keep_slash is true (paths) and encoded otherwise (query parts). Caller owns.
char *sigv4_uri_encode (const char *src, size_t len, bool keep_slash);

//  Formats unix seconds as "YYYYMMDDTHHMMSSZ" (17 bytes with NUL) into out. Returns 0, or -1
//  outside years 1970..9999.
int sigv4_amz_date (int64_t now, char out [17]);

//  Derives the signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service),
//  "aws4_request") into key (32 bytes). date8 is "YYYYMMDD".
void sigv4_signing_key (const sigv4_creds_t *creds, const char *date8, uint8_t key [32]);

//  Lowercase hex SHA-256 of data into hex (65 bytes with NUL).
void sigv4_sha256_hex (const void *data, size_t size, char hex [65]);

//  Signs a base64 POST policy: hex(HMAC(signing key for date8, policy_b64)) into hex.
void sigv4_sign_policy (const sigv4_creds_t *creds, const char *date8,
                        const char *policy_b64, char hex [65]);

//  A presigned browser POST: policy + the form fields the uploader must send.
typedef struct _sigv4_post_t sigv4_post_t;

typedef struct {
    const char *bucket;
    const char *key_prefix;         //  ["starts-with", "$key", key_prefix]; "" allows any key
    int64_t min_size;               //  ["content-length-range", min_size, max_size]
    int64_t max_size;
    int64_t expires_s;              //  lifetime from `now`, 1..SIGV4_MAX_EXPIRES
} sigv4_post_params_t;

//  Builds a POST policy at unix time `now`:
//    {"expiration":"...Z","conditions":[{"bucket":B},["starts-with","$key",P],
//     ["content-length-range",MIN,MAX],{"x-amz-algorithm":...},{"x-amz-credential":...},
//     {"x-amz-date":...}(,{"x-amz-security-token":...})]}
//  its base64 and signature. Returns NULL on invalid input (0 <= min <= max required).
sigv4_post_t *sigv4_post_new (const sigv4_creds_t *creds, const sigv4_post_params_t *params,
                              int64_t now);
void sigv4_post_destroy (sigv4_post_t **self_p);

//  The form fields to send before "key" and "file": policy, x-amz-algorithm,
//  x-amz-credential, x-amz-date, (x-amz-security-token,) x-amz-signature. The array and its
//  strings belong to self.
const sigv4_kv_t *sigv4_post_fields (sigv4_post_t *self, size_t *count);

//  The policy document as JSON (before base64), for tests and logs.
const char *sigv4_post_policy (sigv4_post_t *self);

//  The field value by name, or NULL.
const char *sigv4_post_field (sigv4_post_t *self, const char *name);

#endif
