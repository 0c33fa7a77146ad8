/*  zipmine-keys: hotkeys for operators and local networks (not a worker; no supervisor).

        zipmine-keys dev NAME [flags]     derive the development key NAME (BLAKE2b-256 of
                                          "zipmine-dev:" || NAME, see docs/keys.md) and write
                                          it as a btcli hotkey file at
                                          <wallet.path>/<wallet.name>/hotkeys/<wallet.hotkey>;
                                          prints the SS58 address
        zipmine-keys show [flags]         load that hotkey file and print its SS58 address
        zipmine-keys sign MESSAGE [flags] print the hex sr25519 signature of MESSAGE (UTF-8)
                                          by that hotkey, e.g. to call the API with curl

    flags are the usual configuration flags (--wallet.path, --wallet.name, --wallet.hotkey,
    --ss58.prefix...). Exit codes: 0 done, 1 failure (reason on stderr), 2 usage.            */
#include "common/config.h"
#include "common/rc.h"
#include "common/ss58.h"
#include "common/wallet.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_usage (void)
{
    fprintf (stderr, "usage: zipmine-keys dev NAME | show | sign MESSAGE  [--wallet.path P] "
                     "[--wallet.name W] [--wallet.hotkey H] [--ss58.prefix N]\n");
    return 2;
}

//  Expands a leading "~/" with $HOME.
static char *
s_expand (const char *path)
{
    char *out;
    const char *home = getenv ("HOME");
    if (strncmp (path, "~/", 2) == 0 && home) {
        if (asprintf (&out, "%s/%s", home, path + 2) < 0)
            abort ();
    }
    else
    if (!(out = strdup (path)))
        abort ();
    return out;
}

int
main (int argc, char **argv)
{
    if (argc < 2)
        return s_usage ();
    const char *command = argv [1];
    int positional = strcmp (command, "show") == 0 ? 0 : 1;
    if (argc < 2 + positional || (positional && strncmp (argv [2], "--", 2) == 0))
        return s_usage ();
    const char *arg = positional ? argv [2] : NULL;
    //  the configuration sees argv [0] and the flags only
    int cargc = argc - 1 - positional;
    char **cargv = calloc ((size_t) cargc + 1, sizeof (char *));
    cargv [0] = argv [0];
    for (int i = 1; i < cargc; i++)
        cargv [i] = argv [i + 1 + positional];
    zm_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    zm_config_load_or_exit (&cfg, cargc, cargv, "usage: zipmine-keys dev NAME | show | sign MESSAGE [flags]");
    free (cargv);
    char *wallets = s_expand (cfg.wallet_path);
    const char *reason = NULL;
    int rc = 1;
    wallet_t *wallet = NULL;
    char address [SS58_ADDRESS_SIZE];

    if (strcmp (command, "dev") == 0) {
        wallet = wallet_new_dev (arg);
        if (!wallet)
            fprintf (stderr, "zipmine-keys: cannot derive a key for '%s'\n", arg);
        else
        if (wallet_write_hotkey (wallet, wallets, cfg.wallet_name, cfg.wallet_hotkey, &reason) != 0)
            fprintf (stderr, "zipmine-keys: %s\n", reason ? reason : "cannot write the hotkey file");
        else
            rc = 0;
    }
    else
    if (strcmp (command, "show") == 0 || strcmp (command, "sign") == 0) {
        wallet = wallet_load (wallets, cfg.wallet_name, cfg.wallet_hotkey, &reason);
        if (!wallet)
            fprintf (stderr, "zipmine-keys: %s\n", reason ? reason : "cannot load the hotkey");
        else
            rc = 0;
    }
    else {
        free (wallets);
        zm_config_free (&cfg);
        return s_usage ();
    }
    if (rc == 0 && wallet_address (wallet, (unsigned) cfg.ss58_prefix, address, sizeof address) != 0) {
        fprintf (stderr, "zipmine-keys: bad ss58.prefix\n");
        rc = 1;
    }
    if (rc == 0 && strcmp (command, "sign") == 0) {
        uint8_t sig [64];
        char hex [129];
        if (wallet_sign (wallet, (const uint8_t *) arg, strlen (arg), sig) != 0) {
            fprintf (stderr, "zipmine-keys: signing failed\n");
            rc = 1;
        }
        else
            printf ("%s\n", sodium_bin2hex (hex, sizeof hex, sig, sizeof sig));
    }
    else
    if (rc == 0)
        printf ("%s\n", address);
    wallet_destroy (&wallet);
    free (wallets);
    zm_config_free (&cfg);
    return rc;
}
