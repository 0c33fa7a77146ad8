/*  epoch: grid arithmetic and the id format. Pure; timegm/gmtime_r only.  */
#include "common/epoch.h"

#include <assert.h>
#include <string.h>
#include <time.h>

void
epoch_id_format (int64_t start_s, char *out)
{
    time_t t = (time_t) start_s;
    struct tm tm;
    gmtime_r (&t, &tm);
    if (strftime (out, EPOCH_ID_LEN + 1, "%Y-%m-%dT%H-%M-%S", &tm) != EPOCH_ID_LEN)
        out [0] = 0;            //  year beyond 9999: no valid id
}

void
epoch_iso8601 (int64_t unix_s, char *out)
{
    time_t t = (time_t) unix_s;
    struct tm tm;
    gmtime_r (&t, &tm);
    if (strftime (out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
        out [0] = 0;
}

void
epoch_slot_at (int64_t now_s, int64_t length_s, epoch_slot_t *out)
{
    assert (length_s > 0);
    int64_t start = now_s - ((now_s % length_s) + length_s) % length_s;
    out->start = start;
    out->end = start + length_s;
    epoch_id_format (start, out->id);
}

static int
s_digits (const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s [i] < '0' || s [i] > '9')
            return -1;
        v = v * 10 + (s [i] - '0');
    }
    return v;
}

int
epoch_id_parse (const char *id, int64_t *start_s)
{
    if (!id || strnlen (id, EPOCH_ID_LEN + 1) != EPOCH_ID_LEN)
        return -1;
    static const char shape [] = "dddd-dd-ddTdd-dd-dd";
    for (int i = 0; i < EPOCH_ID_LEN; i++)
        if (shape [i] != 'd' && id [i] != shape [i])
            return -1;
    int year = s_digits (id, 4), mon = s_digits (id + 5, 2), day = s_digits (id + 8, 2);
    int hour = s_digits (id + 11, 2), min = s_digits (id + 14, 2), sec = s_digits (id + 17, 2);
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23
    ||  min < 0 || min > 59 || sec < 0 || sec > 59)
        return -1;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                     .tm_hour = hour, .tm_min = min, .tm_sec = sec };
    time_t t = timegm (&tm);
    //  timegm normalises 31 February into March: a round trip catches impossible dates
    char again [EPOCH_ID_LEN + 1];
    epoch_id_format ((int64_t) t, again);
    if (strcmp (again, id) != 0)
        return -1;
    *start_s = (int64_t) t;
    return 0;
}

bool
epoch_id_on_grid (const char *id, int64_t length_s)
{
    int64_t start;
    return length_s > 0 && epoch_id_parse (id, &start) == 0 && start % length_s == 0;
}
