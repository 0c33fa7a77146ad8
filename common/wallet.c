/*  Hotkey keyfiles: parse, check and load btcli's JSON; write the same layout (see wallet.h).

    The wallet owns its keypair; wallet_destroy wipes it. Every buffer that held secret text
    (the file bytes, jansson's string values, the JSON we serialise) is wiped with
    sodium_memzero before it is freed. Input is hostile: the size is bounded before reading,
    every field is type- and length-checked, and each rejection names its reason.         */
#include "common/wallet.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

struct _wallet_t {
    sr25519_keypair_t keypair;
    uint8_t seed [SR25519_SEED_SIZE];
    int has_seed;
    char ss58 [SS58_ADDRESS_SIZE];
};

static void *
s_fail (const char **reason_p, const char *reason)
{
    if (reason_p)
        *reason_p = reason;
    return NULL;
}

static int
s_fail_rc (const char **reason_p, const char *reason)
{
    s_fail (reason_p, reason);
    return -1;
}

//  The value of hex digit c in *value, without branches on c (it may be secret, as in
//  libsodium's sodium_hex2bin). Returns a mask: all ones if c is a hex digit, else 0.
static unsigned
s_hex_digit (unsigned char c, unsigned *value)
{
    unsigned num = (unsigned) c ^ 48u;                      //  '0'..'9' -> 0..9
    unsigned num_ok = (num - 10u) >> 8;                     //  num < 10
    unsigned alpha = ((unsigned) c & ~32u) - 55u;           //  'A'..'F', 'a'..'f' -> 10..15
    unsigned alpha_ok = ((alpha - 10u) ^ (alpha - 16u)) >> 8;   //  10 <= alpha < 16
    *value = ((num_ok & num) | (alpha_ok & alpha)) & 0xf;
    return num_ok | alpha_ok;
}

//  Decodes exactly len bytes of hex (optional "0x") from str. Return 0 or -1. Constant time
//  for a given length: it decodes secrets.
static int
s_hex_decode (const char *str, size_t str_len, uint8_t *out, size_t len)
{
    if (str_len >= 2 && str [0] == '0' && (str [1] == 'x' || str [1] == 'X')) {
        str += 2;
        str_len -= 2;
    }
    if (str_len != 2 * len)
        return -1;
    unsigned ok = ~0u;
    for (size_t i = 0; i < len; i++) {
        unsigned hi, lo;
        ok &= s_hex_digit ((unsigned char) str [2 * i], &hi);
        ok &= s_hex_digit ((unsigned char) str [2 * i + 1], &lo);
        out [i] = (uint8_t) ((hi << 4) | lo);
    }
    return (ok & 1)? 0: -1;
}

//  "0x" + hex of data into out (2 * len + 3 bytes), constant time (sodium_bin2hex).
static void
s_hex_encode (const uint8_t *data, size_t len, char *out)
{
    out [0] = '0';
    out [1] = 'x';
    sodium_bin2hex (out + 2, 2 * len + 1, data, len);
}

//  Overwrites a jansson string value in place: the value lives in memory jansson malloc'ed
//  for it, so writing through the const pointer is well defined.
static void
s_wipe_json_string (json_t *value)
{
    if (json_is_string (value))
        sodium_memzero ((char *) json_string_value (value), json_string_length (value));
}

static void
s_wipe_json_secrets (json_t *root)
{
    s_wipe_json_string (json_object_get (root, "secretSeed"));
    s_wipe_json_string (json_object_get (root, "privateKey"));
    s_wipe_json_string (json_object_get (root, "secretPhrase"));
}

static wallet_t *
s_wallet_new (void)
{
    wallet_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    return self;
}

static void
s_set_address (wallet_t *self)
{
    int rc = ss58_encode (self->keypair.public_key, SS58_DEFAULT_PREFIX, self->ss58,
                          sizeof self->ss58);
    assert (rc == 0);
    (void) rc;
}

//  Reads an optional string field: NULL if absent or null; *bad set if present with
//  another type.
static const char *
s_optional_string (json_t *root, const char *key, size_t *len, int *bad)
{
    json_t *v = json_object_get (root, key);
    if (!v || json_is_null (v))
        return NULL;
    if (!json_is_string (v)) {
        *bad = 1;
        return NULL;
    }
    *len = json_string_length (v);
    return json_string_value (v);
}

static int
s_is_encrypted (const char *data, size_t size)
{
    static const char *const markers [] = { "$NACL", "$BTWALLET", "$ANSIBLE_VAULT", "gAAAAA" };
    for (size_t i = 0; i < sizeof markers / sizeof markers [0]; i++) {
        size_t n = strlen (markers [i]);
        if (size >= n && memcmp (data, markers [i], n) == 0)
            return 1;
    }
    return 0;
}

