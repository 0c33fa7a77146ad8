/*  world_server: routes of the world's HTTP API, input validation, rate limit and latency.

    Every request parameter is untrusted: zipcodes must be 5 digits, zpids and page numbers
    short runs of digits within bounds, anything else is a 400 with the reason; unknown
    resources are 404. Answers are generated on the fly from (seed, catalog entry, i) and
    serialised with a fixed key order, so two servers with the same seed answer every request
    with identical bytes.                                                                     */
#include "workers/world/world_server.h"
#include "workers/world/world_gen.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/ratelimit.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_MAX            1000000
#define PAGE_SIZE_DEFAULT   100
#define RATE_MAX_KEYS       10000
#define PUBLIC_URL_MAX      300

struct _world_server_t {
    const catalog_t *catalog;
    world_server_opts_t opts;
    char bind [64];
    char public_url [PUBLIC_URL_MAX + 1];
    //  public_url once final (it may name the port chosen at start); handlers read this
    //  pointer, never the buffer being written.
    _Atomic (const char *) url;
    httpd_t *httpd;
    ratelimit_t *limiter;           //  NULL: unlimited
    pthread_mutex_t limiter_lock;
    uint64_t total_properties;
};

//  Parses 1..max_digits ASCII digits into *out. Returns 0 or -1.
static int
s_parse_digits (const char *s, size_t max_digits, int64_t *out)
{
    size_t n = s ? strlen (s) : 0;
    if (n == 0 || n > max_digits)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s [i] < '0' || s [i] > '9')
            return -1;
        v = v * 10 + (s [i] - '0');
    }
    *out = v;
    return 0;
}

//  Rate limit and simulated latency for the data endpoints. Returns false when the request
//  was answered (429) and the handler must stop.
static bool
s_admit (world_server_t *self, httpd_req_t *req)
{
    if (self->limiter) {
        int64_t retry_ms = 0;
        pthread_mutex_lock (&self->limiter_lock);
        bool ok = ratelimit_take (self->limiter, httpd_req_client (req), clock_mono_ms (),
                                  &retry_ms);
        pthread_mutex_unlock (&self->limiter_lock);
        if (!ok) {
            char secs [32];
            snprintf (secs, sizeof secs, "%lld", (long long) ((retry_ms + 999) / 1000));
            httpd_add_header (req, "Retry-After", secs);
            httpd_respond_error (req, 429, "rate limit of %g requests per second exceeded",
                                 self->opts.rate_per_s);
            return false;
        }
    }
    //  Sleep in short slices so that stopping the server is never held up by latency.
    int64_t until = clock_mono_ms () + self->opts.latency_ms;
    httpd_t *server = httpd_req_server (req);
    while (!httpd_stopping (server)) {
        int64_t left = until - clock_mono_ms ();
        if (left <= 0)
            break;
        if (left > 10)
            left = 10;
        struct timespec ts = { 0, (long) left * 1000000L };
        nanosleep (&ts, NULL);
    }
    return true;
}

static void
s_healthz (httpd_req_t *req, void *arg)
{
    world_server_t *self = arg;
    //  The seed is not advertised: scrapers are meant to scrape (it is in the startup log).
    json_t *doc = json_pack ("{s:s, s:I, s:I}", "status", "ok",
                             "zipcodes", (json_int_t) catalog_size (self->catalog),
                             "properties", (json_int_t) self->total_properties);
    assert (doc);
    httpd_respond_json (req, 200, doc);
    json_decref (doc);
}

