/*  gen_submissions: an epoch's miner submissions, generated into S3 for validator tests and
    the validator benchmark (docs/validation.md, "Benchmark").

        bench_gen_submissions metagraph --miners N [--validator SS58]...
            prints the coordinator's metagraph: N development miner hotkeys (wallet_new_dev
            of "gen-miner-000", "gen-miner-001", …) and the validator hotkeys given.

        bench_gen_submissions generate --coordinator URL --world URL --bucket B [--bucket B2]
                [--epoch-s S] [--miners N] [--bad-pct P] [--seed X] [--threads T]
                [--min-left-s L] [--margin-s M] [--manifest FILE] [--epoch-file FILE]
            S3 from the environment (ZM_TEST_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY).
            1. Asks the coordinator for the current epoch (signed as gen-miner-000, which the
               metagraph above lists). With fewer than L seconds (default 10) left before the
               deadline it waits for the next epoch.
            2. Reads every assigned zipcode's properties from the world
               (/zipcode/{zip}/listings, pages of 500) and stamps them scraped now.
            3. For each miner and each zipcode one object
               data/hotkey={hk}/epoch={id}/zipcode={zip}/data_{YYYYmmdd_HHMMSS}.json in the
               reference's layout. A share P (default 20 %) of them, chosen by the seed, is
               bad, the kinds in turn:
                 price   every price 25 % higher than the world's (fails tier 3);
                 short   60 % of the expected count (fails tier 1);
                 dup     10 % of the listings replaced by copies of the first (fails tier 2).
               An honest object holds E - r listings (r < E/20 + 1, seeded), rotated by a
               per-miner offset, so miners differ and tier 1 passes.
            4. The objects are PUT in a seeded random order by T threads (default 8), released
               evenly over the time left minus M seconds (default 3), so LastModified (one
               second resolution) differs from object to object. Each object goes to every
               bucket given (the same epoch for separate validator groups). The epoch file,
            written (and renamed into place) as soon as the epoch is chosen, holds
            "epochId deadline_unix_s": a validator can be started during the upload.
            Prints one JSON line: epoch, nonce, deadline (unix s), objects, bad, bytes,
            put_s, finished_before_deadline_s. Exit 0 when every PUT succeeded before the
            deadline, 1 otherwise. The manifest has one line per object:
            "hotkey zipcode kind listings key".

    Everything that decides contents is a function of the seed and the epoch (the world is
    deterministic), so a run is reproducible given the same epoch.                           */

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/epoch.h"
#include "common/http.h"
#include "common/log.h"
#include "common/s3.h"
#include "common/strbuf.h"
#include "common/wallet.h"

#define GEN_MINERS_MAX      1000
#define GEN_BUCKETS_MAX     4
#define GEN_THREADS_MAX     64
#define GEN_LISTINGS_MAX    10000

typedef enum { KIND_OK, KIND_PRICE, KIND_SHORT, KIND_DUP } gen_kind_t;
static const char *s_kind_names [] = { "ok", "price", "short", "dup" };

typedef struct {
    char zipcode [6];
    int expected;
    size_t count;               //  listings read from the world
    char **honest;              //  compact JSON of each listing, scraped now
    char **fabricated;          //  the same with the price 25 % higher
} gen_zip_t;

typedef struct {
    int miner;
    int zip;
    gen_kind_t kind;
    int listings;
    int64_t release_ms;         //  monotonic
    char key [256];
} gen_job_t;

typedef struct {
    //  options
    const char *coordinator, *world, *manifest, *epoch_file;
    const char *buckets [GEN_BUCKETS_MAX];
    int nbuckets;
    int64_t epoch_s, min_left_s, margin_s;
    int miners, bad_pct, threads;
    uint64_t seed;
    //  state
    wallet_t **wallets;
    char epoch [EPOCH_ID_LEN + 1];
    char nonce [128];
    int64_t deadline;
    gen_zip_t *zips;
    size_t nzips;
    gen_job_t *jobs;
    size_t njobs;
    atomic_size_t next;
    atomic_size_t failed;
    atomic_size_t late;
    atomic_ullong bytes;
    s3_config_t s3;
} gen_t;

