/*  downloader against the real S3 server and PostgreSQL (mode "all"):

    - listing: every miner's prefix, paginated (2 keys a page), only this epoch's objects,
      LastModified recorded exactly as listed, sizes; malformed keys, unassigned zipcodes,
      late objects and a miner's second object for a zipcode are skipped with reasons;
      listing twice records nothing more;
    - order: per zipcode by LastModified (not hotkey), ties by hotkey (byte order);
    - one test per hostile submission, each rejected with its reason, counted in
      zipmine_downloader_rejected_total{reason} and reported to consensus, the downloader
      going on: truncated JSON, an object over the cap (refused from the listed size before
      any GET: the object is replaced by a small valid one after listing and is still
      refused as too large, with no byte read), an object that grows over the cap after
      listing (refused while reading), a lying listing_count, another epoch / hotkey /
      zipcode inside, 100,000 listings, deep nesting, invalid UTF-8, an object deleted or
      replaced after listing; SQL in strings stored verbatim and harmless;
    - valid submissions: listings stored in file order, submission_ready announced to
      tier 1 with db_id, LastModified verbatim, size and count.                            */
#include "tests/integration/test_downloader_lib.h"

#define EP  "2026-11-25T12-00-00"
#define EP0 "2026-11-25T08-00-00"
#define HA  "5HkA"
#define HB  "5HkB"
#define HC  "5HkC"
#define HH  "5HkHostile"

static void
s_put_raw (tdl_t *t, const char *zip, const char *body, size_t len)
{
    char key [512];
    tdl_key (key, sizeof key, HH, EP, zip);
    tdl_put (t, key, body, len);
}

//  State and reason prefix of the hostile miner's submission for zip.
static void
s_expect (tdl_t *t, db_t *db, const char *zip, const char *state, const char *reason)
{
    char key [512];
    tdl_key (key, sizeof key, HH, EP, zip);
    char *st = tdl_text (t, db, "SELECT state || '|' || coalesce (reason, '') FROM "
                         "validator_submissions WHERE epoch_id = $1 AND s3_key = $2",
                         DB_P (EP, key));
    char want [128];
    snprintf (want, sizeof want, "%s|%s", state, reason);
    if (strncmp (st, want, strlen (want)) != 0)
        fprintf (stderr, "zipcode %s: got '%s', want '%s...'\n", zip, st, want);
    CHECK (strncmp (st, want, strlen (want)) == 0);
    free (st);
}

