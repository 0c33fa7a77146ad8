/*  metrics: a registry of counters, gauges and histograms, rendered as Prometheus text.

    Every process owns one registry (a worker gets it from worker_metrics ()). A metric is a
    *family* (name, help, type, label names) holding one *series* per distinct tuple of label
    values:

        metrics_t *reg = metrics_new ();
        metrics_family_t *rows = metrics_counter (reg, "zipmine_storage_rows_total",
                                                  "Listing rows written", NULL);
        metrics_family_t *reqs = metrics_counter (reg, "zipmine_http_requests_total",
                                                  "HTTP requests by route and code", "route,code");
        metrics_family_t *lat  = metrics_histogram (reg, "zipmine_http_request_seconds",
                                                    "HTTP request latency", "route",
                                                    METRICS_BUCKETS_LATENCY);
        metrics_inc (metrics_series (rows));
        metrics_add (metrics_series (reqs, "/api/v1/status", "200"), 1);
        metrics_observe (metrics_series (lat, "/api/v1/status"), 0.012);

    Rendering follows the Prometheus text exposition format 0.0.4: one # HELP and one # TYPE
    line per family, histograms as cumulative <name>_bucket{le="..."} lines ending in
    le="+Inf", then <name>_sum and <name>_count; label values escaped (\\, \", \n), invalid
    UTF-8 replaced by '?'. The output passes `promtool check metrics` (tested).

    Cardinality is bounded: a family holds at most METRICS_SERIES_MAX series. A new label
    tuple beyond that is refused (metrics_series returns NULL, on which every update is a
    no-op), the refusal is logged once per family (event "metrics_series_limit") and counted
    in zipmine_metrics_series_refused_total, which every registry exposes. Label values must
    come from small fixed sets (routes, status codes, stages, outcomes): never hotkeys,
    zipcodes, epoch ids or other unbounded values. As a guard, a label value that looks like
    an SS58 address is refused the same way.

    Names are validated: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
    [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"; "le" is reserved (histogram buckets) and
    "worker"/"instance" are reserved for the supervisor, which adds them when it re-exports a
    worker's metrics. Registering a family with a bad name is a programmer error: the
    constructor returns NULL (and logs why).

    Export and re-rendering: metrics_samples () flattens a registry into metrics_sample_t rows
    (one per exposition line: a histogram series gives its buckets, _sum and _count rows),
    which the heartbeat codec carries from a worker to its supervisor. The supervisor puts
    every worker's received rows, each with extra labels (worker="storage",instance="0"), and
    its own registry into a metrics_set_t and renders that: families are merged across
    sources so each keeps one HELP/TYPE and its lines stay contiguous. Received rows are
    untrusted: metrics_set_add re-validates names, types and label sets and drops bad rows.

    Not thread-safe: a registry belongs to the one thread of its process's loop.            */
#ifndef ZM_METRICS_H
#define ZM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _metrics_t metrics_t;
typedef struct _metrics_family_t metrics_family_t;
typedef struct _metrics_series_t metrics_series_t;
typedef struct _metrics_set_t metrics_set_t;

//  Values match proto/heartbeat.h's proto_metric_type_t, so a row converts to the wire
//  with a plain copy.
typedef enum {
    METRICS_COUNTER = 1,
    METRICS_GAUGE = 2,
    METRICS_HISTOGRAM = 3
} metrics_type_t;

//  Most label names per family (a histogram's bucket rows carry one more, "le").
#define METRICS_LABELS_MAX 4
//  Most label pairs on one sample row, including "le" and extra labels added by the
//  supervisor (worker, instance).
#define METRICS_SAMPLE_LABELS_MAX 8
//  Most series per family.
#define METRICS_SERIES_MAX 64
//  Most buckets per histogram (not counting +Inf).
#define METRICS_BUCKETS_MAX 24
//  Longest family name (a row name adds at most "_bucket", and rows are at most 128 bytes),
//  label name, label value and help text accepted (bytes; the heartbeat codec's bounds).
#define METRICS_NAME_MAX 120
#define METRICS_ROW_NAME_MAX 128
#define METRICS_LABEL_NAME_MAX 64
#define METRICS_LABEL_VALUE_MAX 128
#define METRICS_HELP_MAX 256

