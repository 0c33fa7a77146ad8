/*  The seed corpora of the proto fuzz targets (tests/fuzz/corpus/proto_<family>/).

    Normally: checks that every committed seed is byte-for-byte what the current codecs
    encode for the canonical sample messages below (so a schema change that forgets the
    corpus fails here), that each valid seed decodes, and that the nasty seeds are rejected.
    With ZM_WRITE_CORPUS=1 in the environment it (re)writes the seeds instead:

        ZM_SOURCE_DIR=$PWD ZM_WRITE_CORPUS=1 build/tests/test_proto_corpus              */
#include "proto/control.h"
#include "proto/heartbeat.h"
#include "proto/listing_batch.h"
#include "proto/scrape_task.h"
#include "proto/spot_check.h"
#include "proto/submission_ready.h"
#include "proto/tier_result.h"
#include "proto/upload_done.h"
#include "proto/zipcode_stored.h"
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

//  Encodes with `rc_expr` into sb, checks it decodes with `dec`, writes/checks the seed.
#define SEED(family, name, encode_call, T, decode, freefn) do { \
    msgpack_sbuffer_clear (&sb); \
    CHECK_EQ_INT (encode_call, 0); \
    s_seed (family, name, sb.data, sb.size); \
    T out_; \
    CHECK_EQ_INT (decode ((uint8_t *) sb.data, sb.size, &out_, NULL), 0); \
    freefn (&out_); \
} while (0)

static const char *s_epoch = "2026-11-25T16-00-00";
static const char *s_hotkey = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

