/*  S3 client: SigV4-signed requests over libcurl. See s3.h for the contract.

    Every request goes through s_perform: build the URL and the signed headers, run curl with
    the configured timeouts, classify the outcome (0 / RC_RETRY / RC_MALFORMED / RC_ERR), and
    retry transient failures with exponential backoff up to max_attempts. Response bodies
    never grow without bound: a GET body goes to the caller's sink under a byte cap, a list
    body into a buffer capped at S3_LIST_MAX_BYTES, an error body into a small buffer whose
    excess is dropped.

    Ownership: s3_t owns copies of the configuration strings and one curl easy handle;
    the secret key is wiped on destroy.                                                      */

#include "common/s3.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/xml.h"

#define S_ERROR_BODY_MAX  (64 * 1024)
#define S_FIELD_MAX       4096

struct _s3_t {
    char *scheme;                   //  "http" / "https"
    char *host;                     //  "127.0.0.1:9000" as it goes into Host
    char *region;
    char *access_key;
    char *secret_key;
    char *session_token;
    bool path_style;
    long connect_timeout_ms;
    long timeout_ms;
    int max_attempts;
    backoff_t backoff;
    CURL *curl;
    //  Outcome of the last call
    long status;
    char code [128];
    char error [512];
};

//  --------------------------------------------------------------------------
//  Small helpers

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max;                     //  bytes beyond max are dropped, and `over` is set
    bool over;
} s_buf_t;

static void
s_buf_add (s_buf_t *b, const void *data, size_t n)
{
    if (b->len + n > b->max) {
        b->over = true;
        n = b->max > b->len ? b->max - b->len : 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc (b->data, cap);
        if (!p)
            abort ();
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy (b->data + b->len, data, n);
    b->len += n;
    b->data [b->len] = 0;
}

static char *
s_strdup (const char *s)
{
    char *p = strdup (s ? s : "");
    if (!p)
        abort ();
    return p;
}

static void
s_set_error (s3_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_set_error (s3_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, ap);
    va_end (ap);
}

static void
s_reset_outcome (s3_t *self)
{
    self->status = 0;
    self->code [0] = 0;
    self->error [0] = 0;
}

static bool
s_has_creds (const s3_t *self)
{
    return *self->access_key && *self->secret_key;
}

static sigv4_creds_t
s_creds (const s3_t *self)
{
    sigv4_creds_t c = {
        .access_key = self->access_key, .secret_key = self->secret_key,
        .session_token = self->session_token, .region = self->region, .service = "s3"
    };
    return c;
}

static bool
s_valid_bucket (const char *b)
{
    size_t n = b ? strlen (b) : 0;
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) b [i]) && b [i] != '.' && b [i] != '-' && b [i] != '_')
            return false;
    return true;
}

static bool
s_valid_key (const char *k)
{
    size_t n = k ? strlen (k) : 0;
    return n >= 1 && n <= S3_KEY_MAX;
}

static void
s_base64 (const uint8_t *bin, size_t n, char *out)
{
    EVP_EncodeBlock ((unsigned char *) out, bin, (int) n);
}

