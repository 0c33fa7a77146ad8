/*  metrics: registry of counters, gauges and histograms; Prometheus text rendering.

    Ownership: a registry owns its families, a family its series, a series its label values
    (sanitized copies). Nothing is freed before metrics_destroy, which is why series and
    family pointers, and the strings metrics_samples hands out, stay valid that long.

    Rendering has one path: a registry is rendered by flattening it into rows and putting the
    rows through a metrics_set_t, the same code that merges the rows workers send to the
    supervisor. So whatever a worker exposes locally is exactly what the supervisor re-exposes
    (plus the worker/instance labels).

    Names are checked against the Prometheus data model and against the naming rules that
    `promtool check metrics` lints (counter suffix _total, snake_case, no ':', no
    abbreviated or non-base units, no type in the name), so an exposition that compiles
    also passes promtool.                                                                  */
#include "common/metrics.h"
#include "common/log.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _metrics_series_t {
    metrics_family_t *family;
    char *values [METRICS_LABELS_MAX];
    double value;               //  counter/gauge value; histogram: sum of observations
    uint64_t count;             //  histogram: observations
    uint64_t *buckets;          //  histogram: per-bucket counts (not cumulative), nbounds + 1
};

struct _metrics_family_t {
    metrics_t *registry;
    char *name;
    char *help;
    metrics_type_t type;
    size_t nlabels;
    char *labels [METRICS_LABELS_MAX];
    size_t nbounds;
    double bounds [METRICS_BUCKETS_MAX];
    char le [METRICS_BUCKETS_MAX + 1][32];      //  rendered bounds, last is "+Inf"
    char *row_bucket, *row_sum, *row_count;     //  histogram row names
    size_t nseries;
    metrics_series_t *series [METRICS_SERIES_MAX];
    bool limit_logged;
};

struct _metrics_t {
    metrics_family_t **families;
    size_t nfamilies;
    size_t capacity;
    metrics_series_t *refused;  //  zipmine_metrics_series_refused_total
};

//  ---------------------------------------------------------------------------------------
//  Small helpers

static void *
s_alloc (size_t size)
{
    void *p = calloc (1, size ? size : 1);
    if (!p)
        abort ();
    return p;
}

static char *
s_strdup (const char *s)
{
    char *copy = strdup (s);
    if (!copy)
        abort ();
    return copy;
}

static char *
s_strdup2 (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    char *s = s_alloc (la + lb + 1);
    memcpy (s, a, la);
    memcpy (s + la, b, lb + 1);
    return s;
}

static bool
s_ends_with (const char *s, const char *suffix)
{
    size_t ls = strlen (s), lx = strlen (suffix);
    return ls >= lx && memcmp (s + ls - lx, suffix, lx) == 0;
}

//  Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid (overlong forms and
//  surrogates included).
static size_t
s_utf8_len (const unsigned char *s, size_t avail)
{
    unsigned char c = s [0];
    if (c < 0x80)
        return 1;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else
    if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else
    if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s [i] & 0xC0) != 0x80)
            return 0;
    if (c == 0xE0 && s [1] < 0xA0)
        return 0;           //  overlong
    if (c == 0xED && s [1] >= 0xA0)
        return 0;           //  surrogate
    if (c == 0xF0 && s [1] < 0x90)
        return 0;           //  overlong
    if (c == 0xF4 && s [1] >= 0x90)
        return 0;           //  above U+10FFFF
    return n;
}

//  Copies src into a new string of at most max bytes of valid UTF-8: invalid bytes and
//  control characters other than '\n' become '?', and the cut never splits a character.
static char *
s_sanitize (const char *src, size_t max)
{
    const unsigned char *s = (const unsigned char *) src;
    size_t len = strlen (src);
    char *out = s_alloc ((len < max ? len : max) + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; ) {
        size_t n = s_utf8_len (s + i, len - i);
        if (n == 0 || (n == 1 && ((s [i] < 0x20 && s [i] != '\n') || s [i] == 0x7F))) {
            if (o + 1 > max)
                break;
            out [o++] = '?';
            i += n ? n : 1;
            continue;
        }
        if (o + n > max)
            break;
        memcpy (out + o, s + i, n);
        o += n;
        i += n;
    }
    out [o] = 0;
    return out;
}