//  Checks every reference to the public key present in root against public_key.
//  Return 0, or -1 with a reason.
static int
s_check_references (json_t *root, const uint8_t public_key [32], const char **reason_p)
{
    static const char *const hex_keys [] = { "publicKey", "accountId" };
    int seen = 0, bad = 0;
    for (size_t i = 0; i < 2; i++) {
        size_t len = 0;
        const char *hex = s_optional_string (root, hex_keys [i], &len, &bad);
        if (bad)
            return s_fail_rc (reason_p, i == 0? "publicKey is not a string"
                                              : "accountId is not a string");
        if (!hex)
            continue;
        uint8_t key [32];
        if (s_hex_decode (hex, len, key, 32) != 0)
            return s_fail_rc (reason_p, i == 0? "publicKey is not 32 bytes of hex"
                                              : "accountId is not 32 bytes of hex");
        if (memcmp (key, public_key, 32) != 0)
            return s_fail_rc (reason_p, i == 0? "publicKey does not match the secret key"
                                              : "accountId does not match the secret key");
        seen++;
    }
    size_t len = 0;
    const char *address = s_optional_string (root, "ss58Address", &len, &bad);
    if (bad)
        return s_fail_rc (reason_p, "ss58Address is not a string");
    if (address) {
        uint8_t key [32];
        if (strlen (address) != len || ss58_decode (address, key, NULL, NULL) != 0)
            return s_fail_rc (reason_p, "ss58Address is not a valid SS58 address");
        if (memcmp (key, public_key, 32) != 0)
            return s_fail_rc (reason_p, "ss58Address does not match the secret key");
        seen++;
    }
    if (!seen)
        return s_fail_rc (reason_p, "no publicKey, accountId or ss58Address to check against");
    return 0;
}

//  The keypair of a 64-byte privateKey, in whichever encoding names an expected public key
//  (first reference present in the file). Return 0 or -1.
static int
s_keypair_from_private (json_t *root, const uint8_t secret [64], sr25519_keypair_t *keypair)
{
    sr25519_keypair_t a, b;
    int ok_a = sr25519_keypair_from_secret (&a, secret) == 0;
    int ok_b = sr25519_keypair_from_ed25519_secret (&b, secret) == 0;
    //  Pick by the references; s_check_references then verifies all of them.
    int pick = 0;
    if (ok_a && s_check_references (root, a.public_key, NULL) == 0)
        pick = 1;
    else
    if (ok_b && s_check_references (root, b.public_key, NULL) == 0)
        pick = 2;
    else
    if (ok_a)
        pick = 1;               //  let the caller report the mismatch
    else
    if (ok_b)
        pick = 2;
    if (pick)
        *keypair = pick == 1? a: b;
    sr25519_keypair_wipe (&a);
    sr25519_keypair_wipe (&b);
    return pick? 0: -1;
}

static wallet_t *
s_parse_object (json_t *root, const char **reason_p)
{
    if (!json_is_object (root))
        return s_fail (reason_p, "keyfile is not a JSON object");

    int bad = 0;
    size_t seed_len = 0, priv_len = 0, phrase_len = 0;
    const char *seed_hex = s_optional_string (root, "secretSeed", &seed_len, &bad);
    if (bad)
        return s_fail (reason_p, "secretSeed is not a string");
    const char *priv_hex = s_optional_string (root, "privateKey", &priv_len, &bad);
    if (bad)
        return s_fail (reason_p, "privateKey is not a string");
    const char *phrase = s_optional_string (root, "secretPhrase", &phrase_len, &bad);
    if (bad)
        return s_fail (reason_p, "secretPhrase is not a string");

    uint8_t secret [64];
    wallet_t *self = s_wallet_new ();
    const char *reason = NULL;
    if (seed_hex) {
        if (s_hex_decode (seed_hex, seed_len, self->seed, 32) != 0)
            reason = "secretSeed is not 32 bytes of hex";
        else
        if (sr25519_keypair_from_seed (&self->keypair, self->seed) != 0)
            reason = "cannot derive a keypair from secretSeed";
        else {
            self->has_seed = 1;
            if (priv_hex) {
                uint8_t ed_form [64];
                sr25519_secret_to_ed25519 (&self->keypair, ed_form);
                if (s_hex_decode (priv_hex, priv_len, secret, 64) != 0)
                    reason = "privateKey is not 64 bytes of hex";
                else
                if (sodium_memcmp (secret, self->keypair.secret, 64) != 0
                &&  sodium_memcmp (secret, ed_form, 64) != 0)
                    reason = "privateKey does not match secretSeed";
                sodium_memzero (ed_form, sizeof ed_form);
            }
        }
    }
    else
    if (priv_hex) {
        if (s_hex_decode (priv_hex, priv_len, secret, 64) != 0)
            reason = "privateKey is not 64 bytes of hex";
        else
        if (s_keypair_from_private (root, secret, &self->keypair) != 0)
            reason = "privateKey is not a valid sr25519 secret key";
    }
    else
        reason = phrase? "only secretPhrase present: mnemonic keyfiles are not supported"
                       : "no secretSeed or privateKey";
    sodium_memzero (secret, sizeof secret);

    if (!reason)
        s_check_references (root, self->keypair.public_key, &reason);
    if (reason) {
        wallet_destroy (&self);
        return s_fail (reason_p, reason);
    }
    s_set_address (self);
    return self;
}

