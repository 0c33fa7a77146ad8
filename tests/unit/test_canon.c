/*  common/canon: fixed outputs printed by CPython 3.11's
    json.dumps (obj, sort_keys=True, separators=(',', ':')) and repr (float), and the refusals
    (invalid UTF-8, duplicate keys, NaN, infinities).                                       */

#include "common/canon.h"
#include "tests/testutil.h"

#include <math.h>

static void
s_check_dumps (canon_t **v_p, const char *expect)
{
    size_t len = 0;
    char *text = canon_dumps (*v_p, &len);
    CHECK_EQ_STR (text, expect);
    CHECK_EQ_INT (len, strlen (expect));
    free (text);
    canon_destroy (v_p);
    CHECK (*v_p == NULL);
}

static void
s_check_double (double v, const char *expect)
{
    char buf [CANON_DOUBLE_MAX];
    int n = canon_format_double (v, buf);
    CHECK_EQ_STR (buf, expect);
    CHECK_EQ_INT (n, strlen (expect));
}

static void
s_add (canon_t *obj, const char *key, canon_t *v)
{
    CHECK (canon_set (obj, key, &v) == 0);
    CHECK (v == NULL);
}

static void
s_push (canon_t *arr, canon_t *v)
{
    CHECK (canon_append (arr, &v) == 0);
}

