/*  registry: the hotkeys the coordinator knows, and their roles.

    Loaded from a metagraph JSON file (a local network writes one; a production coordinator
    exports the chain's metagraph to the same shape):

        { "netuid": 46,
          "hotkeys": [ { "hotkey": "5F…", "coldkey": "5C…", "role": "miner" },
                       { "hotkey": "5G…", "coldkey": "5D…", "role": "validator" } ] }

    Every hotkey and coldkey must be a valid SS58 address (its public key is kept for signature
    checks); role is "miner" or "validator". registry_refresh re-reads the file when its mtime
    or size changed; a file that no longer parses is reported and the previous registry kept,
    so a half-written file never locks everyone out. File size and entry count are bounded.    */
#ifndef ZM_COORD_REGISTRY_H
#define ZM_COORD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGISTRY_FILE_MAX   (16 * 1024 * 1024)
#define REGISTRY_MAX_KEYS   65536

typedef enum {
    REGISTRY_MINER = 1,
    REGISTRY_VALIDATOR = 2
} registry_role_t;

typedef struct {
    char hotkey [64];
    char coldkey [64];
    uint8_t public_key [32];
    registry_role_t role;
} registry_entry_t;

typedef struct _registry_t registry_t;

//  Loads path. NULL on failure with the reason in err.
registry_t *registry_new (const char *path, char *err, size_t errsize);
void registry_destroy (registry_t **self_p);

//  Parses a metagraph document from memory into self (replacing its entries on success).
//  Return 0, or -1 with the reason in err (self unchanged).
int registry_load_buffer (registry_t *self, const char *data, size_t size, char *err, size_t errsize);

//  Re-reads the file if it changed. Returns 1 when reloaded, 0 when unchanged, -1 when the
//  new file is invalid (old entries kept; reason in err).
int registry_refresh (registry_t *self, char *err, size_t errsize);

//  Entry of hotkey, or NULL if unknown.
const registry_entry_t *registry_lookup (const registry_t *self, const char *hotkey);

size_t registry_size (const registry_t *self);
size_t registry_count_role (const registry_t *self, registry_role_t role);

#endif