wallet_t *
wallet_parse (const char *data, size_t size, const char **reason_p)
{
    assert (data || size == 0);
    if (size > WALLET_FILE_MAX)
        return s_fail (reason_p, "keyfile too large");
    if (size == 0)
        return s_fail (reason_p, "keyfile is empty");
    if (s_is_encrypted (data, size))
        return s_fail (reason_p, "keyfile is encrypted: hotkeys must be stored unencrypted");
    if (sodium_init () < 0)
        return s_fail (reason_p, "libsodium initialisation failed");

    json_error_t error;
    json_t *root = json_loadb (data, size, JSON_REJECT_DUPLICATES, &error);
    if (!root)
        return s_fail (reason_p, "keyfile is not valid JSON");
    wallet_t *self = s_parse_object (root, reason_p);
    s_wipe_json_secrets (root);
    json_decref (root);
    return self;
}

wallet_t *
wallet_load_file (const char *path, const char **reason_p)
{
    assert (path);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return s_fail (reason_p, errno == ENOENT? "keyfile not found": "cannot open keyfile");
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return s_fail (reason_p, "keyfile is not a regular file");
    }
    if (st.st_size > WALLET_FILE_MAX) {
        close (fd);
        return s_fail (reason_p, "keyfile too large");
    }
    //  Read at most one byte more than allowed, in case the file grew since fstat.
    char *buf = malloc (WALLET_FILE_MAX + 1);
    if (!buf)
        abort ();
    size_t size = 0;
    int failed = 0;
    while (size < WALLET_FILE_MAX + 1) {
        ssize_t n = read (fd, buf + size, WALLET_FILE_MAX + 1 - size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            failed = 1;
            break;
        }
        if (n == 0)
            break;
        size += (size_t) n;
    }
    close (fd);
    wallet_t *self = NULL;
    if (failed)
        s_fail (reason_p, "cannot read keyfile");
    else
        self = wallet_parse (buf, size, reason_p);
    sodium_memzero (buf, size);
    free (buf);
    return self;
}

static int
s_valid_component (const char *name)
{
    return name && *name && !strchr (name, '/') && strcmp (name, ".") != 0
        && strcmp (name, "..") != 0;
}

int
wallet_hotkey_path (const char *wallets_path, const char *name, const char *hotkey,
                    char *out, size_t out_size, const char **reason_p)
{
    assert (out);
    if (!wallets_path || !*wallets_path)
        return s_fail_rc (reason_p, "empty wallet path");
    if (!s_valid_component (name))
        return s_fail_rc (reason_p, "invalid wallet name");
    if (!s_valid_component (hotkey))
        return s_fail_rc (reason_p, "invalid hotkey name");
    const char *home = "";
    if (wallets_path [0] == '~' && (wallets_path [1] == '/' || wallets_path [1] == '\0')) {
        home = getenv ("HOME");
        if (!home || !*home)
            return s_fail_rc (reason_p, "wallet path starts with ~ but HOME is not set");
        wallets_path++;
    }
    int n = snprintf (out, out_size, "%s%s/%s/hotkeys/%s", home, wallets_path, name, hotkey);
    if (n < 0 || (size_t) n >= out_size)
        return s_fail_rc (reason_p, "wallet path too long");
    return 0;
}

wallet_t *
wallet_load (const char *wallets_path, const char *name, const char *hotkey,
             const char **reason_p)
{
    char path [PATH_MAX];
    if (wallet_hotkey_path (wallets_path, name, hotkey, path, sizeof path, reason_p) != 0)
        return NULL;
    return wallet_load_file (path, reason_p);
}

wallet_t *
wallet_new_from_seed (const uint8_t seed [SR25519_SEED_SIZE])
{
    assert (seed);
    wallet_t *self = s_wallet_new ();
    if (sr25519_keypair_from_seed (&self->keypair, seed) != 0) {
        wallet_destroy (&self);
        return NULL;
    }
    memcpy (self->seed, seed, SR25519_SEED_SIZE);
    self->has_seed = 1;
    s_set_address (self);
    return self;
}

