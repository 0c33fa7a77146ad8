/*  sr25519 (schnorrkel) signatures over libsodium's ristretto255 and our Merlin transcript.

    Checked against w3f/schnorrkel src/sign.rs (sign, verify, Signature::from_bytes and its
    marker bit), src/context.rs (SigningContext, witness_scalar, challenge_scalar) and
    src/keys.rs (expand_ed25519, to_ed25519_bytes/from_ed25519_bytes); the protocol is
    summarised in sr25519.h.

    Secrets (the key scalar, the nonce seed, the witness r and k*key) are only handled by
    libsodium's constant-time scalar arithmetic and base-point multiplication and by the
    constant-time helpers below; all of them are wiped before return. Verification handles
    public data only and may branch on it.                                                   */
#include "common/sr25519.h"

#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "common/merlin.h"

#define SIGNING_CONTEXT "substrate"
#define BYTES_OPEN      "<Bytes>"
#define BYTES_CLOSE     "</Bytes>"

//  The group order l = 2^252 + 27742317777372353535851937790883648493, little-endian.
static const uint8_t s_order [32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
};

const char *
sr25519_strerror (sr25519_result_t result)
{
    switch (result) {
        case SR25519_OK:             return "ok";
        case SR25519_ERR_MARKER:     return "missing schnorrkel marker bit";
        case SR25519_ERR_SCALAR:     return "non-canonical signature scalar";
        case SR25519_ERR_PUBLIC_KEY: return "invalid public key";
        case SR25519_ERR_EQUATION:   return "signature does not match key and message";
        case SR25519_ERR_LENGTH:     return "message too long";
    }
    return "unknown sr25519 result";
}

//  1 if s < l, in constant time (s may be a secret key): the borrow out of s - l.
static int
s_scalar_is_canonical (const uint8_t s [32])
{
    unsigned borrow = 0;
    for (int i = 0; i < 32; i++) {
        unsigned diff = (unsigned) s [i] - (unsigned) s_order [i] - borrow;
        borrow = (diff >> 8) & 1;
    }
    return (int) borrow;
}

//  schnorrkel's divide_scalar_bytes_by_cofactor: 256-bit little-endian integer >> 3.
static void
s_divide_by_cofactor (uint8_t s [32])
{
    uint8_t low = 0;
    for (int i = 31; i >= 0; i--) {
        uint8_t r = s [i] & 0x07;
        s [i] = (uint8_t) ((s [i] >> 3) + low);
        low = (uint8_t) (r << 5);
    }
}

//  schnorrkel's multiply_scalar_bytes_by_cofactor: << 3 (a canonical scalar never overflows).
static void
s_multiply_by_cofactor (uint8_t s [32])
{
    uint8_t high = 0;
    for (int i = 0; i < 32; i++) {
        uint8_t r = s [i] & 0xe0;
        s [i] = (uint8_t) ((s [i] << 3) + high);
        high = (uint8_t) (r >> 5);
    }
}

//  Public key of a canonical non-zero key scalar. Return 0 or -1.
static int
s_derive_public (sr25519_keypair_t *keypair)
{
    if (!s_scalar_is_canonical (keypair->secret) || sodium_is_zero (keypair->secret, 32))
        return -1;
    if (crypto_scalarmult_ristretto255_base (keypair->public_key, keypair->secret) != 0)
        return -1;
    return 0;
}

int
sr25519_keypair_from_seed (sr25519_keypair_t *keypair, const uint8_t seed [SR25519_SEED_SIZE])
{
    assert (keypair && seed);
    if (sodium_init () < 0)
        return -1;
    uint8_t h [64];
    crypto_hash_sha512 (h, seed, SR25519_SEED_SIZE);
    //  Ed25519 clamping, then division by the cofactor so the key is a clean scalar mod l
    //  (it lands in [2^251, 2^252), below l).
    h [0] &= 248;
    h [31] &= 63;
    h [31] |= 64;
    s_divide_by_cofactor (h);
    memcpy (keypair->secret, h, 64);
    sodium_memzero (h, sizeof h);
    if (s_derive_public (keypair) != 0) {
        sr25519_keypair_wipe (keypair);
        return -1;
    }
    return 0;
}

int
sr25519_keypair_from_secret (sr25519_keypair_t *keypair,
                             const uint8_t secret [SR25519_SECRET_SIZE])
{
    assert (keypair && secret);
    if (sodium_init () < 0)
        return -1;
    memcpy (keypair->secret, secret, SR25519_SECRET_SIZE);
    if (s_derive_public (keypair) != 0) {
        sr25519_keypair_wipe (keypair);
        return -1;
    }
    return 0;
}

