/*  AWS Signature Version 4 (S3 flavour): canonical requests, signing keys, presigned URLs
    and POST policies. See sigv4.h for the rules.

    Pure: no I/O, no clock, no globals. Every string this module builds is assembled in a
    growable buffer (strbuf_t) and handed to the caller, who owns it. Invalid input (CR/LF in a
    header value, a header the signer owns passed in by the caller...) returns -1: the values
    may come from outside (object keys, content types), so they are never asserted on.       */

#include "common/sigv4.h"
#include "common/strbuf.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

//  --------------------------------------------------------------------------
//  Primitives

static void
s_hex (const uint8_t *bin, size_t n, char *hex)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex [2 * i] = digits [bin [i] >> 4];
        hex [2 * i + 1] = digits [bin [i] & 15];
    }
    hex [2 * n] = 0;
}

static void
s_hmac (const uint8_t *key, size_t keylen, const char *msg, size_t msglen, uint8_t out [32])
{
    unsigned int outlen = 32;
    if (!HMAC (EVP_sha256 (), key, (int) keylen, (const uint8_t *) msg, msglen, out, &outlen))
        abort ();
    assert (outlen == 32);
}

void
sigv4_sha256_hex (const void *data, size_t size, char hex [65])
{
    uint8_t md [32];
    unsigned int mdlen = 32;
    if (!EVP_Digest (data, size, md, &mdlen, EVP_sha256 (), NULL))
        abort ();
    s_hex (md, 32, hex);
}

void
sigv4_signing_key (const sigv4_creds_t *creds, const char *date8, uint8_t key [32])
{
    assert (creds && creds->secret_key && creds->region && creds->service && date8);
    size_t slen = strlen (creds->secret_key);
    char *k0 = malloc (slen + 5);
    if (!k0)
        abort ();
    memcpy (k0, "AWS4", 4);
    memcpy (k0 + 4, creds->secret_key, slen);
    uint8_t k1 [32], k2 [32], k3 [32];
    s_hmac ((uint8_t *) k0, slen + 4, date8, strlen (date8), k1);
    s_hmac (k1, 32, creds->region, strlen (creds->region), k2);
    s_hmac (k2, 32, creds->service, strlen (creds->service), k3);
    s_hmac (k3, 32, "aws4_request", 12, key);
    //  The secret-derived intermediate must not linger on the heap.
    OPENSSL_cleanse (k0, slen + 4);
    free (k0);
}

int
sigv4_amz_date (int64_t now, char out [17])
{
    //  253402300799 = 9999-12-31T23:59:59Z
    if (now < 0 || now > 253402300799LL)
        return -1;
    time_t t = (time_t) now;
    struct tm tm;
    if (!gmtime_r (&t, &tm))
        return -1;
    //  Years 1970..9999 make this exactly 16 characters.
    return strftime (out, 17, "%Y%m%dT%H%M%SZ", &tm) == 16 ? 0 : -1;
}

static bool
s_unreserved (unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '~';
}

static void
s_encode_into (strbuf_t *b, const char *src, size_t len, bool keep_slash)
{
    static const char digits [] = "0123456789ABCDEF";
    strbuf_reserve (b, len * 3);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) src [i];
        if (s_unreserved (c) || (keep_slash && c == '/'))
            b->data [b->len++] = (char) c;
        else {
            b->data [b->len++] = '%';
            b->data [b->len++] = digits [c >> 4];
            b->data [b->len++] = digits [c & 15];
        }
    }
    b->data [b->len] = 0;
}

char *
sigv4_uri_encode (const char *src, size_t len, bool keep_slash)
{
    strbuf_t b = { 0 };
    strbuf_reserve (&b, 0);
    b.data [0] = 0;
    s_encode_into (&b, src, len, keep_slash);
    return strbuf_take (&b);
}

//  --------------------------------------------------------------------------
//  Canonical query

typedef struct {
    char *name;                     //  encoded
    char *value;                    //  encoded ("" when valueless)
} s_pair_t;

static int
s_pair_cmp (const void *a, const void *b)
{
    const s_pair_t *x = a, *y = b;
    int c = strcmp (x->name, y->name);
    return c ? c : strcmp (x->value, y->value);
}

