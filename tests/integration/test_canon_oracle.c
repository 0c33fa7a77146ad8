/*  common/canon against CPython's json.dumps (sort_keys=True, separators=(',', ':')) and float
    repr (tests/python/canon_oracle.py).

    One batch, one python3 process:
      - 10,000 random documents (objects, arrays, nesting to depth 4) with awkward doubles
        (1e-5, 1e16, 0.1 + 0.2, subnormals, -0.0, powers of ten and their neighbours, random
        bit patterns), int64 extremes, strings with every control character, DEL, '"', '\',
        non-ASCII up to U+10FFFF (astral plane as surrogate pairs) and embedded NUL. Each is
        built twice, with canon and with jansson; jansson's text (17 significant digits, ASCII
        escapes) carries it to Python, and canon's bytes must equal json.dumps' bytes.
      - repr of 2,098 powers of two (every binade, where the round-trip interval is lopsided),
        10,000 random bit patterns and 5,000 short decimals: canon_format_double must print
        what repr prints.
    Seed: ZM_ORACLE_SEED, else the clock (printed).                                         */

#include "common/canon.h"
#include "tests/python/oracle.h"
#include "tests/testutil.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>

enum { N_DOCS = 10000, N_BITS = 10000, N_DECIMAL = 5000 };

static uint64_t s_rng;

static uint64_t
s_below (uint64_t n)
{
    return oracle_rand (&s_rng) % n;
}

static double
s_from_bits (uint64_t b)
{
    double d;
    memcpy (&d, &b, sizeof d);
    return d;
}

static double
s_finite_bits (void)
{
    for (;;) {
        double d = s_from_bits (oracle_rand (&s_rng));
        if (isfinite (d))
            return d;
    }
}

static double
s_short_decimal (void)
{
    char buf [64];
    snprintf (buf, sizeof buf, "%s%" PRIu64 "e%d", s_below (2) ? "-" : "",
              s_below (1000000), (int) s_below (640) - 330);
    return strtod (buf, NULL);
}

static double
s_double_any (void)
{
    static const double awkward [] = {
        1e-5, 1e-4, 0.0001, 0.00001234, 1e16, 1e15, 9999999999999998.0, 1e17, 1e22, 1e23,
        0.1 + 0.2, 0.1, 1.0 / 3, 2.0 / 3, 5e-324, 2.2250738585072014e-308,
        2.2250738585072009e-308, 1.7976931348623157e308, 0.0, -0.0, 1.0, -1.0, 100.0,
        123456789012345680.0, 0.55, 0.30, 0.10, 0.05, 9007199254740993.0, 4.35, 1e-7,
        1.5e-5, 123e-20, 3.14159, 1e300, 1e-300
    };
    switch (s_below (6)) {
        case 0:  return awkward [s_below (sizeof awkward / sizeof awkward [0])];
        case 1:  return s_finite_bits ();
        case 2:  return s_short_decimal ();
        case 3: {
            double p = pow (10.0, (double) ((int) s_below (40) - 20));
            return s_below (2) ? nextafter (p, INFINITY) : nextafter (p, 0);
        }
        case 4:  return ldexp (1.0, (int) s_below (2098) - 1074);
        default: return (double) s_below (100000) / (double) (1 + s_below (1000));
    }
}

//  Short decimals above 1.8e308 read as infinity: draw again.
static double
s_double (void)
{
    for (;;) {
        double d = s_double_any ();
        if (isfinite (d))
            return d;
    }
}

static int64_t
s_int (void)
{
    switch (s_below (4)) {
        case 0:  return (int64_t) oracle_rand (&s_rng);
        case 1:  return s_below (2) ? INT64_MAX : INT64_MIN;
        default: return (int64_t) s_below (2000) - 1000;
    }
}

static const char *s_atoms [] = {
    "a", "Zz", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f",
    "\x7f", "~", "\xc2\x80", "\xc3\xa9", "\xdf\xbf", "\xe0\xa0\x80", "\xe2\x80\xa8",
    "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80",
    "\xf4\x8f\xbf\xbf", "hotkey", "19103", "key"
};

static size_t
s_string (char *out, size_t size, bool allow_nul)
{
    size_t len = 0, n = s_below (8);
    for (size_t i = 0; i < n; i++) {
        if (allow_nul && s_below (20) == 0) {
            if (len + 2 > size)
                break;
            out [len++] = 0;
            continue;
        }
        if (s_below (4) == 0) {
            //  Any control character.
            if (len + 2 > size)
                break;
            out [len++] = (char) (1 + s_below (31));
            continue;
        }
        const char *a = s_atoms [s_below (sizeof s_atoms / sizeof s_atoms [0])];
        size_t al = strlen (a);
        if (len + al + 1 > size)
            break;
        memcpy (out + len, a, al);
        len += al;
    }
    out [len] = 0;
    return len;
}