static void
s_listings (httpd_req_t *req, void *arg)
{
    world_server_t *self = arg;
    //  rest is "{zip}/listings"
    const char *rest = httpd_req_rest (req);
    const char *slash = strchr (rest, '/');
    if (!slash || strcmp (slash, "/listings") != 0) {
        httpd_respond_error (req, 404, "no such resource: expected /zipcode/{zip}/listings");
        return;
    }
    char zip [8];
    size_t zlen = (size_t) (slash - rest);
    int64_t zval;
    if (zlen != 5) {
        httpd_respond_error (req, 400, "zipcode must be 5 digits");
        return;
    }
    memcpy (zip, rest, 5);
    zip [5] = 0;
    if (s_parse_digits (zip, 5, &zval) != 0) {
        httpd_respond_error (req, 400, "zipcode must be 5 digits");
        return;
    }
    int64_t page = 1, page_size = self->opts.page_size_max < PAGE_SIZE_DEFAULT
                                ? self->opts.page_size_max : PAGE_SIZE_DEFAULT;
    const char *q = httpd_req_query (req, "page");
    if (q && (s_parse_digits (q, 7, &page) != 0 || page < 1 || page > PAGE_MAX)) {
        httpd_respond_error (req, 400, "page must be an integer from 1 to %d", PAGE_MAX);
        return;
    }
    q = httpd_req_query (req, "page_size");
    if (q && (s_parse_digits (q, 6, &page_size) != 0 || page_size < 1
          ||  page_size > self->opts.page_size_max)) {
        httpd_respond_error (req, 400, "page_size must be an integer from 1 to %d",
                             self->opts.page_size_max);
        return;
    }
    const catalog_entry_t *entry = catalog_lookup (self->catalog, zip);
    if (!entry) {
        httpd_respond_error (req, 404, "zipcode %s is not in the catalog", zip);
        return;
    }
    const char *url = atomic_load (&self->url);
    if (!url) {
        httpd_respond_error (req, 503, "starting");
        return;
    }
    if (!s_admit (self, req))
        return;
    int total = world_gen_count (entry);
    int64_t first = (page - 1) * page_size;
    int64_t last = first + page_size < total ? first + page_size : total;
    int64_t count = last > first ? last - first : 0;
    //  Rendered into one buffer grown as needed (a listing is ~400 bytes; a fixed worst-case
    //  size would mean a multi-megabyte allocation per large page).
    size_t cap = 256 + (size_t) count * 512;
    char *out = malloc (cap);
    assert (out);
    size_t n = (size_t) snprintf (out, cap, "{\"zipcode\":\"%s\",\"page\":%lld,"
                                  "\"page_size\":%lld,\"total\":%d,\"listings\":[", zip,
                                  (long long) page, (long long) page_size, total);
    for (int64_t i = first; i < last; i++) {
        world_property_t p;
        int rc = world_gen_property (self->opts.seed, entry, (int) i, &p);
        assert (rc == 0);
        if (cap - n < WORLD_GEN_JSON_MAX + 4) {
            cap = cap * 2 + WORLD_GEN_JSON_MAX;
            out = realloc (out, cap);
            assert (out);
        }
        if (i > first)
            out [n++] = ',';
        int w = world_gen_property_render (&p, url, out + n, cap - n);
        assert (w > 0);
        n += (size_t) w;
    }
    out [n++] = ']';
    out [n++] = '}';
    httpd_respond (req, 200, "application/json", out, n);
    free (out);
}

static void
s_property (httpd_req_t *req, void *arg)
{
    world_server_t *self = arg;
    int64_t zpid;
    if (s_parse_digits (httpd_req_rest (req), 15, &zpid) != 0) {
        httpd_respond_error (req, 400, "zpid must be a decimal integer of at most 15 digits");
        return;
    }
    const catalog_entry_t *entry;
    int i;
    if (world_gen_locate (self->catalog, zpid, &entry, &i) != 0) {
        httpd_respond_error (req, 404, "no property with zpid %lld", (long long) zpid);
        return;
    }
    const char *url = atomic_load (&self->url);
    if (!url) {
        httpd_respond_error (req, 503, "starting");
        return;
    }
    if (!s_admit (self, req))
        return;
    world_property_t p;
    int rc = world_gen_property (self->opts.seed, entry, i, &p);
    assert (rc == 0);
    char out [WORLD_GEN_JSON_MAX];
    int w = world_gen_property_render (&p, url, out, sizeof out);
    assert (w > 0);
    httpd_respond (req, 200, "application/json", out, (size_t) w);
}

