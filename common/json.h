/*  json: bounded parsing and typed field access over jansson.

    Everything zipmine parses as JSON came from a socket, a file, S3 or a scraper, so parsing
    is bounded: a byte limit checked before jansson sees the text, and a nesting-depth limit
    checked by a pre-scan (jansson recurses once per '[' or '{'; its own limit of 2048 is far
    deeper than any document we accept). Duplicate object keys are rejected, so two readers of
    one document can never see different values.

    Typed getters share a sticky error (jsonx_err_t): read every field, then check err.failed
    once (err must not be NULL). The first failure is kept and names the field ("field
    'price': expected a number, got string"). Optional getters return their default when the
    field is absent or null, and fail when it is present with the wrong type.

    The prefix is jsonx_ because jansson owns json_.                                         */
#ifndef ZM_JSON_H
#define ZM_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONX_MAX_DEPTH 64          //  default nesting limit for callers without a better one
#define JSONX_ERR_MAX   256

typedef struct {
    bool failed;
    char msg [JSONX_ERR_MAX];       //  first failure, NUL-terminated
} jsonx_err_t;

//  Returns the deepest nesting of '[' / '{' outside strings in data (0 for a scalar),
//  stopping early (and returning max_depth + 1) once max_depth is exceeded.
int jsonx_depth (const char *data, size_t len, int max_depth);

//  Parses len bytes of data as one JSON value. Rejects, with the reason in err: len greater
//  than max_bytes, nesting deeper than max_depth, invalid JSON or UTF-8, \u0000 in strings,
//  duplicate keys, trailing bytes. data need not be NUL-terminated.
//  Returns a new reference (caller owns: json_decref), or NULL.
json_t *jsonx_parse (const char *data, size_t len, size_t max_bytes, int max_depth,
                     jsonx_err_t *err);

//  Records a failure in err unless one is already recorded (printf-style). For callers
//  that validate values beyond their type.
void jsonx_fail (jsonx_err_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Required fields: a missing field, null, or the wrong type records an error and returns
//  NULL / 0 / false. obj that is not an object counts as a missing field.
const char *jsonx_str (const json_t *obj, const char *key, jsonx_err_t *err);
int64_t jsonx_int (const json_t *obj, const char *key, jsonx_err_t *err);
//  An integer within [min, max].
int64_t jsonx_int_in (const json_t *obj, const char *key, int64_t min, int64_t max,
                      jsonx_err_t *err);
//  An integer or a real, as double.
double jsonx_num (const json_t *obj, const char *key, jsonx_err_t *err);
bool jsonx_bool (const json_t *obj, const char *key, jsonx_err_t *err);
const json_t *jsonx_obj (const json_t *obj, const char *key, jsonx_err_t *err);
const json_t *jsonx_arr (const json_t *obj, const char *key, jsonx_err_t *err);

//  Optional fields: absent or null gives dflt; present with the wrong type records an error
//  and returns dflt.
const char *jsonx_str_opt (const json_t *obj, const char *key, const char *dflt,
                           jsonx_err_t *err);
int64_t jsonx_int_opt (const json_t *obj, const char *key, int64_t dflt, jsonx_err_t *err);
double jsonx_num_opt (const json_t *obj, const char *key, double dflt, jsonx_err_t *err);
bool jsonx_bool_opt (const json_t *obj, const char *key, bool dflt, jsonx_err_t *err);

//  Compact serialisation (no spaces, keys in insertion order; with sort_keys, sorted).
//  Returns a heap string or NULL on OOM. Caller owns: free().
char *jsonx_dump (const json_t *value, bool sort_keys);

#endif
