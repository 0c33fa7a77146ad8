/*  fuzz_assign_doc: assign_doc_parse (common/assign_doc.h) on arbitrary bytes, the
    coordinator's answer as the assigner and the downloader receive it. Never a crash or a
    leak, and the verdict holds together: an accepted document has a valid epoch id, 16 hex
    nonce, ordered times, at most ASSIGN_DOC_ZIPCODES_MAX unique 5-digit zipcodes with
    bounded expected counts; a rejected one has a reason and nothing to free.                */
#include "common/assign_doc.h"
#include "common/epoch.h"
#include "common/rc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    assign_doc_t doc;
    char err [256];
    err [0] = 0;
    int rc = assign_doc_parse ((const char *) data, size, &doc, err, sizeof err);
    if (rc != 0) {
        if (rc != RC_MALFORMED || !err [0] || doc.zips || doc.nzips)
            abort ();
        return 0;
    }
    int64_t start;
    if (epoch_id_parse (doc.epoch_id, &start) != 0 || strlen (doc.nonce) != 16
    ||  doc.nzips > ASSIGN_DOC_ZIPCODES_MAX || (doc.nzips && !doc.zips)
    ||  doc.tolerance < 0 || doc.tolerance > 100 || doc.target < 0)
        abort ();
    for (size_t i = 0; i < doc.nzips; i++) {
        if (strlen (doc.zips [i].zipcode) != 5 || doc.zips [i].expected < 0
        ||  doc.zips [i].expected > ASSIGN_DOC_EXPECTED_MAX)
            abort ();
        for (size_t k = 0; k < i; k++)
            if (strcmp (doc.zips [k].zipcode, doc.zips [i].zipcode) == 0)
                abort ();
    }
    assign_doc_free (&doc);
    if (doc.zips || doc.nzips)
        abort ();
    return 0;
}
