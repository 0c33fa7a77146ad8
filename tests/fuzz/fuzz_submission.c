/*  fuzz_submission: submission_parse and submission_key_parse (common/submission.h) on
    arbitrary bytes. Never a crash or leak, and the verdict holds together: an accepted body
    has a listings array of exactly count objects within the cap and the key's identity; a
    rejected one has a known reason and a detail. The same bytes are tried as an S3 key: an
    accepted key must rebuild the same prefix.                                               */
#include "common/rc.h"
#include "common/submission.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    submission_key_t key;
    if (submission_key_parse ("data/hotkey=5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"
                              "/epoch=2026-11-25T12-00-00/zipcode=77494/data_1.json",
                              &key) != 0)
        abort ();
    submission_limits_t limits = { .max_bytes = 1 << 20, .max_listings = 50, .max_depth = 8 };
    submission_t sub;
    int rc = submission_parse ((const char *) data, size, &key, &limits, &sub);
    if (rc == 0) {
        if (sub.reason != SUBMISSION_OK || !sub.root || !json_is_array (sub.listings)
        ||  json_array_size (sub.listings) != sub.count || sub.count > limits.max_listings)
            abort ();
        for (size_t i = 0; i < sub.count; i++)
            if (!json_is_object (json_array_get (sub.listings, i)))
                abort ();
        if (strcmp (json_string_value (json_object_get (sub.root, "epoch_id")), key.epoch))
            abort ();
        submission_free (&sub);
    }
    else {
        if (rc != RC_MALFORMED || sub.root || sub.detail [0] == 0
        ||  strcmp (submission_reason_name (sub.reason), "unknown") == 0
        ||  sub.reason == SUBMISSION_OK)
            abort ();
    }

    char *copy = malloc (size + 1);
    if (!copy)
        abort ();
    memcpy (copy, data, size);
    copy [size] = 0;
    submission_key_t k;
    if (submission_key_parse (copy, &k) == 0) {
        char prefix [256];
        if (submission_prefix (k.hotkey, k.epoch, prefix, sizeof prefix) != 0
        ||  strncmp (copy, prefix, strlen (prefix)) != 0 || strlen (k.zipcode) != 5)
            abort ();
    }
    free (copy);
    return 0;
}
