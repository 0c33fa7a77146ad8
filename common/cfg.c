/*  cfg: defaults < file < environment < flags, one table, every error names its key.

    Values are parsed from text by one function (s_set) whatever their source, so a bad value
    is reported the same way from a file, the environment or a flag. Sources are applied in
    precedence order, each overwriting the previous; required options are checked last.      */
#include "common/cfg.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CFG_FILE_MAX   (1024 * 1024)
#define CFG_LINE_MAX   4096
#define CFG_VALUE_MAX  4096

static void *
s_field (const cfg_opt_t *opt, void *target)
{
    return (char *) target + opt->offset;
}

static int s_fail (char *err, size_t errsize, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *err, size_t errsize, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errsize, fmt, args);
    va_end (args);
    return -1;
}

//  Parses text into opt's field. source says where the value came from, for the message.
static int
s_set (const cfg_opt_t *opt, void *target, const char *text, const char *source,
       char *err, size_t errsize)
{
    void *field = s_field (opt, target);
    bool bounded = !(opt->min == 0 && opt->max == 0);
    switch (opt->type) {
        case CFG_STR: {
            size_t len = strlen (text);
            if (bounded && ((double) len < opt->min || (double) len > opt->max))
                return s_fail (err, errsize, "config %s: value from %s has a bad length (%zu, allowed %.0f..%.0f)",
                               opt->name, source, len, opt->min, opt->max);
            if (opt->choices) {
                bool found = false;
                const char *p = opt->choices;
                while (*p && !found) {
                    const char *bar = strchr (p, '|');
                    size_t n = bar ? (size_t) (bar - p) : strlen (p);
                    if (n == len && strncmp (p, text, n) == 0)
                        found = true;
                    p = bar ? bar + 1 : p + n;
                }
                if (!found)
                    return s_fail (err, errsize, "config %s: '%s' from %s is not one of %s", opt->name,
                                   len <= 64 ? text : "(long value)", source, opt->choices);
            }
            char *copy = strdup (text);
            if (!copy)
                abort ();
            char **slot = (char **) field;
            free (*slot);
            *slot = copy;
            return 0;
        }
        case CFG_INT: {
            errno = 0;
            char *end = NULL;
            long long v = strtoll (text, &end, 10);
            if (errno || end == text || *end != 0)
                return s_fail (err, errsize, "config %s: '%s' from %s is not an integer",
                               opt->name, strlen (text) <= 64 ? text : "(long value)", source);
            if (bounded && ((double) v < opt->min || (double) v > opt->max)) {
                snprintf (err, errsize, "config %s: %lld from %s is out of bounds [%.0f, %.0f]",
                          opt->name, v, source, opt->min, opt->max);
                return -1;
            }
            *(int64_t *) field = (int64_t) v;
            return 0;
        }
        case CFG_DOUBLE: {
            errno = 0;
            char *end = NULL;
            double v = strtod (text, &end);
            if (errno || end == text || *end != 0 || !isfinite (v))
                return s_fail (err, errsize, "config %s: '%s' from %s is not a number",
                               opt->name, strlen (text) <= 64 ? text : "(long value)", source);
            if (bounded && (v < opt->min || v > opt->max)) {
                snprintf (err, errsize, "config %s: %g from %s is out of bounds [%g, %g]",
                          opt->name, v, source, opt->min, opt->max);
                return -1;
            }
            *(double *) field = v;
            return 0;
        }
        case CFG_BOOL: {
            static const char *yes [] = { "true", "1", "yes", "on" };
            static const char *no [] = { "false", "0", "no", "off" };
            for (int i = 0; i < 4; i++) {
                if (strcasecmp (text, yes [i]) == 0) { *(bool *) field = true; return 0; }
                if (strcasecmp (text, no [i]) == 0) { *(bool *) field = false; return 0; }
            }
            return s_fail (err, errsize, "config %s: '%s' from %s is not a boolean",
                           opt->name, strlen (text) <= 64 ? text : "(long value)", source);
        }
    }
    return -1;
}

const cfg_opt_t *
cfg_find (const cfg_opt_t *table, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (table [i].name, name) == 0)
            return &table [i];
    return NULL;
}

static char *
s_trim (char *s)
{
    while (isspace ((unsigned char) *s))
        s++;
    size_t n = strlen (s);
    while (n > 0 && isspace ((unsigned char) s [n - 1]))
        s [--n] = 0;
    return s;
}

static int
s_load_file (const cfg_opt_t *table, size_t count, void *target, const char *path,
             char *err, size_t errsize)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errsize, "config file %s: %s", path, strerror (errno));
        return -1;
    }
    char line [CFG_LINE_MAX];
    size_t total = 0;
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        lineno++;
        size_t len = strlen (line);
        total += len;
        if (total > CFG_FILE_MAX) {
            snprintf (err, errsize, "config file %s: larger than %d bytes", path, CFG_FILE_MAX);
            rc = -1;
            break;
        }
        if (len == sizeof line - 1 && line [len - 1] != '\n') {
            snprintf (err, errsize, "config file %s:%d: line longer than %d bytes",
                      path, lineno, CFG_LINE_MAX - 2);
            rc = -1;
            break;
        }
        //  '#' starts a comment unless it is inside double quotes
        bool quoted = false;
        for (char *p = line; *p; p++) {
            if (*p == '"')
                quoted = !quoted;
            else
            if (*p == '#' && !quoted) {
                *p = 0;
                break;
            }
        }
        char *s = s_trim (line);
        if (*s == 0)
            continue;
        char *eq = strchr (s, '=');
        if (!eq) {
            snprintf (err, errsize, "config file %s:%d: expected 'name = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = s_trim (s);
        char *value = s_trim (eq + 1);
        size_t vlen = strlen (value);
        if (vlen >= 2 && value [0] == '"' && value [vlen - 1] == '"') {
            value [vlen - 1] = 0;
            value++;
        }
        const cfg_opt_t *opt = cfg_find (table, count, key);
        if (!opt) {
            snprintf (err, errsize, "config file %s:%d: unknown key '%.64s'", path, lineno, key);
            rc = -1;
            break;
        }
        char source [64];
        snprintf (source, sizeof source, "file line %d", lineno);
        rc = s_set (opt, target, value, source, err, errsize);
    }
    fclose (file);
    return rc;
}

