/*  Unit tests for common/ss58: addresses equal to @polkadot/util-crypto's encodeAddress for
    one- and two-byte prefixes (vectors made with polkadot-js 13.5.9), round trips for every
    prefix class, and each rejection reason: bad checksum (every single-character change of
    a valid address), bad characters, lengths, invalid/reserved/non-canonical prefixes.    */
#include "tests/testutil.h"

#include <sodium.h>

#include "common/ss58.h"

static void
s_unhex (const char *hex, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        CHECK (sscanf (hex + 2 * i, "%2x", &v) == 1);
        out [i] = (uint8_t) v;
    }
}

typedef struct {
    unsigned prefix;
    const char *address;
} vector_t;

//  Alice's dev key under several prefixes, from polkadot-js encodeAddress.
static const char *s_alice = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
static const vector_t s_vectors [] = {
    {     0, "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5" },
    {     2, "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F" },
    {    42, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY" },
    {    63, "7NPoMQbiA6trJKkjB35uk96MeJD4PGWkLQLH7k7hXEkZpiba" },
    {    64, "cEaNSpz4PxFcZ7nT1VEKrKewH67rfx6MfcM6yKojyyPz7qaqp" },
    {    69, "cnWHXYTKQwMV96ZuTKbqTA23FuPcmWjrDyLNzCXYL92G9tmtm" },
    {   255, "yGHXkYLYqxijLKKfd9Q2CB9shRVu8rPNBS53wvwGTutYg4zTg" },
    {  1000, "vji5kpxBaPKwct6PAdHiJUPCU1hqBEAPaLMF59sXAjn4NeEaJ" },
    { 16383, "yNa8JpqfFB3q8A29rCwSgxvdU94ufJw2yKKxDgznS5m1PoFvn" },
};

//  Reference SS58 encoder over a raw prefix (any bytes): appends the checksum, then base58
//  by repeated division. Lets the test build addresses ss58_encode refuses to write.
static void
s_encode_raw (uint8_t payload [36], size_t prefix_len, char *out)
{
    static const char alphabet [] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    size_t len = prefix_len + 34;
    uint8_t hash [64];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    crypto_generichash_update (&st, (const uint8_t *) "SS58PRE", 7);
    crypto_generichash_update (&st, payload, prefix_len + 32);
    crypto_generichash_final (&st, hash, 64);
    payload [prefix_len + 32] = hash [0];
    payload [prefix_len + 33] = hash [1];

    uint8_t num [36];
    memcpy (num, payload, len);
    char rev [64];
    size_t n = 0;
    for (;;) {
        int nonzero = 0;
        unsigned rem = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned cur = (rem << 8) | num [i];
            num [i] = (uint8_t) (cur / 58);
            rem = cur % 58;
            nonzero |= num [i] != 0;
        }
        rev [n++] = alphabet [rem];
        if (!nonzero)
            break;
    }
    for (size_t i = 0; i < len && payload [i] == 0; i++)
        rev [n++] = '1';
    for (size_t i = 0; i < n; i++)
        out [i] = rev [n - 1 - i];
    out [n] = '\0';
}

static void
s_expect_reject (const char *address, const char *reason)
{
    const char *got = NULL;
    uint8_t pk [32];
    unsigned prefix = 12345;
    CHECK_EQ_INT (ss58_decode (address, pk, &prefix, &got), -1);
    CHECK_EQ_STR (got, reason);
    CHECK_EQ_INT (prefix, 12345);
}

