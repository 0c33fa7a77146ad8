/*  libFuzzer target: the supervisor's /metrics path over rows a worker sent.

    Byte 0 selects how the rest becomes rows:
      even  a heartbeat message, decoded with proto_heartbeat_decode (what the supervisor
            does), its metrics copied into metrics_sample_t rows;
      odd   raw rows with no codec validation in front: NUL-separated strings
            name, help, then label name/value pairs, one row per run up to a 0x01 byte; the
            type and value come from the name's first bytes. This reaches metrics_set_add's
            own validation with anything.
    The rows go into a metrics_set_t with worker/instance labels and are rendered. The output
    must be a well-formed exposition: every line a # HELP, # TYPE or sample line; one TYPE per
    family; no control byte inside a line; label values properly quoted.                   */
#include "common/log.h"
#include "common/metrics.h"
#include "proto/heartbeat.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_ROWS_MAX 64

static void
s_check_label_block (const char *p, const char *end)
{
    //  {name="value",...} with \\, \" and \n as the only escapes
    if (*p != '{')
        return;
    p++;
    while (p < end && *p != '}') {
        while (p < end && *p != '=')
            p++;
        if (p + 1 >= end || p [1] != '"')
            abort ();
        p += 2;
        while (p < end && *p != '"') {
            if (*p == '\\') {
                if (p + 1 >= end || (p [1] != '\\' && p [1] != '"' && p [1] != 'n'))
                    abort ();
                p++;
            }
            p++;
        }
        if (p >= end)
            abort ();
        p++;
        if (p < end && *p == ',')
            p++;
    }
    if (p >= end)
        abort ();
}

static void
s_check (const char *text, size_t size)
{
    if (strlen (text) != size)
        abort ();
    const char *p = text;
    char types [256][METRICS_ROW_NAME_MAX + 1];
    size_t ntypes = 0;
    while (*p) {
        const char *nl = strchr (p, '\n');
        if (!nl)
            abort ();                   //  every line ends in \n
        for (const char *q = p; q < nl; q++)
            if ((unsigned char) *q < 0x20 || *q == 0x7F)
                abort ();
        if (strncmp (p, "# TYPE ", 7) == 0) {
            const char *name = p + 7;
            size_t len = strcspn (name, " ");
            if (len == 0 || len > METRICS_ROW_NAME_MAX)
                abort ();
            for (size_t i = 0; i < ntypes; i++)
                if (strlen (types [i]) == len && memcmp (types [i], name, len) == 0)
                    abort ();           //  a second TYPE line for a family
            if (ntypes < 256) {
                memcpy (types [ntypes], name, len);
                types [ntypes++][len] = 0;
            }
        }
        else
        if (strncmp (p, "# HELP ", 7) != 0) {
            size_t len = strcspn (p, "{ ");
            char name [METRICS_ROW_NAME_MAX + 2];
            if (len == 0 || len > METRICS_ROW_NAME_MAX)
                abort ();
            memcpy (name, p, len);
            name [len] = 0;
            if (!metrics_name_valid (name))
                abort ();
            s_check_label_block (p + len, nl);
        }
        p = nl + 1;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    log_set_level (LOGL_ERROR);          //  the expected "rows dropped" warnings are noise here
    if (size < 1)
        return 0;
    metrics_sample_t rows [S_ROWS_MAX];
    size_t nrows = 0;
    proto_heartbeat_t hb;
    bool have_hb = false;
    //  raw mode keeps its strings in one NUL-terminated copy of the input
    char *copy = NULL;
    if ((data [0] & 1) == 0) {
        if (proto_heartbeat_decode (data + 1, size - 1, &hb, NULL) != 0)
            return 0;
        have_hb = true;
        for (size_t i = 0; i < hb.nmetrics && nrows < S_ROWS_MAX; i++) {
            metrics_sample_t *r = &rows [nrows++];
            memset (r, 0, sizeof *r);
            r->name = hb.metrics [i].name;
            r->type = (metrics_type_t) hb.metrics [i].type;
            r->value = hb.metrics [i].value;
            r->help = hb.metrics [i].help;
            r->nlabels = hb.metrics [i].nlabels;
            for (size_t j = 0; j < hb.metrics [i].nlabels; j++) {
                r->labels [j].name = hb.metrics [i].labels [j].name;
                r->labels [j].value = hb.metrics [i].labels [j].value;
            }
        }
    }
    else {
        copy = malloc (size + 1);
        if (!copy)
            abort ();
        memcpy (copy, data + 1, size - 1);
        copy [size - 1] = 0;
        char *end = copy + size - 1;
        char *p = copy;
        while (p < end && nrows < S_ROWS_MAX) {
            //  one row: strings up to a 0x01 byte (or the end)
            char *stop = memchr (p, 0x01, (size_t) (end - p));
            if (stop)
                *stop = 0;
            char *row_end = stop ? stop : end;
            metrics_sample_t *r = &rows [nrows++];
            memset (r, 0, sizeof *r);
            const char *strs [2 + 2 * METRICS_SAMPLE_LABELS_MAX + 2];
            size_t ns = 0;
            for (char *q = p; q < row_end && ns < sizeof strs / sizeof *strs; ) {
                strs [ns++] = q;
                q += strlen (q) + 1;
            }
            r->name = ns > 0 ? strs [0] : "";
            r->help = ns > 1 ? strs [1] : NULL;
            unsigned char t = (unsigned char) r->name [0];
            r->type = (metrics_type_t) (t % 4);
            r->value = ns > 0 ? (double) strlen (r->name) / 3.0 : 0;
            //  label count as given (may exceed what the pairs provide: kept in range)
            size_t pairs = ns > 2 ? (ns - 2) / 2 : 0;
            if (pairs > METRICS_SAMPLE_LABELS_MAX)
                pairs = METRICS_SAMPLE_LABELS_MAX;
            r->nlabels = pairs;
            for (size_t j = 0; j < pairs; j++) {
                r->labels [j].name = strs [2 + 2 * j];
                r->labels [j].value = strs [3 + 2 * j];
            }
            p = row_end + 1;
        }
    }
    metrics_set_t *set = metrics_set_new (0);
    metrics_label_t extra [] = { { "worker", "w" }, { "instance", "0" } };
    size_t dropped = metrics_set_add (set, rows, nrows, extra, 2);
    if (dropped > nrows || metrics_set_size (set) != nrows - dropped)
        abort ();
    size_t text_size = 0;
    char *text = metrics_set_render (set, &text_size);
    if (!text)
        abort ();
    s_check (text, text_size);
    free (text);
    metrics_set_destroy (&set);
    if (have_hb)
        proto_heartbeat_free (&hb);
    free (copy);
    return 0;
}
