/*  Bittensor wallet hotkeys: load the JSON keyfile btcli writes, sign with it, and create
    deterministic development hotkeys for local networks.

    File layout (btcli / bittensor-wallet): <wallet.path>/<wallet.name>/hotkeys/<wallet.hotkey>
    holding a JSON object such as
        {"accountId": "0x<32 bytes>", "publicKey": "0x<32 bytes>",
         "privateKey": "0x<64 bytes>", "secretPhrase": "<mnemonic>" | null,
         "secretSeed": "0x<32 bytes>", "ss58Address": "5..."}
    Loading rules:
      - the file must be a regular file of at most WALLET_FILE_MAX bytes (checked before
        reading); encrypted keyfiles ("$NACL", "$BTWALLET", Ansible vault, legacy Fernet) are
        refused with a reason: hotkeys must be stored unencrypted, as btcli does by default;
      - the keypair comes from secretSeed (the 32-byte mini secret, ExpandEd25519) when it is
        present and not null; otherwise from privateKey, a 64-byte schnorrkel secret key in
        either encoding (canonical, as bittensor-wallet/sp_core store it, or ed25519 form, as
        polkadot-js stores it; see sr25519.h): the encoding whose public key matches the
        file's is used. secretPhrase alone is refused (no BIP39 derivation here);
      - when both secretSeed and privateKey are present they must agree;
      - at least one of publicKey, accountId, ss58Address must be present, and every one
        present must name the derived public key (ss58Address under any valid prefix);
        otherwise the file is refused.
    Hex values take an optional "0x" prefix. Secrets read from the file are wiped from every
    buffer this module owns (the read buffer and jansson's copies of the secret strings).

    Development keys (never for a public network): wallet_new_dev (name) derives the mini
    secret as BLAKE2b-256 ("zipmine-dev:" || name), e.g. name "alice" or "validator-1".
    These are NOT Substrate's "//Alice" dev accounts (which use hard derivation from the
    well-known dev phrase); they are only reproducible across zipmine processes.          */
#ifndef ZM_WALLET_H
#define ZM_WALLET_H

#include <stddef.h>
#include <stdint.h>

#include "common/sr25519.h"
#include "common/ss58.h"

#define WALLET_FILE_MAX     (64 * 1024)
#define WALLET_DEV_NAME_MAX 256

typedef struct _wallet_t wallet_t;

//  Parses a hotkey keyfile from size bytes at data (need not be NUL-terminated). Returns a
//  wallet, or NULL with *reason_p (if given) set to a static reason.  //  Caller owns
wallet_t *wallet_parse (const char *data, size_t size, const char **reason_p);

//  Reads and parses the keyfile at path. NULL with a reason on failure.  //  Caller owns
wallet_t *wallet_load_file (const char *path, const char **reason_p);

//  Builds <wallets_path>/<name>/hotkeys/<hotkey> into out, expanding a leading "~/" in
//  wallets_path from $HOME. name and hotkey must be single path components (non-empty, no
//  '/', not "." or ".."). Return 0, or -1 with a reason.
int wallet_hotkey_path (const char *wallets_path, const char *name, const char *hotkey,
                        char *out, size_t out_size, const char **reason_p);

//  wallet_hotkey_path + wallet_load_file.  //  Caller owns
wallet_t *wallet_load (const char *wallets_path, const char *name, const char *hotkey,
                       const char **reason_p);

//  A wallet for a 32-byte mini secret. NULL only if libsodium fails.  //  Caller owns
wallet_t *wallet_new_from_seed (const uint8_t seed [SR25519_SEED_SIZE]);

//  The development wallet for name (1..WALLET_DEV_NAME_MAX bytes), see above. NULL if name
//  is empty or too long.  //  Caller owns
wallet_t *wallet_new_dev (const char *name);

//  Writes self as a btcli-layout keyfile (mode 0600, written to a temporary file and
//  renamed) at path. privateKey is written in canonical form, as bittensor-wallet does;
//  secretSeed is written when self has one (else null). Return 0, or -1 with a reason.
int wallet_save_file (const wallet_t *self, const char *path, const char **reason_p);

//  Creates <wallets_path>/<name>/hotkeys (mode 0700) as needed and saves self there as
//  <hotkey>. Return 0, or -1 with a reason.
int wallet_write_hotkey (const wallet_t *self, const char *wallets_path, const char *name,
                         const char *hotkey, const char **reason_p);

//  Wipes the secret key and frees the wallet; nulls *self_p. No-op on NULL.
void wallet_destroy (wallet_t **self_p);

//  The 32-byte public key (account id).
const uint8_t *wallet_public_key (const wallet_t *self);

//  The SS58 address under SS58_DEFAULT_PREFIX (42).
const char *wallet_ss58 (const wallet_t *self);

//  The SS58 address under another prefix (e.g. the configured ss58.prefix) into out
//  (SS58_ADDRESS_SIZE bytes suffice). Return 0, or -1 if the prefix is not valid or out is
//  too small.
int wallet_address (const wallet_t *self, unsigned prefix, char *out, size_t out_size);

//  1 if the wallet was made from a mini secret (secretSeed), else 0.
int wallet_has_seed (const wallet_t *self);

//  The keypair, for callers that sign with sr25519_* directly.
const sr25519_keypair_t *wallet_keypair (const wallet_t *self);

//  Signs msg with the hotkey (sr25519, context "substrate"). Return 0 or -1.
int wallet_sign (const wallet_t *self, const uint8_t *msg, size_t msg_len,
                 uint8_t signature [SR25519_SIGNATURE_SIZE]);

#endif