int
main (void)
{
    CHECK (sodium_init () >= 0);
    uint8_t alice [32], pk [32];
    s_unhex (s_alice, alice, 32);
    char address [SS58_ADDRESS_SIZE];

    for (size_t i = 0; i < sizeof s_vectors / sizeof s_vectors [0]; i++) {
        CHECK_EQ_INT (ss58_encode (alice, s_vectors [i].prefix, address, sizeof address), 0);
        CHECK_EQ_STR (address, s_vectors [i].address);
        unsigned prefix = 0;
        memset (pk, 0, 32);
        CHECK_EQ_INT (ss58_decode (s_vectors [i].address, pk, &prefix, NULL), 0);
        CHECK_EQ_MEM (pk, alice, 32);
        CHECK_EQ_INT (prefix, s_vectors [i].prefix);
    }
    //  The all-zero key: leading zero bytes become leading '1's.
    uint8_t zero [32] = { 0 };
    CHECK_EQ_INT (ss58_encode (zero, 0, address, sizeof address), 0);
    CHECK_EQ_STR (address, "111111111111111111111111111111111HC1");
    CHECK_EQ_INT (ss58_encode (zero, 42, address, sizeof address), 0);
    CHECK_EQ_STR (address, "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM");
    CHECK_EQ_INT (ss58_decode ("111111111111111111111111111111111HC1", pk, NULL, NULL), 0);
    CHECK_EQ_MEM (pk, zero, 32);

    //  Round trips with random keys over every prefix class.
    for (unsigned prefix = 0; prefix <= SS58_PREFIX_MAX; prefix += (prefix < 300? 1: 97)) {
        uint8_t key [32];
        randombytes_buf (key, 32);
        int rc = ss58_encode (key, prefix, address, sizeof address);
        if (prefix == 46 || prefix == 47) {
            CHECK_EQ_INT (rc, -1);
            continue;
        }
        CHECK_EQ_INT (rc, 0);
        unsigned got = 0;
        CHECK_EQ_INT (ss58_decode (address, pk, &got, NULL), 0);
        CHECK_EQ_MEM (pk, key, 32);
        CHECK_EQ_INT (got, prefix);
    }
    CHECK_EQ_INT (ss58_encode (alice, SS58_PREFIX_MAX + 1, address, sizeof address), -1);
    CHECK (!ss58_prefix_is_valid (46) && !ss58_prefix_is_valid (47));
    CHECK (ss58_prefix_is_valid (0) && ss58_prefix_is_valid (42) && ss58_prefix_is_valid (16383));
    //  A buffer too small is refused, not overrun.
    char small [20];
    CHECK_EQ_INT (ss58_encode (alice, 42, small, sizeof small), -1);

    //  Bad checksum: every single-character substitution of a valid address is refused
    //  (most as "bad checksum"; a few change the length or prefix class instead).
    const char *valid = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    size_t bad_checksums = 0;
    for (size_t i = 0; i < strlen (valid); i++) {
        char copy [SS58_ADDRESS_SIZE];
        strcpy (copy, valid);
        copy [i] = copy [i] == 'z'? 'y': 'z';
        const char *reason = NULL;
        CHECK_EQ_INT (ss58_decode (copy, pk, NULL, &reason), -1);
        CHECK (reason != NULL);
        bad_checksums += strcmp (reason, "bad checksum") == 0;
    }
    CHECK (bad_checksums >= strlen (valid) - 2);
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ", "bad checksum");

    //  Characters outside the alphabet (0, O, I, l, punctuation, high bytes).
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut0Y", "invalid base58 character");
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutOY", "invalid base58 character");
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutlY", "invalid base58 character");
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut Y", "invalid base58 character");
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut\xc3\xa9", "invalid base58 character");

    //  Lengths.
    s_expect_reject ("", "empty address");
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQ", "unsupported address length");
    s_expect_reject ("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQYY", "unsupported address length");
    s_expect_reject ("1", "unsupported address length");
    s_expect_reject ("11111111111111111111111111111111111111111111111111111111111111",
                     "unsupported address length");
    char long_address [200];
    memset (long_address, 'z', sizeof long_address - 1);
    long_address [sizeof long_address - 1] = '\0';
    s_expect_reject (long_address, "address too long");
    //  63 'z's: a value wider than any address payload.
    long_address [63] = '\0';
    s_expect_reject (long_address, "unsupported address length");

    //  Prefix classes: first byte >= 128, a two-byte form of an id < 64, reserved ids.
    uint8_t payload [36];
    payload [0] = 0x80;
    memcpy (payload + 1, alice, 32);
    s_encode_raw (payload, 1, address);
    s_expect_reject (address, "invalid prefix");

    //  Id 42 in the two-byte form (ss58_encode never writes it): refused as non-canonical.
    unsigned id = 42;
    payload [0] = (uint8_t) (0x40 | ((id & 0xfc) >> 2));
    payload [1] = (uint8_t) ((id >> 8) | ((id & 3) << 6));
    memcpy (payload + 2, alice, 32);
    s_encode_raw (payload, 2, address);
    s_expect_reject (address, "non-canonical prefix encoding");

    //  Reserved ids 46 and 47 (valid checksums) are refused.
    payload [0] = 46;
    memcpy (payload + 1, alice, 32);
    s_encode_raw (payload, 1, address);
    s_expect_reject (address, "reserved prefix");
    payload [0] = 47;
    s_encode_raw (payload, 1, address);
    s_expect_reject (address, "reserved prefix");
    //  The reference encoder agrees with ss58_encode on a normal id.
    payload [0] = 42;
    s_encode_raw (payload, 1, address);
    CHECK_EQ_STR (address, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");

    //  Decoding without outputs still validates.
    CHECK_EQ_INT (ss58_decode (valid, NULL, NULL, NULL), 0);
    TEST_DONE ();
}