//  Appends the sorted canonical form of raw pairs (plus extra pairs) to out.
static void
s_canonical_query (strbuf_t *out, const sigv4_kv_t *q, size_t nq,
                   const sigv4_kv_t *extra, size_t nextra)
{
    size_t n = nq + nextra;
    if (n == 0)
        return;
    s_pair_t *pairs = calloc (n, sizeof *pairs);
    if (!pairs)
        abort ();
    for (size_t i = 0; i < n; i++) {
        const sigv4_kv_t *kv = i < nq ? &q [i] : &extra [i - nq];
        pairs [i].name = sigv4_uri_encode (kv->name, strlen (kv->name), false);
        const char *v = kv->value ? kv->value : "";
        pairs [i].value = sigv4_uri_encode (v, strlen (v), false);
    }
    qsort (pairs, n, sizeof *pairs, s_pair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_addc (out, '&');
        strbuf_add (out, pairs [i].name);
        strbuf_addc (out, '=');
        strbuf_add (out, pairs [i].value);
        free (pairs [i].name);
        free (pairs [i].value);
    }
    free (pairs);
}

//  --------------------------------------------------------------------------
//  Canonical headers

typedef struct {
    char *name;                     //  lowercase
    char *value;                    //  trimmed, inner runs of spaces/tabs collapsed
} s_header_t;

static int
s_header_cmp (const void *a, const void *b)
{
    return strcmp (((const s_header_t *) a)->name, ((const s_header_t *) b)->name);
}

static bool
s_tchar (unsigned char c)
{
    return isalnum (c) || strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

//  Returns 0 and fills h, or -1 if the name or value cannot be sent as an HTTP header.
static int
s_header_make (s_header_t *h, const char *name, const char *value)
{
    size_t nlen = strlen (name);
    if (nlen == 0 || !value)
        return -1;
    h->name = malloc (nlen + 1);
    if (!h->name)
        abort ();
    for (size_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char) name [i];
        if (!s_tchar (c)) {
            free (h->name);
            h->name = NULL;
            return -1;
        }
        h->name [i] = (char) tolower (c);
    }
    h->name [nlen] = 0;

    strbuf_t v = { 0 };
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    bool space = false;
    for (; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            free (h->name);
            free (v.data);
            h->name = NULL;
            return -1;
        }
        if (*p == ' ' || *p == '\t')
            space = true;
        else {
            if (space && v.len)
                strbuf_addc (&v, ' ');
            space = false;
            strbuf_addc (&v, *p);
        }
    }
    h->value = strbuf_take (&v);
    return 0;
}

static void
s_headers_free (s_header_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free (h [i].name);
        free (h [i].value);
    }
    free (h);
}

static bool
s_reserved_header (const char *lname)
{
    return strcmp (lname, "host") == 0 || strcmp (lname, "x-amz-date") == 0
        || strcmp (lname, "x-amz-content-sha256") == 0
        || strcmp (lname, "x-amz-security-token") == 0
        || strcmp (lname, "authorization") == 0;
}

static bool
s_valid_payload_hash (const char *h)
{
    if (!h)
        return false;
    if (strcmp (h, SIGV4_UNSIGNED_PAYLOAD) == 0)
        return true;
    if (strlen (h) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit ((unsigned char) h [i]) || isupper ((unsigned char) h [i]))
            return false;
    return true;
}

static bool
s_has_token (const sigv4_creds_t *creds)
{
    return creds->session_token && *creds->session_token;
}

//  --------------------------------------------------------------------------
//  The core: canonical request -> string to sign -> signature

