/*  SS58 encode/decode: base58 over prefix || key || BLAKE2b checksum (see ss58.h).

    Checked against Substrate's sp_core::crypto::Ss58Codec and polkadot-js
    encodeAddress/decodeAddress. The decoder takes hostile input: it bounds the string
    length before doing any work, and every buffer is fixed-size on the stack.              */
#include "common/ss58.h"

#include <assert.h>
#include <string.h>

#include <sodium.h>

static const char s_alphabet [] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

//  The longest address we accept (a 36-byte payload is at most 50 base58 digits).
#define ADDRESS_MAX_CHARS   (SS58_ADDRESS_SIZE - 1)
//  ceil (63 * log(58) / log(256)) = 47
#define PAYLOAD_MAX         48

int
ss58_prefix_is_valid (unsigned prefix)
{
    return prefix <= SS58_PREFIX_MAX && prefix != 46 && prefix != 47;
}

static void
s_checksum (const uint8_t *payload, size_t len, uint8_t out [2])
{
    uint8_t hash [64];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, sizeof hash);
    crypto_generichash_update (&st, (const uint8_t *) "SS58PRE", 7);
    crypto_generichash_update (&st, payload, len);
    crypto_generichash_final (&st, hash, sizeof hash);
    out [0] = hash [0];
    out [1] = hash [1];
}

//  Base58 of data into out. Return 0, or -1 if out is too small.
static int
s_base58_encode (const uint8_t *data, size_t len, char *out, size_t out_size)
{
    size_t zeros = 0;
    while (zeros < len && data [zeros] == 0)
        zeros++;
    //  Digits, most significant last; len * 138 / 100 + 1 bounds the digit count.
    uint8_t digits [PAYLOAD_MAX * 138 / 100 + 2];
    size_t ndigits = 0;
    assert (len <= PAYLOAD_MAX);
    for (size_t i = zeros; i < len; i++) {
        unsigned carry = data [i];
        for (size_t j = 0; j < ndigits; j++) {
            carry += (unsigned) digits [j] << 8;
            digits [j] = (uint8_t) (carry % 58);
            carry /= 58;
        }
        while (carry) {
            digits [ndigits++] = (uint8_t) (carry % 58);
            carry /= 58;
        }
    }
    if (zeros + ndigits + 1 > out_size)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < zeros; i++)
        out [pos++] = '1';
    for (size_t j = ndigits; j > 0; j--)
        out [pos++] = s_alphabet [digits [j - 1]];
    out [pos] = '\0';
    return 0;
}

static int
s_base58_value (char c)
{
    const char *p = c? strchr (s_alphabet, c): NULL;
    return p? (int) (p - s_alphabet): -1;
}

//  Decodes str (length len <= ADDRESS_MAX_CHARS) into out; *out_len gets the byte count.
//  Return 0, -1 on a character outside the alphabet, -2 if the value needs more than
//  PAYLOAD_MAX bytes (longer than any address).
static int
s_base58_decode (const char *str, size_t len, uint8_t out [PAYLOAD_MAX], size_t *out_len)
{
    size_t zeros = 0;
    while (zeros < len && str [zeros] == '1')
        zeros++;
    //  Bytes, least significant first.
    uint8_t bytes [PAYLOAD_MAX];
    size_t nbytes = 0;
    for (size_t i = zeros; i < len; i++) {
        int v = s_base58_value (str [i]);
        if (v < 0)
            return -1;
        unsigned carry = (unsigned) v;
        for (size_t j = 0; j < nbytes; j++) {
            carry += (unsigned) bytes [j] * 58;
            bytes [j] = (uint8_t) (carry & 0xff);
            carry >>= 8;
        }
        while (carry) {
            if (nbytes == PAYLOAD_MAX)
                return -2;
            bytes [nbytes++] = (uint8_t) (carry & 0xff);
            carry >>= 8;
        }
    }
    if (zeros + nbytes > PAYLOAD_MAX)
        return -2;
    memset (out, 0, zeros);
    for (size_t j = 0; j < nbytes; j++)
        out [zeros + j] = bytes [nbytes - 1 - j];
    *out_len = zeros + nbytes;
    return 0;
}

int
ss58_encode (const uint8_t public_key [32], unsigned prefix, char *out, size_t out_size)
{
    assert (public_key && out);
    if (!ss58_prefix_is_valid (prefix))
        return -1;
    uint8_t payload [2 + 32 + 2];
    size_t plen;
    if (prefix < 64) {
        payload [0] = (uint8_t) prefix;
        plen = 1;
    }
    else {
        payload [0] = (uint8_t) (((prefix & 0xfc) >> 2) | 0x40);
        payload [1] = (uint8_t) ((prefix >> 8) | ((prefix & 0x03) << 6));
        plen = 2;
    }
    memcpy (payload + plen, public_key, 32);
    s_checksum (payload, plen + 32, payload + plen + 32);
    return s_base58_encode (payload, plen + 34, out, out_size);
}

static int
s_fail (const char **reason_p, const char *reason)
{
    if (reason_p)
        *reason_p = reason;
    return -1;
}

int
ss58_decode (const char *address, uint8_t public_key [32], unsigned *prefix_p,
             const char **reason_p)
{
    assert (address);
    size_t len = strnlen (address, ADDRESS_MAX_CHARS + 1);
    if (len == 0)
        return s_fail (reason_p, "empty address");
    if (len > ADDRESS_MAX_CHARS)
        return s_fail (reason_p, "address too long");

    uint8_t payload [PAYLOAD_MAX];
    size_t plen = 0;
    int rc = s_base58_decode (address, len, payload, &plen);
    if (rc == -1)
        return s_fail (reason_p, "invalid base58 character");
    if (rc != 0 || (plen != 1 + 32 + 2 && plen != 2 + 32 + 2))
        return s_fail (reason_p, "unsupported address length");

    unsigned prefix;
    size_t prefix_len;
    if (payload [0] < 64) {
        prefix = payload [0];
        prefix_len = 1;
    }
    else
    if (payload [0] < 128) {
        unsigned lower = ((unsigned) (payload [0] << 2) & 0xff) | (payload [1] >> 6);
        unsigned upper = payload [1] & 0x3f;
        prefix = lower | (upper << 8);
        prefix_len = 2;
    }
    else
        return s_fail (reason_p, "invalid prefix");

    if (plen != prefix_len + 32 + 2)
        return s_fail (reason_p, "unsupported address length");
    if (prefix_len == 2 && prefix < 64)
        return s_fail (reason_p, "non-canonical prefix encoding");
    if (!ss58_prefix_is_valid (prefix))
        return s_fail (reason_p, "reserved prefix");

    uint8_t sum [2];
    s_checksum (payload, prefix_len + 32, sum);
    if (sum [0] != payload [prefix_len + 32] || sum [1] != payload [prefix_len + 33])
        return s_fail (reason_p, "bad checksum");

    if (public_key)
        memcpy (public_key, payload + prefix_len, 32);
    if (prefix_p)
        *prefix_p = prefix;
    return 0;
}
