/*  log: rendering, escaping, truncation, formats.  */
#include "common/log.h"
#include "tests/testutil.h"

#include <jansson.h>
#include <unistd.h>

static json_t *
s_parse (const char *line)
{
    json_error_t error;
    json_t *root = json_loads (line, 0, &error);
    if (!root)
        fprintf (stderr, "not JSON: %s (%s)\n", line, error.text);
    return root;
}

int
main (void)
{
    char buf [LOG_LINE_MAX];
    log_set_proc ("tester");

    //  JSON line with every field type
    log_field_t f [] = { LS ("epoch", "2026-11-25T12-00-00"), LI ("rows", 250),
                         LF ("ratio", 0.5), LB ("ok", true), LS ("none", NULL) };
    size_t len = log_render (buf, sizeof buf, LOGL_INFO, "zipcode_stored", f, 5);
    CHECK (len > 0 && buf [len - 1] == '\n');
    json_t *root = s_parse (buf);
    CHECK (root);
    CHECK_EQ_STR (json_string_value (json_object_get (root, "event")), "zipcode_stored");
    CHECK_EQ_STR (json_string_value (json_object_get (root, "level")), "info");
    CHECK_EQ_STR (json_string_value (json_object_get (root, "proc")), "tester");
    CHECK_EQ_INT (json_integer_value (json_object_get (root, "rows")), 250);
    CHECK (json_real_value (json_object_get (root, "ratio")) == 0.5);
    CHECK (json_is_true (json_object_get (root, "ok")));
    CHECK (json_is_null (json_object_get (root, "none")));
    CHECK (json_is_integer (json_object_get (root, "pid")));
    json_decref (root);

    //  hostile strings: quotes, control characters, invalid UTF-8 stay inside one valid line
    log_field_t h [] = { LS ("v", "a\"b\\c\n\r\x01\xff\xc3\xa9z") };
    len = log_render (buf, sizeof buf, LOGL_WARN, "weird", h, 1);
    CHECK (strchr (buf, '\n') == buf + len - 1);
    root = s_parse (buf);
    CHECK (root);
    CHECK_EQ_STR (json_string_value (json_object_get (root, "v")), "a\"b\\c\n\r\x01?\xc3\xa9z");
    json_decref (root);

    //  a long value is cut, and too many fields give a valid line marked truncated
    static char big [8000];
    memset (big, 'x', sizeof big - 1);
    log_field_t many [8];
    for (int i = 0; i < 8; i++)
        many [i] = LS ("k", big);
    len = log_render (buf, sizeof buf, LOGL_ERROR, "big", many, 8);
    CHECK (len < LOG_LINE_MAX);
    root = s_parse (buf);
    CHECK (root);
    CHECK (json_is_true (json_object_get (root, "truncated")));
    json_decref (root);
    len = log_render (buf, sizeof buf, LOGL_ERROR, "big", many, 1);
    root = s_parse (buf);
    CHECK (root);
    CHECK (strlen (json_string_value (json_object_get (root, "k"))) == 1024 + 3);
    json_decref (root);

    //  text format
    log_set_format (LOG_FORMAT_TEXT);
    len = log_render (buf, sizeof buf, LOGL_INFO, "worker_ready", f, 2);
    CHECK (strstr (buf, " INFO tester[") != NULL);
    CHECK (strstr (buf, "worker_ready epoch=2026-11-25T12-00-00 rows=250\n") != NULL);
    log_set_format (LOG_FORMAT_JSON);

    //  parsing names
    log_format_t fmt;
    log_level_t lvl;
    CHECK (log_format_parse ("text", &fmt) == 0 && fmt == LOG_FORMAT_TEXT);
    CHECK (log_format_parse ("xml", &fmt) == -1);
    CHECK (log_level_parse ("warn", &lvl) == 0 && lvl == LOGL_WARN);
    CHECK (log_level_parse ("loud", &lvl) == -1);

    //  the macros: no fields and some fields, to a pipe
    int fds [2];
    CHECK (pipe (fds) == 0);
    log_set_fd (fds [1]);
    log_info ("no_fields");
    log_debug ("filtered_out", LI ("n", 1));
    log_error ("with_fields", LS ("a", "b"), LI ("n", 2));
    log_set_fd (1);
    close (fds [1]);
    char out [2 * LOG_LINE_MAX];
    ssize_t n = read (fds [0], out, sizeof out - 1);
    CHECK (n > 0);
    out [n] = 0;
    close (fds [0]);
    CHECK (strstr (out, "\"event\":\"no_fields\"}") != NULL);
    CHECK (strstr (out, "filtered_out") == NULL);
    CHECK (strstr (out, "\"event\":\"with_fields\",\"a\":\"b\",\"n\":2}") != NULL);
    TEST_DONE ();
}
