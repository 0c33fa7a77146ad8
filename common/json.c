/*  json: bounded jansson parsing and typed getters with a sticky, field-naming error.

    Invariants: jsonx_parse never hands jansson more than max_bytes, nor a document nested
    deeper than max_depth (the pre-scan tracks strings exactly as jansson's lexer does up to
    the first byte jansson would reject, so jansson never recurses deeper than we counted).
    Getters never allocate; returned strings and sub-values are borrowed from obj.           */
#include "common/json.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
jsonx_depth (const char *data, size_t len, int max_depth)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = data [i];
        if (in_string) {
            if (c == '\\')
                i++;            //  the escaped byte cannot end the string
            else
            if (c == '"')
                in_string = false;
        }
        else
        if (c == '"')
            in_string = true;
        else
        if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > max_depth)
                    return max_depth + 1;
            }
        }
        else
        if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return deepest;
}

void
jsonx_fail (jsonx_err_t *err, const char *fmt, ...)
{
    if (!err || err->failed)
        return;
    err->failed = true;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err->msg, sizeof err->msg, fmt, args);
    va_end (args);
}

json_t *
jsonx_parse (const char *data, size_t len, size_t max_bytes, int max_depth, jsonx_err_t *err)
{
    if (len > max_bytes) {
        jsonx_fail (err, "json: %zu bytes exceeds the limit of %zu", len, max_bytes);
        return NULL;
    }
    if (jsonx_depth (data, len, max_depth) > max_depth) {
        jsonx_fail (err, "json: nesting deeper than %d", max_depth);
        return NULL;
    }
    json_error_t jerr;
    json_t *value = json_loadb (data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!value)
        jsonx_fail (err, "json: %s at line %d column %d", jerr.text, jerr.line, jerr.column);
    return value;
}

static const char *
s_type_name (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT:  return "object";
        case JSON_ARRAY:   return "array";
        case JSON_STRING:  return "string";
        case JSON_INTEGER: return "integer";
        case JSON_REAL:    return "number";
        case JSON_TRUE:
        case JSON_FALSE:   return "boolean";
        case JSON_NULL:    return "null";
    }
    return "unknown";
}

//  The field's value, or NULL when absent or null. Records "missing" when required.
static const json_t *
s_field (const json_t *obj, const char *key, bool required, jsonx_err_t *err)
{
    assert (key && err);
    const json_t *value = json_is_object (obj) ? json_object_get (obj, key) : NULL;
    if (value && json_is_null (value))
        value = NULL;
    if (!value && required)
        jsonx_fail (err, "field '%s' is missing", key);
    return value;
}

static void
s_wrong_type (const json_t *value, const char *key, const char *expected, jsonx_err_t *err)
{
    jsonx_fail (err, "field '%s': expected %s, got %s", key, expected, s_type_name (value));
}

static const char *
s_str (const json_t *obj, const char *key, bool required, const char *dflt, jsonx_err_t *err)
{
    const json_t *value = s_field (obj, key, required, err);
    if (!value)
        return dflt;
    if (!json_is_string (value)) {
        s_wrong_type (value, key, "a string", err);
        return dflt;
    }
    return json_string_value (value);
}

static int64_t
s_int (const json_t *obj, const char *key, bool required, int64_t dflt, jsonx_err_t *err)
{
    const json_t *value = s_field (obj, key, required, err);
    if (!value)
        return dflt;
    if (!json_is_integer (value)) {
        s_wrong_type (value, key, "an integer", err);
        return dflt;
    }
    return (int64_t) json_integer_value (value);
}

static double
s_num (const json_t *obj, const char *key, bool required, double dflt, jsonx_err_t *err)
{
    const json_t *value = s_field (obj, key, required, err);
    if (!value)
        return dflt;
    if (!json_is_number (value)) {
        s_wrong_type (value, key, "a number", err);
        return dflt;
    }
    return json_number_value (value);
}

static bool
s_bool (const json_t *obj, const char *key, bool required, bool dflt, jsonx_err_t *err)
{
    const json_t *value = s_field (obj, key, required, err);
    if (!value)
        return dflt;
    if (!json_is_boolean (value)) {
        s_wrong_type (value, key, "a boolean", err);
        return dflt;
    }
    return json_is_true (value);
}

const char *
jsonx_str (const json_t *obj, const char *key, jsonx_err_t *err)
{
    return s_str (obj, key, true, NULL, err);
}

const char *
jsonx_str_opt (const json_t *obj, const char *key, const char *dflt, jsonx_err_t *err)
{
    return s_str (obj, key, false, dflt, err);
}

int64_t
jsonx_int (const json_t *obj, const char *key, jsonx_err_t *err)
{
    return s_int (obj, key, true, 0, err);
}

int64_t
jsonx_int_opt (const json_t *obj, const char *key, int64_t dflt, jsonx_err_t *err)
{
    return s_int (obj, key, false, dflt, err);
}

int64_t
jsonx_int_in (const json_t *obj, const char *key, int64_t min, int64_t max, jsonx_err_t *err)
{
    bool failed_before = err->failed;
    int64_t v = s_int (obj, key, true, 0, err);
    if (err->failed && !failed_before)
        return 0;
    if (v < min || v > max) {
        jsonx_fail (err, "field '%s': %lld is outside [%lld, %lld]", key,
                    (long long) v, (long long) min, (long long) max);
        return 0;
    }
    return v;
}

double
jsonx_num (const json_t *obj, const char *key, jsonx_err_t *err)
{
    return s_num (obj, key, true, 0, err);
}

double
jsonx_num_opt (const json_t *obj, const char *key, double dflt, jsonx_err_t *err)
{
    return s_num (obj, key, false, dflt, err);
}

bool
jsonx_bool (const json_t *obj, const char *key, jsonx_err_t *err)
{
    return s_bool (obj, key, true, false, err);
}

bool
jsonx_bool_opt (const json_t *obj, const char *key, bool dflt, jsonx_err_t *err)
{
    return s_bool (obj, key, false, dflt, err);
}

const json_t *
jsonx_obj (const json_t *obj, const char *key, jsonx_err_t *err)
{
    const json_t *value = s_field (obj, key, true, err);
    if (value && !json_is_object (value)) {
        s_wrong_type (value, key, "an object", err);
        return NULL;
    }
    return value;
}

const json_t *
jsonx_arr (const json_t *obj, const char *key, jsonx_err_t *err)
{
    const json_t *value = s_field (obj, key, true, err);
    if (value && !json_is_array (value)) {
        s_wrong_type (value, key, "an array", err);
        return NULL;
    }
    return value;
}

char *
jsonx_dump (const json_t *value, bool sort_keys)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | (sort_keys ? JSON_SORT_KEYS : 0);
    return json_dumps (value, flags);
}
