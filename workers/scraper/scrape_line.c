/*  scrape_line: line splitting and per-line judgement of scraper output (scrape_line.h).

    The liner's buffer is line_max bytes, allocated once; a line that outgrows it switches the
    liner to "skipping" until the next '\n', so memory never depends on what the scraper
    writes.                                                                                    */
#include "workers/scraper/scrape_line.h"

#include "common/json.h"
#include "common/rc.h"
#include "proto/listing_batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static bool
s_blank (char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int
scrape_line_check (const char *line, size_t len, size_t line_max, const char *zipcode,
                   const char *scraped_ts, char **out_p, size_t *out_len,
                   const char **reason_p)
{
    assert (out_p && out_len && reason_p && zipcode && scraped_ts);
    *out_p = NULL;
    *out_len = 0;
    *reason_p = NULL;
    while (len > 0 && s_blank (line [0])) {
        line++;
        len--;
    }
    while (len > 0 && s_blank (line [len - 1]))
        len--;
    if (len == 0)
        return 1;
    if (len > line_max || len > PROTO_LISTING_MAX) {
        *reason_p = SCRAPE_REASON_OVERSIZE;
        return RC_MALFORMED;
    }
    jsonx_err_t err = { 0 };
    json_t *doc = jsonx_parse (line, len, line_max, SCRAPE_LINE_DEPTH_MAX, &err);
    if (!doc) {
        *reason_p = SCRAPE_REASON_JSON;
        return RC_MALFORMED;
    }
    int rc = RC_MALFORMED;
    char *text = NULL;
    size_t text_len = 0;
    if (!json_is_object (doc)) {
        *reason_p = SCRAPE_REASON_NOT_OBJECT;
        goto done;
    }
    json_t *zip = json_object_get (doc, "zipcode");
    if (!zip || json_is_null (zip)) {
        *reason_p = SCRAPE_REASON_NO_ZIPCODE;
        goto done;
    }
    if (!json_is_string (zip) || strcmp (json_string_value (zip), zipcode) != 0) {
        *reason_p = SCRAPE_REASON_WRONG_ZIPCODE;
        goto done;
    }
    json_t *ts = json_object_get (doc, "scraped_timestamp");
    if (ts && !json_is_null (ts)) {
        //  pass the scraper's own text through: the listing's bytes are its own
        text = malloc (len + 1);
        assert (text);
        memcpy (text, line, len);
        text [len] = 0;
        text_len = len;
    }
    else {
        json_object_set_new (doc, "scraped_timestamp", json_string (scraped_ts));
        text = jsonx_dump (doc, false);
        assert (text);
        text_len = strlen (text);
    }
    if (text_len > line_max || !proto_valid_listing (text, text_len)) {
        free (text);
        text = NULL;
        *reason_p = SCRAPE_REASON_TOO_BIG;
        goto done;
    }
    *out_p = text;
    *out_len = text_len;
    rc = 0;
done:
    json_decref (doc);
    return rc;
}

struct _scrape_liner_t {
    char *buf;
    size_t max;                 //  capacity = line_max
    size_t len;
    bool skipping;              //  inside an oversize line
};

scrape_liner_t *
scrape_liner_new (size_t line_max)
{
    assert (line_max > 0);
    scrape_liner_t *self = calloc (1, sizeof *self);
    assert (self);
    self->buf = malloc (line_max);
    assert (self->buf);
    self->max = line_max;
    return self;
}

void
scrape_liner_destroy (scrape_liner_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

int
scrape_liner_feed (scrape_liner_t *self, const char *data, size_t len, scrape_line_fn *fn,
                   void *arg)
{
    while (len > 0) {
        const char *nl = memchr (data, '\n', len);
        size_t chunk = nl ? (size_t) (nl - data) : len;
        if (!self->skipping) {
            if (self->len + chunk > self->max) {
                self->skipping = true;
                self->len = 0;
            }
            else {
                memcpy (self->buf + self->len, data, chunk);
                self->len += chunk;
            }
        }
        if (!nl)
            return 0;
        int rc = self->skipping ? fn (arg, NULL, 0, true) : fn (arg, self->buf, self->len, false);
        self->skipping = false;
        self->len = 0;
        data += chunk + 1;
        len -= chunk + 1;
        if (rc != 0)
            return -1;
    }
    return 0;
}

int
scrape_liner_finish (scrape_liner_t *self, scrape_line_fn *fn, void *arg)
{
    int rc = 0;
    if (self->skipping)
        rc = fn (arg, NULL, 0, true);
    else
    if (self->len > 0)
        rc = fn (arg, self->buf, self->len, false);
    self->skipping = false;
    self->len = 0;
    return rc == 0 ? 0 : -1;
}
