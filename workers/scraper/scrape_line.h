/*  scrape_line: what the scraper accepts from a scraper's output, one line at a time.

    An external scraper writes one listing per line on stdout: each line one JSON object
    (DESIGN.md section 7). Everything it writes is untrusted. Two pieces:

      - scrape_liner_t splits a byte stream into lines without ever holding more than
        line_max bytes: a line longer than that is reported once as oversize (its bytes are
        dropped as they arrive, never buffered), so a 10 MB line costs no memory.
      - scrape_line_check judges one complete line against the task: a JSON object (bounded
        parse: size, depth, UTF-8, no duplicate keys, no \u0000), whose "zipcode" is a string
        equal to the task's. A listing without "scraped_timestamp" gets one (the time the
        scraper collected it). The accepted text is what goes into a listing_batch.

    Blank lines (only spaces, tabs, CR) are ignored, not counted.                              */
#ifndef ZM_SCRAPE_LINE_H
#define ZM_SCRAPE_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Nesting accepted inside one listing.
#define SCRAPE_LINE_DEPTH_MAX 16

//  Reason strings scrape_line_check and the liner report (stable: they appear in batch
//  reject maps, task reasons and metrics labels).
#define SCRAPE_REASON_OVERSIZE      "line too long"
#define SCRAPE_REASON_JSON          "invalid json"
#define SCRAPE_REASON_NOT_OBJECT    "not a json object"
#define SCRAPE_REASON_NO_ZIPCODE    "missing zipcode"
#define SCRAPE_REASON_WRONG_ZIPCODE "wrong zipcode"
#define SCRAPE_REASON_TOO_BIG       "listing too large"

//  Judges one line (len bytes, need not be NUL-terminated; no '\n' inside) for a task on
//  zipcode (5 digits). scraped_ts is the ISO 8601 time added when the listing has no
//  scraped_timestamp. Returns
//     0             accepted: *out_p is the listing text to send (NUL-terminated, *out_len
//                   bytes, at most line_max and PROTO_LISTING_MAX). Caller owns: free().
//     1             a blank line: ignore it (*out_p NULL).
//     RC_MALFORMED  rejected, *reason_p one of the SCRAPE_REASON_ strings (*out_p NULL).
int scrape_line_check (const char *line, size_t len, size_t line_max, const char *zipcode,
                       const char *scraped_ts, char **out_p, size_t *out_len,
                       const char **reason_p);

typedef struct _scrape_liner_t scrape_liner_t;

//  Called once per complete line (without its '\n'); oversize is true for a line longer than
//  line_max, whose bytes are not given (line NULL, len 0). Return 0 to go on, -1 to stop
//  feeding (scrape_liner_feed then returns -1).
typedef int (scrape_line_fn) (void *arg, const char *line, size_t len, bool oversize);

//  A liner for lines of at most line_max bytes (>= 1). Caller owns.
scrape_liner_t *scrape_liner_new (size_t line_max);
void scrape_liner_destroy (scrape_liner_t **self_p);

//  Feeds len bytes; calls fn for every line completed. Returns 0, or -1 if fn asked to stop.
int scrape_liner_feed (scrape_liner_t *self, const char *data, size_t len, scrape_line_fn *fn,
                       void *arg);

//  End of stream: a last line without '\n' is delivered too. Returns as feed does.
int scrape_liner_finish (scrape_liner_t *self, scrape_line_fn *fn, void *arg);

#endif
