/*  canon: canonical JSON as CPython's json.dumps (sort_keys=True, separators=(',', ':'))
    prints it, and the consensus document. See canon.h for the output rules.

    Values form a tree owned by its root; objects keep insertion order and are sorted only
    when printed. Doubles are printed by finding the shortest round-trip digits with the C
    library's correctly rounded printf ("%.*e") and strtod: at precision p the nearest p-digit
    decimal is tried and, at a power of two, where the interval of decimals that read back to
    the double is lopsided (the gap below is half the gap above), so is the p-digit neighbour
    on the other side of the double. The least p that reads back (found by bisection) gives
    the digit string CPython's dtoa (mode 0) yields. The 'r' layout rules follow
    Python/pystrtod.c format_float_short.                                                    */

#include "common/canon.h"
#include "common/strbuf.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

typedef enum { S_OBJECT, S_ARRAY, S_STRING, S_INT, S_DOUBLE, S_BOOL, S_NULL } s_kind_t;

struct _canon_t {
    s_kind_t kind;
    char *str;                      //  S_STRING: the bytes (NUL-terminated copy)
    size_t len;
    int64_t i;
    double d;
    bool b;
    canon_t **items;                //  S_OBJECT, S_ARRAY
    char **keys;                    //  S_OBJECT
    size_t n, cap;
};

//  --------------------------------------------------------------------------
//  UTF-8

