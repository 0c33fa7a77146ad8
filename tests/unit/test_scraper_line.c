/*  scrape_line and scrape_argv_split: the pure parts of the scraper.
      - the liner splits lines across any chunking, delivers a trailing line at finish,
        reports an oversize line once without buffering it, and recovers on the next line;
      - the line judge accepts a listing of the task's zipcode (adding scraped_timestamp, or
        passing the text through when it has one), ignores blank lines, and rejects each bad
        kind with its reason;
      - the command splitter groups quoted words and refuses empty or unclosed commands.   */
#include "workers/scraper/scrape_job.h"
#include "workers/scraper/scrape_line.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char lines [16][128];
    size_t lens [16];
    bool oversize [16];
    int n;
} s_rec_t;

static int
s_rec (void *arg, const char *line, size_t len, bool oversize)
{
    s_rec_t *r = arg;
    CHECK (r->n < 16);
    r->oversize [r->n] = oversize;
    r->lens [r->n] = len;
    if (!oversize) {
        CHECK (len < 128);
        memcpy (r->lines [r->n], line, len);
        r->lines [r->n][len] = 0;
    }
    else
        CHECK (line == NULL && len == 0);
    r->n++;
    return 0;
}

static int
s_stop (void *arg, const char *line, size_t len, bool oversize)
{
    (void) line; (void) len; (void) oversize;
    (*(int *) arg)++;
    return -1;
}

static int
s_check (const char *line, const char **reason, char **out)
{
    size_t out_len = 0;
    return scrape_line_check (line, strlen (line), 1000, "77494", "2026-11-25T12:00:00.000Z",
                              out, &out_len, reason);
}

int
main (void)
{
    //  liner: every chunking of the same stream gives the same lines
    const char *stream = "abc\n\nde\r\n0123456789012345678901234567890123456789\nxy\ntail";
    for (size_t chunk = 1; chunk <= strlen (stream); chunk++) {
        s_rec_t r = { .n = 0 };
        scrape_liner_t *l = scrape_liner_new (32);
        for (size_t off = 0; off < strlen (stream); off += chunk) {
            size_t n = strlen (stream) - off < chunk ? strlen (stream) - off : chunk;
            CHECK_EQ_INT (scrape_liner_feed (l, stream + off, n, s_rec, &r), 0);
        }
        CHECK_EQ_INT (scrape_liner_finish (l, s_rec, &r), 0);
        scrape_liner_destroy (&l);
        CHECK (l == NULL);
        CHECK_EQ_INT (r.n, 6);
        CHECK_EQ_STR (r.lines [0], "abc");
        CHECK_EQ_STR (r.lines [1], "");
        CHECK_EQ_STR (r.lines [2], "de\r");
        CHECK (r.oversize [3]);
        CHECK_EQ_STR (r.lines [4], "xy");
        CHECK_EQ_STR (r.lines [5], "tail");
    }
    //  a line of exactly line_max is fine; one more byte is oversize; a trailing oversize
    //  line is reported at finish
    {
        s_rec_t r = { .n = 0 };
        scrape_liner_t *l = scrape_liner_new (4);
        scrape_liner_feed (l, "abcd\nabcde\nabcdefgh", 19, s_rec, &r);
        scrape_liner_finish (l, s_rec, &r);
        scrape_liner_destroy (&l);
        CHECK_EQ_INT (r.n, 3);
        CHECK_EQ_STR (r.lines [0], "abcd");
        CHECK (r.oversize [1] && r.oversize [2]);
    }
    //  a callback asking to stop: feed returns -1 at once
    {
        scrape_liner_t *l = scrape_liner_new (8);
        int calls = 0;
        CHECK_EQ_INT (scrape_liner_feed (l, "a\nb\nc\n", 6, s_stop, &calls), -1);
        CHECK_EQ_INT (calls, 1);
        scrape_liner_destroy (&l);
    }

    //  line judge
    const char *reason = NULL;
    char *out = NULL;
    CHECK_EQ_INT (s_check ("{\"zpid\":1,\"zipcode\":\"77494\"}", &reason, &out), 0);
    CHECK_EQ_STR (out, "{\"zpid\":1,\"zipcode\":\"77494\",\"scraped_timestamp\":\"2026-11-25T12:00:00.000Z\"}");
    free (out);
    //  with its own timestamp: the text passes through unchanged (trimmed)
    CHECK_EQ_INT (s_check ("  {\"zipcode\": \"77494\", \"scraped_timestamp\": \"x\"}\r",
                           &reason, &out), 0);
    CHECK_EQ_STR (out, "{\"zipcode\": \"77494\", \"scraped_timestamp\": \"x\"}");
    free (out);
    CHECK_EQ_INT (s_check ("   \r", &reason, &out), 1);
    CHECK (out == NULL);
    CHECK_EQ_INT (s_check ("{\"zipcode\":\"77494\"", &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_JSON);
    CHECK_EQ_INT (s_check ("{\"zipcode\":\"77494\",\"zipcode\":\"77494\"}", &reason, &out),
                  RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_JSON);      //  duplicate keys
    CHECK_EQ_INT (s_check ("[1,2]", &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_NOT_OBJECT);
    CHECK_EQ_INT (s_check ("{\"zpid\":1}", &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_NO_ZIPCODE);
    CHECK_EQ_INT (s_check ("{\"zipcode\":\"10001\"}", &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_WRONG_ZIPCODE);
    CHECK_EQ_INT (s_check ("{\"zipcode\":77494}", &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_WRONG_ZIPCODE);
    CHECK (out == NULL);
    //  too long as given, and too long once the timestamp is added
    char big [1100];
    memset (big, 'x', sizeof big);
    memcpy (big, "{\"zipcode\":\"77494\",\"p\":\"", 24);
    strcpy (big + 1001 - 2, "\"}");
    CHECK_EQ_INT (s_check (big, &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_OVERSIZE);
    strcpy (big + 990 - 2, "\"}");
    CHECK_EQ_INT (s_check (big, &reason, &out), RC_MALFORMED);
    CHECK_EQ_STR (reason, SCRAPE_REASON_TOO_BIG);

    //  argv split
    char **argv = NULL;
    CHECK_EQ_INT (scrape_argv_split ("python3  /opt/s.py --x 'a b' \"c d\"e", &argv), 5);
    CHECK_EQ_STR (argv [0], "python3");
    CHECK_EQ_STR (argv [1], "/opt/s.py");
    CHECK_EQ_STR (argv [2], "--x");
    CHECK_EQ_STR (argv [3], "a b");
    CHECK_EQ_STR (argv [4], "c de");
    CHECK (argv [5] == NULL);
    scrape_argv_free (&argv);
    CHECK (argv == NULL);
    CHECK_EQ_INT (scrape_argv_split ("   ", &argv), -1);
    CHECK (argv == NULL);
    CHECK_EQ_INT (scrape_argv_split ("a 'b", &argv), -1);
    CHECK (argv == NULL);
    CHECK_EQ_INT (scrape_argv_split ("a b c d e f g h i j k l", &argv), 12);
    scrape_argv_free (&argv);
    TEST_DONE ();
}