static void
s_sleep_ms (int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

//  --------------------------------------------------------------------------
//  Construction

s3_t *
s3_new (const s3_config_t *config)
{
    assert (config);
    const char *reason = NULL;
    const char *ep = config->endpoint;
    const char *rest = NULL;
    if (!ep)
        reason = "endpoint missing";
    else if (strncmp (ep, "http://", 7) == 0)
        rest = ep + 7;
    else if (strncmp (ep, "https://", 8) == 0)
        rest = ep + 8;
    else
        reason = "endpoint must start with http:// or https://";
    size_t hostlen = 0;
    if (rest) {
        hostlen = strcspn (rest, "/?#");
        const char *tail = rest + hostlen;
        if (hostlen == 0 || hostlen > 255)
            reason = "endpoint host missing or too long";
        else if (!(*tail == 0 || strcmp (tail, "/") == 0))
            reason = "endpoint must not have a path or query";
        for (size_t i = 0; i < hostlen && !reason; i++) {
            unsigned char c = (unsigned char) rest [i];
            if (!(isalnum (c) || strchr (".-:[]_", c)))
                reason = "endpoint host has an invalid character";
        }
    }
    if (!reason && (!config->region || !*config->region || strlen (config->region) > 64))
        reason = "region missing";
    if (!reason && (config->connect_timeout_ms < 0 || config->timeout_ms < 0
                    || config->max_attempts < 0 || config->max_attempts > 20
                    || config->retry_base_ms < 0 || config->retry_cap_ms < 0))
        reason = "timeout or retry setting out of bounds";
    if (reason) {
        log_error ("s3_config_invalid", LS ("reason", reason));
        return NULL;
    }

    s3_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->scheme = s_strdup (strncmp (ep, "https", 5) == 0 ? "https" : "http");
    self->host = strndup (rest, hostlen);
    if (!self->host)
        abort ();
    self->region = s_strdup (config->region);
    self->access_key = s_strdup (config->access_key);
    self->secret_key = s_strdup (config->secret_key);
    self->session_token = s_strdup (config->session_token);
    self->path_style = config->path_style;
    self->connect_timeout_ms = (long) (config->connect_timeout_ms ? config->connect_timeout_ms : 5000);
    self->timeout_ms = (long) (config->timeout_ms ? config->timeout_ms : 60000);
    self->max_attempts = config->max_attempts ? config->max_attempts : 3;
    int64_t base = config->retry_base_ms ? config->retry_base_ms : 200;
    int64_t cap = config->retry_cap_ms ? config->retry_cap_ms : 5000;
    if (cap < base)
        cap = base;
    backoff_init (&self->backoff, base, cap, 0);
    self->curl = curl_easy_init ();
    if (!self->curl)
        abort ();
    return self;
}

void
s3_destroy (s3_t **self_p)
{
    assert (self_p);
    s3_t *self = *self_p;
    if (!self)
        return;
    curl_easy_cleanup (self->curl);
    OPENSSL_cleanse (self->secret_key, strlen (self->secret_key));
    free (self->scheme);
    free (self->host);
    free (self->region);
    free (self->access_key);
    free (self->secret_key);
    free (self->session_token);
    free (self);
    *self_p = NULL;
}

const char *
s3_error (s3_t *self)
{
    assert (self);
    return self->error;
}

long
s3_status (s3_t *self)
{
    assert (self);
    return self->status;
}

const char *
s3_code (s3_t *self)
{
    assert (self);
    return self->code;
}

//  --------------------------------------------------------------------------
//  Addressing

//  Fills host (caller frees) and raw path for bucket/key (key may be NULL).
static void
s_address (s3_t *self, const char *bucket, const char *key, char **host_p, char **path_p)
{
    size_t blen = strlen (bucket), klen = key ? strlen (key) : 0;
    char *path = malloc (blen + klen + 3);
    char *host = malloc (blen + strlen (self->host) + 2);
    if (!path || !host)
        abort ();
    if (self->path_style) {
        strcpy (host, self->host);
        if (key)
            sprintf (path, "/%s/%s", bucket, key);
        else
            sprintf (path, "/%s", bucket);
    }
    else {
        sprintf (host, "%s.%s", bucket, self->host);
        sprintf (path, "/%s", key ? key : "");
    }
    *host_p = host;
    *path_p = path;
}

//  --------------------------------------------------------------------------
//  The request engine

typedef struct {
    const char *method;
    const char *bucket;
    const char *key;                //  NULL for bucket-level requests
    const sigv4_kv_t *query;
    size_t nquery;
    const sigv4_kv_t *headers;      //  signed and sent
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *payload_hash;       //  NULL = hash of the empty body
    const char *url;                //  presigned/POST: sent as is, unsigned
    curl_mime *mime;                //  POST form
    bool head;
    //  Where a 2xx body goes
    s3_sink_fn *sink;
    void *sink_arg;
    int64_t max_bytes;              //  cap for the sink; ignored without one
    s_buf_t *collect;               //  else collected here (has its own max)
} s_req_t;

typedef struct {
    s3_t *self;
    const s_req_t *req;
    //  Current response (reset on every status line: 100 Continue, redirects)
    long status;
    int64_t content_length;         //  -1 if none
    char etag [130];
    char last_modified [64];
    int64_t received;               //  2xx body bytes accepted
    bool delivered;                 //  bytes reached the sink: no retry from here
    bool cap_exceeded;
    bool sink_aborted;
    bool collect_over;
    s_buf_t error_body;
    //  Upload cursor
    size_t upload_pos;
} s_xfer_t;

static bool
s_status_ok (long status)
{
    return status >= 200 && status < 300;
}

static size_t
s_on_header (char *buf, size_t size, size_t nitems, void *arg)
{
    s_xfer_t *x = arg;
    size_t n = size * nitems;
    if (n >= 5 && memcmp (buf, "HTTP/", 5) == 0) {
        const char *sp = memchr (buf, ' ', n);
        x->status = sp ? strtol (sp + 1, NULL, 10) : 0;
        x->content_length = -1;
        x->etag [0] = 0;
        x->last_modified [0] = 0;
        return n;
    }
    if (n <= 2) {
        //  End of headers: the size cap is checked before any body byte is accepted.
        if (s_status_ok (x->status) && x->req->sink && x->content_length >= 0
            && x->content_length > x->req->max_bytes) {
            x->cap_exceeded = true;
            return 0;
        }
        return n;
    }
    const char *colon = memchr (buf, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t) (colon - buf);
    const char *v = colon + 1;
    const char *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end [-1] == '\r' || end [-1] == '\n' || end [-1] == ' '))
        end--;
    size_t vlen = (size_t) (end - v);
    if (nlen == 14 && strncasecmp (buf, "content-length", 14) == 0) {
        int64_t cl = 0;
        bool ok = vlen > 0 && vlen <= 18;
        for (size_t i = 0; ok && i < vlen; i++) {
            if (!isdigit ((unsigned char) v [i]))
                ok = false;
            else
                cl = cl * 10 + (v [i] - '0');
        }
        x->content_length = ok ? cl : -1;
    }
    else if (nlen == 4 && strncasecmp (buf, "etag", 4) == 0 && vlen < sizeof x->etag) {
        memcpy (x->etag, v, vlen);
        x->etag [vlen] = 0;
    }
    else if (nlen == 13 && strncasecmp (buf, "last-modified", 13) == 0
             && vlen < sizeof x->last_modified) {
        memcpy (x->last_modified, v, vlen);
        x->last_modified [vlen] = 0;
    }
    return n;
}

