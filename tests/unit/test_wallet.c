/*  Unit tests for common/wallet: btcli keyfile parsing in every accepted shape (seed,
    canonical and polkadot-js privateKey, optional 0x, null fields), every rejection reason
    named in wallet.h (mismatched publicKey/accountId/ss58Address/privateKey, missing
    references, bad hex, wrong types, encrypted, oversized, not JSON, duplicate keys), path
    building with ~ and hostile names, development keys (determinism, the documented
    derivation), and write-then-load of the btcli layout on disk (file and dir modes).    */
#include "tests/testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/wallet.h"

static char s_tmp [256];

static void
s_hex (const uint8_t *data, size_t len, char *out)
{
    out [0] = '0';
    out [1] = 'x';
    for (size_t i = 0; i < len; i++)
        sprintf (out + 2 + 2 * i, "%02x", data [i]);
}

//  Keyfile texts for one key, in all encodings.
typedef struct {
    char seed [67], pub [67], priv [131], priv_ed [131], ss58 [SS58_ADDRESS_SIZE];
    uint8_t public_key [32];
} key_texts_t;

static void
s_key_texts (const char *dev_name, key_texts_t *k)
{
    uint8_t seed [32];
    crypto_generichash (seed, 32, (const uint8_t *) dev_name, strlen (dev_name), NULL, 0);
    sr25519_keypair_t kp;
    CHECK_EQ_INT (sr25519_keypair_from_seed (&kp, seed), 0);
    uint8_t ed [64];
    sr25519_secret_to_ed25519 (&kp, ed);
    s_hex (seed, 32, k->seed);
    s_hex (kp.public_key, 32, k->pub);
    s_hex (kp.secret, 64, k->priv);
    s_hex (ed, 64, k->priv_ed);
    memcpy (k->public_key, kp.public_key, 32);
    CHECK_EQ_INT (ss58_encode (kp.public_key, 42, k->ss58, sizeof k->ss58), 0);
}

static wallet_t *
s_parse (const char *json, const char **reason)
{
    *reason = NULL;
    return wallet_parse (json, strlen (json), reason);
}

static void
s_expect_ok (const char *json, const key_texts_t *k, int has_seed)
{
    const char *reason;
    wallet_t *w = s_parse (json, &reason);
    if (!w)
        fprintf (stderr, "unexpected rejection (%s) of %s\n", reason, json);
    CHECK (w);
    CHECK_EQ_MEM (wallet_public_key (w), k->public_key, 32);
    CHECK_EQ_STR (wallet_ss58 (w), k->ss58);
    CHECK_EQ_INT (wallet_has_seed (w), has_seed);
    uint8_t sig [64];
    CHECK_EQ_INT (wallet_sign (w, (const uint8_t *) "m", 1, sig), 0);
    CHECK_EQ_INT (sr25519_verify (k->public_key, (const uint8_t *) "m", 1, sig), SR25519_OK);
    wallet_destroy (&w);
    CHECK (w == NULL);
}

static void
s_expect_reason (const char *json, const char *expect)
{
    const char *reason;
    wallet_t *w = s_parse (json, &reason);
    if (w)
        fprintf (stderr, "unexpected acceptance of %s\n", json);
    CHECK (w == NULL);
    CHECK_EQ_STR (reason, expect);
}