//  Common bucket layouts, for metrics_histogram:
//  latency in seconds, 1 ms .. 60 s
#define METRICS_BUCKETS_LATENCY \
    ((const double []) { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, \
                         2.5, 5, 10, 30, 60 }), 15
//  sizes in bytes, 1 KiB .. 1 GiB
#define METRICS_BUCKETS_BYTES \
    ((const double []) { 1024, 16384, 131072, 1048576, 8388608, 67108864, 268435456, \
                         1073741824 }), 8

//  ---------------------------------------------------------------------------------------
//  Registry

//  Creates an empty registry (it already holds zipmine_metrics_series_refused_total).
metrics_t *metrics_new (void);

//  Destroys the registry and every family and series in it; nulls *self_p.
void metrics_destroy (metrics_t **self_p);

//  Registers (or finds) a family. `labels` is NULL / "" for none, or a comma list of at most
//  METRICS_LABELS_MAX label names ("route,code"). `help` is required (one line; '\\' and
//  newlines are escaped on output). Registering a name again with the same type, help
//  and labels returns the existing family; with a different type, help or labels, or a bad
//  name, returns NULL. Families live until metrics_destroy.
metrics_family_t *metrics_counter (metrics_t *self, const char *name, const char *help,
                                   const char *labels);
metrics_family_t *metrics_gauge (metrics_t *self, const char *name, const char *help,
                                 const char *labels);
//  `bounds` are the upper bounds of the buckets, finite and strictly increasing, 1 to
//  METRICS_BUCKETS_MAX of them; +Inf is implicit. Use METRICS_BUCKETS_LATENCY/_BYTES or
//  pass (array, count).
metrics_family_t *metrics_histogram (metrics_t *self, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t nbounds);

//  Returns the series for one tuple of label values, creating it (value 0) on first use.
//  Pass exactly as many values as the family has label names (none for an unlabelled
//  family): metrics_series (fam) or metrics_series (fam, "a", "b"). A wrong count is a
//  programmer error (assert). Values are untrusted-safe: any bytes are accepted and escaped
//  on output, cut at METRICS_LABEL_VALUE_MAX. Returns NULL, on which every update below is
//  a no-op, when family is NULL, or the family already holds METRICS_SERIES_MAX series, or
//  a value looks like an SS58 address. The pointer is valid until metrics_destroy.
#define metrics_series(family, ...) \
    metrics_series_v ((family), (const char *const []) { NULL, __VA_ARGS__ } + 1, \
                      sizeof ((const char *const []) { NULL, __VA_ARGS__ }) / sizeof (char *) - 1)
metrics_series_t *metrics_series_v (metrics_family_t *family, const char *const *values,
                                    size_t nvalues);

//  Counter: adds v (v >= 0; a negative or NaN v is ignored and logged, counters never go
//  down). Gauge: adds v (any sign). Histogram: not allowed (assert).
void metrics_add (metrics_series_t *series, double v);
//  metrics_add (series, 1).
void metrics_inc (metrics_series_t *series);
//  Gauge only: sets the value. A counter may be set only forward (for counters mirrored from
//  elsewhere, e.g. a library's own count); a smaller value is ignored.
void metrics_set (metrics_series_t *series, double v);
//  Histogram only: records one observation (NaN ignored).
void metrics_observe (metrics_series_t *series, double v);

//  Current value of a counter/gauge series (histograms: the sum); 0 for NULL. For tests.
double metrics_value (const metrics_series_t *series);
//  Observation count of a histogram series; 0 for NULL or other types. For tests.
uint64_t metrics_count (const metrics_series_t *series);

