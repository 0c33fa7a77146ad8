/*  cfg + config: precedence, parsing, bounds, required keys, errors that name the key, and
    the exit-100 contract of zm_config_load_or_exit (checked in a child process).            */
#include "common/config.h"
#include "common/rc.h"
#include "tests/testutil.h"

#include <stddef.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char *name;
    int64_t count;
    double ratio;
    bool flag;
    char *mode;
    char *secret;
} demo_t;

static const cfg_opt_t s_table [] = {
    { "demo.name", "ZMT_NAME", CFG_STR, "anon", 1, 10, NULL, offsetof (demo_t, name), 0, "" },
    { "demo.count", "ZMT_COUNT", CFG_INT, "5", 1, 100, NULL, offsetof (demo_t, count), 0, "" },
    { "demo.ratio", "ZMT_RATIO", CFG_DOUBLE, "0.5", 0, 1, NULL, offsetof (demo_t, ratio), 0, "" },
    { "demo.flag", "ZMT_FLAG", CFG_BOOL, NULL, 0, 0, NULL, offsetof (demo_t, flag), 0, "" },
    { "demo.mode", "ZMT_MODE", CFG_STR, "a", 0, 0, "a|bb|c", offsetof (demo_t, mode), 0, "" },
    { "demo.secret", "ZMT_SECRET", CFG_STR, NULL, 0, 0, NULL, offsetof (demo_t, secret),
      CFG_REQUIRED | CFG_SECRET, "" },
};
#define N (sizeof s_table / sizeof s_table [0])

static int
s_load (demo_t *d, char *err, int argc, char **argv)
{
    memset (d, 0, sizeof *d);
    return cfg_load (s_table, N, d, argc, argv, err, CFG_ERR_MAX);
}

int
main (void)
{
    char err [CFG_ERR_MAX];
    demo_t d;
    char tmpl [] = "/tmp/zm_cfg_XXXXXX";
    int fd = mkstemp (tmpl);
    CHECK (fd >= 0);
    const char *text = "# comment\n demo.name = filed \ndemo.count=7\ndemo.mode=\"bb\"  # tail\n"
                       "demo.secret=\"s3cr#t\" # comment\n";
    CHECK (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);

    //  defaults + required missing
    unsetenv ("ZM_CONFIG");
    char *a0 [] = { "prog" };
    CHECK (s_load (&d, err, 1, a0) == -1);
    CHECK (strstr (err, "demo.secret") != NULL);
    cfg_free (s_table, N, &d);

    //  file < env < flags
    setenv ("ZM_CONFIG", tmpl, 1);
    setenv ("ZMT_COUNT", "9", 1);
    char *a1 [] = { "prog", "--demo.ratio", "0.25", "--demo.flag", "--demo.name=flag" };
    CHECK_EQ_INT (s_load (&d, err, 5, a1), 0);
    CHECK_EQ_STR (d.name, "flag");
    CHECK_EQ_INT (d.count, 9);
    CHECK (d.ratio == 0.25);
    CHECK (d.flag);
    CHECK_EQ_STR (d.mode, "bb");
    CHECK_EQ_STR (d.secret, "s3cr#t");
    cfg_free (s_table, N, &d);
    CHECK (d.name == NULL);
    unsetenv ("ZMT_COUNT");

    //  every kind of bad value names the key
    struct { char *flag; const char *key; } bad [] = {
        { "--demo.count=abc", "demo.count" }, { "--demo.count=1000", "demo.count" },
        { "--demo.ratio=2", "demo.ratio" }, { "--demo.ratio=nan", "demo.ratio" },
        { "--demo.flag=maybe", "demo.flag" }, { "--demo.mode=d", "demo.mode" },
        { "--demo.name=much-too-long", "demo.name" }, { "--nope=1", "nope" },
        { "stray", "stray" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char *argv [] = { "prog", bad [i].flag };
        CHECK_EQ_INT (s_load (&d, err, 2, argv), -1);
        if (!strstr (err, bad [i].key))
            fprintf (stderr, "error '%s' does not name %s\n", err, bad [i].key);
        CHECK (strstr (err, bad [i].key) != NULL);
        cfg_free (s_table, N, &d);
    }
    setenv ("ZMT_COUNT", "0", 1);
    CHECK_EQ_INT (s_load (&d, err, 1, a0), -1);
    CHECK (strstr (err, "ZMT_COUNT") != NULL);
    cfg_free (s_table, N, &d);
    unsetenv ("ZMT_COUNT");

    //  a flag that needs a value at the end of argv
    char *a2 [] = { "prog", "--demo.count" };
    CHECK_EQ_INT (s_load (&d, err, 2, a2), -1);
    cfg_free (s_table, N, &d);
    //  --help
    char *a3 [] = { "prog", "--help" };
    CHECK_EQ_INT (s_load (&d, err, 2, a3), CFG_HELP);
    cfg_free (s_table, N, &d);

    //  file errors: unknown key, missing file
    FILE *f = fopen (tmpl, "w");
    fputs ("demo.secret=x\nbogus.key = 1\n", f);
    fclose (f);
    CHECK_EQ_INT (s_load (&d, err, 1, a0), -1);
    CHECK (strstr (err, "bogus.key") && strstr (err, ":2:"));
    cfg_free (s_table, N, &d);
    setenv ("ZM_CONFIG", "/nonexistent/zm.conf", 1);
    CHECK_EQ_INT (s_load (&d, err, 1, a0), -1);
    CHECK (strstr (err, "/nonexistent/zm.conf") != NULL);
    cfg_free (s_table, N, &d);
    unsetenv ("ZM_CONFIG");
    unlink (tmpl);

    //  the project table: defaults load, Bittensor flag names work, bad value exits 100
    zm_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    char *a4 [] = { "zipmined", "--wallet.name", "cold", "--wallet.hotkey=hot",
                    "--netuid", "46", "--subtensor.network", "test" };
    CHECK_EQ_INT (zm_config_load (&cfg, 8, a4, err, sizeof err), 0);
    CHECK_EQ_STR (cfg.wallet_name, "cold");
    CHECK_EQ_STR (cfg.wallet_hotkey, "hot");
    CHECK_EQ_INT (cfg.heartbeat_ms, 1000);
    CHECK_EQ_INT (cfg.restart_base_ms, 1000);
    CHECK_EQ_INT (cfg.restart_cap_ms, 30000);
    zm_config_free (&cfg);

    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0) {
        int devnull = open ("/dev/null", O_WRONLY);
        dup2 (devnull, 2);
        dup2 (devnull, 1);
        zm_config_t c;
        memset (&c, 0, sizeof c);
        char *argv [] = { "zipmined", "--heartbeat.ms", "5" };
        zm_config_load_or_exit (&c, 3, argv, "usage");
        _exit (0);
    }
    int status;
    CHECK (waitpid (pid, &status, 0) == pid);
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == EXIT_CONFIG);
    TEST_DONE ();
}