//  xorshift64*: the seeded choices (kinds, counts, order)
static uint64_t
s_rand (uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: bench_gen_submissions metagraph --miners N [--validator SS58]...\n"
                     "       bench_gen_submissions generate --coordinator URL --world URL "
                     "--bucket B [--bucket B2] [--epoch-s S] [--miners N] [--bad-pct P] "
                     "[--seed X] [--threads T] [--min-left-s L] [--margin-s M] "
                     "[--manifest FILE] [--epoch-file FILE]\n");
    return 2;
}

static wallet_t *
s_miner_wallet (int i)
{
    char name [32];
    snprintf (name, sizeof name, "gen-miner-%03d", i);
    return wallet_new_dev (name);
}

static int
s_metagraph (int argc, char **argv)
{
    int miners = 0;
    strbuf_t b = STRBUF_INIT;
    strbuf_add (&b, "{\"netuid\":46,\"hotkeys\":[");
    int entries = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv [i], "--miners") && i + 1 < argc)
            miners = atoi (argv [++i]);
        else
        if (!strcmp (argv [i], "--validator") && i + 1 < argc) {
            strbuf_addf (&b, "%s{\"hotkey\":\"%s\",\"role\":\"validator\"}",
                         entries++ ? "," : "", argv [++i]);
        }
        else {
            free (b.data);
            return s_usage ();
        }
    }
    if (miners < 1 || miners > GEN_MINERS_MAX) {
        free (b.data);
        return s_usage ();
    }
    for (int i = 0; i < miners; i++) {
        wallet_t *w = s_miner_wallet (i);
        if (!w) {
            free (b.data);
            return 1;
        }
        strbuf_addf (&b, "%s{\"hotkey\":\"%s\",\"role\":\"miner\"}", entries++ ? "," : "",
                     wallet_ss58 (w));
        wallet_destroy (&w);
    }
    strbuf_add (&b, "]}");
    printf ("%s\n", b.data);
    free (b.data);
    return 0;
}

//  GET url, 200 and a JSON body, or NULL with a message on stderr.
static json_t *
s_get_json (http_t *http, const char *url, const char *what)
{
    http_response_t *resp = NULL;
    if (http_get (http, url, NULL, &resp) != 0) {
        fprintf (stderr, "gen: %s: %s\n", what, http_error (http));
        return NULL;
    }
    size_t len = 0;
    const char *body = http_response_body (resp, &len);
    json_t *doc = NULL;
    if (http_response_status (resp) == 200)
        doc = json_loadb (body, len, 0, NULL);
    if (!doc)
        fprintf (stderr, "gen: %s: status %ld, %.*s\n", what, http_response_status (resp),
                 (int) (len > 300 ? 300 : len), body);
    http_response_destroy (&resp);
    return doc;
}

static json_t *
s_current_epoch (gen_t *self, http_t *http)
{
    int64_t ts = clock_wall_ms () / 1000;
    char commitment [96], hex [129], url [1024];
    snprintf (commitment, sizeof commitment, "zipcode:assignment:current:%lld", (long long) ts);
    uint8_t sig [64];
    if (wallet_sign (self->wallets [0], (const uint8_t *) commitment, strlen (commitment),
                     sig) != 0)
        return NULL;
    sodium_bin2hex (hex, sizeof hex, sig, sizeof sig);
    snprintf (url, sizeof url, "%s/api/v1/zipcode-assignments/current?hotkey=%s&signature=%s"
              "&timestamp=%lld", self->coordinator, wallet_ss58 (self->wallets [0]), hex,
              (long long) ts);
    return s_get_json (http, url, "current epoch");
}

