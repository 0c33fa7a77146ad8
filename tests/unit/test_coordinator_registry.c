/*  registry: parsing, validation of every field, lookups, reload on change, bad reload kept.  */
#include "workers/coordinator/registry.h"
#include "tests/testutil.h"

#include <unistd.h>

#define ALICE "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
#define BOB   "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"

static void
s_write (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    CHECK (f);
    fputs (text, f);
    fclose (f);
}

int
main (void)
{
    char path [] = "/tmp/zm_registry_XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    close (fd);
    char err [256];
    s_write (path, "{\"netuid\":46,\"hotkeys\":[{\"hotkey\":\"" ALICE "\",\"coldkey\":\"" BOB
                   "\",\"role\":\"miner\"}]}");
    registry_t *reg = registry_new (path, err, sizeof err);
    CHECK (reg);
    CHECK_EQ_INT (registry_size (reg), 1);
    const registry_entry_t *e = registry_lookup (reg, ALICE);
    CHECK (e && e->role == REGISTRY_MINER);
    CHECK_EQ_STR (e->coldkey, BOB);
    CHECK (e->public_key [0] == 0xd4 && e->public_key [1] == 0x35);   //  Alice's well-known key
    CHECK (registry_lookup (reg, BOB) == NULL);
    CHECK (registry_lookup (reg, "") == NULL);
    CHECK_EQ_INT (registry_refresh (reg, err, sizeof err), 0);

    //  a changed file is reloaded
    sleep (0);
    s_write (path, "{\"hotkeys\":[{\"hotkey\":\"" ALICE "\",\"role\":\"miner\"},"
                   "{\"hotkey\":\"" BOB "\",\"role\":\"validator\"}]}");
    CHECK_EQ_INT (registry_refresh (reg, err, sizeof err), 1);
    CHECK_EQ_INT (registry_size (reg), 2);
    CHECK_EQ_INT (registry_count_role (reg, REGISTRY_VALIDATOR), 1);
    CHECK (registry_lookup (reg, BOB)->role == REGISTRY_VALIDATOR);

    //  every kind of bad document is rejected with a reason and the old registry kept
    const char *bad [] = {
        "not json", "{\"hotkeys\":{}}", "[]",
        "{\"hotkeys\":[{\"hotkey\":\"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ\",\"role\":\"miner\"}]}",
        "{\"hotkeys\":[{\"hotkey\":\"" ALICE "\",\"role\":\"king\"}]}",
        "{\"hotkeys\":[{\"hotkey\":\"" ALICE "\"}]}",
        "{\"hotkeys\":[{\"hotkey\":\"" ALICE "\",\"coldkey\":\"nope\",\"role\":\"miner\"}]}",
        "{\"hotkeys\":[{\"hotkey\":\"" ALICE "\",\"role\":\"miner\"},{\"hotkey\":\"" ALICE "\",\"role\":\"miner\"}]}",
        "{\"hotkeys\":[], \"hotkeys\":[]}",
        "{\"hotkeys\":[{\"hotkey\":7,\"role\":\"miner\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        CHECK_EQ_INT (registry_load_buffer (reg, bad [i], strlen (bad [i]), err, sizeof err), -1);
        CHECK (strlen (err) > 0);
        CHECK_EQ_INT (registry_size (reg), 2);
    }
    s_write (path, "{\"hotkeys\":[");
    CHECK_EQ_INT (registry_refresh (reg, err, sizeof err), -1);
    CHECK (registry_lookup (reg, BOB) != NULL);
    registry_destroy (&reg);
    CHECK (reg == NULL);
    unlink (path);
    CHECK (registry_new (path, err, sizeof err) == NULL);
    CHECK (strstr (err, path) != NULL);
    TEST_DONE ();
}
