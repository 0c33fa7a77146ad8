/*  Round-trip property shared by the tests/fuzz/fuzz_proto_*.c targets.

    FUZZ_ROUNDTRIP (T, decode, encode, equal, freefn, data, size): decode the input; when it
    is accepted, the decoded message must encode (whatever decode accepts is within the
    bounds encode enforces), the encoding must decode again, and the two decoded messages
    must be equal. Any violation abort()s so libFuzzer records the input. A rejected input
    must carry a reason.                                                                     */
#ifndef ZM_FUZZ_PROTO_H
#define ZM_FUZZ_PROTO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto/proto.h"

#define FUZZ_ROUNDTRIP(T, decode, encode, equal, freefn, IN_DATA, IN_SIZE) do { \
    T fz_a, fz_b; \
    proto_err_t fz_e; \
    if (decode ((IN_DATA), (IN_SIZE), &fz_a, &fz_e) != 0) { \
        if (fz_e.reason [0] == '\0' || fz_e.offset > (IN_SIZE)) { \
            fprintf (stderr, "rejected without a reason or with a bad offset\n"); \
            abort (); \
        } \
        break; \
    } \
    msgpack_sbuffer fz_sb; \
    msgpack_sbuffer_init (&fz_sb); \
    if (encode (&fz_a, &fz_sb, &fz_e) != 0) { \
        fprintf (stderr, "decoded message does not encode: %s\n", fz_e.reason); \
        abort (); \
    } \
    if (decode ((const uint8_t *) fz_sb.data, fz_sb.size, &fz_b, &fz_e) != 0) { \
        fprintf (stderr, "re-encoding does not decode: %s\n", fz_e.reason); \
        abort (); \
    } \
    if (!equal (&fz_a, &fz_b)) { \
        fprintf (stderr, "round trip changed the message\n"); \
        abort (); \
    } \
    freefn (&fz_a); \
    freefn (&fz_b); \
    msgpack_sbuffer_destroy (&fz_sb); \
} while (0)

#endif