//  Waits for an epoch with at least min_left_s seconds before its deadline and keeps its id,
//  nonce, deadline and zipcodes.
static int
s_take_epoch (gen_t *self, http_t *http)
{
    for (int round = 0; round < 3; round++) {
        json_t *doc = s_current_epoch (self, http);
        if (!doc)
            return -1;
        const char *id = json_string_value (json_object_get (doc, "epochId"));
        const char *nonce = json_string_value (json_object_get (doc, "nonce"));
        const char *deadline = json_string_value (json_object_get (doc, "submissionDeadline"));
        json_t *zips = json_object_get (doc, "zipcodes");
        int64_t start_s = 0;
        if (!id || !nonce || !deadline || !json_is_array (zips)
        ||  epoch_id_parse (id, &start_s) != 0) {
            fprintf (stderr, "gen: the epoch document lacks a field\n");
            json_decref (doc);
            return -1;
        }
        //  the deadline is the epoch's end on the grid (common/epoch.h)
        epoch_slot_t slot;
        epoch_slot_at (start_s, self->epoch_s, &slot);
        int64_t now_s = clock_wall_ms () / 1000;
        if (strcmp (slot.id, id) != 0) {
            fprintf (stderr, "gen: epoch %s is not on a %llds grid (--epoch-s)\n", id,
                     (long long) self->epoch_s);
            json_decref (doc);
            return -1;
        }
        if (slot.end - now_s < self->min_left_s) {
            fprintf (stderr, "gen: epoch %s ends in %llds, waiting for the next\n", id,
                     (long long) (slot.end - now_s));
            json_decref (doc);
            sleep ((unsigned) (slot.end - now_s + 1));
            continue;
        }
        snprintf (self->epoch, sizeof self->epoch, "%s", id);
        snprintf (self->nonce, sizeof self->nonce, "%s", nonce);
        self->deadline = slot.end;
        self->nzips = json_array_size (zips);
        self->zips = calloc (self->nzips, sizeof *self->zips);
        if (!self->zips) {
            json_decref (doc);
            return -1;
        }
        for (size_t i = 0; i < self->nzips; i++) {
            json_t *z = json_array_get (zips, i);
            const char *zip = json_string_value (json_object_get (z, "zipcode"));
            json_int_t e = json_integer_value (json_object_get (z, "expectedListings"));
            if (!zip || strlen (zip) != 5 || e < 1 || e > GEN_LISTINGS_MAX) {
                fprintf (stderr, "gen: zipcode %zu of the epoch is malformed\n", i);
                json_decref (doc);
                return -1;
            }
            memcpy (self->zips [i].zipcode, zip, 6);
            self->zips [i].expected = (int) e;
        }
        json_decref (doc);
        return 0;
    }
    fprintf (stderr, "gen: no epoch with %llds left\n", (long long) self->min_left_s);
    return -1;
}

//  Reads the zipcode's properties from the world and renders them, honest and fabricated.
static int
s_load_zip (gen_t *self, http_t *http, gen_zip_t *z)
{
    char scraped [40];
    clock_iso8601 (clock_wall_ms (), scraped, sizeof scraped);
    size_t cap = (size_t) z->expected + 16;
    z->honest = calloc (cap, sizeof (char *));
    z->fabricated = calloc (cap, sizeof (char *));
    if (!z->honest || !z->fabricated)
        return -1;
    for (int page = 1; z->count < (size_t) z->expected; page++) {
        char url [512];
        snprintf (url, sizeof url, "%s/zipcode/%s/listings?page=%d&page_size=500", self->world,
                  z->zipcode, page);
        json_t *doc = s_get_json (http, url, "world listings");
        if (!doc)
            return -1;
        json_t *listings = json_object_get (doc, "listings");
        size_t n = json_array_size (listings);
        if (n == 0) {
            json_decref (doc);
            break;
        }
        for (size_t i = 0; i < n && z->count < cap; i++) {
            json_t *l = json_array_get (listings, i);
            if (!json_is_object (l)) {
                json_decref (doc);
                return -1;
            }
            json_object_set_new (l, "scraped_timestamp", json_string (scraped));
            z->honest [z->count] = json_dumps (l, JSON_COMPACT);
            json_int_t price = json_integer_value (json_object_get (l, "price"));
            json_object_set_new (l, "price", json_integer (price + price / 4));
            z->fabricated [z->count] = json_dumps (l, JSON_COMPACT);
            if (!z->honest [z->count] || !z->fabricated [z->count]) {
                json_decref (doc);
                return -1;
            }
            z->count++;
        }
        json_decref (doc);
    }
    if (z->count == 0) {
        fprintf (stderr, "gen: the world has no listings for %s\n", z->zipcode);
        return -1;
    }
    return 0;
}