static void
s_test_parse (void)
{
    key_texts_t a, b;
    s_key_texts ("key-a", &a);
    s_key_texts ("key-b", &b);
    char json [2048];

    //  The full btcli layout.
    snprintf (json, sizeof json,
              "{\"accountId\": \"%s\", \"publicKey\": \"%s\", \"privateKey\": \"%s\", "
              "\"secretPhrase\": \"word word word\", \"secretSeed\": \"%s\", \"ss58Address\": \"%s\"}",
              a.pub, a.pub, a.priv, a.seed, a.ss58);
    s_expect_ok (json, &a, 1);
    //  The same with polkadot-js's privateKey encoding.
    snprintf (json, sizeof json,
              "{\"accountId\": \"%s\", \"publicKey\": \"%s\", \"privateKey\": \"%s\", "
              "\"secretPhrase\": null, \"secretSeed\": \"%s\", \"ss58Address\": \"%s\"}",
              a.pub, a.pub, a.priv_ed, a.seed, a.ss58);
    s_expect_ok (json, &a, 1);
    //  Seed only, checked against the address; no 0x; upper-case hex.
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"ss58Address\": \"%s\"}", a.seed + 2, a.ss58);
    s_expect_ok (json, &a, 1);
    char upper [67];
    strcpy (upper, a.seed);
    for (char *p = upper + 2; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char) (*p - 'a' + 'A');
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\"}", upper, a.pub);
    s_expect_ok (json, &a, 1);
    //  privateKey only, both encodings; a null secretSeed is absent.
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"publicKey\": \"%s\"}", a.priv, a.pub);
    s_expect_ok (json, &a, 0);
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"accountId\": \"%s\", \"secretSeed\": null}",
              a.priv_ed, a.pub);
    s_expect_ok (json, &a, 0);
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"ss58Address\": \"%s\"}", a.priv_ed, a.ss58);
    s_expect_ok (json, &a, 0);

    //  Mismatches.
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\"}", a.seed, b.pub);
    s_expect_reason (json, "publicKey does not match the secret key");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\", \"accountId\": \"%s\"}",
              a.seed, a.pub, b.pub);
    s_expect_reason (json, "accountId does not match the secret key");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\", \"ss58Address\": \"%s\"}",
              a.seed, a.pub, b.ss58);
    s_expect_reason (json, "ss58Address does not match the secret key");
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"publicKey\": \"%s\"}", a.priv, b.pub);
    s_expect_reason (json, "publicKey does not match the secret key");
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"ss58Address\": \"%s\"}", a.priv_ed, b.ss58);
    s_expect_reason (json, "ss58Address does not match the secret key");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"privateKey\": \"%s\", \"publicKey\": \"%s\"}",
              a.seed, b.priv, a.pub);
    s_expect_reason (json, "privateKey does not match secretSeed");
    char bad_address [SS58_ADDRESS_SIZE];
    strcpy (bad_address, a.ss58);
    bad_address [10] = bad_address [10] == 'z'? 'y': 'z';
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"ss58Address\": \"%s\"}", a.seed, bad_address);
    s_expect_reason (json, "ss58Address is not a valid SS58 address");

    //  Missing material.
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\"}", a.seed);
    s_expect_reason (json, "no publicKey, accountId or ss58Address to check against");
    snprintf (json, sizeof json, "{\"publicKey\": \"%s\", \"ss58Address\": \"%s\"}", a.pub, a.ss58);
    s_expect_reason (json, "no secretSeed or privateKey");
    snprintf (json, sizeof json, "{\"secretPhrase\": \"bottom drive obey lake\", \"publicKey\": \"%s\"}", a.pub);
    s_expect_reason (json, "only secretPhrase present: mnemonic keyfiles are not supported");
    s_expect_reason ("{}", "no secretSeed or privateKey");

    //  Bad hex and lengths.
    snprintf (json, sizeof json, "{\"secretSeed\": \"%.65s\", \"publicKey\": \"%s\"}", a.seed, a.pub);
    s_expect_reason (json, "secretSeed is not 32 bytes of hex");
    char bad_seed [67];
    strcpy (bad_seed, a.seed);
    bad_seed [30] = 'g';
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\"}", bad_seed, a.pub);
    s_expect_reason (json, "secretSeed is not 32 bytes of hex");
    //  Every character next to a hex range in ASCII is refused.
    static const char not_hex [] = "/:@G`g \x7f";
    for (size_t i = 0; i < sizeof not_hex - 1; i++) {
        strcpy (bad_seed, a.seed);
        bad_seed [2 + 7 * i] = not_hex [i];
        snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\"}",
                  bad_seed, a.pub);
        s_expect_reason (json, "secretSeed is not 32 bytes of hex");
    }
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s00\", \"publicKey\": \"%s\"}", a.seed, a.pub);
    s_expect_reason (json, "secretSeed is not 32 bytes of hex");
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"publicKey\": \"%s\"}", a.seed, a.pub);
    s_expect_reason (json, "privateKey is not 64 bytes of hex");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%.60s\"}", a.seed, a.pub);
    s_expect_reason (json, "publicKey is not 32 bytes of hex");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"accountId\": \"0x\"}", a.seed);
    s_expect_reason (json, "accountId is not 32 bytes of hex");
    //  A privateKey whose key half is no scalar in either encoding.
    char junk [131];
    memset (junk, 'f', 130);
    junk [130] = '\0';
    junk [0] = '0';
    junk [1] = 'x';
    snprintf (json, sizeof json, "{\"privateKey\": \"%s\", \"publicKey\": \"%s\"}", junk, a.pub);
    s_expect_reason (json, "privateKey is not a valid sr25519 secret key");

    //  Types and syntax.
    snprintf (json, sizeof json, "{\"secretSeed\": 12, \"publicKey\": \"%s\"}", a.pub);
    s_expect_reason (json, "secretSeed is not a string");
    snprintf (json, sizeof json, "{\"privateKey\": [], \"publicKey\": \"%s\"}", a.pub);
    s_expect_reason (json, "privateKey is not a string");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": true}", a.seed);
    s_expect_reason (json, "publicKey is not a string");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"ss58Address\": {}}", a.seed);
    s_expect_reason (json, "ss58Address is not a string");
    snprintf (json, sizeof json, "{\"secretPhrase\": 1, \"secretSeed\": \"%s\"}", a.seed);
    s_expect_reason (json, "secretPhrase is not a string");
    s_expect_reason ("[1, 2]", "keyfile is not a JSON object");
    s_expect_reason ("{\"secretSeed\": ", "keyfile is not valid JSON");
    s_expect_reason ("not json", "keyfile is not valid JSON");
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"secretSeed\": \"%s\", \"publicKey\": \"%s\"}",
              a.seed, b.seed, a.pub);
    s_expect_reason (json, "keyfile is not valid JSON");
    //  An embedded NUL in the address is not accepted (jansson refuses \u0000).
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"ss58Address\": \"%s\\u0000x\"}", a.seed, a.ss58);
    s_expect_reason (json, "keyfile is not valid JSON");
    s_expect_reason ("$NACL\x01\x02\x03", "keyfile is encrypted: hotkeys must be stored unencrypted");
    s_expect_reason ("$BTWALLET...", "keyfile is encrypted: hotkeys must be stored unencrypted");
    const char *reason = NULL;
    CHECK (wallet_parse ("", 0, &reason) == NULL);
    CHECK_EQ_STR (reason, "keyfile is empty");

    //  Size bound, checked before parsing.
    size_t big = WALLET_FILE_MAX + 1;
    char *huge = malloc (big);
    CHECK (huge);
    memset (huge, ' ', big);
    huge [0] = '{';
    huge [big - 1] = '}';
    CHECK (wallet_parse (huge, big, &reason) == NULL);
    CHECK_EQ_STR (reason, "keyfile too large");
    //  Padding up to the limit is fine.
    snprintf (json, sizeof json, "{\"secretSeed\": \"%s\", \"publicKey\": \"%s\"}", a.seed, a.pub);
    memset (huge, ' ', WALLET_FILE_MAX);
    memcpy (huge, json, strlen (json));
    wallet_t *w = wallet_parse (huge, WALLET_FILE_MAX, &reason);
    CHECK (w);
    wallet_destroy (&w);
    wallet_destroy (&w);            //  no-op on NULL

    //  And from disk: an oversized file is refused by its size.
    char path [512];
    snprintf (path, sizeof path, "%s/huge", s_tmp);
    FILE *f = fopen (path, "wb");
    CHECK (f);
    memset (huge, ' ', big);
    CHECK_EQ_INT (fwrite (huge, 1, big, f), big);
    fclose (f);
    CHECK (wallet_load_file (path, &reason) == NULL);
    CHECK_EQ_STR (reason, "keyfile too large");
    free (huge);
    snprintf (path, sizeof path, "%s/absent", s_tmp);
    CHECK (wallet_load_file (path, &reason) == NULL);
    CHECK_EQ_STR (reason, "keyfile not found");
    CHECK (wallet_load_file (s_tmp, &reason) == NULL);
    CHECK_EQ_STR (reason, "keyfile is not a regular file");
}

