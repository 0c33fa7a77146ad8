/*  assign_doc: the coordinator's epoch assignment document, parsed and checked.

    Shared by the miner's assigner (GET /api/v1/zipcode-assignments/current) and the
    validator's downloader (GET /api/v1/zipcode-assignments/epoch/{id}): both answer
    (workers/coordinator/README.md):
        {"epochId","epochStart","epochEnd","nonce","targetListings","tolerancePercent",
         "submissionDeadline","zipcodes":[{"zipcode","expectedListings",…},…]}
    The body is untrusted: size-capped, depth-limited, every field typed and bounded, zipcodes
    unique. Fields neither uses (state, city, …) are ignored here; callers keep the whole body
    (miner_epochs.assignment, validator_epochs.assignment).                                   */
#ifndef ZM_ASSIGN_DOC_H
#define ZM_ASSIGN_DOC_H

#include <stddef.h>
#include <stdint.h>

#define ASSIGN_DOC_BYTES_MAX    (4u << 20)
#define ASSIGN_DOC_ZIPCODES_MAX     2000
#define ASSIGN_DOC_EXPECTED_MAX     100000
#define ASSIGN_DOC_TIME_LEN         40

typedef struct {
    char zipcode [6];
    int64_t expected;           //  0..ASSIGN_DOC_EXPECTED_MAX
} assign_doc_zip_t;

typedef struct {
    char epoch_id [20];         //  YYYY-MM-DDTHH-MM-SS
    char nonce [17];            //  16 hex digits
    char epoch_start [ASSIGN_DOC_TIME_LEN];     //  ISO 8601 UTC, as served
    char epoch_end [ASSIGN_DOC_TIME_LEN];
    char deadline [ASSIGN_DOC_TIME_LEN];
    int64_t deadline_s;         //  submissionDeadline as unix seconds
    int64_t target;
    double tolerance;
    size_t nzips;
    assign_doc_zip_t *zips;         //  nzips entries; owned
} assign_doc_t;

//  Parses len bytes. Returns 0, or RC_MALFORMED with the reason in err (the first bad field
//  named). On failure *out holds nothing to free.
int assign_doc_parse (const char *body, size_t len, assign_doc_t *out, char *err,
                      size_t errsize);
void assign_doc_free (assign_doc_t *self);

#endif
