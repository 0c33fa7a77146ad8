/*  scoring: tier verdicts and the epoch reward computation. See scoring.h for the algorithm,
    which is written there as the specification both this file and the Python oracle follow.

    Every order that matters is made explicit by sorting (submissions by (last_modified,
    hotkey), wins by (hotkey, zipcode), miners by hotkey), so the result depends only on the
    set of inputs. Strings are copied into the result, which owns them.                      */

#include "common/scoring.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/canon.h"

#define S_MAX_LISTINGS ((int64_t) 1 << 53)

void
scoring_cfg_defaults (scoring_cfg_t *cfg)
{
    assert (cfg);
    *cfg = (scoring_cfg_t) {
        .tier1_low = 0.85, .tier1_high = 1.15,
        .min_completeness = 0.90, .min_reasonable = 0.95, .min_consistency = 0.90,
        .max_duplicate_rate = 0.05, .tier3_min_verified = 0.80,
        .shares = { 0.55, 0.30, 0.10 }, .participation = 0.05
    };
}

//  Python's int (x) for a finite double: truncation toward zero; -1 outside int64.
static int
s_trunc (double x, int64_t *out)
{
    if (!isfinite (x) || x >= 9223372036854775808.0 || x < -9223372036854775808.0)
        return -1;
    *out = (int64_t) x;
    return 0;
}

int
scoring_tier1_bounds (const scoring_cfg_t *cfg, double expected, int64_t *lo, int64_t *hi)
{
    assert (cfg && lo && hi);
    double a = expected * cfg->tier1_low;
    double b = expected * cfg->tier1_high;
    if (s_trunc (a, lo) || s_trunc (b, hi))
        return -1;
    return 0;
}

bool
scoring_tier1_pass (const scoring_cfg_t *cfg, double expected, int64_t n)
{
    int64_t lo, hi;
    if (scoring_tier1_bounds (cfg, expected, &lo, &hi))
        return false;
    return lo <= n && n <= hi;
}

bool
scoring_tier2_pass (const scoring_cfg_t *cfg, const scoring_tier2_t *m)
{
    assert (cfg && m);
    //  Written so that a NaN ratio fails every comparison.
    return m->completeness >= cfg->min_completeness
        && m->reasonable >= cfg->min_reasonable
        && m->consistency >= cfg->min_consistency
        && m->duplicate_rate <= cfg->max_duplicate_rate
        && m->zipcodes_match;
}

bool
scoring_tier3_pass (const scoring_cfg_t *cfg, size_t verified, size_t checked)
{
    assert (cfg);
    if (checked == 0 || verified > checked)
        return false;
    return (double) verified / (double) checked >= cfg->tier3_min_verified;
}

//  --------------------------------------------------------------------------
//  Rewards

typedef struct {
    char *hotkey;
    double score;
    bool winner;
} s_miner_t;

typedef struct {
    char *zipcode;
    double weight;
    int64_t listings;
    const char *winners [SCORING_WINNERS];   //  point into the miners' hotkeys
    size_t nwinners;
} s_zip_t;

struct _scoring_result_t {
    s_miner_t *miners;
    size_t nminers;
    s_zip_t *zips;
    size_t nzips;
    int64_t total_listings;
    size_t total_winners;
    size_t total_participants;
};

static char *
s_strdup (const char *s)
{
    char *c = strdup (s);
    if (!c)
        abort ();
    return c;
}

static void *
s_alloc (size_t n, size_t size)
{
    void *p = calloc (n ? n : 1, size);
    if (!p)
        abort ();
    return p;
}

static bool
s_str_ok (const char *s)
{
    return s && canon_utf8_valid (s, strlen (s));
}

//  Submission order within a zipcode: (last_modified, hotkey), then input position so that
//  qsort's instability cannot matter (equal keys are the same hotkey at the same time).
typedef struct {
    const scoring_submission_t *sub;
    size_t pos;
} s_ref_t;

