/*  fuzz_json: jsonx_parse on arbitrary bytes must either return a value within the depth
    limit or fail with a message; the getters must survive whatever it returns.             */
#include "common/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_depth_of (const json_t *v)
{
    int deepest = 0;
    if (json_is_array (v)) {
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item) {
            int d = s_depth_of (item);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_object (v)) {
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) v, key, item) {
            int d = s_depth_of (item);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    jsonx_err_t err = { 0 };
    json_t *v = jsonx_parse ((const char *) data, size, 64 * 1024, 16, &err);
    if (!v) {
        if (!err.failed)
            abort ();
        return 0;
    }
    if (err.failed || s_depth_of (v) > 16)
        abort ();
    jsonx_str_opt (v, "zipcode", "", &err);
    jsonx_int_opt (v, "price", 0, &err);
    jsonx_num_opt (v, "sqft", 0, &err);
    jsonx_bool_opt (v, "ok", false, &err);
    jsonx_arr (v, "listings", &err);
    char *out = jsonx_dump (v, true);
    if (!out)
        abort ();
    //  what we dump we must read back
    jsonx_err_t err2 = { 0 };
    json_t *again = jsonx_parse (out, strlen (out), (size_t) -1, 16, &err2);
    if (!again || !json_equal (v, again))
        abort ();
    json_decref (again);
    free (out);
    json_decref (v);
    return 0;
}