int
sr25519_keypair_from_ed25519_secret (sr25519_keypair_t *keypair,
                                     const uint8_t secret [SR25519_SECRET_SIZE])
{
    assert (keypair && secret);
    if (sodium_init () < 0)
        return -1;
    memcpy (keypair->secret, secret, SR25519_SECRET_SIZE);
    s_divide_by_cofactor (keypair->secret);
    if (s_derive_public (keypair) != 0) {
        sr25519_keypair_wipe (keypair);
        return -1;
    }
    return 0;
}

void
sr25519_secret_to_ed25519 (const sr25519_keypair_t *keypair, uint8_t out [SR25519_SECRET_SIZE])
{
    assert (keypair && out);
    memcpy (out, keypair->secret, SR25519_SECRET_SIZE);
    s_multiply_by_cofactor (out);
}

void
sr25519_keypair_wipe (sr25519_keypair_t *keypair)
{
    if (keypair)
        sodium_memzero (keypair, sizeof *keypair);
}

int
sr25519_public_key_is_valid (const uint8_t public_key [SR25519_PUBLIC_SIZE])
{
    assert (public_key);
    return crypto_core_ristretto255_is_valid_point (public_key) == 1
        && !sodium_is_zero (public_key, SR25519_PUBLIC_SIZE);
}

//  SigningContext::new ("substrate").bytes (message), then proto-name and sign:pk, the
//  common prefix of signing and verification. The message is given in parts so that the
//  <Bytes> wrapping needs no copy.
static void
s_transcript (merlin_transcript_t *t, const uint8_t *const *parts, const size_t *lens,
              size_t n, const uint8_t public_key [32])
{
    merlin_transcript_init (t, MERLIN_LABEL ("SigningContext"));
    merlin_transcript_append (t, MERLIN_LABEL (""), MERLIN_LABEL (SIGNING_CONTEXT));
    merlin_transcript_append_parts (t, MERLIN_LABEL ("sign-bytes"), parts, lens, n);
    merlin_transcript_append (t, MERLIN_LABEL ("proto-name"), MERLIN_LABEL ("Schnorr-sig"));
    merlin_transcript_append (t, MERLIN_LABEL ("sign:pk"), public_key, 32);
}

int
sr25519_sign_with_randomness (const sr25519_keypair_t *keypair, const uint8_t *msg,
                              size_t msg_len, const uint8_t random [32],
                              uint8_t signature [SR25519_SIGNATURE_SIZE])
{
    assert (keypair && (msg || msg_len == 0) && random && signature);
    if (msg_len > SR25519_MESSAGE_MAX || !s_scalar_is_canonical (keypair->secret))
        return -1;
    const uint8_t *key = keypair->secret;
    const uint8_t *nonce = keypair->secret + 32;
    const uint8_t *parts [1] = { msg ? msg : (const uint8_t *) "" };
    size_t lens [1] = { msg_len };

    merlin_transcript_t t;
    s_transcript (&t, parts, lens, 1, keypair->public_key);

    //  witness_scalar ("signing", [nonce]): the transcript RNG keyed with the nonce seed
    //  and the external randomness.
    merlin_rng_t rng;
    uint8_t wide [64], r [32], k [32], kx [32], s [32], big_r [32];
    merlin_rng_init (&rng, &t);
    merlin_rng_rekey (&rng, MERLIN_LABEL ("signing"), nonce, 32);
    merlin_rng_finalize (&rng, random);
    merlin_rng_fill (&rng, wide, sizeof wide);
    crypto_core_ristretto255_scalar_reduce (r, wide);

    int rc = -1;
    //  r = 0 has probability 2^-252; refuse rather than publish R = identity.
    if (crypto_scalarmult_ristretto255_base (big_r, r) == 0) {
        merlin_transcript_append (&t, MERLIN_LABEL ("sign:R"), big_r, 32);
        merlin_transcript_challenge (&t, MERLIN_LABEL ("sign:c"), wide, sizeof wide);
        crypto_core_ristretto255_scalar_reduce (k, wide);
        crypto_core_ristretto255_scalar_mul (kx, k, key);
        crypto_core_ristretto255_scalar_add (s, kx, r);
        memcpy (signature, big_r, 32);
        memcpy (signature + 32, s, 32);
        signature [63] |= 0x80;
        rc = 0;
    }
    sodium_memzero (wide, sizeof wide);
    sodium_memzero (r, sizeof r);
    sodium_memzero (kx, sizeof kx);
    sodium_memzero (s, sizeof s);
    merlin_rng_wipe (&rng);
    merlin_transcript_wipe (&t);
    return rc;
}

int
sr25519_sign (const sr25519_keypair_t *keypair, const uint8_t *msg, size_t msg_len,
              uint8_t signature [SR25519_SIGNATURE_SIZE])
{
    if (sodium_init () < 0)
        return -1;
    uint8_t random [32];
    randombytes_buf (random, sizeof random);
    int rc = sr25519_sign_with_randomness (keypair, msg, msg_len, random, signature);
    sodium_memzero (random, sizeof random);
    return rc;
}

