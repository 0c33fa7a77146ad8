/*  S3 client on libcurl, signed with Signature V4 (common/sigv4).

    One s3_t holds a configuration and one curl handle (connections are reused between
    calls); it is not thread-safe: one per thread. Every call has a connect timeout and a
    total timeout, and returns:
      0             success
      RC_RETRY      transient and already retried up to max_attempts times with backoff:
                    network error, timeout, HTTP 5xx, 429, S3 SlowDown/RequestTimeout
      RC_MALFORMED  the response cannot be trusted: a body over the size cap, unparsable XML
      RC_ERR        anything else: the S3 error Code and Message, an invalid argument...
    After a failure s3_error () says why ("HTTP 403 SignatureDoesNotMatch: ..."), s3_status ()
    gives the HTTP status (0 if none arrived) and s3_code () the S3 error Code ("" if none).

    Objects are addressed path-style (http://host/bucket/key) or virtual-hosted
    (http://bucket.host/key). Keys are raw bytes (UTF-8 in practice), 1..1024 bytes.

    Downloads are capped: the cap is checked against Content-Length before any body byte is
    accepted, and again while reading (a server that lies or streams without a length is cut
    off as soon as it passes the cap). GETs are retried only while nothing has reached the
    caller's sink.

    curl_global_init is left to libcurl's lazy init; threaded programs must call it in main.  */
#ifndef ZM_S3_H
#define ZM_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sigv4.h"

#define S3_KEY_MAX          1024                //  bytes, as AWS
#define S3_LIST_MAX_BYTES   (16 * 1024 * 1024)  //  largest ListObjectsV2 response accepted
#define S3_LIST_MAX_OBJECTS 10000               //  per page (AWS sends at most 1000)

typedef struct _s3_t s3_t;

typedef struct {
    const char *endpoint;           //  "https://s3.us-east-1.amazonaws.com", "http://127.0.0.1:9000"
    const char *region;             //  "us-east-1"
    const char *access_key;         //  may be NULL/"" for a client that only uses presigned
    const char *secret_key;         //  URLs and POST grants
    const char *session_token;      //  NULL/"" when none
    bool path_style;                //  true: http://host/bucket/key; false: http://bucket.host/key
    int64_t connect_timeout_ms;     //  0 = 5000
    int64_t timeout_ms;             //  whole request, 0 = 60000
    int max_attempts;               //  per call, for transient failures; 0 = 3, 1 = no retry
    int64_t retry_base_ms;          //  backoff base, 0 = 200
    int64_t retry_cap_ms;           //  backoff cap, 0 = 5000
} s3_config_t;

//  Copies the configuration. Returns NULL (and logs s3_config_invalid with the reason) if the
//  endpoint is not http(s)://host[:port][/] or a field is out of bounds.
s3_t *s3_new (const s3_config_t *config);
void s3_destroy (s3_t **self_p);

//  Why the last call failed ("" after a success). Valid until the next call.
const char *s3_error (s3_t *self);
//  HTTP status of the last response, 0 if none arrived.
long s3_status (s3_t *self);
//  S3 error Code of the last response ("NoSuchKey"...), "" if none.
const char *s3_code (s3_t *self);

//  Creates a bucket (with a LocationConstraint outside us-east-1). A bucket we already own
//  counts as success.
int s3_create_bucket (s3_t *self, const char *bucket);

//  Uploads size bytes. Sends Content-MD5 and x-amz-checksum-sha256 (integrity checked by S3)
//  and signs the real payload SHA-256. content_type may be NULL.
int s3_put (s3_t *self, const char *bucket, const char *key, const void *data, size_t size,
            const char *content_type);

//  Receives body bytes as they arrive. Return 0 to go on, -1 to abort the transfer (the
//  call then fails with RC_ERR "aborted by the consumer").
typedef int (s3_sink_fn) (void *arg, const void *data, size_t size);

//  Streams an object into sink; at most max_bytes (else RC_MALFORMED "exceeds size cap").
//  On any failure the sink may already hold a prefix of the object: discard it.
int s3_get (s3_t *self, const char *bucket, const char *key, int64_t max_bytes,
            s3_sink_fn *sink, void *arg);