static void
s_pipeline (void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);

    proto_scrape_task_t task = { .target = 100, .lease_id = 12, .lease_deadline_ms = 1764086400000,
                                 .attempt = 1 };
    strcpy (task.epoch, s_epoch);
    strcpy (task.zipcode, "60614");
    SEED ("scrape_task", "valid", proto_scrape_task_encode (&task, &sb, NULL),
          proto_scrape_task_t, proto_scrape_task_decode, proto_scrape_task_free);
    s_nasty_seeds ("scrape_task", &sb);

    static const char *texts [3] = {
        "{\"zpid\":\"1\",\"address\":\"1 Main St\",\"price\":100000,\"zipcode\":\"60614\"}",
        "{\"zpid\":\"2\",\"address\":\"2 Main St\",\"price\":200000,\"zipcode\":\"60614\"}",
        "{}"
    };
    proto_listing_t listings [3];
    for (int i = 0; i < 3; i++)
        listings [i] = (proto_listing_t) { texts [i], (uint32_t) strlen (texts [i]) };
    proto_listing_batch_t batch = { .lease_id = 12, .seq = 0, .final = true, .nlistings = 3,
                                    .listings = listings, .rejected = 2, .nreasons = 1 };
    strcpy (batch.epoch, s_epoch);
    strcpy (batch.zipcode, "60614");
    strcpy (batch.reasons [0].reason, "not json");
    batch.reasons [0].count = 2;
    SEED ("listing_batch", "valid", proto_listing_batch_encode (&batch, &sb, NULL),
          proto_listing_batch_t, proto_listing_batch_decode, proto_listing_batch_free);
    s_nasty_seeds ("listing_batch", &sb);
    batch.nlistings = 0;
    batch.nreasons = 0;
    batch.rejected = 0;
    SEED ("listing_batch", "valid-empty", proto_listing_batch_encode (&batch, &sb, NULL),
          proto_listing_batch_t, proto_listing_batch_decode, proto_listing_batch_free);

    proto_zipcode_stored_t stored = { .count = 118, .stored_at_ms = 1764086400123 };
    strcpy (stored.epoch, s_epoch);
    strcpy (stored.zipcode, "60614");
    for (int i = 0; i < 32; i++)
        stored.sha256 [i] = (uint8_t) i;
    SEED ("zipcode_stored", "valid", proto_zipcode_stored_encode (&stored, &sb, NULL),
          proto_zipcode_stored_t, proto_zipcode_stored_decode, proto_zipcode_stored_free);
    s_nasty_seeds ("zipcode_stored", &sb);

    proto_upload_done_t up = { .ok = true, .bytes = 12345, .uploaded_at_ms = 1764086500000 };
    strcpy (up.epoch, s_epoch);
    strcpy (up.zipcode, "60614");
    strcpy (up.s3_key, "data/hotkey=x/epoch=2026-11-25T16-00-00/zipcode=60614/"
                       "data_20261125_161002.json");
    strcpy (up.etag, "\"abc\"");
    SEED ("upload_done", "valid-ok", proto_upload_done_encode (&up, &sb, NULL),
          proto_upload_done_t, proto_upload_done_decode, proto_upload_done_free);
    s_nasty_seeds ("upload_done", &sb);
    up.ok = false;
    strcpy (up.error, "HTTP 503");
    SEED ("upload_done", "valid-error", proto_upload_done_encode (&up, &sb, NULL),
          proto_upload_done_t, proto_upload_done_decode, proto_upload_done_free);

    proto_submission_ready_t sr = { .size = 12345, .count = 101, .db_id = 9 };
    strcpy (sr.epoch, s_epoch);
    strcpy (sr.hotkey, s_hotkey);
    strcpy (sr.zipcode, "60614");
    strcpy (sr.s3_key, "data/hotkey=x/epoch=2026-11-25T16-00-00/zipcode=60614/data.json");
    strcpy (sr.last_modified, "2026-11-25T16:10:02.000Z");
    SEED ("submission_ready", "valid", proto_submission_ready_encode (&sr, &sb, NULL),
          proto_submission_ready_t, proto_submission_ready_decode, proto_submission_ready_free);
    s_nasty_seeds ("submission_ready", &sb);

    proto_tier_result_t tr = { .tier = 2, .verdict = PROTO_VERDICT_PASS, .submission_id = 9,
                               .nmetrics = 2 };
    strcpy (tr.epoch, s_epoch);
    strcpy (tr.hotkey, s_hotkey);
    strcpy (tr.zipcode, "60614");
    strcpy (tr.metrics [0].name, "completeness");
    tr.metrics [0].value = 0.97;
    strcpy (tr.metrics [1].name, "duplicate_rate");
    tr.metrics [1].value = 0.01;
    SEED ("tier_result", "valid", proto_tier_result_encode (&tr, &sb, NULL),
          proto_tier_result_t, proto_tier_result_decode, proto_tier_result_free);
    s_nasty_seeds ("tier_result", &sb);

    proto_spot_check_request_t q = { .id = 1, .index = 4, .listing = texts [0],
                                     .listing_len = (uint32_t) strlen (texts [0]) };
    strcpy (q.epoch, s_epoch);
    strcpy (q.hotkey, s_hotkey);
    strcpy (q.zipcode, "60614");
    strcpy (q.listing_id, "1");
    SEED ("spot_check", "valid-request", proto_spot_check_request_encode (&q, &sb, NULL),
          proto_spot_check_request_t, proto_spot_check_request_decode,
          proto_spot_check_request_free);
    s_nasty_seeds ("spot_check", &sb);
    proto_spot_check_result_t res = { .id = 1, .index = 4, .verdict = PROTO_SPOT_MISMATCH };
    strcpy (res.epoch, s_epoch);
    strcpy (res.hotkey, s_hotkey);
    strcpy (res.zipcode, "60614");
    strcpy (res.listing_id, "1");
    strcpy (res.field, "price");
    SEED ("spot_check", "valid-result", proto_spot_check_result_encode (&res, &sb, NULL),
          proto_spot_check_result_t, proto_spot_check_result_decode,
          proto_spot_check_result_free);
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
    s_pipeline ();
    TEST_DONE ();
}
