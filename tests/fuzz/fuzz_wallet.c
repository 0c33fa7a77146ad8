/*  libFuzzer target for wallet_parse: arbitrary bytes as a hotkey keyfile must load or be
    refused with a reason, never crash or leak; a loaded wallet's address decodes back to
    its public key and it signs what it verifies.                                          */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "common/wallet.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *reason = NULL;
    wallet_t *w = wallet_parse ((const char *) data, size, &reason);
    if (!w) {
        assert (reason && *reason);
        return 0;
    }
    uint8_t key [32], sig [64];
    assert (ss58_decode (wallet_ss58 (w), key, NULL, NULL) == 0);
    assert (memcmp (key, wallet_public_key (w), 32) == 0);
    assert (wallet_sign (w, data, size, sig) == 0);
    assert (sr25519_verify_exact (wallet_public_key (w), data, size, sig) == SR25519_OK);
    wallet_destroy (&w);
    return 0;
}
