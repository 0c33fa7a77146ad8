/*  test_json: the bounded parser (size and depth limits, strings that hide brackets,
    duplicate keys, trailing bytes) and the typed getters' defaults and field-naming errors.  */
#include "common/json.h"
#include "tests/testutil.h"

static char *
s_nested (int depth, char open, char close)
{
    char *buf = malloc ((size_t) depth * 2 + 1);
    CHECK (buf);
    memset (buf, open, (size_t) depth);
    memset (buf + depth, close, (size_t) depth);
    buf [depth * 2] = 0;
    return buf;
}

static void
s_test_depth (void)
{
    //  exactly at the limit parses; one deeper is rejected before jansson sees it
    char *ok = s_nested (64, '[', ']');
    jsonx_err_t err = { 0 };
    json_t *v = jsonx_parse (ok, strlen (ok), 1 << 20, 64, &err);
    CHECK (v && !err.failed);
    json_decref (v);
    free (ok);

    char *deep = s_nested (65, '[', ']');
    v = jsonx_parse (deep, strlen (deep), 1 << 20, 64, &err);
    CHECK (!v && err.failed);
    CHECK (strstr (err.msg, "nesting deeper than 64"));
    free (deep);

    //  100k levels of objects-in-arrays: rejected cheaply, no stack overflow
    size_t n = 100000;
    char *huge = malloc (n * 6 + 1);
    CHECK (huge);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy (huge + at, "{\"a\":[", 6);
        at += 6;
    }
    huge [at] = 0;
    err = (jsonx_err_t) { 0 };
    v = jsonx_parse (huge, at, 10 << 20, 64, &err);
    CHECK (!v && strstr (err.msg, "nesting"));
    free (huge);

    //  brackets inside strings (with escaped quotes) do not count
    const char *s = "{\"k\":\"[[[[[[[[\\\"[[[[[[{{{{{\",\"a\":[[1]]}";
    CHECK_EQ_INT (jsonx_depth (s, strlen (s), 64), 3);
    CHECK_EQ_INT (jsonx_depth ("7", 1, 64), 0);
    CHECK_EQ_INT (jsonx_depth ("[[[", 3, 2), 3);
}

static void
s_test_size (void)
{
    const char *doc = "{\"a\":\"0123456789\"}";
    jsonx_err_t err = { 0 };
    json_t *v = jsonx_parse (doc, strlen (doc), strlen (doc), 8, &err);
    CHECK (v && !err.failed);
    json_decref (v);
    v = jsonx_parse (doc, strlen (doc), strlen (doc) - 1, 8, &err);
    CHECK (!v && strstr (err.msg, "exceeds the limit"));
}

static void
s_test_rejects (void)
{
    const char *bad [] = {
        "{\"a\":1,\"a\":2}",            //  duplicate key
        "{\"a\":1} x",                  //  trailing bytes
        "{\"a\":\"\\u0000\"}",          //  NUL in a string
        "\"\xff\xfe\"",                 //  invalid UTF-8
        "{\"a\":",                      //  truncated
        "",                             //  empty
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        jsonx_err_t err = { 0 };
        json_t *v = jsonx_parse (bad [i], strlen (bad [i]), 1024, 8, &err);
        if (v)
            fprintf (stderr, "accepted: %s\n", bad [i]);
        CHECK (!v && err.failed && strncmp (err.msg, "json: ", 6) == 0);
    }
    //  not NUL-terminated: only len bytes are read
    char buf [8] = { '[', '1', ']', 'x', 'x', 'x', 'x', 'x' };
    jsonx_err_t err = { 0 };
    json_t *v = jsonx_parse (buf, 3, 1024, 8, &err);
    CHECK (v && json_array_size (v) == 1);
    json_decref (v);
}

