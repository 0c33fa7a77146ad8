/*  The Keccak-f[1600] permutation (FIPS 202, section 3), the core under STROBE-128 and Merlin.

    The state is 200 bytes: 25 64-bit lanes, lane (x, y) at byte offset 8 * (x + 5 * y),
    each lane little-endian, exactly as FIPS 202 and STROBE lay it out. Only the permutation
    lives here: the sponge/duplex constructions that use it live with their callers
    (common/merlin.c).                                                                        */
#ifndef ZM_KECCAK_H
#define ZM_KECCAK_H

#include <stdint.h>

#define KECCAK_STATE_SIZE 200

//  Applies the 24-round Keccak-f[1600] permutation to state in place.
void keccak_f1600 (uint8_t state[KECCAK_STATE_SIZE]);

#endif
