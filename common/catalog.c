/*  catalog: strict parser for the zipcode catalog, lookup by zipcode, and the derived values
    (expected listings, market tier, Census region) shared by the coordinator and the world.

    Ownership: a catalog_t owns one arena holding every field's text (NUL-terminated), the entry
    array (file order) and an index of entry pointers sorted by zipcode. Nothing is modified
    after catalog_new_from_buffer returns, so readers need no lock.

    Bounds: the arena is sized from the input (every stored field is at most as long as its raw
    bytes and each of the 9 separators of a row pays for one NUL), the entry array from the
    number of line feeds, both checked before allocation against CATALOG_MAX_BYTES and
    CATALOG_MAX_ROWS; a field is unescaped into a fixed CATALOG_MAX_FIELD buffer.             */
#include "common/catalog.h"
#include "common/log.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char zm_catalog_csv [], zm_catalog_csv_end [];

#define NFIELDS 9

static const char *s_columns [NFIELDS] = {
    "RegionID", "SizeRank", "RegionName", "RegionType", "StateName", "State", "City", "Metro",
    "CountyName"
};

struct _catalog_t {
    catalog_entry_t *entries;
    size_t count;
    const catalog_entry_t **by_zip;     //  sorted by zipcode
    char *arena;
    size_t arena_size;
    size_t arena_used;
};

//  Parser cursor over the raw bytes.
typedef struct {
    const char *p;
    const char *end;
    size_t line;                //  1-based line of the record being read
    char *err;
    size_t errsize;
} s_csv_t;

static void __attribute__ ((format (printf, 2, 3)))
s_fail (s_csv_t *csv, const char *fmt, ...)
{
    if (!csv->err || csv->errsize == 0)
        return;
    int n = snprintf (csv->err, csv->errsize, "line %zu: ", csv->line);
    if (n < 0 || (size_t) n >= csv->errsize)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (csv->err + n, csv->errsize - (size_t) n, fmt, ap);
    va_end (ap);
}

//  True if buf [0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
static bool
s_utf8_valid (const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s [i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1Fu;
        }
        else
        if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0Fu;
        }
        else
        if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07u;
        }
        else
            return false;
        if (len - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s [i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s [i + k] & 0x3Fu);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
        ||  (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        i += need + 1;
    }
    return true;
}

//  Reads one field into buf (NUL-terminated, *len set). Returns ',' when another field of the
//  same record follows, '\n' at the end of a record (LF, CRLF or end of input), or -1 on error.
static int
s_read_field (s_csv_t *csv, char *buf, size_t *len)
{
    size_t n = 0;
    bool quoted = false;
    if (csv->p < csv->end && *csv->p == '"') {
        quoted = true;
        csv->p++;
    }
    while (true) {
        if (csv->p >= csv->end) {
            if (quoted) {
                s_fail (csv, "unterminated quoted field");
                return -1;
            }
            break;
        }
        unsigned char c = (unsigned char) *csv->p;
        if (quoted && c == '"') {
            if (csv->p + 1 < csv->end && csv->p [1] == '"') {
                csv->p++;               //  "" is one quote; fall through to store it
            }
            else {
                csv->p++;               //  closing quote: only a separator may follow
                quoted = false;
                if (csv->p < csv->end && *csv->p != ',' && *csv->p != '\n' && *csv->p != '\r') {
                    s_fail (csv, "bytes after a closing quote");
                    return -1;
                }
                continue;
            }
        }
        else
        if (!quoted && (c == ',' || c == '\n'))
            break;
        else
        if (!quoted && c == '\r') {
            if (csv->p + 1 < csv->end && csv->p [1] == '\n') {
                csv->p++;
                break;
            }
            s_fail (csv, "carriage return not followed by line feed");
            return -1;
        }
        else
        if (!quoted && c == '"') {
            s_fail (csv, "quote inside an unquoted field");
            return -1;
        }
        else
        if (c < 0x20 || c == 0x7F) {
            s_fail (csv, quoted && (c == '\n' || c == '\r')
                         ? "line break inside a quoted field" : "control byte 0x%02x", c);
            return -1;
        }
        if (n >= CATALOG_MAX_FIELD) {
            s_fail (csv, "field longer than %d bytes", CATALOG_MAX_FIELD);
            return -1;
        }
        buf [n++] = (char) c;
        csv->p++;
    }
    buf [n] = 0;
    *len = n;
    if (!s_utf8_valid ((const unsigned char *) buf, n)) {
        s_fail (csv, "invalid UTF-8");
        return -1;
    }
    if (csv->p >= csv->end)
        return '\n';
    char sep = *csv->p++;
    return sep == ',' ? ',' : '\n';
}

