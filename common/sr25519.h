/*  sr25519: Schnorr signatures on ristretto255 exactly as schnorrkel (w3f/schnorrkel) makes
    them for Substrate, Polkadot and Bittensor hotkeys (signing context "substrate").

    Keys
      A keypair is derived from a 32-byte mini secret (what btcli stores as "secretSeed") by
      schnorrkel's ExpandEd25519 mode, the one Substrate and polkadot-js use:
        h = SHA-512 (mini); key = clamp (h[0..32]) / 8 (the cofactor); nonce = h[32..64];
        public = key * B (compressed ristretto255).
      A 64-byte schnorrkel secret key is key || nonce. Two encodings of the key half exist in
      the wild and both load here:
        canonical   key as a canonical little-endian scalar (schnorrkel SecretKey::to_bytes;
                    what sp_core, bittensor-wallet and py-sr25519-bindings store)
        ed25519     key * 8 as a 256-bit integer (SecretKey::to_ed25519_bytes; what
                    polkadot-js sr25519PairFromSeed returns and @polkadot/keyring stores)

    Signing (schnorrkel sign.rs + context.rs, Merlin over STROBE-128)
      t = Transcript ("SigningContext"); t.append ("", "substrate");
      t.append ("sign-bytes", msg); t.append ("proto-name", "Schnorr-sig");
      t.append ("sign:pk", public);
      r = reduce64 (t.rng.rekey ("signing", nonce).finalize (random32).fill (64));
      R = r * B; t.append ("sign:R", R); k = reduce64 (t.challenge ("sign:c", 64));
      s = k * key + r; signature = R || s with bit 7 of byte 63 set (the schnorrkel marker
      that tells sr25519 from ed25519 signatures).
      Secret scalars only meet libsodium's constant-time scalar and base-point routines, and
      every intermediate secret is wiped with sodium_memzero before returning.

    Verification
      Rejects: a signature without the marker bit; a non-canonical s (s >= l); a public key
      that is not a valid ristretto255 encoding or is the identity (schnorrkel accepts the
      identity key, against which anyone can forge; we do not); then checks
      R == s * B - k * A on the encodings. An invalid R can never equal an encoding we
      compute, so it is rejected by the comparison.

    The <Bytes> rule (sr25519_verify)
      polkadot-js signRaw (browser extensions, Talisman, polkadot{.js}) signs
      "<Bytes>" || msg || "</Bytes>" instead of msg, and bittensor-wallet's verify accepts
      both. sr25519_verify (pk, msg, sig) therefore accepts if, in this order:
        1. sig verifies over msg exactly, or
        2. sig verifies over "<Bytes>" || msg || "</Bytes>", or
        3. msg itself starts with "<Bytes>" and ends with "</Bytes>" (length >= 15) and sig
           verifies over the bytes between them.
      sr25519_verify_exact checks msg only.

    Every function is reentrant and thread-safe: there is no shared state (libsodium's
    sodium_init is called where needed and is itself thread-safe).                         */
#ifndef ZM_SR25519_H
#define ZM_SR25519_H

#include <stddef.h>
#include <stdint.h>

#define SR25519_SEED_SIZE       32
#define SR25519_PUBLIC_SIZE     32
#define SR25519_SECRET_SIZE     64
#define SR25519_SIGNATURE_SIZE  64

//  A keypair: secret = key scalar (canonical, little-endian) || nonce seed, and the public
//  key. A plain value so it can live on the stack; wipe it with sr25519_keypair_wipe.
typedef struct {
    uint8_t secret [SR25519_SECRET_SIZE];
    uint8_t public_key [SR25519_PUBLIC_SIZE];
} sr25519_keypair_t;

typedef enum {
    SR25519_OK = 0,
    SR25519_ERR_MARKER,         //  bit 7 of byte 63 is clear: not a schnorrkel signature
    SR25519_ERR_SCALAR,         //  s is not a canonical scalar (s >= l)
    SR25519_ERR_PUBLIC_KEY,     //  not a ristretto255 encoding, or the identity
    SR25519_ERR_EQUATION,       //  R != s*B - k*A: wrong key, message or signature
    SR25519_ERR_LENGTH          //  message longer than SR25519_MESSAGE_MAX
} sr25519_result_t;

//  Merlin frames a message with a 32-bit length; with the <Bytes> wrapping (15 bytes) the
//  longest message either function accepts is this. Longer ones are refused, not asserted.
#define SR25519_MESSAGE_MAX ((size_t) UINT32_MAX - 15)

//  Short reason for a result ("missing schnorrkel marker bit", ...). Never NULL.
const char *sr25519_strerror (sr25519_result_t result);

//  Derives the keypair of a mini secret (ExpandEd25519). Return 0, or -1 if libsodium could
//  not be initialised.
int sr25519_keypair_from_seed (sr25519_keypair_t *keypair, const uint8_t seed [SR25519_SEED_SIZE]);

//  Loads a 64-byte secret key in canonical form and derives its public key. Return 0, or -1
//  if the key half is not a canonical non-zero scalar.
int sr25519_keypair_from_secret (sr25519_keypair_t *keypair,
                                 const uint8_t secret [SR25519_SECRET_SIZE]);

//  Loads a 64-byte secret key in ed25519 form (key * 8, as polkadot-js stores it). Return 0,
//  or -1 if the key half is not 8 times a canonical non-zero scalar.
int sr25519_keypair_from_ed25519_secret (sr25519_keypair_t *keypair,
                                         const uint8_t secret [SR25519_SECRET_SIZE]);

//  Writes the ed25519 form (key * 8 || nonce) of keypair's secret key into out.
void sr25519_secret_to_ed25519 (const sr25519_keypair_t *keypair,
                                uint8_t out [SR25519_SECRET_SIZE]);

//  Wipes a keypair (sodium_memzero).
void sr25519_keypair_wipe (sr25519_keypair_t *keypair);

//  Signs msg (context "substrate") with fresh randomness from randombytes_buf.
//  Return 0, or -1 if msg is longer than SR25519_MESSAGE_MAX or the keypair's secret is not
//  a canonical scalar (reported rather than asserted since keys come from files).
int sr25519_sign (const sr25519_keypair_t *keypair, const uint8_t *msg, size_t msg_len,
                  uint8_t signature [SR25519_SIGNATURE_SIZE]);

//  Same, with the 32 bytes of external randomness given: for known-answer tests only. The
//  nonce stays secret even with fixed randomness (it also depends on the secret nonce seed
//  and the message), but production code calls sr25519_sign.
int sr25519_sign_with_randomness (const sr25519_keypair_t *keypair, const uint8_t *msg,
                                  size_t msg_len, const uint8_t random [32],
                                  uint8_t signature [SR25519_SIGNATURE_SIZE]);

//  Verifies sig over exactly msg (context "substrate"). Returns SR25519_OK or the reason.
sr25519_result_t sr25519_verify_exact (const uint8_t public_key [SR25519_PUBLIC_SIZE],
                                       const uint8_t *msg, size_t msg_len,
                                       const uint8_t signature [SR25519_SIGNATURE_SIZE]);

//  Verifies with the <Bytes> rule above. Returns SR25519_OK, or the reason the check over
//  msg exactly failed.
sr25519_result_t sr25519_verify (const uint8_t public_key [SR25519_PUBLIC_SIZE],
                                 const uint8_t *msg, size_t msg_len,
                                 const uint8_t signature [SR25519_SIGNATURE_SIZE]);

//  1 if public_key is a valid, non-identity ristretto255 encoding, else 0.
int sr25519_public_key_is_valid (const uint8_t public_key [SR25519_PUBLIC_SIZE]);

#endif