//  Decodes one code point at s [*i..len); returns it and advances *i, or returns -1 for
//  anything Python's UTF-8 codec would refuse.
static int32_t
s_utf8_next (const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s [*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    int need;
    int32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
        need = 1;
        cp = c & 0x1f;
        min = 0x80;
    }
    else
    if ((c & 0xf0) == 0xe0) {
        need = 2;
        cp = c & 0x0f;
        min = 0x800;
    }
    else
    if ((c & 0xf8) == 0xf0) {
        need = 3;
        cp = c & 0x07;
        min = 0x10000;
    }
    else
        return -1;
    if (len - *i <= (size_t) need)
        return -1;
    for (int k = 1; k <= need; k++) {
        unsigned char cc = s [*i + (size_t) k];
        if ((cc & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += (size_t) need + 1;
    return cp;
}

bool
canon_utf8_valid (const char *s, size_t len)
{
    size_t i = 0;
    while (i < len)
        if (s_utf8_next ((const unsigned char *) s, len, &i) < 0)
            return false;
    return true;
}

static void
s_put_u16 (strbuf_t *b, unsigned v)
{
    char tmp [8];
    snprintf (tmp, sizeof tmp, "\\u%04x", v & 0xffffU);
    strbuf_addn (b, tmp, 6);
}

//  s must be valid UTF-8 (checked when the value was made).
static void
s_put_string (strbuf_t *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *) s;
    strbuf_reserve (b, len + 2);
    strbuf_addc (b, '"');
    size_t i = 0;
    while (i < len) {
        //  Runs of plain printable ASCII are copied at once.
        size_t start = i;
        while (i < len && u [i] >= 0x20 && u [i] <= 0x7e && u [i] != '"' && u [i] != '\\')
            i++;
        if (i > start)
            strbuf_addn (b, s + start, i - start);
        if (i >= len)
            break;
        int32_t cp = s_utf8_next (u, len, &i);
        assert (cp >= 0);
        switch (cp) {
            case '"':  strbuf_addn (b, "\\\"", 2); break;
            case '\\': strbuf_addn (b, "\\\\", 2); break;
            case '\n': strbuf_addn (b, "\\n", 2); break;
            case '\r': strbuf_addn (b, "\\r", 2); break;
            case '\t': strbuf_addn (b, "\\t", 2); break;
            case '\b': strbuf_addn (b, "\\b", 2); break;
            case '\f': strbuf_addn (b, "\\f", 2); break;
            default:
                if (cp >= 0x10000) {
                    uint32_t v = (uint32_t) cp - 0x10000;
                    s_put_u16 (b, 0xd800 | (v >> 10));
                    s_put_u16 (b, 0xdc00 | (v & 0x3ff));
                }
                else
                    s_put_u16 (b, (unsigned) cp);
        }
    }
    strbuf_addc (b, '"');
}

//  --------------------------------------------------------------------------
//  Doubles

//  Reads "%.*e" output ("d.ddde+XX" or "de+XX") into digits (NUL-terminated) and exponent.
static void
s_parse_e (const char *buf, char *digits, int *exp10)
{
    size_t n = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits [n++] = *p;
    digits [n] = 0;
    assert (*p == 'e');
    *exp10 = atoi (p + 1);
}

static bool
s_reads_back (const char *digits, int exp10, double v)
{
    char buf [48];
    snprintf (buf, sizeof buf, "%c.%se%d", digits [0], digits + 1, exp10);
    return strtod (buf, NULL) == v;
}

//  digits (p of them) +1 or -1 in the last place, keeping p digits; adjusts exp10 when the
//  step crosses a power of ten.
static void
s_step (char *digits, int *exp10, int dir)
{
    size_t p = strlen (digits);
    if (dir > 0) {
        size_t i = p;
        while (i > 0 && digits [i - 1] == '9')
            digits [--i] = '0';
        if (i == 0) {
            digits [0] = '1';       //  9.99 -> 1.00 x 10 (digits after the first are zeros)
            (*exp10)++;
        }
        else
            digits [i - 1]++;
    }
    else {
        size_t i = p;
        while (i > 0 && digits [i - 1] == '0')
            digits [--i] = '9';
        assert (i > 0);
        digits [i - 1]--;
        if (digits [0] == '0') {
            //  1.00 -> 9.99 x 10^-1: the p-digit grid below a power of ten is finer.
            memset (digits, '9', p);
            (*exp10)--;
        }
    }
}

//  Whether some p-digit decimal reads back to v > 0, and if so which one: the nearest
//  p-digit decimal, else, when v is a power of two (the only place where the interval of
//  decimals reading back to v is lopsided: the gap below is half the gap above), its
//  neighbour on the other side of v.
static bool
s_try (double v, bool pow2, int p, char digits [24], int *exp10)
{
    char buf [48];
    snprintf (buf, sizeof buf, "%.*e", p - 1, v);
    s_parse_e (buf, digits, exp10);
    double back = strtod (buf, NULL);
    if (back == v)
        return true;
    if (!pow2)
        return false;
    char other [24];
    memcpy (other, digits, strlen (digits) + 1);
    int e1 = *exp10;
    s_step (other, &e1, back < v ? 1 : -1);
    if (!s_reads_back (other, e1, v))
        return false;
    memcpy (digits, other, strlen (other) + 1);
    *exp10 = e1;
    return true;
}

//  Shortest round-trip digits of v > 0 (finite), without trailing zeros. "Some p-digit
//  decimal lies in v's round-trip interval" only gets truer as p grows (the p-digit decimals
//  are among the (p+1)-digit ones), and s_try decides exactly that, so the least p is found by
//  bisection over 1..17 (17 always works). The first probe is p = 16, because computed values
//  (scores, weights) mostly need 16 or 17 digits.
static void
s_shortest (double v, char digits [24], int *exp10)
{
    uint64_t bits;
    memcpy (&bits, &v, sizeof bits);
    bool pow2 = (bits & 0xfffffffffffffULL) == 0;
    int lo = 1, hi = 17;
    bool found = false;             //  digits/exp10 hold the answer for p = hi
    int mid = 16;
    while (lo < hi) {
        char d [24];
        int e;
        if (s_try (v, pow2, mid, d, &e)) {
            hi = mid;
            memcpy (digits, d, sizeof d);
            *exp10 = e;
            found = true;
        }
        else
            lo = mid + 1;
        mid = (lo + hi) / 2;
    }
    if (!found) {
        bool ok = s_try (v, pow2, 17, digits, exp10);
        assert (ok);
        (void) ok;
    }
    size_t n = strlen (digits);
    while (n > 1 && digits [n - 1] == '0')
        digits [--n] = 0;
}

int
canon_format_double (double v, char *buf)
{
    if (!isfinite (v))
        return -1;
    char *o = buf;
    if (signbit (v))
        *o++ = '-';
    if (v == 0) {
        memcpy (o, "0.0", 4);
        return (int) (o - buf) + 3;
    }
    char digits [24];
    int e;
    s_shortest (fabs (v), digits, &e);
    int n = (int) strlen (digits);
    int decpt = e + 1;
    if (e < -4 || e >= 16) {
        *o++ = digits [0];
        if (n > 1) {
            *o++ = '.';
            memcpy (o, digits + 1, (size_t) n - 1);
            o += n - 1;
        }
        o += sprintf (o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    else
    if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy (o, digits, (size_t) n);
        o += n;
    }
    else
    if (decpt >= n) {
        memcpy (o, digits, (size_t) n);
        o += n;
        for (int i = 0; i < decpt - n; i++)
            *o++ = '0';
        memcpy (o, ".0", 2);
        o += 2;
    }
    else {
        memcpy (o, digits, (size_t) decpt);
        o += decpt;
        *o++ = '.';
        memcpy (o, digits + decpt, (size_t) (n - decpt));
        o += n - decpt;
    }
    *o = 0;
    return (int) (o - buf);
}

//  --------------------------------------------------------------------------
//  Values

static canon_t *
s_new (s_kind_t kind)
{
    canon_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->kind = kind;
    return self;
}

canon_t *
canon_object (void)
{
    return s_new (S_OBJECT);
}

canon_t *
canon_array (void)
{
    return s_new (S_ARRAY);
}

canon_t *
canon_string (const char *s, size_t len)
{
    assert (s || len == 0);
    if (!canon_utf8_valid (s, len))
        return NULL;
    canon_t *self = s_new (S_STRING);
    self->str = malloc (len + 1);
    if (!self->str)
        abort ();
    if (len)
        memcpy (self->str, s, len);
    self->str [len] = 0;
    self->len = len;
    return self;
}

canon_t *
canon_cstring (const char *s)
{
    assert (s);
    return canon_string (s, strlen (s));
}

canon_t *
canon_int (int64_t v)
{
    canon_t *self = s_new (S_INT);
    self->i = v;
    return self;
}

canon_t *
canon_double (double v)
{
    if (!isfinite (v))
        return NULL;
    canon_t *self = s_new (S_DOUBLE);
    self->d = v;
    return self;
}

canon_t *
canon_bool (bool v)
{
    canon_t *self = s_new (S_BOOL);
    self->b = v;
    return self;
}

canon_t *
canon_null (void)
{
    return s_new (S_NULL);
}

void
canon_destroy (canon_t **self_p)
{
    assert (self_p);
    canon_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++) {
        canon_destroy (&self->items [i]);
        if (self->keys)
            free (self->keys [i]);
    }
    free (self->items);
    free (self->keys);
    free (self->str);
    free (self);
    *self_p = NULL;
}

static void
s_grow (canon_t *self)
{
    if (self->n < self->cap)
        return;
    size_t cap = self->cap ? self->cap * 2 : 8;
    canon_t **items = realloc (self->items, cap * sizeof *items);
    if (!items)
        abort ();
    self->items = items;
    if (self->kind == S_OBJECT) {
        char **keys = realloc (self->keys, cap * sizeof *keys);
        if (!keys)
            abort ();
        self->keys = keys;
    }
    self->cap = cap;
}

int
canon_set (canon_t *self, const char *key, canon_t **value_p)
{
    assert (self && self->kind == S_OBJECT);
    assert (key && value_p);
    canon_t *value = *value_p;
    *value_p = NULL;
    if (!value)
        return -1;
    size_t klen = strlen (key);
    bool ok = canon_utf8_valid (key, klen);
    for (size_t i = 0; ok && i < self->n; i++)
        if (strcmp (self->keys [i], key) == 0)
            ok = false;
    if (!ok) {
        canon_destroy (&value);
        return -1;
    }
    s_grow (self);
    self->keys [self->n] = strdup (key);
    if (!self->keys [self->n])
        abort ();
    self->items [self->n++] = value;
    return 0;
}

int
canon_append (canon_t *self, canon_t **value_p)
{
    assert (self && self->kind == S_ARRAY);
    assert (value_p);
    canon_t *value = *value_p;
    *value_p = NULL;
    if (!value)
        return -1;
    s_grow (self);
    self->items [self->n++] = value;
    return 0;
}

//  Bytewise order of valid UTF-8 is code point order, which is how Python sorts str.
static int
s_cmp_key_p (const void *a, const void *b)
{
    return strcmp (**(char ** const *) a, **(char ** const *) b);
}

static void
s_put (strbuf_t *b, const canon_t *v)
{
    char tmp [CANON_DOUBLE_MAX];
    switch (v->kind) {
        case S_NULL:
            strbuf_addn (b, "null", 4);
            break;
        case S_BOOL:
            if (v->b)
                strbuf_addn (b, "true", 4);
            else
                strbuf_addn (b, "false", 5);
            break;
        case S_INT: {
            int n = snprintf (tmp, sizeof tmp, "%" PRId64, v->i);
            strbuf_addn (b, tmp, (size_t) n);
            break;
        }
        case S_DOUBLE: {
            int n = canon_format_double (v->d, tmp);
            assert (n > 0);
            strbuf_addn (b, tmp, (size_t) n);
            break;
        }
        case S_STRING:
            s_put_string (b, v->str, v->len);
            break;
        case S_ARRAY:
            strbuf_addc (b, '[');
            for (size_t i = 0; i < v->n; i++) {
                if (i)
                    strbuf_addc (b, ',');
                s_put (b, v->items [i]);
            }
            strbuf_addc (b, ']');
            break;
        case S_OBJECT: {
            //  Sort pointers to the keys; each key pointer finds its value by its slot.
            char ***order = malloc ((v->n ? v->n : 1) * sizeof *order);
            if (!order)
                abort ();
            for (size_t i = 0; i < v->n; i++)
                order [i] = &v->keys [i];
            qsort (order, v->n, sizeof *order, s_cmp_key_p);
            strbuf_addc (b, '{');
            for (size_t i = 0; i < v->n; i++) {
                size_t slot = (size_t) (order [i] - v->keys);
                if (i)
                    strbuf_addc (b, ',');
                s_put_string (b, v->keys [slot], strlen (v->keys [slot]));
                strbuf_addc (b, ':');
                s_put (b, v->items [slot]);
            }
            strbuf_addc (b, '}');
            free (order);
            break;
        }
    }
}

char *
canon_dumps (const canon_t *self, size_t *len_p)
{
    assert (self);
    strbuf_t b = { NULL, 0, 0 };
    strbuf_reserve (&b, 64);
    s_put (&b, self);
    if (len_p)
        *len_p = b.len;
    return b.data;
}

void
canon_sha256_hex (const void *data, size_t len, char hex [65])
{
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest (data, len, md, &mdlen, EVP_sha256 (), NULL) || mdlen != 32)
        abort ();                   //  only on OpenSSL running out of memory
    for (unsigned i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", md [i]);
}

//  --------------------------------------------------------------------------
//  Consensus document

static int
s_cmp_pair (const void *a, const void *b)
{
    return strcmp (((const canon_pair_t *) a)->key, ((const canon_pair_t *) b)->key);
}

static canon_t *
s_pairs (const canon_pair_t *pairs, size_t n)
{
    canon_pair_t *sorted = malloc ((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        abort ();
    if (n)
        memcpy (sorted, pairs, n * sizeof *sorted);
    qsort (sorted, n, sizeof *sorted, s_cmp_pair);
    canon_t *arr = canon_array ();
    for (size_t i = 0; i < n && arr; i++) {
        assert (sorted [i].key);
        canon_t *pair = canon_array ();
        canon_t *k = canon_cstring (sorted [i].key);
        canon_t *v = canon_double (sorted [i].value);
        bool dup = i > 0 && strcmp (sorted [i].key, sorted [i - 1].key) == 0;
        int rc = canon_append (pair, &k);
        rc |= canon_append (pair, &v);
        if (rc || dup) {
            canon_destroy (&pair);
            canon_destroy (&arr);
        }
        else
            canon_append (arr, &pair);
    }
    free (sorted);
    return arr;
}

char *
canon_consensus_json (const char *epoch_nonce,
                      const canon_pair_t *miner_scores, size_t nminers,
                      const canon_pair_t *zipcode_weights, size_t nzipcodes,
                      int64_t total_epoch_listings, int64_t total_participants,
                      int64_t total_winners, size_t *len_p)
{
    assert (epoch_nonce);
    assert (miner_scores || nminers == 0);
    assert (zipcode_weights || nzipcodes == 0);
    canon_t *doc = canon_object ();
    canon_t *nonce = canon_cstring (epoch_nonce);
    canon_t *scores = s_pairs (miner_scores, nminers);
    canon_t *weights = s_pairs (zipcode_weights, nzipcodes);
    canon_t *l = canon_int (total_epoch_listings);
    canon_t *p = canon_int (total_participants);
    canon_t *w = canon_int (total_winners);
    int rc = 0;
    rc |= canon_set (doc, "epoch_nonce", &nonce);
    rc |= canon_set (doc, "miner_scores", &scores);
    rc |= canon_set (doc, "total_epoch_listings", &l);
    rc |= canon_set (doc, "total_participants", &p);
    rc |= canon_set (doc, "total_winners", &w);
    rc |= canon_set (doc, "zipcode_weights", &weights);
    char *text = rc ? NULL : canon_dumps (doc, len_p);
    canon_destroy (&doc);
    return text;
}
