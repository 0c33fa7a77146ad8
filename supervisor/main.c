/*  zipmined: the zipmine node supervisor. Loads the one configuration, then hands everything
    to sup (supervisor/sup.h): fork+exec of the role's workers, readiness, heartbeats,
    restarts with backoff, restart intensity, drain on SIGTERM, /livez /readyz /metrics and
    the zipminectl control socket.                                                           */
#include "supervisor/sup.h"
#include "common/config.h"
#include "common/log.h"
#include "common/rc.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
    log_set_proc ("zipmined");
    zm_config_t config;
    memset (&config, 0, sizeof config);
    zm_config_load_or_exit (&config, argc, argv,
                            "usage: zipmined [--config FILE] [--role ROLE] [options]");
    char exe [PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        snprintf (exe, sizeof exe, "%s", argv [0]);
    else
        exe [n] = 0;

    char err [512];
    int code = EXIT_TRANSIENT;
    sup_t *sup = sup_new (&config, argc, argv, exe, err, sizeof err, &code);
    if (!sup) {
        fprintf (stderr, "zipmined: %s\n", err);
        log_error ("supervisor_start_failed", LS ("reason", err), LI ("exit_code", code));
        zm_config_free (&config);
        return code;
    }
    int rc = sup_run (sup);
    sup_destroy (&sup);
    zm_config_free (&config);
    return rc;
}
