/*  sup_spec: the role -> workers table and the parser of the `workers` option.
    Pure functions over caller-owned arrays; nothing here allocates.                          */
#include "supervisor/sup_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *role;
    const char *workers [6];        //  NULL-terminated; "scraper"/"tier3" are pools
} s_role_t;

static const s_role_t s_roles [] = {
    { "coordinator", { "coordinator", "world", NULL } },
    { "miner",       { "assigner", "scraper", "storage", "uploader", NULL } },
    { "validator",   { "downloader", "tier1", "tier2", "tier3", "consensus", NULL } },
};

bool
sup_spec_name_valid (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > SUP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int
s_find (const sup_spec_t *specs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp (specs [i].name, name) == 0)
            return i;
    return -1;
}

//  Parses one "name[:count][:optional]" entry (NUL-terminated, already trimmed).
static int
s_parse_entry (char *entry, sup_spec_t *spec, char *err, size_t errsize)
{
    memset (spec, 0, sizeof *spec);
    spec->count = 1;
    //  strsep, not strtok: "a::2" and ":3" must be refused, not collapsed.
    char *rest = entry;
    char *part = strsep (&rest, ":");
    if (!part || !sup_spec_name_valid (part)) {
        snprintf (err, errsize, "config workers: bad worker name '%.64s' "
                  "(1..%d of A-Z a-z 0-9 _ -)", part ? part : "", SUP_NAME_MAX);
        return -1;
    }
    snprintf (spec->name, sizeof spec->name, "%s", part);
    bool have_count = false;
    while ((part = strsep (&rest, ":"))) {
        if (strcmp (part, "optional") == 0 && !spec->optional)
            spec->optional = true;
        else
        if (!have_count && part [0] >= '0' && part [0] <= '9') {
            char *end;
            long v = strtol (part, &end, 10);
            if (*end || v < 1 || v > SUP_POOL_MAX) {
                snprintf (err, errsize, "config workers: '%s': count must be 1..%d",
                          spec->name, SUP_POOL_MAX);
                return -1;
            }
            spec->count = (int) v;
            have_count = true;
        }
        else {
            snprintf (err, errsize, "config workers: '%s': unknown attribute '%.32s' "
                      "(expected a count or 'optional')", spec->name, part);
            return -1;
        }
    }
    return 0;
}

int
sup_spec_parse (const char *list, sup_spec_t *specs, size_t max, char *err, size_t errsize)
{
    if (!list || !*list) {
        snprintf (err, errsize, "config workers: empty list");
        return -1;
    }
    char *copy = strdup (list);
    if (!copy)
        abort ();
    int n = 0;
    int rc = 0;
    char *rest = copy;
    for (char *tok = strsep (&rest, ","); tok; tok = strsep (&rest, ",")) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen (tok);
        while (len > 0 && (tok [len - 1] == ' ' || tok [len - 1] == '\t'))
            tok [--len] = 0;
        sup_spec_t spec;
        if (s_parse_entry (tok, &spec, err, errsize) != 0) {
            rc = -1;
            break;
        }
        if (s_find (specs, n, spec.name) >= 0) {
            snprintf (err, errsize, "config workers: '%s' listed twice", spec.name);
            rc = -1;
            break;
        }
        if ((size_t) n == max) {
            snprintf (err, errsize, "config workers: more than %zu workers", max);
            rc = -1;
            break;
        }
        specs [n++] = spec;
    }
    free (copy);
    if (rc == 0 && n == 0) {
        snprintf (err, errsize, "config workers: empty list");
        rc = -1;
    }
    return rc == 0 ? n : -1;
}

int
sup_spec_from_role (const char *role, int64_t scraper_pool, int64_t tier3_pool,
                    sup_spec_t *specs, size_t max, char *err, size_t errsize)
{
    char *copy = strdup (role ? role : "");
    if (!copy)
        abort ();
    int n = 0;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r (copy, ", ", &save); tok && rc == 0;
         tok = strtok_r (NULL, ", ", &save)) {
        const s_role_t *r = NULL;
        for (size_t i = 0; i < sizeof s_roles / sizeof s_roles [0]; i++)
            if (strcmp (s_roles [i].role, tok) == 0)
                r = &s_roles [i];
        if (!r) {
            snprintf (err, errsize, "config role: unknown role '%.64s' "
                      "(miner, validator, coordinator or a comma list)", tok);
            rc = -1;
            break;
        }
        for (size_t w = 0; r->workers [w]; w++) {
            const char *name = r->workers [w];
            if (s_find (specs, n, name) >= 0)
                continue;
            if ((size_t) n == max) {
                snprintf (err, errsize, "config role: more than %zu workers", max);
                rc = -1;
                break;
            }
            sup_spec_t *spec = &specs [n++];
            memset (spec, 0, sizeof *spec);
            snprintf (spec->name, sizeof spec->name, "%s", name);
            spec->count = 1;
            if (strcmp (name, "scraper") == 0)
                spec->count = (int) scraper_pool;
            if (strcmp (name, "tier3") == 0)
                spec->count = (int) tier3_pool;
        }
    }
    free (copy);
    if (rc == 0 && n == 0) {
        snprintf (err, errsize, "config role: empty");
        rc = -1;
    }
    return rc == 0 ? n : -1;
}
