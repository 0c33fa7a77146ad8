/*  libFuzzer target: proto/tier_result decode, and the round-trip property on what it accepts. */
#include "proto/tier_result.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_tier_result_t, proto_tier_result_decode, proto_tier_result_encode,
                    proto_tier_result_equal, proto_tier_result_free, data, size);
    return 0;
}
