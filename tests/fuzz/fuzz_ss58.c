/*  libFuzzer target for ss58_decode: arbitrary bytes (NUL-terminated copy) must decode or be
    refused with a reason, never crash; whatever decodes must re-encode to the same string
    (the encoding is canonical: one address per key and prefix).                          */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ss58.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text [size] = '\0';
    uint8_t key [32];
    unsigned prefix = 0;
    const char *reason = NULL;
    if (ss58_decode (text, key, &prefix, &reason) == 0) {
        char again [SS58_ADDRESS_SIZE];
        assert (ss58_encode (key, prefix, again, sizeof again) == 0);
        assert (strcmp (again, text) == 0);
    }
    else
        assert (reason && *reason);
    free (text);
    return 0;
}
