/*  test_metrics: the metrics registry, its Prometheus text rendering, flat samples, merged
    sets, and `promtool check metrics` (Debian's prometheus package) on real output.        */
#include "common/metrics.h"
#include "common/log.h"
#include "tests/testutil.h"

#include <fcntl.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

static bool
s_contains (const char *text, const char *needle)
{
    return strstr (text, needle) != NULL;
}

static size_t
s_count (const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr (p, needle)) != NULL; p += strlen (needle))
        n++;
    return n;
}

//  Runs promtool check metrics on text; returns its exit status (0 = passes).
static int
s_promtool (const char *text)
{
    char path [] = "/tmp/zm_metrics_XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    size_t len = strlen (text);
    CHECK (write (fd, text, len) == (ssize_t) len);
    close (fd);
    char cmd [256];
    snprintf (cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen (cmd, "r");
    CHECK (p);
    char line [512];
    while (fgets (line, sizeof line, p))
        fprintf (stderr, "promtool: %s", line);
    int status = pclose (p);
    unlink (path);
    CHECK (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_render_basic (void)
{
    metrics_t *reg = metrics_new ();
    CHECK (reg);
    metrics_family_t *rows = metrics_counter (reg, "zipmine_rows_total", "Rows written", NULL);
    metrics_family_t *temp = metrics_gauge (reg, "zipmine_queue_depth", "Queue depth", "stage");
    metrics_family_t *lat = metrics_histogram (reg, "zipmine_call_seconds", "Call latency",
                                               "route", (const double []) { 0.1, 1, 2.5 }, 3);
    CHECK (rows && temp && lat);
    metrics_inc (metrics_series (rows));
    metrics_add (metrics_series (rows), 41);
    metrics_set (metrics_series (temp, "scrape"), 7.5);
    metrics_add (metrics_series (temp, "store"), -2);
    metrics_series_t *h = metrics_series (lat, "/x");
    metrics_observe (h, 0.05);
    metrics_observe (h, 0.1);          //  le is inclusive
    metrics_observe (h, 2);
    metrics_observe (h, 100);
    metrics_observe (h, NAN);          //  ignored
    CHECK_EQ_INT (metrics_count (h), 4);
    CHECK (fabs (metrics_value (h) - 102.15) < 1e-9);
    CHECK (metrics_value (metrics_series (rows)) == 42);

    size_t size = 0;
    char *text = metrics_render (reg, &size);
    CHECK (text);
    CHECK_EQ_INT (size, strlen (text));
    const char *expect =
        "# HELP zipmine_metrics_series_refused_total Label tuples refused because a family was "
        "full or a value looked like an address\n"
        "# TYPE zipmine_metrics_series_refused_total counter\n"
        "zipmine_metrics_series_refused_total 0\n"
        "# HELP zipmine_rows_total Rows written\n"
        "# TYPE zipmine_rows_total counter\n"
        "zipmine_rows_total 42\n"
        "# HELP zipmine_queue_depth Queue depth\n"
        "# TYPE zipmine_queue_depth gauge\n"
        "zipmine_queue_depth{stage=\"scrape\"} 7.5\n"
        "zipmine_queue_depth{stage=\"store\"} -2\n"
        "# HELP zipmine_call_seconds Call latency\n"
        "# TYPE zipmine_call_seconds histogram\n"
        "zipmine_call_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
        "zipmine_call_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
        "zipmine_call_seconds_bucket{route=\"/x\",le=\"2.5\"} 3\n"
        "zipmine_call_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
        "zipmine_call_seconds_sum{route=\"/x\"} 102.15\n"
        "zipmine_call_seconds_count{route=\"/x\"} 4\n";
    CHECK_EQ_STR (text, expect);
    CHECK_EQ_INT (s_promtool (text), 0);
    free (text);
    metrics_destroy (&reg);
    CHECK (reg == NULL);
    metrics_destroy (&reg);            //  no-op on NULL
}

static void
test_names (void)
{
    metrics_t *reg = metrics_new ();
    //  data-model violations
    CHECK (!metrics_counter (reg, "0bad_total", "h", NULL));
    CHECK (!metrics_counter (reg, "bad-name_total", "h", NULL));
    CHECK (!metrics_counter (reg, "", "h", NULL));
    CHECK (!metrics_counter (reg, NULL, "h", NULL));
    //  promtool lint rules
    CHECK (!metrics_counter (reg, "zipmine_rows", "h", NULL));              //  no _total
    CHECK (!metrics_gauge (reg, "zipmine_rows_total", "h", NULL));          //  _total on gauge
    CHECK (!metrics_gauge (reg, "zipmine_latency_ms", "h", NULL));          //  abbreviated unit
    CHECK (!metrics_gauge (reg, "zipmine_latency_milliseconds", "h", NULL));//  non-base unit
    CHECK (!metrics_gauge (reg, "zipmine_rows_count", "h", NULL));          //  reserved suffix
    CHECK (!metrics_gauge (reg, "zipmine_rowsGauge", "h", NULL));           //  camelCase
    CHECK (!metrics_gauge (reg, "zipmine:rows", "h", NULL));                //  colon
    CHECK (!metrics_gauge (reg, "zipmine_rows_gauge", "h", NULL));          //  type in name
    //  help
    CHECK (!metrics_gauge (reg, "zipmine_a", "", NULL));
    CHECK (!metrics_gauge (reg, "zipmine_a", NULL, NULL));
    CHECK (!metrics_gauge (reg, "zipmine_a", "\xff\xfe", NULL));
    //  labels
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "le"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "worker"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "instance"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "__x"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "a,a"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "a,,b"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "a,b,c,d,e"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "Route"));
    CHECK (!metrics_gauge (reg, "zipmine_a", "h", "1a"));
    CHECK (metrics_gauge (reg, "zipmine_a", "h", "a,b,c,d"));
    //  histogram bounds
    CHECK (!metrics_histogram (reg, "zipmine_hist_seconds", "h", NULL, NULL, 0));
    CHECK (!metrics_histogram (reg, "zipmine_hist_seconds", "h", NULL,
                               (const double []) { 1, 1 }, 2));
    CHECK (!metrics_histogram (reg, "zipmine_hist_seconds", "h", NULL,
                               (const double []) { 2, 1 }, 2));
    CHECK (!metrics_histogram (reg, "zipmine_hist_seconds", "h", NULL,
                               (const double []) { 1, INFINITY }, 2));
    CHECK (metrics_histogram (reg, "zipmine_hist_seconds", "h", NULL, METRICS_BUCKETS_LATENCY));
    //  idempotent registration, conflicting registration
    metrics_family_t *f1 = metrics_counter (reg, "zipmine_x_total", "help", "a");
    metrics_family_t *f2 = metrics_counter (reg, "zipmine_x_total", "help", "a");
    CHECK (f1 && f1 == f2);
    CHECK (!metrics_counter (reg, "zipmine_x_total", "other help", "a"));
    CHECK (!metrics_counter (reg, "zipmine_x_total", "help", "b"));
    CHECK (!metrics_counter (reg, "zipmine_x_total", "help", NULL));
    CHECK (metrics_name_valid ("a:b_c9"));
    CHECK (!metrics_name_valid ("9"));
    CHECK (metrics_label_name_valid ("_x"));
    CHECK (!metrics_label_name_valid ("__x"));
    metrics_type_t t;
    CHECK_EQ_INT (metrics_type_parse ("histogram", &t), 0);
    CHECK_EQ_INT (t, METRICS_HISTOGRAM);
    CHECK_EQ_INT (metrics_type_parse ("summary", &t), -1);
    CHECK_EQ_STR (metrics_type_name (METRICS_GAUGE), "gauge");
    metrics_destroy (&reg);
}

static void
test_label_values (void)
{
    metrics_t *reg = metrics_new ();
    metrics_family_t *f = metrics_gauge (reg, "zipmine_v", "Values", "v");
    metrics_set (metrics_series (f, "a\\b\"c\nd"), 1);
    metrics_set (metrics_series (f, "bad\xff\xc0utf8\x01"), 2);
    char long_value [400];
    memset (long_value, 'x', sizeof long_value - 1);
    long_value [sizeof long_value - 1] = 0;
    metrics_set (metrics_series (f, long_value), 3);
    //  a 3-byte character straddling the 128-byte cut is dropped whole
    char utf [200];
    memset (utf, 'y', 127);
    memcpy (utf + 127, "\xe2\x82\xac", 4);
    metrics_set (metrics_series (f, utf), 4);
    //  the same tuple again is the same series
    CHECK (metrics_series (f, "a\\b\"c\nd") == metrics_series (f, "a\\b\"c\nd"));
    //  SS58 addresses are refused as label values
    CHECK (metrics_series (f, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY") == NULL);
    //  updates on a refused (NULL) series are no-ops
    metrics_set (NULL, 1);
    metrics_add (NULL, 1);
    metrics_observe (NULL, 1);
    CHECK_EQ_INT (metrics_value (NULL), 0);

    char *text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_v{v=\"a\\\\b\\\"c\\nd\"} 1\n"));
    CHECK (s_contains (text, "zipmine_v{v=\"bad??utf8?\"} 2\n"));
    char expect [300];
    snprintf (expect, sizeof expect, "zipmine_v{v=\"%.128s\"} 3\n", long_value);
    CHECK (s_contains (text, expect));
    snprintf (expect, sizeof expect, "zipmine_v{v=\"%.127s\"} 4\n", utf);
    CHECK (s_contains (text, expect));
    CHECK (s_contains (text, "zipmine_metrics_series_refused_total 1\n"));
    CHECK (!s_contains (text, "5GrwvaEF"));
    CHECK_EQ_INT (s_promtool (text), 0);
    free (text);
    metrics_destroy (&reg);
}

static void
test_series_limit (void)
{
    metrics_t *reg = metrics_new ();
    metrics_family_t *f = metrics_counter (reg, "zipmine_req_total", "Requests", "code");
    for (int i = 0; i < METRICS_SERIES_MAX; i++) {
        char code [16];
        snprintf (code, sizeof code, "%d", i);
        CHECK (metrics_series (f, code));
    }
    CHECK (metrics_series (f, "one_too_many") == NULL);
    CHECK (metrics_series (f, "another") == NULL);
    CHECK (metrics_series (f, "0") != NULL);        //  existing series still served
    char *text = metrics_render (reg, NULL);
    CHECK_EQ_INT (s_count (text, "zipmine_req_total{"), METRICS_SERIES_MAX);
    CHECK (s_contains (text, "zipmine_metrics_series_refused_total 2\n"));
    free (text);
    metrics_destroy (&reg);
}

static void
test_counter_rules (void)
{
    metrics_t *reg = metrics_new ();
    metrics_series_t *c = metrics_series (metrics_counter (reg, "zipmine_c_total", "c", NULL));
    metrics_add (c, 5);
    metrics_add (c, -1);                //  counters never go down
    metrics_add (c, NAN);
    CHECK (metrics_value (c) == 5);
    metrics_set (c, 3);                 //  backwards: ignored
    CHECK (metrics_value (c) == 5);
    metrics_set (c, 9);
    CHECK (metrics_value (c) == 9);
    metrics_series_t *g = metrics_series (metrics_gauge (reg, "zipmine_g", "g", NULL));
    metrics_set (g, NAN);
    char *text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_g NaN\n"));
    free (text);
    metrics_set (g, INFINITY);
    text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_g +Inf\n"));
    free (text);
    metrics_set (g, -INFINITY);
    text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_g -Inf\n"));
    free (text);
    metrics_set (g, 0.1);
    text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_g 0.1\n"));
    free (text);
    metrics_set (g, 1e20);
    text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_g 1e+20\n"));
    free (text);
    metrics_set (g, -0.0);
    text = metrics_render (reg, NULL);
    CHECK (s_contains (text, "zipmine_g 0\n"));
    CHECK_EQ_INT (s_promtool (text), 0);
    free (text);
    metrics_destroy (&reg);
}

static void
test_samples (void)
{
    metrics_t *reg = metrics_new ();
    metrics_family_t *h = metrics_histogram (reg, "zipmine_size_bytes", "Sizes", "kind",
                                             METRICS_BUCKETS_BYTES);
    metrics_observe (metrics_series (h, "batch"), 2000);
    metrics_observe (metrics_series (h, "batch"), 5e9);
    metrics_gauge (reg, "zipmine_empty", "No series yet", NULL);   //  no series: no rows
    metrics_sample_t *rows = NULL;
    ssize_t n = metrics_samples (reg, &rows);
    //  refused counter (1) + histogram (8 bounds + Inf + sum + count = 11)
    CHECK_EQ_INT (n, 12);
    CHECK_EQ_STR (rows [0].name, "zipmine_metrics_series_refused_total");
    CHECK_EQ_INT (rows [0].type, METRICS_COUNTER);
    CHECK (rows [0].help && *rows [0].help);
    CHECK_EQ_STR (rows [1].name, "zipmine_size_bytes_bucket");
    CHECK_EQ_INT (rows [1].type, METRICS_HISTOGRAM);
    CHECK_EQ_INT (rows [1].nlabels, 2);
    CHECK_EQ_STR (rows [1].labels [0].name, "kind");
    CHECK_EQ_STR (rows [1].labels [0].value, "batch");
    CHECK_EQ_STR (rows [1].labels [1].name, "le");
    CHECK_EQ_STR (rows [1].labels [1].value, "1024");
    CHECK (rows [1].value == 0);
    CHECK_EQ_STR (rows [2].labels [1].value, "16384");
    CHECK (rows [2].value == 1);
    CHECK_EQ_STR (rows [9].labels [1].value, "+Inf");
    CHECK (rows [9].value == 2);
    CHECK_EQ_STR (rows [10].name, "zipmine_size_bytes_sum");
    CHECK (rows [10].value == 5e9 + 2000);
    CHECK_EQ_INT (rows [10].nlabels, 1);
    CHECK_EQ_STR (rows [11].name, "zipmine_size_bytes_count");
    CHECK (rows [11].value == 2);
    free (rows);
    metrics_destroy (&reg);
}

//  Two "workers" with the same metrics plus a supervisor registry, merged into one exposition.
static void
test_set_merge (void)
{
    metrics_t *sup = metrics_new ();
    metrics_set (metrics_series (metrics_gauge (sup, "zipmine_supervisor_workers",
                                                "Workers by state", "state"), "ready"), 3);
    metrics_t *w [2];
    for (int i = 0; i < 2; i++) {
        w [i] = metrics_new ();
        metrics_add (metrics_series (metrics_counter (w [i], "zipmine_rows_total", "Rows",
                                                      "table"), "listings"), 10 + i);
        metrics_family_t *h = metrics_histogram (w [i], "zipmine_call_seconds", "Latency",
                                                 NULL, (const double []) { 1 }, 1);
        metrics_observe (metrics_series (h), 0.5 * (i + 1));
    }
    metrics_set_t *set = metrics_set_new (0);
    CHECK_EQ_INT (metrics_set_add_registry (set, sup, NULL, 0), 0);
    for (int i = 0; i < 2; i++) {
        char index [8];
        snprintf (index, sizeof index, "%d", i);
        metrics_label_t extra [] = { { "worker", "storage" }, { "instance", index } };
        metrics_sample_t *rows;
        ssize_t n = metrics_samples (w [i], &rows);
        CHECK (n > 0);
        CHECK_EQ_INT (metrics_set_add (set, rows, (size_t) n, extra, 2), 0);
        free (rows);
    }
    char *text = metrics_set_render (set, NULL);
    CHECK_EQ_INT (s_count (text, "# TYPE zipmine_rows_total counter\n"), 1);
    CHECK_EQ_INT (s_count (text, "# HELP zipmine_rows_total "), 1);
    CHECK_EQ_INT (s_count (text, "# TYPE zipmine_call_seconds histogram\n"), 1);
    CHECK_EQ_INT (s_count (text, "# TYPE zipmine_metrics_series_refused_total counter\n"), 1);
    CHECK (s_contains (text,
        "zipmine_rows_total{table=\"listings\",worker=\"storage\",instance=\"0\"} 10\n"
        "zipmine_rows_total{table=\"listings\",worker=\"storage\",instance=\"1\"} 11\n"));
    CHECK (s_contains (text,
        "zipmine_call_seconds_bucket{le=\"1\",worker=\"storage\",instance=\"1\"} 1\n"
        "zipmine_call_seconds_bucket{le=\"+Inf\",worker=\"storage\",instance=\"1\"} 1\n"
        "zipmine_call_seconds_sum{worker=\"storage\",instance=\"1\"} 1\n"
        "zipmine_call_seconds_count{worker=\"storage\",instance=\"1\"} 1\n"));
    CHECK (s_contains (text, "zipmine_supervisor_workers{state=\"ready\"} 3\n"));
    //  the supervisor's own refused counter (no labels) and the workers' (labelled) coexist
    CHECK (s_contains (text, "zipmine_metrics_series_refused_total 0\n"));
    CHECK (s_contains (text,
        "zipmine_metrics_series_refused_total{worker=\"storage\",instance=\"0\"} 0\n"));
    CHECK_EQ_INT (s_promtool (text), 0);
    free (text);
    metrics_set_destroy (&set);
    CHECK (set == NULL);
    metrics_set_destroy (&set);
    metrics_destroy (&sup);
    for (int i = 0; i < 2; i++)
        metrics_destroy (&w [i]);
}

//  Rows as a hostile or broken worker could send them: each bad one is dropped, the good ones
//  still render, and the result passes promtool.
static void
test_set_hostile (void)
{
    metrics_set_t *set = metrics_set_new (0);
    metrics_label_t extra [] = { { "worker", "w" }, { "instance", "0" } };
    metrics_sample_t good = { .name = "zipmine_ok_total", .type = METRICS_COUNTER,
                              .value = 1, .help = "Good\nrow \\ here" };
    CHECK_EQ_INT (metrics_set_add (set, &good, 1, extra, 2), 0);

    metrics_sample_t bad [] = {
        { .name = NULL, .type = METRICS_GAUGE },
        { .name = "9bad", .type = METRICS_GAUGE },
        { .name = "zipmine_ok_total", .type = METRICS_GAUGE },          //  _total on gauge
        { .name = "zipmine_rows", .type = METRICS_COUNTER },            //  counter w/o _total
        { .name = "zipmine_g", .type = (metrics_type_t) 9 },            //  unknown type
        { .name = "zipmine_h_bucket", .type = METRICS_HISTOGRAM },      //  bucket without le
        { .name = "zipmine_h_bucket", .type = METRICS_HISTOGRAM, .nlabels = 1,
          .labels = { { "le", "abc" } } },                              //  le not a number
        { .name = "zipmine_h_total", .type = METRICS_HISTOGRAM },       //  no histogram suffix
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 1,
          .labels = { { "le", "1" } } },                                //  le outside buckets
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 2,
          .labels = { { "a", "1" }, { "a", "2" } } },                   //  repeated label
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 1,
          .labels = { { "worker", "evil" } } },                         //  clashes with extra
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 1,
          .labels = { { "__name__", "x" } } },                          //  reserved label
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 1,
          .labels = { { "a", NULL } } },                                //  NULL value
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 7,
          .labels = { { "a", "1" }, { "b", "1" }, { "c", "1" }, { "d", "1" }, { "e", "1" },
                      { "f", "1" }, { "g", "1" } } },                   //  7 + 2 extra > 8
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 99 },  //  count out of range
        { .name = "zipmine_g", .type = METRICS_GAUGE, .nlabels = 1,
          .labels = { { "miner", "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY" } } },
    };
    size_t nbad = sizeof bad / sizeof bad [0];
    CHECK_EQ_INT (metrics_set_add (set, bad, nbad, extra, 2), nbad);
    CHECK_EQ_INT (metrics_set_size (set), 1);

    //  a family's type is fixed by the first row: a later row of another type is dropped
    metrics_sample_t g1 = { .name = "zipmine_depth", .type = METRICS_GAUGE, .value = 1,
                            .help = NULL, .nlabels = 1,
                            .labels = { { "v", "\"quoted\"\n\xff" } } };
    metrics_sample_t c1 = { .name = "zipmine_depth", .type = METRICS_COUNTER };
    CHECK_EQ_INT (metrics_set_add (set, &g1, 1, NULL, 0), 0);
    CHECK_EQ_INT (metrics_set_add (set, &c1, 1, NULL, 0), 1);
    char *text = metrics_set_render (set, NULL);
    CHECK (s_contains (text, "# HELP zipmine_ok_total Good\\nrow \\\\ here\n"));
    //  no help sent: the family name stands in, so promtool's "no help text" lint passes
    CHECK (s_contains (text, "# HELP zipmine_depth zipmine_depth\n"));
    CHECK (s_contains (text, "zipmine_depth{v=\"\\\"quoted\\\"\\n?\"} 1\n"));
    CHECK_EQ_INT (s_promtool (text), 0);
    free (text);
    metrics_set_destroy (&set);

    //  a bounded set
    set = metrics_set_new (3);
    metrics_sample_t many [5];
    for (int i = 0; i < 5; i++)
        many [i] = good;
    CHECK_EQ_INT (metrics_set_add (set, many, 5, NULL, 0), 2);
    CHECK_EQ_INT (metrics_set_size (set), 3);
    metrics_set_destroy (&set);
}

//  The check must be able to fail: promtool rejects a broken exposition.
static void
test_promtool_rejects (void)
{
    CHECK (s_promtool ("# TYPE a_total counter\n# TYPE a_total counter\na_total 1\n") != 0);
    CHECK (s_promtool ("# HELP rows Rows\n# TYPE rows counter\nrows 1\n") != 0);
}

int
main (void)
{
    //  keep the expected warnings out of the test output
    int devnull = open ("/dev/null", O_WRONLY);
    CHECK (devnull >= 0);
    log_set_fd (devnull);
    test_render_basic ();
    test_names ();
    test_label_values ();
    test_series_limit ();
    test_counter_rules ();
    test_samples ();
    test_set_merge ();
    test_set_hostile ();
    test_promtool_rejects ();
    close (devnull);
    TEST_DONE ();
}