static void
s_sign_core (const sigv4_creds_t *creds, const char *method, const char *path,
             const char *canonical_query, const s_header_t *headers, size_t nheaders,
             const char *payload_hash, const char *amz_date,
             char **canonical_request_p, char **string_to_sign_p, char **signed_headers_p,
             char signature [65])
{
    strbuf_t cr = { 0 };
    strbuf_add (&cr, method);
    strbuf_addc (&cr, '\n');
    s_encode_into (&cr, path, strlen (path), true);
    strbuf_addc (&cr, '\n');
    strbuf_add (&cr, canonical_query);
    strbuf_addc (&cr, '\n');
    strbuf_t sh = { 0 };
    for (size_t i = 0; i < nheaders; i++) {
        strbuf_add (&cr, headers [i].name);
        strbuf_addc (&cr, ':');
        strbuf_add (&cr, headers [i].value);
        strbuf_addc (&cr, '\n');
        if (i)
            strbuf_addc (&sh, ';');
        strbuf_add (&sh, headers [i].name);
    }
    strbuf_addc (&cr, '\n');
    strbuf_add (&cr, sh.data ? sh.data : "");
    strbuf_addc (&cr, '\n');
    strbuf_add (&cr, payload_hash);

    char date8 [9];
    memcpy (date8, amz_date, 8);
    date8 [8] = 0;
    char cr_hash [65];
    sigv4_sha256_hex (cr.data, cr.len, cr_hash);
    strbuf_t sts = { 0 };
    strbuf_addf (&sts, SIGV4_ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8,
                creds->region, creds->service, cr_hash);

    uint8_t key [32], sig [32];
    sigv4_signing_key (creds, date8, key);
    s_hmac (key, 32, sts.data, sts.len, sig);
    OPENSSL_cleanse (key, sizeof key);
    s_hex (sig, 32, signature);

    *canonical_request_p = strbuf_take (&cr);
    *string_to_sign_p = strbuf_take (&sts);
    *signed_headers_p = strbuf_take (&sh);
}

static bool
s_creds_valid (const sigv4_creds_t *creds)
{
    return creds && creds->access_key && *creds->access_key && creds->secret_key
        && creds->region && *creds->region && creds->service && *creds->service;
}

static bool
s_request_valid (const sigv4_request_t *req)
{
    if (!req || !req->method || !*req->method || !req->host || !*req->host || !req->path
        || req->path [0] != '/')
        return false;
    if (strpbrk (req->host, "\r\n /"))
        return false;
    for (size_t i = 0; i < req->nquery; i++)
        if (!req->query [i].name)
            return false;
    return true;
}

int
sigv4_sign (const sigv4_creds_t *creds, const sigv4_request_t *req, int64_t now,
            sigv4_signed_t *out)
{
    assert (out);
    memset (out, 0, sizeof *out);
    if (!s_creds_valid (creds) || !s_request_valid (req)
        || !s_valid_payload_hash (req->payload_hash))
        return -1;
    if (sigv4_amz_date (now, out->amz_date) != 0)
        return -1;

    size_t cap = req->nheaders + 4, n = 0;
    s_header_t *h = calloc (cap, sizeof *h);
    if (!h)
        abort ();
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!req->headers [i].name || s_header_make (&h [n], req->headers [i].name,
                                                     req->headers [i].value) != 0) {
            s_headers_free (h, n);
            return -1;
        }
        n++;
        if (s_reserved_header (h [n - 1].name)) {
            s_headers_free (h, n);
            return -1;
        }
    }
    if (s_header_make (&h [n++], "host", req->host) != 0
        || s_header_make (&h [n++], "x-amz-content-sha256", req->payload_hash) != 0
        || s_header_make (&h [n++], "x-amz-date", out->amz_date) != 0
        || (s_has_token (creds)
            && s_header_make (&h [n++], "x-amz-security-token", creds->session_token) != 0)) {
        s_headers_free (h, n);
        return -1;
    }
    qsort (h, n, sizeof *h, s_header_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp (h [i - 1].name, h [i].name) == 0) {
            s_headers_free (h, n);
            return -1;
        }

    strbuf_t q = { 0 };
    s_canonical_query (&q, req->query, req->nquery, NULL, 0);
    out->query = strbuf_take (&q);

    s_sign_core (creds, req->method, req->path, out->query, h, n, req->payload_hash,
                 out->amz_date, &out->canonical_request, &out->string_to_sign,
                 &out->signed_headers, out->signature);
    s_headers_free (h, n);

    strbuf_t auth = { 0 };
    strbuf_addf (&auth, SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request,"
                "SignedHeaders=%s,Signature=%s", creds->access_key, out->amz_date,
                creds->region, creds->service, out->signed_headers, out->signature);
    out->authorization = strbuf_take (&auth);
    return 0;
}

