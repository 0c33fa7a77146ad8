/*  cfg: a table-driven configuration loader (the redis config table, 12-factor sources).

    Each row of a table declares one option: its name (also the file key and the long flag
    "--name"), its environment variable, type, default, bounds and the field it fills in a
    caller's struct. Sources, later ones winning:

        defaults  <  config file (--config FILE or $ZM_CONFIG)  <  environment  <  flags

    The file holds "name = value" lines, '#' starts a comment, values may be "quoted".
    Flags are "--name value" or "--name=value"; a BOOL flag alone means true.

    Any bad input (unknown key or flag, bad number, value out of bounds, not one of the
    choices, a missing required option) makes cfg_load fail with a message that names the
    offending key; callers exit 100 (EXIT_CONFIG) on it. Once loaded the struct is immutable.
    STR fields are heap strings owned by the struct: release them with cfg_free.             */
#ifndef ZM_CFG_H
#define ZM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CFG_STR,        //  char *            (min/max bound the length)
    CFG_INT,        //  int64_t           (min/max bound the value)
    CFG_DOUBLE,     //  double            (min/max bound the value)
    CFG_BOOL        //  bool              (true/false, 1/0, yes/no, on/off)
} cfg_type_t;

enum {
    CFG_REQUIRED = 1,   //  must be set by some source (STR: non-empty)
    CFG_SECRET   = 2    //  never printed by cfg_dump
};

typedef struct {
    const char *name;       //  "wallet.hotkey": file key and flag --wallet.hotkey
    const char *env;        //  "ZM_WALLET_HOTKEY", or NULL for none
    cfg_type_t type;
    const char *def;        //  default as text; NULL: empty string / 0 / false
    double min, max;        //  bounds; min == max == 0 means unbounded
    const char *choices;    //  STR only: "json|text", or NULL for any
    size_t offset;          //  offsetof (the struct, field)
    unsigned flags;         //  CFG_REQUIRED | CFG_SECRET
    const char *help;
} cfg_opt_t;

#define CFG_ERR_MAX 512

//  Result of cfg_load besides 0 / -1: --help or --version was given; the caller prints what
//  was asked and exits 0.
#define CFG_HELP 1

//  Fills target from defaults, file, environment and argv (argv [0] is skipped). On failure
//  returns -1 and writes a message naming the key into err. Strings already set in target are
//  freed first, so cfg_load may be called on a zeroed struct only.
int cfg_load (const cfg_opt_t *table, size_t count, void *target,
              int argc, char **argv, char *err, size_t errsize);

//  Frees the STR fields of target and zeroes them.
void cfg_free (const cfg_opt_t *table, size_t count, void *target);

//  Prints "  --name VALUE  (ENV, default D)  help" for every option.
void cfg_print_help (const cfg_opt_t *table, size_t count, FILE *out);

//  Logs the effective configuration as one "config_loaded" event per option (secrets masked).
void cfg_dump (const cfg_opt_t *table, size_t count, const void *target);

//  Looks up the option by name; NULL if absent.
const cfg_opt_t *cfg_find (const cfg_opt_t *table, size_t count, const char *name);

#endif
