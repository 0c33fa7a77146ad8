/*  The seed corpora of the proto fuzz targets (tests/fuzz/corpus/proto_<family>/).

    Normally: checks that every committed seed is byte-for-byte what the current codecs
    encode for the canonical sample messages below (so a schema change that forgets the
    corpus fails here), that each valid seed decodes, and that the nasty seeds are rejected.
    With ZM_WRITE_CORPUS=1 in the environment it (re)writes the seeds instead:

        ZM_SOURCE_DIR=$PWD ZM_WRITE_CORPUS=1 build/tests/test_proto_corpus              */
#include "proto/control.h"
#include "proto/heartbeat.h"
#include "tests/unit/test_proto.h"

#include <errno.h>
#include <sys/stat.h>

static bool s_write;
static const char *s_root;

static void
s_seed (const char *family, const char *name, const void *data, size_t size)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/tests/fuzz/corpus/proto_%s", s_root, family);
    if (s_write) {
        CHECK (mkdir (path, 0755) == 0 || errno == EEXIST);
        snprintf (path, sizeof path, "%s/tests/fuzz/corpus/proto_%s/%s", s_root, family, name);
        FILE *f = fopen (path, "wb");
        CHECK (f != NULL);
        CHECK_EQ_INT (fwrite (data, 1, size, f), size);
        CHECK_EQ_INT (fclose (f), 0);
        return;
    }
    snprintf (path, sizeof path, "%s/tests/fuzz/corpus/proto_%s/%s", s_root, family, name);
    FILE *f = fopen (path, "rb");
    if (!f)
        fprintf (stderr, "missing seed %s (regenerate with ZM_WRITE_CORPUS=1)\n", path);
    CHECK (f != NULL);
    uint8_t *buf = malloc (size + 1);
    size_t got = fread (buf, 1, size + 1, f);
    fclose (f);
    if (got != size || memcmp (buf, data, size) != 0)
        fprintf (stderr, "seed %s differs from the current encoding (regenerate with "
                 "ZM_WRITE_CORPUS=1)\n", path);
    CHECK_EQ_INT (got, size);
    CHECK_EQ_MEM (buf, data, size);
    free (buf);
}

//  The four lying headers, plus the first half of a valid seed.
static void
s_nasty_seeds (const char *family, const msgpack_sbuffer *valid)
{
    static const char *names [4] = { "nasty-array32", "nasty-map32", "nasty-str32", "nasty-bin32" };
    for (int k = 0; k < 4; k++)
        s_seed (family, names [k], s_nasty [k], 5);
    s_seed (family, "truncated", valid->data, valid->size / 2);
}

static void
s_heartbeat (void)
{
    proto_metric_t metrics [2];
    memset (metrics, 0, sizeof metrics);
    metrics [0] = (proto_metric_t) { .name = "zm_batches_total", .type = PROTO_METRIC_COUNTER,
                                     .value = 42, .help = "Listing batches sent",
                                     .nlabels = 1 };
    metrics [0].labels [0] = (proto_label_t) { "result", "ok" };
    metrics [1] = (proto_metric_t) { .name = "zm_queue_depth", .type = PROTO_METRIC_GAUGE,
                                     .value = 3.5 };
    proto_heartbeat_t hb = { .index = 1, .pid = 4242, .seq = 7, .state = PROTO_WORKER_READY,
                             .uptime_ms = 60000, .nmetrics = 2, .metrics = metrics };
    strcpy (hb.worker, "scraper");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    CHECK_EQ_INT (proto_heartbeat_encode (&hb, &sb, NULL), 0);
    s_seed ("heartbeat", "valid-metrics", sb.data, sb.size);
    proto_heartbeat_t out;
    CHECK_EQ_INT (proto_heartbeat_decode ((uint8_t *) sb.data, sb.size, &out, NULL), 0);
    proto_heartbeat_free (&out);
    s_nasty_seeds ("heartbeat", &sb);
    msgpack_sbuffer_clear (&sb);
    hb.nmetrics = 0;
    hb.state = PROTO_WORKER_STARTING;
    CHECK_EQ_INT (proto_heartbeat_encode (&hb, &sb, NULL), 0);
    s_seed ("heartbeat", "valid-bare", sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
}

static void
s_control (void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    proto_control_t req = { .id = 1, .cmd = PROTO_CMD_SCALE, .size = 4 };
    strcpy (req.worker, "scraper");
    CHECK_EQ_INT (proto_control_encode (&req, &sb, NULL), 0);
    s_seed ("control", "valid-scale", sb.data, sb.size);
    s_nasty_seeds ("control", &sb);
    msgpack_sbuffer_clear (&sb);
    proto_control_t status = { .id = 2, .cmd = PROTO_CMD_STATUS };
    CHECK_EQ_INT (proto_control_encode (&status, &sb, NULL), 0);
    s_seed ("control", "valid-status", sb.data, sb.size);
    msgpack_sbuffer_clear (&sb);

    proto_child_status_t rows [2];
    memset (rows, 0, sizeof rows);
    strcpy (rows [0].name, "assigner");
    rows [0].pid = 100;
    rows [0].state = PROTO_CHILD_READY;
    rows [0].ready_since_ms = 1764072000000;
    rows [0].hb_age_ms = 250;
    strcpy (rows [1].name, "scraper");
    rows [1].index = 1;
    rows [1].state = PROTO_CHILD_BACKOFF;
    rows [1].restarts = 3;
    strcpy (rows [1].last_exit, "signal 9");
    rows [1].hb_age_ms = -1;
    proto_control_reply_t rep = { .id = 2, .ok = true, .nchildren = 2, .children = rows };
    strcpy (rep.message, "ok");
    CHECK_EQ_INT (proto_control_reply_encode (&rep, &sb, NULL), 0);
    s_seed ("control", "valid-status-reply", sb.data, sb.size);
    proto_control_reply_t out;
    CHECK_EQ_INT (proto_control_reply_decode ((uint8_t *) sb.data, sb.size, &out, NULL), 0);
    proto_control_reply_free (&out);
    msgpack_sbuffer_destroy (&sb);
}

int
main (void)
{
    s_root = TEST_ENV ("ZM_SOURCE_DIR");
    const char *w = getenv ("ZM_WRITE_CORPUS");
    s_write = w && strcmp (w, "1") == 0;
    s_heartbeat ();
    s_control ();
    TEST_DONE ();
}