static void
s_test_paths (void)
{
    char out [512];
    const char *reason = NULL;
    CHECK_EQ_INT (wallet_hotkey_path ("/w", "cold", "hot", out, sizeof out, &reason), 0);
    CHECK_EQ_STR (out, "/w/cold/hotkeys/hot");
    CHECK_EQ_INT (setenv ("HOME", "/home/miner", 1), 0);
    CHECK_EQ_INT (wallet_hotkey_path ("~/.bittensor/wallets", "default", "default", out,
                                      sizeof out, NULL), 0);
    CHECK_EQ_STR (out, "/home/miner/.bittensor/wallets/default/hotkeys/default");
    CHECK_EQ_INT (wallet_hotkey_path ("~", "a", "b", out, sizeof out, NULL), 0);
    CHECK_EQ_STR (out, "/home/miner/a/hotkeys/b");
    //  "~user" is not expanded (only ~ and ~/).
    CHECK_EQ_INT (wallet_hotkey_path ("~x/w", "a", "b", out, sizeof out, NULL), 0);
    CHECK_EQ_STR (out, "~x/w/a/hotkeys/b");
    CHECK_EQ_INT (unsetenv ("HOME"), 0);
    CHECK_EQ_INT (wallet_hotkey_path ("~/w", "a", "b", out, sizeof out, &reason), -1);
    CHECK_EQ_STR (reason, "wallet path starts with ~ but HOME is not set");

    static const char *const bad [] = { "", ".", "..", "a/b", "../etc", "/abs" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        CHECK_EQ_INT (wallet_hotkey_path ("/w", bad [i], "hot", out, sizeof out, &reason), -1);
        CHECK_EQ_STR (reason, "invalid wallet name");
        CHECK_EQ_INT (wallet_hotkey_path ("/w", "cold", bad [i], out, sizeof out, &reason), -1);
        CHECK_EQ_STR (reason, "invalid hotkey name");
    }
    CHECK_EQ_INT (wallet_hotkey_path ("", "a", "b", out, sizeof out, &reason), -1);
    CHECK_EQ_STR (reason, "empty wallet path");
    char small [12];
    CHECK_EQ_INT (wallet_hotkey_path ("/wallets", "a", "b", small, sizeof small, &reason), -1);
    CHECK_EQ_STR (reason, "wallet path too long");
    CHECK (wallet_load ("/w", "..", "b", &reason) == NULL);
    CHECK_EQ_STR (reason, "invalid wallet name");
}