int
main (void)
{
    //  repr (float)
    s_check_double (1.0, "1.0");
    s_check_double (-0.0, "-0.0");
    s_check_double (0.0, "0.0");
    s_check_double (1e-5, "1e-05");
    s_check_double (0.0001, "0.0001");
    s_check_double (0.001, "0.001");
    s_check_double (1e16, "1e+16");
    s_check_double (1e15, "1000000000000000.0");
    s_check_double (0.1 + 0.2, "0.30000000000000004");
    s_check_double (5e-324, "5e-324");
    s_check_double (ldexp (3, -1074), "1.5e-323");
    s_check_double (1e23, "1e+23");
    s_check_double (9007199254740993.0, "9007199254740992.0");
    s_check_double (12345678.9, "12345678.9");
    s_check_double (-1.5e300, "-1.5e+300");
    s_check_double (1.7976931348623157e308, "1.7976931348623157e+308");
    //  2^976: the nearest 16-digit decimal misses, the one on the other side reads back.
    s_check_double (ldexp (1, 976), "6.386688990511104e+293");
    char buf [CANON_DOUBLE_MAX];
    CHECK (canon_format_double (NAN, buf) == -1);
    CHECK (canon_format_double (INFINITY, buf) == -1);
    CHECK (canon_format_double (-INFINITY, buf) == -1);

    //  {'b': 1, 'a': [...], 'é': 'x', 'Z': None, 'aa': True, '': False}
    canon_t *doc = canon_object ();
    s_add (doc, "b", canon_int (1));
    canon_t *arr = canon_array ();
    const double ds [] = { 1.0, -0.0, 1e-5, 1e16, 0.1 + 0.2, 5e-324, 1e15, 0.0001, 123.456,
                           -1.5e300 };
    for (size_t i = 0; i < sizeof ds / sizeof ds [0]; i++)
        s_push (arr, canon_double (ds [i]));
    s_add (doc, "a", arr);
    s_add (doc, "\xc3\xa9", canon_cstring ("x"));
    s_add (doc, "Z", canon_null ());
    s_add (doc, "aa", canon_bool (true));
    s_add (doc, "", canon_bool (false));
    s_check_dumps (&doc, "{\"\":false,\"Z\":null,\"a\":[1.0,-0.0,1e-05,1e+16,0.30000000000000004,"
                         "5e-324,1000000000000000.0,0.0001,123.456,-1.5e+300],\"aa\":true,"
                         "\"b\":1,\"\\u00e9\":\"x\"}");

    //  Every escape: '"\\/\n\r\t\b\f\x00\x01\x1f\x7f~é\u2028\uffff\U0001F600\U0010FFFF'
    static const char s [] = "\"\\/\n\r\t\b\f\0\x01\x1f\x7f~\xc3\xa9\xe2\x80\xa8\xef\xbf\xbf"
                             "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
    canon_t *str = canon_string (s, sizeof s - 1);
    CHECK (str);
    s_check_dumps (&str, "\"\\\"\\\\/\\n\\r\\t\\b\\f\\u0000\\u0001\\u001f\\u007f~\\u00e9\\u2028"
                         "\\uffff\\ud83d\\ude00\\udbff\\udfff\"");

    canon_t *ints = canon_array ();
    s_push (ints, canon_int (INT64_MAX));
    s_push (ints, canon_int (INT64_MIN));
    s_push (ints, canon_int (0));
    s_check_dumps (&ints, "[9223372036854775807,-9223372036854775808,0]");

    //  Keys in code point order: U+FFFF before U+1F600 (UTF-16 order would differ).
    doc = canon_object ();
    s_add (doc, "\xf0\x9f\x98\x80", canon_int (1));
    s_add (doc, "\xef\xbf\xbf", canon_int (2));
    s_add (doc, "z", canon_int (3));
    s_check_dumps (&doc, "{\"z\":3,\"\\uffff\":2,\"\\ud83d\\ude00\":1}");

    canon_t *empty = canon_object ();
    s_check_dumps (&empty, "{}");
    empty = canon_array ();
    s_check_dumps (&empty, "[]");
    empty = canon_cstring ("");
    s_check_dumps (&empty, "\"\"");

    //  Refusals: invalid UTF-8 (overlong, surrogate, above U+10FFFF, truncated, stray
    //  continuation), NaN, infinity, duplicate keys, NULL values; ownership is always taken.
    static const char *bad [] = { "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                                  "\x80", "a\xff", "\xf8\x88\x80\x80\x80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        CHECK (!canon_utf8_valid (bad [i], strlen (bad [i])));
        CHECK (canon_cstring (bad [i]) == NULL);
    }
    CHECK (canon_double (NAN) == NULL);
    CHECK (canon_double (INFINITY) == NULL);
    doc = canon_object ();
    canon_t *v = canon_int (1);
    CHECK (canon_set (doc, "k", &v) == 0);
    v = canon_int (2);
    CHECK (canon_set (doc, "k", &v) == -1);
    CHECK (v == NULL);
    v = canon_int (3);
    CHECK (canon_set (doc, "\xed\xa0\x80", &v) == -1);
    CHECK (v == NULL);
    v = canon_double (NAN);
    CHECK (canon_set (doc, "nan", &v) == -1);
    arr = canon_array ();
    CHECK (canon_append (arr, &v) == -1);
    s_check_dumps (&doc, "{\"k\":1}");
    s_check_dumps (&arr, "[]");
    canon_destroy (&doc);           //  no-op on NULL

    //  The consensus document: sorted({'b': 0.25, 'a': 0.75}.items()) etc.
    const canon_pair_t scores [] = { { "b", 0.25 }, { "a", 0.75 } };
    const canon_pair_t weights [] = { { "19104", 0.5 }, { "19103", 0.5 } };
    size_t len = 0;
    char *text = canon_consensus_json ("n", scores, 2, weights, 2, 300, 1, 2, &len);
    CHECK_EQ_STR (text, "{\"epoch_nonce\":\"n\",\"miner_scores\":[[\"a\",0.75],[\"b\",0.25]],"
                        "\"total_epoch_listings\":300,\"total_participants\":1,"
                        "\"total_winners\":2,\"zipcode_weights\":[[\"19103\",0.5],"
                        "[\"19104\",0.5]]}");
    CHECK_EQ_INT (len, strlen (text));
    free (text);
    text = canon_consensus_json ("n", NULL, 0, NULL, 0, 0, 0, 0, NULL);
    CHECK_EQ_STR (text, "{\"epoch_nonce\":\"n\",\"miner_scores\":[],\"total_epoch_listings\":0,"
                        "\"total_participants\":0,\"total_winners\":0,\"zipcode_weights\":[]}");
    free (text);
    const canon_pair_t dup [] = { { "a", 0.5 }, { "a", 0.5 } };
    CHECK (canon_consensus_json ("n", dup, 2, NULL, 0, 0, 0, 0, NULL) == NULL);
    const canon_pair_t nan [] = { { "a", NAN } };
    CHECK (canon_consensus_json ("n", NULL, 0, nan, 1, 0, 0, 0, NULL) == NULL);
    CHECK (canon_consensus_json ("\xff", NULL, 0, NULL, 0, 0, 0, 0, NULL) == NULL);

    //  hashlib.sha256(b'').hexdigest(), hashlib.sha256(b'abc').hexdigest()
    char hex [65];
    canon_sha256_hex ("", 0, hex);
    CHECK_EQ_STR (hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    canon_sha256_hex ("abc", 3, hex);
    CHECK_EQ_STR (hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    TEST_DONE ();
}
