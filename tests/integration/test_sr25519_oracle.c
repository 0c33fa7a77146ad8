/*  sr25519, SS58 and hotkey files against the outside world: @polkadot/util-crypto and
    @polkadot/keyring (npm, in $ZM_TEST_NODE_DIR or $ZM_SOURCE_DIR/tests/node), driven in
    bulk through one node process (tests/node/sr25519_oracle.mjs) with request/response
    files in a temp dir.

    Proves:
      - keys: for 20 random mini secrets polkadot derives the same public key and the same
        64-byte secret (its ed25519 encoding of our key);
      - polkadot accepts all 1,000 signatures we make over random messages (0..700 bytes,
        so the STROBE rate of 166 is crossed), and none with one bit of the signature,
        message or public key flipped;
      - we accept all 1,000 signatures polkadot makes over the same messages, and none with
        one bit flipped; 50 polkadot signatures over <Bytes>msg</Bytes> pass sr25519_verify
        (msg) and fail sr25519_verify_exact (msg);
      - SS58: 300 random keys under random prefixes (1- and 2-byte) encode exactly as
        encodeAddress; 200 one-character corruptions are refused by us and by polkadot;
      - keyfiles written by @polkadot/keyring in btcli's layout (5 variants) load, or are
        refused when publicKey names another key, and the loaded hotkeys sign messages that
        polkadot's sr25519Verify accepts (and rejects for a different message).
    Fails (never skips) when node or the npm packages are missing.                          */
#include "tests/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/sr25519.h"
#include "common/ss58.h"
#include "common/wallet.h"

#define MESSAGES        1000
#define MESSAGE_MAX     700
#define WRAPPED         50
#define KEY_CHECKS      20
#define ADDRESSES       300
#define BAD_ADDRESSES   200
#define PHASE_TIMEOUT_MS 120000

extern char **environ;

typedef struct {
    pid_t pid;
    int to_node;
    int from_node;
    char dir [256];
} oracle_t;

static void
s_hex (const uint8_t *data, size_t len, char *out)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out [2 * i] = digits [data [i] >> 4];
        out [2 * i + 1] = digits [data [i] & 15];
    }
    out [2 * len] = '\0';
}

static void
s_fhex (FILE *f, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf (f, "%02x", data [i]);
}

static void
s_unhex (const char *hex, uint8_t *out, size_t len)
{
    CHECK_EQ_INT (strlen (hex), 2 * len);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        CHECK (sscanf (hex + 2 * i, "%2x", &v) == 1);
        out [i] = (uint8_t) v;
    }
}