//  The body of one job (caller frees).
static char *
s_body (gen_t *self, const gen_job_t *job, size_t *len)
{
    const gen_zip_t *z = &self->zips [job->zip];
    char ts [40];
    clock_iso8601 (clock_wall_ms (), ts, sizeof ts);
    strbuf_t b = STRBUF_INIT;
    strbuf_addf (&b, "{\"epoch_id\":\"%s\",\"zipcode\":\"%s\",\"miner_hotkey\":\"%s\","
                 "\"submission_timestamp\":\"%s\",\"listing_count\":%d,\"listings\":[",
                 self->epoch, z->zipcode, wallet_ss58 (self->wallets [job->miner]), ts,
                 job->listings);
    size_t offset = (size_t) job->miner * 7;
    size_t dups = job->kind == KIND_DUP ? (size_t) job->listings / 10 + 1 : 0;
    for (size_t i = 0; i < (size_t) job->listings; i++) {
        size_t at = (offset + i) % z->count;
        if (i >= (size_t) job->listings - dups)
            at = offset % z->count;             //  copies of the first listing
        const char *l = job->kind == KIND_PRICE ? z->fabricated [at] : z->honest [at];
        if (i)
            strbuf_addc (&b, ',');
        strbuf_add (&b, l);
    }
    strbuf_add (&b, "]}");
    *len = b.len;
    return strbuf_take (&b);
}

