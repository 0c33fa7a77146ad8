/*  registry: metagraph file → sorted array of entries, looked up by binary search.
    Reloads build a complete new array before swapping it in.                                  */
#include "workers/coordinator/registry.h"
#include "common/log.h"
#include "common/ss58.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct _registry_t {
    char *path;
    struct timespec mtime;
    off_t size;
    registry_entry_t *entries;      //  sorted by hotkey
    size_t count;
};

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (((const registry_entry_t *) a)->hotkey, ((const registry_entry_t *) b)->hotkey);
}

int
registry_load_buffer (registry_t *self, const char *data, size_t size, char *err, size_t errsize)
{
    if (size > REGISTRY_FILE_MAX) {
        snprintf (err, errsize, "metagraph larger than %d bytes", REGISTRY_FILE_MAX);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb (data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errsize, "metagraph is not JSON: %s at line %d", jerr.text, jerr.line);
        return -1;
    }
    json_t *list = json_object_get (root, "hotkeys");
    if (!json_is_array (list)) {
        snprintf (err, errsize, "metagraph: 'hotkeys' must be an array");
        json_decref (root);
        return -1;
    }
    size_t n = json_array_size (list);
    if (n > REGISTRY_MAX_KEYS) {
        snprintf (err, errsize, "metagraph: more than %d hotkeys", REGISTRY_MAX_KEYS);
        json_decref (root);
        return -1;
    }
    registry_entry_t *entries = calloc (n ? n : 1, sizeof *entries);
    if (!entries)
        abort ();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *item = json_array_get (list, i);
        const char *hotkey = json_string_value (json_object_get (item, "hotkey"));
        const char *coldkey = json_string_value (json_object_get (item, "coldkey"));
        const char *role = json_string_value (json_object_get (item, "role"));
        const char *reason = NULL;
        uint8_t cold_pk [32];
        unsigned prefix;
        registry_entry_t *e = &entries [i];
        if (!hotkey || !role) {
            snprintf (err, errsize, "metagraph hotkeys[%zu]: 'hotkey' and 'role' are required", i);
            rc = -1;
        }
        else
        if (strlen (hotkey) >= sizeof e->hotkey
        ||  ss58_decode (hotkey, e->public_key, &prefix, &reason) != 0) {
            snprintf (err, errsize, "metagraph hotkeys[%zu]: bad hotkey: %s", i,
                      reason ? reason : "too long");
            rc = -1;
        }
        else
        if (coldkey && (strlen (coldkey) >= sizeof e->coldkey
                    ||  ss58_decode (coldkey, cold_pk, &prefix, &reason) != 0)) {
            snprintf (err, errsize, "metagraph hotkeys[%zu]: bad coldkey: %s", i,
                      reason ? reason : "too long");
            rc = -1;
        }
        else
        if (strcmp (role, "miner") != 0 && strcmp (role, "validator") != 0) {
            snprintf (err, errsize, "metagraph hotkeys[%zu]: role must be miner or validator", i);
            rc = -1;
        }
        else {
            snprintf (e->hotkey, sizeof e->hotkey, "%s", hotkey);
            snprintf (e->coldkey, sizeof e->coldkey, "%s", coldkey ? coldkey : "");
            e->role = strcmp (role, "miner") == 0 ? REGISTRY_MINER : REGISTRY_VALIDATOR;
        }
    }
    json_decref (root);
    if (rc == 0) {
        qsort (entries, n, sizeof *entries, s_cmp);
        for (size_t i = 1; i < n && rc == 0; i++)
            if (strcmp (entries [i - 1].hotkey, entries [i].hotkey) == 0) {
                snprintf (err, errsize, "metagraph: hotkey %.64s listed twice", entries [i].hotkey);
                rc = -1;
            }
    }
    if (rc != 0) {
        free (entries);
        return -1;
    }
    free (self->entries);
    self->entries = entries;
    self->count = n;
    return 0;
}

static int
s_load_file (registry_t *self, const struct stat *st, char *err, size_t errsize)
{
    if (st->st_size > REGISTRY_FILE_MAX) {
        snprintf (err, errsize, "%s: larger than %d bytes", self->path, REGISTRY_FILE_MAX);
        return -1;
    }
    FILE *file = fopen (self->path, "rb");
    if (!file) {
        snprintf (err, errsize, "%s: %s", self->path, strerror (errno));
        return -1;
    }
    size_t size = (size_t) st->st_size;
    char *data = malloc (size + 1);
    if (!data)
        abort ();
    size_t got = fread (data, 1, size, file);
    fclose (file);
    int rc = got == size ? registry_load_buffer (self, data, size, err, errsize) : -1;
    if (got != size)
        snprintf (err, errsize, "%s: short read", self->path);
    free (data);
    if (rc == 0) {
        self->mtime = st->st_mtim;
        self->size = st->st_size;
    }
    return rc;
}

registry_t *
registry_new (const char *path, char *err, size_t errsize)
{
    assert (path);
    registry_t *self = calloc (1, sizeof *self);
    if (!self || !(self->path = strdup (path)))
        abort ();
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (err, errsize, "%s: %s", path, strerror (errno));
        registry_destroy (&self);
        return NULL;
    }
    if (s_load_file (self, &st, err, errsize) != 0)
        registry_destroy (&self);
    return self;
}

void
registry_destroy (registry_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->entries);
        free ((*self_p)->path);
        free (*self_p);
        *self_p = NULL;
    }
}

int
registry_refresh (registry_t *self, char *err, size_t errsize)
{
    struct stat st;
    if (stat (self->path, &st) != 0) {
        snprintf (err, errsize, "%s: %s", self->path, strerror (errno));
        return -1;
    }
    if (st.st_mtim.tv_sec == self->mtime.tv_sec && st.st_mtim.tv_nsec == self->mtime.tv_nsec
    &&  st.st_size == self->size)
        return 0;
    if (s_load_file (self, &st, err, errsize) != 0)
        return -1;
    log_info ("registry_reloaded", LS ("path", self->path), LI ("hotkeys", (int64_t) self->count));
    return 1;
}

const registry_entry_t *
registry_lookup (const registry_t *self, const char *hotkey)
{
    if (!hotkey || strlen (hotkey) >= sizeof self->entries->hotkey)
        return NULL;
    registry_entry_t key;
    snprintf (key.hotkey, sizeof key.hotkey, "%s", hotkey);
    return bsearch (&key, self->entries, self->count, sizeof key, s_cmp);
}

size_t
registry_size (const registry_t *self)
{
    return self->count;
}

size_t
registry_count_role (const registry_t *self, registry_role_t role)
{
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++)
        n += self->entries [i].role == role;
    return n;
}