static bool
s_valid_utf8 (const char *str, size_t max)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t len = strnlen (str, max + 1);
    if (len > max)
        return false;
    for (size_t i = 0; i < len; ) {
        size_t n = s_utf8_len (s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

//  An SS58 address: 46..48 characters of the base58 alphabet (no 0, O, I, l).
static bool
s_looks_like_ss58 (const char *s)
{
    size_t len = strlen (s);
    if (len < 46 || len > 48)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s [i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum || c == '0' || c == 'O' || c == 'I' || c == 'l')
            return false;
    }
    return true;
}

//  Shortest decimal text that reads back as v; "NaN", "+Inf", "-Inf" as Prometheus spells
//  them.
static void
s_fmt_double (char *buf, size_t size, double v)
{
    if (isnan (v)) {
        snprintf (buf, size, "NaN");
        return;
    }
    if (isinf (v)) {
        snprintf (buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor (v) && fabs (v) < 1e15) {
        snprintf (buf, size, "%.0f", v);
        if (strcmp (buf, "-0") == 0)
            snprintf (buf, size, "0");
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf (buf, size, "%.*g", precision, v);
        if (strtod (buf, NULL) == v)
            return;
    }
}

//  A bucket bound as text: "+Inf" or a finite number strtod reads completely.
static bool
s_le_valid (const char *s)
{
    if (strcmp (s, "+Inf") == 0)
        return true;
    if (!*s)
        return false;
    char *end;
    double v = strtod (s, &end);
    return *end == 0 && isfinite (v);
}

//  ---------------------------------------------------------------------------------------
//  Name rules

bool
metrics_name_valid (const char *name)
{
    if (!name || !*name || strlen (name) > METRICS_ROW_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
               || (p > name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool
metrics_label_name_valid (const char *name)
{
    if (!name || !*name || strlen (name) > METRICS_LABEL_NAME_MAX)
        return false;
    if (name [0] == '_' && name [1] == '_')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
               || (p > name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

//  Words promtool's linter rejects as parts of a name ("_ms", "_milliseconds", "_counter").
static const char *s_banned_words [] = {
    "s", "ms", "us", "ns", "sec", "secs", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
    "milliseconds", "microseconds", "nanoseconds", "minutes", "hours", "days", "weeks",
    "kilobytes", "megabytes", "gigabytes", "terabytes", "petabytes", "kibibytes",
    "mebibytes", "gibibytes", "celsius", "fahrenheit", "percent",
    "counter", "gauge", "histogram", "summary", "untyped"
};

//  Why family name `name` of `type` would fail the linter, or NULL when it is fine.
static const char *
s_family_name_problem (const char *name, metrics_type_t type)
{
    if (!metrics_name_valid (name) || strlen (name) > METRICS_NAME_MAX)
        return "not a valid Prometheus metric name";
    for (const char *p = name; *p; p++) {
        if (*p == ':')
            return "':' is reserved for recording rules";
        if (*p >= 'A' && *p <= 'Z')
            return "metric names are snake_case";
    }
    char word [METRICS_NAME_MAX + 1];
    const char *p = name;
    while (*p) {
        size_t n = strcspn (p, "_");
        if (n > 0 && n < sizeof word) {
            memcpy (word, p, n);
            word [n] = 0;
            for (size_t i = 0; i < sizeof s_banned_words / sizeof *s_banned_words; i++)
                if (strcmp (word, s_banned_words [i]) == 0)
                    return "abbreviated or non-base unit, or a type, in the name";
        }
        p += n;
        while (*p == '_')
            p++;
    }
    bool total = s_ends_with (name, "_total");
    if (type == METRICS_COUNTER && !total)
        return "counter names end in _total";
    if (type != METRICS_COUNTER && total)
        return "only counter names end in _total";
    if (s_ends_with (name, "_bucket") || s_ends_with (name, "_count")
    ||  s_ends_with (name, "_sum") || s_ends_with (name, "_created"))
        return "_bucket, _count, _sum and _created are reserved suffixes";
    return NULL;
}

//  Label names a family may not declare: le (buckets), quantile (summaries) and the labels
//  the supervisor adds.
static bool
s_label_reserved (const char *name)
{
    return strcmp (name, "le") == 0 || strcmp (name, "quantile") == 0
        || strcmp (name, "worker") == 0 || strcmp (name, "instance") == 0;
}

static bool
s_label_name_lint_ok (const char *name)
{
    if (!metrics_label_name_valid (name))
        return false;
    for (const char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return false;           //  snake_case
    return true;
}

const char *
metrics_type_name (metrics_type_t type)
{
    switch (type) {
        case METRICS_COUNTER:   return "counter";
        case METRICS_GAUGE:     return "gauge";
        case METRICS_HISTOGRAM: return "histogram";
    }
    return "unknown";
}

int
metrics_type_parse (const char *name, metrics_type_t *type)
{
    static const metrics_type_t all [] = { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };
    for (size_t i = 0; i < 3; i++)
        if (strcmp (name, metrics_type_name (all [i])) == 0) {
            *type = all [i];
            return 0;
        }
    return -1;
}

//  ---------------------------------------------------------------------------------------
//  Registry

metrics_t *
metrics_new (void)
{
    metrics_t *self = s_alloc (sizeof *self);
    metrics_family_t *refused = metrics_counter (self, "zipmine_metrics_series_refused_total",
        "Label tuples refused because a family was full or a value looked like an address",
        NULL);
    assert (refused);
    self->refused = metrics_series (refused);
    assert (self->refused);
    return self;
}

static void
s_family_destroy (metrics_family_t *family)
{
    for (size_t i = 0; i < family->nseries; i++) {
        metrics_series_t *series = family->series [i];
        for (size_t j = 0; j < family->nlabels; j++)
            free (series->values [j]);
        free (series->buckets);
        free (series);
    }
    for (size_t j = 0; j < family->nlabels; j++)
        free (family->labels [j]);
    free (family->name);
    free (family->help);
    free (family->row_bucket);
    free (family->row_sum);
    free (family->row_count);
    free (family);
}

void
metrics_destroy (metrics_t **self_p)
{
    assert (self_p);
    metrics_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nfamilies; i++)
        s_family_destroy (self->families [i]);
    free (self->families);
    free (self);
    *self_p = NULL;
}

//  Splits "a,b" into label names; returns the count or -1 with a reason.
static int
s_parse_labels (const char *labels, char names [][METRICS_LABEL_NAME_MAX + 1],
                const char **problem)
{
    if (!labels || !*labels)
        return 0;
    int n = 0;
    const char *p = labels;
    while (true) {
        size_t len = strcspn (p, ",");
        if (n == METRICS_LABELS_MAX) {
            *problem = "too many labels";
            return -1;
        }
        if (len == 0 || len > METRICS_LABEL_NAME_MAX) {
            *problem = "empty or over-long label name";
            return -1;
        }
        memcpy (names [n], p, len);
        names [n][len] = 0;
        if (!s_label_name_lint_ok (names [n]) || s_label_reserved (names [n])) {
            *problem = "invalid or reserved label name";
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (strcmp (names [i], names [n]) == 0) {
                *problem = "repeated label name";
                return -1;
            }
        n++;
        if (!p [len])
            break;
        p += len + 1;
    }
    return n;
}

static metrics_family_t *
s_register (metrics_t *self, const char *name, const char *help, const char *labels,
            metrics_type_t type, const double *bounds, size_t nbounds)
{
    assert (self);
    const char *problem = NULL;
    char names [METRICS_LABELS_MAX][METRICS_LABEL_NAME_MAX + 1];
    int nlabels = 0;
    if (!name)
        problem = "no name";
    else
    if ((problem = s_family_name_problem (name, type)) != NULL)
        ;
    else
    if (!help || !*help || !s_valid_utf8 (help, METRICS_HELP_MAX))
        problem = "help must be 1..256 bytes of UTF-8";
    else
    if ((nlabels = s_parse_labels (labels, names, &problem)) < 0)
        ;
    else
    if (type == METRICS_HISTOGRAM) {
        if (!bounds || nbounds < 1 || nbounds > METRICS_BUCKETS_MAX)
            problem = "a histogram needs 1..24 bucket bounds";
        else
            for (size_t i = 0; i < nbounds && !problem; i++)
                if (!isfinite (bounds [i]) || (i > 0 && bounds [i] <= bounds [i - 1]))
                    problem = "bucket bounds must be finite and strictly increasing";
    }
    if (problem) {
        log_error ("metrics_register_failed", LS ("metric", name ? name : "(null)"),
                   LS ("reason", problem));
        return NULL;
    }
    //  Same name again: the same family if it is declared identically.
    for (size_t i = 0; i < self->nfamilies; i++) {
        metrics_family_t *family = self->families [i];
        if (strcmp (family->name, name) != 0)
            continue;
        bool same = family->type == type && strcmp (family->help, help) == 0
                 && family->nlabels == (size_t) nlabels;
        for (size_t j = 0; same && j < family->nlabels; j++)
            same = strcmp (family->labels [j], names [j]) == 0;
        if (same && type == METRICS_HISTOGRAM)
            same = family->nbounds == nbounds
                && memcmp (family->bounds, bounds, nbounds * sizeof (double)) == 0;
        if (same)
            return family;
        log_error ("metrics_register_failed", LS ("metric", name),
                   LS ("reason", "registered before with another type, help or labels"));
        return NULL;
    }
    metrics_family_t *family = s_alloc (sizeof *family);
    family->registry = self;
    family->name = s_strdup (name);
    family->help = s_strdup (help);
    family->type = type;
    family->nlabels = (size_t) nlabels;
    for (int j = 0; j < nlabels; j++)
        family->labels [j] = s_strdup (names [j]);
    if (type == METRICS_HISTOGRAM) {
        family->nbounds = nbounds;
        memcpy (family->bounds, bounds, nbounds * sizeof (double));
        for (size_t i = 0; i < nbounds; i++)
            s_fmt_double (family->le [i], sizeof family->le [i], bounds [i]);
        snprintf (family->le [nbounds], sizeof family->le [nbounds], "+Inf");
        family->row_bucket = s_strdup2 (name, "_bucket");
        family->row_sum = s_strdup2 (name, "_sum");
        family->row_count = s_strdup2 (name, "_count");
    }
    if (self->nfamilies == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 16;
        metrics_family_t **grown = realloc (self->families, capacity * sizeof *grown);
        if (!grown)
            abort ();
        self->families = grown;
        self->capacity = capacity;
    }
    self->families [self->nfamilies++] = family;
    return family;
}

metrics_family_t *
metrics_counter (metrics_t *self, const char *name, const char *help, const char *labels)
{
    return s_register (self, name, help, labels, METRICS_COUNTER, NULL, 0);
}

metrics_family_t *
metrics_gauge (metrics_t *self, const char *name, const char *help, const char *labels)
{
    return s_register (self, name, help, labels, METRICS_GAUGE, NULL, 0);
}

metrics_family_t *
metrics_histogram (metrics_t *self, const char *name, const char *help, const char *labels,
                   const double *bounds, size_t nbounds)
{
    return s_register (self, name, help, labels, METRICS_HISTOGRAM, bounds, nbounds);
}

static void
s_refuse (metrics_family_t *family, const char *reason)
{
    metrics_t *registry = family->registry;
    if (registry->refused && family != registry->refused->family)
        registry->refused->value += 1;
    if (!family->limit_logged) {
        family->limit_logged = true;
        log_warn ("metrics_series_limit", LS ("metric", family->name), LS ("reason", reason),
                  LI ("series", family->nseries));
    }
}

metrics_series_t *
metrics_series_v (metrics_family_t *family, const char *const *values, size_t nvalues)
{
    if (!family)
        return NULL;
    assert (nvalues == family->nlabels);
    //  Fast path (the common case): values that sanitizing would not change are compared as
    //  they are, without copying.
    bool plain = true;
    for (size_t j = 0; j < nvalues && plain; j++) {
        assert (values [j]);
        const unsigned char *v = (const unsigned char *) values [j];
        size_t len = 0;
        for (; v [len] && plain; len++)
            plain = v [len] >= 0x20 && v [len] < 0x7F;
        plain = plain && len <= METRICS_LABEL_VALUE_MAX;
    }
    if (plain)
        for (size_t i = 0; i < family->nseries; i++) {
            bool same = true;
            for (size_t j = 0; j < nvalues && same; j++)
                same = strcmp (family->series [i]->values [j], values [j]) == 0;
            if (same)
                return family->series [i];
        }
    char *clean [METRICS_LABELS_MAX] = { NULL };
    for (size_t j = 0; j < nvalues; j++)
        clean [j] = s_sanitize (values [j], METRICS_LABEL_VALUE_MAX);
    metrics_series_t *found = NULL;
    for (size_t i = 0; i < family->nseries && !found; i++) {
        bool same = true;
        for (size_t j = 0; j < nvalues && same; j++)
            same = strcmp (family->series [i]->values [j], clean [j]) == 0;
        if (same)
            found = family->series [i];
    }
    if (found) {
        for (size_t j = 0; j < nvalues; j++)
            free (clean [j]);
        return found;
    }
    const char *refusal = NULL;
    for (size_t j = 0; j < nvalues && !refusal; j++)
        if (s_looks_like_ss58 (clean [j]))
            refusal = "label value looks like an SS58 address";
    if (!refusal && family->nseries == METRICS_SERIES_MAX)
        refusal = "family holds the maximum number of series";
    if (refusal) {
        for (size_t j = 0; j < nvalues; j++)
            free (clean [j]);
        s_refuse (family, refusal);
        return NULL;
    }
    metrics_series_t *series = s_alloc (sizeof *series);
    series->family = family;
    for (size_t j = 0; j < nvalues; j++)
        series->values [j] = clean [j];
    if (family->type == METRICS_HISTOGRAM)
        series->buckets = s_alloc ((family->nbounds + 1) * sizeof (uint64_t));
    family->series [family->nseries++] = series;
    return series;
}

void
metrics_add (metrics_series_t *series, double v)
{
    if (!series)
        return;
    metrics_family_t *family = series->family;
    assert (family->type != METRICS_HISTOGRAM);
    if (family->type == METRICS_COUNTER && (isnan (v) || v < 0)) {
        log_warn ("metrics_counter_decrement", LS ("metric", family->name), LF ("value", v));
        return;
    }
    series->value += v;
}

void
metrics_inc (metrics_series_t *series)
{
    metrics_add (series, 1);
}

void
metrics_set (metrics_series_t *series, double v)
{
    if (!series)
        return;
    metrics_family_t *family = series->family;
    assert (family->type != METRICS_HISTOGRAM);
    if (family->type == METRICS_COUNTER) {
        if (isnan (v) || v < series->value)
            return;
    }
    series->value = v;
}

void
metrics_observe (metrics_series_t *series, double v)
{
    if (!series)
        return;
    metrics_family_t *family = series->family;
    assert (family->type == METRICS_HISTOGRAM);
    if (isnan (v))
        return;
    size_t i = 0;
    while (i < family->nbounds && v > family->bounds [i])
        i++;
    series->buckets [i]++;
    series->count++;
    series->value += v;
}

double
metrics_value (const metrics_series_t *series)
{
    return series ? series->value : 0;
}

uint64_t
metrics_count (const metrics_series_t *series)
{
    return series && series->family->type == METRICS_HISTOGRAM ? series->count : 0;
}

//  Fills one row with the series' labels (and "le" when le is not NULL).
static void
s_row (metrics_sample_t *row, const metrics_series_t *series, const char *name, double value,
       const char *le)
{
    const metrics_family_t *family = series->family;
    memset (row, 0, sizeof *row);
    row->name = name;
    row->type = family->type;
    row->value = value;
    row->help = family->help;
    for (size_t j = 0; j < family->nlabels; j++) {
        row->labels [j].name = family->labels [j];
        row->labels [j].value = series->values [j];
    }
    row->nlabels = family->nlabels;
    if (le) {
        row->labels [row->nlabels].name = "le";
        row->labels [row->nlabels].value = le;
        row->nlabels++;
    }
}

ssize_t
metrics_samples (metrics_t *self, metrics_sample_t **samples_p)
{
    assert (self);
    assert (samples_p);
    size_t n = 0;
    for (size_t i = 0; i < self->nfamilies; i++) {
        metrics_family_t *family = self->families [i];
        size_t per = family->type == METRICS_HISTOGRAM ? family->nbounds + 3 : 1;
        n += per * family->nseries;
    }
    *samples_p = NULL;
    if (n == 0)
        return 0;
    metrics_sample_t *rows = calloc (n, sizeof *rows);
    if (!rows)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < self->nfamilies; i++) {
        metrics_family_t *family = self->families [i];
        for (size_t s = 0; s < family->nseries; s++) {
            metrics_series_t *series = family->series [s];
            if (family->type != METRICS_HISTOGRAM) {
                s_row (&rows [k++], series, family->name, series->value, NULL);
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t b = 0; b <= family->nbounds; b++) {
                cumulative += series->buckets [b];
                s_row (&rows [k++], series, family->row_bucket, (double) cumulative,
                       family->le [b]);
            }
            s_row (&rows [k++], series, family->row_sum, series->value, NULL);
            s_row (&rows [k++], series, family->row_count, (double) series->count, NULL);
        }
    }
    assert (k == n);
    *samples_p = rows;
    return (ssize_t) n;
}

char *
metrics_render (metrics_t *self, size_t *size_p)
{
    assert (self);
    metrics_set_t *set = metrics_set_new (0);
    if (!set)
        return NULL;
    char *text = NULL;
    if (metrics_set_add_registry (set, self, NULL, 0) >= 0)
        text = metrics_set_render (set, size_p);
    metrics_set_destroy (&set);
    return text;
}

//  ---------------------------------------------------------------------------------------
//  Sets

typedef struct _s_row_t s_row_t;
struct _s_row_t {
    s_row_t *next;              //  next row of the same family
    char *name;
    double value;
    size_t nlabels;
    char *lnames [METRICS_SAMPLE_LABELS_MAX];
    char *lvalues [METRICS_SAMPLE_LABELS_MAX];
};

typedef struct {
    char *name;
    char *help;                 //  NULL until a row brings one
    metrics_type_t type;
    s_row_t *head, *tail;
} s_family_t;

struct _metrics_set_t {
    size_t max_rows;
    size_t nrows;
    s_family_t *families;
    size_t nfamilies;
    size_t capacity;
    size_t last;                //  index of the family found last (rows come in runs)
};

metrics_set_t *
metrics_set_new (size_t max_rows)
{
    metrics_set_t *self = s_alloc (sizeof *self);
    self->max_rows = max_rows ? max_rows : 100000;
    return self;
}

void
metrics_set_destroy (metrics_set_t **self_p)
{
    assert (self_p);
    metrics_set_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nfamilies; i++) {
        s_family_t *family = &self->families [i];
        s_row_t *row = family->head;
        while (row) {
            s_row_t *next = row->next;
            for (size_t j = 0; j < row->nlabels; j++) {
                free (row->lnames [j]);
                free (row->lvalues [j]);
            }
            free (row->name);
            free (row);
            row = next;
        }
        free (family->name);
        free (family->help);
    }
    free (self->families);
    free (self);
    *self_p = NULL;
}

size_t
metrics_set_size (const metrics_set_t *self)
{
    assert (self);
    return self->nrows;
}

//  The family a row named `name` of `type` belongs to (written into family, room for
//  METRICS_ROW_NAME_MAX + 1), or false when the name does not fit the type.
static bool
s_row_family (const char *name, metrics_type_t type, char *family, bool *is_bucket)
{
    *is_bucket = false;
    if (!metrics_name_valid (name))
        return false;
    size_t len = strlen (name);
    if (type == METRICS_HISTOGRAM) {
        static const char *suffixes [] = { "_bucket", "_sum", "_count" };
        for (size_t i = 0; i < 3; i++)
            if (s_ends_with (name, suffixes [i])) {
                size_t flen = len - strlen (suffixes [i]);
                memcpy (family, name, flen);
                family [flen] = 0;
                *is_bucket = i == 0;
                return flen > 0 && s_family_name_problem (family, type) == NULL;
            }
        return false;
    }
    if (type != METRICS_COUNTER && type != METRICS_GAUGE)
        return false;
    memcpy (family, name, len + 1);
    return s_family_name_problem (family, type) == NULL;
}

//  Validates one row; fills the label pairs to copy (row's own labels, then extra).
static bool
s_row_ok (const metrics_sample_t *sample, const metrics_label_t *extra, size_t nextra,
          char *family, const char **why)
{
    bool is_bucket;
    if (!sample->name || !s_row_family (sample->name, sample->type, family, &is_bucket)) {
        *why = "bad name for its type";
        return false;
    }
    if (sample->nlabels > METRICS_SAMPLE_LABELS_MAX
    ||  sample->nlabels + nextra > METRICS_SAMPLE_LABELS_MAX) {
        *why = "too many labels";
        return false;
    }
    bool has_le = false;
    for (size_t j = 0; j < sample->nlabels; j++) {
        const char *lname = sample->labels [j].name;
        const char *lvalue = sample->labels [j].value;
        if (!lname || !lvalue || !s_label_name_lint_ok (lname)) {
            *why = "bad label";
            return false;
        }
        if (s_looks_like_ss58 (lvalue)) {
            *why = "label value looks like an SS58 address";
            return false;
        }
        if (strcmp (lname, "le") == 0) {
            if (!is_bucket || !s_le_valid (lvalue)) {
                *why = "bad le label";
                return false;
            }
            has_le = true;
        }
        else
        if (strcmp (lname, "quantile") == 0) {
            *why = "reserved label quantile";
            return false;
        }
        for (size_t k = 0; k < j; k++)
            if (strcmp (sample->labels [k].name, lname) == 0) {
                *why = "repeated label";
                return false;
            }
        for (size_t k = 0; k < nextra; k++)
            if (strcmp (extra [k].name, lname) == 0) {
                *why = "label clashes with an added label";
                return false;
            }
    }
    if (is_bucket && !has_le) {
        *why = "bucket row without le";
        return false;
    }
    return true;
}

static s_family_t *
s_set_family (metrics_set_t *self, const char *name, metrics_type_t type, const char *help,
              bool *type_clash)
{
    *type_clash = false;
    s_family_t *family = NULL;
    if (self->last < self->nfamilies && strcmp (self->families [self->last].name, name) == 0)
        family = &self->families [self->last];
    for (size_t i = 0; !family && i < self->nfamilies; i++)
        if (strcmp (self->families [i].name, name) == 0) {
            family = &self->families [i];
            self->last = i;
        }
    if (family) {
        if (family->type != type) {
            *type_clash = true;
            return NULL;
        }
    }
    else {
        if (self->nfamilies == self->capacity) {
            size_t capacity = self->capacity ? self->capacity * 2 : 32;
            s_family_t *grown = realloc (self->families, capacity * sizeof *grown);
            if (!grown)
                abort ();
            self->families = grown;
            self->capacity = capacity;
        }
        family = &self->families [self->nfamilies];
        memset (family, 0, sizeof *family);
        family->name = s_strdup (name);
        family->type = type;
        self->last = self->nfamilies++;
    }
    if (!family->help && help && *help)
        family->help = s_sanitize (help, METRICS_HELP_MAX);
    return family;
}

size_t
metrics_set_add (metrics_set_t *self, const metrics_sample_t *samples, size_t n,
                 const metrics_label_t *extra, size_t nextra)
{
    assert (self);
    assert (nextra <= METRICS_SAMPLE_LABELS_MAX);
    for (size_t k = 0; k < nextra; k++) {
        assert (s_label_name_lint_ok (extra [k].name));
        assert (extra [k].value);
    }
    size_t dropped = 0;
    const char *first_why = NULL;
    const char *first_name = NULL;
    for (size_t i = 0; i < n; i++) {
        const metrics_sample_t *sample = &samples [i];
        char fname [METRICS_ROW_NAME_MAX + 1];
        const char *why = NULL;
        s_family_t *family = NULL;
        bool clash = false;
        if (self->nrows >= self->max_rows)
            why = "set is full";
        else
        if (s_row_ok (sample, extra, nextra, fname, &why)) {
            family = s_set_family (self, fname, sample->type, sample->help, &clash);
            if (clash)
                why = "type differs from the family's";
        }
        if (!family) {
            dropped++;
            if (!first_why) {
                first_why = why;
                first_name = sample->name;
            }
            continue;
        }
        s_row_t *row = s_alloc (sizeof *row);
        row->name = s_strdup (sample->name);
        row->value = sample->value;
        for (size_t j = 0; j < sample->nlabels; j++) {
            row->lnames [row->nlabels] = s_strdup (sample->labels [j].name);
            row->lvalues [row->nlabels] = s_sanitize (sample->labels [j].value,
                                                      METRICS_LABEL_VALUE_MAX);
            row->nlabels++;
        }
        for (size_t k = 0; k < nextra; k++) {
            row->lnames [row->nlabels] = s_strdup (extra [k].name);
            row->lvalues [row->nlabels] = s_sanitize (extra [k].value, METRICS_LABEL_VALUE_MAX);
            row->nlabels++;
        }
        if (family->tail)
            family->tail->next = row;
        else
            family->head = row;
        family->tail = row;
        self->nrows++;
    }
    if (dropped)
        log_warn ("metrics_rows_dropped", LI ("dropped", dropped), LI ("rows", n),
                  LS ("first_reason", first_why ? first_why : "?"),
                  LS ("first_name", first_name ? first_name : "(null)"));
    return dropped;
}

ssize_t
metrics_set_add_registry (metrics_set_t *self, metrics_t *registry,
                          const metrics_label_t *extra, size_t nextra)
{
    assert (self);
    assert (registry);
    metrics_sample_t *rows = NULL;
    ssize_t n = metrics_samples (registry, &rows);
    if (n < 0)
        return -1;
    size_t dropped = metrics_set_add (self, rows, (size_t) n, extra, nextra);
    free (rows);
    return (ssize_t) dropped;
}

//  A growing output buffer; out of memory aborts.
typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

static void
s_buf_put (s_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc (b->data, cap);
        if (!grown)
            abort ();
        b->data = grown;
        b->cap = cap;
    }
    memcpy (b->data + b->len, s, n);
    b->len += n;
    b->data [b->len] = 0;
}

static void
s_buf_puts (s_buf_t *b, const char *s)
{
    s_buf_put (b, s, strlen (s));
}

//  Escapes '\\' and '\n' (and '"' when quoted): HELP text and label values.
static void
s_buf_escaped (s_buf_t *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else
        if (*s == '\n')
            esc = "\\n";
        else
        if (*s == '"' && quote)
            esc = "\\\"";
        if (esc) {
            s_buf_put (b, run, (size_t) (s - run));
            s_buf_puts (b, esc);
            run = s + 1;
        }
    }
    s_buf_put (b, run, (size_t) (s - run));
}

char *
metrics_set_render (metrics_set_t *self, size_t *size_p)
{
    assert (self);
    s_buf_t b = { NULL, 0, 0 };
    s_buf_put (&b, "", 0);
    for (size_t i = 0; i < self->nfamilies; i++) {
        s_family_t *family = &self->families [i];
        s_buf_puts (&b, "# HELP ");
        s_buf_puts (&b, family->name);
        s_buf_puts (&b, " ");
        s_buf_escaped (&b, family->help ? family->help : family->name, false);
        s_buf_puts (&b, "\n# TYPE ");
        s_buf_puts (&b, family->name);
        s_buf_puts (&b, " ");
        s_buf_puts (&b, metrics_type_name (family->type));
        s_buf_puts (&b, "\n");
        for (s_row_t *row = family->head; row; row = row->next) {
            s_buf_puts (&b, row->name);
            if (row->nlabels) {
                s_buf_puts (&b, "{");
                for (size_t j = 0; j < row->nlabels; j++) {
                    if (j)
                        s_buf_puts (&b, ",");
                    s_buf_puts (&b, row->lnames [j]);
                    s_buf_puts (&b, "=\"");
                    s_buf_escaped (&b, row->lvalues [j], true);
                    s_buf_puts (&b, "\"");
                }
                s_buf_puts (&b, "}");
            }
            char number [40];
            s_fmt_double (number, sizeof number, row->value);
            s_buf_puts (&b, " ");
            s_buf_puts (&b, number);
            s_buf_puts (&b, "\n");
        }
    }
    if (size_p)
        *size_p = b.len;
    return b.data;
}
