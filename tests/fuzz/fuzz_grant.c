/*  fuzz_grant: grant_parse (common/grant.h) on arbitrary bytes, the coordinator's upload
    grant as the consensus worker and the uploader receive it. Never a crash or a leak, and
    an accepted grant holds together: an http(s) URL within GRANT_URL_MAX, a prefix of
    1..GRANT_PREFIX_MAX bytes, a valid epoch id, at most GRANT_FIELDS_MAX string fields, none
    named key or file; a rejected one has a reason.                                          */
#include "common/epoch.h"
#include "common/grant.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err [256];
    err [0] = 0;
    grant_t *g = grant_parse ((const char *) data, size, err, sizeof err);
    if (!g) {
        if (!err [0])
            abort ();
        return 0;
    }
    const char *url = grant_url (g), *prefix = grant_prefix (g);
    int64_t start;
    if (strlen (url) > GRANT_URL_MAX
    ||  (strncmp (url, "http://", 7) != 0 && strncmp (url, "https://", 8) != 0)
    ||  !*prefix || strlen (prefix) > GRANT_PREFIX_MAX
    ||  epoch_id_parse (grant_epoch (g), &start) != 0)
        abort ();
    size_t n = 0;
    const sigv4_kv_t *fields = grant_fields (g, &n);
    if (n > GRANT_FIELDS_MAX)
        abort ();
    for (size_t i = 0; i < n; i++)
        if (!fields [i].name || !fields [i].value || !strcmp (fields [i].name, "key")
        ||  !strcmp (fields [i].name, "file"))
            abort ();
    //  a key under the prefix is covered before expiry, never after
    char key [GRANT_PREFIX_MAX + 8];
    snprintf (key, sizeof key, "%sx", prefix);
    if (!grant_covers (g, key, grant_expires_s (g) - 10, 5)
    ||  grant_covers (g, key, grant_expires_s (g), 0))
        abort ();
    grant_destroy (&g);
    if (g)
        abort ();
    return 0;
}