//  Reads an object into a new buffer (NUL-terminated for convenience; *size_p excludes the
//  NUL). On failure *data_p is NULL. Caller owns *data_p.
int s3_get_buffer (s3_t *self, const char *bucket, const char *key, size_t max_bytes,
                   char **data_p, size_t *size_p);

//  GETs any URL (a presigned GET or list URL) with the same cap, timeouts and error rules.
int s3_get_url (s3_t *self, const char *url, int64_t max_bytes, s3_sink_fn *sink, void *arg);

typedef struct {
    int64_t size;
    char etag [130];                //  as sent, with its quotes
    char last_modified [64];        //  as sent ("Wed, 25 Nov 2026 14:00:00 GMT")
} s3_head_t;

//  Object metadata. A missing object is RC_ERR with s3_status () == 404.
int s3_head (s3_t *self, const char *bucket, const char *key, s3_head_t *out);

//  Deletes an object (S3 answers success for a key that does not exist).
int s3_delete (s3_t *self, const char *bucket, const char *key);

typedef struct {
    char *key;
    int64_t size;
    char *last_modified;            //  exactly as listed ("2026-11-25T14:00:00.000Z")
    char *etag;                     //  entity-decoded, with its quotes
} s3_object_t;

typedef struct {
    s3_object_t *objects;
    size_t nobjects;
    char **prefixes;                //  CommonPrefixes/Prefix
    size_t nprefixes;
    bool is_truncated;
    char *next_token;               //  NextContinuationToken, NULL if absent
} s3_list_page_t;

typedef struct {
    const char *prefix;             //  NULL = none
    const char *delimiter;          //  NULL = none
    const char *continuation_token; //  NULL on the first page
    const char *start_after;        //  NULL = none
    int max_keys;                   //  0 = server default (1000); 1..1000
} s3_list_query_t;

//  Lists one page (ListObjectsV2). page is overwritten; clear it with s3_list_page_clear.
int s3_list (s3_t *self, const char *bucket, const s3_list_query_t *query,
             s3_list_page_t *page);

//  Called for each listed object; return 0 to go on, -1 to stop (s3_list_all returns RC_ERR).
typedef int (s3_object_fn) (void *arg, const s3_object_t *object);

//  Lists every object under prefix, following continuation tokens. Stops with RC_MALFORMED
//  if more than max_objects arrive, or the server repeats a token or says "truncated"
//  without one (a listing that would never end).
int s3_list_all (s3_t *self, const char *bucket, const char *prefix, size_t max_objects,
                 s3_object_fn *fn, void *arg);

void s3_list_page_clear (s3_list_page_t *page);

//  Parses a ListBucketResult document. Returns 0, or RC_MALFORMED with *reason (static).
int s3_list_page_parse (const char *xml, size_t len, s3_list_page_t *page,
                        const char **reason);

//  Parses an S3 <Error> document into code and message (truncated to fit, NUL-terminated).
//  Returns 0 if a Code was found, -1 otherwise (both left "").
int s3_error_parse (const char *xml, size_t len, char *code, size_t code_size,
                    char *message, size_t message_size);

//  A presigned GET URL for an object, valid expires_s seconds from unix time now_s.
//  Caller owns. NULL on invalid input or missing credentials.
char *s3_presign_get (s3_t *self, const char *bucket, const char *key, int64_t expires_s,
                      int64_t now_s);

//  A presigned ListObjectsV2 URL for prefix (may be NULL). Caller owns.
char *s3_presign_list (s3_t *self, const char *bucket, const char *prefix,
                       int64_t expires_s, int64_t now_s);

//  A presigned POST grant: keys starting with prefix, body size in [min_size, max_size].
//  Caller owns (sigv4_post_destroy).
sigv4_post_t *s3_presign_post (s3_t *self, const char *bucket, const char *prefix,
                               int64_t min_size, int64_t max_size, int64_t expires_s,
                               int64_t now_s);

//  The URL a POST form goes to for bucket. Caller owns.
char *s3_post_url (s3_t *self, const char *bucket);

//  Uploads data as key through a POST grant: multipart/form-data with "key", the granted
//  fields in order, then "file". Needs no credentials. Not retried on 4xx.
int s3_post_upload (s3_t *self, const char *url, const sigv4_kv_t *fields, size_t nfields,
                    const char *key, const void *data, size_t size);

#endif