static void
s_test_dev_and_disk (void)
{
    wallet_t *alice = wallet_new_dev ("alice");
    wallet_t *alice2 = wallet_new_dev ("alice");
    wallet_t *bob = wallet_new_dev ("bob");
    CHECK (alice && alice2 && bob);
    CHECK_EQ_MEM (wallet_public_key (alice), wallet_public_key (alice2), 32);
    CHECK (memcmp (wallet_public_key (alice), wallet_public_key (bob), 32) != 0);
    CHECK (wallet_has_seed (alice));
    char address [SS58_ADDRESS_SIZE];
    CHECK_EQ_INT (wallet_address (alice, 42, address, sizeof address), 0);
    CHECK_EQ_STR (address, wallet_ss58 (alice));
    CHECK_EQ_INT (wallet_address (alice, 1000, address, sizeof address), 0);
    uint8_t decoded [32];
    unsigned prefix = 0;
    CHECK_EQ_INT (ss58_decode (address, decoded, &prefix, NULL), 0);
    CHECK_EQ_INT (prefix, 1000);
    CHECK_EQ_MEM (decoded, wallet_public_key (alice), 32);
    CHECK_EQ_INT (wallet_address (alice, 46, address, sizeof address), -1);
    //  The documented derivation: mini secret = BLAKE2b-256 ("zipmine-dev:alice").
    uint8_t seed [32];
    crypto_generichash (seed, 32, (const uint8_t *) "zipmine-dev:alice", 17, NULL, 0);
    wallet_t *direct = wallet_new_from_seed (seed);
    CHECK_EQ_MEM (wallet_public_key (direct), wallet_public_key (alice), 32);
    CHECK_EQ_MEM (wallet_keypair (direct)->secret, wallet_keypair (alice)->secret, 64);
    wallet_destroy (&direct);
    CHECK (wallet_new_dev ("") == NULL);
    char long_name [WALLET_DEV_NAME_MAX + 2];
    memset (long_name, 'n', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = '\0';
    CHECK (wallet_new_dev (long_name) == NULL);
    long_name [WALLET_DEV_NAME_MAX] = '\0';
    wallet_t *max = wallet_new_dev (long_name);
    CHECK (max);
    wallet_destroy (&max);

    //  Write in the btcli layout and load it back through the wallet path.
    char wallets [512], path [600];
    snprintf (wallets, sizeof wallets, "%s/home/.bittensor/wallets", s_tmp);
    const char *reason = NULL;
    CHECK_EQ_INT (wallet_write_hotkey (alice, wallets, "zipmine", "alice", &reason), 0);
    snprintf (path, sizeof path, "%s/zipmine/hotkeys/alice", wallets);
    struct stat st;
    CHECK_EQ_INT (stat (path, &st), 0);
    CHECK_EQ_INT (st.st_mode & 0777, 0600);
    snprintf (path, sizeof path, "%s/zipmine/hotkeys", wallets);
    CHECK_EQ_INT (stat (path, &st), 0);
    CHECK_EQ_INT (st.st_mode & 0777, 0700);

    char home [512];
    snprintf (home, sizeof home, "%s/home", s_tmp);
    CHECK_EQ_INT (setenv ("HOME", home, 1), 0);
    wallet_t *loaded = wallet_load ("~/.bittensor/wallets", "zipmine", "alice", &reason);
    CHECK (loaded);
    CHECK_EQ_MEM (wallet_public_key (loaded), wallet_public_key (alice), 32);
    CHECK_EQ_STR (wallet_ss58 (loaded), wallet_ss58 (alice));
    CHECK (wallet_has_seed (loaded));
    CHECK_EQ_MEM (wallet_keypair (loaded)->secret, wallet_keypair (alice)->secret, 64);

    //  The file holds btcli's fields; privateKey in canonical form; no temp file left.
    snprintf (path, sizeof path, "%s/zipmine/hotkeys/alice", wallets);
    FILE *f = fopen (path, "r");
    CHECK (f);
    char text [4096];
    size_t n = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text [n] = '\0';
    static const char *const fields [] = {
        "\"accountId\"", "\"publicKey\"", "\"privateKey\"", "\"secretPhrase\"", "\"secretSeed\"",
        "\"ss58Address\""
    };
    for (size_t i = 0; i < 6; i++)
        CHECK (strstr (text, fields [i]));
    CHECK (strstr (text, wallet_ss58 (alice)));
    char priv [131];
    s_hex (wallet_keypair (alice)->secret, 64, priv);
    CHECK (strstr (text, priv));
    snprintf (path, sizeof path, "%s/zipmine/hotkeys", wallets);
    size_t entries = 0;
    DIR *dir = opendir (path);
    CHECK (dir);
    struct dirent *de;
    while ((de = readdir (dir)))
        entries += de->d_name [0] != '.';
    closedir (dir);
    CHECK_EQ_INT (entries, 1);

    //  Overwriting replaces the key; a wallet without seed writes secretSeed null.
    CHECK_EQ_INT (wallet_write_hotkey (bob, wallets, "zipmine", "alice", &reason), 0);
    wallet_t *replaced = wallet_load (wallets, "zipmine", "alice", &reason);
    CHECK (replaced);
    CHECK_EQ_MEM (wallet_public_key (replaced), wallet_public_key (bob), 32);
    snprintf (text, sizeof text, "{\"privateKey\": \"%s\", \"ss58Address\": \"%s\"}", priv,
              wallet_ss58 (alice));
    wallet_t *no_seed = wallet_parse (text, strlen (text), &reason);
    CHECK (no_seed && !wallet_has_seed (no_seed));
    CHECK_EQ_INT (wallet_write_hotkey (no_seed, wallets, "zipmine", "noseed", &reason), 0);
    wallet_t *no_seed2 = wallet_load (wallets, "zipmine", "noseed", &reason);
    CHECK (no_seed2 && !wallet_has_seed (no_seed2));
    CHECK_EQ_MEM (wallet_public_key (no_seed2), wallet_public_key (alice), 32);

    //  An unwritable location is reported.
    CHECK_EQ_INT (wallet_write_hotkey (alice, "/proc/zipmine-no", "w", "h", &reason), -1);
    CHECK (reason != NULL);

    wallet_destroy (&no_seed);
    wallet_destroy (&no_seed2);
    wallet_destroy (&replaced);
    wallet_destroy (&loaded);
    wallet_destroy (&alice);
    wallet_destroy (&alice2);
    wallet_destroy (&bob);
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

int
main (void)
{
    CHECK (sodium_init () >= 0);
    snprintf (s_tmp, sizeof s_tmp, "/tmp/zm-test-wallet-XXXXXX");
    CHECK (mkdtemp (s_tmp));
    s_test_parse ();
    s_test_paths ();
    s_test_dev_and_disk ();
    nftw (s_tmp, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    TEST_DONE ();
}