//  Renders the registry as Prometheus text (format 0.0.4), families in registration order,
//  series in creation order. Returns a NUL-terminated heap string (*size_p, if not NULL,
//  gets its length), or NULL if out of memory. Caller owns (free ()).
char *metrics_render (metrics_t *self, size_t *size_p);

//  ---------------------------------------------------------------------------------------
//  Flat samples: the form that leaves the process (heartbeat codec) and comes back.

typedef struct {
    const char *name;
    const char *value;
} metrics_label_t;

//  One exposition line, shaped like proto/heartbeat.h's proto_metric_t so the heartbeat
//  codec carries it field for field. `name` is the family name for counters and gauges, and
//  the family name plus "_bucket", "_sum" or "_count" for histogram rows (type HISTOGRAM on
//  each); bucket rows carry an "le" label whose value is the bound as rendered ("0.005",
//  "+Inf"). help may be NULL. Strings are borrowed (see the function that produced the row).
typedef struct {
    const char *name;
    metrics_type_t type;
    double value;
    const char *help;
    size_t nlabels;
    metrics_label_t labels [METRICS_SAMPLE_LABELS_MAX];
} metrics_sample_t;

//  Flattens the registry into rows, in render order. Returns the number of rows and sets
//  *samples_p to an array the caller frees with free () (NULL when there are none). The
//  strings in the rows point into the registry and stay valid until the registry is
//  destroyed; the values are a snapshot. Returns -1 if out of memory.
//  Caller owns the array (not the strings).
ssize_t metrics_samples (metrics_t *self, metrics_sample_t **samples_p);

//  "counter" / "gauge" / "histogram".
const char *metrics_type_name (metrics_type_t type);
//  Parses the above; returns 0 or -1.
int metrics_type_parse (const char *name, metrics_type_t *type);

//  Name checks, as applied everywhere above (exposed for codecs and tests).
bool metrics_name_valid (const char *name);
bool metrics_label_name_valid (const char *name);

//  ---------------------------------------------------------------------------------------
//  Sets: merge registries and received rows from several processes into one exposition.

//  Creates an empty set that will hold at most max_rows rows (0: a default of 100 000).
metrics_set_t *metrics_set_new (size_t max_rows);
void metrics_set_destroy (metrics_set_t **self_p);

//  Copies `n` rows into the set, each with the `nextra` extra labels appended (e.g.
//  worker="storage", instance="0"). Rows are untrusted (they came over a socket): a row is
//  dropped when its family or name is invalid or inconsistent with its type, a label name is
//  invalid or repeated (including a clash with an extra label), a label value looks like an
//  SS58 address (no hotkeys on /metrics, whatever a worker sends), a bucket row lacks a
//  parsable "le", the total would exceed METRICS_SAMPLE_LABELS_MAX labels, its type differs
//  from the type the family already has in the set, or the set is full. Label values and
//  help are copied, cut and escaped on output. Returns the number of rows dropped (0 when
//  all were taken). The extra labels are programmer-supplied: bad extra names assert.
size_t metrics_set_add (metrics_set_t *self, const metrics_sample_t *samples, size_t n,
                        const metrics_label_t *extra, size_t nextra);

//  Adds a registry's current rows (with extra labels, e.g. none for the supervisor's own).
//  Returns the number of rows dropped, as metrics_set_add; -1 if out of memory.
ssize_t metrics_set_add_registry (metrics_set_t *self, metrics_t *registry,
                                  const metrics_label_t *extra, size_t nextra);

//  Number of rows held.
size_t metrics_set_size (const metrics_set_t *self);

//  Renders every row held: families in order of first appearance, each with one HELP (the
//  first seen) and one TYPE line, and all its rows together in the order they were added.
//  Returns a heap string as metrics_render. Caller owns.
char *metrics_set_render (metrics_set_t *self, size_t *size_p);

#endif