int
cfg_load (const cfg_opt_t *table, size_t count, void *target,
          int argc, char **argv, char *err, size_t errsize)
{
    err [0] = 0;
    //  1. defaults
    for (size_t i = 0; i < count; i++) {
        const char *def = table [i].def ? table [i].def : (table [i].type == CFG_STR ? "" : "0");
        if (table [i].type == CFG_BOOL && !table [i].def)
            def = "false";
        if (s_set (&table [i], target, def, "default", err, errsize) != 0)
            return -1;
    }
    //  2. file: --config on the command line wins over $ZM_CONFIG
    const char *file = getenv ("ZM_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--config") == 0 && i + 1 < argc)
            file = argv [i + 1];
        else
        if (strncmp (argv [i], "--config=", 9) == 0)
            file = argv [i] + 9;
    }
    if (file && *file && s_load_file (table, count, target, file, err, errsize) != 0)
        return -1;
    //  3. environment
    for (size_t i = 0; i < count; i++) {
        if (!table [i].env)
            continue;
        const char *value = getenv (table [i].env);
        if (value && s_set (&table [i], target, value, table [i].env, err, errsize) != 0)
            return -1;
    }
    //  4. flags
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)
            return CFG_HELP;
        if (strncmp (arg, "--", 2) != 0) {
            snprintf (err, errsize, "unexpected argument '%.64s'", arg);
            return -1;
        }
        char name [128];
        const char *eq = strchr (arg + 2, '=');
        size_t nlen = eq ? (size_t) (eq - arg - 2) : strlen (arg + 2);
        if (nlen >= sizeof name) {
            snprintf (err, errsize, "unknown option '%.64s'", arg);
            return -1;
        }
        memcpy (name, arg + 2, nlen);
        name [nlen] = 0;
        if (strcmp (name, "config") == 0) {
            if (!eq)
                i++;
            continue;
        }
        const cfg_opt_t *opt = cfg_find (table, count, name);
        if (!opt) {
            snprintf (err, errsize, "unknown option '--%.64s'", name);
            return -1;
        }
        const char *value = NULL;
        if (eq)
            value = eq + 1;
        else
        if (opt->type == CFG_BOOL && (i + 1 >= argc || strncmp (argv [i + 1], "--", 2) == 0))
            value = "true";
        else
        if (i + 1 < argc)
            value = argv [++i];
        else {
            snprintf (err, errsize, "config %s: option --%s needs a value", opt->name, opt->name);
            return -1;
        }
        char source [160];
        snprintf (source, sizeof source, "--%s", name);
        if (s_set (opt, target, value, source, err, errsize) != 0)
            return -1;
    }
    //  5. required
    for (size_t i = 0; i < count; i++) {
        if (!(table [i].flags & CFG_REQUIRED) || table [i].type != CFG_STR)
            continue;
        char *value = *(char **) s_field (&table [i], target);
        if (!value || !*value) {
            snprintf (err, errsize, "config %s: required (flag --%s%s%s)", table [i].name,
                      table [i].name, table [i].env ? " or env " : "",
                      table [i].env ? table [i].env : "");
            return -1;
        }
    }
    return 0;
}

void
cfg_free (const cfg_opt_t *table, size_t count, void *target)
{
    for (size_t i = 0; i < count; i++)
        if (table [i].type == CFG_STR) {
            char **slot = (char **) s_field (&table [i], target);
            free (*slot);
            *slot = NULL;
        }
}

void
cfg_print_help (const cfg_opt_t *table, size_t count, FILE *out)
{
    static const char *types [] = { "TEXT", "INT", "NUM", "BOOL" };
    for (size_t i = 0; i < count; i++) {
        const cfg_opt_t *o = &table [i];
        fprintf (out, "  --%-28s %-5s %s\n", o->name, types [o->type], o->help ? o->help : "");
        fprintf (out, "  %-30s       env %s, default '%s'%s%s%s\n", "", o->env ? o->env : "-",
                 o->def ? o->def : "", o->choices ? ", one of " : "",
                 o->choices ? o->choices : "", o->flags & CFG_REQUIRED ? ", required" : "");
    }
}

void
cfg_dump (const cfg_opt_t *table, size_t count, const void *target)
{
    for (size_t i = 0; i < count; i++) {
        const cfg_opt_t *o = &table [i];
        const void *field = (const char *) target + o->offset;
        if (o->flags & CFG_SECRET) {
            const char *v = *(char * const *) field;
            log_debug ("config_value", LS ("key", o->name), LS ("value", v && *v ? "***" : ""));
            continue;
        }
        switch (o->type) {
            case CFG_STR:
                log_debug ("config_value", LS ("key", o->name), LS ("value", *(char * const *) field));
                break;
            case CFG_INT:
                log_debug ("config_value", LS ("key", o->name), LI ("value", *(const int64_t *) field));
                break;
            case CFG_DOUBLE:
                log_debug ("config_value", LS ("key", o->name), LF ("value", *(const double *) field));
                break;
            case CFG_BOOL:
                log_debug ("config_value", LS ("key", o->name), LB ("value", *(const bool *) field));
                break;
        }
    }
}