world_server_t *
world_server_new (const catalog_t *catalog, const world_server_opts_t *opts)
{
    assert (catalog && opts && opts->bind);
    const char *url = opts->public_url ? opts->public_url : "";
    bool url_ok = strlen (url) <= PUBLIC_URL_MAX;
    for (const char *c = url; *c && url_ok; c++)
        url_ok = *c > 0x20 && *c < 0x7F && *c != '"' && *c != '\\';
    if (!url_ok || opts->page_size_max < 1 || opts->latency_ms < 0 || opts->rate_per_s < 0
    ||  strlen (opts->bind) >= 64) {
        log_error ("world_options_invalid",
                   LS ("reason", !url_ok ? "world.public_url must be printable ASCII of at most "
                       "300 bytes" : "bad bind, page size, latency or rate"));
        return NULL;
    }
    world_server_t *self = calloc (1, sizeof *self);
    assert (self);
    self->catalog = catalog;
    self->opts = *opts;
    snprintf (self->bind, sizeof self->bind, "%s", opts->bind);
    snprintf (self->public_url, sizeof self->public_url, "%s", url);
    //  A trailing '/' would double the slash in source_url.
    size_t n = strlen (self->public_url);
    while (n > 0 && self->public_url [n - 1] == '/')
        self->public_url [--n] = 0;
    self->opts.bind = self->bind;
    self->opts.public_url = self->public_url;
    pthread_mutex_init (&self->limiter_lock, NULL);
    if (opts->rate_per_s > 0) {
        double burst = opts->rate_per_s < 1 ? 1 : opts->rate_per_s;
        self->limiter = ratelimit_new (opts->rate_per_s * 60.0, burst, RATE_MAX_KEYS);
        assert (self->limiter);
    }
    for (size_t i = 0; i < catalog_size (catalog); i++)
        self->total_properties += (uint64_t) world_gen_count (catalog_at (catalog, i));

    httpd_opts_t hopts = httpd_opts_default ();
    hopts.bind = self->bind;
    hopts.port = opts->port;
    hopts.max_body = 0;                 //  GET only
    hopts.max_header = 8192;
    hopts.timeout_s = 30;
    hopts.max_connections = 512;
    hopts.max_per_ip = 0;               //  many scrapers share 127.0.0.1 in a local network
    hopts.threads = 0;                  //  handlers sleep (latency): a thread per connection
    self->httpd = httpd_new (&hopts);
    if (!self->httpd) {
        world_server_destroy (&self);
        return NULL;
    }
    int rc = httpd_route (self->httpd, "GET", "/healthz", "healthz", s_healthz, self);
    rc |= httpd_route (self->httpd, "GET", "/zipcode/", "listings", s_listings, self);
    rc |= httpd_route (self->httpd, "GET", "/property/", "property", s_property, self);
    assert (rc == 0);
    return self;
}

void
world_server_destroy (world_server_t **self_p)
{
    assert (self_p);
    world_server_t *self = *self_p;
    if (!self)
        return;
    httpd_destroy (&self->httpd);
    ratelimit_destroy (&self->limiter);
    pthread_mutex_destroy (&self->limiter_lock);
    free (self);
    *self_p = NULL;
}

int
world_server_start (world_server_t *self)
{
    assert (self);
    if (httpd_start (self->httpd) != 0)
        return -1;
    if (!*self->public_url) {
        bool v6 = strchr (self->bind, ':') != NULL;
        const char *host = strcmp (self->bind, "0.0.0.0") == 0 ? "127.0.0.1"
                         : strcmp (self->bind, "::") == 0 ? "::1" : self->bind;
        snprintf (self->public_url, sizeof self->public_url, v6 ? "http://[%s]:%d"
                  : "http://%s:%d", host, httpd_port (self->httpd));
    }
    atomic_store (&self->url, (const char *) self->public_url);
    log_info ("world_listening", LS ("bind", self->bind), LI ("port", httpd_port (self->httpd)),
              LS ("public_url", self->public_url), LI ("seed", (int64_t) self->opts.seed),
              LI ("zipcodes", (int64_t) catalog_size (self->catalog)),
              LI ("properties", (int64_t) self->total_properties),
              LI ("latency_ms", self->opts.latency_ms), LF ("rate_per_s", self->opts.rate_per_s));
    return 0;
}

int
world_server_port (world_server_t *self)
{
    assert (self);
    return httpd_port (self->httpd);
}

const char *
world_server_public_url (world_server_t *self)
{
    assert (self);
    const char *url = atomic_load (&self->url);
    return url ? url : "";
}

void
world_server_stop (world_server_t *self)
{
    assert (self);
    httpd_stop (self->httpd);
}

void
world_server_flush_metrics (world_server_t *self, metrics_t *registry)
{
    assert (self && registry);
    httpd_metrics_flush (self->httpd, registry);
}
