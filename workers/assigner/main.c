/*  assigner: the miner's task leaser (README.md, assigner.h).                                */
#include "common/rc.h"
#include "common/worker.h"
#include "workers/assigner/assigner.h"

int
main (int argc, char **argv)
{
    worker_t *w = worker_new ("assigner", argc, argv);
    if (!w)
        return EXIT_TRANSIENT;
    bool config_error = false;
    assigner_t *assigner = assigner_new (w, &config_error);
    if (!assigner) {
        worker_destroy (&w);
        return config_error ? EXIT_CONFIG : EXIT_TRANSIENT;
    }
    worker_set_drain (w, assigner_drain, assigner);
    int rc = worker_run (w);
    assigner_destroy (&assigner);
    worker_destroy (&w);
    return rc;
}
