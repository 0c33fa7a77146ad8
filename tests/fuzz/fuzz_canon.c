/*  fuzz_canon: arbitrary bytes become doubles, int64s, strings and object members fed to the
    canonical JSON writer. Whatever it accepts must print as pure ASCII that jansson parses back
    to exactly the same values (doubles bit for bit, -0.0 included; strings byte for byte, NUL
    included); every double must also read back through strtod from canon_format_double.
    Strings it refuses must be invalid UTF-8.

    Input: a sequence of records, tag byte first:
      tag % 4 == 0   8 bytes: a double (non-finite ones must be refused)
      tag % 4 == 1   1 length byte, then that many bytes: a string
      tag % 4 == 2   8 bytes: an int64
      tag % 4 == 3   1 length byte, key bytes, 8 bytes: a double under that key in an object */
#include "common/canon.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

enum { S_MAX = 256 };

typedef struct {
    int kind;                       //  0 double, 1 string, 2 int
    double d;
    int64_t i;
    char s [S_MAX];
    size_t len;
} s_item_t;

static void
s_same_double (const json_t *v, double d)
{
    assert (json_is_real (v));
    double back = json_real_value (v);
    assert (memcmp (&back, &d, sizeof d) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static s_item_t items [64];
    size_t nitems = 0;
    canon_t *arr = canon_array ();
    canon_t *obj = canon_object ();
    json_t *expect_obj = json_object ();
    size_t at = 0;
    while (at < size && nitems < 64) {
        uint8_t tag = data [at++];
        s_item_t *it = &items [nitems];
        if (tag % 4 == 0 || tag % 4 == 2) {
            if (size - at < 8)
                break;
            uint64_t bits;
            memcpy (&bits, data + at, 8);
            at += 8;
            if (tag % 4 == 2) {
                it->kind = 2;
                it->i = (int64_t) bits;
                canon_t *v = canon_int (it->i);
                assert (canon_append (arr, &v) == 0);
                nitems++;
                continue;
            }
            memcpy (&it->d, &bits, 8);
            canon_t *v = canon_double (it->d);
            char buf [CANON_DOUBLE_MAX];
            int n = canon_format_double (it->d, buf);
            if (!isfinite (it->d)) {
                assert (!v && n == -1);
                continue;
            }
            assert (v && n > 0 && (size_t) n == strlen (buf) && n < CANON_DOUBLE_MAX);
            double back = strtod (buf, NULL);
            assert (memcmp (&back, &it->d, 8) == 0);
            it->kind = 0;
            assert (canon_append (arr, &v) == 0);
            nitems++;
        }
        else {
            if (size - at < 1)
                break;
            size_t len = data [at++];
            if (size - at < len)
                len = size - at;
            char s [S_MAX + 1];
            memcpy (s, data + at, len);
            s [len] = 0;
            at += len;
            if (tag % 4 == 1) {
                canon_t *v = canon_string (s, len);
                if (!v) {
                    assert (!canon_utf8_valid (s, len));
                    continue;
                }
                it->kind = 1;
                memcpy (it->s, s, len);
                it->len = len;
                assert (canon_append (arr, &v) == 0);
                nitems++;
            }
            else {
                if (size - at < 8)
                    break;
                double d;
                memcpy (&d, data + at, 8);
                at += 8;
                canon_t *v = canon_double (d);
                //  Keys stop at the first NUL (C strings).
                bool valid = canon_utf8_valid (s, strlen (s));
                bool fresh = !json_object_get (expect_obj, s);
                int rc = canon_set (obj, s, &v);
                assert (v == NULL);
                if (valid && fresh && isfinite (d)) {
                    assert (rc == 0);
                    json_object_set_new (expect_obj, s, json_real (d));
                }
                else
                    assert (rc == -1);
            }
        }
    }
    canon_t *root = canon_object ();
    assert (canon_set (root, "a", &arr) == 0);
    assert (canon_set (root, "o", &obj) == 0);
    size_t len = 0;
    char *text = canon_dumps (root, &len);
    assert (text && len == strlen (text));
    for (size_t i = 0; i < len; i++)
        assert ((unsigned char) text [i] >= 0x20 && (unsigned char) text [i] <= 0x7e);

    json_error_t error;
    json_t *back = json_loadb (text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &error);
    assert (back);
    json_t *a = json_object_get (back, "a");
    assert (json_is_array (a) && json_array_size (a) == nitems);
    for (size_t i = 0; i < nitems; i++) {
        json_t *v = json_array_get (a, i);
        if (items [i].kind == 0)
            s_same_double (v, items [i].d);
        else
        if (items [i].kind == 2)
            assert (json_is_integer (v) && json_integer_value (v) == items [i].i);
        else {
            assert (json_is_string (v) && json_string_length (v) == items [i].len);
            assert (memcmp (json_string_value (v), items [i].s, items [i].len) == 0);
        }
    }
    json_t *o = json_object_get (back, "o");
    assert (json_is_object (o) && json_object_size (o) == json_object_size (expect_obj));
    const char *key;
    json_t *value;
    const char *prev = NULL;
    //  jansson keeps insertion order, which is the printed order: it must be sorted.
    json_object_foreach (o, key, value) {
        assert (!prev || strcmp (prev, key) < 0);
        prev = key;
        s_same_double (value, json_real_value (json_object_get (expect_obj, key)));
    }
    json_decref (back);
    json_decref (expect_obj);
    free (text);
    canon_destroy (&root);
    return 0;
}