static size_t
s_on_body (char *buf, size_t size, size_t nitems, void *arg)
{
    s_xfer_t *x = arg;
    size_t n = size * nitems;
    if (!s_status_ok (x->status)) {
        s_buf_add (&x->error_body, buf, n);
        return n;
    }
    const s_req_t *req = x->req;
    if (req->sink) {
        if (x->received + (int64_t) n > req->max_bytes) {
            x->cap_exceeded = true;
            return 0;
        }
        x->received += (int64_t) n;
        x->delivered = true;
        if (req->sink (req->sink_arg, buf, n) != 0) {
            x->sink_aborted = true;
            return 0;
        }
        return n;
    }
    if (req->collect) {
        s_buf_add (req->collect, buf, n);
        if (req->collect->over) {
            x->collect_over = true;
            return 0;
        }
    }
    return n;
}

static size_t
s_on_read (char *buf, size_t size, size_t nitems, void *arg)
{
    s_xfer_t *x = arg;
    size_t room = size * nitems;
    size_t left = x->req->body_len - x->upload_pos;
    size_t n = left < room ? left : room;
    if (n)
        memcpy (buf, (const char *) x->req->body + x->upload_pos, n);
    x->upload_pos += n;
    return n;
}

//  S3 error codes that mean "try again" even though the status is 4xx.
static bool
s_transient_code (const char *code)
{
    return strcmp (code, "SlowDown") == 0 || strcmp (code, "RequestTimeout") == 0
        || strcmp (code, "InternalError") == 0 || strcmp (code, "ServiceUnavailable") == 0;
}

static bool
s_transient_curl (CURLcode rc)
{
    switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
            return true;
        default:
            return false;
    }
}

//  Appends "name: value" to a curl header list.
static struct curl_slist *
s_header_line (struct curl_slist *list, const char *name, const char *value)
{
    size_t n = strlen (name) + strlen (value) + 3;
    char *line = malloc (n);
    if (!line)
        abort ();
    snprintf (line, n, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append (list, line);
    free (line);
    if (!l)
        abort ();
    return l;
}

//  One attempt. Returns 0 / RC_RETRY / RC_MALFORMED / RC_ERR with the outcome in self.
static int
s_attempt (s3_t *self, const s_req_t *req, s_xfer_t *x)
{
    CURL *c = self->curl;
    curl_easy_reset (c);
    s_reset_outcome (self);

    char *url = NULL;
    struct curl_slist *hl = NULL;
    sigv4_signed_t sig = { 0 };
    int rc = RC_ERR;

    if (req->url)
        url = s_strdup (req->url);
    else {
        if (!s_has_creds (self)) {
            s_set_error (self, "no credentials configured");
            return RC_ERR;
        }
        char *host, *path;
        s_address (self, req->bucket, req->key, &host, &path);
        sigv4_creds_t creds = s_creds (self);
        sigv4_request_t sreq = {
            .method = req->method, .host = host, .path = path,
            .query = req->query, .nquery = req->nquery,
            .headers = req->headers, .nheaders = req->nheaders,
            .payload_hash = req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256
        };
        if (sigv4_sign (&creds, &sreq, clock_wall_ms () / 1000, &sig) != 0) {
            s_set_error (self, "request cannot be signed (invalid header or argument)");
            free (host);
            free (path);
            return RC_ERR;
        }
        char *epath = sigv4_uri_encode (path, strlen (path), true);
        size_t ulen = strlen (self->scheme) + strlen (host) + strlen (epath)
                    + strlen (sig.query) + 8;
        url = malloc (ulen);
        if (!url)
            abort ();
        snprintf (url, ulen, "%s://%s%s%s%s", self->scheme, host, epath,
                  *sig.query ? "?" : "", sig.query);
        free (epath);

        hl = s_header_line (hl, "Host", host);
        hl = s_header_line (hl, "x-amz-date", sig.amz_date);
        hl = s_header_line (hl, "x-amz-content-sha256", sreq.payload_hash);
        if (*self->session_token)
            hl = s_header_line (hl, "x-amz-security-token", self->session_token);
        for (size_t i = 0; i < req->nheaders; i++)
            hl = s_header_line (hl, req->headers [i].name, req->headers [i].value);
        hl = s_header_line (hl, "Authorization", sig.authorization);
        free (host);
        free (path);
    }
    //  No 100-continue round trip: the whole request is signed up front anyway.
    hl = curl_slist_append (hl, "Expect:");
    if (!hl)
        abort ();

    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, self->connect_timeout_ms);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, x);
    if (req->mime)
        curl_easy_setopt (c, CURLOPT_MIMEPOST, req->mime);
    else if (strcmp (req->method, "PUT") == 0) {
        curl_easy_setopt (c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt (c, CURLOPT_READFUNCTION, s_on_read);
        curl_easy_setopt (c, CURLOPT_READDATA, x);
        curl_easy_setopt (c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
    }
    else if (req->head)
        curl_easy_setopt (c, CURLOPT_NOBODY, 1L);
    else if (strcmp (req->method, "GET") != 0)
        curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, req->method);

    CURLcode cc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    self->status = status;

    if (x->cap_exceeded) {
        if (x->content_length >= 0 && x->received == 0)
            s_set_error (self, "object exceeds size cap (Content-Length %lld > %lld bytes)",
                         (long long) x->content_length, (long long) req->max_bytes);
        else
            s_set_error (self, "object exceeds size cap (more than %lld bytes received)",
                         (long long) req->max_bytes);
        rc = RC_MALFORMED;
    }
    else if (x->sink_aborted) {
        s_set_error (self, "aborted by the consumer");
        rc = RC_ERR;
    }
    else if (x->collect_over) {
        s_set_error (self, "response larger than %zu bytes", req->collect->max);
        rc = RC_MALFORMED;
    }
    else if (cc != CURLE_OK) {
        s_set_error (self, "%s", curl_easy_strerror (cc));
        rc = s_transient_curl (cc) ? RC_RETRY : RC_ERR;
    }
    else if (s_status_ok (status))
        rc = 0;
    else {
        char message [256] = "";
        if (x->error_body.len)
            s3_error_parse (x->error_body.data, x->error_body.len, self->code,
                            sizeof self->code, message, sizeof message);
        s_set_error (self, "HTTP %ld%s%s%s%s", status, *self->code ? " " : "", self->code,
                     *message ? ": " : "", message);
        rc = (status >= 500 || status == 429 || s_transient_code (self->code))
           ? RC_RETRY : RC_ERR;
    }
    curl_slist_free_all (hl);
    sigv4_signed_clear (&sig);
    free (url);
    return rc;
}