//  The checks on the signature and key alone, and s*B (shared by every message candidate of
//  sr25519_verify).
static sr25519_result_t
s_precheck (const uint8_t public_key [32], size_t msg_len, const uint8_t signature [64],
            uint8_t sb [32])
{
    if (msg_len > SR25519_MESSAGE_MAX)
        return SR25519_ERR_LENGTH;
    if ((signature [63] & 0x80) == 0)
        return SR25519_ERR_MARKER;
    uint8_t s [32];
    memcpy (s, signature + 32, 32);
    s [31] &= 0x7f;
    if (!s_scalar_is_canonical (s))
        return SR25519_ERR_SCALAR;
    if (!sr25519_public_key_is_valid (public_key))
        return SR25519_ERR_PUBLIC_KEY;
    //  libsodium reports an identity product as -1 but still writes its encoding (32 zero
    //  bytes); say so explicitly, the identity is a legal intermediate.
    if (crypto_scalarmult_ristretto255_base (sb, s) != 0)
        memset (sb, 0, 32);
    return SR25519_OK;
}

//  1 if R == s*B - k*A for the message given in parts, else 0.
static int
s_equation (const uint8_t public_key [32], const uint8_t *const *parts, const size_t *lens,
            size_t n, const uint8_t signature [64], const uint8_t sb [32])
{
    merlin_transcript_t t;
    s_transcript (&t, parts, lens, n, public_key);
    merlin_transcript_append (&t, MERLIN_LABEL ("sign:R"), signature, 32);
    uint8_t wide [64], k [32];
    merlin_transcript_challenge (&t, MERLIN_LABEL ("sign:c"), wide, sizeof wide);
    crypto_core_ristretto255_scalar_reduce (k, wide);

    uint8_t ka [32], expected [32];
    if (crypto_scalarmult_ristretto255 (ka, k, public_key) != 0)
        memset (ka, 0, sizeof ka);
    if (crypto_core_ristretto255_sub (expected, sb, ka) != 0)
        return 0;
    return memcmp (expected, signature, 32) == 0;
}

sr25519_result_t
sr25519_verify_exact (const uint8_t public_key [SR25519_PUBLIC_SIZE], const uint8_t *msg,
                      size_t msg_len, const uint8_t signature [SR25519_SIGNATURE_SIZE])
{
    assert (public_key && (msg || msg_len == 0) && signature);
    uint8_t sb [32];
    sr25519_result_t rc = s_precheck (public_key, msg_len, signature, sb);
    if (rc != SR25519_OK)
        return rc;
    const uint8_t *parts [1] = { msg ? msg : (const uint8_t *) "" };
    size_t lens [1] = { msg_len };
    return s_equation (public_key, parts, lens, 1, signature, sb)? SR25519_OK
                                                                  : SR25519_ERR_EQUATION;
}

sr25519_result_t
sr25519_verify (const uint8_t public_key [SR25519_PUBLIC_SIZE], const uint8_t *msg,
                size_t msg_len, const uint8_t signature [SR25519_SIGNATURE_SIZE])
{
    assert (public_key && (msg || msg_len == 0) && signature);
    uint8_t sb [32];
    sr25519_result_t rc = s_precheck (public_key, msg_len, signature, sb);
    if (rc != SR25519_OK)
        return rc;              //  malformed key or signature: no wrapping can fix it
    const uint8_t *body = msg ? msg : (const uint8_t *) "";

    const uint8_t *exact [1] = { body };
    size_t exact_lens [1] = { msg_len };
    if (s_equation (public_key, exact, exact_lens, 1, signature, sb))
        return SR25519_OK;

    const size_t open_len = sizeof BYTES_OPEN - 1, close_len = sizeof BYTES_CLOSE - 1;
    const uint8_t *wrapped [3] = {
        (const uint8_t *) BYTES_OPEN, body, (const uint8_t *) BYTES_CLOSE
    };
    size_t wrapped_lens [3] = { open_len, msg_len, close_len };
    if (s_equation (public_key, wrapped, wrapped_lens, 3, signature, sb))
        return SR25519_OK;

    if (msg_len >= open_len + close_len
    &&  memcmp (body, BYTES_OPEN, open_len) == 0
    &&  memcmp (body + msg_len - close_len, BYTES_CLOSE, close_len) == 0) {
        const uint8_t *inner [1] = { body + open_len };
        size_t inner_lens [1] = { msg_len - open_len - close_len };
        if (s_equation (public_key, inner, inner_lens, 1, signature, sb))
            return SR25519_OK;
    }
    return SR25519_ERR_EQUATION;
}