static void *
s_uploader (void *arg)
{
    gen_t *self = arg;
    s3_t *s3 = s3_new (&self->s3);
    if (!s3) {
        atomic_fetch_add (&self->failed, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add (&self->next, 1);
        if (i >= self->njobs)
            break;
        gen_job_t *job = &self->jobs [i];
        int64_t wait = job->release_ms - clock_mono_ms ();
        if (wait > 0)
            usleep ((useconds_t) (wait * 1000));
        size_t len = 0;
        char *body = s_body (self, job, &len);
        for (int b = 0; b < self->nbuckets; b++) {
            if (s3_put (s3, self->buckets [b], job->key, body, len, "application/json") != 0) {
                fprintf (stderr, "gen: PUT %s: %s\n", job->key, s3_error (s3));
                atomic_fetch_add (&self->failed, 1);
            }
            else
                atomic_fetch_add (&self->bytes, (unsigned long long) len);
        }
        free (body);
        if (clock_wall_ms () / 1000 >= self->deadline)
            atomic_fetch_add (&self->late, 1);
    }
    s3_destroy (&s3);
    return NULL;
}

//  "epochId deadline" to a temporary file renamed into place, so a reader never sees half.
static int
s_write_epoch_file (gen_t *self)
{
    char tmp [1024];
    snprintf (tmp, sizeof tmp, "%s.tmp", self->epoch_file);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return -1;
    fprintf (f, "%s %lld\n", self->epoch, (long long) self->deadline);
    if (fclose (f) != 0 || rename (tmp, self->epoch_file) != 0) {
        fprintf (stderr, "gen: cannot write %s\n", self->epoch_file);
        return -1;
    }
    return 0;
}

//  Decides every job (kind, count, key, order, release time).
static int
s_plan (gen_t *self, int64_t spread_ms)
{
    self->njobs = (size_t) self->miners * self->nzips;
    self->jobs = calloc (self->njobs, sizeof *self->jobs);
    if (!self->jobs)
        return -1;
    uint64_t rng = self->seed * 0x9E3779B97F4A7C15ULL + 1;
    int bad_seen = 0;
    for (size_t i = 0; i < self->njobs; i++) {
        gen_job_t *job = &self->jobs [i];
        job->miner = (int) (i / self->nzips);
        job->zip = (int) (i % self->nzips);
        const gen_zip_t *z = &self->zips [job->zip];
        int e = z->expected;
        if ((int) (s_rand (&rng) % 100) < self->bad_pct)
            job->kind = (gen_kind_t) (1 + bad_seen++ % 3);
        int r = (int) (s_rand (&rng) % (uint64_t) (e / 20 + 1));
        job->listings = job->kind == KIND_SHORT ? e * 6 / 10 : e - r;
        if (job->listings > (int) z->count)
            job->listings = (int) z->count;
    }
    //  upload order: a seeded shuffle
    for (size_t i = self->njobs - 1; i > 0; i--) {
        size_t j = (size_t) (s_rand (&rng) % (i + 1));
        gen_job_t t = self->jobs [i];
        self->jobs [i] = self->jobs [j];
        self->jobs [j] = t;
    }
    int64_t t0 = clock_mono_ms ();
    for (size_t i = 0; i < self->njobs; i++) {
        gen_job_t *job = &self->jobs [i];
        job->release_ms = t0 + (int64_t) ((double) spread_ms * (double) i / (double) self->njobs);
        //  the key's time is the planned upload time (wall clock, second resolution)
        time_t at = (time_t) ((clock_wall_ms () + job->release_ms - t0) / 1000);
        struct tm tm;
        gmtime_r (&at, &tm);
        char stamp [32];
        strftime (stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
        snprintf (job->key, sizeof job->key,
                  "data/hotkey=%s/epoch=%s/zipcode=%s/data_%s.json",
                  wallet_ss58 (self->wallets [job->miner]), self->epoch,
                  self->zips [job->zip].zipcode, stamp);
    }
    return 0;
}

static int
s_generate (int argc, char **argv)
{
    gen_t *self = calloc (1, sizeof *self);
    if (!self)
        return 1;
    self->epoch_s = 20;
    self->miners = 10;
    self->bad_pct = 20;
    self->threads = 8;
    self->min_left_s = 10;
    self->margin_s = 3;
    self->seed = 46;
    for (int i = 2; i < argc; i++) {
        const char *a = argv [i], *v = i + 1 < argc ? argv [i + 1] : NULL;
        if (!v) {
            free (self);
            return s_usage ();
        }
        i++;
        if (!strcmp (a, "--coordinator"))       self->coordinator = v;
        else if (!strcmp (a, "--world"))        self->world = v;
        else if (!strcmp (a, "--manifest"))     self->manifest = v;
        else if (!strcmp (a, "--epoch-file"))   self->epoch_file = v;
        else if (!strcmp (a, "--bucket") && self->nbuckets < GEN_BUCKETS_MAX)
                                                self->buckets [self->nbuckets++] = v;
        else if (!strcmp (a, "--epoch-s"))      self->epoch_s = atoll (v);
        else if (!strcmp (a, "--min-left-s"))   self->min_left_s = atoll (v);
        else if (!strcmp (a, "--margin-s"))     self->margin_s = atoll (v);
        else if (!strcmp (a, "--miners"))       self->miners = atoi (v);
        else if (!strcmp (a, "--bad-pct"))      self->bad_pct = atoi (v);
        else if (!strcmp (a, "--threads"))      self->threads = atoi (v);
        else if (!strcmp (a, "--seed"))         self->seed = strtoull (v, NULL, 10);
        else {
            free (self);
            return s_usage ();
        }
    }
    if (!self->coordinator || !self->world || self->nbuckets == 0 || self->epoch_s < 10
    ||  self->miners < 1 || self->miners > GEN_MINERS_MAX || self->bad_pct < 0
    ||  self->bad_pct > 100 || self->threads < 1 || self->threads > GEN_THREADS_MAX
    ||  self->min_left_s < 1 || self->margin_s < 0 || self->margin_s >= self->min_left_s) {
        free (self);
        return s_usage ();
    }
    self->s3 = (s3_config_t) { .endpoint = getenv ("ZM_TEST_S3_ENDPOINT"),
                               .region = getenv ("ZM_TEST_S3_REGION"),
                               .access_key = getenv ("ZM_TEST_S3_ACCESS_KEY"),
                               .secret_key = getenv ("ZM_TEST_S3_SECRET_KEY"),
                               .path_style = true, .timeout_ms = 30000 };
    if (!self->s3.endpoint || !self->s3.region || !self->s3.access_key
    ||  !self->s3.secret_key) {
        fprintf (stderr, "gen: ZM_TEST_S3_ENDPOINT/_REGION/_ACCESS_KEY/_SECRET_KEY needed\n");
        free (self);
        return 1;
    }
    int rc = 1;
    http_options_t ho;
    http_options_defaults (&ho);
    ho.max_body = 64 * 1024 * 1024;
    http_t *http = http_new (&ho);
    s3_t *s3 = s3_new (&self->s3);
    self->wallets = calloc ((size_t) self->miners, sizeof (wallet_t *));
    if (!http || !s3 || !self->wallets)
        goto done;
    for (int i = 0; i < self->miners; i++)
        if (!(self->wallets [i] = s_miner_wallet (i)))
            goto done;
    for (int b = 0; b < self->nbuckets; b++)
        if (s3_create_bucket (s3, self->buckets [b]) != 0) {
            fprintf (stderr, "gen: bucket %s: %s\n", self->buckets [b], s3_error (s3));
            goto done;
        }
    if (s_take_epoch (self, http) != 0)
        goto done;
    if (self->epoch_file && s_write_epoch_file (self) != 0)
        goto done;
    int64_t t_world = clock_mono_ms ();
    for (size_t i = 0; i < self->nzips; i++)
        if (s_load_zip (self, http, &self->zips [i]) != 0)
            goto done;
    int64_t world_ms = clock_mono_ms () - t_world;
    int64_t left_ms = self->deadline * 1000 - clock_wall_ms () - self->margin_s * 1000;
    if (left_ms < 1000) {
        fprintf (stderr, "gen: no time left before the deadline\n");
        goto done;
    }
    if (s_plan (self, left_ms * 2 / 3) != 0)
        goto done;
    if (self->manifest) {
        FILE *f = fopen (self->manifest, "w");
        if (!f)
            goto done;
        for (size_t i = 0; i < self->njobs; i++)
            fprintf (f, "%s %s %s %d %s\n", wallet_ss58 (self->wallets [self->jobs [i].miner]),
                     self->zips [self->jobs [i].zip].zipcode,
                     s_kind_names [self->jobs [i].kind], self->jobs [i].listings,
                     self->jobs [i].key);
        fclose (f);
    }
    int64_t t_put = clock_mono_ms ();
    pthread_t tids [GEN_THREADS_MAX];
    int started = 0;
    for (; started < self->threads; started++)
        if (pthread_create (&tids [started], NULL, s_uploader, self) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join (tids [i], NULL);
    int64_t put_ms = clock_mono_ms () - t_put;
    size_t bad = 0;
    for (size_t i = 0; i < self->njobs; i++)
        bad += self->jobs [i].kind != KIND_OK;
    int64_t before_ms = self->deadline * 1000 - clock_wall_ms ();
    printf ("{\"epoch\":\"%s\",\"nonce\":\"%s\",\"deadline\":%lld,\"zipcodes\":%zu,"
            "\"objects\":%zu,\"bad\":%zu,\"bytes\":%llu,\"world_s\":%.3f,\"put_s\":%.3f,"
            "\"finished_before_deadline_s\":%.3f,\"failed\":%zu,\"late\":%zu}\n",
            self->epoch, self->nonce, (long long) self->deadline, self->nzips, self->njobs,
            bad, (unsigned long long) atomic_load (&self->bytes), (double) world_ms / 1000.0,
            (double) put_ms / 1000.0, (double) before_ms / 1000.0,
            atomic_load (&self->failed), atomic_load (&self->late));
    fflush (stdout);
    rc = started == self->threads && atomic_load (&self->failed) == 0
         && atomic_load (&self->late) == 0 && before_ms > 0 ? 0 : 1;
done:
    for (size_t i = 0; self->zips && i < self->nzips; i++) {
        for (size_t j = 0; j < self->zips [i].count; j++) {
            free (self->zips [i].honest [j]);
            free (self->zips [i].fabricated [j]);
        }
        free (self->zips [i].honest);
        free (self->zips [i].fabricated);
    }
    free (self->zips);
    free (self->jobs);
    for (int i = 0; self->wallets && i < self->miners; i++)
        wallet_destroy (&self->wallets [i]);
    free (self->wallets);
    s3_destroy (&s3);
    http_destroy (&http);
    free (self);
    return rc;
}

int
main (int argc, char **argv)
{
    if (sodium_init () < 0)
        return 1;
    log_set_level (LOGL_WARN);
    log_set_fd (2);
    if (argc >= 2 && !strcmp (argv [1], "metagraph"))
        return s_metagraph (argc, argv);
    if (argc >= 2 && !strcmp (argv [1], "generate"))
        return s_generate (argc, argv);
    return s_usage ();
}