int
main (void)
{
    tdl_t t;
    tdl_setup (&t, "dls3", "all");
    db_t *db = tdb_connect (&t.tdb, "check");
    tdl_epoch (&t, EP);

    //  ---- order: 10001 uploaded by C, then A, then B; A uploads again later (duplicate)
    //  (LastModified has a resolution of one second: the sleeps make the order)
    char k2 [512];
    char *b = tdl_body (EP, HA, "10003", 2, 2);
    tdl_put_body (&t, HC, EP, "10001", 3);
    usleep (1100 * 1000);
    tdl_put_body (&t, HA, EP, "10001", 4);
    //  A's two objects for 10003: the one uploaded first is kept, whatever the key's stamp
    snprintf (k2, sizeof k2, "data/hotkey=" HA "/epoch=" EP "/zipcode=10003/"
              "data_20261125_150000.json");
    tdl_put (&t, k2, b, strlen (b));
    usleep (1100 * 1000);
    tdl_put_body (&t, HB, EP, "10001", 5);
    snprintf (k2, sizeof k2, "data/hotkey=" HA "/epoch=" EP "/zipcode=10003/"
              "data_20261125_140000.json");
    tdl_put (&t, k2, b, strlen (b));
    free (b);
    //  ties: A and B on 10002 (made equal below)
    tdl_put_body (&t, HB, EP, "10002", 2);
    tdl_put_body (&t, HA, EP, "10002", 2);
    //  not this epoch, not a submission key, not an assigned zipcode
    tdl_put_body (&t, HA, EP0, "10001", 1);
    tdl_put (&t, "data/hotkey=" HA "/epoch=" EP "/zipcode=10001/notes.txt", "x", 1);
    tdl_put (&t, "data/hotkey=bad-hotkey/epoch=" EP "/zipcode=10001/data_1.json", "{}", 2);
    tdl_put_body (&t, HA, EP, "99999", 1);

    //  ---- hostile miner
    b = tdl_body (EP, HH, "10003", 3, 3);
    s_put_raw (&t, "10003", b, strlen (b) / 2);                         //  truncated
    free (b);
    size_t big = 2u << 20;                                              //  2 MiB > 1 MiB cap
    char *blob = malloc (big);
    CHECK (blob);
    memset (blob, ' ', big);
    b = tdl_body (EP, HH, "10004", 1, 1);
    memcpy (blob, b, strlen (b));                                       //  valid JSON + spaces
    free (b);
    s_put_raw (&t, "10004", blob, big);
    b = tdl_body (EP, HH, "10005", 7, 3);                               //  lying count
    s_put_raw (&t, "10005", b, strlen (b));
    free (b);
    b = tdl_body (EP0, HH, "10006", 3, 3);                              //  another epoch
    s_put_raw (&t, "10006", b, strlen (b));
    free (b);
    b = tdl_body (EP, HA, "10007", 3, 3);                               //  another hotkey
    s_put_raw (&t, "10007", b, strlen (b));
    free (b);
    b = tdl_body (EP, HH, "10019", 3, 3);                               //  another zipcode
    s_put_raw (&t, "10008", b, strlen (b));
    free (b);
    //  100,000 listings (small ones, so the body stays under the byte cap)
    size_t cap = 1u << 20;
    b = malloc (cap);
    int w = snprintf (b, cap, "{\"epoch_id\":\"" EP "\",\"zipcode\":\"10009\",\"miner_hotkey\":\""
                      HH "\",\"listing_count\":100000,\"listings\":[");
    for (int i = 0; i < 100000; i++)
        w += snprintf (b + w, cap - (size_t) w, i ? ",{}" : "{}");
    w += snprintf (b + w, cap - (size_t) w, "]}");
    s_put_raw (&t, "10009", b, (size_t) w);
    free (b);
    //  deep nesting
    char deep [1024];
    w = snprintf (deep, sizeof deep, "{\"epoch_id\":\"" EP "\",\"zipcode\":\"10010\","
                  "\"miner_hotkey\":\"" HH "\",\"listing_count\":1,\"listings\":[{\"a\":");
    for (int i = 0; i < 200; i++)
        deep [w++] = '[';
    for (int i = 0; i < 200; i++)
        deep [w++] = ']';
    w += snprintf (deep + w, sizeof deep - (size_t) w, "}]}");
    s_put_raw (&t, "10010", deep, (size_t) w);
    //  invalid UTF-8 (an overlong '/')
    const char utf [] = "{\"epoch_id\":\"" EP "\",\"zipcode\":\"10011\",\"miner_hotkey\":\""
                        HH "\",\"listing_count\":1,\"listings\":[{\"address\":\"\xc0\xaf\"}]}";
    s_put_raw (&t, "10011", utf, strlen (utf));
    //  SQL in strings
    const char *sql_addr = "1'); DROP TABLE validator_submissions; --";
    char sql [512];
    w = snprintf (sql, sizeof sql, "{\"epoch_id\":\"" EP "\",\"zipcode\":\"10012\",\"miner_hotkey\":\""
                  HH "\",\"listing_count\":2,\"listings\":[{\"zpid\":1,\"address\":\"%s\"},"
                  "{\"zpid\":2,\"x\":\"$1 \\\\. \\\\copy\"}]}", sql_addr);
    s_put_raw (&t, "10012", sql, (size_t) w);
    //  changed after listing: grows over the cap, is deleted, changes size
    b = tdl_body (EP, HH, "10013", 1, 1);
    s_put_raw (&t, "10013", b, strlen (b));
    free (b);
    b = tdl_body (EP, HH, "10014", 1, 1);
    s_put_raw (&t, "10014", b, strlen (b));
    free (b);
    b = tdl_body (EP, HH, "10015", 1, 1);
    s_put_raw (&t, "10015", b, strlen (b));
    free (b);
    tdl_put_body (&t, HA, EP, "10020", 1);
    //  late: lands after the deadline (set just before it below)
    usleep (1100 * 1000);
    tdl_put_body (&t, HH, EP, "10016", 2);
    char late_key [512];
    tdl_key (late_key, sizeof late_key, HH, EP, "10016");

    //  the deadline: 500 ms before the late object's LastModified, as listed
    s3_list_page_t page;
    memset (&page, 0, sizeof page);
    s3_list_query_t q = { .prefix = late_key };
    CHECK_EQ_INT (s3_list (t.s3, t.bucket, &q, &page), 0);
    CHECK_EQ_INT (page.nobjects, 1);
    printf ("LastModified as listed: %s\n", page.objects [0].last_modified);
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_epochs SET submission_deadline = "
                               "$2::timestamptz - interval '500 milliseconds' WHERE epoch_id = $1",
                           DB_P (EP, page.objects [0].last_modified), NULL), 0);
    s3_list_page_clear (&page);

    //  ---- list
    int recorded = downloader_list (t.dl, EP);
    //  A: 10001, 10002, 99999, 10020, 10003 x2; B: 10001, 10002; C: 10001;
    //  H: 10003..10016 (14)
    CHECK_EQ_INT (recorded, 6 + 2 + 1 + 14);
    CHECK_EQ_INT (downloader_list (t.dl, EP), 0);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE epoch_id <> $1",
                           DB_P (EP)), 0);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_skipped_total{reason=\"bad_key\"}"), 2);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_skipped_total{reason=\"not_assigned\"}"), 1);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_skipped_total{reason=\"late\"}"), 1);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_skipped_total{reason=\"duplicate\"}"), 1);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE reason LIKE 'late:%' "
                               "AND s3_key LIKE '%zipcode=10016/%'", 0, NULL), 1);
    //  the earlier of A's two objects for 10003 (by LastModified) is the one kept
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE zipcode = '10003' "
                               "AND miner_hotkey = $1 AND state = 'listed' AND s3_key LIKE "
                               "'%data_20261125_150000.json'", DB_P (HA)), 1);
    //  LastModified exactly as listed, sizes as listed
    {
        char key [512];
        tdl_key (key, sizeof key, HC, EP, "10001");
        memset (&page, 0, sizeof page);
        s3_list_query_t q1 = { .prefix = key };
        CHECK_EQ_INT (s3_list (t.s3, t.bucket, &q1, &page), 0);
        char *lm = tdl_text (&t, db, "SELECT last_modified_raw || '|' || size_bytes || '|' || "
                             "etag FROM validator_submissions WHERE s3_key = $1", DB_P (key));
        char want [256];
        snprintf (want, sizeof want, "%s|%lld|%s", page.objects [0].last_modified,
                  (long long) page.objects [0].size, page.objects [0].etag);
        CHECK (page.objects [0].etag [0] == '"');       //  quotes survive the array literal
        CHECK_EQ_STR (lm, want);
        free (lm);
        s3_list_page_clear (&page);
    }

    //  ---- change objects after listing
    char *small = tdl_body (EP, HH, "10004", 1, 1);
    s_put_raw (&t, "10004", small, strlen (small));                     //  now small and valid
    free (small);
    s_put_raw (&t, "10013", blob, big);                                 //  grows over the cap
    char key [512];
    tdl_key (key, sizeof key, HH, EP, "10014");
    CHECK_EQ_INT (s3_delete (t.s3, t.bucket, key), 0);                   //  gone
    b = tdl_body (EP, HH, "10015", 2, 2);
    s_put_raw (&t, "10015", b, strlen (b));                             //  another size
    free (b);
    free (blob);

    //  ---- ties on 10002: same LastModified, B uploaded first, A must come first
    CHECK_EQ_INT (db_exec (db, "UPDATE validator_submissions SET last_modified = "
                               "'2026-11-25T13:00:00Z' WHERE zipcode = '10002'", 0, NULL, NULL), 0);

    //  ---- download everything (mode all)
    CHECK_EQ_INT (downloader_request_all (t.dl, EP), 6 + 2 + 1 + 14 - 3);
    double bytes0 = tdl_metric (&t, "zipmine_downloader_bytes_total");
    CHECK (bytes0 == 0);
    int settled = tdl_pump_all (&t);
    CHECK (settled >= 19);

    s_expect (&t, db, "10003", "rejected", "not_json:");
    s_expect (&t, db, "10004", "rejected", "too_large: listed size 2097152 bytes");
    s_expect (&t, db, "10005", "rejected", "count_mismatch:");
    s_expect (&t, db, "10006", "rejected", "wrong_epoch:");
    s_expect (&t, db, "10007", "rejected", "wrong_hotkey:");
    s_expect (&t, db, "10008", "rejected", "wrong_zipcode:");
    s_expect (&t, db, "10009", "rejected", "too_many_listings:");
    s_expect (&t, db, "10010", "rejected", "too_deep:");
    s_expect (&t, db, "10011", "rejected", "bad_utf8:");
    s_expect (&t, db, "10012", "downloaded", "");
    s_expect (&t, db, "10013", "rejected", "too_large: over the cap");
    s_expect (&t, db, "10014", "rejected", "gone:");
    s_expect (&t, db, "10015", "rejected", "changed:");
    s_expect (&t, db, "10016", "skipped", "late:");
    static const char *const reasons [] = {
        "not_json", "too_large", "count_mismatch", "wrong_epoch", "wrong_hotkey",
        "wrong_zipcode", "too_many_listings", "too_deep", "bad_utf8", "gone", "changed" };
    static const int counts [] = { 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons [0]; i++) {
        char series [128];
        snprintf (series, sizeof series, "zipmine_downloader_rejected_total{reason=\"%s\"}",
                  reasons [i]);
        CHECK_EQ_INT (tdl_metric (&t, series), counts [i]);
    }
    //  the 2 MiB object was never read: the only bytes read are those of the other objects
    int64_t read_expected = tdb_int (db,
        "SELECT sum(size_bytes) FROM validator_submissions WHERE epoch_id = $1 AND "
        "requested_at IS NOT NULL AND zipcode NOT IN ('10004', '10013', '10014', '10015')",
        DB_P (EP));
    double bytes = tdl_metric (&t, "zipmine_downloader_bytes_total");
    //  plus the changed object's new size (read, then refused)
    char *b15 = tdl_body (EP, HH, "10015", 2, 2);
    CHECK_EQ_INT ((int64_t) bytes, read_expected + (int64_t) strlen (b15));
    free (b15);

    //  SQL stored verbatim, tables intact
    char *addr = tdl_text (&t, db, "SELECT l.doc ->> 'address' FROM validator_submission_listings l "
                           "JOIN validator_submissions s ON s.id = l.submission_id "
                           "WHERE s.zipcode = '10012' AND l.idx = 0", 0, NULL);
    CHECK_EQ_STR (addr, sql_addr);
    free (addr);
    addr = tdl_text (&t, db, "SELECT l.doc ->> 'x' FROM validator_submission_listings l "
                     "JOIN validator_submissions s ON s.id = l.submission_id "
                     "WHERE s.zipcode = '10012' AND l.idx = 1", 0, NULL);
    CHECK_EQ_STR (addr, "$1 \\. \\copy");
    free (addr);
    CHECK (tdb_int (db, "SELECT count(*) FROM validator_submissions", 0, NULL) > 20);

    //  valid ones: listings stored in order with count and sha256
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE state = "
                               "'downloaded' AND sha256 ~ '^[0-9a-f]{64}$'", 0, NULL), 8);
    CHECK_EQ_INT (tdb_int (db, "SELECT string_agg ((l.doc ->> 'zpid'), '' ORDER BY l.idx)::bigint "
                               "FROM validator_submission_listings l JOIN validator_submissions s "
                               "ON s.id = l.submission_id WHERE s.zipcode = '10001' AND "
                               "s.miner_hotkey = $1", DB_P (HB)), 12345);

    //  ---- announcements: tier 1 in validation order, rejections to consensus
    char order [1024] = "";
    int announced = 0;
    for (;;) {
        zmqx_frame_t f;
        if (zmqx_recv (t.t1_pull, &f, 1 << 20, 0) != 0)
            break;
        proto_submission_ready_t m;
        CHECK_EQ_INT (proto_submission_ready_decode (zmqx_frame_data (&f), zmqx_frame_size (&f),
                                                     &m, NULL), 0);
        zmqx_frame_close (&f);
        CHECK (m.db_id > 0);
        char *lm = tdl_text (&t, db, "SELECT last_modified_raw FROM validator_submissions "
                             "WHERE s3_key = $1", DB_P (m.s3_key));
        CHECK_EQ_STR (m.last_modified, lm);
        free (lm);
        char line [160];
        snprintf (line, sizeof line, "%s:%s:%u ", m.zipcode, m.hotkey, m.count);
        strncat (order, line, sizeof order - strlen (order) - 1);
        announced++;
        proto_submission_ready_free (&m);
    }
    printf ("announced: %s\n", order);
    CHECK_EQ_STR (order, "10001:" HC ":3 10001:" HA ":4 10001:" HB ":5 10002:" HA ":2 "
                  "10002:" HB ":2 10003:" HA ":2 10012:" HH ":2 10020:" HA ":1 ");
    int rejected = 0;
    for (;;) {
        zmqx_frame_t f;
        if (zmqx_recv (t.co_pull, &f, 1 << 20, 0) != 0)
            break;
        proto_tier_result_t m;
        CHECK_EQ_INT (proto_tier_result_decode (zmqx_frame_data (&f), zmqx_frame_size (&f), &m,
                                                NULL), 0);
        zmqx_frame_close (&f);
        CHECK_EQ_INT (m.tier, 1);
        CHECK_EQ_INT (m.verdict, PROTO_VERDICT_FAIL);
        CHECK_EQ_STR (m.hotkey, HH);
        CHECK (m.submission_id > 0 && m.reason [0]);
        rejected++;
        proto_tier_result_free (&m);
    }
    CHECK_EQ_INT (rejected, 12);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_announced_total{to=\"tier1\"}"), 8);
    CHECK_EQ_INT (tdl_metric (&t, "zipmine_downloader_announced_total{to=\"consensus\"}"), 12);
    CHECK_EQ_INT (tdb_int (db, "SELECT count(*) FROM validator_submissions WHERE requested_at "
                               "IS NOT NULL AND announced_at IS NULL", 0, NULL), 0);
    //  nothing more to do
    CHECK_EQ_INT (downloader_pump (t.dl, 1000), 0);

    db_destroy (&db);
    tdl_teardown (&t);
    TEST_DONE ();
}
