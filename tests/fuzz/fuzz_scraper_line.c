/*  fuzz_scraper_line: an external scraper's stdout, arbitrary bytes, through the scraper's
    line splitter and line judge (workers/scraper/scrape_line.c, compiled in here because fuzz
    targets link only zm_net and zm_proto).

    Input: byte 0 picks line_max (64 .. 16384), byte 1 the chunk size the stream is fed in
    (so lines split across reads are covered), the rest is the stream. Invariants: every
    accepted listing is a valid listing text (proto_valid_listing) no longer than line_max,
    carries the task's zipcode and a scraped_timestamp; every non-accepted non-blank line has
    one of the documented reasons; the liner never delivers a line longer than line_max.      */
#include "workers/scraper/scrape_line.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
    size_t line_max;
    size_t accepted, rejected, oversize;
} s_ctx_t;

static int
s_line (void *arg, const char *line, size_t len, bool oversize)
{
    s_ctx_t *ctx = arg;
    if (oversize) {
        if (line || len)
            abort ();
        ctx->oversize++;
        return 0;
    }
    if (len > ctx->line_max || memchr (line, '\n', len))
        abort ();
    char *out = NULL;
    size_t out_len = 0;
    const char *reason = NULL;
    int rc = scrape_line_check (line, len, ctx->line_max, "77494", "2026-11-25T12:00:00.000Z",
                                &out, &out_len, &reason);
    if (rc == 0) {
        if (!out || out_len > ctx->line_max || strlen (out) != out_len
        ||  !proto_valid_listing (out, out_len) || !strstr (out, "77494")
        ||  !strstr (out, "scraped_timestamp"))
            abort ();
        ctx->accepted++;
        free (out);
    }
    else
    if (rc == 1) {
        if (out)
            abort ();
    }
    else {
        if (out || !reason)
            abort ();
        if (strcmp (reason, SCRAPE_REASON_OVERSIZE) && strcmp (reason, SCRAPE_REASON_JSON)
        &&  strcmp (reason, SCRAPE_REASON_NOT_OBJECT) && strcmp (reason, SCRAPE_REASON_NO_ZIPCODE)
        &&  strcmp (reason, SCRAPE_REASON_WRONG_ZIPCODE) && strcmp (reason, SCRAPE_REASON_TOO_BIG))
            abort ();
        ctx->rejected++;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const size_t maxes [] = { 64, 100, 256, 1000, 4096, 16384 };
    s_ctx_t ctx = { .line_max = maxes [data [0] % 6] };
    size_t chunk = (size_t) data [1] + 1;
    data += 2;
    size -= 2;
    scrape_liner_t *liner = scrape_liner_new (ctx.line_max);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        scrape_liner_feed (liner, (const char *) data + off, n, s_line, &ctx);
    }
    scrape_liner_finish (liner, s_line, &ctx);
    scrape_liner_destroy (&liner);
    return 0;
}