//  Builds the same random value twice.
static void
s_value (int depth, canon_t **c, json_t **j)
{
    uint64_t kind = depth >= 4 ? s_below (6) : s_below (9);
    char buf [256];
    if (kind == 0) {
        *c = canon_null ();
        *j = json_null ();
    }
    else
    if (kind == 1) {
        bool b = s_below (2);
        *c = canon_bool (b);
        *j = json_boolean (b);
    }
    else
    if (kind == 2) {
        int64_t v = s_int ();
        *c = canon_int (v);
        *j = json_integer (v);
    }
    else
    if (kind == 3 || kind == 4) {
        double v = s_double ();
        *c = canon_double (v);
        *j = json_real (v);
    }
    else
    if (kind == 5) {
        size_t len = s_string (buf, sizeof buf, true);
        *c = canon_string (buf, len);
        *j = json_stringn (buf, len);
    }
    else
    if (kind == 6 || kind == 7) {
        *c = canon_object ();
        *j = json_object ();
        size_t n = s_below (6);
        for (size_t i = 0; i < n; i++) {
            s_string (buf, sizeof buf, false);
            if (json_object_get (*j, buf))
                continue;
            canon_t *cv;
            json_t *jv;
            s_value (depth + 1, &cv, &jv);
            CHECK (canon_set (*c, buf, &cv) == 0);
            CHECK (json_object_set_new (*j, buf, jv) == 0);
        }
    }
    else {
        *c = canon_array ();
        *j = json_array ();
        size_t n = s_below (6);
        for (size_t i = 0; i < n; i++) {
            canon_t *cv;
            json_t *jv;
            s_value (depth + 1, &cv, &jv);
            CHECK (canon_append (*c, &cv) == 0);
            CHECK (json_array_append_new (*j, jv) == 0);
        }
    }
    CHECK (*c && *j);
}

static void
s_put_f (FILE *f, double d, double *list, size_t *n)
{
    uint64_t b;
    memcpy (&b, &d, sizeof b);
    fprintf (f, "F %016" PRIx64 "\n", b);
    list [(*n)++] = d;
}

int
main (void)
{
    s_rng = oracle_seed ();
    char **mine = calloc (N_DOCS, sizeof *mine);
    size_t nf_max = 2098 + N_BITS + N_DECIMAL;
    double *floats = calloc (nf_max, sizeof *floats);
    CHECK (mine && floats);
    char *input = NULL;
    size_t input_len = 0;
    FILE *f = open_memstream (&input, &input_len);
    CHECK (f);
    size_t bytes = 0;
    for (size_t i = 0; i < N_DOCS; i++) {
        canon_t *c;
        json_t *j;
        s_value (0, &c, &j);
        mine [i] = canon_dumps (c, NULL);
        bytes += strlen (mine [i]);
        char *jt = json_dumps (j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY
                                  | JSON_REAL_PRECISION (17));
        CHECK (jt);
        fprintf (f, "%s\n", jt);
        free (jt);
        json_decref (j);
        canon_destroy (&c);
    }
    size_t nf = 0;
    for (int e = -1074; e <= 1023; e++)
        s_put_f (f, ldexp (1.0, e), floats, &nf);
    for (size_t i = 0; i < N_BITS; i++)
        s_put_f (f, s_finite_bits (), floats, &nf);
    while (nf < nf_max) {
        double d = s_short_decimal ();
        if (isfinite (d))
            s_put_f (f, d, floats, &nf);
    }
    CHECK (fclose (f) == 0);

    char *answers = oracle_run ("canon_oracle.py", input, input_len);
    char *cursor = answers;
    for (size_t i = 0; i < N_DOCS; i++) {
        const char *expect = oracle_line (&cursor);
        CHECK (expect);
        if (strcmp (mine [i], expect) != 0) {
            fprintf (stderr, "document %zu:\n  canon  %s\n  python %s\n", i, mine [i], expect);
            CHECK_EQ_STR (mine [i], expect);
        }
        free (mine [i]);
    }
    for (size_t i = 0; i < nf; i++) {
        const char *expect = oracle_line (&cursor);
        CHECK (expect);
        char buf [CANON_DOUBLE_MAX];
        CHECK (canon_format_double (floats [i], buf) > 0);
        if (strcmp (buf, expect) != 0)
            fprintf (stderr, "double %a: canon %s, repr %s\n", floats [i], buf, expect);
        CHECK_EQ_STR (buf, expect);
    }
    CHECK (oracle_line (&cursor) == NULL);
    printf ("agreed: %d documents (%zu bytes), %zu doubles\n", N_DOCS, bytes, nf);
    free (answers);
    free (input);
    free (floats);
    free (mine);
    TEST_DONE ();
}
