/*  libFuzzer target: proto/submission_ready decode, and the round-trip property on what it
    accepts. */
#include "proto/submission_ready.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_submission_ready_t, proto_submission_ready_decode,
                    proto_submission_ready_encode, proto_submission_ready_equal,
                    proto_submission_ready_free, data, size);
    return 0;
}
