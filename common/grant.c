/*  grant: ask for, parse and check an S3 upload grant (grant.h). A grant_t owns the parsed
    JSON document; url, prefix, epoch and the field names and values point into it.          */
#include "common/grant.h"

#include "common/epoch.h"
#include "common/json.h"
#include "common/rc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _grant_t {
    json_t *doc;
    const char *url;
    const char *prefix;
    const char *epoch;
    int64_t expires_s;
    sigv4_kv_t *fields;
    size_t nfields;
};

void
grant_destroy (grant_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    grant_t *self = *self_p;
    json_decref (self->doc);
    free (self->fields);
    free (self);
    *self_p = NULL;
}

//  "YYYY-MM-DDTHH:MM:SSZ" exactly; unix seconds, or -1.
static int64_t
s_expiry (const char *s)
{
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    if (strlen (s) != 20)
        return -1;
    const char *end = strptime (s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        return -1;
    return (int64_t) timegm (&tm);
}

grant_t *
grant_parse (const char *body, size_t len, char *errbuf, size_t errsize)
{
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (body, len, GRANT_BYTES_MAX, 8, &err);
    if (!doc) {
        snprintf (errbuf, errsize, "%s", err.msg);
        return NULL;
    }
    grant_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->doc = doc;
    self->url = jsonx_str (doc, "uploadUrl", &err);
    self->prefix = jsonx_str (doc, "prefix", &err);
    self->epoch = jsonx_str (doc, "epochId", &err);
    const json_t *fields = jsonx_obj (doc, "fields", &err);
    const char *expires = jsonx_str (doc, "expiresAt", &err);
    int64_t start;
    if (!err.failed && (strlen (self->url) > GRANT_URL_MAX
                        || (strncmp (self->url, "http://", 7) != 0
                            && strncmp (self->url, "https://", 8) != 0)
                        || strlen (self->url) <= 8))
        jsonx_fail (&err, "field 'uploadUrl': expected an http(s) URL of at most %d bytes",
                    GRANT_URL_MAX);
    if (!err.failed && (!*self->prefix || strlen (self->prefix) > GRANT_PREFIX_MAX))
        jsonx_fail (&err, "field 'prefix': expected 1..%d bytes", GRANT_PREFIX_MAX);
    if (!err.failed && epoch_id_parse (self->epoch, &start) != 0)
        jsonx_fail (&err, "field 'epochId': expected YYYY-MM-DDTHH-MM-SS");
    if (!err.failed && (self->expires_s = s_expiry (expires)) < 0)
        jsonx_fail (&err, "field 'expiresAt': expected YYYY-MM-DDTHH:MM:SSZ");
    if (!err.failed && json_object_size (fields) > GRANT_FIELDS_MAX)
        jsonx_fail (&err, "field 'fields': more than %d", GRANT_FIELDS_MAX);
    if (!err.failed) {
        self->fields = calloc (json_object_size (fields) + 1, sizeof *self->fields);
        if (!self->fields)
            abort ();
        const char *name;
        json_t *value;
        json_object_foreach ((json_t *) fields, name, value) {
            //  "key" and "file" are ours to send; a grant naming them is not usable
            if (!json_is_string (value) || !strcmp (name, "key") || !strcmp (name, "file")) {
                jsonx_fail (&err, "fields.%.64s: expected a string, and not key or file", name);
                break;
            }
            self->fields [self->nfields].name = name;
            self->fields [self->nfields].value = json_string_value (value);
            self->nfields++;
        }
    }
    if (err.failed) {
        snprintf (errbuf, errsize, "%s", err.msg);
        grant_destroy (&self);
        return NULL;
    }
    return self;
}

int
grant_request (http_t *http, const char *base_url, const char *path, const wallet_t *wallet,
               const char *hotkey, const char *commitment, int64_t ts, const json_t *extra,
               long *status_p, grant_t **grant_p, char *errbuf, size_t errsize)
{
    *grant_p = NULL;
    if (status_p)
        *status_p = 0;
    uint8_t sig [SR25519_SIGNATURE_SIZE];
    if (wallet_sign (wallet, (const uint8_t *) commitment, strlen (commitment), sig) != 0) {
        snprintf (errbuf, errsize, "could not sign the commitment");
        return RC_ERR;
    }
    char hex [2 * SR25519_SIGNATURE_SIZE + 1];
    sodium_bin2hex (hex, sizeof hex, sig, sizeof sig);
    json_t *body = json_pack ("{s:s, s:s, s:I}", "hotkey", hotkey, "signature", hex,
                              "timestamp", (json_int_t) ts);
    if (!body)
        abort ();
    if (extra)
        json_object_update (body, (json_t *) extra);
    char *text = jsonx_dump (body, false);
    json_decref (body);
    if (!text)
        abort ();
    char url [1200];
    snprintf (url, sizeof url, "%s%s", base_url, path);
    const char *headers [] = { "Content-Type: application/json", NULL };
    http_response_t *resp = NULL;
    int rc = http_post (http, url, headers, text, strlen (text), &resp);
    free (text);
    long status = resp ? http_response_status (resp) : 0;
    if (status_p)
        *status_p = status;
    size_t len = 0;
    const char *rbody = resp ? http_response_body (resp, &len) : NULL;
    if (rc != 0 || status >= 500 || status == 429) {
        snprintf (errbuf, errsize, "%s", rc != 0 ? http_error (http) : "coordinator busy");
        rc = RC_RETRY;
    }
    else
    if (status != 200) {
        //  the coordinator's {statusCode, message, error}, when it parses
        jsonx_err_t jerr = { 0 };
        json_t *doc = jsonx_parse (rbody, len, GRANT_BYTES_MAX, 8, &jerr);
        const char *m = doc ? json_string_value (json_object_get (doc, "message")) : NULL;
        snprintf (errbuf, errsize, "HTTP %ld: %.200s", status, m ? m : "(no message)");
        json_decref (doc);
        rc = RC_ERR;
    }
    else {
        *grant_p = grant_parse (rbody, len, errbuf, errsize);
        rc = *grant_p ? 0 : RC_RETRY;
    }
    http_response_destroy (&resp);
    return rc;
}

const char *
grant_url (const grant_t *self)
{
    return self->url;
}

const char *
grant_prefix (const grant_t *self)
{
    return self->prefix;
}

const char *
grant_epoch (const grant_t *self)
{
    return self->epoch;
}

int64_t
grant_expires_s (const grant_t *self)
{
    return self->expires_s;
}

const sigv4_kv_t *
grant_fields (const grant_t *self, size_t *n)
{
    *n = self->nfields;
    return self->fields;
}

bool
grant_covers (const grant_t *self, const char *key, int64_t now_s, int64_t margin_s)
{
    return strncmp (key, self->prefix, strlen (self->prefix)) == 0
        && self->expires_s - margin_s > now_s;
}
