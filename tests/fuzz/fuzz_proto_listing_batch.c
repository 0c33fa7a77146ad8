/*  libFuzzer target: proto/listing_batch decode, and the round-trip property on what it accepts. */
#include "proto/listing_batch.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_listing_batch_t, proto_listing_batch_decode, proto_listing_batch_encode,
                    proto_listing_batch_equal, proto_listing_batch_free, data, size);
    return 0;
}