//  Runs req with retries. head_out, when given, receives the response metadata.
static int
s_perform (s3_t *self, const s_req_t *req, s3_head_t *head_out)
{
    backoff_reset (&self->backoff);
    int rc = RC_ERR;
    for (int attempt = 1; attempt <= self->max_attempts; attempt++) {
        s_xfer_t x = { .self = self, .req = req, .content_length = -1 };
        x.error_body.max = S_ERROR_BODY_MAX;
        if (req->collect) {
            req->collect->len = 0;
            req->collect->over = false;
        }
        rc = s_attempt (self, req, &x);
        free (x.error_body.data);
        if (rc == 0 && head_out) {
            head_out->size = x.content_length;
            snprintf (head_out->etag, sizeof head_out->etag, "%s", x.etag);
            snprintf (head_out->last_modified, sizeof head_out->last_modified, "%s",
                      x.last_modified);
        }
        //  Bytes already handed to the caller cannot be taken back: no retry then.
        if (rc != RC_RETRY || x.delivered || attempt == self->max_attempts)
            break;
        int64_t delay = backoff_next (&self->backoff);
        log_warn ("s3_retry", LS ("method", req->method), LI ("attempt", attempt),
                  LI ("status", self->status), LS ("error", self->error),
                  LI ("delay_ms", delay));
        s_sleep_ms (delay);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Operations

static int
s_check_object_args (s3_t *self, const char *bucket, const char *key)
{
    s_reset_outcome (self);
    if (!s_valid_bucket (bucket)) {
        s_set_error (self, "invalid bucket name");
        return RC_ERR;
    }
    if (key && !s_valid_key (key)) {
        s_set_error (self, "invalid object key (1..%d bytes)", S3_KEY_MAX);
        return RC_ERR;
    }
    return 0;
}

int
s3_create_bucket (s3_t *self, const char *bucket)
{
    assert (self);
    if (s_check_object_args (self, bucket, NULL) != 0)
        return RC_ERR;
    char body [512] = "";
    if (strcmp (self->region, "us-east-1") != 0)
        snprintf (body, sizeof body,
                  "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                  "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                  self->region);
    char hash [65];
    sigv4_sha256_hex (body, strlen (body), hash);
    s_req_t req = {
        .method = "PUT", .bucket = bucket, .body = body, .body_len = strlen (body),
        .payload_hash = hash
    };
    int rc = s_perform (self, &req, NULL);
    if (rc == RC_ERR && strcmp (self->code, "BucketAlreadyOwnedByYou") == 0) {
        s_reset_outcome (self);
        rc = 0;
    }
    return rc;
}

int
s3_put (s3_t *self, const char *bucket, const char *key, const void *data, size_t size,
        const char *content_type)
{
    assert (self);
    assert (data || size == 0);
    if (s_check_object_args (self, bucket, key) != 0)
        return RC_ERR;
    if (!data)
        data = "";
    uint8_t md5 [16], sha [32];
    unsigned int mdlen;
    if (!EVP_Digest (data, size, md5, &mdlen, EVP_md5 (), NULL)
        || !EVP_Digest (data, size, sha, &mdlen, EVP_sha256 (), NULL))
        abort ();
    char md5_b64 [32], sha_b64 [48], sha_hex [65];
    s_base64 (md5, 16, md5_b64);
    s_base64 (sha, 32, sha_b64);
    for (size_t i = 0; i < 32; i++)
        snprintf (sha_hex + 2 * i, 3, "%02x", sha [i]);
    sigv4_kv_t headers [3] = {
        { "Content-MD5", md5_b64 },
        { "x-amz-checksum-sha256", sha_b64 },
        { "Content-Type", content_type }
    };
    s_req_t req = {
        .method = "PUT", .bucket = bucket, .key = key, .headers = headers,
        .nheaders = content_type ? 3 : 2, .body = data, .body_len = size,
        .payload_hash = sha_hex
    };
    return s_perform (self, &req, NULL);
}

int
s3_get (s3_t *self, const char *bucket, const char *key, int64_t max_bytes,
        s3_sink_fn *sink, void *arg)
{
    assert (self && sink && max_bytes >= 0);
    if (s_check_object_args (self, bucket, key) != 0)
        return RC_ERR;
    s_req_t req = {
        .method = "GET", .bucket = bucket, .key = key, .sink = sink, .sink_arg = arg,
        .max_bytes = max_bytes
    };
    return s_perform (self, &req, NULL);
}

int
s3_get_url (s3_t *self, const char *url, int64_t max_bytes, s3_sink_fn *sink, void *arg)
{
    assert (self && url && sink && max_bytes >= 0);
    s_reset_outcome (self);
    if (strncmp (url, "http://", 7) != 0 && strncmp (url, "https://", 8) != 0) {
        s_set_error (self, "URL must be http(s)");
        return RC_ERR;
    }
    s_req_t req = {
        .method = "GET", .url = url, .sink = sink, .sink_arg = arg, .max_bytes = max_bytes
    };
    return s_perform (self, &req, NULL);
}

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} s_membuf_t;

static int
s_membuf_sink (void *arg, const void *data, size_t size)
{
    s_membuf_t *m = arg;
    if (m->len + size + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + size + 1)
            cap *= 2;
        char *p = realloc (m->data, cap);
        if (!p)
            abort ();
        m->data = p;
        m->cap = cap;
    }
    memcpy (m->data + m->len, data, size);
    m->len += size;
    m->data [m->len] = 0;
    return 0;
}

