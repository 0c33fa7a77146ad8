/*  zipminectl: the operator CLI of a zipmine node.

        zipminectl [config options] [--ctl ENDPOINT] [--timeout MS] COMMAND
            status [--json]      every child: name.index, pid, state, restarts, uptime, last exit
            restart WORKER       WORKER = name.index, or name (every instance, one at a time)
            scale POOL N         grow or shrink a pool (shrinking stops the highest indexes)
            stop                 drain and stop the whole node

    It reads the same configuration as zipmined (flags, ZM_* environment, --config FILE) to
    find ipc://<run.dir>/<node.name>/ctl.ipc, or takes --ctl. Every wait is bounded by
    --timeout (default 5000 ms). Exit codes: 0 done, 1 failed (node not running, no reply,
    request refused), 2 usage.                                                               */
#include "common/cfg.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "proto/control.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_EXIT_OK       0
#define S_EXIT_FAIL     1
#define S_EXIT_USAGE    2

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: zipminectl [config options] [--ctl ENDPOINT] [--timeout MS] COMMAND\n"
             "commands:\n"
             "  status [--json]      children: name.index, pid, state, restarts, uptime, "
             "last exit\n"
             "  restart WORKER       restart WORKER.INDEX, or every instance of WORKER one "
             "at a time\n"
             "  scale POOL N         run N instances of POOL (0..%d)\n"
             "  stop                 drain and stop the node\n"
             "config options are zipmined's (run.dir, node.name, ...; see zipmined --help)\n"
             "exit codes: 0 ok, 1 failure, 2 usage\n", PROTO_POOL_MAX);
}

static void
s_print_table (const proto_control_reply_t *reply)
{
    printf ("%s\n", reply->message);
    printf ("%-28s %-8s %-9s %-8s %-9s %s\n", "WORKER", "PID", "STATE", "RESTARTS", "UPTIME",
            "LAST EXIT");
    int64_t now = clock_wall_ms ();
    for (size_t i = 0; i < reply->nchildren; i++) {
        const proto_child_status_t *c = &reply->children [i];
        char id [PROTO_NAME_MAX + 16], pid [16], uptime [32], state [16];
        snprintf (id, sizeof id, "%s.%u", c->name, c->index);
        snprintf (pid, sizeof pid, c->pid > 0 ? "%d" : "-", c->pid);
        if (c->ready_since_ms > 0 && now >= c->ready_since_ms)
            snprintf (uptime, sizeof uptime, "%llds",
                      (long long) ((now - c->ready_since_ms) / 1000));
        else
            snprintf (uptime, sizeof uptime, "-");
        const char *name = proto_child_state_name (c->state);
        size_t k = 0;
        for (; name [k] && k < sizeof state - 1; k++)
            state [k] = (char) (name [k] >= 'a' && name [k] <= 'z' ? name [k] - 32 : name [k]);
        state [k] = 0;
        printf ("%-28s %-8s %-9s %-8u %-9s %s\n", id, pid, state, c->restarts, uptime,
                c->last_exit [0] ? c->last_exit : "-");
    }
}

