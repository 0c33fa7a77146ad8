/*  Project-wide return codes.

    Functions return 0 on success and -1 on failure (or NULL). Where a caller must branch on the
    kind of failure, they return one of these instead:
      RC_RETRY      transient: network, timeout, 5xx/429, lost PostgreSQL connection. Try again
                    later with backoff; nothing was lost.
      RC_MALFORMED  the input is bad (hostile or broken bytes). Retrying the same input is useless;
                    reject it with the reason the callee gave.                                    */
#ifndef ZM_RC_H
#define ZM_RC_H

enum {
    RC_OK        =  0,
    RC_ERR       = -1,
    RC_RETRY     = -2,
    RC_MALFORMED = -3
};

//  Exit codes of every worker and of zipmined (DESIGN.md section 2).
enum {
    EXIT_CLEAN     = 0,     //  clean stop
    EXIT_TRANSIENT = 1,     //  transient failure: restart with backoff
    EXIT_CONFIG    = 100    //  permanent (bad configuration): never restart
};

#endif