//  Reads one record of exactly NFIELDS fields into the arena; offsets [i] = start of field i.
//  Returns 1 for a record, 0 at end of input, -1 on error.
static int
s_read_record (s_csv_t *csv, catalog_t *self, size_t offsets [NFIELDS])
{
    if (csv->p >= csv->end)
        return 0;
    char buf [CATALOG_MAX_FIELD + 1];
    size_t nfields = 0;
    while (true) {
        size_t len;
        int sep = s_read_field (csv, buf, &len);
        if (sep < 0)
            return -1;
        if (nfields == NFIELDS) {
            s_fail (csv, "more than %d fields", NFIELDS);
            return -1;
        }
        if (self->arena_used + len + 1 > self->arena_size) {
            s_fail (csv, "record larger than its input");       //  unreachable by the sizing
            return -1;
        }
        offsets [nfields++] = self->arena_used;
        memcpy (self->arena + self->arena_used, buf, len + 1);
        self->arena_used += len + 1;
        if (sep == '\n')
            break;
    }
    if (nfields != NFIELDS) {
        s_fail (csv, "expected %d fields, found %zu", NFIELDS, nfields);
        return -1;
    }
    return 1;
}

//  Parses 1..9 decimal digits into *out. Returns 0 or -1.
static int
s_parse_uint (const char *s, int32_t *out)
{
    size_t len = strlen (s);
    if (len == 0 || len > 9)
        return -1;
    int32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s [i] < '0' || s [i] > '9')
            return -1;
        v = v * 10 + (s [i] - '0');
    }
    *out = v;
    return 0;
}

static bool
s_is_zipcode (const char *s)
{
    for (int i = 0; i < 5; i++)
        if (s [i] < '0' || s [i] > '9')
            return false;
    return s [5] == 0;
}

static int
s_fill_entry (s_csv_t *csv, catalog_t *self, const size_t offsets [NFIELDS], catalog_entry_t *e)
{
    const char *f [NFIELDS];
    for (int i = 0; i < NFIELDS; i++)
        f [i] = self->arena + offsets [i];
    if (s_parse_uint (f [0], &e->region_id) != 0) {
        s_fail (csv, "RegionID is not a number: \"%.32s\"", f [0]);
        return -1;
    }
    if (s_parse_uint (f [1], &e->size_rank) != 0 || e->size_rank < 1) {
        s_fail (csv, "SizeRank is not a positive number: \"%.32s\"", f [1]);
        return -1;
    }
    if (!s_is_zipcode (f [2])) {
        s_fail (csv, "RegionName is not a 5-digit zipcode: \"%.32s\"", f [2]);
        return -1;
    }
    memcpy (e->zipcode, f [2], 6);
    if (!*f [3] || !*f [4]) {
        s_fail (csv, "empty RegionType or StateName");
        return -1;
    }
    const char *st = f [5];
    if (strlen (st) != 2 || st [0] < 'A' || st [0] > 'Z' || st [1] < 'A' || st [1] > 'Z') {
        s_fail (csv, "State is not a 2-letter code: \"%.32s\"", f [5]);
        return -1;
    }
    e->region_type = f [3];
    e->state_name = f [4];
    e->state = f [5];
    e->city = f [6];
    e->metro = f [7];
    e->county = f [8];
    return 0;
}

static int
s_cmp_zip (const void *a, const void *b)
{
    const catalog_entry_t *x = *(const catalog_entry_t * const *) a;
    const catalog_entry_t *y = *(const catalog_entry_t * const *) b;
    return strcmp (x->zipcode, y->zipcode);
}