int
main (int argc, char **argv)
{
    log_set_proc ("zipminectl");
    log_set_fd (2);
    //  Split our own arguments from the configuration flags shared with zipmined.
    char **cfg_argv = calloc ((size_t) argc + 1, sizeof *cfg_argv);
    if (!cfg_argv)
        abort ();
    int cfg_argc = 0;
    cfg_argv [cfg_argc++] = argv [0];
    const char *words [4] = { NULL };
    int nwords = 0;
    bool json = false;
    const char *ctl = NULL;
    long timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv [i];
        if (strcmp (a, "--json") == 0)
            json = true;
        else
        if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
            s_usage (stdout);
            free (cfg_argv);
            return S_EXIT_OK;
        }
        else
        if (strcmp (a, "--ctl") == 0 || strcmp (a, "--timeout") == 0) {
            if (i + 1 >= argc) {
                fprintf (stderr, "zipminectl: %s needs a value\n", a);
                free (cfg_argv);
                return S_EXIT_USAGE;
            }
            if (strcmp (a, "--ctl") == 0)
                ctl = argv [++i];
            else {
                char *end;
                timeout_ms = strtol (argv [++i], &end, 10);
                if (*end || timeout_ms < 1 || timeout_ms > 600000) {
                    fprintf (stderr, "zipminectl: --timeout: 1..600000 ms\n");
                    free (cfg_argv);
                    return S_EXIT_USAGE;
                }
            }
        }
        else
        if (strncmp (a, "--", 2) == 0) {
            cfg_argv [cfg_argc++] = argv [i];
            //  A config flag takes the next word as its value unless written --name=value
            //  or a bool flag standing alone.
            const cfg_opt_t *opt = strchr (a, '=') ? NULL
                                 : cfg_find (zm_config_table, zm_config_table_size, a + 2);
            bool takes = strcmp (a, "--config") == 0 || (opt && opt->type != CFG_BOOL);
            if (takes && i + 1 < argc)
                cfg_argv [cfg_argc++] = argv [++i];
        }
        else
        if (nwords < 4)
            words [nwords++] = a;
        else {
            fprintf (stderr, "zipminectl: too many arguments\n");
            s_usage (stderr);
            free (cfg_argv);
            return S_EXIT_USAGE;
        }
    }

    proto_control_t req;
    memset (&req, 0, sizeof req);
    const char *cmd = nwords > 0 ? words [0] : NULL;
    bool usage_ok = false;
    if (cmd && strcmp (cmd, "status") == 0 && nwords == 1) {
        req.cmd = PROTO_CMD_STATUS;
        usage_ok = true;
    }
    else
    if (cmd && strcmp (cmd, "stop") == 0 && nwords == 1) {
        req.cmd = PROTO_CMD_STOP;
        usage_ok = true;
    }
    else
    if (cmd && strcmp (cmd, "restart") == 0 && nwords == 2
    &&  strlen (words [1]) <= PROTO_NAME_MAX) {
        req.cmd = PROTO_CMD_RESTART;
        snprintf (req.worker, sizeof req.worker, "%s", words [1]);
        usage_ok = true;
    }
    else
    if (cmd && strcmp (cmd, "scale") == 0 && nwords == 3
    &&  strlen (words [1]) <= PROTO_NAME_MAX) {
        char *end;
        long size = strtol (words [2], &end, 10);
        if (*end == 0 && words [2][0] && size >= 0 && size <= PROTO_POOL_MAX) {
            req.cmd = PROTO_CMD_SCALE;
            snprintf (req.worker, sizeof req.worker, "%s", words [1]);
            req.size = (uint32_t) size;
            usage_ok = true;
        }
    }
    if (!usage_ok) {
        if (cmd)
            fprintf (stderr, "zipminectl: bad command line for '%s'\n", cmd);
        s_usage (stderr);
        free (cfg_argv);
        return S_EXIT_USAGE;
    }
    req.id = (uint64_t) clock_wall_ms () ^ ((uint64_t) getpid () << 40);

    zm_config_t config;
    memset (&config, 0, sizeof config);
    char err [CFG_ERR_MAX];
    int rc = zm_config_load (&config, cfg_argc, cfg_argv, err, sizeof err);
    free (cfg_argv);
    log_set_fd (2);
    if (rc != 0) {
        fprintf (stderr, "zipminectl: %s\n", rc == CFG_HELP ? "see zipmined --help" : err);
        zm_config_free (&config);
        return S_EXIT_USAGE;
    }
    char endpoint [512];
    if (ctl)
        snprintf (endpoint, sizeof endpoint, "%s", ctl);
    else
        snprintf (endpoint, sizeof endpoint, "ipc://%s/%s/ctl.ipc", config.run_dir,
                  config.node_name);
    char node [64];
    snprintf (node, sizeof node, "%s", config.node_name);
    zm_config_free (&config);

    //  An ipc endpoint with no socket file: say so at once instead of waiting for a timeout.
    struct stat st;
    if (strncmp (endpoint, "ipc://", 6) == 0 && stat (endpoint + 6, &st) != 0) {
        fprintf (stderr, "zipminectl: node '%s' is not running (no control socket %s)\n",
                 node, endpoint + 6);
        return S_EXIT_FAIL;
    }

    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    proto_err_t perr;
    if (proto_control_encode (&req, &out, &perr) != 0) {
        fprintf (stderr, "zipminectl: bad request: %s\n", perr.reason);
        msgpack_sbuffer_destroy (&out);
        return S_EXIT_USAGE;
    }
    int result = S_EXIT_FAIL;
    void *ctx = zmq_ctx_new ();
    void *sock = ctx ? zmq_socket (ctx, ZMQ_DEALER) : NULL;
    int zero = 0, tmo = (int) timeout_ms, maxmsg = 4 * 1024 * 1024;
    int64_t maxmsg64 = maxmsg;
    if (!sock) {
        fprintf (stderr, "zipminectl: zmq: %s\n", zmq_strerror (zmq_errno ()));
        goto done;
    }
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg64, sizeof maxmsg64);
    if (zmq_connect (sock, endpoint) != 0) {
        fprintf (stderr, "zipminectl: cannot connect to %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        goto done;
    }
    if (zmq_send (sock, out.data, out.size, 0) < 0) {
        fprintf (stderr, "zipminectl: node '%s' not reachable at %s within %ld ms "
                 "(is zipmined running?)\n", node, endpoint, timeout_ms);
        goto done;
    }
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (true) {
        int64_t left = deadline - clock_mono_ms ();
        zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
        if (left <= 0 || zmq_poll (&item, 1, (long) left) <= 0) {
            fprintf (stderr, "zipminectl: no reply from node '%s' at %s within %ld ms "
                     "(is zipmined running?)\n", node, endpoint, timeout_ms);
            goto done;
        }
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            continue;
        }
        proto_control_reply_t reply;
        int drc = proto_control_reply_decode (zmq_msg_data (&msg), zmq_msg_size (&msg),
                                              &reply, &perr);
        zmq_msg_close (&msg);
        if (drc != 0) {
            fprintf (stderr, "zipminectl: bad reply from node: %s\n", perr.reason);
            goto done;
        }
        if (reply.id != req.id) {
            proto_control_reply_free (&reply);
            continue;
        }
        if (!reply.ok)
            fprintf (stderr, "zipminectl: %s failed: %s\n", cmd, reply.message);
        else
        if (req.cmd == PROTO_CMD_STATUS && json) {
            char *text = proto_control_reply_json (&reply);
            printf ("%s\n", text);
            free (text);
        }
        else
        if (req.cmd == PROTO_CMD_STATUS)
            s_print_table (&reply);
        else
            printf ("%s\n", reply.message);
        result = reply.ok ? S_EXIT_OK : S_EXIT_FAIL;
        proto_control_reply_free (&reply);
        break;
    }
done:
    if (sock)
        zmq_close (sock);
    if (ctx)
        zmq_ctx_term (ctx);
    msgpack_sbuffer_destroy (&out);
    return result;
}