static int
s_cmp_time (const void *a, const void *b)
{
    const s_ref_t *x = a, *y = b;
    if (x->sub->last_modified != y->sub->last_modified)
        return x->sub->last_modified < y->sub->last_modified ? -1 : 1;
    int c = strcmp (x->sub->hotkey, y->sub->hotkey);
    if (c)
        return c;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

//  A win or a participation, before miners are known.
typedef struct {
    const char *hotkey;
    size_t zip;                     //  index into the sorted zipcodes
    size_t rank;                    //  0..2 for a win
    bool win;
} s_event_t;

static int
s_cmp_event (const void *a, const void *b)
{
    const s_event_t *x = a, *y = b;
    int c = strcmp (x->hotkey, y->hotkey);
    if (c)
        return c;
    if (x->win != y->win)
        return x->win ? -1 : 1;     //  a hotkey's wins first
    return (x->zip > y->zip) - (x->zip < y->zip);
}

static int
s_cmp_zip (const void *a, const void *b)
{
    const scoring_zipcode_t *x = *(const scoring_zipcode_t * const *) a;
    const scoring_zipcode_t *y = *(const scoring_zipcode_t * const *) b;
    return strcmp (x->zipcode, y->zipcode);
}

static bool
s_input_ok (const scoring_zipcode_t *zips, size_t nzips, size_t *nsubs_total)
{
    int64_t total = 0;
    size_t count = 0;
    for (size_t z = 0; z < nzips; z++) {
        if (!s_str_ok (zips [z].zipcode) || (!zips [z].subs && zips [z].nsubs))
            return false;
        for (size_t i = 0; i < zips [z].nsubs; i++) {
            const scoring_submission_t *s = &zips [z].subs [i];
            if (!s_str_ok (s->hotkey) || s->listings < 0 || s->listings >= S_MAX_LISTINGS)
                return false;
            //  Bounds the sum of the winners' counts (at most three per zipcode) below 2^63.
            total += s->listings;
            if (total >= S_MAX_LISTINGS)
                return false;
            count++;
        }
    }
    *nsubs_total = count;
    return true;
}

//  Steps 1 and 2 for one zipcode: appends its events, fills its winners' count and L_z.
static void
s_walk_zipcode (const scoring_zipcode_t *in, size_t zi, s_zip_t *out,
                s_event_t *events, size_t *nevents)
{
    size_t n = in->nsubs;
    s_ref_t *refs = s_alloc (n, sizeof *refs);
    for (size_t i = 0; i < n; i++)
        refs [i] = (s_ref_t) { &in->subs [i], i };
    qsort (refs, n, sizeof *refs, s_cmp_time);

    //  Hotkeys already seen in this zipcode: a sorted copy of the walk's hotkeys would do
    //  too, but the walk stops early, so a small open-addressed set over the walk is used.
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    const char **seen = s_alloc (cap, sizeof *seen);
    size_t winners = 0;
    for (size_t i = 0; i < n && winners < SCORING_WINNERS; i++) {
        const scoring_submission_t *s = refs [i].sub;
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *) s->hotkey; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        size_t slot = (size_t) h & (cap - 1);
        bool dup = false;
        while (seen [slot]) {
            if (strcmp (seen [slot], s->hotkey) == 0) {
                dup = true;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        if (dup)
            continue;
        seen [slot] = s->hotkey;
        if (s->passed) {
            out->listings += s->listings;
            events [(*nevents)++] = (s_event_t) { s->hotkey, zi, winners, true };
            winners++;
        }
        else
            events [(*nevents)++] = (s_event_t) { s->hotkey, zi, 0, false };
    }
    out->nwinners = winners;
    free (seen);
    free (refs);
}

scoring_result_t *
scoring_compute (const scoring_cfg_t *cfg, const scoring_zipcode_t *zips, size_t nzips)
{
    assert (cfg);
    assert (zips || nzips == 0);
    size_t nsubs_total = 0;
    if (!s_input_ok (zips, nzips, &nsubs_total))
        return NULL;

    const scoring_zipcode_t **order = s_alloc (nzips, sizeof *order);
    for (size_t z = 0; z < nzips; z++)
        order [z] = &zips [z];
    qsort (order, nzips, sizeof *order, s_cmp_zip);
    for (size_t z = 1; z < nzips; z++)
        if (strcmp (order [z]->zipcode, order [z - 1]->zipcode) == 0) {
            free (order);
            return NULL;
        }

    scoring_result_t *self = s_alloc (1, sizeof *self);
    self->zips = s_alloc (nzips, sizeof *self->zips);
    self->nzips = nzips;
    s_event_t *events = s_alloc (nsubs_total, sizeof *events);
    size_t nevents = 0;
    int64_t total = 0;
    for (size_t z = 0; z < nzips; z++) {
        self->zips [z].zipcode = s_strdup (order [z]->zipcode);
        s_walk_zipcode (order [z], z, &self->zips [z], events, &nevents);
        total += self->zips [z].listings;
    }
    free (order);
    self->total_listings = total;
    if (total == 0) {
        //  Step 3: nothing was found; the result is empty.
        for (size_t z = 0; z < nzips; z++)
            free (self->zips [z].zipcode);
        self->nzips = 0;
        free (events);
        return self;
    }
    //  Step 4.
    for (size_t z = 0; z < nzips; z++)
        self->zips [z].weight = (double) self->zips [z].listings / (double) total;

    //  Steps 5 and 6: events sorted by (hotkey, wins first, zipcode).
    qsort (events, nevents, sizeof *events, s_cmp_event);
    self->miners = s_alloc (nevents, sizeof *self->miners);
    size_t nparticipants = 0, nwinners = 0;
    for (size_t i = 0; i < nevents; ) {
        size_t j = i;
        s_miner_t *m = &self->miners [self->nminers++];
        m->hotkey = s_strdup (events [i].hotkey);
        m->winner = events [i].win;
        double raw = 0.0;
        for (; j < nevents && strcmp (events [j].hotkey, events [i].hotkey) == 0; j++)
            if (events [j].win) {
                s_zip_t *z = &self->zips [events [j].zip];
                raw = raw + cfg->shares [events [j].rank] * z->weight;
                z->winners [events [j].rank] = m->hotkey;
            }
        m->score = raw;
        if (m->winner)
            nwinners++;
        else
            nparticipants++;
        i = j;
    }
    free (events);
    if (nparticipants) {
        double each = cfg->participation / (double) nparticipants;
        for (size_t i = 0; i < self->nminers; i++)
            if (!self->miners [i].winner)
                self->miners [i].score = each;
    }
    //  Step 7: miners are already in ascending hotkey order.
    double sum = 0.0;
    for (size_t i = 0; i < self->nminers; i++)
        sum = sum + self->miners [i].score;
    for (size_t i = 0; i < self->nminers; i++)
        self->miners [i].score = sum > 0 ? self->miners [i].score / sum : 0.0;
    self->total_winners = nwinners;
    self->total_participants = nparticipants;
    return self;
}

void
scoring_result_destroy (scoring_result_t **self_p)
{
    assert (self_p);
    scoring_result_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nminers; i++)
        free (self->miners [i].hotkey);
    for (size_t z = 0; z < self->nzips; z++)
        free (self->zips [z].zipcode);
    free (self->miners);
    free (self->zips);
    free (self);
    *self_p = NULL;
}

int64_t
scoring_result_total_listings (const scoring_result_t *self)
{
    return self->total_listings;
}

size_t
scoring_result_total_winners (const scoring_result_t *self)
{
    return self->total_winners;
}

size_t
scoring_result_total_participants (const scoring_result_t *self)
{
    return self->total_participants;
}

size_t
scoring_result_miners (const scoring_result_t *self)
{
    return self->nminers;
}

const char *
scoring_result_miner (const scoring_result_t *self, size_t i)
{
    assert (i < self->nminers);
    return self->miners [i].hotkey;
}

double
scoring_result_score (const scoring_result_t *self, size_t i)
{
    assert (i < self->nminers);
    return self->miners [i].score;
}

bool
scoring_result_is_winner (const scoring_result_t *self, size_t i)
{
    assert (i < self->nminers);
    return self->miners [i].winner;
}

size_t
scoring_result_zipcodes (const scoring_result_t *self)
{
    return self->nzips;
}

const char *
scoring_result_zipcode (const scoring_result_t *self, size_t i)
{
    assert (i < self->nzips);
    return self->zips [i].zipcode;
}

double
scoring_result_weight (const scoring_result_t *self, size_t i)
{
    assert (i < self->nzips);
    return self->zips [i].weight;
}

const char *
scoring_result_winner (const scoring_result_t *self, size_t i, size_t r)
{
    assert (i < self->nzips && r < SCORING_WINNERS);
    return r < self->zips [i].nwinners ? self->zips [i].winners [r] : NULL;
}

char *
scoring_result_consensus_json (const scoring_result_t *self, const char *epoch_nonce,
                               size_t *len_p)
{
    assert (self && epoch_nonce);
    canon_pair_t *m = s_alloc (self->nminers, sizeof *m);
    canon_pair_t *z = s_alloc (self->nzips, sizeof *z);
    for (size_t i = 0; i < self->nminers; i++)
        m [i] = (canon_pair_t) { self->miners [i].hotkey, self->miners [i].score };
    for (size_t i = 0; i < self->nzips; i++)
        z [i] = (canon_pair_t) { self->zips [i].zipcode, self->zips [i].weight };
    char *text = canon_consensus_json (epoch_nonce, m, self->nminers, z, self->nzips,
                                       self->total_listings,
                                       (int64_t) self->total_participants,
                                       (int64_t) self->total_winners, len_p);
    free (m);
    free (z);
    return text;
}

int
scoring_result_consensus_hash (const scoring_result_t *self, const char *epoch_nonce,
                               char hex [65])
{
    size_t len = 0;
    char *text = scoring_result_consensus_json (self, epoch_nonce, &len);
    if (!text)
        return -1;
    canon_sha256_hex (text, len, hex);
    free (text);
    return 0;
}
