/*  scraper: one member of the miner's scraper pool (README.md, scraper.h).                   */
#include "common/rc.h"
#include "common/worker.h"
#include "workers/scraper/scraper.h"

int
main (int argc, char **argv)
{
    worker_t *w = worker_new ("scraper", argc, argv);
    if (!w)
        return EXIT_TRANSIENT;
    bool config_error = false;
    scraper_t *scraper = scraper_new (w, &config_error);
    if (!scraper) {
        worker_destroy (&w);
        return config_error ? EXIT_CONFIG : EXIT_TRANSIENT;
    }
    worker_set_drain (w, scraper_drain, scraper);
    int rc = worker_run (w);
    scraper_destroy (&scraper);
    worker_destroy (&w);
    return rc;
}