void
sigv4_signed_clear (sigv4_signed_t *s)
{
    if (!s)
        return;
    free (s->authorization);
    free (s->signed_headers);
    free (s->canonical_request);
    free (s->string_to_sign);
    free (s->query);
    memset (s, 0, sizeof *s);
}

char *
sigv4_presign (const sigv4_creds_t *creds, const sigv4_request_t *req, const char *scheme,
               int64_t now, int64_t expires_s)
{
    if (!s_creds_valid (creds) || !s_request_valid (req) || req->nheaders || req->payload_hash
        || !scheme || (strcmp (scheme, "http") != 0 && strcmp (scheme, "https") != 0)
        || expires_s < 1 || expires_s > SIGV4_MAX_EXPIRES)
        return NULL;
    for (size_t i = 0; i < req->nquery; i++)
        if (strncasecmp (req->query [i].name, "x-amz-", 6) == 0)
            return NULL;
    char amz_date [17];
    if (sigv4_amz_date (now, amz_date) != 0)
        return NULL;

    s_header_t host = { 0 };
    if (s_header_make (&host, "host", req->host) != 0)
        return NULL;

    char credential [512];
    int clen = snprintf (credential, sizeof credential, "%s/%.8s/%s/%s/aws4_request",
                         creds->access_key, amz_date, creds->region, creds->service);
    if (clen < 0 || (size_t) clen >= sizeof credential) {
        free (host.name);
        free (host.value);
        return NULL;
    }
    char expires [24];
    snprintf (expires, sizeof expires, "%lld", (long long) expires_s);
    sigv4_kv_t extra [6] = {
        { "X-Amz-Algorithm", SIGV4_ALGORITHM },
        { "X-Amz-Credential", credential },
        { "X-Amz-Date", amz_date },
        { "X-Amz-Expires", expires },
        { "X-Amz-SignedHeaders", "host" },
        { "X-Amz-Security-Token", creds->session_token }
    };
    strbuf_t q = { 0 };
    s_canonical_query (&q, req->query, req->nquery, extra, s_has_token (creds) ? 6 : 5);
    char *query = strbuf_take (&q);

    char *cr, *sts, *sh, signature [65];
    s_sign_core (creds, req->method, req->path, query, &host, 1, SIGV4_UNSIGNED_PAYLOAD,
                 amz_date, &cr, &sts, &sh, signature);
    strbuf_t url = { 0 };
    strbuf_addf (&url, "%s://%s", scheme, req->host);
    s_encode_into (&url, req->path, strlen (req->path), true);
    strbuf_addf (&url, "?%s&X-Amz-Signature=%s", query, signature);
    free (cr);
    free (sts);
    free (sh);
    free (query);
    free (host.name);
    free (host.value);
    return strbuf_take (&url);
}

void
sigv4_sign_policy (const sigv4_creds_t *creds, const char *date8, const char *policy_b64,
                   char hex [65])
{
    uint8_t key [32], sig [32];
    sigv4_signing_key (creds, date8, key);
    s_hmac (key, 32, policy_b64, strlen (policy_b64), sig);
    OPENSSL_cleanse (key, sizeof key);
    s_hex (sig, 32, hex);
}

//  --------------------------------------------------------------------------
//  POST policy

#define S_POST_MAX_FIELDS 6

struct _sigv4_post_t {
    char *policy_json;
    size_t nfields;
    sigv4_kv_t fields [S_POST_MAX_FIELDS];
    char *values [S_POST_MAX_FIELDS];   //  owned copies behind fields [i].value
};

//  Appends s as a JSON string literal. Control bytes are \u-escaped; other bytes (UTF-8)
//  pass through, as a policy is UTF-8 JSON.
static void
s_json_string (strbuf_t *b, const char *s)
{
    strbuf_addc (b, '"');
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            strbuf_addc (b, '\\');
            strbuf_addc (b, (char) *p);
        }
        else if (*p < 0x20)
            strbuf_addf (b, "\\u%04x", *p);
        else
            strbuf_addc (b, (char) *p);
    }
    strbuf_addc (b, '"');
}

static char *
s_base64 (const char *data, size_t len)
{
    char *out = malloc (4 * ((len + 2) / 3) + 1);
    if (!out)
        abort ();
    EVP_EncodeBlock ((unsigned char *) out, (const unsigned char *) data, (int) len);
    return out;
}