static void
s_test_getters (void)
{
    const char *doc = "{\"zip\":\"02139\",\"n\":120,\"price\":450000.5,\"ok\":true,"
                      "\"nul\":null,\"sub\":{\"x\":1},\"list\":[1,2],\"big\":9007199254740993}";
    jsonx_err_t err = { 0 };
    json_t *v = jsonx_parse (doc, strlen (doc), 4096, 8, &err);
    CHECK (v);

    CHECK_EQ_STR (jsonx_str (v, "zip", &err), "02139");
    CHECK_EQ_INT (jsonx_int (v, "n", &err), 120);
    CHECK_EQ_INT (jsonx_int_in (v, "n", 0, 1000, &err), 120);
    CHECK_EQ_INT (jsonx_int (v, "big", &err), 9007199254740993LL);
    CHECK (jsonx_num (v, "price", &err) == 450000.5);
    CHECK (jsonx_num (v, "n", &err) == 120.0);          //  integers are numbers
    CHECK (jsonx_bool (v, "ok", &err) == true);
    CHECK (jsonx_obj (v, "sub", &err) != NULL);
    CHECK (json_array_size (jsonx_arr (v, "list", &err)) == 2);
    CHECK_EQ_STR (jsonx_str_opt (v, "absent", "dflt", &err), "dflt");
    CHECK_EQ_STR (jsonx_str_opt (v, "nul", "dflt", &err), "dflt");     //  null = absent
    CHECK_EQ_INT (jsonx_int_opt (v, "absent", -7, &err), -7);
    CHECK (jsonx_num_opt (v, "absent", 2.5, &err) == 2.5);
    CHECK (jsonx_bool_opt (v, "absent", true, &err) == true);
    CHECK (!err.failed);

    //  each failure names the field; the first one sticks
    err = (jsonx_err_t) { 0 };
    CHECK (jsonx_str (v, "missing", &err) == NULL);
    CHECK_EQ_STR (err.msg, "field 'missing' is missing");
    CHECK_EQ_INT (jsonx_int (v, "zip", &err), 0);
    CHECK_EQ_STR (err.msg, "field 'missing' is missing");

    err = (jsonx_err_t) { 0 };
    CHECK_EQ_INT (jsonx_int (v, "zip", &err), 0);
    CHECK_EQ_STR (err.msg, "field 'zip': expected an integer, got string");

    err = (jsonx_err_t) { 0 };
    CHECK_EQ_INT (jsonx_int (v, "price", &err), 0);     //  a real is not an integer
    CHECK_EQ_STR (err.msg, "field 'price': expected an integer, got number");

    err = (jsonx_err_t) { 0 };
    CHECK_EQ_INT (jsonx_int_in (v, "n", 0, 100, &err), 0);
    CHECK_EQ_STR (err.msg, "field 'n': 120 is outside [0, 100]");

    err = (jsonx_err_t) { 0 };
    CHECK_EQ_STR (jsonx_str_opt (v, "n", "d", &err), "d");
    CHECK_EQ_STR (err.msg, "field 'n': expected a string, got integer");

    err = (jsonx_err_t) { 0 };
    CHECK (jsonx_bool (v, "nul", &err) == false);
    CHECK_EQ_STR (err.msg, "field 'nul' is missing");

    err = (jsonx_err_t) { 0 };
    CHECK (jsonx_arr (v, "sub", &err) == NULL);
    CHECK_EQ_STR (err.msg, "field 'sub': expected an array, got object");

    err = (jsonx_err_t) { 0 };
    CHECK (jsonx_obj (v, "list", &err) == NULL);
    CHECK_EQ_STR (err.msg, "field 'list': expected an object, got array");

    //  a non-object container reads as all fields missing, never crashes
    err = (jsonx_err_t) { 0 };
    CHECK (jsonx_str (jsonx_arr (v, "list", &err), "zip", &err) == NULL);
    CHECK_EQ_STR (err.msg, "field 'zip' is missing");
    json_decref (v);
}

static void
s_test_dump (void)
{
    json_t *v = json_pack ("{s:i, s:s, s:[i,i]}", "b", 1, "a", "x\"y", "c", 1, 2);
    CHECK (v);
    char *s = jsonx_dump (v, false);
    CHECK_EQ_STR (s, "{\"b\":1,\"a\":\"x\\\"y\",\"c\":[1,2]}");
    free (s);
    s = jsonx_dump (v, true);
    CHECK_EQ_STR (s, "{\"a\":\"x\\\"y\",\"b\":1,\"c\":[1,2]}");
    free (s);
    json_decref (v);
}

int
main (void)
{
    s_test_depth ();
    s_test_size ();
    s_test_rejects ();
    s_test_getters ();
    s_test_dump ();
    TEST_DONE ();
}