int
s3_get_buffer (s3_t *self, const char *bucket, const char *key, size_t max_bytes,
               char **data_p, size_t *size_p)
{
    assert (data_p && size_p);
    *data_p = NULL;
    *size_p = 0;
    s_membuf_t m = { 0 };
    int rc = s3_get (self, bucket, key, (int64_t) max_bytes, s_membuf_sink, &m);
    if (rc != 0) {
        free (m.data);
        return rc;
    }
    if (!m.data)
        s_membuf_sink (&m, "", 0);
    *data_p = m.data;
    *size_p = m.len;
    return 0;
}

int
s3_head (s3_t *self, const char *bucket, const char *key, s3_head_t *out)
{
    assert (self && out);
    memset (out, 0, sizeof *out);
    if (s_check_object_args (self, bucket, key) != 0)
        return RC_ERR;
    s_req_t req = { .method = "HEAD", .bucket = bucket, .key = key, .head = true };
    int rc = s_perform (self, &req, out);
    if (rc == 0 && out->size < 0) {
        s_set_error (self, "HEAD response without Content-Length");
        return RC_MALFORMED;
    }
    return rc;
}

int
s3_delete (s3_t *self, const char *bucket, const char *key)
{
    assert (self);
    if (s_check_object_args (self, bucket, key) != 0)
        return RC_ERR;
    s_req_t req = { .method = "DELETE", .bucket = bucket, .key = key };
    return s_perform (self, &req, NULL);
}

//  --------------------------------------------------------------------------
//  Listing

static int
s_build_list_query (const s3_list_query_t *q, sigv4_kv_t *kv, char *maxkeys, size_t mksize)
{
    size_t n = 0;
    kv [n++] = (sigv4_kv_t) { "list-type", "2" };
    if (q && q->prefix)
        kv [n++] = (sigv4_kv_t) { "prefix", q->prefix };
    if (q && q->delimiter)
        kv [n++] = (sigv4_kv_t) { "delimiter", q->delimiter };
    if (q && q->continuation_token)
        kv [n++] = (sigv4_kv_t) { "continuation-token", q->continuation_token };
    if (q && q->start_after)
        kv [n++] = (sigv4_kv_t) { "start-after", q->start_after };
    if (q && q->max_keys > 0) {
        snprintf (maxkeys, mksize, "%d", q->max_keys);
        kv [n++] = (sigv4_kv_t) { "max-keys", maxkeys };
    }
    return (int) n;
}

int
s3_list (s3_t *self, const char *bucket, const s3_list_query_t *query, s3_list_page_t *page)
{
    assert (self && page);
    memset (page, 0, sizeof *page);
    if (s_check_object_args (self, bucket, NULL) != 0)
        return RC_ERR;
    if (query && (query->max_keys < 0 || query->max_keys > 1000)) {
        s_set_error (self, "max_keys out of 0..1000");
        return RC_ERR;
    }
    sigv4_kv_t kv [6];
    char maxkeys [16];
    int n = s_build_list_query (query, kv, maxkeys, sizeof maxkeys);
    s_buf_t body = { .max = S3_LIST_MAX_BYTES };
    s_req_t req = {
        .method = "GET", .bucket = bucket, .query = kv, .nquery = (size_t) n,
        .collect = &body
    };
    int rc = s_perform (self, &req, NULL);
    if (rc == 0) {
        const char *reason = NULL;
        if (s3_list_page_parse (body.data, body.len, page, &reason) != 0) {
            s_set_error (self, "malformed ListObjectsV2 response: %s", reason);
            rc = RC_MALFORMED;
        }
    }
    free (body.data);
    return rc;
}