catalog_t *
catalog_new_from_buffer (const char *data, size_t size, char *err, size_t errsize)
{
    assert (data || size == 0);
    if (err && errsize)
        err [0] = 0;
    s_csv_t csv = { .p = data, .end = data + size, .line = 1, .err = err, .errsize = errsize };
    if (size > CATALOG_MAX_BYTES) {
        s_fail (&csv, "input of %zu bytes exceeds %u", size, CATALOG_MAX_BYTES);
        return NULL;
    }
    size_t lines = 1;
    for (const char *q = data; q && q < data + size; q++) {
        q = memchr (q, '\n', (size_t) (data + size - q));
        if (!q)
            break;
        lines++;
    }
    if (lines > CATALOG_MAX_ROWS + 2) {
        s_fail (&csv, "more than %d rows", CATALOG_MAX_ROWS);
        return NULL;
    }
    catalog_t *self = calloc (1, sizeof *self);
    assert (self);
    self->arena_size = size + 16;
    self->arena = malloc (self->arena_size);
    self->entries = calloc (lines, sizeof *self->entries);
    assert (self->arena && self->entries);

    size_t offsets [NFIELDS];
    int rc = s_read_record (&csv, self, offsets);
    if (rc == 0)
        s_fail (&csv, "empty input: no header");
    if (rc != 1)
        goto fail;
    for (int i = 0; i < NFIELDS; i++)
        if (strcmp (self->arena + offsets [i], s_columns [i]) != 0) {
            s_fail (&csv, "header column %d is \"%.32s\", expected \"%s\"",
                    i + 1, self->arena + offsets [i], s_columns [i]);
            goto fail;
        }
    while (true) {
        csv.line++;
        rc = s_read_record (&csv, self, offsets);
        if (rc < 0)
            goto fail;
        if (rc == 0)
            break;
        if (self->count >= CATALOG_MAX_ROWS || self->count >= lines) {
            s_fail (&csv, "more than %d rows", CATALOG_MAX_ROWS);
            goto fail;
        }
        catalog_entry_t *e = &self->entries [self->count];
        if (s_fill_entry (&csv, self, offsets, e) != 0)
            goto fail;
        e->index = (uint32_t) self->count;
        self->count++;
    }
    if (self->count == 0) {
        s_fail (&csv, "no data rows");
        goto fail;
    }
    self->by_zip = malloc (self->count * sizeof *self->by_zip);
    assert (self->by_zip);
    for (size_t i = 0; i < self->count; i++)
        self->by_zip [i] = &self->entries [i];
    qsort (self->by_zip, self->count, sizeof *self->by_zip, s_cmp_zip);
    for (size_t i = 1; i < self->count; i++)
        if (strcmp (self->by_zip [i - 1]->zipcode, self->by_zip [i]->zipcode) == 0) {
            //  Data row k sits on line k + 2 (no record spans lines).
            csv.line = self->by_zip [i]->index > self->by_zip [i - 1]->index
                     ? self->by_zip [i]->index + 2 : self->by_zip [i - 1]->index + 2;
            s_fail (&csv, "duplicate zipcode %s", self->by_zip [i]->zipcode);
            goto fail;
        }
    return self;

fail:
    catalog_destroy (&self);
    return NULL;
}

catalog_t *
catalog_new (void)
{
    char err [256];
    catalog_t *self = catalog_new_from_buffer (zm_catalog_csv,
                                               (size_t) (zm_catalog_csv_end - zm_catalog_csv),
                                               err, sizeof err);
    if (!self)
        log_error ("catalog_invalid", LS ("reason", err));
    return self;
}

void
catalog_destroy (catalog_t **self_p)
{
    assert (self_p);
    catalog_t *self = *self_p;
    if (!self)
        return;
    free (self->by_zip);
    free (self->entries);
    free (self->arena);
    free (self);
    *self_p = NULL;
}

size_t
catalog_size (const catalog_t *self)
{
    assert (self);
    return self->count;
}

const catalog_entry_t *
catalog_at (const catalog_t *self, size_t index)
{
    assert (self);
    return index < self->count ? &self->entries [index] : NULL;
}

const catalog_entry_t *
catalog_lookup (const catalog_t *self, const char *zipcode)
{
    assert (self);
    if (!zipcode || strnlen (zipcode, 6) != 5 || !s_is_zipcode (zipcode))
        return NULL;
    catalog_entry_t key;
    memcpy (key.zipcode, zipcode, 6);
    const catalog_entry_t *kp = &key;
    const catalog_entry_t **hit = bsearch (&kp, self->by_zip, self->count,
                                           sizeof *self->by_zip, s_cmp_zip);
    return hit ? *hit : NULL;
}

int
catalog_expected_listings (const catalog_entry_t *entry)
{
    assert (entry);
    int64_t r = entry->size_rank < 1 ? 1 : entry->size_rank;
    int64_t base = 50 + (550 * 2000) / (2000 + r);
    uint64_t z = (uint64_t) strtoul (entry->zipcode, NULL, 10);
    int64_t j = (int64_t) (((z * 2654435761u) & 0xFFFFFFFFu) % 21) - 10;
    int64_t n = base * (100 + j) / 100;
    if (n < 50)
        n = 50;
    if (n > 600)
        n = 600;
    return (int) n;
}

const char *
catalog_market_tier (const catalog_entry_t *entry)
{
    assert (entry);
    if (entry->size_rank <= 1000)
        return "premium";
    if (entry->size_rank <= 5000)
        return "standard";
    return "emerging";
}

const char *
catalog_geographic_region (const catalog_entry_t *entry)
{
    assert (entry);
    static const struct { const char *region; const char *states; } regions [] = {
        { "Northeast", "CT ME MA NH RI VT NJ NY PA" },
        { "Midwest",   "IL IN MI OH WI IA KS MN MO NE ND SD" },
        { "South",     "DE FL GA MD NC SC VA DC WV AL KY MS TN AR LA OK TX" },
        { "West",      "AZ CO ID MT NV NM UT WY AK CA HI OR WA" },
    };
    const char *st = entry->state;
    if (!st || strlen (st) != 2)
        return "Unknown";
    for (size_t i = 0; i < sizeof regions / sizeof regions [0]; i++)
        for (const char *s = regions [i].states; *s; s += s [2] ? 3 : 2)
            if (s [0] == st [0] && s [1] == st [1])
                return regions [i].region;
    return "Unknown";
}
