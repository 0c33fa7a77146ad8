/*  libFuzzer target: proto/heartbeat decode, and the round-trip property on what it accepts. */
#include "proto/heartbeat.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_heartbeat_t, proto_heartbeat_decode, proto_heartbeat_encode,
                    proto_heartbeat_equal, proto_heartbeat_free, data, size);
    return 0;
}
