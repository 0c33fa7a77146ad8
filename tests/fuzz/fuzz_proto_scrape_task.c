/*  libFuzzer target: proto/scrape_task decode, and the round-trip property on what it accepts. */
#include "proto/scrape_task.h"
#include "tests/fuzz/fuzz_proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    FUZZ_ROUNDTRIP (proto_scrape_task_t, proto_scrape_task_decode, proto_scrape_task_encode,
                    proto_scrape_task_equal, proto_scrape_task_free, data, size);
    return 0;
}