int
s3_list_all (s3_t *self, const char *bucket, const char *prefix, size_t max_objects,
             s3_object_fn *fn, void *arg)
{
    assert (self && fn);
    char *token = NULL;
    size_t seen = 0;
    int rc = 0;
    while (true) {
        s3_list_query_t q = { .prefix = prefix, .continuation_token = token };
        s3_list_page_t page;
        rc = s3_list (self, bucket, &q, &page);
        if (rc != 0)
            break;
        seen += page.nobjects;
        if (seen > max_objects) {
            s_set_error (self, "listing exceeds %zu objects", max_objects);
            s3_list_page_clear (&page);
            rc = RC_MALFORMED;
            break;
        }
        for (size_t i = 0; i < page.nobjects && rc == 0; i++)
            if (fn (arg, &page.objects [i]) != 0) {
                s_set_error (self, "aborted by the consumer");
                rc = RC_ERR;
            }
        bool more = page.is_truncated;
        if (rc == 0 && more) {
            if (!page.next_token || !*page.next_token
                || (token && strcmp (token, page.next_token) == 0)) {
                s_set_error (self, "truncated listing without a new continuation token");
                rc = RC_MALFORMED;
            }
            else {
                free (token);
                token = s_strdup (page.next_token);
            }
        }
        s3_list_page_clear (&page);
        if (rc != 0 || !more)
            break;
    }
    free (token);
    return rc;
}

void
s3_list_page_clear (s3_list_page_t *page)
{
    if (!page)
        return;
    for (size_t i = 0; i < page->nobjects; i++) {
        free (page->objects [i].key);
        free (page->objects [i].last_modified);
        free (page->objects [i].etag);
    }
    free (page->objects);
    for (size_t i = 0; i < page->nprefixes; i++)
        free (page->prefixes [i]);
    free (page->prefixes);
    free (page->next_token);
    memset (page, 0, sizeof *page);
}

//  Collects an element's decoded text (possibly split by comments) into out, up to max
//  bytes. Returns 0 at the element's end tag, or -1 with *reason.
static int
s_read_text (xml_reader_t *r, char *out, size_t max, const char **reason)
{
    size_t len = 0;
    out [0] = 0;
    int depth = r->depth;
    while (true) {
        xml_tok_t t = xml_reader_next (r);
        if (t == XML_TEXT) {
            if (xml_decode (r->text, r->text_len, out, max + 1, &len) != 0) {
                *reason = "bad entity, NUL or over-long value";
                return -1;
            }
        }
        else if (t == XML_END && r->depth == depth - 1)
            return 0;
        else {
            *reason = t == XML_ERROR ? r->error : "unexpected element inside a value";
            return -1;
        }
    }
}

static int
s_parse_size (const char *s, int64_t *out)
{
    size_t n = strlen (s);
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit ((unsigned char) s [i]))
            return -1;
        v = v * 10 + (s [i] - '0');
    }
    *out = v;
    return 0;
}

//  Skips the rest of the element whose start tag was just read.
static int
s_skip_element (xml_reader_t *r, const char **reason)
{
    int depth = r->depth;
    while (r->depth >= depth) {
        xml_tok_t t = xml_reader_next (r);
        if (t == XML_ERROR || t == XML_EOF) {
            *reason = t == XML_ERROR ? r->error : "truncated document";
            return -1;
        }
    }
    return 0;
}

static int
s_parse_contents (xml_reader_t *r, s3_object_t *o, char *field, const char **reason)
{
    bool have_size = false;
    while (true) {
        xml_tok_t t = xml_reader_next (r);
        if (t == XML_END)
            break;
        if (t == XML_TEXT)
            continue;
        if (t != XML_START) {
            *reason = t == XML_ERROR ? r->error : "truncated document";
            return -1;
        }
        char **dst = NULL;
        size_t max = S_FIELD_MAX;
        if (xml_reader_is (r, "Key"))
            dst = &o->key, max = S3_KEY_MAX;
        else if (xml_reader_is (r, "LastModified"))
            dst = &o->last_modified, max = 64;
        else if (xml_reader_is (r, "ETag"))
            dst = &o->etag, max = 128;
        else if (xml_reader_is (r, "Size")) {
            if (s_read_text (r, field, 32, reason) != 0)
                return -1;
            if (have_size || s_parse_size (field, &o->size) != 0) {
                *reason = "bad or repeated Size";
                return -1;
            }
            have_size = true;
            continue;
        }
        else {
            if (s_skip_element (r, reason) != 0)
                return -1;
            continue;
        }
        if (*dst) {
            *reason = "repeated field in Contents";
            return -1;
        }
        if (s_read_text (r, field, max, reason) != 0)
            return -1;
        *dst = s_strdup (field);
    }
    if (!o->key || !*o->key || !have_size) {
        *reason = "Contents without Key or Size";
        return -1;
    }
    if (!o->last_modified)
        o->last_modified = s_strdup ("");
    if (!o->etag)
        o->etag = s_strdup ("");
    return 0;
}