static void
s_post_add (sigv4_post_t *self, const char *name, const char *value)
{
    assert (self->nfields < S_POST_MAX_FIELDS);
    char *copy = strdup (value);
    if (!copy)
        abort ();
    self->values [self->nfields] = copy;
    self->fields [self->nfields].name = name;
    self->fields [self->nfields].value = copy;
    self->nfields++;
}

sigv4_post_t *
sigv4_post_new (const sigv4_creds_t *creds, const sigv4_post_params_t *params, int64_t now)
{
    if (!s_creds_valid (creds) || !params || !params->bucket || !*params->bucket
        || !params->key_prefix || params->min_size < 0 || params->max_size < params->min_size
        || params->expires_s < 1 || params->expires_s > SIGV4_MAX_EXPIRES)
        return NULL;
    char amz_date [17];
    if (sigv4_amz_date (now, amz_date) != 0)
        return NULL;
    time_t exp = (time_t) (now + params->expires_s);
    struct tm tm;
    if (!gmtime_r (&exp, &tm) || tm.tm_year + 1900 > 9999)
        return NULL;
    char expiration [32];
    if (strftime (expiration, sizeof expiration, "%Y-%m-%dT%H:%M:%S.000Z", &tm) != 24)
        return NULL;
    char credential [512];
    int clen = snprintf (credential, sizeof credential, "%s/%.8s/%s/%s/aws4_request",
                         creds->access_key, amz_date, creds->region, creds->service);
    if (clen < 0 || (size_t) clen >= sizeof credential)
        return NULL;

    strbuf_t j = { 0 };
    strbuf_add (&j, "{\"expiration\":");
    s_json_string (&j, expiration);
    strbuf_add (&j, ",\"conditions\":[{\"bucket\":");
    s_json_string (&j, params->bucket);
    strbuf_add (&j, "},[\"starts-with\",\"$key\",");
    s_json_string (&j, params->key_prefix);
    strbuf_addf (&j, "],[\"content-length-range\",%lld,%lld],",
                (long long) params->min_size, (long long) params->max_size);
    strbuf_add (&j, "{\"x-amz-algorithm\":\"" SIGV4_ALGORITHM "\"},{\"x-amz-credential\":");
    s_json_string (&j, credential);
    strbuf_add (&j, "},{\"x-amz-date\":");
    s_json_string (&j, amz_date);
    strbuf_addc (&j, '}');
    if (s_has_token (creds)) {
        strbuf_add (&j, ",{\"x-amz-security-token\":");
        s_json_string (&j, creds->session_token);
        strbuf_addc (&j, '}');
    }
    strbuf_add (&j, "]}");

    sigv4_post_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->policy_json = strbuf_take (&j);
    char *b64 = s_base64 (self->policy_json, strlen (self->policy_json));
    char date8 [9];
    memcpy (date8, amz_date, 8);
    date8 [8] = 0;
    char signature [65];
    sigv4_sign_policy (creds, date8, b64, signature);

    s_post_add (self, "policy", b64);
    s_post_add (self, "x-amz-algorithm", SIGV4_ALGORITHM);
    s_post_add (self, "x-amz-credential", credential);
    s_post_add (self, "x-amz-date", amz_date);
    if (s_has_token (creds))
        s_post_add (self, "x-amz-security-token", creds->session_token);
    s_post_add (self, "x-amz-signature", signature);
    free (b64);
    return self;
}

void
sigv4_post_destroy (sigv4_post_t **self_p)
{
    assert (self_p);
    sigv4_post_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nfields; i++)
        free (self->values [i]);
    free (self->policy_json);
    free (self);
    *self_p = NULL;
}

const sigv4_kv_t *
sigv4_post_fields (sigv4_post_t *self, size_t *count)
{
    assert (self && count);
    *count = self->nfields;
    return self->fields;
}

const char *
sigv4_post_policy (sigv4_post_t *self)
{
    assert (self);
    return self->policy_json;
}

const char *
sigv4_post_field (sigv4_post_t *self, const char *name)
{
    assert (self && name);
    for (size_t i = 0; i < self->nfields; i++)
        if (strcmp (self->fields [i].name, name) == 0)
            return self->fields [i].value;
    return NULL;
}
