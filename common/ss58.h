/*  SS58 addresses (Substrate's account address format) for 32-byte public keys.

    address = base58 (prefix || public_key || checksum), Bitcoin base58 alphabet, where
      prefix    one byte for network ids 0..63; two bytes for 64..16383:
                  b0 = 0x40 | ((id & 0xfc) >> 2), b1 = (id >> 8) | ((id & 0x03) << 6)
      checksum  the first 2 bytes of BLAKE2b-512 ("SS58PRE" || prefix || public_key)
    Bittensor uses prefix 42 (the generic Substrate id): SS58_DEFAULT_PREFIX. Ids 46 and 47
    are reserved by the SS58 registry and are refused, as polkadot-js does.

    Only 32-byte account ids are handled (35- or 36-byte payloads); addresses of other
    payload sizes (account indices) are rejected with a reason.                            */
#ifndef ZM_SS58_H
#define ZM_SS58_H

#include <stddef.h>
#include <stdint.h>

#define SS58_DEFAULT_PREFIX  42
#define SS58_PREFIX_MAX      16383
//  Buffer size that always holds an encoded address and its NUL (addresses are <= 50 chars).
#define SS58_ADDRESS_SIZE    64

//  1 if prefix is encodable: 0..16383 and not reserved (46, 47).
int ss58_prefix_is_valid (unsigned prefix);

//  Encodes public_key under prefix into out (NUL-terminated). Return 0, or -1 if the prefix
//  is not valid or out_size is too small (use SS58_ADDRESS_SIZE).
int ss58_encode (const uint8_t public_key [32], unsigned prefix, char *out, size_t out_size);

//  Decodes a NUL-terminated address into public_key and *prefix_p (either may be NULL).
//  Return 0, or -1 with *reason_p (if given) set to a static reason: "empty address",
//  "address too long", "invalid base58 character", "unsupported address length",
//  "invalid prefix", "non-canonical prefix encoding", "reserved prefix", "bad checksum".
int ss58_decode (const char *address, uint8_t public_key [32], unsigned *prefix_p,
                 const char **reason_p);

#endif