int
s3_list_page_parse (const char *xml, size_t len, s3_list_page_t *page, const char **reason)
{
    assert (page && reason);
    memset (page, 0, sizeof *page);
    *reason = NULL;
    char *field = malloc (S_FIELD_MAX + 1);
    if (!field)
        abort ();
    size_t objects_cap = 0, prefixes_cap = 0;
    bool have_truncated = false;
    xml_reader_t r;
    xml_reader_init (&r, xml, len);
    xml_tok_t t = xml_reader_next (&r);
    if (t != XML_START || !xml_reader_is (&r, "ListBucketResult")) {
        *reason = t == XML_ERROR ? r.error : "root element is not ListBucketResult";
        goto fail;
    }
    while (true) {
        t = xml_reader_next (&r);
        if (t == XML_TEXT)
            continue;
        if (t == XML_END)
            break;                      //  </ListBucketResult>
        if (t != XML_START) {
            *reason = t == XML_ERROR ? r.error : "truncated document";
            goto fail;
        }
        if (xml_reader_is (&r, "Contents")) {
            if (page->nobjects >= S3_LIST_MAX_OBJECTS) {
                *reason = "too many objects in one page";
                goto fail;
            }
            if (page->nobjects == objects_cap) {
                objects_cap = objects_cap ? objects_cap * 2 : 64;
                s3_object_t *p = realloc (page->objects, objects_cap * sizeof *p);
                if (!p)
                    abort ();
                page->objects = p;
            }
            s3_object_t *o = &page->objects [page->nobjects++];
            memset (o, 0, sizeof *o);
            if (s_parse_contents (&r, o, field, reason) != 0)
                goto fail;
        }
        else if (xml_reader_is (&r, "CommonPrefixes")) {
            bool have = false;
            while (true) {
                t = xml_reader_next (&r);
                if (t == XML_END)
                    break;
                if (t == XML_TEXT)
                    continue;
                if (t != XML_START) {
                    *reason = t == XML_ERROR ? r.error : "truncated document";
                    goto fail;
                }
                if (!xml_reader_is (&r, "Prefix") || have) {
                    if (s_skip_element (&r, reason) != 0)
                        goto fail;
                    continue;
                }
                if (s_read_text (&r, field, S3_KEY_MAX, reason) != 0)
                    goto fail;
                if (page->nprefixes >= S3_LIST_MAX_OBJECTS) {
                    *reason = "too many common prefixes in one page";
                    goto fail;
                }
                if (page->nprefixes == prefixes_cap) {
                    prefixes_cap = prefixes_cap ? prefixes_cap * 2 : 16;
                    char **p = realloc (page->prefixes, prefixes_cap * sizeof *p);
                    if (!p)
                        abort ();
                    page->prefixes = p;
                }
                page->prefixes [page->nprefixes++] = s_strdup (field);
                have = true;
            }
        }
        else if (xml_reader_is (&r, "IsTruncated")) {
            if (s_read_text (&r, field, 16, reason) != 0)
                goto fail;
            if (strcmp (field, "true") == 0)
                page->is_truncated = true;
            else if (strcmp (field, "false") != 0) {
                *reason = "IsTruncated is neither true nor false";
                goto fail;
            }
            have_truncated = true;
        }
        else if (xml_reader_is (&r, "NextContinuationToken")) {
            if (page->next_token) {
                *reason = "repeated NextContinuationToken";
                goto fail;
            }
            if (s_read_text (&r, field, S_FIELD_MAX, reason) != 0)
                goto fail;
            page->next_token = s_strdup (field);
        }
        else if (s_skip_element (&r, reason) != 0)
            goto fail;
    }
    t = xml_reader_next (&r);
    if (t != XML_EOF) {
        *reason = t == XML_ERROR ? r.error : "content after the root element";
        goto fail;
    }
    if (!have_truncated) {
        *reason = "IsTruncated missing";
        goto fail;
    }
    free (field);
    return 0;
fail:
    free (field);
    s3_list_page_clear (page);
    if (!*reason)
        *reason = "malformed document";
    return RC_MALFORMED;
}

static int
s_error_fields (const char *xml, size_t len, char *field, char *code, size_t code_size,
                char *message, size_t message_size);

int
s3_error_parse (const char *xml, size_t len, char *code, size_t code_size, char *message,
                size_t message_size)
{
    assert (code && code_size && message && message_size);
    code [0] = 0;
    message [0] = 0;
    char *field = malloc (S_ERROR_BODY_MAX + 1);
    if (!field)
        abort ();
    int rc = s_error_fields (xml, len, field, code, code_size, message, message_size);
    free (field);
    return rc;
}

