/*  Fuzz target: zipmined's HTTP request-head parser (supervisor/sup_http.c), which reads
    bytes from any client that can reach the node's metrics port. The parser must never
    crash, must return 0, 400 or 405, and on 0 must give a path that starts with '/' and
    holds only printable ASCII with the query string removed.                               */
#include "supervisor/sup_http.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static char buf [SUP_HTTP_MAX_REQUEST + 1];
    if (size > SUP_HTTP_MAX_REQUEST)
        size = SUP_HTTP_MAX_REQUEST;
    memcpy (buf, data, size);
    buf [size] = 0;
    //  The server refuses NUL bytes before parsing (s_read), so the parser sees none.
    if (memchr (buf, 0, size))
        return 0;
    const char *path = NULL;
    bool head_only = false;
    int rc = sup_http_parse_head (buf, &path, &head_only);
    if (rc == 0) {
        assert (path && path [0] == '/');
        for (const char *p = path; *p; p++)
            assert ((unsigned char) *p >= 0x21 && (unsigned char) *p <= 0x7e && *p != '?');
    }
    else
        assert (rc == 400 || rc == 405);
    return 0;
}
