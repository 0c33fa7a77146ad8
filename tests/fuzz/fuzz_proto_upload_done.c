/*  libFuzzer target: proto/upload_done decode, and the round-trip property on what it accepts. */
#include "proto/upload_done.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_upload_done_t, proto_upload_done_decode, proto_upload_done_encode,
                    proto_upload_done_equal, proto_upload_done_free, data, size);
    return 0;
}
