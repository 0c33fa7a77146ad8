/*  grant: an S3 upload grant (a presigned POST) asked of the coordinator (DESIGN.md section 5).

    Miners ask POST /get-folder-access (commitment s3:data:access:{coldkey}:{hotkey}:{ts}),
    validators POST /api/v1/s3-access/validator-upload (commitment s3:validator:upload:{ts},
    body field epochId). The body is {hotkey, signature, timestamp, …extra}: the signature is
    the hex sr25519 signature of the commitment by the hotkey. The answer
    (workers/coordinator/README.md):
        {"uploadUrl","fields":{name:value,…},"prefix","epochId","expiresAt", …}
    is untrusted: size-capped (GRANT_BYTES_MAX), depth-limited, every field typed and
    bounded (an http(s) URL, at most GRANT_FIELDS_MAX string fields, a valid epoch id, an
    ISO 8601 UTC expiry). Uploading is s3_post_upload (common/s3.h) with grant_url and
    grant_fields: the grant carries no credentials of ours.                                  */
#ifndef ZM_GRANT_H
#define ZM_GRANT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http.h"
#include "common/sigv4.h"
#include "common/wallet.h"

#define GRANT_BYTES_MAX     (1u << 20)
#define GRANT_FIELDS_MAX    32
#define GRANT_URL_MAX       2048
#define GRANT_PREFIX_MAX    1024

typedef struct _grant_t grant_t;

//  Parses a grant answer. Returns the grant (caller owns: grant_destroy), or NULL with the
//  reason (the first bad field named) in err.
grant_t *grant_parse (const char *body, size_t len, char *err, size_t errsize);
void grant_destroy (grant_t **self_p);

//  Asks base_url + path for a grant: signs commitment with wallet and POSTs
//  {"hotkey", "signature", "timestamp": ts} plus the members of extra (may be NULL;
//  borrowed). Returns 0 with *grant_p; RC_RETRY (network, 5xx, 429, or an answer that does
//  not parse: err says why); RC_ERR (refused: 4xx, the coordinator's message in err).
//  *status_p (may be NULL) gets the HTTP status (0 when none arrived).
int grant_request (http_t *http, const char *base_url, const char *path,
                   const wallet_t *wallet, const char *hotkey, const char *commitment,
                   int64_t ts, const json_t *extra, long *status_p, grant_t **grant_p,
                   char *err, size_t errsize);

//  The form's target URL, the key prefix allowed, the epoch id, the expiry (unix seconds).
const char *grant_url (const grant_t *self);
const char *grant_prefix (const grant_t *self);
const char *grant_epoch (const grant_t *self);
int64_t grant_expires_s (const grant_t *self);

//  The form fields to send, in order, before "key" and "file" (borrowed; *n gets the count).
const sigv4_kv_t *grant_fields (const grant_t *self, size_t *n);

//  True when key is under the grant's prefix and the grant is valid for margin_s more
//  seconds at now_s.
bool grant_covers (const grant_t *self, const char *key, int64_t now_s, int64_t margin_s);

#endif