static int
s_error_fields (const char *xml, size_t len, char *field, char *code, size_t code_size,
                char *message, size_t message_size)
{
    const char *reason;
    xml_reader_t r;
    xml_reader_init (&r, xml, len);
    xml_tok_t t = xml_reader_next (&r);
    if (t != XML_START || !xml_reader_is (&r, "Error"))
        return -1;
    while ((t = xml_reader_next (&r)) != XML_END) {
        if (t == XML_TEXT)
            continue;
        if (t != XML_START) {
            code [0] = message [0] = 0;
            return -1;
        }
        bool is_code = xml_reader_is (&r, "Code");
        bool is_message = xml_reader_is (&r, "Message");
        if (!is_code && !is_message) {
            if (s_skip_element (&r, &reason) != 0) {
                code [0] = message [0] = 0;
                return -1;
            }
            continue;
        }
        if (s_read_text (&r, field, S_ERROR_BODY_MAX, &reason) != 0) {
            code [0] = message [0] = 0;
            return -1;
        }
        //  Codes are identifiers; anything else is not trusted as one.
        if (is_code) {
            for (char *p = field; *p; p++)
                if (!isalnum ((unsigned char) *p) && *p != '.' && *p != '_' && *p != '-') {
                    field [0] = 0;
                    break;
                }
            snprintf (code, code_size, "%s", field);
        }
        else {
            //  Keep messages printable: control bytes become '?'.
            for (char *p = field; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                    *p = '?';
            snprintf (message, message_size, "%s", field);
        }
    }
    return *code ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Presigning and POST uploads

char *
s3_presign_get (s3_t *self, const char *bucket, const char *key, int64_t expires_s,
                int64_t now_s)
{
    assert (self);
    if (!s_has_creds (self) || !s_valid_bucket (bucket) || !s_valid_key (key))
        return NULL;
    char *host, *path;
    s_address (self, bucket, key, &host, &path);
    sigv4_creds_t creds = s_creds (self);
    sigv4_request_t req = { .method = "GET", .host = host, .path = path };
    char *url = sigv4_presign (&creds, &req, self->scheme, now_s, expires_s);
    free (host);
    free (path);
    return url;
}

char *
s3_presign_list (s3_t *self, const char *bucket, const char *prefix, int64_t expires_s,
                 int64_t now_s)
{
    assert (self);
    if (!s_has_creds (self) || !s_valid_bucket (bucket))
        return NULL;
    char *host, *path;
    s_address (self, bucket, NULL, &host, &path);
    sigv4_creds_t creds = s_creds (self);
    sigv4_kv_t q [2] = { { "list-type", "2" }, { "prefix", prefix } };
    sigv4_request_t req = {
        .method = "GET", .host = host, .path = path, .query = q, .nquery = prefix ? 2 : 1
    };
    char *url = sigv4_presign (&creds, &req, self->scheme, now_s, expires_s);
    free (host);
    free (path);
    return url;
}

sigv4_post_t *
s3_presign_post (s3_t *self, const char *bucket, const char *prefix, int64_t min_size,
                 int64_t max_size, int64_t expires_s, int64_t now_s)
{
    assert (self);
    if (!s_has_creds (self) || !s_valid_bucket (bucket) || !prefix)
        return NULL;
    sigv4_creds_t creds = s_creds (self);
    sigv4_post_params_t p = {
        .bucket = bucket, .key_prefix = prefix, .min_size = min_size, .max_size = max_size,
        .expires_s = expires_s
    };
    return sigv4_post_new (&creds, &p, now_s);
}

char *
s3_post_url (s3_t *self, const char *bucket)
{
    assert (self);
    if (!s_valid_bucket (bucket))
        return NULL;
    size_t n = strlen (self->scheme) + strlen (self->host) + strlen (bucket) + 8;
    char *url = malloc (n);
    if (!url)
        abort ();
    if (self->path_style)
        snprintf (url, n, "%s://%s/%s", self->scheme, self->host, bucket);
    else
        snprintf (url, n, "%s://%s.%s/", self->scheme, bucket, self->host);
    return url;
}

int
s3_post_upload (s3_t *self, const char *url, const sigv4_kv_t *fields, size_t nfields,
                const char *key, const void *data, size_t size)
{
    assert (self && url && (fields || nfields == 0) && (data || size == 0));
    s_reset_outcome (self);
    if (!s_valid_key (key)) {
        s_set_error (self, "invalid object key (1..%d bytes)", S3_KEY_MAX);
        return RC_ERR;
    }
    if (strncmp (url, "http://", 7) != 0 && strncmp (url, "https://", 8) != 0) {
        s_set_error (self, "URL must be http(s)");
        return RC_ERR;
    }
    //  The mime handle belongs to the easy handle's lifetime; build it per call.
    curl_mime *mime = curl_mime_init (self->curl);
    if (!mime)
        abort ();
    curl_mimepart *part = curl_mime_addpart (mime);
    curl_mime_name (part, "key");
    curl_mime_data (part, key, CURL_ZERO_TERMINATED);
    for (size_t i = 0; i < nfields; i++) {
        part = curl_mime_addpart (mime);
        curl_mime_name (part, fields [i].name);
        curl_mime_data (part, fields [i].value ? fields [i].value : "", CURL_ZERO_TERMINATED);
    }
    //  S3 ignores every field after "file".
    part = curl_mime_addpart (mime);
    curl_mime_name (part, "file");
    curl_mime_filename (part, "upload");
    curl_mime_type (part, "application/octet-stream");
    curl_mime_data (part, data ? data : "", size);
    s_req_t req = { .method = "POST", .url = url, .mime = mime };
    s_buf_t body = { .max = S_ERROR_BODY_MAX };
    req.collect = &body;
    int rc = s_perform (self, &req, NULL);
    free (body.data);
    curl_mime_free (mime);
    return rc;
}