wallet_t *
wallet_new_dev (const char *name)
{
    assert (name);
    size_t len = strlen (name);
    if (len == 0 || len > WALLET_DEV_NAME_MAX || sodium_init () < 0)
        return NULL;
    uint8_t seed [SR25519_SEED_SIZE];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, sizeof seed);
    crypto_generichash_update (&st, (const uint8_t *) "zipmine-dev:", 12);
    crypto_generichash_update (&st, (const uint8_t *) name, len);
    crypto_generichash_final (&st, seed, sizeof seed);
    wallet_t *self = wallet_new_from_seed (seed);
    sodium_memzero (seed, sizeof seed);
    sodium_memzero (&st, sizeof st);
    return self;
}

//  Serialises self as btcli's keyfile JSON. Caller wipes and frees the returned string.
static char *
s_to_json (const wallet_t *self)
{
    char public_hex [2 + 64 + 1], private_hex [2 + 128 + 1], seed_hex [2 + 64 + 1];
    s_hex_encode (self->keypair.public_key, 32, public_hex);
    s_hex_encode (self->keypair.secret, 64, private_hex);
    s_hex_encode (self->seed, 32, seed_hex);
    json_t *root = json_object ();
    if (!root)
        abort ();
    json_object_set_new (root, "accountId", json_string (public_hex));
    json_object_set_new (root, "publicKey", json_string (public_hex));
    json_object_set_new (root, "privateKey", json_string (private_hex));
    json_object_set_new (root, "secretPhrase", json_null ());
    json_object_set_new (root, "secretSeed", self->has_seed? json_string (seed_hex): json_null ());
    json_object_set_new (root, "ss58Address", json_string (self->ss58));
    char *text = json_dumps (root, JSON_SORT_KEYS);
    s_wipe_json_secrets (root);
    json_decref (root);
    sodium_memzero (private_hex, sizeof private_hex);
    sodium_memzero (seed_hex, sizeof seed_hex);
    if (!text)
        abort ();
    return text;
}

int
wallet_save_file (const wallet_t *self, const char *path, const char **reason_p)
{
    assert (self && path);
    char tmp [PATH_MAX];
    int n = snprintf (tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid ());
    if (n < 0 || (size_t) n >= sizeof tmp)
        return s_fail_rc (reason_p, "keyfile path too long");
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return s_fail_rc (reason_p, "cannot create keyfile");
    char *text = s_to_json (self);
    size_t len = strlen (text), done = 0;
    int failed = 0;
    while (done < len) {
        ssize_t w = write (fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            failed = 1;
            break;
        }
        done += (size_t) w;
    }
    sodium_memzero (text, len);
    free (text);
    if (!failed && fsync (fd) != 0)
        failed = 1;
    if (close (fd) != 0)
        failed = 1;
    if (failed || rename (tmp, path) != 0) {
        unlink (tmp);
        return s_fail_rc (reason_p, "cannot write keyfile");
    }
    return 0;
}

//  mkdir -p for the directory part of path (mode 0700 for new directories).
static int
s_make_dirs (char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir (path, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

int
wallet_write_hotkey (const wallet_t *self, const char *wallets_path, const char *name,
                     const char *hotkey, const char **reason_p)
{
    assert (self);
    char path [PATH_MAX];
    if (wallet_hotkey_path (wallets_path, name, hotkey, path, sizeof path, reason_p) != 0)
        return -1;
    if (s_make_dirs (path) != 0)
        return s_fail_rc (reason_p, "cannot create wallet directories");
    return wallet_save_file (self, path, reason_p);
}

void
wallet_destroy (wallet_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_memzero (*self_p, sizeof **self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

const uint8_t *
wallet_public_key (const wallet_t *self)
{
    assert (self);
    return self->keypair.public_key;
}

const char *
wallet_ss58 (const wallet_t *self)
{
    assert (self);
    return self->ss58;
}

int
wallet_address (const wallet_t *self, unsigned prefix, char *out, size_t out_size)
{
    assert (self && out);
    return ss58_encode (self->keypair.public_key, prefix, out, out_size);
}

int
wallet_has_seed (const wallet_t *self)
{
    assert (self);
    return self->has_seed;
}

const sr25519_keypair_t *
wallet_keypair (const wallet_t *self)
{
    assert (self);
    return &self->keypair;
}

int
wallet_sign (const wallet_t *self, const uint8_t *msg, size_t msg_len,
             uint8_t signature [SR25519_SIGNATURE_SIZE])
{
    assert (self);
    return sr25519_sign (&self->keypair, msg, msg_len, signature);
}
