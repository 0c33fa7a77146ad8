/*  Keccak-f[1600], written from FIPS 202 section 3 (theta, rho, pi, chi, iota over 24 rounds).

    The byte-oriented interface loads the lanes little-endian (a plain copy on little-endian
    hosts), runs the rounds on 25 uint64_t and stores them back, so callers (STROBE) can
    address the state byte by byte on any host endianness. No secret-dependent branches or table lookups: the permutation runs in
    constant time. The lane copy is wiped because it holds transcript secrets.              */
#include "common/keccak.h"

#include <string.h>

#include <sodium.h>

static const uint64_t s_round_constants [24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL
};

//  rho offsets and pi destinations, walked along pi's single 24-element cycle starting at
//  lane 1 (the compact form of FIPS 202 algorithms 2 and 3).
static const unsigned s_rho [24] = {
     1,  3,  6, 10, 15, 21, 28, 36, 45, 55,  2, 14,
    27, 41, 56,  8, 25, 43, 62, 18, 39, 61, 20, 44
};
static const unsigned s_pi [24] = {
    10,  7, 11, 17, 18,  3,  5, 16,  8, 21, 24,  4,
    15, 23, 19, 13, 12,  2, 20, 14, 22,  9,  6,  1
};

static inline uint64_t
s_rotl (uint64_t x, unsigned n)
{
    return (x << n) | (x >> ((64 - n) & 63));
}

static void
s_permute (uint64_t a [25])
{
    for (int round = 0; round < 24; round++) {
        //  theta, written out: the % 5 index arithmetic of the textbook loop costs more
        //  than the permutation itself.
        uint64_t c0 = a [0] ^ a [5] ^ a [10] ^ a [15] ^ a [20];
        uint64_t c1 = a [1] ^ a [6] ^ a [11] ^ a [16] ^ a [21];
        uint64_t c2 = a [2] ^ a [7] ^ a [12] ^ a [17] ^ a [22];
        uint64_t c3 = a [3] ^ a [8] ^ a [13] ^ a [18] ^ a [23];
        uint64_t c4 = a [4] ^ a [9] ^ a [14] ^ a [19] ^ a [24];
        uint64_t d0 = c4 ^ s_rotl (c1, 1);
        uint64_t d1 = c0 ^ s_rotl (c2, 1);
        uint64_t d2 = c1 ^ s_rotl (c3, 1);
        uint64_t d3 = c2 ^ s_rotl (c4, 1);
        uint64_t d4 = c3 ^ s_rotl (c0, 1);
        for (int y = 0; y < 25; y += 5) {
            a [y]     ^= d0;
            a [y + 1] ^= d1;
            a [y + 2] ^= d2;
            a [y + 3] ^= d3;
            a [y + 4] ^= d4;
        }
        //  rho and pi
        uint64_t current = a [1];
        for (int i = 0; i < 24; i++) {
            unsigned j = s_pi [i];
            uint64_t next = a [j];
            a [j] = s_rotl (current, s_rho [i]);
            current = next;
        }
        //  chi
        for (int y = 0; y < 25; y += 5) {
            uint64_t r0 = a [y], r1 = a [y + 1], r2 = a [y + 2], r3 = a [y + 3], r4 = a [y + 4];
            a [y]     = r0 ^ (~r1 & r2);
            a [y + 1] = r1 ^ (~r2 & r3);
            a [y + 2] = r2 ^ (~r3 & r4);
            a [y + 3] = r3 ^ (~r4 & r0);
            a [y + 4] = r4 ^ (~r0 & r1);
        }
        //  iota
        a [0] ^= s_round_constants [round];
    }
}

void
keccak_f1600 (uint8_t state [KECCAK_STATE_SIZE])
{
    uint64_t lanes [25];
#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy (lanes, state, sizeof lanes);
    s_permute (lanes);
    memcpy (state, lanes, sizeof lanes);
#else
    for (int i = 0; i < 25; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--)
            v = (v << 8) | state [8 * i + b];
        lanes [i] = v;
    }
    s_permute (lanes);
    for (int i = 0; i < 25; i++)
        for (int b = 0; b < 8; b++)
            state [8 * i + b] = (uint8_t) (lanes [i] >> (8 * b));
#endif
    sodium_memzero (lanes, sizeof lanes);
}
