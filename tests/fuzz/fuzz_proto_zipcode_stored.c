/*  libFuzzer target: proto/zipcode_stored decode, and the round-trip property on what it
    accepts. */
#include "proto/zipcode_stored.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_zipcode_stored_t, proto_zipcode_stored_decode,
                    proto_zipcode_stored_encode, proto_zipcode_stored_equal,
                    proto_zipcode_stored_free, data, size);
    return 0;
}
