/*  libFuzzer target: proto/spot_check requests and results (both decoders see every input
    and must reject the other's type cleanly), and the round-trip property on what they
    accept.                                                                                 */
#include "proto/spot_check.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_spot_check_request_t, proto_spot_check_request_decode,
                    proto_spot_check_request_encode, proto_spot_check_request_equal,
                    proto_spot_check_request_free, data, size);
    FUZZ_ROUNDTRIP (proto_spot_check_result_t, proto_spot_check_result_decode,
                    proto_spot_check_result_encode, proto_spot_check_result_equal,
                    proto_spot_check_result_free, data, size);
    return 0;
}