static void
s_oracle_start (oracle_t *o)
{
    const char *node_dir = getenv ("ZM_TEST_NODE_DIR");
    char fallback [512];
    if (!node_dir || !*node_dir) {
        snprintf (fallback, sizeof fallback, "%s/tests/node", TEST_ENV ("ZM_SOURCE_DIR"));
        node_dir = fallback;
    }
    char script [600], modules [600];
    snprintf (script, sizeof script, "%s/sr25519_oracle.mjs", node_dir);
    snprintf (modules, sizeof modules, "%s/node_modules/@polkadot/util-crypto", node_dir);
    struct stat st;
    if (stat (script, &st) != 0 || stat (modules, &st) != 0) {
        fprintf (stderr, "oracle missing: need %s and %s (npm install in tests/node)\n",
                 script, modules);
        exit (1);
    }
    int in [2], out [2];
    CHECK (pipe2 (in, O_CLOEXEC) == 0 && pipe2 (out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, in [0], 0);
    posix_spawn_file_actions_adddup2 (&fa, out [1], 1);
    char *argv [] = { "node", script, NULL };
    int rc = posix_spawnp (&o->pid, "node", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    if (rc != 0) {
        fprintf (stderr, "cannot start node: %s\n", strerror (rc));
        exit (1);
    }
    close (in [0]);
    close (out [1]);
    o->to_node = in [1];
    o->from_node = out [0];
    snprintf (o->dir, sizeof o->dir, "/tmp/zm-test-sr25519-XXXXXX");
    CHECK (mkdtemp (o->dir));
}

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Sends "run req resp" and waits (bounded) for "done".
static void
s_oracle_run (oracle_t *o, const char *request, const char *response)
{
    char cmd [1200];
    int n = snprintf (cmd, sizeof cmd, "run %s %s\n", request, response);
    CHECK (n > 0 && (size_t) n < sizeof cmd);
    CHECK_EQ_INT (write (o->to_node, cmd, (size_t) n), n);
    char line [1024];
    size_t len = 0;
    long long deadline = s_now_ms () + PHASE_TIMEOUT_MS;
    while (1) {
        long long left = deadline - s_now_ms ();
        if (left <= 0) {
            fprintf (stderr, "oracle timed out\n");
            kill (o->pid, SIGKILL);
            exit (1);
        }
        struct pollfd p = { .fd = o->from_node, .events = POLLIN };
        int rc = poll (&p, 1, (int) left);
        if (rc < 0 && errno == EINTR)
            continue;
        CHECK (rc >= 0);
        if (rc == 0)
            continue;
        ssize_t got = read (o->from_node, line + len, sizeof line - 1 - len);
        if (got <= 0) {
            fprintf (stderr, "oracle exited early\n");
            exit (1);
        }
        len += (size_t) got;
        line [len] = '\0';
        if (strchr (line, '\n'))
            break;
        CHECK (len < sizeof line - 1);
    }
    if (strncmp (line, "done\n", 5) != 0) {
        fprintf (stderr, "oracle failed: %s", line);
        exit (1);
    }
}

static void
s_oracle_stop (oracle_t *o)
{
    CHECK_EQ_INT (write (o->to_node, "quit\n", 5), 5);
    close (o->to_node);
    long long deadline = s_now_ms () + 10000;
    int status = 0;
    while (waitpid (o->pid, &status, WNOHANG) == 0) {
        if (s_now_ms () > deadline) {
            kill (o->pid, SIGKILL);
            waitpid (o->pid, &status, 0);
            break;
        }
        usleep (10000);
    }
    close (o->from_node);
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

//  Reads the next line of f into a growing buffer; aborts the test at EOF.
static char *
s_next (FILE *f, const char *expect_tag)
{
    static char *line = NULL;
    static size_t cap = 0;
    ssize_t n = getline (&line, &cap, f);
    if (n <= 0) {
        fprintf (stderr, "oracle response ended early (wanted %s)\n", expect_tag);
        exit (1);
    }
    if (line [n - 1] == '\n')
        line [n - 1] = '\0';
    size_t tag = strlen (expect_tag);
    if (strncmp (line, expect_tag, tag) != 0 || line [tag] != ' ') {
        fprintf (stderr, "unexpected oracle line (wanted %s): %.80s\n", expect_tag, line);
        exit (1);
    }
    return line + tag + 1;
}

typedef struct {
    size_t len;
    uint8_t data [MESSAGE_MAX];
    uint8_t sig [64];               //  ours, then polkadot's
    int sigbit, msgbit, pkbit;
} message_t;

static void
s_flip (uint8_t *data, int bit)
{
    data [bit / 8] ^= (uint8_t) (1u << (bit % 8));
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

int
main (void)
{
    CHECK (sodium_init () >= 0);
    oracle_t o;
    s_oracle_start (&o);

    char request [512], response [512], wallets [512];
    snprintf (request, sizeof request, "%s/request1", o.dir);
    snprintf (response, sizeof response, "%s/response1", o.dir);
    snprintf (wallets, sizeof wallets, "%s/wallets", o.dir);

    //  Phase 1: keys, signatures both ways, SS58, keyfiles.
    static message_t msgs [MESSAGES];
    uint8_t seeds [KEY_CHECKS][32];
    sr25519_keypair_t ours;
    uint8_t our_seed [32], their_seed [32];
    randombytes_buf (our_seed, 32);
    randombytes_buf (their_seed, 32);
    CHECK_EQ_INT (sr25519_keypair_from_seed (&ours, our_seed), 0);

    FILE *f = fopen (request, "w");
    CHECK (f);
    for (int i = 0; i < KEY_CHECKS; i++) {
        randombytes_buf (seeds [i], 32);
        fputs ("seed ", f);
        s_fhex (f, seeds [i], 32);
        fputc ('\n', f);
    }
    for (int i = 0; i < MESSAGES; i++) {
        message_t *m = &msgs [i];
        m->len = (size_t) randombytes_uniform (MESSAGE_MAX + 1);
        randombytes_buf (m->data, m->len);
        CHECK_EQ_INT (sr25519_sign (&ours, m->data, m->len, m->sig), 0);
        m->sigbit = (int) randombytes_uniform (512);
        m->msgbit = m->len? (int) randombytes_uniform ((uint32_t) (8 * m->len)): -1;
        m->pkbit = (int) randombytes_uniform (256);
        fputs ("ours ", f);
        s_fhex (f, ours.public_key, 32);
        fputc (' ', f);
        s_fhex (f, m->data, m->len);
        fputc (' ', f);
        s_fhex (f, m->sig, 64);
        fprintf (f, " %d %d %d\n", m->sigbit, m->msgbit, m->pkbit);
    }
    fputs ("signer ", f);
    s_fhex (f, their_seed, 32);
    fputc ('\n', f);
    for (int i = 0; i < MESSAGES; i++) {
        fputs ("sign ", f);
        s_fhex (f, msgs [i].data, msgs [i].len);
        fputc ('\n', f);
    }
    for (int i = 0; i < WRAPPED; i++) {
        fputs ("signwrapped ", f);
        s_fhex (f, msgs [i].data, msgs [i].len);
        fputc ('\n', f);
    }
    static uint8_t addr_keys [ADDRESSES][32];
    static unsigned addr_prefix [ADDRESSES];
    for (int i = 0; i < ADDRESSES; i++) {
        randombytes_buf (addr_keys [i], 32);
        unsigned p;
        switch (i % 3) {
            case 0:  p = 42; break;
            case 1:  p = randombytes_uniform (64); break;
            default: p = 64 + randombytes_uniform (SS58_PREFIX_MAX - 64 + 1); break;
        }
        if (!ss58_prefix_is_valid (p))
            p = 42;
        addr_prefix [i] = p;
        fprintf (f, "ss58 ");
        s_fhex (f, addr_keys [i], 32);
        fprintf (f, " %u\n", p);
    }
    static const char alphabet [] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    for (int i = 0; i < BAD_ADDRESSES; i++) {
        char address [SS58_ADDRESS_SIZE];
        CHECK_EQ_INT (ss58_encode (addr_keys [i], addr_prefix [i], address, sizeof address), 0);
        //  Replace one character (never the first: that may change the prefix class
        //  rather than the checksum, which both sides still reject but for another reason).
        size_t len = strlen (address);
        size_t pos = 1 + randombytes_uniform ((uint32_t) (len - 1));
        char c;
        do
            c = alphabet [randombytes_uniform (58)];
        while (c == address [pos]);
        address [pos] = c;
        const char *reason = NULL;
        CHECK_EQ_INT (ss58_decode (address, NULL, NULL, &reason), -1);
        fprintf (f, "ss58bad %s\n", address);
    }
    fprintf (f, "keyfile %s zm-oracle\n", wallets);
    CHECK_EQ_INT (fclose (f), 0);

    long long t0 = s_now_ms ();
    s_oracle_run (&o, request, response);
    long long t1 = s_now_ms ();

    f = fopen (response, "r");
    CHECK (f);
    for (int i = 0; i < KEY_CHECKS; i++) {
        char *rest = s_next (f, "pair");
        char pk_hex [65], sk_hex [129];
        CHECK (sscanf (rest, "%64s %128s", pk_hex, sk_hex) == 2);
        sr25519_keypair_t kp;
        CHECK_EQ_INT (sr25519_keypair_from_seed (&kp, seeds [i]), 0);
        uint8_t pk [32], sk [64], ed [64];
        s_unhex (pk_hex, pk, 32);
        s_unhex (sk_hex, sk, 64);
        sr25519_secret_to_ed25519 (&kp, ed);
        CHECK_EQ_MEM (kp.public_key, pk, 32);
        CHECK_EQ_MEM (ed, sk, 64);
        sr25519_keypair_wipe (&kp);
    }
    int polkadot_accepts = 0, polkadot_flip_accepts = 0;
    for (int i = 0; i < MESSAGES; i++) {
        int ok, bad_sig, bad_msg, bad_pk;
        CHECK (sscanf (s_next (f, "v"), "%d %d %d %d", &ok, &bad_sig, &bad_msg, &bad_pk) == 4);
        polkadot_accepts += ok;
        polkadot_flip_accepts += bad_sig + bad_msg + bad_pk;
    }
    uint8_t their_pk [32];
    {
        char pk_hex [65];
        CHECK (sscanf (s_next (f, "pair"), "%64s", pk_hex) == 1);
        s_unhex (pk_hex, their_pk, 32);
    }
    int our_accepts = 0, our_flip_accepts = 0;
    for (int i = 0; i < MESSAGES; i++) {
        message_t *m = &msgs [i];
        s_unhex (s_next (f, "s"), m->sig, 64);
        our_accepts += sr25519_verify_exact (their_pk, m->data, m->len, m->sig) == SR25519_OK;
        uint8_t sig [64], pk [32], data [MESSAGE_MAX + 1];
        memcpy (sig, m->sig, 64);
        s_flip (sig, m->sigbit);
        our_flip_accepts += sr25519_verify (their_pk, m->data, m->len, sig) == SR25519_OK;
        memcpy (data, m->data, m->len);
        size_t len = m->len;
        if (m->msgbit < 0)
            data [len++] = 0;
        else
            s_flip (data, m->msgbit);
        our_flip_accepts += sr25519_verify (their_pk, data, len, m->sig) == SR25519_OK;
        memcpy (pk, their_pk, 32);
        s_flip (pk, m->pkbit);
        our_flip_accepts += sr25519_verify (pk, m->data, m->len, m->sig) == SR25519_OK;
    }
    int wrapped_ok = 0, wrapped_exact = 0;
    for (int i = 0; i < WRAPPED; i++) {
        uint8_t sig [64];
        s_unhex (s_next (f, "s"), sig, 64);
        wrapped_ok += sr25519_verify (their_pk, msgs [i].data, msgs [i].len, sig) == SR25519_OK;
        wrapped_exact += sr25519_verify_exact (their_pk, msgs [i].data, msgs [i].len, sig)
                         == SR25519_OK;
    }
    int addresses_equal = 0;
    for (int i = 0; i < ADDRESSES; i++) {
        char address [SS58_ADDRESS_SIZE];
        CHECK_EQ_INT (ss58_encode (addr_keys [i], addr_prefix [i], address, sizeof address), 0);
        const char *theirs = s_next (f, "a");
        if (strcmp (theirs, address) == 0)
            addresses_equal++;
        else
            fprintf (stderr, "ss58 differs for prefix %u: ours %s, polkadot %s\n",
                     addr_prefix [i], address, theirs);
        uint8_t pk [32];
        unsigned prefix = 0;
        CHECK_EQ_INT (ss58_decode (theirs, pk, &prefix, NULL), 0);
        CHECK_EQ_MEM (pk, addr_keys [i], 32);
        CHECK_EQ_INT (prefix, addr_prefix [i]);
    }
    int polkadot_rejects_bad = 0;
    for (int i = 0; i < BAD_ADDRESSES; i++)
        polkadot_rejects_bad += atoi (s_next (f, "b")) == 1;

    //  Keyfiles written by @polkadot/keyring.
    static const char *const names [] = { "full", "btcli", "privonly", "canonical", "mismatch" };
    wallet_t *loaded [5] = { NULL };
    uint8_t keyfile_pk [32];
    for (int i = 0; i < 5; i++) {
        char name [32], pk_hex [65], address [SS58_ADDRESS_SIZE];
        CHECK (sscanf (s_next (f, "k"), "%31s %64s %63s", name, pk_hex, address) == 3);
        CHECK_EQ_STR (name, names [i]);
        s_unhex (pk_hex, keyfile_pk, 32);
        const char *reason = NULL;
        loaded [i] = wallet_load (wallets, "zm-oracle", name, &reason);
        if (i < 4) {
            if (!loaded [i])
                fprintf (stderr, "keyfile %s refused: %s\n", name, reason);
            CHECK (loaded [i]);
            CHECK_EQ_MEM (wallet_public_key (loaded [i]), keyfile_pk, 32);
            CHECK_EQ_STR (wallet_ss58 (loaded [i]), address);
            CHECK_EQ_INT (wallet_has_seed (loaded [i]), i < 2);
        }
        else {
            CHECK (loaded [i] == NULL);
            CHECK_EQ_STR (reason, "publicKey does not match the secret key");
        }
    }
    CHECK_EQ_STR (s_next (f, "k"), "end");
    fclose (f);

    //  Phase 2: polkadot verifies what the loaded hotkeys sign (and rejects a wrong message).
    snprintf (request, sizeof request, "%s/request2", o.dir);
    snprintf (response, sizeof response, "%s/response2", o.dir);
    f = fopen (request, "w");
    CHECK (f);
    const char *commitment = "zipcode:assignment:current:1732550400";
    for (int i = 0; i < 4; i++) {
        uint8_t sig [64];
        CHECK_EQ_INT (wallet_sign (loaded [i], (const uint8_t *) commitment,
                                   strlen (commitment), sig), 0);
        char pk_hex [65], msg_hex [200], sig_hex [129], wrong_hex [200];
        s_hex (wallet_public_key (loaded [i]), 32, pk_hex);
        s_hex ((const uint8_t *) commitment, strlen (commitment), msg_hex);
        s_hex ((const uint8_t *) commitment, strlen (commitment) - 1, wrong_hex);
        s_hex (sig, 64, sig_hex);
        fprintf (f, "check %s %s %s\ncheck %s %s %s\n", pk_hex, msg_hex, sig_hex,
                 pk_hex, wrong_hex, sig_hex);
    }
    CHECK_EQ_INT (fclose (f), 0);
    s_oracle_run (&o, request, response);
    f = fopen (response, "r");
    CHECK (f);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT (atoi (s_next (f, "c")), 1);
        CHECK_EQ_INT (atoi (s_next (f, "c")), 0);
    }
    fclose (f);
    s_oracle_stop (&o);

    printf ("oracle phase 1: %lld ms\n", t1 - t0);
    printf ("polkadot accepted %d/%d of our signatures, %d of %d bit-flipped variants\n",
            polkadot_accepts, MESSAGES, polkadot_flip_accepts, 3 * MESSAGES);
    printf ("we accepted %d/%d of polkadot's signatures, %d of %d bit-flipped variants\n",
            our_accepts, MESSAGES, our_flip_accepts, 3 * MESSAGES);
    printf ("<Bytes>-wrapped: %d/%d accepted by sr25519_verify, %d by verify_exact\n",
            wrapped_ok, WRAPPED, wrapped_exact);
    printf ("ss58: %d/%d equal to encodeAddress; corrupted addresses rejected by polkadot %d/%d "
            "and by us %d/%d\n", addresses_equal, ADDRESSES, polkadot_rejects_bad,
            BAD_ADDRESSES, BAD_ADDRESSES, BAD_ADDRESSES);
    CHECK_EQ_INT (polkadot_accepts, MESSAGES);
    CHECK_EQ_INT (polkadot_flip_accepts, 0);
    CHECK_EQ_INT (our_accepts, MESSAGES);
    CHECK_EQ_INT (our_flip_accepts, 0);
    CHECK_EQ_INT (wrapped_ok, WRAPPED);
    CHECK_EQ_INT (wrapped_exact, 0);
    CHECK_EQ_INT (addresses_equal, ADDRESSES);
    CHECK_EQ_INT (polkadot_rejects_bad, BAD_ADDRESSES);

    for (int i = 0; i < 5; i++)
        wallet_destroy (&loaded [i]);
    sr25519_keypair_wipe (&ours);
    nftw (o.dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    TEST_DONE ();
}
