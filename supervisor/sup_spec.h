/*  sup_spec: which workers a node runs (supervisor/ only).

    A spec names one worker executable and how many instances of it run (a pool when count > 1):

        coordinator  ->  coordinator, world
        miner        ->  assigner, scraper x scraper.pool, storage, uploader
        validator    ->  downloader, tier1, tier2, tier3 x tier3.pool, consensus

    A role may be a comma list ("coordinator,miner"): the tables are concatenated in that
    order, a worker named twice is kept once. The config option `workers`
    ("name[:count][:optional],...") replaces the role table. Order matters: children start in
    spec order and stop in reverse.                                                           */
#ifndef ZM_SUP_SPEC_H
#define ZM_SUP_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUP_SPEC_MAX        32      //  distinct workers per node
#define SUP_NAME_MAX        48      //  bytes of a worker name: [A-Za-z0-9_-]
#define SUP_POOL_MAX        256     //  instances of one worker

typedef struct {
    char name [SUP_NAME_MAX + 1];
    int count;                      //  instances (0..SUP_POOL_MAX)
    bool optional;                  //  not needed for /readyz; exit 100 does not stop the node
} sup_spec_t;

//  Parses an explicit workers list ("zm_testworker:3,world:optional,tier3:2:optional").
//  Returns the number of specs (>= 1), or -1 with a reason naming the bad entry in err.
int sup_spec_parse (const char *list, sup_spec_t *specs, size_t max, char *err, size_t errsize);

//  Expands a role (or comma list of roles) with the pool sizes. Returns the number of specs,
//  or -1 with a reason in err (unknown role).
int sup_spec_from_role (const char *role, int64_t scraper_pool, int64_t tier3_pool,
                        sup_spec_t *specs, size_t max, char *err, size_t errsize);

//  True if name is a valid worker name: 1..SUP_NAME_MAX bytes of [A-Za-z0-9_-].
bool sup_spec_name_valid (const char *name);

#endif
