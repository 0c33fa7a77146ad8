/*  libFuzzer target: proto/control requests and replies (both decoders see every input and
    must reject the other's type cleanly), and the round-trip property on what they accept. */
#include "proto/control.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_control_t, proto_control_decode, proto_control_encode,
                    proto_control_equal, proto_control_free, data, size);
    FUZZ_ROUNDTRIP (proto_control_reply_t, proto_control_reply_decode,
                    proto_control_reply_encode, proto_control_reply_equal,
                    proto_control_reply_free, data, size);
    return 0;
}
